/* The keyslot swap of a passphrase rotation, through libcryptsetup (the
 * only other file that calls it besides luks.c; see its top comment).
 *
 * The volume key never changes and never leaves the library: the new
 * keyslot is added by unlocking with the old passphrase inside
 * libcryptsetup (crypt_keyslot_add_by_passphrase), so an active mapping
 * keeps running on the key in its dm table. Each step is one header update
 * by the library, which writes LUKS2's two header copies in turn; between
 * any two steps the header opens with the old passphrase, the new one, or
 * (after the add and before the destroy) both, never with neither. */
#define _GNU_SOURCE
#include "luks_rekey.h"

#include <errno.h>
#include <libcryptsetup.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "luks_lib.h"

int
luks_rotation_token_json(time_t now, int slot, char *out, size_t outlen)
{
	struct tm tm;
	char ts[32];
	int n;

	if (out == NULL || outlen == 0 || slot < 0 || gmtime_r(&now, &tm) == NULL ||
	    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	/* LUKS2 requires "type" and "keyslots" of every token. The token is
	 * bound to no keyslot: it describes the header, and a later
	 * rotation's destroy must not have to edit it. */
	n = snprintf(out, outlen,
		     "{\"type\":\"" LUKS_ROTATION_TOKEN "\",\"keyslots\":[],"
		     "\"rotated_at\":\"%s\",\"keyslot\":\"%d\"}",
		     ts, slot);
	return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

/* Which keyslot pass opens (slot or CRYPT_ANY_SLOT): its number, -EPERM if
 * none, other negative errno. Name NULL: verify only, nothing activated. */
static int
rk_verify(struct crypt_device *cd, int slot, const struct lcw_secret *pass)
{
	return crypt_activate_by_passphrase(cd, NULL, slot, (const char *)pass->bytes, pass->len,
					    0);
}

/* Write (or replace) the rotation token. */
static int
rk_token(struct crypt_device *cd, time_t now, int slot)
{
	char json[256];
	int id = CRYPT_ANY_TOKEN, r;

	r = luks_rotation_token_json(now, slot, json, sizeof(json));
	if (r < 0)
		return r;
	for (int i = 0; i < 32; i++) {
		const char *type = NULL;
		crypt_token_info ti = crypt_token_status(cd, i, &type);

		if (ti == CRYPT_TOKEN_INVALID)
			break;
		if (ti != CRYPT_TOKEN_INACTIVE && type && strcmp(type, LUKS_ROTATION_TOKEN) == 0) {
			id = i;
			break;
		}
	}
	r = crypt_token_json_set(cd, id, json);
	return r < 0 ? r : 0;
}

int
luks_rekey(const char *dev, const struct lcw_secret *old, const struct lcw_secret *new,
	   const struct luks_pbkdf *kdf, time_t now, luks_rekey_hook hook, void *ud,
	   struct luks_rekey_res *res, char *err, size_t errlen)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_ARGON2ID,
		.hash = "sha256",
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	int r, s_old, s_new, luks2;

	if (res)
		*res = (struct luks_rekey_res){ -1, -1, 0, 0 };
	if (dev == NULL || old == NULL || new == NULL || old->bytes == NULL ||
	    new->bytes == NULL || old->len == 0 || new->len == 0 || kdf == NULL || res == NULL) {
		lk_err(err, errlen, NULL, "luks_rekey: invalid arguments");
		return -EINVAL;
	}
	if (old->len == new->len && memcmp(old->bytes, new->bytes, old->len) == 0) {
		lk_err(err, errlen, NULL, "the new and the previous passphrase are the same");
		return -EINVAL;
	}
	r = lk_load_luks(&cd, dev, &c);
	if (r < 0) {
		lk_err(err, errlen, &c, "%s has no LUKS header", dev);
		return r;
	}
	crypt_volume_key_keyring(cd, 0);
	luks2 = strcmp(crypt_get_type(cd), CRYPT_LUKS2) == 0;

	s_old = rk_verify(cd, CRYPT_ANY_SLOT, old);
	s_new = rk_verify(cd, CRYPT_ANY_SLOT, new);
	if ((s_old < 0 && s_old != -EPERM) || (s_new < 0 && s_new != -EPERM)) {
		r = s_old < 0 && s_old != -EPERM ? s_old : s_new;
		lk_err(err, errlen, &c, "checking the keyslots of %s: %s", dev, strerror(-r));
		goto out;
	}
	if (s_old < 0 && s_new < 0) {
		r = -EPERM;
		lk_err(err, errlen, NULL, "neither the passphrase nor the previous one opens %s", dev);
		goto out;
	}
	res->old_slot = s_old >= 0 ? s_old : -1;
	res->new_slot = s_new >= 0 ? s_new : -1;
	if (s_old < 0) { /* already on the new passphrase */
		r = 0;
		goto out;
	}

	if (s_new < 0) {
		/* Step 1: a keyslot for the new passphrase, same volume key. New
		 * LUKS2 slots get the pinned PBKDF (never a benchmark that may
		 * pick 1 GiB); LUKS1 slots can only be pbkdf2, the library's
		 * default for them. */
		if (luks2) {
			pbkdf.iterations = kdf->iterations;
			pbkdf.max_memory_kb = kdf->memory_kib;
			pbkdf.parallel_threads = kdf->parallel;
			r = crypt_set_pbkdf_type(cd, &pbkdf);
			if (r < 0) {
				lk_err(err, errlen, &c, "pbkdf for the new keyslot: %s", strerror(-r));
				goto out;
			}
		}
		s_new = crypt_keyslot_add_by_passphrase(cd, CRYPT_ANY_SLOT,
							(const char *)old->bytes, old->len,
							(const char *)new->bytes, new->len);
		if (s_new < 0) {
			r = s_new;
			lk_err(err, errlen, &c, "adding a keyslot to %s: %s", dev, strerror(-r));
			goto out;
		}
		res->changed = 1;
		res->new_slot = s_new;
		if (hook)
			hook(LUKS_REKEY_ADDED, ud);
		/* Step 2: the new passphrase must open exactly that slot before
		 * anything of the old one goes. */
		r = rk_verify(cd, s_new, new);
		if (r != s_new) {
			int d = crypt_keyslot_destroy(cd, s_new);
			r = r < 0 ? r : -EIO;
			lk_err(err, errlen, &c,
			       "the new keyslot %d of %s does not open with the new passphrase (%s); "
			       "%s", s_new, dev, strerror(-r),
			       d == 0 ? "removed it again" : "could not remove it");
			goto out;
		}
		if (hook)
			hook(LUKS_REKEY_VERIFIED, ud);
	}

	/* Step 3: when (LUKS1 headers have no tokens). */
	if (luks2) {
		r = rk_token(cd, now, s_new);
		if (r < 0) {
			lk_err(err, errlen, &c, "writing the rotation token of %s: %s", dev,
			       strerror(-r));
			goto out;
		}
		res->changed = 1;
		if (hook)
			hook(LUKS_REKEY_TOKEN, ud);
	}

	/* Step 4: every keyslot the old passphrase opens goes (a header may
	 * carry more than one; bounded by the slot count). */
	for (int i = 0; i < 32 && s_old >= 0 && s_old != s_new; i++) {
		r = crypt_keyslot_destroy(cd, s_old);
		if (r < 0) {
			lk_err(err, errlen, &c, "destroying the old keyslot %d of %s: %s", s_old, dev,
			       strerror(-r));
			goto out;
		}
		res->destroyed++;
		res->changed = 1;
		if (hook)
			hook(LUKS_REKEY_DESTROYED, ud);
		s_old = rk_verify(cd, CRYPT_ANY_SLOT, old);
	}
	if (s_old != -EPERM) {
		r = s_old < 0 ? s_old : -EIO;
		lk_err(err, errlen, &c, "the previous passphrase still opens %s (%s)", dev,
		       strerror(-r));
		goto out;
	}
	r = 0;
out:
	crypt_free(cd);
	return r;
}

int
luks_check_passphrase(const char *dev, const struct lcw_secret *pass)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	int r;

	if (dev == NULL || pass == NULL || pass->bytes == NULL || pass->len == 0)
		return -EINVAL;
	if ((r = lk_load_luks(&cd, dev, &c)) < 0)
		return r;
	crypt_volume_key_keyring(cd, 0);
	r = rk_verify(cd, CRYPT_ANY_SLOT, pass);
	crypt_free(cd);
	return r;
}
