/* One XMPP client connection of the load generator, as a state machine
 * driven by epoll events on its socket.
 *
 * Path of a login (RFC 6120): TCP connect (from one of the configured
 * source addresses) -> [direct TLS handshake | stream header, features,
 * <starttls/>, <proceed/>, TLS handshake] -> stream header -> features with
 * mechanisms -> SASL (PLAIN or SCRAM, -PLUS with the tls-exporter binding)
 * -> stream restart -> features with <bind/> -> bind iq -> [roster get
 * (--roster-get, presence)] -> initial presence.  Login time runs from just
 * before connect() to the bind result, or to the roster result.  In a
 * federation run (--peer-host) the second half of the users connect to
 * the peer server, as accounts of its domain.  With --transport websocket
 * (wss://) the TLS handshake is followed by the HTTP upgrade (ws.c), the
 * stream header is <open/> and each element one WebSocket frame; the
 * frames' payloads feed the same scanner (see struct wsconn).
 *
 * Bytes: the socket is non-blocking and level-triggered.  Plaintext (after
 * TLS) accumulates in c->in and is cut into depth-1 elements by xscan, so
 * element boundaries never need to coincide with reads or records.
 * Before TLS, output queues in c->out; after it, in the TLS session's own
 * outbound buffer, and EPOLLOUT is only asked for while some is left.
 * Buffers are freed when they drain, so an idle session holds its socket,
 * its TLS session and this record and nothing else. */
#include "bench/xmppload/xmppload.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/xmppload/ws.h"
#include "bench/xmppload/xscan.h"
#include "core/base/base64.h"
#include "core/auth/sasl_scram.h"
#include "core/base/xbuf.h"
#include "tls/tls.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_ROSTER "jabber:iq:roster"
#define READ_CHUNK 16384
#define MAX_IN (1u << 20) /* an element larger than this is a broken peer */
#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"

enum cstate {
	C_NEW,
	C_CONNECTING,
	C_FEATURES_PLAIN, /* starttls: waiting for the first features */
	C_PROCEED,
	C_HANDSHAKE,
	C_WS_UPGRADE,     /* websocket: waiting for the 101 */
	C_FEATURES_AUTH,
	C_SASL,
	C_FEATURES_BIND,
	C_BIND,
	C_ROSTER,
	C_ONLINE,
	C_CLOSED,
};

struct conn {
	int fd;
	enum cstate state;
	unsigned user;           /* user number (first_user based) */
	unsigned online_slot;
	bool want_out, counted;  /* EPOLLOUT registered; login outcome counted */
	bool pinged;
	struct tls_sess *tls;
	struct scram_client *scram;
	struct wsconn *ws;       /* websocket transport only */
	struct xbuf in, out;
	struct xscan sc;
	uint64_t t_start;
};

/* The websocket transport's state (ws.h): the key until the 101 has been
 * checked, then the frame decoder.  Once up, every element written goes
 * out as one masked text frame, and the payloads of the server's frames
 * land in c->in behind a synthetic stream header (see send_header()). */
struct wsconn {
	bool up;
	char key[WS_KEY_LEN + 1];
	struct ws_rx rx;
};

static const char stream_header_fmt[] =
	"<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
	"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

struct conn *client_table_new(struct worker *w)
{
	struct conn *t = calloc(w->n ? w->n : 1, sizeof(*t));

	if (!t)
		return NULL;
	for (unsigned i = 0; i < w->n; i++) {
		t[i].fd = -1;
		t[i].user = w->cfg->first_user + w->first + i;
	}
	return t;
}

struct conn *client_at(struct worker *w, unsigned i)
{
	return &w->conns[i];
}

unsigned client_user(const struct conn *c)
{
	return c->user;
}

static void conn_release(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	tls_sess_free(c->tls);
	c->tls = NULL;
	scram_client_free(c->scram);
	c->scram = NULL;
	free(c->ws);
	c->ws = NULL;
	xbuf_free(&c->in);
	xbuf_free(&c->out);
}

void client_table_free(struct worker *w)
{
	for (unsigned i = 0; i < w->n; i++)
		conn_release(&w->conns[i]);
	free(w->conns);
	w->conns = NULL;
}

/* The domain the connection's user belongs to (stream 'to', SNI, the
 * certificate's name): the peer's in a federation run for its users. */
static const char *conn_host(const struct worker *w, const struct conn *c)
{
	return cfg_on_peer(w->cfg, c->user) ? w->cfg->peer_host : w->cfg->host;
}

static void set_events(struct worker *w, struct conn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };

	if (out == c->want_out)
		return;
	c->want_out = out;
	epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void online_remove(struct worker *w, struct conn *c)
{
	struct conn *last = w->online[--w->n_online];

	w->online[c->online_slot] = last;
	last->online_slot = c->online_slot;
}

/* The end of a connection, for any reason.  why == NULL: we closed it. */
static void conn_end(struct worker *w, struct conn *c, const char *why)
{
	if (c->state == C_CLOSED)
		return;
	if (!c->counted) {
		c->counted = true;
		w->login_fail++;
		w->pending--;
		atomic_fetch_add_explicit(&w->prog.logins_done, 1, memory_order_release);
	} else if (c->state == C_ONLINE) {
		online_remove(w, c);
		if (why)
			w->disconnects++;
		if (why && w->sh->victim && c->user == w->sh->victim)
			atomic_store(&w->sh->victim_lost, 1);
		if (c->pinged)
			atomic_fetch_add_explicit(&w->prog.checked, 1, memory_order_relaxed);
	}
	if (why && !w->first_error[0])
		snprintf(w->first_error, sizeof(w->first_error), "user %u: %s", c->user, why);
	if (why && w->cfg->verbose)
		fprintf(stderr, "xmppload: user %u: %s\n", c->user, why);
	conn_release(c);
	c->state = C_CLOSED;
}

