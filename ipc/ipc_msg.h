/* Message catalogue of the privd channels.
 *
 * Every message is one SOCK_SEQPACKET datagram holding one msgpack array:
 *   [type, id, field1, ..., fieldN]
 * with exactly N fields for that type, in a fixed order, each of a fixed kind
 * and bounded size. Requests have even type numbers and their answer is the
 * next odd number (OpenSSH monitor style); any request may instead be answered
 * by IPC_ANS_ERROR. Notes are unsolicited, carry id 0 and get no answer.
 *
 * Which peer may send which type is part of the catalogue (ipc_codec.c), so a
 * frontend cannot send what only the spawner may send, and vice versa.
 */
#ifndef LCW_IPC_MSG_H
#define LCW_IPC_MSG_H

#include <stddef.h>
#include <stdint.h>

#define IPC_MAX_DATAGRAM 32768u /* hard cap on one encoded message */
#define IPC_MAX_FIELDS 24u      /* per message, excluding type and id */

/* String field bounds (bytes, without the terminating NUL). */
#define IPC_ERRMSG_MAX 512u
#define IPC_VERSION_MAX 96u
#define IPC_VOLID_MAX 128u   /* = VOLID_MAX */
#define IPC_PATH_MAX 4095u   /* = KPATH_MAX */
#define IPC_OPTS_MAX 512u    /* = MOUNT_OPTS_MAX */
#define IPC_SECRET_MAX 4096u /* = LCW_SECRET_MAX */
#define IPC_K8S_NS_MAX 63u   /* DNS-1123 label */
#define IPC_K8S_NAME_MAX 253u /* DNS-1123 subdomain, Secret key */

/* Who may send a type: the channel's peer role. */
enum ipc_peer {
	IPC_FROM_FRONTEND = 1u << 0, /* frontend -> privd */
	IPC_FROM_PRIVD = 1u << 1,    /* privd -> frontend (answers) */
	IPC_FROM_SPAWNER = 1u << 2,  /* spawner -> privd */
	IPC_FROM_PRIVD_SP = 1u << 3, /* privd -> spawner (its requests): kept
					apart so neither of privd's peers accepts
					what only the other one needs */
};

enum ipc_type {
	IPC_ANS_ERROR = 1,

	IPC_REQ_PING = 2, /* frontend: is privd alive and serving? */
	IPC_ANS_PING = 3,

	IPC_REQ_SPAWN_FRONTEND = 4, /* privd -> spawner, carries one fd */
	IPC_ANS_SPAWN = 5,

	IPC_REQ_SPAWNER_STOP = 6, /* privd -> spawner: stop children, exit */
	IPC_ANS_SPAWNER_STOP = 7,

	IPC_NOTE_CHILD_EXIT = 9, /* spawner -> privd, unsolicited */

	/* frontend -> privd: local LUKS volumes */
	IPC_REQ_STAGE_LUKS = 10,
	IPC_ANS_STAGE_LUKS = 11,
	IPC_REQ_UNSTAGE = 12,
	IPC_ANS_UNSTAGE = 13,
	IPC_REQ_PUBLISH = 14,
	IPC_ANS_PUBLISH = 15,
	IPC_REQ_UNPUBLISH = 16,
	IPC_ANS_UNPUBLISH = 17,
	IPC_REQ_EXPAND = 18,
	IPC_ANS_EXPAND = 19,
	IPC_REQ_STATS = 20,
	IPC_ANS_STATS = 21,
	/* 22, 23: retired (ERASE). Crypto-erase is privd-internal: only its
	 * reclaimer erases, after it saw the PersistentVolume gone; no peer
	 * may ask for it, so the type is unknown and fatal to the channel. */

	/* privd -> spawner: run a file-system tool on a volume's mapping */
	IPC_REQ_RUN_MKFS = 24,
	IPC_ANS_RUN_MKFS = 25,
	IPC_REQ_RUN_GROWFS = 26,
	IPC_ANS_RUN_GROWFS = 27,

