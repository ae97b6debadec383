/* Mounts with libmount, mount(2) and the mount API (open_tree,
 * mount_setattr, move_mount). See mountops.h.
 *
 * Kubelet paths reach this module only as descriptors that kpath opened
 * once, symlink-free, below the kubelet root; nothing here looks a kubelet
 * path up by its text again. The few text targets (mnt_lookup,
 * mnt_mount_device) are privd's own configured directories (the VFS cache
 * mount), which the administrator chooses. */
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

/* privd's own directory (administrator's choice: symlinks in it are
 * followed, as for the kubelet root). */
static int
open_own_dir(const char *target)
{
	int fd = open(target, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int
mnt_lookup(const char *target, struct mnt_info *mi)
{
	int fd = open_own_dir(target), rc;

	if (fd < 0)
		return fd == -ENOENT ? 0 : fd; /* no such directory: not mounted */
	rc = mnt_lookup_fd(fd, mi, NULL);
	close(fd);
	return rc;
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
	int fd = open_own_dir(target), rc;

	if (fd < 0) {
		snprintf(err, errlen, "mount target %s: %s", target, strerror(-fd));
		return fd;
	}
	rc = mnt_mount_device_fd(dev, fd, target, fstype, extra_flags, data, err, errlen);
	close(fd);
	return rc;
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

/* ---- descriptors only (kubelet paths) ------------------------------------- */

/* From /proc/self/fdinfo: the kernel's word, without any file system call. */
static int
mnt_id_fdinfo(int fd, unsigned long long *id)
{
	char p[64], buf[512];
	int f;

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	if ((f = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	ssize_t n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	const char *m = strstr(buf, "\nmnt_id:");
	if (!m || sscanf(m + 8, "%llu", id) != 1)
		return -EIO;
	return 0;
}

int
mnt_id_of(int fd, unsigned long long *id)
{
	struct statx sx;

	/* DONT_SYNC: FUSE answers from its cache, even with its server gone. */
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) == 0 &&
	    (sx.stx_mask & STATX_MNT_ID)) {
		*id = sx.stx_mnt_id;
		return 0;
	}
	return mnt_id_fdinfo(fd, id);
}

struct id_lookup {
	unsigned long long id;
	struct mnt_info *mi;
	int rc;
};

static int
visit_id(struct libmnt_fs *fs, void *ud)
{
	struct id_lookup *l = ud;

	if ((unsigned long long)mnt_fs_get_id(fs) != l->id)
		return 0;
	l->rc = l->mi ? fill_info(fs, l->mi) : 1;
	return 1;
}

static int
lookup_id(unsigned long long id, struct mnt_info *mi)
{
	struct id_lookup l = { id, mi, 0 };
	int rc = each_mount(visit_id, &l);

	return rc ? rc : l.rc;
}

int
mnt_lookup_fd(int fd, struct mnt_info *mi, unsigned long long *id)
{
	unsigned long long me, up;
	int pfd, rc;

	if ((rc = mnt_id_of(fd, &me)) != 0)
		return rc;
	/* ".." of a mount's root is the mount point's parent, in the mount
	 * below: no lookup by name, and none inside the (maybe dead) mount. */
	if ((pfd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	rc = mnt_id_of(pfd, &up);
	close(pfd);
	if (rc)
		return rc;
	if (me == up)
		return 0;
	if (id)
		*id = me;
	rc = lookup_id(me, mi);
	return rc == 0 ? -ESTALE : rc; /* gone between the two reads */
}

int
mnt_mount_device_fd(const char *dev, int tfd, const char *shown, const char *fstype,
		    unsigned long extra_flags, const char *data, char *err, size_t errlen)
{
	char fdpath[64];
	int rc;

	if (!fstype || !*fstype) {
		snprintf(err, errlen, "no filesystem type");
		return -EINVAL;
	}
	if ((rc = is_blockdev(dev)) != 0) {
		snprintf(err, errlen, "%s: %s", dev, strerror(-rc));
		return rc;
	}
	/* The magic link lands on exactly the directory tfd was opened on. */
	snprintf(fdpath, sizeof(fdpath), FD_PREFIX "%d", tfd);
	return mount_on(dev, fdpath, shown, fstype, MS_NODEV | MS_NOSUID | extra_flags, data, err,
			errlen);
}

int
mnt_bind_fd(int sfd, int tfd, int readonly, int noexec, const char *shown, char *err,
	    size_t errlen)
{
	struct mount_attr ma = {
		.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (readonly ? MOUNT_ATTR_RDONLY : 0) |
			    (noexec ? MOUNT_ATTR_NOEXEC : 0),
	};
	int rc = 0;

	/* A detached copy of the mount at sfd (not what lies below it, and
	 * none of the mounts inside it). */
	long t = syscall(SYS_open_tree, sfd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (t < 0) {
		rc = -errno;
		snprintf(err, errlen, "bind onto %s: cannot copy the source mount: %s", shown,
			 strerror(-rc));
		return rc;
	}
	if (syscall(SYS_mount_setattr, (int)t, "", AT_EMPTY_PATH, &ma, sizeof(ma))) {
		rc = -errno;
		snprintf(err, errlen, "bind onto %s: cannot restrict the copy: %s", shown,
			 strerror(-rc));
	} else if (syscall(SYS_move_mount, (int)t, "", tfd, "",
			   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)) {
		rc = -errno;
		snprintf(err, errlen, "bind onto %s: %s", shown, strerror(-rc));
	}
	close((int)t); /* an unattached copy goes away with its last fd */
	return rc;
}

int
mnt_unmount_at(int pfd, const char *leaf, unsigned long long id)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	unsigned long long now;
	char p[320];
	int rc;

	if (!leaf[0] || strchr(leaf, '/') || strlen(leaf) > 255)
		return -EINVAL;
	long fd = syscall(SYS_openat2, pfd, leaf, &how, sizeof(how));
	if (fd < 0)
		return errno == ENOENT && lookup_id(id, NULL) == 0 ? 0 : -errno;
	rc = mnt_id_of((int)fd, &now);
	close((int)fd); /* an fd on the mount would make it busy */
	if (rc)
		return rc;
	if (now != id)
		return lookup_id(id, NULL) == 0 ? 0 : -ESTALE;
	snprintf(p, sizeof(p), FD_PREFIX "%d/%s", pfd, leaf);
	if (umount2(p, UMOUNT_NOFOLLOW) == 0)
		return 0;
	rc = -errno;
	return rc == -EINVAL && lookup_id(id, NULL) == 0 ? 0 : rc;
}

int
mnt_detach_fd(int fd)
{
	char p[64];

	snprintf(p, sizeof(p), FD_PREFIX "%d", fd);
	/* Lazy: fd itself holds the mount, a strict unmount would be EBUSY. */
	if (umount2(p, MNT_DETACH) == 0)
		return 0;
	return -errno;
}
