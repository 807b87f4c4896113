/* What the two s2s stream roles share on a mux thread (s2s/s2s_idle.c):
 * the count of their streams and the closing of idle links. */
#ifndef XMPPD_S2S_IDLE_H
#define XMPPD_S2S_IDLE_H

#include <stdbool.h>
#include <stdint.h>

struct mux;
struct mux_conn;

/* A role's init (added) and free (not added) of an s2s stream. */
void s2s_counted(struct mux_conn *c, bool added);
/* The role's thread_timers and thread_deadline. */
void s2s_idle_timers(struct mux *m);
uint64_t s2s_idle_deadline(const struct mux *m);

#endif
