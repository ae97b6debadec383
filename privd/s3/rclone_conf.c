/* The rclone config text of an S3 volume (rclone_conf.h), built in locked
 * memory: the locked buffers, the remote names and S3 path, and the text.
 * rclone's "obscure" and Go's UTF-8 handling of the passphrase are in
 * rclone_obscure.c, the mount argv in rclone_argv.c, the upload-queue
 * count in rclone_dirty.c. Pure apart from mmap/mlock and the getrandom of
 * obscure; no secret leaves the caller's locked memory. */
#define _GNU_SOURCE
#include "rclone_conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "volparams.h"

/* ---- locked buffers -------------------------------------------------------- */

int
lockbuf_alloc(struct lcw_lockbuf *b, size_t cap)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t ps = pg > 0 ? (size_t)pg : 4096u;
	void *p;

	memset(b, 0, sizeof(*b));
	if (cap == 0 || cap > (64u << 20)) {
		errno = EINVAL;
		return -1;
	}
	cap = (cap + ps - 1) / ps * ps;
	p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (mlock(p, cap) || madvise(p, cap, MADV_DONTDUMP)) {
		int e = errno;
		munmap(p, cap);
		errno = e;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	b->len = 0;
	return 0;
}

void
lockbuf_free(struct lcw_lockbuf *b)
{
	if (b->p != NULL) {
		explicit_bzero(b->p, b->cap);
		munlock(b->p, b->cap);
		munmap(b->p, b->cap);
	}
	b->p = NULL;
	b->cap = 0;
	b->len = 0;
}

/* ---- names ------------------------------------------------------------------ */

int
rclone_vfs_name_valid(const char *vfs_name, const char *volid)
{
	size_t n;
	const char *g;
	unsigned v = 0;

	if (vfs_name == NULL || volid == NULL || volid_valid(volid) != 0)
		return -1;
	n = strlen(volid);
	if (strncmp(vfs_name, volid, n) != 0)
		return -1;
	if (vfs_name[n] == '\0')
		return 0;
	g = vfs_name + n;
	if (strncmp(g, ".g", 2) != 0)
		return -1;
	g += 2;
	if (*g < '1' || *g > '9')
		return -1;
	while (*g >= '0' && *g <= '9' && v <= 16)
		v = v * 10 + (unsigned)(*g++ - '0');
	return (*g == '\0' && v >= 1 && v <= 16) ? 0 : -1;
}

int
s3_volume_path(const char *bucket, const char *prefix, const char *volid, char *out,
	       size_t outlen)
{
	int w;

	if (bucket == NULL || bucket[0] == '\0' || strchr(bucket, '/') != NULL ||
	    volid == NULL || volid_valid(volid) != 0 || prefix == NULL ||
	    s3_prefix_valid(prefix, NULL, 0) != 0)
		return -1;
	if (prefix[0] != '\0')
		w = snprintf(out, outlen, "%s/%s/volumes/%s", bucket, prefix, volid);
	else
		w = snprintf(out, outlen, "%s/volumes/%s", bucket, volid);
	return (w < 0 || (size_t)w >= outlen) ? -1 : 0;
}

/* ---- config text --------------------------------------------------------------- */

struct writer {
	char *p;
	size_t cap; /* bytes usable for text, NUL included */
	size_t len;
	bool full;
};

