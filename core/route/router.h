/* The router core: the routing table (bound sessions by full and bare JID),
 * presence state (availability and priority per session) and the handlers
 * for stanzas addressed to the server itself.
 *
 * It is fed only through its inbox (core/base/queue.h) with struct msg from the
 * mux threads and talks back through their inboxes; it does no socket I/O,
 * no TLS, no password hashing and no disk I/O.  Its state belongs to the
 * holder of its baton, a mutex: its own thread, woken by the inbox's eventfd,
 * or a mux thread that has just pushed messages quietly and routes them in
 * place (router_drain), which saves the two context switches of a hand-over
 * where the threads share a core (docs/internals/mux.md).  Routing follows RFC 6120 §10
 * and RFC 6121 §8 for local domains; other domains are answered with
 * remote-server-not-found until server-to-server links exist. */
#ifndef XMPPD_ROUTER_H
#define XMPPD_ROUTER_H

#include "core/base/queue.h"

struct cfg;
struct router;
struct store_thread;

/* mux_inboxes[i] is the inbox of mux thread i; the array must outlive the router. */
struct router *router_new(const struct cfg *cfg, struct queue *const *mux_inboxes, unsigned n_mux);
/* Outbound s2s links go to threads 0 .. n - 1 only (the mux threads; the
 * gateway threads after them serve HTTP).  Default: all n_mux.  Before
 * router_start. */
void router_set_link_threads(struct router *r, unsigned n);
/* The storage thread the IM modules use (before router_start); without
 * one, what needs storage is answered internal-server-error. */
void router_set_store(struct router *r, struct store_thread *store);
int router_start(struct router *r);            /* spawns the thread; 0 or -1 */
struct queue *router_inbox(struct router *r);
/* For a mux thread that pushed to router_inbox() with queue_push_quiet():
 * takes the baton if it is free and routes what the inbox holds, up to a
 * budget (the rest goes to the router thread), with deliveries for `local`
 * (the caller's own inbox, not NULL) pushed quietly, so the caller must read its inbox
 * afterwards.  If another thread holds the baton it returns at once: that
 * holder looks at the inbox again after letting go.  Any thread; never
 * blocks. */
void router_drain(struct router *r, struct queue *local);
void router_stop(struct router *r);            /* posts MSG_SHUTDOWN and joins */
void router_free(struct router *r);

#endif
