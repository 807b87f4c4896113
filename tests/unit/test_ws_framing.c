/* Unit tests for core/http/ws_framing.c: a whole session's output (header,
 * features, SASL success, restart, stanzas, stream error and close) framed
 * exactly, fed whole, split in two at every byte and one byte at a time;
 * attribute values holding '>', '/' and the other quote; CDATA sections,
 * comments and processing instructions inside stanzas; elements named like
 * their parent; empty elements; prefixed elements; which elements get an
 * xmlns or xmlns:stream inserted; the header's attributes in <open/>; a
 * close followed by a new stream; the headroom before each message; emit
 * refusing; output that is not ours; idle, mem and shrink; and big stanzas
 * fed in small pieces (a rescan of the held bytes on every feed would make
 * those take minutes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/http/ws_framing.h"

#define XML_DECL "<?xml version='1.0'?>"
#define STREAM_NS "http://etherx.jabber.org/streams"
#define HEADER(id)                                                                   \
	"<stream:stream xmlns='jabber:client' xmlns:stream='" STREAM_NS "' id='" id \
	"' from='example.com' version='1.0' xml:lang='en'>"
#define OPEN(id)                                                                     \
	"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='" id "' from='example.com'" \
	" version='1.0' xml:lang='en'/>"
#define CLOSE "<close xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\" />"
#define START XML_DECL HEADER("abc")

/* The messages a framer emitted, joined with '|'. */
struct sink {
	struct ws_framing *f;
	struct xbuf got;
	size_t calls;
	size_t refuse_at; /* emit returns false on this call; 0: never */
};

static bool collect(void *arg, char *msg, size_t len)
{
	struct sink *s = arg;

	/* built in the framer's buffer, after the headroom */
	assert_ptr_equal(msg, s->f->out.data + WS_FRAMING_HEADROOM);
	/* the headroom is the caller's to write (ASan checks the bounds) */
	memset(msg - WS_FRAMING_HEADROOM, 'H', WS_FRAMING_HEADROOM);
	if (s->got.len)
		assert_int_equal(xbuf_append(&s->got, "|", 1), XS_OK);
	assert_int_equal(xbuf_append(&s->got, msg, len), XS_OK);
	/* and the message is the caller's once given: the framer must not
	 * read it again */
	memset(msg, 'X', len);
	s->calls++;
	return s->calls != s->refuse_at;
}

static void sink_init(struct sink *s, struct ws_framing *f)
{
	memset(s, 0, sizeof(*s));
	s->f = f;
}

static const char *sink_text(struct sink *s)
{
	return s->got.data ? s->got.data : "";
}

/* Feeds in pieces of `piece` bytes (the first piece `first` bytes long);
 * false as soon as a feed fails. */
static bool feed_pieces(struct ws_framing *f, struct sink *s, const char *in, size_t len,
			size_t first, size_t piece)
{
	size_t off = first < len ? first : len;

	if (!ws_framing_feed(f, in, off, collect, s))
		return false;
	while (off < len) {
		size_t n = len - off < piece ? len - off : piece;
		if (!ws_framing_feed(f, in + off, n, collect, s))
			return false;
		off += n;
	}
	return true;
}

/* Frames in with a fresh framer as described; fails the test unless every
 * feed succeeds, the framer ends idle and the messages are want. */
static void check_pieces(const char *in, size_t len, size_t first, size_t piece, const char *want)
{
	struct ws_framing f;
	struct sink s;

	ws_framing_init(&f, "jabber:client");
	sink_init(&s, &f);
	assert_true(feed_pieces(&f, &s, in, len, first, piece));
	if (strcmp(sink_text(&s), want) != 0) {
		print_error("first piece %zu, then %zu\n", first, piece);
		assert_string_equal(sink_text(&s), want);
	}
	assert_true(ws_framing_idle(&f));
	ws_framing_free(&f);
	xbuf_free(&s.got);
}

/* Whole, split in two at every byte, and one byte at a time. */
static void check_every_split(const char *in, const char *want)
{
	size_t len = strlen(in);

	check_pieces(in, len, len, 1, want);
	for (size_t cut = 0; cut <= len; cut++)
		check_pieces(in, len, cut, len, want);
	check_pieces(in, len, 0, 1, want);
}

