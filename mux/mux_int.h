/* Internal types of the mux threads, shared by the mux sources only.
 *
 * Ownership: a struct mux and every struct mux_conn on it belong to that
 * mux's thread.  A connection is never freed while one of its handlers is on
 * the stack: conn_close() marks it dead and queues it, and mux_reap() frees
 * the dead after each event batch (as redis and libuv do). */
#ifndef XMPPD_MUX_INT_H
#define XMPPD_MUX_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/conf/cfg.h"
#include "core/base/hmap.h"
#include "core/route/msg.h"
#include "core/route/stats.h"
#include "core/base/queue.h"
#include "core/auth/scram_cred.h"
#include "mux/peer_table.h"
#include "core/base/xbuf.h"
#include "mux/mux.h"
#include "mux/sm_queue.h"
#include "mux/stream_role.h"
#include "mux/xfilter.h"
#include "mux/c2s/c2s_sess.h"
#include "s2s/s2s_sess.h"

struct tls_sess;
struct xml_stream;
struct xml_stream_limits;
struct xml_node;
struct scram_server;

struct mux_conn {
	struct mux *mux;
	uint32_t slot, gen;
	uint64_t id;                 /* for log lines: c<thread>.<n> */
	int fd;
	const struct cfg_listener *lst;
	char peer[INET6_ADDRSTRLEN + 8]; /* "ip:port" or "[ip6]:port", for log lines */
	/* the address accept() gave, which the peer table counts under, is
	 * peer[peer_ip_off .. +peer_ip_len) (conn_peer_ip), not a copy of its
	 * own: 46 bytes every session kept for a few lookups */
	unsigned char peer_ip_off, peer_ip_len;

	/* byte path: the filter chain (socket, TLS layers, the parser) */
	struct xchain chain;
	bool reset_parser;           /* restart requested from a parser callback */
	bool in_parser;              /* inside xml_stream_feed */
	bool in_input;               /* reading the socket: sends wait for its end */
	bool epollout;
	bool flush_queued;           /* on the mux's flush list (inbox_ready) */
	/* of the idle list below, here where they fill a hole */
	bool on_idle;
	bool asleep;                 /* TLS state exported, parser freed */
	struct mux_conn *flush_next;
	/* server links: stanzas waiting to share a write (mux_batch.c), NULL
	 * for every other stream */
	struct conn_batch *batch;

	/* fixed for the connection's life, but for the one switch from http
	 * to c2s of a WebSocket upgrade (conn_switch_role) */
	const struct stream_role_ops *role;
	bool header_sent;
	bool established;            /* negotiation done: stanzas flow (c2s: bound) */
	bool authenticated;
	bool dead;                   /* closed; freed by mux_reap() */
	bool detached;               /* dead, but a resumable session waits (mux_sm.c) */
	bool peer_released;          /* the peer table has forgotten it (detached) */
	bool closing;                /* final bytes queued; close once flushed (or at
	                              * the delay timer: conn_close_after_flush) */
	bool connecting;             /* outbound: connect() in progress (conn_connect) */

	const char *domain;          /* the hosted domain of this stream (points into cfg), "" before */
	/* the role's negotiation state (struct stream_neg first) until the
	 * stream is established, then NULL */
	struct stream_neg *neg;
	/* what the role keeps for the stream's whole life */
	union {
		struct c2s_sess c2s;
		struct s2s_in_sess s2s_in;
		struct s2s_out_sess s2s_out;
	};

	/* the delay timer: a delayed SASL failure (slow-down of repeated
	 * failures), or the deadline of a closing stream's last bytes */
	struct mux_conn *dl_next;
	bool on_delay;
	/* Token bucket on input (mux_shaper.c): bytes that may still be read
	 * (negative: owed), refilled at the listener's rate up to its burst. */
	bool throttled;              /* not reading until throttle_until_ms */
	bool peer_gone;              /* EPOLLHUP/EPOLLERR seen: read without the shaper */
	bool peer_eof;               /* FIN read: input no longer watched */
	bool write_shut;             /* closing WebSocket: our FIN sent, the
	                              * peer's close frame and FIN awaited */
	/* (here, where bools fill the hole before tokens) the stream is
	 * framed per RFC 7395 over WebSocket (mux/http/xf_ws.c): no
	 * STARTTLS, <open/> and <close/> for the stream's ends */
	bool websocket;
	/* a BOSH session (mux/http/bosh_session.c): no socket, its filter 0
	 * is XF_BOSH, its input comes from HTTP requests */
	bool bosh;
	int32_t tokens;
	uint64_t tokens_ms;          /* when tokens was last refilled */
	uint64_t throttle_until_ms;
	struct mux_conn *th_prev, *th_next; /* the thread's throttled list */
	uint64_t delay_deadline_ms;

