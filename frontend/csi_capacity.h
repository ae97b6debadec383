/* Room for new volumes on a node (csi_capacity.c). */
#ifndef LCW_CSI_CAPACITY_H
#define LCW_CSI_CAPACITY_H

#include <stdint.h>

#include "csi_handlers.h"

struct k8s_node_capacity;

/* The room node (NULL: this node plugin's own) has: 1 measured (or a fresh
 * Lease), 0 no room known (another node here, no or a stale Lease: *out is
 * zero), -1 the question could not be asked (why says why). */
int csi_capacity_of(const char *node, struct k8s_node_capacity *out, char *why, size_t whylen);

/* Controller.GetCapacity. */
grpc_status_code csi_get_capacity(struct csi_call *c);

/* CreateVolume of a local volume pinned to node: OK when it fits or no
 * room can be known, else RESOURCE_EXHAUSTED (answered). */
grpc_status_code csi_capacity_admit(struct csi_call *c, const char *node, uint64_t bytes);

/* NodeGetInfo's max_volumes_per_node: --max-local-volumes plus
 * --max-s3-mounts, from privd; 0 (no limit reported) if it cannot be had. */
int64_t csi_capacity_max_volumes(void);

#endif
