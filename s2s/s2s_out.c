/* The s2s-out stream role (mux/stream_role.h): a link this server opens to
 * another for one pair of domains (ours, theirs), on the mux thread the
 * router asked with MSG_S2S_CONNECT.
 *
 *   1. where: [s2s_route DOMAIN] if there is one, else the SRV records of
 *      _xmpps-server._tcp and _xmpp-server._tcp (XEP-0368, RFC 2782 order:
 *      s2s/srv_order.c), else the domain itself on 5269 (RFC 6120 3.2.1);
 *      each target's addresses in turn (s2s/resolver.c: /etc/hosts, then
 *      DNS, on this thread's epoll loop);
 *   2. TLS: at once for a direct-TLS target (ALPN xmpp-server), else after
 *      STARTTLS, which a peer must offer ([s2s] require_encryption); SNI
 *      is the remote domain and we present the certificate of ours;
 *   3. the peer's certificate must verify against [s2s] ca_file and name
 *      the remote domain (tls/cert_ids.h), and the peer must offer SASL
 *      EXTERNAL (XEP-0178): we authenticate as our domain.  Without
 *      dialback (the default) anything else ends the attempt, with a log
 *      line that says why;
 *   4. after the restart the link is up: MSG_S2S_UP, and the router sends
 *      it the stanzas that waited (MSG_DELIVER, written as they are: their
 *      bytes carry no default namespace, so they read as jabber:server).
 *
 * XEP-0288: when the peer offers bidi (after TLS) and [s2s] bidi is on (the
 * default), we ask for it before authenticating, and the peer's stanzas
 * for our domain of the pair then come on this stream too
 * (s2s/s2s_stanza.c checks them as an inbound link's).
 *
 * With [s2s] dialback = true (XEP-0220 over TLS), a peer whose certificate
 * does not verify is taken on (dialback decides), and one that does not
 * offer EXTERNAL, or offers it and then refuses it (it does not trust our
 * certificate) while it offers dialback, is asked to accept <db:result/>
 * instead (our key for its stream id, s2s/dialback_key.c);
 * the same role also makes the verification streams of dialback
 * (s2s_out_verify, s2s/s2s_dialback.h): TLS, <db:verify/>, the answer to
 * the inbound stream that asked, and the end.
 *
 * The whole attempt has [s2s] connect_timeout.  However it ends, the router
 * hears it once (MSG_S2S_UP or MSG_S2S_DOWN with the stanza error its queue
 * bounces with: remote-server-timeout for the timeout, else
 * remote-server-not-found). */
#include "mux/mux_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "core/base/base64.h"
#include "core/base/log.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xmpp/ns.h"
#include "core/xmpp/stanza.h"
#include "s2s/dialback_key.h"
#include "s2s/resolver.h"
#include "s2s/s2s_dialback.h"
#include "s2s/s2s_idle.h"
#include "s2s/s2s_stanza.h"
#include "s2s/srv_order.h"
#include "tls/cert_ids.h"
#include "tls/tls.h"

struct s2s_out_neg {
	struct stream_neg base;            /* first (not on the pre-auth list) */
	struct s2s_dns_req *dns;           /* in flight, or NULL */
	struct srv_target targets[S2S_MAX_TARGETS];
	size_t n_targets, next_target;
	struct sockaddr_storage addrs[S2S_MAX_ADDRS];
	size_t n_addrs, next_addr;
	bool direct_tls;                   /* the current target's */
	bool tls_done;
	bool cert_ok;                      /* the peer's certificate verified and names it */
	bool peer_dialback;                /* the peer's features offer dialback */
	/* dialback (XEP-0220) */
	bool verify;                       /* a verification stream, not a link */
	bool verify_answered;
	struct sess_handle verify_for;     /* the inbound stream waiting for it */
	char peer_id[72];                  /* the peer's stream id: our key's input */
	char db_sid[STREAM_ID_LEN + 1];    /* verify: the inbound stream's id */
	char db_key[DIALBACK_KEY_LEN + 1]; /* verify: the key it was given */
	char why[400];                     /* the last failure, for the log */
};

static struct s2s_out_neg *out_neg(const struct mux_conn *c)
{
	return (struct s2s_out_neg *)c->neg;
}

