/* libFuzzer target: a whole c2s stream on a real mux connection, from the
 * stream header through STARTTLS, SASL and bind to stanzas routed by a real
 * router, everything in the fuzzer's thread.
 *
 * What runs is the server's own code: a mux group of one thread made by
 * mux_group_new (but no listening socket, and its thread never started),
 * conn_adopt on one end of an AF_UNIX socketpair, conn_on_event called by
 * hand after each chunk is written to the other end, and the steps of a mux
 * loop iteration (timers, reap, inbox, routing in place through
 * router_drain) called through mux/mux_test_seam.h.  Two things are
 * stubbed: the storage thread (store_thread_submit below replaces the one in
 * libxmpp_core at link time; requests are kept and answered between chunks,
 * with a fixed credential, password "pencil", for juliet@fuzz.test and any
 * local part that begins with "juliet" (so that PLAIN, whose message the
 * fuzzer can change freely, reaches bind with long and odd names), a
 * storage error for "broken", a store that is stopping for "stopping" and
 * not-found for everyone else) and time (due timers
 * are fired by setting their deadlines to zero, not by waiting).  The
 * SCRAM server nonce is fixed (scram_server_set_nonce_for_test) before each
 * answer, so a seed can carry a valid client proof and log in.
 *
 * Input: one configuration byte, then records.
 *   config bits 0-1: listener: 0 STARTTLS with require_encryption = false
 *                    (SASL in plaintext), 1 STARTTLS required, 2 direct TLS,
 *                    3 direct TLS allowing STARTTLS inside it
 *          bit 2:    the harness is a TLS client: whenever the server has
 *                    pushed a TLS layer it completes the handshake, and
 *                    later chunks go through its TLS layers (PLAIN and
 *                    the encrypted paths need this; it costs a handshake)
 *          bit 3:    allow_plain = false
 *          bit 4:    the host has registration = open (XEP-0077; the stub
 *                    store creates any name but juliet*, which exist, and
 *                    "broken"; the password "badpw" is refused)
 *          bit 5:    the listener (bits 0-1 as above) is of type s2s: the
 *                    s2s-in role (s2s/s2s_in.c) serves it, and the TLS
 *                    client presents a certificate for peer.test that the
 *                    server trusts, so that SASL EXTERNAL and stanzas
 *                    from peer.test are reachable
 *          bit 6:    [s2s] dialback = true (with a fixed secret): <db:result>
 *                    starts a verification stream (its DNS never answers
 *                    here), <db:verify> is answered from the secret
 *   record: an op byte; bit 7 picks connection 0 or 1 (opened on first
 *   use), bits 0-1 the kind:
 *     0 DATA: a 16-bit little-endian length and that many bytes (fewer at
 *       the end of the input), written and read by the server as one
 *       chunk; afterwards the storage answers (unless bit 2) and due SASL
 *       failure delays fire (unless bit 3)
 *     1 TIMERS: every failure delay fires, with bit 2 the pre-auth
 *       timeouts, with bit 3 idle sessions go to sleep
 *     2 EOF: the client shuts its side down (bit 2: sends TLS close_notify
 *       instead, if it speaks TLS)
 *     3 CONTROL, bits 2-4: 0 answer storage now, 1 MSG_SHUTDOWN,
 *       2 MSG_RELOAD_TLS, 3 an EPOLLOUT event, 4 the client asks for a
 *       TLS 1.3 KeyUpdate, 5 the client stops reading (again: resumes);
 *       the server's socket buffer is small and max_output_buffer 64 KiB,
 *       so a client that does not read soon meets the slow-reader policy;
 *       6 and 7: the harness logs in as juliet with SCRAM-SHA-256-PLUS or
 *       SCRAM-SHA-1-PLUS, binding to its own TLS session (tls-exporter),
 *       which no seed can do: the binding differs with every handshake
 * At the end every connection is closed, the router and the mux group
 * freed: nothing outlives one input, which LeakSanitizer checks.
 *
 * Oracle, besides the sanitizers: what the server writes, read as a client
 * reads it (a fresh document after each <proceed/> and <success/>), must be
 * well-formed XML and nothing may follow its </stream:stream>.  Bytes that
 * the client cannot decrypt (it does not speak TLS, or its handshake
 * failed) are not checked.
 *
 * FUZZ_C2S_VERBOSE=1 in the environment prints what the server writes (the
 * plaintext, in TLS mode) and logs at debug level: the way to check that a
 * seed goes where it should (tests/fuzz/gen_c2s_corpus.py). */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/base64.h"
