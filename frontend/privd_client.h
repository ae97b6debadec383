/* The frontend's side of the privd channel, in the style of OpenSSH's
 * monitor_wrap.c: each call sends one typed request and waits for its
 * paired answer (or IPC_ANS_ERROR). Calls from many gRPC worker threads
 * share the one socket; answers are matched to callers by request id. If
 * privd goes away or speaks out of protocol, the frontend exits non-zero:
 * it has no purpose without privd, and the supervisor restarts it. */
#ifndef LCW_PRIVD_CLIENT_H
#define LCW_PRIVD_CLIENT_H

#include "ipc_msg.h"

/* Start the receiver thread on sock. on_lost runs (once) before exit. */
void privd_client_start(int sock, void (*on_lost)(void));

/* Send *req (its id is assigned here) and wait up to timeout_ms for the
 * answer. Returns 0 with *ans filled (type = paired answer or
 * IPC_ANS_ERROR), -1 on timeout (or without a channel: controller mode), or
 * PRIVD_REFUSED when the codec will not encode req (a string with a control
 * byte, a value out of range): that is the request's fault, not the
 * channel's, so the caller answers INVALID_ARGUMENT and the process lives. */
#define PRIVD_REFUSED 1
int privd_call(struct ipc_msg *req, struct ipc_msg *ans, int timeout_ms);

#endif
