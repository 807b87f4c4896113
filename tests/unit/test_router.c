/* The router core driven through its inbox exactly as mux threads drive it,
 * with two fake mux inboxes in place of the threads: binding, resource
 * conflict, RFC 6121 §8 delivery rules, server-answered iqs and bounces. */
#include <pthread.h>
#include <stdatomic.h>

#include "router_fixture.h"

/* msg_new, wrapped at link time (tests/CMakeLists.txt: --wrap=msg_new):
 * while fail_kicks is set, the router cannot allocate a MSG_KICK. */
static atomic_int fail_kicks;
struct msg *__real_msg_new(enum msg_type type, const char *text);
struct msg *__wrap_msg_new(enum msg_type type, const char *text);
struct msg *__wrap_msg_new(enum msg_type type, const char *text)
{
	if (type == MSG_KICK && atomic_load(&fail_kicks))
		return NULL;
	return __real_msg_new(type, text);
}

static void test_message_full_and_bare(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1), b1 = handle(1, 1), b2 = handle(1, 2);
	bind(f, "alice@example.test/a", a);
	bind(f, "bob@example.test/one", b1);
	bind(f, "bob@example.test/two", b2);
	presence(f, b1, "bob@example.test/one", "5");
	expect_delivery(f, b1, "<presence", "from=\"bob@example.test/one\"");
	presence(f, b2, "bob@example.test/two", "1");
	/* broadcast goes to every available resource, the sender included */
	expect_two(f, b1, b2, "from=\"bob@example.test/two\"");
	/* and the new one gets the presence of the others (RFC 6121 4.2.2) */
	expect_delivery(f, b2, "<presence", "from=\"bob@example.test/one\"");
	expect_nothing(f, 1);

	/* bare JID: only the highest priority resource */
	send_stanza(f, a, "message", "alice@example.test/a", "bob@example.test", "chat", NULL);
	expect_delivery(f, b1, "<message", "from=\"alice@example.test/a\"");
	expect_nothing(f, 1);
	/* full JID: exactly that resource */
	send_stanza(f, a, "message", "alice@example.test/a", "bob@example.test/two", "chat", NULL);
	expect_delivery(f, b2, "<message", "to=\"bob@example.test/two\"");
	expect_nothing(f, 1);
	/* full JID of a resource that does not exist: treated as bare */
	send_stanza(f, a, "message", "alice@example.test/a", "bob@example.test/gone", "chat", NULL);
	expect_delivery(f, b1, "<message", NULL);
}

/* Takes the next delivery to h and hands it back as its mux does when the
 * session is closing or gone; returns the "only recipient" flag it had. */
static int bounce_back(struct fixture *f, struct sess_handle h, const char *needle)
{
	struct msg *m = next_msg(f, (int)h.thread, 2000);
	assert_non_null(m);
	assert_int_equal(m->type, MSG_DELIVER);
	assert_int_equal(m->h.slot, h.slot);
	assert_non_null(memmem(m->st->bytes, m->st->len, needle, strlen(needle)));
	int sole = m->status;
	m->type = MSG_UNDELIVERED;
	queue_push(router_inbox(f->r), &m->qnode);
	return sole;
}

/* alice/a online; bob/one and bob/two available with priorities p1, p2
 * (their presence broadcasts consumed). */
static void alice_and_two_bobs(struct fixture *f, struct sess_handle a, struct sess_handle b1,
			       struct sess_handle b2, const char *p1, const char *p2)
{
	bind(f, "alice@example.test/a", a);
	bind(f, "bob@example.test/one", b1);
	bind(f, "bob@example.test/two", b2);
	presence(f, b1, "bob@example.test/one", p1);
	expect_delivery(f, b1, "<presence", NULL);
	presence(f, b2, "bob@example.test/two", p2);
	expect_two(f, b1, b2, "from=\"bob@example.test/two\"");
	/* RFC 6121 4.2.2: a resource coming online learns of the others */
	expect_delivery(f, b2, "<presence", "from=\"bob@example.test/one\"");
}

/* A stanza the session's mux could not take comes back and is routed as if
 * that resource were not there (RFC 6121 §8.5.3.2): never lost silently. */
