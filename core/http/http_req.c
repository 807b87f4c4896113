/* HTTP/1.1 request parsing over llhttp; see http_req.h for the contract.
 *
 * llhttp does the syntax (strict mode, see the top CMakeLists.txt) and calls
 * back with spans of the input; this file keeps the spans we want, enforces
 * the limits, and turns llhttp's pauses into the feed's results:
 *  - on_headers_complete pauses, so that the error position tells exactly
 *    where the header section ended: while in it, llhttp is never given more
 *    than what is left of max_header_bytes, so a header section cannot grow
 *    past the limit however the input is split, and the count needs no
 *    per-callback bookkeeping of CRLFs and whitespace llhttp does not report;
 *  - on_message_complete pauses (returns HPE_PAUSED: llhttp.h forbids calling
 *    llhttp_pause() from a callback), so that one request at a time is
 *    handed out and the error position is where the next one begins;
 *  - an upgrade is left to llhttp, which stops with HPE_PAUSED_UPGRADE after
 *    the request and leaves the rest of the input alone.
 * A callback refuses by setting r->status and returning -1; llhttp then
 * stops with an error of its own, and any error it finds itself is a 400. */
#include "core/http/http_req.h"

#include <stdint.h>
#include <string.h>

enum { ST_HEAD, ST_BODY, ST_DONE, ST_UPGRADED, ST_ERROR };
enum { PAUSE_NONE, PAUSE_HEADERS, PAUSE_MESSAGE };
/* A repeated header's ", ": owed until its value shows, then added. */
enum { SEP_NONE, SEP_PENDING, SEP_ADDED };

/* Freed rather than kept by http_req_next(): a keep-alive connection that
 * once carried a big body would otherwise hold that block until it closes. */
#define KEEP_MAX (16 * 1024)

static const struct {
	const char *name;
	uint8_t len;
} hdr_names[HTTP_HDR_COUNT] = {
#define H(e, s) [e] = { s, sizeof(s) - 1 }
	H(HTTP_HDR_HOST, "host"),
	H(HTTP_HDR_ORIGIN, "origin"),
	H(HTTP_HDR_CONTENT_TYPE, "content-type"),
	H(HTTP_HDR_CONNECTION, "connection"),
	H(HTTP_HDR_UPGRADE, "upgrade"),
	H(HTTP_HDR_SEC_WEBSOCKET_KEY, "sec-websocket-key"),
	H(HTTP_HDR_SEC_WEBSOCKET_VERSION, "sec-websocket-version"),
	H(HTTP_HDR_SEC_WEBSOCKET_PROTOCOL, "sec-websocket-protocol"),
	H(HTTP_HDR_TRANSFER_ENCODING, "transfer-encoding"),
#undef H
};

_Static_assert(HTTP_HDR_COUNT <= 8 * sizeof(unsigned), "hdr_present holds a bit per header");
_Static_assert(sizeof("sec-websocket-protocol") - 1 <= sizeof(((struct http_req *)0)->name),
	       "name[] holds the longest name we look for");

/* Not strncasecmp: field names are ASCII whatever the locale says. */
static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool caseeq(const char *a, const char *lower_b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower_b[i])
			return false;
	return true;
}

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

static int refuse(struct http_req *r, int status, const char *reason)
{
	r->status = status;
	r->reason = reason;
	return -1;
}

static struct http_req *req_of(llhttp_t *p)
{
	return p->data;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct http_req *r = req_of(p);
	if (r->lim.max_target_bytes && n > r->lim.max_target_bytes - r->target.len)
		return refuse(r, 414, "request target too long");
	if (xbuf_append(&r->target, at, n) != XS_OK)
		return refuse(r, 503, "out of memory");
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct http_req *r = req_of(p);
	/* a name may come in pieces (split input); past name[] it cannot be
	 * one of ours, and only that much needs remembering */
	if (r->name_len > sizeof(r->name) || n > sizeof(r->name) - r->name_len) {
		r->name_len = sizeof(r->name) + 1;
		return 0;
	}
	memcpy(r->name + r->name_len, at, n);
	r->name_len += (uint8_t)n;
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct http_req *r = req_of(p);
	uint8_t h = HTTP_HDR_COUNT;