/* In pieces of `piece` bytes, some feed must fail, and every feed after. */
static void check_refused_in(const char *in, size_t len, size_t piece)
{
	struct ws_framing f;
	struct sink s;

	ws_framing_init(&f, "jabber:client");
	sink_init(&s, &f);
	if (feed_pieces(&f, &s, in, len, piece, piece)) {
		print_error("accepted in pieces of %zu: %s\n", piece, in);
		fail();
	}
	/* the connection is being closed: nothing more goes through */
	assert_false(ws_framing_feed(&f, "<iq/>", 5, collect, &s));
	ws_framing_free(&f);
	xbuf_free(&s.got);
}

/* Whole and one byte at a time. */
static void check_refused(const char *in)
{
	check_refused_in(in, strlen(in), strlen(in));
	check_refused_in(in, strlen(in), 1);
}

/* ---- a session ---- */

static const char session[] =
	START "\n"
	"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
	"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
	XML_DECL HEADER("def")
	"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>\n"
	"<iq type='result' id='1'/>"
	"<message to='a@b' type='chat'><body>x &lt; y</body></message>"
	"  \n\t<presence from='a@b/r'><priority>1</priority></presence>\n"
	"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
	"</stream:error></stream:stream>";

static const char session_want[] =
	OPEN("abc") "|"
	"<stream:features xmlns:stream='" STREAM_NS "'>"
	"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
	"<mechanism>PLAIN</mechanism></mechanisms></stream:features>|"
	"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>|"
	OPEN("def") "|"
	"<stream:features xmlns:stream='" STREAM_NS "'>"
	"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>|"
	"<iq xmlns='jabber:client' type='result' id='1'/>|"
	"<message xmlns='jabber:client' to='a@b' type='chat'><body>x &lt; y</body></message>|"
	"<presence xmlns='jabber:client' from='a@b/r'><priority>1</priority></presence>|"
	"<stream:error xmlns:stream='" STREAM_NS "'>"
	"<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>|"
	CLOSE;

static void test_session(void **state)
{
	struct ws_framing f;
	struct sink s;

	ws_framing_init(&f, "jabber:client");
	sink_init(&s, &f);
	assert_true(ws_framing_feed(&f, session, sizeof(session) - 1, collect, &s));
	assert_string_equal(sink_text(&s), session_want);
	assert_int_equal(s.calls, 10);
	assert_true(ws_framing_idle(&f));
	ws_framing_free(&f);
	xbuf_free(&s.got);
}

static void test_session_every_split(void **state)
{
	check_every_split(session, session_want);
	/* pieces of a few bytes, cutting everything in many places at once */
	for (size_t piece = 2; piece < 40; piece++)
		check_pieces(session, sizeof(session) - 1, piece, piece, session_want);
}

/* After </stream:stream> the framer is outside any stream: a new one may
 * begin, and the end tag may hold whitespace. */
static void test_close_then_new_stream(void **state)
{
	check_every_split(START
			  "<iq/></stream:stream >\n" XML_DECL HEADER("x") "<iq/></stream:stream>",
			  OPEN("abc")
			  "|<iq xmlns='jabber:client'/>|" CLOSE "|" OPEN("x")
			  "|<iq xmlns='jabber:client'/>|" CLOSE);
}

/* ---- what stanzas may hold ---- */

static void test_attribute_values(void **state)
{
	check_every_split(START
			  "<message to='a@b' note=\"it's > 1/2\">"
			  "<body a='say \"hi\" />'>x</body></message>"
			  "<iq id='/>' type=\"a>b\"/>",
			  OPEN("abc")
			  "|<message xmlns='jabber:client' to='a@b' note=\"it's > 1/2\">"
			  "<body a='say \"hi\" />'>x</body></message>"
			  "|<iq xmlns='jabber:client' id='/>' type=\"a>b\"/>");
}

static void test_cdata(void **state)
{
	check_every_split(START
			  "<message><body><![CDATA[<a> ]] ]]] </message> ]]]></body></message>"
			  "<iq/>",
			  OPEN("abc")
			  "|<message xmlns='jabber:client'>"
			  "<body><![CDATA[<a> ]] ]]] </message> ]]]></body></message>"
			  "|<iq xmlns='jabber:client'/>");
}

