/* privd's handlers for S3 volumes (see s3_volume.h).
 *
 * State lives in three places, each re-checked rather than trusted:
 *  - the mount table: the staging path holds a FUSE mount of type
 *    fuse.rclone whose source is "<vfs name>:" (contract item 16);
 *  - a record per staged volume on the encrypted cache volume
 *    (lcw-volumes/<id>): the STAGE_S3 request without its passphrase,
 *    encoded with the IPC codec and checked by it when read back, so a
 *    restarted privd knows what to re-establish and where the secrets are;
 *  - this process's table: the sealed config memfd and the rclone pid.
 * No secret is ever written to a file: rclone reads its config from the
 * memfd, and after a privd restart the secrets are read from the API
 * again. */
#define _GNU_SOURCE
#include "s3_volume.h"

#include <dirent.h>
#include <json-c/json.h>
#include <linux/magic.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cache_rescue.h"
#include "k8s_client.h"
#include "pv_bind.h"
#include "keyed_lock.h"
#include "log.h"
#include "mountops.h"
#include "privd_ctx.h"
#include "s3_config.h"
#include "rclone_conf.h"
#include "rm_tree.h"
#include "s3_params.h"
#include "s3_mounts.h"
#include "s3_purge.h"
#include "vfs_cache.h"
#include "vol.h"
#include "volparams.h"

#define MAX_S3_VOLUMES 512
#define MOUNT_WAIT_MS 30000
#define DRAIN_MAX_MS 90000 /* inside the frontend's 2-minute deadline */
#define RECORD_DIR "lcw-volumes"
#define BOOT_DIR ".boot" /* in RECORD_DIR: each record's boot mark */
#define LCW_DRIVER "lukscryptwalker.csi.k8s.io"

struct s3v {
	int used;
	struct ipc_stage_s3_req rec; /* passphrase fields always empty */
	char vfs[IPC_VFSNAME_MAX + 1];
	int conf_fd; /* sealed memfd, -1 after a privd restart */
	int pid;     /* rclone we started: > 0; 0 none; -1 adopted from before */
	int exited;  /* that rclone exited */
	int wstatus;
	int unstaging;
	int dormant; /* staged before the node's last boot: only NodeStage revives it */
	uint64_t retry_at_ns; /* supervisor backoff */
	unsigned failures;
};

static pthread_mutex_t s3v_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s3v_cv = PTHREAD_COND_INITIALIZER;
static struct s3v s3v_tab[MAX_S3_VOLUMES];
static int s3v_wake;

static uint64_t
s3v_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
s3v_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void
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
static void
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
static struct s3v *
s3v_find_locked(const char *id)
{
	for (int i = 0; i < MAX_S3_VOLUMES; i++)
		if (s3v_tab[i].used && strcmp(s3v_tab[i].rec.volume_id, id) == 0)
			return &s3v_tab[i];
	return NULL;
}

/* Is there room for volume id: it is known already, or fewer than
 * --max-s3-mounts volumes are (each has one rclone process)? */
static int
s3v_room_locked(const struct privd_ctx *ctx, const char *id)
{
	int n = 0;
	for (int i = 0; i < MAX_S3_VOLUMES; i++)
		n += s3v_tab[i].used;
	return s3v_find_locked(id) != NULL || n < (int)ctx->s3->max_s3_mounts;
}

static struct s3v *
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

static void
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
static enum mstate
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
static enum mstate
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

static int
s3v_statvfs_ok(const char *path)
{
	struct statvfs sv;
	return statvfs(path, &sv) == 0;
}

/* Is the top mount at kubelet path (of this kind) an rclone mount of
 * volume id, whatever its state? Looked up symlink-free (kpath), so only
 * a mount really at that path counts. */
static int
s3v_is_our_fuse(const struct privd_ctx *ctx, const char *id, const char *path, enum kpath_kind kind, struct mnt_info *mi)
{
	int fd = s3m_kfd(ctx, path, kind, KPATH_MUST_EXIST);
	if (fd < 0)
		return 0;
	enum mstate ms = s3m_fd_state(fd, id, NULL, mi, NULL);
	close(fd);
	return ms == M_LIVE || ms == M_DEAD;
}

/* ---- records on the cache volume ------------------------------------------- */

static char boot_id_text[64];

static void
boot_id_read(void)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, boot_id_text, sizeof(boot_id_text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	boot_id_text[n > 0 ? n : 0] = '\0';
	boot_id_text[strcspn(boot_id_text, "\n")] = '\0';
}

/* This boot's id (the kernel's random boot_id), "" if unreadable. */
static const char *
boot_id(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, boot_id_read);
	return boot_id_text;
}

/* A record whose boot mark is not this boot's belongs to a mount the
 * reboot ended. Such a volume is not revived by the supervisor: while the
 * node was down its pod may have moved to another node (attachRequired is
 * false), and an rclone started here would upload this cache's stale
 * pending writes over newer data. kubelet stages it again if its pod is
 * still here; until then the cache keeps it. */
static int
record_from_previous_boot(int dirfd, const char *name)
{
	char mark[64], path[NAME_MAX + 16];
	const char *now = boot_id();
	ssize_t n = -1;
	int fd;

	if (!now[0])
		return 0; /* cannot tell: as before boot marks */
	snprintf(path, sizeof(path), BOOT_DIR "/%s", name);
	if ((fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		n = read(fd, mark, sizeof(mark) - 1);
		close(fd);
	}
	mark[n > 0 ? n : 0] = '\0';
	return strcmp(mark, now) != 0;
}

/* Write this boot's id as the record's boot mark. */
static int
boot_mark_write(int dfd, const char *id)
{
	char path[IPC_VOLID_MAX + 16];
	const char *now = boot_id();
	int fd, rc = -1;

	if (mkdirat(dfd, BOOT_DIR, 0700) && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), BOOT_DIR "/%s", id);
	fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && write(fd, now, strlen(now)) == (ssize_t)strlen(now) && fsync(fd) == 0)
		rc = 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

static int
record_dirfd(int create)
{
	int cfd = vfs_cache_dirfd();
	if (cfd < 0)
		return -1;
	if (create && mkdirat(cfd, RECORD_DIR, 0700) && errno != EEXIST)
		return -1;
	return openat(cfd, RECORD_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

static int
s3v_record_write(const struct ipc_stage_s3_req *r)
{
	static struct ipc_msg m; /* large; callers hold the volume's lock */
	static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
	uint8_t buf[IPC_MAX_DATAGRAM];
	size_t len;
	char tmp[IPC_VOLID_MAX + 16];
	int rc = -1, dfd, fd = -1;

	pthread_mutex_lock(&wmu);
	memset(&m, 0, sizeof(m));
	m.type = IPC_REQ_STAGE_S3;
	m.id = 1;
	m.u.stage_s3 = *r;
	m.u.stage_s3.passphrase_len = 0;
	explicit_bzero(m.u.stage_s3.passphrase, sizeof(m.u.stage_s3.passphrase));
	if (ipc_encode(&m, buf, sizeof(buf), &len) || (dfd = record_dirfd(1)) < 0) {
		pthread_mutex_unlock(&wmu);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), ".%s.tmp", r->volume_id);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && write(fd, buf, len) == (ssize_t)len && fsync(fd) == 0 &&
	    boot_mark_write(dfd, r->volume_id) == 0 && renameat(dfd, tmp, dfd, r->volume_id) == 0)
		rc = 0;
	if (fd >= 0)
		close(fd);
	if (rc)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	pthread_mutex_unlock(&wmu);
	return rc;
}

