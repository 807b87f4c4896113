/* Presence in the router (RFC 6121 4): availability per session, the
 * broadcast to the account's resources and to the contacts subscribed to
 * it, probes answered from the contacts' sessions at initial presence,
 * directed presence remembered per session, unavailable when a session
 * ends however it ends; and the online accounts' rosters in the compact
 * form these need.
 *
 * Subscription stanzas change stored state, so they go through the
 * storage thread: core/im/presence.c.  Everything here runs on the holder
 * of the router's baton and never waits.
 *
 * Memory: a contact is a struct ruser interned in the router's by_bare
 * table and shared by every roster that lists it, so an online account's
 * roster costs 16 bytes per contact plus one entry per distinct JID; names
 * and groups stay on disk (docs/internals/im.md).  A broadcast is the
 * client's stanza, serialized once and delivered by reference. */
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/conf/cfg.h"
#include "core/im/account.h"
#include "core/route/im.h"
#include "core/route/router_priv.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/ns.h"

/* Broadcasts held per account while its roster loads: a client sends one
 * at login; more than this before the store answers is refused. */
#define MAX_WAITING 8
/* Roster gets answered from the roster load in flight, per account. */
#define MAX_JOINED 4
/* Rosters kept from logins' loads (struct login_roster): at most this
 * many and bytes at once, the oldest dropped first to make room, and none
 * larger than the last (an account's own names and groups make its roster
 * as large as it likes): beyond them a client's get reads the store as
 * any other.  A 100-item roster is about 10 KiB. */
#define MAX_LOGIN_ROSTERS 256
#define MAX_LOGIN_ROSTERS_BYTES (4u << 20)
#define MAX_LOGIN_ROSTER_BYTES (128u << 10)

/* The items a login's roster load read (names and groups too), kept until
 * the client's first roster get, which most clients send right after
 * bind: answered from them, one read of the roster per login instead of
 * two.  Dropped when used, at the account's first roster change handed
 * to the store (rt_roster_changing: it would be stale), at its first
 * available presence (a client that did not ask by then seldom does),
 * when it goes offline, or when newer ones need the room. */
struct login_roster {
	struct login_roster *prev, *next; /* r->logins_head..tail */
	struct ruser *u;
	size_t bytes;           /* counted in r->logins_bytes */
	struct store_req res;   /* status XS_OK, ver, items, n_items */
};

static size_t items_bytes(const struct store_roster_item *it, size_t n)
{
	size_t b = n * sizeof(*it);
	for (size_t i = 0; i < n; i++)
		b += (it[i].contact ? strlen(it[i].contact) + 1 : 0) +
		     (it[i].name ? strlen(it[i].name) + 1 : 0) +
		     (it[i].groups ? strlen(it[i].groups) + 1 : 0);
	return b;
}

_Static_assert(ROSTER_SUB_BOTH < 4 && ROSTER_ASK_ALL < 16, "struct rcontact's fields hold every state");

/* ---- interned JIDs ---- */

struct ruser *rt_user_get(struct router *r, const char *bare)
{
	struct ruser *u = rt_find_user(r, bare);
	if (u)
		return u;
	size_t bl = strlen(bare);
	/* an index for it: a free one, or the table grows */
	if (!r->n_free_users && r->n_users == r->cap_users) {
		if (r->cap_users == RT_MAX_USERS) {
			LOG_ERR("%u JIDs known to the router at once: %s not taken", RT_MAX_USERS, bare);
			return NULL;
		}
		uint32_t cap = r->cap_users ? r->cap_users * 2 : 1024;
		struct ruser **t = cap > r->cap_users ? realloc(r->users, cap * sizeof(*t)) : NULL;
		uint32_t *f = t ? realloc(r->free_users, cap * sizeof(*f)) : NULL;
		if (t)
			r->users = t;
		if (!f)
			return NULL;
		r->free_users = f;
		r->cap_users = cap;
	}
	u = calloc(1, sizeof(*u) + bl + 1);
	if (!u)
		return NULL;
	u->idx = r->n_free_users ? r->free_users[--r->n_free_users] : r->n_users++;
	r->users[u->idx] = u;
	memcpy(u->bare, bare, bl + 1);
	size_t dl;
	const char *d = rt_jid_domain(u->bare, &dl);
	u->local = rt_is_local_domain(r, d, dl);
	hmap_put(&r->by_bare, &u->by_bare, u->bare);
	return u;
}

void rt_user_release(struct router *r, struct ruser *u)
{
	if (u->sessions || u->refs || u->roster_state != RS_NONE)
		return;
	hmap_del(&r->by_bare, &u->by_bare);
	r->users[u->idx] = NULL;
	r->free_users[r->n_free_users++] = u->idx; /* room: cap_users entries */
	free(u);
}

