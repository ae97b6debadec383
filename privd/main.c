/* lukscryptwalker-csi: privd, the root helper, and the driver's entry point.
 *
 * Start-up order (see SECURITY.md):
 *   1. parse flags, open the audit log, prepare the socket directory;
 *   2. create the frontend and spawner channels (SOCK_SEQPACKET);
 *   3. fork the spawner (it confines itself and starts the frontend);
 *   4. confine privd: non-dumpable, capabilities reduced to policy/privd.caps,
 *      no_new_privs, then the seccomp allowlist policy/privd.seccomp last;
 *   5. serve the frontend's requests from the dispatch table, restart the
 *      frontend with backoff when it dies, stop everything on SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "dispatch.h"
#include "flags.h"
#include "ipc_chan.h"
#include "log.h"
#include "policy.h"
#include "socket_dir.h"
#include "spawner.h"
#include "version.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_AFTER_MS 60000

static struct lcw_flags flags;
static struct pol_seccomp pol;
static char frontend_path[PATH_MAX];

struct supervisor {
	int spawner;        /* channel to the spawner */
	int fe;             /* channel to the current frontend, -1 if none */
	uint64_t fe_started;
	unsigned backoff_ms;
	uint64_t respawn_at; /* monotonic ns; 0 = nothing scheduled */
	uint32_t next_id;
	int stopping;
};

static uint64_t
now_ns(void)
{
	return audit_now_ns();
}

static void
find_frontend(void)
{
	char self[PATH_MAX];
	ssize_t n;

	if (flags.frontend_path[0]) {
		snprintf(frontend_path, sizeof(frontend_path), "%s", flags.frontend_path);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			fatal(2, "cannot find our own binary: %s", strerror(errno));
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		*slash = '\0';
		if (strlen(self) + sizeof("/lcw-frontend") > sizeof(frontend_path))
			fatal(2, "binary path too long");
		strcpy(frontend_path, self);
		strcat(frontend_path, "/lcw-frontend");
	}
	if (access(frontend_path, X_OK))
		fatal(2, "frontend binary %s: %s", frontend_path, strerror(errno));
}

/* Ask the spawner for a new frontend on a fresh channel. */
static void
start_frontend(struct supervisor *s)
{
	int sp[2];
	struct ipc_msg req = { .type = IPC_REQ_SPAWN_FRONTEND }, ans;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		fatal(1, "socketpair: %s", strerror(errno));
	req.id = ++s->next_id ? s->next_id : ++s->next_id;
	if (ipc_send(s->spawner, &req, sp[1]))
		fatal(1, "spawner channel lost");
	close(sp[1]);
	/* The spawner answers this request before anything else it sends
	 * could matter; child-exit notes may come first and are fine. */
	for (;;) {
		int rc = ipc_recv(s->spawner, IPC_FROM_SPAWNER, &ans, NULL);
		if (rc)
			fatal(1, "spawner channel: %s", ipc_chan_strerror(rc));
		if (ans.type == IPC_NOTE_CHILD_EXIT)
			continue;
		if (ans.id != req.id)
			fatal(1, "spawner answered out of order");
		break;
	}
	if (ans.type != IPC_ANS_SPAWN) {
		log_error("cannot start the frontend: %s", ans.u.error.msg);
		close(sp[0]);
		s->respawn_at = now_ns() + (uint64_t)s->backoff_ms * 1000000u;
		return;
	}
	log_info("frontend started, pid %u", ans.u.spawn_ans.pid);
	s->fe = sp[0];
	s->fe_started = now_ns();
	s->respawn_at = 0;
}

