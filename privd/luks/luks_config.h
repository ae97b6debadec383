/* Configuration of the local-volume (LUKS on a backing file) backend, set
 * from privd's flags by the core and read through privd_ctx.luks. */
#ifndef LCW_LUKS_CONFIG_H
#define LCW_LUKS_CONFIG_H

#include <limits.h>

#include "luks.h"
#include "node_limits.h"

struct luks_config {
	char local_root[PATH_MAX];  /* CSI_LOCAL_PATH, default /opt/local-path-provisioner */
	struct luks_pbkdf kdf;      /* PBKDF costs for new volumes */
	struct local_limits limits; /* node-wide bounds on local volumes */
	int legacy_volumes;         /* open unrecorded root-only files (vol_owner.h) */
};

#endif
