/* Passphrase rotation of a LUKS header: the keyslot swap (luks_rekey.c). */
#ifndef LCW_LUKS_REKEY_H
#define LCW_LUKS_REKEY_H

#include <stddef.h>
#include <time.h>

#include "luks.h"
#include "secmem.h"

/* The LUKS2 token that records the last rotation (README "Passphrase
 * rotation" prints it): {"type": LUKS_ROTATION_TOKEN, "keyslots": [],
 * "rotated_at": "<UTC, RFC 3339>", "keyslot": "<new slot>"}. */
#define LUKS_ROTATION_TOKEN "lukscryptwalker-rotation"

/* The steps of a swap, in order. Between any two of them the header opens
 * with the old or the new passphrase (both after ADDED until DESTROYED). */
enum luks_rekey_step {
	LUKS_REKEY_ADDED = 1,     /* new keyslot written (same volume key) */
	LUKS_REKEY_VERIFIED = 2,  /* the new passphrase opened the new keyslot */
	LUKS_REKEY_TOKEN = 3,     /* rotation token written (LUKS2 only) */
	LUKS_REKEY_DESTROYED = 4, /* the old keyslot destroyed */
};

/* Called after each step that happened (tests stop privd there). */
typedef void (*luks_rekey_hook)(enum luks_rekey_step step, void *ud);

struct luks_rekey_res {
	int old_slot;  /* the keyslot the old passphrase opened, -1 none */
	int new_slot;  /* the keyslot the new passphrase opens */
	int destroyed; /* how many keyslots of the old passphrase went */
	int changed;   /* anything written to the header */
};

/* Move dev's header from passphrase old to passphrase new without touching
 * the volume key (so an active mapping keeps running):
 *   old opens, new does not: add a keyslot for new (unlocked with old,
 *     PBKDF kdf for LUKS2), verify new opens it, record the time in the
 *     rotation token, destroy every keyslot old opens;
 *   both open (a swap interrupted after its keyslot was added): token,
 *     destroy old's keyslots;
 *   only new opens: nothing to do (res->changed 0);
 *   neither: -EPERM, nothing written.
 * Passphrases are used as given (the caller applies luks_passphrase_len).
 * old and new equal: -EINVAL. 0 or negative errno with err. */
int luks_rekey(const char *dev, const struct lcw_secret *old, const struct lcw_secret *new,
	       const struct luks_pbkdf *kdf, time_t now, luks_rekey_hook hook, void *ud,
	       struct luks_rekey_res *res, char *err, size_t errlen);

/* Which keyslot of dev's header pass opens (verification only, nothing is
 * activated or written): its number, -EPERM if none, other negative errno. */
int luks_check_passphrase(const char *dev, const struct lcw_secret *pass);

/* Pure: the rotation token's JSON for a rotation at `now` to keyslot
 * `slot`. 0, or -ENOSPC if out is too small. */
int luks_rotation_token_json(time_t now, int slot, char *out, size_t outlen);

#endif
