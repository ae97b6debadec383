/* privd's handlers for local LUKS volumes.
 *
 * Every resource is derived here from the validated volume id: the backing
 * file <local root>/<id>/luks-<id>.img, the mapping luks-<id>, the loop
 * device found by its backing file. Kubelet paths are accepted only below
 * the kubelet root and opened without following symlinks (kpath), and
 * mounts go through those descriptors. Each handler re-checks the state of
 * the system instead of trusting memory, so every call is idempotent and a
 * retry after privd was killed at any point finishes the job. Nothing is
 * ever formatted unless libblkid finds no signature at all on it. */
#define _GNU_SOURCE
#include "volume_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "blkprobe.h"
#include "dm_stale.h"
#include "k8s_client.h"
#include "kdf_budget.h"
#include "kpath.h"
#include "log.h"
#include "loopdev.h"
#include "luks.h"
#include "mountops.h"
#include "node_limits.h"
#include "luks_config.h"
#include "privd_ctx.h"
#include "pv_bind.h"
#include "vol_admit.h"
#include "secmem.h"
#include "vol.h"
#include "vol_owner.h"
#include "volparams.h"

static int
vol_derive(const struct privd_ctx *ctx, const char *id, struct vol *v, struct ipc_msg *ans)
{
	if (volid_valid(id) || luks_dm_name(id, v->dm, sizeof(v->dm)) ||
	    luks_backing_dir(ctx->luks->local_root, id, v->dir, sizeof(v->dir)) ||
	    luks_backing_file(ctx->luks->local_root, id, v->file, sizeof(v->file))) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "invalid volume id");
		return -1;
	}
	v->id = id;
	snprintf(v->mapper, sizeof(v->mapper), "/dev/mapper/%s", v->dm);
	return 0;
}

void
audit_step(const struct vol *v, const char *op, const char *p1, const char *p2, int rc,
	   uint64_t t0, const char *detail)
{
	audit_write(&(struct audit_rec){ .op = op, .volume_id = v->id, .paths = { p1, p2, NULL },
		.ok = rc >= 0, .err = rc < 0 ? -rc : 0, .start_ns = t0, .detail = detail });
}

int
kpath_error(struct ipc_msg *ans, const char *what, const char *path, int rc)
{
	if (rc == -ELOOP)
		privd_answer_error(ans, IPC_EC_INVALID, ELOOP, "%s %s goes through a symlink", what,
				   path);
	else if (rc == -ENOENT)
		privd_answer_error(ans, IPC_EC_NOT_FOUND, ENOENT, "%s %s does not exist", what, path);
	else
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "%s %s: %s", what, path, strerror(-rc));
	return -1;
}

/* The CSI field a path came in names its role, and so the kubelet shape
 * it must have (kpath.h). */
static enum kpath_kind
kind_of(const char *what)
{
	if (strcmp(what, "staging_target_path") == 0)
		return KPATH_STAGING;
	if (strcmp(what, "target_path") == 0)
		return KPATH_TARGET;
	return KPATH_VOLUME;
}

/* Validate a kubelet path (one of kubelet's own shapes) and open it
 * (O_PATH directory, the top mount at the leaf). Returns the fd, or -1
 * with the error answered; with missing_ok a path that does not exist
 * returns -ENOENT unanswered (for idempotent teardown). Every later step
 * acts on this fd, never on the text again. */
int
open_kpath(const struct privd_ctx *ctx, const char *what, const char *path, enum kpath_leaf leaf, int missing_ok,
	   struct ipc_msg *ans)
{
	char why[256];
	int fd;

	if (kpath_shape(ctx->kubelet_root, path, kind_of(what), why, sizeof(why))) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "%s: %s (kubelet root %s)", what, why,
				   ctx->kubelet_root);
		return -1;
	}
	fd = kpath_open_dir(ctx->kubelet_root, path, leaf);
	if (fd == -ENOENT && missing_ok)
		return -ENOENT;
	if (fd < 0)
		return kpath_error(ans, what, path, fd);
	return fd;
}

void
fdpath(int fd, char *out, size_t len)
{
	snprintf(out, len, "/proc/self/fd/%d", fd);
}

int
unmount_kpath(const struct privd_ctx *ctx, const char *path, unsigned long long id)
{
	const char *leaf;
	int pfd = kpath_open_parent(ctx->kubelet_root, path, &leaf);

	if (pfd < 0)
		return pfd;
	int rc = mnt_unmount_at(pfd, leaf, id);
	close(pfd);
	return rc;
}

/* Device number of a block device node, 0 if absent. */
static dev_t
rdev_of(const char *dev)
{
	struct stat st;
	return stat(dev, &st) == 0 && S_ISBLK(st.st_mode) ? st.st_rdev : 0;
}

/* st_dev of the file system mounted at fd's directory. */
static dev_t
fsdev_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_dev : 0;
}

/* Does the active mapping sit on the loop device of this volume's own
 * backing file? 1 yes, 0 not active, -1 it sits on something else. */
