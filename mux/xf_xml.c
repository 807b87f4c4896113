/* The XML filter (mux/xfilter.h): the top of every chain, the stream's
 * parser (core/xml/xml_stream.h).  Plaintext from below is parsed; the
 * parser's callbacks (mux_stream.c) hand the header and each stanza to the
 * connection's role.  Output passes through it untouched: what a role
 * writes is already XML. */
#include "mux/mux_int.h"

#include "core/base/log.h"
#include "core/xml/xml_stream.h"
#include "mux/http/ws_conn.h"

static const struct xml_stream_cb stream_callbacks = {
	.stream_open = stream_on_open,
	.stanza = stream_on_stanza,
	.stream_close = stream_on_close,
};

struct xml_stream *conn_xml(const struct mux_conn *c)
{
	unsigned top = c->chain.n - 1u;
	return c->chain.n && c->chain.type[top] == XF_XML ? c->chain.ctx[top] : NULL;
}

/* RFC 7395 over WebSocket (mux/http/xf_ws.c): each message is a document of
 * its own, <open/> and <close/> in place of the stream's ends.  The parser
 * reads them all as the children of one root that xf_ws feeds it (at the
 * start and after each restart), so that stanzas are parsed, limited and
 * handed on exactly as on a socket; the callbacks tell <open/> and
 * <close/> from stanzas. */
static const struct xml_stream_cb framed_callbacks = {
	.stream_open = ws_on_root,
	.stanza = ws_on_element,
	.stream_close = stream_on_close,
};

static bool push_xml(struct mux_conn *c, const struct xml_stream_limits *lim,
		     const struct xml_stream_cb *cb)
{
	struct xchain *x = &c->chain;
	if (x->n >= XCHAIN_MAX)
		return false;
	struct xml_stream *s = xml_stream_new(lim, cb, c);
	if (!s)
		return false;
	x->ctx[x->n] = s;
	x->type[x->n] = XF_XML;
	x->n++;
	return true;
}

bool conn_push_xml(struct mux_conn *c, const struct xml_stream_limits *lim)
{
	return push_xml(c, lim, &stream_callbacks);
}

bool conn_push_xml_framed(struct mux_conn *c, const struct xml_stream_limits *lim)
{
	return push_xml(c, lim, &framed_callbacks);
}

static void xml_error(struct mux_conn *c, struct xml_stream *s, enum xml_stream_err e)
{
	const char *cond = "not-well-formed";
	switch (e) {
	case XML_STREAM_RESTRICTED_XML: cond = "restricted-xml"; break;
	case XML_STREAM_POLICY_VIOLATION:
		cond = "policy-violation";
		c->mux->n_limits[STATS_LIMIT_XML]++;
		break;
	case XML_STREAM_NOMEM: cond = "resource-constraint"; break;
	default: break;
	}
	LOG_INFO("c%u.%llu: XML error from %s: %s", c->mux->idx, (unsigned long long)c->id,
		 c->peer, xml_stream_err_text(s));
	stream_error(c, cond, NULL);
}

static void xml_recv(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	struct xml_stream *s = c->chain.ctx[i];
	if (c->closing || c->dead)
		return; /* after our stream error, input is ignored */
	c->in_parser = true;
	enum xml_stream_err e = xml_stream_feed(s, data, len);
	c->in_parser = false;
	if (c->dead)
		return;
	if (c->reset_parser) {
		/* STARTTLS or SASL success: input after the element that asked
		 * for the restart is dropped (it cannot be legitimate). */
		c->reset_parser = false;
		if (xml_stream_reset(s) != XS_OK)
			conn_close(c, "parser reset failed");
		else if (c->websocket || c->bosh)
			ws_stream_restart(c);
		return;
	}
	if (e == XML_STREAM_OK || e == XML_STREAM_STOPPED || e == XML_STREAM_CLOSED)
		return;
	xml_error(c, s, e);
}

static bool xml_send(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	return xfilter_ops_of(&c->chain, i - 1)->send(c, i - 1, data, len);
}

static const void *xml_pending(const struct mux_conn *c, unsigned i, size_t *len)
{
	(void)c;
	(void)i;
	*len = 0; /* holds no output */
	return NULL;
}

static void xml_consume(struct mux_conn *c, unsigned i, size_t n)
{
	(void)c;
	(void)i;
	(void)n;
}

static bool xml_idle(const struct mux_conn *c, unsigned i)
{
	(void)i;
	return !c->in_parser;
}

static enum xs xml_sleep(struct mux_conn *c, unsigned i)
{
	return xml_stream_sleep(c->chain.ctx[i]);
}

static size_t xml_mem(const struct mux_conn *c, unsigned i)
{
	return xml_stream_mem_usage(c->chain.ctx[i]);
}

static void xml_free(struct mux_conn *c, unsigned i)
{
	xml_stream_free(c->chain.ctx[i]);
	c->chain.ctx[i] = NULL;
}

const struct xfilter_ops xf_xml_ops = {
	.name = "xml",
	.recv = xml_recv,
	.send = xml_send,
	.pending = xml_pending,
	.consume = xml_consume,
	.idle = xml_idle,
	.sleep = xml_sleep,
	.mem = xml_mem,
	.free = xml_free,
};
