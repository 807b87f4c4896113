/* XEP-0077 in-band registration before authentication (section 3.1).
 *
 * Offered only where the host says `registration = open` and only on an
 * encrypted stream: the password travels in the iq, as it does in SASL
 * PLAIN, which is never offered in plaintext either.  Anywhere else a
 * registration iq is what any stanza before authentication always was:
 * a stream error (mux_stream.c).
 *
 * The work is bounded because it comes from anyone: a get is answered
 * from here (no storage); a set is parsed and checked here (Nodeprep of
 * the name, the password's length and UTF-8), then takes one token from
 * the address's registration bucket ([limits] registrations_per_ip_per_hour,
 * the peer table all mux threads share) and goes to the storage thread,
 * which looks the name up, derives the two SCRAM credentials (two PBKDF2
 * runs of [sasl] scram_iterations: milliseconds of CPU, kept off this
 * thread) and inserts the account.  One registration per connection is in
 * flight at a time; SASL and STARTTLS wait for its answer.  The answer
 * comes back through this thread's inbox as a MSG_STORE_DONE, as SASL's
 * credential lookups do. */
#include "mux/c2s/c2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/ns.h"
#include "core/xmpp/register_form.h"
#include "core/xmpp/stanza.h"

/* A registration on its way to the store and back: one allocation, so
 * that whoever finds it in an inbox at shutdown frees it with free(). */
struct reg_job {
	struct store_req req;      /* first: the store hands it back */
	struct mux *mux;
	struct sess_handle h;
	char password[REG_PASSWORD_MAX + 1]; /* wiped by the storage thread */
	char id[];                 /* the iq's id ("" for none) */
};

/* What MSG_STORE_DONE's owner is for a registration (SASL's have none). */
static const char reg_owner = 'r';

bool register_offered(const struct mux_conn *c)
{
	if (c->authenticated || !c->domain[0] || !conn_is_encrypted(c))
		return false;
	const struct cfg_host *h = cfg_find_host(c->mux->cfg, c->domain);
	return h && h->registration_open;
}

bool register_wants(const struct mux_conn *c, const struct xml_node *el)
{
	if (strcmp(el->name, "iq") != 0 || strcmp(el->ns, NS_CLIENT) != 0)
		return false;
	const struct xml_node *q = xml_node_first_elem(el);
	return q && strcmp(q->name, "query") == 0 && strcmp(q->ns, NS_REGISTER) == 0 &&
	       register_offered(c);
}

/* Writes a reply; NULL (out of memory building it) ends the stream. */
static void send_stanza(struct mux_conn *c, struct stanza *st)
{
	if (!st) {
		LOG_ERR("c%u.%llu: out of memory answering a registration: closing", c->mux->idx,
			(unsigned long long)c->id);
		conn_close(c, "out of memory");
		return;
	}
	conn_send(c, st->bytes, st->len);
	stanza_unref(st);
}

/* Writes a reply built as a tree (the id escaped by the writer). */
static void send_tree(struct mux_conn *c, struct xml_node *iq)
{
	send_stanza(c, iq ? stanza_freeze(iq) : NULL);
}

static struct xml_node *reply_iq(const char *type, const char *id)
{
	struct xml_node *iq = xml_node_new_elem("iq", NS_CLIENT);
	if (!iq || xml_node_set_attr(iq, "type", type) != XS_OK ||
	    (id && *id && xml_node_set_attr(iq, "id", id) != XS_OK)) {
		xml_node_free(iq);
		return NULL;
	}
	return iq;
}

/* The error without the request's payload: the password is not echoed. */
static void send_error(struct mux_conn *c, const char *type, const char *id,
		       enum stanza_cond cond, const char *text)
{
	struct xml_node *req = reply_iq(type, id);
	struct stanza *st = req ? stanza_error_reply(req, NULL, cond, text) : NULL;
	xml_node_free(req);
	send_stanza(c, st);
}

/* XEP-0077 3.1 example 2: the fields this server asks for. */
static void send_form(struct mux_conn *c, const char *id)
{
	struct xml_node *iq = reply_iq("result", id);
	struct xml_node *q = iq ? xml_node_new_child(iq, "query", NS_REGISTER) : NULL;
	struct xml_node *ins = q ? xml_node_new_child(q, "instructions", NS_REGISTER) : NULL;
	char text[320];
	snprintf(text, sizeof(text), "Choose a username and password for an account on %s.",
		 c->domain);
	if (!ins || xml_node_add_text(ins, text, strlen(text)) != XS_OK ||
	    !xml_node_new_child(q, "username", NS_REGISTER) ||
	    !xml_node_new_child(q, "password", NS_REGISTER)) {
		xml_node_free(iq);
		iq = NULL;
	}
	send_tree(c, iq);
}

/* The per-address rate, unless the address is exempt; a refusal is
 * logged, at most once a second per thread with the count since. */
static bool rate_allows(struct mux_conn *c)
{
	struct mux *m = c->mux;
	char key[PEER_KEY_LEN], ip[INET6_ADDRSTRLEN];
	conn_peer_ip(c, ip);
	if (mux_peer_exempt(m, ip))
		return true;
	uint64_t now = mux_now_ms();
	if (mux_peer_key(m, ip, key) && peer_registration_take(m->group->peers, key, now))
		return true;
	m->reg_refused++;
	if (now - m->reg_log_ms >= 1000 || !m->reg_log_ms) {
		LOG_WARN("c%u.%llu: registration from %s refused: [limits] "
			 "registrations_per_ip_per_hour (%u) reached (%u refused since the last "
			 "such line)",
			 m->idx, (unsigned long long)c->id, ip,
			 m->cfg->registrations_per_ip_per_hour, m->reg_refused);
		m->reg_refused = 0;
		m->reg_log_ms = now;
	}
	return false;
}

