/* Host test of privd's block-device modules on real loop devices, libblkid
 * and libmount: loopdev.c, blkprobe.c, mountops.c, kpath.c. Needs root and
 * loop devices, not device-mapper. Scratch files live under /var/tmp (a
 * disk file system, so direct I/O is possible).
 *
 * Output: "ok - name" / "not ok - name: detail" lines, then exactly one
 * "blockops: N passed, N failed[, N skipped]" line. Everything it creates
 * is unmounted, detached and removed again, also after a failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/loop.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blkprobe.h"
#include "kpath.h"
#include "log.h"
#include "loopdev.h"
#include "mountops.h"

#define MiB (1024ULL * 1024)

static int npass, nfail, nskip;

static void
pass(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("ok - ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	npass++;
}

static void
fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("not ok - %s: ", name);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	nfail++;
}

static void
skip(const char *name, const char *why)
{
	printf("ok - %s # SKIP %s\n", name, why);
	nskip++;
}

/* Expect rc == want; returns whether it was. */
static int
expect_rc(const char *name, int rc, int want, const char *err)
{
	if (rc == want) {
		pass("%s", name);
		return 1;
	}
	fail(name, "got %d (%s), want %d%s%s", rc, rc < 0 ? strerror(-rc) : "-", want,
	     err && *err ? "; " : "", err ? err : "");
	return 0;
}

/* ---- scratch state, cleaned up whatever happens -------------------------- */

static struct {
	char dir[64];
	char tmpfs[96];            /* a tmpfs mount for the direct-I/O probe */
	char mounts[4][128];       /* real paths we may have mounted on */
	char devs[3][32];          /* loop devices we attached */
} S;

static void
note_dev(const char *dev)
{
	for (int i = 0; i < 3; i++)
		if (!S.devs[i][0]) {
			snprintf(S.devs[i], sizeof(S.devs[i]), "%s", dev);
			return;
		}
}

static void
cleanup(void)
{
	char cmd[128];

	/* Several rounds: stacked mounts come off one at a time. */
	for (int round = 0; round < 3; round++)
		for (int i = 3; i >= 0; i--)
			if (S.mounts[i][0])
				umount2(S.mounts[i], UMOUNT_NOFOLLOW);
	for (int i = 0; i < 3; i++)
		if (S.devs[i][0])
			loop_detach(S.devs[i]);
	if (S.tmpfs[0])
		umount2(S.tmpfs, MNT_DETACH);
	if (S.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", S.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup: could not remove %s\n", S.dir);
	}
}

/* ---- helpers -------------------------------------------------------------- */

/* Runs argv (stdout, and stderr when quiet, to /dev/null; stdin from `in`
 * if given); exit status. */
