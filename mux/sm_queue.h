/* XEP-0198 stream management: the pure parts, with no connection in them,
 * so that unit tests reach them directly (tests/unit/test_sm_queue.c).
 *
 * Counters are the XEP's: 32-bit, wrapping to 0 after 2^32 - 1 (XEP-0198
 * §4, "h").  The unacknowledged queue keeps references to the frozen,
 * immutable stanzas written to the client, oldest first, each with the
 * "sole recipient" bit its delivery had, so that if it is never
 * acknowledged it goes back to the router exactly as an undelivered
 * stanza would (MSG_UNDELIVERED). */
#ifndef XMPPD_SM_QUEUE_H
#define XMPPD_SM_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

struct stanza;

struct sm_item {
	struct stanza *st;   /* one reference */
	bool sole;
};

/* A ring buffer, grown by doubling; empty costs nothing. */
struct sm_queue {
	struct sm_item *items;
	uint32_t cap;        /* a power of two, or 0 */
	uint32_t head;       /* index of the oldest */
	uint32_t n;
};

/* Stanzas a client's <a h='h'/> acknowledges when `acked` were
 * acknowledged before and `sent` have been written (all three modulo
 * 2^32): into *n.  False when h claims more than was sent (or goes
 * back), the XEP's handled-count-too-high. */
bool sm_ack_count(uint32_t acked, uint32_t sent, uint32_t h, uint32_t *n);

/* Appends st (the queue takes the caller's reference); false without
 * memory (the reference stays the caller's). */
bool sm_queue_push(struct sm_queue *q, struct stanza *st, bool sole);
/* Drops (unrefs) the n oldest; n <= q->n. */
void sm_queue_drop(struct sm_queue *q, uint32_t n);
/* The i-th oldest, 0 <= i < q->n. */
const struct sm_item *sm_queue_at(const struct sm_queue *q, uint32_t i);
/* Takes the oldest out (its reference goes to *out); false when empty. */
bool sm_queue_shift(struct sm_queue *q, struct sm_item *out);
/* Drops everything and frees the buffer. */
void sm_queue_clear(struct sm_queue *q);

#endif
