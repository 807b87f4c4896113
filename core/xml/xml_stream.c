/* XML stream parser: expat in namespace mode, restricted XML, limits, and
 * the assembly of depth-1 elements into xml_node trees.  See xml_stream.h
 * for the contract and docs/internals/xml.md for the design.
 *
 * Names: expat reports qualified names as "uri<SEP>local".  SEP is 0xFF, a
 * byte that never occurs in UTF-8, and expat converts everything to UTF-8
 * before it builds names, so no URI or local name can contain it; a URI
 * written with &#255; arrives as C3 BF.  That is the whole defence against
 * the separator confusion of CVE-2022-25236 (fixed in expat 2.4.5 too, but
 * we do not rely on the library version for it).
 *
 * Size accounting: `fed` counts bytes handed to expat since the document
 * started and `boundary` is the byte offset just past the last complete
 * stanza (or the header), taken from expat's own event position.  Input is
 * handed to expat in pieces no larger than the room left under
 * max_stanza_size, so a peer that never closes a token is stopped at the
 * limit, not after expat has buffered whatever it sent.  The pieces are also
 * at most XML_STREAM_CHUNK long, for expat's buffer (see below).
 *
 * Handlers: after XML_StopParser expat may still call a few handlers (the
 * end of an empty element, the rest of a character run), so every handler
 * first checks that the stream is still healthy.
 *
 * Sleep: between stanzas the parser may be freed (parser == NULL) and later
 * replaced by a fresh one into which a synthetic start tag is replayed: the
 * root's qualified name as written on the wire (the end tag must match it
 * literally) and the root's namespace declarations.  The replay goes straight
 * to expat with handlers muted (`replaying`), so it neither calls stream_open
 * nor counts toward any limit.  `fed` and `boundary` stay in the offsets of
 * the peer's document: `shift` converts the new parser's byte offsets to
 * them, and line_off/col_off do the same for the positions in error texts.
 *
 * Raw content: a stanza's content (what lies between its start and end tags)
 * can be forwarded as the peer wrote it instead of serialized again from
 * the tree, if it means the same thing on the receiving stream.  It does
 * when it uses no namespace prefix declared outside it: nothing inside is
 * in a namespace the header binds to a prefix (the streams namespace, and
 * dialback's on a server stream that declares "db"; when "stream" is the
 * only one, header_plain, a single comparison), the header binds no
 * prefix to its default namespace (an element with that prefix could not
 * be told from one without), and the stanza's own start tag declares
 * nothing but the stream's default namespace again.  Anything else is
 * still correct, only without the shortcut.  The bytes: expat reports a
 * byte offset with every event, and a stanza may begin in an earlier piece
 * of input than the one in which it ends, so after each XML_Parse the
 * stream keeps a copy of what follows the last complete stanza (usually
 * nothing: a TLS record tends to end with a stanza) in `raw`; the content
 * is then a slice of the current piece, or of raw with the current piece
 * appended for the callback's duration.
 *
 * Linear parsing: expat 2.5 re-scans an unfinished token from its start
 * on every XML_Parse call, so a peer that sends a long token (an attribute
 * value, a tag name) a few bytes at a time would cost us time quadratic in
 * its length (the CVE-2023-52425 class; expat 2.6's reparse deferral is
 * the library's answer, absent from Debian 12's 2.5 and of no use to a
 * stream, which needs each stanza at once).  After each call the stream
 * notes how many bytes expat keeps unconsumed (`partial`: the unfinished
 * token).  While there are any, new input is held back in `hold` until it
 * contains a byte that can end a token ('>' ends every tag, ';' a
 * reference, '[' a CDATA or DOCTYPE opener) or is at least as long as the
 * unfinished token; a 1-3 byte partial UTF-8 character or CR needs no
 * more than that many new bytes.  Each re-scan of `partial` bytes is thus
 * paid for by as many new ones, and pieces handed to expat are allowed to
 * be as long as `partial` (expat's buffer is that large already), so each
 * byte is scanned a constant number of times.  A stanza is never delayed:
 * its last byte is a '>'.  Held bytes count toward max_stanza_size.
 *
 * What a sleeping stream holds is kept small: the struct and one block
 * `ctx` = "qname\0" then "prefix\0uri\0" per declaration of
 * the root ("" for the default namespace).  The error text is allocated only
 * when there is an error. */
#include "core/xml/xml_stream.h"

#include <expat.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/xbuf.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/ns.h"

#define NS_SEP '\xff'

/* Largest piece handed to one XML_Parse call.  Expat copies its input into
 * a buffer of its own that never shrinks (only a reset or free gives it
 * back), sized for the unparsed tail plus this much plus 1 KiB of context;
 * small pieces keep that buffer small unless a single token is large. */
#define XML_STREAM_CHUNK 4096

/* Weak, so that we build and run against expat without it (< 2.6). */
extern XML_Bool XML_SetReparseDeferralEnabled(XML_Parser parser, XML_Bool enabled)
	__attribute__((weak));

struct xml_stream {
	XML_Parser parser;
	struct xml_stream_limits lim;
	struct xml_stream_cb cb;
	void *arg;

	/* The small fields are kept together, without padding between them:
	 * every sleeping session keeps this struct. */
	enum xml_stream_err err;
	bool closed;                  /* </stream:stream> seen */
	bool in_cdata;                /* inside a CDATA section: expat's state, not ours,
				       * so no moment to sleep even at depth 1 */
	bool replaying;               /* the wake replay is being parsed (sleep and wake) */
	/* for xml_stream_stanza_inner (see "Raw content" above) */
	bool header_plain;            /* header declares no prefix but "stream" */
	bool top_decl_bad;            /* a declaration on the stanza tag being read */
	bool st_raw_ok;               /* the stanza's content is self-contained */
	bool inner_ok;
	bool header_seen;             /* the root start tag was reported */
	unsigned depth;               /* open elements, root included */
	unsigned n_ns_decls;          /* declarations on the start tag being read */
	unsigned replay_decls;        /* declarations the replay must bind */
	unsigned st_elems;            /* elements of the stanza being built (budget) */
	unsigned partial;             /* bytes expat held unconsumed after the last
				       * call ("Linear parsing" above) */
	unsigned long long fed;       /* bytes given to expat in this document */
	unsigned long long boundary;  /* offset just past the last stanza/header */

