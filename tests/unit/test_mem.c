/* The allocator seam (core/base/mem.c): the build really uses the allocator it
 * says, and in the jemalloc build freed memory goes back to the kernel even
 * when long-lived small blocks were allocated in between, the pattern of
 * sessions going to sleep (their parser and TLS object freed, the
 * connection record and exported state kept). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/base/mem.h"

static void test_allocator_matches_build(void **state)
{
	(void)state;
#ifdef XMPPD_HAVE_JEMALLOC
	assert_memory_equal(mem_allocator_name(), "jemalloc", 8);
	/* fails if libc's malloc won the link order */
	assert_true(mem_malloc_is_jemalloc());
#else
	assert_string_equal(mem_allocator_name(), "glibc malloc");
	assert_false(mem_malloc_is_jemalloc());
#endif
	mem_release(); /* harmless with nothing to release */
}

#ifdef XMPPD_HAVE_JEMALLOC
static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &res), 2);
	fclose(f);
	return res * (size_t)sysconf(_SC_PAGESIZE);
}

enum { N_SESSIONS = 4000 };
/* What one session allocates while awake, in order: blocks of many size
 * classes, like an expat parser and a WOLFSSL do. */
static const size_t transient_sizes[] = { 48, 96, 288, 600, 1100, 2600, 4100, 7700 };
#define N_TRANSIENT (sizeof(transient_sizes) / sizeof(transient_sizes[0]))

static void test_release_after_interleaved_frees(void **state)
{
	(void)state;
	static void *transient[N_SESSIONS][N_TRANSIENT];
	static void *kept[N_SESSIONS][2];
	size_t transient_total = 0;

	size_t before = rss_bytes();
	for (size_t i = 0; i < N_SESSIONS; i++) {
		/* a connection record before, exported state after: the
		 * long-lived blocks sit on both sides of the transient ones */
		kept[i][0] = malloc(464);
		assert_non_null(kept[i][0]);
		memset(kept[i][0], 1, 464);
		for (size_t k = 0; k < N_TRANSIENT; k++) {
			transient[i][k] = malloc(transient_sizes[k]);
			assert_non_null(transient[i][k]);
			memset(transient[i][k], 2, transient_sizes[k]);
			transient_total += transient_sizes[k];
		}
		kept[i][1] = malloc(288);
		assert_non_null(kept[i][1]);
		memset(kept[i][1], 3, 288);
	}
	size_t full = rss_bytes();
	assert_true(full - before >= transient_total); /* the pages were touched */

	for (size_t i = 0; i < N_SESSIONS; i++)
		for (size_t k = 0; k < N_TRANSIENT; k++)
			free(transient[i][k]);
	mem_release();
	size_t after = rss_bytes();
	print_message("transient %zu KiB; RSS +%zu KiB full, +%zu KiB after release\n",
		      transient_total / 1024, (full - before) / 1024,
		      after > before ? (after - before) / 1024 : 0);
	/* at least 3/4 of what was freed is given back (glibc malloc gives
	 * back a small part of it in this pattern) */
	assert_true(full - after >= transient_total * 3 / 4);

	for (size_t i = 0; i < N_SESSIONS; i++) {
		assert_int_equal(((unsigned char *)kept[i][0])[463], 1);
		assert_int_equal(((unsigned char *)kept[i][1])[0], 3);
		free(kept[i][0]);
		free(kept[i][1]);
	}
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allocator_matches_build),
#ifdef XMPPD_HAVE_JEMALLOC
		cmocka_unit_test(test_release_after_interleaved_frees),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
