/* s2s/resolver.c against a DNS server of our own on loopback (a thread of
 * this test answering UDP queries from a small zone): both SRV services
 * gathered into one answer, no records, one service failing, servers that
 * fail or never answer, addresses from DNS and from /etc/hosts, and the
 * request's life (no callback from the starting call, cancel, free). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "s2s/resolver.h"

/* ---- the zone and the server ---- */

struct srv_rr { const char *name; uint16_t prio, weight, port; const char *target; };

static const struct srv_rr zone_srv[] = {
	{ "_xmpps-server._tcp.both.test", 5, 0, 5270, "tls.both.test" },
	{ "_xmpp-server._tcp.both.test", 10, 0, 5269, "xmpp.both.test" },
	{ "_xmpp-server._tcp.both.test", 20, 5, 5269, "backup.both.test" },
	{ "_xmpps-server._tcp.nodirect.test", 0, 0, 0, "" }, /* the root: "." */
	{ "_xmpp-server._tcp.nodirect.test", 0, 0, 5269, "xmpp.nodirect.test" },
	{ "_xmpp-server._tcp.half.test", 1, 1, 5269, "xmpp.half.test" },
};

struct dns_server {
	int fd;
	uint16_t port;
	pthread_t thr;
	atomic_bool stop;
	atomic_uint queries;
};

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static size_t put_name(unsigned char *p, const char *name)
{
	size_t o = 0;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);
		p[o++] = (unsigned char)n;
		memcpy(p + o, name, n);
		o += n;
		name += n + (dot ? 1 : 0);
	}
	p[o++] = 0;
	return o;
}

