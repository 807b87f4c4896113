/* XEP-0048 bookmarks in private storage as a view of the XEP-0402 PEP
 * node (bookmarks.c). */
#ifndef XMPPD_IM_BOOKMARKS_H
#define XMPPD_IM_BOOKMARKS_H

#include "core/route/im.h"

struct xml_node;

/* q (the account's own private XML get of <storage
 * xmlns='storage:bookmarks'/>): answered from the node. */
void bookmarks_private_get(struct im_iq *q);
/* q (a private XML set of storage, that element): the node made to hold
 * the same rooms. */
void bookmarks_private_set(struct im_iq *q, const struct xml_node *storage);

/* XEP-0411: a publish of <storage/> to the PEP node storage:bookmarks,
 * and the items of that node, are the XEP-0402 node's (q: the account's
 * own pubsub request). */
void bookmarks_legacy_publish(struct im_iq *q, const struct xml_node *storage);
void bookmarks_legacy_items(struct im_iq *q);

/* private.c: q's private XML read as stored (for an account that has no
 * bookmarks node yet). */
void private_read(struct im_iq *q);

#endif
