/* Mux threads: creation of the group and its listening sockets, the epoll
 * loop of each thread, its inbox, timers and shutdown.
 *
 * Listening sockets are created once, so that a port in use is reported at
 * start-up, and every thread waits on them with EPOLLEXCLUSIVE.  Whichever
 * thread accepts picks the owner round-robin and, if that is another thread,
 * hands the socket over through the owner's inbox: connection k lives on
 * thread k mod N for its whole life. */
#include "mux/mux_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/route/router.h"
#include "core/xmpp/stanza.h"
#include "core/xml/xml_stream.h"
#include "s2s/resolver.h"
#include "tls/tls.h"

/* A lent parser is retired after reading this much: its table of element
 * and attribute names only grows, and 1 MiB of stanzas (some 5,000 chat
 * messages) makes the fresh parser that replaces it a negligible cost. */
#define XML_POOL_RETIRE_BYTES (1024ULL * 1024)

#define MUX_EPOLL_BATCH 128
/* Work for new and unauthenticated connections per loop turn (see
 * dispatch), less than one TLS handshake (~250 us here): at least one of
 * their events runs per turn whatever it costs, more only while time is
 * left. */
#define PREAUTH_SLICE_US 100

uint64_t mux_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t mux_now_ms(void)
{
	return mux_now_us() / 1000;
}

void mux_post(struct mux *m, unsigned thread, struct msg *msg)
{
	queue_push(m->group->inboxes[thread], &msg->qnode);
}

void mux_to_router(struct mux *m, struct msg *msg)
{
	queue_push_quiet(router_inbox(m->router), &msg->qnode);
	m->to_route = true;
}

static int listen_socket(const struct cfg_listener *l, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, l->address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(l->port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, l->address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(l->port);
		sl = sizeof(*s6);
	} else {
		snprintf(err, errlen, "listener %s: bad address '%s'", l->name, l->address);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "listener %s: socket: %s", l->name, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 4096) != 0) {
		snprintf(err, errlen, "listener %s: cannot listen on %s port %u: %s", l->name,
			 l->address, l->port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct mux_group *mux_group_new(const struct cfg *cfg, struct tls_ctx_set *tls,
				struct store_thread *store, char *err, size_t errlen)
{
	struct mux_group *g = calloc(1, sizeof(*g));
	if (!g)
		goto nomem;
	g->cfg = cfg;
	g->n_mux = cfg->threads ? cfg->threads : 1;
	g->n = g->n_mux;
	struct peer_limits pl = {
		.max_per_addr = cfg->max_connections_per_ip,
		.max_preauth = cfg->max_preauth_connections,
		.v6_prefix = cfg->ipv6_prefix,
		.max_idle = PEER_IDLE_RECORDS,
		.fail_memory_ms = PEER_FAIL_MEMORY_MS,
		.conn_rate = cfg->connection_rate_per_ip,
		.conn_burst = cfg->connection_burst_per_ip,
		.reg_per_hour = cfg->registrations_per_ip_per_hour,
	};
	if (!(g->peers = peer_table_new(&pl)))
		goto nomem;
	for (unsigned k = 0; k < 2; k++) {
		struct cfg_listener *l = &g->s2s_out_lst[k];
		snprintf(l->name, sizeof(l->name), "%s", k ? "s2s-out-tls" : "s2s-out");
		l->kind = CFG_LISTEN_S2S;
		l->mode = k ? CFG_MODE_DIRECT_TLS : CFG_MODE_STARTTLS;
		l->require_encryption = cfg->s2s_require_encryption;
		l->rate = 0;
		l->burst = 131072;
	}
	for (unsigned i = 0; i < CFG_MAX_LISTENERS; i++)
		g->listen_fds[i] = -1;
	bool http = false;
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		const struct cfg_listener *l = &cfg->listeners[i];
		if (!mux_role_for(l)) {
			LOG_WARN("listener %s: no stream role serves this type yet; skipped", l->name);
			continue;
		}
		int fd = listen_socket(l, err, errlen);
		if (fd < 0)
			goto fail;
		g->listen_cfg[g->n_listen] = l;
		g->listen_fds[g->n_listen++] = fd;
		http |= cfg_listener_is_http(l);
		LOG_INFO("listening on %s port %u (%s, %s, %s)", l->address, l->port, l->name,
			 mux_role_for(l)->name,
			 l->mode == CFG_MODE_DIRECT_TLS ? "direct TLS"
			 : cfg_listener_is_http(l)      ? "plaintext"
							: "STARTTLS");
	}
	/* the gateway threads exist only to serve an HTTP listener */
	if (http)
		g->n += cfg->http_threads;
	g->muxes = calloc(g->n, sizeof(*g->muxes));
	g->inboxes = calloc(g->n, sizeof(*g->inboxes));
	if (!g->muxes || !g->inboxes)
		goto nomem;
	for (unsigned i = 0; i < g->n; i++) {
		struct mux *m = &g->muxes[i];
		m->idx = i;
		m->gateway = i >= g->n_mux;
		m->group = g;
		m->cfg = cfg;
		m->tls = tls;
		tls_ctx_set_ref(tls);
		m->store = store;
		m->epfd = -1;
		if (queue_init(&m->inbox) != 0 ||
		    !(m->xml_pool = xml_parser_pool_new(XML_POOL_RETIRE_BYTES)))
			goto nomem;
		g->inboxes[i] = &m->inbox;
		m->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (m->epfd < 0) {
			snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
			goto fail;
		}
		if (queue_watch_edge(&m->inbox, m->epfd, MUX_TAG(MUX_TAG_INBOX, 0)) != 0) {
			snprintf(err, errlen, "epoll_ctl inbox: %s", strerror(errno));
			goto fail;
		}
		struct epoll_event ev;
		for (unsigned k = 0; k < g->n_listen; k++) {
			if (cfg_listener_is_http(g->listen_cfg[k]) != m->gateway)
				continue;
			ev.events = EPOLLIN | EPOLLEXCLUSIVE;
			ev.data.u64 = MUX_TAG(MUX_TAG_LISTEN, k);
			if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, g->listen_fds[k], &ev) != 0) {
				snprintf(err, errlen, "epoll_ctl listen: %s", strerror(errno));
				goto fail;
			}
		}
	}
	return g;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	mux_group_free(g);
	return NULL;
}