/* Writes what is queued; false if the connection died. */
static bool flush(struct worker *w, struct conn *c)
{
	for (;;) {
		const void *p;
		size_t n;
		ssize_t r;

		if (c->tls)
			p = tls_sess_out_peek(c->tls, &n);
		else
			p = c->out.data, n = c->out.len;
		if (n == 0)
			break;
		r = send(c->fd, p, n, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				set_events(w, c, true);
				return true;
			}
			char why[96];
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			conn_end(w, c, why);
			return false;
		}
		if (c->tls)
			tls_sess_out_consume(c->tls, (size_t)r);
		else
			xbuf_consume(&c->out, (size_t)r);
	}
	set_events(w, c, false);
	return true;
}

static bool tls_write_all(struct worker *w, struct conn *c, const void *s, size_t n)
{
	size_t done;

	if (tls_sess_write(c->tls, s, n, &done) != XS_OK || done != n) {
		conn_end(w, c, "TLS write failed");
		return false;
	}
	return true;
}

/* One WebSocket frame with a fresh random mask. */
static bool ws_send(struct worker *w, struct conn *c, enum ws_op op, const void *s, size_t n)
{
	static _Thread_local uint8_t fbuf[16384 + WS_FRAME_OVERHEAD];
	uint8_t *f = n <= sizeof(fbuf) - WS_FRAME_OVERHEAD ? fbuf : malloc(n + WS_FRAME_OVERHEAD);
	bool ok;

	if (!f) {
		conn_end(w, c, "out of memory");
		return false;
	}
	ok = tls_write_all(w, c, f, ws_frame(f, op, s, n, (uint32_t)rng_next(&w->rng)));
	if (f != fbuf)
		free(f);
	return ok && flush(w, c);
}

/* Over WebSocket no stream header declares the default namespace, so a
 * stanza names it itself (RFC 7395 3.3.3): xmlns='jabber:client' goes in
 * after the element name of <iq, <message and <presence.  Elements with a
 * namespace of their own (SASL, <open/>, <close/>) go as they are. */
static bool ws_send_element(struct worker *w, struct conn *c, const char *s, size_t n)
{
	static const char ns[] = " xmlns='jabber:client'";
	static _Thread_local char buf[16384];
	size_t name = n > 3 && s[1] == 'i' && s[2] == 'q' ? 3
		      : n > 8 && !memcmp(s, "<message", 8) ? 8
		      : n > 9 && !memcmp(s, "<presence", 9) ? 9 : 0;

	if (!name || (s[name] != ' ' && s[name] != '>' && s[name] != '/') ||
	    n + sizeof(ns) > sizeof(buf))
		return ws_send(w, c, WS_TEXT, s, n);
	memcpy(buf, s, name);
	memcpy(buf + name, ns, sizeof(ns) - 1);
	memcpy(buf + name + sizeof(ns) - 1, s + name, n - name);
	return ws_send(w, c, WS_TEXT, buf, n + sizeof(ns) - 1);
}

static bool send_raw(struct worker *w, struct conn *c, const char *s, size_t n)
{
	if (c->ws && c->ws->up)
		return ws_send_element(w, c, s, n);
	if (c->tls) {
		size_t done;

		if (tls_sess_write(c->tls, s, n, &done) != XS_OK || done != n) {
			conn_end(w, c, "TLS write failed");
			return false;
		}
	} else if (xbuf_append(&c->out, s, n) != XS_OK) {
		conn_end(w, c, "out of memory");
		return false;
	}
	return flush(w, c);
}

static bool send_str(struct worker *w, struct conn *c, const char *s)
{
	return send_raw(w, c, s, strlen(s));
}

static bool send_header(struct worker *w, struct conn *c)
{
	char hdr[512];

	xscan_reset(&c->sc);
	xbuf_free(&c->in);
	if (c->ws) {
		/* RFC 7395: <open/> instead of the stream header, and each
		 * server element arrives on its own.  The scanner reads them
		 * behind a synthetic header, so they are depth-1 elements as on
		 * a socket; the server's <open/> is skipped in on_element(). */
		if (xbuf_append_str(&c->in, "<stream:stream>") != XS_OK) {
			conn_end(w, c, "out of memory");
			return false;
		}
		snprintf(hdr, sizeof(hdr),
			 "<open xmlns='" NS_FRAMING "' to='%s' version='1.0'/>", conn_host(w, c));
		return send_str(w, c, hdr);
	}
	snprintf(hdr, sizeof(hdr), stream_header_fmt, conn_host(w, c));
	return send_str(w, c, hdr);
}