static int
run_q(char *const argv[], const char *in, int quiet)
{
	int pfd[2] = { -1, -1 };

	if (in && pipe2(pfd, O_CLOEXEC))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(in ? pfd[0] : null, 0);
		dup2(null, 1);
		if (quiet)
			dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (in) {
		close(pfd[0]);
		(void)!write(pfd[1], in, strlen(in));
		close(pfd[1]);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int
run(char *const argv[], const char *in)
{
	return run_q(argv, in, 0);
}

static int
make_file(const char *path, unsigned long long size)
{
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = ftruncate(fd, (off_t)size) ? -errno : 0;
	close(fd);
	return rc;
}

static const char *
in_dir(const char *name)
{
	static char bufs[8][128];
	static int i;
	char *p = bufs[i++ % 8];

	snprintf(p, 128, "%s/%s", S.dir, name);
	return p;
}

static int
has_option(const char *opts, const char *o)
{
	size_t n = strlen(o);

	for (const char *p = opts; (p = strstr(p, o)) != NULL; p += n)
		if ((p == opts || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Writing a new file in dir: 0 or -errno. */
static int
try_write(const char *dir, const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = write(fd, "hello\n", 6) == 6 ? 0 : -errno;
	close(fd);
	return rc;
}

static void
fdpath(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* A swap v1 header (version 1 at 1024, magic at the end of the first 4 KiB
 * page) over whatever is there, without wiping, unlike mkswap. */
static int
add_swap_magic(const char *path)
{
	static const unsigned char one[4] = { 1, 0, 0, 0 };
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	int rc = pwrite(fd, one, 4, 1024) == 4 && pwrite(fd, "SWAPSPACE2", 10, 4086) == 10 ? 0 : -EIO;
	close(fd);
	return rc;
}

/* A DOS partition table with one Linux partition (sectors 2048..4095). */
static int
add_mbr(const char *path)
{
	unsigned char mbr[512] = { 0 };
	unsigned char *e = mbr + 446;
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	e[4] = 0x83;                /* type: Linux */
	e[9] = 0x08;                /* start LBA 2048, little endian */
	e[13] = 0x08;               /* 2048 sectors */
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	int rc = pwrite(fd, mbr, sizeof(mbr), 0) == (ssize_t)sizeof(mbr) ? 0 : -EIO;
	close(fd);
	return rc;
}

/* ---- the tests ------------------------------------------------------------ */

static void
test_probes(const char *dev)
{
	char type[64];
	int rc;

	rc = blk_probe(dev, type, sizeof(type));
	if (rc == BLK_EMPTY && type[0] == '\0')
		pass("blk_probe fresh loop device -> BLK_EMPTY");
	else
		fail("blk_probe fresh loop device -> BLK_EMPTY", "got %d \"%s\"", rc, type);

	char *mkswap[] = { "/usr/sbin/mkswap", (char *)in_dir("swap.img"), NULL };
	if (make_file(in_dir("swap.img"), 16 * MiB) || run_q(mkswap, NULL, 1) != 0) {
		fail("blk_probe swap -> BLK_OTHER", "mkswap failed");
	} else {
		rc = blk_probe(in_dir("swap.img"), type, sizeof(type));
		if (rc == BLK_OTHER && strcmp(type, "swap") == 0)
			pass("blk_probe swap signature -> BLK_OTHER \"swap\"");
		else
			fail("blk_probe swap -> BLK_OTHER", "got %d \"%s\"", rc, type);
	}

	if (make_file(in_dir("mbr.img"), 16 * MiB) || add_mbr(in_dir("mbr.img"))) {
		fail("blk_probe partition table -> BLK_OTHER", "could not write the MBR");
	} else {
		rc = blk_probe(in_dir("mbr.img"), type, sizeof(type));
		if (rc == BLK_OTHER && strcmp(type, "dos") == 0)
			pass("blk_probe MBR partition table -> BLK_OTHER \"dos\"");
		else
			fail("blk_probe partition table -> BLK_OTHER", "got %d \"%s\"", rc, type);
	}

	/* luksFormat of a plain file needs no device-mapper. */
	char *luks[] = { "/usr/sbin/cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2",
			 "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
			 "--key-file", "-", (char *)in_dir("luks.img"), NULL };
	if (access(luks[0], X_OK)) {
		skip("blk_probe LUKS2 -> BLK_LUKS", "no cryptsetup");
	} else if (make_file(in_dir("luks.img"), 32 * MiB) || run(luks, "test-passphrase") != 0) {
		fail("blk_probe LUKS2 -> BLK_LUKS", "cryptsetup luksFormat failed");
	} else {
		rc = blk_probe(in_dir("luks.img"), type, sizeof(type));
		if (rc == BLK_LUKS && strcmp(type, "crypto_LUKS") == 0)
			pass("blk_probe LUKS2 file -> BLK_LUKS");
		else
			fail("blk_probe LUKS2 -> BLK_LUKS", "got %d \"%s\"", rc, type);
	}

	/* ext4 plus a hand-written swap signature: libblkid calls it
	 * ambivalent, which must never count as empty. */
	char *mkfs_amb[] = { "/usr/sbin/mkfs.ext4", "-q", (char *)in_dir("amb.img"), NULL };
	if (make_file(in_dir("amb.img"), 16 * MiB) || run(mkfs_amb, NULL) != 0 ||
	    add_swap_magic(in_dir("amb.img"))) {
		fail("blk_probe two signatures -> BLK_OTHER", "could not build the image");
	} else {
		rc = blk_probe(in_dir("amb.img"), type, sizeof(type));
		if (rc == BLK_OTHER)
			pass("blk_probe ext4 + swap signatures (ambivalent) -> BLK_OTHER \"%s\"", type);
		else
			fail("blk_probe two signatures -> BLK_OTHER", "got %d \"%s\"", rc, type);
	}

	rc = blk_probe(in_dir("does-not-exist"), type, sizeof(type));
	expect_rc("blk_probe missing path -> -ENOENT", rc, -ENOENT, NULL);

	char *mkfs[] = { "/usr/sbin/mkfs.ext4", "-q", (char *)dev, NULL };
	if (run(mkfs, NULL) != 0) {
		fail("mkfs.ext4 on loop device", "mkfs.ext4 failed");
		return;
	}
	rc = blk_probe(dev, type, sizeof(type));
	if (rc == BLK_FS && strcmp(type, "ext4") == 0)
		pass("blk_probe after mkfs.ext4 -> BLK_FS \"ext4\"");
	else
		fail("blk_probe after mkfs.ext4 -> BLK_FS", "got %d \"%s\"", rc, type);
}

static void
test_loop_find(const char *img, const char *dev)
{
	char found[32] = "", back[4096];
	int rc;

	rc = loop_find_by_file(img, found, sizeof(found));
	if (rc == 1 && strcmp(found, dev) == 0)
		pass("loop_find_by_file finds %s", dev);
	else
		fail("loop_find_by_file", "got %d \"%s\", want 1 \"%s\"", rc, found, dev);

	make_file(in_dir("other.img"), MiB);
	rc = loop_find_by_file(in_dir("other.img"), found, sizeof(found));
	expect_rc("loop_find_by_file other file -> 0", rc, 0, NULL);
	rc = loop_find_by_file(in_dir("missing.img"), found, sizeof(found));
	expect_rc("loop_find_by_file missing file -> 0", rc, 0, NULL);

	/* A hard link is the same inode: still found (sysfs shows the other name). */
	if (link(img, in_dir("hardlink.img")) == 0) {
		rc = loop_find_by_file(in_dir("hardlink.img"), found, sizeof(found));
		if (rc == 1 && strcmp(found, dev) == 0)
			pass("loop_find_by_file through a hard link (same inode)");
		else
			fail("loop_find_by_file hard link", "got %d", rc);
		unlink(in_dir("hardlink.img"));
	}

	rc = loop_backing_file(dev, back, sizeof(back));
	if (rc == 0 && strcmp(back, img) == 0)
		pass("loop_backing_file %s -> %s", dev, back);
	else
		fail("loop_backing_file", "got %d \"%s\"", rc, rc ? "" : back);
	expect_rc("loop_backing_file of a non-loop name -> -EINVAL",
		  loop_backing_file("/dev/sda", back, sizeof(back)), -EINVAL, NULL);
}

/* Direct I/O on tmpfs: whatever the kernel decides, attach must work. */
static void
test_tmpfs_attach(void)
{
	char dev[32], err[256] = "";
	int dio = -1;

	snprintf(S.tmpfs, sizeof(S.tmpfs), "%s", in_dir("tmpfs"));
	if (mkdir(S.tmpfs, 0700) || mount("lcw-test", S.tmpfs, "tmpfs", 0, "size=8m")) {
		S.tmpfs[0] = '\0';
		skip("loop_attach on tmpfs", "cannot mount tmpfs");
		return;
	}
	char img[160];
	snprintf(img, sizeof(img), "%s/t.img", S.tmpfs);
	make_file(img, 4 * MiB);
	int rc = loop_attach(img, dev, sizeof(dev), &dio, err, sizeof(err));
	if (rc) {
		fail("loop_attach on tmpfs", "%s", err);
		return;
	}
	note_dev(dev);
	pass("loop_attach on tmpfs: %s direct_io=%d", dev, dio);
	expect_rc("loop_detach tmpfs device", loop_detach(dev), 0, NULL);
}

/* Makes ioctl(fd, cmd1 or cmd2, ...) fail with EINVAL in this process, as
 * a kernel without LOOP_CONFIGURE (or refusing direct I/O) would. Test-only
 * filter: native x86-64/aarch64 syscalls, no arch check. */
static int
refuse_ioctls(unsigned int cmd1, unsigned int cmd2)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const unsigned int arg1 = offsetof(struct seccomp_data, args[1]);
#else
	const unsigned int arg1 = offsetof(struct seccomp_data, args[1]) + 4;
#endif
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg1),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, cmd1, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, cmd2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* loop_attach's LOOP_SET_FD fallback, in a child that cannot use
 * LOOP_CONFIGURE (and, if refuse_dio, not LOOP_SET_DIRECT_IO either). */
static void
test_legacy_attach(const char *name, int refuse_dio, int want_dio)
{
	char img[128], dev[32] = "", found[32] = "", err[256] = "";
	int pfd[2], dio = -1, rc = -1;

	snprintf(img, sizeof(img), "%s", in_dir(refuse_dio ? "legacy2.img" : "legacy1.img"));
	if (make_file(img, 8 * MiB) || pipe(pfd)) {
		fail(name, "setup: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		if (refuse_ioctls(LOOP_CONFIGURE, refuse_dio ? LOOP_SET_DIRECT_IO : LOOP_CONFIGURE))
			_exit(2);
		rc = loop_attach(img, dev, sizeof(dev), &dio, err, sizeof(err));
		dprintf(pfd[1], "%d %d %s", rc, dio, rc ? err : dev);
		_exit(0);
	}
	close(pfd[1]);
	char out[300] = "";
	ssize_t n = pid > 0 ? read(pfd[0], out, sizeof(out) - 1) : -1;
	close(pfd[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (n <= 0 || sscanf(out, "%d %d %31s", &rc, &dio, dev) != 3) {
		fail(name, "child reported nothing");
		return;
	}
	if (rc) {
		fail(name, "loop_attach: %s", strchr(strchr(out, ' ') + 1, ' ') + 1);
		return;
	}
	note_dev(dev);
	if (loop_find_by_file(img, found, sizeof(found)) == 1 && strcmp(found, dev) == 0 &&
	    dio == want_dio)
		pass("%s: %s direct_io=%d", name, dev, dio);
	else
		fail(name, "%s direct_io=%d, find -> \"%s\"", dev, dio, found);
	expect_rc("loop_detach legacy-attached device", loop_detach(dev), 0, NULL);
}

struct dirs {
	int stage_fd; /* opened before the mount: sits under it */
	char stage[128], pub[128], stage2[128];
};

/* Kubelet paths reach mountops only as kpath descriptors: these helpers
 * do what privd's handlers do. */
static int
kfd(const char *path)
{
	return kpath_open_dir(S.dir, path, KPATH_MUST_EXIST);
}

/* The mount id at path (its top mount), 0 if none. */
static unsigned long long
mid_at(const char *path)
{
	struct mnt_info mi;
	unsigned long long id = 0;
	int fd = kfd(path);

	if (fd < 0)
		return 0;
	if (mnt_lookup_fd(fd, &mi, &id) != 1)
		id = 0;
	close(fd);
	return id;
}

/* privd's unmount: the mount checked by id, removed through the parent. */
static int
unmount_path(const char *path, unsigned long long id)
{
	const char *leaf;
	int pfd = kpath_open_parent(S.dir, path, &leaf);

	if (pfd < 0)
		return pfd;
	int rc = mnt_unmount_at(pfd, leaf, id);
	close(pfd);
	return rc;
}

static int
lookup(const char *path, struct mnt_info *mi)
{
	int fd = kfd(path);

	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	int rc = mnt_lookup_fd(fd, mi, NULL);
	close(fd);
	return rc;
}

static void
test_lookup_stack(const char *stage)
{
	struct mnt_info mi;
	unsigned long long below = mid_at(stage);

	/* Something stacked on top is what lookup reports; popping it shows
	 * the volume again. */
	if (mount("lcw-stack", stage, "tmpfs", MS_NODEV | MS_NOSUID, "size=64k")) {
		fail("mnt_lookup_fd stacked mount", "mount tmpfs: %s", strerror(errno));
		return;
	}
	int rc = lookup(stage, &mi);
	if (rc == 1 && strcmp(mi.fstype, "tmpfs") == 0)
		pass("mnt_lookup_fd reports the top of stacked mounts");
	else
		fail("mnt_lookup_fd stacked mount", "got %d fstype \"%s\"", rc,
		     rc == 1 ? mi.fstype : "");
	/* the volume's id is not the top one: refused, nothing unmounted */
	expect_rc("mnt_unmount_at with the id of the mount below -> -ESTALE",
		  unmount_path(stage, below), -ESTALE, NULL);
	expect_rc("mnt_unmount_at pops the top mount (its id)", unmount_path(stage, mid_at(stage)),
		  0, NULL);
	rc = lookup(stage, &mi);
	if (rc == 1 && strcmp(mi.fstype, "ext4") == 0 && mid_at(stage) == below)
		pass("mnt_lookup_fd sees the ext4 mount again");
	else
		fail("mnt_lookup_fd after pop", "got %d \"%s\"", rc, rc == 1 ? mi.fstype : "");
}

static int
test_mount_stage(const char *dev, struct dirs *d)
{
	char err[512] = "";
	struct mnt_info mi;

	d->stage_fd = kpath_open_dir(S.dir, d->stage, KPATH_MKDIR);
	if (d->stage_fd < 0) {
		fail("kpath_open_dir staging", "%s", strerror(-d->stage_fd));
		return -1;
	}
	expect_rc("mnt_lookup_fd on a plain directory -> 0", mnt_lookup_fd(d->stage_fd, &mi, NULL),
		  0, NULL);
	snprintf(S.mounts[0], sizeof(S.mounts[0]), "%s", d->stage);
	int rc = mnt_mount_device_fd(dev, d->stage_fd, d->stage, "ext4", 0, NULL, err, sizeof(err));
	if (!expect_rc("mnt_mount_device_fd ext4 onto the kpath fd", rc, 0, err))
		return -1;

	rc = lookup(d->stage, &mi);
	if (rc == 1 && strcmp(mi.source, dev) == 0 && strcmp(mi.fstype, "ext4") == 0 &&
	    has_option(mi.options, "nodev") && has_option(mi.options, "nosuid") &&
	    has_option(mi.options, "rw") && !mi.readonly && strcmp(mi.root, "/") == 0)
		pass("mnt_lookup_fd staging: %s %s %s", mi.source, mi.fstype, mi.options);
	else
		fail("mnt_lookup_fd staging", "got %d source \"%s\" fstype \"%s\" options \"%s\"", rc,
		     rc == 1 ? mi.source : "", rc == 1 ? mi.fstype : "", rc == 1 ? mi.options : "");
	/* the pre-mount fd sits under the mount: it is no mount root */
	expect_rc("mnt_lookup_fd via the pre-mount fd -> 0 (the directory below)",
		  mnt_lookup_fd(d->stage_fd, &mi, NULL), 0, NULL);
	expect_rc("mnt_lookup (privd's own path)", mnt_lookup(d->stage, &mi), 1, NULL);

	expect_rc("staging mount is writable", try_write(d->stage, "staged.txt"), 0, NULL);
	expect_rc("mnt_count_by_source = 1", mnt_count_by_source(dev), 1, NULL);
	/* Mounting a regular file would make libmount set up a loop device. */
	rc = mnt_mount_device_fd(in_dir("other.img"), d->stage_fd, d->stage, "ext4", 0, NULL, err,
				 sizeof(err));
	expect_rc("mnt_mount_device_fd refuses a regular file (-ENOTBLK)", rc, -ENOTBLK, NULL);
	return 0;
}

static void
test_bind(const char *dev, struct dirs *d)
{
	char err[512] = "";
	struct mnt_info mi;
	struct stat st;

	int sfd = kfd(d->stage); /* the staged mount */
	int pfd = kpath_open_dir(S.dir, d->pub, KPATH_MKDIR);
	if (pfd < 0 || sfd < 0) {
		fail("kpath_open_dir publish", "%s", strerror(-(pfd < 0 ? pfd : sfd)));
		return;
	}
	snprintf(S.mounts[1], sizeof(S.mounts[1]), "%s", d->pub);
	int rc = mnt_bind_fd(sfd, pfd, 1, 0, d->pub, err, sizeof(err));
	close(pfd);
	if (!expect_rc("mnt_bind_fd read-only", rc, 0, err)) {
		close(sfd);
		return;
	}

	char seen[200];
	snprintf(seen, sizeof(seen), "%s/staged.txt", d->pub);
	if (stat(seen, &st) == 0)
		pass("bind shows the staged volume");
	else
		fail("bind shows the staged volume", "%s: %s", seen, strerror(errno));
	expect_rc("write to the read-only bind -> -EROFS", try_write(d->pub, "x"), -EROFS, NULL);
	expect_rc("staging mount stays writable", try_write(d->stage, "after-bind.txt"), 0, NULL);

	rc = lookup(d->pub, &mi);
	if (rc == 1 && mi.readonly && strcmp(mi.source, dev) == 0 && has_option(mi.options, "nodev") &&
	    has_option(mi.options, "nosuid") && !has_option(mi.options, "noexec"))
		pass("mnt_lookup_fd bind: readonly, %s", mi.options);
	else
		fail("mnt_lookup_fd bind", "got %d readonly %d options \"%s\"", rc,
		     rc == 1 ? mi.readonly : -1, rc == 1 ? mi.options : "");
	rc = lookup(d->stage, &mi);
	if (rc == 1 && !mi.readonly)
		pass("mnt_lookup_fd staging still read-write");
	else
		fail("mnt_lookup_fd staging after bind", "got %d readonly %d", rc,
		     rc == 1 ? mi.readonly : -1);
	expect_rc("mnt_count_by_source = 2 (staging + bind)", mnt_count_by_source(dev), 2, NULL);

	/* A read-write, noexec bind (as S3 binds are). */
	int rwfd = kpath_open_dir(S.dir, d->stage2, KPATH_MKDIR);
	snprintf(S.mounts[2], sizeof(S.mounts[2]), "%s", d->stage2);
	rc = rwfd < 0 ? rwfd : mnt_bind_fd(sfd, rwfd, 0, 1, d->stage2, err, sizeof(err));
	if (rwfd >= 0)
		close(rwfd);
	if (expect_rc("mnt_bind_fd read-write noexec", rc, 0, err)) {
		rc = lookup(d->stage2, &mi);
		if (rc == 1 && !mi.readonly && has_option(mi.options, "nodev") &&
		    has_option(mi.options, "nosuid") && has_option(mi.options, "noexec") &&
		    try_write(d->stage2, "rw.txt") == 0)
			pass("read-write bind is writable: %s", mi.options);
		else
			fail("read-write bind", "got %d options \"%s\"", rc, rc == 1 ? mi.options : "");
		expect_rc("mnt_unmount_at read-write bind", unmount_path(d->stage2, mid_at(d->stage2)),
			  0, NULL);
	}

	/* The fd is what counts: once a component of the checked path is
	 * swapped for a symlink to elsewhere, the bind still lands on the
	 * directory that was checked, and nothing appears at the other end. */
	char dir[160], moved[160], outside[160], leaf[200];
	snprintf(dir, sizeof(dir), "%s", in_dir("swap"));
	snprintf(moved, sizeof(moved), "%s", in_dir("swap.moved"));
	snprintf(outside, sizeof(outside), "%s", in_dir("outside"));
	snprintf(leaf, sizeof(leaf), "%s/mount", dir);
	mkdir(dir, 0755);
	mkdir(outside, 0755);
	snprintf(seen, sizeof(seen), "%s/mount", outside);
	mkdir(seen, 0755);
	int tfd = kpath_open_dir(S.dir, leaf, KPATH_MKDIR);
	if (tfd >= 0 && rename(dir, moved) == 0 && symlink(outside, dir) == 0) {
		rc = mnt_bind_fd(sfd, tfd, 1, 1, leaf, err, sizeof(err));
		char real[200];
		snprintf(real, sizeof(real), "%s/mount/staged.txt", moved);
		snprintf(seen, sizeof(seen), "%s/mount/staged.txt", outside);
		if (rc == 0 && stat(real, &st) == 0 && stat(seen, &st) != 0)
			pass("bind through the checked fd ignores a symlink swapped in afterwards");
		else
			fail("bind after a symlink swap", "rc %d", rc);
		snprintf(real, sizeof(real), "%s/mount", moved);
		umount2(real, UMOUNT_NOFOLLOW);
		unlink(dir);
	} else {
		fail("symlink swap setup", "%s", strerror(errno));
	}
	if (tfd >= 0)
		close(tfd);
	close(sfd);
}

/* Options in `data` cannot undo nodev/nosuid. */
static void
test_data_options(const char *dev, struct dirs *d)
{
	char err[512] = "";
	struct mnt_info mi;
	int fd = kpath_open_dir(S.dir, d->stage2, KPATH_MKDIR);

	if (fd < 0) {
		fail("kpath_open_dir stage2", "%s", strerror(-fd));
		return;
	}
	snprintf(S.mounts[2], sizeof(S.mounts[2]), "%s", d->stage2);
	int rc = mnt_mount_device_fd(dev, fd, d->stage2, "ext4", MS_NOEXEC,
				     "suid,dev,errors=remount-ro", err, sizeof(err));
	if (!expect_rc("mnt_mount_device_fd with data \"suid,dev,errors=remount-ro\"", rc, 0, err)) {
		close(fd);
		return;
	}
	rc = lookup(d->stage2, &mi);
	if (rc == 1 && has_option(mi.options, "nodev") && has_option(mi.options, "nosuid") &&
	    has_option(mi.options, "noexec"))
		pass("data cannot clear nodev/nosuid: %s", mi.options);
	else
		fail("data cannot clear nodev/nosuid", "got %d options \"%s\"", rc,
		     rc == 1 ? mi.options : "");
	expect_rc("mnt_count_by_source = 3", mnt_count_by_source(dev), 3, NULL);
	expect_rc("mnt_unmount_at stage2", unmount_path(d->stage2, mid_at(d->stage2)), 0, NULL);
	rc = mnt_mount_device_fd(dev, fd, d->stage2, "nosuchfs", 0, NULL, err, sizeof(err));
	close(fd);
	if (rc < 0 && err[0])
		pass("mnt_mount_device_fd unknown fs type fails: %d (%s)", rc, err);
	else
		fail("mnt_mount_device_fd unknown fs type", "got %d", rc);
}

static void
test_unmount(const char *dev, struct dirs *d)
{
	char tgt[64];
	struct mnt_info mi;
	unsigned long long pub = mid_at(d->pub), stage = mid_at(d->stage);

	/* A caller's fd inside the mount pins it: the kernel says EBUSY. */
	int inside = kpath_open_dir(S.dir, d->pub, KPATH_MUST_EXIST);
	expect_rc("mnt_unmount_at while an fd is inside -> -EBUSY", unmount_path(d->pub, pub),
		  -EBUSY, NULL);
	/* and umount2 of that fd's own magic link is EBUSY too (the fd
	 * itself holds the mount): why unmounts go through the parent */
	fdpath(tgt, sizeof(tgt), inside);
	expect_rc("umount2(/proc/self/fd/N) of an fd on the mount -> -EBUSY",
		  umount2(tgt, 0) ? -errno : 0, -EBUSY, NULL);
	close(inside);
	expect_rc("loop_detach while mounted -> -EBUSY", loop_detach(dev), -EBUSY, NULL);

	expect_rc("mnt_unmount_at with another mount's id -> -ESTALE", unmount_path(d->pub, stage),
		  -ESTALE, NULL);
	expect_rc("mnt_unmount_at bind", unmount_path(d->pub, pub), 0, NULL);
	expect_rc("mnt_unmount_at staging", unmount_path(d->stage, stage), 0, NULL);
	close(d->stage_fd);
	d->stage_fd = -1;
	if (lookup(d->stage, &mi) == 0 && lookup(d->pub, &mi) == 0)
		pass("mnt_lookup_fd: nothing mounted any more");
	else
		fail("mnt_lookup_fd after unmount", "still mounted");
	expect_rc("mnt_count_by_source = 0", mnt_count_by_source(dev), 0, NULL);
	expect_rc("mnt_unmount_at not mounted (gone) -> 0", unmount_path(d->stage, stage), 0, NULL);
	expect_rc("mnt_unmount_at missing dir -> -ENOENT", unmount_path(in_dir("nope/x"), stage),
		  -ENOENT, NULL);

	/* mnt_detach_fd takes exactly the mount the fd is on, lazily */
	int fd = kpath_open_dir(S.dir, d->stage2, KPATH_MKDIR);
	snprintf(S.mounts[2], sizeof(S.mounts[2]), "%s", d->stage2);
	if (fd >= 0 && mount("lcw-a", d->stage2, "tmpfs", MS_NODEV | MS_NOSUID, "size=64k") == 0 &&
	    mount("lcw-b", d->stage2, "tmpfs", MS_NODEV | MS_NOSUID, "size=64k") == 0) {
		int top = kfd(d->stage2);
		close(fd);
		expect_rc("mnt_detach_fd of the top mount", mnt_detach_fd(top), 0, NULL);
		close(top);
		if (lookup(d->stage2, &mi) == 1 && strcmp(mi.source, "lcw-a") == 0)
			pass("mnt_detach_fd removed only the mount its fd was on");
		else
			fail("mnt_detach_fd", "the mount below is gone too");
		top = kfd(d->stage2);
		mnt_detach_fd(top);
		close(top);
	} else {
		fail("tmpfs stack for mnt_detach_fd", "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
	}

	expect_rc("kpath_remove_dir publish", kpath_remove_dir(S.dir, d->pub), 0, NULL);
	expect_rc("kpath_remove_dir non-empty staging dir is kept",
		  mkdir(in_dir("stage/keep"), 0700) ? -errno : kpath_remove_dir(S.dir, d->stage),
		  -ENOTEMPTY, NULL);
}

/* S3 volumes: rclone mounts on a private directory, kubelet paths get
 * binds made through their fd (noexec), and after rclone dies the dead
 * bind is still reachable through kpath and detached by its fd alone.
 * Needs rclone (as the S3 suite does); skipped without it. */
static void
test_fuse_dead(void)
{
	char priv[160], src[160], tgt[200], f[240], err[512] = "";
	struct mnt_info mi;
	struct statvfs sv;

	if (access("/usr/bin/rclone", X_OK)) {
		skip("FUSE binds", "no /usr/bin/rclone");
		return;
	}
	snprintf(priv, sizeof(priv), "%s", in_dir("rclone-mnt"));
	snprintf(src, sizeof(src), "%s", in_dir("fuse-src"));
	snprintf(tgt, sizeof(tgt), "%s", in_dir("fpod/mount"));
	mkdir(priv, 0700);
	mkdir(src, 0755);
	mkdir(in_dir("fpod"), 0755);
	snprintf(f, sizeof(f), "%s/hello", src);
	int wfd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (wfd >= 0)
		close(wfd);
	char remote[200];
	snprintf(remote, sizeof(remote), ":local:%s", src);
	pid_t pid = fork();
	if (pid == 0) {
		char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", NULL };
		int dn = open("/dev/null", O_RDWR);
		dup2(dn, 0);
		dup2(dn, 1);
		dup2(dn, 2);
		execle("/usr/bin/rclone", "rclone", "mount", remote, priv, "--config", "/dev/null",
		       (char *)NULL, env);
		_exit(127);
	}
	int up = 0;
	for (int i = 0; i < 100 && !up; i++) {
		usleep(100000);
		up = mnt_lookup(priv, &mi) == 1 && strncmp(mi.fstype, "fuse", 4) == 0;
	}
	if (!up) {
		fail("FUSE binds", "rclone mount did not appear");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return;
	}
	int pfd = open(priv, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int tfd = kpath_open_dir(S.dir, tgt, KPATH_MKDIR);
	int rc = mnt_bind_fd(pfd, tfd, 0, 1, tgt, err, sizeof(err));
	close(tfd);
	close(pfd);
	if (expect_rc("mnt_bind_fd of the rclone mount (noexec)", rc, 0, err)) {
		snprintf(f, sizeof(f), "%s/hello", tgt);
		if (lookup(tgt, &mi) == 1 && has_option(mi.options, "noexec") &&
		    has_option(mi.options, "nosuid") && has_option(mi.options, "nodev") &&
		    access(f, F_OK) == 0)
			pass("FUSE bind shows the files, %s", mi.options);
		else
			fail("FUSE bind", "options \"%s\"", mi.options);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* the bind is dead now: still found, symlink-free, and detached by fd */
	int fd = kfd(tgt);
	if (fd < 0) {
		fail("kpath_open_dir of a dead FUSE bind", "%s", strerror(-fd));
	} else {
		int m = mnt_lookup_fd(fd, &mi, NULL);
		int dead = fstatvfs(fd, &sv) != 0;
		if (m == 1 && strncmp(mi.fstype, "fuse", 4) == 0 && dead)
			pass("dead FUSE bind: reachable, identified (%s), not answering", mi.fstype);
		else
			fail("dead FUSE bind", "lookup %d fstype \"%s\" dead %d", m,
			     m == 1 ? mi.fstype : "", dead);
		expect_rc("mnt_detach_fd of the dead bind", mnt_detach_fd(fd), 0, NULL);
		close(fd);
		expect_rc("nothing left at the target", lookup(tgt, &mi), 0, NULL);
	}
	fd = open(priv, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && mnt_lookup_fd(fd, &mi, NULL) == 1)
		expect_rc("mnt_detach_fd of rclone's dead private mount", mnt_detach_fd(fd), 0, NULL);
	if (fd >= 0)
		close(fd);
}

static void
test_grow(const char *img, const char *dev)
{
	unsigned long long sz = 0;
	int rc = blockdev_size(dev, &sz);

	if (!(rc == 0 && sz == 64 * MiB))
		fail("blockdev_size before grow", "got %d, %llu bytes", rc, sz);
	int fd = open(img, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)(96 * MiB))) {
		fail("grow backing file", "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	expect_rc("loop_refresh_capacity", loop_refresh_capacity(dev), 0, NULL);
	rc = blockdev_size(dev, &sz);
	if (rc == 0 && sz == 96 * MiB)
		pass("blockdev_size after grow: %llu", sz);
	else
		fail("blockdev_size after grow", "got %d, %llu bytes, want %llu", rc, sz, 96 * MiB);
}

int
main(void)
{
	char dev[32], err[512] = "";
	int dio = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("test_blockops", LOG_INFO);
	if (geteuid() != 0) {
		fprintf(stderr, "##########################################################\n"
				"# SKIP: test_blockops needs root (loop devices, mount)\n"
				"##########################################################\n");
		printf("blockops: 0 passed, 0 failed, 1 skipped\n");
		return 0;
	}
	snprintf(S.dir, sizeof(S.dir), "/var/tmp/lcw-blockops.XXXXXX");
	if (!mkdtemp(S.dir)) {
		S.dir[0] = '\0';
		fail("scratch dir", "%s", strerror(errno));
		goto out;
	}
	char img[128];
	snprintf(img, sizeof(img), "%s", in_dir("vol.img"));
	if (make_file(img, 64 * MiB)) {
		fail("sparse backing file", "%s", strerror(errno));
		goto out;
	}
	int rc = loop_attach(img, dev, sizeof(dev), &dio, err, sizeof(err));
	if (!expect_rc("loop_attach", rc, 0, err))
		goto out;
	note_dev(dev);
	pass("attached %s direct_io=%d", dev, dio);

	test_loop_find(img, dev);
	test_tmpfs_attach();
	test_legacy_attach("loop_attach without LOOP_CONFIGURE (LOOP_SET_FD path)", 0, 1);
	test_legacy_attach("loop_attach without LOOP_CONFIGURE, direct I/O refused", 1, 0);
	test_probes(dev);

	struct dirs d = { .stage_fd = -1 };
	snprintf(d.stage, sizeof(d.stage), "%s", in_dir("stage"));
	snprintf(d.pub, sizeof(d.pub), "%s", in_dir("pub"));
	snprintf(d.stage2, sizeof(d.stage2), "%s", in_dir("stage2"));
	if (test_mount_stage(dev, &d) == 0) {
		test_lookup_stack(d.stage);
		test_bind(dev, &d);
		test_data_options(dev, &d);
		test_unmount(dev, &d);
	}
	if (d.stage_fd >= 0)
		close(d.stage_fd);
	test_fuse_dead();

	test_grow(img, dev);
	expect_rc("loop_detach", loop_detach(dev), 0, NULL);
	char found[32];
	expect_rc("loop_find_by_file after detach -> 0", loop_find_by_file(img, found, sizeof(found)),
		  0, NULL);
	expect_rc("loop_detach again -> 0", loop_detach(dev), 0, NULL);
out:
	cleanup();
	if (nskip)
		printf("blockops: %d passed, %d failed, %d skipped\n", npass, nfail, nskip);
	else
		printf("blockops: %d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
