/* The adversary harness (see adv.h). Test code: it runs as root beside the
 * real privd and does what a compromised frontend and a hostile pod can. */
#define _GNU_SOURCE
#include "adv.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc_chan.h"

static int n_passed, n_failed;

void
adv_check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", cond ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (cond)
		n_passed++;
	else
		n_failed++;
}

int
adv_summary(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, n_passed, n_failed);
	fflush(stdout);
	return n_failed ? 1 : 0;
}

const char *
adv_path(const struct adv *a, char *buf, size_t n, const char *rel)
{
	snprintf(buf, n, "%s/%s", a->dir, rel);
	return buf;
}

int
adv_mkdirs(const char *path)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -1;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- mountinfo ---------------------------------------------------------- */

/* Calls fn with each mount point as /proc/self/mountinfo spells it (octal
 * escapes kept: both sides of every comparison use that spelling). */
static void
each_mount_point(void (*fn)(void *, const char *), void *ctx)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok = strtok_r(line, " ", &save);
		for (int i = 1; tok && i < 5; i++)
			tok = strtok_r(NULL, " ", &save);
		if (tok)
			fn(ctx, tok);
	}
	free(line);
	fclose(f);
}

static void
remember_mount(void *ctx, const char *mp)
{
	struct adv *a = ctx;
	char **v = realloc(a->mounts_before, (a->nmounts_before + 1) * sizeof(*v));

	if (!v)
		return;
	a->mounts_before = v;
	if ((v[a->nmounts_before] = strdup(mp)) != NULL)
		a->nmounts_before++;
}

static int
below(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

struct outside_ctx {
	struct adv *a;
	const char *const *allowed;
	int count;
	char *out;
	size_t n;
};

static void
check_outside(void *ctx, const char *mp)
{
	struct outside_ctx *c = ctx;

	for (size_t i = 0; i < c->a->nmounts_before; i++)
		if (strcmp(c->a->mounts_before[i], mp) == 0)
			return;
	for (size_t i = 0; c->allowed && c->allowed[i]; i++)
		if (below(mp, c->allowed[i]))
			return;
	if (c->count++ == 0 && c->out)
		snprintf(c->out, c->n, "%s", mp);
}

int
adv_new_mounts_outside(struct adv *a, const char *const *allowed, char *out, size_t n)
{
	struct outside_ctx c = { a, allowed, 0, out, n };

	if (out && n)
		out[0] = '\0';
	each_mount_point(check_outside, &c);
	return c.count;
}

/* ---- privd -------------------------------------------------------------- */

static const char *
bin_dir(void)
{
	const char *d = getenv("LCW_BIN_DIR");
	return d && d[0] ? d : "build/bin";
}

static void __attribute__((noreturn))
exec_privd(struct adv *a, const char *const *extra)
{
	char privd[PATH_MAX], hostile[PATH_MAX], ep[400], fe[PATH_MAX + 20], kr[340], au[340],
		vr[340], vm[340];
	const char *argv[64];
	size_t n = 0;
	int logfd;

	snprintf(privd, sizeof(privd), "%s/lukscryptwalker-csi", bin_dir());
	snprintf(hostile, sizeof(hostile), "%s/../tests/hostile_frontend", bin_dir());
	if (!realpath(hostile, fe + 16)) {
		fprintf(stderr, "adv: no hostile frontend at %s\n", hostile);
		_exit(126);
	}
	memcpy(fe, "--frontend-path=", 16);
	snprintf(ep, sizeof(ep), "--endpoint=unix://%s", a->sock);
	snprintf(kr, sizeof(kr), "--kubelet-root=%s", a->kubelet_root);
	snprintf(au, sizeof(au), "--audit-log=%s", a->audit);
	snprintf(vr, sizeof(vr), "--vfs-cache-root=%s", a->vfs_root);
	snprintf(vm, sizeof(vm), "--vfs-cache-mount=%s", a->vfs_mount);
	argv[n++] = privd;
	argv[n++] = "--nodeid=adv-node";
	argv[n++] = ep;
	argv[n++] = fe;
	argv[n++] = kr;
	argv[n++] = au;
	argv[n++] = vr;
	argv[n++] = vm;
	argv[n++] = "--log-level=debug";
	for (size_t i = 0; extra && extra[i] && n + 1 < sizeof(argv) / sizeof(argv[0]); i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	logfd = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		_exit(126);
	setenv("CSI_LOCAL_PATH", a->local_root, 1);
	unsetenv("AWS_CA_BUNDLE");
	execv(privd, (char *const *)argv);
	fprintf(stderr, "adv: exec %s: %s\n", privd, strerror(errno));
	_exit(127);
}

/* The hostile frontend passes the channel on its socket; privd may take a
 * moment to start it. */
static int
receive_channel(struct adv *a, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(a->sock) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, a->sock, strlen(a->sock) + 1);
	while (mono_ms() < deadline) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			char byte;
			struct iovec iov = { &byte, 1 };
			union {
				struct cmsghdr h;
				char buf[CMSG_SPACE(sizeof(int))];
			} u;
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
					     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
			ssize_t r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			int fd = -1;
			if (r == 1 && c && c->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(c), sizeof(int));
			close(s);
			if (fd < 0)
				fprintf(stderr, "adv: hand-over gave no descriptor (r=%zd errno=%d)\n", r, errno);
			return fd;
		}
		if (s >= 0)
			close(s);
		if (!adv_privd_alive(a))
			return -1;
		usleep(50 * 1000);
	}
	return -1;
}

