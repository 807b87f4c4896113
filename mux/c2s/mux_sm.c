/* XEP-0198 stream management on a c2s stream: acks, and resumption after
 * a dropped connection, on any mux thread.
 *
 * A session that sent <enable/> gets a struct sm_state: the two counters
 * (stanzas handled from the client, stanzas written to it), the client's
 * last acknowledgement, and references to the stanzas written and not yet
 * acknowledged.  Sessions that never enable it pay one NULL pointer.
 *
 * When the socket of a resumable session drops, conn_close() detaches it
 * rather than ending it: the socket, TLS and parser go (mux_reap strips
 * them), the record stays in its slot with its queue, and the router is
 * told nothing, so the session's presence stays and deliveries keep coming
 * to this thread, where they join the queue.  It waits on the thread's
 * detached list, oldest first, for [im] sm_resume_timeout.
 *
 * Resumption (docs/internals/sm.md has the sequence): the new stream, on
 * whichever thread, asks the router (MSG_SM_RESUME), which re-points the
 * session to it and asks the old stream's thread to hand over
 * (MSG_SM_HANDOVER); that thread moves the sm_state to the new stream
 * (MSG_SM_STATE), which drops what the client's h acknowledges, writes
 * <resumed/>, resends the rest, then what the router delivered to it in
 * the meantime (held in order).
 *
 * Whenever a session ends for good (window expired, clean close, queue
 * over [im] sm_max_unacked, shutdown), its unacknowledged stanzas go back
 * to the router as MSG_UNDELIVERED with the flag their delivery had, ahead
 * of the MSG_UNBIND: a message is routed again as if the resource had not
 * been there (another resource, or offline storage), never lost, and never
 * both resent and stored, since a stanza is either in a queue or handed
 * back, once. */
#include "mux/c2s/c2s.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/base/hex.h"
#include "core/base/log.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xmpp/jid.h"
#include "core/xmpp/ns.h"
#include "core/xmpp/stanza.h"

#define SM_ID_BYTES 16 /* 128 bits */

void sm_state_free(struct sm_state *sm)
{
	if (!sm)
		return;
	sm_queue_clear(&sm->unacked);
	free(sm->previd);
	free(sm->full);
	free(sm);
}

static void failed(struct mux_conn *c, const char *cond)
{
	char buf[160];
	snprintf(buf, sizeof(buf), "<failed xmlns='" NS_SM "'><%s xmlns='" NS_STANZAS "'/></failed>",
		 cond);
	conn_send_str(c, buf);
}

/* XEP-0198 §4: an ack for more than was sent ends the stream. */
static void too_high(struct mux_conn *c, uint32_t h)
{
	if (c->dead || c->closing)
		return;
	char buf[400];
	snprintf(buf, sizeof(buf),
		 "<stream:error><undefined-condition xmlns='" NS_STREAM_ERR "'/>"
		 "<handled-count-too-high xmlns='" NS_SM "' h='%u' send-count='%u'/>"
		 "</stream:error></stream:stream>",
		 h, c->c2s.sm->h_out);
	LOG_INFO("c%u.%llu: stream error <undefined-condition/> to %s: acknowledged %u of %u",
		 c->mux->idx, (unsigned long long)c->id, c->peer, h, c->c2s.sm->h_out);
	conn_send_str(c, buf);
	conn_close_after_flush(c, "handled-count-too-high");
}

/* XEP-0198 h: a decimal unsigned 32-bit number, nothing else. */
static bool parse_h(const char *s, uint32_t *h)
{
	if (!s || !*s || strlen(s) > 10)
		return false;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*h = (uint32_t)v;
	return true;
}

/* Returns every queued stanza to the router as undelivered, from handle
 * h, in order. */
static void give_back(struct mux *m, struct sm_queue *q, struct sess_handle h)
{
	struct sm_item it;
	while (sm_queue_shift(q, &it)) {
		struct msg *u = msg_new(MSG_UNDELIVERED, NULL);
		if (!u) {
			LOG_ERR("mux%u: out of memory returning an unacknowledged %s: lost", m->idx,
				stanza_kind_name(it.st->kind));
			stanza_unref(it.st);
			continue;
		}
		u->h = h;
		u->st = it.st;
		u->status = it.sole;
		mux_to_router(m, u);
	}
}

void sm_conn_cleanup(struct mux_conn *c)
{
	struct sm_state *sm = c->c2s.sm;
	if (!sm)
		return;
	c->c2s.sm = NULL;
	if (sm->unacked.n)
		LOG_INFO("c%u.%llu: %u unacknowledged stanza(s) routed again", c->mux->idx,
			 (unsigned long long)c->id, sm->unacked.n);
	give_back(c->mux, &sm->unacked, conn_handle(c));
	sm_state_free(sm);
}

