/* Unit tests of the pure parts of issue 10 items 3, 6 and 7: privd's
 * bounded job pool (privd/jobq.c), the node-wide limit arithmetic and the
 * usage scan (privd/luks/node_limits.c), the "only root could have written it"
 * shape of legacy backing files (privd/luks/vol_owner.c), the volume-id rule
 * (common/volparams.c) and the new flags (privd/flags.c). No root needed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flags.h"
#include "ipc_schema.h"
#include "jobq.h"
#include "log.h"
#include "node_limits.h"
#include "vol_owner.h"
#include "volparams.h"

static struct jobq_job pool[8];

static struct ipc_msg *
stage_req(const char *id, uint32_t rid)
{
	static struct ipc_msg m;
	memset(&m, 0, sizeof(m));
	m.type = IPC_REQ_STAGE_LUKS;
	m.id = rid;
	snprintf(m.u.stage.volume_id, sizeof(m.u.stage.volume_id), "%s", id);
	memcpy(m.u.stage.passphrase, "hunter2", 7);
	m.u.stage.passphrase_len = 7;
	return &m;
}

static void
jobq_bounds_total_and_per_volume(void **state)
{
	struct jobq q;
	char id[32];
	(void)state;

	memset(pool, 0, sizeof(pool));
	jobq_init_mem(&q, pool, 8, 2);
	/* per volume: two in flight, the third refused */
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-a", 1)), JOBQ_OK);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-a", 2)), JOBQ_OK);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-a", 3)), JOBQ_E_VOLUME);
	/* in total: eight, whatever the ids */
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "pvc-%d", i);
		assert_int_equal(jobq_push(&q, NULL, 1, stage_req(id, 10 + i)), JOBQ_OK);
	}
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-new", 99)), JOBQ_E_FULL);
	assert_int_equal(jobq_count(&q, JOBQ_QUEUED, NULL), 8);
	assert_int_equal(jobq_count(&q, 0, "pvc-a"), 2);
	/* a running job still counts: finishing frees the room */
	struct jobq_job *j = jobq_take(&q);
	assert_non_null(j);
	assert_int_equal(j->req.id, 1);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-new", 99)), JOBQ_E_FULL);
	jobq_done(&q, j);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-new", 99)), JOBQ_OK);
}

static void
jobq_take_skips_busy_volume_in_order(void **state)
{
	struct jobq q;
	(void)state;

	memset(pool, 0, sizeof(pool));
	jobq_init_mem(&q, pool, 8, 2);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-a", 1)), JOBQ_OK);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-a", 2)), JOBQ_OK);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-b", 3)), JOBQ_OK);
	struct jobq_job *a1 = jobq_take(&q), *b = jobq_take(&q);
	assert_int_equal(a1->req.id, 1);
	assert_int_equal(b->req.id, 3); /* pvc-a's second waits for its first */
	assert_null(jobq_take(&q));
	jobq_done(&q, a1);
	struct jobq_job *a2 = jobq_take(&q);
	assert_non_null(a2);
	assert_int_equal(a2->req.id, 2);
}

static void
jobq_drop_stale_wipes_queued_only(void **state)
{
	struct jobq q;
	(void)state;

	memset(pool, 0, sizeof(pool));
	jobq_init_mem(&q, pool, 8, 2);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-a", 1)), JOBQ_OK);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-b", 2)), JOBQ_OK);
	assert_int_equal(jobq_push(&q, NULL, 1, stage_req("pvc-c", 3)), JOBQ_OK);
	struct jobq_job *run = jobq_take(&q);
	/* the frontend of generation 1 is gone: its queue goes, wiped */
	assert_int_equal(jobq_drop_stale(&q, 2, 0), 2);
	assert_int_equal(jobq_count(&q, JOBQ_QUEUED, NULL), 0);
	assert_int_equal(jobq_count(&q, JOBQ_RUNNING, NULL), 1);
	for (size_t i = 0; i < 8; i++)
		if (&pool[i] != run)
			assert_null(memmem(&pool[i], sizeof(pool[i]), "hunter2", 7));
	/* the current generation's work stays */
	assert_int_equal(jobq_push(&q, NULL, 2, stage_req("pvc-d", 4)), JOBQ_OK);
	assert_int_equal(jobq_drop_stale(&q, 2, 0), 0);
	assert_int_equal(jobq_drop_stale(&q, 2, 1), 1);
	jobq_done(&q, run);
	assert_null(memmem(pool, sizeof(pool), "hunter2", 7));
}

/* Every request the frontend may send, read from the catalogue (so a new
 * type cannot be forgotten), is serialised per volume and locked against
 * the reclaimer by its id; only PING and CAPACITY name none (they share
 * the key "", so a flood of them holds at most JOBQ_PER_VOLUME slots). */
