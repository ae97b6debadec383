/* Loop devices through the kernel's ioctls and sysfs (no losetup). See
 * loopdev.h. */
#define _GNU_SOURCE
#include "loopdev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* LOOP_CTL_GET_FREE hands the same free device to every caller until one
 * of them binds it; the losers see EBUSY and ask again. */
#define ATTACH_TRIES 8

/* "/dev/loopN" -> N, or -EINVAL for anything else: the functions taking a
 * device name only ever touch loop devices. */
static int
loop_index(const char *dev)
{
	const char *p = dev;
	char *end;

	if (!dev || strncmp(dev, "/dev/loop", 9) != 0)
		return -EINVAL;
	p += 9;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	long n = strtol(p, &end, 10);
	if (errno || *end || n > 1 << 20)
		return -EINVAL;
	return (int)n;
}

static int
read_sysfs_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	if ((size_t)n == len)
		return -ENAMETOOLONG;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return 0;
}

/* The kernel encodes lo_device with new_encode_dev(), which differs from
 * glibc's dev_t layout for large major/minor numbers. */
static int
same_dev(unsigned long long lo_device, dev_t st_dev)
{
	unsigned int maj = (unsigned int)((lo_device & 0xfff00) >> 8);
	unsigned int min = (unsigned int)((lo_device & 0xff) | ((lo_device >> 12) & 0xfff00));

	return maj == major(st_dev) && min == minor(st_dev);
}

/* Status of loop device N; -ENXIO when it is not bound. */
static int
loop_status(int idx, struct loop_info64 *info)
{
	char dev[32];

	snprintf(dev, sizeof(dev), "/dev/loop%d", idx);
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = ioctl(fd, LOOP_GET_STATUS64, info) ? -errno : 0;
	close(fd);
	return rc;
}

/* Binds the already opened loop device to ffd. LOOP_CONFIGURE (5.8+) does
 * it atomically; older kernels get LOOP_SET_FD + LOOP_SET_STATUS64. Returns
 * 0, -EBUSY when another process won the device, or another -errno. */
static int
bind_fd(int lfd, int ffd, const char *name, int want_dio)
{
	struct loop_config cfg;
	size_t n = strlen(name);

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (unsigned int)ffd;
	/* lo_file_name is informational only (64 bytes, may be truncated);
	 * identity comes from sysfs and lo_device/lo_inode. */
	if (n >= LO_NAME_SIZE)
		n = LO_NAME_SIZE - 1;
	memcpy(cfg.info.lo_file_name, name, n);
	if (want_dio) {
		cfg.info.lo_flags = LO_FLAGS_DIRECT_IO;
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
			return 0;
		/* EINVAL: direct I/O refused by the backing fs on kernels
		 * that check it here, or no LOOP_CONFIGURE at all (old
		 * kernels answer unknown loop ioctls with EINVAL). */
		if (errno != EINVAL && errno != ENOTTY)
			return -errno;
		cfg.info.lo_flags = 0;
	}
	if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTTY)
		return -errno;

	if (ioctl(lfd, LOOP_SET_FD, ffd))
		return -errno;
	if (ioctl(lfd, LOOP_SET_STATUS64, &cfg.info)) {
		int e = -errno;
		ioctl(lfd, LOOP_CLR_FD, 0);
		return e;
	}
	/* Buffered I/O when refused; the caller reads back what it got. */
	if (want_dio)
		(void)ioctl(lfd, LOOP_SET_DIRECT_IO, 1UL);
	return 0;
}

/* Some stacks accept direct I/O at bind time and then fail every read: an
 * overlay over tmpfs on kernels whose tmpfs has no O_DIRECT (overlayfs
 * claims direct I/O for any lower file system), the shape of many CI
 * containers and test nodes. Read the first block the way a probe will (an
 * O_DIRECT read bypasses the loop device's page cache); if it fails while
 * direct I/O is on, switch the device to buffered I/O, as losetup does, and
 * read again. 0 or a negative errno. */
static int
first_read_works(int lfd)
{
	void *buf = NULL;
	int rc = 0;

	if (posix_memalign(&buf, 4096, 4096))
		return -ENOMEM;
	if (pread(lfd, buf, 4096, 0) < 0)
		rc = -errno;
	free(buf);
	return rc;
}

static int
settle_direct_io(const char *dev, const char *name)
{
	struct loop_info64 info;
	int fd, rc;

	if (loop_status(loop_index(dev), &info) || !(info.lo_flags & LO_FLAGS_DIRECT_IO))
		return 0;
	fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = first_read_works(fd);
	if (rc) {
		log_warn("%s: direct I/O on %s fails its first read (%s); using buffered I/O", dev,
			 name, strerror(-rc));
		rc = ioctl(fd, LOOP_SET_DIRECT_IO, 0UL) ? -errno : first_read_works(fd);
	}
	close(fd);
	return rc;
}

/* Takes a free loop device and binds ffd to it; fills dev. */
static int
attach_free(int ctl, int ffd, const char *name, char *dev, size_t devlen, char *err,
	    size_t errlen)
{
	int rc = -EBUSY;

	for (int t = 0; t < ATTACH_TRIES && rc == -EBUSY; t++) {
		int idx = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (idx < 0) {
			rc = -errno;
			snprintf(err, errlen, "no free loop device: %s", strerror(errno));
			return rc;
		}
		snprintf(dev, devlen, "/dev/loop%d", idx);
		int lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot open %s: %s", dev, strerror(errno));
			return rc;
		}
		rc = bind_fd(lfd, ffd, name, 1);
		close(lfd);
	}
	if (rc) {
		snprintf(err, errlen, "cannot attach %s to %s: %s", name, dev, strerror(-rc));
		return rc;
	}
	if ((rc = settle_direct_io(dev, name)) != 0) {
		snprintf(err, errlen, "%s on %s cannot be read: %s", name, dev, strerror(-rc));
		int lfd = open(dev, O_RDONLY | O_CLOEXEC);
		if (lfd >= 0) {
			ioctl(lfd, LOOP_CLR_FD, 0);
			close(lfd);
		}
	}
	return rc;
}