struct queue *const *mux_group_inboxes(struct mux_group *g, unsigned *n)
{
	*n = g->n;
	return g->inboxes;
}

unsigned mux_group_n_mux(const struct mux_group *g)
{
	return g->n_mux;
}

/* Messages handled before what they queued for the sockets goes out, at
 * most: a long inbox does not hold the first stanza's bytes back for long. */
#define INBOX_FLUSH_EVERY 256

static void inbox_ready(struct mux *m)
{
	/* edge-triggered (queue_watch_edge): drained, never read */
	struct queue_node *n;
	unsigned handled = 0;
	m->draining = true;
	while ((n = queue_pop(&m->inbox))) {
		struct msg *msg = container_of(n, struct msg, qnode);
		if (++handled % INBOX_FLUSH_EVERY == 0)
			conn_flush_queued(m);
		struct mux_conn *c;
		switch (msg->type) {
		case MSG_NEW_CONN:
			if (m->shutting_down) {
				close(msg->status);
				mux_peer_gone(m, msg->data, true);
				atomic_fetch_sub(&m->group->total_conns, 1);
			} else {
				conn_adopt(m, msg->status, msg->ptr, msg->data, (unsigned)msg->priority);
			}
			break;
		case MSG_DELIVER:
			c = conn_by_handle(m, msg->h);
			if ((c && c->role->deliver(c, msg)) || m->shutting_down)
				break;
			/* The session is closing or gone: give the stanza back
			 * so the router routes it as if this resource had not
			 * been there, instead of losing it. */
			msg->type = MSG_UNDELIVERED;
			mux_to_router(m, msg);
			continue;
		case MSG_BIND_RESULT:
		case MSG_KICK:
			c = conn_by_handle(m, msg->h);
			if (c)
				c->role->on_msg(c, msg);
			break;
		case MSG_CTL_SESSIONS:
			mux_ctl_sessions(m, msg);
			break;
		case MSG_STATS:
			mux_stats(m, msg);
			break;
		case MSG_RELOAD_TLS:
			tls_ctx_set_unref(m->tls);
			m->tls = msg->ptr;
			LOG_INFO("TLS certificates reloaded");
			break;
		case MSG_SHUTDOWN:
			m->shutting_down = true;
			for (unsigned k = 0; k < mux_n_roles; k++)
				if (mux_roles[k]->thread_shutdown)
					mux_roles[k]->thread_shutdown(m);
			for (size_t i = 0; i < m->n_slots; i++)
				if (m->slots[i] && !m->slots[i]->dead)
					stream_error(m->slots[i], "system-shutdown", NULL);
			break;
		default: {
			/* a role's message to the thread (c2s: XEP-0198
			 * hand-overs, the storage thread's answers) */
			bool taken = false, forwarded = false;
			for (unsigned k = 0; k < mux_n_roles && !taken; k++)
				if (mux_roles[k]->thread_msg)
					taken = mux_roles[k]->thread_msg(m, msg, &forwarded);
			if (!taken)
				LOG_WARN("mux: unexpected message %d", (int)msg->type);
			if (forwarded)
				continue;
			break;
		}
		}
		msg_free(msg);
	}
	m->draining = false;
	conn_flush_queued(m);
}

