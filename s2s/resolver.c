/* c-ares on a thread's epoll loop (see resolver.h).
 *
 * c-ares tells us which sockets it wants watched through its socket-state
 * callback; we mirror that into the thread's epoll set, hand readiness back
 * with ares_process_fd, and ask ares_timeout for the next deadline.  The
 * hosts file is read before DNS (lookups "fb"), so /etc/hosts names a peer
 * as RFC 6120 3.2.1's fallback allows. */
#include "s2s/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>

#include "core/base/log.h"

struct s2s_resolver {
	ares_channel ch;
	int epfd;
	uint64_t tag;
	size_t pending;              /* requests not yet delivered */
	bool freeing;
	/* answered, callbacks not yet run: c-ares may answer inside the call
	 * that starts a request (the hosts file, a bad name), and the
	 * requester must not be called back from there */
	struct s2s_dns_req *done_head, *done_tail;
};

enum req_kind { REQ_SRV, REQ_ADDR };

struct s2s_dns_req {
	struct s2s_resolver *r;
	enum req_kind kind;
	bool cancelled;
	void *arg;
	union {
		s2s_srv_cb srv;
		s2s_addr_cb addr;
	} cb;
	/* SRV: the two lookups' answers, gathered until both are in */
	unsigned srv_waiting;        /* lookups not yet answered */
	unsigned srv_failed;         /* lookups that failed (not "no such name") */
	enum xs srv_err;             /* the status of a failed one */
	size_t n_recs;
	struct srv_record recs[S2S_MAX_TARGETS];
	/* addr */
	uint16_t port;
	enum xs addr_st;
	size_t n_addrs;
	struct sockaddr_storage addrs[S2S_MAX_ADDRS];
	struct s2s_dns_req *done_next;
};

static void mark_done(struct s2s_dns_req *q)
{
	struct s2s_resolver *r = q->r;
	q->done_next = NULL;
	if (r->done_tail)
		r->done_tail->done_next = q;
	else
		r->done_head = q;
	r->done_tail = q;
}

static void srv_deliver(struct s2s_dns_req *q);

/* Runs the callbacks of the answered requests and frees them. */
static void deliver_done(struct s2s_resolver *r)
{
	while (r->done_head) {
		struct s2s_dns_req *q = r->done_head;
		r->done_head = q->done_next;
		if (!r->done_head)
			r->done_tail = NULL;
		r->pending--;
		if (!q->cancelled) {
			if (q->kind == REQ_SRV)
				srv_deliver(q);
			else
				q->cb.addr(q->arg, q->addr_st, q->addrs, q->addr_st == XS_OK ? q->n_addrs : 0);
		}
		free(q);
	}
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct s2s_resolver *r = data;
	struct epoll_event ev = {
		.events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0),
		.data.u64 = r->tag | (uint32_t)fd,
	};
	if (!readable && !writable) {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
		return;
	}
	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT &&
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		LOG_WARN("resolver: cannot watch descriptor %d: %s", (int)fd, strerror(errno));
}

struct s2s_resolver *s2s_resolver_new(int epfd, uint64_t tag, const struct s2s_resolver_cfg *cfg,
				      char *err, size_t errlen)
{
	struct s2s_resolver *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->epfd = epfd;
	r->tag = tag;
	struct ares_options o = {
		/* a peer's domain is a full name: no search domains */
		.flags = ARES_FLAG_STAYOPEN | ARES_FLAG_NOSEARCH,
		.timeout = (int)(cfg->timeout_ms ? cfg->timeout_ms : 5000),
		.tries = (int)(cfg->tries ? cfg->tries : 2),
		.sock_state_cb = sock_state,
		.sock_state_cb_data = r,
		.lookups = (char *)"fb",
	};
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
		   ARES_OPT_LOOKUPS;
	int st = ares_init_options(&r->ch, &o, mask);
	if (st != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(st));
		free(r);
		return NULL;
	}
	if (cfg->servers && (st = ares_set_servers_ports_csv(r->ch, cfg->servers)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares servers '%s': %s", cfg->servers, ares_strerror(st));
		ares_destroy(r->ch);
		free(r);
		return NULL;
	}
	return r;
}

void s2s_resolver_free(struct s2s_resolver *r)
{
	if (!r)
		return;
	r->freeing = true;
	ares_destroy(r->ch); /* every pending callback runs, with ARES_EDESTRUCTION */
	deliver_done(r);
	free(r);
}

