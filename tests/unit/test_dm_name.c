/* Unit tests of privd/luks/dm_name.c: which ids keep the Go driver's
 * mapping name "luks-<id>", and the hashed name of ids too long for it
 * (device-mapper names hold 127 bytes; CSI volume ids may have 128). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dm_name.h"
#include "volparams.h"

static void
id_of(char *id, size_t len, char c)
{
	memset(id, c, len);
	id[len] = '\0';
}

static void
test_literal_up_to_the_limit(void **state)
{
	char id[VOLID_MAX + 1], name[DM_NAME_BUF], want[DM_NAME_BUF + 8];
	(void)state;
	assert_int_equal(luks_dm_name("pvc-1234", name, sizeof(name)), 0);
	assert_string_equal(name, "luks-pvc-1234");
	for (size_t len = 1; len <= DM_LITERAL_ID_MAX; len++) {
		id_of(id, len, 'a');
		assert_int_equal(luks_dm_name(id, name, sizeof(name)), 0);
		snprintf(want, sizeof(want), "luks-%s", id);
		assert_string_equal(name, want);
		assert_true(strlen(name) <= DM_NAME_MAX);
	}
	assert_int_equal(DM_LITERAL_ID_MAX, 122);
}

static void
test_long_ids_are_hashed(void **state)
{
	char id[VOLID_MAX + 1], name[DM_NAME_BUF];
	(void)state;
	/* SHA-256 of 123 'a's, from Python's hashlib. */
	id_of(id, 123, 'a');
	assert_int_equal(volid_valid(id), 0);
	assert_int_equal(luks_dm_name(id, name, sizeof(name)), 0);
	assert_string_equal(name,
			    "luks_6675ba780648c8506cb002c86621f9d33f8093e12541c690a8d3261c47c92bcc");
	for (size_t len = DM_LITERAL_ID_MAX + 1; len <= VOLID_MAX; len++) {
		id_of(id, len, 'b');
		assert_int_equal(volid_valid(id), 0);
		assert_int_equal(luks_dm_name(id, name, sizeof(name)), 0);
		assert_int_equal(strlen(name), 5 + 64);
		assert_memory_equal(name, "luks_", 5);
		assert_null(strchr(name + 5, '_'));
	}
}

static void
test_long_ids_differ_and_never_look_literal(void **state)
{
	char a[VOLID_MAX + 1], b[VOLID_MAX + 1], na[DM_NAME_BUF], nb[DM_NAME_BUF];
	(void)state;
	id_of(a, VOLID_MAX, 'x');
	id_of(b, VOLID_MAX, 'x');
	b[VOLID_MAX - 1] = 'y';
	assert_int_equal(luks_dm_name(a, na, sizeof(na)), 0);
	assert_int_equal(luks_dm_name(b, nb, sizeof(nb)), 0);
	assert_string_not_equal(na, nb);
	/* A literal name starts "luks-": the hashed shape never does. */
	assert_int_not_equal(strncmp(na, "luks-", 5), 0);
	/* And the shape cannot be an id, so no short id maps onto it. */
	assert_int_not_equal(volid_valid(na), 0);
}

static void
test_small_buffers_refused(void **state)
{
	char id[VOLID_MAX + 1], name[16];
	(void)state;
	id_of(id, VOLID_MAX, 'c');
	assert_int_equal(luks_dm_name(id, name, sizeof(name)), -1);
	assert_int_equal(luks_dm_name("a-long-enough-id", name, sizeof(name)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_up_to_the_limit),
		cmocka_unit_test(test_long_ids_are_hashed),
		cmocka_unit_test(test_long_ids_differ_and_never_look_literal),
		cmocka_unit_test(test_small_buffers_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