static void test_undelivered_rerouted(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1), b1 = handle(1, 1), b2 = handle(1, 2);
	alice_and_two_bobs(f, a, b1, b2, "5", "1");

	/* a message for bob/one, whose stream is closing: bob/two gets it */
	send_stanza(f, a, "message", "alice@example.test/a", "bob@example.test/one", "chat", NULL);
	assert_int_equal(bounce_back(f, b1, "<message"), 1);
	expect_delivery(f, b2, "<message", "to=\"bob@example.test/one\"");
	expect_nothing(f, 1);
	/* bob/one now takes nothing more, before its unbind arrives: a bare
	 * message goes to bob/two despite its lower priority */
	send_stanza(f, a, "message", "alice@example.test/a", "bob@example.test", "chat", NULL);
	expect_delivery(f, b2, "<message", NULL);
	expect_nothing(f, 1);
	/* an iq request for a resource that vanished: service-unavailable
	 * (bob/two shares its presence with alice first: RFC 6121 8.5.3.1
	 * would refuse the request before it reached bob/two otherwise) */
	send_stanza(f, b2, "presence", "bob@example.test/two", "alice@example.test/a", NULL, NULL);
	expect_delivery(f, a, "<presence", "from=\"bob@example.test/two\"");
	send_stanza(f, a, "iq", "alice@example.test/a", "bob@example.test/two", "get",
		    xml_node_new_elem("query", "urn:x"));
	assert_int_equal(bounce_back(f, b2, "<iq"), 1);
	expect_delivery(f, a, "type=\"error\"", "service-unavailable");
	/* and with no resource left a message is bounced to its sender */
	send_stanza(f, a, "message", "alice@example.test/a", "bob@example.test", "chat", NULL);
	expect_nothing(f, 1);
	expect_delivery(f, a, "type=\"error\"", "service-unavailable");
	expect_nothing(f, 0);
}

/* A copy from a fan-out coming back needs nothing more: the other
 * resources have theirs. */
static void test_undelivered_fanout_copy(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1), b1 = handle(1, 1), b2 = handle(1, 2);
	alice_and_two_bobs(f, a, b1, b2, "3", "3");
	send_stanza(f, a, "message", "alice@example.test/a", "bob@example.test", "chat", NULL);
	/* both copies, not sole; the first one comes back */
	struct msg *m1 = next_msg(f, 1, 2000), *m2 = next_msg(f, 1, 2000);
	assert_non_null(m1);
	assert_non_null(m2);
	assert_int_equal(m1->type, MSG_DELIVER);
	assert_int_equal(m2->type, MSG_DELIVER);
	assert_int_not_equal(m1->h.slot, m2->h.slot);
	assert_int_equal(m1->status, 0);
	assert_int_equal(m2->status, 0);
	msg_free(m2);
	m1->type = MSG_UNDELIVERED;
	queue_push(router_inbox(f->r), &m1->qnode);
	expect_nothing(f, 1);
	expect_nothing(f, 0);
}

static void test_negative_priority_and_offline_bounce(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1), b = handle(1, 1);
	bind(f, "alice@example.test/a", a);
	bind(f, "bob@example.test/b", b);
	presence(f, b, "bob@example.test/b", "-1");
	expect_delivery(f, b, "<presence", NULL);
	/* negative priority never gets bare-JID messages: bounced (no offline store yet) */
	send_stanza(f, a, "message", "alice@example.test/a", "bob@example.test", "chat", NULL);
	expect_delivery(f, a, "type=\"error\"", "service-unavailable");
	expect_nothing(f, 1);
	/* nonexistent account */
	send_stanza(f, a, "message", "alice@example.test/a", "nobody@example.test", NULL, NULL);
	expect_delivery(f, a, "service-unavailable", "from=\"nobody@example.test\"");
	/* headline to nobody: silently dropped (RFC 6121 §8.5.2.1.1) */
	send_stanza(f, a, "message", "alice@example.test/a", "nobody@example.test", "headline", NULL);
	expect_nothing(f, 0);
	/* an error is never answered with an error */
	send_stanza(f, a, "message", "alice@example.test/a", "nobody@example.test", "error", NULL);
	expect_nothing(f, 0);
}

