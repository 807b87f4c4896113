/* Unit tests for core/http/ws_frame.c: a masked text frame fed whole, split
 * in two at every byte and one byte at a time, all giving the same text and
 * one message end; the 7/16/64-bit length forms (and forms longer than
 * needed); a fragmented message with a ping between its fragments, split at
 * every byte; pieces no longer than the scratch buffer; every error with its
 * close code (1002, 1003, 1007 in text and in a close reason, 1009 at the
 * header that passes the limit); close codes that may and may not be sent;
 * nothing but WS_EV_MORE after a close or an error; when the parser is
 * idle; and the writer side (frame headers, close frames cut at a
 * character, Sec-WebSocket-Key and Sec-WebSocket-Accept). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/http/ws_frame.h"

#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10
#define ROOMY (1u << 20) /* a max_message no test here reaches */
#define CAP 64           /* scratch_cap unless a test says otherwise */

enum form { LEN_MIN, LEN_16, LEN_64 };

static const uint8_t mask_a[4] = { 0x37, 0xfa, 0x21, 0x3d };
static const uint8_t mask_b[4] = { 0x00, 0xff, 0x80, 0x7f };

/* A client frame's header: b0 is FIN | RSV | opcode as sent, len is written
 * in the form asked (LEN_MIN: the shortest) whatever payload follows, and
 * mask NULL makes an unmasked frame. */
static void put_header(struct xbuf *b, uint8_t b0, uint64_t len, enum form form,
		       const uint8_t *mask)
{
	uint8_t h[14], m = mask ? 0x80 : 0;
	size_t n = 0;

	h[n++] = b0;
	if (form == LEN_MIN && len <= 125) {
		h[n++] = (uint8_t)(m | len);
	} else if (form != LEN_64 && len <= 0xffff) {
		h[n++] = m | 126;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		h[n++] = m | 127;
		for (int i = 7; i >= 0; i--)
			h[n++] = (uint8_t)(len >> (8 * i));
	}
	if (mask) {
		memcpy(h + n, mask, 4);
		n += 4;
	}
	assert_int_equal(xbuf_append(b, h, n), XS_OK);
}

/* A payload as the client sends it: masked with mask (NULL: as is). */
static void put_payload(struct xbuf *b, const void *data, size_t n, const uint8_t *mask)
{
	const uint8_t *d = data;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = mask ? d[i] ^ mask[i % 4] : d[i];
		assert_int_equal(xbuf_append(b, &c, 1), XS_OK);
	}
}

static void put_frame(struct xbuf *b, uint8_t b0, const void *data, size_t n, enum form form,
		      const uint8_t *mask)
{
	put_header(b, b0, n, form, mask);
	put_payload(b, data, n, mask);
}

/* The common case: a frame with a C string payload, masked. */
static void put(struct xbuf *b, uint8_t b0, const char *s)
{
	put_frame(b, b0, s, strlen(s), LEN_MIN, mask_a);
}

/* A close frame with a code and a reason, masked. */
static void put_close(struct xbuf *b, uint16_t code, const char *reason)
{
	uint8_t pl[WS_CONTROL_MAX];
	size_t n = strlen(reason);
	assert_true(n <= sizeof(pl) - 2);
	pl[0] = (uint8_t)(code >> 8);
	pl[1] = (uint8_t)code;
	memcpy(pl + 2, reason, n);
	put_frame(b, FIN | WS_OP_CLOSE, pl, n + 2, LEN_MIN, mask_b);
}

/* Printable ASCII as is, the rest as \xHH, so that a failure shows it. */
static void append_escaped(struct xbuf *out, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
			xbuf_append(out, &s[i], 1);
		else
			xbuf_appendf(out, "\\x%02x", s[i]);
	}
}

/* What a parser reported, described as one line so that whole and split
 * feeds compare with one string compare.  Text pieces are joined up to the
 * next other event, since where pieces end depends on the split.  A 1007
 * drops the text it interrupts: the valid bytes before the bad one may or
 * may not have gone out, depending on the split. */
struct events {
	struct xbuf log, text;
	size_t pieces;          /* WS_EV_TEXT events */
	size_t cap;             /* scratch_cap given */
	const uint8_t *scratch;
	bool done;              /* a close or an error came */
};

static void flush_text(struct events *e, bool drop)
{
	if (e->text.len && !drop) {
		xbuf_append_str(&e->log, "TEXT[");
		append_escaped(&e->log, (const uint8_t *)e->text.data, e->text.len);
		xbuf_append_str(&e->log, "] ");
	}
	xbuf_reset(&e->text);
}

