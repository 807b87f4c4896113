/* The <body/> of a BOSH request; see bosh_body.h for the contract.
 *
 * One expat parser per request, fed the whole body in one final call: the
 * HTTP layer has the complete body before anyone reads it, so there is no
 * state to keep between calls and no partial token to re-scan.
 *
 * Encoding: the parser is created for UTF-8, which makes expat ignore an
 * encoding named in the XML declaration; the children's bytes go to a
 * session parser that reads UTF-8 too.  Expat would still switch to UTF-16
 * on a UTF-16 byte order mark or on "<\0", and then its byte offsets would
 * not point at UTF-8 markup; any such document has a NUL byte in its
 * markup (and XML allows no NUL anywhere), so input with one is refused
 * before expat sees it.
 *
 * Names: expat reports qualified names as "uri<SEP>local", SEP being 0xFF,
 * a byte that never occurs in the UTF-8 expat builds names in (see
 * core/xml/xml_stream.c: no URI can smuggle a separator in).
 *
 * Offsets: inside a start or end tag handler, XML_GetCurrentByteIndex is
 * the offset of the tag's '<' in the input.  No DTD is accepted, so no
 * entity can expand to markup and every tag lies in the input itself.
 *
 * Handlers: after XML_StopParser expat may still call a few (the end of an
 * empty element), so each one first checks that no error was recorded. */
#include "core/http/bosh_body.h"

#include <expat.h>
#include <limits.h>
#include <string.h>

#define NS_SEP '\xff'
#define NS_SEP_STR "\xff"
#define NS_XML "http://www.w3.org/XML/1998/namespace"
/* The root as expat names it. */
#define BODY_NAME NS_HTTPBIND NS_SEP_STR "body"
/* 16 digits hold every rid (2^53 - 1 has 16) and cannot overflow uint64_t. */
#define MAX_DIGITS 16

#define STR_(x) #x
#define STR(x) STR_(x)

_Static_assert(BOSH_RID_MAX < 10000000000000000ULL, "MAX_DIGITS digits hold every rid");

/* What the handlers share during the one XML_Parse call. */
struct reader {
	XML_Parser parser;
	struct bosh_body *out;
	unsigned depth;          /* open elements, the root included */
	bool root_closed;        /* the root's end tag (or empty tag) was read */
	XML_Index first_child;   /* offset of the first child's '<' */
	XML_Index root_end;      /* offset of the '<' of </body> */
	const char *error;       /* the first refusal */
};

/* Records the first refusal and stops expat. */
static void fail(struct reader *r, const char *why)
{
	if (r->error)
		return;
	r->error = why;
	XML_StopParser(r->parser, XML_FALSE);
}

/* ---- the root's attributes ---- */

/* Plain decimal: digits only, 1..MAX_DIGITS of them, within [min, max].
 * A sign, spaces or hex would mean the client and we count differently. */
