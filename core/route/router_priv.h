/* The router's state, shared by the files of core/route/ and nobody else:
 * router.c (tables, routing, the baton), presence.c (availability,
 * broadcast, probes, directed presence, the online accounts' rosters).
 * Everything here belongs to the holder of the router's baton. */
#ifndef XMPPD_ROUTER_PRIV_H
#define XMPPD_ROUTER_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/hmap.h"
#include "core/base/queue.h"
#include "core/route/im.h"
#include "core/route/msg.h"
#include "core/xmpp/stanza.h"

struct cfg;
struct ruser;
struct store_thread;

/* Room for a bare JID: a full JID is at most 3071 bytes (RFC 7622). */
#define BARE_MAX 3072

/* A JID a session sent available presence to outside its roster (RFC 6121
 * 4.6): told when the session goes unavailable. */
struct rdirected {
	struct rdirected *next;
	char jid[];
};

struct rsess {
	struct hmap_entry by_full;
	struct ruser *user;
	struct rsess *next_in_user;
	struct sess_handle h;
	bool available;      /* has sent available presence */
	unsigned im_flags;   /* IM_SESS_* bits kept by the IM modules */
	unsigned store_pending; /* its storage requests not answered yet */
	bool gone;           /* its mux could not take a stanza: closing */
	int priority;
	struct stanza *presence; /* its last available presence, slim (no tree): probes are answered with it */
	struct rdirected *directed;
	unsigned n_directed;
	bool inactive;       /* XEP-0352: presence updates are held */
	struct csi_held *held; /* those held (NULL: none) */
	char *sm_id;         /* XEP-0198: resumable by this id (key of by_smid), or NULL */
	struct hmap_entry by_smid;
	struct rcaps *caps;  /* XEP-0115: its verified feature set (caps.c), or NULL */
	char *caps_want;     /* the hash asked about (caps.c), or NULL */
	uint64_t caps_qid;   /* that query's number */
	char full[];         /* key */
};

/* One item of an online account's roster, as the router keeps it: the
 * contact (an interned struct ruser, shared by every roster that lists
 * it, named by its index in the router's table) and its subscription
 * state (enum roster_sub, ROSTER_ASK_* bits), packed in 4 bytes: a
 * 100-item roster is 400 bytes of the ~4 KiB an idle session may cost
 * (a pointer and two bytes made it 16 an item).  Names and groups stay
 * on disk. */
#define RT_USER_BITS 26
#define RT_MAX_USERS (1u << RT_USER_BITS) /* interned JIDs at once: 67 million */
struct rcontact {
	uint32_t who : RT_USER_BITS; /* the contact's index (rt_user_at) */
	uint32_t sub : 2;
	uint32_t ask : 4;
};
_Static_assert(sizeof(struct rcontact) == 4, "an rcontact is 4 bytes");

enum roster_state {
	RS_NONE,    /* not loaded: the account is offline */
	RS_LOADING, /* asked of the store at the first bind */
	RS_READY,
};

/* A presence broadcast that came while the roster was loading, or (st
 * NULL) a roster get that shares the load (im_roster_join_load), or
 * (neither) a barrier: a roster change was submitted after the load, so
 * later gets read the store (rt_roster_changing). */
struct rwait {
	struct rwait *next;
	struct stanza *st;
	struct sess_handle h;
	im_load_joined_fn joined;
	void *arg;
};

/* A bare JID the router knows: an account with sessions, or a contact in
 * the roster of one (interned: one per JID, counted by refs).  Freed when
 * nothing holds it. */
struct ruser {
	struct hmap_entry by_bare;
	struct rsess *sessions;
	struct rcontact *roster; /* sorted by who; RS_READY only */
	uint32_t n_roster;
	uint32_t refs;           /* rcontact entries pointing here */
	uint32_t load_seq;       /* RS_LOADING: which load answers for it */
	unsigned char roster_state;
	unsigned char n_waiting;
	bool local;              /* of a domain served here */
	char **blocked;          /* RS_READY: the account's blocklist (XEP-0191), sorted */
	uint32_t n_blocked;
	uint32_t idx;            /* its place in r->users (rcontact.who) */
	union {
		struct rwait *waiting;       /* RS_LOADING: broadcasts to replay, in order */
		struct login_roster *login;  /* RS_READY: the load's items, kept for the
		                              * client's first roster get (presence.c) */
	};
	char bare[];             /* key */
};

