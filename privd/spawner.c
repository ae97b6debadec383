/* The spawner: the only process that forks and execs.
 *
 * seccomp filters survive execve, so a privd that exec'd tools itself would
 * either need execve in its allowlist or would run every tool under its own
 * narrow filter. Instead privd forks this small process before it confines
 * itself. The spawner keeps only what starting children needs, loads the
 * children's policy (policy/spawner.seccomp, a denylist every child
 * inherits) and then starts exactly the programs privd names by type: today
 * the frontend, later mkfs/resize tools and rclone, each from a fixed path
 * with an argv built here, an explicit environment, and the capabilities of
 * its role. It reaps children and tells privd when one exits. */
#define _GNU_SOURCE
#include "spawner.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "ipc_chan.h"
#include "log.h"
#include "policy.h"

#define STOP_GRACE_S 15

static const struct spawner_config *cfg;
static pid_t frontend_pid = -1;
static struct pol_seccomp pol;

/* Pass through only the sanitizer settings of test builds; nothing else of
 * our environment reaches a child. */
static void
child_env(char **env, size_t max)
{
	static const char *const keep[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
	static char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	size_t n = 0;

	env[n++] = path;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]) && n + 1 < max; i++) {
		const char *v = getenv(keep[i]);
		if (v) {
			static char bufs[3][1024];
			snprintf(bufs[i], sizeof(bufs[i]), "%s=%s", keep[i], v);
			env[n++] = bufs[i];
		}
	}
	env[n] = NULL;
}

/* In the forked child: become the frontend. Never returns. */
static void __attribute__((noreturn))
exec_frontend(int sock)
{
	char a_fd[32], a_sock[4200], a_node[300], a_mode[32], a_lvl[32];
	char *argv[8], *env[8];
	int devnull;

	/* The channel becomes fd 3; everything else above 2 is closed. */
	if (sock != 3) {
		if (dup2(sock, 3) < 0)
			_exit(120);
		close(sock);
	} else if (fcntl(3, F_SETFD, 0) < 0)
		_exit(120);
	close_range(4, ~0U, 0);
	devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0 && devnull != 0) {
		dup2(devnull, 0);
		close(devnull);
	}
	/* Non-root uid and gid, no supplementary groups, no capabilities in
	 * any set (bounding and ambient included). */
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_change_id((int)cfg->frontend_uid, (int)cfg->frontend_gid,
			    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING))
		_exit(121);
	/* No parent-death signal: if privd dies, the frontend learns it from
	 * the closed channel and exits non-zero on its own. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		_exit(122);

	snprintf(a_fd, sizeof(a_fd), "--ipc-fd=3");
	snprintf(a_sock, sizeof(a_sock), "--socket=%s", cfg->socket_path);
	snprintf(a_node, sizeof(a_node), "--nodeid=%s", cfg->nodeid);
	snprintf(a_mode, sizeof(a_mode), "--mode=%s", cfg->controller ? "controller" : "node");
	snprintf(a_lvl, sizeof(a_lvl), "--log-level=%d", cfg->log_level);
	argv[0] = (char *)"lcw-frontend";
	argv[1] = a_fd;
	argv[2] = a_sock;
	argv[3] = a_node;
	argv[4] = a_mode;
	argv[5] = a_lvl;
	argv[6] = NULL;
	child_env(env, sizeof(env) / sizeof(env[0]));
	execve(cfg->frontend_path, argv, env);
	_exit(127);
}

static int
spawn_frontend(int fe_sock, uint32_t *pid_out, int *err)
{
	pid_t pid;

	if (frontend_pid > 0) {
		*err = EBUSY;
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		*err = errno;
		return -1;
	}
	if (pid == 0)
		exec_frontend(fe_sock);
	frontend_pid = pid;
	*pid_out = (uint32_t)pid;
	return 0;
}

static void
reap(int chan)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct ipc_msg note = { .type = IPC_NOTE_CHILD_EXIT, .id = 0 };
		if (pid == frontend_pid)
			frontend_pid = -1;
		note.u.child_exit.role = IPC_ROLE_FRONTEND;
		note.u.child_exit.pid = (uint32_t)pid;
		note.u.child_exit.wstatus = (uint32_t)st & 0xffff;
		if (chan >= 0)
			ipc_send(chan, &note, -1);
	}
}

/* Stop every child: SIGTERM, a grace period, then SIGKILL. */
static void
stop_children(void)
{
	time_t end = time(NULL) + STOP_GRACE_S;

	if (frontend_pid > 0)
		kill(frontend_pid, SIGTERM);
	while (time(NULL) < end) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid < 0 && errno == ECHILD)
			return;
		if (pid == frontend_pid)
			frontend_pid = -1;
		if (pid <= 0)
			usleep(50000);
	}
	if (frontend_pid > 0) {
		log_warn("frontend did not stop within %d s; killing it", STOP_GRACE_S);
		kill(frontend_pid, SIGKILL);
	}
	while (waitpid(-1, NULL, 0) > 0)
		;
}

