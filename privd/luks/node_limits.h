/* Node-wide limits on what privd creates for volumes (issue 10 item 6).
 *
 * A volume id is whatever the frontend sends, so without a bound a
 * compromised frontend (or a flood of PVCs) makes privd fill the disk with
 * backing files (up to 64 TiB each) or start hundreds of rclone processes.
 * These limits hold in every mode, with or without a Kubernetes API:
 *   - at most max_volumes backing files below the local root;
 *   - at most max_bytes bytes of backing files in total (0: no fixed cap);
 *   - never leave less than the reserve free on the local root's file
 *     system (a size, or a percentage of the file system);
 *   - at most max_s3 rclone mounts (privd/s3/s3_table.c).
 * Going past one is refused with IPC_EC_EXHAUSTED (RESOURCE_EXHAUSTED). */
#ifndef LCW_NODE_LIMITS_H
#define LCW_NODE_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct local_limits {
	uint64_t max_volumes;
	uint64_t max_bytes;     /* 0: only the free-space reserve applies */
	uint64_t reserve_bytes; /* absolute reserve ... */
	unsigned reserve_pct;   /* ... or this percentage of the file system */
};

/* What already exists below the local root. */
struct local_usage {
	uint64_t volumes; /* backing files <root>/<id>/luks-<id>.img */
	uint64_t bytes;   /* their sizes: max(st_size, allocated) each */
	uint64_t unallocated; /* of those sizes, bytes without blocks yet (sparse files) */
};

/* Room for new local volumes on this node (GetCapacity). */
struct local_room {
	uint64_t available;      /* bytes new volumes may still take in total */
	uint64_t maximum_volume; /* the largest single new volume */
	uint64_t volumes_left;   /* new volumes the count limit still allows */
};

/* Pure: may a backing file grow by add bytes (new_volume: a new file)?
 * fs_avail/fs_size: statvfs of the local root (bytes available to root
 * callers minus nothing, and total). 0, or -1 with why. */
int local_limits_check(const struct local_limits *l, const struct local_usage *u,
		       uint64_t fs_avail, uint64_t fs_size, uint64_t add, int new_volume,
		       char *why, size_t whylen);

/* Pure: what local_limits_check would still admit, given the file
 * system's free space and size, the existing backing files, and promised:
 * bytes of volumes that exist (a PersistentVolume on this node) but have
 * no backing file yet. Never negative; 0 when the count limit is reached. */
void local_capacity(const struct local_limits *l, const struct local_usage *u, uint64_t fs_avail,
		    uint64_t fs_size, uint64_t promised, struct local_room *r);

/* Count the backing files below root: each <id>/luks-<id>.img for a valid
 * id whose directory and file only owner could have written (the shape of
 * vol_legacy_shape; privd passes 0). A file in a directory a tenant can
 * write is not counted, so a tenant sharing the root cannot use up the
 * limits with (sparse) files of its own. Missing root: all zero. 0 or
 * -errno. */
int local_usage_scan(const char *root, uid_t owner, struct local_usage *u);

/* Serialise "check, then create or grow" across workers. */
void local_limits_lock(void);
void local_limits_unlock(void);

#endif
