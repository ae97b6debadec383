/* rclone's "obscure" of config values (AES-256-CTR under rclone's fixed,
 * public key; it hides a value from a casual look only) and its reverse,
 * and Go's json.Marshal replacement of invalid UTF-8 that the original
 * driver applied to the passphrase before rclone derived its keys
 * (rclone_conf.h). Pure apart from getrandom for the IV; works only in the
 * caller's buffers, and wipes its own scratch. */
#define _GNU_SOURCE
#include "rclone_conf.h"

#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "base64.h"

/* ---- obscure / reveal -------------------------------------------------------- */

/* rclone fs/config/obscure: the fixed, public AES-256 key. */
static const uint8_t obscure_key[32] = {
	0x9c, 0x93, 0x5b, 0x48, 0x73, 0x0a, 0x55, 0x4d, 0x6b, 0xfd, 0x7c,
	0x63, 0xc8, 0x86, 0xa9, 0x2b, 0xd3, 0x90, 0x19, 0x8e, 0xb8, 0x12,
	0x8a, 0xfb, 0xf4, 0xde, 0x16, 0x2b, 0x8b, 0x95, 0xf6, 0x38,
};

/* Encode n (<= 48) bytes; n must be a multiple of 3 except for the last
 * call. Returns the number of characters written. */
static size_t
b64_chunk(const uint8_t *in, size_t n, char *out)
{
	return b64_encode(in, n, out, B64_URL, 0);
}

int
rclone_obscure(const uint8_t *in, size_t n, const uint8_t *iv16, char *out, size_t outcap,
	       size_t *outlen)
{
	uint8_t iv[16], chunk[48];
	size_t need, fill, o = 0, done = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	int rc = -1, l;

	if (n > (1u << 24) || (in == NULL && n > 0))
		return -1;
	need = RCLONE_OBSCURED_LEN(n);
	if (out == NULL || outcap < need + 1)
		return -1;
	if (iv16 != NULL) {
		memcpy(iv, iv16, 16);
	} else {
		ssize_t g = getrandom(iv, sizeof(iv), 0);
		if (g != (ssize_t)sizeof(iv))
			return -1;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), NULL, obscure_key, iv) != 1)
		goto out;
	/* The stream is IV || ciphertext, encoded 48 bytes at a time so the
	 * only plaintext-derived scratch is this wiped stack chunk. */
	memcpy(chunk, iv, 16);
	fill = 16;
	for (;;) {
		size_t take = sizeof(chunk) - fill;
		if (take > n - done)
			take = n - done;
		if (take > 0) {
			if (EVP_EncryptUpdate(ctx, chunk + fill, &l, in + done, (int)take) != 1 ||
			    (size_t)l != take)
				goto out;
			done += take;
			fill += take;
		}
		if (fill == sizeof(chunk) || done == n) {
			o += b64_chunk(chunk, fill, out + o);
			fill = 0;
		}
		if (done == n && fill == 0)
			break;
	}
	if (o != need)
		goto out;
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	rc = 0;
out:
	explicit_bzero(chunk, sizeof(chunk));
	explicit_bzero(iv, sizeof(iv));
	EVP_CIPHER_CTX_free(ctx);
	if (rc != 0)
		explicit_bzero(out, outcap);
	return rc;
}

static int
b64_val(char c)
{
	return b64_value((unsigned char)c, B64_URL);
}

int
rclone_reveal(const char *in, size_t n, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t i, o = 0, raw;
	uint32_t acc = 0;
	int bits = 0, l;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t iv[16];
	int rc = -1;

	if (in == NULL || out == NULL || n % 4 == 1)
		return -1;
	raw = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (raw < 16 || outcap < raw)
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64_val(in[i]);
		if (v < 0)
			goto out;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (o != raw)
		goto out;
	memcpy(iv, out, 16);
	memmove(out, out + 16, raw - 16);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_ctr(), NULL, obscure_key, iv) != 1)
		goto out;
	if (raw > 16 && (EVP_DecryptUpdate(ctx, out, &l, out, (int)(raw - 16)) != 1 ||
			 (size_t)l != raw - 16))
		goto out;
	if (outlen)
		*outlen = raw - 16;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	explicit_bzero(iv, sizeof(iv));
	acc = 0;
	if (rc != 0)
		explicit_bzero(out, outcap);
	return rc;
}

/* ---- Go's json.Marshal UTF-8 handling ------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), per Go's
 * utf8.DecodeRune; 0 when invalid (then Go consumes one byte). */
static size_t
utf8_valid_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* <= U+10FFFF */
	} else
		return 0;
	if (n < need)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need;
}

int
go_json_utf8_sanitize(const uint8_t *in, size_t n, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t i = 0, o = 0;

	while (i < n) {
		size_t l = utf8_valid_len(in + i, n - i);
		if (l == 0) {
			if (o + 3 > outcap)
				goto full;
			out[o++] = 0xef;
			out[o++] = 0xbf;
			out[o++] = 0xbd;
			i++;
		} else {
			if (o + l > outcap)
				goto full;
			memcpy(out + o, in + i, l);
			o += l;
			i += l;
		}
	}
	*outlen = o;
	return 0;
full:
	explicit_bzero(out, outcap);
	return -1;
}
