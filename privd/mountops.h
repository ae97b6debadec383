/* Mounts with libmount. Every target passed here has already been resolved
 * by kpath (no symlinks, under the kubelet root) or is privd's own. */
#ifndef LCW_MOUNTOPS_H
#define LCW_MOUNTOPS_H

#include <stddef.h>

struct mnt_info {
	char source[4096]; /* e.g. /dev/mapper/luks-pvc-1 */
	char fstype[64];
	char options[1024]; /* VFS options, e.g. "rw,nosuid,nodev,relatime" */
	char root[4096];    /* root of the mount inside its filesystem ("/" normally) */
	int readonly;       /* per-mount read-only flag (e.g. a read-only bind) */
	int sb_readonly;    /* the file system itself is read-only ("ro" in the
			       super options), e.g. after ext4 errors=remount-ro */
};

/* Is target a mount point (in /proc/self/mountinfo, read by libmount)? If
 * several mounts are stacked, the top one is described. Returns 1 and fills
 * *mi, 0 if not mounted, negative errno on error. */
int mnt_lookup(const char *target, struct mnt_info *mi);

/* Mount a block device with the given fs type and flags (MS_NODEV|MS_NOSUID
 * are always added). Returns 0 or negative errno with a message. */
int mnt_mount_device(const char *dev, const char *target, const char *fstype,
		     unsigned long extra_flags, const char *data, char *err, size_t errlen);

/* Bind-mount src onto target; when readonly, then remount only this bind
 * read-only (MS_REMOUNT|MS_BIND|MS_RDONLY), never the shared superblock.
 * Returns 0 or negative errno with a message. */
int mnt_bind(const char *src, const char *target, int readonly, char *err, size_t errlen);

/* Unmount target (not lazily). Not mounted is 0. Returns 0 or -errno. */
int mnt_unmount(const char *target);

/* Count mount points whose source is dev (e.g. bind mounts of a staged
 * volume are counted by st_dev of their filesystem instead; see below).
 * Returns count >= 0 or negative errno. */
int mnt_count_by_source(const char *dev);

#endif
