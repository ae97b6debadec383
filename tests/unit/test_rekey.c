/* Unit tests of the keyslot swap (privd/luks/luks_rekey.c) on LUKS2 headers
 * in plain files: verifying a passphrase and rewriting keyslots needs no
 * device-mapper, so this runs on the host. The crash tests fork a child
 * that stops dead (_exit) right after each step of the swap, then check
 * that the header still opens with the old or the new passphrase and that a
 * retry completes. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "luks.h"
#include "luks_rekey.h"
#include "secmem.h"

static const struct luks_pbkdf KDF = { 8192, 4, 1 }; /* small: a test */
static char dir[64], file[128];
static struct lcw_secret OLD, NEW, OTHER;

static void
set(struct lcw_secret *s, const char *p)
{
	if (s->bytes == NULL)
		assert_int_equal(secret_alloc(s), 0);
	assert_int_equal(secret_set(s, p, strlen(p)), 0);
}

/* A fresh 20 MiB file formatted with passphrase p. */
static void
fresh(const struct lcw_secret *p)
{
	char err[256];
	int fd;

	snprintf(file, sizeof(file), "%s/vol.img", dir);
	unlink(file);
	fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 20 << 20), 0);
	close(fd);
	assert_int_equal(luks_format(file, p, &KDF, err, sizeof(err)), 0);
}

/* Which keyslot p opens in file: its number, or -EPERM. */
static int
opens(const struct lcw_secret *p)
{
	struct crypt_device *cd;
	int r;

	assert_int_equal(crypt_init(&cd, file), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *)p->bytes, p->len,
					 0);
	crypt_free(cd);
	return r;
}

