/* The mapping name of a local volume (see dm_name.h for the two shapes). */
#include "dm_name.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

int
luks_dm_name(const char *volid, char *out, size_t outlen)
{
	size_t len = strlen(volid);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *p;

	if (len <= DM_LITERAL_ID_MAX) {
		int n = snprintf(out, outlen, "luks-%s", volid);
		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	if (outlen < 5 + 64 + 1 || !EVP_Digest(volid, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32)
		return -1;
	p = out + sprintf(out, "luks_");
	for (unsigned i = 0; i < mdlen; i++)
		p += sprintf(p, "%02x", md[i]);
	return 0;
}
