/* common/k8s_pod.c: the pod UID read from a process's /proc/<pid>/cgroup,
 * which decides what --delete-unrepairable-pods may delete. Only a path
 * through kubelet's kubepods tree names a pod; anything else names none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "k8s_client.h"

#define UID "0f3c2a9e-5b1d-4c7e-9a21-3d4e5f60718a"

static int
uid_of(const char *text, char *out)
{
	return k8s_pod_uid_from_cgroup(text, strlen(text), out, K8S_UID_LEN + 1);
}

static void
test_systemd_and_cgroupfs_drivers(void **state)
{
	char uid[K8S_UID_LEN + 1];
	(void)state;

	/* systemd driver, cgroup v2, the three QoS classes */
	assert_int_equal(uid_of("0::/kubepods.slice/kubepods-besteffort.slice/"
				"kubepods-besteffort-pod0f3c2a9e_5b1d_4c7e_9a21_3d4e5f60718a.slice/"
				"cri-containerd-8e1f.scope\n", uid), 0);
	assert_string_equal(uid, UID);
	assert_int_equal(uid_of("0::/kubepods.slice/kubepods-pod0F3C2A9E_5B1D_4C7E_9A21_3D4E5F60718A"
				".slice/cri-containerd-1.scope\n", uid), 0);
	assert_string_equal(uid, UID); /* lower case, as the API has it */
	/* cgroupfs driver, cgroup v1 lines before the match */
	assert_int_equal(uid_of("12:memory:/kubepods/burstable/pod" UID "/4bd3\n"
				"0::/kubepods/burstable/pod" UID "/4bd3\n", uid), 0);
	assert_string_equal(uid, UID);
	/* seen from privd's own cgroup namespace (a container's): relative */
	assert_int_equal(uid_of("0::/../../kubepods-burstable-pod0f3c2a9e_5b1d_4c7e_9a21_"
				"3d4e5f60718a.slice/cri-containerd-2.scope", uid), 0);
	assert_string_equal(uid, UID);
	assert_int_equal(uid_of("0::/../../pod" UID "/4bd3\n", uid), 0);
	assert_string_equal(uid, UID);
}

static void
test_names_no_pod(void **state)
{
	char uid[K8S_UID_LEN + 1];
	(void)state;

	static const char *const none[] = {
		"0::/\n",
		"0::/system.slice/kubelet.service\n",
		/* a cgroupfs pod name outside the kubepods tree: not kubelet's */
		"0::/user.slice/pod" UID "/x\n",
		"0::/../x/pod" UID "/x\n",
		/* a systemd pod name that is not a kubepods slice */
		"0::/system.slice/podman-pod0f3c2a9e_5b1d_4c7e_9a21_3d4e5f60718a.slice\n",
		"0::/kubepods.slice/kubepods-pod0f3c2a9e_5b1d_4c7e_9a21_3d4e5f60718a.scope\n",
		/* the kubepods tree itself, or a QoS level, is no pod */
		"0::/kubepods.slice/kubepods-besteffort.slice\n",
		/* malformed UIDs */
		"0::/kubepods/pod0f3c2a9e-5b1d-4c7e-9a21-3d4e5f60718\n",
		"0::/kubepods/pod0f3c2a9e-5b1d-4c7e-9a21-3d4e5f60718az\n",
		"0::/kubepods/pod0f3c2a9e+5b1d-4c7e-9a21-3d4e5f60718a\n",
		"0::/kubepods/pod0f3c2a9e-5b1d-4c7e-9a21-3d4e5f60718g/x\n",
		"0::/kubepods/xpod" UID "\n",
		"no colons /kubepods/pod" UID "\n",
		"",
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		if (uid_of(none[i], uid) != -1)
			fail_msg("found a pod in %s", none[i]);
	/* no room for the answer */
	assert_int_equal(k8s_pod_uid_from_cgroup("0::/kubepods/pod" UID, 52, uid, K8S_UID_LEN), -1);
}

/* The text is not NUL-terminated where the read stopped: the parser stays
 * inside len. */
static void
test_stays_within_len(void **state)
{
	char uid[K8S_UID_LEN + 1];
	static const char text[] = "0::/kubepods/pod" UID "/c\n";
	(void)state;

	assert_int_equal(k8s_pod_uid_from_cgroup(text, strlen(text), uid, sizeof(uid)), 0);
	for (size_t cut = 0; cut < strlen("0::/kubepods/pod") + K8S_UID_LEN; cut++)
		if (k8s_pod_uid_from_cgroup(text, cut, uid, sizeof(uid)) != -1)
			fail_msg("found a pod in the first %zu bytes", cut);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_systemd_and_cgroupfs_drivers),
		cmocka_unit_test(test_names_no_pod),
		cmocka_unit_test(test_stays_within_len),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
