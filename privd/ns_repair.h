/* The mount-namespace repair helper: a process the spawner forks (no exec)
 * for one IPC_REQ_REPAIR_MOUNT. See ns_repair.c and SECURITY.md. */
#ifndef LCW_NS_REPAIR_H
#define LCW_NS_REPAIR_H

#include "ipc_msg.h"

/* Exit codes of the helper (its answer's wait status). */
enum {
	NSR_REPAIRED = 0, /* the dead mount detached, the live clone in its place */
	NSR_FAILED = 1,   /* nothing changed, or as far as the message says */
	NSR_STACKED = 2,  /* the dead mount could not be detached (locked): the
			     clone covers it */
	NSR_GONE = 3,     /* the dead mount is not (any more) at that path there */
};

/* In the forked child: confine, enter the namespace of r->pid and put
 * clone_fd (a detached mount) in place of mount r->mnt_id at r->path.
 * Messages go to errw. Never returns. */
void ns_repair_child(const struct ipc_repair_mount_req *r, int clone_fd, int errw)
	__attribute__((noreturn));

#endif
