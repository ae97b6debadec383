/* The one codec both sides of every privd channel use. Pure functions: no
 * I/O, no global state, memory bounded by the datagram size. */
#include "ipc_msg.h"
#include "ipc_schema.h"

#include <msgpack.h>
#include <string.h>

const char *
ipc_codec_strerror(int rc)
{
	switch (rc) {
	case IPC_OK: return "ok";
	case IPC_E_SIZE: return "datagram empty or too large";
	case IPC_E_SHAPE: return "not a flat array of scalars";
	case IPC_E_TRAILING: return "trailing bytes";
	case IPC_E_TYPE: return "unknown message type";
	case IPC_E_PERMIT: return "message type not permitted from this peer";
	case IPC_E_ARITY: return "wrong number of fields";
	case IPC_E_KIND: return "field of the wrong kind";
	case IPC_E_RANGE: return "value out of range";
	case IPC_E_STRLEN: return "string or bytes too long";
	case IPC_E_NUL: return "string holds NUL or a control byte";
	case IPC_E_NOSPACE: return "output buffer too small";
	case IPC_E_MSGPACK: return "msgpack decoder refused input";
	}
	return "unknown codec error";
}

/* ---- pre-scan ----------------------------------------------------------- */

static int
read_be(const uint8_t *p, size_t n, size_t avail, uint64_t *v)
{
	if (n > avail)
		return -1;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = (*v << 8) | p[i];
	return 0;
}

/* Length of one allowed scalar at p (header + payload), or 0 if it is not an
 * allowed scalar or does not fit in avail. */
static size_t
scalar_len(const uint8_t *p, size_t avail)
{
	uint64_t n;
	uint8_t b = p[0];

	if (b <= 0x7f || b == 0xc2 || b == 0xc3)
		return 1; /* positive fixint, false, true */
	if (b >= 0xa0 && b <= 0xbf)
		n = b & 0x1f, n += 1; /* fixstr */
	else if (b >= 0xcc && b <= 0xcf) {
		n = 1 + (1u << (b - 0xcc)); /* uint8..uint64 */
	} else if (b == 0xd9 || b == 0xc4) {
		if (read_be(p + 1, 1, avail - 1, &n)) return 0;
		n += 2;
	} else if (b == 0xda || b == 0xc5) {
		if (read_be(p + 1, 2, avail - 1, &n)) return 0;
		n += 3;
	} else if (b == 0xdb || b == 0xc6) {
		if (read_be(p + 1, 4, avail - 1, &n)) return 0;
		n += 5;
	} else
		return 0; /* nil, floats, signed ints, ext, containers */
	return n <= avail ? (size_t)n : 0;
}

int
ipc_prescan(const uint8_t *buf, size_t len)
{
	uint64_t count;
	size_t pos;

	if (len == 0 || len > IPC_MAX_DATAGRAM)
		return IPC_E_SIZE;
	if (buf[0] >= 0x90 && buf[0] <= 0x9f) {
		count = buf[0] & 0x0f;
		pos = 1;
	} else if (buf[0] == 0xdc) {
		if (read_be(buf + 1, 2, len - 1, &count)) return IPC_E_SHAPE;
		pos = 3;
	} else if (buf[0] == 0xdd) {
		if (read_be(buf + 1, 4, len - 1, &count)) return IPC_E_SHAPE;
		pos = 5;
	} else
		return IPC_E_SHAPE;
	if (count < 2 || count > IPC_MAX_FIELDS + 2 || count > len - pos)
		return IPC_E_SHAPE;
	for (uint64_t i = 0; i < count; i++) {
		if (pos >= len)
			return IPC_E_SHAPE;
		size_t n = scalar_len(buf + pos, len - pos);
		if (n == 0)
			return IPC_E_SHAPE;
		pos += n;
	}
	return pos == len ? IPC_OK : IPC_E_TRAILING;
}

/* ---- decode ------------------------------------------------------------- */

static int
str_is_clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0)
			return IPC_E_NUL;
		if (c < 0x20 || c == 0x7f)
			return IPC_E_NUL;
	}
	return IPC_OK;
}

static int
decode_field(const struct ipc_field *f, const msgpack_object *o,
	     struct ipc_msg *out)
{
	uint8_t *base = (uint8_t *)out;
	int rc;

	switch (f->kind) {
	case IPC_K_U32:
	case IPC_K_U64:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return IPC_E_KIND;
		if (o->via.u64 < f->min || o->via.u64 > f->max)
			return IPC_E_RANGE;
		if (f->kind == IPC_K_U32) {
			uint32_t v = (uint32_t)o->via.u64;
			memcpy(base + f->off, &v, sizeof(v));
		} else {
			uint64_t v = o->via.u64;
			memcpy(base + f->off, &v, sizeof(v));
		}
		return IPC_OK;
	case IPC_K_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return IPC_E_KIND;
		base[f->off] = o->via.boolean ? 1 : 0;
		return IPC_OK;
	case IPC_K_STR:
		if (o->type != MSGPACK_OBJECT_STR)
			return IPC_E_KIND;
		if (o->via.str.size > f->max)
			return IPC_E_STRLEN;
		if ((rc = str_is_clean(o->via.str.ptr, o->via.str.size)))
			return rc;
		if (o->via.str.size) /* msgpack-c leaves ptr NULL for "" */
			memcpy(base + f->off, o->via.str.ptr, o->via.str.size);
		base[f->off + o->via.str.size] = '\0';
		return IPC_OK;
	case IPC_K_BIN:
		if (o->type != MSGPACK_OBJECT_BIN)
			return IPC_E_KIND;
		if (o->via.bin.size > f->max)
			return IPC_E_STRLEN;
		if (o->via.bin.size)
			memcpy(base + f->off, o->via.bin.ptr, o->via.bin.size);
		{
			uint32_t n = o->via.bin.size;
			memcpy(base + f->len_off, &n, sizeof(n));
		}
		return IPC_OK;
	}
	return IPC_E_KIND;
}

