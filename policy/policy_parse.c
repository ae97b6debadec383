/* Pure parsers for the policy texts (see policy.h for the grammar). */
#define _GNU_SOURCE
#include "policy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/capability.h>
#include <linux/blkzoned.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/netlink.h>
#include <signal.h>

/* Not in every libc's headers yet (new mount API, Linux 5.2). */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

struct named { const char *name; uint64_t value; };

/* Constants a policy may name. Only what the shipped policies use or are
 * likely to need; anything else can be written as a number. */
static const struct named constants[] = {
	{ "AF_UNIX", AF_UNIX }, { "AF_INET", AF_INET }, { "AF_INET6", AF_INET6 },
	{ "AF_NETLINK", AF_NETLINK }, { "AF_ALG", AF_ALG },
	{ "SOCK_TYPE_MASK", 0xf }, { "SOCK_STREAM", SOCK_STREAM },
	{ "SOCK_DGRAM", SOCK_DGRAM }, { "SOCK_SEQPACKET", SOCK_SEQPACKET },
	{ "O_ACCMODE", O_ACCMODE }, { "O_RDONLY", O_RDONLY }, { "O_WRONLY", O_WRONLY },
	{ "O_RDWR", O_RDWR }, { "O_CREAT", O_CREAT }, { "O_TRUNC", O_TRUNC },
	/* As a mask, O_TMPFILE means only its own bit: glibc's O_TMPFILE also
	 * contains O_DIRECTORY, which would forbid opening directories. */
	{ "O_APPEND", O_APPEND }, { "O_TMPFILE", O_TMPFILE & ~O_DIRECTORY },
	{ "CLONE_THREAD", CLONE_THREAD }, { "CLONE_NEWNS", CLONE_NEWNS },
	{ "PROT_EXEC", PROT_EXEC },
	{ "PR_SET_NAME", PR_SET_NAME }, { "PR_GET_NAME", PR_GET_NAME },
	{ "PR_SET_DUMPABLE", PR_SET_DUMPABLE }, { "PR_GET_DUMPABLE", PR_GET_DUMPABLE },
	{ "PR_SET_PDEATHSIG", PR_SET_PDEATHSIG }, { "PR_SET_NO_NEW_PRIVS", PR_SET_NO_NEW_PRIVS },
	{ "PR_GET_NO_NEW_PRIVS", PR_GET_NO_NEW_PRIVS }, { "PR_SET_VMA", 0x53564d41 },
	{ "PR_CAPBSET_READ", PR_CAPBSET_READ }, { "PR_CAPBSET_DROP", PR_CAPBSET_DROP },
	{ "PR_CAP_AMBIENT", PR_CAP_AMBIENT }, { "PR_SET_KEEPCAPS", PR_SET_KEEPCAPS },
	{ "PR_GET_SECUREBITS", PR_GET_SECUREBITS }, { "PR_SET_SECUREBITS", PR_SET_SECUREBITS },
	{ "FIONREAD", FIONREAD }, { "FIONBIO", FIONBIO }, { "TIOCGWINSZ", TIOCGWINSZ },
	{ "FIOCLEX", FIOCLEX }, { "TCGETS", TCGETS },
	/* loop devices (privd/luks/loopdev.c) */
	{ "LOOP_SET_FD", LOOP_SET_FD }, { "LOOP_CLR_FD", LOOP_CLR_FD },
	{ "LOOP_SET_STATUS64", LOOP_SET_STATUS64 }, { "LOOP_GET_STATUS64", LOOP_GET_STATUS64 },
	{ "LOOP_SET_CAPACITY", LOOP_SET_CAPACITY }, { "LOOP_SET_DIRECT_IO", LOOP_SET_DIRECT_IO },
	{ "LOOP_CONFIGURE", LOOP_CONFIGURE }, { "LOOP_CTL_GET_FREE", LOOP_CTL_GET_FREE },
	/* Every device-mapper ioctl is _IOWR(DM_IOCTL, nr, struct dm_ioctl):
	 * masking off the command number leaves this constant. */
	{ "DM_IOCTL_CMD_MASK", 0xffffff00 },
	{ "DM_IOCTL_BASE", DM_VERSION & 0xffffff00 },
	/* block-device queries (libcryptsetup, libblkid, loopdev.c) */
	{ "FITRIM", FITRIM },
	{ "BLKGETSIZE64", BLKGETSIZE64 }, { "BLKSSZGET", BLKSSZGET },
	{ "BLKPBSZGET", BLKPBSZGET }, { "BLKROGET", BLKROGET }, { "BLKIOMIN", BLKIOMIN },
	{ "BLKIOOPT", BLKIOOPT }, { "BLKALIGNOFF", BLKALIGNOFF },
	{ "BLKDISCARDZEROES", BLKDISCARDZEROES }, { "BLKGETZONESZ", BLKGETZONESZ },
	{ "BLKFLSBUF", BLKFLSBUF }, { "BLKRRPART", BLKRRPART }, { "BLKDISCARD", BLKDISCARD },
	{ "BLKRAGET", BLKRAGET }, { "BLKZEROOUT", BLKZEROOUT },
	{ "FIFREEZE", FIFREEZE }, { "FITRIM", FITRIM },
	/* mount(2) and umount2(2) flags */
	{ "MS_RDONLY", MS_RDONLY }, { "MS_NOSUID", MS_NOSUID }, { "MS_NODEV", MS_NODEV },
	{ "MS_NOEXEC", MS_NOEXEC }, { "MS_REMOUNT", MS_REMOUNT }, { "MS_BIND", MS_BIND },
	{ "MS_REC", MS_REC }, { "MS_SILENT", MS_SILENT }, { "MS_NOATIME", MS_NOATIME },
	{ "MS_NODIRATIME", MS_NODIRATIME }, { "MS_RELATIME", MS_RELATIME },
	{ "MS_STRICTATIME", MS_STRICTATIME }, { "MS_LAZYTIME", MS_LAZYTIME },
	{ "MS_SYNCHRONOUS", MS_SYNCHRONOUS }, { "MS_DIRSYNC", MS_DIRSYNC },
	{ "MS_PRIVATE", MS_PRIVATE }, { "MS_SLAVE", MS_SLAVE }, { "MS_SHARED", MS_SHARED },
	{ "MS_UNBINDABLE", MS_UNBINDABLE }, { "MS_MOVE", MS_MOVE },
	{ "MS_MGC_VAL", MS_MGC_VAL }, { "MS_MGC_MSK", MS_MGC_MSK },
	{ "MNT_FORCE", MNT_FORCE }, { "MNT_DETACH", MNT_DETACH }, { "MNT_EXPIRE", MNT_EXPIRE },
	{ "UMOUNT_NOFOLLOW", UMOUNT_NOFOLLOW },
	/* fd-based mounts */
	{ "OPEN_TREE_CLONE", OPEN_TREE_CLONE }, { "OPEN_TREE_CLOEXEC", OPEN_TREE_CLOEXEC },
	{ "AT_EMPTY_PATH", AT_EMPTY_PATH }, { "AT_RECURSIVE", 0x8000 },
	{ "AT_SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW },
	{ "MOVE_MOUNT_F_EMPTY_PATH", MOVE_MOUNT_F_EMPTY_PATH },
	{ "MOVE_MOUNT_T_EMPTY_PATH", MOVE_MOUNT_T_EMPTY_PATH },
	/* device nodes: the file-type bits of a mode, and the major number
	 * bits of the kernel's 32-bit dev_t encoding (new_encode_dev) */
	{ "S_IFMT", S_IFMT }, { "S_IFBLK", S_IFBLK }, { "S_IFCHR", S_IFCHR },
	{ "DEVT_MAJOR_MASK", 0xfff00 },
	{ "NETLINK_ROUTE", NETLINK_ROUTE }, { "NETLINK_KOBJECT_UEVENT", NETLINK_KOBJECT_UEVENT },
	{ "SIGTERM", SIGTERM },
};

/* Values known only when the filter is loaded ('$NAME' in a policy);
 * policy_load.c looks them up (pol_runtime_value). */
static const char *const runtime_names[] = {
	[POL_RT_DM_MAJOR_DEVT] = "DM_MAJOR_DEVT",
};

static const struct named errnos[] = {
	{ "EPERM", EPERM }, { "EACCES", EACCES }, { "ENOSYS", ENOSYS },
	{ "EAFNOSUPPORT", EAFNOSUPPORT }, { "EROFS", EROFS }, { "EINVAL", EINVAL },
	{ "ENOTSUP", ENOTSUP }, { "ENOTTY", ENOTTY },
};

static int
lookup(const struct named *t, size_t n, const char *name, uint64_t *v)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0) {
			*v = t[i].value;
			return 0;
		}
	return -1;
}

