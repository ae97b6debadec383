/* Kubernetes API client: what one PersistentVolume of this driver says,
 * found by its volume handle: one volume attribute, the node-stage Secret
 * reference, or the whole object (by name first, else from the listing in
 * k8s_pv_list.c). */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

struct attr_capture {
	const char *key;
	char *out;
	size_t outlen;
};

/* A value that does not fit reads as absent, as it always has. */
static int
capture_attr(void *ctx, struct json_object *item, struct json_object *csi, char *err,
	     size_t errlen)
{
	struct attr_capture *cap = ctx;
	struct json_object *attrs, *v;

	(void)item;
	(void)err;
	(void)errlen;
	if (json_object_object_get_ex(csi, "volumeAttributes", &attrs) &&
	    json_object_is_type(attrs, json_type_object) &&
	    json_object_object_get_ex(attrs, cap->key, &v) &&
	    json_object_is_type(v, json_type_string) &&
	    (size_t)json_object_get_string_len(v) < cap->outlen)
		memcpy(cap->out, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
	return K8S_OK;
}

int
k8s_pv_attribute_for_handle(struct k8s_client *c, const char *driver, const char *handle,
			    const char *key, char *out, size_t outlen, int *found, char *err,
			    size_t errlen)
{
	struct attr_capture cap = { key, out, outlen };
	struct pv_visit visit = { capture_attr, &cap };
	int rc;

	if (outlen == 0)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "no room for the attribute");
	out[0] = '\0';
	rc = k8s_pv_visit_handle(c, driver, handle, &visit, found, err, errlen);
	if (rc != K8S_OK)
		out[0] = '\0';
	return rc;
}

struct ref_capture {
	const char *handle;
	char *ns, *name;
};

/* The reference decides which Secret privd reads a passphrase from, so it
 * must be a usable namespace/name pair or nothing at all (the API server
 * requires both fields of a CSI secret reference). */
static int
capture_stage_ref(void *ctx, struct json_object *item, struct json_object *csi, char *err,
		  size_t errlen)
{
	struct ref_capture *r = ctx;
	struct json_object *ref, *ns, *name;
	const char *nss, *names;

	(void)item;
	r->ns[0] = r->name[0] = '\0';
	if (!json_object_object_get_ex(csi, "nodeStageSecretRef", &ref) ||
	    json_object_is_type(ref, json_type_null))
		return K8S_OK;
	if (!json_object_is_type(ref, json_type_object) ||
	    !json_object_object_get_ex(ref, "namespace", &ns) ||
	    !json_object_is_type(ns, json_type_string) ||
	    !json_object_object_get_ex(ref, "name", &name) ||
	    !json_object_is_type(name, json_type_string))
		return seterr(err, errlen, K8S_ERR_SHAPE,
			      "PV of volume %s: nodeStageSecretRef lacks a namespace or name",
			      r->handle);
	nss = json_object_get_string(ns);
	names = json_object_get_string(name);
	/* The validators stop at a NUL; an embedded one ("\u0000") is not a name. */
	if (k8s_dns1123_label_valid(nss) || strlen(nss) != (size_t)json_object_get_string_len(ns))
		return seterr(err, errlen, K8S_ERR_SHAPE,
			      "PV of volume %s: nodeStageSecretRef.namespace is not a DNS-1123 label",
			      r->handle);
	if (k8s_dns1123_subdomain_valid(names) ||
	    strlen(names) != (size_t)json_object_get_string_len(name))
		return seterr(err, errlen, K8S_ERR_SHAPE,
			      "PV of volume %s: nodeStageSecretRef.name is not a DNS-1123 subdomain",
			      r->handle);
	memcpy(r->ns, nss, strlen(nss) + 1);	   /* fits: nslen >= K8S_NS_BUFSZ */
	memcpy(r->name, names, strlen(names) + 1); /* fits: namelen >= K8S_NAME_BUFSZ */
	return K8S_OK;
}

int
k8s_pv_stage_secret_ref(struct k8s_client *c, const char *driver, const char *handle, char *ns,
			size_t nslen, char *name, size_t namelen, int *found, char *err,
			size_t errlen)
{
	struct ref_capture cap = { handle, ns, name };
	struct pv_visit visit = { capture_stage_ref, &cap };
	int rc;

	if (nslen < K8S_NS_BUFSZ || namelen < K8S_NAME_BUFSZ)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG,
			      "namespace/name buffers need %d/%d bytes", K8S_NS_BUFSZ,
			      K8S_NAME_BUFSZ);
	ns[0] = name[0] = '\0';
	rc = k8s_pv_visit_handle(c, driver, handle, &visit, found, err, errlen);
	if (rc != K8S_OK)
		ns[0] = name[0] = '\0';
	return rc;
}

