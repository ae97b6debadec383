/* libcryptsetup set-up shared by luks.c and luks_rekey.c only (the two
 * files that call libcryptsetup); nothing else includes this. */
#ifndef LCW_LUKS_LIB_H
#define LCW_LUKS_LIB_H

#include <stddef.h>

struct crypt_device;

/* Per-call context handed to libcryptsetup's log callback: keeps the last
 * error line, so a failure can say what the library complained about. */
struct lk_call {
	char last_err[256];
};

/* Once per process: log callback, no debug output, volume keys in the dm
 * table rather than the kernel keyring. */
void lk_init(void);
/* err = the formatted message, plus the library's last error if c has one. */
void lk_err(char *err, size_t errlen, const struct lk_call *c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A context for dev with our log callback (c collects its errors). */
int lk_open_dev(struct crypt_device **cd, const char *dev, struct lk_call *c);
/* The same with dev's LUKS1/LUKS2 header loaded, or a negative errno. */
int lk_load_luks(struct crypt_device **cd, const char *dev, struct lk_call *c);

#endif
