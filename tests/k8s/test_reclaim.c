/* Unit tests of privd/k8s/reclaim.c: the pure keep/grace/erase decision, the PV
 * page matcher it relies on (real v1 PersistentVolumeList JSON), and the
 * scan driver on a scratch directory with fake callbacks and a fake clock.
 * The scenarios are the ways the original driver lost data (reference §4.4,
 * §8.2 R3). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8s_client.h"
#include "log.h"
#include "reclaim.h"

#define DRIVER "lukscryptwalker.csi.k8s.io"
#define MIN_MS RECLAIM_MIN_GRACE_MS
#define MINUTE (60LL * 1000)
#define GRACE RECLAIM_DEFAULT_GRACE_MS

/* ---- helpers -------------------------------------------------------------- */

/* One scan's observation: listing from t to t + 2 s. */
static struct reclaim_obs
obs_at(int64_t t, int staged, enum reclaim_api api)
{
	struct reclaim_obs o = { .staged = staged, .api = api, .list_started_ms = t,
				 .list_finished_ms = t + 2000 };
	return o;
}

static struct reclaim_verdict
step(int64_t *timer, int64_t t, int staged, enum reclaim_api api)
{
	struct reclaim_obs o = obs_at(t, staged, api);
	struct reclaim_verdict v = reclaim_decide(*timer, &o, GRACE);

	*timer = v.missing_since_ms;
	assert_non_null(v.why);
	return v;
}

/* A v1 PersistentVolume item as the API server lists it. */
static char *
pv_json(const char *name, const char *driver, const char *handle)
{
	char *s;
	int n = asprintf(&s,
			 "{\"metadata\":{\"name\":\"%s\",\"uid\":\"6c0f1d7e-1111-4222-8333-444455556666\","
			 "\"resourceVersion\":\"4700\",\"annotations\":{\"pv.kubernetes.io/provisioned-by\":"
			 "\"%s\"},\"finalizers\":[\"kubernetes.io/pv-protection\"]},"
			 "\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"csi\":{\"driver\":\"%s\","
			 "\"volumeHandle\":\"%s\",\"fsType\":\"ext4\",\"volumeAttributes\":"
			 "{\"capacity\":\"1073741824\"}},\"accessModes\":[\"ReadWriteOnce\"],"
			 "\"persistentVolumeReclaimPolicy\":\"Retain\",\"storageClassName\":\"luks\","
			 "\"volumeMode\":\"Filesystem\"},\"status\":{\"phase\":\"Bound\"}}",
			 name, driver, driver, handle);
	assert_true(n > 0);
	return s;
}

/* API answer for one handle from a one-page list holding items. */
static enum reclaim_api
api_from_page(const char *items, const char *handle)
{
	char *body, cont[64], err[256];
	unsigned char found = 0;
	int rc;

	assert_true(asprintf(&body,
			     "{\"kind\":\"PersistentVolumeList\",\"apiVersion\":\"v1\","
			     "\"metadata\":{\"resourceVersion\":\"4711\"},\"items\":[%s]}",
			     items) > 0);
	rc = k8s_pvlist_page_match(body, strlen(body), DRIVER, &handle, 1, &found, cont,
				   sizeof(cont), err, sizeof(err));
	free(body);
	if (rc != K8S_OK)
		return RECLAIM_API_ERROR;
	assert_string_equal(cont, "");
	return found ? RECLAIM_API_EXISTS : RECLAIM_API_NOT_FOUND;
}

/* ---- the pure decision ---------------------------------------------------- */

static void
static_pv_name_differs_from_handle_is_kept(void **state)
{
	(void)state;
	char *pv = pv_json("my-static-pv", DRIVER, "vol-static-1");
	int64_t timer = 0; /* even with a timer long expired */

	assert_int_equal(api_from_page(pv, "vol-static-1"), RECLAIM_API_EXISTS);
	struct reclaim_verdict v = step(&timer, 50 * MINUTE, 0, api_from_page(pv, "vol-static-1"));
	assert_int_equal(v.action, RECLAIM_KEEP);
	assert_int_equal(timer, RECLAIM_NO_TIMER);
	/* The original looked up a PV *named* like the directory: the PV's name
	 * matches no handle, and a directory named like some PV is not kept by
	 * that name alone. */
	assert_int_equal(api_from_page(pv, "my-static-pv"), RECLAIM_API_NOT_FOUND);
	free(pv);
}