int
adv_start(struct adv *a, const char *base, const char *const *extra)
{
	char tmpl[200];
	const char *t = base ? base : getenv("TMPDIR");

	memset(a, 0, sizeof(*a));
	a->chan = -1;
	a->privd = -1;
	snprintf(tmpl, sizeof(tmpl), "%s/adv.XXXXXX", t && t[0] ? t : "/tmp");
	if (!mkdtemp(tmpl) || chmod(tmpl, 0755))
		return -1;
	snprintf(a->dir, sizeof(a->dir), "%s", tmpl);
	adv_path(a, a->kubelet_root, sizeof(a->kubelet_root), "kubelet");
	adv_path(a, a->local_root, sizeof(a->local_root), "local");
	adv_path(a, a->vfs_root, sizeof(a->vfs_root), "vfs-cache");
	adv_path(a, a->vfs_mount, sizeof(a->vfs_mount), "run/vfs-cache");
	adv_path(a, a->sock, sizeof(a->sock), "csi/csi.sock");
	adv_path(a, a->log, sizeof(a->log), "privd.log");
	adv_path(a, a->audit, sizeof(a->audit), "audit.log");
	if (adv_mkdirs(a->kubelet_root) || adv_mkdirs(a->local_root))
		return -1;
	each_mount_point(remember_mount, a);
	a->privd = fork();
	if (a->privd < 0)
		return -1;
	if (a->privd == 0)
		exec_privd(a, extra);
	a->chan = receive_channel(a, 20000);
	if (a->chan < 0) {
		fprintf(stderr, "adv: no privd channel; privd log %s follows\n", a->log);
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "tail -20 '%s' >&2", a->log);
		if (system(cmd)) {
			/* the log is only a diagnostic */
		}
		return -1;
	}
	return 0;
}

int
adv_reconnect(struct adv *a)
{
	if (a->chan >= 0)
		close(a->chan);
	/* privd restarts a lost frontend after a backoff of its own. */
	a->chan = receive_channel(a, 30000);
	return a->chan < 0 ? -1 : 0;
}

int
adv_privd_alive(struct adv *a)
{
	int st;

	if (a->privd <= 0)
		return 0;
	if (waitpid(a->privd, &st, WNOHANG) == a->privd) {
		a->privd = -1;
		return 0;
	}
	return kill(a->privd, 0) == 0;
}

long
adv_send(struct adv *a, struct ipc_msg *req)
{
	req->id = ++a->next_id;
	return ipc_send(a->chan, req, -1) ? -1 : (long)req->id;
}

int
adv_send_raw(struct adv *a, const void *buf, size_t n)
{
	return send(a->chan, buf, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

int
adv_recv(struct adv *a, struct ipc_msg *ans, int timeout_ms)
{
	struct pollfd p = { a->chan, POLLIN, 0 };
	int rc = poll(&p, 1, timeout_ms);

	if (rc <= 0)
		return -1;
	return ipc_recv(a->chan, IPC_FROM_PRIVD, ans, NULL);
}

int
adv_call(struct adv *a, struct ipc_msg *req, struct ipc_msg *ans, int timeout_ms)
{
	long id = adv_send(a, req);
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;

	if (id < 0)
		return -1;
	for (;;) {
		uint64_t now = mono_ms();
		if (now >= deadline)
			return -1;
		if (adv_recv(a, ans, (int)(deadline - now)))
			return -1;
		if (ans->id == (uint32_t)id)
			return 0;
	}
}

long
adv_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ---- teardown ----------------------------------------------------------- */

struct under_ctx {
	const char *dir;
	char **v;
	size_t n;
};

static void
collect_under(void *ctx, const char *mp)
{
	struct under_ctx *c = ctx;
	char **v;

	if (!below(mp, c->dir) || !(v = realloc(c->v, (c->n + 1) * sizeof(*v))))
		return;
	c->v = v;
	if ((v[c->n] = strdup(mp)) != NULL)
		c->n++;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void
adv_stop(struct adv *a)
{
	if (a->chan >= 0)
		close(a->chan);
	a->chan = -1;
	if (adv_privd_alive(a)) {
		kill(a->privd, SIGTERM);
		for (int i = 0; i < 200 && adv_privd_alive(a); i++)
			usleep(100 * 1000);
		if (adv_privd_alive(a)) {
			kill(a->privd, SIGKILL);
			waitpid(a->privd, NULL, 0);
		}
	}
	/* Deepest first: later entries in mountinfo sit on earlier ones. */
	for (int round = 0; round < 4; round++) {
		struct under_ctx c = { a->dir, NULL, 0 };
		each_mount_point(collect_under, &c);
		for (size_t i = c.n; i-- > 0;) {
			umount2(c.v[i], MNT_DETACH);
			free(c.v[i]);
		}
		free(c.v);
		if (c.n == 0)
			break;
	}
	if (a->dir[0] && !getenv("ADV_KEEP"))
		nftw(a->dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	for (size_t i = 0; i < a->nmounts_before; i++)
		free(a->mounts_before[i]);
	free(a->mounts_before);
	a->mounts_before = NULL;
	a->nmounts_before = 0;
}
