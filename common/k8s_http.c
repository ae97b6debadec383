/* Kubernetes API client: one HTTPS GET (or POST) against the API server. Every
 * request gets its own easy handle (threads; no shared connection state to
 * reason about) and its own response buffer, which is always wiped before
 * it is freed; TLS is verified against the cluster CA alone; a 401 re-reads
 * the token once; a non-200 answer becomes a K8S_ERR_* code quoting the
 * API's Status message. */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define URL_MAX 16384
#define SERVER_MSG_MAX 400 /* how much of a Status message we quote */

/* ---- response buffer ------------------------------------------------------ */

void
k8s_rb_free(struct resp_buf *rb)
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

/* A request body (NULL for GET). */
struct req_body {
	const char *method;	  /* "PATCH", "POST", ... */
	const char *content_type; /* e.g. "application/apply-patch+yaml" */
	const char *data;
	size_t len;
};

static int
perform(struct k8s_client *c, const char *url, const struct req_body *body, struct resp_buf *rb,
	long *status, unsigned long *gen, char *err, size_t errlen)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	struct lcw_secret hdr = { 0 };
	struct curl_slist *hl = NULL, *t;
	CURL *h;
	CURLcode cc;

	if (k8s_auth_header(c, &hdr, gen))
		return seterr(err, errlen, K8S_ERR_INTERNAL, "locked memory: %s", strerror(errno));
	hl = curl_slist_append(NULL, (const char *)hdr.bytes); /* copies; wiped below */
	secret_free(&hdr);
	t = hl ? curl_slist_append(hl, "Accept: application/json") : NULL;
	if (t && body) {
		char ct[128];
		snprintf(ct, sizeof(ct), "Content-Type: %s", body->content_type);
		t = curl_slist_append(t, ct);
		/* and no "Expect: 100-continue" round trip */
		t = t ? curl_slist_append(t, "Expect:") : NULL;
	}
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
	if (cc == CURLE_OK && body) { /* the body is sent as is, never from a file */
		cc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, body->method);
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data);
	}
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

	if (k8s_json_parse(rb->data, rb->len, 0, &o, NULL, 0) == K8S_OK &&
	    json_object_is_type(o, json_type_object) && k8s_jstr(o, "kind") &&
	    strcmp(k8s_jstr(o, "kind"), "Status") == 0) {
		sanitize_copy(msg, sizeof(msg), k8s_jstr(o, "message"));
		sanitize_copy(reason, sizeof(reason), k8s_jstr(o, "reason"));
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

/* One request to base+path; K8S_OK only for a complete 200 (or, with a
 * body, 201) response in rb. A 401 is retried once with a re-read token. */
static int
request(struct k8s_client *c, const char *path, const struct req_body *body, struct resp_buf *rb,
	char *err, size_t errlen)
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
		k8s_rb_free(rb);
		rb->max = c->max_body;
		rc = perform(c, url, body, rb, &status, &gen, err, errlen);
		if (rc != K8S_OK)
			break;
		if (status == 401 && attempt == 0 && k8s_token_refresh(c, gen))
			continue;
		/* 202: a DELETE accepted, the object going away gracefully */
		rc = status == 200 || (body && (status == 201 || status == 202)) ? K8S_OK
							       : status_error(status, rb, err, errlen);
		if (status == 401 && rc == K8S_ERR_UNAUTHORIZED)
			seterr(err, errlen, rc, "HTTP 401 Unauthorized: service-account token rejected");
		break;
	}
	free(url);
	return rc;
}

int
k8s_http_get(struct k8s_client *c, const char *path, struct resp_buf *rb, char *err, size_t errlen)
{
	return request(c, path, NULL, rb, err, errlen);
}

int
k8s_http_send(struct k8s_client *c, const char *method, const char *path, const char *content_type,
	      const char *data, size_t len, struct resp_buf *rb, char *err, size_t errlen)
{
	struct req_body b = { method, content_type, data, len };
	if (strcmp(method, "POST") && strcmp(method, "PATCH") && strcmp(method, "PUT") &&
	    strcmp(method, "DELETE"))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "method %s not used", method);
	return request(c, path, &b, rb, err, errlen);
}

int
k8s_http_post(struct k8s_client *c, const char *path, const char *body, size_t body_len,
	      struct resp_buf *rb, char *err, size_t errlen)
{
	if (body == NULL || body_len == 0 || body_len > K8S_POST_MAX)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "request body of %zu bytes",
			      body_len);
	return k8s_http_send(c, "POST", path, "application/json", body, body_len, rb, err, errlen);
}