#define NCONST (sizeof(constants) / sizeof(constants[0]))
#define NERRNO (sizeof(errnos) / sizeof(errnos[0]))

/* VALUE: ['~'] term ('|' term)*, term a number or a constant name; a
 * leading '~' complements the whole value (as a mask: "every bit but
 * these", so "a3 & ~A|B == 0" says only bits A and B may be set). */
static int
parse_value(const char *tok, uint64_t *out)
{
	char buf[512];
	char *save = NULL, *t;
	uint64_t acc = 0;
	int complement = tok[0] == '~';

	tok += complement;
	size_t n = strlen(tok);

	/* strtok_r would skip empty terms: "|" alone would read as 0. */
	if (n == 0 || n >= sizeof(buf) || tok[0] == '|' || tok[n - 1] == '|' ||
	    strstr(tok, "||"))
		return -1;
	strcpy(buf, tok);
	for (t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
		uint64_t v;
		if (isdigit((unsigned char)t[0])) {
			char *end;
			int hex = t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
			/* Decimal or 0x hex only: a leading 0 is not octal here
			 * (file modes are written 0644 in C, and would mislead). */
			if (hex ? !isxdigit((unsigned char)t[2])
				: (t[0] == '0' && t[1] != '\0'))
				return -1;
			errno = 0;
			v = strtoull(hex ? t + 2 : t, &end, hex ? 16 : 10);
			if (errno || *end)
				return -1;
		} else if (lookup(constants, NCONST, t, &v))
			return -1;
		acc |= v;
	}
	*out = complement ? ~acc : acc;
	return 0;
}

