/* csi-addons services of the node plugin (csiaddons.c). */
#ifndef LCW_CSIADDONS_H
#define LCW_CSIADDONS_H

#include <protobuf-c/protobuf-c.h>

#include "csi_handlers.h"

/* Handlers, ending with a NULL path; the services to register on the node
 * plugin's socket, NULL-terminated (every other method of them answers
 * UNIMPLEMENTED). */
extern const struct csi_method csiaddons_methods[];
extern const ProtobufCServiceDescriptor *const csiaddons_services[];

#endif