/* ---- one PersistentVolume, whole ------------------------------------------ */

/* Does this object carry spec.csi.driver == driver and spec.csi.volumeHandle
 * == handle? (k8s_jstr_eq compares lengths, so "\u0000" tricks do not match.) */
static int
pv_obj_matches(struct json_object *pv, const char *driver, const char *handle)
{
	struct json_object *spec, *csi, *drv, *vh;

	return json_object_is_type(pv, json_type_object) &&
	       json_object_object_get_ex(pv, "spec", &spec) &&
	       json_object_is_type(spec, json_type_object) &&
	       json_object_object_get_ex(spec, "csi", &csi) &&
	       json_object_is_type(csi, json_type_object) &&
	       json_object_object_get_ex(csi, "driver", &drv) &&
	       json_object_is_type(drv, json_type_string) && k8s_jstr_eq(drv, driver) &&
	       json_object_object_get_ex(csi, "volumeHandle", &vh) &&
	       json_object_is_type(vh, json_type_string) && k8s_jstr_eq(vh, handle);
}

static int
dup_text(const char *s, size_t n, char **out, size_t *outlen, char *err, size_t errlen)
{
	*out = malloc(n + 1);
	if (!*out)
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	memcpy(*out, s, n);
	(*out)[n] = '\0';
	*outlen = n;
	return K8S_OK;
}

/* GET /api/v1/persistentvolumes/<handle>: K8S_OK with *out set when that
 * PV is ours and carries the handle; K8S_OK with *out NULL when there is
 * no PV of that name (404) or it is another volume's. */
static int
pv_get_named(struct k8s_client *c, const char *driver, const char *handle, char **out,
	     size_t *outlen, char *err, size_t errlen)
{
	char path[64 + K8S_NAME_BUFSZ];
	struct resp_buf rb = { 0 };
	struct json_object *root = NULL;
	const char *kind;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/persistentvolumes/%s", handle);
	rc = k8s_http_get(c, path, &rb, err, errlen);
	if (rc == K8S_ERR_NOT_FOUND) {
		k8s_rb_free(&rb);
		return K8S_OK;
	}
	if (rc == K8S_OK)
		rc = k8s_json_parse(rb.data, rb.len, 0, &root, err, errlen);
	if (rc == K8S_OK) {
		kind = json_object_is_type(root, json_type_object) ? k8s_jstr(root, "kind") : NULL;
		if (!kind || strcmp(kind, "PersistentVolume") != 0)
			rc = seterr(err, errlen, K8S_ERR_SHAPE,
				    "GET persistentvolumes/%s: answer is not a PersistentVolume",
				    handle);
	}
	if (rc == K8S_OK && pv_obj_matches(root, driver, handle))
		rc = dup_text(rb.data, rb.len, out, outlen, err, errlen);
	json_object_put(root);
	k8s_rb_free(&rb);
	return rc;
}

struct item_capture {
	char *json;
	size_t len;
	int rc;
};

/* The first matching item of the listing, serialised again (list items
 * carry no kind; the caller reads spec and metadata only). */
static int
capture_item(void *ctx, struct json_object *item, struct json_object *csi, char *err,
	     size_t errlen)
{
	struct item_capture *cap = ctx;
	size_t n = 0;
	const char *s;

	(void)csi;
	if (cap->json)
		return K8S_OK;
	s = json_object_to_json_string_length(item, JSON_C_TO_STRING_PLAIN, &n);
	if (!s)
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	return dup_text(s, n, &cap->json, &cap->len, err, errlen);
}

int
k8s_pv_for_handle(struct k8s_client *c, const char *driver, const char *handle, char **json,
		  size_t *len, int *found, char *err, size_t errlen)
{
	struct item_capture cap = { 0 };
	struct pv_visit visit = { capture_item, &cap };
	int rc, seen = 0;

	*json = NULL;
	*len = 0;
	rc = k8s_pv_lookup_args_valid(driver, &handle, 1, err, errlen);
	if (rc != K8S_OK)
		return rc;
	/* Fast path: a handle that can be an object name is usually the
	 * name of its PV. Anything else (static or restored PVs) needs the
	 * whole listing. */
	if (k8s_dns1123_subdomain_valid(handle) == 0) {
		rc = pv_get_named(c, driver, handle, &cap.json, &cap.len, err, errlen);
		if (rc != K8S_OK)
			return rc;
	}
	if (!cap.json) {
		rc = k8s_pv_visit_handle(c, driver, handle, &visit, &seen, err, errlen);
		if (rc != K8S_OK) {
			free(cap.json);
			return rc;
		}
	}
	*json = cap.json;
	*len = cap.len;
	*found = cap.json != NULL;
	return K8S_OK;
}
