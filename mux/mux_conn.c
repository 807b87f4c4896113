/* Connection lifecycle and the byte path of a mux connection.
 *
 *   recv() --> filter 1 (TLS) --plaintext--> filter 2 (TLS) --> xml_stream
 *   send() <-- filter 0 (socket) / filter 1 <-- filter 2 <------ conn_send
 *
 * The filters (mux/xfilter.h: the socket, TLS layers over memory buffers)
 * form a chain, so a layer pushed by STARTTLS on a direct-TLS connection
 * simply sits on top of the first one.  Output goes down the chain at once;
 * what the socket does not take stays in the bottom buffers (the socket
 * filter's or filter 1's) and EPOLLOUT is armed.  Over max_output_buffer
 * pending bytes, the reader is too slow and the connection is closed
 * (policy: disconnect, logged). */
#include "mux/mux_int.h"
#include "mux/http/bosh_conn.h"
#include "mux/http/ws_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/route/router.h"
#include "core/base/mem.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "s2s/resolver.h"
#include "tls/tls.h"

#define READ_CHUNK 16384
#define PREAUTH_READ_CHUNK 4096

struct sess_handle conn_handle(const struct mux_conn *c)
{
	struct sess_handle h = { .thread = c->mux->idx, .slot = c->slot, .gen = c->gen };
	return h;
}

struct mux_conn *conn_by_handle(struct mux *m, struct sess_handle h)
{
	if (h.slot >= m->n_slots)
		return NULL;
	struct mux_conn *c = m->slots[h.slot];
	/* a detached session (XEP-0198) is dead to I/O but still takes
	 * deliveries into its queue */
	if (!c || (c->dead && !c->detached) || c->gen != h.gen)
		return NULL;
	return c;
}

bool conn_is_encrypted(const struct mux_conn *c)
{
	if (c->bosh) /* its requests come over TLS (bosh_session.c sees to it) */
		return conn_bosh(c) && conn_bosh(c)->secure;
	const struct tls_sess *top = conn_tls_top(c);
	return top && tls_sess_handshake_done(top);
}

static bool slot_alloc(struct mux *m, uint32_t *slot)
{
	if (m->n_free) {
		*slot = m->free_slots[--m->n_free];
		return true;
	}
	size_t n = m->n_slots ? m->n_slots * 2 : 256;
	struct mux_conn **ns = realloc(m->slots, n * sizeof(*ns));
	if (!ns)
		return false;
	m->slots = ns;
	uint32_t *ng = realloc(m->gens, n * sizeof(*ng));
	if (!ng)
		return false;
	m->gens = ng;
	uint32_t *nf = realloc(m->free_slots, n * sizeof(*nf));
	if (!nf)
		return false;
	m->free_slots = nf;
	for (size_t i = m->n_slots; i < n; i++) {
		m->slots[i] = NULL;
		m->gens[i] = 0;
	}
	/* hand out the lowest new slot now, keep the rest free */
	for (size_t i = n; i-- > m->n_slots + 1;)
		m->free_slots[m->n_free++] = (uint32_t)i;
	*slot = (uint32_t)m->n_slots;
	m->n_slots = n;
	return true;
}

static void preauth_add(struct mux_conn *c)
{
	struct mux *m = c->mux;
	c->neg->preauth_deadline_ms = mux_now_ms() + (uint64_t)m->cfg->preauth_timeout_s * 1000;
	c->neg->pa_prev = m->pa_tail;
	c->neg->pa_next = NULL;
	if (m->pa_tail)
		m->pa_tail->neg->pa_next = c;
	else
		m->pa_head = c;
	m->pa_tail = c;
	c->neg->on_preauth = true;
}

void conn_preauth_restart(struct mux_conn *c)
{
	if (!c->neg)
		return;
	conn_preauth_remove(c);
	preauth_add(c);
}

void conn_preauth_remove(struct mux_conn *c)
{
	struct mux *m = c->mux;
	if (!c->neg || !c->neg->on_preauth)
		return;
	if (c->neg->pa_prev)
		c->neg->pa_prev->neg->pa_next = c->neg->pa_next;
	else
		m->pa_head = c->neg->pa_next;
	if (c->neg->pa_next)
		c->neg->pa_next->neg->pa_prev = c->neg->pa_prev;
	else
		m->pa_tail = c->neg->pa_prev;
	c->neg->on_preauth = false;
}

/* Bytes waiting for the socket: the socket filter's (plaintext written
 * before the first TLS layer began, a <proceed/> held back while the input
 * that asked for STARTTLS is read, see output_progress: it goes first),
 * then filter 1's. */
