/* A thread's snapshot for GET /metrics (docs/internals/gateway.md,
 * "Metrics"): the gateway thread that answers the request sends MSG_STATS
 * to every thread and to the router; each fills one of these with what it
 * owns and sends it back (MSG_STATS_REPLY, ptr).  So the counters stay
 * plain fields of their owners, with no atomics on the hot paths. */
#ifndef XMPPD_ROUTE_STATS_H
#define XMPPD_ROUTE_STATS_H

#include <stdint.h>

/* websocket: a client stream over WebSocket (a c2s stream whose HTTP
 * connection was upgraded); bosh: a BOSH session (no socket of its own);
 * http: an HTTP connection not upgraded */
enum stats_kind {
	STATS_C2S,
	STATS_S2S_IN,
	STATS_S2S_OUT,
	STATS_HTTP,
	STATS_WEBSOCKET,
	STATS_BOSH,
	STATS_KINDS
};

/* The limits whose hits are counted (xmppd_limits_hit_total): connections
 * refused at accept (max_connections, per address, rate, pre-auth, out of
 * descriptors), stanzas over an XML limit (size, depth, attributes,
 * elements), output over max_output_buffer, input paused for the router's
 * backlog, WebSocket messages over max_websocket_message_bytes. */
enum stats_limit {
	STATS_LIMIT_CONNECTIONS,
	STATS_LIMIT_XML,
	STATS_LIMIT_OUTPUT,
	STATS_LIMIT_BACKLOG,
	STATS_LIMIT_WEBSOCKET,
	STATS_LIMITS
};

/* The storage latency histogram's buckets: upper bounds in microseconds,
 * the last one +Inf (UINT64_MAX). */
#define STATS_STORE_BUCKETS 7
static inline uint64_t stats_store_le_us(unsigned i)
{
	switch (i) {
	case 0: return 100;
	case 1: return 1000;
	case 2: return 5000;
	case 3: return 25000;
	case 4: return 100000;
	case 5: return 1000000;
	default: return UINT64_MAX;
	}
}

#define STATS_PART_STORAGE (-2) /* the storage thread's part */

struct stats_part {
	int thread;                      /* the thread's index; -1: the router;
					  * STATS_PART_STORAGE */
	/* a mux or gateway thread's */
	uint64_t conns[STATS_KINDS][2];  /* connections: [kind][0 awake, 1 asleep] */
	uint64_t slept_total, woken_total;
	uint64_t tls_handshakes[2];      /* completed: [0] TLS 1.2, [1] TLS 1.3 */
	uint64_t auth_failures_total;    /* SASL attempts that failed */
	uint64_t limits_total[STATS_LIMITS];
	/* both */
	uint64_t inbox_depth;            /* messages waiting in its inbox */
	/* the router's */
	uint64_t sessions;               /* bound resources */
	uint64_t s2s_links;              /* outbound pairs connecting or up */
	uint64_t routed_total, bounced_total;
	uint64_t offline_stored_total;   /* messages stored for offline accounts */
	/* the storage thread's: requests by time from submit to answer */
	uint64_t store_buckets[STATS_STORE_BUCKETS]; /* not cumulative */
	uint64_t store_count, store_sum_us;
};

#endif
