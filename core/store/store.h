/* Persistent storage: the interface every backend implements.
 *
 * The server keeps accounts (and later rosters, offline messages, ...) in a
 * database reached through this small ops table, so that the embedded SQLite
 * backend (store_sqlite.c) can be joined by a PostgreSQL one without touching
 * callers.  A backend embeds struct store as its first member and recovers
 * its own state with container_of.
 *
 * Threading: a store handle is owned by ONE thread at a time and is not
 * thread-safe by design.  In the server that thread is the storage worker
 * (store_thread.h); nothing else calls these functions, so the router and the
 * mux threads never wait on disk.  A handle may be handed to another thread
 * once (e.g. opened by the starter, then used only by the worker) provided
 * the hand-off itself synchronises, as pthread_create does.
 *
 * Names: domain and localpart are compared byte-for-byte, so callers pass
 * them already normalised (nameprep/PRECIS, see the JID code).  Both must be
 * non-empty NUL-terminated strings.
 *
 * Errors: every call returns enum xs.  XS_INVAL is a bad argument (or, for
 * create, an existing account), XS_NOTFOUND a missing account or credential,
 * XS_IO a database failure (already logged with the backend's message). */
#ifndef XMPPD_STORE_H
#define XMPPD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/auth/scram_cred.h"
#include "core/base/status.h"

struct store;

/* How many stored credentials of one hash use one PBKDF2 iteration count. */
struct store_iter_count {
	unsigned iterations;
	unsigned long count;
};

/* RFC 6121 2.1.2.5 subscription states, as stored. */
enum roster_sub { ROSTER_SUB_NONE, ROSTER_SUB_TO, ROSTER_SUB_FROM, ROSTER_SUB_BOTH };
/* ask bits, the pending parts of a subscription (RFC 6121 3):
 * OUT: a request sent and not yet answered (ask='subscribe' in the roster);
 * IN: one received and not yet answered (kept for the next login, 3.1.3);
 * PREAPPROVED: the account approved the contact's request before it came
 * (3.4), so it is granted without asking;
 * HIDDEN: the item exists only to remember an unanswered inbound request
 * from a contact the account never added itself; it is not the account's
 * roster, so it is left out of roster results and pushes (the router
 * filters it, the store returns it like any other item). */
#define ROSTER_ASK_OUT 1u
#define ROSTER_ASK_IN 2u
#define ROSTER_ASK_PREAPPROVED 4u
#define ROSTER_ASK_HIDDEN 8u
#define ROSTER_ASK_ALL 15u

/* What a store_roster_update callback asks for. */
enum roster_change {
	ROSTER_UNCHANGED, /* write nothing */
	ROSTER_WRITE,     /* store the item as the callback left it */
	ROSTER_DELETE,    /* remove the item */
};

/* One roster item.  groups holds the group names joined by '\x1f': that
 * character cannot appear in XML 1.0 text, so it is never part of a name.
 * "" is no group.  name is NULL for none. */
struct store_roster_item {
	char *contact;              /* bare JID, normalised */
	char *name;
	char *groups;
	unsigned char subscription; /* enum roster_sub */
	unsigned char ask;          /* ROSTER_ASK_* bits */
};

/* One stored offline message (XEP-0160): the stanza as it will be
 * delivered (XML, with its <delay/>), and its place in the account's
 * queue (ids grow in arrival order). */
struct store_offline_msg {
	uint64_t id;
	char *xml;
	size_t len;
};

/* One message for the archive (XEP-0313, store_mam_append below): the
 * account it is archived for, in buffers of its own so that an item is
 * complete by itself (a batch mixes accounts, and a storage request carries
 * one whole), and the message. */
struct store_mam_item {
	char domain[256];
	char local[1024];
	const char *with;      /* the other party's bare JID, normalised */
	int64_t stamp_us;      /* when it was archived, unix microseconds */
	const char *stanza_id; /* its XEP-0359 id, given by the router */
	const char *xml;       /* the stanza, len bytes (not NUL-terminated necessarily) */
	size_t len;
};

/* What one archive query (store_mam_query below) asks for: XEP-0313's
 * form fields and XEP-0059's paging. */
struct store_mam_filter {
	const char *with;        /* bare JID, normalised; NULL: every conversation */
	int64_t start_us, end_us; /* stamp bounds, inclusive; 0: none */
	const char *after_id;    /* stanza ids of the anchors; NULL: none */
	const char *before_id;
	unsigned max;            /* page size, at least 1 */
	bool last_page;          /* RSM's empty <before/>: the newest page */
};

/* PEP (XEP-0163): nodes per account, items per node.  A node is named
 * by its owner (domain, localpart) and its name; its items are kept in
 * the order they were published (store_pep_publish below). */
enum store_pep_access {
	STORE_PEP_PRESENCE = 0,  /* owner + contacts whose roster item in the OWNER's roster has subscription from or both */
	STORE_PEP_OPEN = 1,      /* anyone */
	STORE_PEP_WHITELIST = 2, /* the owner only */
};
struct store_pep_config {
	unsigned char access;   /* enum store_pep_access */
	bool persist_items;     /* false: only the newest item is kept (max 1) */
	unsigned max_items;     /* at least 1 */
	bool send_last;         /* pubsub#send_last_published_item: on_sub_and_presence (true) or never */
	bool notify_retract;    /* pubsub#notify_retract */
};
/* Fields of a publish-options precondition (XEP-0060 7.1.5): which of them must equal an existing node's config. */
#define STORE_PEP_F_ACCESS 1u
#define STORE_PEP_F_PERSIST 2u
#define STORE_PEP_F_MAX_ITEMS 4u
#define STORE_PEP_F_SEND_LAST 8u
#define STORE_PEP_F_NOTIFY_RETRACT 16u
#define STORE_PEP_F_ALL 31u
/* One item handed out by pep_items / pep_last (strings valid only during the callback) */
struct store_pep_item {
	const char *owner;  /* bare JID local@domain (pep_last), else NULL */
	const char *node;
	const char *id;
	const char *xml;    /* the payload as stored, len bytes */
	size_t len;
};

