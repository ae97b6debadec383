/* S3 volume purge: one request. SigV4 signing is libcurl's
 * (CURLOPT_AWS_SIGV4, set up in s3_purge.c); this adds the headers S3
 * needs besides (payload SHA-256, Content-MD5 for DeleteObjects), keeps
 * the response body within its limit, retries what S3 asks to be retried
 * within the purge's deadline, and maps every failure to an S3_ERR_* code
 * with a message quoting S3's error code, never credentials. */
#define _GNU_SOURCE
#include "s3_purge_internal.h"
#include "log.h"

#include "base64.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#define URL_MAX (8192 + 3 * KEY_MAX)
#define RETRIES 3		/* attempts per request for 5xx and dropped connections */

static void
b64_std(const unsigned char *in, size_t n, char *out)
{
	b64_encode(in, n, out, B64_STD, 1);
}

static int
digest(const EVP_MD *md, const void *p, size_t n, unsigned char *out, unsigned *outlen)
{
	return EVP_Digest(p, n, out, outlen, md, NULL) == 1 ? 0 : -1;
}

size_t
s3_on_body(char *data, size_t size, size_t nmemb, void *user)
{
	struct s3_body *b = user;
	size_t n = size * nmemb;

	if (n > b->max || b->len + n > b->max) {
		b->too_large = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *q;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		q = realloc(b->p, cap);
		if (q == NULL)
			return 0;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

bool
s3_past_deadline(const struct s3_ctx *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > c->deadline.tv_sec ||
	       (now.tv_sec == c->deadline.tv_sec && now.tv_nsec >= c->deadline.tv_nsec);
}

/* Map a non-2xx answer to a code and a message. */
int
s3_http_error(struct s3_ctx *c, const char *op, long status)
{
	char code[64] = "", msg[256] = "", raw[512];
	xmlDocPtr doc = s3_parse_xml(&c->resp);
	int rc;

	if (doc != NULL) {
		xmlNodePtr root = xmlDocGetRootElement(doc);
		if (s3_is_elem(root, "Error")) {
			if (s3_text_of(s3_child(root, "Code"), raw, sizeof(raw)) == 0)
				s3_clean_text(raw, code, sizeof(code));
			if (s3_text_of(s3_child(root, "Message"), raw, sizeof(raw)) == 0)
				s3_clean_text(raw, msg, sizeof(msg));
		}
		xmlFreeDoc(doc);
	}
	if (strcmp(code, "NoSuchBucket") == 0)
		rc = S3_ERR_NO_SUCH_BUCKET;
	else if (status == 401 || status == 403 || strcmp(code, "InvalidAccessKeyId") == 0 ||
		 strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "AccessDenied") == 0 ||
		 strcmp(code, "InvalidToken") == 0 || strcmp(code, "ExpiredToken") == 0)
		rc = S3_ERR_AUTH;
	else if (status == 301 || status == 307 || strcmp(code, "PermanentRedirect") == 0 ||
		 strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
		 strcmp(code, "IllegalLocationConstraintException") == 0)
		rc = S3_ERR_WRONG_REGION;
	else if (status == 404)
		rc = S3_ERR_NO_SUCH_BUCKET; /* a 404 on the bucket itself */
	else
		rc = S3_ERR_HTTP;
	errfmt(c->err, c->errlen, "%s %s: HTTP %ld%s%s%s%s (%s)", op, c->where, status,
	    code[0] ? " " : "", code, msg[0] ? ": " : "", msg, s3_result_name(rc));
	return rc;
}

static int
curl_error(struct s3_ctx *c, const char *op, CURLcode e)
{
	int rc;

	switch (e) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		rc = S3_ERR_CONNECT;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		rc = S3_ERR_TIMEOUT;
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_USE_SSL_FAILED:
		rc = S3_ERR_TLS;
		break;
	case CURLE_WRITE_ERROR:
		rc = c->resp.too_large ? S3_ERR_TOO_LARGE : S3_ERR_INTERNAL;
		break;
	default:
		rc = S3_ERR_CONNECT;
	}
	errfmt(c->err, c->errlen, "%s %s: %s (%s)", op, c->where, curl_easy_strerror(e),
	    s3_result_name(rc));
	return rc;
}

/* One signed request. url_tail is appended to c->base. Returns S3_OK with
 * *status, or an error code with the message set. */
