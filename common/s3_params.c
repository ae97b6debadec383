/* S3 backend: the StorageClass / volume-context parameters (see
 * s3_params.h), linked into privd and the frontend. Parsing and checking
 * each parameter into struct s3_vol_params, the s3-path-prefix rule, and
 * the copy to and from the IPC tuning record. The value syntaxes are in
 * s3_units.c (durations, sizes), the S3 Secret's keys in s3_secret.c, the
 * endpoint in s3_endpoint.c; s3_params_internal.h is what they share.
 * Pure. */
#define _GNU_SOURCE
#include "s3_params_internal.h"

#include "ipc_msg.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

/* A bounded, escaped copy of a user value for an error message: printable
 * ASCII as is, anything else as \xNN, at most 64 input bytes. */
void
s3p_quote(const char *s, char *out, size_t outlen)
{
	size_t o = 0, i;

	if (outlen == 0)
		return;
	for (i = 0; s[i] != '\0' && i < 64; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o + 2 > outlen)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 5 > outlen)
				break;
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	if (s[i] != '\0' && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Copy a string that was checked to fit. */
static void
copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- names and prefix ---------------------------------------------------- */

static bool
prefix_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       strchr("-_.!*'()+=@,~", c) != NULL;
}

int
s3_prefix_valid(const char *prefix, char *why, size_t whylen)
{
	size_t n = strlen(prefix), i, seg = 0;

	if (n == 0)
		return 0;
	if (n > S3P_PREFIX_MAX) {
		errfmt(why, whylen, "longer than %d bytes", S3P_PREFIX_MAX);
		return -1;
	}
	if (prefix[0] == '/' || prefix[n - 1] == '/') {
		errfmt(why, whylen, "must not start or end with \"/\"");
		return -1;
	}
	for (i = 0; i <= n; i++) {
		char c = prefix[i];
		if (c == '/' || c == '\0') {
			size_t len = i - seg;
			if (len == 0) {
				errfmt(why, whylen, "empty path segment (\"//\")");
				return -1;
			}
			if ((len == 1 && prefix[seg] == '.') ||
			    (len == 2 && prefix[seg] == '.' && prefix[seg + 1] == '.')) {
				errfmt(why, whylen, "\".\" and \"..\" segments are not allowed");
				return -1;
			}
			seg = i + 1;
			continue;
		}
		if (!prefix_char(c)) {
			errfmt(why, whylen,
			    "character 0x%02x not allowed (letters, digits, \"/\" and -_.!*'()+=@,~ only)",
			    (unsigned char)c);
			return -1;
		}
	}
	return 0;
}

/* Kubernetes object name: DNS subdomain, lower case, 1..253. */
static bool
k8s_name_valid(const char *s, size_t max, bool dots)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || is_digit(c);
		if (alnum)
			continue;
		if (c == '-' && i > 0 && i < n - 1)
			continue;
		if (dots && c == '.' && i > 0 && i < n - 1 && s[i - 1] != '.')
			continue;
		return false;
	}
	return true;
}

/* ---- parameters ---------------------------------------------------------- */

const char *
rclone_cache_mode_name(int mode)
{
	switch (mode) {
	case RCLONE_CACHE_OFF: return "off";
	case RCLONE_CACHE_MINIMAL: return "minimal";
	case RCLONE_CACHE_WRITES: return "writes";
	case RCLONE_CACHE_FULL: return "full";
	}
	return NULL;
}

void
s3_params_init(struct s3_vol_params *p)
{
	memset(p, 0, sizeof(*p));
	p->cache_mode = S3P_DEFAULT_CACHE_MODE;
	p->cache_max_age_ns = S3P_DEFAULT_CACHE_MAX_AGE_NS;
	p->cache_max_size = S3P_DEFAULT_CACHE_MAX_SIZE;
	p->cache_poll_ns = S3P_DEFAULT_CACHE_POLL_NS;
	p->write_back_ns = S3P_DEFAULT_WRITE_BACK_NS;
	p->dir_cache_time_ns = S3P_DEFAULT_DIR_CACHE_TIME_NS;
	p->attr_timeout_ns = S3P_DEFAULT_ATTR_TIMEOUT_NS;
	p->read_chunk_streams = -1;
}

