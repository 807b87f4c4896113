/* The storage worker thread; see store_thread.h for the contract.
 *
 * The worker sleeps in poll(2) on its inbox's eventfd, drains the inbox after
 * each wake-up and executes each request against the store handle it alone
 * uses.  Stopping is a sentinel node pushed after the last accepted request:
 * the inbox is FIFO, so by the time the worker pops the sentinel it has
 * executed everything submitted before it.
 *
 * Archive appends are run in batches (STORE_MAM_BATCH in store_thread.h).
 * The inbox cannot be peeked, so the worker pops the requests behind an
 * append one at a time; the first that is no append (another op, or the
 * sentinel) ends the batch and is carried over to be handled right after
 * it, exactly as if it had been popped next.  So the order of the inbox is
 * the order of execution, batches included, and the sentinel still comes
 * after everything.
 *
 * Retention ([im] archive_expires_after; store_thread_start) is the
 * worker's own work, timed by its poll: the poll waits no longer than
 * until the next pass is due, and while a pass is under way not at all.
 * A pass is a series of store_mam_expire calls of STORE_MAM_EXPIRE_BATCH
 * messages each, one per round of the loop, after the requests waiting
 * at that moment (at most STORE_EXPIRE_YIELD of them, so a steady stream
 * of requests cannot starve it either): a request waits for one batch at
 * most, never for the whole pass. */
#include "core/store/store_thread.h"
#include "core/route/stats.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/auth/sasl_scram.h"
#include "core/base/log.h"
#include "core/store/store.h"

/* ThreadSanitizer cannot see the ordering the inbox provides: liburcu's
 * wfcqueue is an uninstrumented library built on inline-assembly atomics.
 * The hand-offs of a request (submitter -> worker, worker -> whoever done
 * passes it to) are therefore declared to it explicitly; in other builds
 * these are no-ops.  Better placed in queue.c, where every inbox would get
 * them; until then the storage hop carries its own. */
#if defined(__SANITIZE_THREAD__)
#define STORE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STORE_TSAN 1
#endif
#endif
#ifdef STORE_TSAN
#include <sanitizer/tsan_interface.h>
#define store_hb_release(p) __tsan_release(p)
#define store_hb_acquire(p) __tsan_acquire(p)
#else
#define store_hb_release(p) ((void)(p))
#define store_hb_acquire(p) ((void)(p))
#endif

/* A request slower than this is logged: the disk (or a lock held by another
 * process such as the admin tool) is holding up every login behind it. */
#define STORE_SLOW_NS (500 * 1000000LL)

struct store_thread {
	struct queue inbox;
	struct store *st;          /* used only by the worker once it runs */
	pthread_t thread;
	struct queue_node stop_node;
	atomic_bool stopping;
	/* Submits between their "stopping?" check and their push: stop waits
	 * for this to reach zero before pushing the sentinel, so no accepted
	 * request can land behind it and be lost. */
	atomic_uint submitting;
	/* the worker's cache of store_iteration_counts, per hash */
	struct store_iter_count iters[2][STORE_REQ_ITERS];
	size_t n_iters[2];
	long long iters_ns[2];     /* when read; 0: never */
	/* the MAM_APPEND batch being run, and copies of its items side by
	 * side, as store_mam_append takes them */
	struct store_req *batch[STORE_MAM_BATCH];
	struct store_mam_item batch_items[STORE_MAM_BATCH];
	bool batch_denied[STORE_MAM_BATCH];
	/* retention: the age at which archived messages go (0: never), the
	 * time between passes, when the next is due (monotonic), and the pass
	 * under way: its cutoff (wall clock, as the stamps) and its count */
	int64_t expire_after_us;
	long long expire_every_ns;
	long long expire_next_ns;
	bool expiring;
	int64_t expire_cutoff_us;
	unsigned long expire_total;
	unsigned expire_days;
	/* requests by time from submit to answer (STORE_OP_STATS) */
	uint64_t lat_buckets[STATS_STORE_BUCKETS];
	uint64_t lat_count, lat_sum_us;
};

#define ITERS_MAX_AGE_NS (60LL * 1000 * 1000 * 1000)

static void store_thread_seterr(char *err, size_t errlen, const char *what, int errnum)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", what, strerror(errnum));
}

static long long store_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *store_op_name(enum store_op op)
{
	switch (op) {
	case STORE_OP_GET_CRED: return "get_cred";
	case STORE_OP_USER_EXISTS: return "user_exists";
	case STORE_OP_ROSTER_GET: return "roster_get";
	case STORE_OP_ROSTER_PUT: return "roster_put";
	case STORE_OP_ROSTER_REMOVE: return "roster_remove";
	case STORE_OP_ROSTER_UPDATE: return "roster_update";
	case STORE_OP_OFFLINE_PUSH: return "offline_push";
	case STORE_OP_OFFLINE_LIST: return "offline_list";
	case STORE_OP_OFFLINE_DELETE: return "offline_delete";
	case STORE_OP_DATA_GET: return "data_get";
	case STORE_OP_DATA_PUT: return "data_put";
	case STORE_OP_BLOCK_LIST: return "block_list";
	case STORE_OP_BLOCK_CHANGE: return "block_change";
	case STORE_OP_USER_CREATE: return "user_create";
	case STORE_OP_USER_SET_PASSWORD: return "user_set_password";
	case STORE_OP_USER_DELETE: return "user_delete";
	case STORE_OP_MAM_APPEND: return "mam_append";
	case STORE_OP_MAM_QUERY: return "mam_query";
	case STORE_OP_MAM_EXPIRE: return "mam_expire";
	case STORE_OP_MAM_PREFS_GET: return "mam_prefs_get";
	case STORE_OP_MAM_PREFS_SET: return "mam_prefs_set";
	case STORE_OP_PEP_PUBLISH: return "pep_publish";
	case STORE_OP_PEP_ITEMS: return "pep_items";
	case STORE_OP_PEP_RETRACT: return "pep_retract";
	case STORE_OP_PEP_DELETE: return "pep_delete";
	case STORE_OP_PEP_PURGE: return "pep_purge";
	case STORE_OP_PEP_CONFIG_GET: return "pep_config_get";
	case STORE_OP_PEP_CONFIG_SET: return "pep_config_set";
	case STORE_OP_PEP_NODES: return "pep_nodes";
	case STORE_OP_PEP_LAST: return "pep_last";
	case STORE_OP_PEP_REPLACE: return "pep_replace";
	case STORE_OP_STATS: return "stats";
	}
	return "?";
}

