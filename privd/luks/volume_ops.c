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
#include "rekey.h"
#include "vol_admit.h"
#include "secmem.h"
#include "vol.h"
#include "vol_owner.h"
#include "volparams.h"

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
	struct lcw_secret pass = { 0 }, prev = { 0 };
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

	if (secret_alloc(&pass) || secret_alloc(&prev)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the key");
		goto out;
	}
	/* Both passphrases cut at the first newline (luks.h); the previous
	 * one ("<passphraseKey>-previous") only serves a rotation. */
	if (r->secret_name[0]) {
		if (rekey_fetch_pair(ctx, &v, r->secret_namespace, r->secret_name, r->secret_key,
				     &pass, &prev, ans))
			goto out;
	} else if (secret_set(&pass, r->passphrase,
			      luks_passphrase_len(r->passphrase, r->passphrase_len)) ||
		   secret_set(&prev, r->prev_passphrase,
			      luks_passphrase_len(r->prev_passphrase, r->prev_passphrase_len))) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the key");
		goto out;
	}
	if (pass.len == 0) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "the passphrase is empty");
		goto out;
	}
	if (create_backing_owned(ctx, &v, capacity, &created, &legacy, ans))
		goto out;
	if (open_mapping_prev(ctx, &v, &pass, &prev, r->allow_discards, &attached, &opened,
			      &formatted, loop, sizeof(loop), ans))
		goto fail;
	secret_free(&pass);
	secret_free(&prev);
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
	secret_free(&prev);
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

