/* Unit tests for the idle sleep of core/xml/xml_stream.c: freeing the expat
 * parser between stanzas and rebuilding it on demand.
 *
 * - c2s and s2s conversations put to sleep after every complete stanza,
 *   with each following stanza split at every byte boundary (the first feed
 *   wakes the parser), and fed one byte at a time with a sleep attempted
 *   after every byte: the callback log and the serialized stanzas must be
 *   those of a parser that never slept;
 * - header-declared default namespace and prefixes (xmlns:db) after a wake;
 * - sleep refused mid-stanza, mid-token, before the header, after an error,
 *   after the close;
 * - limits after a wake: max_stanza_size trips at exactly the same byte as
 *   without sleeping (bytes fed before the sleep still count, the replayed
 *   header does not), max_depth and max_attrs unchanged;
 * - restricted and not-well-formed XML after a wake: same error, same error
 *   text (line and column included) as without sleeping;
 * - stream close after a wake, also with an unusual root prefix;
 * - reset of a sleeping parser, then a new stream;
 * - with a counting malloc (built only without sanitizers, which do not allow
 *   replacing malloc; ASan checks leaks there instead): memory awake vs
 *   asleep, the cost of a wake, and a pass failing every allocation of a
 *   wake in turn;
 * - parsers lent through a pool (xml_stream_use_pool): two streams taking
 *   turns with one pool, one of them split at every byte boundary while the
 *   other feeds between the halves, and both fed byte by byte in turn, must
 *   log what a stream alone logs, content as received included; errors say
 *   the same line and column as without a pool after another stream moved
 *   the lent parser's lines on; streams whose headers bind a prefix
 *   differently never share a parser; a parser that has read retire_bytes
 *   is not taken back; a stream that closes or fails keeps its parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "core/base/xbuf.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xml/xml_write.h"

/* STANZA lines with the qualified name, serialized against the default
 * namespace of the moment: see rec_stanza(). */
#define REC_STANZA_QUALIFIED
#include "xml_fixture.h"

/* Puts the stream to sleep, which must work here. */
static void must_sleep(struct rec *r)
{
	assert_int_equal(xml_stream_sleep(r->s), XS_OK);
	assert_true(xml_stream_is_asleep(r->s));
}

/* ---- conversations: a header, then pieces each ending just after a
 * stanza's end tag (whitespace between stanzas starts the next piece) ---- */

struct conv {
	const char *name;
	const char *header;
	const char *pieces[8];
	const char *expected;   /* the log, or NULL to compare with a run only */
};

#define C2S_HEADER "<?xml version='1.0'?>\n" \
	"<stream:stream to='example.com' xmlns='jabber:client'\n" \
	"  xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>"

static const struct conv c2s = {
	"c2s",
	C2S_HEADER,
	{
		"\n  <message to='juliet@example.com/balcony' type='chat' id='m1'>"
		"<body>Wherefore &amp; &lt;3 &#x263A;</body>"
		"<body xml:lang='de'>Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x98\x80</body></message>",
		"\r\n  <iq type='get' id='r1'><query xmlns='jabber:iq:roster'>"
		"<item jid='a@b' name=\"A &quot;q&quot;\"/></query></iq>",
		"\n  <presence>\n    <show>away</show>\n"
		"    <status>Out <![CDATA[<for> & lunch]]>&#13;&#10;l2\r\nl3</status></presence>",
		"\n  <message to='romeo@example.net' id='m2'>"
		"<x:foo xmlns:x='urn:example:foo' x:attr='1'><x:bar>t</x:bar>"
		"<baz xmlns='urn:example:baz'><back xmlns=''/></baz></x:foo></message>",
		"   <presence type='unavailable'/>",
		"\n</stream:stream>",
		NULL,
	},
	"OPEN {http://etherx.jabber.org/streams}stream default=jabber:client"
	" to=example.com version=1.0 {http://www.w3.org/XML/1998/namespace}lang=en\n"
	"STANZA {jabber:client}message <message to=\"juliet@example.com/balcony\" type=\"chat\""
	" id=\"m1\"><body>Wherefore &amp; &lt;3 \xe2\x98\xba</body>"
	"<body xml:lang=\"de\">Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x98\x80</body></message>\n"
	"STANZA {jabber:client}iq <iq type=\"get\" id=\"r1\"><query xmlns=\"jabber:iq:roster\">"
	"<item jid=\"a@b\" name=\"A &quot;q&quot;\"/></query></iq>\n"
	"STANZA {jabber:client}presence <presence>\n    <show>away</show>\n"
	"    <status>Out &lt;for&gt; &amp; lunch&#13;\nl2\nl3</status></presence>\n"
	"STANZA {jabber:client}message <message to=\"romeo@example.net\" id=\"m2\">"
	"<foo xmlns=\"urn:example:foo\" xmlns:a0=\"urn:example:foo\" a0:attr=\"1\">"
	"<bar>t</bar><baz xmlns=\"urn:example:baz\"><back xmlns=\"\"/></baz></foo></message>\n"
	"STANZA {jabber:client}presence <presence type=\"unavailable\"/>\n"
	"CLOSE\n",
};

/* Server to server: a default namespace, the stream prefix, the dialback
 * prefix used by elements and by an attribute after the wake, and an
 * explicit (legal) binding of the xml prefix. */
#define S2S_HEADER "<stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' " \
	"xmlns:db='jabber:server:dialback' " \
	"xmlns:xml='http://www.w3.org/XML/1998/namespace' " \
	"from='a.example' to='b.example' version='1.0'>"

static const struct conv s2s = {
	"s2s",
	S2S_HEADER,
	{
		"<db:result from='a.example' to='b.example'>0123abcd</db:result>",
		"\n<db:verify from='b.example' to='a.example' id='s1' type='valid'/>",
		"<message from='x@a.example' to='y@b.example' db:hint='1' xml:lang='fr'>"
		"<body>salut</body><db:extra><inner/></db:extra></message>",
		"<iq from='a.example' to='b.example' type='get' id='p'>"
		"<ping xmlns='urn:xmpp:ping'/></iq>",
		"</stream:stream>",
		NULL,
	},
	"OPEN {http://etherx.jabber.org/streams}stream default=jabber:server"
	" from=a.example to=b.example version=1.0\n"
	"STANZA {jabber:server:dialback}result <result xmlns=\"jabber:server:dialback\""
	" from=\"a.example\" to=\"b.example\">0123abcd</result>\n"
	"STANZA {jabber:server:dialback}verify <verify xmlns=\"jabber:server:dialback\""
	" from=\"b.example\" to=\"a.example\" id=\"s1\" type=\"valid\"/>\n"
	"STANZA {jabber:server}message <message from=\"x@a.example\" to=\"y@b.example\""
	" xmlns:a2=\"jabber:server:dialback\" a2:hint=\"1\" xml:lang=\"fr\"><body>salut</body>"
	"<extra xmlns=\"jabber:server:dialback\"><inner xmlns=\"jabber:server\"/></extra></message>\n"
	"STANZA {jabber:server}iq <iq from=\"a.example\" to=\"b.example\" type=\"get\" id=\"p\">"
	"<ping xmlns=\"urn:xmpp:ping\"/></iq>\n"
	"CLOSE\n",
};

