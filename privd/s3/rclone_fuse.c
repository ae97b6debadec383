/* See rclone_fuse.h. */
#define _GNU_SOURCE
#include "rclone_fuse.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

int
rclone_fuse_data(int fd, uid_t uid, gid_t gid, char *out, size_t outlen)
{
	/* rootmode: the root is a directory (S_IFDIR, octal 40000). */
	int n = snprintf(out, outlen, "fd=%d,rootmode=40000,user_id=%u,group_id=%u,allow_other",
			 fd, (unsigned)uid, (unsigned)gid);
	return fd >= 0 && n > 0 && (size_t)n < outlen ? 0 : -1;
}

int
rclone_fuse_mount(const char *mountpoint, const char *vfs_name, bool read_only, uid_t uid,
		  gid_t gid)
{
	char data[128], source[128];
	int fd, e;

	if (snprintf(source, sizeof(source), "%s:", vfs_name) >= (int)sizeof(source))
		return -ENAMETOOLONG;
	fd = open("/dev/fuse", O_RDWR);
	if (fd < 0)
		return -errno;
	if (rclone_fuse_data(fd, uid, gid, data, sizeof(data))) {
		close(fd);
		return -EINVAL;
	}
	if (mount(source, mountpoint, RCLONE_FUSE_TYPE,
		  MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0), data)) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int
rclone_drop_privileges(void)
{
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_apply(CAPNG_SELECT_BOTH))
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return 0;
}
