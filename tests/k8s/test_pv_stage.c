/* cmocka: stage parameters derived from PersistentVolume objects
 * (privd/k8s/pv_stage.c), and whether stage requests agree with them.
 *
 * The fixtures are shaped like what the API server returns for
 * GET /api/v1/persistentvolumes/<name> (kind, apiVersion, managedFields,
 * the provisioner's annotations and volumeAttributes, a trailing newline);
 * the malformed and odd cases are made by editing one field of a good one
 * with json-c, so each case differs from a valid PV in exactly one way. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "ipc_msg.h"
#include "pv_stage.h"
#include "s3_params.h"
#include "volparams.h"

#define DRIVER "lukscryptwalker.csi.k8s.io"
#define HANDLE "pvc-6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"

/* A dynamically provisioned hardened-mode PV, as the API server prints it. */
static const char PV_HARDENED[] =
	"{\"kind\":\"PersistentVolume\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" HANDLE
	"\",\"uid\":\"0c9f5a52-7c1e-4a84-9f3e-2b1d6c1e8a77\",\"resourceVersion\":\"48213\","
	"\"creationTimestamp\":\"2026-12-05T21:14:03Z\",\"annotations\":{"
	"\"pv.kubernetes.io/provisioned-by\":\"" DRIVER "\","
	"\"volume.kubernetes.io/provisioner-deletion-secret-name\":\"\","
	"\"volume.kubernetes.io/provisioner-deletion-secret-namespace\":\"\"},"
	"\"finalizers\":[\"kubernetes.io/pv-protection\",\"external-provisioner.volume.kubernetes.io/"
	"finalizer\"],\"managedFields\":[{\"manager\":\"csi-provisioner\",\"operation\":\"Update\","
	"\"apiVersion\":\"v1\",\"time\":\"2026-12-05T21:14:03Z\",\"fieldsType\":\"FieldsV1\","
	"\"fieldsV1\":{\"f:spec\":{\"f:csi\":{\".\":{},\"f:driver\":{}}}}}]},"
	"\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"csi\":{\"driver\":\"" DRIVER "\","
	"\"volumeHandle\":\"" HANDLE "\",\"fsType\":\"ext4\",\"volumeAttributes\":{"
	"\"capacity\":\"1073741824\",\"fs-mode\":\"2770\",\"fsGroup\":\"2000\","
	"\"passphrase-secret-name\":\"vol-a-keys\",\"passphrase-secret-namespace\":\"secure-ns\","
	"\"passphraseKey\":\"key1\",\"storage.kubernetes.io/csiProvisionerIdentity\":"
	"\"1764969000000-8081-" DRIVER "\"}},\"accessModes\":[\"ReadWriteOnce\"],"
	"\"claimRef\":{\"kind\":\"PersistentVolumeClaim\",\"namespace\":\"default\",\"name\":"
	"\"data-a\",\"uid\":\"6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f\",\"apiVersion\":\"v1\","
	"\"resourceVersion\":\"48190\"},\"persistentVolumeReclaimPolicy\":\"Delete\","
	"\"storageClassName\":\"luks-hardened\",\"volumeMode\":\"Filesystem\",\"nodeAffinity\":{"
	"\"required\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":"
	"\"topology.lukscryptwalker.csi.k8s.io/node\",\"operator\":\"In\",\"values\":"
	"[\"node-1\"]}]}]}}},\"status\":{\"phase\":\"Bound\","
	"\"lastPhaseTransitionTime\":\"2026-12-05T21:14:03Z\"}}\n";

/* A static node-stage-secret PV (a list item: no kind), named unlike its
 * handle, with only spec.capacity. */