/* For an unknown user: the counts real accounts use, from a cache read at
 * most a minute ago (a GROUP BY over all accounts is not for every
 * failed lookup). */
static void fill_iteration_counts(struct store_thread *t, struct store_req *req)
{
	int h = req->hash == SCRAM_SHA1 ? 0 : 1;
	long long now = store_now_ns();
	if (!t->iters_ns[h] || now - t->iters_ns[h] > ITERS_MAX_AGE_NS) {
		size_t n = 0;
		if (store_iteration_counts(t->st, req->hash, t->iters[h], STORE_REQ_ITERS, &n) ==
		    XS_OK) {
			t->n_iters[h] = n;
			t->iters_ns[h] = now;
		}
	}
	memcpy(req->iters, t->iters[h], t->n_iters[h] * sizeof(req->iters[0]));
	req->n_iters = (unsigned)t->n_iters[h];
}

/* Collects a roster into req->items; on allocation failure the request
 * fails with XS_NOMEM (and what was collected is freed). */
struct roster_collect {
	struct store_req *req;
	size_t cap;
	bool nomem;
};

static char *dup_or_null(const char *s, bool *nomem)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*nomem = true;
	return d;
}

static void roster_collect_item(void *arg, const struct store_roster_item *it)
{
	struct roster_collect *rc = arg;
	struct store_req *req = rc->req;
	if (rc->nomem)
		return;
	if (req->n_items == rc->cap) {
		size_t cap = rc->cap ? rc->cap * 2 : 16;
		struct store_roster_item *n = realloc(req->items, cap * sizeof(*n));
		if (!n) {
			rc->nomem = true;
			return;
		}
		req->items = n;
		rc->cap = cap;
	}
	struct store_roster_item *d = &req->items[req->n_items++];
	*d = *it;
	d->contact = dup_or_null(it->contact, &rc->nomem);
	d->name = dup_or_null(it->name, &rc->nomem);
	d->groups = dup_or_null(it->groups, &rc->nomem);
}

/* Collects blocked JIDs into req->blocked (XS_NOMEM and nothing on
 * allocation failure, as for the roster). */
struct blocked_collect {
	struct store_req *req;
	size_t cap;
	bool nomem;
};

static void blocked_collect_jid(void *arg, const char *jid)
{
	struct blocked_collect *bc = arg;
	struct store_req *req = bc->req;
	if (bc->nomem)
		return;
	if (req->n_blocked == bc->cap) {
		size_t cap = bc->cap ? bc->cap * 2 : 16;
		char **n = realloc(req->blocked, cap * sizeof(*n));
		if (!n) {
			bc->nomem = true;
			return;
		}
		req->blocked = n;
		bc->cap = cap;
	}
	char *d = strdup(jid);
	if (!d) {
		bc->nomem = true;
		return;
	}
	req->blocked[req->n_blocked++] = d;
}

static void blocked_drop(struct store_req *req)
{
	store_strings_free(req->blocked, req->n_blocked);
	req->blocked = NULL;
	req->n_blocked = 0;
}

/* With with_blocklist, the blocklist comes from the roster's snapshot
 * (store_roster_get_with_blocklist): at login the router learns both in
 * one request, and never a roster and a blocklist of two moments. */
static void roster_get(struct store_thread *t, struct store_req *req)
{
	struct roster_collect rc = { .req = req };
	struct blocked_collect bc = { .req = req };
	if (req->with_blocklist)
		req->status = store_roster_get_with_blocklist(t->st, req->domain, req->local,
							      roster_collect_item, &rc, &req->ver,
							      blocked_collect_jid, &bc);
	else if (req->has_known_ver)
		req->status = store_roster_get_since(t->st, req->domain, req->local,
						     roster_collect_item, &rc, req->known_ver,
						     &req->ver, &req->ver_unchanged);
	else
		req->status = store_roster_get(t->st, req->domain, req->local,
					       roster_collect_item, &rc, &req->ver);
	if (req->status == XS_OK && (rc.nomem || bc.nomem))
		req->status = XS_NOMEM;
	if (req->status != XS_OK) {
		store_roster_items_free(req->items, req->n_items);
		req->items = NULL;
		req->n_items = 0;
		req->ver = 0;
		req->ver_unchanged = false;
		blocked_drop(req);
	}
}

static void block_list(struct store_thread *t, struct store_req *req)
{
	struct blocked_collect bc = { .req = req };
	req->status = store_block_list(t->st, req->domain, req->local, blocked_collect_jid, &bc);
	if (req->status == XS_OK && bc.nomem)
		req->status = XS_NOMEM;
	if (req->status != XS_OK)
		blocked_drop(req);
}

/* XS_DENIED when req->sender is set and local@domain blocks it: a request
 * that writes what a contact sent (a message queued, a subscription
 * recorded) must not let a blocked contact in.  A read of its own before
 * the write rather than part of its transaction: this thread runs one
 * request at a time and is the only one that changes blocklists, so
 * nothing can change the answer in between. */
static enum xs sender_check(struct store_thread *t, const struct store_req *req)
{
	bool blocked = false;

