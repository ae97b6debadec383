/* LUKS volumes through libcryptsetup 2.6. No cryptsetup CLI: the library
 * gets the passphrase as a buffer, so it never reaches argv, environment,
 * a pipe or a temporary file.
 *
 * Device-mapper without udev: with DM_DISABLE_UDEV=1 in the environment
 * libdevmapper creates and removes the /dev/mapper nodes itself, and
 * libcryptsetup does the same when it finds no running udev (both tried in
 * the test VM, which has none). Nothing here waits for udev.
 *
 * Longer than 600 lines because it is the whole libcryptsetup surface:
 * every call that sees a passphrase or volume key is in this one file, so an
 * auditor reads where key material goes in one place; the one exception is
 * the keyslot swap of a passphrase rotation (luks_rekey.c), which shares
 * this file's library set-up through luks_lib.h. */
#define _GNU_SOURCE
#include "luks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <linux/keyctl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "luks_lib.h"

/* libcryptsetup never logs passphrases or keys, but its debug output dumps
 * header JSON and internal state: drop every debug level unconditionally,
 * whatever crypt_set_debug_level says. The rest goes to our log at debug
 * level, because each operation reports its own outcome itself. */
static void
lk_log(int level, const char *msg, void *usrptr)
{
	struct lk_call *c = usrptr;
	char line[256];
	size_t n;

	if (level < 0 || msg == NULL) /* CRYPT_LOG_DEBUG, CRYPT_LOG_DEBUG_JSON */
		return;
	n = strnlen(msg, sizeof(line) - 1);
	memcpy(line, msg, n);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	line[n] = 0;
	if (n == 0)
		return;
	log_debug("libcryptsetup: %s", line);
	if (c && level == CRYPT_LOG_ERROR)
		memcpy(c->last_err, line, n + 1);
}

static pthread_once_t lk_once = PTHREAD_ONCE_INIT;

static void
lk_global_init(void)
{
	/* Default callback for messages logged before a context exists
	 * (crypt_init, crypt_status with a NULL context); without one the
	 * library prints to stdout/stderr. */
	crypt_set_log_callback(NULL, lk_log, NULL);
	crypt_set_debug_level(CRYPT_DEBUG_NONE);
	/* The volume key goes into the dm table, not the kernel keyring:
	 * then a later crypt_resize can read it back from the table and
	 * needs no passphrase. The switch is library-wide in 2.6. */
	crypt_volume_key_keyring(NULL, 0);
}

void
lk_init(void)
{
	pthread_once(&lk_once, lk_global_init);
}

void
lk_err(char *err, size_t errlen, const struct lk_call *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen && c && c->last_err[0])
		snprintf(err + n, errlen - n, " (libcryptsetup: %s)", c->last_err);
}

int
lk_open_dev(struct crypt_device **cd, const char *dev, struct lk_call *c)
{
	int r;

	lk_init();
	r = crypt_init(cd, dev);
	if (r < 0)
		return r;
	crypt_set_log_callback(*cd, lk_log, c);
	return 0;
}

static int
lk_open_name(struct crypt_device **cd, const char *name, struct lk_call *c)
{
	int r;

	lk_init();
	r = crypt_init_by_name(cd, name);
	if (r < 0)
		return r;
	crypt_set_log_callback(*cd, lk_log, c);
	return 0;
}

static int
lk_is_luks(struct crypt_device *cd)
{
	const char *t = crypt_get_type(cd);

	return t && (strcmp(t, CRYPT_LUKS1) == 0 || strcmp(t, CRYPT_LUKS2) == 0);
}

/* A dm name: what libdevmapper accepts and cannot escape /dev/mapper. */
static int
lk_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, 128) : 0;

	return n > 0 && n < 128 && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* 1 if something (a dm mapping, md, ...) sits on top of block device dev,
 * 0 if not or dev is not a block device, negative errno on error. Keeps
 * format and erase away from a device whose mapping is still open. */
static int
lk_has_holders(const char *dev)
{
	char path[64];
	struct stat st;
	struct dirent *de;
	DIR *d;
	int found = 0;

	if (stat(dev, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return 0;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/holders", major(st.st_rdev),
		 minor(st.st_rdev));
	d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			found = 1;
			break;
		}
	closedir(d);
	return found;
}

