/* Unit tests for core/http/bosh_body.c: a session creation request as
 * Strophe.js writes it, every field checked; requests with a sid and
 * children (the bytes of the children exactly); a restart; a terminate
 * carrying a presence; an XML declaration first; whitespace alone under
 * <body/>; each attribute's limits at the bound and one past it; and every
 * refusal: the root's name and namespace, restricted XML (DOCTYPE, entity
 * declarations, PIs, comments), junk or a second root after it, XML that is
 * not well-formed, numbers that are not plain decimal or out of range,
 * nesting past the limit, empty input, NUL bytes and UTF-16. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http/bosh_body.h"

#define BODY_NS "xmlns='http://jabber.org/protocol/httpbind'"
#define XBOSH_NS "xmlns:xmpp='urn:xmpp:xbosh'"

/* Parses doc and asserts it is accepted. */
static void accept_doc(const char *doc, struct bosh_body *b)
{
	bool ok = bosh_body_parse(doc, strlen(doc), b);
	if (!ok)
		print_error("refused (%s): %s\n", b->error ? b->error : "no reason", doc);
	assert_true(ok);
	assert_null(b->error);
}

/* Parses doc and asserts it is refused, for a reason containing `why`, and
 * that nothing of what was read is left in the struct. */
static void refuse_doc_n(const char *doc, size_t len, const char *why)
{
	struct bosh_body b;
	memset(&b, 0x5a, sizeof(b));
	bool ok = bosh_body_parse(doc, len, &b);
	if (ok)
		print_error("accepted: %.*s\n", (int)len, doc);
	assert_false(ok);
	assert_non_null(b.error);
	if (!strstr(b.error, why))
		print_error("reason \"%s\", expected \"%s\"\n", b.error, why);
	assert_non_null(strstr(b.error, why));
	assert_false(b.has_rid || b.has_ack || b.has_wait || b.has_hold || b.has_sid);
	assert_false(b.terminate || b.restart);
	assert_int_equal(b.rid, 0);
	assert_string_equal(b.sid, "");
	assert_string_equal(b.to, "");
	assert_int_equal(b.inner_len, 0);
	assert_int_equal(b.children, 0);
}

static void refuse_doc(const char *doc, const char *why)
{
	refuse_doc_n(doc, strlen(doc), why);
}

/* The children of b as a string, for comparing. */
static void assert_inner(const char *doc, const struct bosh_body *b, const char *want)
{
	assert_true(b->inner_off + b->inner_len <= strlen(doc));
	char *got = strndup(doc + b->inner_off, b->inner_len);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		print_error("inner [%s]\n want [%s]\n", got, want);
	assert_string_equal(got, want);
	free(got);
}

/* Strophe.js 1.6's session creation request, byte for byte. */
static void test_strophe_creation(void **state)
{
	static const char doc[] =
		"<body content='text/xml; charset=utf-8' hold='1' rid='1573741820' "
		"to='localhost' ver='1.6' wait='60' xml:lang='en' xmpp:version='1.0' "
		"xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>";
	struct bosh_body b;
	accept_doc(doc, &b);
	assert_true(b.has_rid);
	assert_int_equal(b.rid, 1573741820);
	assert_false(b.has_ack);
	assert_int_equal(b.ack, 0);
	assert_true(b.has_wait);
	assert_int_equal(b.wait, 60);
	assert_true(b.has_hold);
	assert_int_equal(b.hold, 1);
	assert_false(b.has_sid);
	assert_string_equal(b.sid, "");
	assert_string_equal(b.to, "localhost");
	assert_string_equal(b.lang, "en");
	assert_string_equal(b.ver, "1.6");
	assert_string_equal(b.xmpp_version, "1.0");
	assert_false(b.terminate);
	assert_false(b.restart);
	assert_int_equal(b.inner_off, 0);
	assert_int_equal(b.inner_len, 0);
	assert_int_equal(b.children, 0);
}

