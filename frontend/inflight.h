/* Per-volume in-flight set: a second concurrent call for the same volume
 * gets ABORTED (CSI's "operation pending for volume") instead of racing the
 * first one inside privd. */
#ifndef LCW_INFLIGHT_H
#define LCW_INFLIGHT_H

/* Returns 0 if the volume was free and is now held, -1 if busy. */
int inflight_acquire(const char *volume_id);
void inflight_release(const char *volume_id);

#endif