	/* RFC 9110 5.1: a field name is a token, so never empty; llhttp 8.1
	 * takes ": value" for a field with an empty name */
	if (r->name_len == 0)
		return refuse(r, 400, "empty header name");
	/* Trailer fields come through the same callbacks after the body; RFC
	 * 9110 6.5.1 forbids taking them for header fields, so they are only
	 * counted (as framing, see http_req_feed). */
	if (r->state == ST_HEAD) {
		for (uint8_t i = 0; i < HTTP_HDR_COUNT; i++) {
			if (hdr_names[i].len == r->name_len &&
			    caseeq(r->name, hdr_names[i].name, r->name_len)) {
				h = i;
				break;
			}
		}
	}
	r->name_len = 0;
	r->cur_hdr = h;
	r->sep = SEP_NONE;
	if (h == HTTP_HDR_COUNT)
		return 0;
	unsigned bit = 1u << h;
	if (r->hdr_present & bit) {
		/* RFC 9112 3.2: two Hosts name no single target */
		if (h == HTTP_HDR_HOST)
			return refuse(r, 400, "repeated Host");
		r->sep = SEP_PENDING;
	}
	r->hdr_present |= bit;
	r->val_start = r->hdr[h].len;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct http_req *r = req_of(p);
	if (r->cur_hdr == HTTP_HDR_COUNT || n == 0)
		return 0;
	struct xbuf *b = &r->hdr[r->cur_hdr];
	/* the separator waits for a value: an empty repeat adds nothing */
	if (r->sep == SEP_PENDING) {
		if (xbuf_append(b, ", ", 2) != XS_OK)
			return refuse(r, 503, "out of memory");
		r->sep = SEP_ADDED;
		r->val_start = b->len;
	}
	if (xbuf_append(b, at, n) != XS_OK)
		return refuse(r, 503, "out of memory");
	return 0;
}

/* llhttp drops the whitespace before a value but passes what follows it
 * (RFC 9112 5: OWS around a value is not part of it). */
static int on_header_value_complete(llhttp_t *p)
{
	struct http_req *r = req_of(p);
	if (r->cur_hdr == HTTP_HDR_COUNT)
		return 0;
	struct xbuf *b = &r->hdr[r->cur_hdr];
	size_t len = b->len;
	while (len > r->val_start && ows(b->data[len - 1]))
		len--;
	/* a repeat that was only whitespace (an obs-fold line): no value
	 * after all, so no separator either */
	if (len == r->val_start && r->sep == SEP_ADDED)
		len -= 2;
	r->sep = SEP_NONE;
	if (b->data) {
		b->len = len;
		b->data[len] = '\0';
	}
	r->cur_hdr = HTTP_HDR_COUNT;
	return 0;
}

/* Transfer codings (RFC 9112 6, 7): chunked is the only one we implement.
 * Returns 0 if the list is exactly "chunked", else the status to answer:
 *  - 400 if chunked is there more than once (RFC 9112 7.1: a sender MUST NOT
 *    apply it twice, so the framing is broken, not merely unsupported);
 *  - 501 if some other coding is there (RFC 9112 6.1: a server that receives
 *    a coding it does not understand SHOULD answer 501).  llhttp still
 *    found the body's end (chunked was last), so the answer is about the
 *    coding, not about the framing; 501 tells the client to stop sending
 *    it instead of suggesting that its request was malformed.
 * Whether chunked came last at all was settled before (a 400). */