/* One table per backend, const and static.  The wrappers below check the
 * arguments, so backends may assume non-NULL, non-empty names and
 * well-formed credentials. */
struct store_ops {
	const char *name; /* "sqlite", for log lines */
	void (*close)(struct store *st);
	enum xs (*user_create)(struct store *st, const char *domain, const char *local,
			       const struct scram_cred *sha1, const struct scram_cred *sha256);
	enum xs (*user_set_password_creds)(struct store *st, const char *domain, const char *local,
					   const struct scram_cred *sha1,
					   const struct scram_cred *sha256);
	enum xs (*user_delete)(struct store *st, const char *domain, const char *local);
	enum xs (*user_get_cred)(struct store *st, const char *domain, const char *local,
				 enum scram_hash hash, struct scram_cred *out);
	enum xs (*user_exists)(struct store *st, const char *domain, const char *local,
			       bool *out);
	enum xs (*user_list)(struct store *st, const char *domain,
			     void (*cb)(void *arg, const char *local), void *arg);
	enum xs (*iteration_counts)(struct store *st, enum scram_hash hash,
				    struct store_iter_count *out, size_t max, size_t *n);
	/* block_cb NULL: the roster only (store_roster_get); otherwise the
	 * blocklist too, from the same snapshot (store_roster_get_with_blocklist).
	 * known not NULL: no item is read when the version is *known
	 * (store_roster_get_since), and *unchanged says so */
	enum xs (*roster_get)(struct store *st, const char *domain, const char *local,
			      void (*cb)(void *arg, const struct store_roster_item *it), void *arg,
			      uint64_t *ver, void (*block_cb)(void *arg, const char *jid),
			      void *block_arg, const uint64_t *known, bool *unchanged);
	enum xs (*roster_put)(struct store *st, const char *domain, const char *local,
			      const struct store_roster_item *it, unsigned max_items, uint64_t *ver);
	enum xs (*roster_remove)(struct store *st, const char *domain, const char *local,
				 const char *contact, uint64_t *ver);
	enum xs (*roster_update)(struct store *st, const char *domain, const char *local,
				 const char *contact,
				 enum roster_change (*apply)(void *arg,
							     struct store_roster_item *it,
							     bool existed),
				 void *arg, unsigned max_items, uint64_t *ver);
	enum xs (*offline_push)(struct store *st, const char *domain, const char *local,
				const char *xml, size_t len, unsigned max_count);
	enum xs (*offline_list)(struct store *st, const char *domain, const char *local,
				void (*cb)(void *arg, const struct store_offline_msg *m), void *arg);
	enum xs (*offline_delete)(struct store *st, const char *domain, const char *local,
				  uint64_t upto_id);
	enum xs (*data_get)(struct store *st, const char *domain, const char *local,
			    const char *kind, const char *key, char **xml, size_t *len);
	enum xs (*data_put)(struct store *st, const char *domain, const char *local,
			    const char *kind, const char *key, const char *xml, size_t len,
			    unsigned max_keys);
	enum xs (*block_list)(struct store *st, const char *domain, const char *local,
			      void (*cb)(void *arg, const char *jid), void *arg);
	enum xs (*block_change)(struct store *st, const char *domain, const char *local,
				const char *const *jids, size_t n, bool add, unsigned max_items,
				size_t *changed);
	enum xs (*block_match)(struct store *st, const char *domain, const char *local,
			       const char *jid, bool *blocked);
	enum xs (*mam_append)(struct store *st, const struct store_mam_item *items, size_t n,
			      bool *denied);
	enum xs (*mam_query)(struct store *st, const char *domain, const char *local,
			     const struct store_mam_filter *f,
			     void (*cb)(void *arg, const char *stanza_id, int64_t stamp_us,
					const char *with, const char *xml, size_t len),
			     void *arg, bool *complete);
	enum xs (*mam_expire)(struct store *st, int64_t older_than_us, unsigned *deleted);
	enum xs (*mam_prefs_get)(struct store *st, const char *domain, const char *local,
				 unsigned char *dflt,
				 void (*cb)(void *arg, const char *jid, bool always), void *arg);
	enum xs (*mam_prefs_set)(struct store *st, const char *domain, const char *local,
				 unsigned char dflt, const char *const *always, size_t n_always,
				 const char *const *never, size_t n_never);
	/* pep_publish, pep_replace: over_quota is never NULL and false on
	 * entry; the backend sets it only with the XS_LIMIT of max_bytes. */
	enum xs (*pep_publish)(struct store *st, const char *domain, const char *local,
			       const char *node, const struct store_pep_config *cfg,
			       unsigned precond, const char *item_id, const char *xml, size_t len,
			       unsigned max_nodes, uint64_t max_bytes, bool *over_quota,
			       struct store_pep_config *out, bool *created);
	enum xs (*pep_items)(struct store *st, const char *domain, const char *local,
			     const char *node, const char *requester, const char *const *ids,
			     size_t n_ids, unsigned max,
			     void (*cb)(void *arg, const struct store_pep_item *it), void *arg,
			     struct store_pep_config *out);
	enum xs (*pep_retract)(struct store *st, const char *domain, const char *local,
			       const char *node, const char *item_id,
			       struct store_pep_config *out);
	enum xs (*pep_delete)(struct store *st, const char *domain, const char *local,
			      const char *node);
	enum xs (*pep_purge)(struct store *st, const char *domain, const char *local,
			     const char *node);
	enum xs (*pep_config_get)(struct store *st, const char *domain, const char *local,
				  const char *node, struct store_pep_config *out);
	enum xs (*pep_config_set)(struct store *st, const char *domain, const char *local,
				  const char *node, const struct store_pep_config *cfg);
	enum xs (*pep_nodes)(struct store *st, const char *domain, const char *local,
			     const char *requester, void (*cb)(void *arg, const char *node),
			     void *arg);
	enum xs (*pep_last)(struct store *st, const char *requester, const char *const *owners,
			    size_t n_owners, const char *const *nodes, size_t n_nodes,
			    void (*cb)(void *arg, const struct store_pep_item *it), void *arg);
	enum xs (*pep_replace)(struct store *st, const char *domain, const char *local,
			       const char *node, const struct store_pep_config *cfg,
			       const struct store_pep_item *items, size_t n, unsigned max_nodes,
			       uint64_t max_bytes, bool *over_quota,
			       void (*removed)(void *arg, const char *id), void *arg);
};

