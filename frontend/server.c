/* The gRPC server: gRPC C core, one completion-queue thread and a pool of
 * worker threads.
 *
 * The queue thread only accepts calls and recycles their state; handlers,
 * which may wait on privd for seconds, run on workers, so calls are served
 * concurrently. Every method of the CSI services we serve is registered, so
 * unimplemented ones are answered UNIMPLEMENTED at once; a generic request
 * catches every other method name (without it gRPC would let such calls
 * hang until the client's deadline). */
#define _GNU_SOURCE
#include "server.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "csi.pb-c.h"
#include "csi_handlers.h"
#include "csiaddons.h"
#include "log.h"
#include "pb_strings.h"
#include "sandbox.h"
#include "wipe_alloc.h"

#define NUM_WORKERS 8
#define MAX_METHODS 64
#define SHUTDOWN_GRACE_S 10

enum tag_kind { TAG_REGISTERED, TAG_GENERIC, TAG_REPLY, TAG_SHUTDOWN };

struct method_slot {
	char path[128];
	const ProtobufCMessageDescriptor *input;
	csi_handler_fn fn;
	const char *unimplemented; /* status message when fn is NULL */
	void *handle;
};

struct call_ctx {
	enum tag_kind kind;
	struct method_slot *m; /* NULL for generic calls */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details;
	grpc_byte_buffer *payload;
	grpc_byte_buffer *resp_bb;
	grpc_slice status_msg;
	int cancelled;
	struct call_ctx *next; /* work queue link */
};

static grpc_server *srv;
static grpc_completion_queue *cq;
static struct method_slot methods[MAX_METHODS];
static size_t nmethods;
static int shutting_down;
static enum tag_kind shutdown_tag = TAG_SHUTDOWN;

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static struct call_ctx *q_head, *q_tail;
static int q_quit;
static pthread_t workers[NUM_WORKERS];

/* ---- arming ------------------------------------------------------------ */

static void
arm_registered(struct method_slot *m)
{
	struct call_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL)
		fatal(70, "out of memory");
	c->kind = TAG_REGISTERED;
	c->m = m;
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_registered_call(srv, m->handle, &c->call, &c->deadline,
						&c->md, &c->payload, cq, cq, c) != GRPC_CALL_OK)
		fatal(70, "cannot request calls for %s", m->path);
}

static void
arm_generic(void)
{
	struct call_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL)
		fatal(70, "out of memory");
	c->kind = TAG_GENERIC;
	grpc_metadata_array_init(&c->md);
	grpc_call_details_init(&c->details);
	if (grpc_server_request_call(srv, &c->call, &c->details, &c->md, cq, cq, c) !=
	    GRPC_CALL_OK)
		fatal(70, "cannot request generic calls");
}

static void
ctx_free(struct call_ctx *c)
{
	if (c->call)
		grpc_call_unref(c->call);
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	if (c->resp_bb)
		grpc_byte_buffer_destroy(c->resp_bb);
	grpc_slice_unref(c->status_msg);
	grpc_metadata_array_destroy(&c->md);
	if (c->kind == TAG_GENERIC || c->m == NULL)
		grpc_call_details_destroy(&c->details);
	free(c);
}

/* ---- replying ---------------------------------------------------------- */

static void
reply(struct call_ctx *c, grpc_status_code code, const char *msg, grpc_byte_buffer *resp)
{
	grpc_op ops[4];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	c->resp_bb = resp;
	c->status_msg = grpc_slice_from_copied_string(msg ? msg : "");
	ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
	n++;
	if (resp) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n].data.send_message.send_message = resp;
		n++;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n].data.send_status_from_server.status_details = &c->status_msg;
	n++;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
	n++;
	c->kind = TAG_REPLY;
	if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK)
		fatal(70, "grpc_call_start_batch failed");
}

