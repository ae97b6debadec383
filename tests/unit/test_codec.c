/* Unit tests of the privd channel codec (ipc_codec.c) and its datagram
 * transport (ipc_chan.c).
 *
 * The hostile inputs are written byte by byte rather than with msgpack-c's
 * packer: the point is to feed the decoder what a correct packer would never
 * produce. msgpack_unpack_next() is interposed below so the tests can prove
 * that the pre-scan, not msgpack-c, is what refuses dangerous headers. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <msgpack.h>

#include "ipc_chan.h"
#include "ipc_msg.h"
#include "ipc_schema.h"

#define ALL_PEERS (IPC_FROM_FRONTEND | IPC_FROM_PRIVD | IPC_FROM_SPAWNER | IPC_FROM_PRIVD_SP)

/* ---- msgpack-c call counter --------------------------------------------- */

/* The executable's definition wins symbol resolution over libmsgpackc's, so
 * ipc_codec.o calls this; it forwards to the real function. */
static unsigned long unpack_calls;

typedef msgpack_unpack_return (*unpack_next_fn)(msgpack_unpacked *, const char *,
						 size_t, size_t *);

msgpack_unpack_return
msgpack_unpack_next(msgpack_unpacked *result, const char *data, size_t len,
		    size_t *off)
{
	static unpack_next_fn real;

	if (real == NULL) {
		real = (unpack_next_fn)dlsym(RTLD_NEXT, "msgpack_unpack_next");
		if (real == NULL)
			abort();
	}
	unpack_calls++;
	return real(result, data, len, off);
}

/* ---- byte builder for hand-made datagrams -------------------------------- */

struct bytes {
	uint8_t b[IPC_MAX_DATAGRAM * 2];
	size_t n;
};

static void
put8(struct bytes *b, uint8_t v)
{
	assert_true(b->n < sizeof(b->b));
	b->b[b->n++] = v;
}

static void
put_be(struct bytes *b, uint64_t v, unsigned nbytes)
{
	for (unsigned i = nbytes; i > 0; i--)
		put8(b, (uint8_t)(v >> (8 * (i - 1))));
}

/* Smallest msgpack encoding of an unsigned integer (what a packer emits). */
static void
put_uint(struct bytes *b, uint64_t v)
{
	if (v <= 0x7f)
		put8(b, (uint8_t)v);
	else if (v <= 0xff)
		put8(b, 0xcc), put_be(b, v, 1);
	else if (v <= 0xffff)
		put8(b, 0xcd), put_be(b, v, 2);
	else if (v <= 0xffffffffu)
		put8(b, 0xce), put_be(b, v, 4);
	else
		put8(b, 0xcf), put_be(b, v, 8);
}

static void
put_arr(struct bytes *b, uint32_t count)
{
	if (count <= 15)
		put8(b, (uint8_t)(0x90 | count));
	else
		put8(b, 0xdc), put_be(b, count, 2);
}

static void
put_strn(struct bytes *b, const char *s, size_t n)
{
	if (n <= 31)
		put8(b, (uint8_t)(0xa0 | n));
	else if (n <= 0xff)
		put8(b, 0xd9), put_be(b, n, 1);
	else
		put8(b, 0xda), put_be(b, n, 2);
	for (size_t i = 0; i < n; i++)
		put8(b, (uint8_t)s[i]);
}

static void
put_str(struct bytes *b, const char *s)
{
	put_strn(b, s, strlen(s));
}

static int
all_zero(const void *p, size_t n)
{
	static const uint8_t zero[sizeof(struct ipc_msg)];
	assert_true(n <= sizeof(zero));
	return memcmp(p, zero, n) == 0;
}

/* Decode and check the contract that holds for every failure: a negative
 * code and an output wiped clean (it may have held part of a secret). */
static int
dec(const struct bytes *b, uint32_t allowed)
{
	struct ipc_msg m;
	int rc;

	memset(&m, 0x5a, sizeof(m));
	rc = ipc_decode(b->b, b->n, allowed, &m);
	if (rc != IPC_OK) {
		assert_true(rc < 0);
		assert_true(all_zero(&m, sizeof(m)));
	}
	return rc;
}

/* ---- golden messages, generated from the catalogue ----------------------- */

/* Every type in the catalogue, in several variants, so a type added later
 * is covered without touching this file:
 *   MIN    every integer at its minimum, strings and bytes empty, bools 0
 *   MID    values inside the range, short strings (fixstr)
 *   STR8   strings and bytes of up to 40 bytes (str8/bin8 headers)
 *   STR16  the first string or bytes field that allows it 300 bytes long
 *   MAX    every integer at its maximum, every string and bytes field at
 *          its maximum length (also proves the largest message fits) */
enum variant { V_MIN, V_MID, V_STR8, V_STR16, V_MAX, NVARIANTS };
static const char *const variant_name[] = { "min", "mid", "str8", "str16", "max" };

struct golden {
	char name[64];
	enum variant v;
	uint32_t from; /* the peers allowed to send it */
	struct ipc_msg m;
};

#define MAX_TYPE 256 /* types are looked for below this */
#define MAX_GOLDEN 512

static size_t
field_len(const struct ipc_field *f, enum variant v, int *long_used)
{
	size_t want = 0;

	switch (v) {
	case V_MIN: want = 0; break;
	case V_MID: want = 12; break;
	case V_STR8: want = 40; break;
	case V_STR16:
		want = 12;
		if (!*long_used && f->max >= 300)
			want = 300, *long_used = 1;
		break;
	case V_MAX: want = f->max; break;
	case NVARIANTS: break;
	}
	return want < f->max ? want : (size_t)f->max;
}

static void
fill(struct ipc_msg *m, const struct ipc_schema *s, enum variant v)
{
	uint8_t *base = (uint8_t *)m;
	int long_used = 0;

	memset(m, 0, sizeof(*m));
	m->type = s->type;
	m->id = s->note ? 0 : v == V_MIN ? 1 : v == V_MAX ? UINT32_MAX : 0x1234u + v;
	for (size_t i = 0; i < s->nfields; i++) {
		const struct ipc_field *f = &s->fields[i];
		uint64_t x;
		size_t n;

		switch (f->kind) {
		case IPC_K_U32:
		case IPC_K_U64:
			x = v == V_MIN ? f->min : v == V_MAX ? f->max
				: f->min + (f->max - f->min) / 3;
			if (f->kind == IPC_K_U32) {
				uint32_t u = (uint32_t)x;
				memcpy(base + f->off, &u, sizeof(u));
			} else
				memcpy(base + f->off, &x, sizeof(x));
			break;
		case IPC_K_BOOL:
			base[f->off] = v != V_MIN;
			break;
		case IPC_K_STR:
			/* Printable ASCII, and in MAX also bytes >= 0x80, which
			 * are allowed (UTF-8 file names). */
			n = field_len(f, v, &long_used);
			for (size_t j = 0; j < n; j++) {
				unsigned c = (unsigned)(i * 7 + j) % (v == V_MAX ? 223 : 95);
				base[f->off + j] = (uint8_t)(c < 95 ? 0x20 + c : 0x80 + (c - 95));
			}
			base[f->off + n] = '\0';
			break;
		case IPC_K_BIN: {
			/* Every byte value, NUL included: bytes are not text. */
			uint32_t len = (uint32_t)field_len(f, v, &long_used);
			for (uint32_t j = 0; j < len; j++)
				base[f->off + j] = (uint8_t)(j * 37 + i);
			memcpy(base + f->len_off, &len, sizeof(len));
			break;
		}
		}
	}
}