static const char PV_STATIC[] =
	"{\"metadata\":{\"name\":\"legacy-data\",\"uid\":\"4e2f\",\"resourceVersion\":\"7\"},"
	"\"spec\":{\"capacity\":{\"storage\":\"2Gi\"},\"csi\":{\"driver\":\"" DRIVER "\","
	"\"volumeHandle\":\"vol-legacy-1\",\"volumeAttributes\":{},\"nodeStageSecretRef\":{"
	"\"name\":\"legacy-pass\",\"namespace\":\"tenant-b\"}},\"accessModes\":[\"ReadWriteOnce\"],"
	"\"persistentVolumeReclaimPolicy\":\"Retain\",\"volumeMode\":\"Filesystem\"},"
	"\"status\":{\"phase\":\"Available\"}}";

/* An S3 PV in node-stage-secret mode. */
static const char PV_S3[] =
	"{\"kind\":\"PersistentVolume\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"pvc-s3\"},"
	"\"spec\":{\"capacity\":{\"storage\":\"10Gi\"},\"csi\":{\"driver\":\"" DRIVER "\","
	"\"volumeHandle\":\"pvc-s3\",\"volumeAttributes\":{\"capacity\":\"10737418240\","
	"\"storage-backend\":\"s3\",\"s3-secret-name\":\"s3-creds\",\"s3-secret-namespace\":"
	"\"tenant-s3\",\"s3-path-prefix\":\"team/a\",\"rclone-vfs-write-back\":\"1s\","
	"\"rclone-vfs-cache-max-size\":\"256Mi\"},\"nodeStageSecretRef\":{\"name\":\"crypt-pass\","
	"\"namespace\":\"tenant-s3\"}},\"accessModes\":[\"ReadWriteMany\"]},"
	"\"status\":{\"phase\":\"Bound\"}}\n";

static int
parse(const char *json, const char *handle, struct pv_stage *pv, char *why)
{
	why[0] = '\0';
	return pv_stage_parse(json, strlen(json), DRIVER, handle, pv, why, 256);
}

/* Parse base, let edit change it, print it again. The caller frees. */
static char *
edited(const char *base, void (*edit)(struct json_object *root, const void *arg), const void *arg)
{
	struct json_object *root = json_tokener_parse(base);
	assert_non_null(root);
	edit(root, arg);
	char *s = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
	return s;
}

static struct json_object *
at(struct json_object *o, const char *path)
{
	char buf[128], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
		assert_true(json_object_object_get_ex(o, k, &o));
	return o;
}

/* Set (or with val NULL, delete) key at the object at path. */
struct set_arg {
	const char *path, *key;
	struct json_object *(*make)(const char *);
	const char *val;
};

static struct json_object *
mk_str(const char *s)
{
	return json_object_new_string(s);
}

static struct json_object *
mk_json(const char *s)
{
	return json_tokener_parse(s);
}

static void
do_set(struct json_object *root, const void *a_)
{
	const struct set_arg *a = a_;
	struct json_object *o = at(root, a->path);
	if (a->make)
		json_object_object_add(o, a->key, a->make(a->val));
	else
		json_object_object_del(o, a->key);
}

static int
parse_edit(const char *base, const struct set_arg *a, const char *handle, struct pv_stage *pv,
	   char *why)
{
	char *s = edited(base, do_set, a);
	int rc = parse(s, handle, pv, why);
	free(s);
	return rc;
}

/* ---- good PVs ------------------------------------------------------------------ */

static void
t_hardened(void **state)
{
	struct pv_stage pv;
	char why[256];
	(void)state;

	assert_int_equal(parse(PV_HARDENED, HANDLE, &pv, why), 0);
	assert_string_equal(pv.pv_name, HANDLE);
	assert_false(pv.is_s3);
	assert_string_equal(pv.secret_ns, "secure-ns");
	assert_string_equal(pv.secret_name, "vol-a-keys");
	assert_string_equal(pv.passphrase_key, "key1");
	assert_string_equal(pv.ref_name, "");
	assert_int_equal(pv.fs_kind, FS_EXT4);
	assert_int_equal(pv.capacity, GIB);
	assert_true(pv.has_fs_group);
	assert_int_equal(pv.fs_group, 2000);
	assert_int_equal(pv.fs_mode, 02770);
}

