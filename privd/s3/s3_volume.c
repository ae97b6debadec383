/* privd's handlers for S3 volumes (see s3_volume.h).
 *
 * State lives in three places, each re-checked rather than trusted:
 *  - the mount table: the staging path holds a FUSE mount of type
 *    fuse.rclone whose source is "<vfs name>:" (contract item 16);
 *  - a record per staged volume on the encrypted cache volume
 *    (lcw-volumes/<id>): the STAGE_S3 request without its passphrase,
 *    encoded with the IPC codec and checked by it when read back, so a
 *    restarted privd knows what to re-establish and where the secrets are;
 *  - this process's table: the sealed config memfd and the rclone pid.
 * No secret is ever written to a file: rclone reads its config from the
 * memfd, and after a privd restart the secrets are read from the API
 * again.
 *
 * This file stages a volume: rclone started on the volume's private
 * mountpoint over the persistent cache (never-uploaded files of a crashed
 * rclone moved aside first and written back once the mount is live), and
 * the mount bound onto the staging path. The other handlers and their
 * helpers are in the files s3_internal.h lists. */
#define _GNU_SOURCE
#include "s3_volume.h"
#include "s3_internal.h"

#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cache_rescue.h"
#include "events.h"
#include "log.h"
#include "pv_bind.h"
#include "s3_config.h"
#include "s3_params.h"
#include "vfs_cache.h"
#include "vol.h"
#include "volparams.h"

#define MOUNT_WAIT_MS 30000

/* ---- starting rclone ------------------------------------------------------ */

static int
start_rclone(const struct privd_ctx *ctx, struct s3v *e, struct ipc_msg *ans)
{
	struct ipc_run_rclone_req rr;
	char err[256];
	int rc;

	memset(&rr, 0, sizeof(rr));
	snprintf(rr.volume_id, sizeof(rr.volume_id), "%s", e->rec.volume_id);
	snprintf(rr.vfs_name, sizeof(rr.vfs_name), "%s", e->vfs);
	/* rclone mounts on privd's own directory, never on a kubelet path:
	 * the staging path only gets a bind of it (s3v_start_and_bind). */
	if ((rc = s3m_private_path(ctx, e->rec.volume_id, rr.mountpoint, sizeof(rr.mountpoint), 1))) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "rclone mountpoint: %s", strerror(-rc));
		return -1;
	}
	snprintf(rr.cache_dir, sizeof(rr.cache_dir), "%s", ctx->s3->vfs_cache_mount);
	rr.has_fs_group = e->rec.has_fs_group;
	rr.fs_group = e->rec.fs_group;
	rr.capacity = e->rec.capacity;
	rr.t = e->rec.t;

	pthread_mutex_lock(&s3v_mu);
	e->exited = 0;
	pthread_mutex_unlock(&s3v_mu);
	int pid = ctx->tools->spawn_rclone(&rr, e->conf_fd, err, sizeof(err));
	if (pid <= 0) {
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "cannot start rclone: %s", err);
		return -1;
	}
	pthread_mutex_lock(&s3v_mu);
	if (!e->exited)
		e->pid = pid;
	pthread_mutex_unlock(&s3v_mu);

	uint64_t t0 = audit_now_ns(), end = s3v_mono_ns() + (uint64_t)MOUNT_WAIT_MS * 1000000u;
	while (s3v_mono_ns() < end) {
		pthread_mutex_lock(&s3v_mu);
		int gone = e->exited, ws = e->wstatus;
		pthread_mutex_unlock(&s3v_mu);
		if (s3v_priv_state(ctx, e) == M_LIVE) {
			s3_audit(e->rec.volume_id, "rclone_mount", e->vfs, rr.mountpoint, 0, t0,
				 FUSE_TYPE);
			return 0;
		}
		if (gone) {
			s3_audit(e->rec.volume_id, "rclone_mount", e->vfs, rr.mountpoint, -EIO,
				 t0, "rclone exited");
			privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
					   "rclone exited (%s %d) before its mount of volume %s "
					   "appeared; its messages are in the driver log",
					   WIFSIGNALED(ws) ? "signal" : "status",
					   WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws),
					   e->rec.volume_id);
			return -1;
		}
		s3v_sleep_ms(100);
	}
	ctx->tools->stop_rclone(pid);
	s3_audit(e->rec.volume_id, "rclone_mount", e->vfs, rr.mountpoint, -ETIMEDOUT, t0,
		 "no mount");
	privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
			   "the rclone mount of volume %s did not appear within %d s",
			   e->rec.volume_id, MOUNT_WAIT_MS / 1000);
	return -1;
}

/* Remove the dead FUSE mounts of this volume at its private mountpoint
 * (detaching exactly the mount each fd is on). */
