/* Side effects of the policies: compile with libseccomp and load; apply
 * capability sets with libcap-ng. */
#define _GNU_SOURCE
#include "policy.h"

#include <cap-ng.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

static uint32_t
action_of(enum pol_action a, int err)
{
	switch (a) {
	case POL_ALLOW: return SCMP_ACT_ALLOW;
	case POL_ERRNO: return SCMP_ACT_ERRNO((uint32_t)err);
	case POL_KILL: return SCMP_ACT_KILL_PROCESS;
	}
	return SCMP_ACT_KILL_PROCESS;
}

static scmp_filter_ctx
build(const struct pol_seccomp *p, int tsync, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(action_of(p->def_action, p->def_err));

	if (ctx == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return NULL;
	}
	/* Only the native architecture: any other one is killed. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) ||
	    (tsync && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1))) {
		snprintf(err, errlen, "seccomp_attr_set failed");
		goto fail;
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		struct scmp_arg_cmp cmp[POL_MAX_CONDS];
		int nr = seccomp_syscall_resolve_name(r->name);
		int rc;

		if (nr == __NR_SCMP_ERROR) {
			snprintf(err, errlen, "line %u: unknown syscall %s", r->line, r->name);
			goto fail;
		}
		for (unsigned c = 0; c < r->ncond; c++)
			cmp[c] = (struct scmp_arg_cmp){ r->cond[c].arg, SCMP_CMP_MASKED_EQ,
							r->cond[c].mask, r->cond[c].value };
		rc = seccomp_rule_add_array(ctx, action_of(r->action, r->err), nr,
					    r->ncond, cmp);
		if (rc) {
			snprintf(err, errlen, "line %u: rule for %s: %s", r->line, r->name,
				 strerror(-rc));
			goto fail;
		}
	}
	return ctx;
fail:
	seccomp_release(ctx);
	return NULL;
}

int
pol_seccomp_load(const struct pol_seccomp *p, int tsync, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = build(p, tsync, err, errlen);
	int rc;

	if (ctx == NULL)
		return -1;
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc) {
		snprintf(err, errlen, "seccomp_load: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

int
pol_seccomp_export_pfc(const struct pol_seccomp *p, int fd, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = build(p, 0, err, errlen);
	int rc;

	if (ctx == NULL)
		return -1;
	rc = seccomp_export_pfc(ctx, fd);
	seccomp_release(ctx);
	if (rc) {
		snprintf(err, errlen, "seccomp_export_pfc: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

int
pol_caps_apply(const int *caps, size_t n, char *err, size_t errlen)
{
	if (n > 64) {
		snprintf(err, errlen, "too many capabilities");
		return -1;
	}
	int rc;

	/* A capability the process was started without (some container
	 * runtimes withhold e.g. CAP_SYS_RESOURCE) cannot be kept; the
	 * operations that need it will fail with EPERM and say so. */
	capng_get_caps_process();
	int have[64] = { 0 };
	for (size_t i = 0; i < n; i++)
		have[i] = caps[i] >= 0 && caps[i] < 64 &&
			  capng_have_capability(CAPNG_PERMITTED, (unsigned)caps[i]);
	capng_clear(CAPNG_SELECT_ALL);
	for (size_t i = 0; i < n; i++)
		if (have[i] && capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
				 (unsigned)caps[i])) {
			snprintf(err, errlen, "capng_update(%d) failed", caps[i]);
			return -1;
		}
	/* Bounding set first (needs CAP_SETPCAP, still held), then capset;
	 * the ambient set is cleared directly (nothing is ever raised in it). */
	rc = capng_apply(CAPNG_SELECT_BOTH);
	if (rc) {
		snprintf(err, errlen, "capng_apply failed (%d)", rc);
		return -1;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) {
		snprintf(err, errlen, "cannot clear ambient capabilities: %s", strerror(errno));
		return -1;
	}
	return 0;
}
