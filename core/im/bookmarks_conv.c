/* XEP-0048 <-> XEP-0402 bookmarks; see bookmarks_conv.h. */
#include "core/im/bookmarks_conv.h"

#include <stdlib.h>
#include <string.h>

#include "core/xml/xml_node.h"
#include "core/xmpp/ns.h"

/* xs:boolean, which both specifications use for autojoin. */
static bool is_true(const char *v)
{
	return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

static bool is_bool(const char *v)
{
	return is_true(v) || !strcmp(v, "false") || !strcmp(v, "0");
}

static bool is_elem(const struct xml_node *n, const char *name, const char *ns)
{
	return n && n->type == XML_NODE_ELEM && !strcmp(n->name, name) && !strcmp(n->ns, ns);
}

bool bookmarks_normalize_id(const char *id, char out[JID_BUF])
{
	size_t bare;

	out[0] = '\0';
	if (!id || jid_normalize(id, strlen(id), out, JID_BUF, &bare) != XS_OK) {
		out[0] = '\0';
		return false;
	}
	if (out[bare] != '\0') {  /* a resource */
		out[0] = '\0';
		return false;
	}
	return true;
}

/* Appends <name/> (in parent's namespace) holding the text of from, whose
 * element children, if any, are left behind.  False without memory. */
static bool copy_text_elem(struct xml_node *parent, const char *name, const struct xml_node *from)
{
	struct xml_node *el = xml_node_new_child(parent, name, NULL);
	if (!el)
		return false;
	for (const struct xml_node *t = from->first_child; t; t = t->next)
		if (t->type == XML_NODE_TEXT && xml_node_add_text(el, t->text, t->text_len) != XS_OK)
			return false;
	return true;
}

/* Appends a copy of each element child of from to to.  False without
 * memory. */
static bool copy_elem_children(struct xml_node *to, const struct xml_node *from)
{
	for (const struct xml_node *c = xml_node_first_elem(from); c; c = xml_node_next_elem(c)) {
		struct xml_node *cp = xml_node_copy(c);
		if (!cp)
			return false;
		xml_node_add_child(to, cp);
	}
	return true;
}

/* Sets name and autojoin on the conference to, from the one from. */
static bool copy_attrs(struct xml_node *to, const struct xml_node *from)
{
	const char *name = xml_node_attr(from, "name");
	if (name && xml_node_set_attr(to, "name", name) != XS_OK)
		return false;
	if (is_true(xml_node_attr(from, "autojoin")) &&
	    xml_node_set_attr(to, "autojoin", "true") != XS_OK)
		return false;
	return true;
}

/* One legacy <conference/> as an XEP-0402 item with the id room; NULL
 * without memory. */
static struct xml_node *item_of(const struct xml_node *legacy, const char *room)
{
	struct xml_node *item = xml_node_new_elem("item", NS_PUBSUB);
	if (!item)
		return NULL;
	struct xml_node *conf = xml_node_new_child(item, "conference", NS_BOOKMARKS);
	if (!conf || xml_node_set_attr(item, "id", room) != XS_OK || !copy_attrs(conf, legacy))
		goto nomem;

	const struct xml_node *nick = xml_node_child(legacy, "nick", NS_BOOKMARKS_LEGACY);
	const struct xml_node *pass = xml_node_child(legacy, "password", NS_BOOKMARKS_LEGACY);
	if ((nick && !copy_text_elem(conf, "nick", nick)) ||
	    (pass && !copy_text_elem(conf, "password", pass)))
		goto nomem;

	struct xml_node *ext = NULL;
	for (const struct xml_node *c = xml_node_first_elem(legacy); c; c = xml_node_next_elem(c)) {
		/* the first <nick/> and <password/> are carried over above;
		 * XEP-0048 allows one of each, so a second one is dropped */
		if (is_elem(c, "nick", NS_BOOKMARKS_LEGACY) || is_elem(c, "password", NS_BOOKMARKS_LEGACY))
			continue;
		if (!ext && !(ext = xml_node_new_child(conf, "extensions", NULL)))
			goto nomem;
		struct xml_node *cp = xml_node_copy(c);
		if (!cp)
			goto nomem;
		xml_node_add_child(ext, cp);
	}
	return item;
nomem:
	xml_node_free(item);
	return NULL;
}

struct dup_key {
	const char *id;
	size_t pos;
};

static int dup_cmp(const void *a, const void *b)
{
	const struct dup_key *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Frees every item whose id comes again later in the array and closes the
 * gaps, keeping the order of the rest: O(n log n), for a storage document
 * may list thousands of conferences.  False without memory (the array is
 * unchanged then). */
static bool drop_duplicates(struct xml_node **items, size_t *n)
{
	if (*n < 2)
		return true;
	struct dup_key *k = malloc(*n * sizeof(*k));
	if (!k)
		return false;
	for (size_t i = 0; i < *n; i++)
		k[i] = (struct dup_key){ xml_node_attr(items[i], "id"), i };
	qsort(k, *n, sizeof(*k), dup_cmp);
	for (size_t i = 0; i + 1 < *n; i++) {
		if (!strcmp(k[i].id, k[i + 1].id)) {
			xml_node_free(items[k[i].pos]);
			items[k[i].pos] = NULL;
		}
	}
	free(k);
	size_t m = 0;
	for (size_t i = 0; i < *n; i++)
		if (items[i])
			items[m++] = items[i];
	*n = m;
	return true;
}

enum xs bookmarks_from_storage(const struct xml_node *storage, struct xml_node ***items,
			       size_t *n, size_t *dropped)
{
	size_t max = 0, urls = 0, got = 0;
	char room[JID_BUF];

	*items = NULL;
	*n = 0;
	if (dropped)
		*dropped = 0;
	if (!is_elem(storage, "storage", NS_BOOKMARKS_LEGACY))
		return XS_INVAL;

	for (const struct xml_node *c = xml_node_first_elem(storage); c; c = xml_node_next_elem(c)) {
		if (is_elem(c, "conference", NS_BOOKMARKS_LEGACY))
			max++;
		else if (is_elem(c, "url", NS_BOOKMARKS_LEGACY))
			urls++;
	}
	struct xml_node **out = NULL;
	if (max && !(out = malloc(max * sizeof(*out))))
		return XS_NOMEM;

	for (const struct xml_node *c = xml_node_first_elem(storage); c; c = xml_node_next_elem(c)) {
		if (!is_elem(c, "conference", NS_BOOKMARKS_LEGACY) ||
		    !bookmarks_normalize_id(xml_node_attr(c, "jid"), room))
			continue;
		if (!(out[got] = item_of(c, room)))
			goto nomem;
		got++;
	}
	if (!drop_duplicates(out, &got))
		goto nomem;
	if (!got) {
		free(out);
		out = NULL;
	}
	*items = out;
	*n = got;
	if (dropped)
		*dropped = urls;
	return XS_OK;
nomem:
	for (size_t i = 0; i < got; i++)
		xml_node_free(out[i]);
	free(out);
	return XS_NOMEM;
}

struct xml_node *bookmarks_to_storage(const struct xml_node *const *items, size_t n)
{
	struct xml_node *storage = xml_node_new_elem("storage", NS_BOOKMARKS_LEGACY);
	if (!storage)
		return NULL;

	for (size_t i = 0; i < n; i++) {
		const char *id = items[i] ? xml_node_attr(items[i], "id") : NULL;
		const struct xml_node *c = id && id[0] ?
			xml_node_child(items[i], "conference", NS_BOOKMARKS) : NULL;
		if (!c)
			continue;
		struct xml_node *conf = xml_node_new_child(storage, "conference", NULL);
		if (!conf || xml_node_set_attr(conf, "jid", id) != XS_OK || !copy_attrs(conf, c))
			goto nomem;

		const struct xml_node *nick = xml_node_child(c, "nick", NS_BOOKMARKS);
		const struct xml_node *pass = xml_node_child(c, "password", NS_BOOKMARKS);
		const struct xml_node *ext = xml_node_child(c, "extensions", NS_BOOKMARKS);
		if ((nick && !copy_text_elem(conf, "nick", nick)) ||
		    (pass && !copy_text_elem(conf, "password", pass)) ||
		    (ext && !copy_elem_children(conf, ext)))
			goto nomem;
	}
	return storage;
nomem:
	xml_node_free(storage);
	return NULL;
}

bool bookmarks_item_valid(const struct xml_node *item)
{
	char room[JID_BUF];

	if (!item || item->type != XML_NODE_ELEM || strcmp(item->name, "item") ||
	    !bookmarks_normalize_id(xml_node_attr(item, "id"), room))
		return false;
	const struct xml_node *c = xml_node_first_elem(item);
	if (!is_elem(c, "conference", NS_BOOKMARKS) || xml_node_next_elem(c))
		return false;
	const char *aj = xml_node_attr(c, "autojoin");
	return !aj || is_bool(aj);
}