static void
s3v_record_remove(const char *id)
{
	char mark[IPC_VOLID_MAX + 16];
	int dfd = record_dirfd(0);
	if (dfd >= 0) {
		unlinkat(dfd, id, 0);
		snprintf(mark, sizeof(mark), BOOT_DIR "/%s", id);
		unlinkat(dfd, mark, 0);
		close(dfd);
	}
}

static int
s3v_record_exists(const char *id)
{
	int dfd = record_dirfd(0), ok = 0;
	if (dfd >= 0) {
		ok = faccessat(dfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
		close(dfd);
	}
	return ok;
}

/* Read every record into the table (after a privd start). */
static void
s3v_records_load(const struct privd_ctx *ctx)
{
	static struct ipc_msg m;
	uint8_t buf[IPC_MAX_DATAGRAM];
	struct dirent *de;
	int dfd = record_dirfd(0);

	if (dfd < 0)
		return;
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || volid_valid(de->d_name))
			continue;
		int old = record_from_previous_boot(dirfd(d), de->d_name);
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (fd >= 0)
			close(fd);
		if (n <= 0 || ipc_decode(buf, (size_t)n, IPC_FROM_FRONTEND, &m) ||
		    m.type != IPC_REQ_STAGE_S3 || strcmp(m.u.stage_s3.volume_id, de->d_name)) {
			log_warn("S3 volume record %s is unreadable; ignored", de->d_name);
			continue;
		}
		pthread_mutex_lock(&s3v_mu);
		if (s3v_find_locked(de->d_name) == NULL) {
			struct s3v *e = s3v_add_locked(&m.u.stage_s3);
			if (e) {
				struct mnt_info mi;
				e->pid = s3v_priv_state(ctx, e) == M_LIVE ||
						 s3v_mount_state(ctx, e->rec.staging_path, e->vfs, &mi) == M_LIVE
					 ? -1 : 0;
				e->dormant = old && e->pid == 0; /* no mount outlives a reboot */
				log_info("S3 volume %s was staged at %s before this start; %s",
					 e->rec.volume_id, e->rec.staging_path,
					 e->pid ? "its mount is live"
					 : e->dormant ? "that was before the node restarted: its "
							"cache waits for kubelet to stage it again"
						      : "re-establishing its mount");
			}
		}
		pthread_mutex_unlock(&s3v_mu);
	}
	closedir(d);
}

/* rclone's cache of one volume, once everything in it is uploaded. */
static void
s3v_cache_forget(const char *vfs)
{
	int cfd = vfs_cache_dirfd();
	if (cfd < 0)
		return;
	const char *sub[] = { "vfs", "vfsMeta" };
	for (int i = 0; i < 2; i++) {
		int d = openat(cfd, sub[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (d >= 0) {
			(void)rm_tree(d, vfs);
			close(d);
		}
	}
}

/* ---- secrets ---------------------------------------------------------------- */

static uint32_t
k8s_class(int rc)
{
	switch (rc) {
	case K8S_ERR_NOT_FOUND: return IPC_EC_NOT_FOUND;
	case K8S_ERR_KEY_MISSING: return IPC_EC_INVALID;
	case K8S_ERR_FORBIDDEN:
	case K8S_ERR_UNAUTHORIZED: return IPC_EC_PERMISSION;
	case K8S_ERR_INVALID_ARG:
	case K8S_ERR_VALUE_TOO_LARGE: return IPC_EC_INVALID;
	default: return IPC_EC_UNAVAILABLE;
	}
}

static int
need_api(const struct privd_ctx *ctx, const char *what, struct ipc_msg *ans)
{
	if (ctx->k8s)
		return 0;
	privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
			   "%s, but this node has no Kubernetes API access configured", what);
	return -1;
}

struct s3_fill {
	struct s3_secret *sec;
	char *err;
	size_t errlen;
};

static int
s3_fill_key(void *ud, const char *key, const void *val, size_t len)
{
	struct s3_fill *f = ud;
	/* Keys that are not S3 keys (1) are ignored, as the original did. */
	return s3_secret_set(f->sec, key, val, len, f->err, f->errlen) < 0;
}

/* The S3 credentials Secret named by s3-secret-namespace/-name, in one
 * request: every key decoded from locked memory straight into *sec. */
static int
fetch_s3_secret(const struct privd_ctx *ctx, const char *ns, const char *name, struct s3_secret *sec, struct ipc_msg *ans)
{
	char err[512] = "";
	struct s3_fill f = { sec, err, sizeof(err) };

	if (need_api(ctx, "S3 volumes read their S3 Secret from the API", ans))
		return -1;
	int r = k8s_get_secret_values(ctx->k8s, ns, name, s3_fill_key, &f, err, sizeof(err));
	if (r != K8S_OK) {
		privd_answer_error(ans, r == K8S_ERR_SHAPE ? IPC_EC_INVALID : k8s_class(r), 0,
				   "S3 Secret %s/%s: %s", ns, name, err);
		return -1;
	}
	if (s3_secret_check(sec, err, sizeof(err))) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "S3 Secret %s/%s: %s", ns, name, err);
		return -1;
	}
	return 0;
}

/* The crypt passphrase, whole (rclone crypt does not cut at a newline):
 * from the request, from the hardened-mode Secret, or, after a restart in
 * node-stage-secret mode, from the Secret the PV's nodeStageSecretRef
 * names (the provisioner copies the StorageClass's reference there). */
static int
fetch_passphrase(const struct privd_ctx *ctx, const struct ipc_stage_s3_req *r, const uint8_t *given, size_t glen,
		 struct lcw_secret *pass, struct ipc_msg *ans)
{
	char err[512], ns[IPC_K8S_NS_MAX + 1], name[IPC_K8S_NAME_MAX + 1];
	const char *key;
	int rc;

	if (glen) {
		if (secret_set(pass, given, glen)) {
			privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the key");
			return -1;
		}
		return 0;
	}
	if (need_api(ctx, "the passphrase of this S3 volume must be read from the API", ans))
		return -1;
	if (r->secret_name[0]) {
		snprintf(ns, sizeof(ns), "%s", r->secret_namespace);
		snprintf(name, sizeof(name), "%s", r->secret_name);
		key = r->secret_key;
	} else {
		int found = 0;
		rc = k8s_pv_stage_secret_ref(ctx->k8s, LCW_DRIVER, r->volume_id, ns, sizeof(ns), name,
					     sizeof(name), &found, err, sizeof(err));
		if (rc != K8S_OK) {
			privd_answer_error(ans, k8s_class(rc), 0,
					   "cannot find the PV of volume %s: %s", r->volume_id, err);
			return -1;
		}
		if (!found || !name[0]) {
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "volume %s: no PV with a nodeStageSecretRef, so its passphrase "
					   "cannot be found again", r->volume_id);
			return -1;
		}
		key = r->passphrase_key[0] ? r->passphrase_key : "passphrase";
	}
	rc = k8s_get_secret_value(ctx->k8s, ns, name, key, pass, err, sizeof(err));
	if (rc != K8S_OK) {
		privd_answer_error(ans, k8s_class(rc), 0, "passphrase Secret %s/%s: %s", ns, name, err);
		return -1;
	}
	if (pass->len == 0) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "passphrase Secret %s/%s key %s is empty", ns,
				   name, key);
		return -1;
	}
	return 0;
}

