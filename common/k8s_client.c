/* Kubernetes API client, linked into privd and the frontend (see
 * k8s_client.h): the client object itself. Its configuration, read once
 * before confinement (API address, cluster CA, service-account token
 * through a directory descriptor); the bearer token each request carries
 * and its re-read after a 401; result names. The HTTPS exchange is in
 * k8s_http.c, JSON in k8s_json.c, name checks in k8s_names.c, the resource
 * reads in k8s_secret.c, k8s_pv_list.c and k8s_pv_get.c; k8s_internal.h
 * is what they share. */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define CA_MAX (1024 * 1024)
#define MAX_BODY_CAP (64u * 1024u * 1024u)
#define AUTH_PREFIX "Authorization: Bearer "

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

/* ---- the bearer token ----------------------------------------------------- */

/* Build "Authorization: Bearer <token>" in locked memory; returns the token
 * generation it was built from. */
int
k8s_auth_header(struct k8s_client *c, struct lcw_secret *hdr, unsigned long *gen)
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

/* After a 401: re-read the token; retry only if it changed (or another
 * thread already refreshed it since our request was built). */
int
k8s_token_refresh(struct k8s_client *c, unsigned long gen)
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