int
mapping_is_ours(const struct vol *v, char *loop, size_t looplen)
{
	char under[PATH_MAX], backing[PATH_MAX];
	struct stat a, b;
	int act = luks_active(v->dm, under, sizeof(under));

	if (act <= 0)
		return act < 0 ? -1 : 0;
	if (loop_backing_file(under, backing, sizeof(backing)) ||
	    stat(backing, &a) || stat(v->file, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return -1;
	if (strlen(under) >= looplen)
		return -1;
	strcpy(loop, under);
	return 1;
}

/* Is the directory at fd (the root of) a mount of this volume's mapping?
 * 1 yes (*id: its mount id), 2 someone else's mount, 0 no mount. */
static int
mounted_here(const struct vol *v, int fd, struct mnt_info *mi, unsigned long long *id)
{
	dev_t md = rdev_of(v->mapper);
	int m = mnt_lookup_fd(fd, mi, id);

	if (m <= 0)
		return m;
	return md != 0 && fsdev_of(fd) == md ? 1 : 2; /* 2: someone else's mount */
}

/* ---- stage ------------------------------------------------------------- */

/* Create the backing file of a new volume: a regular file of exactly
 * `capacity` bytes with real blocks (fallocate), so a full disk shows up
 * now and not as I/O errors inside the database later. */
int
create_backing(const struct vol *v, uint64_t capacity, int *created, struct ipc_msg *ans)
{
	uint64_t t0 = audit_now_ns();
	struct stat st;
	int rootfd, dirfd, fd;
	const char *leaf = strrchr(v->file, '/') + 1;

	char parent[PATH_MAX];
	const char *dname;

	*created = 0;
	/* The volume's directory is <parent>/<dname>: <local root>/<id> for a
	 * local volume, --vfs-cache-root for the node's cache volume (whose
	 * parent is not the local root, which it must not create). */
	dname = strrchr(v->dir, '/');
	if (!dname || dname == v->dir || !dname[1]) {
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "bad volume directory %s", v->dir);
		return -1;
	}
	snprintf(parent, sizeof(parent), "%.*s", (int)(dname - v->dir), v->dir);
	dname++;
	if (mkdir(parent, 0755) && errno != EEXIST) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot create %s: %s", parent,
				   strerror(errno));
		return -1;
	}
	/* Below the (operator-chosen) parent nothing is followed: the volume
	 * directory and the file are made and opened through descriptors, so
	 * a <local root>/<id> planted as a symlink cannot get a file created
	 * or allocated anywhere else. */
	rootfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot open %s: %s", parent,
				   strerror(errno));
		return -1;
	}
	if (mkdirat(rootfd, dname, 0700) && errno != EEXIST) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot create %s: %s", v->dir,
				   strerror(errno));
		close(rootfd);
		return -1;
	}
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	dirfd = (int)syscall(SYS_openat2, rootfd, dname, &how, sizeof(how));
	int e = errno;
	close(rootfd);
	if (dirfd < 0) {
		privd_answer_error(ans, e == ELOOP || e == ENOTDIR ? IPC_EC_PRECONDITION
								     : IPC_EC_INTERNAL,
				   e, "%s is not a directory (a symlink?): refusing to use it (%s)",
				   v->dir, strerror(e));
		return -1;
	}
	fd = openat(dirfd, leaf, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST) {
		fd = openat(dirfd, leaf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		close(dirfd);
		if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			if (fd >= 0)
				close(fd);
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "%s exists but is not a regular file", v->file);
			return -1;
		}
		close(fd);
		return 0;
	}
	if (fd < 0) {
		e = errno;
		close(dirfd);
		privd_answer_error(ans, IPC_EC_INTERNAL, e, "cannot create %s: %s", v->file,
				   strerror(e));
		return -1;
	}
	int rc = fallocate(fd, 0, 0, (off_t)capacity);
	if (rc && (errno == EOPNOTSUPP || errno == ENOSYS)) {
		struct statvfs sv;
		rc = fstatvfs(fd, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize >= capacity
			     ? ftruncate(fd, (off_t)capacity)
			     : (errno = ENOSPC, -1);
	}
	e = errno;
	close(fd);
	audit_step(v, "create_backing_file", v->file, NULL, rc ? -e : 0, t0, NULL);
	if (rc) {
		unlinkat(dirfd, leaf, 0);
		close(dirfd);
		if (e == ENOSPC || e == EDQUOT)
			privd_answer_error(ans, IPC_EC_EXHAUSTED, e,
					   "not enough space in %s for a %llu-byte %s", v->dir,
					   (unsigned long long)capacity,
					   strcmp(v->id, VFS_CACHE_ID) == 0
						   ? "VFS-cache volume (--vfs-cache-size sets its size)"
						   : "volume");
		else
			privd_answer_error(ans, IPC_EC_INTERNAL, e, "cannot allocate %s: %s", v->file,
					   strerror(e));
		return -1;
	}
	close(dirfd);
	*created = 1;
	return 0;
}

/* Attach (or find) the loop device, open (or format and open) the LUKS
 * mapping. On success *opened says whether this call opened it. */
