/* Unit tests of privd/node/kpath.c: the textual rules for kubelet paths, and the
 * symlink-free walk on a scratch tree under $TMPDIR. No root needed: the
 * mount-point case mounts in a private (user) namespace of a child. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kpath.h"

#define KROOT "/var/lib/kubelet"

/* ---- kpath_check ---------------------------------------------------------- */

static int
check(const char *root, const char *path)
{
	char why[128] = "";
	int rc = kpath_check(root, path, why, sizeof(why));

	if (rc)
		assert_true(why[0] != '\0'); /* every refusal says why */
	return rc;
}

static void
check_accepts_plain_paths(void **state)
{
	(void)state;
	assert_int_equal(check(KROOT, KROOT "/pods/1f2e/volumes/kubernetes.io~csi/pvc-1/mount"), 0);
	assert_int_equal(check(KROOT, KROOT "/plugins/kubernetes.io/csi/x/globalmount"), 0);
	assert_int_equal(check(KROOT, KROOT "/a"), 0);
	assert_int_equal(check(KROOT "/", KROOT "/a"), 0); /* root with trailing slash */
	assert_int_equal(check("/", "/a/b"), 0);
	assert_int_equal(check(KROOT, KROOT "/..a/.b/a..b/..."), 0); /* dots inside names */
	assert_int_equal(check(KROOT, KROOT "/caf\xc3\xa9"), 0);       /* UTF-8 is fine */
}

static void
check_rejects_relative_and_empty(void **state)
{
	(void)state;
	assert_int_equal(check(KROOT, "var/lib/kubelet/a"), -EINVAL);
	assert_int_equal(check(KROOT, ""), -EINVAL);
	assert_int_equal(check(KROOT, NULL), -EINVAL);
	assert_int_equal(check(NULL, KROOT "/a"), -EINVAL);
}

static void
check_rejects_dot_components(void **state)
{
	(void)state;
	assert_int_equal(check(KROOT, KROOT "/pods/../../../etc"), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/.."), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/a/.."), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/./a"), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/a/."), -EINVAL);
}

static void
check_rejects_empty_components(void **state)
{
	(void)state;
	assert_int_equal(check(KROOT, KROOT "//a"), -EINVAL);
	assert_int_equal(check(KROOT, "/" KROOT "/a"), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/a/"), -EINVAL); /* trailing slash */
	assert_int_equal(check(KROOT, KROOT "/a//b"), -EINVAL);
}

static void
check_rejects_control_bytes(void **state)
{
	(void)state;
	assert_int_equal(check(KROOT, KROOT "/a\nb"), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/a\x01"), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/\tx"), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/a\x7f"), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/a\x1b[2J"), -EINVAL);
}

static void
check_rejects_root_and_outside(void **state)
{
	(void)state;
	assert_int_equal(check(KROOT, KROOT), -EINVAL);
	assert_int_equal(check(KROOT, KROOT "/"), -EINVAL);
	assert_int_equal(check(KROOT, "/var/lib/kubeletX/pods/a"), -EINVAL);
	assert_int_equal(check(KROOT, "/var/lib/kubelet-evil/a"), -EINVAL);
	assert_int_equal(check(KROOT, "/var/lib"), -EINVAL);
	assert_int_equal(check(KROOT, "/etc/shadow"), -EINVAL);
	assert_int_equal(check("/", "/"), -EINVAL);
}

static void
check_rejects_bad_roots(void **state)
{
	(void)state;
	assert_int_equal(check("var/lib/kubelet", "var/lib/kubelet/a"), -EINVAL);
	assert_int_equal(check("/var/../lib", "/var/../lib/a"), -EINVAL);
	assert_int_equal(check("", "/a"), -EINVAL);
}

/* A path of exactly len bytes below KROOT, in 200-byte components. */
static char *
long_path(size_t len)
{
	char *p = malloc(len + 1);
	size_t n = strlen(KROOT);

	assert_non_null(p);
	memcpy(p, KROOT, n);
	while (n < len) {
		p[n++] = '/';
		for (int i = 0; i < 200 && n < len; i++)
			p[n++] = 'x';
	}
	if (p[len - 1] == '/')
		p[len - 1] = 'y';
	p[len] = '\0';
	return p;
}