static int check_codings(const char *s, size_t n)
{
	size_t chunked = 0, other = 0, i = 0;
	while (i < n) {
		size_t start = i, end;
		while (i < n && s[i] != ',')
			i++;
		end = i++;
		while (start < end && ows(s[start]))
			start++;
		while (end > start && ows(s[end - 1]))
			end--;
		if (end == start)
			continue; /* RFC 9110 5.6.1: empty list elements are ignored */
		if (end - start == 7 && caseeq(s + start, "chunked", 7))
			chunked++;
		else
			other++;
	}
	if (chunked > 1)
		return 400;
	return other ? 501 : 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct http_req *r = req_of(p);

	if (p->http_major != 1)
		return refuse(r, 505, "HTTP version not supported");
	if (p->flags & F_TRANSFER_ENCODING) {
		/* RFC 9112 6.3 item 3: both is how requests are smuggled past a
		 * proxy that reads the other one (llhttp refuses it already,
		 * in either order; this is the belt to its braces) */
		if (p->flags & F_CONTENT_LENGTH)
			return refuse(r, 400, "Content-Length with Transfer-Encoding");
		/* RFC 9112 6.1: HTTP/1.0 has no transfer codings, so the
		 * framing of such a message is faulty */
		if (p->http_minor == 0)
			return refuse(r, 400, "Transfer-Encoding in HTTP/1.0");
		/* RFC 9112 6.3 item 4: without chunked last, the body's length
		 * cannot be known; MUST answer 400 and close */
		if (!(p->flags & F_CHUNKED))
			return refuse(r, 400, "chunked is not the final transfer coding");
		const struct xbuf *te = &r->hdr[HTTP_HDR_TRANSFER_ENCODING];
		int st = check_codings(te->data ? te->data : "", te->len);
		if (st)
			return refuse(r, st, st == 501 ? "unsupported transfer coding"
						       : "chunked applied more than once");
	}
	/* refused before any of the body is read, let alone kept */
	if ((p->flags & F_CONTENT_LENGTH) && r->lim.max_body_bytes &&
	    p->content_length > r->lim.max_body_bytes)
		return refuse(r, 413, "Content-Length over the body limit");
	r->method = p->method;
	r->version_minor = p->http_minor;
	r->pause = PAUSE_HEADERS;
	return HPE_PAUSED;
}

/* llhttp has the chunk's size in content_length here: a chunk that would
 * take the body past the limit is refused before its first byte. */