static void record(struct events *e, const struct ws_parser *p, const struct ws_ev *ev)
{
	assert_false(e->done);
	switch (ev->type) {
	case WS_EV_TEXT:
		assert_ptr_equal(ev->data, e->scratch);
		assert_true(ev->len >= 1 && ev->len <= e->cap);
		xbuf_append(&e->text, ev->data, ev->len);
		e->pieces++;
		return;
	case WS_EV_ERROR:
		assert_non_null(ev->why);
		flush_text(e, ev->code == 1007);
		xbuf_appendf(&e->log, "ERROR %u ", ev->code);
		e->done = true;
		return;
	case WS_EV_MESSAGE_END:
		flush_text(e, false);
		xbuf_append_str(&e->log, "END ");
		return;
	case WS_EV_PING:
	case WS_EV_PONG:
	case WS_EV_CLOSE:
		flush_text(e, false);
		/* a control frame's payload is the parser's own */
		assert_true(ev->data >= p->ctl && ev->data + ev->len <= p->ctl + sizeof(p->ctl));
		assert_true(ev->len <= WS_CONTROL_MAX);
		if (ev->type == WS_EV_CLOSE)
			xbuf_appendf(&e->log, "CLOSE %u [", ev->code);
		else
			xbuf_append_str(&e->log, ev->type == WS_EV_PING ? "PING [" : "PONG [");
		append_escaped(&e->log, ev->data, ev->len);
		xbuf_append_str(&e->log, "] ");
		e->done = ev->type == WS_EV_CLOSE;
		return;
	case WS_EV_MORE:
		break;
	}
	fail_msg("unexpected event %d", ev->type);
}

/* One read: events until WS_EV_MORE, which must have used all. */
static void feed(struct ws_parser *p, const uint8_t *in, size_t len, uint8_t *scratch,
		 struct events *e)
{
	for (;;) {
		struct ws_ev ev;
		size_t used = ws_parse(p, in, len, scratch, e->cap, &ev);
		assert_true(used <= len);
		in += used;
		len -= used;
		if (ev.type == WS_EV_MORE) {
			assert_int_equal(len, 0);
			return;
		}
		record(e, p, &ev);
	}
}

/* Feeds data in reads of `first` bytes, then of `step` (0: the rest),
 * with scratch_cap cap; the events described, in out (to be freed). */
static void run(uint64_t max, const uint8_t *data, size_t len, size_t first, size_t step,
		size_t cap, struct xbuf *out)
{
	struct ws_parser p;
	uint8_t *scratch = malloc(cap); /* exactly cap: ASan sees an overrun */
	struct events e = { .cap = cap, .scratch = scratch };

	assert_non_null(scratch);
	ws_parser_init(&p, max);
	size_t off = first < len ? first : len;
	feed(&p, data, off, scratch, &e);
	while (off < len) {
		size_t piece = step && step < len - off ? step : len - off;
		feed(&p, data + off, piece, scratch, &e);
		off += piece;
	}
	flush_text(&e, false);
	/* the log without its last blank */
	if (e.log.len)
		e.log.data[--e.log.len] = '\0';
	xbuf_free(out);
	*out = e.log;
	xbuf_free(&e.text);
	free(scratch);
}

static void expect_log(const struct xbuf *got, const char *want, const char *how, size_t at)
{
	const char *g = got->data ? got->data : "";
	if (strcmp(g, want) != 0) {
		print_error("%s %zu\n", how, at);
		assert_string_equal(g, want);
	}
}

/* Whole, split in two at every byte, and one byte at a time: each must give
 * `want`. */
static void check_every_split_cap(uint64_t max, const struct xbuf *in, size_t cap,
				  const char *want)
{
	const uint8_t *d = (const uint8_t *)in->data;
	struct xbuf got = { 0 };

	run(max, d, in->len, in->len, 0, cap, &got);
	expect_log(&got, want, "whole", in->len);
	for (size_t cut = 0; cut <= in->len; cut++) {
		run(max, d, in->len, cut, 0, cap, &got);
		expect_log(&got, want, "split at", cut);
	}
	run(max, d, in->len, 1, 1, cap, &got);
	expect_log(&got, want, "bytewise", 1);
	xbuf_free(&got);
}

static void check_every_split(uint64_t max, const struct xbuf *in, const char *want)
{
	check_every_split_cap(max, in, CAP, want);
}

/* For one frame built by the caller, then freed. */
static void expect(struct xbuf *in, const char *want)
{
	check_every_split(ROOMY, in, want);
	xbuf_free(in);
}

static void test_text_every_split(void **state)
{
	struct xbuf in = { 0 };
	put(&in, FIN | WS_OP_TEXT,
	    "<message to='a@b'>h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80</message>");
	check_every_split(ROOMY, &in, "TEXT[<message to='a@b'>h\\xc3\\xa9 \\xe2\\x82\\xac "
			  "\\xf0\\x9f\\x98\\x80</message>] END");
	/* a second message on the same connection, masked otherwise */
	put_frame(&in, FIN | WS_OP_TEXT, "<r/>", 4, LEN_MIN, mask_b);
	check_every_split(ROOMY, &in, "TEXT[<message to='a@b'>h\\xc3\\xa9 \\xe2\\x82\\xac "
			  "\\xf0\\x9f\\x98\\x80</message>] END TEXT[<r/>] END");
	xbuf_free(&in);
}