static size_t bottom_pending(const struct mux_conn *c)
{
	size_t n = c->chain.sock_out.len, more = 0;
	if (c->chain.n > 1)
		xfilter_ops_of(&c->chain, 1)->pending(c, 1, &more);
	return n + more;
}

void conn_idle_remove(struct mux_conn *c)
{
	struct mux *m = c->mux;
	if (!c->on_idle)
		return;
	if (c->idle_prev)
		c->idle_prev->idle_next = c->idle_next;
	else
		m->idle_head = c->idle_next;
	if (c->idle_next)
		c->idle_next->idle_prev = c->idle_prev;
	else
		m->idle_tail = c->idle_prev;
	c->idle_prev = c->idle_next = NULL;
	c->on_idle = false;
}

/* Traffic on a bound session: it goes to the young end of the idle list.
 * A sleeping session has already been woken by the TLS and XML layers (every
 * call on them wakes implicitly); here it only rejoins the list. */
void conn_touch(struct mux_conn *c)
{
	struct mux *m = c->mux;
	if (!c->established || c->dead)
		return;
	c->last_active_ms = mux_now_ms(); /* also for [s2s] idle_timeout */
	if (!m->cfg->idle_sleep_s)
		return;
	if (c->asleep) {
		c->asleep = false;
		m->n_woken++;
		LOG_DEBUG("c%u.%llu: woken", m->idx, (unsigned long long)c->id);
	}
	if (c->on_idle && m->idle_tail == c)
		return;
	conn_idle_remove(c);
	c->idle_prev = m->idle_tail;
	if (m->idle_tail)
		m->idle_tail->idle_next = c;
	else
		m->idle_head = c;
	m->idle_tail = c;
	c->on_idle = true;
}

/* Puts an idle session to sleep: the XML parser is freed (the stream header
 * is kept for replay) and each TLS layer exported to a few hundred bytes.
 * Returns false if something is still in flight; the caller retries later. */
static bool conn_sleep(struct mux_conn *c)
{
	if (c->closing || c->in_parser || bottom_pending(c) || c->mux->cork_conn == c ||
	    conn_batch_pending(c))
		return false;
	if (c->role->sleep_ok && !c->role->sleep_ok(c))
		return false;
	for (unsigned i = 0; i < c->chain.n; i++)
		if (!xfilter_ops_of(&c->chain, i)->idle(c, i))
			return false;
	/* top down, the parser first; a filter that cannot sleep after all
	 * stays awake (any later call on it wakes it anyway) */
	for (unsigned i = c->chain.n; i-- > 0;)
		if (xfilter_ops_of(&c->chain, i)->sleep(c, i) != XS_OK)
			return false;
	conn_batch_trim(c);
	c->asleep = true;
	c->mux->n_slept++;
	LOG_DEBUG("c%u.%llu: idle, asleep", c->mux->idx, (unsigned long long)c->id);
	return true;
}

void conn_delay_insert(struct mux_conn *c, uint64_t deadline_ms)
{
	struct mux_conn **pp = &c->mux->dl_head;
	if (c->on_delay)
		return;
	while (*pp && (*pp)->delay_deadline_ms <= deadline_ms)
		pp = &(*pp)->dl_next;
	c->delay_deadline_ms = deadline_ms;
	c->dl_next = *pp;
	*pp = c;
	c->on_delay = true;
}

void conn_delay_remove(struct mux_conn *c)
{
	if (!c->on_delay)
		return;
	struct mux_conn **pp = &c->mux->dl_head;
	while (*pp && *pp != c)
		pp = &(*pp)->dl_next;
	if (*pp)
		*pp = c->dl_next;
	c->on_delay = false;
}

/* Under the parser: what the TLS layer below decrypts next is this
 * layer's ciphertext.  The caller checked that there is room. */
static void insert_tls(struct mux_conn *c, struct tls_sess *t)
{
	struct xchain *x = &c->chain;
	unsigned at = x->n;
	if (at && (x->type[at - 1] == XF_XML || x->type[at - 1] == XF_HTTP))
		at--;
	for (unsigned i = x->n; i > at; i--) {
		x->ctx[i] = x->ctx[i - 1];
		x->type[i] = x->type[i - 1];
	}
	x->ctx[at] = t;
	x->type[at] = XF_TLS;
	x->n++;
}