void rt_users_free(struct router *r)
{
	free(r->users);
	free(r->free_users);
	r->users = NULL;
	r->free_users = NULL;
	r->n_users = r->cap_users = r->n_free_users = 0;
}

/* ---- the roster of an online account ---- */

static int rcontact_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct rcontact *)a)->who;
	uint32_t y = ((const struct rcontact *)b)->who;
	return x < y ? -1 : x > y;
}

static struct rcontact *roster_find(const struct ruser *u, const struct ruser *who)
{
	if (u->roster_state != RS_READY || !who || !u->n_roster)
		return NULL;
	struct rcontact key = { .who = who->idx };
	return bsearch(&key, u->roster, u->n_roster, sizeof(key), rcontact_cmp);
}

/* The state u's roster holds for the contact bare (NULL: none). */
static const struct rcontact *roster_lookup(struct router *r, const struct ruser *u,
					    const char *bare)
{
	return roster_find(u, rt_find_user(r, bare));
}

static void roster_drop(struct router *r, struct ruser *u)
{
	for (uint32_t i = 0; i < u->n_roster; i++) {
		struct ruser *c = rt_user_at(r, u->roster[i].who);
		c->refs--;
		if (c != u)
			rt_user_release(r, c);
	}
	free(u->roster);
	u->roster = NULL;
	u->n_roster = 0;
}

static void login_roster_drop(struct router *r, struct ruser *u)
{
	struct login_roster *l = u->roster_state == RS_READY ? u->login : NULL;
	if (!l)
		return;
	u->login = NULL;
	if (r) {
		*(l->prev ? &l->prev->next : &r->logins_head) = l->next;
		*(l->next ? &l->next->prev : &r->logins_tail) = l->prev;
		r->n_logins--;
		r->logins_bytes -= l->bytes;
	}
	store_roster_items_free(l->res.items, l->res.n_items);
	free(l);
}

/* Keeps what the load in req read for u's first get (takes its items). */
static void login_roster_keep(struct router *r, struct ruser *u, struct store_req *req)
{
	size_t bytes = sizeof(struct login_roster) + items_bytes(req->items, req->n_items);
	if (bytes > MAX_LOGIN_ROSTER_BYTES)
		return;
	while (r->logins_head && (r->n_logins >= MAX_LOGIN_ROSTERS ||
				  r->logins_bytes + bytes > MAX_LOGIN_ROSTERS_BYTES))
		login_roster_drop(r, r->logins_head->u);
	struct login_roster *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	l->u = u;
	l->bytes = bytes;
	l->res.status = XS_OK;
	l->res.ver = req->ver;
	l->res.items = req->items;
	l->res.n_items = req->n_items;
	req->items = NULL;
	req->n_items = 0;
	l->prev = r->logins_tail;
	*(l->prev ? &l->prev->next : &r->logins_head) = l;
	r->logins_tail = l;
	r->n_logins++;
	r->logins_bytes += bytes;
	u->login = l;
}

static void waiting_drop(struct ruser *u)
{
	if (u->roster_state != RS_LOADING)
		return; /* nothing waits; a login roster is login_roster_drop's */
	while (u->waiting) {
		struct rwait *w = u->waiting;
		u->waiting = w->next;
		if (w->joined)
			w->joined(NULL, w->arg, NULL);
		stanza_unref(w->st);
		free(w);
	}
	u->n_waiting = 0;
}

void im_roster_cached(struct router *r, const char *bare, const char *contact,
		      unsigned char sub, unsigned char ask, bool removed)
{
	struct ruser *u = rt_find_user(r, bare);
	if (u)
		login_roster_drop(r, u); /* stale now */
	/* not RS_READY: a load submitted after this change will see it (the
	 * storage thread answers in order) */
	if (!u || u->roster_state != RS_READY)
		return;
	struct ruser *c = removed ? rt_find_user(r, contact) : rt_user_get(r, contact);
	if (!c)
		goto lost;
	struct rcontact *rc = roster_find(u, c);
	if (removed) {
		if (!rc)
			return;
		size_t i = (size_t)(rc - u->roster);
		memmove(rc, rc + 1, (u->n_roster - i - 1) * sizeof(*rc));
		u->n_roster--;
		c->refs--;
		rt_user_release(r, c);
		return;
	}
	if (rc) {
		rc->sub = sub;
		rc->ask = ask;
		return;
	}
	struct rcontact *n = realloc(u->roster, (u->n_roster + 1) * sizeof(*n));
	if (!n) {
		rt_user_release(r, c);
		goto lost;
	}
	u->roster = n;
	size_t i = 0;
	while (i < u->n_roster && u->roster[i].who < c->idx)
		i++;
	memmove(&u->roster[i + 1], &u->roster[i], (u->n_roster - i) * sizeof(*n));
	u->roster[i] = (struct rcontact){ .who = c->idx, .sub = sub, .ask = ask };
	u->n_roster++;
	c->refs++;
	return;
lost:
	LOG_ERR("out of memory: %s's presence state for %s is stale until its next login", bare,
		contact);
}

