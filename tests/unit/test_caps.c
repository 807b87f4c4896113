/* Unit tests for core/xmpp/caps.c, the XEP-0115 5.1 verification string:
 * the "Exodus" example of XEP-0115 5.2 (whatever order the lists come
 * in), identities that differ only in xml:lang (5.3's two identities,
 * without its data form, which the server does not send: the expected
 * value is SHA-1 of the string written out below, in base64), an empty
 * answer, and the duplicates 5.4 forbids.
 *
 * caps_ver_of_info, on disco#info answers parsed from XML text: both
 * examples of XEP-0115 (5.2 Exodus, 5.3 Psi with its softwareinfo form),
 * the same answers reordered, SHA-256, the answers 5.4 refuses, the forms it
 * ignores, xml:lang, '<' and "&lt;" in the text (used as they are), and
 * caps_notify_nodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml/xml_node.h"
#include "core/xmpp/caps.h"
#include "core/xmpp/stanza.h"

#define CAPS "http://jabber.org/protocol/caps"
#define INFO "http://jabber.org/protocol/disco#info"
#define ITEMS "http://jabber.org/protocol/disco#items"
#define MUC "http://jabber.org/protocol/muc"

static void test_exodus(void **state)
{
	(void)state;
	/* XEP-0115 5.2: S = "client/pc//Exodus 0.9.1<" + the four features */
	static const struct caps_identity id[] = { { "client", "pc", NULL, "Exodus 0.9.1" } };
	static const char *const in_order[] = { CAPS, INFO, ITEMS, MUC };
	static const char *const shuffled[] = { MUC, ITEMS, CAPS, INFO };
	char ver[CAPS_VER_BUF];
	assert_int_equal(caps_ver(id, 1, in_order, 4, ver), XS_OK);
	assert_string_equal(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
	memset(ver, 'x', sizeof(ver));
	assert_int_equal(caps_ver(id, 1, shuffled, 4, ver), XS_OK);
	assert_string_equal(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
	/* an empty lang is the same as none */
	static const struct caps_identity id2[] = { { "client", "pc", "", "Exodus 0.9.1" } };
	assert_int_equal(caps_ver(id2, 1, shuffled, 4, ver), XS_OK);
	assert_string_equal(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
}

static void test_lang_order(void **state)
{
	(void)state;
	/* S = "client/pc/el/\u03a8 0.11<client/pc/en/Psi 0.11<" CAPS "<" INFO "<"
	 *     ITEMS "<" MUC "<" */
	static const struct caps_identity ids[] = {
		{ "client", "pc", "en", "Psi 0.11" },
		{ "client", "pc", "el", "\xce\xa8 0.11" },
	};
	static const char *const f[] = { ITEMS, MUC, INFO, CAPS };
	char ver[CAPS_VER_BUF];
	assert_int_equal(caps_ver(ids, 2, f, 4, ver), XS_OK);
	assert_string_equal(ver, "2ZC2Fe8xb+Ln321QG0/AaqNEfBU=");
}

static void test_empty(void **state)
{
	(void)state;
	char ver[CAPS_VER_BUF];
	/* SHA-1 of "" */
	assert_int_equal(caps_ver(NULL, 0, NULL, 0, ver), XS_OK);
	assert_string_equal(ver, "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
}

static void test_duplicates(void **state)
{
	(void)state;
	static const struct caps_identity one[] = { { "server", "im", NULL, "a" } };
	static const struct caps_identity two[] = { { "server", "im", NULL, "a" },
						    { "server", "im", "", "b" } };
	static const char *const dup[] = { INFO, ITEMS, INFO };
	static const char *const ok[] = { INFO, ITEMS };
	char ver[CAPS_VER_BUF];
	assert_int_equal(caps_ver(one, 1, dup, 3, ver), XS_INVAL);
	assert_int_equal(caps_ver(two, 2, ok, 2, ver), XS_INVAL);
	assert_int_equal(caps_ver(one, 1, ok, 2, ver), XS_OK);
}

/* ---- caps_ver_of_info ---- */

#define Q(x) "<query xmlns='http://jabber.org/protocol/disco#info'>" x "</query>"
#define ID(attrs) "<identity " attrs "/>"
#define F(var) "<feature var='" var "'/>"
#define FORM(x) "<x xmlns='jabber:x:data' type='result'>" x "</x>"
#define FT(v) "<field var='FORM_TYPE' type='hidden'><value>" v "</value></field>"
#define FIELD(var, vals) "<field var='" var "'>" vals "</field>"
#define V(v) "<value>" v "</value>"

#define EXODUS_ID ID("category='client' name='Exodus 0.9.1' type='pc'")
#define EXODUS_VER "QgayPKawpkPSDYmwT/WM94uAlu0="

/* XEP-0115 5.3, as there (the name of the second identity is U+03A8) */
#define PSI_IDS                                                                    \
	ID("xml:lang='en' category='client' name='Psi 0.11' type='pc'")           \
	ID("xml:lang='el' category='client' name='&#936; 0.11' type='pc'")
#define PSI_FEATURES F(CAPS) F(INFO) F(ITEMS) F(MUC)
#define PSI_FORM                                                                   \
	FORM(FT("urn:xmpp:dataforms:softwareinfo")                                 \
	     FIELD("ip_version", V("ipv4") V("ipv6")) FIELD("os", V("Mac"))        \
	     FIELD("os_version", V("10.5.1")) FIELD("software", V("Psi"))          \
	     FIELD("software_version", V("0.11")))
#define PSI_VER "q07IKJEyjvHSyhy//CH0CxmKi8w="
/* 5.3 without the form: test_lang_order's string */
#define PSI_NOFORM_VER "2ZC2Fe8xb+Ln321QG0/AaqNEfBU="

/* The ver of query (XML text) with algo; returns the status, ver in out. */
static enum xs ver_of(const char *query, const char *algo, char *out, size_t cap)
{
	char buf[8192];
	int n = snprintf(buf, sizeof(buf), "<iq type='result' id='d'>%s</iq>", query);
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	struct stanza *st = stanza_from_xml(buf, (size_t)n, sizeof(buf));
	assert_non_null(st);
	const struct xml_node *q = xml_node_first_elem(st->tree);
	assert_non_null(q);
	memset(out, 'x', cap);
	enum xs r = caps_ver_of_info(q, algo, out, cap);
	stanza_unref(st);
	return r;
}

static void expect_ver(const char *query, const char *want)
{
	char ver[CAPS_VER_BUF_MAX];
	assert_int_equal(ver_of(query, "sha-1", ver, sizeof(ver)), XS_OK);
	assert_string_equal(ver, want);
}

static void expect_inval(const char *query)
{
	char ver[CAPS_VER_BUF_MAX];
	assert_int_equal(ver_of(query, "sha-1", ver, sizeof(ver)), XS_INVAL);
}

static void test_info_exodus(void **state)
{
	(void)state;
	expect_ver(Q(EXODUS_ID F(CAPS) F(INFO) F(ITEMS) F(MUC)), EXODUS_VER);
	expect_ver(Q(F(MUC) F(INFO) EXODUS_ID F(ITEMS) F(CAPS)), EXODUS_VER);
	/* other elements are no part of S */
	expect_ver(Q(F(MUC) "<foo xmlns='urn:x'><feature var='y'/></foo>" F(INFO) EXODUS_ID
		     F(ITEMS) "<identity xmlns='urn:x' category='a' type='b'/>" F(CAPS)),
		   EXODUS_VER);
	/* exactly CAPS_VER_BUF bytes are enough for SHA-1, one fewer not */
	char ver[CAPS_VER_BUF_MAX];
	assert_int_equal(ver_of(Q(EXODUS_ID F(CAPS) F(INFO) F(ITEMS) F(MUC)), "sha-1", ver,
				CAPS_VER_BUF),
			 XS_OK);
	assert_string_equal(ver, EXODUS_VER);
	assert_int_equal(ver_of(Q(EXODUS_ID F(CAPS) F(INFO) F(ITEMS) F(MUC)), "sha-1", ver,
				CAPS_VER_BUF - 1),
			 XS_LIMIT);
}

static void test_info_sha256(void **state)
{
	(void)state;
	/* base64(SHA-256(5.2's S)) */
	char ver[CAPS_VER_BUF_MAX];
	assert_int_equal(ver_of(Q(F(MUC) EXODUS_ID F(CAPS) F(INFO) F(ITEMS)), "sha-256", ver,
				sizeof(ver)),
			 XS_OK);
	assert_string_equal(ver, "Wr6IGEKhx6b9627gBmi/cCmpxXBc/GYq5zWuYfWGWoc=");
	assert_int_equal(ver_of(Q(EXODUS_ID), "sha-256", ver, CAPS_VER_BUF), XS_LIMIT);
	/* names are the IANA ones, exactly */
	assert_int_equal(ver_of(Q(EXODUS_ID), "SHA-1", ver, sizeof(ver)), XS_INVAL);
	assert_int_equal(ver_of(Q(EXODUS_ID), "md5", ver, sizeof(ver)), XS_INVAL);
	assert_int_equal(ver_of(Q(EXODUS_ID), "sha-512", ver, sizeof(ver)), XS_INVAL);
	assert_int_equal(ver_of(Q(EXODUS_ID), "", ver, sizeof(ver)), XS_INVAL);
}

static void test_info_complex(void **state)
{
	(void)state;
	expect_ver(Q(PSI_IDS PSI_FEATURES PSI_FORM), PSI_VER);
	/* everything reversed: identities, features, form before them,
	 * fields, FORM_TYPE last, values */
	expect_ver(Q(PSI_FORM ID("xml:lang='el' category='client' name='&#936; 0.11' type='pc'")
		     F(MUC) F(ITEMS) ID("type='pc' name='Psi 0.11' category='client' xml:lang='en'")
		     F(INFO) F(CAPS)),
		   PSI_VER);
	expect_ver(Q(F(MUC) F(ITEMS) F(INFO) F(CAPS)
		     FORM(FIELD("software_version", V("0.11")) FIELD("software", V("Psi"))
			  FIELD("os_version", V("10.5.1")) FIELD("os", V("Mac"))
			  FIELD("ip_version", V("ipv6") V("ipv4"))
			  FT("urn:xmpp:dataforms:softwareinfo"))
		     PSI_IDS),
		   PSI_VER);
	/* data form elements other than field/value (and the field types)
	 * are no part of S */
	expect_ver(Q(PSI_IDS PSI_FEATURES
		     FORM("<title>t</title>" FT("urn:xmpp:dataforms:softwareinfo")
			  "<field var='ip_version' type='text-multi'><desc>d</desc>" V("ipv4")
			  V("ipv6") "</field>" FIELD("os", V("Mac")) FIELD("os_version", V("10.5.1"))
			  FIELD("software", V("Psi")) FIELD("software_version", V("0.11")))),
		   PSI_VER);
	/* a second form changes the hash; forms in either order agree */
	char a[CAPS_VER_BUF_MAX], b[CAPS_VER_BUF_MAX];
	assert_int_equal(ver_of(Q(PSI_IDS PSI_FEATURES PSI_FORM FORM(FT("urn:a") FIELD("k", V("v")))),
				"sha-1", a, sizeof(a)),
			 XS_OK);
	assert_int_equal(ver_of(Q(PSI_IDS FORM(FT("urn:a") FIELD("k", V("v"))) PSI_FORM PSI_FEATURES),
				"sha-1", b, sizeof(b)),
			 XS_OK);
	assert_string_equal(a, b);
	assert_string_not_equal(a, PSI_VER);
}

static void test_info_lang(void **state)
{
	(void)state;
	/* 5.3's identities without the form */
	expect_ver(Q(PSI_IDS PSI_FEATURES), PSI_NOFORM_VER);
	/* xml:lang is the identity's own: one inherited from the query is not
	 * the identity's, and 'lang' in no namespace is not xml:lang */
	expect_ver(Q(EXODUS_ID F(CAPS) F(INFO) F(ITEMS) F(MUC)), EXODUS_VER);
	expect_ver("<query xmlns='http://jabber.org/protocol/disco#info' xml:lang='en'>" EXODUS_ID
		   F(CAPS) F(INFO) F(ITEMS) F(MUC) "</query>",
		   EXODUS_VER);
	expect_ver(Q(ID("category='client' name='Exodus 0.9.1' type='pc' lang='en'") F(CAPS) F(INFO)
		     F(ITEMS) F(MUC)),
		   EXODUS_VER);
	/* an empty xml:lang is none */
	expect_ver(Q(ID("category='client' name='Exodus 0.9.1' type='pc' xml:lang=''") F(CAPS) F(INFO)
		     F(ITEMS) F(MUC)),
		   EXODUS_VER);
	/* with a lang, it counts */
	char ver[CAPS_VER_BUF_MAX];
	assert_int_equal(ver_of(Q(ID("category='client' name='Exodus 0.9.1' type='pc' xml:lang='en'")
				  F(CAPS) F(INFO) F(ITEMS) F(MUC)),
				"sha-1", ver, sizeof(ver)),
			 XS_OK);
	assert_string_not_equal(ver, EXODUS_VER);
	/* same category/type, other langs: fine; the same lang twice: not */
	expect_inval(Q(ID("xml:lang='en' category='client' name='Psi 0.11' type='pc'")
		       ID("xml:lang='en' category='client' name='Psi' type='pc'") PSI_FEATURES));
	/* empty and absent lang are the same lang */
	expect_inval(Q(ID("category='client' name='A' type='pc'")
		       ID("xml:lang='' category='client' name='B' type='pc'")));
}

static void test_info_lt(void **state)
{
	(void)state;
	/* S = "client/pc//a<b&lt;c<x<urn:test<f<&lt;<a<b<": no escaping and
	 * no unescaping (5.1's note on "&lt;") */
	expect_ver(Q(ID("category='client' type='pc' name='a&lt;b&amp;lt;c'") F("x")
		     FORM(FT("urn:test") FIELD("f", V("a&lt;b") V("&amp;lt;")))),
		   "2Q8qCpcJVj1KYHUR8cW7GyRNx6w=");
	/* which is why a '<' in a value reads like two values */
	expect_ver(Q(ID("category='client' type='pc' name='a&lt;b&amp;lt;c'") F("x")
		     FORM(FT("urn:test") FIELD("f", V("a") V("b") V("&amp;lt;")))),
		   "2Q8qCpcJVj1KYHUR8cW7GyRNx6w=");
	/* CDATA is character data too */
	expect_ver(Q(ID("category='client' type='pc' name='a&lt;b&amp;lt;c'") F("x")
		     FORM(FT("urn:test") FIELD("f", V("<![CDATA[a<b]]>") V("&amp;lt;")))),
		   "2Q8qCpcJVj1KYHUR8cW7GyRNx6w=");
}

static void test_info_empty(void **state)
{
	(void)state;
	expect_ver(Q(""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
	/* a field with no value is "var<"; S = "urn:t<k<" */
	char a[CAPS_VER_BUF_MAX];
	assert_int_equal(ver_of(Q(FORM(FT("urn:t") FIELD("k", ""))), "sha-1", a, sizeof(a)), XS_OK);
	assert_string_equal(a, "iJ7uYgWET1GXUwBFhTiiW3Ana7k=");
}

static void test_info_refused(void **state)
{
	(void)state;
	/* 5.4 3.3: the same identity twice */
	expect_inval(Q(EXODUS_ID EXODUS_ID F(CAPS)));
	/* 5.4 3.4: the same feature twice, anywhere in the list */
	expect_inval(Q(EXODUS_ID F(CAPS) F(INFO) F(ITEMS) F(MUC) F(CAPS)));
	expect_inval(Q(F(MUC) EXODUS_ID F(MUC)));
	/* 5.4 3.5: two forms with one FORM_TYPE, whatever their fields */
	expect_inval(Q(EXODUS_ID PSI_FORM FORM(FT("urn:xmpp:dataforms:softwareinfo"))));
	expect_inval(Q(FORM(FT("urn:a") FIELD("k", V("1"))) EXODUS_ID FORM(FT("urn:b"))
		       FORM(FT("urn:a") FIELD("k", V("2")))));
	/* ... even when 3.6 would ignore one of them */
	expect_inval(Q(FORM(FT("urn:a")) FORM("<field var='FORM_TYPE'>" V("urn:a") "</field>")));
	/* 5.4 3.5: FORM_TYPE with two different values (also when not hidden) */
	expect_inval(Q(FORM("<field var='FORM_TYPE' type='hidden'>" V("urn:a") V("urn:b") "</field>")));
	expect_inval(Q(FORM("<field var='FORM_TYPE'>" V("urn:a") V("urn:b") "</field>")));
	/* two FORM_TYPE fields, two fields with one var */
	expect_inval(Q(FORM(FT("urn:a") FT("urn:a"))));
	expect_inval(Q(FORM(FT("urn:a") FIELD("k", V("1")) FIELD("k", V("2")))));
	/* what XEP-0030 requires of identities and features */
	expect_inval(Q(ID("type='pc' name='x'")));
	expect_inval(Q(ID("category='client' name='x'")));
	expect_inval(Q(EXODUS_ID "<feature/>"));
	/* not a disco#info query at all */
	expect_inval("<query xmlns='http://jabber.org/protocol/disco#items'/>");
	expect_inval("<info xmlns='http://jabber.org/protocol/disco#info'/>");
	char ver[CAPS_VER_BUF_MAX];
	assert_int_equal(caps_ver_of_info(NULL, "sha-1", ver, sizeof(ver)), XS_INVAL);
}

static void test_info_ignored_forms(void **state)
{
	(void)state;
	/* 5.4 3.6: no FORM_TYPE field, or one not hidden: the form is ignored
	 * and the rest counts; so do forms with no FORM_TYPE value, and
	 * forms that are not results */
	expect_ver(Q(PSI_IDS PSI_FEATURES FORM(FIELD("os", V("Mac")))), PSI_NOFORM_VER);
	expect_ver(Q(PSI_IDS PSI_FEATURES
		     FORM("<field var='FORM_TYPE'>" V("urn:xmpp:dataforms:softwareinfo") "</field>"
			  FIELD("os", V("Mac")))),
		   PSI_NOFORM_VER);
	expect_ver(Q(PSI_IDS PSI_FEATURES
		     FORM("<field var='FORM_TYPE' type='text-single'>" V("urn:a") "</field>")),
		   PSI_NOFORM_VER);
	expect_ver(Q(PSI_IDS PSI_FEATURES FORM("<field var='FORM_TYPE' type='hidden'/>")),
		   PSI_NOFORM_VER);
	expect_ver(Q(PSI_IDS PSI_FEATURES
		     "<x xmlns='jabber:x:data' type='form'>" FT("urn:a") "</x>"
		     "<x xmlns='jabber:x:data'>" FT("urn:b") "</x>"),
		   PSI_NOFORM_VER);
	/* two ignored forms without FORM_TYPE are not "the same FORM_TYPE" */
	expect_ver(Q(PSI_IDS PSI_FEATURES FORM(FIELD("a", V("1"))) FORM(FIELD("a", V("1")))),
		   PSI_NOFORM_VER);
	/* fields without var are not in S */
	expect_ver(Q(PSI_IDS PSI_FEATURES
		     FORM(FT("urn:xmpp:dataforms:softwareinfo") "<field type='fixed'>" V("z") "</field>"
			  FIELD("ip_version", V("ipv4") V("ipv6")) FIELD("os", V("Mac"))
			  FIELD("os_version", V("10.5.1")) FIELD("software", V("Psi"))
			  FIELD("software_version", V("0.11")))),
		   PSI_VER);
	/* the same FORM_TYPE value twice is one FORM_TYPE */
	expect_ver(Q(PSI_IDS PSI_FEATURES
		     FORM("<field var='FORM_TYPE' type='hidden'>" V("urn:xmpp:dataforms:softwareinfo")
			  V("urn:xmpp:dataforms:softwareinfo") "</field>"
			  FIELD("ip_version", V("ipv4") V("ipv6")) FIELD("os", V("Mac"))
			  FIELD("os_version", V("10.5.1")) FIELD("software", V("Psi"))
			  FIELD("software_version", V("0.11")))),
		   PSI_VER);
}

/* Many of everything, in reverse order: the same as in order (and quick). */
static void test_info_large(void **state)
{
	(void)state;
	enum { N = 2000 };
	struct xml_node *q[2];
	for (int k = 0; k < 2; k++) {
		q[k] = xml_node_new_elem("query", INFO);
		assert_non_null(q[k]);
		struct xml_node *x = NULL;
		for (int j = 0; j < N; j++) {
			int i = k ? N - 1 - j : j;
			char v[32];
			snprintf(v, sizeof(v), "urn:f:%05d", i);
			struct xml_node *f = xml_node_new_child(q[k], "feature", NULL);
			assert_non_null(f);
			assert_int_equal(xml_node_set_attr(f, "var", v), XS_OK);
		}
		x = xml_node_new_child(q[k], "x", "jabber:x:data");
		assert_non_null(x);
		assert_int_equal(xml_node_set_attr(x, "type", "result"), XS_OK);
		struct xml_node *ft = xml_node_new_child(x, "field", NULL);
		assert_int_equal(xml_node_set_attr(ft, "var", "FORM_TYPE"), XS_OK);
		assert_int_equal(xml_node_set_attr(ft, "type", "hidden"), XS_OK);
		assert_int_equal(xml_node_add_text(xml_node_new_child(ft, "value", NULL), "urn:t", 5),
				 XS_OK);
		for (int j = 0; j < N; j++) {
			int i = k ? N - 1 - j : j;
			char v[32];
			snprintf(v, sizeof(v), "f%05d", i);
			struct xml_node *fld = xml_node_new_child(x, "field", NULL);
			assert_non_null(fld);
			assert_int_equal(xml_node_set_attr(fld, "var", v), XS_OK);
			for (int m = 0; m < 3; m++) {
				struct xml_node *val = xml_node_new_child(fld, "value", NULL);
				assert_non_null(val);
				int n = snprintf(v, sizeof(v), "%d", k ? 2 - m : m);
				assert_int_equal(xml_node_add_text(val, v, (size_t)n), XS_OK);
			}
		}
	}
	char a[CAPS_VER_BUF_MAX], b[CAPS_VER_BUF_MAX];
	assert_int_equal(caps_ver_of_info(q[0], "sha-1", a, sizeof(a)), XS_OK);
	assert_int_equal(caps_ver_of_info(q[1], "sha-1", b, sizeof(b)), XS_OK);
	assert_string_equal(a, b);
	/* one duplicate feature among them */
	struct xml_node *f = xml_node_new_child(q[1], "feature", NULL);
	assert_int_equal(xml_node_set_attr(f, "var", "urn:f:01234"), XS_OK);
	assert_int_equal(caps_ver_of_info(q[1], "sha-1", b, sizeof(b)), XS_INVAL);
	xml_node_free(q[0]);
	xml_node_free(q[1]);
}

/* ---- caps_notify_nodes ---- */

struct seen {
	char buf[256];
	size_t len;
};

static void collect(void *arg, const char *node, size_t len)
{
	struct seen *s = arg;
	assert_true(s->len + len + 1 < sizeof(s->buf));
	memcpy(s->buf + s->len, node, len);
	s->len += len;
	s->buf[s->len++] = ';';
	s->buf[s->len] = '\0';
}

static void test_notify_nodes(void **state)
{
	(void)state;
	static const char xml[] =
		"<iq type='result' id='d'>" Q(EXODUS_ID F("http://jabber.org/protocol/tune+notify")
			F(INFO) F("+notify") F("urn:xmpp:avatar:metadata+notify") F("x+notif")
			F("notify") "<x xmlns='urn:x'><feature var='y+notify'/></x>"
			"<feature xmlns='urn:x' var='z+notify'/>" F("a+notify+notify")) "</iq>";
	struct stanza *st = stanza_from_xml(xml, strlen(xml), sizeof(xml));
	assert_non_null(st);
	const struct xml_node *q = xml_node_first_elem(st->tree);
	struct seen s = { .len = 0 };
	assert_int_equal(caps_notify_nodes(q, collect, &s), 3);
	assert_string_equal(s.buf,
			    "http://jabber.org/protocol/tune;urn:xmpp:avatar:metadata;a+notify;");
	assert_int_equal(caps_notify_nodes(q, NULL, NULL), 3);
	assert_int_equal(caps_notify_nodes(NULL, collect, &s), 0);
	stanza_unref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exodus),
		cmocka_unit_test(test_lang_order),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_info_exodus),
		cmocka_unit_test(test_info_sha256),
		cmocka_unit_test(test_info_complex),
		cmocka_unit_test(test_info_lang),
		cmocka_unit_test(test_info_lt),
		cmocka_unit_test(test_info_empty),
		cmocka_unit_test(test_info_refused),
		cmocka_unit_test(test_info_ignored_forms),
		cmocka_unit_test(test_info_large),
		cmocka_unit_test(test_notify_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
