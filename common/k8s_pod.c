/* Kubernetes API client: which pod a process belongs to (its cgroup path)
 * and deleting that pod. Only privd's opt-in fallback uses it, for a pod
 * whose view of a re-mounted S3 volume could not be repaired
 * (--delete-unrepairable-pods). */
#define _GNU_SOURCE
#include "k8s_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* 8-4-4-4-12 hex digits with '-' (cgroupfs) or '_' (systemd) between. */
static int
uid_at(const char *p, const char *end, char *uid)
{
	static const int dash[] = { 8, 13, 18, 23 };

	if (end - p < K8S_UID_LEN)
		return -1;
	for (int i = 0, d = 0; i < K8S_UID_LEN; i++) {
		if (d < 4 && i == dash[d]) {
			if (p[i] != '-' && p[i] != '_')
				return -1;
			uid[i] = '-';
			d++;
		} else if (isxdigit((unsigned char)p[i])) {
			uid[i] = (char)tolower((unsigned char)p[i]);
		} else {
			return -1;
		}
	}
	uid[K8S_UID_LEN] = '\0';
	return 0;
}

/* One path component naming a pod: "kubepods-...-pod<uid>.slice" (systemd
 * driver; only kubelet makes such names), or "pod<uid>" (cgroupfs driver)
 * somewhere below a kubepods component, or right below ".." when privd
 * sees the path from a cgroup namespace whose root is its own container. */
static int
component_uid(const char *c, const char *end, int after_kubepods, char *uid)
{
	size_t n = (size_t)(end - c);

	if (after_kubepods && n == 3 + K8S_UID_LEN && strncmp(c, "pod", 3) == 0)
		return uid_at(c + 3, end, uid);
	if (n >= 8 + 4 + K8S_UID_LEN + 6 && strncmp(c, "kubepods", 8) == 0 &&
	    strncmp(end - 6, ".slice", 6) == 0 && strncmp(end - 6 - K8S_UID_LEN - 4, "-pod", 4) == 0)
		return uid_at(end - 6 - K8S_UID_LEN, end - 6, uid);
	return -1;
}

int
k8s_pod_uid_from_cgroup(const char *text, size_t len, char *uid, size_t uidlen)
{
	const char *end = text + len;

	if (uidlen < K8S_UID_LEN + 1)
		return -1;
	/* each line "hierarchy:controllers:path" */
	for (const char *line = text; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		const char *path = memchr(line, ':', (size_t)(le - line));
		path = path ? memchr(path + 1, ':', (size_t)(le - path - 1)) : NULL;
		int after = 0, kube = 0; /* below kubepods..., or right below ".." */
		for (const char *c = path ? path + 1 : le; c < le;) {
			const char *ce = memchr(c, '/', (size_t)(le - c));
			ce = ce ? ce : le;
			if (component_uid(c, ce, after, uid) == 0)
				return 0;
			kube |= ce - c >= 8 && strncmp(c, "kubepods", 8) == 0;
			after = kube || (ce - c == 2 && strncmp(c, "..", 2) == 0);
			c = ce + 1;
		}
		line = le + 1;
	}
	return -1;
}

struct pod_match {
	const char *uid;
	char *ns, *name;
	size_t nslen, namelen;
	int found;
};

static int
pod_page(const char *body, size_t len, struct pod_match *m, char *cont, size_t contlen,
	 char *err, size_t errlen)
{
	struct json_object *root = NULL, *items;
	int rc = k8s_list_parse(body, len, "PodList", &root, &items, err, errlen);

	if (rc != K8S_OK)
		return rc;
	for (size_t i = 0; i < json_object_array_length(items) && !m->found; i++) {
		struct json_object *md, *u;
		if (!json_object_object_get_ex(json_object_array_get_idx(items, i), "metadata", &md) ||
		    !json_object_object_get_ex(md, "uid", &u) || !k8s_jstr_eq(u, m->uid))
			continue;
		const char *ns = k8s_jstr(md, "namespace"), *name = k8s_jstr(md, "name");
		if (!ns || !name || k8s_dns1123_label_valid(ns) ||
		    k8s_dns1123_subdomain_valid(name) || strlen(ns) >= m->nslen ||
		    strlen(name) >= m->namelen) {
			rc = seterr(err, errlen, K8S_ERR_SHAPE, "pod item %zu malformed", i);
			goto out;
		}
		strcpy(m->ns, ns);
		strcpy(m->name, name);
		m->found = 1;
	}
	rc = k8s_list_continue(root, cont, contlen, err, errlen);
out:
	json_object_put(root);
	return rc;
}

/* The node's pods, page by page, until the one with m->uid. */
static int
find_pod(struct k8s_client *c, const char *node, struct pod_match *m, char *err, size_t errlen)
{
	char cont[CONT_MAX + 1] = "", prev[CONT_MAX + 1] = "";
	char sel[3 * 300], path[128 + sizeof(sel) + 3 * CONT_MAX];
	char field[300];
	struct resp_buf rb = { 0 };

	snprintf(field, sizeof(field), "spec.nodeName=%s", node);
	k8s_query_escape(field, sel);
	for (unsigned page = 1; page <= K8S_MAX_PAGES; page++) {
		int off = snprintf(path, sizeof(path), "/api/v1/pods?fieldSelector=%s&limit=%u", sel,
				   c->page_limit);
		if (cont[0]) {
			off += snprintf(path + off, sizeof(path) - off, "&continue=");
			k8s_query_escape(cont, path + off);
		}
		int rc = k8s_http_get(c, path, &rb, err, errlen);
		if (rc == K8S_OK) {
			memcpy(prev, cont, sizeof(prev));
			rc = pod_page(rb.data, rb.len, m, cont, sizeof(cont), err, errlen);
		}
		k8s_rb_free(&rb);
		if (rc != K8S_OK || m->found || cont[0] == '\0')
			return rc;
		if (strcmp(cont, prev) == 0)
			return seterr(err, errlen, K8S_ERR_SHAPE, "continue token did not advance");
	}
	return seterr(err, errlen, K8S_ERR_SHAPE, "more than %u pages", K8S_MAX_PAGES);
}

int
k8s_pod_delete_by_uid(struct k8s_client *c, const char *node, const char *uid, char *ns,
		      size_t nslen, char *name, size_t namelen, char *err, size_t errlen)
{
	struct pod_match m = { uid, ns, name, nslen, namelen, 0 };
	char check[K8S_UID_LEN + 1], body[256], path[128 + 2 * 256];
	struct resp_buf rb = { 0 };
	int rc;

	if (!node || k8s_dns1123_subdomain_valid(node) || !uid || strlen(uid) != K8S_UID_LEN ||
	    uid_at(uid, uid + K8S_UID_LEN, check) || strcmp(check, uid) || nslen < 64 ||
	    namelen < 254)
		return seterr(err, errlen, K8S_ERR_INVALID_ARG, "invalid node name or pod UID");
	if ((rc = find_pod(c, node, &m, err, errlen)) != K8S_OK)
		return rc;
	if (!m.found)
		return seterr(err, errlen, K8S_ERR_NOT_FOUND, "no pod %s on node %s", uid, node);
	int blen = snprintf(body, sizeof(body),
			    "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\","
			    "\"preconditions\":{\"uid\":\"%s\"}}", uid);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, name);
	rc = k8s_http_send(c, "DELETE", path, "application/json", body, (size_t)blen, &rb, err,
			   errlen);
	k8s_rb_free(&rb);
	return rc;
}
