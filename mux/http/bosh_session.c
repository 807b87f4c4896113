/* BOSH sessions (XEP-0124, XEP-0206): requests to [http] bosh_path and
 * what they do to their sessions (mux/http/bosh_conn.h).
 *
 * A request without sid creates a session (bosh_create.c).  A request
 * with a sid goes through the session's window
 * (core/http/bosh_window.h): handled in rid order (one ahead of its turn
 * waits for the gap), a repeated one answered again from the kept copy,
 * one outside the window ends the session with item-not-found.  Handling
 * a request holds it first, then restarts the stream if it says so, then
 * feeds its children to the session's parser; what the stream writes
 * meanwhile or later answers the oldest held request (bosh_flush).  No
 * more than `hold` stay held: the oldest is answered, empty if need be,
 * and each is answered at `wait` at the latest.  A session with no request
 * for [http] bosh_inactivity seconds ends, as a socket that goes: its
 * contacts see it go unavailable. */
#include "mux/http/bosh_conn.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/http/http_origin.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/ns.h"
#include "mux/http/http_conn.h"
#include "mux/mux_int.h"


static struct xf_bosh *of_entry(struct hmap_entry *e)
{
	return (struct xf_bosh *)((char *)e - offsetof(struct xf_bosh, by_sid));
}

/* ---- answers ---- */

static const char *origin_of(const struct http_req *r)
{
	return (r->hdr_present & (1u << HTTP_HDR_ORIGIN)) && r->hdr[HTTP_HDR_ORIGIN].data
		       ? r->hdr[HTTP_HDR_ORIGIN].data
		       : NULL;
}

static void drop_req(struct bosh_req *arr, unsigned *n, unsigned k)
{
	xbuf_free(&arr[k].body);
	memmove(&arr[k], &arr[k + 1], (*n - k - 1) * sizeof(arr[0]));
	(*n)--;
	memset(&arr[*n], 0, sizeof(arr[0]));
}

/* <body/> with what waits for the client; type='terminate' once the
 * stream is over. */
static enum xs build_answer(const struct mux_conn *s, const struct xf_bosh *b, struct xbuf *out)
{
	enum xs st = xbuf_append_str(out, "<body xmlns='" NS_HTTPBIND "'");
	if (st == XS_OK && b->ended)
		st = xbuf_append_str(out, b->stream_error ? " type='terminate' "
							    "condition='remote-stream-error'"
							  : " type='terminate'");
	if (st != XS_OK)
		return st;
	if (!s->chain.sock_out.len)
		return xbuf_append_str(out, "/>");
	if ((st = xbuf_append_str(out, ">")) != XS_OK ||
	    (st = xbuf_append(out, s->chain.sock_out.data, s->chain.sock_out.len)) != XS_OK)
		return st;
	return xbuf_append_str(out, "</body>");
}

void bosh_answer(struct mux_conn *s, unsigned k)
{
	struct xf_bosh *b = conn_bosh(s);
	struct bosh_req q = b->held[k];
	memmove(&b->held[k], &b->held[k + 1], (b->n_held - k - 1) * sizeof(q));
	b->n_held--;
	/* XEP-0124 7.5: inactivity counts while no request is pending */
	b->last_request_ms = mux_now_ms();
	struct xbuf out = { 0 };
	if (build_answer(s, b, &out) != XS_OK) {
		xbuf_free(&out);
		xbuf_free(&q.body);
		LOG_ERR("c%u.%llu: out of memory answering a BOSH request: closing",
			s->mux->idx, (unsigned long long)s->id);
		bosh_send_refusal(s->mux, &q.to, 503, "out of memory");
		conn_close(s, "out of memory");
		return;
	}
	xbuf_consume(&s->chain.sock_out, s->chain.sock_out.len);
	/* kept for a repeat of this rid, should the answer be lost */
	if (bosh_window_keep(&b->win, q.rid, out.data, out.len) != XS_OK)
		LOG_WARN("c%u.%llu: out of memory keeping a BOSH answer", s->mux->idx,
			 (unsigned long long)s->id);
	bosh_send(s->mux, &q.to, out.data, out.len);
	xbuf_free(&out);
	xbuf_free(&q.body);
}

