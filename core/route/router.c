/* Router core; see router.h for its role and docs/internals/mux.md for
 * the baton.
 *
 * Tables: `by_full` maps a bound full JID to its struct rsess; `by_bare` maps
 * a bare JID to its struct ruser, which lists that account's sessions.  They
 * and everything else below `baton` in struct router are touched only by the
 * thread holding the baton. */
#include "core/route/router.h"

#include <errno.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/conf/cfg.h"
#include "core/base/hmap.h"
#include "core/base/log.h"
#include "core/base/siphash.h"
#include "core/route/im.h"
#include "core/route/msg.h"
#include "core/route/router_priv.h"
#include "core/route/stats.h"
#include "core/store/store_thread.h"
#include "core/xmpp/stanza.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/ns.h"


struct router *router_new(const struct cfg *cfg, struct queue *const *mux_inboxes, unsigned n_mux)
{
	struct router *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cfg = cfg;
	r->mux_inboxes = mux_inboxes;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->started_s = (uint64_t)ts.tv_sec;
	/* ids start at a random point so that two runs of the server do not
	 * hand out the same ones (XEP-0359 ids must be unique per archive) */
	struct siphash_key k;
	if (siphash_key_random(&k) == 0)
		memcpy(&r->id_next, &k, sizeof(r->id_next));
	r->id_next &= ~(1ULL << 63); /* room to count */
	r->epfd = -1;
	r->n_mux = n_mux;
	r->n_link_threads = n_mux;
	atomic_init(&r->stopped, false);
	pthread_mutex_init(&r->baton, NULL);
	if (queue_init(&r->inbox) != 0 || hmap_init(&r->by_full, 1024) != 0 ||
	    hmap_init(&r->by_bare, 1024) != 0 || rt_sm_init(r) != 0 || rt_caps_init(r) != 0 ||
	    rt_s2s_init(r) != 0) {
		router_free(r);
		return NULL;
	}
	return r;
}

void router_set_link_threads(struct router *r, unsigned n)
{
	if (n && n <= r->n_mux)
		r->n_link_threads = n;
}

struct queue *router_inbox(struct router *r)
{
	return &r->inbox;
}

/* ---- sending to mux threads ---- */

static void post(struct router *r, struct msg *m)
{
	if (m->h.thread >= r->n_mux) {
		msg_free(m);
		return;
	}
	struct queue *q = r->mux_inboxes[m->h.thread];
	/* the mux running this drain reads its own inbox right after it */
	if (q == r->local)
		queue_push_quiet(q, &m->qnode);
	else
		queue_push(q, &m->qnode);
}

void rt_post(struct router *r, struct msg *m)
{
	post(r, m);
}

/* sole: this session is the stanza's only recipient, so if its mux cannot
 * take it (MSG_UNDELIVERED) it must be routed again rather than dropped. */
void rt_deliver(struct router *r, struct rsess *s, struct stanza *st, bool sole)
{
	if (s->inactive && st->kind == STANZA_PRESENCE && rt_csi_hold(r, s, st))
		return;
	struct msg *m = msg_new(MSG_DELIVER, NULL);
	if (!m)
		return;
	m->h = s->h;
	m->st = stanza_ref(st);
	m->status = sole;
	post(r, m);
	r->routed++;
}

static void deliver(struct router *r, struct rsess *s, struct stanza *st)
{
	rt_deliver(r, s, st, true);
}

/* Tells a session's mux to close it; false (nothing sent) without memory,
 * and then the session must stay in the tables: it is still connected. */
static bool kick(struct router *r, struct sess_handle h, const char *cond)
{
	struct msg *m = msg_new(MSG_KICK, cond);
	if (!m)
		return false;
	m->h = h;
	post(r, m);
	return true;
}

/* ---- tables ---- */

struct rsess *rt_find_full(struct router *r, const char *full)
{
	struct hmap_entry *e = hmap_get(&r->by_full, full);
	return e ? container_of(e, struct rsess, by_full) : NULL;
}

/* A session that can still take stanzas (not one whose mux reported it
 * closing). */
struct rsess *rt_find_live(struct router *r, const char *full)
{
	struct rsess *s = rt_find_full(r, full);
	return s && !s->gone ? s : NULL;
}

struct ruser *rt_find_user(struct router *r, const char *bare)
{
	struct hmap_entry *e = hmap_get(&r->by_bare, bare);
	return e ? container_of(e, struct ruser, by_bare) : NULL;
}

static void sess_remove(struct router *r, struct rsess *s)
{
	struct ruser *u = s->user;
	struct rsess **pp = &u->sessions;
	while (*pp && *pp != s)
		pp = &(*pp)->next_in_user;
	if (*pp)
		*pp = s->next_in_user;
	hmap_del(&r->by_full, &s->by_full);
	rt_sm_forget(r, s);
	rt_caps_free_sess(r, s);
	free(s);
	if (!u->sessions) {
		rt_presence_offline(r, u);
		rt_user_release(r, u);
	}
}