/* SASL PLAIN inside a request of a session: the child's bytes exactly. */
static void test_sid_and_auth(void **state)
{
	static const char doc[] =
		"<body rid='1573741821' sid='a1b2c3d4e5' ack='1573741820' " BODY_NS ">"
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
		"AGp1bGlldAByMG0zMG15cjBtMzA=</auth></body>";
	struct bosh_body b;
	accept_doc(doc, &b);
	assert_true(b.has_sid);
	assert_string_equal(b.sid, "a1b2c3d4e5");
	assert_int_equal(b.rid, 1573741821);
	assert_true(b.has_ack);
	assert_int_equal(b.ack, 1573741820);
	assert_false(b.has_wait || b.has_hold);
	assert_int_equal(b.children, 1);
	assert_int_equal(b.inner_off, strchr(doc, '>') + 1 - doc);
	assert_inner(doc, &b,
		     "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
		     "AGp1bGlldAByMG0zMG15cjBtMzA=</auth>");
}

/* Two stanzas, with text before, between and after them: the range runs
 * from the first '<' of the first to the '<' of </body>. */
static void test_two_stanzas(void **state)
{
	static const char doc[] =
		"<body rid='7' sid='s' " BODY_NS ">\n  "
		"<message to='a@b' type='chat' xmlns='jabber:client'><body>hi &amp; bye</body>"
		"</message>\n  <presence xmlns='jabber:client'><show>away</show></presence>\n"
		"</body>";
	struct bosh_body b;
	accept_doc(doc, &b);
	assert_int_equal(b.children, 2);
	assert_inner(doc, &b,
		     "<message to='a@b' type='chat' xmlns='jabber:client'><body>hi &amp; bye"
		     "</body></message>\n  <presence xmlns='jabber:client'><show>away</show>"
		     "</presence>\n");
	assert_int_equal(b.inner_off, strstr(doc, "<message") - doc);
	assert_int_equal(b.inner_off + b.inner_len, strlen(doc) - strlen("</body>"));
}

/* Text directly under <body/>, even other than whitespace, is allowed and
 * is no child. */
static void test_text_under_body(void **state)
{
	static const char doc[] = "<body rid='7' " BODY_NS ">x<a/>y<b/>z</body>";
	struct bosh_body b;
	accept_doc(doc, &b);
	assert_int_equal(b.children, 2);
	assert_inner(doc, &b, "<a/>y<b/>z");
	accept_doc("<body rid='7' " BODY_NS ">text only</body>", &b);
	assert_int_equal(b.children, 0);
	assert_int_equal(b.inner_len, 0);
	assert_int_equal(b.inner_off, 0);
}

/* XEP-0206 9.1: the restart after SASL. */
static void test_restart(void **state)
{
	static const char doc[] =
		"<body rid='1573741822' sid='SomeSID' to='localhost' xml:lang='en' "
		"xmpp:restart='true' " BODY_NS " " XBOSH_NS "/>";
	struct bosh_body b;
	accept_doc(doc, &b);
	assert_true(b.restart);
	assert_false(b.terminate);
	assert_string_equal(b.sid, "SomeSID");
	assert_string_equal(b.to, "localhost");
	assert_string_equal(b.lang, "en");
	assert_int_equal(b.children, 0);

	accept_doc("<body rid='1' xmpp:restart='1' " BODY_NS " " XBOSH_NS "/>", &b);
	assert_true(b.restart);
	accept_doc("<body rid='1' xmpp:restart='false' " BODY_NS " " XBOSH_NS "/>", &b);
	assert_false(b.restart);
	accept_doc("<body rid='1' xmpp:restart='0' " BODY_NS " " XBOSH_NS "/>", &b);
	assert_false(b.restart);
	/* the namespace counts, not the prefix */
	accept_doc("<body rid='1' x:restart='true' " BODY_NS " xmlns:x='urn:xmpp:xbosh'/>", &b);
	assert_true(b.restart);
	/* a restart attribute in no namespace is not XEP-0206's */
	accept_doc("<body rid='1' restart='true' " BODY_NS "/>", &b);
	assert_false(b.restart);
	refuse_doc("<body rid='1' xmpp:restart='maybe' " BODY_NS " " XBOSH_NS "/>",
		   "xmpp:restart");
	refuse_doc("<body rid='1' xmpp:restart='' " BODY_NS " " XBOSH_NS "/>", "xmpp:restart");
	refuse_doc("<body rid='1' xmpp:restart='TRUE' " BODY_NS " " XBOSH_NS "/>",
		   "xmpp:restart");
}

