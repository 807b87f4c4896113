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

/* http_role.c: answers a complete request (upgrade: it asked to switch
 * protocols, and the connection ends after the answer unless the role
 * takes it over). */
void http_conn_request(struct mux_conn *c, const struct http_req *r, bool upgrade);
/* Answers a request the parser refused with status, and closes. */
void http_conn_refuse(struct mux_conn *c, int status, const char *why);

#endif
