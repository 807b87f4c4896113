/* mux/peer_table.c: address keys, per-address and pre-auth counts, the
 * failure memory and its bound, and several threads at once (this test
 * runs under ThreadSanitizer in scripts/test.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "mux/peer_table.h"

static const struct peer_limits lim = {
	.max_per_addr = 3, .max_preauth = 5, .v6_prefix = 64, .max_idle = 4,
	.fail_memory_ms = 1000,
};

static void key_is(const char *ip, unsigned prefix, const char *want)
{
	char k[PEER_KEY_LEN];
	assert_true(peer_key_text(ip, prefix, k));
	assert_string_equal(k, want);
}

static void test_keys(void **state)
{
	key_is("192.0.2.7", 64, "192.0.2.7");
	/* one customer's /64 is one peer, whatever the interface id */
	key_is("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64");
	key_is("2001:db8:1:2::1", 64, "2001:db8:1:2::/64");
	key_is("2001:db8:1:3::1", 64, "2001:db8:1:3::/64");
	key_is("2001:db8:1:2::1", 48, "2001:db8:1::/48");
	key_is("2001:db8:1:ff::1", 52, "2001:db8:1::/52");
	key_is("2001:db8:1:1fff::1", 52, "2001:db8:1:1000::/52");
	key_is("::1", 128, "::1/128");
	/* IPv4 through an IPv6 socket is the IPv4 address */
	key_is("::ffff:192.0.2.7", 64, "192.0.2.7");
	char k[PEER_KEY_LEN];
	assert_false(peer_key_text("not an address", 64, k));
	assert_false(peer_key_text("", 64, k));
}

static void test_limits(void **state)
{
	struct peer_table *t = peer_table_new(&lim);
	assert_non_null(t);
	for (int i = 0; i < 3; i++)
		assert_int_equal(peer_conn_open(t, "a", 0, false), PEER_OK);
	assert_int_equal(peer_conn_open(t, "a", 0, false), PEER_TOO_MANY_FROM_ADDR);
	assert_int_equal(peer_conns(t, "a"), 3);
	assert_int_equal(peer_conn_open(t, "b", 0, false), PEER_OK);
	assert_int_equal(peer_conn_open(t, "b", 0, false), PEER_OK);
	/* five unauthenticated in all */
	assert_int_equal(peer_conn_open(t, "c", 0, false), PEER_TOO_MANY_PREAUTH);
	peer_conn_authenticated(t, "a");
	assert_int_equal(peer_conn_open(t, "c", 0, false), PEER_OK);
	assert_int_equal(peer_conn_open(t, "d", 0, false), PEER_TOO_MANY_PREAUTH);
	/* the authenticated one still counts for its address */
	peer_conn_close(t, "a", true, 0);
	peer_conn_close(t, "a", true, 0);
	assert_int_equal(peer_conns(t, "a"), 1);
	assert_int_equal(peer_conn_open(t, "a", 0, false), PEER_OK);
	peer_conn_close(t, "a", false, 0);
	peer_conn_close(t, "a", true, 0);
	peer_conn_close(t, "b", true, 0);
	peer_conn_close(t, "b", true, 0);
	peer_conn_close(t, "c", true, 0);
	struct peer_stats st;
	peer_table_stats(t, &st);
	assert_int_equal(st.preauth, 0);
	assert_int_equal(st.records, 0); /* nothing to remember */
	peer_table_free(t);
}

static void test_failures(void **state)
{
	struct peer_table *t = peer_table_new(&lim);
	assert_non_null(t);
	assert_int_equal(peer_auth_failed(t, "a", 1000), 1);
	assert_int_equal(peer_auth_failed(t, "a", 1500), 2);
	/* remembered across connections from the address */
	assert_int_equal(peer_conn_open(t, "a", 0, false), PEER_OK);
	assert_int_equal(peer_auth_failed(t, "a", 1600), 3);
	peer_conn_close(t, "a", true, 0);
	assert_int_equal(peer_auth_failed(t, "a", 1700), 4);
	/* forgotten after fail_memory_ms of quiet */
	assert_int_equal(peer_auth_failed(t, "a", 2701), 1);
	peer_auth_succeeded(t, "a");
	assert_int_equal(peer_auth_failed(t, "a", 2800), 1);
	peer_table_free(t);
}

/* At most max_idle addresses are remembered for their failures alone; the
 * oldest goes first, and an address with a connection is never evicted. */