static bool read_number(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;
	size_t i = 0;

	for (; v[i]; i++) {
		if (i == MAX_DIGITS || v[i] < '0' || v[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (i == 0 || n < min || n > max)
		return false;
	*out = n;
	return true;
}

/* Copies v into dst[size] whole, or refuses: a cut value (a sid that
 * matches another session's prefix) would be worse than none. */
static bool copy_text(char *dst, size_t size, const char *v)
{
	size_t n = strlen(v);

	if (n >= size)
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

static const char *read_rid(struct bosh_body *b, const char *v)
{
	if (!read_number(v, 1, BOSH_RID_MAX, &b->rid))
		return "rid: not a number in range";
	b->has_rid = true;
	return NULL;
}

static const char *read_ack(struct bosh_body *b, const char *v)
{
	if (!read_number(v, 0, BOSH_RID_MAX, &b->ack))
		return "ack: not a number in range";
	b->has_ack = true;
	return NULL;
}

/* wait and hold are taken as written: the gateway clamps them to its own
 * limits, and only it knows those. */
static const char *read_wait(struct bosh_body *b, const char *v)
{
	if (!read_number(v, 0, UINT64_MAX, &b->wait))
		return "wait: not a number in range";
	b->has_wait = true;
	return NULL;
}

static const char *read_hold(struct bosh_body *b, const char *v)
{
	if (!read_number(v, 0, UINT64_MAX, &b->hold))
		return "hold: not a number in range";
	b->has_hold = true;
	return NULL;
}

static const char *read_sid(struct bosh_body *b, const char *v)
{
	if (!copy_text(b->sid, sizeof(b->sid), v))
		return "sid: longer than " STR(BOSH_SID_MAX) " bytes";
	b->has_sid = true;
	return NULL;
}

static const char *read_to(struct bosh_body *b, const char *v)
{
	return copy_text(b->to, sizeof(b->to), v) ? NULL : "to: longer than 255 bytes";
}

static const char *read_lang(struct bosh_body *b, const char *v)
{
	return copy_text(b->lang, sizeof(b->lang), v) ? NULL : "xml:lang: longer than 35 bytes";
}

static const char *read_ver(struct bosh_body *b, const char *v)
{
	return copy_text(b->ver, sizeof(b->ver), v) ? NULL : "ver: longer than 15 bytes";
}

static const char *read_xmpp_version(struct bosh_body *b, const char *v)
{
	return copy_text(b->xmpp_version, sizeof(b->xmpp_version), v)
		       ? NULL
		       : "xmpp:version: longer than 15 bytes";
}

/* Other types ('error' from a client) mean nothing to the gateway. */
static const char *read_type(struct bosh_body *b, const char *v)
{
	if (strcmp(v, "terminate") == 0)
		b->terminate = true;
	return NULL;
}

/* xs:boolean's four spellings; anything else is a client bug that a
 * silent "false" would hide. */
static const char *read_restart(struct bosh_body *b, const char *v)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		b->restart = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		b->restart = false;
	else
		return "xmpp:restart: neither true nor false";
	return NULL;
}

static const struct {
	const char *name; /* as expat reports it: "local" or "uri<SEP>local" */
	const char *(*read)(struct bosh_body *b, const char *value);
} root_attrs[] = {
	{ "rid", read_rid },
	{ "ack", read_ack },
	{ "wait", read_wait },
	{ "hold", read_hold },
	{ "sid", read_sid },
	{ "to", read_to },
	{ "ver", read_ver },
	{ "type", read_type },
	{ NS_XML NS_SEP_STR "lang", read_lang },
	{ NS_XBOSH NS_SEP_STR "restart", read_restart },
	{ NS_XBOSH NS_SEP_STR "version", read_xmpp_version },
};

/* Reads the root's attributes; unknown ones are ignored (XEP-0124 lets
 * clients add their own).  Expat has refused duplicates already. */
static void read_root_attrs(struct reader *r, const XML_Char **atts)
{
	for (size_t i = 0; atts[i]; i += 2) {
		for (size_t k = 0; k < sizeof(root_attrs) / sizeof(root_attrs[0]); k++) {
			if (strcmp(atts[i], root_attrs[k].name) != 0)
				continue;
			const char *why = root_attrs[k].read(r->out, atts[i + 1]);
			if (why) {
				fail(r, why);
				return;
			}
			break;
		}
	}
}

/* ---- elements ---- */

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct reader *r = ud;

	if (r->error)
		return;
	if (r->depth >= BOSH_BODY_MAX_DEPTH) {
		fail(r, "elements nested deeper than " STR(BOSH_BODY_MAX_DEPTH));
		return;
	}
	r->depth++;
	if (r->depth == 1) {
		if (strcmp(name, BODY_NAME) != 0)
			fail(r, "the root is not <body xmlns='" NS_HTTPBIND "'/>");
		else
			read_root_attrs(r, atts);
	} else if (r->depth == 2 && r->out->children++ == 0) {
		r->first_child = XML_GetCurrentByteIndex(r->parser);
	}
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct reader *r = ud;
	(void)name; /* expat has matched it with the start tag */

	if (r->error)
		return;
	if (r->depth == 1) {
		r->root_closed = true;
		r->root_end = XML_GetCurrentByteIndex(r->parser);
	}
	r->depth--;
}

/* ---- restricted XML (RFC 6120 11.1): each of these is refused ---- */

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	fail(ud, "DOCTYPE declaration");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
				   const XML_Char *value, int value_len, const XML_Char *base,
				   const XML_Char *sysid, const XML_Char *pubid,
				   const XML_Char *notation)
{
	fail(ud, "entity declaration");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	fail(ud, "processing instruction");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
	fail(ud, "comment");
}

static void XMLCALL on_element_decl(void *ud, const XML_Char *name, XML_Content *model)
{
	struct reader *r = ud;
	/* the handler owns the model */
	XML_FreeContentModel(r->parser, model);
	fail(r, "element declaration");
}

static void XMLCALL on_attlist_decl(void *ud, const XML_Char *elname, const XML_Char *attname,
				    const XML_Char *att_type, const XML_Char *dflt, int isrequired)
{
	fail(ud, "attribute list declaration");
}

static void XMLCALL on_notation_decl(void *ud, const XML_Char *name, const XML_Char *base,
				     const XML_Char *sysid, const XML_Char *pubid)
{
	fail(ud, "notation declaration");
}

static void XMLCALL on_skipped_entity(void *ud, const XML_Char *name, int is_param)
{
	fail(ud, "entity reference");
}

/* The DOCTYPE handler alone refuses every DTD before anything in it takes
 * effect; the others are there should expat ever report a declaration
 * without one. */
static void setup_parser(XML_Parser p, struct reader *r)
{
	XML_SetUserData(p, r);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity_decl);
	XML_SetProcessingInstructionHandler(p, on_pi);
	XML_SetCommentHandler(p, on_comment);
	XML_SetElementDeclHandler(p, on_element_decl);
	XML_SetAttlistDeclHandler(p, on_attlist_decl);
	XML_SetNotationDeclHandler(p, on_notation_decl);
	XML_SetSkippedEntityHandler(p, on_skipped_entity);
}

