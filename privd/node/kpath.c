/* Kubelet-supplied paths: textual rules, then a symlink-free walk below the
 * kubelet root with openat2(2). See kpath.h. */
#define _GNU_SOURCE
#include "kpath.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KPATH_MAX 4095 /* PATH_MAX without the NUL */
#define KPATH_NAME_MAX 255

static int
fail(char *why, size_t whylen, const char *reason)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", reason);
	return -EINVAL;
}

/* Length of root without trailing slashes ("/" becomes 0), so that
 * "/var/lib/kubelet/" and "/var/lib/kubelet" behave alike. */
static size_t
root_len(const char *root)
{
	size_t n = strlen(root);

	while (n > 0 && root[n - 1] == '/')
		n--;
	return n;
}

/* Absolute, bounded, printable, and every component a plain name. */
static int
check_shape(const char *p, char *why, size_t whylen)
{
	size_t len = strlen(p);

	if (p[0] != '/')
		return fail(why, whylen, "not an absolute path");
	if (len > KPATH_MAX)
		return fail(why, whylen, "longer than 4095 bytes");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return fail(why, whylen, "contains a control byte");
	if (len == 1)
		return 0; /* "/" itself: no components */
	for (const char *c = p + 1;;) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);

		if (n == 0)
			return fail(why, whylen, "empty component (\"//\" or trailing \"/\")");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return fail(why, whylen, "\".\" or \"..\" component");
		if (n > KPATH_NAME_MAX)
			return fail(why, whylen, "component longer than 255 bytes");
		if (!end)
			return 0;
		c = end + 1;
	}
}

int
kpath_check(const char *root, const char *path, char *why, size_t whylen)
{
	if (!root || !path)
		return fail(why, whylen, "missing path");
	/* A root of "/x/" is fine; its components must be as clean as path's. */
	char r[KPATH_MAX + 1];
	size_t rlen = root_len(root);

	if (rlen > KPATH_MAX)
		return fail(why, whylen, "kubelet root too long");
	memcpy(r, root, rlen);
	r[rlen] = '\0';
	if (root[0] != '/' || (rlen > 0 && check_shape(r, NULL, 0) != 0))
		return fail(why, whylen, "kubelet root is not a clean absolute path");
	int rc = check_shape(path, why, whylen);
	if (rc)
		return rc;
	/* Component-wise prefix: "/var/lib/kubeletX/..." is not below
	 * "/var/lib/kubelet", and the root itself is refused. */
	if (strncmp(path, r, rlen) != 0 || path[rlen] != '/' || path[rlen + 1] == '\0')
		return fail(why, whylen, "not strictly below the kubelet root");
	return 0;
}

/* One resolution step: no symlinks at all (magic ones included), never
 * above dirfd. RESOLVE_NO_XDEV is deliberately absent: kubelet directories
 * may be mount points. */
static int
open_beneath(int dirfd, const char *rel)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	for (int tries = 0; tries < 4; tries++) {
		long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		/* EAGAIN: a concurrent rename made the kernel unsure; just retry. */
		if (errno != EAGAIN)
			return -errno;
	}
	return -EAGAIN;
}

/* The root is configured by the administrator, so symlinks in it (e.g.
 * /var/lib/kubelet -> /data/kubelet) are followed; only what lies below it
 * comes from the CO. */