/* ---- loading it ---- */

struct roster_load {
	struct store_req req; /* first: the store hands it back */
	uint32_t seq;
	char bare[];
};

static void roster_loaded(struct router *r, struct store_req *req, bool cancelled);

static const struct im_module roster_loader = {
	.name = "presence", .store_done = roster_loaded,
};

/* A waiting entry that is neither a broadcast nor a joined get: a roster
 * change was handed to the store after the load in flight. */
static bool is_barrier(const struct rwait *w)
{
	return !w->st && !w->joined;
}

static bool has_barrier(const struct ruser *u)
{
	for (const struct rwait *w = u->waiting; w; w = w->next)
		if (is_barrier(w))
			return true;
	return false;
}

void rt_roster_changing(struct router *r, const char *local, const char *domain)
{
	char bare[BARE_MAX];
	int n = snprintf(bare, sizeof(bare), "%s%s%s", local, *local ? "@" : "", domain);
	struct ruser *u = n > 0 && (size_t)n < sizeof(bare) ? rt_find_user(r, bare) : NULL;
	if (!u)
		return;
	login_roster_drop(r, u);
	if (u->roster_state != RS_LOADING)
		return;
	/* a barrier: gets after this change must not be answered from the
	 * load, which was read before it (RFC 6120 10.1, in order) */
	if (has_barrier(u))
		return; /* one is enough */
	struct rwait **pp = &u->waiting;
	while (*pp)
		pp = &(*pp)->next;
	*pp = calloc(1, sizeof(**pp));
	if (!*pp)
		LOG_ERR("out of memory: a roster get of %s after its change may miss it until "
			"the push", bare);
}

bool im_roster_join_load(struct router *r, const char *bare, im_load_joined_fn done, void *arg)
{
	struct ruser *u = rt_find_user(r, bare);
	if (u && u->roster_state == RS_READY && u->login) {
		/* read at login, unchanged since: answered now, and once */
		struct login_roster *l = u->login;
		done(r, arg, &l->res);
		login_roster_drop(r, u);
		return true;
	}
	if (!u || u->roster_state != RS_LOADING)
		return false;
	/* bounded apart from the broadcasts (n_waiting): gets beyond it
	 * read the store, within the session's storage budget */
	unsigned joined = 0;
	struct rwait **pp = &u->waiting;
	for (; *pp; pp = &(*pp)->next) {
		if (is_barrier(*pp))
			return false; /* a change came after the load (rt_roster_changing) */
		joined += (*pp)->joined != NULL;
	}
	if (joined >= MAX_JOINED)
		return false;
	struct rwait *w = calloc(1, sizeof(*w));
	if (!w)
		return false;
	w->joined = done;
	w->arg = arg;
	*pp = w;
	return true;
}

/* The roster gets that shared the load, answered from its items (which
 * the caller still holds), ahead of the broadcasts: a client that asked
 * for its roster before sending presence has it before its contacts'
 * presence comes. */
static bool answer_joined(struct router *r, struct ruser *u, const struct store_req *req)
{
	bool any = false;
	struct rwait **pp = &u->waiting;
	while (*pp) {
		struct rwait *w = *pp;
		if (!w->joined) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->joined(r, w->arg, req);
		free(w);
		any = true;
	}
	return any;
}

static bool any_available(const struct ruser *u)
{
	for (const struct rsess *s = u->sessions; s; s = s->next_in_user)
		if (s->available)
			return true;
	return false;
}

static void roster_ready(struct router *r, struct ruser *u)
{
	u->roster_state = RS_READY;
	struct rwait *w = u->waiting;
	u->waiting = NULL;
	u->n_waiting = 0;
	while (w) {
		struct rwait *next = w->next;
		struct rsess *s = w->st ? rt_find_full(r, w->st->from) : NULL; /* or a barrier */
		if (s && rt_handle_eq(s->h, w->h))
			rt_presence_broadcast(r, w->st, s);
		stanza_unref(w->st);
		free(w);
		w = next;
	}
}

