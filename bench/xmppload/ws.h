/* The WebSocket layer of xmppload's websocket transport (RFC 6455, XMPP
 * framing of RFC 7395): the client's upgrade request and the check of the
 * server's 101, client frames (masked, one per XML element), and a
 * streaming decoder of server frames whose data payloads are appended to
 * the connection's plaintext buffer, so the XML scanner reads them as if
 * they were stream bytes.
 *
 * The decoder keeps a few words per connection: a partial frame header,
 * the payload bytes of the current frame still to come, and the payload of
 * a control frame (at most 125 bytes) until it is complete.  Data frames
 * (text, binary, continuation) are never buffered as frames: their bytes go
 * to the output as they arrive, whatever the TLS records split. */
#ifndef XMPPLOAD_WS_H
#define XMPPLOAD_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/xbuf.h"

#define WS_KEY_LEN 24          /* base64 of 16 random bytes */
#define WS_FRAME_OVERHEAD 14   /* largest client frame header: 2 + 8 + 4 mask */

enum ws_op { WS_CONT = 0, WS_TEXT = 1, WS_BIN = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

struct ws_rx {
	uint64_t left;         /* payload bytes of the current frame still to come */
	uint8_t hdr[10];       /* a frame header that the input split */
	uint8_t hlen;          /* bytes in hdr; 0 while in a payload or between frames */
	uint8_t op;            /* opcode of the current frame */
	bool in_payload;
	uint8_t ctl_len;
	uint8_t ctl[125];      /* control frame payload */
};

enum ws_ev {
	WS_EV_MORE,   /* all input consumed */
	WS_EV_PING,   /* a complete ping: answer with rx->ctl[0..ctl_len) */
	WS_EV_CLOSE,  /* the server's close frame */
	WS_EV_ERROR,  /* a masked, oversized or reserved frame */
};

/* The upgrade request for path on host, with a fresh key from r1, r2
 * (16 random bytes); key receives the Sec-WebSocket-Key (WS_KEY_LEN + 1).
 * Returns its length, 0 if cap is too small. */
size_t ws_request(char *out, size_t cap, const char *host, const char *path, uint64_t r1,
		  uint64_t r2, char *key);
/* Where the response to the upgrade ends (just after its blank line), 0
 * if it is not complete yet. */
size_t ws_response_end(const char *buf, size_t len);
/* Checks the complete response head: 101, Upgrade: websocket, the
 * Sec-WebSocket-Accept for key and the xmpp subprotocol.  NULL if good,
 * else what is wrong. */
const char *ws_response_check(const char *head, size_t len, const char *key);

/* One masked client frame (FIN set) of payload p[0..n) into out, which
 * must have room for n + WS_FRAME_OVERHEAD bytes.  Returns its length. */
size_t ws_frame(uint8_t *out, enum ws_op op, const void *p, size_t n, uint32_t mask);

/* Decodes server frames from *in up to end, appending data payloads to
 * text; stops early (with *in past the frame) at a complete ping or close. */
enum ws_ev ws_rx_feed(struct ws_rx *rx, const uint8_t **in, const uint8_t *end,
		      struct xbuf *text);

#endif
