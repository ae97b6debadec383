/* privd's capacity publisher thread (capacity_pub.c). */
#ifndef LCW_CAPACITY_PUB_H
#define LCW_CAPACITY_PUB_H

#include "privd_ctx.h"

/* Every CAPACITY_PUB_PERIOD_S, measure the room for new local volumes and
 * publish it in this node's Lease in ns. 0 or -1. */
#define CAPACITY_PUB_PERIOD_S 30
int capacity_pub_start(const struct privd_ctx *ctx, const char *ns);

#endif