void client_launch(struct worker *w, struct conn *c)
{
	const struct load_cfg *cfg = w->cfg;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	char why[128];
	int one = 1;

	w->pending++;
	c->t_start = now_ns();
	c->state = C_CONNECTING;
	c->want_out = true;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(why, sizeof(why), "socket: %s", strerror(errno));
		conn_end(w, c, why);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cfg->n_src) {
		/* The port is chosen at connect() against the full 4-tuple, so
		 * each source address gives its own ~28k ephemeral ports per
		 * server port instead of sharing one bind()-time pool. */
		struct sockaddr_in src = { .sin_family = AF_INET,
					   .sin_addr = cfg->src_ips[c->user % cfg->n_src] };

		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			snprintf(why, sizeof(why), "bind source address: %s", strerror(errno));
			conn_end(w, c, why);
			return;
		}
	}
	if (connect(c->fd, (const struct sockaddr *)(cfg_on_peer(cfg, c->user) ? &cfg->peer
									      : &cfg->server),
		    sizeof(cfg->server)) < 0 &&
	    errno != EINPROGRESS) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		conn_end(w, c, why);
		return;
	}
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		snprintf(why, sizeof(why), "epoll_ctl: %s", strerror(errno));
		conn_end(w, c, why);
	}
}

static bool start_tls(struct worker *w, struct conn *c)
{
	const struct load_cfg *cfg = w->cfg;
	struct tls_client_opts o = {
		.server_name = conn_host(w, c),
		.ca_file = cfg->ca_file,
		.verify = !cfg->insecure,
		.alpn = cfg->websocket ? "http/1.1" : cfg->mode == MODE_DIRECT_TLS ? "xmpp-client" : NULL,
		.min_version = cfg->tls_min,
		.max_version = cfg->tls_max,
	};
	char err[256];

	c->tls = tls_sess_new_client(&o, err, sizeof(err));
	if (!c->tls) {
		conn_end(w, c, err);
		return false;
	}
	c->state = C_HANDSHAKE;
	if (tls_sess_handshake(c->tls) == XS_TLS) {
		snprintf(err, sizeof(err), "TLS: %s", tls_sess_error(c->tls));
		conn_end(w, c, err);
		return false;
	}
	return flush(w, c);
}

static void on_connected(struct worker *w, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		char why[96];
		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		conn_end(w, c, why);
		return;
	}
	if (w->cfg->mode == MODE_DIRECT_TLS) {
		start_tls(w, c);
	} else {
		c->state = C_FEATURES_PLAIN;
		send_header(w, c);
	}
}

static void login_ok(struct worker *w, struct conn *c)
{
	uint64_t t = now_ns();

	hist_record(&w->login_h, t - c->t_start);
	c->counted = true;
	w->pending--;
	c->state = C_ONLINE;
	c->online_slot = w->n_online;
	w->online[w->n_online++] = c;
	atomic_fetch_add_explicit(&w->prog.logins_ok, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->prog.logins_done, 1, memory_order_release);
}

static bool send_auth(struct worker *w, struct conn *c, const char *el, size_t len)
{
	const struct load_cfg *cfg = w->cfg;
	char user[256], pass[256], mech[96], *msg = NULL, *b64 = NULL, *xml = NULL;
	size_t mlen = 0;
	bool ok = false;

	snprintf(mech, sizeof(mech), "<mechanism>%s</mechanism>", cfg->mech_name);
	if (!xel_has(el, len, mech)) {
		conn_end(w, c, "server does not offer the mechanism");
		return false;
	}
	fmt_index(user, sizeof(user), cfg->user_fmt, c->user);
	if (cfg->password)
		snprintf(pass, sizeof(pass), "%s", cfg->password);
	else
		fmt_index(pass, sizeof(pass), cfg->pass_fmt, c->user);

	if (cfg->mech == AUTH_PLAIN) {
		size_t ul = strlen(user), pl = strlen(pass);

		msg = malloc(ul + pl + 2);
		if (!msg)
			goto out;
		msg[0] = 0;
		memcpy(msg + 1, user, ul);
		msg[1 + ul] = 0;
		memcpy(msg + 2 + ul, pass, pl);
		mlen = ul + pl + 2;
	} else {
		uint8_t cb[TLS_EXPORTER_LEN];

		if (cfg->plus && tls_sess_exporter(c->tls, cb) != XS_OK) {
			conn_end(w, c, "no tls-exporter channel binding (TLS 1.3 needed for -PLUS)");
			goto out_wipe;
		}
		c->scram = scram_client_new(cfg->hash, user, pass, NULL,
					    cfg->plus ? "tls-exporter" : NULL, cfg->plus ? cb : NULL,
					    cfg->plus ? sizeof(cb) : 0, cfg->plus);
		if (!c->scram || scram_client_first(c->scram, &msg, &mlen) != SCRAM_CONTINUE) {
			conn_end(w, c, "SCRAM client set-up failed");
			goto out_wipe;
		}
	}
	b64 = malloc(base64_encoded_len(mlen) + 1);
	xml = malloc(base64_encoded_len(mlen) + 128);
	if (!b64 || !xml || base64_encode(msg, mlen, b64, base64_encoded_len(mlen) + 1, NULL) != XS_OK)
		goto out;
	sprintf(xml, "<auth xmlns='" NS_SASL "' mechanism='%s'>%s</auth>", cfg->mech_name, b64);
	c->state = C_SASL;
	ok = send_str(w, c, xml);
	goto out_wipe;
out:
	conn_end(w, c, "out of memory");
out_wipe:
	if (msg) {
		explicit_bzero(msg, mlen);
		free(msg);
	}
	explicit_bzero(pass, sizeof(pass));
	free(b64);
	free(xml);
	return ok;
}

