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
 * its role. It reaps children and tells privd when one exits.
 *
 * Longer than 600 lines because it is the whole exec surface: every argv,
 * environment and capability set a child gets is built in this one file, so
 * a review of what the driver runs is a review of this file. */
#define _GNU_SOURCE
#include "spawner.h"

#include <cap-ng.h>
#include <linux/capability.h>
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

#include "dm_name.h"
#include "audit.h"
#include "ipc_chan.h"
#include "log.h"
#include "ns_repair.h"
#include "policy.h"
#include "rclone_conf.h"
#include "s3_params.h"
#include "volparams.h"

#define STOP_GRACE_S 15

static const struct spawner_config *cfg;
static pid_t frontend_pid = -1;
static pid_t spawner_pid; /* the tools' parent: they die with it */
static struct pol_seccomp pol;

/* File-system tools in flight: their answer goes out when they exit. */
#define MAX_TOOLS 16
struct tool_run {
	pid_t pid;        /* 0 = free */
	uint32_t req_id;
	uint32_t ans_type;
	int err_fd;       /* read end of the child's stderr */
	int exited, eof;
	int wstatus;
	char tail[IPC_ERRMSG_MAX + 1];
	uint64_t t0;
	char what[64];
};
static struct tool_run tools[MAX_TOOLS];

/* rclone mounts run for as long as their volume is staged. */
#define MAX_RCLONE 512
static pid_t rclone_pids[MAX_RCLONE];

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

/* The tools, by purpose. They are exec'd on purpose: formatting and
 * growing file systems is what mkfs, resize2fs and xfs_growfs are for, and
 * no library does it as well. Paths are fixed; the device is derived here
 * from the validated volume id. */
static const char *const tool_path[][2] = {
	/* [fs_kind] = { mkfs, grow } */
	[1] = { "/sbin/mkfs.ext4", "/sbin/resize2fs" },
	[2] = { "/sbin/mkfs.ext3", "/sbin/resize2fs" },
	[3] = { "/sbin/mkfs.xfs", "/usr/sbin/xfs_growfs" },
};

static void __attribute__((noreturn))
exec_tool(const struct ipc_run_tool_req *r, int grow, int errw)
{
	char dev[IPC_VOLID_MAX + 32];
	char *argv[12], *env[8];
	int n = 0, k = (int)r->fs_kind;
	int devnull = open("/dev/null", O_RDWR);

	/* The mapping's name as vol.c derives it (dm_name.h). */
	memcpy(dev, "/dev/mapper/", 12);
	if (luks_dm_name(r->volume_id, dev + 12, sizeof(dev) - 12))
		_exit(120);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(errw, 2) < 0)
		_exit(120);
	/* A tool dies with the spawner (which dies with privd): a mkfs left
	 * running after privd was killed would write the device while the
	 * retried stage probes and formats it again. Kept across execve (no
	 * set-id binaries here). Checked after setting: the spawner may have
	 * gone before. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != spawner_pid)
		_exit(122);
	close_range(3, ~0U, 0);
	/* Only what growing a mounted file system needs survives in the
	 * bounding set (uid 0 exec gets exactly the bounding set). */
	capng_clear(CAPNG_SELECT_BOTH);
	if (grow)
		capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
			      CAP_SYS_ADMIN, CAP_SYS_RESOURCE, CAP_DAC_READ_SEARCH, -1);
	else
		capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
			      CAP_SYS_ADMIN, -1);
	if (capng_apply(CAPNG_SELECT_BOTH))
		_exit(121);
	argv[n++] = (char *)tool_path[k][grow];
	if (!grow && k == FS_XFS) {
		argv[n++] = (char *)"-q";
		argv[n++] = (char *)"-f";
		argv[n++] = (char *)"-K"; /* no discard pass: the device is new */
		argv[n++] = dev;
	} else if (!grow) {
		/* The original's options: errors make the fs read-only. */
		argv[n++] = (char *)"-q";
		argv[n++] = (char *)"-F";
		argv[n++] = (char *)"-e";
		argv[n++] = (char *)"remount-ro";
		argv[n++] = (char *)"-E";
		argv[n++] = (char *)"nodiscard";
		argv[n++] = dev;
	} else if (k == FS_XFS) {
		argv[n++] = (char *)r->mount_path; /* xfs grows through its mount point */
	} else {
		argv[n++] = dev; /* resize2fs grows a mounted ext3/4 online */
	}
	argv[n] = NULL;
	child_env(env, sizeof(env) / sizeof(env[0]));
	execve(argv[0], argv, env);
	_exit(127);
}