static size_t
make_goldens(struct golden *g)
{
	size_t n = 0;

	for (uint32_t t = 0; t < MAX_TYPE; t++) {
		const struct ipc_schema *s = ipc_schema_find(t);
		if (s == NULL)
			continue;
		for (int v = 0; v < NVARIANTS; v++) {
			assert_true(n < MAX_GOLDEN);
			snprintf(g[n].name, sizeof(g[n].name), "%s/%s", ipc_type_name(t),
				 variant_name[v]);
			g[n].v = (enum variant)v;
			g[n].from = s->senders;
			fill(&g[n].m, s, (enum variant)v);
			n++;
		}
	}
	return n;
}

static struct golden goldens[MAX_GOLDEN];
static size_t ngoldens;

static int
setup_goldens(void **state)
{
	(void)state;
	ngoldens = make_goldens(goldens);
	return ngoldens >= 8 * NVARIANTS ? 0 : -1;
}

static size_t
enc(const struct ipc_msg *m, uint8_t *buf)
{
	size_t len = 0;
	int rc = ipc_encode(m, buf, IPC_MAX_DATAGRAM, &len);
	if (rc != IPC_OK)
		fail_msg("%s: encode: %s", ipc_type_name(m->type), ipc_codec_strerror(rc));
	assert_true(len > 0 && len <= IPC_MAX_DATAGRAM);
	return len;
}

/* ---- the catalogue itself ------------------------------------------------ */

static size_t
field_size(const struct ipc_field *f)
{
	switch (f->kind) {
	case IPC_K_U32: return sizeof(uint32_t);
	case IPC_K_U64: return sizeof(uint64_t);
	case IPC_K_BOOL: return 1;
	case IPC_K_STR: return (size_t)f->max + 1;
	case IPC_K_BIN: return (size_t)f->max;
	}
	return 0;
}

/* Mistakes a new table entry can make that the codec would not notice. */
static void
test_catalogue_consistent(void **state)
{
	const size_t u_off = offsetof(struct ipc_msg, u);
	(void)state;

	for (uint32_t t = 0; t < MAX_TYPE; t++) {
		const struct ipc_schema *s = ipc_schema_find(t);
		if (s == NULL)
			continue;
		const char *nm = ipc_type_name(t);
		assert_int_equal(s->type, t);
		assert_true(s->senders != 0);
		assert_true((s->senders & ~(uint32_t)ALL_PEERS) == 0);
		if (s->nfields > IPC_MAX_FIELDS || (s->nfields && s->fields == NULL))
			fail_msg("%s: %zu fields", nm, s->nfields);
		/* A request is even and answered by the next odd type, sent by
		 * the other side; notes are odd and never requests. */
		if (t % 2 == 0) {
			const struct ipc_schema *a = ipc_schema_find(t + 1);
			if (s->note || a == NULL || a->note)
				fail_msg("%s: request without a plain answer type", nm);
			if (a->senders & s->senders)
				fail_msg("%s: answered by its own sender", nm);
			if (a->senders & ~ipc_schema_find(IPC_ANS_ERROR)->senders)
				fail_msg("%s: answerer may not send IPC_ANS_ERROR", nm);
		}
		for (size_t i = 0; i < s->nfields; i++) {
			const struct ipc_field *f = &s->fields[i];
			size_t sz = field_size(f);
			if (f->name == NULL || f->min > f->max)
				fail_msg("%s: field %zu: no name or min > max", nm, i);
			if (f->kind == IPC_K_U32 && f->max > UINT32_MAX)
				fail_msg("%s.%s: u32 with a larger maximum", nm, f->name);
			if ((f->kind == IPC_K_STR || f->kind == IPC_K_BIN) && f->max == 0)
				fail_msg("%s.%s: zero length bound", nm, f->name);
			/* Inside the union, and not overlapping any other field. */
			if (f->off < u_off || f->off + sz > sizeof(struct ipc_msg))
				fail_msg("%s.%s: outside the message", nm, f->name);
			if (f->kind == IPC_K_BIN &&
			    (f->len_off < u_off || f->len_off + 4 > sizeof(struct ipc_msg) ||
			     (f->len_off < f->off + sz && f->off < f->len_off + 4)))
				fail_msg("%s.%s: bad length member", nm, f->name);
			for (size_t j = 0; j < i; j++) {
				const struct ipc_field *g = &s->fields[j];
				if (f->off < g->off + field_size(g) && g->off < f->off + sz)
					fail_msg("%s: %s overlaps %s", nm, f->name, g->name);
			}
		}
	}
}

/* ---- round trip ---------------------------------------------------------- */

static void
test_round_trip(void **state)
{
	static uint8_t buf[IPC_MAX_DATAGRAM], buf2[IPC_MAX_DATAGRAM];
	(void)state;

	for (size_t i = 0; i < ngoldens; i++) {
		const struct golden *g = &goldens[i];
		struct ipc_msg out;
		size_t len = enc(&g->m, buf), len2;

		assert_int_equal(ipc_prescan(buf, len), IPC_OK);
		assert_int_equal(ipc_decode(buf, len, g->from, &out), IPC_OK);
		if (memcmp(&out, &g->m, sizeof(out)))
			fail_msg("%s: decoded message differs", g->name);
		/* Every sender alone, and all of them together. */
		for (uint32_t peer = 1; peer <= ALL_PEERS; peer <<= 1)
			assert_int_equal(ipc_decode(buf, len, peer, &out),
					 (peer & g->from) ? IPC_OK : IPC_E_PERMIT);
		assert_int_equal(ipc_decode(buf, len, ALL_PEERS, &out), IPC_OK);
		/* Encoding is canonical: the decoded message re-encodes to the
		 * very same bytes. */
		len2 = enc(&out, buf2);
		assert_int_equal(len2, len);
		assert_memory_equal(buf, buf2, len);
	}
}

/* The exact wire bytes, so an accidental format change is seen here first. */
static void
test_known_answers(void **state)
{
	uint8_t buf[64];
	size_t len;
	struct ipc_msg m;
	(void)state;

	memset(&m, 0, sizeof(m));
	m.type = IPC_REQ_PING;
	m.id = 1;
	assert_int_equal(ipc_encode(&m, buf, sizeof(buf), &len), IPC_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "\x92\x02\x01", 3);

	memset(&m, 0, sizeof(m));
	m.type = IPC_ANS_ERROR;
	m.id = 300;
	m.u.error.err_class = IPC_EC_BUSY;
	m.u.error.sys_errno = 16;
	strcpy(m.u.error.msg, "x");
	assert_int_equal(ipc_encode(&m, buf, sizeof(buf), &len), IPC_OK);
	assert_int_equal(len, 9);
	assert_memory_equal(buf, "\x95\x01\xcd\x01\x2c\x08\x10\xa1x", 9);
}

