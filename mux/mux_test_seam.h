/* A seam for tests that drive a mux from their own thread, one step at a
 * time, instead of running mux_main's epoll loop: tests/fuzz/fuzz_c2s.c
 * feeds a connection, answers the storage requests itself and then lets
 * the mux read its inbox and hand its stanzas to an in-process router,
 * all synchronously, so that a fuzz input runs the same way every time.
 *
 * Both are what one iteration of the mux loop does after its events
 * (mux_loop.c); nothing else calls them.  Include after mux/mux_int.h. */
#ifndef XMPPD_MUX_TEST_SEAM_H
#define XMPPD_MUX_TEST_SEAM_H

struct mux;

/* Reads the mux's inbox: store answers, bind results, deliveries, kicks. */
void mux_test_inbox_ready(struct mux *m);
/* Routes what the mux handed to m->router, in place (router_drain), and
 * reads what came back, as the loop does at the end of each iteration. */
void mux_test_route(struct mux *m);

#endif
