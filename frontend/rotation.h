/* The stage parameters of issue 14 on the frontend's side (rotation.c):
 * the previous passphrase of a node-stage secret, and allow-discards. */
#ifndef LCW_ROTATION_H
#define LCW_ROTATION_H

#include <stddef.h>
#include <stdint.h>

#include "csi_checks.h"

/* Key of the previous passphrase next to passphraseKey. */
#define PREVIOUS_SUFFIX "-previous"

/* Copy the value of "<key>-previous" from a CSI secrets map into out
 * (IPC_SECRET_MAX bytes), the only copy made. Absent or empty: *outlen 0.
 * 0, or -1 with why when it is longer than IPC_SECRET_MAX. */
int previous_passphrase(struct kv_entry *const *e, size_t n, const char *key, uint8_t *out,
			uint32_t *outlen, char *why, size_t whylen);

/* StorageClass allow-discards from a volume context: *out 1 for "true",
 * 0 for "false" or absent; -1 with why for anything else. */
int discards_opt_in(struct kv_entry *const *e, size_t n, uint8_t *out, char *why,
		    size_t whylen);

#endif
