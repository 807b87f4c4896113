/* The router's outbound server-to-server links: one entry per pair (our
 * domain, a remote domain), owned by the router thread like every other
 * routing table (docs/internals/s2s.md, "Routing design").
 *
 * A stanza for a remote domain (rt_s2s_send) goes to the pair's link:
 *   - up: straight to the mux stream that carries it (MSG_DELIVER);
 *   - connecting: into the pair's queue, in order, bounded by [s2s]
 *     max_queue stanzas and max_queue_bytes;
 *   - none: a new entry, and MSG_S2S_CONNECT to the mux thread a hash of
 *     the pair picks (at most [s2s] max_outbound_links entries).
 * The mux answers once per attempt: MSG_S2S_UP (the queue goes out in
 * order) or MSG_S2S_DOWN (each waiting message and iq request bounces to
 * its local sender with remote-server-not-found or remote-server-timeout;
 * presence, errors and results are dropped, RFC 6120 8.3.1).  A link that
 * was up ends with MSG_S2S_DOWN too, and the next stanza starts a new one;
 * what its mux could no longer write comes back as MSG_UNDELIVERED and is
 * sent again the same way.
 *
 * Should the mux's answer be lost (it could not allocate it), the entry
 * goes stale [s2s] connect_timeout + 10 s after it started: the next
 * stanza for the pair bounces the queue with remote-server-timeout and
 * starts over. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/log.h"
#include "core/conf/cfg.h"
#include "core/route/router_priv.h"
#include "core/xmpp/stanza.h"

#define STALE_MARGIN_MS 10000
#define KEY_MAX (2 * 1024 + 2) /* two domains, a space, the NUL */

enum link_state { LINK_CONNECTING, LINK_UP };

/* A stanza waiting, and whom it is for when it does not say (a shared
 * broadcast presence has no 'to': the stream writes it in). */
struct waiting {
	struct stanza *st;
	char *to;
};

