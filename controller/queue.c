/* The pending queue: a binary heap, highest priority first, then oldest
 * (lowest create revision).  Items know their position so that a request
 * deleted or a slot lost is removed in O(log n).  Pure; calls nothing in
 * controller/. */
#include "controller/ctrl.h"

#include <errno.h>
#include <stdlib.h>

bool ctrl_queue_before(const struct ctrl_qitem *a, const struct ctrl_qitem *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return a->create_rev < b->create_rev;
}

static void place(struct ctrl_queue *q, size_t i, struct ctrl_qitem *it)
{
	q->v[i] = it;
	it->qpos = i;
}

static void sift_up(struct ctrl_queue *q, size_t i)
{
	struct ctrl_qitem *it = q->v[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!ctrl_queue_before(it, q->v[p]))
			break;
		place(q, i, q->v[p]);
		i = p;
	}
	place(q, i, it);
}

static void sift_down(struct ctrl_queue *q, size_t i)
{
	struct ctrl_qitem *it = q->v[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = l;

		if (l >= q->n)
			break;
		if (r < q->n && ctrl_queue_before(q->v[r], q->v[l]))
			m = r;
		if (!ctrl_queue_before(q->v[m], it))
			break;
		place(q, i, q->v[m]);
		i = m;
	}
	place(q, i, it);
}

int ctrl_queue_push(struct ctrl_queue *q, struct ctrl_qitem *it)
{
	if (it->qpos != CTRL_QPOS_NONE)
		return 0;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct ctrl_qitem **v = realloc(q->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n] = it;
	sift_up(q, q->n++);
	return 0;
}

struct ctrl_qitem *ctrl_queue_peek(const struct ctrl_queue *q)
{
	return q->n ? q->v[0] : NULL;
}

void ctrl_queue_remove(struct ctrl_queue *q, struct ctrl_qitem *it)
{
	size_t i = it->qpos;

	if (i == CTRL_QPOS_NONE || i >= q->n || q->v[i] != it)
		return;
	it->qpos = CTRL_QPOS_NONE;
	q->n--;
	if (i == q->n)
		return;
	q->v[i] = q->v[q->n];
	q->v[i]->qpos = i;
	sift_down(q, i);
	sift_up(q, q->v[i]->qpos);
}

struct ctrl_qitem *ctrl_queue_pop(struct ctrl_queue *q)
{
	struct ctrl_qitem *it = ctrl_queue_peek(q);

	if (it)
		ctrl_queue_remove(q, it);
	return it;
}

void ctrl_queue_clear(struct ctrl_queue *q)
{
	for (size_t i = 0; i < q->n; i++)
		q->v[i]->qpos = CTRL_QPOS_NONE;
	free(q->v);
	q->v = NULL;
	q->n = q->cap = 0;
}
