/* privd's configuration as the core holds it: the node's identity and each
 * backend's own part, which the handlers see through privd_ctx. */
#ifndef LCW_PRIVD_H
#define LCW_PRIVD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "luks_config.h"
#include "s3_config.h"

struct privd_config {
	char kubelet_root[PATH_MAX]; /* --kubelet-root, default /var/lib/kubelet */
	char nodeid[256];
	struct luks_config luks;
	struct s3_config s3;
};

#endif
