/* A protobuf-c allocator that wipes every block before freeing it, so the
 * node-stage secrets a request may carry do not linger in the heap after
 * the request is done. */
#ifndef LCW_WIPE_ALLOC_H
#define LCW_WIPE_ALLOC_H

#include <protobuf-c/protobuf-c.h>

extern ProtobufCAllocator wipe_allocator;

#endif
