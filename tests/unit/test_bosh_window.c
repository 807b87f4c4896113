/* Unit tests for core/http/bosh_window.c: the next rid, rids ahead within
 * the window and past it, repeats answered from the kept copies (and the
 * copies leaving as the window moves), a repeat whose answer is not kept
 * (still held), rids far behind, and the window's size clamped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/http/bosh_window.h"

static void test_order(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 1000, 2);
	assert_int_equal(bosh_window_check(&w, 1001), BOSH_RID_NEXT);
	assert_int_equal(bosh_window_check(&w, 1002), BOSH_RID_AHEAD);
	assert_int_equal(bosh_window_check(&w, 1003), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_check(&w, 5000), BOSH_RID_OUTSIDE);
	/* the creation request itself, not answered yet */
	assert_int_equal(bosh_window_check(&w, 1000), BOSH_RID_UNANSWERED);
	assert_int_equal(bosh_window_check(&w, 999), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_check(&w, 998), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_check(&w, 0), BOSH_RID_OUTSIDE);
	bosh_window_advance(&w);
	assert_int_equal(bosh_window_check(&w, 1002), BOSH_RID_NEXT);
	assert_int_equal(bosh_window_check(&w, 1003), BOSH_RID_AHEAD);
	assert_int_equal(bosh_window_check(&w, 1004), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_check(&w, 1001), BOSH_RID_UNANSWERED);
	assert_int_equal(bosh_window_check(&w, 1000), BOSH_RID_UNANSWERED);
	assert_int_equal(bosh_window_check(&w, 999), BOSH_RID_OUTSIDE);
	bosh_window_advance(&w);
	assert_int_equal(bosh_window_check(&w, 1000), BOSH_RID_OUTSIDE);
	bosh_window_free(&w);
}

static void test_repeat_and_forget(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 7, 2);
	assert_int_equal(bosh_window_keep(&w, 7, "<body a='7'/>", 13), XS_OK);
	assert_int_equal(bosh_window_check(&w, 7), BOSH_RID_REPEAT);
	const struct xbuf *k = bosh_window_kept(&w, 7);
	assert_non_null(k);
	assert_memory_equal(k->data, "<body a='7'/>", 13);
	bosh_window_advance(&w); /* 8 handled */
	assert_int_equal(bosh_window_keep(&w, 8, "<body a='8'/>", 13), XS_OK);
	assert_int_equal(bosh_window_check(&w, 7), BOSH_RID_REPEAT);
	assert_int_equal(bosh_window_check(&w, 8), BOSH_RID_REPEAT);
	assert_memory_equal(bosh_window_kept(&w, 8)->data, "<body a='8'/>", 13);
	bosh_window_advance(&w); /* 9: 7 leaves the window, its copy goes */
	assert_int_equal(bosh_window_check(&w, 7), BOSH_RID_OUTSIDE);
	assert_null(bosh_window_kept(&w, 7));
	assert_int_equal(bosh_window_check(&w, 8), BOSH_RID_REPEAT);
	assert_int_equal(bosh_window_check(&w, 9), BOSH_RID_UNANSWERED);
	assert_null(bosh_window_kept(&w, 9));
	/* out of the window: nothing is kept */
	assert_int_equal(bosh_window_keep(&w, 7, "x", 1), XS_OK);
	assert_int_equal(bosh_window_check(&w, 7), BOSH_RID_OUTSIDE);
	assert_int_equal(bosh_window_keep(&w, 10, "x", 1), XS_OK);
	assert_int_equal(bosh_window_check(&w, 10), BOSH_RID_NEXT);
	/* an empty answer is kept as empty */
	assert_int_equal(bosh_window_keep(&w, 9, "", 0), XS_OK);
	assert_int_equal(bosh_window_check(&w, 9), BOSH_RID_REPEAT);
	assert_int_equal(bosh_window_kept(&w, 9)->len, 0);
	assert_true(bosh_window_mem(&w) > 0);
	bosh_window_free(&w);
	assert_int_equal(bosh_window_mem(&w), 0);
}

static void test_sizes(void **state)
{
	(void)state;
	struct bosh_window w;
	bosh_window_init(&w, 1, 0); /* clamped to 1 */
	assert_int_equal(bosh_window_check(&w, 2), BOSH_RID_NEXT);
	assert_int_equal(bosh_window_check(&w, 3), BOSH_RID_OUTSIDE);
	bosh_window_init(&w, 1, 99); /* clamped to the most */
	assert_int_equal(w.requests, BOSH_WINDOW_MAX);
	assert_int_equal(bosh_window_check(&w, 1 + BOSH_WINDOW_MAX), BOSH_RID_AHEAD);
	assert_int_equal(bosh_window_check(&w, 2 + BOSH_WINDOW_MAX), BOSH_RID_OUTSIDE);
	/* every rid of a full window keeps its own copy */
	for (unsigned i = 0; i < BOSH_WINDOW_MAX - 1; i++)
		bosh_window_advance(&w);
	for (uint64_t r = 1; r <= BOSH_WINDOW_MAX; r++) {
		char b[8];
		b[0] = (char)('0' + r);
		assert_int_equal(bosh_window_keep(&w, r, b, 1), XS_OK);
	}
	for (uint64_t r = 1; r <= BOSH_WINDOW_MAX; r++)
		assert_int_equal(bosh_window_kept(&w, r)->data[0], (char)('0' + r));
	bosh_window_free(&w);
	/* near the largest rid */
	bosh_window_init(&w, 9007199254740990ULL, 2);
	assert_int_equal(bosh_window_check(&w, 9007199254740991ULL), BOSH_RID_NEXT);
	assert_int_equal(bosh_window_check(&w, 1), BOSH_RID_OUTSIDE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_repeat_and_forget),
		cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
