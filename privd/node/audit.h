/* Audit log: one JSON line per privileged operation, written by privd (and
 * its spawner) only, to stderr and optionally to a file. Fields: time, op,
 * volume_id, paths, result, errno, duration_ms, detail. Callers pass only
 * identifiers and paths; there is no field that could carry key material. */
#ifndef LCW_AUDIT_H
#define LCW_AUDIT_H

#include <stdint.h>

/* Open the optional file (append). Call before the sandbox. */
int audit_open(const char *path);

struct audit_rec {
	const char *op;        /* e.g. "spawn_frontend" */
	const char *volume_id; /* NULL when not about a volume */
	const char *paths[4];  /* NULL-terminated, at most 4 */
	int ok;
	int err;               /* errno, 0 if none */
	uint64_t start_ns;     /* from audit_now_ns() */
	const char *detail;    /* short free text, never a secret */
};

uint64_t audit_now_ns(void);
void audit_write(const struct audit_rec *r);

#endif
