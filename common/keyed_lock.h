/* Locks named by a string (a volume id), shared by both processes: the
 * frontend answers a second concurrent call for a volume with ABORTED
 * (keyed_trylock), privd serialises its own work per volume, including the
 * reclaimer's (keyed_lock). */
#ifndef LCW_KEYED_LOCK_H
#define LCW_KEYED_LOCK_H

/* Block until the key is free, then hold it. */
void keyed_lock(const char *key);
/* Hold it only if free: 0 held, -1 busy. */
int keyed_trylock(const char *key);
void keyed_unlock(const char *key);

#endif
