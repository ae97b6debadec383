/* The S3 supervisor: one thread that re-establishes a volume's mount when
 * its rclone died or its bind is gone (from the persistent cache, writing
 * back what rclone had not uploaded before pods see it again), and that
 * reads the records of volumes staged before privd (re)started. It works
 * on a volume only while holding its keyed lock (keyed_trylock: never
 * waiting for, nor racing, a request). Safe: the same operations as
 * stage, on the same checked paths; binds back only onto kubelet's
 * publish-target shape. */
#define _GNU_SOURCE
#include "s3_volume.h"
#include "s3_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cache_rescue.h"
#include "events.h"
#include "keyed_lock.h"
#include "log.h"
#include "s3_repair.h"
#include "vfs_cache.h"

struct rebind {
	const char *staging;
	char priv[IPC_PATH_MAX + 1];
	char targets[16][IPC_PATH_MAX + 1];
	int ro[16];
	int n;
};

static int
collect_target(void *ud, const char *target, const struct mnt_info *mi)
{
	struct rebind *rb = ud;
	if (strcmp(target, rb->staging) == 0 || strcmp(target, rb->priv) == 0 || rb->n >= 16)
		return 0;
	for (int i = 0; i < rb->n; i++)
		if (strcmp(rb->targets[i], target) == 0)
			return 0;
	snprintf(rb->targets[rb->n], sizeof(rb->targets[0]), "%s", target);
	rb->ro[rb->n++] = mi->readonly;
	return 0;
}

/* Re-establish one volume's mount in place from the persistent cache
 * (unless it is live already), write back the files rclone had not
 * uploaded, and only then bind it again where the dead one was published,
 * so pods (with HostToContainer propagation) see it again, whole. */
static void
recover(const struct privd_ctx *ctx, struct s3v *e, int live)
{
	struct ipc_msg ans;
	struct mnt_info mi;
	char src[IPC_VFSNAME_MAX + 2], err[256];
	struct rebind rb = { .staging = e->rec.staging_path };
	uint64_t t0 = audit_now_ns();

	memset(&ans, 0, sizeof(ans));
	if (e->conf_fd < 0) {
		int fd;
		if (s3v_make_config(ctx, &e->rec, e->vfs, NULL, 0, 0, &fd, &ans))
			goto failed;
		pthread_mutex_lock(&s3v_mu);
		e->conf_fd = fd;
		pthread_mutex_unlock(&s3v_mu);
	}
	snprintf(src, sizeof(src), "%s:", e->vfs);
	s3m_private_path(ctx, e->rec.volume_id, rb.priv, sizeof(rb.priv), 0);
	mnt_foreach_source(src, FUSE_TYPE, collect_target, &rb);
	if (s3v_start_and_bind(ctx, e, live, &ans))
		goto failed;
	if (s3v_rescue_restore_for(ctx, e, &ans)) {
		s3v_stop_rclone(ctx, e);
		goto failed;
	}
	/* Binds again where the dead mount was published: only kubelet's
	 * publish-target shape, each resolved once, bound through its fd. */
	int sfd = s3m_kfd(ctx, e->rec.staging_path, KPATH_STAGING, KPATH_MUST_EXIST);
	if (sfd >= 0 && s3m_fd_state(sfd, e->rec.volume_id, e->vfs, &mi, NULL) != M_LIVE) {
		close(sfd);
		sfd = -1;
	}
	for (int i = 0; sfd >= 0 && i < rb.n; i++) {
		if (kpath_shape(ctx->kubelet_root, rb.targets[i], KPATH_TARGET, err, sizeof(err)))
			continue;
		uint64_t t1 = audit_now_ns();
		int rc = s3m_bind(ctx, sfd, e->rec.volume_id, e->vfs, rb.targets[i], KPATH_TARGET, rb.ro[i],
				  err, sizeof(err));
		if (rc == 1)
			continue; /* live already */
		s3_audit(e->rec.volume_id, "rebind_mount", e->rec.staging_path, rb.targets[i], rc, t1,
			 rc ? err : (rb.ro[i] ? "read-only" : "read-write"));
	}
	if (sfd >= 0)
		close(sfd);
	/* pods without HostToContainer propagation still see the dead one */
	s3_repair_consumers(ctx, e->rec.volume_id, e->vfs);
	s3_audit(e->rec.volume_id, "recover_mount", e->rec.staging_path, NULL, 0, t0, NULL);
	log_info("S3 volume %s: mount re-established at %s", e->rec.volume_id,
		 e->rec.staging_path);
	privd_event(ctx, e->rec.volume_id, EV_WARNING, "S3MountReestablished",
		    "the S3 mount on node %s was re-established from the encrypted cache after "
		    "its rclone stopped; pods without mountPropagation HostToContainer may need "
		    "a restart to see it", ctx->nodeid);
	e->failures = 0;
	return;
failed:
	s3_audit(e->rec.volume_id, "recover_mount", e->rec.staging_path, NULL, -EIO, t0,
		 ans.u.error.msg);
	log_warn("S3 volume %s: cannot re-establish its mount yet: %s", e->rec.volume_id,
		 ans.u.error.msg);
	e->failures++;
	unsigned back = e->failures > 6 ? 64 : 1u << e->failures;
	e->retry_at_ns = s3v_mono_ns() + (uint64_t)back * 1000000000u;
}