#define LOGC(lvl, c, fmt, ...)                                                               \
	LOG_##lvl("c%u.%llu: s2s-out %s -> %s: " fmt, (c)->mux->idx, (unsigned long long)(c)->id, \
		  (c)->domain, (c)->s2s_out.remote ? (c)->s2s_out.remote : "?", ##__VA_ARGS__)

static bool out_init(struct mux_conn *c)
{
	s2s_counted(c, true);
	c->neg = calloc(1, sizeof(struct s2s_out_neg));
	c->s2s_out.phase = S2S_OUT_RESOLVING;
	return c->neg != NULL;
}

static void out_neg_free(struct mux_conn *c)
{
	struct s2s_out_neg *n = out_neg(c);
	if (!n)
		return;
	if (n->dns)
		s2s_dns_cancel(n->dns);
	free(n);
	c->neg = NULL;
}

/* A verification stream's answer goes to the inbound stream, once. */
static void verify_answer(struct mux_conn *c, bool valid, const char *why)
{
	struct s2s_out_neg *ng = out_neg(c);
	if (!ng || !ng->verify || ng->verify_answered)
		return;
	ng->verify_answered = true;
	s2s_in_verified(c->mux, ng->verify_for, valid, why);
}

/* Tells the router how the attempt ended, once. */
static void report(struct mux_conn *c, enum msg_type type, int status)
{
	if (c->s2s_out.reported)
		return;
	c->s2s_out.reported = true;
	s2s_tell_router(c, type, status);
}

/* The attempt failed: the router bounces what waits with cond, and the
 * stream (if any) ends. */
static void fail(struct mux_conn *c, enum stanza_cond cond, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct mux_conn *c, enum stanza_cond cond, const char *fmt, ...)
{
	struct s2s_out_neg *n = out_neg(c);
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (n)
		snprintf(n->why, sizeof(n->why), "%s", why);
	LOGC(INFO, c, "%s failed: %s", n && n->verify ? "dialback verification" : "link", why);
	verify_answer(c, false, why);
	report(c, MSG_S2S_DOWN, (int)cond + 1);
	if (c->header_sent && !c->closing && !c->dead) {
		conn_delay_remove(c);
		conn_send_str(c, "</stream:stream>");
		conn_close_after_flush(c, why);
	} else {
		conn_close(c, why);
	}
}

/* ---- 1. where ---- */

static void try_next(struct mux_conn *c);

static void addrs_found(void *arg, enum xs st, const struct sockaddr_storage *addrs, size_t n)
{
	struct mux_conn *c = arg;
	struct s2s_out_neg *ng = out_neg(c);
	ng->dns = NULL;
	const struct srv_target *t = &ng->targets[ng->next_target - 1];
	if (st != XS_OK || !n) {
		snprintf(ng->why, sizeof(ng->why), "%s: no address (%s)", t->host, xs_name(st));
		LOGC(DEBUG, c, "%s", ng->why);
		try_next(c);
		return;
	}
	if (n > S2S_MAX_ADDRS)
		n = S2S_MAX_ADDRS;
	memcpy(ng->addrs, addrs, n * sizeof(*addrs));
	ng->n_addrs = n;
	ng->next_addr = 0;
	try_next(c);
}

/* The next address of the current target, else the next target, else the
 * end of the attempt. */
static void try_next(struct mux_conn *c)
{
	struct s2s_out_neg *ng = out_neg(c);
	while (ng->next_addr < ng->n_addrs) {
		const struct sockaddr_storage *sa = &ng->addrs[ng->next_addr++];
		if (conn_connect(c, sa) == XS_OK) {
			c->s2s_out.phase = S2S_OUT_CONNECTING;
			return;
		}
		snprintf(ng->why, sizeof(ng->why), "connect: %s", strerror(errno));
	}
	if (ng->next_target < ng->n_targets) {
		const struct srv_target *t = &ng->targets[ng->next_target++];
		ng->direct_tls = t->direct_tls;
		ng->n_addrs = ng->next_addr = 0;
		c->s2s_out.phase = S2S_OUT_RESOLVING;
		LOGC(DEBUG, c, "trying %s port %u (%s)", t->host, t->port,
		     t->direct_tls ? "direct TLS" : "STARTTLS");
		ng->dns = s2s_resolve_addr(c->mux->resolver, t->host, t->port, addrs_found, c);
		if (!ng->dns)
			fail(c, SC_REMOTE_SERVER_NOT_FOUND, "out of memory resolving %s", t->host);
		return;
	}
	fail(c, SC_REMOTE_SERVER_NOT_FOUND, "%s", ng->why[0] ? ng->why : "no server to try");
}

