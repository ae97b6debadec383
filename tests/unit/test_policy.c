/* Unit tests of the policy parsers (policy_parse.c) and of the shipped
 * policies themselves: they must parse, and every syscall they name must be
 * known to libseccomp (checked by compiling the filter without loading it). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "policy.h"

/* struct pol_seccomp is large; keep it off cmocka's stack. */
static struct pol_seccomp pol;
static char err[256];

static const struct {
	const char *name;
	const char *text;
} shipped[] = {
	{ "frontend.seccomp", policy_frontend_seccomp },
	{ "privd.seccomp", policy_privd_seccomp },
	{ "spawner.seccomp", policy_spawner_seccomp },
	{ "controller.seccomp", policy_controller_seccomp },
	{ "frontend_serving.seccomp", policy_frontend_serving_seccomp },
	{ "controller_serving.seccomp", policy_controller_serving_seccomp },
};
#define NSHIPPED (sizeof(shipped) / sizeof(shipped[0]))

static int
parse(const char *text)
{
	err[0] = '\0';
	return pol_parse(text, &pol, err, sizeof(err));
}

static void
reject(const char *text)
{
	err[0] = '\0';
	if (pol_parse(text, &pol, err, sizeof(err)) != -1)
		fail_msg("accepted: %s", text);
	if (err[0] == '\0')
		fail_msg("no message for: %s", text);
}

static const struct pol_rule *
find_rule(const struct pol_seccomp *p, const char *name, enum pol_action a)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (strcmp(p->rules[i].name, name) == 0 && p->rules[i].action == a)
			return &p->rules[i];
	return NULL;
}

/* Compile a parsed policy to PFC text (no load); returns the text, caller
 * frees, or NULL with err set. */
static char *
export_pfc(const struct pol_seccomp *p)
{
	FILE *f = tmpfile();
	char *text;
	long n;

	assert_non_null(f);
	if (pol_seccomp_export_pfc(p, fileno(f), err, sizeof(err))) {
		fclose(f);
		return NULL;
	}
	n = lseek(fileno(f), 0, SEEK_END);
	assert_true(n > 0);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(pread(fileno(f), text, (size_t)n, 0), n);
	fclose(f);
	return text;
}

/* ---- shipped policies ---------------------------------------------------- */

static void
test_shipped_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSHIPPED; i++) {
		if (parse(shipped[i].text))
			fail_msg("%s: %s", shipped[i].name, err);
		assert_true(pol.nrules > 0);
	}
}

static void
test_shipped_compile(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSHIPPED; i++) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(parse(shipped[i].text), 0);
		if (pol_seccomp_export_pfc(&pol, fd, err, sizeof(err)))
			fail_msg("%s: %s", shipped[i].name, err);
		close(fd);
	}
}

/* The properties the policies' comments promise, checked on the parsed
 * rules so an edit that quietly drops one is caught. */
static void
test_shipped_frontend_shape(void **state)
{
	static const char *const killed[] = {
		"execve", "execveat", "ptrace", "mount", "umount2", "setuid", "setgid",
		"setresuid", "capset", "unshare", "setns", "init_module", "bpf",
		"kexec_load", "keyctl", "process_vm_writev",
	};
	const struct pol_rule *r;
	(void)state;

	assert_int_equal(parse(policy_frontend_seccomp), 0);
	assert_int_equal(pol.def_action, POL_ERRNO);
	assert_int_equal(pol.def_err, EPERM);
	for (size_t i = 0; i < sizeof(killed) / sizeof(killed[0]); i++)
		if (find_rule(&pol, killed[i], POL_KILL) == NULL)
			fail_msg("frontend does not kill %s", killed[i]);
	/* Sockets: unix only. */
	r = find_rule(&pol, "socket", POL_ALLOW);
	assert_non_null(r);
	assert_int_equal(r->ncond, 1);
	assert_int_equal(r->cond[0].arg, 0);
	assert_int_equal(r->cond[0].mask, ~0ULL);
	assert_int_equal(r->cond[0].value, AF_UNIX);
	/* Threads only: clone must carry CLONE_THREAD. */
	r = find_rule(&pol, "clone", POL_ALLOW);
	assert_non_null(r);
	assert_int_equal(r->ncond, 1);
	assert_int_equal(r->cond[0].mask, CLONE_THREAD);
	assert_int_equal(r->cond[0].value, CLONE_THREAD);
	r = find_rule(&pol, "clone3", POL_ERRNO);
	assert_non_null(r);
	assert_int_equal(r->err, ENOSYS);
	/* Opens are read-only: the write and create bits are in the mask and
	 * must be clear. */
	r = find_rule(&pol, "openat", POL_ALLOW);
	assert_non_null(r);
	assert_int_equal(r->ncond, 1);
	assert_int_equal(r->cond[0].arg, 2);
	assert_int_equal(r->cond[0].value, 0);
	assert_int_equal(r->cond[0].mask & (O_ACCMODE | O_CREAT | O_TRUNC),
			 O_ACCMODE | O_CREAT | O_TRUNC);
	assert_null(find_rule(&pol, "open", POL_ALLOW)); /* no unconditioned path */
}

