/* RFC 7395 framing of a c2s stream's output; see ws_framing.h for the
 * contract.
 *
 * One pass over the input, driven by a small state machine kept in the
 * struct, so that a feed resumes exactly where the last one stopped and no
 * byte is looked at twice however the writes are split:
 *  - f->state is where the scan stands (the ST_* below);
 *  - f->aux is that state's memory: the quote that closes an attribute
 *    value, how much of "--", "[CDATA[" has been matched, how many of the
 *    "]]", "--", "?" before a closing '>' have been seen, or whether an end
 *    tag's name has begun;
 *  - f->depth is the element depth: 0 outside any stream, 1 inside
 *    <stream:stream>, 2 inside a top-level element, and so on;
 *  - f->mark is, while a top-level start tag is scanned, the offset in
 *    f->out right after its name: where an xmlns declaration goes once the
 *    end of the tag tells whether the element declares one itself.
 * A message is built in f->out from offset WS_FRAMING_HEADROOM; f->out.len
 * is 0 when no message is being built, which is also what tells the states
 * below whether what they step over is kept (inside a top-level element)
 * or dropped (between top-level elements: whitespace, the XML declaration).
 *
 * Only the start tag of a top-level element is read a second time, once,
 * when it ends (its attributes decide what is inserted); everything else
 * is copied in runs found with memchr or a short loop. */
#include "core/http/ws_framing.h"

#include <string.h>

enum {
	ST_TEXT,	 /* between tags: content, or text between top-level elements */
	ST_LT,		 /* after '<' */
	ST_NAME,	 /* in a start tag's name */
	ST_TAG,		 /* in a start tag, outside attribute values */
	ST_VALUE,	 /* in an attribute value; aux: its quote */
	ST_END_TAG,	 /* in an end tag; aux: 1 once its name has begun */
	ST_BANG,	 /* after "<!" */
	ST_OPEN_COMMENT, /* after "<!-": aux bytes of the rest of "<!--" seen */
	ST_OPEN_CDATA,	 /* after "<![": aux bytes of the rest of "<![CDATA[" seen */
	ST_COMMENT,	 /* aux: '-' seen just before (at most 2) */
	ST_CDATA,	 /* aux: ']' seen just before (at most 2) */
	ST_PI,		 /* aux: 1 after a '?' */
	ST_FAILED,	 /* the feed failed once: the connection is being closed */
};

#define HEADROOM WS_FRAMING_HEADROOM
/* A framer that goes idle keeps a buffer up to this size for the next
 * message; one that carried a big stanza gives it back. */
#define KEEP_MAX 4096

#define STREAM_NAME "stream:stream"
#define STREAM_NS "http://etherx.jabber.org/streams"
#define FRAMING_NS "urn:ietf:params:xml:ns:xmpp-framing"
#define OPEN_HEAD "<open xmlns='" FRAMING_NS "'"
/* As RFC 7395's examples write it, which strophe.js compares byte for
 * byte to know the server's close */
#define CLOSE_MSG "<close xmlns=\"" FRAMING_NS "\" />"

struct feed {
	struct ws_framing *f;
	ws_framing_emit emit;
	void *arg;
};

/* XML's NameStartChar and NameChar, with every non-ASCII byte taken as
 * one: the XML is ours (or re-serialized by us), only its framing is read. */
static inline bool name_start(unsigned char c)
{
	unsigned char l = c | 0x20;
	return (l >= 'a' && l <= 'z') || c == '_' || c == ':' || c >= 0x80;
}

