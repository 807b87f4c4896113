/* Unit tests for core/xml/xml_stream.c (and, through it, the tree builder and
 * serializer): a realistic c2s conversation fed whole, split at every byte
 * boundary and one byte at a time, all giving the same callback sequence and
 * serialized stanzas; restricted XML; not-well-formed input; each limit,
 * including the unterminated attribute that must fail at the size limit;
 * callback stop, stream close and restart; the namespace separator
 * (CVE-2022-25236); a parse-write-parse round trip over the fuzz corpus; a
 * pass failing every allocation in turn; and the memory one idle parser
 * holds.
 *
 * The allocation-failure pass and the memory figure replace malloc for the
 * whole executable, which sanitizer runtimes do not allow; ASan/UBSan
 * builds leave those two tests out and ASan checks leaks instead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xml/xml_write.h"

#include "xml_fixture.h"

#define HEADER "<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' " \
	       "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>"

/* ---- the conversation ---- */

static const char conversation[] =
	"<?xml version='1.0'?>\n"
	"<stream:stream to='example.com' xmlns='jabber:client'\n"
	"  xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>\n"
	"  <message to='juliet@example.com/balcony' type='chat' xml:lang='en' id='m1'>"
	"<body>Wherefore art thou, Romeo? &amp; &lt;3 &#x263A; &#65;&gt;</body>"
	"<body xml:lang='de'>Gr\xc3\xbc\xc3\x9f" "e \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80</body>"
	"</message>\n"
	"  <iq type='get' id='r1'><query xmlns='jabber:iq:roster'>"
	"<item jid='a@b' name=\"A &quot;q&quot; &apos;\"/></query></iq>\n"
	"  <presence>\n    <show>away</show>\n"
	"    <status>Out <![CDATA[<for> & lunch]]>&#13;&#10;line2\r\nline3</status>\n"
	"    <priority>5</priority>\n  </presence>\n"
	"  <message to='romeo@example.net' id='m2'>"
	"<x:foo xmlns:x='urn:example:foo' x:attr='1' plain='2'><x:bar>t</x:bar>"
	"<baz xmlns='urn:example:baz'><back xmlns=''/></baz></x:foo></message>\n"
	"  <presence type='unavailable'/>\n"
	"</stream:stream>";

static const char expected_log[] =
	"OPEN {http://etherx.jabber.org/streams}stream default=jabber:client"
	" to=example.com version=1.0 {http://www.w3.org/XML/1998/namespace}lang=en\n"
	"STANZA <message to=\"juliet@example.com/balcony\" type=\"chat\" xml:lang=\"en\" id=\"m1\">"
	"<body>Wherefore art thou, Romeo? &amp; &lt;3 \xe2\x98\xba A&gt;</body>"
	"<body xml:lang=\"de\">Gr\xc3\xbc\xc3\x9f" "e \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80</body>"
	"</message>\n"
	"STANZA <iq type=\"get\" id=\"r1\"><query xmlns=\"jabber:iq:roster\">"
	"<item jid=\"a@b\" name=\"A &quot;q&quot; &apos;\"/></query></iq>\n"
	"STANZA <presence>\n    <show>away</show>\n"
	"    <status>Out &lt;for&gt; &amp; lunch&#13;\nline2\nline3</status>\n"
	"    <priority>5</priority>\n  </presence>\n"
	"STANZA <message to=\"romeo@example.net\" id=\"m2\">"
	"<foo xmlns=\"urn:example:foo\" xmlns:a0=\"urn:example:foo\" a0:attr=\"1\" plain=\"2\">"
	"<bar>t</bar><baz xmlns=\"urn:example:baz\"><back xmlns=\"\"/></baz></foo></message>\n"
	"STANZA <presence type=\"unavailable\"/>\n"
	"CLOSE\n";

/* Each stanza's content as received (xml_stream_stanza_inner). */
static const char expected_inners[] =
	"INNER <body>Wherefore art thou, Romeo? &amp; &lt;3 &#x263A; &#65;&gt;</body>"
	"<body xml:lang='de'>Gr\xc3\xbc\xc3\x9f" "e \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80</body>\n"
	"INNER <query xmlns='jabber:iq:roster'>"
	"<item jid='a@b' name=\"A &quot;q&quot; &apos;\"/></query>\n"
	"INNER \n    <show>away</show>\n"
	"    <status>Out <![CDATA[<for> & lunch]]>&#13;&#10;line2\r\nline3</status>\n"
	"    <priority>5</priority>\n  \n"
	"INNER <x:foo xmlns:x='urn:example:foo' x:attr='1' plain='2'><x:bar>t</x:bar>"
	"<baz xmlns='urn:example:baz'><back xmlns=''/></baz></x:foo>\n"
	"INNER \n";

