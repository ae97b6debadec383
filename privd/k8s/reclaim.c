/* Reclaim decision (pure) and the scan that applies it; see reclaim.h. */
#define _GNU_SOURCE
#include "reclaim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k8s_client.h"
#include "log.h"

/* ---- pure decision -------------------------------------------------------- */

static struct reclaim_verdict
verdict(enum reclaim_action a, int64_t since, const char *why)
{
	struct reclaim_verdict v = { .action = a, .missing_since_ms = since, .why = why };
	return v;
}

struct reclaim_verdict
reclaim_decide(int64_t since, const struct reclaim_obs *obs, int64_t grace_ms)
{
	if (grace_ms < RECLAIM_MIN_GRACE_MS)
		grace_ms = RECLAIM_MIN_GRACE_MS;
	if (obs->staged)
		return verdict(RECLAIM_KEEP, RECLAIM_NO_TIMER, "staged on this node");
	/* Not knowing is never evidence: keep the timer exactly as it was. */
	if (obs->api != RECLAIM_API_EXISTS && obs->api != RECLAIM_API_NOT_FOUND)
		return verdict(RECLAIM_KEEP, since, "API error: nothing decided");
	if (obs->list_started_ms < 0 || obs->list_finished_ms < obs->list_started_ms)
		return verdict(RECLAIM_KEEP, since, "bad listing times: nothing decided");
	if (obs->api == RECLAIM_API_EXISTS)
		return verdict(RECLAIM_KEEP, RECLAIM_NO_TIMER, "a PV carries this handle");
	/* Not found. The timer starts when the listing ended, so that the
	 * grace period covers the listing itself; a timer "from the future"
	 * (clock anomaly) starts over. */
	if (since < 0 || since > obs->list_started_ms)
		return verdict(RECLAIM_GRACE_START, obs->list_finished_ms,
			       "no PV with this handle: grace period started");
	if (obs->list_started_ms - since >= grace_ms)
		return verdict(RECLAIM_ERASE, since,
			       "no PV with this handle, confirmed after the grace period");
	return verdict(RECLAIM_GRACE_WAIT, since, "no PV with this handle: in grace period");
}

const char *
reclaim_action_name(enum reclaim_action a)
{
	switch (a) {
	case RECLAIM_KEEP:
		return "keep";
	case RECLAIM_GRACE_START:
		return "grace-start";
	case RECLAIM_GRACE_WAIT:
		return "grace-wait";
	case RECLAIM_ERASE:
		return "erase";
	}
	return "?";
}

/* ---- timer table ---------------------------------------------------------- */

void
reclaim_state_init(struct reclaim_state *st, int64_t grace_ms)
{
	memset(st, 0, sizeof(*st));
	if (grace_ms == 0)
		grace_ms = RECLAIM_DEFAULT_GRACE_MS;
	st->grace_ms = grace_ms < RECLAIM_MIN_GRACE_MS ? RECLAIM_MIN_GRACE_MS : grace_ms;
}

void
reclaim_state_free(struct reclaim_state *st)
{
	free(st->timers);
	st->timers = NULL;
	st->ntimers = 0;
}

int64_t
reclaim_timer_get(const struct reclaim_state *st, const char *id)
{
	for (size_t i = 0; i < st->ntimers; i++)
		if (strcmp(st->timers[i].id, id) == 0)
			return st->timers[i].missing_since_ms;
	return RECLAIM_NO_TIMER;
}

/* ---- candidates on disk --------------------------------------------------- */

/* <id>/luks-<id>.img must be a regular file, reached without symlinks. */
static int
is_candidate(int rootfd, const char *name)
{
	char img[VOLID_MAX + 16];
	struct stat st;
	int vfd, ok;

	if (volid_valid(name))
		return 0;
	if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode))
		return 0;
	vfd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vfd < 0)
		return 0;
	snprintf(img, sizeof(img), "luks-%s.img", name);
	ok = fstatat(vfd, img, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	close(vfd);
	return ok;
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

int
reclaim_list_candidates(const char *root, char (**out)[VOLID_MAX + 1])
{
	char (*ids)[VOLID_MAX + 1] = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	*out = NULL;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!is_candidate(fd, de->d_name))
			continue;
		if (n == RECLAIM_MAX_VOLUMES) {
			log_warn("reclaim: more than %d volumes under %s, rest not considered",
				 RECLAIM_MAX_VOLUMES, root);
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			void *p = realloc(ids, cap * sizeof(*ids));
			if (!p) {
				free(ids);
				closedir(d);
				errno = ENOMEM;
				return -1;
			}
			ids = p;
		}
		/* volid_valid() bounded the name to VOLID_MAX bytes */
		memcpy(ids[n++], de->d_name, strlen(de->d_name) + 1);
	}
	closedir(d);
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_id);
	*out = ids;
	return (int)n;
}

/* ---- scan ----------------------------------------------------------------- */