int
loop_attach(const char *backing_file, char *dev, size_t devlen, int *direct_io,
	    char *err, size_t errlen)
{
	struct loop_info64 info;
	struct stat st;
	int ffd, ctl, rc;

	*direct_io = 0;
	/* O_NOFOLLOW: backing files are privd's own; a symlink there is not. */
	ffd = open(backing_file, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (ffd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open backing file %s: %s", backing_file,
			 strerror(errno));
		return rc;
	}
	if (fstat(ffd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "backing file %s is not a regular file", backing_file);
		close(ffd);
		return -EINVAL;
	}
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open /dev/loop-control: %s", strerror(errno));
		close(ffd);
		return rc;
	}
	rc = attach_free(ctl, ffd, backing_file, dev, devlen, err, errlen);
	close(ctl);
	close(ffd); /* the loop device holds its own reference */
	if (rc)
		return rc;
	/* Kernels may silently keep buffered I/O instead of failing: ask. */
	if (loop_status(loop_index(dev), &info) == 0)
		*direct_io = (info.lo_flags & LO_FLAGS_DIRECT_IO) != 0;
	log_info("%s: attached %s with %s I/O", dev, backing_file,
		 *direct_io ? "direct" : "buffered (the backing file system refuses direct)");
	return 0;
}

/* Does loop device idx hold the file with this device and inode? */
static int
holds_inode(int idx, const struct stat *st)
{
	struct loop_info64 info;

	if (loop_status(idx, &info))
		return 0; /* detached meanwhile, or not a loop node we can open */
	return same_dev(info.lo_device, st->st_dev) && info.lo_inode == st->st_ino;
}

int
loop_find_by_file(const char *backing_file, char *dev, size_t devlen)
{
	struct stat st;
	struct dirent *de;
	int found = 0;

	if (stat(backing_file, &st))
		return errno == ENOENT ? 0 : -errno;
	DIR *d = opendir("/sys/block");
	if (!d)
		return -errno;
	/* The inode decides: the sysfs path may end in " (deleted)", be cut at
	 * PAGE_SIZE, or name another hard link. Two loop devices on one file
	 * would corrupt it, so say so loudly. */
	while ((de = readdir(d)) != NULL) {
		char path[300], file[4096];
		int idx;

		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		if ((idx = loop_index(path)) < 0)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
		int rc = read_sysfs_line(path, file, sizeof(file));
		if (rc == -ENOENT)
			continue; /* not bound */
		if (rc)
			snprintf(file, sizeof(file), "?");
		if (!holds_inode(idx, &st))
			continue;
		if (strcmp(file, backing_file) != 0)
			log_warn("loop%d holds %s under the name \"%s\"", idx, backing_file, file);
		if (found++ == 0)
			snprintf(dev, devlen, "/dev/loop%d", idx);
		else
			log_warn("%s is attached to more than one loop device (also loop%d)",
				 backing_file, idx);
	}
	closedir(d);
	return found > 0;
}

int
loop_backing_file(const char *dev, char *file, size_t len)
{
	char path[64];
	int idx = loop_index(dev);

	if (idx < 0)
		return idx;
	snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", idx);
	int rc = read_sysfs_line(path, file, len);
	/* The loop/ directory exists only while the device is bound. */
	return rc == -ENOENT ? -ENXIO : rc;
}

int
loop_refresh_capacity(const char *dev)
{
	if (loop_index(dev) < 0)
		return -EINVAL;
	/* Opened for writing so the ioctl does not depend on CAP_SYS_ADMIN. */
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = ioctl(fd, LOOP_SET_CAPACITY, 0) ? -errno : 0;
	close(fd);
	return rc;
}

int
blockdev_size(const char *dev, unsigned long long *bytes)
{
	uint64_t sz;
	int fd = open(dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	int rc = ioctl(fd, BLKGETSIZE64, &sz) ? -errno : 0;
	close(fd);
	if (rc == 0)
		*bytes = sz;
	return rc;
}

/* Wait (briefly) until sysfs shows idx unbound: the kernel finishes a
 * detach at the last close, and udev's probes may still hold it open. */
static int
wait_unbound(int idx)
{
	char path[64];
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	snprintf(path, sizeof(path), "/sys/block/loop%d/loop", idx);
	for (int i = 0; i < 100; i++) {
		if (access(path, F_OK) && errno == ENOENT)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

int
loop_detach(const char *dev)
{
	int idx = loop_index(dev);

	if (idx < 0)
		return idx;
	/* Since Linux 5.x LOOP_CLR_FD never fails on an open device, it only
	 * marks it autoclear. An exclusive open fails with EBUSY while a
	 * mount or a dm mapping holds the device, so that case is refused
	 * instead of leaving a detach pending behind the holder's back. */
	int fd = open(dev, O_RDONLY | O_CLOEXEC | O_EXCL);
	if (fd < 0)
		return errno == ENOENT || errno == ENXIO ? 0 : -errno;
	int rc = ioctl(fd, LOOP_CLR_FD, 0) ? -errno : 0;
	close(fd);
	if (rc == -ENXIO)
		return 0; /* was not bound */
	if (rc == 0 && !wait_unbound(idx))
		log_info("%s: detach pending until its last opener closes it", dev);
	return rc;
}
