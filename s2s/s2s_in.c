/* The s2s-in stream role (mux/stream_role.h): a server that connected to
 * one of our s2s listeners (RFC 6120, jabber:server).
 *
 * Negotiation, as RFC 6120 and XEP-0178 have it and with nothing offered
 * that policy would refuse:
 *   1. the peer's header names itself ('from', a domain not served here)
 *      and one of our domains ('to'); we answer with ours and the
 *      features: STARTTLS only, <required/> under [s2s]
 *      require_encryption (the default);
 *   2. after TLS (the listener asked for the peer's certificate), the
 *      certificate is judged once, at the next header: its chain must
 *      lead to one of [s2s] ca_file / ca_path and one of its identifiers
 *      must name the 'from' domain (tls/cert_ids.h: DNS-ID, SRV-ID,
 *      XmppAddr).  Then SASL EXTERNAL is offered.  Otherwise, with
 *      dialback off (the default), there is no way for the peer to
 *      authenticate: the stream ends with <policy-violation/>, as Prosody
 *      ends it under s2s_secure_auth, and a log line says why;
 *   3. <auth mechanism='EXTERNAL'> with an empty response or "=" or the
 *      'from' domain itself (XEP-0178 3) succeeds; the stream restarts,
 *      and after the new header the link carries the one pair (our 'to',
 *      the peer's 'from').
 *
 * With [s2s] dialback = true (XEP-0220, over TLS only, never offered
 * before it), a peer whose certificate does not authenticate it may send <db:result
 * from to>key</db:result> instead: the key is checked with the
 * authoritative server of 'from' through a verification stream of this
 * thread's (s2s_out_verify), one at a time per stream, and the answer
 * (valid: the stream is authenticated, no restart; invalid: the stream
 * ends with <not-authorized/>) comes back in s2s_in_verified.  We also
 * answer <db:verify/> as the authoritative server of our domains: the key
 * is ours if the secret gives it for those domains and that stream id.
 * Before authentication a <db:result/> must be for the header's domains;
 * on the established stream, one for another pair (ours in 'to', any
 * other domain in 'from') adds that pair to the stream when it is
 * verified the same way, or at once when the peer's certificate names
 * 'from' (XEP-0220 2.5 multiplexing, XEP-0344 2.4), up to [s2s]
 * max_link_pairs pairs; a refusal concerns that pair only.
 *
 * XEP-0288: with [s2s] bidi (the default) the feature is offered next to
 * the means to authenticate; a peer that sends <bidi/> before it
 * authenticates gets, once it has, the pair's stanzas from us on this
 * stream (MSG_S2S_UP with S2S_UP_INBOUND: the router uses it unless it
 * has a link of its own up for the pair).
 *
 * Stanzas are checked and routed by s2s/s2s_stanza.c (RFC 6120 4.9.3,
 * 8.1.1). */
#include "mux/mux_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base/base64.h"
#include "core/base/log.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xmpp/jid.h"
#include "core/xmpp/ns.h"
#include "core/xmpp/stanza.h"
#include "s2s/s2s_dialback.h"
#include "s2s/s2s_idle.h"
#include "s2s/s2s_stanza.h"
#include "tls/cert_ids.h"
#include "tls/tls.h"

/* What negotiation needs, freed once the link is established. */
struct s2s_in_neg {
	struct stream_neg base;   /* first: the pre-auth list */
	bool cert_judged;         /* the certificate was looked at (after TLS) */
	bool external_ok;         /* it names the peer's domain and its chain verifies */
	bool db_pending;          /* a <db:result/> is being verified */
	unsigned auth_attempts;   /* refused <auth/>s ([sasl] max_auth_attempts) */
};

_Static_assert(sizeof(((struct s2s_in_sess *)0)->sid) == STREAM_ID_LEN + 1, "a stream id");

static struct s2s_in_neg *in_neg(const struct mux_conn *c)
{
	return (struct s2s_in_neg *)c->neg;
}

#define LOGC(lvl, c, fmt, ...)                                                          \
	LOG_##lvl("c%u.%llu: s2s-in %s -> %s: " fmt, (c)->mux->idx, (unsigned long long)(c)->id, \
		  (c)->s2s_in.remote ? (c)->s2s_in.remote : "?", (c)->domain[0] ? (c)->domain : "?", \
		  ##__VA_ARGS__)

