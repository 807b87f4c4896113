/* The BOSH filter (mux/xfilter.h): filter 0 of a BOSH session's record, in
 * place of the socket (mux/http/bosh_conn.h).
 *
 * What the c2s role writes is cut into elements by the same framer as a
 * WebSocket's (core/http/ws_framing.h), so each carries its namespaces and
 * can stand inside a <body/>.  The header's <open/> is not sent (a
 * session's attributes go on its creation response; its id is kept as
 * authid); </stream:stream>'s <close/> marks the session for termination;
 * every other element waits in c->chain.sock_out, as a socket's output
 * waits for the kernel, for a held request (bosh_flush). */
#include "mux/http/bosh_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "mux/mux_int.h"

struct xf_bosh *conn_bosh(const struct mux_conn *c)
{
	return c->chain.n && c->chain.type[0] == XF_BOSH ? c->chain.ctx[0] : NULL;
}

static bool starts_with(const char *msg, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len >= n && memcmp(msg, lit, n) == 0;
}

/* The value of attribute name='...' in an <open/> we wrote. */
static void copy_attr(const char *msg, size_t len, const char *name, char *out, size_t cap)
{
	char pat[16];
	snprintf(pat, sizeof(pat), " %s='", name);
	size_t pn = strlen(pat);
	out[0] = '\0';
	for (size_t i = 0; i + pn <= len; i++) {
		if (memcmp(msg + i, pat, pn) != 0)
			continue;
		size_t start = i + pn, end = start;
		while (end < len && msg[end] != '\'')
			end++;
		size_t n = end - start < cap - 1 ? end - start : cap - 1;
		memcpy(out, msg + start, n);
		out[n] = '\0';
		return;
	}
}

static bool emit_element(void *arg, char *msg, size_t len)
{
	struct mux_conn *c = arg;
	struct xf_bosh *b = c->chain.ctx[0];
	if (starts_with(msg, len, "<open ")) {
		copy_attr(msg, len, "id", b->stream_id, sizeof(b->stream_id));
		return true;
	}
	if (starts_with(msg, len, "<close ")) {
		b->ended = true;
		return true;
	}
	if (starts_with(msg, len, "<stream:error"))
		b->stream_error = true;
	if (xbuf_append(&c->chain.sock_out, msg, len) != XS_OK) {
		LOG_ERR("c%u.%llu: out of memory queueing for a BOSH session: closing",
			c->mux->idx, (unsigned long long)c->id);
		conn_close(c, "out of memory");
		return false;
	}
	return true;
}

static bool xfb_send(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	struct xf_bosh *b = c->chain.ctx[i];
	if (!ws_framing_feed(&b->framer, data, len, emit_element, c)) {
		if (!c->dead) {
			LOG_ERR("c%u.%llu: cannot frame our output for BOSH: closing", c->mux->idx,
				(unsigned long long)c->id);
			conn_close(c, "BOSH framing failed");
		}
		return false;
	}
	return !c->dead;
}

static const void *xfb_pending(const struct mux_conn *c, unsigned i, size_t *len)
{
	(void)i;
	*len = c->chain.sock_out.len;
	return c->chain.sock_out.data;
}

static void xfb_consume(struct mux_conn *c, unsigned i, size_t n)
{
	(void)i;
	xbuf_consume(&c->chain.sock_out, n);
}

/* Held requests do not keep a session awake: they are the client's
 * standing offer to take output, not input in flight. */
static bool xfb_idle(const struct mux_conn *c, unsigned i)
{
	const struct xf_bosh *b = c->chain.ctx[i];
	return !c->chain.sock_out.len && ws_framing_idle(&b->framer);
}

static enum xs xfb_sleep(struct mux_conn *c, unsigned i)
{
	struct xf_bosh *b = c->chain.ctx[i];
	ws_framing_shrink(&b->framer);
	return XS_OK;
}

static size_t xfb_mem(const struct mux_conn *c, unsigned i)
{
	const struct xf_bosh *b = c->chain.ctx[i];
	size_t n = sizeof(*b) + c->chain.sock_out.cap + ws_framing_mem(&b->framer) +
		   bosh_window_mem(&b->win);
	for (unsigned k = 0; k < b->n_ahead; k++)
		n += b->ahead[k].body.cap;
	return n;
}

static void xfb_free(struct mux_conn *c, unsigned i)
{
	if (!c->chain.ctx[i])
		return;
	bosh_session_free(c);
	xbuf_free(&c->chain.sock_out);
	c->chain.ctx[i] = NULL;
}

const struct xfilter_ops xf_bosh_ops = {
	.name = "bosh",
	.recv = NULL, /* input comes from requests (bosh_session.c), not recv() */
	.send = xfb_send,
	.pending = xfb_pending,
	.consume = xfb_consume,
	.idle = xfb_idle,
	.sleep = xfb_sleep,
	.mem = xfb_mem,
	.free = xfb_free,
};
