/* Stanza trees; see xml_node.h for the contract.
 *
 * Storage layout, chosen to keep a parsed stanza to few allocations:
 *  - an element is malloc(sizeof node + name + NUL + ns + NUL), name and ns
 *    pointing just past the struct;
 *  - a text node is malloc(sizeof node + text + NUL) the same way; merging
 *    more text into it moves the text to a block of its own (the node itself
 *    cannot be realloc'ed: siblings and the parent point at it), so "text
 *    lives inline" is recognised by comparing the pointer with the struct end;
 *  - an attribute is one block "name\0value\0ns\0" with attr->name at its
 *    start, so freeing an attribute is free(attr->name);
 *  - the attribute array grows in powers of two from 4 without storing its
 *    capacity: the capacity is implied by the highest count the array ever
 *    held, and attr_cap() below never reports more than that.
 * Trees from the parser are shallow (max_depth), but API users may build
 * anything, so freeing walks the tree iteratively. */
#include "core/xml/xml_node.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *inline_text(const struct xml_node *n)
{
	return (char *)(n + 1);
}

struct xml_node *xml_node_new_elem_n(const char *name, size_t name_len,
				     const char *ns, size_t ns_len)
{
	if (name_len > SIZE_MAX / 4 || ns_len > SIZE_MAX / 4)
		return NULL;
	struct xml_node *n = malloc(sizeof(*n) + name_len + ns_len + 2);
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->type = XML_NODE_ELEM;
	n->name = inline_text(n);
	memcpy(n->name, name, name_len);
	n->name[name_len] = '\0';
	n->ns = n->name + name_len + 1;
	if (ns_len)
		memcpy(n->ns, ns, ns_len);
	n->ns[ns_len] = '\0';
	return n;
}

struct xml_node *xml_node_new_elem(const char *name, const char *ns)
{
	if (!ns)
		ns = "";
	return xml_node_new_elem_n(name, strlen(name), ns, strlen(ns));
}

struct xml_node *xml_node_new_text(const char *text, size_t len)
{
	if (len > SIZE_MAX / 2)
		return NULL;
	struct xml_node *n = malloc(sizeof(*n) + len + 1);
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->type = XML_NODE_TEXT;
	n->text = inline_text(n);
	if (len)
		memcpy(n->text, text, len);
	n->text[len] = '\0';
	n->text_len = len;
	return n;
}

static void free_one(struct xml_node *n)
{
	for (size_t i = 0; i < n->n_attrs; i++)
		free(n->attrs[i].name);
	free(n->attrs);
	if (n->type == XML_NODE_TEXT && n->text != inline_text(n))
		free(n->text);
	free(n);
}

/* Post-order walk bounded by root, using first_child as the "not yet
 * visited" mark: a node is freed once its children are gone. */
static void free_tree(struct xml_node *root)
{
	struct xml_node *n = root;

	while (n) {
		struct xml_node *c = n->first_child;
		if (c) {
			n->first_child = c->next;
			/* detaching c keeps the walk simple: c's own
			 * children are handled before we come back here */
			c->next = NULL;
			n = c;
			continue;
		}
		struct xml_node *up = n == root ? NULL : n->parent;
		free_one(n);
		n = up;
	}
}

void xml_node_unlink(struct xml_node *node)
{
	struct xml_node *p = node->parent;
	if (!p)
		return;
	struct xml_node *prev = NULL;
	for (struct xml_node *c = p->first_child; c && c != node; c = c->next)
		prev = c;
	if (prev)
		prev->next = node->next;
	else
		p->first_child = node->next;
	if (p->last_child == node)
		p->last_child = prev;
	node->parent = NULL;
	node->next = NULL;
}

void xml_node_free(struct xml_node *node)
{
	if (!node)
		return;
	xml_node_unlink(node);
	free_tree(node);
}

/* ---- attributes ---- */

static size_t attr_cap(size_t n)
{
	if (n == 0)
		return 0;
	size_t cap = 4;
	while (cap < n)
		cap *= 2;
	return cap;
}

static bool ns_eq(const char *a, const char *b)
{
	/* NULL and "" both mean "no namespace" */
	if (!a || !*a)
		return !b || !*b;
	return b && strcmp(a, b) == 0;
}

