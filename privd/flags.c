#define _GNU_SOURCE
#include "flags.h"
#include "privd.h"
#include "s3_params.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTROLLER_HINT "/var/lib/csi/sockets/pluginproxy/"

int
endpoint_socket_path(const char *endpoint, char *out, size_t outlen)
{
	const char *p;

	if (strncmp(endpoint, "unix://", 7) == 0)
		p = endpoint + 7;
	else if (strncmp(endpoint, "unix:", 5) == 0)
		p = endpoint + 5;
	else
		return -1;
	if (p[0] != '/' || strlen(p) >= outlen || strlen(p) > 107 /* sun_path */)
		return -1;
	size_t n = strlen(p);
	if (strstr(p, "/../") || strstr(p, "/./") || p[n - 1] == '/' ||
	    (n >= 3 && strcmp(p + n - 3, "/..") == 0) || (n >= 2 && strcmp(p + n - 2, "/.") == 0))
		return -1;
	strcpy(out, p);
	return 0;
}

static int
copy_str(char *dst, size_t cap, const char *v, const char *name, char *err, size_t errlen)
{
	if (strlen(v) >= cap) {
		snprintf(err, errlen, "--%s: value too long", name);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

static int
parse_id(const char *v, unsigned *out)
{
	char *end;
	unsigned long n;

	if (v[0] < '0' || v[0] > '9')
		return -1;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n == 0 || n > 2147483647UL)
		return -1;
	*out = (unsigned)n;
	return 0;
}

enum kind { K_STR, K_BOOL, K_ID, K_LEVEL, K_MODE, K_UINT, K_UINT0 };

struct flagdef {
	const char *name;
	enum kind kind;
	size_t off, cap;
};

#define S(n, m) { n, K_STR, offsetof(struct lcw_flags, m), sizeof(((struct lcw_flags *)0)->m) }

static const struct flagdef defs[] = {
	S("endpoint", endpoint),
	S("nodeid", nodeid),
	{ "version", K_BOOL, offsetof(struct lcw_flags, show_version), 0 },
	S("vfs-cache-size", vfs_cache_size),
	S("luks-secret-name", luks_secret_name),
	S("luks-secret-namespace", luks_secret_namespace),
	S("luks-secret-key", luks_secret_key),
	S("registration-health-endpoint", registration_health_endpoint),
	{ "frontend-uid", K_ID, offsetof(struct lcw_flags, frontend_uid), 0 },
	{ "frontend-gid", K_ID, offsetof(struct lcw_flags, frontend_gid), 0 },
	S("audit-log", audit_log),
	{ "log-level", K_LEVEL, offsetof(struct lcw_flags, log_level), 0 },
	{ "mode", K_MODE, offsetof(struct lcw_flags, mode), 0 },
	S("frontend-path", frontend_path),
	S("kubelet-root", kubelet_root),
	{ "kdf-memory-kib", K_UINT, offsetof(struct lcw_flags, kdf_memory_kib), 0 },
	{ "kdf-iterations", K_UINT, offsetof(struct lcw_flags, kdf_iterations), 0 },
	{ "kdf-budget-mib", K_UINT, offsetof(struct lcw_flags, kdf_budget_mib), 0 },
	S("kube-api", kube_api),
	S("kube-token-file", kube_token_file),
	S("kube-ca-file", kube_ca_file),
	{ "reclaim-interval-seconds", K_UINT0, offsetof(struct lcw_flags, reclaim_interval_s), 0 },
	{ "reclaim-grace-seconds", K_UINT, offsetof(struct lcw_flags, reclaim_grace_s), 0 },
	S("capacity-namespace", capacity_namespace),
	S("vfs-cache-root", vfs_cache_root),
	S("vfs-cache-mount", vfs_cache_mount),
	S("rclone-path", rclone_path),
	{ "max-local-volumes", K_UINT, offsetof(struct lcw_flags, max_local_volumes), 0 },
	S("max-local-bytes", max_local_size),
	S("local-reserve", local_reserve),
	{ "max-s3-mounts", K_UINT, offsetof(struct lcw_flags, max_s3_mounts), 0 },
	{ "legacy-volumes", K_BOOL, offsetof(struct lcw_flags, legacy_volumes), 0 },
	{ "delete-unrepairable-pods", K_BOOL, offsetof(struct lcw_flags, delete_unrepairable_pods), 0 },
};

static void
defaults(struct lcw_flags *f)
{
	memset(f, 0, sizeof(*f));
	strcpy(f->endpoint, "unix:///tmp/csi.sock");
	strcpy(f->vfs_cache_size, "20G");
	strcpy(f->luks_secret_name, "luks-secret");
	strcpy(f->luks_secret_namespace, "kube-system");
	strcpy(f->luks_secret_key, "passphrase");
	strcpy(f->registration_health_endpoint, "127.0.0.1:9810");
	f->frontend_uid = 65534;
	f->frontend_gid = 65534;
	f->log_level = LOG_INFO;
	strcpy(f->kubelet_root, "/var/lib/kubelet");
	f->kdf_memory_kib = 65536;
	f->kdf_iterations = 4;
	f->kdf_budget_mib = 1024;
	f->reclaim_interval_s = 300;
	f->reclaim_grace_s = 600;
	strcpy(f->vfs_cache_root, "/var/lib/lukscrypt-vfs-cache");
	strcpy(f->vfs_cache_mount, "/run/lukscryptwalker/vfs-cache");
	strcpy(f->rclone_path, "/usr/bin/rclone");
	f->max_local_volumes = 256;
	strcpy(f->max_local_size, "0");
	/* kubelet's default hard eviction is nodefs.available < 10%: privd
	 * never takes the node there by itself */
	strcpy(f->local_reserve, "10%");
	f->max_s3_mounts = 64;
	f->legacy_volumes = 1; /* Go-driver volumes keep opening */
}

/* --max-local-bytes, --local-reserve, --max-s3-mounts. */
static int
parse_limits(struct lcw_flags *f, char *err, size_t errlen)
{
	int64_t b;
	char why[128];
	size_t n = strlen(f->local_reserve);

	if (lcw_size_parse(f->max_local_size, false, &b, why, sizeof(why))) {
		snprintf(err, errlen, "--max-local-bytes \"%.32s\": %s", f->max_local_size, why);
		return -1;
	}
	f->max_local_bytes = (uint64_t)b;
	if (n > 1 && f->local_reserve[n - 1] == '%') {
		char num[16];
		unsigned pct = 0;
		snprintf(num, sizeof(num), "%.*s", (int)(n - 1), f->local_reserve);
		if (n - 1 >= sizeof(num) || (strcmp(num, "0") && (parse_id(num, &pct) || pct > 90))) {
			snprintf(err, errlen, "--local-reserve: want 0%%..90%% or a size");
			return -1;
		}
		f->local_reserve_pct = strcmp(num, "0") ? pct : 0;
		f->local_reserve_bytes = 0;
	} else {
		if (lcw_size_parse(f->local_reserve, false, &b, why, sizeof(why))) {
			snprintf(err, errlen, "--local-reserve \"%.32s\": %s", f->local_reserve, why);
			return -1;
		}
		f->local_reserve_bytes = (uint64_t)b;
		f->local_reserve_pct = 0;
	}
	/* s3_internal.h (MAX_S3_VOLUMES) has a fixed table of 512 volumes */
	if (f->max_s3_mounts > 512) {
		snprintf(err, errlen, "--max-s3-mounts must be 1..512");
		return -1;
	}
	return 0;
}

static int
abs_dir(const char *p)
{
	size_t n = strlen(p);
	return p[0] == '/' && n >= 2 && p[n - 1] != '/' && strstr(p, "/.") == NULL;
}

int
flags_parse(int argc, char **argv, struct lcw_flags *f, char *err, size_t errlen)
{
	int explicit_mode = 0;

	defaults(f);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char name[64];
		size_t nlen;
		const struct flagdef *d = NULL;

		if (a[0] != '-') {
			snprintf(err, errlen, "unexpected argument: %s", a);
			return -1;
		}
		a += (a[1] == '-') ? 2 : 1;
		const char *eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a) : strlen(a);
		if (nlen == 0 || nlen >= sizeof(name)) {
			snprintf(err, errlen, "bad flag: %s", argv[i]);
			return -1;
		}
		memcpy(name, a, nlen);
		name[nlen] = '\0';
		for (size_t k = 0; k < sizeof(defs) / sizeof(defs[0]); k++)
			if (strcmp(defs[k].name, name) == 0)
				d = &defs[k];
		if (d == NULL) {
			snprintf(err, errlen, "unknown flag: --%s", name);
			return -1;
		}
		if (eq)
			val = eq + 1;
		else if (d->kind == K_BOOL)
			val = "true";
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			snprintf(err, errlen, "--%s needs a value", name);
			return -1;
		}
		char *base = (char *)f + d->off;
		switch (d->kind) {
		case K_STR:
			if (copy_str(base, d->cap, val, name, err, errlen))
				return -1;
			break;
		case K_BOOL:
			/* Go's strconv.ParseBool spellings */
			if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "t") ||
			    !strcmp(val, "T") || !strcmp(val, "TRUE") || !strcmp(val, "True"))
				*(int *)base = 1;
			else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "f") ||
				 !strcmp(val, "F") || !strcmp(val, "FALSE") || !strcmp(val, "False"))
				*(int *)base = 0;
			else {
				snprintf(err, errlen, "--%s: want true or false", name);
				return -1;
			}
			break;
		case K_ID: {
			unsigned id;
			if (parse_id(val, &id)) {
				snprintf(err, errlen, "--%s: want a non-zero numeric id", name);
				return -1;
			}
			*(unsigned *)base = id;
			break;
		}
		case K_LEVEL: {
			int lvl = log_level_parse(val);
			if (lvl < 0) {
				snprintf(err, errlen, "--log-level: want error, warn, info or debug");
				return -1;
			}
			*(int *)base = lvl;
			break;
		}
		case K_UINT: {
			unsigned n;
			if (parse_id(val, &n)) {
				snprintf(err, errlen, "--%s: want a positive number", name);
				return -1;
			}
			*(unsigned *)base = n;
			break;
		}
		case K_UINT0: {
			unsigned n = 0;
			if (strcmp(val, "0") && parse_id(val, &n)) {
				snprintf(err, errlen, "--%s: want a number", name);
				return -1;
			}
			*(unsigned *)base = n;
			break;
		}
		case K_MODE:
			if (strcmp(val, "node") == 0)
				f->mode = MODE_NODE;
			else if (strcmp(val, "controller") == 0)
				f->mode = MODE_CONTROLLER;
			else if (strcmp(val, "auto") == 0)
				f->mode = 0;
			else {
				snprintf(err, errlen, "--mode: want node, controller or auto");
				return -1;
			}
			explicit_mode = f->mode != 0;
			break;
		}
	}
	if (f->show_version)
		return 0;
	if (f->nodeid[0] == '\0') {
		snprintf(err, errlen, "--nodeid is required");
		return -1;
	}
	if (endpoint_socket_path(f->endpoint, f->socket_path, sizeof(f->socket_path))) {
		snprintf(err, errlen, "--endpoint: want unix:///absolute/path (at most 107 bytes)");
		return -1;
	}
	if (f->kubelet_root[0] != '/' || strlen(f->kubelet_root) < 2 ||
	    f->kubelet_root[strlen(f->kubelet_root) - 1] == '/' || strstr(f->kubelet_root, "/.")) {
		snprintf(err, errlen, "--kubelet-root: want an absolute directory");
		return -1;
	}
	/* argon2id in libcryptsetup: 32 KiB .. 4 GiB of memory, at least 4
	 * iterations. */
	if (f->kdf_memory_kib < 32 || f->kdf_memory_kib > 4194304 || f->kdf_iterations < 4 ||
	    f->kdf_iterations > 1000) {
		snprintf(err, errlen, "--kdf-memory-kib must be 32..4194304, --kdf-iterations 4..1000");
		return -1;
	}
	if (!abs_dir(f->vfs_cache_root) || !abs_dir(f->vfs_cache_mount) || !abs_dir(f->rclone_path)) {
		snprintf(err, errlen, "--vfs-cache-root, --vfs-cache-mount and --rclone-path want "
				      "absolute paths");
		return -1;
	}
	{
		int64_t b;
		char why[128];
		if (lcw_size_parse(f->vfs_cache_size, false, &b, why, sizeof(why)) ||
		    b < (int64_t)(64ULL << 20) || b > (int64_t)(64ULL << 40)) {
			snprintf(err, errlen, "--vfs-cache-size \"%.32s\": want 64M..64T, e.g. 20G",
				 f->vfs_cache_size);
			return -1;
		}
		f->vfs_cache_bytes = (uint64_t)b;
	}
	if (parse_limits(f, err, errlen))
		return -1;
	if (f->reclaim_grace_s < 5) {
		snprintf(err, errlen, "--reclaim-grace-seconds must be at least 5");
		return -1;
	}
	/* The original driver picks its role from the endpoint path. */
	if (!explicit_mode)
		f->mode = strstr(f->endpoint, CONTROLLER_HINT) ? MODE_CONTROLLER : MODE_NODE;
	return 0;
}

