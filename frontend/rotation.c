/* The previous passphrase of a rotation (README "Passphrase rotation"):
 * the operator writes the new passphrase to the Secret's passphraseKey and
 * keeps the old one under "<passphraseKey>-previous"; kubelet delivers both
 * in NodeStageVolumeRequest.secrets and privd moves a volume still on the
 * old one to the new one before it mounts it. */
#define _GNU_SOURCE
#include "rotation.h"

#include <stdio.h>
#include <string.h>

#include "ipc_msg.h"

int
previous_passphrase(struct kv_entry *const *e, size_t n, const char *key, uint8_t *out,
		    uint32_t *outlen, char *why, size_t whylen)
{
	char pkey[IPC_K8S_NAME_MAX + 1];
	const char *v;
	size_t len;

	*outlen = 0;
	if (snprintf(pkey, sizeof(pkey), "%s" PREVIOUS_SUFFIX, key) >= (int)sizeof(pkey))
		return 0; /* so long a key can have no previous key */
	v = kv_get(e, n, pkey);
	if (v == NULL)
		return 0;
	len = strlen(v);
	if (len > IPC_SECRET_MAX) {
		snprintf(why, whylen, "the passphrase in key \"%s\" is longer than %u bytes", pkey,
			 IPC_SECRET_MAX);
		return -1;
	}
	memcpy(out, v, len);
	*outlen = (uint32_t)len;
	return 0;
}

int
discards_opt_in(struct kv_entry *const *e, size_t n, uint8_t *out, char *why, size_t whylen)
{
	const char *v = kv_get(e, n, "allow-discards");

	*out = 0;
	if (v == NULL || v[0] == '\0' || strcmp(v, "false") == 0)
		return 0;
	if (strcmp(v, "true") == 0) {
		*out = 1;
		return 0;
	}
	snprintf(why, whylen, "StorageClass parameter allow-discards must be \"true\" or "
		 "\"false\", not \"%.32s\"", v);
	return -1;
}