static void
check_length_limits(void **state)
{
	(void)state;
	char *ok = long_path(4095), *bad = long_path(4096), *huge = long_path(70000);

	assert_int_equal(strlen(ok), 4095);
	assert_int_equal(check(KROOT, ok), 0);
	assert_int_equal(check(KROOT, bad), -EINVAL);
	assert_int_equal(check(KROOT, huge), -EINVAL);
	free(ok);
	free(bad);
	free(huge);

	char name[300];
	memset(name, 'n', sizeof(name));
	name[0] = '/';
	snprintf(name + 256, sizeof(name) - 256, "%s", ""); /* "/" + 255 bytes */
	char path[400];
	snprintf(path, sizeof(path), "%s%s", KROOT, name);
	assert_int_equal(check(KROOT, path), 0);
	snprintf(path, sizeof(path), "%s%sn", KROOT, name); /* 256-byte component */
	assert_int_equal(check(KROOT, path), -EINVAL);
}


/* ---- kpath_shape: only kubelet's own shapes ---------------------------------- */

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define STG_NEW KROOT "/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/" SHA "/globalmount"
#define STG_OLD KROOT "/plugins/kubernetes.io/csi/pv/pvc-0b8a3c1e-7d2f-4a5b-9c6d-1e2f3a4b5c6d/globalmount"
#define POD "4f6c2a10-0c8e-4d0b-a5b2-9d1e8f7a6b5c"
#define TGT KROOT "/pods/" POD "/volumes/kubernetes.io~csi/pvc-1/mount"

static int
shape(const char *path, enum kpath_kind kind)
{
	char why[256] = "";
	int rc = kpath_shape(KROOT, path, kind, why, sizeof(why));

	if (rc)
		assert_true(why[0] != '\0');
	return rc;
}

static void
shape_accepts_kubelets_paths(void **state)
{
	(void)state;
	assert_int_equal(shape(STG_NEW, KPATH_STAGING), 0);
	assert_int_equal(shape(STG_OLD, KPATH_STAGING), 0);
	assert_int_equal(shape(TGT, KPATH_TARGET), 0);
	/* static pods: 32 hex uid; inline volumes: a DNS label */
	assert_int_equal(shape(KROOT "/pods/0123456789abcdef0123456789abcdef/volumes/"
				     "kubernetes.io~csi/data/mount", KPATH_TARGET), 0);
	/* volume_path is either */
	assert_int_equal(shape(STG_NEW, KPATH_VOLUME), 0);
	assert_int_equal(shape(STG_OLD, KPATH_VOLUME), 0);
	assert_int_equal(shape(TGT, KPATH_VOLUME), 0);
	/* a kubelet root with a trailing slash, or "/" */
	assert_int_equal(kpath_shape(KROOT "/", TGT, KPATH_TARGET, NULL, 0), 0);
	assert_int_equal(kpath_shape("/", "/pods/u/volumes/kubernetes.io~csi/v/mount", KPATH_TARGET,
				     NULL, 0), 0);
}

