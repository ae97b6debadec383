/* End-to-end tests of common/k8s_client.c against tests/k8s/fake_apiserver.py
 * (started by tests/k8s/run.sh). Real HTTPS with a throwaway CA; every case
 * checks the result code, and where it matters the message, the decoded
 * bytes and the requests the server recorded.
 *
 * Environment (set by run.sh):
 *   K8S_TEST_DIR    work directory: ca.crt, token-old, token-new, not-a-ca.pem
 *   K8S_TEST_PORTS  "<main port> <wrong-CA port> <dead port>"
 *   K8S_TEST_LOG    the server's JSON-lines request log
 * Output: "ok - name" / "not ok - name: detail", then
 * "k8s: N passed, N failed"; exit status 1 on any failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "k8s_client.h"
#include "secmem.h"

#define DRIVER "lukscryptwalker.csi.k8s.io"
#define CONT2 "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDcxMSwic3RhcnQiOiJwdmMtYmJiLyJ9+/="

static int passed, failed;
static const char *dir, *logpath;
static int main_port, wrong_port, dead_port;
static char token_dir[512], ca_path[512];

static void
ok(const char *name)
{
	printf("ok - %s\n", name);
	passed++;
}

static void __attribute__((format(printf, 2, 3)))
notok(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("not ok - %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
}

static int
expect_rc(const char *name, int rc, int want, const char *err)
{
	if (rc == want)
		return 1;
	notok(name, "got %s, want %s (%s)", k8s_result_name(rc), k8s_result_name(want), err);
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- fixtures ------------------------------------------------------------- */

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	if (f) {
		fseek(f, 0, SEEK_END);
		n = (size_t)ftell(f);
		rewind(f);
		buf = calloc(1, n + 1);
		if (buf && fread(buf, 1, n, f) != n) {
			free(buf);
			buf = NULL;
		}
		fclose(f);
	}
	if (len)
		*len = n;
	return buf;
}

static int
write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(data, f);
	return fclose(f);
}

/* The kubelet's projected-volume layout: token -> ..data/token, and ..data
 * -> a timestamped directory that is swapped atomically on rotation. */
static int
token_dir_make(const char *d, const char *token_file, const char *gen)
{
	char p[1024], tmp[1024];
	char *tok = slurp(token_file, NULL);
	int rc = -1;

	if (!tok)
		return -1;
	mkdir(d, 0700);
	snprintf(p, sizeof(p), "%s/..%s", d, gen);
	if (mkdir(p, 0700) && errno != EEXIST)
		goto out;
	snprintf(p, sizeof(p), "%s/..%s/token", d, gen);
	if (write_file(p, tok))
		goto out;
	snprintf(p, sizeof(p), "..%s", gen);
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", d);
	unlink(tmp);
	if (symlink(p, tmp))
		goto out;
	snprintf(p, sizeof(p), "%s/..data", d);
	if (rename(tmp, p))
		goto out;
	snprintf(p, sizeof(p), "%s/token", d);
	if (symlink("..data/token", p) && errno != EEXIST)
		goto out;
	rc = 0;
out:
	free(tok);
	return rc;
}

static struct k8s_client *
client_at(const char *name, const char *suffix, const char *tokdir, long connect_ms,
	  long total_ms)
{
	char base[256], tok[600], err[256] = "";
	struct k8s_client_opts o = { 0 };
	struct k8s_client *c = NULL;
	int rc;

	snprintf(base, sizeof(base), "https://127.0.0.1:%d%s", main_port, suffix);
	snprintf(tok, sizeof(tok), "%s/token", tokdir);
	o.api_base = base;
	o.token_path = tok;
	o.ca_path = ca_path;
	o.connect_timeout_ms = connect_ms;
	o.timeout_ms = total_ms;
	o.page_limit = 2;
	rc = k8s_client_new(&o, &c, err, sizeof(err));
	if (rc != K8S_OK)
		notok(name, "client: %s %s", k8s_result_name(rc), err);
	return c;
}

static struct k8s_client *
client(const char *name, const char *suffix)
{
	return client_at(name, suffix, token_dir, 3000, 10000);
}

/* ---- the server's request log --------------------------------------------- */

struct logq {
	const char *server, *path, *auth;
};

/* Count logged requests matching q; with nth >= 0, copy that match's
 * "continue" query value (or "") into cont. */
static int
log_count(const struct logq *q, int nth, char *cont, size_t contlen)
{
	char *all = slurp(logpath, NULL), *save = NULL;
	int n = 0;

	if (!all)
		return 0;
	for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct json_object *o = json_tokener_parse(line), *v, *qv;
		int match = o != NULL;
#define FIELD_IS(k, want) \
	(!(want) || (json_object_object_get_ex(o, k, &v) && strcmp(json_object_get_string(v), want) == 0))
		match = match && FIELD_IS("server", q->server) && FIELD_IS("path", q->path) &&
			FIELD_IS("auth", q->auth);
#undef FIELD_IS
		if (match && n == nth && cont) {
			cont[0] = '\0';
			if (json_object_object_get_ex(o, "query", &qv) &&
			    json_object_object_get_ex(qv, "continue", &v))
				snprintf(cont, contlen, "%s",
					 json_object_get_string(json_object_array_get_idx(v, 0)));
		}
		n += match;
		json_object_put(o);
	}
	free(all);
	return n;
}

static int
log_lines(void)
{
	struct logq q = { 0 };
	return log_count(&q, -1, NULL, 0);
}

/* ---- pure helpers --------------------------------------------------------- */

static void
t_base64(void)
{
	static const struct {
		const char *in, *out;
		long want;
	} v[] = {
		{ "", "", 0 },		     { "Zg==", "f", 1 },	 { "Zm8=", "fo", 2 },
		{ "Zm9v", "foo", 3 },	     { "Zm9vYg==", "foob", 4 },	 { "Zm9vYmE=", "fooba", 5 },
		{ "Zm9vYmFy", "foobar", 6 }, { "Zg=", NULL, -1 },	 { "Z===", NULL, -1 },
		{ "Zg==Zg==", NULL, -1 },    { "Zm9v\n", NULL, -1 },	 { "Zm-v", NULL, -1 },
		{ "Zm9_", NULL, -1 },	     { "=Zm9", NULL, -1 },	 { "Zm9vYmFy", NULL, -2 },
	};
	unsigned char out[8];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t cap = v[i].want == -2 ? 5 : sizeof(out);
		long n = k8s_base64_decode(v[i].in, strlen(v[i].in), out, cap);
		if (n != v[i].want || (n > 0 && memcmp(out, v[i].out, (size_t)n) != 0)) {
			notok("base64 vectors", "'%s' -> %ld, want %ld", v[i].in, n, v[i].want);
			return;
		}
	}
	ok("base64 vectors (RFC 4648, padding, alphabet, capacity)");
}

static void
t_validators(void)
{
	char long_name[300];

	memset(long_name, 'a', sizeof(long_name));
	long_name[254] = '\0';
	if (k8s_dns1123_label_valid("kube-system") || !k8s_dns1123_label_valid("Kube") ||
	    !k8s_dns1123_label_valid("-a") || !k8s_dns1123_label_valid("a.b") ||
	    !k8s_dns1123_label_valid("") ||
	    !k8s_dns1123_label_valid("a234567890123456789012345678901234567890123456789012345678901234"))
		notok("namespace charset", "DNS-1123 label rules");
	else
		ok("namespace charset (DNS-1123 label)");
	if (k8s_dns1123_subdomain_valid("db-pass.v2") || !k8s_dns1123_subdomain_valid("../x") ||
	    !k8s_dns1123_subdomain_valid("a..b") || !k8s_dns1123_subdomain_valid("a.-b") ||
	    !k8s_dns1123_subdomain_valid("a/b") || !k8s_dns1123_subdomain_valid(long_name) ||
	    !k8s_dns1123_subdomain_valid("a%2F"))
		notok("secret name charset", "DNS-1123 subdomain rules");
	else
		ok("secret name charset (DNS-1123 subdomain, 253 max)");
	if (k8s_secret_key_valid("tls.crt") || k8s_secret_key_valid("S3_key-1") ||
	    !k8s_secret_key_valid("a/b") || !k8s_secret_key_valid("..") ||
	    !k8s_secret_key_valid("") || !k8s_secret_key_valid("a b"))
		notok("secret key charset", "[-._a-zA-Z0-9]+ rules");
	else
		ok("secret key charset");
}