static void
t_static(void **state)
{
	struct pv_stage pv;
	char why[256];
	(void)state;

	assert_int_equal(parse(PV_STATIC, "vol-legacy-1", &pv, why), 0);
	assert_string_equal(pv.pv_name, "legacy-data");
	assert_string_equal(pv.ref_ns, "tenant-b");
	assert_string_equal(pv.ref_name, "legacy-pass");
	assert_string_equal(pv.secret_name, "");
	assert_string_equal(pv.passphrase_key, "passphrase");
	assert_int_equal(pv.fs_kind, FS_UNSET);
	assert_int_equal(pv.capacity, 2 * GIB); /* spec.capacity: no attribute */
	assert_false(pv.has_fs_group);
	assert_int_equal(pv.fs_mode, 0750);
}

static void
t_s3(void **state)
{
	struct pv_stage pv;
	char why[256];
	(void)state;

	assert_int_equal(parse(PV_S3, "pvc-s3", &pv, why), 0);
	assert_true(pv.is_s3);
	assert_string_equal(pv.s3.secret_namespace, "tenant-s3");
	assert_string_equal(pv.s3.secret_name, "s3-creds");
	assert_string_equal(pv.s3.prefix, "team/a");
	assert_int_equal(pv.s3.write_back_ns, 1000000000ull);
	assert_int_equal(pv.s3.cache_max_size, 256ll * 1024 * 1024);
	assert_string_equal(pv.ref_name, "crypt-pass");
}

/* ---- not this volume's PV ------------------------------------------------------- */

static void
t_not_ours(void **state)
{
	struct pv_stage pv;
	char why[256];
	(void)state;

	assert_int_equal(parse(PV_HARDENED, "pvc-other", &pv, why), -1);
	assert_non_null(strstr(why, "volumeHandle"));
	assert_string_equal(pv.secret_name, ""); /* nothing half-filled */
	struct set_arg drv = { "spec.csi", "driver", mk_str, "ebs.csi.aws.com" };
	assert_int_equal(parse_edit(PV_HARDENED, &drv, HANDLE, &pv, why), -1);
	assert_non_null(strstr(why, "driver"));
	/* a prefix of our name is not our name */
	struct set_arg pre = { "spec.csi", "driver", mk_str, "lukscryptwalker.csi.k8s.io.evil" };
	assert_int_equal(parse_edit(PV_HARDENED, &pre, HANDLE, &pv, why), -1);
	struct set_arg nfs = { "spec", "csi", NULL, NULL };
	assert_int_equal(parse_edit(PV_HARDENED, &nfs, HANDLE, &pv, why), -1);
	assert_non_null(strstr(why, "spec.csi"));
	/* "\u0000" in the handle: not equal to the handle it starts with */
	struct set_arg nul = { "spec.csi", "volumeHandle", mk_json, "\"" HANDLE "\\u0000x\"" };
	assert_int_equal(parse_edit(PV_HARDENED, &nul, HANDLE, &pv, why), -1);
}

/* ---- malformed fields ------------------------------------------------------------ */

struct bad_case {
	const char *name;
	struct set_arg edit;
	const char *needle;
};

