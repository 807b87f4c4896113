/* MPSC inbox on liburcu wfcqueue + eventfd; see queue.h for the protocol. */
#include "core/base/queue.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* liburcu is not built with ThreadSanitizer, so TSan cannot see that a push
 * happens before the pop that returns the node; tell it explicitly. */
#if defined(__SANITIZE_THREAD__)
#define QUEUE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define QUEUE_TSAN 1
#endif
#endif
#ifdef QUEUE_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_acquire(p) __tsan_acquire(p)
#define tsan_release(p) __tsan_release(p)
#else
#define tsan_acquire(p) ((void)(p))
#define tsan_release(p) ((void)(p))
#endif

int queue_init(struct queue *q)
{
	cds_wfcq_init(&q->head, &q->tail);
	atomic_init(&q->len, 0);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return q->efd < 0 ? -1 : 0;
}

void queue_deinit(struct queue *q)
{
	if (q->efd >= 0)
		close(q->efd);
	q->efd = -1;
	cds_wfcq_destroy(&q->head, &q->tail);
}

bool queue_push_quiet(struct queue *q, struct queue_node *node)
{
	cds_wfcq_node_init(&node->wfcq);
	atomic_fetch_add_explicit(&q->len, 1, memory_order_relaxed);
	tsan_release(node);
	/* cds_wfcq_enqueue returns false when the queue was empty before:
	 * only then can the consumer have gone to sleep on the eventfd. */
	return !cds_wfcq_enqueue(&q->head, &q->tail, &node->wfcq);
}

void queue_signal(struct queue *q)
{
	uint64_t one = 1;
	ssize_t w;
	do {
		w = write(q->efd, &one, sizeof(one));
	} while (w < 0 && errno == EINTR);
	/* EAGAIN means the counter is saturated: already readable. */
}

void queue_push(struct queue *q, struct queue_node *node)
{
	if (queue_push_quiet(q, node))
		queue_signal(q);
}

struct queue_node *queue_pop(struct queue *q)
{
	/* Single consumer, so the lock-free __ variant is correct; "blocking"
	 * only means it may spin while a producer finishes linking a node. */
	struct cds_wfcq_node *n = __cds_wfcq_dequeue_blocking(&q->head, &q->tail);
	if (!n)
		return NULL;
	struct queue_node *qn = container_of(n, struct queue_node, wfcq);
	tsan_acquire(qn);
	atomic_fetch_sub_explicit(&q->len, 1, memory_order_relaxed);
	return qn;
}

void queue_ack_wakeup(struct queue *q)
{
	uint64_t v;
	ssize_t r = read(q->efd, &v, sizeof(v));
	(void)r;
}

int queue_watch_edge(struct queue *q, int epfd, uint64_t data)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = data };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, q->efd, &ev);
}

long queue_len(struct queue *q)
{
	return atomic_load_explicit(&q->len, memory_order_relaxed);
}

bool queue_is_empty(struct queue *q)
{
	return cds_wfcq_empty(&q->head, &q->tail);
}