/* Overwrite [0, len) of dev with zeros and make it durable. Used for the
 * LUKS header areas only (at most a few tens of MiB). */
static int
lk_zero_head(const char *dev, uint64_t len)
{
	static const uint8_t zero[65536];
	struct stat st;
	uint64_t off = 0;
	int fd, r = 0, fl = O_WRONLY | O_CLOEXEC;

	/* O_EXCL on a block device fails while it is mounted or mapped and
	 * keeps anyone from claiming it while we write. */
	if (stat(dev, &st) == 0 && S_ISBLK(st.st_mode))
		fl |= O_EXCL;
	fd = open(dev, fl);
	if (fd < 0)
		return -errno;
	while (off < len) {
		size_t n = len - off < sizeof(zero) ? (size_t)(len - off) : sizeof(zero);
		ssize_t w = pwrite(fd, zero, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = w < 0 ? -errno : -EIO;
			break;
		}
		off += (uint64_t)w;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* How many leading bytes of a loaded LUKS device hold metadata: both LUKS2
 * header copies and the keyslot area, or the LUKS1 header with its key
 * material. All of it lies before the data offset; the metadata sizes are
 * taken into account too in case a header put data earlier. */
static uint64_t
lk_header_bytes(struct crypt_device *cd)
{
	uint64_t len = crypt_get_data_offset(cd) * 512;
	uint64_t md = 0, ks = 0;

	if (strcmp(crypt_get_type(cd), CRYPT_LUKS2) == 0 &&
	    crypt_get_metadata_size(cd, &md, &ks) == 0 && 2 * md + ks > len)
		len = 2 * md + ks;
	return len;
}

/* cryptsetup reads a passphrase from a pipe (no --key-file) line by line
 * and stops at the first newline; the original driver fed the secret that
 * way, so its volumes carry only the bytes before the first '\n'. */
size_t
luks_passphrase_len(const uint8_t *p, size_t n)
{
	const uint8_t *nl = n ? memchr(p, '\n', n) : NULL;

	return nl ? (size_t)(nl - p) : n;
}

int
luks_format(const char *dev, const struct lcw_secret *pass, const struct luks_pbkdf *kdf,
	    char *err, size_t errlen)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_ARGON2ID,
		.hash = "sha256",
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	struct crypt_params_luks2 params = {
		.pbkdf = &pbkdf,
		.sector_size = LUKS_SECTOR_SIZE,
	};
	int r;

	if (dev == NULL || pass == NULL || pass->bytes == NULL || kdf == NULL ||
	    kdf->memory_kib == 0 || kdf->iterations == 0 || kdf->parallel == 0) {
		lk_err(err, errlen, NULL, "luks_format: invalid arguments");
		return -EINVAL;
	}
	pbkdf.iterations = kdf->iterations;
	pbkdf.max_memory_kb = kdf->memory_kib;
	pbkdf.parallel_threads = kdf->parallel;

	r = lk_has_holders(dev);
	if (r != 0) {
		lk_err(err, errlen, NULL, "%s is in use (holders), not formatting", dev);
		return r < 0 ? r : -EBUSY;
	}
	r = lk_open_dev(&cd, dev, &c);
	if (r < 0) {
		lk_err(err, errlen, &c, "crypt_init %s: %s", dev, strerror(-r));
		return r;
	}
	/* Last line of defence against formatting a volume that holds data:
	 * the caller checks for every signature, we at least never write over
	 * a LUKS header. */
	if (crypt_load(cd, NULL, NULL) == 0) {
		crypt_free(cd);
		lk_err(err, errlen, NULL, "%s already holds a LUKS header, not formatting", dev);
		return -EEXIST;
	}
	crypt_free(cd);
	cd = NULL;
	c.last_err[0] = 0;
	r = lk_open_dev(&cd, dev, &c);
	if (r < 0) {
		lk_err(err, errlen, &c, "crypt_init %s: %s", dev, strerror(-r));
		return r;
	}

	r = crypt_set_pbkdf_type(cd, &pbkdf);
	if (r < 0) {
		lk_err(err, errlen, &c, "pbkdf argon2id m=%u t=%u p=%u rejected: %s",
		       kdf->memory_kib, kdf->iterations, kdf->parallel, strerror(-r));
		goto out;
	}
	/* NULL volume key: the library draws a fresh one from the RNG. */
	r = crypt_format(cd, CRYPT_LUKS2, LUKS_CIPHER, LUKS_CIPHER_MODE, NULL, NULL,
			 LUKS_KEY_BYTES, &params);
	if (r < 0) {
		lk_err(err, errlen, &c, "crypt_format %s: %s", dev, strerror(-r));
		goto out;
	}
	r = crypt_keyslot_add_by_volume_key(cd, 0, NULL, LUKS_KEY_BYTES, (const char *)pass->bytes,
					    pass->len);
	if (r < 0) {
		/* A header without a keyslot is useless and would make a retry
		 * refuse to format (see above): take it off again. */
		uint64_t len = lk_header_bytes(cd);
		lk_err(err, errlen, &c, "adding keyslot 0 on %s: %s", dev, strerror(-r));
		crypt_free(cd);
		cd = NULL;
		if (lk_zero_head(dev, len) < 0)
			log_warn("luks: could not wipe the half-formatted header of %s", dev);
		goto out;
	}
	r = 0;
out:
	crypt_free(cd);
	return r;
}

/* A context for dev with its LUKS header loaded (LUKS1 or LUKS2), or a
 * negative errno; the caller frees *cd. */
int
lk_load_luks(struct crypt_device **cd, const char *dev, struct lk_call *c)
{
	int r = lk_open_dev(cd, dev, c);

	if (r < 0)
		return r;
	r = crypt_load(*cd, NULL, NULL);
	if (r == 0 && !lk_is_luks(*cd))
		r = -EINVAL;
	if (r < 0) {
		crypt_free(*cd);
		*cd = NULL;
	}
	return r;
}

int
luks_keyslot_count(const char *dev)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	int r, n = 0;

	if (dev == NULL)
		return -EINVAL;
	if ((r = lk_load_luks(&cd, dev, &c)) < 0)
		return r;
	for (int i = 0; i < crypt_keyslot_max(crypt_get_type(cd)); i++) {
		crypt_keyslot_info st = crypt_keyslot_status(cd, i);
		if (st == CRYPT_SLOT_ACTIVE || st == CRYPT_SLOT_ACTIVE_LAST ||
		    st == CRYPT_SLOT_UNBOUND)
			n++;
	}
	crypt_free(cd);
	return n;
}

