/* Pure check of a request's raw bytes for strings with an embedded NUL.
 *
 * protobuf-c gives string fields to C as NUL-terminated strings, so a
 * value "pvc-a\0x" silently arrives as "pvc-a" (and a passphrase
 * "a\0<random>" as the one byte "a"). The frontend must refuse such a
 * request rather than act on a value the client did not send. */
#ifndef LCW_PB_STRINGS_H
#define LCW_PB_STRINGS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Walk the encoding of a message of descriptor d. Returns 1 if a string
 * field (at any depth, map keys and values included) holds a NUL byte,
 * with its dotted field name ("volume_capability.mount.mount_flags",
 * "secrets.value") in field; 0 if none does; -1 if buf is not a
 * well-formed encoding. Unknown fields are skipped. */
int pb_find_nul_string(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		       char *field, size_t fieldlen);

#endif
