/* privd's handlers for local LUKS volumes, part two: online expansion,
 * volume statistics, and the reclaimer's crypto-erase (volume_ops.c has
 * stage, unstage, publish and unpublish). Resources are derived from the
 * validated id as there; see vol.h. */
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
	uint64_t t0, file_size = 0;
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
	if (rc == 0)
		file_size = (uint64_t)sb.st_size;
	if (rc == 0 && file_size < r->new_size) {
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
	/* new_size 0 (no capacity_range) filled the device as it is: the
	 * volume's capacity is its backing file's size, as at creation. */
	ans->u.expand_ans.capacity = r->new_size > file_size ? r->new_size : file_size;
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

