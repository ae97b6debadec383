/* S3 backend: the rclone config text and the `rclone mount` argv for one
 * volume (upstream-behavior.md §5.2, §5.4, contract items 11-13, 16-18).
 * Pure apart from the locked buffer helpers and the IV of rclone's
 * "obscure" (getrandom). No heap: secrets go only into caller-provided
 * locked memory (struct lcw_lockbuf, struct lcw_secret) and stack scratch
 * that is wiped before returning.
 *
 * How privd uses it: build the text into a lockbuf, write it into a sealed
 * memfd (F_SEAL_WRITE|F_SEAL_GROW|F_SEAL_SHRINK|F_SEAL_SEAL), have the
 * spawner put that memfd on fd 3 of rclone, and exec the argv built here,
 * which says `--config /proc/self/fd/3`. rclone 1.60 reads the file through
 * that path (a reopen, so the memfd must stay open and seekable: a pipe
 * will not do) and never writes it back for `mount` (verified with strace
 * by tests/s3).
 *
 * Implemented by section: rclone_conf.c (locked buffers, names, config
 * text), rclone_obscure.c (obscure/reveal, Go's UTF-8 handling),
 * rclone_argv.c (mount argv), rclone_dirty.c (upload drain). */
#ifndef LCW_RCLONE_CONF_H
#define LCW_RCLONE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3_params.h"
#include "secmem.h"

/* ---- locked buffers larger than a struct lcw_secret ---------------------- */

struct lcw_lockbuf {
	uint8_t *p; /* mmap'ed, mlock'ed, MADV_DONTDUMP */
	size_t cap;
	size_t len;
};
/* cap is rounded up to whole pages. Returns 0 or -1 (errno); fails closed
 * when mlock fails (RLIMIT_MEMLOCK without CAP_IPC_LOCK). */
int lockbuf_alloc(struct lcw_lockbuf *b, size_t cap);
/* Wipe and unmap. Safe on a zeroed or already-freed buffer. */
void lockbuf_free(struct lcw_lockbuf *b);

/* A config for the largest passphrase (LCW_SECRET_MAX bytes, every byte
 * invalid UTF-8 so tripled, obscured twice) fits in this. */
#define RCLONE_CONF_BUF_SIZE (64u * 1024u)

/* ---- rclone's "obscure" (fs/config/obscure) ------------------------------ */

/* AES-256-CTR under rclone's fixed, public key with a random 16-byte IV;
 * the output is base64url(IV || ciphertext) without padding. It hides a
 * value from a casual look only: anyone can reveal it.
 * Output length for n input bytes, without the NUL: */
#define RCLONE_OBSCURED_LEN(n) ((((size_t)(n) + 16u) * 4u + 2u) / 3u)

/* Obscure n bytes into out (NUL-terminated; outcap >= RCLONE_OBSCURED_LEN(n)
 * + 1). iv16, when not NULL, replaces the random IV (tests only). Returns 0
 * or -1 (no room, getrandom or libcrypto failure). */
int rclone_obscure(const uint8_t *in, size_t n, const uint8_t *iv16, char *out, size_t outcap,
		   size_t *outlen);
/* Reveal: the inverse. Returns 0 or -1 (not base64url, shorter than an IV,
 * no room). */
int rclone_reveal(const char *in, size_t n, uint8_t *out, size_t outcap, size_t *outlen);

/* The original handed the passphrase to rclone through Go's json.Marshal,
 * which replaces every byte that is not part of a valid UTF-8 sequence with
 * U+FFFD (EF BF BD); rclone's crypt keys derive from the result (contract
 * item 12). Same transformation. Returns 0 or -1 (no room: outcap >= 3n
 * always suffices). */
int go_json_utf8_sanitize(const uint8_t *in, size_t n, uint8_t *out, size_t outcap,
			  size_t *outlen);

/* ---- names -------------------------------------------------------------- */

/* The rclone remote name of a volume (contract item 18): the volume id, or
 * "<volume id>.g<N>" with N in 1..16 (the original bumped the generation
 * when a leaked VFS still held the name). The S3 remote is "<name>-s3".
 * Returns 0 when vfs_name is one of those for volid (volid itself must
 * pass volid_valid), -1 otherwise. */
int rclone_vfs_name_valid(const char *vfs_name, const char *volid);

/* "<bucket>/[<prefix>/]volumes/<volid>" (what the controller purges) and
 * the crypt root ".../files" below it (contract item 11). Returns 0 or -1
 * (invalid input or no room). */
int s3_volume_path(const char *bucket, const char *prefix, const char *volid, char *out,
		   size_t outlen);

/* ---- the config text ---------------------------------------------------- */

