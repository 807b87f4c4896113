/* A mux or gateway thread's part of GET /metrics (core/route/stats.h):
 * its connections by kind and state, what its idle list did, and its
 * inbox, read here by the thread that owns them. */
#include "mux/mux_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/route/stats.h"

static enum stats_kind kind_of(const struct mux_conn *c)
{
	if (c->role == &s2s_in_role)
		return STATS_S2S_IN;
	if (c->role == &s2s_out_role)
		return STATS_S2S_OUT;
	if (c->role == &http_role)
		return STATS_HTTP;
	if (c->websocket)
		return STATS_WEBSOCKET;
	if (c->bosh)
		return STATS_BOSH;
	return STATS_C2S;
}

void mux_stats(struct mux *m, struct msg *msg)
{
	struct stats_part *p = calloc(1, sizeof(*p));
	struct msg *a = p ? msg_new(MSG_STATS_REPLY, NULL) : NULL;
	if (!a) {
		free(p);
		LOG_WARN("mux%u: out of memory answering a metrics request", m->idx);
		return; /* the request ends with what the others sent */
	}
	p->thread = (int)m->idx;
	for (size_t i = 0; i < m->n_slots; i++) {
		const struct mux_conn *c = m->slots[i];
		/* a detached XEP-0198 session is dead: no connection */
		if (c && !c->dead)
			p->conns[kind_of(c)][c->asleep ? 1 : 0]++;
	}
	p->slept_total = m->n_slept;
	p->woken_total = m->n_woken;
	p->tls_handshakes[0] = m->n_tls[0];
	p->tls_handshakes[1] = m->n_tls[1];
	p->auth_failures_total = m->n_auth_failed;
	memcpy(p->limits_total, m->n_limits, sizeof(p->limits_total));
	p->inbox_depth = (uint64_t)queue_len(&m->inbox);
	a->h = msg->h;
	a->ptr = p;
	mux_post(m, msg->h.thread, a);
}
