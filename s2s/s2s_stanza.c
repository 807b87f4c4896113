/* What the two s2s roles share on an authenticated link
 * (s2s/s2s_stanza.h): telling the router, writing our stanzas, and
 * reading the peer's.  Each of those must be
 * a message, presence or iq of jabber:server, with a 'from' in a remote
 * domain the link authenticated (else <invalid-from/>) and a 'to' in our
 * domain of that pair (else <host-unknown/>), both present (else
 * <improper-addressing/>).  They go to the router as MSG_S2S_STANZA,
 * renamed to jabber:client so that the router and the clients read them
 * as they read a local stanza; a malformed 'to' or a bad iq goes to the
 * router to be answered with the stanza error. */
#include "mux/mux_int.h"

#include <stdio.h>
#include <string.h>

#include "core/base/log.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xmpp/jid.h"
#include "core/xmpp/ns.h"
#include "core/xmpp/stanza.h"
#include "s2s/s2s_stanza.h"

/* Both directions' log lines name the pair the way the role's own do:
 * "s2s-in remote -> ours", "s2s-out ours -> remote". */
#define LOGL(lvl, c, fmt, ...)                                                                 \
	LOG_##lvl("c%u.%llu: %s %s -> %s: " fmt, (c)->mux->idx, (unsigned long long)(c)->id,   \
		  (c)->role->name, (c)->role->initiator ? (c)->domain : remote_of(c),           \
		  (c)->role->initiator ? remote_of(c) : (c)->domain, ##__VA_ARGS__)

/* The domain the peer authenticated as (both roles name their session by
 * it). */
static const char *remote_of(const struct mux_conn *c)
{
	const char *r = c->role->session_name(c);
	return r ? r : "?";
}

/* jabber:server -> jabber:client in place, for every element of the
 * stanza that is in it: the two names are the same length, and an
 * element's namespace lives in its own allocation (xml_node.c). */
static void to_client_ns(struct xml_node *n)
{
	_Static_assert(sizeof(NS_SERVER) == sizeof(NS_CLIENT), "same length");
	while (n) {
		if (n->type == XML_NODE_ELEM) {
			if (strcmp(n->ns, NS_SERVER) == 0)
				memcpy(n->ns, NS_CLIENT, sizeof(NS_CLIENT));
			if (n->first_child) {
				n = n->first_child;
				continue;
			}
		}
		while (n && !n->next)
			n = n->parent;
		if (n)
			n = n->next;
	}
}

/* The stanza's 'to' or 'from' normalised into out (set back on el when
 * normalising changed it); false when it is malformed. */
static bool normalized(struct xml_node *el, const char *name, char out[JID_BUF])
{
	const char *v = xml_node_attr(el, name);
	if (jid_normalize(v, strlen(v), out, JID_BUF, NULL) != XS_OK)
		return false;
	return strcmp(out, v) == 0 || xml_node_set_attr(el, name, out) == XS_OK;
}

static bool domain_is(const char *jid, const char *domain)
{
	struct jid_piece f[JID_FORMS];
	jid_match_forms(jid, f);
	return f[JID_FORM_DOMAIN].len == strlen(domain) &&
	       memcmp(f[JID_FORM_DOMAIN].s, domain, f[JID_FORM_DOMAIN].len) == 0;
}

/* The pairs an inbound link added by dialback (none on an outbound one). */
static const struct s2s_in_pairs *more_of(const struct mux_conn *c)
{
	return c->role == &s2s_in_role ? c->s2s_in.more : NULL;
}

/* Whether from is of a domain the peer authenticated as on this link. */
static bool remote_ok(const struct mux_conn *c, const char *from)
{
	if (domain_is(from, remote_of(c)))
		return true;
	const struct s2s_in_pairs *p = more_of(c);
	for (unsigned i = 0; p && i < p->n; i++)
		if (domain_is(from, p->pair[i].remote))
			return true;
	return false;
}

/* Whether the link carries the pair of from's domain and to's. */
static bool pair_ok(const struct mux_conn *c, const char *from, const char *to)
{
	if (domain_is(from, remote_of(c)) && domain_is(to, c->domain))
		return true;
	const struct s2s_in_pairs *p = more_of(c);
	for (unsigned i = 0; p && i < p->n; i++)
		if (domain_is(from, p->pair[i].remote) && domain_is(to, p->pair[i].local))
			return true;
	return false;
}

