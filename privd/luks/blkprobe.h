/* What is on a block device or file, by libblkid. Used to decide whether a
 * device is provably empty before anything is formatted. */
#ifndef LCW_BLKPROBE_H
#define LCW_BLKPROBE_H

#include <stddef.h>

enum blk_content {
	BLK_EMPTY = 0, /* no filesystem, RAID, LUKS or partition-table signature */
	BLK_LUKS = 1,  /* a LUKS header (crypto_LUKS) */
	BLK_FS = 2,    /* a filesystem; its type in `type` (ext4, xfs, ...) */
	BLK_OTHER = 3, /* any other signature (partition table, swap, RAID...) */
};

/* Probe path (device or regular file). Returns enum blk_content (>= 0) and
 * fills type with the signature name ("" when empty), or a negative errno.
 * Ambiguous results (several signatures) count as BLK_OTHER: never empty. */
int blk_probe(const char *path, char *type, size_t typelen);

#endif
