/* Who wants which PEP notifications (XEP-0163 4, through XEP-0115 entity
 * capabilities), and their delivery.
 *
 * A client says which PEP nodes it wants events of by listing
 * "NODE+notify" among its disco features, and advertises a hash of those
 * features in its presence (<c hash ver node/>).  The router asks a
 * session for the features behind a hash it has not seen, once, from the
 * account's bare JID; checks that the answer hashes to the advertised
 * value (XEP-0115 5.4: an unverified answer would let one client poison
 * what every other client with that hash gets) and keeps, per hash, only
 * the sorted list of +notify nodes.  Sessions point at the entry of their
 * hash.  [im] max_caps_cache entries are kept while no session uses them
 * (the least recently released goes first); past it an entry lives only
 * as long as its sessions.
 *
 * Costs an attacker can cause: one query per presence whose hash is new
 * for the session (one in flight per session), and per answer a sort and
 * a hash over a stanza already bounded by max_stanza_size. */
#include "core/route/router_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/conf/cfg.h"
#include "core/store/store.h"
#include "core/route/im.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/caps.h"

/* Hash values a client may choose: no more (ver is base64 of a digest). */
#define CAPS_VER_MAX 128
#define CAPS_NODE_MAX 1024
/* +notify nodes kept per feature set; more are ignored (with a log line) */
#define CAPS_NOTIFY_MAX 256

struct rcaps {
	struct hmap_entry by_key;   /* r->caps, when cached */
	struct rcaps *idle_prev, *idle_next; /* cached and used by no session */
	uint32_t refs;              /* sessions pointing here */
	bool cached;
	uint32_t n_notify;
	char **notify;              /* sorted (strcmp) */
	char key[];                 /* "hash ver" */
};

int rt_caps_init(struct router *r)
{
	return hmap_init(&r->caps, 64);
}

static void caps_free(struct rcaps *c)
{
	for (uint32_t i = 0; i < c->n_notify; i++)
		free(c->notify[i]);
	free(c->notify);
	free(c);
}

static void idle_unlink(struct router *r, struct rcaps *c)
{
	if (c->idle_prev)
		c->idle_prev->idle_next = c->idle_next;
	else if (r->caps_idle == c)
		r->caps_idle = c->idle_next;
	if (c->idle_next)
		c->idle_next->idle_prev = c->idle_prev;
	else if (r->caps_idle_tail == c)
		r->caps_idle_tail = c->idle_prev;
	c->idle_prev = c->idle_next = NULL;
}

static void idle_append(struct router *r, struct rcaps *c)
{
	c->idle_prev = r->caps_idle_tail;
	c->idle_next = NULL;
	if (r->caps_idle_tail)
		r->caps_idle_tail->idle_next = c;
	else
		r->caps_idle = c;
	r->caps_idle_tail = c;
}

void rt_caps_deinit(struct router *r)
{
	for (size_t i = 0; r->caps.buckets && i < r->caps.n_buckets; i++) {
		struct hmap_entry *e = r->caps.buckets[i];
		while (e) {
			struct hmap_entry *next = e->next;
			caps_free(container_of(e, struct rcaps, by_key));
			e = next;
		}
	}
	hmap_deinit(&r->caps);
	r->caps_idle = r->caps_idle_tail = NULL;
}

static void caps_release(struct router *r, struct rcaps *c)
{
	if (!c || --c->refs)
		return;
	if (!c->cached) {
		caps_free(c);
		return;
	}
	if (r)
		idle_append(r, c);
}

static void caps_hold(struct router *r, struct rcaps *c)
{
	if (c->refs++ == 0 && c->cached)
		idle_unlink(r, c);
}

void rt_caps_free_sess(struct router *r, struct rsess *s)
{
	caps_release(r, s->caps);
	s->caps = NULL;
	free(s->caps_want);
	s->caps_want = NULL;
}