static void test_server_iq(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1);
	bind(f, "alice@example.test/a", a);
	send_stanza(f, a, "iq", "alice@example.test/a", "example.test", "get",
		    xml_node_new_elem("ping", "urn:xmpp:ping"));
	expect_delivery(f, a, "type=\"result\"", "from=\"example.test\"");
	send_stanza(f, a, "iq", "alice@example.test/a", "example.test", "get",
		    xml_node_new_elem("query", "http://jabber.org/protocol/disco#info"));
	expect_delivery(f, a, "category=\"server\"", "urn:xmpp:ping");
	send_stanza(f, a, "iq", "alice@example.test/a", "example.test", "get",
		    xml_node_new_elem("query", "urn:example:unknown"));
	expect_delivery(f, a, "type=\"error\"", "service-unavailable");
	/* iq without 'to': the account itself; rosters need the storage
	 * thread, which this fixture has none of: an error, not a pretence */
	send_stanza(f, a, "iq", "alice@example.test/a", NULL, "get",
		    xml_node_new_elem("query", "jabber:iq:roster"));
	expect_delivery(f, a, "type=\"error\"", "internal-server-error");
	/* iq to a full JID that is not online */
	send_stanza(f, a, "iq", "alice@example.test/a", "bob@example.test/x", "get",
		    xml_node_new_elem("query", "urn:example:unknown"));
	expect_delivery(f, a, "type=\"error\"", "service-unavailable");
}

/* The MSG_S2S_CONNECT the router posts for a pair, on whichever thread
 * its hash picked; that thread's index in *thread. */
static struct msg *expect_connect(struct fixture *f, const char *pair, unsigned *thread)
{
	for (int i = 0; i < 40; i++) {
		for (unsigned t = 0; t < 2; t++) {
			struct msg *m = next_msg(f, (int)t, 50);
			if (!m)
				continue;
			assert_int_equal(m->type, MSG_S2S_CONNECT);
			assert_string_equal(m->data, pair);
			*thread = t;
			return m;
		}
	}
	fail_msg("no MSG_S2S_CONNECT for %s", pair);
	return NULL;
}

static void s2s_answer(struct fixture *f, enum msg_type type, const char *pair,
		       struct sess_handle h, int status)
{
	struct msg *m = msg_new(type, pair);
	m->h = h;
	m->status = status;
	queue_push(router_inbox(f->r), &m->qnode);
}

/* Outbound links (core/route/s2s_links.c): one MSG_S2S_CONNECT per pair
 * however many stanzas wait; the queue goes out in order once the link is
 * up, straight on after that; a failed attempt bounces messages and iq
 * requests (not errors, results or presence) with the condition the mux
 * gave; a link that went down is asked for again by the next stanza, and
 * a delivery its mux gave back goes on the new one; the per-link queue
 * bound bounces the excess with resource-constraint. */
