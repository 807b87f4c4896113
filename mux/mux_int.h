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
#include "core/base/queue.h"
#include "core/auth/scram_cred.h"
#include "mux/peer_table.h"
#include "core/base/xbuf.h"
#include "mux/mux.h"
#include "mux/sm_queue.h"

struct tls_sess;
struct xml_stream;
struct xml_stream_limits;
struct xml_node;
struct scram_server;

#define MUX_MAX_TLS_LAYERS 2 /* direct TLS + STARTTLS inside it */

enum conn_state {
	CONN_WAIT_HEADER,  /* waiting for <stream:stream> (initial or after restart) */
	CONN_NEGOTIATING,  /* features sent: STARTTLS / SASL */
	CONN_AUTH_PENDING, /* waiting for the store (credentials) or a delayed failure */
	CONN_SASL_STEP,    /* SCRAM challenge sent, waiting for <response/> */
	CONN_AUTHED,       /* authenticated, restarted; bind not yet done */
	CONN_BINDING,      /* bind sent to the router */
	CONN_BOUND,        /* stanzas flow */
	CONN_RESUMING,     /* XEP-0198 <resume/> sent to the router; deliveries held */
};

/* XEP-0198 state of a session that sent <enable/> (mux_sm.c); NULL for
 * the others, which pay nothing for it.  It moves, whole, to another
 * connection (possibly on another thread) when the session resumes. */
struct sm_state {
	char id[33];                 /* 128 random bits, hex: the resumption id */
	bool resume;                 /* resumable */
	bool r_pending;              /* <r/> sent, no <a/> since */
	bool parked;                 /* on the mux's detached list */
	uint32_t h_in;               /* stanzas handled from the client */
	uint32_t h_out;              /* stanzas written to the client */
	uint32_t acked;              /* the client's last h */
	uint32_t resume_h;           /* CONN_RESUMING: the h of its <resume/> */
	char *previd;                /* CONN_RESUMING: the id it asked for */
	char *full;                  /* in MSG_SM_STATE: the session's full JID */
	/* written and not acknowledged, oldest first (h_out - acked of
	 * them); in CONN_RESUMING, deliveries held for after the hand-over */
	struct sm_queue unacked;
	uint64_t deadline_ms;        /* detached: when resumption is no longer possible */
	struct mux_conn *dt_prev, *dt_next; /* the mux's detached list */
};

enum sasl_mech {
	MECH_NONE, MECH_PLAIN, MECH_SCRAM_SHA1, MECH_SCRAM_SHA1_PLUS,
	MECH_SCRAM_SHA256, MECH_SCRAM_SHA256_PLUS,
};

/* What a c2s stream needs only until it is bound or has resumed a
 * session: SASL, in-band registration, the pre-auth timer, the bind in
 * flight and the stanzas held behind it.  Allocated with the connection
 * (conn_adopt), freed once bound (conn_neg_free): the thousands of bound
 * sessions, awake or asleep, do not carry it (docs/internals/
 * transport-roles.md, step 1). */
struct c2s_neg {
	char *authcid;               /* localpart, after SASL */
	char *bind_id;               /* id of the bind iq in flight */

	/* SASL */
	enum sasl_mech mech;
	struct scram_server *scram;
	char *plain_password;        /* only while a PLAIN lookup is pending */
	unsigned auth_failures;      /* wrong credentials */
	unsigned auth_attempts;      /* failed attempts of any kind */
	int delayed_cond;            /* the failure a delayed answer gives */
	bool auth_lookup_pending;
	bool reg_pending;            /* an in-band registration is with the store (mux_register.c) */
	bool sm_resume_tried;        /* one <resume/> per stream */
	bool on_preauth;

	/* stanzas that arrived while bind was in flight */
	unsigned n_held;
	struct xml_node *held_first, *held_last;