#include "core/conf/cfg.h"
#include "core/base/log.h"
#include "core/route/msg.h"
#include "core/route/router.h"
#include "core/auth/sasl_scram.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "mux/c2s/c2s.h"
#include "mux/mux_test_seam.h"
#include "mux/peer_table.h"
#include "tls/tls.h"
#include "tls/tls_cert.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DOMAIN "fuzz.test"
#define PEER_DOMAIN "peer.test"
#define SNONCE "fuzz-server-nonce"
#define MAX_CONNS 2
#define MAX_PENDING 8
#define MAX_ROUNDS 16 /* handshake and settle rounds: each makes progress or stops */

/* The listeners live outside cfg: mux_group_new would listen on those. */
static struct cfg cfg;
static struct cfg_listener listeners[8]; /* c2s, then s2s */
/* The harness's certificate as a peer server (bit 5), kept for the
 * process's life: each client session loads it. */
static char peer_dir[] = "/tmp/fuzz_c2s_peer_XXXXXX";
static char peer_cert[64], peer_key[64];
static struct tls_ctx_set *tls_set;
static struct scram_cred creds[2];
static bool verbose;

/* ---- the storage stub ---- */

static struct store_req *pending[MAX_PENDING];
static size_t n_pending;

/* Replaces core/store/store_thread.c's (not linked: nothing else of it is used
 * here).  Keeps the request for answer_store().  A store that is stopping
 * refuses (XS_STOP), which the server must take too: so does this one for
 * the user "stopping", or when full (cannot happen with one lookup per
 * connection at a time, but it must not overflow if that changes). */
enum xs store_thread_submit(struct store_thread *t, struct store_req *req)
{
	(void)t;
	if (!req->done)
		return XS_INVAL;
	if (n_pending == MAX_PENDING || strcmp(req->local, "stopping") == 0)
		return XS_STOP;
	pending[n_pending++] = req;
	return XS_OK;
}

/* ---- one input's world ---- */

struct peer {
	int fd;                                   /* the client's end; -1 unused */
	struct sess_handle h;
	struct tls_sess *tls[XCHAIN_MAX - 1]; /* client layers, [0] on the socket */
	unsigned n_tls;
	bool tls_failed;                          /* writes go raw from now on */
	bool not_reading;                         /* CONTROL 5 */
	/* the oracle: the server's output as a client parses it */
	struct xml_stream *rx;
	bool rx_restart;                          /* <proceed/> or <success/> seen */
	bool rx_tls;                              /* what comes is TLS we cannot read */
	char *challenge;                          /* text of the last <challenge/> */
};

struct world {
	struct mux_group *g;
	struct mux *m;
	struct router *r;
	const struct cfg_listener *lst;
	bool tls_client;
	struct peer p[MAX_CONNS];
};

static struct mux_conn *conn_of(struct world *w, unsigned k)
{
	return w->p[k].fd >= 0 ? conn_by_handle(w->m, w->p[k].h) : NULL;
}

