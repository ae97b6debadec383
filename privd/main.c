/* lukscryptwalker-csi: privd, the root helper, and the driver's entry point.
 *
 * Start-up order (see SECURITY.md):
 *   1. parse flags, open the audit log, prepare the socket directory;
 *   2. create the frontend and spawner channels (SOCK_SEQPACKET);
 *   3. fork the spawner (it confines itself and starts the frontend);
 *   4. confine privd: non-dumpable, capabilities reduced to policy/privd.caps,
 *      no_new_privs, then the seccomp allowlist policy/privd.seccomp last;
 *   5. serve the frontend's requests from the dispatch table (slow ones on
 *      worker threads, which inherit the filter), restart the frontend with
 *      backoff when it dies, stop everything on SIGTERM.
 * In controller mode no root helper is needed: the process drops to the
 * frontend's uid and becomes the frontend.
 *
 * A little over 600 lines because the order above is the security argument:
 * every step from flags to the last seccomp filter reads top to bottom in
 * this one file, with nothing opened or started between them elsewhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
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
#include "ipc_rpc.h"
#include "jobq.h"
#include "k8s_client.h"
#include "kdf_budget.h"
#include "capacity_pub.h"
#include "reclaimer.h"
#include "s3_purge.h"
#include "s3_volume.h"
#include "keyed_lock.h"
#include "volume_ops.h"
#include "log.h"
#include "policy.h"
#include "privd.h"
#include "socket_dir.h"
#include "spawner.h"
#include "spawner_client.h"
#include "version.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_AFTER_MS 60000
#define NUM_WORKERS 8
#define DRAIN_S 30
/* A frontend that does not read its answers for this long is dropped
 * (restarted), so it cannot park privd's main thread in send. */
#define ANSWER_TIMEOUT_MS 10000

static struct privd_config cfg;
static struct lcw_flags flags;
static struct pol_seccomp pol;
static char frontend_path[PATH_MAX];
static struct rpc_chan spawner_rpc;

/* The frontend channel may be replaced (restart) while a worker runs: an
 * answer is sent only if its generation is still current. */
static pthread_mutex_t fe_mu = PTHREAD_MUTEX_INITIALIZER;
static int fe_fd = -1;
static unsigned fe_gen;

/* Slow requests wait in a bounded pool (jobq.h); job_mu guards it. */
static pthread_mutex_t job_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cv = PTHREAD_COND_INITIALIZER;
static struct jobq jobs;
/* What every handler is given (privd/node/privd_ctx.h). */
static struct privd_ctx pctx = { .kubelet_root = cfg.kubelet_root, .nodeid = cfg.nodeid,
				 .luks = &cfg.luks, .s3 = &cfg.s3, .tools = &spawner_tools };

