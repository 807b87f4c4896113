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
 * first checks that the stream is still healthy. */
#include "core/xml_stream.h"

#include <expat.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xbuf.h"
#include "core/xml_node.h"

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

	enum xml_stream_err err;
	bool closed;                  /* </stream:stream> seen */
	unsigned depth;               /* open elements, root included */
	unsigned n_ns_decls;          /* declarations on the start tag being read */
	unsigned long long fed;       /* bytes given to expat in this document */
	unsigned long long boundary;  /* offset just past the last stanza/header */

	struct xml_node *header;      /* root element as reported (attrs only) */
	/* Namespace declarations of the root, as attributes prefix=URI (the
	 * default namespace under the name ""): what expat holds between
	 * stanzas, kept so that a later idle-sleep can replay it. */
	struct xml_node *ns_ctx;
	struct xml_node *stanza;      /* depth-1 element being built */
	struct xml_node *cur;         /* innermost open element of it */
	struct xbuf text;             /* character data not yet added to cur */

	char err_text[192];
};

static void setup_parser(struct xml_stream *s);

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

	if (s->err)
		return;
	s->err = e;
	va_start(ap, fmt);
	int n = vsnprintf(s->err_text, sizeof(s->err_text), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(s->err_text))
		snprintf(s->err_text + n, sizeof(s->err_text) - (size_t)n, " at line %lu column %lu",
			 (unsigned long)XML_GetCurrentLineNumber(s->parser),
			 (unsigned long)XML_GetCurrentColumnNumber(s->parser));
	XML_StopParser(s->parser, XML_FALSE);
}

static bool healthy(const struct xml_stream *s)
{
	return s->err == XML_STREAM_OK && !s->closed;
}

/* Offset just past the event being reported (a start or end tag). */
static unsigned long long event_end(const struct xml_stream *s)
{
	return (unsigned long long)XML_GetCurrentByteIndex(s->parser) +
	       (unsigned long long)XML_GetCurrentByteCount(s->parser);
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

	if (!healthy(s))
		return;
	s->n_ns_decls++;
	if (s->depth != 0)
		return;
	if (!s->ns_ctx && !(s->ns_ctx = xml_node_new_elem("ns", ""))) {
		fail(s, XML_STREAM_NOMEM, "out of memory for the stream header");
		return;
	}
	if (xml_node_set_attr(s->ns_ctx, prefix ? prefix : "", uri ? uri : "") != XS_OK)
		fail(s, XML_STREAM_NOMEM, "out of memory for the stream header");
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xml_stream *s = ud;
	unsigned n_decls = s->n_ns_decls;
	size_t n_atts = 0;

	s->n_ns_decls = 0;
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

	struct xml_node *n = make_elem(name);
	if (!n || add_attrs(n, atts) != XS_OK) {
		xml_node_free(n);
		fail(s, XML_STREAM_NOMEM, "out of memory for an element");
		return;
	}

	switch (s->depth++) {
	case 0:
		s->header = n;
		s->boundary = event_end(s);
		if (s->cb.stream_open && s->cb.stream_open(s->arg, n))
			fail(s, XML_STREAM_STOPPED, "stopped by the stream_open callback");
		return;
	case 1:
		s->stanza = s->cur = n;
		return;
	default:
		if (!flush_text(s)) {
			xml_node_free(n);
			return;
		}
		xml_node_add_child(s->cur, n);
		s->cur = n;
		return;
	}
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
		s->boundary = event_end(s);
		/* an idle connection holds no text buffer */
		xbuf_free(&s->text);
		if (s->cb.stanza) {
			if (s->cb.stanza(s->arg, st))
				fail(s, XML_STREAM_STOPPED, "stopped by the stanza callback");
		} else {
			xml_node_free(st);
		}
		return;
	}
	default:
		if (flush_text(s))
			s->cur = s->cur->parent;
		return;
	}
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
	s->parser = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!s->parser) {
		free(s);
		return NULL;
	}
	s->lim = *lim;
	s->cb = *cb;
	s->arg = arg;
	setup_parser(s);
	return s;
}

/* Drops everything belonging to the current document. */
static void clear_doc(struct xml_stream *s)
{
	xml_node_free(s->stanza);
	xml_node_free(s->header);
	xml_node_free(s->ns_ctx);
	xbuf_free(&s->text);
	s->stanza = s->cur = s->header = s->ns_ctx = NULL;
	s->err = XML_STREAM_OK;
	s->closed = false;
	s->depth = 0;
	s->n_ns_decls = 0;
	s->fed = 0;
	s->boundary = 0;
	s->err_text[0] = '\0';
}

enum xs xml_stream_reset(struct xml_stream *s)
{
	clear_doc(s);
	if (!XML_ParserReset(s->parser, "UTF-8")) {
		s->err = XML_STREAM_NOMEM;
		snprintf(s->err_text, sizeof(s->err_text), "parser reset failed");
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
	snprintf(s->err_text, sizeof(s->err_text), "%s at line %lu column %lu",
		 XML_ErrorString(code), (unsigned long)XML_GetErrorLineNumber(s->parser),
		 (unsigned long)XML_GetErrorColumnNumber(s->parser));
	return e;
}

enum xml_stream_err xml_stream_feed(struct xml_stream *s, const char *buf, size_t len)
{
	if (s->err)
		return s->err;
	if (s->closed) {
		s->err = XML_STREAM_CLOSED;
		snprintf(s->err_text, sizeof(s->err_text), "input after the end of the stream");
		return s->err;
	}

	while (len > 0) {
		size_t n = len;
		if (s->lim.max_stanza_size) {
			unsigned long long pending = s->fed - s->boundary;
			if (pending >= s->lim.max_stanza_size) {
				s->err = XML_STREAM_POLICY_VIOLATION;
				snprintf(s->err_text, sizeof(s->err_text),
					 "stanza larger than %zu bytes", s->lim.max_stanza_size);
				return s->err;
			}
			if (n > s->lim.max_stanza_size - pending)
				n = (size_t)(s->lim.max_stanza_size - pending);
		}
		if (n > XML_STREAM_CHUNK)
			n = XML_STREAM_CHUNK;
		s->fed += n;
		if (XML_Parse(s->parser, buf, (int)n, XML_FALSE) != XML_STATUS_OK)
			return parse_failed(s);
		buf += n;
		len -= n;
	}
	return XML_STREAM_OK;
}

const char *xml_stream_default_ns(const struct xml_stream *s)
{
	const char *ns = s->ns_ctx ? xml_node_attr(s->ns_ctx, "") : NULL;
	return ns ? ns : "";
}

const struct xml_node *xml_stream_header(const struct xml_stream *s)
{
	return s->header;
}

const char *xml_stream_err_text(const struct xml_stream *s)
{
	return s->err_text;
}
