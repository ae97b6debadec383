/* CSI Controller service. Runs without privd (controller mode): creating a
 * local volume only names it and pins it to the chosen node; the node
 * creates the backing file at first stage. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi.pb-c.h"
#include "csi_capacity.h"
#include "csi_checks.h"
#include "csi_handlers.h"
#include "log.h"
#include "s3_delete.h"
#include "s3_params.h"
#include "version.h"
#include "volparams.h"

/* Sizes of volumes created by this process, so the same name with another
 * size is ALREADY_EXISTS. The controller keeps no other state; after a
 * restart a retried CreateVolume is answered from its request again. */
struct created {
	struct created *next;
	uint64_t capacity;
	char name[];
};
static pthread_mutex_t created_mu = PTHREAD_MUTEX_INITIALIZER;
static struct created *created_list;

/* Returns the capacity recorded for name, or 0. Records cap if new. */
static uint64_t
remember(const char *name, uint64_t cap)
{
	uint64_t prev = 0;

	pthread_mutex_lock(&created_mu);
	for (struct created *c = created_list; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			prev = c->capacity;
	if (prev == 0) {
		struct created *c = malloc(sizeof(*c) + strlen(name) + 1);
		if (c == NULL)
			fatal(70, "out of memory");
		c->capacity = cap;
		strcpy(c->name, name);
		c->next = created_list;
		created_list = c;
	}
	pthread_mutex_unlock(&created_mu);
	return prev;
}

/* The node the scheduler picked: the first preferred segment (delayed
 * binding puts the selected node first), else the first requisite one. */
static const char *
chosen_node(const Csi__V1__TopologyRequirement *req)
{
	if (req == NULL)
		return NULL;
	for (size_t i = 0; i < req->n_preferred; i++) {
		const char *v = kv_get(KV(req->preferred[i]->segments), req->preferred[i]->n_segments,
				       TOPOLOGY_KEY);
		if (v && v[0])
			return v;
	}
	for (size_t i = 0; i < req->n_requisite; i++) {
		const char *v = kv_get(KV(req->requisite[i]->segments), req->requisite[i]->n_segments,
				       TOPOLOGY_KEY);
		if (v && v[0])
			return v;
	}
	return NULL;
}

static grpc_status_code
create_volume(struct csi_call *c)
{
	const Csi__V1__CreateVolumeRequest *r = (const void *)c->req;
	Csi__V1__CreateVolumeResponse *resp;
	Csi__V1__Volume *vol;
	char why[256];
	int fs_kind = FS_UNSET;
	uint64_t cap;

	if (r->name[0] == '\0')
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "name is required");
	if (volid_valid(r->name))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
				 "name must be 1-128 characters of [A-Za-z0-9.-] (no '_': "
				 "local-path-provisioner's directory names have it)");
	if (check_capabilities(r->volume_capabilities, r->n_volume_capabilities, &fs_kind, why,
			       sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	if (r->volume_content_source)
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
				 "snapshots and clones are not supported");
	const char *backend = kv_get(KV(r->parameters), r->n_parameters, "storage-backend");
	int is_s3 = backend && strcmp(backend, "s3") == 0; /* contract item 4 */
	if (is_s3) {
		/* Refuse a bad StorageClass now, not at the first NodeStage. */
		struct s3_vol_params p;
		if (parse_s3_params(KV(r->parameters), r->n_parameters, &p, NULL, why, sizeof(why)))
			return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	}
	const char *pfs = kv_get(KV(r->parameters), r->n_parameters, "fsType");
	if (fs_kind == FS_UNSET && pfs && pfs[0]) {
		if ((fs_kind = fs_kind_parse(pfs)) < 0)
			return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT,
					 "unsupported fsType parameter \"%.32s\"", pfs);
	}
	if (capacity_resolve(r->capacity_range ? r->capacity_range->required_bytes : 0,
			     r->capacity_range ? r->capacity_range->limit_bytes : 0, fs_kind, &cap,
			     why, sizeof(why)))
		return csi_error(c, GRPC_STATUS_OUT_OF_RANGE, "%s", why);
	/* Local volumes: the chosen node must have room (csi_capacity.c). */
	const char *pin = is_s3 ? NULL : chosen_node(r->accessibility_requirements);
	if (pin && csi_capacity_admit(c, pin, cap) != GRPC_STATUS_OK)
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	uint64_t prev = remember(r->name, cap);
	if (prev && prev != cap)
		return csi_error(c, GRPC_STATUS_ALREADY_EXISTS,
				 "volume %s already exists with %llu bytes", r->name,
				 (unsigned long long)prev);

	resp = arena_alloc(&c->arena, sizeof(*resp));
	vol = arena_alloc(&c->arena, sizeof(*vol));
	csi__v1__create_volume_response__init(resp);
	csi__v1__volume__init(vol);
	vol->volume_id = arena_strdup(&c->arena, r->name);
	vol->capacity_bytes = (int64_t)cap;

	/* volume_context: "capacity" plus every StorageClass parameter the
	 * provisioner passed, verbatim (contract item 3). */
	size_t nctx = 1;
	vol->volume_context = arena_alloc(&c->arena, sizeof(void *) * (r->n_parameters + 1));
	Csi__V1__Volume__VolumeContextEntry *e = arena_alloc(&c->arena, sizeof(*e));
	csi__v1__volume__volume_context_entry__init(e);
	e->key = (char *)"capacity";
	char num[32];
	snprintf(num, sizeof(num), "%llu", (unsigned long long)cap);
	e->value = arena_strdup(&c->arena, num);
	vol->volume_context[0] = e;
	for (size_t i = 0; i < r->n_parameters; i++) {
		if (strncmp(r->parameters[i]->key, "csi.storage.k8s.io/", 19) == 0 ||
		    strcmp(r->parameters[i]->key, "capacity") == 0)
			continue;
		e = arena_alloc(&c->arena, sizeof(*e));
		csi__v1__volume__volume_context_entry__init(e);
		e->key = arena_strdup(&c->arena, r->parameters[i]->key);
		e->value = arena_strdup(&c->arena, r->parameters[i]->value);
		vol->volume_context[nctx++] = e;
	}
	vol->n_volume_context = nctx;

	/* Local volumes live on one node: pin the PV there (the original did
	 * not, and a rescheduled pod silently got a new empty volume). */
	const char *node = is_s3 ? NULL : chosen_node(r->accessibility_requirements);
	if (is_s3) {
		/* S3 volumes are reachable from every node: no topology. */
	} else if (node) {
		Csi__V1__Topology *t = arena_alloc(&c->arena, sizeof(*t));
		Csi__V1__Topology__SegmentsEntry *s = arena_alloc(&c->arena, sizeof(*s));
		csi__v1__topology__init(t);
		csi__v1__topology__segments_entry__init(s);
		s->key = (char *)TOPOLOGY_KEY;
		s->value = arena_strdup(&c->arena, node);
		t->n_segments = 1;
		t->segments = arena_alloc(&c->arena, sizeof(void *));
		t->segments[0] = s;
		vol->n_accessible_topology = 1;
		vol->accessible_topology = arena_alloc(&c->arena, sizeof(void *));
		vol->accessible_topology[0] = t;
	} else {
		log_warn("CreateVolume %s: no topology requirement with %s; the volume is not "
			 "pinned to a node (run csi-provisioner with topology enabled)",
			 r->name, TOPOLOGY_KEY);
	}
	resp->volume = vol;
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

