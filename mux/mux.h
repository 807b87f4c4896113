/* Multiplexor worker threads: the owners of sockets, TLS sessions, XML
 * parsers and stream negotiation.
 *
 * Each mux thread has its own epoll set, its own listening sockets (one per
 * configured listener, bound with SO_REUSEPORT so the kernel spreads new
 * connections) and its own inbox.  A connection is accepted by one thread and
 * lives there until it closes; nothing else touches it.  Once a client is
 * authenticated and bound, its stanzas go to the router's inbox and the
 * router's deliveries come back through this thread's inbox.
 *
 * Files: mux_loop.c (thread, epoll, inbox, timers), mux_conn.c (connection
 * lifecycle and the byte path: socket <-> TLS layers <-> XML), mux_stream.c
 * (stream header, features, STARTTLS, errors), mux_sasl.c (authentication),
 * mux_session.c (bind and stanzas after bind). */
#ifndef XMPPD_MUX_H
#define XMPPD_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg;
struct router;
struct store_thread;
struct tls_ctx_set;
struct queue;

struct mux;        /* one worker thread */
struct mux_group;  /* all of them */

struct mux_group *mux_group_new(const struct cfg *cfg, struct tls_ctx_set *tls,
				struct store_thread *store, char *err, size_t errlen);
/* The inboxes of the threads, for the router (array of n): the mux
 * threads', then the gateway threads' (docs/internals/gateway.md). */
struct queue *const *mux_group_inboxes(struct mux_group *g, unsigned *n);
/* How many of them are mux threads (the first ones): only those take
 * outbound s2s links. */
unsigned mux_group_n_mux(const struct mux_group *g);
/* Key for the fake SCRAM salts of unknown users (32 bytes); before start. */
void mux_group_set_fake_salt_key(struct mux_group *g, const uint8_t key[32]);
/* The dialback secret ([s2s] dialback = true), before the threads start. */
void mux_group_set_dialback_secret(struct mux_group *g, const uint8_t key[32]);
/* Starts the threads; router must be set first. */
int mux_group_start(struct mux_group *g, struct router *router);
/* Hands every thread a new TLS context set (SIGHUP); takes one reference per thread. */
void mux_group_reload_tls(struct mux_group *g, struct tls_ctx_set *tls);
/* Closes every stream with <system-shutdown/>, waits for the threads. */
void mux_group_stop(struct mux_group *g);
void mux_group_free(struct mux_group *g);

#endif
