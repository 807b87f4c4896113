/* Unit tests for core/xmpp/stanza.c: freezing (routing fields, bytes, the
 * buffer cut to size, a copy with a child added), slim copies (what the router keeps of a session's
 * presence: bytes and routing fields, no tree) and kind names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/xml/xml_node.h"
#include "core/xmpp/ns.h"
#include "core/xmpp/stanza.h"

static struct stanza *parse(const char *xml)
{
	struct stanza *st = stanza_from_xml(xml, strlen(xml), 65536);
	assert_non_null(st);
	return st;
}

static void test_freeze_fields(void **state)
{
	(void)state;
	struct stanza *st = parse("<presence from='a@b/c' to='d@e' type='subscribe' id='x1'>"
				  "<status>hi</status></presence>");
	assert_int_equal(st->kind, STANZA_PRESENCE);
	assert_string_equal(st->from, "a@b/c");
	assert_string_equal(st->to, "d@e");
	assert_string_equal(st->type, "subscribe");
	assert_string_equal(st->id, "x1");
	assert_non_null(st->tree);
	assert_int_equal(st->len, strlen(st->bytes));
	assert_non_null(strstr(st->bytes, "<status>hi</status>"));
	stanza_unref(st);
}

/* A copy with one child added last reuses the original's content as its
 * bytes have it (here content kept as received, a prefix and all), and is
 * its own stanza; with no content to reuse it is serialized whole. */
static void test_freeze_appended(void **state)
{
	(void)state;
	static const char inner[] = "<body>hi &amp; bye</body><x:a xmlns:x='urn:x'/>";
	struct xml_node *t = xml_node_new_elem("message", NS_CLIENT);
	assert_non_null(t);
	assert_int_equal(xml_node_set_attr(t, "to", "d@e>"), XS_OK); /* '>' written &gt; */
	struct stanza *st = stanza_freeze_around(t, inner, sizeof(inner) - 1);
	assert_non_null(st);
	assert_string_equal(st->bytes, "<message to=\"d@e&gt;\"><body>hi &amp; bye</body>"
				       "<x:a xmlns:x='urn:x'/></message>");
	struct xml_node *copy = xml_node_copy(st->tree);
	struct xml_node *sid = xml_node_new_child(copy, "stanza-id", "urn:xmpp:sid:0");
	assert_non_null(sid);
	assert_int_equal(xml_node_set_attr(sid, "id", "s1"), XS_OK);
	struct stanza *out = stanza_freeze_appended(st, copy, sid);
	stanza_unref(st);
	assert_non_null(out);
	assert_string_equal(out->bytes, "<message to=\"d@e&gt;\"><body>hi &amp; bye</body>"
					"<x:a xmlns:x='urn:x'/><stanza-id xmlns=\"urn:xmpp:sid:0\" "
					"id=\"s1\"/></message>");
	assert_int_equal(out->len, strlen(out->bytes));
	assert_string_equal(out->to, "d@e>");
	stanza_unref(out);

	st = parse("<message to='d@e'/>");
	copy = xml_node_copy(st->tree);
	sid = xml_node_new_child(copy, "stanza-id", "urn:xmpp:sid:0");
	assert_non_null(sid);
	out = stanza_freeze_appended(st, copy, sid);
	stanza_unref(st);
	assert_non_null(out);
	assert_string_equal(out->bytes,
			    "<message to=\"d@e\"><stanza-id xmlns=\"urn:xmpp:sid:0\"/></message>");
	stanza_unref(out);
}

/* A slim copy has the same bytes and routing fields and no tree, and the
 * original may go first: the copy owns everything it points to. */
static void test_slim_copy(void **state)
{
	(void)state;
	struct stanza *st = parse("<presence from='a@b/c' id='p1'>"
				  "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
				  "node='n' ver='v'/><show>away</show></presence>");
	struct stanza *sl = stanza_slim(st);
	assert_non_null(sl);
	assert_null(sl->tree);
	assert_int_equal(sl->kind, STANZA_PRESENCE);
	assert_int_equal(sl->len, st->len);
	assert_memory_equal(sl->bytes, st->bytes, st->len);
	assert_int_equal(sl->bytes[sl->len], '\0');
	assert_ptr_not_equal(sl->from, st->from);
	assert_string_equal(sl->from, "a@b/c");
	assert_string_equal(sl->id, "p1");
	assert_null(sl->to);
	assert_null(sl->type);
	char *copy = strdup(st->bytes);
	assert_non_null(copy);
	stanza_unref(st);
	assert_string_equal(sl->bytes, copy);
	assert_string_equal(sl->from, "a@b/c");
	/* references count as for any stanza */
	assert_ptr_equal(stanza_ref(sl), sl);
	stanza_unref(sl);
	assert_string_equal(sl->bytes, copy);
	stanza_unref(sl);
	free(copy);
}

/* Every routing field set, and none: each lands on its own copy. */
static void test_slim_fields(void **state)
{
	(void)state;
	struct stanza *st = parse("<message to='t@d/r' from='f@d/r' type='chat' id='m'/>");
	struct stanza *sl = stanza_slim(st);
	assert_non_null(sl);
	assert_string_equal(sl->to, "t@d/r");
	assert_string_equal(sl->from, "f@d/r");
	assert_string_equal(sl->type, "chat");
	assert_string_equal(sl->id, "m");
	assert_int_equal(sl->kind, STANZA_MESSAGE);
	stanza_unref(sl);
	stanza_unref(st);

	st = parse("<iq/>");
	sl = stanza_slim(st);
	assert_non_null(sl);
	assert_null(sl->to);
	assert_null(sl->from);
	assert_null(sl->type);
	assert_null(sl->id);
	assert_int_equal(sl->kind, STANZA_IQ);
	assert_string_equal(sl->bytes, st->bytes);
	stanza_unref(sl);
	stanza_unref(st);
}

static void test_kind_name(void **state)
{
	(void)state;
	assert_string_equal(stanza_kind_name(STANZA_MESSAGE), "message");
	assert_string_equal(stanza_kind_name(STANZA_PRESENCE), "presence");
	assert_string_equal(stanza_kind_name(STANZA_IQ), "iq");
	assert_string_equal(stanza_kind_name(STANZA_OTHER), "stanza");
	assert_int_equal(stanza_kind_of("presence"), STANZA_PRESENCE);
	assert_int_equal(stanza_kind_of("foo"), STANZA_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_freeze_fields),
		cmocka_unit_test(test_freeze_appended),
		cmocka_unit_test(test_slim_copy),
		cmocka_unit_test(test_slim_fields),
		cmocka_unit_test(test_kind_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