static void
frontend_lost(struct supervisor *s, const char *why)
{
	uint64_t ran_ms = (now_ns() - s->fe_started) / 1000000u;

	close(s->fe);
	s->fe = -1;
	if (s->stopping)
		return;
	if (ran_ms >= STABLE_AFTER_MS)
		s->backoff_ms = BACKOFF_MIN_MS;
	log_warn("frontend gone (%s) after %llu ms; restarting in %u ms", why,
		 (unsigned long long)ran_ms, s->backoff_ms);
	s->respawn_at = now_ns() + (uint64_t)s->backoff_ms * 1000000u;
	s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static void
serve_frontend(struct supervisor *s, struct privd_state *st)
{
	struct ipc_msg req, ans;
	const struct privd_op *op;
	int rc = ipc_recv(s->fe, IPC_FROM_FRONTEND, &req, NULL);

	if (rc) {
		/* EOF, or a message outside the protocol: either way the peer
		 * is dropped; a confused frontend is not given a second word. */
		if (rc != IPC_CHAN_EOF)
			audit_write(&(struct audit_rec){ .op = "reject_frontend_message",
				.ok = 0, .start_ns = now_ns(), .detail = ipc_chan_strerror(rc) });
		frontend_lost(s, ipc_chan_strerror(rc));
		return;
	}
	op = privd_op_find(req.type);
	if (op == NULL) {
		audit_write(&(struct audit_rec){ .op = "reject_frontend_message", .ok = 0,
			.start_ns = now_ns(), .detail = "request type without handler" });
		frontend_lost(s, "unhandled request type");
		return;
	}
	memset(&ans, 0, sizeof(ans));
	ans.id = req.id;
	op->fn(st, &req, &ans);
	explicit_bzero(&req, sizeof(req));
	if (ipc_send(s->fe, &ans, -1))
		frontend_lost(s, "cannot answer");
}

static void
on_spawner_message(struct supervisor *s)
{
	struct ipc_msg m;
	int rc = ipc_recv(s->spawner, IPC_FROM_SPAWNER, &m, NULL);

	if (rc)
		fatal(1, "spawner gone (%s)", ipc_chan_strerror(rc));
	if (m.type == IPC_NOTE_CHILD_EXIT) {
		char detail[96];
		int st = (int)m.u.child_exit.wstatus;
		if (WIFSIGNALED(st))
			snprintf(detail, sizeof(detail), "pid %u killed by signal %d",
				 m.u.child_exit.pid, WTERMSIG(st));
		else
			snprintf(detail, sizeof(detail), "pid %u exited with %d",
				 m.u.child_exit.pid, WEXITSTATUS(st));
		audit_write(&(struct audit_rec){ .op = "child_exit", .ok = WIFEXITED(st) &&
			WEXITSTATUS(st) == 0, .start_ns = now_ns(), .detail = detail });
		return;
	}
	fatal(1, "spawner sent unexpected %s", ipc_type_name(m.type));
}

static void
stop_all(struct supervisor *s)
{
	struct ipc_msg req = { .type = IPC_REQ_SPAWNER_STOP }, ans;

	s->stopping = 1;
	req.id = ++s->next_id ? s->next_id : ++s->next_id;
	if (ipc_send(s->spawner, &req, -1) == 0) {
		while (ipc_recv(s->spawner, IPC_FROM_SPAWNER, &ans, NULL) == 0)
			if (ans.type == IPC_ANS_SPAWNER_STOP)
				break;
	}
	if (s->fe >= 0)
		close(s->fe);
}

static void
confine(void)
{
	char err[256];
	int caps[16];
	int n;
	struct rlimit zero = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) || setrlimit(RLIMIT_CORE, &zero))
		fatal(2, "cannot make privd non-dumpable");
	n = pol_caps_parse(policy_privd_caps, caps, 16, err, sizeof(err));
	if (n < 0 || pol_caps_apply(caps, (size_t)n, err, sizeof(err)))
		fatal(2, "privd capabilities: %s", err);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		fatal(2, "cannot set no_new_privs");
	if (pol_parse(policy_privd_seccomp, &pol, err, sizeof(err)) ||
	    pol_seccomp_load(&pol, 1, err, sizeof(err)))
		fatal(2, "privd seccomp policy: %s", err);
}

int
main(int argc, char **argv)
{
	char err[512];
	struct supervisor s = { .fe = -1, .backoff_ms = BACKOFF_MIN_MS };
	struct privd_state st = { .started_ns = now_ns() };
	struct spawner_config sc;
	int sp[2], sigfd;
	sigset_t ss;
	pid_t pid;

	if (flags_parse(argc, argv, &flags, err, sizeof(err))) {
		fprintf(stderr, "lukscryptwalker-csi: %s\n", err);
		return 2;
	}
	if (flags.show_version) {
		printf("lukscryptwalker-csi version: %s (driver %s)\n", LCW_VERSION, LCW_DRIVER_NAME);
		return 0;
	}
	log_init("privd", flags.log_level);
	if (geteuid() != 0)
		fatal(2, "lukscryptwalker-csi must start as root (it drops to the documented "
			 "capabilities itself; the CSI frontend runs as uid %u)",
		      (unsigned)flags.frontend_uid);
	find_frontend();
	if (audit_open(flags.audit_log))
		fatal(2, "cannot open audit log %s: %s", flags.audit_log, strerror(errno));
	if (socket_dir_prepare(flags.socket_path, flags.frontend_uid, flags.frontend_gid,
			       err, sizeof(err)))
		fatal(2, "endpoint %s: %s", flags.endpoint, err);

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		fatal(2, "socketpair: %s", strerror(errno));
	sc = (struct spawner_config){ frontend_path, flags.socket_path, flags.nodeid,
				      flags.mode == MODE_CONTROLLER, flags.log_level,
				      flags.frontend_uid, flags.frontend_gid };
	pid = fork();
	if (pid < 0)
		fatal(2, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(sp[0]);
		spawner_main(sp[1], &sc);
	}
	close(sp[1]);
	s.spawner = sp[0];
	/* SIGCHLD of the spawner itself is seen as EOF on its channel. */
	sigdelset(&ss, SIGCHLD);
	sigfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0)
		fatal(2, "signalfd: %s", strerror(errno));

	log_info("lukscryptwalker-csi %s starting: node %s, %s mode, endpoint %s",
		 LCW_VERSION, flags.nodeid, flags.mode == MODE_CONTROLLER ? "controller" : "node",
		 flags.endpoint);
	confine();
	audit_write(&(struct audit_rec){ .op = "privd_start", .ok = 1, .start_ns = now_ns(),
		.paths = { flags.socket_path, NULL }, .detail = LCW_VERSION });
	start_frontend(&s);

	for (;;) {
		struct pollfd p[3] = { { sigfd, POLLIN, 0 }, { s.spawner, POLLIN, 0 },
				       { s.fe, POLLIN, 0 } };
		int timeout = -1;

		if (s.fe < 0 && s.respawn_at) {
			uint64_t n = now_ns();
			if (n >= s.respawn_at) {
				start_frontend(&s);
				continue;
			}
			timeout = (int)((s.respawn_at - n) / 1000000u) + 1;
		}
		if (poll(p, s.fe >= 0 ? 3 : 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fatal(1, "poll: %s", strerror(errno));
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				log_info("signal %u: stopping", si.ssi_signo);
				stop_all(&s);
				audit_write(&(struct audit_rec){ .op = "privd_stop", .ok = 1,
					.start_ns = now_ns() });
				return 0;
			}
		}
		if (p[1].revents)
			on_spawner_message(&s);
		if (s.fe >= 0 && p[2].revents)
			serve_frontend(&s, &st);
	}
}