static void
clear_dead(const struct privd_ctx *ctx, const struct s3v *e)
{
	struct mnt_info mi;
	for (int i = 0; i < 8; i++) {
		int fd = s3m_open_private(ctx, e->rec.volume_id);
		if (fd < 0)
			return;
		int dead = s3m_fd_state(fd, e->rec.volume_id, e->vfs, &mi, NULL) == M_DEAD;
		uint64_t t0 = audit_now_ns();
		int rc = dead ? mnt_detach_fd(fd) : 1;
		close(fd);
		if (dead)
			s3_audit(e->rec.volume_id, "detach_dead_fuse", e->vfs, NULL, rc, t0, NULL);
		if (rc)
			return;
	}
}

/* Wait up to tries x 100 ms for the rclone privd started for e to exit,
 * sending it SIGTERM in round term_at. 0 once it is gone (or there was
 * none), -1 if it still runs. */
int
s3v_wait_rclone_gone(const struct privd_ctx *ctx, struct s3v *e, int tries, int term_at)
{
	for (int i = 0; i < tries; i++) {
		pthread_mutex_lock(&s3v_mu);
		int pid = e->pid;
		pthread_mutex_unlock(&s3v_mu);
		if (pid <= 0)
			return 0;
		if (i == term_at)
			ctx->tools->stop_rclone(pid);
		s3v_sleep_ms(100);
	}
	pthread_mutex_lock(&s3v_mu);
	int pid = e->pid;
	pthread_mutex_unlock(&s3v_mu);
	return pid > 0 ? -1 : 0;
}

/* ---- never-uploaded files across a crash (cache_rescue.h) -------------------- */

/* mnt_foreach_source callback: does this mount of the volume answer? */
static int
any_live(void *ud, const char *target, const struct mnt_info *mi)
{
	(void)mi;
	*(int *)ud = s3v_statvfs_ok(target);
	return *(int *)ud;
}

/* Before rclone starts over this volume's cache: move its never-uploaded
 * files aside. rclone must not be running: wait for one we started.
 * Safe: renames within the encrypted cache volume only, below names
 * derived from the validated id, without following symlinks. */
static int
rescue_stash_for(const struct privd_ctx *ctx, struct s3v *e, struct ipc_msg *ans)
{
	unsigned long moved = 0;
	char err[256];

	if (s3v_wait_rclone_gone(ctx, e, 50, 0)) {
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "the previous rclone of volume %s has not exited yet",
				   e->rec.volume_id);
		return -1;
	}
	/* an rclone privd did not start (or lost track of) may still serve a
	 * bind of this volume: its cache is not ours to rearrange then */
	char src[IPC_VFSNAME_MAX + 2];
	int live = 0;
	snprintf(src, sizeof(src), "%s:", e->vfs);
	mnt_foreach_source(src, FUSE_TYPE, any_live, &live);
	if (live) {
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "an rclone of volume %s still serves one of its mounts; not "
				   "restarting it over the same cache", e->rec.volume_id);
		return -1;
	}
	uint64_t t0 = audit_now_ns();
	int rc = rescue_stash(vfs_cache_dirfd(), e->vfs, &moved, err, sizeof(err));
	if (rc || moved) {
		char d[64];
		snprintf(d, sizeof(d), "%lu dirty file(s) moved aside", moved);
		s3_audit(e->rec.volume_id, "rescue_stash", e->vfs, NULL, rc ? -EIO : 0, t0,
			 rc ? err : d);
	}
	if (rc)
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "volume %s: %s", e->rec.volume_id, err);
	return rc;
}

/* Once the mount is live, before anyone uses it: write the rescued files
 * back through it. Safe: writes only inside this volume's own live
 * fuse.rclone mount (mount table and fstatfs magic), symlink-free and on
 * the mount's filesystem only; a rescued copy goes only once written. */