static uint32_t srv_random(void *arg, uint32_t bound)
{
	(void)arg;
	uint32_t x = 0;
	if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x))
		x = 0;
	return bound == UINT32_MAX ? x : x % (bound + 1);
}

static void srv_found(void *arg, enum xs st, const struct srv_record *recs, size_t n)
{
	struct mux_conn *c = arg;
	struct s2s_out_neg *ng = out_neg(c);
	ng->dns = NULL;
	if (st != XS_OK) {
		fail(c, st == XS_TIMEOUT ? SC_REMOTE_SERVER_TIMEOUT : SC_REMOTE_SERVER_NOT_FOUND,
		     "SRV lookup failed (%s)", xs_name(st));
		return;
	}
	size_t nt = 0;
	switch (srv_order(recs, n, srv_random, NULL, ng->targets, S2S_MAX_TARGETS, &nt)) {
	case SRV_TARGETS:
		ng->n_targets = nt;
		break;
	case SRV_FALLBACK:
		snprintf(ng->targets[0].host, sizeof(ng->targets[0].host), "%.*s",
			 (int)sizeof(ng->targets[0].host) - 1, c->s2s_out.remote);
		ng->targets[0].port = S2S_DEFAULT_PORT;
		ng->targets[0].direct_tls = false;
		ng->n_targets = 1;
		break;
	case SRV_NO_SERVICE:
		fail(c, SC_REMOTE_SERVER_NOT_FOUND, "the domain says it has no s2s service (SRV '.')");
		return;
	}
	try_next(c);
}

static bool ensure_resolver(struct mux *m)
{
	if (m->resolver)
		return true;
	const struct cfg *cfg = m->cfg;
	struct s2s_resolver_cfg rc = {
		.servers = cfg->s2s_dns_servers[0] ? cfg->s2s_dns_servers : NULL,
		.timeout_ms = cfg->s2s_dns_timeout_ms,
		.tries = 2,
	};
	char err[256];
	m->resolver = s2s_resolver_new(m->epfd, MUX_TAG(MUX_TAG_RESOLVER, 0), &rc, err, sizeof(err));
	if (!m->resolver)
		LOG_ERR("mux%u: no DNS resolver: %s", m->idx, err);
	return m->resolver != NULL;
}

/* MSG_S2S_CONNECT: data "local remote". */
static void out_begin(struct mux_conn *c, const struct cfg_s2s_route *route);

static void out_start(struct mux *m, const char *data)
{
	char local[256], remote[256];
	const char *sp = strchr(data, ' ');
	const struct cfg_host *host = NULL;
	if (sp && (size_t)(sp - data) < sizeof(local) && strlen(sp + 1) < sizeof(remote)) {
		memcpy(local, data, (size_t)(sp - data));
		local[sp - data] = '\0';
		snprintf(remote, sizeof(remote), "%s", sp + 1);
		host = cfg_find_host(m->cfg, local);
	}
	const struct cfg_s2s_route *route = host ? cfg_find_s2s_route(m->cfg, remote) : NULL;
	const struct cfg_listener *lst =
		&m->group->s2s_out_lst[route && route->mode == CFG_MODE_DIRECT_TLS];
	struct mux_conn *c = host ? conn_new_outbound(m, &s2s_out_role, lst, remote) : NULL;
	if (c) {
		c->domain = host->domain;
		c->s2s_out.remote = strdup(remote);
	}
	if (!c || !c->s2s_out.remote || !ensure_resolver(m)) {
		struct msg *down = msg_new(MSG_S2S_DOWN, data);
		LOG_ERR("mux%u: cannot start a link %s", m->idx, data);
		if (c) {
			c->s2s_out.reported = true; /* said here */
			conn_close(c, "cannot start");
		}
		if (down) {
			down->h = (struct sess_handle){ .thread = m->idx, .slot = UINT32_MAX };
			down->status = SC_REMOTE_SERVER_NOT_FOUND + 1;
			mux_to_router(m, down);
		}
		return;
	}
	out_begin(c, route);
}

