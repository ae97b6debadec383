/* S3 backend parameters and Secret keys: see s3_params.h. Pure. */
#define _GNU_SOURCE
#include "s3_params.h"

#include "ipc_msg.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */


/* A bounded, escaped copy of a user value for an error message: printable
 * ASCII as is, anything else as \xNN, at most 64 input bytes. */
static void
quote(const char *s, char *out, size_t outlen)
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

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "12", "1.5", ".5": the integer part (overflow flagged, not wrapped) and
 * up to 18 fractional digits as frac / scale; more cannot matter at the
 * resolutions used (nanoseconds, bytes). */
struct decimal {
	uint64_t whole, frac, scale;
	bool digits, overflow;
};

static const char *
scan_decimal(const char *p, struct decimal *d)
{
	*d = (struct decimal){ .scale = 1 };
	while (is_digit(*p)) {
		if (d->whole > (UINT64_MAX - 9) / 10)
			d->overflow = true;
		else
			d->whole = d->whole * 10 + (uint64_t)(*p - '0');
		d->digits = true;
		p++;
	}
	if (*p == '.') {
		p++;
		while (is_digit(*p)) {
			if (d->scale < 1000000000000000000ULL) {
				d->frac = d->frac * 10 + (uint64_t)(*p - '0');
				d->scale *= 10;
			}
			d->digits = true;
			p++;
		}
	}
	return p;
}

/* ---- durations ---------------------------------------------------------- */

static const struct {
	const char *name;
	uint64_t ns;
} dur_units[] = {
	/* longest names first where one is a prefix of another */
	{"ns", 1ULL},
	{"us", 1000ULL},
	{"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
	{"\xce\xbcs", 1000ULL}, /* U+03BC greek mu */
	{"ms", 1000000ULL},
	{"s", 1000000000ULL},
	{"m", 60ULL * 1000000000ULL},
	{"h", 3600ULL * 1000000000ULL},
	{"d", 86400ULL * 1000000000ULL},
};

int
lcw_duration_parse(const char *s, uint64_t *ns, char *why, size_t whylen)
{
	const char *p = s;
	unsigned __int128 total = 0;

	if (s == NULL || *s == '\0') {
		errfmt(why, whylen, "empty duration");
		return -1;
	}
	if (strlen(s) > 64) {
		errfmt(why, whylen, "too long");
		return -1;
	}
	if (*s == '+' || *s == '-') {
		errfmt(why, whylen, "no sign allowed (durations are never negative)");
		return -1;
	}
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	while (*p != '\0') {
		struct decimal d;
		size_t ul, u, best = 0;
		int found = -1;
		uint64_t whole, frac, scale;

		p = scan_decimal(p, &d);
		whole = d.whole, frac = d.frac, scale = d.scale;
		if (!d.digits) {
			errfmt(why, whylen, "expected a number");
			return -1;
		}
		if (d.overflow) {
			errfmt(why, whylen, "number too large");
			return -1;
		}
		if (*p == '\0') {
			errfmt(why, whylen,
			    "missing unit (use ns, us, ms, s, m, h or d, e.g. 1h30m, 500ms)");
			return -1;
		}
		for (u = 0; u < sizeof(dur_units) / sizeof(dur_units[0]); u++) {
			ul = strlen(dur_units[u].name);
			if (strncmp(p, dur_units[u].name, ul) == 0 && ul > best) {
				best = ul;
				found = (int)u;
			}
		}
		if (found < 0) {
			char q[32];
			size_t k = 0;
			while (p[k] != '\0' && !is_digit(p[k]) && p[k] != '.' && k < 8)
				k++;
			char unit[16];
			snprintf(unit, sizeof(unit), "%.*s", (int)k, p);
			quote(unit, q, sizeof(q));
			errfmt(why, whylen,
			    "unknown unit \"%s\" (use ns, us, ms, s, m, h or d, e.g. 1h30m, 500ms)",
			    q);
			return -1;
		}
		p += best;
		total += (unsigned __int128)whole * dur_units[found].ns;
		total += (unsigned __int128)frac * dur_units[found].ns / scale;
		if (total > S3P_DURATION_MAX_NS) {
			errfmt(why, whylen, "too large (at most 2562047h)");
			return -1;
		}
	}
	*ns = (uint64_t)total;
	return 0;
}

int
lcw_duration_format(uint64_t ns, char *out, size_t outlen)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} parts[] = {
		{"h", 3600ULL * 1000000000ULL},
		{"m", 60ULL * 1000000000ULL},
		{"s", 1000000000ULL},
		{"ms", 1000000ULL},
		{"us", 1000ULL},
		{"ns", 1ULL},
	};
	size_t o = 0, i;

	if (out == NULL || outlen == 0)
		return -1;
	if (ns > S3P_DURATION_MAX_NS)
		return -1;
	if (ns == 0) {
		if (outlen < 3)
			return -1;
		memcpy(out, "0s", 3);
		return 0;
	}
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		uint64_t n = ns / parts[i].ns;
		int w;
		if (n == 0)
			continue;
		ns -= n * parts[i].ns;
		w = snprintf(out + o, outlen - o, "%llu%s", (unsigned long long)n, parts[i].name);
		if (w < 0 || (size_t)w >= outlen - o)
			return -1;
		o += (size_t)w;
	}
	return 0;
}

