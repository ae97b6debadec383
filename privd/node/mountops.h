/* Mounts. Kubelet paths come only as descriptors (kpath_open_dir: resolved
 * once, symlink-free, below the kubelet root) and every operation on them
 * acts on that descriptor: mounts and binds onto it, unmounts checked by
 * its mount id. Text targets are privd's own configured directories (the
 * VFS cache mount) and mount-table lookups that act on nothing. */
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

/* Is privd's own directory target a mount point? If several mounts are
 * stacked, the top one is described. Returns 1 and fills *mi, 0 if not
 * mounted, negative errno on error. */
int mnt_lookup(const char *target, struct mnt_info *mi);

/* Mount a block device on privd's own directory target, with the given fs type and flags (MS_NODEV|MS_NOSUID
 * are always added; options in data cannot clear them). data is passed to
 * libmount as an option string. No fstab, helpers, mtab/utab or silent
 * read-only retry; a source that is not a block device is refused with
 * -ENOTBLK (libmount would set up a loop device for a file). Returns 0 or
 * negative errno with a message. */
int mnt_mount_device(const char *dev, const char *target, const char *fstype,
		     unsigned long extra_flags, const char *data, char *err, size_t errlen);

/* Count the mounts of dev. For a block device the match is by device
 * number (mountinfo's major:minor), so bind mounts of its filesystem count
 * too, whatever name it was mounted by (/dev/mapper/x or /dev/dm-3); any
 * other source (e.g. a FUSE mount's name) is compared as a string.
 * Returns count >= 0 or negative errno. */
int mnt_count_by_source(const char *dev);

/* Call cb for every mount with exactly this source and fstype (e.g. a
 * FUSE volume's staging mount and all its binds); cb returns nonzero to
 * stop. Returns how many matched, or negative errno. */
int mnt_foreach_source(const char *source, const char *fstype,
		       int (*cb)(void *ud, const char *target, const struct mnt_info *mi), void *ud);

/* ---- descriptors only (kubelet paths) ------------------------------------
 *
 * Kubelet paths are resolved once, symlink-free, below the kubelet root
 * (kpath_open_dir, which lands on the top mount at the leaf); everything
 * after that acts on that descriptor, so a directory swapped for a symlink
 * after the check changes nothing. */

/* Mount id (mountinfo's first field) of the mount fd is on, asked without
 * the file system's help (a FUSE mount whose server died answers too).
 * 0 or negative errno. */
int mnt_id_of(int fd, unsigned long long *id);

/* Is fd the root of a mount (its mount id differs from its parent's)?
 * 1 and *mi filled from mountinfo by that id, 0 if not, negative errno. */
int mnt_lookup_fd(int fd, struct mnt_info *mi, unsigned long long *id);

/* Mount a block device on the directory fd names ("/proc/self/fd/N"), the
 * same rules as mnt_mount_device; shown is the path for messages. */
int mnt_mount_device_fd(const char *dev, int tfd, const char *shown, const char *fstype,
			unsigned long extra_flags, const char *data, char *err, size_t errlen);

/* Bind the mount sfd is the root of onto the directory tfd names, as one
 * detached clone (open_tree) that gets nodev,nosuid (and read-only, and
 * noexec, when asked) before it is attached (move_mount): the bind never
 * exists without them. 0 or negative errno with a message. */
int mnt_bind_fd(int sfd, int tfd, int readonly, int noexec, const char *shown, char *err,
		size_t errlen);

/* Unmount, strictly (EBUSY if in use), the top mount at leaf in the
 * directory pfd, only if its mount id is still id; a symlinked leaf is
 * never followed. Not a mount point any more is 0; another mount there is
 * -ESTALE. (An fd on the mount itself would pin it: umount2 of such a
 * magic link is EBUSY, hence the parent and leaf.) 0 or negative errno. */
int mnt_unmount_at(int pfd, const char *leaf, unsigned long long id);

/* Lazily detach exactly the mount fd is the root of (dead FUSE mounts
 * only: they hold no data of their own). 0 or negative errno. */
int mnt_detach_fd(int fd);

#endif