static void test_comments_and_pis(void **state)
{
	/* kept inside a stanza, dropped between them */
	check_every_split(START
			  "<!-- a > b -- --><?pi x?>"
			  "<message><!-- </message> - -> --><?pi ? > </message>?>t</message>",
			  OPEN("abc")
			  "|<message xmlns='jabber:client'>"
			  "<!-- </message> - -> --><?pi ? > </message>?>t</message>");
}

static void test_nested_same_name(void **state)
{
	check_every_split(START
			  "<message><message><message/></message>"
			  "<message><body/></message></message><iq/>",
			  OPEN("abc")
			  "|<message xmlns='jabber:client'><message><message/></message>"
			  "<message><body/></message></message>"
			  "|<iq xmlns='jabber:client'/>");
}

static void test_empty_elements(void **state)
{
	check_every_split(START
			  "<presence/><presence ><x xmlns='y'/><c/></presence>"
			  "<iq type='get' id='2' /><iq\n type='get'\n>\n<q/></iq\n>",
			  OPEN("abc")
			  "|<presence xmlns='jabber:client'/>"
			  "|<presence xmlns='jabber:client' ><x xmlns='y'/><c/></presence>"
			  "|<iq xmlns='jabber:client' type='get' id='2' />"
			  "|<iq xmlns='jabber:client'\n type='get'\n>\n<q/></iq\n>");
}

static void test_other_prefixes(void **state)
{
	check_every_split(START
			  "<foo:bar xmlns:foo='urn:x'><foo:baz/></foo:bar>"
			  "<db:result from='a' to='b'>key</db:result><sm:r/>",
			  OPEN("abc")
			  "|<foo:bar xmlns:foo='urn:x'><foo:baz/></foo:bar>"
			  "|<db:result from='a' to='b'>key</db:result>"
			  "|<sm:r/>");
}

/* ---- namespaces ---- */

static void test_own_xmlns(void **state)
{
	check_every_split(START
			  "<iq xmlns='jabber:server' type='result'/>"
			  "<iq type='result' xmlns=\"jabber:client\"/>"
			  "<iq xmlns = 'urn:a'><x/></iq>",
			  OPEN("abc")
			  "|<iq xmlns='jabber:server' type='result'/>"
			  "|<iq type='result' xmlns=\"jabber:client\"/>"
			  "|<iq xmlns = 'urn:a'><x/></iq>");
}

static void test_not_a_default_xmlns(void **state)
{
	/* xmlns:foo binds a prefix; xmlnsx is no declaration; and what looks
	 * like one inside a value is text */
	check_every_split(START
			  "<iq xmlns:foo='urn:foo' type='result'/>"
			  "<iq xmlnsx='1'/>"
			  "<message note=\" xmlns='x'\"><body xmlns='y'/></message>",
			  OPEN("abc")
			  "|<iq xmlns='jabber:client' xmlns:foo='urn:foo' type='result'/>"
			  "|<iq xmlns='jabber:client' xmlnsx='1'/>"
			  "|<message xmlns='jabber:client' note=\" xmlns='x'\">"
			  "<body xmlns='y'/></message>");
}

static void test_stream_prefix(void **state)
{
	/* declared already (either quote), or not: a default xmlns is no
	 * xmlns:stream */
	check_every_split(START
			  "<stream:features xmlns:stream='" STREAM_NS "'><x/></stream:features>"
			  "<stream:error xmlns:stream=\"" STREAM_NS "\"/>"
			  "<stream:features xmlns='jabber:client'/>",
			  OPEN("abc")
			  "|<stream:features xmlns:stream='" STREAM_NS "'><x/></stream:features>"
			  "|<stream:error xmlns:stream=\"" STREAM_NS "\"/>"
			  "|<stream:features xmlns:stream='" STREAM_NS "' xmlns='jabber:client'/>");
}

