/* Presence subscriptions (core/im/presence.c), for the other modules. */
#ifndef XMPPD_IM_PRESENCE_H
#define XMPPD_IM_PRESENCE_H

#include "core/route/im.h"

/* Sends the subscription stanza type ("unsubscribe", ...) from the
 * account from to the JID to, as if from's client had sent it and from's
 * roster had already been changed: the contact's side only (RFC 6121
 * 2.5.2, a roster item removed; 8.5.1, a request to nobody).  budget: the
 * session whose storage budget it counts against (NULL: none). */
void presence_send_subscription(struct router *r, const char *from, const char *to,
				const char *type, const char *budget);

#endif
