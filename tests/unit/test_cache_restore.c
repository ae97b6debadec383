/* Unit tests of privd/s3/cache_restore.c: rescued files written back through
 * a plain directory standing in for the mount, or kept aside when they would
 * overwrite what another writer put there (stranded.h), on the scratch cache
 * of rescue_fx.h. No root and no rclone needed. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/resource.h>

#include "cache_rescue.h"
#include "rescue_fx.h"
#include "stranded.h"

#define NOW 1700000000L

static int
R(const struct fx *f, unsigned long *restored, unsigned long *aside, char *err)
{
	err[0] = '\0';
	return rescue_restore(f->cache, "pvc-a", f->mnt, NOW, restored, aside, err, 256);
}

/* ---- write-back -------------------------------------------------------------- */

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
	unsigned long restored = 99, aside = 99;
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

	assert_int_equal(R(f, &restored, &aside, err), 0);
	assert_string_equal(err, "");
	assert_int_equal(restored, 3);
	assert_int_equal(aside, 1);

	assert_content(f, "mnt/big.bin", big, BIG);
	assert_text(f, "mnt/empty", "");
	assert_text(f, "mnt/a/b/c.txt", "deep");
	/* another writer's file where this one was new: never overwritten */
	assert_text(f, "mnt/keep/over.txt", "a longer old content");
	assert_text(f, "cache/lcw-conflict/pvc-a_1700000000/vfs/keep/over.txt", "new");
	assert_int_equal(rescue_conflicts(f->cache, "pvc-a"), 1);
	assert_int_equal(rescue_conflicts(f->cache, "pvc-b"), 0);
	assert_mtime(f, "mnt/big.bin", 1000000000, 123456789);
	assert_mtime(f, "mnt/empty", 1100000000, 0);
	assert_mtime(f, "mnt/a/b/c.txt", 1200000000, 5);
	assert_text(f, "mnt/unrelated.txt", "MINE");
	assert_mtime(f, "mnt/unrelated.txt", 900000000, 0);
	assert_text(f, "mnt/keep/other.txt", "OTHER");

	assert_gone(f, "cache/lcw-rescue/pvc-a");
	assert_int_equal(pending(f, "pvc-a"), 0);
	assert_text(f, "cache/lcw-rescue/pvc-b/other", "not mine");
	assert_gone(f, "mnt/other");

	/* nothing left: a second restore is a no-op */
	assert_int_equal(R(f, &restored, &aside, err), 0);
	assert_int_equal(restored, 0);
	assert_int_equal(aside, 0);
	free(big);
	assert_int_equal(nfds(), f->fds);
}

