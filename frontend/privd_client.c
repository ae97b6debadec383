#define _GNU_SOURCE
#include "privd_client.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ipc_chan.h"
#include "ipc_rpc.h"
#include "log.h"

static struct rpc_chan chan;
static int started; /* controller mode never starts the client */
static void (*lost_cb)(void);

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
		int rc = ipc_recv(chan.fd, IPC_FROM_PRIVD, &m, NULL);
		if (rc)
			lost(ipc_chan_strerror(rc));
		if (ipc_is_request(m.type))
			lost("privd sent a request"); /* privd never asks us anything */
		rc = rpc_deliver(&chan, &m);
		if (rc < 0)
			lost("answer type does not match the request");
		if (rc > 0)
			log_warn("dropping late answer %s id %u", ipc_type_name(m.type), m.id);
		explicit_bzero(&m, sizeof(m));
	}
	return NULL;
}

void
privd_client_start(int sock, void (*on_lost)(void))
{
	pthread_t t;

	rpc_init(&chan, sock);
	lost_cb = on_lost;
	started = 1;
	if (pthread_create(&t, NULL, receiver, NULL))
		fatal(70, "cannot start privd receiver thread");
	pthread_detach(t);
}

int
privd_call(struct ipc_msg *req, struct ipc_msg *ans, int timeout_ms)
{
	int rc;

	/* No privd (controller mode): a call that gets here anyway fails like
	 * a timeout; it must not count as a lost channel and end the process. */
	if (!started) {
		explicit_bzero(req, sizeof(*req));
		return -1;
	}
	/* The codec refuses what privd would refuse (control bytes, lengths,
	 * ranges); ipc_send reports that like a broken channel, so check here
	 * first and let only real channel failures end the process. */
	uint8_t tmp[IPC_MAX_DATAGRAM];
	size_t len = 0;
	req->id = 1; /* rpc_call assigns the real one; 0 is out of range */
	rc = ipc_encode(req, tmp, sizeof(tmp), &len);
	explicit_bzero(tmp, len);
	if (rc) {
		log_info("not sending %s to privd: %s", ipc_type_name(req->type),
			 ipc_codec_strerror(rc));
		explicit_bzero(req, sizeof(*req));
		return PRIVD_REFUSED;
	}
	rc = rpc_call(&chan, req, -1, ans, timeout_ms);
	if (rc < -1)
		lost("cannot send to privd");
	return rc;
}