int
luks_unlock_memory_kib(const char *dev, uint32_t *kib)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	uint32_t max = 0;
	int r, nslots;

	if (dev == NULL || kib == NULL)
		return -EINVAL;
	if ((r = lk_load_luks(&cd, dev, &c)) < 0)
		return r;
	/* LUKS1 keyslots are always pbkdf2; crypt_keyslot_get_pbkdf reports
	 * them as such, so one loop serves both. An unlock tries the slots
	 * one after another, so the need is the largest one, not the sum. */
	nslots = crypt_keyslot_max(crypt_get_type(cd));
	for (int i = 0; i < nslots; i++) {
		struct crypt_pbkdf_type p;
		crypt_keyslot_info st = crypt_keyslot_status(cd, i);

		/* Unbound slots are never tried by a plain activation. */
		if (st != CRYPT_SLOT_ACTIVE && st != CRYPT_SLOT_ACTIVE_LAST)
			continue;
		memset(&p, 0, sizeof(p));
		if (crypt_keyslot_get_pbkdf(cd, i, &p) < 0 || p.type == NULL)
			continue;
		if (strncmp(p.type, "argon2", 6) == 0 && p.max_memory_kb > max)
			max = p.max_memory_kb;
	}
	*kib = max;
	crypt_free(cd);
	return 0;
}

int
luks_open(const char *dev, const char *name, const struct lcw_secret *pass, char *err,
	  size_t errlen)
{
	return luks_open_discards(dev, name, pass, 0, err, errlen);
}