	/* The root's name as written ("stream:stream") and its namespace
	 * declarations: "qname\0" then "prefix\0uri\0" per declaration, the
	 * default namespace under the prefix "".  That is all expat holds
	 * between stanzas, and what a wake replays. */
	char *ctx;
	size_t ctx_len;
	struct xml_node *stanza;      /* depth-1 element being built */
	struct xml_node *cur;         /* innermost open element of it */
	/* Character data not yet added to cur; while the header's start tag is
	 * read (depth 0, where there is no text to keep) it gathers the root's
	 * declarations for ctx instead. */
	struct xbuf text;

	/* sleep and wake (see the top of the file) */
	long long shift;              /* document offset - expat offset */
	unsigned long long sleep_line, sleep_col; /* position when put to sleep */
	long long line_off;           /* document line - expat line */
	long long col_off;            /* document column - expat column, on expat's line col_line */
	unsigned long long col_line;
	struct xml_parser_pool *pool; /* lends and borrows parsers (NULL: none) */

	/* The stanza's bytes as they came (see "Raw content" above). */
	const char *dflt;             /* the header's default namespace, in ctx */
	unsigned long long st_inner;  /* offset just past the stanza's start tag */
	const char *piece;            /* what XML_Parse is reading now ... */
	unsigned long long piece_off; /* ... and its document offset */
	struct xbuf raw;              /* document bytes [raw_base, piece_off) */
	unsigned long long raw_base;
	const char *inner;            /* during the stanza callback: its content */
	size_t inner_len;

	struct xbuf hold;             /* input held back from expat ("Linear parsing") */

	char *err_text;               /* allocated at the first error */
};


#define ERR_TEXT_LEN 192

/* Sets the error text (truncated); without memory for it the error's name
 * stands in. */
static void set_err_text(struct xml_stream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_err_text(struct xml_stream *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->err_text && !(s->err_text = malloc(ERR_TEXT_LEN)))
		return;
	va_start(ap, fmt);
	vsnprintf(s->err_text, ERR_TEXT_LEN, fmt, ap);
	va_end(ap);
}

/* Expat's memory is wiped when expat frees or moves it: before
 * authentication its input buffer holds SASL payloads (PLAIN carries the
 * password), and a parser's blocks go back to the allocator, or to other
 * streams through the pool, with whatever they held. */
static void wipe_free(void *p)
{
	if (p) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

static void *wipe_realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	size_t old = malloc_usable_size(p);
	void *q = malloc(n ? n : 1);
	if (!q)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	wipe_free(p);
	return q;
}

static const XML_Memory_Handling_Suite wiping_memory = { malloc, wipe_realloc, wipe_free };

static XML_Parser new_expat(void)
{
	return XML_ParserCreate_MM("UTF-8", &wiping_memory, (const XML_Char[]){ NS_SEP, 0 });
}

static void setup_parser(struct xml_stream *s);
static bool at_clean_boundary(const struct xml_stream *s);
static void release_parser(struct xml_stream *s);
static bool borrow_parser(struct xml_stream *s);

/* Position in the peer's document of expat's line and column (1-based line,
 * 0-based column, as expat counts). */
static unsigned long long doc_line(const struct xml_stream *s, XML_Size line)
{
	return (unsigned long long)((long long)line + s->line_off);
}

/* Expat's columns restart with each of its lines; only on the line where
 * this document's input began in the current parser do they need the
 * offset (line 1 of a fresh parser, or a lent parser's line when lent). */
static unsigned long long doc_col(const struct xml_stream *s, XML_Size line, XML_Size col)
{
	return line == s->col_line ? (unsigned long long)((long long)col + s->col_off)
				   : (unsigned long long)col;
}

const char *xml_stream_err_name(enum xml_stream_err e)
{
	switch (e) {
	case XML_STREAM_OK: return "ok";
	case XML_STREAM_NOT_WELL_FORMED: return "not-well-formed";
	case XML_STREAM_RESTRICTED_XML: return "restricted-xml";
	case XML_STREAM_POLICY_VIOLATION: return "policy-violation";
	case XML_STREAM_NOMEM: return "nomem";
	case XML_STREAM_STOPPED: return "stopped";
	case XML_STREAM_CLOSED: return "closed";
	}
	return "?";
}

/* Records the first error and stops expat.  Called from handlers, where the
 * current position is that of the offending construct. */
static void fail(struct xml_stream *s, enum xml_stream_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct xml_stream *s, enum xml_stream_err e, const char *fmt, ...)
{
	va_list ap;
	char what[ERR_TEXT_LEN];

	if (s->err)
		return;
	s->err = e;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	XML_Size line = XML_GetCurrentLineNumber(s->parser);
	XML_Size col = XML_GetCurrentColumnNumber(s->parser);
	set_err_text(s, "%s at line %llu column %llu", what, doc_line(s, line),
		     doc_col(s, line, col));
	XML_StopParser(s->parser, XML_FALSE);
}

static bool healthy(const struct xml_stream *s)
{
	return s->err == XML_STREAM_OK && !s->closed;
}

/* Offset just past the event being reported (a start or end tag). */
static unsigned long long event_end(const struct xml_stream *s)
{
	return (unsigned long long)((long long)XML_GetCurrentByteIndex(s->parser) +
				    (long long)XML_GetCurrentByteCount(s->parser) + s->shift);
}

/* Splits expat's "uri<SEP>local" (or "local") into node storage. */
static struct xml_node *make_elem(const char *qname)
{
	const char *sep = strchr(qname, NS_SEP);
	if (!sep)
		return xml_node_new_elem_n(qname, strlen(qname), "", 0);
	return xml_node_new_elem_n(sep + 1, strlen(sep + 1), qname, (size_t)(sep - qname));
}

static enum xs add_attrs(struct xml_node *n, const XML_Char **atts)
{
	for (size_t i = 0; atts[i]; i += 2) {
		const char *q = atts[i], *sep = strchr(q, NS_SEP);
		enum xs st;
		if (sep)
			st = xml_node_add_attr_n(n, q, (size_t)(sep - q), sep + 1,
						 strlen(sep + 1), atts[i + 1]);
		else
			st = xml_node_add_attr_n(n, NULL, 0, q, strlen(q), atts[i + 1]);
		if (st != XS_OK)
			return st;
	}
	return XS_OK;
}

static bool flush_text(struct xml_stream *s)
{
	if (!s->text.len)
		return true;
	if (xml_node_add_text(s->cur, s->text.data, s->text.len) != XS_OK) {
		fail(s, XML_STREAM_NOMEM, "out of memory for text");
		return false;
	}
	xbuf_reset(&s->text);
	return true;
}

