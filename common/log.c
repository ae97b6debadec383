#define _GNU_SOURCE
#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_role = "lcw";
static int log_threshold = LOG_INFO;
static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void
log_init(const char *role, int level)
{
	log_role = role;
	log_threshold = level;
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0 || (s[0] == '0' + i && s[1] == 0))
			return i;
	if (strcasecmp(s, "warning") == 0)
		return LOG_WARN;
	return -1;
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 if
 * the bytes there are not one: overlong forms, surrogates and code points
 * above U+10FFFF are refused like stray continuation bytes. C1 controls
 * (U+0080..U+009F, which some terminals act on) and U+2028/U+2029 (line
 * breaks to many log readers) count as not printable. */
static size_t
utf8_printable_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp, min;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
		return 0;
	if (cp == 0x2028 || cp == 0x2029) /* line/paragraph separators split lines too */
		return 0;
	return len;
}

size_t
log_escape(char *out, size_t outlen, const char *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;

	if (outlen == 0)
		return 0;
	for (size_t i = 0; i < inlen;) {
		char esc[5];
		size_t k = 0, take = 1;
		unsigned char c = s[i];

		if (c == '\\') {
			esc[k++] = '\\';
			esc[k++] = '\\';
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[k++] = '\\';
			esc[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c >= 0x20 && c < 0x7f) {
			esc[k++] = (char)c;
		} else if (c >= 0x80 && (take = utf8_printable_len(s + i, inlen - i)) > 0) {
			k = 0; /* copied below as a whole sequence */
		} else {
			take = 1;
			esc[k++] = '\\';
			esc[k++] = 'x';
			esc[k++] = hex[c >> 4];
			esc[k++] = hex[c & 15];
		}
		if (k == 0) { /* a printable multi-byte character */
			if (o + take >= outlen)
				break;
			memcpy(out + o, s + i, take);
			o += take;
		} else {
			if (o + k >= outlen)
				break; /* never cut an escape in half */
			memcpy(out + o, esc, k);
			o += k;
		}
		i += take;
	}
	out[o] = '\0';
	return o;
}

/* Every message is escaped as a whole after formatting, so no caller can
 * forget it: request-derived text (ids, fsType, mount flags, keys, paths)
 * cannot start a new line, move the cursor or break UTF-8 in the log, and
 * one call is exactly one line. */
static void
vlog(int level, const char *fmt, va_list ap)
{
	char msg[1024], line[2048];
	struct timespec ts;
	struct tm tm;
	int n, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%d]: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, names[level], log_role, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof(msg))
		m = sizeof(msg) - 1;
	/* One write per line so lines of concurrent threads do not interleave. */
	size_t len = (size_t)n + log_escape(line + n, sizeof(line) - n - 1, msg, (size_t)m);
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void
errfmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

void
fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(code);
}
