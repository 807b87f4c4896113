/* The XML stream parser of one XMPP connection (RFC 6120 §4, §11).
 *
 * Bytes from the socket (after TLS) go in through xml_stream_feed(); out come
 * callbacks: the stream header when its start tag is complete, each depth-1
 * element (a stanza, or a negotiation element such as <starttls/>) as a
 * complete xml_node tree once its end tag arrives, and the end of the
 * stream.  Underneath is expat in namespace mode.
 *
 * Restricted XML (RFC 6120 §11.1) is enforced: DOCTYPE, entity and other
 * declarations, processing instructions and comments are refused with
 * XML_STREAM_RESTRICTED_XML as soon as they are seen; entities are never
 * declared, so never expanded.  Limits bound what a peer can make us hold.
 * After any error the stream is dead: every further feed returns the same
 * error until xml_stream_reset().
 *
 * One parser belongs to one connection on one mux thread. */
#ifndef XMPPD_XML_STREAM_H
#define XMPPD_XML_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/status.h"

struct xml_node;
struct xml_stream;
struct xml_parser_pool;

/* A limit of 0 means "no limit" (for tests and trusted links only). */
struct xml_stream_limits {
	size_t max_stanza_size;  /* bytes of input between the end of the previous
				  * stanza (or header) and the end of this one */
	unsigned max_depth;      /* element nesting within a stanza, stanza element = 1 */
	unsigned max_attrs;      /* per element, namespace declarations included */
	unsigned max_elements;   /* elements in one stanza, the stanza element
				  * included: a tree costs ~100 bytes per
				  * element, 25 times what "<a/>" costs to send */
};

enum xml_stream_err {
	XML_STREAM_OK = 0,
	XML_STREAM_NOT_WELL_FORMED,
	XML_STREAM_RESTRICTED_XML,   /* DTD, DOCTYPE, entity decl, PI, comment */
	XML_STREAM_POLICY_VIOLATION, /* a limit */
	XML_STREAM_NOMEM,
	XML_STREAM_STOPPED,          /* a callback returned non-zero */
	XML_STREAM_CLOSED,           /* input after </stream:stream> */
};

struct xml_stream_cb {
	/* The stream root element (name, ns, attributes; the default namespace
	 * it declares is xml_stream_default_ns()).  The node is the parser's
	 * and lives until the callback returns: copy what is needed of it.
	 * Return non-zero to stop. */
	int (*stream_open)(void *arg, struct xml_node *header);
	/* Each complete depth-1 element; ownership passes to the callee.
	 * Return non-zero to stop parsing: the rest of this input is discarded
	 * (the caller will reset or close). */
	int (*stanza)(void *arg, struct xml_node *stanza);
	/* </stream:stream>.  Input after it in the same feed is ignored; later
	 * feeds return XML_STREAM_CLOSED. */
	int (*stream_close)(void *arg);
};

/* NULL on allocation failure.  lim and cb are copied. */
struct xml_stream *xml_stream_new(const struct xml_stream_limits *lim,
				  const struct xml_stream_cb *cb, void *arg);
/* Parses len bytes.  XML_STREAM_OK when all of it was consumed (or the stream
 * was closed inside it); anything else is sticky. */
enum xml_stream_err xml_stream_feed(struct xml_stream *s, const char *buf, size_t len);
/* New limits, from the next byte fed on (the mux raises them once a
 * client has authenticated).  A stanza under construction is held to the
 * new limits from now on. */
void xml_stream_set_limits(struct xml_stream *s, const struct xml_stream_limits *lim);
/* Stream restart (after STARTTLS or SASL success): a fresh document with the
 * same limits and callbacks.  Clears any error.  Cheap: expat's memory is
 * kept for reuse.  XS_OK or XS_NOMEM. */
enum xs xml_stream_reset(struct xml_stream *s);
/* The default namespace declared on the stream header ("jabber:client",
 * "jabber:server", ...) or "" before the header or if it declared none. */
const char *xml_stream_default_ns(const struct xml_stream *s);
/* Only from within the stanza callback: the stanza's content (the bytes
 * between its start and end tags, "" for an empty element) exactly as the
 * peer wrote it, when it is self-contained, i.e. means the same wherever the
 * stream's default namespace is in scope: it uses no prefix declared on the
 * stream header or on the stanza's own start tag.  False otherwise (and
 * outside the callback); the tree is then the only form. */
bool xml_stream_stanza_inner(const struct xml_stream *s, const char **p, size_t *len);
/* The stream header was reported to stream_open (and the document not
 * reset since). */
