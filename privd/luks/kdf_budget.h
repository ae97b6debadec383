/* Node-wide budget for PBKDF memory. An argon2 unlock at cryptsetup's
 * defaults can take 1 GiB; twenty pods starting at once must not take
 * 20 GiB. Each unlock or format reserves its keyslot's memory cost first and
 * waits while the budget is spent. A single cost above the whole budget
 * runs alone. */
#ifndef LCW_KDF_BUDGET_H
#define LCW_KDF_BUDGET_H

#include <stdint.h>

void kdf_budget_init(uint64_t budget_kib);
/* Blocks until kib (capped at the budget) is available; returns what was
 * reserved, to pass to kdf_budget_release. */
uint64_t kdf_budget_reserve(uint64_t kib);
void kdf_budget_release(uint64_t reserved);
/* Largest amount ever in use at once (for the benchmark). */
uint64_t kdf_budget_peak(void);

#endif
