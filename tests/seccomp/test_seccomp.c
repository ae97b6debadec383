/* Behavioural test of the shipped seccomp policies, run as root.
 *
 * Every check forks a child that parses and loads the real embedded policy
 * text with pol_parse() and pol_seccomp_load() (what the binaries call),
 * then makes one system call with harmless arguments. The parent judges the
 * child's fate. A check cannot pass by accident:
 *   - the child writes 'L' to a pipe only after the filter is loaded and
 *     /proc/self/status shows the expected number of extra filters, and 'R'
 *     only after the probed call returned, so "killed" means killed at the
 *     probe, and "returned" means the probe really ran;
 *   - outcomes are distinct exit codes: an errno (< 100) as the code, 100
 *     for the expected success, 101+ for a wrong result or a set-up failure;
 *     code 0 is never used by a probe, so exit 0 can only come from an
 *     exec'd program;
 *   - a denial is only believed if the same probe without the policy (the
 *     baseline) ends differently, so the policy made the difference;
 *   - probes that should succeed check what they got (file contents, the
 *     byte that went through a socketpair, a value set by the thread).
 *
 * Output: one "ok - NAME" / "not ok - NAME: DETAIL" line per check, then
 * "seccomp: N passed, N failed". Exit status 1 if any check failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <linux/loop.h>
#include <linux/netlink.h>
#include <unistd.h>

#include "policy.h"

/* Child exit codes besides an errno value (1..99). */
enum {
	C_OK = 100,        /* the probe got the expected success */
	C_WRONG = 101,     /* the call succeeded but the result was wrong */
	C_BIG_ERRNO = 99,  /* an errno of 100 or more */
	C_PARSE = 120,     /* pol_parse failed */
	C_LOAD = 121,      /* pol_seccomp_load failed */
	C_FILTERS = 122,   /* filter count did not go up as expected */
	C_STATUS = 123,    /* /proc/self/status unreadable */
	C_MARK = 124,      /* could not write the marker */
};

enum { P_FRONTEND, P_PRIVD, P_SPAWNER, P_CONTROLLER, P_FE_SERVING, P_CT_SERVING, P_REPAIR,
       P_END = -1 };

/* tsync as in the binaries: privd syncs its threads, the others load
 * before they have any. */
static const struct {
	const char *name;
	const char *text;
	int tsync;
} policies[] = {
	[P_FRONTEND] = { "frontend", policy_frontend_seccomp, 0 },
	[P_PRIVD] = { "privd", policy_privd_seccomp, 1 },
	[P_SPAWNER] = { "spawner", policy_spawner_seccomp, 0 },
	[P_CONTROLLER] = { "controller", policy_controller_seccomp, 0 },
	/* the frontend's second layer, loaded into its threads once it listens */
	[P_FE_SERVING] = { "frontend_serving", policy_frontend_serving_seccomp, 1 },
	[P_CT_SERVING] = { "controller_serving", policy_controller_serving_seccomp, 1 },
	/* the mount-namespace repair helper, forked by the spawner */
	[P_REPAIR] = { "repair", policy_repair_seccomp, 0 },
};

static struct pol_seccomp pol; /* large: not on the stack */

/* Set up by the parent before any fork. */
static char tmp_path[64];
static char hostname_text[256];
static ssize_t hostname_len = -1;

#define MOUNT_TARGET "/nonexistent-lcw-seccomp-test"

/* ---- in the child -------------------------------------------------------- */

static int
errcode(void)
{
	return errno > 0 && errno < 100 ? errno : C_BIG_ERRNO;
}

static void __attribute__((noreturn))
die(int code)
{
	/* Raw exit_group: no atexit handlers, no stdio flush, no sanitizer
	 * exit hooks that might make calls the policy forbids. */
	syscall(SYS_exit_group, code);
	for (;;)
		;
}

/* Read one numeric field of /proc/self/status, -1 if absent. Raw calls
 * only (every policy allows a read-only openat, read and close). */
