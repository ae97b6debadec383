/* Unit tests of privd/s3/stranded.c: rclone's metadata and fingerprints as
 * rclone 1.60 writes them (the fingerprint text below was read off a real
 * rclone mount), and the upload-or-keep-aside decision. Pure. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "stranded.h"

static void
fingerprint_as_rclone_writes_it(void **state)
{
	uint64_t size = 0;
	struct timespec t;

	(void)state;
	assert_int_equal(stranded_fingerprint_parse("6,2026-12-06 12:59:45.987380911 +0000 UTC",
						    &size, &t), 0);
	assert_int_equal(size, 6);
	assert_int_equal(t.tv_sec, 1796561985L);
	assert_int_equal(t.tv_nsec, 987380911L);
	/* Go drops the fraction's trailing zeros, and the whole of a zero one */
	assert_int_equal(stranded_fingerprint_parse("0,2024-05-06 07:08:09.5 +0000 UTC", &size, &t),
			 0);
	assert_int_equal(t.tv_nsec, 500000000L);
	assert_int_equal(stranded_fingerprint_parse("12,2024-05-06 07:08:09 +0000 UTC,5d41", &size,
						    &t), 0);
	assert_int_equal(size, 12);
	assert_int_equal(t.tv_sec, 1714979289L);
	assert_int_equal(t.tv_nsec, 0);
	/* an offset other than UTC is honoured */
	assert_int_equal(stranded_fingerprint_parse("1,2024-05-06 09:08:09 +0200 CEST", &size, &t),
			 0);
	assert_int_equal(t.tv_sec, 1714979289L);
}

static void
fingerprint_garbage_refused(void **state)
{
	static const char *const bad[] = {
		"", ",2024-05-06 07:08:09 +0000 UTC", "x,2024-05-06 07:08:09 +0000 UTC",
		"6", "6,", "6,2024-05-06", "6,2024-05-06T07:08:09Z", "6,2024-13-06 07:08:09 +0000 UTC",
		"6,2024-05-06 07:08:09. +0000 UTC", "6,2024-05-06 07:08:09 UTC",
		"6,2024-05-06 07:08:09 +0000 UTC trailing", "-6,2024-05-06 07:08:09 +0000 UTC",
		"99999999999999999999999,2024-05-06 07:08:09 +0000 UTC",
	};
	uint64_t size;
	struct timespec t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (stranded_fingerprint_parse(bad[i], &size, &t) == 0)
			fail_msg("accepted: \"%s\"", bad[i]);
	assert_int_equal(stranded_fingerprint_parse(NULL, &size, &t), -1);
}

static void
rfc3339_times(void **state)
{
	struct timespec t;

	(void)state;
	assert_int_equal(stranded_time_parse_rfc3339("2026-12-06T12:59:49.996801225Z", &t), 0);
	assert_int_equal(t.tv_sec, 1796561989L);
	assert_int_equal(t.tv_nsec, 996801225L);
	assert_int_equal(stranded_time_parse_rfc3339("2026-12-06T13:59:49.9968+01:00", &t), 0);
	assert_int_equal(t.tv_sec, 1796561989L);
	assert_int_equal(t.tv_nsec, 996800000L);
	assert_int_equal(stranded_time_parse_rfc3339("2026-12-06T12:59:49Z", &t), 0);
	assert_int_equal(t.tv_nsec, 0);
	assert_int_equal(stranded_time_parse_rfc3339("2026-12-06 12:59:49Z", &t), -1);
	assert_int_equal(stranded_time_parse_rfc3339("2026-12-06T12:59:49", &t), -1);
	assert_int_equal(stranded_time_parse_rfc3339("2026-12-06T12:59:49+0100", &t), -1);
	assert_int_equal(stranded_time_parse_rfc3339("2026-12-06T12:59:49Zjunk", &t), -1);
}

