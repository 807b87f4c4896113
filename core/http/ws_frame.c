/* RFC 6455 frames on the server side; see ws_frame.h for the contract.
 *
 * The parser has no phase variable: where it is in a frame follows from the
 * fields, so that nothing can get out of step with them.
 *  - Header: hdr_len is short of the size the second byte announces (2,
 *    then 2 or 8 bytes of extended length, then the 4 of the mask, which a
 *    client frame always has).  Each rule is checked as soon as the bytes
 *    that decide it are in, so an error never waits for input it does not
 *    need: a message over the limit is refused once its length is known,
 *    before the mask and the payload.
 *  - Payload: the header is complete and remaining > 0.  A text frame's
 *    bytes go out in pieces; a control frame's are gathered into ctl.
 *  - End: the header is complete and remaining == 0.  A control frame is
 *    reported, a data frame with FIN ends its message.  When the payload's
 *    last piece was the event of a call, the end waits for the next one, so
 *    that a message's end is always an event of its own.
 *
 * Length encodings that are not minimal (the 16-bit form for 100 bytes)
 * are accepted in data frames: RFC 6455 5.2 puts "minimal" on the sender,
 * the length is the same however written, and Autobahn does not require
 * refusing them.  A control frame's length field must be the 7-bit one: a
 * 126 or 127 there is refused at once (1002), as the length it leads to is
 * either over 125 or written longer than it needs. */
#include "core/http/ws_frame.h"

#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha.h>

#include "core/base/base64.h"

#define B0_FIN 0x80
#define B0_RSV 0x70
#define B0_OPCODE 0x0f
#define B1_MASK 0x80
#define B1_LEN 0x7f
#define MASK_SIZE 4

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_Static_assert((WC_SHA_DIGEST_SIZE + 2) / 3 * 4 == WS_ACCEPT_LEN,
	       "WS_ACCEPT_LEN is the base64 of a SHA-1 digest");
_Static_assert(2 + 8 + MASK_SIZE <= sizeof(((struct ws_parser *)0)->hdr),
	       "hdr holds the longest client frame header");

/* UTF-8 decoder states (RFC 3629 4's table): at a character boundary, so
 * many continuation bytes still to come, or the first continuation byte
 * still to come with the narrower range its lead byte allows (which is
 * what refuses overlong forms, surrogates and code points past U+10FFFF).
 * NEED1..NEED3 are 1..3 so that a continuation byte steps down by one. */
enum { UTF8_ACCEPT, UTF8_NEED1, UTF8_NEED2, UTF8_NEED3, UTF8_E0, UTF8_ED, UTF8_F0, UTF8_F4 };

static bool utf8_lead(uint32_t *st, uint8_t b)
{
	if (b < 0x80)
		*st = UTF8_ACCEPT;
	else if (b < 0xc2) /* a continuation byte, or C0/C1: overlong */
		return false;
	else if (b < 0xe0)
		*st = UTF8_NEED1;
	else if (b == 0xe0)
		*st = UTF8_E0;
	else if (b == 0xed)
		*st = UTF8_ED;
	else if (b < 0xf0)
		*st = UTF8_NEED2;
	else if (b == 0xf0)
		*st = UTF8_F0;
	else if (b < 0xf4)
		*st = UTF8_NEED3;
	else if (b == 0xf4)
		*st = UTF8_F4;
	else /* F5-FF: past U+10FFFF */
		return false;
	return true;
}

static bool utf8_cont(uint32_t *st, uint8_t b, uint8_t lo, uint8_t hi, uint32_t next)
{
	if (b < lo || b > hi)
		return false;
	*st = next;
	return true;
}

/* One byte through the decoder; false at the first byte that cannot be
 * part of well-formed UTF-8 whatever follows. */