static long
status_field(const char *key)
{
	static char buf[8192];
	long n, fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		die(C_STATUS);
	while (got < sizeof(buf) - 1 &&
	       (n = syscall(SYS_read, fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	syscall(SYS_close, fd);
	buf[got] = '\0';
	size_t klen = strlen(key);
	for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return strtol(p + klen + 1, NULL, 10);
	return -1;
}

static void
mark(int fd, char c)
{
	if (syscall(SYS_write, fd, &c, 1) != 1)
		die(C_MARK);
}

static void __attribute__((noreturn))
child_main(const int *pols, int (*probe)(void), int markfd)
{
	char err[256];
	long before = status_field("Seccomp_filters"), after;
	int n = 0;

	for (; pols[n] != P_END; n++) {
		if (pol_parse(policies[pols[n]].text, &pol, err, sizeof(err)))
			die(C_PARSE);
		if (pol_seccomp_load(&pol, policies[pols[n]].tsync, err, sizeof(err)))
			die(C_LOAD);
	}
	if (n > 0) {
		/* Filter mode, and one more filter per policy (the count
		 * field is absent on kernels before 5.9). */
		if (status_field("Seccomp") != 2)
			die(C_FILTERS);
		after = status_field("Seccomp_filters");
		if (before >= 0 && after != before + n)
			die(C_FILTERS);
	}
	mark(markfd, 'L');
	int rc = probe();
	mark(markfd, 'R');
	die(rc);
}

/* ---- probes: harmless arguments, one call each ---------------------------- */

static int
p_execve_true(void)
{
	char *argv[] = { (char *)"true", NULL }, *envp[] = { NULL };
	syscall(SYS_execve, "/bin/true", argv, envp);
	return errcode();
}

/* The exec'd shell reports, using only builtins, that it still runs in
 * seccomp filter mode: the filter followed it across execve. */
static int
p_execve_sh_filtered(void)
{
	char *argv[] = { (char *)"sh", (char *)"-c",
			 (char *)"while read k v; do "
				 "[ \"$k\" = Seccomp: ] && [ \"$v\" = 2 ] && exit 77; "
				 "done < /proc/self/status; exit 3",
			 NULL };
	char *envp[] = { (char *)"PATH=/usr/bin:/bin", NULL };
	syscall(SYS_execve, "/bin/sh", argv, envp);
	return errcode();
}

static int
p_mount(void)
{
	if (syscall(SYS_mount, "none", MOUNT_TARGET, "tmpfs", 0UL, NULL) == 0)
		return C_WRONG; /* the target must not exist */
	return errcode();
}

static int
p_ptrace(void)
{
	/* pid 0 names no tracee: ESRCH when allowed. */
	if (syscall(SYS_ptrace, PTRACE_PEEKDATA, 0, NULL, NULL) < 0)
		return errcode();
	return C_OK;
}

static int
p_setuid0(void)
{
	/* Raw: glibc's setuid would signal every thread to follow suit. */
	return syscall(SYS_setuid, 0) < 0 ? errcode() : C_OK;
}

static int
p_open_dm_control_rw(void)
{
	long fd = syscall(SYS_openat, AT_FDCWD, "/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errcode();
	close((int)fd);
	return C_OK;
}

static int
p_open_tmp_wronly(void)
{
	long fd = syscall(SYS_openat, AT_FDCWD, tmp_path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errcode();
	int ok = write((int)fd, "w", 1) == 1;
	close((int)fd);
	return ok ? C_OK : C_WRONG;
}

static int
p_open_hostname_ro(void)
{
	char buf[sizeof(hostname_text)];
	long fd = syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errcode();
	ssize_t n = read((int)fd, buf, sizeof(buf));
	close((int)fd);
	return n == hostname_len && memcmp(buf, hostname_text, (size_t)n) == 0 ? C_OK : C_WRONG;
}

static int
p_socket_inet(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errcode();
	close(fd);
	return C_OK;
}

/* privd reaches the Kubernetes API over TCP, but has no use for UDP or raw
 * sockets. */
static int
p_socket_inet_dgram(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errcode();
	close(fd);
	return C_OK;
}

static int
p_socket_packet(void)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errcode();
	close(fd);
	return C_OK;
}

static int
p_socket_unix(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errcode();
	close(fd);
	return C_OK;
}

static int
p_socketpair_unix(void)
{
	int sv[2];
	char c = 0;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return errcode();
	/* sendmsg/recvmsg, as ipc_chan.c uses: privd's policy does not list
	 * sendto/recvfrom, which send()/recv() become. */
	struct iovec out = { (void *)"p", 1 }, in = { &c, 1 };
	struct msghdr mo = { .msg_iov = &out, .msg_iovlen = 1 };
	struct msghdr mi = { .msg_iov = &in, .msg_iovlen = 1 };
	int ok = sendmsg(sv[0], &mo, 0) == 1 && recvmsg(sv[1], &mi, 0) == 1 && c == 'p';
	close(sv[0]);
	close(sv[1]);
	return ok ? C_OK : C_WRONG;
}

/* S3 volumes: rclone's config goes into a sealed memfd. */
static int
p_memfd_sealed(void)
{
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return errcode();
	int ok = write(fd, "x", 1) == 1 &&
		 fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) == 0 &&
		 write(fd, "y", 1) < 0;
	close(fd);
	return ok ? C_OK : C_WRONG;
}

/* The crash rescue keeps a written-back file's modification time. */
static int
p_futimens(void)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 1000000000 } };
	struct stat st;
	long fd = syscall(SYS_openat, AT_FDCWD, tmp_path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errcode();
	int rc = futimens((int)fd, ts);
	int e = errno;
	int ok = rc == 0 && fstat((int)fd, &st) == 0 && st.st_mtim.tv_sec == 1000000000;
	close((int)fd);
	if (rc) {
		errno = e;
		return errcode();
	}
	return ok ? C_OK : C_WRONG;
}

/* privd may ask a stuck rclone of its own to stop, with SIGTERM and
 * nothing else (a signal to itself stands in for the target; SIGCONT is
 * harmless if it were delivered). */
static int
p_kill_term(void)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigaction(SIGTERM, &sa, NULL);
	return kill(getpid(), SIGTERM) ? errcode() : C_OK;
}

static int
p_kill_cont(void)
{
	return kill(getpid(), SIGCONT) ? errcode() : C_OK;
}

/* ---- narrowed arguments: "reaches the kernel" means the filter let the
 * call through and the kernel answered for itself (a missing target:
 * nothing changes). */

