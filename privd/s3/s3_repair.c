/* Finding and repairing pods' dead views of a re-mounted S3 volume. See
 * s3_repair.h. privd only reads here (/proc/<pid>/mountinfo, readable by
 * anyone) and makes one detached clone of its own live mount per dead
 * mount found; entering a pod's namespace is the repair helper's, which
 * the spawner forks with just what that needs (privd/ns_repair.c). */
#define _GNU_SOURCE
#include "s3_repair.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "k8s_client.h"
#include "events.h"
#include "ipc_msg.h"
#include "log.h"
#include "mountops.h"
#include "privd_ctx.h"
#include "s3_config.h"
#include "s3_internal.h"
#include "s3_mounts.h"
#include "stale_scan.h"

#define MOUNTINFO_MAX (4u << 20) /* per process; a longer table is read in part */
#define PER_PROC 32
#define SEEN_MAX 512
#define COND_MAX 64
#define DELETE_MAX 16 /* pods deleted per scan, at most */

/* Volumes with consumers the repair could not reach. */
static pthread_mutex_t cond_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char id[IPC_VOLID_MAX + 1];
	char why[200];
} conds[COND_MAX];

static void
set_condition(const char *id, const char *why)
{
	pthread_mutex_lock(&cond_mu);
	int slot = -1;
	for (int i = 0; i < COND_MAX; i++) {
		if (strcmp(conds[i].id, id) == 0)
			slot = i;
		else if (slot < 0 && !conds[i].id[0] && why)
			slot = i;
	}
	if (slot >= 0 && why) {
		snprintf(conds[slot].id, sizeof(conds[slot].id), "%s", id);
		snprintf(conds[slot].why, sizeof(conds[slot].why), "%s", why);
	} else if (slot >= 0 && strcmp(conds[slot].id, id) == 0) {
		conds[slot].id[0] = '\0';
	}
	pthread_mutex_unlock(&cond_mu);
}

int
s3_repair_condition(const char *id, char *msg, size_t len)
{
	int found = 0;

	pthread_mutex_lock(&cond_mu);
	for (int i = 0; i < COND_MAX && !found; i++)
		if (conds[i].id[0] && strcmp(conds[i].id, id) == 0) {
			snprintf(msg, len, "%s", conds[i].why);
			found = 1;
		}
	pthread_mutex_unlock(&cond_mu);
	return found;
}

/* Dead mounts put right or not, and in how many mount namespaces (a pod
 * sees the volume at several mounts: its own bind and the copies of the
 * node's staging and publish mounts its namespace was made with). */
struct repair_tally {
	int repaired, failed, repaired_ns, failed_ns;
	int deleted;	/* pods deleted (--delete-unrepairable-pods) */
	int deleted_ns; /* of failed_ns, those in a deleted pod */
	char deleted_uid[DELETE_MAX][K8S_UID_LEN + 1];
};

/* The outcome on the volume's PVC (privd/k8s/events.c): a Warning when a
 * pod still sees the dead mount (the volume condition says so too), a
 * Normal event when pods' views were put right. Counts and the reason
 * only (pids and mount errors): never a file of the volume. */
static void
report_repair_outcome(const struct privd_ctx *ctx, const char *id, const struct repair_tally *t,
		     const char *why)
{
	if (t->deleted)
		privd_event(ctx, id, EV_WARNING, "S3ConsumerPodDeleted",
			    "deleted %d pod(s) that still saw the S3 mount that died and could not "
			    "be given the live one (%s); their controllers start them again",
			    t->deleted, why);
	if (t->failed_ns > t->deleted_ns) {
		log_warn("S3 volume %s: %d mount(s) in %d pod mount namespace(s) still see the dead "
			 "mount: %s", id, t->failed, t->failed_ns - t->deleted_ns, why);
		privd_event(ctx, id, EV_WARNING, "S3ConsumerNotRepaired",
			    "%d pod(s) still see the S3 mount that died and could not be given the "
			    "live one (%s); restart them", t->failed_ns - t->deleted_ns, why);
	} else if (t->repaired) {
		log_info("S3 volume %s: the live mount put back at %d mount(s) in %d pod mount "
			 "namespace(s)", id, t->repaired, t->repaired_ns);
		privd_event(ctx, id, EV_NORMAL, "S3ConsumerRepaired",
			    "the live S3 mount was put back in %d pod(s) that still saw the one "
			    "that died (%d mount(s))", t->repaired_ns, t->repaired);
	}
}

