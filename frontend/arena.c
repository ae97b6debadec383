#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BLOCK_MIN 8192

struct arena_block {
	struct arena_block *next;
	size_t cap, used;
	max_align_t data[];
};

void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;

	n = (n + 15) & ~(size_t)15;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
		b = calloc(1, sizeof(*b) + cap);
		if (b == NULL)
			fatal(70, "out of memory");
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(arena_alloc(a, n), s, n);
}

void
arena_release(struct arena *a)
{
	while (a->head) {
		struct arena_block *b = a->head;
		a->head = b->next;
		explicit_bzero(b->data, b->used);
		free(b);
	}
}
