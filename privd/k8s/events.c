/* Events on a volume's PVC and the force-unstage annotation (events.h).
 * Safe: reads a PV and a PVC, creates Events; nothing read here reaches a
 * path, a mount or a command, and the only decision taken from it is
 * whether an unstage may leave unuploaded writes in this node's cache. */
#define _GNU_SOURCE
#include "events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s_client.h"
#include "log.h"
#include "pv_claim.h"
#include "version.h"

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static struct event_limit ev_limit; /* fixed size: see pv_claim.h */

/* The PV of volume_id, parsed: 0, or -1 with err. */
static int
claim_of(const struct privd_ctx *ctx, const char *volume_id, struct pv_claim *c, char *err,
	 size_t errlen)
{
	char *json = NULL;
	size_t len = 0;
	int found = 0;
	int rc = k8s_pv_for_handle(ctx->k8s, LCW_DRIVER_NAME, volume_id, &json, &len, &found, err,
				   errlen);

	if (rc != K8S_OK || !found) {
		if (rc == K8S_OK)
			snprintf(err, errlen, "no PersistentVolume has this handle");
		free(json);
		return -1;
	}
	rc = pv_claim_parse(json, len, c);
	free(json);
	if (rc)
		snprintf(err, errlen, "the PersistentVolume is not a PersistentVolume object");
	return rc;
}

int
privd_force_unstage(const struct privd_ctx *ctx, const char *volume_id, const char **by)
{
	struct pv_claim c;
	char err[512] = "";
	char *json = NULL;
	size_t len = 0;

	*by = NULL;
	if (ctx->k8s == NULL)
		return 0; /* no API: nobody can force (SECURITY.md) */
	if (claim_of(ctx, volume_id, &c, err, sizeof(err))) {
		log_warn("S3 volume %s: cannot read its PersistentVolume for %s: %s", volume_id,
			 FORCE_UNSTAGE_ANNOTATION, err);
		return 0;
	}
	if (c.force) {
		*by = "PersistentVolume";
		return 1;
	}
	if (!c.has_claim)
		return 0;
	int rc = k8s_pvc_get(ctx->k8s, c.ns, c.name, &json, &len, err, sizeof(err));
	if (rc != K8S_OK) {
		log_warn("S3 volume %s: cannot read PersistentVolumeClaim %s/%s for %s: %s: %s",
			 volume_id, c.ns, c.name, FORCE_UNSTAGE_ANNOTATION, k8s_result_name(rc), err);
		return 0;
	}
	char uid[sizeof(c.uid)];
	memcpy(uid, c.uid, sizeof(uid));
	rc = pvc_claim_parse(json, len, &c);
	free(json);
	/* the claim must be the one the PV is bound to, not a namesake made
	 * after the bound one was deleted */
	if (rc || (uid[0] && strcmp(uid, c.uid)))
		return 0;
	if (c.force)
		*by = "PersistentVolumeClaim";
	return c.force;
}

void
privd_event(const struct privd_ctx *ctx, const char *volume_id, const char *type,
	    const char *reason, const char *fmt, ...)
{
	struct pv_claim c;
	char msg[512], err[512] = "";
	struct timespec now;
	va_list ap;
	int ok;

	if (ctx->k8s == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	pthread_mutex_lock(&ev_mu);
	ok = event_limit_admit(&ev_limit, volume_id, reason, (uint64_t)now.tv_sec);
	pthread_mutex_unlock(&ev_mu);
	if (!ok)
		return; /* one went out recently (or the table is full of recent ones) */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (claim_of(ctx, volume_id, &c, err, sizeof(err)) || !c.has_claim) {
		log_warn("S3 volume %s: event %s not recorded: %s", volume_id, reason,
			 err[0] ? err : "its PersistentVolume is bound to no claim");
		return;
	}
	struct k8s_event ev = {
		.ns = c.ns, .obj_api_version = "v1", .obj_kind = "PersistentVolumeClaim",
		.obj_name = c.name, .obj_uid = c.uid[0] ? c.uid : NULL, .type = type,
		.reason = reason, .message = msg, .component = LCW_DRIVER_NAME,
		.instance = ctx->nodeid, .host = ctx->nodeid, .time_s = now.tv_sec,
		.name_nonce = (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec,
	};
	int rc = k8s_event_create(ctx->k8s, &ev, err, sizeof(err));
	if (rc != K8S_OK)
		log_warn("S3 volume %s: event %s on PersistentVolumeClaim %s/%s not recorded: %s: %s",
			 volume_id, reason, c.ns, c.name, k8s_result_name(rc), err);
	else
		log_info("S3 volume %s: event %s %s recorded on PersistentVolumeClaim %s/%s",
			 volume_id, type, reason, c.ns, c.name);
}