/* The parser must hand out exactly the bytes the client meant. */
static void check_length(size_t n, enum form form, size_t header_len)
{
	struct xbuf in = { 0 }, want = { 0 }, got = { 0 };
	char *payload = malloc(n + 1);

	assert_non_null(payload);
	for (size_t i = 0; i < n; i++)
		payload[i] = (char)('a' + i % 26);
	put_frame(&in, FIN | WS_OP_TEXT, payload, n, form, mask_a);
	assert_int_equal(in.len, header_len + n);
	if (n) {
		xbuf_append_str(&want, "TEXT[");
		xbuf_append(&want, payload, n);
		xbuf_append_str(&want, "] ");
	}
	xbuf_append_str(&want, "END");

	const uint8_t *d = (const uint8_t *)in.data;
	run(ROOMY, d, in.len, in.len, 0, n + 1, &got);
	expect_log(&got, want.data, "whole, cap", n + 1);
	run(ROOMY, d, in.len, in.len, 0, 1000, &got);
	expect_log(&got, want.data, "whole, cap", 1000);
	/* in the extended length, in the mask, in the payload */
	for (size_t cut = 1; cut <= header_len + 2 && cut <= in.len; cut++) {
		run(ROOMY, d, in.len, cut, 0, CAP, &got);
		expect_log(&got, want.data, "split at", cut);
	}
	run(ROOMY, d, in.len, 1, 1, 3, &got);
	expect_log(&got, want.data, "bytewise", 1);
	free(payload);
	xbuf_free(&in);
	xbuf_free(&want);
	xbuf_free(&got);
}

static void test_lengths(void **state)
{
	check_length(0, LEN_MIN, 6);
	check_length(125, LEN_MIN, 6);
	check_length(126, LEN_MIN, 8);
	check_length(65535, LEN_MIN, 8);
	check_length(65536, LEN_MIN, 14);
	/* longer forms than needed are accepted (see ws_frame.c) */
	check_length(0, LEN_16, 8);
	check_length(5, LEN_16, 8);
	check_length(5, LEN_64, 14);
	check_length(300, LEN_64, 14);
}

/* text, ping, continuation, pong, continuation with FIN; then a message in
 * one frame and a close, the close reason split anywhere too */
static void test_fragmented_with_ping(void **state)
{
	struct xbuf in = { 0 };
	put(&in, WS_OP_TEXT, "<iq type='get'>\xe2\x82");
	put(&in, FIN | WS_OP_PING, "p1");
	put_frame(&in, WS_OP_CONT, "\xac<ping/>", 8, LEN_16, mask_b);
	put(&in, FIN | WS_OP_PONG, "");
	put(&in, WS_OP_CONT, "");
	put(&in, FIN | WS_OP_CONT, "</iq>");
	put(&in, FIN | WS_OP_TEXT, "x");
	put_close(&in, 1000, "bye \xc3\xa9");
	expect(&in, "TEXT[<iq type='get'>\\xe2\\x82] PING [p1] TEXT[\\xac<ping/>] PONG [] "
	       "TEXT[</iq>] END TEXT[x] END CLOSE 1000 [bye \\xc3\\xa9]");
}

static void test_empty_messages(void **state)
{
	struct xbuf in = { 0 };
	put(&in, FIN | WS_OP_TEXT, "");
	put(&in, WS_OP_TEXT, "");
	put(&in, FIN | WS_OP_CONT, "");
	put(&in, FIN | WS_OP_PING, "");
	put(&in, FIN | WS_OP_CLOSE, "");
	expect(&in, "END END PING [] CLOSE 0 []");
}

static void test_scratch_cap(void **state)
{
	struct xbuf in = { 0 };
	char text[101];
	for (int i = 0; i < 100; i++)
		text[i] = (char)('0' + i % 10);
	text[100] = '\0';
	put(&in, WS_OP_TEXT, text);
	put(&in, FIN | WS_OP_CONT, "\xc3\xa9"); /* é across pieces of 1 */
	char want[200];
	snprintf(want, sizeof(want), "TEXT[%s\\xc3\\xa9] END", text);
	for (size_t cap = 1; cap <= 8; cap++)
		check_every_split_cap(ROOMY, &in, cap, want);

	/* how many pieces: as many as cap allows, and no more */
	struct ws_parser p;
	uint8_t scratch[7];
	struct events e = { .cap = 7, .scratch = scratch };
	ws_parser_init(&p, ROOMY);
	feed(&p, (const uint8_t *)in.data, in.len, scratch, &e);
	assert_int_equal(e.pieces, 15 + 1); /* 100 = 14 * 7 + 2; then 2 */
	xbuf_free(&e.log);
	xbuf_free(&e.text);
	xbuf_free(&in);
}

