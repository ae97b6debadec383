/* Kubernetes API client: reading Secrets. One GET of a v1 Secret, parsed
 * with the precautions for secret bytes, and its .data values decoded
 * into locked memory; every copy we can reach is wiped before it is
 * freed. */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

/* GET one Secret, parsed with the precautions for secret bytes. On K8S_OK
 * *root is a v1 Secret; either way the caller ends with secret_release(). */
static int
secret_fetch(struct k8s_client *c, const char *ns, const char *name, struct resp_buf *rb,
	     struct json_object **root, char *err, size_t errlen)
{
	char path[400];
	const char *kind;
	int rc;

	*root = NULL;
	if (k8s_dns1123_label_valid(ns))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid namespace name");
	if (k8s_dns1123_subdomain_valid(name))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid secret name");
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, name);
	rc = k8s_http_get(c, path, rb, err, errlen);
	if (rc == K8S_OK)
		rc = k8s_json_parse(rb->data, rb->len, 1, root, err, errlen);
	if (rc != K8S_OK)
		return rc;
	kind = json_object_is_type(*root, json_type_object) ? k8s_jstr(*root, "kind") : NULL;
	if (!kind || strcmp(kind, "Secret") != 0)
		return seterr(err, errlen, K8S_ERR_SHAPE, "secret %s/%s: answer is not a v1 Secret",
			      ns, name);
	return K8S_OK;
}

static void
secret_release(struct resp_buf *rb, struct json_object *root)
{
	if (root) {
		k8s_json_wipe_strings(root);
		json_object_put(root);
	}
	k8s_rb_free(rb);
}

/* .data of a fetched Secret: K8S_OK with *data NULL when the Secret has no
 * keys (the API then omits "data" altogether). */
static int
secret_data(struct json_object *root, const char *ns, const char *name, struct json_object **data,
	    char *err, size_t errlen)
{
	*data = NULL;
	if (!json_object_object_get_ex(root, "data", data) ||
	    json_object_is_type(*data, json_type_null)) {
		*data = NULL;
		return K8S_OK;
	}
	if (!json_object_is_type(*data, json_type_object))
		return seterr(err, errlen, K8S_ERR_SHAPE, "secret %s/%s: data is not an object", ns,
			      name);
	return K8S_OK;
}

/* Decode one .data value into dst (LCW_SECRET_MAX bytes); on error dst may
 * hold part of it and the caller wipes. */
static int
secret_decode(struct json_object *v, const char *ns, const char *name, const char *key,
	      uint8_t *dst, size_t *len, char *err, size_t errlen)
{
	long n;

	if (!json_object_is_type(v, json_type_string))
		return seterr(err, errlen, K8S_ERR_SHAPE, "secret %s/%s: data.%s is not a string",
			      ns, name, key);
	n = k8s_base64_decode(json_object_get_string(v), json_object_get_string_len(v), dst,
			      LCW_SECRET_MAX);
	if (n == -2)
		return seterr(err, errlen, K8S_ERR_VALUE_TOO_LARGE,
			      "secret %s/%s: value of '%s' exceeds %d bytes", ns, name, key,
			      LCW_SECRET_MAX);
	if (n < 0)
		return seterr(err, errlen, K8S_ERR_SHAPE, "secret %s/%s: data.%s is not base64", ns,
			      name, key);
	*len = (size_t)n;
	return K8S_OK;
}

int
k8s_get_secret_value(struct k8s_client *c, const char *ns, const char *name, const char *key,
		     struct lcw_secret *out, char *err, size_t errlen)
{
	struct resp_buf rb = { 0 };
	struct json_object *root = NULL, *data, *v;
	int rc;

	if (!out || !out->bytes)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "output secret not allocated");
	out->len = 0;
	if (k8s_secret_key_valid(key))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid secret key");
	rc = secret_fetch(c, ns, name, &rb, &root, err, errlen);
	if (rc == K8S_OK)
		rc = secret_data(root, ns, name, &data, err, errlen);
	if (rc == K8S_OK && !data)
		rc = seterr(err, errlen, K8S_ERR_KEY_MISSING,
			    "secret %s/%s has no data (key '%s' not found)", ns, name, key);
	if (rc == K8S_OK && !json_object_object_get_ex(data, key, &v))
		rc = seterr(err, errlen, K8S_ERR_KEY_MISSING, "secret %s/%s has no key '%s'", ns,
			    name, key);
	if (rc == K8S_OK)
		rc = secret_decode(v, ns, name, key, out->bytes, &out->len, err, errlen);
	secret_release(&rb, root);
	if (rc != K8S_OK) {
		explicit_bzero(out->bytes, LCW_SECRET_MAX);
		out->len = 0;
	}
	return rc;
}

/* Every key and value is checked before cb sees any of them, so a malformed
 * Secret never reaches the caller half-read; then each value is decoded
 * again into the locked scratch page, handed out and wiped. */
static int
secret_each(struct json_object *data, const char *ns, const char *name, uint8_t *scratch,
	    int (*cb)(void *ud, const char *key, const void *val, size_t len), void *ud,
	    char *err, size_t errlen)
{
	size_t len;
	int rc;

	for (int deliver = 0; deliver < 2; deliver++) {
		json_object_object_foreach(data, key, v)
		{
			if (k8s_secret_key_valid(key))
				return seterr(err, errlen, K8S_ERR_SHAPE,
					      "secret %s/%s: data has an invalid key", ns, name);
			rc = secret_decode(v, ns, name, key, scratch, &len, err, errlen);
			if (rc != K8S_OK || !deliver) {
				explicit_bzero(scratch, LCW_SECRET_MAX);
				if (rc != K8S_OK)
					return rc;
				continue;
			}
			if (err && errlen)
				err[0] = '\0'; /* cb may write its own reason here */
			rc = cb(ud, key, scratch, len);
			explicit_bzero(scratch, len);
			if (rc == 0)
				continue;
			if (err && errlen && err[0])
				return K8S_ERR_SHAPE;
			return seterr(err, errlen, K8S_ERR_SHAPE,
				      "secret %s/%s: key '%s' rejected by caller", ns, name, key);
		}
	}
	return K8S_OK;
}

int
k8s_get_secret_values(struct k8s_client *c, const char *ns, const char *name,
		      int (*cb)(void *ud, const char *key, const void *val, size_t len), void *ud,
		      char *err, size_t errlen)
{
	struct lcw_secret scratch = { 0 };
	struct resp_buf rb = { 0 };
	struct json_object *root = NULL, *data = NULL;
	int rc;

	if (!cb)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "no callback");
	rc = secret_fetch(c, ns, name, &rb, &root, err, errlen);
	if (rc == K8S_OK)
		rc = secret_data(root, ns, name, &data, err, errlen);
	if (rc == K8S_OK && data && secret_alloc(&scratch))
		rc = seterr(err, errlen, K8S_ERR_INTERNAL, "locked memory: %s", strerror(errno));
	if (rc == K8S_OK && data)
		rc = secret_each(data, ns, name, scratch.bytes, cb, ud, err, errlen);
	secret_release(&rb, root);
	secret_free(&scratch);
	return rc;
}