struct s2s_link {
	struct hmap_entry node;
	enum link_state state;
	struct sess_handle h;      /* LINK_UP: the stream */
	/* LINK_UP: a bidirectional inbound link (XEP-0288) the peer opened
	 * while ours was up; it takes over when ours goes down */
	struct sess_handle standby;
	bool has_standby;
	uint64_t stale_ms;         /* LINK_CONNECTING: the mux's answer is overdue */
	struct waiting *q;         /* oldest first: q[head .. head + n) */
	uint32_t head, n, cap;
	size_t bytes;
	char key[];                /* "local remote" */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int rt_s2s_init(struct router *r)
{
	return hmap_init(&r->s2s_links, 16);
}

static void link_free(struct router *r, struct s2s_link *l)
{
	hmap_del(&r->s2s_links, &l->node);
	for (uint32_t i = 0; i < l->n; i++) {
		stanza_unref(l->q[l->head + i].st);
		free(l->q[l->head + i].to);
	}
	free(l->q);
	free(l);
}

void rt_s2s_deinit(struct router *r)
{
	for (size_t i = 0; r->s2s_links.buckets && i < r->s2s_links.n_buckets; i++) {
		struct hmap_entry *e = r->s2s_links.buckets[i];
		while (e) {
			struct hmap_entry *next = e->next;
			link_free(r, container_of(e, struct s2s_link, node));
			e = next;
		}
	}
	hmap_deinit(&r->s2s_links);
}

/* What cannot reach a remote domain goes back to its local sender, as
 * RFC 6120 8.3.1 and 10.4.3 say: messages (not errors) and iq requests
 * get an error; presence, errors and results are dropped. */
static void bounce(struct router *r, struct stanza *st, enum stanza_cond cond)
{
	const char *type = st->type ? st->type : "";
	bool answer = st->kind == STANZA_MESSAGE ? strcmp(type, "error") != 0
		      : st->kind == STANZA_IQ   ? !strcmp(type, "get") || !strcmp(type, "set")
						 : false;
	if (answer)
		rt_reply_error(r, st, cond);
}

static void send_on(struct router *r, struct s2s_link *l, struct stanza *st, const char *to)
{
	struct msg *m = msg_new(MSG_DELIVER, st->to ? NULL : to);
	if (!m) {
		LOG_ERR("router: out of memory sending to %s", st->to);
		bounce(r, st, SC_RESOURCE_CONSTRAINT);
		return;
	}
	m->h = l->h;
	m->st = stanza_ref(st);
	m->status = 1; /* its only recipient: back as MSG_UNDELIVERED if the link is gone */
	rt_post(r, m);
	r->routed++;
}

/* The pair's queue bounces and the entry goes. */
static void link_failed(struct router *r, struct s2s_link *l, enum stanza_cond cond)
{
	LOG_INFO("s2s: %s: %u stanza(s) waiting bounce with %s", l->key, l->n,
		 stanza_cond_name(cond));
	/* bounced errors go to local senders: nothing comes back here */
	for (uint32_t i = 0; i < l->n; i++)
		bounce(r, l->q[l->head + i].st, cond);
	link_free(r, l);
}

static bool enqueue(struct router *r, struct s2s_link *l, struct stanza *st, const char *to)
{
	const struct cfg *cfg = r->cfg;
	if (l->n >= cfg->s2s_max_queue || l->bytes + st->len > cfg->s2s_max_queue_bytes) {
		LOG_WARN("s2s: %s: queue full ([s2s] max_queue = %u, max_queue_bytes = %zu): "
			 "%s to %s bounces",
			 l->key, cfg->s2s_max_queue, cfg->s2s_max_queue_bytes,
			 stanza_kind_name(st->kind), to);
		return false;
	}
	char *copy = st->to ? NULL : strdup(to);
	if (!st->to && !copy)
		return false;
	if (l->head + l->n == l->cap) {
		if (l->head) {
			memmove(l->q, l->q + l->head, l->n * sizeof(*l->q));
			l->head = 0;
		} else {
			uint32_t cap = l->cap ? l->cap * 2 : 8;
			struct waiting *q = realloc(l->q, cap * sizeof(*q));
			if (!q) {
				free(copy);
				return false;
			}
			l->q = q;
			l->cap = cap;
		}
	}
	l->q[l->head + l->n++] = (struct waiting){ stanza_ref(st), copy };
	l->bytes += st->len;
	return true;
}

/* A new entry for the pair key, connecting until told otherwise. */
static struct s2s_link *link_new(struct router *r, const char *key)
{
	size_t kl = strlen(key);
	struct s2s_link *l = calloc(1, sizeof(*l) + kl + 1);
	if (!l)
		return NULL;
	memcpy(l->key, key, kl + 1);
	l->state = LINK_CONNECTING;
	hmap_put(&r->s2s_links, &l->node, l->key);
	return l;
}

static struct s2s_link *link_start(struct router *r, const char *key)
{
	if (r->s2s_links.count >= r->cfg->s2s_max_links) {
		LOG_WARN("s2s: %s: no new link ([s2s] max_outbound_links = %u)", key,
			 r->cfg->s2s_max_links);
		return NULL;
	}
	struct msg *m = msg_new(MSG_S2S_CONNECT, key);
	struct s2s_link *l = m ? link_new(r, key) : NULL;
	if (!l) {
		LOG_ERR("s2s: %s: out of memory starting a link", key);
		msg_free(m);
		return NULL;
	}
	l->stale_ms = now_ms() + (uint64_t)r->cfg->s2s_connect_timeout_s * 1000 + STALE_MARGIN_MS;
	/* one thread per pair, spread by the map's keyed hash */
	uint32_t thread = (uint32_t)(hmap_hash(&r->s2s_links, key) % r->n_link_threads);
	m->h.thread = thread;
	rt_post(r, m); /* m is the mux's now */
	LOG_DEBUG("s2s: %s: link asked of mux%u", key, thread);
	return l;
}

void rt_s2s_send(struct router *r, struct stanza *st)
{
	rt_s2s_send_to(r, st, st->to);
}

/* The link table's key of st's pair: "local remote", the domains of its
 * 'from' and of to; false when either is missing or too long. */
static bool pair_key(const struct stanza *st, const char *to, char key[KEY_MAX])
{
	size_t ll, rl;
	const char *local = st->from ? rt_jid_domain(st->from, &ll) : NULL;
	const char *remote = to ? rt_jid_domain(to, &rl) : NULL;
	if (!local || !remote || ll >= 1024 || rl >= 1024)
		return false;
	snprintf(key, KEY_MAX, "%.*s %.*s", (int)ll, local, (int)rl, remote);
	return true;
}

void rt_s2s_send_to(struct router *r, struct stanza *st, const char *to)
{
	char key[KEY_MAX];
	if (!pair_key(st, to, key) || !im_is_local(r, st->from)) {
		LOG_DEBUG("s2s: %s from %s to %s: not from a local domain, dropped",
			  stanza_kind_name(st->kind), st->from ? st->from : "-", to ? to : "-");
		return;
	}
	struct hmap_entry *e = hmap_get(&r->s2s_links, key);
	struct s2s_link *l = e ? container_of(e, struct s2s_link, node) : NULL;
	if (l && l->state == LINK_CONNECTING && now_ms() > l->stale_ms) {
		LOG_WARN("s2s: %s: no answer from the mux about the link: starting over", key);
		link_failed(r, l, SC_REMOTE_SERVER_TIMEOUT);
		l = NULL;
	}
	if (!l && !(l = link_start(r, key))) {
		bounce(r, st, SC_RESOURCE_CONSTRAINT);
		return;
	}
	if (l->state == LINK_UP)
		send_on(r, l, st, to);
	else if (!enqueue(r, l, st, to))
		bounce(r, st, SC_RESOURCE_CONSTRAINT);
}

static struct s2s_link *link_of(struct router *r, const char *key)
{
	struct hmap_entry *e = hmap_get(&r->s2s_links, key);
	return e ? container_of(e, struct s2s_link, node) : NULL;
}

/* An inbound link made bidirectional (XEP-0288) offers to carry the
 * pair: taken when the pair has no link up (a connecting attempt's queue
 * goes out on it; the attempt, when it comes up, is closed as not
 * wanted).  When one is up, it stays on standby: it carries the peer's
 * stanzas, and ours once our link goes down, so that the next stanza
 * does not open a connection the peer's link makes needless. */
static struct s2s_link *inbound_offer(struct router *r, struct msg *m)
{
	struct s2s_link *l = link_of(r, m->data);
	if (l && l->state == LINK_UP) {
		if (!rt_handle_eq(l->h, m->h)) {
			LOG_DEBUG("s2s: %s: bidirectional inbound link on standby: one is up", l->key);
			l->standby = m->h;
			l->has_standby = true;
		}
		return NULL;
	}
	if (!l) {
		if (r->s2s_links.count >= r->cfg->s2s_max_links)
			return NULL; /* then the pair connects when it needs to (and is refused) */
		if (!(l = link_new(r, m->data))) {
			LOG_ERR("s2s: %s: out of memory taking a bidirectional link", m->data);
			return NULL;
		}
	}
	return l;
}

/* The pair's link went down: the peer's standby link, if there is one,
 * carries it from now on. */
static bool take_standby(struct s2s_link *l)
{
	if (!l->has_standby)
		return false;
	LOG_DEBUG("s2s: %s: down; the peer's bidirectional link carries it now", l->key);
	l->h = l->standby;
	l->has_standby = false;
	return true;
}

void rt_s2s_up(struct router *r, struct msg *m)
{
	struct s2s_link *l = m->status == S2S_UP_INBOUND ? inbound_offer(r, m) : link_of(r, m->data);
	if (m->status == S2S_UP_INBOUND && !l)
		return;
	if (!l || l->state != LINK_CONNECTING) {
		/* nobody waits for it (the entry went stale, or an inbound
		 * link carries the pair now): close it, without blame */
		struct msg *k = msg_new(MSG_KICK, "");
		if (k) {
			k->h = m->h;
			rt_post(r, k);
		}
		return;
	}
	l->state = LINK_UP;
	l->h = m->h;
	LOG_DEBUG("s2s: %s: up, %u stanza(s) waited", l->key, l->n);
	for (uint32_t i = 0; i < l->n; i++) {
		struct waiting *w = &l->q[l->head + i];
		send_on(r, l, w->st, w->to);
		stanza_unref(w->st);
		free(w->to);
	}
	free(l->q);
	l->q = NULL;
	l->head = l->n = l->cap = 0;
	l->bytes = 0;
}

void rt_s2s_down(struct router *r, struct msg *m)
{
	struct s2s_link *l = link_of(r, m->data);
	if (!l)
		return;
	if (l->state == LINK_UP) {
		if (l->has_standby && rt_handle_eq(l->standby, m->h)) {
			l->has_standby = false;
			return;
		}
		if (!rt_handle_eq(l->h, m->h))
			return; /* an older stream of the pair */
		if (take_standby(l))
			return;
		LOG_DEBUG("s2s: %s: down", l->key);
		link_free(r, l);
		return;
	}
	link_failed(r, l, m->status ? (enum stanza_cond)(m->status - 1) : SC_REMOTE_SERVER_NOT_FOUND);
}

void rt_s2s_undelivered(struct router *r, struct msg *m)
{
	struct stanza *st = m->st;
	const char *to = st->to ? st->to : m->data[0] ? m->data : NULL;
	char key[KEY_MAX];
	if (!pair_key(st, to, key))
		return;
	/* the stream it was sent to is gone: so is the link, even if its
	 * MSG_S2S_DOWN has not come (or never comes), or this would go back
	 * and forth between the router and the mux */
	struct s2s_link *l = link_of(r, key);
	if (l && l->state == LINK_UP && rt_handle_eq(l->h, m->h) && !take_standby(l)) {
		LOG_DEBUG("s2s: %s: its stream is gone", key);
		link_free(r, l);
	} else if (l && l->has_standby && rt_handle_eq(l->standby, m->h)) {
		l->has_standby = false;
	}
	rt_s2s_send_to(r, st, to);
}

size_t rt_s2s_count(const struct router *r)
{
	return r->s2s_links.count;
}