static void test_s2s_links(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1);
	bind(f, "alice@example.test/a", a);
	send_stanza(f, a, "message", "alice@example.test/a", "carol@elsewhere.test", "chat", NULL);
	send_stanza(f, a, "iq", "alice@example.test/a", "elsewhere.test", "get",
		    xml_node_new_elem("query", "urn:example:q"));
	send_stanza(f, a, "iq", "alice@example.test/a", "elsewhere.test", "result", NULL);
	send_stanza(f, a, "message", "alice@example.test/a", "carol@elsewhere.test", "error", NULL);
	unsigned t;
	msg_free(expect_connect(f, "example.test elsewhere.test", &t));
	expect_nothing(f, 0);
	expect_nothing(f, 1);
	s2s_answer(f, MSG_S2S_DOWN, "example.test elsewhere.test", handle(t, UINT32_MAX),
		   SC_REMOTE_SERVER_TIMEOUT + 1);
	expect_delivery(f, a, "remote-server-timeout", "<message");
	expect_delivery(f, a, "remote-server-timeout", "<iq");
	expect_nothing(f, 0);

	/* again: a new attempt, which comes up */
	for (int i = 0; i < 3; i++) {
		char body[16];
		snprintf(body, sizeof(body), "m%d", i);
		struct xml_node *b = xml_node_new_elem("body", "jabber:client");
		xml_node_add_text(b, body, strlen(body));
		send_stanza(f, a, "message", "alice@example.test/a", "carol@elsewhere.test", "chat", b);
	}
	msg_free(expect_connect(f, "example.test elsewhere.test", &t));
	struct sess_handle link = handle(t, 7);
	s2s_answer(f, MSG_S2S_UP, "example.test elsewhere.test", link, 0);
	expect_delivery(f, link, "<body>m0</body>", "to=\"carol@elsewhere.test\"");
	expect_delivery(f, link, "<body>m1</body>", NULL);
	expect_delivery(f, link, "<body>m2</body>", NULL);
	send_stanza(f, a, "message", "alice@example.test/a", "dave@elsewhere.test", "chat", NULL);
	expect_delivery(f, link, "dave@elsewhere.test", NULL);

	/* down; what the mux gave back takes a new link */
	s2s_answer(f, MSG_S2S_DOWN, "example.test elsewhere.test", link, 0);
	struct msg *back = stanza_msg(a, "message", "alice@example.test/a", "erin@elsewhere.test",
				      "chat", NULL);
	back->type = MSG_UNDELIVERED;
	back->h = link;
	back->status = 1;
	queue_push(router_inbox(f->r), &back->qnode);
	msg_free(expect_connect(f, "example.test elsewhere.test", &t));
	link = handle(t, 8);
	s2s_answer(f, MSG_S2S_UP, "example.test elsewhere.test", link, 0);
	expect_delivery(f, link, "erin@elsewhere.test", NULL);

	/* given back before (or without) its MSG_S2S_DOWN: the link is
	 * dropped at once and a new one asked for, not sent to again */
	back = stanza_msg(a, "message", "alice@example.test/a", "frank@elsewhere.test", "chat", NULL);
	back->type = MSG_UNDELIVERED;
	back->h = link;
	back->status = 1;
	queue_push(router_inbox(f->r), &back->qnode);
	msg_free(expect_connect(f, "example.test elsewhere.test", &t));
	s2s_answer(f, MSG_S2S_UP, "example.test elsewhere.test", handle(t, 9), 0);
	expect_delivery(f, handle(t, 9), "frank@elsewhere.test", NULL);
	/* the old stream's late DOWN changes nothing */
	s2s_answer(f, MSG_S2S_DOWN, "example.test elsewhere.test", link, 0);
	send_stanza(f, a, "message", "alice@example.test/a", "gina@elsewhere.test", "chat", NULL);
	expect_delivery(f, handle(t, 9), "gina@elsewhere.test", NULL);
}

/* XEP-0288: an inbound link made bidirectional offers to carry its pair
 * (MSG_S2S_UP, S2S_UP_INBOUND).  With nothing for the pair it becomes the
 * pair's link; an attempt under way has its queue sent on it instead, and
 * is closed without blame (MSG_KICK, empty) when it comes up; with a link
 * of our own up, the offer is left alone; the inbound link's end lets the
 * next stanza connect. */
