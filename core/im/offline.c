/* XEP-0160 offline messages.  A message of type normal or chat for an
 * account with no resource to take it is kept in the store, stamped with
 * a XEP-0203 <delay/>, and delivered in order to the first resource that
 * sends available presence with a non-negative priority.  Over
 * [im] max_offline_messages, or for an account that does not exist, the
 * sender gets service-unavailable: never a silent loss.
 *
 * A message is removed from the store only after it has been handed to
 * the session's mux thread; if that session closes before writing it,
 * the router gets it back (MSG_UNDELIVERED), finds no resource, and it is
 * stored again. */
#include "core/im/modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/log.h"
#include "core/im/account.h"
#include "core/conf/cfg.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/jid.h"


struct offline_job {
	struct store_req req;   /* first: the store hands it back */
	struct stanza *st;      /* push: the message, for a bounce */
	struct stanza *stored;  /* push: the copy with <delay/> whose bytes are stored */
	char full[JID_BUF];     /* list, delete: the session being served */
};

static void job_free(struct offline_job *j)
{
	stanza_unref(j->st);
	stanza_unref(j->stored);
	store_offline_msgs_free(j->req.msgs, j->req.n_msgs);
	free(j);
}

/* ---- storing ---- */

/* A copy of the message with XEP-0203's <delay/> (from the account's
 * domain, now), frozen: its bytes are what is stored and later sent. */
static struct stanza *with_delay(const struct stanza *st, const char *domain)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm) || !strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return NULL;
	struct xml_node *copy = xml_node_copy(st->tree);
	struct xml_node *delay = copy ? xml_node_new_child(copy, "delay", NS_DELAY) : NULL;
	if (!delay || xml_node_set_attr(delay, "from", domain) != XS_OK ||
	    xml_node_set_attr(delay, "stamp", stamp) != XS_OK ||
	    xml_node_add_text(delay, "Offline Storage", 15) != XS_OK) {
		xml_node_free(copy);
		return NULL;
	}
	return stanza_freeze(copy);
}

static bool message_offline(struct router *r, struct stanza *st, const char *bare)
{
	unsigned max = im_cfg(r)->max_offline_messages;
	if (!max || !st->from)
		return false; /* storage off: the router bounces it */
	struct offline_job *j = calloc(1, sizeof(*j));
	if (!j || !im_split_account(&j->req, bare) || !(j->stored = with_delay(st, j->req.domain))) {
		if (j)
			job_free(j);
		LOG_WARN("offline message for %s not stored: out of memory", bare);
		return false;
	}
	j->st = stanza_ref(st);
	j->req.op = STORE_OP_OFFLINE_PUSH;
	j->req.xml = j->stored->bytes;
	j->req.xml_len = j->stored->len;
	j->req.max_items = max;
	/* XEP-0191: nothing is kept from someone the account blocks */
	if (strlen(st->from) < sizeof(j->req.sender))
		memcpy(j->req.sender, st->from, strlen(st->from) + 1);
	/* counted against the sender: it is the sender who can flood */
	enum xs rc = im_store_submit(r, &im_offline, &j->req, st->from);
	if (rc != XS_OK) {
		job_free(j);
		if (rc == XS_LIMIT) {
			im_reply_error(r, st, SC_RESOURCE_CONSTRAINT);
			return true;
		}
		return false;
	}
	return true;
}

static void push_done(struct router *r, struct offline_job *j)
{
	switch (j->req.status) {
	case XS_OK:
		im_count_offline_stored(r);
		return;
	case XS_LIMIT:
		LOG_INFO("offline queue of %s@%s full ([im] max_offline_messages = %u): message "
			 "from %s bounced",
			 j->req.local, j->req.domain, j->req.max_items, j->st->from);
		break;
	case XS_NOTFOUND:
		break; /* no such account: nobody to keep it for */
	case XS_DENIED:
		break; /* blocked (XEP-0191 3.6): as if there were no account */
	default:
		LOG_WARN("offline message for %s@%s not stored: %s", j->req.local, j->req.domain,
			 xs_name(j->req.status));
		break;
	}
	im_reply_error(r, j->st, SC_SERVICE_UNAVAILABLE);
}