/* Decodes the base64 text of a SASL element into a malloc'd buffer. */
static char *sasl_payload(const char *el, size_t len, size_t *out_len)
{
	const char *t;
	size_t tl;
	char *buf;

	if (!xel_text(el, len, NULL, &t, &tl))
		t = "", tl = 0;
	buf = malloc(base64_decoded_max(tl) + 1);
	if (!buf)
		return NULL;
	if (tl == 0 || (tl == 1 && t[0] == '=')) {
		*out_len = 0;
	} else if (base64_decode(t, tl, buf, base64_decoded_max(tl), out_len) != XS_OK) {
		free(buf);
		return NULL;
	}
	buf[*out_len] = 0;
	return buf;
}

static bool on_sasl(struct worker *w, struct conn *c, const char *el, size_t len)
{
	char *payload, *resp = NULL, *b64 = NULL, *xml = NULL;
	size_t plen, rlen;
	bool ok = false;

	if (xel_is(el, len, "failure")) {
		char why[160];

		snprintf(why, sizeof(why), "SASL failure: %.*s", (int)(len < 120 ? len : 120), el);
		conn_end(w, c, why);
		return false;
	}
	if (!xel_is(el, len, "challenge") && !xel_is(el, len, "success")) {
		conn_end(w, c, "unexpected element during SASL");
		return false;
	}
	payload = sasl_payload(el, len, &plen);
	if (!payload) {
		conn_end(w, c, "bad base64 from server");
		return false;
	}
	if (xel_is(el, len, "success")) {
		/* RFC 6120 §6.4.6: SCRAM's server-final-message rides on
		 * <success/>; an old server may have sent it as a challenge
		 * already, in which case scram is gone and success is empty. */
		if (c->scram) {
			if (scram_client_verify(c->scram, payload, plen) != SCRAM_DONE) {
				free(payload);
				conn_end(w, c, "server signature did not verify");
				return false;
			}
			scram_client_free(c->scram);
			c->scram = NULL;
		}
		free(payload);
		c->state = C_FEATURES_BIND;
		return send_header(w, c);
	}
	if (!c->scram) {
		free(payload);
		conn_end(w, c, "unexpected SASL challenge");
		return false;
	}
	/* A challenge: the server-first-message, or (legacy) the final one. */
	if (plen >= 2 && payload[0] == 'v' && payload[1] == '=') {
		if (scram_client_verify(c->scram, payload, plen) != SCRAM_DONE) {
			free(payload);
			conn_end(w, c, "server signature did not verify");
			return false;
		}
		scram_client_free(c->scram);
		c->scram = NULL;
		free(payload);
		return send_str(w, c, "<response xmlns='" NS_SASL "'/>");
	}
	if (scram_client_final(c->scram, payload, plen, &resp, &rlen) != SCRAM_CONTINUE) {
		free(payload);
		conn_end(w, c, "bad SCRAM server-first-message");
		return false;
	}
	free(payload);
	b64 = malloc(base64_encoded_len(rlen) + 1);
	xml = malloc(base64_encoded_len(rlen) + 96);
	if (b64 && xml && base64_encode(resp, rlen, b64, base64_encoded_len(rlen) + 1, NULL) == XS_OK) {
		sprintf(xml, "<response xmlns='" NS_SASL "'>%s</response>", b64);
		ok = send_str(w, c, xml);
	} else {
		conn_end(w, c, "out of memory");
	}
	free(resp);
	free(b64);
	free(xml);
	return ok;
}

static bool on_bind_result(struct worker *w, struct conn *c, const char *el, size_t len)
{
	const char *v, *jid;
	size_t vl, jl;
	char *copy;

	if (!xel_is(el, len, "iq") || !xel_attr(el, len, "id", &v, &vl) || vl != 4 ||
	    memcmp(v, "bind", 4) != 0)
		return true; /* not ours; servers may push other things */
	if (!xel_attr(el, len, "type", &v, &vl) || vl != 6 || memcmp(v, "result", 6) != 0 ||
	    !xel_text(el, len, "jid", &jid, &jl)) {
		char why[200];
		snprintf(why, sizeof(why), "bind failed: %.*s", (int)(len < 150 ? len : 150), el);
		conn_end(w, c, why);
		return false;
	}
	copy = strndup(jid, jl);
	if (!copy) {
		conn_end(w, c, "out of memory");
		return false;
	}
	free(w->sh->jids[c->user - w->cfg->first_user]);
	w->sh->jids[c->user - w->cfg->first_user] = copy;
	if (w->cfg->roster_get) {
		c->state = C_ROSTER;
		return send_str(w, c, "<iq type='get' id='roster'><query xmlns='" NS_ROSTER "'/></iq>");
	}
	login_ok(w, c);
	return send_str(w, c, "<presence/>");
}

/* The roster result: its items are counted (and checked against
 * --roster-size), then the login is complete and initial presence goes
 * out, as a client does (RFC 6121 2.2: get the roster, then be available). */