int
luks_open_discards(const char *dev, const char *name, const struct lcw_secret *pass,
		   int discards, char *err, size_t errlen)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	uint32_t flags = CRYPT_ACTIVATE_NO_READ_WORKQUEUE | CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE;
	/* Discards reveal which blocks are free: only for volumes whose
	 * StorageClass opted in (allow-discards). */
	uint32_t dflag = discards ? CRYPT_ACTIVATE_ALLOW_DISCARDS : 0;
	crypt_status_info st;
	int r;

	if (dev == NULL || !lk_name_ok(name) || pass == NULL || pass->bytes == NULL) {
		lk_err(err, errlen, NULL, "luks_open: invalid arguments");
		return -EINVAL;
	}
	lk_init();
	/* Checked first so an open mapping never costs a KDF run. */
	st = crypt_status(NULL, name);
	if (st == CRYPT_ACTIVE || st == CRYPT_BUSY) {
		lk_err(err, errlen, NULL, "/dev/mapper/%s is already active", name);
		return -EEXIST;
	}
	r = lk_open_dev(&cd, dev, &c);
	if (r < 0) {
		lk_err(err, errlen, &c, "crypt_init %s: %s", dev, strerror(-r));
		return r;
	}
	/* NULL: LUKS1 or LUKS2, whatever the original driver's cryptsetup
	 * made; the header records every parameter. */
	r = crypt_load(cd, NULL, NULL);
	if (r < 0 || !lk_is_luks(cd)) {
		lk_err(err, errlen, &c, "%s has no LUKS header", dev);
		r = r < 0 ? r : -EINVAL;
		goto out;
	}
	crypt_volume_key_keyring(cd, 0);
	r = crypt_activate_by_passphrase(cd, name, CRYPT_ANY_SLOT, (const char *)pass->bytes,
					 pass->len, flags | dflag);
	if (r == -EINVAL) {
		/* Kernels before 5.9 (dm-crypt < 1.22) reject the workqueue
		 * bypass. A wrong passphrase is -EPERM and never gets here, so
		 * retrying costs one more KDF run on old kernels only. */
		log_warn("luks: activating %s with no_read/no_write_workqueue failed (%s); "
			 "retrying without them",
			 name, c.last_err[0] ? c.last_err : strerror(-r));
		c.last_err[0] = 0;
		r = crypt_activate_by_passphrase(cd, name, CRYPT_ANY_SLOT,
						 (const char *)pass->bytes, pass->len, dflag);
		if (r >= 0)
			lk_err(err, errlen, NULL,
			       "opened %s without no_read/no_write_workqueue (kernel refused them)",
			       name);
	}
	if (r == -EPERM) {
		lk_err(err, errlen, NULL, "wrong passphrase for %s", dev);
		goto out;
	}
	if (r == -EEXIST) {
		lk_err(err, errlen, NULL, "/dev/mapper/%s is already active", name);
		goto out;
	}
	if (r < 0) {
		lk_err(err, errlen, &c, "activating %s as %s: %s", dev, name, strerror(-r));
		goto out;
	}
	r = 0;
out:
	crypt_free(cd);
	return r;
}

int
luks_active(const char *name, char *under, size_t underlen)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	crypt_status_info st;
	const char *d;
	int r;

	if (!lk_name_ok(name) || under == NULL || underlen == 0)
		return -EINVAL;
	lk_init();
	st = crypt_status(NULL, name);
	if (st == CRYPT_INACTIVE)
		return 0;
	if (st == CRYPT_INVALID)
		return -ENODEV; /* no device-mapper, or the query failed */
	r = lk_open_name(&cd, name, &c);
	if (r == -ENODEV)
		return 0; /* closed in between */
	if (r < 0)
		return r;
	/* A mapping of that name that is not a LUKS crypt device (linear,
	 * plain crypt, ...) is not ours. */
	if (!lk_is_luks(cd)) {
		r = -EMEDIUMTYPE;
		goto out;
	}
	/* The data device from the dm table, resolved to a /dev path by
	 * libcryptsetup (e.g. /dev/loop3). */
	d = crypt_get_device_name(cd);
	if (d == NULL) {
		r = -ENODEV;
		goto out;
	}
	if (strlen(d) >= underlen) {
		r = -ENAMETOOLONG;
		goto out;
	}
	strcpy(under, d);
	r = 1;
out:
	crypt_free(cd);
	return r;
}

