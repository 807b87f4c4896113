/* RFC 7395 framing of what a c2s stream role writes, for the WebSocket
 * transport (docs/internals/gateway.md).
 *
 * The role writes the same XML it writes on a socket: a stream header
 * ("<?xml version='1.0'?><stream:stream xmlns='jabber:client'
 * xmlns:stream='...' id='..' from='..' version='1.0' xml:lang='en'>"), then
 * top-level elements one after another, perhaps a new header after a
 * restart (SASL success), and "</stream:stream>" at the end; writes may
 * hold several elements, or part of one.  This cuts that stream into one
 * message per top-level element, as RFC 7395 3.3 wants them:
 *
 *   - the XML declaration is dropped;
 *   - a <stream:stream> start tag becomes
 *     <open xmlns='urn:ietf:params:xml:ns:xmpp-framing' .../> with the
 *     header's attributes other than namespace declarations (id, from, to,
 *     version, xml:lang), as written;
 *   - </stream:stream> becomes
 *     <close xmlns="urn:ietf:params:xml:ns:xmpp-framing" /> (as RFC 7395 writes it);
 *   - a top-level element whose name has the prefix "stream:" gets
 *     xmlns:stream='http://etherx.jabber.org/streams' declared on it,
 *     unless it declares it; one with no prefix and no xmlns='...' of its
 *     own gets xmlns='<the stream's namespace>' (jabber:client); the rest
 *     is copied byte for byte;
 *   - text between top-level elements (whitespace) is dropped.
 *
 * The scan understands what our writers and stanzas may contain: attribute
 * values in either quote (which may hold '>'), CDATA sections, comments and
 * processing instructions are stepped over, and empty-element tags.  Each
 * message is handed to emit with WS_FRAMING_HEADROOM free bytes before it,
 * so that the caller can write a frame header in place and send one piece.
 * A pure module: no sockets. */
#ifndef XMPPD_WS_FRAMING_H
#define XMPPD_WS_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/xbuf.h"

#define WS_FRAMING_HEADROOM 10 /* WS_HEADER_MAX of core/http/ws_frame.h */

/* A message: msg[0..len), with msg[-WS_FRAMING_HEADROOM..0) the caller's
 * to write.  false stops the feed (the connection is gone). */
typedef bool (*ws_framing_emit)(void *arg, char *msg, size_t len);

struct ws_framing {
	const char *ns;    /* the stream's default namespace: "jabber:client" */
	struct xbuf out;   /* headroom + the message being built, or an
			    * element not complete yet */
	/* where the scan stands, so that an element split across feeds is
	 * not scanned twice (see the .c) */
	uint32_t depth;
	uint32_t state;
	uint32_t aux;
	size_t mark;
};

void ws_framing_init(struct ws_framing *f, const char *ns);
/* Scans data and emits every message completed by it.  false: out of
 * memory, emit returned false, or what was written is not XML this can
 * frame (a bug of ours: the caller closes the connection). */
bool ws_framing_feed(struct ws_framing *f, const char *data, size_t len, ws_framing_emit emit,
		     void *arg);
/* No part of an element is held. */
bool ws_framing_idle(const struct ws_framing *f);
/* Bytes held on the heap. */
size_t ws_framing_mem(const struct ws_framing *f);
/* Gives back the buffer of an idle framer (it is rebuilt on demand). */
void ws_framing_shrink(struct ws_framing *f);
void ws_framing_free(struct ws_framing *f);

#endif