	/* pre-auth timeout list (FIFO by accept time) */
	struct mux_conn *pa_prev, *pa_next;
	uint64_t preauth_deadline_ms;
};

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

	/* byte path: socket <-> tls[0] <-> tls[1] <-> xml */
	struct tls_sess *tls[MUX_MAX_TLS_LAYERS];
	unsigned n_tls;
	bool tls_logged[MUX_MAX_TLS_LAYERS];
	struct xbuf plain_out;       /* output while no TLS layer exists */
	struct xml_stream *xml;
	bool reset_parser;           /* restart requested from a parser callback */
	bool in_parser;              /* inside xml_stream_feed */
	bool in_input;               /* reading the socket: sends wait for its end */
	bool epollout;
	bool flush_queued;           /* on the mux's flush list (inbox_ready) */
	struct mux_conn *flush_next;

	enum conn_state state;
	bool header_sent;
	bool authenticated;
	bool dead;                   /* closed; freed by mux_reap() */
	bool detached;               /* dead, but a resumable session waits (mux_sm.c) */
	bool peer_released;          /* the peer table has forgotten it (detached) */
	bool closing;                /* final bytes queued; close once flushed (or at
	                              * the delay timer: conn_close_after_flush) */

	const char *domain;          /* the hosted domain of this stream (points into cfg), "" before */
	char *full_jid;              /* after bind */
	int64_t bound_at;            /* wall-clock seconds at bind (xmppctl sessions) */
	struct c2s_neg *neg;         /* until bound or resumed, then NULL (conn_neg_free) */

	/* the delay timer: a delayed SASL failure (slow-down of repeated
	 * failures), or the deadline of a closing stream's last bytes */
	struct mux_conn *dl_next;
	bool on_delay;
	/* Token bucket on input (mux_shaper.c): bytes that may still be read
	 * (negative: owed), refilled at the listener's rate up to its burst. */
	bool throttled;              /* not reading until throttle_until_ms */
	bool peer_gone;              /* EPOLLHUP/EPOLLERR seen: read without the shaper */
	bool peer_eof;               /* FIN read: input no longer watched */
	int32_t tokens;
	uint64_t tokens_ms;          /* when tokens was last refilled */
	uint64_t throttle_until_ms;
	struct mux_conn *th_prev, *th_next; /* the thread's throttled list */
	uint64_t delay_deadline_ms;

	/* idle list (LRU by last traffic) of bound sessions that are awake */
	struct mux_conn *idle_prev, *idle_next;
	bool on_idle;
	bool asleep;                 /* TLS state exported, parser freed */
	uint64_t last_active_ms;

	struct sm_state *sm;         /* XEP-0198, after <enable/> or <resume/> */

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
	unsigned n;
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
	uint8_t fake_salt_key[32];      /* written before the threads start */
	bool has_fake_salt_key;
};

/* epoll tags */
#define MUX_TAG_INBOX 0ULL
#define MUX_TAG_LISTEN 1ULL
#define MUX_TAG_CONN 2ULL
#define MUX_TAG(kind, v) (((uint64_t)(kind) << 56) | (uint64_t)(v))

/* mux_loop.c */
uint64_t mux_now_ms(void);
void mux_post(struct mux *m, unsigned thread, struct msg *msg);
/* Hands msg to the router; routed at the end of this loop iteration. */
void mux_to_router(struct mux *m, struct msg *msg);

/* mux_conn.c */
/* An accepted socket from ip:port, already counted in the peer table. */
void conn_adopt(struct mux *m, int fd, const struct cfg_listener *lst, const char *ip,
		unsigned port);
void conn_on_event(struct mux_conn *c, uint32_t events);
void conn_send(struct mux_conn *c, const char *data, size_t len);
/* Sends what the connections on m's flush list hold (end of an inbox drain). */
void conn_flush_queued(struct mux *m);
void conn_send_str(struct mux_conn *c, const char *s);
/* Closes c.  A bound XEP-0198 session that can be resumed is detached
 * instead: its socket, TLS and parser go, the record and its queue stay
 * (mux_sm.c). */
void conn_close(struct mux_conn *c, const char *why);
/* A detached connection loses what only a socket needs (mux_reap). */
void conn_strip(struct mux_conn *c);
void conn_close_after_flush(struct mux_conn *c, const char *why);
bool conn_push_tls_server(struct mux_conn *c, const char *alpn);
struct mux_conn *conn_by_handle(struct mux *m, struct sess_handle h);
struct sess_handle conn_handle(const struct mux_conn *c);
void conn_preauth_remove(struct mux_conn *c);
/* Negotiation is over (bound, resumed) or the record goes: c->neg and all
 * it holds are freed, c->neg is NULL after.  Not at close: code that
 * closed a stream may still read its negotiation state until mux_reap. */
void conn_neg_free(struct mux_conn *c);
/* The parser limits for c: the small pre-authentication ones until it has
 * authenticated ([limits] preauth_*), then the full ones. */
void conn_stream_limits(const struct mux_conn *c, struct xml_stream_limits *lim);
void conn_request_restart(struct mux_conn *c);
void conn_touch(struct mux_conn *c);
void conn_idle_remove(struct mux_conn *c);
void conn_delay_insert(struct mux_conn *c, uint64_t deadline_ms);
void mux_reap(struct mux *m);
void mux_timers(struct mux *m);
int mux_next_timeout_ms(struct mux *m);
bool conn_is_encrypted(const struct mux_conn *c);