/* S3 errors found by the probe, as the classes kubelet sees. */
static uint32_t
s3_class(int rc)
{
	switch (rc) {
	case S3_ERR_AUTH: return IPC_EC_PERMISSION;
	case S3_ERR_NO_SUCH_BUCKET: return IPC_EC_PRECONDITION;
	case S3_ERR_WRONG_REGION:
	case S3_ERR_INVALID_ARG: return IPC_EC_INVALID;
	default: return IPC_EC_UNAVAILABLE;
	}
}

/* Build the sealed config memfd of one volume: secrets, probe, config. */
static int
s3v_make_config(const struct privd_ctx *ctx, const struct ipc_stage_s3_req *r, const char *vfs, const uint8_t *given, size_t glen,
	    int probe, int *conf_fd, struct ipc_msg *ans)
{
	struct lcw_secret pass = { 0 };
	struct s3_secret sec;
	struct s3_vol_params p;
	struct lcw_lockbuf b = { 0 };
	char err[512];
	int rc = -1, fd = -1;

	*conf_fd = -1;
	if (s3_secret_init(&sec) || secret_alloc(&pass)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the keys");
		goto out;
	}
	if (s3_params_from_tuning(&r->t, &p)) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "invalid rclone tuning");
		goto out;
	}
	/* The tuning does not carry the prefix: it salts password2 and
	 * places the crypt root, so it must be the request's. */
	snprintf(p.prefix, sizeof(p.prefix), "%s", r->prefix);
	if (fetch_passphrase(ctx, r, given, glen, &pass, ans) ||
	    fetch_s3_secret(ctx, r->s3_namespace, r->s3_name, &sec, ans))
		goto out;
	if (probe) {
		uint64_t t0 = audit_now_ns();
		struct s3_purge_opts po = { .connect_timeout_ms = 5000, .timeout_ms = 20000,
					    .total_timeout_ms = 30000 };
		int pr = s3_probe_volume(&sec, r->prefix, r->volume_id, &po, err, sizeof(err));
		s3_audit(r->volume_id, "s3_probe", NULL, NULL, pr == S3_OK ? 0 : -EIO, t0,
			 pr == S3_OK ? sec.bucket : err);
		if (pr != S3_OK) {
			privd_answer_error(ans, s3_class(pr), 0, "S3 (Secret %s/%s): %s", r->s3_namespace,
					   r->s3_name, err);
			goto out;
		}
	}
	if (lockbuf_alloc(&b, RCLONE_CONF_BUF_SIZE) ||
	    rclone_conf_build(vfs, r->volume_id, &p, &sec, &pass, &b, err, sizeof(err))) {
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "rclone config: %s",
				   b.p ? err : "cannot lock memory");
		goto out;
	}
	/* A sealed memfd: rclone reopens it as /proc/self/fd/3; nobody can
	 * change it afterwards, and it never touches a disk. */
	fd = memfd_create("lcw-rclone-conf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || write(fd, b.p, b.len) != (ssize_t)b.len ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "rclone config memfd: %s",
				   strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
		goto out;
	}
	*conf_fd = fd;
	rc = 0;
out:
	lockbuf_free(&b);
	s3_secret_free(&sec);
	secret_free(&pass);
	return rc;
}

/* ---- starting rclone ------------------------------------------------------ */

static int
start_rclone(const struct privd_ctx *ctx, struct s3v *e, struct ipc_msg *ans)
{
	struct ipc_run_rclone_req rr;
	char err[256];
	int rc;

	memset(&rr, 0, sizeof(rr));
	snprintf(rr.volume_id, sizeof(rr.volume_id), "%s", e->rec.volume_id);
	snprintf(rr.vfs_name, sizeof(rr.vfs_name), "%s", e->vfs);
	/* rclone mounts on privd's own directory, never on a kubelet path:
	 * the staging path only gets a bind of it (s3v_start_and_bind). */
	if ((rc = s3m_private_path(ctx, e->rec.volume_id, rr.mountpoint, sizeof(rr.mountpoint), 1))) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "rclone mountpoint: %s", strerror(-rc));
		return -1;
	}
	snprintf(rr.cache_dir, sizeof(rr.cache_dir), "%s", ctx->s3->vfs_cache_mount);
	rr.has_fs_group = e->rec.has_fs_group;
	rr.fs_group = e->rec.fs_group;
	rr.capacity = e->rec.capacity;
	rr.t = e->rec.t;

	pthread_mutex_lock(&s3v_mu);
	e->exited = 0;
	pthread_mutex_unlock(&s3v_mu);
	int pid = ctx->tools->spawn_rclone(&rr, e->conf_fd, err, sizeof(err));
	if (pid <= 0) {
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "cannot start rclone: %s", err);
		return -1;
	}
	pthread_mutex_lock(&s3v_mu);
	if (!e->exited)
		e->pid = pid;
	pthread_mutex_unlock(&s3v_mu);

	uint64_t t0 = audit_now_ns(), end = s3v_mono_ns() + (uint64_t)MOUNT_WAIT_MS * 1000000u;
	while (s3v_mono_ns() < end) {
		pthread_mutex_lock(&s3v_mu);
		int gone = e->exited, ws = e->wstatus;
		pthread_mutex_unlock(&s3v_mu);
		if (s3v_priv_state(ctx, e) == M_LIVE) {
			s3_audit(e->rec.volume_id, "rclone_mount", e->vfs, rr.mountpoint, 0, t0,
				 FUSE_TYPE);
			return 0;
		}
		if (gone) {
			s3_audit(e->rec.volume_id, "rclone_mount", e->vfs, rr.mountpoint, -EIO,
				 t0, "rclone exited");
			privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
					   "rclone exited (%s %d) before its mount of volume %s "
					   "appeared; its messages are in the driver log",
					   WIFSIGNALED(ws) ? "signal" : "status",
					   WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws),
					   e->rec.volume_id);
			return -1;
		}
		s3v_sleep_ms(100);
	}
	ctx->tools->stop_rclone(pid);
	s3_audit(e->rec.volume_id, "rclone_mount", e->vfs, rr.mountpoint, -ETIMEDOUT, t0,
		 "no mount");
	privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
			   "the rclone mount of volume %s did not appear within %d s",
			   e->rec.volume_id, MOUNT_WAIT_MS / 1000);
	return -1;
}

/* Remove the dead FUSE mounts of this volume at its private mountpoint
 * (detaching exactly the mount each fd is on). */
