/* Routed stanzas: reference-counted and immutable once frozen.
 *
 * A mux thread parses a stanza into an xml_node tree, stamps its 'from',
 * normalises its 'to', and freezes it: the tree is serialized once (in the
 * jabber:client namespace, i.e. without an xmlns on the top element; the
 * content as received where it is self-contained, so that only the top tag
 * is written anew) and from then on neither tree nor bytes change, so any number of threads may hold a
 * reference and read both.  A presence broadcast to 500 contacts is one
 * serialization and 500 references. */
#ifndef XMPPD_STANZA_H
#define XMPPD_STANZA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct xml_node;

enum stanza_kind { STANZA_MESSAGE, STANZA_PRESENCE, STANZA_IQ, STANZA_OTHER };

struct stanza {
	atomic_uint refs;
	enum stanza_kind kind;
	struct xml_node *tree;   /* owned; immutable; NULL in a slim stanza */
	/* to, from, type and id point into the tree (a slim stanza: into
	 * its own block) */
	const char *to;          /* normalised JID or NULL */
	const char *from;        /* stamped JID or NULL */
	const char *type;        /* type attribute or NULL */
	const char *id;          /* id attribute or NULL */
	size_t len;
	char *bytes;             /* serialized form, len bytes */
};

/* Freezes tree (ownership passes to the stanza): serializes it once.
 * NULL on allocation failure (the tree is freed then too). */
struct stanza *stanza_freeze(struct xml_node *tree);
/* The same, but with the bytes of the top element's content given: inner
 * (inner_len bytes, as received, see xml_stream_stanza_inner) is written
 * between the start and end tags instead of the children serialized again;
 * the tree keeps its children for whoever reads it.  inner NULL is
 * stanza_freeze. */
struct stanza *stanza_freeze_around(struct xml_node *tree, const char *inner, size_t inner_len);
/* tree is a copy of st's, changed only by one child element added last,
 * added: st's bytes are reused for the content before it, so only the
 * start tag and the new element are written (a message stamped with its
 * archive id keeps its content as received, and costs a copy of it rather
 * than a serialization).  Falls back to stanza_freeze(tree) when st's
 * bytes have no content to reuse.  Ownership of tree as there. */
struct stanza *stanza_freeze_appended(const struct stanza *st, struct xml_node *tree,
				      const struct xml_node *added);
/* Parses one stanza from text this server wrote (an offline message) and
 * freezes it; NULL when it does not parse (or is over max_size bytes) or
 * without memory. */
struct stanza *stanza_from_xml(const char *xml, size_t len, size_t max_size);
/* A copy of st without its tree (NULL without memory): the bytes and the
 * routing fields in one block, for a stanza kept only to be delivered
 * again, such as the presence the router holds per available session to
 * answer probes (~250 bytes of tree for a bare <presence/>, a kilobyte
 * with caps and a status).  Whoever takes one must not read ->tree. */
struct stanza *stanza_slim(const struct stanza *st);
/* "message", "presence", "iq" or "stanza", for log lines that may see a
 * slim stanza. */
const char *stanza_kind_name(enum stanza_kind k);
struct stanza *stanza_ref(struct stanza *st);
void stanza_unref(struct stanza *st);
enum stanza_kind stanza_kind_of(const char *name);

/* RFC 6120 §8.3.3 stanza error conditions. */
enum stanza_cond {
	SC_BAD_REQUEST, SC_CONFLICT, SC_FEATURE_NOT_IMPLEMENTED, SC_FORBIDDEN,
	SC_ITEM_NOT_FOUND, SC_JID_MALFORMED, SC_NOT_ACCEPTABLE, SC_NOT_ALLOWED,
	SC_NOT_AUTHORIZED, SC_POLICY_VIOLATION, SC_RECIPIENT_UNAVAILABLE,
	SC_REMOTE_SERVER_NOT_FOUND, SC_REMOTE_SERVER_TIMEOUT, SC_RESOURCE_CONSTRAINT,
	SC_SERVICE_UNAVAILABLE, SC_INTERNAL_SERVER_ERROR, SC_UNDEFINED_CONDITION,
};
const char *stanza_cond_name(enum stanza_cond c);

/* Builds the error reply to a stanza (RFC 6120 §8.3): same kind and id,
 * type='error', to/from swapped (from = `from` argument if not NULL, else
 * the original 'to'), the original children kept, plus the <error/> element.
 * Returns NULL for a stanza of type 'error' (errors are never answered with
 * errors) or on allocation failure. */
struct stanza *stanza_error_reply(const struct xml_node *orig, const char *from,
				  enum stanza_cond cond, const char *text);
/* The same with an application-specific condition element <app_name
 * xmlns='app_ns'/> after the defined one (RFC 6120 8.3.2). */
struct stanza *stanza_error_reply_app(const struct xml_node *orig, const char *from,
				      enum stanza_cond cond, const char *app_name,
				      const char *app_ns);

#endif
