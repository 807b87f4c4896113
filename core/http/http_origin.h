/* Web origins (RFC 6454): which pages may open an XMPP session through the
 * HTTP gateway.  A browser tells the server the origin of the page behind a
 * WebSocket handshake or a cross-site request in the Origin header; a page
 * of another site must not be able to drive a user's session (cross-site
 * WebSocket hijacking), so the gateway checks it against [http] origins
 * (docs/configuration.md).  Pure functions. */
#ifndef XMPPD_HTTP_ORIGIN_H
#define XMPPD_HTTP_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

/* s[0..n) is an origin as a browser serializes it: "http://" or
 * "https://", a host name or an address ("[v6]" bracketed), perhaps
 * ":port", nothing after. */
bool http_origin_valid(const char *s, size_t n);

/* Whether a request with Origin origin[0..olen) may go on, given the
 * configured list (allowed: "*", origins separated by spaces or commas, or
 * "" for the request's own origin only) and the request's Host header
 * (host[0..hlen), may be empty).  Compared case-insensitively, a default
 * port (80 for http, 443 for https) written or not.  "null" (an opaque
 * origin: a sandboxed page, a file) matches only "*". */
bool http_origin_allowed(const char *allowed, const char *origin, size_t olen, const char *host,
			 size_t hlen);

#endif