void s2s_resolver_on_event(struct s2s_resolver *r, int fd, uint32_t events)
{
	ares_socket_t rd = (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD;
	ares_socket_t wr = (events & EPOLLOUT) ? fd : ARES_SOCKET_BAD;
	ares_process_fd(r->ch, rd, wr);
	deliver_done(r);
}

int s2s_resolver_timeout_ms(struct s2s_resolver *r, int max_ms)
{
	if (!r->pending)
		return max_ms;
	if (r->done_head)
		return 0;
	struct timeval maxtv, tv, *t;
	maxtv.tv_sec = max_ms >= 0 ? max_ms / 1000 : 0;
	maxtv.tv_usec = max_ms >= 0 ? (max_ms % 1000) * 1000 : 0;
	t = ares_timeout(r->ch, max_ms >= 0 ? &maxtv : NULL, &tv);
	if (!t)
		return max_ms;
	/* rounded up: waking a little early would only spin */
	long ms = (long)t->tv_sec * 1000 + (t->tv_usec + 999) / 1000;
	return (int)ms;
}

void s2s_resolver_timers(struct s2s_resolver *r)
{
	if (r->pending)
		ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	deliver_done(r);
}

size_t s2s_resolver_pending(const struct s2s_resolver *r)
{
	return r->pending;
}

void s2s_dns_cancel(struct s2s_dns_req *q)
{
	if (q)
		q->cancelled = true;
}

static enum xs status_of(int st)
{
	switch (st) {
	case ARES_SUCCESS: return XS_OK;
	case ARES_ENODATA:
	case ARES_ENOTFOUND: return XS_NOTFOUND;
	case ARES_ETIMEOUT: return XS_TIMEOUT;
	case ARES_ENOMEM: return XS_NOMEM;
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED: return XS_CANCELLED;
	default: return XS_IO;
	}
}

/* ---- SRV: both services, answered together ---- */

static void srv_deliver(struct s2s_dns_req *q)
{
	/* an error only when both lookups failed; one that found the name
	 * without records counts as an answer */
	enum xs st = q->srv_failed == 2 ? q->srv_err : XS_OK;
	if (q->r->freeing)
		st = XS_CANCELLED;
	q->cb.srv(q->arg, st, q->recs, st == XS_OK ? q->n_recs : 0);
}

struct srv_half {
	struct s2s_dns_req *q;
	bool direct_tls;
};

static void srv_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	(void)timeouts;
	struct srv_half *h = arg;
	struct s2s_dns_req *q = h->q;
	bool direct = h->direct_tls;
	free(h);
	enum xs st = status_of(status);
	struct ares_srv_reply *list = NULL;
	if (st == XS_OK) {
		int pst = ares_parse_srv_reply(abuf, alen, &list);
		if (pst == ARES_ENODATA)
			st = XS_NOTFOUND;
		else if (pst != ARES_SUCCESS)
			st = XS_PROTO; /* a malformed answer: as if it failed */
	}
	for (struct ares_srv_reply *s = list; s && q->n_recs < S2S_MAX_TARGETS; s = s->next) {
		struct srv_record *rec = &q->recs[q->n_recs];
		size_t n = strlen(s->host);
		if (n && s->host[n - 1] == '.' && n > 1)
			n--; /* the root's dot is not part of the name */
		if (n > S2S_HOST_MAX)
			continue;
		memcpy(rec->target, s->host, n);
		rec->target[n] = '\0';
		if (rec->target[0] == '\0')
			strcpy(rec->target, "."); /* c-ares writes the root as "" */
		rec->priority = s->priority;
		rec->weight = s->weight;
		rec->port = s->port;
		rec->direct_tls = direct;
		q->n_recs++;
	}
	if (list)
		ares_free_data(list);
	if (st != XS_OK && st != XS_NOTFOUND) {
		q->srv_failed++;
		q->srv_err = st == XS_PROTO ? XS_IO : st;
	}
	if (--q->srv_waiting == 0)
		mark_done(q);
}

struct s2s_dns_req *s2s_resolve_srv(struct s2s_resolver *r, const char *domain, s2s_srv_cb cb,
				    void *arg)
{
	static const struct { const char *prefix; bool direct; } svc[2] = {
		{ "_xmpps-server._tcp.", true },
		{ "_xmpp-server._tcp.", false },
	};
	struct s2s_dns_req *q = calloc(1, sizeof(*q));
	struct srv_half *h[2] = { malloc(sizeof(struct srv_half)), malloc(sizeof(struct srv_half)) };
	if (!q || !h[0] || !h[1] || strlen(domain) > S2S_HOST_MAX) {
		free(q);
		free(h[0]);
		free(h[1]);
		return NULL;
	}
	q->r = r;
	q->kind = REQ_SRV;
	q->cb.srv = cb;
	q->arg = arg;
	q->srv_waiting = 2;
	r->pending++;
	for (int i = 0; i < 2; i++) {
		char name[S2S_HOST_MAX + 32];
		snprintf(name, sizeof(name), "%s%s", svc[i].prefix, domain);
		h[i]->q = q;
		h[i]->direct_tls = svc[i].direct;
		ares_query(r->ch, name, ns_c_in, ns_t_srv, srv_answer, h[i]);
	}
	return q;
}

/* ---- addresses ---- */

static void addr_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	(void)timeouts;
	struct s2s_dns_req *q = arg;
	struct sockaddr_storage *addrs = q->addrs;
	size_t n = 0;
	enum xs st = q->r->freeing ? XS_CANCELLED : status_of(status);
	for (struct ares_addrinfo_node *a = res ? res->nodes : NULL; a && n < S2S_MAX_ADDRS;
	     a = a->ai_next) {
		if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
		    (size_t)a->ai_addrlen > sizeof(addrs[0]))
			continue;
		memset(&addrs[n], 0, sizeof(addrs[n]));
		memcpy(&addrs[n], a->ai_addr, a->ai_addrlen);
		if (a->ai_family == AF_INET)
			((struct sockaddr_in *)&addrs[n])->sin_port = htons(q->port);
		else
			((struct sockaddr_in6 *)&addrs[n])->sin6_port = htons(q->port);
		n++;
	}
	if (st == XS_OK && n == 0)
		st = XS_NOTFOUND;
	if (res)
		ares_freeaddrinfo(res);
	q->addr_st = st;
	q->n_addrs = n;
	mark_done(q);
}

struct s2s_dns_req *s2s_resolve_addr(struct s2s_resolver *r, const char *host, uint16_t port,
				     s2s_addr_cb cb, void *arg)
{
	struct s2s_dns_req *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->r = r;
	q->kind = REQ_ADDR;
	q->cb.addr = cb;
	q->arg = arg;
	q->port = port;
	r->pending++;
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };
	ares_getaddrinfo(r->ch, host, NULL, &hints, addr_answer, q);
	return q;
}
