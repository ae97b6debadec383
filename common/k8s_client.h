/* A deliberately small Kubernetes API client for privd: read one key, or
 * every key, of one Secret into locked memory; find out whether any
 * PersistentVolume of our driver carries a given volume handle, and read
 * an attribute or the node-stage secret reference of that PV. libcurl for HTTPS, json-c for
 * JSON. Nothing here logs; errors come back as a code plus a message that
 * never contains the token or secret bytes.
 *
 * Configuration (token, CA, server address) is read once in
 * k8s_client_new(), before privd confines itself; afterwards the only file
 * access is a re-read of the token through a directory descriptor opened at
 * init, after a 401 (projected service-account tokens rotate). Create the
 * client before starting threads (curl_global_init); after that the client
 * may be used from several threads at once. */
#ifndef LCW_K8S_CLIENT_H
#define LCW_K8S_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "secmem.h"

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define K8S_DEFAULT_TOKEN_PATH K8S_SA_DIR "/token"
#define K8S_DEFAULT_CA_PATH K8S_SA_DIR "/ca.crt"
#define K8S_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define K8S_DEFAULT_TIMEOUT_MS 15000L
#define K8S_DEFAULT_MAX_BODY (4u * 1024u * 1024u)
#define K8S_DEFAULT_PAGE_LIMIT 500u
#define K8S_MAX_PAGES 10000u /* 5 million PVs at the default page size */

/* Distinct codes so callers can tell "the object is absent" from "we could
 * not find out"; only K8S_OK is ever a basis for acting. */
enum k8s_result {
	K8S_OK = 0,
	K8S_ERR_INVALID_ARG,	 /* bad namespace/name/key/handle, caller bug */
	K8S_ERR_CONFIG,		 /* token, CA or server address unusable */
	K8S_ERR_CONNECT,	 /* unreachable, refused, reset, no reply */
	K8S_ERR_TLS,		 /* handshake or certificate verification failed */
	K8S_ERR_TIMEOUT,	 /* connect or total timeout */
	K8S_ERR_UNAUTHORIZED,	 /* 401, also after re-reading the token */
	K8S_ERR_FORBIDDEN,	 /* 403: RBAC; message carries the API's text */
	K8S_ERR_NOT_FOUND,	 /* 404 */
	K8S_ERR_HTTP,		 /* any other non-200 status */
	K8S_ERR_TOO_LARGE,	 /* body over the configured limit */
	K8S_ERR_TRUNCATED,	 /* body shorter than announced, or JSON cut off */
	K8S_ERR_BAD_JSON,	 /* not JSON, or trailing garbage */
	K8S_ERR_SHAPE,		 /* JSON, but not the object we asked for */
	K8S_ERR_KEY_MISSING,	 /* the Secret exists but lacks the key */
	K8S_ERR_VALUE_TOO_LARGE, /* decoded value over LCW_SECRET_MAX */
	K8S_ERR_INTERNAL,	 /* allocation, libcurl setup */
};

const char *k8s_result_name(int rc); /* "K8S_ERR_FORBIDDEN", ... */

/* Zeroed fields take the defaults above (api_base: from
 * KUBERNETES_SERVICE_HOST/PORT). api_base is "https://host[:port][/prefix]",
 * without a trailing slash. */
struct k8s_client_opts {
	const char *api_base;
	const char *token_path;
	const char *ca_path;
	long connect_timeout_ms;
	long timeout_ms;
	size_t max_body;     /* capped at 64 MiB */
	unsigned page_limit; /* PersistentVolume list page size */
};

struct k8s_client;

int k8s_client_new(const struct k8s_client_opts *opts, struct k8s_client **out, char *err,
		   size_t errlen);
void k8s_client_free(struct k8s_client *c);

/* The client a process's flags ask for: api/token/ca override the
 * in-cluster defaults (NULL or "" keep them). With no api and no
 * KUBERNETES_SERVICE_HOST there is no API to talk to: returns K8S_OK with
 * *out = NULL. */
int k8s_client_from_config(const char *api, const char *token_path, const char *ca_path,
			   struct k8s_client **out, char *err, size_t errlen);
const char *k8s_client_base_url(const struct k8s_client *c);

/* GET /api/v1/namespaces/{ns}/secrets/{name} and base64-decode .data[key]
 * straight into out, which the caller has secret_alloc()ed. The response
 * body, the json-c strings and the parser's scratch buffer are wiped before
 * they are freed. On any error out->len is 0 and its bytes are wiped.
 * Residual copies we cannot reach: libcurl's and OpenSSL's receive buffers. */
int k8s_get_secret_value(struct k8s_client *c, const char *ns, const char *name, const char *key,
			 struct lcw_secret *out, char *err, size_t errlen);

