/* See rm_tree.h. */
#define _GNU_SOURCE
#include "rm_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEPTH 64

static int
rm_at(int parent, const char *name, int depth)
{
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;

	if (depth > MAX_DEPTH)
		return errno = ELOOP, -1;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	/* past an entry that cannot go, on to the rest: as much goes as can */
	int first = 0;
	while ((errno = 0, e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (rm_at(dirfd(d), e->d_name, depth + 1) != 0 && first == 0)
			first = errno ? errno : EIO;
	}
	if (errno != 0 && first == 0)
		first = errno;
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT && first == 0)
		first = errno;
	if (first)
		rc = -1, errno = first;
	return rc;
}

int
rm_tree(int parent, const char *name)
{
	return rm_at(parent, name, 0);
}
