/* RFC 4648 base64 pieces shared by the Kubernetes client (standard
 * alphabet, Secret data), the rclone config (URL alphabet, no padding, as
 * rclone's obscure writes it) and the S3 client (standard, Content-MD5).
 * Pure; write only into caller buffers, so key material can stay in locked
 * memory. */
#ifndef LCW_BASE64_H
#define LCW_BASE64_H

#include <stddef.h>
#include <stdint.h>

enum b64_alphabet { B64_STD = 0, B64_URL = 1 };

/* Encode n bytes into out (room for 4 * ceil(n / 3) + 1 chars), with '='
 * padding if pad. A caller encoding in pieces passes multiples of 3 bytes
 * except for the last piece. Returns the number of characters written
 * (out is NUL-terminated). */
size_t b64_encode(const uint8_t *in, size_t n, char *out, enum b64_alphabet a, int pad);

/* Value 0..63 of one character in the alphabet, or -1. */
int b64_value(unsigned char c, enum b64_alphabet a);

#endif
