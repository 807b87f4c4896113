/* The c2s stream role: what a client stream does on top of the transport
 * (mux/stream_role.h).  Its header and features, the dispatch of depth-1
 * elements to STARTTLS, SASL (mux_sasl.c) and registration (mux_register.c)
 * before authentication and to the session (mux_session.c) after, and the
 * life of its state: struct c2s_neg until bound, struct c2s_sess (in the
 * record) until the record goes. */
#include "mux/c2s/c2s.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/im/disco.h"
#include "core/route/msg.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/ns.h"

static bool c2s_init(struct mux_conn *c)
{
	c->neg = calloc(1, sizeof(struct c2s_neg));
	c->c2s.phase = C2S_WAIT_HEADER;
	return c->neg != NULL;
}

void c2s_neg_free(struct mux_conn *c)
{
	struct c2s_neg *n = c2s_neg(c);
	if (!n)
		return;
	conn_preauth_remove(c);
	sasl_conn_cleanup(c);
	session_held_drop(c);
	free(n->authcid);
	free(n);
	c->neg = NULL;
}

static int c2s_on_open(struct mux_conn *c, struct xml_node *hdr)
{
	const char *version = xml_node_attr(hdr, "version");
	if (!stream_pick_domain(c, xml_node_attr(hdr, "to")))
		return 1;
	if (!stream_send_header(c, c->domain, xml_node_attr(hdr, "from")))
		return 1;
	if (!version || strtol(version, NULL, 10) < 1) {
		stream_error(c, "unsupported-version", "version 1.0 is required");
		return 1;
	}
	c->c2s.phase = c->authenticated ? C2S_AUTHED : C2S_NEGOTIATING;
	stream_send_features(c);
	return c->dead || c->closing;
}

/* XS_OK stays XS_OK only while every append succeeds. */
#define APPEND(st, call) do { if ((st) == XS_OK) (st) = (call); } while (0)

static enum xs c2s_features(struct mux_conn *c, struct xbuf *b)
{
	enum xs st = XS_OK;
	if (!c->authenticated) {
		if (stream_starttls_available(c)) {
			APPEND(st, xbuf_append_str(b, "<starttls xmlns='" NS_TLS "'>"));
			if (stream_encryption_missing(c))
				APPEND(st, xbuf_append_str(b, "<required/>"));
			APPEND(st, xbuf_append_str(b, "</starttls>"));
		}
		/* With TLS mandatory, nothing else is offered before it. */
		if (!stream_encryption_missing(c))
			APPEND(st, sasl_mechanisms_xml(c, b));
		/* XEP-0077 8: only where it is open, and only encrypted */
		if (register_offered(c))
			APPEND(st, xbuf_append_str(b, "<register xmlns='" NS_REGISTER_FEATURE "'/>"));
		return st;
	}
	APPEND(st, xbuf_append_str(b, "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
				      "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'>"
				      "<optional/></session>"
				      /* RFC 6121 2.6.1: roster versioning */
				      "<ver xmlns='urn:xmpp:features:rosterver'/>"
				      /* RFC 6121 3.4.1: subscription pre-approval */
				      "<sub xmlns='urn:xmpp:features:pre-approval'/>"
				      /* XEP-0352 client state indication */
				      "<csi xmlns='urn:xmpp:csi:0'/>"
				      /* XEP-0198 stream management (mux_sm.c) */
				      "<sm xmlns='urn:xmpp:sm:3'/>"));
	/* XEP-0115 6.3: what disco#info of the server says, as a hash a
	 * client may have cached */
	if (c->mux->cfg->caps_ver[0])
		APPEND(st, xbuf_appendf(b, "<c xmlns='" NS_CAPS "' hash='sha-1' node='" DISCO_CAPS_NODE
				       "' ver='%s'/>",
				       c->mux->cfg->caps_ver));
	return st;
}

static int c2s_on_stanza(struct mux_conn *c, struct xml_node *el)
{
	if (c->authenticated)
		return session_on_element(c, el); /* takes el */
	int stop = 0;
	bool reg = register_wants(c, el);
	if (c2s_neg(c)->reg_pending && !reg)
		/* STARTTLS or SASL under a registration in flight */
		stream_error(c, "policy-violation", "wait for the registration's answer");
	else if (reg)
		register_on_iq(c, el);
	else if (strcmp(el->ns, NS_TLS) == 0 && strcmp(el->name, "starttls") == 0)
		stop = stream_starttls(c, stream_starttls_available(c) &&
					       c->c2s.phase == C2S_NEGOTIATING);
	else if (strcmp(el->ns, NS_SASL) == 0)
		stop = sasl_on_element(c, el);
	else if (stream_encryption_missing(c))
		stream_error(c, "policy-violation", "STARTTLS is required first");
	else
		stream_error(c, "not-authorized", "authenticate first");
	xml_node_free(el);
	return stop;
}