static int
valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= POL_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

#define MAX_TOKENS 64

static int
tokenize(char *line, char **tok)
{
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
		if (n == MAX_TOKENS)
			return -1;
		tok[n++] = t;
	}
	return n;
}

/* Parse "aN == V" or "aN & M == V" starting at tok[*i]. */
static int
parse_cond(char **tok, int ntok, int *i, struct pol_cond *c)
{
	const char *a;
	uint64_t mask = ~0ULL, value;

	if (*i >= ntok)
		return -1;
	a = tok[(*i)++];
	if (a[0] != 'a' || a[1] < '0' || a[1] > '5' || a[2])
		return -1;
	c->arg = (unsigned)(a[1] - '0');
	if (*i < ntok && strcmp(tok[*i], "&") == 0) {
		if (*i + 1 >= ntok || parse_value(tok[*i + 1], &mask))
			return -1;
		*i += 2;
	}
	if (*i + 1 >= ntok || strcmp(tok[*i], "=="))
		return -1;
	c->runtime = 0;
	value = 0;
	if (tok[*i + 1][0] == '$') {
		/* Resolved at load time; only in a mask that leaves room for it. */
		for (size_t k = 1; k < sizeof(runtime_names) / sizeof(runtime_names[0]); k++)
			if (runtime_names[k] && strcmp(tok[*i + 1] + 1, runtime_names[k]) == 0)
				c->runtime = (unsigned)k;
		if (c->runtime == 0 || mask == ~0ULL)
			return -1;
	} else if (parse_value(tok[*i + 1], &value))
		return -1;
	*i += 2;
	if ((value & mask) != value)
		return -1; /* can never match: a policy bug */
	if (mask == 0)
		return -1; /* always matches: the condition would be void */
	c->mask = mask;
	c->value = value;
	return 0;
}

static int
add_rule(struct pol_seccomp *p, const char *name, enum pol_action a, int err,
	 unsigned line, struct pol_rule **out)
{
	if (!valid_name(name) || p->nrules == POL_MAX_RULES)
		return -1;
	struct pol_rule *r = &p->rules[p->nrules++];
	memset(r, 0, sizeof(*r));
	strcpy(r->name, name);
	r->action = a;
	r->err = err;
	r->line = line;
	if (out)
		*out = r;
	return 0;
}

