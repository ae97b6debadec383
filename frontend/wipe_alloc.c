#include "wipe_alloc.h"

#include <stdlib.h>
#include <string.h>

/* Each block carries its size in a header so free can wipe it. */
struct hdr {
	size_t size;
	max_align_t pad[];
};

static void *
wipe_alloc_fn(void *data, size_t size)
{
	(void)data;
	struct hdr *h = malloc(sizeof(*h) + size);
	if (h == NULL)
		return NULL;
	h->size = size;
	return h->pad;
}

static void
wipe_free_fn(void *data, void *p)
{
	(void)data;
	if (p == NULL)
		return;
	struct hdr *h = (struct hdr *)((char *)p - offsetof(struct hdr, pad));
	explicit_bzero(p, h->size);
	free(h);
}

ProtobufCAllocator wipe_allocator = { wipe_alloc_fn, wipe_free_fn, NULL };