struct store {
	const struct store_ops *ops;
};

/* How store_sqlite_open treats a database that is not there. */
enum store_open_mode {
	/* The file must exist (the server): a missing one is refused with a
	 * message pointing at "xmppctl init", since a typo in [storage] path
	 * must not start a server with no accounts. */
	STORE_OPEN_EXISTING,
	/* The file is created in a directory that exists (xmppctl adduser). */
	STORE_OPEN_CREATE_FILE,
	/* The directory is created too, mode 0700 (xmppctl init). */
	STORE_OPEN_CREATE_DIR,
};

/* Opens the SQLite database at path (what a missing file or directory
 * does: mode): the file is 0600, the schema is migrated to the newest
 * version this code knows.  A database written by a newer server (schema
 * version above ours) is refused.  On failure returns NULL with a
 * human-readable reason in err. */
struct store *store_sqlite_open(const char *path, enum store_open_mode mode, char *err,
				size_t errlen);
/* The schema version (PRAGMA user_version) this code writes and reads. */
int store_sqlite_schema_version(void);

static inline bool store__name_ok(const char *s)
{
	return s && s[0] != '\0';
}

static inline bool store__cred_ok(const struct scram_cred *c, enum scram_hash h)
{
	return c->hash == h && c->iterations > 0 && c->salt_len > 0 &&
	       c->salt_len <= SCRAM_MAX_SALT;
}

/* A password is set as one unit: both slots are written together and a NULL
 * slot means "no credential for that hash".  At least one must be given,
 * otherwise the account could never log in. */
static inline bool store__creds_ok(const struct scram_cred *sha1, const struct scram_cred *sha256)
{
	if (!sha1 && !sha256)
		return false;
	if (sha1 && !store__cred_ok(sha1, SCRAM_SHA1))
		return false;
	if (sha256 && !store__cred_ok(sha256, SCRAM_SHA256))
		return false;
	return true;
}

/* Creates an account.  XS_INVAL if it already exists (or bad arguments). */
static inline enum xs store_user_create(struct store *st, const char *domain, const char *local,
					const struct scram_cred *sha1,
					const struct scram_cred *sha256)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__creds_ok(sha1, sha256))
		return XS_INVAL;
	return st->ops->user_create(st, domain, local, sha1, sha256);
}

/* Replaces both credentials of an existing account (a password change: an
 * old credential must not survive it, so a NULL slot is cleared).
 * XS_NOTFOUND if the account does not exist. */
static inline enum xs store_user_set_creds(struct store *st, const char *domain,
					   const char *local, const struct scram_cred *sha1,
					   const struct scram_cred *sha256)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__creds_ok(sha1, sha256))
		return XS_INVAL;
	return st->ops->user_set_password_creds(st, domain, local, sha1, sha256);
}

/* XS_NOTFOUND if the account does not exist. */
static inline enum xs store_user_delete(struct store *st, const char *domain, const char *local)
{
	if (!store__name_ok(domain) || !store__name_ok(local))
		return XS_INVAL;
	return st->ops->user_delete(st, domain, local);
}

/* Fills *out with the account's credential for hash.  XS_NOTFOUND when the
 * account does not exist or has no credential for that hash; *out is then
 * zeroed, so a caller that proceeds with a fake challenge (to hide which
 * accounts exist) sends no stale bytes. */
static inline enum xs store_user_get_cred(struct store *st, const char *domain,
					  const char *local, enum scram_hash hash,
					  struct scram_cred *out)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !out ||
	    (hash != SCRAM_SHA1 && hash != SCRAM_SHA256))
		return XS_INVAL;
	memset(out, 0, sizeof(*out));
	return st->ops->user_get_cred(st, domain, local, hash, out);
}

/* *out is set only when XS_OK is returned. */
static inline enum xs store_user_exists(struct store *st, const char *domain, const char *local,
					bool *out)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !out)
		return XS_INVAL;
	return st->ops->user_exists(st, domain, local, out);
}

/* Calls cb once per account of domain, in byte order of the localpart.  The
 * string is valid only during the call.  cb must not call back into the
 * same store (the backend is in the middle of a query). */
static inline enum xs store_user_list(struct store *st, const char *domain,
				      void (*cb)(void *arg, const char *local), void *arg)
{
	if (!store__name_ok(domain) || !cb)
		return XS_INVAL;
	return st->ops->user_list(st, domain, cb, arg);
}

/* The iteration counts in use for hash, most used first, at most max of
 * them (*n).  An unknown user's fake SCRAM challenge draws its count from
 * these, so that it looks like some real account's. */
static inline enum xs store_iteration_counts(struct store *st, enum scram_hash hash,
					     struct store_iter_count *out, size_t max, size_t *n)
{
	if (!out || !n || (hash != SCRAM_SHA1 && hash != SCRAM_SHA256))
		return XS_INVAL;
	*n = 0;
	return st->ops->iteration_counts(st, hash, out, max, n);
}