/* The client leaves, saying so in a last presence. */
static void test_terminate(void **state)
{
	static const char doc[] =
		"<body rid='1573741823' sid='SomeSID' type='terminate' " BODY_NS ">"
		"<presence type='unavailable' xmlns='jabber:client'/></body>";
	struct bosh_body b;
	accept_doc(doc, &b);
	assert_true(b.terminate);
	assert_false(b.restart);
	assert_int_equal(b.children, 1);
	assert_inner(doc, &b, "<presence type='unavailable' xmlns='jabber:client'/>");
	/* any other type means nothing here */
	accept_doc("<body rid='1' type='error' " BODY_NS "/>", &b);
	assert_false(b.terminate);
	accept_doc("<body rid='1' type='Terminate' " BODY_NS "/>", &b);
	assert_false(b.terminate);
	accept_doc("<body rid='1' type='terminated' " BODY_NS "/>", &b);
	assert_false(b.terminate);
	accept_doc("<body rid='1' type='term' " BODY_NS "/>", &b);
	assert_false(b.terminate);
	/* in a namespace it is another attribute */
	accept_doc("<body rid='1' xmpp:type='terminate' " BODY_NS " " XBOSH_NS "/>", &b);
	assert_false(b.terminate);
}

/* An XML declaration before the root is allowed; offsets count it. */
static void test_xml_declaration(void **state)
{
	static const char doc[] = "<?xml version='1.0' encoding='UTF-8'?>\n"
				  "<body rid='5' " BODY_NS "><iq type='get' id='1'/></body>";
	struct bosh_body b;
	accept_doc(doc, &b);
	assert_int_equal(b.rid, 5);
	assert_int_equal(b.children, 1);
	assert_int_equal(b.inner_off, strstr(doc, "<iq") - doc);
	assert_inner(doc, &b, "<iq type='get' id='1'/>");
	/* a UTF-8 byte order mark too */
	static const char bom[] = "\xef\xbb\xbf<body rid='5' " BODY_NS "><a/></body>";
	accept_doc(bom, &b);
	assert_int_equal(b.inner_off, strstr(bom, "<a") - bom);
	assert_inner(bom, &b, "<a/>");
	/* but only at the start */
	refuse_doc("<body rid='5' " BODY_NS "><?xml version='1.0'?></body>",
		   "processing instruction");
	refuse_doc("\n<?xml version='1.0'?><body rid='5' " BODY_NS "/>", "processing instruction");
}

/* Whitespace alone is no child: nothing to hand to the session. */
static void test_whitespace_only(void **state)
{
	struct bosh_body b;
	accept_doc("<body rid='9' sid='x' " BODY_NS ">\r\n \t \n</body>", &b);
	assert_int_equal(b.children, 0);
	assert_int_equal(b.inner_off, 0);
	assert_int_equal(b.inner_len, 0);
	accept_doc("<body rid='9' sid='x' " BODY_NS "></body>", &b);
	assert_int_equal(b.children, 0);
	assert_int_equal(b.inner_len, 0);
	/* whitespace around the root is fine too */
	accept_doc("\n  <body rid='9' " BODY_NS "/>\n\n", &b);
	assert_int_equal(b.rid, 9);
}

static void test_quotes(void **state)
{
	struct bosh_body b;
	accept_doc("<body rid=\"42\" sid=\"q'q\" to=\"example.com\" "
		   "xmlns=\"http://jabber.org/protocol/httpbind\"><a x=\"1\"/></body>", &b);
	assert_int_equal(b.rid, 42);
	assert_string_equal(b.sid, "q'q");
	assert_string_equal(b.to, "example.com");
	assert_int_equal(b.children, 1);
	accept_doc("<body rid='43' sid='q\"q' to='example.com' " BODY_NS "/>", &b);
	assert_int_equal(b.rid, 43);
	assert_string_equal(b.sid, "q\"q");
	/* references in values are XML's: the value is what they stand for */
	accept_doc("<body rid='&#52;4' sid='a&amp;b' " BODY_NS "/>", &b);
	assert_int_equal(b.rid, 44);
	assert_string_equal(b.sid, "a&b");
}