static void
restored_pv_new_name_same_handle_is_kept(void **state)
{
	(void)state;
	char *restored = pv_json("pvc-7f3a9c00-restored", DRIVER, "pvc-orig");
	int64_t timer = RECLAIM_NO_TIMER;

	/* Backup/restore: the PV is briefly absent ... */
	assert_int_equal(step(&timer, 0, 0, api_from_page("", "pvc-orig")).action,
			 RECLAIM_GRACE_START);
	/* ... and comes back under a new object name with the same handle. */
	assert_int_equal(step(&timer, 5 * MINUTE, 0, api_from_page(restored, "pvc-orig")).action,
			 RECLAIM_KEEP);
	assert_int_equal(timer, RECLAIM_NO_TIMER);
	assert_int_equal(step(&timer, 30 * MINUTE, 0, api_from_page(restored, "pvc-orig")).action,
			 RECLAIM_KEEP);
	free(restored);
}

static void
other_drivers_pv_with_same_handle_does_not_count(void **state)
{
	(void)state;
	char *ebs = pv_json("pvc-orig", "ebs.csi.aws.com", "pvc-orig");
	assert_int_equal(api_from_page(ebs, "pvc-orig"), RECLAIM_API_NOT_FOUND);
	free(ebs);
}

static void
pv_gone_erased_only_after_grace_and_second_not_found(void **state)
{
	(void)state;
	int64_t timer = RECLAIM_NO_TIMER;
	struct reclaim_verdict v;

	v = step(&timer, 1000, 0, RECLAIM_API_NOT_FOUND);
	assert_int_equal(v.action, RECLAIM_GRACE_START);
	assert_int_equal(timer, 1000 + 2000); /* from the end of that listing */
	assert_int_equal(step(&timer, 5 * MINUTE, 0, RECLAIM_API_NOT_FOUND).action,
			 RECLAIM_GRACE_WAIT);
	/* A listing that starts 1 ms before the grace period ends is not enough. */
	assert_int_equal(step(&timer, 3000 + GRACE - 1, 0, RECLAIM_API_NOT_FOUND).action,
			 RECLAIM_GRACE_WAIT);
	assert_int_equal(timer, 3000);
	v = step(&timer, 3000 + GRACE, 0, RECLAIM_API_NOT_FOUND);
	assert_int_equal(v.action, RECLAIM_ERASE);
	assert_int_equal(v.missing_since_ms, 3000);
}

static void
one_not_found_never_erases(void **state)
{
	(void)state;
	int64_t timer = RECLAIM_NO_TIMER;
	/* However late the first "not found" comes, it only starts the timer. */
	assert_int_equal(step(&timer, 1000 * GRACE, 0, RECLAIM_API_NOT_FOUND).action,
			 RECLAIM_GRACE_START);
}

static void
api_errors_erase_nothing_and_reset_nothing(void **state)
{
	(void)state;
	int64_t timer = RECLAIM_NO_TIMER;

	/* An error before anything is known starts no timer. */
	assert_int_equal(step(&timer, 0, 0, RECLAIM_API_ERROR).action, RECLAIM_KEEP);
	assert_int_equal(timer, RECLAIM_NO_TIMER);
	step(&timer, MINUTE, 0, RECLAIM_API_NOT_FOUND);
	int64_t armed = timer;
	/* 500 / 403 / timeout long after the grace period: nothing happens,
	 * and the timer is neither cleared nor restarted. */
	for (int i = 1; i <= 5; i++) {
		struct reclaim_verdict v = step(&timer, MINUTE + i * GRACE, 0, RECLAIM_API_ERROR);
		assert_int_equal(v.action, RECLAIM_KEEP);
		assert_int_equal(timer, armed);
	}
	/* A real "not found" afterwards still confirms. */
	assert_int_equal(step(&timer, 7 * GRACE, 0, RECLAIM_API_NOT_FOUND).action, RECLAIM_ERASE);
}