/* ---- writing ---- */

static void request_ack(struct mux_conn *c)
{
	c->c2s.sm->r_pending = true;
	conn_send_str(c, "<r xmlns='" NS_SM "'/>");
}

bool sm_write(struct mux_conn *c, struct stanza *st, bool sole)
{
	struct sm_state *sm = c->c2s.sm;
	if (!sm) {
		session_write_stanza(c, st);
		return true;
	}
	const struct cfg *cfg = c->mux->cfg;
	if (sm->unacked.n >= cfg->sm_max_unacked || !sm_queue_push(&sm->unacked, stanza_ref(st), sole)) {
		if (sm->unacked.n < cfg->sm_max_unacked)
			stanza_unref(st); /* the push failed */
		LOG_WARN("c%u.%llu: %u stanzas not acknowledged ([im] sm_max_unacked = %u): ending "
			 "the session", c->mux->idx, (unsigned long long)c->id, sm->unacked.n,
			 cfg->sm_max_unacked);
		if (c->detached) {
			sm_end_detached(c, "too many unacknowledged stanzas");
		} else {
			/* what was queued goes back now, ahead of this one (the
			 * caller's), so that offline storage keeps their order */
			sm_conn_cleanup(c);
			stream_error(c, "policy-violation", "too many unacknowledged stanzas");
		}
		return false;
	}
	if (c->c2s.phase == C2S_RESUMING)
		return true; /* held: written and counted after the hand-over */
	sm->h_out++;
	if (c->detached)
		return true; /* resent when the client resumes */
	session_write_stanza(c, st);
	if (c->c2s.sm && !sm->r_pending && sm->unacked.n >= cfg->sm_request_after)
		request_ack(c);
	return true;
}

bool sm_idle_request(struct mux_conn *c)
{
	if (c->c2s.phase != C2S_BOUND || !c->c2s.sm->unacked.n || c->c2s.sm->r_pending)
		return false;
	request_ack(c);
	return true;
}

/* ---- the client's nonzas ---- */

static void enable(struct mux_conn *c, struct xml_node *el)
{
	if (c->c2s.phase != C2S_BOUND || c->c2s.sm) {
		failed(c, "unexpected-request"); /* before bind, or twice */
		return;
	}
	struct sm_state *sm = calloc(1, sizeof(*sm));
	if (!sm) {
		failed(c, "resource-constraint");
		return;
	}
	unsigned char rnd[SM_ID_BYTES];
	_Static_assert(sizeof(sm->id) >= 2 * SM_ID_BYTES + 1, "id holds the hex");
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* an id that could be guessed must never be handed out */
		LOG_ERR("c%u.%llu: no randomness for an SM id: %s", c->mux->idx,
			(unsigned long long)c->id, strerror(errno));
		free(sm);
		failed(c, "internal-server-error");
		return;
	}
	hex_lower(sm->id, rnd, SM_ID_BYTES);
	const char *r = xml_node_attr(el, "resume");
	bool want = r && (!strcmp(r, "true") || !strcmp(r, "1"));
	if (want && c->mux->cfg->sm_resume_timeout_s) {
		char *text = malloc(strlen(sm->id) + 1 + strlen(c->c2s.full_jid) + 1);
		struct msg *m = NULL;
		if (text) {
			sprintf(text, "%s %s", sm->id, c->c2s.full_jid);
			m = msg_new(MSG_SM_ENABLE, text);
			free(text);
		}
		if (m) {
			m->h = conn_handle(c);
			mux_to_router(c->mux, m);
			sm->resume = true;
		} else {
			LOG_WARN("c%u.%llu: out of memory: stream management without resumption",
				 c->mux->idx, (unsigned long long)c->id);
		}
	}
	c->c2s.sm = sm;
	char buf[200];
	if (sm->resume)
		snprintf(buf, sizeof(buf), "<enabled xmlns='" NS_SM "' id='%s' resume='true' max='%u'/>",
			 sm->id, c->mux->cfg->sm_resume_timeout_s);
	else
		snprintf(buf, sizeof(buf), "<enabled xmlns='" NS_SM "'/>");
	conn_send_str(c, buf);
	LOG_DEBUG("c%u.%llu: stream management enabled%s", c->mux->idx, (unsigned long long)c->id,
		  sm->resume ? " with resumption" : "");
}

