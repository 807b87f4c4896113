/* Unit tests for core/xmpp/subscription.c against the tables of RFC 6121
 * Appendix A: every state (the nine of A.1 and the three pre-approved
 * ones of 3.4) by every subscription stanza, outbound (A.2) and inbound
 * (A.3), with the new state and whether the stanza goes on (routed to the
 * contact, delivered to the account) or is answered for the account.  The
 * tables are written out as the RFC prints them, not derived from the
 * rules the code uses.  Then the hidden item (an inbound request nobody
 * answered yet) and the parsing of presence types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/store/store.h"
#include "core/xmpp/subscription.h"

/* "None", "None+PO", "To+PI", "None+PO+PA", ... */
static struct sub_state st(const char *name)
{
	struct sub_state s = { ROSTER_SUB_NONE, 0 };
	if (strncmp(name, "None", 4) == 0)
		s.sub = ROSTER_SUB_NONE;
	else if (strncmp(name, "To", 2) == 0)
		s.sub = ROSTER_SUB_TO;
	else if (strncmp(name, "From", 4) == 0)
		s.sub = ROSTER_SUB_FROM;
	else if (strncmp(name, "Both", 4) == 0)
		s.sub = ROSTER_SUB_BOTH;
	else
		fail_msg("bad state name %s", name);
	if (strstr(name, "+PO"))
		s.ask |= ROSTER_ASK_OUT;
	if (strstr(name, "+PI"))
		s.ask |= ROSTER_ASK_IN;
	if (strstr(name, "+PA"))
		s.ask |= ROSTER_ASK_PREAPPROVED;
	return s;
}

static const char *const states[] = { "None", "None+PO", "None+PI", "None+PO+PI", "To",
				      "To+PI", "From", "From+PO", "Both", "None+PA",
				      "None+PO+PA", "To+PA" };
#define N_STATES (sizeof(states) / sizeof(states[0]))

/* For one event: the state after it, for each of states[] in order, and
 * what happens to the stanza: 'f' forwarded (routed / delivered), 'a'
 * answered "subscribed" for the account, '-' neither. */
struct row {
	const char *next;
	char action;
};

static const struct {
	enum sub_event ev;
	const char *what;
	struct row rows[N_STATES];
} tables[] = {
	{ SUB_OUT_SUBSCRIBE, "A.2.1 outbound subscribe",
	  { { "None+PO", 'f' }, { "None+PO", 'f' }, { "None+PO+PI", 'f' }, { "None+PO+PI", 'f' },
	    { "To", 'f' }, { "To+PI", 'f' }, { "From+PO", 'f' }, { "From+PO", 'f' },
	    { "Both", 'f' }, { "None+PO+PA", 'f' }, { "None+PO+PA", 'f' }, { "To+PA", 'f' } } },
	{ SUB_OUT_UNSUBSCRIBE, "A.2.2 outbound unsubscribe",
	  { { "None", 'f' }, { "None", 'f' }, { "None+PI", 'f' }, { "None+PI", 'f' },
	    { "None", 'f' }, { "None+PI", 'f' }, { "From", 'f' }, { "From", 'f' },
	    { "From", 'f' }, { "None+PA", 'f' }, { "None+PA", 'f' }, { "None+PA", 'f' } } },
	{ SUB_OUT_SUBSCRIBED, "A.2.3 outbound subscribed",
	  { { "None+PA", '-' }, { "None+PO+PA", '-' }, { "From", 'f' }, { "From+PO", 'f' },
	    { "To+PA", '-' }, { "Both", 'f' }, { "From", '-' }, { "From+PO", '-' },
	    { "Both", '-' }, { "None+PA", '-' }, { "None+PO+PA", '-' }, { "To+PA", '-' } } },
	{ SUB_OUT_UNSUBSCRIBED, "A.2.4 outbound unsubscribed",
	  { { "None", '-' }, { "None+PO", '-' }, { "None", 'f' }, { "None+PO", 'f' },
	    { "To", '-' }, { "To", 'f' }, { "None", 'f' }, { "None+PO", 'f' },
	    { "To", 'f' }, { "None", '-' }, { "None+PO", '-' }, { "To", '-' } } },
	{ SUB_IN_SUBSCRIBE, "A.3.1 inbound subscribe",
	  { { "None+PI", 'f' }, { "None+PO+PI", 'f' }, { "None+PI", '-' }, { "None+PO+PI", '-' },
	    { "To+PI", 'f' }, { "To+PI", '-' }, { "From", 'a' }, { "From+PO", 'a' },
	    { "Both", 'a' }, { "From", 'a' }, { "From+PO", 'a' }, { "Both", 'a' } } },
	{ SUB_IN_UNSUBSCRIBE, "A.3.2 inbound unsubscribe",
	  { { "None", '-' }, { "None+PO", '-' }, { "None", 'f' }, { "None+PO", 'f' },
	    { "To", '-' }, { "To", 'f' }, { "None", 'f' }, { "None+PO", 'f' },
	    { "To", 'f' }, { "None+PA", '-' }, { "None+PO+PA", '-' }, { "To+PA", '-' } } },
	{ SUB_IN_SUBSCRIBED, "A.3.3 inbound subscribed",
	  { { "None", '-' }, { "To", 'f' }, { "None+PI", '-' }, { "To+PI", 'f' },
	    { "To", '-' }, { "To+PI", '-' }, { "From", '-' }, { "Both", 'f' },
	    { "Both", '-' }, { "None+PA", '-' }, { "To+PA", 'f' }, { "To+PA", '-' } } },
	{ SUB_IN_UNSUBSCRIBED, "A.3.4 inbound unsubscribed",
	  { { "None", '-' }, { "None", 'f' }, { "None+PI", '-' }, { "None+PI", 'f' },
	    { "None", 'f' }, { "None+PI", 'f' }, { "From", '-' }, { "From", 'f' },
	    { "From", 'f' }, { "None+PA", '-' }, { "None+PA", 'f' }, { "None+PA", 'f' } } },
};

