/* SASL authentication on a mux connection (RFC 6120 §6).
 *
 * Mechanisms: SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS) and PLAIN, the last
 * only inside TLS.  -PLUS binds to the TLS session with tls-exporter
 * (RFC 9266, TLS 1.3) or tls-server-end-point (RFC 5929, the hash of our
 * certificate, TLS 1.2 too), both advertised with XEP-0440.
 * Credentials are looked up on the storage thread: the connection waits in
 * C2S_AUTH_PENDING and resumes when the answer comes back through the mux
 * inbox.  A failed attempt is answered after a delay that doubles with each
 * failure from the same address (an IPv4 address or IPv6 prefix, counted in
 * the peer table all mux threads share), and the fifth failure on one
 * stream closes it ([sasl] max_auth_failures; any refused SASL element
 * counts toward max_auth_attempts, 10). */
#include "mux/c2s/c2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/base64.h"
#include "core/xmpp/jid.h"
#include "core/base/log.h"
#include "core/auth/sasl_plain.h"
#include "core/auth/sasl_scram.h"
#include "core/base/siphash.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "tls/tls.h"
#include "core/xmpp/ns.h"


struct auth_lookup {
	struct store_req req;
	struct mux *mux;
	struct sess_handle h;
	/* PLAIN: the password, checked on the storage thread (PBKDF2 costs a
	 * mux thread a millisecond or more at 4096 iterations), then wiped */
	char *plain_password;
	unsigned fake_iterations; /* the work done for an unknown user */
	bool plain_ok;
};

/* The iteration count an unknown user appears to have: drawn from the
 * counts real accounts use (req->iters, from the store), weighted by how
 * many use each, by a keyed hash of the name.  The same name always gets
 * the same count (the key is the fake-salt key, kept across restarts), and
 * after [sasl] scram_iterations changes an unknown name is as likely to
 * show the old count as an account made before the change; dflt when the
 * store has no accounts.  Any thread: reads the group's key, written
 * before the threads started. */
static unsigned fake_iterations(const struct mux_group *g, const struct store_req *req,
				unsigned dflt)
{
	unsigned long long total = 0;
	for (unsigned i = 0; i < req->n_iters; i++)
		total += req->iters[i].count;
	if (!total)
		return dflt;
	struct siphash_key k = siphash_key_from_bytes(g->fake_salt_key + 16);
	char name[sizeof(req->domain) + sizeof(req->local)];
	int n = snprintf(name, sizeof(name), "%s@%s", req->local, req->domain);
	unsigned long long pick = siphash24(&k, name, n > 0 ? (size_t)n : 0) % total;
	for (unsigned i = 0; i < req->n_iters; i++) {
		if (pick < req->iters[i].count)
			return req->iters[i].iterations;
		pick -= req->iters[i].count;
	}
	return dflt;
}

/* PLAIN's check, on the storage thread: the password against the stored
 * credential, or, for an unknown user, against a credential no password
 * matches with as many iterations as a real one, so that the time taken
 * does not tell whether the account exists. */
static void plain_check(struct auth_lookup *l)
{
	if (l->req.status == XS_OK) {
		l->plain_ok = scram_password_matches(&l->req.cred, l->plain_password);
	} else {
		struct scram_cred none = {
			.hash = SCRAM_SHA256,
			.iterations = fake_iterations(l->mux->group, &l->req, l->fake_iterations),
			.salt_len = SCRAM_SALT_LEN,
		};
		(void)scram_password_matches(&none, l->plain_password);
		l->plain_ok = false;
	}
	explicit_bzero(l->plain_password, strlen(l->plain_password));
	free(l->plain_password);
	l->plain_password = NULL;
	explicit_bzero(&l->req.cred, sizeof(l->req.cred));
}