/* Where to: the static route, or DNS. */
static void out_begin(struct mux_conn *c, const struct cfg_s2s_route *route)
{
	struct mux *m = c->mux;
	struct s2s_out_neg *ng = out_neg(c);
	conn_delay_insert(c, mux_now_ms() + (uint64_t)m->cfg->s2s_connect_timeout_s * 1000);
	if (route) {
		LOGC(INFO, c, "connecting (static route %s port %u, %s)", route->address, route->port,
		     route->mode == CFG_MODE_DIRECT_TLS ? "direct TLS" : "STARTTLS");
		snprintf(ng->targets[0].host, sizeof(ng->targets[0].host), "%.*s",
			 (int)sizeof(ng->targets[0].host) - 1, route->address);
		ng->targets[0].port = route->port;
		ng->targets[0].direct_tls = route->mode == CFG_MODE_DIRECT_TLS;
		ng->n_targets = 1;
		try_next(c);
		return;
	}
	LOGC(INFO, c, "connecting (DNS SRV)");
	ng->dns = s2s_resolve_srv(m->resolver, c->s2s_out.remote, srv_found, c);
	if (!ng->dns)
		fail(c, SC_REMOTE_SERVER_NOT_FOUND, "out of memory resolving");
}

bool s2s_out_verify(struct mux *m, const struct cfg_host *local, const char *remote,
		    const char *sid, const char *key, struct sess_handle for_in)
{
	const struct cfg_s2s_route *route = cfg_find_s2s_route(m->cfg, remote);
	const struct cfg_listener *lst =
		&m->group->s2s_out_lst[route && route->mode == CFG_MODE_DIRECT_TLS];
	struct mux_conn *c = conn_new_outbound(m, &s2s_out_role, lst, remote);
	if (!c)
		return false;
	c->domain = local->domain;
	c->s2s_out.reported = true; /* the router never hears of it */
	struct s2s_out_neg *ng = out_neg(c);
	ng->verify = true;
	ng->verify_for = for_in;
	snprintf(ng->db_sid, sizeof(ng->db_sid), "%s", sid);
	snprintf(ng->db_key, sizeof(ng->db_key), "%s", key);
	if (!(c->s2s_out.remote = strdup(remote)) || !ensure_resolver(m)) {
		ng->verify_answered = true; /* the caller hears it from the return */
		conn_close(c, "cannot start");
		return false;
	}
	LOGC(INFO, c, "dialback: asking the authoritative server");
	out_begin(c, route);
	return true;
}

/* ---- 2. connected; TLS ---- */

static bool push_tls(struct mux_conn *c)
{
	struct s2s_out_neg *ng = out_neg(c);
	const struct cfg *cfg = c->mux->cfg;
	const struct cfg_host *h = cfg_find_host(cfg, c->domain);
	struct tls_client_opts o = {
		.server_name = c->s2s_out.remote,
		.ca_file = cfg->s2s_ca_file[0] ? cfg->s2s_ca_file : NULL,
		.alpn = ng->direct_tls ? "xmpp-server" : NULL,
		.min_version = cfg->tls_min_version,
		.cert_file = h ? h->cert_file : NULL,
		.key_file = h ? h->key_file : NULL,
		.peer_record = true,
	};
	char err[256];
	c->s2s_out.phase = S2S_OUT_TLS;
	if (!conn_push_tls_client(c, &o, err, sizeof(err))) {
		fail(c, SC_REMOTE_SERVER_NOT_FOUND, "TLS: %s", err);
		return false;
	}
	return true;
}

static void send_header(struct mux_conn *c)
{
	c->s2s_out.phase = S2S_OUT_WAIT_HEADER;
	stream_send_header(c, c->domain, c->s2s_out.remote);
}

static void out_on_connected(struct mux_conn *c, int err)
{
	struct s2s_out_neg *ng = out_neg(c);
	if (err) {
		snprintf(ng->why, sizeof(ng->why), "connect to %s: %s", c->peer, strerror(err));
		LOGC(DEBUG, c, "%s", ng->why);
		try_next(c);
		return;
	}
	LOGC(DEBUG, c, "connected to %s", c->peer);
	if (ng->direct_tls)
		push_tls(c);
	else
		send_header(c);
}

