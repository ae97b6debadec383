/* S3 backend: the s3-endpoint URL (scheme, host, port, base path, read
 * as rclone reads it) and the addressing style, path or virtual host,
 * that rclone will use, so that the purge addresses the same objects.
 * Pure. */
#define _GNU_SOURCE
#include "s3_params_internal.h"

#include "log.h"

#include <string.h>
#include <strings.h>

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