/* ---- sizes -------------------------------------------------------------- */

int
lcw_size_parse(const char *s, bool off_allowed, int64_t *bytes, char *why, size_t whylen)
{
	const char *p = s;
	uint64_t whole, frac, scale;
	unsigned shift;
	unsigned __int128 v;

	if (s == NULL || *s == '\0') {
		errfmt(why, whylen, "empty size");
		return -1;
	}
	if (strlen(s) > 32) {
		errfmt(why, whylen, "too long");
		return -1;
	}
	if (strcasecmp(s, "off") == 0) {
		if (!off_allowed) {
			errfmt(why, whylen, "\"off\" is not allowed here");
			return -1;
		}
		*bytes = S3P_SIZE_OFF;
		return 0;
	}
	if (*s == '+' || *s == '-') {
		errfmt(why, whylen, "no sign allowed (sizes are never negative)");
		return -1;
	}
	if (strcmp(s, "0") == 0) {
		*bytes = 0;
		return 0;
	}
	struct decimal d;
	p = scan_decimal(p, &d);
	whole = d.whole, frac = d.frac, scale = d.scale;
	if (!d.digits) {
		errfmt(why, whylen, "expected a number, e.g. 10G, 512M, 1.5Gi");
		return -1;
	}
	if (d.overflow) {
		errfmt(why, whylen, "number too large");
		return -1;
	}
	switch (*p) {
	case 'b': case 'B': shift = 0; break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	case 'p': case 'P': shift = 50; break;
	case '\0':
		errfmt(why, whylen, "missing unit (use B, K, M, G, T or P, e.g. 10G, 512Mi)");
		return -1;
	default:
		errfmt(why, whylen, "unknown unit (use B, K, M, G, T or P, e.g. 10G, 512Mi)");
		return -1;
	}
	p++;
	/* rclone 1.60 also takes an "i", "iB" or "ib" after K..P: the units are
	 * binary either way. "GB" (decimal-looking) is refused, as by rclone. */
	if (shift != 0 && *p == 'i') {
		p++;
		if (*p == 'B' || *p == 'b')
			p++;
	}
	if (*p != '\0') {
		errfmt(why, whylen,
		    "unexpected text after the unit (binary units only: 10G, 10Gi, 10GiB; not 10GB)");
		return -1;
	}
	v = ((unsigned __int128)whole << shift) + (((unsigned __int128)frac << shift) / scale);
	if (v > (unsigned __int128)INT64_MAX) {
		errfmt(why, whylen, "too large");
		return -1;
	}
	*bytes = (int64_t)v;
	return 0;
}

