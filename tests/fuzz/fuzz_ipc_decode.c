/* libFuzzer target for the privd channel decoder.
 *
 * Every input is decoded with every sender mask. The properties:
 *   - a failure is a negative code and leaves the output zeroed;
 *   - when the pre-scan refuses the input, decode fails with the same code
 *     (msgpack-c never sees what the pre-scan refuses);
 *   - a decoded message re-encodes, the encoding decodes to the same
 *     message, and encoding that again gives the same bytes (canonical).
 * Any violation aborts, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_msg.h"

/* Undefined behaviour is a finding too: stop at the first report instead of
 * printing it and carrying on (the Makefile builds UBSan recoverable). */
const char *__ubsan_default_options(void);
const char *
__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static int
all_zero(const void *p, size_t n)
{
	const uint8_t *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t enc1[IPC_MAX_DATAGRAM], enc2[IPC_MAX_DATAGRAM];
	int pre = ipc_prescan(data, size);

	if (pre > 0)
		abort();
	/* All peers, each peer alone (a union of peers only decides
	 * IPC_E_PERMIT, already covered by these), and none: it must permit
	 * nothing. */
	static const uint32_t masks[] = {
		IPC_FROM_FRONTEND | IPC_FROM_PRIVD | IPC_FROM_SPAWNER,
		IPC_FROM_FRONTEND, IPC_FROM_PRIVD, IPC_FROM_SPAWNER, 0,
	};
	for (size_t mi = 0; mi < sizeof(masks) / sizeof(masks[0]); mi++) {
		static struct ipc_msg m, m2;
		uint32_t allowed = masks[mi];
		size_t len1, len2;
		int rc;

		memset(&m, 0xa5, sizeof(m));
		rc = ipc_decode(data, size, allowed, &m);
		if (rc != IPC_OK) {
			if (rc > 0 || !all_zero(&m, sizeof(m)))
				abort();
			if (pre != IPC_OK && rc != pre)
				abort();
			continue;
		}
		if (pre != IPC_OK || allowed == 0)
			abort();
		if (ipc_encode(&m, enc1, sizeof(enc1), &len1) != IPC_OK)
			abort();
		if (len1 == 0 || len1 > size) /* canonical is never longer */
			abort();
		if (ipc_decode(enc1, len1, allowed, &m2) != IPC_OK)
			abort();
		if (memcmp(&m, &m2, sizeof(m)))
			abort();
		if (ipc_encode(&m2, enc2, sizeof(enc2), &len2) != IPC_OK)
			abort();
		if (len2 != len1 || memcmp(enc1, enc2, len1))
			abort();
	}
	return 0;
}