/* The peer's certificate, once TLS is up: verified against ca_file and
 * naming the remote domain, or the attempt ends (no dialback to fall
 * back on). */
static void out_on_tls_ready(struct mux_conn *c)
{
	struct s2s_out_neg *ng = out_neg(c);
	if (!ng || ng->tls_done)
		return;
	ng->tls_done = true;
	const uint8_t *der = NULL;
	size_t len = 0;
	const char *why = "";
	char bad[300] = "";
	switch (tls_sess_peer(conn_tls_top(c), &der, &len, &why)) {
	case TLS_PEER_NONE:
		snprintf(bad, sizeof(bad), "the peer sent no certificate");
		break;
	case TLS_PEER_UNTRUSTED:
		snprintf(bad, sizeof(bad), "certificate not trusted: %s",
			 why && *why ? why : "chain does not verify");
		break;
	case TLS_PEER_TRUSTED: {
		enum cert_id_kind how = CERT_ID_NONE;
		if (cert_ids_match_server(der, len, c->s2s_out.remote, &how) != XS_OK ||
		    how == CERT_ID_NONE)
			snprintf(bad, sizeof(bad), "certificate does not name %s", c->s2s_out.remote);
		break;
	}
	}
	ng->cert_ok = !bad[0];
	if (bad[0] && !ng->verify) {
		if (!s2s_dialback_on(c->mux)) {
			fail(c, SC_REMOTE_SERVER_NOT_FOUND, "%s", bad);
			return;
		}
		/* XEP-0220 over TLS: the peer's identity then rests on DNS */
		LOGC(INFO, c, "%s: dialback ([s2s] dialback = true) decides", bad);
	}
	send_header(c);
}

/* ---- 3. the stream ---- */

static int out_on_open(struct mux_conn *c, struct xml_node *hdr)
{
	const char *version = xml_node_attr(hdr, "version");
	if (!version || strtol(version, NULL, 10) < 1) {
		fail(c, SC_REMOTE_SERVER_NOT_FOUND, "the peer does not speak XMPP 1.0");
		return 1;
	}
	const char *from = xml_node_attr(hdr, "from");
	if (from && strcasecmp(from, c->s2s_out.remote) != 0)
		LOGC(DEBUG, c, "the peer's header says from='%s'", from);
	const char *id = xml_node_attr(hdr, "id");
	struct s2s_out_neg *ng = out_neg(c);
	if (ng)
		snprintf(ng->peer_id, sizeof(ng->peer_id), "%s", id && strlen(id) < sizeof(ng->peer_id) ? id : "");
	c->s2s_out.phase = S2S_OUT_WAIT_FEATURES;
	return 0;
}

static void established(struct mux_conn *c)
{
	struct tls_sess *t = conn_tls_top(c);
	c->s2s_out.phase = S2S_OUT_ESTABLISHED;
	c->s2s_out.up_at = (int64_t)time(NULL);
	c->established = true;
	conn_delay_remove(c);
	out_neg_free(c);
	conn_touch(c);
	xml_stream_use_pool(conn_xml(c), c->mux->xml_pool);
	conn_batch_enable(c, c->mux->cfg->s2s_send_batch_us);
	const char *cipher = t ? tls_sess_cipher(t) : NULL;
	LOGC(INFO, c, "link up (outbound to %s, TLS 1.%d, %s, %s%s)", c->peer,
	     t ? tls_sess_version(t) % 10 : 0, cipher ? cipher : "-",
	     c->s2s_out.dialback ? "dialback" : "SASL EXTERNAL",
	     c->s2s_out.bidi ? ", bidirectional" : "");
	report(c, MSG_S2S_UP, 0);
}

/* XEP-0220 2.1: our key for the peer's stream, to be checked with our
 * authoritative side (s2s/s2s_in.c answers its <db:verify/>). */
static int send_db_result(struct mux_conn *c)
{
	struct s2s_out_neg *ng = out_neg(c);
	const struct mux_group *g = c->mux->group;
	char key[DIALBACK_KEY_LEN + 1];
	if (!ng->peer_id[0] ||
	    dialback_key(g->dialback_secret, sizeof(g->dialback_secret), c->s2s_out.remote, c->domain,
			 ng->peer_id, key) != XS_OK) {
		fail(c, SC_REMOTE_SERVER_NOT_FOUND, "dialback: no key (the peer's stream has no id)");
		return 1;
	}
	char el[512];
	snprintf(el, sizeof(el), "<db:result from='%s' to='%s'>%s</db:result>", c->domain,
		 c->s2s_out.remote, key);
	explicit_bzero(key, sizeof(key));
	conn_send_str(c, el);
	explicit_bzero(el, sizeof(el));
	c->s2s_out.phase = S2S_OUT_WAIT_DB_RESULT;
	return 0;
}

