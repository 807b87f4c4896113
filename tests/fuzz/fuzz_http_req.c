/* libFuzzer target for core/http/http_req.c: the input is what a peer sends
 * on one connection.  It is read three times with small limits, as the
 * gateway's read loop would (each complete request handed out, the rest of
 * the read fed again after http_req_next, until an error, an upgrade or the
 * end of the input): whole, in two pieces split at a byte chosen from the
 * data, and, when short, one byte at a time.  The split point is computed
 * from the bytes rather than taken from them, so that the seeds stay plain
 * requests.
 *
 * Every feed must use no more than it was given, all of it when it asks for
 * more; an error must carry a status we answer with and a reason; a request
 * must respect the limits.  The three readings must hand out the same
 * requests (fields, body, and where each ended in the input) and end the
 * same way.  Only the status of an error may differ, and only between a 400
 * and a limit: a target or chunked framing over its limit is seen where the
 * input was split when a split falls in it, but only at its end otherwise,
 * and a syntax error before that end then comes first. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/http/http_req.h"

static const struct http_limits lim = {
	.max_header_bytes = 256,
	.max_body_bytes = 512,
	.max_target_bytes = 64,
};

struct outcome {
	struct xbuf log;      /* each request handed out, described */
	enum http_feed end;   /* how the reading ended */
	int status;
	size_t consumed;      /* input bytes the requests and the error took */
};

static void check_request(const struct http_req *r)
{
	size_t total = 0;
	if (r->status != 0 || r->target.len > lim.max_target_bytes ||
	    r->body.len > lim.max_body_bytes)
		abort();
	for (int h = 0; h < HTTP_HDR_COUNT; h++) {
		size_t len;
		const char *v = http_req_hdr(r, h, &len);
		if (!v != !(r->hdr_present & (1u << h)) || (v && strlen(v) != len))
			abort();
		total += len;
	}
	/* values are bytes of the header section, plus ", " per repeat (a
	 * repeat's name and CRLF are longer than that) */
	if (total > lim.max_header_bytes)
		abort();
}

static void describe(const struct http_req *r, enum http_feed f, size_t end, struct xbuf *log)
{
	xbuf_appendf(log, "%d end=%zu %s %s 1.%u ka=%d", f, end,
		     llhttp_method_name((llhttp_method_t)r->method),
		     r->target.data ? r->target.data : "", r->version_minor, r->keep_alive);
	for (int h = 0; h < HTTP_HDR_COUNT; h++) {
		size_t len;
		const char *v = http_req_hdr(r, h, &len);
		if (v)
			xbuf_appendf(log, " %d=[%s]", h, v);
	}
	xbuf_appendf(log, " body=%zu[", r->body.len);
	if (r->body.len)
		xbuf_append(log, r->body.data, r->body.len);
	xbuf_append_str(log, "]\n");
}

/* Feeds the input in pieces of at most `step` bytes (0: whole), except that
 * the first piece is `first` bytes long. */
static void run(const uint8_t *data, size_t size, size_t first, size_t step, struct outcome *o)
{
	struct http_req r;
	size_t off = 0;   /* of the piece being fed */
	size_t start = 0; /* of the request being read */

	http_req_init(&r, &lim);
	o->end = HTTP_FEED_MORE;
	for (bool is_first = true; off < size; is_first = false) {
		size_t piece = is_first ? first : step ? step : size - off;
		if (piece > size - off)
			piece = size - off;
		const char *p = (const char *)data + off;
		size_t left = piece;
		for (;;) {
			size_t used = (size_t)-1;
			enum http_feed f = http_req_feed(&r, p, left, &used);
			if (used > left || (f == HTTP_FEED_MORE && used != left))
				abort();
			p += used;
			left -= used;
			o->end = f;
			if (f == HTTP_FEED_MORE)
				break;
			size_t end = (size_t)(p - (const char *)data);
			if (f == HTTP_FEED_ERROR) {
				if (r.reason == NULL)
					abort();
				switch (r.status) {
				case 400: case 413: case 414: case 431: case 501: case 503: case 505:
					break;
				default:
					abort();
				}
				/* sticky */
				if (http_req_feed(&r, p, left, &used) != HTTP_FEED_ERROR || used != 0)
					abort();
				o->status = r.status;
				o->consumed = start;
				http_req_free(&r);
				return;
			}
			check_request(&r);
			describe(&r, f, end, &o->log);
			start = end;
			if (f == HTTP_FEED_UPGRADE) {
				o->consumed = end;
				http_req_free(&r);
				return;
			}
			/* a request after one that was not keep-alive is refused
			 * (the gateway closes instead): that path is read too */
			http_req_next(&r);
		}
		off += piece;
	}
	o->consumed = start;
	http_req_free(&r);
}

static void compare(const struct outcome *a, const struct outcome *b, size_t cut, const char *what)
{
	bool same_status = a->status == b->status || a->status == 400 || b->status == 400;
	if (a->end == b->end && a->consumed == b->consumed && same_status &&
	    a->log.len == b->log.len && (a->log.len == 0 || !memcmp(a->log.data, b->log.data, a->log.len)))
		return;
	fprintf(stderr, "whole: end %d status %d consumed %zu\n%.*s\n%s (%zu): end %d status %d "
		"consumed %zu\n%.*s\n", a->end, a->status, a->consumed, (int)a->log.len,
		a->log.data ? a->log.data : "", what, cut, b->end, b->status, b->consumed,
		(int)b->log.len, b->log.data ? b->log.data : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole = { 0 }, split = { 0 }, bytes = { 0 };
	uint32_t h = 2166136261u; /* FNV-1a: any change of the input moves the cut */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	size_t cut = size ? h % (size + 1) : 0;

	run(data, size, size, 0, &whole);
	run(data, size, cut, 0, &split);
	compare(&whole, &split, cut, "split");
	if (size <= 2048) {
		run(data, size, 1, 1, &bytes);
		compare(&whole, &bytes, 1, "bytewise");
	}
	xbuf_free(&whole.log);
	xbuf_free(&split.log);
	xbuf_free(&bytes.log);
	return 0;
}
