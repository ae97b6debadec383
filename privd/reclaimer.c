/* The reclaimer thread: crypto-erases local volumes whose PersistentVolume
 * is gone (after a grace period), never while one is staged and never racing
 * a volume operation. The decision is privd/k8s/reclaim.c's; the erase is
 * the LUKS backend's (erase_volume), reachable from no peer. */
#define _GNU_SOURCE
#include "reclaimer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "keyed_lock.h"
#include "log.h"
#include "luks_config.h"
#include "reclaim.h"
#include "version.h"
#include "volume_ops.h"

/* reclaim_scan hands every callback the one ops.ctx: this struct, which
 * carries the API context for the pv_exists callback. */
struct reclaimer {
	const struct privd_ctx *ctx;
	unsigned interval_s, grace_s;
	struct reclaim_k8s_ctx kctx;
};

static int
reclaim_is_staged(void *arg, const char *id)
{
	const struct reclaimer *r = arg;
	return volume_is_staged(r->ctx, id); /* -1, unknown, counts as staged */
}

static int
reclaim_erase(void *arg, const char *id)
{
	const struct reclaimer *r = arg;
	char err[256];
	int rc;
	/* Never wait for, and never race, a volume operation. */
	if (keyed_trylock(id))
		return -1;
	rc = erase_volume(r->ctx, id, err, sizeof(err));
	keyed_unlock(id);
	if (rc)
		log_warn("reclaim: volume %s not erased: %s", id, err);
	else
		log_info("reclaim: volume %s erased (its PersistentVolume is gone)", id);
	return rc;
}

static int
reclaim_pv_exists(void *arg, const char *const *ids, size_t n, int *exists)
{
	struct reclaimer *r = arg;
	return reclaim_k8s_pv_exists(&r->kctx, ids, n, exists);
}

static void *
reclaim_main(void *arg)
{
	struct reclaimer *r = arg;
	struct reclaim_ops ops = { .ctx = r, .is_staged = reclaim_is_staged,
				   .pv_exists = reclaim_pv_exists, .erase = reclaim_erase };
	struct reclaim_state st;

	prctl(PR_SET_NAME, "privd-reclaim");
	reclaim_state_init(&st, (int64_t)r->grace_s * 1000);
	for (;;) {
		struct reclaim_report rep;
		memset(&rep, 0, sizeof(rep));
		reclaim_scan(&st, r->ctx->luks->local_root, &ops, &rep);
		if (rep.candidates)
			log_info("reclaim: %zu volumes, %zu staged, %zu kept, %zu in grace, %zu erased, "
				 "%zu API errors", rep.candidates, rep.staged, rep.kept,
				 rep.grace_started + rep.in_grace, rep.erased, rep.api_errors);
		sleep(r->interval_s);
	}
	return NULL;
}

int
reclaimer_start(const struct privd_ctx *ctx, unsigned interval_s, unsigned grace_s)
{
	static struct reclaimer r; /* one reclaimer, living as long as privd */
	pthread_t t;

	r = (struct reclaimer){ ctx, interval_s, grace_s, { ctx->k8s, LCW_DRIVER_NAME } };
	if (pthread_create(&t, NULL, reclaim_main, &r))
		return -1;
	pthread_detach(t);
	return 0;
}
