/* Messages between threads (mux workers, router, storage completions).
 *
 * Every message is a heap object that embeds a queue_node and travels through
 * exactly one inbox (core/base/queue.h); the receiver frees it.  A session is
 * named across threads by a handle (mux thread, connection slot, generation):
 * the router never touches a connection, and a handle whose generation no
 * longer matches the slot is stale and its messages are dropped. */
#ifndef XMPPD_MSG_H
#define XMPPD_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/queue.h"

struct stanza;

struct sess_handle {
	uint32_t thread; /* index of the mux thread */
	uint32_t slot;   /* connection slot on that thread */
	uint32_t gen;    /* slot generation when the handle was made */
};

enum msg_type {
	/* mux -> router */
	MSG_BIND,        /* bind data = full JID asked for; router answers MSG_BIND_RESULT */
	MSG_UNBIND,      /* session ended; data = full JID */
	MSG_STANZA,      /* st from a bound session (from already stamped) */
	MSG_UNDELIVERED, /* a MSG_DELIVER the session could not take (closing or
			  * gone), sent back as is: h, st, status */
	MSG_CSI,         /* XEP-0352: status 1 inactive, 0 active; data = full JID */
	MSG_SM_ENABLE,   /* XEP-0198: data = "<sm id> <full JID>": the session can be resumed */
	MSG_S2S_STANZA,  /* st from an authenticated inbound server link h, its
			  * 'from' in the link's remote domain (data) and 'to'
			  * in ours; status non-zero: answer it with the stanza
			  * error status - 1 (enum stanza_cond) instead */
	MSG_S2S_UP,      /* the outbound link h for data "local remote" is
			  * authenticated: the router sends it what waits;
			  * status S2S_UP_INBOUND: h is an inbound link made
			  * bidirectional (XEP-0288), which the router may
			  * use for the pair instead */
	MSG_S2S_DOWN,    /* the outbound link for data "local remote" (h, or a
			  * handle of no stream when it never got one) ended;
			  * status: 0 after it was up, else the stanza error
			  * (enum stanza_cond + 1) its waiting stanzas bounce with */
	MSG_SM_RESUME,   /* XEP-0198: h = the new stream, data = "<previd> <bare JID>",
			  * count = the client's h; router answers MSG_SM_HANDOVER to
			  * the old session's mux, or MSG_SM_STATE (ptr NULL) to h.
			  * status 1: data = "<previd>", the hand-over to h failed:
			  * the session, if it still points at h, ends */
	/* router -> mux */
	MSG_BIND_RESULT, /* status 0 = bound as data; else a stanza error condition */
	MSG_DELIVER,     /* write st to the session's stream; status 1 when it
			  * is st's only recipient */
	MSG_KICK,        /* close the session with stream error data: the condition
			  * (e.g. "conflict"), optionally a space and a text;
			  * a server link with empty data just closes */
	MSG_S2S_CONNECT, /* to the mux thread that will own it: open an outbound
			  * link for data "local remote" */
	MSG_SM_HANDOVER, /* XEP-0198: the session h resumes on the stream h2 (its
			  * deliveries go there now): send it the session's state */
	/* mux -> mux (and router -> mux on failure) */
	MSG_SM_STATE,    /* XEP-0198: to h, the stream resuming: ptr = the session's
			  * struct sm_state (mux/mux_int.h), data = its full JID;
			  * ptr NULL: the resumption failed */
	/* main -> every thread */
	MSG_SHUTDOWN,
	MSG_RELOAD_TLS,  /* ptr = new struct tls_ctx_set (one reference for the receiver) */
	/* mux -> mux */
	MSG_NEW_CONN,    /* status = accepted fd, ptr = its struct cfg_listener,
			  * data = the peer's address, priority = its port */
	/* storage thread -> requester */
	MSG_STORE_DONE,  /* ptr = the completed request */
	/* the control socket's thread (core/ctl) -> router, mux; and back */
	MSG_CTL,         /* to the router: data = a command line (ctl_cmd.h) for it
			  * (kick, roster); ptr = the queue to answer in, status
			  * = the token to answer with; one MSG_CTL_REPLY comes back */
	MSG_CTL_SESSIONS, /* to each mux: list the bound sessions (data "s2s": the
			   * server links); ptr, status as for MSG_CTL; one
			   * MSG_CTL_REPLY (lines) comes back */
	MSG_CTL_REPLY,   /* data = the answer's text, status = the token */
	/* a gateway thread (GET /metrics) -> every thread and the router; and back */
	MSG_STATS,       /* h = the asking connection: one MSG_STATS_REPLY goes to it */
	MSG_STATS_REPLY, /* h as asked; ptr = a malloc'd struct stats_part (core/route/stats.h) */
	/* between gateway threads (mux/http/bosh_conn.h): a BOSH request for
	 * a session another thread holds, and the answer back to the thread
	 * of its HTTP connection; ptr = a malloc'd struct bosh_fwd / bosh_reply */
	MSG_BOSH_REQ,
	MSG_BOSH_REPLY,
};

/* MSG_S2S_UP's status for an inbound link that XEP-0288 made usable both
 * ways (0: the outbound link the router asked for). */
#define S2S_UP_INBOUND 1

struct msg {
	struct queue_node qnode;
	enum msg_type type;
	struct sess_handle h;
	struct sess_handle h2;  /* MSG_SM_HANDOVER: the new stream */
	uint32_t count;         /* MSG_SM_*: the client's h (XEP-0198) */
	struct stanza *st;  /* one reference owned by the message */
	void *ptr;
	const void *owner;  /* MSG_STORE_DONE to the router: the IM module that asked */
	int status;
	int priority;
	char data[];        /* NUL-terminated text, may be empty */
};

/* Allocates a message with room for text (may be NULL). NULL on ENOMEM. */
struct msg *msg_new(enum msg_type type, const char *text);
/* Frees the message and drops its stanza reference. */
void msg_free(struct msg *m);
/* Pushes MSG_CTL_REPLY (text, token) into q, the queue a MSG_CTL or
 * MSG_CTL_SESSIONS named; false without memory (the control thread then
 * gives up on the request when it times out). */
bool msg_ctl_reply(struct queue *q, int token, const char *text);

#endif
