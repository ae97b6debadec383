/* Rescue of never-uploaded files across an rclone crash (see cache_rescue.h).
 * Error messages name no file: file names are the volume's data, which the
 * bucket keeps encrypted and the node's logs must not reveal. */
#define _GNU_SOURCE
#include "cache_rescue.h"
#include "rm_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_MAX_BYTES (1u << 20)
#define MAX_DEPTH 64
#define MAX_ENTRIES (1ul << 22)
#define COPY_CHUNK (1u << 20)
#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

struct ctx {
	unsigned long count, entries;
	char *err;
	size_t errlen;
	char *buf; /* COPY_CHUNK (also holds metadata, META_MAX_BYTES + 1) */
	dev_t dev; /* restore: the mount's filesystem */
};

static int __attribute__((format(printf, 2, 3)))
fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
vfs_ok(const char *vfs)
{
	return vfs && vfs[0] && vfs[0] != '.' && strchr(vfs, '/') == NULL;
}

/* ---- the decision -------------------------------------------------------- */

int
rescue_meta_qualifies(const char *json, size_t len)
{
	json_tokener *tok;
	json_object *o, *v;
	int dirty = 0, never_uploaded = 0;

	if (json == NULL || len == 0 || len > META_MAX_BYTES)
		return 0;
	if ((tok = json_tokener_new()) == NULL)
		return 0;
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o && json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(o, json_type_object)) {
		dirty = json_object_object_get_ex(o, "Dirty", &v) &&
			json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
		/* rclone writes "Fingerprint": "" until the first upload */
		if (!json_object_object_get_ex(o, "Fingerprint", &v) || v == NULL)
			never_uploaded = 1;
		else if (json_object_is_type(v, json_type_string))
			never_uploaded = json_object_get_string_len(v) == 0;
	}
	json_object_put(o);
	json_tokener_free(tok);
	return dirty && never_uploaded;
}

/* ---- directories created on first use ------------------------------------ */

struct ldir {
	struct ldir *up;
	const char *name;
	int fd; /* -1 until opened */
	int owned;
};

static int
ldir_open(struct ldir *d)
{
	int p;

	if (d->fd >= 0)
		return d->fd;
	if (d->up == NULL || (p = ldir_open(d->up)) < 0)
		return -1;
	if (mkdirat(p, d->name, 0700) != 0 && errno != EEXIST)
		return -1;
	d->fd = openat(p, d->name, DIR_FLAGS);
	d->owned = d->fd >= 0;
	return d->fd;
}

