/* The one logging facility of all three processes. Lines go to stderr as
 * "<time> <level> <role>[pid]: message". There is deliberately no function
 * that formats key material: secrets live in struct lcw_secret (secmem.h),
 * which has no accessor that returns printable text. */
#ifndef LCW_LOG_H
#define LCW_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_init(const char *role, int level);
int log_level_parse(const char *s); /* "error|warn|info|debug" or 0-3, -1 bad */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Escape inlen bytes of in into out (always NUL-terminated, at most
 * outlen - 1 bytes, never half an escape): backslash, \n, \r, \t as C
 * escapes, other control bytes, DEL, C1 controls, U+2028/9 and bytes that are not
 * well-formed UTF-8 as \xHH; printable ASCII and UTF-8 unchanged. Every log
 * line goes through it. Returns the length written. */
size_t log_escape(char *out, size_t outlen, const char *in, size_t inlen);

/* Format a message into a caller's error buffer (NULL or 0 length: none),
 * for pure functions that report why they refused something. */
void errfmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Log and exit(code). For failures after which the process cannot go on
 * safely (a partial privilege drop, a corrupt peer). */
void fatal(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

#endif