/* Rosters (RFC 6121 2).  Every change bumps the account's roster version,
 * a counter kept per account (0 for an account whose roster never
 * changed), and returns the new value in *ver, in the same transaction.
 * The account need not exist in users (a roster outlives nothing, but the
 * store does not police that). */

/* Calls cb once per item, in byte order of the contact, then sets *ver to
 * the current version.  The item is valid only during the call; cb must
 * not call back into the store. */
static inline enum xs store_roster_get(struct store *st, const char *domain, const char *local,
				       void (*cb)(void *arg, const struct store_roster_item *it),
				       void *arg, uint64_t *ver)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !cb || !ver)
		return XS_INVAL;
	*ver = 0;
	return st->ops->roster_get(st, domain, local, cb, arg, ver, NULL, NULL, NULL, NULL);
}

/* store_roster_get, except when the roster is still at version known (the
 * one a client holds, RFC 6121 2.6.3): then cb is never called, *ver is
 * known and *unchanged true, and no item is read (a client that logs in
 * with its cache current costs one indexed probe, not its whole roster).
 * Otherwise *unchanged is false and the items come as from
 * store_roster_get, from the version's snapshot. */
static inline enum xs store_roster_get_since(struct store *st, const char *domain,
					     const char *local,
					     void (*cb)(void *arg, const struct store_roster_item *it),
					     void *arg, uint64_t known, uint64_t *ver, bool *unchanged)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !cb || !ver || !unchanged)
		return XS_INVAL;
	*ver = 0;
	*unchanged = false;
	return st->ops->roster_get(st, domain, local, cb, arg, ver, NULL, NULL, &known, unchanged);
}

/* store_roster_get, then block_cb once per blocked JID of the account (as
 * store_block_list), all from one snapshot: what an account needs at
 * login, read in one go. */
static inline enum xs store_roster_get_with_blocklist(
	struct store *st, const char *domain, const char *local,
	void (*cb)(void *arg, const struct store_roster_item *it), void *arg, uint64_t *ver,
	void (*block_cb)(void *arg, const char *jid), void *block_arg)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !cb || !ver || !block_cb)
		return XS_INVAL;
	*ver = 0;
	return st->ops->roster_get(st, domain, local, cb, arg, ver, block_cb, block_arg, NULL, NULL);
}

/* Adds or replaces the item for it->contact.  XS_LIMIT when it is new and
 * the roster already holds max_items items (0: no limit); nothing changes
 * then. */
static inline enum xs store_roster_put(struct store *st, const char *domain, const char *local,
				       const struct store_roster_item *it, unsigned max_items,
				       uint64_t *ver)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !it ||
	    !store__name_ok(it->contact) || !it->groups || it->subscription > ROSTER_SUB_BOTH ||
	    it->ask > ROSTER_ASK_ALL || !ver)
		return XS_INVAL;
	return st->ops->roster_put(st, domain, local, it, max_items, ver);
}

/* Removes the item for contact; XS_NOTFOUND (version unchanged) if there
 * is none. */
static inline enum xs store_roster_remove(struct store *st, const char *domain,
					  const char *local, const char *contact, uint64_t *ver)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(contact) || !ver)
		return XS_INVAL;
	return st->ops->roster_remove(st, domain, local, contact, ver);
}

/* Reads, changes and writes back the item for contact in one write
 * transaction, so that nothing (another process, the admin tool) can
 * change it between the read and the write: a subscription state is always
 * derived from the stored one (RFC 6121 3), and a roster set must keep it.
 *
 * apply is called once (not at all if reading the item fails), inside the
 * transaction, with the stored item, or when there is none (existed false)
 * with { contact, name NULL, groups "", ROSTER_SUB_NONE, ask 0 }.  It edits
 * the item in place and may point it->name and it->groups at strings of
 * its own, which must stay valid until this returns; it must not change
 * it->contact, nor call back into the store.  What it returns decides:
 * - ROSTER_UNCHANGED: nothing is written; *ver is the current version;
 * - ROSTER_WRITE: the item is stored as apply left it (XS_INVAL, nothing
 *   written, if that is not a valid item: subscription above BOTH, ask
 *   above ROSTER_ASK_ALL, groups NULL, contact changed); XS_LIMIT,
 *   nothing written, when it is new and the roster already holds max_items
 *   items (0: no limit); the version is bumped into *ver;
 * - ROSTER_DELETE: the item is removed and the version bumped into *ver;
 *   when there was no item this is ROSTER_UNCHANGED.
 * On any failure the transaction is rolled back and *ver is untouched. */
static inline enum xs store_roster_update(struct store *st, const char *domain,
					  const char *local, const char *contact,
					  enum roster_change (*apply)(void *arg,
								      struct store_roster_item *it,
								      bool existed),
					  void *arg, unsigned max_items, uint64_t *ver)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(contact) ||
	    !apply || !ver)
		return XS_INVAL;
	return st->ops->roster_update(st, domain, local, contact, apply, arg, max_items, ver);
}

/* Offline messages (XEP-0160): a queue per account. */

/* Appends xml (len bytes, not NUL-terminated necessarily) to the queue of
 * local@domain.  XS_NOTFOUND when there is no such account (nothing is
 * kept for a name nobody owns); XS_LIMIT when the queue already holds
 * max_count messages (0: no limit); nothing changes then. */
static inline enum xs store_offline_push(struct store *st, const char *domain, const char *local,
					 const char *xml, size_t len, unsigned max_count)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !xml || len == 0)
		return XS_INVAL;
	return st->ops->offline_push(st, domain, local, xml, len, max_count);
}

/* Calls cb for each queued message in arrival order (m valid only during
 * the call; cb must not call back into the store).  Nothing is removed:
 * that is offline_delete's, once the messages are on their way. */