/* The answer the kernel gives when the call passes the filter. */
static int
reached(long rc, int kernel_errno)
{
	if (rc == 0)
		return C_WRONG; /* the targets do not exist: success is wrong */
	return errno == kernel_errno ? C_OK : errcode();
}

static int
p_ioctl_loop_get_free(void)
{
	long fd = syscall(SYS_openat, AT_FDCWD, "/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return C_WRONG;
	long idx = syscall(SYS_ioctl, fd, LOOP_CTL_GET_FREE);
	int e = errno;
	close((int)fd);
	errno = e;
	return idx >= 0 ? C_OK : errcode();
}

/* LOOP_CTL_REMOVE of a device that does not exist: ENODEV when allowed. */
static int
p_ioctl_loop_remove(void)
{
	long fd = syscall(SYS_openat, AT_FDCWD, "/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return C_WRONG;
	long rc = syscall(SYS_ioctl, fd, LOOP_CTL_REMOVE, 1048575);
	int e = errno;
	close((int)fd);
	errno = e;
	return rc < 0 ? errcode() : C_WRONG;
}

/* TIOCSTI (push input into a terminal) on /dev/null: ENOTTY when allowed. */
static int
p_ioctl_tiocsti(void)
{
	char c = 'x';
	long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return C_WRONG;
	long rc = syscall(SYS_ioctl, fd, TIOCSTI, &c);
	int e = errno;
	close((int)fd);
	errno = e;
	return rc < 0 ? errcode() : C_WRONG;
}

static int
p_mount_bind(void)
{
	return reached(syscall(SYS_mount, tmp_path, MOUNT_TARGET, NULL, MS_BIND, NULL), ENOENT);
}

static int
p_mount_nosuid_nodev(void)
{
	return reached(syscall(SYS_mount, "none", MOUNT_TARGET, "tmpfs",
			       MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), ENOENT);
}

/* The StorageClass mount options "sync" and "dirsync" (volparams.c). */
static int
p_mount_sync_dirsync(void)
{
	return reached(syscall(SYS_mount, "none", MOUNT_TARGET, "tmpfs",
			       MS_NOSUID | MS_NODEV | MS_SYNCHRONOUS | MS_DIRSYNC, NULL), ENOENT);
}

static int
p_mount_remount_bind(void)
{
	return reached(syscall(SYS_mount, NULL, MOUNT_TARGET, NULL,
			       MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_RDONLY, NULL), ENOENT);
}

/* The same calls with one flag too many or too few: refused by the filter;
 * the kernel would have said ENOENT. */
static int
p_mount_without_nosuid(void)
{
	return reached(syscall(SYS_mount, "none", MOUNT_TARGET, "tmpfs", MS_NODEV, NULL), ENOENT)
			       == C_OK ? C_WRONG : errcode();
}

static int
p_mount_bind_rec(void)
{
	return syscall(SYS_mount, tmp_path, MOUNT_TARGET, NULL, MS_BIND | MS_REC, NULL) < 0
		       ? errcode() : C_WRONG;
}

static int
p_mount_shared(void)
{
	return syscall(SYS_mount, NULL, MOUNT_TARGET, NULL, MS_SHARED, NULL) < 0 ? errcode()
										: C_WRONG;
}

static int
p_mount_move(void)
{
	return syscall(SYS_mount, tmp_path, MOUNT_TARGET, NULL, MS_MOVE, NULL) < 0 ? errcode()
										 : C_WRONG;
}

static int
p_remount_bind_suid(void)
{
	/* a remount that would drop nosuid */
	return syscall(SYS_mount, NULL, MOUNT_TARGET, NULL, MS_REMOUNT | MS_BIND | MS_NODEV,
		       NULL) < 0 ? errcode() : C_WRONG;
}

static int
p_umount_nofollow(void)
{
	return reached(syscall(SYS_umount2, MOUNT_TARGET, UMOUNT_NOFOLLOW | MNT_DETACH), ENOENT);
}

static int
p_umount_force(void)
{
	return syscall(SYS_umount2, MOUNT_TARGET, MNT_FORCE) < 0 ? errcode() : C_WRONG;
}

/* Device nodes: a block node of device-mapper's major (0 where the kernel
 * has no device-mapper, as here) reaches the kernel; a character device
 * or another driver's block device does not. */
static int
p_mknod_blk_dm(void)
{
	int64_t devt = pol_runtime_value(POL_RT_DM_MAJOR_DEVT);
	unsigned maj = devt > 0 ? (unsigned)(devt >> 8) : 0;
	return reached(syscall(SYS_mknodat, AT_FDCWD, MOUNT_TARGET "/x", S_IFBLK | 0600,
			       (unsigned)makedev(maj, 0)), ENOENT);
}

static int
p_mknod_blk_sd(void)
{
	return syscall(SYS_mknodat, AT_FDCWD, MOUNT_TARGET "/x", S_IFBLK | 0600,
		       (unsigned)makedev(8, 0)) < 0 ? errcode() : C_WRONG;
}

static int
p_mknod_chr(void)
{
	return syscall(SYS_mknodat, AT_FDCWD, MOUNT_TARGET "/x", S_IFCHR | 0600,
		       (unsigned)makedev(1, 3)) < 0 ? errcode() : C_WRONG;
}

static int
p_netlink(int proto)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return errcode();
	close(fd);
	return C_OK;
}

static int p_netlink_route(void) { return p_netlink(NETLINK_ROUTE); }
static int p_netlink_uevent(void) { return p_netlink(NETLINK_KOBJECT_UEVENT); }
static int p_netlink_audit(void) { return p_netlink(NETLINK_AUDIT); }

/* The new mount API with the flags of an fd-based bind: the kernel answers
 * for a missing path (ENOENT) or a bad descriptor (EBADF). */
static int
p_open_tree_clone(void)
{
	return reached(syscall(SYS_open_tree, AT_FDCWD, MOUNT_TARGET, 1 /* OPEN_TREE_CLONE */ |
			       O_CLOEXEC | AT_RECURSIVE), ENOENT);
}

static int
p_open_tree_noclone(void)
{
	/* without OPEN_TREE_CLONE: an O_PATH descriptor of "/" when allowed */
	long fd = syscall(SYS_open_tree, AT_FDCWD, "/", O_CLOEXEC);
	if (fd < 0)
		return errcode();
	close((int)fd);
	return C_WRONG;
}

static int
p_move_mount_fds(void)
{
	return reached(syscall(SYS_move_mount, -1, "", -1, "", 0x4 | 0x40), EBADF);
}

static int
p_move_mount_symlinks(void)
{
	/* MOVE_MOUNT_F_SYMLINKS: follow symlinks of the source path */
	return syscall(SYS_move_mount, -1, "", -1, "", 0x1 | 0x40) < 0 ? errcode() : C_WRONG;
}

/* The repair helper's calls (privd/ns_repair.c), with arguments the
 * kernel refuses on its own: setns of no descriptor, a missing target. */
static int
p_setns_mnt(void)
{
	return reached(syscall(SYS_setns, -1L, (long)CLONE_NEWNS), EBADF);
}

static int
p_setns_net(void)
{
	return reached(syscall(SYS_setns, -1L, (long)CLONE_NEWNET), EBADF) == C_OK ? C_WRONG : errcode();
}

static int
p_umount_detach(void)
{
	return reached(syscall(SYS_umount2, MOUNT_TARGET, (long)MNT_DETACH), ENOENT);
}

static int
p_umount_strict(void)
{
	return reached(syscall(SYS_umount2, MOUNT_TARGET, 0L), ENOENT) == C_OK ? C_WRONG
									       : errcode();
}

static int
p_mount_setattr(void)
{
	return syscall(SYS_mount_setattr, -1, "", AT_EMPTY_PATH, NULL, 0) < 0 ? errcode()
										  : C_WRONG;
}

static int
p_fchdir_root(void)
{
	long fd = syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errcode();
	long rc = syscall(SYS_fchdir, fd);
	syscall(SYS_close, fd);
	return rc == 0 ? C_OK : errcode();
}

static int
p_unlink_missing(void)
{
	return reached(syscall(SYS_unlinkat, AT_FDCWD, MOUNT_TARGET, 0), ENOENT);
}

static int
p_unlink_missing_raw(void)
{
	return syscall(SYS_unlinkat, AT_FDCWD, MOUNT_TARGET, 0) < 0 ? errcode() : C_WRONG;
}

static int
p_chmod_missing_raw(void)
{
	return syscall(SYS_fchmodat, AT_FDCWD, MOUNT_TARGET, 0777) < 0 ? errcode() : C_WRONG;
}

static int
p_connect_unix(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return C_WRONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", MOUNT_TARGET);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	errno = e;
	return rc < 0 ? errcode() : C_WRONG;
}

static int
p_fork(void)
{
	/* A plain fork as clone(SIGCHLD): no CLONE_THREAD. Raw, so libc and
	 * sanitizer fork hooks cannot add calls of their own. */
	long pid = syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, NULL, NULL, 0UL);
	if (pid == 0)
		die(0);
	if (pid < 0)
		return errcode();
	int st;
	return waitpid((pid_t)pid, &st, 0) == pid ? C_OK : C_WRONG;
}