static void
staged_volume_never_erased(void **state)
{
	(void)state;
	int64_t timer = RECLAIM_NO_TIMER;

	step(&timer, 0, 0, RECLAIM_API_NOT_FOUND);
	for (int i = 1; i <= 4; i++) {
		struct reclaim_verdict v = step(&timer, i * GRACE, 1, RECLAIM_API_NOT_FOUND);
		assert_int_equal(v.action, RECLAIM_KEEP);
		assert_int_equal(timer, RECLAIM_NO_TIMER);
	}
	/* Once unstaged, a full grace period starts over. */
	assert_int_equal(step(&timer, 5 * GRACE, 0, RECLAIM_API_NOT_FOUND).action,
			 RECLAIM_GRACE_START);
}

static void
reappearing_pv_clears_timer(void **state)
{
	(void)state;
	int64_t timer = RECLAIM_NO_TIMER;

	step(&timer, 0, 0, RECLAIM_API_NOT_FOUND);
	assert_int_equal(step(&timer, 8 * MINUTE, 0, RECLAIM_API_EXISTS).action, RECLAIM_KEEP);
	assert_int_equal(timer, RECLAIM_NO_TIMER);
	/* Gone again after the original grace would have expired: starts anew. */
	assert_int_equal(step(&timer, 12 * MINUTE, 0, RECLAIM_API_NOT_FOUND).action,
			 RECLAIM_GRACE_START);
	assert_int_equal(step(&timer, 21 * MINUTE, 0, RECLAIM_API_NOT_FOUND).action,
			 RECLAIM_GRACE_WAIT);
	assert_int_equal(step(&timer, 23 * MINUTE, 0, RECLAIM_API_NOT_FOUND).action, RECLAIM_ERASE);
}

static void
odd_clocks_and_grace(void **state)
{
	(void)state;
	struct reclaim_obs o = obs_at(10 * GRACE, 0, RECLAIM_API_NOT_FOUND);
	struct reclaim_verdict v;

	o.list_finished_ms = o.list_started_ms - 1; /* ends before it starts */
	v = reclaim_decide(0, &o, GRACE);
	assert_int_equal(v.action, RECLAIM_KEEP);
	assert_int_equal(v.missing_since_ms, 0);
	o = obs_at(1000, 0, RECLAIM_API_NOT_FOUND); /* timer "from the future" */
	v = reclaim_decide(5 * GRACE, &o, GRACE);
	assert_int_equal(v.action, RECLAIM_GRACE_START);
	/* A grace below the minimum is raised to it. */
	o = obs_at(MIN_MS - 1, 0, RECLAIM_API_NOT_FOUND);
	assert_int_equal(reclaim_decide(0, &o, 0).action, RECLAIM_GRACE_WAIT);
	o = obs_at(MIN_MS, 0, RECLAIM_API_NOT_FOUND);
	assert_int_equal(reclaim_decide(0, &o, 0).action, RECLAIM_ERASE);
	struct reclaim_state st;
	reclaim_state_init(&st, 0);
	assert_int_equal(st.grace_ms, GRACE);
	reclaim_state_init(&st, 5);
	assert_int_equal(st.grace_ms, MIN_MS);
}

/* ---- the scan driver ------------------------------------------------------ */

struct fake {
	char root[256];
	int64_t now;
	const char *staged[8];	   /* staged ids */
	const char *pvs[8];	   /* handles with a PV */
	int api_fail;		   /* pv_exists returns -1 */
	int erase_fail;		   /* erase returns -1 */
	const char *stage_on_recheck; /* becomes staged after the first ask */
	char erased[8][VOLID_MAX + 1];
	int nerased, nlookups;
	size_t last_query_n;
	struct reclaim_k8s_ctx k8s;
};

static int
in_list(const char *const *l, const char *id)
{
	for (int i = 0; i < 8 && l[i]; i++)
		if (strcmp(l[i], id) == 0)
			return 1;
	return 0;
}

static int
f_staged(void *ctx, const char *id)
{
	struct fake *f = ctx;
	if (f->stage_on_recheck && strcmp(id, f->stage_on_recheck) == 0) {
		f->staged[0] = f->stage_on_recheck; /* next ask: staged */
		f->stage_on_recheck = NULL;
		return 0;
	}
	if (strcmp(id, "vol-unknown") == 0)
		return -1;
	return in_list(f->staged, id);
}

