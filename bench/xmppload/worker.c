/* One worker thread of the load generator: an epoll set, a timerfd tick
 * (--tick-us, 1 ms by default), and the connections of a contiguous block
 * of users.
 *
 * The tick paces everything that has a rate.  At each tick the worker works
 * out how many logins (or messages) its share of the offered rate should
 * have produced since the phase began and makes up the difference, so the
 * average rate is exact however late a tick fires; bursts are bounded to a
 * tick's worth plus any backlog from a stall.  Message sends go out
 * at once (no coalescing), so a message's timestamp is taken just before
 * its bytes are encrypted and written. */
#include "bench/xmppload/xmppload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define SWEEP_NS 100000000ull
/* Messages per tick at most: a stall must not turn into one huge burst
 * that starves reading. */
#define MAX_BURST 2000

static void launch_due(struct worker *w, uint64_t now)
{
	double elapsed = (double)(now - w->launch_t0) / 1e9;
	uint64_t due = (uint64_t)(elapsed * w->launch_rate) + 1;

	if (due > w->n)
		due = w->n;
	while (w->launched < due && w->pending < w->max_pending)
		client_launch(w, client_at(w, w->launched++));
}

static void chat_due(struct worker *w, uint64_t now)
{
	const struct load_cfg *cfg = w->cfg;
	struct shared *sh = w->sh;
	double elapsed = (double)(now - sh->chat_t0) / 1e9;
	uint64_t due = (uint64_t)(elapsed * cfg->rate / cfg->threads), burst = 0;

	/* Seq numbers interleave the threads: thread t sends t, t+T, t+2T... */
	while (w->chat_seq < due && burst++ < MAX_BURST && w->n_online && sh->n_online > 1) {
		struct conn *from = w->online[rng_next(&w->rng) % w->n_online];
		unsigned self = client_user(from), to;
		uint64_t seq = w->chat_seq * cfg->threads + w->idx;

		if (seq >= sh->seen_bits)
			break;
		if (cfg->peer_host) {
			/* federation: a random partner on the other server (the
			 * first server's users are a prefix of sh->online). */
			bool peer = cfg_on_peer(cfg, self);
			unsigned lo = peer ? 0 : sh->n_online_first;
			unsigned cnt = peer ? sh->n_online_first : sh->n_online - sh->n_online_first;

			if (cnt == 0)
				break;
			to = sh->online[lo + rng_next(&w->rng) % cnt];
		} else {
			/* A random partner other than the sender. */
			do
				to = sh->online[rng_next(&w->rng) % sh->n_online];
			while (to == self);
		}
		w->chat_seq++;
		client_send_chat(w, from, sh->jids[to - cfg->first_user], seq);
	}
}

/* presence: this thread's online users change presence in turn, so every
 * user changes at about the same rate (--rate / --users per second). */
static void presence_due(struct worker *w, uint64_t now)
{
	const struct load_cfg *cfg = w->cfg;
	struct shared *sh = w->sh;
	double elapsed = (double)(now - sh->chat_t0) / 1e9;
	uint64_t due = (uint64_t)(elapsed * cfg->rate / cfg->threads), burst = 0;

	while (w->chat_seq < due && burst++ < MAX_BURST && w->n_online) {
		struct conn *from = w->online[w->pres_next++ % w->n_online];
		uint64_t seq = w->chat_seq * cfg->threads + w->idx;

		if ((seq + 1) * cfg->roster_size > sh->seen_bits)
			break;
		w->chat_seq++;
		atomic_fetch_add_explicit(&w->prog.expected,
					  sh->contacts_online[client_user(from) - cfg->first_user],
					  memory_order_relaxed);
		client_send_presence(w, from, seq);
	}
}

static void on_tick(struct worker *w, int phase)
{
	uint64_t now = now_ns();

	if (phase == PH_LOGIN && w->launched < w->n)
		launch_due(w, now);
	if (phase == PH_CHAT && w->cfg->scenario == SC_PRESENCE)
		presence_due(w, now);
	else if (phase == PH_CHAT)
		chat_due(w, now);
	if (now - w->last_sweep >= SWEEP_NS) {
		w->last_sweep = now;
		client_sweep(w, now);
	}
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	long tick_ns = (long)w->cfg->tick_us * 1000;
	struct itimerspec its = {
		.it_interval = { .tv_sec = tick_ns / 1000000000, .tv_nsec = tick_ns % 1000000000 },
		.it_value = { .tv_sec = tick_ns / 1000000000, .tv_nsec = tick_ns % 1000000000 },
	};
	struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
	int last_phase = -1;
	bool pinged = false, warmed = false;

	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->ep < 0 || w->tfd < 0 || timerfd_settime(w->tfd, 0, &its, NULL) < 0 ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->tfd, &tev) < 0) {
		snprintf(w->first_error, sizeof(w->first_error), "epoll/timerfd: %s", strerror(errno));
		w->login_fail += w->n;
		atomic_fetch_add(&w->prog.logins_done, w->n);
		return NULL;
	}
	w->launch_t0 = now_ns();
	w->last_sweep = w->launch_t0;
	for (;;) {
		int phase = atomic_load_explicit(&w->sh->phase, memory_order_acquire);
		int n;

		if (phase == PH_STOP)
			break;
		if (phase == PH_CHECK && !pinged) {
			pinged = true;
			/* Every session still up gets one ping; the answer (result
			 * or error, either proves the stream is alive) counts. */
			atomic_store(&w->prog.check_sent, w->n_online);
			for (unsigned i = 0; i < w->n_online;) {
				unsigned before = w->n_online;
				client_send_ping(w, w->online[i], NULL);
				if (w->n_online == before)
					i++;
			}
			atomic_store(&w->prog.check_ready, 1);
		}
		if (phase == PH_WARM && !warmed) {
			/* federation: a ping from this thread's first online user
			 * to the other server's domain goes out over one s2s link
			 * and its answer comes back over the other, so both are up
			 * before the measured phase, as a long-lived federation's
			 * links are. */
			warmed = true;
			if (w->n_online) {
				atomic_store(&w->prog.check_sent, 1);
				client_send_ping(w, w->online[0], client_other_host(w, w->online[0]));
			}
			atomic_store(&w->prog.check_ready, 1);
		}
		last_phase = phase;
		n = epoll_wait(w->ep, evs, MAX_EVENTS, 100);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				uint64_t ticks;
				if (read(w->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					break;
				on_tick(w, last_phase);
				continue;
			}
			client_event(w, evs[i].data.ptr, evs[i].events);
		}
	}
	for (unsigned i = 0; i < w->n; i++)
		client_close(w, client_at(w, i));
	getrusage(RUSAGE_THREAD, &w->ru);
	close(w->tfd);
	close(w->ep);
	return NULL;
}
