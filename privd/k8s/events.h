/* privd's events on a volume's PersistentVolumeClaim, and the
 * force-unstage annotation, both through the Kubernetes API (events.c).
 * Without an API (ctx->k8s NULL) there are no events and no forcing. */
#ifndef LCW_PRIVD_EVENTS_H
#define LCW_PRIVD_EVENTS_H

#include "privd_ctx.h"

#define EV_NORMAL "Normal"
#define EV_WARNING "Warning"

/* Does an operator force the unstage of volume_id? Reads the annotation
 * on the volume's PV (found by its handle) and on the PVC its claimRef
 * names. 1 forced (*by names the object that said so), 0 not forced or
 * no API, or the API could not tell (logged: never a reason to force). */
int privd_force_unstage(const struct privd_ctx *ctx, const char *volume_id, const char **by);

/* Record an event of type (EV_*) and reason on the PVC of volume_id, at
 * most once per EVENT_MIN_INTERVAL_S per (volume, reason). Best effort:
 * a failure is logged and changes nothing else. The message must name no
 * file and hold no secret. */
void privd_event(const struct privd_ctx *ctx, const char *volume_id, const char *type,
		 const char *reason, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
