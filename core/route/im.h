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

struct cfg;
struct router;
struct store_req;
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
	bool parked;                    /* waiting for storage: answered later */
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
	/* A storage request the module submitted (im_store_submit) is done;
	 * cancelled: the router is going away, only free what it holds. */
	void (*store_done)(struct router *r, struct store_req *req, bool cancelled);
	/* A message of type normal or chat for the account bare found no
	 * resource to take it (RFC 6121 8.5.2.1.1).  True: the module has
	 * taken it (and answers for it, an error included); false: the next
	 * module is asked, and with none the sender gets service-unavailable. */
	bool (*message_offline)(struct router *r, struct stanza *st, const char *bare);
	/* The session full has sent available presence with priority prio;
	 * initial: it was not available before (its first, or the first
	 * after unavailable). */
	void (*available)(struct router *r, const char *full, const char *bare, int prio,
			  bool initial);
	/* A message st for the account bare was delivered to those of its
	 * sessions whose flags carry IM_SESS_GOT; called only when the
	 * account has more than one session. */
	void (*message_delivered)(struct router *r, struct stanza *st, const char *bare);
	/* The session full sent message st (before it is routed); others:
	 * its account has other sessions bound. */
	void (*message_sent)(struct router *r, struct stanza *st, const char *full, bool others);
	/* A message st for the local account bare, before it is delivered
	 * or stored: may return a replacement (a new reference) that is
	 * delivered instead (e.g. stamped with a XEP-0359 stanza-id), or
	 * NULL.  Called once per message routed to an account. */
	struct stanza *(*message_in)(struct router *r, struct stanza *st, const char *bare);
	/* The account bare's last session has ended. */
	void (*account_offline)(struct router *r, const char *bare);
	/* The session full (available) has a verified XEP-0115 feature set
	 * it did not have, or has become available with one: the +notify
	 * nodes it wants (im_session_notify) may have changed. */
	void (*caps)(struct router *r, const char *full, const char *bare);
	/* Whether the configuration turns the module on (NULL: always).  Off,
	 * its iqs are answered service-unavailable like any unknown payload
	 * and disco does not list its features. */
	bool (*enabled)(const struct cfg *cfg);
};

/* The reply to q: a result with payload (may be NULL; taken over), or an
 * error.  The result's from is q->to, except to one's own account, where
 * RFC 6120 8.1.2.1 has the server answer without one. */
void im_iq_result(struct im_iq *q, struct xml_node *payload);
void im_iq_error(struct im_iq *q, enum stanza_cond cond);

/* Every disco feature of every module that cfg turns on, for target, in
 * table order. */
void im_each_feature(const struct cfg *cfg, enum im_target target,
		     void (*cb)(void *arg, const char *var), void *arg);

/* The same for a request parked earlier: st is the request (a reference
 * the caller still owns), from as for im_iq_result (NULL: none).  Nothing
 * is sent when the sender's session is gone. */
void im_reply_result(struct router *r, struct stanza *st, const char *from,
		     struct xml_node *payload);
void im_reply_error(struct router *r, struct stanza *st, enum stanza_cond cond);
/* A message was stored for an offline account (counted for /metrics). */
void im_count_offline_stored(struct router *r);
/* The same with an application-specific condition <app_name xmlns=app_ns/>
 * (XEP-0060's pubsub#errors). */
void im_iq_error_app(struct im_iq *q, enum stanza_cond cond, const char *app_name,
		     const char *app_ns);
void im_reply_error_app(struct router *r, struct stanza *st, enum stanza_cond cond,
			const char *app_name, const char *app_ns);

/* Parks q: its answer comes later (from a store_done). */
static inline void im_iq_park(struct im_iq *q)
{
	q->parked = true;
}

/* Submits req (op and inputs filled in) to the storage thread on behalf of
 * mod, for the session full (the requester; NULL: none, no budget);
 * mod->store_done gets it back
 * on the router's side.  XS_LIMIT: that session already has [limits]
 * max_storage_requests_per_session waiting (answer resource-constraint);
 * XS_NOMEM, XS_STOP, XS_INVAL: no memory, no storage thread.  Nothing was
 * submitted unless XS_OK. */
enum xs im_store_submit(struct router *r, const struct im_module *mod, struct store_req *req,
			const char *full);

const struct cfg *im_cfg(const struct router *r);

/* Per-session flags a module may keep (one bit each). */
#define IM_SESS_ROSTER 1u /* asked for its roster: gets roster pushes (RFC 6121 2.1.6) */
#define IM_SESS_OFFLINE 2u /* its account's offline messages are being fetched for it */
#define IM_SESS_CARBONS 4u /* XEP-0280 enabled */
#define IM_SESS_GOT 8u     /* set by the router only while message_delivered runs */
#define IM_SESS_BLOCKLIST 16u /* asked for its blocklist: gets blocklist pushes (XEP-0191) */
#define IM_SESS_REGISTER 32u /* a password change or cancellation (XEP-0077) is in flight */

/* Calls cb for every live session of the account bare; *flags are that
 * session's IM_SESS_* bits, which cb may change. */
void im_each_session(struct router *r, const char *bare,
		     void (*cb)(void *arg, const char *full, unsigned *flags), void *arg);
/* Sets or clears bits in the flags of the live session full. */
void im_session_flag(struct router *r, const char *full, unsigned bits);
void im_session_unflag(struct router *r, const char *full, unsigned bits);
/* Whether the live session full has any of bits set. */
bool im_session_flagged(struct router *r, const char *full, unsigned bits);
/* Whether the account bare has a session bound now. */
bool im_account_online(struct router *r, const char *bare);
/* Ends every session of the account bare (its account is gone): each is
 * closed with stream error cond after what was already sent to it, its
 * unavailable presence goes out, and the router forgets it. */
