/* Directory walking shared by the rescue of stranded writes
 * (cache_rescue.c: stash; cache_restore.c: restore): directories opened
 * without following symlinks, and chains of them created on first use. */
#ifndef LCW_RESCUE_TREE_H
#define LCW_RESCUE_TREE_H

#include <fcntl.h>
#include <stddef.h>
#include <sys/types.h>

#define RT_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define RT_META_MAX_BYTES (1u << 20)
#define RT_MAX_DEPTH 64
#define RT_MAX_ENTRIES (1ul << 22)

/* A directory below another, made (with mode) and opened on first use. */
struct ldir {
	struct ldir *up;
	const char *name;
	int fd; /* -1 until opened */
	int owned;
	mode_t mode; /* 0: 0700 */
};

/* The directory's descriptor, making it (and those above it) if needed;
 * -1 with errno. */
int ldir_open(struct ldir *d);
void ldir_close(struct ldir *d);

/* dir/name as a directory, never following a symlink; -1 with errno
 * (ENOENT when it is not there, or when dir is -1). */
int rt_sub_open(int dir, const char *name);

/* cache/first/second as a directory; -1 with the errno of the step that
 * failed. *topfd, if given, keeps cache/first open (-1 when it failed). */
int rt_open_two(int cache_dirfd, const char *first, const char *second, int *topfd);

/* Read dir/name (a regular file, not followed) into buf (cap bytes, NUL
 * added at buf[*len]: buf holds cap + 1). 0, or -1 with errno. */
int rt_read_small(int dir, const char *name, char *buf, size_t cap, size_t *len);

/* How many regular files below dir (consumed), at most RT_MAX_DEPTH deep;
 * *bad set when some of it could not be read (never undercount quietly). */
unsigned long rt_count_files(int dir, int depth, unsigned long *entries, int *bad);

/* Is this a usable rclone remote name (one path component)? */
int rt_vfs_ok(const char *vfs);

/* Format a message into err (errlen bytes; either may be empty) and return
 * -1: the one error path of both walks. */
int rt_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
