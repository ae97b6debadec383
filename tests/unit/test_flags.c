/* Unit tests of privd's command line (privd/flags.c): the original Go
 * driver's flag spellings must keep working, defaults must match it, and
 * anything odd must be refused with a message. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "flags.h"
#include "log.h"

static struct lcw_flags fl; /* large: off the stack */
static char err[512];

/* Parse a NULL-terminated list of arguments (argv[0] is supplied). */
static int
run(const char *first, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"lukscryptwalker-csi";
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(argc < 63);
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	memset(&fl, 0x5a, sizeof(fl)); /* defaults must not depend on the caller */
	return flags_parse(argc, argv, &fl, err, sizeof(err));
}

#define OK(...) assert_int_equal(run(__VA_ARGS__, NULL), 0)

static void
bad(int rc, const char *want)
{
	assert_int_equal(rc, -1);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, want);
}

#define BAD(want, ...) bad(run(__VA_ARGS__, NULL), want)

static void
test_defaults(void **state)
{
	(void)state;
	OK("--nodeid=n1");
	assert_string_equal(fl.nodeid, "n1");
	assert_string_equal(fl.endpoint, "unix:///tmp/csi.sock");
	assert_string_equal(fl.socket_path, "/tmp/csi.sock");
	assert_string_equal(fl.luks_secret_name, "luks-secret");
	assert_string_equal(fl.luks_secret_namespace, "kube-system");
	assert_string_equal(fl.luks_secret_key, "passphrase");
	assert_string_equal(fl.vfs_cache_size, "20G");
	assert_string_equal(fl.registration_health_endpoint, "127.0.0.1:9810");
	assert_int_equal(fl.frontend_uid, 65534);
	assert_int_equal(fl.frontend_gid, 65534);
	assert_int_equal(fl.log_level, LOG_INFO);
	assert_int_equal(fl.show_version, 0);
	assert_int_equal(fl.mode, MODE_NODE);
	assert_string_equal(fl.audit_log, "");
	assert_string_equal(fl.frontend_path, "");
	assert_string_equal(fl.kubelet_root, "/var/lib/kubelet");
	assert_int_equal(fl.kdf_memory_kib, 65536);
	assert_int_equal(fl.kdf_iterations, 4);
	assert_int_equal(fl.kdf_budget_mib, 1024);
}

/* The spellings Go's flag package accepts, as found in the original
 * DaemonSet and Deployment manifests. */
static void
test_go_forms(void **state)
{
	(void)state;
	OK("--endpoint=unix:///csi/csi.sock", "--nodeid=n1");
	assert_string_equal(fl.endpoint, "unix:///csi/csi.sock");
	assert_string_equal(fl.socket_path, "/csi/csi.sock");
	assert_string_equal(fl.nodeid, "n1");

	OK("-nodeid", "n2");
	assert_string_equal(fl.nodeid, "n2");
	OK("-nodeid=n3");
	assert_string_equal(fl.nodeid, "n3");
	OK("--nodeid", "n4", "-endpoint", "unix:/var/run/x.sock");
	assert_string_equal(fl.nodeid, "n4");
	assert_string_equal(fl.socket_path, "/var/run/x.sock");

	/* A value may contain '=' and start with '-'. */
	OK("--nodeid=a=b");
	assert_string_equal(fl.nodeid, "a=b");
	OK("--nodeid", "-weird");
	assert_string_equal(fl.nodeid, "-weird");

	/* The last occurrence wins, as in Go. */
	OK("--nodeid=first", "--nodeid=second");
	assert_string_equal(fl.nodeid, "second");

	OK("--nodeid=n1", "--luks-secret-name=s", "--luks-secret-namespace", "ns",
	   "-luks-secret-key=k", "--vfs-cache-size=5G",
	   "--registration-health-endpoint=0.0.0.0:1");
	assert_string_equal(fl.luks_secret_name, "s");
	assert_string_equal(fl.luks_secret_namespace, "ns");
	assert_string_equal(fl.luks_secret_key, "k");
	assert_string_equal(fl.vfs_cache_size, "5G");
	assert_string_equal(fl.registration_health_endpoint, "0.0.0.0:1");
}

