/* Loop devices for LUKS backing files (kernel loop ioctls via /dev/loop-control
 * and sysfs; no losetup). */
#ifndef LCW_LOOPDEV_H
#define LCW_LOOPDEV_H

#include <stddef.h>

/* Attach backing_file (opened read-write, O_CLOEXEC) to a free loop device,
 * with direct I/O when the backing file system supports it (falls back to
 * buffered I/O and reports which one it got in *direct_io). No autoclear:
 * privd detaches explicitly. Writes "/dev/loopN" to dev. Returns 0 or a
 * negative errno with a message in err. */
int loop_attach(const char *backing_file, char *dev, size_t devlen, int *direct_io,
		char *err, size_t errlen);

/* Find the loop device whose backing file is exactly this path (as the
 * kernel reports it in /sys/block/loopN/loop/backing_file, and with the
 * same device and inode). The device and inode decide (the sysfs name can
 * end in " (deleted)", be truncated, or be another hard link of the same
 * file, which is logged as a warning but still a match: two loop devices
 * on one file would corrupt it). A path that does not exist is 0. Returns
 * 1 and fills dev (the lowest match; more are logged), 0 if none, negative
 * errno on error. */
int loop_find_by_file(const char *backing_file, char *dev, size_t devlen);

/* The backing file of a loop device (sysfs). Returns 0 or negative errno. */
int loop_backing_file(const char *dev, char *file, size_t len);

/* Re-read the backing file's size (LOOP_SET_CAPACITY). 0 or negative errno. */
int loop_refresh_capacity(const char *dev);

/* Size of a block device in bytes (BLKGETSIZE64). 0 or negative errno. */
int blockdev_size(const char *dev, unsigned long long *bytes);

/* Detach (LOOP_CLR_FD). Detaching a device that is not attached is 0.
 * Returns 0 or negative errno (EBUSY while something holds it open).
 * "Holds" means a mount or a dm mapping (an exclusive open fails): current
 * kernels never fail LOOP_CLR_FD itself, they only defer the detach to the
 * last close, so a transient opener such as udev's blkid delays it briefly
 * (waited for up to 1 s) rather than failing it. */
int loop_detach(const char *dev);

#endif