static const struct {
	enum sasl_mech mech;
	const char *name;
	enum scram_hash hash;
	bool plus;
} mech_table[] = {
	{ MECH_SCRAM_SHA256_PLUS, "SCRAM-SHA-256-PLUS", SCRAM_SHA256, true },
	{ MECH_SCRAM_SHA1_PLUS, "SCRAM-SHA-1-PLUS", SCRAM_SHA1, true },
	{ MECH_SCRAM_SHA256, "SCRAM-SHA-256", SCRAM_SHA256, false },
	{ MECH_SCRAM_SHA1, "SCRAM-SHA-1", SCRAM_SHA1, false },
	{ MECH_PLAIN, "PLAIN", SCRAM_SHA256, false },
};

static const char *mech_name(enum sasl_mech m)
{
	for (size_t i = 0; i < sizeof(mech_table) / sizeof(mech_table[0]); i++)
		if (mech_table[i].mech == m)
			return mech_table[i].name;
	return "?";
}

/* Channel binding for -PLUS: tls-exporter (RFC 9266) after a TLS 1.3
 * handshake, tls-server-end-point (RFC 5929, the hash of our certificate)
 * on TLS 1.2 and 1.3 alike. */
static bool has_exporter(struct mux_conn *c)
{
	struct tls_sess *t = conn_tls_top(c);
	return t && tls_sess_handshake_done(t) && tls_sess_version(t) >= 13;
}

static bool has_end_point(struct mux_conn *c, uint8_t out[TLS_END_POINT_MAX], size_t *len)
{
	struct tls_sess *t = conn_tls_top(c);
	return t && tls_sess_server_end_point(t, out, len) == XS_OK;
}

static bool plus_available(struct mux_conn *c)
{
	uint8_t ep[TLS_END_POINT_MAX];
	size_t n;
	return has_exporter(c) || has_end_point(c, ep, &n);
}

static bool mech_offered(struct mux_conn *c, enum sasl_mech m)
{
	switch (m) {
	case MECH_SCRAM_SHA256_PLUS:
	case MECH_SCRAM_SHA1_PLUS:
		return plus_available(c);
	case MECH_SCRAM_SHA256:
	case MECH_SCRAM_SHA1:
		return true;
	case MECH_PLAIN:
		return c->mux->cfg->allow_plain && conn_is_encrypted(c);
	default:
		return false;
	}
}

