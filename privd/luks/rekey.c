/* Passphrase rotation of local volumes: what privd wraps around the
 * keyslot swap (luks_rekey.c). Used by NodeStage (a volume that opens only
 * with the previous passphrase is moved to the current one before it is
 * mounted) and by the online EncryptionKeyRotate (rotate.c).
 *
 * Test pause: with LCW_TEST_REKEY_PAUSE=<step> (1 added, 2 verified,
 * 3 token, 4 old keyslot destroyed) in privd's environment, privd writes
 * the audit record "rekey_test_pause" after that step and then sleeps until
 * it is killed, so the crash-safety tests can SIGKILL it at each step. Unset
 * (the default, and what the chart sets) nothing pauses. Only root, who
 * starts privd, sets its environment. */
#define _GNU_SOURCE
#include "rekey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "k8s_client.h"
#include "kdf_budget.h"
#include "log.h"
#include "luks.h"
#include "luks_config.h"
#include "luks_rekey.h"

int
rekey_previous_key(const char *key, char *out, size_t outlen)
{
	size_t n = key ? strlen(key) : 0;

	if (n == 0 || n + sizeof(REKEY_PREVIOUS_SUFFIX) - 1 > IPC_K8S_NAME_MAX ||
	    n + sizeof(REKEY_PREVIOUS_SUFFIX) > outlen)
		return -1;
	memcpy(out, key, n);
	memcpy(out + n, REKEY_PREVIOUS_SUFFIX, sizeof(REKEY_PREVIOUS_SUFFIX));
	return 0;
}

struct pause_ud {
	const struct vol *v;
	int at;
};

static void
rekey_pause(enum luks_rekey_step step, void *ud)
{
	struct pause_ud *p = ud;
	char d[48];

	if (p->at != (int)step)
		return;
	snprintf(d, sizeof(d), "paused after step %d", (int)step);
	audit_step(p->v, "rekey_test_pause", p->v->file, NULL, 0, audit_now_ns(), d);
	for (;;) {
		struct timespec ts = { 3600, 0 };
		nanosleep(&ts, NULL);
	}
}

int
vol_rekey(const struct privd_ctx *ctx, const struct vol *v, const char *loop,
	  const struct lcw_secret *prev, const struct lcw_secret *cur, const char *op,
	  int *rotated, struct ipc_msg *ans)
{
	struct luks_rekey_res res;
	struct pause_ud pu = { v, 0 };
	const char *env = getenv("LCW_TEST_REKEY_PAUSE");
	char err[384], d[160];
	uint32_t kib = ctx->luks->kdf.memory_kib;
	uint64_t t0, resv;
	int rc;

	*rotated = 0;
	if (env && env[0] >= '1' && env[0] <= '4' && env[1] == 0)
		pu.at = env[0] - '0';
	/* Each verification runs a keyslot's KDF: reserve the larger of the
	 * existing slots' cost and the new slot's. */
	if (luks_unlock_memory_kib(loop, &kib) == 0 && kib < ctx->luks->kdf.memory_kib)
		kib = ctx->luks->kdf.memory_kib;
	resv = kdf_budget_reserve(kib);
	t0 = audit_now_ns();
	rc = luks_rekey(loop, prev, cur, &ctx->luks->kdf, time(NULL), pu.at ? rekey_pause : NULL,
			&pu, &res, err, sizeof(err));
	kdf_budget_release(resv);
	if (rc == 0 && !res.changed)
		return 0; /* already on the current passphrase: nothing to record */
	if (rc == 0)
		snprintf(d, sizeof(d), "passphrase rotated: keyslot %d added, %d old keyslot(s) "
			 "destroyed", res.new_slot, res.destroyed);
	audit_step(v, op, v->file, loop, rc, t0, rc ? err : d);
	if (rc == -EPERM) {
		privd_answer_error(ans, IPC_EC_PERMISSION, EPERM,
				   "neither the passphrase nor the previous one opens %s; the volume "
				   "was not changed", v->file);
		return -1;
	}
	if (rc) {
		privd_answer_error(ans, rc == -EINVAL ? IPC_EC_INVALID : IPC_EC_INTERNAL, -rc,
				   "passphrase rotation of %s: %s", v->file, err);
		return -1;
	}
	log_info("volume %s: passphrase rotated (keyslot %d)", v->id, res.new_slot);
	*rotated = 1;
	return 0;
}

