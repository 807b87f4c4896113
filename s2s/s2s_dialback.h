/* Server dialback (XEP-0220) between the two s2s roles on one mux thread,
 * for [s2s] dialback = true: an inbound stream that received <db:result/>
 * asks the authoritative server of the claimed domain through a
 * verification stream of its own thread's (s2s/s2s_out.c), which answers
 * back here (s2s/s2s_in.c).  Nothing crosses threads: both ends are on
 * the thread of the inbound stream, which it names by handle. */
#ifndef XMPPD_S2S_DIALBACK_H
#define XMPPD_S2S_DIALBACK_H

#include <stdbool.h>

#include "core/route/msg.h"
#include "s2s/dialback_key.h"

struct mux;
struct cfg_host;

/* Whether dialback is on here: [s2s] dialback = true, with the secret
 * loaded (s2s/s2s_in.c). */
bool s2s_dialback_on(const struct mux *m);

/* Opens a verification stream to remote's authoritative server (its
 * [s2s_route] or DNS), TLS, then <db:verify from=local to=remote id=sid>
 * key; its answer goes to s2s_in_verified(for_in).  False when it cannot
 * start (then nothing will be answered). */
bool s2s_out_verify(struct mux *m, const struct cfg_host *local, const char *remote,
		    const char *sid, const char *key, struct sess_handle for_in);

/* The answer for the inbound stream in (gone meanwhile: nothing): valid,
 * or not, with why for the log. */
void s2s_in_verified(struct mux *m, struct sess_handle in, bool valid, const char *why);

#endif
