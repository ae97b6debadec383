/* Hold a stage request against the PersistentVolume of its volume (the
 * I/O half of pv_stage.h): where the Kubernetes API is configured, privd
 * stages only volumes that have a PV of this driver, and only as that PV
 * describes them. Without an API (local test mode) the request is all
 * there is, as before; SECURITY.md says what that costs. */
#ifndef LCW_PV_BIND_H
#define LCW_PV_BIND_H

#include <stdint.h>

#include "ipc_msg.h"
#include "privd_ctx.h"

/* 0 when the request may go on (*capacity: the size a new backing file
 * gets, the PV's where there is an API, else the request's), or -1 with
 * the error answered: NOT_FOUND when no PV carries the volume handle,
 * FAILED_PRECONDITION when the PV is unusable or the request disagrees
 * with it, PERMISSION_DENIED / UNAVAILABLE when the API cannot tell. Runs
 * before anything on the node is touched. */
int pv_bind_luks(const struct privd_ctx *ctx, const struct ipc_stage_req *r, uint64_t *capacity, struct ipc_msg *ans);
/* The passphrase Secret of id's PV for a key rotation (privd reads it
 * itself): its hardened reference, else its nodeStageSecretRef, with the
 * PV's passphraseKey, into ns (IPC_K8S_NS_MAX + 1), name and key
 * (IPC_K8S_NAME_MAX + 1). 0; 1 when no API is configured (the request
 * must say); -1 answered (no PV, an S3 volume, no Secret). */
int pv_rotation_secret(const struct privd_ctx *ctx, const char *id, char *ns, char *name, char *key,
		       struct ipc_msg *ans);
int pv_bind_s3(const struct privd_ctx *ctx, const struct ipc_stage_s3_req *r, struct ipc_msg *ans);

#endif
