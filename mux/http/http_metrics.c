/* GET /metrics on a listener with `metrics = true` (docs/internals/
 * gateway.md, "Metrics"): the gateway thread asks every thread and the
 * router for its snapshot (MSG_STATS), gathers the answers on the asking
 * connection, and writes them as Prometheus text once all have come.
 * Nothing is shared: each snapshot is taken by the thread that owns what
 * it counts. */
#include "mux/http/http_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/cidr.h"
#include "core/base/log.h"
#include "core/conf/cfg.h"
#include "core/route/stats.h"
#include "core/store/store_thread.h"

struct http_metrics {
	unsigned expected, got;
	bool head;
	struct stats_part parts[];
};

/* Loopback peers, unless the listener's metrics_allow names networks:
 * then those only.  Counters say who is online and how busy the server
 * is; they are not for the world. */
static bool peer_allowed(const struct mux_conn *c)
{
	char ip[INET6_ADDRSTRLEN];
	size_t n = c->peer_ip_len < sizeof(ip) - 1 ? c->peer_ip_len : sizeof(ip) - 1;
	memcpy(ip, c->peer + c->peer_ip_off, n);
	ip[n] = '\0';
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1)
		v4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1)
		v6->sin6_family = AF_INET6;
	else
		return false;
	const struct cfg_listener *l = c->lst;
	if (l->n_metrics_allow) {
		for (size_t i = 0; i < l->n_metrics_allow; i++)
			if (cidr_contains(&l->metrics_allow[i], (struct sockaddr *)&ss))
				return true;
		return false;
	}
	if (ss.ss_family == AF_INET)
		return ((const unsigned char *)&v4->sin_addr)[0] == 127;
	const unsigned char *a = v6->sin6_addr.s6_addr;
	static const unsigned char one[16] = { [15] = 1 };
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
	return memcmp(a, one, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
}

/* The storage thread's part: a STORE_OP_STATS request, answered on that
 * thread with the part sent back to the asking connection's thread. */
struct store_stats_job {
	struct store_req req;
	struct mux *m;
	struct sess_handle h;
};

static void store_stats_done(struct store_req *req, void *arg)
{
	struct store_stats_job *j = arg;
	struct msg *a = msg_new(MSG_STATS_REPLY, NULL);
	if (a && req->status == XS_OK) {
		a->h = j->h;
		a->ptr = req->stats; /* the part: the receiver's now */
		mux_post(j->m, j->h.thread, a);
	} else {
		/* the answer goes without it, at the deadline */
		free(a);
		free(req->stats);
	}
	free(j);
}

static bool ask_storage(struct mux *m, struct sess_handle h)
{
	if (!m->store)
		return false;
	struct store_stats_job *j = calloc(1, sizeof(*j));
	struct stats_part *p = j ? calloc(1, sizeof(*p)) : NULL;
	if (!p) {
		free(j);
		return false;
	}
	j->req.op = STORE_OP_STATS;
	j->req.stats = p;
	j->req.done = store_stats_done;
	j->req.done_arg = j;
	j->m = m;
	j->h = h;
	if (store_thread_submit(m->store, &j->req) != XS_OK) {
		free(p);
		free(j);
		return false;
	}
	return true;
}

bool http_metrics_start(struct mux_conn *c, bool head, struct http_metrics **out)
{
	if (!peer_allowed(c)) {
		http_conn_answer(c, 403, "metrics: not for this address", head);
		return false;
	}
	struct mux *m = c->mux;
	unsigned n = m->group->n + 2; /* every thread, the router, the storage */
	struct http_metrics *hm = calloc(1, sizeof(*hm) + n * sizeof(hm->parts[0]));
	if (!hm) {
		http_conn_answer(c, 503, "out of memory", head);
		return false;
	}
	hm->head = head;
	*out = hm;
	struct sess_handle h = conn_handle(c);
	for (unsigned i = 0; i <= m->group->n; i++) {
		struct msg *q = msg_new(MSG_STATS, NULL);
		if (!q)
			continue; /* that part is missing from the answer */
		q->h = h;
		hm->expected++;
		if (i < m->group->n)
			mux_post(m, i, q);
		else
			mux_to_router(m, q);
	}
	if (ask_storage(m, h))
		hm->expected++;
	if (!hm->expected) {
		/* not one could be asked: the answer has what is known here */
		*out = NULL;
		http_metrics_finish(c, hm);
	}
	return true;
}