static void
test_shipped_privd_shape(void **state)
{
	static const char *const killed[] = {
		"execve", "execveat", "ptrace", "init_module", "finit_module",
		"kexec_load", "bpf", "setuid", "setresuid", "unshare", "setns",
	};
	(void)state;

	assert_int_equal(parse(policy_privd_seccomp), 0);
	assert_int_equal(pol.def_action, POL_ERRNO);
	for (size_t i = 0; i < sizeof(killed) / sizeof(killed[0]); i++)
		if (find_rule(&pol, killed[i], POL_KILL) == NULL)
			fail_msg("privd does not kill %s", killed[i]);
	const struct pol_rule *r = find_rule(&pol, "clone", POL_ALLOW);
	assert_non_null(r);
	assert_int_equal(r->cond[0].mask, CLONE_THREAD);
	r = find_rule(&pol, "socketpair", POL_ALLOW);
	assert_non_null(r);
	assert_int_equal(r->cond[0].value, AF_UNIX);
	/* Every socket() privd may call is pinned to a family by a plain
	 * equality on a0; internet families only for TCP (the Kubernetes API),
	 * pinned by a second condition on the type. */
	for (size_t i = 0; i < pol.nrules; i++) {
		const struct pol_rule *q = &pol.rules[i];
		if (strcmp(q->name, "socket") || q->action != POL_ALLOW)
			continue;
		int family = -1, stream = 0;
		for (unsigned c = 0; c < q->ncond; c++) {
			if (q->cond[c].arg == 0 && q->cond[c].mask == ~0ULL)
				family = (int)q->cond[c].value;
			if (q->cond[c].arg == 1 && q->cond[c].mask == 0xf &&
			    q->cond[c].value == SOCK_STREAM)
				stream = 1;
		}
		if (family < 0 || ((family == AF_INET || family == AF_INET6) && !stream))
			fail_msg("privd.seccomp line %u: socket not pinned to a safe family/type",
				 q->line);
	}
}

static void
test_shipped_spawner_shape(void **state)
{
	static const char *const killed[] = {
		"ptrace", "init_module", "finit_module", "kexec_load", "bpf",
		"keyctl", "add_key", "request_key", "open_by_handle_at", "userfaultfd",
	};
	(void)state;

	assert_int_equal(parse(policy_spawner_seccomp), 0);
	assert_int_equal(pol.def_action, POL_ALLOW); /* a denylist by design */
	for (size_t i = 0; i < sizeof(killed) / sizeof(killed[0]); i++)
		if (find_rule(&pol, killed[i], POL_KILL) == NULL)
			fail_msg("spawner does not kill %s", killed[i]);
	assert_null(find_rule(&pol, "execve", POL_KILL)); /* it must run tools */
}

/* libseccomp resolves two rules for one syscall silently (the first
 * unconditional one wins, an unconditional one beats conditional ones), so
 * "allow X" followed by "kill X" would quietly leave X allowed. The only
 * legitimate repetition is several conditional allows (alternatives). */
static void
test_shipped_no_conflicts(void **state)
{
	(void)state;
	for (size_t s = 0; s < NSHIPPED; s++) {
		assert_int_equal(parse(shipped[s].text), 0);
		for (size_t i = 0; i < pol.nrules; i++)
			for (size_t j = i + 1; j < pol.nrules; j++) {
				const struct pol_rule *a = &pol.rules[i], *b = &pol.rules[j];
				if (strcmp(a->name, b->name))
					continue;
				if (a->action == POL_ALLOW && b->action == POL_ALLOW &&
				    a->ncond && b->ncond)
					continue;
				fail_msg("%s: %s named on lines %u and %u", shipped[s].name,
					 a->name, a->line, b->line);
			}
	}
}

