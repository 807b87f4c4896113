/* The session part of a c2s stream: resource binding (RFC 6120 §7), the
 * legacy session request, and stanzas after bind: validated, 'from' stamped
 * with the session's real JID, 'to' normalised, frozen once and handed to
 * the router.  Deliveries from the router are written out as they are. */
#include "mux/c2s/c2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include "core/xmpp/jid.h"
#include "core/base/log.h"
#include "core/route/router.h"
#include "core/xmpp/stanza.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xmpp/ns.h"

#define MAX_HELD 32

static void send_tree(struct mux_conn *c, struct xml_node *tree)
{
	struct stanza *st = stanza_freeze(tree);
	if (!st)
		return;
	sm_write(c, st, false); /* counted, and kept until acknowledged (XEP-0198) */
	stanza_unref(st);
}

/* Answers el (not routed) with a stanza error from the server. */
static void bounce_local(struct mux_conn *c, struct xml_node *el, enum stanza_cond cond)
{
	struct stanza *err = stanza_error_reply(el, NULL, cond, NULL);
	if (!err)
		return;
	/* error replies to our own client go to it without a 'to' */
	sm_write(c, err, false);
	stanza_unref(err);
}

static void iq_result(struct mux_conn *c, const char *id, struct xml_node *payload)
{
	struct xml_node *iq = xml_node_new_elem("iq", NS_CLIENT);
	if (!iq) {
		xml_node_free(payload);
		return;
	}
	xml_node_set_attr(iq, "type", "result");
	if (id)
		xml_node_set_attr(iq, "id", id);
	if (payload)
		xml_node_add_child(iq, payload);
	send_tree(c, iq);
}

