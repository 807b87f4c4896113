/* core/base/cidr.c: parsing networks as an administrator writes them in
 * [limits] exempt_networks, and matching the addresses accept() returns
 * (IPv4, IPv6, IPv4-mapped IPv6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "core/base/cidr.h"

static bool in(const char *net, const char *ip)
{
	struct cidr c;
	assert_null(cidr_parse(net, &c));
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1)
		return cidr_contains(&c, (struct sockaddr *)&s4);
	assert_int_equal(inet_pton(AF_INET6, ip, &s6.sin6_addr), 1);
	return cidr_contains(&c, (struct sockaddr *)&s6);
}

static void test_match(void **state)
{
	assert_true(in("127.0.0.0/8", "127.1.2.3"));
	assert_false(in("127.0.0.0/8", "128.0.0.1"));
	assert_true(in("192.0.2.0/26", "192.0.2.63"));
	assert_false(in("192.0.2.0/26", "192.0.2.64"));
	assert_true(in("192.0.2.7", "192.0.2.7"));   /* one address: /32 */
	assert_false(in("192.0.2.7", "192.0.2.6"));
	assert_true(in("0.0.0.0/0", "203.0.113.9"));
	assert_false(in("0.0.0.0/0", "2001:db8::1")); /* families do not mix */
	assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(in("2001:db8::/32", "2001:db9::1"));
	assert_true(in("2001:db8:0:100::/57", "2001:db8:0:17f::1"));
	assert_false(in("2001:db8:0:100::/57", "2001:db8:0:180::1"));
	assert_true(in("::1", "::1"));
	/* IPv4 through a dual-stack socket is the IPv4 address */
	assert_true(in("10.0.0.0/8", "::ffff:10.9.8.7"));
	assert_false(in("::ffff:0:0/96", "::ffff:10.9.8.7"));
	assert_false(in("10.0.0.0/8", "::ffff:11.9.8.7"));
}

static void refused(const char *s, const char *why_part)
{
	struct cidr c;
	const char *why = cidr_parse(s, &c);
	assert_non_null(why);
	assert_non_null(strstr(why, why_part));
}

static void test_parse(void **state)
{
	struct cidr c;
	assert_null(cidr_parse("10.0.0.0/8", &c));
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_null(cidr_parse("2001:db8::", &c));
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 128);
	refused("10.0.0.1/8", "past the prefix");
	refused("2001:db8::1/64", "past the prefix");
	refused("10.0.0.0/33", "0..32");
	refused("::/129", "0..128");
	refused("10.0.0.0/", "not a number");
	refused("10.0.0.0/-1", "not a number");
	refused("10.0.0.0/8x", "0..32");
	refused("example.org", "not a numeric");
	refused("", "not an address");
	refused("/8", "not an address");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
