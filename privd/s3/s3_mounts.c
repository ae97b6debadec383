/* S3 volume mounts through descriptors. See s3_mounts.h. */
#define _GNU_SOURCE
#include "s3_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "privd_ctx.h"
#include "s3_config.h"
#include "rclone_conf.h"
#include "vol.h"

#define PRIVATE_DIR "rclone-mnt"

/* mkdir 0700 (if missing), then make sure it is a directory of root's
 * that nobody else can enter: a pod or the frontend must never reach the
 * mount below it except through the binds privd makes. */
static int
private_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	if (lstat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0)
		return -EPERM;
	if ((st.st_mode & 0077) && chmod(path, 0700))
		return -errno;
	return 0;
}

int
s3m_private_path(const struct privd_ctx *ctx, const char *id, char *out, size_t len, int create)
{
	char parent[4096], dir[4096];
	int rc;

	snprintf(parent, sizeof(parent), "%s", ctx->s3->vfs_cache_mount);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/" PRIVATE_DIR, dirname(parent)) >= sizeof(dir) ||
	    (size_t)snprintf(out, len, "%s/%s", dir, id) >= len)
		return -ENAMETOOLONG;
	if (!create)
		return 0;
	if ((rc = private_dir(dir)) != 0)
		return rc;
	return private_dir(out);
}

enum mstate
s3m_fd_state(int fd, const char *id, const char *vfs, struct mnt_info *mi,
	     unsigned long long *mid)
{
	struct statvfs sv;
	size_t n;

	if (mnt_lookup_fd(fd, mi, mid) != 1)
		return M_NONE;
	n = strlen(mi->source);
	if (strcmp(mi->fstype, FUSE_TYPE) || n < 2 || mi->source[n - 1] != ':')
		return M_FOREIGN;
	if (vfs) {
		if (strncmp(mi->source, vfs, n - 1) || strlen(vfs) != n - 1)
			return M_FOREIGN;
	} else {
		char name[256];
		if (n - 1 >= sizeof(name))
			return M_FOREIGN;
		memcpy(name, mi->source, n - 1);
		name[n - 1] = '\0';
		if (rclone_vfs_name_valid(name, id))
			return M_FOREIGN;
	}
	/* a FUSE mount whose rclone died answers ENOTCONN */
	return fstatvfs(fd, &sv) == 0 ? M_LIVE : M_DEAD;
}

int
s3m_kfd(const struct privd_ctx *ctx, const char *path, enum kpath_kind kind, enum kpath_leaf leaf)
{
	if (kpath_shape(ctx->kubelet_root, path, kind, NULL, 0))
		return -EINVAL;
	return kpath_open_dir(ctx->kubelet_root, path, leaf);
}

int
s3m_open_target(const struct privd_ctx *ctx, const char *id, const char *vfs, const char *path, enum kpath_kind kind,
		enum mstate *state, char *err, size_t errlen)
{
	struct mnt_info mi;

	for (int i = 0; i < 8; i++) {
		int tfd = s3m_kfd(ctx, path, kind, KPATH_MKDIR), rc;
		if (tfd < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(-tfd));
			return tfd;
		}
		switch ((*state = s3m_fd_state(tfd, id, vfs, &mi, NULL))) {
		case M_NONE:
		case M_LIVE:
			return tfd;
		case M_DEAD:
			/* the bind of an rclone that died: exactly that mount goes */
			rc = mnt_detach_fd(tfd);
			close(tfd);
			if (rc) {
				snprintf(err, errlen, "cannot detach the dead mount at %s: %s", path,
					 strerror(-rc));
				return rc;
			}
			continue;
		default:
			close(tfd);
			snprintf(err, errlen, "%s already holds a mount of %s", path, mi.source);
			return -EEXIST;
		}
	}
	snprintf(err, errlen, "%s: dead mounts keep reappearing", path);
	return -EAGAIN;
}

int
s3m_open_private(const struct privd_ctx *ctx, const char *id)
{
	char p[4096];
	int rc = s3m_private_path(ctx, id, p, sizeof(p), 0);

	if (rc)
		return rc;
	int fd = open(p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int
s3m_bind(const struct privd_ctx *ctx, int sfd, const char *id, const char *vfs, const char *path, enum kpath_kind kind,
	 int readonly, char *err, size_t errlen)
{
	enum mstate st;
	struct mnt_info mi;
	int tfd, rc;

	/* A pod's publish target that still holds the bind of a dead rclone:
	 * the live mount goes on top of the dead one, never after it is
	 * detached. In between, the target would be the bare kubelet directory,
	 * and a pod writing there would put its data, in plaintext, on the
	 * node's disk and lose it from the volume. The dead bind stays beneath,
	 * holding nothing; unpublish takes the whole stack down (s3m_unmount). */
	if (kind == KPATH_TARGET) {
		tfd = s3m_kfd(ctx, path, kind, KPATH_MUST_EXIST);
		if (tfd >= 0 && s3m_fd_state(tfd, id, vfs, &mi, NULL) == M_DEAD) {
			rc = mnt_bind_fd(sfd, tfd, readonly, 1, path, err, errlen);
			close(tfd);
			if (rc == 0)
				return 0;
			/* could not stack: fall back to detach, then bind */
		} else if (tfd >= 0) {
			close(tfd);
		}
	}
	tfd = s3m_open_target(ctx, id, vfs, path, kind, &st, err, errlen);
	if (tfd < 0)
		return tfd;
	/* onto exactly the directory checked above */
	rc = st == M_LIVE ? 1 : mnt_bind_fd(sfd, tfd, readonly, 1, path, err, errlen);
	close(tfd);
	return rc;
}

int
s3m_unmount(const struct privd_ctx *ctx, const char *id, const char *path, enum kpath_kind kind)
{
	struct mnt_info mi;
	unsigned long long mid = 0;

	for (int i = 0; i < 16; i++) {
		int fd = s3m_kfd(ctx, path, kind, KPATH_MUST_EXIST), rc;
		if (fd == -ENOENT)
			return 0;
		if (fd < 0)
			return fd;
		enum mstate ms = s3m_fd_state(fd, id, NULL, &mi, &mid);
		if (ms == M_LIVE) {
			close(fd); /* it would pin the mount */
			rc = unmount_kpath(ctx, path, mid);
		} else if (ms == M_DEAD) {
			rc = mnt_detach_fd(fd);
			close(fd);
		} else {
			close(fd);
			return 0; /* nothing of ours (left) there */
		}
		if (rc)
			return rc;
	}
	return -EAGAIN;
}

void
s3m_release_private(const struct privd_ctx *ctx, const char *id, const char *vfs)
{
	char p[4096];
	struct mnt_info mi;

	if (s3m_private_path(ctx, id, p, sizeof(p), 0))
		return;
	for (int i = 0; i < 8; i++) {
		int fd = s3m_open_private(ctx, id);
		if (fd < 0)
			return;
		enum mstate ms = s3m_fd_state(fd, id, vfs, &mi, NULL);
		int rc = ms == M_LIVE || ms == M_DEAD ? mnt_detach_fd(fd) : 1;
		close(fd);
		if (rc)
			break;
	}
	if (rmdir(p) && errno != ENOENT && errno != EBUSY)
		log_warn("cannot remove %s: %s", p, strerror(errno));
}