	/* idle list (LRU by last traffic) of bound sessions that are awake */
	struct mux_conn *idle_prev, *idle_next; /* on_idle, asleep: above */
	uint64_t last_active_ms;

	struct mux_conn *dead_next;
};

/* The peer table (mux/peer_table.h) remembers this many addresses that
 * have no connection but recent authentication failures, each for this
 * long. */
#define PEER_IDLE_RECORDS 100000
#define PEER_FAIL_MEMORY_MS (15ULL * 60 * 1000)

struct mux {
	unsigned idx;
	struct mux_group *group;
	const struct cfg *cfg;
	struct tls_ctx_set *tls;
	struct store_thread *store;
	struct router *router;
	struct queue inbox;
	int epfd;
	pthread_t thread;
	bool running;
	bool shutting_down;
	/* a gateway thread (docs/internals/gateway.md): it owns the http and
	 * https listeners and their connections, and nothing else; a mux
	 * thread never owns one of those */
	bool gateway;
	bool to_route;                  /* pushed to the router, not yet drained */
	/* Draining the inbox: what deliveries queue for a connection goes out
	 * in one send at the end of the drain (conn_flush_queued), not one
	 * per stanza. */
	bool draining;
	struct mux_conn *flush_head;

	struct mux_conn **slots;
	uint32_t *gens;
	size_t n_slots;
	uint32_t *free_slots;
	size_t n_free;
	size_t n_conns;
	uint64_t conn_counter;

	struct mux_conn *pa_head, *pa_tail;
	struct mux_conn *idle_head, *idle_tail; /* oldest traffic first */
	uint64_t n_slept, n_woken;
	/* counted for GET /metrics (mux_stats.c): TLS handshakes completed
	 * ([0] 1.2, [1] 1.3), SASL failures, limits hit (core/route/stats.h) */
	uint64_t n_tls[2];
	uint64_t n_auth_failed;
	uint64_t n_limits[STATS_LIMITS];
	struct mux_conn *dl_head;       /* sorted by delay_deadline_ms */
	struct mux_conn *dead_head;
	/* XEP-0198 sessions whose socket is gone, oldest first (mux_sm.c) */
	struct mux_conn *dt_head, *dt_tail;
	/* Idle expat parsers the thread's streams lend to each other
	 * between stanzas (core/xml/xml_stream.h). */
	struct xml_parser_pool *xml_pool;
	/* One delivery rewritten at a time (session_write_stanza: a presence
	 * with its recipient's 'to'), kept between them while small. */
	struct xbuf scratch;
	/* While the inbox is drained, what is written to one connection in a
	 * row (from the second write on) waits here as plaintext, and goes
	 * through its TLS layers in one write when another connection is
	 * written to, at 16 KiB (a record's worth) or when the drain's output
	 * is flushed (conn_uncork): a burst
	 * of deliveries to one stream (a server link, a MAM page, a roster's
	 * presences) is one TLS record instead of one per stanza. */
	struct xbuf cork;
	struct mux_conn *cork_conn;
	struct mux_conn *sent_last;     /* written to last in this drain (only compared) */
	/* server links with a batch waiting for its time (mux_batch.c) */
	struct mux_conn *batch_head;

	/* s2s: this thread's DNS resolver (s2s/resolver.h), made at the first
	 * outbound link; its sockets are in epfd under MUX_TAG_RESOLVER */
	struct s2s_resolver *resolver;
	/* s2s streams on this thread (either role), and when the next look
	 * for idle ones is due (s2s/s2s_idle.c) */
	unsigned n_s2s;
	uint64_t s2s_sweep_ms;

	/* BOSH sessions on this gateway thread (mux/http/bosh_session.c): by
	 * sid, and in a list its timers walk every BOSH_SWEEP_MS */
	struct hmap bosh_sids;
	bool bosh_sids_ready;
	struct mux_conn *bosh_head;
	uint64_t bosh_sweep_ms;