static void c2s_on_restart(struct mux_conn *c)
{
	c->c2s.phase = C2S_WAIT_HEADER;
}

static bool c2s_sleep_ok(struct mux_conn *c)
{
	/* with stream management, an ack is asked for first: the answer
	 * wakes the session anyway */
	return !(c->c2s.sm && sm_idle_request(c));
}

/* MSG_KICK: what is the condition, then an optional text; a conflict's
 * text says why, as it always has. */
static void kick(struct mux_conn *c, const char *data)
{
	char cond[64];
	size_t n = strcspn(data, " ");
	if (n >= sizeof(cond))
		n = 0; /* no condition that long: undefined-condition */
	memcpy(cond, data, n);
	cond[n] = '\0';
	const char *text = data[n] == ' ' ? data + n + 1 : NULL;
	if (!text)
		text = !strcmp(cond, "conflict") ? "replaced by a new session"
						 : "the account was removed";
	/* The router already dropped this session. */
	free(c->c2s.full_jid);
	c->c2s.full_jid = NULL;
	if (c->detached)
		sm_end_detached(c, text); /* no stream to write to: XEP-0198 */
	else
		stream_error(c, n ? cond : "undefined-condition", text);
}

static void c2s_on_msg(struct mux_conn *c, struct msg *msg)
{
	switch (msg->type) {
	case MSG_BIND_RESULT:
		session_on_bind_result(c, msg);
		break;
	case MSG_KICK:
		kick(c, msg->data);
		break;
	default:
		LOG_WARN("c%u.%llu: unexpected message %d for a c2s stream", c->mux->idx,
			 (unsigned long long)c->id, (int)msg->type);
		break;
	}
}

static const char *c2s_session_name(const struct mux_conn *c)
{
	return c->c2s.full_jid;
}

static void c2s_free(struct mux_conn *c)
{
	sm_state_free(c->c2s.sm);
	c->c2s.sm = NULL;
	c2s_neg_free(c);
	free(c->c2s.full_jid);
	c->c2s.full_jid = NULL;
}

static bool c2s_thread_msg(struct mux *m, struct msg *msg, bool *forwarded)
{
	switch (msg->type) {
	case MSG_SM_HANDOVER:
		sm_on_handover(m, msg); /* goes on as MSG_SM_STATE */
		*forwarded = true;
		return true;
	case MSG_SM_STATE:
		sm_on_state(m, msg);
		return true;
	case MSG_STORE_DONE:
		if (!register_on_store_done(m, msg))
			sasl_on_store_done(m, msg);
		return true;
	default:
		return false;
	}
}

static bool c2s_thread_drop(struct msg *msg)
{
	switch (msg->type) {
	case MSG_STORE_DONE:
		free(msg->ptr); /* an auth lookup or registration nobody waits for */
		return true;
	case MSG_SM_STATE:
		sm_state_free(msg->ptr);
		return true;
	default:
		return false;
	}
}

const struct stream_role_ops c2s_role = {
	.name = "c2s",
	.ns = NS_CLIENT,
	.alpn = "xmpp-client",
	.init = c2s_init,
	.on_open = c2s_on_open,
	.on_stanza = c2s_on_stanza,
	.on_restart = c2s_on_restart,
	.features = c2s_features,
	.sleep_ok = c2s_sleep_ok,
	.deliver = session_on_deliver,
	.on_msg = c2s_on_msg,
	.keep_on_close = sm_may_detach,
	.park = sm_park,
	.on_closed = session_conn_cleanup,
	.on_timer = sasl_delay_fire,
	.session_name = c2s_session_name,
	.strip = sasl_conn_cleanup,
	.free = c2s_free,
	.thread_msg = c2s_thread_msg,
	.thread_timers = sm_timers,
	.thread_deadline = sm_deadline,
	.thread_shutdown = sm_shutdown,
	.thread_drop = c2s_thread_drop,
};
