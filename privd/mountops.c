/* Mounts with libmount and mount(2). See mountops.h.
 *
 * Targets come as a path or as "/proc/self/fd/N" of an O_PATH fd. Neither
 * form can be handed to every syscall as is: a magic link lands on the
 * dentry the fd was opened on without descending into mounts stacked there
 * later, so a remount or a bind *source* through an fd opened before the
 * mount would act on the directory underneath. Every operation therefore
 * works from the target's parent directory and its leaf name, opening the
 * leaf afresh (never following a symlink there) when it needs the mount on
 * top. */
#define _GNU_SOURCE
#include "mountops.h"

#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#define FD_PREFIX "/proc/self/fd/"

struct mtarget {
	int pfd;            /* O_PATH fd of the parent directory */
	char leaf[256];     /* last component */
	char path[4096];    /* absolute path as the kernel prints it */
};

static int
fd_of_link(const char *target)
{
	const char *p = target + strlen(FD_PREFIX);
	char *end;

	if (strncmp(target, FD_PREFIX, strlen(FD_PREFIX)) != 0 || *p < '0' || *p > '9')
		return -1;
	long n = strtol(p, &end, 10);
	return *end || n > 1 << 30 ? -1 : (int)n;
}

/* Splits t->path into t->leaf; refuses "/" and over-long names. */
static int
set_leaf(struct mtarget *t)
{
	size_t n = strlen(t->path);

	while (n > 1 && t->path[n - 1] == '/')
		t->path[--n] = '\0';
	const char *slash = strrchr(t->path, '/');
	if (!slash || slash[1] == '\0' || strlen(slash + 1) >= sizeof(t->leaf))
		return -EINVAL;
	snprintf(t->leaf, sizeof(t->leaf), "%s", slash + 1);
	return 0;
}

static int
readlink_fd(int fd, char *buf, size_t len)
{
	char link[64];

	snprintf(link, sizeof(link), FD_PREFIX "%d", fd);
	ssize_t n = readlink(link, buf, len);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

/* "/proc/self/fd/N": the kernel names the directory; ".." of it is the
 * parent whether N sits on the mount point or on a mount's root. */
static int
resolve_fd(int fd, struct mtarget *t)
{
	int rc = readlink_fd(fd, t->path, sizeof(t->path));

	if (rc)
		return rc;
	if (t->path[0] != '/')
		return -ENOTDIR; /* not a directory in our tree (pipe:, anon_inode:...) */
	if ((rc = set_leaf(t)) != 0)
		return rc;
	t->pfd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return t->pfd < 0 ? -errno : 0;
}

/* A path: parents were vetted by the caller (the kubelet root itself may be
 * a symlink), so they are followed; the kernel's name for the parent then
 * gives the path mountinfo uses. */
static int
resolve_path(const char *target, struct mtarget *t)
{
	char parent[4096];
	int rc;

	if (target[0] != '/' || strlen(target) >= sizeof(t->path))
		return -EINVAL;
	snprintf(t->path, sizeof(t->path), "%s", target);
	if ((rc = set_leaf(t)) != 0)
		return rc;
	size_t plen = strlen(t->path) - strlen(t->leaf) - 1;
	snprintf(parent, sizeof(parent), "%.*s", (int)(plen ? plen : 1), t->path);
	t->pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (t->pfd < 0)
		return -errno;
	if ((rc = readlink_fd(t->pfd, parent, sizeof(parent))) != 0)
		return rc;
	if ((size_t)snprintf(t->path, sizeof(t->path), "%s/%s", strcmp(parent, "/") ? parent : "",
			     t->leaf) >= sizeof(t->path))
		return -ENAMETOOLONG;
	return 0;
}

static int
target_resolve(const char *target, struct mtarget *t)
{
	int fd = fd_of_link(target);
	int rc;

	t->pfd = -1;
	rc = fd >= 0 ? resolve_fd(fd, t) : resolve_path(target, t);
	if (rc && t->pfd >= 0) {
		close(t->pfd);
		t->pfd = -1;
	}
	return rc;
}

/* Opens what is visible at the leaf now (the top mount, if any), never
 * through a symlink. */
static int
open_leaf(const struct mtarget *t)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, t->pfd, t->leaf, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* ---- lookup ------------------------------------------------------------- */

static struct libmnt_table *
mountinfo(int *rc)
{
	struct libmnt_table *tb = mnt_new_table();

	if (!tb) {
		*rc = -ENOMEM;
		return NULL;
	}
	*rc = mnt_table_parse_file(tb, "/proc/self/mountinfo");
	if (*rc) {
		*rc = *rc < 0 ? *rc : -EIO;
		mnt_unref_table(tb);
		return NULL;
	}
	return tb;
}

/* The top of the mounts stacked on path: later in mountinfo wins, unless
 * the later one is the parent of the current pick (mounted beneath it). */
static struct libmnt_fs *
top_mount(struct libmnt_table *tb, const char *path)
{
	struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *fs, *best = NULL;

	if (!it)
		return NULL;
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *tgt = mnt_fs_get_target(fs);
		if (!tgt || strcmp(tgt, path) != 0)
			continue;
		if (!best || mnt_fs_get_parent_id(best) != mnt_fs_get_id(fs))
			best = fs;
	}
	mnt_free_iter(it);
	return best;
}