/* ---- configuration -------------------------------------------------------- */

static int
try_new(const char *base, const char *tok, const char *ca, struct k8s_client **c, char *err,
	size_t errlen)
{
	struct k8s_client_opts o = { .api_base = base, .token_path = tok, .ca_path = ca };
	return k8s_client_new(&o, c, err, errlen);
}

static void
t_config(void)
{
	char tok[600], bad_ca[600], err[256] = "", base[128];
	struct k8s_client *c = NULL;
	int rc;

	snprintf(tok, sizeof(tok), "%s/token", token_dir);
	snprintf(bad_ca, sizeof(bad_ca), "%s/not-a-ca.pem", dir);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", main_port);
	rc = try_new(base, tok, ca_path, &c, err, sizeof(err));
	if (expect_rc("plain http base refused", rc, K8S_ERR_CONFIG, err) && !c)
		ok("plain http base refused");
	rc = try_new("https://127.0.0.1:1/", tok, ca_path, &c, err, sizeof(err));
	if (expect_rc("trailing slash base refused", rc, K8S_ERR_CONFIG, err))
		ok("trailing slash base refused");
	snprintf(base, sizeof(base), "https://127.0.0.1:%d", main_port);
	rc = try_new(base, "/nonexistent/token", ca_path, &c, err, sizeof(err));
	if (expect_rc("missing token file", rc, K8S_ERR_CONFIG, err))
		ok("missing token file -> config error");
	rc = try_new(base, tok, bad_ca, &c, err, sizeof(err));
	if (expect_rc("CA without certificate", rc, K8S_ERR_CONFIG, err))
		ok("CA file without a PEM certificate -> config error");

	unsetenv("KUBERNETES_SERVICE_HOST");
	rc = try_new(NULL, tok, ca_path, &c, err, sizeof(err));
	if (expect_rc("no in-cluster env", rc, K8S_ERR_CONFIG, err))
		ok("no KUBERNETES_SERVICE_HOST -> config error");
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	rc = try_new(NULL, tok, ca_path, &c, err, sizeof(err));
	if (expect_rc("in-cluster IPv4", rc, K8S_OK, err)) {
		if (strcmp(k8s_client_base_url(c), "https://10.96.0.1:443") == 0)
			ok("in-cluster IPv4 base URL");
		else
			notok("in-cluster IPv4 base URL", "%s", k8s_client_base_url(c));
		k8s_client_free(c);
	}
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	rc = try_new(NULL, tok, ca_path, &c, err, sizeof(err));
	if (expect_rc("in-cluster IPv6", rc, K8S_OK, err)) {
		if (strcmp(k8s_client_base_url(c), "https://[fd00:10:96::1]:443") == 0)
			ok("in-cluster IPv6 base URL has brackets");
		else
			notok("in-cluster IPv6 base URL has brackets", "%s", k8s_client_base_url(c));
		k8s_client_free(c);
	}
	setenv("KUBERNETES_SERVICE_HOST", "evil.example/x?", 1);
	rc = try_new(NULL, tok, ca_path, &c, err, sizeof(err));
	if (expect_rc("malformed service host", rc, K8S_ERR_CONFIG, err))
		ok("malformed KUBERNETES_SERVICE_HOST refused");
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "99999", 1);
	rc = try_new(NULL, tok, ca_path, &c, err, sizeof(err));
	if (expect_rc("malformed service port", rc, K8S_ERR_CONFIG, err))
		ok("malformed KUBERNETES_SERVICE_PORT refused");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

/* ---- Secrets -------------------------------------------------------------- */

static int
get_secret(struct k8s_client *c, const char *ns, const char *name, const char *key,
	   struct lcw_secret *s, char *err, size_t errlen)
{
	err[0] = '\0';
	return k8s_get_secret_value(c, ns, name, key, s, err, errlen);
}

static void
expect_value(struct k8s_client *c, const char *tname, const char *key, const void *want,
	     size_t wantlen)
{
	struct lcw_secret s = { 0 };
	char err[512];
	int rc;

	if (secret_alloc(&s)) {
		notok(tname, "secret_alloc: %s", strerror(errno));
		return;
	}
	rc = get_secret(c, "ns1", "db-pass", key, &s, err, sizeof(err));
	if (expect_rc(tname, rc, K8S_OK, err)) {
		if (s.len == wantlen && memcmp(s.bytes, want, wantlen) == 0)
			ok(tname);
		else
			notok(tname, "decoded %zu bytes, want %zu (or bytes differ)", s.len, wantlen);
	}
	secret_free(&s);
}

static void
t_secret_values(struct k8s_client *c)
{
	unsigned char bin[261], max[4096];
	struct logq q = { "main", "/api/v1/namespaces/ns1/secrets/db-pass", "old" };
	int before = log_count(&q, -1, NULL, 0);

	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	memcpy(bin + 256, "\x00\xff\n\r\x00", 5);
	for (int i = 0; i < 4096; i++)
		max[i] = (unsigned char)((i * 7 + 3) % 256);
	expect_value(c, "secret value decoded exactly", "passphrase", "correct horse battery staple", 28);
	expect_value(c, "secret value with newlines kept whole", "withnl", "line1\nline2\n", 12);
	expect_value(c, "secret value with all 256 byte values and NULs", "binary", bin, sizeof(bin));
	expect_value(c, "empty secret value", "empty", "", 0);
	expect_value(c, "secret value of exactly LCW_SECRET_MAX bytes", "max", max, sizeof(max));
	if (log_count(&q, -1, NULL, 0) == before + 5)
		ok("requests carried 'Authorization: Bearer <token>'");
	else
		notok("requests carried 'Authorization: Bearer <token>'", "%d authorised requests logged",
		      log_count(&q, -1, NULL, 0) - before);
	struct logq any = { "main", "/api/v1/namespaces/ns1/secrets/db-pass", NULL };
	if (log_count(&any, -1, NULL, 0) == log_count(&q, -1, NULL, 0))
		ok("no request without the right bearer token");
	else
		notok("no request without the right bearer token", "unauthorised requests logged");
}

struct secret_case {
	const char *name, *ns, *secret, *key;
	int want;
	const char *needle; /* substring the message must contain */
};

static const struct secret_case secret_cases[] = {
	{ "missing key -> clear error", "ns1", "db-pass", "nosuchkey", K8S_ERR_KEY_MISSING,
	  "no key 'nosuchkey'" },
	{ "secret without data -> key missing", "ns1", "nodata", "passphrase", K8S_ERR_KEY_MISSING,
	  "no data" },
	{ "value over 4096 bytes refused", "ns1", "db-pass", "toolarge", K8S_ERR_VALUE_TOO_LARGE,
	  "exceeds 4096" },
	{ "value not base64", "ns1", "odd-values", "notb64", K8S_ERR_SHAPE, "not base64" },
	{ "value not a string", "ns1", "odd-values", "num", K8S_ERR_SHAPE, "not a string" },
	{ "padding in the middle refused", "ns1", "odd-values", "badpad", K8S_ERR_SHAPE, "base64" },
	{ "unpadded base64 refused", "ns1", "odd-values", "short", K8S_ERR_SHAPE, "base64" },
	{ "answer of another kind", "ns1", "configmap", "passphrase", K8S_ERR_SHAPE, "not a v1 Secret" },
	{ "403 surfaces the RBAC message", "locked", "db-pass", "passphrase", K8S_ERR_FORBIDDEN,
	  "cannot get resource \"secrets\" in API group \"\" in the namespace \"locked\"" },
	{ "403 names the service account", "locked", "db-pass", "passphrase", K8S_ERR_FORBIDDEN,
	  "system:serviceaccount:kube-system:lukscryptwalker-node" },
	{ "404 -> NOT_FOUND", "ns1", "nope", "passphrase", K8S_ERR_NOT_FOUND,
	  "secrets \"nope\" not found" },
	{ "404 namespace -> NOT_FOUND", "ns2", "db-pass", "passphrase", K8S_ERR_NOT_FOUND,
	  "namespaces \"ns2\" not found" },
	{ "500 -> HTTP error with status and message", "ns1", "boom", "passphrase", K8S_ERR_HTTP,
	  "HTTP 500 InternalError: Internal error occurred: etcdserver: request timed out" },
	{ "429 -> HTTP error", "ns1", "teapot", "passphrase", K8S_ERR_HTTP, "HTTP 429" },
	{ "truncated body (Content-Length larger than sent)", "ns1", "truncated", "passphrase",
	  K8S_ERR_TRUNCATED, "truncated" },
	{ "oversized body (Content-Length) refused", "ns1", "oversized", "passphrase",
	  K8S_ERR_TOO_LARGE, "larger than 4194304" },
	{ "oversized chunked body aborted", "ns1", "oversized-chunked", "passphrase",
	  K8S_ERR_TOO_LARGE, "larger than 4194304" },
	{ "invalid JSON (trailing comma)", "ns1", "badjson", "passphrase", K8S_ERR_BAD_JSON,
	  "invalid JSON" },
	{ "data after the JSON value", "ns1", "garbage-after", "passphrase", K8S_ERR_BAD_JSON,
	  "invalid JSON" },
	{ "HTML instead of JSON", "ns1", "html", "passphrase", K8S_ERR_BAD_JSON, "invalid JSON" },
	{ "empty body", "ns1", "emptybody", "passphrase", K8S_ERR_BAD_JSON, "empty" },
	{ "redirect not followed", "ns1", "redirect", "passphrase", K8S_ERR_HTTP,
	  "redirects are not followed" },
};

