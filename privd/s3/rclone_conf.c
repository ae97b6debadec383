/* rclone config text and mount argv for an S3 volume: see rclone_conf.h. */
#define _GNU_SOURCE
#include "rclone_conf.h"
#include "log.h"

#include "base64.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

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

/* ---- obscure / reveal -------------------------------------------------------- */

/* rclone fs/config/obscure: the fixed, public AES-256 key. */
static const uint8_t obscure_key[32] = {
	0x9c, 0x93, 0x5b, 0x48, 0x73, 0x0a, 0x55, 0x4d, 0x6b, 0xfd, 0x7c,
	0x63, 0xc8, 0x86, 0xa9, 0x2b, 0xd3, 0x90, 0x19, 0x8e, 0xb8, 0x12,
	0x8a, 0xfb, 0xf4, 0xde, 0x16, 0x2b, 0x8b, 0x95, 0xf6, 0x38,
};

/* Encode n (<= 48) bytes; n must be a multiple of 3 except for the last
 * call. Returns the number of characters written. */
static size_t
b64_chunk(const uint8_t *in, size_t n, char *out)
{
	return b64_encode(in, n, out, B64_URL, 0);
}

int
rclone_obscure(const uint8_t *in, size_t n, const uint8_t *iv16, char *out, size_t outcap,
	       size_t *outlen)
{
	uint8_t iv[16], chunk[48];
	size_t need, fill, o = 0, done = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	int rc = -1, l;

	if (n > (1u << 24) || (in == NULL && n > 0))
		return -1;
	need = RCLONE_OBSCURED_LEN(n);
	if (out == NULL || outcap < need + 1)
		return -1;
	if (iv16 != NULL) {
		memcpy(iv, iv16, 16);
	} else {
		ssize_t g = getrandom(iv, sizeof(iv), 0);
		if (g != (ssize_t)sizeof(iv))
			return -1;
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), NULL, obscure_key, iv) != 1)
		goto out;
	/* The stream is IV || ciphertext, encoded 48 bytes at a time so the
	 * only plaintext-derived scratch is this wiped stack chunk. */
	memcpy(chunk, iv, 16);
	fill = 16;
	for (;;) {
		size_t take = sizeof(chunk) - fill;
		if (take > n - done)
			take = n - done;
		if (take > 0) {
			if (EVP_EncryptUpdate(ctx, chunk + fill, &l, in + done, (int)take) != 1 ||
			    (size_t)l != take)
				goto out;
			done += take;
			fill += take;
		}
		if (fill == sizeof(chunk) || done == n) {
			o += b64_chunk(chunk, fill, out + o);
			fill = 0;
		}
		if (done == n && fill == 0)
			break;
	}
	if (o != need)
		goto out;
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	rc = 0;
out:
	explicit_bzero(chunk, sizeof(chunk));
	explicit_bzero(iv, sizeof(iv));
	EVP_CIPHER_CTX_free(ctx);
	if (rc != 0)
		explicit_bzero(out, outcap);
	return rc;
}

static int
b64_val(char c)
{
	return b64_value((unsigned char)c, B64_URL);
}

int
rclone_reveal(const char *in, size_t n, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t i, o = 0, raw;
	uint32_t acc = 0;
	int bits = 0, l;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t iv[16];
	int rc = -1;

	if (in == NULL || out == NULL || n % 4 == 1)
		return -1;
	raw = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (raw < 16 || outcap < raw)
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64_val(in[i]);
		if (v < 0)
			goto out;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (o != raw)
		goto out;
	memcpy(iv, out, 16);
	memmove(out, out + 16, raw - 16);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_ctr(), NULL, obscure_key, iv) != 1)
		goto out;
	if (raw > 16 && (EVP_DecryptUpdate(ctx, out, &l, out, (int)(raw - 16)) != 1 ||
			 (size_t)l != raw - 16))
		goto out;
	if (outlen)
		*outlen = raw - 16;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	explicit_bzero(iv, sizeof(iv));
	acc = 0;
	if (rc != 0)
		explicit_bzero(out, outcap);
	return rc;
}

/* ---- Go's json.Marshal UTF-8 handling ------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), per Go's
 * utf8.DecodeRune; 0 when invalid (then Go consumes one byte). */
static size_t
utf8_valid_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* <= U+10FFFF */
	} else
		return 0;
	if (n < need)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need;
}

