/* Internals shared by the files of privd's S3 volume handlers; not part of
 * their interface (s3_volume.h), and nothing outside privd/s3/ includes it.
 *
 *   s3_table.c       the table of volumes this privd knows, its lock, and
 *                    what is mounted where for a volume
 *   s3_records.c     each volume's record on the cache volume, and what the
 *                    cache holds of it
 *   s3_secrets.c     the secrets from the API, the bucket probe and the
 *                    sealed rclone config memfd
 *   s3_volume.c      stage: rclone brought up and bound to the staging path
 *   s3_unstage.c     unstage: uploads drained, then unmounted and forgotten
 *   s3_publish.c     publish, unpublish, expand, stats
 *   s3_supervisor.c  re-mounting after rclone died; records after a restart
 *   s3_forced.c      a forced unstage's unuploaded writes, set aside
 *
 * Locking: s3v_mu guards s3v_tab and its entries' fields. The request
 * handlers and the supervisor hold an entry across calls only under the
 * volume's keyed lock (privd/main.c's run_job, the supervisor's
 * keyed_trylock), so it is not dropped under them. */
#ifndef LCW_S3_INTERNAL_H
#define LCW_S3_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc_msg.h"
#include "kpath.h"
#include "mountops.h"
#include "privd_ctx.h"
#include "s3_mounts.h"

#define MAX_S3_VOLUMES 512

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

/* ---- the table and mount state (s3_table.c) ------------------------------ */

extern pthread_mutex_t s3v_mu;
extern pthread_cond_t s3v_cv; /* with s3v_wake set: the supervisor looks now */
extern struct s3v s3v_tab[MAX_S3_VOLUMES];
extern int s3v_wake;

uint64_t s3v_mono_ns(void);
void s3v_sleep_ms(unsigned ms);
void s3_audit(const char *id, const char *op, const char *p1, const char *p2, int rc, uint64_t t0,
	      const char *detail);
/* The rclone remote name of volume id (contract item 18). */
void s3v_vfs_name(const char *id, char *out, size_t outlen);

/* Callers hold s3v_mu. */
struct s3v *s3v_find_locked(const char *id);
int s3v_room_locked(const struct privd_ctx *ctx, const char *id);
struct s3v *s3v_add_locked(const struct ipc_stage_s3_req *rec);
void s3v_drop_locked(struct s3v *e);

enum mstate s3v_mount_state(const struct privd_ctx *ctx, const char *path, const char *vfs,
			    struct mnt_info *mi);
enum mstate s3v_priv_state(const struct privd_ctx *ctx, const struct s3v *e);
int s3v_statvfs_ok(const char *path);
int s3v_is_our_fuse(const struct privd_ctx *ctx, const char *id, const char *path,
		    enum kpath_kind kind, struct mnt_info *mi);

/* ---- records and the cache (s3_records.c) -------------------------------- */

int s3v_record_write(const struct ipc_stage_s3_req *r);
void s3v_record_remove(const char *id);
int s3v_record_exists(const char *id);
void s3v_records_load(const struct privd_ctx *ctx);
void s3v_cache_forget(const char *vfs);
int s3v_cache_pending(const char *vfs, unsigned long *n, char *err, size_t errlen);
int s3v_cache_holds_pending(const struct privd_ctx *ctx, const char *vfs);

/* ---- a forced unstage (s3_forced.c) -------------------------------------- */

/* Move vfs's cache entries (files, rclone's metadata with their pending
 * marks, rescued files) to lcw-forced/<vfs>.<time>/ on the cache volume;
 * where gets that relative path. 0 or -errno. */
int s3v_cache_set_aside(const char *vfs, char *where, size_t wherelen);

/* ---- secrets and the config memfd (s3_secrets.c) ------------------------- */

int s3v_make_config(const struct privd_ctx *ctx, const struct ipc_stage_s3_req *r,
		    const char *vfs, const uint8_t *given, size_t glen, int probe, int *conf_fd,
		    struct ipc_msg *ans);

/* ---- bringing a mount up (s3_volume.c) ----------------------------------- */

int s3v_start_and_bind(const struct privd_ctx *ctx, struct s3v *e, int plive,
		       struct ipc_msg *ans);
int s3v_rescue_restore_for(const struct privd_ctx *ctx, struct s3v *e, struct ipc_msg *ans);
void s3v_stop_rclone(const struct privd_ctx *ctx, struct s3v *e);
int s3v_wait_rclone_gone(const struct privd_ctx *ctx, struct s3v *e, int tries, int term_at);

#endif