/* The answer to one query, or 0: no answer at all. */
static size_t answer(const unsigned char *q, size_t qlen, unsigned char *out)
{
	if (qlen < 17)
		return 0;
	char name[256];
	size_t o = 12, n = 0;
	while (o < qlen && q[o]) {
		size_t l = q[o++];
		if (o + l > qlen || n + l + 1 >= sizeof(name))
			return 0;
		if (n)
			name[n++] = '.';
		for (size_t i = 0; i < l; i++)
			name[n++] = (char)tolower(q[o + i]);
		o += l;
	}
	name[n] = '\0';
	o++;
	if (o + 4 > qlen)
		return 0;
	uint16_t qtype = (uint16_t)(q[o] << 8 | q[o + 1]);
	size_t qend = o + 4;
	if (strstr(name, "silent.test") || (strstr(name, "half.test") && strstr(name, "_xmpps")))
		return 0;
	memcpy(out, q, qend);
	out[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD as asked */
	out[3] = 0x80;                 /* RA, rcode 0 */
	put16(out + 4, 1);
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	if (strstr(name, "fail.test")) {
		out[3] = 0x82; /* SERVFAIL */
		return qend;
	}
	size_t w = qend;
	uint16_t an = 0;
	if (qtype == 33) { /* SRV */
		for (size_t i = 0; i < sizeof(zone_srv) / sizeof(zone_srv[0]); i++) {
			const struct srv_rr *rr = &zone_srv[i];
			if (strcmp(rr->name, name) != 0)
				continue;
			put16(out + w, 0xc00c);
			put16(out + w + 2, 33);
			put16(out + w + 4, 1);
			memset(out + w + 6, 0, 4);
			out[w + 9] = 60; /* TTL */
			size_t rd = w + 12;
			put16(out + rd, rr->prio);
			put16(out + rd + 2, rr->weight);
			put16(out + rd + 4, rr->port);
			size_t tl = put_name(out + rd + 6, rr->target);
			put16(out + w + 10, (uint16_t)(6 + tl));
			w = rd + 6 + tl;
			an++;
		}
	} else if (qtype == 1 && strcmp(name, "host.test") == 0) {
		put16(out + w, 0xc00c);
		put16(out + w + 2, 1);
		put16(out + w + 4, 1);
		memset(out + w + 6, 0, 4);
		out[w + 9] = 60;
		put16(out + w + 10, 4);
		memcpy(out + w + 12, (unsigned char[]){ 192, 0, 2, 7 }, 4);
		w += 16;
		an++;
	}
	put16(out + 6, an);
	/* a name of the zone's with no record of this type: no data; any
	 * other: NXDOMAIN */
	bool known = strstr(name, "both.test") || strstr(name, "nodirect.test") ||
		     strstr(name, "half.test") || strcmp(name, "host.test") == 0;
	if (!an && !known)
		out[3] = 0x83;
	return w;
}

static void *serve(void *arg)
{
	struct dns_server *s = arg;
	while (!atomic_load(&s->stop)) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		if (poll(&p, 1, 20) <= 0)
			continue;
		unsigned char q[512], out[1024];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			continue;
		atomic_fetch_add(&s->queries, 1);
		size_t len = answer(q, (size_t)n, out);
		if (len)
			sendto(s->fd, out, len, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static struct dns_server server;

/* ---- the loop a mux thread would run ---- */

struct fixture {
	int epfd;
	struct s2s_resolver *r;
};

#define TAG (7ULL << 56)

static struct fixture fx;

static int setup(void **state)
{
	(void)state;
	fx.epfd = epoll_create1(EPOLL_CLOEXEC);
	char servers[64], err[128];
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", server.port);
	struct s2s_resolver_cfg cfg = { .servers = servers, .timeout_ms = 200, .tries = 1 };
	fx.r = s2s_resolver_new(fx.epfd, TAG, &cfg, err, sizeof(err));
	assert_non_null(fx.r);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	s2s_resolver_free(fx.r);
	close(fx.epfd);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop until *done or the resolver has nothing pending; fails
 * after 5 s. */
static void run(const int *done)
{
	uint64_t end = now_ms() + 5000;
	while (!*done && s2s_resolver_pending(fx.r)) {
		assert_true(now_ms() < end);
		struct epoll_event ev[8];
		int n = epoll_wait(fx.epfd, ev, 8, s2s_resolver_timeout_ms(fx.r, 1000));
		for (int i = 0; i < n; i++) {
			assert_int_equal(ev[i].data.u64 & ~0xffffffffULL, TAG);
			s2s_resolver_on_event(fx.r, (int)(ev[i].data.u64 & 0xffffffff), ev[i].events);
		}
		s2s_resolver_timers(fx.r);
	}
}

struct srv_result {
	int calls;
	enum xs st;
	size_t n;
	struct srv_record recs[S2S_MAX_TARGETS];
};

static void on_srv(void *arg, enum xs st, const struct srv_record *recs, size_t n)
{
	struct srv_result *res = arg;
	res->calls++;
	res->st = st;
	res->n = n;
	memcpy(res->recs, recs, n * sizeof(*recs));
}

static const struct srv_record *find(const struct srv_result *res, const char *target)
{
	for (size_t i = 0; i < res->n; i++)
		if (strcmp(res->recs[i].target, target) == 0)
			return &res->recs[i];
	return NULL;
}

static void test_srv_both_services(void **state)
{
	(void)state;
	struct srv_result res = { 0 };
	unsigned before = atomic_load(&server.queries);
	assert_non_null(s2s_resolve_srv(fx.r, "both.test", on_srv, &res));
	run(&res.calls);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.st, XS_OK);
	assert_int_equal(res.n, 3);
	const struct srv_record *t = find(&res, "tls.both.test");
	assert_non_null(t);
	assert_true(t->direct_tls);
	assert_int_equal(t->port, 5270);
	assert_int_equal(t->priority, 5);
	const struct srv_record *b = find(&res, "backup.both.test");
	assert_non_null(b);
	assert_false(b->direct_tls);
	assert_int_equal(b->weight, 5);
	assert_non_null(find(&res, "xmpp.both.test"));
	assert_int_equal(atomic_load(&server.queries) - before, 2);
}

static uint32_t draw_zero(void *arg, uint32_t bound)
{
	(void)arg;
	(void)bound;
	return 0;
}

/* A "." under _xmpps-server is kept as such; the order skips it. */
static void test_srv_root_target(void **state)
{
	(void)state;
	struct srv_result res = { 0 };
	s2s_resolve_srv(fx.r, "nodirect.test", on_srv, &res);
	run(&res.calls);
	assert_int_equal(res.st, XS_OK);
	assert_int_equal(res.n, 2);
	const struct srv_record *dot = find(&res, ".");
	assert_non_null(dot);
	assert_true(dot->direct_tls);
	struct srv_target out[4];
	size_t n;
	assert_int_equal(srv_order(res.recs, res.n, draw_zero, NULL, out, 4, &n), SRV_TARGETS);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].host, "xmpp.nodirect.test");
}

static void test_srv_none(void **state)
{
	(void)state;
	struct srv_result res = { 0 };
	s2s_resolve_srv(fx.r, "none.test", on_srv, &res);
	run(&res.calls);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.st, XS_OK);
	assert_int_equal(res.n, 0);
}

/* _xmpps-server never answers, _xmpp-server does: its records, once the
 * other has timed out. */
static void test_srv_one_service_silent(void **state)
{
	(void)state;
	struct srv_result res = { 0 };
	s2s_resolve_srv(fx.r, "half.test", on_srv, &res);
	run(&res.calls);
	assert_int_equal(res.st, XS_OK);
	assert_int_equal(res.n, 1);
	assert_string_equal(res.recs[0].target, "xmpp.half.test");
}

