/* Per-call bump allocator for building response messages: handlers allocate
 * freely and the server frees everything at once when the reply is sent.
 * Memory is wiped on release (responses are not secret today, but requests
 * copied into responses could be one day). */
#ifndef LCW_ARENA_H
#define LCW_ARENA_H

#include <stddef.h>

struct arena_block;
struct arena {
	struct arena_block *head;
};

void *arena_alloc(struct arena *a, size_t n); /* zeroed; aborts on OOM */
char *arena_strdup(struct arena *a, const char *s);
void arena_release(struct arena *a);

#endif