static void test_conversation_whole(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(xml_stream_feed(r.s, conversation, sizeof(conversation) - 1),
			 XML_STREAM_OK);
	assert_string_equal(rec_log(&r), expected_log);
	assert_string_equal(xml_stream_err_text(r.s), "");
	/* after the close, input is refused */
	assert_int_equal(feed(&r, " "), XML_STREAM_CLOSED);
	assert_int_equal(feed(&r, "<x/>"), XML_STREAM_CLOSED);
	rec_done(&r);
}

static void test_conversation_every_split(void **state)
{
	size_t len = sizeof(conversation) - 1;

	for (size_t i = 1; i < len; i++) {
		struct rec r;
		rec_init(&r, NULL);
		assert_int_equal(xml_stream_feed(r.s, conversation, i), XML_STREAM_OK);
		assert_int_equal(xml_stream_feed(r.s, conversation + i, len - i), XML_STREAM_OK);
		if (strcmp(rec_log(&r), expected_log) != 0 ||
		    strcmp(rec_inners(&r), expected_inners) != 0) {
			print_error("split at %zu\n", i);
			assert_string_equal(rec_log(&r), expected_log);
			assert_string_equal(rec_inners(&r), expected_inners);
		}
		rec_done(&r);
	}
}

static void test_conversation_bytewise(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	for (size_t i = 0; i < sizeof(conversation) - 1; i++) {
		assert_int_equal(xml_stream_feed(r.s, conversation + i, 1), XML_STREAM_OK);
		/* the header is reported as soon as its '>' arrives, each
		 * stanza as soon as its end tag is complete */
		if (conversation[i] == '>' && i + 1 < sizeof(conversation) - 1) {
			const char *next = conversation + i + 1;
			if (strncmp(next, "\n  <message to='j", 17) == 0)
				assert_non_null(strstr(rec_log(&r), "OPEN "));
		}
	}
	assert_string_equal(rec_log(&r), expected_log);
	assert_string_equal(rec_inners(&r), expected_inners);
	rec_done(&r);
}

/* The stanza is reported exactly when its final '>' is fed, not later. */
static void test_stanza_reported_at_end_tag(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, HEADER "<message><body>hi</body></message"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 0);
	assert_int_equal(feed(&r, ">"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 1);
	assert_int_equal(feed(&r, "<presence/"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 1);
	assert_int_equal(feed(&r, ">"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 2);
	rec_done(&r);
}

/* ---- restricted XML ---- */

static void expect_err(const char *input, enum xml_stream_err want, int want_stanzas)
{
	struct rec r;
	rec_init(&r, NULL);
	enum xml_stream_err e = feed(&r, input);
	if (e != want)
		print_error("input %s: got %s (%s), want %s\n", input, xml_stream_err_name(e),
			    xml_stream_err_text(r.s), xml_stream_err_name(want));
	assert_int_equal(e, want);
	assert_int_equal(r.n_stanzas, want_stanzas);
	if (want != XML_STREAM_OK) {
		assert_true(strlen(xml_stream_err_text(r.s)) > 0);
		/* sticky: even good input is refused now */
		assert_int_equal(feed(&r, "<presence/>"), want);
		assert_int_equal(r.n_stanzas, want_stanzas);
	}
	rec_done(&r);
}

static void test_restricted(void **state)
{
	expect_err("<?xml version='1.0'?><!DOCTYPE stream:stream>" HEADER,
		   XML_STREAM_RESTRICTED_XML, 0);
	expect_err("<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", XML_STREAM_RESTRICTED_XML, 0);
	expect_err("<!DOCTYPE x SYSTEM 'http://example.com/x.dtd'><x/>",
		   XML_STREAM_RESTRICTED_XML, 0);
	expect_err(HEADER "<?foo bar?>", XML_STREAM_RESTRICTED_XML, 0);
	expect_err(HEADER "<message/><?xml-stylesheet href='a'?>", XML_STREAM_RESTRICTED_XML, 1);
	expect_err(HEADER "<message><body>a<!-- hi -->b</body></message>",
		   XML_STREAM_RESTRICTED_XML, 0);
	expect_err("<!-- before -->" HEADER, XML_STREAM_RESTRICTED_XML, 0);
	expect_err(HEADER "<?xml version='1.0'?>", XML_STREAM_RESTRICTED_XML, 0);
	/* an entity that was never declared is no restricted XML, just wrong */
	expect_err(HEADER "<message><body>&lol9;</body></message>", XML_STREAM_NOT_WELL_FORMED, 0);

	/* the err text names the construct */
	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, HEADER "<message><!-- x --></message>"),
			 XML_STREAM_RESTRICTED_XML);
	assert_non_null(strstr(xml_stream_err_text(r.s), "comment"));
	rec_done(&r);
}