static int
all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void
t_secret_errors(struct k8s_client *c)
{
	struct lcw_secret s = { 0 };
	char err[512];

	if (secret_alloc(&s)) {
		notok("secret errors", "secret_alloc: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(secret_cases) / sizeof(secret_cases[0]); i++) {
		const struct secret_case *t = &secret_cases[i];
		memset(s.bytes, 0xAA, LCW_SECRET_MAX); /* stale content must be wiped */
		s.len = 7;
		int rc = get_secret(c, t->ns, t->secret, t->key, &s, err, sizeof(err));
		if (!expect_rc(t->name, rc, t->want, err))
			continue;
		if (!strstr(err, t->needle))
			notok(t->name, "message '%s' lacks '%s'", err, t->needle);
		else if (s.len != 0 || !all_zero(s.bytes, LCW_SECRET_MAX))
			notok(t->name, "output not wiped on error");
		else
			ok(t->name);
	}
	secret_free(&s);
}

/* ---- every key of a Secret in one request --------------------------------- */

#define MULTI_KEYS 16

struct collected {
	int calls, stop_at; /* stop_at: 1-based call that returns nonzero, 0 never */
	const char *reason; /* written into errbuf when stopping */
	char *errbuf;
	size_t errlen;
	char keys[MULTI_KEYS][64];
	unsigned char *vals[MULTI_KEYS];
	size_t lens[MULTI_KEYS];
	int unlocked, stale; /* val outside a locked no-dump mapping; old bytes behind it */
};

/* ASan's mlock interceptor is a no-op, so the sanitizer build can only
 * check that the page is kept out of core dumps. */
#ifdef __SANITIZE_ADDRESS__
#define MLOCK_WORKS 0
#else
#define MLOCK_WORKS 1
#endif

/* VmFlags of the mapping holding p: "lo" (mlocked) and "dd" (not dumped). */
static int
locked_nodump(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, good = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (unsigned long)p >= lo && (unsigned long)p < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			good = (!MLOCK_WORKS || strstr(line, " lo ")) && strstr(line, " dd ");
			break;
		}
	}
	fclose(f);
	return good;
}

static int
collect(void *ud, const char *key, const void *val, size_t len)
{
	struct collected *col = ud;
	const unsigned char *v = val;
	int i = col->calls++;

	if (i < MULTI_KEYS) {
		snprintf(col->keys[i], sizeof(col->keys[i]), "%s", key);
		col->vals[i] = malloc(len + 1);
		if (col->vals[i])
			memcpy(col->vals[i], val, len);
		col->lens[i] = len;
	}
	if (i == 0 && !locked_nodump(val))
		col->unlocked = 1;
	/* The scratch page is LCW_SECRET_MAX bytes; what follows this value must
	 * not be the tail of an earlier, longer one. */
	for (size_t k = len; k < LCW_SECRET_MAX && k < len + 512; k++)
		if (v[k])
			col->stale = 1;
	if (col->stop_at && col->calls == col->stop_at) {
		if (col->reason && col->errbuf)
			snprintf(col->errbuf, col->errlen, "%s", col->reason);
		return 1;
	}
	return 0;
}

static void
collected_free(struct collected *col)
{
	for (int i = 0; i < MULTI_KEYS; i++)
		free(col->vals[i]);
	memset(col, 0, sizeof(*col));
}

static int
get_values(struct k8s_client *c, const char *ns, const char *name, struct collected *col,
	   char *err, size_t errlen)
{
	col->errbuf = err;
	col->errlen = errlen;
	err[0] = '\0';
	return k8s_get_secret_values(c, ns, name, collect, col, err, errlen);
}

static void
t_secret_multi(struct k8s_client *c)
{
	static const struct {
		const char *key, *val;
		size_t len;
	} want[] = {
		{ "binary", NULL, 262 },
		{ "empty", "", 0 },
		{ "max", NULL, 4096 },
		{ "s3-access-key-id", "AKIAIOSFODNN7EXAMPLE", 20 },
		{ "s3-bucket", "backups", 7 },
		{ "s3-endpoint", "https://s3.example.test:9000", 28 },
		{ "s3-force-path-style", "true", 4 },
		{ "s3-region", "eu-central-1", 12 },
		{ "s3-secret-access-key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", 41 },
	};
	const char *tname = "all keys of a Secret in one request, decoded exactly, in order";
	unsigned char bin[262], max[4096];
	struct logq q = { "main", "/api/v1/namespaces/ns1/secrets/multi", "old" };
	struct collected col = { 0 };
	char err[512];
	size_t n = sizeof(want) / sizeof(want[0]);
	int before = log_count(&q, -1, NULL, 0), rc, bad = -1;

	memcpy(bin, "\x00\n\x00", 3);
	for (int i = 0; i < 256; i++)
		bin[3 + i] = (unsigned char)i;
	memcpy(bin + 259, "\r\n\x00", 3);
	for (int i = 0; i < 4096; i++)
		max[i] = (unsigned char)((i * 11 + 5) % 256);
	rc = get_values(c, "ns1", "multi", &col, err, sizeof(err));
	if (expect_rc(tname, rc, K8S_OK, err)) {
		for (size_t i = 0; i < n && bad < 0; i++) {
			const void *w = i == 0 ? bin : i == 2 ? max : (const void *)want[i].val;
			if (strcmp(col.keys[i], want[i].key) || col.lens[i] != want[i].len ||
			    !col.vals[i] || memcmp(col.vals[i], w, want[i].len))
				bad = (int)i;
		}
		if (col.calls != (int)n)
			notok(tname, "%d callbacks, want %zu", col.calls, n);
		else if (bad >= 0)
			notok(tname, "key %d: '%s' with %zu bytes, want '%s' with %zu", bad,
			      col.keys[bad], col.lens[bad], want[bad].key, want[bad].len);
		else if (log_count(&q, -1, NULL, 0) != before + 1)
			notok(tname, "%d requests", log_count(&q, -1, NULL, 0) - before);
		else
			ok(tname);
		const char *lname = MLOCK_WORKS ? "values handed out in locked, no-dump memory"
						: "values handed out in no-dump memory (ASan: mlock "
						  "not checkable)";
		if (col.unlocked)
			notok(lname, "VmFlags lack %s", MLOCK_WORKS ? "lo/dd" : "dd");
		else
			ok(lname);
		if (col.stale)
			notok("each value wiped before the next", "bytes of an earlier value seen");
		else
			ok("each value wiped before the next");
	}
	collected_free(&col);

	rc = get_values(c, "ns1", "nodata", &col, err, sizeof(err));
	if (expect_rc("Secret without data -> OK, no callback", rc, K8S_OK, err)) {
		if (col.calls == 0)
			ok("Secret without data -> OK, no callback");
		else
			notok("Secret without data -> OK, no callback", "%d callbacks", col.calls);
	}
	collected_free(&col);

	col.stop_at = 2;
	rc = get_values(c, "ns1", "multi", &col, err, sizeof(err));
	if (expect_rc("callback stop -> shape error naming the key", rc, K8S_ERR_SHAPE, err)) {
		if (col.calls == 2 && strstr(err, "key 'empty' rejected by caller"))
			ok("callback stop -> shape error naming the key, no further calls");
		else
			notok("callback stop", "%d calls, '%s'", col.calls, err);
	}
	collected_free(&col);

	col.stop_at = 4;
	col.reason = "s3-access-key-id must not be empty";
	rc = get_values(c, "ns1", "multi", &col, err, sizeof(err));
	if (expect_rc("callback stop with its own reason", rc, K8S_ERR_SHAPE, err)) {
		if (col.calls == 4 && strcmp(err, col.reason) == 0)
			ok("callback stop with its own reason -> that reason in err");
		else
			notok("callback stop with its own reason", "%d calls, '%s'", col.calls, err);
	}
	collected_free(&col);
}

