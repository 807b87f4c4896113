/* What a peer's bytes cost the stream parser (core/xml/xml_stream.c): the
 * element budget of a stanza, limits changed mid-stream, and expat's work
 * per input byte when a token never ends (the CVE-2023-52425 class).
 *
 * The work is counted, not timed: this executable interposes XML_Parse
 * (it comes from libexpat.so, found again with dlsym(RTLD_NEXT)) and adds
 * up, per call, the bytes expat must scan: those it kept unconsumed from
 * earlier calls, which it tokenizes again from the start, plus the new
 * ones.  That figure is the same on every run and machine. */
#include <dlfcn.h>
#include <expat.h>
#include <stdio.h>

#include "tests/unit/xml_fixture.h"

/* ---- the counting XML_Parse ---- */

static unsigned long long scanned;   /* bytes expat had to scan, in all */
static unsigned long long calls;
static XML_Parser last_parser;
static unsigned long long given;     /* bytes given to last_parser */

enum XML_Status XML_Parse(XML_Parser p, const char *s, int len, int final)
{
	static enum XML_Status (*real)(XML_Parser, const char *, int, int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "XML_Parse");
	if (p != last_parser) {
		last_parser = p;
		given = 0;
	}
	/* outside a handler expat's index is the first byte not consumed */
	XML_Index at = XML_GetCurrentByteIndex(p);
	unsigned long long kept = at >= 0 && (unsigned long long)at < given ? given - (unsigned long long)at : 0;
	scanned += kept + (unsigned long long)len;
	calls++;
	given += (unsigned long long)len;
	return real(p, s, len, final);
}

#define HDR "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " \
	    "to='example.com' version='1.0'>"

/* ---- element budget ---- */

static void test_element_budget(void **state)
{
	const struct xml_stream_limits lim = { .max_stanza_size = 65536, .max_depth = 8,
					       .max_attrs = 8, .max_elements = 4 };
	struct rec r;

	rec_init(&r, &lim);
	/* the stanza element counts: 4 in all is fine, text does not count */
	assert_int_equal(feed(&r, HDR "<message><a/>x<b><c/></b>y</message>"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 1);
	/* the budget is per stanza */
	assert_int_equal(feed(&r, "<iq><a/><b/><c/></iq>"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 2);
	assert_int_equal(feed(&r, "<message><a/><b/><c/><d/></message>"), XML_STREAM_POLICY_VIOLATION);
	assert_int_equal(r.n_stanzas, 2);
	assert_non_null(strstr(xml_stream_err_text(r.s), "more than 4 elements"));
	/* what was built of the refused stanza goes at once */
	assert_true(xml_stream_mem_usage(r.s) < 1024);
	rec_done(&r);
}

/* The attack of the issue: one unfinished stanza of many empty children.
 * Without a budget its tree costs about 30 times the bytes sent. */
static void test_element_budget_bounds_the_tree(void **state)
{
	enum { CHILDREN = 60000 };
	struct xml_stream_limits lim = { .max_stanza_size = 1 << 20, .max_depth = 8,
					 .max_attrs = 8, .max_elements = 0 };
	struct rec r;
	char *flood = malloc(4 * CHILDREN + 16);
	assert_non_null(flood);
	strcpy(flood, "<message>");
	for (int i = 0; i < CHILDREN; i++)
		memcpy(flood + 9 + 4 * i, "<a/>", 4);
	flood[9 + 4 * CHILDREN] = '\0';
	size_t sent = strlen(flood);

	rec_init(&r, &lim);
	assert_int_equal(feed(&r, HDR), XML_STREAM_OK);
	assert_int_equal(feed(&r, flood), XML_STREAM_OK);
	size_t unbounded = xml_stream_mem_usage(r.s);
	rec_done(&r);

	lim.max_elements = 1000;
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, HDR), XML_STREAM_OK);
	assert_int_equal(feed(&r, flood), XML_STREAM_POLICY_VIOLATION);
	size_t at_error = xml_stream_mem_usage(r.s);
	rec_done(&r);
	print_message("%zu bytes of <a/>: tree of %zu bytes without a budget (%.1f per byte sent); "
		      "with a budget of 1000 elements refused, %zu bytes held after the error\n",
		      sent, unbounded, (double)unbounded / (double)sent, at_error);
	assert_true(unbounded > 10 * sent);  /* what the budget is for */
	assert_true(at_error < 2048);
	free(flood);
}

