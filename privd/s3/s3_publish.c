/* The volume-agnostic requests for an S3 volume once it is staged:
 * publish (bind the live mount to a pod's target), unpublish, expand (the
 * capacity is nominal) and stats. Each answers only when the paths hold
 * this volume's rclone mount (or privd knows the volume as S3). */
#define _GNU_SOURCE
#include "s3_volume.h"
#include "s3_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "audit.h"
#include "cache_rescue.h"
#include "s3_repair.h"
#include "vfs_cache.h"
#include "vol.h"

static int
known_s3(const char *id)
{
	pthread_mutex_lock(&s3v_mu);
	int k = s3v_find_locked(id) != NULL;
	pthread_mutex_unlock(&s3v_mu);
	return k;
}

/* PUBLISH of an S3 volume: bind its live rclone mount to the target.
 * Safe: the source must be this volume's own live rclone mount (never the
 * empty directory under a dead one); both paths are below the kubelet root
 * and the target is opened without symlinks; read-only as a read-only
 * bind. */
int
s3_publish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_publish_req *r = &req->u.publish;
	struct mnt_info mi, ti;
	char err[256];
	const char *id = r->volume_id;

	/* the staging path, resolved once: the bind's source is this fd */
	int sfd = s3m_kfd(ctx, r->staging_path, KPATH_STAGING, KPATH_MUST_EXIST);
	enum mstate ss = sfd >= 0 ? s3m_fd_state(sfd, id, NULL, &mi, NULL) : M_NONE;
	if (ss != M_LIVE && ss != M_DEAD) {
		if (sfd >= 0)
			close(sfd);
		return known_s3(id) ? (privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				       "the S3 mount of volume %s is being re-established; retry",
				       id), 1)
				    : 0;
	}
	char vfs[IPC_VFSNAME_MAX + 1];
	s3v_vfs_name(id, vfs, sizeof(vfs));
	if (ss != M_LIVE) {
		close(sfd);
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "the S3 mount of volume %s is not answering; privd is "
				   "re-establishing it, retry", id);
		return 1;
	}
	unsigned long pending = 0;
	if (rescue_pending(vfs_cache_dirfd(), vfs, &pending, err, sizeof(err)) || pending) {
		/* a pod must not see (and write) the tree before it is whole */
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "volume %s: files its crashed rclone had not uploaded are being "
				   "written back; retry", id);
		close(sfd);
		return 1;
	}
	/* the target, resolved once (dead binds of ours there detached) */
	enum mstate ts;
	int tfd = open_kpath(ctx, "target_path", r->target_path, KPATH_MKDIR, 0, ans);
	if (tfd < 0) {
		close(sfd);
		return 1;
	}
	close(tfd); /* shape and symlink errors are answered; the fd is taken below */
	tfd = s3m_open_target(ctx, id, vfs, r->target_path, KPATH_TARGET, &ts, err, sizeof(err));
	if (tfd < 0) {
		close(sfd);
		privd_answer_error(ans, tfd == -EEXIST ? IPC_EC_EXISTS : IPC_EC_INTERNAL, -tfd,
				   "cannot publish: %s", err);
		return 1;
	}
	if (ts == M_LIVE && s3m_fd_state(tfd, id, vfs, &ti, NULL) == M_LIVE) {
		close(sfd);
		close(tfd);
		if (!!ti.readonly == !!r->readonly)
			ans->type = IPC_ANS_PUBLISH;
		else
			privd_answer_error(ans, IPC_EC_EXISTS, 0, "volume %s is already published at %s %s",
					   id, r->target_path, ti.readonly ? "read-only" : "read-write");
		return 1;
	}
	uint64_t t0 = audit_now_ns();
	/* the staged mount sfd is on, onto the directory tfd is on */
	int rc = -EAGAIN;
	if (ts == M_LIVE)
		snprintf(err, sizeof(err), "the target mount changed meanwhile; retry");
	else
		rc = mnt_bind_fd(sfd, tfd, r->readonly, 1, r->target_path, err, sizeof(err));
	close(sfd);
	close(tfd);
	s3_audit(id, "bind_mount", r->staging_path, r->target_path, rc, t0,
		 r->readonly ? "read-only" : "read-write");
	if (rc)
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot publish: %s", err);
	else
		ans->type = IPC_ANS_PUBLISH;
	return 1;
}