bool rt_handle_eq(struct sess_handle a, struct sess_handle b)
{
	return a.thread == b.thread && a.slot == b.slot && a.gen == b.gen;
}

/* "user@domain/res" -> length of "user@domain". */
size_t rt_bare_len(const char *jid)
{
	const char *slash = strchr(jid, '/');
	return slash ? (size_t)(slash - jid) : strlen(jid);
}

/* Copies the bare part of jid into out, NUL-terminated; returns its length,
 * or SIZE_MAX (out untouched) when it does not fit. */
size_t rt_bare_copy(const char *jid, char out[BARE_MAX])
{
	size_t bl = rt_bare_len(jid);
	if (bl >= BARE_MAX)
		return SIZE_MAX;
	memcpy(out, jid, bl);
	out[bl] = '\0';
	return bl;
}

const char *rt_jid_domain(const char *jid, size_t *len)
{
	size_t bl = rt_bare_len(jid);
	const char *at = memchr(jid, '@', bl);
	const char *d = at ? at + 1 : jid;
	*len = bl - (size_t)(d - jid);
	return d;
}

bool rt_is_local_domain(struct router *r, const char *d, size_t len)
{
	for (size_t i = 0; i < r->cfg->n_hosts; i++) {
		const char *h = r->cfg->hosts[i].domain;
		if (strlen(h) == len && memcmp(h, d, len) == 0)
			return true;
	}
	return false;
}

/* ---- replies built by the router ---- */

void rt_reply_error(struct router *r, struct stanza *st, enum stanza_cond cond)
{
	if (!st->from)
		return;
	/* a remote sender's answer goes back over its server's link */
	bool remote = !im_is_local(r, st->from);
	struct rsess *s = remote ? NULL : rt_find_live(r, st->from);
	if (!s && !remote)
		return; /* sender gone: nothing to answer */
	struct stanza *err = stanza_error_reply(st->tree, NULL, cond, NULL);
	if (!err)
		return;
	LOG_DEBUG("bounce %s to %s: %s", st->tree->name, st->from, stanza_cond_name(cond));
	if (remote)
		rt_s2s_send(r, err);
	else
		deliver(r, s, err);
	stanza_unref(err);
	r->bounced++;
}

/* An iq result from `from` to the sender, with an optional payload. */
static void reply_iq_result(struct router *r, struct stanza *st, const char *from,
			    struct xml_node *payload)
{
	bool remote = st->from && !im_is_local(r, st->from);
	struct rsess *s = st->from && !remote ? rt_find_live(r, st->from) : NULL;
	struct xml_node *iq = xml_node_new_elem("iq", NS_CLIENT);
	if ((!s && !remote) || !iq) {
		xml_node_free(payload);
		xml_node_free(iq);
		return;
	}
	xml_node_set_attr(iq, "type", "result");
	if (st->id)
		xml_node_set_attr(iq, "id", st->id);
	if (from)
		xml_node_set_attr(iq, "from", from);
	xml_node_set_attr(iq, "to", st->from);
	if (payload)
		xml_node_add_child(iq, payload);
	struct stanza *res = stanza_freeze(iq);
	if (res && remote)
		rt_s2s_send(r, res);
	else if (res)
		deliver(r, s, res);
	stanza_unref(res);
}

static bool iq_is_request(const struct stanza *st)
{
	return st->type && (strcmp(st->type, "get") == 0 || strcmp(st->type, "set") == 0);
}

/* ---- the interface of the IM modules (im.h) ---- */

void im_iq_result(struct im_iq *q, struct xml_node *payload)
{
	if (q->answered) {
		xml_node_free(payload);
		return;
	}
	q->answered = true;
	/* RFC 6120 8.1.2.1: to one's own account the server answers without a from */
	reply_iq_result(q->r, q->st, q->target == IM_TO_ACCOUNT && q->own ? NULL : q->to, payload);
}

void im_iq_error(struct im_iq *q, enum stanza_cond cond)
{
	if (q->answered)
		return;
	q->answered = true;
	rt_reply_error(q->r, q->st, cond);
}

void im_new_id(struct router *r, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)r->id_next++);
}

bool im_archive_reserve(struct router *r)
{
	if (r->archive_pending >= r->cfg->max_archive_backlog)
		return false;
	r->archive_pending++;
	return true;
}

void im_archive_release(struct router *r)
{
	if (r->archive_pending)
		r->archive_pending--;
}

bool im_account_multi(struct router *r, const char *bare)
{
	struct ruser *u = rt_find_user(r, bare);
	return u && u->sessions && u->sessions->next_in_user;
}

