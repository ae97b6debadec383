/* Kubernetes API client: a node's room for new local volumes, as a Lease.
 *
 * Only the node can measure its disk, and only the controller answers
 * csi-provisioner's GetCapacity for each node's topology segment. privd
 * publishes what it measured in a Lease named lcw-capacity-<node> in the
 * driver's namespace (server-side apply, so creating and updating are one
 * request, and the renew time says how fresh it is); the controller reads
 * it back. A Lease and not the CSIStorageCapacity objects themselves: those
 * belong to csi-provisioner, which keeps them in step with StorageClasses. */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#define ANN_AVAILABLE "capacity.lukscryptwalker.io/available-bytes"
#define ANN_MAXIMUM "capacity.lukscryptwalker.io/maximum-volume-bytes"
#define ANN_LEFT "capacity.lukscryptwalker.io/volumes-left"
#define LEASE_PREFIX "lcw-capacity-"

int
k8s_capacity_lease_name(const char *node, char *out, size_t outlen)
{
	int n;
	if (k8s_dns1123_subdomain_valid(node))
		return -1;
	n = snprintf(out, outlen, LEASE_PREFIX "%s", node);
	return n < 0 || (size_t)n >= outlen || n > 253 ? -1 : 0;
}

static void
put_u64(struct json_object *o, const char *k, uint64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%" PRIu64, v);
	json_object_object_add(o, k, json_object_new_string(b));
}

char *
k8s_capacity_lease_body(const char *ns, const char *node, const struct k8s_node_capacity *cap,
			time_t now)
{
	char name[300], when[64];
	struct tm tm;
	struct json_object *o = json_object_new_object(), *md = json_object_new_object(),
			   *ann = json_object_new_object(), *spec = json_object_new_object();
	char *out = NULL;

	if (k8s_capacity_lease_name(node, name, sizeof(name)) || !gmtime_r(&now, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000000Z", &tm)) {
		json_object_put(o);
		json_object_put(md);
		json_object_put(ann);
		json_object_put(spec);
		return NULL;
	}
	json_object_object_add(o, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
	json_object_object_add(o, "kind", json_object_new_string("Lease"));
	json_object_object_add(md, "name", json_object_new_string(name));
	json_object_object_add(md, "namespace", json_object_new_string(ns));
	put_u64(ann, ANN_AVAILABLE, cap->available);
	put_u64(ann, ANN_MAXIMUM, cap->maximum_volume);
	put_u64(ann, ANN_LEFT, cap->volumes_left);
	json_object_object_add(md, "annotations", ann);
	json_object_object_add(o, "metadata", md);
	json_object_object_add(spec, "holderIdentity", json_object_new_string(node));
	json_object_object_add(spec, "renewTime", json_object_new_string(when));
	json_object_object_add(o, "spec", spec);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	out = s ? strdup(s) : NULL;
	json_object_put(o);
	return out;
}

static int
get_u64(struct json_object *ann, const char *k, uint64_t *v)
{
	struct json_object *x;
	const char *s;
	char *end;
	if (!json_object_object_get_ex(ann, k, &x) || !json_object_is_type(x, json_type_string))
		return -1;
	s = json_object_get_string(x);
	if (*s < '0' || *s > '9' || strlen(s) > 20)
		return -1;
	unsigned long long u = strtoull(s, &end, 10);
	if (*end)
		return -1;
	*v = u;
	return 0;
}

int
k8s_capacity_lease_parse(const char *body, size_t len, const char *node,
			 struct k8s_node_capacity *cap, time_t *renewed)
{
	struct json_object *o = NULL, *md, *ann, *spec, *v;
	struct tm tm = { 0 };
	int rc = -1;

	if (k8s_json_parse(body, len, 0, &o, NULL, 0) != K8S_OK)
		return -1;
	if (json_object_object_get_ex(o, "metadata", &md) &&
	    json_object_object_get_ex(md, "annotations", &ann) &&
	    json_object_object_get_ex(o, "spec", &spec) &&
	    json_object_object_get_ex(spec, "holderIdentity", &v) && k8s_jstr_eq(v, node) &&
	    json_object_object_get_ex(spec, "renewTime", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strptime(json_object_get_string(v), "%Y-%m-%dT%H:%M:%S", &tm) &&
	    get_u64(ann, ANN_AVAILABLE, &cap->available) == 0 &&
	    get_u64(ann, ANN_MAXIMUM, &cap->maximum_volume) == 0 &&
	    get_u64(ann, ANN_LEFT, &cap->volumes_left) == 0) {
		*renewed = timegm(&tm);
		rc = 0;
	}
	json_object_put(o);
	return rc;
}

int
k8s_capacity_publish(struct k8s_client *c, const char *ns, const char *node,
		     const struct k8s_node_capacity *cap, char *err, size_t errlen)
{
	struct resp_buf rb = { 0 };
	char name[300], path[700];
	char *body;
	int rc;

	if (k8s_dns1123_label_valid(ns) || k8s_capacity_lease_name(node, name, sizeof(name)))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "bad namespace or node name");
	body = k8s_capacity_lease_body(ns, node, cap, time(NULL));
	if (body == NULL)
		return seterr(err, errlen, K8S_ERR_INTERNAL, "out of memory");
	snprintf(path, sizeof(path),
		 "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s"
		 "?fieldManager=lukscryptwalker-csi&force=true", ns, name);
	rc = k8s_http_send(c, "PATCH", path, "application/apply-patch+yaml", body, strlen(body),
			   &rb, err, errlen);
	free(body);
	k8s_rb_free(&rb);
	return rc;
}

int
k8s_capacity_read(struct k8s_client *c, const char *ns, const char *node,
		  struct k8s_node_capacity *cap, time_t *renewed, char *err, size_t errlen)
{
	struct resp_buf rb = { 0 };
	char name[300], path[700];
	int rc;

	if (k8s_dns1123_label_valid(ns) || k8s_capacity_lease_name(node, name, sizeof(name)))
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "bad namespace or node name");
	snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns,
		 name);
	rc = k8s_http_get(c, path, &rb, err, errlen);
	if (rc == K8S_OK && k8s_capacity_lease_parse(rb.data, rb.len, node, cap, renewed))
		rc = seterr(err, errlen, K8S_ERR_SHAPE, "lease %s does not carry this node's capacity",
			    name);
	k8s_rb_free(&rb);
	return rc;
}
