/* How many files of a volume rclone's cache still has to upload, read from
 * its VFS metadata (rclone_conf.h, "upload drain"): unstage unmounts only
 * when this says 0. Read-only, bounded (depth, entries, file size) and
 * never following symlinks; whatever cannot be read counts as dirty, so an
 * error errs towards waiting. */
#define _GNU_SOURCE
#include "rclone_conf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "volparams.h"

#define META_MAX_BYTES (1u << 20)
#define META_MAX_DEPTH 64
#define META_MAX_ENTRIES (1ul << 22)

struct walk {
	unsigned long dirty, entries;
	char *err;
	size_t errlen;
};

/* 1 dirty (or unreadable), 0 clean. */
static int
meta_file_dirty(int dirfd, const char *name)
{
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd, dirty = 1;
	json_object *o, *v;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : 1; /* gone: uploaded and cleaned */
	buf = malloc(META_MAX_BYTES + 1);
	if (buf == NULL) {
		close(fd);
		return 1;
	}
	while (got < META_MAX_BYTES && (n = read(fd, buf + got, META_MAX_BYTES - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	if (got < META_MAX_BYTES && (o = json_tokener_parse(buf)) != NULL) {
		if (json_object_is_type(o, json_type_object))
			dirty = json_object_object_get_ex(o, "Dirty", &v) &&
				json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
		json_object_put(o);
	}
	free(buf);
	return dirty;
}

static int
meta_walk(int dirfd, int depth, struct walk *w)
{
	DIR *d;
	struct dirent *e;
	int rc = 0, fd;

	if (depth > META_MAX_DEPTH) {
		errfmt(w->err, w->errlen, "VFS metadata tree too deep");
		close(dirfd);
		return -1;
	}
	d = fdopendir(dirfd);
	if (d == NULL) {
		errfmt(w->err, w->errlen, "cannot read VFS metadata: %s", strerror(errno));
		close(dirfd);
		return -1;
	}
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (++w->entries > META_MAX_ENTRIES) {
			errfmt(w->err, w->errlen, "too many VFS metadata entries");
			rc = -1;
			break;
		}
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;
			errfmt(w->err, w->errlen, "cannot stat VFS metadata: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				if (errno == ENOENT)
					continue;
				errfmt(w->err, w->errlen, "cannot open VFS metadata: %s", strerror(errno));
				rc = -1;
				break;
			}
			rc = meta_walk(fd, depth + 1, w);
		} else if (S_ISREG(st.st_mode)) {
			w->dirty += (unsigned long)meta_file_dirty(dirfd, e->d_name);
		}
	}
	if (rc == 0 && e == NULL && errno != 0) {
		errfmt(w->err, w->errlen, "cannot read VFS metadata: %s", strerror(errno));
		rc = -1;
	}
	closedir(d);
	return rc;
}

int
rclone_cache_dirty(int cache_dirfd, const char *vfs_name, unsigned long *dirty, char *err,
		   size_t errlen)
{
	struct walk w = {.err = err, .errlen = errlen};
	int meta, fd, rc;

	*dirty = 0;
	if (vfs_name == NULL || volid_valid(vfs_name) != 0) {
		errfmt(err, errlen, "invalid rclone remote name");
		return -1;
	}
	meta = openat(cache_dirfd, "vfsMeta", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (meta < 0) {
		if (errno == ENOENT)
			return 0;
		errfmt(err, errlen, "cannot open vfsMeta: %s", strerror(errno));
		return -1;
	}
	fd = openat(meta, vfs_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(meta);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		errfmt(err, errlen, "cannot open vfsMeta/%s: %s", vfs_name, strerror(errno));
		return -1;
	}
	rc = meta_walk(fd, 0, &w);
	*dirty = w.dirty;
	return rc;
}
