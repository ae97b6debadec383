/* csi-addons services on the node plugin's socket (issue 14): Identity,
 * EncryptionKeyRotation and ReclaimSpace (node side), from our own .proto
 * files in proto/csiaddons/. As for CSI: validate, forward one typed
 * command to privd, touch nothing here. */
#define _GNU_SOURCE
#include "csiaddons.h"

#include <stdio.h>
#include <string.h>

#include "csiaddons/encryptionkeyrotation.pb-c.h"
#include "csiaddons/identity.pb-c.h"
#include "csiaddons/reclaimspace.pb-c.h"
#include "csi_checks.h"
#include "ipc_msg.h"
#include "node_call.h"
#include "privd_client.h"
#include "rotation.h"
#include "version.h"

/* Rotations forward through node_forward (node_call.h): they hold the
 * volume's in-flight slot shared with the CSI node calls, so a rotation
 * never runs beside a stage of the same volume. */
#define ROTATE_TIMEOUT_MS (10 * 60 * 1000) /* several KDF runs */
#define PROBE_TIMEOUT_MS 5000

/* ---- Identity ------------------------------------------------------------ */

static grpc_status_code
get_identity(struct csi_call *c)
{
	Identity__GetIdentityResponse *r = arena_alloc(&c->arena, sizeof(*r));

	identity__get_identity_response__init(r);
	r->name = (char *)LCW_DRIVER_NAME;
	r->vendor_version = (char *)LCW_VERSION;
	c->resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code
get_capabilities(struct csi_call *c)
{
	Identity__GetCapabilitiesResponse *r = arena_alloc(&c->arena, sizeof(*r));
	Identity__Capability **caps = arena_alloc(&c->arena, 3 * sizeof(*caps));
	Identity__Capability__Service *svc = arena_alloc(&c->arena, sizeof(*svc));
	Identity__Capability__ReclaimSpace *rs = arena_alloc(&c->arena, sizeof(*rs));
	Identity__Capability__EncryptionKeyRotation *ekr = arena_alloc(&c->arena, sizeof(*ekr));

	identity__get_capabilities_response__init(r);
	for (int i = 0; i < 3; i++) {
		caps[i] = arena_alloc(&c->arena, sizeof(*caps[i]));
		identity__capability__init(caps[i]);
	}
	identity__capability__service__init(svc);
	svc->type = IDENTITY__CAPABILITY__SERVICE__TYPE__NODE_SERVICE;
	caps[0]->type_case = IDENTITY__CAPABILITY__TYPE_SERVICE;
	caps[0]->service = svc;
	/* ONLINE: on a staged volume, on its node (only where its StorageClass
	 * allows discards; elsewhere the call succeeds doing nothing). */
	identity__capability__reclaim_space__init(rs);
	rs->type = IDENTITY__CAPABILITY__RECLAIM_SPACE__TYPE__ONLINE;
	caps[1]->type_case = IDENTITY__CAPABILITY__TYPE_RECLAIM_SPACE;
	caps[1]->reclaim_space = rs;
	identity__capability__encryption_key_rotation__init(ekr);
	ekr->type = IDENTITY__CAPABILITY__ENCRYPTION_KEY_ROTATION__TYPE__ENCRYPTIONKEYROTATION;
	caps[2]->type_case = IDENTITY__CAPABILITY__TYPE_ENCRYPTION_KEY_ROTATION;
	caps[2]->encryption_key_rotation = ekr;
	r->n_capabilities = 3;
	r->capabilities = caps;
	c->resp = &r->base;
	return GRPC_STATUS_OK;
}

/* Ready when privd answers, as CSI's Probe. */
static grpc_status_code
addons_probe(struct csi_call *c)
{
	struct ipc_msg req = { .type = IPC_REQ_PING }, ans;
	Identity__ProbeResponse *r;
	Google__Protobuf__BoolValue *ready;

	if (privd_call(&req, &ans, PROBE_TIMEOUT_MS))
		return csi_error(c, GRPC_STATUS_FAILED_PRECONDITION,
				 "privd did not answer within %d ms", PROBE_TIMEOUT_MS);
	if (ans.type != IPC_ANS_PING)
		return csi_error(c, GRPC_STATUS_FAILED_PRECONDITION, "privd is not ready: %s",
				 ans.u.error.msg);
	r = arena_alloc(&c->arena, sizeof(*r));
	ready = arena_alloc(&c->arena, sizeof(*ready));
	identity__probe_response__init(r);
	google__protobuf__bool_value__init(ready);
	ready->value = 1;
	r->ready = ready;
	c->resp = &r->base;
	return GRPC_STATUS_OK;
}

/* ---- EncryptionKeyRotation ------------------------------------------------ */

/* The passphrases come from the Secret (README "Passphrase rotation"):
 * with the Kubernetes API, privd reads the one the volume's PV names and
 * ignores what is sent here; without it, a hardened-mode reference in the
 * parameters, or the Secret's data in secrets (<passphraseKey> and
 * <passphraseKey>-previous). A caller-chosen encryption_key is refused:
 * the key lives in the Secret, where the next stage finds it too. */
static grpc_status_code
encryption_key_rotate(struct csi_call *c)
{
	const Encryptionkeyrotation__EncryptionKeyRotateRequest *r = (const void *)c->req;
	struct ipc_msg req = { .type = IPC_REQ_ROTATE_KEY }, ans;
	struct ipc_rotate_req *q = &req.u.rotate;
	struct luks_ctx ctx;
	char why[256];

	grpc_status_code st = csi_need_volume_id(c, r->volume_id);
	if (st != GRPC_STATUS_OK)
		return st;
	if (r->encryption_key && r->encryption_key[0])
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
				 "encryption_key is not taken: write the new passphrase to the "
				 "volume's Secret (its passphraseKey, the old one under "
				 "<passphraseKey>" PREVIOUS_SUFFIX ")");
	if (parse_volume_context(KV(r->parameters), r->n_parameters, &ctx, why, sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	if (ctx.is_s3)
		return csi_error(c, GRPC_STATUS_FAILED_PRECONDITION,
				 "volume %s is an S3 volume: rclone crypt has no key wrapping, so a "
				 "new passphrase means re-encrypting every object; see README "
				 "\"Rotating the passphrase of an S3 volume\"", r->volume_id);
	strcpy(q->volume_id, r->volume_id);
	if (ctx.secret_name[0]) {
		strcpy(q->secret_namespace, ctx.secret_namespace);
		strcpy(q->secret_name, ctx.secret_name);
		strcpy(q->secret_key, ctx.passphrase_key);
	} else {
		const char *p = kv_get(KV(r->secrets), r->n_secrets, ctx.passphrase_key);
		size_t n = p ? strlen(p) : 0;
		if (n > IPC_SECRET_MAX) {
			explicit_bzero(&req, sizeof(req));
			return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
					 "the passphrase in key \"%s\" is longer than %u bytes",
					 ctx.passphrase_key, IPC_SECRET_MAX);
		}
		if (n)
			memcpy(q->passphrase, p, n);
		q->passphrase_len = (uint32_t)n;
		if (previous_passphrase(KV(r->secrets), r->n_secrets, ctx.passphrase_key,
					q->prev_passphrase, &q->prev_passphrase_len, why,
					sizeof(why))) {
			explicit_bzero(&req, sizeof(req));
			return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
		}
	}
	st = node_forward(c, r->volume_id, &req, &ans, ROTATE_TIMEOUT_MS, NODE_PLAIN);
	if (st != GRPC_STATUS_OK)
		return st;
	Encryptionkeyrotation__EncryptionKeyRotateResponse *resp =
		arena_alloc(&c->arena, sizeof(*resp));
	encryptionkeyrotation__encryption_key_rotate_response__init(resp);
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

/* ---- ReclaimSpace ----------------------------------------------------------- */

static Reclaimspace__StorageConsumption *
usage(struct csi_call *c, uint64_t bytes)
{
	Reclaimspace__StorageConsumption *u = arena_alloc(&c->arena, sizeof(*u));
	reclaimspace__storage_consumption__init(u);
	u->usage_bytes = (int64_t)bytes;
	return u;
}

/* NodeReclaimSpace: usage is the backing file's allocated bytes before and
 * after (what a thin-provisioned node disk pays for). */
static grpc_status_code
node_reclaim_space(struct csi_call *c)
{
	const Reclaimspace__NodeReclaimSpaceRequest *r = (const void *)c->req;
	struct ipc_msg req = { .type = IPC_REQ_RECLAIM_SPACE }, ans;
	char why[160];

	grpc_status_code st = csi_need_volume_id(c, r->volume_id);
	if (st != GRPC_STATUS_OK)
		return st;
	if (check_path("volume_path", r->volume_path, why, sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	strcpy(req.u.reclaim.volume_id, r->volume_id);
	strcpy(req.u.reclaim.volume_path, r->volume_path);
	st = node_forward(c, r->volume_id, &req, &ans, ROTATE_TIMEOUT_MS, NODE_PLAIN);
	if (st != GRPC_STATUS_OK)
		return st;
	Reclaimspace__NodeReclaimSpaceResponse *resp = arena_alloc(&c->arena, sizeof(*resp));
	reclaimspace__node_reclaim_space_response__init(resp);
	resp->pre_usage = usage(c, ans.u.reclaim_ans.pre_bytes);
	resp->post_usage = usage(c, ans.u.reclaim_ans.post_bytes);
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

const struct csi_method csiaddons_methods[] = {
	{ "/identity.Identity/GetIdentity", get_identity },
	{ "/identity.Identity/GetCapabilities", get_capabilities },
	{ "/identity.Identity/Probe", addons_probe },
	{ "/encryptionkeyrotation.EncryptionKeyRotationController/EncryptionKeyRotate",
	  encryption_key_rotate },
	{ "/reclaimspace.ReclaimSpaceNode/NodeReclaimSpace", node_reclaim_space },
	{ NULL, NULL },
};

const ProtobufCServiceDescriptor *const csiaddons_services[] = {
	&identity__identity__descriptor,
	&encryptionkeyrotation__encryption_key_rotation_controller__descriptor,
	&reclaimspace__reclaim_space_controller__descriptor,
	&reclaimspace__reclaim_space_node__descriptor,
	NULL,
};
