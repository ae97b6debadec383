#define _GNU_SOURCE
#include "s3_delete.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_client.h"
#include "log.h"
#include "s3_params.h"
#include "s3_purge.h"
#include "version.h"
#include "volparams.h"

static struct k8s_client *kube;

void
s3_delete_init(const char *kube_api, const char *token_file, const char *ca_file)
{
	char err[512];

	if (s3_purge_global_init())
		fatal(2, "cannot initialise libcurl");
	if (k8s_client_from_config(kube_api, token_file, ca_file, &kube, err, sizeof(err)))
		fatal(2, "Kubernetes API client: %s", err);
	if (kube == NULL)
		log_info("no Kubernetes API configured: S3 volumes cannot be deleted");
}

int
s3_delete_applies(struct kv_entry *const *secrets, size_t n)
{
	return kv_get(secrets, n, "s3-bucket") != NULL;
}

int
controller_pv_exists(const char *volid, char *err, size_t errlen)
{
	char *json = NULL;
	size_t len = 0;
	int found = 0;

	if (kube == NULL)
		return CTL_NO_API;
	if (k8s_pv_for_handle(kube, LCW_DRIVER_NAME, volid, &json, &len, &found, err, errlen) !=
	    K8S_OK)
		return -1;
	free(json);
	return found ? 1 : 0;
}

static grpc_status_code
status_of(int rc)
{
	switch (rc) {
	case S3_ERR_AUTH: return GRPC_STATUS_PERMISSION_DENIED;
	case S3_ERR_NO_SUCH_BUCKET: return GRPC_STATUS_NOT_FOUND;
	case S3_ERR_INVALID_ARG: return GRPC_STATUS_INVALID_ARGUMENT;
	case S3_ERR_CONNECT:
	case S3_ERR_TLS:
	case S3_ERR_TIMEOUT: return GRPC_STATUS_UNAVAILABLE;
	case S3_ERR_NOT_EMPTY: return GRPC_STATUS_ABORTED;
	default: return GRPC_STATUS_INTERNAL;
	}
}

grpc_status_code
s3_delete_volume(struct csi_call *c, const char *volid, struct kv_entry *const *secrets, size_t n)
{
	static const char *const keys[] = { "s3-bucket", "s3-region", "s3-access-key-id",
					    "s3-secret-access-key", "s3-endpoint",
					    "s3-force-path-style" };
	struct s3_secret s;
	struct s3_purge_stats st = { 0 };
	char err[512], prefix[512];
	grpc_status_code code = GRPC_STATUS_OK;
	int found = 0, rc;

	if (volid_valid(volid))
		return GRPC_STATUS_OK; /* no such volume was ever created: nothing to delete */
	if (s3_secret_init(&s))
		return csi_error(c, GRPC_STATUS_INTERNAL, "cannot lock memory for the credentials");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = kv_get(secrets, n, keys[i]);
		if (v && s3_secret_set(&s, keys[i], v, strlen(v), err, sizeof(err))) {
			code = csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "provisioner secret: %s", err);
			goto out;
		}
	}
	if (s3_secret_check(&s, err, sizeof(err))) {
		code = csi_error(c, GRPC_STATUS_INVALID_ARGUMENT, "provisioner secret: %s", err);
		goto out;
	}
	if (kube == NULL) {
		code = csi_error(c, GRPC_STATUS_FAILED_PRECONDITION,
				 "no Kubernetes API access: cannot read the volume's s3-path-prefix; "
				 "nothing deleted");
		goto out;
	}
	/* The prefix salts the volume's keys and places its objects; it is
	 * what the PV records, not what the StorageClass says today. */
	rc = k8s_pv_attribute_for_handle(kube, LCW_DRIVER_NAME, volid, "s3-path-prefix", prefix,
					 sizeof(prefix), &found, err, sizeof(err));
	if (rc != K8S_OK) {
		code = csi_error(c, GRPC_STATUS_UNAVAILABLE, "cannot read the PersistentVolume of %s: %s",
				 volid, err);
		goto out;
	}
	if (!found) {
		code = csi_error(c, GRPC_STATUS_FAILED_PRECONDITION,
				 "no PersistentVolume has handle %s, so its s3-path-prefix is unknown; "
				 "nothing deleted", volid);
		goto out;
	}
	if (s3_prefix_valid(prefix, err, sizeof(err))) {
		code = csi_error(c, GRPC_STATUS_FAILED_PRECONDITION, "s3-path-prefix of %s: %s", volid,
				 err);
		goto out;
	}
	rc = s3_purge_volume(&s, prefix, volid, NULL, &st, err, sizeof(err));
	if (rc != S3_OK) {
		code = csi_error(c, status_of(rc), "purging volume %s from bucket %s failed (%s): %s",
				 volid, s.bucket, s3_result_name(rc), err);
		goto out;
	}
	log_info("DeleteVolume %s: %llu objects deleted from %s", volid,
		 (unsigned long long)st.deleted, s.bucket);
out:
	s3_secret_free(&s);
	return code;
}

struct k8s_client *
controller_api(void)
{
	return kube;
}