/* An unusual root prefix: the closing tag must match it after a wake. */
static const struct conv odd_root = {
	"odd-root",
	"<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>",
	{ "<presence/>", " <message><body>x</body></message>", "</s:stream>", NULL },
	"OPEN {http://etherx.jabber.org/streams}stream default=jabber:client\n"
	"STANZA {jabber:client}presence <presence/>\n"
	"STANZA {jabber:client}message <message><body>x</body></message>\n"
	"CLOSE\n",
};

static size_t n_pieces(const struct conv *c)
{
	size_t n = 0;
	while (c->pieces[n])
		n++;
	return n;
}

/* The reference: everything in one feed, never asleep. */
static void run_awake(const struct conv *c, struct rec *r)
{
	rec_init(r, NULL);
	assert_int_equal(feed(r, c->header), XML_STREAM_OK);
	for (size_t i = 0; c->pieces[i]; i++)
		assert_int_equal(feed(r, c->pieces[i]), XML_STREAM_OK);
}

static void check_same(const struct conv *c, const struct rec *ref, const struct rec *r,
		       size_t piece, size_t split)
{
	if (strcmp(rec_log(r), rec_log(ref)) != 0 ||
	    strcmp(r->stanzas.data ? r->stanzas.data : "",
		   ref->stanzas.data ? ref->stanzas.data : "") != 0) {
		print_error("%s: piece %zu split at %zu\n", c->name, piece, split);
		assert_string_equal(rec_log(r), rec_log(ref));
	}
	assert_int_equal(r->n_open, 1);
}

/* Sleep after the header and after every piece; piece k is fed in two parts
 * split at every byte boundary, the first one waking the parser. */
static void every_split(const struct conv *c)
{
	struct rec ref;
	run_awake(c, &ref);
	if (c->expected)
		assert_string_equal(rec_log(&ref), c->expected);

	size_t np = n_pieces(c);
	int runs = 0;
	for (size_t k = 0; k < np; k++) {
		size_t len = strlen(c->pieces[k]);
		for (size_t i = 1; i < len; i++) {
			struct rec r;
			rec_init(&r, NULL);
			assert_int_equal(feed(&r, c->header), XML_STREAM_OK);
			must_sleep(&r);
			for (size_t j = 0; j < np; j++) {
				const char *p = c->pieces[j];
				size_t at = j == k ? i : strlen(p);
				assert_int_equal(feed_n(&r, p, at), XML_STREAM_OK);
				assert_false(xml_stream_is_asleep(r.s));
				if (at < strlen(p))
					assert_int_equal(feed(&r, p + at), XML_STREAM_OK);
				if (c->pieces[j + 1])
					must_sleep(&r);
			}
			check_same(c, &ref, &r, k, i);
			/* the last piece closed the stream: no more sleeping */
			assert_int_equal(xml_stream_sleep(r.s), XS_AGAIN);
			rec_done(&r);
			runs++;
		}
	}
	print_message("%s: %d split runs, each sleeping %zu times\n", c->name, runs, np);
	rec_done(&ref);
}

/* One byte at a time, trying to sleep after every byte: it must succeed
 * exactly at stanza boundaries (not inside a trailing CR), and nothing may
 * change. */
static void bytewise_sleepy(const struct conv *c)
{
	struct rec ref, r;
	run_awake(c, &ref);
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, c->header), XML_STREAM_OK);

	int slept = 0, stanzas_before = 0;
	for (size_t k = 0; c->pieces[k]; k++) {
		const char *p = c->pieces[k];
		for (size_t i = 0; p[i]; i++) {
			assert_int_equal(feed_n(&r, p + i, 1), XML_STREAM_OK);
			enum xs st = xml_stream_sleep(r.s);
			bool stanza_done = r.n_stanzas > stanzas_before;
			stanzas_before = r.n_stanzas;
			if (st == XS_OK)
				slept++;
			/* right after an end tag the parser is at a boundary */
			if (stanza_done)
				assert_int_equal(st, XS_OK);
			if (p[i] == '\r')
				assert_int_equal(st, XS_AGAIN);
		}
	}
	check_same(c, &ref, &r, 0, 0);
	print_message("%s bytewise: slept %d times\n", c->name, slept);
	assert_true(slept >= (int)n_pieces(c) - 1);
	rec_done(&r);
	rec_done(&ref);
}

static void test_every_split_c2s(void **state)
{
	every_split(&c2s);
	bytewise_sleepy(&c2s);
}

static void test_every_split_s2s(void **state)
{
	every_split(&s2s);
	bytewise_sleepy(&s2s);
}

/* The header's default namespace and its prefixes after a wake, spelled
 * out rather than compared with a run. */
static void test_header_namespaces_after_wake(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, S2S_HEADER), XML_STREAM_OK);
	assert_string_equal(xml_stream_default_ns(r.s), "jabber:server");
	/* the header's attributes went to stream_open; the node is not kept */
	assert_non_null(strstr(rec_log(&r), "from=a.example"));
	must_sleep(&r);
	/* while asleep the default namespace is still there */
	assert_string_equal(xml_stream_default_ns(r.s), "jabber:server");
	assert_true(xml_stream_header_seen(r.s));

	xbuf_free(&r.log);
	assert_int_equal(feed(&r, "<db:result to='b' from='a' db:x='y'>k</db:result>"),
			 XML_STREAM_OK);
	assert_string_equal(rec_log(&r),
			    "STANZA {jabber:server:dialback}result <result xmlns=\"jabber:server:dialback\""
			    " to=\"b\" from=\"a\" xmlns:a2=\"jabber:server:dialback\" a2:x=\"y\">k</result>\n");
	must_sleep(&r);
	xbuf_free(&r.log);
	assert_int_equal(feed(&r, "<message><body>hi</body></message>"), XML_STREAM_OK);
	assert_string_equal(rec_log(&r),
			    "STANZA {jabber:server}message <message><body>hi</body></message>\n");
	/* an undeclared prefix is still an error after the wake */
	must_sleep(&r);
	assert_int_equal(feed(&r, "<dbx:result/>"), XML_STREAM_NOT_WELL_FORMED);
	rec_done(&r);

	/* a header that declares no default namespace: stanzas stay in none */
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"),
			 XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "<message/>"), XML_STREAM_OK);
	assert_non_null(strstr(rec_log(&r), "STANZA {}message <message/>\n"));
	rec_done(&r);

	/* namespace URIs that need escaping in the replayed tag */
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'"
				  " xmlns=\"urn:a'b&amp;c&#9;d&lt;\">"),
			 XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "<m/>"), XML_STREAM_OK);
	assert_non_null(strstr(rec_log(&r), "STANZA {urn:a'b&c\td<}m <m/>\n"));
	rec_done(&r);
}

