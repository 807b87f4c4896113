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

#define BOSH_SID_LEN 32 /* hex of 16 random bytes */

/* A request that waits: held until there is something to answer it with
 * (or `wait` passes), or ahead of its turn (body kept until the gap
 * fills). */
struct bosh_req {
	struct sess_handle http; /* the HTTP connection it came on */
	uint64_t rid;
	uint64_t deadline_ms;    /* held: when it is answered empty */
	struct xbuf body;        /* ahead: the request's body */
	char origin[128];        /* its Origin, for the CORS header of the answer */
	bool keep_alive;
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
 * answered, or held (conn_http_hold) until the session answers it. */
void bosh_request(struct mux_conn *c, const struct http_req *r);
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
