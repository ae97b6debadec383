/* privd's side of the spawner channel for the handlers: run a file-system
 * tool, start or stop an rclone (the spawner does the exec; privd's seccomp
 * filter allows neither exec nor kill). Exposed as the privd_tools handle of
 * privd_ctx, so the backends never reach the channel itself. */
#define _GNU_SOURCE
#include "spawner_client.h"

#include <stdio.h>

#include "ipc_msg.h"

/* mkfs of a large volume or growfs may take minutes. */
#define TOOL_TIMEOUT_MS (15 * 60 * 1000)
/* A repair walks a pod's directories, which may cross a hung file system
 * of the pod's: the supervisor does not wait for it longer than this. */
#define REPAIR_TIMEOUT_MS (60 * 1000)

static struct rpc_chan *spawner_rpc;

void
spawner_client_init(struct rpc_chan *rpc)
{
	spawner_rpc = rpc;
}

/* One request to the spawner: 0 with its answer, or -1 with why in err
 * (no answer in time, spawner gone, or its error message). */
static int
spawner_call_within(struct ipc_msg *req, int pass_fd, struct ipc_msg *ans, char *err,
		    size_t errlen, int timeout_ms)
{
	int rc = rpc_call(spawner_rpc, req, pass_fd, ans, timeout_ms);
	if (rc) {
		snprintf(err, errlen, "%s", rc == -1 ? "spawner did not answer in time"
						     : "spawner is gone");
		return -1;
	}
	if (ans->type == IPC_ANS_ERROR) {
		snprintf(err, errlen, "%s", ans->u.error.msg);
		return -1;
	}
	return 0;
}

static int
spawner_call(struct ipc_msg *req, int pass_fd, struct ipc_msg *ans, char *err, size_t errlen)
{
	return spawner_call_within(req, pass_fd, ans, err, errlen, TOOL_TIMEOUT_MS);
}

static int
run_tool(uint32_t req_type, const char *volid, int fs_kind, const char *mount_path,
	       char *out, size_t outlen)
{
	struct ipc_msg req = { .type = req_type }, ans;

	snprintf(req.u.run_tool.volume_id, sizeof(req.u.run_tool.volume_id), "%s", volid);
	req.u.run_tool.fs_kind = (uint32_t)fs_kind;
	snprintf(req.u.run_tool.mount_path, sizeof(req.u.run_tool.mount_path), "%s", mount_path);
	out[0] = '\0';
	if (spawner_call(&req, -1, &ans, out, outlen))
		return -1;
	snprintf(out, outlen, "%s", ans.u.run_tool_ans.output);
	return (int)ans.u.run_tool_ans.wstatus;
}

static int
spawn_rclone(const struct ipc_run_rclone_req *r, int conf_fd, char *err, size_t errlen)
{
	struct ipc_msg req = { .type = IPC_REQ_RUN_RCLONE }, ans;

	req.u.run_rclone = *r;
	if (spawner_call(&req, conf_fd, &ans, err, errlen))
		return -1;
	return (int)ans.u.spawn_ans.pid;
}

static int
stop_rclone(int pid)
{
	struct ipc_msg req = { .type = IPC_REQ_STOP_RCLONE }, ans;
	char err[IPC_ERRMSG_MAX + 1];

	req.u.spawn_ans.pid = (uint32_t)pid;
	return pid > 0 && spawner_call(&req, -1, &ans, err, sizeof(err)) == 0 ? 0 : -1;
}

static int
repair_mount(const struct ipc_repair_mount_req *r, int clone_fd, char *out, size_t outlen)
{
	struct ipc_msg req = { .type = IPC_REQ_REPAIR_MOUNT }, ans;

	req.u.repair_mount = *r;
	out[0] = '\0';
	if (spawner_call_within(&req, clone_fd, &ans, out, outlen, REPAIR_TIMEOUT_MS))
		return -1;
	snprintf(out, outlen, "%s", ans.u.run_tool_ans.output);
	return (int)ans.u.run_tool_ans.wstatus;
}

const struct privd_tools spawner_tools = {
	.run_tool = run_tool, .spawn_rclone = spawn_rclone, .stop_rclone = stop_rclone,
	.repair_mount = repair_mount,
};
