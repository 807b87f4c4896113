/* BOSH sessions (XEP-0124, XEP-0206) on a gateway thread
 * (docs/internals/gateway.md).
 *
 * A session is a connection record with no socket: its transport is the
 * BOSH filter (xf_bosh.c) at the bottom, where the socket would be, and
 * an XML parser that reads the stanzas of each request as the children of
 * one root (as over WebSocket), under the c2s role: SASL, bind, sessions
 * and sleeping are the ones sockets have.  Requests come on HTTP
 * connections (the http role) and are handed to the session by its sid
 * (bosh_session.c); what the role writes waits in the filter, as a
 * socket's output waits for the kernel, until a request of the session is
 * held to carry it back. */
#ifndef XMPPD_MUX_BOSH_CONN_H
#define XMPPD_MUX_BOSH_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/hmap.h"
#include "core/http/bosh_body.h"
#include "core/http/bosh_window.h"
#include "core/http/http_req.h"
#include "core/http/ws_framing.h"
#include "core/route/msg.h"

struct mux;
struct mux_conn;

/* hex: the session's gateway thread (4 digits), then 14 random bytes */
#define BOSH_SID_LEN 32

/* Where an answer goes: the HTTP connection a request came on, on this
 * gateway thread or another (bosh_reply.c), and what its answer needs of
 * the request once the request is gone. */
struct bosh_to {
	struct sess_handle http;
	char origin[128];        /* its Origin, for the CORS header of the answer */
	bool keep_alive;
};

/* A request that waits: held until there is something to answer it with
 * (or `wait` passes), or ahead of its turn (body kept until the gap
 * fills). */
struct bosh_req {
	struct bosh_to to;
	uint64_t rid;
	uint64_t deadline_ms;    /* held: when it is answered empty */
	struct xbuf body;        /* ahead: the request's body */
};

/* MSG_BOSH_REQ: a request the thread of its HTTP connection (which holds
 * it) hands to the thread of its session, the sid's first four digits. */
struct bosh_fwd {
	struct bosh_to to;
	bool secure;             /* it came over TLS */
	struct bosh_body bb;
	size_t len;
	char body[];
};

/* The filter's context: the whole session's BOSH state. */
struct xf_bosh {
	struct hmap_entry by_sid;     /* the thread's table (key: sid) */
	struct mux_conn *conn;        /* the session's record */
	char sid[BOSH_SID_LEN + 1];
	struct bosh_window win;
	struct ws_framing framer;     /* our output cut into elements */
	struct bosh_req held[BOSH_WINDOW_MAX];
	unsigned n_held;
	struct bosh_req ahead[BOSH_WINDOW_MAX];
	unsigned n_ahead;
	unsigned wait_s, hold;
	uint64_t last_request_ms;     /* or answer: inactivity counts from here */
	struct mux_conn *prev, *next; /* the thread's sessions (timers) */
	bool secure;                  /* created over https: requests must be */
	bool ended;                   /* our </stream:stream> came: terminate */
	bool stream_error;            /* ... after a <stream:error/> */
	char stream_id[40];           /* the id of our last <open/>: authid */
};

/* xf_bosh.c: the filter; what is queued for the client is
 * c->chain.sock_out, so that [limits] max_output_buffer bounds it as a
 * socket's. */
struct xf_bosh *conn_bosh(const struct mux_conn *c);
/* conn_flush of a session: answers a held request with what waits. */
void bosh_flush(struct mux_conn *c);

/* bosh_session.c: a POST to [http] bosh_path on HTTP connection c:
 * answered, or held (conn_http_hold) until the session answers it, here
 * or on the gateway thread that holds the session. */
void bosh_request(struct mux_conn *c, const struct http_req *r);
/* MSG_BOSH_REQ on the session's thread: handled as a request of its own
 * (takes f). */
void bosh_forwarded(struct mux *m, struct bosh_fwd *f);
/* The thread's table of sessions by sid (made at the first); NULL
 * without memory. */
struct hmap *bosh_sids(struct mux *m);
/* The stream's header from a request's attributes (what <open/> is over
 * WebSocket), where the stream waits for one. */
void bosh_open_stream(struct mux_conn *s, const struct bosh_body *bb);
/* The session ends now, with a log line. */
void bosh_end(struct mux_conn *s, const char *why);
#define BOSH_SWEEP_MS 250 /* how often held requests and sessions are looked at */
#define BOSH_MAX_HOLD (BOSH_WINDOW_MAX - 1)

/* bosh_create.c: a request without sid makes a session, answered at once. */
void bosh_create(struct mux_conn *c, const struct bosh_to *to, const struct bosh_body *bb);

/* bosh_reply.c: answers, to a connection here or on another thread
 * (MSG_BOSH_REPLY); each ends the request's hold. */
void bosh_to_of(struct bosh_to *to, const struct mux_conn *http, const struct http_req *r);
/* 200, text/xml, with CORS for an allowed origin. */
void bosh_send(struct mux *m, const struct bosh_to *to, const char *body, size_t len);
void bosh_send_terminate(struct mux *m, const struct bosh_to *to, const char *condition);
/* A refusal in text/plain (400, 403, 503), with a log line; the connection
 * closes after it. */
void bosh_send_refusal(struct mux *m, const struct bosh_to *to, int status, const char *why);
/* Known to be gone (only a connection of this thread can be known). */
bool bosh_to_gone(struct mux *m, const struct bosh_to *to);
/* A connection of this thread waits for its answer (conn_http_hold). */
void bosh_to_hold(struct mux *m, const struct bosh_to *to);
/* MSG_BOSH_REPLY on the HTTP connection's thread: written to it (takes
 * the message's ptr). */
void bosh_reply_arrived(struct mux *m, struct msg *msg);
/* CORS preflight (OPTIONS) for bosh_path. */
void bosh_preflight(struct mux_conn *c, const struct http_req *r);
/* The thread's BOSH timers (held requests at `wait`, sessions at
 * inactivity): run what is due; when next (UINT64_MAX: no session). */
void bosh_timers(struct mux *m);
uint64_t bosh_deadline(const struct mux *m);
/* Answers held request k of session s with what waits, now. */
void bosh_answer(struct mux_conn *s, unsigned k);
/* The session's record goes: its table entry, list links and state. */
void bosh_session_free(struct mux_conn *s);

/* xf_http.c: an HTTP connection whose request is held waits for its
 * answer, off the pre-auth list (the session answers it by `wait`); a
 * client that sends another request on it before the answer (pipelining,
 * which no BOSH client does) is closed.  Resumed after the answer: its
 * keep-alive time starts. */
void conn_http_hold(struct mux_conn *c);
void conn_http_resume(struct mux_conn *c);

#endif