struct router {
	const struct cfg *cfg;
	struct queue *const *mux_inboxes;
	unsigned n_mux;
	unsigned n_link_threads;        /* threads that may carry an outbound s2s link */
	struct queue inbox;
	int epfd;               /* watches inbox (router_start); -1 before */
	pthread_t thread;
	bool started;
	atomic_bool stopped;    /* MSG_SHUTDOWN dispatched: nobody drains any more */
	/* Whoever holds it owns the inbox's consumer end and all that follows. */
	pthread_mutex_t baton;
	struct queue *local;    /* inbox of the mux thread draining, else NULL */
	struct hmap by_full;
	struct hmap by_bare;
	struct hmap by_smid;    /* XEP-0198 id -> struct rsess (sm.c) */
	unsigned long routed, bounced;
	uint64_t offline_stored; /* messages stored for offline accounts (/metrics) */
	uint64_t started_s;     /* CLOCK_MONOTONIC seconds at router_new, for uptime */
	struct store_thread *store; /* for the IM modules; NULL in unit tests */
	uint32_t load_seq;      /* the last roster load started */
	unsigned n_blocking;    /* online accounts with a non-empty blocklist */
	uint64_t id_next;       /* im_new_id: random start at router_new, then counted */
	unsigned archive_pending; /* archive appends the store has not answered yet */
	/* every struct ruser by index (presence.c), and the free indices */
	struct ruser **users;
	uint32_t n_users, cap_users;
	uint32_t *free_users;
	uint32_t n_free_users;
	struct hmap caps;       /* verified XEP-0115 feature sets by "hash ver" (caps.c) */
	struct rcaps *caps_idle, *caps_idle_tail; /* those no session uses, oldest first */
	uint64_t caps_qid;      /* the last caps query sent */
	/* rosters kept from logins' loads for the clients' first gets
	 * (presence.c), oldest first */
	struct login_roster *logins_head, *logins_tail;
	unsigned n_logins;
	size_t logins_bytes;
	/* outbound server links by "local remote" (s2s_links.c) */
	struct hmap s2s_links;
};

/* s2s_links.c: outbound server-to-server links */
int rt_s2s_init(struct router *r);
void rt_s2s_deinit(struct router *r);
/* st (from a local domain) to its remote domain: sent on the pair's link,
 * queued while it comes up, or bounced to the local sender. */
void rt_s2s_send(struct router *r, struct stanza *st);
/* The same for a stanza without 'to' (a shared broadcast presence): to
 * is its recipient, written in by the stream. */
void rt_s2s_send_to(struct router *r, struct stanza *st, const char *to);
void rt_s2s_up(struct router *r, struct msg *m);
void rt_s2s_down(struct router *r, struct msg *m);
/* A MSG_UNDELIVERED from an outbound link's stream: it goes on a new one. */
void rt_s2s_undelivered(struct router *r, struct msg *m);
size_t rt_s2s_count(const struct router *r);

/* router.c */
/* s ended: unavailable to whoever had its presence, out of the tables. */
void rt_end_session(struct router *r, struct rsess *s);
/* Sends m to the mux thread of m->h. */
void rt_post(struct router *r, struct msg *m);
struct rsess *rt_find_full(struct router *r, const char *full);
struct rsess *rt_find_live(struct router *r, const char *full);
struct ruser *rt_find_user(struct router *r, const char *bare);
void rt_deliver(struct router *r, struct rsess *s, struct stanza *st, bool sole);
void rt_reply_error(struct router *r, struct stanza *st, enum stanza_cond cond);
bool rt_handle_eq(struct sess_handle a, struct sess_handle b);
size_t rt_bare_len(const char *jid);
size_t rt_bare_copy(const char *jid, char out[BARE_MAX]);
const char *rt_jid_domain(const char *jid, size_t *len);
bool rt_is_local_domain(struct router *r, const char *d, size_t len);
/* Delivers presence st to `to`: that session if it is a full JID, every
 * available resource if bare; nothing for an account with none. */
void rt_deliver_presence(struct router *r, struct stanza *st, const char *to);
/* Closes the session s with stream error cond ("condition[ text]") and
 * removes it, as a conflict does; false (nothing done) without memory. */
bool rt_close_session(struct router *r, struct rsess *s, const char *cond);

/* caps.c: XEP-0115 feature sets, who wants which PEP events */
int rt_caps_init(struct router *r); /* 0 or -1 */
void rt_caps_deinit(struct router *r);
/* Available presence st from s: notes its caps, asking the session for
 * the features behind a hash not seen yet.  True: s now has a known
 * feature set it did not have (its PEP last items are due). */
bool rt_caps_presence(struct router *r, struct rsess *s, const struct stanza *st);
/* An iq result or error st to an account's bare JID: true when it
 * answered a caps query (taken). */
bool rt_caps_answer(struct router *r, struct stanza *st);
/* Whether s listed node+notify. */
bool rt_caps_wants(const struct rsess *s, const char *node);
/* s is going away (r NULL: the router too). */
void rt_caps_free_sess(struct router *r, struct rsess *s);

