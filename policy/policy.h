/* Seccomp and capability policies, kept as reviewable text files in policy/
 * and compiled into the binaries at build time (policy_texts.c is generated
 * from the .seccomp and .caps files in policy/ by policy/embed.sh).
 *
 * Seccomp policy grammar, one statement per line, '#' starts a comment:
 *   default kill | default allow | default errno ENAME
 *   allow NAME...                          allow these syscalls
 *   allow NAME if COND [and COND]...       allow when all conditions hold
 *   errno ENAME NAME...                    fail with that errno
 *   kill NAME...                           kill the whole process
 * COND is "aN == VALUE" or "aN & MASK == VALUE", N in 0..5; VALUE and MASK
 * are numbers (decimal or 0x hex) or constants known to policy_parse.c,
 * joined with '|'; a leading '~' complements the whole expression, so
 * "aN & ~A|B == 0" means "no bit but A and B is set". VALUE may also be
 * "$NAME", a value found when the filter is loaded (enum pol_runtime),
 * only after a MASK. Several lines for one syscall are alternatives.
 *
 * Capability file grammar: one capability name per line (CAP_SYS_ADMIN),
 * followed by a '#' comment that says why it is needed.
 */
#ifndef LCW_POLICY_H
#define LCW_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define POL_MAX_RULES 512
#define POL_MAX_CONDS 4
#define POL_NAME_MAX 40

enum pol_action { POL_ALLOW = 1, POL_ERRNO = 2, POL_KILL = 3 };

/* Values a policy can only name, because the kernel decides them at run
 * time (see pol_runtime_value). */
enum pol_runtime {
	POL_RT_NONE = 0,
	/* device-mapper's block major, in the major bits (DEVT_MAJOR_MASK)
	 * of the kernel's 32-bit dev_t: what mknodat's dev argument holds */
	POL_RT_DM_MAJOR_DEVT = 1,
};

struct pol_cond {
	unsigned arg;  /* 0..5 */
	uint64_t mask; /* all ones for plain equality */
	uint64_t value;
	unsigned runtime; /* enum pol_runtime: value resolved at load time */
};

struct pol_rule {
	char name[POL_NAME_MAX];
	enum pol_action action;
	int err; /* POL_ERRNO only */
	unsigned ncond;
	struct pol_cond cond[POL_MAX_CONDS];
	unsigned line;
};

struct pol_seccomp {
	enum pol_action def_action;
	int def_err;
	size_t nrules;
	struct pol_rule rules[POL_MAX_RULES];
};

/* Pure: parse policy text. Returns 0, or -1 with a message naming the line. */
int pol_parse(const char *text, struct pol_seccomp *out, char *err, size_t errlen);

/* Pure: parse a capability list into capability numbers. Returns the count
 * (>= 0) or -1 with a message. */
int pol_caps_parse(const char *text, int *caps, size_t max, char *err, size_t errlen);

/* Build the libseccomp filter for a parsed policy and load it into the
 * calling thread (tsync: into every thread of the process). Also checks that
 * every syscall name is known, so a typo fails the build's tests, not a
 * node. Returns 0 or -1 with a message. */
int pol_seccomp_load(const struct pol_seccomp *p, int tsync, char *err, size_t errlen);

/* The value of a runtime constant now, or -1 if the kernel has none (for
 * POL_RT_DM_MAJOR_DEVT: no device-mapper; the rule then matches major 0,
 * which no block driver uses). Reads /proc/devices. */
int64_t pol_runtime_value(enum pol_runtime what);

/* Write the compiled filter in libseccomp's PFC text form to fd (for review
 * and for the golden-file test). */
int pol_seccomp_export_pfc(const struct pol_seccomp *p, int fd, char *err, size_t errlen);

/* Keep exactly `caps` in the effective, permitted and bounding sets (and
 * clear inheritable and ambient). Needs CAP_SETPCAP for the bounding set.
 * Returns 0 or -1 with a message. */
int pol_caps_apply(const int *caps, size_t n, char *err, size_t errlen);

/* Embedded policy texts (generated). */
extern const char policy_frontend_seccomp[];
extern const char policy_controller_seccomp[];
extern const char policy_frontend_serving_seccomp[];
extern const char policy_controller_serving_seccomp[];
extern const char policy_privd_seccomp[];
extern const char policy_spawner_seccomp[];
extern const char policy_privd_caps[];
extern const char policy_spawner_caps[];
extern const char policy_repair_seccomp[];

#endif
