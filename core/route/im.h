/* The interface between the router and the IM features (core/im/).
 *
 * A feature is a const struct im_module: the iq payloads it answers (by
 * namespace and element name, for the server's JID, an account's bare JID
 * or both) and the disco features it adds there.  core/route/services.c
 * lists every module in one table; adding a feature is one file in
 * core/im/ and one line there.  Later features add hooks to this struct
 * (session start and end, presence and messages in and out, storage
 * results): docs/internals/im.md says what is planned.
 *
 * Handlers run on the thread holding the router's baton, with the
 * router's state; they must not block (no disk, no DNS: a handler that
 * needs storage will park its work and resume on the result) and answer
 * through im_iq_result or im_iq_error at most once. */
#ifndef XMPPD_IM_H
#define XMPPD_IM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/xmpp/ns.h"
#include "core/xmpp/stanza.h"

struct router;
struct xml_node;



enum im_target {
	IM_TO_SERVER = 1,  /* the domain JID of a served host */
	IM_TO_ACCOUNT = 2, /* an account's bare JID, answered by the server for it */
};

/* One iq request for a module. */
struct im_iq {
	struct router *r;
	struct stanza *st;              /* the request: st->from is the sender's full JID */
	const struct xml_node *payload; /* its child element */
	const char *to;                 /* the domain or bare JID it was addressed to */
	enum im_target target;
	bool get;                       /* type get (else set) */
	bool own;                       /* IM_TO_ACCOUNT: the sender's own account */
	bool answered;
};

struct im_iq_handler {
	const char *ns;
	const char *name;               /* payload element; NULL: any */
	unsigned targets;               /* IM_TO_SERVER | IM_TO_ACCOUNT */
	bool own_only;                  /* IM_TO_ACCOUNT: only from the account itself */
	void (*handle)(struct im_iq *q);
};

/* The end of a module's iqs array (every field named: clang's
 * -Wmissing-field-initializers). */
#define IM_IQ_END { NULL, NULL, 0, false, NULL }

struct im_module {
	const char *name;
	const struct im_iq_handler *iqs; /* ends with IM_IQ_END */
	const char *const *server_features;  /* disco#info of the server; NULL-terminated */
	const char *const *account_features; /* disco#info of an account (to itself) */
};

/* The reply to q: a result with payload (may be NULL; taken over), or an
 * error.  The result's from is q->to, except to one's own account, where
 * RFC 6120 8.1.2.1 has the server answer without one. */
void im_iq_result(struct im_iq *q, struct xml_node *payload);
void im_iq_error(struct im_iq *q, enum stanza_cond cond);

/* Every disco feature of every module for target, in table order. */
void im_each_feature(enum im_target target, void (*cb)(void *arg, const char *var), void *arg);

/* When the router was created (CLOCK_MONOTONIC seconds), for uptime. */
uint64_t im_router_started(const struct router *r);

/* Answers an iq request addressed to the server or to an account's bare
 * JID (core/route/services.c): the module that handles its payload, or
 * service-unavailable (RFC 6120 8.4).  Results and errors addressed there
 * end here. */
void services_iq(struct router *r, struct stanza *st, const char *to, enum im_target target,
		 bool own);

#endif
