/* The storage worker: one thread that owns the database handle (store.h),
 * so that the router and the mux threads never wait on disk.
 *
 * A requester fills a struct store_req, submits it from any thread and goes
 * on with its work.  The worker executes requests one at a time in the order
 * it dequeues them, fills in the results and calls req->done(req, done_arg)
 * ON THE WORKER THREAD.  done must not block and must not do real work: it
 * typically pushes the request into the requester's own inbox (req->qnode is
 * free again by then), and the requester reads the results when it pops it.
 * Every accepted request gets exactly one done call.
 *
 * Ownership: between a successful submit and the start of its done call, the
 * request belongs to the worker; the submitter must not read or write it. */
#ifndef XMPPD_STORE_THREAD_H
#define XMPPD_STORE_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/queue.h"
#include "core/auth/scram_cred.h"
#include "core/store/store.h"
#include "core/base/status.h"

struct stats_part; /* core/route/stats.h */

enum store_op {
	STORE_OP_GET_CRED,    /* in: domain, local, hash; out: status, cred */
	STORE_OP_STATS,       /* in: nothing; out: status, stats (the worker's
			       * latency histogram and inbox, for /metrics) */
	STORE_OP_USER_EXISTS, /* in: domain, local, sender; out: status, exists (XS_DENIED:
			       * it exists and blocks sender) */
	STORE_OP_ROSTER_GET,  /* in: domain, local, with_blocklist, has_known_ver, known_ver;
			       * out: status, items, n_items, ver, ver_unchanged, and with
			       * with_blocklist: blocked, n_blocked */
	STORE_OP_ROSTER_PUT,  /* in: domain, local, item, max_items; out: status, ver */
	STORE_OP_ROSTER_REMOVE, /* in: domain, local, item.contact; out: status, ver */
	STORE_OP_ROSTER_UPDATE, /* in: domain, local, item.contact, max_items, roster_apply,
				 * roster_apply_arg, need_account, sender; out: status, ver,
				 * existed, prev_subscription, prev_ask, change, updated */
	STORE_OP_OFFLINE_PUSH,  /* in: domain, local, xml, xml_len, max_items (the queue's
				 * limit), sender; out: status */
	STORE_OP_OFFLINE_LIST,  /* in: domain, local; out: status, msgs, n_msgs */
	STORE_OP_OFFLINE_DELETE, /* in: domain, local, upto_id; out: status */
	STORE_OP_DATA_GET,    /* in: domain, local, data_kind, data_key; out: status, data, data_len */
	STORE_OP_DATA_PUT,    /* in: domain, local, data_kind, data_key, xml, xml_len (0:
			       * delete), max_items (keys of the kind); out: status */
	STORE_OP_BLOCK_LIST,  /* in: domain, local; out: status, blocked, n_blocked */
	STORE_OP_BLOCK_CHANGE, /* in: domain, local, block_jids, n_block_jids, block_add,
				* max_items (entries); out: status, n_changed */
	/* Accounts (XEP-0077).  The SCRAM credentials for both hashes are
	 * derived HERE, on the storage thread, from password with iterations
	 * rounds of PBKDF2 (milliseconds of CPU: no mux or router thread
	 * may spend them); the password is wiped as soon as they are made.
	 * The requester keeps and frees the buffer. */
	STORE_OP_USER_CREATE, /* in: domain, local, password, iterations; out: status:
			       * XS_OK; XS_INVAL with exists set: the account exists (no
			       * PBKDF2 spent on it); XS_PROTO: the password is refused
			       * (SASLprep); cpu_ns */
	STORE_OP_USER_SET_PASSWORD, /* in: domain, local, password, iterations; out: status
				     * (XS_NOTFOUND: no such account; XS_PROTO), cpu_ns */
	STORE_OP_USER_DELETE, /* in: domain, local; out: status (XS_NOTFOUND); the account's
			       * roster, offline queue, documents, blocklist, archive,
			       * archive preferences and PEP nodes go with it */
	/* Message archive (XEP-0313; store_mam_* in store.h). */
	STORE_OP_MAM_APPEND,  /* in: mam_item (one message; the account is ITS domain and
			       * local, not the request's); out: status (XS_DENIED: the
			       * account's archive preferences refuse it, nothing stored),
			       * mam_batch.  Run in batches: see below */
	STORE_OP_MAM_QUERY,   /* in: domain, local, mam_with, mam_start_us, mam_end_us,
			       * mam_after_id, mam_before_id, mam_max, mam_last_page; out:
			       * status (XS_NOTFOUND: an anchor is unknown), mam_results,
			       * n_mam_results, mam_complete */
	STORE_OP_MAM_EXPIRE,  /* in: mam_older_than_us; out: status, mam_deleted */
	STORE_OP_MAM_PREFS_GET, /* in: domain, local; out: status, mam_default, mam_always,
				 * n_mam_always, mam_never, n_mam_never */
	STORE_OP_MAM_PREFS_SET, /* in: domain, local, mam_default, mam_prefs_jids (the
				 * always JIDs, then the never ones), n_mam_prefs_always,
				 * n_mam_prefs_never; out: status (XS_INVAL: a JID on both
				 * lists; XS_NOTFOUND: no account), and on XS_OK the
				 * preferences as now stored, as for PREFS_GET */
	/* PEP (XEP-0163; store_pep_* in store.h).  The owner is the
	 * request's domain and local; the pep_* strings and arrays are the
	 * requester's and must stay untouched until done. */
	STORE_OP_PEP_PUBLISH, /* in: domain, local, pep_node, pep_cfg (for a new node),
			       * pep_precond, pep_item_id, xml, xml_len (the payload),
			       * pep_max_nodes, pep_max_bytes; out: status (XS_LIMIT: too
			       * many nodes, or with pep_over_quota over the byte quota;
			       * XS_DENIED: precondition not met), pep_cfg (the node's, on
			       * XS_OK and XS_DENIED), pep_created, pep_over_quota */
	STORE_OP_PEP_ITEMS,   /* in: domain, local, pep_node, pep_requester, pep_ids,
			       * n_pep_ids (none: the newest pep_max, 0 all); out: status
			       * (XS_NOTFOUND: no node; XS_DENIED: no access), pep_cfg (on
			       * XS_OK and XS_DENIED), pep_out, n_pep_out (oldest first) */
	STORE_OP_PEP_RETRACT, /* in: domain, local, pep_node, pep_item_id; out: status
			       * (XS_NOTFOUND: no node or item), pep_cfg (on XS_OK) */
	STORE_OP_PEP_DELETE,  /* in: domain, local, pep_node; out: status (XS_NOTFOUND) */
	STORE_OP_PEP_PURGE,   /* in: domain, local, pep_node; out: status (XS_NOTFOUND) */
	STORE_OP_PEP_CONFIG_GET, /* in: domain, local, pep_node; out: status (XS_NOTFOUND),
				  * pep_cfg */
	STORE_OP_PEP_CONFIG_SET, /* in: domain, local, pep_node, pep_cfg; out: status
				  * (XS_NOTFOUND) */
	STORE_OP_PEP_NODES,   /* in: domain, local, pep_requester; out: status, pep_out
			       * (.node only), n_pep_out, in byte order */
	STORE_OP_PEP_LAST,    /* in: pep_requester, pep_ids, n_pep_ids (the owners, bare
			       * JIDs), pep_nodes, n_pep_nodes; out: status, pep_out
			       * (.owner, .node, .id, .xml), n_pep_out */
	STORE_OP_PEP_REPLACE, /* in: domain, local, pep_node, pep_cfg (for a new node),
			       * pep_in, n_pep_in, pep_max_nodes, pep_max_bytes; out: status
			       * (XS_LIMIT: too many nodes or items, or with pep_over_quota
			       * over the byte quota), pep_over_quota, pep_out (.id only:
			       * the ids removed), n_pep_out */
};

