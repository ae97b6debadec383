/* S3 backend: the keys of the S3 Secret (contract item 10), checked and
 * kept in struct s3_secret, the secret access key in locked memory. An
 * error names the key and never quotes a secret value. Pure but for the
 * locked page. */
#define _GNU_SOURCE
#include "s3_params_internal.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

const char *const s3_secret_required_keys[] = {
	S3S_KEY_BUCKET, S3S_KEY_REGION, S3S_KEY_ACCESS_KEY_ID, S3S_KEY_SECRET_ACCESS_KEY, NULL,
};
const char *const s3_secret_optional_keys[] = {
	S3S_KEY_ENDPOINT, S3S_KEY_FORCE_PATH_STYLE, NULL,
};

enum {
	SEEN_BUCKET = 1u << 0,
	SEEN_REGION = 1u << 1,
	SEEN_AKID = 1u << 2,
	SEEN_SECRET = 1u << 3,
	SEEN_ENDPOINT = 1u << 4,
	SEEN_FPS = 1u << 5,
};

int
s3_secret_init(struct s3_secret *s)
{
	memset(s, 0, sizeof(*s));
	return secret_alloc(&s->secret_access_key);
}

void
s3_secret_free(struct s3_secret *s)
{
	secret_free(&s->secret_access_key);
	explicit_bzero(s, sizeof(*s));
}

/* Characters a value may have when it is written into rclone's config file
 * verbatim: printable ASCII without white space (rclone trims it), quotes
 * and backquotes (its parser strips `...` and """...""" around a value),
 * and '%' (it expands %(key)s references). */
static bool
conf_safe(const unsigned char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = v[i];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\'' || c == '`' || c == '%')
			return false;
	}
	return true;
}

static int
copy_text(char *dst, size_t cap, const void *val, size_t len)
{
	if (len >= cap || memchr(val, '\0', len) != NULL)
		return -1;
	memcpy(dst, val, len);
	dst[len] = '\0';
	return 0;
}

static bool
bucket_valid(const char *b)
{
	size_t n = strlen(b), i;

	if (n == 0 || n > S3P_BUCKET_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = b[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
		      c == '-' || c == '_'))
			return false;
	}
	return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-' &&
	       strstr(b, "..") == NULL;
}

static bool
region_valid(const char *r)
{
	size_t i;

	for (i = 0; r[i] != '\0'; i++) {
		char c = r[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
		      c == '_'))
			return false;
	}
	return true;
}

int
s3_secret_set(struct s3_secret *s, const char *key, const void *val, size_t len, char *err,
	      size_t errlen)
{
	if (key == NULL || (val == NULL && len > 0)) {
		errfmt(err, errlen, "missing key or value");
		return -1;
	}
	if (val == NULL)
		val = "";
	if (strcmp(key, S3S_KEY_BUCKET) == 0) {
		if (copy_text(s->bucket, sizeof(s->bucket), val, len) || !bucket_valid(s->bucket)) {
			s->bucket[0] = '\0';
			errfmt(err, errlen,
			    "S3 secret key %s: not a bucket name (1..%d of [A-Za-z0-9._-])",
			    key, S3P_BUCKET_MAX);
			return -1;
		}
		s->seen |= SEEN_BUCKET;
		return 0;
	}
	if (strcmp(key, S3S_KEY_REGION) == 0) {
		if (copy_text(s->region, sizeof(s->region), val, len) || !region_valid(s->region)) {
			s->region[0] = '\0';
			errfmt(err, errlen, "S3 secret key %s: not a region name ([A-Za-z0-9_-], at most %d)",
			    key, S3P_REGION_MAX);
			return -1;
		}
		s->seen |= SEEN_REGION;
		return 0;
	}
	if (strcmp(key, S3S_KEY_ACCESS_KEY_ID) == 0) {
		if (copy_text(s->access_key_id, sizeof(s->access_key_id), val, len) ||
		    !conf_safe(val, len)) {
			s->access_key_id[0] = '\0';
			errfmt(err, errlen,
			    "S3 secret key %s: at most %d printable ASCII characters without "
			    "spaces, quotes or %%",
			    key, S3P_ACCESS_KEY_ID_MAX);
			return -1;
		}
		s->seen |= SEEN_AKID;
		return 0;
	}
	if (strcmp(key, S3S_KEY_SECRET_ACCESS_KEY) == 0) {
		if (s->secret_access_key.bytes == NULL) {
			errfmt(err, errlen, "S3 secret not initialised");
			return -1;
		}
		/* Never quote the value: the message only says what is wrong. */
		if (len > 1024 || !conf_safe(val, len)) {
			errfmt(err, errlen,
			    "S3 secret key %s: must be at most 1024 printable ASCII characters "
			    "without spaces, quotes, backquotes or %% (rclone's config file "
			    "cannot carry others safely)",
			    key);
			return -1;
		}
		if (secret_set(&s->secret_access_key, val, len)) {
			errfmt(err, errlen, "S3 secret key %s: cannot store it", key);
			return -1;
		}
		/* NUL-terminated inside the locked page, for libcurl. */
		s->secret_access_key.bytes[len] = '\0';
		s->seen |= SEEN_SECRET;
		return 0;
	}
	if (strcmp(key, S3S_KEY_ENDPOINT) == 0) {
		struct s3_endpoint ep;
		char why[160];
		if (copy_text(s->endpoint, sizeof(s->endpoint), val, len)) {
			s->endpoint[0] = '\0';
			errfmt(err, errlen, "S3 secret key %s: longer than %d bytes or contains NUL", key,
			    S3P_ENDPOINT_MAX);
			return -1;
		}
		if (s->endpoint[0] != '\0' &&
		    (s3_endpoint_parse(s->endpoint, &ep, why, sizeof(why)) ||
		     !conf_safe(val, len))) {
			char q[300];
			s3p_quote(s->endpoint, q, sizeof(q));
			s->endpoint[0] = '\0';
			errfmt(err, errlen, "S3 secret key %s: invalid endpoint \"%s\": %s", key, q,
			    why[0] ? why : "bad character");
			return -1;
		}
		s->seen |= SEEN_ENDPOINT;
		return 0;
	}
	if (strcmp(key, S3S_KEY_FORCE_PATH_STYLE) == 0) {
		/* Only the exact string "true" means true (§3.2). */
		s->force_path_style = len == 4 && memcmp(val, "true", 4) == 0;
		s->seen |= SEEN_FPS;
		return 0;
	}
	return 1;
}

int
s3_secret_check(const struct s3_secret *s, char *err, size_t errlen)
{
	static const unsigned bits[] = {SEEN_BUCKET, SEEN_REGION, SEEN_AKID, SEEN_SECRET};
	size_t i;

	for (i = 0; s3_secret_required_keys[i] != NULL; i++)
		if (!(s->seen & bits[i])) {
			errfmt(err, errlen, "S3 secret lacks key %s", s3_secret_required_keys[i]);
			return -1;
		}
	return 0;
}