static void family(struct xbuf *b, enum xs *st, const char *name, const char *type,
		   const char *help)
{
	if (*st == XS_OK)
		*st = xbuf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one unlabelled sample. */
static void single(struct xbuf *b, enum xs *st, const char *name, const char *type,
		   const char *help, uint64_t v)
{
	family(b, st, name, type, help);
	if (*st == XS_OK)
		*st = xbuf_appendf(b, "%s %llu\n", name, (unsigned long long)v);
}

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void thread_label(const struct mux *m, int thread, char *buf, size_t len)
{
	if (thread == STATS_PART_STORAGE)
		snprintf(buf, len, "storage");
	else if (thread < 0)
		snprintf(buf, len, "router");
	else if ((unsigned)thread >= m->group->n_mux)
		snprintf(buf, len, "http%u", (unsigned)thread - m->group->n_mux);
	else
		snprintf(buf, len, "mux%d", thread);
}

static int by_thread(const void *a, const void *b)
{
	const struct stats_part *x = a, *y = b;
	return (x->thread > y->thread) - (x->thread < y->thread);
}

void http_metrics_finish(struct mux_conn *c, struct http_metrics *hm)
{
	static const char *const kinds[STATS_KINDS] = { "c2s", "s2s_in", "s2s_out", "http",
							 "websocket", "bosh" };
	struct stats_part sum = { 0 };
	for (unsigned i = 0; i < hm->got; i++) {
		const struct stats_part *p = &hm->parts[i];
		for (unsigned k = 0; k < STATS_KINDS; k++) {
			sum.conns[k][0] += p->conns[k][0];
			sum.conns[k][1] += p->conns[k][1];
		}
		sum.slept_total += p->slept_total;
		sum.woken_total += p->woken_total;
		sum.sessions += p->sessions;
		sum.s2s_links += p->s2s_links;
		sum.routed_total += p->routed_total;
		sum.bounced_total += p->bounced_total;
		sum.offline_stored_total += p->offline_stored_total;
		sum.tls_handshakes[0] += p->tls_handshakes[0];
		sum.tls_handshakes[1] += p->tls_handshakes[1];
		sum.auth_failures_total += p->auth_failures_total;
		for (unsigned k = 0; k < STATS_LIMITS; k++)
			sum.limits_total[k] += p->limits_total[k];
		for (unsigned k = 0; k < STATS_STORE_BUCKETS; k++)
			sum.store_buckets[k] += p->store_buckets[k];
		sum.store_count += p->store_count;
		sum.store_sum_us += p->store_sum_us;
	}
	/* the router, then the threads in order, whatever order they answered in */
	qsort(hm->parts, hm->got, sizeof(hm->parts[0]), by_thread);
	struct xbuf b = { 0 };
	enum xs st = XS_OK;
	family(&b, &st, "xmppd_connections", "gauge",
	       "Open connections by kind and state (asleep: idle_sleep).");
	for (unsigned k = 0; k < STATS_KINDS && st == XS_OK; k++)
		st = xbuf_appendf(&b,
				  "xmppd_connections{kind=\"%s\",state=\"awake\"} %llu\n"
				  "xmppd_connections{kind=\"%s\",state=\"asleep\"} %llu\n",
				  kinds[k], (unsigned long long)sum.conns[k][0], kinds[k],
				  (unsigned long long)sum.conns[k][1]);
	single(&b, &st, "xmppd_sessions", "gauge", "Bound client resources.", sum.sessions);
	single(&b, &st, "xmppd_s2s_outbound_links", "gauge",
	       "Domain pairs with an outbound server link connecting or up.", sum.s2s_links);
	single(&b, &st, "xmppd_stanzas_routed_total", "counter",
	       "Stanzas the router handed to a session or a server link.", sum.routed_total);
	single(&b, &st, "xmppd_stanzas_bounced_total", "counter",
	       "Error replies the router sent for stanzas it could not deliver.",
	       sum.bounced_total);
	single(&b, &st, "xmppd_offline_stored_total", "counter",
	       "Messages stored for accounts that were offline (XEP-0160).",
	       sum.offline_stored_total);
	family(&b, &st, "xmppd_tls_handshakes_total", "counter",
	       "TLS handshakes completed, by protocol version.");
	if (st == XS_OK)
		st = xbuf_appendf(&b,
				  "xmppd_tls_handshakes_total{version=\"1.2\"} %llu\n"
				  "xmppd_tls_handshakes_total{version=\"1.3\"} %llu\n",
				  (unsigned long long)sum.tls_handshakes[0],
				  (unsigned long long)sum.tls_handshakes[1]);
	single(&b, &st, "xmppd_auth_failures_total", "counter",
	       "Client SASL authentication attempts that failed.", sum.auth_failures_total);
	static const char *const limits[STATS_LIMITS] = { "connections", "xml", "output",
							   "backlog", "websocket" };
	family(&b, &st, "xmppd_limits_hit_total", "counter",
	       "Times a limit was hit: connections refused at accept, stanzas over an XML "
	       "limit, output over max_output_buffer, input paused for the router's backlog, "
	       "WebSocket messages over max_websocket_message_bytes.");
	for (unsigned k = 0; k < STATS_LIMITS && st == XS_OK; k++)
		st = xbuf_appendf(&b, "xmppd_limits_hit_total{limit=\"%s\"} %llu\n", limits[k],
				  (unsigned long long)sum.limits_total[k]);
	family(&b, &st, "xmppd_storage_request_duration_seconds", "histogram",
	       "Storage requests by time from submit to answer, queueing included.");
	uint64_t cum = 0;
	for (unsigned k = 0; k < STATS_STORE_BUCKETS && st == XS_OK; k++) {
		cum += sum.store_buckets[k];
		uint64_t le = stats_store_le_us(k);
		if (le == UINT64_MAX)
			st = xbuf_appendf(&b,
					  "xmppd_storage_request_duration_seconds_bucket{le=\"+Inf\"} "
					  "%llu\n",
					  (unsigned long long)cum);
		else
			st = xbuf_appendf(&b,
					  "xmppd_storage_request_duration_seconds_bucket{le=\"%g\"} "
					  "%llu\n",
					  (double)le / 1e6, (unsigned long long)cum);
	}
	if (st == XS_OK)
		st = xbuf_appendf(&b,
				  "xmppd_storage_request_duration_seconds_sum %.6f\n"
				  "xmppd_storage_request_duration_seconds_count %llu\n",
				  (double)sum.store_sum_us / 1e6, (unsigned long long)sum.store_count);
	single(&b, &st, "xmppd_sleeps_total", "counter", "Idle sessions put to sleep (idle_sleep).",
	       sum.slept_total);
	single(&b, &st, "xmppd_wakeups_total", "counter", "Sleeping sessions woken.",
	       sum.woken_total);
	family(&b, &st, "xmppd_queue_depth_messages", "gauge",
	       "Messages waiting in a thread's inbox when it answered.");
	for (unsigned i = 0; i < hm->got && st == XS_OK; i++) {
		char label[16];
		thread_label(c->mux, hm->parts[i].thread, label, sizeof(label));
		st = xbuf_appendf(&b, "xmppd_queue_depth_messages{queue=\"%s\"} %llu\n", label,
				  (unsigned long long)hm->parts[i].inbox_depth);
	}
	family(&b, &st, "xmppd_metrics_parts", "gauge",
	       "Threads (and the router) asked for this answer, and those whose part is in it.");
	if (st == XS_OK)
		st = xbuf_appendf(&b,
				  "xmppd_metrics_parts{part=\"asked\"} %u\n"
				  "xmppd_metrics_parts{part=\"answered\"} %u\n",
				  hm->expected, hm->got);
	single(&b, &st, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
	       rss_bytes());
	bool head = hm->head;
	http_metrics_free(hm);
	if (st != XS_OK) {
		xbuf_free(&b);
		http_conn_answer(c, 503, "out of memory", head);
		return;
	}
	http_conn_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, head,
			true);
	xbuf_free(&b);
}

bool http_metrics_add(struct http_metrics *hm, const struct stats_part *p)
{
	if (hm->got < hm->expected)
		hm->parts[hm->got++] = *p;
	return hm->got == hm->expected;
}

void http_metrics_free(struct http_metrics *hm)
{
	free(hm);
}
