/* Attack (issue 10, items 5 and 6): a compromised frontend chooses what
 * privd unlocks. privd runs with --kube-api pointing at the stand-in API
 * server (tests/k8s/fake_apiserver.py, scenario "adv", real TLS, token and
 * CA), which holds
 *   PV pvc-adv-a   hardened, passphrase Secret ns1/vol-a-keys
 *   PV static-n    handle pvc-adv-n, node-stage-secret mode (a reference)
 *   an EBS PV      carrying handle pvc-adv-b (another driver's)
 * and the Secrets ns1/vol-a-keys and ns1/vol-b-keys. No PV of this driver
 * carries pvc-adv-b. The frontend asks privd to
 *   - stage B (hardened, naming B's Secret; and with its own passphrase),
 *   - stage A naming Secret B, or with a passphrase of its own choosing,
 *   - stage S3 volumes for B and for A (a LUKS volume),
 *   - stage 200 invented ids (item 6: each would get a backing file),
 * and privd must refuse each for the right reason before touching the node:
 * no backing file or directory below the local root, no Secret read, no
 * device, mount or rclone work in the audit log.
 *
 * Needs no device-mapper: every refusal comes before any device work.
 * Run from the repository root (finds tests/k8s/fake_apiserver.py there,
 * or in $LCW_SRC_DIR). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adv.h"

#define DRIVER "lukscryptwalker.csi.k8s.io"

static char work[256], ports_file[300], req_log[300];
static pid_t api_pid = -1;
static int api_port;

/* ---- the stand-in API server -------------------------------------------- */

