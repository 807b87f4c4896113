/* RFC 6121 2: the roster.  Get, set and remove by the account itself,
 * stored through the storage thread (the router parks the request and
 * answers when the store is done), a push to every resource that asked for
 * its roster after each change, and versioning (RFC 6121 2.6): every change
 * bumps the account's version; a get that names the current version is
 * answered with an empty result, any other with the whole roster (which
 * RFC 6121 2.6.3 allows in place of the pushes that would bring the client
 * up to date).
 *
 * Subscription states are not changed here but by presence stanzas
 * (core/im/presence.c): a set keeps the item's state, through a storage
 * update that reads and writes the item in one transaction, and the
 * client's own subscription attribute is ignored unless it is "remove"
 * (RFC 6121 2.1.2.5).  A remove cancels both directions (2.5.2).  Items
 * that only remember an unanswered inbound request (ROSTER_ASK_HIDDEN)
 * are not shown. */
#include "core/im/modules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/im/account.h"
#include "core/im/presence.h"
#include "core/im/roster.h"
#include "core/conf/cfg.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/jid.h"

/* What a parked roster request keeps until the store answers. */
struct roster_job {
	struct store_req req;   /* first: the store hands it back */
	struct stanza *st;      /* the request (a reference) */
	char from[JID_BUF];     /* the requester's full JID */
	char bare[JID_BUF];     /* its account */
	bool remove;            /* set: subscription='remove' */
};

static const char *const sub_names[] = { "none", "to", "from", "both" };

static struct roster_job *job_new(struct im_iq *q)
{
	struct roster_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	size_t fl = strlen(q->st->from);
	if (fl >= sizeof(j->from) || strlen(q->to) >= sizeof(j->bare) ||
	    !im_split_account(&j->req, q->to)) {
		free(j);
		return NULL;
	}
	memcpy(j->from, q->st->from, fl + 1);
	memcpy(j->bare, q->to, strlen(q->to) + 1);
	j->st = stanza_ref(q->st);
	return j;
}

static void job_free(struct roster_job *j)
{
	stanza_unref(j->st);
	free(j->req.item.contact);
	free(j->req.item.name);
	free(j->req.item.groups);
	store_roster_items_free(j->req.items, j->req.n_items);
	store_roster_item_clear(&j->req.updated);
	free(j);
}

static void submit(struct im_iq *q, struct roster_job *j)
{
	enum xs st = im_store_submit(q->r, &im_roster, &j->req, j->from);
	if (st != XS_OK) {
		job_free(j);
		im_iq_error(q, st == XS_LIMIT ? SC_RESOURCE_CONSTRAINT : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_park(q);
}

/* ---- building items ---- */

static struct xml_node *item_node(const struct store_roster_item *it, bool removed)
{
	struct xml_node *item = xml_node_new_elem("item", NS_ROSTER);
	if (!item || xml_node_set_attr(item, "jid", it->contact) != XS_OK)
		goto fail;
	if (removed) {
		if (xml_node_set_attr(item, "subscription", "remove") != XS_OK)
			goto fail;
		return item;
	}
	if ((it->name && xml_node_set_attr(item, "name", it->name) != XS_OK) ||
	    xml_node_set_attr(item, "subscription",
			      sub_names[it->subscription <= ROSTER_SUB_BOTH ? it->subscription : 0]) !=
		    XS_OK ||
	    ((it->ask & ROSTER_ASK_OUT) && xml_node_set_attr(item, "ask", "subscribe") != XS_OK) ||
	    /* RFC 6121 2.1.2.1, 3.4 */
	    ((it->ask & ROSTER_ASK_PREAPPROVED) &&
	     xml_node_set_attr(item, "approved", "true") != XS_OK))
		goto fail;
	for (const char *g = it->groups; g && *g;) {
		size_t len = strcspn(g, "\x1f");
		struct xml_node *gn = xml_node_new_child(item, "group", NS_ROSTER);
		if (!gn || xml_node_add_text(gn, g, len) != XS_OK)
			goto fail;
		g += len;
		if (*g)
			g++;
	}
	return item;
fail:
	xml_node_free(item);
	return NULL;
}

static struct xml_node *query_node(uint64_t ver)
{
	char v[24];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)ver);
	struct xml_node *query = xml_node_new_elem("query", NS_ROSTER);
	if (query && xml_node_set_attr(query, "ver", v) != XS_OK) {
		xml_node_free(query);
		return NULL;
	}
	return query;
}

