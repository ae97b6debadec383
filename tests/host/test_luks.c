/* privd/luks/luks.c on real dm-crypt. Needs root and device-mapper, so it runs
 * inside the VM harness (tests/vm/vm-run.sh) when the host has none:
 *
 *   tests/vm/vm-run.sh -- build/tests/test_luks
 *
 * Backing files go to $LCW_TEST_DIR, else /scratch (the VM's ext4 disk),
 * else /tmp. PBKDF costs are tiny because TCG is slow. The cryptsetup CLI
 * appears here only to make volumes the way the original Go driver did. */
#define _GNU_SOURCE
#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <linux/keyctl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loopdev.h"
#include "luks.h"
#include "secmem.h"

#define MiB (1024ULL * 1024)
#define NCHECKS 81 /* reported as skipped where there is no device-mapper */

static int npass, nfail;
static char dir[256];

/* Everything the test may have left behind, torn down at the end. */
static const char *const names[] = { "lcwtest-a", "lcwtest-b", "lcwtest-cli", "lcwtest-c",
				     "lcwtest-d" };
static char loops[4][64];

static void
check(int cond, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (cond) {
		printf("ok - %s\n", name);
		npass++;
		return;
	}
	printf("not ok - %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	nfail++;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
mkpass(struct lcw_secret *s, const char *p, size_t n)
{
	if (s->bytes == NULL && secret_alloc(s) < 0) {
		perror("secret_alloc");
		exit(2);
	}
	if (secret_set(s, p, n) < 0) {
		perror("secret_set");
		exit(2);
	}
}

static int
mkfile(const char *path, unsigned long long size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

/* Run a shell command (test fixtures only: the CLI formats legacy volumes). */
static int
sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
exists_blk(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

/* Read n bytes at off of path into a new buffer (NULL on error). */
static unsigned char *
readat(const char *path, size_t n, off_t off)
{
	unsigned char *b = malloc(n);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (b == NULL || fd < 0) {
		free(b);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	r = pread(fd, b, n, off);
	close(fd);
	if (r != (ssize_t)n) {
		free(b);
		return NULL;
	}
	return b;
}

static void
pattern(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)((i * 31 + seed * 7 + (i >> 12)) & 0xff);
}

static int
writepat(const char *path, size_t n, off_t off, unsigned seed)
{
	unsigned char *b = malloc(n);
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (b == NULL || fd < 0) {
		free(b);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	pattern(b, n, seed);
	if (pwrite(fd, b, n, off) != (ssize_t)n || fsync(fd) < 0)
		r = -1;
	close(fd);
	free(b);
	return r;
}

static int
checkpat(const char *path, size_t n, off_t off, unsigned seed)
{
	unsigned char *got = readat(path, n, off), *want = malloc(n);
	int ok = got && want;

	if (ok) {
		pattern(want, n, seed);
		ok = memcmp(got, want, n) == 0;
	}
	free(got);
	free(want);
	return ok;
}

/* Any superblock signature libblkid sees on path: 1 yes, 0 none, -1 error. */
static int
has_signature(const char *path, char *type, size_t len)
{
	blkid_probe pr = blkid_new_probe_from_filename(path);
	const char *t = NULL;
	int r;

	type[0] = 0;
	if (pr == NULL)
		return -1;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	r = blkid_do_safeprobe(pr);
	if (r == 0 && blkid_probe_lookup_value(pr, "TYPE", &t, NULL) == 0)
		snprintf(type, len, "%s", t);
	blkid_free_probe(pr);
	return r == 0 ? 1 : r == 1 ? 0 : -1;
}

/* Activation flags of a mapping. It takes a context made from the name:
 * with a NULL context libcryptsetup reports no flags at all. */
static int
active_flags(const char *name, uint32_t *flags)
{
	struct crypt_active_device cad;
	struct crypt_device *cd = NULL;
	int r = crypt_init_by_name(&cd, name);

	if (r == 0)
		r = crypt_get_active_device(cd, name, &cad);
	if (r == 0)
		*flags = cad.flags;
	crypt_free(cd);
	return r;
}

/* Keys this process can see in /proc/keys whose description contains s. */
static int
count_keys(const char *s)
{
	FILE *f = fopen("/proc/keys", "re");
	char line[512];
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, s))
			n++;
	fclose(f);
	return n;
}

/* Keys linked into this thread's keyring (where libcryptsetup 2.6 puts a
 * volume key it unlocks for a keyring-keyed mapping). */
static int
thread_keys(void)
{
	int32_t ids[64];
	long n = syscall(SYS_keyctl, KEYCTL_READ, KEY_SPEC_THREAD_KEYRING, ids, sizeof(ids));

	return n < 0 ? 0 : (int)(n / (long)sizeof(ids[0]));
}

static int
attach(int slot, const char *file)
{
	char err[256] = "";
	int dio = 0, r = loop_attach(file, loops[slot], sizeof(loops[slot]), &dio, err, sizeof(err));

	if (r < 0) {
		loops[slot][0] = 0;
		fprintf(stderr, "loop_attach %s: %s\n", file, err);
	}
	return r;
}

static void
detach(int slot)
{
	if (loops[slot][0]) {
		loop_detach(loops[slot]);
		loops[slot][0] = 0;
	}
}

static void
cleanup(void)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		luks_close(names[i]);
	for (int i = 0; i < 4; i++)
		detach(i);
	if (dir[0])
		sh("rm -rf '%s'", dir);
}

/* ---- 1. pure ------------------------------------------------------------ */

static void
t_passphrase_len(void)
{
	check(luks_passphrase_len((const uint8_t *)"a b\nc", 5) == 3, "passphrase_len stops at LF",
	      "got %zu", luks_passphrase_len((const uint8_t *)"a b\nc", 5));
	check(luks_passphrase_len((const uint8_t *)"abc", 3) == 3 &&
		      luks_passphrase_len((const uint8_t *)"\nabc", 4) == 0 &&
		      luks_passphrase_len((const uint8_t *)"ab\r\n", 4) == 3 &&
		      luks_passphrase_len((const uint8_t *)"", 0) == 0,
	      "passphrase_len edge cases", "no LF, leading LF, CRLF or empty mishandled");
}

/* ---- 2. new volume: format, open, data, errors, resize, erase ------------- */

static void
t_new_volume(void)
{
	/* Smallest costs libcryptsetup accepts for argon2id: 4 iterations. */
	struct luks_pbkdf kdf = { 8192, 4, 1 };
	struct lcw_secret good = { 0 }, bad = { 0 };
	char file[300], err[512], under[128], sig[64];
	const char *name = "lcwtest-a", *map = "/dev/mapper/lcwtest-a";
	unsigned long long sz0 = 0, sz1 = 0;
	unsigned char *h0, *h1;
	uint32_t kib = 0, fl = 0;
	double t;
	int r;

	mkpass(&good, "correct horse\nbattery", 21);
	good.len = luks_passphrase_len(good.bytes, good.len);
	mkpass(&bad, "correct horsf", 13);

	snprintf(file, sizeof(file), "%s/a.img", dir);
	if (mkfile(file, 64 * MiB) < 0 || attach(0, file) < 0) {
		check(0, "setup volume a", "cannot create or attach %s", file);
		goto out;
	}
	const char *dev = loops[0];

	t = now();
	err[0] = 0;
	r = luks_format(dev, &good, &kdf, err, sizeof(err));
	check(r == 0, "format", "r=%d %s", r, err);
	fprintf(stderr, "# format took %.2fs\n", now() - t);

	/* What the header says, through libcryptsetup's own getters. */
	struct crypt_device *cd = NULL;
	if (crypt_init(&cd, dev) == 0 && crypt_load(cd, CRYPT_LUKS2, NULL) == 0) {
		struct crypt_pbkdf_type p = { 0 };
		check(strcmp(crypt_get_cipher(cd), "aes") == 0 &&
			      strcmp(crypt_get_cipher_mode(cd), "xts-plain64") == 0,
		      "format cipher aes-xts-plain64", "%s-%s", crypt_get_cipher(cd),
		      crypt_get_cipher_mode(cd));
		check(crypt_get_volume_key_size(cd) == 64, "format key size 512 bits", "%d bytes",
		      crypt_get_volume_key_size(cd));
		check(crypt_get_sector_size(cd) == 4096, "format sector size 4096", "%d",
		      crypt_get_sector_size(cd));
		check(crypt_keyslot_status(cd, 0) == CRYPT_SLOT_ACTIVE_LAST,
		      "format exactly keyslot 0", "status %d", crypt_keyslot_status(cd, 0));
		r = crypt_keyslot_get_pbkdf(cd, 0, &p);
		check(r == 0 && p.type && strcmp(p.type, "argon2id") == 0 &&
			      p.max_memory_kb == 8192 && p.iterations == 4 &&
			      p.parallel_threads == 1,
		      "format pbkdf argon2id m=8192 t=4 p=1", "r=%d %s m=%u t=%u p=%u", r,
		      p.type ? p.type : "?", p.max_memory_kb, p.iterations, p.parallel_threads);
		check(crypt_get_data_offset(cd) == 32768, "format data offset 16 MiB",
		      "%llu sectors", (unsigned long long)crypt_get_data_offset(cd));
	} else {
		check(0, "format readable as LUKS2", "crypt_load failed");
	}
	crypt_free(cd);

	r = luks_unlock_memory_kib(dev, &kib);
	check(r == 0 && kib == 8192, "unlock_memory_kib of new volume", "r=%d kib=%u", r, kib);

	h0 = readat(dev, 16 * MiB, 0);
	err[0] = 0;
	r = luks_format(dev, &good, &kdf, err, sizeof(err));
	h1 = readat(dev, 16 * MiB, 0);
	check(r == -EEXIST && h0 && h1 && memcmp(h0, h1, 16 * MiB) == 0,
	      "format refuses an existing LUKS header", "r=%d %s", r, err);
	free(h1);

	/* Wrong passphrase: -EPERM, no mapping, header and keyslots untouched. */
	t = now();
	err[0] = 0;
	r = luks_open(dev, name, &bad, err, sizeof(err));
	h1 = readat(dev, 16 * MiB, 0);
	check(r == -EPERM, "open wrong passphrase is EPERM", "r=%d %s", r, err);
	check(!exists_blk(map) && luks_active(name, under, sizeof(under)) == 0,
	      "open wrong passphrase leaves no mapping", "mapping exists");
	check(h0 && h1 && memcmp(h0, h1, 16 * MiB) == 0,
	      "open wrong passphrase leaves header unchanged", "header bytes differ");
	free(h1);
	/* The full secret including "\nbattery" is not the passphrase. */
	struct lcw_secret full = { 0 };
	mkpass(&full, "correct horse\nbattery", 21);
	r = luks_open(dev, name, &full, err, sizeof(err));
	check(r == -EPERM, "open with untruncated secret is EPERM", "r=%d", r);
	secret_free(&full);
	fprintf(stderr, "# three failed unlocks took %.2fs\n", now() - t);

	t = now();
	err[0] = 0;
	r = luks_open(dev, name, &good, err, sizeof(err));
	check(r == 0, "open", "r=%d %s", r, err);
	fprintf(stderr, "# open took %.2fs%s%s\n", now() - t, err[0] ? ": " : "", err);
	check(exists_blk(map), "open creates /dev/mapper node", "%s missing", map);
	under[0] = 0;
	r = luks_active(name, under, sizeof(under));
	check(r == 1 && strcmp(under, dev) == 0, "active reports the loop device",
	      "r=%d under=%s want %s", r, under, dev);
	fprintf(stderr, "# crypt_get_device_name -> %s\n", under);
	r = active_flags(name, &fl);
	check(r == 0 && (fl & CRYPT_ACTIVATE_NO_READ_WORKQUEUE) &&
		      (fl & CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE),
	      "open sets no_read/no_write_workqueue", "r=%d flags=%#x", r, fl);
	check(r == 0 && !(fl & CRYPT_ACTIVATE_KEYRING_KEY), "open keeps key out of keyring",
	      "flags=%#x", fl);
	r = blockdev_size(map, &sz0);
	check(r == 0 && sz0 == 48 * MiB, "mapping size is file minus 16 MiB header", "r=%d %llu",
	      r, sz0);

	r = writepat(map, 4 * MiB, 8 * MiB, 1);
	check(r == 0, "write pattern via mapper", "write failed");

	err[0] = 0;
	r = luks_open(dev, name, &good, err, sizeof(err));
	check(r == -EEXIST, "open of an active name is EEXIST", "r=%d %s", r, err);
	r = luks_open(dev, "lcw/../x", &good, err, sizeof(err));
	check(r == -EINVAL, "open rejects a name with '/'", "r=%d", r);
	r = luks_erase(dev, err, sizeof(err));
	check(r == -EBUSY, "erase refuses a device with an open mapping", "r=%d %s", r, err);
	r = luks_format(dev, &good, &kdf, err, sizeof(err));
	check(r == -EBUSY || r == -EEXIST, "format refuses a device with an open mapping", "r=%d",
	      r);

	/* Ciphertext on the loop device is not the plaintext. */
	check(!checkpat(dev, 4 * MiB, 16 * MiB + 8 * MiB, 1), "data is encrypted on the device",
	      "plaintext pattern found on the loop device");

	r = luks_close(name);
	check(r == 0 && !exists_blk(map) && luks_active(name, under, sizeof(under)) == 0, "close",
	      "r=%d", r);
	r = luks_close(name);
	check(r == 0, "close of an inactive name is 0", "r=%d", r);

	err[0] = 0;
	r = luks_open(dev, name, &good, err, sizeof(err));
	check(r == 0 && checkpat(map, 4 * MiB, 8 * MiB, 1), "reopen reads the pattern back",
	      "r=%d %s", r, err);

	/* Online grow without the passphrase. */
	if (truncate(file, 96 * MiB) < 0)
		perror("truncate");
	r = loop_refresh_capacity(dev);
	check(r == 0, "loop capacity refresh", "r=%d", r);
	t = now();
	err[0] = 0;
	r = luks_resize(name, err, sizeof(err));
	fprintf(stderr, "# resize took %.2fs\n", now() - t);
	sz1 = 0;
	blockdev_size(map, &sz1);
	check(r == 0 && sz1 == 80 * MiB, "resize without passphrase grows the mapping",
	      "r=%d %s size %llu -> %llu", r, err, sz0, sz1);
	r = active_flags(name, &fl);
	check(r == 0 && (fl & CRYPT_ACTIVATE_NO_READ_WORKQUEUE) &&
		      (fl & CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE) && !(fl & CRYPT_ACTIVATE_KEYRING_KEY),
	      "resize keeps the activation flags", "flags=%#x", fl);
	check(checkpat(map, 4 * MiB, 8 * MiB, 1) && writepat(map, MiB, 79 * MiB, 2) == 0 &&
		      checkpat(map, MiB, 79 * MiB, 2),
	      "data intact and new space usable after resize", "pattern mismatch");
	r = luks_resize_pass(name, &good, err, sizeof(err));
	check(r == 0, "resize_pass on a table-keyed mapping is fine", "r=%d %s", r, err);

	r = luks_close(name);
	check(r == 0, "close after resize", "r=%d", r);

	/* Crypto-erase. */
	t = now();
	err[0] = 0;
	r = luks_erase(dev, err, sizeof(err));
	fprintf(stderr, "# erase took %.2fs\n", now() - t);
	check(r == 0, "erase", "r=%d %s", r, err);
	cd = NULL;
	r = crypt_init(&cd, dev);
	if (r == 0)
		r = crypt_load(cd, NULL, NULL);
	crypt_free(cd);
	check(r < 0, "crypt_load fails after erase", "r=%d", r);
	r = luks_open(dev, name, &good, err, sizeof(err));
	check(r < 0 && r != -EPERM && !exists_blk(map), "open fails after erase (not EPERM)",
	      "r=%d", r);
	r = has_signature(dev, sig, sizeof(sig));
	check(r == 0, "no blkid signature after erase", "r=%d type=%s", r, sig);
	h1 = readat(dev, 16 * MiB, 0);
	int zero = h1 != NULL;
	for (size_t i = 0; zero && i < 16 * MiB; i++)
		zero = h1[i] == 0;
	free(h1);
	check(zero, "header and keyslot area are zero", "non-zero byte in first 16 MiB");
	r = luks_erase(dev, err, sizeof(err));
	check(r == 0, "erase again is 0", "r=%d %s", r, err);
	r = luks_unlock_memory_kib(dev, &kib);
	check(r < 0, "unlock_memory_kib fails on a non-LUKS device", "r=%d", r);
	free(h0);
out:
	detach(0);
	secret_free(&good);
	secret_free(&bad);
}

/* ---- 3. mappings that are not (or no longer) plain LUKS ------------------- */

static void
t_foreign(void)
{
	struct luks_pbkdf kdf = { 8192, 4, 1 };
	struct lcw_secret pass = { 0 };
	char file[300], err[512] = "", under[128] = "";
	int r;

	mkpass(&pass, "x", 1);
	r = sh("dmsetup create lcwtest-d --table '0 2048 zero'");
	check(r == 0, "dmsetup create a zero-target mapping", "exit %d", r);
	if (r != 0)
		return;
	r = luks_active("lcwtest-d", under, sizeof(under));
	check(r == -EMEDIUMTYPE, "active on a non-crypt mapping is EMEDIUMTYPE", "r=%d", r);
	r = luks_close("lcwtest-d");
	/* Asked of the kernel, not /dev: without DM_DISABLE_UDEV, dmsetup
	 * leaves node creation to a udev that is not there. */
	check(r == -EMEDIUMTYPE && crypt_status(NULL, "lcwtest-d") == CRYPT_ACTIVE,
	      "close leaves a non-crypt mapping alone", "r=%d", r);
	r = luks_open("/dev/null", "lcwtest-d", &pass, err, sizeof(err));
	check(r == -EEXIST, "open onto a foreign mapping's name is EEXIST", "r=%d %s", r, err);
	sh("dmsetup remove lcwtest-d");

	snprintf(file, sizeof(file), "%s/d.img", dir);
	if (mkfile(file, 32 * MiB) < 0 || attach(3, file) < 0) {
		check(0, "setup volume d", "cannot create or attach %s", file);
		goto out;
	}
	r = luks_format(loops[3], &pass, &kdf, err, sizeof(err));
	if (r == 0)
		r = luks_open(loops[3], "lcwtest-d", &pass, err, sizeof(err));
	check(r == 0, "format and open volume d", "r=%d %s", r, err);
	/* The header zeroed behind the open mapping's back. */
	static unsigned char z[1 << 20];
	int fd = open(loops[3], O_WRONLY | O_CLOEXEC);
	for (int i = 0; fd >= 0 && i < 16; i++)
		(void)!pwrite(fd, z, sizeof(z), (off_t)i << 20);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	r = luks_active("lcwtest-d", under, sizeof(under));
	check(r == -EMEDIUMTYPE, "active on a mapping whose header is gone is EMEDIUMTYPE",
	      "r=%d under=%s", r, under);
	r = luks_close("lcwtest-d");
	check(r == 0 && !exists_blk("/dev/mapper/lcwtest-d"),
	      "close works on a mapping whose header is gone", "r=%d", r);
out:
	detach(3);
	secret_free(&pass);
}

/* ---- 4. volumes made by the original driver's cryptsetup CLI ------------- */

/* fmtopts: extra luksFormat options. The CLI gets the secret on stdin with
 * no --key-file, exactly like the Go driver. */
static void
t_cli_volume(const char *tag, const char *fmtopts, int slot, const char *name, int argon)
{
	struct lcw_secret full = { 0 }, trunc = { 0 };
	char file[300], err[512], under[128], test[128], map[128], climap[64];
	unsigned long long sz0 = 0, sz1 = 0;
	uint32_t kib = 99, fl = 0;
	double t;
	int r;

	mkpass(&full, "a b\nc", 5);
	mkpass(&trunc, "a b\nc", 5);
	trunc.len = luks_passphrase_len(trunc.bytes, trunc.len);
	snprintf(file, sizeof(file), "%s/%s.img", dir, tag);
	snprintf(map, sizeof(map), "/dev/mapper/%s", name);
	snprintf(climap, sizeof(climap), "/dev/mapper/lcwtest-cli");

	t = now();
	r = mkfile(file, 64 * MiB);
	if (r == 0)
		r = sh("printf 'a b\\nc' | cryptsetup luksFormat --batch-mode %s '%s'", fmtopts,
		       file);
	fprintf(stderr, "# [%s] CLI luksFormat took %.2fs\n", tag, now() - t);
	snprintf(test, sizeof(test), "[%s] CLI luksFormat with the piped secret", tag);
	check(r == 0, test, "luksFormat exit %d", r);
	snprintf(test, sizeof(test), "[%s] CLI open with the piped secret", tag);
	t = now();
	r = sh("printf 'a b\\nc' | cryptsetup open '%s' lcwtest-cli", file);
	fprintf(stderr, "# [%s] CLI open took %.2fs\n", tag, now() - t);
	check(r == 0 && exists_blk(climap), test, "exit %d", r);
	if (r != 0)
		goto out;

	/* What a mapping left behind by the original driver looks like. */
	under[0] = 0;
	r = luks_active("lcwtest-cli", under, sizeof(under));
	snprintf(test, sizeof(test), "[%s] active on a CLI mapping gives its loop", tag);
	check(r == 1 && strncmp(under, "/dev/loop", 9) == 0, test, "r=%d under=%s", r, under);
	fprintf(stderr, "# [%s] CLI mapping sits on %s\n", tag, under);
	r = active_flags("lcwtest-cli", &fl);
	fprintf(stderr, "# [%s] CLI mapping flags %#x (keyring key: %s)\n", tag, fl,
		fl & CRYPT_ACTIVATE_KEYRING_KEY ? "yes" : "no");
	r = writepat(climap, 2 * MiB, 3 * MiB, 3);
	snprintf(test, sizeof(test), "[%s] write via the CLI mapping", tag);
	check(r == 0, test, "write failed");

	/* Resize of a keyring-keyed mapping: needs the passphrase. */
	if (argon) {
		char cli_loop[64];
		snprintf(cli_loop, sizeof(cli_loop), "%s", under);
		if (truncate(file, 80 * MiB) < 0)
			perror("truncate");
		loop_refresh_capacity(cli_loop);
		blockdev_size(climap, &sz0);
		err[0] = 0;
		r = luks_resize("lcwtest-cli", err, sizeof(err));
		snprintf(test, sizeof(test), "[%s] resize of a keyring mapping without passphrase",
			 tag);
		if (fl & CRYPT_ACTIVATE_KEYRING_KEY)
			check(r == -EPERM, test, "r=%d %s", r, err);
		else
			check(r == 0, test, "r=%d %s", r, err);
		fprintf(stderr, "# [%s] luks_resize on CLI mapping: r=%d %s\n", tag, r, err);
		err[0] = 0;
		r = luks_resize_pass("lcwtest-cli", &full, err, sizeof(err));
		snprintf(test, sizeof(test), "[%s] resize_pass with a wrong passphrase is EPERM",
			 tag);
		check(r == -EPERM || !(fl & CRYPT_ACTIVATE_KEYRING_KEY), test, "r=%d %s", r, err);
		t = now();
		fprintf(stderr, "# [%s] cryptsetup keys in /proc/keys after CLI open: %d\n", tag,
			count_keys("cryptsetup:"));
		err[0] = 0;
		r = luks_resize_pass("lcwtest-cli", &trunc, err, sizeof(err));
		fprintf(stderr, "# [%s] resize_pass took %.2fs\n", tag, now() - t);
		blockdev_size(climap, &sz1);
		snprintf(test, sizeof(test), "[%s] resize_pass grows a keyring mapping", tag);
		check(r == 0 && sz1 == sz0 + 16 * MiB, test, "r=%d %s size %llu -> %llu", r, err,
		      sz0, sz1);
		snprintf(test, sizeof(test), "[%s] resize_pass leaves our thread keyring empty",
			 tag);
		check(thread_keys() == 0, test, "%d keys in it", thread_keys());
		snprintf(test, sizeof(test), "[%s] CLI data intact after resize_pass", tag);
		check(checkpat(climap, 2 * MiB, 3 * MiB, 3), test, "pattern mismatch");
	}
	r = sh("cryptsetup close lcwtest-cli");
	snprintf(test, sizeof(test), "[%s] CLI close", tag);
	check(r == 0, test, "exit %d", r);
	fprintf(stderr, "# [%s] cryptsetup keys in /proc/keys after CLI close: %d\n", tag,
		count_keys("cryptsetup:"));

	if (attach(slot, file) < 0) {
		snprintf(test, sizeof(test), "[%s] attach", tag);
		check(0, test, "attach failed");
		goto out;
	}
	const char *dev = loops[slot];

	r = luks_unlock_memory_kib(dev, &kib);
	{
		struct crypt_device *cd = NULL;
		struct crypt_pbkdf_type p = { 0 };
		char typ[16] = "?";
		int ss = 0;
		if (crypt_init(&cd, dev) == 0 && crypt_load(cd, NULL, NULL) == 0) {
			ss = crypt_get_sector_size(cd);
			if (crypt_keyslot_get_pbkdf(cd, 0, &p) == 0 && p.type)
				snprintf(typ, sizeof(typ), "%s", p.type);
			fprintf(stderr,
				"# [%s] CLI header: %s %s-%s key %d bits sector %d, slot 0 %s "
				"m=%u t=%u p=%u\n",
				tag, crypt_get_type(cd), crypt_get_cipher(cd),
				crypt_get_cipher_mode(cd), crypt_get_volume_key_size(cd) * 8, ss,
				typ, p.max_memory_kb, p.iterations, p.parallel_threads);
		}
		crypt_free(cd);
		snprintf(test, sizeof(test), "[%s] unlock_memory_kib matches keyslot 0", tag);
		if (argon)
			check(r == 0 && strcmp(typ, "argon2id") == 0 && kib == p.max_memory_kb &&
				      kib > 0 && kib <= 32768,
			      test, "r=%d %s kib=%u slot=%u", r, typ, kib, p.max_memory_kb);
		else
			check(r == 0 && kib == 0 && strcmp(typ, "pbkdf2") == 0, test,
			      "r=%d %s kib=%u", r, typ, kib);
	}

	err[0] = 0;
	r = luks_open(dev, name, &full, err, sizeof(err));
	snprintf(test, sizeof(test), "[%s] untruncated secret does not open", tag);
	check(r == -EPERM, test, "r=%d %s", r, err);
	t = now();
	err[0] = 0;
	r = luks_open(dev, name, &trunc, err, sizeof(err));
	fprintf(stderr, "# [%s] luks_open took %.2fs\n", tag, now() - t);
	snprintf(test, sizeof(test), "[%s] truncated secret opens via libcryptsetup", tag);
	check(r == 0, test, "r=%d %s", r, err);
	snprintf(test, sizeof(test), "[%s] data written via the CLI mapping survives", tag);
	check(r == 0 && checkpat(map, 2 * MiB, 3 * MiB, 3), test, "pattern mismatch");
	r = active_flags(name, &fl);
	snprintf(test, sizeof(test), "[%s] reopened with perf flags, key in table", tag);
	check(r == 0 && (fl & CRYPT_ACTIVATE_NO_READ_WORKQUEUE) &&
		      (fl & CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE) && !(fl & CRYPT_ACTIVATE_KEYRING_KEY),
	      test, "flags=%#x", fl);
	r = luks_close(name);
	snprintf(test, sizeof(test), "[%s] close", tag);
	check(r == 0, test, "r=%d", r);
out:
	sh("cryptsetup close lcwtest-cli 2>/dev/null");
	detach(slot);
	secret_free(&full);
	secret_free(&trunc);
}

/* A backing file on an overlay over tmpfs: Debian 12's tmpfs has no
 * O_DIRECT but overlayfs claims it, so a loop device set up for direct I/O
 * binds and then fails every read. loop_attach must notice and fall back
 * to buffered I/O (the node-wide VFS-cache volume lives on such stacks in
 * CI containers). Kernels whose tmpfs does direct I/O pass either way. */
static void
t_overlay_tmpfs_backing(void)
{
	char tmp[300], upper[320], work[320], merged[320], file[340], dev[64], err[256];
	unsigned char *b = NULL;
	int dio = -1, rc;

	snprintf(tmp, sizeof(tmp), "%s/ovl-tmpfs", dir);
	snprintf(upper, sizeof(upper), "%s/u", tmp);
	snprintf(work, sizeof(work), "%s/w", tmp);
	snprintf(merged, sizeof(merged), "%s/m", dir);
	snprintf(file, sizeof(file), "%s/cache.luks", merged);
	if (sh("mkdir -p %s %s && mount -t tmpfs -o size=96m lcwtest %s && mkdir -p %s %s %s/l && "
	       "mount -t overlay lcwtest -o lowerdir=%s/l,upperdir=%s,workdir=%s %s",
	       tmp, merged, tmp, upper, work, dir, dir, upper, work, merged)) {
		check(0, "overlay-tmpfs: set-up", "cannot mount tmpfs + overlay");
		return;
	}
	check(mkfile(file, 64 * MiB) == 0, "overlay-tmpfs: backing file", "cannot create");
	rc = loop_attach(file, dev, sizeof(dev), &dio, err, sizeof(err));
	check(rc == 0, "overlay-tmpfs: loop_attach succeeds", "%s", err);
	if (rc == 0) {
		b = readat(dev, 4096, 0);
		check(b != NULL, "overlay-tmpfs: the loop device reads",
		      "read of %s failed (direct I/O %s)", dev, dio ? "on" : "off");
		free(b);
		int fd = open(dev, O_RDWR | O_CLOEXEC);
		int ok = fd >= 0 && pwrite(fd, "lcw", 3, 8192) == 3 && fsync(fd) == 0;
		if (fd >= 0)
			close(fd);
		b = readat(file, 3, 8192);
		check(ok && b && memcmp(b, "lcw", 3) == 0, "overlay-tmpfs: writes reach the file",
		      "write through %s not in %s", dev, file);
		free(b);
		loop_detach(dev);
	}
	sh("umount %s; umount %s", merged, tmp);
}

int
main(void)
{
	const char *base = getenv("LCW_TEST_DIR");
	struct stat st;
	double t0 = now();

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("test_luks", getenv("LCW_TEST_DEBUG") ? LOG_DEBUG : LOG_WARN);
	/* The node alone proves nothing (a container may have a stale one):
	 * only an open that reaches the kernel driver does. */
	int ctl = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		fprintf(stderr, "\n*** SKIP: no usable device-mapper here (/dev/mapper/control: %s); "
				"run this test in the VM: tests/vm/vm-run.sh -- %s ***\n\n",
			strerror(errno), "build/tests/test_luks");
		printf("luks: 0 passed, 0 failed, %d skipped\n", NCHECKS);
		return 0;
	}
	close(ctl);
	if (geteuid() != 0) {
		fprintf(stderr, "test_luks: must run as root\n");
		printf("luks: 0 passed, 1 failed\n");
		return 1;
	}
	if (base == NULL)
		base = stat("/scratch", &st) == 0 && S_ISDIR(st.st_mode) ? "/scratch" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/lcw-luks-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		printf("luks: 0 passed, 1 failed\n");
		return 1;
	}
	/* Leftovers of an interrupted earlier run. */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		luks_close(names[i]);

	t_passphrase_len();
	t_overlay_tmpfs_backing();
	t_new_volume();
	t_foreign();
	t_cli_volume("cli-pbkdf2", "--pbkdf pbkdf2 --pbkdf-force-iterations 1000", 1, "lcwtest-b",
		     0);
	t_cli_volume("cli-defaults", "--pbkdf-memory 32768", 2, "lcwtest-c", 1);

	cleanup();
	fprintf(stderr, "# total %.1fs\n", now() - t0);
	printf("luks: %d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}

