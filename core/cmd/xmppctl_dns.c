/* "xmppctl check", the DNS part (issue 12): what other servers will find
 * for each hosted domain when they look it up to connect (RFC 6120 3.2.1,
 * XEP-0368), asked the way xmppd asks (s2s/resolver.c: c-ares, [s2s]
 * dns_servers or /etc/resolv.conf), here on a loop of its own that waits
 * at most a few seconds per domain. */
#include "core/cmd/xmppctl_dns.h"

#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "s2s/resolver.h"
#include "s2s/srv_order.h"

#define TAG (1ULL << 56)

struct answer {
	bool done;
	enum xs st;
	struct srv_record recs[S2S_MAX_TARGETS];
	size_t n;
};

static void srv_cb(void *arg, enum xs st, const struct srv_record *recs, size_t n)
{
	struct answer *a = arg;
	a->done = true;
	a->st = st;
	if (n > S2S_MAX_TARGETS)
		n = S2S_MAX_TARGETS;
	memcpy(a->recs, recs, n * sizeof(*recs));
	a->n = n;
}

/* Runs the resolver until a is answered (or 30 s, far past c-ares' own
 * timeouts, have gone). */
static void wait_for(struct s2s_resolver *r, int epfd, struct answer *a)
{
	for (int rounds = 0; !a->done && rounds < 3000; rounds++) {
		struct epoll_event ev[8];
		int ms = s2s_resolver_timeout_ms(r, 10);
		int n = epoll_wait(epfd, ev, 8, ms < 0 ? 10 : ms);
		for (int i = 0; i < n; i++)
			s2s_resolver_on_event(r, (int)(ev[i].data.u64 & 0xffffffffu), ev[i].events);
		s2s_resolver_timers(r);
	}
}

static void print_records(const struct answer *a, bool direct, const char *domain)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct srv_record *s = &a->recs[i];
		if (s->direct_tls != direct)
			continue;
		if (!strcmp(s->target, "."))
			printf("  %s._tcp.%s: \".\" (no such service, on purpose)\n",
			       direct ? "_xmpps-server" : "_xmpp-server", domain);
		else
			printf("  %s._tcp.%s -> %s port %u (priority %u, weight %u)\n",
			       direct ? "_xmpps-server" : "_xmpp-server", domain, s->target, s->port,
			       s->priority, s->weight);
	}
}

void xmppctl_check_dns(const struct cfg *cfg, int *problems, int *warnings)
{
	(void)problems; /* what DNS says is never a fault of this configuration */
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	char err[256];
	struct s2s_resolver_cfg rc = {
		.servers = cfg->s2s_dns_servers[0] ? cfg->s2s_dns_servers : NULL,
		.timeout_ms = cfg->s2s_dns_timeout_ms,
		.tries = 2,
	};
	struct s2s_resolver *r = epfd >= 0 ? s2s_resolver_new(epfd, TAG, &rc, err, sizeof(err)) : NULL;
	if (!r) {
		printf("s2s DNS: WARNING: no resolver: %s\n", epfd >= 0 ? err : "epoll_create1 failed");
		(*warnings)++;
		if (epfd >= 0)
			close(epfd);
		return;
	}
	for (size_t i = 0; i < cfg->n_hosts; i++) {
		const char *d = cfg->hosts[i].domain;
		struct answer a = { 0 };
		printf("s2s DNS of %s:\n", d);
		if (!s2s_resolve_srv(r, d, srv_cb, &a)) {
			printf("  WARNING: out of memory asking DNS\n");
			(*warnings)++;
			continue;
		}
		wait_for(r, epfd, &a);
		if (!a.done || a.st != XS_OK) {
			printf("  WARNING: the SRV lookup failed (%s): other servers may not find %s\n",
			       a.done ? xs_name(a.st) : "no answer", d);
			(*warnings)++;
			continue;
		}
		bool plain = false, direct = false, dot_only = true;
		for (size_t k = 0; k < a.n; k++) {
			plain |= !a.recs[k].direct_tls;
			direct |= a.recs[k].direct_tls;
			dot_only &= !strcmp(a.recs[k].target, ".");
		}
		print_records(&a, false, d);
		print_records(&a, true, d);
		if (!a.n) {
			printf("  WARNING: missing: no SRV record under _xmpp-server._tcp.%s or "
			       "_xmpps-server._tcp.%s: other servers will try %s port 5269\n",
			       d, d, d);
			(*warnings)++;
		} else if (dot_only) {
			printf("  note: the SRV records say %s takes no server-to-server connections\n", d);
		} else {
			if (!plain)
				printf("  note: missing _xmpp-server._tcp.%s: only direct TLS "
				       "(XEP-0368) is published\n", d);
			if (!direct)
				printf("  note: no _xmpps-server._tcp.%s: direct TLS (XEP-0368, port 5270) "
				       "is not published\n", d);
		}
	}
	s2s_resolver_free(r);
	close(epfd);
}
