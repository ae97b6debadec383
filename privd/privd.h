/* privd-wide configuration and services used by the operation handlers. */
#ifndef LCW_PRIVD_H
#define LCW_PRIVD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "luks.h"
#include "node_limits.h"

struct privd_config {
	char local_root[PATH_MAX];   /* CSI_LOCAL_PATH, default /opt/local-path-provisioner */
	char kubelet_root[PATH_MAX]; /* --kubelet-root, default /var/lib/kubelet */
	struct luks_pbkdf kdf;       /* PBKDF costs for new volumes */
	struct local_limits limits;  /* node-wide bounds on local volumes */
	unsigned max_s3_mounts;      /* node-wide bound on rclone mounts */
	int legacy_volumes;          /* open unrecorded root-only files (vol_owner.h) */
	/* S3 backend */
	char nodeid[256];
	char vfs_cache_root[PATH_MAX];
	char vfs_cache_mount[PATH_MAX];
	uint64_t vfs_cache_bytes;
	char cache_secret_namespace[256], cache_secret_name[256], cache_secret_key[256];
};

extern struct privd_config privd_cfg;

/* The Kubernetes API client, or NULL when none is configured. */
struct k8s_client;
extern struct k8s_client *privd_k8s;

/* Ask the spawner to run a file-system tool (IPC_REQ_RUN_MKFS or
 * IPC_REQ_RUN_GROWFS) and wait for it. Returns the wait status (>= 0) with
 * the tail of its stderr in out, or -1 if the spawner could not run it. */
int privd_run_tool(uint32_t req_type, const char *volid, int fs_kind, const char *mount_path,
		   char *out, size_t outlen);

/* Ask the spawner to start rclone for an S3 volume with conf_fd (sealed
 * memfd) as its config. Returns the pid (> 0), or -1 with err. */
struct ipc_run_rclone_req;
int privd_spawn_rclone(const struct ipc_run_rclone_req *r, int conf_fd, char *err, size_t errlen);
/* SIGTERM, through the spawner, to an rclone it started and still runs
 * (privd's seccomp filter allows no kill). 0 sent, -1 not ours or gone. */
int privd_stop_rclone(int pid);

#endif
