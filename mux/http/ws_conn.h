/* XMPP over WebSocket (RFC 7395 over RFC 6455) on a gateway thread
 * (docs/internals/gateway.md): the handshake (ws_handshake.c), then the
 * frames filter (xf_ws.c) under an XML parser that reads each message as
 * a document of its own, and the c2s role above: SASL, bind, sessions and
 * sleeping as on a socket. */
#ifndef XMPPD_MUX_WS_CONN_H
#define XMPPD_MUX_WS_CONN_H

#include <stdbool.h>

#include "core/http/http_req.h"

struct mux_conn;
struct xml_node;

/* ws_handshake.c: a request for [http] websocket_path.  true: it was
 * accepted and 101 sent, and the caller hands the connection to
 * conn_upgrade_ws; false: it was answered (400, 403, 405, 426) and the
 * connection closes. */
bool ws_handshake(struct mux_conn *c, const struct http_req *r, bool upgrade);

/* xf_ws.c: filter i, the top (the HTTP parser), is replaced with the
 * frames filter and an XML parser, and the role becomes c2s.  false: out
 * of memory, c is closed. */
bool conn_upgrade_ws(struct mux_conn *c, unsigned i);
/* The XML parser's callbacks on such a connection (xf_xml.c): the root
 * xf_ws fed it, and each element of each message, <open/> and <close/>
 * included. */
int ws_on_root(void *arg, struct xml_node *root);
int ws_on_element(void *arg, struct xml_node *el);
/* After the parser's reset (a restart: SASL success), the root fed
 * again: the next message must be an <open/>.  A BOSH session's parser
 * (mux/http/bosh_session.c) reads its requests' stanzas the same way. */
void ws_stream_restart(struct mux_conn *c);

#endif