	if (!req->sender[0])
		return XS_OK;
	enum xs rc = store_block_match(t->st, req->domain, req->local, req->sender, &blocked);
	if (rc == XS_OK && blocked)
		rc = XS_DENIED;
	return rc;
}

/* Runs the requester's roster_apply for store_roster_update and keeps what
 * the request reports.  The copy of the item is made here, inside the
 * store's call: the store's strings and apply's own last only until
 * store_roster_update returns.  That is before anything is written, so
 * running out of memory for it writes nothing (ROSTER_UNCHANGED) and the
 * request fails with XS_NOMEM: the requester, which treats that like any
 * store failure, and the file agree. */
struct roster_update_ctx {
	struct store_req *req;
	bool nomem;
};

static enum roster_change roster_update_apply(void *arg, struct store_roster_item *it,
					      bool existed)
{
	struct roster_update_ctx *ru = arg;
	struct store_req *req = ru->req;
	const struct store_roster_item before = *it;

	req->existed = existed;
	req->prev_subscription = it->subscription;
	req->prev_ask = it->ask;
	enum roster_change change = req->roster_apply(req->roster_apply_arg, it, existed);
	/* As the store takes it: deleting nothing changes nothing. */
	if (change == ROSTER_DELETE && !existed)
		change = ROSTER_UNCHANGED;
	/* What the store holds once this is done (a deleted item as it
	 * was).  A WRITE the store then refuses is freed again below. */
	const struct store_roster_item *now = change == ROSTER_WRITE ? it : &before;
	req->updated = *now;
	req->updated.contact = dup_or_null(now->contact, &ru->nomem);
	req->updated.name = dup_or_null(now->name, &ru->nomem);
	req->updated.groups = dup_or_null(now->groups, &ru->nomem);
	if (ru->nomem)
		return ROSTER_UNCHANGED;
	req->change = change;
	return change;
}

static void roster_update(struct store_thread *t, struct store_req *req)
{
	struct roster_update_ctx ru = { .req = req };

	bool exists = true;
	if (!req->roster_apply)
		req->status = XS_INVAL;
	else if (req->need_account &&
		 (req->status = store_user_exists(t->st, req->domain, req->local, &exists)) !=
			 XS_OK)
		; /* the store failed */
	else if (!exists)
		req->status = XS_NOTFOUND; /* nothing kept for a name nobody owns */
	else if ((req->status = sender_check(t, req)) != XS_OK)
		; /* blocked (apply never runs), or the store failed */
	else
		req->status = store_roster_update(t->st, req->domain, req->local,
						  req->item.contact, roster_update_apply, &ru,
						  req->max_items, &req->ver);
	if (req->status == XS_OK && ru.nomem)
		req->status = XS_NOMEM;
	if (req->status != XS_OK) {
		store_roster_item_clear(&req->updated);
		memset(&req->updated, 0, sizeof(req->updated));
		req->existed = false;
		req->prev_subscription = req->prev_ask = 0;
		req->change = ROSTER_UNCHANGED;
		req->ver = 0;
	}
}

/* Collects the offline queue into req->msgs (XS_NOMEM and nothing on
 * allocation failure). */
struct offline_collect {
	struct store_req *req;
	size_t cap;
	bool nomem;
};

static void offline_collect_msg(void *arg, const struct store_offline_msg *m)
{
	struct offline_collect *oc = arg;
	struct store_req *req = oc->req;
	if (oc->nomem)
		return;
	if (req->n_msgs == oc->cap) {
		size_t cap = oc->cap ? oc->cap * 2 : 16;
		struct store_offline_msg *n = realloc(req->msgs, cap * sizeof(*n));
		if (!n) {
			oc->nomem = true;
			return;
		}
		req->msgs = n;
		oc->cap = cap;
	}
	char *xml = malloc(m->len + 1);
	if (!xml) {
		oc->nomem = true;
		return;
	}
	memcpy(xml, m->xml, m->len);
	xml[m->len] = '\0';
	req->msgs[req->n_msgs++] =
		(struct store_offline_msg){ .id = m->id, .xml = xml, .len = m->len };
}

static void offline_list(struct store_thread *t, struct store_req *req)
{
	struct offline_collect oc = { .req = req };
	req->status = store_offline_list(t->st, req->domain, req->local, offline_collect_msg, &oc);
	if (req->status == XS_OK && oc.nomem)
		req->status = XS_NOMEM;
	if (req->status != XS_OK) {
		store_offline_msgs_free(req->msgs, req->n_msgs);
		req->msgs = NULL;
		req->n_msgs = 0;
	}
}

/* Collects an archive page into req->mam_results (XS_NOMEM and nothing
 * on allocation failure, as for the roster). */
struct mam_collect {
	struct store_req *req;
	size_t cap;
	bool nomem;
};

static void mam_collect_msg(void *arg, const char *stanza_id, int64_t stamp_us,
			    const char *with, const char *xml, size_t len)
{
	struct mam_collect *mc = arg;
	struct store_req *req = mc->req;
	if (mc->nomem)
		return;
	if (req->n_mam_results == mc->cap) {
		size_t cap = mc->cap ? mc->cap * 2 : 16;
		struct store_mam_result *n = realloc(req->mam_results, cap * sizeof(*n));
		if (!n) {
			mc->nomem = true;
			return;
		}
		req->mam_results = n;
		mc->cap = cap;
	}
	struct store_mam_result *r = &req->mam_results[req->n_mam_results++];
	*r = (struct store_mam_result){ .stamp_us = stamp_us, .len = len };
	r->stanza_id = dup_or_null(stanza_id, &mc->nomem);
	r->with = dup_or_null(with, &mc->nomem);
	r->xml = malloc(len + 1);
	if (!r->xml) {
		mc->nomem = true;
		return;
	}
	memcpy(r->xml, xml, len);
	r->xml[len] = '\0';
}

