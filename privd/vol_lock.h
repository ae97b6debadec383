/* Per-volume locks inside privd. The frontend already refuses concurrent
 * calls for one volume, but privd has work of its own (the reclaimer), and
 * a restarted frontend could race a request still running in a worker. */
#ifndef LCW_VOL_LOCK_H
#define LCW_VOL_LOCK_H

/* Block until the volume is free, then hold it. */
void vol_lock(const char *id);
/* Hold it only if free: 0 held, -1 busy. */
int vol_trylock(const char *id);
void vol_unlock(const char *id);

#endif
