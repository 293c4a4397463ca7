/* Candidate ranking by score with a (request, host) hash tie-break, so
 * that requests of equal scores spread over equal hosts.  Pure; calls
 * nothing in controller/. */
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

size_t ctrl_cand_lowest(struct ctrl_cand *c, size_t n, size_t k)
{
	if (k > n)
		k = n;
	for (size_t i = 0; i < k; i++) {
		long b = ctrl_cand_best(c + i, n - i);
		struct ctrl_cand t = c[i];

		c[i] = c[i + (size_t)b];
		c[i + (size_t)b] = t;
	}
	return k;
}