static int
f_pv_exists(void *ctx, const char *const *ids, size_t n, int *exists)
{
	struct fake *f = ctx;
	f->nlookups++;
	f->last_query_n = n;
	if (f->api_fail)
		return -1;
	for (size_t i = 0; i < n; i++)
		exists[i] = in_list(f->pvs, ids[i]);
	return 0;
}

static int
f_erase(void *ctx, const char *id)
{
	struct fake *f = ctx;
	char p[512];
	if (f->erase_fail)
		return -1;
	snprintf(f->erased[f->nerased++], VOLID_MAX + 1, "%s", id);
	snprintf(p, sizeof(p), "%s/%s/luks-%s.img", f->root, id, id);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s", f->root, id);
	rmdir(p);
	return 0;
}

static int64_t
f_now(void *ctx)
{
	struct fake *f = ctx;
	f->now += 1000; /* every clock read advances a second */
	return f->now;
}

static void
mkvol(const char *root, const char *id)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, id);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/%s/luks-%s.img", root, id, id);
	int fd = open(p, O_CREAT | O_WRONLY | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static int
setup_root(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(f->root, sizeof(f->root), "%s/reclaim-test-XXXXXX", tmp);
	assert_non_null(mkdtemp(f->root));
	*state = f;
	return 0;
}

static int
teardown_root(void **state)
{
	struct fake *f = *state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct reclaim_ops
ops_for(struct fake *f)
{
	struct reclaim_ops o = { .ctx = f, .is_staged = f_staged, .pv_exists = f_pv_exists,
				 .erase = f_erase, .now_ms = f_now };
	return o;
}

static void
candidates_only_real_volume_dirs(void **state)
{
	struct fake *f = *state;
	char p[600], (*ids)[VOLID_MAX + 1];
	int n;

	mkvol(f->root, "pvc-b");
	mkvol(f->root, "pvc-a");
	snprintf(p, sizeof(p), "%s/pvc-noimg", f->root); /* no backing file */
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/pvc-link", f->root); /* symlink to a volume dir */
	assert_int_equal(symlink("pvc-a", p), 0);
	snprintf(p, sizeof(p), "%s/pvc-imglink", f->root); /* image is a symlink */
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/pvc-imglink/luks-pvc-imglink.img", f->root);
	assert_int_equal(symlink("../pvc-a/luks-pvc-a.img", p), 0);
	snprintf(p, sizeof(p), "%s/pvc-imgdir", f->root); /* image is a directory */
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/pvc-imgdir/luks-pvc-imgdir.img", f->root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/pvc-wrongname", f->root); /* image of another id */
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/pvc-wrongname/luks-pvc-a.img", f->root);
	close(open(p, O_CREAT | O_WRONLY, 0600));
	snprintf(p, sizeof(p), "%s/bad name", f->root); /* not a volume id */
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/bad name/luks-bad name.img", f->root);
	close(open(p, O_CREAT | O_WRONLY, 0600));
	snprintf(p, sizeof(p), "%s/.hidden", f->root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/pvc-file", f->root); /* a plain file */
	close(open(p, O_CREAT | O_WRONLY, 0600));

	n = reclaim_list_candidates(f->root, &ids);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], "pvc-a");
	assert_string_equal(ids[1], "pvc-b");
	free(ids);
	snprintf(p, sizeof(p), "%s/missing", f->root);
	assert_int_equal(reclaim_list_candidates(p, &ids), -1);
}