static int
run_sh(const char *script)
{
	int st = system(script);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* A throwaway CA, a server certificate for 127.0.0.1, two tokens; then
 * fake_apiserver.py in the background. */
static int
api_start(void)
{
	const char *src = getenv("LCW_SRC_DIR");
	char py[512], script[4096];
	const char *t = getenv("TMPDIR");

	snprintf(py, sizeof(py), "%s/tests/k8s/fake_apiserver.py", src && src[0] ? src : ".");
	if (access(py, R_OK)) {
		fprintf(stderr, "pv_bound: no %s (run from the repository root)\n", py);
		return -1;
	}
	snprintf(work, sizeof(work), "%s/adv-api.XXXXXX", t && t[0] ? t : "/tmp");
	if (!mkdtemp(work))
		return -1;
	snprintf(script, sizeof(script),
		 "set -e; cd '%s'\n"
		 "for p in good other; do\n"
		 " openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
		 "  -subj /CN=$p-ca -keyout $p-ca.key -out $p-ca.crt"
		 "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign\n"
		 " openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
		 "  -subj /CN=kube-apiserver -keyout $p-srv.key -out $p-srv.csr\n"
		 " printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext.cnf\n"
		 " openssl x509 -req -in $p-srv.csr -CA $p-ca.crt -CAkey $p-ca.key -CAcreateserial"
		 "  -days 2 -extfile ext.cnf -out $p-srv.crt\n"
		 "done\n"
		 "echo eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZHYifQ.c2ln > token\n"
		 "echo eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1bnVzZWQifQ.c2ln > token-new\n"
		 ": > requests.log\n",
		 work);
	char quiet[sizeof(script) + 600];
	snprintf(quiet, sizeof(quiet), "( %s ) >'%s/openssl.log' 2>&1", script, work);
	if (run_sh(quiet)) {
		fprintf(stderr, "pv_bound: certificate setup failed (see %s/openssl.log)\n", work);
		return -1;
	}
	snprintf(ports_file, sizeof(ports_file), "%s/ports", work);
	snprintf(req_log, sizeof(req_log), "%s/requests.log", work);
	api_pid = fork();
	if (api_pid == 0) {
		char a[8][400];
		snprintf(a[0], 400, "%s/good-srv.crt", work);
		snprintf(a[1], 400, "%s/good-srv.key", work);
		snprintf(a[2], 400, "%s/other-srv.crt", work);
		snprintf(a[3], 400, "%s/other-srv.key", work);
		snprintf(a[4], 400, "%s/token", work);
		snprintf(a[5], 400, "%s/token-new", work);
		snprintf(a[6], 400, "%s/server.log", work);
		int fd = open(a[6], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* privd's client asks for pages of 500 */
		execl("/usr/bin/python3", "python3", py, "--cert", a[0], "--key", a[1],
		      "--wrong-cert", a[2], "--wrong-key", a[3], "--token", a[4], "--token-new", a[5],
		      "--log", req_log, "--ports-file", ports_file, "--expect-limit", "500",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(ports_file, "r");
		if (f) {
			int ok = fscanf(f, "%d", &api_port) == 1;
			fclose(f);
			if (ok)
				return 0;
		}
		if (waitpid(api_pid, NULL, WNOHANG) == api_pid) {
			api_pid = -1;
			break;
		}
		usleep(100 * 1000);
	}
	fprintf(stderr, "pv_bound: fake API server did not start (see %s/server.log)\n", work);
	return -1;
}

static void
api_stop(void)
{
	char cmd[400];

	if (api_pid > 0) {
		kill(api_pid, SIGTERM);
		waitpid(api_pid, NULL, 0);
	}
	if (work[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
		(void)!system(cmd);
	}
}

/* Lines of a file holding every needle (NULL-terminated). */
static int
lines_with(const char *path, const char *const *needles)
{
	char line[8192];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		int all = 1;
		for (size_t i = 0; needles[i] && all; i++)
			all = strstr(line, needles[i]) != NULL;
		n += all;
	}
	fclose(f);
	return n;
}

static int
secret_reads(const char *name)
{
	char p[128];
	const char *needles[] = { p, NULL };

	snprintf(p, sizeof(p), "/secrets/%s\"", name);
	return lines_with(req_log, needles);
}

/* Audit records of volume id whose op is not the PV check itself: any
 * would mean privd went on to act on the node for it. */
static int
acts_on(struct adv *a, const char *id)
{
	char v[200];
	const char *all[] = { v, NULL }, *check[] = { v, "\"op\":\"pv_check\"", NULL };

	snprintf(v, sizeof(v), "\"volume_id\":\"%s\"", id);
	return lines_with(a->audit, all) - lines_with(a->audit, check);
}

/* Entries below the local root (the backing-file directories). */
static int
local_entries(struct adv *a)
{
	DIR *d = opendir(a->local_root);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* ---- requests ------------------------------------------------------------ */

static void
staging(struct adv *a, const char *id, char *out, size_t n)
{
	char rel[300];

	/* kubelet makes the parent; privd the leaf */
	snprintf(rel, sizeof(rel), "kubelet/plugins/kubernetes.io/csi/" DRIVER "/%s", id);
	adv_path(a, out, n, rel);
	adv_mkdirs(out);
	snprintf(rel, sizeof(rel), "kubelet/plugins/kubernetes.io/csi/" DRIVER "/%s/globalmount", id);
	adv_path(a, out, n, rel);
}

static void
luks_req(struct adv *a, struct ipc_msg *m, const char *id, const char *secret)
{
	struct ipc_stage_req *r = &m->u.stage;

	memset(m, 0, sizeof(*m));
	m->type = IPC_REQ_STAGE_LUKS;
	snprintf(r->volume_id, sizeof(r->volume_id), "%s", id);
	staging(a, id, r->staging_path, sizeof(r->staging_path));
	r->fs_kind = 1;
	r->capacity = 64ull << 40; /* 64 TiB: the most a request may ask for */
	r->fs_mode = 0750;
	if (secret) {
		snprintf(r->secret_namespace, sizeof(r->secret_namespace), "ns1");
		snprintf(r->secret_name, sizeof(r->secret_name), "%s", secret);
		snprintf(r->secret_key, sizeof(r->secret_key), "passphrase");
	} else {
		r->passphrase_len = 18;
		memcpy(r->passphrase, "attacker's choice\n", 18);
	}
}

static void
s3_req(struct adv *a, struct ipc_msg *m, const char *id)
{
	struct ipc_stage_s3_req *r = &m->u.stage_s3;

	memset(m, 0, sizeof(*m));
	m->type = IPC_REQ_STAGE_S3;
	snprintf(r->volume_id, sizeof(r->volume_id), "%s", id);
	staging(a, id, r->staging_path, sizeof(r->staging_path));
	r->capacity = 1ull << 30;
	snprintf(r->secret_namespace, sizeof(r->secret_namespace), "ns1");
	snprintf(r->secret_name, sizeof(r->secret_name), "vol-b-keys");
	snprintf(r->secret_key, sizeof(r->secret_key), "passphrase");
	snprintf(r->passphrase_key, sizeof(r->passphrase_key), "passphrase");
	snprintf(r->s3_namespace, sizeof(r->s3_namespace), "ns1");
	snprintf(r->s3_name, sizeof(r->s3_name), "multi");
	r->t.cache_mode = 3;
	r->t.cache_max_age_ns = 3600ull * 1000000000ull;
	r->t.cache_max_size = 1ull << 30;
	r->t.cache_poll_ns = 60ull * 1000000000ull;
	r->t.write_back_ns = 5ull * 1000000000ull;
	r->t.dir_cache_time_ns = 60ull * 1000000000ull;
	r->t.attr_timeout_ns = 1000000000ull;
}

/* Send and expect an error of class cls whose message holds needle. */
static void
expect_refused(struct adv *a, struct ipc_msg *req, uint32_t cls, const char *needle,
	       const char *what)
{
	struct ipc_msg ans;
	int rc = adv_call(a, req, &ans, 30000);

	adv_check(rc == 0 && ans.type == IPC_ANS_ERROR && ans.u.error.err_class == cls &&
			  strstr(ans.u.error.msg, needle) != NULL,
		  "%s: refused, class %u, \"%s\" (got rc %d type %u class %u: %s)", what, cls,
		  needle, rc, ans.type, rc == 0 && ans.type == IPC_ANS_ERROR ? ans.u.error.err_class : 0,
		  rc == 0 && ans.type == IPC_ANS_ERROR ? ans.u.error.msg : "-");
}

int
main(void)
{
	struct adv a;
	struct ipc_msg m;
	char api[128], tok[300], ca[300], out[512];
	const char *allowed[] = { NULL, NULL };

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (api_start()) {
		adv_check(0, "the stand-in API server starts");
		api_stop();
		return adv_summary("adversary-pv-bound");
	}
	snprintf(api, sizeof(api), "--kube-api=https://127.0.0.1:%d/s/adv", api_port);
	snprintf(tok, sizeof(tok), "--kube-token-file=%s/token", work);
	snprintf(ca, sizeof(ca), "--kube-ca-file=%s/good-ca.crt", work);
	const char *extra[] = { api, tok, ca, "--reclaim-interval-seconds=0", NULL };
	if (adv_start(&a, NULL, extra)) {
		adv_check(0, "privd starts with the API and the hostile frontend");
		api_stop();
		return adv_summary("adversary-pv-bound");
	}
	allowed[0] = a.dir;

	/* B has no PV of this driver (only another driver's PV carries it). */
	luks_req(&a, &m, "pvc-adv-b", "vol-b-keys");
	expect_refused(&a, &m, IPC_EC_NOT_FOUND, "no PersistentVolume",
		       "stage B (no PV) with B's Secret");
	luks_req(&a, &m, "pvc-adv-b", NULL);
	expect_refused(&a, &m, IPC_EC_NOT_FOUND, "no PersistentVolume",
		       "stage B (no PV) with a passphrase of the frontend's");
	s3_req(&a, &m, "pvc-adv-b");
	expect_refused(&a, &m, IPC_EC_NOT_FOUND, "no PersistentVolume", "stage S3 volume B (no PV)");
	adv_check(secret_reads("vol-b-keys") == 0, "B's Secret was never read (%d reads)",
		  secret_reads("vol-b-keys"));
	adv_check(acts_on(&a, "pvc-adv-b") == 0, "nothing done on the node for B (%d audit records)",
		  acts_on(&a, "pvc-adv-b"));

	/* A has a PV naming Secret ns1/vol-a-keys. */
	luks_req(&a, &m, "pvc-adv-a", "vol-b-keys");
	expect_refused(&a, &m, IPC_EC_PRECONDITION, "ns1/vol-a-keys",
		       "stage A naming Secret B");
	luks_req(&a, &m, "pvc-adv-a", NULL);
	expect_refused(&a, &m, IPC_EC_PRECONDITION, "ns1/vol-a-keys",
		       "stage hardened A with a passphrase of the frontend's");
	s3_req(&a, &m, "pvc-adv-a");
	expect_refused(&a, &m, IPC_EC_PRECONDITION, "not an S3 volume",
		       "stage LUKS volume A as an S3 volume");
	/* N's PV names a node-stage Secret only: a hardened request is refused */
	luks_req(&a, &m, "pvc-adv-n", "vol-b-keys");
	expect_refused(&a, &m, IPC_EC_PRECONDITION, "node-stage-secret mode",
		       "stage N naming Secret B");
	adv_check(secret_reads("vol-b-keys") == 0 && secret_reads("vol-a-keys") == 0,
		  "no Secret read for a refused stage (B %d, A %d)", secret_reads("vol-b-keys"),
		  secret_reads("vol-a-keys"));
	adv_check(acts_on(&a, "pvc-adv-a") == 0 && acts_on(&a, "pvc-adv-n") == 0,
		  "nothing done on the node for A or N");

	/* Item 6: invented ids, each asking for a 64 TiB backing file. */
	int refused = 0;
	for (int i = 0; i < 200; i++) {
		char id[64];
		struct ipc_msg ans;
		snprintf(id, sizeof(id), "pvc-invented-%03d", i);
		luks_req(&a, &m, id, i % 2 ? NULL : "vol-a-keys");
		refused += adv_call(&a, &m, &ans, 30000) == 0 && ans.type == IPC_ANS_ERROR &&
			   ans.u.error.err_class == IPC_EC_NOT_FOUND;
	}
	adv_check(refused == 200, "200 invented ids refused as NOT_FOUND (%d)", refused);

	adv_check(local_entries(&a) == 0, "nothing created below the local root (%d entries)",
		  local_entries(&a));
	int mounts = adv_new_mounts_outside(&a, allowed, out, sizeof(out));
	adv_check(mounts == 0, "no new mount anywhere (%s)", mounts ? out : "none");
	adv_check(adv_privd_alive(&a), "privd is still running");
	{
		const char *needles[] = { "\"op\":\"pv_check\"", "\"result\":\"error\"", NULL };
		int n = lines_with(a.audit, needles);
		adv_check(n >= 207, "every refusal is a pv_check audit record (%d)", n);
	}
	adv_stop(&a);
	api_stop();
	return adv_summary("adversary-pv-bound");
}
