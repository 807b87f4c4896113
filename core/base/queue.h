/* Inboxes between threads: multi-producer, single-consumer, lock-free.
 *
 * Built on liburcu's wait-free concurrent queue (wfcqueue).  Every consumer
 * thread (each mux worker, the router, the storage thread) owns one queue and
 * polls its eventfd.  A producer writes the eventfd only when its enqueue
 * found the queue empty, i.e. only when the consumer may be asleep; the
 * consumer drains until empty after each wake-up, so no item is stranded.
 * The consumer either polls the eventfd level-triggered and reads it
 * (queue_ack_wakeup) or watches it edge-triggered (queue_watch_edge).
 *
 * Items embed a struct queue_node and are recovered with container_of. */
#ifndef XMPPD_QUEUE_H
#define XMPPD_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/wfcqueue.h>

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

struct queue_node {
	struct cds_wfcq_node wfcq;
};

struct queue {
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	int efd; /* eventfd, non-blocking; the consumer polls it */
	/* nodes in the queue, for backpressure: raised before a node is
	 * linked, lowered after it is taken, so never below the truth */
	atomic_long len;
};

/* Returns 0, or -1 with errno set. */
int queue_init(struct queue *q);
/* The queue must be empty; the caller frees what it still holds first. */
void queue_deinit(struct queue *q);
/* Any thread.  Wait-free apart from the eventfd write on an empty queue. */
void queue_push(struct queue *q, struct queue_node *node);
/* Enqueues without waking the consumer; true when the queue was empty
 * before, i.e. when queue_push would have written the eventfd.  For a
 * producer that will see to the item itself: the consumer's own thread, or
 * one that runs the consumer's drain in its place (router_drain). */
bool queue_push_quiet(struct queue *q, struct queue_node *node);
/* Wakes the consumer (writes the eventfd). */
void queue_signal(struct queue *q);
/* Consumer thread only.  NULL when empty. */
struct queue_node *queue_pop(struct queue *q);
/* Consumer thread only: clears the eventfd before draining (for consumers
 * that poll the eventfd level-triggered). */
void queue_ack_wakeup(struct queue *q);
/* Watches the eventfd from epoll set epfd, edge-triggered, with data as the
 * event's tag.  An eventfd reports every write as a new edge, so such a
 * consumer never reads it: one epoll_wait per wake-up instead of a wait
 * and a read, which on the routed-message path saves two system calls per
 * message.  The counter it leaves behind cannot overflow in practice (one
 * write per empty-to-non-empty transition, 2^64 of them).  Returns 0, or -1
 * with errno set. */
int queue_watch_edge(struct queue *q, int epfd, uint64_t data);
bool queue_is_empty(struct queue *q);
/* Any thread: about how many nodes wait (exact when nobody pushes or pops). */
long queue_len(struct queue *q);

#endif
