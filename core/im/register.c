/* XEP-0077 in-band registration after authentication: what an account
 * may do to itself.  A get says it is registered (3.2); a set with its
 * own username and a new password changes both SCRAM credentials (3.3);
 * a set with <remove/> deletes the account and ends its sessions (3.2).
 * Registering a new account happens before authentication, on the mux
 * threads (mux/mux_register.c).
 *
 * Both writes go to the storage thread (STORE_OP_USER_SET_PASSWORD,
 * STORE_OP_USER_DELETE); the new credentials are derived there, since two
 * PBKDF2 runs would hold up every session routed on this thread.  A
 * session has one such request in flight at a time (IM_SESS_REGISTER),
 * on top of its storage budget, so a client looping on password changes
 * keeps at most one derivation of its own queued on the storage thread. */
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
#include "core/xmpp/register_form.h"

struct reg_job {
	struct store_req req;       /* first: the store hands it back */
	struct stanza *st;
	char from[JID_BUF];         /* of the answer ("": none, to one's own account) */
	char password[REG_PASSWORD_MAX + 1]; /* wiped by the storage thread */
};

/* The sender's account: "local@domain" into req, and its bare JID. */
static bool sender_account(const struct stanza *st, struct store_req *req, char bare[JID_BUF])
{
	return jid_bare_of(st->from ? st->from : "", bare) && im_split_account(req, bare);
}

static void form(struct im_iq *q, const char *local)
{
	struct xml_node *query = xml_node_new_elem("query", NS_REGISTER);
	struct xml_node *user = query ? xml_node_new_child(query, "username", NS_REGISTER) : NULL;
	if (!user || !xml_node_new_child(query, "registered", NS_REGISTER) ||
	    xml_node_add_text(user, local, strlen(local)) != XS_OK ||
	    !xml_node_new_child(query, "password", NS_REGISTER)) {
		xml_node_free(query);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_result(q, query);
}

static void handle(struct im_iq *q)
{
	struct reg_job *j = calloc(1, sizeof(*j));
	char bare[JID_BUF];
	if (!j || !sender_account(q->st, &j->req, bare)) {
		free(j);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	/* to the server: only the sender's own (another host's accounts are
	 * not its business) */
	if (q->target == IM_TO_SERVER && strcmp(q->to, j->req.domain) != 0) {
		free(j);
		im_iq_error(q, SC_FORBIDDEN);
		return;
	}
	if (q->get) {
		form(q, j->req.local);
		free(j);
		return;
	}
	struct reg_form f;
	enum stanza_cond cond;
	if (!reg_form_parse(q->payload, &f, &cond)) {
		free(j);
		im_iq_error(q, cond);
		return;
	}
	/* XEP-0077 3.3: the username is the account's own */
	if (f.what == REG_SUBMIT && strcmp(f.username, j->req.local) != 0) {
		LOG_INFO("%s asked to change the password of %s@%s: refused", q->st->from,
			 f.username, j->req.domain);
		explicit_bzero(f.password, sizeof(f.password));
		free(j);
		im_iq_error(q, SC_FORBIDDEN);
		return;
	}
	if (im_session_flagged(q->r, q->st->from, IM_SESS_REGISTER)) {
		explicit_bzero(f.password, sizeof(f.password));
		free(j);
		im_iq_error(q, SC_RESOURCE_CONSTRAINT);
		return;
	}
	if (f.what == REG_SUBMIT) {
		j->req.op = STORE_OP_USER_SET_PASSWORD;
		memcpy(j->password, f.password, sizeof(j->password));
		explicit_bzero(f.password, sizeof(f.password));
		j->req.password = j->password;
		j->req.iterations = im_cfg(q->r)->scram_iterations;
	} else {
		j->req.op = STORE_OP_USER_DELETE;
	}
	if (!(q->target == IM_TO_ACCOUNT && q->own))
		snprintf(j->from, sizeof(j->from), "%s", q->to);
	j->st = stanza_ref(q->st);
	enum xs rc = im_store_submit(q->r, &im_register, &j->req, q->st->from);
	if (rc != XS_OK) {
		explicit_bzero(j->password, sizeof(j->password));
		stanza_unref(j->st);
		free(j);
		im_iq_error(q, rc == XS_LIMIT ? SC_RESOURCE_CONSTRAINT : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_session_flag(q->r, q->st->from, IM_SESS_REGISTER);
	im_iq_park(q);
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct reg_job *j = (struct reg_job *)req;
	const char *from = j->from[0] ? j->from : NULL;
	char bare[JID_BUF];
	if (cancelled)
		goto out;
	im_session_unflag(r, j->st->from, IM_SESS_REGISTER);
	snprintf(bare, sizeof(bare), "%s@%s", req->local, req->domain);
	if (req->status == XS_OK && req->op == STORE_OP_USER_DELETE) {
		LOG_INFO("account %s removed by %s (XEP-0077)", bare, j->st->from);
		/* the result first: it is queued ahead of the stream error */
		im_reply_result(r, j->st, from, NULL);
		im_end_sessions(r, bare, "not-authorized");
	} else if (req->status == XS_OK) {
		LOG_INFO("password of %s changed by %s (credentials: %llu us of CPU)", bare,
			 j->st->from, (unsigned long long)(req->cpu_ns / 1000));
		im_reply_result(r, j->st, from, NULL);
	} else if (req->status == XS_PROTO) {
		im_reply_error(r, j->st, SC_NOT_ACCEPTABLE);
	} else if (req->status == XS_NOTFOUND) {
		/* removed meanwhile (xmppctl deluser, another session) */
		im_reply_error(r, j->st, SC_ITEM_NOT_FOUND);
	} else {
		LOG_WARN("%s of %s failed: %s",
			 req->op == STORE_OP_USER_DELETE ? "removal" : "password change", bare,
			 xs_name(req->status));
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
	}
out:
	explicit_bzero(j->password, sizeof(j->password));
	stanza_unref(j->st);
	free(j);
}

static const struct im_iq_handler iqs[] = {
	{ NS_REGISTER, "query", IM_TO_SERVER | IM_TO_ACCOUNT, true, handle },
	IM_IQ_END,
};
static const char *const features[] = { NS_REGISTER, NULL };

const struct im_module im_register = {
	.name = "register", .iqs = iqs, .server_features = features, .store_done = store_done,
};