/* One frame with b0 as given and a small masked payload. */
static void expect_b0(uint8_t b0, const char *want)
{
	struct xbuf in = { 0 };
	put(&in, b0, "ab");
	expect(&in, want);
}

static void test_header_errors(void **state)
{
	struct xbuf in = { 0 };

	expect_b0(FIN | WS_OP_TEXT, "TEXT[ab] END"); /* the control case */
	expect_b0(FIN | RSV1 | WS_OP_TEXT, "ERROR 1002");
	expect_b0(FIN | RSV2 | WS_OP_TEXT, "ERROR 1002");
	expect_b0(FIN | RSV3 | WS_OP_PING, "ERROR 1002");
	for (uint8_t op = 3; op <= 7; op++)
		expect_b0(FIN | op, "ERROR 1002");
	for (uint8_t op = 0xb; op <= 0xf; op++)
		expect_b0(FIN | op, "ERROR 1002");
	expect_b0(FIN | WS_OP_BINARY, "ERROR 1003");
	expect_b0(WS_OP_BINARY, "ERROR 1003");
	expect_b0(WS_OP_PING, "ERROR 1002");  /* fragmented control frames */
	expect_b0(WS_OP_CLOSE, "ERROR 1002");
	expect_b0(WS_OP_PONG, "ERROR 1002");
	expect_b0(FIN | WS_OP_CONT, "ERROR 1002");
	expect_b0(WS_OP_CONT, "ERROR 1002");

	/* unmasked */
	put_frame(&in, FIN | WS_OP_TEXT, "ab", 2, LEN_MIN, NULL);
	expect(&in, "ERROR 1002");
	put_frame(&in, FIN | WS_OP_PING, "ab", 2, LEN_MIN, NULL);
	expect(&in, "ERROR 1002");

	/* binary as a later fragment of a text message */
	put(&in, WS_OP_TEXT, "a");
	put(&in, FIN | WS_OP_BINARY, "b");
	expect(&in, "TEXT[a] ERROR 1003");

	/* control frames: 125 is the most, in the 7-bit form only (the
	 * 16-bit form of a length that fits is refused with it) */
	char big[127], want[160];
	memset(big, 'p', sizeof(big));
	put_frame(&in, FIN | WS_OP_PING, big, 125, LEN_MIN, mask_a);
	put_frame(&in, FIN | WS_OP_PONG, big, 126, LEN_MIN, mask_a);
	snprintf(want, sizeof(want), "PING [%.125s] ERROR 1002", big);
	expect(&in, want);
	put_frame(&in, FIN | WS_OP_PING, big, 5, LEN_16, mask_a);
	expect(&in, "ERROR 1002");
	put_frame(&in, FIN | WS_OP_CLOSE, big, 127, LEN_64, mask_a);
	expect(&in, "ERROR 1002");

	/* a continuation after the message ended */
	put(&in, FIN | WS_OP_TEXT, "a");
	put(&in, FIN | WS_OP_CONT, "b");
	expect(&in, "TEXT[a] END ERROR 1002");

	/* a new message inside a fragmented one, with or without FIN */
	put(&in, WS_OP_TEXT, "a");
	put(&in, FIN | WS_OP_PING, "");
	put(&in, FIN | WS_OP_TEXT, "b");
	expect(&in, "TEXT[a] PING [] ERROR 1002");
	put(&in, WS_OP_TEXT, "a");
	put(&in, WS_OP_TEXT, "b");
	expect(&in, "TEXT[a] ERROR 1002");

	/* the 64-bit length's top bit, refused before the mask comes */
	put_header(&in, FIN | WS_OP_TEXT, UINT64_C(1) << 63, LEN_64, NULL);
	in.data[1] |= 0x80; /* masked, yet no mask bytes given */
	expect(&in, "ERROR 1002");
	put_header(&in, FIN | WS_OP_TEXT, UINT64_MAX, LEN_64, mask_a);
	expect(&in, "ERROR 1002");
	/* just below: too big, but not malformed */
	put_header(&in, FIN | WS_OP_TEXT, INT64_MAX, LEN_64, mask_a);
	expect(&in, "ERROR 1009");
}

static void expect_close_code(uint16_t code, const char *want)
{
	struct xbuf in = { 0 };
	put_close(&in, code, "");
	expect(&in, want);
}

