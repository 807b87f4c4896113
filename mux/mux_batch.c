/* Send batching for busy server links ([s2s] send_batch_us).
 *
 * A server link carries many users' stanzas.  Written one by one, each
 * costs its own TLS record, its own send(2), and on the peer a wake-up,
 * an epoll_wait, a recv and a decrypt: per stanza, about what a whole
 * client hop costs (docs/internals/s2s.md).  Here a link that was written
 * to less than send_batch_us ago keeps what comes next until that much
 * time has passed since that write, and sends it all as one write at the
 * end of the thread's first loop turn after that; the thread wakes up for
 * it by itself only at twice the delay (a wake-up of its own would cost
 * about what the peer's it saves do).  16 KiB, one record's worth, goes
 * out at once.  A quiet link pays nothing: the first stanza after a pause
 * is written at once, so only a link busier than one write per
 * send_batch_us ever waits, and never more than twice that.  Nagle's
 * algorithm, with a clock in place of the peer's acknowledgements, above
 * TLS rather than below it.
 *
 * The state is the link's mux thread's, like the connection itself. */
#include "mux/mux_int.h"

#include <stdlib.h>

/* One TLS record's plaintext: a full batch goes out at once. */
#define BATCH_MAX 16384

struct conn_batch {
	struct xbuf buf;          /* plaintext waiting, in order */
	uint64_t last_write_us;   /* the link's last write (at once or a batch) */
	uint64_t due_us;          /* while listed: when buf goes out */
	unsigned delay_us;
	bool listed;              /* on the thread's list of waiting batches */
	struct mux_conn *next;
};

bool conn_batch_enable(struct mux_conn *c, unsigned delay_us)
{
	if (!delay_us || c->batch || c->dead)
		return true;
	struct conn_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return false; /* written at once, as with no batching */
	b->delay_us = delay_us;
	b->last_write_us = mux_now_us();
	c->batch = b;
	return true;
}

static void unlist(struct mux_conn *c)
{
	struct mux *m = c->mux;
	if (!c->batch->listed)
		return;
	for (struct mux_conn **p = &m->batch_head; *p; p = &(*p)->batch->next)
		if (*p == c) {
			*p = c->batch->next;
			break;
		}
	c->batch->next = NULL;
	c->batch->listed = false;
}

void conn_batch_flush(struct mux_conn *c)
{
	struct conn_batch *b = c->batch;
	if (!b)
		return;
	unlist(c);
	if (c->mux->cork_conn == c)
		conn_uncork(c->mux); /* written before the batch began */
	if (!b->buf.len || c->dead)
		return;
	b->last_write_us = mux_now_us();
	conn_send_through(c, b->buf.data, b->buf.len);
	xbuf_reset(&b->buf); /* kept while the link is awake (conn_batch_trim) */
}

bool conn_batch_take(struct mux_conn *c, const char *data, size_t len)
{
	struct conn_batch *b = c->batch;
	uint64_t now = mux_now_us();
	if (!b->buf.len && now - b->last_write_us >= b->delay_us) {
		b->last_write_us = now; /* a quiet link: this one goes at once */
		return false;
	}
	if (len >= BATCH_MAX || b->buf.len + len > BATCH_MAX) {
		conn_batch_flush(c); /* in order, then the large one as it is */
		if (c->dead)
			return true; /* the write failed and closed it: lost with it */
		if (len >= BATCH_MAX) {
			b->last_write_us = now;
			return false;
		}
	}
	/* one block of a batch's full size, never grown: appends stop short
	 * of it */
	if ((!b->buf.cap && xbuf_reserve(&b->buf, BATCH_MAX) != XS_OK) ||
	    xbuf_append(&b->buf, data, len) != XS_OK) {
		conn_batch_flush(c); /* out of memory: what waits, then this at once */
		return c->dead;
	}
	if (!b->listed) {
		b->listed = true;
		b->due_us = b->last_write_us + b->delay_us;
		b->next = c->mux->batch_head;
		c->mux->batch_head = c;
	}
	if (b->buf.len >= BATCH_MAX)
		conn_batch_flush(c);
	return true;
}

bool conn_batch_pending(const struct mux_conn *c)
{
	return c->batch && c->batch->buf.len;
}

void conn_batch_trim(struct mux_conn *c)
{
	if (c->batch && !c->batch->buf.len)
		xbuf_free(&c->batch->buf);
}

void conn_batch_drop(struct mux_conn *c)
{
	if (!c->batch)
		return;
	unlist(c);
	xbuf_free(&c->batch->buf);
}

void conn_batch_free(struct mux_conn *c)
{
	conn_batch_drop(c);
	free(c->batch);
	c->batch = NULL;
}

void mux_batch_due(struct mux *m)
{
	if (!m->batch_head)
		return;
	uint64_t now = mux_now_us();
	struct mux_conn *c = m->batch_head;
	while (c) {
		struct mux_conn *next = c->batch->next;
		if (c->batch->due_us <= now)
			conn_batch_flush(c); /* unlinks c only */
		c = next;
	}
}

uint64_t mux_batch_deadline_us(const struct mux *m)
{
	/* A batch goes out at the end of the thread's first turn after it is
	 * due; a turn the thread would not otherwise have (a wake-up of its
	 * own, and on the peer a wake-up per write still) is only for a batch
	 * a whole delay late. */
	uint64_t next = UINT64_MAX;
	for (const struct mux_conn *c = m->batch_head; c; c = c->batch->next)
		if (c->batch->due_us + c->batch->delay_us < next)
			next = c->batch->due_us + c->batch->delay_us;
	return next;
}
