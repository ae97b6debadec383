/* privd's request dispatch: one table that names, for each request the
 * frontend may send, its handler and why it is safe to perform for an
 * unprivileged, possibly compromised caller. */
#ifndef LCW_DISPATCH_H
#define LCW_DISPATCH_H

#include <stdint.h>

#include "ipc_msg.h"
#include "privd_ctx.h"

struct privd_op {
	uint32_t type;
	privd_handler_fn fn;
	int slow;             /* runs on a worker thread (may take seconds) */
	const char *why_safe; /* also listed in SECURITY.md */
};

/* Find the handler for a request type, or NULL (fatal to the channel). */
const struct privd_op *privd_op_find(uint32_t type);

#endif
