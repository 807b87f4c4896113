/* The http role (mux/stream_role.h): a connection to a `type = http` or
 * `https` listener, on a gateway thread (docs/internals/gateway.md).  It
 * speaks HTTP/1.1, not an XMPP stream: its transport's top filter is the
 * request parser (xf_http.c), which hands each request here.
 *
 * The resources: GET /metrics where the listener enables it
 * (http_metrics.c); [http] bosh_path, whose requests go to BOSH sessions
 * (bosh_session.c); and [http] websocket_path, whose handshake
 * (ws_handshake.c) hands the connection over to the c2s role (xf_ws.c).
 * Any other gets 404, and a method no resource will take 501.  What every
 * resource shares is here: keep-alive and pipelining (answers in order),
 * the parser's limits answered with 400/413/414/431/501/505 and a close,
 * and the pre-auth timeout, which bounds a connection's life between
 * requests as it bounds a client's before authentication (an http
 * connection never authenticates; a held BOSH request is off that list
 * until answered). */
#include "mux/http/http_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/log.h"
#include "core/base/xbuf.h"
#include "core/route/msg.h"
#include "mux/http/bosh_conn.h"
#include "mux/http/ws_conn.h"

static const char *reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* Writes a whole response: status line, Date (RFC 9110 6.6.1: an origin
 * server with a clock sends it), the body's type and length, and
 * Connection: close when the connection ends after it, which it then does.
 * A HEAD request gets the same header section and no body. */
void http_conn_reply(struct mux_conn *c, int status, const char *content_type,
		     const char *body, size_t blen, bool head, bool close)
{
	http_conn_reply_with(c, status, status == 405 ? "Allow: GET, HEAD\r\n" : "", content_type,
			     body, blen, head, close);
}

void http_conn_reply_with(struct mux_conn *c, int status, const char *extra,
			  const char *content_type, const char *body, size_t blen, bool head,
			  bool close)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm) ||
	    !strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm))
		date[0] = '\0';
	struct xbuf b = { 0 };
	enum xs st = xbuf_appendf(&b,
				  "HTTP/1.1 %d %s\r\nDate: %s\r\n"
				  "Content-Type: %s\r\n"
				  "Content-Length: %zu\r\n%s%s\r\n",
				  status, reason_of(status), date, content_type, blen, extra,
				  close ? "Connection: close\r\n" : "");
	if (st == XS_OK && !head)
		st = xbuf_append(&b, body, blen);
	if (st != XS_OK) {
		LOG_ERR("c%u.%llu: out of memory answering %s", c->mux->idx,
			(unsigned long long)c->id, c->peer);
		xbuf_free(&b);
		conn_close(c, "out of memory");
		return;
	}
	conn_send(c, b.data, b.len);
	xbuf_free(&b);
	if (close)
		conn_close_after_flush(c, "HTTP response with Connection: close");
}

static void respond(struct mux_conn *c, int status, const char *body, bool head, bool close)
{
	http_conn_reply(c, status, "text/plain; charset=utf-8", body, strlen(body), head, close);
}

void http_conn_answer(struct mux_conn *c, int status, const char *why, bool head)
{
	LOG_INFO("c%u.%llu: HTTP %d to %s: %s", c->mux->idx, (unsigned long long)c->id, status,
		 c->peer, why);
	char body[128];
	snprintf(body, sizeof(body), "%s\n", reason_of(status));
	respond(c, status, body, head, true);
}

/* The role's state: what every role's starts with (the pre-auth list,
 * which times the connection out), and a GET /metrics being gathered. */
struct http_neg {
	struct stream_neg base;
	struct http_metrics *metrics;
};

static struct http_neg *http_neg(const struct mux_conn *c)
{
	return (struct http_neg *)c->neg;
}

/* The target's path: "/metrics" and "/metrics?..." are the same resource. */
static bool path_is(const struct http_req *r, const char *path)
{
	size_t n = strlen(path);
	return r->target.len >= n && memcmp(r->target.data, path, n) == 0 &&
	       (r->target.len == n || r->target.data[n] == '?');
}

