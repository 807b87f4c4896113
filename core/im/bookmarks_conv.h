/* Conversion between the two forms of groupchat bookmarks, for a server
 * that keeps both in step (XEP-0402 5.3 "Compatibility", the
 * urn:xmpp:bookmarks:1#compat feature; what Prosody's mod_bookmarks does):
 *
 *  - XEP-0048: one document <storage xmlns='storage:bookmarks'/> in
 *    XEP-0049 private storage, one <conference jid='ROOM' name='..'
 *    autojoin='true|1|false|0'><nick/><password/></conference> per room,
 *    plus <url/> entries;
 *  - XEP-0402: one PEP item per room in the node urn:xmpp:bookmarks:1,
 *    <item id='ROOM'><conference xmlns='urn:xmpp:bookmarks:1' name='..'
 *    autojoin='true|false'><nick/><password/><extensions/></conference>.
 *
 * Pure functions on element trees (core/xml/xml_node.h): no I/O, no state;
 * the inputs are only read.  The items built here are <item/> elements in
 * the http://jabber.org/protocol/pubsub namespace, as in a publish request;
 * a caller that sends them in a pubsub#event notification builds its own
 * <item/> around a copy of the <conference/>.
 *
 * Nothing but the room JID, name, autojoin, nick, password and client
 * extensions is carried over; both directions put nick before password and
 * the extensions last, so a conversion there and back gives the same tree
 * (serialized alike) for any input that is already in canonical form. */
#ifndef XMPPD_IM_BOOKMARKS_CONV_H
#define XMPPD_IM_BOOKMARKS_CONV_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/status.h"
#include "core/xmpp/jid.h"

struct xml_node;

/* XEP-0048 <storage xmlns='storage:bookmarks'/> to XEP-0402 items: one
 * <item id='ROOM'> (ROOM: the conference's jid, normalised as a bare JID)
 * holding <conference xmlns='urn:xmpp:bookmarks:1'> per <conference/>, in
 * document order; a conference without a valid bare jid is skipped; a jid
 * listed twice keeps the last one, at the place of the last one (what
 * publishing the items in order would leave in the node); autojoin
 * "1"/"true" -> "true", absent or other -> no autojoin attribute (false);
 * name kept; nick and password kept as child text elements; any other
 * child of a legacy conference (other namespaces: clients' extensions;
 * unknown elements of storage:bookmarks too, so that nothing a client put
 * there is lost) goes into <extensions/>, copied as it is.  <url/> entries
 * have no XEP-0402 equivalent and are dropped (counted in *dropped if
 * dropped != NULL; nothing else is counted there).  Other children of
 * <storage/> are ignored.  Returns the items in a malloc'd array of trees
 * owned by the caller (free each with xml_node_free, then the array), *n
 * set; the array is NULL when *n is 0.  XS_INVAL if storage is not
 * <storage xmlns='storage:bookmarks'>; XS_NOMEM (nothing to free then). */
enum xs bookmarks_from_storage(const struct xml_node *storage, struct xml_node ***items,
			       size_t *n, size_t *dropped);

/* XEP-0402 items (each an <item id='ROOM'> with its <conference
 * xmlns='urn:xmpp:bookmarks:1'/>, as stored in the node, oldest first) to
 * one <storage xmlns='storage:bookmarks'> with a <conference jid='ROOM'>
 * per item in the same order (autojoin 'true' when set, name, nick and
 * password; the children of <extensions/> copied back as children of the
 * conference).  The id is copied as it is: items stored after
 * bookmarks_item_valid() and under the normalised id need nothing more.
 * An item without an id or without a conference payload is skipped (so
 * is a NULL entry).  NULL without memory. */
struct xml_node *bookmarks_to_storage(const struct xml_node *const *items, size_t n);

/* Checks one XEP-0402 item as published by a client: <item id='BARE JID'>
 * with exactly one <conference xmlns='urn:xmpp:bookmarks:1'/> payload and
 * an autojoin attribute, if any, that is a boolean ("true", "false", "1",
 * "0").  The id must be a valid bare JID but need not be normalised
 * (bookmarks_normalize_id gives the form to store it under).  The item's
 * own namespace is not checked.  True when valid. */
bool bookmarks_item_valid(const struct xml_node *item);

/* The room JID id (an item id, a legacy jid attribute) normalised as a
 * bare JID into out; false, and out empty, when id is NULL or not a valid
 * bare JID (a resource, bad characters, an overlong part). */
bool bookmarks_normalize_id(const char *id, char out[JID_BUF]);

#endif
