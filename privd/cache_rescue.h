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
 *            fsync, close), then the rescued copy is removed
 *
 * Only never-uploaded items qualify (metadata "Dirty": true and no
 * "Fingerprint"): their cache file holds every byte of the file. An item
 * with a remote object (modified in place) may be sparse in the cache, so
 * it is left to rclone, which fetches its missing ranges before uploading.
 *
 * Crash safety: the rename comes before the metadata removal (metadata
 * without its file is discarded by rclone), and a rescued copy is removed
 * only after its copy in the mount is fsync'ed and closed. If both exist,
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
 * live mount) and remove each once it is durable there. Returns 0 with
 * *restored (and nothing left to restore), or -1 with err (what was not
 * restored stays rescued). */
int rescue_restore(int cache_dirfd, const char *vfs, int mount_dirfd, unsigned long *restored,
		   char *err, size_t errlen);

/* Remove vfs's (empty) rescue directory. */
void rescue_forget(int cache_dirfd, const char *vfs);

#endif
