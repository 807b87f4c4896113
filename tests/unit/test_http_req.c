/* Unit tests for core/http/http_req.c: a GET fed whole, split in two at every
 * byte and one byte at a time, all giving the same request; pipelined
 * requests; a Content-Length body; a chunked body (extensions, trailers)
 * split at every byte; each limit at its bound and one past it (header
 * section 431, target 414, body 413 by Content-Length before any body byte
 * and by chunk size before the chunk's bytes, chunked framing 413);
 * malformed request lines and headers; Content-Length with
 * Transfer-Encoding; transfer codings other than chunked; a repeated Host;
 * an upgrade leaving the new protocol's bytes unused; keep-alive by version
 * and Connection; header names in any case; and what http_req_next() keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/http/http_req.h"

static const struct http_limits roomy = {
	.max_header_bytes = 8192,
	.max_body_bytes = 65536,
	.max_target_bytes = 2048,
};

static const char *const hdr_label[HTTP_HDR_COUNT] = {
	"host", "origin", "content-type", "connection", "upgrade",
	"ws-key", "ws-version", "ws-protocol", "te",
};

static const char *feed_name(enum http_feed f)
{
	switch (f) {
	case HTTP_FEED_MORE: return "MORE";
	case HTTP_FEED_REQUEST: return "REQUEST";
	case HTTP_FEED_UPGRADE: return "UPGRADE";
	case HTTP_FEED_ERROR: return "ERROR";
	}
	return "?";
}

/* Everything a request delivered, as one line, so that whole and split
 * feeds can be compared with one string compare (and a failure shows
 * what differs). */
static void describe(const struct http_req *r, enum http_feed f, size_t used, struct xbuf *out)
{
	xbuf_reset(out);
	/* where in the input an error was found depends on how it was split */
	if (f == HTTP_FEED_ERROR) {
		xbuf_appendf(out, "ERROR status=%d", r->status);
		return;
	}
	xbuf_appendf(out, "%s used=%zu", feed_name(f), used);
	xbuf_appendf(out, " %s %s HTTP/1.%u ka=%d",
		     llhttp_method_name((llhttp_method_t)r->method),
		     r->target.data ? r->target.data : "", r->version_minor, r->keep_alive);
	for (int h = 0; h < HTTP_HDR_COUNT; h++) {
		size_t len;
		const char *v = http_req_hdr(r, h, &len);
		if (v)
			xbuf_appendf(out, " %s=[%.*s]", hdr_label[h], (int)len, v);
	}
	xbuf_appendf(out, " body=[%.*s]", (int)r->body.len, r->body.data ? r->body.data : "");
}

/* Feeds data in two pieces, the first cut bytes long, as a read loop would:
 * the second piece goes in only if the first asked for more. */
static enum http_feed feed2(struct http_req *r, const char *data, size_t len, size_t cut,
			    size_t *used)
{
	size_t u = 0;
	enum http_feed f = http_req_feed(r, data, cut, &u);
	assert_true(u <= cut);
	if (f != HTTP_FEED_MORE) {
		*used = u;
		return f;
	}
	assert_int_equal(u, cut);
	f = http_req_feed(r, data + cut, len - cut, &u);
	assert_true(u <= len - cut);
	*used = cut + u;
	return f;
}

/* One byte per feed. */
static enum http_feed feed_bytewise(struct http_req *r, const char *data, size_t len, size_t *used)
{
	enum http_feed f = HTTP_FEED_MORE;
	size_t i = 0, u = 0;
	for (; i < len && f == HTTP_FEED_MORE; i++) {
		f = http_req_feed(r, data + i, 1, &u);
		assert_true(u <= 1);
	}
	/* the feed that ended it used its byte unless it failed on it */
	*used = f == HTTP_FEED_MORE ? len : i - 1 + u;
	return f;
}

/* Parses data whole, then split at every byte, then byte by byte, and
 * checks that all give `want`; returns nothing, fails the test instead. */