/* The root's namespace decides, not how it is written. */
static void test_prefixed_root(void **state)
{
	struct bosh_body b;
	static const char doc[] =
		"<b:body xmlns:b='http://jabber.org/protocol/httpbind' rid='1'><c/></b:body>";
	accept_doc("<b:body xmlns:b='http://jabber.org/protocol/httpbind' rid='1'/>", &b);
	assert_true(b.has_rid);
	assert_int_equal(b.rid, 1);
	accept_doc(doc, &b);
	assert_int_equal(b.children, 1);
	assert_inner(doc, &b, "<c/>");
	/* a prefixed rid is not the rid (XML: unprefixed attributes have no
	 * namespace), and is ignored like any unknown attribute */
	accept_doc("<b:body xmlns:b='http://jabber.org/protocol/httpbind' b:rid='1' foo='2'/>",
		   &b);
	assert_false(b.has_rid);
}

static void test_wrong_root(void **state)
{
	static const char *const why = "the root is not <body";
	refuse_doc("<bodyx rid='1' " BODY_NS "/>", why);
	refuse_doc("<Body rid='1' " BODY_NS "/>", why);
	refuse_doc("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
		   "xmlns='jabber:client'/>", why);
	/* wrong namespace, none at all, a prefix bound elsewhere */
	refuse_doc("<body rid='1' xmlns='http://jabber.org/protocol/httpbind2'/>", why);
	refuse_doc("<body rid='1' xmlns='jabber:client'/>", why);
	refuse_doc("<body rid='1'/>", why);
	refuse_doc("<b:body xmlns:b='urn:xmpp:xbosh' " BODY_NS " rid='1'/>", why);
	/* the namespace's URI written otherwise is another URI */
	refuse_doc("<body rid='1' xmlns='http://jabber.org/protocol/httpbind/'/>", why);
}

static void test_restricted_xml(void **state)
{
	refuse_doc("<!DOCTYPE body><body rid='1' " BODY_NS "/>", "DOCTYPE");
	refuse_doc("<!DOCTYPE body [<!ENTITY e 'x'>]><body rid='1' " BODY_NS ">&e;</body>",
		   "DOCTYPE");
	refuse_doc("<!DOCTYPE body [<!ENTITY a '&#38;#60;a/&#62;'>]>"
		   "<body rid='1' " BODY_NS ">&a;</body>", "DOCTYPE");
	refuse_doc("<!DOCTYPE body SYSTEM 'http://example.com/x.dtd'>"
		   "<body rid='1' " BODY_NS "/>", "DOCTYPE");
	/* an entity declaration without a DOCTYPE is no XML at all */
	refuse_doc("<!ENTITY e 'x'><body rid='1' " BODY_NS "/>", "");
	refuse_doc("<body rid='1' " BODY_NS "><?foo bar?></body>", "processing instruction");
	refuse_doc("<body rid='1' " BODY_NS "><a><?foo?></a></body>", "processing instruction");
	refuse_doc("<?foo?><body rid='1' " BODY_NS "/>", "processing instruction");
	refuse_doc("<body rid='1' " BODY_NS "/><?foo?>", "processing instruction");
	refuse_doc("<body rid='1' " BODY_NS "><!-- hi --></body>", "comment");
	refuse_doc("<body rid='1' " BODY_NS "><a><!----></a></body>", "comment");
	refuse_doc("<!-- hi --><body rid='1' " BODY_NS "/>", "comment");
	refuse_doc("<body rid='1' " BODY_NS "/><!-- hi -->", "comment");
}

/* Only the predefined entities and character references exist. */
static void test_entities(void **state)
{
	struct bosh_body b;
	static const char doc[] =
		"<body rid='1' " BODY_NS "><message xmlns='jabber:client'><body>a &amp; b &lt; "
		"&gt; &quot; &apos; &#x263A;</body></message></body>";
	accept_doc(doc, &b);
	assert_int_equal(b.children, 1);
	/* the bytes as written, references and all */
	assert_inner(doc, &b,
		     "<message xmlns='jabber:client'><body>a &amp; b &lt; &gt; &quot; &apos; "
		     "&#x263A;</body></message>");
	refuse_doc("<body rid='1' " BODY_NS "><a>&foo;</a></body>", "undefined entity");
	refuse_doc("<body rid='1' " BODY_NS ">&foo;</body>", "undefined entity");
	refuse_doc("<body rid='1' sid='&foo;' " BODY_NS "/>", "undefined entity");
	refuse_doc("<body rid='1' " BODY_NS "><a>&#0;</a></body>", "");
}