bool conn_push_tls_server(struct mux_conn *c, const char *alpn)
{
	if (c->mux->cork_conn == c)
		conn_uncork(c->mux); /* what was written goes under the old layers */
	struct xchain *x = &c->chain;
	if (x->n >= XCHAIN_MAX)
		return false;
	struct tls_sess *t = c->role->server_link ? tls_sess_new_server_peer(c->mux->tls, alpn)
						  : tls_sess_new_server(c->mux->tls, alpn);
	if (!t)
		return false;
	insert_tls(c, t);
	return true;
}

bool conn_push_tls_client(struct mux_conn *c, const struct tls_client_opts *o, char *err,
			  size_t errlen)
{
	if (c->mux->cork_conn == c)
		conn_uncork(c->mux); /* what was written goes under the old layers */
	struct xchain *x = &c->chain;
	if (x->n >= XCHAIN_MAX) {
		snprintf(err, errlen, "too many layers");
		return false;
	}
	struct tls_sess *t = tls_sess_new_client(o, err, errlen);
	if (!t)
		return false;
	insert_tls(c, t);
	/* the ClientHello */
	if (tls_sess_handshake(t) == XS_TLS) {
		snprintf(err, errlen, "%s", tls_sess_error(t));
		return false;
	}
	xchain_move_down(c);
	conn_flush(c);
	return true;
}

struct mux_conn *conn_new_outbound(struct mux *m, const struct stream_role_ops *role,
				   const struct cfg_listener *lst, const char *name)
{
	uint32_t slot;
	struct mux_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->mux = m;
	c->role = role;
	if (!role->init(c) || !slot_alloc(m, &slot)) {
		role->free(c);
		free(c);
		return NULL;
	}
	c->fd = -1;
	c->slot = slot;
	c->gen = ++m->gens[slot];
	c->id = ++m->conn_counter;
	c->lst = lst;
	c->chain.n = 1;
	c->chain.type[0] = XF_SOCKET;
	c->domain = "";
	c->peer_released = true; /* never in the peer table: we connected */
	m->slots[slot] = c;
	m->n_conns++;
	atomic_fetch_add(&m->group->total_conns, 1);
	shaper_init(c);
	snprintf(c->peer, sizeof(c->peer), "%.*s", (int)sizeof(c->peer) - 1, name);
	struct xml_stream_limits lim;
	conn_stream_limits(c, &lim);
	if (!conn_push_xml(c, &lim)) {
		c->dead = true;
		c->dead_next = m->dead_head;
		m->dead_head = c;
		return NULL;
	}
	return c;
}

struct mux_conn *conn_new_bosh(struct mux *m, const struct mux_conn *http, void *ctx)
{
	uint32_t slot;
	struct mux_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->mux = m;
	c->role = &c2s_role;
	if (!c->role->init(c) || !slot_alloc(m, &slot)) {
		c->role->free(c);
		free(c);
		return NULL;
	}
	c->fd = -1;
	c->slot = slot;
	c->gen = ++m->gens[slot];
	c->id = ++m->conn_counter;
	c->lst = http->lst;
	c->chain.n = 1;
	c->chain.type[0] = XF_BOSH;
	c->chain.ctx[0] = ctx;
	c->bosh = true;
	c->domain = "";
	/* counted in the peer table under the address that made it (the
	 * caller did peer_conn_open): forgotten when it ends */
	memcpy(c->peer, http->peer, sizeof(c->peer));
	c->peer_ip_off = http->peer_ip_off;
	c->peer_ip_len = http->peer_ip_len;
	m->slots[slot] = c;
	m->n_conns++;
	atomic_fetch_add(&m->group->total_conns, 1);
	shaper_init(c);
	struct xml_stream_limits lim;
	conn_stream_limits(c, &lim);
	if (!conn_push_xml_framed(c, &lim)) {
		/* ctx stays the caller's: the record goes without it */
		c->chain.ctx[0] = NULL;
		c->chain.type[0] = XF_SOCKET;
		c->bosh = false;
		c->dead = true;
		c->dead_next = m->dead_head;
		m->dead_head = c;
		return NULL;
	}
	preauth_add(c);
	return c;
}

enum xs conn_connect(struct mux_conn *c, const struct sockaddr_storage *sa)
{
	struct mux *m = c->mux;
	if (c->fd >= 0) {
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	socklen_t len = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return XS_IO;
	mux_socket_options(fd, m->cfg);
	if (connect(fd, (const struct sockaddr *)sa, len) != 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		errno = e;
		return XS_IO;
	}
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port;
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, port);
	}
	c->fd = fd;
	c->connecting = true;
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = MUX_TAG(MUX_TAG_CONN, c->slot) };
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int e = errno;
		close(fd);
		c->fd = -1;
		c->connecting = false;
		errno = e;
		return XS_IO;
	}
	return XS_OK;
}

