/* DeleteVolume for S3 volumes, in the controller (which runs no privd):
 * purge <bucket>/[<prefix>/]volumes/<id>/ with the provisioner secret's
 * credentials through libcurl's SigV4, reading the prefix from the
 * PersistentVolume's volume attributes. */
#ifndef LCW_S3_DELETE_H
#define LCW_S3_DELETE_H

#include "csi_checks.h"
#include "csi_handlers.h"

/* Before the sandbox, in controller mode: global libcurl/libxml2 set-up
 * and the Kubernetes API client (NULL arguments: in-cluster configuration
 * if KUBERNETES_SERVICE_HOST is set, else none). Exits on a bad config. */
void s3_delete_init(const char *kube_api, const char *token_file, const char *ca_file);

/* Is this DeleteVolume about an S3 volume? (The provisioner secret holds
 * S3 credentials, as with the original driver.) */
int s3_delete_applies(struct kv_entry *const *secrets, size_t n);

/* Is there a PersistentVolume of this driver with this volume handle?
 * (The controller keeps no volume list; the PVs are the record.) Returns 1
 * or 0 after a complete search, -1 when the API did not answer (err set),
 * or CTL_NO_API when no Kubernetes API is configured. */
#define CTL_NO_API (-2)
int controller_pv_exists(const char *volid, char *err, size_t errlen);

grpc_status_code s3_delete_volume(struct csi_call *c, const char *volid,
				  struct kv_entry *const *secrets, size_t n);

/* The controller's Kubernetes API client, or NULL (none configured, or
 * node mode). */
struct k8s_client;
struct k8s_client *controller_api(void);

#endif
