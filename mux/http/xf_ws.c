/* The WebSocket filter (mux/xfilter.h): under the XML parser of a
 * connection upgraded to XMPP over WebSocket (RFC 7395), above the socket
 * or TLS.
 *
 * Input: frames are parsed (core/http/ws_frame.h), each text message's
 * payload goes up to the parser as it comes (unmasked, UTF-8 checked, no
 * copy of the message held here), and at each message's end the parser
 * must stand between elements.  Pings get pongs; a close frame is
 * answered and ends the connection; a protocol error closes it with its
 * code (1002, 1003, 1007, 1009) and a log line.
 *
 * Output: what the c2s role writes, the same XML as on a socket, is cut
 * into one text message per element and rewritten as RFC 7395 wants it
 * (core/http/ws_framing.h: <open/> for the header, <close/> for its end,
 * namespaces declared on each); after <close/> comes the close frame, and
 * nothing after that.
 *
 * The parser reads a connection's messages as the children of one root
 * fed here (ROOT), at the start and after each restart: so each stanza is
 * parsed, limited and handed to the role as on a socket, and only
 * <open/> and <close/> are told apart (ws_on_element). */
#include "mux/http/ws_conn.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/http/ws_frame.h"
#include "core/http/ws_framing.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xmpp/ns.h"
#include "mux/mux_int.h"

static const char ROOT[] = "<stream:stream xmlns='" NS_CLIENT "' xmlns:stream='" NS_STREAMS "'>";
/* what ws_framing makes of </stream:stream> (RFC 7395's form) */
static const char CLOSE_ELEMENT[] = "<close xmlns=\"" NS_FRAMING "\" />";

struct xf_ws {
	struct ws_parser in;
	struct ws_framing out;
	bool opened;     /* the current stream's <open/> has come */
	bool close_sent; /* our close frame is written: nothing may follow it */
};

static unsigned ws_index(const struct mux_conn *c)
{
	for (unsigned i = 1; i < c->chain.n; i++)
		if (c->chain.type[i] == XF_WS)
			return i;
	return 0;
}

static struct xf_ws *ws_of(const struct mux_conn *c)
{
	unsigned i = ws_index(c);
	return i ? c->chain.ctx[i] : NULL;
}

/* A control frame (a pong, a close) straight to the filter below: it does
 * not go through the framer, and may come between two messages only,
 * which it does, as output is written a whole message at a time. */
static bool send_frame(struct mux_conn *c, unsigned i, const uint8_t *frame, size_t len)
{
	if (!xfilter_ops_of(&c->chain, i - 1)->send(c, i - 1, (const char *)frame, len))
		return false;
	if (!c->in_input && !c->dead)
		conn_flush(c);
	return !c->dead;
}

static void send_close(struct mux_conn *c, unsigned i, uint16_t code, const char *reason)
{
	struct xf_ws *w = c->chain.ctx[i];
	if (w->close_sent)
		return;
	uint8_t frame[WS_HEADER_MAX + WS_CLOSE_FRAME_MAX];
	size_t n = ws_close_frame(frame, code, reason);
	w->close_sent = true;
	send_frame(c, i, frame, n);
}

static void ws_fail(struct mux_conn *c, unsigned i, uint16_t code, const char *why)
{
	if (code == 1009)
		c->mux->n_limits[STATS_LIMIT_WEBSOCKET]++;
	LOG_INFO("c%u.%llu: WebSocket error from %s: %s: closing with %u", c->mux->idx,
		 (unsigned long long)c->id, c->peer, why, (unsigned)code);
	send_close(c, i, code, why);
	conn_close_after_flush(c, why);
}

/* RFC 6455 5.5.1: the peer's close is answered with its code, and the
 * connection ends.  Without a <close/> first (RFC 7395 3.6) the stream
 * ends as a socket's does when the peer goes: a session with stream
 * management waits to be resumed. */
static void ws_peer_close(struct mux_conn *c, unsigned i, const struct ws_ev *ev)
{
	LOG_INFO("c%u.%llu: WebSocket closed by %s (code %u)", c->mux->idx,
		 (unsigned long long)c->id, c->peer, (unsigned)ev->code);
	send_close(c, i, ev->code ? ev->code : 1000, NULL);
	conn_close_after_flush(c, "WebSocket closed by peer");
}

