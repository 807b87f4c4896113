/* What an s2s stream keeps in its mux record for its whole life (the
 * record's role union, mux/mux_int.h).  Kept small: a link that sleeps
 * holds this and little else. */
#ifndef XMPPD_S2S_SESS_H
#define XMPPD_S2S_SESS_H

#include <stdint.h>

enum s2s_in_phase {
	S2S_IN_WAIT_HEADER, /* before the peer's stream header (and after each restart) */
	S2S_IN_NEGOTIATING, /* header answered, features sent: STARTTLS, SASL EXTERNAL */
	S2S_IN_ESTABLISHED, /* authenticated: stanzas flow */
};

/* Further domain pairs an inbound link carries, each authenticated by
 * dialback on the established stream (XEP-0220 2.5, multiplexing):
 * allocated at the first such request, at most [s2s] max_link_pairs - 1
 * of them. */
struct s2s_pair {
	char *local;           /* ours */
	char *remote;          /* the peer's */
	bool offered;          /* to the router (bidi: MSG_S2S_UP) */
};
struct s2s_in_pairs {
	bool pending;          /* pair[n] is being verified */
	unsigned refused;      /* requests refused (a bad or invalid key): at
				* [sasl] max_auth_attempts the stream ends */
	unsigned n, cap;       /* authenticated: pair[0 .. n) */
	struct s2s_pair pair[];
};

struct s2s_in_sess {
	enum s2s_in_phase phase;
	bool dialback;         /* authenticated by dialback, not SASL EXTERNAL */
	bool bidi;             /* XEP-0288: the peer asked for it; once established
				* we may send on this stream too */
	bool offered;          /* so the router was told (MSG_S2S_UP), and will
				* hear the end (MSG_S2S_DOWN) */
	int64_t up_at;         /* wall-clock seconds when established (xmppctl s2s) */
	char sid[33];          /* our current header's id: dialback keys' input */
	/* The peer's domain as its first header named it (normalised); once
	 * authenticated, the one remote domain this link speaks for, paired
	 * with the record's c->domain.  NULL before the first header. */
	char *remote;
	struct s2s_in_pairs *more; /* NULL unless the peer multiplexes */
};

enum s2s_out_phase {
	S2S_OUT_RESOLVING,     /* looking up the domain's servers, or a target's addresses */
	S2S_OUT_CONNECTING,    /* connect() to one address in progress */
	S2S_OUT_TLS,           /* TLS handshake (direct TLS, or after <proceed/>) */
	S2S_OUT_WAIT_HEADER,   /* our header sent, the peer's not yet read */
	S2S_OUT_WAIT_FEATURES, /* the peer's header read */
	S2S_OUT_WAIT_PROCEED,  /* <starttls/> sent */
	S2S_OUT_WAIT_SUCCESS,  /* <auth mechanism='EXTERNAL'/> sent */
	S2S_OUT_WAIT_DB_RESULT, /* <db:result/> sent (XEP-0220) */
	S2S_OUT_WAIT_DB_VERIFY, /* a verification stream: <db:verify/> sent */
	S2S_OUT_ESTABLISHED,   /* authenticated: the router sends stanzas */
};

struct s2s_out_sess {
	enum s2s_out_phase phase;
	int64_t up_at;         /* wall-clock seconds when established (xmppctl s2s) */
	bool reported;         /* MSG_S2S_UP or _DOWN told the router how it ended */
	bool dialback;         /* authenticated by dialback, not SASL EXTERNAL */
	bool bidi;             /* XEP-0288: we asked for it; the peer's stanzas come
				* on this stream too */
	char *remote;          /* the domain this link goes to; c->domain is ours */
};

#endif