static inline enum xs store_offline_list(struct store *st, const char *domain,
					 const char *local,
					 void (*cb)(void *arg, const struct store_offline_msg *m),
					 void *arg)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !cb)
		return XS_INVAL;
	return st->ops->offline_list(st, domain, local, cb, arg);
}

/* Removes the account's messages with id <= upto_id (those a list
 * returned and that have been handed on); later arrivals stay. */
static inline enum xs store_offline_delete(struct store *st, const char *domain,
					   const char *local, uint64_t upto_id)
{
	if (!store__name_ok(domain) || !store__name_ok(local))
		return XS_INVAL;
	return st->ops->offline_delete(st, domain, local, upto_id);
}

/* Per-account XML documents, by kind and key: XEP-0049 private XML
 * ("private", key = the element's namespace and name), XEP-0054 vCard
 * ("vcard", key ""). */

/* *xml (malloc'd, NUL-terminated, *len bytes before the NUL) is the stored
 * document; XS_NOTFOUND when there is none (then *xml is NULL). */
static inline enum xs store_data_get(struct store *st, const char *domain, const char *local,
				     const char *kind, const char *key, char **xml, size_t *len)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(kind) || !key ||
	    !xml || !len)
		return XS_INVAL;
	*xml = NULL;
	*len = 0;
	return st->ops->data_get(st, domain, local, kind, key, xml, len);
}

/* Stores (or replaces) the document; len 0 deletes it (XS_OK either way).
 * XS_NOTFOUND when the account does not exist; XS_LIMIT when the key is
 * new and the account already has max_keys of this kind (0: no limit). */
static inline enum xs store_data_put(struct store *st, const char *domain, const char *local,
				     const char *kind, const char *key, const char *xml,
				     size_t len, unsigned max_keys)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(kind) || !key ||
	    (len && !xml))
		return XS_INVAL;
	return st->ops->data_put(st, domain, local, kind, key, xml, len, max_keys);
}

/* Blocking (XEP-0191): per account, a set of JIDs (full or bare JIDs,
 * domains, domain/resource), each kept exactly as given: the caller
 * normalises them with the JID code, as it does the names above.  As for
 * rosters, the account need not exist in users. */

/* The longest JID: three parts of at most 1023 bytes (RFC 7622 3.1) and
 * the two separators.  Longer is no JID, so the wrappers refuse it rather
 * than store or look it up. */
#define STORE_JID_MAX 3071

static inline bool store__jid_ok(const char *s)
{
	return store__name_ok(s) && strnlen(s, STORE_JID_MAX + 1) <= STORE_JID_MAX;
}

/* Calls cb once per blocked JID of the account, in byte order.  The string
 * is valid only during the call; cb must not call back into the store. */
static inline enum xs store_block_list(struct store *st, const char *domain, const char *local,
				       void (*cb)(void *arg, const char *jid), void *arg)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !cb)
		return XS_INVAL;
	return st->ops->block_list(st, domain, local, cb, arg);
}

/* Changes the blocklist in one write transaction.  add: inserts each of
 * the n JIDs that is not there yet (one given twice is inserted once);
 * XS_LIMIT, nothing changed, when that leaves the account more than
 * max_items entries (0: no limit); an add that inserts nothing is never
 * refused, even above a lowered limit.  Otherwise removes each of the n
 * JIDs that is there, or every entry when n is 0.  *changed is the number
 * of entries inserted or removed, set only when XS_OK is returned (0
 * otherwise). */
static inline enum xs store_block_change(struct store *st, const char *domain, const char *local,
					 const char *const *jids, size_t n, bool add,
					 unsigned max_items, size_t *changed)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || (n > 0 && !jids) || !changed)
		return XS_INVAL;
	for (size_t i = 0; i < n; i++)
		if (!store__jid_ok(jids[i]))
			return XS_INVAL;
	*changed = 0;
	return st->ops->block_change(st, domain, local, jids, n, add, max_items, changed);
}

/* Whether the account blocks jid (a full or bare JID, a domain, or
 * domain/resource): whether one of its entries equals one of jid's forms
 * (jid_match_forms), in one lookup.  So an entry that is a full JID
 * blocks that resource only, a bare JID every resource of it, a domain
 * everything at that domain.  *blocked is set only when XS_OK is
 * returned. */
static inline enum xs store_block_match(struct store *st, const char *domain, const char *local,
					const char *jid, bool *blocked)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__jid_ok(jid) || !blocked)
		return XS_INVAL;
	return st->ops->block_match(st, domain, local, jid, blocked);
}

/* Message archive (XEP-0313, urn:xmpp:mam:2): per account, the messages
 * the router archived for it, each with the other party's bare JID, a
 * stamp and the stanza id (XEP-0359) the router gave it.  A page is always
 * in the order the messages were archived, which is the order of their
 * stamps as long as the clock does not step back; start and end select by
 * stamp (store_sqlite.c says why the order is not the stamps'). */

/* The longest stanza id the archive stores.  The router makes its own ids,
 * far shorter; an anchor longer than this cannot be one of them. */
#define STORE_MAM_ID_MAX 255
/* How many messages one store_mam_expire call deletes at most: few enough
 * that one call holds the write lock (and the storage worker, which every
 * other request waits behind) for milliseconds, not seconds.  A message's
 * entries sit at scattered places of three indexes, so each costs a few
 * page writes: about 25 ms a call at a million archived messages on the
 * benchmark machine (bench/results/mam-*.md), where 1000 took 60 ms. */
#define STORE_MAM_EXPIRE_BATCH 250

static inline bool store__mam_id_ok(const char *s)
{
	return store__name_ok(s) && strnlen(s, STORE_MAM_ID_MAX + 1) <= STORE_MAM_ID_MAX;
}

/* The names are checked where they are, inside their buffers: an item may
 * come from another thread's request. */
