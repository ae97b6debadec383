/* Which stranded writes may go up (see stranded.h). Pure. */
#define _GNU_SOURCE
#include "stranded.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define META_MAX_BYTES (1u << 20)

/* n decimal digits at *p (advanced); -1 if any is not a digit. */
static long
digits(const char **p, int n)
{
	long v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

/* "YYYY-MM-DD<sep>hh:mm:ss[.fffffffff]" at *p (advanced). */
static int
date_time(const char **p, char sep, struct timespec *out)
{
	struct tm tm = {0};
	long y, mo, d, h, mi, s, ns = 0;

	if ((y = digits(p, 4)) < 0 || *(*p)++ != '-' || (mo = digits(p, 2)) < 1 || mo > 12 ||
	    *(*p)++ != '-' || (d = digits(p, 2)) < 1 || d > 31 || *(*p)++ != sep ||
	    (h = digits(p, 2)) < 0 || h > 23 || *(*p)++ != ':' || (mi = digits(p, 2)) < 0 ||
	    mi > 59 || *(*p)++ != ':' || (s = digits(p, 2)) < 0 || s > 60)
		return -1;
	if (**p == '.') {
		int n = 0;
		(*p)++;
		while (isdigit((unsigned char)**p)) {
			if (n < 9) {
				ns = ns * 10 + (**p - '0');
				n++;
			}
			(*p)++;
		}
		if (n == 0)
			return -1;
		for (; n < 9; n++)
			ns *= 10;
	}
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)s;
	out->tv_sec = timegm(&tm);
	out->tv_nsec = ns;
	return 0;
}

/* "+hh:mm" / "-hh:mm" (colon optional) at *p: seconds east of UTC. */
static int
zone(const char **p, int colon_optional, long *east)
{
	int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
	long h, m;

	if (!sign)
		return -1;
	(*p)++;
	if ((h = digits(p, 2)) < 0 || h > 23)
		return -1;
	if (**p == ':')
		(*p)++;
	else if (!colon_optional)
		return -1;
	if ((m = digits(p, 2)) < 0 || m > 59)
		return -1;
	*east = sign * (h * 3600 + m * 60);
	return 0;
}

int
stranded_time_parse_rfc3339(const char *s, struct timespec *out)
{
	long east = 0;

	if (s == NULL || date_time(&s, 'T', out) != 0)
		return -1;
	if (*s == 'Z')
		s++;
	else if (zone(&s, 0, &east) != 0)
		return -1;
	if (*s != '\0')
		return -1;
	out->tv_sec -= east;
	return 0;
}

int
stranded_fingerprint_parse(const char *s, uint64_t *size, struct timespec *mtime)
{
	char *end;
	long east = 0;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end != ',')
		return -1;
	s = end + 1;
	if (date_time(&s, ' ', mtime) != 0 || *s++ != ' ' || zone(&s, 1, &east) != 0)
		return -1;
	/* Go prints the zone's name after the offset ("UTC"); a hash may follow */
	if (*s == ' ') {
		s++;
		while (isalpha((unsigned char)*s))
			s++;
	}
	if (*s != '\0' && *s != ',')
		return -1;
	mtime->tv_sec -= east;
	*size = v;
	return 0;
}

int
stranded_same_time(const struct timespec *a, const struct timespec *b)
{
	/* in nanoseconds: times within a few centuries fit an int64 */
	int64_t d = ((int64_t)a->tv_sec - (int64_t)b->tv_sec) * 1000000000LL +
		    ((int64_t)a->tv_nsec - (int64_t)b->tv_nsec);
	if (a->tv_sec - b->tv_sec > 1000 || b->tv_sec - a->tv_sec > 1000)
		return 0;
	return d <= STRANDED_MTIME_SLACK_NS && d >= -STRANDED_MTIME_SLACK_NS;
}

static int
get_u64(json_object *o, const char *key, uint64_t *out)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	int64_t n = json_object_get_int64(v);
	if (n < 0)
		return -1;
	*out = (uint64_t)n;
	return 0;
}

static const char *
get_str(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void
parse_ranges(json_object *o, struct stranded_meta *m, struct stranded_range *ranges, size_t cap)
{
	json_object *rs;

	m->ranges_ok = 0;
	m->nranges = 0;
	if (!json_object_object_get_ex(o, "Rs", &rs))
		return;
	if (json_object_is_type(rs, json_type_null)) { /* an empty file */
		m->ranges_ok = 1;
		return;
	}
	if (!json_object_is_type(rs, json_type_array))
		return;
	size_t n = json_object_array_length(rs);
	if (n > cap || n > STRANDED_MAX_RANGES)
		return;
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(rs, i);
		if (!json_object_is_type(r, json_type_object) ||
		    get_u64(r, "Pos", &ranges[i].pos) || get_u64(r, "Size", &ranges[i].size) ||
		    ranges[i].pos + ranges[i].size < ranges[i].pos)
			return;
	}
	m->nranges = n;
	m->ranges_ok = 1;
}

int
stranded_meta_parse(const char *json, size_t len, struct stranded_meta *m,
		    struct stranded_range *ranges, size_t cap)
{
	json_tokener *tok;
	json_object *o, *v;
	const char *fp, *t;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (json == NULL || len == 0 || len > META_MAX_BYTES || (tok = json_tokener_new()) == NULL)
		return -1;
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o && json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(o, json_type_object)) {
		rc = 0;
		m->dirty = json_object_object_get_ex(o, "Dirty", &v) &&
			   json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
		/* rclone writes "Fingerprint": "" until the first upload */
		fp = get_str(o, "Fingerprint");
		m->had_object = fp != NULL && fp[0] != '\0';
		m->fp_ok = m->had_object && stranded_fingerprint_parse(fp, &m->fp_size,
								       &m->fp_mtime) == 0;
		m->size_ok = get_u64(o, "Size", &m->size) == 0;
		t = get_str(o, "ModTime");
		m->mtime_ok = t && stranded_time_parse_rfc3339(t, &m->mtime) == 0;
		parse_ranges(o, m, ranges, cap);
	}
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

enum stranded_verdict
stranded_decide(const struct stranded_meta *m, const struct stat *local, const struct stat *remote)
{
	if (m && m->had_object) {
		/* written over an object: only over that same object, unchanged
		 * (gone means deleted elsewhere since: newer too) */
		if (remote == NULL || !S_ISREG(remote->st_mode) || !m->fp_ok)
			return STRANDED_CONFLICT;
		return (uint64_t)remote->st_size == m->fp_size &&
			       stranded_same_time(&remote->st_mtim, &m->fp_mtime)
			       ? STRANDED_UPLOAD
			       : STRANDED_CONFLICT;
	}
	if (remote == NULL)
		return STRANDED_UPLOAD; /* a new file nobody else created */
	if (!S_ISREG(remote->st_mode))
		return STRANDED_CONFLICT;
	/* an object where there was none: only this file itself may be it
	 * (uploaded before the crash, or by an interrupted write-back) */
	uint64_t size = m && m->size_ok ? m->size : (uint64_t)local->st_size;
	const struct timespec *t = m && m->mtime_ok ? &m->mtime : &local->st_mtim;
	return (uint64_t)remote->st_size == size && stranded_same_time(&remote->st_mtim, t)
		       ? STRANDED_UPLOAD
		       : STRANDED_CONFLICT;
}