uint64_t im_router_started(const struct router *r)
{
	return r->started_s;
}

void im_reply_result(struct router *r, struct stanza *st, const char *from,
		     struct xml_node *payload)
{
	reply_iq_result(r, st, from, payload);
}

void im_reply_error(struct router *r, struct stanza *st, enum stanza_cond cond)
{
	rt_reply_error(r, st, cond);
}

void im_reply_error_app(struct router *r, struct stanza *st, enum stanza_cond cond,
			const char *app_name, const char *app_ns)
{
	struct rsess *s = st->from ? rt_find_live(r, st->from) : NULL;
	struct stanza *err = s ? stanza_error_reply_app(st->tree, NULL, cond, app_name, app_ns) : NULL;
	if (!err)
		return;
	deliver(r, s, err);
	stanza_unref(err);
	r->bounced++;
}

void im_iq_error_app(struct im_iq *q, enum stanza_cond cond, const char *app_name,
		     const char *app_ns)
{
	if (q->answered)
		return;
	q->answered = true;
	im_reply_error_app(q->r, q->st, cond, app_name, app_ns);
}

const struct cfg *im_cfg(const struct router *r)
{
	return r->cfg;
}

void im_each_session(struct router *r, const char *bare,
		     void (*cb)(void *arg, const char *full, unsigned *flags), void *arg)
{
	struct ruser *u = rt_find_user(r, bare);
	for (struct rsess *s = u ? u->sessions : NULL; s; s = s->next_in_user)
		if (!s->gone)
			cb(arg, s->full, &s->im_flags);
}

void im_session_flag(struct router *r, const char *full, unsigned bits)
{
	struct rsess *s = rt_find_live(r, full);
	if (s)
		s->im_flags |= bits;
}

bool im_session_flagged(struct router *r, const char *full, unsigned bits)
{
	struct rsess *s = rt_find_live(r, full);
	return s && (s->im_flags & bits);
}

bool im_account_online(struct router *r, const char *bare)
{
	struct ruser *u = rt_find_user(r, bare);
	return u && u->sessions;
}

void im_session_unflag(struct router *r, const char *full, unsigned bits)
{
	struct rsess *s = rt_find_full(r, full);
	if (s)
		s->im_flags &= ~bits;
}

void im_end_sessions(struct router *r, const char *bare, const char *cond)
{
	struct ruser *u;
	/* sess_remove frees the user with its last session: look it up again */
	while ((u = rt_find_user(r, bare)) && u->sessions) {
		struct rsess *s = u->sessions;
		if (!kick(r, s->h, cond)) {
			LOG_ERR("out of memory closing the sessions of %s", bare);
			return;
		}
		rt_presence_end(r, s);
		sess_remove(r, s);
	}
}

void im_send_remote(struct router *r, struct stanza *st)
{
	rt_s2s_send(r, st);
}

void im_send_to(struct router *r, const char *full, struct stanza *st)
{
	struct rsess *s = rt_find_live(r, full);
	if (s)
		rt_deliver(r, s, st, false);
}

/* ---- storage for the IM modules ---- */

/* On the storage thread: the message was made at submit, so this cannot
 * fail for want of memory. */
static void store_done_cb(struct store_req *req, void *arg)
{
	struct router *r = arg;
	struct msg *m = req->ctx;
	queue_push(&r->inbox, &m->qnode);
}

/* A session's requests waiting for the store are bounded: each holds its
 * stanza and a job of a few KiB, and a client can send many iqs a second
 * within its input rate. */
enum xs im_store_submit(struct router *r, const struct im_module *mod, struct store_req *req,
			const char *full)
{
	if (!r->store)
		return XS_INVAL;
	struct rsess *s = full ? rt_find_live(r, full) : NULL;
	if (s && s->store_pending >= r->cfg->max_storage_requests) {
		LOG_INFO("%s: %u storage requests waiting ([limits] "
			 "max_storage_requests_per_session): refused",
			 full, s->store_pending);
		return XS_LIMIT;
	}
	if (req->op == STORE_OP_ROSTER_PUT || req->op == STORE_OP_ROSTER_REMOVE ||
	    req->op == STORE_OP_ROSTER_UPDATE)
		rt_roster_changing(r, req->local, req->domain);
	/* the session is named again at the answer, by JID and handle */
	struct msg *m = msg_new(MSG_STORE_DONE, s ? s->full : NULL);
	if (!m)
		return XS_NOMEM;
	m->ptr = req;
	m->owner = mod;
	if (s)
		m->h = s->h;
	req->ctx = m;
	req->done = store_done_cb;
	req->done_arg = r;
	enum xs st = store_thread_submit(r->store, req);
	if (st != XS_OK) {
		msg_free(m);
		return st;
	}
	if (s)
		s->store_pending++;
	return XS_OK;
}