static void
scan_lifecycle(void **state)
{
	struct fake *f = *state;
	struct reclaim_ops ops = ops_for(f);
	struct reclaim_state st;
	struct reclaim_report r;

	mkvol(f->root, "vol-live");     /* PV exists throughout */
	mkvol(f->root, "vol-gone");     /* PV deleted */
	mkvol(f->root, "vol-staged");   /* PV deleted but still staged */
	mkvol(f->root, "vol-restored"); /* PV absent, then restored */
	mkvol(f->root, "vol-static");   /* static PV: name differs, handle matches */
	f->pvs[0] = "vol-live";
	f->pvs[1] = "vol-static";
	f->staged[0] = "vol-staged";
	reclaim_state_init(&st, GRACE);

	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(r.candidates, 5);
	assert_int_equal(r.staged, 1);
	assert_int_equal(r.grace_started, 2); /* vol-gone, vol-restored */
	assert_int_equal(f->nlookups, 1);     /* one listing for all */
	assert_int_equal(f->last_query_n, 4); /* staged volume not asked */
	assert_true(reclaim_timer_get(&st, "vol-gone") > 0);

	f->now += 5 * MINUTE;
	f->pvs[2] = "vol-restored";
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(r.in_grace, 1);
	assert_int_equal(reclaim_timer_get(&st, "vol-restored"), RECLAIM_NO_TIMER);

	f->now += 6 * MINUTE;
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(r.erased, 1);
	assert_int_equal(f->nerased, 1);
	assert_string_equal(f->erased[0], "vol-gone");
	assert_int_equal(reclaim_timer_get(&st, "vol-gone"), RECLAIM_NO_TIMER);

	f->now += 100 * GRACE; /* the staged one is never touched */
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(f->nerased, 1);
	assert_int_equal(r.candidates, 4);
	reclaim_state_free(&st);
}

static void
scan_api_errors_erase_nothing(void **state)
{
	struct fake *f = *state;
	struct reclaim_ops ops = ops_for(f);
	struct reclaim_state st;
	struct reclaim_report r;

	mkvol(f->root, "vol-gone");
	reclaim_state_init(&st, GRACE);
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	int64_t armed = reclaim_timer_get(&st, "vol-gone");
	assert_true(armed > 0);
	/* Every later listing fails (500, 403, timeout: all are -1 here). */
	f->api_fail = 1;
	for (int i = 0; i < 5; i++) {
		f->now += GRACE;
		assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
		assert_int_equal(r.api_errors, 1);
		assert_int_equal(r.erased, 0);
		assert_int_equal(reclaim_timer_get(&st, "vol-gone"), armed);
	}
	assert_int_equal(f->nerased, 0);
	f->api_fail = 0;
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(f->nerased, 1);
	reclaim_state_free(&st);
}

/* The real k8s adapter (reclaim_k8s_pv_exists) with an API server that
 * cannot be reached: the armed timer expires, nothing is erased. */
static int
f_pv_exists_k8s(void *ctx, const char *const *ids, size_t n, int *exists)
{
	struct fake *f = ctx;
	f->nlookups++;
	return reclaim_k8s_pv_exists(&f->k8s, ids, n, exists);
}

static void
scan_with_unreachable_api_erases_nothing(void **state)
{
	struct fake *f = *state;
	char tok[600], ca[600], err[256];
	struct k8s_client_opts o = { .api_base = "https://127.0.0.1:1", .token_path = tok,
				     .ca_path = ca, .connect_timeout_ms = 1000, .timeout_ms = 2000 };
	struct reclaim_ops ops = ops_for(f);
	struct reclaim_state st;
	struct reclaim_report r;
	FILE *fp;

	snprintf(tok, sizeof(tok), "%s/token", f->root);
	snprintf(ca, sizeof(ca), "%s/ca.crt", f->root);
	assert_non_null(fp = fopen(tok, "w"));
	fputs("eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n", fp);
	fclose(fp);
	assert_non_null(fp = fopen(ca, "w"));
	fputs("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", fp);
	fclose(fp);
	assert_int_equal(k8s_client_new(&o, &f->k8s.client, err, sizeof(err)), K8S_OK);
	f->k8s.driver = DRIVER;

	mkvol(f->root, "vol-gone");
	reclaim_state_init(&st, GRACE);
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0); /* fake: not found */
	int64_t armed = reclaim_timer_get(&st, "vol-gone");
	assert_true(armed > 0);
	ops.pv_exists = f_pv_exists_k8s;
	for (int i = 0; i < 3; i++) {
		f->now += GRACE;
		assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
		assert_int_equal(r.api_errors, 1);
		assert_int_equal(r.erased, 0);
		assert_int_equal(reclaim_timer_get(&st, "vol-gone"), armed);
	}
	assert_int_equal(f->nerased, 0);
	assert_int_equal(f->nlookups, 4);
	k8s_client_free(f->k8s.client);
	reclaim_state_free(&st);
}

