/* XEP-0198's pure parts (mux/sm_queue.c): the ack arithmetic, with the
 * 32-bit wraparound the XEP requires, and the queue of unacknowledged
 * stanzas (order, references dropped once, growth across the ring's
 * wrap, the buffer given back when a burst is acknowledged). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmpp/stanza.h"
#include "mux/sm_queue.h"

static void test_ack_count(void **state)
{
	(void)state;
	uint32_t n = 99;
	assert_true(sm_ack_count(0, 0, 0, &n));
	assert_int_equal(n, 0);
	assert_true(sm_ack_count(0, 5, 3, &n));
	assert_int_equal(n, 3);
	assert_true(sm_ack_count(3, 5, 5, &n));
	assert_int_equal(n, 2);
	/* more than was sent: handled-count-too-high */
	assert_false(sm_ack_count(3, 5, 6, &n));
	assert_false(sm_ack_count(0, 0, 1, &n));
	/* going back is no better */
	assert_false(sm_ack_count(3, 5, 2, &n));
	/* across 2^32: sent wrapped to 2, acked just below the wrap */
	assert_true(sm_ack_count(UINT32_MAX - 1, 2, UINT32_MAX, &n));
	assert_int_equal(n, 1);
	assert_true(sm_ack_count(UINT32_MAX - 1, 2, 0, &n));
	assert_int_equal(n, 2);
	assert_true(sm_ack_count(UINT32_MAX - 1, 2, 2, &n));
	assert_int_equal(n, 4);
	assert_false(sm_ack_count(UINT32_MAX - 1, 2, 3, &n));
	assert_false(sm_ack_count(UINT32_MAX - 1, 2, UINT32_MAX - 2, &n));
}

static struct stanza *mk(unsigned i)
{
	char xml[64];
	int len = snprintf(xml, sizeof(xml), "<message id='%u'/>", i);
	struct stanza *st = stanza_from_xml(xml, (size_t)len, 1024);
	assert_non_null(st);
	return st;
}

static unsigned id_of(const struct stanza *st)
{
	return (unsigned)strtoul(st->id, NULL, 10);
}

static void test_queue_order_and_wrap(void **state)
{
	(void)state;
	struct sm_queue q = { 0 };
	unsigned next_in = 0, next_out = 0;
	/* push 5, drop 3, push 5, ...: the ring's head goes round while it grows */
	for (int round = 0; round < 40; round++) {
		for (int i = 0; i < 5; i++, next_in++)
			assert_true(sm_queue_push(&q, mk(next_in), ((next_in + 1) & 1) != 0));
		sm_queue_drop(&q, 3);
		next_out += 3;
		assert_int_equal(q.n, next_in - next_out);
		for (uint32_t i = 0; i < q.n; i++) {
			const struct sm_item *it = sm_queue_at(&q, i);
			assert_int_equal(id_of(it->st), next_out + i);
			assert_int_equal(it->sole, ((next_out + i + 1) & 1) != 0);
		}
	}
	struct sm_item it;
	assert_true(sm_queue_shift(&q, &it));
	assert_int_equal(id_of(it.st), next_out);
	stanza_unref(it.st);
	/* acknowledging everything gives a burst's buffer back */
	sm_queue_drop(&q, q.n);
	assert_int_equal(q.n, 0);
	assert_null(q.items);
	assert_false(sm_queue_shift(&q, &it));
	sm_queue_clear(&q);
}

static void test_queue_clear_drops_refs(void **state)
{
	(void)state;
	struct sm_queue q = { 0 };
	struct stanza *st = mk(7);
	for (int i = 0; i < 20; i++)
		assert_true(sm_queue_push(&q, stanza_ref(st), false));
	sm_queue_drop(&q, 5);
	sm_queue_clear(&q);
	assert_int_equal(q.n, 0);
	assert_null(q.items);
	/* only ours is left (LeakSanitizer in the sanitizer build checks the rest) */
	stanza_unref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ack_count),
		cmocka_unit_test(test_queue_order_and_wrap),
		cmocka_unit_test(test_queue_clear_drops_refs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
