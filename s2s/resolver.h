/* Asynchronous DNS for s2s, on the owning thread's epoll loop: c-ares
 * (Debian's libc-ares), one channel per thread, its sockets in the
 * thread's epoll set.  No thread ever waits on DNS (issue 12).
 *
 * Ownership: a resolver and its requests belong to the thread that made
 * them; nothing here is shared or locked.  Callbacks run from
 * s2s_resolver_on_event / s2s_resolver_timers (or s2s_resolver_free, for
 * requests still pending, with XS_CANCELLED), never from the call that
 * starts a request. */
#ifndef XMPPD_S2S_RESOLVER_H
#define XMPPD_S2S_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/base/status.h"
#include "s2s/srv_order.h"

struct s2s_resolver;
struct s2s_dns_req;

struct s2s_resolver_cfg {
	/* "ip[:port],..." in place of /etc/resolv.conf's servers (tests), or
	 * NULL */
	const char *servers;
	unsigned timeout_ms;         /* per try and server (c-ares' first timeout) */
	unsigned tries;
};

/* Every descriptor the resolver watches is added to epfd with data.u64 =
 * tag | fd: the caller passes events with that tag to on_event.  tag's low
 * 32 bits must be zero. */
struct s2s_resolver *s2s_resolver_new(int epfd, uint64_t tag, const struct s2s_resolver_cfg *cfg,
				      char *err, size_t errlen);
/* Pending requests end with XS_CANCELLED (their callbacks run, unless
 * cancelled), then the resolver is freed. */
void s2s_resolver_free(struct s2s_resolver *r);

/* An event on one of the resolver's descriptors (fd: the tag's low bits). */
void s2s_resolver_on_event(struct s2s_resolver *r, int fd, uint32_t events);
/* Milliseconds until the resolver's next timeout (at most max_ms), or
 * max_ms when it waits for nothing; max_ms < 0: no upper bound (-1 when
 * idle). */
int s2s_resolver_timeout_ms(struct s2s_resolver *r, int max_ms);
/* Runs the timeouts that are due. */
void s2s_resolver_timers(struct s2s_resolver *r);
/* Requests in flight (not yet answered; cancelled ones included). */
size_t s2s_resolver_pending(const struct s2s_resolver *r);

/* The SRV records of _xmpps-server._tcp.DOMAIN and _xmpp-server._tcp.DOMAIN
 * together (direct_tls set for the first).  XS_OK with n == 0: neither
 * name has records (NXDOMAIN or no data), the RFC 6120 fallback applies.
 * An error status only when both lookups failed (XS_TIMEOUT: no answer;
 * XS_IO: the servers failed or refused).  recs is valid during the call. */
typedef void (*s2s_srv_cb)(void *arg, enum xs st, const struct srv_record *recs, size_t n);
struct s2s_dns_req *s2s_resolve_srv(struct s2s_resolver *r, const char *domain, s2s_srv_cb cb,
				    void *arg);

/* The addresses of host (the hosts file first, then DNS; IPv6 and IPv4),
 * with port set in each.  XS_NOTFOUND: the name has none. */
typedef void (*s2s_addr_cb)(void *arg, enum xs st, const struct sockaddr_storage *addrs,
			    size_t n);
struct s2s_dns_req *s2s_resolve_addr(struct s2s_resolver *r, const char *host, uint16_t port,
				     s2s_addr_cb cb, void *arg);

/* The request's callback will not run (its owner is going away).  The
 * request itself is freed when c-ares is done with it. */
void s2s_dns_cancel(struct s2s_dns_req *q);

#define S2S_MAX_ADDRS 16

#endif
