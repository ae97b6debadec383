/* The message catalogue as data (see ipc_schema.h). */
#include "ipc_schema.h"

#include "ipc_msg.h"

#define FOFF(member) offsetof(struct ipc_msg, member)
#define U32(n, member, lo, hi) { n, IPC_K_U32, lo, hi, FOFF(member), 0 }
#define U64(n, member, lo, hi) { n, IPC_K_U64, lo, hi, FOFF(member), 0 }
#define STR(n, member, maxlen) { n, IPC_K_STR, 0, maxlen, FOFF(member), 0 }
#define BOOL(n, member) { n, IPC_K_BOOL, 0, 1, FOFF(member), 0 }
#define BIN(n, member, lenmember, maxlen) { n, IPC_K_BIN, 0, maxlen, FOFF(member), FOFF(lenmember) }
#define VOLID(member) STR("volume_id", member, IPC_VOLID_MAX)
#define PATH(n, member) STR(n, member, IPC_PATH_MAX)

static const struct ipc_field f_error[] = {
	U32("err_class", u.error.err_class, 1, IPC_EC_MAX),
	U32("sys_errno", u.error.sys_errno, 0, 4095),
	STR("msg", u.error.msg, IPC_ERRMSG_MAX),
};

static const struct ipc_field f_ping_ans[] = {
	STR("version", u.ping_ans.version, IPC_VERSION_MAX),
	U64("uptime_ms", u.ping_ans.uptime_ms, 0, UINT64_MAX),
};

static const struct ipc_field f_spawn_ans[] = {
	U32("pid", u.spawn_ans.pid, 1, INT32_MAX),
};

static const struct ipc_field f_child_exit[] = {
	U32("role", u.child_exit.role, 1, IPC_ROLE_MAX),
	U32("pid", u.child_exit.pid, 1, INT32_MAX),
	U32("wstatus", u.child_exit.wstatus, 0, 0xffff),
};

static const struct ipc_field f_stage[] = {
	VOLID(u.stage.volume_id),
	PATH("staging_path", u.stage.staging_path),
	U32("fs_kind", u.stage.fs_kind, 0, 3),
	STR("mount_opts", u.stage.mount_opts, IPC_OPTS_MAX),
	U64("capacity", u.stage.capacity, 1, UINT64_MAX),
	BOOL("has_fs_group", u.stage.has_fs_group),
	U32("fs_group", u.stage.fs_group, 0, INT32_MAX),
	U32("fs_mode", u.stage.fs_mode, 0, 07777),
	BIN("passphrase", u.stage.passphrase, u.stage.passphrase_len, IPC_SECRET_MAX),
	STR("secret_namespace", u.stage.secret_namespace, IPC_K8S_NS_MAX),
	STR("secret_name", u.stage.secret_name, IPC_K8S_NAME_MAX),
	STR("secret_key", u.stage.secret_key, IPC_K8S_NAME_MAX),
	BIN("prev_passphrase", u.stage.prev_passphrase, u.stage.prev_passphrase_len,
	    IPC_SECRET_MAX),
	BOOL("allow_discards", u.stage.allow_discards),
};

static const struct ipc_field f_stage_ans[] = {
	BOOL("formatted", u.stage_ans.formatted),
};

static const struct ipc_field f_unstage[] = {
	VOLID(u.unstage.volume_id),
	PATH("staging_path", u.unstage.staging_path),
};

static const struct ipc_field f_publish[] = {
	VOLID(u.publish.volume_id),
	PATH("staging_path", u.publish.staging_path),
	PATH("target_path", u.publish.target_path),
	BOOL("readonly", u.publish.readonly),
};

static const struct ipc_field f_unpublish[] = {
	VOLID(u.unpublish.volume_id),
	PATH("target_path", u.unpublish.target_path),
};

static const struct ipc_field f_expand[] = {
	VOLID(u.expand.volume_id),
	PATH("volume_path", u.expand.volume_path),
	U64("new_size", u.expand.new_size, 0, UINT64_MAX), /* 0: fill the device */
};

static const struct ipc_field f_expand_ans[] = {
	U64("capacity", u.expand_ans.capacity, 0, UINT64_MAX),
};

