/* Unit tests of log_escape (common/log.c): what a request can put into a log
 * line. Every log line is escaped as a whole, so these cases are what keeps
 * a hostile fsType, passphraseKey, mount flag or id on its own line. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "log.h"

static const char *
esc(const char *in, size_t n)
{
	static char out[256];
	log_escape(out, sizeof(out), in, n);
	return out;
}
#define ESC(lit) esc(lit, sizeof(lit) - 1)

static void
plain_text_unchanged(void **state)
{
	(void)state;
	assert_string_equal(ESC("NodeStage pvc-1: OK /var/lib/kubelet x=1"),
			    "NodeStage pvc-1: OK /var/lib/kubelet x=1");
	assert_string_equal(ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"),
			    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"); /* UTF-8 kept */
}

static void
line_breaks_cannot_forge_a_line(void **state)
{
	(void)state;
	assert_string_equal(ESC("ext4\n2026-01-01T00:00:00.000Z ERROR privd[1]: forged"),
			    "ext4\\n2026-01-01T00:00:00.000Z ERROR privd[1]: forged");
	assert_string_equal(ESC("a\rb\tc"), "a\\rb\\tc");
	assert_string_equal(ESC("back\\slash"), "back\\\\slash");
}

static void
control_bytes_and_terminal_sequences(void **state)
{
	(void)state;
	assert_string_equal(ESC("\x1b[2J\x1b]0;t\x07"), "\\x1b[2J\\x1b]0;t\\x07");
	assert_string_equal(ESC("a\x7f" "b\x01"), "a\\x7fb\\x01");
	assert_string_equal(esc("a\0b", 3), "a\\x00b");
	/* C1 CSI as UTF-8 (U+009B): some terminals act on it */
	assert_string_equal(ESC("\xc2\x9b" "31m"), "\\xc2\\x9b31m");
	/* U+2028 LINE SEPARATOR: a line break to many log readers */
	assert_string_equal(ESC("a\xe2\x80\xa8" "b"), "a\\xe2\\x80\\xa8b");
}

static void
invalid_utf8_is_escaped(void **state)
{
	(void)state;
	assert_string_equal(ESC("\xff\xfe"), "\\xff\\xfe");
	assert_string_equal(ESC("\xc0\xaf"), "\\xc0\\xaf");             /* overlong '/' */
	assert_string_equal(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");   /* surrogate */
	assert_string_equal(ESC("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
	assert_string_equal(ESC("\xe2\x82"), "\\xe2\\x82");             /* truncated */
	assert_string_equal(ESC("\x80x"), "\\x80x");                    /* stray continuation */
}

static void
truncation_never_splits_an_escape(void **state)
{
	char out[8];
	(void)state;
	/* "ab" + "\x1b" needs 4 more bytes: only "ab\\n" fits (7 + NUL) */
	assert_int_equal(log_escape(out, sizeof(out), "ab\n\x1b", 4), 4);
	assert_string_equal(out, "ab\\n");
	assert_int_equal(log_escape(out, sizeof(out), "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9), 6);
	assert_string_equal(out, "\xe2\x82\xac\xe2\x82\xac");
	assert_int_equal(log_escape(out, 1, "abc", 3), 0);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_text_unchanged),
		cmocka_unit_test(line_breaks_cannot_forge_a_line),
		cmocka_unit_test(control_bytes_and_terminal_sequences),
		cmocka_unit_test(invalid_utf8_is_escaped),
		cmocka_unit_test(truncation_never_splits_an_escape),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL) ? 1 : 0;
}
