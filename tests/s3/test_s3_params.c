/* cmocka: the pure parts of the S3 backend (common/s3_params.c,
 * privd/s3/rclone_conf.c, the encoders of common/s3_purge.c). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc_msg.h"
#include "volparams.h"
#include "rclone_conf.h"
#include "s3_params.h"
#include "s3_purge.h"

#define SEC 1000000000ULL
#undef GIB
#define GIB (1024LL * 1024LL * 1024LL)

/* ---- durations --------------------------------------------------------- */

static void
dur_ok(const char *in, uint64_t want)
{
	uint64_t ns = 12345;
	char why[160] = "";
	int rc = lcw_duration_parse(in, &ns, why, sizeof(why));
	if (rc != 0 || ns != want)
		fail_msg("duration \"%s\": rc %d ns %llu want %llu (%s)", in, rc,
			 (unsigned long long)ns, (unsigned long long)want, why);
}

static void
dur_bad(const char *in)
{
	uint64_t ns = 777;
	char why[160] = "";
	if (lcw_duration_parse(in, &ns, why, sizeof(why)) == 0)
		fail_msg("duration \"%s\" accepted as %llu", in, (unsigned long long)ns);
	assert_int_equal(ns, 777);
	assert_true(why[0] != '\0');
}

static void
test_duration_parse(void **state)
{
	(void)state;
	dur_ok("1h30m", 5400 * SEC); /* the original read this as 1 minute */
	dur_ok("500ms", 500000000ULL); /* ... and this as 500 seconds */
	dur_ok("10s", 10 * SEC);
	dur_ok("2h45m30s", (2 * 3600 + 45 * 60 + 30) * SEC);
	dur_ok("0", 0);
	dur_ok("0s", 0);
	dur_ok("1.5h", 5400 * SEC);
	dur_ok(".5h", 1800 * SEC);
	dur_ok("1.h", 3600 * SEC);
	dur_ok("4h", 4 * 3600 * SEC);
	dur_ok("1m", 60 * SEC);
	dur_ok("3s", 3 * SEC);
	dur_ok("1d", 86400 * SEC); /* the original accepted "d" */
	dur_ok("1d12h", 129600 * SEC);
	dur_ok("1.5d", 129600 * SEC);
	dur_ok("1ns", 1);
	dur_ok("1us", 1000);
	dur_ok("1\xc2\xb5s", 1000);
	dur_ok("1\xce\xbcs", 1000);
	dur_ok("1h1h", 7200 * SEC); /* Go allows repeats */
	dur_ok("1.000000000000000000001s", SEC);
	dur_ok("0.1s", 100000000ULL);
	dur_ok("2562047h", 2562047ULL * 3600ULL * SEC);
	dur_ok("9223372036s", 9223372036ULL * SEC);

	dur_bad("");
	dur_bad("30");	   /* rclone 1.60's flags: missing unit */
	dur_bad("1");
	dur_bad("1H");	   /* units are case sensitive */
	dur_bad("1h 30m"); /* no spaces */
	dur_bad(" 1h");
	dur_bad("1h ");
	dur_bad("-5s");
	dur_bad("+5s");
	dur_bad("5M"); /* months in newer rclone, minutes to a human: refused */
	dur_bad("1w");
	dur_bad("1y");
	dur_bad("off");
	dur_bad("abc");
	dur_bad("h");
	dur_bad(".");
	dur_bad(".h");
	dur_bad("1..5h");
	dur_bad("1h30");
	dur_bad("2562048h");
	dur_bad("99999999999999999999999h");
	dur_bad("1e3s");
	dur_bad("0x10s");
	dur_bad("1h\n");
	dur_bad("12345678901234567890123456789012345678901234567890123456789012345h");
}