static void XMLCALL on_ns_start(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
	struct xml_stream *s = ud;

	if (s->replaying) {
		/* counted, to catch a binding expat failed to make (below) */
		s->n_ns_decls++;
		return;
	}
	if (!healthy(s))
		return;
	s->n_ns_decls++;
	if (s->depth == 1 && (prefix || !uri || strcmp(uri, s->dflt) != 0))
		s->top_decl_bad = true;
	if (s->depth != 0)
		return;
	if (!prefix)
		prefix = "";
	if (!uri)
		uri = "";
	if (xbuf_append(&s->text, prefix, strlen(prefix) + 1) != XS_OK ||
	    xbuf_append(&s->text, uri, strlen(uri) + 1) != XS_OK)
		fail(s, XML_STREAM_NOMEM, "out of memory for the stream header");
}

/* Builds ctx from the root's qualified name as the peer wrote it (the
 * input context of the start tag event, "<stream:stream ...") and the
 * declarations gathered in s->text.  A wake must replay that very name: the
 * closing tag has to match it byte for byte.  Without XML_CONTEXT_BYTES in
 * expat there is no context and the name stays "" (the stream then cannot
 * sleep).  False only when out of memory. */
static bool next_decl(const struct xml_stream *s, size_t *pos, const char **prefix,
		      const char **uri);

static bool save_ctx(struct xml_stream *s)
{
	int off = 0, size = 0;
	const char *in = XML_GetInputContext(s->parser, &off, &size);
	const char *p = "", *q = p;

	if (in && off >= 0 && off < size && in[off] == '<') {
		const char *end = in + size;
		p = q = in + off + 1;
		while (q < end && !strchr(" \t\r\n/>", *q))
			q++;
		if (q == end)
			q = p;
	}
	size_t qlen = (size_t)(q - p);
	s->ctx_len = qlen + 1 + s->text.len;
	s->ctx = malloc(s->ctx_len);
	if (!s->ctx)
		return false;
	memcpy(s->ctx, p, qlen);
	s->ctx[qlen] = '\0';
	if (s->text.len)
		memcpy(s->ctx + qlen + 1, s->text.data, s->text.len);
	xbuf_free(&s->text);
	const char *prefix, *uri;
	size_t pos = 0;
	s->header_plain = true;
	s->dflt = "";
	while (next_decl(s, &pos, &prefix, &uri)) {
		if (!*prefix)
			s->dflt = uri;
		else if (strcmp(prefix, "stream") != 0)
			s->header_plain = false;
	}
	return true;
}

/* Iterates over the declarations in ctx: *prefix and *uri of the one at
 * *pos, which moves on; false at the end. */
static bool next_decl(const struct xml_stream *s, size_t *pos, const char **prefix,
		      const char **uri)
{
	if (!s->ctx)
		return false;
	if (*pos == 0)
		*pos = strlen(s->ctx) + 1;
	if (*pos >= s->ctx_len)
		return false;
	*prefix = s->ctx + *pos;
	*uri = *prefix + strlen(*prefix) + 1;
	*pos = (size_t)(*uri - s->ctx) + strlen(*uri) + 1;
	return true;
}

/* Whether expat's name "uri<SEP>local" (or "local") is in the stream's
 * default namespace: the content of such a stanza inherits that namespace
 * on the receiving stream too. */
static bool in_default_ns(const struct xml_stream *s, const XML_Char *name)
{
	const char *sep = strchr(name, NS_SEP);
	size_t n = sep ? (size_t)(sep - name) : 0;
	return strlen(s->dflt) == n && memcmp(name, s->dflt, n) == 0;
}

/* expat's name "uri<SEP>local" is in namespace uri (n bytes) */
static bool name_in(const XML_Char *name, const char *uri, size_t n)
{
	return strncmp(name, uri, n) == 0 && name[n] == NS_SEP;
}

/* Whether the element, or one of its attributes, is in namespace uri. */
static bool uses_ns(const XML_Char *name, const XML_Char **atts, const char *uri, size_t n)
{
	if (name_in(name, uri, n))
		return true;
	for (size_t i = 0; atts[i]; i += 2)
		if (name_in(atts[i], uri, n))
			return true;
	return false;
}

/* Whether an element inside a stanza is, or has an attribute, in the
 * streams namespace: the one prefix a plain header binds ("stream"). */
static bool uses_streams_ns(const XML_Char *name, const XML_Char **atts)
{
	return uses_ns(name, atts, NS_STREAMS, sizeof(NS_STREAMS) - 1);
}

/* The same for any header: in a namespace the header binds to a prefix.
 * The same namespace declared again inside the stanza counts too (expat
 * reports names, not the prefixes they were written with); rare, and only
 * the shortcut is lost. */
static bool uses_header_ns(const struct xml_stream *s, const XML_Char *name,
			   const XML_Char **atts)
{
	const char *prefix, *uri;
	size_t pos = 0;
	while (next_decl(s, &pos, &prefix, &uri)) {
		size_t n = strlen(uri);
		if (*prefix && n && uses_ns(name, atts, uri, n))
			return true;
	}
	return false;
}

/* Whether the header lets a stanza's content go raw at all: no prefix of
 * it is bound to its default namespace. */
