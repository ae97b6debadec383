/* Attacks on kubelet paths (issue 10 items 2 and 4), against the real privd
 * with a compromised frontend, on the host (no dm-crypt needed).
 *
 * A volume is "staged" by a stand-in for its dm-crypt mapping: a tmpfs at
 * the staging path and a block-device node /dev/mapper/luks-<id> carrying
 * that tmpfs's device number, which is what privd checks a staged mount
 * by. So publish really binds, and unpublish/unstage really unmount.
 *
 * 1. Shapes: publish (a real bind) to kubelet directories that are not a
 *    publish target (pki, plugins_registry, device-plugins, another pod's
 *    other directories, the volume directory without /mount) is refused,
 *    and nothing is mounted there.
 * 2. The symlink-swap race: a thread, standing in for a pod that can write
 *    below the kubelet root, swaps a component of the publish target and of
 *    the staging path (atomically, RENAME_EXCHANGE) with a symlink to a
 *    directory outside the kubelet root, and back, over and over, while the
 *    frontend sends PUBLISH / UNPUBLISH / STAGE / UNSTAGE. The outside
 *    directories (stand-ins for kubelet's pki) hold a sentinel mount each.
 *    The attacker wins if a sentinel is ever unmounted or mounted over, or
 *    if any mount appears outside kubelet's shapes. It must win zero times. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "adv.h"

/* scratch paths are short; a cut one would only fail the setup */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define SHA "5e1c0ffee0ddba11c0ffee0ddba11c0ffee0ddba11c0ffee0ddba11c0ffee0dd"
#define POD "3f0c5b9e-2d4a-4e61-9b7c-0a1d2e3f4a5b"
#define OTHER_POD "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"

static int iterations = 2000;

struct paths {
	char vol[64], mapper[128];
	char staging[512], target[512];
	char csi[512], csi_link[512];   /* pods/<uid>/volumes/kubernetes.io~csi */
	char shadir[512], sha_link[512]; /* plugins/.../<driver>/<sha> */
	char out_t[512], out_s[512];    /* the sentinels outside */
	char allowed[2][512];           /* kubelet's csi directories */
};

static struct paths P;

/* ---- mountinfo ----------------------------------------------------------- */

/* How many mounts sit exactly at path, and the source of the top one. */
static int
mounts_at(const char *path, char *src, size_t n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int count = 0;

	if (src && n)
		src[0] = '\0';
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char mp[2048], s[512];
		/* id parent maj:min root mountpoint opts ... - fstype source ... */
		if (sscanf(line, "%*s %*s %*s %*s %2047s", mp) != 1)
			continue;
		if (strcmp(mp, path))
			continue;
		count++;
		const char *dash = strstr(line, " - ");
		if (src && dash && sscanf(dash + 3, "%*s %511s", s) == 1)
			snprintf(src, n, "%s", s);
	}
	fclose(f);
	return count;
}

static int
below(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Mounts this test or its privd could have made (inside its scratch root,
 * or of the stand-in volume anywhere) that are not below kubelet's csi
 * directories and are not the sentinels themselves. Mounts other programs
 * on this machine make elsewhere do not count. First one in out. */
static int
mounts_outside(const struct adv *a, char *out, size_t n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int count = 0;

	if (out && n)
		out[0] = '\0';
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char mp[2048], src[512] = "";
		const char *dash = strstr(line, " - ");
		if (sscanf(line, "%*s %*s %*s %*s %2047s", mp) != 1 || !dash ||
		    sscanf(dash + 3, "%*s %511s", src) != 1)
			continue;
		if (!below(mp, a->dir) && strcmp(src, "lcw-advpaths-vol") != 0)
			continue;
		if (below(mp, P.allowed[0]) || below(mp, P.allowed[1]))
			continue;
		if ((strcmp(mp, P.out_t) == 0 && strcmp(src, "lcw-sentinel-target") == 0) ||
		    (strcmp(mp, P.out_s) == 0 && strcmp(src, "lcw-sentinel-staging") == 0))
			continue;
		if (count++ == 0 && out)
			snprintf(out, n, "%s (%s)", mp, src);
	}
	fclose(f);
	return count;
}

