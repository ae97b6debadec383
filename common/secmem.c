#define _GNU_SOURCE
#include "secmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int
secret_alloc(struct lcw_secret *s)
{
	void *p = mmap(NULL, LCW_SECRET_MAX, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	/* Not swapped out, not in core dumps. mlock can fail under a small
	 * RLIMIT_MEMLOCK without CAP_IPC_LOCK: then fail closed. */
	if (mlock(p, LCW_SECRET_MAX) || madvise(p, LCW_SECRET_MAX, MADV_DONTDUMP)) {
		int e = errno;
		munmap(p, LCW_SECRET_MAX);
		errno = e;
		return -1;
	}
	s->bytes = p;
	s->len = 0;
	return 0;
}

int
secret_set(struct lcw_secret *s, const void *p, size_t n)
{
	if (s->bytes == NULL || n > LCW_SECRET_MAX) {
		errno = EINVAL;
		return -1;
	}
	memcpy(s->bytes, p, n);
	s->len = n;
	return 0;
}

void
secret_free(struct lcw_secret *s)
{
	if (s->bytes) {
		explicit_bzero(s->bytes, LCW_SECRET_MAX);
		munlock(s->bytes, LCW_SECRET_MAX);
		munmap(s->bytes, LCW_SECRET_MAX);
	}
	s->bytes = NULL;
	s->len = 0;
}