int
open_mapping(const struct privd_ctx *ctx, const struct vol *v, const struct lcw_secret *pass, int *attached, int *opened,
	     int *formatted, char *loop, size_t looplen, struct ipc_msg *ans)
{
	char type[64], err[256];
	uint64_t t0;
	int rc, dio = 0;

	*attached = *opened = *formatted = 0;
	/* A previous attempt killed half-way through activation leaves a
	 * table-less device of our name behind; clear it, or open fails. */
	rc = dm_remove_if_tableless(v->dm);
	if (rc > 0)
		audit_step(v, "remove_stale_mapping", v->mapper, NULL, 0, audit_now_ns(),
			   "device without a table");
	else if (rc < 0)
		log_warn("cannot check %s for a half-made mapping: %s", v->dm, strerror(-rc));
	rc = mapping_is_ours(v, loop, looplen);
	if (rc < 0) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "mapping %s exists but not on the loop device of %s; "
				   "refusing to use it", v->dm, v->file);
		return -1;
	}
	if (rc == 1)
		return 0;

	rc = loop_find_by_file(v->file, loop, looplen);
	if (rc == 0) {
		t0 = audit_now_ns();
		rc = loop_attach(v->file, loop, looplen, &dio, err, sizeof(err));
		audit_step(v, "loop_attach", v->file, rc == 0 ? loop : NULL, rc, t0,
			   rc == 0 ? (dio ? "direct-io" : "buffered-io") : err);
		if (rc) {
			privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "loop device for %s: %s", v->file,
					   err);
			return -1;
		}
		*attached = 1;
	} else if (rc < 0) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot list loop devices: %s",
				   strerror(-rc));
		return -1;
	}

	rc = blk_probe(loop, type, sizeof(type));
	if (rc == BLK_LUKS && luks_keyslot_count(loop) == 0) {
		/* A format interrupted before its keyslot was added (privd
		 * killed mid-stage): a header that can never unlock anything,
		 * so no data can be behind it. Wipe it and format anew. */
		t0 = audit_now_ns();
		rc = luks_erase(loop, err, sizeof(err));
		audit_step(v, "wipe_unfinished_format", v->file, loop, rc, t0,
			   rc ? err : "LUKS header without keyslots");
		if (rc) {
			privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "%s", err);
			return -1;
		}
		rc = BLK_EMPTY;
	}
	if (rc == BLK_EMPTY) {
		/* Provably empty: no signature anywhere. Safe to format. */
		uint64_t res = kdf_budget_reserve(ctx->luks->kdf.memory_kib);
		t0 = audit_now_ns();
		rc = luks_format(loop, pass, &ctx->luks->kdf, err, sizeof(err));
		/* audit first: its end time then shows when the KDF memory was
		 * still held, so the log can prove the budget */
		audit_step(v, "luks_format", v->file, loop, rc, t0, rc ? err : "luks2 aes-xts-plain64");
		kdf_budget_release(res);
		if (rc) {
			privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "LUKS format failed: %s", err);
			return -1;
		}
		*formatted = 1;
	} else if (rc != BLK_LUKS) {
		if (rc < 0)
			privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot probe %s: %s", v->file,
					   strerror(-rc));
		else
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "%s holds a %s signature, not LUKS: refusing to format or "
					   "open it", v->file, type[0] ? type : "foreign");
		return -1;
	}

	uint32_t kib = ctx->luks->kdf.memory_kib;
	if (!*formatted && luks_unlock_memory_kib(loop, &kib))
		kib = ctx->luks->kdf.memory_kib;
	uint64_t res = kdf_budget_reserve(kib);
	t0 = audit_now_ns();
	rc = luks_open(loop, v->dm, pass, err, sizeof(err));
	audit_step(v, "luks_open", loop, v->mapper, rc, t0, rc ? err : NULL);
	kdf_budget_release(res);
	if (rc == -EPERM) {
		privd_answer_error(ans, IPC_EC_PERMISSION, EPERM,
				   "no keyslot of %s opens with the given passphrase; the volume "
				   "was not changed", v->file);
		return -1;
	}
	if (rc) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot open %s: %s", v->file, err);
		return -1;
	}
	*opened = 1;
	return 0;
}

int
wait_ok(int ws)
{
	return ws >= 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
}

/* Make sure the mapping carries a file system of the wanted kind; mkfs
 * only if it carries no signature at all. Returns the kind in *kind. */
int
ensure_fs(const struct privd_ctx *ctx, const struct vol *v, int want, int *kind, struct ipc_msg *ans)
{
	char type[64], out[IPC_ERRMSG_MAX + 1];
	int rc = blk_probe(v->mapper, type, sizeof(type));

	if (rc == BLK_EMPTY) {
		int k = want == FS_UNSET ? FS_EXT4 : want;
		uint64_t t0 = audit_now_ns();
		int ws = ctx->tools->run_tool(IPC_REQ_RUN_MKFS, v->id, k, "", out, sizeof(out));
		audit_step(v, "mkfs", v->mapper, NULL, wait_ok(ws) ? 0 : -EIO, t0, fs_kind_name(k));
		if (!wait_ok(ws)) {
			privd_answer_error(ans, IPC_EC_INTERNAL, 0, "mkfs.%s failed: %s",
					   fs_kind_name(k), out[0] ? out : "no output");
			return -1;
		}
		*kind = k;
		return 0;
	}
	if (rc == BLK_FS) {
		int k = fs_kind_parse(type);
		if (k <= 0) {
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "volume holds a %s file system, which this driver does not "
					   "mount", type);
			return -1;
		}
		if (want != FS_UNSET && want != k) {
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "volume holds %s but %s was requested; refusing to "
					   "reformat", type, fs_kind_name(want));
			return -1;
		}
		*kind = k;
		return 0;
	}
	if (rc < 0)
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot probe %s", v->mapper);
	else
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "the opened volume holds a %s signature, not a file system",
				   type[0] ? type : "foreign");
	return -1;
}