/* The mux raises the limits once a client has authenticated. */
static void test_set_limits(void **state)
{
	const struct xml_stream_limits small = { .max_stanza_size = 1024, .max_depth = 4,
						 .max_attrs = 4, .max_elements = 2 };
	const struct xml_stream_limits large = { .max_stanza_size = 8192, .max_depth = 8,
						 .max_attrs = 8, .max_elements = 64 };
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct rec r;

	rec_init(&r, &small);
	assert_int_equal(feed(&r, HDR "<auth/>"), XML_STREAM_OK);
	xml_stream_set_limits(r.s, &large);
	assert_int_equal(feed(&r, "<message><a/><b/><c/><body>"), XML_STREAM_OK);
	assert_int_equal(feed(&r, big), XML_STREAM_OK);
	assert_int_equal(feed(&r, "</body></message>"), XML_STREAM_OK);
	assert_int_equal(r.n_stanzas, 2);
	rec_done(&r);

	rec_init(&r, &small);
	assert_int_equal(feed(&r, HDR "<auth/>"), XML_STREAM_OK);
	assert_int_equal(feed(&r, "<message><body>"), XML_STREAM_OK);
	assert_int_equal(feed(&r, big), XML_STREAM_POLICY_VIOLATION);
	rec_done(&r);
}

/* ---- linear parsing ---- */

/* Feeds a stanza whose attribute value is `token` bytes long, `step`
 * bytes per feed, and returns the bytes expat scanned per byte fed. */
static double scan_per_byte(size_t token, size_t step, bool finish)
{
	const struct xml_stream_limits lim = { .max_stanza_size = 1 << 20, .max_depth = 8,
					       .max_attrs = 8, .max_elements = 64 };
	struct rec r;
	char *val = malloc(step);
	assert_non_null(val);
	memset(val, 'q', step);

	rec_init(&r, &lim);
	last_parser = NULL;  /* a new parser may reuse a freed one's address */
	assert_int_equal(feed(&r, HDR), XML_STREAM_OK);
	scanned = calls = 0;
	unsigned long long fed = 0;
	assert_int_equal(feed(&r, "<message to='"), XML_STREAM_OK);
	fed += 13;
	for (size_t done = 0; done < token; done += step) {
		assert_int_equal(feed_n(&r, val, step), XML_STREAM_OK);
		fed += step;
	}
	if (finish) {
		assert_int_equal(feed(&r, "'/>"), XML_STREAM_OK);
		fed += 3;
		assert_int_equal(r.n_stanzas, 1);
	}
	rec_done(&r);
	free(val);
	return (double)scanned / (double)fed;
}

static void test_slow_token_is_linear(void **state)
{
	double small = scan_per_byte(16 * 1024, 8, true);
	unsigned long long small_calls = calls;
	double large = scan_per_byte(256 * 1024, 8, true);
	unsigned long long large_calls = calls;
	print_message("an attribute value sent 8 bytes at a time: 16 KiB -> %.2f bytes scanned per "
		      "byte (%llu parse calls), 256 KiB -> %.2f per byte (%llu calls)\n",
		      small, small_calls, large, large_calls);
	/* expat re-scanning the whole token at every 8 bytes would be about
	 * token/16 per byte: 1000 at 16 KiB, 16000 at 256 KiB */
	assert_true(small < 8);
	assert_true(large < 8);
	/* and it is flat: the cost per byte does not grow with the token */
	assert_true(large < small * 1.5 + 1);
}

