#define _GNU_SOURCE
#include "sandbox.h"

#include <cap-ng.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"

static struct pol_seccomp pol; /* large: keep it off the stack */
static int mode_controller;

void
frontend_sandbox(int controller)
{
	char err[256];
	struct rlimit zero = { 0, 0 };

	if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0)
		fatal(2, "refusing to run the frontend as root");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) || setrlimit(RLIMIT_CORE, &zero))
		fatal(2, "cannot make the process non-dumpable");
	/* Started without capabilities; clear them anyway in case of a
	 * misconfigured launcher (the bounding set needs CAP_SETPCAP, which
	 * we do not have, so only the process sets are cleared). */
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(CAPNG_SELECT_BOTH))
		fatal(2, "cannot clear capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		fatal(2, "cannot set no_new_privs");
	mode_controller = controller;
	/* The controller (no privd) also needs TCP: Kubernetes API, S3. */
	if (pol_parse(controller ? policy_controller_seccomp : policy_frontend_seccomp, &pol, err,
		      sizeof(err)) ||
	    pol_seccomp_load(&pol, 0, err, sizeof(err)))
		fatal(2, "frontend seccomp policy: %s", err);
}

void
frontend_sandbox_serving(void)
{
	char err[256];

	/* tsync: gRPC's threads exist by now, and all of them get it. */
	if (pol_parse(mode_controller ? policy_controller_serving_seccomp
				      : policy_frontend_serving_seccomp,
		      &pol, err, sizeof(err)) ||
	    pol_seccomp_load(&pol, 1, err, sizeof(err)))
		fatal(2, "frontend seccomp policy (serving): %s", err);
}
