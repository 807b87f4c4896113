/* Unit tests for core/xmpp/caps.c, the XEP-0115 5.1 verification string:
 * the "Exodus" example of XEP-0115 5.2 (whatever order the lists come
 * in), identities that differ only in xml:lang (5.3's two identities,
 * without its data form, which the server does not send: the expected
 * value is SHA-1 of the string written out below, in base64), an empty
 * answer, and the duplicates 5.4 forbids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/xmpp/caps.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exodus),
		cmocka_unit_test(test_lang_order),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_duplicates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
