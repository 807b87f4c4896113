/* Tree serializer; see xml_write.h.
 *
 * Written iteratively (the parser bounds depth, API users do not), with the
 * walk's state kept in the nodes' own parent pointers: for each element we
 * need only its namespace to decide whether its children need an xmlns.
 *
 * Attribute prefixes: a namespaced attribute other than xml:* gets the prefix
 * "a<N>", N counted per element, and one declaration per distinct URI on that
 * element.  Declarations are scoped to the element, so reusing a0 on a child
 * for another URI is fine, and since elements are never prefixed no
 * generated prefix can shadow one an element depends on. */
#include "core/xml/xml_write.h"

#include <stdbool.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/xml/xml_node.h"

#define NS_XMLNS "http://www.w3.org/2000/xmlns/"

/* Bytes that may not appear in a name we write: anything up to and
 * including space, markup characters, '=', '/' and ':' (our names are
 * local names; a colon would read back as an unbound prefix). */
#define B8 true, true, true, true, true, true, true, true
static const bool name_bad[256] = {
	B8, B8, B8, B8, [' '] = true, ['<'] = true, ['>'] = true, ['&'] = true,
	['"'] = true, ['\''] = true, ['='] = true, ['/'] = true, [':'] = true,
};

/* Rejects names that would change meaning or break the output: empty
 * names and names with any byte of name_bad. */
static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (name_bad[(unsigned char)*s])
			return false;
	return true;
}

static bool ns_same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Index of the first attribute with the same namespace as attrs[i]; the
 * prefix of attrs[i] is then "a<that index>", which dedups without a table. */
static size_t first_with_ns(const struct xml_node *n, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (n->attrs[j].ns && strcmp(n->attrs[j].ns, n->attrs[i].ns) == 0)
			return j;
	return i;
}

/* A literal, a string and a literal in a row (the pieces of a tag or an
 * attribute) with one room check: the literals' lengths are constants, so
 * their copies compile to a couple of moves, without printf's cost or a
 * call per piece on every routed stanza. */
static enum xs append3n(struct xbuf *out, const char *a, size_t al, const char *b,
			const char *c, size_t cl)
{
	size_t bl = strlen(b), n = al + bl + cl;

	if (!(out->cap - out->len > n) && xbuf_reserve(out, n) != XS_OK)
		return XS_NOMEM;
	char *p = out->data + out->len;
	memcpy(p, a, al);
	memcpy(p + al, b, bl);
	memcpy(p + al + bl, c, cl);
	out->len += n;
	out->data[out->len] = '\0';
	return XS_OK;
}
#define append3(out, a, b, c) append3n((out), (a), sizeof(a) - 1, (b), (c), sizeof(c) - 1)

/* The decimal digits of an attribute prefix number, in buf. */
static const char *prefix_num(size_t j, char buf[24])
{
	char *p = buf + 23;
	*p = '\0';
	do {
		*--p = (char)('0' + j % 10);
		j /= 10;
	} while (j);
	return p;
}

static enum xs write_start(const struct xml_node *n, const char *parent_ns, struct xbuf *out)
{
	enum xs st = XS_OK;
	char num[24];

	if (!name_ok(n->name))
		return XS_INVAL;
	if (append3(out, "<", n->name, "") != XS_OK)
		return XS_NOMEM;
	if (!ns_same(n->ns, parent_ns)) {
		if (xbuf_append_str(out, " xmlns=\"") != XS_OK ||
		    xbuf_append_escaped_attr(out, n->ns, strlen(n->ns)) != XS_OK ||
		    xbuf_append(out, "\"", 1) != XS_OK)
			return XS_NOMEM;
	}

	for (size_t i = 0; i < n->n_attrs; i++) {
		const struct xml_attr *a = &n->attrs[i];
		bool has_ns = a->ns && *a->ns;

		if (!name_ok(a->name))
			return XS_INVAL;
		if (!has_ns) {
			/* an unprefixed "xmlns" would be read as a declaration */
			if (strcmp(a->name, "xmlns") == 0)
				return XS_INVAL;
			st = append3(out, " ", a->name, "=\"");
		} else if (strcmp(a->ns, XML_NODE_NS_XML) == 0) {
			st = append3(out, " xml:", a->name, "=\"");
		} else if (strcmp(a->ns, NS_XMLNS) == 0) {
			return XS_INVAL;
		} else {
			size_t j = first_with_ns(n, i);
			if (j == i) {
				st = append3(out, " xmlns:a", prefix_num(j, num), "=\"");
				if (st == XS_OK)
					st = xbuf_append_escaped_attr(out, a->ns, strlen(a->ns));
				if (st == XS_OK)
					st = xbuf_append(out, "\"", 1);
			}
			if (st == XS_OK)
				st = append3(out, " a", prefix_num(j, num), ":");
			if (st == XS_OK)
				st = append3(out, "", a->name, "=\"");
		}
		if (st == XS_OK)
			st = xbuf_append_escaped_attr(out, a->value, strlen(a->value));
		if (st == XS_OK)
			st = xbuf_append(out, "\"", 1);
		if (st != XS_OK)
			return st;
	}
	return XS_OK;
}

static enum xs write_end(const struct xml_node *n, struct xbuf *out)
{
	if (append3(out, "</", n->name, ">") != XS_OK)
		return XS_NOMEM;
	return XS_OK;
}

enum xs xml_write_around(const struct xml_node *node, const char *parent_ns, const char *inner,
			 size_t inner_len, struct xbuf *out)
{
	enum xs st = write_start(node, parent_ns ? parent_ns : "", out);
	if (st != XS_OK)
		return st;
	if (!inner_len)
		return xbuf_append(out, "/>", 2);
	if (xbuf_append(out, ">", 1) != XS_OK || xbuf_append(out, inner, inner_len) != XS_OK)
		return XS_NOMEM;
	return write_end(node, out);
}

enum xs xml_write(const struct xml_node *node, const char *parent_ns, struct xbuf *out)
{
	const struct xml_node *n = node;
	const char *pns = parent_ns ? parent_ns : "";
	enum xs st;

	for (;;) {
		if (n->type == XML_NODE_TEXT) {
			if (xbuf_append_escaped(out, n->text, n->text_len) != XS_OK)
				return XS_NOMEM;
		} else {
			st = write_start(n, n == node ? pns : n->parent->ns, out);
			if (st != XS_OK)
				return st;
			if (n->first_child) {
				if (xbuf_append(out, ">", 1) != XS_OK)
					return XS_NOMEM;
				n = n->first_child;
				continue;
			}
			if (xbuf_append(out, "/>", 2) != XS_OK)
				return XS_NOMEM;
		}
		/* n is done: close parents that have no further children */
		while (n != node && !n->next) {
			n = n->parent;
			st = write_end(n, out);
			if (st != XS_OK)
				return st;
		}
		if (n == node)
			return XS_OK;
		n = n->next;
	}
}
