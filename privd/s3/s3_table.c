/* The S3 volumes this privd knows (s3_internal.h): one entry per staged
 * volume with its record, rclone remote name, sealed config memfd and
 * rclone pid, found by volume id under s3v_mu; and what is mounted for a
 * volume at a kubelet path or at its private mountpoint, looked up
 * symlink-free. No privileged operation here: lookups and bookkeeping. */
#define _GNU_SOURCE
#include "s3_internal.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "rclone_conf.h"
#include "s3_config.h"
#include "vfs_cache.h"

pthread_mutex_t s3v_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t s3v_cv = PTHREAD_COND_INITIALIZER;
struct s3v s3v_tab[MAX_S3_VOLUMES];
int s3v_wake;

uint64_t
s3v_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
s3v_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

void
s3_audit(const char *id, const char *op, const char *p1, const char *p2, int rc, uint64_t t0,
	 const char *detail)
{
	audit_write(&(struct audit_rec){ .op = op, .volume_id = id, .paths = { p1, p2, NULL },
		.ok = rc >= 0, .err = rc < 0 ? -rc : 0, .start_ns = t0, .detail = detail });
}

/* ---- rclone remote names --------------------------------------------------- */

/* The Go driver's cache names a volume's remote "<id>" or, after it had to
 * bump a generation, "<id>.g<N>", recorded in .vfs-names.json at the cache
 * root (contract item 18). Writes it left pending sit under that name, so
 * honour the record; every new volume is "<id>". */
void
s3v_vfs_name(const char *id, char *out, size_t outlen)
{
	char buf[65536];
	int cfd = vfs_cache_dirfd();

	snprintf(out, outlen, "%s", id);
	if (cfd < 0)
		return;
	int fd = openat(cfd, ".vfs-names.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	json_object *root = json_tokener_parse(buf), *v;
	if (root && json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, id, &v) && json_object_is_type(v, json_type_string)) {
		const char *name = json_object_get_string(v);
		if (rclone_vfs_name_valid(name, id) == 0 && strlen(name) < outlen)
			snprintf(out, outlen, "%s", name);
	}
	json_object_put(root);
}

/* ---- the table ----------------------------------------------------------- */

/* Callers hold s3v_mu. */
struct s3v *
s3v_find_locked(const char *id)
{
	for (int i = 0; i < MAX_S3_VOLUMES; i++)
		if (s3v_tab[i].used && strcmp(s3v_tab[i].rec.volume_id, id) == 0)
			return &s3v_tab[i];
	return NULL;
}

/* Is there room for volume id: it is known already, or fewer than
 * --max-s3-mounts volumes are (each has one rclone process)? */
int
s3v_room_locked(const struct privd_ctx *ctx, const char *id)
{
	int n = 0;
	for (int i = 0; i < MAX_S3_VOLUMES; i++)
		n += s3v_tab[i].used;
	return s3v_find_locked(id) != NULL || n < (int)ctx->s3->max_s3_mounts;
}

struct s3v *
s3v_add_locked(const struct ipc_stage_s3_req *rec)
{
	struct s3v *e = s3v_find_locked(rec->volume_id);
	for (int i = 0; e == NULL && i < MAX_S3_VOLUMES; i++)
		if (!s3v_tab[i].used) {
			e = &s3v_tab[i];
			memset(e, 0, sizeof(*e));
			e->conf_fd = -1;
		}
	if (e == NULL)
		return NULL;
	e->used = 1;
	e->rec = *rec;
	e->rec.passphrase_len = 0;
	explicit_bzero(e->rec.passphrase, sizeof(e->rec.passphrase));
	s3v_vfs_name(rec->volume_id, e->vfs, sizeof(e->vfs));
	return e;
}

void
s3v_drop_locked(struct s3v *e)
{
	if (e->conf_fd >= 0)
		close(e->conf_fd);
	memset(e, 0, sizeof(*e));
	e->conf_fd = -1;
}

void
s3_rclone_exited(int pid, int wstatus)
{
	pthread_mutex_lock(&s3v_mu);
	for (int i = 0; i < MAX_S3_VOLUMES; i++)
		if (s3v_tab[i].used && s3v_tab[i].pid == pid) {
			s3v_tab[i].exited = 1;
			s3v_tab[i].wstatus = wstatus;
			s3v_tab[i].pid = 0;
			if (!s3v_tab[i].unstaging)
				log_warn("rclone of volume %s (pid %d) exited; re-establishing its mount",
					 s3v_tab[i].rec.volume_id, pid);
		}
	s3v_wake = 1;
	pthread_cond_broadcast(&s3v_cv);
	pthread_mutex_unlock(&s3v_mu);
}

/* ---- mounts ---------------------------------------------------------------- */

/* What is mounted at the kubelet path (staging or target), for the
 * volume whose rclone remote is vfs: looked up symlink-free (kpath). */
enum mstate
s3v_mount_state(const struct privd_ctx *ctx, const char *path, const char *vfs, struct mnt_info *mi)
{
	int fd = s3m_kfd(ctx, path, KPATH_VOLUME, KPATH_MUST_EXIST);
	if (fd < 0)
		return M_NONE;
	enum mstate ms = s3m_fd_state(fd, "", vfs, mi, NULL);
	close(fd);
	return ms;
}

/* What is mounted at the volume's private mountpoint (rclone's own). */
enum mstate
s3v_priv_state(const struct privd_ctx *ctx, const struct s3v *e)
{
	struct mnt_info mi;
	int fd = s3m_open_private(ctx, e->rec.volume_id);
	if (fd < 0)
		return M_NONE;
	enum mstate ms = s3m_fd_state(fd, e->rec.volume_id, e->vfs, &mi, NULL);
	close(fd);
	return ms;
}

int
s3v_statvfs_ok(const char *path)
{
	struct statvfs sv;
	return statvfs(path, &sv) == 0;
}

/* Is the top mount at kubelet path (of this kind) an rclone mount of
 * volume id, whatever its state? Looked up symlink-free (kpath), so only
 * a mount really at that path counts. */
int
s3v_is_our_fuse(const struct privd_ctx *ctx, const char *id, const char *path, enum kpath_kind kind, struct mnt_info *mi)
{
	int fd = s3m_kfd(ctx, path, kind, KPATH_MUST_EXIST);
	if (fd < 0)
		return 0;
	enum mstate ms = s3m_fd_state(fd, id, NULL, mi, NULL);
	close(fd);
	return ms == M_LIVE || ms == M_DEAD;
}