static void
jobq_volume_of_every_frontend_request(void **state)
{
	struct ipc_msg m;
	int n = 0;
	(void)state;

	for (uint32_t t = 0; t < 256; t++) {
		const struct ipc_schema *s = ipc_schema_find(t);
		if (!s || !ipc_is_request(t) || !(s->senders & IPC_FROM_FRONTEND) ||
		    t == IPC_REQ_PING || t == IPC_REQ_CAPACITY)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = t;
		/* every request struct starts with its volume id */
		memcpy((char *)&m.u, "pvc-x", 6);
		if (strcmp(jobq_req_volume(&m), "pvc-x") != 0)
			fail_msg("%s: no volume id for the job queue", ipc_type_name(t));
		n++;
	}
	assert_int_equal(n, 9);
	memset(&m, 0, sizeof(m));
	m.type = IPC_REQ_PING;
	assert_string_equal(jobq_req_volume(&m), "");
}

static void
jobq_locked_pool(void **state)
{
	struct jobq q;
	(void)state;
	/* 64 slots fit an unprivileged RLIMIT_MEMLOCK of 8 MiB */
	if (jobq_init(&q, JOBQ_MAX, JOBQ_PER_VOLUME) == 0) {
		assert_int_equal(jobq_count(&q, JOBQ_QUEUED, NULL), 0);
		jobq_free(&q);
	} else {
		print_message("skipped: mlock refused under this RLIMIT_MEMLOCK\n");
	}
}

static void
limits_arithmetic(void **state)
{
	struct local_limits l = { .max_volumes = 3, .max_bytes = 100 * MIB, .reserve_bytes = 0,
				  .reserve_pct = 10 };
	struct local_usage u = { 2, 60 * MIB, 0 };
	char why[256];
	const uint64_t fs = 1000 * MIB;
	(void)state;

	/* bytes: 60 + 40 fits exactly, 41 does not */
	assert_int_equal(local_limits_check(&l, &u, fs, fs, 40 * MIB, 1, why, sizeof(why)), 0);
	assert_int_equal(local_limits_check(&l, &u, fs, fs, 40 * MIB + 1, 1, why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "limit"));
	/* count: the third volume fits, a fourth does not; growing is no new volume */
	u.volumes = 3;
	assert_int_equal(local_limits_check(&l, &u, fs, fs, 1, 1, why, sizeof(why)), -1);
	assert_int_equal(local_limits_check(&l, &u, fs, fs, 1, 0, why, sizeof(why)), 0);
	/* reserve: 10% of 1000 MiB must stay free */
	l.max_bytes = 0;
	u = (struct local_usage){ 0, 0, 0 };
	assert_int_equal(local_limits_check(&l, &u, 300 * MIB, fs, 200 * MIB, 1, why, sizeof(why)), 0);
	assert_int_equal(local_limits_check(&l, &u, 300 * MIB, fs, 201 * MIB, 1, why, sizeof(why)),
			 -1);
	/* less free than the reserve already: nothing at all, no underflow */
	assert_int_equal(local_limits_check(&l, &u, 50 * MIB, fs, 1, 1, why, sizeof(why)), -1);
	/* an absolute reserve larger than the percentage wins */
	l.reserve_bytes = 250 * MIB;
	assert_int_equal(local_limits_check(&l, &u, 300 * MIB, fs, 51 * MIB, 1, why, sizeof(why)),
			 -1);
	/* no overflow with absurd sizes (64 TiB volumes, usage past the cap) */
	l = (struct local_limits){ 10, 100 * MIB, 0, 0 };
	u = (struct local_usage){ 1, 200 * MIB, 0 };
	assert_int_equal(local_limits_check(&l, &u, UINT64_MAX, UINT64_MAX, 1, 0, why, sizeof(why)),
			 -1);
	u.bytes = 0;
	assert_int_equal(local_limits_check(&l, &u, UINT64_MAX, UINT64_MAX, MAX_CAPACITY, 1, why,
					    sizeof(why)), -1);
	assert_int_equal(local_limits_check(&l, &u, UINT64_MAX, UINT64_MAX, UINT64_MAX, 1, why,
					    sizeof(why)), -1);
}