static bool utf8_step(uint32_t *st, uint8_t b)
{
	switch (*st) {
	case UTF8_ACCEPT:
		return utf8_lead(st, b);
	case UTF8_E0: /* below A0: overlong */
		return utf8_cont(st, b, 0xa0, 0xbf, UTF8_NEED1);
	case UTF8_ED: /* from A0: D800-DFFF, surrogates */
		return utf8_cont(st, b, 0x80, 0x9f, UTF8_NEED1);
	case UTF8_F0: /* below 90: overlong */
		return utf8_cont(st, b, 0x90, 0xbf, UTF8_NEED2);
	case UTF8_F4: /* from 90: past U+10FFFF */
		return utf8_cont(st, b, 0x80, 0x8f, UTF8_NEED2);
	default:
		return utf8_cont(st, b, 0x80, 0xbf, *st - 1);
	}
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
	uint32_t st = UTF8_ACCEPT;
	for (size_t i = 0; i < n; i++)
		if (!utf8_step(&st, s[i]))
			return false;
	return st == UTF8_ACCEPT;
}

/* RFC 6455 7.4: 1004 is reserved, 1005, 1006 and 1015 stand for "no code"
 * and "no close frame" in APIs and must never be sent; 1012-1014 were
 * registered with IANA since (restart, try again later, bad gateway);
 * the rest below 3000 is the protocol's, unassigned; 3000-4999 belong to
 * libraries and applications. */
static bool close_code_sendable(uint16_t c)
{
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

static bool is_control(uint8_t op)
{
	return (op & 0x8) != 0;
}

/* Bytes of extended length that a header's second byte announces. */
static unsigned ext_len_size(uint8_t b1)
{
	uint8_t len7 = b1 & B1_LEN;
	return len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
}

static unsigned header_size(uint8_t b1)
{
	return 2 + ext_len_size(b1) + MASK_SIZE;
}

static bool in_header(const struct ws_parser *p)
{
	return p->hdr_len < 2 || p->hdr_len < header_size(p->hdr[1]);
}

static uint64_t frame_len(const uint8_t *hdr)
{
	unsigned ext = ext_len_size(hdr[1]);
	uint64_t n = ext ? 0 : hdr[1] & B1_LEN;
	for (unsigned i = 0; i < ext; i++)
		n = n << 8 | hdr[2 + i];
	return n;
}

/* Reports the error that ends the connection; true, for the callers'
 * "if (...) return fail(...)". */
static bool fail(struct ws_parser *p, struct ws_ev *ev, uint16_t code, const char *why)
{
	p->done = true;
	*ev = (struct ws_ev){ .type = WS_EV_ERROR, .code = code, .why = why };
	return true;
}

/* The rules the first two bytes decide. */
static bool check_start(struct ws_parser *p, struct ws_ev *ev)
{
	uint8_t b0 = p->hdr[0], b1 = p->hdr[1], op = b0 & B0_OPCODE;

	/* no extension was negotiated, so no RSV bit has a meaning */
	if (b0 & B0_RSV)
		return fail(p, ev, 1002, "RSV bit set");
	if (op > WS_OP_BINARY && !is_control(op))
		return fail(p, ev, 1002, "reserved data opcode");
	if (op > WS_OP_PONG)
		return fail(p, ev, 1002, "reserved control opcode");
	if (!(b1 & B1_MASK))
		return fail(p, ev, 1002, "unmasked client frame");
	if (op == WS_OP_BINARY)
		return fail(p, ev, 1003, "binary message");
	if (is_control(op) && !(b0 & B0_FIN))
		return fail(p, ev, 1002, "fragmented control frame");
	if (is_control(op) && (b1 & B1_LEN) > WS_CONTROL_MAX)
		return fail(p, ev, 1002, "control frame over 125 bytes");
	if (op == WS_OP_CONT && !p->in_message)
		return fail(p, ev, 1002, "continuation with no message");
	if (op == WS_OP_TEXT && p->in_message)
		return fail(p, ev, 1002, "new message inside a fragmented one");
	p->opcode = op;
	p->fin = (b0 & B0_FIN) != 0;
	/* message_len and utf8 were left at 0 by the last message's end */
	if (op == WS_OP_TEXT)
		p->in_message = true;
	return false;
}

/* The rules the length decides, once all of it is in. */
static bool check_length(struct ws_parser *p, struct ws_ev *ev)
{
	uint64_t n = frame_len(p->hdr);

	/* RFC 6455 5.2: "the most significant bit MUST be 0" */
	if (n >> 63)
		return fail(p, ev, 1002, "64-bit length with its top bit set");
	if (!is_control(p->opcode)) {
		/* message_len <= max_message holds, so no overflow */
		if (n > p->max_message - p->message_len)
			return fail(p, ev, 1009, "message too big");
		p->message_len += n;
	}
	p->remaining = n;
	return false;
}

static void start_payload(struct ws_parser *p)
{
	memcpy(p->mask, p->hdr + 2 + ext_len_size(p->hdr[1]), MASK_SIZE);
	p->mask_pos = 0;
	p->ctl_len = 0;
}

/* One more header byte; true if it makes an event (an error). */
static bool header_byte(struct ws_parser *p, uint8_t b, struct ws_ev *ev)
{
	p->hdr[p->hdr_len++] = b;
	if (p->hdr_len < 2)
		return false;
	if (p->hdr_len == 2 && check_start(p, ev))
		return true;
	if (p->hdr_len == 2 + ext_len_size(p->hdr[1]) && check_length(p, ev))
		return true;
	if (p->hdr_len == header_size(p->hdr[1]))
		start_payload(p);
	return false;
}

static void unmask(struct ws_parser *p, uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] ^ p->mask[(p->mask_pos + i) & 3];
	p->mask_pos = (uint8_t)((p->mask_pos + n) & 3);
}

