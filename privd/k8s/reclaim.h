/* Reclaiming the backing files of deleted LUKS-local volumes.
 *
 * The original driver deleted <root>/<id> as soon as a GET of a PV *named*
 * <id> returned NotFound (reference §4.4, §8.2 R3): static PVs (name !=
 * handle), PVs briefly absent during backup/restore, and a node pointed at
 * another cluster all lost their data. Here a volume is erased only when
 *   - it is not staged on this node, and
 *   - a complete PV listing found no PV of our driver with its handle, and
 *   - it was already missing at least the grace period earlier, i.e. a
 *     second "not found" listing, started after the grace period, confirms.
 * An API error decides nothing and changes no timer. A volume whose PV
 * reappears, or that is staged, loses its timer and starts over.
 *
 * The decision is the pure reclaim_decide(); reclaim_scan() walks the local
 * root and keeps the timers in memory (a privd restart restarts every grace
 * period, which errs on the side of keeping data). */
#ifndef LCW_RECLAIM_H
#define LCW_RECLAIM_H

#include <stddef.h>
#include <stdint.h>

#include "volparams.h"

#define RECLAIM_DEFAULT_GRACE_MS (10LL * 60 * 1000)
#define RECLAIM_MIN_GRACE_MS (5LL * 1000) /* tests use short grace periods; production default is 10 min */
#define RECLAIM_MAX_VOLUMES 65536
#define RECLAIM_NO_TIMER (-1LL)

enum reclaim_api {
	RECLAIM_API_EXISTS,    /* a PV of our driver carries the handle */
	RECLAIM_API_NOT_FOUND, /* complete listing, no such handle */
	RECLAIM_API_ERROR,     /* anything else: we do not know */
};

enum reclaim_action {
	RECLAIM_KEEP,	     /* timer cleared or, after an API error, untouched */
	RECLAIM_GRACE_START, /* first time missing: timer armed */
	RECLAIM_GRACE_WAIT,  /* missing, grace period still running */
	RECLAIM_ERASE,	     /* missing since >= grace, confirmed by this listing */
};

/* What one scan learned about one volume. Times are milliseconds on a
 * monotonic clock, >= 0; the listing's start and end bracket the API call. */
struct reclaim_obs {
	int staged; /* non-zero: staged here (or unknown, which counts as staged) */
	enum reclaim_api api;
	int64_t list_started_ms;
	int64_t list_finished_ms;
};

struct reclaim_verdict {
	enum reclaim_action action;
	int64_t missing_since_ms; /* the timer to keep; RECLAIM_NO_TIMER for none */
	const char *why;	  /* static text for the log */
};

/* Pure. missing_since_ms is the volume's timer (RECLAIM_NO_TIMER if none). */
struct reclaim_verdict reclaim_decide(int64_t missing_since_ms, const struct reclaim_obs *obs,
				      int64_t grace_ms);

const char *reclaim_action_name(enum reclaim_action a);

/* ---- driver --------------------------------------------------------------- */

struct reclaim_timer {
	char id[VOLID_MAX + 1];
	int64_t missing_since_ms;
};

struct reclaim_state {
	int64_t grace_ms;
	struct reclaim_timer *timers; /* only volumes with a running timer */
	size_t ntimers;
};

/* Side effects, wired by privd to its own operations. */
struct reclaim_ops {
	void *ctx;
	/* 1 staged, 0 not staged, -1 unknown (treated as staged). */
	int (*is_staged)(void *ctx, const char *id);
	/* One complete listing for all n ids: return 0 and exists[i] = 0/1, or
	 * -1 on any error (then every id counts as RECLAIM_API_ERROR). privd
	 * maps this to k8s_pv_handles_exist(). */
	int (*pv_exists)(void *ctx, const char *const *ids, size_t n, int *exists);
	/* Crypto-erase and remove the volume. Must itself take the volume's
	 * lock and refuse if the volume got staged meanwhile. 0 on success. */
	int (*erase)(void *ctx, const char *id);
	/* Monotonic milliseconds; NULL: CLOCK_BOOTTIME. */
	int64_t (*now_ms)(void *ctx);
};

struct reclaim_report {
	size_t candidates, staged, kept, grace_started, in_grace, erased, erase_failed, api_errors;
};

/* grace_ms 0 means the default; shorter than RECLAIM_MIN_GRACE_MS is raised
 * to it. */
void reclaim_state_init(struct reclaim_state *st, int64_t grace_ms);
void reclaim_state_free(struct reclaim_state *st);
/* RECLAIM_NO_TIMER if the id has no running timer. */
int64_t reclaim_timer_get(const struct reclaim_state *st, const char *id);

/* Candidate volume ids under root: directories (not symlinks) with a valid
 * volume-id name that hold a regular file luks-<id>.img (not a symlink).
 * Sorted. Returns the count (>= 0) with *ids malloc'd, or -1 (errno). */
int reclaim_list_candidates(const char *root, char (**ids)[VOLID_MAX + 1]);

/* One pass: list candidates, ask is_staged, one pv_exists listing for the
 * rest, decide, erase. Returns 0, or -1 if root could not be listed (no
 * timer changes then). */
int reclaim_scan(struct reclaim_state *st, const char *root, const struct reclaim_ops *ops,
		 struct reclaim_report *rep);

/* A ready pv_exists callback over k8s_pv_handles_exist(): ctx is a struct
 * reclaim_k8s_ctx. Any result but K8S_OK is -1 (a 404 of the list endpoint
 * included: it means a wrong API base, not an absent PV). Volume ids are the
 * PVs' volume handles. */
struct k8s_client;
struct reclaim_k8s_ctx {
	struct k8s_client *client;
	const char *driver; /* "lukscryptwalker.csi.k8s.io" */
};
int reclaim_k8s_pv_exists(void *ctx, const char *const *ids, size_t n, int *exists);

#endif
