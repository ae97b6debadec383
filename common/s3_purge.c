/* S3 volume purge, linked into the frontend (the controller's
 * DeleteVolume) and privd (the probe before a mount); see s3_purge.h. This
 * file is the driver: options and limits, the libcurl handle with SigV4
 * signing, the walk over the listing that deletes page by page (one
 * DeleteObjects per page, or one DELETE per key) and the final check that
 * nothing is left. One signed request is in s3_request.c, the listing in
 * s3_list.c, XML in s3_xml.c; s3_purge_internal.h is what they share. */
#define _GNU_SOURCE
#include "s3_purge_internal.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "volparams.h"

#define DEF_CONNECT_TIMEOUT_MS 5000L
#define DEF_TIMEOUT_MS 60000L
#define DEF_TOTAL_TIMEOUT_MS 1800000L
#define DEF_MAX_BODY (8u * 1024u * 1024u)
#define DEF_MAX_KEYS 1000u
#define DEF_MAX_PAGES 1000000u

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

static int
delete_one(struct s3_ctx *c, const char *key)
{
	char enc[3 * KEY_MAX + 2], tail[sizeof(enc) + 8];
	long status = 0;
	int rc;

	if (!s3_under_prefix(c, key))
		return S3_ERR_OUTSIDE_PREFIX;
	if (s3_uri_encode(key, strlen(key), true, enc, sizeof(enc)))
		return S3_ERR_INVALID_ARG;
	snprintf(tail, sizeof(tail), "/%s", enc);
	rc = s3_request(c, "delete", "DELETE", tail, NULL, 0, &status);
	if (rc != S3_OK)
		return rc;
	if (status != 204 && status != 200)
		return s3_http_error(c, "delete", status);
	if (c->st)
		c->st->deleted++;
	return S3_OK;
}

/* DeleteObjects for a page of keys; keys that XML cannot carry are deleted
 * one by one. */
static int
delete_page(struct s3_ctx *c, const struct s3_page *pg)
{
	struct s3_body req = {.max = 4u * 1024u * 1024u};
	xmlDocPtr doc = NULL;
	xmlNodePtr root, n;
	size_t i, in_batch = 0;
	long status = 0;
	int rc = S3_ERR_INTERNAL;
	static const char head[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		"<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>";

	for (i = 0; i < pg->n; i++)
		if (!s3_under_prefix(c, pg->keys[i])) {
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
	if (s3_on_body((char *)head, 1, sizeof(head) - 1, &req) != sizeof(head) - 1)
		goto oom;
	for (i = 0; i < pg->n; i++) {
		if (!s3_xml_safe(pg->keys[i])) {
			if ((rc = delete_one(c, pg->keys[i])) != S3_OK)
				goto out;
			continue;
		}
		if (s3_on_body("<Object><Key>", 1, 13, &req) != 13 ||
		    s3_xml_escape_append(&req, pg->keys[i]) ||
		    s3_on_body("</Key></Object>", 1, 15, &req) != 15)
			goto oom;
		in_batch++;
	}
	if (in_batch == 0) {
		rc = S3_OK;
		goto out;
	}
	if (s3_on_body("</Delete>", 1, 9, &req) != 9)
		goto oom;
	rc = s3_request(c, "delete", "POST", s3_use_path_style(c->s) ? "?delete=" : "/?delete=",
			req.p, req.len, &status);
	if (rc != S3_OK)
		goto out;
	if (status != 200) {
		rc = s3_http_error(c, "delete", status);
		goto out;
	}
	doc = s3_parse_xml(&c->resp);
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!s3_is_elem(root, "DeleteResult")) {
		errfmt(c->err, c->errlen, "delete %s: the answer is not a DeleteResult (%s)", c->where,
		    s3_result_name(S3_ERR_BAD_RESPONSE));
		rc = S3_ERR_BAD_RESPONSE;
		goto out;
	}
	for (n = root->children; n != NULL; n = n->next) {
		char code[64] = "", raw[256], key[128] = "";
		if (!s3_is_elem(n, "Error"))
			continue;
		if (s3_text_of(s3_child(n, "Code"), raw, sizeof(raw)) == 0)
			s3_clean_text(raw, code, sizeof(code));
		if (s3_text_of(s3_child(n, "Key"), raw, sizeof(raw)) == 0)
			s3_clean_text(raw, key, sizeof(key));
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
build_base(struct s3_ctx *c, char *err, size_t errlen)
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
	struct s3_ctx c;
	struct s3_page pg = {0};
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
	SET(CURLOPT_WRITEFUNCTION, s3_on_body);
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
		rc = s3_list_page(&c, NULL, 1, &pg);
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
		rc = s3_list_page(&c, token[0] ? token : NULL, o.max_keys, &pg);
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
	rc = s3_list_page(&c, NULL, 1, &pg);
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
	s3_page_clear(&pg);
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