int
s3v_rescue_restore_for(const struct privd_ctx *ctx, struct s3v *e, struct ipc_msg *ans)
{
	unsigned long pending = 0, done = 0, aside = 0;
	char err[256];
	struct statfs sf;
	struct mnt_info mi;
	int fd, rc;

	if (rescue_pending(vfs_cache_dirfd(), e->vfs, &pending, err, sizeof(err))) {
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "volume %s: %s", e->rec.volume_id, err);
		return -1;
	}
	if (pending == 0)
		return 0;
	uint64_t t0 = audit_now_ns();
	fd = open_kpath(ctx, "staging_target_path", e->rec.staging_path, KPATH_MUST_EXIST, 0, ans);
	if (fd < 0)
		return -1;
	if (s3v_mount_state(ctx, e->rec.staging_path, e->vfs, &mi) != M_LIVE || fstatfs(fd, &sf) != 0 ||
	    sf.f_type != FUSE_SUPER_MAGIC) {
		close(fd);
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "volume %s: its rclone mount went away before %lu stranded "
				   "file(s) were written back",
				   e->rec.volume_id, pending);
		return -1;
	}
	rc = rescue_restore(vfs_cache_dirfd(), e->vfs, fd, (long)time(NULL), &done, &aside, err,
			    sizeof(err));
	close(fd);
	char d[120];
	snprintf(d, sizeof(d), "%lu stranded file(s) written back, %lu kept aside", done, aside);
	s3_audit(e->rec.volume_id, "rescue_restore", e->rec.staging_path, NULL, rc ? -EIO : 0, t0,
		 rc ? err : d);
	if (rc)
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "volume %s: cannot write back the files rclone had not uploaded "
				   "(%s); they are kept on the cache volume, retry",
				   e->rec.volume_id, err);
	else
		log_info("S3 volume %s: %lu stranded file(s) written back through the new mount, "
			 "%lu kept aside", e->rec.volume_id, done, aside);
	/* counts only: a file name is the volume's data */
	if (done)
		privd_event(ctx, e->rec.volume_id, EV_NORMAL, "StrandedWritesUploaded",
			    "%lu file(s) this node had not uploaded were written back: the "
			    "bucket's copy had not changed since", done);
	if (aside)
		privd_event(ctx, e->rec.volume_id, EV_WARNING, "StrandedWritesKeptAside",
			    "%lu file(s) this node had not uploaded were kept aside in its "
			    "encrypted cache, not uploaded: the bucket's copy changed since "
			    "(README: Stranded writes)", aside);
	return rc;
}

/* Stop the rclone we started (a stage or restore failed) and wait for it
 * to exit, so nothing touches the cache when the next attempt starts from
 * it; take its mount away. */
void
s3v_stop_rclone(const struct privd_ctx *ctx, struct s3v *e)
{
	s3v_wait_rclone_gone(ctx, e, 50, 0);
	s3m_unmount(ctx, e->rec.volume_id, e->rec.staging_path, KPATH_STAGING);
	s3m_release_private(ctx, e->rec.volume_id, e->vfs);
}

/* Bring the volume's mount to its staging path: the kubelet directory is
 * resolved once, symlink-free (dead binds of ours there detached first);
 * rclone is started on the private mountpoint unless plive says it is
 * live there already; then the private mount is bound onto that same
 * descriptor, nodev,nosuid,noexec. An adopted live mount at the staging
 * path is left as it is. 0, or -1 with the error answered. */
int
s3v_start_and_bind(const struct privd_ctx *ctx, struct s3v *e, int plive, struct ipc_msg *ans)
{
	enum mstate st;
	char err[256];
	int pfd, rc;

	int tfd = s3m_open_target(ctx, e->rec.volume_id, e->vfs, e->rec.staging_path, KPATH_STAGING,
				  &st, err, sizeof(err));
	if (tfd < 0) {
		privd_answer_error(ans, tfd == -EEXIST ? IPC_EC_EXISTS : IPC_EC_INTERNAL, -tfd,
				   "staging path: %s", err);
		return -1;
	}
	if (st == M_LIVE) {
		close(tfd);
		return 0;
	}
	if (!plive) {
		clear_dead(ctx, e);
		if (rescue_stash_for(ctx, e, ans) || start_rclone(ctx, e, ans)) {
			close(tfd);
			return -1;
		}
	}
	struct mnt_info mi;
	pfd = s3m_open_private(ctx, e->rec.volume_id);
	if (pfd < 0 || s3m_fd_state(pfd, e->rec.volume_id, e->vfs, &mi, NULL) != M_LIVE) {
		if (pfd >= 0)
			close(pfd);
		close(tfd);
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "the rclone mount of volume %s went away; retry", e->rec.volume_id);
		return -1;
	}
	uint64_t t0 = audit_now_ns();
	rc = mnt_bind_fd(pfd, tfd, 0, 1, e->rec.staging_path, err, sizeof(err));
	s3_audit(e->rec.volume_id, "bind_staging", e->vfs, e->rec.staging_path, rc, t0,
		 rc ? err : "nodev,nosuid,noexec");
	close(pfd);
	close(tfd);
	if (rc) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot bind volume %s: %s",
				   e->rec.volume_id, err);
		return -1;
	}
	return 0;
}

/* ---- stage ---------------------------------------------------------------- */

/* STAGE_S3: mount the volume's rclone crypt remote at the staging path.
 * Safe: the staging path is below the kubelet root and opened without
 * symlinks; the S3 location and remote names derive from the validated id
 * and prefix; credentials go only into a sealed memfd rclone reads; the
 * bucket is probed before anything is mounted; the cache is on the node's
 * dm-crypt cache volume. */
