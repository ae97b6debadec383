/* Unit tests of pb_find_nul_string (frontend/pb_strings.c): requests are
 * packed with protobuf-c, then a marker byte is turned into NUL, as a
 * hostile client would send it. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "csi.pb-c.h"
#include "pb_strings.h"

static uint8_t buf[4096];
static size_t len;
static char field[128];

static void
pack(const ProtobufCMessage *m)
{
	len = protobuf_c_message_get_packed_size(m);
	assert_true(len < sizeof(buf));
	protobuf_c_message_pack(m, buf);
}

/* Turn the marker '#' into NUL (each call the next one). */
static void
poison(void)
{
	uint8_t *p = memchr(buf, '#', len);
	assert_non_null(p);
	*p = 0;
}

static int
scan(const ProtobufCMessageDescriptor *d)
{
	return pb_find_nul_string(d, buf, len, field, sizeof(field));
}

static void
top_level_string(void **state)
{
	Csi__V1__CreateVolumeRequest r = CSI__V1__CREATE_VOLUME_REQUEST__INIT;
	(void)state;
	r.name = "pvc-a#x";
	pack(&r.base);
	assert_int_equal(scan(&csi__v1__create_volume_request__descriptor), 0);
	poison();
	assert_int_equal(scan(&csi__v1__create_volume_request__descriptor), 1);
	assert_string_equal(field, "name");
}

static void
map_key_and_value(void **state)
{
	Csi__V1__NodeStageVolumeRequest r = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
	Csi__V1__NodeStageVolumeRequest__SecretsEntry s = CSI__V1__NODE_STAGE_VOLUME_REQUEST__SECRETS_ENTRY__INIT;
	Csi__V1__NodeStageVolumeRequest__SecretsEntry *sp = &s;
	(void)state;
	r.volume_id = "pvc-1";
	r.staging_target_path = "/k/s";
	s.key = "passphrase";
	s.value = "a#random";
	r.n_secrets = 1;
	r.secrets = &sp;
	pack(&r.base);
	poison();
	assert_int_equal(scan(&csi__v1__node_stage_volume_request__descriptor), 1);
	assert_string_equal(field, "secrets.value");
	s.key = "pass#phrase";
	s.value = "secret";
	pack(&r.base);
	poison();
	assert_int_equal(scan(&csi__v1__node_stage_volume_request__descriptor), 1);
	assert_string_equal(field, "secrets.key");
}

static void
nested_repeated_string(void **state)
{
	Csi__V1__NodeStageVolumeRequest r = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
	Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
	Csi__V1__VolumeCapability__MountVolume mv = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	char *flags[] = { "noatime", "ro#x" };
	(void)state;
	r.volume_id = "pvc-1";
	cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	cap.mount = &mv;
	mv.fs_type = "ext4";
	mv.n_mount_flags = 2;
	mv.mount_flags = flags;
	r.volume_capability = &cap;
	pack(&r.base);
	assert_int_equal(scan(&csi__v1__node_stage_volume_request__descriptor), 0);
	assert_string_equal(field, "");
	poison();
	assert_int_equal(scan(&csi__v1__node_stage_volume_request__descriptor), 1);
	assert_string_equal(field, "volume_capability.mount.mount_flags");
}

/* Legal encodings protobuf-c itself would not produce are judged alike. */
static void
unknown_fields_and_long_varints(void **state)
{
	/* field 99 (unknown) as a string holding NUL, then name = "ok" with
	 * its length written as a two-byte varint */
	static const uint8_t m[] = { 0x9a, 0x06, 0x02, 'a', 0x00, 0x0a, 0x82, 0x00, 'o', 'k' };
	(void)state;
	memcpy(buf, m, sizeof(m));
	len = sizeof(m);
	assert_int_equal(scan(&csi__v1__create_volume_request__descriptor), 0);
	buf[9] = 0;
	assert_int_equal(scan(&csi__v1__create_volume_request__descriptor), 1);
	assert_string_equal(field, "name");
}

static void
bytes_fields_may_hold_nul(void **state)
{
	/* bytes are counted, not cut: GetPluginInfo has none, so use an
	 * unknown length-delimited field and a varint next to it */
	static const uint8_t m[] = { 0x08, 0x00, 0x12, 0x01, 0x00 };
	(void)state;
	memcpy(buf, m, sizeof(m));
	len = sizeof(m);
	assert_int_equal(scan(&csi__v1__get_plugin_info_request__descriptor), 0);
}

static void
malformed_input(void **state)
{
	static const uint8_t trunc[] = { 0x0a, 0x05, 'a', 'b' };   /* length past the end */
	static const uint8_t group[] = { 0x0b, 0x0c };             /* start/end group */
	static const uint8_t badvar[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0xff, 0xff, 0x01 };
	(void)state;
	assert_int_equal(pb_find_nul_string(&csi__v1__create_volume_request__descriptor, trunc,
					    sizeof(trunc), field, sizeof(field)), -1);
	assert_int_equal(pb_find_nul_string(&csi__v1__create_volume_request__descriptor, group,
					    sizeof(group), field, sizeof(field)), -1);
	assert_int_equal(pb_find_nul_string(&csi__v1__create_volume_request__descriptor, badvar,
					    sizeof(badvar), field, sizeof(field)), -1);
	assert_int_equal(pb_find_nul_string(&csi__v1__create_volume_request__descriptor, NULL, 0,
					    field, sizeof(field)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(top_level_string),
		cmocka_unit_test(map_key_and_value),
		cmocka_unit_test(nested_repeated_string),
		cmocka_unit_test(unknown_fields_and_long_varints),
		cmocka_unit_test(bytes_fields_may_hold_nul),
		cmocka_unit_test(malformed_input),
	};
	return cmocka_run_group_tests_name("pb_strings", tests, NULL, NULL) ? 1 : 0;
}