struct supervisor {
	uint64_t fe_started;
	unsigned backoff_ms;
	uint64_t respawn_at; /* monotonic ns; 0 = nothing scheduled */
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

/* ---- answers and workers ----------------------------------------------- */

/* Send one answer on the frontend channel, which privd keeps non-blocking:
 * wait at most ANSWER_TIMEOUT_MS for room, then shut the channel down (the
 * main loop sees EOF and restarts the frontend). Callers hold fe_mu. */
static void
send_answer_locked(const struct ipc_msg *ans)
{
	static unsigned warned_gen = ~0u;
	uint64_t deadline = now_ns() + (uint64_t)ANSWER_TIMEOUT_MS * 1000000u;
	int rc;

	while ((rc = ipc_send(fe_fd, ans, -1)) == IPC_CHAN_SYS &&
	       (errno == EAGAIN || errno == EWOULDBLOCK)) {
		uint64_t n = now_ns();
		struct pollfd p = { fe_fd, POLLOUT, 0 };
		if (n >= deadline || poll(&p, 1, (int)((deadline - n) / 1000000u) + 1) < 0)
			break;
	}
	if (rc == 0)
		return;
	if (warned_gen != fe_gen) { /* once per frontend, not per answer */
		warned_gen = fe_gen;
		log_warn("cannot answer the frontend (%s); dropping its channel",
			 ipc_chan_strerror(rc));
	}
	shutdown(fe_fd, SHUT_RDWR);
}

static void
send_answer(unsigned gen, const struct ipc_msg *ans)
{
	pthread_mutex_lock(&fe_mu);
	if (gen == fe_gen && fe_fd >= 0)
		send_answer_locked(ans);
	pthread_mutex_unlock(&fe_mu);
}

/* Run one request; req is wiped afterwards (it may hold a passphrase). */
static void
run_job(const struct privd_op *op, unsigned gen, struct ipc_msg *req)
{
	struct ipc_msg ans;
	char id[IPC_VOLID_MAX + 1] = "";
	const char *vid = jobq_req_volume(req);

	memset(&ans, 0, sizeof(ans));
	ans.id = req->id;
	if (vid[0]) {
		snprintf(id, sizeof(id), "%s", vid);
		keyed_lock(id); /* against the reclaimer */
	}
	op->fn(&pctx, req, &ans);
	if (id[0])
		keyed_unlock(id);
	explicit_bzero(req, sizeof(*req));
	if (ans.type == 0)
		privd_answer_error(&ans, IPC_EC_INTERNAL, 0, "handler gave no answer");
	send_answer(gen, &ans);
	explicit_bzero(&ans, sizeof(ans));
}

static void *
worker(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "privd-worker");
	pthread_mutex_lock(&job_mu);
	for (;;) {
		struct jobq_job *j = jobq_take(&jobs);
		if (j == NULL) {
			pthread_cond_wait(&job_cv, &job_mu);
			continue;
		}
		pthread_mutex_unlock(&job_mu);
		/* The slot is ours while RUNNING: nobody else touches it. */
		run_job(j->op, j->gen, &j->req);
		pthread_mutex_lock(&job_mu);
		jobq_done(&jobs, j);
		/* a job of the same volume may be startable now */
		pthread_cond_broadcast(&job_cv);
	}
	return NULL;
}

/* Queue a slow request, or answer it at once with a retryable error when
 * a bound is reached: ABORTED-class for a volume that already has its
 * requests in flight (the CSI code for "operation pending"), UNAVAILABLE
 * when privd as a whole is saturated. Nothing is allocated either way. */
static void
enqueue(const struct privd_op *op, const struct ipc_msg *req, unsigned gen)
{
	struct ipc_msg ans;
	int rc;

	pthread_mutex_lock(&job_mu);
	rc = jobq_push(&jobs, op, gen, req);
	if (rc == JOBQ_OK)
		pthread_cond_signal(&job_cv);
	pthread_mutex_unlock(&job_mu);
	if (rc == JOBQ_OK)
		return;
	memset(&ans, 0, sizeof(ans));
	ans.id = req->id;
	if (rc == JOBQ_E_VOLUME)
		privd_answer_error(&ans, IPC_EC_BUSY, 0,
				   "volume %s already has %d operations in flight; retry later",
				   jobq_req_volume(req), JOBQ_PER_VOLUME);
	else
		privd_answer_error(&ans, IPC_EC_UNAVAILABLE, 0,
				   "privd has %d volume operations in flight; retry later",
				   JOBQ_MAX);
	send_answer(gen, &ans);
}

/* The frontend generation changed: its queued requests will never be
 * answered, so drop them (wiped) instead of running them. */
static void
drop_stale_jobs(unsigned gen)
{
	pthread_mutex_lock(&job_mu);
	size_t n = jobq_drop_stale(&jobs, gen, 0);
	pthread_mutex_unlock(&job_mu);
	if (n)
		log_info("dropped %zu queued requests of a lost frontend", n);
}

/* On shutdown, let running volume operations finish (bounded): stopping
 * half-way is safe (every call is retryable) but finishing is kinder. */
static void
drain_jobs(void)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += DRAIN_S;
	pthread_mutex_lock(&job_mu);
	jobq_drop_stale(&jobs, 0, 1); /* queued but not started: drop */
	while (jobq_count(&jobs, JOBQ_RUNNING, NULL) > 0)
		if (pthread_cond_timedwait(&job_cv, &job_mu, &dl) == ETIMEDOUT) {
			log_warn("%zu volume operations still running at exit",
				 jobq_count(&jobs, JOBQ_RUNNING, NULL));
			break;
		}
	pthread_mutex_unlock(&job_mu);
}