static void ack(struct mux_conn *c, struct xml_node *el)
{
	struct sm_state *sm = c->c2s.sm;
	uint32_t h, n;
	if (!sm || c->c2s.phase != C2S_BOUND)
		return; /* nothing to acknowledge: ignored */
	if (!parse_h(xml_node_attr(el, "h"), &h)) {
		stream_error(c, "invalid-xml", "<a/> needs a number h");
		return;
	}
	if (!sm_ack_count(sm->acked, sm->h_out, h, &n)) {
		too_high(c, h);
		return;
	}
	sm_queue_drop(&sm->unacked, n);
	sm->acked = h;
	sm->r_pending = false;
}

static void resume(struct mux_conn *c, struct xml_node *el)
{
	const char *previd = xml_node_attr(el, "previd");
	uint32_t h;
	if (c->c2s.phase != C2S_AUTHED || c->c2s.sm || c2s_neg(c)->sm_resume_tried) {
		failed(c, "unexpected-request");
		return;
	}
	c2s_neg(c)->sm_resume_tried = true;
	if (!previd || !parse_h(xml_node_attr(el, "h"), &h)) {
		failed(c, "bad-request");
		return;
	}
	/* an id we made is 32 hex digits: anything else is unknown, without
	 * asking the router */
	size_t pl = strlen(previd);
	bool ok = pl == 2 * SM_ID_BYTES;
	for (size_t i = 0; ok && i < pl; i++)
		ok = (previd[i] >= '0' && previd[i] <= '9') || (previd[i] >= 'a' && previd[i] <= 'f');
	char raw[JID_BUF], bare[JID_BUF];
	size_t bl;
	snprintf(raw, sizeof(raw), "%s@%s", c2s_neg(c)->authcid, c->domain);
	if (!ok || jid_normalize(raw, strlen(raw), bare, sizeof(bare), &bl) != XS_OK) {
		LOG_INFO("c%u.%llu: resumption refused: malformed id", c->mux->idx,
			 (unsigned long long)c->id);
		failed(c, "item-not-found");
		return;
	}
	struct sm_state *sm = calloc(1, sizeof(*sm));
	char text[2 * SM_ID_BYTES + 2 + JID_BUF];
	snprintf(text, sizeof(text), "%s %s", previd, bare);
	struct msg *m = sm ? msg_new(MSG_SM_RESUME, text) : NULL;
	if (!m || !(sm->previd = strdup(previd))) {
		msg_free(m);
		sm_state_free(sm);
		failed(c, "resource-constraint");
		return;
	}
	sm->resume_h = h;
	c->c2s.sm = sm; /* for now only the deliveries held until the hand-over */
	c->c2s.phase = C2S_RESUMING;
	m->h = conn_handle(c);
	m->count = h;
	mux_to_router(c->mux, m);
}

int sm_on_element(struct mux_conn *c, struct xml_node *el)
{
	const char *name = el->name;
	if (!strcmp(name, "enable"))
		enable(c, el);
	else if (!strcmp(name, "r")) {
		if (c->c2s.sm && c->c2s.phase == C2S_BOUND) {
			char buf[80];
			snprintf(buf, sizeof(buf), "<a xmlns='" NS_SM "' h='%u'/>", c->c2s.sm->h_in);
			conn_send_str(c, buf);
		} else {
			failed(c, "unexpected-request");
		}
	} else if (!strcmp(name, "a"))
		ack(c, el);
	else if (!strcmp(name, "resume"))
		resume(c, el);
	else
		stream_error(c, "unsupported-stanza-type", NULL);
	xml_node_free(el);
	return c->dead || c->closing;
}

/* ---- detaching ---- */

bool sm_may_detach(struct mux_conn *c)
{
	const struct mux *m = c->mux;
	return c->c2s.sm && c->c2s.sm->resume && !c->detached && !c->dead && !c->closing &&
	       c->c2s.phase == C2S_BOUND && c->c2s.full_jid && !m->shutting_down &&
	       m->cfg->sm_resume_timeout_s &&
	       atomic_load_explicit(&m->group->n_detached, memory_order_relaxed) <
		       m->cfg->sm_max_detached;
}

