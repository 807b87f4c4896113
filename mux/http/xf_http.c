/* The HTTP filter (mux/xfilter.h): the top of an http or https
 * connection's chain, in place of the XML parser.  Plaintext from below is
 * fed to the request parser (core/http/http_req.h, llhttp); each complete
 * request goes to the http role (http_role.c), in order, pipelined ones
 * included.  Output passes through untouched: the role writes whole
 * responses. */
#include "mux/http/http_conn.h"

#include <stdlib.h>

#include "core/base/log.h"
#include "core/conf/cfg.h"
#include "mux/http/bosh_conn.h"
#include "mux/http/ws_conn.h"

struct xf_http {
	struct http_req req;
	/* bytes of a request that is not complete yet have come: a timeout
	 * or shutdown now interrupts a request (408/503), not an idle
	 * connection (closed without a word, RFC 9112 9.8) */
	bool partial;
	/* the last request's answer comes later and ends the connection:
	 * what follows is not read */
	bool stopped;
	/* a BOSH request is held: its answer comes when the session has
	 * something to say (conn_http_hold) */
	bool held;
};

bool conn_push_http(struct mux_conn *c)
{
	struct xchain *x = &c->chain;
	if (x->n >= XCHAIN_MAX)
		return false;
	struct xf_http *h = calloc(1, sizeof(*h));
	if (!h)
		return false;
	const struct cfg *cfg = c->mux->cfg;
	struct http_limits lim = {
		.max_header_bytes = cfg->http_max_header_bytes,
		.max_body_bytes = cfg->http_max_body_bytes,
		.max_target_bytes = cfg->http_max_target_bytes,
	};
	http_req_init(&h->req, &lim);
	x->ctx[x->n] = h;
	x->type[x->n] = XF_HTTP;
	x->n++;
	return true;
}

static struct xf_http *top_http(const struct mux_conn *c)
{
	unsigned top = c->chain.n - 1u;
	return c->chain.n && c->chain.type[top] == XF_HTTP ? c->chain.ctx[top] : NULL;
}

bool conn_http_partial(const struct mux_conn *c)
{
	const struct xf_http *h = top_http(c);
	return h && h->partial;
}

void conn_http_hold(struct mux_conn *c)
{
	struct xf_http *h = top_http(c);
	if (h && !h->held) {
		h->held = true;
		conn_preauth_remove(c); /* the session answers it by `wait` */
	}
}

void conn_http_resume(struct mux_conn *c)
{
	struct xf_http *h = top_http(c);
	if (h && h->held) {
		h->held = false;
		conn_preauth_restart(c); /* its keep-alive time, from the answer */
	}
}

/* Answers go in the order of requests: one that comes before the held
 * one's answer could only be answered after it, by `wait`, and no BOSH
 * client pipelines; refused rather than buffered. */
static void pipelined_while_held(struct mux_conn *c)
{
	LOG_INFO("c%u.%llu: %s sent a request before its held BOSH request's answer: closing",
		 c->mux->idx, (unsigned long long)c->id, c->peer);
	conn_close(c, "request pipelined behind a held BOSH request");
}

static void http_recv(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	struct xf_http *h = c->chain.ctx[i];
	if (h->held && len) {
		pipelined_while_held(c);
		return;
	}
	while (len && !c->dead && !c->closing && !h->stopped) {
		size_t used = 0;
		switch (http_req_feed(&h->req, data, len, &used)) {
		case HTTP_FEED_MORE:
			h->partial = true;
			return;
		case HTTP_FEED_ERROR:
			http_conn_refuse(c, h->req.status, h->req.reason);
			return;
		case HTTP_FEED_UPGRADE:
			/* the parser is done with this connection: whatever
			 * the answer, nothing more is read as HTTP.  A
			 * WebSocket's frames may follow in the same read. */
			h->partial = false;
			if (http_conn_request(c, &h->req, true) == HTTP_NEXT_WEBSOCKET &&
			    conn_upgrade_ws(c, i) && len > used) /* h is gone */
				xchain_up(c, i, data + used, len - used);
			return;
		case HTTP_FEED_REQUEST:
			h->partial = false;
			h->stopped = http_conn_request(c, &h->req, false) == HTTP_NEXT_STOP;
			http_req_next(&h->req);
			data += used;
			len -= used;
			if (h->held && len && !c->dead) {
				pipelined_while_held(c);
				return;
			}
			break;
		}
	}
}

static bool http_send(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	return xfilter_ops_of(&c->chain, i - 1)->send(c, i - 1, data, len);
}

static const void *http_pending(const struct mux_conn *c, unsigned i, size_t *len)
{
	(void)c;
	(void)i;
	*len = 0; /* holds no output */
	return NULL;
}

static void http_consume(struct mux_conn *c, unsigned i, size_t n)
{
	(void)c;
	(void)i;
	(void)n;
}

static bool http_idle(const struct mux_conn *c, unsigned i)
{
	(void)c;
	(void)i;
	return true;
}

static enum xs http_sleep(struct mux_conn *c, unsigned i)
{
	(void)c;
	(void)i;
	return XS_OK; /* an HTTP connection is never established: it never sleeps */
}

static size_t http_mem(const struct mux_conn *c, unsigned i)
{
	const struct xf_http *h = c->chain.ctx[i];
	size_t n = sizeof(*h) + h->req.target.cap + h->req.body.cap;
	for (unsigned k = 0; k < HTTP_HDR_COUNT; k++)
		n += h->req.hdr[k].cap;
	return n;
}

static void http_free(struct mux_conn *c, unsigned i)
{
	struct xf_http *h = c->chain.ctx[i];
	http_req_free(&h->req);
	free(h);
	c->chain.ctx[i] = NULL;
}

const struct xfilter_ops xf_http_ops = {
	.name = "http",
	.recv = http_recv,
	.send = http_send,
	.pending = http_pending,
	.consume = http_consume,
	.idle = http_idle,
	.sleep = http_sleep,
	.mem = http_mem,
	.free = http_free,
};
