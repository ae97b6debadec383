/* Signature probing with libblkid's low-level API. See blkprobe.h. */
#define _GNU_SOURCE
#include "blkprobe.h"

#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *
value(blkid_probe pr, const char *name)
{
	const char *v = NULL;

	return blkid_probe_lookup_value(pr, name, &v, NULL) == 0 ? v : NULL;
}

/* Classify a successful probe. LUKS first: it is what we look for, and its
 * USAGE is "crypto", not "filesystem". */
static int
classify(blkid_probe pr, char *type, size_t typelen)
{
	const char *t = value(pr, "TYPE");
	const char *usage = value(pr, "USAGE");
	const char *pt = value(pr, "PTTYPE");

	if (t && strcmp(t, "crypto_LUKS") == 0) {
		snprintf(type, typelen, "%s", t);
		return BLK_LUKS;
	}
	if (t && usage && strcmp(usage, "filesystem") == 0) {
		snprintf(type, typelen, "%s", t);
		return BLK_FS;
	}
	/* swap, RAID members, LVM, other crypto, partition tables... */
	snprintf(type, typelen, "%s", t ? t : pt ? pt : "unknown");
	return BLK_OTHER;
}

int
blk_probe(const char *path, char *type, size_t typelen)
{
	blkid_probe pr;
	int fd, rc;

	snprintf(type, typelen, "%s", "");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	pr = blkid_new_probe();
	if (!pr) {
		close(fd);
		return -ENOMEM;
	}
	if (blkid_probe_set_device(pr, fd, 0, 0)) {
		rc = -EIO;
		goto out;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, 0);

	errno = 0;
	switch (blkid_do_safeprobe(pr)) {
	case 0:
		rc = classify(pr, type, typelen);
		break;
	case 1:
		rc = BLK_EMPTY;
		break;
	case -2:
		/* Several signatures at once: whatever it is, it is not empty. */
		snprintf(type, typelen, "%s", "ambivalent");
		rc = BLK_OTHER;
		break;
	default:
		rc = errno ? -errno : -EIO;
		break;
	}
out:
	blkid_free_probe(pr);
	close(fd);
	return rc;
}
