/* See node_call.h. Nothing here touches the system: privd does. */
#define _GNU_SOURCE
#include "node_call.h"

#include <stdio.h>
#include <string.h>

#include "keyed_lock.h"
#include "privd_client.h"

static grpc_status_code
status_of(uint32_t err_class)
{
	switch (err_class) {
	case IPC_EC_INVALID: return GRPC_STATUS_INVALID_ARGUMENT;
	case IPC_EC_NOT_FOUND: return GRPC_STATUS_NOT_FOUND;
	case IPC_EC_EXISTS: return GRPC_STATUS_ALREADY_EXISTS;
	case IPC_EC_PERMISSION: return GRPC_STATUS_PERMISSION_DENIED;
	case IPC_EC_PRECONDITION: return GRPC_STATUS_FAILED_PRECONDITION;
	case IPC_EC_EXHAUSTED: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case IPC_EC_BUSY: return GRPC_STATUS_ABORTED;
	case IPC_EC_UNAVAILABLE: return GRPC_STATUS_UNAVAILABLE;
	default: return GRPC_STATUS_INTERNAL;
	}
}

grpc_status_code
node_forward(struct csi_call *c, const char *volume_id, struct ipc_msg *req, struct ipc_msg *ans,
	     int timeout_ms, enum node_fwd how)
{
	grpc_status_code st = GRPC_STATUS_OK;

	if (keyed_trylock(volume_id)) {
		explicit_bzero(req, sizeof(*req));
		return csi_error(c, GRPC_STATUS_ABORTED,
				 "an operation on volume %s is already in progress", volume_id);
	}
	int rc = privd_call(req, ans, timeout_ms);
	if (rc == PRIVD_REFUSED)
		st = csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
			       "a request value holds a control character or is out of range");
	else if (rc)
		st = csi_error(c, GRPC_STATUS_DEADLINE_EXCEEDED,
			       "privd did not finish within %d s; the operation continues and a "
			       "retry will report its outcome", timeout_ms / 1000);
	else if (ans->type == IPC_ANS_ERROR) {
		grpc_status_code code = status_of(ans->u.error.err_class);
		if (how == NODE_AT_PATH && code == GRPC_STATUS_INVALID_ARGUMENT)
			code = GRPC_STATUS_NOT_FOUND;
		st = csi_error(c, code, "%s", ans->u.error.msg);
	}
	keyed_unlock(volume_id);
	explicit_bzero(req, sizeof(*req));
	return st;
}

grpc_status_code
node_path_arg(struct csi_call *c, const char *what, const char *p)
{
	char why[160];
	if (check_path(what, p, why, sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	return GRPC_STATUS_OK;
}

grpc_status_code
node_volume_path_arg(struct csi_call *c, const char *p)
{
	char why[160];
	if (check_path("volume_path", p, why, sizeof(why)) == 0)
		return GRPC_STATUS_OK;
	if (p[0] == '\0')
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	return csi_error(c, GRPC_STATUS_NOT_FOUND, "the volume is not at that volume_path: %s", why);
}

grpc_status_code
node_capability_arg(struct csi_call *c, const Csi__V1__VolumeCapability *cap, struct cap_req *out)
{
	char why[256];
	int rc = check_capability(cap, out, why, sizeof(why));
	if (rc == 0)
		return GRPC_STATUS_OK;
	return csi_error(c, rc == CAP_UNSUPPORTED ? GRPC_STATUS_FAILED_PRECONDITION
						  : GRPC_STATUS_INVALID_ARGUMENT,
			 "%s", why);
}

grpc_status_code
node_stage_key(struct csi_call *c, const Csi__V1__NodeStageVolumeRequest *r,
	       const struct luks_ctx *ctx, const struct stage_key_dst *dst)
{
	const char *key = ctx->passphrase_key;

	if (ctx->secret_name[0]) {
		strcpy(dst->secret_namespace, ctx->secret_namespace);
		strcpy(dst->secret_name, ctx->secret_name);
		strcpy(dst->secret_key, key);
		return GRPC_STATUS_OK;
	}
	const char *pass = kv_get(KV(r->secrets), r->n_secrets, key);
	if (pass == NULL)
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
				 "the node-stage secret has no key \"%s\" (StorageClass "
				 "csi.storage.k8s.io/node-stage-secret-name and passphraseKey)", key);
	size_t plen = strlen(pass);
	if (plen == 0 || pass[0] == '\n')
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
				 "the passphrase in key \"%s\" is empty", key);
	if (plen > IPC_SECRET_MAX)
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
				 "the passphrase in key \"%s\" is longer than %u bytes", key,
				 IPC_SECRET_MAX);
	memcpy(dst->passphrase, pass, plen); /* the only copy we make */
	*dst->passphrase_len = (uint32_t)plen;
	return GRPC_STATUS_OK;
}