/* Group ownership of the volume root for the pod's fsGroup, set once at
 * stage: owner and group = fsGroup (as the original), setgid so new files
 * inherit the group, mode from fs-mode. Files are never walked. */
static int
apply_fs_group(const struct vol *v, int dirfd, uint32_t gid, uint32_t mode, struct ipc_msg *ans)
{
	struct stat st;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;
	mode_t want = (mode_t)(mode & 07777) | S_ISGID;

	if (fd < 0 || fstat(fd, &st)) {
		rc = -errno;
	} else {
		if ((st.st_uid != gid || st.st_gid != gid) && fchown(fd, gid, gid))
			rc = -errno;
		if (rc == 0 && (st.st_mode & 07777) != want && fchmod(fd, want))
			rc = -errno;
	}
	if (fd >= 0)
		close(fd);
	char d[64];
	snprintf(d, sizeof(d), "gid %u mode %04o", gid, (unsigned)want);
	audit_step(v, "set_fs_group", v->mapper, NULL, rc, audit_now_ns(), d);
	if (rc)
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot set fsGroup on the volume root: %s",
				   strerror(-rc));
	return rc;
}

/* Hardened mode: read the passphrase Secret from the Kubernetes API into
 * locked memory; the frontend only forwarded its name. Same byte rules as
 * a node-stage secret (up to the first newline). */
static int
fetch_passphrase(const struct privd_ctx *ctx, const struct vol *v, const struct ipc_stage_req *r, struct lcw_secret *pass,
		 struct ipc_msg *ans)
{
	char err[512];
	uint64_t t0 = audit_now_ns();
	int rc;

	if (ctx->k8s == NULL) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "the StorageClass names passphrase Secret %s/%s, but this node has "
				   "no Kubernetes API access configured", r->secret_namespace,
				   r->secret_name);
		return -1;
	}
	rc = k8s_get_secret_value(ctx->k8s, r->secret_namespace, r->secret_name, r->secret_key,
				  pass, err, sizeof(err));
	char d[600];
	snprintf(d, sizeof(d), "secret %s/%s key %s", r->secret_namespace, r->secret_name,
		 r->secret_key);
	audit_step(v, "read_secret", NULL, NULL, rc == K8S_OK ? 0 : -EACCES, t0,
		   rc == K8S_OK ? d : err);
	if (rc != K8S_OK) {
		uint32_t cls = rc == K8S_ERR_FORBIDDEN || rc == K8S_ERR_UNAUTHORIZED ? IPC_EC_PERMISSION
			       : rc == K8S_ERR_NOT_FOUND || rc == K8S_ERR_KEY_MISSING ? IPC_EC_NOT_FOUND
			       : rc == K8S_ERR_INVALID_ARG ? IPC_EC_INVALID
							   : IPC_EC_UNAVAILABLE;
		privd_answer_error(ans, cls, 0, "passphrase Secret %s/%s: %s", r->secret_namespace,
				   r->secret_name, err);
		return -1;
	}
	pass->len = luks_passphrase_len(pass->bytes, pass->len);
	if (pass->len == 0) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "passphrase Secret %s/%s key %s is empty",
				   r->secret_namespace, r->secret_name, r->secret_key);
		return -1;
	}
	return 0;
}

/* STAGE_LUKS: create (first time), open and mount a local volume at the
 * staging path. Safe: the backing file, loop device and mapping are derived
 * from the validated id; the target is below the kubelet root and opened
 * without symlinks; only a provably empty device is ever formatted; a wrong
 * passphrase changes nothing; the mount is nodev,nosuid. A new backing file
 * only within the node-wide limits, an existing one only if it is ours
 * (vol_admit.h). */