static void test_s2s_bidi_inbound(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1);
	bind(f, "alice@example.test/a", a);

	/* no entry: taken at once, no connect */
	struct sess_handle in = handle(1, 20);
	s2s_answer(f, MSG_S2S_UP, "example.test one.test", in, S2S_UP_INBOUND);
	send_stanza(f, a, "message", "alice@example.test/a", "bob@one.test", "chat", NULL);
	expect_delivery(f, in, "bob@one.test", NULL);
	expect_nothing(f, 0);
	/* its end: the next stanza asks for a link of our own */
	s2s_answer(f, MSG_S2S_DOWN, "example.test one.test", in, 0);
	send_stanza(f, a, "message", "alice@example.test/a", "bob@one.test", "chat", NULL);
	unsigned t;
	msg_free(expect_connect(f, "example.test one.test", &t));

	/* connecting: the offer takes the queue; the attempt, when up, is
	 * not wanted */
	struct sess_handle in2 = handle(1, 21);
	s2s_answer(f, MSG_S2S_UP, "example.test one.test", in2, S2S_UP_INBOUND);
	expect_delivery(f, in2, "bob@one.test", NULL);
	struct sess_handle out = handle(t, 22);
	s2s_answer(f, MSG_S2S_UP, "example.test one.test", out, 0);
	struct msg *k = next_msg(f, (int)t, 2000);
	assert_non_null(k);
	assert_int_equal(k->type, MSG_KICK);
	assert_int_equal(k->h.slot, 22);
	assert_string_equal(k->data, "");
	msg_free(k);
	/* the unwanted stream's DOWN changes nothing */
	s2s_answer(f, MSG_S2S_DOWN, "example.test one.test", out, 0);
	send_stanza(f, a, "message", "alice@example.test/a", "carl@one.test", "chat", NULL);
	expect_delivery(f, in2, "carl@one.test", NULL);

	/* a link of our own up: a later offer is left alone */
	send_stanza(f, a, "message", "alice@example.test/a", "dan@two.test", "chat", NULL);
	msg_free(expect_connect(f, "example.test two.test", &t));
	struct sess_handle own = handle(t, 23);
	s2s_answer(f, MSG_S2S_UP, "example.test two.test", own, 0);
	expect_delivery(f, own, "dan@two.test", NULL);
	s2s_answer(f, MSG_S2S_UP, "example.test two.test", handle(1 - t, 24), S2S_UP_INBOUND);
	send_stanza(f, a, "message", "alice@example.test/a", "dan@two.test", "chat", NULL);
	expect_delivery(f, own, "dan@two.test", NULL);
	expect_nothing(f, (int)(1 - t));
	/* and its DOWN does not touch our link */
	s2s_answer(f, MSG_S2S_DOWN, "example.test two.test", handle(1 - t, 24), 0);
	send_stanza(f, a, "message", "alice@example.test/a", "dan@two.test", "chat", NULL);
	expect_delivery(f, own, "dan@two.test", NULL);
	/* nor does it stay on standby: our link's end asks for a new one */
	s2s_answer(f, MSG_S2S_DOWN, "example.test two.test", own, 0);
	send_stanza(f, a, "message", "alice@example.test/a", "dan@two.test", "chat", NULL);
	msg_free(expect_connect(f, "example.test two.test", &t));
	own = handle(t, 25);
	s2s_answer(f, MSG_S2S_UP, "example.test two.test", own, 0);
	expect_delivery(f, own, "dan@two.test", NULL);

	/* an offer while ours is up waits on standby, and takes the pair
	 * when ours goes down: no new connection */
	struct sess_handle standby = handle(1 - t, 26);
	s2s_answer(f, MSG_S2S_UP, "example.test two.test", standby, S2S_UP_INBOUND);
	s2s_answer(f, MSG_S2S_DOWN, "example.test two.test", own, 0);
	send_stanza(f, a, "message", "alice@example.test/a", "erin@two.test", "chat", NULL);
	expect_delivery(f, standby, "erin@two.test", NULL);
	expect_nothing(f, (int)t);
	/* its own end is the pair's */
	s2s_answer(f, MSG_S2S_DOWN, "example.test two.test", standby, 0);
	send_stanza(f, a, "message", "alice@example.test/a", "erin@two.test", "chat", NULL);
	msg_free(expect_connect(f, "example.test two.test", &t));
}

/* [s2s] max_queue: what does not fit bounces at once. */
static int setup_small_queue(void **state)
{
	setup_unstarted(state);
	struct fixture *f = *state;
	f->cfg.s2s_max_queue = 2;
	assert_int_equal(router_start(f->r), 0);
	return 0;
}