static void
confine(void)
{
	char err[256];
	int caps[16];
	int n;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		fatal(2, "spawner: cannot set non-dumpable");
	n = pol_caps_parse(policy_spawner_caps, caps, 16, err, sizeof(err));
	if (n < 0 || pol_caps_apply(caps, (size_t)n, err, sizeof(err)))
		fatal(2, "spawner capabilities: %s", err);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		fatal(2, "spawner: cannot set no_new_privs");
	if (pol_parse(policy_spawner_seccomp, &pol, err, sizeof(err)) ||
	    pol_seccomp_load(&pol, 0, err, sizeof(err)))
		fatal(2, "spawner seccomp policy: %s", err);
}

void
spawner_main(int chan, const struct spawner_config *c)
{
	sigset_t ss;
	int sigfd;

	cfg = c;
	log_init("spawner", c->log_level);
	prctl(PR_SET_NAME, "lcw-spawner");
	/* If privd dies, we go too (the closed channel also tells us). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	sigfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0)
		fatal(2, "spawner: signalfd: %s", strerror(errno));
	confine();

	for (;;) {
		struct pollfd p[2] = { { chan, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fatal(1, "spawner: poll: %s", strerror(errno));
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				; /* SIGTERM/SIGINT are privd's to act on */
			reap(chan);
		}
		if (!p[0].revents)
			continue;

		struct ipc_msg m, ans;
		int fd = -1, rc = ipc_recv(chan, IPC_FROM_PRIVD, &m, &fd);
		if (rc) {
			log_warn("privd channel closed (%s): stopping children", ipc_chan_strerror(rc));
			stop_children();
			_exit(rc == IPC_CHAN_EOF ? 0 : 1);
		}
		memset(&ans, 0, sizeof(ans));
		ans.id = m.id;
		switch (m.type) {
		case IPC_REQ_SPAWN_FRONTEND: {
			int err = 0;
			uint64_t t0 = audit_now_ns();
			if (fd < 0)
				fatal(1, "spawner: SPAWN_FRONTEND without a socket");
			if (spawn_frontend(fd, &ans.u.spawn_ans.pid, &err) == 0) {
				ans.type = IPC_ANS_SPAWN;
			} else {
				ans.type = IPC_ANS_ERROR;
				ans.u.error.err_class = IPC_EC_INTERNAL;
				ans.u.error.sys_errno = (uint32_t)err;
				snprintf(ans.u.error.msg, sizeof(ans.u.error.msg), "fork: %s", strerror(err));
			}
			char detail[64];
			snprintf(detail, sizeof(detail), "pid %u uid %u", ans.u.spawn_ans.pid,
				 (unsigned)cfg->frontend_uid);
			audit_write(&(struct audit_rec){ .op = "spawn_frontend",
				.paths = { cfg->frontend_path, cfg->socket_path, NULL },
				.ok = ans.type == IPC_ANS_SPAWN, .err = err, .start_ns = t0,
				.detail = detail });
			close(fd);
			break;
		}
		case IPC_REQ_SPAWNER_STOP:
			if (fd >= 0)
				close(fd);
			stop_children();
			ans.type = IPC_ANS_SPAWNER_STOP;
			ipc_send(chan, &ans, -1);
			_exit(0);
		default:
			fatal(1, "spawner: unexpected %s", ipc_type_name(m.type));
		}
		if (ipc_send(chan, &ans, -1))
			fatal(1, "spawner: cannot answer privd");
	}
}
