/* Handlers of privd's local-volume requests (see volume_ops.c). */
#ifndef LCW_VOLUME_OPS_H
#define LCW_VOLUME_OPS_H

#include "dispatch.h"

void op_stage(struct privd_state *st, const struct ipc_msg *req, struct ipc_msg *ans);
void op_unstage(struct privd_state *st, const struct ipc_msg *req, struct ipc_msg *ans);
void op_publish(struct privd_state *st, const struct ipc_msg *req, struct ipc_msg *ans);
void op_unpublish(struct privd_state *st, const struct ipc_msg *req, struct ipc_msg *ans);
void op_expand(struct privd_state *st, const struct ipc_msg *req, struct ipc_msg *ans);
void op_stats(struct privd_state *st, const struct ipc_msg *req, struct ipc_msg *ans);
/* Is the volume staged here (its mapping active or its loop attached)?
 * 1 yes, 0 no, -1 cannot tell. */
int volume_is_staged(const char *id);

/* Crypto-erase a volume that is not staged. Only the reclaimer calls it
 * (no IPC request reaches it). 0 or negative errno with a message. */
int erase_volume(const char *id, char *err, size_t errlen);

#endif