static void mam_query(struct store_thread *t, struct store_req *req)
{
	struct mam_collect mc = { .req = req };
	const struct store_mam_filter f = {
		.with = req->mam_with[0] ? req->mam_with : NULL,
		.start_us = req->mam_start_us,
		.end_us = req->mam_end_us,
		.after_id = req->mam_after_id[0] ? req->mam_after_id : NULL,
		.before_id = req->mam_before_id[0] ? req->mam_before_id : NULL,
		.max = req->mam_max,
		.last_page = req->mam_last_page,
	};

	req->status = store_mam_query(t->st, req->domain, req->local, &f, mam_collect_msg, &mc,
				      &req->mam_complete);
	if (req->status == XS_OK && mc.nomem)
		req->status = XS_NOMEM;
	if (req->status != XS_OK) {
		store_mam_results_free(req->mam_results, req->n_mam_results);
		req->mam_results = NULL;
		req->n_mam_results = 0;
		req->mam_complete = false;
	}
}

/* Collects what a PEP request returns into req->pep_out (XS_NOMEM and
 * nothing on allocation failure, as for the roster). */
struct pep_collect {
	struct store_req *req;
	size_t cap;
	bool nomem;
};

static struct store_pep_result *pep_collect_next(struct pep_collect *pc)
{
	struct store_req *req = pc->req;
	if (pc->nomem)
		return NULL;
	if (req->n_pep_out == pc->cap) {
		size_t cap = pc->cap ? pc->cap * 2 : 8;
		struct store_pep_result *n = realloc(req->pep_out, cap * sizeof(*n));
		if (!n) {
			pc->nomem = true;
			return NULL;
		}
		req->pep_out = n;
		pc->cap = cap;
	}
	struct store_pep_result *r = &req->pep_out[req->n_pep_out++];
	memset(r, 0, sizeof(*r));
	return r;
}

static void pep_collect_item(void *arg, const struct store_pep_item *it)
{
	struct pep_collect *pc = arg;
	struct store_pep_result *r = pep_collect_next(pc);
	if (!r)
		return;
	r->owner = dup_or_null(it->owner, &pc->nomem);
	r->node = dup_or_null(it->node, &pc->nomem);
	r->id = dup_or_null(it->id, &pc->nomem);
	r->xml = malloc(it->len + 1);
	if (!r->xml) {
		pc->nomem = true;
		return;
	}
	memcpy(r->xml, it->xml, it->len);
	r->xml[it->len] = '\0';
	r->len = it->len;
}

static void pep_collect_node(void *arg, const char *node)
{
	struct pep_collect *pc = arg;
	struct store_pep_result *r = pep_collect_next(pc);
	if (r)
		r->node = dup_or_null(node, &pc->nomem);
}

static void pep_collect_id(void *arg, const char *id)
{
	struct pep_collect *pc = arg;
	struct store_pep_result *r = pep_collect_next(pc);
	if (r)
		r->id = dup_or_null(id, &pc->nomem);
}

/* The PEP requests.  pep_cfg is both in and out: the input is copied
 * first, so the store never reads what it is writing.  A request that
 * fails returns no results; one that could not copy them all fails with
 * XS_NOMEM (a replace's write is committed by then: the requester treats
 * that like any store failure). */
static void pep_exec(struct store_thread *t, struct store_req *req)
{
	struct pep_collect pc = { .req = req };
	const struct store_pep_config cfg = req->pep_cfg;

	switch (req->op) {
	case STORE_OP_PEP_PUBLISH:
		req->status = store_pep_publish(t->st, req->domain, req->local, req->pep_node, &cfg,
						req->pep_precond, req->pep_item_id, req->xml,
						req->xml_len, req->pep_max_nodes, req->pep_max_bytes,
						&req->pep_over_quota, &req->pep_cfg,
						&req->pep_created);
		break;
	case STORE_OP_PEP_ITEMS:
		req->status = store_pep_items(t->st, req->domain, req->local, req->pep_node,
					      req->pep_requester, req->pep_ids, req->n_pep_ids,
					      req->pep_max, pep_collect_item, &pc, &req->pep_cfg);
		break;
	case STORE_OP_PEP_RETRACT:
		req->status = store_pep_retract(t->st, req->domain, req->local, req->pep_node,
						req->pep_item_id, &req->pep_cfg);
		break;
	case STORE_OP_PEP_DELETE:
		req->status = store_pep_delete(t->st, req->domain, req->local, req->pep_node);
		break;
	case STORE_OP_PEP_PURGE:
		req->status = store_pep_purge(t->st, req->domain, req->local, req->pep_node);
		break;
	case STORE_OP_PEP_CONFIG_GET:
		req->status = store_pep_config_get(t->st, req->domain, req->local, req->pep_node,
						   &req->pep_cfg);
		break;
	case STORE_OP_PEP_CONFIG_SET:
		req->status = store_pep_config_set(t->st, req->domain, req->local, req->pep_node,
						   &cfg);
		break;
	case STORE_OP_PEP_NODES:
		req->status = store_pep_nodes(t->st, req->domain, req->local, req->pep_requester,
					      pep_collect_node, &pc);
		break;
	case STORE_OP_PEP_LAST:
		req->status = store_pep_last(t->st, req->pep_requester, req->pep_ids,
					     req->n_pep_ids, req->pep_nodes, req->n_pep_nodes,
					     pep_collect_item, &pc);
		break;
	case STORE_OP_PEP_REPLACE:
		req->status = store_pep_replace(t->st, req->domain, req->local, req->pep_node, &cfg,
						req->pep_in, req->n_pep_in, req->pep_max_nodes,
						req->pep_max_bytes, &req->pep_over_quota,
						pep_collect_id, &pc);
		break;
	default:
		req->status = XS_INVAL;
		break;
	}
	if (req->status == XS_OK && pc.nomem)
		req->status = XS_NOMEM;
	if (req->status != XS_OK) {
		store_pep_results_free(req->pep_out, req->n_pep_out);
		req->pep_out = NULL;
		req->n_pep_out = 0;
		req->pep_created = false;
	}
}