/* The methods some resource here serves (or will: POST for BOSH, OPTIONS
 * for its CORS preflight); any other gets 501 (RFC 9110 9.1). */
static bool method_known(uint8_t m)
{
	return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_POST || m == HTTP_OPTIONS;
}

enum http_next http_conn_request(struct mux_conn *c, const struct http_req *r, bool upgrade)
{
	const char *method = llhttp_method_name((llhttp_method_t)r->method);
	/* after an upgrade request the parser reads no more: the connection
	 * ends with the answer unless a resource takes it over */
	bool close = upgrade || !r->keep_alive;
	bool head = r->method == HTTP_HEAD;
	if (r->version_minor == 1 && !(r->hdr_present & (1u << HTTP_HDR_HOST))) {
		/* RFC 9112 3.2: a server MUST answer 400 */
		http_conn_refuse(c, 400, "HTTP/1.1 request without Host");
		return HTTP_NEXT_READ;
	}
	if (!method_known(r->method)) {
		LOG_INFO("c%u.%llu: HTTP 501 to %s: method %s", c->mux->idx,
			 (unsigned long long)c->id, c->peer, method);
		respond(c, 501, "Not Implemented\n", false, close);
		return HTTP_NEXT_READ;
	}
	if (c->lst->metrics && path_is(r, "/metrics")) {
		if (r->method != HTTP_GET && !head) {
			http_conn_answer(c, 405, "metrics: GET or HEAD only", false);
			return HTTP_NEXT_READ;
		}
		/* the answer comes when every thread has sent its part, and
		 * ends the connection: the requests after it wait for nothing */
		return http_metrics_start(c, head, &http_neg(c)->metrics) ? HTTP_NEXT_STOP
									   : HTTP_NEXT_READ;
	}
	const char *bosh = c->mux->cfg->http_bosh_path;
	if (*bosh && path_is(r, bosh)) {
		if (r->method == HTTP_OPTIONS)
			bosh_preflight(c, r);
		else if (r->method != HTTP_POST)
			http_conn_reply_with(c, 405, "Allow: POST, OPTIONS\r\n",
					     "text/plain; charset=utf-8", "BOSH: POST only\n", 16, head,
					     close);
		else
			bosh_request(c, r);
		return HTTP_NEXT_READ;
	}
	const char *ws = c->mux->cfg->http_ws_path;
	if (*ws && path_is(r, ws))
		return ws_handshake(c, r, upgrade) ? HTTP_NEXT_WEBSOCKET : HTTP_NEXT_READ;
	LOG_DEBUG("c%u.%llu: HTTP %s %.*s from %s: 404", c->mux->idx, (unsigned long long)c->id,
		  method, (int)(r->target.len > 200 ? 200 : r->target.len),
		  r->target.data ? r->target.data : "", c->peer);
	respond(c, 404, "Not Found\n", head, close);
	return HTTP_NEXT_READ;
}

void http_conn_refuse(struct mux_conn *c, int status, const char *why)
{
	http_conn_answer(c, status, why ? why : reason_of(status), false);
}

/* ---- the role's table ---- */

static bool http_init(struct mux_conn *c)
{
	c->neg = calloc(1, sizeof(struct http_neg));
	return c->neg != NULL;
}

/* Where an XMPP stream would get a stream error: the pre-auth timeout
 * (connection-timeout) and the server's shutdown.  A request cut short is
 * answered (408, or 503 at shutdown); an idle keep-alive connection is
 * closed without a word, as RFC 9112 9.8 allows. */