static void test_s2s_queue_bound(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1);
	bind(f, "alice@example.test/a", a);
	for (int i = 0; i < 3; i++)
		send_stanza(f, a, "message", "alice@example.test/a", "carol@far.test", "chat", NULL);
	/* the connect (on either thread) and the third's bounce (to a) */
	unsigned t = 2;
	bool bounced = false;
	for (int i = 0; i < 80 && (t == 2 || !bounced); i++) {
		for (unsigned k = 0; k < 2; k++) {
			struct msg *m = next_msg(f, (int)k, 25);
			if (!m)
				continue;
			if (m->type == MSG_S2S_CONNECT) {
				assert_string_equal(m->data, "example.test far.test");
				t = k;
			} else {
				assert_int_equal(m->type, MSG_DELIVER);
				assert_non_null(memmem(m->st->bytes, m->st->len, "resource-constraint", 19));
				bounced = true;
			}
			msg_free(m);
		}
	}
	assert_true(t < 2 && bounced);
	s2s_answer(f, MSG_S2S_DOWN, "example.test far.test", handle(t, UINT32_MAX),
		   SC_REMOTE_SERVER_NOT_FOUND + 1);
	expect_delivery(f, a, "remote-server-not-found", NULL);
	expect_delivery(f, a, "remote-server-not-found", NULL);
	expect_nothing(f, 0);
}

static void test_conflict_and_unbind(void **state)
{
	struct fixture *f = *state;
	struct sess_handle old = handle(0, 1), fresh = handle(1, 7), other = handle(0, 2);
	bind(f, "alice@example.test/r", old);
	bind(f, "alice@example.test/o", other);
	presence(f, other, "alice@example.test/o", NULL);
	expect_delivery(f, other, "<presence", NULL);
	presence(f, old, "alice@example.test/r", NULL);
	/* to both, then o's presence to r */
	for (int i = 0; i < 3; i++) {
		struct msg *mi = next_msg(f, 0, 2000);
		assert_non_null(mi);
		assert_int_equal(mi->type, MSG_DELIVER);
		msg_free(mi);
	}

	struct msg *m = msg_new(MSG_BIND, "alice@example.test/r");
	m->h = fresh;
	queue_push(router_inbox(f->r), &m->qnode);
	struct msg *kick = next_msg(f, 0, 2000);
	assert_non_null(kick);
	assert_int_equal(kick->type, MSG_KICK);
	assert_string_equal(kick->data, "conflict");
	assert_int_equal(kick->h.slot, old.slot);
	msg_free(kick);
	/* the replaced session's presence ends: o is told */
	expect_delivery(f, other, "type=\"unavailable\"", "from=\"alice@example.test/r\"");
	struct msg *res = next_msg(f, 1, 2000);
	assert_int_equal(res->type, MSG_BIND_RESULT);
	assert_int_equal(res->status, 0);
	msg_free(res);

	/* a stale unbind from the kicked session must not remove the new one */
	m = msg_new(MSG_UNBIND, "alice@example.test/r");
	m->h = old;
	queue_push(router_inbox(f->r), &m->qnode);
	send_stanza(f, other, "message", "alice@example.test/o", "alice@example.test/r", "chat", NULL);
	expect_delivery(f, fresh, "<message", NULL);

	/* unbind of an available session: unavailable presence to the others */
	presence(f, fresh, "alice@example.test/r", NULL);
	expect_delivery(f, other, "<presence", NULL);   /* thread 0 */
	expect_delivery(f, fresh, "<presence", NULL);   /* thread 1 */
	expect_delivery(f, fresh, "<presence", "from=\"alice@example.test/o\"");
	m = msg_new(MSG_UNBIND, "alice@example.test/r");
	m->h = fresh;
	queue_push(router_inbox(f->r), &m->qnode);
	expect_delivery(f, other, "type=\"unavailable\"", "from=\"alice@example.test/r\"");
}

/* Without memory to tell the older session it is replaced, the router must
 * not forget it (it is still connected): the new bind fails instead. */
static void test_conflict_without_memory(void **state)
{
	struct fixture *f = *state;
	struct sess_handle old = handle(0, 1), fresh = handle(1, 7), other = handle(0, 2);
	bind(f, "alice@example.test/r", old);
	bind(f, "alice@example.test/o", other);
	atomic_store(&fail_kicks, 1);
	struct msg *m = msg_new(MSG_BIND, "alice@example.test/r");
	m->h = fresh;
	queue_push(router_inbox(f->r), &m->qnode);
	struct msg *res = next_msg(f, 1, 2000);
	atomic_store(&fail_kicks, 0);
	assert_non_null(res);
	assert_int_equal(res->type, MSG_BIND_RESULT);
	assert_int_not_equal(res->status, 0);
	msg_free(res);
	assert_null(next_msg(f, 0, 100)); /* no kick went out */
	/* the older session still gets its messages */
	send_stanza(f, other, "message", "alice@example.test/o", "alice@example.test/r", "chat", NULL);
	expect_delivery(f, old, "<message", NULL);
}

