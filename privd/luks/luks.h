/* LUKS2 through libcryptsetup (never the cryptsetup CLI). */
#ifndef LCW_LUKS_H
#define LCW_LUKS_H

#include <stddef.h>
#include <stdint.h>

#include "secmem.h"

/* Pinned parameters for new volumes. Cipher, key size and sector size are
 * fixed; the PBKDF is argon2id with these costs (no benchmark). */
struct luks_pbkdf {
	uint32_t memory_kib;  /* default 65536 (64 MiB) */
	uint32_t iterations;  /* default 4 */
	uint32_t parallel;    /* default 1 */
};
#define LUKS_DEFAULT_PBKDF { 65536, 4, 1 }
#define LUKS_CIPHER "aes"
#define LUKS_CIPHER_MODE "xts-plain64"
#define LUKS_KEY_BYTES 64    /* AES-256-XTS */
#define LUKS_SECTOR_SIZE 4096

/* Pure: the passphrase bytes the original driver's volumes were made with.
 * It piped the secret to cryptsetup without --key-file, which stops at the
 * first newline; returns the length up to (excluding) the first '\n'. */
size_t luks_passphrase_len(const uint8_t *p, size_t n);

/* Format dev (a loop device of a file this driver just created, or a
 * provably empty device: the caller checks) as LUKS2 with the pinned
 * parameters, passphrase in keyslot 0. 0 or negative errno + message. */
int luks_format(const char *dev, const struct lcw_secret *pass, const struct luks_pbkdf *kdf,
		char *err, size_t errlen);

/* Number of keyslots (active or unbound) in dev's LUKS header, or a
 * negative errno if no LUKS header loads. A header with no keyslot at all
 * is what a format interrupted before its keyslot was added leaves: it can
 * never decrypt anything. */
int luks_keyslot_count(const char *dev);

/* Largest PBKDF memory cost (KiB) of the active keyslots of dev, so the
 * caller can reserve it from the node-wide budget before unlocking.
 * 0 or negative errno. pbkdf2 slots count as 0. */
int luks_unlock_memory_kib(const char *dev, uint32_t *kib);

/* Open dev as /dev/mapper/<name> with the passphrase, using the
 * no_read_workqueue / no_write_workqueue performance flags. The volume key
 * is kept in the dm table, not the kernel keyring (so a later resize needs
 * no passphrase). Returns 0, -EPERM for a wrong passphrase (the volume is
 * not touched), -EEXIST if <name> is already active, other negative errno. */
int luks_open(const char *dev, const char *name, const struct lcw_secret *pass,
	      char *err, size_t errlen);

/* luks_open that, with discards set, passes the file system's discards
 * down to the device (dm-crypt allow_discards): what a StorageClass's
 * allow-discards opts into, so fstrim turns freed blocks into holes. */
int luks_open_discards(const char *dev, const char *name, const struct lcw_secret *pass,
		       int discards, char *err, size_t errlen);

/* Does the active mapping <name> pass discards down? 1, 0, or negative
 * errno (-ENODEV: not active). */
int luks_discards_allowed(const char *name);

/* Is /dev/mapper/<name> active? Returns 1 and writes its underlying device
 * (e.g. /dev/loop3) to under, 0 if not active, -EMEDIUMTYPE if a mapping
 * of that name exists but is not a LUKS crypt device, other negative errno
 * on error. */
int luks_active(const char *name, char *under, size_t underlen);

/* Close the mapping (not deferred). Not active is 0. Any dm-crypt mapping
 * of that name closes, also one whose LUKS header is gone (luks_active
 * calls that one -EMEDIUMTYPE); other target types give -EMEDIUMTYPE and
 * stay. In use: -EBUSY. 0 or negative errno. */
int luks_close(const char *name);

/* Grow the active mapping to fill its (already grown) underlying device.
 * Needs no passphrase for mappings made by luks_open (key in the dm table);
 * -EPERM for a mapping whose key is in the kernel keyring (opened by the
 * cryptsetup CLI, e.g. by the original driver): use luks_resize_pass. */
int luks_resize(const char *name, char *err, size_t errlen);

/* luks_resize for any mapping: for a keyring-keyed one, the passphrase
 * unlocks the volume key again first (-EPERM if wrong). */
int luks_resize_pass(const char *name, const struct lcw_secret *pass, char *err, size_t errlen);

/* Crypto-erase: destroy every keyslot and wipe the LUKS2 header areas of
 * dev, so the data can never be decrypted again. 0 or negative errno. */
int luks_erase(const char *dev, char *err, size_t errlen);

#endif