static int
sentinel_ok(const char *path, const char *name)
{
	char src[512];
	return mounts_at(path, src, sizeof(src)) == 1 && strcmp(src, name) == 0;
}

/* ---- the stand-in for a staged volume ----------------------------------- */

static int
fake_stage(void)
{
	struct stat st;

	if (mount("lcw-advpaths-vol", P.staging, "tmpfs", MS_NODEV | MS_NOSUID, "size=1m") ||
	    stat(P.staging, &st))
		return -1;
	unlink(P.mapper);
	/* the device number privd compares the staged mount with */
	return mknod(P.mapper, S_IFBLK | 0600, st.st_dev);
}

/* Take every mount off the real target and staging paths (test side). */
static void
clear_mounts(void)
{
	for (int i = 0; i < 16 && umount2(P.target, UMOUNT_NOFOLLOW) == 0; i++)
		;
	for (int i = 0; i < 16 && umount2(P.staging, UMOUNT_NOFOLLOW) == 0; i++)
		;
}

/* ---- requests ------------------------------------------------------------- */

static int
publish(struct adv *a, const char *target)
{
	struct ipc_msg req = { .type = IPC_REQ_PUBLISH }, ans;

	snprintf(req.u.publish.volume_id, sizeof(req.u.publish.volume_id), "%s", P.vol);
	snprintf(req.u.publish.staging_path, sizeof(req.u.publish.staging_path), "%s", P.staging);
	snprintf(req.u.publish.target_path, sizeof(req.u.publish.target_path), "%s", target);
	if (adv_call(a, &req, &ans, 30000))
		return -2;
	return ans.type == IPC_ANS_PUBLISH ? 0 : -1;
}

static int
unpublish(struct adv *a)
{
	struct ipc_msg req = { .type = IPC_REQ_UNPUBLISH }, ans;

	snprintf(req.u.unpublish.volume_id, sizeof(req.u.unpublish.volume_id), "%s", P.vol);
	snprintf(req.u.unpublish.target_path, sizeof(req.u.unpublish.target_path), "%s", P.target);
	if (adv_call(a, &req, &ans, 30000))
		return -2;
	return ans.type == IPC_ANS_UNPUBLISH ? 0 : -1;
}

static int
unstage(struct adv *a)
{
	struct ipc_msg req = { .type = IPC_REQ_UNSTAGE }, ans;

	snprintf(req.u.unstage.volume_id, sizeof(req.u.unstage.volume_id), "%s", P.vol);
	snprintf(req.u.unstage.staging_path, sizeof(req.u.unstage.staging_path), "%s", P.staging);
	if (adv_call(a, &req, &ans, 30000))
		return -2;
	return ans.type == IPC_ANS_UNSTAGE ? 0 : -1;
}

/* With the volume "staged", privd stops at "already holds a mount": only
 * its path handling runs (open, mkdir, mount lookup). */
static int
stage(struct adv *a)
{
	static struct ipc_msg req, ans;

	memset(&req, 0, sizeof(req));
	req.type = IPC_REQ_STAGE_LUKS;
	snprintf(req.u.stage.volume_id, sizeof(req.u.stage.volume_id), "%s", P.vol);
	snprintf(req.u.stage.staging_path, sizeof(req.u.stage.staging_path), "%s", P.staging);
	req.u.stage.capacity = 64ull << 20;
	req.u.stage.passphrase_len = 8;
	memcpy(req.u.stage.passphrase, "adv-pass", 8);
	if (adv_call(a, &req, &ans, 30000))
		return -2;
	return ans.type == IPC_ANS_STAGE_LUKS ? 0 : -1;
}

/* ---- 1. shapes ------------------------------------------------------------ */

