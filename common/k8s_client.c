/* Kubernetes API client for privd (see k8s_client.h). Every request gets its
 * own easy handle (threads; no shared connection state to reason about) and
 * its own response buffer, which is always wiped before it is freed. */
#define _GNU_SOURCE
#include "k8s_client.h"

#include "base64.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define BASE_MAX 512
#define URL_MAX 16384
#define CA_MAX (1024 * 1024)
#define CONT_MAX 4096	   /* continue tokens are ~100-200 bytes in practice */
#define HANDLE_MAX 1024
#define JSON_DEPTH 64	   /* API objects nest far less; bounds json-c's stack */
#define SERVER_MSG_MAX 400 /* how much of a Status message we quote */
#define MAX_BODY_CAP (64u * 1024u * 1024u)
#define AUTH_PREFIX "Authorization: Bearer "

struct k8s_client {
	char base[BASE_MAX];
	long connect_ms, total_ms;
	size_t max_body;
	unsigned page_limit;
	char *ca_pem; /* read once; handed to libcurl as a blob per request */
	size_t ca_len;
	int token_dirfd; /* O_PATH; survives confinement and token rotation */
	char token_name[NAME_MAX + 1];
	pthread_mutex_t lock;	 /* guards token and token_gen */
	struct lcw_secret token; /* locked memory, never logged */
	unsigned long token_gen;
};

struct resp_buf {
	char *data;
	size_t len, cap, max;
	int too_large;
};

static const char *const result_names[] = {
	[K8S_OK] = "K8S_OK",
	[K8S_ERR_INVALID_ARG] = "K8S_ERR_INVALID_ARG",
	[K8S_ERR_CONFIG] = "K8S_ERR_CONFIG",
	[K8S_ERR_CONNECT] = "K8S_ERR_CONNECT",
	[K8S_ERR_TLS] = "K8S_ERR_TLS",
	[K8S_ERR_TIMEOUT] = "K8S_ERR_TIMEOUT",
	[K8S_ERR_UNAUTHORIZED] = "K8S_ERR_UNAUTHORIZED",
	[K8S_ERR_FORBIDDEN] = "K8S_ERR_FORBIDDEN",
	[K8S_ERR_NOT_FOUND] = "K8S_ERR_NOT_FOUND",
	[K8S_ERR_HTTP] = "K8S_ERR_HTTP",
	[K8S_ERR_TOO_LARGE] = "K8S_ERR_TOO_LARGE",
	[K8S_ERR_TRUNCATED] = "K8S_ERR_TRUNCATED",
	[K8S_ERR_BAD_JSON] = "K8S_ERR_BAD_JSON",
	[K8S_ERR_SHAPE] = "K8S_ERR_SHAPE",
	[K8S_ERR_KEY_MISSING] = "K8S_ERR_KEY_MISSING",
	[K8S_ERR_VALUE_TOO_LARGE] = "K8S_ERR_VALUE_TOO_LARGE",
	[K8S_ERR_INTERNAL] = "K8S_ERR_INTERNAL",
};

const char *
k8s_result_name(int rc)
{
	if (rc < 0 || (size_t)rc >= sizeof(result_names) / sizeof(result_names[0]))
		return "K8S_ERR_UNKNOWN";
	return result_names[rc];
}

static int
seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- pure validation ------------------------------------------------------ */

static int
is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
k8s_dns1123_label_valid(const char *s)
{
	size_t n = s ? strnlen(s, 64) : 0;

	if (n == 0 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return -1;
	return 0;
}

int
k8s_dns1123_subdomain_valid(const char *s)
{
	size_t n = s ? strnlen(s, 254) : 0;

	if (n == 0 || n > 253 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-' && s[i] != '.')
			return -1;
		/* each dot-separated part is a label: no ".-" or "-." or ".." */
		if (s[i] == '.' && (!is_lower_alnum(s[i - 1]) || !is_lower_alnum(s[i + 1])))
			return -1;
	}
	return 0;
}

int
k8s_secret_key_valid(const char *s)
{
	size_t n = s ? strnlen(s, 254) : 0;

	if (n == 0 || n > 253 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '-' || c == '.' || c == '_'))
			return -1;
	}
	return 0;
}

/* CSI spec: at most 63 characters, alphanumeric at both ends, dashes, dots
 * and alphanumerics between (upper case allowed, unlike DNS-1123). */
static int
csi_driver_name_valid(const char *s)
{
	size_t n = s ? strnlen(s, 64) : 0;

	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[n - 1]))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '-' || c == '.'))
			return -1;
	}
	return 0;
}

static int
printable_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
handle_valid(const char *s)
{
	size_t n = s ? strnlen(s, HANDLE_MAX + 1) : 0;
	return n > 0 && n <= HANDLE_MAX && printable_ascii(s, n) ? 0 : -1;
}

/* ---- base64 --------------------------------------------------------------- */


