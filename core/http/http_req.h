/* HTTP/1.1 requests off one connection, parsed one at a time by llhttp.
 *
 * The HTTP gateway (docs/internals/gateway.md) feeds each connection's bytes
 * here and gets back whole requests: method, target, version, the few
 * headers the gateway looks at, and the body with any chunked framing taken
 * off.  A pure module: no sockets, no threads, no callbacks into the caller,
 * so the same code serves the gateway, the unit tests and the fuzzer.
 *
 * What a peer can make one parser hold is bounded by the limits: the request
 * line and header section are read at most max_header_bytes at a time, the
 * target and the captured header values are copies of bytes of that section,
 * and the body is refused (413) as soon as its announced or accumulated size
 * passes max_body_bytes, before its bytes are buffered.  Chunked framing and
 * trailers, which are neither header nor body, may add up to max_header_bytes
 * more to a request on the wire (413 past that): they are not kept, but a
 * request must not be endless.  One parser costs sizeof(struct http_req),
 * about 460 bytes on x86-64 (llhttp_t is 96 of them, a zeroed xbuf 24 each),
 * plus the heap blocks of the buffers that hold something: at most about
 * twice the limits (an xbuf grows by doubling), and, between requests, only
 * the small blocks http_req_next() keeps for reuse. */
#ifndef XMPPD_HTTP_REQ_H
#define XMPPD_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "core/base/xbuf.h"

/* A limit of 0 means "no limit" (for tests only, as with xml_stream's). */
struct http_limits {
	size_t max_header_bytes; /* request line + header section, CRLFs
				  * included (431); also what chunked framing
				  * and trailers may add to a request (413) */
	size_t max_body_bytes;   /* the body as delivered, after de-chunking (413) */
	size_t max_target_bytes; /* the request target as received (414) */
};

/* The headers kept, by case-insensitive name; every other header is counted
 * against max_header_bytes and dropped. */
enum http_hdr {
	HTTP_HDR_HOST,
	HTTP_HDR_ORIGIN,
	HTTP_HDR_CONTENT_TYPE,
	HTTP_HDR_CONNECTION,
	HTTP_HDR_UPGRADE,
	HTTP_HDR_SEC_WEBSOCKET_KEY,
	HTTP_HDR_SEC_WEBSOCKET_VERSION,
	HTTP_HDR_SEC_WEBSOCKET_PROTOCOL,
	HTTP_HDR_TRANSFER_ENCODING, /* kept to check the codings (see the .c) */
	HTTP_HDR_COUNT
};

/* Named HTTP_FEED_*, not HTTP_*: llhttp.h already defines HTTP_REQUEST (its
 * parser type) in the same namespace of enumerators. */
enum http_feed {
	/* All of the data was used; the request is not complete yet. */
	HTTP_FEED_MORE,
	/* A request is complete and its fields below are set; *used bytes of
	 * the data were its last, the rest begins the next request (pipelined).
	 * Call http_req_next() before feeding the rest. */
	HTTP_FEED_REQUEST,
	/* A request that asks to switch protocols (Upgrade listed in
	 * Connection, RFC 9110 7.8, or a CONNECT: check the method) is
	 * complete, body included if it had one; *used bytes of the data were
	 * its last, the rest is the new protocol's.  The parser is done: free
	 * it. */
	HTTP_FEED_UPGRADE,
	/* Answer with r->status and close the connection: after a framing
	 * error the next request cannot be found. */
	HTTP_FEED_ERROR,
};

struct http_req {
	/* After HTTP_FEED_REQUEST and HTTP_FEED_UPGRADE: */
	uint8_t method;        /* enum llhttp_method */
	uint8_t version_minor; /* HTTP/1.x; any other major is a 505 */
	bool keep_alive;       /* llhttp_should_keep_alive(): false for HTTP/1.0
				* without keep-alive and after Connection: close */
	unsigned hdr_present;  /* bit (1u << enum http_hdr) per header received */
	struct xbuf target;    /* path and query as received */
	/* Each header's value with surrounding whitespace trimmed; a header
	 * received more than once has its values joined with ", " (RFC 9110
	 * 5.3): for a list it is the field's value, for a singleton (Origin,
	 * Sec-WebSocket-Key) a value the caller's check will refuse, where
	 * picking one of them would let the peer choose which one we obey.
	 * Host alone is refused when repeated (400, RFC 9112 3.2). */
	struct xbuf hdr[HTTP_HDR_COUNT];
	struct xbuf body;

	/* After HTTP_FEED_ERROR: 400, 413, 414, 431, 501, 505 (an HTTP
	 * version other than 1.x) or 503 (out of memory).  0 otherwise. */
	int status;
	const char *reason;    /* why, for the log; static text */

	/* Private. */
	struct http_limits lim;
	llhttp_t parser;
	uint8_t state;         /* enum in the .c */
	uint8_t pause;         /* which callback paused llhttp */
	uint8_t cur_hdr;       /* enum http_hdr of the value being read, or COUNT */
	uint8_t sep;           /* a repeated header's separator (enum in the .c) */
	uint8_t name_len;      /* bytes of name[] used; past sizeof: not one of ours */
	char name[24];         /* the header name being read (ours are shorter) */
	size_t val_start;      /* where the current value's own bytes begin */
	size_t head_bytes;     /* of the request line and header section so far */
	size_t wire_bytes;     /* of the request after its header section */
};

/* lim is copied.  Never fails; r holds no heap memory until fed. */
void http_req_init(struct http_req *r, const struct http_limits *lim);
/* Parses up to len bytes; *used (always <= len) says how many were taken.
 * HTTP_FEED_REQUEST, HTTP_FEED_UPGRADE and HTTP_FEED_ERROR are sticky: feeding
 * again returns them again with *used = 0. */
enum http_feed http_req_feed(struct http_req *r, const char *data, size_t len, size_t *used);
/* After HTTP_FEED_REQUEST: forget it and parse the next request from the
 * next byte fed.  Small buffers are kept for that request; one larger
 * than 16 KiB (a body's, in practice) is freed, so one big request does not
 * pin its memory for the connection's life.  Does nothing in any other state.  The
 * connection must be closed instead when the request was not keep-alive:
 * llhttp refuses anything after it (400). */
void http_req_next(struct http_req *r);
/* Frees what r holds (r itself is the caller's); r may be initialised again. */
void http_req_free(struct http_req *r);

/* The value of header h (NUL-terminated, *len bytes), or NULL if the
 * request had none. */
const char *http_req_hdr(const struct http_req *r, enum http_hdr h, size_t *len);

#endif