	/* frontend -> privd: an S3 volume (rclone crypt over S3) */
	IPC_REQ_STAGE_S3 = 28,
	IPC_ANS_STAGE_S3 = 29,

	/* privd -> spawner: start `rclone mount` for a volume; carries the
	 * sealed memfd holding its config. Answered once it is started. */
	IPC_REQ_RUN_RCLONE = 30,
	IPC_ANS_RUN_RCLONE = 31,

	/* privd -> spawner: SIGTERM to an rclone this spawner started and has
	 * not reaped yet (u.spawn_ans.pid). privd itself signals no process:
	 * only the spawner knows which pids are its children. */
	IPC_REQ_STOP_RCLONE = 44,
	IPC_ANS_STOP_RCLONE = 45,

	/* privd -> spawner: put a live S3 mount (the detached clone passed
	 * with the request) in place of a dead one inside another process's
	 * mount namespace (privd/ns_repair.c). Answered, as a tool, when the
	 * short-lived helper exits (u.run_tool_ans). */
	IPC_REQ_REPAIR_MOUNT = 50,
	IPC_ANS_REPAIR_MOUNT = 51,

	/* frontend: room for new local volumes on this node and the node's
	 * volume limits (GetCapacity, CreateVolume on the node, NodeGetInfo).
	 * Carries nothing; answers only numbers. */
	IPC_REQ_CAPACITY = 60,
	IPC_ANS_CAPACITY = 61,

	/* frontend -> privd: csi-addons calls on a staged local volume (node
	 * plugin). Move its header from the previous passphrase to the current
	 * one without unmounting (EncryptionKeyRotate); fstrim its file system
	 * when its StorageClass allows discards (NodeReclaimSpace). */
	IPC_REQ_ROTATE_KEY = 64,
	IPC_ANS_ROTATE_KEY = 65,
	IPC_REQ_RECLAIM_SPACE = 66,
	IPC_ANS_RECLAIM_SPACE = 67,
};

/* Error classes carried by IPC_ANS_ERROR; the frontend maps them to gRPC
 * status codes. Values are stable wire constants. */
enum ipc_err_class {
	IPC_EC_INTERNAL = 1,
	IPC_EC_INVALID = 2,
	IPC_EC_NOT_FOUND = 3,
	IPC_EC_EXISTS = 4,
	IPC_EC_PERMISSION = 5,
	IPC_EC_PRECONDITION = 6,
	IPC_EC_EXHAUSTED = 7,
	IPC_EC_BUSY = 8,
	IPC_EC_UNAVAILABLE = 9,
	IPC_EC_MAX = 9,
};

/* Roles of children the spawner runs (IPC_NOTE_CHILD_EXIT.role). */
enum ipc_child_role {
	IPC_ROLE_FRONTEND = 1,
	IPC_ROLE_RCLONE = 2,
	IPC_ROLE_MAX = 2,
};

struct ipc_error_ans {
	uint32_t err_class; /* enum ipc_err_class */
	uint32_t sys_errno; /* 0 when not caused by a system call */
	char msg[IPC_ERRMSG_MAX + 1];
};

struct ipc_ping_ans {
	char version[IPC_VERSION_MAX + 1];
	uint64_t uptime_ms;
};

struct ipc_spawn_ans {
	uint32_t pid;
};

struct ipc_child_exit_note {
	uint32_t role; /* enum ipc_child_role */
	uint32_t pid;
	uint32_t wstatus; /* as from waitpid() */
};