static bool in_init(struct mux_conn *c)
{
	s2s_counted(c, true);
	c->neg = calloc(1, sizeof(struct s2s_in_neg));
	c->s2s_in.phase = S2S_IN_WAIT_HEADER;
	return c->neg != NULL;
}

static void in_neg_free(struct mux_conn *c)
{
	if (!c->neg)
		return;
	conn_preauth_remove(c);
	free(c->neg);
	c->neg = NULL;
}

/* The peer's 'from': a domain (no local or resource part), normalised
 * into out, not one of ours. */
static const char *remote_domain(const struct mux_conn *c, const char *from, char out[JID_BUF])
{
	if (!from || !*from)
		return "a server's stream header must name its domain in 'from'";
	if (strpbrk(from, "@/") || jid_domain_prep(from, out, JID_BUF) != XS_OK)
		return "'from' is not a domain";
	if (cfg_find_host(c->mux->cfg, out))
		return "'from' names a domain served here";
	return NULL;
}

/* Step 2 above: whether SASL EXTERNAL can be offered; why not in a log
 * line. */
static void judge_certificate(struct mux_conn *c)
{
	struct s2s_in_neg *n = in_neg(c);
	n->cert_judged = true;
	const uint8_t *der = NULL;
	size_t len = 0;
	const char *why = "";
	enum tls_peer_verdict v = tls_sess_peer(conn_tls_top(c), &der, &len, &why);
	if (v == TLS_PEER_NONE) {
		LOGC(INFO, c, "no certificate from the peer");
		return;
	}
	if (v == TLS_PEER_UNTRUSTED) {
		LOGC(INFO, c, "certificate not trusted: %s", why && *why ? why : "chain does not verify");
		return;
	}
	enum cert_id_kind how = CERT_ID_NONE;
	enum xs st = cert_ids_match_server(der, len, c->s2s_in.remote, &how);
	if (st != XS_OK || how == CERT_ID_NONE) {
		LOGC(INFO, c, "certificate does not name %s%s", c->s2s_in.remote,
		     st != XS_OK ? " (its subjectAltName does not parse)" : "");
		return;
	}
	n->external_ok = true;
	LOGC(DEBUG, c, "certificate names %s (%s)", c->s2s_in.remote,
	     how == CERT_ID_DNS ? "DNS-ID" : how == CERT_ID_SRV ? "SRV-ID" : "XmppAddr");
}

bool s2s_dialback_on(const struct mux *m)
{
	return m->cfg->s2s_dialback && m->group->has_dialback_secret;
}

static void established(struct mux_conn *c)
{
	struct tls_sess *t = conn_tls_top(c);
	c->s2s_in.phase = S2S_IN_ESTABLISHED;
	c->s2s_in.up_at = (int64_t)time(NULL);
	c->established = true;
	in_neg_free(c);
	conn_touch(c);
	/* as a bound c2s stream: the parser is lent between stanzas */
	xml_stream_use_pool(conn_xml(c), c->mux->xml_pool);
	if (c->s2s_in.bidi) /* it carries our stanzas too */
		conn_batch_enable(c, c->mux->cfg->s2s_send_batch_us);
	const char *cipher = t ? tls_sess_cipher(t) : NULL;
	LOGC(INFO, c, "link up (inbound, TLS 1.%d, %s, %s%s)", t ? tls_sess_version(t) % 10 : 0,
	     cipher ? cipher : "-", c->s2s_in.dialback ? "dialback" : "SASL EXTERNAL",
	     c->s2s_in.bidi ? ", bidirectional" : "");
	/* XEP-0288: the peer is authenticated for the pair, so the router
	 * may send the pair's stanzas this way (it keeps its own outbound
	 * link if it has one up) */
	if (c->s2s_in.bidi)
		c->s2s_in.offered = s2s_tell_router(c, MSG_S2S_UP, S2S_UP_INBOUND);
}