static bool header_allows_raw(const struct xml_stream *s)
{
	if (s->header_plain)
		return true;
	const char *prefix, *uri;
	size_t pos = 0;
	while (next_decl(s, &pos, &prefix, &uri))
		if (*prefix && strcmp(uri, xml_stream_default_ns(s)) == 0)
			return false;
	return true;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xml_stream *s = ud;
	unsigned n_decls = s->n_ns_decls;
	size_t n_atts = 0;

	s->n_ns_decls = 0;
	if (s->replaying) {
		/* The wake replay: the root is open again, nothing to report.
		 * Expat 2.5 can fail to allocate the prefix of an xmlns:p
		 * declaration without saying so (getAttributeId does not check
		 * that lookup) and then takes it for a plain attribute, leaving
		 * p unbound: wake checks the depth, so that is a NOMEM there. */
		if (n_decls == s->replay_decls && !atts[0])
			s->depth++;
		return;
	}
	if (!healthy(s))
		return;
	while (atts[n_atts])
		n_atts += 2;
	n_atts /= 2;
	if (s->lim.max_attrs && n_atts + n_decls > s->lim.max_attrs) {
		fail(s, XML_STREAM_POLICY_VIOLATION,
		     "element has %zu attributes and namespace declarations (limit %u)",
		     n_atts + n_decls, s->lim.max_attrs);
		return;
	}
	/* s->depth is the new element's level within its stanza */
	if (s->lim.max_depth && s->depth > s->lim.max_depth) {
		fail(s, XML_STREAM_POLICY_VIOLATION, "elements nested deeper than %u",
		     s->lim.max_depth);
		return;
	}
	if (s->depth >= 1) {
		s->st_elems = s->depth == 1 ? 1 : s->st_elems + 1;
		if (s->lim.max_elements && s->st_elems > s->lim.max_elements) {
			fail(s, XML_STREAM_POLICY_VIOLATION, "stanza has more than %u elements",
			     s->lim.max_elements);
			return;
		}
	}

	struct xml_node *n = make_elem(name);
	if (!n || add_attrs(n, atts) != XS_OK) {
		xml_node_free(n);
		fail(s, XML_STREAM_NOMEM, "out of memory for an element");
		return;
	}

	switch (s->depth++) {
	case 0:
		/* The node lives for the callback only: nobody reads the
		 * header's attributes later, and ~300 bytes a session kept
		 * for nothing is a tenth of what a sleeping one costs. */
		s->header_seen = true;
		s->boundary = event_end(s);
		if (!save_ctx(s)) {
			xml_node_free(n);
			fail(s, XML_STREAM_NOMEM, "out of memory for the stream header");
			return;
		}
		if (s->cb.stream_open && s->cb.stream_open(s->arg, n))
			fail(s, XML_STREAM_STOPPED, "stopped by the stream_open callback");
		xml_node_free(n);
		return;
	case 1:
		s->stanza = s->cur = n;
		s->st_inner = event_end(s);
		s->st_raw_ok = !s->top_decl_bad && in_default_ns(s, name) && header_allows_raw(s);
		s->top_decl_bad = false;
		return;
	default:
		if (s->st_raw_ok && (s->header_plain ? uses_streams_ns(name, atts)
						     : uses_header_ns(s, name, atts)))
			s->st_raw_ok = false;
		if (!flush_text(s)) {
			xml_node_free(n);
			return;
		}
		xml_node_add_child(s->cur, n);
		s->cur = n;
		return;
	}
}

/* In the end tag event of a stanza whose content is self-contained: points
 * s->inner at that content, the bytes from the end of the start tag to the
 * start of the end tag.  Where they began in an earlier piece, they are in
 * raw, and the current piece's part is appended there (the caller undoes
 * that after the callback).  Leaves inner_ok false when the bytes are not
 * all at hand (the stream kept none before the stanza began: it was asleep
 * or out of memory) or on allocation failure. */
static void find_inner(struct xml_stream *s)
{
	if (XML_GetCurrentByteCount(s->parser) == 0) {
		/* the end of an empty element, <presence/> */
		s->inner = "";
		s->inner_len = 0;
		s->inner_ok = true;
		return;
	}
	unsigned long long a = s->st_inner;
	unsigned long long b = (unsigned long long)((long long)XML_GetCurrentByteIndex(s->parser) + s->shift);
	if (b < a || !s->piece)
		return;
	if (a >= s->piece_off) {
		s->inner = s->piece + (a - s->piece_off);
	} else {
		if (a < s->raw_base || s->raw_base + s->raw.len != s->piece_off)
			return;
		if (b > s->piece_off &&
		    xbuf_append(&s->raw, s->piece, (size_t)(b - s->piece_off)) != XS_OK)
			return;
		s->inner = s->raw.data + (a - s->raw_base);
	}
	s->inner_len = (size_t)(b - a);
	s->inner_ok = true;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct xml_stream *s = ud;
	(void)name; /* expat has matched it against the start tag already */

	if (!healthy(s))
		return;
	switch (--s->depth) {
	case 0:
		s->closed = true;
		if (s->cb.stream_close && s->cb.stream_close(s->arg))
			fail(s, XML_STREAM_STOPPED, "stopped by the stream_close callback");
		else
			XML_StopParser(s->parser, XML_FALSE);
		return;
	case 1: {
		if (!flush_text(s))
			return;
		struct xml_node *st = s->stanza;
		s->stanza = s->cur = NULL;
		size_t raw_len = s->raw.len;
		if (s->st_raw_ok)
			find_inner(s);
		s->boundary = event_end(s);
		/* an idle connection holds no text buffer */
		xbuf_free(&s->text);
		if (s->cb.stanza) {
			if (s->cb.stanza(s->arg, st))
				fail(s, XML_STREAM_STOPPED, "stopped by the stanza callback");
		} else {
			xml_node_free(st);
		}
		s->inner = NULL;
		s->inner_len = 0;
		s->inner_ok = false;
		s->raw.len = raw_len;  /* find_inner may have appended the piece */
		return;
	}
	default:
		if (flush_text(s))
			s->cur = s->cur->parent;
		return;
	}
}

static void XMLCALL on_cdata_start(void *ud)
{
	((struct xml_stream *)ud)->in_cdata = true;
}

static void XMLCALL on_cdata_end(void *ud)
{
	((struct xml_stream *)ud)->in_cdata = false;
}

static void XMLCALL on_text(void *ud, const XML_Char *txt, int len)
{
	struct xml_stream *s = ud;

	/* Text directly under the root is ignored (RFC 6120 allows that);
	 * its bytes still count toward the size limit. */
	if (!healthy(s) || s->depth < 2)
		return;
	if (xbuf_append(&s->text, txt, (size_t)len) != XS_OK)
		fail(s, XML_STREAM_NOMEM, "out of memory for text");
}

/* ---- restricted XML: every one of these ends the stream ---- */

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	fail(ud, XML_STREAM_RESTRICTED_XML, "DOCTYPE declaration");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
				   const XML_Char *value, int value_len, const XML_Char *base,
				   const XML_Char *sysid, const XML_Char *pubid,
				   const XML_Char *notation)
{
	fail(ud, XML_STREAM_RESTRICTED_XML, "entity declaration");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	fail(ud, XML_STREAM_RESTRICTED_XML, "processing instruction");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
	fail(ud, XML_STREAM_RESTRICTED_XML, "comment");
}

static void XMLCALL on_element_decl(void *ud, const XML_Char *name, XML_Content *model)
{
	struct xml_stream *s = ud;
	/* the handler owns the model */
	XML_FreeContentModel(s->parser, model);
	fail(s, XML_STREAM_RESTRICTED_XML, "element declaration");
}

static void XMLCALL on_attlist_decl(void *ud, const XML_Char *elname, const XML_Char *attname,
				    const XML_Char *att_type, const XML_Char *dflt, int isrequired)
{
	fail(ud, XML_STREAM_RESTRICTED_XML, "attribute list declaration");
}

static void XMLCALL on_notation_decl(void *ud, const XML_Char *name, const XML_Char *base,
				     const XML_Char *sysid, const XML_Char *pubid)
{
	fail(ud, XML_STREAM_RESTRICTED_XML, "notation declaration");
}