static void
test_shapes(struct adv *a)
{
	static const char *const rel[] = {
		"pki",
		"plugins_registry",
		"device-plugins",
		"plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/" SHA,
		"pods/" OTHER_POD "/etc-hosts-dir",
		"pods/" OTHER_POD "/volumes/kubernetes.io~empty-dir/cache",
		"pods/" OTHER_POD "/volumes/kubernetes.io~secret/token",
		"pods/" OTHER_POD "/volumes/kubernetes.io~csi/pvc-other",
		"pods/" OTHER_POD "/volumes/kubernetes.io~csi/pvc-other/mount/sub",
		"pods/" OTHER_POD "/containers/app/0",
	};
	char p[700], out[512];

	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", a->kubelet_root, rel[i]);
		adv_mkdirs(p);
		int rc = publish(a, p);
		adv_check(rc == -1 && mounts_at(p, NULL, 0) == 0,
			  "publish to <kubelet>/%s is refused and nothing is mounted there", rel[i]);
	}
	int n = mounts_outside(a, out, sizeof(out));
	adv_check(n == 0, "no mount outside kubelet's shapes after the shape attacks (%d: %s)", n,
		  out);
	/* where a privd got that wrong, clean up so the race below counts alone */
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", a->kubelet_root, rel[i]);
		for (int k = 0; k < 8 && umount2(p, UMOUNT_NOFOLLOW) == 0; k++)
			;
	}
	/* the real shape works: the stand-in is a usable staged volume */
	adv_check(publish(a, P.target) == 0 && mounts_at(P.target, NULL, 0) == 1,
		  "publish to pods/<uid>/volumes/kubernetes.io~csi/<name>/mount binds the volume");
	adv_check(unpublish(a) == 0 && mounts_at(P.target, NULL, 0) == 0,
		  "unpublish unmounts it");
}

/* ---- 2. the race ------------------------------------------------------------ */

static pthread_mutex_t swap_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop_racer;
static unsigned long swaps;