static const struct bad_case bad_cases[] = {
	{ "attributes not an object", { "spec.csi", "volumeAttributes", mk_json, "[1,2]" },
	  "volumeAttributes" },
	{ "attribute value a number", { "spec.csi.volumeAttributes", "capacity", mk_json, "5" },
	  "not a string" },
	{ "attribute value with NUL",
	  { "spec.csi.volumeAttributes", "passphraseKey", mk_json, "\"key1\\u0000x\"" },
	  "not a string" },
	{ "fsType btrfs", { "spec.csi", "fsType", mk_str, "btrfs" }, "fsType" },
	{ "fsType number", { "spec.csi", "fsType", mk_json, "4" }, "fsType" },
	{ "secret name without namespace",
	  { "spec.csi.volumeAttributes", "passphrase-secret-namespace", NULL, NULL },
	  "passphrase-secret-name" },
	{ "secret name ../x",
	  { "spec.csi.volumeAttributes", "passphrase-secret-name", mk_str, "../x" },
	  "passphrase-secret-name" },
	{ "passphraseKey with a slash", { "spec.csi.volumeAttributes", "passphraseKey", mk_str, "a/b" },
	  "passphraseKey" },
	{ "stage ref name ../x",
	  { "spec.csi", "nodeStageSecretRef", mk_json, "{\"name\":\"../x\",\"namespace\":\"a\"}" },
	  "nodeStageSecretRef" },
	{ "stage ref without namespace", { "spec.csi", "nodeStageSecretRef", mk_json, "{\"name\":\"x\"}" },
	  "nodeStageSecretRef" },
	{ "stage ref a string", { "spec.csi", "nodeStageSecretRef", mk_str, "ns/x" },
	  "nodeStageSecretRef" },
	{ "fsGroup 0", { "spec.csi.volumeAttributes", "fsGroup", mk_str, "0" }, "fsGroup" },
	{ "fs-mode 9999", { "spec.csi.volumeAttributes", "fs-mode", mk_str, "9999" }, "fs-mode" },
	{ "capacity with a sign", { "spec.csi.volumeAttributes", "capacity", mk_str, "-1" },
	  "capacity" },
	{ "capacity over 2^64",
	  { "spec.csi.volumeAttributes", "capacity", mk_str, "99999999999999999999" }, "capacity" },
	{ "capacity over 64 TiB",
	  { "spec.csi.volumeAttributes", "capacity", mk_str, "70368744177665" }, "64 TiB" },
	{ "capacity 0", { "spec.csi.volumeAttributes", "capacity", mk_str, "0" }, "capacity" },
	{ "attribute over 1 KiB", { "spec.csi.volumeAttributes", "zz", mk_str,
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
	  "volumeAttributes" },
	{ "spec a list", { "", "spec", mk_json, "[]" }, "spec.csi" },
	{ "affinity NotIn on our key",
	  { "spec", "nodeAffinity", mk_json,
	    "{\"required\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":"
	    "\"" PV_TOPOLOGY_KEY "\",\"operator\":\"NotIn\",\"values\":[\"node-9\"]}]}]}}" },
	  "not an In list" },
	{ "affinity value a number",
	  { "spec", "nodeAffinity", mk_json,
	    "{\"required\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":"
	    "\"" PV_TOPOLOGY_KEY "\",\"operator\":\"In\",\"values\":[7]}]}]}}" },
	  "node name" },
	{ "affinity required a string", { "spec", "nodeAffinity", mk_json, "{\"required\":\"x\"}" },
	  "nodeAffinity" },
};

static void
t_malformed(void **state)
{
	struct pv_stage pv;
	char why[256];
	(void)state;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct set_arg a = c->edit;
		if (a.path[0] == '\0') { /* the root itself */
			struct json_object *root = json_tokener_parse(PV_HARDENED);
			json_object_object_add(root, a.key, a.make(a.val));
			char *s = strdup(json_object_to_json_string(root));
			json_object_put(root);
			int rc = parse(s, HANDLE, &pv, why);
			free(s);
			assert_int_equal(rc, -1);
		} else if (parse_edit(PV_HARDENED, &a, HANDLE, &pv, why) != -1) {
			fail_msg("%s: accepted", c->name);
		}
		if (!strstr(why, c->needle))
			fail_msg("%s: reason \"%s\" lacks \"%s\"", c->name, why, c->needle);
	}
}