/* ---- spawner ----------------------------------------------------------- */

static void
on_spawner_message(const struct ipc_msg *m)
{
	if (m->type == IPC_NOTE_CHILD_EXIT) {
		if (m->u.child_exit.role == IPC_ROLE_RCLONE)
			s3_rclone_exited((int)m->u.child_exit.pid, (int)m->u.child_exit.wstatus);
		char detail[96];
		int st = (int)m->u.child_exit.wstatus;
		if (WIFSIGNALED(st))
			snprintf(detail, sizeof(detail), "pid %u killed by signal %d",
				 m->u.child_exit.pid, WTERMSIG(st));
		else
			snprintf(detail, sizeof(detail), "pid %u exited with %d",
				 m->u.child_exit.pid, WEXITSTATUS(st));
		audit_write(&(struct audit_rec){ .op = "child_exit", .ok = WIFEXITED(st) &&
			WEXITSTATUS(st) == 0, .start_ns = now_ns(), .detail = detail });
		return;
	}
	if (rpc_deliver(&spawner_rpc, m) < 0)
		fatal(1, "spawner answered %s out of protocol", ipc_type_name(m->type));
}

static void
read_spawner(void)
{
	struct ipc_msg m;
	int rc = ipc_recv(spawner_rpc.fd, IPC_FROM_SPAWNER, &m, NULL);

	if (rc)
		fatal(1, "spawner gone (%s)", ipc_chan_strerror(rc));
	on_spawner_message(&m);
}

/* Ask the spawner for a new frontend on a fresh channel. Runs on the main
 * thread, which also reads the spawner channel: other messages that arrive
 * meanwhile are handled as usual. */
static void
start_frontend(struct supervisor *s)
{
	int sp[2];
	struct ipc_msg req = { .type = IPC_REQ_SPAWN_FRONTEND }, ans;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		fatal(1, "socketpair: %s", strerror(errno));
	req.id = rpc_next_id(&spawner_rpc);
	if (ipc_send(spawner_rpc.fd, &req, sp[1]))
		fatal(1, "spawner channel lost");
	close(sp[1]);
	for (;;) {
		int rc = ipc_recv(spawner_rpc.fd, IPC_FROM_SPAWNER, &ans, NULL);
		if (rc)
			fatal(1, "spawner channel: %s", ipc_chan_strerror(rc));
		if (ans.id == req.id && (ans.type == IPC_ANS_SPAWN || ans.type == IPC_ANS_ERROR))
			break;
		on_spawner_message(&ans);
	}
	if (ans.type != IPC_ANS_SPAWN) {
		log_error("cannot start the frontend: %s", ans.u.error.msg);
		close(sp[0]);
		s->respawn_at = now_ns() + (uint64_t)s->backoff_ms * 1000000u;
		return;
	}
	log_info("frontend started, pid %u", ans.u.spawn_ans.pid);
	/* Answers never block privd (send_answer_locked waits, bounded). */
	if (fcntl(sp[0], F_SETFL, O_NONBLOCK))
		fatal(1, "cannot make the frontend channel non-blocking: %s", strerror(errno));
	pthread_mutex_lock(&fe_mu);
	fe_fd = sp[0];
	fe_gen++;
	unsigned gen = fe_gen;
	pthread_mutex_unlock(&fe_mu);
	drop_stale_jobs(gen);
	s->fe_started = now_ns();
	s->respawn_at = 0;
}