/* ---- the whole ---- */

/* Why expat gave up, when no handler said: expat's own texts are static. */
static const char *expat_error(XML_Parser p)
{
	enum XML_Error code = XML_GetErrorCode(p);

	if (code == XML_ERROR_MISPLACED_XML_PI)
		/* "<?xml" anywhere but at the start: a PI as RFC 6120 sees it */
		return "processing instruction";
	const XML_LChar *text = XML_ErrorString(code);
	return text ? text : "not well-formed XML";
}

/* Refusals that need no parser. */
static const char *check_input(const char *input, size_t len)
{
	if (len == 0)
		return "empty body";
	if (len > INT_MAX)
		return "body too large";  /* for XML_Parse's int */
	if (memchr(input, '\0', len))
		return "NUL byte (not UTF-8 XML)";
	return NULL;
}

/* Where the children are, once the document was read whole.  The offsets
 * are checked, not trusted: the gateway slices the input with them. */
static const char *set_inner(const struct reader *r, size_t len, struct bosh_body *out)
{
	if (!r->root_closed)
		return "not well-formed XML";  /* expat said otherwise: never */
	if (out->children == 0)
		return NULL;
	if (r->first_child < 0 || r->root_end < r->first_child || (size_t)r->root_end > len)
		return "not well-formed XML";  /* never either */
	out->inner_off = (size_t)r->first_child;
	out->inner_len = (size_t)(r->root_end - r->first_child);
	return NULL;
}

/* A refused body leaves nothing half-read behind, only the reason. */
static bool refuse(struct bosh_body *out, const char *why)
{
	memset(out, 0, sizeof(*out));
	out->error = why;
	return false;
}

bool bosh_body_parse(const char *input, size_t len, struct bosh_body *out)
{
	memset(out, 0, sizeof(*out));
	const char *why = check_input(input, len);
	if (why)
		return refuse(out, why);

	XML_Parser p = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (!p)
		return refuse(out, "out of memory");
	struct reader r = { .parser = p, .out = out };
	setup_parser(p, &r);
	enum XML_Status st = XML_Parse(p, input, (int)len, XML_TRUE);
	if (st != XML_STATUS_OK && !r.error)
		r.error = expat_error(p);
	XML_ParserFree(p);
	if (!r.error)
		r.error = set_inner(&r, len, out);
	return r.error ? refuse(out, r.error) : true;
}
