/* The hostile scenario's flooder: an authenticated user (the account after
 * the chat users: number first_user + users) that sends messages to one
 * victim, a chat user, as fast as its socket takes them.
 *
 * It logs in through client.c like any chat user, as a worker of one
 * connection whose epoll set sits inside the attacker thread's.  "As fast
 * as the socket allows": whenever less than FLOOD_QUEUE bytes wait to be
 * written, more messages are encrypted and queued, so the kernel's send
 * buffer never runs dry while the server keeps reading.  Its bodies start
 * with "xf", which the victim counts apart from the chat, so the chat's
 * delivered == sent stays a statement about the legitimate users. */
#include "bench/xmppload/attack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define FLOOD_QUEUE 65536
#define FLOOD_BATCH 256   /* at most per call, so the thread still reads */

bool flood_init(struct attack *a)
{
	struct worker *w = &a->fw;

	w->idx = a->cfg->threads;
	w->sh = a->sh;
	w->cfg = a->cfg;
	w->first = a->cfg->users;
	w->n = 1;
	w->max_pending = 1;
	w->launch_rate = 1;
	w->rng = a->cfg->seed + 0x5eed;
	hist_init(&w->login_h);
	hist_init(&w->lat_h);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->tfd = -1;
	w->conns = client_table_new(w);
	w->online = calloc(1, sizeof(*w->online));
	if (w->ep < 0 || !w->conns || !w->online)
		return false;
	w->launch_t0 = w->last_sweep = now_ns();
	if (!a->cfg->attackers || !(a->cfg->attack_kinds & (1u << AK_COUNT))) {
		/* --attack-kinds without the flooder: nothing to log in. */
		atomic_store(&a->flood_done, 1);
		return true;
	}
	w->launched = 1;
	client_launch(w, client_at(w, 0));
	return true;
}

static void check_login(struct attack *a)
{
	if (!atomic_load(&a->flood_done) && atomic_load(&a->fw.prog.logins_done)) {
		a->flood_online = atomic_load(&a->fw.prog.logins_ok) == 1;
		atomic_store(&a->flood_done, 1);
	}
}

/* The flooder's socket is ready: its own epoll set says which events. */
void flood_events(struct attack *a)
{
	struct epoll_event evs[4];
	int n = epoll_wait(a->fw.ep, evs, 4, 0);

	for (int i = 0; i < n; i++)
		client_event(&a->fw, evs[i].data.ptr, evs[i].events);
	check_login(a);
}

void flood_tick(struct attack *a, uint64_t now)
{
	if (now - a->fw.last_sweep >= 100000000ull) {
		a->fw.last_sweep = now;
		client_sweep(&a->fw, now);
	}
	check_login(a);
}

void flood_pump(struct attack *a)
{
	struct conn *c = client_at(&a->fw, 0);

	if (!a->victim_jid)
		return;
	for (unsigned i = 0; i < FLOOD_BATCH && client_online(c) &&
			     client_out_pending(c) < FLOOD_QUEUE; i++)
		client_send_flood(&a->fw, c, a->victim_jid, a->flood_sent++);
}

void flood_stop(struct attack *a)
{
	client_close(&a->fw, client_at(&a->fw, 0));
}

void flood_free(struct attack *a)
{
	if (a->fw.conns)
		client_table_free(&a->fw);
	free(a->fw.online);
	a->fw.online = NULL;
	if (a->fw.ep >= 0)
		close(a->fw.ep);
	a->fw.ep = -1;
}