static int
copy_field(char *dst, size_t len, const char *src)
{
	return (size_t)snprintf(dst, len, "%s", src ? src : "") >= len ? -ENAMETOOLONG : 0;
}

static int
fill_info(struct libmnt_fs *fs, struct mnt_info *mi)
{
	const char *vfs = mnt_fs_get_vfs_options(fs);

	if (copy_field(mi->source, sizeof(mi->source), mnt_fs_get_source(fs)) ||
	    copy_field(mi->fstype, sizeof(mi->fstype), mnt_fs_get_fstype(fs)) ||
	    copy_field(mi->options, sizeof(mi->options), vfs) ||
	    copy_field(mi->root, sizeof(mi->root), mnt_fs_get_root(fs)))
		return -ENAMETOOLONG;
	mi->readonly = vfs && mnt_optstr_get_option(vfs, "ro", NULL, NULL) == 0;
	/* Super-block options: "ro" there means the file system itself went
	 * read-only (e.g. ext4 errors=remount-ro), whatever the bind says. */
	const char *fso = mnt_fs_get_fs_options(fs);
	mi->sb_readonly = fso && mnt_optstr_get_option(fso, "ro", NULL, NULL) == 0;
	return 1;
}

/* The top mount at path (taken as written) into mi: 1, 0 none, or a
 * negative errno. */
static int
lookup_path(const char *path, struct mnt_info *mi)
{
	struct libmnt_table *tb;
	int rc;

	if (!(tb = mountinfo(&rc)))
		return rc;
	struct libmnt_fs *fs = top_mount(tb, path);
	rc = fs ? fill_info(fs, mi) : 0;
	mnt_unref_table(tb);
	return rc;
}

/* Call visit for every mount in mountinfo until it returns nonzero.
 * Returns 0, or a negative errno. */
static int
each_mount(int (*visit)(struct libmnt_fs *fs, void *ud), void *ud)
{
	struct libmnt_table *tb;
	struct libmnt_iter *it;
	struct libmnt_fs *fs;
	int rc;

	if (!(tb = mountinfo(&rc)))
		return rc;
	if (!(it = mnt_new_iter(MNT_ITER_FORWARD))) {
		mnt_unref_table(tb);
		return -ENOMEM;
	}
	while (mnt_table_next_fs(tb, it, &fs) == 0)
		if (visit(fs, ud))
			break;
	mnt_free_iter(it);
	mnt_unref_table(tb);
	return 0;
}

