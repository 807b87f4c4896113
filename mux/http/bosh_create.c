/* A BOSH session's creation (XEP-0124 7.1, XEP-0206 4): a request without
 * sid, on the gateway thread its connection came to, which holds the
 * session from then on (its number begins the sid).  The session's c2s
 * stream is opened at once from the request's to and xmpp:version, so the
 * answer carries the stream's features with the session's attributes. */
#include "mux/http/bosh_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/base/hex.h"
#include "core/base/log.h"
#include "core/xmpp/ns.h"
#include "mux/http/ws_conn.h"
#include "mux/mux_int.h"

void bosh_create(struct mux_conn *c, const struct bosh_to *to, const struct bosh_body *bb)
{
	struct mux *m = c->mux;
	const struct cfg *cfg = m->cfg;
	if (!bb->has_rid || !bb->has_wait || !bb->to[0]) {
		bosh_send_refusal(m, to, 400, "BOSH: a session needs rid, wait and to");
		return;
	}
	char dom[256];
	snprintf(dom, sizeof(dom), "%s", bb->to);
	for (char *p = dom; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	if (!cfg_find_host(cfg, dom)) {
		LOG_INFO("c%u.%llu: BOSH session for %s refused: not hosted here", m->idx,
			 (unsigned long long)c->id, dom);
		bosh_send_terminate(m, to, "host-unknown");
		return;
	}
	/* a session counts as a connection from its address: the same
	 * limits bound how many one address may hold */
	char ip[INET6_ADDRSTRLEN], key[PEER_KEY_LEN];
	conn_peer_ip(c, ip);
	enum peer_verdict v = mux_peer_key(m, ip, key)
				      ? peer_conn_open(m->group->peers, key, mux_now_ms(),
						       mux_peer_exempt(m, ip))
				      : PEER_NOMEM;
	if (v != PEER_OK) {
		LOG_INFO("c%u.%llu: BOSH session from %s refused: %s", m->idx,
			 (unsigned long long)c->id, c->peer,
			 v == PEER_TOO_MANY_FROM_ADDR ? "too many from this address"
			 : v == PEER_TOO_FAST	      ? "too many too fast from this address"
						      : "over a connection limit");
		bosh_send_terminate(m, to, "policy-violation");
		return;
	}
	struct xf_bosh *b = calloc(1, sizeof(*b));
	struct hmap *t = bosh_sids(m);
	struct mux_conn *s = b && t ? conn_new_bosh(m, c, b) : NULL;
	if (!s) {
		free(b);
		peer_conn_close(m->group->peers, key, true, mux_now_ms());
		bosh_send_refusal(m, to, 503, "out of memory for a BOSH session");
		return;
	}
	b->conn = s;
	/* the thread that holds it (16 bits), then 112 random bits: a
	 * request for it that comes on another gateway thread is handed here */
	unsigned char rnd[BOSH_SID_LEN / 2];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd)); /* cannot happen on Linux >= 3.17 */
	rnd[0] = (unsigned char)(m->idx >> 8);
	rnd[1] = (unsigned char)m->idx;
	hex_lower(b->sid, rnd, sizeof(rnd));
	hmap_put(t, &b->by_sid, b->sid);
	b->next = m->bosh_head;
	if (m->bosh_head)
		conn_bosh(m->bosh_head)->prev = s;
	m->bosh_head = s;
	if (!m->bosh_sweep_ms)
		m->bosh_sweep_ms = mux_now_ms() + BOSH_SWEEP_MS;
	ws_framing_init(&b->framer, NS_CLIENT);
	b->hold = bb->has_hold ? (bb->hold > BOSH_MAX_HOLD ? BOSH_MAX_HOLD : (unsigned)bb->hold) : 1;
	b->wait_s = bb->wait > cfg->http_bosh_max_wait_s ? cfg->http_bosh_max_wait_s
							 : (unsigned)bb->wait;
	b->secure = conn_is_encrypted(c);
	b->last_request_ms = mux_now_ms();
	bosh_window_init(&b->win, bb->rid, b->hold + 1);
	LOG_INFO("c%u.%llu: BOSH session %s from %s as c%u.%llu (wait %u, hold %u)", m->idx,
		 (unsigned long long)c->id, b->sid, c->peer, m->idx, (unsigned long long)s->id,
		 b->wait_s, b->hold);

	ws_stream_restart(s); /* the root its stanzas are read under */
	s->in_input = true;
	bosh_open_stream(s, bb);
	s->in_input = false;
	if (s->dead || b->ended) {
		bosh_send_terminate(m, to, "remote-stream-error");
		if (!s->dead)
			conn_close(s, "BOSH session refused by the stream");
		return;
	}
	/* XEP-0124 7.1 with XEP-0206's attributes; the features go in it */
	unsigned ver = 11;
	if (!strncmp(bb->ver, "1.", 2)) {
		unsigned long v2 = strtoul(bb->ver + 2, NULL, 10);
		if (v2 < ver)
			ver = (unsigned)v2;
	}
	struct xbuf out = { 0 };
	enum xs st = xbuf_appendf(
		&out,
		"<body xmlns='" NS_HTTPBIND "' xmlns:xmpp='" NS_XBOSH "' xmlns:stream='" NS_STREAMS
		"' sid='%s' wait='%u' requests='%u' hold='%u' inactivity='%u' polling='%u'"
		" ver='1.%u' from='%s' authid='%s' secure='%s' xmpp:version='1.0'"
		" xmpp:restartlogic='true'>",
		b->sid, b->wait_s, b->hold + 1, b->hold, cfg->http_bosh_inactivity_s, 2u, ver,
		s->domain, b->stream_id, b->secure ? "true" : "false");
	if (st == XS_OK)
		st = xbuf_append(&out, s->chain.sock_out.data, s->chain.sock_out.len);
	if (st == XS_OK)
		st = xbuf_append_str(&out, "</body>");
	if (st != XS_OK) {
		xbuf_free(&out);
		conn_close(s, "out of memory");
		bosh_send_refusal(m, to, 503, "out of memory for a BOSH session");
		return;
	}
	xbuf_consume(&s->chain.sock_out, s->chain.sock_out.len);
	bosh_window_keep(&b->win, bb->rid, out.data, out.len);
	bosh_send(m, to, out.data, out.len);
	xbuf_free(&out);
}
