/* The adversary harness: the real privd (root, its real capabilities and
 * seccomp filter, its real spawner) with a compromised frontend.
 *
 * adv_start runs build/bin/lukscryptwalker-csi in a scratch directory with
 * --frontend-path pointing at tests/adversary/hostile_frontend, which hands
 * the privd channel to this process. From then on the test speaks to privd
 * exactly as a frontend under an attacker's control could: any message the
 * codec accepts, in any order, at any rate, or any bytes at all. Each attack
 * test asserts that privd refused and that nothing changed. */
#ifndef LCW_ADV_H
#define LCW_ADV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc_msg.h"

struct adv {
	pid_t privd;         /* the real privd */
	int chan;            /* its frontend channel, now held by the attacker */
	char dir[256];       /* scratch root of this instance */
	char kubelet_root[300], local_root[300], vfs_root[300], vfs_mount[300];
	char sock[300], log[300], audit[300];
	uint32_t next_id;
	char **mounts_before; /* mount points present at start (mountinfo's spelling) */
	size_t nmounts_before;
};

/* Start privd in a fresh scratch directory below base (NULL: $TMPDIR or
 * /tmp), with --kubelet-root, CSI_LOCAL_PATH, --vfs-cache-root/-mount and
 * --audit-log inside it, and no Kubernetes API unless extra gives one.
 * extra: NULL-terminated extra privd flags (may be NULL). Binaries come
 * from $LCW_BIN_DIR (default build/bin) and its ../tests. 0 or -1. */
int adv_start(struct adv *a, const char *base, const char *const *extra);

/* Send req (id assigned here) and wait for the answer with that id.
 * 0 when answered (ans may be IPC_ANS_ERROR), -1 on timeout, EOF or a
 * channel error. */
int adv_call(struct adv *a, struct ipc_msg *req, struct ipc_msg *ans, int timeout_ms);

/* Send without waiting; returns the id used, or -1. */
long adv_send(struct adv *a, struct ipc_msg *req);

/* Send any bytes as one datagram. 0 or -1 (errno set). */
int adv_send_raw(struct adv *a, const void *buf, size_t n);

/* Next message from privd within timeout_ms. 0, -1 on timeout, or a
 * negative ipc_chan code (IPC_CHAN_EOF when privd dropped us). */
int adv_recv(struct adv *a, struct ipc_msg *ans, int timeout_ms);

/* After privd dropped the channel (it restarts its frontend, here the
 * hostile one again), take the new channel. 0 or -1. */
int adv_reconnect(struct adv *a);

/* Is the privd process still running (not a zombie)? */
int adv_privd_alive(struct adv *a);

/* Resident set size of pid in KiB, -1 if unknown. */
long adv_rss_kib(pid_t pid);

/* Mounts whose mount point was not there at adv_start and is not below one
 * of the allowed prefixes (NULL-terminated). Returns their count and names
 * the first in out. */
int adv_new_mounts_outside(struct adv *a, const char *const *allowed, char *out, size_t n);

/* Close the channel, SIGTERM privd (SIGKILL after 20 s), unmount anything
 * left below the scratch root and remove it. */
void adv_stop(struct adv *a);

/* Path inside the scratch root: adv_path(a, buf, n, "kubelet/pods/x"). */
const char *adv_path(const struct adv *a, char *buf, size_t n, const char *rel);

/* mkdir -p, mode 0755. 0 or -1. */
int adv_mkdirs(const char *path);

/* Counted checks: "ok - msg" / "not ok - msg" on stdout. adv_summary
 * prints "<name>: N passed, N failed" and returns the exit status. */
void adv_check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int adv_summary(const char *name);

#endif