static bool on_roster_result(struct worker *w, struct conn *c, const char *el, size_t len)
{
	const char *v;
	size_t vl;
	unsigned items = 0;

	if (!xel_is(el, len, "iq") || !xel_attr(el, len, "id", &v, &vl) || vl != 6 ||
	    memcmp(v, "roster", 6) != 0)
		return true; /* not ours */
	if (!xel_attr(el, len, "type", &v, &vl) || vl != 6 || memcmp(v, "result", 6) != 0) {
		char why[200];
		snprintf(why, sizeof(why), "roster get failed: %.*s", (int)(len < 150 ? len : 150), el);
		conn_end(w, c, why);
		return false;
	}
	for (const char *p = el, *end = el + len; (p = memmem(p, (size_t)(end - p), "<item", 5));
	     p += 5)
		if (p + 5 < end && (p[5] == ' ' || p[5] == '/' || p[5] == '>'))
			items++;
	if (items > w->roster_max)
		w->roster_max = items;
	if (items < w->roster_min) /* UINT_MAX before the first */
		w->roster_min = items;
	if (w->cfg->roster_size && items != w->cfg->roster_size) {
		w->roster_bad++;
		if (!w->first_error[0])
			snprintf(w->first_error, sizeof(w->first_error),
				 "user %u: roster of %u items, expected %u", c->user, items,
				 w->cfg->roster_size);
	}
	login_ok(w, c);
	return send_str(w, c, "<presence/>");
}

int roster_slot(const struct load_cfg *cfg, unsigned s, unsigned r)
{
	unsigned n = cfg->users, half = cfg->roster_size / 2;
	unsigned d = (r + n - s) % n;

	if (d >= 1 && d <= half)
		return (int)d - 1;
	if (d >= n - half)
		return (int)(half + (n - d) - 1);
	return -1;
}

/* A presence.  A change the run sent carries 'xp t=NS s=SEQ u=USER' in
 * its status: its latency is recorded and (sender, receiver) marked in
 * the seen bitmap; anything else from a contact is an initial presence
 * (a probe answered or a broadcast of an initial presence). */
static void on_presence(struct worker *w, struct conn *c, const char *el, size_t len)
{
	const struct load_cfg *cfg = w->cfg;
	struct shared *sh = w->sh;
	const char *v, *st;
	size_t vl, sl;
	unsigned long long t, seq;
	unsigned u;
	int slot;

	if (xel_attr(el, len, "type", &v, &vl)) {
		if (vl == 5 && memcmp(v, "error", 5) == 0)
			w->msg_errors++;
		else
			w->pres_other++;
		return;
	}
	if (!xel_text(el, len, "status", &st, &sl) || sl < 5 || memcmp(st, "xp t=", 5) != 0 ||
	    sscanf(st, "xp t=%llu s=%llu u=%u", &t, &seq, &u) != 3) {
		/* Initial: from our own bare JID (our presence reflected) or a contact's. */
		const char *own = sh->jids[c->user - cfg->first_user], *slash;
		size_t ol;

		slash = own ? strchr(own, '/') : NULL;
		ol = own ? (slash ? (size_t)(slash - own) : strlen(own)) : 0;
		if (own && xel_attr(el, len, "from", &v, &vl) && vl >= ol && !memcmp(v, own, ol) &&
		    (vl == ol || v[ol] == '/'))
			w->self_pres++;
		else
			atomic_fetch_add_explicit(&w->prog.initial, 1, memory_order_relaxed);
		return;
	}
	if (u == c->user) {
		w->self_pres++;
		return;
	}
	if (u < cfg->first_user || u - cfg->first_user >= cfg->users ||
	    (slot = roster_slot(cfg, u - cfg->first_user, c->user - cfg->first_user)) < 0) {
		w->stray++;
		return;
	}
	uint64_t now = now_ns();
	hist_record(&w->lat_h, now > t ? now - t : 0);
	uint64_t b = (uint64_t)seq * cfg->roster_size + (unsigned)slot;
	if (b < sh->seen_bits) {
		uint64_t bit = 1ull << (b % 64);
		uint64_t old = atomic_fetch_or_explicit(&sh->seen[b / 64], bit, memory_order_relaxed);
		if (old & bit) {
			w->dups++;
			return;
		}
	}
	atomic_fetch_add_explicit(&w->prog.delivered, 1, memory_order_relaxed);
}

static void on_message(struct worker *w, struct conn *c, const char *el, size_t len)
{
	const char *v, *body;
	size_t vl, bl;
	unsigned long long t, seq;

	if (xel_attr(el, len, "type", &v, &vl) && vl == 5 && memcmp(v, "error", 5) == 0) {
		w->msg_errors++;
		return;
	}
	if (xel_text(el, len, "body", &body, &bl) && bl >= 5 && memcmp(body, "xf s=", 5) == 0) {
		/* hostile: the flooder's, counted apart from the chat */
		atomic_fetch_add_explicit(&w->sh->flood_delivered, 1, memory_order_relaxed);
		return;
	}
	if (!xel_text(el, len, "body", &body, &bl) || bl < 8 || memcmp(body, "xl t=", 5) != 0 ||
	    sscanf(body, "xl t=%llu s=%llu", &t, &seq) != 2) {
		w->stray++;
		return;
	}
	uint64_t now = now_ns();
	hist_record(&w->lat_h, now > t ? now - t : 0);
	if (seq < w->sh->seen_bits) {
		uint64_t bit = 1ull << (seq % 64);
		uint64_t old = atomic_fetch_or_explicit(&w->sh->seen[seq / 64], bit,
							memory_order_relaxed);
		if (old & bit) {
			w->dups++;
			return;
		}
	}
	atomic_fetch_add_explicit(&w->prog.delivered, 1, memory_order_relaxed);
}