static void test_billion_laughs(void **state)
{
	static const char bomb[] =
		"<?xml version='1.0'?>\n"
		"<!DOCTYPE lolz [\n"
		" <!ENTITY lol 'lol'>\n"
		" <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
		" <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
		" <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
		" <!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>\n"
		" <!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>\n"
		" <!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>\n"
		" <!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>\n"
		" <!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>\n"
		" <!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>\n"
		"]>\n"
		"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
		"<message><body>&lol9;</body></message>";

	/* whole, and bytewise: in neither case may anything be expanded */
	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, bomb), XML_STREAM_RESTRICTED_XML);
	assert_int_equal(r.n_stanzas, 0);
	assert_false(xml_stream_header_seen(r.s));
	rec_done(&r);

	rec_init(&r, NULL);
	enum xml_stream_err e = XML_STREAM_OK;
	size_t i;
	for (i = 0; i < sizeof(bomb) - 1 && e == XML_STREAM_OK; i++)
		e = xml_stream_feed(r.s, bomb + i, 1);
	assert_int_equal(e, XML_STREAM_RESTRICTED_XML);
	/* refused at the '[' of the internal subset, before any entity */
	assert_true(i < (size_t)(strstr(bomb, "<!ENTITY") - bomb));
	assert_string_equal(rec_log(&r), "");
	rec_done(&r);
}

/* ---- not well-formed ---- */

static void test_not_well_formed(void **state)
{
	expect_err(HEADER "<message></iq>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message><body>a</message></body>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message><body>\xc3\x28</body></message>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message><body>\xc0\xaf</body></message>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message><body>\xed\xa0\x80</body></message>",
		   XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message to='\xff'/>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<foo:bar/>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message foo:to='x'/>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message to='a<b'/>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message to='a' to='b'/>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message xmlns:p='u' xmlns:q='u' p:a='1' q:a='2'/>",
		   XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message>&#0;</message>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message>\x01</message>", XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<presence/></stream:foo>", XML_STREAM_NOT_WELL_FORMED, 1);
	expect_err("\xfe\xff<stream/>", XML_STREAM_NOT_WELL_FORMED, 0);
	/* a declared encoding is ignored: the input is read as UTF-8 */
	expect_err("<?xml version='1.0' encoding='UTF-16'?><s xmlns='jabber:client'><presence/>",
		   XML_STREAM_OK, 1);
	/* text directly under the root is ignored */
	expect_err(HEADER "junk<presence/>more junk<presence/>", XML_STREAM_OK, 2);

	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, HEADER "<message></iq>"), XML_STREAM_NOT_WELL_FORMED);
	assert_non_null(strstr(xml_stream_err_text(r.s), "line 1"));
	rec_done(&r);
}

/* CVE-2022-25236: a URI must not be able to smuggle the separator into the
 * name expat reports.  Our separator is 0xFF, which cannot be in the UTF-8
 * that expat builds names from: raw it is bad UTF-8, and as &#255; it is the
 * two bytes C3 BF. */
static void test_ns_separator(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	r.keep = true;
	assert_int_equal(feed(&r, HEADER "<message xmlns:p='urn:a&#255;b' p:x='1'>"
				       "<p:c xmlns='urn:d&#255;e'/><c/></message>"),
			 XML_STREAM_OK);
	assert_int_equal(r.n_kept, 1);
	struct xml_node *m = r.kept[0];
	assert_string_equal(xml_node_attr_ns(m, "urn:a\xc3\xbf" "b", "x"), "1");
	struct xml_node *c = xml_node_first_elem(m);
	assert_string_equal(c->name, "c");
	assert_string_equal(c->ns, "urn:a\xc3\xbf" "b");
	c = xml_node_next_elem(c);
	assert_string_equal(c->ns, "jabber:client");
	rec_done(&r);

	expect_err(HEADER "<message xmlns:p='urn:a\xff" "b' p:x='1'/>",
		   XML_STREAM_NOT_WELL_FORMED, 0);
	expect_err(HEADER "<message xmlns='urn:a\xff" "c'/>", XML_STREAM_NOT_WELL_FORMED, 0);
}

static void test_default_ns(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	assert_string_equal(xml_stream_default_ns(r.s), "");
	assert_false(xml_stream_header_seen(r.s));
	assert_int_equal(feed(&r, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
				  "<iq/>"), XML_STREAM_OK);
	assert_string_equal(xml_stream_default_ns(r.s), "");
	assert_string_equal(r.stanzas.data, "<iq xmlns=\"\"/>\n");
	assert_true(xml_stream_header_seen(r.s));
	assert_int_equal(r.n_open, 1);
	assert_non_null(strstr(rec_log(&r), "OPEN {http://etherx.jabber.org/streams}stream"));
	rec_done(&r);
}