static void handle_bind(struct mux_conn *c, struct xml_node *iq, struct xml_node *bind)
{
	char res[1024], full[JID_BUF], raw[JID_BUF];
	struct xml_node *r = xml_node_child(bind, "resource", NS_BIND);
	char *want = r ? xml_node_text(r) : NULL;
	if (!want || !*want) {
		/* server-generated resource (RFC 6120 §7.6.2.1) */
		unsigned char rnd[8];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			memset(rnd, 0, sizeof(rnd));
		snprintf(res, sizeof(res), "xmppd-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
			 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	} else if (jid_resource_prep(want, res, sizeof(res)) != XS_OK) {
		free(want);
		bounce_local(c, iq, SC_BAD_REQUEST);
		return;
	}
	free(want);
	snprintf(raw, sizeof(raw), "%s@%s/%s", c2s_neg(c)->authcid, c->domain, res);
	size_t bl;
	if (jid_normalize(raw, strlen(raw), full, sizeof(full), &bl) != XS_OK) {
		bounce_local(c, iq, SC_BAD_REQUEST);
		return;
	}
	struct msg *m = msg_new(MSG_BIND, full);
	const char *id = xml_node_attr(iq, "id");
	c->c2s.full_jid = strdup(full);
	if (!m || !c->c2s.full_jid) {
		msg_free(m);
		bounce_local(c, iq, SC_RESOURCE_CONSTRAINT);
		return;
	}
	/* remember the iq id for the answer */
	m->h = conn_handle(c);
	free(c2s_neg(c)->bind_id);
	c2s_neg(c)->bind_id = id ? strdup(id) : NULL;
	c->c2s.phase = C2S_BINDING;
	mux_to_router(c->mux, m);
}

void session_on_bind_result(struct mux_conn *c, struct msg *msg)
{
	if (c->c2s.phase != C2S_BINDING)
		return;
	if (msg->status != 0) {
		struct xml_node *iq = xml_node_new_elem("iq", NS_CLIENT);
		if (iq) {
			xml_node_set_attr(iq, "type", "set");
			if (c2s_neg(c)->bind_id)
				xml_node_set_attr(iq, "id", c2s_neg(c)->bind_id);
			bounce_local(c, iq, SC_INTERNAL_SERVER_ERROR);
			xml_node_free(iq);
		}
		free(c->c2s.full_jid);
		c->c2s.full_jid = NULL;
		c->c2s.phase = C2S_AUTHED;
		return;
	}
	struct xml_node *b = xml_node_new_elem("bind", NS_BIND);
	struct xml_node *j = b ? xml_node_new_child(b, "jid", NS_BIND) : NULL;
	if (j)
		xml_node_add_text(j, c->c2s.full_jid, strlen(c->c2s.full_jid));
	iq_result(c, c2s_neg(c)->bind_id, b);
	free(c2s_neg(c)->bind_id);
	c2s_neg(c)->bind_id = NULL;
	c->c2s.phase = C2S_BOUND;
	c->established = true;
	c->c2s.bound_at = (int64_t)time(NULL);
	conn_preauth_remove(c);
	conn_touch(c);
	/* From now on the stream lends its parser between stanzas
	 * (core/xml/xml_stream.h).  Not before: the few resets of negotiation
	 * are cheaper on a parser of its own, and what an unauthenticated
	 * peer writes never goes through a parser other sessions borrow. */
	xml_stream_use_pool(conn_xml(c), c->mux->xml_pool);
	LOG_INFO("c%u.%llu: bound %s", c->mux->idx, (unsigned long long)c->id, c->c2s.full_jid);
	session_replay_held(c);
	c2s_neg_free(c);
}

/* Stanzas pipelined behind a bind request or a <resume/>, now that it
 * has been answered. */
void session_replay_held(struct mux_conn *c)
{
	if (!c->neg)
		return;
	struct xml_node *el = c2s_neg(c)->held_first;
	c2s_neg(c)->held_first = c2s_neg(c)->held_last = NULL;
	c2s_neg(c)->n_held = 0;
	while (el && !c->dead && !c->closing) {
		struct xml_node *next = el->next;
		el->next = NULL;
		session_on_element(c, el);
		el = next;
	}
	while (el) {
		struct xml_node *next = el->next;
		el->next = NULL;
		xml_node_free(el);
		el = next;
	}
}

/* A broadcast presence is the sender's bytes shared by every recipient
 * (core/route/presence.c), so it carries no 'to': it is written with the
 * session's own (stream_send_addressed). */
void session_write_stanza(struct mux_conn *c, const struct stanza *st)
{
	stream_send_addressed(c, st, c->c2s.full_jid);
}

bool session_on_deliver(struct mux_conn *c, struct msg *msg)
{
	/* a detached session queues it for its resumption, a resuming
	 * stream holds it until the old stream's state has come (mux_sm.c) */
	bool waiting = c->detached || (c->c2s.phase == C2S_RESUMING && !c->dead && !c->closing);
	if (!waiting && (c->c2s.phase != C2S_BOUND || c->closing || c->dead))
		return false;
	return sm_write(c, msg->st, msg->status != 0);
}

void session_conn_cleanup(struct mux_conn *c)
{
	/* unacknowledged stanzas go back to the router ahead of the unbind,
	 * while the session is still there to be marked gone */
	sm_conn_cleanup(c);
	if (c->c2s.full_jid && (c->c2s.phase == C2S_BOUND || c->c2s.phase == C2S_BINDING)) {
		struct msg *m = msg_new(MSG_UNBIND, c->c2s.full_jid);
		if (m) {
			m->h = conn_handle(c);
			mux_to_router(c->mux, m);
		}
	}
	session_held_drop(c);
}

void session_held_drop(struct mux_conn *c)
{
	if (!c->neg)
		return;
	struct xml_node *el = c2s_neg(c)->held_first;
	while (el) {
		struct xml_node *next = el->next;
		el->next = NULL;
		xml_node_free(el);
		el = next;
	}
	c2s_neg(c)->held_first = c2s_neg(c)->held_last = NULL;
	c2s_neg(c)->n_held = 0;
	free(c2s_neg(c)->bind_id);
	c2s_neg(c)->bind_id = NULL;
}

static bool iq_type_ok(const char *t)
{
	return t && (!strcmp(t, "get") || !strcmp(t, "set") || !strcmp(t, "result") || !strcmp(t, "error"));
}

/* XEP-0352 <active/> and <inactive/>: top-level elements, not stanzas;
 * the router holds presence for an inactive session (core/route/csi.c). */
static int client_state(struct mux_conn *c, struct xml_node *el)
{
	bool inactive = strcmp(el->name, "inactive") == 0;
	bool known = inactive || strcmp(el->name, "active") == 0;
	xml_node_free(el);
	if (!known) {
		stream_error(c, "unsupported-stanza-type", NULL);
		return 1;
	}
	if (c->c2s.phase != C2S_BOUND)
		return 0; /* before bind there is nothing to hold (XEP-0352 4) */
	struct msg *m = msg_new(MSG_CSI, c->c2s.full_jid);
	if (!m) {
		/* only a hint: the session goes on without it */
		LOG_WARN("c%u.%llu: out of memory passing on a client state", c->mux->idx,
			 (unsigned long long)c->id);
		return 0;
	}
	m->h = conn_handle(c);
	m->status = inactive;
	mux_to_router(c->mux, m);
	return 0;
}

/* Stanzas after authentication; takes ownership of el. */
int session_on_element(struct mux_conn *c, struct xml_node *el)
{
	bool waiting = c->c2s.phase == C2S_BINDING || c->c2s.phase == C2S_RESUMING;
	if (strcmp(el->ns, NS_CSI) == 0)
		return client_state(c, el);
	if (strcmp(el->ns, NS_SM) == 0 && !waiting)
		return sm_on_element(c, el);
	enum stanza_kind kind = strcmp(el->ns, NS_CLIENT) == 0 ? stanza_kind_of(el->name) : STANZA_OTHER;
	if (kind == STANZA_OTHER && strcmp(el->ns, NS_SM) != 0) {
		xml_node_free(el);
		stream_error(c, "unsupported-stanza-type", NULL);
		return 1;
	}
	const char *type = xml_node_attr(el, "type");
	const char *id = xml_node_attr(el, "id");
	if (waiting) {
		/* an <enable/> or stanzas pipelined behind the bind or the
		 * <resume/> wait for its answer */
		if (c2s_neg(c)->n_held >= MAX_HELD) {
			xml_node_free(el);
			stream_error(c, "policy-violation", "too many stanzas before bind completed");
			return 1;
		}
		if (c2s_neg(c)->held_last)
			c2s_neg(c)->held_last->next = el;
		else
			c2s_neg(c)->held_first = el;
		c2s_neg(c)->held_last = el;
		c2s_neg(c)->n_held++;
		return 0;
	}
	sm_handled(c); /* XEP-0198: every stanza counts, answered with an error or not */
	if (kind == STANZA_IQ) {
		struct xml_node *child = xml_node_first_elem(el);
		if (!id || !iq_type_ok(type)) {
			bounce_local(c, el, SC_BAD_REQUEST);
			xml_node_free(el);
			return 0;
		}
		bool req = !strcmp(type, "get") || !strcmp(type, "set");
		if (req && (!child || xml_node_next_elem(child))) {
			bounce_local(c, el, SC_BAD_REQUEST);
			xml_node_free(el);
			return 0;
		}
		const char *to = xml_node_attr(el, "to");
		bool to_server = !to || strcmp(to, c->domain) == 0;
		if (req && to_server && !strcmp(child->ns, NS_BIND)) {
			if (c->c2s.phase == C2S_AUTHED && !strcmp(type, "set"))
				handle_bind(c, el, child);
			else
				bounce_local(c, el, SC_NOT_ALLOWED);
			xml_node_free(el);
			return 0;
		}
		if (req && to_server && !strcmp(child->ns, NS_SESSION)) {
			/* RFC 3921 session establishment: a no-op kept for old clients */
			iq_result(c, id, NULL);
			xml_node_free(el);
			return 0;
		}
	}
	if (c->c2s.phase != C2S_BOUND) {
		xml_node_free(el);
		stream_error(c, "not-authorized", "bind a resource first");
		return 1;
	}
	/* 'to': normalised, or jid-malformed back to the sender */
	const char *to = xml_node_attr(el, "to");
	if (to) {
		char norm[JID_BUF];
		size_t bl;
		if (jid_normalize(to, strlen(to), norm, sizeof(norm), &bl) != XS_OK) {
			bounce_local(c, el, SC_JID_MALFORMED);
			xml_node_free(el);
			return 0;
		}
		if (strcmp(norm, to) != 0)
			xml_node_set_attr(el, "to", norm);
	}
	/* 'from' is always the session's own JID, whatever the client wrote */
	const char *from = xml_node_attr(el, "from");
	if (from && strcmp(from, c->c2s.full_jid) != 0)
		LOG_DEBUG("c%u.%llu: 'from' %s replaced by %s", c->mux->idx, (unsigned long long)c->id,
			  from, c->c2s.full_jid);
	xml_node_set_attr(el, "from", c->c2s.full_jid);
	/* Within the parser's callback the content can go out as received;
	 * a stanza held back while binding is serialized from its tree. */
	const char *inner = NULL;
	size_t inner_len = 0;
	if (!xml_stream_stanza_inner(conn_xml(c), &inner, &inner_len))
		inner = NULL;
	struct stanza *st = stanza_freeze_around(el, inner, inner_len);
	if (!st) {
		stream_error(c, "resource-constraint", NULL);
		return 1;
	}
	struct msg *m = msg_new(MSG_STANZA, NULL);
	if (!m) {
		/* not dropped in silence: the client learns its stream ended
		 * on our side, and may resend what it has not seen acked */
		stanza_unref(st);
		LOG_ERR("c%u.%llu: out of memory routing a stanza", c->mux->idx,
			(unsigned long long)c->id);
		stream_error(c, "resource-constraint", "out of memory");
		return 1;
	}
	m->h = conn_handle(c);
	m->st = st;
	mux_to_router(c->mux, m);
	return 0;
}