static void test_odd_root_and_close(void **state)
{
	every_split(&odd_root);

	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, C2S_HEADER "<presence/>\n"), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "</stream:stream>"), XML_STREAM_OK);
	assert_false(xml_stream_is_asleep(r.s));
	assert_non_null(strstr(rec_log(&r), "CLOSE\n"));
	assert_int_equal(feed(&r, "<presence/>"), XML_STREAM_CLOSED);
	assert_int_equal(xml_stream_sleep(r.s), XS_AGAIN);
	rec_done(&r);

	/* the root's name is taken from expat's buffer: also when the header
	 * arrived one byte at a time */
	rec_init(&r, NULL);
	for (const char *p = odd_root.header; *p; p++)
		assert_int_equal(feed_n(&r, p, 1), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "<presence/>"), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "</s:stream>"), XML_STREAM_OK);
	assert_string_equal(rec_log(&r),
			    "OPEN {http://etherx.jabber.org/streams}stream default=jabber:client\n"
			    "STANZA {jabber:client}presence <presence/>\n"
			    "CLOSE\n");
	rec_done(&r);

	/* a close tag that does not match the root is still caught */
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, C2S_HEADER), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "</stream:streams>"), XML_STREAM_NOT_WELL_FORMED);
	rec_done(&r);
}

/* ---- refusals ---- */

static void test_sleep_refused(void **state)
{
	struct rec r;

	/* before and during the header */
	rec_init(&r, NULL);
	assert_int_equal(xml_stream_sleep(r.s), XS_AGAIN);
	assert_int_equal(feed(&r, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "),
			 XML_STREAM_OK);
	assert_int_equal(xml_stream_sleep(r.s), XS_AGAIN);
	assert_false(xml_stream_is_asleep(r.s));
	assert_int_equal(feed(&r, "xmlns:stream='http://etherx.jabber.org/streams'>"), XML_STREAM_OK);
	must_sleep(&r);
	/* sleeping twice is fine; waking twice too */
	assert_int_equal(xml_stream_sleep(r.s), XS_OK);
	assert_int_equal(xml_stream_wake(r.s), XS_OK);
	assert_false(xml_stream_is_asleep(r.s));
	assert_int_equal(xml_stream_wake(r.s), XS_OK);

	/* mid-stanza: open element, text, a partial child tag */
	static const char *const partial[] = {
		"<message>", "<message><body>hi", "<message><bo", "<message><body>hi</body>",
		"<mess", "<message to='a", "<message/", "\r", "  \r", "&am", "<", "\xc3",
		"<message><body>\xc3",
		/* a CDATA section directly under the root is expat's state: a
		 * fresh (or lent) parser would read what follows as content */
		"<![CDATA[", "<![CDATA[ <presence/> ", "<![CDATA[ ]]",
	};
	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
		assert_int_equal(feed(&r, partial[i]), XML_STREAM_OK);
		if (xml_stream_sleep(r.s) != XS_AGAIN) {
			print_error("slept after %s\n", partial[i]);
			fail();
		}
		assert_false(xml_stream_is_asleep(r.s));
		/* start over for the next case */
		assert_int_equal(xml_stream_reset(r.s), XS_OK);
		assert_int_equal(feed(&r, C2S_HEADER), XML_STREAM_OK);
	}
	rec_done(&r);

	/* after a refused sleep, the stanza continues and then sleeping works */
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, C2S_HEADER "<message><body>a"), XML_STREAM_OK);
	assert_int_equal(xml_stream_sleep(r.s), XS_AGAIN);
	assert_int_equal(feed(&r, "b</body></message>"), XML_STREAM_OK);
	assert_non_null(strstr(rec_log(&r), "<body>ab</body>"));
	must_sleep(&r);
	/* text directly under the root and whitespace are a clean boundary */
	assert_int_equal(feed(&r, "\n\t some text &amp; more "), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "<![CDATA[ x"), XML_STREAM_OK);
	assert_int_equal(xml_stream_sleep(r.s), XS_AGAIN);
	assert_int_equal(feed(&r, " ]]>"), XML_STREAM_OK);
	must_sleep(&r);
	rec_done(&r);

	/* after an error (sticky, also across the refused sleep) */
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, C2S_HEADER "<a></b>"), XML_STREAM_NOT_WELL_FORMED);
	assert_int_equal(xml_stream_sleep(r.s), XS_AGAIN);
	assert_int_equal(feed(&r, "<presence/>"), XML_STREAM_NOT_WELL_FORMED);
	rec_done(&r);
}

/* ---- limits ---- */

/* Feeds `tail` one byte at a time; returns how many bytes were accepted
 * before the first error (which must be POLICY_VIOLATION), or -1. */
static long bytes_until_limit(struct rec *r, const char *tail)
{
	for (size_t i = 0; tail[i]; i++) {
		enum xml_stream_err e = feed_n(r, tail + i, 1);
		if (e != XML_STREAM_OK) {
			assert_int_equal(e, XML_STREAM_POLICY_VIOLATION);
			return (long)i;
		}
	}
	return -1;
}