/* ---- limits ---- */

static void test_limit_stanza_size(void **state)
{
	const struct xml_stream_limits lim = { .max_stanza_size = 256, .max_depth = 8, .max_attrs = 8 };
	char st[300];
	struct rec r;

	/* a header over the limit */
	rec_init(&r, &lim);
	char big_header[400];
	snprintf(big_header, sizeof(big_header), "<stream:stream xmlns:stream='s' id='%0250d'>", 0);
	assert_int_equal(feed(&r, big_header), XML_STREAM_POLICY_VIOLATION);
	assert_string_equal(rec_log(&r), "");
	rec_done(&r);

	/* exactly 256 bytes, whitespace before it included, passes; 257 fails */
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, HEADER), XML_STREAM_OK);
	size_t fill = 256 - strlen("  <message></message>");
	snprintf(st, sizeof(st), "  <message>%0*d</message>", (int)fill, 0);
	assert_int_equal(strlen(st), 256);
	assert_int_equal(feed(&r, st), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 1);
	snprintf(st, sizeof(st), "   <message>%0*d</message>", (int)fill, 0);
	assert_int_equal(feed(&r, st), XML_STREAM_POLICY_VIOLATION);
	assert_int_equal(r.n_stanzas, 1);
	assert_non_null(strstr(xml_stream_err_text(r.s), "256"));
	assert_int_equal(feed(&r, "<presence/>"), XML_STREAM_POLICY_VIOLATION);
	rec_done(&r);

	/* many small stanzas in one feed are fine: the count restarts at
	 * each stanza boundary */
	rec_init(&r, &lim);
	struct xbuf many = { 0 };
	xbuf_append_str(&many, HEADER);
	for (int i = 0; i < 1000; i++)
		xbuf_appendf(&many, "<message id='%d'><body>hello</body></message>", i);
	assert_int_equal(xml_stream_feed(r.s, many.data, many.len), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 1000);
	xbuf_free(&many);
	rec_done(&r);

	/* text under the root counts too */
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, HEADER), XML_STREAM_OK);
	memset(st, 'x', 299);
	st[299] = '\0';
	assert_int_equal(feed(&r, st), XML_STREAM_POLICY_VIOLATION);
	rec_done(&r);
}

/* A value without its closing quote: expat would buffer it forever; the
 * limit must stop it once reached, not after 2x. */
static void test_limit_unterminated_attr(void **state)
{
	const struct xml_stream_limits lim = { .max_stanza_size = 65536, .max_depth = 8, .max_attrs = 8 };
	static char chunk[4096];
	struct rec r;
	size_t fed = 0;
	enum xml_stream_err e;

	memset(chunk, 'a', sizeof(chunk));
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, HEADER "<message to='"), XML_STREAM_OK);
	do {
		e = xml_stream_feed(r.s, chunk, sizeof(chunk));
		fed += sizeof(chunk);
	} while (e == XML_STREAM_OK && fed < 10 * 1024 * 1024);
	assert_int_equal(e, XML_STREAM_POLICY_VIOLATION);
	assert_true(fed < 2 * lim.max_stanza_size);
	assert_true(fed >= lim.max_stanza_size - 4096);
	rec_done(&r);

	/* the same with a huge single feed */
	size_t big = 10 * 1024 * 1024;
	char *huge = malloc(big);
	assert_non_null(huge);
	memset(huge, 'a', big);
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, HEADER "<message to='"), XML_STREAM_OK);
	assert_int_equal(xml_stream_feed(r.s, huge, big), XML_STREAM_POLICY_VIOLATION);
	free(huge);
	rec_done(&r);
}

