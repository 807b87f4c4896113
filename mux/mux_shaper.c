/* The input shaper: a token bucket per connection ([listener] rate and
 * burst).
 *
 * Every byte read from a socket takes a token; tokens come back at `rate`
 * bytes per second up to `burst`.  A connection that has used its tokens
 * is not read until it has earned at least one again: its socket is taken
 * out of the thread's epoll input set, and the kernel's receive buffer and
 * then TCP flow control hold the peer back.  Nothing the peer sent is
 * dropped and nothing is buffered here, so a flooder is slowed, not
 * disconnected, and neither are the users it floods: what reaches them
 * cannot exceed what the flooder is allowed to send.
 *
 * The defaults (16 KiB/s, 128 KiB at once) are far above what a person
 * chatting sends, and a login (TLS handshake, SASL, bind, roster) fits in
 * the burst many times over; they are close to what Prosody's mod_limits
 * and ejabberd's c2s shaper set.  A stanza larger than the burst is still
 * read, at the rate.
 *
 * The same pause serves the router's backpressure: while more than
 * [limits] max_router_backlog stanzas wait in the router's inbox, bound
 * sessions (the only ones whose input reaches the router) are not read,
 * 10 ms at a time.  Nothing is dropped: the kernel and TCP hold the input,
 * and the router's inbox stays bounded by the limit plus what one read of
 * each session can hold.
 *
 * Throttled connections wait on a list sorted by resume time (insertion is
 * linear in the number throttled at once on this thread, which stays small:
 * only flooders are on it). */
#include "mux/mux_int.h"

#include <sys/epoll.h>

#include "core/base/log.h"

void shaper_init(struct mux_conn *c)
{
	c->tokens = (int32_t)(c->lst->burst > INT32_MAX ? INT32_MAX : c->lst->burst);
	c->tokens_ms = mux_now_ms();
}

static void refill(struct mux_conn *c, uint64_t now)
{
	uint64_t rate = c->lst->rate, burst = c->lst->burst;
	if (now <= c->tokens_ms)
		return;
	uint64_t add = (now - c->tokens_ms) * rate / 1000;
	if (!add)
		return; /* keep the remainder of the interval for next time */
	int64_t t = (int64_t)c->tokens + (int64_t)add;
	c->tokens = (int32_t)(t > (int64_t)burst ? (int64_t)burst : t);
	c->tokens_ms = now;
}

static void list_insert(struct mux_conn *c)
{
	struct mux *m = c->mux;
	struct mux_conn *after = m->th_tail;
	while (after && after->throttle_until_ms > c->throttle_until_ms)
		after = after->th_prev;
	c->th_prev = after;
	c->th_next = after ? after->th_next : m->th_head;
	if (c->th_next)
		c->th_next->th_prev = c;
	else
		m->th_tail = c;
	if (after)
		after->th_next = c;
	else
		m->th_head = c;
}

void shaper_forget(struct mux_conn *c)
{
	struct mux *m = c->mux;
	if (!c->throttled)
		return;
	if (c->th_prev)
		c->th_prev->th_next = c->th_next;
	else
		m->th_head = c->th_next;
	if (c->th_next)
		c->th_next->th_prev = c->th_prev;
	else
		m->th_tail = c->th_prev;
	c->th_prev = c->th_next = NULL;
	c->throttled = false;
}

void shaper_release(struct mux_conn *c)
{
	if (!c->throttled)
		return;
	shaper_forget(c);
	if (!c->dead)
		conn_watch(c);
}

void shaper_pause(struct mux_conn *c, unsigned ms)
{
	if (c->throttled)
		return;
	c->throttle_until_ms = mux_now_ms() + ms;
	c->throttled = true;
	list_insert(c);
	conn_watch(c);
}

bool shaper_may_read(struct mux_conn *c)
{
	if (!c->lst->rate)
		return true;
	if (c->throttled)
		return false;
	uint64_t now = mux_now_ms();
	refill(c, now);
	if (c->tokens > 0)
		return true;
	/* the time until one token is back */
	uint64_t owed = (uint64_t)(1 - (int64_t)c->tokens);
	c->throttle_until_ms = now + (owed * 1000 + c->lst->rate - 1) / c->lst->rate;
	c->throttled = true;
	list_insert(c);
	conn_watch(c);
	LOG_DEBUG("c%u.%llu: input rate over %u bytes/s: not reading for %llu ms", c->mux->idx,
		  (unsigned long long)c->id, c->lst->rate,
		  (unsigned long long)(c->throttle_until_ms - now));
	return false;
}

void shaper_took(struct mux_conn *c, size_t n)
{
	if (!c->lst->rate)
		return;
	int64_t t = (int64_t)c->tokens - (int64_t)n;
	c->tokens = (int32_t)(t < INT32_MIN ? INT32_MIN : t);
}

void shaper_resume_due(struct mux *m)
{
	uint64_t now = mux_now_ms();
	while (m->th_head && m->th_head->throttle_until_ms <= now) {
		struct mux_conn *c = m->th_head;
		shaper_forget(c);
		if (c->dead)
			continue;
		conn_watch(c);
		conn_readable(c);
	}
}

uint64_t shaper_deadline(const struct mux *m)
{
	return m->th_head ? m->th_head->throttle_until_ms : UINT64_MAX;
}
