/* The mount-namespace repair helper: a process the spawner forks (no exec)
 * for one IPC_REQ_REPAIR_MOUNT. See ns_repair.c and SECURITY.md. */
#ifndef LCW_NS_REPAIR_H
#define LCW_NS_REPAIR_H

#include "ipc_msg.h"

/* In the forked child: confine, enter the namespace of r->pid and put
 * clone_fd (a detached mount) in place of mount r->mnt_id at r->path.
 * Messages go to errw. Never returns. */
void ns_repair_child(const struct ipc_repair_mount_req *r, int clone_fd, int errw)
	__attribute__((noreturn));

#endif
