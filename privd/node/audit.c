#define _GNU_SOURCE
#include "audit.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int audit_fd = -1;
static pthread_mutex_t audit_mu = PTHREAD_MUTEX_INITIALIZER;

int
audit_open(const char *path)
{
	if (path == NULL || path[0] == '\0')
		return 0;
	audit_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	return audit_fd < 0 ? -1 : 0;
}

uint64_t
audit_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
audit_write(const struct audit_rec *r)
{
	struct timespec now;
	struct tm tm;
	char ts[80];
	json_object *o = json_object_new_object(), *paths = json_object_new_array();

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now.tv_nsec / 1000000);
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "audit", json_object_new_string("lukscryptwalker"));
	json_object_object_add(o, "op", json_object_new_string(r->op));
	json_object_object_add(o, "volume_id",
			       r->volume_id ? json_object_new_string(r->volume_id) : NULL);
	for (int i = 0; i < 4 && r->paths[i]; i++)
		json_object_array_add(paths, json_object_new_string(r->paths[i]));
	json_object_object_add(o, "paths", paths);
	json_object_object_add(o, "result", json_object_new_string(r->ok ? "ok" : "error"));
	json_object_object_add(o, "errno", json_object_new_int(r->err));
	json_object_object_add(o, "duration_ms",
			       json_object_new_double((double)(audit_now_ns() - r->start_ns) / 1e6));
	if (r->detail)
		json_object_object_add(o, "detail", json_object_new_string(r->detail));

	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(s);
	char *line = malloc(n + 2);
	if (line) {
		memcpy(line, s, n);
		line[n] = '\n';
		pthread_mutex_lock(&audit_mu);
		(void)!write(STDERR_FILENO, line, n + 1);
		if (audit_fd >= 0)
			(void)!write(audit_fd, line, n + 1);
		pthread_mutex_unlock(&audit_mu);
		free(line);
	}
	json_object_put(o);
}
