/* privd's bounded queue of slow frontend requests.
 *
 * A compromised frontend can send requests as fast as the socket carries
 * them; each one privd accepts is work and memory. So the queue is a fixed
 * pool of slots allocated once, before the seccomp filter, in locked,
 * non-dumpable memory (a queued STAGE request carries a passphrase): no
 * allocation per message, at most JOBQ_MAX requests queued or running in
 * total and JOBQ_PER_VOLUME per volume id. A request beyond a bound is
 * answered at once with a retryable error instead of being queued (see
 * jobq_push), and queued work of a frontend that is gone is dropped and
 * wiped (jobq_drop_stale).
 *
 * Not thread-safe: privd's main thread and workers call it under their
 * queue mutex. No I/O besides the one allocation in jobq_init. */
#ifndef LCW_JOBQ_H
#define LCW_JOBQ_H

#include <stddef.h>
#include <stdint.h>

#include "ipc_msg.h"

/* The frontend holds one in-flight slot per volume, so a well-behaved one
 * has at most one request per volume in privd; the second slot lets it
 * retry after its own timeout while privd still finishes the first. */
#define JOBQ_MAX 64
#define JOBQ_PER_VOLUME 2

enum jobq_state { JOBQ_FREE = 0, JOBQ_QUEUED = 1, JOBQ_RUNNING = 2 };

struct jobq_job {
	int state;        /* enum jobq_state */
	unsigned gen;     /* frontend generation that sent it */
	uint64_t seq;     /* arrival order */
	const void *op;   /* the dispatch entry (opaque here) */
	char vol[IPC_VOLID_MAX + 1]; /* "" for requests about no volume */
	struct ipc_msg req;
};

struct jobq {
	struct jobq_job *slots;
	size_t cap, per_vol;
	uint64_t next_seq;
	int locked; /* slots came from jobq_init (munmap on jobq_free) */
};

enum jobq_rc {
	JOBQ_OK = 0,
	JOBQ_E_FULL = -1,     /* JOBQ_MAX requests queued or running */
	JOBQ_E_VOLUME = -2,   /* JOBQ_PER_VOLUME for this volume */
};

/* Allocate cap slots in one locked, MADV_DONTDUMP mapping. 0 or -1. */
int jobq_init(struct jobq *q, size_t cap, size_t per_vol);
/* Use caller memory (tests): mem holds cap zeroed slots. */
void jobq_init_mem(struct jobq *q, struct jobq_job *mem, size_t cap, size_t per_vol);
void jobq_free(struct jobq *q);

/* The volume a frontend request is about ("" if none, e.g. PING). */
const char *jobq_req_volume(const struct ipc_msg *m);

/* Queue a copy of req. Returns JOBQ_OK, or a JOBQ_E_* bound, in which case
 * nothing is kept. */
int jobq_push(struct jobq *q, const void *op, unsigned gen, const struct ipc_msg *req);

/* The oldest queued job whose volume has no running job, now RUNNING;
 * NULL if none may start. */
struct jobq_job *jobq_take(struct jobq *q);

/* A taken job finished: wipe its slot and free it. */
void jobq_done(struct jobq *q, struct jobq_job *j);

/* Drop (wipe, free) every queued job not sent by frontend generation gen;
 * with gen_all set, every queued job. Running jobs are left to finish.
 * Returns how many were dropped. */
size_t jobq_drop_stale(struct jobq *q, unsigned gen, int gen_all);

/* Jobs in a state (JOBQ_QUEUED, JOBQ_RUNNING), or queued+running of one
 * volume with vol != NULL and state 0. */
size_t jobq_count(const struct jobq *q, int state, const char *vol);

#endif
