/* Passphrase rotation of local volumes (rekey.c): the keyslot swap with
 * privd's KDF budget, audit records and the test pause, at stage and on an
 * online EncryptionKeyRotate. */
#ifndef LCW_REKEY_H
#define LCW_REKEY_H

#include "ipc_msg.h"
#include "privd_ctx.h"
#include "secmem.h"
#include "vol.h"

/* Key of a Secret that holds the previous passphrase: "<key>-previous". */
#define REKEY_PREVIOUS_SUFFIX "-previous"

/* Pure: the previous-passphrase key for key into out. 0, or -1 when it
 * would not be a valid Secret key (longer than 253 bytes). */
int rekey_previous_key(const char *key, char *out, size_t outlen);

/* Re-key v's header on loop from prev to cur (luks_rekey.h), with the
 * KDF memory reserved from the node budget and one audit record `op` for
 * the rotation (keyslots, no secret). *rotated: the header changed.
 * 0; -1 with an error answer (PERMISSION when neither opens). */
int vol_rekey(const struct privd_ctx *ctx, const struct vol *v, const char *loop,
	      const struct lcw_secret *prev, const struct lcw_secret *cur, const char *op,
	      int *rotated, struct ipc_msg *ans);

/* Read key and, if the Secret has it, <key>-previous in one API read into
 * cur and prev (prev->len 0 when absent), cut at the first newline when
 * cut is set. A K8S_* result (K8S_ERR_KEY_MISSING without key); on error
 * both are wiped. */
struct k8s_client;
int rekey_read_pair(struct k8s_client *k, const char *ns, const char *name, const char *key, int cut,
		    struct lcw_secret *cur, struct lcw_secret *prev, char *err, size_t errlen);

/* Hardened mode: read the current passphrase (key) and, if the Secret has
 * one, the previous one (<key>-previous) in one API read into locked
 * memory, both cut at the first newline as every LUKS passphrase is.
 * prev->len is 0 when there is none. 0, or -1 with an error answer. */
int rekey_fetch_pair(const struct privd_ctx *ctx, const struct vol *v, const char *ns,
		     const char *name, const char *key, struct lcw_secret *cur,
		     struct lcw_secret *prev, struct ipc_msg *ans);

#endif