static void test_bounded(void **state)
{
	struct peer_table *t = peer_table_new(&lim);
	assert_non_null(t);
	assert_int_equal(peer_conn_open(t, "live", 0, false), PEER_OK);
	assert_int_equal(peer_auth_failed(t, "live", 10), 1);
	char k[16];
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "x%d", i);
		assert_int_equal(peer_auth_failed(t, k, 10), 1);
	}
	struct peer_stats st;
	peer_table_stats(t, &st);
	assert_int_equal(st.idle_records, 4);
	assert_int_equal(st.records, 5);
	assert_int_equal(peer_auth_failed(t, "x999", 20), 2);  /* newest kept */
	assert_int_equal(peer_auth_failed(t, "x0", 20), 1);    /* oldest gone */
	assert_int_equal(peer_auth_failed(t, "live", 20), 2);
	/* touching moves a record to the new end */
	assert_int_equal(peer_auth_failed(t, "x997", 20), 2);
	for (int i = 0; i < 3; i++) {
		snprintf(k, sizeof(k), "y%d", i);
		peer_auth_failed(t, k, 20);
	}
	assert_int_equal(peer_auth_failed(t, "x997", 30), 3);
	peer_conn_close(t, "live", true, 0);
	peer_table_free(t);
}

/* New connections from one address: a burst, then the rate; a refused
 * attempt takes no token; other addresses are not affected; the record
 * is kept while its bucket is not full and forgotten once it is. */
static void test_rate(void **state)
{
	struct peer_limits l = lim;
	l.max_per_addr = 100;
	l.max_preauth = 0;
	l.conn_rate = 2; /* one token every 500 ms */
	l.conn_burst = 3;
	struct peer_table *t = peer_table_new(&l);
	assert_non_null(t);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(peer_conn_open(t, "a", 1000, false), PEER_OK);
		peer_conn_close(t, "a", true, 1000); /* closing gives nothing back */
	}
	assert_int_equal(peer_conn_open(t, "a", 1000, false), PEER_TOO_FAST);
	assert_int_equal(peer_conn_open(t, "b", 1000, false), PEER_OK);
	/* refused attempts all along do not push the next token back */
	for (uint64_t ms = 1000; ms < 1500; ms += 50)
		assert_int_equal(peer_conn_open(t, "a", ms, false), PEER_TOO_FAST);
	assert_int_equal(peer_conn_open(t, "a", 1500, false), PEER_OK);
	assert_int_equal(peer_conn_open(t, "a", 1500, false), PEER_TOO_FAST);
	assert_int_equal(peer_conns(t, "a"), 1);
	peer_conn_close(t, "a", true, 1500);
	peer_conn_close(t, "b", true, 1000);
	struct peer_stats st;
	peer_table_stats(t, &st);
	assert_int_equal(st.records, 2);   /* neither bucket is full */
	assert_int_equal(st.idle_records, 2);
	/* a clock read a little earlier by another thread earns nothing */
	assert_int_equal(peer_conn_open(t, "a", 1400, false), PEER_TOO_FAST);
	/* a long quiet fills the bucket, never past the burst */
	for (int i = 0; i < 3; i++)
		assert_int_equal(peer_conn_open(t, "a", 100000, false), PEER_OK);
	assert_int_equal(peer_conn_open(t, "a", 100000, false), PEER_TOO_FAST);
	for (int i = 0; i < 3; i++)
		peer_conn_close(t, "a", true, 100000);
	/* "b" has filled up meanwhile: the close of "a" forgets it */
	peer_table_stats(t, &st);
	assert_int_equal(st.records, 1);
	/* and "a" itself once its bucket is full again */
	assert_int_equal(peer_conn_open(t, "c", 200000, false), PEER_OK);
	peer_conn_close(t, "c", true, 200000);
	peer_table_stats(t, &st);
	assert_int_equal(st.records, 1); /* "c" */
	peer_table_free(t);
}

/* In-band registrations per address: reg_per_hour at once, then that
 * many an hour; a refusal takes nothing; the record outlives the
 * connection while the bucket is not full, so reconnecting does not
 * reset it. */