static int
parse_line(struct pol_seccomp *p, char *line, unsigned lineno, int *have_default)
{
	char *tok[MAX_TOKENS];
	int ntok = tokenize(line, tok);
	uint64_t v;

	if (ntok < 0)
		return -1;
	if (ntok == 0)
		return 0;
	if (strcmp(tok[0], "default") == 0) {
		if (*have_default || ntok < 2)
			return -1;
		*have_default = 1;
		if (strcmp(tok[1], "kill") == 0 && ntok == 2)
			p->def_action = POL_KILL;
		else if (strcmp(tok[1], "allow") == 0 && ntok == 2)
			p->def_action = POL_ALLOW;
		else if (strcmp(tok[1], "errno") == 0 && ntok == 3 &&
			 lookup(errnos, NERRNO, tok[2], &v) == 0) {
			p->def_action = POL_ERRNO;
			p->def_err = (int)v;
		} else
			return -1;
		return 0;
	}
	if (strcmp(tok[0], "allow") == 0) {
		if (ntok < 2)
			return -1;
		/* Conditional form: exactly one syscall name, then "if". */
		if (ntok >= 3 && strcmp(tok[2], "if") == 0) {
			struct pol_rule *r;
			int i = 3;
			if (add_rule(p, tok[1], POL_ALLOW, 0, lineno, &r))
				return -1;
			for (;;) {
				if (r->ncond == POL_MAX_CONDS ||
				    parse_cond(tok, ntok, &i, &r->cond[r->ncond++]))
					return -1;
				if (i == ntok)
					return 0;
				if (strcmp(tok[i++], "and"))
					return -1;
			}
		}
		for (int i = 1; i < ntok; i++)
			if (add_rule(p, tok[i], POL_ALLOW, 0, lineno, NULL))
				return -1;
		return 0;
	}
	if (strcmp(tok[0], "errno") == 0) {
		if (ntok < 3 || lookup(errnos, NERRNO, tok[1], &v))
			return -1;
		for (int i = 2; i < ntok; i++)
			if (add_rule(p, tok[i], POL_ERRNO, (int)v, lineno, NULL))
				return -1;
		return 0;
	}
	if (strcmp(tok[0], "kill") == 0) {
		if (ntok < 2)
			return -1;
		for (int i = 1; i < ntok; i++)
			if (add_rule(p, tok[i], POL_KILL, 0, lineno, NULL))
				return -1;
		return 0;
	}
	return -1;
}

int
pol_parse(const char *text, struct pol_seccomp *out, char *err, size_t errlen)
{
	char line[1024];
	unsigned lineno = 0;
	int have_default = 0;
	const char *p = text;

	memset(out, 0, sizeof(*out));
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		lineno++;
		if (n >= sizeof(line)) {
			snprintf(err, errlen, "line %u: too long", lineno);
			return -1;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (parse_line(out, line, lineno, &have_default)) {
			snprintf(err, errlen, "line %u: bad statement", lineno);
			return -1;
		}
		p += n + (nl ? 1 : 0);
	}
	if (!have_default) {
		snprintf(err, errlen, "no default action");
		return -1;
	}
	/* libseccomp resolves two rules for one syscall silently (an
	 * unconditional rule wins): only alternatives of conditional allows
	 * may share a name. */
	for (size_t i = 0; i < out->nrules; i++)
		for (size_t j = i + 1; j < out->nrules; j++) {
			const struct pol_rule *a = &out->rules[i], *b = &out->rules[j];
			if (strcmp(a->name, b->name))
				continue;
			if (a->action == POL_ALLOW && b->action == POL_ALLOW && a->ncond && b->ncond)
				continue;
			snprintf(err, errlen, "line %u: %s already has a rule on line %u", b->line,
				 b->name, a->line);
			return -1;
		}
	return 0;
}

int
pol_caps_parse(const char *text, int *caps, size_t max, char *err, size_t errlen)
{
	char line[256];
	unsigned lineno = 0;
	size_t count = 0;
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *tok[MAX_TOKENS];
		int ntok;

		lineno++;
		if (n >= sizeof(line))
			goto bad;
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl ? 1 : 0);
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		ntok = tokenize(line, tok);
		if (ntok == 0)
			continue;
		if (ntok != 1 || strncmp(tok[0], "CAP_", 4) || count == max)
			goto bad;
		int cap = -1;
		static const struct named capnames[] = {
			{ "CHOWN", CAP_CHOWN }, { "DAC_OVERRIDE", CAP_DAC_OVERRIDE },
			{ "DAC_READ_SEARCH", CAP_DAC_READ_SEARCH }, { "FOWNER", CAP_FOWNER },
			{ "FSETID", CAP_FSETID }, { "KILL", CAP_KILL }, { "SETGID", CAP_SETGID },
			{ "SETUID", CAP_SETUID }, { "SETPCAP", CAP_SETPCAP },
			{ "MKNOD", CAP_MKNOD }, { "SYS_ADMIN", CAP_SYS_ADMIN },
			{ "SYS_RESOURCE", CAP_SYS_RESOURCE }, { "IPC_LOCK", CAP_IPC_LOCK },
			{ "SYS_CHROOT", CAP_SYS_CHROOT }, { "NET_ADMIN", CAP_NET_ADMIN },
			{ "SYS_PTRACE", CAP_SYS_PTRACE },
		};
		uint64_t v;
		if (lookup(capnames, sizeof(capnames) / sizeof(capnames[0]), tok[0] + 4, &v))
			goto bad;
		cap = (int)v;
		for (size_t i = 0; i < count; i++)
			if (caps[i] == cap)
				goto bad; /* listed twice */
		caps[count++] = cap;
	}
	return (int)count;
bad:
	snprintf(err, errlen, "line %u: bad capability line", lineno);
	return -1;
}