void
op_stage_s3(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_stage_s3_req *r = &req->u.stage_s3;
	struct s3_vol_params p;
	struct mnt_info mi;
	char why[160];
	int dirfd, conf_fd = -1;
	struct s3v *e;

	if (volid_valid(r->volume_id) || s3_params_from_tuning(&r->t, &p) ||
	    s3_prefix_valid(r->prefix, why, sizeof(why)) || !r->s3_name[0] || !r->s3_namespace[0] ||
	    (r->passphrase_len == 0) == (r->secret_name[0] == '\0')) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "invalid S3 stage parameters");
		return;
	}
	if (pv_bind_s3(ctx, r, ans)) /* only a volume with a PV, as its PV says */
		return;
	pthread_mutex_lock(&s3v_mu);
	int room = s3v_room_locked(ctx, r->volume_id);
	pthread_mutex_unlock(&s3v_mu);
	if (!room) /* before any work; checked again when the entry is added */
		goto full;
	if ((dirfd = open_kpath(ctx, "staging_target_path", r->staging_path, KPATH_MKDIR, 0, ans)) < 0)
		return;
	close(dirfd);

	char vfs[IPC_VFSNAME_MAX + 1];
	if (vfs_cache_ensure(ctx, ans))
		return;
	s3v_vfs_name(r->volume_id, vfs, sizeof(vfs));
	enum mstate ms = s3v_mount_state(ctx, r->staging_path, vfs, &mi);
	pthread_mutex_lock(&s3v_mu);
	e = s3v_find_locked(r->volume_id);
	int have_conf = e && e->conf_fd >= 0;
	char elsewhere[IPC_PATH_MAX + 1] = "";
	if (e && strcmp(e->rec.staging_path, r->staging_path))
		snprintf(elsewhere, sizeof(elsewhere), "%s", e->rec.staging_path);
	pthread_mutex_unlock(&s3v_mu);
	if (elsewhere[0] && s3v_mount_state(ctx, elsewhere, vfs, &mi) != M_NONE) {
		privd_answer_error(ans, IPC_EC_EXISTS, 0, "volume %s is already staged at %s",
				   r->volume_id, elsewhere);
		return;
	}
	if (ms == M_LIVE && have_conf) {
		if (s3v_rescue_restore_for(ctx, e, ans) == 0) /* normally nothing to do */
			ans->type = IPC_ANS_STAGE_S3; /* already staged */
		return;
	}
	if (ms == M_FOREIGN) {
		privd_answer_error(ans, IPC_EC_EXISTS, 0, "staging path %s already holds a mount of %s",
				   r->staging_path, mi.source);
		return;
	}
	if (s3v_make_config(ctx, r, vfs, r->passphrase, r->passphrase_len, ms != M_LIVE, &conf_fd,
			ans))
		return;
	pthread_mutex_lock(&s3v_mu);
	e = s3v_room_locked(ctx, r->volume_id) ? s3v_add_locked(r) : NULL;
	if (e) {
		if (e->conf_fd >= 0)
			close(e->conf_fd);
		e->conf_fd = conf_fd;
		e->unstaging = 0;
		e->dormant = 0;
		e->failures = 0;
	}
	pthread_mutex_unlock(&s3v_mu);
	if (e == NULL) {
		close(conf_fd);
		goto full;
	}
	if (s3v_record_write(r)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno,
				   "cannot record the volume on the cache volume: %s", strerror(errno));
		goto fail;
	}
	if (ms == M_LIVE) {
		/* A mount that survived a privd restart: adopt it, now with
		 * the secrets to restart it if it dies, and finish a write-back
		 * that privd's death interrupted. */
		if (s3v_rescue_restore_for(ctx, e, ans))
			goto fail;
		ans->type = IPC_ANS_STAGE_S3;
		return;
	}
	if (s3v_start_and_bind(ctx, e, s3v_priv_state(ctx, e) == M_LIVE, ans) || s3v_rescue_restore_for(ctx, e, ans))
		goto fail;
	ans->type = IPC_ANS_STAGE_S3;
	return;
fail:
	if (ms == M_LIVE)
		return; /* an adopted mount keeps serving; the supervisor retries */
	s3v_stop_rclone(ctx, e);
	if (s3v_cache_holds_pending(ctx, e->vfs)) {
		/* its only copy is in this cache: stay known (entry, record), so
		 * the supervisor retries and NodeUnstage refuses to forget it */
		log_warn("S3 volume %s: stage failed with data still in this node's cache; "
			 "kept for a retry", r->volume_id);
		return;
	}
	pthread_mutex_lock(&s3v_mu);
	s3v_drop_locked(e);
	pthread_mutex_unlock(&s3v_mu);
	s3v_record_remove(r->volume_id);
	return;
full:
	privd_answer_error(ans, IPC_EC_EXHAUSTED, 0,
			   "this node already mounts %u S3 volumes (--max-s3-mounts)",
			   ctx->s3->max_s3_mounts);
}