enum xs sasl_mechanisms_xml(struct mux_conn *c, struct xbuf *out)
{
	enum xs st = xbuf_append_str(out, "<mechanisms xmlns='" NS_SASL "'>");
	for (size_t i = 0; st == XS_OK && i < sizeof(mech_table) / sizeof(mech_table[0]); i++)
		if (mech_offered(c, mech_table[i].mech))
			st = xbuf_appendf(out, "<mechanism>%s</mechanism>", mech_table[i].name);
	if (st == XS_OK)
		st = xbuf_append_str(out, "</mechanisms>");
	/* XEP-0440: the types a -PLUS client may use here */
	uint8_t ep[TLS_END_POINT_MAX];
	size_t ep_len;
	bool exporter = has_exporter(c), end_point = has_end_point(c, ep, &ep_len);
	if (st == XS_OK && (exporter || end_point))
		st = xbuf_append_str(out, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
	if (st == XS_OK && exporter)
		st = xbuf_append_str(out, "<channel-binding type='tls-exporter'/>");
	if (st == XS_OK && end_point)
		st = xbuf_append_str(out, "<channel-binding type='tls-server-end-point'/>");
	if (st == XS_OK && (exporter || end_point))
		st = xbuf_append_str(out, "</sasl-channel-binding>");
	return st;
}

static void send_failure_now(struct mux_conn *c, enum sasl_condition cond)
{
	char buf[160];
	snprintf(buf, sizeof(buf), "<failure xmlns='" NS_SASL "'><%s/></failure>",
		 sasl_condition_name(cond));
	conn_send_str(c, buf);
}

void sasl_conn_cleanup(struct mux_conn *c)
{
	if (!c->neg)
		return; /* bound: nothing of an exchange is left */
	if (c2s_neg(c)->scram) {
		scram_server_free(c2s_neg(c)->scram);
		c2s_neg(c)->scram = NULL;
	}
	if (c2s_neg(c)->plain_password) {
		explicit_bzero(c2s_neg(c)->plain_password, strlen(c2s_neg(c)->plain_password));
		free(c2s_neg(c)->plain_password);
		c2s_neg(c)->plain_password = NULL;
	}
	c2s_neg(c)->mech = MECH_NONE;
}

void sasl_reset(struct mux_conn *c)
{
	sasl_conn_cleanup(c);
	if (c->neg) {
		free(c2s_neg(c)->authcid);
		c2s_neg(c)->authcid = NULL;
	}
}

/* A failed attempt: logged; answered at once when no credential was
 * checked (a mechanism or channel-binding mismatch, so that clients can fall
 * back to the next mechanism), else after a delay that grows with each
 * failure from the same address. */
static void auth_fail(struct mux_conn *c, enum sasl_condition cond, const char *why, bool checked)
{
	struct mux *m = c->mux;
	const char *mech = mech_name(c2s_neg(c)->mech);
	/* Wrong credentials are a warning; a mechanism the client could not
	 * complete (it falls back to the next one) is routine. */
	log_msg(checked ? LOG_LVL_WARN : LOG_LVL_INFO,
		"c%u.%llu: authentication failed for %s@%s from %s (%s): %s", m->idx,
		(unsigned long long)c->id, c2s_neg(c)->authcid ? c2s_neg(c)->authcid : "?", c->domain, c->peer, mech, why);
	c2s_neg(c)->auth_attempts++;
	m->n_auth_failed++;
	if (!checked) {
		sasl_reset(c);
		send_failure_now(c, cond);
		c->c2s.phase = C2S_NEGOTIATING;
		if (c2s_neg(c)->auth_attempts >= m->cfg->max_auth_attempts)
			stream_error(c, "policy-violation", "too many authentication attempts");
		return;
	}
	sasl_conn_cleanup(c);
	c2s_neg(c)->auth_failures++;
	char key[PEER_KEY_LEN], ip[INET6_ADDRSTRLEN];
	unsigned n = mux_peer_key(c->mux, conn_peer_ip(c, ip), key) ? peer_auth_failed(m->group->peers, key, mux_now_ms()) : 1;
	if (!n)
		n = 1;
	uint64_t delay = m->cfg->auth_fail_delay_ms;
	for (unsigned i = 1; i < n && delay < m->cfg->auth_fail_delay_max_ms; i++)
		delay *= 2;
	if (delay > m->cfg->auth_fail_delay_max_ms)
		delay = m->cfg->auth_fail_delay_max_ms;
	c2s_neg(c)->delayed_cond = (int)cond;
	c->c2s.phase = C2S_AUTH_PENDING;
	conn_delay_insert(c, mux_now_ms() + delay);
}

void sasl_delay_fire(struct mux_conn *c)
{
	if (!c->neg)
		return; /* cannot be: a delayed failure keeps the stream unauthenticated */
	send_failure_now(c, (enum sasl_condition)c2s_neg(c)->delayed_cond);
	c->c2s.phase = C2S_NEGOTIATING;
	sasl_reset(c);
	const struct cfg *cfg = c->mux->cfg;
	if (c2s_neg(c)->auth_failures >= cfg->max_auth_failures || c2s_neg(c)->auth_attempts >= cfg->max_auth_attempts)
		stream_error(c, "policy-violation", "too many failed authentication attempts");
}

/* Sends <name xmlns=sasl>base64(data)</name>; empty data gives an empty
 * element.  Out of memory half-way, the element would go out truncated or
 * empty (a challenge without its content): the connection is closed
 * instead, with a log line, and false returned. */
static bool send_sasl_data(struct mux_conn *c, const char *name, const char *data, size_t len)
{
	struct xbuf b = { 0 };
	enum xs st = xbuf_appendf(&b, "<%s xmlns='" NS_SASL "'>", name);
	if (st == XS_OK && len) {
		size_t cap = base64_encoded_len(len) + 1, n = 0;
		char *enc = malloc(cap);
		st = enc ? base64_encode(data, len, enc, cap, &n) : XS_NOMEM;
		if (st == XS_OK)
			st = xbuf_append(&b, enc, n);
		free(enc);
	}
	if (st == XS_OK)
		st = xbuf_appendf(&b, "</%s>", name);
	if (st != XS_OK) {
		LOG_ERR("c%u.%llu: out of memory writing SASL <%s/>: closing", c->mux->idx,
			(unsigned long long)c->id, name);
		xbuf_free(&b);
		conn_close(c, "out of memory");
		return false;
	}
	conn_send(c, b.data, b.len);
	xbuf_free(&b);
	return true;
}

static void auth_succeeded(struct mux_conn *c, const char *final, size_t final_len)
{
	struct mux *m = c->mux;
	const char *mech = mech_name(c2s_neg(c)->mech);
	LOG_INFO("c%u.%llu: authenticated %s@%s (%s)", m->idx, (unsigned long long)c->id,
		 c2s_neg(c)->authcid, c->domain, mech);
	sasl_conn_cleanup(c);
	if (!send_sasl_data(c, "success", final, final_len))
		return;
	char key[PEER_KEY_LEN], ip[INET6_ADDRSTRLEN];
	if (mux_peer_key(c->mux, conn_peer_ip(c, ip), key)) {
		peer_auth_succeeded(m->group->peers, key);
		peer_conn_authenticated(m->group->peers, key);
	}
	c->authenticated = true;
	/* the pre-auth timer runs on until a resource is bound */
	conn_request_restart(c);
}

static void lookup_done_cb(struct store_req *req, void *arg)
{
	/* storage thread: hand the answer back to the connection's thread */
	struct auth_lookup *l = arg;
	if (l->plain_password)
		plain_check(l);
	struct msg *msg = msg_new(MSG_STORE_DONE, NULL);
	if (!msg) {
		/* cannot tell the connection: it stays pending until the
		 * pre-auth timeout closes it */
		explicit_bzero(&l->req.cred, sizeof(l->req.cred));
		free(l);
		return;
	}
	(void)req;
	msg->ptr = l;
	msg->h = l->h;
	mux_post(l->mux, l->h.thread, msg);
}

static bool start_lookup(struct mux_conn *c, enum scram_hash hash)
{
	struct auth_lookup *l = calloc(1, sizeof(*l));
	if (!l)
		return false;
	/* PLAIN's password goes with the request; the connection keeps none */
	l->plain_password = c2s_neg(c)->plain_password;
	c2s_neg(c)->plain_password = NULL;
	l->fake_iterations = c->mux->cfg->scram_iterations;
	l->mux = c->mux;
	l->h = conn_handle(c);
	l->req.op = STORE_OP_GET_CRED;
	l->req.hash = hash;
	snprintf(l->req.domain, sizeof(l->req.domain), "%s", c->domain);
	snprintf(l->req.local, sizeof(l->req.local), "%s", c2s_neg(c)->authcid);
	l->req.done = lookup_done_cb;
	l->req.done_arg = l;
	if (store_thread_submit(c->mux->store, &l->req) != XS_OK) {
		if (l->plain_password) {
			explicit_bzero(l->plain_password, strlen(l->plain_password));
			free(l->plain_password);
		}
		free(l);
		return false;
	}
	c->c2s.phase = C2S_AUTH_PENDING;
	c2s_neg(c)->auth_lookup_pending = true;
	return true;
}

/* authzid: empty, or exactly the account being authenticated (no
 * authenticating as one user and acting as another). */
static bool authzid_ok(struct mux_conn *c, const char *authzid)
{
	if (!authzid || !*authzid)
		return true;
	char want[JID_BUF], got[JID_BUF];
	snprintf(want, sizeof(want), "%s@%s", c2s_neg(c)->authcid, c->domain);
	size_t bl;
	if (jid_normalize(authzid, strlen(authzid), got, sizeof(got), &bl) != XS_OK)
		return false;
	return strcmp(want, got) == 0;
}

/* Handles the client's first message (initial response or first <response>). */
static void sasl_first_message(struct mux_conn *c, const char *msg, size_t len)
{
	if (c2s_neg(c)->mech == MECH_PLAIN) {
		char authzid[JID_BUF], authcid[1024], password[1024], local[1024];
		if (sasl_plain_parse(msg, len, authzid, sizeof(authzid), authcid, sizeof(authcid),
				     password, sizeof(password)) != SCRAM_DONE ||
		    jid_local_prep(authcid, local, sizeof(local)) != XS_OK) {
			auth_fail(c, SASL_COND_MALFORMED_REQUEST, "malformed PLAIN message", false);
			explicit_bzero(password, sizeof(password));
			return;
		}
		c2s_neg(c)->authcid = strdup(local);
		c2s_neg(c)->plain_password = strdup(password);
		explicit_bzero(password, sizeof(password));
		if (!c2s_neg(c)->authcid || !c2s_neg(c)->plain_password) {
			auth_fail(c, SASL_COND_TEMPORARY_AUTH_FAILURE, "out of memory", false);
			return;
		}
		if (!authzid_ok(c, authzid)) {
			auth_fail(c, SASL_COND_INVALID_AUTHZID, "authzid names another account", false);
			return;
		}
		if (!start_lookup(c, SCRAM_SHA256))
			auth_fail(c, SASL_COND_TEMPORARY_AUTH_FAILURE, "storage unavailable", false);
		return;
	}
	enum scram_hash hash = SCRAM_SHA256;
	bool plus = false;
	for (size_t i = 0; i < sizeof(mech_table) / sizeof(mech_table[0]); i++)
		if (mech_table[i].mech == c2s_neg(c)->mech) {
			hash = mech_table[i].hash;
			plus = mech_table[i].plus;
		}
	uint8_t cb[TLS_EXPORTER_LEN], ep[TLS_END_POINT_MAX];
	size_t ep_len = 0;
	bool offered = plus_available(c);
	bool exporter = plus && has_exporter(c) && tls_sess_exporter(conn_tls_top(c), cb) == XS_OK;
	bool end_point = plus && has_end_point(c, ep, &ep_len);
	if (plus && !exporter && !end_point) {
		auth_fail(c, SASL_COND_TEMPORARY_AUTH_FAILURE, "no channel binding data", false);
		return;
	}
	c2s_neg(c)->scram = scram_server_new(hash, plus, offered, exporter ? cb : NULL,
				    exporter ? sizeof(cb) : 0);
	explicit_bzero(cb, sizeof(cb));
	if (c2s_neg(c)->scram && end_point &&
	    !scram_server_add_cb(c2s_neg(c)->scram, "tls-server-end-point", ep, ep_len)) {
		scram_server_free(c2s_neg(c)->scram);
		c2s_neg(c)->scram = NULL;
	}
	if (!c2s_neg(c)->scram) {
		auth_fail(c, SASL_COND_TEMPORARY_AUTH_FAILURE, "out of memory", false);
		return;
	}
	if (c->mux->group->has_fake_salt_key)
		scram_server_set_secret(c2s_neg(c)->scram, c->mux->group->fake_salt_key,
					sizeof(c->mux->group->fake_salt_key));
	const char *authcid = NULL, *authzid = NULL;
	enum sasl_condition cond = SASL_COND_MALFORMED_REQUEST;
	if (scram_server_start(c2s_neg(c)->scram, msg, len, &authcid, &authzid, &cond) != SCRAM_CONTINUE) {
		auth_fail(c, cond, scram_server_failure(c2s_neg(c)->scram), false);
		return;
	}
	c2s_neg(c)->authcid = strdup(authcid);
	if (!c2s_neg(c)->authcid) {
		auth_fail(c, SASL_COND_TEMPORARY_AUTH_FAILURE, "out of memory", false);
		return;
	}
	if (!authzid_ok(c, authzid)) {
		auth_fail(c, SASL_COND_INVALID_AUTHZID, "authzid names another account", false);
		return;
	}
	if (!start_lookup(c, hash))
		auth_fail(c, SASL_COND_TEMPORARY_AUTH_FAILURE, "storage unavailable", false);
}

void sasl_on_store_done(struct mux *m, struct msg *msg)
{
	struct auth_lookup *l = msg->ptr;
	struct mux_conn *c = conn_by_handle(m, l->h);
	if (!c || c->closing || !c->neg || !c2s_neg(c)->auth_lookup_pending) {
		explicit_bzero(&l->req.cred, sizeof(l->req.cred));
		free(l);
		return;
	}
	c2s_neg(c)->auth_lookup_pending = false;
	bool found = l->req.status == XS_OK;
	if (l->req.status != XS_OK && l->req.status != XS_NOTFOUND) {
		free(l);
		auth_fail(c, SASL_COND_TEMPORARY_AUTH_FAILURE, "storage error", false);
		return;
	}
	if (c2s_neg(c)->mech == MECH_PLAIN) {
		bool ok = found && l->plain_ok;
		explicit_bzero(&l->req.cred, sizeof(l->req.cred));
		free(l);
		if (ok)
			auth_succeeded(c, NULL, 0);
		else
			auth_fail(c, SASL_COND_NOT_AUTHORIZED, found ? "wrong password" : "no such user", true);
		return;
	}
	char *out = NULL;
	size_t out_len = 0;
	/* An unknown user gets a fake challenge that looks like a real one
	 * and fails at the proof, so accounts cannot be enumerated. */
	enum scram_status st = scram_server_challenge(
		c2s_neg(c)->scram, found ? &l->req.cred : NULL,
		found ? m->cfg->scram_iterations
		      : fake_iterations(m->group, &l->req, m->cfg->scram_iterations),
		&out, &out_len);
	explicit_bzero(&l->req.cred, sizeof(l->req.cred));
	free(l);
	if (st != SCRAM_CONTINUE) {
		free(out);
		auth_fail(c, SASL_COND_TEMPORARY_AUTH_FAILURE, "cannot build challenge", false);
		return;
	}
	bool sent = send_sasl_data(c, "challenge", out, out_len);
	free(out);
	if (sent)
		c->c2s.phase = C2S_SASL_STEP;
}

/* Decodes an element's base64 text; "=" is an empty message. */
/* SASL payloads carry passwords (PLAIN) and proofs: every copy we make is
 * wiped before it is freed. */
static void wipe_free(char *p, size_t n)
{
	if (!p)
		return;
	explicit_bzero(p, n);
	free(p);
}

/* The element's own text nodes (the base64 payload), wiped in place before
 * the caller frees the tree. */
static void wipe_text(struct xml_node *el)
{
	for (struct xml_node *t = el->first_child; t; t = t->next)
		if (t->type == XML_NODE_TEXT && t->text)
			explicit_bzero(t->text, t->text_len);
}

/* Decodes an element's base64 text; "=" is an empty message.  *out has
 * *len bytes and a NUL; free it with wipe_free(*out, *len + 1). */
static bool decode_payload(struct xml_node *el, char **out, size_t *len, bool *empty_element)
{
	*out = NULL;
	char *text = xml_node_text(el);
	if (!text)
		return false;
	size_t text_len = strlen(text), tl = text_len;
	*empty_element = tl == 0;
	if (tl == 1 && text[0] == '=')
		tl = 0;
	if (tl > 2 * SCRAM_MAX_MSG) {
		wipe_free(text, text_len);
		return false;
	}
	size_t cap = base64_decoded_max(tl) + 1;
	*out = malloc(cap);
	bool ok = *out && base64_decode(text, tl, *out, cap, len) == XS_OK;
	wipe_free(text, text_len);
	if (!ok) {
		wipe_free(*out, *out ? cap : 0);
		*out = NULL;
		return false;
	}
	(*out)[*len] = '\0';
	return true;
}

static int sasl_element(struct mux_conn *c, struct xml_node *el);

int sasl_on_element(struct mux_conn *c, struct xml_node *el)
{
	int stop = sasl_element(c, el);
	wipe_text(el);
	return stop;
}

static int sasl_element(struct mux_conn *c, struct xml_node *el)
{
	if (strcmp(el->name, "abort") == 0) {
		if (c->c2s.phase == C2S_AUTH_PENDING) {
			stream_error(c, "policy-violation", "abort while the server is answering");
			return 1;
		}
		auth_fail(c, SASL_COND_ABORTED, "aborted by the client", false);
		return 0;
	}
	bool is_auth = strcmp(el->name, "auth") == 0;
	bool is_resp = strcmp(el->name, "response") == 0;
	if (!is_auth && !is_resp) {
		stream_error(c, "unsupported-stanza-type", NULL);
		return 1;
	}
	if (c->c2s.phase == C2S_AUTH_PENDING) {
		/* the client must wait for our answer */
		stream_error(c, "policy-violation", "SASL element while the server is answering");
		return 1;
	}
	if ((is_auth && c->c2s.phase != C2S_NEGOTIATING) || (is_resp && c->c2s.phase != C2S_SASL_STEP)) {
		auth_fail(c, SASL_COND_MALFORMED_REQUEST,
			  is_auth ? "<auth/> during an exchange" : "<response/> without an exchange", false);
		return 0;
	}
	/* a new exchange starts from nothing, whatever an earlier one left */
	if (is_auth)
		sasl_reset(c);
	if (is_auth && stream_encryption_missing(c)) {
		auth_fail(c, SASL_COND_ENCRYPTION_REQUIRED, "<auth/> before TLS", false);
		return 0;
	}
	char *msg = NULL;
	size_t len = 0;
	bool empty = false;
	if (!decode_payload(el, &msg, &len, &empty)) {
		auth_fail(c, SASL_COND_INCORRECT_ENCODING, "bad base64", false);
		return 0;
	}
	if (is_auth) {
		const char *name = xml_node_attr(el, "mechanism");
		c2s_neg(c)->mech = MECH_NONE;
		for (size_t i = 0; name && i < sizeof(mech_table) / sizeof(mech_table[0]); i++)
			if (strcmp(name, mech_table[i].name) == 0 && mech_offered(c, mech_table[i].mech))
				c2s_neg(c)->mech = mech_table[i].mech;
		if (c2s_neg(c)->mech == MECH_NONE) {
			wipe_free(msg, len + 1);
			auth_fail(c, SASL_COND_INVALID_MECHANISM, "mechanism not offered", false);
			return 0;
		}
		if (empty) {
			/* no initial response: ask for it with an empty challenge */
			wipe_free(msg, len + 1);
			if (!send_sasl_data(c, "challenge", "", 0))
				return 1;
			c->c2s.phase = C2S_SASL_STEP;
			return 0;
		}
		sasl_first_message(c, msg, len);
		wipe_free(msg, len + 1);
		return 0;
	}
	/* <response/> */
	if (!c2s_neg(c)->scram && c2s_neg(c)->mech != MECH_NONE && !c2s_neg(c)->authcid) {
		sasl_first_message(c, msg, len);
		wipe_free(msg, len + 1);
		return 0;
	}
	if (!c2s_neg(c)->scram) {
		wipe_free(msg, len + 1);
		auth_fail(c, SASL_COND_MALFORMED_REQUEST, "<response/> after PLAIN's only message", false);
		return 0;
	}
	char *final = NULL;
	size_t final_len = 0;
	enum sasl_condition cond = SASL_COND_NOT_AUTHORIZED;
	enum scram_status st = scram_server_finish(c2s_neg(c)->scram, msg, len, &final, &final_len, &cond);
	wipe_free(msg, len + 1);
	if (st == SCRAM_DONE) {
		auth_succeeded(c, final, final_len);
		free(final);
		return 1;
	}
	free(final);
	if (scram_server_cb_mismatch(c2s_neg(c)->scram))
		/* the proof was never checked: the client's TLS session is not
		 * ours, so someone may sit in between (logged at warning) */
		auth_fail(c, cond, "channel binding mismatch: the client's TLS session differs "
				   "from the server's (possible man in the middle)", true);
	else
		auth_fail(c, cond, cond == SASL_COND_NOT_AUTHORIZED ? "wrong password or no such user"
								  : scram_server_failure(c2s_neg(c)->scram),
			  cond == SASL_COND_NOT_AUTHORIZED);
	return 0;
}