static void
t_not_json(void **state)
{
	struct pv_stage pv;
	char why[256], buf[sizeof(PV_HARDENED) + 8];
	(void)state;

	assert_int_equal(parse("", HANDLE, &pv, why), -1);
	assert_int_equal(parse("[]", HANDLE, &pv, why), -1);
	assert_int_equal(parse("{\"spec\":", HANDLE, &pv, why), -1);
	assert_int_equal(parse("{'spec':{}}", HANDLE, &pv, why), -1); /* strict JSON only */
	snprintf(buf, sizeof(buf), "%s{}", PV_HARDENED);		   /* two values */
	assert_int_equal(parse(buf, HANDLE, &pv, why), -1);
	/* nesting deeper than any API object: refused, not recursed into */
	char deep[400];
	size_t n = 0;
	n += (size_t)snprintf(deep, sizeof(deep), "{\"spec\":");
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	for (int i = 0; i < 100; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	assert_int_equal(parse(deep, HANDLE, &pv, why), -1);
	/* no capacity anywhere */
	struct set_arg a = { "spec.csi.volumeAttributes", "capacity", NULL, NULL };
	char *s = edited(PV_HARDENED, do_set, &a);
	struct set_arg b = { "spec", "capacity", NULL, NULL };
	char *s2 = edited(s, do_set, &b);
	assert_int_equal(parse(s2, HANDLE, &pv, why), -1);
	assert_non_null(strstr(why, "spec.capacity"));
	free(s);
	free(s2);
}

/* ---- quantities ------------------------------------------------------------------- */

static void
t_quantity(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} q[] = {
		{ "1Gi", 0, 1ull << 30 },     { "1073741824", 0, 1ull << 30 }, { "1536Mi", 0, 1536ull << 20 },
		{ "500M", 0, 500000000ull },   { "1k", 0, 1000 },		{ "1e3", 0, 1000 },
		{ "2E6", 0, 2000000 },	       { "15Ei", 0, 15ull << 60 },	{ "16Ei", -1, 0 },
		{ "18446744073709551615", 0, UINT64_MAX },		       { "18446744073709551616", -1, 0 },
		{ "1e19", 0, 10000000000000000000ull },			       { "2e19", -1, 0 },
		{ "1e100", -1, 0 },	       { "1.5Gi", -1, 0 },		{ "1500m", -1, 0 },
		{ "-1Gi", -1, 0 },	       { "+1Gi", -1, 0 },		{ "", -1, 0 },
		{ "Gi", -1, 0 },	       { "1Gi ", -1, 0 },		{ "1K", -1, 0 },
		{ "1gi", -1, 0 },	       { "1GiB", -1, 0 },		{ "0x10", -1, 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		uint64_t v = 7;
		int rc = k8s_quantity_bytes(q[i].s, &v);
		if (rc != q[i].rc || (rc == 0 && v != q[i].v))
			fail_msg("quantity \"%s\": rc %d v %llu", q[i].s, rc, (unsigned long long)v);
	}
	/* a spec.capacity of 1Ei is over the 64 TiB limit */
	struct pv_stage pv;
	char why[256];
	struct set_arg a = { "spec.csi.volumeAttributes", "capacity", NULL, NULL };
	char *s = edited(PV_HARDENED, do_set, &a);
	struct set_arg b = { "spec.capacity", "storage", mk_str, "1Ei" };
	char *s2 = edited(s, do_set, &b);
	assert_int_equal(parse(s2, HANDLE, &pv, why), -1);
	assert_non_null(strstr(why, "64 TiB"));
	free(s);
	free(s2);
}

/* ---- requests against PVs ---------------------------------------------------------- */

static void
luks_req_for_hardened(struct ipc_stage_req *r)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->volume_id, HANDLE);
	r->fs_kind = FS_EXT4;
	r->capacity = 5 * GIB; /* the frontend's word: ignored */
	r->has_fs_group = 1;
	r->fs_group = 2000;
	r->fs_mode = 02770;
	strcpy(r->secret_namespace, "secure-ns");
	strcpy(r->secret_name, "vol-a-keys");
	strcpy(r->secret_key, "key1");
}