void sm_park(struct mux_conn *c)
{
	struct mux *m = c->mux;
	struct sm_state *sm = c->c2s.sm;
	atomic_fetch_add_explicit(&m->group->n_detached, 1, memory_order_relaxed);
	if (m->shutting_down) {
		sm_end_detached(c, "server shutting down");
		return;
	}
	sm->deadline_ms = mux_now_ms() + (uint64_t)m->cfg->sm_resume_timeout_s * 1000;
	/* one timeout for all: appending keeps the list sorted */
	sm->dt_prev = m->dt_tail;
	sm->dt_next = NULL;
	if (m->dt_tail)
		m->dt_tail->c2s.sm->dt_next = c;
	else
		m->dt_head = c;
	m->dt_tail = c;
	sm->parked = true;
	LOG_INFO("c%u.%llu: %s waits %us for resumption with %u unacknowledged", m->idx,
		 (unsigned long long)c->id, c->c2s.full_jid, m->cfg->sm_resume_timeout_s, sm->unacked.n);
}

/* Takes a detached c off the detached list (if it got there) and makes it
 * an ordinary dead connection again; true if it was on the list, so that
 * it must be queued for mux_reap again. */
static bool unpark(struct mux_conn *c)
{
	struct mux *m = c->mux;
	struct sm_state *sm = c->c2s.sm;
	bool parked = sm->parked;
	if (parked) {
		if (sm->dt_prev)
			sm->dt_prev->c2s.sm->dt_next = sm->dt_next;
		else
			m->dt_head = sm->dt_next;
		if (sm->dt_next)
			sm->dt_next->c2s.sm->dt_prev = sm->dt_prev;
		else
			m->dt_tail = sm->dt_prev;
		sm->dt_prev = sm->dt_next = NULL;
		sm->parked = false;
		atomic_fetch_sub_explicit(&m->group->n_detached, 1, memory_order_relaxed);
	}
	c->detached = false;
	return parked;
}

void sm_end_detached(struct mux_conn *c, const char *why)
{
	if (!c->detached)
		return;
	struct mux *m = c->mux;
	bool parked = unpark(c);
	LOG_INFO("c%u.%llu: detached session %s ended: %s", m->idx, (unsigned long long)c->id,
		 c->c2s.full_jid ? c->c2s.full_jid : "-", why);
	session_conn_cleanup(c); /* unacknowledged back to the router, then unbind */
	if (parked) {
		c->dead_next = m->dead_head;
		m->dead_head = c;
	}
	/* else it is still on the dead list, and mux_reap frees it now */
}

void sm_timers(struct mux *m)
{
	uint64_t now = mux_now_ms();
	while (m->dt_head && m->dt_head->c2s.sm->deadline_ms <= now)
		sm_end_detached(m->dt_head, "resumption window expired");
}

uint64_t sm_deadline(const struct mux *m)
{
	return m->dt_head ? m->dt_head->c2s.sm->deadline_ms : UINT64_MAX;
}

void sm_shutdown(struct mux *m)
{
	while (m->dt_head)
		sm_end_detached(m->dt_head, "server shutting down");
}

/* ---- resumption ---- */

/* MSG_SM_HANDOVER on the old stream's thread: msg->h is the session, h2
 * the stream resuming it, which the router delivers to from now on.  The
 * message itself goes on as the MSG_SM_STATE, so this step cannot fail
 * for want of memory. */
void sm_on_handover(struct mux *m, struct msg *msg)
{
	struct mux_conn *c = conn_by_handle(m, msg->h);
	struct sm_state *sm = NULL;
	bool live = c && !c->dead && c->c2s.phase == C2S_BOUND && !c->closing;
	if (c && c->c2s.sm && c->c2s.full_jid && (c->detached || live) && !c->c2s.sm->previd) {
		sm = c->c2s.sm;
		if (c->detached) {
			bool parked = unpark(c);
			c->c2s.sm = NULL;
			if (parked) {
				c->dead_next = m->dead_head;
				m->dead_head = c;
			}
		} else {
			/* the client came back before this end noticed the old
			 * connection was gone */
			c->c2s.sm = NULL;
		}
		sm->full = c->c2s.full_jid; /* the session's unbind is not this stream's now */
		c->c2s.full_jid = NULL;
		LOG_INFO("c%u.%llu: %s handed over to mux%u", m->idx, (unsigned long long)c->id,
			 sm->full, msg->h2.thread);
		if (!c->dead)
			stream_error(c, "conflict", "the session was resumed on another stream");
	} else {
		/* gone meanwhile (window expired, ended): the router still
		 * points the session at the new stream, which ends it */
		LOG_INFO("mux%u: session to hand over to mux%u is gone", m->idx, msg->h2.thread);
	}
	msg->type = MSG_SM_STATE;
	msg->h = msg->h2;
	msg->ptr = sm;
	msg->status = 1; /* the router has re-pointed the session */
	mux_post(m, msg->h.thread, msg);
}

