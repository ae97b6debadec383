/* Keeping files rclone never uploaded across an rclone crash, a node
 * restart or a moved pod, without uploading them over newer data.
 *
 * When rclone 1.60 starts over a cache left by an earlier rclone, it
 * re-queues the dirty items and uploads them blindly: over whatever
 * another writer put in the bucket since (stranded.h), and, for one whose
 * directory is not yet in the bucket (S3 has no directories), while
 * hiding it from the mount's listings ("failed to add virtual dir
 * entry"), so the application sees a file it fsync'ed vanish. privd
 * therefore moves every dirty item out of rclone's cache before it starts
 * rclone over it, and writes back through the new mount, before any pod
 * sees that mount, those stranded.h lets go up (cache_restore.c):
 *
 *   stash    <cache>/vfsMeta/<vfs>/P -> <cache>/lcw-rescue-meta/<vfs>/P (copy)
 *            <cache>/vfs/<vfs>/P     -> <cache>/lcw-rescue/<vfs>/P  (rename)
 *            <cache>/vfsMeta/<vfs>/P is removed
 *   restore  per file: written back through <mount>/P (a never-uploaded
 *            file whole; one uploaded before, whose cache file may be
 *            sparse, as the ranges its metadata says it holds, over the
 *            unchanged object), or moved to
 *            <cache>/lcw-conflict/<vfs>_<time>/{vfs,vfsMeta}/P;
 *            then the cache volume is flushed and the rescue trees removed
 *
 * Crash safety: the metadata copy comes first and the file's rename
 * before the metadata removal (metadata without its file is discarded by
 * rclone); the rescued copies are removed only after all their copies in
 * the mount are fsync'ed, closed and, with rclone's metadata (which
 * rclone never fsyncs), flushed to the cache volume. If both exist, the
 * rescued copy wins: the cache one comes from an unfinished restore,
 * which no pod has seen (publish targets are bound after the restore).
 * Everything stays on the encrypted cache volume; nothing follows a
 * symlink or leaves the mount's filesystem. */
#ifndef LCW_CACHE_RESCUE_H
#define LCW_CACHE_RESCUE_H

#include <stddef.h>

#define RESCUE_DIR "lcw-rescue"
#define RESCUE_META_DIR "lcw-rescue-meta"
#define CONFLICT_DIR "lcw-conflict"

/* Does this rclone cache metadata (JSON text) describe an item to rescue:
 * a dirty one? Unparsable metadata is not rescued (rclone decides about
 * it). Pure. */
int rescue_meta_qualifies(const char *json, size_t len);

/* Move vfs's dirty items out of the cache. rclone must not be
 * running for vfs. cache_dirfd: the --cache-dir. Returns 0 with *moved, or
 * -1 with err. */
int rescue_stash(int cache_dirfd, const char *vfs, unsigned long *moved, char *err,
		 size_t errlen);

/* How many rescued files wait for a restore (0 when none). Returns 0, or
 * -1 with err. */
int rescue_pending(int cache_dirfd, const char *vfs, unsigned long *n, char *err,
		   size_t errlen);

/* Write vfs's rescued files back through mount_dirfd (the root of its
 * live mount) where stranded.h allows, move the others to the conflict
 * tree, flush the cache volume, then remove the rescued copies. now names
 * the conflict directory. Returns 0 with *restored and *kept_aside (and
 * nothing left to restore), or -1 with err (everything not yet moved
 * aside stays rescued; a retry decides again). */
int rescue_restore(int cache_dirfd, const char *vfs, int mount_dirfd, long now,
		   unsigned long *restored, unsigned long *kept_aside, char *err, size_t errlen);

/* How many files of vfs the conflict tree keeps (in every
 * lcw-conflict/<vfs>_<time>/vfs); 0 when none. Bounded; -1 unreadable. */
long rescue_conflicts(int cache_dirfd, const char *vfs);

/* Remove vfs's (empty) rescue directories. */
void rescue_forget(int cache_dirfd, const char *vfs);

#endif
