/* The router core: one thread that owns the routing table (bound sessions by
 * full and bare JID), presence state (availability and priority per
 * session) and the handlers for stanzas addressed to the server itself.
 *
 * It is fed only through its inbox (core/queue.h) with struct msg from the
 * mux threads and talks back through their inboxes; it does no socket I/O,
 * no TLS, no password hashing and no disk I/O.  Routing follows RFC 6120 §10
 * and RFC 6121 §8 for local domains; other domains are answered with
 * remote-server-not-found until server-to-server links exist. */
#ifndef XMPPD_ROUTER_H
#define XMPPD_ROUTER_H

#include "core/queue.h"

struct cfg;
struct router;

/* mux_inboxes[i] is the inbox of mux thread i; the array must outlive the router. */
struct router *router_new(const struct cfg *cfg, struct queue *const *mux_inboxes, unsigned n_mux);
int router_start(struct router *r);            /* spawns the thread; 0 or -1 */
struct queue *router_inbox(struct router *r);
void router_stop(struct router *r);            /* posts MSG_SHUTDOWN and joins */
void router_free(struct router *r);

#endif