int
mnt_lookup(const char *target, struct mnt_info *mi)
{
	struct mtarget t;
	int rc = target_resolve(target, &t);

	if (rc)
		return rc == -ENOENT ? 0 : rc; /* no such directory: not mounted */
	close(t.pfd);
	return lookup_path(t.path, mi);
}

struct by_source {
	const char *dev;
	int by_devno;
	dev_t rdev;
	int n;
};

static int
count_source(struct libmnt_fs *fs, void *ud)
{
	struct by_source *b = ud;
	const char *src = mnt_fs_get_source(fs);
	if (b->by_devno ? mnt_fs_get_devno(fs) == b->rdev : (src && strcmp(src, b->dev) == 0))
		b->n++;
	return 0;
}

int
mnt_count_by_source(const char *dev)
{
	struct by_source b = { .dev = dev };
	struct stat st;

	/* Block devices by number: the source string in mountinfo is whatever
	 * name was used at mount time (/dev/mapper/x vs /dev/dm-3), and bind
	 * mounts of the filesystem carry the same number. */
	b.by_devno = stat(dev, &st) == 0 && S_ISBLK(st.st_mode);
	b.rdev = b.by_devno ? st.st_rdev : 0;
	int rc = each_mount(count_source, &b);
	return rc ? rc : b.n;
}

/* ---- mount -------------------------------------------------------------- */

/* A libmount context that does exactly one mount(2): no /etc/fstab, no
 * mount.<type> helpers, no mtab/utab, no canonicalization (which would
 * resolve "/proc/self/fd/N" back into a path), no silent read-only retry. */
static struct libmnt_context *
plain_context(void)
{
	struct libmnt_context *cxt = mnt_new_context();

	if (!cxt)
		return NULL;
	if (mnt_context_disable_helpers(cxt, 1) || mnt_context_disable_mtab(cxt, 1) ||
	    mnt_context_disable_canonicalize(cxt, 1) || mnt_context_disable_swapmatch(cxt, 1) ||
	    mnt_context_enable_rwonly_mount(cxt, 1) ||
	    mnt_context_set_optsmode(cxt, MNT_OMODE_IGNORE)) {
		mnt_free_context(cxt);
		return NULL;
	}
	return cxt;
}

/* negative errno of a failed mnt_context_mount(), plus mount(8)'s text. */
static int
mount_error(struct libmnt_context *cxt, int rc, char *msg, size_t len)
{
	int e = mnt_context_syscall_called(cxt) ? mnt_context_get_syscall_errno(cxt) : 0;

	msg[0] = '\0';
	mnt_context_get_excode(cxt, rc, msg, len);
	if (e > 0)
		return -e;
	if (rc > 0)
		return -rc;
	return rc < 0 && rc > -4096 ? rc : -EINVAL; /* -MNT_ERR_* are below -4096 */
}

/* libmount would set up a loop device for a regular file: only block
 * devices are mounted here. */
static int
is_blockdev(const char *dev)
{
	struct stat st;

	if (stat(dev, &st))
		return -errno;
	return S_ISBLK(st.st_mode) ? 0 : -ENOTBLK;
}

/* shown: the target's path, for messages (libmount only sees fdpath). */
static int
mount_on(const char *dev, const char *fdpath, const char *shown, const char *fstype,
	 unsigned long flags, const char *data, char *err, size_t errlen)
{
	struct libmnt_context *cxt = plain_context();
	char msg[512];
	int rc;

	if (!cxt) {
		snprintf(err, errlen, "cannot set up libmount");
		return -ENOMEM;
	}
	if ((rc = mnt_context_set_source(cxt, dev)) || (rc = mnt_context_set_target(cxt, fdpath)) ||
	    (rc = mnt_context_set_fstype(cxt, fstype)) ||
	    (rc = mnt_context_set_options(cxt, data && *data ? data : NULL)) ||
	    (rc = mnt_context_set_mflags(cxt, flags))) {
		snprintf(err, errlen, "libmount rejected the mount parameters");
		mnt_free_context(cxt);
		return rc < 0 && rc > -4096 ? rc : -EINVAL;
	}
	rc = mnt_context_mount(cxt);
	if (rc) {
		rc = mount_error(cxt, rc, msg, sizeof(msg));
		snprintf(err, errlen, "mount %s (%s) on %s: %s", dev, fstype, shown,
			 msg[0] ? msg : strerror(-rc));
	}
	mnt_free_context(cxt);
	return rc;
}

