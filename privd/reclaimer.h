/* privd's volume reclaimer thread (reclaimer.c). */
#ifndef LCW_RECLAIMER_H
#define LCW_RECLAIMER_H

#include "privd_ctx.h"

/* Start it: a scan every interval_s, erasing after grace_s. 0 or -1. */
int reclaimer_start(const struct privd_ctx *ctx, unsigned interval_s, unsigned grace_s);

#endif