static int
start_tool(const struct ipc_msg *m, struct ipc_msg *ans)
{
	const struct ipc_run_tool_req *r = &m->u.run_tool;
	int grow = m->type == IPC_REQ_RUN_GROWFS, pfd[2];
	struct tool_run *t = NULL;

	for (int i = 0; i < MAX_TOOLS && !t; i++)
		if (tools[i].pid == 0)
			t = &tools[i];
	/* The node's VFS-cache volume is the one id volid_valid refuses. */
	if ((volid_valid(r->volume_id) && strcmp(r->volume_id, VFS_CACHE_ID) != 0) ||
	    r->fs_kind < 1 || r->fs_kind > FS_MAX ||
	    (grow && r->fs_kind == FS_XFS && r->mount_path[0] != '/')) {
		ans->type = IPC_ANS_ERROR;
		ans->u.error.err_class = IPC_EC_INVALID;
		snprintf(ans->u.error.msg, sizeof(ans->u.error.msg), "invalid tool request");
		return -1;
	}
	if (t == NULL || pipe2(pfd, O_CLOEXEC)) {
		ans->type = IPC_ANS_ERROR;
		ans->u.error.err_class = IPC_EC_BUSY;
		snprintf(ans->u.error.msg, sizeof(ans->u.error.msg), "too many tools running");
		return -1;
	}
	memset(t, 0, sizeof(*t));
	t->t0 = audit_now_ns();
	snprintf(t->what, sizeof(t->what), "%s", tool_path[r->fs_kind][grow]);
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		ans->type = IPC_ANS_ERROR;
		ans->u.error.err_class = IPC_EC_INTERNAL;
		snprintf(ans->u.error.msg, sizeof(ans->u.error.msg), "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		exec_tool(r, grow, pfd[1]);
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	t->pid = pid;
	t->req_id = m->id;
	t->ans_type = m->type + 1;
	t->err_fd = pfd[0];
	return 0;
}

/* A mount-namespace repair (privd/ns_repair.c): forked, not exec'd, and
 * answered like a tool when it exits. */
static int
start_repair(const struct ipc_msg *m, int clone_fd, struct ipc_msg *ans)
{
	struct tool_run *t = NULL;
	int pfd[2];

	for (int i = 0; i < MAX_TOOLS && !t; i++)
		if (tools[i].pid == 0)
			t = &tools[i];
	if (clone_fd < 0 || t == NULL || pipe2(pfd, O_CLOEXEC)) {
		ans->type = IPC_ANS_ERROR;
		ans->u.error.err_class = clone_fd < 0 ? IPC_EC_INVALID : IPC_EC_BUSY;
		snprintf(ans->u.error.msg, sizeof(ans->u.error.msg), "cannot start a repair");
		return -1;
	}
	memset(t, 0, sizeof(*t));
	t->t0 = audit_now_ns();
	snprintf(t->what, sizeof(t->what), "ns_repair pid %u", m->u.repair_mount.pid);
	pid_t pid = fork();
	if (pid == 0)
		ns_repair_child(&m->u.repair_mount, clone_fd, pfd[1]);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		ans->type = IPC_ANS_ERROR;
		ans->u.error.err_class = IPC_EC_INTERNAL;
		snprintf(ans->u.error.msg, sizeof(ans->u.error.msg), "fork: %s", strerror(errno));
		return -1;
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	t->pid = pid;
	t->req_id = m->id;
	t->ans_type = IPC_ANS_REPAIR_MOUNT;
	t->err_fd = pfd[0];
	return 0;
}

/* Keep the last bytes of a tool's stderr, printable only. */
static void
drain_tool_output(struct tool_run *t)
{
	char buf[512];
	ssize_t n;

	while ((n = read(t->err_fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			char c = (buf[i] == '\n' || buf[i] == '\t') ? ' ' : buf[i];
			if ((unsigned char)c < 0x20 || c == 0x7f)
				continue;
			size_t len = strlen(t->tail);
			if (len == IPC_ERRMSG_MAX) {
				memmove(t->tail, t->tail + 1, len); /* keep the newest */
				len--;
			}
			t->tail[len] = c;
			t->tail[len + 1] = '\0';
		}
	}
	if (n == 0)
		t->eof = 1;
}

static void
finish_tools(int chan)
{
	for (int i = 0; i < MAX_TOOLS; i++) {
		struct tool_run *t = &tools[i];
		if (t->pid == 0 || !t->exited)
			continue;
		drain_tool_output(t);
		if (!t->eof)
			continue; /* a grandchild still holds stderr: wait for it */
		struct ipc_msg ans = { .type = t->ans_type, .id = t->req_id };
		ans.u.run_tool_ans.wstatus = (uint32_t)t->wstatus & 0xffff;
		snprintf(ans.u.run_tool_ans.output, sizeof(ans.u.run_tool_ans.output), "%s", t->tail);
		int ok = WIFEXITED(t->wstatus) && WEXITSTATUS(t->wstatus) == 0;
		audit_write(&(struct audit_rec){ .op = "exec_tool", .paths = { t->what, NULL },
			.ok = ok, .start_ns = t->t0, .detail = ok ? NULL : t->tail });
		close(t->err_fd);
		t->pid = 0;
		if (ipc_send(chan, &ans, -1))
			fatal(1, "spawner: cannot answer privd");
	}
}

/* rclone's descriptors: the sealed config on fd 3, nothing else above 2.
 *
 * rclone runs as `rclone mount` with CAP_SYS_ADMIN (and nothing else) to
 * make its own FUSE mount on privd's private mountpoint. The capability-free
 * mode (rclone_fuse.h: this child mounts /dev/fuse, rclone `mount2` serves
 * /dev/fd/N) works with Debian's rclone 1.60 and is tested in tests/s3, but
 * its go-fuse backend answers statfs with zeros: pods would see a file
 * system of size 0 with no free space, and software that checks free space
 * before writing would stop. It stays off until rclone reports sizes there
 * (SECURITY.md, "rclone"). */
static int
rclone_fds(int conf_fd)
{
	if (conf_fd != 3) {
		if (dup2(conf_fd, 3) < 0)
			return -1;
	} else if (fcntl(3, F_SETFD, 0) < 0) {
		return -1;
	}
	close_range(4, ~0U, 0);
	return 0;
}

/* rclone is exec'd on purpose: it is the FUSE server of an S3 volume,
 * speaking rclone crypt (the format existing users' data is in). Its
 * config, with the credentials and crypt passwords, is the sealed memfd on
 * fd 3; its argv holds no secret (rclone_mount_argv) and its environment
 * only PATH and a HOME without files. setsid: a restart of privd and this
 * spawner does not take the mounts down with it. */
static void __attribute__((noreturn))
exec_rclone(const struct ipc_run_rclone_req *r, int conf_fd)
{
	static char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	static char home[] = "HOME=/nonexistent";
	struct s3_vol_params p;
	struct rclone_mount_opts o = { 0 };
	static struct rclone_argv av;
	char err[256], *env[8];
	size_t n = 0;
	int devnull = open("/dev/null", O_RDWR);

	if (setsid() < 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0)
		_exit(120);
	if (rclone_fds(conf_fd))
		_exit(120);
	s3_params_from_tuning(&r->t, &p);
	o.rclone_path = cfg->rclone_path;
	o.cache_dir = r->cache_dir;
	o.mountpoint = r->mountpoint;
	o.has_fsgroup = r->has_fs_group;
	o.fsgroup = r->fs_group;
	o.umask = -1;
	o.disk_space_total = (int64_t)r->capacity;
	if (rclone_mount_argv(r->vfs_name, &p, &o, &av, err, sizeof(err))) {
		fprintf(stderr, "lcw-spawner: rclone argv: %s\n", err);
		_exit(120);
	}
	/* FUSE mounting needs CAP_SYS_ADMIN (fusermount3 runs as root under
	 * no_new_privs, so it gets nothing more); nothing else survives. */
	capng_clear(CAPNG_SELECT_BOTH);
	capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
		      CAP_SYS_ADMIN, -1);
	if (capng_apply(CAPNG_SELECT_BOTH))
		_exit(121);
	env[n++] = path;
	env[n++] = home;
	{
		/* sanitizer settings of test builds only */
		char *tmp[8];
		child_env(tmp, 8);
		for (size_t i = 1; tmp[i] && n + 1 < 8; i++)
			env[n++] = tmp[i];
	}
	env[n] = NULL;
	execve(av.argv[0], av.argv, env);
	_exit(127);
}

static int
start_rclone(const struct ipc_msg *m, int conf_fd, struct ipc_msg *ans)
{
	const struct ipc_run_rclone_req *r = &m->u.run_rclone;
	int slot = -1;

	for (int i = 0; i < MAX_RCLONE && slot < 0; i++)
		if (rclone_pids[i] == 0)
			slot = i;
	if (conf_fd < 0 || volid_valid(r->volume_id) ||
	    rclone_vfs_name_valid(r->vfs_name, r->volume_id) ||
	    rclone_mountpoint_valid(r->mountpoint, r->volume_id) || r->cache_dir[0] != '/') {
		ans->type = IPC_ANS_ERROR;
		ans->u.error.err_class = IPC_EC_INVALID;
		snprintf(ans->u.error.msg, sizeof(ans->u.error.msg), "invalid rclone request");
		return -1;
	}
	if (slot < 0) {
		ans->type = IPC_ANS_ERROR;
		ans->u.error.err_class = IPC_EC_BUSY;
		snprintf(ans->u.error.msg, sizeof(ans->u.error.msg), "too many rclone mounts");
		return -1;
	}
	uint64_t t0 = audit_now_ns();
	pid_t pid = fork();
	if (pid == 0)
		exec_rclone(r, conf_fd);
	int e = errno;
	char detail[IPC_VFSNAME_MAX + 64];
	snprintf(detail, sizeof(detail), "%s pid %d", r->vfs_name, (int)pid);
	audit_write(&(struct audit_rec){ .op = "spawn_rclone", .volume_id = r->volume_id,
		.paths = { cfg->rclone_path, r->mountpoint, NULL }, .ok = pid > 0,
		.err = pid > 0 ? 0 : e, .start_ns = t0, .detail = detail });
	if (pid < 0) {
		ans->type = IPC_ANS_ERROR;
		ans->u.error.err_class = IPC_EC_INTERNAL;
		ans->u.error.sys_errno = (uint32_t)e;
		snprintf(ans->u.error.msg, sizeof(ans->u.error.msg), "fork: %s", strerror(e));
		return -1;
	}
	rclone_pids[slot] = pid;
	ans->type = IPC_ANS_RUN_RCLONE;
	ans->u.spawn_ans.pid = (uint32_t)pid;
	return 0;
}

/* SIGTERM to an rclone of ours. Only a pid this spawner started and has
 * not reaped yet qualifies: until it is reaped the pid cannot be reused,
 * so the signal cannot reach anyone else. */
static void
stop_rclone(const struct ipc_msg *m, struct ipc_msg *ans)
{
	pid_t pid = (pid_t)m->u.spawn_ans.pid;
	int ours = 0;

	for (int i = 0; i < MAX_RCLONE && !ours; i++)
		ours = pid > 0 && rclone_pids[i] == pid;
	if (!ours || kill(pid, SIGTERM)) {
		ans->type = IPC_ANS_ERROR;
		ans->u.error.err_class = IPC_EC_NOT_FOUND;
		snprintf(ans->u.error.msg, sizeof(ans->u.error.msg), "no rclone of ours with pid %d",
			 (int)pid);
		return;
	}
	ans->type = IPC_ANS_STOP_RCLONE;
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
		int is_tool = 0;
		for (int i = 0; i < MAX_TOOLS; i++)
			if (tools[i].pid == pid) {
				tools[i].exited = 1;
				tools[i].wstatus = st;
				is_tool = 1;
			}
		if (is_tool)
			continue;
		note.u.child_exit.role = IPC_ROLE_FRONTEND;
		for (int i = 0; i < MAX_RCLONE; i++)
			if (rclone_pids[i] == pid) {
				rclone_pids[i] = 0;
				note.u.child_exit.role = IPC_ROLE_RCLONE;
			}
		if (pid == frontend_pid)
			frontend_pid = -1;
		note.u.child_exit.pid = (uint32_t)pid;
		note.u.child_exit.wstatus = (uint32_t)st & 0xffff;
		if (chan >= 0)
			ipc_send(chan, &note, -1);
	}
}