void bosh_flush(struct mux_conn *s)
{
	struct xf_bosh *b = conn_bosh(s);
	if (!b || s->dead)
		return;
	/* held requests whose connection went: their rids wait for a repeat */
	for (unsigned k = b->n_held; k-- > 0;)
		if (bosh_to_gone(s->mux, &b->held[k].to))
			drop_req(b->held, &b->n_held, k);
	if (s->chain.sock_out.len && b->n_held)
		bosh_answer(s, 0);
	if (s->dead)
		return;
	if (b->ended) {
		/* the stream is over: every held request learns it */
		while (b->n_held && !s->dead)
			bosh_answer(s, 0);
		/* what is left waits for the client's next request, unless no
		 * request will come (the server is stopping) */
		if (!s->dead && (!s->chain.sock_out.len || s->mux->shutting_down))
			conn_close(s, "BOSH session terminated");
		return;
	}
	if (s->closing && !s->chain.sock_out.len)
		conn_close(s, "closed after final flush");
}

/* ---- the thread's sessions ---- */

struct hmap *bosh_sids(struct mux *m)
{
	if (!m->bosh_sids_ready) {
		if (hmap_init(&m->bosh_sids, 64) != 0)
			return NULL;
		m->bosh_sids_ready = true;
	}
	return &m->bosh_sids;
}

static struct mux_conn *find(struct mux *m, const char *sid)
{
	struct hmap *t = bosh_sids(m);
	struct hmap_entry *e = t ? hmap_get(t, sid) : NULL;
	return e ? of_entry(e)->conn : NULL;
}

void bosh_session_free(struct mux_conn *s)
{
	struct xf_bosh *b = conn_bosh(s);
	if (!b)
		return;
	struct mux *m = s->mux;
	/* whoever still waits learns that the session is gone */
	for (unsigned k = 0; k < b->n_held; k++)
		bosh_send_terminate(m, &b->held[k].to, NULL);
	for (unsigned k = 0; k < b->n_ahead; k++) {
		bosh_send_terminate(m, &b->ahead[k].to, "item-not-found");
		xbuf_free(&b->ahead[k].body);
	}
	for (unsigned k = 0; k < b->n_held; k++)
		xbuf_free(&b->held[k].body);
	if (b->sid[0] && m->bosh_sids_ready)
		hmap_del(&m->bosh_sids, &b->by_sid);
	if (b->prev)
		conn_bosh(b->prev)->next = b->next;
	else if (m->bosh_head == s)
		m->bosh_head = b->next;
	if (b->next)
		conn_bosh(b->next)->prev = b->prev;
	bosh_window_free(&b->win);
	ws_framing_free(&b->framer);
	free(b);
}

/* ---- handling a request ---- */

/* The stream's header, from the request's attributes: what <open/> is
 * over WebSocket.  Only where the stream waits for one (new, or after
 * SASL success asked for a restart). */
void bosh_open_stream(struct mux_conn *s, const struct bosh_body *bb)
{
	if (s->header_sent || s->dead || s->closing)
		return;
	struct xml_node *h = xml_node_new_elem("open", NS_FRAMING);
	if (!h || xml_node_set_attr(h, "to", bb->to[0] ? bb->to : s->domain) != XS_OK ||
	    xml_node_set_attr(h, "version", bb->xmpp_version[0] ? bb->xmpp_version : "1.0") !=
		    XS_OK) {
		xml_node_free(h);
		conn_close(s, "out of memory");
		return;
	}
	s->role->on_open(s, h);
	xml_node_free(h);
}

static void hold(struct mux_conn *s, const struct bosh_to *to, uint64_t rid)
{
	struct xf_bosh *b = conn_bosh(s);
	if (b->n_held == BOSH_WINDOW_MAX)
		bosh_answer(s, 0); /* the oldest makes room */
	struct bosh_req *q = &b->held[b->n_held++];
	memset(q, 0, sizeof(*q));
	q->to = *to;
	q->rid = rid;
	q->deadline_ms = mux_now_ms() + (uint64_t)b->wait_s * 1000;
	bosh_to_hold(s->mux, to);
}

/* Request rid, next in order: held, then its content handed to the stream. */
static void handle(struct mux_conn *s, const struct bosh_to *to, const char *data,
		   const struct bosh_body *bb)
{
	struct xf_bosh *b = conn_bosh(s);
	bosh_window_advance(&b->win);
	b->last_request_ms = mux_now_ms();
	hold(s, to, bb->rid);
	s->in_input = true; /* what the stream writes goes out in one answer */
	conn_touch(s);      /* traffic: a sleeping session wakes */
	if (bb->restart)
		bosh_open_stream(s, bb);
	if (bb->inner_len && !s->dead && !s->closing)
		xchain_up(s, 1, data + bb->inner_off, bb->inner_len);
	if (bb->terminate && !s->dead && !s->closing) {
		LOG_INFO("c%u.%llu: BOSH session %s terminated by the client", s->mux->idx,
			 (unsigned long long)s->id, b->sid);
		b->ended = true;
	}
	s->in_input = false;
	if (s->dead)
		return;
	/* more held than the client asked for: the oldest goes back (all of
	 * them with hold = 0, a client that polls) */
	while (b->n_held > b->hold && !s->dead)
		bosh_answer(s, 0);
	if (!s->dead)
		bosh_flush(s);
}

