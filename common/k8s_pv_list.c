/* Kubernetes API client: paging through the PersistentVolume list (limit +
 * continue) and matching its items by CSI driver and volume handle; the
 * existence checks the reclaim scan asks for, and the visit of one
 * handle's PV that k8s_pv_get.c builds on. */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* One PV item (index i of its page): K8S_OK with found[] updated, or
 * K8S_ERR_SHAPE for a malformed item, or the visitor's error. PVs of other
 * drivers and non-CSI PVs are skipped. */
static int
pv_item_match(struct json_object *item, size_t i, const char *driver, const char *const *handles,
	      size_t n, unsigned char *found, const struct pv_visit *visit, char *err,
	      size_t errlen)
{
	struct json_object *spec, *csi, *drv, *vh;
	int rc;

	if (!json_object_is_type(item, json_type_object) ||
	    !json_object_object_get_ex(item, "spec", &spec) ||
	    !json_object_is_type(spec, json_type_object))
		goto malformed;
	if (!json_object_object_get_ex(spec, "csi", &csi))
		return K8S_OK;
	if (!json_object_is_type(csi, json_type_object) ||
	    !json_object_object_get_ex(csi, "driver", &drv) ||
	    !json_object_is_type(drv, json_type_string))
		goto malformed;
	if (!k8s_jstr_eq(drv, driver))
		return K8S_OK;
	if (!json_object_object_get_ex(csi, "volumeHandle", &vh) ||
	    !json_object_is_type(vh, json_type_string))
		goto malformed;
	for (size_t k = 0; k < n; k++) {
		if (!k8s_jstr_eq(vh, handles[k]))
			continue;
		found[k] = 1;
		if (visit && (rc = visit->fn(visit->ctx, item, csi, err, errlen)) != K8S_OK)
			return rc;
	}
	return K8S_OK;
malformed:
	return seterr(err, errlen, K8S_ERR_SHAPE, "PersistentVolume item %zu malformed", i);
}

int
k8s_list_parse(const char *body, size_t len, const char *kind, struct json_object **root,
	       struct json_object **items, char *err, size_t errlen)
{
	const char *k;
	int rc = k8s_json_parse(body, len, 0, root, err, errlen);

	if (rc != K8S_OK)
		return rc;
	k = json_object_is_type(*root, json_type_object) ? k8s_jstr(*root, "kind") : NULL;
	/* An empty list is "items": [] (never null since Kubernetes 1.5.3); a
	 * missing or null items field is not a list we can conclude from. */
	if (!k || strcmp(k, kind) != 0 || !json_object_object_get_ex(*root, "items", items) ||
	    !json_object_is_type(*items, json_type_array)) {
		json_object_put(*root);
		*root = NULL;
		return seterr(err, errlen, K8S_ERR_SHAPE, "answer is not a %s", kind);
	}
	return K8S_OK;
}

int
k8s_list_continue(struct json_object *root, char *cont, size_t contlen, char *err, size_t errlen)
{
	struct json_object *md, *ct;
	size_t len;

	cont[0] = '\0';
	if (!json_object_object_get_ex(root, "metadata", &md) ||
	    !json_object_object_get_ex(md, "continue", &ct))
		return K8S_OK;
	if (!json_object_is_type(ct, json_type_string))
		return seterr(err, errlen, K8S_ERR_SHAPE, "metadata.continue is not a string");
	len = (size_t)json_object_get_string_len(ct);
	if (len >= contlen || len > CONT_MAX || !printable_ascii(json_object_get_string(ct), len))
		return seterr(err, errlen, K8S_ERR_SHAPE, "metadata.continue malformed or too long");
	memcpy(cont, json_object_get_string(ct), len + 1);
	return K8S_OK;
}

static int
pvlist_page(const char *body, size_t len, const char *driver, const char *const *handles,
	    size_t n, unsigned char *found, const struct pv_visit *visit, char *cont,
	    size_t contlen, char *err, size_t errlen)
{
	struct json_object *root = NULL, *items;
	int rc = k8s_list_parse(body, len, "PersistentVolumeList", &root, &items, err, errlen);

	if (rc != K8S_OK)
		return rc;
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		rc = pv_item_match(json_object_array_get_idx(items, i), i, driver, handles, n, found,
				   visit, err, errlen);
		if (rc != K8S_OK)
			goto out;
	}
	rc = k8s_list_continue(root, cont, contlen, err, errlen);
