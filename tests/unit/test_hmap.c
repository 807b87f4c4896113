/* The router's hash map and its keyed hash: SipHash-2-4 against the
 * specification's test vectors and SipHash-1-3 against OpenSSL's
 * (`openssl mac SIPHASH` prints both),
 * per-map random keys, and put/get/delete across growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/hmap.h"
#include "core/base/siphash.h"

static struct siphash_key spec_key(void)
{
	uint8_t k[16];
	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	return siphash_key_from_bytes(k);
}

static void test_siphash_vectors(void **state)
{
	(void)state;
	struct siphash_key k = spec_key();
	uint8_t msg[64];
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* key 00..0f, message 00..(len-1) */
	assert_true(siphash24(&k, msg, 0) == 0x726fdb47dd0e0e31ULL);
	assert_true(siphash24(&k, msg, 15) == 0xa129ca6149be45e5ULL); /* the paper's example */
	assert_true(siphash24(&k, msg, 63) == 0x958a324ceb064572ULL);
	/* 8 and 16 bytes: the length byte of the last word alone */
	assert_true(siphash24(&k, msg, 8) != siphash24(&k, msg, 7));
	assert_true(siphash24(&k, msg, 16) != siphash24(&k, msg, 15));
	/* SipHash-1-3, what the maps use (openssl mac -macopt c-rounds:1
	 * -macopt d-rounds:3 SIPHASH prints the same, little-endian) */
	assert_true(siphash13(&k, msg, 0) == 0xabac0158050fc4dcULL);
	assert_true(siphash13(&k, msg, 15) == 0xd320d86d2a519956ULL);
	assert_true(siphash13(&k, msg, 63) == 0x9d199062b7bbb3a8ULL);
}

static void test_keys_differ(void **state)
{
	(void)state;
	struct hmap a, b;
	assert_int_equal(hmap_init(&a, 16), 0);
	assert_int_equal(hmap_init(&b, 16), 0);
	/* two maps, two random keys: the same JID hashes differently */
	assert_true(hmap_hash(&a, "alice@example.test/r") != hmap_hash(&b, "alice@example.test/r"));
	assert_true(hmap_hash(&a, "x") == hmap_hash(&a, "x"));
	hmap_deinit(&a);
	hmap_deinit(&b);
}

struct item {
	struct hmap_entry e;
	char key[32];
};

static void test_put_get_del(void **state)
{
	(void)state;
	enum { N = 5000 };
	struct hmap m;
	struct item *items = calloc(N, sizeof(*items));
	assert_non_null(items);
	assert_int_equal(hmap_init(&m, 4), 0);
	for (int i = 0; i < N; i++) {
		snprintf(items[i].key, sizeof(items[i].key), "u%d@example.test/r", i);
		hmap_put(&m, &items[i].e, items[i].key);
	}
	assert_int_equal(m.count, N);
	assert_true(m.n_buckets >= N); /* grew with the load */
	for (int i = 0; i < N; i++)
		assert_ptr_equal(hmap_get(&m, items[i].key), &items[i].e);
	assert_null(hmap_get(&m, "nobody@example.test/r"));
	for (int i = 0; i < N; i += 2)
		hmap_del(&m, &items[i].e);
	assert_int_equal(m.count, N / 2);
	for (int i = 0; i < N; i++)
		if (i % 2)
			assert_ptr_equal(hmap_get(&m, items[i].key), &items[i].e);
		else
			assert_null(hmap_get(&m, items[i].key));
	hmap_deinit(&m);
	free(items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_keys_differ),
		cmocka_unit_test(test_put_get_del),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
