/* What the node's encrypted cache volume holds for each S3 volume: its
 * record (lcw-volumes/<id>: the STAGE_S3 request without its passphrase,
 * encoded with the IPC codec and checked by it when read back) with the
 * boot it was written in, and rclone's cache of the volume. Safe: every
 * file is opened below the cache volume's directory, under a name derived
 * from a validated volume id, without following symlinks; no secret is
 * written. */
#define _GNU_SOURCE
#include "s3_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_rescue.h"
#include "log.h"
#include "rclone_conf.h"
#include "rm_tree.h"
#include "vfs_cache.h"
#include "volparams.h"

#define RECORD_DIR "lcw-volumes"
#define BOOT_DIR ".boot" /* in RECORD_DIR: each record's boot mark */

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

int
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

void
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

int
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
void
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

/* ---- rclone's cache of a volume ------------------------------------------ */

/* rclone's cache of one volume, once everything in it is uploaded. */
void
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


/* How many files of vfs this node's (open) cache holds that are not in
 * the bucket: queued uploads plus rescued files. 0, or -1 with err. */
int
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
int
s3v_cache_holds_pending(const struct privd_ctx *ctx, const char *vfs)
{
	unsigned long n = 0;
	char err[128];

	if (vfs_cache_dirfd() < 0)
		return vfs_cache_exists(ctx);
	return s3v_cache_pending(vfs, &n, err, sizeof(err)) || n;
}
