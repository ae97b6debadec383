#define _GNU_SOURCE
#include "dispatch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "version.h"
#include "rotate.h"
#include "s3_volume.h"
#include "volume_ops.h"
#include "vol_admit.h"
#include "node_limits.h"
#include "luks_config.h"
#include "s3_config.h"

/* PING: reports liveness and version. Safe: reads no input, touches no
 * resource, reveals only the version and uptime. */
static void
op_ping(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	(void)req;
	ans->type = IPC_ANS_PING;
	snprintf(ans->u.ping_ans.version, sizeof(ans->u.ping_ans.version), "%s", LCW_VERSION);
	ans->u.ping_ans.uptime_ms = (audit_now_ns() - ctx->started_ns) / 1000000u;
}

/* CAPACITY: room for new local volumes and the node's volume limits.
 * Safe: takes no input; statvfs of the local root and a read-only scan of
 * its backing files; answers four numbers. */
static void
op_capacity(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	struct local_room r;
	(void)req;
	if (local_room(ctx, 0, &r, ans))
		return;
	ans->type = IPC_ANS_CAPACITY;
	ans->u.capacity_ans.available = r.available;
	ans->u.capacity_ans.maximum_volume = r.maximum_volume;
	ans->u.capacity_ans.volumes_left = r.volumes_left;
	ans->u.capacity_ans.max_volumes = ctx->luks->limits.max_volumes + ctx->s3->max_s3_mounts;
}

/* The volume-agnostic requests carry no backend: the S3 backend answers
 * those about its rclone mounts (or volumes it knows as S3), the LUKS
 * backend the rest. */
#define ROUTE(name)                                                                        \
	static void op_##name(const struct privd_ctx *ctx, const struct ipc_msg *req,     \
			      struct ipc_msg *ans)                                         \
	{                                                                                  \
		if (!s3_##name(ctx, req, ans))                                             \
			luks_##name(ctx, req, ans);                                        \
	}
ROUTE(unstage)
ROUTE(publish)
ROUTE(unpublish)
ROUTE(expand)
ROUTE(stats)

/* The whole privileged surface. Each reason is repeated next to its
 * handler and in SECURITY.md. */
static const struct privd_op ops[] = {
	{ IPC_REQ_PING, op_ping, 0,
	  "no input, no resource touched; answers version and uptime only" },
	{ IPC_REQ_STAGE_LUKS, luks_stage, 1,
	  "file, loop and mapping derived from the validated id; target of kubelet's staging "
	  "shape, opened once without symlinks, mounted through that fd; formats only a provably "
	  "empty device; nodev,nosuid; creates a backing file only within the node-wide limits "
	  "and opens only one recorded as ours (or a root-only Go-driver one)" },
	{ IPC_REQ_STAGE_S3, op_stage_s3, 1,
	  "staging path of kubelet's shape, opened once without symlinks; rclone mounts on "
	  "privd's private dir, the staging path gets a noexec bind of it through the checked "
	  "fd; S3 location and rclone names "
	  "derived from the validated id and prefix; credentials only in a sealed memfd; bucket "
	  "probed first; cache on the node's dm-crypt cache volume; at most --max-s3-mounts" },
	{ IPC_REQ_UNSTAGE, op_unstage, 1,
	  "unmounts only this volume's own mount (checked by mount id through a symlink-free "
	  "fd), closes only its own mapping, detaches only "
	  "the loop of its own file; never lazily (S3: only after every upload finished; a "
	  "dead FUSE mount is detached)" },
	{ IPC_REQ_PUBLISH, op_publish, 1,
	  "binds only this volume's staged mount onto a target of kubelet's publish shape, both "
	  "opened once without symlinks; nodev,nosuid (S3 also noexec), read-only as a "
	  "read-only bind" },
	{ IPC_REQ_UNPUBLISH, op_unpublish, 1,
	  "unmounts only binds of this volume's file system, each checked by mount id through a "
	  "symlink-free fd; removes only an empty directory" },
	{ IPC_REQ_EXPAND, op_expand, 1,
	  "grows only this volume's file, loop, mapping and file system, while it is mounted; "
	  "never shrinks; within the node-wide limits" },
	{ IPC_REQ_STATS, op_stats, 1, "read-only queries about this volume's mount" },
	{ IPC_REQ_CAPACITY, op_capacity, 1,
	  "no input; statvfs of the local root and a read-only scan of its backing files; "
	  "answers four numbers" },
	{ IPC_REQ_ROTATE_KEY, luks_rotate, 1,
	  "rewrites keyslots only of the header of this volume's own file, through the loop its "
	  "active mapping sits on; adds a keyslot only with a passphrase that opens it and "
	  "destroys the old one only after the new one verified, so it always opens with the "
	  "old or the new; volume key and mount untouched; with the API, passphrases from the "
	  "Secret its PV names" },
	{ IPC_REQ_RECLAIM_SPACE, luks_reclaim, 1,
	  "FITRIM on the checked root of this volume's own mount (kubelet shape, opened once "
	  "without symlinks); discards only blocks the file system reports free; only when the "
	  "mapping was opened with discards allowed (StorageClass and PV allow-discards)" },
	/* No ERASE: crypto-erase is irreversible, so only privd's reclaimer
	 * performs it (erase_volume), after its own PersistentVolume check. */
};

const struct privd_op *
privd_op_find(uint32_t type)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i].type == type)
			return &ops[i];
	return NULL;
}