/* conn_connect's answer: EPOLLOUT (or an error) on the connecting socket. */
static void connect_done(struct mux_conn *c, uint32_t events)
{
	if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return;
	int err = 0;
	socklen_t l = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
		err = errno;
	else if (!err && (events & (EPOLLERR | EPOLLHUP)))
		err = ECONNRESET;
	c->connecting = false;
	if (!err)
		conn_watch(c); /* input from now on, output when asked for */
	c->role->on_connected(c, err);
}

void conn_adopt(struct mux *m, int fd, const struct cfg_listener *lst, const char *ip,
		unsigned port)
{
	uint32_t slot;
	struct mux_conn *c = calloc(1, sizeof(*c));
	if (c) {
		c->mux = m;
		c->role = mux_role_for(lst);
	}
	if (!c || !c->role->init(c) || !slot_alloc(m, &slot)) {
		LOG_ERR("out of memory accepting a connection");
		if (c)
			c->role->free(c);
		free(c);
		close(fd);
		mux_peer_gone(m, ip, true);
		atomic_fetch_sub(&m->group->total_conns, 1);
		return;
	}
	c->fd = fd;
	c->slot = slot;
	c->gen = ++m->gens[slot];
	c->id = ++m->conn_counter;
	c->lst = lst;
	c->chain.n = 1; /* the socket filter */
	c->chain.type[0] = XF_SOCKET;
	c->domain = "";
	m->slots[slot] = c;
	m->n_conns++;
	shaper_init(c);

	/* the address accept() gave, which the peer table counted under */
	bool v6 = strchr(ip, ':');
	snprintf(c->peer, sizeof(c->peer), v6 ? "[%s]:%u" : "%s:%u", ip, port);
	c->peer_ip_off = v6;
	c->peer_ip_len = (unsigned char)strnlen(ip, INET6_ADDRSTRLEN - 1);

	struct xml_stream_limits lim;
	conn_stream_limits(c, &lim);
	bool top = c->role->push_top ? c->role->push_top(c) : conn_push_xml(c, &lim);
	if (!top || (lst->mode == CFG_MODE_DIRECT_TLS && !conn_push_tls_server(c, c->role->alpn))) {
		LOG_ERR("c%u.%llu: cannot set up the connection", m->idx, (unsigned long long)c->id);
		c->dead = true;
		c->dead_next = m->dead_head;
		m->dead_head = c;
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = MUX_TAG(MUX_TAG_CONN, slot) };
	epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev);
	preauth_add(c);
	LOG_INFO("c%u.%llu: accepted from %s on listener %s", m->idx, (unsigned long long)c->id,
		 c->peer, lst->name);
}

bool conn_switch_role(struct mux_conn *c, const struct stream_role_ops *role)
{
	/* the old role's state goes, the pre-auth list entry with it; the new
	 * one's negotiation has its own pre-auth time from now */
	c->role->free(c);
	c->role = role;
	if (!role->init(c)) {
		conn_close(c, "out of memory switching protocols");
		return false;
	}
	preauth_add(c);
	return true;
}

static void on_readable(struct mux_conn *c);

void conn_watch(struct mux_conn *c)
{
	if (c->fd < 0)
		return; /* a BOSH session, or a stream not connected yet */
	struct epoll_event ev = {
		.events = (c->throttled || c->peer_eof ? 0 : EPOLLIN | EPOLLRDHUP) |
			  (c->epollout ? EPOLLOUT : 0),
		.data.u64 = MUX_TAG(MUX_TAG_CONN, c->slot),
	};
	epoll_ctl(c->mux->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void set_epollout(struct mux_conn *c, bool on)
{
	if (c->epollout == on || c->dead)
		return;
	c->epollout = on;
	conn_watch(c);
}

/* Writes what the bottom filters hold to the socket: the socket filter's
 * bytes first, then filter 1's, uncopied. */
void conn_flush(struct mux_conn *c)
{
	if (c->bosh) {
		bosh_flush(c); /* no socket: a held request carries it */
		return;
	}
	while (!c->dead) {
		unsigned i = c->chain.sock_out.len || c->chain.n < 2 ? 0 : 1;
		const struct xfilter_ops *f = xfilter_ops_of(&c->chain, i);
		size_t len;
		const void *p = f->pending(c, i, &len);
		if (!len)
			break;
		ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_epollout(c, true);
				return;
			}
			conn_close(c, strerror(errno));
			return;
		}
		f->consume(c, i, (size_t)w);
	}
	if (c->dead)
		return;
	set_epollout(c, false);
	if (c->closing && c->websocket && !c->peer_eof && !c->peer_gone) {
		/* RFC 6455 7.1.1: the client answers our close frame with
		 * its own; closing the socket with that unread would reset
		 * the connection (a browser then reports an unclean close).
		 * Half-close, and read to the client's end (or the closing
		 * deadline): peer_finished closes it. */
		if (!c->write_shut) {
			shutdown(c->fd, SHUT_WR);
			c->write_shut = true;
		}
		return;
	}
	if (c->closing)
		conn_close(c, "closed after final flush");
}

