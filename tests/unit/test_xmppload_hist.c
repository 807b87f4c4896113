/* Unit tests for bench/xmppload/hist.c, the load generator's latency
 * histogram: bucket arithmetic (every value lands in a bucket whose bounds
 * hold it, and buckets are at most 1/128 of their value wide), percentiles
 * of known sets (uniform and bimodal) within bucket precision, merging two
 * histograms equals the histogram of the union, and values outside
 * 1 µs..60 s clamp to the range and are counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/xmppload/hist.h"

/* Within the histogram's promise: 1/128 of the value, plus a nanosecond. */
static void assert_near(uint64_t got, uint64_t want)
{
	double tol = (double)want / 128.0 + 1.0;

	if (fabs((double)got - (double)want) > tol)
		fail_msg("got %llu, want %llu (+-%.0f)", (unsigned long long)got,
			 (unsigned long long)want, tol);
}

static struct hist *new_hist(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_init(h);
	return h;
}

static void test_buckets(void **state)
{
	uint64_t v;

	/* Powers of two and their neighbours, then a sweep. */
	for (unsigned k = 0; k < 36; k++) {
		for (int d = -1; d <= 1; d++) {
			v = (1ull << k) + (uint64_t)(int64_t)d;
			size_t b = hist_bucket_of(v);
			assert_true(b < HIST_BUCKETS);
			assert_true(hist_bucket_low(b) <= v);
			assert_true(hist_bucket_high(b) >= v);
		}
	}
	for (v = 1; v < HIST_MAX_NS; v = v * 1.01 + 1) {
		size_t b = hist_bucket_of(v);
		uint64_t lo = hist_bucket_low(b), hi = hist_bucket_high(b);

		assert_true(lo <= v && v <= hi);
		/* the bucket next door starts right after this one ends */
		assert_int_equal(hist_bucket_low(b + 1), hi + 1);
		assert_true((double)(hi - lo + 1) <= (double)lo / 128.0 + 1.0);
	}
	assert_true(hist_bucket_of(HIST_MAX_NS) < HIST_BUCKETS);
}

/* 1 µs, 2 µs, ... 100 ms: percentile p is p% of 100 ms. */
static void test_uniform(void **state)
{
	struct hist *h = new_hist();

	for (uint64_t i = 1; i <= 100000; i++)
		hist_record(h, i * 1000);
	assert_int_equal(h->count, 100000);
	assert_int_equal(h->underflow + h->overflow, 0);
	assert_near(hist_percentile(h, 50), 50000000);
	assert_near(hist_percentile(h, 90), 90000000);
	assert_near(hist_percentile(h, 99), 99000000);
	assert_near(hist_percentile(h, 99.9), 99900000);
	assert_int_equal(hist_percentile(h, 100), 100000000);
	assert_int_equal(hist_percentile(h, 0), 1000);
	assert_near((uint64_t)hist_mean(h), 50000500);
	free(h);
}

/* 980 fast answers around 200 µs, 20 slow ones around 50 ms: the median
 * sits in the first mode, p99 in the second, and p98 still in the first. */
static void test_bimodal(void **state)
{
	struct hist *h = new_hist();

	for (unsigned i = 0; i < 980; i++)
		hist_record(h, 200000 + (i % 10) * 100);
	for (unsigned i = 0; i < 20; i++)
		hist_record(h, 50000000 + i * 1000);
	assert_near(hist_percentile(h, 50), 200400);
	assert_near(hist_percentile(h, 98), 200900);
	assert_near(hist_percentile(h, 99), 50010000);
	assert_near(hist_percentile(h, 99.9), 50019000);
	assert_int_equal(hist_percentile(h, 100), 50019000);
	free(h);
}

static void test_merge(void **state)
{
	struct hist *a = new_hist(), *b = new_hist(), *all = new_hist();
	uint64_t x = 88172645463325252ull;

	for (unsigned i = 0; i < 50000; i++) {
		/* xorshift: values spread over the whole range and beyond */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t v = x % (HIST_MAX_NS * 2);

		hist_record(i % 3 ? a : b, v);
		hist_record(all, v);
	}
	hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->underflow, all->underflow);
	assert_int_equal(a->overflow, all->overflow);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
	for (double p = 1; p < 100; p += 7.3)
		assert_int_equal(hist_percentile(a, p), hist_percentile(all, p));
	/* merging an empty histogram changes nothing */
	hist_init(b);
	hist_merge(a, b);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->count, all->count);
	free(a);
	free(b);
	free(all);
}

static void test_clamp(void **state)
{
	struct hist *h = new_hist();

	hist_record(h, 0);
	hist_record(h, 999);
	hist_record(h, HIST_MAX_NS + 1);
	hist_record(h, UINT64_MAX);
	hist_record(h, 5000);
	assert_int_equal(h->count, 5);
	assert_int_equal(h->underflow, 2);
	assert_int_equal(h->overflow, 2);
	assert_int_equal(h->min, HIST_MIN_NS);
	assert_int_equal(h->max, HIST_MAX_NS);
	assert_near(hist_percentile(h, 20), HIST_MIN_NS);
	assert_near(hist_percentile(h, 40), HIST_MIN_NS);
	assert_near(hist_percentile(h, 60), 5000);
	assert_near(hist_percentile(h, 80), HIST_MAX_NS);
	assert_int_equal(hist_percentile(h, 100), HIST_MAX_NS);
	free(h);
}

static void test_empty(void **state)
{
	struct hist *h = new_hist();

	assert_int_equal(hist_percentile(h, 50), 0);
	assert_true(hist_mean(h) == 0.0);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_bimodal),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_clamp),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
