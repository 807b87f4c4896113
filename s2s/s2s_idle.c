/* Closing server links that carry nothing ([s2s] idle_timeout), for both
 * s2s roles: a link costs each side a socket and its TLS state, and the
 * next stanza for the pair simply opens a new one (core/route/s2s_links.c).
 *
 * Each mux thread counts its s2s streams (m->n_s2s) and, while it has
 * any, looks at them every SWEEP_MS (or a quarter of the timeout, if that
 * is shorter): one walk of the thread's slots, which is cheap next to the
 * timeout and costs nothing on a thread without links.  A stream's last
 * activity is its last read (conn_touch) or, for an outbound link, its
 * last delivery.  An idle link ends cleanly: our closing tag and
 * close_notify, then the socket (conn_close_after_flush). */
#include "s2s/s2s_idle.h"

#include "mux/mux_int.h"

#include "core/base/log.h"

#define SWEEP_MS 10000ULL

static uint64_t sweep_every(const struct mux *m)
{
	uint64_t ms = (uint64_t)m->cfg->s2s_idle_timeout_s * 1000 / 4;
	return ms && ms < SWEEP_MS ? ms : SWEEP_MS;
}

void s2s_counted(struct mux_conn *c, bool added)
{
	struct mux *m = c->mux;
	if (added) {
		if (!m->n_s2s++)
			m->s2s_sweep_ms = mux_now_ms() + sweep_every(m);
	} else if (m->n_s2s) {
		m->n_s2s--;
	}
}

void s2s_idle_timers(struct mux *m)
{
	if (!m->n_s2s || !m->cfg->s2s_idle_timeout_s)
		return;
	uint64_t now = mux_now_ms();
	if (now < m->s2s_sweep_ms)
		return;
	m->s2s_sweep_ms = now + sweep_every(m);
	uint64_t idle_ms = (uint64_t)m->cfg->s2s_idle_timeout_s * 1000;
	for (size_t i = 0; i < m->n_slots; i++) {
		struct mux_conn *c = m->slots[i];
		if (!c || c->dead || c->closing || !c->established || !c->role->server_link ||
		    now - c->last_active_ms < idle_ms)
			continue;
		LOG_INFO("c%u.%llu: %s link %s: idle for %us ([s2s] idle_timeout): closing", m->idx,
			 (unsigned long long)c->id, c->role->name, c->role->session_name(c),
			 m->cfg->s2s_idle_timeout_s);
		conn_send_str(c, "</stream:stream>");
		conn_close_after_flush(c, "idle link");
	}
}

uint64_t s2s_idle_deadline(const struct mux *m)
{
	return m->n_s2s && m->cfg->s2s_idle_timeout_s ? m->s2s_sweep_ms : UINT64_MAX;
}