static void test_limit_depth(void **state)
{
	const struct xml_stream_limits lim = { .max_stanza_size = 4096, .max_depth = 3, .max_attrs = 8 };
	struct rec r;

	rec_init(&r, &lim);
	assert_int_equal(feed(&r, HEADER "<message><a><b/></a></message>"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 1);
	assert_int_equal(feed(&r, "<message><a><b><c/></b></a></message>"),
			 XML_STREAM_POLICY_VIOLATION);
	assert_int_equal(r.n_stanzas, 1);
	assert_non_null(strstr(xml_stream_err_text(r.s), "deeper than 3"));
	rec_done(&r);
}

static void test_limit_attrs(void **state)
{
	const struct xml_stream_limits lim = { .max_stanza_size = 4096, .max_depth = 8, .max_attrs = 4 };
	struct rec r;

	rec_init(&r, &lim);
	assert_int_equal(feed(&r, "<stream:stream xmlns='jabber:client' "
				  "xmlns:stream='http://etherx.jabber.org/streams' to='a' version='1.0'>"
				  "<message a='1' b='2' c='3' d='4'/>"
				  "<message><x xmlns='u' a='1' b='2' c='3'/></message>"),
			 XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 2);
	assert_int_equal(feed(&r, "<message a='1' b='2' c='3' d='4' e='5'/>"),
			 XML_STREAM_POLICY_VIOLATION);
	rec_done(&r);

	/* namespace declarations count: they cost expat memory too */
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, HEADER), XML_STREAM_POLICY_VIOLATION);
	rec_done(&r);
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, "<s xmlns='jabber:client'><message xmlns:p='1' xmlns:q='2' "
				  "xmlns:r='3' a='1' b='2'/>"),
			 XML_STREAM_POLICY_VIOLATION);
	assert_int_equal(r.n_stanzas, 0);
	rec_done(&r);
}

/* ---- callbacks ---- */

static void test_callback_stop(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	r.stop_at = 1;
	assert_int_equal(feed(&r, HEADER "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
				  "<message>injected before TLS</message>"),
			 XML_STREAM_STOPPED);
	assert_int_equal(r.n_stanzas, 1);
	assert_string_equal(r.stanzas.data,
			    "<starttls xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"/>\n");
	assert_int_equal(feed(&r, "<presence/>"), XML_STREAM_STOPPED);
	assert_int_equal(r.n_stanzas, 1);

	/* restart after STARTTLS: a fresh document with a new header */
	assert_int_equal(xml_stream_reset(r.s), XS_OK);
	assert_string_equal(xml_stream_default_ns(r.s), "");
	assert_false(xml_stream_header_seen(r.s));
	assert_string_equal(xml_stream_err_text(r.s), "");
	xbuf_reset(&r.log);
	assert_int_equal(feed(&r, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
				  "xmlns:stream='http://etherx.jabber.org/streams' "
				  "xmlns:db='jabber:server:dialback' to='b'>"
				  "<db:result to='b' from='a'>key</db:result>"),
			 XML_STREAM_OK);
	assert_string_equal(rec_log(&r),
		"OPEN {http://etherx.jabber.org/streams}stream default=jabber:server to=b\n"
		"STANZA <result xmlns=\"jabber:server:dialback\" to=\"b\" from=\"a\">key</result>\n");
	rec_done(&r);

	/* stop from stream_open */
	rec_init(&r, NULL);
	struct xml_stream_cb cb = rec_cb;
	cb.stream_open = NULL;
	xml_stream_free(r.s);
	r.s = xml_stream_new(&big_limits, &cb, &r);
	assert_int_equal(feed(&r, HEADER "<presence/>"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 1);
	rec_done(&r);
}

static int stop_open(void *arg, struct xml_node *h)
{
	return 1;
}

static int stop_close(void *arg)
{
	return 1;
}

static void test_callback_stop_open_close(void **state)
{
	struct rec r;
	struct xml_stream_cb cb = rec_cb;

	memset(&r, 0, sizeof(r));
	cb.stream_open = stop_open;
	r.s = xml_stream_new(&big_limits, &cb, &r);
	assert_int_equal(feed(&r, HEADER "<presence/>"), XML_STREAM_STOPPED);
	assert_int_equal(r.n_stanzas, 0);
	rec_done(&r);

	memset(&r, 0, sizeof(r));
	cb = rec_cb;
	cb.stream_close = stop_close;
	r.s = xml_stream_new(&big_limits, &cb, &r);
	assert_int_equal(feed(&r, HEADER "<presence/></stream:stream>"), XML_STREAM_STOPPED);
	assert_int_equal(r.n_stanzas, 1);
	rec_done(&r);
}

static void test_stream_close(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, HEADER "<presence/></stream:stream>trailing junk"),
			 XML_STREAM_OK);
	assert_string_equal(rec_log(&r),
		"OPEN {http://etherx.jabber.org/streams}stream default=jabber:client to=example.com "
		"version=1.0 {http://www.w3.org/XML/1998/namespace}lang=en\n"
		"STANZA <presence/>\n"
		"CLOSE\n");
	assert_int_equal(feed(&r, "<presence/>"), XML_STREAM_CLOSED);
	assert_int_equal(feed(&r, "<presence/>"), XML_STREAM_CLOSED);
	assert_int_equal(r.n_stanzas, 1);
	/* a reset revives it */
	assert_int_equal(xml_stream_reset(r.s), XS_OK);
	assert_int_equal(feed(&r, HEADER "<presence/>"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 2);
	rec_done(&r);
}

/* Reset in the middle of a stanza and after an error: nothing leaks (ASan
 * or the counting malloc checks), and the next stream parses from scratch. */
static void test_reset_midway(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(feed(&r, HEADER "<message><body>partial te"), XML_STREAM_OK);
		assert_int_equal(xml_stream_reset(r.s), XS_OK);
		assert_int_equal(feed(&r, HEADER "<message></iq>"), XML_STREAM_NOT_WELL_FORMED);
		assert_int_equal(xml_stream_reset(r.s), XS_OK);
	}
	xbuf_reset(&r.log);
	assert_int_equal(xml_stream_feed(r.s, conversation, sizeof(conversation) - 1),
			 XML_STREAM_OK);
	assert_string_equal(rec_log(&r), expected_log);
	rec_done(&r);
}