static void test_registrations(void **state)
{
	struct peer_limits l = lim;
	l.max_per_addr = 100;
	l.max_preauth = 0;
	l.reg_per_hour = 2; /* one every 30 minutes */
	struct peer_table *t = peer_table_new(&l);
	assert_non_null(t);
	const uint64_t min = 60 * 1000;
	assert_int_equal(peer_conn_open(t, "a", 0, false), PEER_OK);
	assert_int_equal(peer_conn_open(t, "b", 0, false), PEER_OK);
	assert_true(peer_registration_take(t, "a", 0));
	assert_true(peer_registration_take(t, "a", 1));
	assert_false(peer_registration_take(t, "a", 2));
	assert_true(peer_registration_take(t, "b", 2)); /* another address */
	/* refused attempts do not push the next one back */
	for (uint64_t ms = 2; ms < 30 * min; ms += min)
		assert_false(peer_registration_take(t, "a", ms));
	assert_true(peer_registration_take(t, "a", 30 * min + 1));
	assert_false(peer_registration_take(t, "a", 30 * min + 2));
	/* a new connection from the same address finds the bucket as it was */
	peer_conn_close(t, "a", true, 31 * min);
	struct peer_stats st;
	peer_table_stats(t, &st);
	assert_int_equal(st.records, 2);
	assert_int_equal(peer_conn_open(t, "a", 32 * min, false), PEER_OK);
	assert_false(peer_registration_take(t, "a", 32 * min));
	/* an hour refills it, never past reg_per_hour */
	assert_true(peer_registration_take(t, "a", 200 * min));
	assert_true(peer_registration_take(t, "a", 200 * min));
	assert_false(peer_registration_take(t, "a", 200 * min));
	/* no record (no connection): nothing allowed */
	assert_false(peer_registration_take(t, "nobody", 0));
	peer_conn_close(t, "a", true, 200 * min);
	peer_conn_close(t, "b", true, 200 * min);
	/* both buckets are full again by now... "a" was just emptied */
	peer_table_stats(t, &st);
	assert_int_equal(st.records, 1);
	peer_table_free(t);
	/* 0: no limit */
	l.reg_per_hour = 0;
	t = peer_table_new(&l);
	assert_non_null(t);
	for (int i = 0; i < 100; i++)
		assert_true(peer_registration_take(t, "x", 0));
	peer_table_free(t);
}

/* An exempt address is counted, but neither the per-address count nor
 * the rate holds it; the total of unauthenticated connections does. */
static void test_exempt(void **state)
{
	struct peer_limits l = lim; /* max_per_addr 3, max_preauth 5 */
	l.conn_rate = 1;
	l.conn_burst = 1;
	struct peer_table *t = peer_table_new(&l);
	assert_non_null(t);
	for (int i = 0; i < 5; i++)
		assert_int_equal(peer_conn_open(t, "gw", 0, true), PEER_OK);
	assert_int_equal(peer_conns(t, "gw"), 5);
	assert_int_equal(peer_conn_open(t, "gw", 0, true), PEER_TOO_MANY_PREAUTH);
	for (int i = 0; i < 5; i++)
		peer_conn_authenticated(t, "gw");
	for (int i = 0; i < 5; i++)
		assert_int_equal(peer_conn_open(t, "gw", 0, true), PEER_OK);
	/* the same key not exempt (a listener's view cannot differ, but the
	 * table must not have spent tokens on it) */
	assert_int_equal(peer_conn_open(t, "x", 0, false), PEER_TOO_MANY_PREAUTH);
	for (int i = 0; i < 10; i++)
		peer_conn_close(t, "gw", i < 5, 0);
	struct peer_stats st;
	peer_table_stats(t, &st);
	assert_int_equal(st.records, 0); /* an exempt bucket stays full */
	assert_int_equal(st.preauth, 0);
	peer_table_free(t);
}

/* ---- several threads ---- */

static struct peer_table *shared;

static void *hammer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	char k[PEER_KEY_LEN];
	for (unsigned i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "10.0.%u.%u", id, i % 7);
		if (peer_conn_open(shared, k, i, i % 5 == 0) == PEER_OK) {
			if (i % 3 == 0)
				peer_conn_authenticated(shared, k);
			peer_auth_failed(shared, k, i);
			peer_conn_close(shared, k, i % 3 != 0, i);
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct peer_limits l = lim;
	l.max_preauth = 0;
	l.max_per_addr = 2;
	l.max_idle = 10;
	l.conn_rate = 50;
	l.conn_burst = 4;
	shared = peer_table_new(&l);
	assert_non_null(shared);
	pthread_t th[4];
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)i), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	struct peer_stats st;
	peer_table_stats(shared, &st);
	assert_int_equal(st.preauth, 0);
	assert_true(st.records <= 10);
	peer_table_free(shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_exempt),
		cmocka_unit_test(test_registrations),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
