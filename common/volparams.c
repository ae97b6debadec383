#define _GNU_SOURCE
#include "volparams.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

int
volid_valid(const char *id)
{
	size_t n = strnlen(id, VOLID_MAX + 1);

	if (n == 0 || n > VOLID_MAX || id[0] == '.' || id[0] == '-')
		return -1;
	/* Its mapping would be luks-vfs-cache, the node's S3 cache volume. */
	if (strcmp(id, VFS_CACHE_ID) == 0)
		return -1;
	/* No '_': local-path-provisioner names its directories, below the
	 * same default root, "pvc-<uid>_<namespace>_<pvc name>", and a tenant
	 * writes into them; Kubernetes names (PV, namespace, PVC) never hold
	 * '_', so no id external-provisioner gives us ("pvc-<uid>") does, and
	 * refusing every '_' keeps all of that provisioner's names out. */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!(isalnum(c) || c == '.' || c == '-'))
			return -1;
	}
	return 0;
}

int
fs_kind_parse(const char *s)
{
	if (s[0] == '\0')
		return FS_UNSET;
	if (strcmp(s, "ext4") == 0)
		return FS_EXT4;
	if (strcmp(s, "ext3") == 0)
		return FS_EXT3;
	if (strcmp(s, "xfs") == 0)
		return FS_XFS;
	return -1;
}

const char *
fs_kind_name(int kind)
{
	switch (kind) {
	case FS_EXT3: return "ext3";
	case FS_XFS: return "xfs";
	default: return "ext4";
	}
}

uint64_t
capacity_min(int fs_kind)
{
	/* xfs: 300 MB (not MiB) of file system plus the header, rounded up.
	 * ext3/ext4: a few MiB of file system is enough to be useful. */
	return fs_kind == FS_XFS ? 320 * MIB : LUKS2_HEADER_BYTES + 16 * MIB;
}

int
capacity_resolve(uint64_t required, uint64_t limit, int fs_kind, uint64_t *out, char *why,
		 size_t whylen)
{
	uint64_t want = required ? required : (limit ? limit : DEFAULT_CAPACITY);
	uint64_t min = capacity_min(fs_kind);

	if (limit && required > limit) {
		snprintf(why, whylen, "required_bytes %llu exceeds limit_bytes %llu",
			 (unsigned long long)required, (unsigned long long)limit);
		return -1;
	}
	if (want > MAX_CAPACITY) {
		snprintf(why, whylen, "capacity %llu exceeds the maximum of %llu bytes",
			 (unsigned long long)want, (unsigned long long)MAX_CAPACITY);
		return -1;
	}
	want = (want + MIB - 1) / MIB * MIB;
	if (want < min) {
		snprintf(why, whylen,
			 "capacity %llu bytes is below the smallest %s volume of %llu bytes "
			 "(16 MiB LUKS2 header plus the file system)",
			 (unsigned long long)want, fs_kind_name(fs_kind), (unsigned long long)min);
		return -1;
	}
	if (limit && want > limit) {
		snprintf(why, whylen,
			 "limit_bytes %llu is below the smallest %s volume (%llu bytes: "
			 "LUKS2 header plus file system, in whole MiB)",
			 (unsigned long long)limit, fs_kind_name(fs_kind), (unsigned long long)want);
		return -1;
	}
	*out = want;
	return 0;
}

static const char *const allowed_opts[] = {
	"noatime", "nodiratime", "relatime", "strictatime", "lazytime", "nolazytime",
	"discard", "nodiscard", "sync", "dirsync", "noexec",
};

int
mount_opts_check(const char *opts, char *norm, size_t normlen, char *why, size_t whylen)
{
	size_t used = 0;
	const char *p = opts;

	if (normlen == 0)
		return -1;
	norm[0] = '\0';
	if (strlen(opts) > MOUNT_OPTS_MAX) {
		snprintf(why, whylen, "mount options too long");
		return -1;
	}
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int ok = 0;

		for (size_t i = 0; n && i < sizeof(allowed_opts) / sizeof(allowed_opts[0]); i++)
			if (strlen(allowed_opts[i]) == n && memcmp(allowed_opts[i], p, n) == 0)
				ok = 1;
		if (!ok) {
			snprintf(why, whylen, "mount option \"%.*s\" is not allowed", (int)(n > 64 ? 64 : n), p);
			return -1;
		}
		if (used + n + 2 > normlen) {
			snprintf(why, whylen, "mount options too long");
			return -1;
		}
		if (used)
			norm[used++] = ',';
		memcpy(norm + used, p, n);
		used += n;
		norm[used] = '\0';
		p += n + (comma ? 1 : 0);
		if (comma && *p == '\0') {
			snprintf(why, whylen, "empty mount option");
			return -1;
		}
	}
	return 0;
}

int
mount_opts_split(const char *opts, unsigned long *flags, char *data, size_t datalen)
{
	static const struct { const char *name; unsigned long flag; } fl[] = {
		{ "noatime", MS_NOATIME }, { "nodiratime", MS_NODIRATIME },
		{ "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
		{ "lazytime", MS_LAZYTIME }, { "nolazytime", 0 }, { "sync", MS_SYNCHRONOUS },
		{ "dirsync", MS_DIRSYNC }, { "noexec", MS_NOEXEC },
	};
	char norm[MOUNT_OPTS_MAX + 1], why[128], *save = NULL;
	size_t used = 0;

	*flags = 0;
	if (datalen == 0 || mount_opts_check(opts, norm, sizeof(norm), why, sizeof(why)))
		return -1;
	data[0] = '\0';
	for (char *t = strtok_r(norm, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int found = 0;
		for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++)
			if (strcmp(fl[i].name, t) == 0) {
				*flags |= fl[i].flag;
				found = 1;
			}
		if (found)
			continue;
		size_t n = strlen(t);
		if (used + n + 2 > datalen)
			return -1;
		if (used)
			data[used++] = ',';
		memcpy(data + used, t, n + 1);
		used += n;
	}
	return 0;
}

int
fs_mode_parse(const char *s)
{
	size_t n = strlen(s);
	int mode = 0;

	if (n < 3 || n > 4)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -1;
		mode = mode * 8 + (s[i] - '0');
	}
	return mode;
}

int
u64_parse(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long n;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = n;
	return 0;
}

int
fs_group_parse(const char *s, uint32_t *gid)
{
	uint64_t v;

	if (u64_parse(s, &v) || v == 0 || v > 2147483647ULL)
		return -1;
	*gid = (uint32_t)v;
	return 0;
}

int
luks_backing_dir(const char *local_root, const char *volid, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", local_root, volid);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
luks_backing_file(const char *local_root, const char *volid, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s/luks-%s.img", local_root, volid, volid);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
