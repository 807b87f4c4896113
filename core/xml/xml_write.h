/* Serializing stanza trees to bytes for the wire.
 *
 * The output is what a peer's namespace-aware parser reads back as the same
 * tree: element namespaces become default-namespace declarations (xmlns="")
 * wherever an element's namespace differs from its parent's, so no element
 * ever carries a prefix; namespaced attributes get generated prefixes
 * declared on the element that uses them, except the XML namespace, which is
 * always written as xml:.  Used by stanza_freeze() to serialize a stanza
 * once, and by the stream layer for anything it builds as a tree. */
#ifndef XMPPD_XML_WRITE_H
#define XMPPD_XML_WRITE_H

#include <stddef.h>

#include "core/base/status.h"

struct xml_node;
struct xbuf;

/* Appends node (element with its subtree, or a text node) to out.
 * parent_ns is the default namespace in scope where the element will
 * appear: pass "jabber:client" for stanzas on a c2s stream so top-level
 * stanzas carry no xmlns, NULL or "" for a standalone document.
 * XS_OK, XS_NOMEM, or XS_INVAL for a tree that cannot be written as
 * namespace-well-formed XML (an attribute that is itself a namespace
 * declaration, or a name that could not be read back); out may then hold
 * part of the element and the caller discards it. */
enum xs xml_write(const struct xml_node *node, const char *parent_ns, struct xbuf *out);
/* Appends element node's start tag (as xml_write writes it), then inner
 * instead of node's children, and its end tag; "<name .../>" when inner_len
 * is 0.  inner must be well-formed content that means what it should where
 * node's namespace is the default one, and is copied as it is: the content
 * of a received stanza (xml_stream_stanza_inner). */
enum xs xml_write_around(const struct xml_node *node, const char *parent_ns, const char *inner,
			 size_t inner_len, struct xbuf *out);

#endif