/* Build the config for one volume into out (out->len set; NUL-terminated
 * after len):
 *
 *   [<vfs>-s3]   type s3, provider Other when an endpoint is set else AWS,
 *                env_auth false, access_key_id, secret_access_key, region
 *                (when not empty), endpoint (when set), force_path_style =
 *                true only when the Secret said exactly "true"
 *   [<vfs>]      type crypt, remote <vfs>-s3:<bucket>/[<prefix>/]volumes/
 *                <volid>/files, filename_encryption standard,
 *                directory_name_encryption true, password = obscure(P),
 *                password2 = obscure(P + "-" + (prefix or volid))
 *
 * where P is the whole passphrase (not cut at a newline) after
 * go_json_utf8_sanitize. Scratch space is taken from the tail of out and
 * wiped. Returns 0, or -1 with err (never quoting a secret). */
int rclone_conf_build(const char *vfs_name, const char *volid, const struct s3_vol_params *p,
		      const struct s3_secret *s, const struct lcw_secret *passphrase,
		      struct lcw_lockbuf *out, char *err, size_t errlen);

/* ---- the mount argv ------------------------------------------------------- */

struct rclone_mount_opts {
	const char *rclone_path; /* argv[0]; NULL = "rclone" */
	const char *config_path; /* NULL = "/proc/self/fd/3" */
	const char *cache_dir;	 /* required, absolute (the VFS-cache LUKS volume) */
	const char *mountpoint;	 /* required: privd's private mountpoint (rclone_mountpoint_valid) */
	bool has_fsgroup;	 /* fsGroup known: --uid/--gid = fsGroup */
	uint32_t fsgroup;
	int umask; /* -1: 0007 with fsGroup, 0022 (rclone's default) without */
	bool no_server_modtime;	  /* the original's RCLONE_USE_SERVER_MODTIME=false */
	int64_t disk_space_total; /* > 0: --vfs-disk-space-total-size (the original
				     reported the cache volume's size) */
	bool chunk_streams_supported; /* rclone >= 1.68; false for Debian's 1.60 */
	bool read_only;
	int fuse_fd; /* > 0: the mount point is already mounted and served
			through this /dev/fuse descriptor (rclone_fuse.h):
			`rclone mount2 ... /dev/fd/N`; 0: `rclone mount` on
			mountpoint, which needs CAP_SYS_ADMIN */
	const char *log_level; /* NULL = rclone's default (NOTICE); or "ERROR",
				  "INFO", "DEBUG": INFO and DEBUG log plaintext
				  file names */
};

#define RCLONE_ARGV_MAX 48
#define RCLONE_ARGV_BUF 12288
/* What the argv could not express; the caller logs a warning. */
#define RCLONE_IGNORED_CHUNK_STREAMS 1u /* rclone-vfs-read-chunk-streams > 0 but
					   this rclone has no such flag */

struct rclone_argv {
	int argc;
	char *argv[RCLONE_ARGV_MAX + 1]; /* NULL-terminated; point into buf, so
					    the struct must not be copied */
	char buf[RCLONE_ARGV_BUF];
	unsigned ignored; /* RCLONE_IGNORED_* bits */
};

/* rclone mounts only on privd's private mountpoint of the volume,
 * ".../rclone-mnt/<volume id>" (absolute, no "." or ".." components),
 * never on a kubelet path: the staging path gets a bind of it (s3_mounts.h).
 * Pure. 0 or -1. */
int rclone_mountpoint_valid(const char *mountpoint, const char *volume_id);

/* rclone mount <vfs>: /proc/self/root<mountpoint> --config <cfg> --cache-dir <dir>
 *   --vfs-cache-mode M --vfs-cache-max-age D --vfs-cache-max-size S
 *   --vfs-cache-poll-interval D --vfs-write-back D --dir-cache-time D
 *   --attr-timeout D --allow-other [--use-server-modtime] [--uid G --gid G]
 *   --umask U [--vfs-disk-space-total-size S] [--read-only]
 *   [--vfs-read-chunk-streams N] [--log-level L]
 * No secret ever appears here, and no remote control (rclone 1.60's --rc
 * listens on TCP only). Returns 0, or -1 with err. */
int rclone_mount_argv(const char *vfs_name, const struct s3_vol_params *p,
		      const struct rclone_mount_opts *o, struct rclone_argv *out, char *err,
		      size_t errlen);

/* ---- upload drain (the one function here that reads files) -------------- */

/* rclone 1.60 does not wait for pending write-back uploads when it is
 * unmounted or signalled: the items stay marked dirty in its cache and are
 * uploaded by the next rclone mount of the same remote name and cache dir
 * (verified by tests/s3). Its remote control cannot listen on a unix socket
 * in 1.60, so the queue is read from the cache metadata instead: count the
 * items under <cache>/vfsMeta/<vfs_name>/ whose JSON says "Dirty": true.
 * A metadata file that cannot be read or parsed (rclone rewrites them in
 * place) counts as dirty, so the answer errs towards "wait". Unstage may
 * unmount only after this returned 0 with *dirty == 0 (and the volume's
 * files are closed: kubelet unpublished every pod first).
 *
 * cache_dirfd: the --cache-dir, opened by privd. Never follows symlinks.
 * Returns 0 (no vfsMeta directory means 0 dirty), or -1 with err. */
int rclone_cache_dirty(int cache_dirfd, const char *vfs_name, unsigned long *dirty, char *err,
		       size_t errlen);

#endif