void im_end_sessions(struct router *r, const char *bare, const char *cond);
/* Delivers st to the live session full (nothing if there is none). */
void im_send_to(struct router *r, const char *full, struct stanza *st);

/* ---- presence (the router's side: core/route/presence.c) ---- */

/* The router's copy of the online account bare's roster: the item for
 * contact now has subscription sub and ask bits ask, or is gone.  Call
 * after every stored change; nothing for an account that is offline. */
void im_roster_cached(struct router *r, const char *bare, const char *contact,
		      unsigned char sub, unsigned char ask, bool removed);
/* The presence of every available session of from_bare (or unavailable
 * from each) to every available session of to_bare, both local. */
void im_send_presences(struct router *r, const char *from_bare, const char *to_bare,
		       bool unavailable);
/* Presence st to a local JID: that session, or every available one of a
 * bare JID. */
void im_deliver_presence(struct router *r, const char *to, struct stanza *st);
/* The router's copy of the online account bare's blocklist (XEP-0191):
 * jids added, or removed (n 0 with !add: all), after the store did it;
 * also sends the unavailable (or the presence again) that the change
 * implies for contacts in the roster. */
void im_blocklist_cached(struct router *r, const char *bare, const char *const *jids, size_t n,
			 bool add);
/* The account's roster load, started at bind for the router's copy, read
 * once for the client's first roster get as well: a get that comes while
 * that load is in flight waits for it, and the first get after it is
 * answered from its items, kept until then (unless the roster changed,
 * the account sent available presence or went offline, or too many logins
 * keep theirs), instead of a second read of the same rows.  done runs once,
 * now or when the load is done: with its result (req: status, ver, items;
 * the get's answer must be built before done returns; a known ver is
 * compared by the caller), or with r and req NULL when the account went
 * offline or the router stopped first.  False: nothing to share, the
 * caller reads the store itself. */
typedef void (*im_load_joined_fn)(struct router *r, void *arg, const struct store_req *req);
bool im_roster_join_load(struct router *r, const char *bare, im_load_joined_fn done, void *arg);
/* The subscription (ROSTER_SUB_*) the online account bare's roster has
 * with the bare JID contact; -1 when the roster is not loaded (offline). */
int im_roster_sub(struct router *r, const char *bare, const char *contact);
/* Whether jid's domain is served here. */
bool im_is_local(struct router *r, const char *jid);
/* st (from a local JID) to its remote 'to', over that server's link
 * (queued while it comes up; bounced to the sender when it cannot). */
void im_send_remote(struct router *r, struct stanza *st);
/* A subscription stanza from a remote account to a local one, as its
 * server sent it (core/im/presence.c): the local account's side. */
void im_subscription_in(struct router *r, struct stanza *st);
/* A subscription stanza st from the session full to the bare JID contact
 * (core/im/presence.c). */
void im_subscription_out(struct router *r, struct stanza *st, const char *full,
			 const char *contact);

/* A fresh id, unique for this router's lifetime and very likely across
 * restarts (random start): 16 hex digits and a NUL. */
void im_new_id(struct router *r, char out[17]);
/* The archive's backlog ([im] max_archive_backlog appends waiting for the
 * store, server-wide): reserve one before submitting an append (false:
 * full, do not), release it when the store answers. */
bool im_archive_reserve(struct router *r);
void im_archive_release(struct router *r);
/* Whether the account bare has more than one session bound. */
bool im_account_multi(struct router *r, const char *bare);

/* ---- PEP (XEP-0163; the router's side: core/route/caps.c) ---- */

/* The +notify nodes (sorted) of the live session full's verified feature
 * set, valid until the router's baton is released; 0 and NULL without. */
size_t im_session_notify(struct router *r, const char *full, const char *const **nodes);
/* A pubsub event (<event xmlns=pubsub#event>, copied) of node of the
 * account owner: to owner's available sessions that want node and, with
 * contacts, to those of the local contacts subscribed to owner's presence
 * (neither side blocking the other). */
void im_pep_notify(struct router *r, const char *owner, const char *node, bool contacts,
		   const struct xml_node *event);
/* The bare JIDs whose PEP items the online account bare gets: itself,
 * then the local contacts it is subscribed to (RFC 6121 'to' or 'both'),
 * not blocked. */
void im_pep_sources(struct router *r, const char *bare, void (*cb)(void *arg, const char *jid),
		    void *arg);

/* When the router was created (CLOCK_MONOTONIC seconds), for uptime. */
uint64_t im_router_started(const struct router *r);

/* The hooks above, for every module in table order (services.c). */
bool services_message_offline(struct router *r, struct stanza *st, const char *bare);
void services_available(struct router *r, const char *full, const char *bare, int prio,
			bool initial);
void services_message_delivered(struct router *r, struct stanza *st, const char *bare);
void services_message_sent(struct router *r, struct stanza *st, const char *full, bool others);
void services_account_offline(struct router *r, const char *bare);
void services_caps(struct router *r, const char *full, const char *bare);
struct stanza *services_message_in(struct router *r, struct stanza *st, const char *bare);

/* Answers an iq request addressed to the server or to an account's bare
 * JID (core/route/services.c): the module that handles its payload, or
 * service-unavailable (RFC 6120 8.4).  Results and errors addressed there
 * end here. */
void services_iq(struct router *r, struct stanza *st, const char *to, enum im_target target,
		 bool own);

#endif
