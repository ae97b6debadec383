/* privd-wide configuration and services used by the operation handlers. */
#ifndef LCW_PRIVD_H
#define LCW_PRIVD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "luks.h"

struct privd_config {
	char local_root[PATH_MAX];   /* CSI_LOCAL_PATH, default /opt/local-path-provisioner */
	char kubelet_root[PATH_MAX]; /* --kubelet-root, default /var/lib/kubelet */
	struct luks_pbkdf kdf;       /* PBKDF costs for new volumes */
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

#endif