static void http_stream_error(struct mux_conn *c, const char *cond, const char *text)
{
	LOG_INFO("c%u.%llu: closing HTTP connection from %s: %s%s%s", c->mux->idx,
		 (unsigned long long)c->id, c->peer, cond, text ? ": " : "", text ? text : "");
	if (http_neg(c)->metrics) {
		http_metrics_free(http_neg(c)->metrics);
		http_neg(c)->metrics = NULL;
		respond(c, 503, "Service Unavailable\n", false, true);
		return;
	}
	if (conn_http_partial(c)) {
		int status = strcmp(cond, "connection-timeout") == 0 ? 408 : 503;
		char body[64];
		snprintf(body, sizeof(body), "%s\n", reason_of(status));
		respond(c, status, body, false, true);
		return;
	}
	conn_close_after_flush(c, cond);
}

static int http_on_open(struct mux_conn *c, struct xml_node *header)
{
	(void)c;
	(void)header;
	return -1; /* no XML parser on this chain */
}

static int http_on_stanza(struct mux_conn *c, struct xml_node *el)
{
	(void)c;
	(void)el;
	return -1;
}

static void http_nothing(struct mux_conn *c)
{
	(void)c;
}

static enum xs http_features(struct mux_conn *c, struct xbuf *out)
{
	(void)c;
	(void)out;
	return XS_OK;
}

static bool http_no(struct mux_conn *c)
{
	(void)c;
	return false;
}

static bool http_deliver(struct mux_conn *c, struct msg *msg)
{
	(void)c;
	(void)msg;
	return false; /* no session behind it: back to the router */
}

static void http_on_msg(struct mux_conn *c, struct msg *msg)
{
	(void)c;
	(void)msg;
}

static const char *http_session_name(const struct mux_conn *c)
{
	(void)c;
	return NULL;
}

static void http_free_role(struct mux_conn *c)
{
	if (!c->neg)
		return;
	conn_preauth_remove(c);
	http_metrics_free(http_neg(c)->metrics);
	free(c->neg);
	c->neg = NULL;
}

/* A thread's part of a GET /metrics, for one of this thread's
 * connections (gone meanwhile: dropped). */
static bool http_thread_msg(struct mux *m, struct msg *msg, bool *forwarded)
{
	(void)forwarded;
	if (msg->type == MSG_BOSH_REQ) {
		struct bosh_fwd *f = msg->ptr;
		msg->ptr = NULL;
		bosh_forwarded(m, f);
		return true;
	}
	if (msg->type == MSG_BOSH_REPLY) {
		bosh_reply_arrived(m, msg);
		return true;
	}
	if (msg->type != MSG_STATS_REPLY)
		return false;
	struct stats_part *p = msg->ptr;
	msg->ptr = NULL;
	struct mux_conn *c = conn_by_handle(m, msg->h);
	if (c && c->role == &http_role && !c->dead && !c->closing && http_neg(c)->metrics &&
	    http_metrics_add(http_neg(c)->metrics, p)) {
		struct http_metrics *hm = http_neg(c)->metrics;
		http_neg(c)->metrics = NULL;
		http_metrics_finish(c, hm);
	}
	free(p);
	return true;
}

static bool http_thread_drop(struct msg *msg)
{
	if (msg->type != MSG_STATS_REPLY && msg->type != MSG_BOSH_REQ &&
	    msg->type != MSG_BOSH_REPLY)
		return false;
	free(msg->ptr);
	msg->ptr = NULL;
	return true;
}

const struct stream_role_ops http_role = {
	.name = "http",
	.ns = "",
	.alpn = "http/1.1",
	.init = http_init,
	.on_open = http_on_open,
	.on_stanza = http_on_stanza,
	.on_restart = http_nothing,
	.features = http_features,
	.sleep_ok = http_no,
	.deliver = http_deliver,
	.on_msg = http_on_msg,
	.keep_on_close = http_no,
	.park = http_nothing,
	.on_closed = http_nothing,
	.on_timer = http_nothing,
	.session_name = http_session_name,
	.strip = http_nothing,
	.free = http_free_role,
	.push_top = conn_push_http,
	.stream_error = http_stream_error,
	.thread_msg = http_thread_msg,
	.thread_timers = bosh_timers,
	.thread_deadline = bosh_deadline,
	.thread_drop = http_thread_drop,
};