/* ---- get ---- */

static void get_done(struct router *r, struct roster_job *j, const struct store_req *req);

/* A get answered from the login's roster load (im_roster_join_load). */
static void get_joined(struct router *r, void *arg, const struct store_req *req)
{
	struct roster_job *j = arg;
	if (req) {
		LOG_DEBUG("%s: roster get answered from the login's roster read", j->from);
		get_done(r, j, req);
	}
	job_free(j);
}

static void get(struct im_iq *q)
{
	struct roster_job *j = job_new(q);
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	/* RFC 6121 2.6.3: a ver spelled exactly as query_node writes one
	 * (decimal, no sign, space or leading zero) names a version; the
	 * store compares it before reading any item.  Any other ver, or
	 * none, gets the whole roster. */
	const char *ver = xml_node_attr(q->payload, "ver");
	if (ver && *ver) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(ver, &end, 10);
		char again[24];
		snprintf(again, sizeof(again), "%llu", v);
		if (!*end && !errno && !strcmp(again, ver)) {
			j->req.has_known_ver = true;
			j->req.known_ver = (uint64_t)v;
		}
	}
	j->req.op = STORE_OP_ROSTER_GET;
	/* RFC 6121 2.1.6: a resource that asked for the roster is interested
	 * in its pushes from now on */
	im_session_flag(q->r, j->from, IM_SESS_ROSTER);
	/* At login the router reads this roster anyway (its copy for
	 * presence): the answer comes from that read, now or when it is done
	 * (j is gone then).  Never from before a change this get follows: a
	 * change handed to the store drops what was kept, or, while the read
	 * is in flight, keeps later gets off it (rt_roster_changing).  A
	 * change handed over after the get pushes to this resource, flagged
	 * above, after the answer. */
	if (im_roster_join_load(q->r, j->bare, get_joined, j)) {
		im_iq_park(q);
		return;
	}
	submit(q, j);
}