static void XMLCALL on_skipped_entity(void *ud, const XML_Char *name, int is_param)
{
	fail(ud, XML_STREAM_RESTRICTED_XML, "entity reference");
}

/* Handlers and options; needed after XML_ParserReset too, which clears
 * them all. */
static void setup_parser(struct xml_stream *s)
{
	XML_Parser p = s->parser;

	XML_SetUserData(p, s);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
	/* Expat 2.6 (and distributions' backports into older versions, so the
	 * version macros cannot tell) may hold back input until "enough" more
	 * arrives; a stream needs each stanza as soon as its end tag is
	 * complete.  The quadratic re-parse this guards against is bounded here
	 * by max_stanza_size instead. */
	if (XML_SetReparseDeferralEnabled)
		XML_SetReparseDeferralEnabled(p, XML_FALSE);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetCdataSectionHandler(p, on_cdata_start, on_cdata_end);
	XML_SetNamespaceDeclHandler(p, on_ns_start, NULL);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity_decl);
	XML_SetProcessingInstructionHandler(p, on_pi);
	XML_SetCommentHandler(p, on_comment);
	XML_SetElementDeclHandler(p, on_element_decl);
	XML_SetAttlistDeclHandler(p, on_attlist_decl);
	XML_SetNotationDeclHandler(p, on_notation_decl);
	XML_SetSkippedEntityHandler(p, on_skipped_entity);
}

struct xml_stream *xml_stream_new(const struct xml_stream_limits *lim,
				  const struct xml_stream_cb *cb, void *arg)
{
	struct xml_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->parser = new_expat();
	if (!s->parser) {
		free(s);
		return NULL;
	}
	s->lim = *lim;
	s->cb = *cb;
	s->arg = arg;
	s->col_line = 1;
	setup_parser(s);
	return s;
}

/* Drops everything belonging to the current document. */
static void clear_doc(struct xml_stream *s)
{
	xml_node_free(s->stanza);
	s->header_seen = false;
	xbuf_free(&s->text);
	free(s->ctx);
	s->ctx = NULL;
	s->ctx_len = 0;
	s->stanza = s->cur = NULL;
	s->replaying = false;
	s->shift = 0;
	s->sleep_line = s->sleep_col = 0;
	s->line_off = 0;
	s->col_off = 0;
	s->col_line = 1;
	s->err = XML_STREAM_OK;
	s->closed = false;
	s->in_cdata = false;
	s->depth = 0;
	s->n_ns_decls = 0;
	s->fed = 0;
	s->boundary = 0;
	xbuf_free(&s->raw);
	s->raw_base = 0;
	xbuf_free(&s->hold);
	s->partial = 0;
	s->st_elems = 0;
	s->piece = NULL;
	s->header_plain = s->top_decl_bad = s->st_raw_ok = false;
	s->dflt = NULL;
	s->inner = NULL;
	s->inner_len = 0;
	s->inner_ok = false;
	free(s->err_text);
	s->err_text = NULL;
}

enum xs xml_stream_reset(struct xml_stream *s)
{
	clear_doc(s);
	if (!s->parser) {
		/* asleep (or a previous reset failed): a fresh parser */
		s->parser = new_expat();
		if (!s->parser) {
			s->err = XML_STREAM_NOMEM;
			set_err_text(s, "parser creation failed");
			return XS_NOMEM;
		}
	} else if (!XML_ParserReset(s->parser, "UTF-8")) {
		s->err = XML_STREAM_NOMEM;
		set_err_text(s, "parser reset failed");
		return XS_NOMEM;
	}
	setup_parser(s);
	return XS_OK;
}

void xml_stream_free(struct xml_stream *s)
{
	if (!s)
		return;
	clear_doc(s);
	if (s->parser)
		XML_ParserFree(s->parser);
	free(s);
}

/* Maps a failed XML_Parse to our error unless a handler already chose one. */
static enum xml_stream_err parse_failed(struct xml_stream *s)
{
	enum XML_Error code = XML_GetErrorCode(s->parser);
	enum xml_stream_err e;

	if (s->err)
		return s->err;
	if (code == XML_ERROR_ABORTED && s->closed)
		return XML_STREAM_OK;  /* our own stop after </stream:stream> */
	switch (code) {
	case XML_ERROR_NO_MEMORY:
		e = XML_STREAM_NOMEM;
		break;
	case XML_ERROR_MISPLACED_XML_PI:
		/* "<?xml" after the start: a PI as far as RFC 6120 cares */
		e = XML_STREAM_RESTRICTED_XML;
		break;
	default:
		e = XML_STREAM_NOT_WELL_FORMED;
		break;
	}
	s->err = e;
	XML_Size line = XML_GetErrorLineNumber(s->parser);
	XML_Size col = XML_GetErrorColumnNumber(s->parser);
	set_err_text(s, "%s at line %llu column %llu", XML_ErrorString(code), doc_line(s, line),
		     doc_col(s, line, col));
	return e;
}

/* After a piece: raw keeps the document bytes from the end of the last
 * complete stanza (or from where it has bytes, if later) to the end of the
 * piece, so that a stanza begun in this piece can be found whole when it
 * ends in a later one.  Usually that is nothing, and raw holds no memory. */
static void keep_tail(struct xml_stream *s, const char *piece, size_t n)
{
	unsigned long long from = s->boundary > s->raw_base ? s->boundary : s->raw_base;
	unsigned long long end = s->piece_off + n;

	/* Between stanzas, what expat has consumed (whitespace) is not needed;
	 * outside a handler its position is the first byte it has not. */
	if (!s->stanza && s->depth == 1 && s->parser) {
		XML_Index at = XML_GetCurrentByteIndex(s->parser);
		if (at >= 0 && (unsigned long long)((long long)at + s->shift) > from)
			from = (unsigned long long)((long long)at + s->shift);
	}

	s->piece = NULL;
	if (from >= end) {
		xbuf_free(&s->raw);
		s->raw_base = end;
		return;
	}
	if (from >= s->piece_off) {
		xbuf_reset(&s->raw);
		s->raw_base = from;
	} else {
		xbuf_consume(&s->raw, (size_t)(from - s->raw_base));
		s->raw_base = from;
	}
	size_t skip = from > s->piece_off ? (size_t)(from - s->piece_off) : 0;
	if (xbuf_append(&s->raw, piece + skip, n - skip) != XS_OK) {
		/* without the bytes the next stanza is serialized from its tree */
		xbuf_free(&s->raw);
		s->raw_base = end;
	}
}