static void test_appendix_a(void **state)
{
	(void)state;
	unsigned checked = 0;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < N_STATES; i++) {
			struct sub_result r = sub_apply(st(states[i]), tables[t].ev);
			struct sub_state want = st(tables[t].rows[i].next);
			char got_action = r.actions == SUB_FORWARD     ? 'f'
					  : r.actions == SUB_AUTOREPLY ? 'a'
					  : r.actions == 0             ? '-'
								       : '?';
			if (!sub_state_equal(r.next, want) || got_action != tables[t].rows[i].action)
				fail_msg("%s in %s: got sub %u ask %u action %c, want %s %c",
					 tables[t].what, states[i], r.next.sub, r.next.ask,
					 got_action, tables[t].rows[i].next,
					 tables[t].rows[i].action);
			checked++;
		}
	assert_int_equal(checked, 8 * 12);
}

/* A contact with no item: only what makes it a roster item shows it. */
static void test_hidden(void **state)
{
	(void)state;
	struct sub_state absent = sub_state_absent();
	assert_true(sub_state_empty(absent));

	/* an inbound request is remembered, hidden, and delivered */
	struct sub_result r = sub_apply(absent, SUB_IN_SUBSCRIBE);
	assert_int_equal(r.actions, SUB_FORWARD);
	assert_int_equal(r.next.sub, ROSTER_SUB_NONE);
	assert_int_equal(r.next.ask, ROSTER_ASK_IN | ROSTER_ASK_HIDDEN);
	assert_false(sub_state_empty(r.next));
	struct sub_state pending = r.next;

	/* approving it makes it an item with subscription from */
	r = sub_apply(pending, SUB_OUT_SUBSCRIBED);
	assert_int_equal(r.actions, SUB_FORWARD);
	assert_int_equal(r.next.sub, ROSTER_SUB_FROM);
	assert_int_equal(r.next.ask, 0);

	/* denying it, or the contact withdrawing it, leaves nothing to keep */
	r = sub_apply(pending, SUB_OUT_UNSUBSCRIBED);
	assert_int_equal(r.actions, SUB_FORWARD);
	assert_true(sub_state_empty(r.next));
	r = sub_apply(pending, SUB_IN_UNSUBSCRIBE);
	assert_int_equal(r.actions, SUB_FORWARD);
	assert_true(sub_state_empty(r.next));

	/* the account subscribing back lists the contact */
	r = sub_apply(pending, SUB_OUT_SUBSCRIBE);
	assert_int_equal(r.next.ask, ROSTER_ASK_IN | ROSTER_ASK_OUT);

	/* a pre-approval or a request of its own makes an item */
	r = sub_apply(absent, SUB_OUT_SUBSCRIBED);
	assert_int_equal(r.actions, 0);
	assert_int_equal(r.next.ask, ROSTER_ASK_PREAPPROVED);
	r = sub_apply(absent, SUB_OUT_SUBSCRIBE);
	assert_int_equal(r.actions, SUB_FORWARD);
	assert_int_equal(r.next.ask, ROSTER_ASK_OUT);

	/* what concerns no request leaves no trace and goes nowhere */
	static const enum sub_event idle[] = { SUB_IN_SUBSCRIBED, SUB_IN_UNSUBSCRIBE,
					       SUB_IN_UNSUBSCRIBED, SUB_OUT_UNSUBSCRIBED };
	for (size_t i = 0; i < sizeof(idle) / sizeof(idle[0]); i++) {
		r = sub_apply(absent, idle[i]);
		assert_int_equal(r.actions, 0);
		assert_true(sub_state_empty(r.next));
	}
	/* an outbound unsubscribe is still routed (the contact's side may
	 * hold state this side lost) */
	r = sub_apply(absent, SUB_OUT_UNSUBSCRIBE);
	assert_int_equal(r.actions, SUB_FORWARD);
	assert_true(sub_state_empty(r.next));
}

static void test_event_from_type(void **state)
{
	(void)state;
	enum sub_event ev;
	assert_true(sub_event_from_type("subscribe", true, &ev));
	assert_int_equal(ev, SUB_OUT_SUBSCRIBE);
	assert_true(sub_event_from_type("unsubscribed", false, &ev));
	assert_int_equal(ev, SUB_IN_UNSUBSCRIBED);
	assert_true(sub_event_from_type("subscribed", false, &ev));
	assert_int_equal(ev, SUB_IN_SUBSCRIBED);
	assert_false(sub_event_from_type(NULL, true, &ev));
	assert_false(sub_event_from_type("probe", true, &ev));
	assert_false(sub_event_from_type("unavailable", false, &ev));
	assert_false(sub_event_from_type("Subscribe", true, &ev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appendix_a),
		cmocka_unit_test(test_hidden),
		cmocka_unit_test(test_event_from_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