int
go_json_utf8_sanitize(const uint8_t *in, size_t n, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t i = 0, o = 0;

	while (i < n) {
		size_t l = utf8_valid_len(in + i, n - i);
		if (l == 0) {
			if (o + 3 > outcap)
				goto full;
			out[o++] = 0xef;
			out[o++] = 0xbf;
			out[o++] = 0xbd;
			i++;
		} else {
			if (o + l > outcap)
				goto full;
			memcpy(out + o, in + i, l);
			o += l;
			i += l;
		}
	}
	*outlen = o;
	return 0;
full:
	explicit_bzero(out, outcap);
	return -1;
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

/* ---- mount argv --------------------------------------------------------------- */

struct argv_builder {
	struct rclone_argv *a;
	size_t used;
	bool full;
};

static void
arg(struct argv_builder *b, const char *fmt, ...)
{
	va_list ap;
	int w;
	size_t room;

	if (b->full)
		return;
	if (b->a->argc >= RCLONE_ARGV_MAX) {
		b->full = true;
		return;
	}
	room = sizeof(b->a->buf) - b->used;
	va_start(ap, fmt);
	w = vsnprintf(b->a->buf + b->used, room, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= room) {
		b->full = true;
		return;
	}
	b->a->argv[b->a->argc++] = b->a->buf + b->used;
	b->a->argv[b->a->argc] = NULL;
	b->used += (size_t)w + 1;
}

static bool
abs_path_ok(const char *p)
{
	size_t i, n;

	if (p == NULL || p[0] != '/')
		return false;
	n = strlen(p);
	if (n > 4095)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

int
rclone_mountpoint_valid(const char *mountpoint, const char *volume_id)
{
	static const char dir[] = "/rclone-mnt/";
	size_t n, v;

	if (!abs_path_ok(mountpoint) || volume_id == NULL || volid_valid(volume_id) != 0 ||
	    strstr(mountpoint, "/./") || strstr(mountpoint, "/../") || strstr(mountpoint, "//"))
		return -1;
	n = strlen(mountpoint);
	v = strlen(volume_id);
	if (n < v + sizeof(dir) - 1)
		return -1;
	return strcmp(mountpoint + n - v, volume_id) == 0 &&
			       strncmp(mountpoint + n - v - (sizeof(dir) - 1), dir, sizeof(dir) - 1) == 0
		       ? 0
		       : -1;
}

int
rclone_mount_argv(const char *vfs_name, const struct s3_vol_params *p,
		  const struct rclone_mount_opts *o, struct rclone_argv *out, char *err,
		  size_t errlen)
{
	struct argv_builder b = {.a = out};
	char d[64];
	const char *cfg;
	int um;

	memset(out, 0, sizeof(*out));
	if (p == NULL || o == NULL || vfs_name == NULL || volid_valid(vfs_name) != 0) {
		errfmt(err, errlen, "invalid rclone remote name");
		return -1;
	}
	if (!abs_path_ok(o->cache_dir) || !abs_path_ok(o->mountpoint)) {
		errfmt(err, errlen, "cache dir and mount point must be absolute paths");
		return -1;
	}
	cfg = o->config_path ? o->config_path : "/proc/self/fd/3";
	if (!abs_path_ok(cfg) || (o->rclone_path && o->rclone_path[0] == '\0')) {
		errfmt(err, errlen, "bad rclone or config path");
		return -1;
	}
	if (rclone_cache_mode_name(p->cache_mode) == NULL) {
		errfmt(err, errlen, "bad cache mode");
		return -1;
	}
	if (o->log_level && strcmp(o->log_level, "ERROR") && strcmp(o->log_level, "NOTICE") &&
	    strcmp(o->log_level, "INFO") && strcmp(o->log_level, "DEBUG")) {
		errfmt(err, errlen, "bad log level");
		return -1;
	}
	um = o->umask >= 0 ? o->umask : (o->has_fsgroup ? 0007 : 0022);
	if (um > 0777) {
		errfmt(err, errlen, "bad umask");
		return -1;
	}

	arg(&b, "%s", o->rclone_path ? o->rclone_path : "rclone");
	/* go-fuse's mount2 serves a mounted /dev/fuse descriptor named as
	 * /dev/fd/N; the mount point itself is then not rclone's business. */
	arg(&b, o->fuse_fd > 0 ? "mount2" : "mount");
	arg(&b, "%s:", vfs_name);
	if (o->fuse_fd > 0)
		arg(&b, "/dev/fd/%d", o->fuse_fd);
	else
		arg(&b, "%s", o->mountpoint);
	arg(&b, "--config");
	arg(&b, "%s", cfg);
	arg(&b, "--cache-dir");
	arg(&b, "%s", o->cache_dir);
	arg(&b, "--vfs-cache-mode");
	arg(&b, "%s", rclone_cache_mode_name(p->cache_mode));
	/* Every cache and attribute parameter goes to rclone as a flag (the
	 * original's dir-cache-time never reached it, §5.4). */
#define DUR(flag, v)                                                              \
	do {                                                                      \
		if (lcw_duration_format((v), d, sizeof(d)) != 0) {                \
			errfmt(err, errlen, "bad duration for %s", flag);            \
			return -1;                                                \
		}                                                                 \
		arg(&b, flag);                                                    \
		arg(&b, "%s", d);                                                 \
	} while (0)
	DUR("--vfs-cache-max-age", p->cache_max_age_ns);
	if (lcw_size_format(p->cache_max_size, d, sizeof(d)) != 0) {
		errfmt(err, errlen, "bad size for --vfs-cache-max-size");
		return -1;
	}
	arg(&b, "--vfs-cache-max-size");
	arg(&b, "%s", d);
	if (p->cache_poll_ns == 0) {
		errfmt(err, errlen, "cache poll interval must be > 0");
		return -1;
	}
	DUR("--vfs-cache-poll-interval", p->cache_poll_ns);
	DUR("--vfs-write-back", p->write_back_ns);
	DUR("--dir-cache-time", p->dir_cache_time_ns);
	DUR("--attr-timeout", p->attr_timeout_ns);
#undef DUR
	/* Pods run as other users than rclone (root). */
	arg(&b, "--allow-other");
	if (!o->no_server_modtime)
		arg(&b, "--use-server-modtime");
	if (o->has_fsgroup) {
		arg(&b, "--uid");
		arg(&b, "%u", o->fsgroup);
		arg(&b, "--gid");
		arg(&b, "%u", o->fsgroup);
	}
	arg(&b, "--umask");
	arg(&b, "%04o", (unsigned)um);
	if (o->disk_space_total > 0) {
		if (lcw_size_format(o->disk_space_total, d, sizeof(d)) != 0) {
			errfmt(err, errlen, "bad disk space total");
			return -1;
		}
		arg(&b, "--vfs-disk-space-total-size");
		arg(&b, "%s", d);
	}
	if (o->read_only)
		arg(&b, "--read-only");
	if (p->read_chunk_streams >= 0) {
		if (o->chunk_streams_supported) {
			arg(&b, "--vfs-read-chunk-streams");
			arg(&b, "%d", p->read_chunk_streams);
		} else if (p->read_chunk_streams > 0) {
			/* 0 (sequential) is what an rclone without the flag does. */
			out->ignored |= RCLONE_IGNORED_CHUNK_STREAMS;
		}
	}
	if (o->log_level) {
		arg(&b, "--log-level");
		arg(&b, "%s", o->log_level);
	}
	if (b.full) {
		errfmt(err, errlen, "rclone argv too long");
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

/* ---- upload drain ----------------------------------------------------------------- */

#define META_MAX_BYTES (1u << 20)
#define META_MAX_DEPTH 64
#define META_MAX_ENTRIES (1ul << 22)

struct walk {
	unsigned long dirty, entries;
	char *err;
	size_t errlen;
};

/* 1 dirty (or unreadable), 0 clean. */
static int
meta_file_dirty(int dirfd, const char *name)
{
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd, dirty = 1;
	json_object *o, *v;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : 1; /* gone: uploaded and cleaned */
	buf = malloc(META_MAX_BYTES + 1);
	if (buf == NULL) {
		close(fd);
		return 1;
	}
	while (got < META_MAX_BYTES && (n = read(fd, buf + got, META_MAX_BYTES - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	if (got < META_MAX_BYTES && (o = json_tokener_parse(buf)) != NULL) {
		if (json_object_is_type(o, json_type_object))
			dirty = json_object_object_get_ex(o, "Dirty", &v) &&
				json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
		json_object_put(o);
	}
	free(buf);
	return dirty;
}

static int
meta_walk(int dirfd, int depth, struct walk *w)
{
	DIR *d;
	struct dirent *e;
	int rc = 0, fd;

	if (depth > META_MAX_DEPTH) {
		errfmt(w->err, w->errlen, "VFS metadata tree too deep");
		close(dirfd);
		return -1;
	}
	d = fdopendir(dirfd);
	if (d == NULL) {
		errfmt(w->err, w->errlen, "cannot read VFS metadata: %s", strerror(errno));
		close(dirfd);
		return -1;
	}
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (++w->entries > META_MAX_ENTRIES) {
			errfmt(w->err, w->errlen, "too many VFS metadata entries");
			rc = -1;
			break;
		}
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;
			errfmt(w->err, w->errlen, "cannot stat VFS metadata: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				if (errno == ENOENT)
					continue;
				errfmt(w->err, w->errlen, "cannot open VFS metadata: %s", strerror(errno));
				rc = -1;
				break;
			}
			rc = meta_walk(fd, depth + 1, w);
		} else if (S_ISREG(st.st_mode)) {
			w->dirty += (unsigned long)meta_file_dirty(dirfd, e->d_name);
		}
	}
	if (rc == 0 && e == NULL && errno != 0) {
		errfmt(w->err, w->errlen, "cannot read VFS metadata: %s", strerror(errno));
		rc = -1;
	}
	closedir(d);
	return rc;
}

int
rclone_cache_dirty(int cache_dirfd, const char *vfs_name, unsigned long *dirty, char *err,
		   size_t errlen)
{
	struct walk w = {.err = err, .errlen = errlen};
	int meta, fd, rc;

	*dirty = 0;
	if (vfs_name == NULL || volid_valid(vfs_name) != 0) {
		errfmt(err, errlen, "invalid rclone remote name");
		return -1;
	}
	meta = openat(cache_dirfd, "vfsMeta", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (meta < 0) {
		if (errno == ENOENT)
			return 0;
		errfmt(err, errlen, "cannot open vfsMeta: %s", strerror(errno));
		return -1;
	}
	fd = openat(meta, vfs_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(meta);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		errfmt(err, errlen, "cannot open vfsMeta/%s: %s", vfs_name, strerror(errno));
		return -1;
	}
	rc = meta_walk(fd, 0, &w);
	*dirty = w.dirty;
	return rc;
}