static size_t min_size(size_t a, uint64_t b)
{
	return b < a ? (size_t)b : a;
}

/* The next piece of a text message's payload from in[0..len), len > 0. */
static size_t text_piece(struct ws_parser *p, const uint8_t *in, size_t len, uint8_t *scratch,
			 size_t scratch_cap, struct ws_ev *ev)
{
	size_t n = min_size(min_size(len, scratch_cap), p->remaining);

	unmask(p, scratch, in, n);
	for (size_t i = 0; i < n; i++) {
		if (!utf8_step(&p->utf8, scratch[i])) {
			fail(p, ev, 1007, "text is not UTF-8");
			return i + 1;
		}
	}
	p->remaining -= n;
	*ev = (struct ws_ev){ .type = WS_EV_TEXT, .data = scratch, .len = n };
	return n;
}

static size_t gather_control(struct ws_parser *p, const uint8_t *in, size_t len)
{
	/* remaining <= WS_CONTROL_MAX - ctl_len, checked at the header */
	size_t n = min_size(len, p->remaining);

	unmask(p, p->ctl + p->ctl_len, in, n);
	p->ctl_len = (uint8_t)(p->ctl_len + n);
	p->remaining -= n;
	return n;
}

static void close_event(struct ws_parser *p, struct ws_ev *ev)
{
	p->done = true;
	if (p->ctl_len == 0) {
		*ev = (struct ws_ev){ .type = WS_EV_CLOSE, .data = p->ctl };
		return;
	}
	if (p->ctl_len == 1) {
		fail(p, ev, 1002, "close payload of one byte");
		return;
	}
	uint16_t code = (uint16_t)(p->ctl[0] << 8 | p->ctl[1]);
	if (!close_code_sendable(code)) {
		fail(p, ev, 1002, "close code that may not be sent");
		return;
	}
	if (!utf8_valid(p->ctl + 2, p->ctl_len - 2u)) {
		fail(p, ev, 1007, "close reason is not UTF-8");
		return;
	}
	*ev = (struct ws_ev){ .type = WS_EV_CLOSE, .code = code, .data = p->ctl + 2,
			      .len = p->ctl_len - 2u };
}

/* A control frame's payload is all in: its event. */
static void control_event(struct ws_parser *p, struct ws_ev *ev)
{
	p->hdr_len = 0;
	if (p->opcode == WS_OP_CLOSE) {
		close_event(p, ev);
		return;
	}
	*ev = (struct ws_ev){ .type = p->opcode == WS_OP_PING ? WS_EV_PING : WS_EV_PONG,
			      .data = p->ctl, .len = p->ctl_len };
}

/* A text or continuation frame's payload is all out; true if that makes
 * an event (its message's end, or an error). */