static const struct ipc_field f_stats[] = {
	VOLID(u.stats.volume_id),
	PATH("volume_path", u.stats.volume_path),
};

static const struct ipc_field f_capacity_ans[] = {
	U64("available", u.capacity_ans.available, 0, UINT64_MAX),
	U64("maximum_volume", u.capacity_ans.maximum_volume, 0, UINT64_MAX),
	U64("volumes_left", u.capacity_ans.volumes_left, 0, UINT64_MAX),
	U64("max_volumes", u.capacity_ans.max_volumes, 0, UINT64_MAX),
};

static const struct ipc_field f_stats_ans[] = {
	U64("bytes_total", u.stats_ans.bytes_total, 0, UINT64_MAX),
	U64("bytes_avail", u.stats_ans.bytes_avail, 0, UINT64_MAX),
	U64("bytes_used", u.stats_ans.bytes_used, 0, UINT64_MAX),
	U64("inodes_total", u.stats_ans.inodes_total, 0, UINT64_MAX),
	U64("inodes_free", u.stats_ans.inodes_free, 0, UINT64_MAX),
	U64("inodes_used", u.stats_ans.inodes_used, 0, UINT64_MAX),
	BOOL("abnormal", u.stats_ans.abnormal),
	STR("condition", u.stats_ans.condition, IPC_ERRMSG_MAX),
};

static const struct ipc_field f_run_tool[] = {
	VOLID(u.run_tool.volume_id),
	U32("fs_kind", u.run_tool.fs_kind, 1, 3),
	PATH("mount_path", u.run_tool.mount_path),
};

static const struct ipc_field f_run_tool_ans[] = {
	U32("wstatus", u.run_tool_ans.wstatus, 0, 0xffff),
	STR("output", u.run_tool_ans.output, IPC_ERRMSG_MAX),
};

#define TUNING(m)                                                              \
	U32("cache_mode", m.cache_mode, 0, 3),                                 \
	U64("cache_max_age_ns", m.cache_max_age_ns, 0, INT64_MAX),             \
	BOOL("cache_max_size_off", m.cache_max_size_off),                      \
	U64("cache_max_size", m.cache_max_size, 0, INT64_MAX),                 \
	U64("cache_poll_ns", m.cache_poll_ns, 1, INT64_MAX),                   \
	U64("write_back_ns", m.write_back_ns, 0, INT64_MAX),                   \
	U64("dir_cache_time_ns", m.dir_cache_time_ns, 0, INT64_MAX),           \
	U64("attr_timeout_ns", m.attr_timeout_ns, 0, INT64_MAX),               \
	BOOL("has_chunk_streams", m.has_chunk_streams),                        \
	U32("chunk_streams", m.chunk_streams, 0, 1024)

static const struct ipc_field f_stage_s3[] = {
	VOLID(u.stage_s3.volume_id),
	PATH("staging_path", u.stage_s3.staging_path),
	U64("capacity", u.stage_s3.capacity, 1, UINT64_MAX),
	BOOL("has_fs_group", u.stage_s3.has_fs_group),
	U32("fs_group", u.stage_s3.fs_group, 0, INT32_MAX),
	BIN("passphrase", u.stage_s3.passphrase, u.stage_s3.passphrase_len, IPC_SECRET_MAX),
	STR("secret_namespace", u.stage_s3.secret_namespace, IPC_K8S_NS_MAX),
	STR("secret_name", u.stage_s3.secret_name, IPC_K8S_NAME_MAX),
	STR("secret_key", u.stage_s3.secret_key, IPC_K8S_NAME_MAX),
	STR("passphrase_key", u.stage_s3.passphrase_key, IPC_K8S_NAME_MAX),
	STR("s3_namespace", u.stage_s3.s3_namespace, IPC_K8S_NS_MAX),
	STR("s3_name", u.stage_s3.s3_name, IPC_K8S_NAME_MAX),
	STR("prefix", u.stage_s3.prefix, IPC_PREFIX_MAX),
	TUNING(u.stage_s3.t),
};