static int
bad(char *err, size_t errlen, const char *key, const char *value, const char *why)
{
	char q[300];

	s3p_quote(value, q, sizeof(q));
	errfmt(err, errlen, "invalid %s \"%s\": %s", key, q, why);
	return -1;
}

static int
apply_duration(uint64_t *dst, bool zero_ok, const char *key, const char *value, char *err,
	       size_t errlen)
{
	char why[160];
	uint64_t ns;

	if (lcw_duration_parse(value, &ns, why, sizeof(why)))
		return bad(err, errlen, key, value, why);
	if (ns == 0 && !zero_ok)
		return bad(err, errlen, key, value, "must be greater than 0");
	*dst = ns;
	return 0;
}

int
s3_params_apply(struct s3_vol_params *p, const char *key, const char *value, char *err,
		size_t errlen)
{
	char why[160];

	if (key == NULL || value == NULL) {
		errfmt(err, errlen, "missing parameter key or value");
		return -1;
	}
	if (strcmp(key, S3P_KEY_BACKEND) == 0) {
		/* Contract item 4: exactly "s3" selects S3, anything else LUKS. */
		p->is_s3 = strcmp(value, "s3") == 0;
		return 0;
	}
	if (strcmp(key, S3P_KEY_SECRET_NAME) != 0 && strcmp(key, S3P_KEY_SECRET_NAMESPACE) != 0 &&
	    strcmp(key, S3P_KEY_PREFIX) != 0 && strncmp(key, "rclone-", 7) != 0)
		return 1;
	if (strlen(value) > S3P_VALUE_MAX)
		return bad(err, errlen, key, value, "value too long");

	if (strcmp(key, S3P_KEY_SECRET_NAME) == 0) {
		if (!k8s_name_valid(value, S3P_SECRET_NAME_MAX, true))
			return bad(err, errlen, key, value,
				   "not a Kubernetes object name (lower-case DNS subdomain)");
		copy_str(p->secret_name, sizeof(p->secret_name), value);
		return 0;
	}
	if (strcmp(key, S3P_KEY_SECRET_NAMESPACE) == 0) {
		if (!k8s_name_valid(value, S3P_NAMESPACE_MAX, false))
			return bad(err, errlen, key, value,
				   "not a Kubernetes namespace name (lower-case DNS label)");
		copy_str(p->secret_namespace, sizeof(p->secret_namespace), value);
		return 0;
	}
	if (strcmp(key, S3P_KEY_PREFIX) == 0) {
		if (s3_prefix_valid(value, why, sizeof(why)))
			return bad(err, errlen, key, value, why);
		copy_str(p->prefix, sizeof(p->prefix), value);
		return 0;
	}
	if (strcmp(key, S3P_KEY_CACHE_MODE) == 0) {
		int m;
		for (m = RCLONE_CACHE_OFF; m <= RCLONE_CACHE_FULL; m++)
			if (strcmp(value, rclone_cache_mode_name(m)) == 0) {
				p->cache_mode = m;
				return 0;
			}
		return bad(err, errlen, key, value, "must be one of off, minimal, writes, full");
	}
	if (strcmp(key, S3P_KEY_CACHE_MAX_AGE) == 0)
		return apply_duration(&p->cache_max_age_ns, true, key, value, err, errlen);
	if (strcmp(key, S3P_KEY_CACHE_POLL) == 0)
		/* rclone's cache cleaner ticks at this interval: 0 is meaningless */
		return apply_duration(&p->cache_poll_ns, false, key, value, err, errlen);
	if (strcmp(key, S3P_KEY_WRITE_BACK) == 0)
		/* "0" is valid (the original's parser refused it): upload on close */
		return apply_duration(&p->write_back_ns, true, key, value, err, errlen);
	if (strcmp(key, S3P_KEY_DIR_CACHE_TIME) == 0)
		return apply_duration(&p->dir_cache_time_ns, true, key, value, err, errlen);
	if (strcmp(key, S3P_KEY_ATTR_TIMEOUT) == 0)
		return apply_duration(&p->attr_timeout_ns, true, key, value, err, errlen);
	if (strcmp(key, S3P_KEY_CACHE_MAX_SIZE) == 0) {
		int64_t b;
		if (lcw_size_parse(value, true, &b, why, sizeof(why)))
			return bad(err, errlen, key, value, why);
		p->cache_max_size = b;
		return 0;
	}
	if (strcmp(key, S3P_KEY_CHUNK_STREAMS) == 0) {
		long v = 0;
		size_t i, n = strlen(value);
		if (n == 0 || n > 4)
			return bad(err, errlen, key, value, "must be an integer from 0 to 1024");
		for (i = 0; i < n; i++) {
			if (!is_digit(value[i]))
				return bad(err, errlen, key, value,
					   "must be an integer from 0 to 1024");
			v = v * 10 + (value[i] - '0');
		}
		if (v > S3P_CHUNK_STREAMS_MAX)
			return bad(err, errlen, key, value, "must be an integer from 0 to 1024");
		p->read_chunk_streams = (int)v;
		return 0;
	}
	/* Some other "rclone-*" key. The original ignored unknown keys, and
	 * its own documentation advertised some that never had an effect
	 * ("rclone-cache-dir", §3.1), so refusing them would break existing
	 * StorageClasses: report it so the caller can log a warning. */
	return 2;
}

