/* xmppload: an XMPP load generator (bench issue, item 1).
 *
 * main() parses the command line, starts one worker per thread (each owns
 * a contiguous block of users and their connections) and then drives the
 * run's phases through one shared atomic: PH_LOGIN until every user has
 * logged in or failed, then the scenario's own phases, then PH_STOP.  It
 * never touches a connection; it polls the workers' atomic progress counters
 * every 10 ms, and reads their histograms and totals only after joining
 * them.  CPU time (getrusage) is taken around the measured phase so the
 * reader can see whether the generator itself was the bottleneck.
 *
 * chat with --peer-host is the federation run: the same chat, the second
 * half of the users logged in to a second server (another domain), each
 * message sent to a user on the other server, so that it crosses the
 * server-to-server link; latency and loss are measured as for chat.
 *
 * hostile is chat plus an attacker thread (attack.c) started with the
 * workers; its flooder logs in during PH_LOGIN as the account after the
 * chat users, and its attacks run during PH_CHAT only.
 *
 * presence needs rosters provisioned on the server beforehand (a ring:
 * user index i's contacts are i-K/2..i-1 and i+1..i+K/2 mod --users, all
 * 'both'; bench/lib/compare.py writes them for xmppd, Prosody and
 * ejabberd).  Every login gets its roster, then sends initial presence;
 * main waits until the contacts' initial presences have arrived (each
 * online pair owes two, one each way) or --settle has passed, then the
 * users change presence in turn at --rate for --duration, and each change
 * is owed to every online contact of its sender. */
#include "bench/xmppload/xmppload.h"
#include "bench/xmppload/attack.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/base/log.h"
#include "tls/tls.h"

#define POLL_NS 10000000ull

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static uint64_t sum_prog(struct worker *ws, unsigned n, size_t off)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < n; i++)
		s += atomic_load((_Atomic uint64_t *)((char *)&ws[i].prog + off));
	return s;
}

#define SUM(field) sum_prog(ws, cfg->threads, offsetof(struct wprogress, field))

/* Enough descriptors for every session plus slack; more than 60k sessions
 * needs a raised hard limit (ulimit -Hn) as well as source addresses. */
static void raise_nofile(const struct load_cfg *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < cfg->users + 64ull)
		fprintf(stderr, "xmppload: warning: %llu file descriptors allowed for %u sessions\n",
			(unsigned long long)rl.rlim_cur, cfg->users);
}

static void set_phase(struct shared *sh, enum phase p)
{
	atomic_store_explicit(&sh->phase, p, memory_order_release);
}