/* XEP-0220 2.3: the receiving server's question to the authoritative one. */
static int send_db_verify(struct mux_conn *c)
{
	struct s2s_out_neg *ng = out_neg(c);
	char el[600];
	snprintf(el, sizeof(el), "<db:verify from='%s' to='%s' id='%s'>%s</db:verify>", c->domain,
		 c->s2s_out.remote, ng->db_sid, ng->db_key);
	conn_send_str(c, el);
	c->s2s_out.phase = S2S_OUT_WAIT_DB_VERIFY;
	return 0;
}

static int on_features(struct mux_conn *c, struct xml_node *f)
{
	if (c->authenticated) {
		/* nothing is negotiated after authentication (bidi was,
		 * before it) */
		established(c);
		return 0;
	}
	if (!conn_tls_count(c)) {
		if (xml_node_child(f, "starttls", NS_TLS)) {
			conn_send_str(c, "<starttls xmlns='" NS_TLS "'/>");
			c->s2s_out.phase = S2S_OUT_WAIT_PROCEED;
			return 0;
		}
		if (c->lst->require_encryption) {
			fail(c, SC_REMOTE_SERVER_NOT_FOUND,
			     "the peer does not offer STARTTLS ([s2s] require_encryption)");
			return 1;
		}
	}
	struct s2s_out_neg *ng = out_neg(c);
	if (ng->verify)
		return send_db_verify(c);
	/* XEP-0288: asked for before authentication, whichever it is */
	if (c->mux->cfg->s2s_bidi && xml_node_child(f, "bidi", NS_BIDI_FEATURE)) {
		conn_send_str(c, "<bidi xmlns='" NS_BIDI "'/>");
		c->s2s_out.bidi = true;
	}
	ng->peer_dialback = xml_node_child(f, "dialback", NS_DIALBACK_FEATURE) != NULL;
	bool external = false;
	struct xml_node *mechs = xml_node_child(f, "mechanisms", NS_SASL);
	for (struct xml_node *m = mechs ? xml_node_first_elem(mechs) : NULL; m && !external;
	     m = xml_node_next_elem(m)) {
		char *name = strcmp(m->name, "mechanism") == 0 ? xml_node_text(m) : NULL;
		external = name && strcmp(name, "EXTERNAL") == 0;
		free(name);
	}
	if (!external) {
		if (s2s_dialback_on(c->mux))
			return send_db_result(c);
		fail(c, SC_REMOTE_SERVER_NOT_FOUND,
		     "the peer does not offer SASL EXTERNAL to us (its trust in our certificate); "
		     "dialback is not enabled");
		return 1;
	}
	/* XEP-0178 3: the authorization identity is our domain */
	char b64[512];
	size_t n = 0;
	if (base64_encode(c->domain, strlen(c->domain), b64, sizeof(b64), &n) != XS_OK) {
		fail(c, SC_REMOTE_SERVER_NOT_FOUND, "our domain is too long");
		return 1;
	}
	char auth[700];
	snprintf(auth, sizeof(auth), "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>%s</auth>", b64);
	conn_send_str(c, auth);
	c->s2s_out.phase = S2S_OUT_WAIT_SUCCESS;
	return 0;
}