long
k8s_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t cap)
{
	size_t pad = 0, outlen, o = 0;

	if (inlen % 4 != 0)
		return -1;
	if (inlen == 0)
		return 0;
	if (in[inlen - 1] == '=')
		pad = in[inlen - 2] == '=' ? 2 : 1;
	outlen = inlen / 4 * 3 - pad;
	if (outlen > cap || outlen > LONG_MAX)
		return -2;
	for (size_t i = 0; i < inlen; i += 4) {
		int last = i + 4 == inlen;
		int v[4];
		uint32_t w = 0;

		for (int k = 0; k < 4; k++) {
			int is_pad = last && k >= 4 - (int)pad;
			v[k] = is_pad ? 0 : b64_value((unsigned char)in[i + k], B64_STD);
			if (v[k] < 0)
				return -1; /* includes '=' anywhere but the tail */
			w = (w << 6) | (uint32_t)v[k];
		}
		out[o++] = (unsigned char)(w >> 16);
		if (!last || pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (!last || pad < 1)
			out[o++] = (unsigned char)w;
	}
	return (long)o;
}

/* ---- configuration (read once, before confinement) ------------------------ */

/* Read the token through the directory descriptor: the file itself is a
 * symlink into a "..data" directory that the kubelet swaps on rotation. */
static int
token_read(int dirfd, const char *name, struct lcw_secret *dst, char *err, size_t errlen)
{
	struct stat st;
	size_t len = 0;
	ssize_t r;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return seterr(err, errlen, K8S_ERR_CONFIG, "open token %s: %s", name,
			      strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return seterr(err, errlen, K8S_ERR_CONFIG, "token %s is not a regular file", name);
	}
	/* Leave room for the header prefix and the NUL in the same page size. */
	size_t cap = LCW_SECRET_MAX - sizeof(AUTH_PREFIX) - 1;
	while (len < cap && (r = read(fd, dst->bytes + len, cap - len)) > 0)
		len += (size_t)r;
	char extra;
	int more = len == cap && read(fd, &extra, 1) > 0;
	close(fd);
	while (len > 0 && isspace(dst->bytes[len - 1]))
		len--;
	if (more || len == 0 || !printable_ascii((const char *)dst->bytes, len) ||
	    memchr(dst->bytes, ' ', len)) {
		explicit_bzero(dst->bytes, LCW_SECRET_MAX);
		dst->len = 0;
		return seterr(err, errlen, K8S_ERR_CONFIG,
			      more ? "token file too large" : "token file empty or not a token");
	}
	dst->len = len;
	return K8S_OK;
}

static int
token_open(struct k8s_client *c, const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	const char *name = slash ? slash + 1 : path;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path) >=
		 (int)sizeof(dir))
		return seterr(err, errlen, K8S_ERR_CONFIG, "token path too long");
	if (dir[0] == '\0')
		snprintf(dir, sizeof(dir), "/");
	if (name[0] == '\0' || strlen(name) >= sizeof(c->token_name))
		return seterr(err, errlen, K8S_ERR_CONFIG, "bad token path");
	strcpy(c->token_name, name);
	c->token_dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->token_dirfd < 0)
		return seterr(err, errlen, K8S_ERR_CONFIG, "open %s: %s", dir, strerror(errno));
	if (secret_alloc(&c->token))
		return seterr(err, errlen, K8S_ERR_INTERNAL, "locked memory: %s",
			      strerror(errno));
	return token_read(c->token_dirfd, c->token_name, &c->token, err, errlen);
}

static int
ca_load(struct k8s_client *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	size_t len = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return seterr(err, errlen, K8S_ERR_CONFIG, "open CA %s: %s", path,
			      strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > CA_MAX) {
		close(fd);
		return seterr(err, errlen, K8S_ERR_CONFIG, "CA %s: not a regular file of 1..%d bytes",
			      path, CA_MAX);
	}
	c->ca_pem = malloc((size_t)st.st_size);
	if (!c->ca_pem) {
		close(fd);
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	}
	while (len < (size_t)st.st_size && (r = read(fd, c->ca_pem + len, st.st_size - len)) > 0)
		len += (size_t)r;
	close(fd);
	c->ca_len = len;
	if (!memmem(c->ca_pem, len, "-----BEGIN CERTIFICATE-----", 27))
		return seterr(err, errlen, K8S_ERR_CONFIG, "CA %s holds no PEM certificate", path);
	return K8S_OK;
}

static int
host_valid(const char *h)
{
	size_t n = strnlen(h, 254);

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && !strchr(".-:", h[i]))
			return 0;
	return 1;
}

static int
port_valid(const char *p)
{
	size_t n = strnlen(p, 6);
	long v;

	if (n == 0 || n > 5)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return 0;
	v = strtol(p, NULL, 10);
	return v >= 1 && v <= 65535;
}

/* In-cluster address from the service environment; IPv6 literals need
 * brackets in a URL. */
static int
base_from_env(struct k8s_client *c, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	int n;

	if (!host || !port)
		return seterr(err, errlen, K8S_ERR_CONFIG,
			      "KUBERNETES_SERVICE_HOST/PORT unset: not running in a cluster");
	if (!host_valid(host) || !port_valid(port))
		return seterr(err, errlen, K8S_ERR_CONFIG,
			      "KUBERNETES_SERVICE_HOST/PORT malformed");
	n = snprintf(c->base, sizeof(c->base), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		     host, port);
	return n > 0 && (size_t)n < sizeof(c->base) ? K8S_OK
						    : seterr(err, errlen, K8S_ERR_CONFIG, "host too long");
}

static int
base_from_opts(struct k8s_client *c, const char *base, char *err, size_t errlen)
{
	size_t n = strnlen(base, BASE_MAX);

	if (strncmp(base, "https://", 8) != 0 || n <= 8 || n >= BASE_MAX ||
	    base[n - 1] == '/' || !printable_ascii(base, n) || strpbrk(base, " ?#\\"))
		return seterr(err, errlen, K8S_ERR_CONFIG,
			      "api base must be https://host[:port][/prefix] without trailing '/'");
	memcpy(c->base, base, n + 1);
	return K8S_OK;
}

int
k8s_client_new(const struct k8s_client_opts *opts, struct k8s_client **out, char *err,
	       size_t errlen)
{
	static const struct k8s_client_opts none;
	struct k8s_client *c;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &none;
	/* Certificate time checks would otherwise read /etc/localtime during
	 * the first request, after privd has confined itself. */
	tzset();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return seterr(err, errlen, K8S_ERR_INTERNAL, "curl_global_init failed");
	c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	}
	c->token_dirfd = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->connect_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
						     : K8S_DEFAULT_CONNECT_TIMEOUT_MS;
	c->total_ms = opts->timeout_ms > 0 ? opts->timeout_ms : K8S_DEFAULT_TIMEOUT_MS;
	c->max_body = opts->max_body > 0 ? opts->max_body : K8S_DEFAULT_MAX_BODY;
	if (c->max_body > MAX_BODY_CAP) /* json-c takes an int length */
		c->max_body = MAX_BODY_CAP;
	c->page_limit = opts->page_limit > 0 ? opts->page_limit : K8S_DEFAULT_PAGE_LIMIT;
	rc = opts->api_base ? base_from_opts(c, opts->api_base, err, errlen)
			    : base_from_env(c, err, errlen);
	if (rc == K8S_OK)
		rc = ca_load(c, opts->ca_path ? opts->ca_path : K8S_DEFAULT_CA_PATH, err, errlen);
	if (rc == K8S_OK)
		rc = token_open(c, opts->token_path ? opts->token_path : K8S_DEFAULT_TOKEN_PATH,
				err, errlen);
	if (rc != K8S_OK) {
		k8s_client_free(c);
		return rc;
	}
	*out = c;
	return K8S_OK;
}

