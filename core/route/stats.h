/* A thread's snapshot for GET /metrics (docs/internals/gateway.md,
 * "Metrics"): the gateway thread that answers the request sends MSG_STATS
 * to every thread and to the router; each fills one of these with what it
 * owns and sends it back (MSG_STATS_REPLY, ptr).  So the counters stay
 * plain fields of their owners, with no atomics on the hot paths. */
#ifndef XMPPD_ROUTE_STATS_H
#define XMPPD_ROUTE_STATS_H

#include <stdint.h>

/* websocket: a client stream over WebSocket (a c2s stream whose HTTP
 * connection was upgraded); http: an HTTP connection not upgraded */
enum stats_kind {
	STATS_C2S,
	STATS_S2S_IN,
	STATS_S2S_OUT,
	STATS_HTTP,
	STATS_WEBSOCKET,
	STATS_KINDS
};

struct stats_part {
	int thread;                      /* the thread's index; -1: the router */
	/* a mux or gateway thread's */
	uint64_t conns[STATS_KINDS][2];  /* connections: [kind][0 awake, 1 asleep] */
	uint64_t slept_total, woken_total;
	/* both */
	uint64_t inbox_depth;            /* messages waiting in its inbox */
	/* the router's */
	uint64_t sessions;               /* bound resources */
	uint64_t s2s_links;              /* outbound pairs connecting or up */
	uint64_t routed_total, bounced_total;
};

#endif