static void
scan_erase_failure_keeps_timer(void **state)
{
	struct fake *f = *state;
	struct reclaim_ops ops = ops_for(f);
	struct reclaim_state st;
	struct reclaim_report r;

	mkvol(f->root, "vol-gone");
	reclaim_state_init(&st, GRACE);
	reclaim_scan(&st, f->root, &ops, &r);
	int64_t armed = reclaim_timer_get(&st, "vol-gone");
	f->now += GRACE;
	f->erase_fail = 1;
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(r.erase_failed, 1);
	assert_int_equal(reclaim_timer_get(&st, "vol-gone"), armed);
	f->erase_fail = 0;
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(r.erased, 1);
	reclaim_state_free(&st);
}

static void
scan_staged_during_listing_not_erased(void **state)
{
	struct fake *f = *state;
	struct reclaim_ops ops = ops_for(f);
	struct reclaim_state st;
	struct reclaim_report r;

	mkvol(f->root, "vol-gone");
	mkvol(f->root, "vol-unknown"); /* is_staged answers -1: counts as staged */
	reclaim_state_init(&st, GRACE);
	reclaim_scan(&st, f->root, &ops, &r);
	assert_int_equal(r.staged, 1);
	f->now += GRACE;
	f->stage_on_recheck = "vol-gone"; /* NodeStage arrives mid-scan */
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(f->nerased, 0);
	assert_int_equal(reclaim_timer_get(&st, "vol-gone"), RECLAIM_NO_TIMER);
	f->now += 10 * GRACE;
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(f->nerased, 0);
	reclaim_state_free(&st);
}

static void
scan_forgets_vanished_volumes_and_keeps_timers_on_bad_root(void **state)
{
	struct fake *f = *state;
	struct reclaim_ops ops = ops_for(f);
	struct reclaim_state st;
	struct reclaim_report r;
	char p[600], bad[600];

	mkvol(f->root, "vol-gone");
	reclaim_state_init(&st, GRACE);
	reclaim_scan(&st, f->root, &ops, &r);
	int64_t armed = reclaim_timer_get(&st, "vol-gone");
	snprintf(bad, sizeof(bad), "%s/nonexistent", f->root);
	assert_int_equal(reclaim_scan(&st, bad, &ops, &r), -1);
	assert_int_equal(reclaim_timer_get(&st, "vol-gone"), armed);
	snprintf(p, sizeof(p), "%s/vol-gone/luks-vol-gone.img", f->root);
	unlink(p);
	assert_int_equal(reclaim_scan(&st, f->root, &ops, &r), 0);
	assert_int_equal(r.candidates, 0);
	assert_int_equal(st.ntimers, 0);
	assert_int_equal(f->nlookups, 1); /* nothing to ask about */
	reclaim_state_free(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(static_pv_name_differs_from_handle_is_kept),
		cmocka_unit_test(restored_pv_new_name_same_handle_is_kept),
		cmocka_unit_test(other_drivers_pv_with_same_handle_does_not_count),
		cmocka_unit_test(pv_gone_erased_only_after_grace_and_second_not_found),
		cmocka_unit_test(one_not_found_never_erases),
		cmocka_unit_test(api_errors_erase_nothing_and_reset_nothing),
		cmocka_unit_test(staged_volume_never_erased),
		cmocka_unit_test(reappearing_pv_clears_timer),
		cmocka_unit_test(odd_clocks_and_grace),
		cmocka_unit_test_setup_teardown(candidates_only_real_volume_dirs, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(scan_lifecycle, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(scan_api_errors_erase_nothing, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(scan_with_unreachable_api_erases_nothing, setup_root,
						teardown_root),
		cmocka_unit_test_setup_teardown(scan_erase_failure_keeps_timer, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(scan_staged_during_listing_not_erased, setup_root,
						teardown_root),
		cmocka_unit_test_setup_teardown(scan_forgets_vanished_volumes_and_keeps_timers_on_bad_root,
						setup_root, teardown_root),
	};

	log_init("test_reclaim", LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
