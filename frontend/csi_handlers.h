/* CSI method handlers and their table. A handler receives the unpacked
 * request, builds its response in the call's arena and returns a gRPC
 * status; on error it writes a human-readable message (CSI requires one)
 * and returns no response. */
#ifndef LCW_CSI_HANDLERS_H
#define LCW_CSI_HANDLERS_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "arena.h"

struct csi_call {
	const ProtobufCMessage *req;
	ProtobufCMessage *resp; /* set by the handler on success */
	struct arena arena;
	char msg[512];          /* status message on error */
};

typedef grpc_status_code (*csi_handler_fn)(struct csi_call *c);

struct csi_method {
	const char *path; /* "/csi.v1.Identity/Probe" */
	csi_handler_fn fn;
};

/* Handlers implemented, per service, each table ending with a NULL path;
 * every other method of a registered service answers UNIMPLEMENTED at once. */
extern const struct csi_method csi_identity_methods[];
extern const struct csi_method csi_controller_methods[];
extern const struct csi_method csi_node_methods[];

/* Set once at start-up by main. */
struct frontend_config {
	const char *nodeid;
	int controller_mode;
	/* Where the nodes' capacity Leases are (controller mode); NULL/"": none. */
	const char *capacity_namespace;
};
extern struct frontend_config fe_config;

grpc_status_code csi_error(struct csi_call *c, grpc_status_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The one volume id rule of csi_checks, for every RPC that takes an id:
 * OK, or INVALID_ARGUMENT with the reason answered. */
grpc_status_code csi_need_volume_id(struct csi_call *c, const char *id);

/* For RPCs whose CSI error table has "Volume does not exist": an empty id
 * is INVALID_ARGUMENT (a missing field), an id this driver can never have
 * made is NOT_FOUND. */
grpc_status_code csi_known_volume_id(struct csi_call *c, const char *id);

#endif