int
s3_params_parse(struct s3_vol_params *p, const char *const *keys, const char *const *values,
		size_t n, const char **unknown, char *err, size_t errlen)
{
	size_t i;
	int rc;

	s3_params_init(p);
	if (unknown)
		*unknown = NULL;
	for (i = 0; i < n; i++) {
		rc = s3_params_apply(p, keys[i], values[i], err, errlen);
		if (rc < 0)
			return -1;
		if (rc == 2 && unknown && *unknown == NULL)
			*unknown = keys[i];
	}
	return 0;
}

/* ---- between processes (struct ipc_s3_tuning) ----------------------------- */

void
s3_params_to_tuning(const struct s3_vol_params *p, struct ipc_s3_tuning *t)
{
	memset(t, 0, sizeof(*t));
	t->cache_mode = (uint32_t)p->cache_mode;
	t->cache_max_age_ns = p->cache_max_age_ns;
	t->cache_max_size_off = p->cache_max_size == S3P_SIZE_OFF;
	t->cache_max_size = p->cache_max_size < 0 ? 0 : (uint64_t)p->cache_max_size;
	t->cache_poll_ns = p->cache_poll_ns;
	t->write_back_ns = p->write_back_ns;
	t->dir_cache_time_ns = p->dir_cache_time_ns;
	t->attr_timeout_ns = p->attr_timeout_ns;
	t->has_chunk_streams = p->read_chunk_streams >= 0;
	t->chunk_streams = p->read_chunk_streams >= 0 ? (uint32_t)p->read_chunk_streams : 0;
}

int
s3_params_from_tuning(const struct ipc_s3_tuning *t, struct s3_vol_params *p)
{
	s3_params_init(p);
	if (rclone_cache_mode_name((int)t->cache_mode) == NULL || t->cache_poll_ns == 0 ||
	    t->cache_max_age_ns > S3P_DURATION_MAX_NS || t->cache_poll_ns > S3P_DURATION_MAX_NS ||
	    t->write_back_ns > S3P_DURATION_MAX_NS || t->dir_cache_time_ns > S3P_DURATION_MAX_NS ||
	    t->attr_timeout_ns > S3P_DURATION_MAX_NS || t->cache_max_size > (uint64_t)INT64_MAX ||
	    t->chunk_streams > S3P_CHUNK_STREAMS_MAX)
		return -1;
	p->is_s3 = true;
	p->cache_mode = (int)t->cache_mode;
	p->cache_max_age_ns = t->cache_max_age_ns;
	p->cache_max_size = t->cache_max_size_off ? S3P_SIZE_OFF : (int64_t)t->cache_max_size;
	p->cache_poll_ns = t->cache_poll_ns;
	p->write_back_ns = t->write_back_ns;
	p->dir_cache_time_ns = t->dir_cache_time_ns;
	p->attr_timeout_ns = t->attr_timeout_ns;
	p->read_chunk_streams = t->has_chunk_streams ? (int)t->chunk_streams : -1;
	return 0;
}
