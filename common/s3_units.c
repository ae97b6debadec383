/* S3 backend parameters: the value syntaxes of durations (Go
 * time.ParseDuration, plus "d") and sizes (rclone's SizeSuffix, binary
 * units), parsed into nanoseconds and bytes and formatted back in the
 * shortest form rclone 1.60's flags accept (see s3_params.h for what is
 * accepted and why). Pure. */
#define _GNU_SOURCE
#include "s3_params_internal.h"

#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

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
			s3p_quote(unit, q, sizeof(q));
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
