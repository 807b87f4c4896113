/* What every stream role shares on a mux connection (RFC 6120 §4, §5): the
 * stream header's checks, our header, the <stream:features> wrapper,
 * STARTTLS, stream errors, and the hand-over of the parser's callbacks to
 * the connection's role (mux/stream_role.h; c2s: mux/c2s/c2s_role.c). */
#include "mux/mux_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "core/base/hex.h"
#include "core/base/log.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "tls/tls.h"
#include "core/xmpp/ns.h"
#include "core/xmpp/stanza.h"

/* The appends of one piece of output, checked together: out of memory
 * half-way, the piece would go out truncated and corrupt the stream, so
 * the connection is closed instead, with a log line. */
static bool built(struct mux_conn *c, enum xs st, struct xbuf *b, const char *what)
{
	if (st == XS_OK)
		return true;
	LOG_ERR("c%u.%llu: out of memory writing %s: closing", c->mux->idx,
		(unsigned long long)c->id, what);
	xbuf_free(b);
	conn_close(c, "out of memory");
	return false;
}

/* XS_OK stays XS_OK only while every append succeeds. */
#define APPEND(st, call) do { if ((st) == XS_OK) (st) = (call); } while (0)

bool stream_send_header(struct mux_conn *c, const char *from, const char *to)
{
	return stream_send_header_id(c, from, to, NULL);
}

bool stream_send_header_id(struct mux_conn *c, const char *from, const char *to,
			   char id_out[STREAM_ID_LEN + 1])
{
	/* the id is written here; only dialback reads it again (id_out) */
	unsigned char rnd[STREAM_ID_LEN / 2];
	char stream_id[STREAM_ID_LEN + 1];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd)); /* cannot happen on Linux >= 3.17 */
	hex_lower(stream_id, rnd, sizeof(rnd));
	struct xbuf b = { 0 };
	enum xs st = XS_OK;
	APPEND(st, xbuf_append_str(&b, "<?xml version='1.0'?><stream:stream xmlns='"));
	APPEND(st, xbuf_append_str(&b, c->role->ns));
	APPEND(st, xbuf_append_str(&b, "' xmlns:stream='" NS_STREAMS "'"));
	/* XEP-0220: a server that speaks dialback says so in its header */
	if (c->role->server_link && c->mux->cfg->s2s_dialback)
		APPEND(st, xbuf_append_str(&b, " xmlns:db='" NS_DIALBACK "'"));
	if (!c->role->initiator) {
		APPEND(st, xbuf_append_str(&b, " id='"));
		APPEND(st, xbuf_append_str(&b, stream_id));
		APPEND(st, xbuf_append_str(&b, "'"));
	}
	if (from && *from) {
		APPEND(st, xbuf_append_str(&b, " from='"));
		APPEND(st, xbuf_append_escaped(&b, from, strlen(from)));
		APPEND(st, xbuf_append_str(&b, "'"));
	}
	if (to && *to) {
		APPEND(st, xbuf_append_str(&b, " to='"));
		APPEND(st, xbuf_append_escaped(&b, to, strlen(to)));
		APPEND(st, xbuf_append_str(&b, "'"));
	}
	APPEND(st, xbuf_append_str(&b, " version='1.0' xml:lang='en'>"));
	if (!built(c, st, &b, "a stream header"))
		return false;
	conn_send(c, b.data, b.len);
	xbuf_free(&b);
	c->header_sent = true;
	if (id_out)
		memcpy(id_out, stream_id, sizeof(stream_id));
	return true;
}

void stream_error(struct mux_conn *c, const char *cond, const char *text)
{
	if (c->dead || c->closing)
		return;
	if (c->role->stream_error) {
		c->role->stream_error(c, cond, text);
		return;
	}
	if (!c->header_sent && !stream_send_header(c, c->domain, NULL))
		return;
	LOG_INFO("c%u.%llu: stream error <%s/> to %s%s%s", c->mux->idx, (unsigned long long)c->id,
		 cond, c->peer, text ? ": " : "", text ? text : "");
	struct xbuf b = { 0 };
	enum xs st = XS_OK;
	APPEND(st, xbuf_appendf(&b, "<stream:error><%s xmlns='" NS_STREAM_ERR "'/>", cond));
	if (text) {
		APPEND(st, xbuf_append_str(&b, "<text xmlns='" NS_STREAM_ERR "' xml:lang='en'>"));
		APPEND(st, xbuf_append_escaped(&b, text, strlen(text)));
		APPEND(st, xbuf_append_str(&b, "</text>"));
	}
	APPEND(st, xbuf_append_str(&b, "</stream:error></stream:stream>"));
	if (!built(c, st, &b, "a stream error"))
		return;
	conn_send(c, b.data, b.len);
	xbuf_free(&b);
	conn_close_after_flush(c, cond);
}

bool stream_starttls_available(const struct mux_conn *c)
{
	/* RFC 7395 3.7: TLS is the WebSocket's (wss), never STARTTLS; a BOSH
	 * session's is its HTTP connections' (https) */
	if (c->authenticated || c->websocket || c->bosh)
		return false;
	if (c->lst->mode == CFG_MODE_STARTTLS)
		return conn_tls_count(c) == 0;
	return c->lst->allow_starttls_inside_tls && conn_tls_count(c) == 1;
}