static void answer_store(struct world *w)
{
	/* The fixed nonce goes in before the challenge is built. */
	for (unsigned k = 0; k < MAX_CONNS; k++) {
		struct mux_conn *c = conn_of(w, k);
		if (c && c->role == &c2s_role && c->neg && c2s_neg(c)->scram)
			scram_server_set_nonce_for_test(c2s_neg(c)->scram, SNONCE);
	}
	size_t n = n_pending;
	n_pending = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_req *req = pending[i];
		memset(&req->cred, 0, sizeof(req->cred));
		req->exists = false;
		if (req->op == STORE_OP_USER_CREATE) {
			/* XEP-0077: juliet* exist already, "broken" fails, a
			 * password "badpw" is refused as SASLprep would */
			bool badpw = req->password && strcmp(req->password, "badpw") == 0;
			if (req->password)
				explicit_bzero(req->password, strlen(req->password));
			req->status = strncmp(req->local, "juliet", 6) == 0 ? XS_INVAL
				      : strcmp(req->local, "broken") == 0   ? XS_IO
				      : badpw                               ? XS_PROTO
									    : XS_OK;
			req->exists = req->status == XS_INVAL;
		} else if (strcmp(req->domain, DOMAIN) != 0) {
			req->status = XS_NOTFOUND;
		} else if (strncmp(req->local, "juliet", 6) == 0) {
			req->status = XS_OK;
			req->exists = true;
			req->cred = creds[req->hash == SCRAM_SHA1 ? 0 : 1];
		} else if (strcmp(req->local, "broken") == 0) {
			req->status = XS_IO;
		} else {
			req->status = XS_NOTFOUND;
		}
		req->done(req, req->done_arg);
	}
}

/* ---- the client's side of the socket ---- */

static int rx_stanza(void *arg, struct xml_node *el)
{
	struct peer *p = arg;
	/* the next bytes begin a new document (and, after <proceed/>, TLS) */
	if (!strcmp(el->name, "success") && !strcmp(el->ns, "urn:ietf:params:xml:ns:xmpp-sasl"))
		p->rx_restart = true;
	if (!strcmp(el->name, "proceed") && !strcmp(el->ns, "urn:ietf:params:xml:ns:xmpp-tls"))
		p->rx_restart = p->rx_tls = true;
	if (!strcmp(el->name, "challenge") && !strcmp(el->ns, "urn:ietf:params:xml:ns:xmpp-sasl")) {
		free(p->challenge);
		p->challenge = xml_node_text(el);
	}
	xml_node_free(el);
	return 0;
}

static void sink_parse(struct peer *p, const char *d, size_t n);

/* What the client reads from the server, decrypted where it speaks TLS.
 * Under tests/unit/test_c2s_alloc.c (FUZZ_C2S_OOM_SAFE) the client's own
 * allocations never fail: only the server is judged there. */
static void sink(struct peer *p, const char *d, size_t n)
{
#ifdef FUZZ_C2S_OOM_SAFE
	long held = hold_failures();
	sink_parse(p, d, n);
	release_failures(held);
#else
	sink_parse(p, d, n);
#endif
}

static void sink_parse(struct peer *p, const char *d, size_t n)
{
	if (verbose && n)
		fprintf(stderr, "S: %.*s\n", (int)n, d);
	if (!n || p->rx_tls || p->tls_failed)
		return;
	if (!p->rx) {
		static const struct xml_stream_cb cb = { .stanza = rx_stanza };
		static const struct xml_stream_limits none = { 0 };
		p->rx = xml_stream_new(&none, &cb, p);
		if (!p->rx)
			return;
	} else if (p->rx_restart && xml_stream_reset(p->rx) != XS_OK) {
		return;
	}
	p->rx_restart = false;
	/* A client that was not reading gets <success/> and the next stream
	 * header in one read: the new document begins at that header. */
	static const char next_doc[] = "<?xml version='1.0'?><stream:stream ";
	size_t start = 0, from = 0;
	for (;;) {
		const char *m = memmem(d + from, n - from, next_doc, sizeof(next_doc) - 1);
		size_t cut = m ? (size_t)(m - d) : n;
		enum xml_stream_err e = cut > start ? xml_stream_feed(p->rx, d + start, cut - start)
						    : XML_STREAM_OK;
		if (e != XML_STREAM_OK) {
			fprintf(stderr, "fuzz_c2s: the server wrote %s (%s): %.*s\n",
				e == XML_STREAM_CLOSED ? "after its </stream:stream>" : "bad XML",
				xml_stream_err_text(p->rx), (int)n, d);
			abort();
		}
		start = cut;
		if (!m)
			break;
		if (p->rx_restart) {
			if (xml_stream_reset(p->rx) != XS_OK)
				return;
			p->rx_restart = false;
		}
		from = cut + 1;
	}
}

/* Ciphertext of the client's upper layers goes into the lower ones, and
 * what the bottom layer holds onto the socket. */
