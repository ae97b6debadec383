/* Consumers that missed a re-mount (issue 13 item 4): pods whose mount of
 * an S3 volume has no HostToContainer propagation keep, in their own mount
 * namespace, the dead FUSE mount of the rclone that died. After privd
 * re-mounted the volume, it finds them and has the spawner's repair helper
 * (privd/ns_repair.c) put the live mount in place. See SECURITY.md,
 * "Repairing pods' views of a re-mounted S3 volume". */
#ifndef LCW_S3_REPAIR_H
#define LCW_S3_REPAIR_H

#include <stddef.h>

struct privd_ctx;

/* Scan every process's mountinfo for dead mounts of volume id (remote
 * vfs) and repair each mount namespace once. Remembers the outcome for
 * s3_repair_condition. Call with the volume's keyed lock held, after its
 * mount is live again. */
void s3_repair_consumers(const struct privd_ctx *ctx, const char *id, const char *vfs);

/* 1 with why in msg if some consumer of id still sees a dead mount that
 * could not be repaired (NodeGetVolumeStats reports the volume abnormal
 * then), else 0. */
int s3_repair_condition(const char *id, char *msg, size_t len);

#endif