static void handle_store_done(struct router *r, struct msg *m, bool cancelled)
{
	if (!cancelled && m->data[0]) {
		struct rsess *s = rt_find_full(r, m->data);
		if (s && rt_handle_eq(s->h, m->h) && s->store_pending)
			s->store_pending--;
	}
	const struct im_module *mod = m->owner;
	if (mod && mod->store_done)
		mod->store_done(r, m->ptr, cancelled);
}

void router_set_store(struct router *r, struct store_thread *store)
{
	r->store = store;
}

/* ---- routing ---- */

/* RFC 6121 8.5.1, 8.5.2, 8.5.3: to that session, or every available
 * resource of a bare JID; ignored silently when there is none. */
void rt_deliver_presence(struct router *r, struct stanza *st, const char *to)
{
	char bare[BARE_MAX];
	size_t bl = rt_bare_copy(to, bare);
	if (bl == SIZE_MAX)
		return;
	if (to[bl] == '/') {
		struct rsess *s = rt_find_live(r, to);
		if (s)
			deliver(r, s, st);
		return;
	}
	struct ruser *u = rt_find_user(r, bare);
	for (struct rsess *s = u ? u->sessions : NULL; s; s = s->next_in_user)
		if (s->available && !s->gone)
			rt_deliver(r, s, st, false);
}

static bool can_take_message(const struct rsess *s)
{
	return s->available && !s->gone && s->priority >= 0;
}

/* RFC 6121 §8.5.2.1.1: a message for the bare JID goes to every available
 * resource of the highest non-negative priority.  With none it is stored
 * (the offline module) or bounced, a headline dropped: never lost without
 * a word. */
/* A message was delivered to the sessions of u marked IM_SESS_GOT: the
 * modules that copy it to the others (carbons) are told, if there are
 * others. */
static void delivered(struct router *r, struct stanza *st, struct ruser *u)
{
	if (u->sessions->next_in_user)
		services_message_delivered(r, st, u->bare);
	for (struct rsess *s = u->sessions; s; s = s->next_in_user)
		s->im_flags &= ~IM_SESS_GOT;
}

/* again: st came back undelivered and is routed a second time; the
 * modules were told of the first delivery. */
static void deliver_to_best(struct router *r, struct stanza *st, const char *bare,
			    struct ruser *u, bool again)
{
	const char *type = st->type ? st->type : "";
	int best = -1, n = 0;

	if (u)
		for (struct rsess *s = u->sessions; s; s = s->next_in_user)
			if (can_take_message(s) && s->priority > best)
				best = s->priority;
	if (best < 0) {
		/* RFC 6121 8.5.2.1.1: normal and chat are stored (XEP-0160) or
		 * bounced, a headline dropped */
		bool storable = strcmp(type, "") == 0 || strcmp(type, "normal") == 0 ||
				strcmp(type, "chat") == 0;
		if (storable && services_message_offline(r, st, bare))
			return;
		if (strcmp(type, "headline") != 0)
			rt_reply_error(r, st, SC_SERVICE_UNAVAILABLE);
		return;
	}
	if (strcmp(type, "headline") == 0) {
		/* RFC 6121 8.5.2.1.1: a headline to every resource with a
		 * non-negative priority, not only the best */
		for (struct rsess *s = u->sessions; s; s = s->next_in_user)
			if (can_take_message(s))
				rt_deliver(r, s, st, false);
		return;
	}
	for (struct rsess *s = u->sessions; s; s = s->next_in_user)
		if (can_take_message(s) && s->priority == best)
			n++;
	for (struct rsess *s = u->sessions; s; s = s->next_in_user)
		if (can_take_message(s) && s->priority == best) {
			rt_deliver(r, s, st, n == 1);
			s->im_flags |= IM_SESS_GOT;
		}
	if (!again)
		delivered(r, st, u);
	else
		for (struct rsess *s = u->sessions; s; s = s->next_in_user)
			s->im_flags &= ~IM_SESS_GOT;
}

