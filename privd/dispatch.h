/* privd's request dispatch: one table that names, for each request the
 * frontend may send, its handler and why it is safe to perform for an
 * unprivileged, possibly compromised caller. */
#ifndef LCW_DISPATCH_H
#define LCW_DISPATCH_H

#include <stdint.h>

#include "ipc_msg.h"

struct privd_state {
	uint64_t started_ns;
};

typedef void (*privd_handler_fn)(struct privd_state *st, const struct ipc_msg *req,
				 struct ipc_msg *ans);

struct privd_op {
	uint32_t type;
	privd_handler_fn fn;
	int slow;             /* runs on a worker thread (may take seconds) */
	const char *why_safe; /* also listed in SECURITY.md */
};

/* Find the handler for a request type, or NULL (fatal to the channel). */
const struct privd_op *privd_op_find(uint32_t type);

/* Fill *ans as an error answer. */
void privd_answer_error(struct ipc_msg *ans, uint32_t err_class, int sys_errno,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
