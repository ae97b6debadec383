/* Unit tests of privd/s3/cache_rescue.c: which rclone cache items are rescued,
 * and stash / restore / pending / forget on a fake cache and a plain
 * directory standing in for the mount, all under a scratch directory in
 * $TMPDIR. No root and no rclone needed. */
#define _GNU_SOURCE
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

#include "cache_rescue.h"

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

/* ---- rescue_meta_qualifies ------------------------------------------------- */

static int
q(const char *json)
{
	return rescue_meta_qualifies(json, strlen(json));
}

static void
meta_never_uploaded_qualifies(void **state)
{
	(void)state;
	assert_int_equal(q(META_NEW), 1);
	assert_int_equal(q("{\"Dirty\":true}"), 1); /* no Fingerprint at all */
	assert_int_equal(q("{\"Dirty\":true,\"Fingerprint\":null}"), 1);
	/* rclone's encoder indents with tabs and ends with a newline */
	assert_int_equal(q("{\n\t\"Size\": 5,\n\t\"Fingerprint\": \"\",\n\t\"Dirty\": true\n}\n"), 1);
}

static void
meta_others_do_not_qualify(void **state)
{
	(void)state;
	/* uploaded once: the cache file may be sparse */
	assert_int_equal(q(META_UPLOADED), 0);
	assert_int_equal(q("{\"Dirty\":true,\"Fingerprint\":\"x\"}"), 0);
	assert_int_equal(q("{\"Dirty\":true,\"Fingerprint\":5}"), 0);
	/* nothing to lose */
	assert_int_equal(q(META_CLEAN), 0);
	assert_int_equal(q("{\"Fingerprint\":\"\"}"), 0);
	/* only a JSON true is dirty */
	assert_int_equal(q("{\"Dirty\":\"true\",\"Fingerprint\":\"\"}"), 0);
	assert_int_equal(q("{\"Dirty\":1,\"Fingerprint\":\"\"}"), 0);
	/* unparsable: rclone decides */
	assert_int_equal(q("{\"Dirty\":true,\"Fingerprint\":\""), 0);
	assert_int_equal(q("{\"Dirty\":true"), 0);
	assert_int_equal(q("not json"), 0);
	assert_int_equal(q("}{"), 0);
	assert_int_equal(q(""), 0);
	assert_int_equal(rescue_meta_qualifies(NULL, 0), 0);
	/* len is honoured: the text cut before its end is truncated */
	assert_int_equal(rescue_meta_qualifies(META_NEW, strlen(META_NEW) - 1), 0);
	/* not an object */
	assert_int_equal(q("[{\"Dirty\":true}]"), 0);
	assert_int_equal(q("true"), 0);
	assert_int_equal(q("\"Dirty\""), 0);
	assert_int_equal(q("null"), 0);
}

/* ---- a scratch cache and mount --------------------------------------------- */

struct fx {
	char top[256]; /* mkdtemp'd: cache/, mnt/, outside/ */
	int cache, mnt;
	int fds; /* open descriptors once set up: none may leak */
};

static int
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
static const char *
P(const struct fx *f, const char *rel)
{
	static char bufs[8][512];
	static unsigned i;
	char *p = bufs[i++ % 8];

	assert_true((size_t)snprintf(p, 512, "%s/%s", f->top, rel) < 512);
	return p;
}

/* Write top/rel, making its missing parent directories. */
static void
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

static void
puts_(const struct fx *f, const char *rel, const char *text)
{
	put(f, rel, text, strlen(text));
}

/* An rclone cache item of vfs: its data and its metadata. */
static void
item(const struct fx *f, const char *vfs, const char *rel, const char *data, const char *meta)
{
	char p[256];

	snprintf(p, sizeof(p), "cache/vfs/%s/%s", vfs, rel);
	puts_(f, p, data);
	snprintf(p, sizeof(p), "cache/vfsMeta/%s/%s", vfs, rel);
	puts_(f, p, meta);
}

static void
mkdirs(const struct fx *f, const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/.keep", rel);
	puts_(f, p, "");
	assert_int_equal(unlink(P(f, p)), 0);
}

static void
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

static void
assert_text(const struct fx *f, const char *rel, const char *want)
{
	assert_content(f, rel, want, strlen(want));
}

static void
assert_gone(const struct fx *f, const char *rel)
{
	struct stat st;

	if (lstat(P(f, rel), &st) == 0)
		fail_msg("%s still exists", rel);
	assert_int_equal(errno, ENOENT);
}

