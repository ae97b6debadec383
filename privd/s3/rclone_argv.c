/* The `rclone mount` argv of an S3 volume (rclone_conf.h): flags from the
 * volume's validated parameters, the config read from the sealed memfd on
 * fd 3, and only privd's private mountpoint of the volume as the mount
 * point. Pure. No secret appears in it: the argv is visible to every
 * process on the node. */
#define _GNU_SOURCE
#include "rclone_conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "volparams.h"

struct argv_builder {
	struct rclone_argv *a;
	size_t used;
	bool full;
};

static void
arg(struct argv_builder *b, const char *fmt, ...)
{
	va_list ap;
	int w;
	size_t room;

	if (b->full)
		return;
	if (b->a->argc >= RCLONE_ARGV_MAX) {
		b->full = true;
		return;
	}
	room = sizeof(b->a->buf) - b->used;
	va_start(ap, fmt);
	w = vsnprintf(b->a->buf + b->used, room, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= room) {
		b->full = true;
		return;
	}
	b->a->argv[b->a->argc++] = b->a->buf + b->used;
	b->a->argv[b->a->argc] = NULL;
	b->used += (size_t)w + 1;
}

static bool
abs_path_ok(const char *p)
{
	size_t i, n;

	if (p == NULL || p[0] != '/')
		return false;
	n = strlen(p);
	if (n > 4095)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

int
rclone_mountpoint_valid(const char *mountpoint, const char *volume_id)
{
	static const char dir[] = "/rclone-mnt/";
	size_t n, v;

	if (!abs_path_ok(mountpoint) || volume_id == NULL || volid_valid(volume_id) != 0 ||
	    strstr(mountpoint, "/./") || strstr(mountpoint, "/../") || strstr(mountpoint, "//"))
		return -1;
	n = strlen(mountpoint);
	v = strlen(volume_id);
	if (n < v + sizeof(dir) - 1)
		return -1;
	return strcmp(mountpoint + n - v, volume_id) == 0 &&
			       strncmp(mountpoint + n - v - (sizeof(dir) - 1), dir, sizeof(dir) - 1) == 0
		       ? 0
		       : -1;
}

int
rclone_mount_argv(const char *vfs_name, const struct s3_vol_params *p,
		  const struct rclone_mount_opts *o, struct rclone_argv *out, char *err,
		  size_t errlen)
{
	struct argv_builder b = {.a = out};
	char d[64];
	const char *cfg;
	int um;

	memset(out, 0, sizeof(*out));
	if (p == NULL || o == NULL || vfs_name == NULL || volid_valid(vfs_name) != 0) {
		errfmt(err, errlen, "invalid rclone remote name");
		return -1;
	}
	if (!abs_path_ok(o->cache_dir) || !abs_path_ok(o->mountpoint)) {
		errfmt(err, errlen, "cache dir and mount point must be absolute paths");
		return -1;
	}
	cfg = o->config_path ? o->config_path : "/proc/self/fd/3";
	if (!abs_path_ok(cfg) || (o->rclone_path && o->rclone_path[0] == '\0')) {
		errfmt(err, errlen, "bad rclone or config path");
		return -1;
	}
	if (rclone_cache_mode_name(p->cache_mode) == NULL) {
		errfmt(err, errlen, "bad cache mode");
		return -1;
	}
	if (o->log_level && strcmp(o->log_level, "ERROR") && strcmp(o->log_level, "NOTICE") &&
	    strcmp(o->log_level, "INFO") && strcmp(o->log_level, "DEBUG")) {
		errfmt(err, errlen, "bad log level");
		return -1;
	}
	um = o->umask >= 0 ? o->umask : (o->has_fsgroup ? 0007 : 0022);
	if (um > 0777) {
		errfmt(err, errlen, "bad umask");
		return -1;
	}

	arg(&b, "%s", o->rclone_path ? o->rclone_path : "rclone");
	/* go-fuse's mount2 serves a mounted /dev/fuse descriptor named as
	 * /dev/fd/N; the mount point itself is then not rclone's business. */
	arg(&b, o->fuse_fd > 0 ? "mount2" : "mount");
	arg(&b, "%s:", vfs_name);
	if (o->fuse_fd > 0)
		arg(&b, "/dev/fd/%d", o->fuse_fd);
	else
		/* The same directory under a name no mount table entry ever
		 * carries: rclone's teardown unmounts its mountpoint by name
		 * whenever something of type rclone is mounted there
		 * (mountlib's CheckMountReady), which after a restage is the
		 * next session's mount. Under this name it finds nothing and
		 * just exits; privd does all unmounting itself (issue 13). */
		arg(&b, "/proc/self/root%s", o->mountpoint);
	arg(&b, "--config");
	arg(&b, "%s", cfg);
	arg(&b, "--cache-dir");
	arg(&b, "%s", o->cache_dir);
	arg(&b, "--vfs-cache-mode");
	arg(&b, "%s", rclone_cache_mode_name(p->cache_mode));
	/* Every cache and attribute parameter goes to rclone as a flag (the
	 * original's dir-cache-time never reached it, §5.4). */
#define DUR(flag, v)                                                              \
	do {                                                                      \
		if (lcw_duration_format((v), d, sizeof(d)) != 0) {                \
			errfmt(err, errlen, "bad duration for %s", flag);            \
			return -1;                                                \
		}                                                                 \
		arg(&b, flag);                                                    \
		arg(&b, "%s", d);                                                 \
	} while (0)
	DUR("--vfs-cache-max-age", p->cache_max_age_ns);
	if (lcw_size_format(p->cache_max_size, d, sizeof(d)) != 0) {
		errfmt(err, errlen, "bad size for --vfs-cache-max-size");
		return -1;
	}
	arg(&b, "--vfs-cache-max-size");
	arg(&b, "%s", d);
	if (p->cache_poll_ns == 0) {
		errfmt(err, errlen, "cache poll interval must be > 0");
		return -1;
	}
	DUR("--vfs-cache-poll-interval", p->cache_poll_ns);
	DUR("--vfs-write-back", p->write_back_ns);
	DUR("--dir-cache-time", p->dir_cache_time_ns);
	DUR("--attr-timeout", p->attr_timeout_ns);
#undef DUR
	/* Pods run as other users than rclone (root). */
	arg(&b, "--allow-other");
	if (!o->no_server_modtime)
		arg(&b, "--use-server-modtime");
	if (o->has_fsgroup) {
		arg(&b, "--uid");
		arg(&b, "%u", o->fsgroup);
		arg(&b, "--gid");
		arg(&b, "%u", o->fsgroup);
	}
	arg(&b, "--umask");
	arg(&b, "%04o", (unsigned)um);
	if (o->disk_space_total > 0) {
		if (lcw_size_format(o->disk_space_total, d, sizeof(d)) != 0) {
			errfmt(err, errlen, "bad disk space total");
			return -1;
		}
		arg(&b, "--vfs-disk-space-total-size");
		arg(&b, "%s", d);
	}
	if (o->read_only)
		arg(&b, "--read-only");
	if (p->read_chunk_streams >= 0) {
		if (o->chunk_streams_supported) {
			arg(&b, "--vfs-read-chunk-streams");
			arg(&b, "%d", p->read_chunk_streams);
		} else if (p->read_chunk_streams > 0) {
			/* 0 (sequential) is what an rclone without the flag does. */
			out->ignored |= RCLONE_IGNORED_CHUNK_STREAMS;
		}
	}
	if (o->log_level) {
		arg(&b, "--log-level");
		arg(&b, "%s", o->log_level);
	}
	if (b.full) {
		errfmt(err, errlen, "rclone argv too long");
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}