/* The handlers' configuration from the flags. lp: CSI_LOCAL_PATH (the Go
 * driver's variable), or NULL. */
void
flags_to_config(const struct lcw_flags *f, const char *lp, struct privd_config *c)
{
	char rp[PATH_MAX];

	snprintf(c->luks.local_root, sizeof(c->luks.local_root), "%s",
		 lp && lp[0] == '/' ? lp : "/opt/local-path-provisioner");
	/* Compare kubelet paths against the real directory (some
	 * distributions make the kubelet root a symlink). */
	snprintf(c->kubelet_root, sizeof(c->kubelet_root), "%s",
		 realpath(f->kubelet_root, rp) ? rp : f->kubelet_root);
	c->luks.kdf = (struct luks_pbkdf){ f->kdf_memory_kib, f->kdf_iterations, 1 };
	snprintf(c->nodeid, sizeof(c->nodeid), "%s", f->nodeid);
	snprintf(c->s3.vfs_cache_root, sizeof(c->s3.vfs_cache_root), "%s",
		 f->vfs_cache_root);
	snprintf(c->s3.vfs_cache_mount, sizeof(c->s3.vfs_cache_mount), "%s",
		 f->vfs_cache_mount);
	c->s3.vfs_cache_bytes = f->vfs_cache_bytes;
	c->luks.limits = (struct local_limits){ f->max_local_volumes, f->max_local_bytes,
						  f->local_reserve_bytes,
						  f->local_reserve_pct };
	c->s3.max_s3_mounts = f->max_s3_mounts;
	c->luks.legacy_volumes = f->legacy_volumes;
	c->s3.delete_unrepairable_pods = f->delete_unrepairable_pods;
	snprintf(c->s3.cache_secret_namespace, sizeof(c->s3.cache_secret_namespace), "%s",
		 f->luks_secret_namespace);
	snprintf(c->s3.cache_secret_name, sizeof(c->s3.cache_secret_name), "%s",
		 f->luks_secret_name);
	snprintf(c->s3.cache_secret_key, sizeof(c->s3.cache_secret_key), "%s",
		 f->luks_secret_key);
}
