/* Attacks on the local volume root (issue 10, item 9): a compromised
 * frontend stages a volume whose directory <local root>/<id> someone has
 * replaced by a symlink to elsewhere. privd must create, open or allocate
 * nothing outside the local root, and must not use a file it finds there.
 * The refusal happens before any device-mapper work, so this runs on the
 * host. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adv.h"

#define MIB (1024ULL * 1024ULL)

static void
stage_req(struct adv *a, struct ipc_msg *m, const char *id)
{
	char staging[600];

	memset(m, 0, sizeof(*m));
	m->type = IPC_REQ_STAGE_LUKS;
	snprintf(staging, sizeof(staging), "%s/plugins/kubernetes.io/csi/pv/%s/globalmount",
		 a->kubelet_root, id);
	adv_mkdirs(staging);
	snprintf(m->u.stage.volume_id, sizeof(m->u.stage.volume_id), "%s", id);
	snprintf(m->u.stage.staging_path, sizeof(m->u.stage.staging_path), "%s", staging);
	m->u.stage.fs_kind = 1;
	m->u.stage.capacity = 32 * MIB;
	m->u.stage.passphrase_len = 6;
	memcpy(m->u.stage.passphrase, "secret", 6);
}

static int
dir_is_empty(const char *path)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", path);
	return system(cmd) == 0;
}

static int
audit_has(struct adv *a, const char *op, const char *id)
{
	char line[4096], vid[200];
	FILE *f = fopen(a->audit, "r");
	int found = 0;

	snprintf(vid, sizeof(vid), "\"volume_id\":\"%s\"", id);
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, op) && strstr(line, vid))
			found = 1;
	if (f)
		fclose(f);
	return found;
}

/* <local root>/<id> -> an empty directory elsewhere. */
static void
test_symlinked_volume_dir(struct adv *a)
{
	char elsewhere[400], link[400];
	struct ipc_msg req, ans;

	adv_path(a, elsewhere, sizeof(elsewhere), "elsewhere");
	adv_mkdirs(elsewhere);
	snprintf(link, sizeof(link), "%s/pvc-planted", a->local_root);
	adv_check(symlink(elsewhere, link) == 0, "planted %s -> %s", link, elsewhere);
	stage_req(a, &req, "pvc-planted");
	int rc = adv_call(a, &req, &ans, 60000);
	adv_check(rc == 0 && ans.type == IPC_ANS_ERROR &&
			  ans.u.error.err_class == IPC_EC_PRECONDITION &&
			  strstr(ans.u.error.msg, "symlink") != NULL,
		  "stage through a symlinked volume directory is refused (%s)",
		  rc == 0 && ans.type == IPC_ANS_ERROR ? ans.u.error.msg : "answered OK");
	adv_check(dir_is_empty(elsewhere), "nothing was created behind the symlink");
	adv_check(!audit_has(a, "create_backing_file", "pvc-planted"),
		  "no backing file was created or allocated for it");
	unlink(link);
}

/* <local root>/<id> -> a directory holding someone else's file under the
 * backing file's name: privd must not attach, probe or format it. */
static void
test_symlink_to_victim_file(struct adv *a)
{
	char vdir[400], vfile[500], link[400];
	static unsigned char data[4 * MIB], back[4 * MIB];
	struct ipc_msg req, ans;

	adv_path(a, vdir, sizeof(vdir), "victim");
	adv_mkdirs(vdir);
	snprintf(vfile, sizeof(vfile), "%s/luks-pvc-victim.img", vdir);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	memset(data, 0, 64 * 1024); /* no signature at the start: "provably empty" */
	int fd = open(vfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	adv_check(fd >= 0 && write(fd, data, sizeof(data)) == (ssize_t)sizeof(data),
		  "wrote a victim file %s", vfile);
	if (fd >= 0)
		close(fd);
	snprintf(link, sizeof(link), "%s/pvc-victim", a->local_root);
	adv_check(symlink(vdir, link) == 0, "planted %s -> %s", link, vdir);
	stage_req(a, &req, "pvc-victim");
	int rc = adv_call(a, &req, &ans, 60000);
	adv_check(rc == 0 && ans.type == IPC_ANS_ERROR && strstr(ans.u.error.msg, "symlink"),
		  "stage onto a planted file is refused (%s)",
		  rc == 0 && ans.type == IPC_ANS_ERROR ? ans.u.error.msg : "answered OK");
	fd = open(vfile, O_RDONLY);
	adv_check(fd >= 0 && read(fd, back, sizeof(back)) == (ssize_t)sizeof(back) &&
			  memcmp(data, back, sizeof(back)) == 0,
		  "the victim file's bytes are intact");
	if (fd >= 0)
		close(fd);
	adv_check(!audit_has(a, "loop_attach", "pvc-victim") &&
			  !audit_has(a, "luks_format", "pvc-victim"),
		  "the victim file was never attached or formatted");
	unlink(link);
}

/* A hostile writer flips <local root>/<id> between a real directory and a
 * symlink while stages run: the attacker must never get a file elsewhere. */
struct flipper {
	char link[400], target[400];
	volatile int stop;
};

static void *
flip(void *arg)
{
	struct flipper *f = arg;
	while (!f->stop) {
		if (rmdir(f->link) && errno == ENOTDIR)
			unlink(f->link);
		if (symlink(f->target, f->link) == 0) {
			usleep(50);
			unlink(f->link);
		}
		mkdir(f->link, 0700);
		usleep(50);
	}
	return NULL;
}

static void
test_race(struct adv *a, int iterations)
{
	struct flipper f = { .stop = 0 };
	struct ipc_msg req, ans;
	pthread_t t;
	int answered = 0;

	adv_path(a, f.target, sizeof(f.target), "race-target");
	adv_mkdirs(f.target);
	snprintf(f.link, sizeof(f.link), "%s/pvc-race", a->local_root);
	pthread_create(&t, NULL, flip, &f);
	for (int i = 0; i < iterations; i++) {
		stage_req(a, &req, "pvc-race");
		if (adv_call(a, &req, &ans, 60000) == 0)
			answered++;
		if (!dir_is_empty(f.target))
			break;
	}
	f.stop = 1;
	pthread_join(t, NULL);
	adv_check(answered == iterations, "privd answered all %d racing stages (%d)", iterations,
		  answered);
	adv_check(dir_is_empty(f.target), "no file appeared behind the flipping symlink");
	adv_check(adv_privd_alive(a), "privd is still running");
}

int
main(void)
{
	struct adv a;

	if (geteuid() != 0) {
		printf("ok - skipped: needs root\nlocal_root: 1 passed, 0 failed\n");
		return 0;
	}
	if (adv_start(&a, NULL, NULL)) {
		adv_check(0, "start privd");
		return adv_summary("local_root");
	}
	test_symlinked_volume_dir(&a);
	test_symlink_to_victim_file(&a);
	test_race(&a, 100);
	adv_stop(&a);
	return adv_summary("local_root");
}
