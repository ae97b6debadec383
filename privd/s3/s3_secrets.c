/* An S3 volume's secrets and its rclone config: the S3 credentials and
 * the crypt passphrase read from the request or the API into locked
 * memory, the bucket probed, and the config text written into a sealed
 * memfd, the only place rclone reads it from. No secret reaches a file,
 * argv, environment or log. */
#define _GNU_SOURCE
#include "s3_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "audit.h"
#include "k8s_client.h"
#include "rclone_conf.h"
#include "s3_params.h"
#include "s3_purge.h"
#include "secmem.h"

#define LCW_DRIVER "lukscryptwalker.csi.k8s.io"

static uint32_t
k8s_class(int rc)
{
	switch (rc) {
	case K8S_ERR_NOT_FOUND: return IPC_EC_NOT_FOUND;
	case K8S_ERR_KEY_MISSING: return IPC_EC_INVALID;
	case K8S_ERR_FORBIDDEN:
	case K8S_ERR_UNAUTHORIZED: return IPC_EC_PERMISSION;
	case K8S_ERR_INVALID_ARG:
	case K8S_ERR_VALUE_TOO_LARGE: return IPC_EC_INVALID;
	default: return IPC_EC_UNAVAILABLE;
	}
}

static int
need_api(const struct privd_ctx *ctx, const char *what, struct ipc_msg *ans)
{
	if (ctx->k8s)
		return 0;
	privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
			   "%s, but this node has no Kubernetes API access configured", what);
	return -1;
}

struct s3_fill {
	struct s3_secret *sec;
	char *err;
	size_t errlen;
};

static int
s3_fill_key(void *ud, const char *key, const void *val, size_t len)
{
	struct s3_fill *f = ud;
	/* Keys that are not S3 keys (1) are ignored, as the original did. */
	return s3_secret_set(f->sec, key, val, len, f->err, f->errlen) < 0;
}

/* The S3 credentials Secret named by s3-secret-namespace/-name, in one
 * request: every key decoded from locked memory straight into *sec. */
static int
fetch_s3_secret(const struct privd_ctx *ctx, const char *ns, const char *name, struct s3_secret *sec, struct ipc_msg *ans)
{
	char err[512] = "";
	struct s3_fill f = { sec, err, sizeof(err) };

	if (need_api(ctx, "S3 volumes read their S3 Secret from the API", ans))
		return -1;
	int r = k8s_get_secret_values(ctx->k8s, ns, name, s3_fill_key, &f, err, sizeof(err));
	if (r != K8S_OK) {
		privd_answer_error(ans, r == K8S_ERR_SHAPE ? IPC_EC_INVALID : k8s_class(r), 0,
				   "S3 Secret %s/%s: %s", ns, name, err);
		return -1;
	}
	if (s3_secret_check(sec, err, sizeof(err))) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "S3 Secret %s/%s: %s", ns, name, err);
		return -1;
	}
	return 0;
}

/* The crypt passphrase, whole (rclone crypt does not cut at a newline):
 * from the request, from the hardened-mode Secret, or, after a restart in
 * node-stage-secret mode, from the Secret the PV's nodeStageSecretRef
 * names (the provisioner copies the StorageClass's reference there). */
static int
fetch_passphrase(const struct privd_ctx *ctx, const struct ipc_stage_s3_req *r, const uint8_t *given, size_t glen,
		 struct lcw_secret *pass, struct ipc_msg *ans)
{
	char err[512], ns[IPC_K8S_NS_MAX + 1], name[IPC_K8S_NAME_MAX + 1];
	const char *key;
	int rc;

