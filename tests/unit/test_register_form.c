/* core/xmpp/register_form.c: reading XEP-0077's <query/> (what the mux
 * threads check before a registration goes to the store, and the router
 * before a password change): names through Nodeprep, the password's
 * bounds, repeated and missing fields, <remove/>, and the wipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml/xml_node.h"
#include "core/xmpp/register_form.h"
#include "core/xmpp/stanza.h"

/* The query of an iq set whose payload is inner. */
static struct stanza *iq_with(const char *inner)
{
	static char buf[8192];
	snprintf(buf, sizeof(buf), "<iq type='set' id='x'>%s</iq>", inner);
	struct stanza *st = stanza_from_xml(buf, strlen(buf), sizeof(buf));
	assert_non_null(st);
	return st;
}

static const struct xml_node *payload(const struct stanza *st)
{
	return xml_node_first_elem(st->tree);
}

#define Q(x) "<query xmlns='jabber:iq:register'>" x "</query>"

static void expect(const char *inner, bool ok, enum stanza_cond want, const char *user,
		   const char *pw)
{
	struct stanza *st = iq_with(inner);
	struct reg_form f;
	enum stanza_cond cond = SC_UNDEFINED_CONDITION;
	bool got = reg_form_parse(payload(st), &f, &cond);
	if (got != ok)
		fail_msg("%s: %s", inner, got ? "accepted" : stanza_cond_name(cond));
	if (ok) {
		assert_int_equal(f.what, REG_SUBMIT);
		assert_string_equal(f.username, user);
		assert_string_equal(f.password, pw);
	} else {
		assert_int_equal(cond, want);
		/* nothing of a refused password is left in the form */
		for (size_t i = 0; i < sizeof(f.password); i++)
			assert_int_equal(f.password[i], 0);
	}
	stanza_unref(st);
}

static void test_accepted(void **state)
{
	(void)state;
	expect(Q("<username>juliet</username><password>R0m30</password>"), true, 0, "juliet",
	       "R0m30");
	/* Nodeprep: case folded, as SASL prepares the name at login */
	expect(Q("<password>x y</password><username>JuLiet</username>"), true, 0, "juliet", "x y");
	expect(Q("<username>caf\xc3\xa9</username><password>\xc3\xa9t\xc3\xa9</password>"), true, 0,
	       "caf\xc3\xa9", "\xc3\xa9t\xc3\xa9");
	/* other fields (XEP-0077's email, a data form) are not read */
	expect(Q("<username>a</username><email>a@example.org</email><password>p</password>"
		 "<x xmlns='jabber:x:data' type='submit'/>"),
	       true, 0, "a", "p");
	/* escaped text comes back as the characters */
	expect(Q("<username>amp</username><password>&lt;&amp;&gt;</password>"), true, 0, "amp",
	       "<&>");
}

static void test_refused(void **state)
{
	(void)state;
	char big[3000];
	/* JID localparts: prohibited characters, empty, too long */
	expect(Q("<username>a@b</username><password>p</password>"), false, SC_NOT_ACCEPTABLE, 0, 0);
	expect(Q("<username>a b</username><password>p</password>"), false, SC_NOT_ACCEPTABLE, 0, 0);
	expect(Q("<username>a/b</username><password>p</password>"), false, SC_NOT_ACCEPTABLE, 0, 0);
	expect(Q("<username>a:b</username><password>p</password>"), false, SC_NOT_ACCEPTABLE, 0, 0);
	expect(Q("<username></username><password>p</password>"), false, SC_NOT_ACCEPTABLE, 0, 0);
	expect(Q("<username/><password>p</password>"), false, SC_NOT_ACCEPTABLE, 0, 0);
	snprintf(big, sizeof(big), Q("<username>%01024d</username><password>p</password>"), 0);
	expect(big, false, SC_NOT_ACCEPTABLE, 0, 0);
	snprintf(big, sizeof(big), Q("<username>%01023d</username><password>p</password>"), 0);
	struct stanza *st = iq_with(big);
	struct reg_form f;
	enum stanza_cond cond;
	assert_true(reg_form_parse(payload(st), &f, &cond));
	assert_int_equal(strlen(f.username), 1023);
	stanza_unref(st);
	/* a field with markup inside is not a name */
	expect(Q("<username>a<b/>c</username><password>p</password>"), false, SC_NOT_ACCEPTABLE, 0,
	       0);
	/* passwords: missing, empty, over REG_PASSWORD_MAX, the longest taken */
	expect(Q("<username>a</username>"), false, SC_NOT_ACCEPTABLE, 0, 0);
	expect(Q("<password>p</password>"), false, SC_NOT_ACCEPTABLE, 0, 0);
	expect(Q(""), false, SC_NOT_ACCEPTABLE, 0, 0);
	expect(Q("<username>a</username><password/>"), false, SC_NOT_ACCEPTABLE, 0, 0);
	snprintf(big, sizeof(big), Q("<username>a</username><password>%01024d</password>"), 0);
	expect(big, false, SC_NOT_ACCEPTABLE, 0, 0);
	snprintf(big, sizeof(big), Q("<username>a</username><password>%01023d</password>"), 0);
	st = iq_with(big);
	assert_true(reg_form_parse(payload(st), &f, &cond));
	assert_int_equal(strlen(f.password), REG_PASSWORD_MAX);
	stanza_unref(st);
	/* a field twice, or the wrong payload */
	expect(Q("<username>a</username><username>b</username><password>p</password>"), false,
	       SC_BAD_REQUEST, 0, 0);
	expect(Q("<username>a</username><password>p</password><password>q</password>"), false,
	       SC_BAD_REQUEST, 0, 0);
	expect("<query xmlns='jabber:iq:roster'/>", false, SC_BAD_REQUEST, 0, 0);
	expect("<other xmlns='jabber:iq:register'/>", false, SC_BAD_REQUEST, 0, 0);
	assert_false(reg_form_parse(NULL, &f, &cond));
	assert_int_equal(cond, SC_BAD_REQUEST);
}

static void test_remove(void **state)
{
	(void)state;
	const char *forms[] = { Q("<remove/>"), Q("<username>x</username><remove/>"),
				Q("<remove/><password>p</password><username>a@b</username>") };
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct stanza *st = iq_with(forms[i]);
		struct reg_form f;
		enum stanza_cond cond;
		assert_true(reg_form_parse(payload(st), &f, &cond));
		assert_int_equal(f.what, REG_REMOVE);
		stanza_unref(st);
	}
}

static void test_wipe(void **state)
{
	(void)state;
	struct stanza *st = iq_with(Q("<username>a</username><password>secret</password>"));
	struct xml_node *q = xml_node_first_elem(st->tree);
	reg_form_wipe(q);
	struct xml_node *pw = xml_node_child(q, "password", NS_REGISTER);
	assert_non_null(pw);
	for (struct xml_node *t = pw->first_child; t; t = t->next)
		for (size_t i = 0; i < t->text_len; i++)
			assert_int_equal(t->text[i], 0);
	/* the username is left alone */
	char *u = xml_node_text(xml_node_child(q, "username", NS_REGISTER));
	assert_string_equal(u, "a");
	free(u);
	reg_form_wipe(NULL);
	stanza_unref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_wipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