static void *
thread_fn(void *arg)
{
	*(volatile int *)arg = 0x1cec;
	return arg;
}

static int
p_pthread(void)
{
	volatile int v = 0;
	pthread_t t;
	void *ret = NULL;
	int rc = pthread_create(&t, NULL, thread_fn, (void *)&v);

	if (rc)
		return rc > 0 && rc < 100 ? rc : C_BIG_ERRNO;
	if (pthread_join(t, &ret))
		return C_WRONG;
	return v == 0x1cec && ret == (void *)&v ? C_OK : C_WRONG;
}

static int
p_clone3(void)
{
	/* size 0 is invalid: EINVAL when the kernel looks at it. */
	return syscall(SYS_clone3, NULL, 0UL) < 0 ? errcode() : C_WRONG;
}

static int
p_chdir(void)
{
	return syscall(SYS_chdir, "/") < 0 ? errcode() : C_OK;
}

static int
p_getpgid(void)
{
	return syscall(SYS_getpgid, 0) < 0 ? errcode() : C_OK;
}

static int
p_init_module(void)
{
	/* An empty image: ENOEXEC when allowed. */
	return syscall(SYS_init_module, NULL, 0UL, "") < 0 ? errcode() : C_WRONG;
}

static int
p_finit_module(void)
{
	return syscall(SYS_finit_module, -1, "", 0) < 0 ? errcode() : C_WRONG;
}