/* Requests that came ahead of their turn and whose turn has come. */
static void handle_ahead(struct mux_conn *s)
{
	struct xf_bosh *b;
	while (!s->dead && (b = conn_bosh(s)) && b->n_ahead) {
		unsigned k;
		for (k = 0; k < b->n_ahead; k++)
			if (bosh_window_check(&b->win, b->ahead[k].rid) == BOSH_RID_NEXT)
				break;
		if (k == b->n_ahead)
			return;
		struct bosh_req q = b->ahead[k];
		memset(&b->ahead[k].body, 0, sizeof(q.body));
		drop_req(b->ahead, &b->n_ahead, k);
		struct bosh_body bb;
		if (!bosh_to_gone(s->mux, &q.to) && bosh_body_parse(q.body.data, q.body.len, &bb)) {
			/* its own connection still waits for it */
			handle(s, &q.to, q.body.data, &bb);
		} else {
			bosh_window_advance(&b->win); /* gone: its rid is spent */
		}
		xbuf_free(&q.body);
	}
}

void bosh_end(struct mux_conn *s, const char *why)
{
	LOG_INFO("c%u.%llu: BOSH session %s ended: %s", s->mux->idx, (unsigned long long)s->id,
		 conn_bosh(s) ? conn_bosh(s)->sid : "", why);
	conn_close(s, why);
}

/* A request with a sid, on the thread that holds its session (the
 * request's connection may be on another: to says where the answer
 * goes). */
static void session_request(struct mux *m, const struct bosh_to *to, bool secure,
			    const struct bosh_body *bb, const char *data, size_t len)
{
	struct mux_conn *s = find(m, bb->sid);
	struct xf_bosh *b = s && !s->dead ? conn_bosh(s) : NULL;
	if (!b) {
		LOG_INFO("mux%u: BOSH request for an unknown session", m->idx);
		bosh_send_terminate(m, to, "item-not-found");
		return;
	}
	if (b->secure && !secure) {
		bosh_send_refusal(m, to, 403, "BOSH: this session takes requests over https only");
		return;
	}
	if (!bb->has_rid) {
		bosh_send_terminate(m, to, "bad-request");
		bosh_end(s, "a request without rid");
		return;
	}
	switch (bosh_window_check(&b->win, bb->rid)) {
	case BOSH_RID_OUTSIDE:
		LOG_INFO("c%u.%llu: BOSH session %s: rid %llu outside the window", m->idx,
			 (unsigned long long)s->id, b->sid, (unsigned long long)bb->rid);
		bosh_send_terminate(m, to, "item-not-found");
		bosh_end(s, "rid outside the window");
		return;
	case BOSH_RID_REPEAT: {
		const struct xbuf *k = bosh_window_kept(&b->win, bb->rid);
		LOG_DEBUG("c%u.%llu: BOSH session %s: rid %llu again, answered again", m->idx,
			  (unsigned long long)s->id, b->sid, (unsigned long long)bb->rid);
		bosh_send(m, to, k->data ? k->data : "", k->len);
		return;
	}
	case BOSH_RID_UNANSWERED:
		/* its first connection is gone or going: this one waits instead */
		for (unsigned k = 0; k < b->n_held; k++) {
			if (b->held[k].rid != bb->rid)
				continue;
			bosh_send_refusal(m, &b->held[k].to, 503, "BOSH: the request was repeated");
			drop_req(b->held, &b->n_held, k);
			break;
		}
		hold(s, to, bb->rid);
		bosh_flush(s);
		return;
	case BOSH_RID_AHEAD: {
		if (b->n_ahead >= BOSH_WINDOW_MAX || bb->terminate) {
			bosh_send_terminate(m, to, "policy-violation");
			bosh_end(s, "too many requests ahead");
			return;
		}
		struct bosh_req *q = &b->ahead[b->n_ahead];
		memset(q, 0, sizeof(*q));
		if (xbuf_append(&q->body, data, len) != XS_OK) {
			bosh_send_refusal(m, to, 503, "out of memory");
			return;
		}
		b->n_ahead++;
		q->to = *to;
		q->rid = bb->rid;
		bosh_to_hold(m, to);
		return;
	}
	case BOSH_RID_NEXT:
		break;
	}
	handle(s, to, data, bb);
	if (!s->dead)
		handle_ahead(s);
}

