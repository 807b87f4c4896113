/* Answers to BOSH requests (mux/http/bosh_conn.h).  A session lives on one
 * gateway thread, and a request for it may come on a connection of
 * another (accepted sockets go round the gateway threads): the answer is
 * written here when the connection is this thread's, else posted to its
 * thread (MSG_BOSH_REPLY), which writes it and ends the connection's hold.
 * An answer to a connection gone meanwhile is dropped. */
#include "mux/http/bosh_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/http/http_origin.h"
#include "mux/http/http_conn.h"
#include "mux/mux_int.h"

#define BOSH_TYPE "text/xml; charset=utf-8"

/* MSG_BOSH_REPLY's payload: a whole answer for one HTTP connection. */
struct bosh_reply {
	struct sess_handle http;
	int status;
	bool close;
	bool xml;             /* text/xml, else text/plain */
	char extra[320];      /* header lines */
	size_t len;
	char body[];
};

void bosh_to_of(struct bosh_to *to, const struct mux_conn *http, const struct http_req *r)
{
	memset(to, 0, sizeof(*to));
	to->http = conn_handle(http);
	to->keep_alive = r->keep_alive;
	if ((r->hdr_present & (1u << HTTP_HDR_ORIGIN)) && r->hdr[HTTP_HDR_ORIGIN].data)
		snprintf(to->origin, sizeof(to->origin), "%s", r->hdr[HTTP_HDR_ORIGIN].data);
}

static struct mux_conn *local_conn(struct mux *m, const struct bosh_to *to)
{
	if (to->http.thread != m->idx)
		return NULL;
	struct mux_conn *h = conn_by_handle(m, to->http);
	return h && !h->dead && !h->closing && h->role == &http_role ? h : NULL;
}

bool bosh_to_gone(struct mux *m, const struct bosh_to *to)
{
	return to->http.thread == m->idx && !local_conn(m, to);
}

void bosh_to_hold(struct mux *m, const struct bosh_to *to)
{
	struct mux_conn *h = local_conn(m, to);
	if (h)
		conn_http_hold(h);
}

static void write_answer(struct mux_conn *h, int status, const char *extra, bool xml,
			 const char *body, size_t len, bool close)
{
	http_conn_reply_with(h, status, extra, xml ? BOSH_TYPE : "text/plain; charset=utf-8", body,
			     len, false, close);
	conn_http_resume(h);
}

static void answer(struct mux *m, const struct bosh_to *to, int status, const char *extra,
		   bool xml, const char *body, size_t len, bool close)
{
	if (to->http.thread == m->idx) {
		struct mux_conn *h = local_conn(m, to);
		if (h)
			write_answer(h, status, extra, xml, body, len, close);
		return;
	}
	struct bosh_reply *r = malloc(sizeof(*r) + len);
	struct msg *msg = r ? msg_new(MSG_BOSH_REPLY, NULL) : NULL;
	if (!msg) {
		/* the connection waits for its keep-alive time, then closes */
		LOG_ERR("mux%u: out of memory handing a BOSH answer over", m->idx);
		free(r);
		return;
	}
	r->http = to->http;
	r->status = status;
	r->close = close;
	r->xml = xml;
	snprintf(r->extra, sizeof(r->extra), "%s", extra);
	r->len = len;
	memcpy(r->body, body, len);
	msg->ptr = r;
	mux_post(m, to->http.thread, msg);
}

void bosh_reply_arrived(struct mux *m, struct msg *msg)
{
	struct bosh_reply *r = msg->ptr;
	msg->ptr = NULL;
	struct bosh_to to = { .http = r->http };
	struct mux_conn *h = local_conn(m, &to);
	if (h)
		write_answer(h, r->status, r->extra, r->xml, r->body, r->len, r->close);
	free(r);
}

/* The CORS header of an answer to a page of another origin ([http]
 * origins allowed it, or the request would not have come this far). */
static void headers(const struct bosh_to *to, char *out, size_t cap)
{
	if (!to->origin[0])
		snprintf(out, cap, "Cache-Control: no-store\r\n");
	else
		snprintf(out, cap,
			 "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
			 "Cache-Control: no-store\r\n",
			 to->origin);
}

void bosh_send(struct mux *m, const struct bosh_to *to, const char *body, size_t len)
{
	char extra[320];
	headers(to, extra, sizeof(extra));
	answer(m, to, 200, extra, true, body, len, !to->keep_alive);
}

void bosh_send_terminate(struct mux *m, const struct bosh_to *to, const char *condition)
{
	char body[160];
	int n = snprintf(body, sizeof(body), "<body xmlns='" NS_HTTPBIND "' type='terminate'%s%s%s/>",
			 condition ? " condition='" : "", condition ? condition : "",
			 condition ? "'" : "");
	bosh_send(m, to, body, (size_t)n);
}

void bosh_send_refusal(struct mux *m, const struct bosh_to *to, int status, const char *why)
{
	LOG_INFO("mux%u: BOSH request refused (%d): %s", m->idx, status, why);
	char body[160];
	int n = snprintf(body, sizeof(body), "%s\n", why);
	answer(m, to, status, "", false, body, n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0,
	       true);
}

void bosh_preflight(struct mux_conn *c, const struct http_req *r)
{
	const char *origin = (r->hdr_present & (1u << HTTP_HDR_ORIGIN)) ? r->hdr[HTTP_HDR_ORIGIN].data
									: NULL;
	const struct xbuf *host = &r->hdr[HTTP_HDR_HOST];
	if (!origin || !http_origin_allowed(c->mux->cfg->http_origins, origin,
					    r->hdr[HTTP_HDR_ORIGIN].len,
					    host->data ? host->data : "", host->len)) {
		http_conn_answer(c, 403, "BOSH: this origin may not connect ([http] origins)", false);
		return;
	}
	char extra[512];
	snprintf(extra, sizeof(extra),
		 "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
		 "Access-Control-Allow-Methods: POST, OPTIONS\r\n"
		 "Access-Control-Allow-Headers: Content-Type\r\n"
		 "Access-Control-Max-Age: 86400\r\n",
		 origin);
	http_conn_reply_with(c, 200, extra, "text/plain; charset=utf-8", "", 0, false,
			     !r->keep_alive);
}