void
k8s_client_free(struct k8s_client *c)
{
	if (!c)
		return;
	secret_free(&c->token);
	if (c->token_dirfd >= 0)
		close(c->token_dirfd);
	free(c->ca_pem);
	pthread_mutex_destroy(&c->lock);
	free(c);
	curl_global_cleanup();
}

const char *
k8s_client_base_url(const struct k8s_client *c)
{
	return c->base;
}

/* ---- response buffer ------------------------------------------------------ */

static void
rb_free(struct resp_buf *rb)
{
	if (rb->data) {
		explicit_bzero(rb->data, rb->cap);
		free(rb->data);
	}
	memset(rb, 0, sizeof(*rb));
}

/* Grow by copying into a new block and wiping the old one: realloc would
 * leave the earlier bytes behind in freed heap memory. */
static int
rb_reserve(struct resp_buf *rb, size_t need)
{
	size_t cap = rb->cap ? rb->cap : 16384;
	char *p;

	while (cap < need)
		cap *= 2;
	if (cap > rb->max)
		cap = rb->max;
	if (cap < need)
		return -1;
	if (cap <= rb->cap)
		return 0;
	p = malloc(cap);
	if (!p)
		return -1;
	if (rb->data) {
		memcpy(p, rb->data, rb->len);
		explicit_bzero(rb->data, rb->cap);
		free(rb->data);
	}
	rb->data = p;
	rb->cap = cap;
	return 0;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct resp_buf *rb = userdata;
	size_t n = size * nmemb;

	if (n > rb->max - rb->len) {
		rb->too_large = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (rb->len + n > rb->cap && rb_reserve(rb, rb->len + n))
		return 0;
	memcpy(rb->data + rb->len, ptr, n);
	rb->len += n;
	return n;
}

/* ---- one HTTPS exchange --------------------------------------------------- */

static int
curl_result(CURLcode cc, const struct resp_buf *rb, const char *detail, char *err, size_t errlen)
{
	const char *what = detail[0] ? detail : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_OK:
		return K8S_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return seterr(err, errlen, K8S_ERR_TIMEOUT, "timeout: %s", what);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return seterr(err, errlen, K8S_ERR_CONNECT, "API server unreachable: %s", what);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_USE_SSL_FAILED:
		return seterr(err, errlen, K8S_ERR_TLS, "TLS: %s", what);
	case CURLE_PARTIAL_FILE:
		return seterr(err, errlen, K8S_ERR_TRUNCATED, "response truncated: %s", what);
	case CURLE_FILESIZE_EXCEEDED:
		return seterr(err, errlen, K8S_ERR_TOO_LARGE, "response larger than %zu bytes",
			      rb->max);
	case CURLE_WRITE_ERROR:
		if (rb->too_large)
			return seterr(err, errlen, K8S_ERR_TOO_LARGE,
				      "response larger than %zu bytes", rb->max);
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory for response");
	default:
		return seterr(err, errlen, K8S_ERR_INTERNAL, "transfer failed: %s", what);
	}
}

/* Everything that makes the transfer safe: only https, verified against the
 * cluster CA alone (no system store, no CA path), no proxy from the
 * environment, no redirects, bounded time and size, no signals. */
static int
setup_handle(CURL *h, const struct k8s_client *c, const char *url, struct curl_slist *hdrs,
	     struct resp_buf *rb, char *ebuf)
{
	struct curl_blob ca = { .data = c->ca_pem, .len = c->ca_len, .flags = CURL_BLOB_COPY };
	CURLcode e = CURLE_OK;

#define SET(opt, val)                                   \
	do {                                            \
		if (e == CURLE_OK)                      \
			e = curl_easy_setopt(h, opt, val); \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, ebuf);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	SET(CURLOPT_TIMEOUT_MS, c->total_ms);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_CAINFO, (char *)NULL);
	SET(CURLOPT_CAPATH, (char *)NULL);
	SET(CURLOPT_CAINFO_BLOB, &ca);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_USERAGENT, "lukscryptwalker-csi");
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)rb->max);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, rb);
#undef SET
	return e;
}

static void
slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* Build "Authorization: Bearer <token>" in locked memory; returns the token
 * generation it was built from. */
static int
auth_header(struct k8s_client *c, struct lcw_secret *hdr, unsigned long *gen)
{
	if (secret_alloc(hdr))
		return -1;
	pthread_mutex_lock(&c->lock);
	memcpy(hdr->bytes, AUTH_PREFIX, sizeof(AUTH_PREFIX) - 1);
	memcpy(hdr->bytes + sizeof(AUTH_PREFIX) - 1, c->token.bytes, c->token.len);
	hdr->len = sizeof(AUTH_PREFIX) - 1 + c->token.len;
	hdr->bytes[hdr->len] = '\0';
	*gen = c->token_gen;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int
perform(struct k8s_client *c, const char *url, struct resp_buf *rb, long *status,
	unsigned long *gen, char *err, size_t errlen)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	struct lcw_secret hdr = { 0 };
	struct curl_slist *hl = NULL, *t;
	CURL *h;
	CURLcode cc;

	if (auth_header(c, &hdr, gen))
		return seterr(err, errlen, K8S_ERR_INTERNAL, "locked memory: %s", strerror(errno));
	hl = curl_slist_append(NULL, (const char *)hdr.bytes); /* copies; wiped below */
	secret_free(&hdr);
	t = hl ? curl_slist_append(hl, "Accept: application/json") : NULL;
	if (!t) {
		slist_wipe_free(hl);
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	}
	hl = t;
	h = curl_easy_init();
	if (!h) {
		slist_wipe_free(hl);
		return seterr(err, errlen, K8S_ERR_INTERNAL, "curl_easy_init failed");
	}
	cc = setup_handle(h, c, url, hl, rb, ebuf);
	if (cc != CURLE_OK) {
		slist_wipe_free(hl);
		curl_easy_cleanup(h);
		return seterr(err, errlen, K8S_ERR_INTERNAL, "curl option: %s",
			      curl_easy_strerror(cc));
	}
	cc = curl_easy_perform(h);
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	slist_wipe_free(hl);
	curl_easy_cleanup(h);
	return curl_result(cc, rb, ebuf, err, errlen);
}