/* UNPUBLISH of an S3 volume: unmount its binds at the target (a dead one
 * by detaching), then leave the rest (the empty directory) to the common
 * path. Safe: only mounts of this volume's rclone remote are touched. */
int
s3_unpublish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_unpublish_req *r = &req->u.unpublish;
	struct mnt_info mi;

	if (!s3v_is_our_fuse(ctx, r->volume_id, r->target_path, KPATH_TARGET, &mi))
		return 0;
	uint64_t t0 = audit_now_ns();
	/* each mount checked by its id through a symlink-free descriptor */
	int rc = s3m_unmount(ctx, r->volume_id, r->target_path, KPATH_TARGET);
	s3_audit(r->volume_id, "unmount", r->target_path, NULL, rc, t0, FUSE_TYPE);
	if (rc) {
		privd_answer_error(ans, rc == -EBUSY ? IPC_EC_BUSY : IPC_EC_INTERNAL, -rc,
				   "cannot unmount %s: %s", r->target_path, strerror(-rc));
		return 1;
	}
	return 0; /* the common path removes the directory */
}

/* EXPAND of an S3 volume: nothing to grow, the capacity is nominal. Safe:
 * touches nothing. */
int
s3_expand(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_expand_req *r = &req->u.expand;
	struct mnt_info mi;

	if (!s3v_is_our_fuse(ctx, r->volume_id, r->volume_path, KPATH_VOLUME, &mi))
		return 0;
	ans->type = IPC_ANS_EXPAND;
	ans->u.expand_ans.capacity = r->new_size;
	return 1;
}

/* STATS of an S3 volume. Safe: read-only queries. */
int
s3_stats(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_stats_req *r = &req->u.stats;
	struct ipc_stats_ans *a = &ans->u.stats_ans;
	struct mnt_info mi;
	struct statvfs sv;

	int fd = s3m_kfd(ctx, r->volume_path, KPATH_VOLUME, KPATH_MUST_EXIST);
	enum mstate ms = fd >= 0 ? s3m_fd_state(fd, r->volume_id, NULL, &mi, NULL) : M_NONE;
	if (ms != M_LIVE && ms != M_DEAD) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	memset(a, 0, sizeof(*a));
	ans->type = IPC_ANS_STATS;
	int bad = fstatvfs(fd, &sv);
	close(fd);
	if (bad) {
		a->abnormal = 1;
		snprintf(a->condition, sizeof(a->condition),
			 "the S3 mount is not answering (%s); privd is re-establishing it",
			 strerror(errno));
		return 1;
	}
	a->bytes_total = (uint64_t)sv.f_blocks * sv.f_frsize;
	a->bytes_avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	a->bytes_used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	a->inodes_total = sv.f_files;
	a->inodes_free = sv.f_favail;
	a->inodes_used = sv.f_files - sv.f_ffree;
	/* live here, but a pod's own view could not be repaired (s3_repair.c) */
	if (s3_repair_condition(r->volume_id, a->condition, sizeof(a->condition)))
		a->abnormal = 1;
	/* stranded writes kept aside (cache_restore.c): abnormal until an
	 * operator has recovered them and removed their directory */
	char vfs[IPC_VFSNAME_MAX + 1];
	s3v_vfs_name(r->volume_id, vfs, sizeof(vfs));
	long kept = a->abnormal ? 0 : rescue_conflicts(vfs_cache_dirfd(), vfs);
	if (kept != 0) {
		a->abnormal = 1;
		if (kept > 0)
			snprintf(a->condition, sizeof(a->condition),
				 "%ld file(s) written on this node were kept aside, not uploaded: "
				 "the bucket's copy changed since (lcw-conflict on the node's "
				 "cache volume; README: Stranded writes)", kept);
		else
			snprintf(a->condition, sizeof(a->condition),
				 "cannot read the node's lcw-conflict tree of this volume");
	}
	return 1;
}