static void route_to_user(struct router *r, struct stanza *st, const char *to)
{
	char bare[BARE_MAX];
	size_t bl = rt_bare_copy(to, bare);
	if (bl == SIZE_MAX)
		return;
	bool full = to[bl] == '/';
	const char *type = st->type ? st->type : "";

	if (st->kind == STANZA_IQ) {
		if (!full) {
			if (!iq_is_request(st) && rt_caps_answer(r, st))
				return;
			/* the server answers for the account (RFC 6120 10.5.3.2) */
			bool own = st->from && rt_bare_len(st->from) == bl &&
				   memcmp(st->from, bare, bl) == 0;
			services_iq(r, st, bare, IM_TO_ACCOUNT, own);
			return;
		}
		struct rsess *s = rt_find_live(r, to);
		/* RFC 6121 8.5.3.1: a request to a resource that does not share
		 * its presence with the sender is answered as if the resource
		 * were not there, so that nobody learns who is online */
		if (s && iq_is_request(st) && r->cfg->iq_requires_presence &&
		    (!st->from || !rt_shares_presence(r, s, st->from)))
			s = NULL;
		if (s)
			deliver(r, s, st);
		else if (iq_is_request(st))
			rt_reply_error(r, st, SC_SERVICE_UNAVAILABLE);
		return;
	}

	if (st->kind == STANZA_PRESENCE) {
		rt_deliver_presence(r, st, to);
		return;
	}

	/* message */
	if (strcmp(type, "error") == 0 && !full)
		return;
	/* the modules may stamp it (XEP-0359 for the archive) before anyone
	 * sees it */
	struct stanza *stamped = strcmp(type, "error") != 0 && strcmp(type, "groupchat") != 0
					 ? services_message_in(r, st, bare)
					 : NULL;
	if (stamped)
		st = stamped;
	if (full) {
		struct rsess *s = rt_find_live(r, to);
		if (s) {
			deliver(r, s, st);
			s->im_flags |= IM_SESS_GOT;
			delivered(r, st, s->user);
			goto out;
		}
		/* RFC 6121 §8.5.3.2.1, no such resource: an error is ignored,
		 * a headline too (it is of the moment), groupchat gets an
		 * error.  chat goes as to the bare JID, and so does normal:
		 * the RFC would have it ignored or bounced, but Prosody and
		 * ejabberd keep it (offline when nobody is there), and a reply
		 * to a resource that has just gone is a message a user
		 * expects to find, not an error. */
		if (strcmp(type, "error") == 0 || strcmp(type, "headline") == 0)
			goto out;
		if (strcmp(type, "groupchat") == 0) {
			rt_reply_error(r, st, SC_SERVICE_UNAVAILABLE);
			goto out;
		}
	}
	if (strcmp(type, "groupchat") == 0) {
		rt_reply_error(r, st, SC_SERVICE_UNAVAILABLE);
		goto out;
	}
	/* looked up only now: a message for a full JID that is online (the
	 * usual case) needs no account lookup */
	deliver_to_best(r, st, bare, rt_find_user(r, bare), false);
out:
	stanza_unref(stamped);
}

/* A message or iq for the server itself (its domain, or domain/resource):
 * iq to the services, a message (not an error) answered
 * service-unavailable. */
static void to_server(struct router *r, struct stanza *st, const char *domain, size_t dl)
{
	char dom[1024];
	if (dl >= sizeof(dom))
		return;
	memcpy(dom, domain, dl);
	dom[dl] = '\0';
	if (st->kind == STANZA_IQ)
		services_iq(r, st, dom, IM_TO_SERVER, false);
	else if (st->kind == STANZA_MESSAGE && (!st->type || strcmp(st->type, "error") != 0))
		rt_reply_error(r, st, SC_SERVICE_UNAVAILABLE);
}

static void route(struct router *r, struct msg *m)
{
	struct stanza *st = m->st;
	struct rsess *sender = st->from ? rt_find_full(r, st->from) : NULL;
	if (!sender || !rt_handle_eq(sender->h, m->h))
		return; /* session ended meanwhile (or stale handle) */

	/* XEP-0191: between blocked parties nothing goes, either way */
	if (st->to && rt_block_stanza(r, st, sender, st->to))
		return;
	/* the sender's other resources may want a copy (carbons), its
	 * archive one (MAM) */
	if (st->kind == STANZA_MESSAGE)
		services_message_sent(r, st, sender->full, sender->user->sessions->next_in_user);
	const char *to = st->to;
	char own_bare[3072];
	if (!to) {
		if (st->kind == STANZA_PRESENCE) {
			rt_presence_broadcast(r, st, sender);
			return;
		}
		size_t bl = rt_bare_len(st->from);
		memcpy(own_bare, st->from, bl);
		own_bare[bl] = '\0';
		to = own_bare;
	}
	if (st->kind == STANZA_PRESENCE) {
		rt_presence_directed(r, st, sender, to);
		return;
	}
	size_t dl;
	const char *domain = rt_jid_domain(to, &dl);
	if (!rt_is_local_domain(r, domain, dl)) {
		rt_s2s_send(r, st);
		return;
	}
	if (domain == to) {
		to_server(r, st, domain, dl);
		return;
	}
	route_to_user(r, st, to);
}

/* A stanza from an authenticated inbound server link (s2s/s2s_in.c has
 * checked that 'from' is of the link's remote domain and 'to' of ours).
 * Messages and iq go where a local sender's would, and answers to the
 * remote sender (errors, iq results) go back over our own link to its
 * server (s2s_links.c); presence goes through the rosters
 * (presence.c). */
