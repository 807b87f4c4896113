/* The c2s role's state that every c2s stream keeps for its whole life, in
 * the record's union of roles' sessions (struct mux_conn's c2s): small,
 * since every session pays it, asleep or detached.  What only negotiation
 * needs is struct c2s_neg (mux/c2s/c2s.h), freed once bound. */
#ifndef XMPPD_MUX_C2S_SESS_H
#define XMPPD_MUX_C2S_SESS_H

#include <stdint.h>

struct sm_state;

enum c2s_phase {
	C2S_WAIT_HEADER,  /* waiting for <stream:stream> (initial or after restart) */
	C2S_NEGOTIATING,  /* features sent: STARTTLS / SASL */
	C2S_AUTH_PENDING, /* waiting for the store (credentials) or a delayed failure */
	C2S_SASL_STEP,    /* SCRAM challenge sent, waiting for <response/> */
	C2S_AUTHED,       /* authenticated, restarted; bind not yet done */
	C2S_BINDING,      /* bind sent to the router */
	C2S_BOUND,        /* stanzas flow */
	C2S_RESUMING,     /* XEP-0198 <resume/> sent to the router; deliveries held */
};

struct c2s_sess {
	enum c2s_phase phase;
	char *full_jid;              /* after bind */
	int64_t bound_at;            /* wall-clock seconds at bind (xmppctl sessions) */
	struct sm_state *sm;         /* XEP-0198, after <enable/> or <resume/> */
};

#endif