/* After a 401: re-read the token; retry only if it changed (or another
 * thread already refreshed it since our request was built). */
static int
token_refresh(struct k8s_client *c, unsigned long gen)
{
	struct lcw_secret fresh = { 0 };
	int retry = 0;

	pthread_mutex_lock(&c->lock);
	if (c->token_gen != gen) {
		retry = 1;
	} else if (secret_alloc(&fresh) == 0 &&
		   token_read(c->token_dirfd, c->token_name, &fresh, NULL, 0) == K8S_OK &&
		   (fresh.len != c->token.len || memcmp(fresh.bytes, c->token.bytes, fresh.len))) {
		explicit_bzero(c->token.bytes, LCW_SECRET_MAX);
		secret_set(&c->token, fresh.bytes, fresh.len);
		c->token_gen++;
		retry = 1;
	}
	secret_free(&fresh);
	pthread_mutex_unlock(&c->lock);
	return retry;
}

/* ---- JSON ----------------------------------------------------------------- */

/* json-c's tokener accumulates every string in one scratch buffer that it
 * grows with realloc and never wipes. Parsing a dummy string at least as long
 * as the body first makes that buffer big enough that the real parse never
 * reallocs; parsing it again afterwards overwrites whatever the real parse
 * left there. Only the public API is used. */
static int
tokener_flood(struct json_tokener *tok, size_t len)
{
	size_t n = len + 16;
	char *s = malloc(n + 2);
	struct json_object *o;

	if (!s)
		return -1;
	s[0] = '"';
	memset(s + 1, 'A', n);
	s[n + 1] = '"';
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, s, (int)(n + 2));
	json_object_put(o);
	json_tokener_reset(tok);
	free(s);
	return o ? 0 : -1;
}

static int
json_parse_body(const char *buf, size_t len, int sensitive, struct json_object **out, char *err,
		size_t errlen)
{
	struct json_tokener *tok;
	enum json_tokener_error je;
	struct json_object *o;
	size_t end;

	*out = NULL;
	if (len == 0)
		return seterr(err, errlen, K8S_ERR_BAD_JSON, "empty response body");
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (tok) /* the API server emits standard JSON; refuse json-c's leniencies */
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	if (!tok || (sensitive && tokener_flood(tok, len))) {
		if (tok)
			json_tokener_free(tok);
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory for JSON");
	}
	o = json_tokener_parse_ex(tok, buf, (int)len);
	je = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (sensitive)
		tokener_flood(tok, len);
	json_tokener_free(tok);
	if (je == json_tokener_continue)
		return seterr(err, errlen, K8S_ERR_TRUNCATED, "JSON body ends early (%zu bytes)", len);
	if (je != json_tokener_success || !o)
		return seterr(err, errlen, K8S_ERR_BAD_JSON, "invalid JSON: %s",
			      json_tokener_error_desc(je));
	while (end < len && isspace((unsigned char)buf[end]))
		end++;
	if (end != len) {
		json_object_put(o);
		return seterr(err, errlen, K8S_ERR_BAD_JSON, "invalid JSON: data after the value");
	}
	*out = o;
	return K8S_OK;
}

/* json-c copies every string into its own objects; overwrite them all before
 * the tree is freed (json_object_get_string returns the internal storage). */
static void
json_wipe_strings(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		explicit_bzero((char *)json_object_get_string(o), json_object_get_string_len(o));
		break;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			json_wipe_strings(json_object_array_get_idx(o, i));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			json_wipe_strings(v);
		}
		break;
	}
	default:
		break;
	}
}

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void
sanitize_copy(char *dst, size_t dstlen, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < dstlen && i < SERVER_MSG_MAX; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/* A non-200 answer: quote the v1 Status message when there is one. */
static int
status_error(long status, const struct resp_buf *rb, char *err, size_t errlen)
{
	struct json_object *o = NULL;
	char msg[SERVER_MSG_MAX + 1] = "", reason[64] = "";
	int rc;

	if (json_parse_body(rb->data, rb->len, 0, &o, NULL, 0) == K8S_OK &&
	    json_object_is_type(o, json_type_object) && jstr(o, "kind") &&
	    strcmp(jstr(o, "kind"), "Status") == 0) {
		sanitize_copy(msg, sizeof(msg), jstr(o, "message"));
		sanitize_copy(reason, sizeof(reason), jstr(o, "reason"));
	}
	json_object_put(o);
	switch (status) {
	case 401:
		rc = K8S_ERR_UNAUTHORIZED;
		break;
	case 403:
		rc = K8S_ERR_FORBIDDEN;
		break;
	case 404:
		rc = K8S_ERR_NOT_FOUND;
		break;
	default:
		rc = K8S_ERR_HTTP;
	}
	if (status >= 300 && status < 400)
		return seterr(err, errlen, rc, "HTTP %ld: redirects are not followed", status);
	return seterr(err, errlen, rc, "HTTP %ld%s%s%s%s", status, reason[0] ? " " : "", reason,
		      msg[0] ? ": " : "", msg);
}

/* GET base+path; K8S_OK only for a complete 200 response in rb. */
static int
http_get(struct k8s_client *c, const char *path, struct resp_buf *rb, char *err, size_t errlen)
{
	char *url;
	long status = 0;
	unsigned long gen;
	int rc;

	if (asprintf(&url, "%s%s", c->base, path) < 0)
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	if (strlen(url) > URL_MAX) {
		free(url);
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "URL too long");
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		rb_free(rb);
		rb->max = c->max_body;
		rc = perform(c, url, rb, &status, &gen, err, errlen);
		if (rc != K8S_OK)
			break;
		if (status == 401 && attempt == 0 && token_refresh(c, gen))
			continue;
		rc = status == 200 ? K8S_OK : status_error(status, rb, err, errlen);
		if (status == 401 && rc == K8S_ERR_UNAUTHORIZED)
			seterr(err, errlen, rc, "HTTP 401 Unauthorized: service-account token rejected");
		break;
	}
	free(url);
	return rc;
}

/* ---- Secrets -------------------------------------------------------------- */