static int
open_root(const char *root)
{
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Splits the part of path below root into its parent (relative, may be
 * "") and leaf. Path must have passed kpath_check. */
static void
split_rel(const char *root, const char *path, char *parent, size_t plen, const char **leaf)
{
	const char *rel = path + root_len(root) + 1;
	const char *slash = strrchr(rel, '/');

	if (!slash) {
		parent[0] = '\0';
		*leaf = rel;
		return;
	}
	snprintf(parent, plen, "%.*s", (int)(slash - rel), rel);
	*leaf = slash + 1;
}

/* fd of the parent directory of path's leaf (root's fd for a direct child). */
static int
open_parent(const char *root, const char *path, const char **leaf)
{
	char parent[KPATH_MAX + 1];
	int rootfd, fd;

	split_rel(root, path, parent, sizeof(parent), leaf);
	rootfd = open_root(root);
	if (rootfd < 0 || parent[0] == '\0')
		return rootfd;
	fd = open_beneath(rootfd, parent);
	close(rootfd);
	return fd;
}

int
kpath_open_parent(const char *root, const char *path, const char **leaf)
{
	if (kpath_check(root, path, NULL, 0))
		return -EINVAL;
	return open_parent(root, path, leaf);
}

int
kpath_open_dir(const char *root, const char *path, enum kpath_leaf leaf)
{
	const char *name;
	int pfd, fd;

	if (kpath_check(root, path, NULL, 0))
		return -EINVAL;
	pfd = open_parent(root, path, &name);
	if (pfd < 0)
		return pfd;
	/* mkdirat never follows a symlink at the leaf (EEXIST instead), and the
	 * open below then refuses it. */
	if (leaf == KPATH_MKDIR && mkdirat(pfd, name, 0750) && errno != EEXIST) {
		int e = -errno;
		close(pfd);
		return e;
	}
	fd = open_beneath(pfd, name);
	close(pfd);
	return fd;
}

/* Is name (in dirfd) the root of a mount? Either flag suffices: the
 * attribute is authoritative where the kernel reports it (5.8+), the mount
 * id differs from the parent's for any mount point. */
static int
is_mount_point(int dirfd, const struct statx *leaf)
{
	struct statx parent;

	if ((leaf->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (leaf->stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return 1;
	if (statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &parent))
		return -errno;
	if ((leaf->stx_mask & STATX_MNT_ID) && (parent.stx_mask & STATX_MNT_ID))
		return leaf->stx_mnt_id != parent.stx_mnt_id;
	return leaf->stx_dev_major != parent.stx_dev_major ||
	       leaf->stx_dev_minor != parent.stx_dev_minor;
}

int
kpath_remove_dir(const char *root, const char *path)
{
	const char *name;
	struct statx st;
	int pfd, rc;

	if (kpath_check(root, path, NULL, 0))
		return -EINVAL;
	pfd = open_parent(root, path, &name);
	if (pfd == -ENOENT)
		return 0; /* no parent, no leaf */
	if (pfd < 0)
		return pfd;
	/* AT_SYMLINK_NOFOLLOW: a symlink leaf is reported as such, never
	 * followed; a dead FUSE mount fails here (ENOTCONN) and is kept. */
	if (statx(pfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		  STATX_TYPE | STATX_MNT_ID, &st)) {
		rc = errno == ENOENT ? 0 : -errno;
	} else if (!S_ISDIR(st.stx_mode)) {
		rc = -ENOTDIR;
	} else if ((rc = is_mount_point(pfd, &st)) != 0) {
		rc = rc > 0 ? -EBUSY : rc;
	} else if (unlinkat(pfd, name, AT_REMOVEDIR)) {
		/* ENOTEMPTY: the pod left data behind; keep it. */
		rc = errno == ENOENT ? 0 : -errno;
	}
	close(pfd);
	return rc;
}

/* ---- kubelet's shapes ---------------------------------------------------- */

/* A Kubernetes object name as kubelet puts it in a path: a DNS subdomain
 * (lowercase alphanumerics, '-', '.'), at most 253 bytes, starting and
 * ending alphanumeric. Pod UIDs (uuids, or 32 hex for static pods) fit. */
static int
k8s_name(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && !((c == '-' || c == '.') && i > 0 && i + 1 < n))
			return 0;
	}
	return 1;
}

static int
hex64(const char *s, size_t n)
{
	if (n != 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

#define MAX_COMPONENTS 8

/* Splits rel (clean, as kpath_check leaves it) into at most MAX_COMPONENTS
 * components; returns their number, or MAX_COMPONENTS + 1 if more. */
static int
split(const char *rel, const char *c[], size_t len[])
{
	int n = 0;

	for (const char *p = rel;; n++) {
		const char *end = strchr(p, '/');
		if (n == MAX_COMPONENTS)
			return n + 1;
		c[n] = p;
		len[n] = end ? (size_t)(end - p) : strlen(p);
		if (!end)
			return n + 1;
		p = end + 1;
	}
}

static int
is(const char *c, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(c, lit, n) == 0;
}

static int
staging_shape(int n, const char *c[], size_t len[])
{
	if (n != 6 || !is(c[0], len[0], "plugins") || !is(c[1], len[1], "kubernetes.io") ||
	    !is(c[2], len[2], "csi") || !is(c[5], len[5], "globalmount"))
		return 0;
	if (is(c[3], len[3], LCW_DRIVER_NAME))
		return hex64(c[4], len[4]);
	return is(c[3], len[3], "pv") && k8s_name(c[4], len[4]);
}

static int
target_shape(int n, const char *c[], size_t len[])
{
	return n == 6 && is(c[0], len[0], "pods") && k8s_name(c[1], len[1]) &&
	       is(c[2], len[2], "volumes") && is(c[3], len[3], "kubernetes.io~csi") &&
	       k8s_name(c[4], len[4]) && is(c[5], len[5], "mount");
}

int
kpath_shape(const char *root, const char *path, enum kpath_kind kind, char *why, size_t whylen)
{
	const char *c[MAX_COMPONENTS];
	size_t len[MAX_COMPONENTS];
	int rc = kpath_check(root, path, why, whylen);

	if (rc)
		return rc;
	int n = split(path + root_len(root) + 1, c, len);
	if (((kind & KPATH_STAGING) && staging_shape(n, c, len)) ||
	    ((kind & KPATH_TARGET) && target_shape(n, c, len)))
		return 0;
	switch (kind) {
	case KPATH_STAGING:
		return fail(why, whylen, "not a kubelet staging path "
			    "(plugins/kubernetes.io/csi/" LCW_DRIVER_NAME "/<sha256>/globalmount "
			    "or plugins/kubernetes.io/csi/pv/<pv>/globalmount)");
	case KPATH_TARGET:
		return fail(why, whylen, "not a kubelet publish target "
			    "(pods/<uid>/volumes/kubernetes.io~csi/<name>/mount)");
	default:
		return fail(why, whylen, "neither a kubelet staging path nor a publish target");
	}
}