static void roster_loaded(struct router *r, struct store_req *req, bool cancelled)
{
	struct roster_load *j = (struct roster_load *)req;
	struct ruser *u = cancelled ? NULL : rt_find_user(r, j->bare);
	if (!u || u->roster_state != RS_LOADING || u->load_seq != j->seq)
		goto out; /* the account went offline meanwhile */
	if (req->status != XS_OK) {
		LOG_ERR("roster of %s not loaded (%s): its presence goes to its own resources only",
			j->bare, xs_name(req->status));
	} else if (req->n_items) {
		u->roster = calloc(req->n_items, sizeof(*u->roster));
		if (!u->roster)
			LOG_ERR("out of memory loading the roster of %s", j->bare);
		for (size_t i = 0; u->roster && i < req->n_items; i++) {
			struct ruser *c = rt_user_get(r, req->items[i].contact);
			if (!c) {
				LOG_ERR("out of memory loading the roster of %s", j->bare);
				break;
			}
			c->refs++;
			u->roster[u->n_roster++] = (struct rcontact){
				.who = c->idx, .sub = req->items[i].subscription, .ask = req->items[i].ask
			};
		}
		if (u->n_roster)
			qsort(u->roster, u->n_roster, sizeof(*u->roster), rcontact_cmp);
	}
	if (req->status == XS_OK) {
		rt_block_loaded(r, u, req->blocked, req->n_blocked);
		req->blocked = NULL;
		req->n_blocked = 0;
	}
	/* a change handed to the store during the load makes what it read no
	 * answer for a later get, even before the change is done */
	bool stale = has_barrier(u);
	bool asked = answer_joined(r, u, req);
	roster_ready(r, u);
	/* for the client's first get, unless it came already (or the
	 * broadcasts replayed just now made it moot) */
	if (req->status == XS_OK && !stale && !asked && !any_available(u) &&
	    u->roster_state == RS_READY)
		login_roster_keep(r, u, req);
out:
	store_roster_items_free(req->items, req->n_items);
	store_strings_free(req->blocked, req->n_blocked);
	free(j);
}

void rt_presence_bound(struct router *r, struct rsess *s)
{
	struct ruser *u = s->user;
	if (u->roster_state != RS_NONE)
		return;
	if (!r->store) {
		u->roster_state = RS_READY; /* unit tests: no rosters */
		return;
	}
	size_t bl = strlen(u->bare);
	struct roster_load *j = calloc(1, sizeof(*j) + bl + 1);
	if (!j || !im_split_account(&j->req, u->bare)) {
		free(j);
		LOG_ERR("cannot load the roster of %s: its presence goes to its own resources only",
			u->bare);
		u->roster_state = RS_READY;
		return;
	}
	memcpy(j->bare, u->bare, bl + 1);
	j->req.op = STORE_OP_ROSTER_GET;
	j->req.with_blocklist = true;
	j->seq = ++r->load_seq;
	/* not against the session's storage budget: one per login, the
	 * server's own, and the client's requests must not wait behind it */
	if (im_store_submit(r, &roster_loader, &j->req, NULL) != XS_OK) {
		free(j);
		LOG_ERR("cannot load the roster of %s: its presence goes to its own resources only",
			u->bare);
		u->roster_state = RS_READY;
		return;
	}
	u->roster_state = RS_LOADING;
	u->load_seq = j->seq;
}

int im_roster_sub(struct router *r, const char *bare, const char *contact)
{
	struct ruser *u = rt_find_user(r, bare);
	if (!u || u->roster_state != RS_READY)
		return -1;
	return (int)rt_roster_sub(u, rt_find_user(r, contact));
}

void rt_presence_offline(struct router *r, struct ruser *u)
{
	login_roster_drop(r, u);
	if (u->roster_state != RS_NONE)
		services_account_offline(r, u->bare);
	roster_drop(r, u);
	rt_block_drop(r, u);
	waiting_drop(u);
	u->roster_state = RS_NONE;
}

/* ---- sending presence ---- */

static struct stanza *unavailable_from(const char *from)
{
	struct xml_node *p = xml_node_new_elem("presence", NS_CLIENT);
	if (!p || xml_node_set_attr(p, "type", "unavailable") != XS_OK ||
	    xml_node_set_attr(p, "from", from) != XS_OK) {
		xml_node_free(p);
		return NULL;
	}
	return stanza_freeze(p);
}

/* Whether blocking (XEP-0191) stands between the session `from_full` of
 * account a and the session `to_full` of account b, either way. */
static bool blocked_between(const struct router *r, const struct ruser *a, const char *from_full,
			    const struct ruser *b, const char *to_full)
{
	return r->n_blocking && (rt_blocks(r, a, to_full) || rt_blocks(r, b, from_full));
}

/* Presence st from the account `from` to every available session of u,
 * but skip. */
