/* Where an S3 volume is mounted, and how the kubelet paths get it.
 *
 * Each rclone session mounts on its own privd-private mountpoint,
 * <dirname of --vfs-cache-mount>/rclone-mnt/<volume id> (root-only, 0700,
 * never below the kubelet root). The kubelet staging path and the publish
 * targets only ever hold binds of that mount, made through a descriptor of
 * the kubelet directory resolved once, symlink-free (kpath), so neither
 * rclone (which mounts whenever it gets round to it, and re-mounts after
 * every death) nor its teardown ever touches a kubelet path by name. */
#ifndef LCW_S3_MOUNTS_H
#define LCW_S3_MOUNTS_H

#include <stddef.h>

#include "kpath.h"
#include "mountops.h"
#include "privd_ctx.h"

enum mstate { M_NONE = 0, M_LIVE = 1, M_DEAD = 2, M_FOREIGN = 3 };

#define FUSE_TYPE "fuse.rclone"

/* The private mountpoint of volume id into out; with create, the
 * directories are made (0700) and the parent checked to be root's and
 * closed to everyone else. 0 or negative errno. */
int s3m_private_path(const struct privd_ctx *ctx, const char *id, char *out, size_t len, int create);

/* What is mounted at fd (the root of a mount, or not), for the volume
 * whose rclone remote is vfs; with vfs NULL, any remote name that belongs
 * to volume id counts as ours. *mid: the mount id (may be NULL). */
enum mstate s3m_fd_state(int fd, const char *id, const char *vfs, struct mnt_info *mi,
			 unsigned long long *mid);

/* A kubelet path of this kind, opened symlink-free (the top mount at the
 * leaf); answers nothing. fd or negative errno. */
int s3m_kfd(const struct privd_ctx *ctx, const char *path, enum kpath_kind kind, enum kpath_leaf leaf);

/* Open a kubelet path of this kind (made if missing) to bind volume id
 * onto, symlink-free, once: dead binds of this volume there are detached
 * first. *state: M_NONE (the fd is the bare directory) or M_LIVE (a live
 * mount of ours is there already). fd, or negative errno with err
 * (-EEXIST: someone else's mount). */
int s3m_open_target(const struct privd_ctx *ctx, const char *id, const char *vfs, const char *path, enum kpath_kind kind,
		    enum mstate *state, char *err, size_t errlen);

/* The private mountpoint of id, opened (O_PATH, the mount on it if any).
 * fd or negative errno. */
int s3m_open_private(const struct privd_ctx *ctx, const char *id);

/* Bind the live mount sfd is the root of onto the kubelet path, with
 * nodev,nosuid,noexec (and read-only when asked): a dead bind of this
 * volume there is detached first, a live one is left (1), anything else
 * refused. 0 bound, 1 already there, negative errno with err. */
int s3m_bind(const struct privd_ctx *ctx, int sfd, const char *id, const char *vfs, const char *path, enum kpath_kind kind,
	     int readonly, char *err, size_t errlen);

/* Take this volume's mounts off a kubelet path: a live one strictly (the
 * mount checked by its id), a dead one by detaching exactly it. 0 when
 * none of ours is left there, negative errno otherwise. */
int s3m_unmount(const struct privd_ctx *ctx, const char *id, const char *path, enum kpath_kind kind);

/* Take the private mount of id away (after its kubelet binds), detaching
 * it: its data is uploaded or in the cache. Removes the directory. */
void s3m_release_private(const struct privd_ctx *ctx, const char *id, const char *vfs);

#endif