static void on_iq(struct worker *w, struct conn *c, const char *el, size_t len)
{
	const char *v, *id, *from;
	size_t vl, il, fl;
	char reply[512];

	if (xel_attr(el, len, "id", &id, &il) && il == 5 && memcmp(id, "alive", 5) == 0) {
		if (c->pinged) {
			c->pinged = false;
			w->alive++;
			atomic_fetch_add_explicit(&w->prog.checked, 1, memory_order_relaxed);
		}
		return;
	}
	if (!xel_attr(el, len, "type", &v, &vl) || !((vl == 3 && !memcmp(v, "get", 3)) ||
						      (vl == 3 && !memcmp(v, "set", 3))))
		return;
	/* A request from the server (e.g. XEP-0199 ping): answer so it does
	 * not count us as dead. */
	if (!xel_attr(el, len, "id", &id, &il) || il > 200)
		return;
	if (xel_attr(el, len, "from", &from, &fl) && fl < 200)
		snprintf(reply, sizeof(reply), "<iq type='result' id='%.*s' to='%.*s'/>",
			 (int)il, id, (int)fl, from);
	else
		snprintf(reply, sizeof(reply), "<iq type='result' id='%.*s'/>", (int)il, id);
	send_str(w, c, reply);
}

/* One depth-1 element.  false: the connection is gone. */
static bool on_element(struct worker *w, struct conn *c, const char *el, size_t len)
{
	char buf[600];

	if (c->ws) {
		if (xel_is(el, len, "open"))
			return true; /* the stream (re)starts: nothing to do */
		if (xel_is(el, len, "close")) {
			conn_end(w, c, "server closed the stream");
			return false;
		}
	}
	if (xel_is(el, len, "stream:error")) {
		snprintf(buf, sizeof(buf), "stream error: %.*s", (int)(len < 200 ? len : 200), el);
		conn_end(w, c, buf);
		return false;
	}
	switch (c->state) {
	case C_FEATURES_PLAIN:
		if (!xel_is(el, len, "stream:features") || !xel_has(el, len, "<starttls")) {
			conn_end(w, c, "server does not offer STARTTLS");
			return false;
		}
		c->state = C_PROCEED;
		return send_str(w, c, "<starttls xmlns='" NS_TLS "'/>");
	case C_PROCEED:
		if (!xel_is(el, len, "proceed")) {
			conn_end(w, c, "STARTTLS refused");
			return false;
		}
		return start_tls(w, c);
	case C_FEATURES_AUTH:
		if (!xel_is(el, len, "stream:features")) {
			conn_end(w, c, "expected stream features");
			return false;
		}
		return send_auth(w, c, el, len);
	case C_SASL:
		return on_sasl(w, c, el, len);
	case C_FEATURES_BIND: {
		char res[128];

		if (!xel_is(el, len, "stream:features") || !xel_has(el, len, NS_BIND)) {
			conn_end(w, c, "server does not offer resource binding");
			return false;
		}
		fmt_index(res, sizeof(res), w->cfg->resource_fmt, c->user);
		snprintf(buf, sizeof(buf),
			 "<iq type='set' id='bind'><bind xmlns='" NS_BIND "'><resource>%s</resource>"
			 "</bind></iq>", res);
		c->state = C_BIND;
		return send_str(w, c, buf);
	}
	case C_BIND:
		return on_bind_result(w, c, el, len);
	case C_ROSTER:
		return on_roster_result(w, c, el, len);
	case C_ONLINE:
		if (xel_is(el, len, "message"))
			on_message(w, c, el, len);
		else if (xel_is(el, len, "presence"))
			on_presence(w, c, el, len);
		else if (xel_is(el, len, "iq"))
			on_iq(w, c, el, len);
		return c->state == C_ONLINE;
	default:
		return true;
	}
}

/* Decodes server frames in p[0..n) into c->in; answers pings.  false:
 * the connection is gone. */
static bool ws_input(struct worker *w, struct conn *c, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;

	for (;;) {
		switch (ws_rx_feed(&c->ws->rx, &p, end, &c->in)) {
		case WS_EV_MORE:
			return true;
		case WS_EV_PING:
			if (!ws_send(w, c, WS_PONG, c->ws->rx.ctl, c->ws->rx.ctl_len))
				return false;
			break;
		case WS_EV_CLOSE:
			conn_end(w, c, "server closed the WebSocket");
			return false;
		default:
			conn_end(w, c, "bad WebSocket frame from server");
			return false;
		}
	}
}

/* C_WS_UPGRADE: the response head in c->in, once complete, is checked;
 * then the stream opens.  false: the connection is gone. */
