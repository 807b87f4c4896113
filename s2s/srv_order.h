/* The order in which an s2s connection tries a domain's servers: RFC 2782
 * (SRV priority, then weighted random choice within a priority) over the
 * records of both _xmpps-server._tcp (direct TLS) and _xmpp-server._tcp
 * (STARTTLS), mixed as one set as XEP-0368 asks; and what to do when
 * there are none (RFC 6120 3.2.1: the domain itself on port 5269).
 *
 * Pure functions of their input and a random source: the resolver
 * (s2s/resolver.c) gathers the records, the connector tries the targets. */
#ifndef XMPPD_S2S_SRV_ORDER_H
#define XMPPD_S2S_SRV_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S2S_HOST_MAX 254         /* a DNS name, without the final dot */
#define S2S_DEFAULT_PORT 5269    /* RFC 6120 3.2.1 fallback */
#define S2S_MAX_TARGETS 32       /* records beyond these are ignored */

struct srv_record {
	char target[S2S_HOST_MAX + 1]; /* "." : the service is not offered */
	uint16_t priority, weight, port;
	bool direct_tls;             /* from _xmpps-server */
};

struct srv_target {
	char host[S2S_HOST_MAX + 1];
	uint16_t port;
	bool direct_tls;
};

enum srv_outcome {
	SRV_TARGETS,  /* try the targets in order */
	SRV_FALLBACK, /* no record at all: the domain's own A/AAAA, port 5269 */
	SRV_NO_SERVICE, /* only "." records: the domain says it has no s2s service */
};

/* Returns a number in [0, bound], inclusive: RFC 2782's "uniform random
 * number between 0 and the sum". */
typedef uint32_t (*srv_random_fn)(void *arg, uint32_t bound);

/* Orders records (n of them) into out (at most max), skipping "."
 * targets: a "." under _xmpps-server only means no direct TLS (XEP-0368
 * 5), and when every record is one, the domain offers no s2s service
 * (RFC 6120 3.2.1), with no fallback to its address.  *n_out gets the
 * count. */
enum srv_outcome srv_order(const struct srv_record *recs, size_t n, srv_random_fn rnd,
			   void *rnd_arg, struct srv_target *out, size_t max, size_t *n_out);

#endif
