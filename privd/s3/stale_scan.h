/* Which mounts of one S3 volume inside another mount namespace are dead:
 * pure parsing of a /proc/<pid>/mountinfo text, no system calls, so it is
 * unit-tested without root (tests/unit/test_stale_scan.c). */
#ifndef LCW_STALE_SCAN_H
#define LCW_STALE_SCAN_H

#include <stddef.h>

#define STALE_PATH_MAX 4095

struct stale_mount {
	unsigned long long id;     /* the dead mount (mount ids are node-unique) */
	unsigned long long parent; /* the mount its mount point lies on */
	char path[STALE_PATH_MAX + 1]; /* its mount point, unescaped, as that process sees it */
	int readonly, noexec;      /* per-mount flags the replacement keeps */
	int parent_shared;         /* a mount on the parent would propagate to its peers */
};

/* Scan text (len bytes of mountinfo) for mounts with exactly this source
 * and fstype whose device (major:minor) is not live_dev's: a FUSE mount
 * of an rclone that died (its re-mount got a new device). A dead mount
 * with another mount stacked on its root at the same mount point (it was
 * covered, e.g. by propagation) is skipped. Fills up to max entries;
 * returns how many were found (beyond max an upper bound: those are not
 * checked for being covered), or -1 if a line is malformed. */
int stale_scan(const char *text, size_t len, const char *source, const char *fstype,
	       unsigned live_major, unsigned live_minor, struct stale_mount *out, int max);

/* Split an absolute mount point into its directory and last component,
 * refusing "." and ".." components, empty ones and "/" itself (the path
 * comes from another namespace and is resolved there without symlinks).
 * 0 or -1. */
int stale_path_split(const char *path, char *dir, size_t dlen, char *leaf, size_t llen);

#endif