	/* connections not reading for now, soonest resume first (mux_shaper.c) */
	struct mux_conn *th_head, *th_tail;

	/* Out of descriptors (mux_accept.c): the listeners are out of this
	 * thread's epoll set until resume_ms. */
	bool listen_paused;
	uint64_t listen_resume_ms;
	unsigned listen_backoff_ms;
	unsigned fd_refused;            /* failed accepts since the last log line */
	uint64_t fd_log_ms;             /* when that line was written */
	unsigned limit_refused;         /* the same for connections over a limit */
	uint64_t limit_log_ms;
	unsigned reg_refused;           /* registrations over the per-address rate since the last log line */
	uint64_t reg_log_ms;
	unsigned backlog_pauses;        /* sessions paused for the router since the last log line */
	uint64_t backlog_log_ms;
};

struct mux_group {
	const struct cfg *cfg;
	unsigned n;                     /* threads: the mux threads, then the gateway ones */
	unsigned n_mux;                 /* mux threads: muxes[0 .. n_mux) */
	struct mux *muxes;
	struct queue **inboxes;
	int listen_fds[CFG_MAX_LISTENERS];
	const struct cfg_listener *listen_cfg[CFG_MAX_LISTENERS];
	unsigned n_listen;
	atomic_uint rr;                 /* round-robin target for accepted sockets */
	atomic_uint total_conns;
	atomic_uint n_detached;         /* XEP-0198 sessions waiting for resumption */
	/* connections and failures per peer address, shared by the threads
	 * under its own lock (mux/peer_table.h) */
	struct peer_table *peers;
	/* What outbound s2s streams have for a listener ([0] STARTTLS, [1]
	 * direct TLS): [s2s] require_encryption, no input shaping (the peer
	 * is a server we chose, authenticated by its certificate). */
	struct cfg_listener s2s_out_lst[2];
	uint8_t fake_salt_key[32];      /* written before the threads start */
	bool has_fake_salt_key;
	uint8_t dialback_secret[32];    /* [s2s] dialback: written before the threads start */
	bool has_dialback_secret;
};

/* epoll tags */
#define MUX_TAG_INBOX 0ULL
#define MUX_TAG_LISTEN 1ULL
#define MUX_TAG_CONN 2ULL
#define MUX_TAG_RESOLVER 3ULL
#define MUX_TAG(kind, v) (((uint64_t)(kind) << 56) | (uint64_t)(v))

/* mux_loop.c */
uint64_t mux_now_ms(void);     /* CLOCK_MONOTONIC */
uint64_t mux_now_us(void);
void mux_post(struct mux *m, unsigned thread, struct msg *msg);
/* Hands msg to the router; routed at the end of this loop iteration. */
void mux_to_router(struct mux *m, struct msg *msg);

/* mux_batch.c: send batching on server links ([s2s] send_batch_us) */
/* From now on, what is sent on c within delay_us of its last write waits
 * for that much time to pass (then for the end of the thread's turn, or
 * as long again at most) and goes out with what follows.  0: no batching.
 * False without memory (c is then written at once). */
bool conn_batch_enable(struct mux_conn *c, unsigned delay_us);
/* conn_send's: true if data waits in c's batch, false if it goes now. */
bool conn_batch_take(struct mux_conn *c, const char *data, size_t len);
/* Writes what waits in c's batch now (before its last words, say). */
void conn_batch_flush(struct mux_conn *c);
bool conn_batch_pending(const struct mux_conn *c);
/* Gives back an empty batch's buffer (a link going to sleep). */
void conn_batch_trim(struct mux_conn *c);
/* A closed link: what waited is lost with its socket. */
void conn_batch_drop(struct mux_conn *c);
void conn_batch_free(struct mux_conn *c);
/* At the end of a loop turn: writes the batches whose time has come.
 * When the thread must wake up for those left (UINT64_MAX: none), for
 * the loop's wait. */
void mux_batch_due(struct mux *m);
uint64_t mux_batch_deadline_us(const struct mux *m);

/* mux_conn.c */
/* An accepted socket from ip:port, already counted in the peer table. */
void conn_adopt(struct mux *m, int fd, const struct cfg_listener *lst, const char *ip,
		unsigned port);