struct ipc_stage_req {
	char volume_id[IPC_VOLID_MAX + 1];
	char staging_path[IPC_PATH_MAX + 1];
	uint32_t fs_kind;       /* enum fs_kind; FS_UNSET: keep what is there, ext4 if new */
	char mount_opts[IPC_OPTS_MAX + 1]; /* allowlisted, comma-separated */
	uint64_t capacity;      /* size of the backing file if it must be created */
	uint8_t has_fs_group;
	uint32_t fs_group;
	uint32_t fs_mode;       /* root directory mode with fsGroup */
	uint32_t passphrase_len;
	uint8_t passphrase[IPC_SECRET_MAX]; /* the secret value as delivered */
	/* Hardened mode: no passphrase above; privd reads this Secret key from
	 * the Kubernetes API itself. All empty in node-stage-secret mode. */
	char secret_namespace[IPC_K8S_NS_MAX + 1];
	char secret_name[IPC_K8S_NAME_MAX + 1];
	char secret_key[IPC_K8S_NAME_MAX + 1];
	/* Node-stage-secret mode: the Secret's "<passphraseKey>-previous"
	 * value if it has one (rotation: a volume that opens only with it is
	 * re-keyed to the passphrase above). Empty otherwise and in hardened
	 * mode, where privd reads both itself. */
	uint32_t prev_passphrase_len;
	uint8_t prev_passphrase[IPC_SECRET_MAX];
	/* StorageClass allow-discards: "true": the mapping passes discards
	 * down (fstrim frees blocks of the backing file; SECURITY.md). */
	uint8_t allow_discards;
};

struct ipc_stage_ans {
	uint8_t formatted; /* this call created the LUKS volume */
};

struct ipc_unstage_req {
	char volume_id[IPC_VOLID_MAX + 1];
	char staging_path[IPC_PATH_MAX + 1];
};

struct ipc_publish_req {
	char volume_id[IPC_VOLID_MAX + 1];
	char staging_path[IPC_PATH_MAX + 1];
	char target_path[IPC_PATH_MAX + 1];
	uint8_t readonly;
};

struct ipc_unpublish_req {
	char volume_id[IPC_VOLID_MAX + 1];
	char target_path[IPC_PATH_MAX + 1];
};

struct ipc_expand_req {
	char volume_id[IPC_VOLID_MAX + 1];
	char volume_path[IPC_PATH_MAX + 1];
	uint64_t new_size;
};

struct ipc_expand_ans {
	uint64_t capacity;
};

struct ipc_stats_req {
	char volume_id[IPC_VOLID_MAX + 1];
	char volume_path[IPC_PATH_MAX + 1];
};

struct ipc_stats_ans {
	uint64_t bytes_total, bytes_avail, bytes_used;
	uint64_t inodes_total, inodes_free, inodes_used;
	uint8_t abnormal;
	char condition[IPC_ERRMSG_MAX + 1];
};

struct ipc_capacity_ans {
	uint64_t available;      /* bytes new local volumes may take in total */
	uint64_t maximum_volume; /* the largest single new local volume */
	uint64_t volumes_left;   /* new local volumes the count limit allows */
	uint64_t max_volumes;    /* --max-local-volumes + --max-s3-mounts */
};

struct ipc_run_tool_req {
	char volume_id[IPC_VOLID_MAX + 1]; /* the tool runs on /dev/mapper/luks-<id> */
	uint32_t fs_kind;
	char mount_path[IPC_PATH_MAX + 1]; /* xfs_growfs only: the mounted file system */
};

/* Exit codes of the repair helper (IPC_ANS_REPAIR_MOUNT's wait status). */
enum ipc_repair_exit {
	NSR_REPAIRED = 0, /* the dead mount detached, the live clone in its place */
	NSR_FAILED = 1,   /* nothing changed, or as far as the message says */
	NSR_STACKED = 2,  /* the dead mount could not be detached (locked): the
			     clone covers it */
	NSR_GONE = 3,     /* the dead mount is not (any more) at that path there */
};

struct ipc_repair_mount_req {
	uint32_t pid;       /* a process in the mount namespace to repair */
	uint64_t mnt_id;    /* the dead mount there (mount ids are node-unique) */
	uint64_t parent_id; /* the mount its mount point lies on */
	char path[IPC_PATH_MAX + 1]; /* its mount point, as that process sees it */
};

