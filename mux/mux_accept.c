/* Accepting connections, and what happens when the process runs out of
 * file descriptors.
 *
 * Every mux thread waits on the shared listening sockets (EPOLLEXCLUSIVE,
 * level-triggered).  When accept() fails with EMFILE or ENFILE the pending
 * connection stays in the kernel's backlog and the socket stays readable,
 * so a level-triggered loop would return from epoll_wait at once, forever
 * (65a6e37: 140% CPU and two million log lines in three seconds).  Instead
 * the thread takes the listeners out of its epoll set and puts them back
 * after a pause that doubles from 50 ms to 1 s while the shortage lasts;
 * waiting clients stay in the backlog and are served once descriptors are
 * free again.  One warning per second at most says how many accepts
 * failed.
 *
 * Every accepted connection is counted under its peer's address in the
 * group's peer table (mux/peer_table.h) before anything is set up for it:
 * over [limits] max_connections_per_ip, connection_rate_per_ip (a token
 * bucket of connection_burst_per_ip) or max_preauth_connections it is
 * refused at once, with one warning per second at most.  A refusal costs
 * an accept, at most one write and a close: no TLS, no parser, no memory
 * kept.  Addresses in [limits] exempt_networks are counted but not held
 * to the per-address limits. */
#include "mux/mux_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/log.h"

#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 1000
#define FD_LOG_EVERY_MS 1000 /* also for connections refused by a limit */
#define ACCEPT_BURST 4

static void set_dead_peer_detection(int fd, const struct cfg *cfg);

/* A peer that vanishes without a FIN or RST (a phone that lost its
 * network, a crashed host behind NAT) is noticed by the kernel, which
 * probes an idle connection (keepalive) and gives up on output that is
 * never acknowledged (TCP_USER_TIMEOUT); the socket then reports an
 * error and the session ends.  The kernel does this without waking the
 * thread, so a sleeping session stays asleep while its peer answers. */
void mux_socket_options(int fd, const struct cfg *cfg)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_dead_peer_detection(fd, cfg);
}

static void set_dead_peer_detection(int fd, const struct cfg *cfg)
{
	if (cfg->tcp_keepalive_s) {
		int on = 1, idle = (int)cfg->tcp_keepalive_s, intvl = (int)cfg->tcp_keepalive_interval_s,
		    cnt = (int)cfg->tcp_keepalive_probes;
		if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) != 0 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) != 0)
			LOG_WARN("TCP keepalive: %s", strerror(errno));
	}
	if (cfg->tcp_user_timeout_s) {
		unsigned ms = cfg->tcp_user_timeout_s * 1000;
		if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) != 0)
			LOG_WARN("TCP_USER_TIMEOUT: %s", strerror(errno));
	}
}

static void listeners_watch(struct mux *m, bool on)
{
	struct mux_group *g = m->group;
	for (unsigned k = 0; k < g->n_listen; k++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
					  .data.u64 = MUX_TAG(MUX_TAG_LISTEN, k) };
		if (epoll_ctl(m->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, g->listen_fds[k], &ev) != 0)
			LOG_ERR("mux%u: epoll_ctl %s listener %u: %s", m->idx, on ? "add" : "del", k,
				strerror(errno));
	}
}

static void out_of_descriptors(struct mux *m, int err)
{
	uint64_t now = mux_now_ms();
	m->fd_refused++;
	m->n_limits[STATS_LIMIT_CONNECTIONS]++;
	if (!m->listen_backoff_ms)
		m->listen_backoff_ms = BACKOFF_FIRST_MS;
	else if (m->listen_backoff_ms < BACKOFF_MAX_MS)
		m->listen_backoff_ms = m->listen_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
										: m->listen_backoff_ms * 2;
	if (!m->listen_paused) {
		listeners_watch(m, false);
		m->listen_paused = true;
	}
	m->listen_resume_ms = now + m->listen_backoff_ms;
	if (!m->fd_log_ms || now - m->fd_log_ms >= FD_LOG_EVERY_MS) {
		LOG_WARN("mux%u: out of file descriptors (%s): %u connection(s) not accepted in the "
			 "last second; new connections wait %u ms (raise the open-files limit, "
			 "ulimit -n, or lower [limits] max_connections)",
			 m->idx, strerror(err), m->fd_refused, m->listen_backoff_ms);
		m->fd_refused = 0;
		m->fd_log_ms = now;
	}
}