static void check_every_split(const struct http_limits *lim, const char *data, size_t len,
			      const char *want)
{
	struct http_req r;
	struct xbuf got = { 0 };
	size_t used;
	enum http_feed f;

	http_req_init(&r, lim);
	f = http_req_feed(&r, data, len, &used);
	describe(&r, f, used, &got);
	assert_string_equal(got.data, want);
	http_req_free(&r);

	for (size_t cut = 0; cut <= len; cut++) {
		http_req_init(&r, lim);
		f = feed2(&r, data, len, cut, &used);
		describe(&r, f, used, &got);
		if (strcmp(got.data, want) != 0) {
			print_error("split at %zu\n", cut);
			assert_string_equal(got.data, want);
		}
		http_req_free(&r);
	}

	http_req_init(&r, lim);
	f = feed_bytewise(&r, data, len, &used);
	describe(&r, f, used, &got);
	assert_string_equal(got.data, want);
	http_req_free(&r);
	xbuf_free(&got);
}

/* The outcome of one whole feed, described. */
static const char *parse1(const struct http_limits *lim, const char *data, size_t len,
			  struct xbuf *out)
{
	struct http_req r;
	size_t used;
	http_req_init(&r, lim);
	enum http_feed f = http_req_feed(&r, data, len, &used);
	describe(&r, f, used, out);
	http_req_free(&r);
	return out->data;
}

static int status_of(const struct http_limits *lim, const char *data)
{
	struct http_req r;
	size_t used;
	http_req_init(&r, lim);
	enum http_feed f = http_req_feed(&r, data, strlen(data), &used);
	int st = f == HTTP_FEED_ERROR ? r.status : 0;
	if (f == HTTP_FEED_ERROR)
		assert_non_null(r.reason);
	else
		assert_int_equal(r.status, 0);
	http_req_free(&r);
	return st;
}

/* ---- requests ---- */

static const char get_req[] =
	"GET /http-bind?x=1&y=%20 HTTP/1.1\r\n"
	"Host: example.com\r\n"
	"User-Agent: test/1.0\r\n"
	"Origin:   https://app.example.com  \r\n"
	"Accept: */*\r\n"
	"\r\n";

static void test_get_keep_alive(void **state)
{
	struct http_req r;
	size_t used, len;
	http_req_init(&r, &roomy);
	assert_int_equal(http_req_feed(&r, get_req, sizeof(get_req) - 1, &used), HTTP_FEED_REQUEST);
	assert_int_equal(used, sizeof(get_req) - 1);
	assert_int_equal(r.method, HTTP_GET);
	assert_string_equal(r.target.data, "/http-bind?x=1&y=%20");
	assert_int_equal(r.version_minor, 1);
	assert_true(r.keep_alive);
	assert_string_equal(http_req_hdr(&r, HTTP_HDR_HOST, &len), "example.com");
	assert_int_equal(len, 11);
	/* whitespace around the value is not part of it */
	assert_string_equal(http_req_hdr(&r, HTTP_HDR_ORIGIN, &len), "https://app.example.com");
	assert_null(http_req_hdr(&r, HTTP_HDR_CONTENT_TYPE, &len));
	assert_int_equal(len, 0);
	assert_null(http_req_hdr(&r, HTTP_HDR_UPGRADE, &len));
	assert_int_equal(r.hdr_present, (1u << HTTP_HDR_HOST) | (1u << HTTP_HDR_ORIGIN));
	assert_int_equal(r.body.len, 0);
	assert_int_equal(r.status, 0);
	/* sticky until http_req_next() */
	assert_int_equal(http_req_feed(&r, "GET", 3, &used), HTTP_FEED_REQUEST);
	assert_int_equal(used, 0);
	http_req_free(&r);
}

static void test_get_every_split(void **state)
{
	check_every_split(&roomy, get_req, sizeof(get_req) - 1,
			  "REQUEST used=128 GET /http-bind?x=1&y=%20 HTTP/1.1 ka=1"
			  " host=[example.com] origin=[https://app.example.com] body=[]");
}