static bool ws_upgraded(struct worker *w, struct conn *c)
{
	size_t end = ws_response_end(c->in.data, c->in.len), rest;
	const char *bad;
	uint8_t *tail = NULL;

	if (!end) {
		if (c->in.len > 16384) {
			conn_end(w, c, "WebSocket upgrade response too large");
			return false;
		}
		return true;
	}
	bad = ws_response_check(c->in.data, end, c->ws->key);
	if (bad) {
		char why[200];

		snprintf(why, sizeof(why), "%s: %.*s", bad,
			 (int)strcspn(c->in.data, "\r\n") < 100 ? (int)strcspn(c->in.data, "\r\n") : 100,
			 c->in.data);
		conn_end(w, c, why);
		return false;
	}
	rest = c->in.len - end;
	if (rest && !(tail = malloc(rest))) {
		conn_end(w, c, "out of memory");
		return false;
	}
	if (rest)
		memcpy(tail, c->in.data + end, rest);
	c->ws->up = true;
	c->state = C_FEATURES_AUTH;
	bool ok = send_header(w, c) && (!rest || ws_input(w, c, tail, rest));
	free(tail);
	return ok;
}

/* Cuts c->in into elements and handles them.  false: connection gone. */
static bool process_input(struct worker *w, struct conn *c)
{
	size_t start, len, drop;

	if (c->state == C_WS_UPGRADE && !ws_upgraded(w, c))
		return false;
	if (c->state == C_WS_UPGRADE)
		return true;
	for (;;) {
		enum xscan_ev ev = xscan_next(&c->sc, c->in.data, c->in.len, &start, &len);

		if (ev == XSCAN_MORE)
			break;
		if (ev == XSCAN_CLOSE) {
			conn_end(w, c, "server closed the stream");
			return false;
		}
		if (ev != XSCAN_ELEM)
			continue;
		enum cstate before = c->state;
		if (!on_element(w, c, c->in.data + start, len))
			return false;
		if (before == C_PROCEED) {
			/* Whatever followed <proceed/> is already TLS. */
			size_t rest = c->in.len - (start + len);
			if (rest && tls_sess_feed(c->tls, c->in.data + start + len, rest) != XS_OK) {
				conn_end(w, c, "TLS input overflow");
				return false;
			}
			xbuf_free(&c->in);
			xscan_reset(&c->sc);
			return true;
		}
		if (c->state == C_FEATURES_BIND && before == C_SASL) {
			/* send_header() reset the scanner and the buffer */
			return true;
		}
	}
	drop = xscan_discardable(&c->sc);
	if (drop) {
		xscan_drop(&c->sc, drop);
		xbuf_consume(&c->in, drop);
	}
	if (c->in.len > MAX_IN) {
		conn_end(w, c, "element too large");
		return false;
	}
	return true;
}

/* tls_drain() once the WebSocket is up: the decrypted bytes are frames,
 * whose payloads go to c->in. */
static bool ws_drain(struct worker *w, struct conn *c)
{
	static _Thread_local uint8_t buf[READ_CHUNK];
	char why[300];

	for (;;) {
		size_t n = 0;
		enum xs st = tls_sess_read(c->tls, buf, sizeof(buf), &n);

		if (st == XS_OK) {
			if (!ws_input(w, c, buf, n))
				return false;
			continue;
		}
		if (!flush(w, c))
			return false;
		if (st == XS_AGAIN)
			return true;
		snprintf(why, sizeof(why), st == XS_EOF ? "TLS closed by server" : "TLS: %s",
			 tls_sess_error(c->tls));
		conn_end(w, c, why);
		return false;
	}
}

/* Pulls decrypted bytes out of the TLS session into c->in. */
static bool tls_drain(struct worker *w, struct conn *c)
{
	char why[300];

	if (!tls_sess_handshake_done(c->tls)) {
		enum xs st = tls_sess_handshake(c->tls);

		if (!flush(w, c))
			return false;
		if (st == XS_AGAIN)
			return true;
		if (st != XS_OK) {
			snprintf(why, sizeof(why), "TLS handshake: %s", tls_sess_error(c->tls));
			conn_end(w, c, why);
			return false;
		}
		if (w->cfg->websocket) {
			char req[1024];
			size_t n;

			c->ws = calloc(1, sizeof(*c->ws));
			if (!c->ws) {
				conn_end(w, c, "out of memory");
				return false;
			}
			n = ws_request(req, sizeof(req), conn_host(w, c), w->cfg->ws_path,
				       rng_next(&w->rng), rng_next(&w->rng), c->ws->key);
			c->state = C_WS_UPGRADE;
			if (!n) {
				conn_end(w, c, "WebSocket request too long");
				return false;
			}
			if (!send_raw(w, c, req, n))
				return false;
		} else {
			c->state = C_FEATURES_AUTH;
			if (!send_header(w, c))
				return false;
		}
	}
	if (c->ws && c->ws->up)
		return ws_drain(w, c);
	for (;;) {
		size_t n = 0;
		enum xs st;

		if (xbuf_reserve(&c->in, READ_CHUNK) != XS_OK) {
			conn_end(w, c, "out of memory");
			return false;
		}
		st = tls_sess_read(c->tls, c->in.data + c->in.len, c->in.cap - c->in.len - 1, &n);
		if (st == XS_OK) {
			c->in.len += n;
			c->in.data[c->in.len] = 0;
			continue;
		}
		if (c->in.len == 0)
			xbuf_free(&c->in);
		if (!flush(w, c))
			return false;
		if (st == XS_AGAIN)
			return true;
		snprintf(why, sizeof(why), st == XS_EOF ? "TLS closed by server" : "TLS: %s",
			 tls_sess_error(c->tls));
		conn_end(w, c, why);
		return false;
	}
}

