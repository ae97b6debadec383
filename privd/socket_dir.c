#define _GNU_SOURCE
#include "socket_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"

static int
mkdir_p(char *path, mode_t mode)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return mkdir(path, mode) && errno != EEXIST ? -1 : 0;
}

/* Can uid/gid search (traverse) every directory above dir? */
static int
reachable(const char *dir, uid_t uid, gid_t gid, char *bad, size_t badlen)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + strlen(path); p > path; p--) {
		if (*p != '/')
			continue;
		*p = '\0';
		const char *d = path[0] ? path : "/";
		if (stat(d, &st))
			return 0;
		int ok = (st.st_uid == uid) ? (st.st_mode & S_IXUSR) != 0
			 : (st.st_gid == gid) ? (st.st_mode & S_IXGRP) != 0
			 : (st.st_mode & S_IXOTH) != 0;
		if (!ok) {
			snprintf(bad, badlen, "%s", d);
			return 0;
		}
	}
	return 1;
}

int
socket_dir_prepare(const char *socket_path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;
	uint64_t t0 = audit_now_ns();

	snprintf(dir, sizeof(dir), "%s", socket_path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (mkdir_p(dir, 0750)) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", socket_path);
			return -1;
		}
		if (unlink(socket_path)) {
			snprintf(err, errlen, "cannot remove stale socket: %s", strerror(errno));
			return -1;
		}
	}
	if (lstat(dir, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -1;
	}
	char bad[PATH_MAX];
	if (!reachable(dir, uid, gid, bad, sizeof(bad))) {
		snprintf(err, errlen, "the frontend (uid %u) cannot traverse %s; make it "
			 "searchable or choose another socket directory", (unsigned)uid, bad);
		return -1;
	}
	if ((st.st_mode & S_ISVTX) && (st.st_mode & S_IWOTH))
		return 0; /* shared sticky directory: anyone may create */
	if ((st.st_uid == uid && (st.st_mode & S_IWUSR)) ||
	    (st.st_gid == gid && (st.st_mode & S_IWGRP)))
		return 0;
	if (strcmp(dir, "/") == 0) {
		snprintf(err, errlen, "refusing to open / to the frontend; use a dedicated directory");
		return -1;
	}
	/* Dedicated plugin directory: group-writable by the frontend. */
	int ok = chown(dir, (uid_t)-1, gid) == 0 &&
		 chmod(dir, (st.st_mode & 07777 & ~(mode_t)S_IWOTH) | S_IRWXG) == 0;
	audit_write(&(struct audit_rec){ .op = "socket_dir_grant", .paths = { dir, NULL },
		.ok = ok, .err = ok ? 0 : errno, .start_ns = t0,
		.detail = "group-writable for the frontend" });
	if (!ok) {
		snprintf(err, errlen, "cannot grant %s to the frontend: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}