/* Holding input back never delays a complete stanza, whatever the split. */
static void test_hold_back_never_delays_a_stanza(void **state)
{
	static const char *const stanzas[] = {
		"<message to='a@b' id='1'><body>hi &amp; bye</body></message>",
		"<presence><status>&#x263A;</status></presence>",
		"<message><body><![CDATA[x<y]]></body></message>",
		"<iq type='get' id='\xc3\xa9\xe2\x82\xac'><query xmlns='jabber:iq:roster'/></iq>",
		"<message>\r\n<body>a\r\nb</body>\r\n</message>",
	};
	for (size_t k = 0; k < sizeof(stanzas) / sizeof(stanzas[0]); k++) {
		const char *st = stanzas[k];
		size_t n = strlen(st);
		/* every split into a first part and the rest, then bytewise */
		for (size_t cut = 0; cut <= n; cut++) {
			struct rec r;
			rec_init(&r, NULL);
			assert_int_equal(feed(&r, HDR), XML_STREAM_OK);
			assert_int_equal(feed_n(&r, st, cut), XML_STREAM_OK);
			assert_int_equal(feed_n(&r, st + cut, n - cut), XML_STREAM_OK);
			assert_int_equal(r.n_stanzas, 1);
			rec_done(&r);
		}
		struct rec r;
		rec_init(&r, NULL);
		assert_int_equal(feed(&r, HDR), XML_STREAM_OK);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(r.n_stanzas, 0);
			assert_int_equal(feed_n(&r, st + i, 1), XML_STREAM_OK);
		}
		assert_int_equal(r.n_stanzas, 1);
		rec_done(&r);
	}
}

/* Held bytes count toward the size limit, and the limit still ends a
 * token that never does. */
static void test_hold_back_respects_the_size_limit(void **state)
{
	const struct xml_stream_limits lim = { .max_stanza_size = 4096, .max_depth = 8,
					       .max_attrs = 8, .max_elements = 64 };
	struct rec r;
	rec_init(&r, &lim);
	assert_int_equal(feed(&r, HDR "<message to='"), XML_STREAM_OK);
	enum xml_stream_err e = XML_STREAM_OK;
	size_t sent = 13;
	while (e == XML_STREAM_OK && sent < 8192) {
		e = feed_n(&r, "qqqqqqqq", 8);
		sent += 8;
	}
	assert_int_equal(e, XML_STREAM_POLICY_VIOLATION);
	assert_true(sent > 4096 && sent <= 4096 + 8);
	assert_true(xml_stream_mem_usage(r.s) < 1024);
	rec_done(&r);
}

/* ---- secrets in expat's memory ---- */

#ifndef NO_MALLOC_HOOK
/* A stanza callback that wipes the tree's text, as mux/mux_sasl.c does
 * with a SASL payload, before freeing it. */
static int wipe_stanza(void *arg, struct xml_node *st)
{
	(void)arg;
	for (struct xml_node *t = st->first_child; t; t = t->next)
		if (t->type == XML_NODE_TEXT && t->text)
			memset(t->text, 0, t->text_len);
	xml_node_free(st);
	return 0;
}
#endif

static void test_expat_memory_is_wiped(void **state)
{
#ifdef NO_MALLOC_HOOK
	skip();
#else
	static const struct xml_stream_cb cb = { .stanza = wipe_stanza };
	const struct xml_stream_limits lim = { .max_stanza_size = 65536, .max_depth = 8,
					       .max_attrs = 8, .max_elements = 64 };
	/* the payload arrives in pieces, so expat buffers it across calls */
	struct xml_stream *s = xml_stream_new(&lim, &cb, NULL);
	assert_non_null(s);
	free_marker = "AHVzZXIAUzNDUkVUUFc"; /* base64 of "\0user\0S3CRETPW" */
	marker_frees = 0;
	assert_int_equal(xml_stream_feed(s, HDR, strlen(HDR)), XML_STREAM_OK);
	static const char p1[] = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
				 "mechanism='PLAIN'>AHVzZXIAUzNDU";
	static const char p2[] = "kVUUFc=</auth>";
	assert_int_equal(xml_stream_feed(s, p1, sizeof(p1) - 1), XML_STREAM_OK);
	assert_int_equal(xml_stream_feed(s, p2, sizeof(p2) - 1), XML_STREAM_OK);
	assert_int_equal(xml_stream_reset(s), XS_OK);   /* the restart after SASL */
	xml_stream_free(s);
	long left = marker_frees;
	free_marker = NULL;
	print_message("blocks freed still holding the SASL payload: %ld\n", left);
	assert_int_equal(left, 0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_element_budget),
		cmocka_unit_test(test_element_budget_bounds_the_tree),
		cmocka_unit_test(test_set_limits),
		cmocka_unit_test(test_slow_token_is_linear),
		cmocka_unit_test(test_hold_back_never_delays_a_stanza),
		cmocka_unit_test(test_hold_back_respects_the_size_limit),
		cmocka_unit_test(test_expat_memory_is_wiped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
