/* Private to the S3 volume purge (common/s3_purge.c, s3_request.c,
 * s3_list.c, s3_xml.c): the state of one purge and the helpers its files
 * share. Nothing outside those files includes this; callers use
 * s3_purge.h. */
#ifndef LCW_S3_PURGE_INTERNAL_H
#define LCW_S3_PURGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/tree.h>

#include "s3_purge.h"

#define KEY_MAX 1024   /* S3's own limit */
#define TOKEN_MAX 4096 /* continuation tokens are opaque; bound them */

/* A response (or request) body, bounded by max. */
struct s3_body {
	char *p;
	size_t len, cap, max;
	bool too_large;
};

struct s3_ctx {
	const struct s3_secret *s;
	const struct s3_purge_opts *o;
	struct s3_purge_stats *st;
	CURL *h;
	char base[1024];	/* scheme://host[:port][/path][/bucket] without a trailing '/' */
	char where[1400];	/* s3://bucket/prefix for messages */
	char list_prefix[1100]; /* [prefix/]volumes/<id>/ */
	size_t list_prefix_len;
	struct timespec deadline;
	struct s3_body resp;
	char *err;
	size_t errlen;
};

/* One page of a listing: the keys, decoded and checked to lie under the
 * volume prefix. */
struct s3_page {
	char **keys;
	size_t n, cap;
	bool truncated;
	char token[TOKEN_MAX + 1];
};

/* s3_request.c. s3_on_body is the libcurl write callback (user: struct
 * s3_body), also used to build request bodies. */
size_t s3_on_body(char *data, size_t size, size_t nmemb, void *user);
bool s3_past_deadline(const struct s3_ctx *c);
/* Map a non-2xx answer to a code and a message. */
int s3_http_error(struct s3_ctx *c, const char *op, long status);
/* One signed request. url_tail is appended to c->base. Returns S3_OK with
 * *status, or an error code with the message set. */
int s3_request(struct s3_ctx *c, const char *op, const char *method, const char *url_tail,
	       const char *body, size_t body_len, long *status);

/* s3_list.c. */
void s3_page_clear(struct s3_page *pg);
bool s3_under_prefix(const struct s3_ctx *c, const char *key);
/* ListObjectsV2, one page. */
int s3_list_page(struct s3_ctx *c, const char *token, unsigned max_keys, struct s3_page *pg);

/* s3_xml.c. */
/* Copy S3's text for a message: printable ASCII only, bounded. */
void s3_clean_text(const char *in, char *out, size_t outlen);
xmlDocPtr s3_parse_xml(const struct s3_body *b); /* NULL: not XML, or has a DTD */
bool s3_is_elem(xmlNodePtr n, const char *name);
xmlNodePtr s3_child(xmlNodePtr parent, const char *name); /* first child element */
/* Text of an element into out; returns 0, or -1 if absent or too long. */
int s3_text_of(xmlNodePtr n, char *out, size_t outlen);
/* XML 1.0 can carry the key? (no control characters but tab/LF/CR) */
bool s3_xml_safe(const char *k);
int s3_xml_escape_append(struct s3_body *b, const char *s);

#endif
