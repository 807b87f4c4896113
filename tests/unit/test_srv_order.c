/* s2s/srv_order.c: RFC 2782 order over the two XMPP server services
 * (XEP-0368), and the outcomes without usable records (RFC 6120 3.2.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "s2s/srv_order.h"

static struct srv_record rec(const char *target, uint16_t prio, uint16_t weight, uint16_t port,
			     bool direct)
{
	struct srv_record r = { .priority = prio, .weight = weight, .port = port,
				.direct_tls = direct };
	strcpy(r.target, target);
	return r;
}

/* Draws from a script, then fails the test if asked for more. */
struct script {
	const uint32_t *draws;
	size_t n, i;
	uint32_t bounds[16];
};

static uint32_t scripted(void *arg, uint32_t bound)
{
	struct script *s = arg;
	assert_true(s->i < s->n);
	s->bounds[s->i] = bound;
	assert_true(s->draws[s->i] <= bound);
	return s->draws[s->i++];
}

/* xorshift32: a fixed sequence, so the statistical test cannot flake. */
static uint32_t xorshift(void *arg, uint32_t bound)
{
	uint32_t *x = arg;
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x % (bound + 1);
}

static void test_priority_first(void **state)
{
	(void)state;
	struct srv_record r[] = {
		rec("c.example", 20, 0, 5269, false),
		rec("a.example", 5, 0, 5270, true),
		rec("b.example", 10, 0, 5269, false),
	};
	struct srv_target out[8];
	size_t n;
	struct script s = { 0 };
	assert_int_equal(srv_order(r, 3, scripted, &s, out, 8, &n), SRV_TARGETS);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].host, "a.example");
	assert_int_equal(out[0].port, 5270);
	assert_true(out[0].direct_tls);
	assert_string_equal(out[1].host, "b.example");
	assert_false(out[1].direct_tls);
	assert_string_equal(out[2].host, "c.example");
	assert_int_equal(s.i, 0); /* weights of 0 alone: no draw needed */
}

/* RFC 2782: zero weights first, then the others in their order: running
 * sums zero 0, heavy 30, light 40; the first whose running sum reaches the
 * draw in [0, 40] is chosen. */
static void test_weighted_draws(void **state)
{
	(void)state;
	struct srv_record r[] = {
		rec("heavy", 1, 30, 1, false),
		rec("light", 1, 10, 2, false),
		rec("zero", 1, 0, 3, false),
	};
	struct srv_target out[3];
	size_t n;
	/* draw 0: "zero" (running sum 0); then heavy 30, light 40: 11 picks
	 * heavy; then light alone (sum 10) */
	uint32_t d1[] = { 0, 11, 7 };
	struct script s1 = { d1, 3, 0, { 0 } };
	assert_int_equal(srv_order(r, 3, scripted, &s1, out, 3, &n), SRV_TARGETS);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].host, "zero");
	assert_string_equal(out[1].host, "heavy");
	assert_string_equal(out[2].host, "light");
	assert_int_equal(s1.bounds[0], 40);
	assert_int_equal(s1.bounds[1], 40);
	assert_int_equal(s1.bounds[2], 10);

	/* 35: past heavy's 30, light's 40 reaches it; then zero 0, heavy 30:
	 * 0 picks zero */
	uint32_t d2[] = { 35, 0, 0 };
	struct script s2 = { d2, 3, 0, { 0 } };
	srv_order(r, 3, scripted, &s2, out, 3, &n);
	assert_string_equal(out[0].host, "light");
	assert_string_equal(out[1].host, "zero");
	assert_string_equal(out[2].host, "heavy");
}

/* Over many orders, a record of weight 30 beside one of 10 comes first
 * about three times in four. */
static void test_weights_share(void **state)
{
	(void)state;
	struct srv_record r[] = {
		rec("w10", 0, 10, 5269, false),
		rec("w30", 0, 30, 5269, false),
	};
	uint32_t x = 2463534242u;
	unsigned first30 = 0, trials = 4000;
	for (unsigned i = 0; i < trials; i++) {
		struct srv_target out[2];
		size_t n;
		srv_order(r, 2, xorshift, &x, out, 2, &n);
		assert_int_equal(n, 2);
		first30 += strcmp(out[0].host, "w30") == 0;
	}
	assert_in_range(first30, trials * 70 / 100, trials * 80 / 100);
}

/* XEP-0368: both services' records are one set; the kind follows each. */
static void test_services_mixed(void **state)
{
	(void)state;
	struct srv_record r[] = {
		rec("starttls.example", 5, 0, 5269, false),
		rec("tls.example", 10, 0, 443, true),
		rec("tls2.example", 1, 0, 5270, true),
	};
	struct srv_target out[3];
	size_t n;
	srv_order(r, 3, xorshift, &(uint32_t){ 1 }, out, 3, &n);
	assert_string_equal(out[0].host, "tls2.example");
	assert_true(out[0].direct_tls);
	assert_string_equal(out[1].host, "starttls.example");
	assert_false(out[1].direct_tls);
	assert_string_equal(out[2].host, "tls.example");
	assert_true(out[2].direct_tls);
}

static void test_no_records_falls_back(void **state)
{
	(void)state;
	struct srv_target out[1];
	size_t n = 7;
	assert_int_equal(srv_order(NULL, 0, xorshift, &(uint32_t){ 1 }, out, 1, &n), SRV_FALLBACK);
	assert_int_equal(n, 0);
}

/* "." under both services: no s2s service, and no address fallback; "."
 * only under _xmpps-server: STARTTLS targets only. */
static void test_dot_targets(void **state)
{
	(void)state;
	struct srv_record only_dots[] = {
		rec(".", 0, 0, 0, true),
		rec(".", 0, 0, 0, false),
	};
	struct srv_target out[4];
	size_t n;
	assert_int_equal(srv_order(only_dots, 2, xorshift, &(uint32_t){ 1 }, out, 4, &n),
			 SRV_NO_SERVICE);
	assert_int_equal(n, 0);
	struct srv_record no_direct[] = {
		rec(".", 0, 0, 0, true),
		rec("xmpp.example", 10, 5, 5269, false),
	};
	assert_int_equal(srv_order(no_direct, 2, xorshift, &(uint32_t){ 1 }, out, 4, &n),
			 SRV_TARGETS);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].host, "xmpp.example");
	assert_false(out[0].direct_tls);
}

static void test_max_targets(void **state)
{
	(void)state;
	struct srv_record r[] = {
		rec("a", 3, 0, 1, false), rec("b", 1, 0, 1, false), rec("c", 2, 0, 1, false),
	};
	struct srv_target out[2];
	size_t n;
	assert_int_equal(srv_order(r, 3, xorshift, &(uint32_t){ 1 }, out, 2, &n), SRV_TARGETS);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].host, "b");
	assert_string_equal(out[1].host, "c");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_priority_first),
		cmocka_unit_test(test_weighted_draws),
		cmocka_unit_test(test_weights_share),
		cmocka_unit_test(test_services_mixed),
		cmocka_unit_test(test_no_records_falls_back),
		cmocka_unit_test(test_dot_targets),
		cmocka_unit_test(test_max_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
