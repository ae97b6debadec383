/* RECLAIM_SPACE (csi-addons NodeReclaimSpace): fstrim a staged local
 * volume, so blocks its file system freed become holes in the backing file
 * again (discard -> dm-crypt allow_discards -> loop -> punch hole).
 *
 * FITRIM from privd, not fstrim exec'd by the spawner: the ioctl goes to
 * the descriptor of the mount root that was opened once without following
 * symlinks and proved to be this volume's mount, so nothing is resolved by
 * path again and no process is started; fstrim would take a path and
 * resolve it itself, after our check.
 *
 * Opt-in: only a mapping opened with discards allowed (StorageClass
 * allow-discards: "true", checked against the PV at stage) passes them
 * down; for any other volume this does nothing and says so. */
#define _GNU_SOURCE
#include "rotate.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "kpath.h"
#include "luks.h"
#include "mountops.h"
#include "vol.h"

static uint64_t
allocated(const char *file)
{
	struct stat st;
	return stat(file, &st) == 0 ? (uint64_t)st.st_blocks * 512u : 0;
}

/* RECLAIM_SPACE. Safe: the path has a kubelet shape, is opened once without
 * symlinks and must be the root of this volume's own mount; FITRIM acts on
 * that descriptor's file system only, and only discards blocks the file
 * system itself reports free (no data changes); it is issued only when the
 * volume's mapping was opened with discards allowed, as its StorageClass
 * (and PV) chose. */
void
luks_reclaim(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_reclaim_req *r = &req->u.reclaim;
	struct fstrim_range range = { 0, UINT64_MAX, 0 };
	struct mnt_info mi;
	struct vol v;
	char d[200];
	uint64_t t0;
	int fd, rc;

	if (vol_derive(ctx, r->volume_id, &v, ans))
		return;
	if ((fd = open_kpath(ctx, "volume_path", r->volume_path, KPATH_MUST_EXIST, 0, ans)) < 0)
		return;
	rc = mounted_here(&v, fd, &mi, NULL);
	if (rc == 2 && strncmp(mi.fstype, "fuse", 4) == 0) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "%s is an S3 (rclone) mount: an S3 volume keeps no blocks on "
				   "the node to reclaim", r->volume_path);
		goto out;
	}
	if (rc != 1) {
		privd_answer_error(ans, IPC_EC_NOT_FOUND, 0, "volume %s is not mounted at %s", v.id,
				   r->volume_path);
		goto out;
	}
	rc = luks_discards_allowed(v.dm);
	if (rc < 0) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot query mapping %s: %s", v.dm,
				   strerror(-rc));
		goto out;
	}
	ans->type = IPC_ANS_RECLAIM_SPACE;
	ans->u.reclaim_ans.pre_bytes = allocated(v.file);
	ans->u.reclaim_ans.post_bytes = ans->u.reclaim_ans.pre_bytes;
	if (rc == 0) {
		audit_step(&v, "fstrim_skipped", r->volume_path, NULL, 0, audit_now_ns(),
			   "discards not allowed for this volume (StorageClass allow-discards)");
		goto out;
	}
	t0 = audit_now_ns();
	/* fd is an O_PATH descriptor, which takes no ioctl: reopen the same
	 * directory through it (".", never the path text). */
	int rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = rfd < 0 ? -errno : ioctl(rfd, FITRIM, &range) ? -errno : 0;
	if (rfd >= 0)
		close(rfd);
	if (rc == 0)
		ans->u.reclaim_ans.post_bytes = allocated(v.file);
	snprintf(d, sizeof(d), "%llu bytes trimmed; backing file %llu -> %llu bytes allocated",
		 (unsigned long long)range.len, (unsigned long long)ans->u.reclaim_ans.pre_bytes,
		 (unsigned long long)ans->u.reclaim_ans.post_bytes);
	audit_step(&v, "fstrim", r->volume_path, v.file, rc, t0, rc ? strerror(-rc) : d);
	if (rc) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "FITRIM on %s: %s", r->volume_path,
				   strerror(-rc));
		goto out;
	}
	ans->u.reclaim_ans.trimmed = 1;
out:
	close(fd);
}