static int negotiate(struct mux_conn *c, struct xml_node *el)
{
	enum s2s_out_phase ph = c->s2s_out.phase;
	bool streams = strcmp(el->ns, NS_STREAMS) == 0;
	if (streams && strcmp(el->name, "error") == 0) {
		struct xml_node *cond = xml_node_first_elem(el);
		fail(c, SC_REMOTE_SERVER_NOT_FOUND, "stream error from the peer: %s",
		     cond ? cond->name : "?");
		return 1;
	}
	if (ph == S2S_OUT_WAIT_FEATURES && streams && strcmp(el->name, "features") == 0)
		return on_features(c, el);
	if (ph == S2S_OUT_WAIT_PROCEED && strcmp(el->ns, NS_TLS) == 0) {
		if (strcmp(el->name, "proceed") != 0) {
			fail(c, SC_REMOTE_SERVER_NOT_FOUND, "the peer refused STARTTLS");
			return 1;
		}
		/* the new stream's header goes out when TLS is up */
		conn_request_restart(c);
		push_tls(c);
		return 1;
	}
	if (ph == S2S_OUT_WAIT_DB_RESULT && !strcmp(el->ns, NS_DIALBACK) && !strcmp(el->name, "result")) {
		const char *type = xml_node_attr(el, "type");
		if (!type || strcmp(type, "valid") != 0) {
			struct xml_node *e = xml_node_first_elem(el);
			struct xml_node *cond = e ? xml_node_first_elem(e) : NULL;
			fail(c, SC_REMOTE_SERVER_NOT_FOUND, "dialback refused (%s%s%s)",
			     type ? type : "no type", cond ? ": " : "", cond ? cond->name : "");
			return 1;
		}
		c->authenticated = true;
		c->s2s_out.dialback = true;
		LOGC(INFO, c, "authenticated to the peer (dialback)");
		struct xml_stream_limits lim;
		conn_stream_limits(c, &lim);
		xml_stream_set_limits(conn_xml(c), &lim);
		established(c);
		return 0;
	}
	if (ph == S2S_OUT_WAIT_DB_VERIFY && !strcmp(el->ns, NS_DIALBACK) && !strcmp(el->name, "verify")) {
		const char *type = xml_node_attr(el, "type");
		const char *id = xml_node_attr(el, "id");
		bool valid = type && !strcmp(type, "valid") && id && !strcmp(id, out_neg(c)->db_sid);
		LOGC(INFO, c, "dialback: the authoritative server says %s", type ? type : "nothing");
		verify_answer(c, valid, valid ? "" : "the authoritative server says the key is not its");
		conn_send_str(c, "</stream:stream>");
		conn_close_after_flush(c, "dialback verification done");
		return 1;
	}
	if (ph == S2S_OUT_WAIT_SUCCESS && strcmp(el->ns, NS_SASL) == 0) {
		if (strcmp(el->name, "success") != 0) {
			struct xml_node *cond = xml_node_first_elem(el);
			/* a peer may offer EXTERNAL and then find that it does
			 * not trust our certificate (ejabberd does): dialback on
			 * the same stream, where both of us take it */
			if (s2s_dialback_on(c->mux) && out_neg(c)->peer_dialback) {
				LOGC(INFO, c, "SASL EXTERNAL refused (%s): dialback instead",
				     cond ? cond->name : el->name);
				return send_db_result(c);
			}
			fail(c, SC_REMOTE_SERVER_NOT_FOUND, "SASL EXTERNAL refused (%s)",
			     cond ? cond->name : el->name);
			return 1;
		}
		c->authenticated = true;
		LOGC(INFO, c, "authenticated to the peer (SASL EXTERNAL)");
		conn_request_restart(c);
		send_header(c);
		return 1;
	}
	fail(c, SC_REMOTE_SERVER_NOT_FOUND, "unexpected <%s/> from the peer", el->name);
	return 1;
}

static int out_on_stanza(struct mux_conn *c, struct xml_node *el)
{
	int stop;
	if (c->s2s_out.phase != S2S_OUT_ESTABLISHED) {
		stop = negotiate(c, el);
	} else if (s2s_is_stream_error(el)) {
		stop = s2s_peer_stream_error(c, el);
	} else if (c->s2s_out.bidi) {
		/* XEP-0288: the peer's stanzas for us come this way too; the
		 * certificate we checked (or dialback's DNS) is what says the
		 * peer is the remote domain */
		return s2s_stanza_route(c, el); /* takes el */
	} else {
		/* a stream we opened carries nothing towards us without bidi */
		stream_error(c, "unsupported-stanza-type", "this stream is outbound only");
		stop = 1;
	}
	xml_node_free(el);
	return stop;
}

static void out_on_restart(struct mux_conn *c)
{
	(void)c; /* the phase says what comes next (TLS, or the header) */
}

static enum xs out_features(struct mux_conn *c, struct xbuf *b)
{
	(void)c;
	(void)b;
	return XS_OK; /* we never send features: we are the initiating entity */
}