/* A stream without a parser whose input is exactly the root's end tag, as
 * written in the header ("</stream:stream>"), closes without one: a lent
 * or woken parser would only read the end of this document and be of no
 * use after it.  What a parser would report is reported: the close
 * callback, and a stop there with the end tag's position. */
static bool close_without_parser(struct xml_stream *s, const char *buf, size_t len)
{
	size_t q = strlen(s->ctx);
	if (!q || len != q + 3 || buf[0] != '<' || buf[1] != '/' || memcmp(buf + 2, s->ctx, q) != 0 ||
	    buf[q + 2] != '>')
		return false;
	s->fed += len;
	s->depth = 0;
	s->closed = true;
	if (s->cb.stream_close && s->cb.stream_close(s->arg)) {
		s->err = XML_STREAM_STOPPED;
		set_err_text(s, "stopped by the stream_close callback at line %llu column %llu",
			     s->sleep_line, s->sleep_col);
	}
	return true;
}

void xml_stream_set_limits(struct xml_stream *s, const struct xml_stream_limits *lim)
{
	s->lim = *lim;
}

/* Whether input can end the token expat holds unfinished (see "Linear
 * parsing" above). */
static bool may_end_token(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '>' || buf[i] == ';' || buf[i] == '[')
			return true;
	return false;
}

/* Input that goes to expat later: held, or an error if it would take the
 * stanza over the size limit (a held byte is a pending byte). */
static enum xml_stream_err hold_back(struct xml_stream *s, const char *buf, size_t len)
{
	if (s->lim.max_stanza_size &&
	    s->fed + s->hold.len + len - s->boundary > s->lim.max_stanza_size) {
		s->err = XML_STREAM_POLICY_VIOLATION;
		set_err_text(s, "stanza larger than %zu bytes", s->lim.max_stanza_size);
		xbuf_free(&s->hold);
		return s->err;
	}
	if (xbuf_append(&s->hold, buf, len) != XS_OK) {
		s->err = XML_STREAM_NOMEM;
		set_err_text(s, "out of memory holding input");
		xbuf_free(&s->hold);
		return s->err;
	}
	return XML_STREAM_OK;
}

/* Hands buf to expat in pieces. */
static enum xml_stream_err parse_pieces(struct xml_stream *s, const char *buf, size_t len)
{
	while (len > 0) {
		size_t n = len;
		if (s->lim.max_stanza_size) {
			unsigned long long pending = s->fed - s->boundary;
			if (pending >= s->lim.max_stanza_size) {
				s->err = XML_STREAM_POLICY_VIOLATION;
				set_err_text(s, "stanza larger than %zu bytes",
					     s->lim.max_stanza_size);
				return s->err;
			}
			if (n > s->lim.max_stanza_size - pending)
				n = (size_t)(s->lim.max_stanza_size - pending);
		}
		/* a piece as long as the unfinished token costs expat no
		 * more buffer than it has, and pays for its re-scan */
		size_t chunk = s->partial > XML_STREAM_CHUNK ? (size_t)s->partial : XML_STREAM_CHUNK;
		if (n > chunk)
			n = chunk;
		s->piece = buf;
		s->piece_off = s->fed;
		s->fed += n;
		enum XML_Status st = XML_Parse(s->parser, buf, (int)n, XML_FALSE);
		keep_tail(s, buf, n);
		if (st != XML_STATUS_OK)
			return parse_failed(s);
		if (s->closed)
			break;
		/* outside a handler, expat's position is the first byte it
		 * has not consumed */
		XML_Index at = XML_GetCurrentByteIndex(s->parser);
		long long done = at >= 0 ? (long long)at + s->shift : (long long)s->fed;
		unsigned long long left = done < (long long)s->fed ? s->fed - (unsigned long long)done : 0;
		s->partial = left > UINT_MAX ? UINT_MAX : (unsigned)left;
		buf += n;
		len -= n;
	}
	return XML_STREAM_OK;
}

/* After an error the stream only waits to be reset or freed: what it held
 * for the peer's input (the stanza being built, the text, the raw bytes,
 * held input and the expat parser with its buffers, which may be as large
 * as a stanza) goes at once.  The header and the error text stay. */
static enum xml_stream_err drop_input(struct xml_stream *s)
{
	xml_node_free(s->stanza);
	s->stanza = s->cur = NULL;
	xbuf_free(&s->text);
	xbuf_free(&s->raw);
	xbuf_free(&s->hold);
	s->partial = 0;
	if (s->parser) {
		XML_ParserFree(s->parser);
		s->parser = NULL;
	}
	return s->err;
}

static enum xml_stream_err feed_input(struct xml_stream *s, const char *buf, size_t len);

enum xml_stream_err xml_stream_feed(struct xml_stream *s, const char *buf, size_t len)
{
	enum xml_stream_err e = feed_input(s, buf, len);
	/* XML_STREAM_STOPPED is a callback's choice, not the peer's fault: the
	 * caller may still look at what it has (and resets or frees soon) */
	if (e != XML_STREAM_OK && e != XML_STREAM_STOPPED && (s->parser || s->stanza || s->hold.cap))
		drop_input(s);
	return e;
}

static enum xml_stream_err feed_input(struct xml_stream *s, const char *buf, size_t len)
{
	if (s->err)
		return s->err;
	if (s->closed) {
		s->err = XML_STREAM_CLOSED;
		set_err_text(s, "input after the end of the stream");
		return s->err;
	}
	if (len == 0)
		return XML_STREAM_OK;
	if (s->partial) {
		/* expat holds an unfinished token: see "Linear parsing" */
		if (s->hold.len + len < s->partial && !may_end_token(buf, len))
			return hold_back(s, buf, len);
		enum xml_stream_err e;
		if (!s->hold.len) {
			e = parse_pieces(s, buf, len);
		} else {
			if (xbuf_append(&s->hold, buf, len) != XS_OK) {
				xbuf_free(&s->hold);
				s->err = XML_STREAM_NOMEM;
				set_err_text(s, "out of memory holding input");
				return s->err;
			}
			/* hold is emptied before expat reads it (callbacks
			 * cannot feed this stream, so nothing refills it) */
			struct xbuf held = s->hold;
			s->hold = (struct xbuf){ 0 };
			e = parse_pieces(s, held.data, held.len);
			xbuf_free(&held);
		}
		if (e != XML_STREAM_OK)
			return e;
	} else {
		if (!s->parser && s->header_seen && s->ctx && close_without_parser(s, buf, len))
			return s->err;
		if (!s->parser && !(s->pool && s->header_seen && borrow_parser(s)) &&
		    xml_stream_wake(s) != XS_OK) {
			s->err = XML_STREAM_NOMEM;
			set_err_text(s, "out of memory waking the parser");
			return s->err;
		}
		enum xml_stream_err e = parse_pieces(s, buf, len);
		if (e != XML_STREAM_OK)
			return e;
	}
	if (s->pool && s->parser && at_clean_boundary(s))
		release_parser(s);
	return XML_STREAM_OK;
}

