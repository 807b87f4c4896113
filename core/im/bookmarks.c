/* Bookmarks kept in step (XEP-0402 5.3, urn:xmpp:bookmarks:1#compat, and
 * XEP-0411): the PEP node urn:xmpp:bookmarks:1 holds them, one item per
 * room, and a client of XEP-0048 that reads or writes <storage
 * xmlns='storage:bookmarks'/>, in XEP-0049 private storage or as the item
 * 'current' of the PEP node storage:bookmarks, sees and changes that node
 * (bookmarks_conv.c converts).  Sessions that want storage:bookmarks
 * events get one when the bookmarks change through either legacy way; a
 * change published as XEP-0402 items sends XEP-0402 events only.  So bookmarks set by Conversations (PEP)
 * show up in a client that still uses private XML, and the other way.
 *
 * An account whose node does not exist yet (it never set a bookmark
 * since this server had PEP) is read from the document an older private
 * storage kept, and the first write through either protocol makes the
 * node. */
#include "core/im/bookmarks.h"

#include <stdlib.h>
#include <string.h>

#include "core/conf/cfg.h"
#include "core/im/bookmarks_conv.h"
#include "core/im/pep.h"
#include "core/xml/xml_node.h"

/* XEP-0402 4: the node's configuration */
static void node_config(const struct cfg *cfg, struct store_pep_config *c)
{
	pep_default_config(c);
	c->access = STORE_PEP_WHITELIST;
	c->persist_items = true;
	c->max_items = cfg->max_pep_items;
	c->send_last = false;
}

static void free_items(struct xml_node **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xml_node_free(items[i]);
	free(items);
}

static void got(struct router *r, struct stanza *st, const char *owner, bool exists,
		struct xml_node **items, size_t n)
{
	if (!exists) {
		/* what private storage kept before there was a node */
		struct im_iq q = {
			.r = r, .st = st, .payload = xml_node_first_elem(st->tree), .to = owner,
			.target = IM_TO_ACCOUNT, .get = true, .own = true,
		};
		private_read(&q);
		if (!q.answered && !q.parked)
			im_iq_error(&q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	struct xml_node *storage = bookmarks_to_storage((const struct xml_node *const *)items, n);
	free_items(items, n);
	struct xml_node *query = storage ? xml_node_new_elem("query", NS_PRIVATE) : NULL;
	if (!query) {
		xml_node_free(storage);
		im_reply_error(r, st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	xml_node_add_child(query, storage);
	im_reply_result(r, st, NULL, query);
}

void bookmarks_private_get(struct im_iq *q)
{
	pep_get_items(q, NS_BOOKMARKS, got);
}

/* The node made to hold the rooms of storage; q answered with result
 * (taken over). */
static void set_from_storage(struct im_iq *q, const struct xml_node *storage,
			     struct xml_node *result)
{
	struct xml_node **items = NULL;
	size_t n = 0;
	enum xs rc = bookmarks_from_storage(storage, &items, &n, NULL);
	if (rc != XS_OK) {
		xml_node_free(result);
		im_iq_error(q, rc == XS_INVAL ? SC_BAD_REQUEST : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	struct store_pep_config cfg;
	node_config(im_cfg(q->r), &cfg);
	if (n > cfg.max_items) {
		free_items(items, n);
		xml_node_free(result);
		im_iq_error(q, SC_NOT_ACCEPTABLE);
		return;
	}
	/* what XEP-0411's node now holds, as this server would write it */
	struct xml_node *legacy = bookmarks_to_storage((const struct xml_node *const *)items, n);
	if (!legacy) {
		free_items(items, n);
		xml_node_free(result);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	pep_replace(q, NS_BOOKMARKS, &cfg, (struct xml_node *const *)items, n, result, legacy);
	free_items(items, n);
}

void bookmarks_private_set(struct im_iq *q, const struct xml_node *storage)
{
	set_from_storage(q, storage, NULL);
}

void bookmarks_legacy_publish(struct im_iq *q, const struct xml_node *storage)
{
	if (strcmp(storage->name, "storage") != 0 || strcmp(storage->ns, NS_BOOKMARKS_LEGACY) != 0) {
		im_iq_error_app(q, SC_BAD_REQUEST, "invalid-payload", NS_PUBSUB_ERRORS);
		return;
	}
	struct xml_node *ps = xml_node_new_elem("pubsub", NS_PUBSUB);
	struct xml_node *pb = ps ? xml_node_new_child(ps, "publish", NS_PUBSUB) : NULL;
	struct xml_node *it = pb ? xml_node_new_child(pb, "item", NS_PUBSUB) : NULL;
	if (!it || xml_node_set_attr(pb, "node", NS_BOOKMARKS_LEGACY) != XS_OK ||
	    xml_node_set_attr(it, "id", "current") != XS_OK) {
		xml_node_free(ps);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	set_from_storage(q, storage, ps);
}

static void got_legacy(struct router *r, struct stanza *st, const char *owner, bool exists,
		       struct xml_node **items, size_t n)
{
	(void)owner;
	if (!exists) {
		im_reply_error(r, st, SC_ITEM_NOT_FOUND);
		return;
	}
	struct xml_node *storage = bookmarks_to_storage((const struct xml_node *const *)items, n);
	free_items(items, n);
	struct xml_node *ps = storage ? xml_node_new_elem("pubsub", NS_PUBSUB) : NULL;
	struct xml_node *its = ps ? xml_node_new_child(ps, "items", NS_PUBSUB) : NULL;
	struct xml_node *it = its ? xml_node_new_child(its, "item", NS_PUBSUB) : NULL;
	if (!it || xml_node_set_attr(its, "node", NS_BOOKMARKS_LEGACY) != XS_OK ||
	    xml_node_set_attr(it, "id", "current") != XS_OK) {
		xml_node_free(storage);
		xml_node_free(ps);
		im_reply_error(r, st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	xml_node_add_child(it, storage);
	im_reply_result(r, st, NULL, ps);
}

void bookmarks_legacy_items(struct im_iq *q)
{
	pep_get_items(q, NS_BOOKMARKS, got_legacy);
}
