/* What a PersistentVolume says about staging its volume, and whether a
 * stage request agrees with it. Pure: JSON text in, verdicts out; no I/O.
 *
 * Where privd can reach the Kubernetes API it stages a volume only as its
 * PV describes it (SECURITY.md, "What the PV decides"): the PV is written
 * by the external-provisioner from the StorageClass (or by an
 * administrator) and is immutable in the fields read here, while the stage
 * request comes from the frontend, which may be compromised. So:
 *   - which Secret holds the passphrase (hardened mode: the
 *     passphrase-secret-namespace/-name and passphraseKey attributes;
 *     node-stage-secret mode: spec.csi.nodeStageSecretRef must exist),
 *   - the backend (storage-backend), the S3 credentials Secret, the S3
 *     prefix and the rclone tuning,
 *   - the file-system type (spec.csi.fsType), fsGroup and fs-mode
 * must be what the request says, and the size of a new backing file is the
 * PV's ("capacity" attribute, else spec.capacity.storage), whatever the
 * request says. */
#ifndef LCW_PV_STAGE_H
#define LCW_PV_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ipc_msg.h"
#include "s3_params.h"

#define PV_ATTR_MAX 1024 /* longest volumeAttributes value we accept */
#define PV_NODES_MAX 16	 /* node names in a PV's affinity */
#define PV_TOPOLOGY_KEY "topology.lukscryptwalker.csi.k8s.io/node"

struct pv_stage {
	char pv_name[254];     /* metadata.name, for messages */
	int is_s3;	       /* storage-backend == "s3" */
	char passphrase_key[IPC_K8S_NAME_MAX + 1]; /* default "passphrase" */
	/* Hardened mode: the Secret privd reads; both "" otherwise. */
	char secret_ns[IPC_K8S_NS_MAX + 1];
	char secret_name[IPC_K8S_NAME_MAX + 1];
	/* spec.csi.nodeStageSecretRef; both "" when the PV has none. */
	char ref_ns[IPC_K8S_NS_MAX + 1];
	char ref_name[IPC_K8S_NAME_MAX + 1];
	int fs_kind;	   /* enum fs_kind from spec.csi.fsType; FS_UNSET if none */
	uint64_t capacity; /* bytes, 1..MAX_CAPACITY */
	int has_fs_group;
	uint32_t fs_group;
	int fs_mode;		 /* fs-mode, 0750 by default */
	int allow_discards;	 /* allow-discards: "true" */
	struct s3_vol_params s3; /* when is_s3 */
	/* spec.nodeAffinity: the nodes named by "In" expressions on the
	 * driver's topology key (CreateVolume pins a local volume to one). */
	int n_nodes;
	char nodes[PV_NODES_MAX][254];
};

/* Parse one PersistentVolume (a GET answer, or one item of a list) and
 * derive its stage parameters. It must carry spec.csi.driver == driver and
 * spec.csi.volumeHandle == handle. Returns 0, or -1 with why naming the
 * field (never a value that could be a secret: the PV holds none). */
int pv_stage_parse(const char *json, size_t len, const char *driver, const char *handle,
		   struct pv_stage *out, char *why, size_t whylen);

/* A Kubernetes resource.Quantity of bytes, as the API server prints it:
 * digits with an optional binary (Ki..Ei) or decimal (k, M..E) suffix or a
 * decimal exponent (e3, E6); no sign, fraction or milli. Returns 0, or -1
 * when malformed or over UINT64_MAX. */
int k8s_quantity_bytes(const char *s, uint64_t *out);

/* Does the request agree with the PV? 0, or -1 with why. For a LUKS
 * request, *capacity is set to the size a new backing file gets; a PV
 * pinned to other nodes is refused on node nodeid (its data is there, and
 * a new empty volume here would only fill this node's disk). */
int pv_stage_check_luks(const struct pv_stage *pv, const struct ipc_stage_req *r,
			const char *nodeid, uint64_t *capacity, char *why, size_t whylen);
int pv_stage_check_s3(const struct pv_stage *pv, const struct ipc_stage_s3_req *r, char *why,
		      size_t whylen);

#endif
