/* RFC 6455 frames on the server side of a WebSocket connection (the HTTP
 * gateway's WebSocket transport, docs/internals/gateway.md).
 *
 * A pure module, as core/http/http_req.h: no sockets, no callbacks.  The
 * parser reads what a client sends, one event at a time: pieces of a text
 * message's payload (unmasked into the caller's scratch buffer, so the
 * parser itself holds no payload but a control frame's), the end of a
 * message, pings, pongs, a close, or the error that ends the connection
 * with its close code (RFC 6455 7.4.1):
 *
 *   1002 protocol error  an unmasked frame, RSV bits, an unknown opcode, a
 *                        fragmented or oversized (> 125) control frame, a
 *                        continuation with no message, a new message
 *                        inside a fragmented one, a 64-bit length with its
 *                        top bit set, a close payload of one byte or with a
 *                        code that may not be sent
 *   1003 unsupported     a binary message (RFC 7395 uses text frames only)
 *   1007 invalid data    text (or a close reason) that is not UTF-8: bad
 *                        bytes, overlong forms, surrogates, past U+10FFFF,
 *                        or a message that ends inside a sequence; found
 *                        at the first bad byte, not at the message's end
 *   1009 too big         a message whose fragments add up to more than
 *                        max_message bytes, found at the frame header
 *                        that passes the limit, before its payload
 *
 * A parser costs sizeof(struct ws_parser), about 170 bytes, and nothing on
 * the heap.  The writer side is a frame header for an unmasked server
 * frame, a close frame, and the Sec-WebSocket-Accept value. */
#ifndef XMPPD_WS_FRAME_H
#define XMPPD_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_CONTROL_MAX 125 /* payload of a control frame */
#define WS_HEADER_MAX 10   /* a server frame's header: 2, 4 or 10 bytes */
#define WS_CLOSE_FRAME_MAX (2 + WS_CONTROL_MAX)
#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 digest */

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

enum ws_ev_type {
	WS_EV_MORE,        /* everything given was used; nothing to report */
	WS_EV_TEXT,        /* data, len: the next piece of a text message's
			    * payload, unmasked, valid UTF-8 so far (a
			    * sequence may continue in the next piece) */
	WS_EV_MESSAGE_END, /* the text message is complete (the FIN of its
			    * last fragment; its UTF-8 ends on a character) */
	WS_EV_PING,        /* data, len (<= 125): to be echoed in a pong */
	WS_EV_PONG,        /* data, len: ignored by a server */
	WS_EV_CLOSE,       /* code (0 when the frame had no payload),
			    * data, len: the reason, valid UTF-8 */
	WS_EV_ERROR,       /* code: the close code to answer with (above);
			    * why: a static text for the log */
};

struct ws_ev {
	enum ws_ev_type type;
	const uint8_t *data;
	size_t len;
	uint16_t code;
	const char *why;
};

/* The fields are the parser's own; none is for the caller to read. */
struct ws_parser {
	uint64_t max_message;   /* bytes of payload in one message, fragments added */
	uint64_t message_len;   /* of the text message in progress */
	uint64_t remaining;     /* payload bytes of the current frame still to come */
	uint32_t utf8;          /* UTF-8 decoder state across pieces and fragments */
	uint8_t mask[4];
	uint8_t mask_pos;       /* where in mask the next payload byte is */
	uint8_t hdr[14];        /* a frame header being gathered */
	uint8_t hdr_len;
	uint8_t opcode;         /* of the current frame */
	bool fin;
	bool in_message;        /* a fragmented text message is in progress */
	bool done;              /* a close or an error was reported */
	uint8_t ctl_len;
	uint8_t ctl[WS_CONTROL_MAX]; /* a control frame's payload being gathered */
};

void ws_parser_init(struct ws_parser *p, uint64_t max_message);

/* Reads from in[0..len) up to the next event: returns how many bytes it
 * used, and the event in *ev (its data points into scratch or into the
 * parser, valid until the next call).  The caller calls again with the
 * rest, even an empty one, until WS_EV_MORE, which comes only when all of
 * it was used: a message's end is an event of its own, and may follow the
 * piece that used the last byte.  A text piece is at most scratch_cap
 * bytes (scratch_cap >= 1).  After WS_EV_CLOSE or WS_EV_ERROR the parser
 * is done: later calls use all their input and report WS_EV_MORE. */
size_t ws_parse(struct ws_parser *p, const uint8_t *in, size_t len, uint8_t *scratch,
		size_t scratch_cap, struct ws_ev *ev);

/* Between frames, no message in progress: nothing of the peer's is held
 * (the connection may sleep). */
bool ws_parser_idle(const struct ws_parser *p);

/* The header of an unmasked server frame with FIN set, into out: its
 * length, 2, 4 or 10. */
size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], enum ws_opcode op, uint64_t payload_len);

/* A whole close frame with code and reason (cut at a character boundary to
 * fit the 125 bytes; NULL: none) into out: its length. */
size_t ws_close_frame(uint8_t out[WS_HEADER_MAX + WS_CLOSE_FRAME_MAX], uint16_t code,
		      const char *reason);

/* Sec-WebSocket-Key is the base64 of exactly 16 bytes (RFC 6455 4.1). */
bool ws_key_valid(const char *key, size_t len);

/* Sec-WebSocket-Accept for a valid key (RFC 6455 4.2.2): base64 of the
 * SHA-1 of the key and the protocol's GUID, with a NUL. */
void ws_accept_value(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]);

#endif