/* Why a connection is refused at accept. */
struct refusal {
	const char *cond;   /* RFC 6120 stream error condition */
	const char *text;   /* for the peer and the log */
	const char *limit;  /* the [limits] key */
};

static const struct refusal over_max_conns = { "resource-constraint",
	"max_connections reached", "max_connections" };
static const struct refusal over_per_addr = { "policy-violation",
	"too many connections from your address", "max_connections_per_ip" };
static const struct refusal over_rate = { "policy-violation",
	"too many new connections from your address; try again later", "connection_rate_per_ip" };
static const struct refusal over_preauth = { "resource-constraint",
	"too many connections are authenticating; try again later", "max_preauth_connections" };
static const struct refusal shutting_down = { "system-shutdown", "shutting down", NULL };

const struct stream_role_ops *const mux_roles[] = { &c2s_role, &s2s_in_role, &s2s_out_role,
						     &http_role };
const unsigned mux_n_roles = sizeof(mux_roles) / sizeof(mux_roles[0]);

const struct stream_role_ops *mux_role_for(const struct cfg_listener *lst)
{
	switch (lst->kind) {
	case CFG_LISTEN_C2S:
		return &c2s_role;
	case CFG_LISTEN_S2S:
		return &s2s_in_role;
	case CFG_LISTEN_HTTP:
	case CFG_LISTEN_HTTPS:
		return &http_role;
	default:
		return NULL;
	}
}

/* A connection over a limit is refused at once, before any TLS or parser
 * is set up for it.  On a listener where the client speaks plaintext
 * first, it gets the stream error RFC 6120 4.9 asks for (our stream
 * header, the error, the end tag) in one write that the socket buffer
 * takes whole; on a direct-TLS listener that would cost a handshake, so
 * the socket is only closed.  A flood of refusals writes one log line per
 * second. */
static void refuse(struct mux *m, int fd, const struct cfg_listener *lst, const char *ip,
		   const struct refusal *why)
{
	m->n_limits[STATS_LIMIT_CONNECTIONS]++;
	if (lst->kind == CFG_LISTEN_HTTP) {
		/* an HTTP client gets an HTTP answer, before its request: the
		 * connection is closed after it (RFC 9112 9.6) */
		char buf[512];
		int n = snprintf(buf, sizeof(buf),
				 "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
				 "Content-Type: text/plain; charset=utf-8\r\n"
				 "Content-Length: %zu\r\n\r\n%s\n",
				 strlen(why->text) + 1, why->text);
		ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
	} else if (lst->mode != CFG_MODE_DIRECT_TLS) {
		char buf[512];
		int n = snprintf(buf, sizeof(buf),
				 "<?xml version='1.0'?><stream:stream xmlns='%s' "
				 "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
				 "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
				 "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>%s</text>"
				 "</stream:error></stream:stream>",
				 mux_role_for(lst)->ns, why->cond, why->text);
		ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
	}
	close(fd);
	uint64_t now = mux_now_ms();
	m->limit_refused++;
	if (!m->limit_log_ms || now - m->limit_log_ms >= FD_LOG_EVERY_MS) {
		LOG_WARN("mux%u: refusing connection: %s (%u in the last second, the last from %s%s%s)",
			 m->idx, why->text, m->limit_refused, ip, why->limit ? "; [limits] " : "",
			 why->limit ? why->limit : "");
		m->limit_refused = 0;
		m->limit_log_ms = now;
	}
}

