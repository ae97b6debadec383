/* Helpers shared by the adversary tests of what a compromised frontend can
 * make privd create, open or hold (test_bounds.c, test_volumes.c): plant
 * files where a volume's backing file lives, build STAGE requests, inspect
 * loop devices and allocated bytes. Header-only (static inline). */
#ifndef LCW_ADV_PLANT_H
#define LCW_ADV_PLANT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adv.h"

#define MIB (1024u * 1024u)
#define PASS "correct horse"

static inline uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline int
ping_ok(struct adv *a)
{
	struct ipc_msg req = { .type = IPC_REQ_PING }, ans;
	return adv_call(a, &req, &ans, 10000) == 0 && ans.type == IPC_ANS_PING;
}

static inline int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline int
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* <local root>/<id>/luks-<id>.img */
static inline void
img_path(const struct adv *a, const char *id, char *out, size_t n)
{
	snprintf(out, n, "%s/%s/luks-%s.img", a->local_root, id, id);
}

/* A file of size bytes (zeros, real blocks) at id's backing-file place,
 * its directory with dir_mode, the file with file_mode. */
static inline int
plant(const struct adv *a, const char *id, unsigned size, mode_t dir_mode, mode_t file_mode)
{
	char dir[600], img[700];
	snprintf(dir, sizeof(dir), "%s/%s", a->local_root, id);
	img_path(a, id, img, sizeof(img));
	if (mkdir(dir, dir_mode) && errno != EEXIST)
		return -1;
	if (chmod(dir, dir_mode))
		return -1;
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, file_mode);
	if (fd < 0)
		return -1;
	int rc = fallocate(fd, 0, 0, size) || fchmod(fd, file_mode);
	close(fd);
	return rc ? -1 : 0;
}

/* Plant a LUKS2 image (passphrase PASS, pbkdf2 with iter iterations, so an
 * unlock attempt costs time but little memory). */
static inline int
plant_luks(const struct adv *a, const char *id, unsigned iter, mode_t dir_mode, mode_t file_mode)
{
	char img[700];
	img_path(a, id, img, sizeof(img));
	if (plant(a, id, 20 * MIB, dir_mode, file_mode))
		return -1;
	return sh("printf '%%s' '" PASS "' | cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 "
		  "--pbkdf-force-iterations %u --key-file - '%s' >/dev/null 2>&1", iter, img);
}

static inline unsigned char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *buf = NULL;
	if (fd < 0 || fstat(fd, &st))
		goto out;
	buf = malloc((size_t)st.st_size + 1);
	if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	*len = (size_t)st.st_size;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

static inline int
all_zero(const char *path)
{
	size_t n = 0;
	unsigned char *b = slurp(path, &n);
	int z = b != NULL && n > 0;
	for (size_t i = 0; z && i < n; i++)
		z = b[i] == 0;
	free(b);
	return z;
}

/* Loop devices whose backing file is path. */
static inline int
loops_on(const char *path)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	int n = 0;
	char rp[4096];

	if (d == NULL || realpath(path, rp) == NULL) {
		if (d)
			closedir(d);
		return 0;
	}
	while ((de = readdir(d))) {
		char f[512], b[4096];
		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(f, sizeof(f), "/sys/block/%s/loop/backing_file", de->d_name);
		FILE *fp = fopen(f, "re");
		if (fp == NULL)
			continue;
		if (fgets(b, sizeof(b), fp)) {
			b[strcspn(b, "\n")] = '\0';
			n += strcmp(b, rp) == 0;
		}
		fclose(fp);
	}
	closedir(d);
	return n;
}

static unsigned long long blocks_sum __attribute__((unused));

static inline int
add_blocks(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)p, (void)flag, (void)f;
	blocks_sum += (unsigned long long)st->st_blocks * 512u;
	return 0;
}

/* Bytes allocated below the local root (st_blocks), and entries there. */
static inline unsigned long long
local_bytes(const struct adv *a)
{
	blocks_sum = 0;
	nftw(a->local_root, add_blocks, 16, FTW_PHYS);
	return blocks_sum;
}

static inline int
exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* A kubelet-shaped staging path (created up to its parent). */
static inline void
staging(struct adv *a, const char *tag, char *out, size_t n)
{
	char rel[300], hex[65];
	/* kubelet names the directory by the volume handle's sha256: 64
	 * lowercase hex digits; the tag, hex-encoded and padded, stands in. */
	memset(hex, '0', 64);
	hex[64] = '\0';
	for (size_t i = 0; tag[i] && i < 32; i++) {
		static const char digits[] = "0123456789abcdef";
		hex[2 * i] = digits[(unsigned char)tag[i] >> 4];
		hex[2 * i + 1] = digits[(unsigned char)tag[i] & 15];
	}
	snprintf(rel, sizeof(rel),
		 "kubelet/plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io/%s", hex);
	adv_path(a, out, n, rel);
	adv_mkdirs(out);
	size_t l = strlen(out);
	snprintf(out + l, n - l, "/globalmount");
}

static inline void
stage_req(struct ipc_msg *m, const char *id, const char *stg, uint64_t cap, const char *pass)
{
	memset(m, 0, sizeof(*m));
	m->type = IPC_REQ_STAGE_LUKS;
	snprintf(m->u.stage.volume_id, sizeof(m->u.stage.volume_id), "%s", id);
	snprintf(m->u.stage.staging_path, sizeof(m->u.stage.staging_path), "%s", stg);
	m->u.stage.capacity = cap;
	size_t n = strlen(pass);
	memcpy(m->u.stage.passphrase, pass, n);
	m->u.stage.passphrase_len = (uint32_t)n;
}

/* Send one STAGE and return the answer's error class (0: success, -1: no
 * answer). */
static inline int
stage_class(struct adv *a, const char *id, const char *stg, uint64_t cap, const char *pass,
	    char *msg, size_t msglen)
{
	struct ipc_msg req, ans;
	stage_req(&req, id, stg, cap, pass);
	if (msg)
		msg[0] = '\0';
	if (adv_call(a, &req, &ans, 120000))
		return -1;
	if (ans.type != IPC_ANS_ERROR)
		return 0;
	if (msg)
		snprintf(msg, msglen, "%s", ans.u.error.msg);
	return (int)ans.u.error.err_class;
}

#endif
