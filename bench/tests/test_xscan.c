/* Unit test for bench/xmppload/xscan.c, the load generator's stanza
 * splitter: a server stream with the awkward cases (a '>', a '/' and a '/>'
 * inside attribute values, both quote styles, an empty element at depth 1,
 * nested empty elements, whitespace between stanzas, an XML declaration) is
 * fed in chunks of every size from 1 byte to all of it, discarding consumed
 * bytes the way client.c does, and must yield the same events every time;
 * the attribute and text helpers must read the split-and-rejoined element. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "bench/xmppload/xscan.h"

static const char doc[] =
	"<?xml version='1.0'?><stream:stream xmlns='jabber:client' a=\"x>y\" "
	"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
	"</starttls></stream:features>"
	" <proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n"
	"<message to='a/b>/' from=\"x'y\" type='chat'><body>xl t=1 s=2 &lt;/&gt;</body>"
	"<x a='/>'/></message>"
	"<presence q='/>'><status>a</status></presence>"
	"<iq type='result' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
	"<jid>u@h/r</jid></bind></iq>"
	"</stream:stream>";

static const char *const want[] = {
	"OPEN", "<stream:features", "<proceed", "<message", "<presence", "<iq", "CLOSE",
};

static void check_elem(int k, const char *el, size_t len)
{
	const char *v;
	size_t vl;

	assert_int_equal(el[len - 1], '>');
	if (k == 2)
		assert_true(xel_is(el, len, "proceed"));
	if (k == 3) {
		assert_true(xel_is(el, len, "message"));
		assert_false(xel_is(el, len, "messag"));
		assert_true(xel_attr(el, len, "to", &v, &vl));
		assert_int_equal(vl, 5);
		assert_memory_equal(v, "a/b>/", 5);
		assert_true(xel_attr(el, len, "from", &v, &vl));
		assert_memory_equal(v, "x'y", 3);
		assert_false(xel_attr(el, len, "id", &v, &vl));
		assert_true(xel_text(el, len, "body", &v, &vl));
		assert_int_equal(vl, strlen("xl t=1 s=2 &lt;/&gt;"));
		assert_int_equal(memcmp(el + len - 10, "</message>", 10), 0);
	}
	if (k == 4) {
		assert_true(xel_is(el, len, "presence"));
		assert_true(xel_text(el, len, "status", &v, &vl));
		assert_int_equal(vl, 1);
		assert_int_equal(memcmp(el + len - 11, "</presence>", 11), 0);
	}
	if (k == 5) {
		assert_true(xel_attr(el, len, "id", &v, &vl));
		assert_memory_equal(v, "bind", 4);
		assert_true(xel_text(el, len, "jid", &v, &vl));
		assert_int_equal(vl, 5);
		assert_memory_equal(v, "u@h/r", 5);
		assert_true(xel_has(el, len, "xmpp-bind"));
	}
}

static void test_every_split(void **state)
{
	size_t n = strlen(doc);
	char *buf = malloc(n + 1);

	assert_non_null(buf);
	for (size_t chunk = 1; chunk <= n; chunk++) {
		struct xscan s;
		size_t len = 0, fed = 0;
		int k = 0;

		xscan_reset(&s);
		for (;;) {
			size_t st = 0, el = 0;
			enum xscan_ev ev = xscan_next(&s, buf, len, &st, &el);

			if (ev == XSCAN_MORE) {
				size_t d = xscan_discardable(&s), m;

				memmove(buf, buf + d, len - d);
				len -= d;
				xscan_drop(&s, d);
				if (fed == n)
					break;
				m = n - fed < chunk ? n - fed : chunk;
				memcpy(buf + len, doc + fed, m);
				len += m;
				fed += m;
				continue;
			}
			assert_true(k < 7);
			if (ev == XSCAN_OPEN || ev == XSCAN_CLOSE) {
				assert_string_equal(ev == XSCAN_OPEN ? "OPEN" : "CLOSE", want[k]);
			} else {
				assert_int_equal(strncmp(buf + st, want[k], strlen(want[k])), 0);
				check_elem(k, buf + st, el);
			}
			k++;
		}
		if (k != 7)
			fail_msg("chunk %zu: %d events", chunk, k);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
