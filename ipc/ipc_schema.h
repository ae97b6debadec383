/* Internal to the codec: the schema that says, per message type, which peer
 * may send it and the exact kind, bound and place in struct ipc_msg of every
 * field. Adding a message means adding one table here and one struct in
 * ipc_msg.h; the codec itself does not change. */
#ifndef LCW_IPC_SCHEMA_H
#define LCW_IPC_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

enum ipc_kind {
	IPC_K_U32,  /* msgpack positive int in [min, max] */
	IPC_K_U64,  /* msgpack positive int in [min, max] */
	IPC_K_BOOL, /* msgpack true/false, stored as uint8_t 0/1 */
	IPC_K_STR,  /* msgpack str, <= max bytes, printable (no NUL, no C0/DEL),
		       stored NUL-terminated in char[max + 1] */
	IPC_K_BIN,  /* msgpack bin, <= max bytes, stored in uint8_t[max] with a
		       uint32_t length at len_off (used for key material) */
};

struct ipc_field {
	const char *name;
	enum ipc_kind kind;
	uint64_t min, max; /* integer range, or max length for STR/BIN */
	size_t off;        /* offset inside struct ipc_msg */
	size_t len_off;    /* BIN only: offset of the uint32_t length */
};

struct ipc_schema {
	uint32_t type;
	const char *name;
	uint32_t senders; /* mask of enum ipc_peer */
	int note;         /* unsolicited: id must be 0, never answered */
	const struct ipc_field *fields;
	size_t nfields;
};

const struct ipc_schema *ipc_schema_find(uint32_t type);

#endif
