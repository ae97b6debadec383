/* Key material in locked, non-dumpable memory. A passphrase lives in a
 * struct lcw_secret from the moment it is decoded until it is wiped; there
 * is deliberately no function that formats one as text. */
#ifndef LCW_SECMEM_H
#define LCW_SECMEM_H

#include <stddef.h>
#include <stdint.h>

#define LCW_SECRET_MAX 4096

struct lcw_secret {
	uint8_t *bytes; /* one locked page of LCW_SECRET_MAX bytes */
	size_t len;
};

/* Allocate a locked, MADV_DONTDUMP page. Returns 0 or -1 (errno). */
int secret_alloc(struct lcw_secret *s);
/* Copy n bytes in (n <= LCW_SECRET_MAX). Returns 0 or -1. */
int secret_set(struct lcw_secret *s, const void *p, size_t n);
/* Wipe and release. Safe on a zeroed or already-freed secret. */
void secret_free(struct lcw_secret *s);

#endif