const char *xml_stream_default_ns(const struct xml_stream *s)
{
	/* taken from ctx when the header was saved, kept asleep */
	return s->dflt ? s->dflt : "";
}

bool xml_stream_stanza_inner(const struct xml_stream *s, const char **p, size_t *len)
{
	if (!s->inner_ok)
		return false;
	*p = s->inner;
	*len = s->inner_len;
	return true;
}

bool xml_stream_header_seen(const struct xml_stream *s)
{
	return s->header_seen;
}

const char *xml_stream_err_text(const struct xml_stream *s)
{
	if (s->err_text)
		return s->err_text;
	return s->err ? xml_stream_err_name(s->err) : "";
}

/* ---- sleep and wake ---- */

bool xml_stream_is_asleep(const struct xml_stream *s)
{
	/* a parser-less stream without a header is one whose reset failed,
	 * one that is closed has ended (close_without_parser) */
	return !s->parser && s->header_seen && !s->closed && !s->err;
}

/* Whether the (awake) stream sits between stanzas with nothing held in
 * expat, the moment its parser may go: to sleep or back to a pool. */
static bool at_clean_boundary(const struct xml_stream *s)
{
	if (s->err || s->closed || !s->header_seen || !s->ctx || !*s->ctx || s->depth != 1 || s->stanza ||
	    s->text.len || s->in_cdata)
		return false;
	/* Outside a handler expat's current position is the first byte it has
	 * not consumed: anything short of fed is a partial token it buffers
	 * ("<mess", "&am", a CR waiting for its LF, part of a UTF-8 char). */
	XML_Index at = XML_GetCurrentByteIndex(s->parser);
	return at >= 0 && (long long)at + s->shift == (long long)s->fed;
}

static bool pool_give(struct xml_parser_pool *pool, const char *ctx, size_t ctx_len,
		      XML_Parser parser);
static XML_Parser pool_take(struct xml_parser_pool *pool, const char *ctx, size_t ctx_len);

/* At a clean boundary: notes where the document stands and lets go of the
 * parser, lent to the pool if there is one that takes it, else freed. */
static void release_parser(struct xml_stream *s)
{
	XML_Size line = XML_GetCurrentLineNumber(s->parser);
	XML_Size col = XML_GetCurrentColumnNumber(s->parser);
	s->sleep_line = doc_line(s, line);
	s->sleep_col = doc_col(s, line, col);
	if (!s->pool || !pool_give(s->pool, s->ctx, s->ctx_len, s->parser))
		XML_ParserFree(s->parser);
	s->parser = NULL;
	xbuf_free(&s->text);
	/* no stanza is open, and expat held no partial token: nothing to keep */
	xbuf_free(&s->raw);
	s->raw_base = s->fed;
}

/* An asleep stream takes a parser from its pool, lent at depth 1 of a
 * document with the same root and declarations: only the offsets between
 * that parser's positions and this document's change.  False if the pool
 * has none for this context. */
static bool borrow_parser(struct xml_stream *s)
{
	XML_Parser p = pool_take(s->pool, s->ctx, s->ctx_len);
	if (!p)
		return false;
	s->parser = p;
	XML_SetUserData(p, s);
	XML_Size line = XML_GetCurrentLineNumber(p);
	XML_Size col = XML_GetCurrentColumnNumber(p);
	s->shift = (long long)s->fed - (long long)XML_GetCurrentByteIndex(p);
	s->line_off = (long long)s->sleep_line - (long long)line;
	s->col_line = line;
	s->col_off = (long long)s->sleep_col - (long long)col;
	return true;
}

bool xml_stream_between_stanzas(const struct xml_stream *s)
{
	/* parser-less: lent or asleep, which it is only at such a boundary */
	return s->parser ? at_clean_boundary(s) : xml_stream_is_asleep(s);
}

enum xs xml_stream_sleep(struct xml_stream *s)
{
	if (!s->parser)
		return xml_stream_is_asleep(s) ? XS_OK : XS_AGAIN;
	if (!at_clean_boundary(s))
		return XS_AGAIN;
	release_parser(s);
	return XS_OK;
}

/* "<stream:stream xmlns='jabber:client' xmlns:stream='...' ...>": the
 * root's name as written and its namespace declarations, nothing else. */
static enum xs build_replay(struct xml_stream *s, struct xbuf *b)
{
	const char *prefix, *uri;
	size_t pos = 0;

	size_t n = 0;
	while (next_decl(s, &pos, &prefix, &uri))
		n++;
	pos = 0;
	/* one allocation unless a URI needs escaping: ctx's NULs become the
	 * quotes and such, plus " xmlns:" and "='" per declaration */
	if (xbuf_reserve(b, s->ctx_len + 2 + 10 * n) != XS_OK ||
	    xbuf_append_str(b, "<") != XS_OK || xbuf_append_str(b, s->ctx) != XS_OK)
		return XS_NOMEM;
	s->replay_decls = 0;
	while (next_decl(s, &pos, &prefix, &uri)) {
		if (xbuf_append_str(b, *prefix ? " xmlns:" : " xmlns") != XS_OK ||
		    xbuf_append_str(b, prefix) != XS_OK || xbuf_append_str(b, "='") != XS_OK ||
		    xbuf_append_escaped_attr(b, uri, strlen(uri)) != XS_OK ||
		    xbuf_append_str(b, "'") != XS_OK)
			return XS_NOMEM;
		s->replay_decls++;
	}
	return xbuf_append_str(b, ">");
}

enum xs xml_stream_wake(struct xml_stream *s)
{
	struct xbuf replay = { 0 };

	if (s->parser)
		return XS_OK;
	if (s->header_seen && build_replay(s, &replay) != XS_OK) {
		xbuf_free(&replay);
		return XS_NOMEM;
	}
	XML_Parser p = new_expat();
	if (!p) {
		xbuf_free(&replay);
		return XS_NOMEM;
	}
	s->parser = p;
	setup_parser(s);
	if (!s->header_seen)
		return XS_OK;  /* only after a failed reset: a fresh document */

