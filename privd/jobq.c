/* Bounded job pool of privd (see jobq.h). */
#define _GNU_SOURCE
#include "jobq.h"

#include <string.h>
#include <sys/mman.h>

int
jobq_init(struct jobq *q, size_t cap, size_t per_vol)
{
	size_t len = cap * sizeof(struct jobq_job);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	/* Queued STAGE requests hold passphrases: never swapped, never in a
	 * core dump. Fail closed if the pages cannot be locked. */
	if (mlock(p, len) || madvise(p, len, MADV_DONTDUMP)) {
		munmap(p, len);
		return -1;
	}
	jobq_init_mem(q, p, cap, per_vol);
	q->locked = 1;
	return 0;
}

void
jobq_init_mem(struct jobq *q, struct jobq_job *mem, size_t cap, size_t per_vol)
{
	memset(q, 0, sizeof(*q));
	q->slots = mem;
	q->cap = cap;
	q->per_vol = per_vol;
	q->next_seq = 1;
}

void
jobq_free(struct jobq *q)
{
	size_t len = q->cap * sizeof(struct jobq_job);

	if (q->slots)
		explicit_bzero(q->slots, len);
	if (q->locked) {
		munlock(q->slots, len);
		munmap(q->slots, len);
	}
	memset(q, 0, sizeof(*q));
}

const char *
jobq_req_volume(const struct ipc_msg *m)
{
	switch (m->type) {
	case IPC_REQ_STAGE_LUKS: return m->u.stage.volume_id;
	case IPC_REQ_STAGE_S3: return m->u.stage_s3.volume_id;
	case IPC_REQ_UNSTAGE: return m->u.unstage.volume_id;
	case IPC_REQ_PUBLISH: return m->u.publish.volume_id;
	case IPC_REQ_UNPUBLISH: return m->u.unpublish.volume_id;
	case IPC_REQ_EXPAND: return m->u.expand.volume_id;
	case IPC_REQ_STATS: return m->u.stats.volume_id;
	case IPC_REQ_ROTATE_KEY: return m->u.rotate.volume_id;
	case IPC_REQ_RECLAIM_SPACE: return m->u.reclaim.volume_id;
	default: return "";
	}
}

size_t
jobq_count(const struct jobq *q, int state, const char *vol)
{
	size_t n = 0;

	for (size_t i = 0; i < q->cap; i++) {
		const struct jobq_job *j = &q->slots[i];
		if (j->state == JOBQ_FREE)
			continue;
		if (vol ? strcmp(j->vol, vol) == 0 && (state == 0 || j->state == state)
			: j->state == state)
			n++;
	}
	return n;
}

int
jobq_push(struct jobq *q, const void *op, unsigned gen, const struct ipc_msg *req)
{
	const char *vol = jobq_req_volume(req);
	struct jobq_job *free_slot = NULL;
	size_t same = 0;

	for (size_t i = 0; i < q->cap; i++) {
		struct jobq_job *j = &q->slots[i];
		if (j->state == JOBQ_FREE) {
			if (free_slot == NULL)
				free_slot = j;
		} else if (vol[0] && strcmp(j->vol, vol) == 0) {
			same++;
		}
	}
	if (vol[0] && same >= q->per_vol)
		return JOBQ_E_VOLUME;
	if (free_slot == NULL)
		return JOBQ_E_FULL;
	free_slot->state = JOBQ_QUEUED;
	free_slot->gen = gen;
	free_slot->seq = q->next_seq++;
	free_slot->op = op;
	/* vol is bounded by the codec (IPC_VOLID_MAX) */
	size_t vl = strnlen(vol, sizeof(free_slot->vol) - 1);
	memcpy(free_slot->vol, vol, vl);
	free_slot->vol[vl] = '\0';
	free_slot->req = *req;
	return JOBQ_OK;
}

static int
volume_running(const struct jobq *q, const char *vol)
{
	if (vol[0] == '\0')
		return 0;
	for (size_t i = 0; i < q->cap; i++)
		if (q->slots[i].state == JOBQ_RUNNING && strcmp(q->slots[i].vol, vol) == 0)
			return 1;
	return 0;
}

struct jobq_job *
jobq_take(struct jobq *q)
{
	struct jobq_job *best = NULL;

	/* Jobs of a volume that is being worked on wait in the queue rather
	 * than on a worker thread, so one busy volume cannot hold them all. */
	for (size_t i = 0; i < q->cap; i++) {
		struct jobq_job *j = &q->slots[i];
		if (j->state == JOBQ_QUEUED && (best == NULL || j->seq < best->seq) &&
		    !volume_running(q, j->vol))
			best = j;
	}
	if (best)
		best->state = JOBQ_RUNNING;
	return best;
}

void
jobq_done(struct jobq *q, struct jobq_job *j)
{
	(void)q;
	explicit_bzero(j, sizeof(*j)); /* state JOBQ_FREE; the passphrase gone */
}

size_t
jobq_drop_stale(struct jobq *q, unsigned gen, int gen_all)
{
	size_t n = 0;

	for (size_t i = 0; i < q->cap; i++) {
		struct jobq_job *j = &q->slots[i];
		if (j->state == JOBQ_QUEUED && (gen_all || j->gen != gen)) {
			explicit_bzero(j, sizeof(*j));
			n++;
		}
	}
	return n;
}