static const struct secret_case multi_cases[] = {
	{ "all keys: value over 4096 bytes refused, nothing handed out", "ns1", "db-pass", NULL,
	  K8S_ERR_VALUE_TOO_LARGE, "value of 'toolarge' exceeds 4096" },
	{ "all keys: invalid base64 in a later key -> nothing handed out", "ns1", "multi-badb64",
	  NULL, K8S_ERR_SHAPE, "data.s3-region is not base64" },
	{ "all keys: invalid key name -> nothing handed out", "ns1", "multi-badkey", NULL,
	  K8S_ERR_SHAPE, "invalid key" },
	{ "all keys: value not a string -> nothing handed out", "ns1", "multi-notstring", NULL,
	  K8S_ERR_SHAPE, "data.s3-force-path-style is not a string" },
	{ "all keys: answer of another kind", "ns1", "configmap", NULL, K8S_ERR_SHAPE,
	  "not a v1 Secret" },
	{ "all keys: 404 -> NOT_FOUND", "ns1", "nope", NULL, K8S_ERR_NOT_FOUND,
	  "secrets \"nope\" not found" },
	{ "all keys: 403 -> FORBIDDEN with the RBAC message", "locked", "multi", NULL,
	  K8S_ERR_FORBIDDEN, "cannot get resource \"secrets\" in API group \"\" in the namespace" },
	{ "all keys: 500 -> HTTP error", "ns1", "boom", NULL, K8S_ERR_HTTP, "HTTP 500" },
	{ "all keys: truncated body", "ns1", "truncated", NULL, K8S_ERR_TRUNCATED, "truncated" },
	{ "all keys: invalid JSON", "ns1", "badjson", NULL, K8S_ERR_BAD_JSON, "invalid JSON" },
};

static void
t_secret_multi_errors(struct k8s_client *c)
{
	struct collected col = { 0 };
	char err[512];
	int rc, lines;

	for (size_t i = 0; i < sizeof(multi_cases) / sizeof(multi_cases[0]); i++) {
		const struct secret_case *t = &multi_cases[i];
		rc = get_values(c, t->ns, t->secret, &col, err, sizeof(err));
		if (expect_rc(t->name, rc, t->want, err)) {
			if (col.calls)
				notok(t->name, "%d callbacks before the error", col.calls);
			else if (!strstr(err, t->needle))
				notok(t->name, "message '%s' lacks '%s'", err, t->needle);
			else
				ok(t->name);
		}
		collected_free(&col);
	}
	lines = log_lines();
	int rc1 = get_values(c, "NS1", "multi", &col, err, sizeof(err));
	int rc2 = get_values(c, "ns1", "../multi", &col, err, sizeof(err));
	int rc3 = k8s_get_secret_values(c, "ns1", "multi", NULL, NULL, err, sizeof(err));
	if (rc1 == K8S_ERR_INVALID_ARG && rc2 == K8S_ERR_INVALID_ARG &&
	    rc3 == K8S_ERR_INVALID_ARG && col.calls == 0 && log_lines() == lines)
		ok("all keys: invalid namespace, name or no callback refused before any request");
	else
		notok("all keys: invalid arguments refused", "%s %s %s", k8s_result_name(rc1),
		      k8s_result_name(rc2), k8s_result_name(rc3));
	collected_free(&col);
}

static void
t_secret_limits(struct k8s_client *c)
{
	struct lcw_secret s = { 0 };
	char err[512];
	int rc;

	if (secret_alloc(&s))
		return;
	/* A body of exactly max_body bytes is still accepted. */
	rc = get_secret(c, "ns1", "almost-max", "passphrase", &s, err, sizeof(err));
	if (expect_rc("body of exactly the limit accepted", rc, K8S_OK, err) && s.len == 3 &&
	    memcmp(s.bytes, "big", 3) == 0)
		ok("body of exactly the limit accepted");
	int lines = log_lines();
	static const char *const bad[][3] = {
		{ "NS1", "db-pass", "passphrase" }, { "ns1", "../x", "passphrase" },
		{ "ns1", "db-pass", "a/b" },	    { "ns1", "db-pass%2f..", "passphrase" },
		{ "", "db-pass", "passphrase" },   { "ns1", "db-pass", "" },
	};
	int all = 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = get_secret(c, bad[i][0], bad[i][1], bad[i][2], &s, err, sizeof(err));
		if (rc != K8S_ERR_INVALID_ARG) {
			notok("invalid ns/name/key refused before any request", "%s/%s/%s -> %s",
			      bad[i][0], bad[i][1], bad[i][2], k8s_result_name(rc));
			all = 0;
		}
	}
	if (all && log_lines() == lines)
		ok("invalid ns/name/key refused before any request");
	else if (all)
		notok("invalid ns/name/key refused before any request", "a request was sent");
	secret_free(&s);
}

static void
t_timeout(void)
{
	struct k8s_client *c = client_at("timeout", "", token_dir, 1000, 2000);
	struct lcw_secret s = { 0 };
	char err[512];
	double t0, dt;
	int rc;

	if (!c || secret_alloc(&s)) {
		k8s_client_free(c);
		return;
	}
	t0 = now_s();
	rc = get_secret(c, "ns1", "hang", "passphrase", &s, err, sizeof(err));
	dt = now_s() - t0;
	if (expect_rc("hanging server -> timeout", rc, K8S_ERR_TIMEOUT, err)) {
		if (dt >= 1.8 && dt < 4.0)
			ok("hanging server -> timeout within the bound");
		else
			notok("hanging server -> timeout within the bound", "took %.2f s for a 2 s bound", dt);
	}
	secret_free(&s);
	k8s_client_free(c);
}

static void
t_tls_and_connect(void)
{
	char base[128], tok[600], err[512] = "";
	struct k8s_client_opts o = { .token_path = tok, .ca_path = ca_path, .timeout_ms = 5000 };
	struct k8s_client *c = NULL;
	struct lcw_secret s = { 0 };
	struct logq wrong = { "wrong", NULL, NULL };
	int rc;

	if (secret_alloc(&s))
		return;
	snprintf(tok, sizeof(tok), "%s/token", token_dir);
	snprintf(base, sizeof(base), "https://127.0.0.1:%d", wrong_port);
	o.api_base = base;
	if (k8s_client_new(&o, &c, err, sizeof(err)) == K8S_OK) {
		rc = get_secret(c, "ns1", "db-pass", "passphrase", &s, err, sizeof(err));
		if (expect_rc("certificate from another CA -> TLS error", rc, K8S_ERR_TLS, err)) {
			if (log_count(&wrong, -1, NULL, 0) == 0 && s.len == 0)
				ok("certificate from another CA -> TLS error, no request sent");
			else
				notok("certificate from another CA", "a request reached the server");
		}
		k8s_client_free(c);
	}
	snprintf(base, sizeof(base), "https://127.0.0.1:%d", dead_port);
	if (k8s_client_new(&o, &c, err, sizeof(err)) == K8S_OK) {
		rc = get_secret(c, "ns1", "db-pass", "passphrase", &s, err, sizeof(err));
		if (expect_rc("nothing listening -> connect error", rc, K8S_ERR_CONNECT, err))
			ok("nothing listening -> connect error");
		k8s_client_free(c);
	}
	/* The certificate names IP 127.0.0.1 only; "localhost" reaches the same
	 * server but must fail host verification. */
	snprintf(base, sizeof(base), "https://localhost:%d", main_port);
	if (k8s_client_new(&o, &c, err, sizeof(err)) == K8S_OK) {
		int before = log_lines();
		rc = get_secret(c, "ns1", "db-pass", "passphrase", &s, err, sizeof(err));
		if (expect_rc("host name not in the certificate -> TLS error", rc, K8S_ERR_TLS, err)) {
			if (log_lines() == before)
				ok("host name not in the certificate -> TLS error, no request sent");
			else
				notok("host name not in the certificate", "a request reached the server");
		}
		k8s_client_free(c);
	}
	secret_free(&s);
}

