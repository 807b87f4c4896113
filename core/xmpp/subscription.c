/* RFC 6121 Appendix A, written as rules on the state's bits rather than
 * as the RFC's 9-row tables: the bits (to, from, pending out, pending in,
 * pre-approved) are what the RFC's compound state names spell, and each
 * rule below is one sentence of section 3.  The unit test holds the
 * tables themselves. */
#include "core/xmpp/subscription.h"

#include <string.h>

#include "core/store/store.h"

#define S_TO 1u   /* ROSTER_SUB_TO */
#define S_FROM 2u /* ROSTER_SUB_FROM; both is TO | FROM */

struct sub_state sub_state_absent(void)
{
	return (struct sub_state){ ROSTER_SUB_NONE, ROSTER_ASK_HIDDEN };
}

bool sub_state_empty(struct sub_state s)
{
	return s.sub == ROSTER_SUB_NONE && s.ask == ROSTER_ASK_HIDDEN;
}

struct sub_result sub_apply(struct sub_state cur, enum sub_event ev)
{
	struct sub_result r = { cur, 0 };
	unsigned sub = cur.sub, ask = cur.ask;

	switch (ev) {
	case SUB_OUT_SUBSCRIBE:
		/* 3.1.2: pending out unless already subscribed; routed in any
		 * case (the contact's server answers a repeat itself), and the
		 * contact is now on the account's own roster */
		if (!(sub & S_TO))
			ask |= ROSTER_ASK_OUT;
		ask &= ~ROSTER_ASK_HIDDEN;
		r.actions = SUB_FORWARD;
		break;
	case SUB_OUT_UNSUBSCRIBE:
		/* 3.3.2: cancels the pending request or the subscription */
		ask &= ~ROSTER_ASK_OUT;
		sub &= ~S_TO;
		r.actions = SUB_FORWARD;
		break;
	case SUB_OUT_SUBSCRIBED:
		if (sub & S_FROM)
			break; /* already approved: nothing to route */
		if (ask & ROSTER_ASK_IN) {
			/* 3.1.5: approves the pending request */
			sub |= S_FROM;
			ask &= ~(ROSTER_ASK_IN | ROSTER_ASK_PREAPPROVED | ROSTER_ASK_HIDDEN);
			r.actions = SUB_FORWARD;
		} else {
			/* 3.4: nothing to approve yet: a pre-approval, which
			 * makes the contact a roster item of its own */
			ask |= ROSTER_ASK_PREAPPROVED;
			ask &= ~ROSTER_ASK_HIDDEN;
		}
		break;
	case SUB_OUT_UNSUBSCRIBED:
		/* 3.2.2: denies a pending request or cancels the contact's
		 * subscription; a pre-approval goes either way (3.4) */
		if (ask & ROSTER_ASK_IN || sub & S_FROM)
			r.actions = SUB_FORWARD;
		ask &= ~(ROSTER_ASK_IN | ROSTER_ASK_PREAPPROVED);
		sub &= ~S_FROM;
		break;
	case SUB_IN_SUBSCRIBE:
		if (sub & S_FROM) {
			r.actions = SUB_AUTOREPLY; /* 3.1.3: already approved */
		} else if (ask & ROSTER_ASK_PREAPPROVED) {
			/* 3.4: approved in advance */
			sub |= S_FROM;
			ask &= ~ROSTER_ASK_PREAPPROVED;
			r.actions = SUB_AUTOREPLY;
		} else if (!(ask & ROSTER_ASK_IN)) {
			ask |= ROSTER_ASK_IN;
			r.actions = SUB_FORWARD;
		}
		/* already pending in: the account was told once */
		break;
	case SUB_IN_SUBSCRIBED:
		/* 3.1.6: only an approval of a request the account sent */
		if (ask & ROSTER_ASK_OUT) {
			ask &= ~ROSTER_ASK_OUT;
			sub |= S_TO;
			r.actions = SUB_FORWARD;
		}
		break;
	case SUB_IN_UNSUBSCRIBE:
		/* 3.3.3: the contact withdraws its request or its subscription */
		if (ask & ROSTER_ASK_IN) {
			ask &= ~ROSTER_ASK_IN;
			r.actions = SUB_FORWARD;
		} else if (sub & S_FROM) {
			sub &= ~S_FROM;
			r.actions = SUB_FORWARD;
		}
		break;
	case SUB_IN_UNSUBSCRIBED:
		/* 3.2.3: the contact denies the request or cancels the
		 * account's subscription */
		if (ask & ROSTER_ASK_OUT) {
			ask &= ~ROSTER_ASK_OUT;
			r.actions = SUB_FORWARD;
		} else if (sub & S_TO) {
			sub &= ~S_TO;
			r.actions = SUB_FORWARD;
		}
		break;
	}
	r.next.sub = (unsigned char)sub;
	r.next.ask = (unsigned char)ask;
	return r;
}

bool sub_event_from_type(const char *type, bool outbound, enum sub_event *ev)
{
	static const char *const names[] = { "subscribe", "subscribed", "unsubscribe",
					     "unsubscribed" };
	if (!type)
		return false;
	for (unsigned i = 0; i < 4; i++)
		if (strcmp(type, names[i]) == 0) {
			*ev = (enum sub_event)(i + (outbound ? SUB_OUT_SUBSCRIBE : SUB_IN_SUBSCRIBE));
			return true;
		}
	return false;
}