static void
clear_dead(const struct privd_ctx *ctx, const struct s3v *e)
{
	struct mnt_info mi;
	for (int i = 0; i < 8; i++) {
		int fd = s3m_open_private(ctx, e->rec.volume_id);
		if (fd < 0)
			return;
		int dead = s3m_fd_state(fd, e->rec.volume_id, e->vfs, &mi, NULL) == M_DEAD;
		uint64_t t0 = audit_now_ns();
		int rc = dead ? mnt_detach_fd(fd) : 1;
		close(fd);
		if (dead)
			s3_audit(e->rec.volume_id, "detach_dead_fuse", e->vfs, NULL, rc, t0, NULL);
		if (rc)
			return;
	}
}

/* Wait up to tries x 100 ms for the rclone privd started for e to exit,
 * sending it SIGTERM in round term_at. 0 once it is gone (or there was
 * none), -1 if it still runs. */
static int
s3v_wait_rclone_gone(const struct privd_ctx *ctx, struct s3v *e, int tries, int term_at)
{
	for (int i = 0; i < tries; i++) {
		pthread_mutex_lock(&s3v_mu);
		int pid = e->pid;
		pthread_mutex_unlock(&s3v_mu);
		if (pid <= 0)
			return 0;
		if (i == term_at)
			ctx->tools->stop_rclone(pid);
		s3v_sleep_ms(100);
	}
	pthread_mutex_lock(&s3v_mu);
	int pid = e->pid;
	pthread_mutex_unlock(&s3v_mu);
	return pid > 0 ? -1 : 0;
}

/* ---- never-uploaded files across a crash (cache_rescue.h) -------------------- */

/* mnt_foreach_source callback: does this mount of the volume answer? */
static int
any_live(void *ud, const char *target, const struct mnt_info *mi)
{
	(void)mi;
	*(int *)ud = s3v_statvfs_ok(target);
	return *(int *)ud;
}

/* mnt_foreach_source callback: is this a live bind of the volume at a pod's
 * publish target (kubelet's shape)? */
struct publish_probe {
	const char *kubelet_root;
	int published;
};

static int
live_publish_bind(void *ud, const char *target, const struct mnt_info *mi)
{
	struct publish_probe *p = ud;
	(void)mi;
	if (kpath_shape(p->kubelet_root, target, KPATH_TARGET, NULL, 0) == 0 && s3v_statvfs_ok(target))
		p->published = 1;
	return p->published;
}

/* Before rclone starts over this volume's cache: move its never-uploaded
 * files aside. rclone must not be running: wait for one we started.
 * Safe: renames within the encrypted cache volume only, below names
 * derived from the validated id, without following symlinks. */
static int
rescue_stash_for(const struct privd_ctx *ctx, struct s3v *e, struct ipc_msg *ans)
{
	unsigned long moved = 0;
	char err[256];

	if (s3v_wait_rclone_gone(ctx, e, 50, 0)) {
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "the previous rclone of volume %s has not exited yet",
				   e->rec.volume_id);
		return -1;
	}
	/* an rclone privd did not start (or lost track of) may still serve a
	 * bind of this volume: its cache is not ours to rearrange then */
	char src[IPC_VFSNAME_MAX + 2];
	int live = 0;
	snprintf(src, sizeof(src), "%s:", e->vfs);
	mnt_foreach_source(src, FUSE_TYPE, any_live, &live);
	if (live) {
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "an rclone of volume %s still serves one of its mounts; not "
				   "restarting it over the same cache", e->rec.volume_id);
		return -1;
	}
	uint64_t t0 = audit_now_ns();
	int rc = rescue_stash(vfs_cache_dirfd(), e->vfs, &moved, err, sizeof(err));
	if (rc || moved) {
		char d[64];
		snprintf(d, sizeof(d), "%lu never-uploaded file(s)", moved);
		s3_audit(e->rec.volume_id, "rescue_stash", e->vfs, NULL, rc ? -EIO : 0, t0,
			 rc ? err : d);
	}
	if (rc)
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "volume %s: %s", e->rec.volume_id, err);
	return rc;
}

/* Once the mount is live, before anyone uses it: write the rescued files
 * back through it. Safe: writes only inside this volume's own live
 * fuse.rclone mount (mount table and fstatfs magic), symlink-free and on
 * the mount's filesystem only; a rescued copy goes only once written. */
static int
s3v_rescue_restore_for(const struct privd_ctx *ctx, struct s3v *e, struct ipc_msg *ans)
{
	unsigned long pending = 0, done = 0;
	char err[256];
	struct statfs sf;
	struct mnt_info mi;
	int fd, rc;

	if (rescue_pending(vfs_cache_dirfd(), e->vfs, &pending, err, sizeof(err))) {
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "volume %s: %s", e->rec.volume_id, err);
		return -1;
	}
	if (pending == 0)
		return 0;
	uint64_t t0 = audit_now_ns();
	fd = open_kpath(ctx, "staging_target_path", e->rec.staging_path, KPATH_MUST_EXIST, 0, ans);
	if (fd < 0)
		return -1;
	if (s3v_mount_state(ctx, e->rec.staging_path, e->vfs, &mi) != M_LIVE || fstatfs(fd, &sf) != 0 ||
	    sf.f_type != FUSE_SUPER_MAGIC) {
		close(fd);
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "volume %s: its rclone mount went away before %lu never-uploaded "
				   "file(s) were written back",
				   e->rec.volume_id, pending);
		return -1;
	}
	rc = rescue_restore(vfs_cache_dirfd(), e->vfs, fd, &done, err, sizeof(err));
	close(fd);
	char d[80];
	snprintf(d, sizeof(d), "%lu never-uploaded file(s) written back", done);
	s3_audit(e->rec.volume_id, "rescue_restore", e->rec.staging_path, NULL, rc ? -EIO : 0, t0,
		 rc ? err : d);
	if (rc)
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "volume %s: cannot write back the files rclone had not uploaded "
				   "when it died (%s); they are kept on the cache volume, retry",
				   e->rec.volume_id, err);
	else
		log_info("S3 volume %s: %lu never-uploaded file(s) written back through the new "
			 "mount", e->rec.volume_id, done);
	return rc;
}

/* Stop the rclone we started (a stage or restore failed) and wait for it
 * to exit, so nothing touches the cache when the next attempt starts from
 * it; take its mount away. */
static void
s3v_stop_rclone(const struct privd_ctx *ctx, struct s3v *e)
{
	s3v_wait_rclone_gone(ctx, e, 50, 0);
	s3m_unmount(ctx, e->rec.volume_id, e->rec.staging_path, KPATH_STAGING);
	s3m_release_private(ctx, e->rec.volume_id, e->vfs);
}

/* Bring the volume's mount to its staging path: the kubelet directory is
 * resolved once, symlink-free (dead binds of ours there detached first);
 * rclone is started on the private mountpoint unless plive says it is
 * live there already; then the private mount is bound onto that same
 * descriptor, nodev,nosuid,noexec. An adopted live mount at the staging
 * path is left as it is. 0, or -1 with the error answered. */
