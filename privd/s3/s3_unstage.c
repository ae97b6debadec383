/* NodeUnstage of an S3 volume: wait until rclone has uploaded everything
 * written to it, refuse while a pod still has it published, unmount, and
 * only then forget the volume's cache and record. rclone 1.60 does not
 * upload its queue when unmounted (rclone_conf.h), so an unstage that
 * returned early would leave the newest writes on this node only. */
#define _GNU_SOURCE
#include "s3_volume.h"
#include "s3_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cache_rescue.h"
#include "events.h"
#include "log.h"
#include "pv_claim.h"
#include "s3_params.h"
#include "vfs_cache.h"

#define DRAIN_MAX_MS 90000 /* inside the frontend's 2-minute deadline */

/* mnt_foreach_source callback: is this a live bind of the volume at a pod's
 * publish target (kubelet's shape)? */
struct publish_probe {
	const char *kubelet_root;
	int published;
};

static int
live_publish_bind(void *ud, const char *target, const struct mnt_info *mi)
{
	struct publish_probe *p = ud;
	(void)mi;
	if (kpath_shape(p->kubelet_root, target, KPATH_TARGET, NULL, 0) == 0 && s3v_statvfs_ok(target))
		p->published = 1;
	return p->published;
}

/* ---- unstage ---------------------------------------------------------------- */

/* The unstage is about to be refused with n files not uploaded: does an
 * operator force it (annotation on the PV or PVC, read by privd from the
 * API; nothing in the request counts)? If not, say so on the PVC. */
static int
forced_now(const struct privd_ctx *ctx, const char *id, unsigned long n, int *asked)
{
	const char *by = NULL;

	if (!*asked) {
		*asked = 1;
		if (privd_force_unstage(ctx, id, &by)) {
			log_warn("S3 volume %s: unstage forced by the %s annotation on its %s with "
				 "%lu file(s) not uploaded; they stay in this node's cache",
				 id, FORCE_UNSTAGE_ANNOTATION, by, n);
			*asked = 2;
		}
	}
	return *asked == 2;
}

static void
refused_event(const struct privd_ctx *ctx, const char *id, unsigned long n)
{
	privd_event(ctx, id, EV_WARNING, "UnuploadedData",
		    "%lu file(s) written on node %s are not uploaded to S3 yet; NodeUnstage is "
		    "refused until they are (the annotation %s: \"true\" on the PV or PVC forces "
		    "it, leaving them in that node's cache)", n, ctx->nodeid,
		    FORCE_UNSTAGE_ANNOTATION);
}

/* UNSTAGE of an S3 volume: wait until rclone has uploaded every written
 * file, then unmount; refuse (retryably) otherwise, so that no other node
 * mounts the prefix while uploads are in flight. Safe: unmounts only this
 * volume's own rclone mount; removes only this volume's cache entries,
 * and only after they are all uploaded. */
