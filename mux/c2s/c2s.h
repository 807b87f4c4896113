/* The c2s stream role (RFC 6120 and 6121 for clients): SASL, in-band
 * registration, bind and the session, stream management.  The role's ops
 * table is c2s_role (c2s_role.c); the transport calls it only through
 * that (mux/stream_role.h). */
#ifndef XMPPD_MUX_C2S_H
#define XMPPD_MUX_C2S_H

#include "mux/mux_int.h"

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
	uint32_t resume_h;           /* C2S_RESUMING: the h of its <resume/> */
	char *previd;                /* C2S_RESUMING: the id it asked for */
	char *full;                  /* in MSG_SM_STATE: the session's full JID */
	/* written and not acknowledged, oldest first (h_out - acked of
	 * them); in C2S_RESUMING, deliveries held for after the hand-over */
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
 * (c2s_role's init, from conn_adopt), freed once bound (c2s_neg_free): the thousands of bound
 * sessions, awake or asleep, do not carry it (docs/internals/
 * transport-roles.md, step 1). */
struct c2s_neg {
	struct stream_neg base;      /* the pre-auth list: first */
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

	/* stanzas that arrived while bind was in flight */
	unsigned n_held;
	struct xml_node *held_first, *held_last;
};

/* c->neg as the c2s role's negotiation state, or NULL once bound. */
static inline struct c2s_neg *c2s_neg(const struct mux_conn *c)
{
	return (struct c2s_neg *)c->neg;
}

/* c2s_role.c */
/* Negotiation is over (bound, resumed) or the record goes: c->neg and all
 * it holds are freed, c->neg is NULL after.  Not at close: code that
 * closed a stream may still read its negotiation state until mux_reap. */
void c2s_neg_free(struct mux_conn *c);

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
static inline void sm_handled(struct mux_conn *c)
{
	if (c->c2s.sm && c->c2s.phase == C2S_BOUND)
		c->c2s.sm->h_in++;
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
