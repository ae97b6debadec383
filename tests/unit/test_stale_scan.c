/* privd/s3/stale_scan.c: which mounts of a volume in another process's
 * mountinfo are dead, and how their mount points are split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stale_scan.h"

#define SRC "pvc-1:"
#define FT "fuse.rclone"

/* Live rclone mount: device 0:77. A pod's namespace with the dead bind
 * (0:55) at two places, one read-only and one with a space in its path,
 * another volume's dead mount, and a dead mount covered by a live one. */
static const char table[] =
	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	"30 22 0:5 / /proc rw,nosuid - proc proc rw\n"
	"40 22 0:55 / /data rw,nosuid,nodev,noexec master:7 - fuse.rclone pvc-1: rw,user_id=0\n"
	"41 22 0:55 / /mnt/my\\040view ro,nosuid,nodev - fuse.rclone pvc-1: rw\n"
	"42 22 0:56 / /other rw - fuse.rclone pvc-2: rw\n"
	"43 22 0:77 / /live rw - fuse.rclone pvc-1: rw\n"
	"44 22 0:55 / /covered rw - fuse.rclone pvc-1: rw\n"
	"45 44 0:77 / /covered rw - fuse.rclone pvc-1: rw\n"
	"46 22 0:55 / /prefix rw - fuse.rclone pvc-10: rw\n";

static void
test_finds_dead_mounts(void **state)
{
	struct stale_mount m[8];
	(void)state;

	int n = stale_scan(table, strlen(table), SRC, FT, 0, 77, m, 8);
	assert_int_equal(n, 2);
	assert_int_equal(m[0].id, 40);
	assert_int_equal(m[0].parent, 22);
	assert_string_equal(m[0].path, "/data");
	assert_false(m[0].readonly);
	assert_true(m[0].noexec);
	assert_true(m[0].parent_shared); /* mount 22 is shared:1 */
	assert_int_equal(m[1].id, 41);
	assert_string_equal(m[1].path, "/mnt/my view");
	assert_true(m[1].readonly);
	assert_false(m[1].noexec);
}

static void
test_private_parent(void **state)
{
	static const char t[] = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
				"40 22 0:55 / /data rw - fuse.rclone pvc-1: rw\n";
	struct stale_mount m[2];
	(void)state;

	assert_int_equal(stale_scan(t, strlen(t), SRC, FT, 0, 77, m, 2), 1);
	assert_false(m[0].parent_shared);
	/* the live device is not dead */
	assert_int_equal(stale_scan(t, strlen(t), SRC, FT, 0, 55, m, 2), 0);
	/* another fstype with the same name is not ours */
	assert_int_equal(stale_scan(t, strlen(t), SRC, "fuse.other", 0, 77, m, 2), 0);
}

static void
test_truncated_and_malformed(void **state)
{
	static const char cut[] = "40 22 0:55 / /data rw - fuse.rclone pvc-1: rw\n"
				  "41 22 0:55 / /da";
	static const char bad[] = "40 22 0:55 / /data rw fuse.rclone pvc-1: rw\n";
	static const char badid[] = "4x 22 0:55 / /data rw - fuse.rclone pvc-1: rw\n";
	struct stale_mount m[2];
	(void)state;

	assert_int_equal(stale_scan(cut, strlen(cut), SRC, FT, 0, 77, m, 2), 1);
	assert_int_equal(stale_scan(bad, strlen(bad), SRC, FT, 0, 77, m, 2), -1);
	assert_int_equal(stale_scan(badid, strlen(badid), SRC, FT, 0, 77, m, 2), -1);
	/* more than fit: max stored, the rest counted without the covered
	 * check (an upper bound: 40 stored; 41 and the covered 44 counted) */
	assert_int_equal(stale_scan(table, strlen(table), SRC, FT, 0, 77, m, 1), 3);
	assert_int_equal(m[0].id, 40);
}

static void
test_path_split(void **state)
{
	char d[64], l[16];
	(void)state;

	assert_int_equal(stale_path_split("/data", d, sizeof(d), l, sizeof(l)), 0);
	assert_string_equal(d, "/");
	assert_string_equal(l, "data");
	assert_int_equal(stale_path_split("/a/b c/leaf", d, sizeof(d), l, sizeof(l)), 0);
	assert_string_equal(d, "/a/b c");
	assert_string_equal(l, "leaf");
	static const char *const bad[] = { "/", "", "data", "/a/", "/a//b", "/a/../b", "/..",
					   "/a/.", "/./a", "/a/waytoolongleafname" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (stale_path_split(bad[i], d, sizeof(d), l, sizeof(l)) != -1)
			fail_msg("accepted %s", bad[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_dead_mounts),
		cmocka_unit_test(test_private_parent),
		cmocka_unit_test(test_truncated_and_malformed),
		cmocka_unit_test(test_path_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
