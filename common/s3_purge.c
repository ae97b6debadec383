/* S3 volume purge with libcurl SigV4 and libxml2: see s3_purge.h. */
#define _GNU_SOURCE
#include "s3_purge.h"
#include "log.h"

#include "base64.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "volparams.h"

#define DEF_CONNECT_TIMEOUT_MS 5000L
#define DEF_TIMEOUT_MS 60000L
#define DEF_TOTAL_TIMEOUT_MS 1800000L
#define DEF_MAX_BODY (8u * 1024u * 1024u)
#define DEF_MAX_KEYS 1000u
#define DEF_MAX_PAGES 1000000u
#define KEY_MAX 1024		/* S3's own limit */
#define TOKEN_MAX 4096		/* continuation tokens are opaque; bound them */
#define URL_MAX (8192 + 3 * KEY_MAX)
#define RETRIES 3		/* attempts per request for 5xx and dropped connections */


const char *
s3_result_name(int rc)
{
	switch (rc) {
	case S3_OK: return "S3_OK";
	case S3_ERR_INVALID_ARG: return "S3_ERR_INVALID_ARG";
	case S3_ERR_NO_SUCH_BUCKET: return "S3_ERR_NO_SUCH_BUCKET";
	case S3_ERR_AUTH: return "S3_ERR_AUTH";
	case S3_ERR_WRONG_REGION: return "S3_ERR_WRONG_REGION";
	case S3_ERR_CONNECT: return "S3_ERR_CONNECT";
	case S3_ERR_TLS: return "S3_ERR_TLS";
	case S3_ERR_TIMEOUT: return "S3_ERR_TIMEOUT";
	case S3_ERR_HTTP: return "S3_ERR_HTTP";
	case S3_ERR_TOO_LARGE: return "S3_ERR_TOO_LARGE";
	case S3_ERR_BAD_RESPONSE: return "S3_ERR_BAD_RESPONSE";
	case S3_ERR_OUTSIDE_PREFIX: return "S3_ERR_OUTSIDE_PREFIX";
	case S3_ERR_DELETE_FAILED: return "S3_ERR_DELETE_FAILED";
	case S3_ERR_NOT_EMPTY: return "S3_ERR_NOT_EMPTY";
	case S3_ERR_INTERNAL: return "S3_ERR_INTERNAL";
	}
	return "S3_ERR_UNKNOWN";
}

int
s3_purge_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	xmlInitParser();
	return 0;
}

void
s3_purge_global_cleanup(void)
{
	xmlCleanupParser();
	curl_global_cleanup();
}

/* ---- encoding ------------------------------------------------------------- */

static bool
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

int
s3_uri_encode(const char *in, size_t n, bool keep_slash, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= outlen)
				return -1;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

int
s3_list_query(const char *prefix, unsigned max_keys, const char *token, char *out, size_t outlen)
{
	char ep[3 * 1100], et[3 * TOKEN_MAX + 1];
	int w;

	if (prefix == NULL || strlen(prefix) > 1024 || max_keys == 0 || max_keys > 1000)
		return -1;
	if (s3_uri_encode(prefix, strlen(prefix), false, ep, sizeof(ep)))
		return -1;
	/* SigV4 wants the parameters sorted by name; curl 7.88 signs the
	 * query as it is in the URL, so it must already be canonical. */
	if (token != NULL) {
		if (strlen(token) > TOKEN_MAX || s3_uri_encode(token, strlen(token), false, et, sizeof(et)))
			return -1;
		w = snprintf(out, outlen,
			     "continuation-token=%s&encoding-type=url&list-type=2&max-keys=%u&prefix=%s",
			     et, max_keys, ep);
	} else {
		w = snprintf(out, outlen, "encoding-type=url&list-type=2&max-keys=%u&prefix=%s",
			     max_keys, ep);
	}
	return (w < 0 || (size_t)w >= outlen) ? -1 : 0;
}

