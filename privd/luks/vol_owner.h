/* Which backing files are this driver's own (issue 10 item 7).
 *
 * The default local root is shared with Rancher local-path-provisioner,
 * whose directories below it are bind-mounted writable into tenant pods. A
 * tenant could plant "<root>/<id>/luks-<id>.img" (a LUKS image with a
 * passphrase it knows, or a crafted file system) and have privd open and
 * mount it, i.e. feed the kernel a file system an attacker wrote.
 *
 * So privd records every backing file it creates in a directory of the
 * local root that only root can write, "<root>/.lcw-owned/<id>", holding
 * the file's inode number; a file is "ours" when its record names its
 * inode. Files without a record were made by the Go driver (or an earlier
 * version) and must keep opening (compatibility contract §10 item 5): they
 * are accepted only when nothing but root could have written them (file
 * and directory owned by root, not group/other-writable, one link, the
 * directory not a symlink), and only while --legacy-volumes is on; once
 * staged they get a record, so a later swap is noticed. */
#ifndef LCW_VOL_OWNER_H
#define LCW_VOL_OWNER_H

#include <stddef.h>
#include <sys/stat.h>

#include "vol.h"

#define VOL_OWNER_DIR ".lcw-owned"

enum vol_owner {
	VOL_OURS = 0,    /* recorded, same inode */
	VOL_LEGACY = 1,  /* no record, shape of a Go-driver volume */
	VOL_FOREIGN = -1 /* refuse: record for another file, or not root-only */
};

/* Pure: could only uid (root, in privd) have written this directory and
 * file? 0 or -1 with why. */
int vol_legacy_shape(const struct stat *dir, const struct stat *file, uid_t uid, char *why,
		     size_t whylen);

/* Classify v's existing backing file. legacy_ok: accept unrecorded files
 * of the legacy shape. Returns an enum vol_owner, why set for VOL_FOREIGN. */
int vol_owner_check(const char *local_root, const struct vol *v, int legacy_ok, char *why,
		    size_t whylen);

/* Record v's backing file as ours. 0 or -errno. */
int vol_owner_mark(const char *local_root, const struct vol *v);

/* Forget the record (after an erase). */
void vol_owner_forget(const char *local_root, const char *id);

#endif