static struct xml_attr *find_attr(const struct xml_node *node, const char *ns, const char *name)
{
	for (size_t i = 0; i < node->n_attrs; i++) {
		struct xml_attr *a = &node->attrs[i];
		/* the first byte settles most misses without a call */
		if (a->name[0] == name[0] && strcmp(a->name, name) == 0 && ns_eq(a->ns, ns))
			return a;
	}
	return NULL;
}

/* One block for an attribute's strings; fills *a on success. */
static enum xs attr_make(struct xml_attr *a, const char *ns, size_t ns_len,
			 const char *name, size_t name_len, const char *value)
{
	size_t vlen = strlen(value);
	if (name_len > SIZE_MAX / 4 || ns_len > SIZE_MAX / 4 || vlen > SIZE_MAX / 4)
		return XS_NOMEM;
	char *blk = malloc(name_len + vlen + ns_len + 3);
	if (!blk)
		return XS_NOMEM;
	a->name = blk;
	memcpy(a->name, name, name_len);
	a->name[name_len] = '\0';
	a->value = a->name + name_len + 1;
	memcpy(a->value, value, vlen + 1);
	if (ns && ns_len) {
		a->ns = a->value + vlen + 1;
		memcpy(a->ns, ns, ns_len);
		a->ns[ns_len] = '\0';
	} else {
		a->ns = NULL;
	}
	return XS_OK;
}

enum xs xml_node_add_attr_n(struct xml_node *node, const char *ns, size_t ns_len,
			    const char *name, size_t name_len, const char *value)
{
	struct xml_attr a;

	if (attr_make(&a, ns, ns_len, name, name_len, value) != XS_OK)
		return XS_NOMEM;
	if (node->n_attrs == attr_cap(node->n_attrs)) {
		size_t cap = attr_cap(node->n_attrs + 1);
		struct xml_attr *arr = realloc(node->attrs, cap * sizeof(*arr));
		if (!arr) {
			free(a.name);
			return XS_NOMEM;
		}
		node->attrs = arr;
	}
	node->attrs[node->n_attrs++] = a;
	return XS_OK;
}

enum xs xml_node_set_attr_ns(struct xml_node *node, const char *ns, const char *name,
			     const char *value)
{
	struct xml_attr *old = find_attr(node, ns, name);
	size_t ns_len = ns ? strlen(ns) : 0;

	if (!value) {
		xml_node_del_attr_ns(node, ns, name);
		return XS_OK;
	}
	if (!old)
		return xml_node_add_attr_n(node, ns, ns_len, name, strlen(name), value);

	struct xml_attr a;
	if (attr_make(&a, ns, ns_len, name, strlen(name), value) != XS_OK)
		return XS_NOMEM;
	free(old->name);
	*old = a;
	return XS_OK;
}

enum xs xml_node_set_attr(struct xml_node *node, const char *name, const char *value)
{
	return xml_node_set_attr_ns(node, NULL, name, value);
}

const char *xml_node_attr_ns(const struct xml_node *node, const char *ns, const char *name)
{
	const struct xml_attr *a = find_attr(node, ns, name);
	return a ? a->value : NULL;
}

const char *xml_node_attr(const struct xml_node *node, const char *name)
{
	return xml_node_attr_ns(node, NULL, name);
}

void xml_node_del_attr_ns(struct xml_node *node, const char *ns, const char *name)
{
	struct xml_attr *a = find_attr(node, ns, name);
	if (!a)
		return;
	free(a->name);
	/* keep the order: serialized output should not shuffle attributes */
	size_t i = (size_t)(a - node->attrs);
	memmove(a, a + 1, (node->n_attrs - i - 1) * sizeof(*a));
	node->n_attrs--;
	if (node->n_attrs == 0) {
		free(node->attrs);
		node->attrs = NULL;
	}
}

void xml_node_del_attr(struct xml_node *node, const char *name)
{
	xml_node_del_attr_ns(node, NULL, name);
}

/* ---- children ---- */

void xml_node_add_child(struct xml_node *parent, struct xml_node *child)
{
	child->parent = parent;
	child->next = NULL;
	if (parent->last_child)
		parent->last_child->next = child;
	else
		parent->first_child = child;
	parent->last_child = child;
}

enum xs xml_node_add_text(struct xml_node *parent, const char *text, size_t len)
{
	struct xml_node *last = parent->last_child;