static void
shape_refuses_other_kubelet_dirs(void **state)
{
	(void)state;
	static const char *const bad[] = {
		KROOT "/pki",
		KROOT "/pki/globalmount",
		KROOT "/plugins_registry",
		KROOT "/plugins_registry/x/globalmount",
		KROOT "/device-plugins",
		KROOT "/device-plugins/kubelet.sock",
		KROOT "/plugins/kubernetes.io/csi",
		KROOT "/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io",
		KROOT "/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/" SHA,
		/* another driver's staging directory */
		KROOT "/plugins/kubernetes.io/csi/other.csi.k8s.io/" SHA "/globalmount",
		KROOT "/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/" SHA "/mount",
		KROOT "/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/abc/globalmount",
		KROOT "/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/"
		      "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef/globalmount",
		KROOT "/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/" SHA "/globalmount/x",
		KROOT "/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/x/" SHA "/globalmount",
		KROOT "/plugins/kubernetes.io/csi/pv/Upper/globalmount",
		KROOT "/plugins/kubernetes.io/csi/pv/-x/globalmount",
		KROOT "/plugins/kubernetes.io/csi/pv/x/y/globalmount",
		KROOT "/plugins/kubernetes.io~csi/pv/x/globalmount",
		KROOT "/plugins/lcw/globalmount",
		KROOT "/pods",
		KROOT "/pods/" POD,
		/* the pod's other directories */
		KROOT "/pods/" POD "/etc-hosts",
		KROOT "/pods/" POD "/containers/c/mount",
		KROOT "/pods/" POD "/volumes/kubernetes.io~empty-dir/cache/mount",
		KROOT "/pods/" POD "/volumes/kubernetes.io~secret/token/mount",
		KROOT "/pods/" POD "/volumes/kubernetes.io~projected/kube-api-access/mount",
		KROOT "/pods/" POD "/volume-subpaths/pvc-1/c/0",
		/* the volume's directory itself (vol_data.json lives there) */
		KROOT "/pods/" POD "/volumes/kubernetes.io~csi/pvc-1",
		KROOT "/pods/" POD "/volumes/kubernetes.io~csi/pvc-1/mount/x",
		KROOT "/pods/" POD "/volumes/kubernetes.io~csi/pvc-1/mnt",
		KROOT "/pods/" POD "/volumes/kubernetes.io~csi/pvc 1/mount",
		KROOT "/pods/" POD "/volumes/kubernetes.io~csi/pvc-1./mount",
		KROOT "/pods/Pod/volumes/kubernetes.io~csi/pvc-1/mount",
		KROOT "/x/pods/" POD "/volumes/kubernetes.io~csi/pvc-1/mount",
		KROOT "/a/b/c/d/e/f/g/h/i/j",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (shape(bad[i], KPATH_VOLUME) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	/* each shape only where it belongs */
	assert_int_equal(shape(TGT, KPATH_STAGING), -EINVAL);
	assert_int_equal(shape(STG_NEW, KPATH_TARGET), -EINVAL);
	assert_int_equal(shape(STG_OLD, KPATH_TARGET), -EINVAL);
	/* the generic rules still apply first */
	assert_int_equal(shape("/etc/kubernetes/pods/" POD "/volumes/kubernetes.io~csi/v/mount",
			       KPATH_TARGET), -EINVAL);
	assert_int_equal(shape(KROOT "/pods/" POD "/volumes/kubernetes.io~csi/../csi/v/mount",
			       KPATH_TARGET), -EINVAL);
	assert_int_equal(shape(KROOT "/pods/" POD "//volumes/kubernetes.io~csi/v/mount",
			       KPATH_TARGET), -EINVAL);
	assert_int_equal(shape(TGT "/", KPATH_TARGET), -EINVAL);
}

/* ---- kpath_open_dir / kpath_remove_dir on a scratch tree ------------------ */

struct tree {
	char top[256];  /* mkdtemp'd */
	char root[300]; /* top/root: the "kubelet root" */
};

static void
mk(const struct tree *t, const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void
ln(const struct tree *t, const char *target, const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	assert_int_equal(symlink(target, p), 0);
}

static const char *
P(const struct tree *t, const char *rel)
{
	static char bufs[4][512];
	static int i;
	char *p = bufs[i++ % 4];

	snprintf(p, 512, "%s/%s", t->root, rel);
	return p;
}

static int
tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	const char *tmp = getenv("TMPDIR");

	if (!t)
		return -1;
	snprintf(t->top, sizeof(t->top), "%s/lcw-kpath.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->top))
		return -1;
	snprintf(t->root, sizeof(t->root), "%s/root", t->top);
	if (mkdir(t->root, 0755))
		return -1;
	mk(t, "a");
	mk(t, "a/b");
	mk(t, "outside-target");
	ln(t, "a", "link");              /* symlink as a parent */
	ln(t, "b", "a/lnk");             /* symlink as a leaf */
	ln(t, "/etc", "a/etc");          /* absolute symlink leaving the root */
	ln(t, "/proc/self/root", "a/magic");
	int fd = open(P(t, "a/file"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	*state = t;
	return 0;
}

static int
tree_teardown(void **state)
{
	struct tree *t = *state;
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", t->top);
	int rc = system(cmd);
	free(t);
	return rc == 0 ? 0 : -1;
}

static void
assert_is_dir_fd(int fd)
{
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void
open_existing_dir(void **state)
{
	struct tree *t = *state;

	assert_is_dir_fd(kpath_open_dir(t->root, P(t, "a/b"), KPATH_MUST_EXIST));
	assert_is_dir_fd(kpath_open_dir(t->root, P(t, "a"), KPATH_MUST_EXIST));
	assert_is_dir_fd(kpath_open_dir(t->root, P(t, "a/b"), KPATH_MKDIR)); /* exists: fine */
}

static void
open_refuses_symlinks(void **state)
{
	struct tree *t = *state;

	assert_int_equal(kpath_open_dir(t->root, P(t, "link/b"), KPATH_MUST_EXIST), -ELOOP);
	assert_int_equal(kpath_open_dir(t->root, P(t, "link/new"), KPATH_MKDIR), -ELOOP);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/lnk"), KPATH_MUST_EXIST), -ELOOP);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/lnk"), KPATH_MKDIR), -ELOOP);
	assert_int_equal(kpath_open_dir(t->root, P(t, "link"), KPATH_MUST_EXIST), -ELOOP);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/etc"), KPATH_MUST_EXIST), -ELOOP);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/etc/ssl"), KPATH_MUST_EXIST), -ELOOP);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/magic"), KPATH_MUST_EXIST), -ELOOP);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/magic/etc"), KPATH_MKDIR), -ELOOP);
	/* No directory was created through the symlinks. */
	struct stat st;
	assert_int_equal(lstat(P(t, "a/new"), &st), -1);
	assert_int_equal(lstat(P(t, "a/b/new"), &st), -1);
	assert_int_equal(lstat(P(t, "a/lnk"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void
open_mkdir_creates_leaf(void **state)
{
	struct tree *t = *state;
	struct stat st;
	mode_t um = umask(022);

	int fd = kpath_open_dir(t->root, P(t, "a/b/mount"), KPATH_MKDIR);
	umask(um);
	assert_true(fd >= 0);
	assert_int_equal(lstat(P(t, "a/b/mount"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	/* the fd is that directory */
	struct stat fst;
	assert_int_equal(fstat(fd, &fst), 0);
	assert_int_equal(fst.st_ino, st.st_ino);
	close(fd);
	/* directly below the root too */
	assert_is_dir_fd(kpath_open_dir(t->root, P(t, "top"), KPATH_MKDIR));
}

static void
open_missing(void **state)
{
	struct tree *t = *state;

	assert_int_equal(kpath_open_dir(t->root, P(t, "nope/leaf"), KPATH_MKDIR), -ENOENT);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/nope/leaf"), KPATH_MKDIR), -ENOENT);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/nope"), KPATH_MUST_EXIST), -ENOENT);
	struct stat st;
	assert_int_equal(lstat(P(t, "nope"), &st), -1); /* parents are not created */
}

static void
open_not_a_directory(void **state)
{
	struct tree *t = *state;

	assert_int_equal(kpath_open_dir(t->root, P(t, "a/file"), KPATH_MUST_EXIST), -ENOTDIR);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/file"), KPATH_MKDIR), -ENOTDIR);
	assert_int_equal(kpath_open_dir(t->root, P(t, "a/file/x"), KPATH_MKDIR), -ENOTDIR);
}

static void
open_refuses_bad_text(void **state)
{
	struct tree *t = *state;
	char p[600];

	assert_int_equal(kpath_open_dir(t->root, t->root, KPATH_MUST_EXIST), -EINVAL);
	snprintf(p, sizeof(p), "%s/a/../../outside-target", t->root);
	assert_int_equal(kpath_open_dir(t->root, p, KPATH_MUST_EXIST), -EINVAL);
	snprintf(p, sizeof(p), "%s/outside-target", t->top);
	assert_int_equal(kpath_open_dir(t->root, p, KPATH_MUST_EXIST), -EINVAL);
	snprintf(p, sizeof(p), "%sX/a", t->root);
	assert_int_equal(kpath_open_dir(t->root, p, KPATH_MKDIR), -EINVAL);
}

/* The configured root may itself be a symlink (admin's choice). */
static void
open_symlinked_root(void **state)
{
	struct tree *t = *state;
	char lroot[400];

	snprintf(lroot, sizeof(lroot), "%s/rootlink", t->top);
	assert_int_equal(symlink(t->root, lroot), 0);
	char p[500];
	snprintf(p, sizeof(p), "%s/a/b", lroot);
	assert_is_dir_fd(kpath_open_dir(lroot, p, KPATH_MUST_EXIST));
	snprintf(p, sizeof(p), "%s/link/b", lroot);
	assert_int_equal(kpath_open_dir(lroot, p, KPATH_MUST_EXIST), -ELOOP);
	unlink(lroot);
}

static void
remove_empty_dir(void **state)
{
	struct tree *t = *state;
	struct stat st;

	mk(t, "a/empty");
	assert_int_equal(kpath_remove_dir(t->root, P(t, "a/empty")), 0);
	assert_int_equal(lstat(P(t, "a/empty"), &st), -1);
	assert_int_equal(errno, ENOENT);
	/* gone already, or no parent at all: still 0 */
	assert_int_equal(kpath_remove_dir(t->root, P(t, "a/empty")), 0);
	assert_int_equal(kpath_remove_dir(t->root, P(t, "x/y/z")), 0);
}

static void
remove_keeps_nonempty_and_non_dirs(void **state)
{
	struct tree *t = *state;
	struct stat st;

	mk(t, "a/full");
	mk(t, "a/full/data");
	assert_int_equal(kpath_remove_dir(t->root, P(t, "a/full")), -ENOTEMPTY);
	assert_int_equal(lstat(P(t, "a/full/data"), &st), 0);
	assert_int_equal(kpath_remove_dir(t->root, P(t, "a/file")), -ENOTDIR);
	assert_int_equal(lstat(P(t, "a/file"), &st), 0);
	/* a symlink leaf is neither followed nor removed */
	assert_int_equal(kpath_remove_dir(t->root, P(t, "a/lnk")), -ENOTDIR);
	assert_int_equal(lstat(P(t, "a/lnk"), &st), 0);
	assert_int_equal(lstat(P(t, "a/b"), &st), 0);
	/* nor is anything reached through a symlinked parent */
	mk(t, "a/b/victim");
	assert_int_equal(kpath_remove_dir(t->root, P(t, "link/b/victim")), -ELOOP);
	assert_int_equal(lstat(P(t, "a/b/victim"), &st), 0);
	assert_int_equal(kpath_remove_dir(t->root, t->root), -EINVAL);
}

static int
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A private mount namespace (inside a new user namespace when not root),
 * so the test can mount without privileges and never leaks a mount. */
static int
private_mount_ns(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (uid == 0)
		return unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS))
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if (write_file("/proc/self/setgroups", "deny") || write_file("/proc/self/uid_map", map))
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	return write_file("/proc/self/gid_map", map);
}

/* Child: 0 when kpath_remove_dir refused the mounted (empty) directory with
 * EBUSY and left it in place, 77 when it could not mount, 1 otherwise. */
static int
mount_point_child(const char *mnt, const char *root)
{
	struct stat st;

	if (private_mount_ns() || mount("lcw-kpath", mnt, "tmpfs", MS_NODEV | MS_NOSUID, "size=64k"))
		return 77;
	int rc = kpath_remove_dir(root, mnt);
	int kept = lstat(mnt, &st) == 0;
	umount2(mnt, 0);
	return rc == -EBUSY && kept ? 0 : 1;
}

static void
remove_keeps_mount_point(void **state)
{
	struct tree *t = *state;
	struct stat st;
	int status;

	mk(t, "a/mnt");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(mount_point_child(P(t, "a/mnt"), t->root));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		skip(); /* neither root nor user namespaces */
		return;
	}
	/* an empty tmpfs: only the mount-point check could keep it */
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(lstat(P(t, "a/mnt"), &st), 0);
	assert_int_equal(kpath_remove_dir(t->root, P(t, "a/mnt")), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(check_accepts_plain_paths),
		cmocka_unit_test(check_rejects_relative_and_empty),
		cmocka_unit_test(check_rejects_dot_components),
		cmocka_unit_test(check_rejects_empty_components),
		cmocka_unit_test(check_rejects_control_bytes),
		cmocka_unit_test(check_rejects_root_and_outside),
		cmocka_unit_test(check_rejects_bad_roots),
		cmocka_unit_test(check_length_limits),
		cmocka_unit_test(shape_accepts_kubelets_paths),
		cmocka_unit_test(shape_refuses_other_kubelet_dirs),
		cmocka_unit_test_setup_teardown(open_existing_dir, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(open_refuses_symlinks, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(open_mkdir_creates_leaf, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(open_missing, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(open_not_a_directory, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(open_refuses_bad_text, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(open_symlinked_root, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(remove_empty_dir, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(remove_keeps_nonempty_and_non_dirs, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(remove_keeps_mount_point, tree_setup, tree_teardown),
	};
	return cmocka_run_group_tests_name("kpath", tests, NULL, NULL) ? 1 : 0;
}