static void
test_is_request_and_names(void **state)
{
	(void)state;
	assert_true(ipc_is_request(IPC_REQ_PING));
	assert_true(ipc_is_request(IPC_REQ_SPAWN_FRONTEND));
	assert_true(ipc_is_request(IPC_REQ_SPAWNER_STOP));
	assert_false(ipc_is_request(IPC_ANS_PING));
	assert_false(ipc_is_request(IPC_NOTE_CHILD_EXIT));
	assert_false(ipc_is_request(0));
	assert_false(ipc_is_request(100));
	assert_string_equal(ipc_type_name(IPC_REQ_PING), "REQ_PING");
	assert_string_equal(ipc_type_name(12345), "UNKNOWN");
	for (int rc = IPC_E_MSGPACK; rc <= IPC_OK; rc++)
		assert_string_not_equal(ipc_codec_strerror(rc), "unknown codec error");
	assert_string_equal(ipc_codec_strerror(-99), "unknown codec error");
}

/* ---- exact shape --------------------------------------------------------- */

/* [ANS_ERROR, id, class, errno, msg] with each part replaceable. */
static void
error_msg(struct bytes *b, uint32_t count, uint64_t id, uint64_t cls, uint64_t eno,
	  const char *msg)
{
	b->n = 0;
	put_arr(b, count);
	put_uint(b, IPC_ANS_ERROR);
	put_uint(b, id);
	put_uint(b, cls);
	put_uint(b, eno);
	if (msg)
		put_str(b, msg);
}

static void
test_valid_handmade(void **state)
{
	struct bytes b;
	(void)state;

	/* Non-canonical but legal integer forms are accepted. */
	b.n = 0;
	put_arr(&b, 5);
	put8(&b, 0xcf), put_be(&b, IPC_ANS_ERROR, 8);
	put8(&b, 0xce), put_be(&b, 9, 4);
	put8(&b, 0xcd), put_be(&b, 2, 2);
	put8(&b, 0xcc), put_be(&b, 0, 1);
	put8(&b, 0xda), put_be(&b, 2, 2), put8(&b, 'o'), put8(&b, 'k');
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_OK);

	/* array16 holding few elements is fine too. */
	b.n = 0;
	put8(&b, 0xdc), put_be(&b, 2, 2);
	put_uint(&b, IPC_REQ_PING);
	put_uint(&b, 5);
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND), IPC_OK);
}

static void
test_trailing(void **state)
{
	struct bytes b;
	(void)state;

	error_msg(&b, 5, 1, 1, 0, "m");
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_OK);
	put8(&b, 0x00);
	assert_int_equal(ipc_prescan(b.b, b.n), IPC_E_TRAILING);
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_TRAILING);

	/* A second complete message after the first. */
	error_msg(&b, 5, 1, 1, 0, "m");
	put_arr(&b, 2), put_uint(&b, IPC_REQ_PING), put_uint(&b, 1);
	assert_int_equal(dec(&b, ALL_PEERS), IPC_E_TRAILING);

	/* Array header claiming one element fewer than present. */
	error_msg(&b, 4, 1, 1, 0, "m");
	int rc = dec(&b, IPC_FROM_PRIVD);
	assert_true(rc == IPC_E_TRAILING || rc == IPC_E_SHAPE);
}

static void
test_arity(void **state)
{
	struct bytes b;
	(void)state;

	error_msg(&b, 4, 1, 1, 0, NULL); /* msg missing */
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_ARITY);
	error_msg(&b, 6, 1, 1, 0, "m"); /* one extra */
	put_uint(&b, 0);
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_ARITY);

	b.n = 0; /* a field on an empty request */
	put_arr(&b, 3), put_uint(&b, IPC_REQ_PING), put_uint(&b, 1), put_uint(&b, 1);
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND), IPC_E_ARITY);

	b.n = 0; /* note without its last field */
	put_arr(&b, 4), put_uint(&b, IPC_NOTE_CHILD_EXIT), put_uint(&b, 0);
	put_uint(&b, 1), put_uint(&b, 2);
	assert_int_equal(dec(&b, IPC_FROM_SPAWNER), IPC_E_ARITY);

	/* Fewer than type and id is not even a message. */
	b.n = 0;
	put_arr(&b, 1), put_uint(&b, IPC_REQ_PING);
	assert_int_equal(dec(&b, ALL_PEERS), IPC_E_SHAPE);
	b.n = 0;
	put_arr(&b, 0);
	assert_int_equal(dec(&b, ALL_PEERS), IPC_E_SHAPE);

	/* More than IPC_MAX_FIELDS + 2 elements. */
	b.n = 0;
	put_arr(&b, IPC_MAX_FIELDS + 3);
	put_uint(&b, IPC_ANS_ERROR);
	for (unsigned i = 0; i < IPC_MAX_FIELDS + 2; i++)
		put_uint(&b, 1);
	assert_int_equal(dec(&b, ALL_PEERS), IPC_E_SHAPE);
}

static void
test_kind(void **state)
{
	struct bytes b;
	(void)state;

	/* str where the err_class int belongs */
	b.n = 0;
	put_arr(&b, 5), put_uint(&b, IPC_ANS_ERROR), put_uint(&b, 1);
	put_str(&b, "1"), put_uint(&b, 0), put_str(&b, "m");
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_KIND);

	/* int where the msg str belongs */
	error_msg(&b, 5, 1, 1, 0, NULL);
	put_uint(&b, 65);
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_KIND);

	/* bin where the msg str belongs */
	error_msg(&b, 5, 1, 1, 0, NULL);
	put8(&b, 0xc4), put8(&b, 1), put8(&b, 'm');
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_KIND);

	/* booleans where ints belong */
	b.n = 0;
	put_arr(&b, 3), put_uint(&b, IPC_ANS_SPAWN), put_uint(&b, 1), put8(&b, 0xc3);
	assert_int_equal(dec(&b, IPC_FROM_SPAWNER), IPC_E_KIND);

	/* id of the wrong kind */
	b.n = 0;
	put_arr(&b, 2), put_uint(&b, IPC_REQ_PING), put_str(&b, "1");
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND), IPC_E_KIND);

	/* type of the wrong kind cannot name a type */
	b.n = 0;
	put_arr(&b, 2), put_str(&b, "\x02"), put_uint(&b, 1);
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND), IPC_E_TYPE);
}

static void
test_range(void **state)
{
	struct bytes b;
	(void)state;

	error_msg(&b, 5, 1, 0, 0, "m"); /* class below 1 */
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_RANGE);
	error_msg(&b, 5, 1, IPC_EC_MAX + 1, 0, "m");
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_RANGE);
	error_msg(&b, 5, 1, 1, 4096, "m"); /* errno above 4095 */
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_RANGE);
	error_msg(&b, 5, 1, (uint64_t)1 << 32 | 1, 0, "m"); /* no u32 truncation */
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_RANGE);
	error_msg(&b, 5, 1, 1, 4095, "m"); /* the bound itself is fine */
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_OK);

	b.n = 0; /* pid 0 and pid above INT32_MAX */
	put_arr(&b, 3), put_uint(&b, IPC_ANS_SPAWN), put_uint(&b, 1), put_uint(&b, 0);
	assert_int_equal(dec(&b, IPC_FROM_SPAWNER), IPC_E_RANGE);
	b.n = 0;
	put_arr(&b, 3), put_uint(&b, IPC_ANS_SPAWN), put_uint(&b, 1),
		put_uint(&b, (uint64_t)INT32_MAX + 1);
	assert_int_equal(dec(&b, IPC_FROM_SPAWNER), IPC_E_RANGE);

	b.n = 0; /* unknown child role, wstatus above 16 bits */
	put_arr(&b, 5), put_uint(&b, IPC_NOTE_CHILD_EXIT), put_uint(&b, 0);
	put_uint(&b, IPC_ROLE_MAX + 1), put_uint(&b, 5), put_uint(&b, 0);
	assert_int_equal(dec(&b, IPC_FROM_SPAWNER), IPC_E_RANGE);
	b.n = 0;
	put_arr(&b, 5), put_uint(&b, IPC_NOTE_CHILD_EXIT), put_uint(&b, 0);
	put_uint(&b, 1), put_uint(&b, 5), put_uint(&b, 0x10000);
	assert_int_equal(dec(&b, IPC_FROM_SPAWNER), IPC_E_RANGE);
}

