/* Stage requests held against their PersistentVolume (see pv_bind.h). */
#define _GNU_SOURCE
#include "pv_bind.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "k8s_client.h"
#include "privd_ctx.h"
#include "pv_stage.h"
#include "version.h"

static uint32_t
lookup_class(int rc)
{
	switch (rc) {
	case K8S_ERR_FORBIDDEN:
	case K8S_ERR_UNAUTHORIZED: return IPC_EC_PERMISSION;
	case K8S_ERR_INVALID_ARG: return IPC_EC_INVALID;
	default: return IPC_EC_UNAVAILABLE; /* the API could not say: retry */
	}
}

static void
audit_pv(const char *id, const char *pv_name, int ok, uint64_t t0, const char *what)
{
	char d[400];

	snprintf(d, sizeof(d), "PV %s: %s", pv_name && pv_name[0] ? pv_name : "-", what);
	audit_write(&(struct audit_rec){ .op = "pv_check", .volume_id = id, .ok = ok,
		.err = ok ? 0 : EPERM, .start_ns = t0, .detail = d });
}

/* Find and parse the PV of id: 0 with *pv, or -1 answered. */
static int
pv_fetch(const struct privd_ctx *ctx, const char *id, struct pv_stage *pv, struct ipc_msg *ans)
{
	char err[512] = "", why[256] = "";
	char *json = NULL;
	size_t len = 0;
	int found = 0;
	uint64_t t0 = audit_now_ns();
	int rc = k8s_pv_for_handle(ctx->k8s, LCW_DRIVER_NAME, id, &json, &len, &found, err,
				   sizeof(err));

	if (rc != K8S_OK) {
		audit_pv(id, NULL, 0, t0, err);
		privd_answer_error(ans, lookup_class(rc), 0,
				   "cannot look up the PersistentVolume of volume %s: %s: %s", id,
				   k8s_result_name(rc), err);
		return -1;
	}
	if (!found) {
		audit_pv(id, NULL, 0, t0, "no PersistentVolume");
		privd_answer_error(ans, IPC_EC_NOT_FOUND, 0,
				   "no PersistentVolume of driver %s has volume handle %s; with the "
				   "Kubernetes API configured, only volumes that have one are staged",
				   LCW_DRIVER_NAME, id);
		return -1;
	}
	rc = pv_stage_parse(json, len, LCW_DRIVER_NAME, id, pv, why, sizeof(why));
	free(json);
	if (rc) {
		audit_pv(id, NULL, 0, t0, why);
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "the PersistentVolume of volume %s is unusable: %s", id, why);
		return -1;
	}
	return 0;
}

static int
refuse(const char *id, const struct pv_stage *pv, const char *why, uint64_t t0,
       struct ipc_msg *ans)
{
	audit_pv(id, pv->pv_name, 0, t0, why);
	privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
			   "stage of volume %s refused: %s (PersistentVolume %s)", id, why,
			   pv->pv_name[0] ? pv->pv_name : "?");
	return -1;
}

int
pv_bind_luks(const struct privd_ctx *ctx, const struct ipc_stage_req *r, uint64_t *capacity, struct ipc_msg *ans)
{
	struct pv_stage pv;
	char why[256];
	uint64_t t0 = audit_now_ns();

	*capacity = r->capacity;
	if (ctx->k8s == NULL)
		return 0; /* local test mode: no PV to hold the request against */
	if (pv_fetch(ctx, r->volume_id, &pv, ans))
		return -1;
	if (pv_stage_check_luks(&pv, r, ctx->nodeid, capacity, why, sizeof(why)))
		return refuse(r->volume_id, &pv, why, t0, ans);
	audit_pv(r->volume_id, pv.pv_name, 1, t0, pv.secret_name[0] ? "hardened" : "node-stage");
	return 0;
}

int
pv_bind_s3(const struct privd_ctx *ctx, const struct ipc_stage_s3_req *r, struct ipc_msg *ans)
{
	struct pv_stage pv;
	char why[256];
	uint64_t t0 = audit_now_ns();

	if (ctx->k8s == NULL)
		return 0;
	if (pv_fetch(ctx, r->volume_id, &pv, ans))
		return -1;
	if (pv_stage_check_s3(&pv, r, why, sizeof(why)))
		return refuse(r->volume_id, &pv, why, t0, ans);
	audit_pv(r->volume_id, pv.pv_name, 1, t0, pv.secret_name[0] ? "hardened" : "node-stage");
	return 0;
}

int
pv_rotation_secret(const struct privd_ctx *ctx, const char *id, char *ns, char *name, char *key,
		   struct ipc_msg *ans)
{
	struct pv_stage pv;
	uint64_t t0 = audit_now_ns();

	if (ctx->k8s == NULL)
		return 1;
	if (pv_fetch(ctx, id, &pv, ans))
		return -1;
	if (pv.is_s3) {
		audit_pv(id, pv.pv_name, 0, t0, "S3 volume: no key rotation");
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "volume %s is an S3 volume: rclone crypt has no key wrapping, so a "
				   "new passphrase means re-encrypting every object; see README "
				   "\"Rotating the passphrase of an S3 volume\"", id);
		return -1;
	}
	/* The Secret the volume is unlocked with: the hardened reference, else
	 * the node-stage reference the provisioner copied into the PV. */
	const char *sns = pv.secret_name[0] ? pv.secret_ns : pv.ref_ns;
	const char *sname = pv.secret_name[0] ? pv.secret_name : pv.ref_name;
	if (sname[0] == '\0') {
		audit_pv(id, pv.pv_name, 0, t0, "no passphrase Secret");
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "the PersistentVolume of volume %s names no passphrase Secret",
				   id);
		return -1;
	}
	strcpy(ns, sns);
	strcpy(name, sname);
	strcpy(key, pv.passphrase_key);
	audit_pv(id, pv.pv_name, 1, t0, "rotation: passphrase Secret from the PV");
	return 0;
}