/* A stanza error the router answers for (status: the condition + 1). */
static int iq_status(const struct xml_node *el)
{
	const char *type = xml_node_attr(el, "type");
	const char *id = xml_node_attr(el, "id");
	bool req = type && (!strcmp(type, "get") || !strcmp(type, "set"));
	if (!id || !type || (!req && strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
		return SC_BAD_REQUEST + 1;
	struct xml_node *child = xml_node_first_elem(el);
	if (req && (!child || xml_node_next_elem(child)))
		return SC_BAD_REQUEST + 1;
	return 0;
}

int s2s_stanza_route(struct mux_conn *c, struct xml_node *el)
{
	const char *remote = remote_of(c);
	enum stanza_kind kind = strcmp(el->ns, NS_SERVER) == 0 ? stanza_kind_of(el->name) : STANZA_OTHER;
	if (kind == STANZA_OTHER) {
		stream_error(c, "unsupported-stanza-type", NULL);
		goto refused;
	}
	if (!xml_node_attr(el, "from") || !xml_node_attr(el, "to")) {
		stream_error(c, "improper-addressing", "a stanza between servers needs 'from' and 'to'");
		goto refused;
	}
	char from[JID_BUF], to[JID_BUF];
	if (!normalized(el, "from", from) || !remote_ok(c, from)) {
		LOGL(INFO, c, "stanza from %s: not of the authenticated domain",
		     xml_node_attr(el, "from"));
		stream_error(c, "invalid-from", "'from' is not of the domain this stream authenticated");
		goto refused;
	}
	int status = 0;
	if (!normalized(el, "to", to))
		status = SC_JID_MALFORMED + 1;
	else if (!pair_ok(c, from, to)) {
		LOGL(INFO, c, "stanza to %s: not the domain of this stream", to);
		stream_error(c, "host-unknown", "'to' is not the domain of this stream");
		goto refused;
	} else if (kind == STANZA_IQ)
		status = iq_status(el);
	/* The content can go out as received when nothing in it names
	 * jabber:server (it is written inside a jabber:client stream). */
	const char *inner = NULL;
	size_t inner_len = 0;
	if (!xml_stream_stanza_inner(conn_xml(c), &inner, &inner_len) ||
	    memmem(inner, inner_len, NS_SERVER, sizeof(NS_SERVER) - 1))
		inner = NULL;
	to_client_ns(el);
	struct stanza *st = stanza_freeze_around(el, inner, inner_len);
	struct msg *m = st ? msg_new(MSG_S2S_STANZA, remote) : NULL;
	if (!m) {
		stanza_unref(st);
		LOGL(ERR, c, "out of memory routing a stanza");
		stream_error(c, "resource-constraint", "out of memory");
		return 1;
	}
	m->h = conn_handle(c);
	m->st = st;
	m->status = status;
	mux_to_router(c->mux, m);
	return 0;
refused:
	xml_node_free(el);
	return 1;
}

bool s2s_is_stream_error(const struct xml_node *el)
{
	return strcmp(el->ns, NS_STREAMS) == 0 && strcmp(el->name, "error") == 0;
}

int s2s_peer_stream_error(struct mux_conn *c, const struct xml_node *el)
{
	/* the peer ends the stream (system-shutdown, ...): so do we */
	struct xml_node *cond = xml_node_first_elem(el);
	LOGL(INFO, c, "stream error from the peer: %s", cond ? cond->name : "?");
	conn_send_str(c, "</stream:stream>");
	conn_close_after_flush(c, "stream error from the peer");
	return 1;
}

bool s2s_tell_router(struct mux_conn *c, int type, int status)
{
	return s2s_tell_router_pair(c, type, status, c->domain, remote_of(c));
}

bool s2s_tell_router_pair(struct mux_conn *c, int type, int status, const char *local,
			  const char *remote)
{
	char pair[600];
	snprintf(pair, sizeof(pair), "%s %s", local, remote);
	struct msg *m = msg_new((enum msg_type)type, pair);
	if (!m) {
		/* an outbound attempt goes stale at the router's next stanza
		 * for the pair (core/route/s2s_links.c) */
		LOGL(ERR, c, "out of memory telling the router");
		return false;
	}
	m->h = conn_handle(c);
	m->status = status;
	mux_to_router(c->mux, m);
	return true;
}

bool s2s_deliver(struct mux_conn *c, struct msg *msg)
{
	if (c->closing || !msg->st)
		return false;
	/* data: the recipient of a broadcast presence, which has no 'to'
	 * (conn_send counts it as traffic for [s2s] idle_timeout) */
	stream_send_addressed(c, msg->st, msg->data);
	return !c->dead;
}