static void test_pipelined(void **state)
{
	static const char two[] =
		"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
		"POST /b HTTP/1.1\r\nHost: h2\r\nContent-Length: 5\r\n\r\nhello"
		"GET /c HTTP/1.1\r\nHo";
	size_t len = sizeof(two) - 1, first = strlen("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	size_t second = strlen("POST /b HTTP/1.1\r\nHost: h2\r\nContent-Length: 5\r\n\r\nhello");
	struct http_req r;
	size_t used;
	struct xbuf d = { 0 };

	http_req_init(&r, &roomy);
	assert_int_equal(http_req_feed(&r, two, len, &used), HTTP_FEED_REQUEST);
	assert_int_equal(used, first);
	describe(&r, HTTP_FEED_REQUEST, used, &d);
	assert_string_equal(d.data, "REQUEST used=28 GET /a HTTP/1.1 ka=1 host=[h] body=[]");

	http_req_next(&r);
	assert_int_equal(http_req_feed(&r, two + first, len - first, &used), HTTP_FEED_REQUEST);
	assert_int_equal(used, second);
	describe(&r, HTTP_FEED_REQUEST, used, &d);
	assert_string_equal(d.data, "REQUEST used=54 POST /b HTTP/1.1 ka=1 host=[h2] body=[hello]");

	/* the third is incomplete: all of it used, nothing of the second left */
	http_req_next(&r);
	assert_int_equal(http_req_feed(&r, two + first + second, len - first - second, &used),
			 HTTP_FEED_MORE);
	assert_int_equal(used, len - first - second);
	assert_int_equal(r.hdr_present, 0);
	assert_int_equal(r.body.len, 0);
	assert_int_equal(http_req_feed(&r, "st: h3\r\n\r\n", 10, &used), HTTP_FEED_REQUEST);
	assert_int_equal(used, 10);
	describe(&r, HTTP_FEED_REQUEST, used, &d);
	assert_string_equal(d.data, "REQUEST used=10 GET /c HTTP/1.1 ka=1 host=[h3] body=[]");
	http_req_free(&r);
	xbuf_free(&d);
}

static const char post_req[] =
	"POST /http-bind HTTP/1.1\r\n"
	"Host: example.com\r\n"
	"Content-Type: text/xml; charset=utf-8\r\n"
	"Content-Length: 26\r\n"
	"\r\n"
	"<body rid='1' xmlns='x'/>\n"
	"GET /next HTTP/1.1\r\n";

static void test_post_content_length(void **state)
{
	size_t req_len = strlen(post_req) - strlen("GET /next HTTP/1.1\r\n");
	struct http_req r;
	size_t used, len;
	http_req_init(&r, &roomy);
	assert_int_equal(http_req_feed(&r, post_req, sizeof(post_req) - 1, &used),
			 HTTP_FEED_REQUEST);
	assert_int_equal(used, req_len);
	assert_int_equal(r.method, HTTP_POST);
	assert_string_equal(r.target.data, "/http-bind");
	assert_string_equal(http_req_hdr(&r, HTTP_HDR_CONTENT_TYPE, &len), "text/xml; charset=utf-8");
	assert_int_equal(r.body.len, 26);
	assert_memory_equal(r.body.data, "<body rid='1' xmlns='x'/>\n", 26);
	http_req_free(&r);

	check_every_split(&roomy, post_req, sizeof(post_req) - 1,
			  "REQUEST used=132 POST /http-bind HTTP/1.1 ka=1 host=[example.com]"
			  " content-type=[text/xml; charset=utf-8] body=[<body rid='1' xmlns='x'/>\n]");
}

static const char chunked_req[] =
	"POST /up HTTP/1.1\r\n"
	"Host: example.com\r\n"
	"Transfer-Encoding: chunked\r\n"
	"\r\n"
	"3\r\nabc\r\n"
	"5;name=value\r\ndefgh\r\n"
	"A\r\n0123456789\r\n"
	"0\r\n"
	"Trailer-Field: x\r\n"
	"Host: trailer.example\r\n"
	"\r\n"
	"GET";

static void test_chunked_every_split(void **state)
{
	/* the trailer's Host is neither taken nor a repeated Host */
	check_every_split(&roomy, chunked_req, sizeof(chunked_req) - 1,
			  "REQUEST used=158 POST /up HTTP/1.1 ka=1 host=[example.com] te=[chunked]"
			  " body=[abcdefgh0123456789]");
}

/* ---- limits ---- */

/* A request whose request line and header section are exactly n bytes. */
static void head_of(char *buf, size_t n)
{
	static const char start[] = "GET / HTTP/1.1\r\nX: ";
	size_t fill = n - (sizeof(start) - 1) - 4;
	memcpy(buf, start, sizeof(start) - 1);
	memset(buf + sizeof(start) - 1, 'a', fill);
	memcpy(buf + n - 4, "\r\n\r\n", 5);
}

static void test_limit_header(void **state)
{
	struct http_limits lim = roomy;
	char buf[300];
	struct xbuf d = { 0 };
	lim.max_header_bytes = 200;

	head_of(buf, 200);
	assert_string_equal(parse1(&lim, buf, 200, &d),
			    "REQUEST used=200 GET / HTTP/1.1 ka=1 body=[]");
	check_every_split(&lim, buf, 200, "REQUEST used=200 GET / HTTP/1.1 ka=1 body=[]");
	head_of(buf, 201);
	/* refused on the 201st byte, whichever way it comes */
	check_every_split(&lim, buf, 201, "ERROR status=431");

	/* a header section that never ends is refused there too */
	struct http_req r;
	size_t used;
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "GET / HTTP/1.1\r\nX: ", 19);
	http_req_init(&r, &lim);
	assert_int_equal(http_req_feed(&r, buf, 200, &used), HTTP_FEED_MORE);
	assert_int_equal(used, 200);
	assert_int_equal(http_req_feed(&r, buf, 1, &used), HTTP_FEED_ERROR);
	assert_int_equal(used, 0);
	assert_int_equal(r.status, 431);
	/* sticky */
	assert_int_equal(http_req_feed(&r, "\r\n\r\n", 4, &used), HTTP_FEED_ERROR);
	assert_int_equal(r.status, 431);
	http_req_free(&r);

	/* empty lines before a request count: they are bytes a peer sends */
	char pre[300];
	memcpy(pre, "\r\n\r\n", 4);
	head_of(pre + 4, 196);
	assert_string_equal(parse1(&lim, pre, 200, &d),
			    "REQUEST used=200 GET / HTTP/1.1 ka=1 body=[]");
	memcpy(pre, "\r\n\r\n\r\n", 6);
	head_of(pre + 6, 196);
	assert_string_equal(parse1(&lim, pre, 202, &d), "ERROR status=431");
	xbuf_free(&d);
}