struct ipc_run_tool_ans {
	uint32_t wstatus;
	char output[IPC_ERRMSG_MAX + 1]; /* tail of the tool's stderr */
};

/* Parsed rclone tuning of an S3 volume (common/s3_params.h), already
 * validated by the frontend and checked again by privd. */
struct ipc_s3_tuning {
	uint32_t cache_mode; /* enum rclone_cache_mode */
	uint64_t cache_max_age_ns;
	uint8_t cache_max_size_off; /* "off": no limit */
	uint64_t cache_max_size;
	uint64_t cache_poll_ns;
	uint64_t write_back_ns;
	uint64_t dir_cache_time_ns;
	uint64_t attr_timeout_ns;
	uint8_t has_chunk_streams;
	uint32_t chunk_streams;
};

#define IPC_PREFIX_MAX 256u   /* = S3P_PREFIX_MAX */
#define IPC_VFSNAME_MAX 160u  /* "<volume id>.g<N>" */

struct ipc_stage_s3_req {
	char volume_id[IPC_VOLID_MAX + 1];
	char staging_path[IPC_PATH_MAX + 1];
	uint64_t capacity; /* nominal: what statfs reports as the size */
	uint8_t has_fs_group;
	uint32_t fs_group;
	/* The passphrase as delivered (full string: rclone crypt does not cut
	 * at a newline), or, in hardened mode, the Secret privd reads. */
	uint32_t passphrase_len;
	uint8_t passphrase[IPC_SECRET_MAX];
	char secret_namespace[IPC_K8S_NS_MAX + 1];
	char secret_name[IPC_K8S_NAME_MAX + 1];
	char secret_key[IPC_K8S_NAME_MAX + 1];
	/* passphraseKey, recorded so that privd can find the passphrase again
	 * after a restart through the PV's nodeStageSecretRef. */
	char passphrase_key[IPC_K8S_NAME_MAX + 1];
	/* The S3 credentials Secret (s3-secret-namespace / -name). */
	char s3_namespace[IPC_K8S_NS_MAX + 1];
	char s3_name[IPC_K8S_NAME_MAX + 1];
	char prefix[IPC_PREFIX_MAX + 1];
	struct ipc_s3_tuning t;
};

struct ipc_run_rclone_req {
	char volume_id[IPC_VOLID_MAX + 1];
	char vfs_name[IPC_VFSNAME_MAX + 1];
	char mountpoint[IPC_PATH_MAX + 1]; /* the staging path, checked by privd */
	char cache_dir[IPC_PATH_MAX + 1];  /* the opened VFS-cache volume */
	uint8_t has_fs_group;
	uint32_t fs_group;
	uint64_t capacity;
	struct ipc_s3_tuning t;
};

/* EncryptionKeyRotate. Where the Kubernetes API is configured privd reads
 * both passphrases from the Secret the volume's PV names and ignores the
 * rest; without it, as a stage: the passphrases of a node-stage secret, or
 * a hardened-mode reference (which then needs the API). */
struct ipc_rotate_req {
	char volume_id[IPC_VOLID_MAX + 1];
	uint32_t passphrase_len;
	uint8_t passphrase[IPC_SECRET_MAX];
	uint32_t prev_passphrase_len;
	uint8_t prev_passphrase[IPC_SECRET_MAX];
	char secret_namespace[IPC_K8S_NS_MAX + 1];
	char secret_name[IPC_K8S_NAME_MAX + 1];
	char secret_key[IPC_K8S_NAME_MAX + 1];
};

struct ipc_rotate_ans {
	uint8_t rotated; /* the header changed (0: it was already current) */
};

/* NodeReclaimSpace: the path where the volume is mounted (staging path or
 * a publish target, kubelet's shapes). */
