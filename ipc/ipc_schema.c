/* The message catalogue as data (see ipc_schema.h). */
#include "ipc_schema.h"

#include "ipc_msg.h"

#define FOFF(member) offsetof(struct ipc_msg, member)
#define U32(n, member, lo, hi) { n, IPC_K_U32, lo, hi, FOFF(member), 0 }
#define U64(n, member, lo, hi) { n, IPC_K_U64, lo, hi, FOFF(member), 0 }
#define STR(n, member, maxlen) { n, IPC_K_STR, 0, maxlen, FOFF(member), 0 }

static const struct ipc_field f_error[] = {
	U32("err_class", u.error.err_class, 1, IPC_EC_MAX),
	U32("sys_errno", u.error.sys_errno, 0, 4095),
	STR("msg", u.error.msg, IPC_ERRMSG_MAX),
};

static const struct ipc_field f_ping_ans[] = {
	STR("version", u.ping_ans.version, IPC_VERSION_MAX),
	U64("uptime_ms", u.ping_ans.uptime_ms, 0, UINT64_MAX),
};

static const struct ipc_field f_spawn_ans[] = {
	U32("pid", u.spawn_ans.pid, 1, INT32_MAX),
};

static const struct ipc_field f_child_exit[] = {
	U32("role", u.child_exit.role, 1, IPC_ROLE_MAX),
	U32("pid", u.child_exit.pid, 1, INT32_MAX),
	U32("wstatus", u.child_exit.wstatus, 0, 0xffff),
};

#define ENTRY(t, senders, f) { t, #t, senders, 0, f, sizeof(f) / sizeof((f)[0]) }
#define NOTE(t, senders, f) { t, #t, senders, 1, f, sizeof(f) / sizeof((f)[0]) }
#define EMPTY(t, senders) { t, #t, senders, 0, NULL, 0 }

static const struct ipc_schema catalogue[] = {
	ENTRY(IPC_ANS_ERROR, IPC_FROM_PRIVD | IPC_FROM_SPAWNER, f_error),
	EMPTY(IPC_REQ_PING, IPC_FROM_FRONTEND),
	ENTRY(IPC_ANS_PING, IPC_FROM_PRIVD, f_ping_ans),
	EMPTY(IPC_REQ_SPAWN_FRONTEND, IPC_FROM_PRIVD),
	ENTRY(IPC_ANS_SPAWN, IPC_FROM_SPAWNER, f_spawn_ans),
	EMPTY(IPC_REQ_SPAWNER_STOP, IPC_FROM_PRIVD),
	EMPTY(IPC_ANS_SPAWNER_STOP, IPC_FROM_SPAWNER),
	NOTE(IPC_NOTE_CHILD_EXIT, IPC_FROM_SPAWNER, f_child_exit),
};

const struct ipc_schema *
ipc_schema_find(uint32_t type)
{
	for (size_t i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++)
		if (catalogue[i].type == type)
			return &catalogue[i];
	return NULL;
}

const char *
ipc_type_name(uint32_t type)
{
	const struct ipc_schema *s = ipc_schema_find(type);
	return s ? s->name + 4 /* drop "IPC_" */ : "UNKNOWN";
}

int
ipc_is_request(uint32_t type)
{
	return (type % 2) == 0 && ipc_schema_find(type) != NULL;
}