int
lcw_size_format(int64_t bytes, char *out, size_t outlen)
{
	static const char units[] = "BKMGTP";
	int u = 0, w;
	uint64_t v;

	if (out == NULL || outlen == 0)
		return -1;
	if (bytes == S3P_SIZE_OFF) {
		w = snprintf(out, outlen, "off");
	} else if (bytes < 0) {
		return -1;
	} else if (bytes == 0) {
		w = snprintf(out, outlen, "0");
	} else {
		v = (uint64_t)bytes;
		while (u < 5 && (v & 1023) == 0) {
			v >>= 10;
			u++;
		}
		w = snprintf(out, outlen, "%llu%c", (unsigned long long)v, units[u]);
	}
	return (w < 0 || (size_t)w >= outlen) ? -1 : 0;
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

	quote(value, q, sizeof(q));
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

/* ---- the Secret ------------------------------------------------------------ */

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
			quote(s->endpoint, q, sizeof(q));
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

/* ---- endpoint ------------------------------------------------------------- */

static bool
host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
	       c == '.';
}

int
s3_endpoint_parse(const char *ep, struct s3_endpoint *out, char *why, size_t whylen)
{
	const char *p = ep, *h, *e;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (why && whylen)
		why[0] = '\0';
	if (ep == NULL || *ep == '\0') {
		errfmt(why, whylen, "empty");
		return -1;
	}
	if (strlen(ep) > S3P_ENDPOINT_MAX) {
		errfmt(why, whylen, "too long");
		return -1;
	}
	if (strncasecmp(p, "https://", 8) == 0) {
		out->https = true;
		p += 8;
	} else if (strncasecmp(p, "http://", 7) == 0) {
		out->https = false;
		p += 7;
	} else if (strstr(p, "://") != NULL) {
		errfmt(why, whylen, "scheme must be http or https");
		return -1;
	} else {
		out->https = true; /* as rclone (aws-sdk-go) does without a scheme */
	}
	h = p;
	if (*p == '[') {
		p++;
		while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		       (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.')
			p++;
		if (*p != ']' || p == h + 1) {
			errfmt(why, whylen, "bad IPv6 address");
			return -1;
		}
		p++;
	} else {
		while (host_char(*p))
			p++;
	}
	hl = (size_t)(p - h);
	if (hl == 0 || hl >= sizeof(out->host)) {
		errfmt(why, whylen, "missing or too long host name");
		return -1;
	}
	if (h[0] == '.' || h[0] == '-' || h[hl - 1] == '.' || h[hl - 1] == '-') {
		errfmt(why, whylen, "bad host name");
		return -1;
	}
	memcpy(out->host, h, hl);
	out->host[hl] = '\0';
	if (*p == ':') {
		unsigned long port = 0;
		p++;
		if (!is_digit(*p)) {
			errfmt(why, whylen, "bad port");
			return -1;
		}
		while (is_digit(*p)) {
			port = port * 10 + (unsigned long)(*p - '0');
			if (port > 65535) {
				errfmt(why, whylen, "bad port");
				return -1;
			}
			p++;
		}
		if (port == 0) {
			errfmt(why, whylen, "bad port");
			return -1;
		}
		out->port = (unsigned)port;
	}
	if (*p == '\0')
		return 0;
	if (*p != '/') {
		errfmt(why, whylen, "unexpected character after the host (no user info, query or fragment)");
		return -1;
	}
	/* An optional base path: segments of unreserved characters. */
	e = p + strlen(p);
	while (e > p && e[-1] == '/')
		e--;
	if ((size_t)(e - p) >= sizeof(out->path)) {
		errfmt(why, whylen, "path too long");
		return -1;
	}
	for (h = p; h < e; h++) {
		char c = *h;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
		      c == '_' || c == '.' || c == '~' || c == '/')) {
			errfmt(why, whylen, "unexpected character in the path (no query or fragment)");
			return -1;
		}
		if (c == '/' && h + 1 < e && h[1] == '/') {
			errfmt(why, whylen, "empty path segment");
			return -1;
		}
	}
	memcpy(out->path, p, (size_t)(e - p));
	out->path[e - p] = '\0';
	return 0;
}

bool
s3_use_path_style(const struct s3_secret *s)
{
	size_t i;

	if (s->force_path_style || s->endpoint[0] != '\0')
		return true;
	/* Only DNS-compatible names without dots work as a host name label
	 * under a wildcard certificate. */
	for (i = 0; s->bucket[i] != '\0'; i++) {
		char c = s->bucket[i];
		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-'))
			return true;
	}
	return i == 0 || i > 63;
}

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