static void
test_ids(void **state)
{
	struct bytes b;
	(void)state;

	b.n = 0; /* request with id 0 */
	put_arr(&b, 2), put_uint(&b, IPC_REQ_PING), put_uint(&b, 0);
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND), IPC_E_RANGE);
	error_msg(&b, 5, 0, 1, 0, "m"); /* answer with id 0 */
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_RANGE);

	b.n = 0; /* id beyond 32 bits */
	put_arr(&b, 2), put_uint(&b, IPC_REQ_PING), put_uint(&b, (uint64_t)1 << 32);
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND), IPC_E_RANGE);

	b.n = 0; /* note with a non-zero id */
	put_arr(&b, 5), put_uint(&b, IPC_NOTE_CHILD_EXIT), put_uint(&b, 1);
	put_uint(&b, 1), put_uint(&b, 5), put_uint(&b, 0);
	assert_int_equal(dec(&b, IPC_FROM_SPAWNER), IPC_E_RANGE);
}

static void
test_strings(void **state)
{
	static char s[IPC_ERRMSG_MAX + 2];
	struct bytes b;
	(void)state;

	memset(s, 'a', IPC_ERRMSG_MAX + 1);
	s[IPC_ERRMSG_MAX + 1] = '\0';
	error_msg(&b, 5, 1, 1, 0, s); /* one byte over */
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_STRLEN);
	s[IPC_ERRMSG_MAX] = '\0';
	error_msg(&b, 5, 1, 1, 0, s); /* exactly the maximum */
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_OK);

	b.n = 0; /* version is bounded separately and tighter */
	put_arr(&b, 4), put_uint(&b, IPC_ANS_PING), put_uint(&b, 1);
	put_strn(&b, s, IPC_VERSION_MAX + 1), put_uint(&b, 0);
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_STRLEN);

	static const char *const bad[] = { "a\0b", "\0", "tab\there", "new\nline",
					   "esc\x1b[31m", "del\x7f", "\x01" };
	static const size_t badlen[] = { 3, 1, 8, 8, 8, 4, 1 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error_msg(&b, 5, 1, 1, 0, NULL);
		put_strn(&b, bad[i], badlen[i]);
		assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_NUL);
	}
}

static void
test_type_and_permit(void **state)
{
	struct bytes b;
	(void)state;

	/* Every gap in the catalogue, and values beyond it. */
	static const uint64_t unknown[] = { 65536, UINT32_MAX, (uint64_t)1 << 32 | IPC_REQ_PING };
	for (uint64_t t = 0; t < MAX_TYPE + 3; t++) {
		uint64_t ty = t < MAX_TYPE ? t : unknown[t - MAX_TYPE];
		if (ty < MAX_TYPE && ipc_schema_find((uint32_t)ty))
			continue;
		b.n = 0;
		put_arr(&b, 2), put_uint(&b, ty), put_uint(&b, 1);
		assert_int_equal(dec(&b, ALL_PEERS), IPC_E_TYPE);
	}

	/* The frontend may not ask the spawner for a frontend. */
	b.n = 0;
	put_arr(&b, 2), put_uint(&b, IPC_REQ_SPAWN_FRONTEND), put_uint(&b, 1);
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND), IPC_E_PERMIT);
	assert_int_equal(dec(&b, IPC_FROM_SPAWNER), IPC_E_PERMIT);
	/* and only privd's spawner channel carries it: a frontend would not
	 * accept it from privd either */
	assert_int_equal(dec(&b, IPC_FROM_PRIVD), IPC_E_PERMIT);
	assert_int_equal(dec(&b, IPC_FROM_PRIVD_SP), IPC_OK);

	/* Nor forge the spawner's notes or privd's answers. */
	b.n = 0;
	put_arr(&b, 5), put_uint(&b, IPC_NOTE_CHILD_EXIT), put_uint(&b, 0);
	put_uint(&b, 1), put_uint(&b, 5), put_uint(&b, 0);
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND | IPC_FROM_PRIVD), IPC_E_PERMIT);
	error_msg(&b, 5, 1, 1, 0, "m");
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND), IPC_E_PERMIT);

	/* An empty mask permits nothing. */
	b.n = 0;
	put_arr(&b, 2), put_uint(&b, IPC_REQ_PING), put_uint(&b, 1);
	assert_int_equal(dec(&b, 0), IPC_E_PERMIT);
}

/* Issue 10 item 1: the frontend may send exactly the requests its CSI
 * calls forward, and nothing may ask privd for an erase (type 22, retired:
 * unknown, so fatal to the channel). */
static void
test_frontend_surface(void **state)
{
	static const uint32_t fe[] = { IPC_REQ_PING, IPC_REQ_STAGE_LUKS, IPC_REQ_UNSTAGE,
				       IPC_REQ_PUBLISH, IPC_REQ_UNPUBLISH, IPC_REQ_EXPAND,
				       IPC_REQ_STATS, IPC_REQ_STAGE_S3, IPC_REQ_ROTATE_KEY,
				       IPC_REQ_RECLAIM_SPACE, IPC_REQ_CAPACITY };
	struct bytes b;
	(void)state;

	for (uint32_t t = 0; t < MAX_TYPE; t++) {
		const struct ipc_schema *s = ipc_schema_find(t);
		int want = 0;
		for (size_t i = 0; i < sizeof(fe) / sizeof(fe[0]); i++)
			want |= fe[i] == t;
		if (want != (s && (s->senders & IPC_FROM_FRONTEND)))
			fail_msg("%s: frontend %s", ipc_type_name(t),
				 want ? "may not send it" : "may send it");
		/* privd's requests to the spawner go only that way */
		if (s && (s->senders & IPC_FROM_PRIVD_SP) && (s->senders & ~IPC_FROM_PRIVD_SP))
			fail_msg("%s: spawner request with another sender", ipc_type_name(t));
	}
	/* ... and every request the spawner serves comes only on privd's
	 * spawner channel (the spawner receives nothing else: a request
	 * marked otherwise would be refused there and end the spawner). */
	static const uint32_t sp[] = { IPC_REQ_SPAWN_FRONTEND, IPC_REQ_SPAWNER_STOP,
				       IPC_REQ_RUN_MKFS, IPC_REQ_RUN_GROWFS, IPC_REQ_RUN_RCLONE,
				       IPC_REQ_STOP_RCLONE, IPC_REQ_REPAIR_MOUNT };
	for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]); i++) {
		const struct ipc_schema *s = ipc_schema_find(sp[i]);
		if (!s || s->senders != IPC_FROM_PRIVD_SP)
			fail_msg("%s: not sendable on privd's spawner channel alone",
				 ipc_type_name(sp[i]));
	}
	assert_null(ipc_schema_find(22));
	assert_null(ipc_schema_find(23));
	b.n = 0;
	put_arr(&b, 3), put_uint(&b, 22), put_uint(&b, 1), put_str(&b, "pvc-victim");
	assert_int_equal(dec(&b, IPC_FROM_FRONTEND), IPC_E_TYPE);
	assert_int_equal(dec(&b, ALL_PEERS), IPC_E_TYPE);
}

