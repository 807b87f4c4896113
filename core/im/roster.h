/* The roster module (core/im/roster.c), for the other modules. */
#ifndef XMPPD_IM_ROSTER_H
#define XMPPD_IM_ROSTER_H

#include <stdbool.h>
#include <stdint.h>

struct router;
struct store_roster_item;

/* RFC 6121 2.1.6: pushes item (removed: as subscription='remove') at
 * version ver to every resource of the account bare that asked for its
 * roster. */
void roster_push(struct router *r, const char *bare, const struct store_roster_item *it,
		 bool removed, uint64_t ver);

#endif