static void test_not_well_formed(void **state)
{
	refuse_doc("<body rid='1' " BODY_NS "/>junk", "junk");
	refuse_doc("<body rid='1' " BODY_NS "/><body rid='2' " BODY_NS "/>", "junk");
	refuse_doc("<body rid='1' " BODY_NS "></body></body>", "");
	refuse_doc("<body rid='1' " BODY_NS ">", "");
	refuse_doc("<body rid='1' " BODY_NS "><a></body>", "mismatched");
	refuse_doc("<body rid='1' " BODY_NS "><a></b></body>", "mismatched");
	refuse_doc("<body rid=1 " BODY_NS "/>", "");
	refuse_doc("<body rid='1' rid='2' " BODY_NS "/>", "duplicate");
	refuse_doc("<body rid='1' " BODY_NS " xmpp:version='1.0'/>", "unbound prefix");
	refuse_doc("<body rid='1' " BODY_NS "><a>\xff</a></body>", "");
	refuse_doc("<body rid='1' " BODY_NS "><a>\xc0\x80</a></body>", "");
	refuse_doc("<body", "");
	refuse_doc("   ", "");
	refuse_doc("hello", "");
	refuse_doc("<body rid='1' " BODY_NS "/><", "");
}

static void test_empty(void **state)
{
	refuse_doc("", "empty");
	refuse_doc_n(NULL, 0, "empty");
}

/* UTF-16 would move expat's offsets off the UTF-8 markup; NUL is never
 * XML. */
static void test_nul_and_utf16(void **state)
{
	static const char nul[] = "<body rid='1' " BODY_NS "><a>\0</a></body>";
	refuse_doc_n(nul, sizeof(nul) - 1, "NUL");
	static const char utf16le[] = "\xff\xfe<\0b\0o\0d\0y\0/\0>\0";
	refuse_doc_n(utf16le, sizeof(utf16le) - 1, "NUL");
	static const char utf16be[] = "\xfe\xff\0<\0b\0o\0d\0y\0/\0>";
	refuse_doc_n(utf16be, sizeof(utf16be) - 1, "NUL");
	/* a declared encoding other than UTF-8 does not change how it reads */
	struct bosh_body b;
	static const char latin1[] = "<?xml version='1.0' encoding='ISO-8859-1'?>"
				     "<body rid='1' sid='\xc3\xa9' " BODY_NS "/>";
	accept_doc(latin1, &b);
	assert_string_equal(b.sid, "\xc3\xa9");
	refuse_doc("<?xml version='1.0' encoding='ISO-8859-1'?><body rid='1' sid='\xe9' " BODY_NS
		   "/>", "");
}

static void test_rid(void **state)
{
	struct bosh_body b;
	accept_doc("<body rid='1' " BODY_NS "/>", &b);
	assert_int_equal(b.rid, 1);
	accept_doc("<body rid='9007199254740991' " BODY_NS "/>", &b);
	assert_true(b.rid == 9007199254740991ULL);
	accept_doc("<body rid='0000000000000007' " BODY_NS "/>", &b);
	assert_int_equal(b.rid, 7);
	/* absent: none, and no error (the gateway decides) */
	accept_doc("<body " BODY_NS "/>", &b);
	assert_false(b.has_rid);
	assert_int_equal(b.rid, 0);

	static const char *const bad[] = {
		"0", "9007199254740992", "18446744073709551616", "99999999999999999",
		"00000000000000001", "+1", "-1", " 1", "1 ", "0x10", "1e3", "", "1.0", "١",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char doc[256];
		snprintf(doc, sizeof(doc), "<body rid='%s' " BODY_NS "/>", bad[i]);
		refuse_doc(doc, "rid: not a number in range");
	}
}

