/* Shared fixture of the router unit tests (test_router.c,
 * test_delivery_rules.c): the router core with two fake mux inboxes in
 * place of the mux threads, and helpers that drive it as they do (bind,
 * stanzas, presence) and read what it sends back.
 *
 * Header only, because tests/CMakeLists.txt builds every test_*.c as an
 * executable of its own; helpers are static inline so that a test using
 * only some of them builds cleanly under -Wall -Werror. */
#ifndef XMPPD_TESTS_ROUTER_FIXTURE_H
#define XMPPD_TESTS_ROUTER_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/cfg.h"
#include "core/route/msg.h"
#include "core/route/router.h"
#include "core/xmpp/stanza.h"
#include "core/xml/xml_node.h"

struct fixture {
	struct cfg cfg;
	struct queue mux[2];
	struct queue *inboxes[2];
	struct router *r;
	const void *arg;     /* the test's own */
};

static inline bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

/* The router and two fake mux inboxes, without the router thread: then
 * only in-place drains route, so what they do is deterministic.  setup()
 * starts the thread too. */
static inline int setup_unstarted(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	cfg_defaults(&f->cfg);
	f->cfg.n_hosts = 1;
	strcpy(f->cfg.hosts[0].domain, "example.test");
	for (int i = 0; i < 2; i++) {
		queue_init(&f->mux[i]);
		f->inboxes[i] = &f->mux[i];
	}
	f->r = router_new(&f->cfg, f->inboxes, 2);
	assert_non_null(f->r);
	*state = f;
	return 0;
}


static inline int setup(void **state)
{
	setup_unstarted(state);
	struct fixture *f = *state;
	assert_int_equal(router_start(f->r), 0);
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;
	router_stop(f->r);
	router_free(f->r);
	for (int i = 0; i < 2; i++) {
		struct queue_node *n;
		while ((n = queue_pop(&f->mux[i])))
			msg_free(container_of(n, struct msg, qnode));
		queue_deinit(&f->mux[i]);
	}
	free(f);
	return 0;
}

/* Next message for mux thread t, or NULL after timeout_ms. */
static inline struct msg *next_msg(struct fixture *f, int t, int timeout_ms)
{
	for (;;) {
		struct queue_node *n = queue_pop(&f->mux[t]);
		if (n)
			return container_of(n, struct msg, qnode);
		struct pollfd p = { .fd = f->mux[t].efd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms) <= 0)
			return NULL;
		queue_ack_wakeup(&f->mux[t]);
	}
}

static inline struct sess_handle handle(unsigned t, unsigned slot)
{
	struct sess_handle h = { .thread = t, .slot = slot, .gen = 1 };
	return h;
}

static inline void bind(struct fixture *f, const char *full, struct sess_handle h)
{
	struct msg *m = msg_new(MSG_BIND, full);
	m->h = h;
	queue_push(router_inbox(f->r), &m->qnode);
	struct msg *res = next_msg(f, (int)h.thread, 2000);
	assert_non_null(res);
	assert_int_equal(res->type, MSG_BIND_RESULT);
	assert_int_equal(res->status, 0);
	assert_string_equal(res->data, full);
	msg_free(res);
}

static inline struct msg *stanza_msg(struct sess_handle h, const char *name, const char *from,
			      const char *to, const char *type, struct xml_node *child)
{
	struct xml_node *n = xml_node_new_elem(name, "jabber:client");
	xml_node_set_attr(n, "from", from);
	if (to)
		xml_node_set_attr(n, "to", to);
	if (type)
		xml_node_set_attr(n, "type", type);
	xml_node_set_attr(n, "id", "x1");
	if (child)
		xml_node_add_child(n, child);
	struct msg *m = msg_new(MSG_STANZA, NULL);
	m->h = h;
	m->st = stanza_freeze(n);
	return m;
}

static inline void send_stanza(struct fixture *f, struct sess_handle h, const char *name,
			const char *from, const char *to, const char *type, struct xml_node *child)
{
	queue_push(router_inbox(f->r), &stanza_msg(h, name, from, to, type, child)->qnode);
}

static inline void presence(struct fixture *f, struct sess_handle h, const char *from, const char *prio)
{
	struct xml_node *p = NULL;
	if (prio) {
		p = xml_node_new_elem("priority", "jabber:client");
		xml_node_add_text(p, prio, strlen(prio));
	}
	send_stanza(f, h, "presence", from, NULL, NULL, p);
}

/* Expects a delivery to h whose bytes contain every needle. */
static inline void expect_delivery(struct fixture *f, struct sess_handle h, const char *n1, const char *n2)
{
	struct msg *m = next_msg(f, (int)h.thread, 2000);
	assert_non_null(m);
	assert_int_equal(m->type, MSG_DELIVER);
	assert_int_equal(m->h.slot, h.slot);
	char *s = strndup(m->st->bytes, m->st->len);
	if (n1 && !strstr(s, n1))
		fail_msg("'%s' not in %s", n1, s);
	if (n2 && !strstr(s, n2))
		fail_msg("'%s' not in %s", n2, s);
	free(s);
	msg_free(m);
}

/* Two deliveries on one thread, to slots s1 and s2 in any order. */
static inline void expect_two(struct fixture *f, struct sess_handle h1, struct sess_handle h2, const char *needle)
{
	unsigned seen = 0;
	for (int i = 0; i < 2; i++) {
		struct msg *m = next_msg(f, (int)h1.thread, 2000);
		assert_non_null(m);
		assert_int_equal(m->type, MSG_DELIVER);
		assert_non_null(memmem(m->st->bytes, m->st->len, needle, strlen(needle)));
		seen |= m->h.slot == h1.slot ? 1u : m->h.slot == h2.slot ? 2u : 4u;
		msg_free(m);
	}
	assert_int_equal(seen, 3);
}

static inline void expect_nothing(struct fixture *f, int t)
{
	struct msg *m = next_msg(f, t, 100);
	if (m) {
		char *s = m->st ? strndup(m->st->bytes, m->st->len) : strdup(m->data);
		fail_msg("unexpected message type %d: %s", m->type, s);
	}
}

#endif