static void test_limits_after_wake(void **state)
{
	enum { LIM = 200 };
	const struct xml_stream_limits lim = {
		.max_stanza_size = LIM, .max_depth = 3, .max_attrs = 5, /* the header has 5 */
	};
	/* whitespace before the sleep belongs to the next stanza's budget */
	static const char ws[] = "\n   \n";
	char big[1024];
	memset(big, 'x', sizeof(big));
	memcpy(big, "<message><body>", 15);
	big[sizeof(big) - 1] = '\0';
	char unterminated[1024];
	memset(unterminated, 'y', sizeof(unterminated));
	memcpy(unterminated, "<message to='", 13);
	unterminated[sizeof(unterminated) - 1] = '\0';
	const char *tails[] = { big, unterminated };

	for (int t = 0; t < 2; t++) {
		long at[3];
		for (int mode = 0; mode < 3; mode++) {
			/* 0 never asleep, 1 asleep before the whitespace,
			 * 2 asleep after it */
			struct rec r;
			rec_init(&r, &lim);
			assert_int_equal(feed(&r, C2S_HEADER "<presence/>"), XML_STREAM_OK);
			if (mode == 1)
				must_sleep(&r);
			assert_int_equal(feed(&r, ws), XML_STREAM_OK);
			if (mode == 2)
				must_sleep(&r);
			at[mode] = bytes_until_limit(&r, tails[t]);
			assert_true(strstr(xml_stream_err_text(r.s), "larger than") != NULL);
			rec_done(&r);
		}
		print_message("limit %d: tail %d refused after %ld/%ld/%ld bytes\n", LIM, t, at[0],
			      at[1], at[2]);
		/* exactly LIM bytes since the end of <presence/>, whitespace
		 * included, the replayed header not */
		assert_int_equal(at[0], LIM - (long)(sizeof(ws) - 1));
		assert_int_equal(at[1], at[0]);
		assert_int_equal(at[2], at[0]);
	}

	/* a stanza of exactly LIM bytes (with the whitespace) passes after a
	 * wake, one byte more does not */
	for (int extra = 0; extra < 2; extra++) {
		struct rec r;
		rec_init(&r, &lim);
		assert_int_equal(feed(&r, C2S_HEADER "<presence/>" "\n   \n"), XML_STREAM_OK);
		must_sleep(&r);
		char st[LIM + 2];
		size_t n = LIM - 5 + (size_t)extra;
		memset(st, 'z', n);
		memcpy(st, "<message><body>", 15);
		memcpy(st + n - 17, "</body></message>", 17);
		enum xml_stream_err e = feed_n(&r, st, n);
		assert_int_equal(e, extra ? XML_STREAM_POLICY_VIOLATION : XML_STREAM_OK);
		assert_int_equal(r.n_stanzas, 2 - extra);
		if (!extra) {
			/* and the next stanza has its full budget again */
			must_sleep(&r);
			memset(st, 'z', LIM);
			memcpy(st, "<message><body>", 15);
			memcpy(st + LIM - 17, "</body></message>", 17);
			assert_int_equal(feed_n(&r, st, LIM), XML_STREAM_OK);
			assert_int_equal(r.n_stanzas, 3);
		}
		rec_done(&r);
	}

	/* depth and attribute limits count the stanza as before */
	struct rec r;
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, C2S_HEADER), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "<a><b><c/></b></a>"), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "<a b='1' c='2' d='3' f='4' xmlns:e='u'/>"), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "<a><b><c><d/></c></b></a>"), XML_STREAM_POLICY_VIOLATION);
	rec_done(&r);
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, C2S_HEADER), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "<a b='1' c='2' d='3' e='4' f='5' g='6'/>"),
			 XML_STREAM_POLICY_VIOLATION);
	rec_done(&r);
}

/* ---- errors after a wake: same code and same text as never asleep ---- */

/* Feeds `bad` to ref and to r: both must fail with `want` and the same
 * error text (line and column included) and have logged the same. */
static void expect_same_error(struct rec *ref, const char *ref_name, struct rec *r,
			      const char *r_name, const char *bad, enum xml_stream_err want)
{
	enum xml_stream_err e1 = feed(ref, bad), e2 = feed(r, bad);
	if (e1 != want || e2 != want || strcmp(xml_stream_err_text(ref->s), xml_stream_err_text(r->s))) {
		print_error("%s: %s %s (%s), %s %s (%s)\n", bad, ref_name, xml_stream_err_name(e1),
			    xml_stream_err_text(ref->s), r_name, xml_stream_err_name(e2),
			    xml_stream_err_text(r->s));
		fail();
	}
	assert_string_equal(rec_log(ref), rec_log(r));
}

static void same_error(const char *before, const char *bad, enum xml_stream_err want)
{
	struct rec a, b;
	rec_init(&a, NULL);
	rec_init(&b, NULL);
	assert_int_equal(feed(&a, before), XML_STREAM_OK);
	assert_int_equal(feed(&b, before), XML_STREAM_OK);
	must_sleep(&b);
	expect_same_error(&a, "awake", &b, "after wake", bad, want);
	/* sticky */
	assert_int_equal(feed(&b, "<presence/>"), want);
	rec_done(&a);
	rec_done(&b);
}

static void test_errors_after_wake(void **state)
{
	static const char *const before[] = {
		C2S_HEADER,                                   /* header on 3 lines */
		C2S_HEADER "\n<presence/>",                   /* a stanza on line 4 */
		C2S_HEADER "<presence/>  ",                   /* same line as the header's end */
		"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", /* one line */
	};
	for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
		same_error(before[i], "<?foo bar?>", XML_STREAM_RESTRICTED_XML);
		same_error(before[i], "  <?xml version='1.0'?>", XML_STREAM_RESTRICTED_XML);
		same_error(before[i], "<message><!-- c --></message>", XML_STREAM_RESTRICTED_XML);
		same_error(before[i], "\n<message/><!DOCTYPE x>", XML_STREAM_NOT_WELL_FORMED);
		same_error(before[i], "<message>&lol;</message>", XML_STREAM_NOT_WELL_FORMED);
		same_error(before[i], "<message>\n</iq>", XML_STREAM_NOT_WELL_FORMED);
		same_error(before[i], "<message>\xc3\x28</message>", XML_STREAM_NOT_WELL_FORMED);
	}
	/* the text says where */
	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, C2S_HEADER "\n<presence/>"), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(feed(&r, "<?foo?>"), XML_STREAM_RESTRICTED_XML);
	assert_non_null(strstr(xml_stream_err_text(r.s), "line 4 column 11"));
	rec_done(&r);
}

/* ---- parsers lent through a pool ---- */

static void pooled_init(struct rec *r, struct xml_parser_pool *pool)
{
	rec_init(r, NULL);
	xml_stream_use_pool(r->s, pool);
}

static void check_same_inners(const struct conv *c, const struct rec *ref, const struct rec *r,
			      size_t piece, size_t split)
{
	check_same(c, ref, r, piece, split);
	if (strcmp(rec_inners(r), rec_inners(ref)) != 0) {
		print_error("%s: piece %zu split at %zu\n", c->name, piece, split);
		assert_string_equal(rec_inners(r), rec_inners(ref));
	}
}

/* Streams a and b with one pool.  Piece k of a is split at every byte
 * boundary, and b's piece goes in between the two halves: b borrows the
 * parser a gave back, or builds its own while a holds one mid-stanza.  After
 * every piece that ends between stanzas both streams are without a parser
 * and the pool holds one. */