/* ---- round trip over the corpus ---- */

static bool trees_equal(const struct xml_node *a, const struct xml_node *b)
{
	if (a->type != b->type)
		return false;
	if (a->type == XML_NODE_TEXT)
		return a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
	if (strcmp(a->name, b->name) || strcmp(a->ns, b->ns) || a->n_attrs != b->n_attrs)
		return false;
	for (size_t i = 0; i < a->n_attrs; i++) {
		const struct xml_attr *x = &a->attrs[i];
		const char *v = xml_node_attr_ns(b, x->ns, x->name);
		if (!v || strcmp(v, x->value))
			return false;
	}
	const struct xml_node *ca = a->first_child, *cb = b->first_child;
	for (; ca && cb; ca = ca->next, cb = cb->next)
		if (!trees_equal(ca, cb))
			return false;
	return !ca && !cb;
}

/* Whether `stanza` (serialized text), read in a plain jabber:client stream,
 * parses to exactly one stanza equal to `want`; `what` names the case in
 * the failure message. */
static void reads_back_as(const struct xml_node *want, const char *stanza, const char *what)
{
	struct xbuf doc = { 0 };
	struct rec r2;
	xbuf_append_str(&doc, "<stream:stream xmlns='jabber:client' "
			      "xmlns:stream='http://etherx.jabber.org/streams'>");
	xbuf_append_str(&doc, stanza);
	rec_init(&r2, NULL);
	r2.keep = true;
	assert_int_equal(xml_stream_feed(r2.s, doc.data, doc.len), XML_STREAM_OK);
	assert_int_equal(r2.n_kept, 1);
	if (!trees_equal(want, r2.kept[0])) {
		print_error("%s differs: %s\n", what, doc.data);
		fail();
	}
	xbuf_free(&doc);
	rec_done(&r2);
}

static int round_trip_one(const char *data, size_t len, int *n_around)
{
	struct rec r;
	int n = 0;

	rec_init(&r, NULL);
	r.keep = true;
	xml_stream_feed(r.s, data, len);   /* errors are fine: use what came */
	for (int i = 0; i < r.n_kept; i++) {
		/* the stanza was parsed in the header's default namespace; the
		 * same tree must come back */
		struct xbuf out = { 0 };
		assert_int_equal(xml_write(r.kept[i], NS_CLIENT, &out), XS_OK);
		reads_back_as(r.kept[i], out.data, "round trip");
		xbuf_free(&out);
		n++;
		/* the content as received around a tag written anew reads back
		 * as the same tree too */
		if (!r.around[i])
			continue;
		reads_back_as(r.kept[i], r.around[i], "round trip with the content as received");
		(*n_around)++;
	}
	rec_done(&r);
	return n;
}

static void test_round_trip(void **state)
{
	/* TEST_DATA_DIR is tests/data, which need not exist: go from tests/ */
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s", TEST_DATA_DIR);
	char *cut = strrchr(dir, '/');
	assert_non_null(cut);
	snprintf(cut, sizeof(dir) - (size_t)(cut - dir), "/fuzz/corpus/xml_stream");
	DIR *d = opendir(dir);
	struct dirent *de;
	int files = 0, stanzas = 0, around = 0;

	stanzas += round_trip_one(conversation, sizeof(conversation) - 1, &around);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[1400];
		char buf[65536];
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		stanzas += round_trip_one(buf, n, &around);
		files++;
	}
	closedir(d);
	assert_true(files >= 10);
	assert_true(stanzas >= 20);
	/* most stanzas are self-contained; the conversation's five are */
	assert_true(around >= 5 && around * 2 >= stanzas);
}

/* ---- the content as received (xml_stream_stanza_inner) ---- */

/* Exactly the bytes between the tags (at every split and byte by byte:
 * the conversation tests above), and nothing outside the stanza callback. */