	if (len == 0)
		return XS_OK;
	if (!last || last->type != XML_NODE_TEXT) {
		struct xml_node *t = xml_node_new_text(text, len);
		if (!t)
			return XS_NOMEM;
		xml_node_add_child(parent, t);
		return XS_OK;
	}

	if (len > SIZE_MAX / 2 - last->text_len)
		return XS_NOMEM;
	size_t total = last->text_len + len;
	char *buf;
	if (last->text == inline_text(last)) {
		buf = malloc(total + 1);
		if (!buf)
			return XS_NOMEM;
		memcpy(buf, last->text, last->text_len);
	} else {
		buf = realloc(last->text, total + 1);
		if (!buf)
			return XS_NOMEM;
	}
	memcpy(buf + last->text_len, text, len);
	buf[total] = '\0';
	last->text = buf;
	last->text_len = total;
	return XS_OK;
}

struct xml_node *xml_node_new_child(struct xml_node *parent, const char *name, const char *ns)
{
	struct xml_node *c = xml_node_new_elem(name, ns ? ns : parent->ns);
	if (c)
		xml_node_add_child(parent, c);
	return c;
}

struct xml_node *xml_node_next_elem(const struct xml_node *node)
{
	for (struct xml_node *c = node->next; c; c = c->next)
		if (c->type == XML_NODE_ELEM)
			return c;
	return NULL;
}

struct xml_node *xml_node_first_elem(const struct xml_node *node)
{
	struct xml_node *c = node->first_child;
	if (c && c->type != XML_NODE_ELEM)
		c = xml_node_next_elem(c);
	return c;
}

struct xml_node *xml_node_child(const struct xml_node *node, const char *name, const char *ns)
{
	for (struct xml_node *c = xml_node_first_elem(node); c; c = xml_node_next_elem(c)) {
		if (name && strcmp(c->name, name) != 0)
			continue;
		if (ns && strcmp(c->ns, ns) != 0)
			continue;
		return c;
	}
	return NULL;
}

char *xml_node_text(const struct xml_node *node)
{
	size_t total = 0;

	if (node->type == XML_NODE_TEXT)
		return strdup(node->text);
	for (const struct xml_node *c = node->first_child; c; c = c->next)
		if (c->type == XML_NODE_TEXT)
			total += c->text_len;

	char *out = malloc(total + 1);
	if (!out)
		return NULL;
	char *p = out;
	for (const struct xml_node *c = node->first_child; c; c = c->next) {
		if (c->type != XML_NODE_TEXT)
			continue;
		memcpy(p, c->text, c->text_len);
		p += c->text_len;
	}
	*p = '\0';
	return out;
}

/* ---- copy ---- */

static struct xml_node *copy_one(const struct xml_node *src)
{
	if (src->type == XML_NODE_TEXT)
		return xml_node_new_text(src->text, src->text_len);

	struct xml_node *n = xml_node_new_elem(src->name, src->ns);
	if (!n)
		return NULL;
	for (size_t i = 0; i < src->n_attrs; i++) {
		const struct xml_attr *a = &src->attrs[i];
		if (xml_node_add_attr_n(n, a->ns, a->ns ? strlen(a->ns) : 0,
					a->name, strlen(a->name), a->value) != XS_OK) {
			free_one(n);
			return NULL;
		}
	}
	return n;
}

/* Iterative pre-order copy, so a deep tree cannot exhaust the stack. */
struct xml_node *xml_node_copy(const struct xml_node *node)
{
	struct xml_node *root = copy_one(node);
	struct xml_node *dst = root;
	const struct xml_node *src = node;

	if (!root)
		return NULL;
	while (src) {
		if (src->first_child && dst->first_child == NULL && src->type == XML_NODE_ELEM) {
			/* descend */
			src = src->first_child;
		} else {
			/* climb until a sibling remains */
			while (src != node && !src->next) {
				src = src->parent;
				dst = dst->parent;
			}
			if (src == node)
				break;
			src = src->next;
			dst = dst->parent;
		}
		struct xml_node *c = copy_one(src);
		if (!c) {
			free_tree(root);
			return NULL;
		}
		xml_node_add_child(dst, c);
		dst = c;
	}
	return root;
}