static void to_available(struct router *r, const struct ruser *from, struct ruser *u,
			 struct stanza *st, const struct rsess *skip)
{
	for (struct rsess *s = u->sessions; s; s = s->next_in_user)
		if (s->available && !s->gone && s != skip &&
		    !blocked_between(r, from, st->from, u, s->full))
			rt_deliver(r, s, st, false);
}

/* The current presence of every available session of from, or unavailable
 * from each, to one session of the other account (to) or to all its
 * available ones (to NULL, of account dest). */
static void presence_of(struct router *r, const struct ruser *from, struct ruser *dest,
			struct rsess *to, bool unavailable)
{
	for (struct rsess *s = from->sessions; s; s = s->next_in_user) {
		if (!s->available || s->gone || !s->presence)
			continue;
		struct stanza *st = unavailable ? unavailable_from(s->full) : stanza_ref(s->presence);
		if (!st) {
			LOG_ERR("out of memory: presence of %s not sent", s->full);
			continue;
		}
		if (to) {
			if (!blocked_between(r, from, s->full, to->user, to->full))
				rt_deliver(r, to, st, false);
		} else {
			to_available(r, from, dest, st, NULL);
		}
		stanza_unref(st);
	}
}

void rt_presence_of(struct router *r, const struct ruser *from, struct ruser *dest,
		    bool unavailable)
{
	if (dest->sessions)
		presence_of(r, from, dest, NULL, unavailable);
}

bool rt_shares_presence(struct router *r, const struct rsess *s, const char *from)
{
	size_t bl = rt_bare_len(from);
	char bare[BARE_MAX];
	if (rt_bare_copy(from, bare) == SIZE_MAX)
		return false;
	/* the account itself, or a server or service (no localpart) */
	if (strcmp(bare, s->user->bare) == 0 || !memchr(bare, '@', bl))
		return true;
	/* the roster is not read yet: nothing to go by, nothing refused */
	if (s->user->roster_state != RS_READY)
		return true;
	const struct rcontact *rc = roster_lookup(r, s->user, bare);
	if (rc && (rc->sub & ROSTER_SUB_FROM))
		return true;
	for (const struct rdirected *d = s->directed; d; d = d->next)
		if (rt_bare_len(d->jid) == bl && memcmp(d->jid, bare, bl) == 0)
			return true;
	return false;
}

unsigned rt_roster_sub(const struct ruser *u, const struct ruser *c)
{
	const struct rcontact *rc = c ? roster_find(u, c) : NULL;
	return rc ? rc->sub : 0;
}

static void probe_remote(struct router *r, const char *from, const char *to);

void im_send_presences(struct router *r, const char *from_bare, const char *to_bare,
		       bool unavailable)
{
	bool from_local = im_is_local(r, from_bare), to_local = im_is_local(r, to_bare);
	struct ruser *from = rt_find_user(r, from_bare), *dest = rt_find_user(r, to_bare);
	if (from_local && to_local) {
		if (from && dest)
			rt_presence_of(r, from, dest, unavailable);
		return;
	}
	if (from_local) {
		/* each available session's presence (or its end) to the
		 * remote account, over its server's link */
		for (struct rsess *s = from ? from->sessions : NULL; s; s = s->next_in_user) {
			if (!s->available || s->gone || !s->presence)
				continue;
			struct stanza *st = unavailable ? unavailable_from(s->full) : stanza_ref(s->presence);
			if (st)
				rt_s2s_send_to(r, st, to_bare);
			stanza_unref(st);
		}
		return;
	}
	/* from a remote account: its server sends its presence itself (RFC
	 * 6121 3.1.5), but that may come before our roster says the account
	 * may have it (the roster change is still with the store), so it is
	 * asked for again now (a probe, RFC 6121 4.3); its end, once the
	 * subscription is gone, is said here */
	if (!unavailable && to_local) {
		probe_remote(r, to_bare, from_bare);
		return;
	}
	if (unavailable && to_local && dest && dest->sessions) {
		struct stanza *st = unavailable_from(from_bare);
		if (st)
			rt_deliver_presence(r, st, to_bare);
		stanza_unref(st);
	}
}

void im_deliver_presence(struct router *r, const char *to, struct stanza *st)
{
	rt_deliver_presence(r, st, to);
}

bool im_is_local(struct router *r, const char *jid)
{
	size_t dl;
	const char *d = rt_jid_domain(jid, &dl);
	return rt_is_local_domain(r, d, dl);
}

/* A probe from the account prober, answered by the server for the local
 * account target (RFC 6121 4.3.2): the presence of each of target's
 * available sessions, if target's roster says prober is subscribed to it,
 * to the session asking. */
