/* The unacknowledged-stanza queue and ack arithmetic of XEP-0198; see
 * sm_queue.h. */
#include "mux/sm_queue.h"

#include <stdlib.h>

#include "core/xmpp/stanza.h"

bool sm_ack_count(uint32_t acked, uint32_t sent, uint32_t h, uint32_t *n)
{
	/* unsigned subtraction is modulo 2^32: the XEP's wraparound */
	uint32_t outstanding = sent - acked;
	uint32_t k = h - acked;
	if (k > outstanding)
		return false;
	*n = k;
	return true;
}

static bool grow(struct sm_queue *q)
{
	uint32_t cap = q->cap ? q->cap * 2 : 8;
	if (cap < q->cap)
		return false;
	struct sm_item *items = malloc((size_t)cap * sizeof(*items));
	if (!items)
		return false;
	/* unrolled into the new buffer, oldest at 0 */
	for (uint32_t i = 0; i < q->n; i++)
		items[i] = q->items[(q->head + i) & (q->cap - 1)];
	free(q->items);
	q->items = items;
	q->cap = cap;
	q->head = 0;
	return true;
}

bool sm_queue_push(struct sm_queue *q, struct stanza *st, bool sole)
{
	if (q->n == q->cap && !grow(q))
		return false;
	struct sm_item *it = &q->items[(q->head + q->n) & (q->cap - 1)];
	it->st = st;
	it->sole = sole;
	q->n++;
	return true;
}

void sm_queue_drop(struct sm_queue *q, uint32_t n)
{
	while (n-- && q->n) {
		stanza_unref(q->items[q->head].st);
		q->head = (q->head + 1) & (q->cap - 1);
		q->n--;
	}
	if (!q->n && q->cap > 64) {
		/* a burst's buffer is not kept by an idle session */
		free(q->items);
		q->items = NULL;
		q->cap = q->head = 0;
	}
}

const struct sm_item *sm_queue_at(const struct sm_queue *q, uint32_t i)
{
	return &q->items[(q->head + i) & (q->cap - 1)];
}

bool sm_queue_shift(struct sm_queue *q, struct sm_item *out)
{
	if (!q->n)
		return false;
	*out = q->items[q->head];
	q->head = (q->head + 1) & (q->cap - 1);
	q->n--;
	return true;
}

void sm_queue_clear(struct sm_queue *q)
{
	sm_queue_drop(q, q->n);
	free(q->items);
	q->items = NULL;
	q->cap = q->head = q->n = 0;
}
