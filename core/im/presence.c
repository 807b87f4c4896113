/* RFC 6121 3: presence subscriptions.  A subscription stanza changes the
 * roster of the account that sends it (outbound) and of the one it is for
 * (inbound), each in one storage transaction that reads the item, runs
 * the Appendix A state machine (core/xmpp/subscription.c) on the storage
 * thread, and writes the result; the router resumes here with what
 * changed: a roster push, the router's copy of the roster, and what the
 * stanza does next (routed on, delivered, answered for the account).
 *
 * One pair's stanzas are serialized by the storage thread's order, so an
 * approval can never overtake the request it approves.  The presence that
 * a new subscription starts (or an ended one stops) is sent by the side
 * that receives the approval or the cancellation, once its roster says
 * so: the subscriber sees the contact's presence after the push that
 * makes it a contact, not before. */
#include "core/im/presence.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/conf/cfg.h"
#include "core/im/account.h"
#include "core/im/modules.h"
#include "core/im/roster.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/jid.h"
#include "core/xmpp/subscription.h"

static const char *const type_names[] = { "subscribe", "subscribed", "unsubscribe",
					  "unsubscribed" };

/* One stanza's effect on one account's roster. */
struct sub_job {
	struct store_req req;   /* first: the store hands it back */
	enum sub_event ev;
	unsigned actions;       /* SUB_*: written by apply on the storage thread */
	bool autoreply;         /* a "subscribed" the server sent for the contact */
	struct stanza *orig;    /* outbound: the client's stanza, for an error */
	struct stanza *st;      /* the stanza stamped: from the sender's bare JID */
	char user[JID_BUF];     /* whose roster */
	char contact[JID_BUF];  /* the item in it */
	char budget[JID_BUF];   /* the session whose stanza started it ("" none) */
};

static bool outbound(enum sub_event ev)
{
	return ev <= SUB_OUT_UNSUBSCRIBED;
}

static void job_free(struct sub_job *j)
{
	stanza_unref(j->orig);
	stanza_unref(j->st);
	store_roster_item_clear(&j->req.updated);
	free(j);
}

/* On the storage thread, inside the transaction: pure. */
static enum roster_change apply(void *arg, struct store_roster_item *it, bool existed)
{
	struct sub_job *j = arg;
	struct sub_state cur = existed ? (struct sub_state){ it->subscription, it->ask }
				       : sub_state_absent();
	struct sub_result res = sub_apply(cur, j->ev);
	j->actions = res.actions;
	if (sub_state_equal(res.next, cur))
		return ROSTER_UNCHANGED;
	if (sub_state_empty(res.next))
		return existed ? ROSTER_DELETE : ROSTER_UNCHANGED;
	it->subscription = res.next.sub;
	it->ask = res.next.ask;
	return ROSTER_WRITE;
}

static struct stanza *stamped(const struct xml_node *orig, const char *type, const char *from,
			      const char *to)
{
	struct xml_node *p = orig ? xml_node_copy(orig) : xml_node_new_elem("presence", NS_CLIENT);
	if (!p)
		return NULL;
	xml_node_del_attr(p, "from");
	xml_node_del_attr(p, "to");
	if ((type && xml_node_set_attr(p, "type", type) != XS_OK) ||
	    xml_node_set_attr(p, "from", from) != XS_OK || xml_node_set_attr(p, "to", to) != XS_OK) {
		xml_node_free(p);
		return NULL;
	}
	return stanza_freeze(p);
}

static bool copy_jid(char dst[JID_BUF], const char *src)
{
	size_t l = strlen(src);
	if (l >= JID_BUF)
		return false;
	memcpy(dst, src, l + 1);
	return true;
}

static struct sub_job *job_new(enum sub_event ev, struct stanza *st, const char *user,
			       const char *contact, const char *budget)
{
	struct sub_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	if (!copy_jid(j->user, user) || !copy_jid(j->contact, contact) ||
	    !copy_jid(j->budget, budget ? budget : "") || !im_split_account(&j->req, user)) {
		free(j);
		return NULL;
	}
	j->ev = ev;
	j->st = stanza_ref(st);
	j->req.op = STORE_OP_ROSTER_UPDATE;
	j->req.item.contact = j->contact;
	j->req.roster_apply = apply;
	j->req.roster_apply_arg = j;
	j->req.max_items = 0;
	return j;
}