/* RFC 7395 3.3.3: a message holds whole elements; one that ends inside an
 * element would make the next message its continuation. */
static void ws_message_end(struct mux_conn *c)
{
	struct xml_stream *s = conn_xml(c);
	if (s && !c->closing && !c->dead && !xml_stream_between_stanzas(s))
		stream_error(c, "invalid-xml",
			     "a WebSocket message must hold whole elements (RFC 7395 3.3.3)");
}

static void ws_recv(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	struct xf_ws *w = c->chain.ctx[i];
	/* a text piece goes up to the parser before the next is unmasked */
	uint8_t scratch[4096];
	while (!c->dead && !c->closing) {
		struct ws_ev ev;
		size_t used = ws_parse(&w->in, (const uint8_t *)data, len, scratch, sizeof(scratch),
				       &ev);
		data += used;
		len -= used;
		switch (ev.type) {
		case WS_EV_MORE:
			return;
		case WS_EV_TEXT:
			xchain_up(c, i + 1, (const char *)ev.data, ev.len);
			break;
		case WS_EV_MESSAGE_END:
			ws_message_end(c);
			break;
		case WS_EV_PING: {
			uint8_t pong[WS_HEADER_MAX + WS_CONTROL_MAX];
			size_t h = ws_frame_header(pong, WS_OP_PONG, ev.len);
			memcpy(pong + h, ev.data, ev.len);
			if (!w->close_sent)
				send_frame(c, i, pong, h + ev.len);
			break;
		}
		case WS_EV_PONG:
			break;
		case WS_EV_CLOSE:
			ws_peer_close(c, i, &ev);
			return;
		case WS_EV_ERROR:
			ws_fail(c, i, ev.code, ev.why);
			return;
		}
	}
}

struct emit_to {
	struct mux_conn *c;
	unsigned i;
};

/* One message of ours: its frame header goes in the headroom the framer
 * left before it, and the frame goes down in one piece. */
static bool emit_message(void *arg, char *msg, size_t len)
{
	struct emit_to *e = arg;
	struct mux_conn *c = e->c;
	struct xf_ws *w = c->chain.ctx[e->i];
	uint8_t hdr[WS_HEADER_MAX];
	size_t h = ws_frame_header(hdr, WS_OP_TEXT, len);
	memcpy(msg - h, hdr, h);
	if (!xfilter_ops_of(&c->chain, e->i - 1)->send(c, e->i - 1, msg - h, h + len))
		return false;
	/* our <close/>: the WebSocket ends with it (RFC 7395 3.6) */
	if (len == sizeof(CLOSE_ELEMENT) - 1 && memcmp(msg, CLOSE_ELEMENT, len) == 0) {
		uint8_t frame[WS_HEADER_MAX + WS_CLOSE_FRAME_MAX];
		size_t n = ws_close_frame(frame, 1000, NULL);
		w->close_sent = true;
		return xfilter_ops_of(&c->chain, e->i - 1)->send(c, e->i - 1, (const char *)frame, n);
	}
	return true;
}

static bool ws_send(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	struct xf_ws *w = c->chain.ctx[i];
	if (w->close_sent)
		return true; /* RFC 6455 5.5.1: nothing after a close frame */
	struct emit_to e = { c, i };
	if (!ws_framing_feed(&w->out, data, len, emit_message, &e)) {
		if (!c->dead) {
			LOG_ERR("c%u.%llu: cannot frame our output for WebSocket: closing",
				c->mux->idx, (unsigned long long)c->id);
			conn_close(c, "WebSocket framing failed");
		}
		return false;
	}
	return !c->dead;
}

static const void *ws_pending(const struct mux_conn *c, unsigned i, size_t *len)
{
	(void)c;
	(void)i;
	*len = 0; /* output goes down at once */
	return NULL;
}

static void ws_consume(struct mux_conn *c, unsigned i, size_t n)
{
	(void)c;
	(void)i;
	(void)n;
}

static bool ws_idle(const struct mux_conn *c, unsigned i)
{
	const struct xf_ws *w = c->chain.ctx[i];
	return ws_parser_idle(&w->in) && ws_framing_idle(&w->out);
}