static void test_limit_target(void **state)
{
	struct http_limits lim = roomy;
	char buf[200], want[200];
	lim.max_target_bytes = 50;

	/* "/" + 49 x: exactly 50 */
	int n = snprintf(buf, sizeof(buf), "GET /%.*s HTTP/1.1\r\n\r\n", 49,
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	snprintf(want, sizeof(want), "REQUEST used=%d GET /%.*s HTTP/1.1 ka=1 body=[]", n, 49,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	check_every_split(&lim, buf, (size_t)n, want);

	n = snprintf(buf, sizeof(buf), "GET /%.*s?q HTTP/1.1\r\n\r\n", 48,
		     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	/* the query counts: 51 bytes; refused at the 51st */
	check_every_split(&lim, buf, (size_t)n, "ERROR status=414");
	assert_int_equal(status_of(&lim, buf), 414);
}

static void test_limit_body_content_length(void **state)
{
	struct http_limits lim = roomy;
	struct xbuf d = { 0 };
	lim.max_body_bytes = 10;

	static const char at[] = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
	check_every_split(&lim, at, sizeof(at) - 1,
			  "REQUEST used=49 POST / HTTP/1.1 ka=1 body=[0123456789]");

	/* one past: refused at the end of the header section, with no body
	 * byte fed (let alone kept) */
	static const char past[] = "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
	struct http_req r;
	size_t used;
	http_req_init(&r, &lim);
	assert_int_equal(http_req_feed(&r, past, sizeof(past) - 1, &used), HTTP_FEED_ERROR);
	assert_int_equal(r.status, 413);
	assert_null(r.body.data);
	http_req_free(&r);
	assert_string_equal(parse1(&lim, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890",
				   51, &d), "ERROR status=413");
	/* a Content-Length llhttp cannot even hold */
	assert_int_equal(status_of(&lim, "POST / HTTP/1.1\r\nContent-Length: "
				   "99999999999999999999999\r\n\r\n"), 400);
	xbuf_free(&d);
}

static void test_limit_body_chunked(void **state)
{
	struct http_limits lim = roomy;
	struct xbuf d = { 0 };
	lim.max_body_bytes = 10;

	static const char at[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n";
	check_every_split(&lim, at, sizeof(at) - 1,
			  "REQUEST used=72 POST / HTTP/1.1 ka=1 te=[chunked] body=[abcdefghij]");

	/* one past: the second chunk is refused at its size line */
	static const char past[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "4\r\nabcd\r\n7\r\n";
	struct http_req r;
	size_t used;
	http_req_init(&r, &lim);
	assert_int_equal(http_req_feed(&r, past, sizeof(past) - 1, &used), HTTP_FEED_ERROR);
	assert_int_equal(r.status, 413);
	assert_int_equal(r.body.len, 4);
	http_req_free(&r);
	static const char past_whole[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
					 "4\r\nabcd\r\n7\r\nefghijk\r\n0\r\n\r\n";
	assert_int_equal(status_of(&lim, past_whole), 413);
	/* one chunk past the limit on its own */
	assert_int_equal(status_of(&lim, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "b\r\n"), 413);
	/* a chunk size llhttp cannot hold */
	assert_int_equal(status_of(&lim, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "fffffffffffffffffffff\r\n"), 400);

	/* framing that is neither header nor body is bounded too: empty
	 * chunk extensions on one-byte chunks, max_header_bytes of them */
	lim.max_header_bytes = 100;
	lim.max_body_bytes = 1000;
	struct xbuf big = { 0 };
	xbuf_append_str(&big, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 30; i++)
		xbuf_append_str(&big, "1;e\r\nx\r\n"); /* 7 bytes of framing each */
	xbuf_append_str(&big, "0\r\n\r\n");
	assert_int_equal(status_of(&lim, big.data), 413);
	xbuf_free(&big);
	xbuf_free(&d);
}

/* ---- refusals ---- */

static void test_malformed_request_line(void **state)
{
	static const char *const bad[] = {
		"GET / HTTX/1.1\r\n\r\n",
		"GET / HTTP/1.1 extra\r\n\r\n",
		"GE@T / HTTP/1.1\r\n\r\n",
		"GET /a\x01 HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\rHost: a\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* TLS to a plain port */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (status_of(&roomy, bad[i]) != 400) {
			print_error("case %zu\n", i);
			assert_int_equal(status_of(&roomy, bad[i]), 400);
		}
	}
	/* HTTP/2's preface and other versions than 1.x */
	assert_int_equal(status_of(&roomy, "GET / HTTP/2.0\r\n\r\n"), 505);
	assert_int_equal(status_of(&roomy, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
	assert_int_equal(status_of(&roomy, "GET / HTTP/0.9\r\n\r\n"), 505);
}

static void test_bad_header(void **state)
{
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\nHost example.com\r\n\r\n",      /* no colon */
		"GET / HTTP/1.1\r\nHost : example.com\r\n\r\n",    /* RFC 9112 5.1 */
		"GET / HTTP/1.1\r\nX-\x01: y\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (status_of(&roomy, bad[i]) != 400) {
			print_error("case %zu\n", i);
			assert_int_equal(status_of(&roomy, bad[i]), 400);
		}
	}
}

static void test_cl_and_te(void **state)
{
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nContent-Length: 3\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), 400);
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
				   "Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), 400);
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n"
				   "Content-Length: 3\r\n\r\n"), 400);
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nContent-Length: 3\r\n"
				   "Transfer-Encoding: gzip\r\n\r\n"), 400);
}