/* The last resort, only with --delete-unrepairable-pods: delete the pod
 * the process of piddir runs in (its UID from its cgroup path, the pod looked up
 * on this node and deleted with that UID as a precondition), once per pod.
 * A process in no pod's cgroup is never a reason to delete anything.
 * 1 when its pod is deleted (now or earlier in this scan). */
static int
delete_pod_of(const struct privd_ctx *ctx, const char *id, int piddir, struct repair_tally *t)
{
	char buf[4096], uid[K8S_UID_LEN + 1], ns[64], name[254], err[256];
	ssize_t n;

	if (!ctx->s3->delete_unrepairable_pods || !ctx->k8s || t->deleted >= DELETE_MAX)
		return 0;
	/* through the directory the dead mount was read from: if that process
	 * is gone, this fails, even when its pid is someone else's now */
	int fd = openat(piddir, "cgroup", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0 || k8s_pod_uid_from_cgroup(buf, (size_t)n, uid, sizeof(uid)))
		return 0;
	for (int i = 0; i < t->deleted; i++)
		if (strcmp(t->deleted_uid[i], uid) == 0)
			return 1;
	uint64_t t0 = audit_now_ns();
	int rc = k8s_pod_delete_by_uid(ctx->k8s, ctx->nodeid, uid, ns, sizeof(ns), name,
				       sizeof(name), err, sizeof(err));
	char detail[400];
	snprintf(detail, sizeof(detail), "pod uid %s%s%s%s%s", uid, rc == K8S_OK ? " " : ": ",
		 rc == K8S_OK ? ns : err, rc == K8S_OK ? "/" : "", rc == K8S_OK ? name : "");
	s3_audit(id, "delete_unrepairable_pod", NULL, NULL, rc == K8S_OK ? 0 : -EIO, t0, detail);
	if (rc != K8S_OK) {
		log_warn("S3 volume %s: cannot delete unrepairable %s", id, detail);
		return 0;
	}
	log_warn("S3 volume %s: deleted unrepairable %s", id, detail);
	memcpy(t->deleted_uid[t->deleted++], uid, sizeof(uid));
	return 1;
}

