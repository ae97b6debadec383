/* Transport for ipc messages over a SOCK_SEQPACKET socket: one message per
 * datagram, optionally with exactly one file descriptor (SCM_RIGHTS). */
#ifndef LCW_IPC_CHAN_H
#define LCW_IPC_CHAN_H

#include "ipc_msg.h"

/* Results below zero other than IPC codec errors. */
#define IPC_CHAN_EOF (-100)    /* peer closed the connection */
#define IPC_CHAN_SYS (-101)    /* system error, see errno */
#define IPC_CHAN_TRUNC (-102)  /* datagram or control data truncated */
#define IPC_CHAN_BADFD (-103)  /* fd received where none expected, or missing */

/* Send m; pass_fd >= 0 attaches that descriptor. The encoded bytes are
 * wiped from the stack after sending. Returns 0 or a negative code. */
int ipc_send(int sock, const struct ipc_msg *m, int pass_fd);

/* Receive one message sent by a peer in role(s) `allowed`. If fd_out is NULL
 * a datagram carrying descriptors is rejected (and they are closed); else
 * *fd_out is set to the received descriptor or -1. Retries on EINTR.
 * Returns 0 or a negative code; any negative code means: drop this peer. */
int ipc_recv(int sock, uint32_t allowed, struct ipc_msg *m, int *fd_out);

const char *ipc_chan_strerror(int rc);

#endif