/* Proxy variables in privd's environment must not divert API traffic. */
static void
t_proxy_env_ignored(void)
{
	static const char *const vars[] = { "https_proxy", "HTTPS_PROXY", "http_proxy", "ALL_PROXY",
					    "all_proxy" };
	char proxy[64], err[512];
	struct lcw_secret s = { 0 };
	struct k8s_client *c;
	int rc;

	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", dead_port);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		setenv(vars[i], proxy, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	c = client("proxy env ignored", "");
	if (c && secret_alloc(&s) == 0) {
		rc = get_secret(c, "ns1", "db-pass", "passphrase", &s, err, sizeof(err));
		if (expect_rc("proxy environment ignored", rc, K8S_OK, err))
			ok("proxy environment ignored");
	}
	secret_free(&s);
	k8s_client_free(c);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void
t_token_rotation(void)
{
	char d[600], newtok[600], err[512];
	struct lcw_secret s = { 0 };
	struct k8s_client *c;
	struct logq a_old = { "main", "/s/rot/api/v1/namespaces/ns1/secrets/rot-a", "old" };
	struct logq a_new = { "main", "/s/rot/api/v1/namespaces/ns1/secrets/rot-a", "new" };
	struct logq b_all = { "main", "/s/rot/api/v1/namespaces/ns1/secrets/rot-b", NULL };
	int rc;

	snprintf(d, sizeof(d), "%s/tok-rot", dir);
	snprintf(newtok, sizeof(newtok), "%s/token-new", dir);
	if (secret_alloc(&s))
		return;
	char oldtok[600];
	snprintf(oldtok, sizeof(oldtok), "%s/token-old", dir);
	if (token_dir_make(d, oldtok, "2024_05_01_10_00_00.1")) {
		notok("token rotation", "fixture: %s", strerror(errno));
		secret_free(&s);
		return;
	}
	c = client_at("token rotation", "/s/rot", d, 3000, 10000);
	if (!c) {
		secret_free(&s);
		return;
	}
	/* Same token still on disk: one request, no pointless retry. */
	rc = get_secret(c, "ns1", "rot-b", "passphrase", &s, err, sizeof(err));
	if (expect_rc("401 with an unchanged token", rc, K8S_ERR_UNAUTHORIZED, err)) {
		if (log_count(&b_all, -1, NULL, 0) == 1)
			ok("401 with an unchanged token -> UNAUTHORIZED after one request");
		else
			notok("401 with an unchanged token", "%d requests", log_count(&b_all, -1, NULL, 0));
	}
	/* The kubelet rotates the projected token: swap ..data. */
	if (token_dir_make(d, newtok, "2024_05_01_11_00_00.2")) {
		notok("token rotation", "rotate: %s", strerror(errno));
	} else {
		rc = get_secret(c, "ns1", "rot-a", "passphrase", &s, err, sizeof(err));
		if (expect_rc("401 -> token re-read -> retried", rc, K8S_OK, err)) {
			if (s.len == 10 && memcmp(s.bytes, "rotated ok", 10) == 0 &&
			    log_count(&a_old, -1, NULL, 0) == 1 && log_count(&a_new, -1, NULL, 0) == 1)
				ok("401 -> rotated token re-read through ..data -> retried once");
			else
				notok("401 -> token re-read", "old=%d new=%d len=%zu",
				      log_count(&a_old, -1, NULL, 0), log_count(&a_new, -1, NULL, 0),
				      s.len);
		}
	}
	k8s_client_free(c);
	secret_free(&s);
}

/* Several threads share one client (privd's reclaim thread and its
 * dispatch). */
struct th_arg {
	struct k8s_client *c;
	int fails;
};

static void *
th_main(void *p)
{
	struct th_arg *a = p;
	struct lcw_secret s = { 0 };
	char err[256];

	if (secret_alloc(&s)) {
		a->fails++;
		return NULL;
	}
	for (int i = 0; i < 4; i++) {
		if (k8s_get_secret_value(a->c, "ns1", "db-pass", "passphrase", &s, err, sizeof(err)) ||
		    s.len != 28)
			a->fails++;
	}
	secret_free(&s);
	return NULL;
}

static void
t_threads(struct k8s_client *c)
{
	pthread_t th[6];
	struct th_arg a[6];
	int fails = 0;

	for (int i = 0; i < 6; i++) {
		a[i].c = c;
		a[i].fails = 0;
		pthread_create(&th[i], NULL, th_main, &a[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		fails += a[i].fails;
	}
	if (fails)
		notok("one client used from 6 threads", "%d failures", fails);
	else
		ok("one client used from 6 threads");
}

/* ---- PersistentVolumes ---------------------------------------------------- */

static int
pv_lookup(const char *name, const char *scn, const char **handles, size_t n, int *exists,
	  char *err, size_t errlen)
{
	char suffix[64];
	struct k8s_client *c;
	int rc;

	snprintf(suffix, sizeof(suffix), "/s/%s", scn);
	c = client(name, suffix);
	if (!c)
		return -1;
	err[0] = '\0';
	rc = k8s_pv_handles_exist(c, DRIVER, handles, n, exists, err, errlen);
	k8s_client_free(c);
	return rc;
}

static void
expect_pv(const char *name, const char *scn, const char *handle, int want_exists, int want_reqs)
{
	char path[128], err[512];
	struct logq q = { "main", path, "old" };
	int exists = 42, before, rc;

	snprintf(path, sizeof(path), "/s/%s/api/v1/persistentvolumes", scn);
	before = log_count(&q, -1, NULL, 0);
	rc = pv_lookup(name, scn, &handle, 1, &exists, err, sizeof(err));
	if (!expect_rc(name, rc, K8S_OK, err))
		return;
	int reqs = log_count(&q, -1, NULL, 0) - before;
	if (exists != want_exists)
		notok(name, "exists=%d, want %d", exists, want_exists);
	else if (want_reqs && reqs != want_reqs)
		notok(name, "%d page requests, want %d", reqs, want_reqs);
	else
		ok(name);
}

/* A node's capacity Lease: published by server-side apply, read back. */
static void
t_capacity(struct k8s_client *c)
{
	struct k8s_node_capacity a = { 5ULL << 30, 4ULL << 30, 7 }, b = { 1, 2, 3 }, got;
	time_t renewed = 0, now = time(NULL);
	char err[512] = "", name[300];
	int rc;

	rc = k8s_capacity_publish(c, "lcw", "node-a", &a, err, sizeof(err));
	if (expect_rc("capacity: a node's Lease is created by server-side apply", rc, K8S_OK, err))
		ok("capacity: a node's Lease is created by server-side apply");
	rc = k8s_capacity_read(c, "lcw", "node-a", &got, &renewed, err, sizeof(err));
	if (expect_rc("capacity: the Lease reads back", rc, K8S_OK, err)) {
		if (got.available == a.available && got.maximum_volume == a.maximum_volume &&
		    got.volumes_left == 7 && renewed >= now - 5 && renewed <= now + 5)
			ok("capacity: the numbers and a fresh renew time survive the trip");
		else
			notok("capacity: the numbers survive the trip", "got %llu %llu %llu at %lld",
			      (unsigned long long)got.available,
			      (unsigned long long)got.maximum_volume,
			      (unsigned long long)got.volumes_left, (long long)renewed);
	}
	rc = k8s_capacity_publish(c, "lcw", "node-a", &b, err, sizeof(err));
	if (expect_rc("capacity: the same Lease is updated (200)", rc, K8S_OK, err))
		ok("capacity: the same Lease is updated (200)");
	rc = k8s_capacity_read(c, "lcw", "node-a", &got, &renewed, err, sizeof(err));
	if (rc == K8S_OK && got.available == 1 && got.maximum_volume == 2 && got.volumes_left == 3)
		ok("capacity: the update replaced the numbers");
	else
		notok("capacity: the update replaced the numbers", "rc %d: %s", rc, err);
	rc = k8s_capacity_read(c, "lcw", "node-b", &got, &renewed, err, sizeof(err));
	if (expect_rc("capacity: another node without a Lease is NOT_FOUND", rc, K8S_ERR_NOT_FOUND, err))
		ok("capacity: another node without a Lease is NOT_FOUND");
	rc = k8s_capacity_publish(c, "forbidden-ns", "node-a", &a, err, sizeof(err));
	if (expect_rc("capacity: RBAC refusal is FORBIDDEN", rc, K8S_ERR_FORBIDDEN, err))
		ok("capacity: RBAC refusal is FORBIDDEN");
	rc = k8s_capacity_publish(c, "lcw", "Node_A/../x", &a, err, sizeof(err));
	if (expect_rc("capacity: a node name that is no object name is refused", rc,
		  K8S_ERR_INVALID_ARG, err))
		ok("capacity: a node name that is no object name is refused");
	/* pure: a Lease held by another node does not count as this node's */
	char *body = k8s_capacity_lease_body("lcw", "node-a", &a, now);
	struct k8s_node_capacity x;
	if (body && k8s_capacity_lease_parse(body, strlen(body), "node-a", &x, &renewed) == 0 &&
	    k8s_capacity_lease_parse(body, strlen(body), "node-b", &x, &renewed) == -1 &&
	    k8s_capacity_lease_name("node-a", name, sizeof(name)) == 0 &&
	    strcmp(name, "lcw-capacity-node-a") == 0)
		ok("capacity: a Lease is read only as its own node's");
	else
		notok("capacity: a Lease is read only as its own node's", "body %s", body ? body : "NULL");
	free(body);
}

static void
t_pv_found(void)
{
	char path[] = "/s/paged/api/v1/persistentvolumes", cont[256] = "";
	struct logq q = { "main", path, "old" };
	int base;

	base = log_count(&q, -1, NULL, 0);
	/* page 2 holds a PV of another driver with the same handle: it must
	 * not count, so the search goes on to page 3 */
	expect_pv("pagination: restored PV (new name, same handle) found on page 3, "
		  "other driver's PV with that handle on page 2 ignored",
		  "paged", "pvc-target", 1, 3);
	log_count(&q, base + 1, cont, sizeof(cont));
	if (strcmp(cont, CONT2) == 0)
		ok("continue token (with + / =) sent back escaped and intact");
	else
		notok("continue token sent back intact", "server saw '%s'", cont);
	expect_pv("pagination: absent handle -> exists=0 after all 3 pages", "paged", "pvc-zzz", 0, 3);
	expect_pv("handle on page 1 -> found without further pages", "paged", "pvc-aaa", 1, 1);
	expect_pv("static PV (name != handle) found by handle", "static", "vol-static-1", 1, 1);
	expect_pv("PV name is not a handle (original's bug)", "static", "pvc-named", 0, 1);
	expect_pv("static PV's name is not its handle", "static", "my-static-pv", 0, 1);
	expect_pv("empty list -> exists=0", "empty", "pvc-aaa", 0, 1);

	const char *hs[] = { "pvc-aaa", "pvc-zzz", "pvc-ccc", "pvc-target", "pvc-bbb" };
	int ex[5] = { 9, 9, 9, 9, 9 };
	char err[512];
	int rc = pv_lookup("batch lookup", "paged", hs, 5, ex, err, sizeof(err));
	if (expect_rc("batch lookup of 5 handles in one listing", rc, K8S_OK, err)) {
		if (ex[0] == 1 && ex[1] == 0 && ex[2] == 1 && ex[3] == 1 && ex[4] == 1)
			ok("batch lookup of 5 handles in one listing");
		else
			notok("batch lookup", "got %d %d %d %d %d", ex[0], ex[1], ex[2], ex[3], ex[4]);
	}
}

struct pv_err_case {
	const char *name, *scn;
	int want;
	const char *needle;
};

static const struct pv_err_case pv_errs[] = {
	{ "page 2 answers 500 -> error, no answer", "p2fail", K8S_ERR_HTTP, "page 2: HTTP 500" },
	{ "continue token expired (410) -> error", "p2expired", K8S_ERR_HTTP, "HTTP 410 Expired" },
	{ "page 3 truncated -> error", "p3truncated", K8S_ERR_TRUNCATED, "page 3" },
	{ "list forbidden -> RBAC message", "forbidden", K8S_ERR_FORBIDDEN,
	  "cannot list resource \"persistentvolumes\" in API group \"\" at the cluster scope" },
	{ "list endpoint 404 is an error, not 'absent'", "nosuchscenario", K8S_ERR_NOT_FOUND,
	  "HTTP 404" },
	{ "items: null -> shape error", "nullitems", K8S_ERR_SHAPE, "not a PersistentVolumeList" },
	{ "not a list -> shape error", "notalist", K8S_ERR_SHAPE, "not a PersistentVolumeList" },
	{ "malformed PV item -> shape error", "badshape", K8S_ERR_SHAPE, "item 1 malformed" },
	{ "continue token that does not advance -> error", "loop", K8S_ERR_SHAPE, "did not advance" },
};

static void
t_pv_errors(void)
{
	char err[512];

	for (size_t i = 0; i < sizeof(pv_errs) / sizeof(pv_errs[0]); i++) {
		const char *h = "pvc-zzz";
		int exists = 42;
		int rc = pv_lookup(pv_errs[i].name, pv_errs[i].scn, &h, 1, &exists, err, sizeof(err));
		if (!expect_rc(pv_errs[i].name, rc, pv_errs[i].want, err))
			continue;
		if (exists != 42)
			notok(pv_errs[i].name, "exists written on error (%d)", exists);
		else if (!strstr(err, pv_errs[i].needle))
			notok(pv_errs[i].name, "message '%s' lacks '%s'", err, pv_errs[i].needle);
		else
			ok(pv_errs[i].name);
	}
	int exists = 42, rc;
	struct k8s_client *c = client("bad args", "/s/paged");
	if (!c)
		return;
	rc = k8s_pv_exists_for_handle(c, "bad driver!", "pvc-aaa", &exists, err, sizeof(err));
	int rc2 = k8s_pv_exists_for_handle(c, DRIVER, "", &exists, err, sizeof(err));
	int rc3 = k8s_pv_exists_for_handle(c, DRIVER, "a\nb", &exists, err, sizeof(err));
	if (rc == K8S_ERR_INVALID_ARG && rc2 == K8S_ERR_INVALID_ARG && rc3 == K8S_ERR_INVALID_ARG &&
	    exists == 42)
		ok("invalid driver name or handle refused");
	else
		notok("invalid driver name or handle refused", "%d %d %d", rc, rc2, rc3);
	k8s_client_free(c);
}

/* ---- one PV's attribute and node-stage secret reference ------------------- */

static int
page_requests(const char *scn)
{
	char path[128];
	struct logq q = { "main", path, "old" };

	snprintf(path, sizeof(path), "/s/%s/api/v1/persistentvolumes", scn);
	return log_count(&q, -1, NULL, 0);
}

static void
t_pv_attribute(void)
{
	struct k8s_client *c = client("attribute lookup", "/s/paged");
	char out[64], err[512] = "";
	int found = 42, rc;

	if (!c)
		return;
	rc = k8s_pv_attribute_for_handle(c, DRIVER, "pvc-target", "passphraseKey", out, sizeof(out),
					 &found, err, sizeof(err));
	if (expect_rc("attribute of the restored PV on page 3", rc, K8S_OK, err)) {
		if (found == 1 && strcmp(out, "passphrase") == 0)
			ok("attribute of the restored PV on page 3");
		else
			notok("attribute of the restored PV on page 3", "found=%d '%s'", found, out);
	}
	found = 42;
	rc = k8s_pv_attribute_for_handle(c, DRIVER, "pvc-aaa", "nosuch", out, sizeof(out), &found,
					 err, sizeof(err));
	if (expect_rc("PV without the attribute", rc, K8S_OK, err)) {
		if (found == 1 && out[0] == '\0')
			ok("PV without the attribute -> found, empty value");
		else
			notok("PV without the attribute", "found=%d '%s'", found, out);
	}
	found = 42;
	rc = k8s_pv_attribute_for_handle(c, DRIVER, "pvc-zzz", "passphraseKey", out, sizeof(out),
					 &found, err, sizeof(err));
	if (expect_rc("attribute of an absent handle", rc, K8S_OK, err)) {
		if (found == 0 && out[0] == '\0')
			ok("attribute of an absent handle -> found=0 after all pages");
		else
			notok("attribute of an absent handle", "found=%d '%s'", found, out);
	}
	k8s_client_free(c);
	c = client("attribute lookup error", "/s/p2fail");
	if (!c)
		return;
	found = 42;
	rc = k8s_pv_attribute_for_handle(c, DRIVER, "pvc-zzz", "passphraseKey", out, sizeof(out),
					 &found, err, sizeof(err));
	if (expect_rc("attribute lookup: page 2 fails -> error", rc, K8S_ERR_HTTP, err)) {
		if (found == 42)
			ok("attribute lookup: page 2 fails -> error, found not written");
		else
			notok("attribute lookup: page 2 fails", "found written (%d)", found);
	}
	k8s_client_free(c);
}

/* Run k8s_pv_stage_secret_ref against scenario scn with buffers that hold
 * stale text, which must never survive. */
static int
stage_ref(const char *tname, const char *scn, const char *handle, char *ns, char *name,
	  int *found, char *err, size_t errlen)
{
	char suffix[64];
	struct k8s_client *c;
	int rc;

	snprintf(suffix, sizeof(suffix), "/s/%s", scn);
	c = client(tname, suffix);
	if (!c)
		return -1;
	strcpy(ns, "stale");
	strcpy(name, "stale");
	*found = 42;
	err[0] = '\0';
	rc = k8s_pv_stage_secret_ref(c, DRIVER, handle, ns, K8S_NS_BUFSZ, name, K8S_NAME_BUFSZ,
				     found, err, errlen);
	k8s_client_free(c);
	return rc;
}

struct ref_case {
	const char *name, *scn, *handle;
	int found;
	const char *ns, *secret;
	int reqs;
};

static const struct ref_case ref_cases[] = {
	{ "stage ref: restored PV on page 3, other driver's PV with that handle and "
	  "another ref on page 2 ignored",
	  "paged", "pvc-target", 1, "backup", "restored.pass-v2", 3 },
	{ "stage ref on page 1 -> no further pages", "paged", "pvc-aaa", 1, "tenant-a", "luks-pass",
	  1 },
	{ "PV without nodeStageSecretRef -> found, empty ref", "paged", "pvc-bbb", 1, "", "", 2 },
	{ "absent handle -> found=0 after all 3 pages", "paged", "pvc-zzz", 0, "", "", 3 },
	{ "nodeStageSecretRef: null -> found, empty ref", "badref", "pvc-nullref", 1, "", "", 1 },
	{ "valid ref read although other PVs' refs are broken and another driver's PV "
	  "with the same handle follows",
	  "badref", "pvc-good", 1, "ns1", "good", 1 },
};

static void
t_pv_stage_ref(void)
{
	char ns[K8S_NS_BUFSZ], name[K8S_NAME_BUFSZ], err[512];
	int found;

	for (size_t i = 0; i < sizeof(ref_cases) / sizeof(ref_cases[0]); i++) {
		const struct ref_case *t = &ref_cases[i];
		int before = page_requests(t->scn);
		int rc = stage_ref(t->name, t->scn, t->handle, ns, name, &found, err, sizeof(err));
		int reqs = page_requests(t->scn) - before;
		if (!expect_rc(t->name, rc, K8S_OK, err))
			continue;
		if (found != t->found || strcmp(ns, t->ns) || strcmp(name, t->secret))
			notok(t->name, "found=%d ref '%s/%s', want %d '%s/%s'", found, ns, name,
			      t->found, t->ns, t->secret);
		else if (reqs != t->reqs)
			notok(t->name, "%d page requests, want %d", reqs, t->reqs);
		else
			ok(t->name);
	}
}

static const struct pv_err_case ref_errs[] = {
	{ "stage ref: namespace not a DNS-1123 label -> shape error", "pvc-badns", K8S_ERR_SHAPE,
	  "namespace is not a DNS-1123 label" },
	{ "stage ref: 64-character namespace -> shape error", "pvc-longns", K8S_ERR_SHAPE,
	  "namespace is not a DNS-1123 label" },
	{ "stage ref: name '../x' -> shape error", "pvc-badname", K8S_ERR_SHAPE,
	  "name is not a DNS-1123 subdomain" },
	{ "stage ref: name with an embedded NUL -> shape error", "pvc-nulbyte", K8S_ERR_SHAPE,
	  "name is not a DNS-1123 subdomain" },
	{ "stage ref without a namespace -> shape error", "pvc-nons", K8S_ERR_SHAPE,
	  "lacks a namespace or name" },
	{ "stage ref with a numeric name -> shape error", "pvc-numname", K8S_ERR_SHAPE,
	  "lacks a namespace or name" },
	{ "stage ref that is not an object -> shape error", "pvc-notobj", K8S_ERR_SHAPE,
	  "lacks a namespace or name" },
};

static void
expect_ref_error(const char *tname, const char *scn, const char *handle, int want,
		 const char *needle)
{
	char ns[K8S_NS_BUFSZ], name[K8S_NAME_BUFSZ], err[512];
	int found;
	int rc = stage_ref(tname, scn, handle, ns, name, &found, err, sizeof(err));

	if (!expect_rc(tname, rc, want, err))
		return;
	if (found != 42)
		notok(tname, "found written on error (%d)", found);
	else if (ns[0] || name[0])
		notok(tname, "ref '%s/%s' left behind on error", ns, name);
	else if (!strstr(err, needle))
		notok(tname, "message '%s' lacks '%s'", err, needle);
	else
		ok(tname);
}

static void
t_pv_stage_ref_errors(void)
{
	char ns[K8S_NS_BUFSZ], name[K8S_NAME_BUFSZ], err[512];
	int found = 42, lines;
	struct k8s_client *c;

	for (size_t i = 0; i < sizeof(ref_errs) / sizeof(ref_errs[0]); i++)
		expect_ref_error(ref_errs[i].name, "badref", ref_errs[i].scn, ref_errs[i].want,
				 ref_errs[i].needle);
	/* Every failure of the listing is an error, never "no such PV". */
	for (size_t i = 0; i < sizeof(pv_errs) / sizeof(pv_errs[0]); i++) {
		char tname[256];
		snprintf(tname, sizeof(tname), "stage ref: %s", pv_errs[i].name);
		expect_ref_error(tname, pv_errs[i].scn, "pvc-zzz", pv_errs[i].want, pv_errs[i].needle);
	}
	c = client("stage ref bad args", "/s/paged");
	if (!c)
		return;
	lines = log_lines();
	int rc1 = k8s_pv_stage_secret_ref(c, DRIVER, "pvc-aaa", ns, K8S_NS_BUFSZ - 1, name,
					  K8S_NAME_BUFSZ, &found, err, sizeof(err));
	int rc2 = k8s_pv_stage_secret_ref(c, DRIVER, "pvc-aaa", ns, K8S_NS_BUFSZ, name,
					  K8S_NAME_BUFSZ - 1, &found, err, sizeof(err));
	int rc3 = k8s_pv_stage_secret_ref(c, "bad driver!", "pvc-aaa", ns, K8S_NS_BUFSZ, name,
					  K8S_NAME_BUFSZ, &found, err, sizeof(err));
	int rc4 = k8s_pv_stage_secret_ref(c, DRIVER, "a\nb", ns, K8S_NS_BUFSZ, name,
					  K8S_NAME_BUFSZ, &found, err, sizeof(err));
	if (rc1 == K8S_ERR_INVALID_ARG && rc2 == K8S_ERR_INVALID_ARG &&
	    rc3 == K8S_ERR_INVALID_ARG && rc4 == K8S_ERR_INVALID_ARG && found == 42 &&
	    log_lines() == lines)
		ok("stage ref: short buffers, bad driver or handle refused before any request");
	else
		notok("stage ref: bad arguments refused", "%s %s %s %s found=%d", k8s_result_name(rc1),
		      k8s_result_name(rc2), k8s_result_name(rc3), k8s_result_name(rc4), found);
	k8s_client_free(c);
}

/* ---- the whole PV of a handle (GET by name, then the listing) ---------------- */

static int
get_requests(const char *scn, const char *name)
{
	char path[256];
	struct logq q = { "main", path, "old" };

	snprintf(path, sizeof(path), "/s/%s/api/v1/persistentvolumes/%s", scn, name);
	return log_count(&q, -1, NULL, 0);
}

struct pvh_case {
	const char *name, *scn, *handle;
	int rc, found;
	const char *has, *lacks; /* in the returned JSON */
	int gets, pages;
};

static const struct pvh_case pvh_cases[] = {
	{ "PV named like its handle: one GET, no listing", "paged", "pvc-ccc", K8S_OK, 1,
	  "\"luks-pass\"", NULL, 1, 0 },
	{ "restored PV named otherwise: GET 404, then 3 pages; the other driver's PV with "
	  "that handle is not taken",
	  "paged", "pvc-target", K8S_OK, 1, "restored.pass-v2", "ebs-secret", 1, 3 },
	{ "absent handle: GET 404, all pages, found=0", "paged", "pvc-zzz", K8S_OK, 0, NULL, NULL, 1,
	  3 },
	{ "PV of that name carries another handle: not taken, listing finds none", "static",
	  "pvc-named", K8S_OK, 0, NULL, NULL, 1, 1 },
	{ "static PV: GET 404, found in the listing", "static", "vol-static-1", K8S_OK, 1,
	  "my-static-pv", NULL, 1, 1 },
	{ "handle that cannot be an object name: listing only", "static", "Vol_Upper.1", K8S_OK, 0,
	  NULL, NULL, 0, 1 },
	{ "only another driver's PV carries the handle -> found=0", "adv", "pvc-adv-b", K8S_OK, 0,
	  NULL, NULL, 1, 1 },
	{ "GET 403 -> forbidden, no listing", "forbidden", "pvc-aaa", K8S_ERR_FORBIDDEN, -1, NULL,
	  NULL, 1, 0 },
	{ "GET answers another kind -> shape error", "getwrongkind", "pvc-aaa", K8S_ERR_SHAPE, -1,
	  NULL, NULL, 1, 0 },
	{ "GET 500 -> error, never not-found", "getboom", "pvc-aaa", K8S_ERR_HTTP, -1, NULL, NULL, 1,
	  0 },
	{ "listing fails on page 2 -> error", "p2fail", "pvc-zzz", K8S_ERR_HTTP, -1, NULL, NULL, 1,
	  2 },
};

static void
t_pv_for_handle(void)
{
	char suffix[64], err[512];

	for (size_t i = 0; i < sizeof(pvh_cases) / sizeof(pvh_cases[0]); i++) {
		const struct pvh_case *t = &pvh_cases[i];
		struct k8s_client *c;
		char *json = (char *)"stale";
		size_t len = 99;
		int found = 42;

		snprintf(suffix, sizeof(suffix), "/s/%s", t->scn);
		if (!(c = client(t->name, suffix)))
			continue;
		int g0 = get_requests(t->scn, t->handle), p0 = page_requests(t->scn);
		err[0] = '\0';
		int rc = k8s_pv_for_handle(c, DRIVER, t->handle, &json, &len, &found, err,
					   sizeof(err));
		int gets = get_requests(t->scn, t->handle) - g0, pages = page_requests(t->scn) - p0;
		k8s_client_free(c);
		if (!expect_rc(t->name, rc, t->rc, err)) {
			if (rc == K8S_OK)
				free(json);
			continue;
		}
		if (rc != K8S_OK) {
			if (json != NULL || found != 42)
				notok(t->name, "error but json %p found %d", (void *)json, found);
			else if (gets != t->gets || pages != t->pages)
				notok(t->name, "%d GETs %d pages, want %d %d", gets, pages, t->gets,
				      t->pages);
			else
				ok(t->name);
			continue;
		}
		if (found != t->found || (found && (!json || strlen(json) != len)) ||
		    (!found && json))
			notok(t->name, "found=%d json %s", found, json ? "set" : "NULL");
		else if (t->has && !strstr(json, t->has))
			notok(t->name, "JSON lacks %s", t->has);
		else if (t->lacks && strstr(json, t->lacks))
			notok(t->name, "JSON holds %s", t->lacks);
		else if (found && !strstr(json, t->handle))
			notok(t->name, "JSON does not carry the handle");
		else if (gets != t->gets || pages != t->pages)
			notok(t->name, "%d GETs %d pages, want %d %d", gets, pages, t->gets, t->pages);
		else
			ok(t->name);
		free(json);
	}

	/* bad arguments: refused before any request */
	struct k8s_client *c = client("PV of a handle: bad arguments", "/s/paged");
	if (!c)
		return;
	int lines = log_lines(), found = 42;
	char *json = NULL;
	size_t len;
	int rc1 = k8s_pv_for_handle(c, DRIVER, "a\nb", &json, &len, &found, err, sizeof(err));
	int rc2 = k8s_pv_for_handle(c, "bad driver!", "pvc-aaa", &json, &len, &found, err,
				    sizeof(err));
	if (rc1 == K8S_ERR_INVALID_ARG && rc2 == K8S_ERR_INVALID_ARG && log_lines() == lines &&
	    found == 42 && json == NULL)
		ok("PV of a handle: bad handle or driver -> invalid argument, no request");
	else
		notok("PV of a handle: bad arguments", "%s %s, %d requests", k8s_result_name(rc1),
		      k8s_result_name(rc2), log_lines() - lines);
	k8s_client_free(c);
}

int
main(void)
{
	const char *ports = getenv("K8S_TEST_PORTS");
	struct k8s_client *c;
	char tokfile[600];

	setvbuf(stdout, NULL, _IOLBF, 0);
	dir = getenv("K8S_TEST_DIR");
	logpath = getenv("K8S_TEST_LOG");
	if (!dir || !logpath || !ports ||
	    sscanf(ports, "%d %d %d", &main_port, &wrong_port, &dead_port) != 3) {
		fprintf(stderr, "run me through tests/k8s/run.sh\n");
		printf("k8s: 0 passed, 1 failed\n");
		return 1;
	}
	snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", dir);
	snprintf(token_dir, sizeof(token_dir), "%s/tok-main-%d", dir, (int)getpid());
	snprintf(tokfile, sizeof(tokfile), "%s/token-old", dir);
	if (token_dir_make(token_dir, tokfile, "2024_05_01_10_00_00.1")) {
		printf("not ok - fixtures: %s\nk8s: 0 passed, 1 failed\n", strerror(errno));
		return 1;
	}

	t_base64();
	t_validators();
	t_config();
	c = client("main client", "");
	if (c) {
		t_secret_values(c);
		t_secret_errors(c);
		t_secret_limits(c);
		t_secret_multi(c);
		t_secret_multi_errors(c);
		t_threads(c);
		t_capacity(c);
		k8s_client_free(c);
	}
	t_timeout();
	t_tls_and_connect();
	t_proxy_env_ignored();
	t_token_rotation();
	t_pv_found();
	t_pv_errors();
	t_pv_attribute();
	t_pv_stage_ref();
	t_pv_stage_ref_errors();
	t_pv_for_handle();

	printf("k8s: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
