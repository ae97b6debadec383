/* Ownership records of backing files (see vol_owner.h). */
#define _GNU_SOURCE
#include "vol_owner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
vol_legacy_shape(const struct stat *dir, const struct stat *file, uid_t uid, char *why,
		 size_t whylen)
{
	if (!S_ISDIR(dir->st_mode)) {
		snprintf(why, whylen, "the volume directory is not a directory");
		return -1;
	}
	if (dir->st_uid != uid || (dir->st_mode & 022)) {
		snprintf(why, whylen, "the volume directory is not root's alone (uid %u, mode %04o)",
			 (unsigned)dir->st_uid, (unsigned)(dir->st_mode & 07777));
		return -1;
	}
	if (!S_ISREG(file->st_mode) || file->st_uid != uid || (file->st_mode & 022) ||
	    file->st_nlink != 1) {
		snprintf(why, whylen,
			 "the backing file is not root's alone (uid %u, mode %04o, %u links)",
			 (unsigned)file->st_uid, (unsigned)(file->st_mode & 07777),
			 (unsigned)file->st_nlink);
		return -1;
	}
	return 0;
}

/* The record directory, created root-only if missing; refused if anyone
 * but root could write it. fd or -errno. */
static int
owner_dir(const char *local_root, int create)
{
	struct stat st;
	int rfd = open(local_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW), fd;

	if (rfd < 0)
		return -errno;
	if (create && mkdirat(rfd, VOL_OWNER_DIR, 0700) && errno != EEXIST) {
		int e = errno;
		close(rfd);
		return -e;
	}
	fd = openat(rfd, VOL_OWNER_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	int e = errno;
	close(rfd);
	if (fd < 0)
		return -e;
	if (fstat(fd, &st) || st.st_uid != 0 || (st.st_mode & 077)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* The inode recorded for id: 1 and *ino, 0 no record, -errno. */
static int
read_record(const char *local_root, const char *id, uint64_t *ino)
{
	char buf[32];
	int dfd = owner_dir(local_root, 0), fd;
	ssize_t n;

	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int e = errno;
	close(dfd);
	if (fd < 0)
		return e == ENOENT ? 0 : -e;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end != '\n' && *end != '\0'))
		return -EIO;
	*ino = v;
	return 1;
}

int
vol_owner_check(const char *local_root, const struct vol *v, int legacy_ok, char *why,
		size_t whylen)
{
	struct stat ds, fs;
	uint64_t ino = 0;
	int rc;

	if (lstat(v->dir, &ds) || lstat(v->file, &fs)) {
		snprintf(why, whylen, "cannot inspect %s: %s", v->file, strerror(errno));
		return VOL_FOREIGN;
	}
	rc = read_record(local_root, v->id, &ino);
	if (rc < 0) {
		snprintf(why, whylen, "cannot read the ownership record of %s: %s", v->id,
			 strerror(-rc));
		return VOL_FOREIGN;
	}
	if (rc == 1) {
		/* our own file, unless it was swapped for another since */
		if (!S_ISREG(fs.st_mode) || !S_ISDIR(ds.st_mode) || (uint64_t)fs.st_ino != ino) {
			snprintf(why, whylen, "%s is not the file this driver created for the volume",
				 v->file);
			return VOL_FOREIGN;
		}
		return VOL_OURS;
	}
	if (vol_legacy_shape(&ds, &fs, 0, why, whylen))
		return VOL_FOREIGN;
	if (!legacy_ok) {
		snprintf(why, whylen, "%s was not created by this driver (--legacy-volumes=false)",
			 v->file);
		return VOL_FOREIGN;
	}
	return VOL_LEGACY;
}

int
vol_owner_mark(const char *local_root, const struct vol *v)
{
	struct stat fs;
	char buf[32];
	int dfd, fd, rc = 0;

	if (lstat(v->file, &fs))
		return -errno;
	if ((dfd = owner_dir(local_root, 1)) < 0)
		return dfd;
	fd = openat(dfd, v->id, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
	} else {
		int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", (uint64_t)fs.st_ino);
		errno = 0;
		if (write(fd, buf, (size_t)n) != n || fsync(fd))
			rc = errno ? -errno : -EIO;
		close(fd);
	}
	close(dfd);
	return rc;
}

void
vol_owner_forget(const char *local_root, const char *id)
{
	int dfd = owner_dir(local_root, 0);

	if (dfd < 0)
		return;
	unlinkat(dfd, id, 0);
	close(dfd);
}
