/* Unit tests for core/xmpp/datetime.c: XEP-0082 DateTime parsing (the
 * profile's forms, offsets, fractions, and what must be refused) and
 * formatting, round trips across leap years and the epoch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "core/xmpp/datetime.h"

static void test_parse(void **state)
{
	(void)state;
	int64_t us;
	assert_true(xep82_parse("1970-01-01T00:00:00Z", &us));
	assert_int_equal(us, 0);
	/* XEP-0082's own example */
	assert_true(xep82_parse("1969-07-21T02:56:15Z", &us));
	assert_int_equal(us, -14159025LL * 1000000);
	assert_true(xep82_parse("1969-07-20T21:56:15-05:00", &us));
	assert_int_equal(us, -14159025LL * 1000000);
	assert_true(xep82_parse("2010-06-07T14:03:20.123Z", &us));
	assert_int_equal(us, 1275919400123000LL);
	assert_true(xep82_parse("2010-06-07T14:03:20.1234567Z", &us));
	assert_int_equal(us, 1275919400123456LL);
	assert_true(xep82_parse("2024-02-29T12:00:00+01:30", &us));
	assert_int_equal(us, (1709208000LL - 5400) * 1000000);

	static const char *const bad[] = {
		"", "2010-06-07", "2010-06-07T14:03:20", "2010-06-07T14:03Z",
		"2010-13-07T14:03:20Z", "2010-02-30T14:03:20Z", "2023-02-29T00:00:00Z",
		"2010-06-07T24:00:00Z", "2010-06-07T14:60:00Z", "2010-06-07T14:03:20.Z",
		"2010-06-07T14:03:20Zx", "2010-06-07 14:03:20Z", "2010-06-07T14:03:20+0200",
		"2010-06-07T14:03:20+24:00", "201O-06-07T14:03:20Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (xep82_parse(bad[i], &us))
			fail_msg("accepted %s", bad[i]);
}

static void test_format_round_trip(void **state)
{
	(void)state;
	char out[32];
	xep82_format(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	xep82_format(1275919400123456LL, out);
	assert_string_equal(out, "2010-06-07T14:03:20.123456Z");
	xep82_format(-14159025LL * 1000000, out);
	assert_string_equal(out, "1969-07-21T02:56:15Z");
	/* every day across four years, and the libc's view of each */
	for (int64_t s = 946684800; s < 946684800 + 4 * 366 * 86400; s += 86400 + 3661) {
		int64_t back;
		xep82_format(s * 1000000, out);
		assert_true(xep82_parse(out, &back));
		assert_int_equal(back, s * 1000000);
		time_t t = (time_t)s;
		struct tm tm;
		char want[32];
		gmtime_r(&t, &tm);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
		assert_string_equal(out, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_format_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
