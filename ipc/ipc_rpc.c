#define _GNU_SOURCE
#include "ipc_rpc.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "ipc_chan.h"

void
rpc_init(struct rpc_chan *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->next_id = 1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
}

static void
deadline(struct timespec *dl, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, dl); /* the default condvar clock */
	dl->tv_sec += timeout_ms / 1000;
	dl->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl->tv_nsec >= 1000000000L) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000L;
	}
}

int
rpc_call(struct rpc_chan *c, struct ipc_msg *req, int pass_fd, struct ipc_msg *ans,
	 int timeout_ms)
{
	struct rpc_pending *p = NULL;
	struct timespec dl;
	int rc = 0;

	deadline(&dl, timeout_ms);
	pthread_mutex_lock(&c->mu);
	while (p == NULL) {
		for (int i = 0; i < RPC_MAX_PENDING && p == NULL; i++)
			if (c->slots[i].id == 0)
				p = &c->slots[i];
		if (p == NULL && pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT) {
			pthread_mutex_unlock(&c->mu);
			return -1;
		}
	}
	if (c->next_id == 0)
		c->next_id = 1;
	req->id = c->next_id++;
	*p = (struct rpc_pending){ req->id, req->type + 1, 0, ans };
	/* Send under the lock: datagrams are whole messages, and the slot
	 * exists before the answer can arrive. */
	int src = ipc_send(c->fd, req, pass_fd);
	if (src) {
		memset(p, 0, sizeof(*p));
		pthread_mutex_unlock(&c->mu);
		return src;
	}
	while (!p->done && rc == 0)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT)
			rc = -1;
	memset(p, 0, sizeof(*p));
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

uint32_t
rpc_next_id(struct rpc_chan *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->next_id == 0)
		c->next_id = 1;
	uint32_t id = c->next_id++;
	pthread_mutex_unlock(&c->mu);
	return id;
}

int
rpc_deliver(struct rpc_chan *c, const struct ipc_msg *ans)
{
	struct rpc_pending *p = NULL;
	int rc = 1;

	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < RPC_MAX_PENDING && p == NULL; i++)
		if (ans->id != 0 && c->slots[i].id == ans->id)
			p = &c->slots[i];
	if (p != NULL) {
		if (ans->type != p->want && ans->type != IPC_ANS_ERROR) {
			rc = -1;
		} else {
			*p->ans = *ans;
			p->done = 1;
			pthread_cond_broadcast(&c->cv);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}