struct pair_ud {
	const char *key, *pkey;
	struct lcw_secret *cur, *prev;
	int seen, cut;
};

static int
pair_cb(void *ud, const char *key, const void *val, size_t len)
{
	struct pair_ud *p = ud;
	struct lcw_secret *dst = strcmp(key, p->key) == 0				? p->cur
				 : p->pkey[0] && strcmp(key, p->pkey) == 0 ? p->prev
									   : NULL;

	if (dst == NULL)
		return 0;
	if (secret_set(dst, val, p->cut ? luks_passphrase_len(val, len) : len))
		return -1;
	if (dst == p->cur)
		p->seen = 1;
	return 0;
}

int
rekey_read_pair(struct k8s_client *k, const char *ns, const char *name, const char *key, int cut,
		struct lcw_secret *cur, struct lcw_secret *prev, char *err, size_t errlen)
{
	char pkey[IPC_K8S_NAME_MAX + 1] = "";
	struct pair_ud p = { key, pkey, cur, prev, 0, cut };
	int rc;

	if (rekey_previous_key(key, pkey, sizeof(pkey)))
		pkey[0] = 0; /* no valid previous key for so long a key */
	cur->len = prev->len = 0;
	rc = k8s_get_secret_values(k, ns, name, pair_cb, &p, err, errlen);
	if (rc == K8S_OK && !p.seen) {
		rc = K8S_ERR_KEY_MISSING;
		snprintf(err, errlen, "no key %s", key);
	}
	if (rc != K8S_OK) {
		explicit_bzero(cur->bytes, LCW_SECRET_MAX);
		explicit_bzero(prev->bytes, LCW_SECRET_MAX);
		cur->len = prev->len = 0;
	}
	return rc;
}

int
rekey_fetch_pair(const struct privd_ctx *ctx, const struct vol *v, const char *ns,
		 const char *name, const char *key, struct lcw_secret *cur,
		 struct lcw_secret *prev, struct ipc_msg *ans)
{
	char err[512], d[600];
	uint64_t t0 = audit_now_ns();
	int rc;

	if (ctx->k8s == NULL) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   "the StorageClass names passphrase Secret %s/%s, but this node has "
				   "no Kubernetes API access configured", ns, name);
		return -1;
	}
	rc = rekey_read_pair(ctx->k8s, ns, name, key, 1, cur, prev, err, sizeof(err));
	snprintf(d, sizeof(d), "secret %s/%s key %s%s", ns, name, key,
		 prev->len ? " and its previous passphrase" : "");
	audit_step(v, "read_secret", NULL, NULL, rc == K8S_OK ? 0 : -EACCES, t0,
		   rc == K8S_OK ? d : err);
	if (rc != K8S_OK) {
		uint32_t cls = rc == K8S_ERR_FORBIDDEN || rc == K8S_ERR_UNAUTHORIZED ? IPC_EC_PERMISSION
			       : rc == K8S_ERR_NOT_FOUND || rc == K8S_ERR_KEY_MISSING ? IPC_EC_NOT_FOUND
			       : rc == K8S_ERR_INVALID_ARG ? IPC_EC_INVALID
							   : IPC_EC_UNAVAILABLE;
		privd_answer_error(ans, cls, 0, "passphrase Secret %s/%s: %s", ns, name, err);
		return -1;
	}
	if (cur->len == 0) {
		privd_answer_error(ans, IPC_EC_INVALID, 0, "passphrase Secret %s/%s key %s is empty",
				   ns, name, key);
		return -1;
	}
	return 0;
}