static int64_t
clock_now(const struct reclaim_ops *ops)
{
	struct timespec ts;

	if (ops->now_ms)
		return ops->now_ms(ops->ctx);
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask is_staged for every candidate; returns the unstaged ids to look up. */
static size_t
collect_unstaged(const struct reclaim_ops *ops, char (*ids)[VOLID_MAX + 1], size_t n,
		 unsigned char *staged, const char **query)
{
	size_t nq = 0;

	for (size_t i = 0; i < n; i++) {
		staged[i] = ops->is_staged(ops->ctx, ids[i]) != 0;
		if (!staged[i])
			query[nq++] = ids[i];
	}
	return nq;
}

/* Carry out one verdict; returns the timer to keep. */
static int64_t
apply(const struct reclaim_ops *ops, const char *id, struct reclaim_verdict v,
      struct reclaim_report *rep)
{
	switch (v.action) {
	case RECLAIM_GRACE_START:
		log_info("reclaim: volume %s: %s", id, v.why);
		rep->grace_started++;
		return v.missing_since_ms;
	case RECLAIM_GRACE_WAIT:
		rep->in_grace++;
		return v.missing_since_ms;
	case RECLAIM_KEEP:
		return v.missing_since_ms; /* counted by the caller */
	case RECLAIM_ERASE:
		break;
	}
	/* Staging may have begun during the listing: ask once more (the erase
	 * operation re-checks under the volume lock as well). */
	if (ops->is_staged(ops->ctx, id) != 0) {
		rep->staged++;
		return RECLAIM_NO_TIMER;
	}
	log_info("reclaim: volume %s: %s", id, v.why);
	if (ops->erase(ops->ctx, id) != 0) {
		log_warn("reclaim: volume %s: erase failed, will retry", id);
		rep->erase_failed++;
		return v.missing_since_ms;
	}
	rep->erased++;
	return RECLAIM_NO_TIMER;
}

static int
scan_decide(struct reclaim_state *st, const struct reclaim_ops *ops, char (*ids)[VOLID_MAX + 1],
	    size_t n, struct reclaim_report *rep)
{
	unsigned char *staged = calloc(n ? n : 1, 1);
	const char **query = calloc(n ? n : 1, sizeof(*query));
	int *exists = calloc(n ? n : 1, sizeof(*exists));
	struct reclaim_timer *next = calloc(n ? n : 1, sizeof(*next));
	struct reclaim_obs obs = { 0 };
	size_t nq, nt = 0, qi = 0;
	int api_ok = 1;

	if (!staged || !query || !exists || !next) {
		free(staged), free(query), free(exists), free(next);
		return -1;
	}
	nq = collect_unstaged(ops, ids, n, staged, query);
	obs.list_started_ms = clock_now(ops);
	if (nq)
		api_ok = ops->pv_exists(ops->ctx, query, nq, exists) == 0;
	obs.list_finished_ms = clock_now(ops);
	if (!api_ok) {
		log_warn("reclaim: PersistentVolume listing failed: no volume erased this pass");
		rep->api_errors++;
	}
	for (size_t i = 0; i < n; i++) {
		obs.staged = staged[i];
		if (staged[i]) {
			rep->staged++;
			obs.api = RECLAIM_API_ERROR; /* not asked; irrelevant when staged */
		} else {
			obs.api = !api_ok ? RECLAIM_API_ERROR
			    : exists[qi] ? RECLAIM_API_EXISTS : RECLAIM_API_NOT_FOUND;
			qi++;
		}
		struct reclaim_verdict v = reclaim_decide(reclaim_timer_get(st, ids[i]), &obs,
							  st->grace_ms);
		if (!staged[i] && v.action == RECLAIM_KEEP)
			rep->kept++;
		int64_t keep = apply(ops, ids[i], v, rep);
		if (keep != RECLAIM_NO_TIMER) {
			memcpy(next[nt].id, ids[i], sizeof(next[nt].id));
			next[nt++].missing_since_ms = keep;
		}
	}
	/* Timers of volumes no longer on disk are dropped with the old table. */
	free(st->timers);
	st->timers = next;
	st->ntimers = nt;
	free(staged), free(query), free(exists);
	return 0;
}

int
reclaim_scan(struct reclaim_state *st, const char *root, const struct reclaim_ops *ops,
	     struct reclaim_report *rep)
{
	char (*ids)[VOLID_MAX + 1];
	struct reclaim_report scratch;
	int n, rc;

	if (!rep)
		rep = &scratch;
	memset(rep, 0, sizeof(*rep));
	n = reclaim_list_candidates(root, &ids);
	if (n < 0) {
		log_warn("reclaim: cannot list %s: %s", root, strerror(errno));
		return -1;
	}
	rep->candidates = (size_t)n;
	rc = scan_decide(st, ops, ids, (size_t)n, rep);
	free(ids);
	return rc;
}

int
reclaim_k8s_pv_exists(void *ctx, const char *const *ids, size_t n, int *exists)
{
	const struct reclaim_k8s_ctx *k = ctx;
	char err[512] = "";
	int rc = k8s_pv_handles_exist(k->client, k->driver, ids, n, exists, err, sizeof(err));

	if (rc != K8S_OK) {
		log_warn("reclaim: listing PersistentVolumes: %s: %s", k8s_result_name(rc), err);
		return -1;
	}
	return 0;
}
