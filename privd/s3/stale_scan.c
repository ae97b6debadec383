/* Dead mounts of a volume in a mountinfo text. See stale_scan.h. */
#define _GNU_SOURCE
#include "stale_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mi_line {
	unsigned long long id, parent;
	unsigned major, minor;
	char mnt[STALE_PATH_MAX + 1];
	char opts[256];
	int shared;
	char fstype[64];
	char source[STALE_PATH_MAX + 1];
};

/* Copy one space-separated field, decoding mountinfo's octal escapes
 * (\040 space, \011 tab, \012 newline, \134 backslash). -1 if too long. */
static int
field(const char **p, const char *end, char *out, size_t len)
{
	size_t n = 0;
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	if (s >= end)
		return -1;
	while (s < end && *s != ' ') {
		char c = *s++;
		if (c == '\\' && end - s >= 3 && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' &&
		    s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
			c = (char)(((s[0] - '0') << 6) | ((s[1] - '0') << 3) | (s[2] - '0'));
			s += 3;
		}
		if (n + 1 >= len)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	*p = s;
	return 0;
}

static int
parse_line(const char *s, const char *end, struct mi_line *l)
{
	char tmp[STALE_PATH_MAX + 1];
	char *e;

	memset(l, 0, sizeof(*l));
	if (field(&s, end, tmp, sizeof(tmp)))
		return -1;
	l->id = strtoull(tmp, &e, 10);
	if (*e || !tmp[0])
		return -1;
	if (field(&s, end, tmp, sizeof(tmp)))
		return -1;
	l->parent = strtoull(tmp, &e, 10);
	if (*e || !tmp[0])
		return -1;
	if (field(&s, end, tmp, sizeof(tmp)) || sscanf(tmp, "%u:%u", &l->major, &l->minor) != 2)
		return -1;
	if (field(&s, end, tmp, sizeof(tmp)) /* root */ ||
	    field(&s, end, l->mnt, sizeof(l->mnt)) || field(&s, end, l->opts, sizeof(l->opts)))
		return -1;
	for (;;) { /* optional fields up to "-" */
		if (field(&s, end, tmp, sizeof(tmp)))
			return -1;
		if (strcmp(tmp, "-") == 0)
			break;
		if (strncmp(tmp, "shared:", 7) == 0)
			l->shared = 1;
	}
	if (field(&s, end, l->fstype, sizeof(l->fstype)) ||
	    field(&s, end, l->source, sizeof(l->source)))
		return -1;
	return 0;
}

static int
has_opt(const char *opts, const char *o)
{
	size_t n = strlen(o);
	for (const char *p = opts; p && *p; p = strchr(p, ','), p = p ? p + 1 : NULL)
		if (strncmp(p, o, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Call fn on each complete line; stop at its nonzero answer. */
static int
each_line(const char *text, size_t len, int (*fn)(const struct mi_line *, void *), void *ud)
{
	static __thread struct mi_line l; /* large: not on the stack */
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break; /* a truncated last line is not judged */
		if (nl > p) {
			if (parse_line(p, nl, &l))
				return -1;
			int rc = fn(&l, ud);
			if (rc)
				return rc;
		}
		p = nl + 1;
	}
	return 0;
}

struct scan {
	const char *source, *fstype;
	unsigned maj, min;
	struct stale_mount *out;
	int max, n;
	/* second pass, one candidate at a time */
	const struct stale_mount *c;
	int covered, parent_shared;
};

static int
find_dead(const struct mi_line *l, void *ud)
{
	struct scan *s = ud;

	if (strcmp(l->source, s->source) || strcmp(l->fstype, s->fstype) ||
	    (l->major == s->maj && l->minor == s->min))
		return 0;
	if (s->n < s->max) {
		struct stale_mount *m = &s->out[s->n];
		m->id = l->id;
		m->parent = l->parent;
		snprintf(m->path, sizeof(m->path), "%s", l->mnt);
		m->readonly = has_opt(l->opts, "ro");
		m->noexec = has_opt(l->opts, "noexec");
		m->parent_shared = 0;
	}
	s->n++;
	return 0;
}

static int
judge(const struct mi_line *l, void *ud)
{
	struct scan *s = ud;

	if (l->id == s->c->parent)
		s->parent_shared = l->shared;
	if (l->parent == s->c->id && strcmp(l->mnt, s->c->path) == 0)
		s->covered = 1;
	return 0;
}

int
stale_scan(const char *text, size_t len, const char *source, const char *fstype,
	   unsigned live_major, unsigned live_minor, struct stale_mount *out, int max)
{
	struct scan s = { .source = source, .fstype = fstype, .maj = live_major,
			  .min = live_minor, .out = out, .max = max };
	int kept = 0;

	if (each_line(text, len, find_dead, &s))
		return -1;
	int found = s.n, stored = s.n < max ? s.n : max;
	for (int i = 0; i < stored; i++) {
		s.c = &out[i];
		s.covered = s.parent_shared = 0;
		if (each_line(text, len, judge, &s))
			return -1;
		if (s.covered) {
			found--;
			continue;
		}
		out[i].parent_shared = s.parent_shared;
		if (kept != i)
			out[kept] = out[i];
		kept++;
	}
	return found;
}

int
stale_path_split(const char *path, char *dir, size_t dlen, char *leaf, size_t llen)
{
	size_t n = strlen(path);

	if (n < 2 || path[0] != '/' || path[n - 1] == '/' || n > STALE_PATH_MAX)
		return -1;
	for (const char *c = path + 1; c < path + n;) {
		const char *e = strchr(c, '/');
		size_t k = e ? (size_t)(e - c) : strlen(c);
		if (k == 0 || (k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.'))
			return -1;
		c += k + (e ? 1 : 0);
	}
	const char *slash = strrchr(path, '/');
	size_t dn = slash == path ? 1 : (size_t)(slash - path);
	if (dn >= dlen || strlen(slash + 1) >= llen)
		return -1;
	memcpy(dir, path, dn);
	dir[dn] = '\0';
	snprintf(leaf, llen, "%s", slash + 1);
	return 0;
}