static void test_close(void **state)
{
	struct xbuf in = { 0 };
	static const uint16_t bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999,
					5000, 65535 };
	static const uint16_t good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
					 1012, 1013, 1014, 3000, 4000, 4999 };
	char want[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_close_code(bad[i], "ERROR 1002");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(want, sizeof(want), "CLOSE %u []", good[i]);
		expect_close_code(good[i], want);
	}

	put(&in, FIN | WS_OP_CLOSE, "");
	expect(&in, "CLOSE 0 []");
	put(&in, FIN | WS_OP_CLOSE, "\x03");
	expect(&in, "ERROR 1002");
	put(&in, FIN | WS_OP_CLOSE, "\x0f"); /* 0x0fxx would be a valid code */
	expect(&in, "ERROR 1002");
	put_close(&in, 1001, "going away");
	expect(&in, "CLOSE 1001 [going away]");
	/* the reason must be UTF-8, whole */
	put_close(&in, 1000, "\xc0\x80");
	expect(&in, "ERROR 1007");
	put_close(&in, 1000, "ok\xe2\x82");
	expect(&in, "ERROR 1007");
	put_close(&in, 1000, "\xed\xa0\x80");
	expect(&in, "ERROR 1007");
	put_close(&in, 4000, "\xf4\x8f\xbf\xbf");
	expect(&in, "CLOSE 4000 [\\xf4\\x8f\\xbf\\xbf]");

	/* a close of 125 bytes, split anywhere */
	char reason[124], want125[160];
	memset(reason, 'r', 123);
	reason[123] = '\0';
	put_close(&in, 1000, reason);
	snprintf(want125, sizeof(want125), "CLOSE 1000 [%s]", reason);
	expect(&in, want125);
}

/* A text message of the given bytes in one frame. */
static void expect_text(const char *s, const char *want)
{
	struct xbuf in = { 0 };
	put(&in, FIN | WS_OP_TEXT, s);
	expect(&in, want);
}

static void test_utf8(void **state)
{
	struct xbuf in = { 0 };
	static const char *const bad[] = {
		"\xc0\x80",         /* overlong NUL */
		"\xc1\xbf",         /* overlong, C1 */
		"\xe0\x80\x80",     /* overlong, 3 bytes */
		"\xe0\x9f\xbf",
		"\xf0\x8f\xbf\xbf", /* overlong, 4 bytes */
		"\xed\xa0\x80",     /* U+D800 */
		"\xed\xbf\xbf",     /* U+DFFF */
		"\xf4\x90\x80\x80", /* U+110000 */
		"\xf5\x80\x80\x80",
		"\xff",
		"\x80",             /* a lone continuation */
		"a\xbf",
		"\xc3\x28",         /* a lead byte without its continuation */
		"\xe2\x82\x28",
		"\xe2\x82",         /* truncated at the message's end */
		"\xf0\x9f\x98",
		"\xc3",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char s[16];
		snprintf(s, sizeof(s), "ok%s", bad[i]);
		expect_text(s, "ERROR 1007");
	}
	/* the edges that are valid */
	expect_text("\x7f\xc2\x80\xdf\xbf", "TEXT[\\x7f\\xc2\\x80\\xdf\\xbf] END");
	expect_text("\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf",
		    "TEXT[\\xe0\\xa0\\x80\\xed\\x9f\\xbf\\xee\\x80\\x80\\xef\\xbf\\xbf] END");
	expect_text("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
		    "TEXT[\\xf0\\x90\\x80\\x80\\xf4\\x8f\\xbf\\xbf] END");

	/* a character across fragments is fine, wherever they are split */
	put(&in, WS_OP_TEXT, "a\xf0\x9f");
	put(&in, WS_OP_CONT, "\x98");
	put(&in, FIN | WS_OP_CONT, "\x80z");
	expect(&in, "TEXT[a\\xf0\\x9f\\x98\\x80z] END");
	/* ... but not one left open at the last fragment's FIN */
	put(&in, WS_OP_TEXT, "a\xe2\x82");
	put(&in, FIN | WS_OP_CONT, "");
	expect(&in, "ERROR 1007");
	put(&in, WS_OP_TEXT, "\xe2");
	put(&in, FIN | WS_OP_CONT, "A");
	expect(&in, "ERROR 1007");

	/* found at the bad byte: before the message ends, and before the
	 * frame's payload is all in */
	put(&in, WS_OP_TEXT, "\xc0");
	expect(&in, "ERROR 1007");
	put_header(&in, FIN | WS_OP_TEXT, 100, LEN_MIN, mask_a);
	put_payload(&in, "abc\xff", 4, mask_a);
	expect(&in, "ERROR 1007");
}