static inline bool store__mam_item_ok(const struct store_mam_item *it)
{
	return memchr(it->domain, '\0', sizeof(it->domain)) && it->domain[0] &&
	       memchr(it->local, '\0', sizeof(it->local)) && it->local[0] &&
	       store__jid_ok(it->with) && store__mam_id_ok(it->stanza_id) && it->xml &&
	       it->len > 0;
}

/* Archives the n items in ONE write transaction: batching is the point,
 * one commit for many messages.  All or nothing: XS_INVAL, nothing
 * stored, when an item is malformed or its stanza id is already in its
 * account's archive (the ids are unique per account).  An item whose
 * account does not exist is skipped, not an error: nothing is kept for a
 * name nobody owns (a message routed while its account was being deleted
 * must not be inherited by an account of that name created later), and one
 * such message must not cost the rest of the batch its place.
 *
 * The account's archive preferences (store_mam_prefs_set below) are
 * applied to each item, inside the same transaction: an item they refuse
 * is not stored, and not an error either; when denied is not NULL (an
 * array of n), denied[i] says whether item i was refused so (false for
 * every item when the call does not return XS_OK).  An account without
 * preferences (nearly all) costs nothing more than the insert itself.
 * n 0 does nothing. */
static inline enum xs store_mam_append(struct store *st, const struct store_mam_item *items,
				       size_t n, bool *denied)
{
	if (n > 0 && !items)
		return XS_INVAL;
	if (denied)
		for (size_t i = 0; i < n; i++)
			denied[i] = false;
	for (size_t i = 0; i < n; i++)
		if (!store__mam_item_ok(&items[i]))
			return XS_INVAL;
	if (n == 0)
		return XS_OK;
	enum xs rc = st->ops->mam_append(st, items, n, denied);
	if (rc != XS_OK && denied)
		for (size_t i = 0; i < n; i++)
			denied[i] = false;
	return rc;
}

/* One page of local@domain's archive, as XEP-0313 with XEP-0059 paging
 * asks for it: the messages that match f (with, the stamp bounds, and
 * strictly between the anchors), at most f->max of them:
 * - with before_id or last_page: the newest that match (the page just
 *   before before_id, or the last page);
 * - otherwise: the oldest (the page just after after_id, or the first).
 * Either way cb gets them oldest first, one call each, with strings valid
 * only during the call (xml is len bytes, not NUL-terminated necessarily);
 * cb must not call back into the store.  *complete (XEP-0313 4.3) is true when the
 * page reaches the end of the result set in the direction of paging: no
 * older match for a page taken from the newest end, no newer one
 * otherwise (an empty page is complete).  XS_NOTFOUND, cb never called,
 * when an anchor is not a stanza id in this account's archive (the caller
 * answers item-not-found), including one longer than STORE_MAM_ID_MAX.
 * The account need not exist (its archive is then empty).  *complete is
 * set only when XS_OK is returned (false otherwise). */
static inline enum xs store_mam_query(struct store *st, const char *domain, const char *local,
				      const struct store_mam_filter *f,
				      void (*cb)(void *arg, const char *stanza_id,
						 int64_t stamp_us, const char *with,
						 const char *xml, size_t len),
				      void *arg, bool *complete)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !f || !cb || !complete ||
	    f->max == 0 || (f->with && !store__jid_ok(f->with)) ||
	    (f->after_id && !store__name_ok(f->after_id)) ||
	    (f->before_id && !store__name_ok(f->before_id)))
		return XS_INVAL;
	*complete = false;
	if ((f->after_id && !store__mam_id_ok(f->after_id)) ||
	    (f->before_id && !store__mam_id_ok(f->before_id)))
		return XS_NOTFOUND; /* longer than any id stored */
	return st->ops->mam_query(st, domain, local, f, cb, arg, complete);
}

/* Retention: deletes the messages (of every account) stamped before
 * older_than_us, the oldest first, at most STORE_MAM_EXPIRE_BATCH of them
 * in one write transaction, and sets *deleted to how many went.  The
 * caller calls again while *deleted == STORE_MAM_EXPIRE_BATCH, giving other
 * writes their turn in between.  *deleted is set only when XS_OK is
 * returned (0 otherwise). */
static inline enum xs store_mam_expire(struct store *st, int64_t older_than_us,
				       unsigned *deleted)
{
	if (!deleted)
		return XS_INVAL;
	*deleted = 0;
	return st->ops->mam_expire(st, older_than_us, deleted);
}

/* Archive preferences (XEP-0441, XEP-0313's <prefs/>): per account, a
 * default and two lists of bare JIDs.  For a message archived for the
 * account with the other party `with` (store_mam_append): `with` in the
 * never list is not archived, in the always list it is; otherwise the
 * default decides: ALWAYS archives, NEVER does not, ROSTER archives only
 * when `with` is an item of the account's roster (not a ROSTER_ASK_HIDDEN
 * one: that is no roster item).  An account that never set any has ALWAYS
 * and empty lists. */
enum store_mam_default {
	STORE_MAM_ALWAYS = 0,
	STORE_MAM_NEVER = 1,
	STORE_MAM_ROSTER = 2,
};

/* *dflt is the account's default, and cb gets every JID of its lists, in
 * byte order, always true for the always list; an account with none
 * stored (or none at all) gets STORE_MAM_ALWAYS and no call.  One read
 * transaction.  cb's string is valid only during the call, and cb must
 * not call back into the store. */
static inline enum xs store_mam_prefs_get(struct store *st, const char *domain,
					  const char *local, unsigned char *dflt,
					  void (*cb)(void *arg, const char *jid, bool always),
					  void *arg)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !dflt || !cb)
		return XS_INVAL;
	*dflt = STORE_MAM_ALWAYS;
	return st->ops->mam_prefs_get(st, domain, local, dflt, cb, arg);
}