/* ---- delivering ---- */

struct busy {
	bool fetching;
};

static void any_fetching(void *arg, const char *full, unsigned *flags)
{
	(void)full;
	struct busy *b = arg;
	if (*flags & IM_SESS_OFFLINE)
		b->fetching = true;
}

static bool submit_for(struct router *r, const char *full, const char *bare, enum store_op op,
		       uint64_t upto)
{
	struct offline_job *j = calloc(1, sizeof(*j));
	size_t fl = strlen(full);
	if (!j || fl >= sizeof(j->full) || !im_split_account(&j->req, bare)) {
		free(j);
		LOG_WARN("offline messages of %s not %s: out of memory", bare,
			 op == STORE_OP_OFFLINE_LIST ? "read" : "removed");
		return false;
	}
	memcpy(j->full, full, fl + 1);
	j->req.op = op;
	j->req.upto_id = upto;
	if (im_store_submit(r, &im_offline, &j->req, full) != XS_OK) {
		/* the session's storage budget is spent or there is no memory:
		 * the messages stay stored for its next available presence */
		LOG_WARN("offline messages of %s not %s now", bare,
			 op == STORE_OP_OFFLINE_LIST ? "read" : "removed");
		job_free(j);
		return false;
	}
	return true;
}

/* XEP-0160: at initial presence with a non-negative priority, unless
 * another resource of the account is being served now (the messages go
 * to one resource).  A priority raised from negative later does not
 * fetch; the next initial presence will. */
static void available(struct router *r, const char *full, const char *bare, int prio,
		      bool initial)
{
	if (!initial || prio < 0 || !im_cfg(r)->max_offline_messages)
		return;
	struct busy b = { false };
	im_each_session(r, bare, any_fetching, &b);
	if (b.fetching)
		return;
	im_session_flag(r, full, IM_SESS_OFFLINE);
	if (!submit_for(r, full, bare, STORE_OP_OFFLINE_LIST, 0))
		im_session_unflag(r, full, IM_SESS_OFFLINE);
}

static void list_done(struct router *r, struct offline_job *j)
{
	struct store_req *req = &j->req;
	im_session_unflag(r, j->full, IM_SESS_OFFLINE);
	if (req->status != XS_OK) {
		LOG_WARN("offline messages of %s@%s not read: %s", req->local, req->domain,
			 xs_name(req->status));
		return;
	}
	uint64_t last = 0;
	size_t sent = 0;
	for (size_t i = 0; i < req->n_msgs; i++) {
		struct stanza *st = stanza_from_xml(req->msgs[i].xml, req->msgs[i].len,
						    im_cfg(r)->max_stanza_size * 2);
		if (!st) {
			/* a row that no longer parses is not sent; it stays for an
			 * administrator to look at rather than vanishing */
			LOG_ERR("offline message %llu of %s@%s does not parse: kept, not sent",
				(unsigned long long)req->msgs[i].id, req->local, req->domain);
			break;
		}
		im_send_to(r, j->full, st);
		stanza_unref(st);
		last = req->msgs[i].id;
		sent++;
	}
	if (sent) {
		LOG_INFO("%s: %zu offline message(s) delivered", j->full, sent);
		char bare[JID_BUF];
		snprintf(bare, sizeof(bare), "%s@%s", req->local, req->domain);
		/* not removed (no memory, budget spent): sent again at the
		 * next initial presence rather than lost */
		(void)submit_for(r, j->full, bare, STORE_OP_OFFLINE_DELETE, last);
	}
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct offline_job *j = (struct offline_job *)req;
	if (!cancelled) {
		if (req->op == STORE_OP_OFFLINE_PUSH)
			push_done(r, j);
		else if (req->op == STORE_OP_OFFLINE_LIST)
			list_done(r, j);
		else if (req->status != XS_OK)
			LOG_WARN("offline messages of %s@%s not removed: %s (they will be sent "
				 "again)",
				 req->local, req->domain, xs_name(req->status));
	}
	job_free(j);
}

static const char *const features[] = { "msgoffline", NULL };

const struct im_module im_offline = {
	.name = "offline",
	.server_features = features,
	.store_done = store_done,
	.message_offline = message_offline,
	.available = available,
};