static int
others_running(void)
{
	if (frontend_pid > 0)
		return 1;
	for (int i = 0; i < MAX_TOOLS; i++)
		if (tools[i].pid)
			return 1;
	return 0;
}

/* Stop the frontend (SIGTERM, a grace period, then SIGKILL) and wait for
 * running tools. rclone mounts are left serving: they hold pods' volumes,
 * and a restarted privd adopts them. */
static void
stop_children(void)
{
	time_t end = time(NULL) + STOP_GRACE_S, give_up = end + 2 * STOP_GRACE_S;

	if (frontend_pid > 0)
		kill(frontend_pid, SIGTERM);
	while (time(NULL) < give_up) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid == frontend_pid)
			frontend_pid = -1;
		for (int i = 0; pid > 0 && i < MAX_TOOLS; i++)
			if (tools[i].pid == pid)
				tools[i].pid = 0;
		if (!others_running())
			return;
		if (time(NULL) >= end && frontend_pid > 0) {
			log_warn("frontend did not stop within %d s; killing it", STOP_GRACE_S);
			kill(frontend_pid, SIGKILL);
			end = time(NULL) + STOP_GRACE_S;
		}
		if (pid <= 0)
			usleep(50000);
	}
	log_warn("a file-system tool is still running at exit; leaving it");
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
	spawner_pid = getpid();
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
		struct pollfd p[2 + MAX_TOOLS] = { { chan, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		int np = 2;
		for (int i = 0; i < MAX_TOOLS; i++)
			if (tools[i].pid && !tools[i].eof)
				p[np++] = (struct pollfd){ tools[i].err_fd, POLLIN, 0 };
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			fatal(1, "spawner: poll: %s", strerror(errno));
		}
		for (int i = 0; i < MAX_TOOLS; i++)
			if (tools[i].pid && !tools[i].eof)
				drain_tool_output(&tools[i]);
		if (p[1].revents) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				; /* SIGTERM/SIGINT are privd's to act on */
			reap(chan);
		}
		finish_tools(chan);
		if (!p[0].revents)
			continue;

		struct ipc_msg m, ans;
		int fd = -1, rc = ipc_recv(chan, IPC_FROM_PRIVD_SP, &m, &fd);
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
		case IPC_REQ_RUN_MKFS:
		case IPC_REQ_RUN_GROWFS:
			if (fd >= 0)
				close(fd);
			if (start_tool(&m, &ans) == 0)
				continue; /* answered when the tool exits */
			break;
		case IPC_REQ_RUN_RCLONE:
			start_rclone(&m, fd, &ans);
			if (fd >= 0)
				close(fd);
			break;
		case IPC_REQ_STOP_RCLONE:
			if (fd >= 0)
				close(fd);
			stop_rclone(&m, &ans);
			break;
		case IPC_REQ_REPAIR_MOUNT: {
			int rc = start_repair(&m, fd, &ans);
			if (fd >= 0)
				close(fd);
			if (rc == 0)
				continue; /* answered when the helper exits */
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
