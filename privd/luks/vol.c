/* The building blocks of a local LUKS volume, shared by the request
 * handlers (volume_ops.c, volume_maint.c) and the S3 backend's node-wide
 * VFS-cache volume: names derived from the id, kubelet paths opened once
 * without symlinks, the backing file, loop device and mapping, and the file
 * system. Each re-checks the system's state instead of trusting memory, so
 * a retry after privd was killed at any point finishes the job, and nothing
 * is formatted unless libblkid finds no signature at all on it. */
#define _GNU_SOURCE
#include "vol.h"


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
#include "dm_name.h"
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
#include "rekey.h"
#include "vol_admit.h"
#include "secmem.h"
#include "vol.h"
#include "vol_owner.h"
#include "volparams.h"

int
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
dev_t
rdev_of(const char *dev)
{
	struct stat st;
	return stat(dev, &st) == 0 && S_ISBLK(st.st_mode) ? st.st_rdev : 0;
}

/* st_dev of the file system mounted at fd's directory. */
dev_t
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
int
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
	return open_mapping_prev(ctx, v, pass, NULL, 0, attached, opened, formatted, loop, looplen,
				 ans);
}

int
open_mapping_prev(const struct privd_ctx *ctx, const struct vol *v, const struct lcw_secret *pass,
		  const struct lcw_secret *prev, int discards, int *attached, int *opened,
		  int *formatted,
		  char *loop, size_t looplen, struct ipc_msg *ans)
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

	/* A previous passphrase: a volume still on it moves to the current
	 * one before it opens (rekey.h); one already moved costs a check. */
	if (!*formatted && prev && prev->len &&
	    (prev->len != pass->len || memcmp(prev->bytes, pass->bytes, pass->len) != 0)) {
		int rotated;
		if (vol_rekey(ctx, v, loop, prev, pass, "luks_rekey_at_stage", &rotated, ans))
			return -1;
	}
	uint32_t kib = ctx->luks->kdf.memory_kib;
	if (!*formatted && luks_unlock_memory_kib(loop, &kib))
		kib = ctx->luks->kdf.memory_kib;
	uint64_t res = kdf_budget_reserve(kib);
	t0 = audit_now_ns();
	rc = luks_open_discards(loop, v->dm, pass, discards, err, sizeof(err));
	audit_step(v, "luks_open", loop, v->mapper, rc, t0,
		   rc ? err : discards ? "allow_discards" : NULL);
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