int
mnt_mount_device(const char *dev, const char *target, const char *fstype,
		 unsigned long extra_flags, const char *data, char *err, size_t errlen)
{
	struct mtarget t;
	char fdpath[64];
	int rc, tfd;

	if (!fstype || !*fstype) {
		snprintf(err, errlen, "no filesystem type");
		return -EINVAL;
	}
	if ((rc = is_blockdev(dev)) != 0) {
		snprintf(err, errlen, "%s: %s", dev, strerror(-rc));
		return rc;
	}
	if ((rc = target_resolve(target, &t)) != 0) {
		snprintf(err, errlen, "mount target %s: %s", target, strerror(-rc));
		return rc;
	}
	tfd = open_leaf(&t);
	close(t.pfd);
	if (tfd < 0) {
		snprintf(err, errlen, "mount target %s: %s", t.path, strerror(-tfd));
		return tfd;
	}
	/* Options in data cannot clear these: libmount ORs the flags set here
	 * over whatever it parses from the option string. */
	snprintf(fdpath, sizeof(fdpath), FD_PREFIX "%d", tfd);
	rc = mount_on(dev, fdpath, t.path, fstype, MS_NODEV | MS_NOSUID | extra_flags, data, err, errlen);
	close(tfd);
	return rc;
}

/* ---- bind, remount, unmount --------------------------------------------- */

/* Per-mount flags to keep across MS_REMOUNT|MS_BIND, which otherwise resets
 * every one it is not given (and fails in user namespaces for locked ones).
 * A read-only source stays read-only in its binds. */
