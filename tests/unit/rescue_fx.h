/* The scratch cache, mount and helpers shared by the rescue unit tests
 * (test_cache_rescue.c: stash and bookkeeping; test_cache_restore.c:
 * write-back and conflicts). Everything under a mkdtemp'd directory in
 * $TMPDIR: no root, no rclone. */
#ifndef LCW_TEST_RESCUE_FX_H
#define LCW_TEST_RESCUE_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Metadata as rclone 1.60 writes it: before the first upload, after one,
 * and once the upload is done. */
#define META_NEW                                                                         \
	"{\"ModTime\":\"2024-05-06T07:08:09.123456789Z\",\"ATime\":\"2024-05-06T07:08:09Z\"," \
	"\"Size\":5,\"Rs\":[{\"Pos\":0,\"Size\":5}],\"Fingerprint\":\"\",\"Dirty\":true}"
#define META_UPLOADED                                                                    \
	"{\"ModTime\":\"2024-05-06T07:08:09Z\",\"ATime\":\"2024-05-06T07:08:09Z\","          \
	"\"Size\":6,\"Rs\":[{\"Pos\":0,\"Size\":2}],"                                         \
	"\"Fingerprint\":\"6,2024-05-06 07:08:09 +0000 UTC,5d41402abc4b2a76\",\"Dirty\":true}"
#define META_CLEAN                                                                       \
	"{\"ModTime\":\"2024-05-06T07:08:09Z\",\"ATime\":\"2024-05-06T07:08:09Z\","          \
	"\"Size\":5,\"Rs\":[{\"Pos\":0,\"Size\":5}],\"Fingerprint\":\"\",\"Dirty\":false}"

/* ---- a scratch cache and mount --------------------------------------------- */

struct fx {
	char top[256]; /* mkdtemp'd: cache/, mnt/, outside/ */
	int cache, mnt;
	int fds; /* open descriptors once set up: none may leak */
};

static inline int
nfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* top/rel, in one of a few rotating buffers. */
static inline const char *
P(const struct fx *f, const char *rel)
{
	static char bufs[8][512];
	static unsigned i;
	char *p = bufs[i++ % 8];

	assert_true((size_t)snprintf(p, 512, "%s/%s", f->top, rel) < 512);
	return p;
}

/* Write top/rel, making its missing parent directories. */
static inline void
put(const struct fx *f, const char *rel, const void *data, size_t len)
{
	char p[512];
	size_t base = strlen(f->top) + 1;

	snprintf(p, sizeof(p), "%s", P(f, rel));
	for (char *s = p + base; (s = strchr(s, '/')) != NULL; *s++ = '/') {
		*s = '\0';
		if (mkdir(p, 0755) != 0)
			assert_int_equal(errno, EEXIST);
	}
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static inline void
puts_(const struct fx *f, const char *rel, const char *text)
{
	put(f, rel, text, strlen(text));
}

/* An rclone cache item of vfs: its data and its metadata. */
static inline void
item(const struct fx *f, const char *vfs, const char *rel, const char *data, const char *meta)
{
	char p[256];

	snprintf(p, sizeof(p), "cache/vfs/%s/%s", vfs, rel);
	puts_(f, p, data);
	snprintf(p, sizeof(p), "cache/vfsMeta/%s/%s", vfs, rel);
	puts_(f, p, meta);
}

static inline void
mkdirs(const struct fx *f, const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/.keep", rel);
	puts_(f, p, "");
	assert_int_equal(unlink(P(f, p)), 0);
}

static inline void
assert_content(const struct fx *f, const char *rel, const void *want, size_t len)
{
	struct stat st;
	int fd = open(P(f, rel), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		fail_msg("%s: %s", rel, strerror(errno));
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, len);
	char *buf = malloc(len + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, len + 1), (ssize_t)len);
	close(fd);
	if (memcmp(buf, want, len) != 0)
		fail_msg("%s: content differs", rel);
	free(buf);
}

static inline void
assert_text(const struct fx *f, const char *rel, const char *want)
{
	assert_content(f, rel, want, strlen(want));
}

static inline void
assert_gone(const struct fx *f, const char *rel)
{
	struct stat st;

	if (lstat(P(f, rel), &st) == 0)
		fail_msg("%s still exists", rel);
	assert_int_equal(errno, ENOENT);
}

static inline unsigned long
pending(const struct fx *f, const char *vfs)
{
	char err[256] = "";
	unsigned long n = 99;

	if (rescue_pending(f->cache, vfs, &n, err, sizeof(err)) != 0)
		fail_msg("rescue_pending: %s", err);
	return n;
}

static inline int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->top, sizeof(f->top), "%s/lcw-rescue-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->top) || mkdir(P(f, "cache"), 0700) || mkdir(P(f, "mnt"), 0755) ||
	    mkdir(P(f, "outside"), 0755))
		return -1;
	f->cache = open(P(f, "cache"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->mnt = open(P(f, "mnt"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->cache < 0 || f->mnt < 0)
		return -1;
	f->fds = nfds();
	*state = f;
	return 0;
}

static inline int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) ? -1 : 0;
}

static inline int
fx_teardown(void **state)
{
	struct fx *f = *state;
	int rc;

	close(f->cache);
	close(f->mnt);
	rc = nftw(f->top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

static inline int
dir_is_empty(const struct fx *f, const char *rel)
{
	DIR *d = opendir(P(f, rel));
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n == 0;
}

#endif