void
luks_stage(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_stage_req *r = &req->u.stage;
	struct lcw_secret pass = { 0 };
	struct mnt_info mi;
	struct vol v;
	char loop[64] = "", err[256], data[IPC_OPTS_MAX + 1];
	unsigned long flags;
	unsigned long long mid = 0;
	int dirfd, mfd = -1, created = 0, attached = 0, opened = 0, formatted = 0, mounted = 0, kind,
	    legacy;
	uint64_t t0, capacity;

	if (vol_derive(ctx, r->volume_id, &v, ans))
		return;
	if (r->fs_kind > FS_MAX || mount_opts_split(r->mount_opts, &flags, data, sizeof(data)) ||
	    r->capacity < LUKS2_HEADER_BYTES + MIB || r->capacity > MAX_CAPACITY ||
	    (r->passphrase_len == 0) == (r->secret_name[0] == '\0')) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "invalid stage parameters");
		return;
	}
	/* With an API: only a volume with a PV, as its PV says (pv_bind.h). */
	if (pv_bind_luks(ctx, r, &capacity, ans))
		return;
	if ((dirfd = open_kpath(ctx, "staging_target_path", r->staging_path, KPATH_MKDIR, 0, ans)) < 0)
		return;

	int m = mounted_here(&v, dirfd, &mi, NULL);
	if (m == 1 && mapping_is_ours(&v, loop, sizeof(loop)) == 1) {
		ans->type = IPC_ANS_STAGE_LUKS; /* already staged: nothing to do */
		goto out;
	}
	if (m == 1 || m == 2) {
		privd_answer_error(ans, IPC_EC_EXISTS, 0,
				   "staging path %s already holds a mount of %s", r->staging_path,
				   mi.source);
		goto out;
	}

	if (secret_alloc(&pass)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the key");
		goto out;
	}
	if (r->secret_name[0]) {
		if (fetch_passphrase(ctx, &v, r, &pass, ans))
			goto out;
	} else if (secret_set(&pass, r->passphrase,
			      luks_passphrase_len(r->passphrase, r->passphrase_len))) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the key");
		goto out;
	}
	if (create_backing_owned(ctx, &v, capacity, &created, &legacy, ans))
		goto out;
	if (open_mapping(ctx, &v, &pass, &attached, &opened, &formatted, loop, sizeof(loop), ans))
		goto fail;
	secret_free(&pass);
	if (ensure_fs(ctx, &v, (int)r->fs_kind, &kind, ans))
		goto fail;

	t0 = audit_now_ns();
	int rc = mnt_mount_device_fd(v.mapper, dirfd, r->staging_path, fs_kind_name(kind), flags,
				     data[0] ? data : NULL, err, sizeof(err));
	audit_step(&v, "mount", v.mapper, r->staging_path, rc, t0, rc ? err : fs_kind_name(kind));
	if (rc) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot mount %s: %s", v.mapper, err);
		goto fail;
	}
	/* dirfd names the directory under the new mount: find the mount the
	 * same symlink-free way, and act on it only once it proves to be this
	 * volume's (its device), whatever was done to the path meanwhile. */
	mfd = kpath_open_dir(ctx->kubelet_root, r->staging_path, KPATH_MUST_EXIST);
	if (mfd < 0 || mounted_here(&v, mfd, &mi, &mid) != 1) {
		privd_answer_error(ans, IPC_EC_INTERNAL, mfd < 0 ? -mfd : 0,
				   "the new mount of %s is not at %s any more", v.mapper,
				   r->staging_path);
		goto fail;
	}
	mounted = 1;
	if (r->has_fs_group && apply_fs_group(&v, mfd, r->fs_group, r->fs_mode, ans))
		goto fail;
	if (legacy) /* a Go-driver volume, now known: a later swap is refused */
		audit_step(&v, "record_owner", v.file, NULL,
			   vol_owner_mark(ctx->luks->local_root, &v), audit_now_ns(), "legacy volume");
	ans->type = IPC_ANS_STAGE_LUKS;
	ans->u.stage_ans.formatted = (uint8_t)formatted;
	goto out;

fail:
	/* Undo what this call did, newest first; leave what was there. */
	if (mfd >= 0)
		close(mfd);
	mfd = -1;
	if (mounted)
		unmount_kpath(ctx, r->staging_path, mid);
	if (opened)
		luks_close(v.dm);
	if (attached)
		loop_detach(loop);
	if (created && !formatted) {
		unlink(v.file);
		rmdir(v.dir);
		vol_owner_forget(ctx->luks->local_root, v.id);
	}
out:
	secret_free(&pass);
	if (mfd >= 0)
		close(mfd);
	close(dirfd);
}

/* ---- unstage ----------------------------------------------------------- */

/* UNSTAGE: unmount the staging path, close the mapping, detach the loop,
 * in that order. Safe: acts only on a mount of this volume's own mapping
 * and on the loop device of its own backing file; never lazily, so a busy
 * volume reports an error instead of vanishing under its users. */
