/* The control socket's roster commands (xmppctl roster JID list|add|
 * remove), on the router's side: each is a storage request made here, on
 * the holder of the router's baton, like a client's roster get or set, so
 * that a change made while the account is online updates the router's copy
 * of the roster and is pushed to the account's resources in the same order
 * as the client's own changes (roster_changed).  Answers are text lines
 * for core/ctl, sent as MSG_CTL_REPLY; nothing is sent when the router is
 * going away (cancelled). */
#include "core/im/modules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/xbuf.h"
#include "core/conf/cfg.h"
#include "core/im/account.h"
#include "core/im/roster.h"
#include "core/route/ctl_cmd.h"
#include "core/route/msg.h"
#include "core/store/store_thread.h"

struct ctl_job {
	struct store_req req;   /* first: the store hands it back */
	enum ctl_op op;
	struct queue *q;        /* where the answer goes */
	int token;
	bool has_name;
	char name[1024];        /* add: the item's new name */
	char bare[JID_BUF];
	char contact[JID_BUF];
};

static void store_done(struct router *r, struct store_req *req, bool cancelled);

static const struct im_module roster_ctl_module = {
	.name = "roster_ctl", .store_done = store_done,
};

static void answer(struct ctl_job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void answer(struct ctl_job *j, const char *fmt, ...)
{
	char out[2 * JID_BUF + 100];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, sizeof(out), fmt, ap);
	va_end(ap);
	msg_ctl_reply(j->q, j->token, out);
}

static void job_free(struct ctl_job *j)
{
	store_roster_items_free(j->req.items, j->req.n_items);
	store_roster_item_clear(&j->req.updated);
	free(j->req.item.contact);
	free(j);
}

/* Hands j to the store; answers and frees it when that fails. */
static void submit(struct router *r, struct ctl_job *j)
{
	enum xs st = im_store_submit(r, &roster_ctl_module, &j->req, NULL);
	if (st != XS_OK) {
		answer(j, "error: storage: %s\n", xs_name(st));
		job_free(j);
	}
}

/* On the storage thread, in the write transaction: the administrator's
 * name if one was given, the rest as stored (a new item has none of
 * either), shown from now on. */
static enum roster_change apply_add(void *arg, struct store_roster_item *it, bool existed)
{
	struct ctl_job *j = arg;
	(void)existed;
	if (j->has_name)
		it->name = j->name;
	it->ask &= ~ROSTER_ASK_HIDDEN;
	return ROSTER_WRITE;
}

static enum roster_change apply_remove(void *arg, struct store_roster_item *it, bool existed)
{
	(void)arg;
	(void)it;
	(void)existed;
	return ROSTER_DELETE;
}

void roster_ctl(struct router *r, const struct ctl_cmd *cmd, struct queue *q, int token)
{
	struct ctl_job *j = calloc(1, sizeof(*j));
	if (!j) {
		msg_ctl_reply(q, token, "error: out of memory\n");
		return;
	}
	j->op = cmd->op;
	j->q = q;
	j->token = token;
	memcpy(j->bare, cmd->jid, cmd->bare_len);
	j->bare[cmd->bare_len] = '\0';
	memcpy(j->contact, cmd->contact, strlen(cmd->contact) + 1);
	if (!im_split_account(&j->req, j->bare)) {
		answer(j, "error: %s is not an account\n", j->bare);
		job_free(j);
		return;
	}
	if (cmd->op == CTL_ROSTER_LIST) {
		/* a roster read finds nothing for a name nobody owns: ask first */
		j->req.op = STORE_OP_USER_EXISTS;
		submit(r, j);
		return;
	}
	j->req.item.contact = strdup(j->contact);
	if (!j->req.item.contact) {
		answer(j, "error: out of memory\n");
		job_free(j);
		return;
	}
	j->req.op = STORE_OP_ROSTER_UPDATE;
	j->req.need_account = true;
	j->req.roster_apply_arg = j;
	if (cmd->op == CTL_ROSTER_ADD) {
		j->has_name = cmd->name[0] != '\0';
		memcpy(j->name, cmd->name, strlen(cmd->name) + 1);
		j->req.roster_apply = apply_add;
		j->req.max_items = im_cfg(r)->max_roster_items;
	} else {
		j->req.roster_apply = apply_remove;
	}
	submit(r, j);
}

static const char *const sub_names[] = { "none", "to", "from", "both" };

/* One line per item: contact, subscription with its pending states,
 * name, groups (comma-separated), tab-separated: a name may hold spaces. */
static void list_done(struct ctl_job *j)
{
	struct store_req *req = &j->req;
	struct xbuf b = { 0 };
	enum xs st = xbuf_append_str(&b, "ok\n");
	for (size_t i = 0; i < req->n_items && st == XS_OK; i++) {
		const struct store_roster_item *it = &req->items[i];
		st = xbuf_appendf(&b, "%s\t%s%s%s%s%s\t%s\t", it->contact,
				  sub_names[it->subscription <= ROSTER_SUB_BOTH ? it->subscription : 0],
				  it->ask & ROSTER_ASK_OUT ? "+pending-out" : "",
				  it->ask & ROSTER_ASK_IN ? "+pending-in" : "",
				  it->ask & ROSTER_ASK_PREAPPROVED ? "+preapproved" : "",
				  it->ask & ROSTER_ASK_HIDDEN ? "+hidden" : "",
				  it->name ? it->name : "");
		for (const char *g = it->groups; g && *g && st == XS_OK; g++)
			st = xbuf_append(&b, *g == '\x1f' ? "," : g, 1);
		if (st == XS_OK)
			st = xbuf_append_str(&b, "\n");
	}
	if (st == XS_OK)
		msg_ctl_reply(j->q, j->token, b.data);
	else
		answer(j, "error: out of memory\n");
	xbuf_free(&b);
}

static void update_done(struct router *r, struct ctl_job *j)
{
	struct store_req *req = &j->req;
	bool removed = j->op == CTL_ROSTER_REMOVE;
	if (removed && !req->existed) {
		answer(j, "error: %s is not in the roster of %s\n", j->contact, j->bare);
		return;
	}
	LOG_INFO("control: roster of %s: %s %s", j->bare, removed ? "removed" : "set", j->contact);
	roster_changed(r, j->bare, req, removed, NULL);
	if (removed)
		answer(j, "ok\nremoved %s from the roster of %s\n", j->contact, j->bare);
	else
		answer(j, req->existed ? "ok\nupdated %s in the roster of %s\n"
				       : "ok\nadded %s to the roster of %s\n", j->contact, j->bare);
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct ctl_job *j = (struct ctl_job *)req;
	if (cancelled) {
		job_free(j);
		return;
	}
	if (req->status == XS_NOTFOUND || (req->op == STORE_OP_USER_EXISTS &&
					   req->status == XS_OK && !req->exists)) {
		answer(j, "error: no account %s\n", j->bare);
	} else if (req->status == XS_LIMIT) {
		answer(j, "error: the roster of %s is full ([im] max_roster_items = %u)\n", j->bare,
		       req->max_items);
	} else if (req->status != XS_OK) {
		answer(j, "error: storage: %s\n", xs_name(req->status));
	} else if (req->op == STORE_OP_USER_EXISTS) {
		req->op = STORE_OP_ROSTER_GET;
		submit(r, j);
		return; /* j goes on */
	} else if (req->op == STORE_OP_ROSTER_GET) {
		list_done(j);
	} else {
		update_done(r, j);
	}
	job_free(j);
}
