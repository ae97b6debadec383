/* What privd reads about a volume's claim, and when it may tell the
 * cluster about it. Pure (pv_claim.c): JSON text in, facts out; the rate
 * limiter takes the time as an argument. The I/O is in events.c.
 *
 * Force-unstage (README "The S3 backend"): an operator who accepts that
 * writes not yet uploaded stay behind in this node's encrypted cache sets
 * the annotation FORCE_UNSTAGE_ANNOTATION: "true" on the PV or on the PVC
 * its claimRef names. privd reads both through the API itself; the
 * frontend has no say. */
#ifndef LCW_PV_CLAIM_H
#define LCW_PV_CLAIM_H

#include <stddef.h>
#include <stdint.h>

#include "ipc_msg.h"

#define FORCE_UNSTAGE_ANNOTATION "lukscryptwalker.io/force-unstage"

struct pv_claim {
	int has_claim; /* spec.claimRef with a valid namespace and name */
	char ns[IPC_K8S_NS_MAX + 1];
	char name[IPC_K8S_NAME_MAX + 1];
	char uid[64]; /* claimRef.uid, "" when absent or malformed */
	int force;    /* the object's own annotation is exactly "true" */
};

/* A PersistentVolume: its claimRef and its force annotation. 0, or -1
 * when the text is not a PV object. */
int pv_claim_parse(const char *json, size_t len, struct pv_claim *out);
/* A PersistentVolumeClaim: its uid (into out->uid when it is there) and
 * its force annotation (out->force). 0, or -1 when not a PVC object. */
int pvc_claim_parse(const char *json, size_t len, struct pv_claim *out);

/* ---- the rate limit of events -------------------------------------------- */

#define EVENT_LIMIT_SLOTS 128	   /* fixed: no peer can make it grow */
#define EVENT_MIN_INTERVAL_S 300u /* one event per (volume, reason) per 5 min */

struct event_slot {
	char volume_id[IPC_VOLID_MAX + 1];
	char reason[48];
	uint64_t last_s; /* 0: free */
};

struct event_limit {
	struct event_slot slot[EVENT_LIMIT_SLOTS];
	unsigned long dropped; /* refused because every slot was recent */
};

/* May an event (volume_id, reason) go out at now_s (seconds, > 0)? 1 and
 * the slot is taken/stamped; 0 when one went out less than
 * EVENT_MIN_INTERVAL_S ago, or when every slot is recent (counted in
 * dropped). Not locked: the caller serialises. */
int event_limit_admit(struct event_limit *l, const char *volume_id, const char *reason,
		      uint64_t now_s);

#endif