static void answer_probe(struct router *r, struct ruser *target, const struct ruser *prober,
			 struct rsess *to)
{
	const struct rcontact *rc = roster_find(target, prober);
	if (rc && (rc->sub & ROSTER_SUB_FROM))
		presence_of(r, target, NULL, to, false);
}

static int presence_priority(const struct xml_node *pres)
{
	struct xml_node *p = xml_node_child(pres, "priority", NS_CLIENT);
	if (!p)
		return 0;
	char *t = xml_node_text(p);
	if (!t)
		return 0;
	char *end;
	long v = strtol(t, &end, 10);
	bool ok = end != t && *end == '\0';
	free(t);
	if (!ok)
		return 0;
	return v < -128 ? -128 : v > 127 ? 127 : (int)v;
}

/* RFC 6121 3.1.3: a request that came while the account was offline (or
 * not yet answered) is shown again at its next initial presence. */
static void pending_requests(struct router *r, const struct ruser *u, struct rsess *s)
{
	for (uint32_t i = 0; i < u->n_roster; i++) {
		if (!(u->roster[i].ask & ROSTER_ASK_IN) || rt_blocks(r, u, rt_user_at(r, u->roster[i].who)->bare))
			continue;
		struct xml_node *p = xml_node_new_elem("presence", NS_CLIENT);
		struct stanza *st = NULL;
		if (p && xml_node_set_attr(p, "type", "subscribe") == XS_OK &&
		    xml_node_set_attr(p, "from", rt_user_at(r, u->roster[i].who)->bare) == XS_OK &&
		    xml_node_set_attr(p, "to", u->bare) == XS_OK)
			st = stanza_freeze(p);
		else
			xml_node_free(p);
		if (!st) {
			LOG_ERR("out of memory: %s's request to %s not shown", rt_user_at(r, u->roster[i].who)->bare,
				u->bare);
			continue;
		}
		rt_deliver(r, s, st, false);
		stanza_unref(st);
	}
}

static void directed_forget(struct rsess *s, const char *jid)
{
	for (struct rdirected **pp = &s->directed; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->jid, jid) == 0) {
			struct rdirected *d = *pp;
			*pp = d->next;
			free(d);
			s->n_directed--;
			return;
		}
}

/* RFC 6121 4.6.3: unavailable to whoever got directed presence. */
static void directed_end(struct router *r, struct rsess *s, struct stanza *unavail)
{
	while (s->directed) {
		struct rdirected *d = s->directed;
		s->directed = d->next;
		if (unavail && im_is_local(r, d->jid))
			rt_deliver_presence(r, unavail, d->jid);
		else if (unavail)
			rt_s2s_send_to(r, unavail, d->jid);
		free(d);
	}
	s->n_directed = 0;
}

/* The account's presence to its contacts (RFC 6121 4.2.2, 4.4.2, 4.5.2):
 * those subscribed to it, each remote one addressed to its bare JID over
 * its server's link (the stream writes the 'to' into the shared bytes). */
static void to_subscribers(struct router *r, const struct ruser *u, struct stanza *st)
{
	for (uint32_t i = 0; i < u->n_roster; i++) {
		const struct rcontact *rc = &u->roster[i];
		struct ruser *c = rt_user_at(r, rc->who);
		if (!(rc->sub & ROSTER_SUB_FROM) || c == u)
			continue;
		if (c->local)
			to_available(r, u, c, st, NULL);
		else if (!rt_blocks(r, u, c->bare))
			rt_s2s_send_to(r, st, c->bare);
	}
}

/* RFC 6121 4.3.1: at the account's initial presence its server asks each
 * remote contact's server for the contact's presence. */
static void probe_remote(struct router *r, const char *from, const char *to)
{
	struct xml_node *p = xml_node_new_elem("presence", NS_CLIENT);
	struct stanza *st = NULL;
	if (p && xml_node_set_attr(p, "type", "probe") == XS_OK &&
	    xml_node_set_attr(p, "from", from) == XS_OK && xml_node_set_attr(p, "to", to) == XS_OK)
		st = stanza_freeze(p);
	else
		xml_node_free(p);
	if (!st) {
		LOG_ERR("out of memory: no probe from %s to %s", from, to);
		return;
	}
	rt_s2s_send(r, st);
	stanza_unref(st);
}

