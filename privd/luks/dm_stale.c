#define _GNU_SOURCE
#include "dm_stale.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void
dm_init(struct dm_ioctl *io, const char *name)
{
	memset(io, 0, sizeof(*io));
	io->version[0] = DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = sizeof(*io);
	io->data_start = sizeof(*io);
	strncpy(io->name, name, sizeof(io->name) - 1);
}

int
dm_remove_if_tableless(const char *name)
{
	struct dm_ioctl io;
	int fd, rc;

	if (strlen(name) >= DM_NAME_LEN)
		return -ENAMETOOLONG;
	fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dm_init(&io, name);
	if (ioctl(fd, DM_DEV_STATUS, &io) < 0) {
		rc = errno == ENXIO ? 0 : -errno; /* ENXIO: no such device */
		goto out;
	}
	if (io.flags & DM_ACTIVE_PRESENT_FLAG) {
		rc = 0; /* a real mapping: not ours to judge here */
		goto out;
	}
	if (io.open_count > 0) {
		rc = -EBUSY;
		goto out;
	}
	dm_init(&io, name);
	rc = ioctl(fd, DM_DEV_REMOVE, &io) < 0 ? -errno : 1;
out:
	close(fd);
	return rc;
}
