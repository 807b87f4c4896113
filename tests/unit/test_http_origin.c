/* Unit tests for core/http/http_origin.c: which origins are well formed,
 * and which may open a session: the request's own origin by default
 * (default ports written or not, case), a list, "*", and what never
 * matches ("null", another scheme, another port, a prefix of a name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/http/http_origin.h"

static bool valid(const char *s)
{
	return http_origin_valid(s, strlen(s));
}

static bool allowed(const char *list, const char *origin, const char *host)
{
	return http_origin_allowed(list, origin, strlen(origin), host, strlen(host));
}

static void test_valid(void **state)
{
	(void)state;
	assert_true(valid("http://localhost"));
	assert_true(valid("https://chat.example.com"));
	assert_true(valid("HTTPS://Chat.Example.com:8443"));
	assert_true(valid("http://127.0.0.1:5280"));
	assert_true(valid("http://[::1]:5280"));
	assert_false(valid("ftp://example.com"));
	assert_false(valid("https://"));
	assert_false(valid("https://example.com/"));
	assert_false(valid("https://example.com/path"));
	assert_false(valid("https://example.com:"));
	assert_false(valid("https://example.com:123456"));
	assert_false(valid("https://example.com:80a"));
	assert_false(valid("https://user@example.com"));
	assert_false(valid("https://[::1"));
	assert_false(valid("https://[]"));
	assert_false(valid("null"));
	assert_false(valid("*"));
}

static void test_same_origin_default(void **state)
{
	(void)state;
	assert_true(allowed("", "http://localhost:5280", "localhost:5280"));
	assert_true(allowed("", "http://LOCALHOST:5280", "localhost:5280"));
	assert_true(allowed("", "https://example.com", "example.com"));
	assert_true(allowed("", "https://example.com", "example.com:443"));
	assert_true(allowed("", "https://example.com:443", "example.com"));
	assert_true(allowed("", "http://example.com:80", "example.com"));
	assert_false(allowed("", "http://localhost:5281", "localhost:5280"));
	assert_false(allowed("", "https://evil.example", "example.com"));
	assert_false(allowed("", "https://example.com.evil", "example.com"));
	assert_false(allowed("", "https://example.co", "example.com"));
	assert_false(allowed("", "http://example.com", "example.com:443"));
	assert_false(allowed("", "null", "example.com"));
	assert_false(allowed("", "https://example.com", ""));
}

static void test_list(void **state)
{
	(void)state;
	const char *list = "https://chat.example.com, http://localhost:8080 https://b.example:8443";
	assert_true(allowed(list, "https://chat.example.com", "xmpp.example.com"));
	assert_true(allowed(list, "https://CHAT.example.com:443", "xmpp.example.com"));
	assert_true(allowed(list, "http://localhost:8080", "localhost:5280"));
	assert_true(allowed(list, "https://b.example:8443", "x"));
	assert_false(allowed(list, "http://chat.example.com", "xmpp.example.com"));
	assert_false(allowed(list, "http://localhost:8081", "localhost:5280"));
	assert_false(allowed(list, "https://b.example", "x"));
	/* a list replaces the own-origin default */
	assert_false(allowed(list, "http://localhost:5280", "localhost:5280"));
	assert_false(allowed(list, "null", "localhost:5280"));
}

static void test_any(void **state)
{
	(void)state;
	assert_true(allowed("*", "https://anything.example", "example.com"));
	assert_true(allowed("*", "null", "example.com"));
	assert_true(allowed("https://a.example *", "https://z.example", "example.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_same_origin_default),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_any),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
