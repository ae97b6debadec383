/* The node-wide VFS-cache volume (see vfs_cache.h). Built from the same
 * steps as a local volume (vol.h): create the file, attach a loop, format
 * only a provably empty device, open, mkfs only an empty mapping. */
#define _GNU_SOURCE
#include "vfs_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "k8s_client.h"
#include "log.h"
#include "loopdev.h"
#include "luks.h"
#include "mountops.h"
#include "privd_ctx.h"
#include "rekey.h"
#include "s3_config.h"
#include "vol.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int cache_fd = -1;

static void
cache_vol(const struct privd_ctx *ctx, struct vol *v)
{
	memset(v, 0, sizeof(*v));
	v->id = VFS_CACHE_ID;
	snprintf(v->dm, sizeof(v->dm), "luks-%s", VFS_CACHE_ID);
	snprintf(v->mapper, sizeof(v->mapper), "/dev/mapper/%s", v->dm);
	snprintf(v->dir, sizeof(v->dir), "%s", ctx->s3->vfs_cache_root);
	if ((size_t)snprintf(v->file, sizeof(v->file), "%.*s/vfs-cache.luks",
			     (int)(sizeof(v->file) - 20), ctx->s3->vfs_cache_root) >= sizeof(v->file))
		v->file[0] = '\0';
}

int
vfs_cache_exists(const struct privd_ctx *ctx)
{
	struct vol v;
	cache_vol(ctx, &v);
	return access(v.file, F_OK) == 0;
}

int
vfs_cache_dirfd(void)
{
	pthread_mutex_lock(&mu);
	int fd = cache_fd;
	pthread_mutex_unlock(&mu);
	return fd;
}

/* Is the cache mount point a mount of our mapping right now? */
static int
mounted_ok(const struct privd_ctx *ctx, const struct vol *v)
{
	struct stat m, d;
	struct mnt_info mi;
	char loop[64];

	return mnt_lookup(ctx->s3->vfs_cache_mount, &mi) == 1 && stat(v->mapper, &d) == 0 &&
	       S_ISBLK(d.st_mode) && stat(ctx->s3->vfs_cache_mount, &m) == 0 &&
	       m.st_dev == d.st_rdev && mapping_is_ours(v, loop, sizeof(loop)) == 1;
}

/* The node id the passphrase uses: the one recorded when the volume was
 * made (a renamed node keeps opening its cache), else ours. */
static void
node_id_for_key(const struct privd_ctx *ctx, const struct vol *v, int creating, char *out, size_t outlen)
{
	char path[PATH_MAX + 16], buf[300];

	snprintf(out, outlen, "%s", ctx->nodeid);
	snprintf(path, sizeof(path), "%s/.node-id", v->dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			if (buf[0] && !creating)
				snprintf(out, outlen, "%s", buf);
		}
	}
}

static void
record_node_id(const struct privd_ctx *ctx, const struct vol *v)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/.node-id", v->dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || dprintf(fd, "%s\n", ctx->nodeid) < 0)
		log_warn("cannot record the node id in %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The passphrase: "<secret>-<node id>", then cut at the first newline;
 * prev the same from <key>-previous when the Secret has one (rotation,
 * README "Passphrase rotation"; prev->len 0 otherwise). */
static int
cache_passphrase(const struct privd_ctx *ctx, const struct vol *v, int creating, struct lcw_secret *pass,
		 struct lcw_secret *prev, struct ipc_msg *ans)
{
	char err[512], id[300];

	if (ctx->k8s == NULL) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "S3 volumes need the node's VFS-cache Secret (--luks-secret-name), "
				   "but this node has no Kubernetes API access configured");
		return -1;
	}
	int rc = rekey_read_pair(ctx->k8s, ctx->s3->cache_secret_namespace,
				 ctx->s3->cache_secret_name, ctx->s3->cache_secret_key, 0, pass, prev,
				 err, sizeof(err));
	if (rc != K8S_OK) {
		privd_answer_error(ans, rc == K8S_ERR_NOT_FOUND || rc == K8S_ERR_KEY_MISSING ||
						rc == K8S_ERR_FORBIDDEN
					? IPC_EC_PRECONDITION
					: IPC_EC_UNAVAILABLE,
				   0, "VFS-cache Secret %s/%s: %s", ctx->s3->cache_secret_namespace,
				   ctx->s3->cache_secret_name, err);
		return -1;
	}
	node_id_for_key(ctx, v, creating, id, sizeof(id));
	size_t il = strlen(id);
	if (pass->len + 1 + il > LCW_SECRET_MAX) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "VFS-cache Secret value is too long");
		return -1;
	}
	if (prev->len && prev->len + 1 + il <= LCW_SECRET_MAX) {
		prev->bytes[prev->len] = '-';
		memcpy(prev->bytes + prev->len + 1, id, il);
		prev->len = luks_passphrase_len(prev->bytes, prev->len + 1 + il);
	} else {
		prev->len = 0;
	}
	pass->bytes[pass->len] = '-';
	memcpy(pass->bytes + pass->len + 1, id, il);
	pass->len = luks_passphrase_len(pass->bytes, pass->len + 1 + il);
	if (pass->len == 0) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "VFS-cache Secret %s/%s key %s is empty",
				   ctx->s3->cache_secret_namespace, ctx->s3->cache_secret_name,
				   ctx->s3->cache_secret_key);
		return -1;
	}
	return 0;
}