static void test_max_message(void **state)
{
	struct xbuf in = { 0 };

	/* exactly the limit, in fragments, twice: the count starts again */
	put(&in, WS_OP_TEXT, "abcdef");
	put(&in, FIN | WS_OP_PING, "ping");
	put(&in, FIN | WS_OP_CONT, "ghij");
	put(&in, FIN | WS_OP_TEXT, "0123456789");
	check_every_split(10, &in, "TEXT[abcdef] PING [ping] TEXT[ghij] END TEXT[0123456789] END");
	xbuf_free(&in);

	/* one byte more, refused at the header, with no payload given: in
	 * every length form */
	for (enum form f = LEN_MIN; f <= LEN_64; f++) {
		put(&in, WS_OP_TEXT, "abcdef");
		put(&in, WS_OP_CONT, "");
		put_header(&in, FIN | WS_OP_CONT, 5, f, mask_a);
		check_every_split(10, &in, "TEXT[abcdef] ERROR 1009");
		xbuf_free(&in);
	}
	/* and before the mask */
	put_header(&in, FIN | WS_OP_TEXT, 11, LEN_16, NULL);
	in.data[1] |= 0x80;
	check_every_split(10, &in, "ERROR 1009");
	xbuf_free(&in);
	/* a huge length, under the 64-bit form's top bit */
	put_header(&in, FIN | WS_OP_TEXT, UINT64_C(1) << 40, LEN_64, mask_a);
	check_every_split(ROOMY, &in, "ERROR 1009");
	xbuf_free(&in);
	/* control frames do not count */
	put(&in, WS_OP_TEXT, "abcdefghij");
	put(&in, FIN | WS_OP_PONG, "0123456789abcdef");
	put(&in, FIN | WS_OP_CONT, "");
	check_every_split(10, &in, "TEXT[abcdefghij] PONG [0123456789abcdef] END");
	xbuf_free(&in);
}

/* After a close or an error: everything used, nothing reported. */
static void check_done_after(const struct xbuf *in, enum ws_ev_type type)
{
	struct ws_parser p;
	struct ws_ev ev;
	uint8_t scratch[CAP];
	static const uint8_t more[] = { 0x81, 0x81, 1, 2, 3, 4, 'a' ^ 1 };

	ws_parser_init(&p, ROOMY);
	size_t used = ws_parse(&p, (const uint8_t *)in->data, in->len, scratch, CAP, &ev);
	assert_int_equal(ev.type, type);
	assert_true(used <= in->len);
	/* the rest of the read, then a later one, then an empty one */
	assert_int_equal(ws_parse(&p, (const uint8_t *)in->data + used, in->len - used,
				  scratch, CAP, &ev), in->len - used);
	assert_int_equal(ev.type, WS_EV_MORE);
	assert_int_equal(ws_parse(&p, more, sizeof(more), scratch, CAP, &ev), sizeof(more));
	assert_int_equal(ev.type, WS_EV_MORE);
	assert_int_equal(ws_parse(&p, NULL, 0, scratch, CAP, &ev), 0);
	assert_int_equal(ev.type, WS_EV_MORE);
}

static void test_done(void **state)
{
	struct xbuf in = { 0 };

	put_close(&in, 1000, "");
	put(&in, FIN | WS_OP_TEXT, "after");
	check_done_after(&in, WS_EV_CLOSE);
	expect(&in, "CLOSE 1000 []");

	put_frame(&in, FIN | WS_OP_TEXT, "x", 1, LEN_MIN, NULL);
	put(&in, FIN | WS_OP_TEXT, "after");
	check_done_after(&in, WS_EV_ERROR);
	expect(&in, "ERROR 1002");

	put(&in, FIN | WS_OP_TEXT, "\xff after");
	check_done_after(&in, WS_EV_ERROR);
	xbuf_free(&in);
}

/* The event sequence of a single call pattern: a piece that uses the last
 * byte, then the message's end on an empty call. */
static void test_end_after_last_byte(void **state)
{
	struct xbuf in = { 0 };
	struct ws_parser p;
	struct ws_ev ev;
	uint8_t scratch[CAP];

	put(&in, FIN | WS_OP_TEXT, "hi");
	ws_parser_init(&p, ROOMY);
	assert_int_equal(ws_parse(&p, (const uint8_t *)in.data, in.len, scratch, CAP, &ev),
			 in.len);
	assert_int_equal(ev.type, WS_EV_TEXT);
	assert_int_equal(ev.len, 2);
	assert_memory_equal(ev.data, "hi", 2);
	assert_int_equal(ws_parse(&p, NULL, 0, scratch, CAP, &ev), 0);
	assert_int_equal(ev.type, WS_EV_MESSAGE_END);
	assert_int_equal(ws_parse(&p, NULL, 0, scratch, CAP, &ev), 0);
	assert_int_equal(ev.type, WS_EV_MORE);
	xbuf_free(&in);
}

/* Idle between frames with no message in progress, and once done; not
 * inside a header, a payload, a fragmented message, or before a message's
 * end was reported. */