bool xml_stream_header_seen(const struct xml_stream *s);
/* Outside the callbacks: at depth 1 with nothing of a stanza, a token or a
 * character held (the conditions of xml_stream_sleep below).  A transport
 * whose messages must each hold whole elements (RFC 7395) checks it at
 * the end of each. */
bool xml_stream_between_stanzas(const struct xml_stream *s);
/* Log-friendly description of the last error ("" if none). */
const char *xml_stream_err_text(const struct xml_stream *s);
const char *xml_stream_err_name(enum xml_stream_err e);
void xml_stream_free(struct xml_stream *s);

/* ---- idle sleep ----
 *
 * An expat parser at depth 1 costs about 11 KB although all it carries
 * between stanzas is the namespace context of the stream header.  An idle
 * connection can free it and have a fresh one rebuilt on demand.
 *
 * Sleep: only at depth 1 between stanzas (no partial stanza, text or token
 * buffered, not even a trailing CR; no error; header seen; stream not
 * closed).  Frees the expat parser and every buffer; keeps the header node,
 * the header's namespace declarations (default namespace and every prefix,
 * e.g. xmlns:db on an s2s stream) and the root's qualified name.  XS_OK
 * (also when already asleep), or XS_AGAIN when not at a clean boundary: the
 * parser stays as it is and the caller may try again later. */
enum xs xml_stream_sleep(struct xml_stream *s);
bool xml_stream_is_asleep(const struct xml_stream *s);
/* Wake: a fresh expat parser into which a start tag carrying the saved
 * header's name and namespace declarations is replayed, without calling
 * stream_open again.  Limits, callbacks, byte accounting (the replay does not
 * count; bytes fed since the last stanza before the sleep still do) and the
 * line and column numbers in error texts continue as if the parser had never
 * slept.  XS_OK (also when awake) or XS_NOMEM (the stream then stays asleep
 * and intact).  xml_stream_feed() on a sleeping parser wakes it implicitly;
 * a failure to wake there is a sticky XML_STREAM_NOMEM.  xml_stream_reset()
 * works asleep too and leaves the stream awake, as new. */
enum xs xml_stream_wake(struct xml_stream *s);
/* Bytes the stream holds outside expat: the struct, the header, the
 * namespace context, a stanza under construction and its text buffer,
 * input held back from expat (see xml_stream.c, "Linear parsing"),
 * counted with glibc's 64-bit block overhead; approximate.  Expat's own
 * memory (about 3.4 KB fresh, 11 KB at depth 1, more after large tokens) is
 * not included; asleep there is none. */
size_t xml_stream_mem_usage(const struct xml_stream *s);

/* ---- parsers lent between streams ----
 *
 * Between stanzas a stream needs no parser of its own (see sleep above), and
 * an expat parser that has just been used is warm in the cache: its hash
 * tables of element and attribute names, its buffers.  A pool holds such
 * idle parsers, one per distinct stream header context (the root's name as
 * written and its namespace declarations: on a c2s listener nearly always
 * the same one).  A stream given a pool hands its parser to the pool
 * whenever a feed ends at a clean boundary between stanzas (the conditions
 * of xml_stream_sleep) and takes one back from it, instead of building a
 * fresh one, when input arrives: every stream of a thread then parses with
 * the same few parsers, and a session between stanzas holds none.  A feed
 * that ends inside a stanza keeps its parser until the stanza is complete.
 *
 * A lent parser is at depth 1 of a document whose root has the same name and
 * declarations; byte offsets, limits, line and column numbers in error texts
 * and the raw content stay those of each stream's own document, as across a
 * sleep.  Nothing else carries over: namespace bindings made inside a stanza
 * end with it, and restricted XML leaves no DTD state to inherit.  What
 * does accumulate in a parser is its table of names; a parser that has read
 * more than retire_bytes is freed instead of going back to the pool.
 *
 * One pool belongs to one thread, like the streams that use it. */
struct xml_parser_pool *xml_parser_pool_new(unsigned long long retire_bytes);
/* Frees the pool and the parsers in it; the streams that used it must be
 * freed first or be given another pool. */
void xml_parser_pool_free(struct xml_parser_pool *pool);
/* Parsers waiting in the pool. */
size_t xml_parser_pool_idle(const struct xml_parser_pool *pool);
/* From now on s lends its parser to pool and borrows from it (NULL: no
 * more).  A stream at a clean boundary lends its parser at once, unless this
 * is called from one of its callbacks: then at the end of that feed. */
void xml_stream_use_pool(struct xml_stream *s, struct xml_parser_pool *pool);

#endif