static void test_ack_wait_hold(void **state)
{
	struct bosh_body b;
	accept_doc("<body rid='2' ack='0' wait='0' hold='0' " BODY_NS "/>", &b);
	assert_true(b.has_ack && b.has_wait && b.has_hold);
	assert_int_equal(b.ack, 0);
	assert_int_equal(b.wait, 0);
	assert_int_equal(b.hold, 0);
	/* wait and hold are not clamped here */
	accept_doc("<body rid='2' ack='9007199254740991' wait='9999999999999999' "
		   "hold='1234567890123456' " BODY_NS "/>", &b);
	assert_true(b.ack == 9007199254740991ULL);
	assert_true(b.wait == 9999999999999999ULL);
	assert_true(b.hold == 1234567890123456ULL);
	refuse_doc("<body rid='2' ack='9007199254740992' " BODY_NS "/>", "ack:");
	refuse_doc("<body rid='2' ack='-0' " BODY_NS "/>", "ack:");
	refuse_doc("<body rid='2' wait='10000000000000000' " BODY_NS "/>", "wait:");
	refuse_doc("<body rid='2' wait='' " BODY_NS "/>", "wait:");
	refuse_doc("<body rid='2' hold='1 ' " BODY_NS "/>", "hold:");
	refuse_doc("<body rid='2' hold='a' " BODY_NS "/>", "hold:");
}

/* Writes "<body rid='1' name='value' ...>" with a value of n times 'x'. */
static void doc_with(char *doc, size_t size, const char *attr, size_t n, const char *extra)
{
	char value[300];
	assert_true(n < sizeof(value));
	memset(value, 'x', n);
	value[n] = '\0';
	snprintf(doc, size, "<body rid='1' %s='%s' " BODY_NS " %s/>", attr, value, extra);
}

static void test_text_limits(void **state)
{
	static const struct {
		const char *attr;
		size_t max;
		const char *why;
		const char *extra;
	} t[] = {
		{ "sid", BOSH_SID_MAX, "sid:", "" },
		{ "to", 255, "to:", "" },
		{ "xml:lang", 35, "xml:lang:", "" },
		{ "ver", 15, "ver:", "" },
		{ "xmpp:version", 15, "xmpp:version:", XBOSH_NS },
	};
	char doc[512];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bosh_body b;
		doc_with(doc, sizeof(doc), t[i].attr, t[i].max, t[i].extra);
		accept_doc(doc, &b);
		const char *got = i == 0 ? b.sid : i == 1 ? b.to : i == 2 ? b.lang
						 : i == 3 ? b.ver : b.xmpp_version;
		assert_int_equal(strlen(got), t[i].max);
		doc_with(doc, sizeof(doc), t[i].attr, t[i].max + 1, t[i].extra);
		refuse_doc(doc, t[i].why);
	}
	/* empty values are kept as such */
	struct bosh_body b;
	accept_doc("<body rid='1' sid='' to='' " BODY_NS "/>", &b);
	assert_true(b.has_sid);
	assert_string_equal(b.sid, "");
	/* a length in bytes: 32 two-byte characters fill a sid, 33 overflow it */
	char sid[200] = "";
	for (int i = 0; i < 32; i++)
		strcat(sid, "\xc3\xa9");
	snprintf(doc, sizeof(doc), "<body rid='1' sid='%s' " BODY_NS "/>", sid);
	accept_doc(doc, &b);
	assert_int_equal(strlen(b.sid), 64);
	strcat(sid, "\xc3\xa9");
	snprintf(doc, sizeof(doc), "<body rid='1' sid='%s' " BODY_NS "/>", sid);
	refuse_doc(doc, "sid:");
}

/* Attributes XEP-0124 defines but the gateway does not read, and made-up
 * ones, are ignored. */
static void test_unknown_attributes(void **state)
{
	struct bosh_body b;
	accept_doc("<body rid='3' content='text/xml; charset=utf-8' route='xmpp:a.b:5222' "
		   "secure='true' polling='5' requests='2' key='abc' newkey='def' "
		   "xmlns:x='urn:x' x:rid='5' x:sid='y' stream='z' " BODY_NS "/>", &b);
	assert_int_equal(b.rid, 3);
	assert_false(b.has_sid);
}