static void
test_size(void **state)
{
	static uint8_t big[IPC_MAX_DATAGRAM + 1];
	struct ipc_msg m;
	(void)state;

	assert_int_equal(ipc_decode(big, 0, ALL_PEERS, &m), IPC_E_SIZE);
	assert_int_equal(ipc_prescan(big, 0), IPC_E_SIZE);
	assert_int_equal(ipc_decode(big, sizeof(big), ALL_PEERS, &m), IPC_E_SIZE);
	assert_int_equal(ipc_prescan(big, sizeof(big)), IPC_E_SIZE);

	/* A well-formed message padded to exactly the maximum is judged on
	 * its shape, not its size. */
	memset(big, 0, sizeof(big));
	big[0] = 0x92, big[1] = IPC_REQ_PING, big[2] = 1;
	assert_int_equal(ipc_decode(big, IPC_MAX_DATAGRAM, ALL_PEERS, &m), IPC_E_TRAILING);
}

/* ---- every field of every type, generically -------------------------- */

static void
put_bin(struct bytes *b, const void *p, size_t n)
{
	if (n <= 0xff)
		put8(b, 0xc4), put_be(b, n, 1);
	else
		put8(b, 0xc5), put_be(b, n, 2);
	for (size_t i = 0; i < n; i++)
		put8(b, ((const uint8_t *)p)[i]);
}

static void
put_filler(struct bytes *b, int bin, size_t n)
{
	static char fill[IPC_MAX_DATAGRAM];
	memset(fill, 'x', n);
	if (bin)
		put_bin(b, fill, n);
	else
		put_strn(b, fill, n);
}

enum fault {
	F_NONE,   /* the valid message itself */
	F_KIND,   /* another msgpack kind */
	F_KIND2,  /* yet another */
	F_BELOW,  /* integer one below the minimum */
	F_ABOVE,  /* integer one above the maximum */
	F_LONG,   /* string or bytes one over the bound */
	F_NUL,    /* string holding a NUL */
	F_CTRL,   /* string holding a C0 control byte */
	F_DEL,    /* string holding DEL */
	F_DROP,   /* field left out */
	F_EXTRA,  /* one more field after the last */
	NFAULTS
};

static const int fault_rc[NFAULTS] = {
	[F_NONE] = IPC_OK, [F_KIND] = IPC_E_KIND, [F_KIND2] = IPC_E_KIND,
	[F_BELOW] = IPC_E_RANGE, [F_ABOVE] = IPC_E_RANGE, [F_LONG] = IPC_E_STRLEN,
	[F_NUL] = IPC_E_NUL, [F_CTRL] = IPC_E_NUL, [F_DEL] = IPC_E_NUL,
	[F_DROP] = IPC_E_ARITY, [F_EXTRA] = IPC_E_ARITY,
};

static void
put_valid(struct bytes *b, const struct ipc_field *f)
{
	switch (f->kind) {
	case IPC_K_U32:
	case IPC_K_U64: put_uint(b, f->min); break;
	case IPC_K_BOOL: put8(b, 0xc3); break;
	case IPC_K_STR: put_strn(b, "ok", f->max < 2 ? f->max : 2); break;
	case IPC_K_BIN: put_bin(b, "\0\xff", f->max < 2 ? f->max : 2); break;
	}
}

/* Encode, by hand, a message of type s whose field k carries fault fl.
 * Returns 0 when that fault does not apply to that field. */
static int
build_faulted(struct bytes *b, const struct ipc_schema *s, size_t k, enum fault fl)
{
	int isint;

	b->n = 0;
	put_arr(b, (uint32_t)(s->nfields + 2 + (fl == F_EXTRA) - (fl == F_DROP)));
	put_uint(b, s->type);
	put_uint(b, s->note ? 0 : 77);
	for (size_t i = 0; i < s->nfields; i++) {
		const struct ipc_field *f = &s->fields[i];
		isint = f->kind == IPC_K_U32 || f->kind == IPC_K_U64;
		if (i != k || fl == F_NONE || fl == F_EXTRA) {
			put_valid(b, f);
			continue;
		}
		switch (fl) {
		case F_DROP:
			break;
		case F_KIND:
			if (isint) put_str(b, "1");
			else if (f->kind == IPC_K_BOOL) put_uint(b, 1);
			else if (f->kind == IPC_K_STR) put_uint(b, 1);
			else put_str(b, "ok"); /* str where bytes belong */
			break;
		case F_KIND2:
			if (isint) put8(b, 0xc3);
			else if (f->kind == IPC_K_BOOL) put_str(b, "true");
			else if (f->kind == IPC_K_STR) put_bin(b, "ok", 2);
			else put_uint(b, 0);
			break;
		case F_BELOW:
			if (!isint || f->min == 0)
				return 0;
			put_uint(b, f->min - 1);
			break;
		case F_ABOVE:
			if (!isint || f->max == UINT64_MAX)
				return 0;
			put_uint(b, f->max + 1);
			break;
		case F_LONG:
			if (f->kind != IPC_K_STR && f->kind != IPC_K_BIN)
				return 0;
			put_filler(b, f->kind == IPC_K_BIN, (size_t)f->max + 1);
			break;
		case F_NUL:
		case F_CTRL:
		case F_DEL:
			if (f->kind != IPC_K_STR || f->max < 3)
				return 0;
			put_strn(b, fl == F_NUL ? "a\0b" : fl == F_CTRL ? "a\x1f" "b" : "a\x7f" "b", 3);
			break;
		default:
			return 0;
		}
	}
	if (fl == F_EXTRA)
		put_uint(b, 0);
	return 1;
}

static void
test_every_field(void **state)
{
	static struct bytes b;
	unsigned checked = 0;
	(void)state;

	for (uint32_t t = 0; t < MAX_TYPE; t++) {
		const struct ipc_schema *s = ipc_schema_find(t);
		if (s == NULL)
			continue;
		/* Whole-message faults, also for types without fields. */
		assert_true(build_faulted(&b, s, SIZE_MAX, F_NONE));
		if (dec(&b, s->senders) != IPC_OK)
			fail_msg("%s: valid hand-made message refused", ipc_type_name(t));
		assert_true(build_faulted(&b, s, SIZE_MAX, F_EXTRA));
		assert_int_equal(dec(&b, s->senders), IPC_E_ARITY);
		for (size_t k = 0; k < s->nfields; k++)
			for (int fl = F_KIND; fl < NFAULTS; fl++) {
				if (fl == F_EXTRA || !build_faulted(&b, s, k, (enum fault)fl))
					continue;
				int rc = dec(&b, s->senders);
				if (rc != fault_rc[fl])
					fail_msg("%s.%s fault %d: got %s, want %s", ipc_type_name(t),
						 s->fields[k].name, fl, ipc_codec_strerror(rc),
						 ipc_codec_strerror(fault_rc[fl]));
				checked++;
			}
	}
	print_message("# %u field faults checked\n", checked);
	assert_true(checked > 20);
}

/* The encoder applies the same bounds: one field made invalid at a time in
 * an otherwise valid message, for every field of every type. */