void conn_on_event(struct mux_conn *c, uint32_t events);
/* c speaks role from now on (the http role's WebSocket upgrade: c2s): the
 * old role's state is freed, the new one's made, and its pre-auth time
 * starts.  false: out of memory, c is closed. */
bool conn_switch_role(struct mux_conn *c, const struct stream_role_ops *role);
void conn_send(struct mux_conn *c, const char *data, size_t len);
/* Through c's filters now: no cork, no batch (their own flushes). */
void conn_send_through(struct mux_conn *c, const char *data, size_t len);
/* Sends what the socket filter and the bottom TLS filter hold, as far as
 * the kernel takes it (EPOLLOUT armed for the rest). */
void conn_flush(struct mux_conn *c);
/* Sends what the connections on m's flush list hold (end of an inbox
 * drain), after what waited in the cork. */
void conn_flush_queued(struct mux *m);
/* Writes what waits in m's cork through its connection's chain. */
void conn_uncork(struct mux *m);
void conn_send_str(struct mux_conn *c, const char *s);
/* Closes c.  A bound XEP-0198 session that can be resumed is detached
 * instead: its socket, TLS and parser go, the record and its queue stay
 * (mux_sm.c). */
void conn_close(struct mux_conn *c, const char *why);
/* A detached connection loses what only a socket needs (mux_reap). */
void conn_strip(struct mux_conn *c);
void conn_close_after_flush(struct mux_conn *c, const char *why);
bool conn_push_tls_server(struct mux_conn *c, const char *alpn);
struct tls_client_opts;
/* A client TLS layer under the parser, its ClientHello sent; false (err
 * says why) when it cannot be made. */
bool conn_push_tls_client(struct mux_conn *c, const struct tls_client_opts *o, char *err,
			  size_t errlen);
/* A record for a stream we open (s2s-out): no socket yet, nothing in the
 * peer table; lst stands for the listener (mode, require_encryption,
 * shaper).  NULL without memory. */
struct mux_conn *conn_new_outbound(struct mux *m, const struct stream_role_ops *role,
				   const struct cfg_listener *lst, const char *name);
/* A BOSH session's record (mux/http/bosh_session.c): the c2s role over the
 * BOSH filter (its context ctx, the caller's, which it owns from now on)
 * and a framed XML parser, for a client on http's address and listener,
 * on the pre-auth list.  NULL without memory (ctx is then the caller's). */
struct mux_conn *conn_new_bosh(struct mux *m, const struct mux_conn *http, void *ctx);
/* A non-blocking connect to sa on a new socket, in place of c's current
 * one (closed); role->on_connected says how it went.  XS_IO (errno set)
 * when it fails at once. */
enum xs conn_connect(struct mux_conn *c, const struct sockaddr_storage *sa);
struct mux_conn *conn_by_handle(struct mux *m, struct sess_handle h);
struct sess_handle conn_handle(const struct mux_conn *c);
void conn_preauth_remove(struct mux_conn *c);
/* A fresh pre-auth time from now (an HTTP connection between requests). */
void conn_preauth_restart(struct mux_conn *c);
/* The parser limits for c: the small pre-authentication ones until it has
 * authenticated ([limits] preauth_*), then the full ones. */
void conn_stream_limits(const struct mux_conn *c, struct xml_stream_limits *lim);
void conn_request_restart(struct mux_conn *c);
void conn_touch(struct mux_conn *c);
void conn_idle_remove(struct mux_conn *c);
void conn_delay_insert(struct mux_conn *c, uint64_t deadline_ms);
void conn_delay_remove(struct mux_conn *c);
void mux_reap(struct mux *m);
void mux_timers(struct mux *m);
int mux_next_timeout_ms(struct mux *m);
bool conn_is_encrypted(const struct mux_conn *c);

/* mux_stream.c */
int stream_on_open(void *arg, struct xml_node *header);
int stream_on_stanza(void *arg, struct xml_node *st);
int stream_on_close(void *arg);
void stream_error(struct mux_conn *c, const char *cond, const char *text);
/* <stream:features> with what the role offers in it. */
void stream_send_features(struct mux_conn *c);
/* Our stream header (default namespace: the role's); false: out of
 * memory, the connection is closed. */