static void pooled_split(const struct conv *c)
{
	struct rec ref;
	run_awake(c, &ref);
	size_t np = n_pieces(c);
	int runs = 0;
	for (size_t k = 0; k < np; k++) {
		size_t len = strlen(c->pieces[k]);
		for (size_t i = 1; i < len; i++) {
			struct xml_parser_pool *pool = xml_parser_pool_new(1 << 20);
			assert_non_null(pool);
			struct rec a, b;
			pooled_init(&a, pool);
			pooled_init(&b, pool);
			assert_int_equal(feed(&a, c->header), XML_STREAM_OK);
			assert_int_equal(feed(&b, c->header), XML_STREAM_OK);
			assert_int_equal(xml_parser_pool_idle(pool), 1);
			for (size_t j = 0; j < np; j++) {
				const char *p = c->pieces[j];
				size_t at = j == k ? i : strlen(p);
				assert_int_equal(feed_n(&a, p, at), XML_STREAM_OK);
				assert_int_equal(feed(&b, p), XML_STREAM_OK);
				if (at < strlen(p))
					assert_int_equal(feed(&a, p + at), XML_STREAM_OK);
				if (c->pieces[j + 1]) {
					assert_true(xml_stream_is_asleep(a.s));
					assert_true(xml_stream_is_asleep(b.s));
					assert_int_equal(xml_parser_pool_idle(pool), 1);
				}
			}
			check_same_inners(c, &ref, &a, k, i);
			check_same_inners(c, &ref, &b, k, i);
			/* A stream that parsed its end tag keeps that parser; one
			 * fed exactly the end tag closed without one (the last
			 * piece of s2s and odd-root, unless a's was split). */
			bool exact_end = c->pieces[np - 1][0] == '<' && k != np - 1;
			assert_int_equal(xml_parser_pool_idle(pool), exact_end ? 1 : 0);
			rec_done(&a);
			rec_done(&b);
			xml_parser_pool_free(pool);
			runs++;
		}
	}
	print_message("%s: %d pooled split runs\n", c->name, runs);

	/* byte by byte, in turns */
	struct xml_parser_pool *pool = xml_parser_pool_new(1 << 20);
	struct rec a, b;
	pooled_init(&a, pool);
	pooled_init(&b, pool);
	assert_int_equal(feed(&a, c->header), XML_STREAM_OK);
	assert_int_equal(feed(&b, c->header), XML_STREAM_OK);
	for (size_t k = 0; c->pieces[k]; k++)
		for (const char *p = c->pieces[k]; *p; p++) {
			assert_int_equal(feed_n(&a, p, 1), XML_STREAM_OK);
			assert_int_equal(feed_n(&b, p, 1), XML_STREAM_OK);
		}
	check_same_inners(c, &ref, &a, 0, 0);
	check_same_inners(c, &ref, &b, 0, 0);
	rec_done(&a);
	rec_done(&b);
	xml_parser_pool_free(pool);
	rec_done(&ref);
}

static void test_pool_conversations(void **state)
{
	pooled_split(&c2s);
	pooled_split(&s2s);
	pooled_split(&odd_root);
}

/* b's error after a moved the lent parser on by some lines and columns:
 * the same error text as a stream that never shared. */
static void pooled_error(const char *before, const char *other, const char *bad,
			 enum xml_stream_err want)
{
	struct xml_parser_pool *pool = xml_parser_pool_new(1 << 20);
	struct rec alone, a, b;
	rec_init(&alone, NULL);
	pooled_init(&a, pool);
	pooled_init(&b, pool);
	assert_int_equal(feed(&alone, before), XML_STREAM_OK);
	assert_int_equal(feed(&b, before), XML_STREAM_OK);
	assert_int_equal(feed(&a, C2S_HEADER), XML_STREAM_OK);
	assert_int_equal(feed(&a, other), XML_STREAM_OK);
	expect_same_error(&alone, "alone", &b, "pooled", bad, want);
	/* b failed holding the parser: it is not lent again */
	assert_int_equal(xml_parser_pool_idle(pool), 0);
	assert_int_equal(feed(&a, "<presence/>"), XML_STREAM_OK);
	assert_int_equal(xml_parser_pool_idle(pool), 1);
	rec_done(&alone);
	rec_done(&a);
	rec_done(&b);
	xml_parser_pool_free(pool);
}

static void test_pool_errors(void **state)
{
	static const char *const before[] = {
		C2S_HEADER,
		C2S_HEADER "\n<presence/>",
		C2S_HEADER "<presence/>  ",
	};
	static const char *const other[] = {
		"<presence/>",                          /* same line */
		"\n\n<message>\n<body>x\ny</body></message>\n <presence/>",
	};
	for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
		for (size_t j = 0; j < sizeof(other) / sizeof(other[0]); j++) {
			pooled_error(before[i], other[j], "<?foo bar?>", XML_STREAM_RESTRICTED_XML);
			pooled_error(before[i], other[j], "<message><!-- c --></message>",
				     XML_STREAM_RESTRICTED_XML);
			pooled_error(before[i], other[j], "\n<message/><!DOCTYPE x>",
				     XML_STREAM_NOT_WELL_FORMED);
			pooled_error(before[i], other[j], "<message>&lol;</message>",
				     XML_STREAM_NOT_WELL_FORMED);
			pooled_error(before[i], other[j], "  <message>\n</iq>",
				     XML_STREAM_NOT_WELL_FORMED);
		}
}

/* Headers that bind the same prefix to different namespaces, or name the
 * root differently, are different contexts: each stream keeps reading its
 * own bindings, and the pool keeps a parser for each. */
static void test_pool_contexts(void **state)
{
	static const char *const hdr[] = {
		"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
		" xmlns:db='jabber:server:dialback'>",
		"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
		" xmlns:db='urn:other'>",
		"<s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams'"
		" xmlns:db='jabber:server:dialback'>",
	};
	static const char *const want[] = {
		"STANZA {jabber:server:dialback}result",
		"STANZA {urn:other}result",
		"STANZA {jabber:server:dialback}result",
	};
	struct xml_parser_pool *pool = xml_parser_pool_new(1 << 20);
	struct rec r[3];
	for (int i = 0; i < 3; i++) {
		pooled_init(&r[i], pool);
		assert_int_equal(feed(&r[i], hdr[i]), XML_STREAM_OK);
	}
	assert_int_equal(xml_parser_pool_idle(pool), 3);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 3; i++) {
			xbuf_free(&r[i].log);
			assert_int_equal(feed(&r[i], "<db:result>k</db:result>"), XML_STREAM_OK);
			assert_non_null(strstr(rec_log(&r[i]), want[i]));
		}
	/* each root closes with its own name */
	assert_int_equal(feed(&r[0], "</stream:stream>"), XML_STREAM_OK);
	assert_int_equal(feed(&r[2], "</stream:stream>"), XML_STREAM_NOT_WELL_FORMED);
	assert_int_equal(feed(&r[1], "</s:stream>"), XML_STREAM_NOT_WELL_FORMED);
	for (int i = 0; i < 3; i++)
		rec_done(&r[i]);
	xml_parser_pool_free(pool);
}

static int close_stops(void *arg)
{
	rec_close(arg);
	return 1;
}

/* The root's end tag alone, as written, closes a stream that has no parser
 * without taking the pool's (a logout must not cost the next stream a new
 * parser); what the callbacks see and the error text of a stop are those
 * of a stream that parsed it. */
