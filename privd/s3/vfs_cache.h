/* The node-wide VFS-cache volume of the S3 backend (contract item 17):
 * <vfs cache root>/vfs-cache.luks, LUKS2, mapping luks-vfs-cache, ext4,
 * mounted by privd at --vfs-cache-mount and given to every rclone as its
 * --cache-dir, so rclone's cached file contents and pending uploads are
 * never plaintext on the node's disk. Passphrase: the --luks-secret-* key's
 * value, "-", and the node id (the one recorded in .node-id when the
 * volume was created, if any), cut at the first newline like every LUKS
 * passphrase of the original. */
#ifndef LCW_VFS_CACHE_H
#define LCW_VFS_CACHE_H

#include <stddef.h>
#include "privd_ctx.h"

struct ipc_msg;

/* Open (creating it the first time, growing it when --vfs-cache-size grew)
 * and mount the cache volume, unless it already is. Thread-safe. Returns 0,
 * or -1 with the error answered in ans. */
int vfs_cache_ensure(const struct privd_ctx *ctx, struct ipc_msg *ans);

/* An O_DIRECTORY descriptor of the mounted cache (owned by this module,
 * do not close), or -1 while it is not open. */
int vfs_cache_dirfd(void);

/* Does the cache volume's backing file exist (something to recover)? */
int vfs_cache_exists(const struct privd_ctx *ctx);

#endif
