/* RFC 6121 3 and Appendix A: the subscription state one account keeps for
 * one contact, and what each subscription stanza does to it.
 *
 * A pure function of (state, event): no I/O, no allocation.  The router
 * runs it on the storage thread inside the transaction that reads and
 * writes the roster item (core/route/presence.c), so two stanzas for the
 * same pair can never interleave; tests/unit/test_subscription.c checks
 * every state by every event against the RFC's tables.
 *
 * The state is stored as a roster item's subscription (enum roster_sub)
 * and ask bits (ROSTER_ASK_*, core/store/store.h): pending out, pending
 * in, pre-approved, and hidden, for an item that exists only to remember
 * an inbound request the account has neither answered nor added itself
 * (RFC 6121 3.1.3: not a roster item for the client).  A contact with no
 * stored item is the hidden "None" state. */
#ifndef XMPPD_SUBSCRIPTION_H
#define XMPPD_SUBSCRIPTION_H

#include <stdbool.h>

enum sub_event {
	/* sent by the account (the user's server, RFC 6121 3.x.2) */
	SUB_OUT_SUBSCRIBE,
	SUB_OUT_SUBSCRIBED,
	SUB_OUT_UNSUBSCRIBE,
	SUB_OUT_UNSUBSCRIBED,
	/* received for the account (the contact's server, RFC 6121 3.x.3) */
	SUB_IN_SUBSCRIBE,
	SUB_IN_SUBSCRIBED,
	SUB_IN_UNSUBSCRIBE,
	SUB_IN_UNSUBSCRIBED,
};

struct sub_state {
	unsigned char sub; /* enum roster_sub */
	unsigned char ask; /* ROSTER_ASK_* */
};

/* What the server does with the stanza once the state is updated. */
#define SUB_FORWARD 1u   /* outbound: route it to the contact; inbound: deliver it to the
			  * account's available resources (kept in the state while none) */
#define SUB_AUTOREPLY 2u /* inbound subscribe: answer "subscribed" on the account's behalf
			  * (already approved or pre-approved); not delivered */

struct sub_result {
	struct sub_state next;
	unsigned actions; /* SUB_* */
};

struct sub_result sub_apply(struct sub_state cur, enum sub_event ev);

/* The state of a contact with no stored item. */
struct sub_state sub_state_absent(void);

/* Whether a stored item in state s carries nothing any more (hidden, no
 * subscription, nothing pending or pre-approved): it can be deleted. */
bool sub_state_empty(struct sub_state s);

static inline bool sub_state_equal(struct sub_state a, struct sub_state b)
{
	return a.sub == b.sub && a.ask == b.ask;
}

/* Parses a presence type into an outbound or inbound event; false for a
 * type that is not a subscription one. */
bool sub_event_from_type(const char *type, bool outbound, enum sub_event *ev);

#endif
