/* S3 volume purge: ListObjectsV2. The canonical query SigV4 needs (the
 * parameters sorted, values URI-encoded), one page of keys read from the
 * answer (URL-decoded), and the check that every key lies under the
 * volume prefix before anything of its page is deleted. */
#define _GNU_SOURCE
#include "s3_purge_internal.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

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

void
s3_page_clear(struct s3_page *pg)
{
	size_t i;

	for (i = 0; i < pg->n; i++)
		free(pg->keys[i]);
	pg->n = 0;
	pg->truncated = false;
	pg->token[0] = '\0';
}

static int
page_add(struct s3_page *pg, const char *k, size_t l)
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

bool
s3_under_prefix(const struct s3_ctx *c, const char *key)
{
	return strncmp(key, c->list_prefix, c->list_prefix_len) == 0 &&
	       strlen(key) > c->list_prefix_len;
}

/* ListObjectsV2, one page. */
int
s3_list_page(struct s3_ctx *c, const char *token, unsigned max_keys, struct s3_page *pg)
{
	char q[3 * TOKEN_MAX + 3 * 1100 + 128], tail[sizeof(q) + 8];
	char raw[3 * KEY_MAX + 1], key[KEY_MAX + 1], tmp[16];
	xmlDocPtr doc;
	xmlNodePtr root, n;
	bool url_encoded = false;
	long status = 0;
	int rc;

	s3_page_clear(pg);
	if (s3_list_query(c->list_prefix, max_keys, token, q, sizeof(q))) {
		errfmt(c->err, c->errlen, "list %s: query too long", c->where);
		return S3_ERR_INVALID_ARG;
	}
	snprintf(tail, sizeof(tail), "%s?%s", s3_use_path_style(c->s) ? "" : "/", q);
	rc = s3_request(c, "list", "GET", tail, NULL, 0, &status);
	if (rc != S3_OK)
		return rc;
	if (status != 200)
		return s3_http_error(c, "list", status);
	if (c->st)
		c->st->pages++;
	doc = s3_parse_xml(&c->resp);
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!s3_is_elem(root, "ListBucketResult")) {
		errfmt(c->err, c->errlen, "list %s: the answer is not a ListBucketResult (%s)", c->where,
		    s3_result_name(S3_ERR_BAD_RESPONSE));
		rc = S3_ERR_BAD_RESPONSE;
		goto out;
	}
	if (s3_text_of(s3_child(root, "EncodingType"), tmp, sizeof(tmp)) == 0)
		url_encoded = strcmp(tmp, "url") == 0;
	if (s3_text_of(s3_child(root, "IsTruncated"), tmp, sizeof(tmp)) == 0)
		pg->truncated = strcmp(tmp, "true") == 0;
	if (pg->truncated &&
	    (s3_text_of(s3_child(root, "NextContinuationToken"), pg->token, sizeof(pg->token)) != 0 ||
	     pg->token[0] == '\0')) {
		errfmt(c->err, c->errlen, "list %s: truncated listing without a usable continuation token (%s)",
		    c->where, s3_result_name(S3_ERR_BAD_RESPONSE));
		rc = S3_ERR_BAD_RESPONSE;
		goto out;
	}
	for (n = root->children; n != NULL; n = n->next) {
		int l;
		if (!s3_is_elem(n, "Contents"))
			continue;
		if (s3_text_of(s3_child(n, "Key"), raw, sizeof(raw)) != 0) {
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
		if (!s3_under_prefix(c, key)) {
			char shown[128];
			s3_clean_text(key, shown, sizeof(shown));
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
		s3_page_clear(pg);
	return rc;
}