static void
test_encode_every_field(void **state)
{
	static uint8_t buf[IPC_MAX_DATAGRAM];
	unsigned checked = 0;
	(void)state;

	for (size_t gi = 0; gi < ngoldens; gi++) {
		if (goldens[gi].v != V_MID)
			continue;
		const struct ipc_schema *s = ipc_schema_find(goldens[gi].m.type);
		for (size_t k = 0; k < s->nfields; k++) {
			const struct ipc_field *f = &s->fields[k];
			for (int variant = 0; variant < 3; variant++) {
				static struct ipc_msg m;
				uint8_t *base = (uint8_t *)&m;
				int want;
				size_t len = 7;

				m = goldens[gi].m;
				switch (f->kind) {
				case IPC_K_U32:
				case IPC_K_U64: {
					uint64_t v;
					if (variant == 0 && f->min > 0)
						v = f->min - 1;
					else if (variant == 1 && f->max < (f->kind == IPC_K_U32 ? UINT32_MAX : UINT64_MAX))
						v = f->max + 1;
					else
						continue;
					if (f->kind == IPC_K_U32) {
						uint32_t u = (uint32_t)v;
						memcpy(base + f->off, &u, 4);
					} else
						memcpy(base + f->off, &v, 8);
					want = IPC_E_RANGE;
					break;
				}
				case IPC_K_BOOL:
					if (variant)
						continue;
					base[f->off] = 2;
					want = IPC_E_RANGE;
					break;
				case IPC_K_STR:
					if (variant == 0) {
						/* no terminator within the bound */
						memset(base + f->off, 'a', (size_t)f->max + 1);
						want = IPC_E_STRLEN;
					} else if (f->max >= 2) {
						strcpy((char *)base + f->off, variant == 1 ? "\n" : "\x7f");
						want = IPC_E_NUL;
					} else
						continue;
					break;
				case IPC_K_BIN: {
					if (variant)
						continue;
					uint32_t n = (uint32_t)f->max + 1;
					memcpy(base + f->len_off, &n, 4);
					want = IPC_E_STRLEN;
					break;
				}
				default:
					continue;
				}
				int rc = ipc_encode(&m, buf, sizeof(buf), &len);
				if (rc != want)
					fail_msg("%s.%s: encode gave %s, want %s", goldens[gi].name,
						 f->name, ipc_codec_strerror(rc), ipc_codec_strerror(want));
				assert_int_equal(len, 7); /* untouched on failure */
				checked++;
			}
		}
	}
	assert_true(checked > 10);
}

/* Headers that would make a generic decoder reserve huge amounts of memory
 * or recurse deeply. None may reach msgpack-c. */
static void
test_hostile_headers(void **state)
{
	struct bytes b;
	(void)state;

	struct {
		const char *name;
		const uint8_t *p;
		size_t n;
	} cases[] = {
#define C(nm, lit) { nm, (const uint8_t *)lit, sizeof(lit) - 1 }
		C("array32 2^32-1", "\xdd\xff\xff\xff\xff\x02\x01"),
		C("array32 short header", "\xdd\xff\xff"),
		C("array16 65535", "\xdc\xff\xff\x02\x01"),
		C("map32 2^28", "\xdf\x10\x00\x00\x00\x02\x01"),
		C("fixmap", "\x81\x02\x01"),
		C("map16", "\xde\x00\x01\x02\x01"),
		C("str32 4 GiB at root", "\xdb\xff\xff\xff\xff" "abc"),
		C("str32 4 GiB as field", "\x95\x01\x01\x01\x00\xdb\xff\xff\xff\xff" "abc"),
		C("str16 past end", "\x95\x01\x01\x01\x00\xda\x01\x00" "abc"),
		C("str8 past end", "\x95\x01\x01\x01\x00\xd9\x10" "abc"),
		C("fixstr past end", "\x95\x01\x01\x01\x00\xbf" "abc"),
		C("bin32 4 GiB", "\x95\x01\x01\x01\x00\xc6\xff\xff\xff\xff" "abc"),
		C("ext32 4 GiB", "\x95\x01\x01\x01\x00\xc9\xff\xff\xff\xff\x01" "abc"),
		C("fixext", "\x93\x01\x01\xd4\x01\x00"),
		C("nested array in field", "\x93\x01\x01\x91\x01"),
		C("nested map in field", "\x93\x01\x01\x80"),
		C("negative fixint", "\x92\x02\xff"),
		C("int8", "\x92\x02\xd0\x01"),
		C("int16", "\x92\x02\xd1\x00\x01"),
		C("int32", "\x92\x02\xd2\x00\x00\x00\x01"),
		C("int64", "\x92\x02\xd3\x00\x00\x00\x00\x00\x00\x00\x01"),
		C("float32", "\x92\x02\xca\x3f\x80\x00\x00"),
		C("float64", "\x92\x02\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"),
		C("nil", "\x92\x02\xc0"),
		C("never-used byte", "\x92\x02\xc1"),
		C("uint64 truncated", "\x92\x02\xcf\x00\x00"),
		C("count beyond input", "\x9f\x02\x01"),
		C("scalar at root", "\x02"),
		C("nil at root", "\xc0"),
#undef C
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ipc_msg m;
		unsigned long before = unpack_calls;
		int ps = ipc_prescan(cases[i].p, cases[i].n);
		int rc = ipc_decode(cases[i].p, cases[i].n, ALL_PEERS, &m);
		if (ps >= 0 || rc != ps)
			fail_msg("%s: prescan %d, decode %d", cases[i].name, ps, rc);
		if (unpack_calls != before)
			fail_msg("%s: reached msgpack-c", cases[i].name);
	}

	/* 64 nested fixarrays. */
	b.n = 0;
	for (int i = 0; i < 64; i++)
		put8(&b, 0x91);
	put8(&b, 0x01);
	unsigned long before = unpack_calls;
	assert_int_equal(ipc_prescan(b.b, b.n), IPC_E_SHAPE);
	assert_int_equal(dec(&b, ALL_PEERS), IPC_E_SHAPE);
	assert_int_equal(unpack_calls, before);

	/* The counter itself works: a valid message does reach msgpack-c. */
	b.n = 0;
	put_arr(&b, 2), put_uint(&b, IPC_REQ_PING), put_uint(&b, 1);
	assert_int_equal(dec(&b, ALL_PEERS), IPC_OK);
	assert_int_equal(unpack_calls, before + 1);
}

/* ---- encode refusals ----------------------------------------------------- */

