/* A small element tree for one stanza.
 *
 * The XML stream parser (xml_stream.c) builds one tree per depth-1 element
 * and hands it to the connection; handlers may then edit it (stamp 'from',
 * add an <error/>) before stanza_freeze() serializes it with xml_write.c and
 * it becomes immutable.  Names are namespace-qualified the expat way: an
 * element carries its namespace URI (never a prefix), attributes carry a
 * namespace URI or NULL.  Prefixes from the wire are not kept; the serializer
 * invents its own where it needs them.
 *
 * Memory: an element is one allocation (node, name and namespace together),
 * plus one for its attribute array and one per attribute (name, value and
 * namespace together); a text node is one allocation until text is merged
 * into it.  Nodes are not shared: freeing a node frees its subtree.
 *
 * Nothing here is thread-safe; a tree belongs to one thread at a time (and
 * once frozen into a stanza, nobody writes to it any more). */
#ifndef XMPPD_XML_NODE_H
#define XMPPD_XML_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/status.h"

/* The namespace of xml:lang / xml:space; fixed by the XML spec. */
#define XML_NODE_NS_XML "http://www.w3.org/XML/1998/namespace"

enum xml_node_type { XML_NODE_ELEM, XML_NODE_TEXT };

struct xml_attr {
	char *ns;    /* NULL for no namespace; XML_NODE_NS_XML for xml:lang */
	char *name;  /* local name */
	char *value;
};

struct xml_node {
	enum xml_node_type type;
	struct xml_node *parent, *first_child, *last_child, *next;
	/* XML_NODE_ELEM */
	char *name;             /* local name */
	char *ns;               /* namespace URI, never NULL for elements ("" = none) */
	struct xml_attr *attrs;
	size_t n_attrs;
	/* XML_NODE_TEXT: text_len bytes, NUL-terminated, may hold no NULs
	 * when it came from the parser */
	char *text;
	size_t text_len;
};

/* Constructors return NULL on allocation failure.  ns NULL means "". */
struct xml_node *xml_node_new_elem(const char *name, const char *ns);
/* The same with counted strings (used by the parser, which gets both out of
 * one "uri<sep>local" string). */
struct xml_node *xml_node_new_elem_n(const char *name, size_t name_len,
				     const char *ns, size_t ns_len);
struct xml_node *xml_node_new_text(const char *text, size_t len);

/* Frees node and its subtree; unlinks it from its parent first. NULL ok. */
void xml_node_free(struct xml_node *node);
/* Detaches node (and its subtree) from its parent; no-op without one. */
void xml_node_unlink(struct xml_node *node);
/* Deep copy, parent NULL.  NULL on allocation failure. */
struct xml_node *xml_node_copy(const struct xml_node *node);

/* Attributes.  Setters replace an attribute with the same (ns, name); a NULL
 * value deletes.  ns NULL or "" means no namespace.  XS_OK or XS_NOMEM (the
 * node is unchanged then). */
enum xs xml_node_set_attr(struct xml_node *node, const char *name, const char *value);
enum xs xml_node_set_attr_ns(struct xml_node *node, const char *ns, const char *name,
			     const char *value);
/* Appends without looking for a duplicate: only for callers that know the
 * name is new (the parser, whose input expat has already checked). */
enum xs xml_node_add_attr_n(struct xml_node *node, const char *ns, size_t ns_len,
			    const char *name, size_t name_len, const char *value);
/* Lookups return the value or NULL; xml_node_attr sees only attributes in
 * no namespace, so a foreign 'to' can never be mistaken for ours. */
const char *xml_node_attr(const struct xml_node *node, const char *name);
const char *xml_node_attr_ns(const struct xml_node *node, const char *ns, const char *name);
void xml_node_del_attr(struct xml_node *node, const char *name);
void xml_node_del_attr_ns(struct xml_node *node, const char *ns, const char *name);

/* Children.  add_child takes ownership of an unlinked child. */
void xml_node_add_child(struct xml_node *parent, struct xml_node *child);
/* Appends text, merging with a text node that is already the last child.
 * XS_OK or XS_NOMEM. */
enum xs xml_node_add_text(struct xml_node *parent, const char *text, size_t len);
/* New element appended to parent; ns NULL means the parent's namespace. */
struct xml_node *xml_node_new_child(struct xml_node *parent, const char *name, const char *ns);

/* First child element with this name (NULL = any) and namespace (NULL =
 * any), or NULL. */
struct xml_node *xml_node_child(const struct xml_node *node, const char *name, const char *ns);
struct xml_node *xml_node_first_elem(const struct xml_node *node);
/* The next sibling that is an element. */
struct xml_node *xml_node_next_elem(const struct xml_node *node);
/* Newly allocated concatenation of node's direct text children ("" if none);
 * NULL only on allocation failure.  The caller frees it. */
char *xml_node_text(const struct xml_node *node);

#endif
