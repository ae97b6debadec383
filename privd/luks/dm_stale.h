/* A device-mapper device left half-made: privd killed between creating the
 * device and loading its table leaves "luks-<id>" with no table, which
 * blocks every later open with "already exists" and has no /dev node. */
#ifndef LCW_DM_STALE_H
#define LCW_DM_STALE_H

/* Remove the device-mapper device `name` if it exists with no live table
 * and nobody holds it open. Returns 1 if removed, 0 if there was nothing
 * to remove (absent, or a real mapping), negative errno on error (-EBUSY
 * if a table-less device is held open). Uses the dm ioctls directly. */
int dm_remove_if_tableless(const char *name);

#endif