static void done_cb(struct store_req *req, void *arg)
{
	/* storage thread: back to the connection's thread */
	struct reg_job *j = arg;
	struct msg *msg = msg_new(MSG_STORE_DONE, NULL);
	(void)req;
	if (!msg) {
		/* the connection keeps waiting until the pre-auth timeout */
		free(j);
		return;
	}
	msg->ptr = j;
	msg->owner = &reg_owner;
	msg->h = j->h;
	mux_post(j->mux, j->h.thread, msg);
}

static void submit(struct mux_conn *c, const char *id, struct reg_form *f)
{
	size_t idl = strlen(id);
	struct reg_job *j = calloc(1, sizeof(*j) + idl + 1);
	if (!j) {
		send_error(c, "set", id, SC_RESOURCE_CONSTRAINT, NULL);
		return;
	}
	memcpy(j->id, id, idl + 1);
	memcpy(j->password, f->password, sizeof(j->password));
	j->mux = c->mux;
	j->h = conn_handle(c);
	j->req.op = STORE_OP_USER_CREATE;
	snprintf(j->req.domain, sizeof(j->req.domain), "%s", c->domain);
	snprintf(j->req.local, sizeof(j->req.local), "%s", f->username);
	j->req.password = j->password;
	j->req.iterations = c->mux->cfg->scram_iterations;
	j->req.done = done_cb;
	j->req.done_arg = j;
	if (store_thread_submit(c->mux->store, &j->req) != XS_OK) {
		explicit_bzero(j->password, sizeof(j->password));
		free(j);
		send_error(c, "set", id, SC_INTERNAL_SERVER_ERROR, NULL);
		return;
	}
	c2s_neg(c)->reg_pending = true;
	LOG_DEBUG("c%u.%llu: registration of %s@%s from %s sent to the store", c->mux->idx,
		  (unsigned long long)c->id, f->username, c->domain, c->peer);
}

/* 'to' is absent (the server the stream is with) or names that server. */
static bool to_ok(const struct mux_conn *c, const struct xml_node *el)
{
	const char *to = xml_node_attr(el, "to");
	char dom[JID_PART_MAX + 1];
	return !to || (jid_domain_prep(to, dom, sizeof(dom)) == XS_OK && !strcmp(dom, c->domain));
}

void register_on_iq(struct mux_conn *c, struct xml_node *el)
{
	const char *type = xml_node_attr(el, "type");
	const char *id = xml_node_attr(el, "id");
	struct xml_node *q = xml_node_first_elem(el);
	bool get = type && !strcmp(type, "get"), set = type && !strcmp(type, "set");
	if (!id)
		id = "";
	if (!get && !set)
		goto out; /* a result or error to nothing we asked: dropped */
	if (!to_ok(c, el)) {
		send_error(c, type, id, SC_SERVICE_UNAVAILABLE, NULL);
		goto out;
	}
	if (get) {
		send_form(c, id);
		goto out;
	}
	if (c2s_neg(c)->reg_pending) {
		send_error(c, type, id, SC_RESOURCE_CONSTRAINT, "a registration is in progress");
		goto out;
	}
	if (c->c2s.phase != C2S_NEGOTIATING) {
		send_error(c, type, id, SC_NOT_ALLOWED, "not during authentication");
		goto out;
	}
	struct reg_form f;
	enum stanza_cond cond;
	if (!reg_form_parse(q, &f, &cond)) {
		send_error(c, type, id, cond, cond == SC_NOT_ACCEPTABLE
						      ? "a username (a valid JID localpart) and a "
							"non-empty password are required"
						      : NULL);
		goto out;
	}
	if (f.what == REG_REMOVE) {
		/* nothing to cancel before authentication */
		send_error(c, type, id, SC_NOT_ALLOWED, "authenticate to cancel a registration");
	} else if (!rate_allows(c)) {
		send_error(c, type, id, SC_POLICY_VIOLATION,
			   "too many registrations from this address; try again later");
	} else {
		submit(c, id, &f);
	}
	explicit_bzero(f.password, sizeof(f.password));
out:
	reg_form_wipe(q);
}

bool register_on_store_done(struct mux *m, struct msg *msg)
{
	if (msg->owner != &reg_owner)
		return false;
	struct reg_job *j = msg->ptr;
	struct mux_conn *c = conn_by_handle(m, j->h);
	if (!c || c->dead || c->closing || !c->neg || !c2s_neg(c)->reg_pending) {
		free(j);
		return true;
	}
	c2s_neg(c)->reg_pending = false;
	const struct store_req *r = &j->req;
	if (r->status == XS_OK) {
		LOG_INFO("c%u.%llu: registered %s@%s from %s (credentials: %llu us of CPU)", m->idx,
			 (unsigned long long)c->id, r->local, r->domain, c->peer,
			 (unsigned long long)(r->cpu_ns / 1000));
		send_tree(c, reply_iq("result", j->id));
	} else if (r->status == XS_INVAL && r->exists) {
		LOG_INFO("c%u.%llu: registration of %s@%s from %s: the account exists", m->idx,
			 (unsigned long long)c->id, r->local, r->domain, c->peer);
		send_error(c, "set", j->id, SC_CONFLICT, NULL);
	} else if (r->status == XS_PROTO) {
		send_error(c, "set", j->id, SC_NOT_ACCEPTABLE, "the password is not acceptable");
	} else {
		LOG_WARN("c%u.%llu: registration of %s@%s failed: %s", m->idx,
			 (unsigned long long)c->id, r->local, r->domain, xs_name(r->status));
		send_error(c, "set", j->id, SC_INTERNAL_SERVER_ERROR, NULL);
	}
	free(j);
	return true;
}
