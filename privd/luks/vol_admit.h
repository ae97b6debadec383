/* Admission of local volumes' backing files: the node-wide limits
 * (node_limits.h) and the ownership records (vol_owner.h), kept apart from
 * the handlers in volume_ops.c. */
#ifndef LCW_VOL_ADMIT_H
#define LCW_VOL_ADMIT_H

#include <stdint.h>

#include "ipc_msg.h"
#include "vol.h"
#include "privd_ctx.h"

/* May v's backing file take add more bytes (new_volume: it does not exist
 * yet)? Callers hold local_limits_lock() until the file is created or
 * grown. 0, or -1 answered EXHAUSTED. */
int admit_local(const struct privd_ctx *ctx, const struct vol *v, uint64_t add, int new_volume, struct ipc_msg *ans);

/* create_backing within the limits, recording a new file as ours, and
 * checking an existing one is ours or an acceptable legacy volume
 * (*legacy: record it once staged). 0, or -1 answered. */
int create_backing_owned(const struct privd_ctx *ctx, const struct vol *v, uint64_t capacity, int *created, int *legacy,
			 struct ipc_msg *ans);

/* Room for new local volumes on this node (node_limits.h local_capacity),
 * promised: bytes of volumes that exist but have no backing file yet. 0, or
 * -1 with an error answer. */
struct local_room;
int local_room(const struct privd_ctx *ctx, uint64_t promised, struct local_room *r,
	       struct ipc_msg *ans);

#endif