static void
test_pfc_content(void **state)
{
	char *t;
	(void)state;

	assert_int_equal(parse(policy_frontend_seccomp), 0);
	t = export_pfc(&pol);
	assert_non_null(t);
	assert_non_null(strstr(t, "\"execve\""));
	assert_non_null(strstr(t, "KILL_PROCESS"));
	assert_non_null(strstr(t, "ERRNO(1)")); /* default EPERM */
	free(t);

	assert_int_equal(parse(policy_spawner_seccomp), 0);
	t = export_pfc(&pol);
	assert_non_null(t);
	assert_null(strstr(t, "\"execve\"")); /* falls to the default allow */
	assert_non_null(strstr(t, "\"ptrace\""));
	free(t);
}

static void
test_unknown_syscall_fails_compile(void **state)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	(void)state;

	assert_true(fd >= 0);
	/* Parses (the name is well formed) but libseccomp does not know it. */
	assert_int_equal(parse("default kill\nallow read\n\nallow no_such_syscall\n"), 0);
	assert_int_equal(pol_seccomp_export_pfc(&pol, fd, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no_such_syscall"));
	assert_non_null(strstr(err, "line 4"));
	close(fd);
}

/* ---- statements ---------------------------------------------------------- */

static void
test_defaults(void **state)
{
	(void)state;
	assert_int_equal(parse("default kill\n"), 0);
	assert_int_equal(pol.def_action, POL_KILL);
	assert_int_equal(pol.nrules, 0);
	assert_int_equal(parse("default allow"), 0); /* no final newline */
	assert_int_equal(pol.def_action, POL_ALLOW);
	assert_int_equal(parse("  # c\n\n\tdefault errno EACCES   # why\n"), 0);
	assert_int_equal(pol.def_action, POL_ERRNO);
	assert_int_equal(pol.def_err, EACCES);
	/* The default may come after the rules. */
	assert_int_equal(parse("allow read\ndefault kill\n"), 0);
	assert_int_equal(pol.nrules, 1);
}

static void
test_actions(void **state)
{
	const struct pol_rule *r;
	(void)state;

	assert_int_equal(parse("default kill\n"
			       "allow read write\n"
			       "errno EAFNOSUPPORT socketpair\n"
			       "kill execve ptrace\n"),
			 0);
	assert_int_equal(pol.nrules, 5);
	r = find_rule(&pol, "write", POL_ALLOW);
	assert_non_null(r);
	assert_int_equal(r->ncond, 0);
	assert_int_equal(r->line, 2);
	r = find_rule(&pol, "socketpair", POL_ERRNO);
	assert_non_null(r);
	assert_int_equal(r->err, EAFNOSUPPORT);
	assert_int_equal(r->line, 3);
	r = find_rule(&pol, "ptrace", POL_KILL);
	assert_non_null(r);
	assert_int_equal(r->line, 4);
	/* Names with digits and underscores are fine. */
	assert_int_equal(parse("default kill\nallow pread64 set_robust_list\n"), 0);
}

/* privd's filter narrows every dangerous call by its arguments: no
 * unconditional ioctl, mount, umount2, mknodat, open_tree or move_mount;
 * no kill and no mknod at all; new mounts keep nosuid and nodev; device
 * nodes are block nodes; netlink is NETLINK_ROUTE only. */
static void
test_shipped_privd_narrow(void **state)
{
	static const char *const narrowed[] = { "ioctl", "mount", "umount2", "mknodat",
						"open_tree", "move_mount" };
	(void)state;

	assert_int_equal(parse(policy_privd_seccomp), 0);
	for (size_t i = 0; i < pol.nrules; i++) {
		const struct pol_rule *q = &pol.rules[i];
		if (q->action != POL_ALLOW)
			continue;
		if (strcmp(q->name, "kill") == 0 || strcmp(q->name, "mknod") == 0 ||
		    strcmp(q->name, "tkill") == 0 || strcmp(q->name, "pidfd_send_signal") == 0)
			fail_msg("line %u: privd may %s", q->line, q->name);
		for (size_t k = 0; k < sizeof(narrowed) / sizeof(narrowed[0]); k++)
			if (strcmp(q->name, narrowed[k]) == 0 && q->ncond == 0)
				fail_msg("line %u: %s without a condition", q->line, q->name);
		if (strcmp(q->name, "mount") == 0) {
			/* MS_NOSUID|MS_NODEV required, or a plain bind with no
			 * flag at all (it keeps its source's flags). */
			int safe = 0;
			for (unsigned c = 0; c < q->ncond; c++) {
				const struct pol_cond *k = &q->cond[c];
				if (k->arg != 3)
					continue;
				/* 0x6: MS_NOSUID|MS_NODEV; 0x1000: MS_BIND;
				 * 0x4000: MS_REC, which must be masked to zero */
				safe = ((k->mask & k->value & 0x6) == 0x6 ||
					(k->mask == ~0ULL && k->value == 0x1000)) &&
				       (k->mask & 0x4000) && !(k->value & 0x4000);
			}
			if (!safe)
				fail_msg("line %u: a mount without nosuid,nodev or with MS_REC", q->line);
		}
		if (strcmp(q->name, "mknodat") == 0) {
			int blk = 0, major = 0;
			for (unsigned c = 0; c < q->ncond; c++) {
				const struct pol_cond *k = &q->cond[c];
				blk |= k->arg == 2 && k->mask == 0170000 && k->value == 0060000;
				major |= k->arg == 3 && k->runtime == POL_RT_DM_MAJOR_DEVT;
			}
			if (!blk || !major)
				fail_msg("line %u: mknodat not pinned to dm block nodes", q->line);
		}
		if (strcmp(q->name, "socket") == 0 && q->cond[0].value == AF_NETLINK &&
		    (q->ncond != 2 || q->cond[1].arg != 2 || q->cond[1].value != 0))
			fail_msg("line %u: netlink not pinned to NETLINK_ROUTE", q->line);
	}
}

/* '~' complements a value; '$NAME' defers it to load time. */
static void
test_complement_and_runtime(void **state)
{
	(void)state;

	assert_int_equal(parse("default kill\nallow umount2 if a1 & ~MNT_DETACH|UMOUNT_NOFOLLOW == 0\n"), 0);
	assert_int_equal(pol.rules[0].cond[0].mask, ~(uint64_t)(2 | 8));
	assert_int_equal(pol.rules[0].cond[0].value, 0);
	/* required bits must lie inside the mask: here they do */
	assert_int_equal(parse("default kill\nallow mount if a3 & ~MS_RDONLY == MS_NOSUID\n"), 0);
	/* ... and here the required bit is one the mask ignores */
	reject("default kill\nallow mount if a3 & ~MS_RDONLY|MS_NOSUID == MS_NOSUID\n");
	reject("default kill\nallow mount if a3 & ~ == 0\n");
	reject("default kill\nallow mount if a3 & ~~MS_RDONLY == 0\n");

	assert_int_equal(parse("default kill\nallow mknodat if a3 & DEVT_MAJOR_MASK == $DM_MAJOR_DEVT\n"), 0);
	assert_int_equal(pol.rules[0].cond[0].runtime, POL_RT_DM_MAJOR_DEVT);
	assert_int_equal(pol.rules[0].cond[0].mask, 0xfff00);
	reject("default kill\nallow mknodat if a3 == $DM_MAJOR_DEVT\n"); /* no mask */
	reject("default kill\nallow mknodat if a3 & 0xfff00 == $NO_SUCH\n");
	reject("default kill\nallow mknodat if a3 & 0xfff00 == $\n");
	/* the shipped rule compiles whatever the kernel's dm major is */
	assert_int_equal(parse(policy_privd_seccomp), 0);
	char *pfc = export_pfc(&pol);
	if (pfc == NULL)
		fail_msg("%s", err);
	free(pfc);
}

static void
test_conditions(void **state)
{
	const struct pol_rule *r;
	(void)state;

	assert_int_equal(parse("default kill\nallow socket if a0 == AF_UNIX\n"), 0);
	assert_int_equal(pol.nrules, 1);
	r = &pol.rules[0];
	assert_string_equal(r->name, "socket");
	assert_int_equal(r->action, POL_ALLOW);
	assert_int_equal(r->ncond, 1);
	assert_int_equal(r->cond[0].arg, 0);
	assert_int_equal(r->cond[0].mask, ~0ULL); /* plain equality */
	assert_int_equal(r->cond[0].value, AF_UNIX);

	assert_int_equal(parse("default kill\nallow openat if a2 & O_ACCMODE|O_CREAT == 0\n"), 0);
	r = &pol.rules[0];
	assert_int_equal(r->ncond, 1);
	assert_int_equal(r->cond[0].arg, 2);
	assert_int_equal(r->cond[0].mask, O_ACCMODE | O_CREAT);
	assert_int_equal(r->cond[0].value, 0);

	/* Several conditions, numbers in hex and decimal, a constant OR'd with
	 * a number. */
	assert_int_equal(parse("default kill\n"
			       "allow mmap if a2 & PROT_EXEC == 0 and a3 == 0x22 and a5 & 4095 == 0\n"
			       "allow socket if a0 == AF_UNIX and a1 & SOCK_TYPE_MASK == SOCK_STREAM|0\n"),
			 0);
	r = &pol.rules[0];
	assert_int_equal(r->ncond, 3);
	assert_int_equal(r->cond[0].arg, 2);
	assert_int_equal(r->cond[0].mask, PROT_EXEC);
	assert_int_equal(r->cond[1].arg, 3);
	assert_int_equal(r->cond[1].mask, ~0ULL);
	assert_int_equal(r->cond[1].value, 0x22);
	assert_int_equal(r->cond[2].arg, 5);
	assert_int_equal(r->cond[2].mask, 4095);
	r = &pol.rules[1];
	assert_int_equal(r->ncond, 2);
	assert_int_equal(r->cond[1].arg, 1);
	assert_int_equal(r->cond[1].mask, 0xf);
	assert_int_equal(r->cond[1].value, SOCK_STREAM);

	/* Exactly POL_MAX_CONDS is allowed. */
	assert_int_equal(parse("default kill\n"
			       "allow ioctl if a0 == 1 and a1 == 2 and a2 == 3 and a3 == 4\n"),
			 0);
	assert_int_equal(pol.rules[0].ncond, POL_MAX_CONDS);
	assert_int_equal(pol.rules[0].cond[3].value, 4);

	/* Alternatives: several conditional lines for one syscall. */
	assert_int_equal(parse("default kill\n"
			       "allow prctl if a0 == PR_SET_NAME\n"
			       "allow prctl if a0 == PR_GET_NAME\n"),
			 0);
	assert_int_equal(pol.nrules, 2);
}

static void
test_rejects(void **state)
{
	static char many_conds[512], long_name[64], many_tokens[1024];
	static const char *const bad[] = {
		/* default missing, doubled or malformed */
		"allow read\n",
		"",
		"# only a comment\n",
		"default kill\ndefault allow\n",
		"default kill\ndefault kill\n",
		"default\n",
		"default deny\n",
		"default kill now\n",
		"default errno\n",
		"default errno EPERM EACCES\n",
		"default errno EBOGUS\n",
		/* unknown statements */
		"default kill\npermit read\n",
		"default kill\nALLOW read\n",
		"default kill\nallow\n",
		"default kill\nkill\n",
		"default kill\nerrno EPERM\n",
		/* unknown errno names (numbers are not names) */
		"default kill\nerrno EBOGUS read\n",
		"default kill\nerrno 1 read\n",
		"default kill\nerrno eperm read\n",
		/* condition syntax */
		"default kill\nallow socket if\n",
		"default kill\nallow socket if a0\n",
		"default kill\nallow socket if a0 ==\n",
		"default kill\nallow socket if a0 = 1\n",
		"default kill\nallow socket if a0 != 1\n",
		"default kill\nallow socket if a6 == 1\n",
		"default kill\nallow socket if b0 == 1\n",
		"default kill\nallow socket if a00 == 1\n",
		"default kill\nallow socket if a0 & == 1\n",
		"default kill\nallow socket if a0 & 3\n",
		"default kill\nallow socket if a0 & 3 == \n",
		"default kill\nallow socket if a0 == 1 and\n",
		"default kill\nallow socket if a0 == 1 or a1 == 2\n",
		"default kill\nallow socket if a0 == 1 a1 == 2\n",
		"default kill\nallow socket if a0 == 1x\n",
		"default kill\nallow socket if a0 == 0x\n",
		"default kill\nallow socket if a0 == -1\n",
		"default kill\nallow socket if a0 == 99999999999999999999999\n",
		/* conditions that can never match */
		"default kill\nallow socket if a0 & 0xf == 0x10\n",
		"default kill\nallow openat if a2 & O_ACCMODE == O_CREAT\n",
		/* unknown constants */
		"default kill\nallow socket if a0 == AF_BOGUS\n",
		"default kill\nallow socket if a0 == af_unix\n",
		"default kill\nallow socket if a0 == AF_UNIX|AF_NOPE\n",
		/* syscall names */
		"default kill\nallow Execve\n",
		"default kill\nallow exec-ve\n",
		"default kill\nallow exec.ve\n",
		"default kill\nallow read write/2\n",
		"default kill\nkill ../x\n",
		"default kill\nerrno EPERM READ\n",
		"default kill\nallow Socket if a0 == 1\n",
		/* only one syscall in the conditional form */
		"default kill\nallow socket bind if a0 == 1\n",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		reject(bad[i]);

	/* One condition more than POL_MAX_CONDS. */
	snprintf(many_conds, sizeof(many_conds), "default kill\nallow ioctl if a0 == 1");
	for (unsigned i = 1; i <= POL_MAX_CONDS; i++)
		snprintf(many_conds + strlen(many_conds), sizeof(many_conds) - strlen(many_conds),
			 " and a%u == 1", i % 6);
	strcat(many_conds, "\n");
	reject(many_conds);

	/* A name of POL_NAME_MAX characters does not fit. */
	memset(long_name, 0, sizeof(long_name));
	strcpy(long_name, "default kill\nallow ");
	memset(long_name + strlen(long_name), 'a', POL_NAME_MAX);
	reject(long_name);

	/* More tokens on a line than the tokenizer holds. */
	strcpy(many_tokens, "default kill\nallow");
	for (int i = 0; i < 70; i++)
		strcat(many_tokens, " read");
	reject(many_tokens);
}

/* Values that parse into something other than what they appear to say.
 * The worst is an empty mask: "a2 & | == 0" reads as mask 0, value 0, a
 * condition every call meets, so a conditional allow becomes a plain one. */
static void
test_rejects_degenerate_values(void **state)
{
	static const char *const bad[] = {
		"default kill\nallow socket if a0 == |\n",
		"default kill\nallow socket if a0 == AF_UNIX|\n",
		"default kill\nallow socket if a0 == |AF_UNIX\n",
		"default kill\nallow socket if a0 == AF_UNIX||AF_INET\n",
		"default kill\nallow openat if a2 & | == 0\n",
		"default kill\nallow openat if a2 & 0 == 0\n",
		"default kill\nallow openat if a2 & 0x0 == 0\n",
		/* grammar: decimal or 0x hex; 010 would silently be octal 8 */
		"default kill\nallow socket if a0 == 010\n",
		"default kill\nallow socket if a0 == 0x-1\n",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		reject(bad[i]);
	/* What stays valid: a plain 0, hex in either case, a full mask. */
	assert_int_equal(parse("default kill\nallow openat if a2 & 0XFF == 0\n"), 0);
	assert_int_equal(pol.rules[0].cond[0].mask, 0xff);
	assert_int_equal(parse("default kill\nallow socket if a0 == 0\n"), 0);
	assert_int_equal(pol.rules[0].cond[0].value, 0);
}

static void
test_error_names_line(void **state)
{
	(void)state;
	reject("default kill\n\n# three\nallow read\nallow Bad\n");
	assert_non_null(strstr(err, "line 5"));
}

static void
test_limits(void **state)
{
	/* POL_MAX_RULES conditional alternatives for one syscall (the only
	 * form in which a name may repeat), then one more. */
	static char text[32768], longline[2048];
	size_t n = 0;
	(void)state;

	n += (size_t)snprintf(text + n, sizeof(text) - n, "default kill\n");
	for (int i = 0; i < POL_MAX_RULES; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "allow read if a0 == %d\n", i);
	assert_true(n < sizeof(text) - 16);
	assert_int_equal(parse(text), 0);
	assert_int_equal(pol.nrules, POL_MAX_RULES);
	strcat(text, "allow read if a0 == 9999\n");
	reject(text);

	/* Over-long lines are refused, not split. */
	memset(longline, ' ', sizeof(longline) - 1);
	memcpy(longline, "default kill\n#", 14);
	longline[sizeof(longline) - 1] = '\0';
	reject(longline);
}

/* ---- capability files ---------------------------------------------------- */

static int
has_cap(const int *caps, int n, int cap)
{
	for (int i = 0; i < n; i++)
		if (caps[i] == cap)
			return 1;
	return 0;
}

static void
test_caps_shipped(void **state)
{
	int caps[64], n;
	(void)state;

	n = pol_caps_parse(policy_privd_caps, caps, 64, err, sizeof(err));
	if (n < 0)
		fail_msg("privd.caps: %s", err);
	assert_int_equal(n, 7);
	assert_true(has_cap(caps, n, CAP_SYS_ADMIN));
	assert_true(has_cap(caps, n, CAP_DAC_READ_SEARCH));
	assert_false(has_cap(caps, n, CAP_DAC_OVERRIDE)); /* reads, never overrides writes */
	assert_true(has_cap(caps, n, CAP_IPC_LOCK));
	assert_false(has_cap(caps, n, CAP_SETUID)); /* privd never changes ids */
	assert_false(has_cap(caps, n, CAP_SYS_PTRACE));

	n = pol_caps_parse(policy_spawner_caps, caps, 64, err, sizeof(err));
	if (n < 0)
		fail_msg("spawner.caps: %s", err);
	assert_int_equal(n, 9);
	/* kept only for the mount-namespace repair helper (ns_repair.c) */
	assert_true(has_cap(caps, n, CAP_SYS_PTRACE));
	assert_true(has_cap(caps, n, CAP_SYS_CHROOT));
	assert_true(has_cap(caps, n, CAP_SETUID));
	assert_true(has_cap(caps, n, CAP_SETGID));
	assert_true(has_cap(caps, n, CAP_SETPCAP));
	assert_false(has_cap(caps, n, CAP_SYS_MODULE));
}

static void
test_caps_grammar(void **state)
{
	int caps[8];
	(void)state;

	assert_int_equal(pol_caps_parse("", caps, 8, err, sizeof(err)), 0);
	assert_int_equal(pol_caps_parse("# nothing\n\n", caps, 8, err, sizeof(err)), 0);
	assert_int_equal(pol_caps_parse("CAP_CHOWN\n\t CAP_KILL   # why\nCAP_MKNOD", caps, 8,
					err, sizeof(err)),
			 3);
	assert_int_equal(caps[0], CAP_CHOWN);
	assert_int_equal(caps[1], CAP_KILL);
	assert_int_equal(caps[2], CAP_MKNOD);

	static const char *const bad[] = {
		"CAP_BOGUS\n",
		"CAP_SYS_MODULE\n",  /* real, but not one we would ever grant */
		"CAP_\n",
		"SYS_ADMIN\n",       /* missing prefix */
		"cap_sys_admin\n",
		"CAP_sys_admin\n",
		"CAP_CHOWN\nCAP_KILL\nCAP_CHOWN\n", /* duplicate */
		"CAP_CHOWN CAP_KILL\n",             /* two on a line */
		"CAP_CHOWN,\n",
		"21\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (pol_caps_parse(bad[i], caps, 8, err, sizeof(err)) != -1)
			fail_msg("accepted caps: %s", bad[i]);
		assert_true(err[0] != '\0');
	}
	/* The duplicate is reported on its own line. */
	assert_int_equal(pol_caps_parse("CAP_CHOWN\n# x\nCAP_CHOWN\n", caps, 8, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 3"));
	/* More than fit in the caller's array. */
	assert_int_equal(pol_caps_parse("CAP_CHOWN\nCAP_KILL\n", caps, 1, err, sizeof(err)), -1);
	assert_int_equal(pol_caps_parse("CAP_CHOWN\n", caps, 0, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_parse),
		cmocka_unit_test(test_shipped_compile),
		cmocka_unit_test(test_shipped_frontend_shape),
		cmocka_unit_test(test_shipped_privd_shape),
		cmocka_unit_test(test_shipped_privd_narrow),
		cmocka_unit_test(test_complement_and_runtime),
		cmocka_unit_test(test_shipped_spawner_shape),
		cmocka_unit_test(test_shipped_no_conflicts),
		cmocka_unit_test(test_pfc_content),
		cmocka_unit_test(test_unknown_syscall_fails_compile),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_rejects_degenerate_values),
		cmocka_unit_test(test_error_names_line),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_caps_shipped),
		cmocka_unit_test(test_caps_grammar),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
