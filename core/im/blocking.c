/* XEP-0191 Blocking Command: the account's blocklist, read and changed by
 * the account itself through the store; after each change the router's
 * copy is updated (im_blocklist_cached: the checks themselves live in
 * core/route/blocking.c and the store) and every resource that asked for
 * the blocklist gets a push.  [im] max_blocklist_items bounds it
 * (policy-violation). */
#include "core/im/modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/conf/cfg.h"
#include "core/im/account.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/jid.h"

struct block_job {
	struct store_req req;   /* first: the store hands it back */
	struct stanza *st;
	char from[JID_BUF];
	char bare[JID_BUF];
	bool add;               /* set: block (else unblock) */
	char **jids;            /* set: the items, normalised */
	size_t n;
};

static void job_free(struct block_job *j)
{
	stanza_unref(j->st);
	for (size_t i = 0; i < j->n; i++)
		free(j->jids[i]);
	free(j->jids);
	store_strings_free(j->req.blocked, j->req.n_blocked);
	free(j);
}

static struct block_job *job_new(struct im_iq *q)
{
	struct block_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	size_t fl = strlen(q->st->from), bl = strlen(q->to);
	if (fl >= sizeof(j->from) || bl >= sizeof(j->bare) || !im_split_account(&j->req, q->to)) {
		free(j);
		return NULL;
	}
	memcpy(j->from, q->st->from, fl + 1);
	memcpy(j->bare, q->to, bl + 1);
	j->st = stanza_ref(q->st);
	return j;
}

static void submit(struct im_iq *q, struct block_job *j)
{
	enum xs st = im_store_submit(q->r, &im_blocking, &j->req, j->from);
	if (st != XS_OK) {
		job_free(j);
		im_iq_error(q, st == XS_LIMIT ? SC_RESOURCE_CONSTRAINT : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_park(q);
}

static struct xml_node *list_node(const char *name, char *const *jids, size_t n)
{
	struct xml_node *list = xml_node_new_elem(name, NS_BLOCKING);
	for (size_t i = 0; list && i < n; i++) {
		struct xml_node *it = xml_node_new_child(list, "item", NS_BLOCKING);
		if (!it || xml_node_set_attr(it, "jid", jids[i]) != XS_OK) {
			xml_node_free(list);
			return NULL;
		}
	}
	return list;
}

static void get(struct im_iq *q)
{
	struct block_job *j = job_new(q);
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->req.op = STORE_OP_BLOCK_LIST;
	/* XEP-0191 3.2: a resource that asked gets the pushes from now on */
	im_session_flag(q->r, j->from, IM_SESS_BLOCKLIST);
	submit(q, j);
}

/* The <item jid=''/> children, normalised; false (q answered) on a bad
 * one. */
static bool collect(struct im_iq *q, struct block_job *j)
{
	size_t cap = 0;
	for (struct xml_node *it = xml_node_first_elem(q->payload); it; it = xml_node_next_elem(it)) {
		if (strcmp(it->name, "item") != 0 || strcmp(it->ns, NS_BLOCKING) != 0)
			continue;
		const char *jid = xml_node_attr(it, "jid");
		char norm[JID_BUF];
		size_t bl;
		if (!jid) {
			im_iq_error(q, SC_BAD_REQUEST);
			return false;
		}
		if (jid_normalize(jid, strlen(jid), norm, sizeof(norm), &bl) != XS_OK) {
			im_iq_error(q, SC_JID_MALFORMED);
			return false;
		}
		if (j->n == cap) {
			cap = cap ? cap * 2 : 4;
			char **n = realloc(j->jids, cap * sizeof(*n));
			if (!n) {
				im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
				return false;
			}
			j->jids = n;
		}
		if (!(j->jids[j->n] = strdup(norm))) {
			im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
			return false;
		}
		j->n++;
	}
	return true;
}

static void set(struct im_iq *q)
{
	bool add = strcmp(q->payload->name, "block") == 0;
	struct block_job *j = job_new(q);
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	if (!collect(q, j)) {
		job_free(j);
		return;
	}
	if (add && j->n == 0) {
		/* XEP-0191 3.3: a block without an item */
		job_free(j);
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	j->add = add;
	j->req.op = STORE_OP_BLOCK_CHANGE;
	j->req.block_jids = (const char *const *)j->jids;
	j->req.n_block_jids = j->n;
	j->req.block_add = add;
	j->req.max_items = im_cfg(q->r)->max_blocklist_items;
	submit(q, j);
}

static void handle(struct im_iq *q)
{
	bool list = strcmp(q->payload->name, "blocklist") == 0;
	if (list != q->get) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	if (list)
		get(q);
	else
		set(q);
}

struct push {
	struct router *r;
	const struct block_job *j;
	unsigned n;
};

static void push_one(void *arg, const char *full, unsigned *flags)
{
	struct push *p = arg;
	if (!(*flags & IM_SESS_BLOCKLIST))
		return;
	struct xml_node *iq = xml_node_new_elem("iq", NS_CLIENT);
	struct xml_node *list = list_node(p->j->add ? "block" : "unblock", p->j->jids, p->j->n);
	char id[32];
	snprintf(id, sizeof(id), "block-push%u", p->n++);
	if (!iq || !list || xml_node_set_attr(iq, "type", "set") != XS_OK ||
	    xml_node_set_attr(iq, "id", id) != XS_OK || xml_node_set_attr(iq, "to", full) != XS_OK) {
		xml_node_free(iq);
		xml_node_free(list);
		LOG_WARN("blocklist push to %s lost: out of memory", full);
		return;
	}
	xml_node_add_child(iq, list);
	struct stanza *st = stanza_freeze(iq);
	if (!st) {
		LOG_WARN("blocklist push to %s lost: out of memory", full);
		return;
	}
	im_send_to(p->r, full, st);
	stanza_unref(st);
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct block_job *j = (struct block_job *)req;
	if (cancelled)
		goto out;
	if (req->status == XS_LIMIT) {
		LOG_INFO("blocklist of %s full ([im] max_blocklist_items = %u)", j->bare,
			 req->max_items);
		im_reply_error(r, j->st, SC_POLICY_VIOLATION);
		goto out;
	}
	if (req->status != XS_OK) {
		LOG_WARN("blocklist of %s: %s", j->bare, xs_name(req->status));
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		goto out;
	}
	if (req->op == STORE_OP_BLOCK_LIST) {
		struct xml_node *list = list_node("blocklist", req->blocked, req->n_blocked);
		if (list)
			im_reply_result(r, j->st, NULL, list);
		else
			im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		goto out;
	}
	im_reply_result(r, j->st, NULL, NULL);
	im_blocklist_cached(r, j->bare, (const char *const *)j->jids, j->n, j->add);
	struct push p = { .r = r, .j = j };
	im_each_session(r, j->bare, push_one, &p);
out:
	job_free(j);
}

static const struct im_iq_handler iqs[] = {
	{ NS_BLOCKING, "blocklist", IM_TO_ACCOUNT, true, handle },
	{ NS_BLOCKING, "block", IM_TO_ACCOUNT, true, handle },
	{ NS_BLOCKING, "unblock", IM_TO_ACCOUNT, true, handle },
	IM_IQ_END,
};
static const char *const features[] = { NS_BLOCKING, NULL };

const struct im_module im_blocking = {
	.name = "blocking",
	.iqs = iqs,
	.server_features = features,
	.account_features = features,
	.store_done = store_done,
};