static int in_on_open(struct mux_conn *c, struct xml_node *hdr)
{
	if (!stream_pick_domain(c, xml_node_attr(hdr, "to")))
		return 1;
	const char *from = xml_node_attr(hdr, "from");
	if (!stream_send_header_id(c, c->domain, from, c->s2s_in.sid))
		return 1;
	char dom[JID_BUF];
	const char *bad = remote_domain(c, from, dom);
	if (bad) {
		stream_error(c, "invalid-from", bad);
		return 1;
	}
	if (!c->s2s_in.remote) {
		if (!(c->s2s_in.remote = strdup(dom))) {
			stream_error(c, "resource-constraint", NULL);
			return 1;
		}
	} else if (strcmp(c->s2s_in.remote, dom) != 0) {
		stream_error(c, "invalid-from", "'from' changed across a stream restart");
		return 1;
	}
	const char *version = xml_node_attr(hdr, "version");
	if (!version || strtol(version, NULL, 10) < 1) {
		stream_error(c, "unsupported-version", "version 1.0 is required");
		return 1;
	}
	if (c->authenticated) {
		stream_send_features(c);
		if (!c->dead && !c->closing)
			established(c);
		return c->dead || c->closing;
	}
	c->s2s_in.phase = S2S_IN_NEGOTIATING;
	if (conn_tls_count(c) && !in_neg(c)->cert_judged) {
		judge_certificate(c);
		if (!in_neg(c)->external_ok && !s2s_dialback_on(c->mux)) {
			/* nothing else to offer: dialback is not enabled */
			char text[300];
			snprintf(text, sizeof(text),
				 "the certificate of %s is not valid for it or not trusted by %s",
				 c->s2s_in.remote, c->domain);
			stream_error(c, "policy-violation", text);
			return 1;
		}
	}
	stream_send_features(c);
	return c->dead || c->closing;
}

static enum xs in_features(struct mux_conn *c, struct xbuf *b)
{
	enum xs st = XS_OK;
	if (c->authenticated)
		return st; /* nothing to negotiate: stanzas may flow */
	if (stream_starttls_available(c)) {
		st = xbuf_append_str(b, stream_encryption_missing(c)
						? "<starttls xmlns='" NS_TLS "'><required/></starttls>"
						: "<starttls xmlns='" NS_TLS "'/>");
	}
	if (st == XS_OK && !stream_encryption_missing(c) && c->neg && in_neg(c)->external_ok)
		st = xbuf_append_str(b, "<mechanisms xmlns='" NS_SASL "'>"
					"<mechanism>EXTERNAL</mechanism></mechanisms>");
	/* dialback only where policy takes it: enabled, and inside TLS */
	bool dialback = s2s_dialback_on(c->mux) && conn_tls_count(c);
	if (st == XS_OK && dialback)
		st = xbuf_append_str(b, "<dialback xmlns='" NS_DIALBACK_FEATURE "'><errors/></dialback>");
	/* XEP-0288, with the means to authenticate (it is asked for before) */
	if (st == XS_OK && c->mux->cfg->s2s_bidi && !stream_encryption_missing(c) &&
	    (dialback || (c->neg && in_neg(c)->external_ok)))
		st = xbuf_append_str(b, "<bidi xmlns='" NS_BIDI_FEATURE "'/>");
	return st;
}

