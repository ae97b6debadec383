#include "kdf_budget.h"

#include <pthread.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static uint64_t budget = 1024 * 1024, used, peak;

void
kdf_budget_init(uint64_t budget_kib)
{
	pthread_mutex_lock(&mu);
	budget = budget_kib ? budget_kib : 1;
	pthread_mutex_unlock(&mu);
}

uint64_t
kdf_budget_reserve(uint64_t kib)
{
	pthread_mutex_lock(&mu);
	if (kib > budget)
		kib = budget;
	while (used + kib > budget)
		pthread_cond_wait(&cv, &mu);
	used += kib;
	if (used > peak)
		peak = used;
	pthread_mutex_unlock(&mu);
	return kib;
}

void
kdf_budget_release(uint64_t reserved)
{
	pthread_mutex_lock(&mu);
	used -= reserved;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

uint64_t
kdf_budget_peak(void)
{
	pthread_mutex_lock(&mu);
	uint64_t p = peak;
	pthread_mutex_unlock(&mu);
	return p;
}