/* RFC 6121 8.5.3.1: an iq request to a resource that shares no presence
 * with the sender is answered as if it were offline; with [im]
 * iq_requires_presence = false it is delivered. */
static void test_iq_requires_presence(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1), b = handle(1, 1);
	bind(f, "alice@example.test/a", a);
	bind(f, "bob@example.test/b", b);
	send_stanza(f, a, "iq", "alice@example.test/a", "bob@example.test/b", "get",
		    xml_node_new_elem("ping", "urn:xmpp:ping"));
	expect_delivery(f, a, "type=\"error\"", "service-unavailable");
	expect_nothing(f, 1);
	f->cfg.iq_requires_presence = false;
	send_stanza(f, a, "iq", "alice@example.test/a", "bob@example.test/b", "get",
		    xml_node_new_elem("ping", "urn:xmpp:ping"));
	expect_delivery(f, b, "<iq", "urn:xmpp:ping");
	expect_nothing(f, 0);
	f->cfg.iq_requires_presence = true;
}

static void test_stale_sender_dropped(void **state)
{
	struct fixture *f = *state;
	struct sess_handle a = handle(0, 1), b = handle(1, 1);
	bind(f, "bob@example.test/b", b);
	presence(f, b, "bob@example.test/b", NULL);
	expect_delivery(f, b, "<presence", NULL);
	/* a stanza from a session that is not bound goes nowhere */
	send_stanza(f, a, "message", "alice@example.test/a", "bob@example.test", "chat", NULL);
	expect_nothing(f, 1);
	expect_nothing(f, 0);
}

/* Pushes m quietly as mux thread t and drains in place; returns how many
 * messages came back to thread t's inbox by the time router_drain
 * returned, with `type` (checked) and without any wake-up of that inbox. */
static unsigned push_drain_count(struct fixture *f, unsigned t, struct msg *m,
				 enum msg_type type)
{
	queue_push_quiet(router_inbox(f->r), &m->qnode);
	router_drain(f->r, &f->mux[t]);
	assert_false(readable(f->mux[t].efd));
	unsigned n = 0;
	struct queue_node *qn;
	while ((qn = queue_pop(&f->mux[t]))) {
		struct msg *got = container_of(qn, struct msg, qnode);
		assert_int_equal(got->type, type);
		msg_free(got);
		n++;
	}
	return n;
}

/* A mux thread that pushed quietly routes in place: when router_drain
 * returns, the answer for its own inbox is there and nobody was woken.
 * Past the budget it stops and wakes the router thread for the rest. */
static void test_drain_in_place(void **state)
{
	struct fixture *f = *state;
	struct msg *m = msg_new(MSG_BIND, "alice@example.test/a");
	m->h = handle(0, 1);
	assert_int_equal(push_drain_count(f, 0, m, MSG_BIND_RESULT), 1);
	m = msg_new(MSG_BIND, "alice@example.test/b");
	m->h = handle(0, 2);
	assert_int_equal(push_drain_count(f, 0, m, MSG_BIND_RESULT), 1);
	m = stanza_msg(handle(0, 1), "message", "alice@example.test/a", "alice@example.test/b",
		       "chat", NULL);
	assert_int_equal(push_drain_count(f, 0, m, MSG_DELIVER), 1);
	assert_false(readable(router_inbox(f->r)->efd));

	/* a long queue: the drain leaves the tail to the router thread */
	for (int i = 0; i < 1000; i++) {
		m = stanza_msg(handle(0, 1), "message", "alice@example.test/a",
			       "alice@example.test/b", "chat", NULL);
		queue_push_quiet(router_inbox(f->r), &m->qnode);
	}
	m = stanza_msg(handle(0, 1), "message", "alice@example.test/a", "alice@example.test/b",
		       "chat", NULL);
	unsigned first = push_drain_count(f, 0, m, MSG_DELIVER);
	assert_true(first > 0 && first < 1001);
	assert_true(readable(router_inbox(f->r)->efd));
	assert_false(queue_is_empty(router_inbox(f->r)));
	/* the router thread, started late, routes the rest */
	assert_int_equal(router_start(f->r), 0);
	unsigned rest = 0;
	while (first + rest < 1001 && (m = next_msg(f, 0, 5000))) {
		assert_int_equal(m->type, MSG_DELIVER);
		msg_free(m);
		rest++;
	}
	assert_int_equal(first + rest, 1001);
	expect_nothing(f, 0);
}