static enum xs ws_sleep(struct mux_conn *c, unsigned i)
{
	struct xf_ws *w = c->chain.ctx[i];
	ws_framing_shrink(&w->out);
	return XS_OK;
}

static size_t ws_mem(const struct mux_conn *c, unsigned i)
{
	const struct xf_ws *w = c->chain.ctx[i];
	return sizeof(*w) + ws_framing_mem(&w->out);
}

static void ws_free(struct mux_conn *c, unsigned i)
{
	struct xf_ws *w = c->chain.ctx[i];
	ws_framing_free(&w->out);
	free(w);
	c->chain.ctx[i] = NULL;
}

const struct xfilter_ops xf_ws_ops = {
	.name = "websocket",
	.recv = ws_recv,
	.send = ws_send,
	.pending = ws_pending,
	.consume = ws_consume,
	.idle = ws_idle,
	.sleep = ws_sleep,
	.mem = ws_mem,
	.free = ws_free,
};

/* ---- the stream over it ---- */

void ws_stream_restart(struct mux_conn *c)
{
	struct xf_ws *w = ws_of(c);
	struct xml_stream *s = conn_xml(c);
	if (!s || (!w && !c->bosh))
		return;
	if (w)
		w->opened = false;
	c->in_parser = true;
	enum xml_stream_err e = xml_stream_feed(s, ROOT, sizeof(ROOT) - 1);
	c->in_parser = false;
	if (e != XML_STREAM_OK && !c->dead)
		conn_close(c, "cannot start the WebSocket stream's parser");
}

int ws_on_root(void *arg, struct xml_node *root)
{
	(void)arg;
	(void)root;
	return 0; /* ours (ROOT): the stream starts with the client's <open/> */
}

int ws_on_element(void *arg, struct xml_node *el)
{
	struct mux_conn *c = arg;
	if (c->bosh && !c->dead && !c->closing)
		return stream_on_stanza(c, el); /* the request's <body/> says the rest */
	struct xf_ws *w = ws_of(c);
	if (c->dead || c->closing || !w) {
		xml_node_free(el);
		return 1;
	}
	bool framing = strcmp(el->ns, NS_FRAMING) == 0;
	if (framing && strcmp(el->name, "close") == 0) {
		xml_node_free(el);
		return stream_on_close(c);
	}
	if (framing && strcmp(el->name, "open") == 0 && !w->opened) {
		/* the stream header's checks and ours: the role's (to,
		 * version), as for <stream:stream> */
		w->opened = true;
		int stop = c->role->on_open(c, el);
		xml_node_free(el);
		return stop || c->dead || c->closing;
	}
	if (!w->opened || framing) {
		xml_node_free(el);
		stream_error(c, "invalid-xml",
			     w->opened ? "<open/> only after a restart" : "<open/> must come first");
		return 1;
	}
	return stream_on_stanza(c, el);
}

bool conn_upgrade_ws(struct mux_conn *c, unsigned i)
{
	/* the HTTP parser goes; nothing it holds is needed any more (the
	 * bytes after the request are the caller's) */
	xfilter_ops_of(&c->chain, i)->free(c, i);
	c->chain.n = (uint8_t)i;
	struct xf_ws *w = calloc(1, sizeof(*w));
	if (!w) {
		conn_close(c, "out of memory for a WebSocket");
		return false;
	}
	ws_parser_init(&w->in, c->mux->cfg->http_ws_max_message);
	ws_framing_init(&w->out, NS_CLIENT);
	c->chain.ctx[i] = w;
	c->chain.type[i] = XF_WS;
	c->chain.n = (uint8_t)(i + 1);
	c->websocket = true;
	if (!conn_switch_role(c, &c2s_role))
		return false;
	struct xml_stream_limits lim;
	conn_stream_limits(c, &lim);
	if (!conn_push_xml_framed(c, &lim)) {
		conn_close(c, "out of memory for a WebSocket");
		return false;
	}
	ws_stream_restart(c);
	LOG_INFO("c%u.%llu: WebSocket from %s: XMPP (RFC 7395)", c->mux->idx,
		 (unsigned long long)c->id, c->peer);
	return !c->dead;
}
