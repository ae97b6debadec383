/* What privd's request handlers are given instead of globals: the node's
 * identity, each backend's configuration, the Kubernetes API client and a
 * handle on the spawner. The core (privd/main.c) builds one at start and
 * passes it down; backends and the shared layers below them never reach up
 * into the core for it. Each backend defines its own configuration type
 * (privd/luks/luks_config.h, privd/s3/s3_config.h); this layer only names
 * them, so it depends on neither. */
#ifndef LCW_PRIVD_CTX_H
#define LCW_PRIVD_CTX_H

#include <stddef.h>
#include <stdint.h>

struct ipc_msg;
struct ipc_run_rclone_req;
struct ipc_repair_mount_req;
struct k8s_client;
struct luks_config;
struct s3_config;

/* The spawner, as the handlers may use it. The core implements these over
 * its channel to the spawner (privd/spawner_client.c); tests may supply
 * their own. */
struct privd_tools {
	/* Run a file-system tool (IPC_REQ_RUN_MKFS or IPC_REQ_RUN_GROWFS) and
	 * wait: its wait status (>= 0) with the tail of its stderr in out, or
	 * -1 if the spawner could not run it. */
	int (*run_tool)(uint32_t req_type, const char *volid, int fs_kind, const char *mount_path,
			char *out, size_t outlen);
	/* Start rclone for an S3 volume with conf_fd (sealed memfd) as its
	 * config: the pid (> 0), or -1 with err. */
	int (*spawn_rclone)(const struct ipc_run_rclone_req *r, int conf_fd, char *err,
			    size_t errlen);
	/* SIGTERM to an rclone the spawner started and still runs (privd's
	 * seccomp filter allows no kill): 0 sent, -1 not ours or gone. */
	int (*stop_rclone)(int pid);
	/* Have the spawner's repair helper move clone_fd (a detached live
	 * mount) onto the dead mount r names in another mount namespace:
	 * the helper's wait status (>= 0) with its message in out, or -1. */
	int (*repair_mount)(const struct ipc_repair_mount_req *r, int clone_fd, char *out,
			    size_t outlen);
};

struct privd_ctx {
	const char *kubelet_root;        /* --kubelet-root, default /var/lib/kubelet */
	const char *nodeid;              /* this node's name */
	const struct luks_config *luks;  /* local volumes */
	const struct s3_config *s3;      /* S3 volumes and the node's VFS cache */
	struct k8s_client *k8s;          /* NULL when no API is configured */
	const struct privd_tools *tools; /* the spawner */
	uint64_t started_ns;             /* for PING's uptime */
};

typedef void (*privd_handler_fn)(const struct privd_ctx *ctx, const struct ipc_msg *req,
				 struct ipc_msg *ans);

/* Fill *ans as an error answer (privd/node/answer.c). */
void privd_answer_error(struct ipc_msg *ans, uint32_t err_class, int sys_errno,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