out:
	json_object_put(root);
	return rc;
}

int
k8s_pvlist_page_match(const char *body, size_t len, const char *driver,
		      const char *const *handles, size_t n, unsigned char *found, char *cont,
		      size_t contlen, char *err, size_t errlen)
{
	return pvlist_page(body, len, driver, handles, n, found, NULL, cont, contlen, err, errlen);
}

void
k8s_query_escape(const char *s, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || strchr("-._~", ch)) {
			*out++ = (char)ch;
		} else {
			*out++ = '%';
			*out++ = hex[ch >> 4];
			*out++ = hex[ch & 15];
		}
	}
	*out = '\0';
}

static int
all_found(const unsigned char *found, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!found[i])
			return 0;
	return 1;
}

static int
pv_list_pages(struct k8s_client *c, const char *driver, const char *const *handles, size_t n,
	      unsigned char *found, const struct pv_visit *visit, char *err, size_t errlen)
{
	char cont[CONT_MAX + 1] = "", prev[CONT_MAX + 1] = "";
	char path[64 + 3 * CONT_MAX];
	struct resp_buf rb = { 0 };
	int rc = K8S_OK;

	for (unsigned page = 1;; page++) {
		if (page > K8S_MAX_PAGES)
			return seterr(err, errlen, K8S_ERR_SHAPE, "more than %u pages", K8S_MAX_PAGES);
		int off = snprintf(path, sizeof(path), "/api/v1/persistentvolumes?limit=%u",
				   c->page_limit);
		if (cont[0]) {
			off += snprintf(path + off, sizeof(path) - off, "&continue=");
			k8s_query_escape(cont, path + off);
		}
		rc = k8s_http_get(c, path, &rb, err, errlen);
		if (rc == K8S_OK) {
			memcpy(prev, cont, sizeof(prev));
			rc = pvlist_page(rb.data, rb.len, driver, handles, n, found, visit, cont,
					 sizeof(cont), err, errlen);
		}
		k8s_rb_free(&rb);
		if (rc != K8S_OK) {
			if (page > 1 && err && errlen) { /* say which page failed */
				char tmp[512];
				snprintf(tmp, sizeof(tmp), "%s", err);
				snprintf(err, errlen, "page %u: %s", page, tmp);
			}
			return rc;
		}
		if (all_found(found, n) || cont[0] == '\0')
			return K8S_OK;
		if (strcmp(cont, prev) == 0)
			return seterr(err, errlen, K8S_ERR_SHAPE, "continue token did not advance");
	}
}

int
k8s_pv_lookup_args_valid(const char *driver, const char *const *handles, size_t n, char *err,
			 size_t errlen)
{
	if (k8s_csi_driver_name_valid(driver))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid CSI driver name");
	for (size_t i = 0; i < n; i++)
		if (k8s_handle_valid(handles[i]))
			return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid volume handle");
	return K8S_OK;
}

int
k8s_pv_handles_exist(struct k8s_client *c, const char *driver, const char *const *handles,
		     size_t n, int *exists, char *err, size_t errlen)
{
	unsigned char *found;
	int rc = k8s_pv_lookup_args_valid(driver, handles, n, err, errlen);

	if (rc != K8S_OK || n == 0)
		return rc;
	found = calloc(n, 1);
	if (!found)
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	rc = pv_list_pages(c, driver, handles, n, found, NULL, err, errlen);
	if (rc == K8S_OK)
		for (size_t i = 0; i < n; i++)
			exists[i] = found[i];
	free(found);
	return rc;
}

int
k8s_pv_exists_for_handle(struct k8s_client *c, const char *driver, const char *handle,
			 int *exists, char *err, size_t errlen)
{
	return k8s_pv_handles_exist(c, driver, &handle, 1, exists, err, errlen);
}

/* The listing for one handle, with visit called on its PV. */
int
k8s_pv_visit_handle(struct k8s_client *c, const char *driver, const char *handle,
		    const struct pv_visit *visit, int *found, char *err, size_t errlen)
{
	unsigned char seen = 0;
	int rc = k8s_pv_lookup_args_valid(driver, &handle, 1, err, errlen);

	if (rc == K8S_OK)
		rc = pv_list_pages(c, driver, &handle, 1, &seen, visit, err, errlen);
	if (rc == K8S_OK)
		*found = seen;
	return rc;
}