static void client_flush(struct peer *p)
{
	for (unsigned lvl = p->n_tls; lvl-- > 1;) {
		size_t len;
		const void *d;
		while ((d = tls_sess_out_peek(p->tls[lvl], &len)) && len) {
			size_t wn = 0;
			if (tls_sess_write(p->tls[lvl - 1], d, len, &wn) != XS_OK || !wn) {
				p->tls_failed = true;
				return;
			}
			tls_sess_out_consume(p->tls[lvl], wn);
		}
	}
	if (!p->n_tls)
		return;
	size_t len;
	const void *d;
	while ((d = tls_sess_out_peek(p->tls[0], &len)) && len) {
		ssize_t wr = send(p->fd, d, len, MSG_NOSIGNAL);
		if (wr <= 0)
			return; /* the server is gone or not reading: dropped */
		tls_sess_out_consume(p->tls[0], (size_t)wr);
	}
}

/* Plaintext out of client layer lvl, into the next one up or the sink. */
static void client_read_layer(struct peer *p, unsigned lvl)
{
	char buf[16384];
	for (;;) {
		size_t nr = 0;
		enum xs st = tls_sess_read(p->tls[lvl], buf, sizeof(buf), &nr);
		if (st == XS_OK && nr) {
			if (lvl + 1 < p->n_tls) {
				if (tls_sess_feed(p->tls[lvl + 1], buf, nr) != XS_OK) {
					p->tls_failed = true;
					return;
				}
				client_read_layer(p, lvl + 1);
			} else {
				sink(p, buf, nr);
			}
			continue;
		}
		if (st == XS_OK)
			continue;
		if (st != XS_AGAIN)
			p->tls_failed = true;
		return;
	}
}

