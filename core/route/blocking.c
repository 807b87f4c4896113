/* XEP-0191 blocking in the router: an online account's blocklist, loaded
 * with its roster at the first bind, and the checks on every stanza that
 * crosses it.  The iqs that change it are core/im/blocking.c; an account
 * that is offline is protected by the store (a blocked sender's message
 * is not queued, its subscription request not kept).
 *
 * The checks cost nothing while no online account blocks anyone
 * (r->n_blocking), and a lookup in a sorted array per JID form when one
 * does. */
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/route/im.h"
#include "core/route/router_priv.h"
#include "core/store/store.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/jid.h"
#include "core/xmpp/ns.h"

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A piece of a JID (not NUL-terminated) against a stored entry, in the
 * entries' strcmp order. */
static int piece_cmp(const void *key, const void *elem)
{
	const struct jid_piece *p = key;
	const char *e = *(const char *const *)elem;
	int c = strncmp(p->s, e, p->len);
	if (c)
		return c;
	return e[p->len] ? -1 : 0;
}

bool rt_blocks(const struct router *r, const struct ruser *u, const char *jid)
{
	if (!r->n_blocking || !u || !u->n_blocked || !jid)
		return false;
	struct jid_piece f[JID_FORMS];
	jid_match_forms(jid, f);
	for (size_t i = 0; i < JID_FORMS; i++)
		if (bsearch(&f[i], u->blocked, u->n_blocked, sizeof(*u->blocked), piece_cmp))
			return true;
	return false;
}

static bool is_request(const struct stanza *st)
{
	return st->type && (strcmp(st->type, "get") == 0 || strcmp(st->type, "set") == 0);
}

static bool blocked_by_recipient(struct router *r, struct stanza *st, const struct ruser *t);

bool rt_block_stanza(struct router *r, struct stanza *st, struct rsess *sender, const char *to)
{
	if (!r->n_blocking)
		return false;
	bool error = st->type && strcmp(st->type, "error") == 0;
	if (rt_blocks(r, sender->user, to)) {
		/* XEP-0191 3.5: the user's own server stops it, and says why */
		if (st->kind == STANZA_PRESENCE || error ||
		    (st->kind == STANZA_IQ && !is_request(st)))
			return true;
		struct stanza *err = stanza_error_reply_app(st->tree, NULL, SC_NOT_ACCEPTABLE,
							    "blocked", NS_BLOCKING_ERRORS);
		if (err) {
			rt_deliver(r, sender, err, true);
			stanza_unref(err);
		}
		return true;
	}
	char bare[BARE_MAX];
	if (rt_bare_copy(to, bare) == SIZE_MAX)
		return false;
	struct ruser *t = rt_find_user(r, bare);
	if (t == sender->user)
		return false;
	return blocked_by_recipient(r, st, t);
}

bool rt_block_inbound(struct router *r, struct stanza *st, const char *to)
{
	if (!r->n_blocking)
		return false;
	char bare[BARE_MAX];
	if (rt_bare_copy(to, bare) == SIZE_MAX)
		return false;
	return blocked_by_recipient(r, st, rt_find_user(r, bare));
}

static bool blocked_by_recipient(struct router *r, struct stanza *st, const struct ruser *t)
{
	bool error = st->type && strcmp(st->type, "error") == 0;
	if (!t || !rt_blocks(r, t, st->from))
		return false;
	/* XEP-0191 3.6: the contact's server, as if the account had no
	 * resource: presence dropped, the rest answered service-unavailable */
	LOG_DEBUG("%s blocks %s: %s not delivered", st->to, st->from, st->tree->name);
	if (st->kind == STANZA_MESSAGE ? !error : st->kind == STANZA_IQ && is_request(st))
		rt_reply_error(r, st, SC_SERVICE_UNAVAILABLE);
	return true;
}