static void
ldir_close(struct ldir *d)
{
	if (d->owned && d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	d->owned = 0;
}

/* Open dir/name as a directory without following a symlink; -1 with
 * errno ENOENT when it is not there. */
static int
sub_open(int dir, const char *name)
{
	return dir < 0 ? (errno = ENOENT, -1) : openat(dir, name, DIR_FLAGS);
}

/* cache/first/second as a directory; -1 with the errno of the step that
 * failed (ENOENT: not there). *topfd, if given, keeps cache/first open
 * (-1 when it failed). */
static int
open_two(int cache_dirfd, const char *first, const char *second, int *topfd)
{
	int t = openat(cache_dirfd, first, DIR_FLAGS), fd = -1, keep;

	if (topfd)
		*topfd = t;
	if (t < 0)
		return -1;
	fd = openat(t, second, DIR_FLAGS);
	keep = errno;
	if (topfd == NULL)
		close(t);
	errno = keep;
	return fd;
}

/* ---- stash ----------------------------------------------------------------- */

static int
read_meta(int dir, const char *name, struct ctx *c, size_t *len)
{
	size_t got = 0;
	ssize_t n;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (got < META_MAX_BYTES && (n = read(fd, c->buf + got, META_MAX_BYTES - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	c->buf[got] = '\0';
	*len = got;
	return 0;
}

static int
stash_file(int meta, int data, struct ldir *resc, const char *name, struct ctx *c)
{
	struct stat st, rs;
	size_t len;
	int r;

	if (read_meta(meta, name, c, &len) != 0) {
		if (errno == ENOENT)
			return 0;
		return fail(c, "cannot read an rclone cache metadata file: %s", strerror(errno));
	}
	if (!rescue_meta_qualifies(c->buf, len))
		return 0;
	if (data < 0 || fstatat(data, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (data < 0 || errno == ENOENT)
			return 0; /* no cache file: nothing was written to keep */
		return fail(c, "cannot stat an rclone cache file: %s", strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	if ((r = ldir_open(resc)) < 0)
		return fail(c, "cannot make a rescue directory: %s", strerror(errno));
	if (fstatat(r, name, &rs, AT_SYMLINK_NOFOLLOW) == 0) {
		/* a rescued copy from before: the cache one is a partial restore */
		if (!S_ISREG(rs.st_mode))
			return fail(c, "a rescued entry is not a regular file");
		if (unlinkat(data, name, 0) != 0 && errno != ENOENT)
			return fail(c, "cannot drop a half-restored cache file: %s", strerror(errno));
	} else if (errno != ENOENT) {
		return fail(c, "cannot stat a rescued file: %s", strerror(errno));
	} else {
		if (renameat(data, name, r, name) != 0)
			return fail(c, "cannot move a cache file aside: %s", strerror(errno));
		c->count++;
	}
	if (unlinkat(meta, name, 0) != 0 && errno != ENOENT)
		return fail(c, "cannot remove an rclone cache metadata file: %s", strerror(errno));
	return 0;
}

/* Walk one metadata directory (meta is consumed; data may be -1 and is
 * consumed too) with the matching rescue directory. */
static int
stash_dir(int meta, int data, struct ldir *resc, int depth, struct ctx *c)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (depth > MAX_DEPTH) {
		close(meta);
		if (data >= 0)
			close(data);
		return fail(c, "rclone cache tree too deep");
	}
	if ((d = fdopendir(meta)) == NULL) {
		close(meta);
		if (data >= 0)
			close(data);
		return fail(c, "cannot read rclone cache metadata: %s", strerror(errno));
	}
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (++c->entries > MAX_ENTRIES) {
			rc = fail(c, "too many rclone cache entries");
			break;
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				rc = fail(c, "cannot stat rclone cache metadata: %s", strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int m2 = sub_open(dirfd(d), e->d_name);
			if (m2 < 0) {
				if (errno != ENOENT)
					rc = fail(c, "cannot open rclone cache metadata: %s",
						  strerror(errno));
				continue;
			}
			int d2 = sub_open(data, e->d_name);
			if (d2 < 0 && errno != ENOENT) {
				close(m2);
				rc = fail(c, "cannot open an rclone cache directory: %s",
					  strerror(errno));
				break;
			}
			struct ldir sub = { .up = resc, .name = e->d_name, .fd = -1 };
			rc = stash_dir(m2, d2, &sub, depth + 1, c);
			ldir_close(&sub);
		} else if (S_ISREG(st.st_mode)) {
			rc = stash_file(dirfd(d), data, resc, e->d_name, c);
		}
	}
	if (rc == 0 && e == NULL && errno != 0)
		rc = fail(c, "cannot read rclone cache metadata: %s", strerror(errno));
	closedir(d);
	if (data >= 0)
		close(data);
	return rc;
}

/* Set up a walk over vfs's trees; on failure nothing is left to free. */
static int
ctx_init(struct ctx *c, const char *vfs, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->err = err;
	c->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (!vfs_ok(vfs))
		return fail(c, "invalid rclone remote name");
	c->buf = malloc(COPY_CHUNK > META_MAX_BYTES ? COPY_CHUNK : META_MAX_BYTES + 1);
	return c->buf ? 0 : fail(c, "out of memory");
}

int
rescue_stash(int cache_dirfd, const char *vfs, unsigned long *moved, char *err, size_t errlen)
{
	struct ctx c;
	int meta, data, rc;

	*moved = 0;
	if (ctx_init(&c, vfs, err, errlen))
		return -1;
	if ((meta = open_two(cache_dirfd, "vfsMeta", vfs, NULL)) < 0) {
		free(c.buf);
		return errno == ENOENT ? 0 : fail(&c, "cannot open the cache metadata: %s",
						  strerror(errno));
	}
	if ((data = open_two(cache_dirfd, "vfs", vfs, NULL)) < 0 && errno != ENOENT) {
		close(meta);
		free(c.buf);
		return fail(&c, "cannot open the cache: %s", strerror(errno));
	}

	struct ldir root = { .fd = cache_dirfd };
	struct ldir mid = { .up = &root, .name = RESCUE_DIR, .fd = -1 };
	struct ldir mine = { .up = &mid, .name = vfs, .fd = -1 };
	rc = stash_dir(meta, data, &mine, 0, &c);
	ldir_close(&mine);
	ldir_close(&mid);
	*moved = c.count;
	free(c.buf);
	return rc;
}

/* ---- restore --------------------------------------------------------------- */

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
restore_file(int resc, int mnt, const char *name, const struct stat *st, struct ctx *c)
{
	struct stat os;
	ssize_t n;
	int in, out, rc = 0;

	if ((in = openat(resc, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return fail(c, "cannot open a rescued file: %s", strerror(errno));
	out = openat(mnt, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = fail(c, "cannot create a file in the mount: %s", strerror(errno));
		goto done;
	}
	if (fstat(out, &os) != 0 || !S_ISREG(os.st_mode) || os.st_dev != c->dev) {
		rc = fail(c, "a file in the mount is not on the mount's filesystem");
		goto done;
	}
	while ((n = read(in, c->buf, COPY_CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = fail(c, "cannot read a rescued file: %s", strerror(errno));
			goto done;
		}
		if (write_all(out, c->buf, (size_t)n) != 0) {
			rc = fail(c, "cannot write a file in the mount: %s", strerror(errno));
			goto done;
		}
	}
	/* best effort: rclone keeps the time as the object's modification time */
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, st->st_mtim };
	(void)futimens(out, ts);
	if (fsync(out) != 0) {
		rc = fail(c, "cannot fsync a file in the mount: %s", strerror(errno));
		goto done;
	}
	int fd = out;
	out = -1;
	if (close(fd) != 0) {
		rc = fail(c, "closing a file in the mount failed: %s", strerror(errno));
		goto done;
	}
	c->count++; /* in rclone's cache and queued for upload */
done:
	if (out >= 0)
		close(out);
	close(in);
	return rc;
}

/* Copy every rescued file below resc (consumed) to the same place below
 * mnt (borrowed). Removes nothing: the copies become the only ones only
 * once they are on disk (see rescue_restore). */
static int
restore_dir(int resc, int mnt, int depth, struct ctx *c)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (depth > MAX_DEPTH) {
		close(resc);
		return fail(c, "rescue tree too deep");
	}
	if ((d = fdopendir(resc)) == NULL) {
		close(resc);
		return fail(c, "cannot read a rescue directory: %s", strerror(errno));
	}
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		struct stat st, ms;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (++c->entries > MAX_ENTRIES) {
			rc = fail(c, "too many rescued entries");
			break;
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = fail(c, "cannot stat a rescued entry: %s", strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int r2, m2;
			if (mkdirat(mnt, e->d_name, 0755) != 0 && errno != EEXIST) {
				rc = fail(c, "cannot make a directory in the mount: %s",
					  strerror(errno));
				break;
			}
			if ((m2 = openat(mnt, e->d_name, DIR_FLAGS)) < 0) {
				rc = fail(c, "cannot open a directory in the mount: %s",
					  strerror(errno));
				break;
			}
			if (fstat(m2, &ms) != 0 || ms.st_dev != c->dev) {
				close(m2);
				rc = fail(c, "a directory in the mount is not on the mount's "
					     "filesystem");
				break;
			}
			if ((r2 = sub_open(dirfd(d), e->d_name)) < 0) {
				close(m2);
				rc = fail(c, "cannot open a rescue directory: %s", strerror(errno));
				break;
			}
			rc = restore_dir(r2, m2, depth + 1, c);
			close(m2);
		} else if (S_ISREG(st.st_mode)) {
			rc = restore_file(dirfd(d), mnt, e->d_name, &st, c);
		}
		/* anything else is not stash's: removed with the tree */
	}
	if (rc == 0 && e == NULL && errno != 0)
		rc = fail(c, "cannot read a rescue directory: %s", strerror(errno));
	closedir(d);
	return rc;
}

int
rescue_restore(int cache_dirfd, const char *vfs, int mount_dirfd, unsigned long *restored,
	       char *err, size_t errlen)
{
	struct ctx c;
	struct stat ms;
	int top, resc, rc;

	*restored = 0;
	if (ctx_init(&c, vfs, err, errlen))
		return -1;
	if ((resc = open_two(cache_dirfd, RESCUE_DIR, vfs, &top)) < 0) {
		int e = errno;
		if (top >= 0)
			close(top);
		free(c.buf);
		return e == ENOENT ? 0 : fail(&c, "cannot open the rescue directory: %s",
					      strerror(e));
	}
	if (fstat(mount_dirfd, &ms) != 0 || !S_ISDIR(ms.st_mode)) {
		close(resc);
		close(top);
		free(c.buf);
		return fail(&c, "the mount is not a directory");
	}
	c.dev = ms.st_dev;
	rc = restore_dir(resc, mount_dirfd, 0, &c);
	/* rclone fsyncs a file's data but never its metadata: put both on
	 * disk before the rescued copies go, so a power cut cannot leave
	 * rclone a cache file it would discard and no rescued copy */
	if (rc == 0 && syncfs(cache_dirfd) != 0)
		rc = fail(&c, "cannot flush the cache volume: %s", strerror(errno));
	if (rc == 0 && rm_tree(top, vfs) != 0)
		rc = fail(&c, "cannot remove the restored files' rescued copies: %s",
			  strerror(errno));
	close(top);
	*restored = c.count;
	free(c.buf);
	return rc;
}

/* ---- bookkeeping ------------------------------------------------------------ */

static unsigned long
count_files(int dir, int depth, unsigned long *entries, int *bad)
{
	DIR *d;
	struct dirent *e = NULL;
	unsigned long n = 0;

	if (depth > MAX_DEPTH || (d = fdopendir(dir)) == NULL) {
		close(dir);
		*bad = 1;
		return 0;
	}
	while (!*bad && (errno = 0, e = readdir(d)) != NULL && ++*entries <= MAX_ENTRIES) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			*bad = 1;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = sub_open(dirfd(d), e->d_name);
			if (sub < 0)
				*bad = 1;
			else
				n += count_files(sub, depth + 1, entries, bad);
		} else if (S_ISREG(st.st_mode)) {
			n++;
		}
	}
	/* an unreadable entry may hide a file: never undercount quietly */
	if (*entries > MAX_ENTRIES || (e == NULL && errno != 0))
		*bad = 1;
	closedir(d);
	return n;
}

int
rescue_pending(int cache_dirfd, const char *vfs, unsigned long *n, char *err, size_t errlen)
{
	unsigned long entries = 0;
	int bad = 0, fd;

	*n = 0;
	if (!vfs_ok(vfs)) {
		snprintf(err, errlen, "invalid rclone remote name");
		return -1;
	}
	if ((fd = open_two(cache_dirfd, RESCUE_DIR, vfs, NULL)) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot open the rescue directory: %s", strerror(errno));
		return -1;
	}
	*n = count_files(fd, 0, &entries, &bad);
	if (bad) {
		snprintf(err, errlen, "cannot read the whole rescue directory");
		return -1;
	}
	return 0;
}

static void
rm_empty_dirs(int parent, const char *name, int depth)
{
	int fd = openat(parent, name, DIR_FLAGS);
	DIR *d;
	struct dirent *e;

	if (fd < 0 || depth > MAX_DEPTH || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && e->d_type == DT_DIR)
			rm_empty_dirs(dirfd(d), e->d_name, depth + 1);
	closedir(d);
	(void)unlinkat(parent, name, AT_REMOVEDIR);
}

void
rescue_forget(int cache_dirfd, const char *vfs)
{
	int top;

	if (!vfs_ok(vfs) || (top = openat(cache_dirfd, RESCUE_DIR, DIR_FLAGS)) < 0)
		return;
	rm_empty_dirs(top, vfs, 0);
	close(top);
}