/* Exchange dir and its symlink twin (the path always exists). */
static int
exchange(const char *a, const char *b)
{
	return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

static void *
racer(void *arg)
{
	unsigned seed = (unsigned)getpid();

	(void)arg;
	while (!stop_racer) {
		pthread_mutex_lock(&swap_mu);
		int which = rand_r(&seed) & 1;
		const char *d = which ? P.csi : P.shadir, *l = which ? P.csi_link : P.sha_link;
		if (exchange(d, l) == 0) {
			swaps++;
			struct timespec ts = { 0, (long)(rand_r(&seed) % 200) * 1000 };
			nanosleep(&ts, NULL); /* swapped: the symlink leads outside */
			exchange(d, l);
		}
		pthread_mutex_unlock(&swap_mu);
		sched_yield();
	}
	return NULL;
}

static void
test_race(struct adv *a)
{
	unsigned long ok[4] = { 0 }, wins = 0, outside = 0, unstaged = 0;
	char out[512] = "", first[600] = "";
	pthread_t t;

	stop_racer = 0;
	if (pthread_create(&t, NULL, racer, NULL)) {
		adv_check(0, "racer thread");
		return;
	}
	for (int i = 0; i < iterations; i++) {
		int op = i % 10 == 9 ? 3 : i % 3;
		int rc = op == 0 ? publish(a, P.target) : op == 1 ? unpublish(a)
			 : op == 2 ? stage(a) : unstage(a);
		if (rc == -2) {
			adv_check(0, "privd answers request %d", i);
			break;
		}
		if (rc == 0)
			ok[op]++;
		if (op == 3) {
			/* unstage took the stand-in's mount (and then failed on the
			 * missing dm mapping): stage it again, racer paused */
			pthread_mutex_lock(&swap_mu);
			if (mounts_at(P.staging, NULL, 0) == 0)
				unstaged++;
			clear_mounts();
			fake_stage();
			pthread_mutex_unlock(&swap_mu);
		}
		int s1 = sentinel_ok(P.out_t, "lcw-sentinel-target");
		int s2 = sentinel_ok(P.out_s, "lcw-sentinel-staging");
		int n = mounts_outside(a, out, sizeof(out));
		if (!s1 || !s2 || n) {
			wins++;
			if (!first[0])
				snprintf(first, sizeof(first), "iteration %d op %d: sentinels %d/%d, %d "
					 "new mount(s) outside (%s)", i, op, s1, s2, n, out);
			if (n)
				outside++;
			/* put the sentinels back so later rounds count too */
			if (!s1)
				mount("lcw-sentinel-target", P.out_t, "tmpfs", MS_NODEV, "size=64k");
			if (!s2)
				mount("lcw-sentinel-staging", P.out_s, "tmpfs", MS_NODEV, "size=64k");
		}
	}
	stop_racer = 1;
	pthread_join(t, NULL);
	printf("# %d iterations, %lu swaps; succeeded: publish %lu, unpublish %lu, stage %lu, "
	       "unstage %lu (its unmount %lu; the rest needs dm-crypt)\n", iterations, swaps, ok[0],
	       ok[1], ok[2], ok[3], unstaged);
	adv_check(swaps > (unsigned long)iterations / 10, "the racer swapped (%lu times)", swaps);
	adv_check(ok[0] > 0 && ok[1] > 0 && unstaged > 0,
		  "publish, unpublish and unstage's unmount really ran (%lu, %lu, %lu)", ok[0], ok[1],
		  unstaged);
	adv_check(wins == 0, "symlink-swap race: the attacker wins 0 of %d rounds (won %lu%s%s)",
		  iterations, wins, first[0] ? ": " : "", first);
	adv_check(outside == 0, "no mount ever appeared outside kubelet's shapes");
	adv_check(adv_privd_alive(a), "privd survived the race");
}

/* ---- setup ------------------------------------------------------------------ */

static int
setup(struct adv *a)
{
	char p[700];

	snprintf(P.vol, sizeof(P.vol), "pvc-advpaths-%d", (int)getpid());
	snprintf(P.mapper, sizeof(P.mapper), "/dev/mapper/luks-%s", P.vol);
	snprintf(P.shadir, sizeof(P.shadir),
		 "%s/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/" SHA, a->kubelet_root);
	snprintf(P.sha_link, sizeof(P.sha_link), "%s.swap", P.shadir);
	snprintf(P.staging, sizeof(P.staging), "%s/globalmount", P.shadir);
	snprintf(P.csi, sizeof(P.csi), "%s/pods/" POD "/volumes/kubernetes.io~csi",
		 a->kubelet_root);
	snprintf(P.csi_link, sizeof(P.csi_link), "%s.swap", P.csi);
	snprintf(P.target, sizeof(P.target), "%s/%s/mount", P.csi, P.vol);
	/* outside the kubelet root: stand-ins for kubelet's pki, each with a
	 * sentinel mount where the swapped path would lead */
	adv_path(a, p, sizeof(p), "host/pki-t");
	snprintf(P.out_t, sizeof(P.out_t), "%s/%s/mount", p, P.vol);
	char out_s_dir[600];
	adv_path(a, out_s_dir, sizeof(out_s_dir), "host/pki-s");
	snprintf(P.out_s, sizeof(P.out_s), "%s/globalmount", out_s_dir);
	snprintf(P.allowed[0], sizeof(P.allowed[0]), "%s/pods", a->kubelet_root);
	snprintf(P.allowed[1], sizeof(P.allowed[1]), "%s/plugins/kubernetes.io/csi",
		 a->kubelet_root);
	if (adv_mkdirs(P.staging) || adv_mkdirs(P.target) || adv_mkdirs(P.out_t) ||
	    adv_mkdirs(P.out_s))
		return -1;
	rmdir(P.target); /* privd makes the leaf */
	if (symlink(p, P.csi_link) || symlink(out_s_dir, P.sha_link))
		return -1;
	if (mount("lcw-sentinel-target", P.out_t, "tmpfs", MS_NODEV, "size=64k") ||
	    mount("lcw-sentinel-staging", P.out_s, "tmpfs", MS_NODEV, "size=64k"))
		return -1;
	return fake_stage();
}

int
main(int argc, char **argv)
{
	struct adv a;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		iterations = atoi(argv[1]);
	if (getenv("ADV_PATHS_ITERATIONS"))
		iterations = atoi(getenv("ADV_PATHS_ITERATIONS"));
	if (geteuid() != 0) {
		printf("# SKIP: needs root\npaths: 0 passed, 0 failed\n");
		return 0;
	}
	if (adv_start(&a, NULL, NULL)) {
		adv_check(0, "privd starts");
		return adv_summary("paths");
	}
	if (setup(&a)) {
		adv_check(0, "setup: %s", strerror(errno));
	} else {
		test_shapes(&a);
		test_race(&a);
	}
	clear_mounts();
	umount2(P.out_t, UMOUNT_NOFOLLOW);
	umount2(P.out_s, UMOUNT_NOFOLLOW);
	unlink(P.mapper);
	adv_stop(&a);
	return adv_summary("paths");
}
