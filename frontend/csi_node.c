/* CSI Node service: validate, then forward one narrowly typed command to
 * privd. Nothing here touches the system. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "csi.pb-c.h"
#include "csi_capacity.h"
#include "csi_checks.h"
#include "csi_handlers.h"
#include "log.h"
#include "ipc_msg.h"
#include "node_call.h"
#include "rotation.h"
#include "s3_params.h"
#include "volparams.h"

/* NodeStage of an S3 volume: the rclone tuning is parsed here (a bad value
 * is INVALID_ARGUMENT naming the parameter) and travels parsed; privd reads
 * the S3 credentials Secret itself. */
static grpc_status_code
node_stage_s3(struct csi_call *c, const Csi__V1__NodeStageVolumeRequest *r,
	      const struct luks_ctx *ctx, int has_gid, uint32_t gid)
{
	struct ipc_msg req = { .type = IPC_REQ_STAGE_S3 }, ans;
	struct ipc_stage_s3_req *s = &req.u.stage_s3;
	struct s3_vol_params p;
	char why[IPC_ERRMSG_MAX];
	const char *unknown;

	if (parse_s3_params(KV(r->volume_context), r->n_volume_context, &p, &unknown, why,
			    sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	if (unknown)
		log_warn("NodeStage %s: ignoring unknown parameter \"%.64s\"", r->volume_id, unknown);
	strcpy(s->volume_id, r->volume_id);
	strcpy(s->staging_path, r->staging_target_path);
	s->capacity = ctx->capacity;
	s->has_fs_group = (uint8_t)has_gid;
	s->fs_group = gid;
	strcpy(s->passphrase_key, ctx->passphrase_key);
	strcpy(s->s3_namespace, p.secret_namespace);
	strcpy(s->s3_name, p.secret_name);
	strcpy(s->prefix, p.prefix);
	s3_params_to_tuning(&p, &s->t);
	/* rclone crypt takes the whole passphrase, newline included. */
	CSI_CHECK(node_stage_key(c, r, ctx, &(struct stage_key_dst){
		s->secret_namespace, s->secret_name, s->secret_key, s->passphrase,
		&s->passphrase_len }));
	CSI_CHECK(node_forward(c, r->volume_id, &req, &ans, SLOW_TIMEOUT_MS, NODE_PLAIN));
	CSI_EMPTY_RESPONSE(c, Csi__V1__NodeStageVolumeResponse,
			   csi__v1__node_stage_volume_response__init);
	return GRPC_STATUS_OK;
}

/* Required fields in the order the spec lists them (volume_id,
 * staging_target_path, volume_capability), each INVALID_ARGUMENT when
 * missing; a capability no volume here supports is FAILED_PRECONDITION. */
static grpc_status_code
node_stage(struct csi_call *c)
{
	const Csi__V1__NodeStageVolumeRequest *r = (const void *)c->req;
	struct ipc_msg req = { .type = IPC_REQ_STAGE_LUKS }, ans;
	struct ipc_stage_req *s = &req.u.stage;
	struct cap_req cap;
	struct luks_ctx ctx;
	char why[256];
	int has_gid;
	uint32_t gid = 0;

	CSI_CHECK(csi_known_volume_id(c, r->volume_id));
	CSI_CHECK(node_path_arg(c, "staging_target_path", r->staging_target_path));
	CSI_CHECK(node_capability_arg(c, r->volume_capability, &cap));
	if (parse_volume_context(KV(r->volume_context), r->n_volume_context, &ctx, why, sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	if (resolve_fs_group(&ctx, &cap, &has_gid, &gid, why, sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	if (ctx.is_s3)
		return node_stage_s3(c, r, &ctx, has_gid, gid);
	strcpy(s->volume_id, r->volume_id);
	strcpy(s->staging_path, r->staging_target_path);
	s->fs_kind = (uint32_t)cap.fs_kind;
	strcpy(s->mount_opts, cap.mount_opts);
	s->capacity = ctx.capacity;
	s->has_fs_group = (uint8_t)has_gid;
	s->fs_group = gid;
	s->fs_mode = (uint32_t)ctx.fs_mode;
	if (discards_opt_in(KV(r->volume_context), r->n_volume_context, &s->allow_discards, why,
			    sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	CSI_CHECK(node_stage_key(c, r, &ctx, &(struct stage_key_dst){
		s->secret_namespace, s->secret_name, s->secret_key, s->passphrase,
		&s->passphrase_len }));
	/* node-stage-secret mode: the previous passphrase during a rotation
	 * (hardened mode: privd reads both keys from the Secret itself) */
	if (!ctx.secret_name[0] &&
	    previous_passphrase(KV(r->secrets), r->n_secrets, ctx.passphrase_key,
				s->prev_passphrase, &s->prev_passphrase_len, why, sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	CSI_CHECK(node_forward(c, r->volume_id, &req, &ans, SLOW_TIMEOUT_MS, NODE_PLAIN));
	CSI_EMPTY_RESPONSE(c, Csi__V1__NodeStageVolumeResponse,
			   csi__v1__node_stage_volume_response__init);
	return GRPC_STATUS_OK;
}

static grpc_status_code
node_unstage(struct csi_call *c)
{
	const Csi__V1__NodeUnstageVolumeRequest *r = (const void *)c->req;
	struct ipc_msg req = { .type = IPC_REQ_UNSTAGE }, ans;

	CSI_CHECK(csi_known_volume_id(c, r->volume_id));
	CSI_CHECK(node_path_arg(c, "staging_target_path", r->staging_target_path));
	strcpy(req.u.unstage.volume_id, r->volume_id);
	strcpy(req.u.unstage.staging_path, r->staging_target_path);
	CSI_CHECK(node_forward(c, r->volume_id, &req, &ans, FAST_TIMEOUT_MS, NODE_PLAIN));
	CSI_EMPTY_RESPONSE(c, Csi__V1__NodeUnstageVolumeResponse,
			   csi__v1__node_unstage_volume_response__init);
	return GRPC_STATUS_OK;
}

/* The spec's required fields first (volume_id, target_path,
 * volume_capability: INVALID_ARGUMENT each), then staging_target_path,
 * optional in the message but needed by a STAGE_UNSTAGE_VOLUME driver:
 * its absence is the table's "Staging target path not set",
 * FAILED_PRECONDITION. */
static grpc_status_code
node_publish(struct csi_call *c)
{
	const Csi__V1__NodePublishVolumeRequest *r = (const void *)c->req;
	struct ipc_msg req = { .type = IPC_REQ_PUBLISH }, ans;
	struct cap_req cap;

	CSI_CHECK(csi_known_volume_id(c, r->volume_id));
	CSI_CHECK(node_path_arg(c, "target_path", r->target_path));
	CSI_CHECK(node_capability_arg(c, r->volume_capability, &cap));
	if (r->staging_target_path[0] == '\0')
		return csi_error(c, GRPC_STATUS_FAILED_PRECONDITION,
				 "staging_target_path is required: this driver stages volumes");
	CSI_CHECK(node_path_arg(c, "staging_target_path", r->staging_target_path));
	strcpy(req.u.publish.volume_id, r->volume_id);
	strcpy(req.u.publish.staging_path, r->staging_target_path);
	strcpy(req.u.publish.target_path, r->target_path);
	req.u.publish.readonly = (r->readonly || cap.readonly) ? 1 : 0;
	CSI_CHECK(node_forward(c, r->volume_id, &req, &ans, FAST_TIMEOUT_MS, NODE_PLAIN));
	CSI_EMPTY_RESPONSE(c, Csi__V1__NodePublishVolumeResponse,
			   csi__v1__node_publish_volume_response__init);
	return GRPC_STATUS_OK;
}

static grpc_status_code
node_unpublish(struct csi_call *c)
{
	const Csi__V1__NodeUnpublishVolumeRequest *r = (const void *)c->req;
	struct ipc_msg req = { .type = IPC_REQ_UNPUBLISH }, ans;

	CSI_CHECK(csi_known_volume_id(c, r->volume_id));
	CSI_CHECK(node_path_arg(c, "target_path", r->target_path));
	strcpy(req.u.unpublish.volume_id, r->volume_id);
	strcpy(req.u.unpublish.target_path, r->target_path);
	CSI_CHECK(node_forward(c, r->volume_id, &req, &ans, FAST_TIMEOUT_MS, NODE_PLAIN));
	CSI_EMPTY_RESPONSE(c, Csi__V1__NodeUnpublishVolumeResponse,
			   csi__v1__node_unpublish_volume_response__init);
	return GRPC_STATUS_OK;
}

/* An unknown volume, or a volume_path where the volume is not mounted, is
 * NOT_FOUND; only a missing field is INVALID_ARGUMENT. "Exceeds
 * capabilities" is INVALID_ARGUMENT in this table. capacity_range is
 * optional: without it (new_size 0 on the wire) privd grows the file system
 * to fill the volume's current device, the spec's "maximum capacity to
 * which the volume can be expanded", and grows no backing file. */
static grpc_status_code
node_expand(struct csi_call *c)
{
	const Csi__V1__NodeExpandVolumeRequest *r = (const void *)c->req;
	struct ipc_msg req = { .type = IPC_REQ_EXPAND }, ans;
	char why[256];
	uint64_t want = 0;
	int fs_kind = FS_UNSET;

	CSI_CHECK(csi_known_volume_id(c, r->volume_id));
	CSI_CHECK(node_volume_path_arg(c, r->volume_path));
	int stated = r->capacity_range != NULL &&
		     (r->capacity_range->required_bytes != 0 || r->capacity_range->limit_bytes != 0);
	if (r->volume_capability) {
		struct cap_req cap;
		if (check_capability(r->volume_capability, &cap, why, sizeof(why)))
			return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
		fs_kind = cap.fs_kind;
	}
	if (stated && capacity_resolve(r->capacity_range->required_bytes,
				       r->capacity_range->limit_bytes, fs_kind, &want, why,
				       sizeof(why)))
		return csi_error(c, GRPC_STATUS_OUT_OF_RANGE, "%s", why);
	strcpy(req.u.expand.volume_id, r->volume_id);
	/* Kubelet passes the publish target or the staging path; privd grows
	 * whichever it is, as long as it is this volume's mount. */
	strcpy(req.u.expand.volume_path, r->volume_path);
	req.u.expand.new_size = want;
	CSI_CHECK(node_forward(c, r->volume_id, &req, &ans, SLOW_TIMEOUT_MS, NODE_AT_PATH));
	Csi__V1__NodeExpandVolumeResponse *resp = arena_alloc(&c->arena, sizeof(*resp));
	csi__v1__node_expand_volume_response__init(resp);
	resp->capacity_bytes = (int64_t)ans.u.expand_ans.capacity;
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

static Csi__V1__VolumeUsage *
usage(struct csi_call *c, Csi__V1__VolumeUsage__Unit unit, uint64_t total, uint64_t avail,
      uint64_t used)
{
	Csi__V1__VolumeUsage *u = arena_alloc(&c->arena, sizeof(*u));
	csi__v1__volume_usage__init(u);
	u->unit = unit;
	u->total = (int64_t)total;
	u->available = (int64_t)avail;
	u->used = (int64_t)used;
	return u;
}

static grpc_status_code
node_stats(struct csi_call *c)
{
	const Csi__V1__NodeGetVolumeStatsRequest *r = (const void *)c->req;
	struct ipc_msg req = { .type = IPC_REQ_STATS }, ans;

	/* Unknown volume or not at volume_path: NOT_FOUND (the spec's one
	 * row); a missing field: INVALID_ARGUMENT. */
	CSI_CHECK(csi_known_volume_id(c, r->volume_id));
	CSI_CHECK(node_volume_path_arg(c, r->volume_path));
	strcpy(req.u.stats.volume_id, r->volume_id);
	strcpy(req.u.stats.volume_path, r->volume_path);
	CSI_CHECK(node_forward(c, r->volume_id, &req, &ans, FAST_TIMEOUT_MS, NODE_AT_PATH));

	const struct ipc_stats_ans *a = &ans.u.stats_ans;
	Csi__V1__NodeGetVolumeStatsResponse *resp = arena_alloc(&c->arena, sizeof(*resp));
	Csi__V1__VolumeCondition *cond = arena_alloc(&c->arena, sizeof(*cond));
	csi__v1__node_get_volume_stats_response__init(resp);
	csi__v1__volume_condition__init(cond);
	resp->usage = arena_alloc(&c->arena, sizeof(void *) * 2);
	resp->usage[0] = usage(c, CSI__V1__VOLUME_USAGE__UNIT__BYTES, a->bytes_total,
			       a->bytes_avail, a->bytes_used);
	resp->usage[1] = usage(c, CSI__V1__VOLUME_USAGE__UNIT__INODES, a->inodes_total,
			       a->inodes_free, a->inodes_used);
	resp->n_usage = 2;
	cond->abnormal = a->abnormal;
	cond->message = arena_strdup(&c->arena, a->abnormal ? a->condition : "volume is healthy");
	resp->volume_condition = cond;
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code
node_caps(struct csi_call *c)
{
	static const Csi__V1__NodeServiceCapability__RPC__Type types[] = {
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_MOUNT_GROUP,
	};
	const size_t n = sizeof(types) / sizeof(types[0]);
	Csi__V1__NodeGetCapabilitiesResponse *resp = arena_alloc(&c->arena, sizeof(*resp));

	csi__v1__node_get_capabilities_response__init(resp);
	resp->n_capabilities = n;
	resp->capabilities = arena_alloc(&c->arena, sizeof(void *) * n);
	for (size_t i = 0; i < n; i++) {
		Csi__V1__NodeServiceCapability *cap = arena_alloc(&c->arena, sizeof(*cap));
		Csi__V1__NodeServiceCapability__RPC *rpc = arena_alloc(&c->arena, sizeof(*rpc));
		csi__v1__node_service_capability__init(cap);
		csi__v1__node_service_capability__rpc__init(rpc);
		rpc->type = types[i];
		cap->type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
		cap->rpc = rpc;
		resp->capabilities[i] = cap;
	}
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code
node_info(struct csi_call *c)
{
	Csi__V1__NodeGetInfoResponse *resp = arena_alloc(&c->arena, sizeof(*resp));
	Csi__V1__Topology *t = arena_alloc(&c->arena, sizeof(*t));
	Csi__V1__Topology__SegmentsEntry *s = arena_alloc(&c->arena, sizeof(*s));

	csi__v1__node_get_info_response__init(resp);
	csi__v1__topology__init(t);
	csi__v1__topology__segments_entry__init(s);
	resp->node_id = (char *)fe_config.nodeid;
	s->key = (char *)TOPOLOGY_KEY;
	s->value = (char *)fe_config.nodeid;
	t->n_segments = 1;
	t->segments = arena_alloc(&c->arena, sizeof(void *));
	t->segments[0] = s;
	resp->accessible_topology = t;
	/* The node's real bound on volumes (local + rclone mounts), so the
	 * scheduler stops before privd would refuse; 0 if privd is silent. */
	resp->max_volumes_per_node = csi_capacity_max_volumes();
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

const struct csi_method csi_node_methods[] = {
	{ "/csi.v1.Node/NodeStageVolume", node_stage },
	{ "/csi.v1.Node/NodeUnstageVolume", node_unstage },
	{ "/csi.v1.Node/NodePublishVolume", node_publish },
	{ "/csi.v1.Node/NodeUnpublishVolume", node_unpublish },
	{ "/csi.v1.Node/NodeExpandVolume", node_expand },
	{ "/csi.v1.Node/NodeGetVolumeStats", node_stats },
	{ "/csi.v1.Node/NodeGetCapabilities", node_caps },
	{ "/csi.v1.Node/NodeGetInfo", node_info },
	{ NULL, NULL },
};