/* "Volume does not exist" (NOT_FOUND) where the controller can know it:
 * with a Kubernetes API, a volume of this driver has a PersistentVolume
 * carrying its handle. Without one the controller keeps no record of its
 * volumes, and answers from the request alone. */
static grpc_status_code
volume_exists(struct csi_call *c, const char *id)
{
	char err[256];
	int rc = controller_pv_exists(id, err, sizeof(err));

	if (rc == 1 || rc == CTL_NO_API)
		return GRPC_STATUS_OK;
	if (rc == 0)
		return csi_error(c, GRPC_STATUS_NOT_FOUND,
				 "no PersistentVolume of %s has volume handle %s", LCW_DRIVER_NAME, id);
	return csi_error(c, GRPC_STATUS_UNAVAILABLE,
			 "cannot look up the PersistentVolume of %s: %s", id, err);
}

/* Local volumes are reclaimed on their node, which holds the only copy of
 * the key material: nothing to do here. S3 volumes (the provisioner secret
 * carries S3 credentials) are purged from their bucket. */
static grpc_status_code
delete_volume(struct csi_call *c)
{
	const Csi__V1__DeleteVolumeRequest *r = (const void *)c->req;
	Csi__V1__DeleteVolumeResponse *resp = arena_alloc(&c->arena, sizeof(*resp));

	if (r->volume_id[0] == '\0')
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "volume_id is required");
	/* An id this driver never makes names no volume: deleting it is done
	 * (the spec: a volume that does not exist is 0 OK). */
	if (volid_valid(r->volume_id) == 0 && s3_delete_applies(KV(r->secrets), r->n_secrets)) {
		grpc_status_code st = s3_delete_volume(c, r->volume_id, KV(r->secrets), r->n_secrets);
		if (st != GRPC_STATUS_OK)
			return st;
	}
	csi__v1__delete_volume_response__init(resp);
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code
controller_expand(struct csi_call *c)
{
	const Csi__V1__ControllerExpandVolumeRequest *r = (const void *)c->req;
	Csi__V1__ControllerExpandVolumeResponse *resp;
	char why[256];
	uint64_t cap;
	int fs_kind = FS_UNSET;

	grpc_status_code idst = csi_known_volume_id(c, r->volume_id);
	if (idst != GRPC_STATUS_OK)
		return idst;
	if (r->capacity_range == NULL ||
	    (r->capacity_range->required_bytes == 0 && r->capacity_range->limit_bytes == 0))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "capacity_range is required");
	if ((idst = volume_exists(c, r->volume_id)) != GRPC_STATUS_OK)
		return idst;
	if (r->volume_capability) {
		struct cap_req cr;
		if (check_capability(r->volume_capability, &cr, why, sizeof(why)))
			return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
		fs_kind = cr.fs_kind;
	}
	if (capacity_resolve(r->capacity_range->required_bytes, r->capacity_range->limit_bytes,
			     fs_kind, &cap, why, sizeof(why)))
		return csi_error(c, GRPC_STATUS_OUT_OF_RANGE, "%s", why);
	resp = arena_alloc(&c->arena, sizeof(*resp));
	csi__v1__controller_expand_volume_response__init(resp);
	resp->capacity_bytes = (int64_t)cap;
	resp->node_expansion_required = 1; /* the node grows file, LUKS and fs */
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code
validate_caps(struct csi_call *c)
{
	const Csi__V1__ValidateVolumeCapabilitiesRequest *r = (const void *)c->req;
	Csi__V1__ValidateVolumeCapabilitiesResponse *resp;
	char why[256];
	int fs_kind;

	grpc_status_code idst = csi_known_volume_id(c, r->volume_id);
	if (idst != GRPC_STATUS_OK)
		return idst;
	if (r->n_volume_capabilities == 0)
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "volume_capabilities are required");
	if ((idst = volume_exists(c, r->volume_id)) != GRPC_STATUS_OK)
		return idst;
	resp = arena_alloc(&c->arena, sizeof(*resp));
	csi__v1__validate_volume_capabilities_response__init(resp);
	if (check_capabilities(r->volume_capabilities, r->n_volume_capabilities, &fs_kind, why,
			       sizeof(why)) == 0) {
		Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed *cf =
			arena_alloc(&c->arena, sizeof(*cf));
		csi__v1__validate_volume_capabilities_response__confirmed__init(cf);
		cf->n_volume_capabilities = r->n_volume_capabilities;
		cf->volume_capabilities = r->volume_capabilities;
		/* Borrowed from the request: the server packs the response
		 * before it frees the request. */
		resp->confirmed = cf;
	} else {
		resp->message = arena_strdup(&c->arena, why);
	}
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code
controller_caps(struct csi_call *c)
{
	static const Csi__V1__ControllerServiceCapability__RPC__Type types[] = {
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
		CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_CAPACITY,
	};
	/* GET_CAPACITY where it can be answered: on the node (privd measures)
	 * or in a controller that reads the nodes' Leases. */
	const int capacity = !fe_config.controller_mode ||
			     (fe_config.capacity_namespace && fe_config.capacity_namespace[0]);
	const size_t n = sizeof(types) / sizeof(types[0]) - !capacity;
	Csi__V1__ControllerGetCapabilitiesResponse *resp = arena_alloc(&c->arena, sizeof(*resp));

	csi__v1__controller_get_capabilities_response__init(resp);
	resp->n_capabilities = n;
	resp->capabilities = arena_alloc(&c->arena, sizeof(void *) * n);
	for (size_t i = 0; i < n; i++) {
		Csi__V1__ControllerServiceCapability *cap = arena_alloc(&c->arena, sizeof(*cap));
		Csi__V1__ControllerServiceCapability__RPC *rpc = arena_alloc(&c->arena, sizeof(*rpc));
		csi__v1__controller_service_capability__init(cap);
		csi__v1__controller_service_capability__rpc__init(rpc);
		rpc->type = types[i];
		cap->type_case = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC;
		cap->rpc = rpc;
		resp->capabilities[i] = cap;
	}
	c->resp = &resp->base;
	return GRPC_STATUS_OK;
}

const struct csi_method csi_controller_methods[] = {
	{ "/csi.v1.Controller/CreateVolume", create_volume },
	{ "/csi.v1.Controller/DeleteVolume", delete_volume },
	{ "/csi.v1.Controller/ControllerExpandVolume", controller_expand },
	{ "/csi.v1.Controller/ValidateVolumeCapabilities", validate_caps },
	{ "/csi.v1.Controller/ControllerGetCapabilities", controller_caps },
	{ "/csi.v1.Controller/GetCapacity", csi_get_capacity },
	{ NULL, NULL },
};