/* Routes what this thread handed to the router during the iteration, here
 * if the router's baton is free (router_drain), and then reads what came
 * back to this thread's inbox: where mux and router share a core that saves
 * a switch to the router and one back per batch.  A delivery this thread
 * cannot make goes back to the router, hence the rounds; whatever is still
 * pending after a few of them is left to the router thread. */
static void route_in_place(struct mux *m)
{
	for (int round = 0; m->to_route && round < 4; round++) {
		m->to_route = false;
		router_drain(m->router, &m->inbox);
		inbox_ready(m);
	}
	if (m->to_route) {
		m->to_route = false;
		queue_signal(router_inbox(m->router));
	}
}

/* One epoll batch, in two passes.  Sessions that have authenticated go
 * first, with the inbox, and what they sent is routed at once; then new
 * connections and those not yet authenticated, for at most
 * PREAUTH_SLICE_US.  Events left over are reported again by the next
 * epoll_wait (every socket here is level-triggered), which then returns
 * at once, after the next pass of authenticated sessions.
 *
 * Why: a pre-auth event can cost a TLS handshake, a stream error and a
 * close, or a burst of accepts and refusals; in one pass, a chat message
 * that shared a batch with a few dozen of them waited milliseconds for
 * its turn (the hostile bench scenario, docs/hardening.md).  Now the work
 * anonymous peers can cause between two turns of the authenticated
 * sessions is bounded by the slice plus one event; under a flood of them
 * it is logins that slow down, not the users already in. */
static void dispatch(struct mux *m, const struct epoll_event *evs, int n)
{
	int later[MUX_EPOLL_BATCH], n_later = 0;
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64 >> 56;
		uint64_t v = evs[i].data.u64 & ((1ULL << 56) - 1);
		if (tag == MUX_TAG_INBOX) {
			inbox_ready(m);
		} else if (tag == MUX_TAG_LISTEN) {
			later[n_later++] = i;
		} else if (tag == MUX_TAG_RESOLVER) {
			if (m->resolver)
				s2s_resolver_on_event(m->resolver, (int)(v & 0xffffffffu), evs[i].events);
		} else if (v < m->n_slots && m->slots[v] && !m->slots[v]->dead) {
			if (m->slots[v]->authenticated)
				conn_on_event(m->slots[v], evs[i].events);
			else
				later[n_later++] = i;
		}
	}
	if (!n_later)
		return;
	route_in_place(m);
	uint64_t end = mux_now_us() + PREAUTH_SLICE_US;
	for (int j = 0; j < n_later; j++) {
		if (j && mux_now_us() >= end)
			break;
		int i = later[j];
		uint64_t tag = evs[i].data.u64 >> 56;
		uint64_t v = evs[i].data.u64 & ((1ULL << 56) - 1);
		if (tag == MUX_TAG_LISTEN)
			mux_accept_ready(m, (unsigned)v);
		else if (v < m->n_slots && m->slots[v] && !m->slots[v]->dead)
			conn_on_event(m->slots[v], evs[i].events);
	}
}

static void *mux_main(void *arg)
{
	struct mux *m = arg;
	char name[16];
	/* a gateway thread's number counts from 0 after the mux threads;
	 * its connections keep the thread index in their ids (c2.1) */
	if (m->gateway)
		snprintf(name, sizeof(name), "http%u", m->idx - m->group->n_mux);
	else
		snprintf(name, sizeof(name), "mux%u", m->idx);
	log_set_thread_name(name);
	struct epoll_event evs[MUX_EPOLL_BATCH];
	uint64_t shutdown_started = 0;
	for (;;) {
		int timeout = mux_next_timeout_ms(m);
		if (m->shutting_down)
			timeout = 50;
		int n;
		uint64_t batch_due = mux_batch_deadline_us(m);
		if (batch_due == UINT64_MAX) {
			n = epoll_wait(m->epfd, evs, MUX_EPOLL_BATCH, timeout);
		} else {
			/* a server link's batch is due in less than a
			 * millisecond, often: epoll_wait's milliseconds would
			 * hold it up to twice its delay */
			uint64_t now = mux_now_us();
			uint64_t wait_us = batch_due > now ? batch_due - now : 0;
			if (timeout >= 0 && (uint64_t)timeout * 1000 < wait_us)
				wait_us = (uint64_t)timeout * 1000;
			struct timespec ts = {.tv_sec = (time_t)(wait_us / 1000000),
					      .tv_nsec = (long)(wait_us % 1000000) * 1000};
			n = epoll_pwait2(m->epfd, evs, MUX_EPOLL_BATCH, &ts, NULL);
		}
		if (n < 0 && errno != EINTR) {
			LOG_ERR("epoll_wait: %s", strerror(errno));
			break;
		}
		dispatch(m, evs, n);
		mux_timers(m);
		mux_accept_resume(m);
		shaper_resume_due(m);
		mux_reap(m);
		route_in_place(m);
		mux_batch_due(m);
		if (m->shutting_down) {
			if (!shutdown_started)
				shutdown_started = mux_now_ms();
			/* Give closing streams a moment to flush, then stop. */
			if (m->n_conns == 0 || mux_now_ms() - shutdown_started > 3000)
				break;
		}
	}
	for (size_t i = 0; i < m->n_slots; i++)
		if (m->slots[i] && !m->slots[i]->dead)
			conn_close(m->slots[i], "server stopped");
	mux_reap(m);
	s2s_resolver_free(m->resolver); /* nothing waits on it: its streams are gone */
	m->resolver = NULL;
	/* the unbinds of those sessions are the router thread's now */
	if (m->to_route)
		queue_signal(router_inbox(m->router));
	return NULL;
}

