/* Unit tests of privd/s3/cache_rescue.c: which rclone cache items are rescued,
 * and stash / pending / forget on a fake cache (rescue_fx.h); the restore's
 * are in test_cache_restore.c. No root and no rclone needed. */
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
#include "rescue_fx.h"

/* ---- rescue_meta_qualifies ------------------------------------------------- */

static int
q(const char *json)
{
	return rescue_meta_qualifies(json, strlen(json));
}

static void
meta_dirty_qualifies(void **state)
{
	(void)state;
	/* uploaded before and changed since: rescued too, with its metadata
	 * (its cache file may be sparse; the restore decides) */
	assert_int_equal(q(META_UPLOADED), 1);
	assert_int_equal(q("{\"Dirty\":true,\"Fingerprint\":\"x\"}"), 1);
	assert_int_equal(q("{\"Dirty\":true,\"Fingerprint\":5}"), 1);
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

/* ---- rescue_stash ----------------------------------------------------------- */

static void
stash_moves_every_dirty_item(void **state)
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
	assert_int_equal(moved, 3);

	assert_text(f, "cache/lcw-rescue/pvc-a/a/b/new.bin", "NESTED");
	assert_text(f, "cache/lcw-rescue/pvc-a/top.bin", "TOP");
	assert_gone(f, "cache/vfs/pvc-a/a/b/new.bin");
	assert_gone(f, "cache/vfsMeta/pvc-a/a/b/new.bin");
	assert_gone(f, "cache/vfs/pvc-a/top.bin");
	assert_gone(f, "cache/vfsMeta/pvc-a/top.bin");

	/* each with its metadata kept beside it */
	assert_text(f, "cache/lcw-rescue/pvc-a/a/uploaded.bin", "SPARSE");
	assert_text(f, "cache/lcw-rescue-meta/pvc-a/a/uploaded.bin", META_UPLOADED);
	assert_text(f, "cache/lcw-rescue-meta/pvc-a/top.bin", META_NEW);
	assert_gone(f, "cache/vfs/pvc-a/a/uploaded.bin");
	assert_gone(f, "cache/vfsMeta/pvc-a/a/uploaded.bin");
	/* left to rclone, exactly as they were */
	assert_text(f, "cache/vfs/pvc-a/clean.bin", "CLEAN");
	assert_text(f, "cache/vfsMeta/pvc-a/clean.bin", META_CLEAN);
	assert_text(f, "cache/vfsMeta/pvc-a/a/nodata.bin", META_NEW);
	assert_text(f, "cache/vfs/pvc-a/nometa.bin", "NOMETA");
	assert_gone(f, "cache/lcw-rescue/pvc-a/clean.bin");
	assert_gone(f, "cache/lcw-rescue-meta/pvc-a/clean.bin");
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
	assert_int_equal(pending(f, "pvc-a"), 3);
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

/* A stash cut short by a crash is finished by the next one: after the
 * metadata copy (the file still in the cache) it starts over; after the
 * file's move (its metadata still in rclone's tree) only that goes. */
static void
stash_finishes_an_interrupted_one(void **state)
{
	struct fx *f = *state;
	char err[256] = "";
	unsigned long moved = 99;

	item(f, "pvc-a", "copied", "C", META_UPLOADED);
	puts_(f, "cache/lcw-rescue-meta/pvc-a/copied", "{\"stale\":1}");
	puts_(f, "cache/lcw-rescue/pvc-a/moved", "M");
	puts_(f, "cache/lcw-rescue-meta/pvc-a/moved", META_UPLOADED);
	puts_(f, "cache/vfsMeta/pvc-a/moved", META_UPLOADED);

	assert_int_equal(rescue_stash(f->cache, "pvc-a", &moved, err, sizeof(err)), 0);
	assert_int_equal(moved, 1);
	assert_text(f, "cache/lcw-rescue/pvc-a/copied", "C");
	assert_text(f, "cache/lcw-rescue-meta/pvc-a/copied", META_UPLOADED);
	assert_gone(f, "cache/vfs/pvc-a/copied");
	assert_gone(f, "cache/vfsMeta/pvc-a/copied");
	assert_text(f, "cache/lcw-rescue/pvc-a/moved", "M");
	assert_text(f, "cache/lcw-rescue-meta/pvc-a/moved", META_UPLOADED);
	assert_gone(f, "cache/vfsMeta/pvc-a/moved");
	assert_int_equal(pending(f, "pvc-a"), 2);
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
	unsigned long aside = 99;
	assert_int_equal(rescue_restore(f->cache, "pvc-a", f->mnt, 1, &n, &aside, err, sizeof(err)),
			 -1);
	assert_true(err[0] != '\0');
	assert_int_equal(symlink(P(f, "outside"), P(f, "cache/vfsMeta")), 0);
	err[0] = '\0';
	assert_int_equal(rescue_stash(f->cache, "pvc-a", &n, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
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
		unsigned long aside = 99;
		assert_int_equal(rescue_restore(f->cache, bad[i], f->mnt, 1, &n, &aside, err,
						sizeof(err)),
				 -1);
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
		cmocka_unit_test(meta_dirty_qualifies),
		cmocka_unit_test(meta_others_do_not_qualify),
		T(stash_moves_every_dirty_item),
		T(stash_without_cache_is_noop),
		T(stash_keeps_rescued_copy),
		T(stash_finishes_an_interrupted_one),
		T(pending_counts_regular_files),
		T(unreadable_dirs_are_errors),
		T(invalid_vfs_refused),
		T(forget_removes_only_empty_dirs),
	};
	return cmocka_run_group_tests_name("cache_rescue", tests, NULL, NULL) ? 1 : 0;
}