/* GET one Secret, parsed with the precautions for secret bytes. On K8S_OK
 * *root is a v1 Secret; either way the caller ends with secret_release(). */
static int
secret_fetch(struct k8s_client *c, const char *ns, const char *name, struct resp_buf *rb,
	     struct json_object **root, char *err, size_t errlen)
{
	char path[400];
	const char *kind;
	int rc;

	*root = NULL;
	if (k8s_dns1123_label_valid(ns))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid namespace name");
	if (k8s_dns1123_subdomain_valid(name))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid secret name");
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, name);
	rc = http_get(c, path, rb, err, errlen);
	if (rc == K8S_OK)
		rc = json_parse_body(rb->data, rb->len, 1, root, err, errlen);
	if (rc != K8S_OK)
		return rc;
	kind = json_object_is_type(*root, json_type_object) ? jstr(*root, "kind") : NULL;
	if (!kind || strcmp(kind, "Secret") != 0)
		return seterr(err, errlen, K8S_ERR_SHAPE, "secret %s/%s: answer is not a v1 Secret",
			      ns, name);
	return K8S_OK;
}

static void
secret_release(struct resp_buf *rb, struct json_object *root)
{
	if (root) {
		json_wipe_strings(root);
		json_object_put(root);
	}
	rb_free(rb);
}

/* .data of a fetched Secret: K8S_OK with *data NULL when the Secret has no
 * keys (the API then omits "data" altogether). */
static int
secret_data(struct json_object *root, const char *ns, const char *name, struct json_object **data,
	    char *err, size_t errlen)
{
	*data = NULL;
	if (!json_object_object_get_ex(root, "data", data) ||
	    json_object_is_type(*data, json_type_null)) {
		*data = NULL;
		return K8S_OK;
	}
	if (!json_object_is_type(*data, json_type_object))
		return seterr(err, errlen, K8S_ERR_SHAPE, "secret %s/%s: data is not an object", ns,
			      name);
	return K8S_OK;
}

/* Decode one .data value into dst (LCW_SECRET_MAX bytes); on error dst may
 * hold part of it and the caller wipes. */
static int
secret_decode(struct json_object *v, const char *ns, const char *name, const char *key,
	      uint8_t *dst, size_t *len, char *err, size_t errlen)
{
	long n;

	if (!json_object_is_type(v, json_type_string))
		return seterr(err, errlen, K8S_ERR_SHAPE, "secret %s/%s: data.%s is not a string",
			      ns, name, key);
	n = k8s_base64_decode(json_object_get_string(v), json_object_get_string_len(v), dst,
			      LCW_SECRET_MAX);
	if (n == -2)
		return seterr(err, errlen, K8S_ERR_VALUE_TOO_LARGE,
			      "secret %s/%s: value of '%s' exceeds %d bytes", ns, name, key,
			      LCW_SECRET_MAX);
	if (n < 0)
		return seterr(err, errlen, K8S_ERR_SHAPE, "secret %s/%s: data.%s is not base64", ns,
			      name, key);
	*len = (size_t)n;
	return K8S_OK;
}

int
k8s_get_secret_value(struct k8s_client *c, const char *ns, const char *name, const char *key,
		     struct lcw_secret *out, char *err, size_t errlen)
{
	struct resp_buf rb = { 0 };
	struct json_object *root = NULL, *data, *v;
	int rc;

	if (!out || !out->bytes)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "output secret not allocated");
	out->len = 0;
	if (k8s_secret_key_valid(key))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid secret key");
	rc = secret_fetch(c, ns, name, &rb, &root, err, errlen);
	if (rc == K8S_OK)
		rc = secret_data(root, ns, name, &data, err, errlen);
	if (rc == K8S_OK && !data)
		rc = seterr(err, errlen, K8S_ERR_KEY_MISSING,
			    "secret %s/%s has no data (key '%s' not found)", ns, name, key);
	if (rc == K8S_OK && !json_object_object_get_ex(data, key, &v))
		rc = seterr(err, errlen, K8S_ERR_KEY_MISSING, "secret %s/%s has no key '%s'", ns,
			    name, key);
	if (rc == K8S_OK)
		rc = secret_decode(v, ns, name, key, out->bytes, &out->len, err, errlen);
	secret_release(&rb, root);
	if (rc != K8S_OK) {
		explicit_bzero(out->bytes, LCW_SECRET_MAX);
		out->len = 0;
	}
	return rc;
}

/* Every key and value is checked before cb sees any of them, so a malformed
 * Secret never reaches the caller half-read; then each value is decoded
 * again into the locked scratch page, handed out and wiped. */
static int
secret_each(struct json_object *data, const char *ns, const char *name, uint8_t *scratch,
	    int (*cb)(void *ud, const char *key, const void *val, size_t len), void *ud,
	    char *err, size_t errlen)
{
	size_t len;
	int rc;

	for (int deliver = 0; deliver < 2; deliver++) {
		json_object_object_foreach(data, key, v)
		{
			if (k8s_secret_key_valid(key))
				return seterr(err, errlen, K8S_ERR_SHAPE,
					      "secret %s/%s: data has an invalid key", ns, name);
			rc = secret_decode(v, ns, name, key, scratch, &len, err, errlen);
			if (rc != K8S_OK || !deliver) {
				explicit_bzero(scratch, LCW_SECRET_MAX);
				if (rc != K8S_OK)
					return rc;
				continue;
			}
			if (err && errlen)
				err[0] = '\0'; /* cb may write its own reason here */
			rc = cb(ud, key, scratch, len);
			explicit_bzero(scratch, len);
			if (rc == 0)
				continue;
			if (err && errlen && err[0])
				return K8S_ERR_SHAPE;
			return seterr(err, errlen, K8S_ERR_SHAPE,
				      "secret %s/%s: key '%s' rejected by caller", ns, name, key);
		}
	}
	return K8S_OK;
}

