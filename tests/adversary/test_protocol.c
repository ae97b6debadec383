/* Attacks on the channel itself, from a compromised frontend: bytes that
 * are not a message, and messages that only privd or the spawner may send.
 * privd must drop the peer (it restarts a fresh frontend), stay alive, keep
 * its memory, and run nothing it was asked to by a peer that may not ask. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "adv.h"
#include "ipc_chan.h"

static int
ping_ok(struct adv *a)
{
	struct ipc_msg req = { .type = IPC_REQ_PING }, ans;

	return adv_call(a, &req, &ans, 10000) == 0 && ans.type == IPC_ANS_PING;
}

/* After a message privd must refuse: is the peer dropped (EOF, nothing
 * answered first) while privd lives, and does a new channel work? */
static void
expect_dropped(struct adv *a, const char *what)
{
	struct ipc_msg ans;
	int rc = adv_recv(a, &ans, 10000);

	adv_check(rc == IPC_CHAN_EOF, "%s: privd drops the peer without answering (got %d)", what,
		  rc);
	adv_check(adv_privd_alive(a), "%s: privd is still running", what);
	adv_check(adv_reconnect(a) == 0 && ping_ok(a), "%s: privd serves a new frontend", what);
}

static void
test_garbage(struct adv *a)
{
	/* msgpack map header promising 2^32-1 entries: a decoder that trusts
	 * size headers would reserve gigabytes. */
	static const unsigned char huge_map[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const unsigned char not_msgpack[] = "GET / HTTP/1.1\r\n\r\n";

	adv_check(adv_send_raw(a, huge_map, sizeof(huge_map)) == 0, "sent a 2^32-entry map header");
	expect_dropped(a, "huge map header");
	adv_check(adv_send_raw(a, not_msgpack, sizeof(not_msgpack) - 1) == 0, "sent plain text");
	expect_dropped(a, "plain text");
}

/* Requests that belong to privd -> spawner (they exec programs or stop
 * the spawner), and an answer sent as if the frontend were privd. Each is
 * filled so that the codec encodes it: privd must refuse it for who sent
 * it, not for its shape. */
static void
fill_foreign(struct ipc_msg *m, uint32_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case IPC_REQ_RUN_MKFS:
	case IPC_REQ_RUN_GROWFS:
		snprintf(m->u.run_tool.volume_id, sizeof(m->u.run_tool.volume_id), "pvc-victim");
		m->u.run_tool.fs_kind = 1;
		snprintf(m->u.run_tool.mount_path, sizeof(m->u.run_tool.mount_path), "/");
		break;
	case IPC_REQ_RUN_RCLONE:
		snprintf(m->u.run_rclone.volume_id, sizeof(m->u.run_rclone.volume_id), "pvc-victim");
		snprintf(m->u.run_rclone.vfs_name, sizeof(m->u.run_rclone.vfs_name), "v");
		snprintf(m->u.run_rclone.mountpoint, sizeof(m->u.run_rclone.mountpoint), "/etc");
		snprintf(m->u.run_rclone.cache_dir, sizeof(m->u.run_rclone.cache_dir), "/tmp");
		m->u.run_rclone.capacity = 1;
		m->u.run_rclone.t.cache_poll_ns = 1;
		break;
	case IPC_ANS_PING:
		snprintf(m->u.ping_ans.version, sizeof(m->u.ping_ans.version), "x");
		break;
	default:
		break;
	}
}

static void
test_foreign_type(uint32_t type, const char *name)
{
	struct adv a;
	struct ipc_msg m;

	/* A fresh privd per case: its frontend restart backoff doubles with
	 * every drop. */
	if (adv_start(&a, NULL, NULL)) {
		adv_check(0, "%s: privd starts with the hostile frontend", name);
		return;
	}
	fill_foreign(&m, type);
	adv_check(adv_send(&a, &m) > 0, "%s: sent from the frontend's channel", name);
	expect_dropped(&a, name);
	adv_stop(&a);
}

static void
test_foreign_types(void)
{
	static const struct {
		uint32_t type;
		const char *name;
	} foreign[] = {
		{ IPC_REQ_SPAWN_FRONTEND, "SPAWN_FRONTEND" },
		{ IPC_REQ_SPAWNER_STOP, "SPAWNER_STOP" },
		{ IPC_REQ_RUN_MKFS, "RUN_MKFS" },
		{ IPC_REQ_RUN_GROWFS, "RUN_GROWFS" },
		{ IPC_REQ_RUN_RCLONE, "RUN_RCLONE" },
		{ IPC_ANS_PING, "an answer (ANS_PING)" },
	};

	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
		test_foreign_type(foreign[i].type, foreign[i].name);
}

int
main(void)
{
	struct adv a;
	long rss0, rss1;
	char out[512];
	const char *allowed[] = { NULL, NULL };

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (adv_start(&a, NULL, NULL)) {
		adv_check(0, "privd starts with the hostile frontend");
		return adv_summary("adversary-protocol");
	}
	allowed[0] = a.dir;
	adv_check(ping_ok(&a), "PING from the hostile frontend is answered");
	rss0 = adv_rss_kib(a.privd);
	test_garbage(&a);
	rss1 = adv_rss_kib(a.privd);
	adv_check(rss0 > 0 && rss1 > 0 && rss1 - rss0 < 16 * 1024,
		  "privd RSS stays bounded (%ld -> %ld KiB)", rss0, rss1);
	adv_check(adv_new_mounts_outside(&a, allowed, out, sizeof(out)) == 0,
		  "no new mount anywhere outside the scratch dir (%s)", out[0] ? out : "none");
	adv_stop(&a);
	test_foreign_types();
	return adv_summary("adversary-protocol");
}
