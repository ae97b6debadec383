/* Private to the S3 parameter and Secret parsers (common/s3_params.c,
 * s3_units.c, s3_secret.c, s3_endpoint.c): the helpers they share.
 * Nothing outside those files includes this; callers use s3_params.h. */
#ifndef LCW_S3_PARAMS_INTERNAL_H
#define LCW_S3_PARAMS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "s3_params.h"

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A bounded, escaped copy of a user value for an error message: printable
 * ASCII as is, anything else as \xNN, at most 64 input bytes. */
void s3p_quote(const char *s, char *out, size_t outlen);

#endif