/* Holding the state back and telling the router to end the session that
 * points at h (the hand-over failed after the router had re-pointed it). */
static void abort_resume(struct mux *m, struct sess_handle h, const char *previd)
{
	struct msg *a = msg_new(MSG_SM_RESUME, previd);
	if (!a) {
		LOG_ERR("mux%u: out of memory ending a failed resumption", m->idx);
		return;
	}
	a->h = h;
	a->status = 1;
	mux_to_router(m, a);
}

/* Resumption failed on c (or c is gone): the client may bind instead. */
static void resume_failed(struct mux_conn *c)
{
	struct sm_state *held = c->c2s.sm;
	c->c2s.sm = NULL;
	give_back(c->mux, &held->unacked, conn_handle(c));
	sm_state_free(held);
	c->c2s.phase = C2S_AUTHED;
	failed(c, "item-not-found");
	session_replay_held(c);
}

void sm_on_state(struct mux *m, struct msg *msg)
{
	struct sm_state *sm = msg->ptr;
	msg->ptr = NULL;
	struct mux_conn *c = conn_by_handle(m, msg->h);
	bool waiting = c && !c->dead && !c->closing && c->c2s.phase == C2S_RESUMING && c->c2s.sm;
	if (!sm) {
		if (msg->status && msg->data[0])
			abort_resume(m, msg->h, msg->data);
		if (waiting) {
			LOG_INFO("c%u.%llu: resumption failed", m->idx, (unsigned long long)c->id);
			resume_failed(c);
		}
		return;
	}
	if (!waiting) {
		/* the new stream went away before the state came: nobody is
		 * left to resume, so the session ends here */
		LOG_INFO("mux%u: %s: the resuming stream is gone; session ended", m->idx, sm->full);
		give_back(m, &sm->unacked, msg->h);
		struct msg *u = msg_new(MSG_UNBIND, sm->full);
		if (u) {
			u->h = msg->h;
			mux_to_router(m, u);
		} else {
			LOG_ERR("mux%u: out of memory ending %s", m->idx, sm->full);
		}
		sm_state_free(sm);
		return;
	}
	struct sm_state *held = c->c2s.sm;
	uint32_t client_h = held->resume_h;
	c->c2s.sm = sm;
	c->c2s.full_jid = sm->full;
	sm->full = NULL;
	c->c2s.phase = C2S_BOUND;
	c->established = true;
	uint32_t n;
	bool ok = sm_ack_count(sm->acked, sm->h_out, client_h, &n);
	if (ok) {
		sm_queue_drop(&sm->unacked, n);
		sm->acked = client_h;
	}
	conn_preauth_remove(c);
	conn_touch(c);
	xml_stream_use_pool(conn_xml(c), m->xml_pool);
	if (!ok) {
		/* held deliveries join the queue unwritten, to go back with it */
		struct sm_item it;
		while (sm_queue_shift(&held->unacked, &it))
			if (!sm_queue_push(&sm->unacked, it.st, it.sole))
				stanza_unref(it.st);
		sm_state_free(held);
		too_high(c, client_h);
		return;
	}
	char buf[160];
	snprintf(buf, sizeof(buf), "<resumed xmlns='" NS_SM "' previd='%s' h='%u'/>", sm->id,
		 sm->h_in);
	conn_send_str(c, buf);
	LOG_INFO("c%u.%llu: resumed %s: %u acknowledged, %u resent, %u held", m->idx,
		 (unsigned long long)c->id, c->c2s.full_jid, n, sm->unacked.n, held->unacked.n);
	for (uint32_t i = 0; i < sm->unacked.n && !c->dead; i++) {
		const struct sm_item *it = sm_queue_at(&sm->unacked, i);
		session_write_stanza(c, it->st);
	}
	sm->r_pending = false;
	struct sm_item it;
	while (sm_queue_shift(&held->unacked, &it)) {
		if (c->c2s.sm && !c->dead && !c->closing && sm_write(c, it.st, it.sole)) {
			stanza_unref(it.st);
			continue;
		}
		/* the session ended on the way: the rest is routed again */
		struct msg *u = msg_new(MSG_UNDELIVERED, NULL);
		if (u) {
			u->h = conn_handle(c);
			u->st = it.st;
			u->status = it.sole;
			mux_to_router(m, u);
		} else {
			stanza_unref(it.st);
		}
	}
	sm_state_free(held);
	if (c->c2s.sm && !c->dead && !c->closing && c->c2s.sm->unacked.n)
		request_ack(c);
	session_replay_held(c);
	c2s_neg_free(c);
}
