/* Pure rules about volumes shared by the frontend (which validates every
 * request) and privd (which validates again before acting, and derives all
 * resources from the volume id itself). No I/O. */
#ifndef LCW_VOLPARAMS_H
#define LCW_VOLPARAMS_H

#include <stddef.h>
#include <stdint.h>

#define VOLID_MAX 128
#define KPATH_MAX 4095
#define MOUNT_OPTS_MAX 512

#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * MIB)
#define LUKS2_HEADER_BYTES (16 * MIB) /* data offset of a LUKS2 volume */
#define DEFAULT_CAPACITY GIB
#define MAX_CAPACITY (64ULL * 1024ULL * GIB)

enum fs_kind { FS_UNSET = 0, FS_EXT4 = 1, FS_EXT3 = 2, FS_XFS = 3, FS_MAX = 3 };

/* A volume id becomes part of file names and a device-mapper name
 * (privd/luks/dm_name.h: "luks-<id>", or a hash for ids too long for
 * device-mapper's 127 bytes), so: 1..VOLID_MAX bytes of
 * [A-Za-z0-9.-], not starting with '.' or '-'. No '_', so that no id can
 * name a local-path-provisioner directory ("pvc-<uid>_<ns>_<name>") in the
 * shared default root. Returns 0 or -1. */
int volid_valid(const char *id);
/* Reserved: the node-wide VFS-cache volume of the S3 backend is mapped as
 * luks-vfs-cache (contract item 8), so no CSI volume may have this id. */
#define VFS_CACHE_ID "vfs-cache"

/* "", "ext4", "ext3", "xfs" -> enum fs_kind (FS_UNSET for ""); -1 otherwise
 * (ext2 included: the original accepted it in validation and then failed at
 * stage time). */
int fs_kind_parse(const char *s);
const char *fs_kind_name(int kind); /* "ext4", ...; "ext4" for FS_UNSET */

/* Smallest volume that holds the LUKS2 header plus the file system:
 * mkfs.xfs refuses file systems under 300 MB. */
uint64_t capacity_min(int fs_kind);

/* CSI capacity range -> bytes: required, else limit, else 1 GiB; rounded
 * up to whole MiB; at least capacity_min. Returns 0 and *out, or -1 with a
 * message (below the minimum, above limit, limit < required, too large). */
int capacity_resolve(uint64_t required, uint64_t limit, int fs_kind, uint64_t *out,
		     char *why, size_t whylen);

/* Mount options a StorageClass may ask for (mountOptions); anything else
 * (e.g. "suid", "dev", "exec" toggles or fs-specific options that could
 * weaken the volume) is refused. opts is comma-separated or empty. Writes a
 * normalised copy. Returns 0 or -1 with the offending option. */
int mount_opts_check(const char *opts, char *norm, size_t normlen, char *why, size_t whylen);

/* Split checked mount options into mount(2) flags (noatime, sync, ...)
 * and file-system data (discard, nodiscard). Returns 0 or -1. */
int mount_opts_split(const char *opts, unsigned long *flags, char *data, size_t datalen);

/* "fs-mode": 3 or 4 octal digits (e.g. 0750, 2770). Returns mode or -1. */
int fs_mode_parse(const char *s);

/* "fsGroup": decimal 1..2147483647. Returns 0 and *gid, or -1. */
int fs_group_parse(const char *s, uint32_t *gid);

/* Decimal uint64 without sign, spaces or overflow. Returns 0 or -1. */
int u64_parse(const char *s, uint64_t *v);

/* Where a local volume lives (contract item 5). Returns 0 or -1 if it does
 * not fit. */
int luks_backing_dir(const char *local_root, const char *volid, char *out, size_t outlen);
int luks_backing_file(const char *local_root, const char *volid, char *out, size_t outlen);

#endif