/* Nests n elements inside <body/>: depth n + 1. */
static char *nested(unsigned n)
{
	size_t size = 64 + sizeof(BODY_NS) + 8 * (size_t)n;
	char *doc = malloc(size);
	assert_non_null(doc);
	int len = snprintf(doc, size, "<body rid='1' %s>", BODY_NS);
	for (unsigned i = 0; i < n; i++)
		len += snprintf(doc + len, size - (size_t)len, "<a>");
	for (unsigned i = 0; i < n; i++)
		len += snprintf(doc + len, size - (size_t)len, "</a>");
	snprintf(doc + len, size - (size_t)len, "</body>");
	return doc;
}

static void test_depth(void **state)
{
	struct bosh_body b;
	char *doc = nested(BOSH_BODY_MAX_DEPTH - 1);
	accept_doc(doc, &b);
	assert_int_equal(b.children, 1);
	assert_int_equal(b.inner_len, 7 * (BOSH_BODY_MAX_DEPTH - 1));
	free(doc);
	doc = nested(BOSH_BODY_MAX_DEPTH);
	refuse_doc(doc, "nested deeper than 64");
	free(doc);
	doc = nested(1000);
	refuse_doc(doc, "nested deeper than 64");
	free(doc);
	/* empty elements count as deep as any */
	refuse_doc("<body " BODY_NS ">"
		   "<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>"
		   "<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>"
		   "<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>"
		   "<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><b/>", "nested deeper");
}

/* A refusal after attributes were read leaves none of them behind. */
static void test_refusal_clears(void **state)
{
	refuse_doc("<body rid='5' sid='abc' to='x' type='terminate' xmpp:restart='1' " XBOSH_NS
		   " " BODY_NS "><a/><!-- --></body>", "comment");
	refuse_doc("<body rid='5' sid='abc' " BODY_NS "><a/><b/></body>junk", "junk");
	/* the first refusal is the one reported */
	refuse_doc("<body rid='0' sid='abc' wait='x' " BODY_NS "/>", "rid:");
	refuse_doc("<body wait='x' rid='0' " BODY_NS "/>", "wait:");
}

/* Many children: counted, and the range spans them all. */
static void test_many_children(void **state)
{
	size_t size = 64 + sizeof(BODY_NS) + 5 * 1000;
	char *doc = malloc(size);
	assert_non_null(doc);
	int len = snprintf(doc, size, "<body %s>", BODY_NS);
	int start = len;
	for (int i = 0; i < 1000; i++)
		len += snprintf(doc + len, size - (size_t)len, "<a/> ");
	snprintf(doc + len, size - (size_t)len, "</body>");
	struct bosh_body b;
	accept_doc(doc, &b);
	assert_int_equal(b.children, 1000);
	assert_int_equal(b.inner_off, start);
	assert_int_equal(b.inner_len, len - start);
	free(doc);
}

/* The input need not be NUL-terminated: only len bytes are read. */
static void test_not_terminated(void **state)
{
	static const char doc[] = "<body rid='8' " BODY_NS "><a/></body>";
	size_t len = sizeof(doc) - 1;
	char *copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, doc, len);
	struct bosh_body b;
	assert_true(bosh_body_parse(copy, len, &b));
	assert_int_equal(b.rid, 8);
	assert_int_equal(b.inner_len, 4);
	/* cut short by one byte, the same bytes are not a document */
	assert_false(bosh_body_parse(copy, len - 1, &b));
	assert_non_null(b.error);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strophe_creation),
		cmocka_unit_test(test_sid_and_auth),
		cmocka_unit_test(test_two_stanzas),
		cmocka_unit_test(test_text_under_body),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_terminate),
		cmocka_unit_test(test_xml_declaration),
		cmocka_unit_test(test_whitespace_only),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_prefixed_root),
		cmocka_unit_test(test_wrong_root),
		cmocka_unit_test(test_restricted_xml),
		cmocka_unit_test(test_entities),
		cmocka_unit_test(test_not_well_formed),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_nul_and_utf16),
		cmocka_unit_test(test_rid),
		cmocka_unit_test(test_ack_wait_hold),
		cmocka_unit_test(test_text_limits),
		cmocka_unit_test(test_unknown_attributes),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_refusal_clears),
		cmocka_unit_test(test_many_children),
		cmocka_unit_test(test_not_terminated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