/* GetCapacity's numbers agree with what local_limits_check admits. */
static void
capacity_matches_the_check(void **state)
{
	struct local_limits l = { .max_volumes = 3, .max_bytes = 0, .reserve_bytes = 0,
				  .reserve_pct = 10 };
	struct local_usage u = { 1, 100 * MIB, 0 };
	struct local_room r;
	char why[256];
	const uint64_t fs = 1000 * MIB;
	(void)state;

	/* 300 MiB free, 100 MiB reserve: 200 MiB, and exactly that is admitted */
	local_capacity(&l, &u, 300 * MIB, fs, 0, &r);
	assert_int_equal(r.available, 200 * MIB);
	assert_int_equal(r.maximum_volume, 200 * MIB);
	assert_int_equal(r.volumes_left, 2);
	assert_int_equal(local_limits_check(&l, &u, 300 * MIB, fs, r.maximum_volume, 1, why,
					    sizeof(why)), 0);
	assert_int_equal(local_limits_check(&l, &u, 300 * MIB, fs, r.maximum_volume + 1, 1, why,
					    sizeof(why)), -1);
	/* sparse backing files and promised volumes take their share */
	u.unallocated = 50 * MIB;
	local_capacity(&l, &u, 300 * MIB, fs, 30 * MIB, &r);
	assert_int_equal(r.available, 120 * MIB);
	/* a byte cap below the free space wins */
	l.max_bytes = 150 * MIB;
	local_capacity(&l, &u, 300 * MIB, fs, 30 * MIB, &r);
	assert_int_equal(r.available, 20 * MIB);
	/* count limit reached: nothing, whatever the space */
	u.volumes = 3;
	local_capacity(&l, &u, 300 * MIB, fs, 0, &r);
	assert_int_equal(r.available, 0);
	assert_int_equal(r.volumes_left, 0);
	/* below the reserve, or usage past the cap: zero, no underflow */
	l = (struct local_limits){ 10, 100 * MIB, 0, 10 };
	u = (struct local_usage){ 1, 200 * MIB, UINT64_MAX };
	local_capacity(&l, &u, 50 * MIB, fs, UINT64_MAX, &r);
	assert_int_equal(r.available, 0);
	assert_int_equal(r.maximum_volume, 0);
}