static void test_inner_whole(void **state)
{
	struct rec r;
	const char *p;
	size_t n;

	rec_init(&r, NULL);
	assert_int_equal(xml_stream_feed(r.s, conversation, sizeof(conversation) - 1),
			 XML_STREAM_OK);
	assert_string_equal(rec_inners(&r), expected_inners);
	assert_false(xml_stream_stanza_inner(r.s, &p, &n));
	rec_done(&r);
}

/* Content that would mean something else without a declaration outside it
 * is not offered: a prefix from the header, one from the stanza's tag, the
 * stream prefix.  Declared inside, or the default namespace again, is
 * fine, and so is a header's prefix that the content does not use. */
#define DB_HEADER                                                                        \
	"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' " \
	"xmlns:db='jabber:server:dialback'>"

static void test_inner_namespaces(void **state)
{
	static const struct {
		const char *header, *stanza, *want;
	} cases[] = {
		{ HEADER, "<message><body>x</body></message>", "INNER <body>x</body>\n" },
		{ HEADER, "<presence/>", "INNER \n" },
		{ HEADER, "<message xmlns='jabber:client'><body>y</body></message>",
		  "INNER <body>y</body>\n" },
		{ HEADER, "<message><x:a xmlns:x='urn:x'><x:b/></x:a></message>",
		  "INNER <x:a xmlns:x='urn:x'><x:b/></x:a>\n" },
		{ HEADER, "<message xmlns:x='urn:x'><x:a/></message>", "NOINNER\n" },
		{ HEADER, "<message xmlns='urn:other'><a/></message>", "NOINNER\n" },
		{ HEADER, "<message><stream:error/></message>", "NOINNER\n" },
		{ HEADER, "<message><a stream:x='1'/></message>", "NOINNER\n" },
		{ HEADER, "<stream:foo><a/></stream:foo>", "NOINNER\n" },
		/* a header with more prefixes (a server stream's "db"): content
		 * that uses none of them, nor the streams namespace, goes raw */
		{ DB_HEADER, "<message><body>z</body></message>", "INNER <body>z</body>\n" },
		{ DB_HEADER, "<message><db:x/></message>", "NOINNER\n" },
		{ DB_HEADER, "<message><a db:x='1'/></message>", "NOINNER\n" },
		{ DB_HEADER, "<message><stream:error/></message>", "NOINNER\n" },
		/* the namespace declared again inside: the shortcut is lost */
		{ DB_HEADER, "<message><x xmlns='jabber:server:dialback'/></message>", "NOINNER\n" },
		{ DB_HEADER, "<message><x:a xmlns:x='urn:x'/></message>",
		  "INNER <x:a xmlns:x='urn:x'/>\n" },
		/* a prefix for the default namespace: <c:body/> would look like
		 * <body/> */
		{ "<stream:stream xmlns='jabber:client' xmlns:stream="
		  "'http://etherx.jabber.org/streams' xmlns:c='jabber:client'>",
		  "<message><body>z</body></message>", "NOINNER\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rec r;
		rec_init(&r, NULL);
		assert_int_equal(feed(&r, cases[i].header), XML_STREAM_OK);
		assert_int_equal(feed(&r, cases[i].stanza), XML_STREAM_OK);
		if (strcmp(rec_inners(&r), cases[i].want) != 0) {
			print_error("case %zu: %s\n", i, cases[i].stanza);
			assert_string_equal(rec_inners(&r), cases[i].want);
		}
		rec_done(&r);
	}
}

/* Around sleep: whitespace kept between stanzas is dropped, and a stanza
 * after a wake, split over two pieces, is found whole. */
static void test_inner_sleep(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, HEADER "<message><body>1</body></message>  "), XML_STREAM_OK);
	assert_int_equal(xml_stream_sleep(r.s), XS_OK);
	assert_int_equal(feed(&r, " \n<message to='a@b'><bo"), XML_STREAM_OK);
	assert_int_equal(feed(&r, "dy>2</body></message><presence/>"), XML_STREAM_OK);
	assert_string_equal(rec_inners(&r), "INNER <body>1</body>\nINNER <body>2</body>\nINNER \n");
	rec_done(&r);
}

/* ---- allocation failures and memory (plain builds only) ---- */

