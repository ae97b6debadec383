/* Writes the seed corpus of fuzz_ipc_decode: for every catalogue type a
 * minimal and a typical message, encoded by ipc_encode, plus a few valid
 * non-canonical forms the encoder never produces. Not part of the build;
 * rerun when the catalogue changes:
 *   cc -std=gnu11 -Iipc -o /tmp/gen_corpus tests/fuzz/gen_corpus.c \
 *      ipc/ipc_codec.c ipc/ipc_schema.c -lmsgpackc
 *   rm -rf tests/fuzz/corpus/ipc; mkdir tests/fuzz/corpus/ipc
 *   /tmp/gen_corpus tests/fuzz/corpus/ipc
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_msg.h"
#include "ipc_schema.h"

static const char *dir;

static void
put(const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* typical = 0: integers at their minimum, strings and bytes empty.
 * typical = 1: integers inside the range, short strings, a few bytes. */
static void
fill(struct ipc_msg *m, const struct ipc_schema *s, int typical)
{
	uint8_t *base = (uint8_t *)m;

	memset(m, 0, sizeof(*m));
	m->type = s->type;
	m->id = s->note ? 0 : typical ? 4242 : 1;
	for (size_t i = 0; i < s->nfields; i++) {
		const struct ipc_field *f = &s->fields[i];
		uint64_t x = typical ? f->min + (f->max - f->min) / 3 : f->min;
		size_t n = typical ? (f->max < 16 ? f->max : 16) : 0;

		switch (f->kind) {
		case IPC_K_U32: {
			uint32_t u = (uint32_t)x;
			memcpy(base + f->off, &u, sizeof(u));
			break;
		}
		case IPC_K_U64:
			memcpy(base + f->off, &x, sizeof(x));
			break;
		case IPC_K_BOOL:
			base[f->off] = (uint8_t)typical;
			break;
		case IPC_K_STR:
			for (size_t j = 0; j < n; j++)
				base[f->off + j] = (uint8_t)('a' + (i + j) % 26);
			break;
		case IPC_K_BIN: {
			uint32_t len = (uint32_t)n;
			for (size_t j = 0; j < n; j++)
				base[f->off + j] = (uint8_t)(j * 37);
			memcpy(base + f->len_off, &len, sizeof(len));
			break;
		}
		}
	}
}

int
main(int argc, char **argv)
{
	static unsigned char buf[IPC_MAX_DATAGRAM];
	static struct ipc_msg m;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	for (uint32_t t = 0; t < 256; t++) {
		const struct ipc_schema *s = ipc_schema_find(t);
		if (s == NULL)
			continue;
		for (int typical = 0; typical <= 1; typical++) {
			char name[128];
			size_t len;

			fill(&m, s, typical);
			if (ipc_encode(&m, buf, sizeof(buf), &len)) {
				fprintf(stderr, "%s: does not encode\n", ipc_type_name(t));
				return 1;
			}
			snprintf(name, sizeof(name), "%s_%s", ipc_type_name(t),
				 typical ? "typical" : "min");
			for (char *c = name; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			put(name, buf, len);
		}
	}

	/* Valid, but only a foreign encoder would write them: array16 header,
	 * over-wide integers, str8 for a short string. */
	put("x_req_ping_array16", "\xdc\x00\x02\x02\x01", 5);
	put("x_ans_spawn_wide_ints", "\x93\xcf\0\0\0\0\0\0\0\x05\xce\0\0\0\x01\xcd\x01\x00", 18);
	put("x_ans_error_str8", "\x95\x01\x01\x02\x00\xd9\x02ok", 9);
	return 0;
}