static void done(struct router *r, struct store_req *req, bool cancelled);

const struct im_module im_presence = {
	.name = "presence", .store_done = done,
};

static bool submit(struct router *r, struct sub_job *j)
{
	enum xs st = im_store_submit(r, &im_presence, &j->req, j->budget[0] ? j->budget : NULL);
	if (st != XS_OK) {
		LOG_WARN("presence %s from %s to %s not processed: %s", type_names[j->ev % 4],
			 outbound(j->ev) ? j->user : j->contact,
			 outbound(j->ev) ? j->contact : j->user, xs_name(st));
		if (j->orig)
			im_reply_error(r, j->orig, st == XS_LIMIT ? SC_RESOURCE_CONSTRAINT
								  : SC_INTERNAL_SERVER_ERROR);
		job_free(j);
		return false;
	}
	return true;
}

/* The contact's side of st (from `from`, stamped, for the local account
 * `to`): its roster, then delivery. */
static void inbound(struct router *r, struct stanza *st, enum sub_event ev, const char *from,
		    const char *to, const char *budget, bool autoreply)
{
	if (!im_is_local(r, to)) {
		/* the contact's server does its side (RFC 6121 3.1.3 there) */
		im_send_remote(r, st);
		return;
	}
	struct sub_job *j = job_new(ev, st, to, from, budget);
	if (!j) {
		LOG_ERR("out of memory: presence %s from %s to %s lost", type_names[ev % 4], from,
			to);
		return;
	}
	j->autoreply = autoreply;
	/* an account's roster does not grow for someone else's request
	 * beyond the limit, and only an account that exists gets one */
	j->req.max_items = im_cfg(r)->max_roster_items;
	j->req.need_account = true;
	/* XEP-0191: nothing is kept from someone the account blocks */
	memcpy(j->req.sender, from, strlen(from) + 1);
	submit(r, j);
}

static void send_subscription(struct router *r, const char *from, const char *to,
			      const char *type, const char *budget, bool autoreply)
{
	enum sub_event ev;
	if (!sub_event_from_type(type, false, &ev))
		return;
	struct stanza *st = stamped(NULL, type, from, to);
	if (!st) {
		LOG_ERR("out of memory: presence %s from %s to %s lost", type, from, to);
		return;
	}
	inbound(r, st, ev, from, to, budget, autoreply);
	stanza_unref(st);
}

void presence_send_subscription(struct router *r, const char *from, const char *to,
				const char *type, const char *budget)
{
	send_subscription(r, from, to, type, budget, false);
}

void im_subscription_in(struct router *r, struct stanza *st)
{
	char from[JID_BUF], to[JID_BUF];
	enum sub_event ev;
	if (!st->from || !st->to || !jid_bare_of(st->from, from) || !jid_bare_of(st->to, to) ||
	    !sub_event_from_type(st->type, false, &ev))
		return;
	/* RFC 6121 3.1.3: for the bare JIDs, whatever the remote wrote */
	struct stanza *in = stamped(st->tree, NULL, from, to);
	if (!in) {
		LOG_ERR("out of memory: presence %s from %s to %s lost", st->type, from, to);
		return;
	}
	inbound(r, in, ev, from, to, NULL, false);
	stanza_unref(in);
}