void rt_presence_broadcast(struct router *r, struct stanza *st, struct rsess *s)
{
	bool unavailable = st->type && strcmp(st->type, "unavailable") == 0;
	if (st->type && !unavailable)
		return; /* subscription types or a probe without 'to': nothing to do */
	struct ruser *u = s->user;
	if (u->roster_state == RS_LOADING) {
		struct rwait *w = u->n_waiting < MAX_WAITING ? calloc(1, sizeof(*w)) : NULL;
		if (!w) {
			LOG_WARN("%s: presence refused while its roster loads (%u waiting)", s->full,
				 u->n_waiting);
			return;
		}
		w->st = stanza_ref(st);
		w->h = s->h;
		struct rwait **pp = &u->waiting;
		while (*pp)
			pp = &(*pp)->next;
		*pp = w;
		u->n_waiting++;
		return;
	}
	bool was_available = s->available;
	bool initial = !unavailable && !was_available;
	if (!unavailable)
		login_roster_drop(r, u); /* no get before presence: seldom one after */
	s->available = !unavailable;
	s->priority = unavailable ? 0 : presence_priority(st->tree);
	stanza_unref(s->presence);
	/* kept to be delivered again (probes, the account's new resources):
	 * the bytes without the tree; the whole stanza if memory is short */
	s->presence = NULL;
	if (!unavailable && !(s->presence = stanza_slim(st)))
		s->presence = stanza_ref(st);
	bool caps_new = !unavailable && rt_caps_presence(r, s, st);

	/* the account's own resources, the sender included (RFC 6121 4.2.2) */
	for (struct rsess *o = u->sessions; o; o = o->next_in_user)
		if ((o->available || o == s) && !o->gone)
			rt_deliver(r, o, st, false);
	if (!unavailable || was_available)
		to_subscribers(r, u, st);
	if (unavailable) {
		directed_end(r, s, st);
		return;
	}
	if (initial) {
		/* RFC 6121 4.2.2, 4.3: the contacts' presence, as their
		 * server would answer a probe (the local ones; remote ones
		 * with s2s), and the account's other resources */
		for (uint32_t i = 0; i < u->n_roster; i++) {
			struct ruser *c = rt_user_at(r, u->roster[i].who);
			if (!(u->roster[i].sub & ROSTER_SUB_TO) || c == u)
				continue;
			if (c->local)
				answer_probe(r, c, u, s);
			else
				probe_remote(r, u->bare, c->bare); /* answered to the bare JID */
		}
		for (struct rsess *o = u->sessions; o; o = o->next_in_user)
			if (o != s && o->available && !o->gone && o->presence)
				rt_deliver(r, s, o->presence, false);
		pending_requests(r, u, s);
	}
	services_available(r, s->full, u->bare, s->priority, initial);
	/* XEP-0163 4.3.2: PEP's last items, once its wishes are known */
	if (s->caps && (initial || caps_new))
		services_caps(r, s->full, u->bare);
}

void rt_presence_directed(struct router *r, struct stanza *st, struct rsess *s, const char *to)
{
	const char *type = st->type;
	char bare[BARE_MAX];
	if (rt_bare_copy(to, bare) == SIZE_MAX)
		return;
	bool local = im_is_local(r, to);

	if (type && (strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
		     strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0)) {
		/* RFC 6121 3: to the bare JID, stamped with the sender's bare
		 * JID, through the store */
		im_subscription_out(r, st, s->full, bare);
		return;
	}
	if (type && strcmp(type, "probe") == 0) {
		/* answered by the server, for the contact, as its own probes */
		struct ruser *c = local ? rt_find_user(r, bare) : NULL;
		if (c && c != s->user)
			answer_probe(r, c, s->user, s);
		return;
	}
	if (type && strcmp(type, "error") == 0) {
		if (local)
			rt_deliver_presence(r, st, to);
		else
			rt_s2s_send(r, st);
		return;
	}
	if (type && strcmp(type, "unavailable") != 0)
		return; /* not a presence type (RFC 6121 4.7.1): ignored */

	/* directed presence (RFC 6121 4.6): remembered unless the target
	 * gets the broadcast anyway (a contact subscribed to the account) */
	if (!type) {
		const struct rcontact *rc = roster_lookup(r, s->user, bare);
		bool subscriber = rc && (rc->sub & ROSTER_SUB_FROM);
		bool known = false;
		for (const struct rdirected *d = s->directed; d && !known; d = d->next)
			known = strcmp(d->jid, to) == 0;
		if (!subscriber && !known) {
			if (s->n_directed >= r->cfg->max_directed_presences) {
				LOG_INFO("%s: directed presence to %s refused: %u already ([im] "
					 "max_directed_presences)",
					 s->full, to, s->n_directed);
				rt_reply_error(r, st, SC_RESOURCE_CONSTRAINT);
				return;
			}
			size_t tl = strlen(to);
			struct rdirected *d = malloc(sizeof(*d) + tl + 1);
			if (!d) {
				rt_reply_error(r, st, SC_RESOURCE_CONSTRAINT);
				return;
			}
			memcpy(d->jid, to, tl + 1);
			d->next = s->directed;
			s->directed = d;
			s->n_directed++;
		}
	} else {
		directed_forget(s, to);
	}
	if (local)
		rt_deliver_presence(r, st, to);
	else
		rt_s2s_send(r, st);
}

