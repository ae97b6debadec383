/* Attacks on what privd creates and opens for invented or foreign volume
 * ids, issue 10 items 6 and 7, against the real privd (adv.h):
 *   - invented volumes beyond the node-wide limits (count, bytes, free-space
 *     reserve, a 64 TiB request): refused RESOURCE_EXHAUSTED with nothing
 *     allocated below the local root (counted by st_blocks);
 *   - an id shaped like a local-path-provisioner directory, images planted
 *     in a tenant-writable directory (blank, or LUKS with a known
 *     passphrase), and a recorded backing file swapped for another: refused,
 *     the planted bytes untouched, no loop device attached.
 * Needs root, loop devices, tmpfs and cryptsetup; no device-mapper. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "adv.h"
#include "ipc_chan.h"
#include "plant.h"

/* ---- item 6: node-wide limits --------------------------------------------- */

static void
expect_nothing_allocated(struct adv *a, const char *what, const char *const *flags,
			 uint64_t cap, int tries)
{
	char stg[600], id[64], p[700], msg[600];
	unsigned long long b0 = local_bytes(a);
	int refused = 0, none = 1;
	(void)flags;

	staging(a, "limits", stg, sizeof(stg));
	for (int i = 0; i < tries; i++) {
		snprintf(id, sizeof(id), "pvc-inv-%d", i);
		int cls = stage_class(a, id, stg, cap, PASS, msg, sizeof(msg));
		refused += cls == IPC_EC_EXHAUSTED;
		if (i == 0)
			printf("# %s: %s\n", what, msg);
		snprintf(p, sizeof(p), "%s/%s", a->local_root, id);
		none &= !exists(p);
	}
	unsigned long long b1 = local_bytes(a);
	adv_check(refused == tries, "%s: %d of %d invented volumes refused RESOURCE_EXHAUSTED", what,
		  refused, tries);
	adv_check(none, "%s: no directory or file made for them", what);
	adv_check(b1 <= b0, "%s: nothing allocated below the local root (%llu -> %llu bytes)", what,
		  b0, b1);
}

/* CAPACITY as the frontend asks for it (GetCapacity): 0 with the answer. */
static int
capacity(struct adv *a, struct ipc_capacity_ans *out)
{
	struct ipc_msg req = { .type = IPC_REQ_CAPACITY }, ans;
	if (adv_call(a, &req, &ans, 10000) || ans.type != IPC_ANS_CAPACITY)
		return -1;
	*out = ans.u.capacity_ans;
	return 0;
}

