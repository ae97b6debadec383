/* Error answers, shared by every handler. */
#define _GNU_SOURCE
#include "privd_ctx.h"

#include <stdarg.h>
#include <stdio.h>

#include "ipc_msg.h"

void
privd_answer_error(struct ipc_msg *ans, uint32_t err_class, int sys_errno, const char *fmt, ...)
{
	va_list ap;

	ans->type = IPC_ANS_ERROR;
	ans->u.error.err_class = err_class;
	ans->u.error.sys_errno = (uint32_t)(sys_errno > 0 && sys_errno < 4096 ? sys_errno : 0);
	va_start(ap, fmt);
	vsnprintf(ans->u.error.msg, sizeof(ans->u.error.msg), fmt, ap);
	va_end(ap);
	/* The codec rejects control bytes; messages built from errno texts
	 * and validated ids never carry any, but make sure. */
	for (char *p = ans->u.error.msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}
