/* What an authenticated server link does with what the peer sends, shared
 * by the two s2s roles: an inbound link always carries stanzas towards
 * us, and an outbound one does too once XEP-0288 made it bidirectional. */
#ifndef XMPPD_S2S_STANZA_H
#define XMPPD_S2S_STANZA_H

#include <stdbool.h>

struct msg;
struct mux_conn;
struct xml_node;

/* A stanza from the peer, which authenticated as the role's session_name
 * (its domain) for our domain c->domain: checked (RFC 6120 4.9.3, 8.1.1: <improper-addressing/>,
 * <invalid-from/>, <host-unknown/>, <unsupported-stanza-type/> end the
 * stream), renamed to jabber:client and given to the router as
 * MSG_S2S_STANZA.  Takes el; returns the role's on_stanza verdict (1: stop
 * reading, the stream is ending). */
int s2s_stanza_route(struct mux_conn *c, struct xml_node *el);

/* The peer's <stream:error/> el (not taken): we end the stream too, with
 * a log line that names the condition.  Returns 1. */
int s2s_peer_stream_error(struct mux_conn *c, const struct xml_node *el);

/* Tells the router about the link's pair ("c->domain remote"): type
 * MSG_S2S_UP or MSG_S2S_DOWN, with status (core/route/msg.h).  False when
 * the message could not be made (logged). */
bool s2s_tell_router(struct mux_conn *c, int type, int status);
/* The same for another pair the link carries (s2s-in multiplexing). */
bool s2s_tell_router_pair(struct mux_conn *c, int type, int status, const char *local,
			  const char *remote);

/* The role's deliver on an established link that may carry our stanzas
 * (outbound, or inbound made bidirectional): writes st, with the
 * recipient a broadcast presence leaves out (msg data). */
bool s2s_deliver(struct mux_conn *c, struct msg *msg);

/* Whether el is a <stream:error/>. */
bool s2s_is_stream_error(const struct xml_node *el);

#endif
