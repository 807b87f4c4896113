/* XEP-0163 personal eventing (pep.c): what the bookmarks conversion
 * (bookmarks.c) shares with it. */
#ifndef XMPPD_IM_PEP_H
#define XMPPD_IM_PEP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/route/im.h"
#include "core/store/store.h"

struct xml_node;

/* A node's configuration when nobody asked for another: XEP-0163's
 * defaults (presence access, items kept, one of them). */
void pep_default_config(struct store_pep_config *cfg);

/* After pep_get_items: items are <item id> elements with their payload,
 * oldest first (n 0 and NULL: the node has none or does not exist,
 * exists false then), owned by the callee, which answers st. */
typedef void (*pep_items_got)(struct router *r, struct stanza *st, const char *owner,
			      bool exists, struct xml_node **items, size_t n);

/* Reads every item of node of the account q->to, as its owner, for q
 * (parked, or answered with an error). */
void pep_get_items(struct im_iq *q, const char *node, pep_items_got got);

/* Makes node of the account q->to hold exactly items (<item id> elements
 * with one payload each, oldest first), creating it with cfg when
 * missing; then q gets a result with payload result (taken over; NULL:
 * empty) and the owner's sessions the events (items published, the
 * others retracted, and with legacy, taken over, that <storage/> as the
 * item 'current' of XEP-0411's node storage:bookmarks).  items stay the
 * caller's. */
void pep_replace(struct im_iq *q, const char *node, const struct store_pep_config *cfg,
		 struct xml_node *const *items, size_t n, struct xml_node *result,
		 struct xml_node *legacy);

/* disco#items of the account q->to, asked by itself: its nodes. */
void pep_disco_items(struct im_iq *q);

#endif