/* A short list, read only on accept: a linear walk is enough. */
static bool is_exempt(const struct cfg *cfg, const struct sockaddr *sa)
{
	for (size_t i = 0; i < cfg->n_exempt; i++)
		if (cidr_contains(&cfg->exempt[i], sa))
			return true;
	return false;
}

bool mux_peer_exempt(const struct mux *m, const char *ip)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1)
		return is_exempt(m->cfg, (struct sockaddr *)&s4);
	if (inet_pton(AF_INET6, ip, &s6.sin6_addr) == 1)
		return is_exempt(m->cfg, (struct sockaddr *)&s6);
	return false;
}

bool mux_peer_key(const struct mux *m, const char *ip, char key[PEER_KEY_LEN])
{
	return peer_key_text(ip, peer_table_v6_prefix(m->group->peers), key);
}

void mux_peer_gone(struct mux *m, const char *ip, bool preauth)
{
	char key[PEER_KEY_LEN];
	if (mux_peer_key(m, ip, key))
		peer_conn_close(m->group->peers, key, preauth, mux_now_ms());
}

void mux_accept_ready(struct mux *m, unsigned k)
{
	struct mux_group *g = m->group;
	for (int burst = 0; burst < ACCEPT_BURST; burst++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(g->listen_fds[k], (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				out_of_descriptors(m, errno);
			return;
		}
		m->listen_backoff_ms = 0;
		char ip[INET6_ADDRSTRLEN], key[PEER_KEY_LEN];
		unsigned port;
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
			port = ntohs(s6->sin6_port);
		} else if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
			port = ntohs(s4->sin_port);
		} else {
			close(fd);
			continue;
		}
		if (m->shutting_down || atomic_load(&g->total_conns) >= m->cfg->max_connections) {
			refuse(m, fd, g->listen_cfg[k], ip,
			       m->shutting_down ? &shutting_down : &over_max_conns);
			continue;
		}
		if (!mux_peer_key(m, ip, key)) {
			close(fd);
			continue;
		}
		enum peer_verdict v = peer_conn_open(g->peers, key, mux_now_ms(),
						     is_exempt(m->cfg, (struct sockaddr *)&ss));
		if (v != PEER_OK) {
			if (v == PEER_NOMEM)
				close(fd);
			else
				refuse(m, fd, g->listen_cfg[k], ip,
				       v == PEER_TOO_MANY_FROM_ADDR ? &over_per_addr
				       : v == PEER_TOO_FAST	    ? &over_rate
								    : &over_preauth);
			continue;
		}
		mux_socket_options(fd, m->cfg);
		atomic_fetch_add(&g->total_conns, 1);
		/* among the threads of its kind: a gateway thread's listener
		 * hands out to gateway threads, a mux thread's to mux threads */
		unsigned first = m->gateway ? g->n_mux : 0;
		unsigned count = m->gateway ? g->n - g->n_mux : g->n_mux;
		unsigned target = first + atomic_fetch_add(&g->rr, 1) % count;
		if (target == m->idx) {
			conn_adopt(m, fd, g->listen_cfg[k], ip, port);
			continue;
		}
		struct msg *msg = msg_new(MSG_NEW_CONN, ip);
		if (!msg) {
			close(fd);
			peer_conn_close(g->peers, key, true, mux_now_ms());
			atomic_fetch_sub(&g->total_conns, 1);
			continue;
		}
		msg->status = fd;
		msg->priority = (int)port;
		msg->ptr = (void *)g->listen_cfg[k];
		mux_post(m, target, msg);
	}
}

void mux_accept_resume(struct mux *m)
{
	if (!m->listen_paused || m->shutting_down || mux_now_ms() < m->listen_resume_ms)
		return;
	m->listen_paused = false;
	listeners_watch(m, true);
}

uint64_t mux_accept_deadline(const struct mux *m)
{
	return m->listen_paused && !m->shutting_down ? m->listen_resume_ms : UINT64_MAX;
}
