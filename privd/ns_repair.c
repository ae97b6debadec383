/* The mount-namespace repair helper.
 *
 * A pod whose volume mount has no HostToContainer propagation keeps, in
 * its own mount namespace, the bind of a FUSE mount whose rclone died:
 * privd's re-mount never reaches it. Putting the live mount there takes
 * what privd must not hold: entering another process's mount namespace
 * (setns: CAP_SYS_ADMIN and CAP_SYS_CHROOT) and opening its namespace and
 * root (/proc/<pid>/ns/mnt, /proc/<pid>/root: CAP_SYS_PTRACE for a pod of
 * another uid). So the spawner forks this helper per repair, without
 * exec: it keeps CAP_SYS_ADMIN, CAP_SYS_CHROOT, CAP_SYS_PTRACE and
 * CAP_DAC_READ_SEARCH (to walk the pod's directories), opens the two /proc
 * handles, stacks an allowlist (policy/repair.seccomp) on the spawner's
 * filter, enters the namespace and acts on descriptors only:
 *
 *   - the mount point's directory is resolved beneath the pod's root with
 *     openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS),
 *     the leaf beneath it the same way: nothing the pod wrote is followed,
 *     and no path of the pod's /proc is ever used;
 *   - the leaf must be the root of exactly the dead mount privd named (by
 *     mount id, which is unique on the node; a reused pid lands in another
 *     namespace where that id does not exist);
 *   - that mount is detached through this helper's own /proc/self/fd
 *     (opened before setns), the leaf reopened and checked to be the bare
 *     directory on the parent mount, and privd's detached clone moved onto
 *     it (move_mount). If the dead mount cannot be detached (a locked
 *     mount of a user-namespaced pod), the clone is moved on top of it.
 *
 * privd made the clone (open_tree(OPEN_TREE_CLONE) of its live mount, with
 * nosuid,nodev and the dead mount's ro/noexec) and passed it over
 * SCM_RIGHTS: the helper never sees a mount of privd's other than that
 * one. */
#define _GNU_SOURCE
#include "ns_repair.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "policy.h"
#include "stale_scan.h"

static int errfd = 2;

static void __attribute__((noreturn, format(printf, 2, 3)))
finish(int code, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(errfd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0)
		code = code ? code : NSR_FAILED;
	_exit(code);
}

/* The mount id fd is on, without asking the (maybe dead) FUSE server. */
static int
mount_id(int fd, unsigned long long *id)
{
	struct statx sx;

	if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx))
		return -errno;
	if (!(sx.stx_mask & STATX_MNT_ID))
		return -ENOSYS;
	*id = sx.stx_mnt_id;
	return 0;
}

static int
open_beneath(int dirfd, const char *path, unsigned long long resolve)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = resolve | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

static int
move_clone(int clone, int onto)
{
	return syscall(SYS_move_mount, clone, "", onto, "",
		       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) ? -errno : 0;
}

static void
confine(void)
{
	static struct pol_seccomp pol; /* large: not on the stack */
	char err[256];

	capng_clear(CAPNG_SELECT_BOTH);
	capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
		      CAP_SYS_ADMIN, CAP_SYS_CHROOT, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, -1);
	if (capng_apply(CAPNG_SELECT_BOTH))
		finish(NSR_FAILED, "cannot drop capabilities");
	if (pol_parse(policy_repair_seccomp, &pol, err, sizeof(err)) ||
	    pol_seccomp_load(&pol, 0, err, sizeof(err)))
		finish(NSR_FAILED, "repair seccomp policy: %s", err);
}

void
ns_repair_child(const struct ipc_repair_mount_req *r, int clone_fd, int errw)
{
	char p[64], dir[STALE_PATH_MAX + 1], leaf[256];
	unsigned long long id;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC), rc;

	/* descriptors: the clone on 3, nothing else above stderr */
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(errw, 2) < 0 ||
	    dup2(clone_fd, 3) < 0)
		_exit(NSR_FAILED);
	close_range(4, ~0U, 0);
	if (stale_path_split(r->path, dir, sizeof(dir), leaf, sizeof(leaf)))
		finish(NSR_FAILED, "not a mount point path: %s", r->path);

	confine();
	/* Our /proc (the node's, with hostPID), opened before we leave our
	 * namespace: nothing of the pod's /proc is ever looked at. */
	snprintf(p, sizeof(p), "/proc/%u/ns/mnt", r->pid);
	int ns = open(p, O_RDONLY | O_CLOEXEC);
	snprintf(p, sizeof(p), "/proc/%u/root", r->pid);
	int root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fds = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ns < 0 || root < 0 || fds < 0)
		finish(errno == ENOENT ? NSR_GONE : NSR_FAILED, "process %u: %s", r->pid,
		       strerror(errno));
	if (setns(ns, CLONE_NEWNS))
		finish(NSR_FAILED, "cannot enter the mount namespace of %u: %s", r->pid,
		       strerror(errno));

	int pfd = open_beneath(root, dir, RESOLVE_IN_ROOT);
	if (pfd < 0)
		finish(pfd == -ENOENT ? NSR_GONE : NSR_FAILED, "%s: %s", dir, strerror(-pfd));
	int lfd = open_beneath(pfd, leaf, RESOLVE_BENEATH);
	if (lfd < 0)
		finish(lfd == -ENOENT ? NSR_GONE : NSR_FAILED, "%s: %s", r->path, strerror(-lfd));
	if ((rc = mount_id(lfd, &id)))
		finish(NSR_FAILED, "%s: %s", r->path, strerror(-rc));
	if (id != r->mnt_id)
		finish(NSR_GONE, "%s: not the dead mount (any more)", r->path);

	/* Detach exactly that mount, through our own fd table's magic link. */
	snprintf(p, sizeof(p), "%d", lfd);
	if (fchdir(fds) == 0 && umount2(p, MNT_DETACH) == 0) {
		close(lfd);
		int nfd = open_beneath(pfd, leaf, RESOLVE_BENEATH);
		if (nfd < 0)
			finish(NSR_FAILED, "%s: gone after the detach: %s", r->path, strerror(-nfd));
		if ((rc = mount_id(nfd, &id)))
			finish(NSR_FAILED, "%s: %s", r->path, strerror(-rc));
		if (id != r->parent_id)
			finish(NSR_FAILED, "%s: another mount appeared there; left alone", r->path);
		if ((rc = move_clone(3, nfd)))
			finish(NSR_FAILED, "%s: dead mount detached, cannot attach the live one: %s",
			       r->path, strerror(-rc));
		finish(NSR_REPAIRED, "%s: live mount in place", r->path);
	}
	int why = errno;
	/* Not detachable (e.g. locked in a user namespace): cover it. */
	if ((rc = move_clone(3, lfd)))
		finish(NSR_FAILED, "%s: cannot detach (%s) nor cover (%s) the dead mount", r->path,
		       strerror(why), strerror(-rc));
	finish(NSR_STACKED, "%s: dead mount covered by the live one (detach: %s)", r->path,
	       strerror(why));
}
