/* The WebSocket opening handshake for XMPP (RFC 6455 4.2, RFC 7395 3.3):
 * a GET of [http] websocket_path asking to upgrade to "websocket", version
 * 13, with a well-formed key, offering the "xmpp" subprotocol, from an
 * origin [http] origins allows.  Accepted: 101 with the key's accept
 * value and "xmpp" alone (ejabberd echoes whatever is offered).  Refused:
 * the status that says why, a log line, and the connection closes. */
#include "mux/http/ws_conn.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/base/log.h"
#include "core/http/http_origin.h"
#include "core/http/ws_frame.h"
#include "mux/http/http_conn.h"

static const struct xbuf *hdr(const struct http_req *r, enum http_hdr h)
{
	static const struct xbuf none = { 0 };
	return (r->hdr_present & (1u << h)) ? &r->hdr[h] : &none;
}

/* Whether a comma-separated header value lists token (RFC 9110 5.6.1);
 * ci: compared case-insensitively (Connection, Upgrade; subprotocol
 * names are compared as written). */
static bool lists_token(const struct xbuf *v, const char *token, bool ci)
{
	size_t tn = strlen(token), i = 0;
	while (i < v->len) {
		while (i < v->len && (v->data[i] == ' ' || v->data[i] == '\t' || v->data[i] == ','))
			i++;
		size_t start = i;
		while (i < v->len && v->data[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (v->data[end - 1] == ' ' || v->data[end - 1] == '\t'))
			end--;
		if (end - start == tn && (ci ? strncasecmp(v->data + start, token, tn) == 0
					     : memcmp(v->data + start, token, tn) == 0))
			return true;
	}
	return false;
}

static void refuse(struct mux_conn *c, int status, const char *extra, const char *why)
{
	LOG_INFO("c%u.%llu: WebSocket handshake from %s refused (%d): %s", c->mux->idx,
		 (unsigned long long)c->id, c->peer, status, why);
	char body[160];
	int n = snprintf(body, sizeof(body), "%s\n", why);
	http_conn_reply_with(c, status, extra, "text/plain; charset=utf-8", body,
			     n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0, false, true);
}

bool ws_handshake(struct mux_conn *c, const struct http_req *r, bool upgrade)
{
	static const char upgrade_hdrs[] = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
	if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
		refuse(c, 405, "Allow: GET\r\n", "WebSocket: GET only");
		return false;
	}
	if (!upgrade || !lists_token(hdr(r, HTTP_HDR_UPGRADE), "websocket", true)) {
		/* RFC 9110 15.5.22: 426 says what to upgrade to */
		refuse(c, 426, upgrade_hdrs, "this resource speaks XMPP over WebSocket only");
		return false;
	}
	if (r->method != HTTP_GET || r->version_minor < 1) {
		refuse(c, 400, "", "WebSocket needs GET over HTTP/1.1");
		return false;
	}
	if (!lists_token(hdr(r, HTTP_HDR_CONNECTION), "upgrade", true)) {
		refuse(c, 400, "", "WebSocket: Connection must list upgrade");
		return false;
	}
	const struct xbuf *ver = hdr(r, HTTP_HDR_SEC_WEBSOCKET_VERSION);
	if (ver->len != 2 || memcmp(ver->data, "13", 2) != 0) {
		/* RFC 6455 4.4: the versions we speak */
		refuse(c, 426, "Sec-WebSocket-Version: 13\r\n", "WebSocket: version 13 only");
		return false;
	}
	const struct xbuf *key = hdr(r, HTTP_HDR_SEC_WEBSOCKET_KEY);
	if (!ws_key_valid(key->data ? key->data : "", key->len)) {
		refuse(c, 400, "", "WebSocket: Sec-WebSocket-Key is not 16 bytes in base64");
		return false;
	}
	if (!lists_token(hdr(r, HTTP_HDR_SEC_WEBSOCKET_PROTOCOL), "xmpp", false)) {
		refuse(c, 400, "", "WebSocket: the xmpp subprotocol is required (RFC 7395 3.1)");
		return false;
	}
	/* A page of another site must not drive a user's session with the
	 * user's cookies or network position (cross-site WebSocket
	 * hijacking).  A client that is not a browser sends no Origin. */
	const struct xbuf *origin = hdr(r, HTTP_HDR_ORIGIN);
	if (r->hdr_present & (1u << HTTP_HDR_ORIGIN)) {
		const struct xbuf *host = hdr(r, HTTP_HDR_HOST);
		if (!http_origin_allowed(c->mux->cfg->http_origins, origin->data ? origin->data : "",
					 origin->len, host->data ? host->data : "", host->len)) {
			LOG_INFO("c%u.%llu: origin %.*s not allowed ([http] origins)", c->mux->idx,
				 (unsigned long long)c->id, (int)(origin->len > 200 ? 200 : origin->len),
				 origin->data ? origin->data : "");
			refuse(c, 403, "", "WebSocket: this origin may not connect ([http] origins)");
			return false;
		}
	}
	char accept[WS_ACCEPT_LEN + 1];
	ws_accept_value(key->data, key->len, accept);
	char resp[256];
	int n = snprintf(resp, sizeof(resp),
			 "HTTP/1.1 101 Switching Protocols\r\n%s"
			 "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n",
			 upgrade_hdrs, accept);
	conn_send(c, resp, (size_t)n);
	return !c->dead;
}