static int
p_kexec_load(void)
{
	/* An unknown flag bit: EINVAL before anything is (un)loaded. */
	return syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0x8000UL) < 0 ? errcode() : C_WRONG;
}

static int
p_bpf(void)
{
	return syscall(SYS_bpf, 9999, NULL, 0) < 0 ? errcode() : C_WRONG;
}

static int
p_keyctl(void)
{
	return syscall(SYS_keyctl, 9999, 0UL, 0UL, 0UL, 0UL) < 0 ? errcode() : C_WRONG;
}

/* ---- in the parent ------------------------------------------------------- */

struct outcome {
	int status;
	char marks[8];
};

static struct outcome
run(const int *pols, int (*probe)(void))
{
	struct outcome o = { 0 };
	int pfd[2];
	size_t n = 0;
	ssize_t r;

	if (pipe2(pfd, O_CLOEXEC)) {
		perror("pipe2");
		exit(2);
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		close(pfd[0]);
		alarm(20); /* a hung probe dies of SIGALRM, not of the test */
		child_main(pols, probe, pfd[1]);
	}
	close(pfd[1]);
	while (n < sizeof(o.marks) - 1 &&
	       ((r = read(pfd[0], o.marks + n, sizeof(o.marks) - 1 - n)) > 0 ||
		(r < 0 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	close(pfd[0]);
	while (waitpid(pid, &o.status, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			exit(2);
		}
	return o;
}

enum expect_kind { EXP_KILL, EXP_ERRNO, EXP_OK, EXP_EXIT };

struct expect {
	enum expect_kind kind;
	int val; /* errno for EXP_ERRNO, exit code for EXP_EXIT */
};

static int
matches(const struct outcome *o, struct expect x)
{
	switch (x.kind) {
	case EXP_KILL: /* reached the probe, never returned */
		return WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGSYS &&
		       strcmp(o->marks, "L") == 0;
	case EXP_ERRNO:
		return WIFEXITED(o->status) && WEXITSTATUS(o->status) == x.val &&
		       strcmp(o->marks, "LR") == 0;
	case EXP_OK:
		return WIFEXITED(o->status) && WEXITSTATUS(o->status) == C_OK &&
		       strcmp(o->marks, "LR") == 0;
	case EXP_EXIT: /* the image was replaced: no 'R' */
		return WIFEXITED(o->status) && WEXITSTATUS(o->status) == x.val &&
		       strcmp(o->marks, "L") == 0;
	}
	return 0;
}

static void
describe(const struct outcome *o, char *buf, size_t len)
{
	if (WIFSIGNALED(o->status)) {
		snprintf(buf, len, "killed by signal %d (%s), markers \"%s\"",
			 WTERMSIG(o->status), strsignal(WTERMSIG(o->status)), o->marks);
		return;
	}
	int c = WEXITSTATUS(o->status);
	const char *what = c == 0 ? "exit 0"
		: c == C_OK ? "expected success"
		: c == C_WRONG ? "succeeded with a wrong result"
		: c == C_PARSE ? "pol_parse failed"
		: c == C_LOAD ? "pol_seccomp_load failed"
		: c == C_FILTERS ? "filter not in place after load"
		: c == C_STATUS ? "cannot read /proc/self/status"
		: c == C_MARK ? "cannot write marker"
		: c < 100 ? strerror(c) : "?";
	snprintf(buf, len, "exit %d (%s), markers \"%s\"", c, what, o->marks);
}

static int passed, failed;

static void
result(int ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		printf("ok - %s\n", name);
		passed++;
		return;
	}
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	printf("not ok - %s: %s\n", name, detail);
	failed++;
}

static const int NONE[] = { P_END };

/* Run a probe under pols; for denials, also under `base` (no policy unless
 * given) and insist the result differs there. */
static void
check(const char *name, const int *pols, int (*probe)(void), struct expect x,
      const int *base)
{
	char got[256], bgot[256];
	struct outcome o = run(pols, probe);

	if (!matches(&o, x)) {
		describe(&o, got, sizeof(got));
		result(0, name, "got %s", got);
		return;
	}
	if (x.kind == EXP_KILL || x.kind == EXP_ERRNO || base != NULL) {
		struct outcome b = run(base ? base : NONE, probe);
		if (matches(&b, x)) {
			describe(&b, bgot, sizeof(bgot));
			result(0, name, "the baseline without this policy gives the same (%s)",
			       bgot);
			return;
		}
		/* The baseline must itself have run the probe cleanly. */
		if (WIFSIGNALED(b.status) || strchr(b.marks, 'L') == NULL) {
			describe(&b, bgot, sizeof(bgot));
			result(0, name, "baseline did not run: %s", bgot);
			return;
		}
	}
	result(1, name, NULL);
}

#define KILL ((struct expect){ EXP_KILL, 0 })
#define ERRNO(e) ((struct expect){ EXP_ERRNO, (e) })
#define WORKS ((struct expect){ EXP_OK, 0 })
#define EXITS(c) ((struct expect){ EXP_EXIT, (c) })

static void
setup_files(void)
{
	int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (hostname_len = read(fd, hostname_text, sizeof(hostname_text))) < 0) {
		perror("/etc/hostname");
		exit(2);
	}
	close(fd);

	strcpy(tmp_path, "/tmp/lcw-seccomp-XXXXXX");
	fd = mkostemp(tmp_path, O_CLOEXEC);
	if (fd < 0) {
		perror("mkostemp");
		exit(2);
	}
	close(fd);

	struct stat st;
	if (stat(MOUNT_TARGET, &st) == 0) {
		fprintf(stderr, "%s exists; remove it\n", MOUNT_TARGET);
		exit(2);
	}
}

int
main(void)
{
	static const int FE[] = { P_FRONTEND, P_END };
	static const int PD[] = { P_PRIVD, P_END };
	static const int SP[] = { P_SPAWNER, P_END };
	static const int STACK[] = { P_SPAWNER, P_FRONTEND, P_END };
	static const int CT[] = { P_CONTROLLER, P_END };
	static const int FE_SV[] = { P_FRONTEND, P_FE_SERVING, P_END };
	static const int CT_SV[] = { P_CONTROLLER, P_CT_SERVING, P_END };
	static const int REP[] = { P_SPAWNER, P_REPAIR, P_END };
	enum { NCHECKS = 54 + 23 + 10 + 17 };

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: SKIP: SKIP: test_seccomp must run as root "
				"(loading filters without no_new_privs and calling "
				"root-only syscalls as baselines); nothing was tested\n");
		printf("seccomp: 0 passed, 0 failed, %d skipped\n", NCHECKS);
		return 0;
	}
	/* Killed children would otherwise leave core files behind. */
	struct rlimit zero = { 0, 0 };
	setrlimit(RLIMIT_CORE, &zero);
	setup_files();

	/* Frontend: an allowlist with a kill list. */
	check("frontend: execve is killed", FE, p_execve_true, KILL, NULL);
	check("frontend: mount is killed", FE, p_mount, KILL, NULL);
	check("frontend: ptrace is killed", FE, p_ptrace, KILL, NULL);
	check("frontend: setuid(0) is killed", FE, p_setuid0, KILL, NULL);
	check("frontend: bpf is killed", FE, p_bpf, KILL, NULL);
	check("frontend: openat /dev/mapper/control O_RDWR -> EPERM", FE,
	      p_open_dm_control_rw, ERRNO(EPERM), NULL);
	check("frontend: openat of an existing file O_WRONLY -> EPERM", FE,
	      p_open_tmp_wronly, ERRNO(EPERM), NULL);
	check("frontend: openat /etc/hostname O_RDONLY reads it", FE,
	      p_open_hostname_ro, WORKS, NULL);
	check("frontend: socket(AF_INET) -> EPERM", FE, p_socket_inet, ERRNO(EPERM), NULL);
	check("frontend: socket(AF_UNIX) works", FE, p_socket_unix, WORKS, NULL);
	check("frontend: socketpair -> EAFNOSUPPORT", FE, p_socketpair_unix,
	      ERRNO(EAFNOSUPPORT), NULL);
	check("frontend: fork (clone without CLONE_THREAD) -> EPERM", FE, p_fork,
	      ERRNO(EPERM), NULL);
	check("frontend: pthread_create works", FE, p_pthread, WORKS, NULL);
	check("frontend: clone3 -> ENOSYS", FE, p_clone3, ERRNO(ENOSYS), NULL);
	check("frontend: unlisted chdir -> EPERM", FE, p_chdir, ERRNO(EPERM), NULL);
	check("frontend: unlisted getpgid -> EPERM", FE, p_getpgid, ERRNO(EPERM), NULL);
	check("frontend: connect (to any unix socket) -> EPERM", FE, p_connect_unix, ERRNO(EPERM),
	      NULL);
	check("frontend: unlink reaches the kernel before it serves (stale socket)", FE,
	      p_unlink_missing, WORKS, NULL);
	/* Once it listens: the second layer, judged against the first alone. */
	check("frontend serving: unlink -> EPERM", FE_SV, p_unlink_missing_raw, ERRNO(EPERM), FE);
	check("frontend serving: chmod -> EPERM", FE_SV, p_chmod_missing_raw, ERRNO(EPERM), FE);
	check("frontend serving: socket(AF_UNIX) -> EPERM", FE_SV, p_socket_unix, ERRNO(EPERM), FE);
	check("frontend serving: pthread_create works", FE_SV, p_pthread, WORKS, NULL);
	check("frontend serving: openat /etc/hostname reads it", FE_SV, p_open_hostname_ro, WORKS,
	      NULL);
	check("controller serving: unlink -> EPERM", CT_SV, p_unlink_missing_raw, ERRNO(EPERM), CT);
	check("controller serving: socket(AF_INET, SOCK_STREAM) still works", CT_SV, p_socket_inet,
	      WORKS, NULL);

	/* privd: an allowlist; never execs, never forks. */
	check("privd: init_module is killed", PD, p_init_module, KILL, NULL);
	check("privd: finit_module is killed", PD, p_finit_module, KILL, NULL);
	check("privd: kexec_load is killed", PD, p_kexec_load, KILL, NULL);
	check("privd: bpf is killed", PD, p_bpf, KILL, NULL);
	check("privd: ptrace is killed", PD, p_ptrace, KILL, NULL);
	check("privd: execve is killed", PD, p_execve_true, KILL, NULL);
	check("privd: setuid(0) is killed", PD, p_setuid0, KILL, NULL);
	check("privd: fork (clone without CLONE_THREAD) -> EPERM", PD, p_fork,
	      ERRNO(EPERM), NULL);
	check("privd: socket(AF_INET, SOCK_STREAM) works (Kubernetes API)", PD, p_socket_inet,
	      WORKS, NULL);
	check("privd: socket(AF_INET, SOCK_DGRAM) -> EPERM", PD, p_socket_inet_dgram,
	      ERRNO(EPERM), NULL);
	check("privd: socket(AF_PACKET) -> EPERM", PD, p_socket_packet, ERRNO(EPERM), NULL);
	check("privd: socketpair(AF_UNIX) carries a byte", PD, p_socketpair_unix, WORKS, NULL);
	check("privd: pthread_create works", PD, p_pthread, WORKS, NULL);
	check("privd: openat O_WRONLY works and writes", PD, p_open_tmp_wronly, WORKS, NULL);
	check("privd: openat /etc/hostname reads it", PD, p_open_hostname_ro, WORKS, NULL);
	check("privd: memfd_create and sealing work (rclone config)", PD, p_memfd_sealed, WORKS,
	      NULL);
	check("privd: futimens works (rescued files keep their mtime)", PD, p_futimens, WORKS,
	      NULL);
	/* privd signals nobody: the spawner stops its own rclone children */
	check("privd: kill with SIGTERM -> EPERM (the spawner stops rclone)", PD, p_kill_term,
	      ERRNO(EPERM), NULL);
	check("privd: kill with another signal -> EPERM", PD, p_kill_cont, ERRNO(EPERM), NULL);
	/* ioctl: only the request numbers privd's code and libraries use */
	check("privd: ioctl LOOP_CTL_GET_FREE works", PD, p_ioctl_loop_get_free, WORKS, NULL);
	check("privd: ioctl LOOP_CTL_REMOVE -> EPERM", PD, p_ioctl_loop_remove, ERRNO(EPERM), NULL);
	check("privd: ioctl TIOCSTI -> EPERM", PD, p_ioctl_tiocsti, ERRNO(EPERM), NULL);
	/* mount: binds without flags, new mounts nosuid+nodev, remounts of
	 * binds that keep nosuid+nodev; nothing else */
	check("privd: mount MS_BIND reaches the kernel", PD, p_mount_bind, WORKS, NULL);
	check("privd: mount tmpfs nosuid,nodev,noexec reaches the kernel", PD,
	      p_mount_nosuid_nodev, WORKS, NULL);
	check("privd: mount tmpfs nosuid,nodev,sync,dirsync reaches the kernel", PD,
	      p_mount_sync_dirsync, WORKS, NULL);
	check("privd: remount,bind nosuid,nodev,ro reaches the kernel", PD, p_mount_remount_bind,
	      WORKS, NULL);
	check("privd: mount without nosuid -> EPERM", PD, p_mount_without_nosuid, ERRNO(EPERM),
	      NULL);
	check("privd: mount MS_BIND|MS_REC -> EPERM", PD, p_mount_bind_rec, ERRNO(EPERM), NULL);
	check("privd: mount MS_SHARED (propagation) -> EPERM", PD, p_mount_shared, ERRNO(EPERM),
	      NULL);
	check("privd: mount MS_MOVE -> EPERM", PD, p_mount_move, ERRNO(EPERM), NULL);
	check("privd: remount,bind without nosuid -> EPERM", PD, p_remount_bind_suid,
	      ERRNO(EPERM), NULL);
	check("privd: umount2 UMOUNT_NOFOLLOW|MNT_DETACH reaches the kernel", PD,
	      p_umount_nofollow, WORKS, NULL);
	check("privd: umount2 MNT_FORCE -> EPERM", PD, p_umount_force, ERRNO(EPERM), NULL);
	check("privd: open_tree(OPEN_TREE_CLONE|AT_RECURSIVE) reaches the kernel", PD,
	      p_open_tree_clone, WORKS, NULL);
	check("privd: open_tree without OPEN_TREE_CLONE -> EPERM", PD, p_open_tree_noclone,
	      ERRNO(EPERM), NULL);
	check("privd: move_mount(F_EMPTY_PATH|T_EMPTY_PATH) reaches the kernel", PD,
	      p_move_mount_fds, WORKS, NULL);
	check("privd: move_mount with MOVE_MOUNT_F_SYMLINKS -> EPERM", PD, p_move_mount_symlinks,
	      ERRNO(EPERM), NULL);
	/* mknod: block nodes of device-mapper's major only */
	check("privd: mknodat of a device-mapper block node reaches the kernel", PD,
	      p_mknod_blk_dm, WORKS, NULL);
	check("privd: mknodat of a block node of major 8 (sd) -> EPERM", PD, p_mknod_blk_sd,
	      ERRNO(EPERM), NULL);
	check("privd: mknodat of a character device -> EPERM", PD, p_mknod_chr, ERRNO(EPERM),
	      NULL);
	/* netlink: NETLINK_ROUTE (getaddrinfo) only */
	check("privd: socket(AF_NETLINK, NETLINK_ROUTE) works", PD, p_netlink_route, WORKS, NULL);
	check("privd: socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT) -> EPERM", PD, p_netlink_uevent,
	      ERRNO(EPERM), NULL);
	check("privd: socket(AF_NETLINK, NETLINK_AUDIT) -> EPERM", PD, p_netlink_audit,
	      ERRNO(EPERM), NULL);

	/* Spawner (and every program it runs): a denylist. */
	check("spawner: ptrace is killed", SP, p_ptrace, KILL, NULL);
	check("spawner: init_module is killed", SP, p_init_module, KILL, NULL);
	check("spawner: kexec_load is killed", SP, p_kexec_load, KILL, NULL);
	check("spawner: bpf is killed", SP, p_bpf, KILL, NULL);
	check("spawner: keyctl is killed", SP, p_keyctl, KILL, NULL);
	check("spawner: execve /bin/true runs it (exit 0)", SP, p_execve_true, EXITS(0), NULL);
	check("spawner: exec'd /bin/sh runs and is still filtered (exit 77)", SP,
	      p_execve_sh_filtered, EXITS(77), NULL);
	check("spawner: fork works", SP, p_fork, WORKS, NULL);

	/* The frontend as the spawner starts it: both filters stacked. The
	 * baselines are the spawner's filter alone, so what is checked is the
	 * frontend layer's effect on top of it. */
	/* Controller-mode frontend: the same, plus TCP for the API and S3. */
	check("controller: execve is killed", CT, p_execve_true, KILL, NULL);
	check("controller: mount is killed", CT, p_mount, KILL, NULL);
	check("controller: setuid(0) is killed", CT, p_setuid0, KILL, NULL);
	check("controller: socket(AF_INET, SOCK_STREAM) works", CT, p_socket_inet, WORKS, NULL);
	check("controller: socket(AF_INET, SOCK_DGRAM) -> EPERM", CT, p_socket_inet_dgram,
	      ERRNO(EPERM), NULL);
	check("controller: openat of an existing file O_WRONLY -> EPERM", CT, p_open_tmp_wronly,
	      ERRNO(EPERM), NULL);
	check("stacked spawner+frontend: execve is killed", STACK, p_execve_true, KILL, SP);
	check("stacked spawner+frontend: socket(AF_INET) -> EPERM", STACK, p_socket_inet,
	      ERRNO(EPERM), SP);
	check("stacked spawner+frontend: fork -> EPERM", STACK, p_fork, ERRNO(EPERM), SP);
	check("stacked spawner+frontend: socket(AF_UNIX) works", STACK, p_socket_unix,
	      WORKS, NULL);
	check("stacked spawner+frontend: pthread_create works", STACK, p_pthread, WORKS, NULL);

	/* The repair helper as the spawner forks it: its allowlist stacked on
	 * the spawner's filter, judged against the spawner's alone. */
	check("repair: setns(CLONE_NEWNS) reaches the kernel", REP, p_setns_mnt, WORKS, NULL);
	check("repair: setns(CLONE_NEWNET) -> EPERM", REP, p_setns_net, ERRNO(EPERM), SP);
	check("repair: umount2 MNT_DETACH reaches the kernel", REP, p_umount_detach, WORKS, NULL);
	check("repair: umount2 without MNT_DETACH -> EPERM", REP, p_umount_strict, ERRNO(EPERM),
	      SP);
	check("repair: umount2 UMOUNT_NOFOLLOW|MNT_DETACH -> EPERM", REP, p_umount_nofollow,
	      ERRNO(EPERM), SP);
	check("repair: move_mount F_EMPTY_PATH|T_EMPTY_PATH reaches the kernel", REP,
	      p_move_mount_fds, WORKS, NULL);
	check("repair: move_mount with MOVE_MOUNT_F_SYMLINKS -> EPERM", REP, p_move_mount_symlinks,
	      ERRNO(EPERM), SP);
	check("repair: open_tree is killed (privd makes the clone)", REP, p_open_tree_clone, KILL,
	      SP);
	check("repair: mount is killed", REP, p_mount, KILL, SP);
	check("repair: mount_setattr is killed", REP, p_mount_setattr, KILL, SP);
	check("repair: fork is killed", REP, p_fork, KILL, SP);
	check("repair: execve is killed", REP, p_execve_true, KILL, SP);
	check("repair: socket(AF_UNIX) is killed", REP, p_socket_unix, KILL, SP);
	check("repair: openat O_WRONLY -> EPERM", REP, p_open_tmp_wronly, ERRNO(EPERM), SP);
	check("repair: openat /etc/hostname reads it", REP, p_open_hostname_ro, WORKS, NULL);
	check("repair: fchdir works (detach through /proc/self/fd)", REP, p_fchdir_root, WORKS,
	      NULL);
	check("repair: unlisted chdir -> EPERM", REP, p_chdir, ERRNO(EPERM), SP);

	unlink(tmp_path);
	if (passed + failed != NCHECKS)
		printf("not ok - check count: ran %d, expected %d\n", passed + failed,
		       NCHECKS), failed++;
	printf("seccomp: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
