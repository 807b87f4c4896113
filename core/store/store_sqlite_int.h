/* What the files of the SQLite backend share: store_sqlite.c owns the
 * handle (struct store_sqlite stays private to it) and the helpers below;
 * store_sqlite_pep.c implements the PEP part of the ops table with them,
 * store_sqlite_mam_prefs.c the archive preferences.
 * Nothing outside core/store/store_sqlite*.c includes this. */
#ifndef XMPPD_STORE_SQLITE_INT_H
#define XMPPD_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/store/store.h"

struct store_sqlite;

/* store_sqlite.c */
struct store_sqlite *store_sq_of(struct store *st);
sqlite3 *store_sq_db(const struct store_sqlite *s);
const char *store_sq_path(const struct store_sqlite *s);
/* Maps a failed SQLite call to enum xs and logs it. */
enum xs store_sq_fail(struct store_sqlite *s, int rc, const char *what);
/* The statement cached in *slot, prepared from sql on first use (NULL,
 * logged, when that fails).  slot is one of store_sq_pep_slots(s). */
sqlite3_stmt *store_sq_prepare(struct store_sqlite *s, sqlite3_stmt **slot, const char *sql);
/* Resets a statement and drops its bindings. */
void store_sq_release(sqlite3_stmt *stmt);
/* BEGIN (a read snapshot) or BEGIN IMMEDIATE (write). */
enum xs store_sq_begin(struct store_sqlite *s, bool write);
/* Commits when ret is XS_OK, rolls back otherwise; the final status. */
enum xs store_sq_finish(struct store_sqlite *s, enum xs ret);
/* ?1 domain, ?2 localpart. */
int store_bind_names(sqlite3_stmt *stmt, const char *domain, const char *local);

/* store_sqlite_pep.c: its statements, cached in the handle. */
enum sq_pep_id {
	SQP_NODE_GET,
	SQP_NODE_LIST,
	SQP_NODE_COUNT,
	SQP_NODE_INSERT,
	SQP_NODE_SET,
	SQP_NODE_DELETE,
	SQP_ITEM_PUT,
	SQP_ITEM_GET,
	SQP_ITEM_START,
	SQP_ITEM_ROWS,
	SQP_ITEM_NEWEST,
	SQP_ITEM_IDS,
	SQP_ITEM_DELETE,
	SQP_ITEM_PURGE,
	SQP_ITEM_TRIM,
	SQP_ROSTER_FROM,
	SQP_ACCOUNT_BYTES,
	SQP_DROP_ITEMS,
	SQP_DROP_NODES,
	SQP__COUNT
};
/* The handle's SQP__COUNT statement slots (store_sqlite.c finalizes them). */
sqlite3_stmt **store_sq_pep_slots(struct store_sqlite *s);

/* The ops (store.h). */
enum xs store_sq_pep_publish(struct store *st, const char *domain, const char *local,
			     const char *node, const struct store_pep_config *cfg,
			     unsigned precond, const char *item_id, const char *xml, size_t len,
			     unsigned max_nodes, uint64_t max_bytes, bool *over_quota,
			     struct store_pep_config *out, bool *created);
enum xs store_sq_pep_items(struct store *st, const char *domain, const char *local,
			   const char *node, const char *requester, const char *const *ids,
			   size_t n_ids, unsigned max,
			   void (*cb)(void *arg, const struct store_pep_item *it), void *arg,
			   struct store_pep_config *out);
enum xs store_sq_pep_retract(struct store *st, const char *domain, const char *local,
			     const char *node, const char *item_id, struct store_pep_config *out);
enum xs store_sq_pep_delete(struct store *st, const char *domain, const char *local,
			    const char *node);
enum xs store_sq_pep_purge(struct store *st, const char *domain, const char *local,
			   const char *node);
enum xs store_sq_pep_config_get(struct store *st, const char *domain, const char *local,
				const char *node, struct store_pep_config *out);
enum xs store_sq_pep_config_set(struct store *st, const char *domain, const char *local,
				const char *node, const struct store_pep_config *cfg);
enum xs store_sq_pep_nodes(struct store *st, const char *domain, const char *local,
			   const char *requester, void (*cb)(void *arg, const char *node),
			   void *arg);
enum xs store_sq_pep_last(struct store *st, const char *requester, const char *const *owners,
			  size_t n_owners, const char *const *nodes, size_t n_nodes,
			  void (*cb)(void *arg, const struct store_pep_item *it), void *arg);
enum xs store_sq_pep_replace(struct store *st, const char *domain, const char *local,
			     const char *node, const struct store_pep_config *cfg,
			     const struct store_pep_item *items, size_t n, unsigned max_nodes,
			     uint64_t max_bytes, bool *over_quota,
			     void (*removed)(void *arg, const char *id), void *arg);
/* Deletes every node and item of local@domain inside the caller's write
 * transaction (store_sq_user_delete). */
enum xs store_sq_pep_drop(struct store_sqlite *s, const char *domain, const char *local);

/* store_sqlite_mam_prefs.c: its statements, cached in the handle. */
enum sq_mam_prefs_id {
	SQM_DECIDE,
	SQM_GET_DEFAULT,
	SQM_GET_JIDS,
	SQM_ACCOUNT,
	SQM_PUT_DEFAULT,
	SQM_PUT_JID,
	SQM_DROP_JIDS,
	SQM_DROP,
	SQM__COUNT
};
/* The handle's SQM__COUNT statement slots (store_sqlite.c finalizes them). */
sqlite3_stmt **store_sq_mam_prefs_slots(struct store_sqlite *s);

/* The ops (store.h). */
enum xs store_sq_mam_prefs_get(struct store *st, const char *domain, const char *local,
			       unsigned char *dflt,
			       void (*cb)(void *arg, const char *jid, bool always), void *arg);
enum xs store_sq_mam_prefs_set(struct store *st, const char *domain, const char *local,
			       unsigned char dflt, const char *const *always, size_t n_always,
			       const char *const *never, size_t n_never);
/* Inside the caller's transaction (store_sq_mam_append): whether a message
 * with `with` is archived for local@domain by its preferences (store.h);
 * true when it has none. */
enum xs store_sq_mam_prefs_allow(struct store_sqlite *s, const char *domain, const char *local,
				 const char *with, bool *allow);
/* Deletes the preferences of local@domain inside the caller's write
 * transaction (store_sq_user_delete). */
enum xs store_sq_mam_prefs_drop(struct store_sqlite *s, const char *domain, const char *local);

#endif