/* mux_stream.c */
int stream_on_open(void *arg, struct xml_node *header);
int stream_on_stanza(void *arg, struct xml_node *st);
int stream_on_close(void *arg);
void stream_error(struct mux_conn *c, const char *cond, const char *text);
void stream_send_features(struct mux_conn *c);

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

/* mux_sasl.c */
int sasl_on_element(struct mux_conn *c, struct xml_node *el);
enum xs sasl_mechanisms_xml(struct mux_conn *c, struct xbuf *out); /* XS_NOMEM: out is partial */
void sasl_on_store_done(struct mux *m, struct msg *msg);
void sasl_delay_fire(struct mux_conn *c);
void sasl_conn_cleanup(struct mux_conn *c);
/* sasl_conn_cleanup() and the authcid too: nothing of an exchange is left. */
void sasl_reset(struct mux_conn *c);

/* mux_register.c: XEP-0077 before authentication */
/* Whether this stream offers registration: its host has registration =
 * open and the stream is encrypted (the password travels in the iq). */
bool register_offered(const struct mux_conn *c);
/* Whether el (a stanza before authentication) is a registration iq that
 * register_on_iq takes: only when register_offered; anything else gets
 * what it got before registration existed. */
bool register_wants(const struct mux_conn *c, const struct xml_node *el);
void register_on_iq(struct mux_conn *c, struct xml_node *el);
/* A MSG_STORE_DONE: true when it answers a registration (then handled). */
bool register_on_store_done(struct mux *m, struct msg *msg);

/* mux_ctl.c */
/* MSG_CTL_SESSIONS: one line per bound session of this thread, answered
 * to the control thread. */
void mux_ctl_sessions(struct mux *m, struct msg *msg);

/* mux_session.c */
int session_on_element(struct mux_conn *c, struct xml_node *el);
void session_on_bind_result(struct mux_conn *c, struct msg *msg);
/* Writes a routed stanza to the session; false when it cannot take it
 * (not bound, closing, dead): the caller hands it back to the router. */
bool session_on_deliver(struct mux_conn *c, struct msg *msg);
/* Writes the bytes of a routed stanza; a presence without 'to' (the shared
 * bytes of a broadcast, a probe's answer, the server's unavailable for a
 * lost session) goes out addressed to this session's full JID. */
void session_write_stanza(struct mux_conn *c, const struct stanza *st);
void session_conn_cleanup(struct mux_conn *c);
/* The stanzas held behind a bind or <resume/>, and the bind id: dropped. */
void session_held_drop(struct mux_conn *c);
/* Stanzas pipelined behind a bind or <resume/>, processed once answered. */
void session_replay_held(struct mux_conn *c);

/* mux_sm.c: XEP-0198 stream management */
/* <enable/>, <r/>, <a/>, <resume/>; takes ownership of el. */
int sm_on_element(struct mux_conn *c, struct xml_node *el);
/* Writes st to the session, counting and keeping it when SM is enabled
 * (and only keeping it while detached).  False when the session cannot
 * take it (SM queue over [im] sm_max_unacked: the session ends). */
bool sm_write(struct mux_conn *c, struct stanza *st, bool sole);
/* A stanza from the client was handled. */
/* The peer's address as the peer table knows it, NUL-terminated in buf. */
static inline const char *conn_peer_ip(const struct mux_conn *c, char buf[INET6_ADDRSTRLEN])
{
	memcpy(buf, c->peer + c->peer_ip_off, c->peer_ip_len);
	buf[c->peer_ip_len] = '\0';
	return buf;
}

static inline void sm_handled(struct mux_conn *c)
{
	if (c->sm && c->state == CONN_BOUND)
		c->sm->h_in++;
}
/* conn_close: true when c is to be detached rather than ended. */
bool sm_may_detach(struct mux_conn *c);
/* mux_reap: a detached connection, stripped, waits for resumption. */
void sm_park(struct mux_conn *c);
/* Ends a detached session (expired, replaced, shut down). */
void sm_end_detached(struct mux_conn *c, const char *why);
/* session_conn_cleanup: unacknowledged stanzas go back to the router
 * (MSG_UNDELIVERED) before the session's MSG_UNBIND; the state is freed. */
void sm_conn_cleanup(struct mux_conn *c);
void sm_state_free(struct sm_state *sm);
/* Before an idle session sleeps: true if it asked for an ack instead. */
bool sm_idle_request(struct mux_conn *c);
void sm_on_handover(struct mux *m, struct msg *msg);
void sm_on_state(struct mux *m, struct msg *msg);
void sm_timers(struct mux *m);
uint64_t sm_deadline(const struct mux *m);
/* MSG_SHUTDOWN: every detached session ends now. */
void sm_shutdown(struct mux *m);

#endif