static void test_open_attributes(void **state)
{
	/* any quotes, any order, any whitespace: declarations go, the rest
	 * stays as written */
	check_every_split("<stream:stream\tto=\"x\" xmlns=\"jabber:client\"  version=\"1.0\"\n"
			  "xmlns:stream=\"" STREAM_NS "\" xmlns:db='jabber:server:dialback'"
			  " id='a>/'>",
			  "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'"
			  " to=\"x\" version=\"1.0\" id='a>/'/>");
	check_every_split("<stream:stream xmlns='jabber:client'>",
			  "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
}

static void test_stream_namespace(void **state)
{
	struct ws_framing f;
	struct sink s;
	static const char in[] = START "<iq/>";

	ws_framing_init(&f, "urn:test");
	sink_init(&s, &f);
	assert_true(ws_framing_feed(&f, in, sizeof(in) - 1, collect, &s));
	assert_string_equal(sink_text(&s), OPEN("abc") "|<iq xmlns='urn:test'/>");
	ws_framing_free(&f);
	xbuf_free(&s.got);
}

/* ---- the caller's side ---- */

static void test_headroom(void **state)
{
	struct ws_framing f;
	struct sink s;
	static const char in[] = START "<iq/>";

	/* a zeroed struct after init; collect() checks where each message
	 * lies and writes its headroom */
	memset(&f, 0x5a, sizeof(f));
	ws_framing_init(&f, "jabber:client");
	assert_int_equal(ws_framing_mem(&f), 0);
	sink_init(&s, &f);
	assert_true(ws_framing_feed(&f, in, sizeof(in) - 1, collect, &s));
	assert_int_equal(s.calls, 2);
	/* the headroom was written over, the framer still works */
	assert_true(ws_framing_feed(&f, "<iq/>", 5, collect, &s));
	assert_string_equal(sink_text(&s), OPEN("abc")
			    "|<iq xmlns='jabber:client'/>|<iq xmlns='jabber:client'/>");
	ws_framing_free(&f);
	ws_framing_free(&f);
	xbuf_free(&s.got);
}

static void test_emit_refuses(void **state)
{
	struct ws_framing f;
	struct sink s;
	static const char in[] = START "<iq/><iq id='2'/><iq/>";

	ws_framing_init(&f, "jabber:client");
	sink_init(&s, &f);
	s.refuse_at = 2;
	assert_false(ws_framing_feed(&f, in, sizeof(in) - 1, collect, &s));
	assert_int_equal(s.calls, 2);
	assert_false(ws_framing_feed(&f, "<iq/>", 5, collect, &s));
	assert_false(ws_framing_feed(&f, NULL, 0, collect, &s));
	assert_int_equal(s.calls, 2);
	ws_framing_free(&f);
	xbuf_free(&s.got);
}

static void test_not_ours(void **state)
{
	check_refused("</a>");
	check_refused("</stream:stream>");
	check_refused(XML_DECL "<message/>");
	check_refused("<1");
	check_refused("<stream:stream xmlns='jabber:client'/>");
	check_refused(START "<1/>");
	check_refused(START "< iq/>");
	check_refused(START "<message><1/></message>");
	check_refused(START "</message>");
	check_refused(START "<iq/></1>");
	check_refused(START "<!DOCTYPE x>");
	check_refused(START "<iq type=result/>");
	check_refused(START "<iq type='a'id='b'/>");
	check_refused(START "<iq a<b='1'/>");
	check_refused(START "<iq/></stream:stream></stream:stream>");
	check_refused(START "<stream:stream xmlns='jabber:client'/>");
}

/* ---- memory ---- */

static void test_idle_mem_shrink(void **state)
{
	struct ws_framing f;
	struct sink s;
	static const char start[] = START;

	ws_framing_init(&f, "jabber:client");
	sink_init(&s, &f);
	assert_true(ws_framing_idle(&f));
	assert_int_equal(ws_framing_mem(&f), 0);
	ws_framing_shrink(&f);
	assert_true(ws_framing_feed(&f, NULL, 0, collect, &s));
	assert_int_equal(ws_framing_mem(&f), 0);

	/* a small buffer is kept for the next message, and given back on
	 * demand */
	assert_true(ws_framing_feed(&f, start, sizeof(start) - 1, collect, &s));
	assert_true(ws_framing_idle(&f));
	assert_true(ws_framing_mem(&f) > 0);
	ws_framing_shrink(&f);
	assert_int_equal(ws_framing_mem(&f), 0);
	assert_true(ws_framing_idle(&f));

	/* half an element is held, shrink or not */
	assert_true(ws_framing_feed(&f, "<message to='a'><bo", 19, collect, &s));
	assert_false(ws_framing_idle(&f));
	size_t held = ws_framing_mem(&f);
	assert_true(held > 0);
	ws_framing_shrink(&f);
	assert_int_equal(ws_framing_mem(&f), held);
	assert_true(ws_framing_feed(&f, "dy>x</body></message>", 21, collect, &s));
	assert_true(ws_framing_idle(&f));
	assert_string_equal(sink_text(&s), OPEN("abc")
			    "|<message xmlns='jabber:client' to='a'><body>x</body></message>");

	/* half a declaration between elements is not idle either */
	assert_true(ws_framing_feed(&f, "<?xml ver", 9, collect, &s));
	assert_false(ws_framing_idle(&f));
	assert_true(ws_framing_feed(&f, "sion='1.0'?>\n", 13, collect, &s));
	assert_true(ws_framing_idle(&f));
	assert_int_equal(s.calls, 2);

	/* a big message's buffer is not kept once it is out */
	struct xbuf big = { 0 };
	xbuf_append_str(&big, "<message><body>");
	for (int i = 0; i < 10000; i++)
		xbuf_append(&big, "y", 1);
	xbuf_append_str(&big, "</body></message>");
	assert_true(ws_framing_feed(&f, big.data, big.len, collect, &s));
	assert_int_equal(s.calls, 3);
	assert_true(ws_framing_idle(&f));
	assert_int_equal(ws_framing_mem(&f), 0);

	ws_framing_free(&f);
	assert_int_equal(ws_framing_mem(&f), 0);
	ws_framing_free(&f);
	xbuf_free(&big);
	xbuf_free(&s.got);
}

/* A stanza of body bytes (made of unit, repeated) fed in small pieces:
 * the held part must not be scanned again on every feed. */
static void check_big(const char *unit, size_t total, size_t piece)
{
	struct xbuf in = { 0 }, want = { 0 }, body = { 0 };
	size_t n = strlen(unit);

	for (size_t i = 0; i + n <= total; i += n)
		assert_int_equal(xbuf_append(&body, unit, n), XS_OK);
	xbuf_append_str(&in, START "<message to='a@b'><body>");
	xbuf_append(&in, body.data, body.len);
	xbuf_append_str(&in, "</body></message><iq/>");
	xbuf_append_str(&want, OPEN("abc") "|<message xmlns='jabber:client' to='a@b'><body>");
	xbuf_append(&want, body.data, body.len);
	xbuf_append_str(&want, "</body></message>|<iq xmlns='jabber:client'/>");
	check_pieces(in.data, in.len, piece, piece, want.data);
	xbuf_free(&in);
	xbuf_free(&want);
	xbuf_free(&body);
}

static void test_big_stanza_in_pieces(void **state)
{
	check_big("x", 100 * 1024, 1);
	/* every state held across feeds, many times over */
	check_big("<b a='1/>' c=\"'\">t&amp;<![CDATA[<x>]]]><!--c--><?p?></b>", 1024 * 1024, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_session_every_split),
		cmocka_unit_test(test_close_then_new_stream),
		cmocka_unit_test(test_attribute_values),
		cmocka_unit_test(test_cdata),
		cmocka_unit_test(test_comments_and_pis),
		cmocka_unit_test(test_nested_same_name),
		cmocka_unit_test(test_empty_elements),
		cmocka_unit_test(test_other_prefixes),
		cmocka_unit_test(test_own_xmlns),
		cmocka_unit_test(test_not_a_default_xmlns),
		cmocka_unit_test(test_stream_prefix),
		cmocka_unit_test(test_open_attributes),
		cmocka_unit_test(test_stream_namespace),
		cmocka_unit_test(test_headroom),
		cmocka_unit_test(test_emit_refuses),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_idle_mem_shrink),
		cmocka_unit_test(test_big_stanza_in_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