static int
decode_object(const msgpack_object *root, uint32_t allowed, struct ipc_msg *out)
{
	const msgpack_object *el;
	const struct ipc_schema *s;
	int rc;

	if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 2)
		return IPC_E_SHAPE;
	el = root->via.array.ptr;
	if (el[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    el[0].via.u64 > UINT32_MAX)
		return IPC_E_TYPE;
	s = ipc_schema_find((uint32_t)el[0].via.u64);
	if (s == NULL)
		return IPC_E_TYPE;
	if ((s->senders & allowed) == 0)
		return IPC_E_PERMIT;
	if (root->via.array.size != s->nfields + 2)
		return IPC_E_ARITY;
	if (el[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return IPC_E_KIND;
	if (el[1].via.u64 > UINT32_MAX || (s->note ? el[1].via.u64 != 0
						  : el[1].via.u64 == 0))
		return IPC_E_RANGE;
	out->type = s->type;
	out->id = (uint32_t)el[1].via.u64;
	for (size_t i = 0; i < s->nfields; i++)
		if ((rc = decode_field(&s->fields[i], &el[i + 2], out)))
			return rc;
	return IPC_OK;
}

int
ipc_decode(const uint8_t *buf, size_t len, uint32_t allowed,
	   struct ipc_msg *out)
{
	msgpack_unpacked up;
	size_t off = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ipc_prescan(buf, len)))
		return rc;
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, (const char *)buf, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS)
		rc = IPC_E_MSGPACK;
	else if (off != len)
		rc = IPC_E_TRAILING;
	else
		rc = decode_object(&up.data, allowed, out);
	msgpack_unpacked_destroy(&up);
	if (rc)
		explicit_bzero(out, sizeof(*out)); /* may hold part of a key */
	return rc;
}

/* ---- encode ------------------------------------------------------------- */

struct fixed_writer {
	uint8_t *buf;
	size_t cap, len;
};

static int
fixed_write(void *data, const char *p, size_t n)
{
	struct fixed_writer *w = data;

	if (n > w->cap - w->len)
		return -1;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

static int
check_field(const struct ipc_field *f, const struct ipc_msg *m)
{
	const uint8_t *base = (const uint8_t *)m;
	uint64_t v = 0;

	switch (f->kind) {
	case IPC_K_U32: {
		uint32_t u;
		memcpy(&u, base + f->off, sizeof(u));
		v = u;
		break;
	}
	case IPC_K_U64:
		memcpy(&v, base + f->off, sizeof(v));
		break;
	case IPC_K_BOOL:
		return base[f->off] <= 1 ? IPC_OK : IPC_E_RANGE;
	case IPC_K_STR: {
		const char *s = (const char *)base + f->off;
		size_t n = strnlen(s, f->max + 1);
		if (n > f->max)
			return IPC_E_STRLEN;
		return str_is_clean(s, n);
	}
	case IPC_K_BIN: {
		uint32_t n;
		memcpy(&n, base + f->len_off, sizeof(n));
		return n <= f->max ? IPC_OK : IPC_E_STRLEN;
	}
	}
	return (v < f->min || v > f->max) ? IPC_E_RANGE : IPC_OK;
}

static int
pack_field(msgpack_packer *pk, const struct ipc_field *f,
	   const struct ipc_msg *m)
{
	const uint8_t *base = (const uint8_t *)m;

	switch (f->kind) {
	case IPC_K_U32: {
		uint32_t u;
		memcpy(&u, base + f->off, sizeof(u));
		return msgpack_pack_uint64(pk, u);
	}
	case IPC_K_U64: {
		uint64_t u;
		memcpy(&u, base + f->off, sizeof(u));
		return msgpack_pack_uint64(pk, u);
	}
	case IPC_K_BOOL:
		return base[f->off] ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	case IPC_K_STR: {
		const char *s = (const char *)base + f->off;
		size_t n = strlen(s);
		return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
	}
	case IPC_K_BIN: {
		uint32_t n;
		memcpy(&n, base + f->len_off, sizeof(n));
		return msgpack_pack_bin(pk, n) ||
		       msgpack_pack_bin_body(pk, base + f->off, n);
	}
	}
	return -1;
}

int
ipc_encode(const struct ipc_msg *m, uint8_t *buf, size_t cap, size_t *outlen)
{
	const struct ipc_schema *s = ipc_schema_find(m->type);
	struct fixed_writer w = { buf, cap < IPC_MAX_DATAGRAM ? cap : IPC_MAX_DATAGRAM, 0 };
	msgpack_packer pk;
	int rc;

	if (s == NULL)
		return IPC_E_TYPE;
	if (s->note ? m->id != 0 : m->id == 0)
		return IPC_E_RANGE;
	for (size_t i = 0; i < s->nfields; i++)
		if ((rc = check_field(&s->fields[i], m)))
			return rc;
	msgpack_packer_init(&pk, &w, fixed_write);
	if (msgpack_pack_array(&pk, s->nfields + 2) ||
	    msgpack_pack_uint64(&pk, m->type) || msgpack_pack_uint64(&pk, m->id))
		goto nospace;
	for (size_t i = 0; i < s->nfields; i++)
		if (pack_field(&pk, &s->fields[i], m))
			goto nospace;
	*outlen = w.len;
	return IPC_OK;
nospace:
	explicit_bzero(buf, w.len);
	return IPC_E_NOSPACE;
}