static inline bool name_char(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static inline bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool name_is(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static bool is_building(const struct ws_framing *f)
{
	return f->out.len != 0;
}

/* Copies bytes the scan stepped over into the message being built; between
 * top-level elements nothing is built and they are dropped. */
static bool keep(struct ws_framing *f, const char *p, size_t n)
{
	return !is_building(f) || xbuf_append(&f->out, p, n) == XS_OK;
}

/* A top-level '<': the message begins after the caller's headroom. */
static bool start_message(struct ws_framing *f)
{
	if (xbuf_reserve(&f->out, HEADROOM + 1) != XS_OK)
		return false;
	f->out.len = HEADROOM;
	f->out.data[HEADROOM] = '\0';
	return xbuf_append(&f->out, "<", 1) == XS_OK;
}

static bool emit_message(struct feed *c)
{
	struct ws_framing *f = c->f;
	bool ok = c->emit(c->arg, f->out.data + HEADROOM, f->out.len - HEADROOM);
	/* storage kept: the next message is built in place without malloc */
	xbuf_reset(&f->out);
	return ok;
}

/* Opens n bytes at offset at of b; returns where they go, or NULL. */
static char *open_gap(struct xbuf *b, size_t at, size_t n)
{
	if (xbuf_reserve(b, n) != XS_OK)
		return NULL;
	memmove(b->data + at + n, b->data + at, b->len - at + 1); /* with the NUL */
	b->len += n;
	return b->data + at;
}

/* Inserts a, b and d (one declaration written in pieces) after the name. */
static bool insert_decl(struct ws_framing *f, const char *a, const char *b, const char *d)
{
	size_t la = strlen(a), lb = strlen(b), ld = strlen(d);
	char *gap = open_gap(&f->out, f->mark, la + lb + ld);
	if (!gap)
		return false;
	memcpy(gap, a, la);
	memcpy(gap + la, b, lb);
	memcpy(gap + la + lb, d, ld);
	return true;
}

struct attr {
	size_t start, name_len, end; /* offsets in f->out; end: past the quote */
};

/* Steps over the attribute at *pos of the start tag held in out (which
 * ends with '>').  1: one found; 0: the tag's end ("/>" or ">"); -1: not
 * an attribute list (XML wants whitespace before each one, and the
 * rewriting of a header relies on it). */
static int next_attr(const struct xbuf *out, size_t *pos, struct attr *a)
{
	const char *s = out->data;
	size_t i = *pos;

	/* out->data[out->len] is the NUL: every look below stops at it */
	while (space(s[i]))
		i++;
	if (s[i] == '>' || (s[i] == '/' && s[i + 1] == '>'))
		return 0;
	if (i == *pos)
		return -1;
	a->start = i;
	while (name_char((unsigned char)s[i]))
		i++;
	a->name_len = i - a->start;
	while (space(s[i]))
		i++;
	if (a->name_len == 0 || s[i] != '=')
		return -1;
	i++;
	while (space(s[i]))
		i++;
	if (s[i] != '\'' && s[i] != '"')
		return -1;
	const char *close = memchr(s + i + 1, s[i], out->len - i - 1);
	if (!close)
		return -1;
	a->end = (size_t)(close - s) + 1;
	*pos = a->end;
	return 1;
}

/* xmlns or xmlns:*: namespace declarations, which <open/> does without. */
static bool is_ns_decl(const char *name, size_t n)
{
	return n >= 5 && memcmp(name, "xmlns", 5) == 0 && (n == 5 || name[5] == ':');
}

/* The header's start tag, "<stream:stream" + attributes + ">" in out,
 * becomes OPEN_HEAD + the attributes that are not namespace declarations,
 * one space before each, + "/>".  The kept attributes are first packed
 * where they are (each is preceded by at least one whitespace byte, so
 * the write position never passes the read position), then moved behind
 * the new head. */
static bool build_open(struct ws_framing *f)
{
	struct attr a;
	size_t w = f->mark, pos = f->mark;
	int r;

	while ((r = next_attr(&f->out, &pos, &a)) > 0) {
		if (is_ns_decl(f->out.data + a.start, a.name_len))
			continue;
		f->out.data[w++] = ' ';
		memmove(f->out.data + w, f->out.data + a.start, a.end - a.start);
		w += a.end - a.start;
	}
	if (r < 0)
		return false;

	size_t attrs = w - f->mark, head = sizeof(OPEN_HEAD) - 1;
	size_t need = HEADROOM + head + attrs + 2;
	if (need > f->out.len && xbuf_reserve(&f->out, need - f->out.len) != XS_OK)
		return false;
	char *d = f->out.data;
	memmove(d + HEADROOM + head, d + f->mark, attrs);
	memcpy(d + HEADROOM, OPEN_HEAD, head);
	memcpy(d + HEADROOM + head + attrs, "/>", 2);
	f->out.len = need;
	d[need] = '\0';
	return true;
}

/* What a top-level element's name asks to be declared on it (RFC 7395
 * 3.3: each element stands alone in its message). */
enum decl { DECL_NONE, DECL_DEFAULT, DECL_STREAM };

static enum decl decl_for(const char *name, size_t n)
{
	if (n > 7 && memcmp(name, "stream:", 7) == 0)
		return DECL_STREAM;
	/* another prefix is bound by the element itself, or by nothing */
	return memchr(name, ':', n) ? DECL_NONE : DECL_DEFAULT;
}

/* The top-level start tag is complete in out: inserts after its name the
 * declaration `want`, unless the tag makes it itself. */
static bool declare_ns(struct ws_framing *f, enum decl want)
{
	bool dflt = false, stream = false;
	struct attr a;
	size_t pos = f->mark;
	int r;

	while ((r = next_attr(&f->out, &pos, &a)) > 0) {
		const char *an = f->out.data + a.start;
		dflt |= name_is(an, a.name_len, "xmlns");
		stream |= name_is(an, a.name_len, "xmlns:stream");
	}
	if (r < 0)
		return false;
	if (want == DECL_STREAM && !stream)
		return insert_decl(f, " xmlns:stream='", STREAM_NS, "'");
	if (want == DECL_DEFAULT && !dflt)
		return insert_decl(f, " xmlns='", f->ns, "'");
	return true;
}

/* The start tag that began at depth 1 (or a header at depth 0) ended. */
static bool top_start_tag(struct feed *c, bool empty)
{
	struct ws_framing *f = c->f;
	const char *name = f->out.data + HEADROOM + 1;
	size_t nlen = f->mark - HEADROOM - 1;

	if (name_is(name, nlen, STREAM_NAME)) {
		/* a restart's header comes inside the old stream, which is
		 * never closed: the depth stays 1 either way */
		if (empty || !build_open(f))
			return false;
		f->depth = 1;
		return emit_message(c);
	}
	if (!declare_ns(f, decl_for(name, nlen)))
		return false;
	if (empty)
		return emit_message(c);
	f->depth = 2;
	return true;
}

static bool end_of_start_tag(struct feed *c)
{
	struct ws_framing *f = c->f;
	/* outside quotes, a '/' before '>' can only be an empty-element tag */
	bool empty = f->out.data[f->out.len - 2] == '/';

	f->state = ST_TEXT;
	if (f->depth <= 1)
		return top_start_tag(c, empty);
	if (!empty) {
		if (f->depth == UINT32_MAX)
			return false;
		f->depth++;
	}
	return true;
}

/* "</stream:stream" + optional whitespace + ">" in out. */
static bool is_stream_end(const struct xbuf *out)
{
	const char *s = out->data + HEADROOM;
	size_t n = out->len - HEADROOM, lit = sizeof("</" STREAM_NAME) - 1;

	if (n <= lit || memcmp(s, "</" STREAM_NAME, lit) != 0)
		return false;
	for (size_t i = lit; i < n - 1; i++)
		if (!space(s[i]))
			return false;
	return true;
}

static bool end_of_end_tag(struct feed *c)
{
	struct ws_framing *f = c->f;

	f->state = ST_TEXT;
	switch (f->depth) {
	case 0:
		return false;
	case 1:
		/* after it, outside any stream: a new header may follow */
		if (!is_stream_end(&f->out))
			return false;
		f->out.len = HEADROOM;
		if (xbuf_append(&f->out, CLOSE_MSG, sizeof(CLOSE_MSG) - 1) != XS_OK)
			return false;
		f->depth = 0;
		return emit_message(c);
	case 2:
		f->depth = 1;
		return emit_message(c);
	default:
		f->depth--;
		return true;
	}
}

static const char *step_text(struct ws_framing *f, const char *p, const char *end)
{
	const char *lt = memchr(p, '<', (size_t)(end - p));

	if (!lt)
		return keep(f, p, (size_t)(end - p)) ? end : NULL;
	/* at the top level, nothing is built yet: ST_LT starts the message
	 * if what follows is a tag */
	if (!keep(f, p, (size_t)(lt + 1 - p)))
		return NULL;
	f->state = ST_LT;
	return lt + 1;
}

static const char *step_lt(struct ws_framing *f, const char *p)
{
	unsigned char ch = (unsigned char)*p;

	f->aux = 0;
	if (name_start(ch) || ch == '/') {
		/* an end tag with no element open: not XML we wrote */
		if (ch == '/' && f->depth == 0)
			return NULL;
		if (!is_building(f) && !start_message(f))
			return NULL;
		f->state = ch == '/' ? ST_END_TAG : ST_NAME;
	} else if (ch == '?') {
		f->state = ST_PI;
	} else if (ch == '!') {
		f->state = ST_BANG;
	} else {
		return NULL;
	}
	return keep(f, p, 1) ? p + 1 : NULL;
}

static const char *step_name(struct ws_framing *f, const char *p, const char *end)
{
	const char *q = p;

	while (q < end && name_char((unsigned char)*q))
		q++;
	if (!keep(f, p, (size_t)(q - p)))
		return NULL;
	if (q == end)
		return end;
	if (!space(*q) && *q != '/' && *q != '>')
		return NULL;
	if (f->depth <= 1) {
		f->mark = f->out.len;
		/* before the header, nothing of ours is an element */
		if (f->depth == 0 &&
		    !name_is(f->out.data + HEADROOM + 1, f->mark - HEADROOM - 1, STREAM_NAME))
			return NULL;
	}
	f->state = ST_TAG;
	return q; /* the delimiter is the tag's */
}

static const char *step_tag(struct feed *c, const char *p, const char *end)
{
	struct ws_framing *f = c->f;
	const char *q = p;

	while (q < end && *q != '\'' && *q != '"' && *q != '>' && *q != '<')
		q++;
	if (q == end)
		return keep(f, p, (size_t)(q - p)) ? end : NULL;
	if (*q == '<' || !keep(f, p, (size_t)(q + 1 - p)))
		return NULL;
	if (*q != '>') {
		f->state = ST_VALUE;
		f->aux = (unsigned char)*q;
		return q + 1;
	}
	return end_of_start_tag(c) ? q + 1 : NULL;
}

static const char *step_value(struct ws_framing *f, const char *p, const char *end)
{
	const char *q = memchr(p, (int)f->aux, (size_t)(end - p));

	if (!q)
		return keep(f, p, (size_t)(end - p)) ? end : NULL;
	f->state = ST_TAG;
	return keep(f, p, (size_t)(q + 1 - p)) ? q + 1 : NULL;
}

static const char *step_end_tag(struct feed *c, const char *p, const char *end)
{
	struct ws_framing *f = c->f;

	if (!f->aux) {
		if (!name_start((unsigned char)*p))
			return NULL;
		f->aux = 1;
	}
	const char *gt = memchr(p, '>', (size_t)(end - p));
	if (!gt)
		return keep(f, p, (size_t)(end - p)) ? end : NULL;
	if (!keep(f, p, (size_t)(gt + 1 - p)))
		return NULL;
	return end_of_end_tag(c) ? gt + 1 : NULL;
}

static const char *step_bang(struct ws_framing *f, const char *p)
{
	/* "<!DOCTYPE" and the like: never in a stream */
	if (*p != '-' && *p != '[')
		return NULL;
	f->state = *p == '-' ? ST_OPEN_COMMENT : ST_OPEN_CDATA;
	f->aux = 0;
	return keep(f, p, 1) ? p + 1 : NULL;
}

/* Matches the rest of "<!--" or "<![CDATA[", which may be split. */
static const char *step_open(struct ws_framing *f, const char *p, const char *end)
{
	const char *lit = f->state == ST_OPEN_COMMENT ? "-" : "CDATA[";
	size_t n = strlen(lit);
	const char *q = p;

	while (q < end && f->aux < n) {
		if (*q != lit[f->aux])
			return NULL;
		f->aux++;
		q++;
	}
	if (f->aux == n) {
		f->state = f->state == ST_OPEN_COMMENT ? ST_COMMENT : ST_CDATA;
		f->aux = 0;
	}
	return keep(f, p, (size_t)(q - p)) ? q : NULL;
}

/* Steps to the end of a comment ("-->"), a CDATA section ("]]>") or a
 * processing instruction ("?>"): `need` times `ch`, then '>'.  aux counts
 * the ch just seen, so that a terminator split across feeds is found. */
static const char *step_until(struct ws_framing *f, const char *p, const char *end, char ch,
			      uint32_t need)
{
	const char *q = p;

	while (q < end) {
		if (!f->aux) {
			const char *r = memchr(q, ch, (size_t)(end - q));
			if (!r) {
				q = end;
				break;
			}
			q = r + 1;
			f->aux = 1;
			continue;
		}
		char b = *q++;
		if (b == '>' && f->aux >= need) {
			f->state = ST_TEXT;
			f->aux = 0;
			break;
		}
		f->aux = b != ch ? 0 : f->aux < need ? f->aux + 1 : need;
	}
	return keep(f, p, (size_t)(q - p)) ? q : NULL;
}

/* One step of the scan: consumes at least one byte of [p, end), or fails. */
static const char *step(struct feed *c, const char *p, const char *end)
{
	struct ws_framing *f = c->f;

	switch (f->state) {
	case ST_TEXT: return step_text(f, p, end);
	case ST_LT: return step_lt(f, p);
	case ST_NAME: return step_name(f, p, end);
	case ST_TAG: return step_tag(c, p, end);
	case ST_VALUE: return step_value(f, p, end);
	case ST_END_TAG: return step_end_tag(c, p, end);
	case ST_BANG: return step_bang(f, p);
	case ST_OPEN_COMMENT:
	case ST_OPEN_CDATA: return step_open(f, p, end);
	case ST_COMMENT: return step_until(f, p, end, '-', 2);
	case ST_CDATA: return step_until(f, p, end, ']', 2);
	case ST_PI: return step_until(f, p, end, '?', 1);
	default: return NULL;
	}
}

void ws_framing_init(struct ws_framing *f, const char *ns)
{
	memset(f, 0, sizeof(*f));
	f->ns = ns ? ns : "jabber:client";
	f->state = ST_TEXT;
}

bool ws_framing_feed(struct ws_framing *f, const char *data, size_t len, ws_framing_emit emit,
		     void *arg)
{
	struct feed c = { .f = f, .emit = emit, .arg = arg };

	if (f->state == ST_FAILED)
		return false;
	if (!len) /* data may be NULL then, and NULL + 0 is not C */
		return true;

	const char *p = data, *end = data + len;
	while (p && p < end)
		p = step(&c, p, end);
	if (!p) {
		/* out of memory, emit refused, or not ours: the caller closes
		 * the connection, and any later feed fails the same way */
		f->state = ST_FAILED;
		xbuf_free(&f->out);
		return false;
	}
	if (!is_building(f) && f->out.cap > KEEP_MAX)
		xbuf_free(&f->out);
	return true;
}

bool ws_framing_idle(const struct ws_framing *f)
{
	return f->state == ST_TEXT && !is_building(f);
}

size_t ws_framing_mem(const struct ws_framing *f)
{
	return f->out.cap;
}

void ws_framing_shrink(struct ws_framing *f)
{
	/* between messages (or inside a dropped declaration or comment) the
	 * buffer holds nothing */
	if (!is_building(f))
		xbuf_free(&f->out);
}

void ws_framing_free(struct ws_framing *f)
{
	xbuf_free(&f->out);
	/* as after init, so that a second free or a later feed is safe */
	ws_framing_init(f, f->ns);
}
