/* Admission of local backing files (see vol_admit.h). */
#define _GNU_SOURCE
#include "vol_admit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "audit.h"
#include "node_limits.h"
#include "luks_config.h"
#include "privd_ctx.h"
#include "vol_owner.h"

/* Node-wide limits (node_limits.h): may this volume's backing file take
 * add more bytes (new_volume: it does not exist yet)? Callers hold
 * local_limits_lock() until the file is created or grown, so concurrent
 * stages cannot all pass one check. 0, or -1 answered EXHAUSTED. */
int
admit_local(const struct privd_ctx *ctx, const struct vol *v, uint64_t add, int new_volume, struct ipc_msg *ans)
{
	struct local_usage u;
	struct statvfs sv;
	char why[256];
	int rc;

	if (mkdir(ctx->luks->local_root, 0755) && errno != EEXIST) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot create %s: %s",
				   ctx->luks->local_root, strerror(errno));
		return -1;
	}
	rc = statvfs(ctx->luks->local_root, &sv) ? -errno : local_usage_scan(ctx->luks->local_root, 0, &u);
	if (rc) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot measure %s: %s",
				   ctx->luks->local_root, strerror(-rc));
		return -1;
	}
	if (local_limits_check(&ctx->luks->limits, &u, (uint64_t)sv.f_bavail * sv.f_frsize,
			       (uint64_t)sv.f_blocks * sv.f_frsize, add, new_volume, why,
			       sizeof(why)) == 0)
		return 0;
	audit_step(v, "refuse_node_limit", v->file, NULL, -EDQUOT, audit_now_ns(), why);
	privd_answer_error(ans, IPC_EC_EXHAUSTED, EDQUOT, "volume %s: %s", v->id, why);
	return -1;
}

/* A new volume's backing file within the node-wide limits, recorded as
 * ours (vol_owner.h); an existing one as it is (no new bytes), if it is
 * ours or an acceptable legacy volume (*legacy: mark it once staged).
 * Same contract as create_backing otherwise. */
int
create_backing_owned(const struct privd_ctx *ctx, const struct vol *v, uint64_t capacity, int *created, int *legacy,
		     struct ipc_msg *ans)
{
	char why[512];
	struct stat st;
	int rc = 0;

	*created = *legacy = 0;
	local_limits_lock();
	if (lstat(v->file, &st) && errno == ENOENT)
		rc = admit_local(ctx, v, capacity, 1, ans);
	if (rc == 0)
		rc = create_backing(v, capacity, created, ans);
	local_limits_unlock();
	if (rc)
		return rc;
	if (*created) {
		rc = vol_owner_mark(ctx->luks->local_root, v);
		audit_step(v, "record_owner", v->file, NULL, rc, audit_now_ns(), NULL);
		if (rc) {
			unlink(v->file);
			rmdir(v->dir);
			*created = 0;
			privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot record %s as ours: %s",
					   v->file, strerror(-rc));
		}
		return rc;
	}
	rc = vol_owner_check(ctx->luks->local_root, v, ctx->luks->legacy_volumes, why, sizeof(why));
	if (rc == VOL_FOREIGN) {
		audit_step(v, "refuse_foreign_backing_file", v->file, NULL, -EPERM, audit_now_ns(),
			   why);
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "refusing to open %s: %s", v->file, why);
		return -1;
	}
	*legacy = rc == VOL_LEGACY;
	return 0;
}

/* Room for new local volumes (GetCapacity): the numbers admit_local would
 * still accept, with promised bytes of volumes that have no backing file
 * yet taken off. 0, or -1 with an error answer. */
int
local_room(const struct privd_ctx *ctx, uint64_t promised, struct local_room *r, struct ipc_msg *ans)
{
	struct local_usage u;
	struct statvfs sv;
	int rc;

	rc = statvfs(ctx->luks->local_root, &sv) ? -errno : local_usage_scan(ctx->luks->local_root, 0, &u);
	if (rc == -ENOENT) { /* no volume yet: the root's parent holds them */
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", ctx->luks->local_root);
		char *slash = strrchr(parent, '/');
		if (slash && slash != parent)
			*slash = '\0';
		else
			snprintf(parent, sizeof(parent), "/");
		u = (struct local_usage){ 0 };
		rc = statvfs(parent, &sv) ? -errno : 0;
	}
	if (rc) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot measure %s: %s",
				   ctx->luks->local_root, strerror(-rc));
		return -1;
	}
	local_capacity(&ctx->luks->limits, &u, (uint64_t)sv.f_bavail * sv.f_frsize,
		       (uint64_t)sv.f_blocks * sv.f_frsize, promised, r);
	return 0;
}