bool stream_encryption_missing(const struct mux_conn *c)
{
	return conn_tls_count(c) == 0 && c->lst->require_encryption;
}

void stream_send_features(struct mux_conn *c)
{
	struct xbuf b = { 0 };
	enum xs st = XS_OK;
	APPEND(st, xbuf_append_str(&b, "<stream:features>"));
	APPEND(st, c->role->features(c, &b));
	APPEND(st, xbuf_append_str(&b, "</stream:features>"));
	if (!built(c, st, &b, "stream features"))
		return;
	conn_send(c, b.data, b.len);
	xbuf_free(&b);
}

bool stream_pick_domain(struct mux_conn *c, const char *to)
{
	/* The domain: the one named in 'to', which must be hosted here and
	 * must not change across restarts. */
	char dom[256];
	size_t n = to ? strlen(to) : 0;
	if (n && to[n - 1] == '.')
		n--;
	if (!to || n == 0 || n >= sizeof(dom)) {
		stream_error(c, "host-unknown", "no 'to' address");
		return false;
	}
	for (size_t i = 0; i < n; i++)
		dom[i] = (char)((to[i] >= 'A' && to[i] <= 'Z') ? to[i] + 32 : to[i]);
	dom[n] = '\0';
	const struct cfg_host *host = cfg_find_host(c->mux->cfg, dom);
	if (!host || (c->domain[0] && c->domain != host->domain)) {
		stream_error(c, "host-unknown", NULL);
		return false;
	}
	c->domain = host->domain;
	return true;
}

int stream_on_open(void *arg, struct xml_node *hdr)
{
	struct mux_conn *c = arg;
	if (strcmp(hdr->name, "stream") != 0 || strcmp(hdr->ns, NS_STREAMS) != 0) {
		stream_error(c, "invalid-namespace", "the root element must be stream:stream");
		return 1;
	}
	if (strcmp(xml_stream_default_ns(conn_xml(c)), c->role->ns) != 0) {
		char text[64];
		snprintf(text, sizeof(text), "this port serves %s streams", c->role->ns);
		stream_error(c, "invalid-namespace", text);
		return 1;
	}
	return c->role->on_open(c, hdr);
}

int stream_on_close(void *arg)
{
	struct mux_conn *c = arg;
	if (!c->header_sent && !stream_send_header(c, c->domain, NULL))
		return 1;
	conn_send_str(c, "</stream:stream>");
	conn_close_after_flush(c, "stream closed by peer");
	return 1;
}

int stream_starttls(struct mux_conn *c, bool allowed)
{
	if (!allowed) {
		conn_send_str(c, "<failure xmlns='" NS_TLS "'/></stream:stream>");
		conn_close_after_flush(c, "STARTTLS not available here");
		return 1;
	}
	/* <proceed/> goes out through the current layers; everything after
	 * it, in both directions, belongs to the new TLS layer.  Buffered
	 * plaintext after <starttls/> is dropped (STARTTLS injection). */
	conn_send_str(c, "<proceed xmlns='" NS_TLS "'/>");
	if (c->dead || !conn_push_tls_server(c, NULL)) {
		conn_close(c, "cannot start TLS");
		return 1;
	}
	conn_request_restart(c);
	return 1;
}

/* Kept between deliveries up to this size; a larger one (a presence with
 * a big status) is given back at once. */
#define SCRATCH_KEEP 4096

/* RFC 6121 shows every delivered presence addressed, ejabberd addresses
 * each to the receiving resource, a client may file what it receives by
 * 'to' (slixmpp keys its roster on it), and between servers 'to' is
 * required: it is written here, per recipient, between the element name
 * and the shared rest, in one write (one TLS record), through the
 * thread's scratch buffer. */
void stream_send_addressed(struct mux_conn *c, const struct stanza *st, const char *to)
{
	static const char tag[] = "<presence";
	size_t tl = sizeof(tag) - 1;
	if (st->to || st->kind != STANZA_PRESENCE || !to || !*to || st->len <= tl ||
	    memcmp(st->bytes, tag, tl) != 0 ||
	    (st->bytes[tl] != ' ' && st->bytes[tl] != '/' && st->bytes[tl] != '>')) {
		conn_send(c, st->bytes, st->len);
		return;
	}
	struct xbuf *b = &c->mux->scratch;
	xbuf_reset(b);
	if (xbuf_append(b, tag, tl) != XS_OK || xbuf_append_str(b, " to='") != XS_OK ||
	    xbuf_append_escaped_attr(b, to, strlen(to)) != XS_OK || xbuf_append(b, "'", 1) != XS_OK ||
	    xbuf_append(b, st->bytes + tl, st->len - tl) != XS_OK)
		conn_send(c, st->bytes, st->len); /* unaddressed rather than lost */
	else
		conn_send(c, b->data, b->len);
	if (b->cap > SCRATCH_KEEP)
		xbuf_free(b);
}

int stream_on_stanza(void *arg, struct xml_node *el)
{
	struct mux_conn *c = arg;
	if (c->dead || c->closing) {
		xml_node_free(el);
		return 1;
	}
	/* the role takes ownership of el */
	int stop = c->role->on_stanza(c, el);
	return stop || c->dead || c->closing;
}