static void
fmt_is(uint64_t ns, const char *want)
{
	char out[64];
	uint64_t back;
	assert_int_equal(lcw_duration_format(ns, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_int_equal(lcw_duration_parse(out, &back, NULL, 0), 0);
	assert_int_equal(back, ns);
}

static void
test_duration_format(void **state)
{
	char small[4];
	(void)state;
	fmt_is(0, "0s");
	fmt_is(5400 * SEC, "1h30m");
	fmt_is(500000000ULL, "500ms");
	fmt_is(1500000000ULL, "1s500ms");
	fmt_is(86400 * SEC, "24h");
	fmt_is(1, "1ns");
	fmt_is(1001, "1us1ns");
	fmt_is(3 * SEC, "3s");
	fmt_is(60 * SEC, "1m");
	fmt_is((uint64_t)INT64_MAX, "2562047h47m16s854ms775us807ns");
	assert_int_equal(lcw_duration_format((uint64_t)INT64_MAX + 1, small, sizeof(small)), -1);
	assert_int_equal(lcw_duration_format(5400 * SEC, small, sizeof(small)), -1);
}

/* ---- sizes --------------------------------------------------------------- */

static void
size_ok(const char *in, int64_t want)
{
	int64_t b = 12345;
	char why[160] = "";
	int rc = lcw_size_parse(in, true, &b, why, sizeof(why));
	if (rc != 0 || b != want)
		fail_msg("size \"%s\": rc %d got %lld want %lld (%s)", in, rc, (long long)b,
			 (long long)want, why);
}

static void
size_bad(const char *in)
{
	int64_t b = 777;
	char why[160] = "";
	if (lcw_size_parse(in, true, &b, why, sizeof(why)) == 0)
		fail_msg("size \"%s\" accepted as %lld", in, (long long)b);
	assert_int_equal(b, 777);
	assert_true(why[0] != '\0');
}

static void
test_size_parse(void **state)
{
	int64_t b;
	(void)state;
	size_ok("10G", 10 * GIB);
	size_ok("10Gi", 10 * GIB);
	size_ok("10GiB", 10 * GIB);
	size_ok("10Gib", 10 * GIB);
	size_ok("10g", 10 * GIB);
	size_ok("10gi", 10 * GIB);
	size_ok("5G", 5 * GIB);
	size_ok("512M", 512LL << 20);
	size_ok("512Mi", 512LL << 20);
	size_ok("1.5G", 3 * GIB / 2);
	size_ok("1.5Gi", 3 * GIB / 2);
	size_ok(".5G", GIB / 2);
	size_ok("100K", 100 * 1024);
	size_ok("100k", 100 * 1024);
	size_ok("100Ki", 100 * 1024);
	size_ok("1T", 1LL << 40);
	size_ok("1P", 1LL << 50);
	size_ok("102B", 102);
	size_ok("1b", 1);
	size_ok("0.1K", 102); /* truncated like rclone */
	size_ok("0", 0);
	size_ok("off", S3P_SIZE_OFF);
	size_ok("OFF", S3P_SIZE_OFF);
	size_ok("8191P", 8191LL << 50);

	size_bad("");
	size_bad("10GB"); /* rclone 1.60 refuses it, and it reads as decimal */
	size_bad("10KB");
	size_bad("10"); /* rclone would read KiB: refused as ambiguous */
	size_bad("1073741824");
	size_bad("-1");
	size_bad("+1G");
	size_bad("1e3");
	size_bad("0x10");
	size_bad(" 5G");
	size_bad("5G ");
	size_bad("5G5");
	size_bad("10Bi");
	size_bad("10BiB");
	size_bad("10GIB");
	size_bad("10X");
	size_bad("G");
	size_bad(".G");
	size_bad("8192P"); /* 2^63 */
	size_bad("99999999999999999999999G");
	assert_int_equal(lcw_size_parse("off", false, &b, NULL, 0), -1);
}

static void
test_size_format(void **state)
{
	char out[32];
	(void)state;
	assert_int_equal(lcw_size_format(5 * GIB, out, sizeof(out)), 0);
	assert_string_equal(out, "5G");
	assert_int_equal(lcw_size_format(3 * GIB / 2, out, sizeof(out)), 0);
	assert_string_equal(out, "1536M");
	assert_int_equal(lcw_size_format(100 * 1024, out, sizeof(out)), 0);
	assert_string_equal(out, "100K");
	assert_int_equal(lcw_size_format(1000, out, sizeof(out)), 0);
	assert_string_equal(out, "1000B");
	assert_int_equal(lcw_size_format(0, out, sizeof(out)), 0);
	assert_string_equal(out, "0");
	assert_int_equal(lcw_size_format(S3P_SIZE_OFF, out, sizeof(out)), 0);
	assert_string_equal(out, "off");
	assert_int_equal(lcw_size_format(1LL << 50, out, sizeof(out)), 0);
	assert_string_equal(out, "1P");
	assert_int_equal(lcw_size_format(1LL << 60, out, sizeof(out)), 0);
	assert_string_equal(out, "1024P");
	assert_int_equal(lcw_size_format(-2, out, sizeof(out)), -1);
	assert_int_equal(lcw_size_format(5 * GIB, out, 2), -1);
}

/* ---- prefix ------------------------------------------------------------------ */

static void
test_prefix(void **state)
{
	static const char *good[] = {"", "a", "my-app", "my-app/data", "a.b/c_d/e~f", "A1/(x)!*'+=@,",
				     "...a", "a..b", NULL};
	static const char *bad[] = {"/a", "a/", "/", "a//b", "..", ".", "a/../b", "./a", "a/..",
				    "a/.", "a b", "a\nb", "a\tb", "caf\xc3\xa9", "a:b", "a%b",
				    "a\\b", "a\"b", "a#b", "a?b", "a`b", NULL};
	char why[160], long_ok[S3P_PREFIX_MAX + 1], too_long[S3P_PREFIX_MAX + 2];
	size_t i;
	(void)state;
	for (i = 0; good[i]; i++)
		if (s3_prefix_valid(good[i], why, sizeof(why)) != 0)
			fail_msg("prefix \"%s\" refused: %s", good[i], why);
	for (i = 0; bad[i]; i++) {
		why[0] = '\0';
		if (s3_prefix_valid(bad[i], why, sizeof(why)) == 0)
			fail_msg("prefix \"%s\" accepted", bad[i]);
		assert_true(why[0] != '\0');
	}
	memset(long_ok, 'a', S3P_PREFIX_MAX);
	long_ok[S3P_PREFIX_MAX] = '\0';
	assert_int_equal(s3_prefix_valid(long_ok, NULL, 0), 0);
	memset(too_long, 'a', S3P_PREFIX_MAX + 1);
	too_long[S3P_PREFIX_MAX + 1] = '\0';
	assert_int_equal(s3_prefix_valid(too_long, NULL, 0), -1);
}

/* ---- StorageClass parameters ------------------------------------------------- */

static void
test_params_defaults(void **state)
{
	struct s3_vol_params p;
	char err[256] = "";
	const char *unknown = "x";
	(void)state;
	assert_int_equal(s3_params_parse(&p, NULL, NULL, 0, &unknown, err, sizeof(err)), 0);
	assert_null(unknown);
	assert_false(p.is_s3);
	assert_int_equal(p.cache_mode, RCLONE_CACHE_FULL);
	assert_int_equal(p.cache_max_age_ns, 4 * 3600 * SEC);
	assert_int_equal(p.cache_max_size, 5 * GIB);
	assert_int_equal(p.cache_poll_ns, 60 * SEC);
	assert_int_equal(p.write_back_ns, 3 * SEC);
	assert_int_equal(p.dir_cache_time_ns, 3600 * SEC);
	assert_int_equal(p.attr_timeout_ns, 3600 * SEC);
	assert_int_equal(p.read_chunk_streams, -1);
	assert_string_equal(p.prefix, "");
	assert_string_equal(p.secret_name, "");
}

static void
test_params_full(void **state)
{
	const char *k[] = {"storage-backend", "s3-secret-name", "s3-secret-namespace",
			   "s3-path-prefix", "rclone-vfs-cache-mode", "rclone-vfs-cache-max-age",
			   "rclone-vfs-cache-max-size", "rclone-vfs-cache-poll-interval",
			   "rclone-vfs-write-back", "rclone-dir-cache-time", "rclone-attr-timeout",
			   "rclone-vfs-read-chunk-streams", "fsGroup", "passphraseKey", "capacity",
			   "rclone-cache-dir"};
	const char *v[] = {"s3", "s3-creds", "kube-system", "team-a/app", "writes", "1h30m",
			   "10Gi", "500ms", "0", "2h45m30s", "10s", "4", "2000", "passphrase",
			   "1073741824", "/ignored"};
	struct s3_vol_params p;
	char err[256] = "";
	const char *unknown = NULL;
	(void)state;
	assert_int_equal(s3_params_parse(&p, k, v, sizeof(k) / sizeof(k[0]), &unknown, err,
					 sizeof(err)),
			 0);
	assert_true(p.is_s3);
	assert_string_equal(p.secret_name, "s3-creds");
	assert_string_equal(p.secret_namespace, "kube-system");
	assert_string_equal(p.prefix, "team-a/app");
	assert_int_equal(p.cache_mode, RCLONE_CACHE_WRITES);
	assert_int_equal(p.cache_max_age_ns, 5400 * SEC);
	assert_int_equal(p.cache_max_size, 10 * GIB);
	assert_int_equal(p.cache_poll_ns, 500000000ULL);
	assert_int_equal(p.write_back_ns, 0); /* the original dropped "0" */
	assert_int_equal(p.dir_cache_time_ns, (2 * 3600 + 45 * 60 + 30) * SEC);
	assert_int_equal(p.attr_timeout_ns, 10 * SEC);
	assert_int_equal(p.read_chunk_streams, 4);
	assert_non_null(unknown);
	assert_string_equal(unknown, "rclone-cache-dir");
}

static void
param_bad(const char *key, const char *value)
{
	struct s3_vol_params p;
	char err[512] = "";
	s3_params_init(&p);
	if (s3_params_apply(&p, key, value, err, sizeof(err)) != -1)
		fail_msg("%s=\"%s\" accepted", key, value);
	/* the message names the parameter */
	if (strstr(err, key) == NULL)
		fail_msg("message for %s lacks the key: %s", key, err);
}

static void
test_params_bad(void **state)
{
	struct s3_vol_params p;
	char err[512] = "";
	(void)state;
	param_bad("rclone-vfs-cache-mode", "FULL");
	param_bad("rclone-vfs-cache-mode", "");
	param_bad("rclone-vfs-cache-mode", "on");
	param_bad("rclone-vfs-cache-max-age", "1h 30m");
	param_bad("rclone-vfs-cache-max-age", "forever");
	param_bad("rclone-vfs-cache-max-size", "10GB");
	param_bad("rclone-vfs-cache-max-size", "lots");
	param_bad("rclone-vfs-cache-poll-interval", "0");
	param_bad("rclone-vfs-cache-poll-interval", "1x");
	param_bad("rclone-vfs-write-back", "-1s");
	param_bad("rclone-dir-cache-time", "1hour");
	param_bad("rclone-attr-timeout", "nonsense");
	param_bad("rclone-vfs-read-chunk-streams", "-1");
	param_bad("rclone-vfs-read-chunk-streams", "abc");
	param_bad("rclone-vfs-read-chunk-streams", "1025");
	param_bad("rclone-vfs-read-chunk-streams", "");
	param_bad("s3-path-prefix", "../other");
	param_bad("s3-path-prefix", "/abs");
	param_bad("s3-path-prefix", "x//y");
	param_bad("s3-secret-name", "Bad_Name");
	param_bad("s3-secret-name", "");
	param_bad("s3-secret-namespace", "a.b");

	/* the value is quoted, escaped and bounded */
	s3_params_init(&p);
	assert_int_equal(s3_params_apply(&p, "rclone-vfs-cache-max-size", "1\n2\"\\", err,
					 sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "1\\x0a2\\x22\\x5c"));
	assert_null(strchr(err, '\n'));

	/* backend switch: exactly "s3" */
	s3_params_init(&p);
	assert_int_equal(s3_params_apply(&p, "storage-backend", "S3", err, sizeof(err)), 0);
	assert_false(p.is_s3);
	assert_int_equal(s3_params_apply(&p, "storage-backend", "s3", err, sizeof(err)), 0);
	assert_true(p.is_s3);
	/* not ours */
	assert_int_equal(s3_params_apply(&p, "fsGroup", "x", err, sizeof(err)), 1);
	assert_int_equal(s3_params_apply(&p, "rclone-typo", "x", err, sizeof(err)), 2);
	/* a failed apply leaves the previous value */
	assert_int_equal(s3_params_apply(&p, "rclone-vfs-write-back", "5s", err, sizeof(err)), 0);
	assert_int_equal(s3_params_apply(&p, "rclone-vfs-write-back", "5", err, sizeof(err)), -1);
	assert_int_equal(p.write_back_ns, 5 * SEC);
}

/* ---- the Secret -------------------------------------------------------------- */

static void
set_ok(struct s3_secret *s, const char *k, const char *v)
{
	char err[256] = "";
	if (s3_secret_set(s, k, v, strlen(v), err, sizeof(err)) != 0)
		fail_msg("%s refused: %s", k, err);
}

static void
fill_secret(struct s3_secret *s, const char *endpoint)
{
	assert_int_equal(s3_secret_init(s), 0);
	set_ok(s, "s3-bucket", "bkt");
	set_ok(s, "s3-region", "us-east-1");
	set_ok(s, "s3-access-key-id", "S3RVER");
	set_ok(s, "s3-secret-access-key", "LCWLEAK-unit-secret/+=");
	if (endpoint)
		set_ok(s, "s3-endpoint", endpoint);
}

static void
test_secret(void **state)
{
	struct s3_secret s;
	char err[512];
	static const char *req[] = {"s3-bucket", "s3-region", "s3-access-key-id",
				    "s3-secret-access-key"};
	size_t i, j;
	(void)state;

	/* each missing required key is named */
	for (i = 0; i < 4; i++) {
		assert_int_equal(s3_secret_init(&s), 0);
		for (j = 0; j < 4; j++)
			if (j != i)
				set_ok(&s, req[j], j == 0 ? "bkt" : "v");
		err[0] = '\0';
		assert_int_equal(s3_secret_check(&s, err, sizeof(err)), -1);
		assert_non_null(strstr(err, req[i]));
		s3_secret_free(&s);
	}
	/* empty values allowed, as in the original (not the bucket) */
	assert_int_equal(s3_secret_init(&s), 0);
	set_ok(&s, "s3-bucket", "bkt");
	set_ok(&s, "s3-region", "");
	set_ok(&s, "s3-access-key-id", "");
	set_ok(&s, "s3-secret-access-key", "");
	assert_int_equal(s3_secret_check(&s, err, sizeof(err)), 0);
	assert_int_equal(s3_secret_set(&s, "s3-bucket", "", 0, err, sizeof(err)), -1);
	assert_int_equal(s3_secret_set(&s, "s3-bucket", "a/b", 3, err, sizeof(err)), -1);
	assert_int_equal(s3_secret_set(&s, "s3-bucket", "a\0b", 3, err, sizeof(err)), -1);
	assert_int_equal(s3_secret_set(&s, "s3-region", "us east", 7, err, sizeof(err)), -1);
	/* secret values that rclone's config cannot carry: refused, never quoted */
	assert_int_equal(s3_secret_set(&s, "s3-secret-access-key", "LCWLEAK x", 9, err,
				       sizeof(err)),
			 -1);
	assert_null(strstr(err, "LCWLEAK"));
	assert_non_null(strstr(err, "s3-secret-access-key"));
	assert_int_equal(s3_secret_set(&s, "s3-secret-access-key", "a%(type)s", 9, err,
				       sizeof(err)),
			 -1);
	assert_int_equal(s3_secret_set(&s, "s3-secret-access-key", "\"\"\"x", 4, err, sizeof(err)),
			 -1);
	assert_int_equal(s3_secret_set(&s, "s3-secret-access-key", "a\nb", 3, err, sizeof(err)),
			 -1);
	assert_int_equal(s3_secret_set(&s, "s3-access-key-id", "a`b", 3, err, sizeof(err)), -1);
	assert_int_equal(s3_secret_set(&s, "unrelated", "x", 1, err, sizeof(err)), 1);
	/* the secret is NUL-terminated in its locked page */
	set_ok(&s, "s3-secret-access-key", "abcdef");
	set_ok(&s, "s3-secret-access-key", "xy");
	assert_int_equal(s.secret_access_key.len, 2);
	assert_string_equal((char *)s.secret_access_key.bytes, "xy");
	/* force_path_style: only exactly "true" */
	set_ok(&s, "s3-force-path-style", "True");
	assert_false(s.force_path_style);
	set_ok(&s, "s3-force-path-style", "1");
	assert_false(s.force_path_style);
	set_ok(&s, "s3-force-path-style", "true ");
	assert_false(s.force_path_style);
	set_ok(&s, "s3-force-path-style", "true");
	assert_true(s.force_path_style);
	s3_secret_free(&s);
	s3_secret_free(&s); /* twice is fine */
}

static void
test_endpoint(void **state)
{
	struct s3_endpoint ep;
	char why[160];
	static const char *bad[] = {"ftp://x", "http://", "https://", "http://a b",
				    "http://user@host", "http://h:0", "http://h:65536", "http://h:x",
				    "http://h?x=1", "http://h#f", "http://-h", "http://h/a?b",
				    "http://h//a", "file:///etc/passwd", "http://[zz]", NULL};
	size_t i;
	(void)state;
	assert_int_equal(s3_endpoint_parse("http://127.0.0.1:9000", &ep, why, sizeof(why)), 0);
	assert_false(ep.https);
	assert_string_equal(ep.host, "127.0.0.1");
	assert_int_equal(ep.port, 9000);
	assert_string_equal(ep.path, "");
	assert_int_equal(s3_endpoint_parse("https://s3.example.com", &ep, why, sizeof(why)), 0);
	assert_true(ep.https);
	assert_int_equal(ep.port, 0);
	assert_int_equal(s3_endpoint_parse("minio.local:9000", &ep, why, sizeof(why)), 0);
	assert_true(ep.https); /* as rclone: no scheme means https */
	assert_string_equal(ep.host, "minio.local");
	assert_int_equal(s3_endpoint_parse("HTTPS://h/base/", &ep, why, sizeof(why)), 0);
	assert_string_equal(ep.path, "/base");
	assert_int_equal(s3_endpoint_parse("http://[::1]:9000", &ep, why, sizeof(why)), 0);
	assert_string_equal(ep.host, "[::1]");
	for (i = 0; bad[i]; i++)
		if (s3_endpoint_parse(bad[i], &ep, why, sizeof(why)) == 0)
			fail_msg("endpoint \"%s\" accepted", bad[i]);
}

static void
test_path_style(void **state)
{
	struct s3_secret s;
	(void)state;
	fill_secret(&s, NULL);
	assert_false(s3_use_path_style(&s));
	set_ok(&s, "s3-force-path-style", "true");
	assert_true(s3_use_path_style(&s));
	set_ok(&s, "s3-force-path-style", "false");
	assert_false(s3_use_path_style(&s));
	set_ok(&s, "s3-bucket", "my.bucket");
	assert_true(s3_use_path_style(&s));
	set_ok(&s, "s3-bucket", "My_Bucket");
	assert_true(s3_use_path_style(&s));
	set_ok(&s, "s3-bucket", "bkt");
	set_ok(&s, "s3-endpoint", "http://127.0.0.1:1");
	assert_true(s3_use_path_style(&s)); /* provider Other: rclone's default */
	s3_secret_free(&s);
}

/* ---- names and paths ---------------------------------------------------------- */

static void
test_vfs_name(void **state)
{
	char out[512];
	(void)state;
	assert_int_equal(rclone_vfs_name_valid("pvc-1", "pvc-1"), 0);
	assert_int_equal(rclone_vfs_name_valid("pvc-1.g1", "pvc-1"), 0);
	assert_int_equal(rclone_vfs_name_valid("pvc-1.g16", "pvc-1"), 0);
	assert_int_equal(rclone_vfs_name_valid("pvc-1.g17", "pvc-1"), -1);
	assert_int_equal(rclone_vfs_name_valid("pvc-1.g0", "pvc-1"), -1);
	assert_int_equal(rclone_vfs_name_valid("pvc-1.g01", "pvc-1"), -1);
	assert_int_equal(rclone_vfs_name_valid("pvc-1.g", "pvc-1"), -1);
	assert_int_equal(rclone_vfs_name_valid("pvc-1.g1x", "pvc-1"), -1);
	assert_int_equal(rclone_vfs_name_valid("pvc-2", "pvc-1"), -1);
	assert_int_equal(rclone_vfs_name_valid("pvc-1x", "pvc-1"), -1);
	assert_int_equal(rclone_vfs_name_valid("../x", "../x"), -1);

	assert_int_equal(s3_volume_path("bkt", "", "pvc-1", out, sizeof(out)), 0);
	assert_string_equal(out, "bkt/volumes/pvc-1");
	assert_int_equal(s3_volume_path("bkt", "team/app", "pvc-1", out, sizeof(out)), 0);
	assert_string_equal(out, "bkt/team/app/volumes/pvc-1");
	assert_int_equal(s3_volume_path("bkt", "../x", "pvc-1", out, sizeof(out)), -1);
	assert_int_equal(s3_volume_path("bkt", "", "..", out, sizeof(out)), -1);
	assert_int_equal(s3_volume_path("", "", "pvc-1", out, sizeof(out)), -1);
	assert_int_equal(s3_volume_path("bkt", "", "pvc-1", out, 10), -1);
}

/* ---- obscure ---------------------------------------------------------------- */

static void
test_obscure_vectors(void **state)
{
	/* rclone's own test vectors (fs/config/obscure/obscure_test.go) and one
	 * made with `openssl enc -aes-256-ctr` and checked with `rclone reveal`. */
	static const struct {
		const char *in, *iv, *want;
	} v[] = {
		{"", "aaaaaaaaaaaaaaaa", "YWFhYWFhYWFhYWFhYWFhYQ"},
		{"potato", "aaaaaaaaaaaaaaaa", "YWFhYWFhYWFhYWFhYWFhYXMaGgIlEQ"},
		{"potato", "bbbbbbbbbbbbbbbb", "YmJiYmJiYmJiYmJiYmJiYp3gcEWbAw"},
		{"potato",
		 "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
		 "AAECAwQFBgcICQoLDA0OD3HwE0RzvQ"},
	};
	char out[128];
	uint8_t back[128];
	size_t i, l, bl;
	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(rclone_obscure((const uint8_t *)v[i].in, strlen(v[i].in),
						(const uint8_t *)v[i].iv, out, sizeof(out), &l),
				 0);
		assert_string_equal(out, v[i].want);
		assert_int_equal(l, strlen(v[i].want));
		assert_int_equal(rclone_reveal(v[i].want, strlen(v[i].want), back, sizeof(back), &bl),
				 0);
		assert_int_equal(bl, strlen(v[i].in));
		assert_memory_equal(back, v[i].in, bl);
	}
	/* rclone's error cases, and more */
	assert_int_equal(rclone_reveal("YmJiYmJiYmJiYmJiYmJiYp*gcEWbAw", 30, back, sizeof(back), &bl),
			 -1);
	assert_int_equal(rclone_reveal("aGVsbG8", 7, back, sizeof(back), &bl), -1);
	assert_int_equal(rclone_reveal("", 0, back, sizeof(back), &bl), -1);
	assert_int_equal(rclone_reveal("YWFhYWFhYWFhYWFhYWFhYQ=", 23, back, sizeof(back), &bl), -1);
	assert_int_equal(rclone_reveal("YWFhYWFhYWFhYWFhYWFhYXMaGgIlEQ", 30, back, 5, &bl), -1);
	/* no room */
	assert_int_equal(rclone_obscure((const uint8_t *)"potato", 6, NULL, out,
					RCLONE_OBSCURED_LEN(6), &l),
			 -1);
}

static void
test_obscure_roundtrip(void **state)
{
	struct lcw_lockbuf in, enc, dec;
	size_t n, l, bl, i;
	(void)state;
	assert_int_equal(lockbuf_alloc(&in, 8192), 0);
	assert_int_equal(lockbuf_alloc(&enc, 16384), 0);
	assert_int_equal(lockbuf_alloc(&dec, 16384), 0);
	for (i = 0; i < 8192; i++)
		in.p[i] = (uint8_t)(i * 131 + 7);
	for (n = 0; n <= 8192; n = n < 200 ? n + 1 : n * 2) {
		char a[RCLONE_OBSCURED_LEN(8192) + 1];
		assert_int_equal(rclone_obscure(in.p, n, NULL, (char *)enc.p, enc.cap, &l), 0);
		assert_int_equal(l, RCLONE_OBSCURED_LEN(n));
		assert_int_equal(strlen((char *)enc.p), l);
		assert_int_equal(strspn((char *)enc.p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), l);
		assert_int_equal(rclone_reveal((char *)enc.p, l, dec.p, dec.cap, &bl), 0);
		assert_int_equal(bl, n);
		assert_memory_equal(dec.p, in.p, n);
		/* random IVs: two obscurings differ */
		memcpy(a, enc.p, l + 1);
		assert_int_equal(rclone_obscure(in.p, n, NULL, (char *)enc.p, enc.cap, &l), 0);
		assert_string_not_equal(a, (char *)enc.p);
	}
	lockbuf_free(&in);
	lockbuf_free(&enc);
	lockbuf_free(&dec);
	lockbuf_free(&dec);
}

/* ---- Go's json.Marshal UTF-8 ------------------------------------------------- */

static void
san_is(const char *in, size_t n, const char *want, size_t wn)
{
	uint8_t out[64];
	size_t l = 999;
	assert_int_equal(go_json_utf8_sanitize((const uint8_t *)in, n, out, sizeof(out), &l), 0);
	assert_int_equal(l, wn);
	assert_memory_equal(out, want, wn);
}

#define R "\xef\xbf\xbd"
static void
test_utf8_sanitize(void **state)
{
	uint8_t out[4];
	size_t l;
	(void)state;
	san_is("abc", 3, "abc", 3);
	san_is("a\nb\0c", 5, "a\nb\0c", 5);
	san_is("\xff", 1, R, 3);
	san_is("\xe2\x82\xac", 3, "\xe2\x82\xac", 3);		/* euro sign */
	san_is("\xe2\x82-", 3, R R "-", 7);			/* truncated: one per byte */
	san_is("\xed\xa0\x80", 3, R R R, 9);			/* surrogate */
	san_is("\xc0\x80", 2, R R, 6);				/* overlong NUL */
	san_is("\xe0\x80\xaf", 3, R R R, 9);			/* overlong */
	san_is("\xf4\x90\x80\x80", 4, R R R R, 12);		/* > U+10FFFF */
	san_is("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 4);	/* emoji */
	san_is("\x80x", 2, R "x", 4);				/* lone continuation */
	san_is(R, 3, R, 3);					/* U+FFFD itself */
	san_is("\xf0\x9f\x98", 3, R R R, 9);			/* cut 4-byte */
	assert_int_equal(go_json_utf8_sanitize((const uint8_t *)"\xff\xff", 2, out, sizeof(out), &l),
			 -1);
}

/* ---- config text ---------------------------------------------------------------- */

/* Value of "key = value" inside [section]; NULL if absent. */
static const char *
conf_get(const char *text, const char *section, const char *key, char *out, size_t outlen)
{
	char hdr[256];
	const char *p, *end, *line;
	size_t kl = strlen(key);

	snprintf(hdr, sizeof(hdr), "\n[%s]\n", section);
	p = strstr(text, hdr);
	if (p == NULL)
		return NULL;
	p += strlen(hdr);
	end = strstr(p, "\n[");
	if (end == NULL)
		end = p + strlen(p);
	for (line = p; line < end;) {
		const char *nl = strchr(line, '\n');
		if (nl == NULL || nl > end)
			nl = end;
		if ((size_t)(nl - line) > kl + 3 && strncmp(line, key, kl) == 0 &&
		    strncmp(line + kl, " = ", 3) == 0) {
			size_t vl = (size_t)(nl - line) - kl - 3;
			if (vl >= outlen)
				return NULL;
			memcpy(out, line + kl + 3, vl);
			out[vl] = '\0';
			return out;
		}
		line = nl + 1;
	}
	return NULL;
}

static void
reveal_is(const char *obscured, const void *want, size_t wn)
{
	uint8_t back[20000];
	size_t bl;
	assert_int_equal(rclone_reveal(obscured, strlen(obscured), back, sizeof(back), &bl), 0);
	assert_int_equal(bl, wn);
	assert_memory_equal(back, want, wn);
}

static void
test_conf_build(void **state)
{
	struct s3_vol_params p;
	struct s3_secret s;
	struct lcw_secret pass;
	struct lcw_lockbuf buf;
	char err[256], v[20000];
	const char *text;
	(void)state;

	s3_params_init(&p);
	fill_secret(&s, NULL);
	assert_int_equal(secret_alloc(&pass), 0);
	assert_int_equal(secret_set(&pass, "pass phrase\nsecond line", 23), 0);
	assert_int_equal(lockbuf_alloc(&buf, RCLONE_CONF_BUF_SIZE), 0);

	/* AWS, no prefix */
	assert_int_equal(rclone_conf_build("pvc-1", "pvc-1", &p, &s, &pass, &buf, err, sizeof(err)), 0);
	text = (const char *)buf.p;
	assert_int_equal(strlen(text), buf.len);
	assert_string_equal(conf_get(text, "pvc-1-s3", "type", v, sizeof(v)), "s3");
	assert_string_equal(conf_get(text, "pvc-1-s3", "provider", v, sizeof(v)), "AWS");
	assert_string_equal(conf_get(text, "pvc-1-s3", "env_auth", v, sizeof(v)), "false");
	assert_string_equal(conf_get(text, "pvc-1-s3", "access_key_id", v, sizeof(v)), "S3RVER");
	assert_string_equal(conf_get(text, "pvc-1-s3", "secret_access_key", v, sizeof(v)),
			    "LCWLEAK-unit-secret/+=");
	assert_string_equal(conf_get(text, "pvc-1-s3", "region", v, sizeof(v)), "us-east-1");
	assert_null(conf_get(text, "pvc-1-s3", "endpoint", v, sizeof(v)));
	assert_null(conf_get(text, "pvc-1-s3", "force_path_style", v, sizeof(v)));
	assert_string_equal(conf_get(text, "pvc-1", "type", v, sizeof(v)), "crypt");
	assert_string_equal(conf_get(text, "pvc-1", "remote", v, sizeof(v)),
			    "pvc-1-s3:bkt/volumes/pvc-1/files");
	assert_string_equal(conf_get(text, "pvc-1", "filename_encryption", v, sizeof(v)),
			    "standard");
	assert_string_equal(conf_get(text, "pvc-1", "directory_name_encryption", v, sizeof(v)),
			    "true");
	/* the whole secret, newline included; password2 salted with the volume id */
	reveal_is(conf_get(text, "pvc-1", "password", v, sizeof(v)), "pass phrase\nsecond line", 23);
	reveal_is(conf_get(text, "pvc-1", "password2", v, sizeof(v)),
		  "pass phrase\nsecond line-pvc-1", 29);
	/* no plaintext passphrase anywhere in the text */
	assert_null(strstr(text, "pass phrase"));

	/* endpoint, path style, prefix, generation name */
	set_ok(&s, "s3-endpoint", "http://127.0.0.1:9000");
	set_ok(&s, "s3-force-path-style", "true");
	snprintf(p.prefix, sizeof(p.prefix), "team/app");
	assert_int_equal(rclone_conf_build("pvc-1.g2", "pvc-1", &p, &s, &pass, &buf, err,
					   sizeof(err)),
			 0);
	text = (const char *)buf.p;
	assert_string_equal(conf_get(text, "pvc-1.g2-s3", "provider", v, sizeof(v)), "Other");
	assert_string_equal(conf_get(text, "pvc-1.g2-s3", "endpoint", v, sizeof(v)),
			    "http://127.0.0.1:9000");
	assert_string_equal(conf_get(text, "pvc-1.g2-s3", "force_path_style", v, sizeof(v)),
			    "true");
	assert_string_equal(conf_get(text, "pvc-1.g2", "remote", v, sizeof(v)),
			    "pvc-1.g2-s3:bkt/team/app/volumes/pvc-1/files");
	reveal_is(conf_get(text, "pvc-1.g2", "password2", v, sizeof(v)),
		  "pass phrase\nsecond line-team/app", 32);

	/* invalid UTF-8 becomes U+FFFD, as through the original's json.Marshal */
	assert_int_equal(secret_set(&pass, "a\xff" "b", 3), 0);
	assert_int_equal(rclone_conf_build("pvc-1", "pvc-1", &p, &s, &pass, &buf, err, sizeof(err)), 0);
	reveal_is(conf_get((char *)buf.p, "pvc-1", "password", v, sizeof(v)), "a" R "b", 5);
	reveal_is(conf_get((char *)buf.p, "pvc-1", "password2", v, sizeof(v)), "a" R "b-team/app",
		  14);

	/* the largest passphrase fits */
	memset(pass.bytes, 0xff, LCW_SECRET_MAX);
	pass.len = LCW_SECRET_MAX;
	memset(p.prefix, 'p', S3P_PREFIX_MAX);
	p.prefix[S3P_PREFIX_MAX] = '\0';
	assert_int_equal(rclone_conf_build("pvc-1", "pvc-1", &p, &s, &pass, &buf, err, sizeof(err)), 0);
	p.prefix[0] = '\0';

	/* refusals */
	pass.len = 0;
	assert_int_equal(rclone_conf_build("pvc-1", "pvc-1", &p, &s, &pass, &buf, err, sizeof(err)),
			 -1);
	assert_int_equal(buf.len, 0);
	assert_int_equal(secret_set(&pass, "pw", 2), 0);
	assert_int_equal(rclone_conf_build("pvc-2", "pvc-1", &p, &s, &pass, &buf, err, sizeof(err)),
			 -1);
	assert_int_equal(rclone_conf_build("../x", "../x", &p, &s, &pass, &buf, err, sizeof(err)), -1);
	snprintf(p.prefix, sizeof(p.prefix), "../x");
	assert_int_equal(rclone_conf_build("pvc-1", "pvc-1", &p, &s, &pass, &buf, err, sizeof(err)),
			 -1);
	p.prefix[0] = '\0';
	{
		struct lcw_lockbuf small;
		assert_int_equal(lockbuf_alloc(&small, 4096), 0);
		memset(pass.bytes, 'x', 2000);
		pass.len = 2000;
		assert_int_equal(rclone_conf_build("pvc-1", "pvc-1", &p, &s, &pass, &small, err,
						   sizeof(err)),
				 -1);
		assert_int_equal(small.len, 0);
		for (size_t i = 0; i < small.cap; i++)
			if (small.p[i] != 0)
				fail_msg("buffer not wiped at %zu", i);
		lockbuf_free(&small);
	}
	/* a secret without a required key */
	{
		struct s3_secret t;
		assert_int_equal(s3_secret_init(&t), 0);
		set_ok(&t, "s3-bucket", "bkt");
		assert_int_equal(rclone_conf_build("pvc-1", "pvc-1", &p, &t, &pass, &buf, err,
						   sizeof(err)),
				 -1);
		assert_non_null(strstr(err, "s3-region"));
		s3_secret_free(&t);
	}
	lockbuf_free(&buf);
	secret_free(&pass);
	s3_secret_free(&s);
}

/* ---- argv -------------------------------------------------------------------------- */

static void
argv_is(const struct rclone_argv *a, const char *const *want)
{
	int i;
	for (i = 0; want[i]; i++) {
		if (i >= a->argc)
			fail_msg("argv too short at %d (%s)", i, want[i]);
		if (strcmp(a->argv[i], want[i]) != 0)
			fail_msg("argv[%d] = \"%s\", want \"%s\"", i, a->argv[i], want[i]);
	}
	if (a->argc != i)
		fail_msg("argv has %d entries, want %d (extra: %s)", a->argc, i, a->argv[i]);
	assert_null(a->argv[a->argc]);
}

/* rclone mounts only on privd's private mountpoint of that volume. */
static void
test_mountpoint_valid(void **state)
{
	(void)state;
	assert_int_equal(rclone_mountpoint_valid("/run/lukscryptwalker/rclone-mnt/pvc-1", "pvc-1"), 0);
	assert_int_equal(rclone_mountpoint_valid("/tmp/x/rclone-mnt/pvc-1", "pvc-1"), 0);
	static const char *const bad[] = {
		"/var/lib/kubelet/plugins/kubernetes.io/csi/pv/pvc-1/globalmount",
		"/run/lukscryptwalker/rclone-mnt/pvc-2",
		"/run/lukscryptwalker/rclone-mnt/xpvc-1",
		"/run/lukscryptwalker/rclone-mnt/pvc-1/",
		"/run/lukscryptwalker/rclone-mnt/../rclone-mnt/pvc-1",
		"/run/lukscryptwalker//rclone-mnt/pvc-1",
		"/run/lukscryptwalker/xrclone-mnt/pvc-1",
		"rclone-mnt/pvc-1",
		"/rclone-mnt/pvc-1\n",
		"/etc",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rclone_mountpoint_valid(bad[i], "pvc-1") == 0)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(rclone_mountpoint_valid("/r/rclone-mnt/..", ".."), -1);
	assert_int_equal(rclone_mountpoint_valid("/r/rclone-mnt/pvc-1", NULL), -1);
}

static void
test_mount_argv(void **state)
{
	struct s3_vol_params p;
	struct rclone_mount_opts o = {.cache_dir = "/var/lib/lukscrypt-vfs-cache/mnt",
				      .mountpoint = "/run/lukscryptwalker/rclone-mnt/pvc-1",
				      .umask = -1};
	struct rclone_argv *a = malloc(sizeof(*a));
	char err[256];
	static const char *const def[] = {
		"rclone", "mount", "pvc-1:", "/proc/self/root/run/lukscryptwalker/rclone-mnt/pvc-1",
		"--config", "/proc/self/fd/3", "--cache-dir", "/var/lib/lukscrypt-vfs-cache/mnt",
		"--vfs-cache-mode", "full", "--vfs-cache-max-age", "4h",
		"--vfs-cache-max-size", "5G", "--vfs-cache-poll-interval", "1m",
		"--vfs-write-back", "3s", "--dir-cache-time", "1h", "--attr-timeout", "1h",
		"--allow-other", "--use-server-modtime", "--umask", "0022", NULL};
	static const char *const custom[] = {
		"/usr/bin/rclone", "mount", "pvc-1.g3:", "/proc/self/root/m", "--config", "/proc/self/fd/3",
		"--cache-dir", "/c", "--vfs-cache-mode", "writes", "--vfs-cache-max-age", "1h30m",
		"--vfs-cache-max-size", "off", "--vfs-cache-poll-interval", "500ms",
		"--vfs-write-back", "0s", "--dir-cache-time", "2h45m30s", "--attr-timeout", "10s",
		"--allow-other", "--uid", "2000", "--gid", "2000", "--umask", "0027",
		"--vfs-disk-space-total-size", "20G", "--read-only",
		"--vfs-read-chunk-streams", "4", "--log-level", "INFO", NULL};
	(void)state;
	assert_non_null(a);
	s3_params_init(&p);
	assert_int_equal(rclone_mount_argv("pvc-1", &p, &o, a, err, sizeof(err)), 0);
	argv_is(a, def);
	assert_int_equal(a->ignored, 0);

	/* fsGroup: uid/gid and a group-friendly umask */
	o.has_fsgroup = true;
	o.fsgroup = 2000;
	assert_int_equal(rclone_mount_argv("pvc-1", &p, &o, a, err, sizeof(err)), 0);
	assert_string_equal(a->argv[a->argc - 1], "0007");
	assert_string_equal(a->argv[a->argc - 3], "2000");
	assert_string_equal(a->argv[a->argc - 5], "2000");

	/* every parameter reaches its flag */
	{
		const char *k[] = {"rclone-vfs-cache-mode", "rclone-vfs-cache-max-age",
				   "rclone-vfs-cache-max-size", "rclone-vfs-cache-poll-interval",
				   "rclone-vfs-write-back", "rclone-dir-cache-time",
				   "rclone-attr-timeout", "rclone-vfs-read-chunk-streams"};
		const char *v[] = {"writes", "1.5h", "off", "500ms", "0", "2h45m30s", "10s", "4"};
		assert_int_equal(s3_params_parse(&p, k, v, 8, NULL, err, sizeof(err)), 0);
	}
	o.rclone_path = "/usr/bin/rclone";
	o.cache_dir = "/c";
	o.mountpoint = "/m";
	o.umask = 027;
	o.no_server_modtime = true;
	o.disk_space_total = 20 * GIB;
	o.read_only = true;
	o.chunk_streams_supported = true;
	o.log_level = "INFO";
	assert_int_equal(rclone_mount_argv("pvc-1.g3", &p, &o, a, err, sizeof(err)), 0);
	argv_is(a, custom);

	/* rclone 1.60 has no --vfs-read-chunk-streams: reported, not silent */
	o.chunk_streams_supported = false;
	assert_int_equal(rclone_mount_argv("pvc-1", &p, &o, a, err, sizeof(err)), 0);
	assert_int_equal(a->ignored, RCLONE_IGNORED_CHUNK_STREAMS);
	for (int i = 0; i < a->argc; i++)
		assert_null(strstr(a->argv[i], "chunk-streams"));
	p.read_chunk_streams = 0; /* sequential: what 1.60 does anyway */
	assert_int_equal(rclone_mount_argv("pvc-1", &p, &o, a, err, sizeof(err)), 0);
	assert_int_equal(a->ignored, 0);

	/* refusals */
	o.cache_dir = "relative";
	assert_int_equal(rclone_mount_argv("pvc-1", &p, &o, a, err, sizeof(err)), -1);
	o.cache_dir = "/c";
	o.mountpoint = "/m\nx";
	assert_int_equal(rclone_mount_argv("pvc-1", &p, &o, a, err, sizeof(err)), -1);
	o.mountpoint = "/m";
	assert_int_equal(rclone_mount_argv("../x", &p, &o, a, err, sizeof(err)), -1);
	o.log_level = "TRACE";
	assert_int_equal(rclone_mount_argv("pvc-1", &p, &o, a, err, sizeof(err)), -1);
	o.log_level = NULL;
	o.umask = 01000;
	assert_int_equal(rclone_mount_argv("pvc-1", &p, &o, a, err, sizeof(err)), -1);
	free(a);
}

/* ---- purge encoders ------------------------------------------------------------------ */

static void
test_uri_and_query(void **state)
{
	char out[512];
	(void)state;
	assert_int_equal(s3_uri_encode("a b/c~d_e.f-g", 13, false, out, sizeof(out)), 0);
	assert_string_equal(out, "a%20b%2Fc~d_e.f-g");
	assert_int_equal(s3_uri_encode("a b/c", 5, true, out, sizeof(out)), 0);
	assert_string_equal(out, "a%20b/c");
	assert_int_equal(s3_uri_encode("\xff+=&", 4, false, out, sizeof(out)), 0);
	assert_string_equal(out, "%FF%2B%3D%26");
	assert_int_equal(s3_uri_encode("abc", 3, false, out, 3), -1);
	assert_int_equal(s3_list_query("volumes/pvc-1/", 1000, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "encoding-type=url&list-type=2&max-keys=1000&prefix=volumes%2Fpvc-1%2F");
	assert_int_equal(s3_list_query("p/volumes/v/", 2, "tok/+=", out, sizeof(out)), 0);
	assert_string_equal(out, "continuation-token=tok%2F%2B%3D&encoding-type=url&list-type=2&"
				 "max-keys=2&prefix=p%2Fvolumes%2Fv%2F");
	assert_int_equal(s3_list_query("x", 0, NULL, out, sizeof(out)), -1);
	assert_int_equal(s3_list_query("x", 1001, NULL, out, sizeof(out)), -1);
	assert_string_equal(s3_result_name(S3_ERR_AUTH), "S3_ERR_AUTH");
	assert_string_equal(s3_result_name(999), "S3_ERR_UNKNOWN");
}

static void
test_purge_refuses(void **state)
{
	struct s3_secret s;
	char err[256];
	(void)state;
	fill_secret(&s, "http://127.0.0.1:1");
	assert_int_equal(s3_purge_volume(&s, "../x", "pvc-1", NULL, NULL, err, sizeof(err)),
			 S3_ERR_INVALID_ARG);
	assert_int_equal(s3_purge_volume(&s, "", "..", NULL, NULL, err, sizeof(err)),
			 S3_ERR_INVALID_ARG);
	assert_int_equal(s3_purge_volume(&s, "", "a/b", NULL, NULL, err, sizeof(err)),
			 S3_ERR_INVALID_ARG);
	assert_int_equal(s3_purge_volume(&s, NULL, "pvc-1", NULL, NULL, err, sizeof(err)),
			 S3_ERR_INVALID_ARG);
	s3_secret_free(&s);
	assert_int_equal(s3_secret_init(&s), 0);
	set_ok(&s, "s3-bucket", "bkt");
	assert_int_equal(s3_purge_volume(&s, "", "pvc-1", NULL, NULL, err, sizeof(err)),
			 S3_ERR_INVALID_ARG);
	assert_non_null(strstr(err, "s3-region"));
	s3_secret_free(&s);
}


/* ---- drain check over a fake cache dir ------------------------------------------------ */

static void
put(const char *dir, const char *rel, const char *text)
{
	char p[4096];
	FILE *f;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_cache_dirty(void **state)
{
	char dir[] = "/tmp/lcw-s3-cache-XXXXXX", p[4096], err[256];
	unsigned long n = 99;
	int fd;
	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	/* no vfsMeta at all, then no entry for this remote: nothing pending */
	assert_int_equal(rclone_cache_dirty(fd, "pvc-1", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	snprintf(p, sizeof(p), "%s/vfsMeta", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(rclone_cache_dirty(fd, "pvc-1", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	snprintf(p, sizeof(p), "%s/vfsMeta/pvc-1", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/vfsMeta/pvc-1/d", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/vfsMeta/pvc-2", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	/* as rclone 1.60 writes them */
	put(dir, "vfsMeta/pvc-1/clean", "{\n\t\"ModTime\": \"x\",\n\t\"Size\": 5,\n\t\"Dirty\": false\n}\n");
	put(dir, "vfsMeta/pvc-1/d/dirty", "{\n\t\"Size\": 5,\n\t\"Dirty\": true\n}\n");
	put(dir, "vfsMeta/pvc-2/dirty", "{\"Dirty\": true}");
	assert_int_equal(rclone_cache_dirty(fd, "pvc-1", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rclone_cache_dirty(fd, "pvc-2", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	/* half-written metadata counts as pending */
	put(dir, "vfsMeta/pvc-1/partial", "{\"Dirty\": fa");
	assert_int_equal(rclone_cache_dirty(fd, "pvc-1", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	/* symlinks are not followed */
	snprintf(p, sizeof(p), "%s/vfsMeta/pvc-1/link", dir);
	assert_int_equal(symlink("../pvc-2", p), 0);
	assert_int_equal(rclone_cache_dirty(fd, "pvc-1", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rclone_cache_dirty(fd, "../x", &n, err, sizeof(err)), -1);
	close(fd);
	{
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* ---- the tuning as it travels to privd and the spawner ------------------ */

static void
test_tuning_round_trip(void **state)
{
	static const char *const k[] = { "rclone-vfs-cache-mode", "rclone-vfs-cache-max-age",
		"rclone-vfs-cache-max-size", "rclone-vfs-cache-poll-interval", "rclone-vfs-write-back",
		"rclone-dir-cache-time", "rclone-attr-timeout", "rclone-vfs-read-chunk-streams" };
	static const char *const v[] = { "writes", "1h30m", "10Gi", "500ms", "0", "2m", "1s", "4" };
	struct s3_vol_params p, q;
	struct ipc_s3_tuning t;
	char err[256];
	(void)state;

	assert_int_equal(s3_params_parse(&p, k, v, 8, NULL, err, sizeof(err)), 0);
	s3_params_to_tuning(&p, &t);
	assert_int_equal(s3_params_from_tuning(&t, &q), 0);
	assert_int_equal(q.cache_mode, RCLONE_CACHE_WRITES);
	assert_true(q.cache_max_age_ns == 5400 * SEC);
	assert_true(q.cache_max_size == 10 * GIB);
	assert_true(q.cache_poll_ns == SEC / 2);
	assert_true(q.write_back_ns == 0);
	assert_true(q.dir_cache_time_ns == 120 * SEC);
	assert_true(q.attr_timeout_ns == SEC);
	assert_int_equal(q.read_chunk_streams, 4);

	/* "off" and "unset" survive the trip. */
	s3_params_init(&p);
	p.cache_max_size = S3P_SIZE_OFF;
	s3_params_to_tuning(&p, &t);
	assert_int_equal(s3_params_from_tuning(&t, &q), 0);
	assert_true(q.cache_max_size == S3P_SIZE_OFF);
	assert_int_equal(q.read_chunk_streams, -1);

	/* The receiving side checks again. */
	struct ipc_s3_tuning bad = t;
	bad.cache_mode = 4;
	assert_int_equal(s3_params_from_tuning(&bad, &q), -1);
	bad = t;
	bad.cache_poll_ns = 0;
	assert_int_equal(s3_params_from_tuning(&bad, &q), -1);
	bad = t;
	bad.chunk_streams = S3P_CHUNK_STREAMS_MAX + 1;
	bad.has_chunk_streams = 1;
	assert_int_equal(s3_params_from_tuning(&bad, &q), -1);
	bad = t;
	bad.cache_max_size = (uint64_t)INT64_MAX + 1;
	assert_int_equal(s3_params_from_tuning(&bad, &q), -1);
}

/* The cache volume's mapping is luks-vfs-cache: no CSI volume may be
 * called "vfs-cache", or its mapping would be the cache's. */
static void
test_cache_id_reserved(void **state)
{
	(void)state;
	assert_int_equal(volid_valid(VFS_CACHE_ID), -1);
	assert_int_equal(volid_valid("vfs-cache2"), 0);
	assert_int_equal(volid_valid("pvc-vfs-cache"), 0);
	assert_int_equal(rclone_vfs_name_valid("vfs-cache", "vfs-cache"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_size_format),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_params_defaults),
		cmocka_unit_test(test_params_full),
		cmocka_unit_test(test_params_bad),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_path_style),
		cmocka_unit_test(test_vfs_name),
		cmocka_unit_test(test_obscure_vectors),
		cmocka_unit_test(test_obscure_roundtrip),
		cmocka_unit_test(test_utf8_sanitize),
		cmocka_unit_test(test_conf_build),
		cmocka_unit_test(test_mount_argv),
		cmocka_unit_test(test_uri_and_query),
		cmocka_unit_test(test_purge_refuses),
		cmocka_unit_test(test_cache_dirty),
		cmocka_unit_test(test_tuning_round_trip),
		cmocka_unit_test(test_cache_id_reserved),
		cmocka_unit_test(test_mountpoint_valid),
	};
	return cmocka_run_group_tests_name("s3_params", tests, NULL, NULL);
}
