/* The control socket: how xmppctl talks to a running server (sessions,
 * kick, roster; commands in core/route/ctl_cmd.h).
 *
 * One thread of its own owns the listening socket and the admin
 * connections (at most CTL_MAX_CLIENTS at once, one command line of at
 * most CTL_LINE_MAX bytes each, read within CTL_READ_TIMEOUT_MS).  It
 * owns nothing of the server's state: it hands each command to the thread
 * that owns what it is about, through that thread's inbox, and waits for
 * the answer (MSG_CTL_REPLY) in its own, so a slow or stuck admin client
 * never holds up routing.  "sessions" goes to every mux thread
 * (MSG_CTL_SESSIONS: each lists its own connections), kick and roster to
 * the router (MSG_CTL).  docs/internals/ctl.md has the why. */
#ifndef XMPPD_CTL_SERVER_H
#define XMPPD_CTL_SERVER_H

#include <stddef.h>

struct cfg;
struct queue;
struct ctl_server;

#define CTL_MAX_CLIENTS 4
#define CTL_READ_TIMEOUT_MS 5000
/* for the router or the mux threads to answer */
#define CTL_ANSWER_TIMEOUT_MS 10000
#define CTL_WRITE_TIMEOUT_MS 10000

/* Makes the socket ([admin] socket; the checks of ctl_socket_listen).
 * Call before any other thread is started (it sets the umask for a
 * moment).  NULL with the reason in err. */
struct ctl_server *ctl_server_open(const struct cfg *cfg, char *err, size_t errlen);
/* Starts the thread.  The inboxes must take messages until
 * ctl_server_stop returns.  0 or -1. */
int ctl_server_start(struct ctl_server *s, struct queue *router_inbox,
		     struct queue *const *mux_inboxes, unsigned n_mux);
/* Stops the thread, closes the connections and removes the socket file. */
void ctl_server_stop(struct ctl_server *s);
/* Frees s (NULL allowed), the socket removed if it still exists.  Answers
 * may still be pushed into its inbox until the router and the mux threads
 * have stopped: free it after them. */
void ctl_server_free(struct ctl_server *s);

#endif
