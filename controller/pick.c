/* Candidate choice: ranking by score with a hash tie-break, and the random
 * sample that keeps coordinators from herding onto the same host. */
#include "controller/ctrl.h"

#include <stdlib.h>

static int cand_cmp(const void *pa, const void *pb)
{
	const struct ctrl_cand *a = pa, *b = pb;

	if (a->score < b->score)
		return -1;
	if (a->score > b->score)
		return 1;
	if (a->tiebreak != b->tiebreak)
		return a->tiebreak < b->tiebreak ? -1 : 1;
	return 0;
}

void ctrl_cand_sort(struct ctrl_cand *c, size_t n)
{
	if (n > 1)
		qsort(c, n, sizeof(*c), cand_cmp);
}

long ctrl_cand_best(const struct ctrl_cand *c, size_t n)
{
	size_t best = 0;

	if (n == 0)
		return -1;
	for (size_t i = 1; i < n; i++)
		if (cand_cmp(&c[i], &c[best]) < 0)
			best = i;
	return (long)best;
}

uint64_t ctrl_rand_next(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

size_t ctrl_cand_sample(struct ctrl_cand *c, size_t n, size_t k,
			uint64_t *rng)
{
	if (k > n)
		k = n;
	for (size_t i = 0; i < k; i++) {
		size_t j = i + (size_t)(ctrl_rand_next(rng) % (n - i));
		struct ctrl_cand t = c[i];

		c[i] = c[j];
		c[j] = t;
	}
	return k;
}