int
luks_close(const char *name)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	crypt_status_info st;
	int r;

	if (!lk_name_ok(name))
		return -EINVAL;
	lk_init();
	st = crypt_status(NULL, name);
	if (st == CRYPT_INACTIVE)
		return 0;
	if (st == CRYPT_INVALID)
		return -ENODEV;
	r = lk_open_name(&cd, name, &c);
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	/* Any dm-crypt mapping may go, including one whose LUKS header has
	 * vanished (libcryptsetup then knows its cipher from the table but
	 * no type); a mapping of another target type (linear, zero, ...) is
	 * not ours to remove. */
	if (!lk_is_luks(cd) && crypt_get_cipher(cd) == NULL) {
		crypt_free(cd);
		return -EMEDIUMTYPE;
	}
	/* Flags 0: not deferred. A mapping still in use fails with -EBUSY
	 * and stays, so the caller learns about it now. */
	r = crypt_deactivate_by_name(cd, name, 0);
	if (r == -ENODEV)
		r = 0;
	if (r < 0)
		log_warn("luks: closing %s: %s%s%s", name, strerror(-r),
			 c.last_err[0] ? ": " : "", c.last_err);
	crypt_free(cd);
	return r;
}

int
luks_resize(const char *name, char *err, size_t errlen)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	int r;

	if (!lk_name_ok(name)) {
		lk_err(err, errlen, NULL, "luks_resize: invalid name");
		return -EINVAL;
	}
	r = lk_open_name(&cd, name, &c);
	if (r < 0) {
		lk_err(err, errlen, &c, "%s is not active: %s", name, strerror(-r));
		return r;
	}
	if (!lk_is_luks(cd)) {
		lk_err(err, errlen, NULL, "%s is not a LUKS mapping", name);
		r = -EMEDIUMTYPE;
		goto out;
	}
	/* Size 0: fill the underlying device. The key comes from the dm
	 * table; a mapping whose key sits in the kernel keyring (opened by
	 * the cryptsetup CLI, e.g. by the original driver) gives -EPERM. */
	r = crypt_resize(cd, name, 0);
	if (r == -EPERM)
		lk_err(err, errlen, &c,
		       "%s keeps its volume key in the kernel keyring; resize needs the passphrase",
		       name);
	else if (r < 0)
		lk_err(err, errlen, &c, "resizing %s: %s", name, strerror(-r));
out:
	crypt_free(cd);
	return r < 0 ? r : 0;
}

int
luks_resize_pass(const char *name, const struct lcw_secret *pass, char *err, size_t errlen)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	struct crypt_active_device cad;
	int r;

	if (!lk_name_ok(name) || pass == NULL || pass->bytes == NULL) {
		lk_err(err, errlen, NULL, "luks_resize_pass: invalid arguments");
		return -EINVAL;
	}
	r = lk_open_name(&cd, name, &c);
	if (r < 0) {
		lk_err(err, errlen, &c, "%s is not active: %s", name, strerror(-r));
		return r;
	}
	if (!lk_is_luks(cd)) {
		lk_err(err, errlen, NULL, "%s is not a LUKS mapping", name);
		r = -EMEDIUMTYPE;
		goto out;
	}
	r = crypt_get_active_device(cd, name, &cad);
	if (r < 0) {
		lk_err(err, errlen, &c, "querying %s: %s", name, strerror(-r));
		goto out;
	}
	if (cad.flags & CRYPT_ACTIVATE_KEYRING_KEY) {
		/* The reloaded table must name a key in the keyring again:
		 * unlock it into this context's keyring (name NULL = verify
		 * only, no new mapping). That needs the library-wide keyring
		 * switch on for the duration; privd is single-threaded. */
		crypt_volume_key_keyring(NULL, 1);
		r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT,
						 (const char *)pass->bytes, pass->len,
						 CRYPT_ACTIVATE_KEYRING_KEY);
		if (r == -EPERM) {
			crypt_volume_key_keyring(NULL, 0);
			lk_err(err, errlen, NULL, "wrong passphrase for %s", name);
			goto out;
		}
		if (r >= 0)
			r = crypt_resize(cd, name, 0);
		crypt_volume_key_keyring(NULL, 0);
		/* libcryptsetup 2.6 put the volume key in this thread's
		 * keyring and leaves it there after crypt_free; dm-crypt holds
		 * its own copy now. privd keeps nothing else in that keyring. */
		if (syscall(SYS_keyctl, KEYCTL_CLEAR, KEY_SPEC_THREAD_KEYRING) < 0)
			log_warn("luks: clearing the thread keyring after resizing %s: %s", name,
				 strerror(errno));
	} else {
		r = crypt_resize(cd, name, 0);
	}
	if (r < 0)
		lk_err(err, errlen, &c, "resizing %s: %s", name, strerror(-r));
