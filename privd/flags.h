/* Command line of lukscryptwalker-csi (privd). Accepts the original Go
 * driver's flags, in Go's forms (-flag=v, --flag=v, --flag v), so its
 * DaemonSet and Deployment arguments keep working. Pure. */
#ifndef LCW_FLAGS_H
#define LCW_FLAGS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FLAG_STR_MAX 4096

enum lcw_mode { MODE_NODE = 1, MODE_CONTROLLER = 2 };

struct lcw_flags {
	char endpoint[FLAG_STR_MAX];  /* unix:///path */
	char socket_path[FLAG_STR_MAX]; /* path part of endpoint */
	char nodeid[256];
	int show_version;
	int mode; /* enum lcw_mode, from --mode or detected from endpoint */

	/* Accepted for compatibility; used by later features. */
	char vfs_cache_size[64];
	char luks_secret_name[256];
	char luks_secret_namespace[256];
	char luks_secret_key[256];
	char registration_health_endpoint[256];

	/* Our own. */
	uid_t frontend_uid;
	gid_t frontend_gid;
	char audit_log[FLAG_STR_MAX]; /* "" = stderr only */
	int log_level;
	char frontend_path[FLAG_STR_MAX]; /* "" = next to our own binary */
	char kubelet_root[FLAG_STR_MAX];  /* kubelet paths must lie below it */
	unsigned kdf_memory_kib;  /* argon2id memory cost of new volumes */
	unsigned kdf_iterations;  /* argon2id time cost of new volumes */
	unsigned kdf_budget_mib;  /* node-wide PBKDF memory of concurrent unlocks */
	/* Kubernetes API (hardened passphrase mode, volume reclaim). Empty:
	 * in-cluster configuration when KUBERNETES_SERVICE_HOST is set. */
	char kube_api[FLAG_STR_MAX];
	char kube_token_file[FLAG_STR_MAX];
	char kube_ca_file[FLAG_STR_MAX];
	unsigned reclaim_interval_s; /* 0 = no reclaim */
	unsigned reclaim_grace_s;
	/* Namespace of the capacity Leases (k8s_capacity.c); "" = none. */
	char capacity_namespace[FLAG_STR_MAX];
	/* S3 backend: the node-wide VFS-cache volume (contract item 17). */
	char vfs_cache_root[FLAG_STR_MAX];  /* holds vfs-cache.luks and .node-id */
	char vfs_cache_mount[FLAG_STR_MAX]; /* where privd mounts it: rclone's --cache-dir */
	char rclone_path[FLAG_STR_MAX];
	uint64_t vfs_cache_bytes; /* --vfs-cache-size, parsed */
	/* Node-wide limits (node_limits.h), in every mode. */
	unsigned max_local_volumes;
	char max_local_size[64];   /* "0": no fixed cap */
	uint64_t max_local_bytes;  /* parsed */
	char local_reserve[64];    /* a size or "N%" of the file system */
	uint64_t local_reserve_bytes;
	unsigned local_reserve_pct;
	unsigned max_s3_mounts;
	int delete_unrepairable_pods; /* s3_repair.c's last resort, off by default */
	int legacy_volumes; /* open backing files privd has no record of */
};

/* Parse argv. Returns 0, or -1 with a message in err. Does not touch the
 * environment or the file system. */
int flags_parse(int argc, char **argv, struct lcw_flags *f, char *err, size_t errlen);

/* Extract the socket path of a unix:// endpoint ("unix:///abs" or
 * "unix:/abs"). Returns 0 or -1 when the endpoint is not an absolute unix
 * socket path. Pure. */
int endpoint_socket_path(const char *endpoint, char *out, size_t outlen);

/* Fill the handlers' configuration from parsed flags; lp is CSI_LOCAL_PATH
 * (or NULL: the Go driver's default /opt/local-path-provisioner). */
struct privd_config;
void flags_to_config(const struct lcw_flags *f, const char *lp, struct privd_config *c);

#endif
