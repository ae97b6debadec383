/* Configuration of the S3 backend and the node's VFS-cache volume, set from
 * privd's flags by the core and read through privd_ctx.s3. */
#ifndef LCW_S3_CONFIG_H
#define LCW_S3_CONFIG_H

#include <limits.h>
#include <stdint.h>

struct s3_config {
	unsigned max_s3_mounts; /* node-wide bound on rclone mounts */
	int delete_unrepairable_pods; /* opt-in: delete a pod whose dead view cannot be repaired */
	char vfs_cache_root[PATH_MAX];
	char vfs_cache_mount[PATH_MAX];
	uint64_t vfs_cache_bytes;
	char cache_secret_namespace[256], cache_secret_name[256], cache_secret_key[256];
};

#endif