static void
w_put(struct writer *w, const char *s, size_t n)
{
	if (w->full || w->len + n + 1 > w->cap) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void
w_str(struct writer *w, const char *s)
{
	w_put(w, s, strlen(s));
}

static void
w_kv(struct writer *w, const char *k, const char *v)
{
	w_str(w, k);
	w_str(w, " = ");
	w_str(w, v);
	w_str(w, "\n");
}

/* Obscure in place into the writer as "key = <obscured>\n". */
static int
w_obscured(struct writer *w, const char *k, const uint8_t *v, size_t n)
{
	size_t olen, room;

	w_str(w, k);
	w_str(w, " = ");
	if (w->full)
		return -1;
	room = w->cap - w->len;
	if (rclone_obscure(v, n, NULL, w->p + w->len, room, &olen) != 0) {
		w->full = true;
		return -1;
	}
	w->len += olen;
	w_str(w, "\n");
	return w->full ? -1 : 0;
}

int
rclone_conf_build(const char *vfs_name, const char *volid, const struct s3_vol_params *p,
		  const struct s3_secret *s, const struct lcw_secret *passphrase,
		  struct lcw_lockbuf *out, char *err, size_t errlen)
{
	char remote[S3P_BUCKET_MAX + S3P_PREFIX_MAX + VOLID_MAX + 64];
	char s3name[VOLID_MAX + 16];
	const char *salt;
	size_t salt_len, scratch_need, l1, l2;
	uint8_t *scratch;
	struct writer w;
	int rc = -1;

	if (out == NULL || out->p == NULL) {
		errfmt(err, errlen, "no output buffer");
		return -1;
	}
	out->len = 0;
	if (rclone_vfs_name_valid(vfs_name, volid) != 0) {
		errfmt(err, errlen, "invalid rclone remote name for volume");
		return -1;
	}
	if (p == NULL || s3_prefix_valid(p->prefix, NULL, 0) != 0) {
		errfmt(err, errlen, "invalid s3-path-prefix");
		return -1;
	}
	if (s == NULL || s3_secret_check(s, err, errlen) != 0)
		return -1;
	if (s->secret_access_key.bytes == NULL) {
		errfmt(err, errlen, "S3 secret access key not loaded");
		return -1;
	}
	if (passphrase == NULL || passphrase->bytes == NULL || passphrase->len == 0 ||
	    passphrase->len > LCW_SECRET_MAX) {
		/* rclone crypt refuses an empty password too */
		errfmt(err, errlen, "passphrase missing or empty");
		return -1;
	}
	if (s3_volume_path(s->bucket, p->prefix, volid, remote, sizeof(remote) - 8) != 0) {
		errfmt(err, errlen, "S3 volume path too long or invalid");
		return -1;
	}
	strcat(remote, "/files");
	snprintf(s3name, sizeof(s3name), "%s-s3", vfs_name);

	/* password2's salt: the prefix when set, else the volume id. */
	salt = p->prefix[0] != '\0' ? p->prefix : volid;
	salt_len = strlen(salt);
	scratch_need = 3 * passphrase->len + 1 + salt_len;
	if (out->cap < scratch_need + 4096) {
		errfmt(err, errlen, "config buffer too small");
		return -1;
	}
	scratch = out->p + out->cap - scratch_need;
	if (go_json_utf8_sanitize(passphrase->bytes, passphrase->len, scratch, scratch_need, &l1) !=
	    0) {
		errfmt(err, errlen, "internal error sanitising the passphrase");
		goto done;
	}
	scratch[l1] = '-';
	memcpy(scratch + l1 + 1, salt, salt_len);
	l2 = l1 + 1 + salt_len;

	w.p = (char *)out->p;
	w.cap = out->cap - scratch_need;
	w.len = 0;
	w.full = false;

	w_str(&w, "# lukscryptwalker-csi: generated for one rclone process; never stored\n");
	w_str(&w, "[");
	w_str(&w, s3name);
	w_str(&w, "]\n");
	w_kv(&w, "type", "s3");
	w_kv(&w, "provider", s->endpoint[0] != '\0' ? "Other" : "AWS");
	w_kv(&w, "env_auth", "false");
	w_kv(&w, "access_key_id", s->access_key_id);
	w_str(&w, "secret_access_key = ");
	w_put(&w, (const char *)s->secret_access_key.bytes, s->secret_access_key.len);
	w_str(&w, "\n");
	if (s->region[0] != '\0')
		w_kv(&w, "region", s->region);
	if (s->endpoint[0] != '\0')
		w_kv(&w, "endpoint", s->endpoint);
	if (s->force_path_style)
		w_kv(&w, "force_path_style", "true");
	w_str(&w, "\n[");
	w_str(&w, vfs_name);
	w_str(&w, "]\n");
	w_kv(&w, "type", "crypt");
	w_str(&w, "remote = ");
	w_str(&w, s3name);
	w_str(&w, ":");
	w_str(&w, remote);
	w_str(&w, "\n");
	w_kv(&w, "filename_encryption", "standard");
	w_kv(&w, "directory_name_encryption", "true");
	if (w_obscured(&w, "password", scratch, l1) != 0 ||
	    w_obscured(&w, "password2", scratch, l2) != 0 || w.full) {
		errfmt(err, errlen, "config buffer too small");
		goto done;
	}
	out->len = w.len;
	rc = 0;
done:
	explicit_bzero(scratch, scratch_need);
	if (rc != 0) {
		explicit_bzero(out->p, out->cap);
		out->len = 0;
	}
	return rc;
}