static unsigned long
pending(const struct fx *f, const char *vfs)
{
	char err[256] = "";
	unsigned long n = 99;

	if (rescue_pending(f->cache, vfs, &n, err, sizeof(err)) != 0)
		fail_msg("rescue_pending: %s", err);
	return n;
}

static int
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

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) ? -1 : 0;
}

static int
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

/* ---- rescue_stash ----------------------------------------------------------- */

static void
stash_moves_only_never_uploaded(void **state)
{
	struct fx *f = *state;
	char err[256] = "x";
	unsigned long moved = 99;

	item(f, "pvc-a", "a/b/new.bin", "NESTED", META_NEW);
	item(f, "pvc-a", "top.bin", "TOP", META_NEW);
	item(f, "pvc-a", "a/uploaded.bin", "SPARSE", META_UPLOADED);
	item(f, "pvc-a", "clean.bin", "CLEAN", META_CLEAN);
	puts_(f, "cache/vfsMeta/pvc-a/a/nodata.bin", META_NEW);
	puts_(f, "cache/vfs/pvc-a/nometa.bin", "NOMETA");
	item(f, "pvc-b", "b.bin", "OTHER", META_NEW);

	assert_int_equal(rescue_stash(f->cache, "pvc-a", &moved, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(moved, 2);

	assert_text(f, "cache/lcw-rescue/pvc-a/a/b/new.bin", "NESTED");
	assert_text(f, "cache/lcw-rescue/pvc-a/top.bin", "TOP");
	assert_gone(f, "cache/vfs/pvc-a/a/b/new.bin");
	assert_gone(f, "cache/vfsMeta/pvc-a/a/b/new.bin");
	assert_gone(f, "cache/vfs/pvc-a/top.bin");
	assert_gone(f, "cache/vfsMeta/pvc-a/top.bin");

	/* left to rclone, exactly as they were */
	assert_text(f, "cache/vfs/pvc-a/a/uploaded.bin", "SPARSE");
	assert_text(f, "cache/vfsMeta/pvc-a/a/uploaded.bin", META_UPLOADED);
	assert_text(f, "cache/vfs/pvc-a/clean.bin", "CLEAN");
	assert_text(f, "cache/vfsMeta/pvc-a/clean.bin", META_CLEAN);
	assert_text(f, "cache/vfsMeta/pvc-a/a/nodata.bin", META_NEW);
	assert_text(f, "cache/vfs/pvc-a/nometa.bin", "NOMETA");
	assert_gone(f, "cache/lcw-rescue/pvc-a/a/uploaded.bin");
	assert_gone(f, "cache/lcw-rescue/pvc-a/clean.bin");
	assert_gone(f, "cache/lcw-rescue/pvc-a/a/nodata.bin");
	assert_gone(f, "cache/lcw-rescue/pvc-a/nometa.bin");
	/* another volume is not touched */
	assert_text(f, "cache/vfs/pvc-b/b.bin", "OTHER");
	assert_text(f, "cache/vfsMeta/pvc-b/b.bin", META_NEW);
	assert_gone(f, "cache/lcw-rescue/pvc-b");

	/* a second stash (privd restarted before the restore) changes nothing */
	assert_int_equal(rescue_stash(f->cache, "pvc-a", &moved, err, sizeof(err)), 0);
	assert_int_equal(moved, 0);
	assert_text(f, "cache/lcw-rescue/pvc-a/a/b/new.bin", "NESTED");
	assert_text(f, "cache/lcw-rescue/pvc-a/top.bin", "TOP");
	assert_int_equal(pending(f, "pvc-a"), 2);
	assert_int_equal(nfds(), f->fds);
}

static void
stash_without_cache_is_noop(void **state)
{
	struct fx *f = *state;
	char err[256] = "x";
	unsigned long moved = 99;

	assert_int_equal(rescue_stash(f->cache, "pvc-a", &moved, err, sizeof(err)), 0);
	assert_int_equal(moved, 0);
	/* nothing to keep: no rescue directory either */
	item(f, "pvc-a", "clean.bin", "CLEAN", META_CLEAN);
	assert_int_equal(rescue_stash(f->cache, "pvc-a", &moved, err, sizeof(err)), 0);
	assert_int_equal(moved, 0);
	assert_gone(f, "cache/lcw-rescue");
	assert_int_equal(nfds(), f->fds);
}

/* A cache copy next to a rescued one is what an unfinished restore wrote
 * through the mount: the rescued copy is the whole file. */
static void
stash_keeps_rescued_copy(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	unsigned long moved = 99;

	puts_(f, "cache/lcw-rescue/pvc-a/d/x", "OLD");
	item(f, "pvc-a", "d/x", "PARTIAL", META_NEW);

	assert_int_equal(rescue_stash(f->cache, "pvc-a", &moved, err, sizeof(err)), 0);
	assert_int_equal(moved, 0);
	assert_text(f, "cache/lcw-rescue/pvc-a/d/x", "OLD");
	assert_gone(f, "cache/vfs/pvc-a/d/x");
	assert_gone(f, "cache/vfsMeta/pvc-a/d/x");
	assert_int_equal(pending(f, "pvc-a"), 1);
	assert_int_equal(nfds(), f->fds);
}

/* ---- rescue_pending --------------------------------------------------------- */

static void
pending_counts_regular_files(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pending(f, "pvc-a"), 0); /* no lcw-rescue at all */
	mkdirs(f, "cache/lcw-rescue/pvc-b");
	assert_int_equal(pending(f, "pvc-a"), 0); /* none for this volume */
	assert_int_equal(pending(f, "pvc-b"), 0);

	puts_(f, "cache/lcw-rescue/pvc-a/one", "1");
	puts_(f, "cache/lcw-rescue/pvc-a/d/two", "2");
	puts_(f, "cache/lcw-rescue/pvc-a/d/e/f/three", "");
	mkdirs(f, "cache/lcw-rescue/pvc-a/empty/dir");
	assert_int_equal(symlink("one", P(f, "cache/lcw-rescue/pvc-a/link")), 0);
	assert_int_equal(pending(f, "pvc-a"), 3);
	assert_int_equal(pending(f, "pvc-b"), 0);
	assert_int_equal(nfds(), f->fds);
}

/* A rescue or metadata directory that cannot be opened is an error, never
 * "nothing there": a pending count of 0 would let unstage drop the cache. */
static void
unreadable_dirs_are_errors(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	unsigned long n = 99;

	mkdirs(f, "outside/pvc-a");
	puts_(f, "outside/pvc-a/file", "x");
	assert_int_equal(symlink(P(f, "outside"), P(f, "cache/lcw-rescue")), 0);
	assert_int_equal(rescue_pending(f->cache, "pvc-a", &n, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	err[0] = '\0';
	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, &n, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_int_equal(symlink(P(f, "outside"), P(f, "cache/vfsMeta")), 0);
	err[0] = '\0';
	assert_int_equal(rescue_stash(f->cache, "pvc-a", &n, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_int_equal(nfds(), f->fds);
}

/* ---- rescue_restore --------------------------------------------------------- */

static void
set_mtime(const struct fx *f, const char *rel, time_t sec, long nsec)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = sec, .tv_nsec = nsec } };

	assert_int_equal(utimensat(AT_FDCWD, P(f, rel), ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void
assert_mtime(const struct fx *f, const char *rel, time_t sec, long nsec)
{
	struct stat st;

	assert_int_equal(lstat(P(f, rel), &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, sec);
	assert_int_equal(st.st_mtim.tv_nsec, nsec);
}

#define BIG (3u << 20) /* three copy chunks */

static void
restore_writes_back(void **state)
{
	struct fx *f = *state;
	char err[256] = "x";
	unsigned long restored = 99;
	unsigned char *big = malloc(BIG);
	uint64_t x = 0x9e3779b97f4a7c15u;

	/* no two chunks alike, so a misplaced chunk shows */
	assert_non_null(big);
	for (size_t i = 0; i < BIG; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		big[i] = (unsigned char)x;
	}
	put(f, "cache/lcw-rescue/pvc-a/big.bin", big, BIG);
	puts_(f, "cache/lcw-rescue/pvc-a/empty", "");
	puts_(f, "cache/lcw-rescue/pvc-a/a/b/c.txt", "deep");
	puts_(f, "cache/lcw-rescue/pvc-a/keep/over.txt", "new");
	set_mtime(f, "cache/lcw-rescue/pvc-a/big.bin", 1000000000, 123456789);
	set_mtime(f, "cache/lcw-rescue/pvc-a/empty", 1100000000, 0);
	set_mtime(f, "cache/lcw-rescue/pvc-a/a/b/c.txt", 1200000000, 5);
	set_mtime(f, "cache/lcw-rescue/pvc-a/keep/over.txt", 1300000000, 999999999);
	puts_(f, "cache/lcw-rescue/pvc-b/other", "not mine");

	puts_(f, "mnt/unrelated.txt", "MINE");
	puts_(f, "mnt/keep/other.txt", "OTHER");
	puts_(f, "mnt/keep/over.txt", "a longer old content");
	set_mtime(f, "mnt/unrelated.txt", 900000000, 0);

	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, &restored, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(restored, 4);

	assert_content(f, "mnt/big.bin", big, BIG);
	assert_text(f, "mnt/empty", "");
	assert_text(f, "mnt/a/b/c.txt", "deep");
	assert_text(f, "mnt/keep/over.txt", "new"); /* overwritten, not appended */
	assert_mtime(f, "mnt/big.bin", 1000000000, 123456789);
	assert_mtime(f, "mnt/empty", 1100000000, 0);
	assert_mtime(f, "mnt/a/b/c.txt", 1200000000, 5);
	assert_mtime(f, "mnt/keep/over.txt", 1300000000, 999999999);
	assert_text(f, "mnt/unrelated.txt", "MINE");
	assert_mtime(f, "mnt/unrelated.txt", 900000000, 0);
	assert_text(f, "mnt/keep/other.txt", "OTHER");

	assert_gone(f, "cache/lcw-rescue/pvc-a");
	assert_int_equal(pending(f, "pvc-a"), 0);
	assert_text(f, "cache/lcw-rescue/pvc-b/other", "not mine");
	assert_gone(f, "mnt/other");

	/* nothing left: a second restore is a no-op */
	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, &restored, err, sizeof(err)), 0);
	assert_int_equal(restored, 0);
	free(big);
	assert_int_equal(nfds(), f->fds);
}

/* stash then restore: what rclone had not uploaded reaches the mount. */
static void
stash_then_restore(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	unsigned long n = 99;

	item(f, "pvc-a", "dir/sub/file", "fsync'ed", META_NEW);
	item(f, "pvc-a", "dir/up", "SPARSE", META_UPLOADED);
	assert_int_equal(rescue_stash(f->cache, "pvc-a", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_text(f, "mnt/dir/sub/file", "fsync'ed");
	assert_gone(f, "mnt/dir/up");
	assert_int_equal(pending(f, "pvc-a"), 0);
	assert_int_equal(nfds(), f->fds);
}

static int
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

/* A symlink in the mount never leads a restore outside it. */
static void
restore_refuses_symlinked_dir(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	unsigned long restored = 99;

	puts_(f, "cache/lcw-rescue/pvc-a/a/f", "SECRET");
	assert_int_equal(symlink(P(f, "outside"), P(f, "mnt/a")), 0);

	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, &restored, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_null(strstr(err, "SECRET"));
	assert_int_equal(restored, 0);
	assert_true(dir_is_empty(f, "outside"));
	assert_text(f, "cache/lcw-rescue/pvc-a/a/f", "SECRET");
	assert_int_equal(pending(f, "pvc-a"), 1);
	assert_int_equal(nfds(), f->fds);
}

/* A restore that fails part way keeps every rescued copy, those already
 * written included: the next attempt writes them all again, and a copy
 * goes only when the whole tree is written and flushed. */
static void
failed_restore_keeps_every_rescued_copy(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	unsigned long restored = 99;

	puts_(f, "cache/lcw-rescue/pvc-a/0-first", "ONE");
	puts_(f, "cache/lcw-rescue/pvc-a/z/blocked", "TWO");
	puts_(f, "cache/lcw-rescue/pvc-a/zz-last", "THREE");
	assert_int_equal(symlink(P(f, "outside"), P(f, "mnt/z")), 0);

	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, &restored, err, sizeof(err)), -1);
	assert_int_equal(pending(f, "pvc-a"), 3);
	assert_text(f, "cache/lcw-rescue/pvc-a/0-first", "ONE");
	assert_true(dir_is_empty(f, "outside"));

	/* the obstacle goes: everything is written and the rescue dir goes */
	assert_int_equal(unlink(P(f, "mnt/z")), 0);
	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, &restored, err, sizeof(err)), 0);
	assert_int_equal(restored, 3);
	assert_text(f, "mnt/0-first", "ONE");
	assert_text(f, "mnt/z/blocked", "TWO");
	assert_text(f, "mnt/zz-last", "THREE");
	assert_int_equal(pending(f, "pvc-a"), 0);
	assert_gone(f, "cache/lcw-rescue/pvc-a");
	assert_int_equal(nfds(), f->fds);
}

static void
restore_refuses_symlinked_file(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	unsigned long restored = 99;

	puts_(f, "cache/lcw-rescue/pvc-a/f", "SECRET");
	puts_(f, "outside/target", "ORIGINAL");
	assert_int_equal(symlink("../outside/target", P(f, "mnt/f")), 0);

	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, &restored, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_int_equal(restored, 0);
	assert_text(f, "outside/target", "ORIGINAL");
	assert_int_equal(pending(f, "pvc-a"), 1);

	/* a dangling symlink does not create its target either */
	assert_int_equal(unlink(P(f, "mnt/f")), 0);
	assert_int_equal(symlink("../outside/new", P(f, "mnt/f")), 0);
	err[0] = '\0';
	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, &restored, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_gone(f, "outside/new");
	assert_text(f, "cache/lcw-rescue/pvc-a/f", "SECRET");
	assert_int_equal(pending(f, "pvc-a"), 1);
	assert_int_equal(nfds(), f->fds);
}

/* ---- names and forget ------------------------------------------------------- */

static void
invalid_vfs_refused(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = { "", ".", "..", "a/b" };

	/* each would reach a real tree if it were taken as a path */
	item(f, "a", "b/x", "DATA", META_NEW);
	puts_(f, "cache/lcw-rescue/a/b/y", "RESCUED");
	mkdirs(f, "cache/lcw-rescue/empty");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		unsigned long n = 99;

		assert_int_equal(rescue_stash(f->cache, bad[i], &n, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		assert_int_equal(n, 0);
		err[0] = '\0', n = 99;
		assert_int_equal(rescue_restore(f->cache, bad[i], f->mnt, &n, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		assert_int_equal(n, 0);
		err[0] = '\0', n = 99;
		assert_int_equal(rescue_pending(f->cache, bad[i], &n, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		assert_int_equal(n, 0);
		rescue_forget(f->cache, bad[i]);
	}
	assert_text(f, "cache/vfs/a/b/x", "DATA");
	assert_text(f, "cache/vfsMeta/a/b/x", META_NEW);
	assert_text(f, "cache/lcw-rescue/a/b/y", "RESCUED");
	assert_true(dir_is_empty(f, "cache/lcw-rescue/empty")); /* ".." did not prune it */
	assert_true(dir_is_empty(f, "mnt"));
	assert_int_equal(nfds(), f->fds);
}

static void
forget_removes_only_empty_dirs(void **state)
{
	struct fx *f = *state;

	mkdirs(f, "cache/lcw-rescue/pvc-a/x/y/z");
	mkdirs(f, "cache/lcw-rescue/pvc-a/w");
	rescue_forget(f->cache, "pvc-a");
	assert_gone(f, "cache/lcw-rescue/pvc-a");

	/* a file still to restore keeps its tree */
	puts_(f, "cache/lcw-rescue/pvc-b/keep/f", "KEEP");
	mkdirs(f, "cache/lcw-rescue/pvc-b/e1/e2");
	mkdirs(f, "cache/lcw-rescue/pvc-c/e");
	rescue_forget(f->cache, "pvc-b");
	assert_text(f, "cache/lcw-rescue/pvc-b/keep/f", "KEEP");
	assert_gone(f, "cache/lcw-rescue/pvc-b/e1");
	assert_true(dir_is_empty(f, "cache/lcw-rescue/pvc-c/e")); /* another volume */

	rescue_forget(f->cache, "pvc-none"); /* nothing there: no error to see */
	assert_int_equal(nfds(), f->fds);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(meta_never_uploaded_qualifies),
		cmocka_unit_test(meta_others_do_not_qualify),
		T(stash_moves_only_never_uploaded),
		T(stash_without_cache_is_noop),
		T(stash_keeps_rescued_copy),
		T(pending_counts_regular_files),
		T(unreadable_dirs_are_errors),
		T(restore_writes_back),
		T(stash_then_restore),
		T(restore_refuses_symlinked_dir),
		T(restore_refuses_symlinked_file),
		T(failed_restore_keeps_every_rescued_copy),
		T(invalid_vfs_refused),
		T(forget_removes_only_empty_dirs),
	};
	return cmocka_run_group_tests_name("cache_rescue", tests, NULL, NULL) ? 1 : 0;
}
