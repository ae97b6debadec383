#include "inflight.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct entry {
	struct entry *next;
	char id[];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *held;

int
inflight_acquire(const char *volume_id)
{
	pthread_mutex_lock(&mu);
	for (struct entry *e = held; e; e = e->next)
		if (strcmp(e->id, volume_id) == 0) {
			pthread_mutex_unlock(&mu);
			return -1;
		}
	struct entry *e = malloc(sizeof(*e) + strlen(volume_id) + 1);
	if (e == NULL)
		fatal(70, "out of memory");
	strcpy(e->id, volume_id);
	e->next = held;
	held = e;
	pthread_mutex_unlock(&mu);
	return 0;
}

void
inflight_release(const char *volume_id)
{
	pthread_mutex_lock(&mu);
	for (struct entry **pp = &held; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, volume_id) == 0) {
			struct entry *e = *pp;
			*pp = e->next;
			free(e);
			break;
		}
	pthread_mutex_unlock(&mu);
}