/* stash then restore: what rclone had not uploaded reaches the mount. */
static void
stash_then_restore(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	unsigned long n = 99, aside = 99;

	item(f, "pvc-a", "dir/sub/file", "fsync'ed", META_NEW);
	item(f, "pvc-a", "dir/up", "SPARSE", META_UPLOADED);
	assert_int_equal(rescue_stash(f->cache, "pvc-a", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(R(f, &n, &aside, err), 0);
	assert_int_equal(n, 1);
	assert_text(f, "mnt/dir/sub/file", "fsync'ed");
	/* it had an object, and the bucket has none now: deleted elsewhere */
	assert_int_equal(aside, 1);
	assert_gone(f, "mnt/dir/up");
	assert_text(f, "cache/lcw-conflict/pvc-a_1700000000/vfs/dir/up", "SPARSE");
	assert_text(f, "cache/lcw-conflict/pvc-a_1700000000/vfsMeta/dir/up", META_UPLOADED);
	assert_gone(f, "cache/lcw-rescue-meta/pvc-a");
	assert_int_equal(pending(f, "pvc-a"), 0);
	assert_int_equal(nfds(), f->fds);
}

/* A symlink in the mount never leads a restore outside it: what stands
 * where the file's directory should be is someone else's, so the file is
 * kept aside. */
static void
restore_refuses_symlinked_dir(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	unsigned long restored = 99, aside = 99;

	puts_(f, "cache/lcw-rescue/pvc-a/a/f", "SECRET");
	assert_int_equal(symlink(P(f, "outside"), P(f, "mnt/a")), 0);

	assert_int_equal(R(f, &restored, &aside, err), 0);
	assert_int_equal(restored, 0);
	assert_int_equal(aside, 1);
	assert_true(dir_is_empty(f, "outside"));
	assert_text(f, "cache/lcw-conflict/pvc-a_1700000000/vfs/a/f", "SECRET");
	assert_int_equal(pending(f, "pvc-a"), 0);
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
	unsigned long restored = 99, aside = 99;

	char two[64];
	memset(two, 'T', sizeof(two));
	puts_(f, "cache/lcw-rescue/pvc-a/0-first", "ONE");
	put(f, "cache/lcw-rescue/pvc-a/z/blocked", two, sizeof(two));
	puts_(f, "cache/lcw-rescue/pvc-a/zz-last", "THREE");

	/* a file size limit fails the write of the larger file (EFBIG) */
	struct rlimit lim, small = { 16, 16 };
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &lim), 0);
	small.rlim_max = lim.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = R(f, &restored, &aside, err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(rc, -1);
	assert_true(err[0] != '\0');
	assert_int_equal(pending(f, "pvc-a"), 3);
	assert_text(f, "cache/lcw-rescue/pvc-a/0-first", "ONE");

	/* the obstacle goes: everything is written and the rescue dir goes;
	 * what the failed attempt wrote is this very file, not a conflict */
	assert_int_equal(R(f, &restored, &aside, err), 0);
	assert_int_equal(restored, 3);
	assert_int_equal(aside, 0);
	assert_text(f, "mnt/0-first", "ONE");
	assert_content(f, "mnt/z/blocked", two, sizeof(two));
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
	unsigned long restored = 99, aside = 99;

	puts_(f, "cache/lcw-rescue/pvc-a/f", "SECRET");
	puts_(f, "outside/target", "ORIGINAL");
	assert_int_equal(symlink("../outside/target", P(f, "mnt/f")), 0);

	assert_int_equal(R(f, &restored, &aside, err), 0);
	assert_int_equal(restored, 0);
	assert_int_equal(aside, 1);
	assert_text(f, "outside/target", "ORIGINAL");
	assert_text(f, "cache/lcw-conflict/pvc-a_1700000000/vfs/f", "SECRET");

	/* a dangling symlink does not create its target either */
	puts_(f, "cache/lcw-rescue/pvc-a/f", "SECRET2");
	assert_int_equal(unlink(P(f, "mnt/f")), 0);
	assert_int_equal(symlink("../outside/new", P(f, "mnt/f")), 0);
	assert_int_equal(R(f, &restored, &aside, err), 0);
	assert_int_equal(aside, 1);
	assert_gone(f, "outside/new");
	/* a second conflict the same second gets a directory of its own */
	assert_text(f, "cache/lcw-conflict/pvc-a_1700000000-1/vfs/f", "SECRET2");
	assert_int_equal(rescue_conflicts(f->cache, "pvc-a"), 2);
	assert_int_equal(pending(f, "pvc-a"), 0);
	assert_int_equal(nfds(), f->fds);
}

/* ---- files uploaded before: only over the unchanged object --------------------- */

/* 2023-11-14 22:13:20 UTC, the object's time in the fingerprints below */
#define OBJ_SEC 1700000000L
#define OBJ_NS 250000000L
#define FP_AT "2023-11-14 22:13:20.25 +0000 UTC"

/* The metadata rclone keeps of a file it wrote over a 10-byte object: 12
 * bytes now, of which [2,5) and [10,12) are in the cache file. */
#define META_OVER(fp_size)                                                                 \
	"{\"ModTime\":\"2024-01-02T03:04:05.000000006Z\",\"Size\":12,"                     \
	"\"Rs\":[{\"Pos\":2,\"Size\":3},{\"Pos\":10,\"Size\":2}],"                        \
	"\"Fingerprint\":\"" fp_size "," FP_AT "\",\"Dirty\":true}"

static void
sparse_item(const struct fx *f, const char *meta)
{
	char data[12] = { 0 };

	memcpy(data + 2, "xyz", 3);
	memcpy(data + 10, "!!", 2);
	put(f, "cache/lcw-rescue/pvc-a/d/over.bin", data, sizeof(data));
	puts_(f, "cache/lcw-rescue-meta/pvc-a/d/over.bin", meta);
}

static void
over_unchanged_object_writes_its_ranges(void **state)
{
	struct fx *f = *state;
	char err[256];
	unsigned long restored = 99, aside = 99;

	sparse_item(f, META_OVER("10"));
	puts_(f, "mnt/d/over.bin", "AAAAAAAAAA");
	set_mtime(f, "mnt/d/over.bin", OBJ_SEC, OBJ_NS + 300000); /* within the slack */

	assert_int_equal(R(f, &restored, &aside, err), 0);
	assert_string_equal(err, "");
	assert_int_equal(restored, 1);
	assert_int_equal(aside, 0);
	/* the object's bytes where the cache had none, the cache's elsewhere */
	assert_content(f, "mnt/d/over.bin", "AAxyzAAAAA!!", 12);
	assert_mtime(f, "mnt/d/over.bin", 1704164645, 6);
	assert_int_equal(rescue_conflicts(f->cache, "pvc-a"), 0);
	assert_gone(f, "cache/lcw-rescue-meta/pvc-a");
	assert_int_equal(nfds(), f->fds);
}

static void
over_changed_object_is_kept_aside(void **state)
{
	struct fx *f = *state;
	char err[256];
	unsigned long restored = 99, aside = 99;
	static const struct {
		const char *content;
		long ns;
	} other[] = {
		{ "BBBBBBBBBB", OBJ_NS + 2000000 }, /* same size, rewritten later */
		{ "BBBBBBBBB", OBJ_NS },            /* same time, another size */
	};

	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		sparse_item(f, META_OVER("10"));
		puts_(f, "mnt/d/over.bin", other[i].content);
		set_mtime(f, "mnt/d/over.bin", OBJ_SEC, other[i].ns);
		assert_int_equal(R(f, &restored, &aside, err), 0);
		assert_int_equal(restored, 0);
		assert_int_equal(aside, 1);
		assert_text(f, "mnt/d/over.bin", other[i].content);
		assert_mtime(f, "mnt/d/over.bin", OBJ_SEC, other[i].ns);
	}
	/* both kept, each with the metadata that says which bytes it holds */
	assert_int_equal(rescue_conflicts(f->cache, "pvc-a"), 2);
	assert_text(f, "cache/lcw-conflict/pvc-a_1700000000-1/vfsMeta/d/over.bin",
		    META_OVER("10"));
	assert_int_equal(nfds(), f->fds);
}