static void on_readable(struct worker *w, struct conn *c)
{
	static _Thread_local char buf[65536];
	char why[96];

	for (int round = 0; round < 4; round++) {
		ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

		if (r == 0) {
			conn_end(w, c, "server closed the connection");
			return;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			snprintf(why, sizeof(why), "recv: %s", strerror(errno));
			conn_end(w, c, why);
			return;
		}
		if (c->tls) {
			if (tls_sess_feed(c->tls, buf, (size_t)r) != XS_OK) {
				conn_end(w, c, "TLS input overflow");
				return;
			}
			if (!tls_drain(w, c))
				return;
		} else if (xbuf_append(&c->in, buf, (size_t)r) != XS_OK) {
			conn_end(w, c, "out of memory");
			return;
		}
		/* A STARTTLS switch inside process_input leaves bytes in the
		 * new TLS session: drive it too. */
		while (c->in.len) {
			bool had_tls = c->tls != NULL;

			if (!process_input(w, c))
				return;
			if (had_tls || !c->tls)
				break;
			if (!tls_drain(w, c))
				return;
		}
		if ((size_t)r < sizeof(buf))
			return;
	}
}

void client_event(struct worker *w, struct conn *c, uint32_t events)
{
	if (c->state == C_CLOSED || c->fd < 0)
		return;
	if (c->state == C_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_connected(w, c);
		return;
	}
	if (events & EPOLLOUT) {
		if (!flush(w, c))
			return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(w, c);
}

void client_sweep(struct worker *w, uint64_t now)
{
	uint64_t limit = (uint64_t)(w->cfg->timeout * 1e9);

	if (w->pending == 0)
		return;
	for (unsigned i = 0; i < w->launched; i++) {
		struct conn *c = &w->conns[i];

		if (c->state != C_CLOSED && !c->counted && now > c->t_start &&
		    now - c->t_start > limit) {
			static const char *const names[] = {
				"new", "connect", "features", "proceed", "TLS handshake",
				"websocket upgrade", "auth features", "SASL", "bind features", "bind", "roster", "online",
				"closed",
			};
			char why[96];
			snprintf(why, sizeof(why), "login timed out in state %s", names[c->state]);
			conn_end(w, c, why);
		}
	}
}

void client_send_chat(struct worker *w, struct conn *from, const char *to, uint64_t seq)
{
	char buf[8192];
	int n;

	n = snprintf(buf, sizeof(buf), "<message to='%s' type='chat' id='m%llu'><body>xl t=%llu s=%llu",
		     to, (unsigned long long)seq, (unsigned long long)now_ns(),
		     (unsigned long long)seq);
	if (n < 0 || (size_t)n >= sizeof(buf) - 32)
		return;
	/* Padding so the body can be sized like real chat traffic. */
	while ((unsigned)n < w->cfg->body_size && (size_t)n < sizeof(buf) - 32)
		buf[n++] = ' ';
	memcpy(buf + n, "</body></message>", 18);
	n += 17;
	atomic_fetch_add_explicit(&w->prog.sent, 1, memory_order_relaxed);
	send_raw(w, from, buf, (size_t)n);
}

void client_send_presence(struct worker *w, struct conn *from, uint64_t seq)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf),
			 "<presence><show>away</show><status>xp t=%llu s=%llu u=%u</status></presence>",
			 (unsigned long long)now_ns(), (unsigned long long)seq, from->user);

	atomic_fetch_add_explicit(&w->prog.sent, 1, memory_order_relaxed);
	send_raw(w, from, buf, (size_t)n);
}

const char *client_other_host(const struct worker *w, const struct conn *c)
{
	return cfg_on_peer(w->cfg, c->user) ? w->cfg->host : w->cfg->peer_host;
}

void client_send_ping(struct worker *w, struct conn *c, const char *to)
{
	char buf[256];

	if (c->state != C_ONLINE || c->pinged)
		return;
	c->pinged = true;
	snprintf(buf, sizeof(buf), "<iq type='get' id='alive' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>",
		 to ? to : conn_host(w, c));
	send_str(w, c, buf);
}

void client_close(struct worker *w, struct conn *c)
{
	if (c->state == C_CLOSED || c->state == C_NEW)
		return;
	if (c->state == C_ONLINE && c->ws) {
		static const uint8_t normal[2] = { 0x03, 0xe8 }; /* 1000 */

		if (send_str(w, c, "<close xmlns='" NS_FRAMING "'/>"))
			ws_send(w, c, WS_CLOSE, normal, sizeof(normal));
		if (c->state == C_ONLINE) {
			tls_sess_shutdown(c->tls);
			flush(w, c);
		}
	} else if (c->state == C_ONLINE) {
		send_str(w, c, "</stream:stream>");
		if (c->state == C_ONLINE && c->tls) {
			tls_sess_shutdown(c->tls);
			flush(w, c);
		}
	}
	if (c->state != C_CLOSED)
		conn_end(w, c, NULL);
}

bool client_online(const struct conn *c)
{
	return c->state == C_ONLINE;
}

size_t client_out_pending(const struct conn *c)
{
	return c->tls ? tls_sess_out_pending(c->tls) : c->out.len;
}

void client_send_flood(struct worker *w, struct conn *from, const char *to, uint64_t seq)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "<message to='%s' type='chat'><body>xf s=%llu</body></message>",
			 to, (unsigned long long)seq);

	if (n > 0 && (size_t)n < sizeof(buf))
		send_raw(w, from, buf, (size_t)n);
}