static bool data_frame_end(struct ws_parser *p, struct ws_ev *ev)
{
	p->hdr_len = 0;
	if (!p->fin)
		return false;
	p->in_message = false;
	p->message_len = 0;
	if (p->utf8 != UTF8_ACCEPT)
		return fail(p, ev, 1007, "text ends inside a UTF-8 sequence");
	*ev = (struct ws_ev){ .type = WS_EV_MESSAGE_END };
	return true;
}

void ws_parser_init(struct ws_parser *p, uint64_t max_message)
{
	*p = (struct ws_parser){ .max_message = max_message };
}

size_t ws_parse(struct ws_parser *p, const uint8_t *in, size_t len, uint8_t *scratch,
		size_t scratch_cap, struct ws_ev *ev)
{
	size_t used = 0;

	*ev = (struct ws_ev){ .type = WS_EV_MORE };
	if (p->done)
		return len;
	for (;;) {
		if (in_header(p)) {
			if (used == len)
				return used;
			if (header_byte(p, in[used++], ev))
				return used;
		} else if (is_control(p->opcode)) {
			/* never in + used on an empty input: in may be NULL */
			if (used < len)
				used += gather_control(p, in + used, len - used);
			if (p->remaining == 0)
				control_event(p, ev);
			return used;
		} else if (p->remaining > 0) {
			if (used == len)
				return used;
			used += text_piece(p, in + used, len - used, scratch, scratch_cap, ev);
			return used;
		} else if (data_frame_end(p, ev)) {
			return used;
		}
	}
}

/* A done parser holds nothing either, and never will again. */
bool ws_parser_idle(const struct ws_parser *p)
{
	return p->done || (p->hdr_len == 0 && !p->in_message);
}

size_t ws_frame_header(uint8_t out[WS_HEADER_MAX], enum ws_opcode op, uint64_t payload_len)
{
	out[0] = (uint8_t)(B0_FIN | op);
	if (payload_len <= WS_CONTROL_MAX) {
		out[1] = (uint8_t)payload_len;
		return 2;
	}
	if (payload_len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		return 4;
	}
	out[1] = 127;
	for (unsigned i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
	return 10;
}

size_t ws_close_frame(uint8_t out[WS_HEADER_MAX + WS_CLOSE_FRAME_MAX], uint16_t code,
		      const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;

	/* cut before the continuation bytes of the character that would
	 * cross the limit, so that the reason stays UTF-8 */
	if (rlen > WS_CONTROL_MAX - 2) {
		rlen = WS_CONTROL_MAX - 2;
		while (rlen > 0 && ((uint8_t)reason[rlen] & 0xc0) == 0x80)
			rlen--;
	}
	size_t h = ws_frame_header(out, WS_OP_CLOSE, 2 + rlen);
	out[h] = (uint8_t)(code >> 8);
	out[h + 1] = (uint8_t)code;
	if (rlen)
		memcpy(out + h + 2, reason, rlen);
	return h + 2 + rlen;
}

bool ws_key_valid(const char *key, size_t len)
{
	uint8_t raw[16];
	size_t n = 0;

	/* 16 bytes are 24 characters ending "=="; with room for exactly 16,
	 * the strict decoder refuses a key of more, and we one of fewer */
	return len == 24 && base64_decode(key, len, raw, sizeof(raw), &n) == XS_OK &&
	       n == sizeof(raw);
}

void ws_accept_value(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1])
{
	static const char guid[] = WS_GUID;
	uint8_t digest[WC_SHA_DIGEST_SIZE];
	wc_Sha sha;

	/* an empty value, which no client accepts, if wolfCrypt fails */
	out[0] = '\0';
	if (wc_InitSha(&sha) != 0)
		return;
	int rc = wc_ShaUpdate(&sha, (const byte *)key, (word32)len);
	if (rc == 0)
		rc = wc_ShaUpdate(&sha, (const byte *)guid, sizeof(guid) - 1);
	if (rc == 0)
		rc = wc_ShaFinal(&sha, digest);
	wc_ShaFree(&sha);
	if (rc == 0)
		base64_encode(digest, sizeof(digest), out, WS_ACCEPT_LEN + 1, NULL);
}