static int
s3v_start_and_bind(const struct privd_ctx *ctx, struct s3v *e, int plive, struct ipc_msg *ans)
{
	enum mstate st;
	char err[256];
	int pfd, rc;

	int tfd = s3m_open_target(ctx, e->rec.volume_id, e->vfs, e->rec.staging_path, KPATH_STAGING,
				  &st, err, sizeof(err));
	if (tfd < 0) {
		privd_answer_error(ans, tfd == -EEXIST ? IPC_EC_EXISTS : IPC_EC_INTERNAL, -tfd,
				   "staging path: %s", err);
		return -1;
	}
	if (st == M_LIVE) {
		close(tfd);
		return 0;
	}
	if (!plive) {
		clear_dead(ctx, e);
		if (rescue_stash_for(ctx, e, ans) || start_rclone(ctx, e, ans)) {
			close(tfd);
			return -1;
		}
	}
	struct mnt_info mi;
	pfd = s3m_open_private(ctx, e->rec.volume_id);
	if (pfd < 0 || s3m_fd_state(pfd, e->rec.volume_id, e->vfs, &mi, NULL) != M_LIVE) {
		if (pfd >= 0)
			close(pfd);
		close(tfd);
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "the rclone mount of volume %s went away; retry", e->rec.volume_id);
		return -1;
	}
	uint64_t t0 = audit_now_ns();
	rc = mnt_bind_fd(pfd, tfd, 0, 1, e->rec.staging_path, err, sizeof(err));
	s3_audit(e->rec.volume_id, "bind_staging", e->vfs, e->rec.staging_path, rc, t0,
		 rc ? err : "nodev,nosuid,noexec");
	close(pfd);
	close(tfd);
	if (rc) {
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot bind volume %s: %s",
				   e->rec.volume_id, err);
		return -1;
	}
	return 0;
}

/* How many files of vfs this node's (open) cache holds that are not in
 * the bucket: queued uploads plus rescued files. 0, or -1 with err. */
static int
s3v_cache_pending(const char *vfs, unsigned long *n, char *err, size_t errlen)
{
	unsigned long queued = 0, rescued = 0;
	int cfd = vfs_cache_dirfd();

	*n = 0;
	if (rclone_cache_dirty(cfd, vfs, &queued, err, errlen) ||
	    rescue_pending(cfd, vfs, &rescued, err, errlen))
		return -1;
	*n = queued + rescued;
	return 0;
}

/* Does this node's cache hold data of vfs that is not in the bucket? An
 * error (or a cache not open yet) counts as yes. */
static int
s3v_cache_holds_pending(const struct privd_ctx *ctx, const char *vfs)
{
	unsigned long n = 0;
	char err[128];

	if (vfs_cache_dirfd() < 0)
		return vfs_cache_exists(ctx);
	return s3v_cache_pending(vfs, &n, err, sizeof(err)) || n;
}


/* ---- stage ---------------------------------------------------------------- */

/* STAGE_S3: mount the volume's rclone crypt remote at the staging path.
 * Safe: the staging path is below the kubelet root and opened without
 * symlinks; the S3 location and remote names derive from the validated id
 * and prefix; credentials go only into a sealed memfd rclone reads; the
 * bucket is probed before anything is mounted; the cache is on the node's
 * dm-crypt cache volume. */
void
op_stage_s3(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_stage_s3_req *r = &req->u.stage_s3;
	struct s3_vol_params p;
	struct mnt_info mi;
	char why[160];
	int dirfd, conf_fd = -1;
	struct s3v *e;

	if (volid_valid(r->volume_id) || s3_params_from_tuning(&r->t, &p) ||
	    s3_prefix_valid(r->prefix, why, sizeof(why)) || !r->s3_name[0] || !r->s3_namespace[0] ||
	    (r->passphrase_len == 0) == (r->secret_name[0] == '\0')) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "invalid S3 stage parameters");
		return;
	}
	if (pv_bind_s3(ctx, r, ans)) /* only a volume with a PV, as its PV says */
		return;
	pthread_mutex_lock(&s3v_mu);
	int room = s3v_room_locked(ctx, r->volume_id);
	pthread_mutex_unlock(&s3v_mu);
	if (!room) /* before any work; checked again when the entry is added */
		goto full;
	if ((dirfd = open_kpath(ctx, "staging_target_path", r->staging_path, KPATH_MKDIR, 0, ans)) < 0)
		return;
	close(dirfd);

	char vfs[IPC_VFSNAME_MAX + 1];
	if (vfs_cache_ensure(ctx, ans))
		return;
	s3v_vfs_name(r->volume_id, vfs, sizeof(vfs));
	enum mstate ms = s3v_mount_state(ctx, r->staging_path, vfs, &mi);
	pthread_mutex_lock(&s3v_mu);
	e = s3v_find_locked(r->volume_id);
	int have_conf = e && e->conf_fd >= 0;
	char elsewhere[IPC_PATH_MAX + 1] = "";
	if (e && strcmp(e->rec.staging_path, r->staging_path))
		snprintf(elsewhere, sizeof(elsewhere), "%s", e->rec.staging_path);
	pthread_mutex_unlock(&s3v_mu);
	if (elsewhere[0] && s3v_mount_state(ctx, elsewhere, vfs, &mi) != M_NONE) {
		privd_answer_error(ans, IPC_EC_EXISTS, 0, "volume %s is already staged at %s",
				   r->volume_id, elsewhere);
		return;
	}
	if (ms == M_LIVE && have_conf) {
		if (s3v_rescue_restore_for(ctx, e, ans) == 0) /* normally nothing to do */
			ans->type = IPC_ANS_STAGE_S3; /* already staged */
		return;
	}
	if (ms == M_FOREIGN) {
		privd_answer_error(ans, IPC_EC_EXISTS, 0, "staging path %s already holds a mount of %s",
				   r->staging_path, mi.source);
		return;
	}
	if (s3v_make_config(ctx, r, vfs, r->passphrase, r->passphrase_len, ms != M_LIVE, &conf_fd,
			ans))
		return;
	pthread_mutex_lock(&s3v_mu);
	e = s3v_room_locked(ctx, r->volume_id) ? s3v_add_locked(r) : NULL;
	if (e) {
		if (e->conf_fd >= 0)
			close(e->conf_fd);
		e->conf_fd = conf_fd;
		e->unstaging = 0;
		e->dormant = 0;
		e->failures = 0;
	}
	pthread_mutex_unlock(&s3v_mu);
	if (e == NULL) {
		close(conf_fd);
		goto full;
	}
	if (s3v_record_write(r)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno,
				   "cannot record the volume on the cache volume: %s", strerror(errno));
		goto fail;
	}
	if (ms == M_LIVE) {
		/* A mount that survived a privd restart: adopt it, now with
		 * the secrets to restart it if it dies, and finish a write-back
		 * that privd's death interrupted. */
		if (s3v_rescue_restore_for(ctx, e, ans))
			goto fail;
		ans->type = IPC_ANS_STAGE_S3;
		return;
	}
	if (s3v_start_and_bind(ctx, e, s3v_priv_state(ctx, e) == M_LIVE, ans) || s3v_rescue_restore_for(ctx, e, ans))
		goto fail;
	ans->type = IPC_ANS_STAGE_S3;
	return;