/* Replaces the account's preferences with dflt and the two lists (bare
 * JIDs, normalised; a JID given twice in one list is kept once), in one
 * write transaction.  XS_INVAL, nothing written, for a JID in both lists
 * (or bad arguments); XS_NOTFOUND, nothing written, when the account does
 * not exist.  ALWAYS with both lists empty is what an account without
 * preferences has: the rows go, and its archiving is the cheapest again.
 * The caller bounds the lists ([im] max_archive_prefs_jids). */
static inline enum xs store_mam_prefs_set(struct store *st, const char *domain,
					  const char *local, unsigned char dflt,
					  const char *const *always, size_t n_always,
					  const char *const *never, size_t n_never)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || dflt > STORE_MAM_ROSTER ||
	    (n_always > 0 && !always) || (n_never > 0 && !never))
		return XS_INVAL;
	for (size_t i = 0; i < n_always; i++)
		if (!store__jid_ok(always[i]))
			return XS_INVAL;
	for (size_t i = 0; i < n_never; i++)
		if (!store__jid_ok(never[i]))
			return XS_INVAL;
	return st->ops->mam_prefs_set(st, domain, local, dflt, always, n_always, never, n_never);
}

/* PEP (XEP-0163; the router's side is core/im/pep.c).  Per account, a set
 * of nodes, each with its configuration (struct store_pep_config) and its
 * items, kept in publication order: an item published again under its id
 * becomes the newest.  A node keeps at most max_items items (1 when
 * persist_items is false, whatever max_items says); the oldest go first.
 * Payloads are stored as given and come back byte for byte.
 *
 * Quota: publish and replace take max_bytes (0: no limit), a bound on the
 * account's payload bytes summed over all its nodes (other accounts' do
 * not count).  It is checked inside the write transaction, after the
 * call's items are in and the node trimmed, on the total the commit would
 * leave: over it, the call fails with XS_LIMIT and *over_quota set (when
 * over_quota is not NULL), and nothing is written.  So an item replaced
 * by a smaller one counts only with its new size, and an account already
 * over its quota (say the limit was lowered) can publish nothing until
 * retract, purge or delete, which the quota never refuses, bring it back
 * under.  *over_quota is false after every other outcome, including the
 * XS_LIMIT of max_nodes and of replace's item count.
 *
 * Access (store_pep_items, store_pep_nodes, store_pep_last): requester is
 * a normalised bare JID.  The owner (requester equal to local@domain) is
 * always allowed; anyone else by the node's access model: PRESENCE when
 * the OWNER's roster has requester with subscription from or both, OPEN
 * always, WHITELIST never.
 *
 * Every callback gets strings valid only during the call and must not
 * call back into the store.  As for rosters, the account need not exist
 * in users. */

static inline bool store__pep_cfg_ok(const struct store_pep_config *cfg)
{
	return cfg && cfg->access <= STORE_PEP_WHITELIST && cfg->max_items >= 1;
}

/* Publishes one item, in one write transaction.  A node that does not
 * exist is created with *cfg and *created set, except that it is XS_LIMIT,
 * nothing written, when the account already has max_nodes nodes (0: no
 * limit).  For an existing node, every field precond names
 * (STORE_PEP_F_*) must equal the stored one, otherwise it is XS_DENIED
 * (precondition-not-met), nothing written; the rest of *cfg is ignored.
 * The item then replaces any item of the same id and is the newest, and
 * the oldest beyond the node's limit are deleted.  Last, the byte quota
 * (above): XS_LIMIT with *over_quota set, nothing written, when that
 * leaves the account's payloads over max_bytes (0: no limit); over_quota
 * may be NULL.  *out is the node's configuration as it now is (on
 * XS_DENIED: as it is stored, so the caller can tell what differed);
 * *created is false unless XS_OK created the node.  cfg and out may be
 * the same struct.  xml is len bytes (not NUL-terminated necessarily;
 * NULL only when len is 0). */
static inline enum xs store_pep_publish(struct store *st, const char *domain, const char *local,
					const char *node, const struct store_pep_config *cfg,
					unsigned precond, const char *item_id, const char *xml,
					size_t len, unsigned max_nodes, uint64_t max_bytes,
					bool *over_quota, struct store_pep_config *out,
					bool *created)
{
	bool over = false;

	if (over_quota)
		*over_quota = false;
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(node) ||
	    !store__pep_cfg_ok(cfg) || (precond & ~STORE_PEP_F_ALL) ||
	    !store__name_ok(item_id) || (len && !xml) || !out || !created)
		return XS_INVAL;
	*created = false;
	/* The backend always gets somewhere to say it, false to begin with. */
	enum xs ret = st->ops->pep_publish(st, domain, local, node, cfg, precond, item_id, xml,
					   len, max_nodes, max_bytes, &over, out, created);
	if (over_quota)
		*over_quota = ret == XS_LIMIT && over;
	return ret;
}

/* Reads items of a node, in one read transaction.  XS_NOTFOUND when there
 * is no such node; XS_DENIED, cb never called, when requester may not see
 * it (access above).  With n_ids > 0: exactly those of ids that exist, in
 * the order of ids (missing ones skipped); otherwise the newest max items
 * (0: all).  Either way cb gets them OLDEST FIRST (it->owner NULL).  *out
 * is the node's configuration, set on XS_OK and XS_DENIED. */
static inline enum xs store_pep_items(struct store *st, const char *domain, const char *local,
				      const char *node, const char *requester,
				      const char *const *ids, size_t n_ids, unsigned max,
				      void (*cb)(void *arg, const struct store_pep_item *it),
				      void *arg, struct store_pep_config *out)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(node) ||
	    !store__jid_ok(requester) || (n_ids > 0 && !ids) || !cb || !out)
		return XS_INVAL;
	for (size_t i = 0; i < n_ids; i++)
		if (!store__name_ok(ids[i]))
			return XS_INVAL;
	return st->ops->pep_items(st, domain, local, node, requester, ids, n_ids, max, cb, arg,
				  out);
}