/* Collects archive preferences into req->mam_always / mam_never
 * (XS_NOMEM and nothing on allocation failure, as for the blocklist). */
struct prefs_collect {
	struct store_req *req;
	size_t cap_always, cap_never;
	bool nomem;
};

static void prefs_collect_jid(void *arg, const char *jid, bool always)
{
	struct prefs_collect *pc = arg;
	struct store_req *req = pc->req;
	char ***v = always ? &req->mam_always : &req->mam_never;
	size_t *n = always ? &req->n_mam_always : &req->n_mam_never;
	size_t *cap = always ? &pc->cap_always : &pc->cap_never;
	if (pc->nomem)
		return;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		char **nv = realloc(*v, c * sizeof(*nv));
		if (!nv) {
			pc->nomem = true;
			return;
		}
		*v = nv;
		*cap = c;
	}
	char *d = strdup(jid);
	if (!d) {
		pc->nomem = true;
		return;
	}
	(*v)[(*n)++] = d;
}

static void mam_prefs(struct store_thread *t, struct store_req *req)
{
	struct prefs_collect pc = { .req = req };
	if (req->op == STORE_OP_MAM_PREFS_SET) {
		if ((req->n_mam_prefs_always || req->n_mam_prefs_never) && !req->mam_prefs_jids)
			req->status = XS_INVAL;
		else
			req->status = store_mam_prefs_set(
				t->st, req->domain, req->local, req->mam_default,
				req->mam_prefs_jids, req->n_mam_prefs_always,
				req->mam_prefs_jids ? req->mam_prefs_jids + req->n_mam_prefs_always
						    : NULL,
				req->n_mam_prefs_never);
		if (req->status != XS_OK)
			return;
	}
	/* what is stored now: for a set, read back (it may have dropped
	 * duplicates) */
	req->status = store_mam_prefs_get(t->st, req->domain, req->local, &req->mam_default,
					  prefs_collect_jid, &pc);
	if (req->status == XS_OK && pc.nomem)
		req->status = XS_NOMEM;
	if (req->status != XS_OK) {
		store_strings_free(req->mam_always, req->n_mam_always);
		store_strings_free(req->mam_never, req->n_mam_never);
		req->mam_always = req->mam_never = NULL;
		req->n_mam_always = req->n_mam_never = 0;
	}
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* USER_CREATE and USER_SET_PASSWORD: both credentials from the password,
 * as xmppctl makes them, then one write.  A name that is taken is found
 * before the derivation, so a registration for it costs a lookup, not
 * two PBKDF2 runs; the insert's primary key still decides if another
 * process (xmppctl) created it meanwhile, so of two registrations of one
 * name exactly one succeeds. */
static void user_write(struct store_thread *t, struct store_req *req)
{
	bool create = req->op == STORE_OP_USER_CREATE;
	struct scram_cred sha1, sha256;
	bool exists = false;

	if (!req->password) {
		req->status = XS_INVAL;
		return;
	}
	if (create) {
		req->status = store_user_exists(t->st, req->domain, req->local, &exists);
		if (req->status == XS_OK && exists) {
			req->exists = true;
			req->status = XS_INVAL;
		}
		if (req->status != XS_OK)
			goto wipe;
	}
	uint64_t c0 = thread_cpu_ns();
	bool ok = scram_cred_make(SCRAM_SHA1, req->password, req->iterations, &sha1) &&
		  scram_cred_make(SCRAM_SHA256, req->password, req->iterations, &sha256);
	req->cpu_ns = thread_cpu_ns() - c0;
	explicit_bzero(req->password, strlen(req->password));
	if (!ok) {
		req->status = XS_PROTO;
	} else if (create) {
		req->status = store_user_create(t->st, req->domain, req->local, &sha1, &sha256);
		req->exists = req->status == XS_INVAL; /* created meanwhile by another process */
	} else {
		req->status = store_user_set_creds(t->st, req->domain, req->local, &sha1, &sha256);
	}
	explicit_bzero(&sha1, sizeof(sha1));
	explicit_bzero(&sha256, sizeof(sha256));
	LOG_DEBUG("store: %s for %s@%s: %s, credentials derived in %llu us of CPU",
		  store_op_name(req->op), req->local, req->domain, xs_name(req->status),
		  (unsigned long long)(req->cpu_ns / 1000));
	return;
wipe:
	explicit_bzero(req->password, strlen(req->password));
}

/* Results are reset first so a requester never sees values from the
 * previous use of a recycled request. */
static void store_req_reset(struct store_req *req)
{
	req->exists = false;
	memset(&req->cred, 0, sizeof(req->cred));
	req->n_iters = 0;
	req->items = NULL;
	req->n_items = 0;
	req->ver = 0;
	req->existed = false;
	req->prev_subscription = req->prev_ask = 0;
	req->change = ROSTER_UNCHANGED;
	memset(&req->updated, 0, sizeof(req->updated));
	req->msgs = NULL;
	req->n_msgs = 0;
	req->data = NULL;
	req->data_len = 0;
	req->n_changed = 0;
	req->blocked = NULL;
	req->n_blocked = 0;
	req->cpu_ns = 0;
	req->mam_batch = 0;
	req->mam_results = NULL;
	req->n_mam_results = 0;
	req->mam_complete = false;
	req->mam_deleted = 0;
	req->pep_created = false;
	req->pep_over_quota = false;
	req->pep_out = NULL;
	req->n_pep_out = 0;
	req->mam_always = req->mam_never = NULL;
	req->n_mam_always = req->n_mam_never = 0;
	if (req->op != STORE_OP_MAM_PREFS_SET)
		req->mam_default = 0;
}

/* Hands a finished request back: from here on it is the requester's.
 * Its latency, queueing included, goes into the histogram first. */
static void store_req_done(struct store_thread *t, struct store_req *req)
{
	long long dt = store_now_ns() - req->submit_ns;
	uint64_t us = dt > 0 ? (uint64_t)dt / 1000 : 0;
	unsigned k = 0;
	while (k < STATS_STORE_BUCKETS - 1 && us > stats_store_le_us(k))
		k++;
	t->lat_buckets[k]++;
	t->lat_count++;
	t->lat_sum_us += us;
	store_hb_release(req);
	req->done(req, req->done_arg);
}

static void stats_exec(struct store_thread *t, struct store_req *req)
{
	struct stats_part *p = req->stats;
	if (!p) {
		req->status = XS_INVAL;
		return;
	}
	p->thread = STATS_PART_STORAGE;
	memcpy(p->store_buckets, t->lat_buckets, sizeof(p->store_buckets));
	p->store_count = t->lat_count;
	p->store_sum_us = t->lat_sum_us;
	p->inbox_depth = (uint64_t)queue_len(&t->inbox);
	req->status = XS_OK;
}

static void store_thread_exec(struct store_thread *t, struct store_req *req)
{
	long long t0 = store_now_ns();

	store_req_reset(req);

	/* The names come from another thread's buffer: make sure they end
	 * inside it before handing them to string functions. */
	if (!memchr(req->domain, '\0', sizeof(req->domain)) ||
	    !memchr(req->local, '\0', sizeof(req->local)) ||
	    !memchr(req->data_kind, '\0', sizeof(req->data_kind)) ||
	    !memchr(req->data_key, '\0', sizeof(req->data_key)) ||
	    !memchr(req->sender, '\0', sizeof(req->sender)) ||
	    !memchr(req->mam_with, '\0', sizeof(req->mam_with)) ||
	    !memchr(req->mam_after_id, '\0', sizeof(req->mam_after_id)) ||
	    !memchr(req->mam_before_id, '\0', sizeof(req->mam_before_id))) {
		req->status = XS_INVAL;
	} else {
		switch (req->op) {
		case STORE_OP_STATS:
			stats_exec(t, req);
			break;
		case STORE_OP_GET_CRED:
			req->status = store_user_get_cred(t->st, req->domain, req->local, req->hash,
							  &req->cred);
			if (req->status == XS_NOTFOUND)
				fill_iteration_counts(t, req);
			break;
		case STORE_OP_USER_EXISTS:
			req->status = store_user_exists(t->st, req->domain, req->local,
							&req->exists);
			/* an iq from someone the account blocks: as if it did not exist */
			if (req->status == XS_OK && req->exists)
				req->status = sender_check(t, req);
			break;
		case STORE_OP_ROSTER_GET:
			roster_get(t, req);
			break;
		case STORE_OP_ROSTER_PUT:
			req->status = store_roster_put(t->st, req->domain, req->local, &req->item,
						       req->max_items, &req->ver);
			break;
		case STORE_OP_ROSTER_REMOVE:
			req->status = store_roster_remove(t->st, req->domain, req->local,
							  req->item.contact, &req->ver);
			break;
		case STORE_OP_ROSTER_UPDATE:
			roster_update(t, req);
			break;
		case STORE_OP_OFFLINE_PUSH:
			req->status = sender_check(t, req);
			if (req->status == XS_OK)
				req->status = store_offline_push(t->st, req->domain, req->local,
								 req->xml, req->xml_len,
								 req->max_items);
			break;
		case STORE_OP_OFFLINE_LIST:
			offline_list(t, req);
			break;
		case STORE_OP_OFFLINE_DELETE:
			req->status = store_offline_delete(t->st, req->domain, req->local,
							   req->upto_id);
			break;
		case STORE_OP_DATA_GET:
			req->status = store_data_get(t->st, req->domain, req->local, req->data_kind,
						     req->data_key, &req->data, &req->data_len);
			break;
		case STORE_OP_DATA_PUT:
			req->status = store_data_put(t->st, req->domain, req->local, req->data_kind,
						     req->data_key, req->xml, req->xml_len,
						     req->max_items);
			break;
		case STORE_OP_BLOCK_LIST:
			block_list(t, req);
			break;
		case STORE_OP_BLOCK_CHANGE:
			req->status = store_block_change(t->st, req->domain, req->local,
							 req->block_jids, req->n_block_jids,
							 req->block_add, req->max_items,
							 &req->n_changed);
			break;
		case STORE_OP_USER_CREATE:
		case STORE_OP_USER_SET_PASSWORD:
			user_write(t, req);
			break;
		case STORE_OP_USER_DELETE:
			req->status = store_user_delete(t->st, req->domain, req->local);
			break;
		case STORE_OP_MAM_QUERY:
			mam_query(t, req);
			break;
		case STORE_OP_MAM_EXPIRE:
			req->status = store_mam_expire(t->st, req->mam_older_than_us,
						       &req->mam_deleted);
			break;
		case STORE_OP_MAM_PREFS_GET:
		case STORE_OP_MAM_PREFS_SET:
			mam_prefs(t, req);
			break;
		case STORE_OP_PEP_PUBLISH:
		case STORE_OP_PEP_ITEMS:
		case STORE_OP_PEP_RETRACT:
		case STORE_OP_PEP_DELETE:
		case STORE_OP_PEP_PURGE:
		case STORE_OP_PEP_CONFIG_GET:
		case STORE_OP_PEP_CONFIG_SET:
		case STORE_OP_PEP_NODES:
		case STORE_OP_PEP_LAST:
		case STORE_OP_PEP_REPLACE:
			pep_exec(t, req);
			break;
		case STORE_OP_MAM_APPEND: /* never here: store_thread_main batches them */
		default:
			LOG_ERR("store: unknown request op %d", (int)req->op);
			req->status = XS_INVAL;
			break;
		}
	}

	long long dt = store_now_ns() - t0;
	if (dt > STORE_SLOW_NS)
		LOG_WARN("store: %s for %s@%s took %lld ms", store_op_name(req->op), req->local,
			 req->domain, dt / 1000000);
	store_req_done(t, req);
}

/* Archives the n appends of t->batch in one transaction and completes
 * each, in their order.  An item the wrapper would refuse is refused
 * alone (XS_INVAL, mam_batch 0) before the others go to the store, and a
 * batch the store refuses (XS_INVAL: a stanza id already archived) is run
 * again one append at a time, so that each gets its own answer (see
 * STORE_MAM_BATCH).  A failure of the store itself is not retried: it
 * would fail again, each time after the busy timeout. */
static void mam_append_run(struct store_thread *t, size_t n)
{
	long long t0 = store_now_ns();
	unsigned ni = 0;

	for (size_t i = 0; i < n; i++) {
		struct store_req *req = t->batch[i];
		store_req_reset(req);
		if (store__mam_item_ok(&req->mam_item)) {
			t->batch_items[ni++] = req->mam_item;
			req->mam_batch = 1; /* for now: in the batch */
		} else {
			req->status = XS_INVAL;
		}
	}
	enum xs rc = ni > 0 ? store_mam_append(t->st, t->batch_items, ni, t->batch_denied) : XS_OK;
	unsigned k = 0; /* req's place among the items */
	for (size_t i = 0; i < n; i++) {
		struct store_req *req = t->batch[i];
		if (!req->mam_batch)
			continue;
		bool denied = t->batch_denied[k++];
		if (rc == XS_INVAL && ni > 1) {
			req->status = store_mam_append(t->st, &req->mam_item, 1, &denied);
		} else {
			req->status = rc;
			req->mam_batch = ni;
		}
		if (req->status == XS_OK && denied)
			req->status = XS_DENIED;
	}
	long long dt = store_now_ns() - t0;
	if (dt > STORE_SLOW_NS)
		LOG_WARN("store: mam_append of %u messages took %lld ms", ni, dt / 1000000);
	for (size_t i = 0; i < n; i++)
		store_req_done(t, t->batch[i]);
}

/* How long an append batch waits for more appends once the inbox is
 * empty.  Archived messages are read back seconds later at the earliest;
 * the sender's storage budget holds each for this long at most. */
#define STORE_MAM_LINGER_NS (50 * 1000000LL)

/* Runs first (a MAM_APPEND just popped) together with the MAM_APPENDs
 * queued directly behind it, at most STORE_MAM_BATCH in all.  Returns
 * the node that ended the batch, popped but not handled (another op's
 * request or the stop sentinel), for the caller to handle next; NULL when
 * the inbox ran empty or the batch is full. */
static struct queue_node *mam_append_batch(struct store_thread *t, struct store_req *first)
{
	struct queue_node *n = NULL;
	size_t nb = 0;

	t->batch[nb++] = first;
	long long deadline = store_now_ns() + STORE_MAM_LINGER_NS;
	while (nb < STORE_MAM_BATCH) {
		n = queue_pop(&t->inbox);
		if (!n) {
			/* Nothing behind: linger a little for more appends, since
			 * a commit costs as much as many rows (at 100 messages a
			 * second, one commit per message was 90% of the archive's
			 * CPU).  Any other request wakes the wait and ends the
			 * batch, so it waits for one commit at most, never for the
			 * linger. */
			long long left = deadline - store_now_ns();
			if (left <= 0)
				break;
			struct pollfd pfd = { .fd = t->inbox.efd, .events = POLLIN };
			int ms = (int)((left + 999999) / 1000000);
			if (poll(&pfd, 1, ms) <= 0)
				break;
			queue_ack_wakeup(&t->inbox);
			continue;
		}
		if (n == &t->stop_node)
			break;
		struct store_req *req = container_of(n, struct store_req, qnode);
		store_hb_acquire(req);
		if (req->op != STORE_OP_MAM_APPEND)
			break;
		t->batch[nb++] = req;
		n = NULL;
	}
	mam_append_run(t, nb);
	return n;
}

/* Requests handled at most between two batches of an expiry pass. */
#define STORE_EXPIRE_YIELD 64

static int64_t wall_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* How long the poll may sleep for retention's sake: not at all while a
 * pass is under way, until the next one otherwise (-1: no retention). */
static int expire_timeout_ms(const struct store_thread *t)
{
	if (!t->expire_after_us)
		return -1;
	if (t->expiring)
		return 0;
	long long left = t->expire_next_ns - store_now_ns();
	if (left <= 0)
		return 0;
	long long ms = (left + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* One step of retention: starts a pass when one is due, runs one batch of
 * it, and ends it (with its log line) when a batch comes back short or
 * the store fails (tried again at the next pass). */
static void expire_step(struct store_thread *t)
{
	if (!t->expire_after_us)
		return;
	if (!t->expiring) {
		if (store_now_ns() < t->expire_next_ns)
			return;
		t->expiring = true;
		t->expire_cutoff_us = wall_now_us() - t->expire_after_us;
		t->expire_total = 0;
	}
	unsigned deleted = 0;
	long long t0 = store_now_ns();
	enum xs rc = store_mam_expire(t->st, t->expire_cutoff_us, &deleted);
	long long dt = store_now_ns() - t0;
	if (dt > STORE_SLOW_NS)
		LOG_WARN("store: archive expiry of %u messages took %lld ms", deleted, dt / 1000000);
	t->expire_total += deleted;
	if (rc == XS_OK && deleted == STORE_MAM_EXPIRE_BATCH)
		return; /* more: after the requests waiting now */
	t->expiring = false;
	t->expire_next_ns = store_now_ns() + t->expire_every_ns;
	if (rc != XS_OK)
		LOG_WARN("store: archive expiry stopped after %lu messages: %s; next try in %lld s",
			 t->expire_total, xs_name(rc), t->expire_every_ns / 1000000000LL);
	else if (t->expire_total)
		LOG_INFO("store: archive retention: %lu messages expired ([im] "
			 "archive_expires_after = %u)",
			 t->expire_total, t->expire_days);
	else
		LOG_DEBUG("store: archive retention: nothing to expire ([im] "
			  "archive_expires_after = %u)",
			  t->expire_days);
}

static void *store_thread_main(void *arg)
{
	struct store_thread *t = arg;
	struct pollfd pfd = { .fd = t->inbox.efd, .events = POLLIN };
	bool stop = false;
	/* next: a node an append batch popped and left to be handled next, in
	 * its place in the inbox's order.  more: the drain stopped with
	 * requests left (for an expiry batch), which will not write the
	 * eventfd again: the poll must not sleep. */
	struct queue_node *next = NULL;
	bool more = false;

	log_set_thread_name("store");
	LOG_DEBUG("store: worker running");
	while (!stop) {
		int timeout = more || next ? 0 : expire_timeout_ms(t);
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
			/* Cannot happen with a valid fd; if it does, keep serving by
			 * polling the queue slowly rather than stranding requests. */
			LOG_ERR("store: poll: %s", strerror(errno));
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000 }, NULL);
		}
		queue_ack_wakeup(&t->inbox);
		struct queue_node *n;
		unsigned handled = 0;
		more = false;
		while ((n = next ? next : queue_pop(&t->inbox))) {
			next = NULL;
			if (n == &t->stop_node) {
				/* Keep draining: nothing should follow it, but if
				 * anything did, it must not be lost. */
				stop = true;
				continue;
			}
			struct store_req *req = container_of(n, struct store_req, qnode);
			store_hb_acquire(req);
			if (req->op == STORE_OP_MAM_APPEND)
				next = mam_append_batch(t, req);
			else
				store_thread_exec(t, req);
			if (!stop && t->expiring && ++handled >= STORE_EXPIRE_YIELD) {
				more = true; /* the expiry's turn */
				break;
			}
		}
		if (!stop)
			expire_step(t);
	}
	LOG_DEBUG("store: worker stopped");
	return NULL;
}

