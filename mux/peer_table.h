/* What the server knows about each peer address, shared by all mux
 * threads: connections open from it, those not yet authenticated, and its
 * recent authentication failures and how fast it opens new connections.
 *
 * An address is an IPv4 address, or an IPv6 address cut to a prefix
 * (default /64, what one customer of an ISP usually gets): an attacker
 * with a /64 has 2^64 addresses but only one key here.  IPv4-mapped IPv6
 * addresses count as the IPv4 address.
 *
 * New connections from one address are paced by a token bucket: a burst
 * of conn_burst at once, then conn_rate a second.  A refused attempt takes
 * no token, so a client that retries is let in as soon as one is earned.
 * An address in an exempt network (the caller decides) is counted, but
 * neither max_per_addr nor the rate applies to it.
 *
 * The table bounds what it keeps: a record lives while a connection from
 * its address is open, and after that only to remember failures or a
 * bucket that is not full again yet, in a
 * least-recently-used list of at most max_idle records; making room
 * evicts the oldest in O(1).  Keys come from the network, so the hash
 * map under the table is keyed with a random SipHash key (core/base/hmap.h).
 *
 * Accepts, authentications, closes and failures are rare next to
 * stanzas, so one mutex guards the table; no call takes it for long. */
#ifndef XMPPD_PEER_TABLE_H
#define XMPPD_PEER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "255.255.255.255" or "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" */
#define PEER_KEY_LEN 48

struct peer_limits {
	unsigned max_per_addr;   /* connections open from one address; 0 = no limit */
	unsigned max_preauth;    /* unauthenticated connections in all; 0 = no limit */
	unsigned v6_prefix;      /* 1..128 */
	size_t max_idle;         /* records kept for addresses with no connection */
	uint64_t fail_memory_ms; /* a failure older than this is forgotten */
	unsigned conn_rate;      /* new connections a second from one address; 0 = no limit */
	unsigned conn_burst;     /* ... at once before the rate applies (>= 1) */
	unsigned reg_per_hour;   /* in-band registrations an hour from one address, all at
				  * once at most; 0 = no limit */
};

enum peer_verdict {
	PEER_OK,
	PEER_TOO_MANY_FROM_ADDR, /* max_per_addr reached */
	PEER_TOO_MANY_PREAUTH,   /* max_preauth reached */
	PEER_TOO_FAST,           /* no token left: conn_rate */
	PEER_NOMEM,
};

struct peer_table;

/* NULL on allocation failure or no randomness for the hash key. */
struct peer_table *peer_table_new(const struct peer_limits *lim);
/* Every connection must have been closed. */
void peer_table_free(struct peer_table *t);

/* The key of an address; false for a family other than IPv4/IPv6. */
bool peer_key_sockaddr(const struct sockaddr *sa, unsigned v6_prefix, char out[PEER_KEY_LEN]);
/* The same from an address as inet_ntop() wrote it. */
bool peer_key_text(const char *ip, unsigned v6_prefix, char out[PEER_KEY_LEN]);
unsigned peer_table_v6_prefix(const struct peer_table *t);

/* A new connection from key at now_ms, not yet authenticated: counted if
 * the limits allow it (PEER_OK), else nothing changes.  exempt: the
 * address is in an exempt network (only max_preauth applies). */
enum peer_verdict peer_conn_open(struct peer_table *t, const char *key, uint64_t now_ms,
				 bool exempt);
/* The connection has authenticated: no longer counted as pre-auth. */
void peer_conn_authenticated(struct peer_table *t, const char *key);
/* The connection is gone at now_ms; preauth: it had not authenticated. */
void peer_conn_close(struct peer_table *t, const char *key, bool preauth, uint64_t now_ms);

/* A failed authentication from key at now_ms: the number of failures
 * remembered for it, this one included (0 when no record could be made:
 * the caller then treats it as a first failure). */
unsigned peer_auth_failed(struct peer_table *t, const char *key, uint64_t now_ms);
/* A success forgets the address's failures. */
void peer_auth_succeeded(struct peer_table *t, const char *key);

/* An in-band registration from key at now_ms (XEP-0077): true if the
 * address may make one now, and then it has taken it.  A bucket of
 * reg_per_hour, refilled at reg_per_hour an hour; a refused attempt takes
 * nothing.  The record lives while a connection from key is open (the
 * caller has one) and afterwards while the bucket is not full again. */
bool peer_registration_take(struct peer_table *t, const char *key, uint64_t now_ms);

/* For tests and the status log: totals now. */
struct peer_stats {
	size_t records, idle_records;
	unsigned long long preauth;
};
void peer_table_stats(struct peer_table *t, struct peer_stats *out);
/* Connections open from key now (0 if unknown). */
unsigned peer_conns(struct peer_table *t, const char *key);

#endif