static const struct ipc_field f_repair_mount[] = {
	U32("pid", u.repair_mount.pid, 1, INT32_MAX),
	U64("mnt_id", u.repair_mount.mnt_id, 1, UINT64_MAX),
	U64("parent_id", u.repair_mount.parent_id, 1, UINT64_MAX),
	PATH("path", u.repair_mount.path),
};

static const struct ipc_field f_run_rclone[] = {
	VOLID(u.run_rclone.volume_id),
	STR("vfs_name", u.run_rclone.vfs_name, IPC_VFSNAME_MAX),
	PATH("mountpoint", u.run_rclone.mountpoint),
	PATH("cache_dir", u.run_rclone.cache_dir),
	BOOL("has_fs_group", u.run_rclone.has_fs_group),
	U32("fs_group", u.run_rclone.fs_group, 0, INT32_MAX),
	U64("capacity", u.run_rclone.capacity, 1, UINT64_MAX),
	TUNING(u.run_rclone.t),
};

static const struct ipc_field f_rotate[] = {
	VOLID(u.rotate.volume_id),
	BIN("passphrase", u.rotate.passphrase, u.rotate.passphrase_len, IPC_SECRET_MAX),
	BIN("prev_passphrase", u.rotate.prev_passphrase, u.rotate.prev_passphrase_len,
	    IPC_SECRET_MAX),
	STR("secret_namespace", u.rotate.secret_namespace, IPC_K8S_NS_MAX),
	STR("secret_name", u.rotate.secret_name, IPC_K8S_NAME_MAX),
	STR("secret_key", u.rotate.secret_key, IPC_K8S_NAME_MAX),
};

static const struct ipc_field f_rotate_ans[] = {
	BOOL("rotated", u.rotate_ans.rotated),
};

static const struct ipc_field f_reclaim[] = {
	VOLID(u.reclaim.volume_id),
	PATH("volume_path", u.reclaim.volume_path),
};

static const struct ipc_field f_reclaim_ans[] = {
	BOOL("trimmed", u.reclaim_ans.trimmed),
	U64("pre_bytes", u.reclaim_ans.pre_bytes, 0, INT64_MAX),
	U64("post_bytes", u.reclaim_ans.post_bytes, 0, INT64_MAX),
};

#define ENTRY(t, senders, f) { t, #t, senders, 0, f, sizeof(f) / sizeof((f)[0]) }
#define NOTE(t, senders, f) { t, #t, senders, 1, f, sizeof(f) / sizeof((f)[0]) }
#define EMPTY(t, senders) { t, #t, senders, 0, NULL, 0 }

/* Senders, audited type by type: the frontend may send only what a CSI
 * call it forwards needs (PING for Probe; STAGE_LUKS/STAGE_S3, UNSTAGE,
 * PUBLISH, UNPUBLISH for the node calls; EXPAND for NodeExpandVolume;
 * STATS for NodeGetVolumeStats; CAPACITY for GetCapacity, CreateVolume
 * on the node and NodeGetInfo; ROTATE_KEY for csi-addons'
 * EncryptionKeyRotate, RECLAIM_SPACE for its NodeReclaimSpace). Spawner control (SPAWN_FRONTEND,
 * SPAWNER_STOP, RUN_*) is privd's alone, towards the spawner only; the
 * spawner sends only answers and CHILD_EXIT. Nobody may ask for an erase. */
