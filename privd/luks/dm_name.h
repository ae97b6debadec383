/* The device-mapper name of a local volume's mapping. */
#ifndef LCW_DM_NAME_H
#define LCW_DM_NAME_H

#include <stddef.h>

/* Device-mapper names hold at most 127 bytes. */
#define DM_NAME_MAX 127
/* The longest id whose mapping keeps the Go driver's name "luks-<id>". */
#define DM_LITERAL_ID_MAX (DM_NAME_MAX - 5)
/* Room for either shape, with its NUL. */
#define DM_NAME_BUF (DM_NAME_MAX + 1)

/* "luks-<id>" for every id of at most DM_LITERAL_ID_MAX bytes (the Go
 * driver's volumes depend on that name); for longer ids (CSI allows 128
 * bytes) "luks_<64 hex digits of SHA-256(id)>". No id contains '_'
 * (volid_valid), so the hashed shape never equals a literal one, and two
 * long ids share a name only if SHA-256 collides. 0, or -1 if out is too
 * small or hashing failed. */
int luks_dm_name(const char *volid, char *out, size_t outlen);

#endif
