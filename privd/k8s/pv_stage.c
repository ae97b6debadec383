/* Stage parameters from a PersistentVolume (see pv_stage.h). Pure. */
#define _GNU_SOURCE
#include "pv_stage.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "k8s_client.h"
#include "volparams.h"

#define JSON_DEPTH 64
#define PV_JSON_MAX (64u * 1024u * 1024u) /* as the client's body cap */

static int
fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- quantities ------------------------------------------------------------ */

static int
mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
	if (b && a > UINT64_MAX / b)
		return -1;
	*out = a * b;
	return 0;
}

int
k8s_quantity_bytes(const char *s, uint64_t *out)
{
	static const struct {
		const char *sfx;
		uint64_t base;
		int power;
	} units[] = {
		{ "Ki", 1024, 1 }, { "Mi", 1024, 2 }, { "Gi", 1024, 3 }, { "Ti", 1024, 4 },
		{ "Pi", 1024, 5 }, { "Ei", 1024, 6 }, { "k", 1000, 1 },	 { "M", 1000, 2 },
		{ "G", 1000, 3 },  { "T", 1000, 4 },  { "P", 1000, 5 },	 { "E", 1000, 6 },
	};
	uint64_t v = 0, m = 1;
	size_t i = 0;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	for (; isdigit((unsigned char)s[i]); i++)
		if (mul_ok(v, 10, &v) || v > UINT64_MAX - (uint64_t)(s[i] - '0'))
			return -1;
		else
			v += (uint64_t)(s[i] - '0');
	const char *sfx = s + i;
	if (*sfx == '\0') {
		*out = v;
		return 0;
	}
	if ((sfx[0] == 'e' || sfx[0] == 'E') && isdigit((unsigned char)sfx[1])) {
		/* decimal exponent: at most 19 fits a uint64 at all */
		size_t n = strspn(sfx + 1, "0123456789");
		if (sfx[1 + n] != '\0' || n > 2)
			return -1;
		int e = atoi(sfx + 1);
		for (int k = 0; k < e; k++)
			if (mul_ok(m, 10, &m))
				return -1;
		return mul_ok(v, m, out);
	}
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		if (strcmp(sfx, units[u].sfx) != 0)
			continue;
		for (int k = 0; k < units[u].power; k++)
			m *= units[u].base; /* at most 1024^6 = 2^60: no overflow */
		return mul_ok(v, m, out);
	}
	return -1;
}

/* ---- JSON helpers ----------------------------------------------------------- */