static void
test_limits(void)
{
	struct adv a;
	char p[700];

	/* the number of volumes */
	static const char *const count[] = { "--max-local-volumes=2", NULL };
	if (adv_start(&a, NULL, count) == 0) {
		plant(&a, "pvc-exist-0", 20 * MIB, 0700, 0600);
		plant(&a, "pvc-exist-1", 20 * MIB, 0700, 0600);
		expect_nothing_allocated(&a, "max-local-volumes=2", count, 20 * MIB, 8);
		struct ipc_capacity_ans c;
		adv_check(capacity(&a, &c) == 0 && c.available == 0 && c.volumes_left == 0 &&
				  c.max_volumes == 2 + 64,
			  "capacity at the count limit: nothing available, no volume left, "
			  "max_volumes 2 local + 64 S3");
		adv_stop(&a);
	} else {
		adv_check(0, "limits: privd starts");
	}

	/* the bytes of all volumes */
	static const char *const bytes[] = { "--max-local-bytes=48M", NULL };
	if (adv_start(&a, NULL, bytes) == 0) {
		plant(&a, "pvc-exist-0", 40 * MIB, 0700, 0600);
		expect_nothing_allocated(&a, "max-local-bytes=48M", bytes, 20 * MIB, 4);
		adv_stop(&a);
	} else {
		adv_check(0, "limits: privd starts");
	}

	/* the free-space reserve (default 10%), on a small file system of its
	 * own: the invented volume would fill it */
	if (adv_start(&a, NULL, NULL) == 0) {
		int m = mount("lcw-adv", a.local_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=128m");
		adv_check(m == 0, "reserve: a 128 MiB file system as the local root");
		if (m == 0) {
			struct ipc_capacity_ans c;
			struct statvfs sv;
			int ok = capacity(&a, &c) == 0 && statvfs(a.local_root, &sv) == 0;
			uint64_t want = (uint64_t)sv.f_bavail * sv.f_frsize - (128 * MIB) / 100 * 10;
			adv_check(ok && c.available == want && c.maximum_volume == want &&
					  c.volumes_left == 256,
				  "capacity on a 128 MiB root: %llu bytes available (free less the 10%% "
				  "reserve: %llu), %llu volumes left", ok ? (unsigned long long)c.available : 0ULL,
				  (unsigned long long)want, ok ? (unsigned long long)c.volumes_left : 0ULL);
			/* one byte more than the answer is refused, nothing allocated */
			if (ok)
				expect_nothing_allocated(&a, "one byte past GetCapacity", NULL,
							 want + 1, 1);
			expect_nothing_allocated(&a, "local-reserve=10%", NULL, 120 * MIB, 2);
			/* 64 TiB, the largest capacity a request may carry */
			expect_nothing_allocated(&a, "64 TiB volume", NULL, 64ULL << 40, 1);
		}
		snprintf(p, sizeof(p), "%s", a.local_root);
		adv_stop(&a);
	} else {
		adv_check(0, "limits: privd starts");
	}
}

/* ---- item 7: ids and images that are not ours ------------------------------ */

static void
test_not_ours(void)
{
	struct adv a;
	char stg[600], img[700], msg[600];
	/* local-path-provisioner's directory of a tenant PVC */
	const char *lpp = "pvc-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f_default_data";

	if (adv_start(&a, NULL, NULL)) {
		adv_check(0, "ids: privd starts");
		return;
	}
	staging(&a, "ids", stg, sizeof(stg));

	/* the tenant's directory is 0777 and its image blank: privd would
	 * format it and mount it for whoever knows the passphrase */
	adv_check(plant(&a, lpp, 20 * MIB, 0777, 0666) == 0, "ids: a local-path-provisioner "
		  "directory with a planted image");
	img_path(&a, lpp, img, sizeof(img));
	int cls = stage_class(&a, lpp, stg, 20 * MIB, PASS, msg, sizeof(msg));
	adv_check(cls == IPC_EC_INVALID, "ids: the local-path-provisioner-shaped id is refused "
		  "INVALID_ARGUMENT (%d: %s)", cls, msg);
	adv_check(all_zero(img) && loops_on(img) == 0, "ids: its planted image is untouched");

	/* a valid id, but the image sits in a directory a tenant can write */
	adv_check(plant(&a, "pvc-planted", 20 * MIB, 0777, 0666) == 0,
		  "ours: an image planted in a tenant-writable directory");
	img_path(&a, "pvc-planted", img, sizeof(img));
	cls = stage_class(&a, "pvc-planted", stg, 20 * MIB, PASS, msg, sizeof(msg));
	adv_check(cls == IPC_EC_PRECONDITION && strstr(msg, "refusing to open"),
		  "ours: the planted image is refused as not ours (%d: %s)", cls, msg);
	adv_check(all_zero(img) && loops_on(img) == 0, "ours: not formatted, no loop device");

	/* the same with a planted LUKS image the attacker has the key of */
	adv_check(plant_luks(&a, "pvc-planted-luks", 1000, 0777, 0666) == 0,
		  "ours: a planted LUKS image with a known passphrase");
	img_path(&a, "pvc-planted-luks", img, sizeof(img));
	cls = stage_class(&a, "pvc-planted-luks", stg, 20 * MIB, PASS, msg, sizeof(msg));
	adv_check(cls == IPC_EC_PRECONDITION && strstr(msg, "refusing to open"),
		  "ours: the planted LUKS image is refused as not ours (%d: %s)", cls, msg);
	adv_check(loops_on(img) == 0, "ours: no loop device on it");

	/* a file privd recorded as its own, swapped for another one (privd
	 * writes the record when it creates a volume; made by hand here, as
	 * creating one needs device-mapper) */
	char rec[600], tmp[760];
	adv_check(plant(&a, "pvc-own", 20 * MIB, 0700, 0600) == 0, "ours: a root-only volume");
	img_path(&a, "pvc-own", img, sizeof(img));
	struct stat st;
	snprintf(rec, sizeof(rec), "%s/.lcw-owned", a.local_root);
	mkdir(rec, 0700);
	snprintf(rec, sizeof(rec), "%s/.lcw-owned/pvc-own", a.local_root);
	FILE *f = fopen(rec, "we");
	if (f && stat(img, &st) == 0)
		fprintf(f, "%llu\n", (unsigned long long)st.st_ino);
	if (f)
		fclose(f);
	cls = stage_class(&a, "pvc-own", stg, 20 * MIB, PASS, msg, sizeof(msg));
	/* with device-mapper it is formatted and staged; without, the mapping
	 * lookup fails later: either way not refused as foreign */
	adv_check(cls >= 0 && strstr(msg, "refusing to open") == NULL,
		  "ours: the recorded file is accepted as ours (%d: %s)", cls, msg);
	if (cls == 0) {
		struct ipc_msg req = { .type = IPC_REQ_UNSTAGE }, ans;
		snprintf(req.u.unstage.volume_id, sizeof(req.u.unstage.volume_id), "pvc-own");
		snprintf(req.u.unstage.staging_path, sizeof(req.u.unstage.staging_path), "%s", stg);
		adv_check(adv_call(&a, &req, &ans, 120000) == 0 && ans.type == IPC_ANS_UNSTAGE,
			  "ours: unstaged again");
	}
	snprintf(tmp, sizeof(tmp), "%s.swap", img);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok = fd >= 0 && fallocate(fd, 0, 0, 20 * MIB) == 0;
	if (fd >= 0)
		close(fd);
	ok = ok && rename(tmp, img) == 0;
	adv_check(ok, "ours: the recorded file swapped for a blank root-only one");
	cls = stage_class(&a, "pvc-own", stg, 20 * MIB, PASS, msg, sizeof(msg));
	adv_check(cls == IPC_EC_PRECONDITION && strstr(msg, "refusing to open"),
		  "ours: the swapped file is refused as not ours (%d: %s)", cls, msg);
	adv_check(all_zero(img) && loops_on(img) == 0, "ours: the swapped file is untouched");
	adv_check(adv_privd_alive(&a), "ids: privd is still running");
	adv_stop(&a);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("# skipped: needs root\n");
		return adv_summary("adversary-volumes");
	}
	test_not_ours();
	test_limits();
	return adv_summary("adversary-volumes");
}
