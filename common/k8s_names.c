/* Kubernetes API client: pure checks of the names a request is built from
 * (namespaces, object names, Secret keys, CSI driver names, volume
 * handles) and the strict base64 decoding of Secret values. No I/O. */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include "base64.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#define HANDLE_MAX 1024

static int
is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
k8s_dns1123_label_valid(const char *s)
{
	size_t n = s ? strnlen(s, 64) : 0;

	if (n == 0 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return -1;
	return 0;
}

int
k8s_dns1123_subdomain_valid(const char *s)
{
	size_t n = s ? strnlen(s, 254) : 0;

	if (n == 0 || n > 253 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-' && s[i] != '.')
			return -1;
		/* each dot-separated part is a label: no ".-" or "-." or ".." */
		if (s[i] == '.' && (!is_lower_alnum(s[i - 1]) || !is_lower_alnum(s[i + 1])))
			return -1;
	}
	return 0;
}

int
k8s_secret_key_valid(const char *s)
{
	size_t n = s ? strnlen(s, 254) : 0;

	if (n == 0 || n > 253 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '-' || c == '.' || c == '_'))
			return -1;
	}
	return 0;
}

/* CSI spec: at most 63 characters, alphanumeric at both ends, dashes, dots
 * and alphanumerics between (upper case allowed, unlike DNS-1123). */
int
k8s_csi_driver_name_valid(const char *s)
{
	size_t n = s ? strnlen(s, 64) : 0;

	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[n - 1]))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '-' || c == '.'))
			return -1;
	}
	return 0;
}

int
k8s_handle_valid(const char *s)
{
	size_t n = s ? strnlen(s, HANDLE_MAX + 1) : 0;
	return n > 0 && n <= HANDLE_MAX && printable_ascii(s, n) ? 0 : -1;
}

/* ---- base64 --------------------------------------------------------------- */

long
k8s_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t cap)
{
	size_t pad = 0, outlen, o = 0;

	if (inlen % 4 != 0)
		return -1;
	if (inlen == 0)
		return 0;
	if (in[inlen - 1] == '=')
		pad = in[inlen - 2] == '=' ? 2 : 1;
	outlen = inlen / 4 * 3 - pad;
	if (outlen > cap || outlen > LONG_MAX)
		return -2;
	for (size_t i = 0; i < inlen; i += 4) {
		int last = i + 4 == inlen;
		int v[4];
		uint32_t w = 0;

		for (int k = 0; k < 4; k++) {
			int is_pad = last && k >= 4 - (int)pad;
			v[k] = is_pad ? 0 : b64_value((unsigned char)in[i + k], B64_STD);
			if (v[k] < 0)
				return -1; /* includes '=' anywhere but the tail */
			w = (w << 6) | (uint32_t)v[k];
		}
		out[o++] = (unsigned char)(w >> 16);
		if (!last || pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (!last || pad < 1)
			out[o++] = (unsigned char)w;
	}
	return (long)o;
}