int
k8s_get_secret_values(struct k8s_client *c, const char *ns, const char *name,
		      int (*cb)(void *ud, const char *key, const void *val, size_t len), void *ud,
		      char *err, size_t errlen)
{
	struct lcw_secret scratch = { 0 };
	struct resp_buf rb = { 0 };
	struct json_object *root = NULL, *data = NULL;
	int rc;

	if (!cb)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "no callback");
	rc = secret_fetch(c, ns, name, &rb, &root, err, errlen);
	if (rc == K8S_OK)
		rc = secret_data(root, ns, name, &data, err, errlen);
	if (rc == K8S_OK && data && secret_alloc(&scratch))
		rc = seterr(err, errlen, K8S_ERR_INTERNAL, "locked memory: %s", strerror(errno));
	if (rc == K8S_OK && data)
		rc = secret_each(data, ns, name, scratch.bytes, cb, ud, err, errlen);
	secret_release(&rb, root);
	secret_free(&scratch);
	return rc;
}

/* ---- PersistentVolumes ---------------------------------------------------- */

static int
jstr_eq(struct json_object *v, const char *s)
{
	size_t n = strlen(s);
	return (size_t)json_object_get_string_len(v) == n && memcmp(json_object_get_string(v), s, n) == 0;
}

/* Called for every PV of the driver whose volumeHandle is one of the
 * handles, with that PV's spec.csi object, by the single-handle lookups that
 * want more than existence. A K8S_ERR_* return (err set) ends the listing. */
struct pv_visit {
	int (*fn)(void *ctx, struct json_object *item, struct json_object *csi, char *err,
		  size_t errlen);
	void *ctx;
};

/* One PV item (index i of its page): K8S_OK with found[] updated, or
 * K8S_ERR_SHAPE for a malformed item, or the visitor's error. PVs of other
 * drivers and non-CSI PVs are skipped. */
static int
pv_item_match(struct json_object *item, size_t i, const char *driver, const char *const *handles,
	      size_t n, unsigned char *found, const struct pv_visit *visit, char *err,
	      size_t errlen)
{
	struct json_object *spec, *csi, *drv, *vh;
	int rc;

	if (!json_object_is_type(item, json_type_object) ||
	    !json_object_object_get_ex(item, "spec", &spec) ||
	    !json_object_is_type(spec, json_type_object))
		goto malformed;
	if (!json_object_object_get_ex(spec, "csi", &csi))
		return K8S_OK;
	if (!json_object_is_type(csi, json_type_object) ||
	    !json_object_object_get_ex(csi, "driver", &drv) ||
	    !json_object_is_type(drv, json_type_string))
		goto malformed;
	if (!jstr_eq(drv, driver))
		return K8S_OK;
	if (!json_object_object_get_ex(csi, "volumeHandle", &vh) ||
	    !json_object_is_type(vh, json_type_string))
		goto malformed;
	for (size_t k = 0; k < n; k++) {
		if (!jstr_eq(vh, handles[k]))
			continue;
		found[k] = 1;
		if (visit && (rc = visit->fn(visit->ctx, item, csi, err, errlen)) != K8S_OK)
			return rc;
	}
	return K8S_OK;
malformed:
	return seterr(err, errlen, K8S_ERR_SHAPE, "PersistentVolume item %zu malformed", i);
}

static int
pvlist_continue(struct json_object *root, char *cont, size_t contlen, char *err, size_t errlen)
{
	struct json_object *md, *ct;
	size_t len;

	cont[0] = '\0';
	if (!json_object_object_get_ex(root, "metadata", &md) ||
	    !json_object_object_get_ex(md, "continue", &ct))
		return K8S_OK;
	if (!json_object_is_type(ct, json_type_string))
		return seterr(err, errlen, K8S_ERR_SHAPE, "metadata.continue is not a string");
	len = (size_t)json_object_get_string_len(ct);
	if (len >= contlen || len > CONT_MAX || !printable_ascii(json_object_get_string(ct), len))
		return seterr(err, errlen, K8S_ERR_SHAPE, "metadata.continue malformed or too long");
	memcpy(cont, json_object_get_string(ct), len + 1);
	return K8S_OK;
}

static int
pvlist_page(const char *body, size_t len, const char *driver, const char *const *handles,
	    size_t n, unsigned char *found, const struct pv_visit *visit, char *cont,
	    size_t contlen, char *err, size_t errlen)
{
	struct json_object *root = NULL, *items;
	const char *kind;
	int rc = json_parse_body(body, len, 0, &root, err, errlen);

	if (rc != K8S_OK)
		return rc;
	kind = json_object_is_type(root, json_type_object) ? jstr(root, "kind") : NULL;
	/* An empty list is "items": [] (never null since Kubernetes 1.5.3); a
	 * missing or null items field is not a list we can conclude from. */
	if (!kind || strcmp(kind, "PersistentVolumeList") != 0 ||
	    !json_object_object_get_ex(root, "items", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		rc = seterr(err, errlen, K8S_ERR_SHAPE, "answer is not a PersistentVolumeList");
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		rc = pv_item_match(json_object_array_get_idx(items, i), i, driver, handles, n, found,
				   visit, err, errlen);
		if (rc != K8S_OK)
			goto out;
	}
	rc = pvlist_continue(root, cont, contlen, err, errlen);
out:
	json_object_put(root);
	return rc;
}

int
k8s_pvlist_page_match(const char *body, size_t len, const char *driver,
		      const char *const *handles, size_t n, unsigned char *found, char *cont,
		      size_t contlen, char *err, size_t errlen)
{
	return pvlist_page(body, len, driver, handles, n, found, NULL, cont, contlen, err, errlen);
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static void
query_escape(const char *s, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || strchr("-._~", ch)) {
			*out++ = (char)ch;
		} else {
			*out++ = '%';
			*out++ = hex[ch >> 4];
			*out++ = hex[ch & 15];
		}
	}
	*out = '\0';
}

static int
all_found(const unsigned char *found, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!found[i])
			return 0;
	return 1;
}