static void
test_version(void **state)
{
	(void)state;
	/* Needs no nodeid and validates no endpoint. */
	OK("--version");
	assert_int_equal(fl.show_version, 1);
	OK("-version");
	assert_int_equal(fl.show_version, 1);
	OK("--version=true", "--endpoint=tcp://x");
	assert_int_equal(fl.show_version, 1);
	OK("--version=1");
	assert_int_equal(fl.show_version, 1);
	/* A boolean does not swallow the next argument. */
	OK("--version", "--nodeid=n1");
	assert_int_equal(fl.show_version, 1);
	assert_string_equal(fl.nodeid, "n1");
	/* Explicitly off means a normal start, which needs a nodeid. */
	BAD("nodeid", "--version=false");
	OK("--version=0", "--nodeid=n1");
	assert_int_equal(fl.show_version, 0);
	BAD("true or false", "--version=yes");
}

static void
test_mode(void **state)
{
	(void)state;
	OK("--nodeid=c", "--endpoint=unix:///var/lib/csi/sockets/pluginproxy/csi.sock");
	assert_int_equal(fl.mode, MODE_CONTROLLER);
	OK("--nodeid=c", "--endpoint=unix:///var/lib/kubelet/plugins/lcw/csi.sock");
	assert_int_equal(fl.mode, MODE_NODE);
	/* The hint needs the trailing slash: a sibling directory is not it. */
	OK("--nodeid=c", "--endpoint=unix:///var/lib/csi/sockets/pluginproxy2/csi.sock");
	assert_int_equal(fl.mode, MODE_NODE);

	/* Explicit --mode wins over the endpoint, in either order. */
	OK("--mode=node", "--nodeid=c",
	   "--endpoint=unix:///var/lib/csi/sockets/pluginproxy/csi.sock");
	assert_int_equal(fl.mode, MODE_NODE);
	OK("--endpoint=unix:///csi/csi.sock", "--nodeid=c", "--mode", "controller");
	assert_int_equal(fl.mode, MODE_CONTROLLER);
	/* auto falls back to detection, also after an explicit mode. */
	OK("--mode=controller", "--mode=auto", "--nodeid=c");
	assert_int_equal(fl.mode, MODE_NODE);
	OK("--mode=auto", "--nodeid=c",
	   "--endpoint=unix:///var/lib/csi/sockets/pluginproxy/csi.sock");
	assert_int_equal(fl.mode, MODE_CONTROLLER);
	BAD("--mode", "--mode=both", "--nodeid=c");
	BAD("--mode", "--mode=Node", "--nodeid=c");
}