static void route_from_remote(struct router *r, struct msg *m)
{
	struct stanza *st = m->st;
	if (m->status) {
		rt_reply_error(r, st, (enum stanza_cond)(m->status - 1));
		return;
	}
	const char *to = st->to;
	size_t dl;
	const char *domain = rt_jid_domain(to, &dl);
	if (!rt_is_local_domain(r, domain, dl))
		return;
	if (st->kind == STANZA_PRESENCE) {
		if (domain != to)
			rt_presence_from_remote(r, st);
		return;
	}
	/* XEP-0191 3.6: what a local account blocks does not reach it */
	if (rt_block_inbound(r, st, to))
		return;
	if (domain == to) {
		to_server(r, st, domain, dl);
		return;
	}
	route_to_user(r, st, to);
}

static void handle_bind(struct router *r, struct msg *m)
{
	const char *full = m->data;
	struct msg *res = msg_new(MSG_BIND_RESULT, full);
	if (!res) {
		/* the client's bind times out with the pre-auth timer */
		LOG_ERR("out of memory answering the bind of %s", full);
		return;
	}
	res->h = m->h;
	struct rsess *old = rt_find_full(r, full);
	if (old) {
		/* RFC 6120 §7.7.2.2: the new session wins; the old one is
		 * closed with a <conflict/> stream error.  If it cannot be
		 * told so, it stays, and the new bind fails instead. */
		if (!kick(r, old->h, "conflict")) {
			LOG_ERR("out of memory closing the older session of %s: bind refused", full);
			res->status = SC_RESOURCE_CONSTRAINT + 1;
			post(r, res);
			return;
		}
		LOG_INFO("resource conflict on %s: closing the older session", full);
		rt_presence_end(r, old);
		sess_remove(r, old);
	}
	char bare[BARE_MAX];
	size_t bl = rt_bare_copy(full, bare);
	struct rsess *s = calloc(1, sizeof(*s) + strlen(full) + 1);
	if (!s || bl == SIZE_MAX)
		goto fail;
	struct ruser *u = rt_user_get(r, bare);
	if (!u)
		goto fail;
	strcpy(s->full, full);
	s->h = m->h;
	s->user = u;
	s->next_in_user = u->sessions;
	u->sessions = s;
	hmap_put(&r->by_full, &s->by_full, s->full);
	res->status = 0;
	post(r, res);
	rt_presence_bound(r, s);
	return;
fail:
	free(s);
	res->status = SC_RESOURCE_CONSTRAINT + 1;
	post(r, res);
}

/* Closes s with the stream error cond (MSG_KICK's data), as a newer
 * session's conflict does: whoever had its presence is told, and it leaves
 * the tables.  False, nothing done, without memory. */
bool rt_close_session(struct router *r, struct rsess *s, const char *cond)
{
	if (!kick(r, s->h, cond))
		return false;
	rt_presence_end(r, s);
	sess_remove(r, s);
	return true;
}

void rt_end_session(struct router *r, struct rsess *s)
{
	/* the stream may have ended without unavailable presence (RFC 6121
	 * 4.5.3.1): whoever had the session's presence is told */
	rt_presence_end(r, s);
	sess_remove(r, s);
}

static void handle_unbind(struct router *r, struct msg *m)
{
	struct rsess *s = rt_find_full(r, m->data);
	if (!s || !rt_handle_eq(s->h, m->h))
		return; /* already replaced by a newer session */
	rt_end_session(r, s);
}

/* A mux could not hand st to the session m->h (it was closing, or already
 * gone): from now on that session takes nothing, and st is routed as if
 * that resource had not been there (RFC 6121 §8.5.3.2), instead of being
 * lost.  A copy from a fan-out (presence, a message to several resources)
 * needs nothing more: the others have theirs. */