/* Percent-decoding of keys from a listing with EncodingType=url ('+' is a
 * space there). Returns the length or -1 (bad escape, NUL, too long). */
static int
url_decode(const char *in, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; in[i] != '\0'; i++) {
		int c = (unsigned char)in[i];
		if (c == '%') {
			int h = 0, k;
			for (k = 1; k <= 2; k++) {
				char x = in[i + (size_t)k];
				h <<= 4;
				if (x >= '0' && x <= '9')
					h |= x - '0';
				else if (x >= 'a' && x <= 'f')
					h |= x - 'a' + 10;
				else if (x >= 'A' && x <= 'F')
					h |= x - 'A' + 10;
				else
					return -1;
			}
			c = h;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0 || o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}

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

/* ---- one purge --------------------------------------------------------------- */

struct body {
	char *p;
	size_t len, cap, max;
	bool too_large;
};

struct ctx {
	const struct s3_secret *s;
	const struct s3_purge_opts *o;
	struct s3_purge_stats *st;
	CURL *h;
	char base[1024];	/* scheme://host[:port][/path][/bucket] without a trailing '/' */
	char where[1400];	/* s3://bucket/prefix for messages */
	char list_prefix[1100]; /* [prefix/]volumes/<id>/ */
	size_t list_prefix_len;
	struct timespec deadline;
	struct body resp;
	char *err;
	size_t errlen;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *user)
{
	struct body *b = user;
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

static bool
past_deadline(const struct ctx *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > c->deadline.tv_sec ||
	       (now.tv_sec == c->deadline.tv_sec && now.tv_nsec >= c->deadline.tv_nsec);
}

/* Copy S3's text for a message: printable ASCII only, bounded. */
static void
clean_text(const char *in, char *out, size_t outlen)
{
	size_t i, o = 0;

	if (outlen == 0)
		return;
	for (i = 0; in && in[i] != '\0' && o + 1 < outlen && i < 200; i++) {
		unsigned char c = (unsigned char)in[i];
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = '\0';
}

static xmlDocPtr
parse_xml(const struct body *b)
{
	xmlDocPtr doc;

	if (b->len == 0 || b->len > (size_t)0x7fffffff)
		return NULL;
	doc = xmlReadMemory(b->p, (int)b->len, "s3-response.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				    XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA);
	if (doc == NULL)
		return NULL;
	/* S3 never sends a DTD; refuse any, so no entity can be defined. */
	if (doc->intSubset != NULL || doc->extSubset != NULL || xmlDocGetRootElement(doc) == NULL) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static bool
is_elem(xmlNodePtr n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE &&
	       xmlStrcmp(n->name, (const xmlChar *)name) == 0;
}

static xmlNodePtr
child(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n;

	for (n = parent ? parent->children : NULL; n != NULL; n = n->next)
		if (is_elem(n, name))
			return n;
	return NULL;
}

/* Text of an element into out; returns 0, or -1 if absent or too long. */
static int
text_of(xmlNodePtr n, char *out, size_t outlen)
{
	xmlChar *t;
	size_t l;

	if (n == NULL)
		return -1;
	t = xmlNodeGetContent(n);
	if (t == NULL)
		return -1;
	l = strlen((const char *)t);
	if (l >= outlen) {
		xmlFree(t);
		return -1;
	}
	memcpy(out, t, l + 1);
	xmlFree(t);
	return 0;
}

/* Map a non-2xx answer to a code and a message. */
static int
http_error(struct ctx *c, const char *op, long status)
{
	char code[64] = "", msg[256] = "", raw[512];
	xmlDocPtr doc = parse_xml(&c->resp);
	int rc;

	if (doc != NULL) {
		xmlNodePtr root = xmlDocGetRootElement(doc);
		if (is_elem(root, "Error")) {
			if (text_of(child(root, "Code"), raw, sizeof(raw)) == 0)
				clean_text(raw, code, sizeof(code));
			if (text_of(child(root, "Message"), raw, sizeof(raw)) == 0)
				clean_text(raw, msg, sizeof(msg));
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
curl_error(struct ctx *c, const char *op, CURLcode e)
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
static int
request(struct ctx *c, const char *op, const char *method, const char *url_tail,
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

	if (past_deadline(c)) {
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
		if (!retry || attempt >= RETRIES || past_deadline(c))
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

struct page {
	char **keys;
	size_t n, cap;
	bool truncated;
	char token[TOKEN_MAX + 1];
};

static void
page_clear(struct page *pg)
{
	size_t i;

	for (i = 0; i < pg->n; i++)
		free(pg->keys[i]);
	pg->n = 0;
	pg->truncated = false;
	pg->token[0] = '\0';
}

static int
page_add(struct page *pg, const char *k, size_t l)
{
	char *d;

	if (pg->n == pg->cap) {
		size_t cap = pg->cap ? pg->cap * 2 : 256;
		char **q = realloc(pg->keys, cap * sizeof(*q));
		if (q == NULL)
			return -1;
		pg->keys = q;
		pg->cap = cap;
	}
	d = malloc(l + 1);
	if (d == NULL)
		return -1;
	memcpy(d, k, l + 1);
	pg->keys[pg->n++] = d;
	return 0;
}

static bool
under_prefix(const struct ctx *c, const char *key)
{
	return strncmp(key, c->list_prefix, c->list_prefix_len) == 0 &&
	       strlen(key) > c->list_prefix_len;
}

/* ListObjectsV2, one page. */
static int
list_page(struct ctx *c, const char *token, unsigned max_keys, struct page *pg)
{
	char q[3 * TOKEN_MAX + 3 * 1100 + 128], tail[sizeof(q) + 8];
	char raw[3 * KEY_MAX + 1], key[KEY_MAX + 1], tmp[16];
	xmlDocPtr doc;
	xmlNodePtr root, n;
	bool url_encoded = false;
	long status = 0;
	int rc;

	page_clear(pg);
	if (s3_list_query(c->list_prefix, max_keys, token, q, sizeof(q))) {
		errfmt(c->err, c->errlen, "list %s: query too long", c->where);
		return S3_ERR_INVALID_ARG;
	}
	snprintf(tail, sizeof(tail), "%s?%s", s3_use_path_style(c->s) ? "" : "/", q);
	rc = request(c, "list", "GET", tail, NULL, 0, &status);
	if (rc != S3_OK)
		return rc;
	if (status != 200)
		return http_error(c, "list", status);
	if (c->st)
		c->st->pages++;
	doc = parse_xml(&c->resp);
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!is_elem(root, "ListBucketResult")) {
		errfmt(c->err, c->errlen, "list %s: the answer is not a ListBucketResult (%s)", c->where,
		    s3_result_name(S3_ERR_BAD_RESPONSE));
		rc = S3_ERR_BAD_RESPONSE;
		goto out;
	}
	if (text_of(child(root, "EncodingType"), tmp, sizeof(tmp)) == 0)
		url_encoded = strcmp(tmp, "url") == 0;
	if (text_of(child(root, "IsTruncated"), tmp, sizeof(tmp)) == 0)
		pg->truncated = strcmp(tmp, "true") == 0;
	if (pg->truncated &&
	    (text_of(child(root, "NextContinuationToken"), pg->token, sizeof(pg->token)) != 0 ||
	     pg->token[0] == '\0')) {
		errfmt(c->err, c->errlen, "list %s: truncated listing without a usable continuation token (%s)",
		    c->where, s3_result_name(S3_ERR_BAD_RESPONSE));
		rc = S3_ERR_BAD_RESPONSE;
		goto out;
	}
	for (n = root->children; n != NULL; n = n->next) {
		int l;
		if (!is_elem(n, "Contents"))
			continue;
		if (text_of(child(n, "Key"), raw, sizeof(raw)) != 0) {
			errfmt(c->err, c->errlen, "list %s: object without a usable key (%s)", c->where,
			    s3_result_name(S3_ERR_BAD_RESPONSE));
			rc = S3_ERR_BAD_RESPONSE;
			goto out;
		}
		if (url_encoded) {
			l = url_decode(raw, key, sizeof(key));
		} else {
			size_t rl = strlen(raw);
			l = rl < sizeof(key) ? (int)rl : -1;
			if (l >= 0)
				memcpy(key, raw, rl + 1);
		}
		if (l < 0) {
			errfmt(c->err, c->errlen, "list %s: undecodable or over-long key (%s)", c->where,
			    s3_result_name(S3_ERR_BAD_RESPONSE));
			rc = S3_ERR_BAD_RESPONSE;
			goto out;
		}
		/* Never act on a key outside the volume. */
		if (!under_prefix(c, key)) {
			char shown[128];
			clean_text(key, shown, sizeof(shown));
			errfmt(c->err, c->errlen,
			    "list %s: the server returned key \"%s\" outside the volume prefix; "
			    "nothing deleted from this page (%s)",
			    c->where, shown, s3_result_name(S3_ERR_OUTSIDE_PREFIX));
			rc = S3_ERR_OUTSIDE_PREFIX;
			goto out;
		}
		if (page_add(pg, key, (size_t)l)) {
			rc = S3_ERR_INTERNAL;
			errfmt(c->err, c->errlen, "list %s: out of memory", c->where);
			goto out;
		}
	}
	if (c->st)
		c->st->listed += pg->n;
	rc = S3_OK;
out:
	if (doc)
		xmlFreeDoc(doc);
	if (rc != S3_OK)
		page_clear(pg);
	return rc;
}

/* XML 1.0 can carry the key? (no control characters but tab/LF/CR) */
static bool
xml_safe(const char *k)
{
	for (; *k; k++)
		if ((unsigned char)*k < 0x20 && *k != '\t' && *k != '\n' && *k != '\r')
			return false;
	return true;
}

static int
xml_escape_append(struct body *b, const char *s)
{
	for (; *s; s++) {
		const char *r = NULL;
		char one[2] = {*s, 0};
		switch (*s) {
		case '&': r = "&amp;"; break;
		case '<': r = "&lt;"; break;
		case '>': r = "&gt;"; break;
		case '"': r = "&quot;"; break;
		case '\'': r = "&apos;"; break;
		case '\t': r = "&#9;"; break;
		case '\n': r = "&#10;"; break;
		case '\r': r = "&#13;"; break;
		default: r = one;
		}
		if (on_body((char *)r, 1, strlen(r), b) != strlen(r))
			return -1;
	}
	return 0;
}

static int
delete_one(struct ctx *c, const char *key)
{
	char enc[3 * KEY_MAX + 2], tail[sizeof(enc) + 8];
	long status = 0;
	int rc;

	if (!under_prefix(c, key))
		return S3_ERR_OUTSIDE_PREFIX;
	if (s3_uri_encode(key, strlen(key), true, enc, sizeof(enc)))
		return S3_ERR_INVALID_ARG;
	snprintf(tail, sizeof(tail), "/%s", enc);
	rc = request(c, "delete", "DELETE", tail, NULL, 0, &status);
	if (rc != S3_OK)
		return rc;
	if (status != 204 && status != 200)
		return http_error(c, "delete", status);
	if (c->st)
		c->st->deleted++;
	return S3_OK;
}

/* DeleteObjects for a page of keys; keys that XML cannot carry are deleted
 * one by one. */
static int
delete_page(struct ctx *c, const struct page *pg)
{
	struct body req = {.max = 4u * 1024u * 1024u};
	xmlDocPtr doc = NULL;
	xmlNodePtr root, n;
	size_t i, in_batch = 0;
	long status = 0;
	int rc = S3_ERR_INTERNAL;
	static const char head[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		"<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>";

	for (i = 0; i < pg->n; i++)
		if (!under_prefix(c, pg->keys[i])) {
			errfmt(c->err, c->errlen, "delete %s: key outside the volume prefix (%s)",
			    c->where, s3_result_name(S3_ERR_OUTSIDE_PREFIX));
			return S3_ERR_OUTSIDE_PREFIX;
		}
	if (c->o->single_deletes) {
		for (i = 0; i < pg->n; i++)
			if ((rc = delete_one(c, pg->keys[i])) != S3_OK)
				return rc;
		return S3_OK;
	}
	if (on_body((char *)head, 1, sizeof(head) - 1, &req) != sizeof(head) - 1)
		goto oom;
	for (i = 0; i < pg->n; i++) {
		if (!xml_safe(pg->keys[i])) {
			if ((rc = delete_one(c, pg->keys[i])) != S3_OK)
				goto out;
			continue;
		}
		if (on_body("<Object><Key>", 1, 13, &req) != 13 ||
		    xml_escape_append(&req, pg->keys[i]) ||
		    on_body("</Key></Object>", 1, 15, &req) != 15)
			goto oom;
		in_batch++;
	}
	if (in_batch == 0) {
		rc = S3_OK;
		goto out;
	}
	if (on_body("</Delete>", 1, 9, &req) != 9)
		goto oom;
	rc = request(c, "delete", "POST", s3_use_path_style(c->s) ? "?delete=" : "/?delete=",
		     req.p, req.len, &status);
	if (rc != S3_OK)
		goto out;
	if (status != 200) {
		rc = http_error(c, "delete", status);
		goto out;
	}
	doc = parse_xml(&c->resp);
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!is_elem(root, "DeleteResult")) {
		errfmt(c->err, c->errlen, "delete %s: the answer is not a DeleteResult (%s)", c->where,
		    s3_result_name(S3_ERR_BAD_RESPONSE));
		rc = S3_ERR_BAD_RESPONSE;
		goto out;
	}
	for (n = root->children; n != NULL; n = n->next) {
		char code[64] = "", raw[256], key[128] = "";
		if (!is_elem(n, "Error"))
			continue;
		if (text_of(child(n, "Code"), raw, sizeof(raw)) == 0)
			clean_text(raw, code, sizeof(code));
		if (text_of(child(n, "Key"), raw, sizeof(raw)) == 0)
			clean_text(raw, key, sizeof(key));
		errfmt(c->err, c->errlen, "delete %s: key \"%s\": %s (%s)", c->where, key, code,
		    s3_result_name(S3_ERR_DELETE_FAILED));
		rc = S3_ERR_DELETE_FAILED;
		goto out;
	}
	if (c->st)
		c->st->deleted += in_batch;
	rc = S3_OK;
	goto out;
oom:
	errfmt(c->err, c->errlen, "delete %s: out of memory", c->where);
	rc = S3_ERR_INTERNAL;
out:
	if (doc)
		xmlFreeDoc(doc);
	free(req.p);
	return rc;
}

static int
build_base(struct ctx *c, char *err, size_t errlen)
{
	const struct s3_secret *s = c->s;
	struct s3_endpoint ep;
	char hostport[300], why[160];
	const char *region = s->region[0] ? s->region : "us-east-1";
	int w;

	if (s->endpoint[0] != '\0') {
		if (s3_endpoint_parse(s->endpoint, &ep, why, sizeof(why))) {
			errfmt(err, errlen, "invalid s3-endpoint: %s", why);
			return -1;
		}
	} else {
		memset(&ep, 0, sizeof(ep));
		ep.https = true;
		snprintf(ep.host, sizeof(ep.host), "s3.%s.amazonaws.com", region);
	}
	if (ep.port)
		snprintf(hostport, sizeof(hostport), "%s:%u", ep.host, ep.port);
	else
		snprintf(hostport, sizeof(hostport), "%s", ep.host);
	if (s3_use_path_style(s))
		w = snprintf(c->base, sizeof(c->base), "%s://%s%s/%s", ep.https ? "https" : "http",
			     hostport, ep.path, s->bucket);
	else
		w = snprintf(c->base, sizeof(c->base), "%s://%s.%s%s", ep.https ? "https" : "http",
			     s->bucket, hostport, ep.path);
	if (w < 0 || (size_t)w >= sizeof(c->base)) {
		errfmt(err, errlen, "S3 URL too long");
		return -1;
	}
	return 0;
}

int
s3_purge_volume(const struct s3_secret *s, const char *prefix, const char *volid,
		const struct s3_purge_opts *opts, struct s3_purge_stats *st, char *err,
		size_t errlen)
{
	struct s3_purge_opts o = {0};
	struct ctx c;
	struct page pg = {0};
	struct curl_slist *connect_to = NULL;
	char sigv4[128], why[160], token[TOKEN_MAX + 1];
	unsigned pages = 0;
	int rc = S3_ERR_INTERNAL, w;

	memset(&c, 0, sizeof(c));
	if (st)
		memset(st, 0, sizeof(*st));
	if (opts)
		o = *opts;
	if (o.connect_timeout_ms <= 0)
		o.connect_timeout_ms = DEF_CONNECT_TIMEOUT_MS;
	if (o.timeout_ms <= 0)
		o.timeout_ms = DEF_TIMEOUT_MS;
	if (o.total_timeout_ms <= 0)
		o.total_timeout_ms = DEF_TOTAL_TIMEOUT_MS;
	if (o.max_body == 0)
		o.max_body = DEF_MAX_BODY;
	if (o.max_body > 64u * 1024u * 1024u)
		o.max_body = 64u * 1024u * 1024u;
	if (o.max_keys == 0 || o.max_keys > 1000)
		o.max_keys = DEF_MAX_KEYS;
	if (o.max_pages == 0)
		o.max_pages = DEF_MAX_PAGES;

	if (s == NULL || s3_secret_check(s, err, errlen) != 0)
		return S3_ERR_INVALID_ARG;
	if (s->bucket[0] == '\0' || s->secret_access_key.bytes == NULL) {
		errfmt(err, errlen, "S3 secret incomplete");
		return S3_ERR_INVALID_ARG;
	}
	if (prefix == NULL || s3_prefix_valid(prefix, why, sizeof(why)) != 0) {
		errfmt(err, errlen, "invalid s3-path-prefix: %s", prefix ? why : "missing");
		return S3_ERR_INVALID_ARG;
	}
	if (volid == NULL || volid_valid(volid) != 0) {
		errfmt(err, errlen, "invalid volume id");
		return S3_ERR_INVALID_ARG;
	}
	c.s = s;
	c.o = &o;
	c.st = st;
	c.err = err;
	c.errlen = errlen;
	c.resp.max = o.max_body;
	w = prefix[0] ? snprintf(c.list_prefix, sizeof(c.list_prefix), "%s/volumes/%s/", prefix, volid)
		      : snprintf(c.list_prefix, sizeof(c.list_prefix), "volumes/%s/", volid);
	if (w < 0 || (size_t)w >= sizeof(c.list_prefix)) {
		errfmt(err, errlen, "volume prefix too long");
		return S3_ERR_INVALID_ARG;
	}
	c.list_prefix_len = (size_t)w;
	snprintf(c.where, sizeof(c.where), "s3://%s/%s", s->bucket, c.list_prefix);
	if (build_base(&c, err, errlen))
		return S3_ERR_INVALID_ARG;
	snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", s->region[0] ? s->region : "us-east-1");
	clock_gettime(CLOCK_MONOTONIC, &c.deadline);
	c.deadline.tv_sec += o.total_timeout_ms / 1000;
	c.deadline.tv_nsec += (o.total_timeout_ms % 1000) * 1000000L;
	if (c.deadline.tv_nsec >= 1000000000L) {
		c.deadline.tv_sec++;
		c.deadline.tv_nsec -= 1000000000L;
	}

	c.h = curl_easy_init();
	if (c.h == NULL) {
		errfmt(err, errlen, "curl_easy_init failed");
		return S3_ERR_INTERNAL;
	}
#define SET(opt, val)                                                    \
	do {                                                             \
		if (curl_easy_setopt(c.h, opt, val) != CURLE_OK) {       \
			errfmt(err, errlen, "libcurl: cannot set %s", #opt); \
			rc = S3_ERR_INTERNAL;                            \
			goto out;                                        \
		}                                                        \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_PATH_AS_IS, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, o.connect_timeout_ms);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, &c.resp);
	SET(CURLOPT_USERAGENT, "lukscryptwalker-csi");
	SET(CURLOPT_AWS_SIGV4, sigv4);
	SET(CURLOPT_USERNAME, s->access_key_id);
	SET(CURLOPT_PASSWORD, (const char *)s->secret_access_key.bytes);
	/* The environment's proxy variables are not ours to follow. */
	SET(CURLOPT_PROXY, o.proxy ? o.proxy : "");
	if (o.ca_path)
		SET(CURLOPT_CAINFO, o.ca_path);
	if (o.connect_to) {
		connect_to = curl_slist_append(NULL, o.connect_to);
		if (connect_to == NULL) {
			rc = S3_ERR_INTERNAL;
			goto out;
		}
		SET(CURLOPT_CONNECT_TO, connect_to);
	}
#undef SET

	if (o.probe_only) {
		/* One listing of at most one key: proves endpoint, credentials,
		 * region and bucket without touching anything. */
		rc = list_page(&c, NULL, 1, &pg);
		goto out;
	}
	/* Walk the listing with continuation tokens, deleting page by page. */
	token[0] = '\0';
	for (;;) {
		if (++pages > o.max_pages) {
			errfmt(err, errlen, "purge %s: more than %u pages (%s)", c.where, o.max_pages,
			    s3_result_name(S3_ERR_TIMEOUT));
			rc = S3_ERR_TIMEOUT;
			goto out;
		}
		rc = list_page(&c, token[0] ? token : NULL, o.max_keys, &pg);
		if (rc != S3_OK)
			goto out;
		if (pg.n > 0 && (rc = delete_page(&c, &pg)) != S3_OK)
			goto out;
		if (!pg.truncated)
			break;
		snprintf(token, sizeof(token), "%s", pg.token);
	}
	/* Nothing may be left: a key that appeared meanwhile means a writer is
	 * still active somewhere, and the caller must retry later. */
	rc = list_page(&c, NULL, 1, &pg);
	if (rc != S3_OK)
		goto out;
	if (pg.n > 0) {
		errfmt(err, errlen, "purge %s: objects remain after deleting (%s)", c.where,
		    s3_result_name(S3_ERR_NOT_EMPTY));
		rc = S3_ERR_NOT_EMPTY;
		goto out;
	}
	rc = S3_OK;
out:
	page_clear(&pg);
	free(pg.keys);
	if (c.h)
		curl_easy_cleanup(c.h);
	curl_slist_free_all(connect_to);
	free(c.resp.p);
	return rc;
}

int
s3_probe_volume(const struct s3_secret *s, const char *prefix, const char *volid,
		const struct s3_purge_opts *opts, char *err, size_t errlen)
{
	struct s3_purge_opts o = { 0 };

	if (opts)
		o = *opts;
	o.probe_only = true;
	return s3_purge_volume(s, prefix, volid, &o, NULL, err, errlen);
}