static void test_pool_close(void **state)
{
	static const struct xml_stream_cb stop_cb = {
		.stream_open = rec_open, .stanza = rec_stanza, .stream_close = close_stops,
	};
	static const char *const ends[] = { "</stream:stream>", "</stream:stream >", "</stream:stream>  " };
	for (int stop = 0; stop < 2; stop++)
		for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
			struct xml_parser_pool *pool = xml_parser_pool_new(1 << 20);
			struct rec alone, r;
			memset(&alone, 0, sizeof(alone));
			memset(&r, 0, sizeof(r));
			alone.s = xml_stream_new(&big_limits, stop ? &stop_cb : &rec_cb, &alone);
			r.s = xml_stream_new(&big_limits, stop ? &stop_cb : &rec_cb, &r);
			xml_stream_use_pool(r.s, pool);
			const char *before = C2S_HEADER "\n<presence/>\n ";
			assert_int_equal(feed(&alone, before), XML_STREAM_OK);
			assert_int_equal(feed(&r, before), XML_STREAM_OK);
			assert_int_equal(xml_parser_pool_idle(pool), 1);
			enum xml_stream_err e1 = feed(&alone, ends[i]), e2 = feed(&r, ends[i]);
			assert_int_equal(e1, stop ? XML_STREAM_STOPPED : XML_STREAM_OK);
			assert_int_equal(e2, e1);
			assert_string_equal(xml_stream_err_text(r.s), xml_stream_err_text(alone.s));
			assert_string_equal(rec_log(&r), rec_log(&alone));
			/* only the exact end tag leaves the pool's parser alone */
			assert_int_equal(xml_parser_pool_idle(pool), i == 0 ? 1 : 0);
			enum xml_stream_err after = stop ? XML_STREAM_STOPPED : XML_STREAM_CLOSED;
			assert_int_equal(feed(&r, "<presence/>"), after);
			assert_int_equal(feed(&alone, "<presence/>"), after);
			rec_done(&alone);
			rec_done(&r);
			xml_parser_pool_free(pool);
		}
	/* an odd root name is matched as written */
	struct xml_parser_pool *pool = xml_parser_pool_new(1 << 20);
	struct rec r;
	pooled_init(&r, pool);
	assert_int_equal(feed(&r, odd_root.header), XML_STREAM_OK);
	assert_int_equal(feed(&r, "</stream:stream>"), XML_STREAM_NOT_WELL_FORMED);
	rec_done(&r);
	pooled_init(&r, pool);
	assert_int_equal(feed(&r, odd_root.header), XML_STREAM_OK);
	assert_int_equal(feed(&r, "</s:stream>"), XML_STREAM_OK);
	assert_non_null(strstr(rec_log(&r), "CLOSE"));
	rec_done(&r);
	xml_parser_pool_free(pool);
}

/* A stanza callback that gives its stream a pool, as the mux does when a
 * bind completes: the parser must stay until expat has returned. */
static struct xml_parser_pool *pool_on_stanza;

static int pool_from_callback(void *arg, struct xml_node *st)
{
	struct rec *r = arg;
	int stop = rec_stanza(arg, st);
	xml_stream_use_pool(r->s, pool_on_stanza);
	assert_false(xml_stream_is_asleep(r->s));
	assert_int_equal(xml_parser_pool_idle(pool_on_stanza), 0);
	return stop;
}

/* xml_stream_use_pool lends the parser at once between feeds, and only at
 * the end of the feed when called from a callback. */
static void test_pool_joined_late(void **state)
{
	struct xml_parser_pool *pool = xml_parser_pool_new(1 << 20);
	struct rec a, b;
	rec_init(&a, NULL);
	assert_int_equal(feed(&a, C2S_HEADER "<presence/>"), XML_STREAM_OK);
	assert_false(xml_stream_is_asleep(a.s));
	xml_stream_use_pool(a.s, pool);
	assert_true(xml_stream_is_asleep(a.s));
	assert_int_equal(xml_parser_pool_idle(pool), 1);

	/* not at a clean boundary: kept until the stanza is complete */
	struct xml_parser_pool *pool2 = xml_parser_pool_new(1 << 20);
	rec_init(&b, NULL);
	assert_int_equal(feed(&b, C2S_HEADER "<message><body>x"), XML_STREAM_OK);
	xml_stream_use_pool(b.s, pool2);
	assert_false(xml_stream_is_asleep(b.s));
	assert_int_equal(feed(&b, "</body></message>"), XML_STREAM_OK);
	assert_true(xml_stream_is_asleep(b.s));
	assert_int_equal(xml_parser_pool_idle(pool2), 1);
	rec_done(&b);
	xml_parser_pool_free(pool2);

	/* from the stanza callback, with more input behind it in the feed */
	static const struct xml_stream_cb cb = {
		.stream_open = rec_open, .stanza = pool_from_callback, .stream_close = rec_close,
	};
	struct xml_parser_pool *pool3 = xml_parser_pool_new(1 << 20);
	pool_on_stanza = pool3;
	memset(&b, 0, sizeof(b));
	b.s = xml_stream_new(&big_limits, &cb, &b);
	assert_non_null(b.s);
	assert_int_equal(feed(&b, C2S_HEADER "<presence/><message><body>y</body></message>"),
			 XML_STREAM_OK);
	assert_int_equal(b.n_stanzas, 2);
	assert_true(xml_stream_is_asleep(b.s));
	assert_int_equal(xml_parser_pool_idle(pool3), 1);
	assert_non_null(strstr(rec_log(&b), "<body>y</body>"));
	rec_done(&b);
	xml_parser_pool_free(pool3);

	/* from the callback of the last stanza of the feed, empty or not, on
	 * an s2s stream (a link authenticated by <db:result type='valid'/>),
	 * and the stream goes on after it */
	static const char *const lasts[] = {
		"<db:result from='b.example' to='a.example' type='valid'/>",
		"<db:result from='b.example' to='a.example' type='valid'></db:result>",
		"<message from='x@b.example' to='y@a.example'><body>z</body></message>",
	};
	for (size_t i = 0; i < sizeof(lasts) / sizeof(lasts[0]); i++) {
		struct xml_parser_pool *pool4 = xml_parser_pool_new(1 << 20);
		pool_on_stanza = pool4;
		memset(&b, 0, sizeof(b));
		b.s = xml_stream_new(&big_limits, &cb, &b);
		assert_non_null(b.s);
		assert_int_equal(feed(&b, S2S_HEADER), XML_STREAM_OK);
		assert_int_equal(feed(&b, lasts[i]), XML_STREAM_OK);
		assert_true(xml_stream_is_asleep(b.s));
		assert_int_equal(xml_parser_pool_idle(pool4), 1);
		assert_int_equal(feed(&b, "<iq from='b.example' to='a.example' type='get' id='p'>"
					  "<ping xmlns='urn:xmpp:ping'/></iq>"),
				 XML_STREAM_OK);
		assert_int_equal(b.n_stanzas, 2);
		assert_non_null(strstr(rec_log(&b), "urn:xmpp:ping"));
		rec_done(&b);
		xml_parser_pool_free(pool4);
	}

	rec_done(&a);
	xml_parser_pool_free(pool);
}

