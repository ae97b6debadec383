/* Writing rescued files back through a volume's live mount, or keeping
 * them aside when they would overwrite newer data (cache_rescue.h,
 * stranded.h). Error messages name no file: file names are the volume's
 * data, which the bucket keeps encrypted and the node's logs must not
 * reveal. */
#define _GNU_SOURCE
#include "cache_rescue.h"
#include "log.h"
#include "rescue_tree.h"
#include "rm_tree.h"
#include "stranded.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

struct rctx {
	unsigned long restored, aside, entries;
	char *err;
	size_t errlen;
	char *buf; /* COPY_CHUNK, and metadata (RT_META_MAX_BYTES + 1) */
	struct stranded_range *ranges; /* STRANDED_MAX_RANGES */
	dev_t dev;                     /* the mount's filesystem */
	int cache_dirfd;
	const char *vfs;
	long now;
	char conflict_name[256]; /* <vfs>_<now>[-k], once made */
	struct ldir conflict_root, conflict_top;
};

#define fail(c, ...) rt_fail((c)->err, (c)->errlen, __VA_ARGS__)

/* ---- the conflict tree ------------------------------------------------------ */

/* lcw-conflict/<vfs>_<now> (a new directory per restore that needs one). */
static int
conflict_top(struct rctx *c)
{
	int root;

	if (c->conflict_top.fd >= 0)
		return c->conflict_top.fd;
	if ((root = ldir_open(&c->conflict_root)) < 0)
		return -1;
	for (int k = 0; k < 1000; k++) {
		int n = k ? snprintf(c->conflict_name, sizeof(c->conflict_name), "%s_%ld-%d",
				     c->vfs, c->now, k)
			  : snprintf(c->conflict_name, sizeof(c->conflict_name), "%s_%ld", c->vfs,
				     c->now);
		if (n >= (int)sizeof(c->conflict_name)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdirat(root, c->conflict_name, 0700) == 0) {
			c->conflict_top.fd = openat(root, c->conflict_name, RT_DIR_FLAGS);
			c->conflict_top.owned = c->conflict_top.fd >= 0;
			return c->conflict_top.fd;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

/* Move the rescued file (and its metadata, if kept) to the conflict
 * tree: the file first, so a crash in between loses at most the
 * metadata, never the data. */
static int
keep_aside(int resc, int rmeta, const char *name, struct ldir *cdata, struct ldir *cmeta,
	   struct rctx *c)
{
	int d;

	if (conflict_top(c) < 0 || (d = ldir_open(cdata)) < 0)
		return fail(c, "cannot make a conflict directory: %s", strerror(errno));
	if (renameat2(resc, name, d, name, RENAME_NOREPLACE) != 0)
		return fail(c, "cannot keep a conflicting file aside: %s", strerror(errno));
	c->aside++;
	if (rmeta >= 0 && (d = ldir_open(cmeta)) >= 0)
		(void)renameat2(rmeta, name, d, name, RENAME_NOREPLACE);
	return 0;
}

/* ---- writing back ------------------------------------------------------------ */

/* The mount directory d, made on first use; each directory made or
 * opened must be on the mount's filesystem. */
static int
mount_dir(struct ldir *d, struct rctx *c)
{
	struct stat st;
	int fd = ldir_open(d);

	if (fd < 0)
		return fail(c, "cannot make a directory in the mount: %s", strerror(errno));
	for (struct ldir *l = d; l && l->owned; l = l->up)
		if (fstat(l->fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_dev != c->dev)
			return fail(c, "a directory in the mount is not on the mount's filesystem");
	return fd;
}

static int
write_all_at(int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		off += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy [pos, pos + len) of in to the same place in out. */
static int
copy_span(int in, int out, uint64_t pos, uint64_t len, struct rctx *c)
{
	while (len > 0) {
		size_t want = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t n = pread(in, c->buf, want, (off_t)pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(c, "cannot read a rescued file: %s",
				    n < 0 ? strerror(errno) : "shorter than recorded");
		if (write_all_at(out, c->buf, (size_t)n, (off_t)pos) != 0)
			return fail(c, "cannot write a file in the mount: %s", strerror(errno));
		pos += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* Do the kept file's ranges all lie within what it holds? (A file rclone
 * wrote over an object holds only the ranges its metadata lists.) */
static int
ranges_present(const struct stranded_meta *m, const struct stranded_range *r, off_t have)
{
	if (!m->ranges_ok || !m->size_ok || !m->mtime_ok)
		return 0;
	for (size_t i = 0; i < m->nranges; i++) {
		uint64_t end = r[i].pos + r[i].size;
		if (end > m->size)
			end = m->size;
		if (r[i].pos < end && end > (uint64_t)have)
			return 0;
	}
	return 1;
}

/* Write one rescued file back: whole (never uploaded) or its ranges over
 * the unchanged object; set its time; fsync and close (rclone queues it). */
static int
write_back(int resc, const char *name, const struct stat *st, const struct stranded_meta *m,
	   int mnt, struct rctx *c)
{
	int over = m && m->had_object;
	struct stat os;
	int in, out, rc = 0;

	if ((in = openat(resc, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return fail(c, "cannot open a rescued file: %s", strerror(errno));
	out = openat(mnt, name,
		     over ? O_WRONLY | O_NOFOLLOW | O_CLOEXEC
			  : O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		     0644);
	if (out < 0) {
		rc = fail(c, "cannot open a file in the mount: %s", strerror(errno));
		goto done;
	}
	if (fstat(out, &os) != 0 || !S_ISREG(os.st_mode) || os.st_dev != c->dev) {
		rc = fail(c, "a file in the mount is not on the mount's filesystem");
		goto done;
	}
	if (over) {
		for (size_t i = 0; rc == 0 && i < m->nranges; i++) {
			uint64_t end = c->ranges[i].pos + c->ranges[i].size;
			if (end > m->size)
				end = m->size;
			if (c->ranges[i].pos < end)
				rc = copy_span(in, out, c->ranges[i].pos, end - c->ranges[i].pos, c);
		}
		if (rc == 0 && ftruncate(out, (off_t)m->size) != 0)
			rc = fail(c, "cannot size a file in the mount: %s", strerror(errno));
	} else {
		rc = copy_span(in, out, 0, (uint64_t)st->st_size, c);
	}
	if (rc)
		goto done;
	/* rclone keeps the time as the object's modification time */
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
				  m && m->mtime_ok ? m->mtime : st->st_mtim };
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
	c->restored++; /* in rclone's cache and queued for upload */
done:
	if (out >= 0)
		close(out);
	/* a new file half written goes, so the retry finds nothing there
	 * rather than a "newer" object; a write over an object cannot be
	 * undone (rclone has it): the retry keeps the file aside */
	if (rc && !over)
		(void)unlinkat(mnt, name, 0);
	close(in);
	return rc;
}

/* One rescued file: decide (stranded.h), then write it back or keep it
 * aside. blocked: something that is not a directory stands in the mount
 * where one of the file's directories should be. */
static int
restore_file(int resc, int rmeta, const char *name, const struct stat *st, struct ldir *mnt,
	     int blocked, struct ldir *cdata, struct ldir *cmeta, struct rctx *c)
{
	struct stranded_meta mbuf, *m = NULL;
	struct stat rs;
	size_t len;
	int remote = 0, conflict = blocked;

	if (rmeta >= 0 && rt_read_small(rmeta, name, c->buf, RT_META_MAX_BYTES, &len) == 0) {
		m = &mbuf;
		if (stranded_meta_parse(c->buf, len, m, c->ranges, STRANDED_MAX_RANGES) != 0)
			conflict = 1; /* kept, but unreadable now: decide nothing */
	} else if (rmeta >= 0 && errno != ENOENT) {
		return fail(c, "cannot read a rescued file's metadata: %s", strerror(errno));
	}
	if (!conflict && mnt->fd >= 0) {
		if (fstatat(mnt->fd, name, &rs, AT_SYMLINK_NOFOLLOW) == 0)
			remote = 1;
		else if (errno != ENOENT)
			return fail(c, "cannot look a file up in the mount: %s", strerror(errno));
	}
	const char *why = blocked ? "a non-directory stands in its path" : conflict ? "metadata unreadable" : NULL;
	if (!conflict && stranded_decide(m, st, remote ? &rs : NULL) == STRANDED_CONFLICT) {
		conflict = 1;
		why = "the object changed";
	}
	if (!conflict && m && m->had_object && !ranges_present(m, c->ranges, st->st_size)) {
		conflict = 1; /* the cache file lacks what its metadata lists */
		why = "the cache file lacks ranges its metadata lists";
	}
	if (conflict) {
		/* sizes and times only: never the file's name */
		log_info("%s: a stranded file kept aside: %s (local %lld bytes; object %s %lld "
			 "bytes, mtime %lld.%09ld; recorded %s %llu bytes, %lld.%09ld; meta size %llu, "
			 "mtime %lld.%09ld)", c->vfs, why, (long long)st->st_size,
			 remote ? "present" : "absent", remote ? (long long)rs.st_size : -1LL,
			 remote ? (long long)rs.st_mtim.tv_sec : 0LL, remote ? rs.st_mtim.tv_nsec : 0L,
			 m && m->had_object ? "object" : "none",
			 m && m->fp_ok ? (unsigned long long)m->fp_size : 0ULL,
			 m && m->fp_ok ? (long long)m->fp_mtime.tv_sec : 0LL,
			 m && m->fp_ok ? m->fp_mtime.tv_nsec : 0L,
			 m && m->size_ok ? (unsigned long long)m->size : 0ULL,
			 m && m->mtime_ok ? (long long)m->mtime.tv_sec : 0LL,
			 m && m->mtime_ok ? m->mtime.tv_nsec : 0L);
		return keep_aside(resc, rmeta, name, cdata, cmeta, c);
	}
	int dir = mount_dir(mnt, c);
	return dir < 0 ? -1 : write_back(resc, name, st, m, dir, c);
}

/* Every rescued file below resc (consumed), with its kept metadata below
 * rmeta (consumed; -1 when none), to the same place below mnt. Removes
 * nothing: the rescued copies go only once all are on disk. */
static int
restore_dir(int resc, int rmeta, struct ldir *mnt, int blocked, struct ldir *cdata,
	    struct ldir *cmeta, int depth, struct rctx *c)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (depth > RT_MAX_DEPTH || (d = fdopendir(resc)) == NULL) {
		close(resc);
		if (rmeta >= 0)
			close(rmeta);
		return fail(c, depth > RT_MAX_DEPTH ? "rescue tree too deep"
						    : "cannot read a rescue directory");
	}
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (++c->entries > RT_MAX_ENTRIES) {
			rc = fail(c, "too many rescued entries");
			break;
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = fail(c, "cannot stat a rescued entry: %s", strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int r2 = rt_sub_open(dirfd(d), e->d_name);
			if (r2 < 0) {
				rc = fail(c, "cannot open a rescue directory: %s", strerror(errno));
				break;
			}
			struct ldir msub = { .up = mnt, .name = e->d_name, .fd = -1, .mode = 0755 };
			int sub_blocked = blocked;
			if (!blocked && mnt->fd >= 0) {
				msub.fd = rt_sub_open(mnt->fd, e->d_name);
				msub.owned = msub.fd >= 0;
				if (msub.fd < 0 && errno != ENOENT)
					sub_blocked = 1; /* a file (or worse) where our directory was */
			}
			struct ldir csub = { .up = cdata, .name = e->d_name, .fd = -1 };
			struct ldir cmsub = { .up = cmeta, .name = e->d_name, .fd = -1 };
			rc = restore_dir(r2, rt_sub_open(rmeta, e->d_name), &msub, sub_blocked, &csub,
					 &cmsub, depth + 1, c);
			ldir_close(&cmsub);
			ldir_close(&csub);
			ldir_close(&msub);
		} else if (S_ISREG(st.st_mode)) {
			rc = restore_file(dirfd(d), rmeta, e->d_name, &st, mnt, blocked, cdata, cmeta,
					  c);
		}
		/* anything else is not stash's: removed with the tree */
	}
	if (rc == 0 && e == NULL && errno != 0)
		rc = fail(c, "cannot read a rescue directory: %s", strerror(errno));
	closedir(d);
	if (rmeta >= 0)
		close(rmeta);
	return rc;
}

int
rescue_restore(int cache_dirfd, const char *vfs, int mount_dirfd, long now,
	       unsigned long *restored, unsigned long *kept_aside, char *err, size_t errlen)
{
	struct rctx c = { .err = err, .errlen = errlen, .cache_dirfd = cache_dirfd, .vfs = vfs,
			  .now = now };
	struct stat ms;
	int top, mtop = -1, resc, rc;

	*restored = *kept_aside = 0;
	if (err && errlen)
		err[0] = '\0';
	if (!rt_vfs_ok(vfs))
		return fail(&c, "invalid rclone remote name");
	if ((resc = rt_open_two(cache_dirfd, RESCUE_DIR, vfs, &top)) < 0) {
		int e = errno;
		if (top >= 0)
			close(top);
		return e == ENOENT ? 0 : fail(&c, "cannot open the rescue directory: %s",
					      strerror(e));
	}
	if (fstat(mount_dirfd, &ms) != 0 || !S_ISDIR(ms.st_mode)) {
		close(resc);
		close(top);
		return fail(&c, "the mount is not a directory");
	}
	c.dev = ms.st_dev;
	c.buf = malloc(COPY_CHUNK > RT_META_MAX_BYTES ? COPY_CHUNK : RT_META_MAX_BYTES + 1);
	c.ranges = calloc(STRANDED_MAX_RANGES, sizeof(*c.ranges));
	if (c.buf == NULL || c.ranges == NULL) {
		free(c.buf);
		free(c.ranges);
		close(resc);
		close(top);
		return fail(&c, "out of memory");
	}
	int rmeta = rt_open_two(cache_dirfd, RESCUE_META_DIR, vfs, &mtop);
	struct ldir root = { .fd = cache_dirfd };
	c.conflict_root = (struct ldir){ .up = &root, .name = CONFLICT_DIR, .fd = -1 };
	c.conflict_top = (struct ldir){ .fd = -1 };
	struct ldir cdata = { .up = &c.conflict_top, .name = "vfs", .fd = -1 };
	struct ldir cmeta = { .up = &c.conflict_top, .name = "vfsMeta", .fd = -1 };
	struct ldir mnt = { .fd = mount_dirfd };
	rc = restore_dir(resc, rmeta, &mnt, 0, &cdata, &cmeta, 0, &c);
	ldir_close(&cmeta);
	ldir_close(&cdata);
	ldir_close(&c.conflict_top);
	ldir_close(&c.conflict_root);
	/* rclone fsyncs a file's data but never its metadata: put both on
	 * disk (and the moves aside) before the rescued copies go, so a power
	 * cut cannot leave rclone a cache file it would discard and no
	 * rescued copy */
	if (rc == 0 && syncfs(cache_dirfd) != 0)
		rc = fail(&c, "cannot flush the cache volume: %s", strerror(errno));
	if (rc == 0 && rm_tree(top, vfs) != 0)
		rc = fail(&c, "cannot remove the restored files' rescued copies: %s",
			  strerror(errno));
	if (rc == 0 && mtop >= 0)
		(void)rm_tree(mtop, vfs); /* metadata of files gone: harmless if left */
	if (mtop >= 0)
		close(mtop);
	close(top);
	*restored = c.restored;
	*kept_aside = c.aside;
	free(c.buf);
	free(c.ranges);
	return rc;
}

long
rescue_conflicts(int cache_dirfd, const char *vfs)
{
	unsigned long entries = 0, n = 0;
	size_t vl;
	int bad = 0, top;
	DIR *d;
	struct dirent *e;

	if (!rt_vfs_ok(vfs))
		return -1;
	if ((top = openat(cache_dirfd, CONFLICT_DIR, RT_DIR_FLAGS)) < 0)
		return errno == ENOENT ? 0 : -1;
	if ((d = fdopendir(top)) == NULL) {
		close(top);
		return -1;
	}
	vl = strlen(vfs);
	while (!bad && (e = readdir(d)) != NULL && ++entries <= RT_MAX_ENTRIES) {
		/* <vfs>_<time>[-k]: no volume id (so no remote name) holds a
		 * '_', so no other volume's directory starts with "<vfs>_" */
		if (strncmp(e->d_name, vfs, vl) != 0 || e->d_name[vl] != '_')
			continue;
		int t = rt_sub_open(dirfd(d), e->d_name);
		int v = t >= 0 ? rt_sub_open(t, "vfs") : -1;
		if (t >= 0)
			close(t);
		if (v >= 0)
			n += rt_count_files(v, 0, &entries, &bad);
	}
	closedir(d);
	return bad || entries > RT_MAX_ENTRIES ? -1 : (long)n;
}