#define RACE_BATCH 200
#define RACE_ROUNDS 30

struct racer {
	struct fixture *f;
	unsigned seen;          /* deliveries to bob taken off mux 1's inbox */
};

/* Mux thread 1: as soon as the first of mux 0's messages reaches it (so
 * mux 0 is most likely holding the baton, routing its batch), sends one
 * message of its own, pushed quietly and drained in place: its trylock
 * fails and it returns at once, leaving its message to the holder. */
static void *race_mux1(void *arg)
{
	struct racer *rc = arg;
	struct fixture *f = rc->f;
	struct queue_node *n;
	while (!(n = queue_pop(&f->mux[1])))
		;
	msg_free(container_of(n, struct msg, qnode));
	rc->seen++;
	struct msg *m = stanza_msg(handle(1, 1), "message", "bob@example.test/r",
				   "alice@example.test/r", "chat", NULL);
	queue_push_quiet(router_inbox(f->r), &m->qnode);
	router_drain(f->r, &f->mux[1]);
	return NULL;
}

/* Mux thread 0 (this one) routes a batch in place while mux thread 1 hands
 * over a message: when both have returned from router_drain the inbox is
 * empty and the message has reached alice, every round.  There is no
 * router thread, so nothing else can have routed it.  (The window this
 * cannot force: a push landing between a holder's last look at the inbox
 * and its unlock, nanoseconds wide; the second look after the unlock is
 * what covers it.  TSan checks the baton on every other interleaving.) */
static void test_drain_race(void **state)
{
	struct fixture *f = *state;
	struct msg *b = msg_new(MSG_BIND, "alice@example.test/r");
	b->h = handle(0, 1);
	assert_int_equal(push_drain_count(f, 0, b, MSG_BIND_RESULT), 1);
	b = msg_new(MSG_BIND, "bob@example.test/r");
	b->h = handle(1, 1);
	assert_int_equal(push_drain_count(f, 1, b, MSG_BIND_RESULT), 1);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		struct racer rc = { f, 0 };
		pthread_t th;
		for (int i = 0; i < RACE_BATCH; i++) {
			struct msg *m = stanza_msg(handle(0, 1), "message", "alice@example.test/r",
						   "bob@example.test/r", "chat", NULL);
			queue_push_quiet(router_inbox(f->r), &m->qnode);
		}
		assert_int_equal(pthread_create(&th, NULL, race_mux1, &rc), 0);
		router_drain(f->r, &f->mux[0]);
		pthread_join(th, NULL);
		assert_true(queue_is_empty(router_inbox(f->r)));
		struct msg *m = next_msg(f, 0, 2000);
		assert_non_null(m);
		assert_int_equal(m->type, MSG_DELIVER);
		assert_int_equal(m->h.thread, 0);
		msg_free(m);
		expect_nothing(f, 0);
		while (rc.seen < RACE_BATCH && (m = next_msg(f, 1, 2000))) {
			assert_int_equal(m->type, MSG_DELIVER);
			msg_free(m);
			rc.seen++;
		}
		assert_int_equal(rc.seen, RACE_BATCH);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_message_full_and_bare, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undelivered_rerouted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undelivered_fanout_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_priority_and_offline_bounce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_iq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s2s_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s2s_queue_bound, setup_small_queue, teardown),
		cmocka_unit_test_setup_teardown(test_s2s_bidi_inbound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_and_unbind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_without_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iq_requires_presence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_sender_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_in_place, setup_unstarted, teardown),
		cmocka_unit_test_setup_teardown(test_drain_race, setup_unstarted, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
