/* libFuzzer target for core/http/ws_frame.c: the input is what a client
 * sends on a WebSocket after the upgrade.  It is read three times, as
 * xf_ws's read loop would (events until WS_EV_MORE, then the next read):
 * whole, with a roomy scratch buffer; in two reads split at a byte chosen
 * from the data, with a scratch buffer of 7 bytes; and, when short, one
 * byte per read with a scratch buffer of 3.  The split point is computed
 * from the bytes rather than taken from them, so that the seeds stay plain
 * frames.  Scratch buffers are allocated at exactly their size, so that
 * ASan sees a write past scratch_cap.
 *
 * Every call must use no more than it was given, and all of it when it
 * reports WS_EV_MORE; a text piece must be 1..scratch_cap bytes at the
 * start of the scratch buffer; a control payload must lie in the parser
 * and be at most 125 bytes; a close must carry a code that may be sent
 * (or 0 with no reason) and a UTF-8 reason; an error must be 1002, 1003,
 * 1007 or 1009 with a text; after a close or an error only WS_EV_MORE may
 * come.  A message must be UTF-8 and within the limit, by a decoder of
 * this file's own (code points decoded and range-checked, not a state
 * table as in ws_frame.c).
 *
 * The three readings must report the same events, text joined between the
 * other events (where pieces end depends on the reads), except for the
 * text a 1007 interrupts, which is left out: how much of it went out
 * before the bad byte depends on the reads too.
 *
 * The input also goes to ws_close_frame as a reason: the frame must fit,
 * and the reason must come out as a prefix of the input cut at a
 * character boundary. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/http/ws_frame.h"

#define MAX_MESSAGE 300

struct reading {
	struct xbuf log;        /* the events, described */
	struct xbuf text;       /* the text since the last other event */
	struct xbuf message;    /* the text of the message in progress */
	size_t cap;
	uint8_t *scratch;
	bool done;
};