/* Reads what the server wrote. */
static void client_drain(struct peer *p)
{
	char buf[16384];
	if (p->not_reading)
		return;
	for (;;) {
		ssize_t n = recv(p->fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		if (p->n_tls && !p->tls_failed) {
			if (tls_sess_feed(p->tls[0], buf, (size_t)n) != XS_OK)
				p->tls_failed = true;
			else
				client_read_layer(p, 0);
		} else {
			sink(p, buf, (size_t)n);
		}
	}
	if (p->n_tls && !p->tls_failed)
		client_flush(p); /* handshake messages, alerts, KeyUpdate answers */
}

/* The client reads what the server wrote; output the server's socket did
 * not take (EAGAIN, EPOLLOUT armed) goes out as the loop would send it. */
static void client_side(struct world *w, unsigned k)
{
	struct mux_conn *c;
	client_drain(&w->p[k]);
	for (int i = 0; i < 64 && !w->p[k].not_reading && (c = conn_of(w, k)) && c->epollout; i++) {
		conn_on_event(c, EPOLLOUT);
		client_drain(&w->p[k]);
	}
}

/* One readable event for the server, and more while bytes wait (it reads
 * at most 8 x 16 KiB per event); then the client's side. */
static void server_read(struct world *w, unsigned k, uint32_t events)
{
	struct mux_conn *c = conn_of(w, k);
	for (int i = 0; i < 64 && c; i++) {
		conn_on_event(c, events);
		int avail = 0;
		if (!(c = conn_of(w, k)) || ioctl(c->fd, FIONREAD, &avail) != 0 || avail == 0)
			break;
	}
	client_side(w, k);
}

static void client_write(struct world *w, unsigned k, const uint8_t *d, size_t n)
{
	struct peer *p = &w->p[k];
	if (p->n_tls && !p->tls_failed) {
		size_t wn = 0;
		if (n && tls_sess_write(p->tls[p->n_tls - 1], d, n, &wn) != XS_OK)
			p->tls_failed = true;
		client_flush(p);
		server_read(w, k, EPOLLIN);
		return;
	}
	size_t off = 0;
	for (int i = 0; i < 64 && off < n && conn_of(w, k); i++) {
		ssize_t wr = send(p->fd, d + off, n - off, MSG_NOSIGNAL);
		if (wr < 0 && errno != EAGAIN)
			return; /* after our EOF, or the server closed */
		if (wr > 0)
			off += (size_t)wr;
		server_read(w, k, EPOLLIN);
	}
}

/* When the server has begun a TLS layer (direct TLS, or <proceed/>) that
 * the client has not, the client begins it too and runs the handshake. */
static void client_follow_tls(struct world *w, unsigned k)
{
	struct peer *p = &w->p[k];
	struct mux_conn *c = conn_of(w, k);
	/* (not before the client has read <proceed/>) */
	if (!w->tls_client || p->tls_failed || p->not_reading || !c || conn_tls_count(c) <= p->n_tls ||
	    p->n_tls >= XCHAIN_MAX - 1)
		return;
	struct tls_client_opts o = { .server_name = DOMAIN, .verify = false, .alpn = "xmpp-client" };
	if (w->lst->kind == CFG_LISTEN_S2S) {
		o.alpn = "xmpp-server";
		o.cert_file = peer_cert;
		o.key_file = peer_key;
	}
	char err[256];
	struct tls_sess *t = tls_sess_new_client(&o, err, sizeof(err));
	if (!t) {
		p->tls_failed = true;
		return;
	}
	p->tls[p->n_tls++] = t;
	for (int i = 0; i < MAX_ROUNDS && !p->tls_failed && conn_of(w, k); i++) {
		enum xs st = tls_sess_handshake(t);
		client_flush(p);
		if (st == XS_TLS)
			p->tls_failed = true;
		if (st != XS_AGAIN)
			break;
		server_read(w, k, EPOLLIN);
	}
	/* the server's last flight, read by the server's side already */
	client_drain(p);
	if (!p->tls_failed && tls_sess_handshake_done(t))
		p->rx_tls = false; /* plaintext again, one layer up */
}

static bool open_peer(struct world *w, unsigned k)
{
	struct peer *p = &w->p[k];
	int sv[2];
	if (p->fd >= 0)
		return true;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		return false;
	/* Counted as mux_accept_ready counts an accepted socket, under an
	 * address of its own (an AF_UNIX peer has none; the per-address
	 * tables want one, the same one every run), exempt from the
	 * per-address limits so that one run does not pace the next. */
	const char *ip = k ? "192.0.2.2" : "192.0.2.1";
	char key[PEER_KEY_LEN];
	if (!peer_key_text(ip, peer_table_v6_prefix(w->g->peers), key) ||
	    peer_conn_open(w->g->peers, key, 0, true) != PEER_OK) {
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	atomic_fetch_add(&w->g->total_conns, 1);
	conn_adopt(w->m, sv[0], w->lst, ip, 5222);
	struct mux_conn *c = NULL;
	for (size_t i = 0; i < w->m->n_slots; i++)
		if (w->m->slots[i] && w->m->slots[i]->fd == sv[0])
			c = w->m->slots[i];
	if (!c || c->dead) {
		close(sv[1]);
		return false;
	}
	/* A small socket buffer: output the socket does not take (EPOLLOUT,
	 * the output limit) is within the reach of a few stanzas. */
	int sndbuf = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	p->fd = sv[1];
	p->h = conn_handle(c);
	p->rx_tls = w->lst->mode == CFG_MODE_DIRECT_TLS;
	client_follow_tls(w, k);
	return true;
}

/* What one mux loop iteration does after its events, repeated while the
 * storage stub or the router has something for the mux. */
static void settle(struct world *w, bool store, bool delays)
{
	for (int round = 0; round < MAX_ROUNDS; round++) {
		if (delays)
			for (struct mux_conn *c = w->m->dl_head; c; c = c->dl_next)
				c->delay_deadline_ms = 0;
		mux_timers(w->m);
		mux_reap(w->m);
		mux_test_route(w->m);
		bool more = false;
		if (store && n_pending) {
			answer_store(w);
			more = true;
		}
		mux_test_inbox_ready(w->m);
		mux_reap(w->m);
		mux_test_route(w->m);
		for (unsigned k = 0; k < MAX_CONNS; k++)
			if (w->p[k].fd >= 0) {
				client_side(w, k);
				client_follow_tls(w, k);
			}
		if (delays && w->m->dl_head)
			more = true;
		if (!more)
			break;
	}
}

/* <name xmlns=sasl [mechanism=mech]>base64(msg)</name> from the client. */
static void sasl_send(struct world *w, unsigned k, const char *name, const char *mech,
		      const char *msg, size_t len)
{
	size_t cap = base64_encoded_len(len) + 1, n = 0;
	char *b64 = malloc(cap), head[160];
	if (!b64 || base64_encode(msg, len, b64, cap, &n) != XS_OK) {
		free(b64);
		return;
	}
	int hl = snprintf(head, sizeof(head), "<%s xmlns='urn:ietf:params:xml:ns:xmpp-sasl'%s%s%s>",
			  name, mech ? " mechanism='" : "", mech ? mech : "", mech ? "'" : "");
	client_write(w, k, (const uint8_t *)head, (size_t)hl);
	client_write(w, k, (const uint8_t *)b64, n);
	snprintf(head, sizeof(head), "</%s>", name);
	client_write(w, k, (const uint8_t *)head, strlen(head));
	free(b64);
}

static void scram_plus_login(struct world *w, unsigned k, enum scram_hash h)
{
	struct peer *p = &w->p[k];
	uint8_t cb[TLS_EXPORTER_LEN];
	if (!p->n_tls || p->tls_failed || tls_sess_exporter(p->tls[p->n_tls - 1], cb) != XS_OK)
		return;
	struct scram_client *sc = scram_client_new(h, "juliet", "pencil", "fuzzcnonce",
						   "tls-exporter", cb, sizeof(cb), true);
	char *out = NULL, *first = NULL;
	size_t len = 0, first_len = 0;
	if (!sc || scram_client_first(sc, &out, &len) != SCRAM_CONTINUE)
		goto out;
	free(p->challenge);
	p->challenge = NULL;
	sasl_send(w, k, "auth", h == SCRAM_SHA1 ? "SCRAM-SHA-1-PLUS" : "SCRAM-SHA-256-PLUS", out, len);
	settle(w, true, true);
	if (!p->challenge)
		goto out;
	size_t tl = strlen(p->challenge);
	first = malloc(base64_decoded_max(tl) + 1);
	if (!first || base64_decode(p->challenge, tl, first, base64_decoded_max(tl) + 1, &first_len) != XS_OK)
		goto out;
	free(out);
	out = NULL;
	if (scram_client_final(sc, first, first_len, &out, &len) == SCRAM_CONTINUE)
		sasl_send(w, k, "response", NULL, out, len);
out:
	free(first);
	free(out);
	scram_client_free(sc);
}

static void fire_timers(struct world *w, bool preauth, bool idle)
{
	struct mux *m = w->m;
	for (struct mux_conn *c = m->dl_head; c; c = c->dl_next)
		c->delay_deadline_ms = 0;
	if (preauth)
		for (struct mux_conn *c = m->pa_head; c; c = c->neg->pa_next)
			c->neg->preauth_deadline_ms = 0;
	if (idle)
		for (struct mux_conn *c = m->idle_head; c; c = c->idle_next)
			c->last_active_ms = 0;
	mux_timers(m);
}

static void post_to_mux(struct world *w, enum msg_type type)
{
	struct msg *msg = msg_new(type, NULL);
	if (!msg)
		return;
	if (type == MSG_RELOAD_TLS) {
		tls_ctx_set_ref(tls_set);
		msg->ptr = tls_set;
	}
	queue_push(&w->m->inbox, &msg->qnode);
}

static void control(struct world *w, unsigned k, unsigned sub)
{
	struct peer *p = &w->p[k];
	struct mux_conn *c = conn_of(w, k);
	switch (sub) {
	case 0:
		answer_store(w);
		break;
	case 1:
		post_to_mux(w, MSG_SHUTDOWN);
		break;
	case 2:
		post_to_mux(w, MSG_RELOAD_TLS);
		break;
	case 3:
		if (c)
			conn_on_event(c, EPOLLOUT);
		break;
	case 4:
		if (p->n_tls && !p->tls_failed && tls_sess_update_keys(p->tls[p->n_tls - 1]) == XS_OK)
			client_write(w, k, NULL, 0);
		break;
	case 5:
		p->not_reading = !p->not_reading;
		break;
	case 6:
	case 7:
		scram_plus_login(w, k, sub == 6 ? SCRAM_SHA256 : SCRAM_SHA1);
		break;
	default:
		break;
	}
}

static void peer_eof(struct world *w, unsigned k, bool close_notify)
{
	struct peer *p = &w->p[k];
	if (close_notify) {
		if (p->n_tls && !p->tls_failed) {
			tls_layers_close_notify(p->tls, p->n_tls);
			client_flush(p);
			server_read(w, k, EPOLLIN);
		}
		return;
	}
	shutdown(p->fd, SHUT_WR);
	server_read(w, k, EPOLLIN | EPOLLRDHUP);
}

static void world_end(struct world *w)
{
	/* as at MSG_SHUTDOWN: no session detaches for XEP-0198 resumption
	 * now, and those that did end, so nothing outlives the input */
	w->m->shutting_down = true;
	sm_shutdown(w->m);
	for (unsigned k = 0; k < MAX_CONNS; k++) {
		struct mux_conn *c = conn_of(w, k);
		if (c)
			conn_close(c, "end of the fuzz input");
	}
	/* and, as mux_main does when it stops, the server's own: s2s links
	 * and dialback verifications it opened */
	for (size_t i = 0; i < w->m->n_slots; i++)
		if (w->m->slots[i] && !w->m->slots[i]->dead)
			conn_close(w->m->slots[i], "end of the fuzz input");
	mux_reap(w->m);
	mux_test_route(w->m); /* the unbinds */
	/* Lookups still out are answered for connections that are gone, as a
	 * slow store would; the mux must drop those answers cleanly. */
	answer_store(w);
	mux_test_inbox_ready(w->m);
	mux_reap(w->m);
	mux_test_route(w->m);
	for (unsigned k = 0; k < MAX_CONNS; k++) {
		struct peer *p = &w->p[k];
		for (unsigned i = 0; i < p->n_tls; i++)
			tls_sess_free(p->tls[i]);
		if (p->rx)
			xml_stream_free(p->rx);
		free(p->challenge);
		if (p->fd >= 0)
			close(p->fd);
	}
	mux_group_free(w->g);
	router_free(w->r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t conf = data[0];
#ifdef FUZZ_FORCE_S2S
	conf |= 32;
#endif
	data++;
	size--;

	struct world w = { .lst = &listeners[(conf & 3) + (conf & 32 ? 4 : 0)], .tls_client = conf & 4 };
	for (unsigned k = 0; k < MAX_CONNS; k++)
		w.p[k].fd = -1;
	cfg.allow_plain = !(conf & 8);
	cfg.hosts[0].registration_open = conf & 16;
	cfg.s2s_dialback = conf & 64;
	char err[256];
	w.g = mux_group_new(&cfg, tls_set, NULL, err, sizeof(err));
	if (!w.g) {
#ifdef FUZZ_C2S_OOM_SAFE
		return 0; /* out of memory before anything began */
#endif
		abort();
	}
	static const uint8_t salt_key[32] = "fuzz_c2s fake salt key ........";
	mux_group_set_fake_salt_key(w.g, salt_key);
	static const uint8_t db_secret[32] = "fuzz_s2s dialback secret ......";
	mux_group_set_dialback_secret(w.g, db_secret);
	unsigned n_inboxes;
	struct queue *const *inboxes = mux_group_inboxes(w.g, &n_inboxes);
	w.r = router_new(&cfg, inboxes, n_inboxes);
	if (!w.r) {
#ifdef FUZZ_C2S_OOM_SAFE
		mux_group_free(w.g);
		return 0;
#endif
		abort();
	}
	w.m = &w.g->muxes[0];
	w.m->router = w.r;
	/* never dereferenced: the stub above stands in for the store thread */
	w.m->store = (struct store_thread *)&pending;

	if (!open_peer(&w, 0)) {
#ifdef FUZZ_C2S_OOM_SAFE
		world_end(&w);
		return 0;
#endif
		abort();
	}
	settle(&w, true, true);
	size_t off = 0;
	while (off < size) {
		uint8_t op = data[off++];
		unsigned k = op >> 7;
		if (!open_peer(&w, k))
			break;
		bool store = true, delays = true;
		switch (op & 3) {
		case 0: {
			size_t len = 0;
			if (off < size)
				len = data[off++];
			if (off < size)
				len |= (size_t)data[off++] << 8;
			if (len > size - off)
				len = size - off;
			client_write(&w, k, data + off, len);
			off += len;
			store = !(op & 4);
			delays = !(op & 8);
			break;
		}
		case 1:
			fire_timers(&w, op & 4, op & 8);
			break;
		case 2:
			peer_eof(&w, k, op & 4);
			break;
		default:
			control(&w, k, (op >> 2) & 7);
			break;
		}
		settle(&w, store, delays);
	}
	world_end(&w);
	return 0;
}

static void make_creds(void)
{
	/* PBKDF2 once here; the SCRAM server itself derives nothing per login
	 * (PLAIN does: 4096 rounds per attempt, over TLS only). */
	static const uint8_t salt[16] = "fuzz_c2s salt..";
	for (int h = 0; h < 2; h++)
		if (!scram_cred_make_with_salt((enum scram_hash)h, "pencil", salt, sizeof(salt), 4096,
					       &creds[h]))
			abort();
}

static void remove_peer_files(void)
{
	unlink(peer_cert);
	unlink(peer_key);
	rmdir(peer_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_C2S_VERBOSE") != NULL;
	log_set_level(verbose ? LOG_LVL_DEBUG : LOG_LVL_ERROR);

	char dir[] = "/tmp/fuzz_c2s_XXXXXX", err[256];
	if (!mkdtemp(dir))
		abort();
	cfg_defaults(&cfg);
	cfg.threads = 1;
	cfg.n_listeners = 0;
	cfg.max_output_buffer = 64 * 1024;
	/* a stanza for another domain starts an s2s link: its DNS stays on
	 * this machine (nothing answers there; the harness never runs the
	 * resolver's events, so the attempt just waits to be closed) */
	snprintf(cfg.s2s_dns_servers, sizeof(cfg.s2s_dns_servers), "127.0.0.1:1");
	cfg.n_hosts = 1;
	snprintf(cfg.hosts[0].domain, sizeof(cfg.hosts[0].domain), DOMAIN);
	snprintf(cfg.hosts[0].cert_file, sizeof(cfg.hosts[0].cert_file), "%s/c.pem", dir);
	snprintf(cfg.hosts[0].key_file, sizeof(cfg.hosts[0].key_file), "%s/k.pem", dir);
	if (tls_global_init() != XS_OK ||
	    tls_cert_generate(DOMAIN, cfg.hosts[0].cert_file, cfg.hosts[0].key_file, 30, err,
			      sizeof(err)) != XS_OK)
		abort();
	tls_set = tls_ctx_set_new(&cfg, err, sizeof(err));
	if (!tls_set)
		abort();
	/* the peer's self-signed certificate is its own trust anchor */
	if (!mkdtemp(peer_dir))
		abort();
	snprintf(peer_cert, sizeof(peer_cert), "%s/p.pem", peer_dir);
	snprintf(peer_key, sizeof(peer_key), "%s/pk.pem", peer_dir);
	if (tls_cert_generate(PEER_DOMAIN, peer_cert, peer_key, 30, err, sizeof(err)) != XS_OK ||
	    tls_ctx_set_trust(tls_set, peer_cert, NULL, err, sizeof(err)) != XS_OK)
		abort();
	atexit(remove_peer_files);
	unlink(cfg.hosts[0].cert_file);
	unlink(cfg.hosts[0].key_file);
	rmdir(dir);
	make_creds();

	for (unsigned i = 0; i < 8; i++) {
		struct cfg_listener *l = &listeners[i];
		unsigned k = i & 3;
		snprintf(l->name, sizeof(l->name), "fuzz%u", i);
		l->kind = i < 4 ? CFG_LISTEN_C2S : CFG_LISTEN_S2S;
		l->mode = k < 2 ? CFG_MODE_STARTTLS : CFG_MODE_DIRECT_TLS;
		snprintf(l->address, sizeof(l->address), "127.0.0.1");
		l->port = i < 4 ? 5222 : 5269;
		l->require_encryption = k != 0;
		l->allow_starttls_inside_tls = k == 3;
	}
	return 0;
}