/* GET the Secret once and hand every key of .data to cb, in the order of the
 * response (the API server sorts keys): cb(ud, key, val, len) with val the
 * base64-decoded bytes in locked memory, not NUL-terminated (values may hold
 * NULs; an empty value has len 0), valid only during the call and wiped
 * after it. The whole of .data is checked before the first call: a key that
 * fails k8s_secret_key_valid, a value that is not a base64 string
 * (K8S_ERR_SHAPE) or one over LCW_SECRET_MAX bytes
 * (K8S_ERR_VALUE_TOO_LARGE) fails the read with cb never called. A Secret
 * without data calls cb zero times and returns K8S_OK. cb returns 0 to go
 * on; nonzero stops the read with K8S_ERR_SHAPE. err is cleared before each
 * call, so cb may put its own reason there (reached through ud); if it
 * leaves it empty, err names the rejected key. After cb has been called, any
 * non-OK return comes from cb, and the caller should wipe what it kept.
 * Other errors as for k8s_get_secret_value (K8S_ERR_NOT_FOUND for 404,
 * K8S_ERR_FORBIDDEN for 403, ...). */
int k8s_get_secret_values(struct k8s_client *c, const char *ns, const char *name,
			  int (*cb)(void *ud, const char *key, const void *val, size_t len),
			  void *ud, char *err, size_t errlen);

/* Page through GET /api/v1/persistentvolumes (limit + continue) and report
 * whether a PV with spec.csi.driver == driver and spec.csi.volumeHandle ==
 * handle exists. The PV's own name is irrelevant: static and restored PVs
 * have names that differ from their handles. *exists is written only when
 * the answer is K8S_OK, i.e. the handle was seen or every page was read. */
int k8s_pv_exists_for_handle(struct k8s_client *c, const char *driver, const char *handle,
			     int *exists, char *err, size_t errlen);

/* The same for n handles in one listing (the reclaim scan asks for all of
 * its candidates at once). exists[i] is written only on K8S_OK. */
int k8s_pv_handles_exist(struct k8s_client *c, const char *driver, const char *const *handles,
			 size_t n, int *exists, char *err, size_t errlen);

/* The PersistentVolume of this driver with this volume handle: *found = 1
 * and the value of spec.csi.volumeAttributes[key] in out ("" if it has no
 * such attribute), or *found = 0 after a complete listing. Any error is
 * returned as such, never as "not found". */
int k8s_pv_attribute_for_handle(struct k8s_client *c, const char *driver, const char *handle,
				const char *key, char *out, size_t outlen, int *found, char *err,
				size_t errlen);

#define K8S_NS_BUFSZ 64	   /* a DNS-1123 label (namespace) and its NUL */
#define K8S_NAME_BUFSZ 254 /* a DNS-1123 subdomain (object name) and its NUL */

/* The Secret named by spec.csi.nodeStageSecretRef of the PersistentVolume
 * of this driver with this volume handle (the external-provisioner copies
 * the StorageClass's node-stage reference into every PV it creates).
 * nslen >= K8S_NS_BUFSZ and namelen >= K8S_NAME_BUFSZ, else
 * K8S_ERR_INVALID_ARG before any request. On K8S_OK: *found = 1 with ns and
 * name set ("" both when the PV has no reference), or *found = 0 after a
 * complete listing. A reference without both fields, or with a namespace
 * that is not a DNS-1123 label or a name that is not a DNS-1123 subdomain,
 * is K8S_ERR_SHAPE; only the matching PV's reference is examined. On any
 * error ns and name are "" and *found is not written; an error is never
 * "not found". */
int k8s_pv_stage_secret_ref(struct k8s_client *c, const char *driver, const char *handle,
			    char *ns, size_t nslen, char *name, size_t namelen, int *found,
			    char *err, size_t errlen);

/* The whole PersistentVolume object of this driver with this volume
 * handle, as JSON text (malloc'd, NUL-terminated; the caller frees it):
 * *found = 1 with *json and *len set, or *found = 0 and *json NULL after a
 * complete search. When the handle can be an object name, the PV of that
 * name is fetched first (csi-provisioner names a volume after its PV, so
 * that is one small GET); only when it does not exist, or is not ours or
 * carries another handle, are all PVs listed page by page, and the first
 * match is taken. Whatever is returned carries exactly this driver and
 * handle; every error is returned as such, never as "not found". */
int k8s_pv_for_handle(struct k8s_client *c, const char *driver, const char *handle, char **json,
		      size_t *len, int *found, char *err, size_t errlen);

/* A core v1 Event about one namespaced object (k8s_event.c). type is
 * "Normal" or "Warning"; message holds no secret and no file name (the
 * caller's promise; it is at most 1024 bytes). name_nonce makes the
 * Event's name unique (<object>.<16 hex>); time_s is the Unix time of
 * first/lastTimestamp. */