static void
put_file(const char *dir, const char *name, off_t size)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void
usage_scan_counts_only_backing_files(void **state)
{
	char root[] = "/tmp/lcw-limits-XXXXXX", p[512];
	struct local_usage u;
	(void)state;

	assert_non_null(mkdtemp(root));
	assert_int_equal(local_usage_scan("/nonexistent-lcw", geteuid(), &u), 0);
	assert_int_equal(u.volumes, 0);
	snprintf(p, sizeof(p), "%s/pvc-1", root);
	mkdir(p, 0700);
	put_file(p, "luks-pvc-1.img", 5 * MIB); /* sparse: counted by size */
	snprintf(p, sizeof(p), "%s/pvc-2", root);
	mkdir(p, 0700);
	put_file(p, "luks-pvc-2.img", 7 * MIB);
	put_file(p, "other.img", 100 * MIB); /* not a backing file */
	snprintf(p, sizeof(p), "%s/pvc-3_ns_claim", root); /* local-path-provisioner's */
	mkdir(p, 0777);
	put_file(p, "luks-pvc-3_ns_claim.img", 100 * MIB);
	snprintf(p, sizeof(p), "%s/pvc-4", root); /* a tenant-writable directory */
	mkdir(p, 0700);
	chmod(p, 0777);
	put_file(p, "luks-pvc-4.img", 100 * MIB);
	snprintf(p, sizeof(p), "%s/pvc-5", root); /* a file a tenant can write */
	mkdir(p, 0700);
	put_file(p, "luks-pvc-5.img", 100 * MIB);
	snprintf(p, sizeof(p), "%s/pvc-5/luks-pvc-5.img", root);
	chmod(p, 0666);
	snprintf(p, sizeof(p), "%s/.lcw-owned", root);
	mkdir(p, 0700);
	assert_int_equal(local_usage_scan(root, geteuid(), &u), 0);
	assert_int_equal(u.volumes, 2);
	assert_int_equal(u.bytes, 12 * MIB);
	/* someone else's files are not counted at all */
	assert_int_equal(local_usage_scan(root, geteuid() + 1, &u), 0);
	assert_int_equal(u.volumes, 0);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

static void
volid_refuses_local_path_provisioner_shape(void **state)
{
	(void)state;
	/* the Go driver's ids (external-provisioner's pvc-<uid>) */
	assert_int_equal(volid_valid("pvc-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"), 0);
	assert_int_equal(volid_valid("static-volume.v2"), 0);
	/* local-path-provisioner's directories, and any '_' */
	assert_int_equal(volid_valid("pvc-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f_default_data"), -1);
	assert_int_equal(volid_valid("pvc-x_ns_name"), -1);
	assert_int_equal(volid_valid("a_b"), -1);
	assert_int_equal(volid_valid("_"), -1);
	/* unchanged: the rest of the rule */
	assert_int_equal(volid_valid(""), -1);
	assert_int_equal(volid_valid("../x"), -1);
	assert_int_equal(volid_valid("-x"), -1);
	assert_int_equal(volid_valid(VFS_CACHE_ID), -1);
}

static void
legacy_shape_only_root_alone(void **state)
{
	struct stat d = { .st_mode = S_IFDIR | 0755, .st_uid = 0 };
	struct stat f = { .st_mode = S_IFREG | 0644, .st_uid = 0, .st_nlink = 1 };
	char why[256];
	(void)state;

	/* what the Go driver made: MkdirAll 0755, file from the umask 0644 */
	assert_int_equal(vol_legacy_shape(&d, &f, 0, why, sizeof(why)), 0);
	/* local-path-provisioner's 0777 directory */
	d.st_mode = S_IFDIR | 0777;
	assert_int_equal(vol_legacy_shape(&d, &f, 0, why, sizeof(why)), -1);
	d.st_mode = S_IFDIR | 0755;
	d.st_uid = 1000; /* a pod's user */
	assert_int_equal(vol_legacy_shape(&d, &f, 0, why, sizeof(why)), -1);
	d.st_uid = 0;
	f.st_uid = 1000;
	assert_int_equal(vol_legacy_shape(&d, &f, 0, why, sizeof(why)), -1);
	f.st_uid = 0;
	f.st_mode = S_IFREG | 0664;
	assert_int_equal(vol_legacy_shape(&d, &f, 0, why, sizeof(why)), -1);
	f.st_mode = S_IFREG | 0600;
	f.st_nlink = 2; /* a hard link from elsewhere */
	assert_int_equal(vol_legacy_shape(&d, &f, 0, why, sizeof(why)), -1);
	f.st_nlink = 1;
	f.st_mode = S_IFLNK | 0777;
	assert_int_equal(vol_legacy_shape(&d, &f, 0, why, sizeof(why)), -1);
	d.st_mode = S_IFLNK | 0777; /* the directory a symlink */
	f.st_mode = S_IFREG | 0600;
	assert_int_equal(vol_legacy_shape(&d, &f, 0, why, sizeof(why)), -1);
}

static struct lcw_flags fl;

static int
parse(const char *a, const char *b)
{
	char err[512];
	char *argv[] = { (char *)"lukscryptwalker-csi", (char *)"--nodeid=n", (char *)a,
			 (char *)b, NULL };
	int argc = 2 + (a != NULL) + (b != NULL);
	return flags_parse(argc, argv, &fl, err, sizeof(err));
}

static void
flags_limits(void **state)
{
	(void)state;
	assert_int_equal(parse(NULL, NULL), 0);
	assert_int_equal(fl.max_local_volumes, 256);
	assert_int_equal(fl.max_local_bytes, 0);
	assert_int_equal(fl.local_reserve_pct, 10);
	assert_int_equal(fl.max_s3_mounts, 64);
	assert_int_equal(fl.legacy_volumes, 1);
	assert_int_equal(parse("--max-local-bytes=2T", "--local-reserve=5G"), 0);
	assert_int_equal(fl.max_local_bytes, 2ULL << 40);
	assert_int_equal(fl.local_reserve_bytes, 5ULL << 30);
	assert_int_equal(fl.local_reserve_pct, 0);
	assert_int_equal(parse("--local-reserve=0%", "--max-s3-mounts=512"), 0);
	assert_int_equal(fl.local_reserve_pct, 0);
	assert_int_equal(parse("--max-local-volumes=3", "--legacy-volumes=false"), 0);
	assert_int_equal(fl.max_local_volumes, 3);
	assert_int_equal(fl.legacy_volumes, 0);
	assert_int_equal(parse("--local-reserve=91%", NULL), -1);
	assert_int_equal(parse("--local-reserve=x%", NULL), -1);
	assert_int_equal(parse("--max-s3-mounts=513", NULL), -1);
	assert_int_equal(parse("--max-s3-mounts=0", NULL), -1);
	assert_int_equal(parse("--max-local-volumes=0", NULL), -1);
	assert_int_equal(parse("--max-local-bytes=-1", NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jobq_bounds_total_and_per_volume),
		cmocka_unit_test(jobq_take_skips_busy_volume_in_order),
		cmocka_unit_test(jobq_drop_stale_wipes_queued_only),
		cmocka_unit_test(jobq_volume_of_every_frontend_request),
		cmocka_unit_test(jobq_locked_pool),
		cmocka_unit_test(limits_arithmetic),
		cmocka_unit_test(capacity_matches_the_check),
		cmocka_unit_test(usage_scan_counts_only_backing_files),
		cmocka_unit_test(volid_refuses_local_path_provisioner_shape),
		cmocka_unit_test(legacy_shape_only_root_alone),
		cmocka_unit_test(flags_limits),
	};
	log_init("test_limits", LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
