#define _GNU_SOURCE
#include "privd_client.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc_chan.h"
#include "log.h"

#define MAX_PENDING 128

struct pending {
	uint32_t id;   /* 0 = free slot */
	uint32_t want; /* expected answer type */
	int done;
	struct ipc_msg *ans;
};

static int chan = -1;
static void (*lost_cb)(void);
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct pending slots[MAX_PENDING];
static uint32_t next_id = 1;

static void __attribute__((noreturn))
lost(const char *why)
{
	log_error("privd channel lost: %s; exiting", why);
	if (lost_cb)
		lost_cb();
	_exit(3);
}

static void *
receiver(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "privd-rx");
	for (;;) {
		struct ipc_msg m;
		int rc = ipc_recv(chan, IPC_FROM_PRIVD, &m, NULL);
		if (rc)
			lost(ipc_chan_strerror(rc));
		if (ipc_is_request(m.type))
			lost("privd sent a request"); /* privd never asks us anything */
		pthread_mutex_lock(&mu);
		struct pending *p = NULL;
		for (int i = 0; i < MAX_PENDING; i++)
			if (slots[i].id == m.id && m.id != 0)
				p = &slots[i];
		if (p == NULL) {
			/* The caller timed out and left; the answer is stale. */
			pthread_mutex_unlock(&mu);
			log_warn("dropping late answer %s id %u", ipc_type_name(m.type), m.id);
			explicit_bzero(&m, sizeof(m));
			continue;
		}
		if (m.type != p->want && m.type != IPC_ANS_ERROR) {
			pthread_mutex_unlock(&mu);
			lost("answer type does not match the request");
		}
		*p->ans = m;
		p->done = 1;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		explicit_bzero(&m, sizeof(m));
	}
	return NULL;
}

void
privd_client_start(int sock, void (*on_lost)(void))
{
	pthread_t t;

	chan = sock;
	lost_cb = on_lost;
	if (pthread_create(&t, NULL, receiver, NULL))
		fatal(70, "cannot start privd receiver thread");
	pthread_detach(t);
}

int
privd_call(struct ipc_msg *req, struct ipc_msg *ans, int timeout_ms)
{
	struct pending *p = NULL;
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl); /* the default condvar clock */
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	while (p == NULL) {
		for (int i = 0; i < MAX_PENDING && p == NULL; i++)
			if (slots[i].id == 0)
				p = &slots[i];
		if (p == NULL && pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT) {
			pthread_mutex_unlock(&mu);
			return -1;
		}
	}
	if (next_id == 0)
		next_id = 1;
	req->id = next_id++;
	*p = (struct pending){ req->id, req->type + 1, 0, ans };
	/* Send under the lock: one datagram per message keeps the stream
	 * ordered and a half-sent message impossible. */
	int src = ipc_send(chan, req, -1);
	if (src) {
		pthread_mutex_unlock(&mu);
		lost(ipc_chan_strerror(src));
	}
	while (!p->done && rc == 0)
		if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT)
			rc = -1;
	memset(p, 0, sizeof(*p));
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return rc;
}