static void test_srv_timeout(void **state)
{
	(void)state;
	struct srv_result res = { 0 };
	uint64_t t0 = now_ms();
	s2s_resolve_srv(fx.r, "silent.test", on_srv, &res);
	run(&res.calls);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.st, XS_TIMEOUT);
	assert_int_equal(res.n, 0);
	/* one try of 200 ms (c-ares may stretch it a little), not seconds */
	assert_in_range(now_ms() - t0, 150, 2000);
}

static void test_srv_servfail(void **state)
{
	(void)state;
	struct srv_result res = { 0 };
	s2s_resolve_srv(fx.r, "fail.test", on_srv, &res);
	run(&res.calls);
	assert_int_equal(res.st, XS_IO);
}

struct addr_result {
	int calls;
	enum xs st;
	size_t n;
	struct sockaddr_storage a[S2S_MAX_ADDRS];
};

static void on_addr(void *arg, enum xs st, const struct sockaddr_storage *addrs, size_t n)
{
	struct addr_result *res = arg;
	res->calls++;
	res->st = st;
	res->n = n;
	memcpy(res->a, addrs, n * sizeof(*addrs));
}

static void test_addr_from_dns(void **state)
{
	(void)state;
	struct addr_result res = { 0 };
	s2s_resolve_addr(fx.r, "host.test", 5269, on_addr, &res);
	run(&res.calls);
	assert_int_equal(res.st, XS_OK);
	assert_int_equal(res.n, 1);
	const struct sockaddr_in *in = (const struct sockaddr_in *)&res.a[0];
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 5269);
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
	assert_string_equal(ip, "192.0.2.7");
}

static void test_addr_unknown(void **state)
{
	(void)state;
	struct addr_result res = { 0 };
	s2s_resolve_addr(fx.r, "nowhere.test", 5269, on_addr, &res);
	run(&res.calls);
	assert_int_equal(res.st, XS_NOTFOUND);
	assert_int_equal(res.n, 0);
}

/* /etc/hosts answers without DNS, inside the starting call as far as
 * c-ares goes: the callback still waits for the loop. */
static void test_addr_hosts_file_not_from_start(void **state)
{
	(void)state;
	struct addr_result res = { 0 };
	unsigned before = atomic_load(&server.queries);
	s2s_resolve_addr(fx.r, "localhost", 5270, on_addr, &res);
	assert_int_equal(res.calls, 0);
	run(&res.calls);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.st, XS_OK);
	assert_true(res.n >= 1);
	bool loopback = false;
	for (size_t i = 0; i < res.n; i++) {
		if (res.a[i].ss_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)&res.a[i];
			loopback |= ntohl(in->sin_addr.s_addr) == INADDR_LOOPBACK;
			assert_int_equal(ntohs(in->sin_port), 5270);
		} else {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&res.a[i];
			loopback |= IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
			assert_int_equal(ntohs(in6->sin6_port), 5270);
		}
	}
	assert_true(loopback);
	assert_int_equal(atomic_load(&server.queries), before);
}

static void test_cancel(void **state)
{
	(void)state;
	struct srv_result res = { 0 };
	struct s2s_dns_req *q = s2s_resolve_srv(fx.r, "silent.test", on_srv, &res);
	s2s_dns_cancel(q);
	int never = 0;
	run(&never); /* until nothing is pending */
	assert_int_equal(res.calls, 0);
	assert_int_equal(s2s_resolver_pending(fx.r), 0);
}

/* A resolver freed with a request in flight calls it back, cancelled. */
static void test_free_pending(void **state)
{
	(void)state;
	struct srv_result res = { 0 };
	struct addr_result ares = { 0 };
	s2s_resolve_srv(fx.r, "silent.test", on_srv, &res);
	s2s_resolve_addr(fx.r, "silent.test", 5269, on_addr, &ares);
	assert_int_equal(s2s_resolver_pending(fx.r), 2);
	s2s_resolver_free(fx.r);
	fx.r = NULL;
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.st, XS_CANCELLED);
	assert_int_equal(ares.calls, 1);
	assert_int_equal(ares.st, XS_CANCELLED);
}

int main(void)
{
	server.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (server.fd < 0 || bind(server.fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(server.fd, (struct sockaddr *)&a, &al) != 0) {
		perror("test DNS server");
		return 1;
	}
	server.port = ntohs(a.sin_port);
	pthread_create(&server.thr, NULL, serve, &server);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_srv_both_services, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_root_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_one_service_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv_servfail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_from_dns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_hosts_file_not_from_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_pending, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	atomic_store(&server.stop, true);
	pthread_join(server.thr, NULL);
	close(server.fd);
	return rc;
}
