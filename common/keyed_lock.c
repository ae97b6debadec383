#include "keyed_lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct held {
	struct held *next;
	char id[];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct held *list;

static int
is_held(const char *id)
{
	for (struct held *h = list; h; h = h->next)
		if (strcmp(h->id, id) == 0)
			return 1;
	return 0;
}

static void
hold(const char *id)
{
	struct held *h = malloc(sizeof(*h) + strlen(id) + 1);
	if (h == NULL)
		fatal(70, "out of memory");
	strcpy(h->id, id);
	h->next = list;
	list = h;
}

void
keyed_lock(const char *id)
{
	pthread_mutex_lock(&mu);
	while (is_held(id))
		pthread_cond_wait(&cv, &mu);
	hold(id);
	pthread_mutex_unlock(&mu);
}

int
keyed_trylock(const char *id)
{
	int rc = -1;

	pthread_mutex_lock(&mu);
	if (!is_held(id)) {
		hold(id);
		rc = 0;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

void
keyed_unlock(const char *id)
{
	pthread_mutex_lock(&mu);
	for (struct held **pp = &list; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0) {
			struct held *h = *pp;
			*pp = h->next;
			free(h);
			break;
		}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}