fail:
	if (ms == M_LIVE)
		return; /* an adopted mount keeps serving; the supervisor retries */
	s3v_stop_rclone(ctx, e);
	if (s3v_cache_holds_pending(ctx, e->vfs)) {
		/* its only copy is in this cache: stay known (entry, record), so
		 * the supervisor retries and NodeUnstage refuses to forget it */
		log_warn("S3 volume %s: stage failed with data still in this node's cache; "
			 "kept for a retry", r->volume_id);
		return;
	}
	pthread_mutex_lock(&s3v_mu);
	s3v_drop_locked(e);
	pthread_mutex_unlock(&s3v_mu);
	s3v_record_remove(r->volume_id);
	return;
full:
	privd_answer_error(ans, IPC_EC_EXHAUSTED, 0,
			   "this node already mounts %u S3 volumes (--max-s3-mounts)",
			   ctx->s3->max_s3_mounts);
}

/* ---- unstage ---------------------------------------------------------------- */

/* UNSTAGE of an S3 volume: wait until rclone has uploaded every written
 * file, then unmount; refuse (retryably) otherwise, so that no other node
 * mounts the prefix while uploads are in flight. Safe: unmounts only this
 * volume's own rclone mount; removes only this volume's cache entries,
 * and only after they are all uploaded. */
int
s3_unstage(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_unstage_req *r = &req->u.unstage;
	struct mnt_info mi;
	char vfs[IPC_VFSNAME_MAX + 1], err[256];
	unsigned long dirty = 0;
	uint64_t write_back_ns = S3P_DEFAULT_WRITE_BACK_NS;
	struct s3v *e;

	int ours = s3v_is_our_fuse(ctx, r->volume_id, r->staging_path, KPATH_STAGING, &mi);
	pthread_mutex_lock(&s3v_mu);
	e = s3v_find_locked(r->volume_id);
	if (e) {
		e->unstaging = 1;
		write_back_ns = e->rec.t.write_back_ns;
	}
	pthread_mutex_unlock(&s3v_mu);
	s3v_vfs_name(r->volume_id, vfs, sizeof(vfs));
	if (!ours && e == NULL) {
		if (vfs_cache_dirfd() < 0 ||
		    (!s3v_record_exists(r->volume_id) && !s3v_cache_holds_pending(ctx, vfs)))
			return 0; /* not an S3 volume here */
	}
	if (vfs_cache_ensure(ctx, ans))
		goto keep;

	uint64_t t0 = audit_now_ns();
	uint64_t bound = write_back_ns / 1000000u + 60000u;
	if (bound > DRAIN_MAX_MS)
		bound = DRAIN_MAX_MS;
	uint64_t end = s3v_mono_ns() + bound * 1000000u;
	/* files rescued from a crashed rclone go back in first (a no-op
	 * normally); the recovery retries it when the mount is not live */
	if (e && s3v_mount_state(ctx, r->staging_path, vfs, &mi) == M_LIVE && s3v_rescue_restore_for(ctx, e, ans))
		goto keep;
	for (;;) {
		enum mstate ms = s3v_mount_state(ctx, r->staging_path, vfs, &mi);
		if (s3v_cache_pending(vfs, &dirty, err, sizeof(err))) {
			privd_answer_error(ans, IPC_EC_INTERNAL, 0, "upload queue of %s: %s",
					   r->volume_id, err);
			goto keep;
		}
		if (dirty == 0)
			break;
		if (ms != M_LIVE && e && e->dormant) {
			privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
					   "volume %s has %lu file(s) written before the node "
					   "restarted that were never uploaded; they are kept in this "
					   "node's cache and are uploaded when the volume is staged on "
					   "this node again (not while it may be in use elsewhere)",
					   r->volume_id, dirty);
			goto keep;
		}
		if (ms != M_LIVE) {
			privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
					   "volume %s has %lu file(s) not yet uploaded and its rclone "
					   "is not running; privd is re-establishing the mount, retry",
					   r->volume_id, dirty);
			goto keep;
		}
		if (s3v_mono_ns() >= end) {
			char d[64];
			snprintf(d, sizeof(d), "%lu queued", dirty);
			s3_audit(r->volume_id, "drain_uploads", r->staging_path, NULL, -ETIMEDOUT, t0,
				 d);
			privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
					   "volume %s still has %lu file(s) queued for upload after %llu "
					   "s; not unmounting while uploads are pending, retry",
					   r->volume_id, dirty, (unsigned long long)bound / 1000);
			goto keep;
		}
		s3v_sleep_ms(250);
	}
	s3_audit(r->volume_id, "drain_uploads", r->staging_path, NULL, 0, t0, "queue empty");

	/* Kubelet unpublishes every pod first. A pod that still writes
	 * through a publish bind would keep rclone alive past the drain
	 * above, and its newest writes would be in the cache removed below. */
	{
		char src[IPC_VFSNAME_MAX + 2];
		struct publish_probe probe = { ctx->kubelet_root, 0 };
		snprintf(src, sizeof(src), "%s:", vfs);
		mnt_foreach_source(src, FUSE_TYPE, live_publish_bind, &probe);
		if (probe.published) {
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "volume %s is still published to a pod; unpublish it first",
					   r->volume_id);
			goto keep;
		}
	}

	/* Unmount: strict for a live mount (busy is an error), a detach for a
	 * dead one (its data is all in the cache, and uploaded); each checked
	 * by its mount id. Then rclone's own mount on the private mountpoint. */
	if (ours || s3v_mount_state(ctx, r->staging_path, vfs, &mi) != M_NONE) {
		t0 = audit_now_ns();
		int rc = s3m_unmount(ctx, r->volume_id, r->staging_path, KPATH_STAGING);
		s3_audit(r->volume_id, "unmount", r->staging_path, NULL, rc, t0, FUSE_TYPE);
		if (rc) {
			privd_answer_error(ans, rc == -EBUSY ? IPC_EC_BUSY : IPC_EC_INTERNAL, -rc,
					   "cannot unmount %s: %s", r->staging_path, strerror(-rc));
			goto keep;
		}
	}
	s3m_release_private(ctx, r->volume_id, vfs);
	/* rclone exits by itself once its mount is gone. Its cache is removed
	 * only once it is gone and nothing in it waits for upload: whatever
	 * reached rclone after the drain above stays in the cache (the
	 * supervisor mounts the volume again and uploads it). */
	if (e && s3v_wait_rclone_gone(ctx, e, 100, 99)) {
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "the rclone of volume %s has not exited yet; retry", r->volume_id);
		goto keep;
	}
	if (s3v_cache_pending(vfs, &dirty, err, sizeof(err)) || dirty) {
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "volume %s got writes while it was being unstaged; they are kept "
				   "in the cache and uploaded first, retry", r->volume_id);
		goto keep;
	}
	s3v_cache_forget(vfs);
	rescue_forget(vfs_cache_dirfd(), vfs);
	s3v_record_remove(r->volume_id);
	pthread_mutex_lock(&s3v_mu);
	if ((e = s3v_find_locked(r->volume_id)) != NULL)
		s3v_drop_locked(e);
	pthread_mutex_unlock(&s3v_mu);
	ans->type = IPC_ANS_UNSTAGE;
	return 1;
keep:
	pthread_mutex_lock(&s3v_mu);
	if ((e = s3v_find_locked(r->volume_id)) != NULL)
		e->unstaging = 0;
	s3v_wake = 1;
	pthread_cond_broadcast(&s3v_cv);
	pthread_mutex_unlock(&s3v_mu);
	return 1;
}

