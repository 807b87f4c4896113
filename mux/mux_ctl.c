/* The control socket's "sessions" and "s2s" (MSG_CTL_SESSIONS), answered by each mux
 * thread for its own connections: it owns everything the command shows
 * (the listener, the TLS layers, whether the session sleeps, when it was
 * bound), so nothing of it is copied anywhere else or read by another
 * thread.  One line per bound session, tab-separated (a resource may hold
 * spaces, never a tab):
 *
 *   full JID, listener, bound since (UTC, ISO 8601), TLS, awake|asleep
 *
 * TLS is the version of each layer, outer first ("TLSv1.3", or
 * "TLSv1.3+TLSv1.3" inside direct TLS), or "none".
 *
 * "s2s": one line per established server link, and per further domain pair
 * an inbound link carries (dialback multiplexing):
 *
 *   local domain, remote domain, in|out (with "+bidi" when XEP-0288 lets it
 *   carry both ways), peer address, up since, TLS,
 *   authentication (EXTERNAL or dialback), awake|asleep */
#include "mux/mux_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/base/log.h"
#include "tls/tls.h"

static enum xs tls_versions(const struct mux_conn *c, struct xbuf *b)
{
	enum xs st = XS_OK;
	unsigned n = conn_tls_count(c);
	if (!n)
		return xbuf_append_str(b, "none");
	for (unsigned i = 0; i < n && st == XS_OK; i++) {
		int v = tls_sess_version(conn_tls_layer(c, i));
		st = xbuf_appendf(b, "%sTLSv1.%d", i ? "+" : "", v >= 10 ? v - 10 : 0);
	}
	return st;
}

static enum xs session_line(const struct mux_conn *c, struct xbuf *b)
{
	char since[32];
	time_t t = (time_t)c->c2s.bound_at;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(since, sizeof(since), "?");
	enum xs st = xbuf_appendf(b, "%s\t%s\t%s\t", c->c2s.full_jid, c->lst->name, since);
	if (st == XS_OK)
		st = tls_versions(c, b);
	if (st == XS_OK)
		st = xbuf_appendf(b, "\t%s\n", c->asleep ? "asleep" : "awake");
	return st;
}

/* One line for the pair (local, remote) that the link c carries. */
static enum xs link_line(const struct mux_conn *c, const char *local, const char *remote,
			 struct xbuf *b)
{
	bool in = c->role == &s2s_in_role;
	char since[32];
	time_t t = (time_t)(in ? c->s2s_in.up_at : c->s2s_out.up_at);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(since, sizeof(since), "?");
	bool bidi = in ? c->s2s_in.offered : c->s2s_out.bidi;
	enum xs st = xbuf_appendf(b, "%s\t%s\t%s%s\t%s\t%s\t", local, remote, in ? "in" : "out",
				  bidi ? "+bidi" : "", c->peer, since);
	if (st == XS_OK)
		st = tls_versions(c, b);
	if (st == XS_OK)
		st = xbuf_appendf(b, "\t%s\t%s\n",
				  (in ? c->s2s_in.dialback : c->s2s_out.dialback) ? "dialback" : "EXTERNAL",
				  c->asleep ? "asleep" : "awake");
	return st;
}

void mux_ctl_sessions(struct mux *m, struct msg *msg)
{
	struct xbuf b = { 0 };
	enum xs st = XS_OK;
	bool links = strcmp(msg->data, "s2s") == 0;
	for (size_t i = 0; i < m->n_slots && st == XS_OK; i++) {
		const struct mux_conn *c = m->slots[i];
		/* a session being closed (a kick, a stream error) is gone
		 * for the router already */
		if (!c || c->dead || c->closing || !c->established)
			continue;
		if (links && c->role == &s2s_out_role) {
			st = link_line(c, c->domain, c->s2s_out.remote, &b);
		} else if (links && c->role == &s2s_in_role) {
			st = link_line(c, c->domain, c->s2s_in.remote, &b);
			/* and each pair dialback added to it (XEP-0220 2.5) */
			const struct s2s_in_pairs *p = c->s2s_in.more;
			for (unsigned k = 0; p && k < p->n && st == XS_OK; k++)
				st = link_line(c, p->pair[k].local, p->pair[k].remote, &b);
		}
		else if (!links && c->role == &c2s_role && c->c2s.full_jid)
			st = session_line(c, &b);
	}
	if (st != XS_OK) {
		LOG_WARN("control: sessions of mux%u: out of memory", m->idx);
		xbuf_free(&b);
		xbuf_append_str(&b, "?\tout of memory listing the sessions of one thread\n");
	}
	msg_ctl_reply(msg->ptr, msg->status, b.data ? b.data : "");
	xbuf_free(&b);
}