static const struct ipc_schema catalogue[] = {
	ENTRY(IPC_ANS_ERROR, IPC_FROM_PRIVD | IPC_FROM_SPAWNER, f_error),
	EMPTY(IPC_REQ_PING, IPC_FROM_FRONTEND),
	ENTRY(IPC_ANS_PING, IPC_FROM_PRIVD, f_ping_ans),
	EMPTY(IPC_REQ_SPAWN_FRONTEND, IPC_FROM_PRIVD_SP),
	ENTRY(IPC_ANS_SPAWN, IPC_FROM_SPAWNER, f_spawn_ans),
	EMPTY(IPC_REQ_SPAWNER_STOP, IPC_FROM_PRIVD_SP),
	EMPTY(IPC_ANS_SPAWNER_STOP, IPC_FROM_SPAWNER),
	NOTE(IPC_NOTE_CHILD_EXIT, IPC_FROM_SPAWNER, f_child_exit),
	ENTRY(IPC_REQ_STAGE_LUKS, IPC_FROM_FRONTEND, f_stage),
	ENTRY(IPC_ANS_STAGE_LUKS, IPC_FROM_PRIVD, f_stage_ans),
	ENTRY(IPC_REQ_UNSTAGE, IPC_FROM_FRONTEND, f_unstage),
	EMPTY(IPC_ANS_UNSTAGE, IPC_FROM_PRIVD),
	ENTRY(IPC_REQ_PUBLISH, IPC_FROM_FRONTEND, f_publish),
	EMPTY(IPC_ANS_PUBLISH, IPC_FROM_PRIVD),
	ENTRY(IPC_REQ_UNPUBLISH, IPC_FROM_FRONTEND, f_unpublish),
	EMPTY(IPC_ANS_UNPUBLISH, IPC_FROM_PRIVD),
	ENTRY(IPC_REQ_EXPAND, IPC_FROM_FRONTEND, f_expand),
	ENTRY(IPC_ANS_EXPAND, IPC_FROM_PRIVD, f_expand_ans),
	ENTRY(IPC_REQ_STATS, IPC_FROM_FRONTEND, f_stats),
	ENTRY(IPC_ANS_STATS, IPC_FROM_PRIVD, f_stats_ans),
	ENTRY(IPC_REQ_RUN_MKFS, IPC_FROM_PRIVD_SP, f_run_tool),
	ENTRY(IPC_ANS_RUN_MKFS, IPC_FROM_SPAWNER, f_run_tool_ans),
	ENTRY(IPC_REQ_RUN_GROWFS, IPC_FROM_PRIVD_SP, f_run_tool),
	ENTRY(IPC_ANS_RUN_GROWFS, IPC_FROM_SPAWNER, f_run_tool_ans),
	ENTRY(IPC_REQ_STAGE_S3, IPC_FROM_FRONTEND, f_stage_s3),
	EMPTY(IPC_ANS_STAGE_S3, IPC_FROM_PRIVD),
	ENTRY(IPC_REQ_RUN_RCLONE, IPC_FROM_PRIVD_SP, f_run_rclone),
	ENTRY(IPC_ANS_RUN_RCLONE, IPC_FROM_SPAWNER, f_spawn_ans),
	ENTRY(IPC_REQ_STOP_RCLONE, IPC_FROM_PRIVD_SP, f_spawn_ans),
	EMPTY(IPC_ANS_STOP_RCLONE, IPC_FROM_SPAWNER),
	ENTRY(IPC_REQ_REPAIR_MOUNT, IPC_FROM_PRIVD_SP, f_repair_mount),
	ENTRY(IPC_ANS_REPAIR_MOUNT, IPC_FROM_SPAWNER, f_run_tool_ans),
	EMPTY(IPC_REQ_CAPACITY, IPC_FROM_FRONTEND),
	ENTRY(IPC_ANS_CAPACITY, IPC_FROM_PRIVD, f_capacity_ans),
	ENTRY(IPC_REQ_ROTATE_KEY, IPC_FROM_FRONTEND, f_rotate),
	ENTRY(IPC_ANS_ROTATE_KEY, IPC_FROM_PRIVD, f_rotate_ans),
	ENTRY(IPC_REQ_RECLAIM_SPACE, IPC_FROM_FRONTEND, f_reclaim),
	ENTRY(IPC_ANS_RECLAIM_SPACE, IPC_FROM_PRIVD, f_reclaim_ans),
};

const struct ipc_schema *
ipc_schema_find(uint32_t type)
{
	for (size_t i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++)
		if (catalogue[i].type == type)
			return &catalogue[i];
	return NULL;
}

const char *
ipc_type_name(uint32_t type)
{
	const struct ipc_schema *s = ipc_schema_find(type);
	return s ? s->name + 4 /* drop "IPC_" */ : "UNKNOWN";
}

int
ipc_is_request(uint32_t type)
{
	return (type % 2) == 0 && ipc_schema_find(type) != NULL;
}