#ifndef NO_MALLOC_HOOK
static void test_alloc_failures(void **state)
{
	int nomem = 0;
	long n;

	for (n = 0; n < 100000; n++) {
		struct rec r;
		memset(&r, 0, sizeof(r));
		long base = live_allocs;
		fail_after = n;
		r.s = xml_stream_new(&big_limits, &rec_cb, &r);
		enum xml_stream_err e = r.s ? xml_stream_feed(r.s, conversation, 300) : XML_STREAM_NOMEM;
		if (e == XML_STREAM_OK)
			e = xml_stream_feed(r.s, conversation + 300, sizeof(conversation) - 1 - 300);
		if (e == XML_STREAM_OK && xml_stream_reset(r.s) != XS_OK)
			e = XML_STREAM_NOMEM;
		if (e == XML_STREAM_OK)
			e = xml_stream_feed(r.s, conversation, sizeof(conversation) - 1);
		bool done = fail_after >= 0;  /* the pass needed fewer than n */
		fail_after = -1;
		if (e != XML_STREAM_OK) {
			assert_int_equal(e, XML_STREAM_NOMEM);
			nomem++;
		} else {
			/* a failure that was recovered from changed nothing */
			assert_true(strlen(rec_log(&r)) >= strlen(expected_log));
			assert_string_equal(rec_log(&r) + strlen(rec_log(&r)) - strlen(expected_log),
					    expected_log);
		}
		xml_stream_free(r.s);
		r.s = NULL;
		xbuf_free(&r.log);
		xbuf_free(&r.stanzas);
		xbuf_free(&r.inners);
		assert_int_equal(live_allocs, base);
		if (done)
			break;
	}
	assert_true(nomem > 10);
	print_message("allocation failure pass: %ld allocations, %d NOMEM outcomes\n", n, nomem);
}

/* What a connection's parser costs while it sits at depth 1 between
 * stanzas; the figure goes into docs/internals/xml.md. */
static void test_idle_memory(void **state)
{
	enum { N = 200 };
	struct rec *r = calloc(N, sizeof(*r));
	assert_non_null(r);

	size_t m0 = live_bytes;
	long a0 = live_allocs;
	for (int i = 0; i < N; i++)
		r[i].s = xml_stream_new(&big_limits, &rec_cb, &r[i]);
	size_t m1 = live_bytes;
	long a1 = live_allocs;
	for (int i = 0; i < N; i++) {
		assert_int_equal(xml_stream_feed(r[i].s, conversation,
						 strstr(conversation, "</stream:stream>") - conversation),
				 XML_STREAM_OK);
		xbuf_free(&r[i].log);
		xbuf_free(&r[i].stanzas);
		xbuf_free(&r[i].inners);
	}
	size_t m2 = live_bytes;
	long a2 = live_allocs;
	for (int i = 0; i < N; i++)
		assert_int_equal(xml_stream_reset(r[i].s), XS_OK);
	size_t m3 = live_bytes;
	long a3 = live_allocs;

	print_message("per parser: new %zu B in %ld blocks; at depth 1 after 5 stanzas "
		      "%zu B in %ld blocks; after reset %zu B in %ld blocks\n",
		      (m1 - m0) / N, (a1 - a0) / N,
		      (m2 - m0) / N, (a2 - a0) / N,
		      (m3 - m0) / N, (a3 - a0) / N);
	/* a guard against regressions, not a tight bound */
	assert_true((m2 - m0) / N < 16384);
	for (int i = 0; i < N; i++)
		xml_stream_free(r[i].s);
	assert_int_equal(live_allocs, a0);
	free(r);
}
#endif

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conversation_whole),
		cmocka_unit_test(test_conversation_every_split),
		cmocka_unit_test(test_conversation_bytewise),
		cmocka_unit_test(test_stanza_reported_at_end_tag),
		cmocka_unit_test(test_restricted),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_not_well_formed),
		cmocka_unit_test(test_ns_separator),
		cmocka_unit_test(test_default_ns),
		cmocka_unit_test(test_limit_stanza_size),
		cmocka_unit_test(test_limit_unterminated_attr),
		cmocka_unit_test(test_limit_depth),
		cmocka_unit_test(test_limit_attrs),
		cmocka_unit_test(test_callback_stop),
		cmocka_unit_test(test_callback_stop_open_close),
		cmocka_unit_test(test_stream_close),
		cmocka_unit_test(test_reset_midway),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_inner_whole),
		cmocka_unit_test(test_inner_namespaces),
		cmocka_unit_test(test_inner_sleep),
	};
	if (argc > 1 && strcmp(argv[1], "--counting-malloc") == 0) {
#ifdef NO_MALLOC_HOOK
		/* ctest's unit.test_xml_stream.counting_malloc reports exit 77 as skipped */
		print_message("skipped: the counting malloc cannot replace a sanitizer's\n");
		return 77;
#else
		const struct CMUnitTest malloc_tests[] = {
			cmocka_unit_test(test_alloc_failures),
			cmocka_unit_test(test_idle_memory),
		};
		return cmocka_run_group_tests(malloc_tests, NULL, NULL);
#endif
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
