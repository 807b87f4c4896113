/* The transport of a mux connection: a chain of filters, as curl's
 * connection filters (docs/internals/transport-roles.md, steps 3 and 4).
 *
 *   filter 0      the socket: what goes to send(), held while the kernel
 *                 will not take it
 *   filter 1..    TLS layers (STARTTLS, direct TLS, TLS inside TLS)
 *   the top       the XML parser (xml_stream); above it, the stream's role
 *
 * Each filter type is one const ops table.  The chain is an array in the
 * connection record, not allocated filters with a next pointer: a filter
 * costs its context pointer and a type byte, and "next" is i - 1.
 *
 * Input is pushed up: read_input hands what recv() read to filter 1 (or
 * the parser when there is none) through xchain_up; a filter hands what it
 * decodes to whatever sits above it at that moment, so a filter inserted
 * while a lower one is decoding (STARTTLS inside TLS) gets what follows.
 * Output goes down at once: conn_send gives it to the top filter, and
 * after each send the upper filters' output moves into the one below
 * (xchain_move_down), so it waits in filter 0 or 1 only, for conn_flush
 * (filter 1's buffer reaches send() uncopied). */
#ifndef XMPPD_MUX_XFILTER_H
#define XMPPD_MUX_XFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"
#include "core/base/xbuf.h"

struct mux_conn;
struct tls_sess;

#define XCHAIN_MAX 4 /* socket, TLS, TLS inside TLS, XML */

/* XF_HTTP: an HTTP/1.1 connection's request parser (mux/http/xf_http.c),
 * the top of its chain in place of the XML parser */
/* XF_WS: WebSocket frames (mux/http/xf_ws.c), under the XML parser of an
 * upgraded connection */
/* XF_BOSH: in place of the socket, a BOSH session's (mux/http/xf_bosh.c) */
enum xfilter_type { XF_SOCKET, XF_TLS, XF_XML, XF_HTTP, XF_WS, XF_BOSH };

struct xchain {
	/* XF_TLS: its struct tls_sess; XF_XML: its struct xml_stream;
	 * XF_HTTP: its struct xf_http (mux/http/xf_http.c); XF_WS: its
	 * struct xf_ws (mux/http/xf_ws.c); XF_BOSH: its struct xf_bosh
	 * (mux/http/bosh_conn.h); XF_SOCKET: NULL */
	void *ctx[XCHAIN_MAX];
	struct xbuf sock_out;        /* the socket filter's output */
	uint8_t type[XCHAIN_MAX];
	uint8_t n;                   /* filters, the socket included (1 once adopted) */
	uint8_t logged;              /* bit i: filter i's handshake was logged */
};

struct xfilter_ops {
	const char *name;
	/* Bytes from filter i - 1; what they decode to goes to xchain_up(c,
	 * i + 1, ...).  NULL for the socket, whose input comes from recv(). */
	void (*recv)(struct mux_conn *c, unsigned i, const char *data, size_t len);
	/* Bytes from above (filter i + 1, or conn_send at the top): all taken,
	 * or false after the connection was closed. */
	bool (*send)(struct mux_conn *c, unsigned i, const char *data, size_t len);
	/* Output held for the filter below (the kernel, for the socket). */
	const void *(*pending)(const struct mux_conn *c, unsigned i, size_t *len);
	void (*consume)(struct mux_conn *c, unsigned i, size_t n);
	/* Nothing in flight in either direction: the filter may sleep. */
	bool (*idle)(const struct mux_conn *c, unsigned i);
	/* Gives up what can be rebuilt (TLS: exports its state); any later
	 * call wakes it.  XS_OK also when it has nothing to give up. */
	enum xs (*sleep)(struct mux_conn *c, unsigned i);
	/* Bytes the filter holds in buffers of ours and its saved state. */
	size_t (*mem)(const struct mux_conn *c, unsigned i);
	void (*free)(struct mux_conn *c, unsigned i);
};

extern const struct xfilter_ops xf_socket_ops, xf_tls_ops, xf_xml_ops, xf_http_ops, xf_ws_ops,
	xf_bosh_ops;

static inline const struct xfilter_ops *xfilter_ops_of(const struct xchain *x, unsigned i)
{
	static const struct xfilter_ops *const by_type[] = {
		[XF_SOCKET] = &xf_socket_ops, [XF_TLS] = &xf_tls_ops, [XF_XML] = &xf_xml_ops,
		[XF_HTTP] = &xf_http_ops, [XF_WS] = &xf_ws_ops, [XF_BOSH] = &xf_bosh_ops,
	};
	return by_type[x->type[i]];
}

/* mux_conn.c: input for filter i (dropped when i is past the top: a
 * stripped connection has no parser). */
void xchain_up(struct mux_conn *c, unsigned i, const char *data, size_t len);
/* mux_conn.c: the output of filters 2 and up moved into the one below;
 * false when the connection was closed. */
bool xchain_move_down(struct mux_conn *c);

/* The TLS filters, bottom first: how many, the k-th (0-based), the top
 * one (NULL without TLS). */
unsigned conn_tls_count(const struct mux_conn *c);
struct tls_sess *conn_tls_layer(const struct mux_conn *c, unsigned k);
struct tls_sess *conn_tls_top(const struct mux_conn *c);

/* xf_xml.c: the parser on top of the chain, created with the connection
 * (false: out of memory); NULL once the connection is stripped. */
struct xml_stream_limits;
bool conn_push_xml(struct mux_conn *c, const struct xml_stream_limits *lim);
struct xml_stream *conn_xml(const struct mux_conn *c);
/* The same for a stream framed per RFC 7395 (WebSocket: mux/http/xf_ws.c). */
bool conn_push_xml_framed(struct mux_conn *c, const struct xml_stream_limits *lim);

#endif