/* ---- publish / unpublish / expand / stats ------------------------------ */

static int
known_s3(const char *id)
{
	pthread_mutex_lock(&s3v_mu);
	int k = s3v_find_locked(id) != NULL;
	pthread_mutex_unlock(&s3v_mu);
	return k;
}

/* PUBLISH of an S3 volume: bind its live rclone mount to the target.
 * Safe: the source must be this volume's own live rclone mount (never the
 * empty directory under a dead one); both paths are below the kubelet root
 * and the target is opened without symlinks; read-only as a read-only
 * bind. */
int
s3_publish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_publish_req *r = &req->u.publish;
	struct mnt_info mi, ti;
	char err[256];
	const char *id = r->volume_id;

	/* the staging path, resolved once: the bind's source is this fd */
	int sfd = s3m_kfd(ctx, r->staging_path, KPATH_STAGING, KPATH_MUST_EXIST);
	enum mstate ss = sfd >= 0 ? s3m_fd_state(sfd, id, NULL, &mi, NULL) : M_NONE;
	if (ss != M_LIVE && ss != M_DEAD) {
		if (sfd >= 0)
			close(sfd);
		return known_s3(id) ? (privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				       "the S3 mount of volume %s is being re-established; retry",
				       id), 1)
				    : 0;
	}
	char vfs[IPC_VFSNAME_MAX + 1];
	s3v_vfs_name(id, vfs, sizeof(vfs));
	if (ss != M_LIVE) {
		close(sfd);
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "the S3 mount of volume %s is not answering; privd is "
				   "re-establishing it, retry", id);
		return 1;
	}
	unsigned long pending = 0;
	if (rescue_pending(vfs_cache_dirfd(), vfs, &pending, err, sizeof(err)) || pending) {
		/* a pod must not see (and write) the tree before it is whole */
		privd_answer_error(ans, IPC_EC_UNAVAILABLE, 0,
				   "volume %s: files its crashed rclone had not uploaded are being "
				   "written back; retry", id);
		close(sfd);
		return 1;
	}
	/* the target, resolved once (dead binds of ours there detached) */
	enum mstate ts;
	int tfd = open_kpath(ctx, "target_path", r->target_path, KPATH_MKDIR, 0, ans);
	if (tfd < 0) {
		close(sfd);
		return 1;
	}
	close(tfd); /* shape and symlink errors are answered; the fd is taken below */
	tfd = s3m_open_target(ctx, id, vfs, r->target_path, KPATH_TARGET, &ts, err, sizeof(err));
	if (tfd < 0) {
		close(sfd);
		privd_answer_error(ans, tfd == -EEXIST ? IPC_EC_EXISTS : IPC_EC_INTERNAL, -tfd,
				   "cannot publish: %s", err);
		return 1;
	}
	if (ts == M_LIVE && s3m_fd_state(tfd, id, vfs, &ti, NULL) == M_LIVE) {
		close(sfd);
		close(tfd);
		if (!!ti.readonly == !!r->readonly)
			ans->type = IPC_ANS_PUBLISH;
		else
			privd_answer_error(ans, IPC_EC_EXISTS, 0, "volume %s is already published at %s %s",
					   id, r->target_path, ti.readonly ? "read-only" : "read-write");
		return 1;
	}
	uint64_t t0 = audit_now_ns();
	/* the staged mount sfd is on, onto the directory tfd is on */
	int rc = -EAGAIN;
	if (ts == M_LIVE)
		snprintf(err, sizeof(err), "the target mount changed meanwhile; retry");
	else
		rc = mnt_bind_fd(sfd, tfd, r->readonly, 1, r->target_path, err, sizeof(err));
	close(sfd);
	close(tfd);
	s3_audit(id, "bind_mount", r->staging_path, r->target_path, rc, t0,
		 r->readonly ? "read-only" : "read-write");
	if (rc)
		privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot publish: %s", err);
	else
		ans->type = IPC_ANS_PUBLISH;
	return 1;
}

/* UNPUBLISH of an S3 volume: unmount its binds at the target (a dead one
 * by detaching), then leave the rest (the empty directory) to the common
 * path. Safe: only mounts of this volume's rclone remote are touched. */
int
s3_unpublish(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_unpublish_req *r = &req->u.unpublish;
	struct mnt_info mi;

	if (!s3v_is_our_fuse(ctx, r->volume_id, r->target_path, KPATH_TARGET, &mi))
		return 0;
	uint64_t t0 = audit_now_ns();
	/* each mount checked by its id through a symlink-free descriptor */
	int rc = s3m_unmount(ctx, r->volume_id, r->target_path, KPATH_TARGET);
	s3_audit(r->volume_id, "unmount", r->target_path, NULL, rc, t0, FUSE_TYPE);
	if (rc) {
		privd_answer_error(ans, rc == -EBUSY ? IPC_EC_BUSY : IPC_EC_INTERNAL, -rc,
				   "cannot unmount %s: %s", r->target_path, strerror(-rc));
		return 1;
	}
	return 0; /* the common path removes the directory */
}

/* EXPAND of an S3 volume: nothing to grow, the capacity is nominal. Safe:
 * touches nothing. */
int
s3_expand(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_expand_req *r = &req->u.expand;
	struct mnt_info mi;

	if (!s3v_is_our_fuse(ctx, r->volume_id, r->volume_path, KPATH_VOLUME, &mi))
		return 0;
	ans->type = IPC_ANS_EXPAND;
	ans->u.expand_ans.capacity = r->new_size;
	return 1;
}

/* STATS of an S3 volume. Safe: read-only queries. */
int
s3_stats(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_stats_req *r = &req->u.stats;
	struct ipc_stats_ans *a = &ans->u.stats_ans;
	struct mnt_info mi;
	struct statvfs sv;

	int fd = s3m_kfd(ctx, r->volume_path, KPATH_VOLUME, KPATH_MUST_EXIST);
	enum mstate ms = fd >= 0 ? s3m_fd_state(fd, r->volume_id, NULL, &mi, NULL) : M_NONE;
	if (ms != M_LIVE && ms != M_DEAD) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	memset(a, 0, sizeof(*a));
	ans->type = IPC_ANS_STATS;
	int bad = fstatvfs(fd, &sv);
	close(fd);
	if (bad) {
		a->abnormal = 1;
		snprintf(a->condition, sizeof(a->condition),
			 "the S3 mount is not answering (%s); privd is re-establishing it",
			 strerror(errno));
		return 1;
	}
	a->bytes_total = (uint64_t)sv.f_blocks * sv.f_frsize;
	a->bytes_avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	a->bytes_used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	a->inodes_total = sv.f_files;
	a->inodes_free = sv.f_favail;
	a->inodes_used = sv.f_files - sv.f_ffree;
	return 1;
}

/* ---- the supervisor ---------------------------------------------------------- */

struct rebind {
	const char *staging;
	char priv[IPC_PATH_MAX + 1];
	char targets[16][IPC_PATH_MAX + 1];
	int ro[16];
	int n;
};

