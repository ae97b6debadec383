/* The spawner as privd's handlers use it (privd_ctx.tools). */
#ifndef LCW_SPAWNER_CLIENT_H
#define LCW_SPAWNER_CLIENT_H

#include "ipc_rpc.h"
#include "privd_ctx.h"

/* The channel to the spawner; set once, before any handler runs. */
void spawner_client_init(struct rpc_chan *rpc);

extern const struct privd_tools spawner_tools;

#endif