	if (glen) {
		if (secret_set(pass, given, glen)) {
			privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the key");
			return -1;
		}
		return 0;
	}
	if (need_api(ctx, "the passphrase of this S3 volume must be read from the API", ans))
		return -1;
	if (r->secret_name[0]) {
		snprintf(ns, sizeof(ns), "%s", r->secret_namespace);
		snprintf(name, sizeof(name), "%s", r->secret_name);
		key = r->secret_key;
	} else {
		int found = 0;
		rc = k8s_pv_stage_secret_ref(ctx->k8s, LCW_DRIVER, r->volume_id, ns, sizeof(ns), name,
					     sizeof(name), &found, err, sizeof(err));
		if (rc != K8S_OK) {
			privd_answer_error(ans, k8s_class(rc), 0,
					   "cannot find the PV of volume %s: %s", r->volume_id, err);
			return -1;
		}
		if (!found || !name[0]) {
			privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
					   "volume %s: no PV with a nodeStageSecretRef, so its passphrase "
					   "cannot be found again", r->volume_id);
			return -1;
		}
		key = r->passphrase_key[0] ? r->passphrase_key : "passphrase";
	}
	rc = k8s_get_secret_value(ctx->k8s, ns, name, key, pass, err, sizeof(err));
	if (rc != K8S_OK) {
		privd_answer_error(ans, k8s_class(rc), 0, "passphrase Secret %s/%s: %s", ns, name, err);
		return -1;
	}
	if (pass->len == 0) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "passphrase Secret %s/%s key %s is empty", ns,
				   name, key);
		return -1;
	}
	return 0;
}

/* S3 errors found by the probe, as the classes kubelet sees. */
static uint32_t
s3_class(int rc)
{
	switch (rc) {
	case S3_ERR_AUTH: return IPC_EC_PERMISSION;
	case S3_ERR_NO_SUCH_BUCKET: return IPC_EC_PRECONDITION;
	case S3_ERR_WRONG_REGION:
	case S3_ERR_INVALID_ARG: return IPC_EC_INVALID;
	default: return IPC_EC_UNAVAILABLE;
	}
}

/* Build the sealed config memfd of one volume: secrets, probe, config. */
int
s3v_make_config(const struct privd_ctx *ctx, const struct ipc_stage_s3_req *r, const char *vfs, const uint8_t *given, size_t glen,
	    int probe, int *conf_fd, struct ipc_msg *ans)
{
	struct lcw_secret pass = { 0 };
	struct s3_secret sec;
	struct s3_vol_params p;
	struct lcw_lockbuf b = { 0 };
	char err[512];
	int rc = -1, fd = -1;

	*conf_fd = -1;
	if (s3_secret_init(&sec) || secret_alloc(&pass)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the keys");
		goto out;
	}
	if (s3_params_from_tuning(&r->t, &p)) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "invalid rclone tuning");
		goto out;
	}
	/* The tuning does not carry the prefix: it salts password2 and
	 * places the crypt root, so it must be the request's. */
	snprintf(p.prefix, sizeof(p.prefix), "%s", r->prefix);
	if (fetch_passphrase(ctx, r, given, glen, &pass, ans) ||
	    fetch_s3_secret(ctx, r->s3_namespace, r->s3_name, &sec, ans))
		goto out;
	if (probe) {
		uint64_t t0 = audit_now_ns();
		struct s3_purge_opts po = { .connect_timeout_ms = 5000, .timeout_ms = 20000,
					    .total_timeout_ms = 30000 };
		int pr = s3_probe_volume(&sec, r->prefix, r->volume_id, &po, err, sizeof(err));
		s3_audit(r->volume_id, "s3_probe", NULL, NULL, pr == S3_OK ? 0 : -EIO, t0,
			 pr == S3_OK ? sec.bucket : err);
		if (pr != S3_OK) {
			privd_answer_error(ans, s3_class(pr), 0, "S3 (Secret %s/%s): %s", r->s3_namespace,
					   r->s3_name, err);
			goto out;
		}
	}
	if (lockbuf_alloc(&b, RCLONE_CONF_BUF_SIZE) ||
	    rclone_conf_build(vfs, r->volume_id, &p, &sec, &pass, &b, err, sizeof(err))) {
		privd_answer_error(ans, IPC_EC_INTERNAL, 0, "rclone config: %s",
				   b.p ? err : "cannot lock memory");
		goto out;
	}
	/* A sealed memfd: rclone reopens it as /proc/self/fd/3; nobody can
	 * change it afterwards, and it never touches a disk. */
	fd = memfd_create("lcw-rclone-conf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || write(fd, b.p, b.len) != (ssize_t)b.len ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "rclone config memfd: %s",
				   strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
		goto out;
	}
	*conf_fd = fd;
	rc = 0;
out:
	lockbuf_free(&b);
	s3_secret_free(&sec);
	secret_free(&pass);
	return rc;
}
