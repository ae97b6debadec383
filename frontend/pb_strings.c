/* Find string fields holding a NUL byte in the raw protobuf encoding of a
 * request (see pb_strings.h). The wire walk follows the message's
 * descriptor, so every legal encoding is judged alike: field order,
 * unknown fields, repeated fields, non-canonical varints and map entries
 * (which protobuf-c describes as nested messages with key and value). */
#include "pb_strings.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 16 /* CSI requests nest a few levels; unpack accepted it */

/* Reads a varint; returns bytes used or 0 when malformed/truncated. */
static size_t
varint(const uint8_t *p, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < n && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0)
			return i + 1;
	}
	return 0;
}

static void
name_append(char *field, size_t fieldlen, size_t at, const char *name)
{
	if (at < fieldlen)
		snprintf(field + at, fieldlen - at, "%s%s", at ? "." : "", name);
}

static int
walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth, char *field,
     size_t fieldlen)
{
	size_t at = field ? strnlen(field, fieldlen) : 0;

	if (depth > MAX_DEPTH)
		return -1;
	while (n > 0) {
		uint64_t tag, len;
		size_t used = varint(p, n, &tag);
		if (used == 0)
			return -1;
		p += used;
		n -= used;
		switch (tag & 7) {
		case 0: /* varint */
			if ((used = varint(p, n, &len)) == 0)
				return -1;
			break;
		case 1: /* fixed 64 */
			used = 8;
			break;
		case 5: /* fixed 32 */
			used = 4;
			break;
		case 2: { /* length-delimited: string, bytes, message or packed */
			if ((used = varint(p, n, &len)) == 0 || len > n - used)
				return -1;
			const uint8_t *v = p + used;
			const ProtobufCFieldDescriptor *f =
				tag >> 3 > UINT32_MAX ? NULL
						      : protobuf_c_message_descriptor_get_field(
								d, (unsigned)(tag >> 3));
			if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(v, 0, len)) {
				if (field)
					name_append(field, fieldlen, at, f->name);
				return 1;
			}
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (field)
					name_append(field, fieldlen, at, f->name);
				int rc = walk(f->descriptor, v, len, depth + 1, field, fieldlen);
				if (rc)
					return rc;
				if (field && at < fieldlen)
					field[at] = '\0';
			}
			used += len;
			break;
		}
		default: /* groups (3, 4) and reserved types: not in proto3 */
			return -1;
		}
		if (used > n)
			return -1;
		p += used;
		n -= used;
	}
	return 0;
}

int
pb_find_nul_string(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		   char *field, size_t fieldlen)
{
	if (field && fieldlen)
		field[0] = '\0';
	return walk(d, buf, len, 0, fieldlen ? field : NULL, fieldlen);
}
