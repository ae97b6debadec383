/* A forced unstage's writes, set aside. When an operator forces the
 * unstage of a volume whose writes are not all uploaded (the annotation
 * in privd/k8s/pv_claim.h), rclone's cache of the volume is moved, whole
 * and by rename, from where rclone looks for it to
 *     <cache>/lcw-forced/<vfs>.<unix time>/{vfs,vfsMeta,lcw-rescue}
 * (each the former <cache>/<that>/<vfs>, so vfs/ holds the volume's files)
 * on the same encrypted cache volume. There nothing deletes it, no rclone
 * of a later stage finds it (so it is never uploaded over data written
 * since, on this node or another), and an operator recovers it with stock
 * rclone (README "Writes left behind by a forced unstage"). Safe: renames
 * inside the cache volume, through descriptors opened without following
 * symlinks; the names derive from the validated volume id. */
#define _GNU_SOURCE
#include "s3_volume.h"
#include "s3_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache_rescue.h"
#include "vfs_cache.h"

#define FORCED_DIR "lcw-forced"

static int
subdir(int parent, const char *name, int create)
{
	if (create && mkdirat(parent, name, 0700) && errno != EEXIST)
		return -1;
	return openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

int
s3v_cache_set_aside(const char *vfs, char *where, size_t wherelen)
{
	const char *sub[] = { "vfs", "vfsMeta", RESCUE_DIR };
	char name[IPC_VFSNAME_MAX + 32];
	int cfd = vfs_cache_dirfd(), top = -1, dst = -1, rc = 0;

	where[0] = '\0';
	if (cfd < 0)
		return -ENODEV;
	if ((top = subdir(cfd, FORCED_DIR, 1)) < 0)
		return -errno;
	/* a second forced unstage of the same volume in the same second gets
	 * its own directory */
	for (int i = 0; i < 100 && dst < 0; i++) {
		snprintf(name, sizeof(name), "%s.%lld%s%.0d", vfs, (long long)time(NULL),
			 i ? "-" : "", i);
		if (mkdirat(top, name, 0700) == 0)
			dst = openat(top, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		else if (errno != EEXIST)
			break;
	}
	if (dst < 0) {
		rc = -errno;
		close(top);
		return rc ? rc : -EEXIST;
	}
	for (int i = 0; i < 3 && rc == 0; i++) {
		int s = subdir(cfd, sub[i], 0);
		if (s < 0)
			continue; /* nothing of that kind in the cache */
		if (renameat(s, vfs, dst, sub[i]) && errno != ENOENT)
			rc = -errno;
		else
			(void)fsync(s);
		close(s);
	}
	(void)fsync(dst);
	(void)fsync(top);
	snprintf(where, wherelen, "%s/%s", FORCED_DIR, name);
	close(dst);
	close(top);
	return rc;
}