/* The most MAM_APPEND requests one transaction takes.  When the worker
 * pops a MAM_APPEND, it also takes the MAM_APPENDs queued directly behind
 * it, up to this many in all, archives them in one transaction (one commit
 * for all: under load the archive costs a commit per batch, not per
 * message) and completes each with that transaction's status.  It never
 * waits for more to arrive, and a request of any other op ends the batch
 * and runs after it: the inbox's order is kept, so a request submitted
 * after an append (a query) sees that message.  When the batch is refused
 * (XS_INVAL: a stanza id already in its account's archive), each append of
 * it is run again alone, so that one bad message does not cost the others
 * their place; a store failure (XS_IO) is every append's.  The account's
 * archive preferences are applied to each append inside the transaction
 * (store_mam_append in store.h): one they refuse completes with XS_DENIED
 * and costs the others nothing. */
#define STORE_MAM_BATCH 256

/* One archived message a STORE_OP_MAM_QUERY returned, malloc'd strings
 * (xml NUL-terminated, len bytes before the NUL), freed with the array by
 * store_mam_results_free. */
struct store_mam_result {
	char *stanza_id;
	int64_t stamp_us;
	char *with;
	char *xml;
	size_t len;
};

/* One PEP item (or node name, or removed id) a PEP request returned:
 * malloc'd strings, NULL where not applicable (store_thread.h's op list
 * says which), xml NUL-terminated with len bytes before the NUL; freed
 * with the array by store_pep_results_free. */