static int on_chunk_header(llhttp_t *p)
{
	struct http_req *r = req_of(p);
	if (r->lim.max_body_bytes && p->content_length > r->lim.max_body_bytes - r->body.len)
		return refuse(r, 413, "chunked body over the body limit");
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct http_req *r = req_of(p);
	/* the checks above make this unreachable; it stays as the one check
	 * every byte of the body passes */
	if (r->lim.max_body_bytes && n > r->lim.max_body_bytes - r->body.len)
		return refuse(r, 413, "body over the body limit");
	if (xbuf_append(&r->body, at, n) != XS_OK)
		return refuse(r, 503, "out of memory");
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct http_req *r = req_of(p);
	/* now: llhttp clears the flags it is computed from right after */
	r->keep_alive = llhttp_should_keep_alive(p);
	if (p->upgrade)
		return 0; /* llhttp stops with HPE_PAUSED_UPGRADE */
	r->pause = PAUSE_MESSAGE;
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_chunk_header = on_chunk_header,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_req_init(struct http_req *r, const struct http_limits *lim)
{
	memset(r, 0, sizeof(*r));
	r->lim = *lim;
	r->cur_hdr = HTTP_HDR_COUNT;
	llhttp_init(&r->parser, HTTP_REQUEST, &settings);
	r->parser.data = r;
}

static enum http_feed fail(struct http_req *r, int status, const char *reason)
{
	/* the first refusal is the one that explains */
	if (!r->status) {
		r->status = status;
		r->reason = reason;
	}
	r->state = ST_ERROR;
	return HTTP_FEED_ERROR;
}

enum http_feed http_req_feed(struct http_req *r, const char *data, size_t len, size_t *used)
{
	*used = 0;
	switch (r->state) {
	case ST_DONE:
		return HTTP_FEED_REQUEST;
	case ST_UPGRADED:
		return HTTP_FEED_UPGRADE;
	case ST_ERROR:
		return HTTP_FEED_ERROR;
	}
	/* the caller may have moved r (it lives in its connection record) */
	r->parser.data = r;

	size_t off = 0;
	bool again = false; /* resumed after the headers: run even on no input */
	while (off < len || again) {
		again = false;
		bool head = r->state == ST_HEAD;
		size_t n = len - off;
		if (head && r->lim.max_header_bytes) {
			size_t room = r->lim.max_header_bytes - r->head_bytes;
			/* the header section is not over (we would be in
			 * ST_BODY) and the next byte would pass the limit */
			if (room == 0) {
				*used = off;
				return fail(r, 431, "header section too large");
			}
			if (n > room)
				n = room;
		}

		llhttp_errno_t e = llhttp_execute(&r->parser, data + off, n);
		size_t took = n;
		if (e != HPE_OK) {
			uintptr_t pos = (uintptr_t)llhttp_get_error_pos(&r->parser);
			uintptr_t from = (uintptr_t)(data + off);
			if (pos >= from && pos - from <= n)
				took = pos - from;
		}
		off += took;
		*used = off;
		if (head) {
			r->head_bytes += took;
		} else {
			r->wire_bytes += took;
			/* chunk sizes, extensions and trailers: not kept, but
			 * a request must end (see http_req.h) */
			if ((e == HPE_OK || e == HPE_PAUSED) && r->lim.max_header_bytes &&
			    r->wire_bytes - r->body.len > r->lim.max_header_bytes)
				return fail(r, 413, "chunked framing too large");
		}

		switch (e) {
		case HPE_OK:
			break;
		case HPE_PAUSED:
			if (r->pause == PAUSE_HEADERS) {
				r->pause = PAUSE_NONE;
				r->state = ST_BODY;
				llhttp_resume(&r->parser);
				again = true;
				break;
			}
			if (r->pause == PAUSE_MESSAGE) {
				r->pause = PAUSE_NONE;
				r->state = ST_DONE;
				return HTTP_FEED_REQUEST;
			}
			return fail(r, 400, "unexpected pause");
		case HPE_PAUSED_UPGRADE:
			r->state = ST_UPGRADED;
			return HTTP_FEED_UPGRADE;
		case HPE_PAUSED_H2_UPGRADE:
			/* "PRI * HTTP/2.0": a client speaking HTTP/2 with prior
			 * knowledge, which on_headers_complete never sees */
			return fail(r, 505, "HTTP/2 connection preface");
		default:
			return fail(r, 400, llhttp_get_error_reason(&r->parser));
		}
	}
	*used = len;
	return HTTP_FEED_MORE;
}

/* Keeps a small block for the next request, which on a keep-alive
 * connection usually follows at once. */
static void reuse(struct xbuf *b)
{
	if (b->cap > KEEP_MAX)
		xbuf_free(b);
	else
		xbuf_reset(b);
}

void http_req_next(struct http_req *r)
{
	if (r->state != ST_DONE)
		return;
	llhttp_resume(&r->parser);
	reuse(&r->target);
	for (int i = 0; i < HTTP_HDR_COUNT; i++)
		reuse(&r->hdr[i]);
	reuse(&r->body);
	r->method = 0;
	r->version_minor = 0;
	r->keep_alive = false;
	r->hdr_present = 0;
	r->status = 0;
	r->reason = NULL;
	r->state = ST_HEAD;
	r->pause = PAUSE_NONE;
	r->cur_hdr = HTTP_HDR_COUNT;
	r->sep = SEP_NONE;
	r->name_len = 0;
	r->val_start = 0;
	r->head_bytes = 0;
	r->wire_bytes = 0;
}

void http_req_free(struct http_req *r)
{
	xbuf_free(&r->target);
	for (int i = 0; i < HTTP_HDR_COUNT; i++)
		xbuf_free(&r->hdr[i]);
	xbuf_free(&r->body);
}

const char *http_req_hdr(const struct http_req *r, enum http_hdr h, size_t *len)
{
	if ((unsigned)h >= HTTP_HDR_COUNT || !(r->hdr_present & (1u << h))) {
		*len = 0;
		return NULL;
	}
	*len = r->hdr[h].len;
	return r->hdr[h].data ? r->hdr[h].data : "";
}