void im_subscription_out(struct router *r, struct stanza *st, const char *full,
			 const char *contact)
{
	char user[JID_BUF];
	enum sub_event ev;
	if (!jid_bare_of(full, user) || !sub_event_from_type(st->type, true, &ev))
		return;
	if (strchr(contact, '@') == NULL || strcmp(contact, user) == 0)
		return; /* to a server, or to oneself: no subscription to keep */
	/* RFC 6121 3.1.2: stamped with the bare JID, sent to the bare JID */
	struct stanza *out = stamped(st->tree, NULL, user, contact);
	struct sub_job *j = out ? job_new(ev, out, user, contact, full) : NULL;
	stanza_unref(out);
	if (!j) {
		im_reply_error(r, st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->orig = stanza_ref(st);
	j->req.max_items = im_cfg(r)->max_roster_items;
	submit(r, j);
}

static void changed(struct router *r, struct sub_job *j)
{
	struct store_req *req = &j->req;
	bool deleted = req->change == ROSTER_DELETE;
	im_roster_cached(r, j->user, j->contact, req->updated.subscription, req->updated.ask,
			 deleted);
	/* a hidden item is no roster item for the client (RFC 6121 3.1.3);
	 * only hidden items are ever deleted here */
	if (!deleted && !(req->updated.ask & ROSTER_ASK_HIDDEN))
		roster_push(r, j->user, &req->updated, false, req->ver);
}

static void done(struct router *r, struct store_req *req, bool cancelled)
{
	struct sub_job *j = (struct sub_job *)req;
	if (cancelled)
		goto out;
	const char *type = type_names[j->ev % 4];
	const char *budget = j->budget[0] ? j->budget : NULL;
	if (req->status == XS_DENIED) {
		LOG_DEBUG("presence %s from %s to %s: blocked", type, j->contact, j->user);
		goto out;
	}
	if (req->status == XS_NOTFOUND) {
		/* RFC 6121 8.5.1: no such account; a request is denied, the
		 * rest ignored */
		LOG_DEBUG("presence %s from %s to %s: no such account", type, j->contact, j->user);
		if (j->ev == SUB_IN_SUBSCRIBE)
			presence_send_subscription(r, j->user, j->contact, "unsubscribed", budget);
		goto out;
	}
	if (req->status != XS_OK) {
		if (req->status == XS_LIMIT)
			LOG_INFO("presence %s: the roster of %s is full ([im] max_roster_items = %u)",
				 type, j->user, req->max_items);
		else
			LOG_WARN("presence %s for the roster of %s not processed: %s", type,
				 j->user, xs_name(req->status));
		if (j->orig)
			im_reply_error(r, j->orig, req->status == XS_LIMIT ? SC_POLICY_VIOLATION
									   : SC_INTERNAL_SERVER_ERROR);
		goto out;
	}
	if (req->change != ROSTER_UNCHANGED)
		changed(r, j);
	unsigned to_before = req->existed ? req->prev_subscription & ROSTER_SUB_TO : 0;
	unsigned to_now = req->change == ROSTER_DELETE ? 0 : req->updated.subscription & ROSTER_SUB_TO;
	unsigned from_before = req->existed ? req->prev_subscription & ROSTER_SUB_FROM : 0;
	unsigned from_now =
		req->change == ROSTER_DELETE ? 0 : req->updated.subscription & ROSTER_SUB_FROM;

	if (outbound(j->ev)) {
		if (j->actions & SUB_FORWARD)
			inbound(r, j->st, (enum sub_event)(j->ev + SUB_IN_SUBSCRIBE), j->user,
				j->contact, budget, false);
		/* RFC 6121 3.1.5, 3.2.2: a remote contact's server learns of an
		 * approval, or its end, from here, and the account's presence
		 * (or its end) follows it there; a local contact's side does
		 * this itself (below) */
		if ((j->actions & SUB_FORWARD) && !im_is_local(r, j->contact)) {
			if (j->ev == SUB_OUT_SUBSCRIBED && from_now)
				im_send_presences(r, j->user, j->contact, false);
			else if (j->ev == SUB_OUT_UNSUBSCRIBED && from_before && !from_now)
				im_send_presences(r, j->user, j->contact, true);
		}
		goto out;
	}
	if (j->actions & SUB_FORWARD)
		im_deliver_presence(r, j->user, j->st);
	if (j->actions & SUB_AUTOREPLY) {
		send_subscription(r, j->user, j->contact, "subscribed", budget, true);
		/* pre-approved (RFC 6121 3.4): a remote subscriber's server
		 * gets the account's presence from here */
		if (!im_is_local(r, j->contact))
			im_send_presences(r, j->user, j->contact, false);
	}
	/* RFC 6121 3.1.5-3.1.6, 3.2: the contact's presence now reaches the
	 * account, or stops reaching it */
	if (j->ev == SUB_IN_SUBSCRIBED && to_now && (!to_before || j->autoreply))
		im_send_presences(r, j->contact, j->user, false);
	else if (j->ev == SUB_IN_UNSUBSCRIBED && to_before && !to_now)
		im_send_presences(r, j->contact, j->user, true);
	/* RFC 6121 3.3.3: the contact unsubscribed: it no longer gets the
	 * account's presence, and is told the account is unavailable */
	if (j->ev == SUB_IN_UNSUBSCRIBE && from_before && !from_now)
		im_send_presences(r, j->user, j->contact, true);
out:
	job_free(j);
}