static void
test_encode_refuses(void **state)
{
	uint8_t buf[IPC_MAX_DATAGRAM];
	size_t len = 12345;
	struct ipc_msg m;
	(void)state;

#define REFUSE(rc)                                                         \
	do {                                                               \
		memset(buf, 0xa5, 64);                                     \
		assert_int_equal(ipc_encode(&m, buf, sizeof(buf), &len), rc); \
		assert_int_equal(len, 12345);                              \
		assert_int_equal(buf[0], 0xa5);                            \
	} while (0)

	memset(&m, 0, sizeof(m));
	m.type = 99, m.id = 1;
	REFUSE(IPC_E_TYPE);

	memset(&m, 0, sizeof(m));
	m.type = IPC_REQ_PING; /* id 0 on a request */
	REFUSE(IPC_E_RANGE);

	memset(&m, 0, sizeof(m));
	m.type = IPC_NOTE_CHILD_EXIT, m.id = 4; /* id on a note */
	m.u.child_exit.role = 1, m.u.child_exit.pid = 1;
	REFUSE(IPC_E_RANGE);
	m.id = 0;
	m.u.child_exit.wstatus = 0x10000;
	REFUSE(IPC_E_RANGE);

	memset(&m, 0, sizeof(m));
	m.type = IPC_ANS_ERROR, m.id = 1;
	REFUSE(IPC_E_RANGE); /* err_class 0 */
	m.u.error.err_class = IPC_EC_MAX + 1;
	REFUSE(IPC_E_RANGE);
	m.u.error.err_class = 1;
	m.u.error.sys_errno = 4096;
	REFUSE(IPC_E_RANGE);
	m.u.error.sys_errno = 0;
	memset(m.u.error.msg, 'a', sizeof(m.u.error.msg)); /* no NUL at all */
	REFUSE(IPC_E_STRLEN);
	strcpy(m.u.error.msg, "line\nbreak");
	REFUSE(IPC_E_NUL);
	strcpy(m.u.error.msg, "del\x7f");
	REFUSE(IPC_E_NUL);

	memset(&m, 0, sizeof(m));
	m.type = IPC_ANS_SPAWN, m.id = 1;
	m.u.spawn_ans.pid = (uint32_t)INT32_MAX + 1;
	REFUSE(IPC_E_RANGE);

	memset(&m, 0, sizeof(m));
	m.type = IPC_ANS_PING, m.id = 1;
	memset(m.u.ping_ans.version, 'v', sizeof(m.u.ping_ans.version));
	REFUSE(IPC_E_STRLEN);
#undef REFUSE
}

/* Every capacity short of the encoded length: IPC_E_NOSPACE, and nothing
 * written at or beyond `cap` (a guard region after it must stay intact). */
static void
test_encode_nospace(void **state)
{
	enum { GUARD = 64 };
	static uint8_t full[IPC_MAX_DATAGRAM], area[IPC_MAX_DATAGRAM + GUARD];
	(void)state;

	for (size_t i = 0; i < ngoldens; i++) {
		size_t need = enc(&goldens[i].m, full);
		for (size_t cap = 0; cap < need; cap++) {
			size_t len = 999999;
			memset(area, 0xa5, cap + GUARD);
			assert_int_equal(ipc_encode(&goldens[i].m, area, cap, &len),
					 IPC_E_NOSPACE);
			assert_int_equal(len, 999999);
			for (size_t k = cap; k < cap + GUARD; k++)
				if (area[k] != 0xa5)
					fail_msg("%s: cap %zu: byte %zu written",
						 goldens[i].name, cap, k);
			/* What was written before running out is wiped. */
			for (size_t k = 0; k < cap; k++)
				if (area[k] != 0 && area[k] != 0xa5)
					fail_msg("%s: cap %zu: partial encoding left",
						 goldens[i].name, cap);
		}
		/* And exactly enough room is enough. */
		size_t len = 0;
		assert_int_equal(ipc_encode(&goldens[i].m, area, need, &len), IPC_OK);
		assert_int_equal(len, need);
		assert_memory_equal(area, full, need);
	}
}

/* ---- mutation (OpenSSH-style deterministic fuzz) ------------------------- */

static unsigned long mut_ok, mut_bad;

/* Decode a mutant with every sender mask. Success must yield a message that
 * encodes and decodes back to itself; failure must be a clean negative code. */
static void
check_mutant_exact(const uint8_t *p, size_t n)
{
	static uint8_t re[IPC_MAX_DATAGRAM];
	static struct ipc_msg m, m2;
	size_t len;
	int rc;

	memset(&m, 0x5a, sizeof(m));
	rc = ipc_decode(p, n, ALL_PEERS, &m);
	if (rc != IPC_OK) {
		if (rc >= 0 || !all_zero(&m, sizeof(m)))
			fail_msg("mutant rc %d or output not wiped", rc);
		mut_bad++;
		return;
	}
	mut_ok++;
	if ((rc = ipc_encode(&m, re, sizeof(re), &len)) != IPC_OK)
		fail_msg("decoded mutant does not re-encode: %d", rc);
	if (len > n)
		fail_msg("canonical re-encoding longer than the mutant");
	if ((rc = ipc_decode(re, len, ALL_PEERS, &m2)) != IPC_OK)
		fail_msg("re-encoded mutant does not decode: %d", rc);
	if (memcmp(&m, &m2, sizeof(m)))
		fail_msg("re-encoded mutant decodes differently");
	/* The sender mask decides nothing but IPC_E_PERMIT. */
	const struct ipc_schema *s = ipc_schema_find(m.type);
	for (uint32_t peer = 1; peer <= ALL_PEERS; peer <<= 1) {
		rc = ipc_decode(p, n, peer, &m2);
		if (rc != ((s->senders & peer) ? IPC_OK : IPC_E_PERMIT))
			fail_msg("mutant from peer %u: %d", peer, rc);
	}
}

/* Decode from a heap copy of exactly n bytes, so ASan sees any read past
 * the datagram. */
static void
check_mutant(const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);

	assert_non_null(copy);
	memcpy(copy, p, n);
	check_mutant_exact(copy, n);
	free(copy);
}

static void
test_mutations(void **state)
{
	static uint8_t orig[IPC_MAX_DATAGRAM], mut[IPC_MAX_DATAGRAM + 1];
	(void)state;

	for (size_t g = 0; g < ngoldens; g++) {
		size_t len = enc(&goldens[g].m, orig);

		for (size_t bit = 0; bit < len * 8; bit++) {
			memcpy(mut, orig, len);
			mut[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			check_mutant(mut, len);
		}
		/* Truncations, down to nothing. */
		for (size_t cut = 0; cut < len; cut++)
			check_mutant(orig, cut);
		/* Insertions are 256 per position: left out for the MAX variants
		 * (kilobytes of string payload), whose headers the STR8 and
		 * STR16 variants already put through this. */
		if (goldens[g].v == V_MAX)
			continue;
		for (size_t at = 0; at <= len; at++) {
			memcpy(mut, orig, at);
			memcpy(mut + at + 1, orig + at, len - at);
			for (unsigned v = 0; v < 256; v++) {
				mut[at] = (uint8_t)v;
				check_mutant(mut, len + 1);
			}
		}
	}
	/* Both outcomes occur, so neither branch is vacuous. */
	print_message("# mutants: %lu decodes accepted, %lu refused\n", mut_ok, mut_bad);
	assert_true(mut_ok > 0);
	assert_true(mut_bad > 0);
}

/* ---- transport over a real socketpair ------------------------------------ */

static int sp[2];

static int
setup_pair(void **state)
{
	(void)state;
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp);
}

static int
teardown_pair(void **state)
{
	(void)state;
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	return 0;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Send raw bytes, with optional descriptors, bypassing the encoder. */
static void
send_raw(int s, const void *p, size_t n, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)p, n };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(nfds <= 8);
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(s, &mh, 0), (ssize_t)n);
}

static void
test_chan_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < ngoldens; i++) {
		struct ipc_msg out;
		int fd = 1234;
		assert_int_equal(ipc_send(sp[0], &goldens[i].m, -1), 0);
		assert_int_equal(ipc_recv(sp[1], goldens[i].from, &out, &fd), 0);
		assert_int_equal(fd, -1); /* none sent, none received */
		assert_memory_equal(&out, &goldens[i].m, sizeof(out));
		/* And without an fd_out at all. */
		assert_int_equal(ipc_send(sp[1], &goldens[i].m, -1), 0);
		assert_int_equal(ipc_recv(sp[0], goldens[i].from, &out, NULL), 0);
		assert_memory_equal(&out, &goldens[i].m, sizeof(out));
	}
}