int
s3_unstage(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_unstage_req *r = &req->u.unstage;
	struct mnt_info mi;
	char vfs[IPC_VFSNAME_MAX + 1], err[256];
	unsigned long dirty = 0;
	int force = 0; /* 0 not asked yet, 1 asked: no, 2 forced */
	uint64_t write_back_ns = S3P_DEFAULT_WRITE_BACK_NS;
	struct s3v *e;

	int ours = s3v_is_our_fuse(ctx, r->volume_id, r->staging_path, KPATH_STAGING, &mi);
	pthread_mutex_lock(&s3v_mu);
	e = s3v_find_locked(r->volume_id);
	if (e) {
		e->unstaging = 1;
		write_back_ns = e->rec.t.write_back_ns;
	}
	pthread_mutex_unlock(&s3v_mu);
	s3v_vfs_name(r->volume_id, vfs, sizeof(vfs));
	if (!ours && e == NULL) {
		if (vfs_cache_dirfd() < 0 ||
		    (!s3v_record_exists(r->volume_id) && !s3v_cache_holds_pending(ctx, vfs)))
			return 0; /* not an S3 volume here */
	}
	if (vfs_cache_ensure(ctx, ans))
		goto keep;

	uint64_t t0 = audit_now_ns();
	uint64_t bound = write_back_ns / 1000000u + 60000u;
	if (bound > DRAIN_MAX_MS)
		bound = DRAIN_MAX_MS;
	uint64_t end = s3v_mono_ns() + bound * 1000000u;
	/* a forced unstage does not wait out the drain: past one write-back
	 * period and a margin, the annotation is read once */
	uint64_t ask_at = s3v_mono_ns() + write_back_ns + 5000000000ull;
	/* files rescued from a crashed rclone go back in first (a no-op
	 * normally); the recovery retries it when the mount is not live */
	if (e && s3v_mount_state(ctx, r->staging_path, vfs, &mi) == M_LIVE && s3v_rescue_restore_for(ctx, e, ans))
		goto keep;
	for (;;) {
		enum mstate ms = s3v_mount_state(ctx, r->staging_path, vfs, &mi);
		if (s3v_cache_pending(vfs, &dirty, err, sizeof(err))) {
			privd_answer_error(ans, IPC_EC_INTERNAL, 0, "upload queue of %s: %s",
					   r->volume_id, err);
			goto keep;
		}
		if (dirty == 0)
			break;
		if ((ms != M_LIVE || s3v_mono_ns() >= ask_at || s3v_mono_ns() >= end) &&
		    forced_now(ctx, r->volume_id, dirty, &force))
			break;
		if (ms != M_LIVE && e && e->dormant) {
			refused_event(ctx, r->volume_id, dirty);
			privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
					   "volume %s has %lu file(s) written before the node "
					   "restarted that were never uploaded; they are kept in this "
					   "node's cache and are uploaded when the volume is staged on "
					   "this node again (not while it may be in use elsewhere)",
					   r->volume_id, dirty);
			goto keep;
		}
		if (ms != M_LIVE) {
			refused_event(ctx, r->volume_id, dirty);
			privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
					   "volume %s has %lu file(s) not yet uploaded and its rclone "
					   "is not running; privd is re-establishing the mount, retry",
					   r->volume_id, dirty);
			goto keep;
		}
		if (s3v_mono_ns() >= end) {
			char d[64];
			snprintf(d, sizeof(d), "%lu queued", dirty);
			s3_audit(r->volume_id, "drain_uploads", r->staging_path, NULL, -ETIMEDOUT, t0,
				 d);
			refused_event(ctx, r->volume_id, dirty);
			privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
					   "volume %s still has %lu file(s) queued for upload after %llu "
					   "s; not unmounting while uploads are pending, retry",
					   r->volume_id, dirty, (unsigned long long)bound / 1000);
			goto keep;
		}
		s3v_sleep_ms(250);
	}
	s3_audit(r->volume_id, "drain_uploads", r->staging_path, NULL, force == 2 ? -ECANCELED : 0,
		 t0, force == 2 ? "forced" : "queue empty");

	/* Kubelet unpublishes every pod first. A pod that still writes
	 * through a publish bind would keep rclone alive past the drain
	 * above, and its newest writes would be in the cache removed below. */
	{
		char src[IPC_VFSNAME_MAX + 2];
		struct publish_probe probe = { ctx->kubelet_root, 0 };
		snprintf(src, sizeof(src), "%s:", vfs);
		mnt_foreach_source(src, FUSE_TYPE, live_publish_bind, &probe);
		if (probe.published) {
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "volume %s is still published to a pod; unpublish it first",
					   r->volume_id);
			goto keep;
		}
	}

	/* Forced: from here on nothing re-mounts the volume by itself, even if
	 * this call fails and kubelet retries: the supervisor leaves a dormant
	 * volume alone (only NodeStage revives it), and without its record a
	 * restarted privd does not revive it either. */
	if (force == 2) {
		s3v_record_remove(r->volume_id);
		pthread_mutex_lock(&s3v_mu);
		if ((e = s3v_find_locked(r->volume_id)) != NULL)
			e->dormant = 1;
		pthread_mutex_unlock(&s3v_mu);
	}

	/* Unmount: strict for a live mount (busy is an error), a detach for a
	 * dead one (its data is all in the cache, and uploaded); each checked
	 * by its mount id. Then rclone's own mount on the private mountpoint. */
	if (ours || s3v_mount_state(ctx, r->staging_path, vfs, &mi) != M_NONE) {
		t0 = audit_now_ns();
		int rc = s3m_unmount(ctx, r->volume_id, r->staging_path, KPATH_STAGING);
		s3_audit(r->volume_id, "unmount", r->staging_path, NULL, rc, t0, FUSE_TYPE);
		if (rc) {
			privd_answer_error(ans, rc == -EBUSY ? IPC_EC_BUSY : IPC_EC_INTERNAL, -rc,
					   "cannot unmount %s: %s", r->staging_path, strerror(-rc));
			goto keep;
		}
	}
	s3m_release_private(ctx, r->volume_id, vfs);
	/* rclone exits by itself once its mount is gone. Its cache is removed
	 * only once it is gone and nothing in it waits for upload: whatever
	 * reached rclone after the drain above stays in the cache (the
	 * supervisor mounts the volume again and uploads it). */
	if (e && s3v_wait_rclone_gone(ctx, e, 100, force == 2 ? 0 : 99)) {
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "the rclone of volume %s has not exited yet; retry", r->volume_id);
		goto keep;
	}
	if (s3v_cache_pending(vfs, &dirty, err, sizeof(err)) == 0 && dirty &&
	    forced_now(ctx, r->volume_id, dirty, &force)) {
		/* forced: the writes are kept, aside, where no later stage
		 * uploads them over newer data (s3_forced.c) */
		char where[IPC_VFSNAME_MAX + 64];
		t0 = audit_now_ns();
		int rc = s3v_cache_set_aside(vfs, where, sizeof(where));
		char d[IPC_VFSNAME_MAX + 96];
		snprintf(d, sizeof(d), "%lu file(s) kept in %s", dirty, where);
		s3_audit(r->volume_id, "force_unstage", r->staging_path, NULL, rc, t0, d);
		if (rc) {
			privd_answer_error(ans, IPC_EC_INTERNAL, -rc,
					   "forced unstage of %s: cannot set its cache aside: %s",
					   r->volume_id, strerror(-rc));
			goto keep;
		}
		privd_event(ctx, r->volume_id, EV_WARNING, "ForcedUnstageWithUnuploadedData",
			    "unstaged on node %s by the %s annotation with %lu file(s) not uploaded "
			    "to S3; they are kept in that node's encrypted VFS cache under %s (see "
			    "the driver's README to recover them)", ctx->nodeid,
			    FORCE_UNSTAGE_ANNOTATION, dirty, where);
	} else if (s3v_cache_pending(vfs, &dirty, err, sizeof(err)) || dirty) {
		if (dirty)
			refused_event(ctx, r->volume_id, dirty);
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "volume %s got writes while it was being unstaged; they are kept "
				   "in the cache and uploaded first, retry", r->volume_id);
		goto keep;
	}
	s3v_cache_forget(vfs);
	rescue_forget(vfs_cache_dirfd(), vfs);
	s3v_record_remove(r->volume_id);
	pthread_mutex_lock(&s3v_mu);
	if ((e = s3v_find_locked(r->volume_id)) != NULL)
		s3v_drop_locked(e);
	pthread_mutex_unlock(&s3v_mu);
	ans->type = IPC_ANS_UNSTAGE;
	return 1;
keep:
	pthread_mutex_lock(&s3v_mu);
	if ((e = s3v_find_locked(r->volume_id)) != NULL)
		e->unstaging = 0;
	s3v_wake = 1;
	pthread_cond_broadcast(&s3v_cv);
	pthread_mutex_unlock(&s3v_mu);
	return 1;
}