/* --vfs-cache-size larger than the file: grow file, loop, mapping and
 * ext4 (online). Never shrinks. Failure is logged, not fatal: the cache
 * still works at its old size. */
static void
grow_if_asked(const struct privd_ctx *ctx, const struct vol *v, const char *loop, const struct lcw_secret *pass)
{
	struct stat st;
	char err[256], out[IPC_ERRMSG_MAX + 1];
	uint64_t t0 = audit_now_ns();

	if (stat(v->file, &st) || (uint64_t)st.st_size >= ctx->s3->vfs_cache_bytes)
		return;
	int fd = open(v->file, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	int rc = fd < 0 ? -errno : 0;
	if (rc == 0 && fallocate(fd, 0, 0, (off_t)ctx->s3->vfs_cache_bytes) &&
	    (errno != EOPNOTSUPP || ftruncate(fd, (off_t)ctx->s3->vfs_cache_bytes)))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		rc = loop_refresh_capacity(loop);
	if (rc == 0)
		rc = luks_resize_pass(v->dm, pass, err, sizeof(err));
	if (rc == 0) {
		int ws = ctx->tools->run_tool(IPC_REQ_RUN_GROWFS, v->id, FS_EXT4, ctx->s3->vfs_cache_mount,
					out, sizeof(out));
		rc = wait_ok(ws) ? 0 : -EIO;
	}
	audit_step(v, "grow_vfs_cache", v->file, loop, rc, t0, NULL);
	if (rc)
		log_warn("cannot grow the VFS cache to %llu bytes: %s",
			 (unsigned long long)ctx->s3->vfs_cache_bytes, strerror(-rc));
}

static int
ensure_locked(const struct privd_ctx *ctx, struct ipc_msg *ans)
{
	struct lcw_secret pass = { 0 }, prev = { 0 };
	struct vol v;
	char loop[64], err[256];
	int created = 0, attached, opened, formatted, kind, rc = -1;

	cache_vol(ctx, &v);
	if (cache_fd >= 0 && mounted_ok(ctx, &v))
		return 0;
	if (cache_fd >= 0) {
		close(cache_fd);
		cache_fd = -1;
	}
	if (mkdir(ctx->s3->vfs_cache_mount, 0700) && errno != EEXIST) {
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", ctx->s3->vfs_cache_mount);
		char *sl = strrchr(parent, '/');
		if (sl && sl != parent) {
			*sl = '\0';
			mkdir(parent, 0700);
		}
		if (mkdir(ctx->s3->vfs_cache_mount, 0700) && errno != EEXIST) {
			privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot create %s: %s",
					   ctx->s3->vfs_cache_mount, strerror(errno));
			return -1;
		}
	}
	if (!mounted_ok(ctx, &v)) {
		if (secret_alloc(&pass) || secret_alloc(&prev)) {
			privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the key");
			goto out;
		}
		int creating = !vfs_cache_exists(ctx);
		if (cache_passphrase(ctx, &v, creating, &pass, &prev, ans))
			goto out;
		if (create_backing(&v, ctx->s3->vfs_cache_bytes, &created, ans))
			goto out;
		if (created)
			record_node_id(ctx, &v);
		if (open_mapping_prev(ctx, &v, &pass, &prev, 0, &attached, &opened, &formatted, loop,
				      sizeof(loop), ans))
			goto out;
		if (ensure_fs(ctx, &v, FS_EXT4, &kind, ans))
			goto out;
		struct mnt_info mi;
		if (mnt_lookup(ctx->s3->vfs_cache_mount, &mi) != 1) {
			uint64_t t0 = audit_now_ns();
			rc = mnt_mount_device(v.mapper, ctx->s3->vfs_cache_mount, "ext4", MS_NOEXEC,
					      NULL, err, sizeof(err));
			audit_step(&v, "mount", v.mapper, ctx->s3->vfs_cache_mount, rc, t0,
				   rc ? err : "VFS cache");
			if (rc) {
				privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot mount the VFS cache: %s",
						   err);
				rc = -1;
				goto out;
			}
		}
		if (!mounted_ok(ctx, &v)) {
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "%s holds a mount that is not the VFS-cache volume",
					   ctx->s3->vfs_cache_mount);
			rc = -1;
			goto out;
		}
		grow_if_asked(ctx, &v, loop, &pass);
	}
	cache_fd = open(ctx->s3->vfs_cache_mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (cache_fd < 0) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot open the VFS cache: %s",
				   strerror(errno));
		rc = -1;
		goto out;
	}
	fchmod(cache_fd, 0700);
	rc = 0;
out:
	secret_free(&pass);
	secret_free(&prev);
	return rc;
}

int
vfs_cache_ensure(const struct privd_ctx *ctx, struct ipc_msg *ans)
{
	pthread_mutex_lock(&mu);
	int rc = ensure_locked(ctx, ans);
	pthread_mutex_unlock(&mu);
	return rc;
}
