/* How much room a node has for new volumes: GetCapacity, the check
 * CreateVolume makes before it pins a volume to a node, and NodeGetInfo's
 * volume limit.
 *
 * Only the node measures its disk (privd's CAPACITY: free space of the
 * local root above the reserve, less what sparse backing files still
 * promise, within the node-wide caps). The node plugin asks privd directly.
 * The controller, which csi-provisioner asks for each node's topology
 * segment, reads the number the node's privd published in its Lease
 * (common/k8s_capacity.c); a missing or stale Lease means no room is known,
 * so the scheduler does not place new local volumes there. S3 volumes use no
 * node disk: their capacity is unbounded, reported as the largest value the
 * field holds. */
#define _GNU_SOURCE
#include "csi_capacity.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "csi_checks.h"
#include "ipc_msg.h"
#include "k8s_client.h"
#include "log.h"
#include "privd_client.h"
#include "s3_delete.h"
#include "volparams.h"

/* A Lease older than this (3 publishing periods and some) counts as none. */
#define LEASE_FRESH_S 120

/* The node a request's topology names, or NULL. */
static const char *
topology_node(Csi__V1__Topology *t)
{
	return t ? kv_get(KV(t->segments), t->n_segments, TOPOLOGY_KEY) : NULL;
}

int
csi_capacity_of(const char *node, struct k8s_node_capacity *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	if (!fe_config.controller_mode) {
		struct ipc_msg req = { .type = IPC_REQ_CAPACITY }, ans;
		if (node && strcmp(node, fe_config.nodeid) != 0) {
			snprintf(why, whylen, "this node plugin measures only node %s",
				 fe_config.nodeid);
			return 0; /* another node: no room known here */
		}
		if (privd_call(&req, &ans, 10000) || ans.type != IPC_ANS_CAPACITY) {
			snprintf(why, whylen, "privd did not answer: %s",
				 ans.type == IPC_ANS_ERROR ? ans.u.error.msg : "timeout");
			return -1;
		}
		out->available = ans.u.capacity_ans.available;
		out->maximum_volume = ans.u.capacity_ans.maximum_volume;
		out->volumes_left = ans.u.capacity_ans.volumes_left;
		return 1;
	}
	const char *ns = fe_config.capacity_namespace;
	struct k8s_client *api = controller_api();
	if (api == NULL || ns == NULL || ns[0] == '\0' || node == NULL) {
		snprintf(why, whylen, "%s", node ? "capacity is not published (no Kubernetes API or "
						   "--capacity-namespace)"
						 : "no node in the topology");
		return -1;
	}
	time_t renewed = 0;
	char err[512];
	int rc = k8s_capacity_read(api, ns, node, out, &renewed, err, sizeof(err));
	if (rc != K8S_OK) {
		snprintf(why, whylen, "node %s: %s", node, err);
		memset(out, 0, sizeof(*out));
		return rc == K8S_ERR_NOT_FOUND ? 0 : -1;
	}
	if (time(NULL) - renewed > LEASE_FRESH_S) {
		snprintf(why, whylen, "node %s last published its capacity %lld s ago", node,
			 (long long)(time(NULL) - renewed));
		memset(out, 0, sizeof(*out));
		return 0;
	}
	return 1;
}

grpc_status_code
csi_get_capacity(struct csi_call *c)
{
	const Csi__V1__GetCapacityRequest *r = (const void *)c->req;
	Csi__V1__GetCapacityResponse *resp = arena_alloc(&c->arena, sizeof(*resp));
	Google__Protobuf__Int64Value *max = arena_alloc(&c->arena, sizeof(*max));
	Google__Protobuf__Int64Value *min = arena_alloc(&c->arena, sizeof(*min));
	struct k8s_node_capacity cap;
	int fs_kind = FS_UNSET;
	char why[512] = "";

	if (r->n_volume_capabilities &&
	    check_capabilities(r->volume_capabilities, r->n_volume_capabilities, &fs_kind, why,
			       sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	const char *backend = kv_get(KV(r->parameters), r->n_parameters, "storage-backend");
	const char *pfs = kv_get(KV(r->parameters), r->n_parameters, "fsType");
	if (fs_kind == FS_UNSET && pfs && pfs[0] && (fs_kind = fs_kind_parse(pfs)) < 0)
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
				 "unsupported fsType parameter \"%.32s\"", pfs);
	csi__v1__get_capacity_response__init(resp);
	google__protobuf__int64_value__init(max);
	google__protobuf__int64_value__init(min);
	if (backend && strcmp(backend, "s3") == 0) {
		/* No node disk: unbounded, as far as the field goes. */
		resp->available_capacity = INT64_MAX;
		max->value = (int64_t)MAX_CAPACITY;
		min->value = (int64_t)MIB;
	} else {
		int known = csi_capacity_of(topology_node(r->accessible_topology), &cap, why,
					    sizeof(why));
		if (known < 0)
			return csi_error(c, GRPC_STATUS_UNAVAILABLE, "%s", why);
		if (known == 0)
			log_info("GetCapacity: %s: reporting no room", why);
		uint64_t minv = capacity_min(fs_kind);
		uint64_t avail = cap.available > MAX_CAPACITY * 1024 ? MAX_CAPACITY * 1024 : cap.available;
		uint64_t maxv = cap.maximum_volume > MAX_CAPACITY ? MAX_CAPACITY : cap.maximum_volume;
		/* A node that cannot hold the smallest volume has no room at all. */
		if (maxv < minv)
			avail = maxv = 0;
		resp->available_capacity = (int64_t)avail;
		max->value = (int64_t)maxv;
		min->value = (int64_t)minv;
	}
	resp->maximum_volume_size = max;
	resp->minimum_volume_size = min;
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

grpc_status_code
csi_capacity_admit(struct csi_call *c, const char *node, uint64_t bytes)
{
	struct k8s_node_capacity cap;
	char why[512] = "";
	int known = csi_capacity_of(node, &cap, why, sizeof(why));

	/* Where nothing can be known (no API, the node's privd unreachable),
	 * the node's own limits still refuse at the first stage. */
	if (known <= 0) {
		log_info("CreateVolume on %s: capacity not checked: %s", node, why);
		return GRPC_STATUS_OK;
	}
	if (bytes > cap.maximum_volume || cap.volumes_left == 0)
		return csi_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
				 "node %s cannot hold a %llu-byte volume (room for %llu bytes, "
				 "%llu more volumes)", node, (unsigned long long)bytes,
				 (unsigned long long)cap.maximum_volume,
				 (unsigned long long)cap.volumes_left);
	return GRPC_STATUS_OK;
}

int64_t
csi_capacity_max_volumes(void)
{
	struct ipc_msg req = { .type = IPC_REQ_CAPACITY }, ans;
	if (fe_config.controller_mode || privd_call(&req, &ans, 10000) ||
	    ans.type != IPC_ANS_CAPACITY || ans.u.capacity_ans.max_volumes > INT64_MAX)
		return 0;
	return (int64_t)ans.u.capacity_ans.max_volumes;
}