void
luks_unstage(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_unstage_req *r = &req->u.unstage;
	struct mnt_info mi;
	struct vol v;
	char loop[64];
	unsigned long long mid = 0;
	uint64_t t0;
	int dirfd, rc;

	if (vol_derive(ctx, r->volume_id, &v, ans))
		return;
	dirfd = open_kpath(ctx, "staging_target_path", r->staging_path, KPATH_MUST_EXIST, 1, ans);
	if (dirfd == -1)
		return;
	if (dirfd >= 0) {
		int m = mounted_here(&v, dirfd, &mi, &mid);
		if (m == 2) {
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "staging path %s holds a mount of %s, not of volume %s",
					   r->staging_path, mi.source, v.id);
			close(dirfd);
			return;
		}
		if (m == 1) {
			int fsfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fsfd >= 0) {
				syncfs(fsfd);
				close(fsfd);
			}
			close(dirfd);
			dirfd = -1;
			t0 = audit_now_ns();
			rc = unmount_kpath(ctx, r->staging_path, mid); /* the mount checked above */
			audit_step(&v, "unmount", r->staging_path, NULL, rc, t0, NULL);
			if (rc) {
				privd_answer_error(ans, rc == -EBUSY ? IPC_EC_BUSY : IPC_EC_INTERNAL, -rc,
						   "cannot unmount %s: %s", r->staging_path,
						   strerror(-rc));
				return;
			}
		}
		if (dirfd >= 0)
			close(dirfd);
	}
	rc = mapping_is_ours(&v, loop, sizeof(loop));
	if (rc < 0) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "mapping %s is not on this volume's backing file; left alone", v.dm);
		return;
	}
	if (rc == 1) {
		t0 = audit_now_ns();
		rc = luks_close(v.dm);
		audit_step(&v, "luks_close", v.mapper, NULL, rc, t0, NULL);
		if (rc) {
			privd_answer_error(ans, rc == -EBUSY ? IPC_EC_BUSY : IPC_EC_INTERNAL, -rc,
					   "cannot close %s: %s (still mounted or published?)", v.dm,
					   strerror(-rc));
			return;
		}
	}
	if (dm_remove_if_tableless(v.dm) > 0)
		audit_step(&v, "remove_stale_mapping", v.mapper, NULL, 0, audit_now_ns(),
			   "device without a table");
	while (loop_find_by_file(v.file, loop, sizeof(loop)) == 1) {
		t0 = audit_now_ns();
		rc = loop_detach(loop);
		audit_step(&v, "loop_detach", loop, v.file, rc, t0, NULL);
		if (rc) {
			privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot detach %s: %s", loop,
					   strerror(-rc));
			return;
		}
	}
	ans->type = IPC_ANS_UNSTAGE;
}

/* ---- publish / unpublish ---------------------------------------------- */

/* PUBLISH: bind the staged file system into the pod's target directory,
 * read-only as a read-only bind (never by remounting the superblock, which
 * would turn every other user read-only too). Safe: the source must be this
 * volume's own staged mount; both paths are below the kubelet root and
 * opened without symlinks; a bind adds no new device access. */
void
luks_publish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_publish_req *r = &req->u.publish;
	struct mnt_info mi, ti;
	struct vol v;
	char err[256];
	int sfd = -1, tfd = -1;

	if (vol_derive(ctx, r->volume_id, &v, ans))
		return;
	sfd = open_kpath(ctx, "staging_target_path", r->staging_path, KPATH_MUST_EXIST, 1, ans);
	if (sfd == -1)
		return;
	if (sfd < 0 || mounted_here(&v, sfd, &mi, NULL) != 1) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0, "volume %s is not staged at %s", v.id,
				   r->staging_path);
		goto out;
	}
	if ((tfd = open_kpath(ctx, "target_path", r->target_path, KPATH_MKDIR, 0, ans)) < 0)
		goto out;
	int m = mounted_here(&v, tfd, &ti, NULL);
	if (m == 1) {
		if (!!ti.readonly == !!r->readonly)
			ans->type = IPC_ANS_PUBLISH; /* already published like this */
		else
			privd_answer_error(ans, IPC_EC_EXISTS, 0,
					   "volume %s is already published at %s %s", v.id,
					   r->target_path, ti.readonly ? "read-only" : "read-write");
		goto out;
	}
	if (m == 2) {
		privd_answer_error(ans, IPC_EC_EXISTS, 0, "target %s already holds a mount of %s",
				   r->target_path, ti.source);
		goto out;
	}
	/* the staged mount sfd is on, onto the directory tfd is on */
	uint64_t t0 = audit_now_ns();
	int rc = mnt_bind_fd(sfd, tfd, r->readonly, 0, r->target_path, err, sizeof(err));
	audit_step(&v, "bind_mount", r->staging_path, r->target_path, rc, t0,
		   r->readonly ? "read-only" : "read-write");
	if (rc)
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot publish: %s", err);
	else
		ans->type = IPC_ANS_PUBLISH;
out:
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
}

/* UNPUBLISH: unmount the binds of this volume at the target and remove the
 * directory publish created. Safe: only mounts of this volume's file system
 * are unmounted; a foreign mount is reported, not touched. */
