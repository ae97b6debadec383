/* CSI Identity service. */
#include <stdarg.h>
#include <stdio.h>

#include "csi.pb-c.h"
#include "csi_checks.h"
#include "csi_handlers.h"
#include "ipc_msg.h"
#include "privd_client.h"
#include "version.h"

#define PROBE_TIMEOUT_MS 5000

grpc_status_code
csi_error(struct csi_call *c, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	c->resp = NULL;
	return code;
}

grpc_status_code
csi_need_volume_id(struct csi_call *c, const char *id)
{
	char why[160];

	if (check_volume_id(id, why, sizeof(why)))
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	return GRPC_STATUS_OK;
}

grpc_status_code
csi_known_volume_id(struct csi_call *c, const char *id)
{
	char why[160];

	if (check_volume_id(id, why, sizeof(why)) == 0)
		return GRPC_STATUS_OK;
	if (id[0] == '\0')
		return csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
	return csi_error(c, GRPC_STATUS_NOT_FOUND, "no such volume: %s", why);
}

static grpc_status_code
get_plugin_info(struct csi_call *c)
{
	Csi__V1__GetPluginInfoResponse *r = arena_alloc(&c->arena, sizeof(*r));

	csi__v1__get_plugin_info_response__init(r);
	r->name = (char *)LCW_DRIVER_NAME;
	r->vendor_version = (char *)LCW_VERSION;
	c->resp = &r->base;
	return GRPC_STATUS_OK;
}

static grpc_status_code
get_plugin_capabilities(struct csi_call *c)
{
	static const Csi__V1__PluginCapability__Service__Type services[] = {
		CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE,
		/* local volumes are pinned to their node */
		CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS,
	};
	Csi__V1__GetPluginCapabilitiesResponse *r = arena_alloc(&c->arena, sizeof(*r));
	size_t n = 0;

	csi__v1__get_plugin_capabilities_response__init(r);
	r->capabilities = arena_alloc(&c->arena, sizeof(void *) * 3);
	for (size_t i = 0; i < 2; i++) {
		Csi__V1__PluginCapability *cap = arena_alloc(&c->arena, sizeof(*cap));
		Csi__V1__PluginCapability__Service *svc = arena_alloc(&c->arena, sizeof(*svc));
		csi__v1__plugin_capability__init(cap);
		csi__v1__plugin_capability__service__init(svc);
		svc->type = services[i];
		cap->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
		cap->service = svc;
		r->capabilities[n++] = cap;
	}
	Csi__V1__PluginCapability *cap = arena_alloc(&c->arena, sizeof(*cap));
	Csi__V1__PluginCapability__VolumeExpansion *ve = arena_alloc(&c->arena, sizeof(*ve));
	csi__v1__plugin_capability__init(cap);
	csi__v1__plugin_capability__volume_expansion__init(ve);
	ve->type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE;
	cap->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
	cap->volume_expansion = ve;
	r->capabilities[n++] = cap;
	r->n_capabilities = n;
	c->resp = &r->base;
	return GRPC_STATUS_OK;
}

/* Probe reaches privd, so a wedged or dead helper makes Probe fail and the
 * livenessprobe restarts the pod. */
static grpc_status_code
probe(struct csi_call *c)
{
	struct ipc_msg req = { .type = IPC_REQ_PING }, ans;
	Csi__V1__ProbeResponse *r;
	Google__Protobuf__BoolValue *ready;

	if (!fe_config.controller_mode) {
		if (privd_call(&req, &ans, PROBE_TIMEOUT_MS))
			return csi_error(c, GRPC_STATUS_FAILED_PRECONDITION,
					 "privd did not answer within %d ms", PROBE_TIMEOUT_MS);
		if (ans.type != IPC_ANS_PING)
			return csi_error(c, GRPC_STATUS_FAILED_PRECONDITION,
					 "privd is not ready: %s", ans.u.error.msg);
	}
	r = arena_alloc(&c->arena, sizeof(*r));
	ready = arena_alloc(&c->arena, sizeof(*ready));
	csi__v1__probe_response__init(r);
	google__protobuf__bool_value__init(ready);
	ready->value = 1;
	r->ready = ready;
	c->resp = &r->base;
	return GRPC_STATUS_OK;
}

const struct csi_method csi_identity_methods[] = {
	{ "/csi.v1.Identity/GetPluginInfo", get_plugin_info },
	{ "/csi.v1.Identity/GetPluginCapabilities", get_plugin_capabilities },
	{ "/csi.v1.Identity/Probe", probe },
	{ NULL, NULL },
};