/* Whether one of u's sessions sent directed presence to the bare JID. */
static bool directed_to(const struct ruser *u, const char *bare)
{
	size_t bl = strlen(bare);
	for (const struct rsess *s = u->sessions; s; s = s->next_in_user)
		for (const struct rdirected *d = s->directed; d; d = d->next)
			if (rt_bare_len(d->jid) == bl && memcmp(d->jid, bare, bl) == 0)
				return true;
	return false;
}

/* RFC 6121 4.3.2: a remote server probes for its account; the local
 * account's presence goes back if its roster says the prober is
 * subscribed to it (unavailable when no resource is available). */
static void answer_remote_probe(struct router *r, struct ruser *u, struct stanza *st,
				const char *prober_bare)
{
	if (!u || u->roster_state != RS_READY)
		return; /* offline: no roster here to go by, and no presence */
	struct ruser *p = rt_find_user(r, prober_bare);
	const struct rcontact *rc = p ? roster_find(u, p) : NULL;
	if (!rc || !(rc->sub & ROSTER_SUB_FROM) || rt_blocks(r, u, st->from))
		return;
	bool any = false;
	for (struct rsess *s = u->sessions; s; s = s->next_in_user)
		if (s->available && !s->gone && s->presence) {
			rt_s2s_send_to(r, s->presence, st->from);
			any = true;
		}
	if (!any) {
		struct stanza *un = unavailable_from(u->bare);
		if (un)
			rt_s2s_send_to(r, un, st->from);
		stanza_unref(un);
	}
}

void rt_presence_from_remote(struct router *r, struct stanza *st)
{
	const char *type = st->type;
	char from_bare[BARE_MAX], to_bare[BARE_MAX];
	size_t tl = rt_bare_copy(st->to, to_bare);
	if (rt_bare_copy(st->from, from_bare) == SIZE_MAX || tl == SIZE_MAX)
		return;
	if (type && (!strcmp(type, "subscribe") || !strcmp(type, "subscribed") ||
		     !strcmp(type, "unsubscribe") || !strcmp(type, "unsubscribed"))) {
		im_subscription_in(r, st); /* RFC 6121 3: the local account's side */
		return;
	}
	struct ruser *u = rt_find_user(r, to_bare);
	if (type && !strcmp(type, "probe")) {
		answer_remote_probe(r, u, st, from_bare);
		return;
	}
	if (type && strcmp(type, "unavailable") != 0 && strcmp(type, "error") != 0)
		return; /* not a presence type (RFC 6121 4.7.1) */
	if (rt_block_inbound(r, st, st->to))
		return;
	/* to the bare JID: from a contact the account is subscribed to, or
	 * one it sent directed presence to (an answer); a resource may be
	 * sent directed presence by anyone (RFC 6121 4.6) */
	if (st->to[tl] != '/' && (!type || strcmp(type, "error") != 0) && u &&
	    u->roster_state == RS_READY) {
		struct ruser *c = rt_find_user(r, from_bare);
		const struct rcontact *rc = c ? roster_find(u, c) : NULL;
		if (!(rc && (rc->sub & ROSTER_SUB_TO)) && !directed_to(u, from_bare)) {
			LOG_DEBUG("presence from %s to %s: not a contact of it, dropped", st->from, to_bare);
			return;
		}
	}
	rt_deliver_presence(r, st, st->to);
}

void rt_presence_end(struct router *r, struct rsess *s)
{
	if (s->available || s->directed) {
		struct stanza *st = unavailable_from(s->full);
		if (!st) {
			LOG_ERR("out of memory: %s's contacts not told it went offline", s->full);
		} else if (s->available) {
			s->gone = true; /* not to itself */
			rt_presence_broadcast(r, st, s);
		} else {
			directed_end(r, s, st);
		}
		stanza_unref(st);
	}
	rt_presence_free_sess(s);
}

void rt_presence_free_sess(struct rsess *s)
{
	rt_csi_drop(s);
	stanza_unref(s->presence);
	s->presence = NULL;
	s->available = false;
	while (s->directed) {
		struct rdirected *d = s->directed;
		s->directed = d->next;
		free(d);
	}
	s->n_directed = 0;
}

void rt_presence_free_user(struct ruser *u)
{
	login_roster_drop(NULL, u); /* the router's list goes with it */
	for (uint32_t i = 0; i < u->n_blocked; i++)
		free(u->blocked[i]);
	free(u->blocked);
	free(u->roster);
	u->roster = NULL;
	u->n_roster = 0;
	waiting_drop(u);
}