static void
t_check_luks(void **state)
{
	struct pv_stage pv;
	struct ipc_stage_req r;
	char why[256];
	uint64_t cap = 0;
	(void)state;

	assert_int_equal(parse(PV_HARDENED, HANDLE, &pv, why), 0);
	luks_req_for_hardened(&r);
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), 0);
	assert_int_equal(cap, GIB); /* the PV's size, not the request's */
	r.fs_kind = FS_UNSET;	    /* no fsType named: the PV's holds */
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), 0);

	/* another volume's Secret */
	luks_req_for_hardened(&r);
	strcpy(r.secret_name, "vol-b-keys");
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "secure-ns/vol-a-keys"));
	luks_req_for_hardened(&r);
	strcpy(r.secret_namespace, "other-ns");
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	luks_req_for_hardened(&r);
	strcpy(r.secret_key, "key2");
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	/* a passphrase of the frontend's choosing for a hardened volume */
	luks_req_for_hardened(&r);
	r.secret_namespace[0] = r.secret_name[0] = r.secret_key[0] = '\0';
	r.passphrase_len = 3;
	memcpy(r.passphrase, "abc", 3);
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	/* other fs, group, mode */
	luks_req_for_hardened(&r);
	r.fs_kind = FS_XFS;
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "fsType"));
	luks_req_for_hardened(&r);
	r.fs_group = 0;
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	luks_req_for_hardened(&r);
	r.has_fs_group = 0;
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	luks_req_for_hardened(&r);
	r.fs_mode = 0777;
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);

	/* pinned to node-1: not on node-2 */
	luks_req_for_hardened(&r);
	assert_int_equal(pv.n_nodes, 1);
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-2", &cap, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "pinned to node node-1"));

	/* an S3 PV is not a LUKS volume */
	assert_int_equal(parse(PV_S3, "pvc-s3", &pv, why), 0);
	luks_req_for_hardened(&r);
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "S3"));
}

static void
t_check_node_stage(void **state)
{
	struct pv_stage pv;
	struct ipc_stage_req r;
	char why[256];
	uint64_t cap = 0;
	(void)state;

	assert_int_equal(parse(PV_STATIC, "vol-legacy-1", &pv, why), 0);
	memset(&r, 0, sizeof(r));
	strcpy(r.volume_id, "vol-legacy-1");
	r.fs_kind = FS_XFS; /* the PV names none: the request's holds */
	r.capacity = GIB;
	r.fs_mode = 0750;
	r.has_fs_group = 1; /* the pod's fsGroup: the PV names none */
	r.fs_group = 1234;
	r.passphrase_len = 4;
	memcpy(r.passphrase, "pass", 4);
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), 0);
	assert_int_equal(cap, 2 * GIB);
	/* naming a Secret where the PV has node-stage secrets only */
	strcpy(r.secret_namespace, "tenant-b");
	strcpy(r.secret_name, "legacy-pass");
	strcpy(r.secret_key, "passphrase");
	r.passphrase_len = 0;
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "node-stage-secret mode"));

	/* a PV without any passphrase source: nothing legitimate can stage it */
	struct set_arg a = { "spec.csi", "nodeStageSecretRef", NULL, NULL };
	char *s = edited(PV_STATIC, do_set, &a);
	assert_int_equal(parse(s, "vol-legacy-1", &pv, why), 0);
	free(s);
	r.secret_namespace[0] = r.secret_name[0] = r.secret_key[0] = '\0';
	r.passphrase_len = 4;
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "nodeStageSecretRef"));
	/* a PV whose size cannot hold a LUKS header */
	struct set_arg b = { "spec.capacity", "storage", mk_str, "1Mi" };
	s = edited(PV_STATIC, do_set, &b);
	assert_int_equal(parse(s, "vol-legacy-1", &pv, why), 0);
	free(s);
	assert_int_equal(pv_stage_check_luks(&pv, &r, "node-1", &cap, why, sizeof(why)), -1);
}