int
s3_request(struct s3_ctx *c, const char *op, const char *method, const char *url_tail,
	const char *body, size_t body_len, long *status)
{
	char url[URL_MAX], sha_hdr[96], md5_hdr[64], hex[65];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen, i;
	struct curl_slist *hdrs = NULL, *t;
	CURLcode e = CURLE_OK;
	long timeout;
	struct timespec now;
	int rc = S3_ERR_INTERNAL, w, attempt;
	bool retry;

	if (s3_past_deadline(c)) {
		errfmt(c->err, c->errlen, "%s %s: purge deadline reached (%s)", op, c->where,
		    s3_result_name(S3_ERR_TIMEOUT));
		return S3_ERR_TIMEOUT;
	}
	w = snprintf(url, sizeof(url), "%s%s", c->base, url_tail);
	if (w < 0 || (size_t)w >= sizeof(url)) {
		errfmt(c->err, c->errlen, "%s %s: URL too long", op, c->where);
		return S3_ERR_INVALID_ARG;
	}
	/* x-amz-content-sha256 is mandatory for S3; curl 7.88 does not add
	 * it, but signs it (and takes it as the payload hash) when present. */
	if (digest(EVP_sha256(), body ? body : "", body_len, md, &mdlen))
		return S3_ERR_INTERNAL;
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(sha_hdr, sizeof(sha_hdr), "x-amz-content-sha256: %s", hex);
	t = curl_slist_append(hdrs, sha_hdr);
	if (t == NULL)
		goto out;
	hdrs = t;
	if (body != NULL) {
		char b64[32];
		/* DeleteObjects requires Content-MD5 (or a checksum header). */
		if (digest(EVP_md5(), body, body_len, md, &mdlen))
			goto out;
		b64_std(md, mdlen, b64);
		snprintf(md5_hdr, sizeof(md5_hdr), "Content-MD5: %s", b64);
		if ((t = curl_slist_append(hdrs, md5_hdr)) == NULL)
			goto out;
		hdrs = t;
		if ((t = curl_slist_append(hdrs, "Content-Type: application/xml")) == NULL)
			goto out;
		hdrs = t;
	}
	/* No "Expect: 100-continue" round trip. */
	if ((t = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto out;
	hdrs = t;

	/* S3 asks clients to retry 500/502/503/504 (InternalError, SlowDown)
	 * and dropped connections; every request here is idempotent (a list,
	 * or a delete of keys that may already be gone). */
	for (attempt = 1;; attempt++) {
		c->resp.len = 0;
		c->resp.too_large = false;
		if (c->resp.p)
			c->resp.p[0] = '\0';
		timeout = c->o->timeout_ms;
		clock_gettime(CLOCK_MONOTONIC, &now);
		{
			long left = (long)(c->deadline.tv_sec - now.tv_sec) * 1000L +
				    (c->deadline.tv_nsec - now.tv_nsec) / 1000000L;
			if (left <= 0) {
				errfmt(c->err, c->errlen, "%s %s: purge deadline reached (%s)", op, c->where,
				    s3_result_name(S3_ERR_TIMEOUT));
				rc = S3_ERR_TIMEOUT;
				goto out;
			}
			if (left < timeout)
				timeout = left;
		}
		curl_easy_setopt(c->h, CURLOPT_URL, url);
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, timeout);
		if (strcmp(method, "GET") == 0) {
			curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, NULL);
		} else if (strcmp(method, "POST") == 0) {
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, NULL);
			curl_easy_setopt(c->h, CURLOPT_POST, 1L);
			curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		} else { /* DELETE */
			curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, "DELETE");
		}
		e = curl_easy_perform(c->h);
		if (c->st)
			c->st->requests++;
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
		*status = 0;
		if (e == CURLE_OK)
			curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
		retry = (e == CURLE_SEND_ERROR || e == CURLE_RECV_ERROR || e == CURLE_GOT_NOTHING ||
			 (e == CURLE_OK && (*status == 500 || *status == 502 || *status == 503 ||
					    *status == 504)));
		if (!retry || attempt >= RETRIES || s3_past_deadline(c))
			break;
		usleep(200000u << (attempt - 1)); /* 0.2 s, 0.4 s */
	}
	if (e != CURLE_OK) {
		rc = curl_error(c, op, e);
		goto out;
	}
	rc = S3_OK;
out:
	curl_slist_free_all(hdrs);
	return rc;
}