struct store_thread *store_thread_start(const char *db_path, unsigned archive_expires_days,
					char *err, size_t errlen)
{
	const struct store_thread_opts o = { .archive_expires_days = archive_expires_days };
	return store_thread_start_opts(db_path, &o, err, errlen);
}

struct store_thread *store_thread_start_opts(const char *db_path,
					     const struct store_thread_opts *opts, char *err,
					     size_t errlen)
{
	struct store_thread *t = calloc(1, sizeof(*t));
	if (!t) {
		store_thread_seterr(err, errlen, "store thread", ENOMEM);
		return NULL;
	}
	atomic_init(&t->stopping, false);
	atomic_init(&t->submitting, 0);
	if (opts && opts->archive_expires_days) {
		t->expire_days = opts->archive_expires_days;
		t->expire_after_us = (int64_t)opts->archive_expires_days * 86400 * 1000000;
		t->expire_every_ns = opts->expire_interval_ms
					     ? (long long)opts->expire_interval_ms * 1000000LL
					     : STORE_EXPIRE_INTERVAL_S * 1000000000LL;
		t->expire_next_ns = store_now_ns(); /* a pass as soon as it runs */
	}
	if (queue_init(&t->inbox) != 0) {
		store_thread_seterr(err, errlen, "store inbox", errno);
		free(t);
		return NULL;
	}
	/* Opened here so the caller gets open and migration errors directly;
	 * pthread_create orders these writes before anything the worker does,
	 * and from then on only the worker uses the handle. */
	/* Never created here: see STORE_OPEN_EXISTING. */
	t->st = store_sqlite_open(db_path, STORE_OPEN_EXISTING, err, errlen);
	if (!t->st)
		goto fail;

	/* The worker inherits a full signal mask: process signals (SIGTERM,
	 * SIGHUP) are the main thread's to handle, not a disk thread's. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&t->thread, NULL, store_thread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		store_thread_seterr(err, errlen, "cannot start store thread", rc);
		goto fail;
	}
	return t;
fail:
	store_close(t->st);
	queue_deinit(&t->inbox);
	free(t);
	return NULL;
}

enum xs store_thread_submit(struct store_thread *t, struct store_req *req)
{
	if (!req->done)
		return XS_INVAL;
	/* Announce, then check: paired with stop's "set, then wait for zero"
	 * (both sequentially consistent), either stop sees us and waits for
	 * our push, or we see stopping and back out. */
	atomic_fetch_add(&t->submitting, 1);
	if (atomic_load(&t->stopping)) {
		atomic_fetch_sub(&t->submitting, 1);
		return XS_STOP;
	}
	req->submit_ns = store_now_ns();
	store_hb_release(req);
	queue_push(&t->inbox, &req->qnode);
	atomic_fetch_sub(&t->submitting, 1);
	return XS_OK;
}

void store_thread_stop(struct store_thread *t)
{
	if (!t)
		return;
	atomic_store(&t->stopping, true);
	while (atomic_load(&t->submitting) != 0)
		sched_yield(); /* a submit is between its check and its push */
	queue_push(&t->inbox, &t->stop_node);
	pthread_join(t->thread, NULL);
	store_close(t->st);
	/* The worker drained the inbox, sentinel included, before exiting. */
	queue_deinit(&t->inbox);
	free(t);
}
