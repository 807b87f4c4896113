/* XEP-0049 private XML storage: an account keeps XML documents for
 * itself, one per element name and namespace (bookmarks in
 * storage:bookmarks, Gajim's roster notes, ...).  Only the account itself
 * may read or write them (forbidden for anyone else).  [im]
 * max_private_items bounds how many an account keeps. */
#include "core/im/modules.h"

#include <stdio.h>
#include <string.h>

#include "core/conf/cfg.h"
#include "core/im/bookmarks.h"
#include "core/im/docstore.h"
#include "core/xml/xml_node.h"


/* The key: "{namespace}name" */
static bool key_of(const struct xml_node *el, char *out, size_t cap)
{
	int n = snprintf(out, cap, "{%s}%s", el->ns, el->name);
	return n > 0 && (size_t)n < cap;
}

/* XEP-0049 3: exactly one child, in a namespace of its own that is none of
 * the protocol's (not-acceptable otherwise). */
static const struct xml_node *the_child(struct im_iq *q)
{
	const struct xml_node *c = xml_node_first_elem(q->payload);
	if (!c || xml_node_next_elem(c)) {
		im_iq_error(q, SC_BAD_REQUEST);
		return NULL;
	}
	if (!c->ns[0] || !strcmp(c->ns, NS_CLIENT) || !strcmp(c->ns, "jabber:server") ||
	    !strcmp(c->ns, NS_PRIVATE)) {
		im_iq_error(q, SC_NOT_ACCEPTABLE);
		return NULL;
	}
	return c;
}

static void got(struct router *r, struct stanza *st, const char *to, bool own,
		struct xml_node *doc)
{
	(void)to;
	(void)own;
	struct xml_node *query = xml_node_new_elem("query", NS_PRIVATE);
	if (!query) {
		xml_node_free(doc);
		im_reply_error(r, st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	if (!doc) {
		/* nothing stored: the empty element as asked (XEP-0049 3.2) */
		const struct xml_node *asked = xml_node_first_elem(xml_node_first_elem(st->tree));
		doc = asked ? xml_node_new_elem(asked->name, asked->ns) : NULL;
		if (!doc) {
			xml_node_free(query);
			im_reply_error(r, st, SC_INTERNAL_SERVER_ERROR);
			return;
		}
	}
	xml_node_add_child(query, doc);
	im_reply_result(r, st, NULL, query);
}

static void private_xml(struct im_iq *q)
{
	if (!q->own) {
		im_iq_error(q, SC_FORBIDDEN);
		return;
	}
	const struct xml_node *c = the_child(q);
	char key[1024];
	if (!c)
		return;
	if (!key_of(c, key, sizeof(key))) {
		im_iq_error(q, SC_NOT_ACCEPTABLE);
		return;
	}
	/* XEP-0048 bookmarks: a view of the XEP-0402 node (bookmarks.c) */
	if (!strcmp(c->name, "storage") && !strcmp(c->ns, NS_BOOKMARKS_LEGACY)) {
		if (q->get)
			bookmarks_private_get(q);
		else
			bookmarks_private_set(q, c);
		return;
	}
	if (q->get)
		docstore_get(q, &im_private, "private", key, got);
	else
		docstore_put(q, &im_private, "private", key, c, im_cfg(q->r)->max_private_items);
}

void private_read(struct im_iq *q)
{
	const struct xml_node *c = xml_node_first_elem(q->payload);
	char key[1024];
	if (!c || !key_of(c, key, sizeof(key))) {
		im_iq_error(q, SC_NOT_ACCEPTABLE);
		return;
	}
	docstore_get(q, &im_private, "private", key, got);
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	docstore_done(r, req, cancelled);
}

static const struct im_iq_handler iqs[] = {
	{ NS_PRIVATE, "query", IM_TO_ACCOUNT, false, private_xml },
	IM_IQ_END,
};

const struct im_module im_private = {
	.name = "private", .iqs = iqs, .store_done = store_done,
};
