/* Node-wide volume limits (see node_limits.h). */
#define _GNU_SOURCE
#include "node_limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vol_owner.h"
#include "volparams.h"

static pthread_mutex_t limits_mu = PTHREAD_MUTEX_INITIALIZER;

void
local_limits_lock(void)
{
	pthread_mutex_lock(&limits_mu);
}

void
local_limits_unlock(void)
{
	pthread_mutex_unlock(&limits_mu);
}

int
local_limits_check(const struct local_limits *l, const struct local_usage *u,
		   uint64_t fs_avail, uint64_t fs_size, uint64_t add, int new_volume,
		   char *why, size_t whylen)
{
	uint64_t reserve = l->reserve_bytes;
	uint64_t pct = fs_size / 100 * l->reserve_pct; /* no overflow: divide first */

	if (pct > reserve)
		reserve = pct;
	if (new_volume && u->volumes >= l->max_volumes) {
		snprintf(why, whylen, "this node already holds %llu local volumes (limit %llu)",
			 (unsigned long long)u->volumes, (unsigned long long)l->max_volumes);
		return -1;
	}
	if (l->max_bytes && (u->bytes > l->max_bytes || add > l->max_bytes - u->bytes)) {
		snprintf(why, whylen,
			 "%llu more bytes would exceed the node's limit of %llu bytes of local "
			 "volumes (%llu in use)", (unsigned long long)add,
			 (unsigned long long)l->max_bytes, (unsigned long long)u->bytes);
		return -1;
	}
	if (fs_avail < reserve || add > fs_avail - reserve) {
		snprintf(why, whylen,
			 "%llu more bytes would leave less than %llu bytes free on the volume file "
			 "system (%llu available)", (unsigned long long)add,
			 (unsigned long long)reserve, (unsigned long long)fs_avail);
		return -1;
	}
	return 0;
}

void
local_capacity(const struct local_limits *l, const struct local_usage *u, uint64_t fs_avail,
	       uint64_t fs_size, uint64_t promised, struct local_room *r)
{
	uint64_t reserve = l->reserve_bytes, pct = fs_size / 100 * l->reserve_pct, room;

	if (pct > reserve)
		reserve = pct;
	/* Free space above the reserve, less what sparse backing files and
	 * volumes not staged yet will still take. */
	room = fs_avail > reserve ? fs_avail - reserve : 0;
	room = room > u->unallocated ? room - u->unallocated : 0;
	room = room > promised ? room - promised : 0;
	if (l->max_bytes) {
		uint64_t cap = u->bytes < l->max_bytes ? l->max_bytes - u->bytes : 0;
		cap = cap > promised ? cap - promised : 0;
		if (cap < room)
			room = cap;
	}
	r->volumes_left = u->volumes < l->max_volumes ? l->max_volumes - u->volumes : 0;
	r->available = r->volumes_left ? room : 0;
	/* One new volume may take all of it: the limits bound the total. */
	r->maximum_volume = r->available;
}

int
local_usage_scan(const char *root, uid_t owner, struct local_usage *u)
{
	int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d;
	struct dirent *de;

	u->volumes = u->bytes = u->unallocated = 0;
	if (rfd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(rfd);
	if (d == NULL) {
		int e = errno;
		close(rfd);
		return -e;
	}
	while ((de = readdir(d)) != NULL) {
		char img[2 * sizeof(de->d_name) + 16], why[160];
		struct stat ds, st;
		if (volid_valid(de->d_name))
			continue;
		/* the name is at most VOLID_MAX bytes: this fits */
		snprintf(img, sizeof(img), "%s/luks-%s.img", de->d_name, de->d_name);
		if (fstatat(dirfd(d), de->d_name, &ds, AT_SYMLINK_NOFOLLOW) ||
		    fstatat(dirfd(d), img, &st, AT_SYMLINK_NOFOLLOW) ||
		    vol_legacy_shape(&ds, &st, owner, why, sizeof(why)))
			continue;
		uint64_t alloc = (uint64_t)st.st_blocks * 512u;
		u->volumes++;
		u->bytes += (uint64_t)st.st_size > alloc ? (uint64_t)st.st_size : alloc;
		if ((uint64_t)st.st_size > alloc)
			u->unallocated += (uint64_t)st.st_size - alloc;
	}
	closedir(d);
	return 0;
}
