/* XEP-0012 Last Activity: of the server, its uptime (XEP-0012 5); of an
 * account, the seconds since its last session ended (XEP-0012 3, "offline
 * user query"), 0 while it has one, for the account itself and for
 * contacts it lets see its presence (a 'from' or 'both' subscription:
 * forbidden for anyone else).  The time is written when the account's last
 * session ends (a per-account document, kind "last"); whether the asker
 * is subscribed comes from the router's copy of the roster while the
 * account is online, from the store (a read-only roster update) when
 * not. */
#include "core/im/modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/log.h"
#include "core/im/account.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/jid.h"

#define KIND "last"
#define KEY "logout"

struct last_job {
	struct store_req req;   /* first: the store hands it back */
	struct stanza *st;      /* the iq (NULL: a logout being written) */
	char from[JID_BUF];     /* the asker's full JID */
	char asker[JID_BUF];    /* its bare JID */
	char to[JID_BUF];       /* the account asked about */
	char stamp[24];         /* a logout: the text stored */
};

static void job_free(struct last_job *j)
{
	stanza_unref(j->st);
	free(j->req.data);
	store_roster_item_clear(&j->req.updated);
	free(j);
}

static void answer(struct router *r, struct stanza *st, const char *from, uint64_t secs)
{
	char s[24];
	snprintf(s, sizeof(s), "%llu", (unsigned long long)secs);
	struct xml_node *res = xml_node_new_elem("query", NS_LAST);
	if (!res || xml_node_set_attr(res, "seconds", s) != XS_OK) {
		xml_node_free(res);
		im_reply_error(r, st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_reply_result(r, st, from, res);
}

static void uptime(struct im_iq *q)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t started = im_router_started(q->r);
	answer(q->r, q->st, q->to,
	       (uint64_t)ts.tv_sec > started ? (uint64_t)ts.tv_sec - started : 0);
	q->answered = true;
}

/* On the storage thread: reads the asker's item, changes nothing. */
static enum roster_change read_only(void *arg, struct store_roster_item *it, bool existed)
{
	(void)arg;
	(void)it;
	(void)existed;
	return ROSTER_UNCHANGED;
}

static void account(struct im_iq *q)
{
	struct router *r = q->r;
	const char *from = q->own ? NULL : q->to;
	if (im_account_online(r, q->to)) {
		char asker[JID_BUF];
		int sub = ROSTER_SUB_FROM;
		if (!q->own)
			sub = jid_bare_of(q->st->from, asker) ? im_roster_sub(r, q->to, asker) : -1;
		/* a roster not loaded yet counts as no permission */
		if (sub < 0 || !(sub & ROSTER_SUB_FROM)) {
			im_iq_error(q, SC_FORBIDDEN);
			return;
		}
		answer(r, q->st, from, 0);
		q->answered = true;
		return;
	}
	struct last_job *j = calloc(1, sizeof(*j));
	if (!j || strlen(q->st->from) >= sizeof(j->from) || strlen(q->to) >= sizeof(j->to) ||
	    !jid_bare_of(q->st->from, j->asker) || !im_split_account(&j->req, q->to)) {
		free(j);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	strcpy(j->from, q->st->from);
	strcpy(j->to, q->to);
	j->st = stanza_ref(q->st);
	j->req.op = STORE_OP_ROSTER_UPDATE;
	j->req.item.contact = j->asker;
	j->req.roster_apply = read_only;
	j->req.roster_apply_arg = j;
	enum xs rc = im_store_submit(r, &im_last, &j->req, j->from);
	if (rc != XS_OK) {
		job_free(j);
		im_iq_error(q, rc == XS_LIMIT ? SC_RESOURCE_CONSTRAINT : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_park(q);
}

static void last(struct im_iq *q)
{
	if (!q->get) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	if (q->target == IM_TO_SERVER)
		uptime(q);
	else
		account(q);
}

static void logged_out(struct router *r, const char *bare)
{
	struct last_job *j = calloc(1, sizeof(*j));
	if (!j || !im_split_account(&j->req, bare)) {
		free(j);
		return;
	}
	snprintf(j->stamp, sizeof(j->stamp), "%lld", (long long)time(NULL));
	j->req.op = STORE_OP_DATA_PUT;
	snprintf(j->req.data_kind, sizeof(j->req.data_kind), "%s", KIND);
	snprintf(j->req.data_key, sizeof(j->req.data_key), "%s", KEY);
	j->req.xml = j->stamp;
	j->req.xml_len = strlen(j->stamp);
	if (im_store_submit(r, &im_last, &j->req, NULL) != XS_OK) {
		LOG_WARN("last logout of %s not stored", bare);
		job_free(j);
	}
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct last_job *j = (struct last_job *)req;
	if (cancelled || !j->st) {
		if (!cancelled && req->status != XS_OK)
			LOG_WARN("last logout of %s@%s not stored: %s", req->local, req->domain,
				 xs_name(req->status));
		goto out;
	}
	if (req->op == STORE_OP_ROSTER_UPDATE) {
		if (req->status != XS_OK || !req->existed ||
		    !(req->prev_subscription & ROSTER_SUB_FROM)) {
			im_reply_error(r, j->st, req->status == XS_OK ? SC_FORBIDDEN
								      : SC_INTERNAL_SERVER_ERROR);
			goto out;
		}
		/* allowed: now the time */
		store_roster_item_clear(&req->updated);
		req->op = STORE_OP_DATA_GET;
		snprintf(req->data_kind, sizeof(req->data_kind), "%s", KIND);
		snprintf(req->data_key, sizeof(req->data_key), "%s", KEY);
		if (im_store_submit(r, &im_last, req, j->from) != XS_OK) {
			im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
			goto out;
		}
		return;
	}
	if (req->status == XS_NOTFOUND) {
		im_reply_error(r, j->st, SC_ITEM_NOT_FOUND); /* never logged out */
		goto out;
	}
	long long stamp = req->status == XS_OK && req->data ? atoll(req->data) : -1;
	long long now = (long long)time(NULL);
	if (stamp < 0) {
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		goto out;
	}
	answer(r, j->st, j->to, now > stamp ? (uint64_t)(now - stamp) : 0);
out:
	job_free(j);
}

static const struct im_iq_handler iqs[] = {
	{ NS_LAST, "query", IM_TO_SERVER | IM_TO_ACCOUNT, false, last },
	IM_IQ_END,
};
static const char *const features[] = { NS_LAST, NULL };

const struct im_module im_last = {
	.name = "last",
	.iqs = iqs,
	.server_features = features,
	.store_done = store_done,
	.account_offline = logged_out,
};
