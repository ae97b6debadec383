/* Stranded writes: files this node's rclone cache holds for a volume but
 * never uploaded, found when rclone starts over that cache again (a
 * restage after a node restart or a moved pod, a re-mount after rclone
 * died). rclone would upload them blindly, over whatever another node
 * wrote to the same object in between. privd instead moves them aside
 * before rclone starts (cache_rescue.h) and, once the new mount is up,
 * decides for each one here:
 *
 *   the file had no object when this cache last saw it ("Fingerprint"
 *   empty): upload if the object is still absent; if an object now
 *   exists, upload only if it is this very file (same size and time: an
 *   upload or write-back that finished before the crash), else keep it
 *   aside;
 *   the file had an object: upload only if the object is unchanged since
 *   (size and modification time equal to the fingerprint rclone recorded
 *   from it); absent (deleted elsewhere) or changed: keep it aside.
 *
 * "Keep aside" is cache_restore.c's lcw-conflict tree, on the encrypted
 * cache volume, reported by an event and the volume's condition. Pure:
 * parsing and deciding only. */
#ifndef LCW_STRANDED_H
#define LCW_STRANDED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

/* How far apart two modification times of one object may be and still be
 * the same: S3 keeps rclone's time as a decimal string of seconds, which
 * a float round trip rounds below the microsecond. */
#define STRANDED_MTIME_SLACK_NS 1000000L

/* At most this many present ranges per file ("Rs"); a file with more is
 * kept aside rather than half written back. */
#define STRANDED_MAX_RANGES 65536

struct stranded_range {
	uint64_t pos, size;
};

/* What rclone 1.60's VFS cache metadata (vfsMeta/<remote>/<path>, JSON)
 * says of one file. */
struct stranded_meta {
	int dirty;             /* "Dirty": changed locally, not uploaded */
	int had_object;        /* "Fingerprint" non-empty */
	int fp_ok;             /* the fingerprint parsed (size and time) */
	uint64_t fp_size;      /* the object's size then */
	struct timespec fp_mtime; /* the object's modification time then */
	int size_ok, mtime_ok;
	uint64_t size;         /* "Size": the file's size now */
	struct timespec mtime; /* "ModTime": its modification time now */
	int ranges_ok;         /* "Rs" parsed and within STRANDED_MAX_RANGES */
	size_t nranges;        /* in the caller's array */
};

/* Parse metadata text (at most 1 MiB). ranges (cap entries) receives
 * "Rs". 0, or -1 when it is not rclone metadata (not a JSON object). */
int stranded_meta_parse(const char *json, size_t len, struct stranded_meta *m,
			struct stranded_range *ranges, size_t cap);

/* "2024-05-06T07:08:09.123456789Z" (or "+02:00"): Go's JSON time. 0 or -1. */
int stranded_time_parse_rfc3339(const char *s, struct timespec *out);

/* rclone's fingerprint "<size>,<2024-05-06 07:08:09.123 +0000 UTC>[,<hash>]"
 * (Go's time.String of the UTC time). 0 or -1. */
int stranded_fingerprint_parse(const char *s, uint64_t *size, struct timespec *mtime);

/* |a - b| <= STRANDED_MTIME_SLACK_NS */
int stranded_same_time(const struct timespec *a, const struct timespec *b);

enum stranded_verdict {
	STRANDED_UPLOAD,   /* write it back through the mount */
	STRANDED_CONFLICT, /* keep it aside: it would overwrite something newer */
};

/* m: the file's metadata (NULL: none kept, so never uploaded); local: the
 * kept file itself (its size and time stand in for what m lacks); remote:
 * what the mount shows at its path now (NULL: nothing). */
enum stranded_verdict stranded_decide(const struct stranded_meta *m, const struct stat *local,
				      const struct stat *remote);

#endif