static void
check_all(const struct privd_ctx *ctx)
{
	char ids[MAX_S3_VOLUMES][IPC_VOLID_MAX + 1];
	int n = 0;

	pthread_mutex_lock(&s3v_mu);
	for (int i = 0; i < MAX_S3_VOLUMES; i++)
		if (s3v_tab[i].used && !s3v_tab[i].unstaging && !s3v_tab[i].dormant &&
		    s3v_mono_ns() >= s3v_tab[i].retry_at_ns)
			snprintf(ids[n++], sizeof(ids[0]), "%s", s3v_tab[i].rec.volume_id);
	pthread_mutex_unlock(&s3v_mu);
	for (int i = 0; i < n; i++) {
		if (keyed_trylock(ids[i]))
			continue; /* an operation is running on it; next round */
		pthread_mutex_lock(&s3v_mu);
		struct s3v *e = s3v_find_locked(ids[i]);
		pthread_mutex_unlock(&s3v_mu);
		struct mnt_info mi;
		if (e && !e->unstaging) {
			enum mstate ms = s3v_mount_state(ctx, e->rec.staging_path, e->vfs, &mi);
			int plive = s3v_priv_state(ctx, e) == M_LIVE;
			unsigned long pending = 0;
			char err[128];
			int sfd = ms == M_NONE ? s3m_kfd(ctx, e->rec.staging_path, KPATH_STAGING,
							  KPATH_MUST_EXIST) : -1;
			if (sfd >= 0)
				close(sfd);
			if (ms == M_DEAD || (ms == M_NONE && sfd >= 0))
				recover(ctx, e, plive); /* rclone died, or only its bind is gone */
			else if (ms == M_LIVE &&
				 rescue_pending(vfs_cache_dirfd(), e->vfs, &pending, err,
						sizeof(err)) == 0 && pending)
				recover(ctx, e, 1); /* an earlier write-back did not finish */
		}
		keyed_unlock(ids[i]);
	}
}

static void *
supervisor_main(void *arg)
{
	const struct privd_ctx *ctx = arg;
	int loaded = 0;
	uint64_t next_load = 0;

	for (;;) {
		if (!loaded && s3v_mono_ns() >= next_load) {
			/* Volumes staged before this start: open the cache (it
			 * needs the API for its key) and read their records. */
			struct ipc_msg ans;
			if (!vfs_cache_exists(ctx) || ctx->k8s == NULL) {
				loaded = 1;
			} else if (vfs_cache_ensure(ctx, &ans) == 0) {
				s3v_records_load(ctx);
				loaded = 1;
			} else {
				log_warn("cannot open the VFS cache yet: %s", ans.u.error.msg);
				next_load = s3v_mono_ns() + 10ull * 1000000000u;
			}
		}
		check_all(ctx);
		pthread_mutex_lock(&s3v_mu);
		if (!s3v_wake) {
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_sec += 2;
			pthread_cond_timedwait(&s3v_cv, &s3v_mu, &dl);
		}
		s3v_wake = 0;
		pthread_mutex_unlock(&s3v_mu);
	}
	return NULL;
}

int
s3_supervisor_start(const struct privd_ctx *ctx)
{
	pthread_t t;
	/* ctx lives as long as privd (the core's static context). */
	if (pthread_create(&t, NULL, supervisor_main, (void *)ctx))
		return -1;
	pthread_detach(t);
	return 0;
}