/* ctl.c */
/* A command from the control socket (MSG_CTL): kick, roster. */
void rt_ctl(struct router *r, struct msg *m);

/* blocking.c */
/* Whether u (online, loaded) blocks jid, by XEP-0016 2.1's matching: the
 * full JID, the bare JID, domain/resource or the domain. */
bool rt_blocks(const struct router *r, const struct ruser *u, const char *jid);
/* Before routing st from sender to `to`: true when blocking stopped it
 * (answered with the error XEP-0191 says, or dropped). */
bool rt_block_stanza(struct router *r, struct stanza *st, struct rsess *sender, const char *to);
/* The half of rt_block_stanza for a sender that is not local (a remote
 * server's): whether the local account `to` blocks st->from, answered as
 * XEP-0191 3.6 says (the caller drops st when true). */
bool rt_block_inbound(struct router *r, struct stanza *st, const char *to);
/* presence.c: presence from a remote JID to a local one (its server's
 * inbound link): subscriptions, probes, and the rest by the rosters. */
void rt_presence_from_remote(struct router *r, struct stanza *st);
/* The blocklist the store loaded (taken over) for u. */
void rt_block_loaded(struct router *r, struct ruser *u, char **jids, size_t n);
/* u goes offline: its blocklist is dropped. */
void rt_block_drop(struct router *r, struct ruser *u);

/* csi.c */
/* Holds st for the inactive session s instead of delivering it; false:
 * deliver it now (not a presence update, or no room). */
bool rt_csi_hold(struct router *r, struct rsess *s, struct stanza *st);
/* The session's state changed (MSG_CSI); becoming active delivers what
 * was held. */
void rt_csi_set(struct router *r, struct rsess *s, bool inactive);
/* Drops what is held without delivering it (the session is ending). */
void rt_csi_drop(struct rsess *s);

/* sm.c: XEP-0198 ids and resumption */
int rt_sm_init(struct router *r);     /* 0 or -1 */
void rt_sm_deinit(struct router *r);
void rt_sm_enable(struct router *r, struct msg *m);
void rt_sm_resume(struct router *r, struct msg *m);
/* s is leaving the tables: its id no longer resumes it. */
void rt_sm_forget(struct router *r, struct rsess *s);
/* router_free: s's id, without touching the table. */
void rt_sm_free_sess(struct rsess *s);

/* presence.c */
/* The struct ruser of index idx (a roster item's contact). */
static inline struct ruser *rt_user_at(const struct router *r, uint32_t idx)
{
	return r->users[idx];
}
/* The interned entry for bare, made if missing (NULL without memory). */
struct ruser *rt_user_get(struct router *r, const char *bare);
/* router_free: the index table (the users themselves are freed apart). */
void rt_users_free(struct router *r);
/* Frees u if nothing holds it any more. */
void rt_user_release(struct router *r, struct ruser *u);
/* The session s of u was just bound: loads u's roster if it is not. */
void rt_presence_bound(struct router *r, struct rsess *s);
/* Presence without 'to' from s (RFC 6121 4.2, 4.4, 4.5). */
void rt_presence_broadcast(struct router *r, struct stanza *st, struct rsess *s);
/* Presence with 'to' from s, to a local or remote JID (to is normalised). */
void rt_presence_directed(struct router *r, struct stanza *st, struct rsess *s, const char *to);
/* s is ending: unavailable to whoever had its presence, then its presence
 * state freed.  The caller removes s from the tables afterwards. */
void rt_presence_end(struct router *r, struct rsess *s);
/* The presence of from's available sessions (or unavailable from each)
 * to dest's. */
void rt_presence_of(struct router *r, const struct ruser *from, struct ruser *dest,
		    bool unavailable);
/* Whether the session s shares its presence with the sender from (RFC
 * 6121 8.5.3.1: its account's own resources, a contact subscribed to it,
 * a JID it sent directed presence to, or a server; true as well while its
 * roster loads). */
bool rt_shares_presence(struct router *r, const struct rsess *s, const char *from);
/* The subscription (ROSTER_SUB_*) u's loaded roster has with c; 0: none. */
unsigned rt_roster_sub(const struct ruser *u, const struct ruser *c);
/* A roster change of the account local@domain goes to the store: what
 * its login read is no answer for a later get any more. */
void rt_roster_changing(struct router *r, const char *local, const char *domain);
/* u has no session left: its roster is dropped. */
void rt_presence_offline(struct router *r, struct ruser *u);
/* router_free: what s or u holds, without telling anyone. */
void rt_presence_free_sess(struct rsess *s);
void rt_presence_free_user(struct ruser *u);

#endif