static void handle_undelivered(struct router *r, struct msg *m)
{
	struct stanza *st = m->st;
	const char *to = st->to ? st->to : m->data[0] ? m->data : NULL;
	if (to && !im_is_local(r, to)) {
		/* its link went down under it: a new one takes it */
		rt_s2s_undelivered(r, m);
		return;
	}
	const char *type = st->type ? st->type : "";
	char bare[BARE_MAX];
	size_t bl = st->to ? rt_bare_copy(st->to, bare) : SIZE_MAX;
	struct ruser *u = bl != SIZE_MAX ? rt_find_user(r, bare) : NULL;

	for (struct rsess *o = u ? u->sessions : NULL; o; o = o->next_in_user)
		if (rt_handle_eq(o->h, m->h))
			o->gone = true; /* its unavailable presence still goes out at unbind */
	if (!m->status)
		return;
	LOG_DEBUG("router: %s to %s came back undelivered", stanza_kind_name(st->kind),
		  st->to ? st->to : "(none)");
	if (st->kind == STANZA_IQ) {
		if (iq_is_request(st))
			rt_reply_error(r, st, SC_SERVICE_UNAVAILABLE);
		return;
	}
	if (st->kind != STANZA_MESSAGE || !strcmp(type, "error") || !st->to)
		return;
	if (!strcmp(type, "groupchat")) {
		rt_reply_error(r, st, SC_SERVICE_UNAVAILABLE);
		return;
	}
	if (bl == SIZE_MAX)
		return;
	/* a headline for one resource is not resent to others (§8.5.3.2.1) */
	if (st->to[bl] == '/' && !strcmp(type, "headline"))
		return;
	deliver_to_best(r, st, bare, u, true);
}

/* GET /metrics asks (core/route/stats.h): the router's part, to the
 * asking connection's thread.  Without memory it does not answer: the
 * request then ends with what the others sent. */
void im_count_offline_stored(struct router *r)
{
	r->offline_stored++;
}

static void rt_stats(struct router *r, struct msg *m)
{
	struct stats_part *p = calloc(1, sizeof(*p));
	struct msg *a = p ? msg_new(MSG_STATS_REPLY, NULL) : NULL;
	if (!a) {
		free(p);
		LOG_WARN("router: out of memory answering a metrics request");
		return;
	}
	p->thread = -1;
	p->inbox_depth = (uint64_t)queue_len(&r->inbox);
	p->sessions = r->by_full.count;
	p->s2s_links = rt_s2s_count(r);
	p->routed_total = r->routed;
	p->bounced_total = r->bounced;
	p->offline_stored_total = r->offline_stored;
	a->h = m->h;
	a->ptr = p;
	rt_post(r, a);
}

static void dispatch(struct router *r, struct msg *m)
{
	switch (m->type) {
	case MSG_BIND:
		handle_bind(r, m);
		break;
	case MSG_UNBIND:
		handle_unbind(r, m);
		break;
	case MSG_STANZA:
		route(r, m);
		break;
	case MSG_UNDELIVERED:
		handle_undelivered(r, m);
		break;
	case MSG_S2S_STANZA:
		route_from_remote(r, m);
		break;
	case MSG_S2S_UP:
		rt_s2s_up(r, m);
		break;
	case MSG_S2S_DOWN:
		rt_s2s_down(r, m);
		break;
	case MSG_CSI: {
		struct rsess *s = rt_find_full(r, m->data);
		if (s && rt_handle_eq(s->h, m->h))
			rt_csi_set(r, s, m->status != 0);
		break;
	}
	case MSG_SM_ENABLE:
		rt_sm_enable(r, m);
		break;
	case MSG_SM_RESUME:
		rt_sm_resume(r, m);
		break;
	case MSG_STORE_DONE:
		handle_store_done(r, m, false);
		break;
	case MSG_CTL:
		rt_ctl(r, m);
		break;
	case MSG_STATS:
		rt_stats(r, m);
		break;
	case MSG_SHUTDOWN:
		atomic_store(&r->stopped, true);
		break;
	default:
		LOG_WARN("router: unexpected message %d", (int)m->type);
		break;
	}
	msg_free(m);
}

/* Messages one holder of the baton handles before it lets go, so that a
 * mux thread draining in place gets back to its sockets. */
#define DRAIN_BUDGET 256

/* Holding the baton: dispatches up to DRAIN_BUDGET messages.  True when it
 * stopped on the budget with messages left. */
static bool drain_some(struct router *r)
{
	for (unsigned n = 0; n < DRAIN_BUDGET; n++) {
		if (atomic_load_explicit(&r->stopped, memory_order_relaxed))
			return false;
		struct queue_node *qn = queue_pop(&r->inbox);
		if (!qn)
			return false;
		dispatch(r, container_of(qn, struct msg, qnode));
	}
	return !queue_is_empty(&r->inbox);
}

/* The combining protocol.  local is the caller's inbox, or NULL for the
 * router thread, which waits for the baton instead of giving up.  A
 * producer that pushed quietly calls this; if another thread holds the
 * baton, that holder is bound to look at the inbox again after it lets go
 * (the check below), and it will find the message: the producer's push
 * comes before its failed trylock, the holder's unlock before its
 * emptiness check, with a full fence on each side, so at least one of the
 * two sees the other.  Whoever finds the inbox non-empty after letting go
 * tries again. */
