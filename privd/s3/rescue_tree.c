/* Directory helpers of the stranded-write rescue (see rescue_tree.h). */
#define _GNU_SOURCE
#include "rescue_tree.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
ldir_open(struct ldir *d)
{
	int p;

	if (d->fd >= 0)
		return d->fd;
	if (d->up == NULL || (p = ldir_open(d->up)) < 0)
		return -1;
	if (mkdirat(p, d->name, d->mode ? d->mode : 0700) != 0 && errno != EEXIST)
		return -1;
	d->fd = openat(p, d->name, RT_DIR_FLAGS);
	d->owned = d->fd >= 0;
	return d->fd;
}

void
ldir_close(struct ldir *d)
{
	if (d->owned && d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	d->owned = 0;
}

int
rt_sub_open(int dir, const char *name)
{
	return dir < 0 ? (errno = ENOENT, -1) : openat(dir, name, RT_DIR_FLAGS);
}

int
rt_open_two(int cache_dirfd, const char *first, const char *second, int *topfd)
{
	int t = openat(cache_dirfd, first, RT_DIR_FLAGS), fd = -1, keep;

	if (topfd)
		*topfd = t;
	if (t < 0)
		return -1;
	fd = openat(t, second, RT_DIR_FLAGS);
	keep = errno;
	if (topfd == NULL)
		close(t);
	errno = keep;
	return fd;
}

int
rt_read_small(int dir, const char *name, char *buf, size_t cap, size_t *len)
{
	size_t got = 0;
	ssize_t n;
	struct stat st;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	while (got < cap && (n = read(fd, buf + got, cap - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return 0;
}

int
rt_vfs_ok(const char *vfs)
{
	return vfs && vfs[0] && vfs[0] != '.' && strchr(vfs, '/') == NULL;
}

unsigned long
rt_count_files(int dir, int depth, unsigned long *entries, int *bad)
{
	DIR *d;
	struct dirent *e = NULL;
	unsigned long n = 0;

	if (depth > RT_MAX_DEPTH || (d = fdopendir(dir)) == NULL) {
		close(dir);
		*bad = 1;
		return 0;
	}
	while (!*bad && (errno = 0, e = readdir(d)) != NULL && ++*entries <= RT_MAX_ENTRIES) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			*bad = 1;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = rt_sub_open(dirfd(d), e->d_name);
			if (sub < 0)
				*bad = 1;
			else
				n += rt_count_files(sub, depth + 1, entries, bad);
		} else if (S_ISREG(st.st_mode)) {
			n++;
		}
	}
	/* an unreadable entry may hide a file: never undercount quietly */
	if (*entries > RT_MAX_ENTRIES || (e == NULL && errno != 0))
		*bad = 1;
	closedir(d);
	return n;
}

int
rt_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}