void mux_group_set_fake_salt_key(struct mux_group *g, const uint8_t key[32])
{
	memcpy(g->fake_salt_key, key, sizeof(g->fake_salt_key));
	g->has_fake_salt_key = true;
}

void mux_group_set_dialback_secret(struct mux_group *g, const uint8_t key[32])
{
	memcpy(g->dialback_secret, key, sizeof(g->dialback_secret));
	g->has_dialback_secret = true;
}

int mux_group_start(struct mux_group *g, struct router *router)
{
	for (unsigned i = 0; i < g->n; i++) {
		g->muxes[i].router = router;
		if (pthread_create(&g->muxes[i].thread, NULL, mux_main, &g->muxes[i]) != 0)
			return -1;
		g->muxes[i].running = true;
	}
	return 0;
}

void mux_group_reload_tls(struct mux_group *g, struct tls_ctx_set *tls)
{
	for (unsigned i = 0; i < g->n; i++) {
		struct msg *msg = msg_new(MSG_RELOAD_TLS, NULL);
		if (!msg)
			continue;
		tls_ctx_set_ref(tls);
		msg->ptr = tls;
		queue_push(&g->muxes[i].inbox, &msg->qnode);
	}
}

void mux_group_stop(struct mux_group *g)
{
	for (unsigned i = 0; i < g->n; i++) {
		if (!g->muxes[i].running)
			continue;
		struct msg *msg = msg_new(MSG_SHUTDOWN, NULL);
		if (msg)
			queue_push(&g->muxes[i].inbox, &msg->qnode);
	}
	for (unsigned i = 0; i < g->n; i++) {
		if (g->muxes[i].running)
			pthread_join(g->muxes[i].thread, NULL);
		g->muxes[i].running = false;
	}
}

void mux_group_free(struct mux_group *g)
{
	if (!g)
		return;
	for (unsigned i = 0; g->muxes && i < g->n; i++) {
		struct mux *m = &g->muxes[i];
		if (!m->group)
			continue;
		struct queue_node *n;
		if (g->inboxes[i]) {
			while ((n = queue_pop(&m->inbox))) {
				struct msg *msg = container_of(n, struct msg, qnode);
				if (msg->type == MSG_NEW_CONN)
					close(msg->status);
				else if (msg->type == MSG_RELOAD_TLS)
					tls_ctx_set_unref(msg->ptr);
				else
					for (unsigned k = 0; k < mux_n_roles; k++)
						if (mux_roles[k]->thread_drop &&
						    mux_roles[k]->thread_drop(msg))
							break;
				msg_free(msg);
			}
			queue_deinit(&m->inbox);
		}
		s2s_resolver_free(m->resolver);
		m->resolver = NULL;
		xml_parser_pool_free(m->xml_pool);
		if (m->bosh_sids_ready) /* its sessions went with the connections */
			hmap_deinit(&m->bosh_sids);
		m->bosh_sids_ready = false;
		xbuf_free(&m->scratch);
		xbuf_free(&m->cork);
		if (m->epfd >= 0)
			close(m->epfd);
		if (m->tls)
			tls_ctx_set_unref(m->tls);
		free(m->slots);
		free(m->gens);
		free(m->free_slots);
	}
	for (unsigned k = 0; k < g->n_listen; k++)
		close(g->listen_fds[k]);
	explicit_bzero(g->fake_salt_key, sizeof(g->fake_salt_key));
	explicit_bzero(g->dialback_secret, sizeof(g->dialback_secret));
	peer_table_free(g->peers);
	free(g->muxes);
	free(g->inboxes);
	free(g);
}

/* ---- test seam (mux/mux_test_seam.h): tests/fuzz/fuzz_c2s.c runs one mux
 * step by step in the fuzzer's thread, so it needs the two static steps of
 * an iteration; the loop itself does not use these. */
#include "mux/mux_test_seam.h"

void mux_test_inbox_ready(struct mux *m)
{
	inbox_ready(m);
}

void mux_test_route(struct mux *m)
{
	route_in_place(m);
}
