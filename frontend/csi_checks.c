#define _GNU_SOURCE
#include "csi_checks.h"
#include "s3_params.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "volparams.h"

const char *
kv_get(struct kv_entry *const *e, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (e[i]->key && strcmp(e[i]->key, key) == 0)
			return e[i]->value ? e[i]->value : "";
	return NULL;
}

int
check_volume_id(const char *id, char *why, size_t whylen)
{
	if (id[0] == '\0') {
		snprintf(why, whylen, "volume_id is required");
		return -1;
	}
	if (volid_valid(id)) {
		snprintf(why, whylen, "volume_id is not a volume id of this driver: ids are 1-%d "
			 "characters of [A-Za-z0-9.-] (no '_'), not starting with '.' or '-'", VOLID_MAX);
		return -1;
	}
	return 0;
}

int
check_path(const char *what, const char *path, char *why, size_t whylen)
{
	size_t n = strlen(path);

	if (n == 0) {
		snprintf(why, whylen, "%s is required", what);
		return -1;
	}
	if (path[0] != '/' || n > KPATH_MAX) {
		snprintf(why, whylen, "%s must be an absolute path of at most %d bytes", what, KPATH_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f) {
			snprintf(why, whylen, "%s contains control characters", what);
			return -1;
		}
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(why, whylen, "%s must not contain \".\" or \"..\" components", what);
			return -1;
		}
		p = e;
	}
	return 0;
}

static int
mode_supported(Csi__V1__VolumeCapability__AccessMode__Mode m, int *readonly)
{
	switch (m) {
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER:
		*readonly = 0;
		return 1;
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY:
		*readonly = 1;
		return 1;
	default:
		return 0;
	}
}

int
check_capability(const Csi__V1__VolumeCapability *cap, struct cap_req *out, char *why,
		 size_t whylen)
{
	char opts[1024] = "";
	size_t used = 0;

	memset(out, 0, sizeof(*out));
	if (cap == NULL) {
		snprintf(why, whylen, "volume_capability is required");
		return -1;
	}
	if (cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK) {
		snprintf(why, whylen, "raw block volumes are not supported; use a mount volume");
		return CAP_UNSUPPORTED;
	}
	if (cap->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT ||
	    cap->mount == NULL) {
		snprintf(why, whylen, "volume_capability needs a mount access type");
		return -1;
	}
	if (cap->access_mode == NULL ||
	    cap->access_mode->mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__UNKNOWN) {
		snprintf(why, whylen, "volume_capability needs an access mode");
		return CAP_MALFORMED;
	}
	if (!mode_supported(cap->access_mode->mode, &out->readonly)) {
		snprintf(why, whylen,
			 "unsupported access mode: local encrypted volumes are single-node "
			 "(ReadWriteOnce or ReadOnly on one node)");
		return CAP_UNSUPPORTED;
	}
	out->fs_kind = fs_kind_parse(cap->mount->fs_type ? cap->mount->fs_type : "");
	if (out->fs_kind < 0) {
		snprintf(why, whylen, "unsupported fsType \"%.32s\": use ext4, ext3 or xfs",
			 cap->mount->fs_type);
		return CAP_UNSUPPORTED;
	}
	for (size_t i = 0; i < cap->mount->n_mount_flags; i++) {
		const char *f = cap->mount->mount_flags[i];
		size_t n = strlen(f);
		if (used + n + 2 > sizeof(opts)) {
			snprintf(why, whylen, "too many mount flags");
			return -1;
		}
		if (used)
			opts[used++] = ',';
		memcpy(opts + used, f, n + 1);
		used += n;
	}
	if (mount_opts_check(opts, out->mount_opts, sizeof(out->mount_opts), why, whylen))
		return -1;
	const char *g = cap->mount->volume_mount_group ? cap->mount->volume_mount_group : "";
	if (g[0]) {
		uint32_t gid;
		if (fs_group_parse(g, &gid)) {
			snprintf(why, whylen, "volume_mount_group must be a numeric group id");
			return -1;
		}
		snprintf(out->mount_group, sizeof(out->mount_group), "%u", gid);
	}
	return 0;
}

int
check_capabilities(Csi__V1__VolumeCapability **caps, size_t n, int *fs_kind, char *why,
		   size_t whylen)
{
	struct cap_req r;

	if (n == 0) {
		snprintf(why, whylen, "volume_capabilities are required");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (check_capability(caps[i], &r, why, whylen))
			return -1;
		if (i == 0)
			*fs_kind = r.fs_kind;
	}
	return 0;
}