struct k8s_event {
	const char *ns, *obj_api_version, *obj_kind, *obj_name, *obj_uid; /* uid may be NULL */
	const char *type, *reason, *message;
	const char *component, *instance, *host; /* host may be NULL */
	long long time_s;
	unsigned long long name_nonce;
};

/* The Event's JSON (malloc'd, NUL-terminated; no I/O): K8S_OK, or
 * K8S_ERR_INVALID_ARG for a field out of range. */
int k8s_event_json(const struct k8s_event *ev, char **out, size_t *len, char *err, size_t errlen);
/* POST it to /api/v1/namespaces/{ns}/events: K8S_OK only when the API
 * answered 201 with an Event (K8S_ERR_FORBIDDEN when RBAC refuses). */
int k8s_event_create(struct k8s_client *c, const struct k8s_event *ev, char *err, size_t errlen);
/* GET /api/v1/namespaces/{ns}/persistentvolumeclaims/{name}: the object's
 * JSON text (malloc'd, NUL-terminated; the caller frees it). */
int k8s_pvc_get(struct k8s_client *c, const char *ns, const char *name, char **json, size_t *len,
		char *err, size_t errlen);

/* The pod a process runs in, from its /proc/<pid>/cgroup text: the pod UID
 * kubelet puts in the cgroup path (cgroupfs ".../kubepods/.../pod<uid>/..."
 * or systemd "...kubepods-...-pod<uid with _>.slice/..."), in its dashed
 * form in uid (at least K8S_UID_LEN + 1 bytes). 0, or -1 when the process is
 * not in a pod's cgroup. No I/O. */
#define K8S_UID_LEN 36
int k8s_pod_uid_from_cgroup(const char *text, size_t len, char *uid, size_t uidlen);
/* Delete the pod with that UID if it runs on node: the node's pods are
 * listed (fieldSelector spec.nodeName), the one whose metadata.uid matches
 * is deleted with that UID as a precondition (never a newer pod of the same
 * name). Its namespace and name in ns and name. K8S_OK when the API took
 * the delete; K8S_ERR_NOT_FOUND when no such pod is on the node. */
int k8s_pod_delete_by_uid(struct k8s_client *c, const char *node, const char *uid, char *ns,
			  size_t nslen, char *name, size_t namelen, char *err, size_t errlen);

/* ---- pure helpers, exposed for tests ------------------------------------ */

int k8s_dns1123_label_valid(const char *s);     /* namespace: 0 or -1 */
int k8s_dns1123_subdomain_valid(const char *s); /* object name: 0 or -1 */
int k8s_secret_key_valid(const char *s);	/* [-._a-zA-Z0-9]{1,253}: 0 or -1 */

/* Strict RFC 4648 base64 with padding (what the API server emits for
 * []byte). Returns the decoded length, or -1 (bad input) or -2 (does not fit
 * in cap). Writes only into out[0..cap). */
long k8s_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t cap);

/* Parse one PersistentVolumeList page (body of len bytes) and set found[i]
 * = 1 for each handle i carried by a PV of driver; found[] is not cleared.
 * cont receives metadata.continue ("" on the last page). No I/O. */
int k8s_pvlist_page_match(const char *body, size_t len, const char *driver,
			  const char *const *handles, size_t n, unsigned char *found, char *cont,
			  size_t contlen, char *err, size_t errlen);

/* A node's room for new local volumes, as privd measured it and publishes
 * it in the Lease lcw-capacity-<node> of the driver's namespace
 * (k8s_capacity.c). */
struct k8s_node_capacity {
	uint64_t available;      /* bytes new local volumes may take in total */
	uint64_t maximum_volume; /* the largest single new local volume */
	uint64_t volumes_left;   /* new volumes the node's count limit allows */
};
int k8s_capacity_lease_name(const char *node, char *out, size_t outlen); /* 0 or -1 */
/* Pure: the server-side-apply body (JSON) for now, malloc'd; NULL on a bad
 * name. And the reading of a Lease: 0 with cap and its renew time, or -1
 * when it is not a capacity Lease of this node. */
char *k8s_capacity_lease_body(const char *ns, const char *node, const struct k8s_node_capacity *cap,
			      time_t now);
int k8s_capacity_lease_parse(const char *body, size_t len, const char *node,
			     struct k8s_node_capacity *cap, time_t *renewed);
/* Create or update this node's Lease (one server-side apply PATCH). */
int k8s_capacity_publish(struct k8s_client *c, const char *ns, const char *node,
			 const struct k8s_node_capacity *cap, char *err, size_t errlen);
/* Read a node's Lease: K8S_OK with cap and *renewed (UTC seconds). */
int k8s_capacity_read(struct k8s_client *c, const char *ns, const char *node,
		      struct k8s_node_capacity *cap, time_t *renewed, char *err, size_t errlen);

#endif