static ssize_t
read_mountinfo(int piddir, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	int fd = openat(piddir, "mountinfo", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	close(fd);
	return (ssize_t)got;
}

/* A detached copy of the live mount with the dead one's per-mount flags,
 * and always nosuid,nodev (as every bind privd makes). */
static int
live_clone(int livefd, const struct stale_mount *sm)
{
	struct mount_attr ma = {
		.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			    (sm->readonly ? MOUNT_ATTR_RDONLY : 0) |
			    (sm->noexec ? MOUNT_ATTR_NOEXEC : 0),
	};
	long t = syscall(SYS_open_tree, livefd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE |
			 OPEN_TREE_CLOEXEC);
	if (t < 0)
		return -errno;
	if (syscall(SYS_mount_setattr, (int)t, "", AT_EMPTY_PATH, &ma, sizeof(ma))) {
		int e = -errno;
		close((int)t);
		return e;
	}
	return (int)t;
}

/* One dead mount in the namespace of pid: 1 repaired, 0 nothing to do,
 * -1 not repaired (why in why). */
static int
repair_one(const struct privd_ctx *ctx, const char *id, int livefd, unsigned pid,
	   const struct stale_mount *sm, char *why, size_t wlen)
{
	struct ipc_repair_mount_req r = { .pid = pid, .mnt_id = sm->id, .parent_id = sm->parent };
	char out[IPC_ERRMSG_MAX + 1], detail[IPC_ERRMSG_MAX + 64];
	uint64_t t0 = audit_now_ns();
	int rc;

	snprintf(r.path, sizeof(r.path), "%s", sm->path);
	if (sm->parent_shared) {
		/* a mount there would propagate to the parent's peers, maybe
		 * into the node's namespace: not ours to do */
		snprintf(out, sizeof(out), "%s: its parent mount is shared", sm->path);
		rc = -1;
	} else {
		int clone = live_clone(livefd, sm);
		if (clone < 0) {
			snprintf(out, sizeof(out), "cannot copy the live mount: %s",
				 strerror(-clone));
			rc = -1;
		} else {
			rc = ctx->tools->repair_mount(&r, clone, out, sizeof(out));
			close(clone);
		}
	}
	int code = rc >= 0 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
	snprintf(detail, sizeof(detail), "pid %u mount %llu: %s", pid, sm->id, out);
	s3_audit(id, "repair_consumer_mount", sm->path, NULL,
		 code == NSR_REPAIRED || code == NSR_STACKED || code == NSR_GONE ? 0 : -EIO, t0,
		 detail);
	if (code == NSR_REPAIRED || code == NSR_STACKED)
		return 1;
	if (code == NSR_GONE)
		return 0;
	memcpy(why, detail, wlen - 1); /* the start says what and where */
	why[wlen - 1] = '\0';
	return -1;
}

/* Count pid's mount namespace once (by its nsfs inode) among those where
 * mounts were repaired, or failed when bad; 1 when it was new. A pid gone
 * meanwhile counts as a namespace of its own: never fewer than the truth. */
static int
count_namespace(int piddir, unsigned long long *seen, int *nseen,
		struct repair_tally *t, int bad)
{
	struct stat ns;

	if (fstatat(piddir, "ns/mnt", &ns, 0) == 0) {
		for (int k = 0; k < *nseen; k++)
			if (seen[k] == (unsigned long long)ns.st_ino)
				return 0;
		if (*nseen < SEEN_MAX)
			seen[(*nseen)++] = (unsigned long long)ns.st_ino;
	}
	if (bad)
		t->failed_ns++;
	else
		t->repaired_ns++;
	return 1;
}

void
s3_repair_consumers(const struct privd_ctx *ctx, const char *id, const char *vfs)
{
	unsigned long long *seen = NULL, *seen_ns = NULL; /* mount ids, namespace inodes */
	struct stale_mount *sm = NULL;
	struct mnt_info mi;
	struct stat st;
	char src[IPC_VFSNAME_MAX + 2], why[200] = "";
	char *buf = NULL;
	struct repair_tally t = { 0 };
	int nseen = 0, nseen_ns = 0;
	int livefd = s3m_open_private(ctx, id), procfd = -1;
	DIR *d = NULL;

	if (livefd < 0 || s3m_fd_state(livefd, id, vfs, &mi, NULL) != M_LIVE ||
	    fstat(livefd, &st))
		goto out; /* not live: the supervisor tries again first */
	snprintf(src, sizeof(src), "%s:", vfs);
	buf = malloc(MOUNTINFO_MAX);
	sm = calloc(PER_PROC, sizeof(*sm));
	seen = calloc(2 * SEEN_MAX, sizeof(*seen));
	seen_ns = seen ? seen + SEEN_MAX : NULL;
	procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	d = procfd >= 0 ? opendir("/proc") : NULL;
	if (!buf || !sm || !seen || !d) {
		snprintf(why, sizeof(why), "cannot scan /proc: %s", strerror(errno));
		t.failed = t.failed_ns = 1;
		goto out;
	}
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		if (*end || pid == 0 || pid == (unsigned long)getpid())
			continue;
		/* one process, held by its /proc directory from here on */
		int piddir = openat(procfd, de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t len = piddir >= 0 ? read_mountinfo(piddir, buf, MOUNTINFO_MAX) : -1;
		if (len <= 0) {
			if (piddir >= 0)
				close(piddir);
			continue; /* gone, or a kernel thread */
		}
		int n = stale_scan(buf, (size_t)len, src, FUSE_TYPE, major(st.st_dev),
				   minor(st.st_dev), sm, PER_PROC);
		int ok_here = 0, bad_here = 0;
		for (int i = 0; i < n && i < PER_PROC; i++) {
			int dup = 0;
			for (int k = 0; k < nseen && !dup; k++)
				dup = seen[k] == sm[i].id;
			if (dup)
				continue; /* that namespace was done through another pid */
			if (nseen < SEEN_MAX)
				seen[nseen++] = sm[i].id;
			int rc = repair_one(ctx, id, livefd, (unsigned)pid, &sm[i], why, sizeof(why));
			ok_here += rc > 0;
			bad_here += rc < 0;
		}
		t.repaired += ok_here;
		t.failed += bad_here;
		int new_ns = (ok_here || bad_here) &&
			     count_namespace(piddir, seen_ns, &nseen_ns, &t, bad_here);
		if (bad_here && delete_pod_of(ctx, id, piddir, &t) && new_ns)
			t.deleted_ns++;
		close(piddir);
	}
out:
	if (d)
		closedir(d);
	if (procfd >= 0)
		close(procfd);
	if (livefd >= 0)
		close(livefd);
	free(buf);
	free(sm);
	free(seen);
	/* a deleted pod goes away: only the others keep the volume abnormal */
	set_condition(id, t.failed_ns > t.deleted_ns ? why : NULL);
	report_repair_outcome(ctx, id, &t, why);
}