	s->replaying = true;
	s->depth = 0;
	s->n_ns_decls = 0;  /* a failed replay may have left a count */
	enum XML_Status st = XML_Parse(p, replay.data, (int)replay.len, XML_FALSE);
	s->replaying = false;
	if (st != XML_STATUS_OK || s->depth != 1 ||
	    XML_GetCurrentByteIndex(p) != (XML_Index)replay.len) {
		/* out of memory inside expat; the stream stays asleep */
		XML_ParserFree(p);
		s->parser = NULL;
		s->depth = 1;
		xbuf_free(&replay);
		return XS_NOMEM;
	}
	/* expat's offsets now count the replay; the peer's do not */
	s->shift = (long long)s->fed - (long long)replay.len;
	s->line_off = (long long)s->sleep_line - 1;
	s->col_line = 1;
	s->col_off = (long long)s->sleep_col - (long long)XML_GetCurrentColumnNumber(p);
	xbuf_free(&replay);
	return XS_OK;
}

/* A glibc malloc chunk on 64-bit: 8 bytes of header, 16-byte granules,
 * 32 bytes at least. */
static size_t blk(size_t n)
{
	n = (n + 8 + 15) & ~(size_t)15;
	return n < 32 ? 32 : n;
}

static size_t tree_mem(const struct xml_node *root)
{
	size_t total = 0;

	for (const struct xml_node *n = root; n;) {
		if (n->type == XML_NODE_TEXT) {
			total += blk(sizeof(*n) + n->text_len + 1);
		} else {
			total += blk(sizeof(*n) + strlen(n->name) + strlen(n->ns) + 2);
			if (n->n_attrs) {
				size_t cap = 4;
				while (cap < n->n_attrs)
					cap *= 2;
				total += blk(cap * sizeof(struct xml_attr));
			}
			for (size_t i = 0; i < n->n_attrs; i++) {
				const struct xml_attr *a = &n->attrs[i];
				total += blk(strlen(a->name) + strlen(a->value) +
					     (a->ns ? strlen(a->ns) : 0) + 3);
			}
		}
		if (n->first_child) {
			n = n->first_child;
			continue;
		}
		while (n != root && !n->next)
			n = n->parent;
		n = n == root ? NULL : n->next;
	}
	return total;
}

size_t xml_stream_mem_usage(const struct xml_stream *s)
{
	return blk(sizeof(*s)) + tree_mem(s->stanza) +
	       (s->ctx ? blk(s->ctx_len) : 0) + (s->text.cap ? blk(s->text.cap) : 0) +
	       (s->raw.cap ? blk(s->raw.cap) : 0) + (s->hold.cap ? blk(s->hold.cap) : 0) +
	       (s->err_text ? blk(ERR_TEXT_LEN) : 0);
}

/* ---- the pool ---- */

/* A handful of contexts is plenty: a listener's clients write one or two
 * variants of the same header (declaration order, a prefix other than
 * "stream"). */
#define POOL_SLOTS 4

struct pool_slot {
	char *ctx;         /* key: a copy of the streams' ctx, NULL if unused */
	size_t ctx_len;
	XML_Parser parser; /* idle parser for that context, or NULL */
};

struct xml_parser_pool {
	unsigned long long retire_bytes;
	struct pool_slot slot[POOL_SLOTS];
};

struct xml_parser_pool *xml_parser_pool_new(unsigned long long retire_bytes)
{
	struct xml_parser_pool *pool = calloc(1, sizeof(*pool));
	if (pool)
		pool->retire_bytes = retire_bytes;
	return pool;
}

void xml_parser_pool_free(struct xml_parser_pool *pool)
{
	if (!pool)
		return;
	for (size_t i = 0; i < POOL_SLOTS; i++) {
		if (pool->slot[i].parser)
			XML_ParserFree(pool->slot[i].parser);
		free(pool->slot[i].ctx);
	}
	free(pool);
}

size_t xml_parser_pool_idle(const struct xml_parser_pool *pool)
{
	size_t n = 0;
	for (size_t i = 0; i < POOL_SLOTS; i++)
		n += pool->slot[i].parser != NULL;
	return n;
}

void xml_stream_use_pool(struct xml_stream *s, struct xml_parser_pool *pool)
{
	s->pool = pool;
	/* From a callback (an s2s stream authenticated by the element being
	 * reported) the parser is busy: the end of the feed lets go of it.
	 * at_clean_boundary cannot tell: inside a handler expat's position is
	 * that of the event, which can look like the end of what was fed
	 * (an s2s link up on <db:result/> crashed in expat when it gave its
	 * parser away here, 2026-12-07). */
	if (s->piece)
		return;
	if (pool && s->parser && at_clean_boundary(s))
		release_parser(s);
}

static bool slot_is(const struct pool_slot *sl, const char *ctx, size_t ctx_len)
{
	return sl->ctx && sl->ctx_len == ctx_len && memcmp(sl->ctx, ctx, ctx_len) == 0;
}

static XML_Parser pool_take(struct xml_parser_pool *pool, const char *ctx, size_t ctx_len)
{
	for (size_t i = 0; i < POOL_SLOTS; i++) {
		struct pool_slot *sl = &pool->slot[i];
		if (sl->parser && slot_is(sl, ctx, ctx_len)) {
			XML_Parser p = sl->parser;
			sl->parser = NULL;
			return p;
		}
	}
	return NULL;
}

/* Takes parser if there is room for it; false leaves it with the caller. */
static bool pool_give(struct xml_parser_pool *pool, const char *ctx, size_t ctx_len,
		      XML_Parser parser)
{
	XML_Index read = XML_GetCurrentByteIndex(parser);
	if (read < 0 || (unsigned long long)read > pool->retire_bytes)
		return false;
	struct pool_slot *free_slot = NULL, *unused = NULL;
	for (size_t i = 0; i < POOL_SLOTS; i++) {
		struct pool_slot *sl = &pool->slot[i];
		if (slot_is(sl, ctx, ctx_len)) {
			if (sl->parser)
				return false;
			sl->parser = parser;
			return true;
		}
		if (!sl->ctx && !unused)
			unused = sl;
		else if (sl->ctx && !sl->parser && !free_slot)
			free_slot = sl;
	}
	/* a new context: an unused slot, else one whose parser is out */
	struct pool_slot *sl = unused ? unused : free_slot;
	if (!sl)
		return false;
	char *key = malloc(ctx_len);
	if (!key)
		return false;
	memcpy(key, ctx, ctx_len);
	free(sl->ctx);
	sl->ctx = key;
	sl->ctx_len = ctx_len;
	sl->parser = parser;
	return true;
}