void
luks_unpublish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_unpublish_req *r = &req->u.unpublish;
	struct mnt_info mi;
	struct vol v;
	unsigned long long mid = 0;
	int tfd, rc;

	if (vol_derive(ctx, r->volume_id, &v, ans))
		return;
	for (int i = 0; i < 16; i++) {
		/* Reopened each round: an fd inside a mount would pin it. */
		tfd = open_kpath(ctx, "target_path", r->target_path, KPATH_MUST_EXIST, 1, ans);
		if (tfd == -ENOENT) {
			ans->type = IPC_ANS_UNPUBLISH;
			return;
		}
		if (tfd < 0)
			return;
		int m = mounted_here(&v, tfd, &mi, &mid);
		close(tfd);
		if (m == 0)
			break;
		if (m == 2) {
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "target %s holds a mount of %s, not of volume %s",
					   r->target_path, mi.source, v.id);
			return;
		}
		uint64_t t0 = audit_now_ns();
		rc = unmount_kpath(ctx, r->target_path, mid); /* only the mount checked above */
		audit_step(&v, "unmount", r->target_path, NULL, rc, t0, NULL);
		if (rc) {
			privd_answer_error(ans, rc == -EBUSY ? IPC_EC_BUSY : IPC_EC_INTERNAL, -rc,
					   "cannot unmount %s: %s", r->target_path, strerror(-rc));
			return;
		}
	}
	rc = kpath_remove_dir(ctx->kubelet_root, r->target_path);
	if (rc && rc != -ENOENT && rc != -ENOTEMPTY) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot remove %s: %s", r->target_path,
				   strerror(-rc));
		return;
	}
	ans->type = IPC_ANS_UNPUBLISH;
}

/* ---- expand ------------------------------------------------------------ */

/* EXPAND: grow the backing file, refresh the loop device, resize the
 * mapping, then grow the file system online. Every step is idempotent and
 * always runs, so a retry completes a partial expansion. Safe: acts on this
 * volume's own file, loop and mapping, and only while volume_path is this
 * volume's mount; it never shrinks anything. */
void
luks_expand(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_expand_req *r = &req->u.expand;
	struct mnt_info mi;
	struct vol v;
	struct stat sb;
	char loop[64], err[256], out[IPC_ERRMSG_MAX + 1];
	unsigned long long size = 0;
	uint64_t t0;
	int fd, rc;

	if (vol_derive(ctx, r->volume_id, &v, ans))
		return;
	if (r->new_size > MAX_CAPACITY) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "size too large");
		return;
	}
	if ((fd = open_kpath(ctx, "volume_path", r->volume_path, KPATH_MUST_EXIST, 0, ans)) < 0)
		return;
	rc = mounted_here(&v, fd, &mi, NULL);
	close(fd);
	if (rc != 1) {
		privd_answer_error(ans, IPC_EC_NOT_FOUND, 0, "volume %s is not mounted at %s", v.id,
				   r->volume_path);
		return;
	}
	if (mapping_is_ours(&v, loop, sizeof(loop)) != 1) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "mapping %s is not on this volume's backing file", v.dm);
		return;
	}

	t0 = audit_now_ns();
	fd = open(v.file, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	rc = (fd < 0 || fstat(fd, &sb)) ? -errno : 0;
	if (rc == 0 && (uint64_t)sb.st_size < r->new_size) {
		local_limits_lock();
		if (admit_local(ctx, &v, r->new_size - (uint64_t)sb.st_size, 0, ans)) {
			local_limits_unlock();
			close(fd);
			return;
		}
		if (fallocate(fd, 0, 0, (off_t)r->new_size) &&
		    (errno != EOPNOTSUPP || ftruncate(fd, (off_t)r->new_size)))
			rc = -errno;
		local_limits_unlock();
	}
	if (fd >= 0)
		close(fd);
	audit_step(&v, "grow_backing_file", v.file, NULL, rc, t0, NULL);
	if (rc) {
		privd_answer_error(ans, (rc == -ENOSPC || rc == -EDQUOT) ? IPC_EC_EXHAUSTED
									 : IPC_EC_INTERNAL,
				   -rc, "cannot grow %s to %llu bytes: %s", v.file,
				   (unsigned long long)r->new_size, strerror(-rc));
		return;
	}
	t0 = audit_now_ns();
	rc = loop_refresh_capacity(loop);
	audit_step(&v, "loop_set_capacity", loop, NULL, rc, t0, NULL);
	if (rc == 0) {
		t0 = audit_now_ns();
		rc = luks_resize(v.dm, err, sizeof(err));
		audit_step(&v, "luks_resize", v.mapper, NULL, rc, t0, rc ? err : NULL);
	}
	if (rc == 0)
		rc = blockdev_size(v.mapper, &size);
	if (rc || size + LUKS2_HEADER_BYTES + MIB < r->new_size) {
		privd_answer_error(ans, IPC_EC_INTERNAL, rc ? -rc : 0,
				   "the encrypted device did not grow (%llu bytes)", size);
		return;
	}
	int kind = fs_kind_parse(mi.fstype);
	if (kind <= 0) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0, "cannot grow a %s file system",
				   mi.fstype);
		return;
	}
	t0 = audit_now_ns();
	int ws = ctx->tools->run_tool(IPC_REQ_RUN_GROWFS, v.id, kind, r->volume_path, out, sizeof(out));
	audit_step(&v, "grow_fs", v.mapper, r->volume_path, wait_ok(ws) ? 0 : -EIO, t0, mi.fstype);
	if (!wait_ok(ws)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "growing %s failed: %s", mi.fstype,
				   out[0] ? out : "no output");
		return;
	}
	ans->type = IPC_ANS_EXPAND;
	ans->u.expand_ans.capacity = r->new_size;
}