static void sasl_failure(struct mux_conn *c, const char *cond, const char *why)
{
	LOGC(INFO, c, "SASL EXTERNAL refused: %s", why);
	char buf[128];
	snprintf(buf, sizeof(buf), "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
	conn_send_str(c, buf);
	if (++in_neg(c)->auth_attempts >= c->mux->cfg->max_auth_attempts)
		stream_error(c, "policy-violation", "too many authentication attempts");
}

/* XEP-0178 3: the authorization identity is the 'from' domain, given or
 * implied ("=" or nothing). */
static int on_auth(struct mux_conn *c, const struct xml_node *el)
{
	const char *mech = xml_node_attr(el, "mechanism");
	if (!in_neg(c)->external_ok || !mech || strcmp(mech, "EXTERNAL") != 0) {
		sasl_failure(c, "invalid-mechanism", mech ? mech : "no mechanism");
		return c->dead || c->closing;
	}
	char *text = xml_node_text(el);
	if (!text) {
		stream_error(c, "resource-constraint", NULL);
		return 1;
	}
	bool ok;
	if (!*text || strcmp(text, "=") == 0) {
		ok = true;
	} else {
		char authzid[JID_BUF], dom[JID_BUF];
		size_t n = 0, len = strlen(text);
		ok = len < 2 * JID_BUF && base64_decoded_max(len) <= sizeof(authzid) &&
		     base64_decode(text, len, authzid, sizeof(authzid) - 1, &n) == XS_OK;
		if (ok) {
			authzid[n] = '\0';
			ok = strlen(authzid) == n && !strpbrk(authzid, "@/") &&
			     jid_domain_prep(authzid, dom, sizeof(dom)) == XS_OK &&
			     strcmp(dom, c->s2s_in.remote) == 0;
		}
	}
	free(text);
	if (!ok) {
		sasl_failure(c, "invalid-authzid", "the authorization identity is not the stream's 'from'");
		return c->dead || c->closing;
	}
	conn_send_str(c, "<success xmlns='" NS_SASL "'/>");
	char key[PEER_KEY_LEN], ip[INET6_ADDRSTRLEN];
	if (mux_peer_key(c->mux, conn_peer_ip(c, ip), key))
		peer_conn_authenticated(c->mux->group->peers, key);
	c->authenticated = true;
	LOGC(INFO, c, "authenticated by certificate (SASL EXTERNAL)");
	conn_request_restart(c);
	return 1;
}

/* XEP-0220 2.4: <db:result type='error'> for a request we do not take. */
static void db_result_error(struct mux_conn *c, const char *from, const char *to, const char *type,
			    const char *cond)
{
	char buf[600];
	snprintf(buf, sizeof(buf),
		 "<db:result from='%s' to='%s' type='error'><error type='%s'>"
		 "<%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
		 to, from, type, cond);
	conn_send_str(c, buf);
}

/* Whether a domain attribute is a plain domain that fits a reply. */
static bool db_domain_ok(const char *d)
{
	return d && *d && strlen(d) < 256 && !strpbrk(d, "'\"<>&@/ ");
}

/* We are the authoritative server: is this key ours for these domains and
 * that stream?  (XEP-0220 2.3) */
static int on_db_verify(struct mux_conn *c, const struct xml_node *el)
{
	const char *from = xml_node_attr(el, "from"), *to = xml_node_attr(el, "to");
	const char *id = xml_node_attr(el, "id");
	if (!db_domain_ok(from) || !db_domain_ok(to) || !id || !*id || strlen(id) > 128 ||
	    strpbrk(id, "'\"<>&")) {
		stream_error(c, "bad-format", "db:verify needs from, to and id");
		return 1;
	}
	const struct mux_group *g = c->mux->group;
	const struct cfg_host *host = cfg_find_host(c->mux->cfg, to);
	char *key = xml_node_text(el);
	char expected[DIALBACK_KEY_LEN + 1];
	bool valid = key && host &&
		     dialback_key(g->dialback_secret, sizeof(g->dialback_secret), from, host->domain, id,
				  expected) == XS_OK;
	if (valid) {
		const char *k = key + strspn(key, " \t\r\n");
		size_t kl = strlen(k);
		while (kl && strchr(" \t\r\n", k[kl - 1]))
			kl--;
		valid = dialback_key_equal(k, kl, expected);
	}
	free(key);
	explicit_bzero(expected, sizeof(expected));
	LOGC(INFO, c, "dialback: asked whether a key for %s -> %s is ours: %s", to, from,
	     valid ? "valid" : "invalid");
	char buf[600];
	snprintf(buf, sizeof(buf), "<db:verify from='%s' to='%s' id='%s' type='%s'/>", to, from, id,
		 valid ? "valid" : "invalid");
	conn_send_str(c, buf);
	return c->dead || c->closing;
}

/* The key of a <db:result/> into kbuf; false when it is not one that a
 * server of ours could have made (then there is nothing to ask). */
static bool db_key_of(const struct xml_node *el, char kbuf[DIALBACK_KEY_LEN + 1])
{
	char *key = xml_node_text(el);
	const char *k = key ? key + strspn(key, " \t\r\n") : NULL;
	size_t kl = k ? strcspn(k, " \t\r\n") : 0;
	bool ok = k && kl == DIALBACK_KEY_LEN && strspn(k, "0123456789abcdefABCDEF") >= kl;
	if (ok)
		snprintf(kbuf, DIALBACK_KEY_LEN + 1, "%.*s", (int)kl, k);
	free(key);
	return ok;
}

/* The peer asks to be taken for 'from' by dialback (XEP-0220 2.1). */
static int on_db_result(struct mux_conn *c, const struct xml_node *el)
{
	struct s2s_in_neg *n = in_neg(c);
	const char *from = xml_node_attr(el, "from"), *to = xml_node_attr(el, "to");
	if (!db_domain_ok(from) || !db_domain_ok(to)) {
		stream_error(c, "bad-format", "db:result needs from and to");
		return 1;
	}
	char fdom[JID_BUF], tdom[JID_BUF];
	if (jid_domain_prep(from, fdom, sizeof(fdom)) != XS_OK || strcmp(fdom, c->s2s_in.remote) != 0) {
		stream_error(c, "invalid-from", "db:result 'from' is not the stream's");
		return 1;
	}
	if (jid_domain_prep(to, tdom, sizeof(tdom)) != XS_OK || strcmp(tdom, c->domain) != 0) {
		db_result_error(c, from, to, "cancel", "item-not-found");
		return c->dead || c->closing;
	}
	if (n->db_pending) {
		db_result_error(c, from, to, "wait", "policy-violation");
		return c->dead || c->closing;
	}
	if (++n->auth_attempts > c->mux->cfg->max_auth_attempts) {
		stream_error(c, "policy-violation", "too many authentication attempts");
		return 1;
	}
	char kbuf[DIALBACK_KEY_LEN + 1];
	if (!db_key_of(el, kbuf)) {
		/* not a key any server of ours would have made: no need to ask */
		db_result_error(c, from, to, "modify", "bad-request");
		return c->dead || c->closing;
	}
	const struct cfg_host *host = cfg_find_host(c->mux->cfg, c->domain);
	if (!s2s_out_verify(c->mux, host, c->s2s_in.remote, c->s2s_in.sid, kbuf, conn_handle(c))) {
		explicit_bzero(kbuf, sizeof(kbuf));
		db_result_error(c, from, to, "wait", "resource-constraint");
		return c->dead || c->closing;
	}
	explicit_bzero(kbuf, sizeof(kbuf));
	n->db_pending = true;
	LOGC(INFO, c, "dialback: verifying with the authoritative server of %s", c->s2s_in.remote);
	return 0;
}

/* ---- multiplexing (XEP-0220 2.5): more pairs on an established stream ---- */

/* Whether the stream carries the pair already (the first, or one added). */
static bool carries(const struct mux_conn *c, const char *local, const char *remote)
{
	if (strcmp(local, c->domain) == 0 && strcmp(remote, c->s2s_in.remote) == 0)
		return true;
	const struct s2s_in_pairs *p = c->s2s_in.more;
	for (unsigned i = 0; p && i < p->n; i++)
		if (strcmp(p->pair[i].local, local) == 0 && strcmp(p->pair[i].remote, remote) == 0)
			return true;
	return false;
}

/* XEP-0344 2.4: a certificate that authenticates the peer for the new
 * domain too makes asking its authoritative server needless. */
static bool cert_names(struct mux_conn *c, const char *domain)
{
	const uint8_t *der = NULL;
	size_t len = 0;
	enum cert_id_kind how = CERT_ID_NONE;
	return tls_sess_peer(conn_tls_top(c), &der, &len, NULL) == TLS_PEER_TRUSTED &&
	       cert_ids_match_server(der, len, domain, &how) == XS_OK && how != CERT_ID_NONE;
}

/* pair[n] of more joins the stream: the peer hears it, the router too if
 * the stream carries our stanzas (bidi). */
static void pair_added(struct mux_conn *c, const char *how)
{
	struct s2s_in_pairs *p = c->s2s_in.more;
	struct s2s_pair *pr = &p->pair[p->n++];
	char buf[2 * JID_BUF + 64];
	snprintf(buf, sizeof(buf), "<db:result from='%s' to='%s' type='valid'/>", pr->local, pr->remote);
	conn_send_str(c, buf);
	LOGC(INFO, c, "also carries %s -> %s now (%s)", pr->remote, pr->local, how);
	if (c->s2s_in.offered)
		pr->offered = s2s_tell_router_pair(c, MSG_S2S_UP, S2S_UP_INBOUND, pr->local, pr->remote);
}

static void pair_free(struct s2s_pair *pr)
{
	free(pr->local);
	free(pr->remote);
	*pr = (struct s2s_pair){ 0 };
}

/* Each refused request may have cost a verification stream (a
 * connection out, DNS): a peer gets [sasl] max_auth_attempts of them per
 * stream, as it does before authentication. */
static void more_refused(struct mux_conn *c)
{
	if (++c->s2s_in.more->refused >= c->mux->cfg->max_auth_attempts)
		stream_error(c, "policy-violation", "too many refused dialback requests");
}

/* <db:result from to>key on an authenticated stream: another pair for it,
 * checked as the first one was (with the authoritative server of 'from',
 * one at a time), or at once when the certificate names 'from'.  A
 * refusal concerns that pair only: the stream goes on. */
static int on_db_result_more(struct mux_conn *c, const struct xml_node *el)
{
	const char *from = xml_node_attr(el, "from"), *to = xml_node_attr(el, "to");
	if (!db_domain_ok(from) || !db_domain_ok(to)) {
		stream_error(c, "bad-format", "db:result needs from and to");
		return 1;
	}
	char fdom[JID_BUF], tdom[JID_BUF];
	const struct cfg_host *host = NULL;
	if (jid_domain_prep(to, tdom, sizeof(tdom)) != XS_OK ||
	    !(host = cfg_find_host(c->mux->cfg, tdom))) {
		db_result_error(c, from, to, "cancel", "item-not-found");
		return c->dead || c->closing;
	}
	if (jid_domain_prep(from, fdom, sizeof(fdom)) != XS_OK || cfg_find_host(c->mux->cfg, fdom)) {
		db_result_error(c, from, to, "cancel", "forbidden");
		return c->dead || c->closing;
	}
	if (carries(c, tdom, fdom)) {
		char buf[2 * JID_BUF + 64];
		snprintf(buf, sizeof(buf), "<db:result from='%s' to='%s' type='valid'/>", tdom, fdom);
		conn_send_str(c, buf);
		return c->dead || c->closing;
	}
	struct s2s_in_pairs *p = c->s2s_in.more;
	unsigned cap = c->mux->cfg->s2s_max_link_pairs - 1;
	if (!p && cap) {
		p = calloc(1, sizeof(*p) + cap * sizeof(p->pair[0]));
		if (!p) {
			db_result_error(c, from, to, "wait", "resource-constraint");
			return c->dead || c->closing;
		}
		p->cap = cap;
		c->s2s_in.more = p;
	}
	if (p && p->pending) {
		db_result_error(c, from, to, "wait", "policy-violation");
		return c->dead || c->closing;
	}
	if (!p || p->n >= p->cap) {
		LOGC(INFO, c, "dialback: %s -> %s refused: [s2s] max_link_pairs = %u", fdom, tdom,
		     c->mux->cfg->s2s_max_link_pairs);
		db_result_error(c, from, to, "wait", "resource-constraint");
		return c->dead || c->closing;
	}
	char kbuf[DIALBACK_KEY_LEN + 1];
	if (!db_key_of(el, kbuf)) {
		db_result_error(c, from, to, "modify", "bad-request");
		more_refused(c);
		return c->dead || c->closing;
	}
	struct s2s_pair *pr = &p->pair[p->n];
	pr->local = strdup(tdom);
	pr->remote = strdup(fdom);
	if (!pr->local || !pr->remote) {
		pair_free(pr);
		explicit_bzero(kbuf, sizeof(kbuf));
		db_result_error(c, from, to, "wait", "resource-constraint");
		return c->dead || c->closing;
	}
	if (cert_names(c, fdom)) {
		explicit_bzero(kbuf, sizeof(kbuf));
		pair_added(c, "its certificate names it");
		return c->dead || c->closing;
	}
	bool asked = s2s_out_verify(c->mux, host, fdom, c->s2s_in.sid, kbuf, conn_handle(c));
	explicit_bzero(kbuf, sizeof(kbuf));
	if (!asked) {
		pair_free(pr);
		db_result_error(c, from, to, "wait", "resource-constraint");
		return c->dead || c->closing;
	}
	p->pending = true;
	LOGC(INFO, c, "dialback: verifying %s -> %s with the authoritative server of %s", fdom, tdom,
	     fdom);
	return 0;
}

/* The answer for a pair of on_db_result_more. */
static void more_verified(struct mux_conn *c, bool valid, const char *why)
{
	struct s2s_in_pairs *p = c->s2s_in.more;
	p->pending = false;
	if (valid) {
		pair_added(c, "dialback");
		return;
	}
	struct s2s_pair *pr = &p->pair[p->n];
	char buf[2 * JID_BUF + 64];
	snprintf(buf, sizeof(buf), "<db:result from='%s' to='%s' type='invalid'/>", pr->local,
		 pr->remote);
	conn_send_str(c, buf);
	LOGC(INFO, c, "dialback refused for %s -> %s: %s", pr->remote, pr->local, why);
	pair_free(pr);
	more_refused(c);
}

void s2s_in_verified(struct mux *m, struct sess_handle h, bool valid, const char *why)
{
	struct mux_conn *c = conn_by_handle(m, h);
	if (!c || c->dead || c->closing || c->role != &s2s_in_role)
		return;
	if (c->s2s_in.phase == S2S_IN_ESTABLISHED && c->s2s_in.more && c->s2s_in.more->pending) {
		more_verified(c, valid, why);
		return;
	}
	if (!c->neg || !in_neg(c)->db_pending)
		return;
	in_neg(c)->db_pending = false;
	char buf[600];
	snprintf(buf, sizeof(buf), "<db:result from='%s' to='%s' type='%s'/>", c->domain,
		 c->s2s_in.remote, valid ? "valid" : "invalid");
	conn_send_str(c, buf);
	if (!valid) {
		LOGC(INFO, c, "dialback refused: %s", why);
		stream_error(c, "not-authorized", "dialback failed");
		return;
	}
	char key[PEER_KEY_LEN], ip[INET6_ADDRSTRLEN];
	if (mux_peer_key(m, conn_peer_ip(c, ip), key))
		peer_conn_authenticated(m->group->peers, key);
	c->authenticated = true;
	c->s2s_in.dialback = true;
	LOGC(INFO, c, "authenticated by dialback");
	struct xml_stream_limits lim;
	conn_stream_limits(c, &lim);
	xml_stream_set_limits(conn_xml(c), &lim);
	established(c);
}

static int negotiate(struct mux_conn *c, struct xml_node *el)
{
	if (strcmp(el->ns, NS_TLS) == 0 && strcmp(el->name, "starttls") == 0)
		return stream_starttls(c, stream_starttls_available(c) &&
					       c->s2s_in.phase == S2S_IN_NEGOTIATING);
	if (stream_encryption_missing(c)) {
		stream_error(c, "policy-violation", "STARTTLS is required first");
		return 1;
	}
	if (strcmp(el->ns, NS_SASL) == 0 && strcmp(el->name, "auth") == 0)
		return on_auth(c, el);
	if (strcmp(el->ns, NS_BIDI) == 0 && strcmp(el->name, "bidi") == 0 && c->mux->cfg->s2s_bidi) {
		c->s2s_in.bidi = true; /* it takes effect when the peer has authenticated */
		LOGC(DEBUG, c, "the peer asks for a bidirectional link (XEP-0288)");
		return 0;
	}
	if (strcmp(el->ns, NS_DIALBACK) == 0 && s2s_dialback_on(c->mux) && conn_tls_count(c)) {
		if (strcmp(el->name, "verify") == 0)
			return on_db_verify(c, el);
		if (strcmp(el->name, "result") == 0)
			return on_db_result(c, el);
	}
	if (strcmp(el->ns, NS_SASL) == 0 && strcmp(el->name, "abort") == 0) {
		sasl_failure(c, "aborted", "the peer aborted");
		return c->dead || c->closing;
	}
	stream_error(c, "not-authorized", "authenticate first");
	return 1;
}

static int in_on_stanza(struct mux_conn *c, struct xml_node *el)
{
	if (s2s_is_stream_error(el)) {
		int stop = s2s_peer_stream_error(c, el);
		xml_node_free(el);
		return stop;
	}
	if (c->s2s_in.phase == S2S_IN_ESTABLISHED && strcmp(el->ns, NS_DIALBACK) == 0 &&
	    s2s_dialback_on(c->mux) && conn_tls_count(c) &&
	    (strcmp(el->name, "verify") == 0 || strcmp(el->name, "result") == 0)) {
		/* XEP-0220 2.3: a verification may share an authenticated
		 * stream; 2.5: so may the request for another pair */
		int stop = el->name[0] == 'v' ? on_db_verify(c, el) : on_db_result_more(c, el);
		xml_node_free(el);
		return stop;
	}
	if (c->s2s_in.phase == S2S_IN_ESTABLISHED)
		return s2s_stanza_route(c, el); /* takes el */
	int stop = negotiate(c, el);
	xml_node_free(el);
	return stop;
}

static void in_on_restart(struct mux_conn *c)
{
	c->s2s_in.phase = S2S_IN_WAIT_HEADER;
}

static bool in_sleep_ok(struct mux_conn *c)
{
	(void)c;
	return true;
}

static bool in_deliver(struct mux_conn *c, struct msg *msg)
{
	/* only a bidirectional link carries anything of ours (XEP-0288) */
	return c->s2s_in.offered && c->s2s_in.phase == S2S_IN_ESTABLISHED && s2s_deliver(c, msg);
}

static void in_on_msg(struct mux_conn *c, struct msg *msg)
{
	if (msg->type == MSG_KICK)
		stream_error(c, "policy-violation", msg->data[0] ? msg->data : NULL);
	else
		LOGC(WARN, c, "unexpected message %d", (int)msg->type);
}

static bool in_keep_on_close(struct mux_conn *c)
{
	(void)c;
	return false;
}

static void in_nothing(struct mux_conn *c)
{
	(void)c;
}

static void in_on_closed(struct mux_conn *c)
{
	/* the router stops sending this way (what is still on its way to
	 * us comes back to it as MSG_UNDELIVERED) */
	if (c->s2s_in.offered) {
		c->s2s_in.offered = false;
		s2s_tell_router(c, MSG_S2S_DOWN, 0);
	}
	struct s2s_in_pairs *p = c->s2s_in.more;
	for (unsigned i = 0; p && i < p->n; i++)
		if (p->pair[i].offered) {
			p->pair[i].offered = false;
			s2s_tell_router_pair(c, MSG_S2S_DOWN, 0, p->pair[i].local, p->pair[i].remote);
		}
}

static const char *in_session_name(const struct mux_conn *c)
{
	return c->s2s_in.remote;
}

static void in_free(struct mux_conn *c)
{
	s2s_counted(c, false);
	in_neg_free(c);
	free(c->s2s_in.remote);
	c->s2s_in.remote = NULL;
	struct s2s_in_pairs *p = c->s2s_in.more;
	for (unsigned i = 0; p && i < p->n + (p->pending ? 1 : 0); i++)
		pair_free(&p->pair[i]);
	free(p);
	c->s2s_in.more = NULL;
}

const struct stream_role_ops s2s_in_role = {
	.name = "s2s-in",
	.ns = NS_SERVER,
	.alpn = "xmpp-server",
	.server_link = true,
	.init = in_init,
	.on_open = in_on_open,
	.on_stanza = in_on_stanza,
	.on_restart = in_on_restart,
	.features = in_features,
	.sleep_ok = in_sleep_ok,
	.deliver = in_deliver,
	.on_msg = in_on_msg,
	.keep_on_close = in_keep_on_close,
	.park = in_nothing,
	.on_closed = in_on_closed,
	.on_timer = in_nothing,
	.session_name = in_session_name,
	.strip = in_nothing,
	.free = in_free,
};