static bool utf8_ok(const uint8_t *s, size_t n)
{
	static const uint32_t least[4] = { 0, 0x80, 0x800, 0x10000 };

	for (size_t i = 0; i < n;) {
		uint32_t c = s[i];
		size_t k;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			k = 1, c &= 0x1f;
		else if ((c & 0xf0) == 0xe0)
			k = 2, c &= 0x0f;
		else if ((c & 0xf8) == 0xf0)
			k = 3, c &= 0x07;
		else
			return false;
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			c = c << 6 | (s[i + j] & 0x3f);
		}
		if (c < least[k] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

static bool sendable(uint16_t c)
{
	switch (c) {
	case 1000: case 1001: case 1002: case 1003: case 1007: case 1008: case 1009:
	case 1010: case 1011: case 1012: case 1013: case 1014:
		return true;
	default:
		return c >= 3000 && c <= 4999;
	}
}

static void flush_text(struct reading *r, bool drop)
{
	if (r->text.len && !drop) {
		xbuf_appendf(&r->log, "TEXT %zu[", r->text.len);
		xbuf_append(&r->log, r->text.data, r->text.len);
		xbuf_append_str(&r->log, "]\n");
	}
	xbuf_reset(&r->text);
}

static void check_control(const struct ws_parser *p, const struct ws_ev *ev)
{
	if (ev->len > WS_CONTROL_MAX || ev->data < p->ctl ||
	    ev->data + ev->len > p->ctl + sizeof(p->ctl))
		abort();
	if (ev->type == WS_EV_CLOSE &&
	    (ev->code ? !sendable(ev->code) || !utf8_ok(ev->data, ev->len) : ev->len != 0))
		abort();
}

static void on_text(struct reading *r, const struct ws_ev *ev)
{
	if (ev->len == 0 || ev->len > r->cap || ev->data != r->scratch)
		abort();
	xbuf_append(&r->text, ev->data, ev->len);
	xbuf_append(&r->message, ev->data, ev->len);
	if (r->message.len > MAX_MESSAGE)
		abort();
}

static void on_error(struct reading *r, const struct ws_ev *ev)
{
	if (!ev->why || (ev->code != 1002 && ev->code != 1003 && ev->code != 1007 &&
			 ev->code != 1009))
		abort();
	flush_text(r, ev->code == 1007);
	xbuf_appendf(&r->log, "ERROR %u\n", ev->code);
	r->done = true;
}

static void on_event(struct reading *r, const struct ws_parser *p, const struct ws_ev *ev)
{
	if (r->done)
		abort();
	switch (ev->type) {
	case WS_EV_TEXT:
		on_text(r, ev);
		return;
	case WS_EV_MESSAGE_END:
		if (!utf8_ok((const uint8_t *)r->message.data, r->message.len))
			abort();
		xbuf_reset(&r->message);
		flush_text(r, false);
		xbuf_append_str(&r->log, "END\n");
		return;
	case WS_EV_PING:
	case WS_EV_PONG:
	case WS_EV_CLOSE:
		check_control(p, ev);
		flush_text(r, false);
		xbuf_appendf(&r->log, "%d %u %zu[", ev->type, ev->code, ev->len);
		if (ev->len)
			xbuf_append(&r->log, ev->data, ev->len);
		xbuf_append_str(&r->log, "]\n");
		r->done = ev->type == WS_EV_CLOSE;
		return;
	case WS_EV_ERROR:
		on_error(r, ev);
		return;
	case WS_EV_MORE:
		break;
	}
	abort();
}

static void feed(struct ws_parser *p, const uint8_t *in, size_t len, struct reading *r)
{
	for (;;) {
		struct ws_ev ev;
		size_t used = ws_parse(p, in, len, r->scratch, r->cap, &ev);
		if (used > len || (ev.type == WS_EV_MORE && used != len))
			abort();
		in += used;
		len -= used;
		if (ev.type == WS_EV_MORE)
			return;
		on_event(r, p, &ev);
	}
}

/* The input in a first read of `first` bytes, then reads of `step` (0: the
 * rest), with a scratch buffer of cap bytes. */
static void run(const uint8_t *data, size_t size, size_t first, size_t step, size_t cap,
		struct reading *r)
{
	struct ws_parser p;
	size_t off = first < size ? first : size;

	r->cap = cap;
	r->scratch = malloc(cap);
	if (!r->scratch)
		abort();
	ws_parser_init(&p, MAX_MESSAGE);
	feed(&p, data, off, r);
	while (off < size) {
		size_t piece = step && step < size - off ? step : size - off;
		feed(&p, data + off, piece, r);
		off += piece;
	}
	flush_text(r, false);
	free(r->scratch);
	r->scratch = NULL;
	xbuf_free(&r->text);
	xbuf_free(&r->message);
}

static void compare(const struct reading *a, const struct reading *b, size_t cut, const char *what)
{
	if (a->log.len == b->log.len && (a->log.len == 0 || !memcmp(a->log.data, b->log.data,
								      a->log.len)))
		return;
	fprintf(stderr, "whole:\n%.*s\n%s (%zu):\n%.*s\n", (int)a->log.len,
		a->log.data ? a->log.data : "", what, cut, (int)b->log.len,
		b->log.data ? b->log.data : "");
	abort();
}

/* The input up to its first NUL as a close reason, when it is UTF-8. */
static void check_close_frame(const uint8_t *data, size_t size)
{
	char reason[512];
	uint8_t out[WS_HEADER_MAX + WS_CLOSE_FRAME_MAX];
	size_t n = strnlen((const char *)data, size < sizeof(reason) ? size : sizeof(reason) - 1);

	memcpy(reason, data, n);
	reason[n] = '\0';
	if (!utf8_ok((const uint8_t *)reason, n))
		return;
	size_t len = ws_close_frame(out, 4000, reason);
	size_t rlen = len - 4;
	if (len < 4 || len > 2 + WS_CONTROL_MAX || out[0] != 0x88 || out[1] != len - 2 ||
	    out[2] != 4000 >> 8 || out[3] != (4000 & 0xff) || rlen > n ||
	    memcmp(out + 4, reason, rlen) != 0 || !utf8_ok(out + 4, rlen) ||
	    (rlen < n && rlen + 4 <= WS_CONTROL_MAX - 2))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reading whole = { 0 }, split = { 0 }, bytes = { 0 };
	uint32_t h = 2166136261u; /* FNV-1a: any change of the input moves the cut */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	size_t cut = size ? h % (size + 1) : 0;

	run(data, size, size, 0, 1024, &whole);
	run(data, size, cut, 0, 7, &split);
	compare(&whole, &split, cut, "split, scratch 7");
	if (size <= 4096) {
		run(data, size, 1, 1, 3, &bytes);
		compare(&whole, &bytes, 1, "bytewise, scratch 3");
	}
	xbuf_free(&whole.log);
	xbuf_free(&split.log);
	xbuf_free(&bytes.log);
	check_close_frame(data, size);
	return 0;
}