static void
test_ours(void **state)
{
	(void)state;
	OK("--nodeid=n", "--frontend-uid=1000", "--frontend-gid", "2000",
	   "--audit-log=/var/log/lcw-audit.log", "--frontend-path=/opt/lcw/lcw-frontend");
	assert_int_equal(fl.frontend_uid, 1000);
	assert_int_equal(fl.frontend_gid, 2000);
	assert_string_equal(fl.audit_log, "/var/log/lcw-audit.log");
	assert_string_equal(fl.frontend_path, "/opt/lcw/lcw-frontend");
	OK("--nodeid=n", "--frontend-uid=2147483647");
	assert_int_equal(fl.frontend_uid, 2147483647);

	static const struct {
		const char *arg;
		int level;
	} levels[] = {
		{ "--log-level=error", LOG_ERROR }, { "--log-level=warn", LOG_WARN },
		{ "--log-level=warning", LOG_WARN }, { "--log-level=INFO", LOG_INFO },
		{ "--log-level=debug", LOG_DEBUG }, { "--log-level=0", LOG_ERROR },
		{ "--log-level=3", LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		OK("--nodeid=n", levels[i].arg);
		assert_int_equal(fl.log_level, levels[i].level);
	}
}

static void
test_errors(void **state)
{
	(void)state;
	BAD("--nodeid is required", "--endpoint=unix:///csi/csi.sock");
	BAD("--nodeid is required", "--nodeid=");
	BAD("unknown flag", "--nodeid=n", "--no-such-flag=1");
	BAD("unknown flag", "--nodeid=n", "--Nodeid=n");
	BAD("unknown flag", "---nodeid=n");
	BAD("unexpected argument", "--nodeid=n", "extra");
	BAD("bad flag", "--nodeid=n", "--");
	BAD("bad flag", "--nodeid=n", "-");
	BAD("bad flag", "--=x");

	/* A value missing at the end of the line. */
	BAD("needs a value", "--nodeid");
	BAD("needs a value", "--nodeid=n", "--endpoint");
	BAD("needs a value", "--nodeid=n", "-frontend-uid");

	/* Endpoints: only absolute unix socket paths that fit sun_path. */
	BAD("--endpoint", "--nodeid=n", "--endpoint=tcp://127.0.0.1:10000");
	BAD("--endpoint", "--nodeid=n", "--endpoint=/csi/csi.sock");
	BAD("--endpoint", "--nodeid=n", "--endpoint=unix://csi/csi.sock");
	BAD("--endpoint", "--nodeid=n", "--endpoint=unix://");
	BAD("--endpoint", "--nodeid=n", "--endpoint=unix:///csi/../etc/x.sock");

	/* Ids: numeric, not root, not negative, within int32. */
	BAD("--frontend-uid", "--nodeid=n", "--frontend-uid=0");
	BAD("--frontend-uid", "--nodeid=n", "--frontend-uid=nobody");
	BAD("--frontend-uid", "--nodeid=n", "--frontend-uid=-1");
	BAD("--frontend-uid", "--nodeid=n", "--frontend-uid=");
	BAD("--frontend-uid", "--nodeid=n", "--frontend-uid=12x");
	BAD("--frontend-uid", "--nodeid=n", "--frontend-uid=2147483648");
	BAD("--frontend-uid", "--nodeid=n", "--frontend-uid=99999999999999999999");
	BAD("--frontend-gid", "--nodeid=n", "--frontend-gid=0");

	BAD("--log-level", "--nodeid=n", "--log-level=verbose");
	BAD("--log-level", "--nodeid=n", "--log-level=4");
	BAD("--log-level", "--nodeid=n", "--log-level=");
	BAD("--log-level", "--nodeid=n", "--log-level=-1");
}

static void
test_too_long(void **state)
{
	static char nodeid[300], path[FLAG_STR_MAX + 64];
	(void)state;

	/* nodeid[256]: 255 bytes fit, 256 do not. */
	memcpy(nodeid, "--nodeid=", 9);
	memset(nodeid + 9, 'n', 255);
	nodeid[9 + 255] = '\0';
	OK(nodeid);
	assert_int_equal(strlen(fl.nodeid), 255);
	nodeid[9 + 255] = 'n';
	nodeid[9 + 256] = '\0';
	BAD("too long", nodeid);

	/* Endpoint longer than FLAG_STR_MAX. */
	strcpy(path, "--endpoint=unix:///");
	memset(path + strlen(path), 'p', FLAG_STR_MAX);
	BAD("too long", "--nodeid=n", path);

	/* Flag names longer than any known one are refused, not truncated. */
	char name[100];
	memset(name, 'x', sizeof(name) - 1);
	name[0] = name[1] = '-';
	name[sizeof(name) - 1] = '\0';
	BAD("bad flag", "--nodeid=n", name);
}

static void
test_kubelet_and_kdf(void **state)
{
	(void)state;
	OK("--nodeid=n", "--kubelet-root=/srv/kubelet", "--kdf-memory-kib=32",
	   "--kdf-iterations", "4", "--kdf-budget-mib=4096");
	assert_string_equal(fl.kubelet_root, "/srv/kubelet");
	assert_int_equal(fl.kdf_memory_kib, 32);
	assert_int_equal(fl.kdf_iterations, 4);
	assert_int_equal(fl.kdf_budget_mib, 4096);
	/* The argon2 bounds the driver enforces, inclusive. */
	OK("--nodeid=n", "--kdf-memory-kib=4194304", "--kdf-iterations=1000");
	assert_int_equal(fl.kdf_memory_kib, 4194304);
	assert_int_equal(fl.kdf_iterations, 1000);

	BAD("--kubelet-root", "--nodeid=n", "--kubelet-root=var/lib/kubelet");
	BAD("--kubelet-root", "--nodeid=n", "--kubelet-root=/");
	BAD("--kubelet-root", "--nodeid=n", "--kubelet-root=");
	BAD("--kdf-memory-kib", "--nodeid=n", "--kdf-memory-kib=31");
	BAD("--kdf-memory-kib", "--nodeid=n", "--kdf-memory-kib=4194305");
	BAD("--kdf-iterations", "--nodeid=n", "--kdf-iterations=1001");
	BAD("--kdf-iterations", "--nodeid=n", "--kdf-iterations=3"); /* argon2 minimum */
	BAD("--kdf-iterations", "--nodeid=n", "--kdf-iterations=0");
	BAD("--kdf-memory-kib", "--nodeid=n", "--kdf-memory-kib=64M");
	BAD("--kdf-budget-mib", "--nodeid=n", "--kdf-budget-mib=-1");
	BAD("needs a value", "--nodeid=n", "--kdf-budget-mib");
}

/* Builds "unix://" + "/" + filler to make a path of exactly n bytes. */
/* S3 backend flags: the original's --vfs-cache-size in rclone size syntax,
 * our cache and rclone locations. */
static void
test_vfs_cache(void **state)
{
	(void)state;
	OK("--nodeid=n1");
	assert_string_equal(fl.vfs_cache_root, "/var/lib/lukscrypt-vfs-cache");
	assert_string_equal(fl.vfs_cache_mount, "/run/lukscryptwalker/vfs-cache");
	assert_string_equal(fl.rclone_path, "/usr/bin/rclone");
	assert_true(fl.vfs_cache_bytes == 20ULL << 30);
	OK("--nodeid=n1", "--vfs-cache-size=10Gi", "--vfs-cache-root=/c", "--vfs-cache-mount=/m");
	assert_true(fl.vfs_cache_bytes == 10ULL << 30);
	assert_string_equal(fl.vfs_cache_root, "/c");
	assert_string_equal(fl.vfs_cache_mount, "/m");
	OK("--nodeid=n1", "-vfs-cache-size", "512M");
	assert_true(fl.vfs_cache_bytes == 512ULL << 20);
	BAD("--vfs-cache-size", "--nodeid=n1", "--vfs-cache-size=10GB");
	BAD("--vfs-cache-size", "--nodeid=n1", "--vfs-cache-size=lots");
	BAD("--vfs-cache-size", "--nodeid=n1", "--vfs-cache-size=1M");
	BAD("--vfs-cache-size", "--nodeid=n1", "--vfs-cache-size=off");
	BAD("absolute", "--nodeid=n1", "--vfs-cache-root=relative");
	BAD("absolute", "--nodeid=n1", "--vfs-cache-mount=/a/../b");
	BAD("absolute", "--nodeid=n1", "--rclone-path=/usr/bin/");
}

static void
make_endpoint(char *buf, size_t n)
{
	strcpy(buf, "unix://");
	buf[7] = '/';
	memset(buf + 8, 'a', n - 1);
	buf[7 + n] = '\0';
}

static void
test_endpoint_socket_path(void **state)
{
	char out[256], ep[256];
	(void)state;

	static const struct {
		const char *ep, *path;
	} good[] = {
		{ "unix:///csi/csi.sock", "/csi/csi.sock" },
		{ "unix:/csi/csi.sock", "/csi/csi.sock" },
		{ "unix:///tmp/csi.sock", "/tmp/csi.sock" },
		{ "unix:///var/lib/csi/sockets/pluginproxy/csi.sock",
		  "/var/lib/csi/sockets/pluginproxy/csi.sock" },
		{ "unix:///a..b/.hidden.sock", "/a..b/.hidden.sock" },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(out, 0, sizeof(out));
		if (endpoint_socket_path(good[i].ep, out, sizeof(out)))
			fail_msg("refused %s", good[i].ep);
		assert_string_equal(out, good[i].path);
	}

	static const char *const badep[] = {
		"", "unix", "unix:", "unix://", "unix:///", "unix://relative/x.sock",
		"unix:relative.sock", "tcp://127.0.0.1:1", "UNIX:///x.sock",
		"/abs/x.sock", "unix:///a/../b.sock", "unix:///a/./b.sock",
		"unix:///dir/", "file:///x.sock",
	};
	for (size_t i = 0; i < sizeof(badep) / sizeof(badep[0]); i++) {
		strcpy(out, "untouched");
		if (endpoint_socket_path(badep[i], out, sizeof(out)) != -1)
			fail_msg("accepted \"%s\"", badep[i]);
		assert_string_equal(out, "untouched");
	}

	/* sun_path holds 108 bytes including the NUL: 107 is the limit. */
	make_endpoint(ep, 107);
	assert_int_equal(endpoint_socket_path(ep, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 107);
	make_endpoint(ep, 108);
	assert_int_equal(endpoint_socket_path(ep, out, sizeof(out)), -1);
	/* The same limit through flags_parse. */
	char arg[300];
	make_endpoint(ep, 107);
	snprintf(arg, sizeof(arg), "--endpoint=%s", ep);
	OK("--nodeid=n", arg);
	assert_int_equal(strlen(fl.socket_path), 107);
	make_endpoint(ep, 108);
	snprintf(arg, sizeof(arg), "--endpoint=%s", ep);
	BAD("107", "--nodeid=n", arg);

	/* The caller's buffer bounds the copy too. */
	assert_int_equal(endpoint_socket_path("unix:///abcdefgh", out, 9), -1);
	assert_int_equal(endpoint_socket_path("unix:///abcdefg", out, 9), 0);
	assert_string_equal(out, "/abcdefg");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_go_forms),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_ours),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_kubelet_and_kdf),
		cmocka_unit_test(test_endpoint_socket_path),
		cmocka_unit_test(test_vfs_cache),
	};
	return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