bool xchain_move_down(struct mux_conn *c)
{
	for (unsigned i = c->chain.n; i-- > 2;) {
		const struct xfilter_ops *f = xfilter_ops_of(&c->chain, i);
		const struct xfilter_ops *below = xfilter_ops_of(&c->chain, i - 1);
		size_t len;
		const void *p;
		while ((p = f->pending(c, i, &len)) && len) {
			if (!below->send(c, i - 1, p, len))
				return false;
			f->consume(c, i, len);
		}
	}
	return true;
}

static void output_progress(struct mux_conn *c)
{
	if (!xchain_move_down(c) || c->dead)
		return;
	if (bottom_pending(c) > c->mux->cfg->max_output_buffer) {
		LOG_WARN("c%u.%llu: %zu bytes queued for a slow reader: over max_output_buffer, disconnecting",
			 c->mux->idx, (unsigned long long)c->id, bottom_pending(c));
		c->mux->n_limits[STATS_LIMIT_OUTPUT]++;
		conn_close(c, "output buffer limit");
		return;
	}
	/* While the peer's input is being read, what it causes goes out in
	 * one send at the end (on_readable): a stream header and its features,
	 * say, one TCP segment and one wake-up of the peer instead of two.
	 * While the inbox is drained, likewise for what the router sent: the
	 * presences of a roster's contacts at login, a burst of messages. */
	if (c->in_input)
		return;
	if (c->mux->draining) {
		if (!c->flush_queued) {
			c->flush_queued = true;
			c->flush_next = c->mux->flush_head;
			c->mux->flush_head = c;
		}
		return;
	}
	conn_flush(c);
}

void conn_flush_queued(struct mux *m)
{
	conn_uncork(m);
	while (m->flush_head) {
		struct mux_conn *c = m->flush_head;
		m->flush_head = c->flush_next;
		c->flush_next = NULL;
		c->flush_queued = false;
		/* a connection closed meanwhile is still allocated (mux_reap
		 * frees the dead after the loop's turn): only skipped */
		if (!c->dead)
			conn_flush(c);
	}
}

/* A TLS record carries at most 16 KiB of plaintext (RFC 8446 5.1). */
#define CORK_MAX 16384

void conn_send_through(struct mux_conn *c, const char *data, size_t len)
{
	unsigned top = c->chain.n - 1u;
	if (!xfilter_ops_of(&c->chain, top)->send(c, top, data, len))
		return;
	output_progress(c);
}

void conn_uncork(struct mux *m)
{
	struct mux_conn *c = m->cork_conn;
	m->cork_conn = NULL;
	m->sent_last = NULL;
	if (c && !c->dead && m->cork.len)
		conn_send_through(c, m->cork.data, m->cork.len);
	xbuf_reset(&m->cork);
}

void conn_send(struct mux_conn *c, const char *data, size_t len)
{
	if (c->dead || !len)
		return;
	conn_touch(c);
	if (c->batch && conn_batch_take(c, data, len))
		return;
	struct mux *m = c->mux;
	if (m->draining && conn_tls_count(c) && len < CORK_MAX &&
	    (m->cork_conn == c || m->sent_last == c)) {
		/* the second write in a row to c in this drain: from here on
		 * they wait (a single delivery, the usual case for a client,
		 * pays no copy) */
		if (m->cork_conn != c || m->cork.len + len > CORK_MAX)
			conn_uncork(m);
		if (xbuf_append(&m->cork, data, len) == XS_OK) {
			m->cork_conn = c;
			return;
		}
		xbuf_reset(&m->cork); /* out of memory: straight through */
	} else if (m->cork_conn) {
		conn_uncork(m); /* in order, whoever it was for */
	}
	m->sent_last = m->draining ? c : NULL;
	conn_send_through(c, data, len);
}