/* Kubernetes name rules for what the volume context names: Secret data
 * keys [-._a-zA-Z0-9]{1,253}; object names as DNS subdomains and
 * namespaces as DNS labels (lower-case alphanumerics and '-', '.' only in
 * subdomains, alphanumeric at both ends). */
static int
secret_key_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-._", s[i]))
			return 0;
	return 1;
}

static int
dns_name_ok(const char *s, size_t max, int dots)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(islower(c) || isdigit(c) || c == '-' || (dots && c == '.')))
			return 0;
	}
	return 1;
}

int
parse_volume_context(struct kv_entry *const *e, size_t n, struct luks_ctx *out, char *why,
		     size_t whylen)
{
	const char *v;

	memset(out, 0, sizeof(*out));
	v = kv_get(e, n, "storage-backend");
	out->is_s3 = v && strcmp(v, "s3") == 0; /* contract item 4 */
	v = kv_get(e, n, "passphraseKey");
	if (v == NULL || v[0] == '\0')
		v = "passphrase";
	if (strlen(v) >= sizeof(out->passphrase_key) || !secret_key_ok(v)) {
		snprintf(why, whylen, "passphraseKey must be a Secret key: 1-253 characters of "
			 "[-._a-zA-Z0-9]");
		return -1;
	}
	strcpy(out->passphrase_key, v);
	v = kv_get(e, n, "passphrase-secret-name");
	if (v && v[0]) {
		const char *ns = kv_get(e, n, "passphrase-secret-namespace");
		if (strlen(v) >= sizeof(out->secret_name) || ns == NULL || ns[0] == '\0' ||
		    strlen(ns) >= sizeof(out->secret_namespace) || !dns_name_ok(v, 253, 1) ||
		    !dns_name_ok(ns, 63, 0)) {
			snprintf(why, whylen, "passphrase-secret-name needs passphrase-secret-namespace, "
				 "and both must be valid Kubernetes names");
			return -1;
		}
		strcpy(out->secret_name, v);
		strcpy(out->secret_namespace, ns);
	}
	v = kv_get(e, n, "fsGroup");
	if (v && v[0]) {
		if (fs_group_parse(v, &out->fs_group)) {
			snprintf(why, whylen, "StorageClass parameter fsGroup must be a group id "
				 "between 1 and 2147483647, not \"%.32s\"", v);
			return -1;
		}
		out->has_fs_group = 1;
	}
	out->fs_mode = 0750;
	v = kv_get(e, n, "fs-mode");
	if (v && v[0] && (out->fs_mode = fs_mode_parse(v)) < 0) {
		snprintf(why, whylen, "StorageClass parameter fs-mode must be 3 or 4 octal "
			 "digits such as 0750 or 2770, not \"%.32s\"", v);
		return -1;
	}
	out->capacity = DEFAULT_CAPACITY;
	v = kv_get(e, n, "capacity");
	if (v && v[0] && (u64_parse(v, &out->capacity) || out->capacity == 0 ||
			  out->capacity > MAX_CAPACITY)) {
		snprintf(why, whylen, "volume context capacity \"%.32s\" is not a byte count", v);
		return -1;
	}
	return 0;
}

int
resolve_fs_group(const struct luks_ctx *ctx, const struct cap_req *cap, int *has, uint32_t *gid,
		 char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	*has = 0;
	if (ctx->has_fs_group) {
		*has = 1;
		*gid = ctx->fs_group;
	} else if (cap->mount_group[0]) {
		*has = 1;
		return fs_group_parse(cap->mount_group, gid);
	}
	return 0;
}

int
parse_s3_params(struct kv_entry *const *e, size_t n, struct s3_vol_params *p,
		const char **unknown, char *why, size_t whylen)
{
	s3_params_init(p);
	if (unknown)
		*unknown = NULL;
	for (size_t i = 0; i < n; i++) {
		int rc = s3_params_apply(p, e[i]->key, e[i]->value, why, whylen);
		if (rc < 0)
			return -1;
		if (rc == 2 && unknown && *unknown == NULL)
			*unknown = e[i]->key;
	}
	if (!p->secret_name[0] || !p->secret_namespace[0]) {
		snprintf(why, whylen, "S3 volumes need s3-secret-name and s3-secret-namespace");
		return -1;
	}
	return 0;
}