/* A JSON string without embedded NUL, of at most max bytes, or NULL. */
static const char *
str_field(struct json_object *o, const char *key, size_t max, int *present)
{
	struct json_object *v;

	*present = json_object_object_get_ex(o, key, &v) && !json_object_is_type(v, json_type_null);
	if (!*present || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	return n <= max && strlen(s) == n ? s : NULL;
}

static int
copy_name(char *dst, size_t dstlen, const char *s)
{
	size_t n = strlen(s);
	if (n >= dstlen)
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

/* One volume attribute: NULL when absent or "", else the value. *bad is
 * set when it is there but not a plain string. */
static const char *
attr(struct json_object *attrs, const char *key, int *bad)
{
	int present;
	const char *v;

	if (!attrs)
		return NULL;
	v = str_field(attrs, key, PV_ATTR_MAX, &present);
	if (present && !v)
		*bad = 1;
	return v && v[0] ? v : NULL;
}

/* Every attribute a plain string of bounded length (the API's
 * map[string]string; a hand-made object could hold anything). */
static int
attrs_check(struct json_object *attrs, char *why, size_t whylen)
{
	json_object_object_foreach(attrs, k, v)
	{
		size_t n = json_object_is_type(v, json_type_string)
				   ? (size_t)json_object_get_string_len(v)
				   : 0;
		if (!json_object_is_type(v, json_type_string) || n > PV_ATTR_MAX ||
		    strlen(json_object_get_string(v)) != n || strlen(k) > PV_ATTR_MAX)
			return fail(why, whylen,
				    "volumeAttributes: a value is not a string of at most %d bytes",
				    PV_ATTR_MAX);
	}
	return 0;
}

static int
stage_ref(struct json_object *csi, struct pv_stage *out, char *why, size_t whylen)
{
	struct json_object *ref;
	const char *ns, *name;
	int p1, p2;

	if (!json_object_object_get_ex(csi, "nodeStageSecretRef", &ref) ||
	    json_object_is_type(ref, json_type_null))
		return 0;
	if (!json_object_is_type(ref, json_type_object))
		return fail(why, whylen, "spec.csi.nodeStageSecretRef is not an object");
	ns = str_field(ref, "namespace", IPC_K8S_NS_MAX, &p1);
	name = str_field(ref, "name", IPC_K8S_NAME_MAX, &p2);
	if (!ns || k8s_dns1123_label_valid(ns) || !name || k8s_dns1123_subdomain_valid(name))
		return fail(why, whylen,
			    "spec.csi.nodeStageSecretRef needs a namespace (DNS-1123 label) and a "
			    "name (DNS-1123 subdomain)");
	copy_name(out->ref_ns, sizeof(out->ref_ns), ns);
	copy_name(out->ref_name, sizeof(out->ref_name), name);
	return 0;
}

/* The attributes the frontend reads from the volume context, read here the
 * same way (frontend/csi_checks.c parse_volume_context). */
static int
luks_attrs(struct json_object *attrs, struct pv_stage *out, char *why, size_t whylen)
{
	int bad = 0;
	const char *v;

	v = attr(attrs, "storage-backend", &bad);
	out->is_s3 = v && strcmp(v, "s3") == 0;
	v = attr(attrs, "passphraseKey", &bad);
	if (!v)
		v = "passphrase";
	if (k8s_secret_key_valid(v) || copy_name(out->passphrase_key, sizeof(out->passphrase_key), v))
		return fail(why, whylen, "volumeAttributes.passphraseKey is not a Secret key");
	v = attr(attrs, "passphrase-secret-name", &bad);
	if (v) {
		const char *ns = attr(attrs, "passphrase-secret-namespace", &bad);
		if (k8s_dns1123_subdomain_valid(v) || !ns || k8s_dns1123_label_valid(ns))
			return fail(why, whylen,
				    "volumeAttributes.passphrase-secret-name needs "
				    "passphrase-secret-namespace, and both must be valid names");
		copy_name(out->secret_name, sizeof(out->secret_name), v);
		copy_name(out->secret_ns, sizeof(out->secret_ns), ns);
	}
	out->has_fs_group = 0;
	if ((v = attr(attrs, "fsGroup", &bad))) {
		if (fs_group_parse(v, &out->fs_group))
			return fail(why, whylen, "volumeAttributes.fsGroup is not a group id");
		out->has_fs_group = 1;
	}
	out->fs_mode = 0750;
	if ((v = attr(attrs, "fs-mode", &bad)) && (out->fs_mode = fs_mode_parse(v)) < 0)
		return fail(why, whylen, "volumeAttributes.fs-mode is not an octal mode");
	out->allow_discards = 0; /* opt-in, "true" only (README "Space reclaim") */
	if ((v = attr(attrs, "allow-discards", &bad))) {
		if (strcmp(v, "true") && strcmp(v, "false"))
			return fail(why, whylen, "volumeAttributes.allow-discards is not true or false");
		out->allow_discards = strcmp(v, "true") == 0;
	}
	out->capacity = 0;
	if ((v = attr(attrs, "capacity", &bad)) && (u64_parse(v, &out->capacity) || !out->capacity))
		return fail(why, whylen, "volumeAttributes.capacity is not a byte count");
	if (bad)
		return fail(why, whylen, "volumeAttributes: a value is not a string");
	return 0;
}

static int
s3_attrs(struct json_object *attrs, struct pv_stage *out, char *why, size_t whylen)
{
	char err[256];

	s3_params_init(&out->s3);
	if (!attrs)
		return fail(why, whylen, "S3 volume without volumeAttributes");
	json_object_object_foreach(attrs, k, v)
	{
		if (s3_params_apply(&out->s3, k, json_object_get_string(v), err, sizeof(err)) < 0)
			return fail(why, whylen, "volumeAttributes: %s", err);
	}
	if (!out->s3.secret_name[0] || !out->s3.secret_namespace[0])
		return fail(why, whylen, "S3 volume without s3-secret-name and s3-secret-namespace");
	return 0;
}

/* spec.nodeAffinity.required.nodeSelectorTerms[].matchExpressions[] on
 * our topology key. Other keys and operators are the scheduler's business;
 * a PV without affinity is not pinned. */
static int
node_affinity(struct json_object *spec, struct pv_stage *out, char *why, size_t whylen)
{
	struct json_object *na, *req, *terms;

	if (!json_object_object_get_ex(spec, "nodeAffinity", &na) ||
	    json_object_is_type(na, json_type_null))
		return 0;
	if (!json_object_is_type(na, json_type_object) ||
	    !json_object_object_get_ex(na, "required", &req) ||
	    !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "nodeSelectorTerms", &terms) ||
	    !json_object_is_type(terms, json_type_array))
		return fail(why, whylen, "spec.nodeAffinity malformed");
	for (size_t t = 0; t < json_object_array_length(terms); t++) {
		struct json_object *term = json_object_array_get_idx(terms, t), *exprs;
		if (!json_object_is_type(term, json_type_object) ||
		    !json_object_object_get_ex(term, "matchExpressions", &exprs))
			continue;
		if (!json_object_is_type(exprs, json_type_array))
			return fail(why, whylen, "spec.nodeAffinity matchExpressions malformed");
		for (size_t e = 0; e < json_object_array_length(exprs); e++) {
			struct json_object *x = json_object_array_get_idx(exprs, e), *vals;
			const char *key, *op;
			int p;
			if (!json_object_is_type(x, json_type_object) ||
			    !(key = str_field(x, "key", 317, &p)) ||
			    !(op = str_field(x, "operator", 32, &p)))
				return fail(why, whylen, "spec.nodeAffinity expression malformed");
			if (strcmp(key, PV_TOPOLOGY_KEY) != 0)
				continue;
			if (strcmp(op, "In") != 0 ||
			    !json_object_object_get_ex(x, "values", &vals) ||
			    !json_object_is_type(vals, json_type_array))
				return fail(why, whylen, "spec.nodeAffinity on %s is not an In list",
					    PV_TOPOLOGY_KEY);
			for (size_t v = 0; v < json_object_array_length(vals); v++) {
				struct json_object *vo = json_object_array_get_idx(vals, v);
				const char *n = json_object_is_type(vo, json_type_string)
							? json_object_get_string(vo)
							: NULL;
				if (!n || (size_t)json_object_get_string_len(vo) != strlen(n) ||
				    strlen(n) >= sizeof(out->nodes[0]))
					return fail(why, whylen, "spec.nodeAffinity: a node name is malformed");
				if (out->n_nodes == PV_NODES_MAX)
					return fail(why, whylen, "spec.nodeAffinity names over %d nodes",
						    PV_NODES_MAX);
				copy_name(out->nodes[out->n_nodes++], sizeof(out->nodes[0]), n);
			}
		}
	}
	return 0;
}

/* spec.capacity.storage, the size the PV was provisioned with. */
static int
spec_capacity(struct json_object *spec, uint64_t *bytes, char *why, size_t whylen)
{
	struct json_object *cap;
	const char *q;
	int present;

	if (!json_object_object_get_ex(spec, "capacity", &cap) ||
	    !json_object_is_type(cap, json_type_object) ||
	    !(q = str_field(cap, "storage", 64, &present)) || k8s_quantity_bytes(q, bytes))
		return fail(why, whylen, "spec.capacity.storage missing or not a byte quantity");
	return 0;
}

int
pv_stage_parse(const char *json, size_t len, const char *driver, const char *handle,
	       struct pv_stage *out, char *why, size_t whylen)
{
	struct json_tokener *tok;
	struct json_object *root = NULL, *md, *spec, *csi, *attrs = NULL;
	const char *s;
	int present, rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json || len == 0 || len > PV_JSON_MAX)
		return fail(why, whylen, "PersistentVolume: empty or too large");
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return fail(why, whylen, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, json, (int)len);
	size_t end = json_tokener_get_parse_end(tok);
	while (end < len && isspace((unsigned char)json[end])) /* the API ends bodies in "\n" */
		end++;
	if (json_tokener_get_error(tok) != json_tokener_success || !root || end != len) {
		json_tokener_free(tok);
		json_object_put(root);
		return fail(why, whylen, "PersistentVolume: not one JSON value");
	}
	json_tokener_free(tok);
	if (!json_object_is_type(root, json_type_object)) {
		fail(why, whylen, "PersistentVolume: not an object");
		goto out;
	}
	if (json_object_object_get_ex(root, "metadata", &md) &&
	    json_object_is_type(md, json_type_object) &&
	    (s = str_field(md, "name", 253, &present)) && k8s_dns1123_subdomain_valid(s) == 0)
		copy_name(out->pv_name, sizeof(out->pv_name), s);
	if (!json_object_object_get_ex(root, "spec", &spec) ||
	    !json_object_is_type(spec, json_type_object) ||
	    !json_object_object_get_ex(spec, "csi", &csi) ||
	    !json_object_is_type(csi, json_type_object)) {
		fail(why, whylen, "PersistentVolume: no spec.csi");
		goto out;
	}
	if (!(s = str_field(csi, "driver", 63, &present)) || strcmp(s, driver) != 0) {
		fail(why, whylen, "PersistentVolume: spec.csi.driver is not %s", driver);
		goto out;
	}
	if (!(s = str_field(csi, "volumeHandle", IPC_VOLID_MAX, &present)) || strcmp(s, handle) != 0) {
		fail(why, whylen, "PersistentVolume: spec.csi.volumeHandle is not %s", handle);
		goto out;
	}
	if (json_object_object_get_ex(csi, "volumeAttributes", &attrs) &&
	    json_object_is_type(attrs, json_type_null))
		attrs = NULL;
	if (attrs && !json_object_is_type(attrs, json_type_object)) {
		fail(why, whylen, "spec.csi.volumeAttributes is not an object");
		goto out;
	}
	if (attrs && attrs_check(attrs, why, whylen))
		goto out;
	s = str_field(csi, "fsType", 16, &present);
	if (present && (!s || (out->fs_kind = fs_kind_parse(s)) < 0)) {
		fail(why, whylen, "spec.csi.fsType is not one of ext4, ext3, xfs");
		goto out;
	}
	if (stage_ref(csi, out, why, whylen) || node_affinity(spec, out, why, whylen) ||
	    luks_attrs(attrs, out, why, whylen) ||
	    (out->is_s3 && s3_attrs(attrs, out, why, whylen)))
		goto out;
	/* The "capacity" attribute is what CreateVolume decided (and what the
	 * frontend reads); a static PV may only have spec.capacity. */
	if (out->capacity == 0 && spec_capacity(spec, &out->capacity, why, whylen))
		goto out;
	if (out->capacity == 0 || out->capacity > MAX_CAPACITY) {
		fail(why, whylen, "capacity of %llu bytes is outside 1 byte .. 64 TiB",
		     (unsigned long long)out->capacity);
		goto out;
	}
	rc = 0;
out:
	json_object_put(root);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- does the request agree? ------------------------------------------------ */

/* The passphrase source: the PV's Secret in hardened mode, else a
 * node-stage secret kubelet can only have sent if the PV names one. */
static int
check_pass(const struct pv_stage *pv, const char *ns, const char *name, const char *key,
	   uint32_t passlen, char *why, size_t whylen)
{
	if (pv->secret_name[0]) {
		if (passlen || strcmp(ns, pv->secret_ns) || strcmp(name, pv->secret_name) ||
		    strcmp(key, pv->passphrase_key))
			return fail(why, whylen,
				    "the request does not name the passphrase Secret of its PV "
				    "(%s/%s key %s)", pv->secret_ns, pv->secret_name,
				    pv->passphrase_key);
		return 0;
	}
	if (name[0])
		return fail(why, whylen,
			    "the request names passphrase Secret %s/%s, but its PV names none "
			    "(node-stage-secret mode)", ns, name);
	if (!pv->ref_name[0])
		return fail(why, whylen,
			    "its PV names no passphrase Secret: neither passphrase-secret-name nor "
			    "spec.csi.nodeStageSecretRef");
	return 0;
}

static int
check_group(const struct pv_stage *pv, uint8_t has, uint32_t gid, char *why, size_t whylen)
{
	if (pv->has_fs_group && (!has || gid != pv->fs_group))
		return fail(why, whylen, "the request's fsGroup is not its PV's (%u)", pv->fs_group);
	return 0;
}

int
pv_stage_check_luks(const struct pv_stage *pv, const struct ipc_stage_req *r, const char *nodeid,
		    uint64_t *capacity, char *why, size_t whylen)
{
	int here = pv->n_nodes == 0;

	if (pv->is_s3)
		return fail(why, whylen, "its PV is an S3 volume (storage-backend s3)");
	for (int i = 0; i < pv->n_nodes && !here; i++)
		here = strcmp(pv->nodes[i], nodeid) == 0;
	if (!here)
		return fail(why, whylen, "its PV is pinned to node %s%s, not to this node (%s)",
			    pv->nodes[0], pv->n_nodes > 1 ? " and others" : "", nodeid);
	if (check_pass(pv, r->secret_namespace, r->secret_name, r->secret_key, r->passphrase_len,
		       why, whylen) ||
	    check_group(pv, r->has_fs_group, r->fs_group, why, whylen))
		return -1;
	if (pv->fs_kind != FS_UNSET && r->fs_kind != FS_UNSET && (int)r->fs_kind != pv->fs_kind)
		return fail(why, whylen, "the request's fsType is not its PV's (%s)",
			    fs_kind_name(pv->fs_kind));
	if (!!r->allow_discards != pv->allow_discards)
		return fail(why, whylen, "the request's allow-discards is not its PV's (%s)",
			    pv->allow_discards ? "true" : "false");
	if ((int)r->fs_mode != pv->fs_mode)
		return fail(why, whylen, "the request's fs-mode is not its PV's (%04o)",
			    (unsigned)pv->fs_mode);
	if (pv->capacity < LUKS2_HEADER_BYTES + MIB)
		return fail(why, whylen, "its PV's capacity (%llu bytes) cannot hold a LUKS volume",
			    (unsigned long long)pv->capacity);
	*capacity = pv->capacity;
	return 0;
}

int
pv_stage_check_s3(const struct pv_stage *pv, const struct ipc_stage_s3_req *r, char *why,
		  size_t whylen)
{
	struct ipc_s3_tuning t;
	const struct ipc_s3_tuning *q = &r->t;

	if (!pv->is_s3)
		return fail(why, whylen, "its PV is not an S3 volume");
	if (check_pass(pv, r->secret_namespace, r->secret_name, r->secret_key, r->passphrase_len,
		       why, whylen) ||
	    check_group(pv, r->has_fs_group, r->fs_group, why, whylen))
		return -1;
	/* After a restart the passphrase is looked up again under this key. */
	if (strcmp(r->passphrase_key, pv->passphrase_key))
		return fail(why, whylen, "the request's passphraseKey is not its PV's (%s)",
			    pv->passphrase_key);
	if (strcmp(r->s3_namespace, pv->s3.secret_namespace) ||
	    strcmp(r->s3_name, pv->s3.secret_name))
		return fail(why, whylen, "the request does not name the S3 Secret of its PV (%s/%s)",
			    pv->s3.secret_namespace, pv->s3.secret_name);
	if (strcmp(r->prefix, pv->s3.prefix))
		return fail(why, whylen, "the request's s3-path-prefix is not its PV's (\"%s\")",
			    pv->s3.prefix);
	memset(&t, 0, sizeof(t));
	s3_params_to_tuning(&pv->s3, &t);
	if (t.cache_mode != q->cache_mode || t.cache_max_age_ns != q->cache_max_age_ns ||
	    t.cache_max_size_off != q->cache_max_size_off || t.cache_max_size != q->cache_max_size ||
	    t.cache_poll_ns != q->cache_poll_ns || t.write_back_ns != q->write_back_ns ||
	    t.dir_cache_time_ns != q->dir_cache_time_ns || t.attr_timeout_ns != q->attr_timeout_ns ||
	    t.has_chunk_streams != q->has_chunk_streams ||
	    (t.has_chunk_streams && t.chunk_streams != q->chunk_streams))
		return fail(why, whylen, "the request's rclone tuning is not its PV's");
	return 0;
}
