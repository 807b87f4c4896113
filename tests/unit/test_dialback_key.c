/* s2s/dialback_key.c: XEP-0185's example, and what changes the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "s2s/dialback_key.h"

#define SECRET ((const uint8_t *)"s3cr3tf0rd14lb4ck")
#define SECRET_LEN 17

/* XEP-0185 4, steps 3 and 8 */
static void test_xep0185_example(void **state)
{
	(void)state;
	char key[DIALBACK_KEY_LEN + 1];
	assert_int_equal(dialback_key(SECRET, SECRET_LEN, "xmpp.example.com", "example.org",
				      "D60000229F", key),
			 XS_OK);
	assert_string_equal(key, "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643");
}

static void test_inputs_change_the_key(void **state)
{
	(void)state;
	char base[DIALBACK_KEY_LEN + 1], k[DIALBACK_KEY_LEN + 1];
	dialback_key(SECRET, SECRET_LEN, "xmpp.example.com", "example.org", "D60000229F", base);
	dialback_key(SECRET, SECRET_LEN, "example.org", "xmpp.example.com", "D60000229F", k);
	assert_string_not_equal(k, base); /* the roles swapped */
	dialback_key(SECRET, SECRET_LEN, "xmpp.example.com", "example.org", "D60000229G", k);
	assert_string_not_equal(k, base);
	dialback_key((const uint8_t *)"another", 7, "xmpp.example.com", "example.org", "D60000229F",
		     k);
	assert_string_not_equal(k, base);
	/* the space keeps "example.in" + "form.example.org" apart from
	 * "example.info" + "rm.example.org" (XEP-0185 2, note 5) */
	char a[DIALBACK_KEY_LEN + 1], b[DIALBACK_KEY_LEN + 1];
	dialback_key(SECRET, SECRET_LEN, "example.in", "form.example.org", "x", a);
	dialback_key(SECRET, SECRET_LEN, "example.info", "rm.example.org", "x", b);
	assert_string_not_equal(a, b);
}

static void test_empty_inputs_refused(void **state)
{
	(void)state;
	char k[DIALBACK_KEY_LEN + 1];
	assert_int_equal(dialback_key(SECRET, SECRET_LEN, "", "example.org", "id", k), XS_INVAL);
	assert_int_equal(dialback_key(SECRET, SECRET_LEN, "a.example", "", "id", k), XS_INVAL);
	assert_int_equal(dialback_key(SECRET, SECRET_LEN, "a.example", "b.example", "", k), XS_INVAL);
	assert_string_equal(k, "");
}

static void test_equal(void **state)
{
	(void)state;
	const char *want = "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643";
	char exp[DIALBACK_KEY_LEN + 1];
	strcpy(exp, want);
	assert_true(dialback_key_equal(want, 64, exp));
	assert_true(dialback_key_equal("37C69B1CF07A3F67C04A5EF5902FA5114F2C76FE4A2686482BA5B89323075643",
				       64, exp));
	assert_false(dialback_key_equal(want, 63, exp));
	char bad[65];
	strcpy(bad, want);
	bad[63] = '4';
	assert_false(dialback_key_equal(bad, 64, exp));
	bad[63] = '3';
	bad[0] = '4';
	assert_false(dialback_key_equal(bad, 64, exp));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xep0185_example),
		cmocka_unit_test(test_inputs_change_the_key),
		cmocka_unit_test(test_empty_inputs_refused),
		cmocka_unit_test(test_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
