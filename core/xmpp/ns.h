/* XMPP namespaces, one definition each (RFC 6120, RFC 6121 and the XEPs
 * named beside them). */
#ifndef XMPPD_NS_H
#define XMPPD_NS_H

/* RFC 6120 */
#define NS_CLIENT "jabber:client"
#define NS_SERVER "jabber:server"
/* XEP-0220 server dialback: the elements, and the stream feature */
#define NS_DIALBACK "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_BIDI "urn:xmpp:bidi"
#define NS_BIDI_FEATURE "urn:xmpp:features:bidi"
#define NS_STREAMS "http://etherx.jabber.org/streams"
/* RFC 7395: <open/> and <close/> of a stream over WebSocket */
#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
#define NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
/* RFC 3921's session establishment, still offered as optional (RFC 6121) */
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
/* RFC 6121 */
#define NS_ROSTER "jabber:iq:roster"
/* XEP-0030 */
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
/* XEP-0199 */
#define NS_PING "urn:xmpp:ping"
/* XEP-0115 entity capabilities */
#define NS_CAPS "http://jabber.org/protocol/caps"
/* XEP-0092 */
#define NS_VERSION "jabber:iq:version"
/* XEP-0202 */
#define NS_TIME "urn:xmpp:time"
/* XEP-0012 */
#define NS_LAST "jabber:iq:last"
/* XEP-0049 */
#define NS_PRIVATE "jabber:iq:private"
/* XEP-0054 */
#define NS_VCARD "vcard-temp"
/* XEP-0203 */
#define NS_DELAY "urn:xmpp:delay"
/* XEP-0280 message carbons, and XEP-0297 forwarding which carries them */
#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
/* XEP-0334 message processing hints */
#define NS_HINTS "urn:xmpp:hints"
/* XEP-0191 blocking command */
#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
/* XEP-0198 stream management */
#define NS_SM "urn:xmpp:sm:3"
/* XEP-0352 client state indication */
#define NS_CSI "urn:xmpp:csi:0"
/* XEP-0077 in-band registration: the iq payload and the stream feature */
#define NS_REGISTER "jabber:iq:register"
#define NS_REGISTER_FEATURE "http://jabber.org/features/iq-register"
/* XEP-0045 (only recognised: MUC private messages are not carbon-copied) */
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
/* XEP-0060 as XEP-0163 PEP uses it */
#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_OWNER "http://jabber.org/protocol/pubsub#owner"
#define NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_PUBSUB_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define NS_PUBSUB_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"
#define NS_PUBSUB_NODE_CONFIG "http://jabber.org/protocol/pubsub#node_config"
#define NS_DATA "jabber:x:data"
/* XEP-0402 bookmarks and XEP-0048's legacy ones */
#define NS_BOOKMARKS "urn:xmpp:bookmarks:1"
#define NS_BOOKMARKS_LEGACY "storage:bookmarks"

#endif