static int
pv_list_pages(struct k8s_client *c, const char *driver, const char *const *handles, size_t n,
	      unsigned char *found, const struct pv_visit *visit, char *err, size_t errlen)
{
	char cont[CONT_MAX + 1] = "", prev[CONT_MAX + 1] = "";
	char path[64 + 3 * CONT_MAX];
	struct resp_buf rb = { 0 };
	int rc = K8S_OK;

	for (unsigned page = 1;; page++) {
		if (page > K8S_MAX_PAGES)
			return seterr(err, errlen, K8S_ERR_SHAPE, "more than %u pages", K8S_MAX_PAGES);
		int off = snprintf(path, sizeof(path), "/api/v1/persistentvolumes?limit=%u",
				   c->page_limit);
		if (cont[0]) {
			off += snprintf(path + off, sizeof(path) - off, "&continue=");
			query_escape(cont, path + off);
		}
		rc = http_get(c, path, &rb, err, errlen);
		if (rc == K8S_OK) {
			memcpy(prev, cont, sizeof(prev));
			rc = pvlist_page(rb.data, rb.len, driver, handles, n, found, visit, cont,
					 sizeof(cont), err, errlen);
		}
		rb_free(&rb);
		if (rc != K8S_OK) {
			if (page > 1 && err && errlen) { /* say which page failed */
				char tmp[512];
				snprintf(tmp, sizeof(tmp), "%s", err);
				snprintf(err, errlen, "page %u: %s", page, tmp);
			}
			return rc;
		}
		if (all_found(found, n) || cont[0] == '\0')
			return K8S_OK;
		if (strcmp(cont, prev) == 0)
			return seterr(err, errlen, K8S_ERR_SHAPE, "continue token did not advance");
	}
}

static int
pv_lookup_args_valid(const char *driver, const char *const *handles, size_t n, char *err,
		     size_t errlen)
{
	if (csi_driver_name_valid(driver))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid CSI driver name");
	for (size_t i = 0; i < n; i++)
		if (handle_valid(handles[i]))
			return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid volume handle");
	return K8S_OK;
}

int
k8s_pv_handles_exist(struct k8s_client *c, const char *driver, const char *const *handles,
		     size_t n, int *exists, char *err, size_t errlen)
{
	unsigned char *found;
	int rc = pv_lookup_args_valid(driver, handles, n, err, errlen);

	if (rc != K8S_OK || n == 0)
		return rc;
	found = calloc(n, 1);
	if (!found)
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	rc = pv_list_pages(c, driver, handles, n, found, NULL, err, errlen);
	if (rc == K8S_OK)
		for (size_t i = 0; i < n; i++)
			exists[i] = found[i];
	free(found);
	return rc;
}

int
k8s_pv_exists_for_handle(struct k8s_client *c, const char *driver, const char *handle,
			 int *exists, char *err, size_t errlen)
{
	return k8s_pv_handles_exist(c, driver, &handle, 1, exists, err, errlen);
}

/* The listing for one handle, with visit called on its PV. */
static int
pv_visit_handle(struct k8s_client *c, const char *driver, const char *handle,
		const struct pv_visit *visit, int *found, char *err, size_t errlen)
{
	unsigned char seen = 0;
	int rc = pv_lookup_args_valid(driver, &handle, 1, err, errlen);

	if (rc == K8S_OK)
		rc = pv_list_pages(c, driver, &handle, 1, &seen, visit, err, errlen);
	if (rc == K8S_OK)
		*found = seen;
	return rc;
}

struct attr_capture {
	const char *key;
	char *out;
	size_t outlen;
};

/* A value that does not fit reads as absent, as it always has. */
static int
capture_attr(void *ctx, struct json_object *item, struct json_object *csi, char *err,
	     size_t errlen)
{
	struct attr_capture *cap = ctx;
	struct json_object *attrs, *v;

	(void)item;
	(void)err;
	(void)errlen;
	if (json_object_object_get_ex(csi, "volumeAttributes", &attrs) &&
	    json_object_is_type(attrs, json_type_object) &&
	    json_object_object_get_ex(attrs, cap->key, &v) &&
	    json_object_is_type(v, json_type_string) &&
	    (size_t)json_object_get_string_len(v) < cap->outlen)
		memcpy(cap->out, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
	return K8S_OK;
}

int
k8s_pv_attribute_for_handle(struct k8s_client *c, const char *driver, const char *handle,
			    const char *key, char *out, size_t outlen, int *found, char *err,
			    size_t errlen)
{
	struct attr_capture cap = { key, out, outlen };
	struct pv_visit visit = { capture_attr, &cap };
	int rc;

	if (outlen == 0)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "no room for the attribute");
	out[0] = '\0';
	rc = pv_visit_handle(c, driver, handle, &visit, found, err, errlen);
	if (rc != K8S_OK)
		out[0] = '\0';
	return rc;
}

struct ref_capture {
	const char *handle;
	char *ns, *name;
};

/* The reference decides which Secret privd reads a passphrase from, so it
 * must be a usable namespace/name pair or nothing at all (the API server
 * requires both fields of a CSI secret reference). */
static int
capture_stage_ref(void *ctx, struct json_object *item, struct json_object *csi, char *err,
		  size_t errlen)
{
	struct ref_capture *r = ctx;
	struct json_object *ref, *ns, *name;
	const char *nss, *names;

	(void)item;
	r->ns[0] = r->name[0] = '\0';
	if (!json_object_object_get_ex(csi, "nodeStageSecretRef", &ref) ||
	    json_object_is_type(ref, json_type_null))
		return K8S_OK;
	if (!json_object_is_type(ref, json_type_object) ||
	    !json_object_object_get_ex(ref, "namespace", &ns) ||
	    !json_object_is_type(ns, json_type_string) ||
	    !json_object_object_get_ex(ref, "name", &name) ||
	    !json_object_is_type(name, json_type_string))
		return seterr(err, errlen, K8S_ERR_SHAPE,
			      "PV of volume %s: nodeStageSecretRef lacks a namespace or name",
			      r->handle);
	nss = json_object_get_string(ns);
	names = json_object_get_string(name);
	/* The validators stop at a NUL; an embedded one ("\u0000") is not a name. */
	if (k8s_dns1123_label_valid(nss) || strlen(nss) != (size_t)json_object_get_string_len(ns))
		return seterr(err, errlen, K8S_ERR_SHAPE,
			      "PV of volume %s: nodeStageSecretRef.namespace is not a DNS-1123 label",
			      r->handle);
	if (k8s_dns1123_subdomain_valid(names) ||
	    strlen(names) != (size_t)json_object_get_string_len(name))
		return seterr(err, errlen, K8S_ERR_SHAPE,
			      "PV of volume %s: nodeStageSecretRef.name is not a DNS-1123 subdomain",
			      r->handle);
	memcpy(r->ns, nss, strlen(nss) + 1);	   /* fits: nslen >= K8S_NS_BUFSZ */
	memcpy(r->name, names, strlen(names) + 1); /* fits: namelen >= K8S_NAME_BUFSZ */
	return K8S_OK;
}

