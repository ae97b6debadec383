/* rclone without privileges: the FUSE mount is made before rclone runs,
 * and rclone only serves it.
 *
 * Mounting a FUSE file system needs CAP_SYS_ADMIN (or a setuid
 * fusermount3); serving one needs nothing but the /dev/fuse descriptor.
 * So the spawner opens /dev/fuse, mounts it at the mount point itself
 * (mount(2) with "fd=N"), and execs `rclone mount2` with the mount point
 * "/dev/fd/N": rclone's go-fuse backend then takes the already-mounted
 * descriptor instead of calling fusermount3 (checked with Debian's rclone
 * 1.60; its bazil-based `rclone mount` does not understand /dev/fd/N). The
 * exec'd rclone holds no capability in any set. */
#ifndef LCW_RCLONE_FUSE_H
#define LCW_RCLONE_FUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RCLONE_FUSE_TYPE "fuse.rclone"

/* Pure: the mount(2) data string for a FUSE mount served through fd, owned
 * by uid/gid, open to every user (pods run as other ids; rclone's --uid,
 * --gid and --umask decide what they may do). 0, or -1 if it does not
 * fit. */
int rclone_fuse_data(int fd, uid_t uid, gid_t gid, char *out, size_t outlen);

/* Open /dev/fuse and mount it at mountpoint as fuse.rclone, source
 * "<vfs_name>:" (what privd's mount checks look for), nosuid and nodev,
 * read-only if asked, owned by uid/gid. Returns the descriptor (not
 * close-on-exec), or -errno; nothing stays mounted on failure. Needs
 * CAP_SYS_ADMIN. */
int rclone_fuse_mount(const char *mountpoint, const char *vfs_name, bool read_only, uid_t uid,
		      gid_t gid);

/* In the child, just before exec: no capability in any set (effective,
 * permitted, inheritable, ambient, bounding) and no_new_privs, so rclone
 * can never regain one. 0 or -1. */
int rclone_drop_privileges(void);

#endif