bool rt_caps_wants(const struct rsess *s, const char *node)
{
	const struct rcaps *c = s->caps;
	size_t lo = 0, hi = c ? c->n_notify : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(node, c->notify[mid]);
		if (d == 0)
			return true;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static void set_caps(struct router *r, struct rsess *s, struct rcaps *c)
{
	caps_hold(r, c);
	caps_release(r, s->caps);
	s->caps = c;
}

/* ---- asking ---- */

/* The pending query's id: "caps" and the number, so an answer to an old
 * query (the client changed its hash meanwhile) is not taken for the new. */
static void query_id(const struct rsess *s, char out[24])
{
	snprintf(out, 24, "caps%llx", (unsigned long long)s->caps_qid);
}

static void ask(struct router *r, struct rsess *s, const char *key, const char *node,
		const char *ver)
{
	size_t kl = strlen(key), nl = strlen(node), vl = strlen(ver);
	char *want = malloc(kl + 1 + nl + 1 + vl + 1);
	struct xml_node *iq = xml_node_new_elem("iq", NS_CLIENT);
	struct xml_node *q = iq ? xml_node_new_child(iq, "query", NS_DISCO_INFO) : NULL;
	if (!want || !q) {
		free(want);
		xml_node_free(iq);
		return;
	}
	/* "key\0node#ver": what the answer must hash to, and its node */
	memcpy(want, key, kl + 1);
	memcpy(want + kl + 1, node, nl);
	want[kl + 1 + nl] = '#';
	memcpy(want + kl + 2 + nl, ver, vl + 1);
	free(s->caps_want);
	s->caps_want = want;
	s->caps_qid = ++r->caps_qid;
	char id[24];
	query_id(s, id);
	if (xml_node_set_attr(iq, "type", "get") != XS_OK || xml_node_set_attr(iq, "id", id) != XS_OK ||
	    xml_node_set_attr(iq, "from", s->user->bare) != XS_OK ||
	    xml_node_set_attr(iq, "to", s->full) != XS_OK ||
	    xml_node_set_attr(q, "node", want + kl + 1) != XS_OK) {
		xml_node_free(iq);
		return;
	}
	struct stanza *st = stanza_freeze(iq);
	if (st) {
		rt_deliver(r, s, st, false); /* not rerouted if the session is closing */
		stanza_unref(st);
	}
}

bool rt_caps_presence(struct router *r, struct rsess *s, const struct stanza *st)
{
	const struct xml_node *c = xml_node_child(st->tree, "c", NS_CAPS);
	const char *hash = c ? xml_node_attr(c, "hash") : NULL;
	const char *ver = c ? xml_node_attr(c, "ver") : NULL;
	const char *node = c ? xml_node_attr(c, "node") : NULL;
	/* no hash: XEP-0115's legacy format, whose ver says nothing checkable */
	if (!hash || !ver || !node || (strcmp(hash, "sha-1") != 0 && strcmp(hash, "sha-256") != 0))
		return false;
	if (!ver[0] || strlen(ver) > CAPS_VER_MAX || strlen(node) > CAPS_NODE_MAX)
		return false;
	char key[8 + CAPS_VER_MAX + 1];
	snprintf(key, sizeof(key), "%s %s", hash, ver);
	if (s->caps && strcmp(s->caps->key, key) == 0)
		return false;
	struct hmap_entry *e = hmap_get(&r->caps, key);
	if (e) {
		free(s->caps_want);
		s->caps_want = NULL;
		set_caps(r, s, container_of(e, struct rcaps, by_key));
		return true;
	}
	if (s->caps_want && strcmp(s->caps_want, key) == 0)
		return false; /* asked already */
	ask(r, s, key, node, ver);
	return false;
}

/* ---- the answer ---- */

struct notify_list {
	char **v;
	uint32_t n;
	bool nomem, over;
};

static void add_notify(void *arg, const char *node, size_t len)
{
	struct notify_list *l = arg;
	if (l->nomem || l->over)
		return;
	if (l->n >= CAPS_NOTIFY_MAX || !len) {
		l->over = l->over || len;
		return;
	}
	char *copy = malloc(len + 1);
	if (!copy) {
		l->nomem = true;
		return;
	}
	memcpy(copy, node, len);
	copy[len] = '\0';
	l->v[l->n++] = copy;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Makes room for one more cached entry: the least recently idle one goes. */
static bool cache_room(struct router *r)
{
	if (r->caps.count < r->cfg->max_caps_cache)
		return true;
	struct rcaps *old = r->caps_idle;
	if (!old)
		return false;
	idle_unlink(r, old);
	hmap_del(&r->caps, &old->by_key);
	caps_free(old);
	return true;
}

static struct rcaps *entry_of(struct router *r, const char *key, const struct xml_node *query,
			      const char *who)
{
	size_t kl = strlen(key);
	struct rcaps *c = calloc(1, sizeof(*c) + kl + 1);
	struct notify_list l = { .v = calloc(CAPS_NOTIFY_MAX, sizeof(char *)) };
	if (!c || !l.v) {
		free(c);
		free(l.v);
		return NULL;
	}
	memcpy(c->key, key, kl + 1);
	caps_notify_nodes(query, add_notify, &l);
	if (l.nomem) {
		for (uint32_t i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		free(c);
		return NULL;
	}
	if (l.over)
		LOG_INFO("%s: more than %d +notify features, the rest ignored", who,
			 CAPS_NOTIFY_MAX);
	qsort(l.v, l.n, sizeof(char *), cmp_str);
	/* a feature listed twice makes caps_ver_of_info refuse the answer,
	 * so the list has no duplicates */
	c->notify = l.v;
	c->n_notify = l.n;
	if (cache_room(r)) {
		c->cached = true;
		hmap_put(&r->caps, &c->by_key, c->key);
	}
	return c;
}

bool rt_caps_answer(struct router *r, struct stanza *st)
{
	struct rsess *s = st->from ? rt_find_live(r, st->from) : NULL;
	if (!s || !s->caps_want || !st->id)
		return false;
	char id[24];
	query_id(s, id);
	if (strcmp(st->id, id) != 0)
		return false;
	char *want = s->caps_want;
	s->caps_want = NULL;
	const char *key = want;
	const char *node = want + strlen(want) + 1;
	const struct xml_node *q = xml_node_child(st->tree, "query", NS_DISCO_INFO);
	bool ok = st->type && strcmp(st->type, "result") == 0 && q;
	if (ok) {
		const char *qn = xml_node_attr(q, "node");
		ok = !qn || strcmp(qn, node) == 0;
	}
	char algo[8] = "";
	const char *sp = strchr(key, ' ');
	if (sp && (size_t)(sp - key) < sizeof(algo)) {
		memcpy(algo, key, (size_t)(sp - key));
		algo[sp - key] = '\0';
	}
	char ver[CAPS_VER_MAX + 1];
	if (ok && (caps_ver_of_info(q, algo, ver, sizeof(ver)) != XS_OK || !sp ||
		   strcmp(ver, sp + 1) != 0)) {
		LOG_INFO("%s: its disco#info does not hash to its caps %s: not used", s->full, key);
		ok = false;
	}
	if (ok) {
		struct hmap_entry *e = hmap_get(&r->caps, key);
		struct rcaps *c = e ? container_of(e, struct rcaps, by_key)
				    : entry_of(r, key, q, s->full);
		if (c) {
			set_caps(r, s, c);
			if (c->refs == 1 && !c->cached)
				LOG_INFO("caps cache full ([im] max_caps_cache %u): %s kept for %s only",
					  r->cfg->max_caps_cache, key, s->full);
			if (s->available)
				services_caps(r, s->full, s->user->bare);
		}
	}
	free(want);
	return true;
}

/* ---- notifications ---- */

/* The event to the sessions of u that want node: one stanza for all of
 * them, built only if one does. */
static void notify_user(struct router *r, const char *owner, struct ruser *u, const char *node,
			const struct xml_node *event)
{
	struct rsess *s;
	for (s = u->sessions; s; s = s->next_in_user)
		if (s->available && !s->gone && rt_caps_wants(s, node))
			break;
	if (!s)
		return;
	struct xml_node *m = xml_node_new_elem("message", NS_CLIENT);
	struct xml_node *ev = xml_node_copy(event);
	char id[17];
	im_new_id(r, id);
	if (!m || !ev || xml_node_set_attr(m, "from", owner) != XS_OK ||
	    xml_node_set_attr(m, "to", u->bare) != XS_OK ||
	    xml_node_set_attr(m, "type", "headline") != XS_OK ||
	    xml_node_set_attr(m, "id", id) != XS_OK) {
		xml_node_free(m);
		xml_node_free(ev);
		return;
	}
	xml_node_add_child(m, ev);
	struct stanza *st = stanza_freeze(m);
	if (!st)
		return;
	for (; s; s = s->next_in_user)
		if (s->available && !s->gone && rt_caps_wants(s, node))
			rt_deliver(r, s, st, false);
	stanza_unref(st);
}

void im_pep_notify(struct router *r, const char *owner, const char *node, bool contacts,
		   const struct xml_node *event)
{
	struct ruser *u = rt_find_user(r, owner);
	if (!u)
		return;
	notify_user(r, owner, u, node, event);
	if (!contacts || u->roster_state != RS_READY)
		return;
	/* XEP-0163 4.3.1 with the presence access model: the contacts
	 * subscribed to the owner's presence (remote ones with s2s) */
	for (uint32_t i = 0; i < u->n_roster; i++) {
		struct ruser *c = rt_user_at(r, u->roster[i].who);
		if (!(u->roster[i].sub & ROSTER_SUB_FROM) || !c->local || c == u || !c->sessions)
			continue;
		if (rt_blocks(r, u, c->bare) ||
		    (c->roster_state == RS_READY && rt_blocks(r, c, u->bare)))
			continue;
		notify_user(r, owner, c, node, event);
	}
}

void im_pep_sources(struct router *r, const char *bare, void (*cb)(void *arg, const char *jid),
		    void *arg)
{
	struct ruser *u = rt_find_user(r, bare);
	if (!u)
		return;
	cb(arg, u->bare);
	for (uint32_t i = 0; u->roster_state == RS_READY && i < u->n_roster; i++) {
		struct ruser *c = rt_user_at(r, u->roster[i].who);
		if ((u->roster[i].sub & ROSTER_SUB_TO) && c->local && c != u && !rt_blocks(r, u, c->bare))
			cb(arg, c->bare);
	}
}

size_t im_session_notify(struct router *r, const char *full, const char *const **nodes)
{
	struct rsess *s = rt_find_live(r, full);
	if (!s || !s->caps) {
		*nodes = NULL;
		return 0;
	}
	*nodes = (const char *const *)s->caps->notify;
	return s->caps->n_notify;
}
