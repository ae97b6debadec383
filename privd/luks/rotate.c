/* ROTATE_KEY (csi-addons EncryptionKeyRotate on the node plugin): move a
 * staged local volume's header from the previous passphrase to the current
 * one while it stays mounted. Only keyslots change; the volume key in the
 * dm table, and so the running mapping and its file system, are untouched.
 * Crash-safe at every step (luks_rekey.h): a retry, or the next stage,
 * completes an interrupted swap. */
#define _GNU_SOURCE
#include "rotate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "luks.h"
#include "luks_rekey.h"
#include "pv_bind.h"
#include "rekey.h"
#include "secmem.h"
#include "vol.h"

/* The two passphrases, from the PV's Secret (API), the request's reference
 * (needs the API: refused by rekey_fetch_pair without one) or the request's
 * node-stage secret values. 0 or -1 answered. */
static int
rotate_passphrases(const struct privd_ctx *ctx, const struct vol *v,
		   const struct ipc_rotate_req *r, struct lcw_secret *cur, struct lcw_secret *prev,
		   struct ipc_msg *ans)
{
	char ns[IPC_K8S_NS_MAX + 1], name[IPC_K8S_NAME_MAX + 1], key[IPC_K8S_NAME_MAX + 1];
	int rc = pv_rotation_secret(ctx, v->id, ns, name, key, ans);

	if (rc < 0)
		return -1;
	if (rc == 0) /* the PV decides, whatever the request says */
		return rekey_fetch_pair(ctx, v, ns, name, key, cur, prev, ans);
	if (r->secret_name[0])
		return rekey_fetch_pair(ctx, v, r->secret_namespace, r->secret_name, r->secret_key,
					cur, prev, ans);
	if (secret_set(cur, r->passphrase, luks_passphrase_len(r->passphrase, r->passphrase_len)) ||
	    secret_set(prev, r->prev_passphrase,
		       luks_passphrase_len(r->prev_passphrase, r->prev_passphrase_len))) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the key");
		return -1;
	}
	if (cur->len == 0) {
		privd_answer_error(ans, IPC_EC_INVALID, 0,
				   "no passphrase: the request carries neither the node-stage "
				   "secret's passphrase nor a passphrase Secret");
		return -1;
	}
	return 0;
}

/* ROTATE_KEY. Safe: acts only on the header of this volume's own backing
 * file, through the loop device its active mapping sits on (checked); a
 * keyslot is added only by unlocking with a passphrase that already opens
 * it, and an old one is destroyed only after the new one was verified, so
 * the volume always opens with the old or the new passphrase; the volume
 * key and the mounted file system are never touched; where the API is
 * configured the passphrases come from the Secret the volume's PV names. */
void
luks_rotate(const struct privd_ctx *ctx, const struct ipc_msg *req, struct ipc_msg *ans)
{
	const struct ipc_rotate_req *r = &req->u.rotate;
	struct lcw_secret cur = { 0 }, prev = { 0 };
	struct vol v;
	char loop[64];
	int rc, rotated = 0;

	if (vol_derive(ctx, r->volume_id, &v, ans))
		return;
	if (secret_alloc(&cur) || secret_alloc(&prev)) {
		privd_answer_error(ans, IPC_EC_INTERNAL, errno, "cannot lock memory for the key");
		goto out;
	}
	if (rotate_passphrases(ctx, &v, r, &cur, &prev, ans))
		goto out;
	rc = mapping_is_ours(&v, loop, sizeof(loop));
	if (rc != 1) {
		privd_answer_error(ans, IPC_EC_PRECONDITION, 0,
				   rc < 0 ? "mapping %s is not on this volume's backing file; left alone"
					  : "volume %s is not staged on this node (no open mapping); it "
					    "moves to the current passphrase at its next NodeStage",
				   rc < 0 ? v.dm : v.id);
		goto out;
	}
	if (prev.len == 0 || (prev.len == cur.len && memcmp(prev.bytes, cur.bytes, cur.len) == 0)) {
		/* Nothing to rotate from: fine if the volume is on the current
		 * passphrase already (a periodic job after the rotation). */
		uint64_t t0 = audit_now_ns();
		rc = luks_check_passphrase(loop, &cur);
		audit_step(&v, "rotate_check", v.file, loop, rc < 0 ? rc : 0, t0,
			   rc >= 0 ? "already on the current passphrase" : "current passphrase refused");
		if (rc == -EPERM)
			privd_answer_error(ans, IPC_EC_PERMISSION, EPERM,
					   "the passphrase does not open volume %s and its Secret has "
					   "no previous passphrase (<passphraseKey>" REKEY_PREVIOUS_SUFFIX
					   ")", v.id);
		else if (rc < 0)
			privd_answer_error(ans, IPC_EC_INTERNAL, -rc, "cannot read the header of %s: %s",
					   v.file, strerror(-rc));
		else
			ans->type = IPC_ANS_ROTATE_KEY;
		goto out;
	}
	if (vol_rekey(ctx, &v, loop, &prev, &cur, "luks_rekey_online", &rotated, ans))
		goto out;
	ans->type = IPC_ANS_ROTATE_KEY;
	ans->u.rotate_ans.rotated = (uint8_t)rotated;
out:
	secret_free(&cur);
	secret_free(&prev);
}