void conn_send_str(struct mux_conn *c, const char *s)
{
	conn_send(c, s, strlen(s));
}

void conn_stream_limits(const struct mux_conn *c, struct xml_stream_limits *lim)
{
	const struct cfg *cfg = c->mux->cfg;
	/* Before authentication a peer is anonymous and may open many
	 * connections: what each may make us hold is small (SASL messages
	 * are at most a few KiB). */
	*lim = (struct xml_stream_limits){
		.max_stanza_size = !c->authenticated     ? cfg->preauth_max_stanza
				   : c->role->server_link ? cfg->s2s_max_stanza_size
							  : cfg->max_stanza_size,
		.max_depth = cfg->max_depth,
		.max_attrs = cfg->max_attributes,
		.max_elements = c->authenticated ? cfg->max_elements : cfg->preauth_max_elements,
	};
}

void conn_request_restart(struct mux_conn *c)
{
	struct xml_stream_limits lim;
	conn_stream_limits(c, &lim);
	xml_stream_set_limits(conn_xml(c), &lim);
	c->role->on_restart(c);
	c->header_sent = false;
	/* Inside a parser callback the reset waits until expat has returned;
	 * otherwise (an answer from the storage thread) it happens now. */
	if (c->in_parser)
		c->reset_parser = true;
	else if (xml_stream_reset(conn_xml(c)) != XS_OK)
		conn_close(c, "parser reset failed");
	else if (c->websocket || c->bosh)
		ws_stream_restart(c); /* the root its messages are read under */
}

void xchain_up(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	if (i < c->chain.n)
		xfilter_ops_of(&c->chain, i)->recv(c, i, data, len);
}

/* The peer sent FIN: nothing more will come, but it may still read (a
 * half-close).  What we owe it goes out first, and the stream is closed
 * properly: our closing tag, close_notify, then the socket; only a peer
 * that cannot take them (RST, or not reading for 5 s) is cut off. */
static void peer_finished(struct mux_conn *c)
{
	c->peer_eof = true;
	conn_watch(c);
	if (c->role->keep_on_close(c)) {
		/* no </stream:stream>: the connection dropped, the session
		 * waits (c2s: for the client to resume it, XEP-0198) */
		conn_close(c, "peer closed the connection");
		return;
	}
	if (c->closing) {
		if (!bottom_pending(c))
			conn_close(c, "peer closed the connection");
		return;
	}
	if (c->header_sent)
		conn_send_str(c, "</stream:stream>");
	conn_close_after_flush(c, "peer closed the connection");
}

#define BACKLOG_PAUSE_MS 10

/* True when the router, or a mux thread's inbox of deliveries, is behind:
 * a bound session's input waits.  Every stanza a session sends goes
 * through the router's inbox and then, as deliveries, into mux inboxes;
 * pausing the senders while either queue is long keeps both bounded. */
static bool router_backlogged(struct mux_conn *c)
{
	struct mux *m = c->mux;
	long len = queue_len(router_inbox(m->router));
	for (unsigned i = 0; i < m->group->n; i++) {
		long l = queue_len(m->group->inboxes[i]);
		if (l > len)
			len = l;
	}
	if (len <= (long)m->cfg->max_router_backlog)
		return false;
	uint64_t now = mux_now_ms();
	m->backlog_pauses++;
	if (!m->backlog_log_ms || now - m->backlog_log_ms >= 1000) {
		LOG_WARN("mux%u: %ld stanzas wait for the router or a mux thread ([limits] "
			 "max_router_backlog = %u): %u session(s) paused for %d ms in the last second",
			 m->idx, len,
			 m->cfg->max_router_backlog, m->backlog_pauses, BACKLOG_PAUSE_MS);
		m->backlog_pauses = 0;
		m->backlog_log_ms = now;
	}
	return true;
}