static const char *
status_name(grpc_status_code s)
{
	static const char *const n[] = { "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
		"RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
		"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED" };
	return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

/* Runs on a worker: decode, handle, encode, reply. The request may carry
 * secrets: it is unpacked with the wiping allocator and its raw bytes are
 * wiped before release. Nothing here logs request contents. */
static void
handle(struct call_ctx *c)
{
	struct csi_call cc;
	grpc_byte_buffer_reader rd;
	grpc_slice raw;
	grpc_status_code st;
	grpc_byte_buffer *bb = NULL;

	memset(&cc, 0, sizeof(cc));
	if (c->payload == NULL) {
		reply(c, GRPC_STATUS_INVALID_ARGUMENT, "request message missing", NULL);
		return;
	}
	if (!grpc_byte_buffer_reader_init(&rd, c->payload)) {
		reply(c, GRPC_STATUS_INTERNAL, "cannot read request", NULL);
		return;
	}
	raw = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	cc.req = protobuf_c_message_unpack(c->m->input, &wipe_allocator,
					   GRPC_SLICE_LENGTH(raw), GRPC_SLICE_START_PTR(raw));
	/* protobuf-c cuts strings at a NUL: look for one in the bytes received
	 * before they are gone, so no handler acts on a shortened value. */
	char field[128] = "";
	int nul = cc.req ? pb_find_nul_string(c->m->input, GRPC_SLICE_START_PTR(raw),
					      GRPC_SLICE_LENGTH(raw), field, sizeof(field))
			 : 0;
	explicit_bzero(GRPC_SLICE_START_PTR(raw), GRPC_SLICE_LENGTH(raw));
	grpc_slice_unref(raw);
	if (cc.req == NULL || nul < 0) {
		if (cc.req)
			protobuf_c_message_free_unpacked((ProtobufCMessage *)cc.req, &wipe_allocator);
		log_info("%s: INVALID_ARGUMENT malformed request", c->m->path);
		reply(c, GRPC_STATUS_INVALID_ARGUMENT,
		      "malformed request: not a valid protobuf message of this method", NULL);
		return;
	}
	if (nul) {
		protobuf_c_message_free_unpacked((ProtobufCMessage *)cc.req, &wipe_allocator);
		snprintf(cc.msg, sizeof(cc.msg), "field %s holds a NUL byte", field);
		log_info("%s: INVALID_ARGUMENT %s", c->m->path, cc.msg);
		reply(c, GRPC_STATUS_INVALID_ARGUMENT, cc.msg, NULL);
		return;
	}
	st = c->m->fn(&cc);
	if (st == GRPC_STATUS_OK) {
		if (cc.resp == NULL) {
			st = GRPC_STATUS_INTERNAL;
			snprintf(cc.msg, sizeof(cc.msg), "handler produced no response");
		} else {
			size_t len = protobuf_c_message_get_packed_size(cc.resp);
			grpc_slice s = grpc_slice_malloc(len);
			protobuf_c_message_pack(cc.resp, GRPC_SLICE_START_PTR(s));
			bb = grpc_raw_byte_buffer_create(&s, 1);
			grpc_slice_unref(s);
		}
	}
	/* Responses may borrow from the request: free it only after packing. */
	protobuf_c_message_free_unpacked((ProtobufCMessage *)cc.req, &wipe_allocator);
	arena_release(&cc.arena);
	if (st == GRPC_STATUS_OK)
		log_debug("%s: OK", c->m->path);
	else
		log_info("%s: %s %s", c->m->path, status_name(st), cc.msg);
	reply(c, st, st == GRPC_STATUS_OK ? "" : cc.msg, bb);
}

static void *
worker_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "csi-worker");
	for (;;) {
		pthread_mutex_lock(&q_mu);
		while (q_head == NULL && !q_quit)
			pthread_cond_wait(&q_cv, &q_mu);
		if (q_head == NULL) {
			pthread_mutex_unlock(&q_mu);
			return NULL;
		}
		struct call_ctx *c = q_head;
		q_head = c->next;
		if (q_head == NULL)
			q_tail = NULL;
		pthread_mutex_unlock(&q_mu);
		handle(c);
	}
}

static void
enqueue(struct call_ctx *c)
{
	pthread_mutex_lock(&q_mu);
	c->next = NULL;
	if (q_tail)
		q_tail->next = c;
	else
		q_head = c;
	q_tail = c;
	pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
}

/* ---- set-up ------------------------------------------------------------ */

static csi_handler_fn
find_handler(const char *path)
{
	static const struct csi_method *const tables[] = {
		csi_identity_methods, csi_controller_methods, csi_node_methods,
		csiaddons_methods,
	};
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct csi_method *m = tables[t]; m->path; m++)
			if (strcmp(m->path, path) == 0)
				return m->fn;
	return NULL;
}

