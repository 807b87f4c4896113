/* The roster module (core/im/roster.c), for the other modules. */
#ifndef XMPPD_IM_ROSTER_H
#define XMPPD_IM_ROSTER_H

#include <stdbool.h>
#include <stdint.h>

struct ctl_cmd;
struct queue;
struct router;
struct store_req;
struct store_roster_item;

/* RFC 6121 2.1.6: pushes item (removed: as subscription='remove') at
 * version ver to every resource of the account bare that asked for its
 * roster. */
void roster_push(struct router *r, const char *bare, const struct store_roster_item *it,
		 bool removed, uint64_t ver);

/* After a stored change of the account bare's roster (req, a
 * STORE_OP_ROSTER_UPDATE that wrote or deleted req->updated): the
 * router's copy is patched, the item pushed, and for a removal the contact
 * told both subscriptions are over (RFC 6121 2.5.2); budget: the session
 * whose storage budget that counts against (NULL: none). */
void roster_changed(struct router *r, const char *bare, const struct store_req *req,
		    bool removed, const char *budget);

/* The control socket's roster commands (core/im/roster_ctl.c): list, add
 * or remove for cmd->jid through the store, a change handled as a
 * client's roster set is (roster_changed); the answer, a MSG_CTL_REPLY
 * with token, goes to q. */
void roster_ctl(struct router *r, const struct ctl_cmd *cmd, struct queue *q, int token);

#endif
