/* Pure validation of CSI request parts (protobuf-c structs in, verdicts
 * out). Each check returns 0, or -1 with a message fit for the gRPC status
 * (never containing secret values). */
#ifndef LCW_CSI_CHECKS_H
#define LCW_CSI_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "csi.pb-c.h"

#define TOPOLOGY_KEY "topology.lukscryptwalker.csi.k8s.io/node"

/* What a volume capability asks for, once validated. */
struct cap_req {
	int fs_kind;   /* enum fs_kind */
	int readonly;  /* access mode is a reader-only mode */
	char mount_opts[512];
	char mount_group[16]; /* volume_mount_group, "" if none */
};

/* Mount access type only, single-node access modes only, a supported
 * fsType (fs_default used when the capability names none), allowlisted
 * mount flags. Returns 0; CAP_MALFORMED when the capability is missing or
 * ill-formed (no access type or mode, a bad mount flag or group); or
 * CAP_UNSUPPORTED when it is well-formed but asks for what no volume of
 * this driver can be (raw block, a multi-node mode, another fsType): the
 * CSI error tables give that case its own code ("Exceeds capabilities"). */
#define CAP_MALFORMED (-1)
#define CAP_UNSUPPORTED (-2)
int check_capability(const Csi__V1__VolumeCapability *cap, struct cap_req *out, char *why,
		     size_t whylen);

/* Checks every capability of a list (CreateVolume, Validate...). The
 * fs kind of the first one is returned in *fs_kind. */
int check_capabilities(Csi__V1__VolumeCapability **caps, size_t n, int *fs_kind, char *why,
		       size_t whylen);

/* Every RPC that takes a volume id checks it with this one rule (the shape
 * volid_valid accepts, which is all this driver ever creates), so no id
 * like "../x", "/abs" or 64 KiB of text reaches a handler's logic, a log
 * line or privd. Failing it is INVALID_ARGUMENT. */
int check_volume_id(const char *id, char *why, size_t whylen);

/* Absolute path, at most 4095 bytes, printable, no "." or ".." component. */
int check_path(const char *what, const char *path, char *why, size_t whylen);

/* Every string map of the CSI proto (parameters, volume_context, secrets)
 * is generated as an array of entries with this layout. */
struct kv_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};
#define KV(arr) ((struct kv_entry *const *)(void *)(arr))

/* Look a key up in a CSI string map; NULL if absent. */
const char *kv_get(struct kv_entry *const *e, size_t n, const char *key);

/* Parameters of a local LUKS volume from its volume context. */
struct luks_ctx {
	int is_s3;              /* storage-backend == "s3" */
	char passphrase_key[254];
	/* Hardened mode: the StorageClass names the passphrase Secret in
	 * ordinary parameters; privd reads it, the frontend never sees it. */
	char secret_name[254];
	char secret_namespace[64];
	int has_fs_group;
	uint32_t fs_group;
	int fs_mode;
	uint64_t capacity;      /* "capacity", or 1 GiB if absent */
};

int parse_volume_context(struct kv_entry *const *e, size_t n, struct luks_ctx *out, char *why,
			 size_t whylen);

/* Parameters of an S3 volume from a StorageClass parameter map or a volume
 * context (s3_params_apply per entry, keys that are not ours ignored), and
 * the S3 Secret reference it needs. With unknown (may be NULL), the first
 * unknown "rclone-*" key. Returns 0 or -1 with why. */
struct s3_vol_params;
int parse_s3_params(struct kv_entry *const *e, size_t n, struct s3_vol_params *p,
		    const char **unknown, char *why, size_t whylen);

/* Precedence of the group owner (as the original): the StorageClass
 * fsGroup, then kubelet's volume_mount_group. */
int resolve_fs_group(const struct luks_ctx *ctx, const struct cap_req *cap, int *has,
		     uint32_t *gid, char *why, size_t whylen);

#endif