/* The cache file lacks bytes its metadata lists: not written half. */
static void
over_object_with_missing_ranges_is_kept_aside(void **state)
{
	struct fx *f = *state;
	char err[256];
	unsigned long restored = 99, aside = 99;

	puts_(f, "cache/lcw-rescue/pvc-a/d/over.bin", "AAxyz"); /* 5 of 12 bytes */
	puts_(f, "cache/lcw-rescue-meta/pvc-a/d/over.bin", META_OVER("10"));
	puts_(f, "mnt/d/over.bin", "AAAAAAAAAA");
	set_mtime(f, "mnt/d/over.bin", OBJ_SEC, OBJ_NS);

	assert_int_equal(R(f, &restored, &aside, err), 0);
	assert_int_equal(aside, 1);
	assert_text(f, "mnt/d/over.bin", "AAAAAAAAAA");
	assert_int_equal(nfds(), f->fds);
}

/* A new file whose object appeared is written only if the object is this
 * file (rclone uploaded it just before it died). */
static void
new_file_already_uploaded_is_not_a_conflict(void **state)
{
	struct fx *f = *state;
	char err[256];
	unsigned long restored = 99, aside = 99;

	puts_(f, "cache/lcw-rescue/pvc-a/n.txt", "hello");
	puts_(f, "cache/lcw-rescue-meta/pvc-a/n.txt",
	      "{\"ModTime\":\"2024-01-02T04:04:05.5+01:00\",\"Size\":5,"
	      "\"Rs\":[{\"Pos\":0,\"Size\":5}],\"Fingerprint\":\"\",\"Dirty\":true}");
	puts_(f, "mnt/n.txt", "hello");
	set_mtime(f, "mnt/n.txt", 1704164645, 500000000);

	assert_int_equal(R(f, &restored, &aside, err), 0);
	assert_int_equal(restored, 1);
	assert_int_equal(aside, 0);
	assert_text(f, "mnt/n.txt", "hello");
	assert_mtime(f, "mnt/n.txt", 1704164645, 500000000);
	assert_int_equal(nfds(), f->fds);
}

/* Only this volume's conflict directories count: remote names hold no '_'. */
static void
conflicts_count_per_volume(void **state)
{
	struct fx *f = *state;

	assert_int_equal(rescue_conflicts(f->cache, "pvc-a"), 0);
	puts_(f, "cache/lcw-conflict/pvc-a_1/vfs/x", "1");
	puts_(f, "cache/lcw-conflict/pvc-a_2-1/vfs/d/y", "2");
	puts_(f, "cache/lcw-conflict/pvc-a.g2_3/vfs/z", "3");
	puts_(f, "cache/lcw-conflict/pvc-ab_4/vfs/w", "4");
	puts_(f, "cache/lcw-conflict/pvc-a_5/vfsMeta/x", "{}");
	assert_int_equal(rescue_conflicts(f->cache, "pvc-a"), 2);
	assert_int_equal(rescue_conflicts(f->cache, "pvc-a.g2"), 1);
	assert_int_equal(rescue_conflicts(f->cache, "pvc-ab"), 1);
	assert_int_equal(rescue_conflicts(f->cache, "../x"), -1);
	assert_int_equal(nfds(), f->fds);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(restore_writes_back),
		T(stash_then_restore),
		T(restore_refuses_symlinked_dir),
		T(restore_refuses_symlinked_file),
		T(failed_restore_keeps_every_rescued_copy),
		T(over_unchanged_object_writes_its_ranges),
		T(over_changed_object_is_kept_aside),
		T(over_object_with_missing_ranges_is_kept_aside),
		T(new_file_already_uploaded_is_not_a_conflict),
		T(conflicts_count_per_volume),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
