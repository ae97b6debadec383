/* Request/answer matching over one ipc channel shared by many threads, in
 * the style of OpenSSH's monitor_wrap.c: a caller sends one typed request
 * and waits for its paired answer (or IPC_ANS_ERROR), matched by request id.
 * Whoever reads the channel hands every answer to rpc_deliver(). */
#ifndef LCW_IPC_RPC_H
#define LCW_IPC_RPC_H

#include <pthread.h>

#include "ipc_msg.h"

#define RPC_MAX_PENDING 128

struct rpc_pending {
	uint32_t id;   /* 0 = free slot */
	uint32_t want; /* expected answer type */
	int done;
	struct ipc_msg *ans;
};

struct rpc_chan {
	int fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t next_id;
	struct rpc_pending slots[RPC_MAX_PENDING];
};

void rpc_init(struct rpc_chan *c, int fd);

/* Send *req (id assigned here; pass_fd >= 0 attaches a descriptor) and wait
 * up to timeout_ms for the answer. Returns 0 with *ans filled, -1 on
 * timeout, or a negative ipc_chan code if sending failed (channel lost). */
int rpc_call(struct rpc_chan *c, struct ipc_msg *req, int pass_fd, struct ipc_msg *ans,
	     int timeout_ms);

/* A fresh request id from the channel's counter, for a caller that reads
 * its answer itself (the thread that also reads the channel). */
uint32_t rpc_next_id(struct rpc_chan *c);

/* Hand an answer to its waiting caller. Returns 0 if delivered, 1 if no
 * caller waits for that id (it timed out: drop the answer), -1 if the
 * answer's type does not pair with the request (a protocol violation). */
int rpc_deliver(struct rpc_chan *c, const struct ipc_msg *ans);

#endif
