/* The <body/> of a BOSH request (XEP-0124, XEP-0206), read by the HTTP
 * gateway before the session sees any of it (docs/internals/gateway.md).
 *
 * A pure module, as core/http/http_req.h: expat reads the whole request
 * body (bounded by [http] max_body_bytes) as one document whose root must
 * be <body xmlns='http://jabber.org/protocol/httpbind'>.  Out come the
 * attributes the gateway uses, and where the root's children are in the
 * input: those bytes, as the client wrote them, go to the session's own
 * XML parser, which applies the stream's limits to each stanza.
 *
 * Restricted XML (RFC 6120 11.1) as on a stream: a DOCTYPE, entity
 * declarations, processing instructions and comments are refused; an XML
 * declaration before the root is allowed.  Also refused: a root that is
 * not <body/> in that namespace, junk after it, nesting deeper than
 * BOSH_BODY_MAX_DEPTH, numbers that are not plain decimal or are too
 * large, a sid or another kept value longer than its buffer, and a NUL
 * byte (never XML; UTF-16 has them, and the input is read as UTF-8 only,
 * whatever its XML declaration names). */
#ifndef XMPPD_BOSH_BODY_H
#define XMPPD_BOSH_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"
#define BOSH_SID_MAX 64
#define BOSH_RID_MAX 9007199254740991ULL /* 2^53 - 1 (XEP-0124 14.1) */
#define BOSH_BODY_MAX_DEPTH 64

struct bosh_body {
	/* present: which of the attributes below were given */
	bool has_rid, has_ack, has_wait, has_hold, has_sid;
	uint64_t rid;            /* rid: 1..BOSH_RID_MAX */
	uint64_t ack;            /* ack: 0..BOSH_RID_MAX */
	uint64_t wait;           /* wait: seconds, as sent (the gateway clamps) */
	uint64_t hold;           /* hold: requests, as sent (the gateway clamps) */
	char sid[BOSH_SID_MAX + 1];
	char to[256];            /* to: the domain ("" when absent) */
	char lang[36];           /* xml:lang */
	char ver[16];            /* ver: the BOSH version, "1.6" */
	char xmpp_version[16];   /* xmpp:version (XEP-0206), "1.0" */
	bool terminate;          /* type='terminate' */
	bool restart;            /* xmpp:restart='true' (or '1') */
	/* The children: input[inner_off .. inner_off + inner_len), from the
	 * first child's '<' to the '<' of </body>, so text under <body/>
	 * after the first child is inside; inner_len and inner_off 0 when
	 * there are none (text alone counts as none). */
	size_t inner_off, inner_len;
	unsigned children;       /* elements directly under <body/> */
	const char *error;       /* why it was refused: a static text */
};

/* Reads input[0..len) (no NUL terminator needed).  true: *out is filled;
 * false: out->error says why (the gateway answers 400) and every other
 * field is zero. */
bool bosh_body_parse(const char *input, size_t len, struct bosh_body *out);

#endif
