/* Rescue of never-uploaded files across an rclone crash (see cache_rescue.h).
 * Error messages name no file: file names are the volume's data, which the
 * bucket keeps encrypted and the node's logs must not reveal. */
#define _GNU_SOURCE
#include "cache_rescue.h"
#include "rescue_tree.h"
#include "rm_tree.h"
#include "stranded.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_MAX_BYTES RT_META_MAX_BYTES
#define MAX_DEPTH RT_MAX_DEPTH
#define MAX_ENTRIES RT_MAX_ENTRIES
#define DIR_FLAGS RT_DIR_FLAGS
#define sub_open rt_sub_open
#define open_two rt_open_two
#define vfs_ok rt_vfs_ok

struct ctx {
	unsigned long count, entries;
	char *err;
	size_t errlen;
	char *buf; /* metadata, META_MAX_BYTES + 1 */
};

#define fail(c, ...) rt_fail((c)->err, (c)->errlen, __VA_ARGS__)

/* ---- the decision -------------------------------------------------------- */

int
rescue_meta_qualifies(const char *json, size_t len)
{
	struct stranded_meta m;
	struct stranded_range r[1];

	/* every dirty item, uploaded before or not: stranded.h decides, with
	 * the live mount, which may go up */
	return stranded_meta_parse(json, len, &m, r, 1) == 0 && m.dirty;
}

/* ---- stash ----------------------------------------------------------------- */

/* Copy the metadata text in c->buf to resc_meta/name (through a temporary
 * name, so a crash leaves either none or all of it). */
static int
keep_meta(struct ldir *resc_meta, const char *name, size_t len, struct ctx *c)
{
	char tmp[300];
	int dir, fd;

	if ((dir = ldir_open(resc_meta)) < 0)
		return fail(c, "cannot make a rescue metadata directory: %s", strerror(errno));
	if (snprintf(tmp, sizeof(tmp), ".lcw-tmp.%s", name) >= (int)sizeof(tmp))
		return fail(c, "an rclone cache name is too long");
	(void)unlinkat(dir, tmp, 0);
	fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(c, "cannot keep an rclone cache metadata file: %s", strerror(errno));
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, c->buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			(void)unlinkat(dir, tmp, 0);
			return fail(c, "cannot keep an rclone cache metadata file: %s",
				    strerror(errno));
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || renameat(dir, tmp, dir, name) != 0) {
		(void)unlinkat(dir, tmp, 0);
		return fail(c, "cannot keep an rclone cache metadata file: %s", strerror(errno));
	}
	return 0;
}

/* One dirty item: its metadata is copied to the rescue metadata tree, then
 * its file moved to the rescue tree, then its metadata removed. A crash
 * between any two steps is finished by the next stash: a rescued file is
 * never touched again (a cache file beside it is from an interrupted
 * restore, and goes), its kept metadata is rewritten only while the cache
 * file is still there. */
static int
stash_file(int meta, int data, struct ldir *resc, struct ldir *resc_meta, const char *name,
	   struct ctx *c)
{
	struct stat st, rs;
	size_t len;
	int r;

	if (rt_read_small(meta, name, c->buf, META_MAX_BYTES, &len) != 0) {
		if (errno == ENOENT)
			return 0;
		return fail(c, "cannot read an rclone cache metadata file: %s", strerror(errno));
	}
	if (!rescue_meta_qualifies(c->buf, len))
		return 0;
	if ((r = ldir_open(resc)) < 0)
		return fail(c, "cannot make a rescue directory: %s", strerror(errno));
	if (fstatat(r, name, &rs, AT_SYMLINK_NOFOLLOW) == 0) {
		/* a rescued copy from before: the cache one is a partial restore */
		if (!S_ISREG(rs.st_mode))
			return fail(c, "a rescued entry is not a regular file");
		if (data >= 0 && unlinkat(data, name, 0) != 0 && errno != ENOENT)
			return fail(c, "cannot drop a half-restored cache file: %s", strerror(errno));
	} else if (errno != ENOENT) {
		return fail(c, "cannot stat a rescued file: %s", strerror(errno));
	} else {
		if (data < 0 || fstatat(data, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (data < 0 || errno == ENOENT)
				return 0; /* no cache file: nothing was written to keep */
			return fail(c, "cannot stat an rclone cache file: %s", strerror(errno));
		}
		if (!S_ISREG(st.st_mode))
			return 0;
		if (keep_meta(resc_meta, name, len, c) != 0)
			return -1;
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
stash_dir(int meta, int data, struct ldir *resc, struct ldir *resc_meta, int depth,
	  struct ctx *c)
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
			struct ldir msub = { .up = resc_meta, .name = e->d_name, .fd = -1 };
			rc = stash_dir(m2, d2, &sub, &msub, depth + 1, c);
			ldir_close(&msub);
			ldir_close(&sub);
		} else if (S_ISREG(st.st_mode)) {
			rc = stash_file(dirfd(d), data, resc, resc_meta, e->d_name, c);
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
	c->buf = malloc(META_MAX_BYTES + 1);
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
	struct ldir mmid = { .up = &root, .name = RESCUE_META_DIR, .fd = -1 };
	struct ldir mmine = { .up = &mmid, .name = vfs, .fd = -1 };
	rc = stash_dir(meta, data, &mine, &mmine, 0, &c);
	ldir_close(&mmine);
	ldir_close(&mmid);
	ldir_close(&mine);
	ldir_close(&mid);
	*moved = c.count;
	free(c.buf);
	return rc;
}

/* ---- bookkeeping ------------------------------------------------------------ */

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
	*n = rt_count_files(fd, 0, &entries, &bad);
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
	static const char *const trees[] = { RESCUE_DIR, RESCUE_META_DIR };
	int top;

	if (!vfs_ok(vfs))
		return;
	for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
		if ((top = openat(cache_dirfd, trees[i], DIR_FLAGS)) < 0)
			continue;
		rm_empty_dirs(top, vfs, 0);
		close(top);
	}
}