static void test_idle(void **state)
{
	struct xbuf in = { 0 };
	struct ws_parser p;
	struct ws_ev ev;
	uint8_t scratch[CAP];
	const uint8_t *d;
	size_t frame1, frame2;

	put(&in, WS_OP_TEXT, "ab");
	frame1 = in.len;
	put(&in, FIN | WS_OP_PING, "p");
	frame2 = in.len;
	put(&in, FIN | WS_OP_CONT, "c");
	d = (const uint8_t *)in.data;

	ws_parser_init(&p, ROOMY);
	assert_true(ws_parser_idle(&p));
	assert_int_equal(ws_parse(&p, d, 1, scratch, CAP, &ev), 1); /* half a header */
	assert_int_equal(ev.type, WS_EV_MORE);
	assert_false(ws_parser_idle(&p));
	assert_int_equal(ws_parse(&p, d + 1, frame1 - 2, scratch, CAP, &ev), frame1 - 2);
	assert_int_equal(ev.type, WS_EV_TEXT);
	assert_false(ws_parser_idle(&p)); /* a payload byte to come */
	assert_int_equal(ws_parse(&p, d + frame1 - 1, 1, scratch, CAP, &ev), 1);
	assert_int_equal(ev.type, WS_EV_TEXT);
	assert_int_equal(ws_parse(&p, NULL, 0, scratch, CAP, &ev), 0);
	assert_int_equal(ev.type, WS_EV_MORE);
	assert_false(ws_parser_idle(&p)); /* between frames, inside a message */
	assert_int_equal(ws_parse(&p, d + frame1, frame2 - frame1, scratch, CAP, &ev),
			 frame2 - frame1);
	assert_int_equal(ev.type, WS_EV_PING);
	assert_false(ws_parser_idle(&p));
	assert_int_equal(ws_parse(&p, d + frame2, in.len - frame2, scratch, CAP, &ev),
			 in.len - frame2);
	assert_int_equal(ev.type, WS_EV_TEXT);
	assert_false(ws_parser_idle(&p)); /* the message's end not reported yet */
	assert_int_equal(ws_parse(&p, NULL, 0, scratch, CAP, &ev), 0);
	assert_int_equal(ev.type, WS_EV_MESSAGE_END);
	assert_true(ws_parser_idle(&p));

	/* done, even in the middle of a frame */
	assert_int_equal(ws_parse(&p, (const uint8_t *)"\x82\x80", 2, scratch, CAP, &ev), 2);
	assert_int_equal(ev.type, WS_EV_ERROR);
	assert_true(ws_parser_idle(&p));
	xbuf_free(&in);
}

static void check_header(uint64_t n, enum ws_opcode op, const uint8_t *want, size_t want_len)
{
	uint8_t out[WS_HEADER_MAX];
	memset(out, 0xee, sizeof(out));
	assert_int_equal(ws_frame_header(out, op, n), want_len);
	assert_memory_equal(out, want, want_len);
}

static void test_frame_header(void **state)
{
	check_header(0, WS_OP_TEXT, (const uint8_t[]){ 0x81, 0x00 }, 2);
	check_header(125, WS_OP_TEXT, (const uint8_t[]){ 0x81, 0x7d }, 2);
	check_header(126, WS_OP_TEXT, (const uint8_t[]){ 0x81, 0x7e, 0x00, 0x7e }, 4);
	check_header(65535, WS_OP_TEXT, (const uint8_t[]){ 0x81, 0x7e, 0xff, 0xff }, 4);
	check_header(65536, WS_OP_TEXT,
		     (const uint8_t[]){ 0x81, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 }, 10);
	check_header(UINT64_C(0x0102030405060708), WS_OP_TEXT,
		     (const uint8_t[]){ 0x81, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8 }, 10);
	check_header(3, WS_OP_PING, (const uint8_t[]){ 0x89, 0x03 }, 2);
	check_header(0, WS_OP_PONG, (const uint8_t[]){ 0x8a, 0x00 }, 2);
	check_header(2, WS_OP_CLOSE, (const uint8_t[]){ 0x88, 0x02 }, 2);
}

/* A close frame as written, read back by a parser (masked as a client
 * would): its code and reason. */
static void read_back(const uint8_t *frame, size_t n, struct xbuf *got)
{
	struct xbuf in = { 0 };
	size_t h = frame[1] == 126 ? 4 : 2;
	put_frame(&in, frame[0], frame + h, n - h, LEN_MIN, mask_b);
	run(ROOMY, (const uint8_t *)in.data, in.len, in.len, 0, CAP, got);
	xbuf_free(&in);
}