/* A stream in the middle of a CDATA section under the root keeps its
 * parser: lent, it would have the next stream's stanzas read as text. */
static void test_pool_cdata(void **state)
{
	struct xml_parser_pool *pool = xml_parser_pool_new(1 << 20);
	struct rec a, b;
	pooled_init(&a, pool);
	pooled_init(&b, pool);
	assert_int_equal(feed(&a, C2S_HEADER), XML_STREAM_OK);
	assert_int_equal(feed(&b, C2S_HEADER), XML_STREAM_OK);
	xbuf_free(&b.log);
	assert_int_equal(feed(&a, "<![CDATA[ <message/> "), XML_STREAM_OK);
	assert_false(xml_stream_is_asleep(a.s));
	assert_int_equal(feed(&b, "<presence/>"), XML_STREAM_OK);
	assert_string_equal(rec_log(&b), "STANZA {jabber:client}presence <presence/>\n");
	assert_int_equal(feed(&a, "]]><message/>"), XML_STREAM_OK);
	assert_string_equal(rec_log(&a) + strlen(rec_log(&a)) - strlen("<message/>\n"),
			    "<message/>\n");
	assert_int_equal(a.n_stanzas, 1);
	rec_done(&a);
	rec_done(&b);
	xml_parser_pool_free(pool);
}

/* A parser that has read more than retire_bytes is freed, not lent: the
 * stream builds a fresh one next time and reads on unchanged. */
static void test_pool_retire(void **state)
{
	struct xml_parser_pool *pool = xml_parser_pool_new(400);
	struct rec r, ref;
	pooled_init(&r, pool);
	rec_init(&ref, NULL);
	assert_true(strlen(C2S_HEADER) < 400);
	assert_int_equal(feed(&r, C2S_HEADER), XML_STREAM_OK);
	assert_int_equal(feed(&ref, C2S_HEADER), XML_STREAM_OK);
	assert_int_equal(xml_parser_pool_idle(pool), 1);
	static const char big[] = "<message><body>0123456789012345678901234567890123456789012345678"
				  "9012345678901234567890123456789</body></message>";
	int retired = 0;
	for (int i = 0; i < 12; i++) {
		assert_int_equal(feed(&r, big), XML_STREAM_OK);
		assert_int_equal(feed(&ref, big), XML_STREAM_OK);
		assert_true(xml_stream_is_asleep(r.s));
		if (xml_parser_pool_idle(pool) == 0)
			retired++;
	}
	/* 400 bytes last about 2 stanzas past the header per parser */
	assert_true(retired >= 3);
	assert_string_equal(rec_log(&r), rec_log(&ref));
	assert_string_equal(rec_inners(&r), rec_inners(&ref));
	rec_done(&r);
	rec_done(&ref);
	xml_parser_pool_free(pool);
}

/* ---- reset ---- */

static void test_reset_asleep(void **state)
{
	struct rec r;
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, C2S_HEADER "<presence/>"), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(xml_stream_reset(r.s), XS_OK);
	assert_false(xml_stream_is_asleep(r.s));
	assert_false(xml_stream_header_seen(r.s));
	assert_string_equal(xml_stream_default_ns(r.s), "");
	assert_int_equal(xml_stream_sleep(r.s), XS_AGAIN);  /* no header yet */

	xbuf_free(&r.log);
	assert_int_equal(feed(&r, S2S_HEADER), XML_STREAM_OK);
	assert_int_equal(r.n_open, 2);
	assert_string_equal(xml_stream_default_ns(r.s), "jabber:server");
	must_sleep(&r);
	assert_int_equal(feed(&r, "<db:result>k</db:result></stream:stream>"), XML_STREAM_OK);
	assert_string_equal(rec_log(&r),
			    "OPEN {http://etherx.jabber.org/streams}stream default=jabber:server"
			    " from=a.example to=b.example version=1.0\n"
			    "STANZA {jabber:server:dialback}result"
			    " <result xmlns=\"jabber:server:dialback\">k</result>\n"
			    "CLOSE\n");
	/* the size accounting starts over too */
	assert_int_equal(xml_stream_reset(r.s), XS_OK);
	assert_int_equal(feed(&r, C2S_HEADER "<presence/>"), XML_STREAM_OK);
	must_sleep(&r);
	assert_int_equal(xml_stream_reset(r.s), XS_OK);
	assert_int_equal(feed(&r, "<?xml version='1.0'?>"), XML_STREAM_OK);  /* at the start: fine */
	rec_done(&r);

	/* freeing a sleeping stream */
	rec_init(&r, NULL);
	assert_int_equal(feed(&r, C2S_HEADER), XML_STREAM_OK);
	must_sleep(&r);
	rec_done(&r);
}

/* ---- memory and allocation failures (counting malloc) ---- */

