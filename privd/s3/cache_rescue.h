/* Keeping files rclone never uploaded across an rclone crash.
 *
 * When rclone 1.60 starts over a cache left by a killed rclone, it re-queues
 * the dirty items, but one whose directory is not yet in the bucket (S3 has
 * no directories: one exists once a file below it is uploaded) fails to
 * reload ("failed to add virtual dir entry: file does not exist"): it is
 * uploaded in the background yet missing from the mount's listings until
 * the directory cache expires, so the application sees a file it fsync'ed
 * vanish. privd therefore moves such files out of rclone's cache before it
 * starts rclone over it, and writes them back through the new mount before
 * any pod sees that mount:
 *
 *   stash    <cache>/vfs/<vfs>/P    -> <cache>/lcw-rescue/<vfs>/P  (rename)
 *            <cache>/vfsMeta/<vfs>/P is removed
 *   restore  <cache>/lcw-rescue/<vfs>/P -> <mount>/P (mkdir, copy, mtime,
 *            fsync, close) for every file; then the cache volume is
 *            flushed and the rescued copies are removed
 *
 * Only never-uploaded items qualify (metadata "Dirty": true and no
 * "Fingerprint"): their cache file holds every byte of the file. An item
 * with a remote object (modified in place) may be sparse in the cache, so
 * it is left to rclone, which fetches its missing ranges before uploading.
 *
 * Crash safety: the rename comes before the metadata removal (metadata
 * without its file is discarded by rclone), and the rescued copies are
 * removed only after all their copies in the mount are fsync'ed, closed
 * and, with rclone's metadata (which rclone never fsyncs), flushed to the
 * cache volume. If both exist,
 * the rescued copy wins: the cache one comes from an unfinished restore,
 * which no pod has seen (publish targets are bound after the restore).
 * Everything stays on the encrypted cache volume; nothing follows a
 * symlink or leaves the mount's filesystem. */
#ifndef LCW_CACHE_RESCUE_H
#define LCW_CACHE_RESCUE_H

#include <stddef.h>

#define RESCUE_DIR "lcw-rescue"

/* Does this rclone cache metadata (JSON text) describe an item to rescue:
 * dirty and never uploaded? Unparsable metadata is not rescued (rclone
 * decides about it). Pure. */
int rescue_meta_qualifies(const char *json, size_t len);

/* Move vfs's never-uploaded items out of the cache. rclone must not be
 * running for vfs. cache_dirfd: the --cache-dir. Returns 0 with *moved, or
 * -1 with err. */
int rescue_stash(int cache_dirfd, const char *vfs, unsigned long *moved, char *err,
		 size_t errlen);

/* How many rescued files wait for a restore (0 when none). Returns 0, or
 * -1 with err. */
int rescue_pending(int cache_dirfd, const char *vfs, unsigned long *n, char *err,
		   size_t errlen);

/* Write vfs's rescued files back through mount_dirfd (the root of its
 * live mount), flush the cache volume, then remove the rescued copies.
 * Returns 0 with *restored (and nothing left to restore), or -1 with err
 * (everything stays rescued; a retry writes it all again). */
int rescue_restore(int cache_dirfd, const char *vfs, int mount_dirfd, unsigned long *restored,
		   char *err, size_t errlen);

/* Remove vfs's (empty) rescue directory. */
void rescue_forget(int cache_dirfd, const char *vfs);

#endif