static void test_close_frame(void **state)
{
	uint8_t out[WS_HEADER_MAX + WS_CLOSE_FRAME_MAX];
	struct xbuf got = { 0 };
	char reason[401];

	assert_int_equal(ws_close_frame(out, 1000, NULL), 4);
	assert_memory_equal(out, ((const uint8_t[]){ 0x88, 0x02, 0x03, 0xe8 }), 4);
	assert_int_equal(ws_close_frame(out, 1002, ""), 4);
	assert_memory_equal(out, ((const uint8_t[]){ 0x88, 0x02, 0x03, 0xea }), 4);
	assert_int_equal(ws_close_frame(out, 4999, "bye"), 7);
	assert_memory_equal(out, ((const uint8_t[]){ 0x88, 0x05, 0x13, 0x87, 'b', 'y', 'e' }), 7);

	/* 123 bytes fit; 124 are cut to 123 */
	memset(reason, 'x', 124);
	reason[123] = '\0';
	assert_int_equal(ws_close_frame(out, 1000, reason), 2 + 125);
	assert_int_equal(out[1], 125);
	reason[123] = 'y';
	reason[124] = '\0';
	assert_int_equal(ws_close_frame(out, 1000, reason), 2 + 125);
	assert_int_equal(out[2 + 2 + 122], 'x');

	/* 200 é: 122 bytes, not 123, which would split one */
	for (int i = 0; i < 200; i++)
		memcpy(reason + 2 * i, "\xc3\xa9", 2);
	reason[400] = '\0';
	size_t n = ws_close_frame(out, 1008, reason);
	assert_int_equal(n, 2 + 2 + 122);
	assert_int_equal(out[1], 124);
	read_back(out, n, &got);
	assert_int_equal(strncmp(got.data, "CLOSE 1008 [\\xc3\\xa9", 20), 0);
	assert_int_equal(got.len, strlen("CLOSE 1008 []") + 61 * 8);

	/* a 3-byte character over the edge: a then 41 euros is 124 bytes */
	reason[0] = 'a';
	for (int i = 0; i < 41; i++)
		memcpy(reason + 1 + 3 * i, "\xe2\x82\xac", 3);
	reason[124] = '\0';
	n = ws_close_frame(out, 1000, reason);
	assert_int_equal(n, 2 + 2 + 121);
	read_back(out, n, &got);
	assert_int_equal(strncmp(got.data, "CLOSE 1000 [a\\xe2\\x82\\xac", 25), 0);
	/* a 4-byte one */
	memset(reason, 'a', 121);
	memcpy(reason + 121, "\xf0\x9f\x98\x80", 5);
	n = ws_close_frame(out, 1000, reason);
	assert_int_equal(n, 2 + 2 + 121);
	read_back(out, n, &got);
	assert_string_equal(got.data + strlen("CLOSE 1000 [") + 121, "]");
	xbuf_free(&got);
}

static bool key_ok(const char *k)
{
	return ws_key_valid(k, strlen(k));
}

static void test_key_valid(void **state)
{
	assert_true(key_ok("dGhlIHNhbXBsZSBub25jZQ=="));
	assert_true(key_ok("x3JJHMbDL1EzLkh9GBhXDw=="));
	assert_true(key_ok("AAAAAAAAAAAAAAAAAAAAAA=="));
	assert_true(key_ok("+/+/+/+/+/+/+/+/+/+/+w=="));
	assert_false(key_ok("dGhlIHNhbXBsZSBub25jZQ="));   /* 23 */
	assert_false(key_ok("dGhlIHNhbXBsZSBub25jZQ===")); /* 25 */
	assert_false(key_ok("dGhlIHNhbXBsZSBub25jZQ"));    /* no padding */
	assert_false(key_ok("AAAAAAAAAAAAAAAAAAAA"));      /* 15 bytes */
	assert_false(key_ok("AAAAAAAAAAAAAAAAAAAAAAA="));  /* 17 bytes */
	assert_false(key_ok("AAAAAAAAAAAAAAAAAAAAAAAA"));  /* 18 bytes */
	assert_false(key_ok("dGhlIHNhbXBsZSBub25jZR=="));  /* stray bits */
	assert_false(key_ok("dGhlIHNhbXBs*SBub25jZQ=="));
	assert_false(key_ok("dGhlIHNhbXBsZSBub25jZ-=="));  /* base64url */
	assert_false(key_ok(" GhlIHNhbXBsZSBub25jZQ=="));
	assert_false(key_ok("dGhlIHNhbXBsZSBub25j=Q=="));
	assert_false(key_ok(""));
	assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 23));
}

static void test_accept_value(void **state)
{
	char out[WS_ACCEPT_LEN + 1];

	/* RFC 6455 1.3's example */
	memset(out, 'z', sizeof(out));
	ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	ws_accept_value("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
	assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
	/* the length given counts, not a NUL */
	ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==garbage", 24, out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_every_split),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_fragmented_with_ping),
		cmocka_unit_test(test_empty_messages),
		cmocka_unit_test(test_scratch_cap),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_max_message),
		cmocka_unit_test(test_done),
		cmocka_unit_test(test_end_after_last_byte),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_frame_header),
		cmocka_unit_test(test_close_frame),
		cmocka_unit_test(test_key_valid),
		cmocka_unit_test(test_accept_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