#ifndef NO_MALLOC_HOOK
static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void test_sleep_memory(void **state)
{
	enum { N = 200 };
	struct rec *r = calloc(N, sizeof(*r));
	assert_non_null(r);
	size_t body_len = strlen(c2s.pieces[0]) + strlen(c2s.pieces[1]) + strlen(c2s.pieces[2]) +
			  strlen(c2s.pieces[3]) + strlen(c2s.pieces[4]);

	size_t m0 = live_bytes;
	long a0 = live_allocs;
	for (int i = 0; i < N; i++) {
		rec_init(&r[i], NULL);
		assert_int_equal(feed(&r[i], C2S_HEADER), XML_STREAM_OK);
		for (int k = 0; k < 5; k++)
			assert_int_equal(feed(&r[i], c2s.pieces[k]), XML_STREAM_OK);
		xbuf_free(&r[i].log);
		xbuf_free(&r[i].stanzas);
		xbuf_free(&r[i].inners);
	}
	size_t m1 = live_bytes;
	long a1 = live_allocs;
	size_t usage_awake = xml_stream_mem_usage(r[0].s);
	for (int i = 0; i < N; i++)
		must_sleep(&r[i]);
	size_t m2 = live_bytes;
	long a2 = live_allocs;
	size_t usage_asleep = xml_stream_mem_usage(r[0].s);

	double t0 = now_ns();
	for (int i = 0; i < N; i++)
		assert_int_equal(xml_stream_wake(r[i].s), XS_OK);
	double t1 = now_ns();
	size_t m3 = live_bytes;
	for (int i = 0; i < N; i++)
		must_sleep(&r[i]);
	double t2 = now_ns();

	size_t awake = (m1 - m0) / N, asleep = (m2 - m0) / N;
	size_t woken = (m3 - m0) / N;
	print_message("per c2s parser after header + 5 stanzas (%zu bytes): awake %zu B in %ld "
		      "blocks, asleep %zu B in %ld blocks, just woken %zu B; "
		      "xml_stream_mem_usage awake %zu (without expat), asleep %zu; "
		      "wake %.0f ns, sleep %.0f ns\n",
		      body_len, awake, (a1 - a0) / N, asleep, (a2 - a0) / N, woken, usage_awake,
		      usage_asleep, (t1 - t0) / N, (t2 - t1) / N);
	assert_true(asleep < 1024);
	assert_true(awake > 4 * asleep);
	/* the estimate is within a quarter of what malloc really holds
	 * (the recorders' own blocks are freed, so it is all the stream's) */
	assert_true(usage_asleep * 4 >= asleep * 3 && usage_asleep * 4 <= asleep * 5);

	/* the s2s header with its extra prefixes costs a little more */
	for (int i = 0; i < N; i++) {
		rec_done(&r[i]);
		rec_init(&r[i], NULL);
		assert_int_equal(feed(&r[i], S2S_HEADER), XML_STREAM_OK);
		must_sleep(&r[i]);
	}
	size_t m4 = live_bytes;
	print_message("per s2s parser asleep: %zu B\n", (m4 - m0) / N);
	assert_true((m4 - m0) / N < 1024);

	/* a large stanza leaves expat's buffers large; a sleep sheds them */
	size_t bigsz = 60000;
	char *big = malloc(bigsz + 64);
	assert_non_null(big);
	int n = snprintf(big, 64, "<message to='");
	memset(big + n, 'q', bigsz);
	strcpy(big + n + bigsz, "'/>");
	size_t m5 = live_bytes;
	assert_int_equal(feed(&r[0], big), XML_STREAM_OK);
	xbuf_free(&r[0].log);  /* the recorder's copies of the stanza */
	xbuf_free(&r[0].stanzas);
	xbuf_free(&r[0].inners);
	size_t m6 = live_bytes;
	must_sleep(&r[0]);
	size_t m7 = live_bytes;
	print_message("after a 60 KB stanza: +%zu B awake, %+zd B after sleeping\n",
		      m6 - m5, (ssize_t)(m7 - m5));
	assert_true((ssize_t)(m7 - m5) <= 0);
	free(big);

	for (int i = 0; i < N; i++)
		rec_done(&r[i]);
	assert_int_equal(live_allocs, a0);
	free(r);
}

/* Every allocation of a wake (explicit, then implicit through a feed) fails
 * in turn: the stream stays asleep and intact after an explicit one, a feed
 * reports a sticky NOMEM that a reset clears, and nothing leaks. */
static void test_wake_alloc_failures(void **state)
{
	long base = live_allocs;
	int failed_explicit = 0, failed_feed = 0;

	for (long k = 0;; k++) {
		struct rec r;
		rec_init(&r, NULL);
		assert_int_equal(feed(&r, S2S_HEADER "<db:result>a</db:result>"), XML_STREAM_OK);
		must_sleep(&r);
		fail_after = k;
		enum xs st = xml_stream_wake(r.s);
		bool hit = fail_after == -2;
		fail_after = -1;
		if (st != XS_OK) {
			assert_int_equal(st, XS_NOMEM);
			assert_true(xml_stream_is_asleep(r.s));
			failed_explicit++;
		}
		/* either way the conversation goes on unchanged */
		enum xml_stream_err e = feed(&r, "<db:verify id='x'/></stream:stream>");
		if (e != XML_STREAM_OK)
			print_error("failing allocation %ld of the wake (%s): %s\n", k, xs_name(st),
				    xml_stream_err_text(r.s));
		assert_int_equal(e, XML_STREAM_OK);
		assert_non_null(strstr(rec_log(&r), "STANZA {jabber:server:dialback}verify <verify "
						    "xmlns=\"jabber:server:dialback\" id=\"x\"/>\n"
						    "CLOSE\n"));
		rec_done(&r);
		assert_int_equal(live_allocs, base);
		if (!hit)
			break;
	}
	for (long k = 0;; k++) {
		struct rec r;
		rec_init(&r, NULL);
		assert_int_equal(feed(&r, C2S_HEADER "<presence/>"), XML_STREAM_OK);
		must_sleep(&r);
		fail_after = k;
		enum xml_stream_err e = feed(&r, "<message><body>b</body></message>");
		bool hit = fail_after == -2;
		fail_after = -1;
		if (e != XML_STREAM_OK) {
			assert_int_equal(e, XML_STREAM_NOMEM);
			assert_int_equal(feed(&r, "<presence/>"), XML_STREAM_NOMEM);
			assert_int_equal(xml_stream_reset(r.s), XS_OK);
			assert_int_equal(feed(&r, C2S_HEADER "<presence/>"), XML_STREAM_OK);
			failed_feed++;
		} else {
			assert_non_null(strstr(rec_log(&r), "<body>b</body>"));
		}
		rec_done(&r);
		assert_int_equal(live_allocs, base);
		if (!hit)
			break;
	}
	print_message("wake failures: %d explicit, %d through a feed\n", failed_explicit,
		      failed_feed);
	assert_true(failed_explicit > 3);
	assert_true(failed_feed > 3);
}
#endif

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_split_c2s),
		cmocka_unit_test(test_every_split_s2s),
		cmocka_unit_test(test_header_namespaces_after_wake),
		cmocka_unit_test(test_odd_root_and_close),
		cmocka_unit_test(test_sleep_refused),
		cmocka_unit_test(test_limits_after_wake),
		cmocka_unit_test(test_errors_after_wake),
		cmocka_unit_test(test_reset_asleep),
		cmocka_unit_test(test_pool_conversations),
		cmocka_unit_test(test_pool_errors),
		cmocka_unit_test(test_pool_contexts),
		cmocka_unit_test(test_pool_retire),
		cmocka_unit_test(test_pool_cdata),
		cmocka_unit_test(test_pool_joined_late),
		cmocka_unit_test(test_pool_close),
	};
	if (argc > 1 && strcmp(argv[1], "--counting-malloc") == 0) {
#ifdef NO_MALLOC_HOOK
		/* ctest's unit.test_xml_sleep.counting_malloc reports exit 77 as skipped */
		print_message("skipped: the counting malloc cannot replace a sanitizer's\n");
		return 77;
#else
		const struct CMUnitTest malloc_tests[] = {
			cmocka_unit_test(test_sleep_memory),
			cmocka_unit_test(test_wake_alloc_failures),
		};
		return cmocka_run_group_tests(malloc_tests, NULL, NULL);
#endif
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
