/* Handlers of privd's local-volume requests (see volume_ops.c). */
#ifndef LCW_VOLUME_OPS_H
#define LCW_VOLUME_OPS_H

#include "ipc_msg.h"
#include "privd_ctx.h"

void luks_stage(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
void luks_unstage(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
void luks_publish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
void luks_unpublish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
void luks_expand(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
void luks_stats(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
/* Is the volume staged here (its mapping active or its loop attached)?
 * 1 yes, 0 no, -1 cannot tell. */
int volume_is_staged(const struct privd_ctx *ctx, const char *id);

/* Crypto-erase a volume that is not staged. Only the reclaimer calls it
 * (no IPC request reaches it). 0 or negative errno with a message. */
int erase_volume(const struct privd_ctx *ctx, const char *id, char *err, size_t errlen);

#endif