static void
metadata_parsed(void **state)
{
	struct stranded_meta m;
	struct stranded_range r[4];
	const char *j = "{\n\t\"ModTime\": \"2026-12-06T12:59:49.996801225Z\",\n\t\"Size\": 11,\n"
			"\t\"Rs\": [{\"Pos\": 0, \"Size\": 6}, {\"Pos\": 8, \"Size\": 3}],\n"
			"\t\"Fingerprint\": \"6,2026-12-06 12:59:45.987380911 +0000 UTC\",\n"
			"\t\"Dirty\": true\n}\n";

	(void)state;
	assert_int_equal(stranded_meta_parse(j, strlen(j), &m, r, 4), 0);
	assert_true(m.dirty && m.had_object && m.fp_ok && m.size_ok && m.mtime_ok && m.ranges_ok);
	assert_int_equal(m.fp_size, 6);
	assert_int_equal(m.size, 11);
	assert_int_equal(m.nranges, 2);
	assert_int_equal(r[1].pos, 8);
	assert_int_equal(r[1].size, 3);

	/* more ranges than room: not ranges_ok (the file is kept aside) */
	assert_int_equal(stranded_meta_parse(j, strlen(j), &m, r, 1), 0);
	assert_false(m.ranges_ok);
	/* a position that is not a number */
	const char *w = "{\"Rs\":[{\"Pos\":\"0\",\"Size\":2}],\"Dirty\":true}";
	assert_int_equal(stranded_meta_parse(w, strlen(w), &m, r, 4), 0);
	assert_false(m.ranges_ok);
	/* negative numbers are not sizes */
	const char *n = "{\"Size\":-1,\"Rs\":[{\"Pos\":-1,\"Size\":2}],\"Dirty\":true}";
	assert_int_equal(stranded_meta_parse(n, strlen(n), &m, r, 4), 0);
	assert_false(m.size_ok);
	assert_false(m.ranges_ok);
	/* never uploaded */
	const char *e = "{\"Size\":0,\"Rs\":null,\"Fingerprint\":\"\",\"Dirty\":true}";
	assert_int_equal(stranded_meta_parse(e, strlen(e), &m, r, 4), 0);
	assert_true(m.dirty && !m.had_object && m.ranges_ok && m.nranges == 0);
	/* a fingerprint that does not parse still says there was an object */
	const char *g = "{\"Fingerprint\":\"garbage\",\"Dirty\":true}";
	assert_int_equal(stranded_meta_parse(g, strlen(g), &m, r, 4), 0);
	assert_true(m.had_object && !m.fp_ok);
	assert_int_equal(stranded_meta_parse("[1]", 3, &m, r, 4), -1);
	assert_int_equal(stranded_meta_parse("{", 1, &m, r, 4), -1);
}

static struct stat
st_of(off_t size, time_t sec, long nsec, mode_t mode)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_size = size;
	st.st_mtim.tv_sec = sec;
	st.st_mtim.tv_nsec = nsec;
	st.st_mode = mode;
	return st;
}

static void
decisions(void **state)
{
	struct stranded_meta over = { .dirty = 1, .had_object = 1, .fp_ok = 1, .fp_size = 10,
				      .fp_mtime = { 1000, 500 } };
	struct stranded_meta fresh = { .dirty = 1, .size_ok = 1, .size = 5, .mtime_ok = 1,
				       .mtime = { 2000, 0 } };
	struct stat local = st_of(5, 3000, 0, S_IFREG);
	struct stat same = st_of(10, 1000, 500 + 999999, S_IFREG);
	struct stat later = st_of(10, 1000, 500 + 1000001, S_IFREG);
	struct stat resized = st_of(11, 1000, 500, S_IFREG);
	struct stat dir = st_of(10, 1000, 500, S_IFDIR);
	struct stat mine = st_of(5, 2000, 0, S_IFREG);
	struct stat mine_no_meta = st_of(5, 3000, 0, S_IFREG);

	(void)state;
	/* over an object: only over that object unchanged */
	assert_int_equal(stranded_decide(&over, &local, &same), STRANDED_UPLOAD);
	assert_int_equal(stranded_decide(&over, &local, &later), STRANDED_CONFLICT);
	assert_int_equal(stranded_decide(&over, &local, &resized), STRANDED_CONFLICT);
	assert_int_equal(stranded_decide(&over, &local, &dir), STRANDED_CONFLICT);
	assert_int_equal(stranded_decide(&over, &local, NULL), STRANDED_CONFLICT); /* deleted */
	over.fp_ok = 0;
	assert_int_equal(stranded_decide(&over, &local, &same), STRANDED_CONFLICT);
	/* a new file: where nothing is, or over itself */
	assert_int_equal(stranded_decide(&fresh, &local, NULL), STRANDED_UPLOAD);
	assert_int_equal(stranded_decide(NULL, &local, NULL), STRANDED_UPLOAD);
	assert_int_equal(stranded_decide(&fresh, &local, &mine), STRANDED_UPLOAD);
	assert_int_equal(stranded_decide(&fresh, &local, &same), STRANDED_CONFLICT);
	assert_int_equal(stranded_decide(&fresh, &local, &dir), STRANDED_CONFLICT);
	assert_int_equal(stranded_decide(NULL, &local, &mine_no_meta), STRANDED_UPLOAD);
	assert_int_equal(stranded_decide(NULL, &local, &mine), STRANDED_CONFLICT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fingerprint_as_rclone_writes_it),
		cmocka_unit_test(fingerprint_garbage_refused),
		cmocka_unit_test(rfc3339_times),
		cmocka_unit_test(metadata_parsed),
		cmocka_unit_test(decisions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
