/* csi-addons requests on staged local volumes: EncryptionKeyRotate
 * (rotate.c) and NodeReclaimSpace (reclaim.c). */
#ifndef LCW_ROTATE_H
#define LCW_ROTATE_H

#include "ipc_msg.h"
#include "privd_ctx.h"

void luks_rotate(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);
void luks_reclaim(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans);

#endif
