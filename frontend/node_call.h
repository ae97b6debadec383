/* The request plumbing the Node handlers share: argument checks with the
 * status codes the CSI error tables give them, forwarding one typed command
 * to privd under the volume's in-flight slot, and the key source of a
 * NodeStage (passphrase or hardened-mode Secret reference). */
#ifndef LCW_NODE_CALL_H
#define LCW_NODE_CALL_H

#include "csi.pb-c.h"
#include "csi_checks.h"
#include "csi_handlers.h"
#include "ipc_msg.h"

#define SLOW_TIMEOUT_MS (10 * 60 * 1000) /* stage, expand: KDF, mkfs, resize */
#define FAST_TIMEOUT_MS (2 * 60 * 1000)

/* Return from the handler unless expr is OK. */
#define CSI_CHECK(expr)                               \
	do {                                          \
		grpc_status_code _st = (expr);        \
		if (_st != GRPC_STATUS_OK)            \
			return _st;                   \
	} while (0)

/* Set c's response to an empty message of type T (init: its __init). */
#define CSI_EMPTY_RESPONSE(c, T, init)                              \
	do {                                                        \
		T *_r = arena_alloc(&(c)->arena, sizeof(T));        \
		init(_r);                                           \
		(c)->resp = &_r->base;                              \
	} while (0)

/* A required path: empty or ill-formed is INVALID_ARGUMENT. */
grpc_status_code node_path_arg(struct csi_call *c, const char *what, const char *p);

/* volume_path of NodeGetVolumeStats / NodeExpandVolume: empty is
 * INVALID_ARGUMENT (a missing field); any other path this driver could
 * never have staged or published at (relative, "..", control bytes) is
 * NOT_FOUND, as the spec's tables have it for "not on volume_path". */
grpc_status_code node_volume_path_arg(struct csi_call *c, const char *p);

/* A required volume capability: missing or ill-formed is INVALID_ARGUMENT,
 * one no volume of this driver supports is FAILED_PRECONDITION ("Exceeds
 * capabilities" of NodeStageVolume and NodePublishVolume). */
grpc_status_code node_capability_arg(struct csi_call *c, const Csi__V1__VolumeCapability *cap,
				     struct cap_req *out);

/* How privd's refusals are reported. NODE_AT_PATH: the request names a
 * volume at a path (stats, expand); the frontend has checked every field
 * the caller can get wrong, so what privd still finds invalid (a path that
 * is not one of kubelet's, a symlink, an id it cannot derive names from)
 * means this volume is not there: NOT_FOUND. */
enum node_fwd { NODE_PLAIN = 0, NODE_AT_PATH = 1 };

/* Send req to privd holding the volume's in-flight slot; on success *ans
 * is the paired answer. The request is wiped afterwards (it may hold a
 * passphrase). */
grpc_status_code node_forward(struct csi_call *c, const char *volume_id, struct ipc_msg *req,
			      struct ipc_msg *ans, int timeout_ms, enum node_fwd how);

/* Where a NodeStage's key comes from, written into the request's fields:
 * the hardened-mode Secret reference (the node-stage secret kubelet also
 * sent is not even looked at), or the passphrase from the node-stage
 * secret, checked and copied (the only copy the frontend makes). */
struct stage_key_dst {
	char *secret_namespace; /* IPC_K8S_NS_MAX + 1 */
	char *secret_name;      /* IPC_K8S_NAME_MAX + 1 */
	char *secret_key;       /* IPC_K8S_NAME_MAX + 1 */
	uint8_t *passphrase;    /* IPC_SECRET_MAX */
	uint32_t *passphrase_len;
};
grpc_status_code node_stage_key(struct csi_call *c, const Csi__V1__NodeStageVolumeRequest *r,
				const struct luks_ctx *ctx, const struct stage_key_dst *dst);

#endif