static void
s3_req(const struct pv_stage *pv, struct ipc_stage_s3_req *r)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->volume_id, "pvc-s3");
	r->capacity = 10 * GIB;
	r->passphrase_len = 4;
	memcpy(r->passphrase, "pass", 4);
	strcpy(r->passphrase_key, "passphrase");
	strcpy(r->s3_namespace, "tenant-s3");
	strcpy(r->s3_name, "s3-creds");
	strcpy(r->prefix, "team/a");
	s3_params_to_tuning(&pv->s3, &r->t);
}

static void
t_check_s3(void **state)
{
	struct pv_stage pv;
	struct ipc_stage_s3_req r;
	char why[256];
	(void)state;

	assert_int_equal(parse(PV_S3, "pvc-s3", &pv, why), 0);
	s3_req(&pv, &r);
	assert_int_equal(pv_stage_check_s3(&pv, &r, why, sizeof(why)), 0);
	r.capacity = 1; /* nominal: ignored */
	assert_int_equal(pv_stage_check_s3(&pv, &r, why, sizeof(why)), 0);
	s3_req(&pv, &r);
	strcpy(r.prefix, "team/b"); /* another tenant's data */
	assert_int_equal(pv_stage_check_s3(&pv, &r, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "s3-path-prefix"));
	s3_req(&pv, &r);
	strcpy(r.s3_name, "other-creds");
	assert_int_equal(pv_stage_check_s3(&pv, &r, why, sizeof(why)), -1);
	s3_req(&pv, &r);
	strcpy(r.s3_namespace, "tenant-x");
	assert_int_equal(pv_stage_check_s3(&pv, &r, why, sizeof(why)), -1);
	s3_req(&pv, &r);
	r.t.write_back_ns += 1;
	assert_int_equal(pv_stage_check_s3(&pv, &r, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "tuning"));
	s3_req(&pv, &r);
	strcpy(r.passphrase_key, "other");
	assert_int_equal(pv_stage_check_s3(&pv, &r, why, sizeof(why)), -1);
	s3_req(&pv, &r); /* hardened request against a node-stage PV */
	r.passphrase_len = 0;
	strcpy(r.secret_namespace, "tenant-s3");
	strcpy(r.secret_name, "crypt-pass");
	strcpy(r.secret_key, "passphrase");
	assert_int_equal(pv_stage_check_s3(&pv, &r, why, sizeof(why)), -1);

	/* a LUKS PV is not an S3 volume */
	struct pv_stage luks;
	assert_int_equal(parse(PV_HARDENED, HANDLE, &luks, why), 0);
	s3_req(&pv, &r);
	assert_int_equal(pv_stage_check_s3(&luks, &r, why, sizeof(why)), -1);

	/* bad S3 attributes in the PV */
	struct set_arg a = { "spec.csi.volumeAttributes", "rclone-vfs-write-back", mk_str,
			     "5 parsecs" };
	assert_int_equal(parse_edit(PV_S3, &a, "pvc-s3", &pv, why), -1);
	assert_non_null(strstr(why, "rclone-vfs-write-back"));
	struct set_arg b = { "spec.csi.volumeAttributes", "s3-secret-name", NULL, NULL };
	assert_int_equal(parse_edit(PV_S3, &b, "pvc-s3", &pv, why), -1);
	struct set_arg c = { "spec.csi.volumeAttributes", "s3-path-prefix", mk_str, "../up" };
	assert_int_equal(parse_edit(PV_S3, &c, "pvc-s3", &pv, why), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_hardened),	 cmocka_unit_test(t_static),
		cmocka_unit_test(t_s3),		 cmocka_unit_test(t_not_ours),
		cmocka_unit_test(t_malformed),	 cmocka_unit_test(t_not_json),
		cmocka_unit_test(t_quantity),	 cmocka_unit_test(t_check_luks),
		cmocka_unit_test(t_check_node_stage), cmocka_unit_test(t_check_s3),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