struct ipc_reclaim_req {
	char volume_id[IPC_VOLID_MAX + 1];
	char volume_path[IPC_PATH_MAX + 1];
};

struct ipc_reclaim_ans {
	uint8_t trimmed;     /* 0: discards not allowed for this volume, nothing done */
	uint64_t pre_bytes;  /* backing file's allocated bytes before */
	uint64_t post_bytes; /* and after */
};

struct ipc_msg {
	uint32_t type; /* enum ipc_type */
	uint32_t id;   /* request id, echoed in the answer; 0 for notes */
	union {
		struct ipc_error_ans error;
		struct ipc_ping_ans ping_ans;
		struct ipc_spawn_ans spawn_ans;
		struct ipc_child_exit_note child_exit;
		struct ipc_stage_req stage;
		struct ipc_stage_ans stage_ans;
		struct ipc_unstage_req unstage;
		struct ipc_publish_req publish;
		struct ipc_unpublish_req unpublish;
		struct ipc_expand_req expand;
		struct ipc_expand_ans expand_ans;
		struct ipc_stats_req stats;
		struct ipc_stats_ans stats_ans;
		struct ipc_capacity_ans capacity_ans;
		struct ipc_run_tool_req run_tool;
		struct ipc_run_tool_ans run_tool_ans;
		struct ipc_stage_s3_req stage_s3;
		struct ipc_run_rclone_req run_rclone;
		struct ipc_repair_mount_req repair_mount;
		struct ipc_rotate_req rotate;
		struct ipc_rotate_ans rotate_ans;
		struct ipc_reclaim_req reclaim;
		struct ipc_reclaim_ans reclaim_ans;
	} u;
};

/* Codec results. Negative values are errors; every one of them is fatal to
 * the connection that produced the bytes. */
enum ipc_codec_rc {
	IPC_OK = 0,
	IPC_E_SIZE = -1,        /* empty or over IPC_MAX_DATAGRAM */
	IPC_E_SHAPE = -2,       /* not a flat msgpack array of scalars */
	IPC_E_TRAILING = -3,    /* bytes left after the array */
	IPC_E_TYPE = -4,        /* unknown message type */
	IPC_E_PERMIT = -5,      /* type not permitted from this peer */
	IPC_E_ARITY = -6,       /* wrong number of fields */
	IPC_E_KIND = -7,        /* a field has the wrong msgpack kind */
	IPC_E_RANGE = -8,       /* integer out of range, or id invalid */
	IPC_E_STRLEN = -9,      /* string or bytes too long */
	IPC_E_NUL = -10,        /* string contains NUL or a control byte */
	IPC_E_NOSPACE = -11,    /* encode: output buffer too small */
	IPC_E_MSGPACK = -12,    /* msgpack-c refused the bytes */
};

const char *ipc_codec_strerror(int rc);
const char *ipc_type_name(uint32_t type);

/* Is this a request type (even, known)? */
int ipc_is_request(uint32_t type);

/* Decode one datagram. `allowed` is the mask of enum ipc_peer the sender may
 * act as. On success *out is fully initialised. Pure: no I/O, bounded memory. */
int ipc_decode(const uint8_t *buf, size_t len, uint32_t allowed,
	       struct ipc_msg *out);

/* Encode *m into buf (capacity cap). The message is validated against the
 * same schema as on decode, so a bug cannot put a malformed message on the
 * wire. Writes nothing outside buf; no heap copies of field contents. */
int ipc_encode(const struct ipc_msg *m, uint8_t *buf, size_t cap,
	       size_t *outlen);

/* Structural pre-check run before msgpack-c sees the bytes: exactly one flat
 * array whose element count and every string length fit in the remaining
 * input, so msgpack-c can never be told to reserve more than the datagram
 * size. Exposed for the tests. */
int ipc_prescan(const uint8_t *buf, size_t len);

#endif
