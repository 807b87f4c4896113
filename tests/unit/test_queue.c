/* The MPSC inbox (core/base/queue.c) hammered from several producer threads while
 * one consumer sleeps on the eventfd between drains, as a mux thread does.
 * Checks: nothing lost, nothing duplicated, per-producer FIFO order, and no
 * consumer stuck asleep with items queued (the wake-up protocol).  CI runs
 * it under ThreadSanitizer too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/base/queue.h"

#define PRODUCERS 4
#define PER_PRODUCER 50000

struct item {
	struct queue_node node;
	unsigned producer;
	unsigned seq;
};

struct producer_arg {
	struct queue *q;
	unsigned id;
};

static void *producer(void *p)
{
	struct producer_arg *a = p;
	for (unsigned i = 0; i < PER_PRODUCER; i++) {
		struct item *it = malloc(sizeof(*it));
		it->producer = a->id;
		it->seq = i;
		queue_push(a->q, &it->node);
	}
	return NULL;
}

/* Pops until empty, checking per-producer FIFO order; returns the count. */
static unsigned long drain_in_order(struct queue *q, unsigned next[PRODUCERS])
{
	unsigned long got = 0;
	struct queue_node *n;
	while ((n = queue_pop(q))) {
		struct item *it = container_of(n, struct item, node);
		assert_true(it->producer < PRODUCERS);
		assert_int_equal(it->seq, next[it->producer]);
		next[it->producer]++;
		got++;
		free(it);
	}
	return got;
}

static void start_producers(struct queue *q, pthread_t th[PRODUCERS],
			    struct producer_arg args[PRODUCERS])
{
	for (unsigned i = 0; i < PRODUCERS; i++) {
		args[i] = (struct producer_arg){ .q = q, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, producer, &args[i]), 0);
	}
}

static void join_producers(pthread_t th[PRODUCERS], const unsigned next[PRODUCERS])
{
	for (unsigned i = 0; i < PRODUCERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(next[i], PER_PRODUCER);
	}
}

static void test_many_producers_one_sleeping_consumer(void **state)
{
	(void)state;
	struct queue q;
	assert_int_equal(queue_init(&q), 0);
	assert_true(queue_is_empty(&q));

	pthread_t th[PRODUCERS];
	struct producer_arg args[PRODUCERS];
	start_producers(&q, th, args);

	unsigned next[PRODUCERS] = { 0 };
	unsigned long total = 0, wakeups = 0;
	while (total < (unsigned long)PRODUCERS * PER_PRODUCER) {
		/* Sleep like a mux thread; a lost wake-up shows as a timeout. */
		struct pollfd pfd = { .fd = q.efd, .events = POLLIN };
		int r = poll(&pfd, 1, 5000);
		assert_int_equal(r, 1);
		wakeups++;
		queue_ack_wakeup(&q);
		total += drain_in_order(&q, next);
	}
	join_producers(th, next);
	assert_true(queue_is_empty(&q));
	assert_null(queue_pop(&q));
	/* the length used for backpressure comes back to 0 */
	assert_int_equal(queue_len(&q), 0);
	/* the eventfd is written only on empty -> non-empty transitions */
	assert_true(wakeups <= total);
	queue_deinit(&q);
}

/* The same hammering with the consumer watching the eventfd edge-triggered
 * and never reading it (queue_watch_edge), as the mux threads and the
 * router do: a lost wake-up shows as a 5 s timeout with items queued. */
/* queue_len counts what waits, for the router's backpressure. */
static void test_len(void **state)
{
	(void)state;
	struct queue q;
	struct queue_node n[3];
	assert_int_equal(queue_init(&q), 0);
	assert_int_equal(queue_len(&q), 0);
	for (int i = 0; i < 3; i++)
		queue_push_quiet(&q, &n[i]);
	assert_int_equal(queue_len(&q), 3);
	assert_ptr_equal(queue_pop(&q), &n[0]);
	assert_int_equal(queue_len(&q), 2);
	assert_non_null(queue_pop(&q));
	assert_non_null(queue_pop(&q));
	assert_null(queue_pop(&q));
	assert_int_equal(queue_len(&q), 0);
	queue_deinit(&q);
}

static void test_many_producers_edge_triggered_consumer(void **state)
{
	(void)state;
	struct queue q;
	assert_int_equal(queue_init(&q), 0);
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(epfd >= 0);
	assert_int_equal(queue_watch_edge(&q, epfd, 42), 0);

	pthread_t th[PRODUCERS];
	struct producer_arg args[PRODUCERS];
	start_producers(&q, th, args);
	unsigned next[PRODUCERS] = { 0 };
	unsigned long total = 0;
	while (total < (unsigned long)PRODUCERS * PER_PRODUCER) {
		struct epoll_event ev;
		assert_int_equal(epoll_wait(epfd, &ev, 1, 5000), 1);
		assert_int_equal(ev.data.u64, 42);
		total += drain_in_order(&q, next);
	}
	join_producers(th, next);
	/* Drained, and every edge so far consumed or stale: at most one
	 * stale report is left, after which the consumer would sleep; and a
	 * push to the empty queue wakes it again though nobody read. */
	struct epoll_event ev;
	(void)epoll_wait(epfd, &ev, 1, 0);
	assert_int_equal(epoll_wait(epfd, &ev, 1, 0), 0);
	struct item last;
	queue_push(&q, &last.node);
	assert_int_equal(epoll_wait(epfd, &ev, 1, 1000), 1);
	assert_ptr_equal(queue_pop(&q), &last.node);
	close(epfd);
	queue_deinit(&q);
}

static void test_wakeup_only_on_empty_transition(void **state)
{
	(void)state;
	struct queue q;
	assert_int_equal(queue_init(&q), 0);
	struct item a, b;
	queue_push(&q, &a.node);
	queue_push(&q, &b.node);
	struct pollfd pfd = { .fd = q.efd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 0), 1);
	queue_ack_wakeup(&q);
	/* second push found the queue non-empty: no new wake-up pending */
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_ptr_equal(queue_pop(&q), &a.node);
	assert_ptr_equal(queue_pop(&q), &b.node);
	assert_null(queue_pop(&q));
	queue_push(&q, &a.node);
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_ptr_equal(queue_pop(&q), &a.node);
	queue_deinit(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wakeup_only_on_empty_transition),
		cmocka_unit_test(test_many_producers_one_sleeping_consumer),
		cmocka_unit_test(test_len),
		cmocka_unit_test(test_many_producers_edge_triggered_consumer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