static bool out_sleep_ok(struct mux_conn *c)
{
	(void)c;
	return true;
}

static bool out_deliver(struct mux_conn *c, struct msg *msg)
{
	return c->s2s_out.phase == S2S_OUT_ESTABLISHED && s2s_deliver(c, msg);
}

static void out_on_msg(struct mux_conn *c, struct msg *msg)
{
	if (msg->type == MSG_KICK && !msg->data[0]) {
		/* not wanted (the pair has another link): the peer did no
		 * wrong, so no stream error */
		LOGC(INFO, c, "closing: the pair has another link");
		conn_send_str(c, "</stream:stream>");
		conn_close_after_flush(c, "the pair has another link");
	} else if (msg->type == MSG_KICK)
		stream_error(c, "policy-violation", msg->data);
	else
		LOGC(WARN, c, "unexpected message %d", (int)msg->type);
}

static bool out_keep_on_close(struct mux_conn *c)
{
	(void)c;
	return false;
}

static void out_nothing(struct mux_conn *c)
{
	(void)c;
}

static void out_on_closed(struct mux_conn *c)
{
	if (c->s2s_out.phase == S2S_OUT_ESTABLISHED) {
		/* the attempt was reported up; its end is news of its own */
		LOGC(INFO, c, "link down");
		c->s2s_out.reported = false;
		report(c, MSG_S2S_DOWN, 0);
	} else {
		struct s2s_out_neg *ng = out_neg(c);
		if (!c->s2s_out.reported)
			LOGC(INFO, c, "link failed: %s", ng && ng->why[0] ? ng->why : "connection closed");
		report(c, MSG_S2S_DOWN, SC_REMOTE_SERVER_NOT_FOUND + 1);
		verify_answer(c, false, ng && ng->why[0] ? ng->why : "the verification stream closed");
	}
	if (c->neg && out_neg(c)->dns) {
		s2s_dns_cancel(out_neg(c)->dns);
		out_neg(c)->dns = NULL;
	}
}

static void out_on_timer(struct mux_conn *c)
{
	if (c->s2s_out.phase != S2S_OUT_ESTABLISHED)
		fail(c, SC_REMOTE_SERVER_TIMEOUT, "not done within %us ([s2s] connect_timeout)",
		     c->mux->cfg->s2s_connect_timeout_s);
}

static const char *out_session_name(const struct mux_conn *c)
{
	return c->s2s_out.remote;
}

static void out_free(struct mux_conn *c)
{
	s2s_counted(c, false);
	out_neg_free(c);
	free(c->s2s_out.remote);
	c->s2s_out.remote = NULL;
}

static bool out_thread_msg(struct mux *m, struct msg *msg, bool *forwarded)
{
	(void)forwarded;
	if (msg->type != MSG_S2S_CONNECT)
		return false;
	if (!m->shutting_down)
		out_start(m, msg->data);
	return true;
}

/* Streams still looking for their peer have nothing to say to it. */
static void out_thread_shutdown(struct mux *m)
{
	for (size_t i = 0; i < m->n_slots; i++) {
		struct mux_conn *c = m->slots[i];
		if (c && !c->dead && c->role == &s2s_out_role && !c->header_sent)
			conn_close(c, "shutting down");
	}
}

const struct stream_role_ops s2s_out_role = {
	.name = "s2s-out",
	.ns = NS_SERVER,
	.alpn = "xmpp-server",
	.server_link = true,
	.initiator = true,
	.init = out_init,
	.on_open = out_on_open,
	.on_stanza = out_on_stanza,
	.on_restart = out_on_restart,
	.features = out_features,
	.sleep_ok = out_sleep_ok,
	.deliver = out_deliver,
	.on_msg = out_on_msg,
	.keep_on_close = out_keep_on_close,
	.park = out_nothing,
	.on_closed = out_on_closed,
	.on_timer = out_on_timer,
	.session_name = out_session_name,
	.strip = out_nothing,
	.free = out_free,
	.on_connected = out_on_connected,
	.on_tls_ready = out_on_tls_ready,
	.thread_msg = out_thread_msg,
	.thread_shutdown = out_thread_shutdown,
	/* for both s2s roles */
	.thread_timers = s2s_idle_timers,
	.thread_deadline = s2s_idle_deadline,
};