/* ---- stats ------------------------------------------------------------- */

/* STATS: usage of the volume's file system and its health. Safe: read-only
 * queries (statvfs, mount table, mapping status) on this volume only. */
void
luks_stats(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_stats_req *r = &req->u.stats;
	struct ipc_stats_ans *a = &ans->u.stats_ans;
	struct mnt_info mi;
	struct statvfs sv;
	struct vol v;
	char loop[64];
	int fd, m;

	if (vol_derive(ctx, r->volume_id, &v, ans))
		return;
	fd = open_kpath(ctx, "volume_path", r->volume_path, KPATH_MUST_EXIST, 1, ans);
	if (fd == -1)
		return;
	if (fd < 0) {
		privd_answer_error(ans, IPC_EC_NOT_FOUND, -fd, "%s: %s", r->volume_path,
				   strerror(-fd));
		return;
	}
	m = mnt_lookup_fd(fd, &mi, NULL);
	dev_t md = rdev_of(v.mapper);
	/* A mapping cannot be closed while mounted, so no mapping means the
	 * volume is not at this path. */
	if (m != 1 || md == 0 || fsdev_of(fd) != md) {
		close(fd);
		privd_answer_error(ans, IPC_EC_NOT_FOUND, 0, "volume %s is not mounted at %s", v.id,
				   r->volume_path);
		return;
	}
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	memset(a, 0, sizeof(*a));
	ans->type = IPC_ANS_STATS;
	if (dfd < 0 || fstatvfs(dfd, &sv)) {
		a->abnormal = 1;
		snprintf(a->condition, sizeof(a->condition), "file system does not answer: %s",
			 strerror(errno));
	} else {
		a->bytes_total = (uint64_t)sv.f_blocks * sv.f_frsize;
		a->bytes_avail = (uint64_t)sv.f_bavail * sv.f_frsize;
		a->bytes_used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
		a->inodes_total = sv.f_files;
		a->inodes_free = sv.f_favail;
		a->inodes_used = sv.f_files - sv.f_ffree;
	}
	if (dfd >= 0)
		close(dfd);
	if (a->abnormal)
		return;
	if (mapping_is_ours(&v, loop, sizeof(loop)) != 1) {
		a->abnormal = 1;
		snprintf(a->condition, sizeof(a->condition),
			 "mapping %s no longer sits on its backing file", v.dm);
	} else if (access(v.file, F_OK)) {
		a->abnormal = 1;
		snprintf(a->condition, sizeof(a->condition), "backing file %.400s is missing", v.file);
	} else if (mi.sb_readonly) {
		/* We always mount read-write; ext4 errors=remount-ro got here. */
		a->abnormal = 1;
		snprintf(a->condition, sizeof(a->condition),
			 "file system was switched to read-only after errors");
	}
}

/* ---- erase ------------------------------------------------------------- */

/* Crypto-erase a local volume: destroy its keyslots and header, then
 * remove the backing file and its directory. Refused while the volume is
 * staged (mapping open or loop attached); acts only on the backing file
 * derived from the validated id. Irreversible by design, so no peer can ask
 * for it: only the reclaimer (which checks the PersistentVolume is gone)
 * calls it, inside privd. */
int
volume_is_staged(const struct privd_ctx *ctx, const char *id)
{
	struct ipc_msg ans;
	struct vol v;
	char under[PATH_MAX], loop[64];

	if (vol_derive(ctx, id, &v, &ans))
		return -1;
	int a = luks_active(v.dm, under, sizeof(under));
	int l = loop_find_by_file(v.file, loop, sizeof(loop));
	if (a < 0 || l < 0)
		return -1;
	return a || l;
}

int
erase_volume(const struct privd_ctx *ctx, const char *id, char *err, size_t errlen)
{
	struct ipc_msg ans;
	struct vol v;
	struct stat sb;
	int rc;

	if (vol_derive(ctx, id, &v, &ans)) {
		snprintf(err, errlen, "invalid volume id");
		return -EINVAL;
	}
	/* Not knowing counts as staged. */
	if (volume_is_staged(ctx, id) != 0) {
		snprintf(err, errlen, "volume %s is staged on this node; unstage it first", v.id);
		return -EBUSY;
	}
	if (lstat(v.file, &sb) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			snprintf(err, errlen, "%s is not a regular file", v.file);
			return -EINVAL;
		}
		uint64_t t0 = audit_now_ns();
		rc = luks_erase(v.file, err, errlen);
		audit_step(&v, "luks_erase", v.file, NULL, rc, t0, rc ? err : NULL);
		if (rc)
			return rc;
		rc = unlink(v.file) ? -errno : 0;
		audit_step(&v, "remove_backing_file", v.file, NULL, rc, t0, NULL);
		if (rc == 0)
			vol_owner_forget(ctx->luks->local_root, v.id);
		if (rc) {
			snprintf(err, errlen, "cannot remove %s: %s", v.file, strerror(-rc));
			return rc;
		}
	}
	if (rmdir(v.dir) && errno != ENOENT)
		log_warn("volume directory %s not removed: %s", v.dir, strerror(errno));
	return 0;
}