struct store_pep_result {
	char *owner;
	char *node;
	char *id;
	char *xml;
	size_t len;
};

#define STORE_REQ_ITERS 8

struct store_req {
	struct queue_node qnode; /* the worker's inbox; free again once done runs */
	enum store_op op;
	long long submit_ns;     /* set by store_thread_submit: latency counts from it */
	/* STORE_OP_STATS: filled by the worker */
	struct stats_part *stats;
	char domain[256];
	char local[1024];
	enum scram_hash hash;
	/* results */
	enum xs status;
	struct scram_cred cred;
	bool exists;
	/* GET_CRED answered XS_NOTFOUND: the iteration counts real accounts
	 * use for this hash, most used first (a cached view, at most a
	 * minute old), so the requester can give an unknown user a count
	 * that looks real */
	struct store_iter_count iters[STORE_REQ_ITERS];
	unsigned n_iters;
	/* rosters: the item to put (or item.contact to remove), the limit
	 * for a new one; the items read (malloc'd array and strings, freed
	 * by the requester with store_roster_items_free) and the version */
	struct store_roster_item item;
	unsigned max_items;
	struct store_roster_item *items;
	size_t n_items;
	uint64_t ver;
	/* ROSTER_GET without with_blocklist: the version the client holds
	 * (has_known_ver); when the roster is still there, ver_unchanged and no
	 * items (store_roster_get_since) */
	bool has_known_ver, ver_unchanged;
	uint64_t known_ver;
	/* ROSTER_UPDATE (store_roster_update in store.h, for item.contact;
	 * item is input only and stays the requester's): roster_apply runs
	 * ON THE STORAGE THREAD, inside the write transaction, while the
	 * requester goes on.  It must be pure: read and write only its arg
	 * and the item (no shared state, no locks, no calls into the store or
	 * anything else), and whatever arg points to must stay untouched by
	 * the requester until done.  The results: existed, and
	 * prev_subscription and prev_ask, the item's state before apply
	 * (NONE and 0 when there was none); change, what was done
	 * (ROSTER_UNCHANGED when the store failed or a delete found nothing);
	 * updated, the item as it is now stored (for ROSTER_WRITE, as apply
	 * left it; for a delete, as it was before; for ROSTER_UNCHANGED, as
	 * it was read, or the empty item when there was none), with malloc'd
	 * contact, name (NULL for none) and groups, freed by the requester
	 * with store_roster_item_clear.  All of them are set only when
	 * status is XS_OK (false, 0, ROSTER_UNCHANGED, zeroed otherwise). */
	enum roster_change (*roster_apply)(void *arg, struct store_roster_item *it,
					   bool existed);
	void *roster_apply_arg;
	/* XS_NOTFOUND, nothing run, when local@domain is not an account
	 * (a contact's request to a name nobody owns leaves no row) */
	bool need_account;
	bool existed;
	unsigned char prev_subscription, prev_ask;
	enum roster_change change;
	struct store_roster_item updated;
	/* offline messages: the stanza to queue (xml, xml_len; the
	 * requester's buffer), the messages read (malloc'd, freed with
	 * store_offline_msgs_free), the last id handed on for a delete */
	const char *xml;
	size_t xml_len;
	struct store_offline_msg *msgs;
	size_t n_msgs;
	uint64_t upto_id;
	/* per-account documents: kind and key in, the document read out
	 * (malloc'd, NUL-terminated; the requester frees it) */
	char data_kind[16];
	char data_key[1024];
	char *data;
	size_t data_len;
	/* blocking (XEP-0191; store_block_change in store.h): the JIDs to
	 * block (block_add) or unblock (none: every entry), the requester's
	 * array and strings, read and left untouched, so they must stay
	 * until done; the number of entries that changed */
	const char *const *block_jids;
	size_t n_block_jids;
	bool block_add;
	size_t n_changed;
	/* BLOCK_LIST, and ROSTER_GET with with_blocklist (read in the same
	 * transaction as the roster and its version): every blocked JID in
	 * byte order (malloc'd array and strings, freed by the requester
	 * with store_strings_free; NULL when there is none or on failure) */
	bool with_blocklist;
	char **blocked;
	size_t n_blocked;
	/* OFFLINE_PUSH, ROSTER_UPDATE and USER_EXISTS: who the stanza behind the write
	 * came from, a full or bare JID ("" : no check).  When local@domain
	 * blocks it (store_block_match), the request fails with XS_DENIED and
	 * nothing is written or run (no roster_apply call). */
	char sender[STORE_JID_MAX + 1];
	/* message archive.  MAM_APPEND: the message (the item's with,
	 * stanza_id and xml are the requester's and must stay until done;
	 * its domain and local are copies, in the item); mam_batch, how many
	 * appends shared its transaction (1: alone; 0: refused before the
	 * store, XS_INVAL).  MAM_QUERY: the filter (store_mam_filter in
	 * store.h), copied into the request so that nothing of the
	 * requester's need outlive the submit: "" for no conversation or
	 * anchor, 0 for no stamp bound, mam_max at least 1 (the requester
	 * caps it: the page is held in memory).  An anchor that does not fit
	 * its buffer cannot be a stored id (STORE_MAM_ID_MAX): the requester
	 * answers item-not-found itself.  The page comes back in
	 * mam_results, oldest first (malloc'd, freed by the requester with
	 * store_mam_results_free; NULL when empty or on failure), with
	 * mam_complete (XEP-0313 4.3).  MAM_EXPIRE: everything stamped
	 * before mam_older_than_us, at most STORE_MAM_EXPIRE_BATCH messages
	 * per request; mam_deleted says how many went (submit again while it
	 * equals the batch). */
	struct store_mam_item mam_item;
	unsigned mam_batch;
	char mam_with[STORE_JID_MAX + 1];
	int64_t mam_start_us, mam_end_us;
	char mam_after_id[STORE_MAM_ID_MAX + 1];
	char mam_before_id[STORE_MAM_ID_MAX + 1];
	unsigned mam_max;
	bool mam_last_page;
	struct store_mam_result *mam_results;
	size_t n_mam_results;
	bool mam_complete;
	int64_t mam_older_than_us;
	unsigned mam_deleted;
	/* archive preferences (XEP-0441; store_mam_prefs_* in store.h).
	 * PREFS_SET: the default (enum store_mam_default) and the JIDs, the
	 * always ones first, in the requester's array, read and left
	 * untouched, so it must stay until done.  Both ops answer with the
	 * stored preferences: mam_default, and the lists in byte order
	 * (malloc'd arrays and strings, freed by the requester with
	 * store_strings_free; NULL when empty or on failure). */
	unsigned char mam_default;
	const char *const *mam_prefs_jids;
	size_t n_mam_prefs_always, n_mam_prefs_never;
	char **mam_always, **mam_never;
	size_t n_mam_always, n_mam_never;
	/* PEP (store_pep_* in store.h; the ops above say which field each
	 * uses).  The strings and arrays are POINTERS to the requester's
	 * buffers, read and left untouched, so they must stay until done.
	 * Results come back in pep_out (malloc'd, freed by the requester with
	 * store_pep_results_free; NULL when there is none or on failure).
	 * pep_max_bytes bounds the account's payload bytes summed over all
	 * its nodes (the quota in store.h; 0: none); pep_over_quota is true
	 * only when that bound is what made the request XS_LIMIT. */
	const char *pep_node;          /* in */
	const char *pep_item_id;       /* in: PUBLISH, RETRACT */
	const char *pep_requester;     /* in: ITEMS, NODES, LAST (bare JID) */
	struct store_pep_config pep_cfg; /* in: PUBLISH (for a new node), CONFIG_SET, REPLACE; out: PUBLISH, ITEMS (also on XS_DENIED), RETRACT, CONFIG_GET */
	unsigned pep_precond;          /* in: PUBLISH */
	unsigned pep_max_nodes;        /* in: PUBLISH, REPLACE */
	uint64_t pep_max_bytes;        /* in: PUBLISH, REPLACE (0: no limit) */
	const char *const *pep_ids;    /* in: ITEMS (item ids), LAST (owners) */
	size_t n_pep_ids;
	const char *const *pep_nodes;  /* in: LAST */
	size_t n_pep_nodes;
	unsigned pep_max;              /* in: ITEMS */
	const struct store_pep_item *pep_in; size_t n_pep_in; /* in: REPLACE */
	bool pep_created;              /* out: PUBLISH */
	bool pep_over_quota;           /* out: PUBLISH, REPLACE */
	struct store_pep_result *pep_out; size_t n_pep_out;  /* out: ITEMS, LAST (items), NODES (node in .node only), REPLACE (removed ids in .id only) */
	/* accounts: the password (NUL-terminated, the requester's buffer;
	 * wiped by the worker), the PBKDF2 iterations for the new
	 * credentials, and the thread CPU time their derivation took */
	char *password;
	unsigned iterations;
	uint64_t cpu_ns;
	/* for the requester: what the work is for (e.g. the router's parked
	 * stanza and the session it came from); the worker leaves it alone */
	void *ctx;
	/* completion, called on the worker thread */
	void (*done)(struct store_req *req, void *arg);
	void *done_arg;
};