static void
frontend_lost(struct supervisor *s, const char *why)
{
	uint64_t ran_ms = (now_ns() - s->fe_started) / 1000000u;

	pthread_mutex_lock(&fe_mu);
	close(fe_fd);
	fe_fd = -1;
	fe_gen++;
	unsigned gen = fe_gen;
	pthread_mutex_unlock(&fe_mu);
	drop_stale_jobs(gen);
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
serve_frontend(struct supervisor *s)
{
	struct ipc_msg req;
	const struct privd_op *op;
	int rc = ipc_recv(fe_fd, IPC_FROM_FRONTEND, &req, NULL);

	if (rc == IPC_CHAN_SYS && (errno == EAGAIN || errno == EWOULDBLOCK))
		return; /* the channel is non-blocking; nothing to read after all */
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
	if (op->slow)
		enqueue(op, &req, fe_gen);
	else
		run_job(op, fe_gen, &req);
	explicit_bzero(&req, sizeof(req));
}

static void
stop_all(struct supervisor *s)
{
	struct ipc_msg req = { .type = IPC_REQ_SPAWNER_STOP }, ans;

	s->stopping = 1;
	drain_jobs();
	req.id = rpc_next_id(&spawner_rpc);
	if (ipc_send(spawner_rpc.fd, &req, -1) == 0) {
		while (ipc_recv(spawner_rpc.fd, IPC_FROM_SPAWNER, &ans, NULL) == 0)
			if (ans.type == IPC_ANS_SPAWNER_STOP)
				break;
	}
	/* The frontend may remove no file once it serves (its second seccomp
	 * filter): its socket goes here, after it stopped. unlink does not
	 * follow a final symlink, and the directory is privd's. */
	struct stat sst;
	if (lstat(flags.socket_path, &sst) == 0 && S_ISSOCK(sst.st_mode))
		unlink(flags.socket_path);
	pthread_mutex_lock(&fe_mu);
	if (fe_fd >= 0)
		close(fe_fd);
	fe_fd = -1;
	pthread_mutex_unlock(&fe_mu);
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

/* Controller mode: no privileged work at all. Drop to the frontend's ids
 * (if started as root) and exec the frontend without a privd channel. */
static void __attribute__((noreturn))
become_controller(void)
{
	char a_sock[PATH_MAX + 16], a_node[300], a_lvl[32], a_api[FLAG_STR_MAX + 16],
		a_tok[FLAG_STR_MAX + 24], a_ca[FLAG_STR_MAX + 24], a_cap[FLAG_STR_MAX + 24];
	char *argv[] = { (char *)"lcw-frontend", a_sock, a_node, (char *)"--mode=controller",
			 a_lvl, a_api, a_tok, a_ca, a_cap, NULL };
	/* PATH, and where the API server is (in-cluster configuration). */
	char e_host[300], e_port[64];
	const char *h = getenv("KUBERNETES_SERVICE_HOST"), *pt = getenv("KUBERNETES_SERVICE_PORT");
	snprintf(e_host, sizeof(e_host), "KUBERNETES_SERVICE_HOST=%s", h ? h : "");
	snprintf(e_port, sizeof(e_port), "KUBERNETES_SERVICE_PORT=%s", pt ? pt : "");
	char *env[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", h ? e_host : NULL,
			h && pt ? e_port : NULL, NULL };
	char err[512];

	if (geteuid() == 0) {
		if (socket_dir_prepare(flags.socket_path, flags.frontend_uid, flags.frontend_gid, err,
				       sizeof(err)))
			fatal(2, "endpoint %s: %s", flags.endpoint, err);
		if (setgroups(0, NULL) || setresgid(flags.frontend_gid, flags.frontend_gid,
						     flags.frontend_gid) ||
		    setresuid(flags.frontend_uid, flags.frontend_uid, flags.frontend_uid))
			fatal(2, "cannot drop to uid %u: %s", flags.frontend_uid, strerror(errno));
	} else {
		struct stat st;
		if (lstat(flags.socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(flags.socket_path);
	}
	snprintf(a_sock, sizeof(a_sock), "--socket=%s", flags.socket_path);
	snprintf(a_node, sizeof(a_node), "--nodeid=%s", flags.nodeid);
	snprintf(a_lvl, sizeof(a_lvl), "--log-level=%d", flags.log_level);
	snprintf(a_api, sizeof(a_api), "--kube-api=%s", flags.kube_api);
	snprintf(a_tok, sizeof(a_tok), "--kube-token-file=%s", flags.kube_token_file);
	snprintf(a_ca, sizeof(a_ca), "--kube-ca-file=%s", flags.kube_ca_file);
	snprintf(a_cap, sizeof(a_cap), "--capacity-namespace=%s", flags.capacity_namespace);
	execve(frontend_path, argv, env);
	fatal(2, "cannot exec %s: %s", frontend_path, strerror(errno));
}

/* The API client is made before confinement (it reads the token, CA and
 * environment once). Without any configuration there is none: hardened
 * StorageClasses then fail clearly and nothing is reclaimed. */
static void
init_k8s(void)
{
	char err[512];

	if (k8s_client_from_config(flags.kube_api, flags.kube_token_file, flags.kube_ca_file,
				   &pctx.k8s, err, sizeof(err)))
		fatal(2, "Kubernetes API client: %s", err);
	if (pctx.k8s)
		log_info("Kubernetes API at %s", k8s_client_base_url(pctx.k8s));
	else
		log_info("no Kubernetes API configured: hardened passphrase mode and volume "
			 "reclaim are off");
}

static void
init_config(void)
{
	flags_to_config(&flags, getenv("CSI_LOCAL_PATH"), &cfg);
	kdf_budget_init((uint64_t)flags.kdf_budget_mib * 1024);
}

int
main(int argc, char **argv)
{
	char err[512];
	struct supervisor s = { .backoff_ms = BACKOFF_MIN_MS };
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
	find_frontend();
	if (flags.mode == MODE_CONTROLLER)
		become_controller();
	if (geteuid() != 0)
		fatal(2, "lukscryptwalker-csi must start as root in node mode (it drops to the "
			 "documented capabilities itself; the CSI frontend runs as uid %u)",
		      (unsigned)flags.frontend_uid);
	init_config();
	init_k8s();
	if (s3_purge_global_init()) /* libxml2 for the S3 bucket probe, before threads */
		fatal(2, "cannot initialise the S3 client");
	pctx.started_ns = now_ns();
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
	sc = (struct spawner_config){ frontend_path, flags.socket_path, flags.nodeid, 0,
				      flags.log_level, flags.frontend_uid, flags.frontend_gid,
				      flags.rclone_path };
	pid = fork();
	if (pid < 0)
		fatal(2, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(sp[0]);
		spawner_main(sp[1], &sc);
	}
	close(sp[1]);
	rpc_init(&spawner_rpc, sp[0]);
	spawner_client_init(&spawner_rpc);
	/* SIGCHLD of the spawner itself is seen as EOF on its channel. */
	sigdelset(&ss, SIGCHLD);
	sigfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0)
		fatal(2, "signalfd: %s", strerror(errno));

	log_info("lukscryptwalker-csi %s starting: node %s, endpoint %s, volumes in %s",
		 LCW_VERSION, flags.nodeid, flags.endpoint, cfg.luks.local_root);
	/* locked memory for queued requests, before the capability drop */
	if (jobq_init(&jobs, JOBQ_MAX, JOBQ_PER_VOLUME))
		fatal(2, "cannot lock memory for the request queue: %s", strerror(errno));
	confine();
	for (int i = 0; i < NUM_WORKERS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, worker, NULL))
			fatal(2, "cannot start worker threads");
		pthread_detach(t);
	}
	if (pctx.k8s && flags.capacity_namespace[0] &&
	    capacity_pub_start(&pctx, flags.capacity_namespace))
		fatal(2, "cannot start the capacity publisher");
	if (pctx.k8s && flags.reclaim_interval_s &&
	    reclaimer_start(&pctx, flags.reclaim_interval_s, flags.reclaim_grace_s))
		fatal(2, "cannot start the reclaim thread");
	if (s3_supervisor_start(&pctx))
		fatal(2, "cannot start the S3 mount supervisor");
	audit_write(&(struct audit_rec){ .op = "privd_start", .ok = 1, .start_ns = now_ns(),
		.paths = { flags.socket_path, cfg.luks.local_root, NULL }, .detail = LCW_VERSION });
	start_frontend(&s);

	for (;;) {
		struct pollfd p[3] = { { sigfd, POLLIN, 0 }, { spawner_rpc.fd, POLLIN, 0 },
				       { fe_fd, POLLIN, 0 } };
		int timeout = -1;

		if (fe_fd < 0 && s.respawn_at) {
			uint64_t n = now_ns();
			if (n >= s.respawn_at) {
				start_frontend(&s);
				continue;
			}
			timeout = (int)((s.respawn_at - n) / 1000000u) + 1;
		}
		if (poll(p, fe_fd >= 0 ? 3 : 2, timeout) < 0) {
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
			read_spawner();
		if (fe_fd >= 0 && p[2].revents)
			serve_frontend(&s);
	}
}