static void read_input(struct mux_conn *c)
{
	char buf[READ_CHUNK];
	/* Before authentication one small read per event: the mux loop gives
	 * unauthenticated connections a time slice per turn (mux_loop.c,
	 * dispatch), and it can only be kept if each of their events is
	 * short.  Level-triggered epoll reports what is left next turn.  A
	 * closing connection only drains what it ignores: at full speed. */
	bool full = c->authenticated || c->closing;
	size_t chunk = full ? sizeof(buf) : PREAUTH_READ_CHUNK;
	int reads = full ? 8 : 1;
	for (int i = 0; i < reads && !c->dead; i++) {
		/* a closing connection drains at full speed: input is ignored */
		if (!c->closing && !c->peer_gone && !shaper_may_read(c))
			return;
		if (c->established && !c->closing && !c->peer_gone && router_backlogged(c)) {
			c->mux->n_limits[STATS_LIMIT_BACKLOG]++;
			shaper_pause(c, BACKLOG_PAUSE_MS);
			return;
		}
		ssize_t n = recv(c->fd, buf, chunk, 0);
		if (n > 0) {
			if (c->closing)
				continue; /* draining: input is ignored */
			shaper_took(c, (size_t)n);
			conn_touch(c);
			xchain_up(c, 1, buf, (size_t)n);
			if ((size_t)n < chunk)
				return;
			continue;
		}
		if (n == 0) {
			peer_finished(c);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_close(c, strerror(errno));
		return;
	}
}

void conn_readable(struct mux_conn *c)
{
	on_readable(c);
}

static void on_readable(struct mux_conn *c)
{
	c->in_input = true;
	read_input(c);
	c->in_input = false;
	if (!c->dead && bottom_pending(c))
		conn_flush(c);
}

void conn_on_event(struct mux_conn *c, uint32_t events)
{
	if (c->connecting) {
		connect_done(c, events);
		return;
	}
	if (events & EPOLLOUT)
		conn_flush(c);
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* Reported even while the input is not watched: the peer is
		 * gone, so what is left is read at once (nothing more can
		 * come), or a throttled socket would report this forever. */
		if (c->peer_eof) {
			conn_close(c, "peer gone");
			return;
		}
		c->peer_gone = true;
		shaper_release(c);
	}
	if (!c->dead && (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
		on_readable(c);
}

void conn_close_after_flush(struct mux_conn *c, const char *why)
{
	if (c->dead || c->closing)
		return;
	conn_batch_flush(c); /* its last words after what waited (uncorks it too) */
	if (c->mux->cork_conn == c)
		conn_uncork(c->mux); /* its last words first */
	c->closing = true;
	shaper_release(c); /* a closing stream drains its input at full speed */
	uint64_t deadline_ms = mux_now_ms() + 5000;
	LOG_DEBUG("c%u.%llu: closing: %s", c->mux->idx, (unsigned long long)c->id, why);
	/* a clean end, not "unexpected eof" */
	struct tls_sess *layers[XCHAIN_MAX];
	unsigned n = conn_tls_count(c);
	for (unsigned k = 0; k < n; k++)
		layers[k] = conn_tls_layer(c, k);
	tls_layers_close_notify(layers, n);
	conn_flush(c);
	/* A peer that does not read its last bytes is cut off after 5 s. */
	if (!c->dead)
		conn_delay_insert(c, deadline_ms); /* or sooner: a SASL delay already set */
}

void conn_close(struct mux_conn *c, const char *why)
{
	if (c->dead)
		return;
	struct mux *m = c->mux;
	bool detach = c->role->keep_on_close(c);
	const char *name = c->role->session_name(c);
	LOG_INFO("c%u.%llu: closed (%s)%s%s%s", m->idx, (unsigned long long)c->id, why,
		 name ? " session " : "", name ? name : "",
		 detach ? ", detached for resumption" : "");
	if (m->cork_conn == c) {
		/* written to a stream that ends now: lost with its socket, as
		 * whatever its TLS layers still held (a resumable session
		 * counts on its unacknowledged queue, not on these bytes) */
		m->cork_conn = NULL;
		xbuf_reset(&m->cork);
	}
	conn_batch_drop(c); /* likewise */
	c->dead = true;
	if (c->fd >= 0) {
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	conn_preauth_remove(c);
	conn_delay_remove(c);
	conn_idle_remove(c);
	shaper_forget(c);
	/* a detached session keeps its routing entry: mux_reap strips it and
	 * it waits on the detached list (mux/c2s/mux_sm.c) */
	c->detached = detach;
	if (!detach)
		c->role->on_closed(c);
	c->dead_next = m->dead_head;
	m->dead_head = c;
}

/* What only a live socket needs: a detached session keeps its record,
 * its JID and its SM state, a few hundred bytes. */
void conn_strip(struct mux_conn *c)
{
	c->role->strip(c);
	for (unsigned i = c->chain.n; i-- > 0;)
		xfilter_ops_of(&c->chain, i)->free(c, i);
	c->chain.n = 1; /* the socket filter, empty */
	c->chain.type[0] = XF_SOCKET; /* (a BOSH session's was its own) */
	c->bosh = false;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (!c->peer_released) {
		/* the address may connect again to resume: it no longer holds
		 * a connection there */
		char ip[INET6_ADDRSTRLEN];
		mux_peer_gone(c->mux, conn_peer_ip(c, ip), !c->authenticated);
		c->peer_released = true;
	}
}

/* Every bound session keeps its record, awake or asleep: a field added
 * here costs 10,000 sessions their share of the next size class. */
_Static_assert(sizeof(struct mux_conn) <= 384,
	       "struct mux_conn stays in jemalloc's 384-byte class (docs/internals/mux.md)");

static void conn_free(struct mux_conn *c)
{
	struct mux *m = c->mux;
	conn_strip(c);
	conn_batch_free(c);
	c->role->free(c);
	m->slots[c->slot] = NULL;
	m->gens[c->slot]++; /* stale handles no longer match */
	m->free_slots[m->n_free++] = c->slot;
	m->n_conns--;
	atomic_fetch_sub(&m->group->total_conns, 1);
	free(c);
}

void mux_reap(struct mux *m)
{
	while (m->dead_head) {
		struct mux_conn *c = m->dead_head;
		m->dead_head = c->dead_next;
		if (c->detached) {
			conn_strip(c);
			c->role->park(c);
		} else {
			conn_free(c);
		}
	}
}

void mux_timers(struct mux *m)
{
	uint64_t now = mux_now_ms();
	while (m->pa_head && m->pa_head->neg->preauth_deadline_ms <= now) {
		struct mux_conn *c = m->pa_head;
		conn_preauth_remove(c);
		if (!c->established && !c->dead && !c->closing) {
			/* authenticating and binding a resource both fit in
			 * preauth_timeout; an authenticated stream that never
			 * binds (or whose bind answer was lost) ends here too */
			LOG_INFO("c%u.%llu: %s within %us: closing", m->idx, (unsigned long long)c->id,
				 c->authenticated ? "authenticated but no resource bound"
						  : "not authenticated",
				 m->cfg->preauth_timeout_s);
			stream_error(c, "connection-timeout", NULL);
		}
	}
	uint64_t idle_ms = (uint64_t)m->cfg->idle_sleep_s * 1000;
	uint64_t slept_before = m->n_slept;
	while (idle_ms && m->idle_head && m->idle_head->last_active_ms + idle_ms <= now) {
		struct mux_conn *c = m->idle_head;
		conn_idle_remove(c);
		if (!conn_sleep(c)) {
			/* busy after all: look again after another idle period */
			c->asleep = false;
			conn_touch(c);
		}
	}
	/* the freed parsers and TLS objects go back to the kernel now, not
	 * whenever the allocator next looks */
	if (m->n_slept != slept_before)
		mem_release();
	if (m->resolver)
		s2s_resolver_timers(m->resolver);
	for (unsigned k = 0; k < mux_n_roles; k++)
		if (mux_roles[k]->thread_timers)
			mux_roles[k]->thread_timers(m);
	while (m->dl_head && m->dl_head->delay_deadline_ms <= now) {
		struct mux_conn *c = m->dl_head;
		m->dl_head = c->dl_next;
		c->on_delay = false;
		if (c->dead)
			continue;
		if (c->closing)
			conn_close(c, "close timed out");
		else
			c->role->on_timer(c);
	}
}

int mux_next_timeout_ms(struct mux *m)
{
	uint64_t next = UINT64_MAX;
	if (m->pa_head)
		next = m->pa_head->neg->preauth_deadline_ms;
	if (m->dl_head && m->dl_head->delay_deadline_ms < next)
		next = m->dl_head->delay_deadline_ms;
	if (m->cfg->idle_sleep_s && m->idle_head) {
		uint64_t t = m->idle_head->last_active_ms + (uint64_t)m->cfg->idle_sleep_s * 1000;
		if (t < next)
			next = t;
	}
	if (mux_accept_deadline(m) < next)
		next = mux_accept_deadline(m);
	for (unsigned k = 0; k < mux_n_roles; k++) {
		uint64_t t = mux_roles[k]->thread_deadline ? mux_roles[k]->thread_deadline(m)
							    : UINT64_MAX;
		if (t < next)
			next = t;
	}
	if (shaper_deadline(m) < next)
		next = shaper_deadline(m);
	int dns_ms = m->resolver ? s2s_resolver_timeout_ms(m->resolver, -1) : -1;
	if (dns_ms >= 0 && mux_now_ms() + (uint64_t)dns_ms < next)
		next = mux_now_ms() + (uint64_t)dns_ms;
	if (next == UINT64_MAX)
		return -1;
	uint64_t now = mux_now_ms();
	return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}