/* The rotation token's JSON, or "" if there is none. */
static void
token(char *out, size_t len)
{
	struct crypt_device *cd;

	out[0] = 0;
	assert_int_equal(crypt_init(&cd, file), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	for (int i = 0; i < 32; i++) {
		const char *type = NULL, *json = NULL;
		crypt_token_info ti = crypt_token_status(cd, i, &type);
		if (ti == CRYPT_TOKEN_INVALID)
			break;
		if (ti != CRYPT_TOKEN_INACTIVE && type && strcmp(type, LUKS_ROTATION_TOKEN) == 0 &&
		    crypt_token_json_get(cd, i, &json) >= 0) {
			snprintf(out, len, "%s", json);
			break;
		}
	}
	crypt_free(cd);
}

static int
rekey(const struct lcw_secret *o, const struct lcw_secret *n, luks_rekey_hook hook,
      struct luks_rekey_res *res)
{
	char err[384];
	return luks_rekey(file, o, n, &KDF, 1765000000, hook, NULL, res, err, sizeof(err));
}

static void
test_token_json(void **state)
{
	char j[160];
	(void)state;
	assert_int_equal(luks_rotation_token_json(1765000000, 1, j, sizeof(j)), 0);
	assert_string_equal(j, "{\"type\":\"lukscryptwalker-rotation\",\"keyslots\":[],"
			       "\"rotated_at\":\"2025-12-06T05:46:40Z\",\"keyslot\":\"1\"}");
	assert_int_equal(luks_rotation_token_json(1765000000, 1, j, 20), -ENOSPC);
	assert_int_equal(luks_rotation_token_json(1765000000, -1, j, sizeof(j)), -EINVAL);
}

static void
test_swap_moves_to_the_new_passphrase(void **state)
{
	struct luks_rekey_res res;
	char tok[256];
	(void)state;
	fresh(&OLD);
	assert_int_equal(opens(&OLD), 0);
	assert_int_equal(rekey(&OLD, &NEW, NULL, &res), 0);
	assert_int_equal(res.old_slot, 0);
	assert_true(res.new_slot > 0);
	assert_int_equal(res.destroyed, 1);
	assert_true(res.changed);
	assert_int_equal(opens(&OLD), -EPERM);
	assert_int_equal(opens(&NEW), res.new_slot);
	token(tok, sizeof(tok));
	assert_non_null(strstr(tok, "\"rotated_at\":\"2025-12-06T05:46:40Z\""));

	/* Again: nothing left to do, nothing written. */
	assert_int_equal(rekey(&OLD, &NEW, NULL, &res), 0);
	assert_false(res.changed);
	assert_int_equal(res.old_slot, -1);

	/* And on to a third passphrase: the token is replaced, not added. */
	assert_int_equal(rekey(&NEW, &OTHER, NULL, &res), 0);
	assert_int_equal(opens(&NEW), -EPERM);
	assert_true(opens(&OTHER) >= 0);
}

static void
test_wrong_passphrases_change_nothing(void **state)
{
	struct luks_rekey_res res;
	char before[4096], after[4096];
	int fd;
	(void)state;
	fresh(&OLD);
	fd = open(file, O_RDONLY);
	assert_int_equal(pread(fd, before, sizeof(before), 0), (ssize_t)sizeof(before));
	assert_int_equal(rekey(&OTHER, &NEW, NULL, &res), -EPERM);
	assert_false(res.changed);
	assert_int_equal(pread(fd, after, sizeof(after), 0), (ssize_t)sizeof(after));
	close(fd);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(rekey(&OLD, &OLD, NULL, &res), -EINVAL);
	assert_int_equal(opens(&OLD), 0);
}

static void
test_every_old_keyslot_goes(void **state)
{
	struct luks_rekey_res res;
	struct crypt_device *cd;
	(void)state;
	fresh(&OLD);
	assert_int_equal(crypt_init(&cd, file), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	struct crypt_pbkdf_type p = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256",
		.iterations = 1000, .flags = CRYPT_PBKDF_NO_BENCHMARK };
	assert_int_equal(crypt_set_pbkdf_type(cd, &p), 0);
	assert_int_equal(crypt_keyslot_add_by_passphrase(cd, 5, (const char *)OLD.bytes, OLD.len,
							 (const char *)OLD.bytes, OLD.len), 5);
	crypt_free(cd);
	assert_int_equal(rekey(&OLD, &NEW, NULL, &res), 0);
	assert_int_equal(res.destroyed, 2);
	assert_int_equal(opens(&OLD), -EPERM);
	assert_true(opens(&NEW) >= 0);
}

static int crash_at;

static void
die_at(enum luks_rekey_step step, void *ud)
{
	(void)ud;
	if ((int)step == crash_at)
		_exit(42);
}

static void
test_crash_after_each_step_then_retry(void **state)
{
	(void)state;
	for (crash_at = LUKS_REKEY_ADDED; crash_at <= LUKS_REKEY_DESTROYED; crash_at++) {
		struct luks_rekey_res res;
		int ws;
		fresh(&OLD);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			rekey(&OLD, &NEW, die_at, &res);
			_exit(0); /* the hook never fired: a failure below */
		}
		assert_int_equal(waitpid(pid, &ws, 0), pid);
		assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 42);
		int o = opens(&OLD), n = opens(&NEW);
		/* never neither; before the destroy both */
		assert_true(o >= 0 || n >= 0);
		if (crash_at < LUKS_REKEY_DESTROYED)
			assert_true(o >= 0 && n >= 0);
		else
			assert_true(o == -EPERM && n >= 0);
		assert_int_equal(rekey(&OLD, &NEW, NULL, &res), 0);
		assert_int_equal(opens(&OLD), -EPERM);
		assert_true(opens(&NEW) >= 0);
	}
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/lcw-rekey-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	set(&OLD, "old passphrase");
	set(&NEW, "new passphrase");
	set(&OTHER, "a third one");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(file);
	rmdir(dir);
	secret_free(&OLD);
	secret_free(&NEW);
	secret_free(&OTHER);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_json),
		cmocka_unit_test(test_swap_moves_to_the_new_passphrase),
		cmocka_unit_test(test_wrong_passphrases_change_nothing),
		cmocka_unit_test(test_every_old_keyslot_goes),
		cmocka_unit_test(test_crash_after_each_step_then_retry),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