struct store_thread;

/* Frees what a STORE_OP_ROSTER_GET returned (NULL allowed). */
void store_roster_items_free(struct store_roster_item *items, size_t n);
/* Frees the strings of one item (a STORE_OP_ROSTER_UPDATE's updated) and
 * zeroes them, so a second call does nothing. */
void store_roster_item_clear(struct store_roster_item *it);
/* Frees what a STORE_OP_OFFLINE_LIST returned (NULL allowed). */
void store_offline_msgs_free(struct store_offline_msg *msgs, size_t n);
/* Frees n malloc'd strings and their array (blocked, n_blocked of a
 * STORE_OP_BLOCK_LIST or a STORE_OP_ROSTER_GET; NULL allowed). */
void store_strings_free(char **v, size_t n);
/* Frees what a STORE_OP_MAM_QUERY returned (NULL allowed). */
void store_mam_results_free(struct store_mam_result *r, size_t n);
/* Frees what a PEP request returned in pep_out (NULL allowed). */
void store_pep_results_free(struct store_pep_result *r, size_t n);

/* Opens the database at db_path on the calling thread, so that open and
 * migration errors come back here (NULL, reason in err), then starts the
 * worker, which uses the handle from then on.
 *
 * Retention: with archive_expires_days > 0 ([im] archive_expires_after),
 * the worker deletes the archived messages older than that many days by
 * itself: once as it starts, then every STORE_EXPIRE_INTERVAL_S seconds,
 * STORE_MAM_EXPIRE_BATCH messages at a time with the requests that are
 * waiting handled in between (so a large expiry holds nobody up for more
 * than a batch), and logs how many went.  0 keeps everything. */
struct store_thread *store_thread_start(const char *db_path, unsigned archive_expires_days,
					char *err, size_t errlen);

#define STORE_EXPIRE_INTERVAL_S 3600

/* store_thread_start with the retention's period in milliseconds
 * (expire_interval_ms; 0: STORE_EXPIRE_INTERVAL_S), for tests that cannot
 * wait an hour for the next pass. */
struct store_thread_opts {
	unsigned archive_expires_days;
	unsigned expire_interval_ms;
};
struct store_thread *store_thread_start_opts(const char *db_path,
					     const struct store_thread_opts *opts, char *err,
					     size_t errlen);

/* Any thread.  XS_OK: accepted, done will be called once.  XS_STOP: the
 * thread is stopping; the request was not touched and done will not be
 * called.  XS_INVAL: no done callback. */
enum xs store_thread_submit(struct store_thread *t, struct store_req *req);

/* Stops the worker after it has executed every request accepted so far
 * (their done callbacks run before this returns), joins it, closes the
 * database and frees t.  Submitters should be quiet by now; one that races
 * with the start of stop is refused with XS_STOP, but nothing may call
 * submit once stop has returned, since t is gone. */
void store_thread_stop(struct store_thread *t);

#endif