static void get_done(struct router *r, struct roster_job *j, const struct store_req *req)
{
	if (req->status != XS_OK) {
		LOG_WARN("roster of %s not read: %s", j->bare, xs_name(req->status));
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	/* the store compares a known ver (ver_unchanged); a login's roster
	 * read did not know it */
	if (req->ver_unchanged || (j->req.has_known_ver && req->ver == j->req.known_ver)) {
		/* RFC 6121 2.6.3: up to date, an empty result */
		im_reply_result(r, j->st, NULL, NULL);
		return;
	}
	struct xml_node *query = query_node(req->ver);
	for (size_t i = 0; query && i < req->n_items; i++) {
		if (req->items[i].ask & ROSTER_ASK_HIDDEN)
			continue;
		struct xml_node *item = item_node(&req->items[i], false);
		if (!item) {
			xml_node_free(query);
			query = NULL;
			break;
		}
		xml_node_add_child(query, item);
	}
	if (!query) {
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_reply_result(r, j->st, NULL, query);
}

/* ---- set ---- */

/* On the storage thread: the client's name and groups, the stored
 * subscription state kept; an item the client names is shown from now
 * on. */
static enum roster_change apply_set(void *arg, struct store_roster_item *it, bool existed)
{
	struct roster_job *j = arg;
	(void)existed;
	it->name = j->req.item.name;
	it->groups = j->req.item.groups;
	it->ask &= ~ROSTER_ASK_HIDDEN;
	return ROSTER_WRITE;
}

static enum roster_change apply_remove(void *arg, struct store_roster_item *it, bool existed)
{
	(void)arg;
	(void)it;
	(void)existed;
	return ROSTER_DELETE;
}

/* The groups of a set, joined by U+001F.  RFC 6121 2.3.3: an empty group
 * name, or one over [im] max_roster_text, is not-acceptable, and so are
 * more than [im] max_roster_groups of them (which also bounds the
 * duplicate check below, quadratic in their number); the same group twice
 * is bad-request. */
static enum stanza_cond collect_groups(const struct im_iq *q, const struct xml_node *item,
				       char **out)
{
	const struct cfg *cfg = im_cfg(q->r);
	size_t cap = 1, len = 0;
	unsigned n = 0;
	char *buf = calloc(1, cap);
	if (!buf)
		return SC_INTERNAL_SERVER_ERROR;
	for (struct xml_node *g = xml_node_first_elem(item); g; g = xml_node_next_elem(g)) {
		if (strcmp(g->name, "group") != 0 || strcmp(g->ns, NS_ROSTER) != 0)
			continue;
		if (++n > cfg->max_roster_groups) {
			LOG_INFO("%s: roster item in more than %u groups refused ([im] max_roster_groups)",
				 q->st->from, cfg->max_roster_groups);
			free(buf);
			return SC_NOT_ACCEPTABLE;
		}
		char *t = xml_node_text(g);
		if (!t) {
			free(buf);
			return SC_INTERNAL_SERVER_ERROR;
		}
		size_t tl = strlen(t);
		enum stanza_cond bad = tl == 0 ? SC_NOT_ACCEPTABLE : SC_UNDEFINED_CONDITION;
		if (tl > cfg->max_roster_text) {
			LOG_INFO("%s: roster group name of %zu bytes refused ([im] max_roster_text = %u)",
				 q->st->from, tl, cfg->max_roster_text);
			bad = SC_NOT_ACCEPTABLE;
		}
		/* a duplicate: the name between separators, or at either end */
		for (const char *p = buf; bad == SC_UNDEFINED_CONDITION && *p;) {
			size_t pl = strcspn(p, "\x1f");
			if (pl == tl && memcmp(p, t, tl) == 0)
				bad = SC_BAD_REQUEST;
			p += pl;
			if (*p)
				p++;
		}
		if (bad != SC_UNDEFINED_CONDITION) {
			free(t);
			free(buf);
			return bad;
		}
		char *nb = realloc(buf, cap + tl + 1);
		if (!nb) {
			free(t);
			free(buf);
			return SC_INTERNAL_SERVER_ERROR;
		}
		buf = nb;
		cap += tl + 1;
		if (len)
			buf[len++] = '\x1f';
		memcpy(buf + len, t, tl);
		len += tl;
		buf[len] = '\0';
		free(t);
	}
	*out = buf;
	return SC_UNDEFINED_CONDITION; /* none: fine */
}

static void set(struct im_iq *q)
{
	/* RFC 6121 2.3.3: exactly one item */
	struct xml_node *item = xml_node_child(q->payload, "item", NS_ROSTER);
	if (!item || xml_node_child(q->payload, NULL, NULL) != item ||
	    xml_node_next_elem(item)) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	const char *jid = xml_node_attr(item, "jid");
	char norm[JID_BUF];
	size_t bare_len = 0;
	if (!jid || jid_normalize(jid, strlen(jid), norm, sizeof(norm), &bare_len) != XS_OK) {
		im_iq_error(q, jid ? SC_JID_MALFORMED : SC_BAD_REQUEST);
		return;
	}
	if (norm[bare_len] != '\0') {
		/* a roster item is a bare JID (RFC 6121 2.1.2.3) */
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	struct roster_job *j = job_new(q);
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	const char *sub = xml_node_attr(item, "subscription");
	j->req.item.contact = strdup(norm);
	if (!j->req.item.contact) {
		job_free(j);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->req.op = STORE_OP_ROSTER_UPDATE;
	j->req.roster_apply_arg = j;
	if (sub && strcmp(sub, "remove") == 0) {
		j->remove = true;
		j->req.roster_apply = apply_remove;
		submit(q, j);
		return;
	}
	const char *name = xml_node_attr(item, "name");
	size_t name_len = name ? strlen(name) : 0;
	if (name_len > im_cfg(q->r)->max_roster_text) {
		LOG_INFO("%s: roster item name of %zu bytes refused ([im] max_roster_text = %u)",
			 q->st->from, name_len, im_cfg(q->r)->max_roster_text);
		job_free(j);
		im_iq_error(q, SC_NOT_ACCEPTABLE);
		return;
	}
	enum stanza_cond c = collect_groups(q, item, &j->req.item.groups);
	if (c != SC_UNDEFINED_CONDITION || (name && !(j->req.item.name = strdup(name)))) {
		job_free(j);
		im_iq_error(q, c != SC_UNDEFINED_CONDITION ? c : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->req.roster_apply = apply_set;
	j->req.max_items = im_cfg(q->r)->max_roster_items;
	submit(q, j);
}

struct push {
	struct router *r;
	const struct store_roster_item *item;
	bool removed;
	uint64_t ver;
	unsigned n;
};

/* RFC 6121 2.1.6: a push to every interested resource, the one that made
 * the change included, each addressed to its full JID. */
static void push_one(void *arg, const char *full, unsigned *flags)
{
	struct push *p = arg;
	if (!(*flags & IM_SESS_ROSTER))
		return;
	struct xml_node *iq = xml_node_new_elem("iq", NS_CLIENT);
	struct xml_node *query = query_node(p->ver);
	struct xml_node *item = item_node(p->item, p->removed);
	char id[40];
	snprintf(id, sizeof(id), "push%llu-%u", (unsigned long long)p->ver, p->n++);
	if (!iq || !query || !item || xml_node_set_attr(iq, "type", "set") != XS_OK ||
	    xml_node_set_attr(iq, "id", id) != XS_OK || xml_node_set_attr(iq, "to", full) != XS_OK) {
		xml_node_free(iq);
		xml_node_free(query);
		xml_node_free(item);
		LOG_WARN("roster push to %s lost: out of memory", full);
		return;
	}
	xml_node_add_child(query, item);
	xml_node_add_child(iq, query);
	struct stanza *st = stanza_freeze(iq);
	if (!st) {
		LOG_WARN("roster push to %s lost: out of memory", full);
		return;
	}
	im_send_to(p->r, full, st);
	stanza_unref(st);
}

void roster_push(struct router *r, const char *bare, const struct store_roster_item *it,
		 bool removed, uint64_t ver)
{
	struct push p = { .r = r, .item = it, .removed = removed, .ver = ver };
	im_each_session(r, bare, push_one, &p);
}

static void set_done(struct router *r, struct roster_job *j)
{
	struct store_req *req = &j->req;
	if (req->status == XS_LIMIT) {
		LOG_INFO("roster of %s full ([im] max_roster_items = %u): %s not added", j->bare,
			 req->max_items, req->item.contact);
		im_reply_error(r, j->st, SC_POLICY_VIOLATION);
		return;
	}
	if (req->status != XS_OK) {
		LOG_WARN("roster of %s not changed: %s", j->bare, xs_name(req->status));
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	if (j->remove && !req->existed) {
		im_reply_error(r, j->st, SC_ITEM_NOT_FOUND);
		return;
	}
	/* the result first, then the pushes (RFC 6121 2.3.2 shows either
	 * order; clients cope with both, this one is Prosody's) */
	im_reply_result(r, j->st, NULL, NULL);
	roster_changed(r, j->bare, req, j->remove, j->from);
}

void roster_changed(struct router *r, const char *bare, const struct store_req *req,
		    bool removed, const char *budget)
{
	im_roster_cached(r, bare, req->updated.contact, req->updated.subscription,
			 req->updated.ask, removed);
	roster_push(r, bare, &req->updated, removed, req->ver);
	if (!removed)
		return;
	/* RFC 6121 2.5.2: the contact is told both subscriptions are over */
	unsigned sub = req->prev_subscription, ask = req->prev_ask;
	if ((sub & ROSTER_SUB_TO) || (ask & ROSTER_ASK_OUT))
		presence_send_subscription(r, bare, req->updated.contact, "unsubscribe", budget);
	if ((sub & ROSTER_SUB_FROM) || (ask & ROSTER_ASK_IN))
		presence_send_subscription(r, bare, req->updated.contact, "unsubscribed", budget);
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct roster_job *j = (struct roster_job *)req;
	if (!cancelled) {
		if (req->op == STORE_OP_ROSTER_GET)
			get_done(r, j, req);
		else
			set_done(r, j);
	}
	job_free(j);
}

static void roster(struct im_iq *q)
{
	if (q->get)
		get(q);
	else
		set(q);
}

static const struct im_iq_handler iqs[] = {
	{ NS_ROSTER, "query", IM_TO_ACCOUNT, true, roster },
	IM_IQ_END,
};

const struct im_module im_roster = {
	.name = "roster", .iqs = iqs, .store_done = store_done,
};