void rt_block_loaded(struct router *r, struct ruser *u, char **jids, size_t n)
{
	rt_block_drop(r, u);
	if (!n) {
		free(jids);
		return;
	}
	qsort(jids, n, sizeof(*jids), str_cmp);
	u->blocked = jids;
	u->n_blocked = (uint32_t)n;
	r->n_blocking++;
}

void rt_block_drop(struct router *r, struct ruser *u)
{
	for (uint32_t i = 0; i < u->n_blocked; i++)
		free(u->blocked[i]);
	free(u->blocked);
	if (u->n_blocked)
		r->n_blocking--;
	u->blocked = NULL;
	u->n_blocked = 0;
}

static bool add_one(struct ruser *u, const char *jid)
{
	size_t i = 0;
	while (i < u->n_blocked && strcmp(u->blocked[i], jid) < 0)
		i++;
	if (i < u->n_blocked && strcmp(u->blocked[i], jid) == 0)
		return true;
	char *copy = strdup(jid);
	char **n = copy ? realloc(u->blocked, (u->n_blocked + 1) * sizeof(*n)) : NULL;
	if (!n) {
		free(copy);
		return false;
	}
	u->blocked = n;
	memmove(&n[i + 1], &n[i], (u->n_blocked - i) * sizeof(*n));
	n[i] = copy;
	u->n_blocked++;
	return true;
}

static void remove_one(struct ruser *u, const char *jid)
{
	const char *key = jid;
	char **p = bsearch(&key, u->blocked, u->n_blocked, sizeof(*u->blocked), str_cmp);
	if (!p)
		return;
	free(*p);
	size_t i = (size_t)(p - u->blocked);
	memmove(p, p + 1, (u->n_blocked - i - 1) * sizeof(*p));
	u->n_blocked--;
}

/* The presence that blocking or unblocking jid starts or stops, between
 * u and the local account jid belongs to, as far as the roster allows it
 * (XEP-0191 3.3: unavailable to a blocked contact; 3.4: presence again
 * after unblocking). */
static void presence_change(struct router *r, struct ruser *u, const char *jid, bool blocked)
{
	char bare[BARE_MAX];
	if (rt_bare_copy(jid, bare) == SIZE_MAX)
		return;
	struct ruser *c = rt_find_user(r, bare);
	if (!c || c == u || !c->local)
		return;
	unsigned sub = rt_roster_sub(u, c);
	if (sub & ROSTER_SUB_FROM)
		rt_presence_of(r, u, c, blocked);
	if (!blocked && (sub & ROSTER_SUB_TO))
		rt_presence_of(r, c, u, false);
}

void im_blocklist_cached(struct router *r, const char *bare, const char *const *jids, size_t n,
			 bool add)
{
	struct ruser *u = rt_find_user(r, bare);
	if (!u || u->roster_state != RS_READY)
		return; /* a load submitted after the change sees it */
	bool was = u->n_blocked > 0;
	bool ok = true;
	if (add) {
		/* unavailable first: once blocked, nothing more goes there */
		for (size_t i = 0; i < n; i++)
			presence_change(r, u, jids[i], true);
		for (size_t i = 0; i < n && ok; i++)
			ok = add_one(u, jids[i]);
	} else if (n == 0) {
		char **old = u->blocked;
		uint32_t n_old = u->n_blocked;
		u->blocked = NULL;
		u->n_blocked = 0;
		if (was)
			r->n_blocking--;
		was = false;
		for (uint32_t i = 0; i < n_old; i++) {
			presence_change(r, u, old[i], false);
			free(old[i]);
		}
		free(old);
	} else {
		for (size_t i = 0; i < n; i++)
			remove_one(u, jids[i]);
		for (size_t i = 0; i < n; i++)
			presence_change(r, u, jids[i], false);
	}
	if (!ok)
		LOG_ERR("out of memory: %s's blocklist in the router is short until its next login",
			bare);
	bool now = u->n_blocked > 0;
	if (now && !was)
		r->n_blocking++;
	else if (!now && was)
		r->n_blocking--;
}
