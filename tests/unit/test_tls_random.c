/* wolfCrypt's random source.  The lean wolfSSL build draws every random
 * block from the kernel (getrandom, tls/rng/getrandom_block.c) instead of
 * running a Hash_DRBG per WC_RNG; these tests check that the build is
 * configured so, that wolfCrypt's RNG really goes through that function
 * (the link wraps it and counts the calls), and that what comes out looks
 * like random bytes, whole, including a request longer than one getrandom
 * read.  The wolfCrypt checks also run against Debian's libwolfssl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#ifndef XMPPD_SYSTEM_WOLFSSL
#if !defined(CUSTOM_RAND_GENERATE_BLOCK) || !defined(WC_NO_HASHDRBG)
#error "the lean wolfSSL build should take its random blocks from xmppd_random_block"
#endif
int xmppd_random_block(unsigned char *output, unsigned int sz);

#ifdef XMPPD_WRAP_RANDOM_BLOCK
/* -Wl,--wrap=xmppd_random_block: wolfCrypt's calls land here first. */
static unsigned wrapped_calls;
int __real_xmppd_random_block(unsigned char *output, unsigned int sz);
int __wrap_xmppd_random_block(unsigned char *output, unsigned int sz);
int __wrap_xmppd_random_block(unsigned char *output, unsigned int sz)
{
	wrapped_calls++;
	return __real_xmppd_random_block(output, sz);
}
#endif

/* Byte counts of a buffer against the uniform distribution: chi-square
 * with 255 degrees of freedom has mean 255 and standard deviation ~22.6;
 * 400 is over six standard deviations out (a false alarm about once in
 * 10^9 runs), while a constant, zeroed or half-filled buffer scores in the
 * thousands or more. */
static double chi_square(const unsigned char *p, size_t n)
{
	size_t count[256] = { 0 };
	for (size_t i = 0; i < n; i++)
		count[p[i]]++;
	double expect = (double)n / 256.0, chi = 0;
	for (int b = 0; b < 256; b++)
		chi += ((double)count[b] - expect) * ((double)count[b] - expect) / expect;
	return chi;
}

static void test_block_fills_whole_buffer(void **state)
{
	(void)state;
	/* 1 MiB: past getrandom's 256-byte no-short-read size, so the loop
	 * must carry on where a short read stopped. */
	size_t n = 1u << 20;
	unsigned char *buf = calloc(1, n);
	assert_non_null(buf);
	assert_int_equal(xmppd_random_block(buf, (unsigned)n), 0);
	assert_true(chi_square(buf, n) < 400.0);
	/* the tail too, not only the start */
	assert_true(chi_square(buf + n - 65536, 65536) < 400.0);
	free(buf);

	unsigned char small[4096] = { 0 };
	assert_int_equal(xmppd_random_block(small, sizeof(small)), 0);
	assert_true(chi_square(small, sizeof(small)) < 400.0);
	assert_int_equal(xmppd_random_block(small, 0), 0);
}
#endif

static void test_wolfcrypt_rng_blocks(void **state)
{
	(void)state;
	WC_RNG rng;
	unsigned char a[32], b[32], zero[32] = { 0 };
#ifdef XMPPD_WRAP_RANDOM_BLOCK
	unsigned before = wrapped_calls;
#endif
	assert_int_equal(wc_InitRng(&rng), 0);
	assert_int_equal(wc_RNG_GenerateBlock(&rng, a, sizeof(a)), 0);
	assert_int_equal(wc_RNG_GenerateBlock(&rng, b, sizeof(b)), 0);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
#ifdef XMPPD_WRAP_RANDOM_BLOCK
	/* both blocks came from the kernel through our function */
	assert_true(wrapped_calls >= before + 2);
#endif

	/* and what needs randomness in a handshake works on top of it: two
	 * fresh P-256 keys differ */
	ecc_key k1, k2;
	unsigned char p1[65], p2[65];
	word32 l1 = sizeof(p1), l2 = sizeof(p2);
	assert_int_equal(wc_ecc_init(&k1), 0);
	assert_int_equal(wc_ecc_init(&k2), 0);
	assert_int_equal(wc_ecc_make_key_ex(&rng, 32, &k1, ECC_SECP256R1), 0);
	assert_int_equal(wc_ecc_make_key_ex(&rng, 32, &k2, ECC_SECP256R1), 0);
	assert_int_equal(wc_ecc_export_x963(&k1, p1, &l1), 0);
	assert_int_equal(wc_ecc_export_x963(&k2, p2, &l2), 0);
	assert_int_equal(l1, l2);
	assert_memory_not_equal(p1, p2, l1);
	wc_ecc_free(&k1);
	wc_ecc_free(&k2);
	wc_FreeRng(&rng);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#ifndef XMPPD_SYSTEM_WOLFSSL
		cmocka_unit_test(test_block_fills_whole_buffer),
#endif
		cmocka_unit_test(test_wolfcrypt_rng_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