out:
	crypt_free(cd);
	return r < 0 ? r : 0;
}

int
luks_erase(const char *dev, char *err, size_t errlen)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	uint64_t len, size = 0;
	struct stat st;
	int r, nslots;

	if (dev == NULL) {
		lk_err(err, errlen, NULL, "luks_erase: invalid arguments");
		return -EINVAL;
	}
	r = lk_has_holders(dev);
	if (r != 0) {
		lk_err(err, errlen, NULL, "%s is in use (holders), close its mapping first", dev);
		return r < 0 ? r : -EBUSY;
	}
	r = lk_open_dev(&cd, dev, &c);
	if (r < 0) {
		lk_err(err, errlen, &c, "crypt_init %s: %s", dev, strerror(-r));
		return r;
	}
	r = crypt_load(cd, NULL, NULL);
	if (r == -EINVAL) {
		/* No LUKS header (left): nothing can be decrypted, so a retry
		 * after an interrupted erase succeeds. Nothing is written to
		 * something that is not LUKS. */
		crypt_free(cd);
		log_info("luks: %s has no LUKS header, nothing to erase", dev);
		return 0;
	}
	if (r < 0 || !lk_is_luks(cd)) {
		lk_err(err, errlen, &c, "loading the LUKS header of %s: %s", dev,
		       strerror(r < 0 ? -r : EINVAL));
		r = r < 0 ? r : -EINVAL;
		goto out;
	}
	/* Keyslots first: each destroy overwrites that slot's key material,
	 * so even a crash before the header wipe leaves nothing to unlock. */
	nslots = crypt_keyslot_max(crypt_get_type(cd));
	for (int i = 0; i < nslots; i++) {
		crypt_keyslot_info ks = crypt_keyslot_status(cd, i);

		if (ks != CRYPT_SLOT_ACTIVE && ks != CRYPT_SLOT_ACTIVE_LAST &&
		    ks != CRYPT_SLOT_UNBOUND)
			continue;
		r = crypt_keyslot_destroy(cd, i);
		if (r < 0) {
			lk_err(err, errlen, &c, "destroying keyslot %d of %s: %s", i, dev,
			       strerror(-r));
			goto out;
		}
	}
	len = lk_header_bytes(cd);
	crypt_free(cd);
	cd = NULL;
	if (len == 0) {
		lk_err(err, errlen, NULL, "%s: LUKS header reports no data offset", dev);
		return -EINVAL;
	}
	/* Never write past the end (a truncated backing file). */
	if (stat(dev, &st) == 0 && S_ISREG(st.st_mode))
		size = (uint64_t)st.st_size;
	else {
		int fd = open(dev, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			off_t e = lseek(fd, 0, SEEK_END);
			if (e > 0)
				size = (uint64_t)e;
			close(fd);
		}
	}
	if (size && len > size)
		len = size;
	/* Both header copies, the JSON areas and the keyslot area go: no
	 * LUKS signature remains, crypt_load fails. */
	r = lk_zero_head(dev, len);
	if (r < 0)
		lk_err(err, errlen, NULL, "wiping the header area of %s: %s", dev, strerror(-r));
out:
	crypt_free(cd);
	return r < 0 ? r : 0;
}

int
luks_discards_allowed(const char *name)
{
	struct lk_call c = { { 0 } };
	struct crypt_device *cd = NULL;
	struct crypt_active_device cad;
	int r;

	if (!lk_name_ok(name))
		return -EINVAL;
	if ((r = lk_open_name(&cd, name, &c)) < 0)
		return r;
	r = crypt_get_active_device(cd, name, &cad);
	crypt_free(cd);
	if (r < 0)
		return r;
	return (cad.flags & CRYPT_ACTIVATE_ALLOW_DISCARDS) ? 1 : 0;
}