int main(int argc, char **argv)
{
	struct load_cfg cfg_s;
	const struct load_cfg *cfg = &cfg_s;
	struct shared sh = { 0 };
	struct worker *ws;
	struct run_result r;
	struct attack atk;
	bool attacking, flooding;
	struct rusage ru0, ru1, ru2;
	uint64_t t0, t_login, t_phase0, t_phase1, deadline;

	if (opts_parse(&cfg_s, argc, argv) < 0)
		return 2;
	log_set_level(LOG_LVL_ERROR);
	if (tls_global_init() != XS_OK) {
		fprintf(stderr, "xmppload: TLS library initialisation failed\n");
		return 1;
	}
	raise_nofile(cfg);

	memset(&r, 0, sizeof(r));
	sh.cfg = cfg;
	attacking = cfg->attackers + cfg->hold_conns > 0;
	flooding = attacking && cfg->attackers && (cfg->attack_kinds & (1u << AK_COUNT));
	/* One more slot for the flooder's JID (the account after the users). */
	sh.jids = calloc(cfg->users + 1, sizeof(*sh.jids));
	sh.online = calloc(cfg->users, sizeof(*sh.online));
	if (cfg_chats(cfg)) {
		/* Room for every sequence number the offered rate can produce,
		 * plus a tick's burst per thread. */
		sh.seen_bits = (uint64_t)(cfg->rate * (cfg->duration + 1)) + 64ull * cfg->threads + 64;
		sh.seen = calloc(sh.seen_bits / 64 + 1, sizeof(*sh.seen));
	}
	if (cfg->scenario == SC_PRESENCE) {
		/* K bits per change: one per contact slot of its sender. */
		sh.seen_bits = ((uint64_t)(cfg->rate * (cfg->duration + 1)) + 64ull * cfg->threads + 64) *
			       cfg->roster_size;
		sh.seen = calloc(sh.seen_bits / 64 + 1, sizeof(*sh.seen));
		sh.contacts_online = calloc(cfg->users, sizeof(*sh.contacts_online));
	}
	ws = calloc(cfg->threads, sizeof(*ws));
	if (!sh.jids || !sh.online || !ws || ((cfg_chats(cfg) || cfg->scenario == SC_PRESENCE) &&
					       !sh.seen) ||
	    (cfg->scenario == SC_PRESENCE && !sh.contacts_online)) {
		fprintf(stderr, "xmppload: out of memory\n");
		return 1;
	}
	atomic_store(&sh.phase, PH_LOGIN);

	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_ns();
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct worker *w = &ws[i];
		double login_rate = cfg->scenario == SC_LOGIN ? cfg->rate : cfg->login_rate;

		w->idx = i;
		w->sh = &sh;
		w->cfg = cfg;
		w->first = (unsigned)((uint64_t)cfg->users * i / cfg->threads);
		w->n = (unsigned)((uint64_t)cfg->users * (i + 1) / cfg->threads) - w->first;
		w->launch_rate = login_rate / cfg->threads;
		w->max_pending = cfg->max_pending / cfg->threads ? cfg->max_pending / cfg->threads : 1;
		w->rng = cfg->seed * 0x9e3779b97f4a7c15ull + i + 1;
		w->roster_min = UINT_MAX;
		hist_init(&w->login_h);
		hist_init(&w->lat_h);
		w->conns = client_table_new(w);
		w->online = calloc(w->n ? w->n : 1, sizeof(*w->online));
		if (!w->conns || !w->online) {
			fprintf(stderr, "xmppload: out of memory\n");
			return 1;
		}
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			fprintf(stderr, "xmppload: cannot start thread %u\n", i);
			return 1;
		}
	}

	if (attacking && attack_start(&atk, cfg, &sh) < 0) {
		fprintf(stderr, "xmppload: cannot start the attackers\n");
		return 1;
	}

	/* PH_LOGIN: every user logs in or fails (each has its own timeout). */
	while (SUM(logins_done) < cfg->users || (attacking && !atomic_load(&atk.flood_done)))
		sleep_ns(POLL_NS);
	t_login = now_ns();
	r.login_s = (double)(t_login - t0) / 1e9;

	/* Publish the online users for partner choice: the workers wrote
	 * jids[] before their release increment of logins_done. */
	for (unsigned u = 0; u < cfg->users; u++) {
		if (sh.jids[u])
			sh.online[sh.n_online++] = cfg->first_user + u;
		if (u + 1 == cfg->peer_first)
			sh.n_online_first = sh.n_online;
	}

	getrusage(RUSAGE_SELF, &ru1);
	t_phase0 = now_ns();
	switch (cfg->scenario) {
	case SC_LOGIN:
		t_phase0 = t0;
		ru1 = ru0;
		break;
	case SC_IDLE:
		set_phase(&sh, PH_HOLD);
		sleep_ns((uint64_t)(cfg->duration * 1e9));
		set_phase(&sh, PH_CHECK);
		deadline = now_ns() + (uint64_t)(cfg->drain * 1e9);
		for (;;) {
			bool ready = true;

			for (unsigned i = 0; i < cfg->threads; i++)
				ready = ready && atomic_load(&ws[i].prog.check_ready);
			if (ready && SUM(checked) >= SUM(check_sent))
				break;
			if (now_ns() > deadline)
				break;
			sleep_ns(POLL_NS);
		}
		break;
	case SC_CHAT:
	case SC_HOSTILE:
		/* The flooder's victim: the first chat user online. */
		if (flooding && sh.n_online)
			sh.victim = sh.online[0];
		if (cfg->peer_host) {
			/* federation: bring both s2s links up first (10 s at most). */
			uint64_t w0 = now_ns();

			set_phase(&sh, PH_WARM);
			deadline = w0 + 10000000000ull;
			for (;;) {
				bool ready = true;

				for (unsigned i = 0; i < cfg->threads; i++)
					ready = ready && atomic_load(&ws[i].prog.check_ready);
				if ((ready && SUM(checked) >= SUM(check_sent)) || now_ns() > deadline)
					break;
				sleep_ns(POLL_NS / 10);
			}
			r.warm_s = (double)(now_ns() - w0) / 1e9;
			r.warm_sent = SUM(check_sent);
			r.warm_answered = SUM(checked);
			getrusage(RUSAGE_SELF, &ru1);
			t_phase0 = now_ns();
		}
		sh.chat_t0 = now_ns();
		set_phase(&sh, PH_CHAT);
		sleep_ns((uint64_t)(cfg->duration * 1e9));
		set_phase(&sh, PH_DRAIN);
		/* Let the last tick's sends land before judging completeness. */
		sleep_ns(5 * POLL_NS);
		deadline = now_ns() + (uint64_t)(cfg->drain * 1e9);
		while (SUM(delivered) < SUM(sent) && now_ns() < deadline)
			sleep_ns(POLL_NS);
		break;
	case SC_PRESENCE: {
		uint64_t quiet_since, last, settle_end;

		/* Online contacts per user: what each change is owed, and
		 * (summed) the initial presences owed. */
		for (unsigned u = 0; u < cfg->users; u++) {
			if (!sh.jids[u])
				continue;
			for (unsigned d = 1; d <= cfg->roster_size / 2; d++)
				sh.contacts_online[u] += (sh.jids[(u + d) % cfg->users] != NULL) +
							 (sh.jids[(u + cfg->users - d) % cfg->users] != NULL);
			r.initial_expected += sh.contacts_online[u];
		}
		/* Settle: until every initial presence is in, or none came for
		 * 2 s, or --settle passed. */
		settle_end = now_ns() + (uint64_t)(cfg->settle * 1e9);
		last = SUM(initial);
		quiet_since = now_ns();
		while (last < r.initial_expected && now_ns() < settle_end &&
		       now_ns() - quiet_since < 2000000000ull) {
			uint64_t cur;

			sleep_ns(POLL_NS);
			cur = SUM(initial);
			if (cur != last)
				quiet_since = now_ns();
			last = cur;
		}
		getrusage(RUSAGE_SELF, &ru1);
		t_phase0 = now_ns();
		r.settle_s = (double)(t_phase0 - t_login) / 1e9;
		sh.chat_t0 = t_phase0;
		set_phase(&sh, PH_CHAT);
		sleep_ns((uint64_t)(cfg->duration * 1e9));
		set_phase(&sh, PH_DRAIN);
		sleep_ns(5 * POLL_NS);
		deadline = now_ns() + (uint64_t)(cfg->drain * 1e9);
		while (SUM(delivered) < SUM(expected) && now_ns() < deadline)
			sleep_ns(POLL_NS);
		break;
	}
	}
	t_phase1 = now_ns();
	getrusage(RUSAGE_SELF, &ru2);
	set_phase(&sh, PH_STOP);
	for (unsigned i = 0; i < cfg->threads; i++)
		pthread_join(ws[i].thread, NULL);
	if (attacking) {
		attack_join(&atk);
		r.atk = &atk;
	}

	r.wall_s = (double)(now_ns() - t0) / 1e9;
	r.phase_s = (double)(t_phase1 - t_phase0) / 1e9;
	if (cfg->scenario == SC_LOGIN)
		r.phase_s = r.login_s;
	r.users = cfg->users;
	hist_init(&r.login_h);
	hist_init(&r.lat_h);
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct worker *w = &ws[i];
		double tcpu = tv_s(w->ru.ru_utime) + tv_s(w->ru.ru_stime);

		r.logins_ok += atomic_load(&w->prog.logins_ok);
		r.login_fail += w->login_fail;
		r.disconnects += w->disconnects;
		r.sent += atomic_load(&w->prog.sent);
		r.delivered += atomic_load(&w->prog.delivered);
		r.dups += w->dups;
		r.msg_errors += w->msg_errors;
		r.stray += w->stray;
		r.alive += w->alive;
		r.expected += atomic_load(&w->prog.expected);
		r.initial += atomic_load(&w->prog.initial);
		r.self_pres += w->self_pres;
		r.pres_other += w->pres_other;
		r.roster_bad += w->roster_bad;
		if (w->roster_max > r.roster_max)
			r.roster_max = w->roster_max;
		if (i == 0 || w->roster_min < r.roster_min)
			r.roster_min = w->roster_min;
		if (tcpu > r.thread_cpu_max_s)
			r.thread_cpu_max_s = tcpu;
		hist_merge(&r.login_h, &w->login_h);
		hist_merge(&r.lat_h, &w->lat_h);
		if (!r.first_error[0] && w->first_error[0])
			snprintf(r.first_error, sizeof(r.first_error), "%s", w->first_error);
	}
	r.lost = r.sent > r.delivered ? r.sent - r.delivered : 0;
	if (cfg->scenario == SC_PRESENCE)
		r.lost = r.expected > r.delivered ? r.expected - r.delivered : 0;
	if (r.roster_min == UINT_MAX)
		r.roster_min = 0;
	r.cpu_user_s = tv_s(ru2.ru_utime) - tv_s(ru0.ru_utime);
	r.cpu_sys_s = tv_s(ru2.ru_stime) - tv_s(ru0.ru_stime);
	r.phase_cpu_user_s = tv_s(ru2.ru_utime) - tv_s(ru1.ru_utime);
	r.phase_cpu_sys_s = tv_s(ru2.ru_stime) - tv_s(ru1.ru_stime);

	r.ok = r.login_fail == 0;
	if (cfg_chats(cfg))
		r.ok = r.ok && r.delivered == r.sent && r.msg_errors == 0;
	/* The flooder's victim must stay connected. */
	if (flooding)
		r.ok = r.ok && sh.victim && !atomic_load(&sh.victim_lost);
	if (cfg->scenario == SC_IDLE)
		r.ok = r.ok && r.alive == r.logins_ok;
	/* A roster of the wrong size means the provisioning is wrong: the
	 * figures would not be what they say. */
	r.ok = r.ok && r.roster_bad == 0;
	if (cfg->scenario == SC_PRESENCE)
		r.ok = r.ok && r.delivered == r.expected && r.msg_errors == 0 && r.dups == 0;
	report_print(cfg, &r, cfg->json);

	for (unsigned i = 0; i < cfg->threads; i++) {
		client_table_free(&ws[i]);
		free(ws[i].online);
	}
	if (attacking)
		attack_free(&atk);
	for (unsigned u = 0; u <= cfg->users; u++)
		free(sh.jids[u]);
	free(sh.jids);
	free(sh.online);
	free((void *)sh.seen);
	free(sh.contacts_online);
	free(ws);
	free(cfg->src_ips);
	free(cfg->attack_ips);
	tls_global_cleanup();
	return r.ok || cfg->allow_loss ? 0 : 1;
}