static unsigned long
kept_flags(int fd)
{
	static const struct { unsigned long st, ms; } map[] = {
		{ ST_RDONLY, MS_RDONLY }, { ST_NODEV, MS_NODEV }, { ST_NOSUID, MS_NOSUID }, { ST_NOEXEC, MS_NOEXEC },
		{ ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
		{ ST_RELATIME, MS_RELATIME },
	};
	struct statvfs sv;
	unsigned long fl = 0;

	if (fstatvfs(fd, &sv))
		return 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (sv.f_flag & map[i].st)
			fl |= map[i].ms;
	return fl;
}

/* Remounts the bind now on top of t's leaf: read-only if asked, and
 * always nodev,nosuid (a FUSE or foreign source may lack them). */
static int
restrict_bind(const struct mtarget *t, int readonly)
{
	char fdpath[64];
	struct statx sx;
	int fd = open_leaf(t), rc = 0;

	if (fd < 0)
		return fd;
	/* Guard against remounting the parent if the bind went elsewhere. */
	if (statx(fd, "", AT_EMPTY_PATH, 0, &sx) == 0 &&
	    (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    !(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
		close(fd);
		return -EINVAL;
	}
	unsigned long keep = kept_flags(fd);
	unsigned long want = keep | MS_NODEV | MS_NOSUID | (readonly ? MS_RDONLY : 0);
	if (want != keep) {
		snprintf(fdpath, sizeof(fdpath), FD_PREFIX "%d", fd);
		if (mount(NULL, fdpath, NULL, MS_REMOUNT | MS_BIND | want, NULL))
			rc = -errno;
	}
	close(fd);
	return rc;
}

static void
unmount_leaf(const struct mtarget *t)
{
	char p[320];

	snprintf(p, sizeof(p), FD_PREFIX "%d/%s", t->pfd, t->leaf);
	if (umount2(p, UMOUNT_NOFOLLOW))
		log_error("cannot undo bind mount on %s: %s", t->path, strerror(errno));
}

int
mnt_bind(const char *src, const char *target, int readonly, char *err, size_t errlen)
{
	struct mtarget s, t;
	char sp[64], tp[64];
	int sfd, tfd, rc;

	if ((rc = target_resolve(src, &s)) != 0) {
		snprintf(err, errlen, "bind source %s: %s", src, strerror(-rc));
		return rc;
	}
	sfd = open_leaf(&s); /* the mount visible at src now, not what lies under it */
	close(s.pfd);
	if (sfd < 0) {
		snprintf(err, errlen, "bind source %s: %s", s.path, strerror(-sfd));
		return sfd;
	}
	if ((rc = target_resolve(target, &t)) != 0 || (rc = tfd = open_leaf(&t)) < 0) {
		snprintf(err, errlen, "bind target %s: %s", target, strerror(-rc));
		if (t.pfd >= 0)
			close(t.pfd);
		close(sfd);
		return rc;
	}
	snprintf(sp, sizeof(sp), FD_PREFIX "%d", sfd);
	snprintf(tp, sizeof(tp), FD_PREFIX "%d", tfd);
	rc = mount(sp, tp, NULL, MS_BIND, NULL) ? -errno : 0;
	close(sfd);
	close(tfd);
	if (rc) {
		snprintf(err, errlen, "bind %s on %s: %s", s.path, t.path, strerror(-rc));
	} else if ((rc = restrict_bind(&t, readonly)) != 0) {
		/* Never leave a writable (or suid) bind behind a failed remount. */
		snprintf(err, errlen, "remount bind on %s%s: %s", t.path,
			 readonly ? " read-only" : "", strerror(-rc));
		unmount_leaf(&t);
	}
	close(t.pfd);
	return rc;
}

int
mnt_unmount(const char *target)
{
	struct mtarget t;
	struct mnt_info mi;
	char p[320];
	int rc;

	if ((rc = target_resolve(target, &t)) != 0)
		return rc;
	/* Through the parent fd: holding an fd inside the mount would make it
	 * busy, and UMOUNT_NOFOLLOW keeps a symlinked leaf from redirecting. */
	snprintf(p, sizeof(p), FD_PREFIX "%d/%s", t.pfd, t.leaf);
	rc = umount2(p, UMOUNT_NOFOLLOW) ? -errno : 0;
	close(t.pfd);
	/* EINVAL is also "not a mount point": only that case is success. */
	if (rc == -EINVAL && mnt_lookup(t.path, &mi) == 0)
		rc = 0;
	return rc;
}

int
mnt_find_by_target(const char *target, struct mnt_info *mi)
{
	/* mnt_lookup without target_resolve: the path is taken as written. */
	return lookup_path(target, mi);
}

struct of_source {
	const char *source, *fstype;
	int (*cb)(void *ud, const char *target, const struct mnt_info *mi);
	void *ud;
	int n;
};

static int
visit_source(struct libmnt_fs *fs, void *ud)
{
	struct of_source *o = ud;
	const char *src = mnt_fs_get_source(fs), *ty = mnt_fs_get_fstype(fs);
	const char *t = mnt_fs_get_target(fs);
	struct mnt_info mi;

	if (!src || !ty || !t || strcmp(src, o->source) || strcmp(ty, o->fstype))
		return 0;
	if (fill_info(fs, &mi) != 1)
		return 0;
	o->n++;
	return o->cb && o->cb(o->ud, t, &mi);
}

int
mnt_foreach_source(const char *source, const char *fstype,
		   int (*cb)(void *ud, const char *target, const struct mnt_info *mi), void *ud)
{
	struct of_source o = { source, fstype, cb, ud, 0 };
	int rc = each_mount(visit_source, &o);
	return rc ? rc : o.n;
}

int
mnt_detach(const char *target)
{
	/* The path itself, not a descriptor: a FUSE mount whose server died
	 * answers ENOTCONN to any lookup below it, but umount2 resolves the
	 * mount point without asking the file system. */
	if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		return 0;
	return errno == EINVAL ? 0 : -errno;
}