bool stream_send_header(struct mux_conn *c, const char *from, const char *to);
/* The same, with the header's id copied to id_out (dialback keys use it). */
#define STREAM_ID_LEN 32
bool stream_send_header_id(struct mux_conn *c, const char *from, const char *to,
			   char id_out[STREAM_ID_LEN + 1]);
/* The hosted domain a stream header's 'to' names, into c->domain: false
 * after the stream error (host-unknown) when there is none, or when it is
 * not the one of the stream before a restart. */
bool stream_pick_domain(struct mux_conn *c, const char *to);
/* Whether STARTTLS is offered now: on a plaintext STARTTLS listener, and
 * inside direct TLS only where the listener allows TLS inside TLS; never
 * after authentication. */
bool stream_starttls_available(const struct mux_conn *c);
/* Whether the listener requires TLS and the stream has none yet. */
bool stream_encryption_missing(const struct mux_conn *c);
/* <starttls/> from the peer: <proceed/> and a new TLS layer when
 * `allowed` (the role's state permits it and stream_starttls_available),
 * else <failure/> and the stream ends.  Returns 1 (the parser stops: what
 * follows in the same input is dropped). */
int stream_starttls(struct mux_conn *c, bool allowed);
struct stanza;
/* Writes st; a presence without 'to' (a broadcast's shared bytes) gets
 * to written into its start tag. */
void stream_send_addressed(struct mux_conn *c, const struct stanza *st, const char *to);

/* mux_shaper.c: the input token bucket of a connection */
void shaper_init(struct mux_conn *c);
/* Before a read: true if c may read now; false after putting it on the
 * throttled list (its socket's input is no longer watched). */
bool shaper_may_read(struct mux_conn *c);
/* After a read of n bytes. */
void shaper_took(struct mux_conn *c, size_t n);
/* c is not read for ms milliseconds (the router's backpressure). */
void shaper_pause(struct mux_conn *c, unsigned ms);
/* Resumes the connections whose time has come; they read at once. */
void shaper_resume_due(struct mux *m);
uint64_t shaper_deadline(const struct mux *m);
/* Takes c off the throttled list (it is closed). */
void shaper_forget(struct mux_conn *c);
/* The same, and its input is watched again. */
void shaper_release(struct mux_conn *c);
/* Sets c's epoll events to what it wants now: input unless throttled or
 * the peer sent FIN, output if asked for. */
void conn_watch(struct mux_conn *c);
void conn_readable(struct mux_conn *c);

/* mux_accept.c */
/* What every connection's socket gets, accepted or made by conn_connect:
 * TCP_NODELAY, and the dead-peer detection of [limits] tcp_keepalive and
 * tcp_user_timeout. */
void mux_socket_options(int fd, const struct cfg *cfg);
void mux_accept_ready(struct mux *m, unsigned k);
/* Puts paused listeners back when their time has come. */
void mux_accept_resume(struct mux *m);
/* When mux_accept_resume() has work, or UINT64_MAX. */
uint64_t mux_accept_deadline(const struct mux *m);
/* The connection from ip is gone (preauth: before authenticating): the
 * peer table forgets it. */
void mux_peer_gone(struct mux *m, const char *ip, bool preauth);
/* Whether an address as inet_ntop() wrote it is in [limits] exempt_networks. */
bool mux_peer_exempt(const struct mux *m, const char *ip);
/* The peer table's key of an address as inet_ntop() wrote it (IPv4, or the
 * IPv6 prefix); false if it cannot be parsed. */
bool mux_peer_key(const struct mux *m, const char *ip, char key[PEER_KEY_LEN]);

/* mux_ctl.c */
/* MSG_CTL_SESSIONS: one line per bound session of this thread, answered
 * to the control thread. */
void mux_ctl_sessions(struct mux *m, struct msg *msg);
/* mux_stats.c: MSG_STATS, this thread's part of GET /metrics */
void mux_stats(struct mux *m, struct msg *msg);

/* The peer's address as the peer table knows it, NUL-terminated in buf. */
static inline const char *conn_peer_ip(const struct mux_conn *c, char buf[INET6_ADDRSTRLEN])
{
	memcpy(buf, c->peer + c->peer_ip_off, c->peer_ip_len);
	buf[c->peer_ip_len] = '\0';
	return buf;
}

#endif