static int
collect_target(void *ud, const char *target, const struct mnt_info *mi)
{
	struct rebind *rb = ud;
	if (strcmp(target, rb->staging) == 0 || strcmp(target, rb->priv) == 0 || rb->n >= 16)
		return 0;
	for (int i = 0; i < rb->n; i++)
		if (strcmp(rb->targets[i], target) == 0)
			return 0;
	snprintf(rb->targets[rb->n], sizeof(rb->targets[0]), "%s", target);
	rb->ro[rb->n++] = mi->readonly;
	return 0;
}

/* Re-establish one volume's mount in place from the persistent cache
 * (unless it is live already), write back the files rclone had not
 * uploaded, and only then bind it again where the dead one was published,
 * so pods (with HostToContainer propagation) see it again, whole. */
static void
recover(const struct privd_ctx *ctx, struct s3v *e, int live)
{
	struct ipc_msg ans;
	struct mnt_info mi;
	char src[IPC_VFSNAME_MAX + 2], err[256];
	struct rebind rb = { .staging = e->rec.staging_path };
	uint64_t t0 = audit_now_ns();

	memset(&ans, 0, sizeof(ans));
	if (e->conf_fd < 0) {
		int fd;
		if (s3v_make_config(ctx, &e->rec, e->vfs, NULL, 0, 0, &fd, &ans))
			goto failed;
		pthread_mutex_lock(&s3v_mu);
		e->conf_fd = fd;
		pthread_mutex_unlock(&s3v_mu);
	}
	snprintf(src, sizeof(src), "%s:", e->vfs);
	s3m_private_path(ctx, e->rec.volume_id, rb.priv, sizeof(rb.priv), 0);
	mnt_foreach_source(src, FUSE_TYPE, collect_target, &rb);
	if (s3v_start_and_bind(ctx, e, live, &ans))
		goto failed;
	if (s3v_rescue_restore_for(ctx, e, &ans)) {
		s3v_stop_rclone(ctx, e);
		goto failed;
	}
	/* Binds again where the dead mount was published: only kubelet's
	 * publish-target shape, each resolved once, bound through its fd. */
	int sfd = s3m_kfd(ctx, e->rec.staging_path, KPATH_STAGING, KPATH_MUST_EXIST);
	if (sfd >= 0 && s3m_fd_state(sfd, e->rec.volume_id, e->vfs, &mi, NULL) != M_LIVE) {
		close(sfd);
		sfd = -1;
	}
	for (int i = 0; sfd >= 0 && i < rb.n; i++) {
		if (kpath_shape(ctx->kubelet_root, rb.targets[i], KPATH_TARGET, err, sizeof(err)))
			continue;
		uint64_t t1 = audit_now_ns();
		int rc = s3m_bind(ctx, sfd, e->rec.volume_id, e->vfs, rb.targets[i], KPATH_TARGET, rb.ro[i],
				  err, sizeof(err));
		if (rc == 1)
			continue; /* live already */
		s3_audit(e->rec.volume_id, "rebind_mount", e->rec.staging_path, rb.targets[i], rc, t1,
			 rc ? err : (rb.ro[i] ? "read-only" : "read-write"));
	}
	if (sfd >= 0)
		close(sfd);
	s3_audit(e->rec.volume_id, "recover_mount", e->rec.staging_path, NULL, 0, t0, NULL);
	log_info("S3 volume %s: mount re-established at %s", e->rec.volume_id,
		 e->rec.staging_path);
	e->failures = 0;
	return;
failed:
	s3_audit(e->rec.volume_id, "recover_mount", e->rec.staging_path, NULL, -EIO, t0,
		 ans.u.error.msg);
	log_warn("S3 volume %s: cannot re-establish its mount yet: %s", e->rec.volume_id,
		 ans.u.error.msg);
	e->failures++;
	unsigned back = e->failures > 6 ? 64 : 1u << e->failures;
	e->retry_at_ns = s3v_mono_ns() + (uint64_t)back * 1000000000u;
}

static void
check_all(const struct privd_ctx *ctx)
{
	char ids[MAX_S3_VOLUMES][IPC_VOLID_MAX + 1];
	int n = 0;

	pthread_mutex_lock(&s3v_mu);
	for (int i = 0; i < MAX_S3_VOLUMES; i++)
		if (s3v_tab[i].used && !s3v_tab[i].unstaging && !s3v_tab[i].dormant &&
		    s3v_mono_ns() >= s3v_tab[i].retry_at_ns)
			snprintf(ids[n++], sizeof(ids[0]), "%s", s3v_tab[i].rec.volume_id);
	pthread_mutex_unlock(&s3v_mu);
	for (int i = 0; i < n; i++) {
		if (keyed_trylock(ids[i]))
			continue; /* an operation is running on it; next round */
		pthread_mutex_lock(&s3v_mu);
		struct s3v *e = s3v_find_locked(ids[i]);
		pthread_mutex_unlock(&s3v_mu);
		struct mnt_info mi;
		if (e && !e->unstaging) {
			enum mstate ms = s3v_mount_state(ctx, e->rec.staging_path, e->vfs, &mi);
			int plive = s3v_priv_state(ctx, e) == M_LIVE;
			unsigned long pending = 0;
			char err[128];
			int sfd = ms == M_NONE ? s3m_kfd(ctx, e->rec.staging_path, KPATH_STAGING,
							  KPATH_MUST_EXIST) : -1;
			if (sfd >= 0)
				close(sfd);
			if (ms == M_DEAD || (ms == M_NONE && sfd >= 0))
				recover(ctx, e, plive); /* rclone died, or only its bind is gone */
			else if (ms == M_LIVE &&
				 rescue_pending(vfs_cache_dirfd(), e->vfs, &pending, err,
						sizeof(err)) == 0 && pending)
				recover(ctx, e, 1); /* an earlier write-back did not finish */
		}
		keyed_unlock(ids[i]);
	}
}

static void *
supervisor_main(void *arg)
{
	const struct privd_ctx *ctx = arg;
	int loaded = 0;
	uint64_t next_load = 0;

	for (;;) {
		if (!loaded && s3v_mono_ns() >= next_load) {
			/* Volumes staged before this start: open the cache (it
			 * needs the API for its key) and read their records. */
			struct ipc_msg ans;
			if (!vfs_cache_exists(ctx) || ctx->k8s == NULL) {
				loaded = 1;
			} else if (vfs_cache_ensure(ctx, &ans) == 0) {
				s3v_records_load(ctx);
				loaded = 1;
			} else {
				log_warn("cannot open the VFS cache yet: %s", ans.u.error.msg);
				next_load = s3v_mono_ns() + 10ull * 1000000000u;
			}
		}
		check_all(ctx);
		pthread_mutex_lock(&s3v_mu);
		if (!s3v_wake) {
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_sec += 2;
			pthread_cond_timedwait(&s3v_cv, &s3v_mu, &dl);
		}
		s3v_wake = 0;
		pthread_mutex_unlock(&s3v_mu);
	}
	return NULL;
}

int
s3_supervisor_start(const struct privd_ctx *ctx)
{
	pthread_t t;
	/* ctx lives as long as privd (the core's static context). */
	if (pthread_create(&t, NULL, supervisor_main, (void *)ctx))
		return -1;
	pthread_detach(t);
	return 0;
}
