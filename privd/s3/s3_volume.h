/* privd's handlers for S3 volumes: rclone crypt over S3, FUSE-mounted at
 * the staging path by an rclone process the spawner starts, with its VFS
 * cache on the node's encrypted cache volume (vfs_cache.h). */
#ifndef LCW_S3_VOLUME_H
#define LCW_S3_VOLUME_H

#include "ipc_msg.h"
#include "privd_ctx.h"

void op_stage_s3(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);

/* The volume-agnostic requests (unstage, publish, unpublish, expand,
 * stats) come without a backend: these take them when the paths hold this
 * volume's rclone mount (or privd knows the volume as S3). Each returns 1
 * when it answered, 0 when the request is not about an S3 volume. */
int s3_unstage(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
int s3_publish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
int s3_unpublish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
int s3_expand(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
int s3_stats(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);

/* The spawner reported an rclone exit (main thread; must not block). */
void s3_rclone_exited(int pid, int wstatus);

/* Start the thread that re-establishes dead rclone mounts, including
 * those of volumes staged before privd (re)started. 0 or -1. */
int s3_supervisor_start(const struct privd_ctx *ctx);

#endif
