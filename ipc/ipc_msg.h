/* Message catalogue of the privd channels.
 *
 * Every message is one SOCK_SEQPACKET datagram holding one msgpack array:
 *   [type, id, field1, ..., fieldN]
 * with exactly N fields for that type, in a fixed order, each of a fixed kind
 * and bounded size. Requests have even type numbers and their answer is the
 * next odd number (OpenSSH monitor style); any request may instead be answered
 * by IPC_ANS_ERROR. Notes are unsolicited, carry id 0 and get no answer.
 *
 * Which peer may send which type is part of the catalogue (ipc_codec.c), so a
 * frontend cannot send what only the spawner may send, and vice versa.
 */
#ifndef LCW_IPC_MSG_H
#define LCW_IPC_MSG_H

#include <stddef.h>
#include <stdint.h>

#define IPC_MAX_DATAGRAM 32768u /* hard cap on one encoded message */
#define IPC_MAX_FIELDS 24u      /* per message, excluding type and id */

/* String field bounds (bytes, without the terminating NUL). */
#define IPC_ERRMSG_MAX 512u
#define IPC_VERSION_MAX 96u

/* Who may send a type: the channel's peer role. */
enum ipc_peer {
	IPC_FROM_FRONTEND = 1u << 0, /* frontend -> privd */
	IPC_FROM_PRIVD = 1u << 1,    /* privd -> frontend or privd -> spawner */
	IPC_FROM_SPAWNER = 1u << 2,  /* spawner -> privd */
};

enum ipc_type {
	IPC_ANS_ERROR = 1,

	IPC_REQ_PING = 2, /* frontend: is privd alive and serving? */
	IPC_ANS_PING = 3,

	IPC_REQ_SPAWN_FRONTEND = 4, /* privd -> spawner, carries one fd */
	IPC_ANS_SPAWN = 5,

	IPC_REQ_SPAWNER_STOP = 6, /* privd -> spawner: stop children, exit */
	IPC_ANS_SPAWNER_STOP = 7,

	IPC_NOTE_CHILD_EXIT = 9, /* spawner -> privd, unsolicited */
};

/* Error classes carried by IPC_ANS_ERROR; the frontend maps them to gRPC
 * status codes. Values are stable wire constants. */
enum ipc_err_class {
	IPC_EC_INTERNAL = 1,
	IPC_EC_INVALID = 2,
	IPC_EC_NOT_FOUND = 3,
	IPC_EC_EXISTS = 4,
	IPC_EC_PERMISSION = 5,
	IPC_EC_PRECONDITION = 6,
	IPC_EC_EXHAUSTED = 7,
	IPC_EC_BUSY = 8,
	IPC_EC_UNAVAILABLE = 9,
	IPC_EC_MAX = 9,
};

/* Roles of children the spawner runs (IPC_NOTE_CHILD_EXIT.role). */
enum ipc_child_role {
	IPC_ROLE_FRONTEND = 1,
	IPC_ROLE_MAX = 1,
};

struct ipc_error_ans {
	uint32_t err_class; /* enum ipc_err_class */
	uint32_t sys_errno; /* 0 when not caused by a system call */
	char msg[IPC_ERRMSG_MAX + 1];
};

struct ipc_ping_ans {
	char version[IPC_VERSION_MAX + 1];
	uint64_t uptime_ms;
};

struct ipc_spawn_ans {
	uint32_t pid;
};

struct ipc_child_exit_note {
	uint32_t role; /* enum ipc_child_role */
	uint32_t pid;
	uint32_t wstatus; /* as from waitpid() */
};

struct ipc_msg {
	uint32_t type; /* enum ipc_type */
	uint32_t id;   /* request id, echoed in the answer; 0 for notes */
	union {
		struct ipc_error_ans error;
		struct ipc_ping_ans ping_ans;
		struct ipc_spawn_ans spawn_ans;
		struct ipc_child_exit_note child_exit;
	} u;
};

/* Codec results. Negative values are errors; every one of them is fatal to
 * the connection that produced the bytes. */
enum ipc_codec_rc {
	IPC_OK = 0,
	IPC_E_SIZE = -1,        /* empty or over IPC_MAX_DATAGRAM */
	IPC_E_SHAPE = -2,       /* not a flat msgpack array of scalars */
	IPC_E_TRAILING = -3,    /* bytes left after the array */
	IPC_E_TYPE = -4,        /* unknown message type */
	IPC_E_PERMIT = -5,      /* type not permitted from this peer */
	IPC_E_ARITY = -6,       /* wrong number of fields */
	IPC_E_KIND = -7,        /* a field has the wrong msgpack kind */
	IPC_E_RANGE = -8,       /* integer out of range, or id invalid */
	IPC_E_STRLEN = -9,      /* string or bytes too long */
	IPC_E_NUL = -10,        /* string contains NUL or a control byte */
	IPC_E_NOSPACE = -11,    /* encode: output buffer too small */
	IPC_E_MSGPACK = -12,    /* msgpack-c refused the bytes */
};

const char *ipc_codec_strerror(int rc);
const char *ipc_type_name(uint32_t type);

/* Is this a request type (even, known)? */
int ipc_is_request(uint32_t type);

/* Decode one datagram. `allowed` is the mask of enum ipc_peer the sender may
 * act as. On success *out is fully initialised. Pure: no I/O, bounded memory. */
int ipc_decode(const uint8_t *buf, size_t len, uint32_t allowed,
	       struct ipc_msg *out);

/* Encode *m into buf (capacity cap). The message is validated against the
 * same schema as on decode, so a bug cannot put a malformed message on the
 * wire. Writes nothing outside buf; no heap copies of field contents. */
int ipc_encode(const struct ipc_msg *m, uint8_t *buf, size_t cap,
	       size_t *outlen);

/* Structural pre-check run before msgpack-c sees the bytes: exactly one flat
 * array whose element count and every string length fit in the remaining
 * input, so msgpack-c can never be told to reserve more than the datagram
 * size. Exposed for the tests. */
int ipc_prescan(const uint8_t *buf, size_t len);

#endif
