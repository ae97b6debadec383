/* The pieces of privd's local-volume handling that the S3 backend reuses
 * for its node-wide VFS-cache volume (vol.c). */
#ifndef LCW_VOL_H
#define LCW_VOL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc_msg.h"
#include "kpath.h"
#include "secmem.h"
#include "volparams.h"
#include "privd_ctx.h"

/* Names and paths of one volume, all derived from its id (or, for the
 * VFS cache, fixed by the contract). */
struct vol {
	const char *id;
	char dm[VOLID_MAX + 8];     /* holds either shape of dm_name.h */
	char mapper[VOLID_MAX + 24];
	char dir[PATH_MAX];
	char file[PATH_MAX];
};

void audit_step(const struct vol *v, const char *op, const char *p1, const char *p2, int rc,
		uint64_t t0, const char *detail);
int kpath_error(struct ipc_msg *ans, const char *what, const char *path, int rc);
int open_kpath(const struct privd_ctx *ctx, const char *what, const char *path, enum kpath_leaf leaf, int missing_ok,
	       struct ipc_msg *ans);
void fdpath(int fd, char *out, size_t len);
/* Unmount the mount with this id at a kubelet path, through its parent
 * opened symlink-free (mnt_unmount_at). 0 or negative errno. */
int unmount_kpath(const struct privd_ctx *ctx, const char *path, unsigned long long id);
int wait_ok(int ws);
/* 1: the mapping is active on the loop of v->file (loop set); 0: not
 * active; -1: active on something else. */
int mapping_is_ours(const struct vol *v, char *loop, size_t looplen);
int create_backing(const struct vol *v, uint64_t capacity, int *created, struct ipc_msg *ans);
int open_mapping(const struct privd_ctx *ctx, const struct vol *v, const struct lcw_secret *pass, int *attached, int *opened,
		 int *formatted, char *loop, size_t looplen, struct ipc_msg *ans);
/* open_mapping with a previous passphrase (NULL or empty: none): a volume
 * that opens only with prev is re-keyed to pass first (rekey.h); with
 * discards, a mapping it opens passes discards down (allow-discards). */
int open_mapping_prev(const struct privd_ctx *ctx, const struct vol *v,
		      const struct lcw_secret *pass, const struct lcw_secret *prev, int discards,
		      int *attached, int *opened, int *formatted, char *loop, size_t looplen,
		      struct ipc_msg *ans);
int ensure_fs(const struct privd_ctx *ctx, const struct vol *v, int want, int *kind, struct ipc_msg *ans);

/* Derive v's names and paths from a validated id (error answer on a bad
 * one). 0 or -1. */
int vol_derive(const struct privd_ctx *ctx, const char *id, struct vol *v, struct ipc_msg *ans);
/* Device number of a block device node, 0 if absent; st_dev of the file
 * system mounted at fd's directory. */
dev_t rdev_of(const char *dev);
dev_t fsdev_of(int fd);
/* Is the directory at fd (the root of) a mount of v's mapping? 1 yes (*id:
 * its mount id), 2 someone else's mount, 0 no mount. */
struct mnt_info;
int mounted_here(const struct vol *v, int fd, struct mnt_info *mi, unsigned long long *id);

#endif
