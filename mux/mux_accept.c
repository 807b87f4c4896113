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
 * failed. */
#include "mux/mux_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 1000
#define FD_LOG_EVERY_MS 1000

/* A peer that vanishes without a FIN or RST (a phone that lost its
 * network, a crashed host behind NAT) is noticed by the kernel, which
 * probes an idle connection (keepalive) and gives up on output that is
 * never acknowledged (TCP_USER_TIMEOUT); the socket then reports an
 * error and the session ends.  The kernel does this without waking the
 * thread, so a sleeping session stays asleep while its peer answers. */
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

void mux_accept_ready(struct mux *m, unsigned k)
{
	struct mux_group *g = m->group;
	for (int burst = 0; burst < 64; burst++) {
		int fd = accept4(g->listen_fds[k], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				out_of_descriptors(m, errno);
			return;
		}
		m->listen_backoff_ms = 0;
		if (m->shutting_down ||
		    atomic_load(&g->total_conns) >= m->cfg->max_connections) {
			LOG_WARN("refusing connection: %s", m->shutting_down ? "shutting down" : "max_connections reached");
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		set_dead_peer_detection(fd, m->cfg);
		atomic_fetch_add(&g->total_conns, 1);
		unsigned target = atomic_fetch_add(&g->rr, 1) % g->n;
		if (target == m->idx) {
			conn_adopt(m, fd, g->listen_cfg[k]);
			continue;
		}
		struct msg *msg = msg_new(MSG_NEW_CONN, NULL);
		if (!msg) {
			close(fd);
			atomic_fetch_sub(&g->total_conns, 1);
			continue;
		}
		msg->status = fd;
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