static void
register_service(const ProtobufCServiceDescriptor *svc)
{
	for (unsigned i = 0; i < svc->n_methods; i++) {
		struct method_slot *m;
		if (nmethods == MAX_METHODS)
			fatal(70, "too many methods");
		m = &methods[nmethods++];
		snprintf(m->path, sizeof(m->path), "/%s/%s", svc->name, svc->methods[i].name);
		m->input = svc->methods[i].input;
		m->fn = find_handler(m->path);
		m->unimplemented = "method not implemented by this driver";
		if (fe_config.controller_mode && svc == &csi__v1__node__descriptor) {
			/* The controller has no privd: a Node call must get an
			 * answer here, not reach the privd client. */
			m->fn = NULL;
			m->unimplemented = "this is the controller plugin: Node service calls go to "
					   "the node plugin on the volume's node";
		}
		m->handle = grpc_server_register_method(srv, m->path, NULL,
							GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
		if (m->handle == NULL)
			fatal(70, "cannot register %s", m->path);
	}
}

static void
on_event(grpc_event ev)
{
	if (ev.tag == &shutdown_tag)
		return;
	struct call_ctx *c = ev.tag;

	switch (c->kind) {
	case TAG_REGISTERED:
		if (!ev.success) { /* server shutting down */
			ctx_free(c);
			return;
		}
		if (!shutting_down)
			arm_registered(c->m);
		if (c->m->fn == NULL) {
			reply(c, GRPC_STATUS_UNIMPLEMENTED, c->m->unimplemented, NULL);
			return;
		}
		enqueue(c);
		return;
	case TAG_GENERIC:
		if (!ev.success) {
			ctx_free(c);
			return;
		}
		if (!shutting_down)
			arm_generic();
		reply(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method", NULL);
		return;
	case TAG_REPLY:
		ctx_free(c);
		return;
	case TAG_SHUTDOWN:
		return;
	}
}

int
server_run(const char *socket_path, int sigfd)
{
	grpc_arg args[2];
	grpc_channel_args cargs = { 2, args };
	char addr[256];
	gpr_timespec grace_end = gpr_inf_future(GPR_CLOCK_MONOTONIC);
	int shutdown_done = 0, cancelled_all = 0;

	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = LCW_MAX_REQUEST_BYTES;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MAX_CONCURRENT_STREAMS;
	args[1].value.integer = 64;

	grpc_init();
	cq = grpc_completion_queue_create_for_next(NULL);
	srv = grpc_server_create(&cargs, NULL);
	register_service(&csi__v1__identity__descriptor);
	register_service(&csi__v1__controller__descriptor);
	register_service(&csi__v1__node__descriptor);
	/* csi-addons (rotation, space reclaim) act on staged volumes: the
	 * node plugin's socket only. */
	for (size_t i = 0; !fe_config.controller_mode && csiaddons_services[i]; i++)
		register_service(csiaddons_services[i]);
	grpc_server_register_completion_queue(srv, cq, NULL);

	snprintf(addr, sizeof(addr), "unix://%s", socket_path);
	grpc_server_credentials *cr = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(srv, addr, cr);
	grpc_server_credentials_release(cr);
	if (port == 0) {
		log_error("cannot listen on %s", addr);
		return 2;
	}
	grpc_server_start(srv);
	frontend_sandbox_serving(); /* bound and listening: no more names */
	for (size_t i = 0; i < nmethods; i++)
		arm_registered(&methods[i]);
	arm_generic();
	for (int i = 0; i < NUM_WORKERS; i++)
		if (pthread_create(&workers[i], NULL, worker_main, NULL))
			fatal(70, "cannot start worker threads");
	log_info("serving CSI on %s", addr);

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					 gpr_time_from_millis(200, GPR_TIMESPAN)),
			NULL);
		if (ev.type == GRPC_OP_COMPLETE) {
			if (ev.tag == &shutdown_tag)
				shutdown_done = 1;
			else
				on_event(ev);
		} else if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (!shutting_down) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				log_info("signal %u: shutting down", si.ssi_signo);
				shutting_down = 1;
				grpc_server_shutdown_and_notify(srv, cq, &shutdown_tag);
				grace_end = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
							 gpr_time_from_seconds(SHUTDOWN_GRACE_S, GPR_TIMESPAN));
			}
		} else if (!cancelled_all &&
			   gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), grace_end) > 0) {
			log_warn("calls still running after %d s: cancelling them", SHUTDOWN_GRACE_S);
			grpc_server_cancel_all_calls(srv);
			cancelled_all = 1;
		}
		if (shutdown_done) {
			/* All calls are finished, so no worker holds a call. */
			pthread_mutex_lock(&q_mu);
			q_quit = 1;
			pthread_cond_broadcast(&q_cv);
			pthread_mutex_unlock(&q_mu);
			for (int i = 0; i < NUM_WORKERS; i++)
				pthread_join(workers[i], NULL);
			grpc_server_destroy(srv);
			grpc_completion_queue_shutdown(cq);
			shutdown_done = 0;
		}
	}
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	unlink(socket_path);
	log_info("shut down cleanly");
	return 0;
}
