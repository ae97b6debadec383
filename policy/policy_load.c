/* Side effects of the policies: compile with libseccomp and load; apply
 * capability sets with libcap-ng. */
#define _GNU_SOURCE
#include "policy.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
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

int64_t
pol_runtime_value(enum pol_runtime what)
{
	char line[128];
	int in_block = 0;
	long major = -1;

	if (what != POL_RT_DM_MAJOR_DEVT)
		return -1;
	/* Opening the control node loads dm-mod if it is a module, which is
	 * when the kernel picks device-mapper's block major. */
	int cfd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (cfd >= 0)
		close(cfd);
	FILE *f = fopen("/proc/devices", "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		long m;
		char name[64];
		if (strncmp(line, "Block devices:", 14) == 0)
			in_block = 1;
		else if (strncmp(line, "Character devices:", 18) == 0)
			in_block = 0;
		else if (in_block && sscanf(line, "%ld %63s", &m, name) == 2 &&
			 strcmp(name, "device-mapper") == 0)
			major = m;
	}
	fclose(f);
	/* new_encode_dev: majors up to 4095 sit in bits 8..19 */
	return major > 0 && major < 4096 ? (int64_t)major << 8 : -1;
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
	/* A process already under no_new_privs (a second, stacked filter)
	 * need not set it again: its first filter may not allow that prctl. */
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 &&
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) {
		snprintf(err, errlen, "seccomp_attr_set failed");
		goto fail;
	}
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
		for (unsigned c = 0; c < r->ncond; c++) {
			uint64_t v = r->cond[c].value;
			if (r->cond[c].runtime) {
				int64_t rv = pol_runtime_value(r->cond[c].runtime);
				v = rv < 0 ? 0 : (uint64_t)rv;
				if ((v & r->cond[c].mask) != v) {
					snprintf(err, errlen, "line %u: run-time value 0x%llx outside its mask",
						 r->line, (unsigned long long)v);
					goto fail;
				}
			}
			cmp[c] = (struct scmp_arg_cmp){ r->cond[c].arg, SCMP_CMP_MASKED_EQ,
							r->cond[c].mask, v };
		}
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
