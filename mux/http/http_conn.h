/* An http or https connection on a gateway thread (docs/internals/
 * gateway.md): the HTTP filter (xf_http.c) parses requests, the http role
 * (http_role.c) answers them. */
#ifndef XMPPD_MUX_HTTP_CONN_H
#define XMPPD_MUX_HTTP_CONN_H

#include <stdbool.h>

#include "core/http/http_req.h"
#include "mux/mux_int.h"

/* xf_http.c: the parser on top of c's chain (the role's push_top); false:
 * out of memory or no room. */
bool conn_push_http(struct mux_conn *c);
/* Whether part of a request has come and not the rest. */
bool conn_http_partial(const struct mux_conn *c);

struct stats_part;
struct http_metrics;

/* What the connection does after a request. */
enum http_next {
	HTTP_NEXT_READ,      /* answered: the next request, if it stays open */
	HTTP_NEXT_STOP,      /* the answer comes later and ends the connection,
			      * so nothing more is read (GET /metrics) */
	HTTP_NEXT_WEBSOCKET, /* 101 sent: conn_upgrade_ws takes it over */
};

/* http_role.c: answers a complete request (upgrade: it asked to switch
 * protocols, and the connection ends after the answer unless the role
 * takes it over). */
enum http_next http_conn_request(struct mux_conn *c, const struct http_req *r, bool upgrade);
/* Answers a request the parser refused with status, and closes. */
void http_conn_refuse(struct mux_conn *c, int status, const char *why);
/* A whole response; close: Connection: close, and the connection ends
 * after it.  HEAD: the header section only. */
void http_conn_reply(struct mux_conn *c, int status, const char *content_type,
		     const char *body, size_t len, bool head, bool close);
/* The same with extra header lines ("Name: value\r\n" each, or ""). */
void http_conn_reply_with(struct mux_conn *c, int status, const char *extra,
			  const char *content_type, const char *body, size_t len, bool head,
			  bool close);
/* A short text/plain answer with its log line, and a close. */
void http_conn_answer(struct mux_conn *c, int status, const char *why, bool head);

/* http_metrics.c: GET /metrics.  start: false when it answered at once
 * (403, 503); else the parts were asked for and *hm gathers them: add
 * each (true: all came), then finish writes the answer (and frees hm). */
bool http_metrics_start(struct mux_conn *c, bool head, struct http_metrics **hm);
bool http_metrics_add(struct http_metrics *hm, const struct stats_part *p);
void http_metrics_finish(struct mux_conn *c, struct http_metrics *hm);
void http_metrics_free(struct http_metrics *hm);

#endif
