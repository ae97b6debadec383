/* Mounts with libmount. Every target passed here has already been resolved
 * by kpath (no symlinks, under the kubelet root) or is privd's own.
 *
 * Targets (and bind sources) are either a path or "/proc/self/fd/N" of an
 * O_PATH directory fd (kpath_open_dir). Either way the module works from the
 * parent directory and the leaf name and never follows a symlink at the
 * leaf, so an fd opened before a mount still names the mount on top of it
 * (the kernel's magic link alone would not descend into it). Caveat for
 * callers: an fd opened *inside* a mount (kpath_open_dir on a path that is
 * already mounted) pins that mount, and mnt_unmount then fails with EBUSY;
 * close it first or pass the path. */
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
 * are always added; options in data cannot clear them). data is passed to
 * libmount as an option string. No fstab, helpers, mtab/utab or silent
 * read-only retry; a source that is not a block device is refused with
 * -ENOTBLK (libmount would set up a loop device for a file). Returns 0 or
 * negative errno with a message. */
int mnt_mount_device(const char *dev, const char *target, const char *fstype,
		     unsigned long extra_flags, const char *data, char *err, size_t errlen);

/* Bind-mount src onto target; when readonly, then remount only this bind
 * read-only (MS_REMOUNT|MS_BIND|MS_RDONLY), never the shared superblock.
 * The bind always ends up nodev,nosuid, keeps the source's other per-mount
 * flags (a read-only source stays read-only), and is unmounted again if the
 * remount fails. Returns 0 or negative errno with a message. */
int mnt_bind(const char *src, const char *target, int readonly, char *err, size_t errlen);

/* Unmount the top mount on target (not lazily, never through a symlinked
 * leaf). Not mounted is 0; a missing directory is -ENOENT; EBUSY while in
 * use. Returns 0 or -errno. */
int mnt_unmount(const char *target);

/* Count the mounts of dev. For a block device the match is by device
 * number (mountinfo's major:minor), so bind mounts of its filesystem count
 * too, whatever name it was mounted by (/dev/mapper/x or /dev/dm-3); any
 * other source (e.g. a FUSE mount's name) is compared as a string.
 * Returns count >= 0 or negative errno. */
int mnt_count_by_source(const char *dev);

/* The top mount whose mountinfo target is exactly target, from the table
 * alone: nothing on the path is looked up, so this also describes a FUSE
 * mount whose server is gone. 1 (filled), 0 none, negative errno. */
int mnt_find_by_target(const char *target, struct mnt_info *mi);

/* Call cb for every mount with exactly this source and fstype (e.g. a
 * FUSE volume's staging mount and all its binds); cb returns nonzero to
 * stop. Returns how many matched, or negative errno. */
int mnt_foreach_source(const char *source, const char *fstype,
		       int (*cb)(void *ud, const char *target, const struct mnt_info *mi), void *ud);

/* Lazily detach the top mount on target. Only for FUSE mounts whose server
 * died (they hold no data of their own): every other unmount here is
 * strict. Not mounted is 0. Returns 0 or -errno. */
int mnt_detach(const char *target);

#endif