static void drain_loop(struct router *r, struct queue *local)
{
	for (;;) {
		atomic_thread_fence(memory_order_seq_cst);
		if (local) {
			if (pthread_mutex_trylock(&r->baton) != 0)
				return;
		} else {
			pthread_mutex_lock(&r->baton);
		}
		r->local = local;
		bool more = drain_some(r);
		r->local = NULL;
		pthread_mutex_unlock(&r->baton);
		if (more && local) {
			/* the rest is the router thread's: back to the sockets */
			queue_signal(&r->inbox);
			return;
		}
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load(&r->stopped) || queue_is_empty(&r->inbox))
			return;
	}
}

void router_drain(struct router *r, struct queue *local)
{
	if (local)
		drain_loop(r, local);
}

static void *router_main(void *arg)
{
	struct router *r = arg;
	log_set_thread_name("router");
	/* SCHED_BATCH: a router woken by a mux push does not preempt the mux
	 * that pushed.  Where they share a core, the mux finishes reading its
	 * socket batch first and the router then routes the whole batch in
	 * one wake-up.  Measured with one core for the server at 10,000 msg/s
	 * (bench/compare.sh pinning): router wake-ups 8,700/s -> 1,000/s, mux
	 * preemptions 8,500/s -> ~0, server CPU per 1000 messages 0.041 ->
	 * 0.031 (means of three runs), p50/p99 latency unchanged.  The cost:
	 * when every core is busy the router waits for the end of a time
	 * slice instead of cutting in.  (Since then the mux threads route
	 * what they hand over themselves, router_drain, and this thread wakes
	 * only for what they leave.) */
	struct sched_param sp = { 0 };
	int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
	if (rc != 0)
		LOG_WARN("router: cannot set SCHED_BATCH: %s", strerror(rc));
	while (!atomic_load(&r->stopped)) {
		/* one epoll_wait per wake-up, no read: see queue_watch_edge */
		struct epoll_event ev;
		if (epoll_wait(r->epfd, &ev, 1, -1) < 0 && errno != EINTR)
			break;
		drain_loop(r, NULL);
	}
	pthread_mutex_lock(&r->baton);
	LOG_INFO("router: stopped after routing %lu stanzas, %lu bounced", r->routed, r->bounced);
	pthread_mutex_unlock(&r->baton);
	return NULL;
}

int router_start(struct router *r)
{
	/* Made here rather than in the thread so that a failure is reported
	 * to the caller.  Anything queued before the thread starts is an
	 * edge already recorded: the first wait returns at once. */
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0 || queue_watch_edge(&r->inbox, r->epfd, 0) != 0) {
		LOG_ERR("router: cannot watch the inbox: %s", strerror(errno));
		return -1;
	}
	if (pthread_create(&r->thread, NULL, router_main, r) != 0)
		return -1;
	r->started = true;
	return 0;
}

void router_stop(struct router *r)
{
	if (!r->started)
		return;
	struct msg *m = msg_new(MSG_SHUTDOWN, NULL);
	if (m)
		queue_push_quiet(&r->inbox, &m->qnode);
	else
		atomic_store(&r->stopped, true);
	/* always: the inbox may have held messages pushed quietly */
	queue_signal(&r->inbox);
	pthread_join(r->thread, NULL);
	r->started = false;
}

void router_free(struct router *r)
{
	if (!r)
		return;
	struct queue_node *n;
	if (r->inbox.efd >= 0)
		while ((n = queue_pop(&r->inbox))) {
			struct msg *m = container_of(n, struct msg, qnode);
			/* the module frees what its request holds; nothing is sent:
			 * the mux inboxes may be gone */
			if (m->type == MSG_STORE_DONE)
				handle_store_done(r, m, true);
			msg_free(m);
		}
	for (size_t i = 0; r->by_full.buckets && i < r->by_full.n_buckets; i++) {
		struct hmap_entry *e = r->by_full.buckets[i];
		while (e) {
			struct hmap_entry *next = e->next;
			struct rsess *s = container_of(e, struct rsess, by_full);
			rt_presence_free_sess(s);
			rt_sm_free_sess(s);
			rt_caps_free_sess(NULL, s);
			free(s);
			e = next;
		}
	}
	for (size_t i = 0; r->by_bare.buckets && i < r->by_bare.n_buckets; i++) {
		struct hmap_entry *e = r->by_bare.buckets[i];
		while (e) {
			struct hmap_entry *next = e->next;
			struct ruser *u = container_of(e, struct ruser, by_bare);
			rt_presence_free_user(u);
			free(u);
			e = next;
		}
	}
	hmap_deinit(&r->by_full);
	hmap_deinit(&r->by_bare);
	rt_s2s_deinit(r);
	rt_sm_deinit(r);
	rt_caps_deinit(r);
	rt_users_free(r);
	if (r->epfd >= 0)
		close(r->epfd);
	queue_deinit(&r->inbox);
	pthread_mutex_destroy(&r->baton);
	free(r);
}