void bosh_forwarded(struct mux *m, struct bosh_fwd *f)
{
	session_request(m, &f->to, f->secure, &f->bb, f->body, f->len);
	free(f);
}

/* The gateway thread a sid names (its first four digits), or -1. */
static int sid_thread(const struct mux *m, const char *sid)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char ch = sid[i];
		unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
			     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
						      : 16;
		if (d > 15)
			return -1;
		v = v * 16 + d;
	}
	return v >= m->group->n_mux && v < m->group->n ? (int)v : -1;
}

/* The session is another gateway thread's: the request goes there, and
 * this connection waits for the answer it sends back. */
static void forward(struct mux_conn *c, const struct bosh_to *to, unsigned thread,
		    const struct bosh_body *bb, const struct http_req *r)
{
	struct mux *m = c->mux;
	struct bosh_fwd *f = malloc(sizeof(*f) + r->body.len);
	struct msg *msg = f ? msg_new(MSG_BOSH_REQ, NULL) : NULL;
	if (!msg) {
		free(f);
		bosh_send_refusal(m, to, 503, "out of memory");
		return;
	}
	f->to = *to;
	f->secure = conn_is_encrypted(c);
	f->bb = *bb;
	f->len = r->body.len;
	if (r->body.len)
		memcpy(f->body, r->body.data, r->body.len);
	msg->ptr = f;
	conn_http_hold(c);
	LOG_DEBUG("c%u.%llu: BOSH request for session %s handed to http%u", m->idx,
		  (unsigned long long)c->id, bb->sid, thread - m->group->n_mux);
	mux_post(m, thread, msg);
}

void bosh_request(struct mux_conn *c, const struct http_req *r)
{
	struct mux *m = c->mux;
	struct bosh_to to;
	bosh_to_of(&to, c, r);
	const char *origin = origin_of(r);
	if (origin) {
		const struct xbuf *host = &r->hdr[HTTP_HDR_HOST];
		if (!http_origin_allowed(m->cfg->http_origins, origin, r->hdr[HTTP_HDR_ORIGIN].len,
					 host->data ? host->data : "", host->len)) {
			http_conn_answer(c, 403, "BOSH: this origin may not connect ([http] origins)",
					 false);
			return;
		}
	}
	struct bosh_body bb;
	if (!bosh_body_parse(r->body.data ? r->body.data : "", r->body.len, &bb)) {
		LOG_INFO("c%u.%llu: bad BOSH request from %s: %s", m->idx, (unsigned long long)c->id,
			 c->peer, bb.error);
		http_conn_answer(c, 400, "BOSH: not a <body/> of XEP-0124", false);
		return;
	}
	if (!bb.has_sid) {
		bosh_create(c, &to, &bb);
		return;
	}
	int t = sid_thread(m, bb.sid);
	if (t >= 0 && (unsigned)t != m->idx) {
		forward(c, &to, (unsigned)t, &bb, r);
		return;
	}
	session_request(m, &to, conn_is_encrypted(c), &bb, r->body.data ? r->body.data : "",
			r->body.len);
}

/* ---- timers ---- */

void bosh_timers(struct mux *m)
{
	uint64_t now = mux_now_ms();
	if (!m->bosh_head || now < m->bosh_sweep_ms)
		return;
	m->bosh_sweep_ms = now + BOSH_SWEEP_MS;
	struct mux_conn *next;
	for (struct mux_conn *s = m->bosh_head; s; s = next) {
		struct xf_bosh *b = conn_bosh(s);
		next = b->next;
		if (s->dead)
			continue;
		for (unsigned k = b->n_held; k-- > 0;)
			if (bosh_to_gone(m, &b->held[k].to))
				drop_req(b->held, &b->n_held, k);
		/* XEP-0124 7.6: an empty answer at `wait` */
		while (b->n_held && b->held[0].deadline_ms <= now && !s->dead)
			bosh_answer(s, 0);
		if (s->dead || b->n_held || b->n_ahead)
			continue;
		if (now - b->last_request_ms >= (uint64_t)m->cfg->http_bosh_inactivity_s * 1000)
			bosh_end(s, "no request within bosh_inactivity");
	}
	if (!m->bosh_head)
		m->bosh_sweep_ms = 0;
}

uint64_t bosh_deadline(const struct mux *m)
{
	return m->bosh_head ? m->bosh_sweep_ms : UINT64_MAX;
}