/* Deletes one item.  XS_NOTFOUND when the node or the item does not
 * exist.  *out, the node's configuration (notify_retract), is set on
 * XS_OK. */
static inline enum xs store_pep_retract(struct store *st, const char *domain, const char *local,
					const char *node, const char *item_id,
					struct store_pep_config *out)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(node) ||
	    !store__name_ok(item_id) || !out)
		return XS_INVAL;
	return st->ops->pep_retract(st, domain, local, node, item_id, out);
}

/* Deletes the node and its items; XS_NOTFOUND if there is no such node. */
static inline enum xs store_pep_delete(struct store *st, const char *domain, const char *local,
				       const char *node)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(node))
		return XS_INVAL;
	return st->ops->pep_delete(st, domain, local, node);
}

/* Deletes every item of the node, which stays; XS_NOTFOUND if there is
 * no such node. */
static inline enum xs store_pep_purge(struct store *st, const char *domain, const char *local,
				      const char *node)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(node))
		return XS_INVAL;
	return st->ops->pep_purge(st, domain, local, node);
}

/* *out is the node's configuration; XS_NOTFOUND if there is no node. */
static inline enum xs store_pep_config_get(struct store *st, const char *domain,
					   const char *local, const char *node,
					   struct store_pep_config *out)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(node) || !out)
		return XS_INVAL;
	return st->ops->pep_config_get(st, domain, local, node, out);
}

/* Stores *cfg as the node's configuration and deletes the oldest items
 * beyond its new limit, in one write transaction; XS_NOTFOUND if there is
 * no node. */
static inline enum xs store_pep_config_set(struct store *st, const char *domain,
					   const char *local, const char *node,
					   const struct store_pep_config *cfg)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(node) ||
	    !store__pep_cfg_ok(cfg))
		return XS_INVAL;
	return st->ops->pep_config_set(st, domain, local, node, cfg);
}

/* Calls cb for each node of local@domain that requester may see (access
 * above), in byte order of the name. */
static inline enum xs store_pep_nodes(struct store *st, const char *domain, const char *local,
				      const char *requester,
				      void (*cb)(void *arg, const char *node), void *arg)
{
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__jid_ok(requester) ||
	    !cb)
		return XS_INVAL;
	return st->ops->pep_nodes(st, domain, local, requester, cb, arg);
}

/* The last published items requester is to get (XEP-0163 6.1: at its
 * presence, for the nodes it is interested in), in one read transaction:
 * for each owner (a bare JID local@domain, split at its first '@'; one
 * without '@', or with an empty part, is skipped), in the order given,
 * for each of its nodes, in byte order, whose name is one of nodes[]
 * (n_nodes 0: none matches), whose send_last is true and whose access
 * allows requester: its newest item, if it has one, with it->owner the
 * owner as given.  One index probe per owner finds its nodes. */
static inline enum xs store_pep_last(struct store *st, const char *requester,
				     const char *const *owners, size_t n_owners,
				     const char *const *nodes, size_t n_nodes,
				     void (*cb)(void *arg, const struct store_pep_item *it),
				     void *arg)
{
	if (!store__jid_ok(requester) || (n_owners > 0 && !owners) || (n_nodes > 0 && !nodes) ||
	    !cb)
		return XS_INVAL;
	for (size_t i = 0; i < n_owners; i++)
		if (!owners[i])
			return XS_INVAL;
	for (size_t i = 0; i < n_nodes; i++)
		if (!store__name_ok(nodes[i]))
			return XS_INVAL;
	if (n_owners == 0 || n_nodes == 0)
		return XS_OK;
	return st->ops->pep_last(st, requester, owners, n_owners, nodes, n_nodes, cb, arg);
}

/* Makes the node hold exactly items[0..n) (their ids and payloads; owner
 * and node are ignored), in that order, items[n - 1] the newest, in one
 * write transaction.  A missing node is created with *cfg (XS_LIMIT as for
 * store_pep_publish); an existing one keeps its configuration.  XS_LIMIT,
 * nothing written, when n exceeds the node's limit (max_items, 1 without
 * persist_items); XS_LIMIT with *over_quota set, nothing written, when the
 * account's payloads, with the node holding exactly items[0..n), would
 * come to more than max_bytes (the quota above; 0: no limit; over_quota
 * may be NULL).  An id
 * given twice is stored once, in the place of its last occurrence.  Once
 * committed, removed is called (NULL: not at all) for every id the node
 * held before and no longer does, oldest first. */
static inline enum xs store_pep_replace(struct store *st, const char *domain, const char *local,
					const char *node, const struct store_pep_config *cfg,
					const struct store_pep_item *items, size_t n,
					unsigned max_nodes, uint64_t max_bytes, bool *over_quota,
					void (*removed)(void *arg, const char *id), void *arg)
{
	bool over = false;

	if (over_quota)
		*over_quota = false;
	if (!store__name_ok(domain) || !store__name_ok(local) || !store__name_ok(node) ||
	    !store__pep_cfg_ok(cfg) || (n > 0 && !items))
		return XS_INVAL;
	for (size_t i = 0; i < n; i++)
		if (!store__name_ok(items[i].id) || (items[i].len && !items[i].xml))
			return XS_INVAL;
	enum xs ret = st->ops->pep_replace(st, domain, local, node, cfg, items, n, max_nodes,
					   max_bytes, &over, removed, arg);
	if (over_quota)
		*over_quota = ret == XS_LIMIT && over;
	return ret;
}

/* Closes the handle and frees it; NULL is allowed. */
static inline void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

#endif