static void
test_chan_fd_passing(void **state)
{
	struct ipc_msg m, out;
	int p[2], fd = -1;
	char c = 0;
	(void)state;

	assert_int_equal(pipe(p), 0);
	memset(&m, 0, sizeof(m));
	m.type = IPC_REQ_SPAWN_FRONTEND, m.id = 9;
	assert_int_equal(ipc_send(sp[0], &m, p[0]), 0);
	assert_int_equal(ipc_recv(sp[1], IPC_FROM_PRIVD_SP, &out, &fd), 0);
	assert_int_equal(out.type, IPC_REQ_SPAWN_FRONTEND);
	assert_int_equal(out.id, 9);
	assert_true(fd >= 0);
	assert_int_not_equal(fd, p[0]);
	/* Received with close-on-exec, so it never leaks into a child. */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* It is the same pipe. */
	assert_int_equal(write(p[1], "Z", 1), 1);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'Z');
	close(fd);
	close(p[0]);
	close(p[1]);
}

static void
test_chan_unexpected_fd(void **state)
{
	struct ipc_msg m, out;
	int p[2];
	(void)state;

	assert_int_equal(pipe(p), 0);
	memset(&m, 0, sizeof(m));
	m.type = IPC_REQ_PING, m.id = 3;
	int before = count_fds();
	assert_int_equal(ipc_send(sp[0], &m, p[0]), 0);
	assert_int_equal(ipc_recv(sp[1], IPC_FROM_FRONTEND, &out, NULL), IPC_CHAN_BADFD);
	assert_int_equal(count_fds(), before); /* the received copy was closed */
	/* The channel itself stays usable for the next datagram. */
	assert_int_equal(ipc_send(sp[0], &m, -1), 0);
	assert_int_equal(ipc_recv(sp[1], IPC_FROM_FRONTEND, &out, NULL), 0);

	/* Two descriptors where at most one is allowed: both closed. */
	uint8_t ping[] = { 0x92, IPC_REQ_PING, 1 };
	int two[2] = { p[0], p[1] };
	int fd = 77;
	send_raw(sp[0], ping, sizeof(ping), two, 2);
	assert_int_equal(ipc_recv(sp[1], IPC_FROM_FRONTEND, &out, &fd), IPC_CHAN_BADFD);
	assert_int_equal(fd, -1);
	assert_int_equal(count_fds(), before);

	/* More descriptors than the control buffer holds: truncated, and the
	 * ones that did arrive are closed. */
	int many[8];
	for (int i = 0; i < 8; i++)
		many[i] = p[i % 2];
	send_raw(sp[0], ping, sizeof(ping), many, 8);
	assert_int_equal(ipc_recv(sp[1], IPC_FROM_FRONTEND, &out, &fd), IPC_CHAN_TRUNC);
	assert_int_equal(count_fds(), before);

	/* A descriptor riding on garbage is closed with the garbage. */
	send_raw(sp[0], "\xc1", 1, p, 1);
	assert_int_equal(ipc_recv(sp[1], IPC_FROM_FRONTEND, &out, &fd), IPC_E_SHAPE);
	assert_int_equal(fd, -1);
	assert_int_equal(count_fds(), before);
	close(p[0]);
	close(p[1]);
}

static void
test_chan_oversize(void **state)
{
	static uint8_t big[IPC_MAX_DATAGRAM + 100];
	struct ipc_msg out;
	(void)state;

	memset(big, 0x01, sizeof(big));
	big[0] = 0x92;
	assert_int_equal(send(sp[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
	assert_int_equal(ipc_recv(sp[1], ALL_PEERS, &out, NULL), IPC_CHAN_TRUNC);
	/* One byte over the maximum is caught as well. */
	assert_int_equal(send(sp[0], big, IPC_MAX_DATAGRAM + 1, 0), IPC_MAX_DATAGRAM + 1);
	assert_int_equal(ipc_recv(sp[1], ALL_PEERS, &out, NULL), IPC_CHAN_TRUNC);
	/* Exactly the maximum reaches the codec: [1, 1] then padding. */
	assert_int_equal(send(sp[0], big, IPC_MAX_DATAGRAM, 0), IPC_MAX_DATAGRAM);
	assert_int_equal(ipc_recv(sp[1], ALL_PEERS, &out, NULL), IPC_E_TRAILING);
}

static void
test_chan_garbage_and_codec(void **state)
{
	struct ipc_msg m, out;
	(void)state;

	send_raw(sp[0], "\x81\x01\x02", 3, NULL, 0);
	assert_int_equal(ipc_recv(sp[1], ALL_PEERS, &out, NULL), IPC_E_SHAPE);
	send_raw(sp[0], "\x92\x02\x01\x00", 4, NULL, 0);
	assert_int_equal(ipc_recv(sp[1], ALL_PEERS, &out, NULL), IPC_E_TRAILING);
	/* The receiver's peer mask is enforced. */
	send_raw(sp[0], "\x92\x04\x01", 3, NULL, 0);
	assert_int_equal(ipc_recv(sp[1], IPC_FROM_FRONTEND, &out, NULL), IPC_E_PERMIT);

	/* An invalid message is refused before anything is sent. */
	memset(&m, 0, sizeof(m));
	m.type = IPC_REQ_PING; /* id 0 */
	assert_int_equal(ipc_send(sp[0], &m, -1), IPC_E_RANGE);
	assert_int_equal(recv(sp[1], &out, sizeof(out), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	assert_string_equal(ipc_chan_strerror(IPC_E_SHAPE),
			    ipc_codec_strerror(IPC_E_SHAPE));
	assert_string_not_equal(ipc_chan_strerror(IPC_CHAN_EOF), "unknown codec error");
}

static void
test_chan_eof(void **state)
{
	struct ipc_msg m, out;
	int fd = 5;
	(void)state;

	close(sp[0]);
	sp[0] = -1;
	assert_int_equal(ipc_recv(sp[1], ALL_PEERS, &out, &fd), IPC_CHAN_EOF);
	assert_int_equal(fd, -1);
	memset(&m, 0, sizeof(m));
	m.type = IPC_REQ_PING, m.id = 1;
	/* Sending to a closed peer is EOF too, not SIGPIPE. */
	assert_int_equal(ipc_send(sp[1], &m, -1), IPC_CHAN_EOF);
}

int
main(void)
{
	const struct CMUnitTest codec[] = {
		cmocka_unit_test(test_catalogue_consistent),
		cmocka_unit_test(test_frontend_surface),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_is_request_and_names),
		cmocka_unit_test(test_valid_handmade),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_arity),
		cmocka_unit_test(test_kind),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_type_and_permit),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_encode_every_field),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_encode_nospace),
		cmocka_unit_test(test_mutations),
	};
	const struct CMUnitTest chan[] = {
		cmocka_unit_test_setup_teardown(test_chan_round_trip, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_chan_fd_passing, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_chan_unexpected_fd, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_chan_oversize, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_chan_garbage_and_codec, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_chan_eof, setup_pair, teardown_pair),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("ipc codec", codec, setup_goldens, NULL);
	failed += cmocka_run_group_tests_name("ipc channel", chan, setup_goldens, NULL);
	return failed ? 1 : 0;
}