int
k8s_pv_stage_secret_ref(struct k8s_client *c, const char *driver, const char *handle, char *ns,
			size_t nslen, char *name, size_t namelen, int *found, char *err,
			size_t errlen)
{
	struct ref_capture cap = { handle, ns, name };
	struct pv_visit visit = { capture_stage_ref, &cap };
	int rc;

	if (nslen < K8S_NS_BUFSZ || namelen < K8S_NAME_BUFSZ)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG,
			      "namespace/name buffers need %d/%d bytes", K8S_NS_BUFSZ,
			      K8S_NAME_BUFSZ);
	ns[0] = name[0] = '\0';
	rc = pv_visit_handle(c, driver, handle, &visit, found, err, errlen);
	if (rc != K8S_OK)
		ns[0] = name[0] = '\0';
	return rc;
}

/* ---- one PersistentVolume, whole ------------------------------------------ */

/* Does this object carry spec.csi.driver == driver and spec.csi.volumeHandle
 * == handle? (jstr_eq compares lengths, so "\u0000" tricks do not match.) */
static int
pv_obj_matches(struct json_object *pv, const char *driver, const char *handle)
{
	struct json_object *spec, *csi, *drv, *vh;

	return json_object_is_type(pv, json_type_object) &&
	       json_object_object_get_ex(pv, "spec", &spec) &&
	       json_object_is_type(spec, json_type_object) &&
	       json_object_object_get_ex(spec, "csi", &csi) &&
	       json_object_is_type(csi, json_type_object) &&
	       json_object_object_get_ex(csi, "driver", &drv) &&
	       json_object_is_type(drv, json_type_string) && jstr_eq(drv, driver) &&
	       json_object_object_get_ex(csi, "volumeHandle", &vh) &&
	       json_object_is_type(vh, json_type_string) && jstr_eq(vh, handle);
}

static int
dup_text(const char *s, size_t n, char **out, size_t *outlen, char *err, size_t errlen)
{
	*out = malloc(n + 1);
	if (!*out)
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	memcpy(*out, s, n);
	(*out)[n] = '\0';
	*outlen = n;
	return K8S_OK;
}

/* GET /api/v1/persistentvolumes/<handle>: K8S_OK with *out set when that
 * PV is ours and carries the handle; K8S_OK with *out NULL when there is
 * no PV of that name (404) or it is another volume's. */
static int
pv_get_named(struct k8s_client *c, const char *driver, const char *handle, char **out,
	     size_t *outlen, char *err, size_t errlen)
{
	char path[64 + K8S_NAME_BUFSZ];
	struct resp_buf rb = { 0 };
	struct json_object *root = NULL;
	const char *kind;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/persistentvolumes/%s", handle);
	rc = http_get(c, path, &rb, err, errlen);
	if (rc == K8S_ERR_NOT_FOUND) {
		rb_free(&rb);
		return K8S_OK;
	}
	if (rc == K8S_OK)
		rc = json_parse_body(rb.data, rb.len, 0, &root, err, errlen);
	if (rc == K8S_OK) {
		kind = json_object_is_type(root, json_type_object) ? jstr(root, "kind") : NULL;
		if (!kind || strcmp(kind, "PersistentVolume") != 0)
			rc = seterr(err, errlen, K8S_ERR_SHAPE,
				    "GET persistentvolumes/%s: answer is not a PersistentVolume",
				    handle);
	}
	if (rc == K8S_OK && pv_obj_matches(root, driver, handle))
		rc = dup_text(rb.data, rb.len, out, outlen, err, errlen);
	json_object_put(root);
	rb_free(&rb);
	return rc;
}

struct item_capture {
	char *json;
	size_t len;
	int rc;
};

/* The first matching item of the listing, serialised again (list items
 * carry no kind; the caller reads spec and metadata only). */
static int
capture_item(void *ctx, struct json_object *item, struct json_object *csi, char *err,
	     size_t errlen)
{
	struct item_capture *cap = ctx;
	size_t n = 0;
	const char *s;

	(void)csi;
	if (cap->json)
		return K8S_OK;
	s = json_object_to_json_string_length(item, JSON_C_TO_STRING_PLAIN, &n);
	if (!s)
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	return dup_text(s, n, &cap->json, &cap->len, err, errlen);
}

int
k8s_pv_for_handle(struct k8s_client *c, const char *driver, const char *handle, char **json,
		  size_t *len, int *found, char *err, size_t errlen)
{
	struct item_capture cap = { 0 };
	struct pv_visit visit = { capture_item, &cap };
	int rc, seen = 0;

	*json = NULL;
	*len = 0;
	rc = pv_lookup_args_valid(driver, &handle, 1, err, errlen);
	if (rc != K8S_OK)
		return rc;
	/* Fast path: a handle that can be an object name is usually the
	 * name of its PV. Anything else (static or restored PVs) needs the
	 * whole listing. */
	if (k8s_dns1123_subdomain_valid(handle) == 0) {
		rc = pv_get_named(c, driver, handle, &cap.json, &cap.len, err, errlen);
		if (rc != K8S_OK)
			return rc;
	}
	if (!cap.json) {
		rc = pv_visit_handle(c, driver, handle, &visit, &seen, err, errlen);
		if (rc != K8S_OK) {
			free(cap.json);
			return rc;
		}
	}
	*json = cap.json;
	*len = cap.len;
	*found = cap.json != NULL;
	return K8S_OK;
}

static const char *
nonempty(const char *s)
{
	return s && s[0] ? s : NULL;
}

int
k8s_client_from_config(const char *api, const char *token_path, const char *ca_path,
		       struct k8s_client **out, char *err, size_t errlen)
{
	struct k8s_client_opts o = { 0 };

	*out = NULL;
	if (nonempty(api) == NULL && getenv("KUBERNETES_SERVICE_HOST") == NULL)
		return K8S_OK;
	o.api_base = nonempty(api);
	o.token_path = nonempty(token_path);
	o.ca_path = nonempty(ca_path);
	return k8s_client_new(&o, out, err, errlen);
}