static void test_transfer_codings(void **state)
{
	/* chunked not last: the body's end cannot be found (RFC 9112 6.3) */
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n"
				   "\r\n"), 400);
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"),
			 400);
	/* chunked last, another coding before it: framing fine, coding not ours */
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n"
				   "\r\n"), 501);
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n"), 501);
	/* chunked twice (RFC 9112 7.1) */
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n"
				   "\r\n"), 400);
	/* HTTP/1.0 has no transfer codings (RFC 9112 6.1) */
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
				   "\r\n0\r\n\r\n"), 400);
	/* and the accepted spellings */
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n"
				   "\r\n0\r\n\r\n"), 0);
	assert_int_equal(status_of(&roomy, "POST / HTTP/1.1\r\nTransfer-Encoding: ,chunked \r\n"
				   "\r\n0\r\n\r\n"), 0);
}

static void test_repeated_host(void **state)
{
	assert_int_equal(status_of(&roomy, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
	assert_int_equal(status_of(&roomy, "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nhOST: b\r\n\r\n"),
			 400);
	assert_int_equal(status_of(&roomy, "GET / HTTP/1.1\r\nHost:\r\nHost: b\r\n\r\n"), 400);

	/* other repeats are joined (RFC 9110 5.3), an empty one adds nothing */
	struct xbuf d = { 0 };
	static const char rep[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n"
				  "X: 1\r\nconnection:  Upgrade \r\nConnection:\r\n"
				  "Sec-WebSocket-Protocol: xmpp\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
	assert_string_equal(parse1(&roomy, rep, sizeof(rep) - 1, &d),
			    "REQUEST used=153 GET / HTTP/1.1 ka=1 host=[a]"
			    " connection=[keep-alive, Upgrade] ws-protocol=[xmpp, chat] body=[]");
	/* an empty Host is a Host */
	assert_string_equal(parse1(&roomy, "GET / HTTP/1.1\r\nHost:\r\n\r\n", 25, &d),
			    "REQUEST used=25 GET / HTTP/1.1 ka=1 host=[] body=[]");
	xbuf_free(&d);
}

static const char upgrade_req[] =
	"GET /xmpp-websocket HTTP/1.1\r\n"
	"Host: example.com\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Origin: https://example.com\r\n"
	"Sec-WebSocket-Protocol: xmpp\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"\r\n"
	"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"; /* a masked frame */

static void test_upgrade(void **state)
{
	size_t head = strlen(upgrade_req) - 11;
	struct http_req r;
	size_t used, len;

	http_req_init(&r, &roomy);
	assert_int_equal(http_req_feed(&r, upgrade_req, sizeof(upgrade_req) - 1, &used),
			 HTTP_FEED_UPGRADE);
	assert_int_equal(used, head);
	assert_string_equal(http_req_hdr(&r, HTTP_HDR_UPGRADE, &len), "websocket");
	assert_string_equal(http_req_hdr(&r, HTTP_HDR_SEC_WEBSOCKET_KEY, &len),
			    "dGhlIHNhbXBsZSBub25jZQ==");
	/* done: later feeds take nothing */
	assert_int_equal(http_req_feed(&r, upgrade_req + used, 3, &used), HTTP_FEED_UPGRADE);
	assert_int_equal(used, 0);
	http_req_free(&r);

	check_every_split(&roomy, upgrade_req, sizeof(upgrade_req) - 1,
			  "UPGRADE used=223 GET /xmpp-websocket HTTP/1.1 ka=1 host=[example.com]"
			  " origin=[https://example.com] connection=[Upgrade] upgrade=[websocket]"
			  " ws-key=[dGhlIHNhbXBsZSBub25jZQ==] ws-version=[13] ws-protocol=[xmpp]"
			  " body=[]");

	/* Upgrade not listed in Connection is no upgrade (RFC 9110 7.8) */
	struct xbuf d = { 0 };
	static const char plain[] = "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET";
	assert_string_equal(parse1(&roomy, plain, sizeof(plain) - 1, &d),
			    "REQUEST used=38 GET / HTTP/1.1 ka=1 upgrade=[websocket] body=[]");
	xbuf_free(&d);
}

static void test_keep_alive(void **state)
{
	struct xbuf d = { 0 };
	assert_string_equal(parse1(&roomy, "GET / HTTP/1.0\r\n\r\n", 18, &d),
			    "REQUEST used=18 GET / HTTP/1.0 ka=0 body=[]");
	assert_string_equal(parse1(&roomy, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
				   42, &d),
			    "REQUEST used=42 GET / HTTP/1.0 ka=1 connection=[keep-alive] body=[]");
	assert_string_equal(parse1(&roomy, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 37, &d),
			    "REQUEST used=37 GET / HTTP/1.1 ka=0 connection=[close] body=[]");

	/* after a request that was not keep-alive, llhttp refuses more */
	struct http_req r;
	size_t used;
	http_req_init(&r, &roomy);
	assert_int_equal(http_req_feed(&r, "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n", 36, &used),
			 HTTP_FEED_REQUEST);
	assert_int_equal(used, 18);
	http_req_next(&r);
	assert_int_equal(http_req_feed(&r, "GET / HTTP/1.0\r\n\r\n", 18, &used), HTTP_FEED_ERROR);
	assert_int_equal(r.status, 400);
	http_req_free(&r);
	xbuf_free(&d);
}

static void test_header_names_case(void **state)
{
	static const char req[] =
		"GET / HTTP/1.1\r\n"
		"hOsT: a.example\r\n"
		"ORIGIN: https://o\r\n"
		"content-TYPE: text/plain\r\n"
		"CONNECTION: upgrade\r\n"
		"upgrade: WebSocket\r\n"
		"sec-websocket-key: k\r\n"
		"SEC-WEBSOCKET-VERSION: 13\r\n"
		"Sec-Websocket-Protocol: xmpp\r\n"
		/* near misses are not ours */
		"Hosts: no\r\n"
		"Origin-X: no\r\n"
		"Sec-WebSocket-Keys: no\r\n"
		"\r\n";
	check_every_split(&roomy, req, sizeof(req) - 1,
			  "UPGRADE used=249 GET / HTTP/1.1 ka=1 host=[a.example] origin=[https://o]"
			  " content-type=[text/plain] connection=[upgrade] upgrade=[WebSocket]"
			  " ws-key=[k] ws-version=[13] ws-protocol=[xmpp] body=[]");
}

/* A long name that starts like one of ours, split across feeds, must not
 * match it, and a value split across feeds is whole. */
static void test_split_names_values(void **state)
{
	struct http_req r;
	size_t used, len;
	http_req_init(&r, &roomy);
	assert_int_equal(http_req_feed(&r, "GET / HTTP/1.1\r\nSec-WebSocket-", 30, &used),
			 HTTP_FEED_MORE);
	assert_int_equal(http_req_feed(&r, "Protocol-And-More-Than-24: x\r\nSec-WebSocket-Pro", 47,
				       &used), HTTP_FEED_MORE);
	assert_int_equal(http_req_feed(&r, "tocol: xm", 9, &used), HTTP_FEED_MORE);
	assert_int_equal(http_req_feed(&r, "pp \r\n\r\n", 7, &used), HTTP_FEED_REQUEST);
	assert_int_equal(r.hdr_present, 1u << HTTP_HDR_SEC_WEBSOCKET_PROTOCOL);
	assert_string_equal(http_req_hdr(&r, HTTP_HDR_SEC_WEBSOCKET_PROTOCOL, &len), "xmpp");
	http_req_free(&r);
}

static void test_next_releases(void **state)
{
	struct http_limits lim = roomy;
	struct xbuf req = { 0 };
	struct http_req r;
	size_t used;

	lim.max_body_bytes = 40000;
	xbuf_appendf(&req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", 20000);
	for (int i = 0; i < 20000; i++)
		xbuf_append(&req, "z", 1);
	xbuf_append_str(&req, "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");

	http_req_init(&r, &lim);
	assert_int_equal(http_req_feed(&r, req.data, req.len, &used), HTTP_FEED_REQUEST);
	assert_int_equal(r.body.len, 20000);
	http_req_next(&r);
	/* the big block went back; the small ones stay, emptied */
	assert_null(r.body.data);
	assert_non_null(r.target.data);
	assert_int_equal(r.target.len, 0);
	assert_int_equal(r.hdr_present, 0);
	assert_int_equal(r.keep_alive, false);
	assert_int_equal(http_req_feed(&r, req.data + used, req.len - used, &used),
			 HTTP_FEED_REQUEST);
	assert_int_equal(r.body.len, 3);
	assert_string_equal(r.body.data, "abc");
	size_t cap = r.body.cap;
	http_req_next(&r);
	assert_non_null(r.body.data);
	assert_int_equal(r.body.cap, cap);
	assert_int_equal(r.body.len, 0);
	/* next does nothing unless a request was handed out */
	http_req_next(&r);
	assert_int_equal(http_req_feed(&r, "GET / HTTP/1.1\r\n", 16, &used), HTTP_FEED_MORE);
	http_req_next(&r);
	assert_int_equal(http_req_feed(&r, "\r\n", 2, &used), HTTP_FEED_REQUEST);
	assert_string_equal(r.target.data, "/");
	http_req_free(&r);
	assert_null(r.body.data);
	xbuf_free(&req);
}

/* With no limits (0), requests larger than the limits used above pass. */
static void test_no_limits(void **state)
{
	static const struct http_limits none = { 0 };
	struct xbuf req = { 0 };
	struct http_req r;
	size_t used;
	xbuf_append_str(&req, "POST /");
	for (int i = 0; i < 10000; i++)
		xbuf_append(&req, "t", 1);
	xbuf_append_str(&req, " HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
	for (int i = 0; i < 100000; i++)
		xbuf_append(&req, "b", 1);
	http_req_init(&r, &none);
	assert_int_equal(http_req_feed(&r, req.data, req.len, &used), HTTP_FEED_REQUEST);
	assert_int_equal(used, req.len);
	assert_int_equal(r.target.len, 10001);
	assert_int_equal(r.body.len, 100000);
	http_req_free(&r);
	xbuf_free(&req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_keep_alive),
		cmocka_unit_test(test_get_every_split),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_post_content_length),
		cmocka_unit_test(test_chunked_every_split),
		cmocka_unit_test(test_limit_header),
		cmocka_unit_test(test_limit_target),
		cmocka_unit_test(test_limit_body_content_length),
		cmocka_unit_test(test_limit_body_chunked),
		cmocka_unit_test(test_malformed_request_line),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_cl_and_te),
		cmocka_unit_test(test_transfer_codings),
		cmocka_unit_test(test_repeated_host),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_header_names_case),
		cmocka_unit_test(test_split_names_values),
		cmocka_unit_test(test_next_releases),
		cmocka_unit_test(test_no_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
