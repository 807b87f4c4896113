/* PEP (XEP-0163) in the SQLite backend: the pep_* ops of store.h on the
 * tables of schema version 8 (store_sqlite.c's migrations say how they are
 * laid out).  The handle, its transactions and the statement cache are
 * store_sqlite.c's (store_sqlite_int.h); this file owns its statements.
 *
 * A node is looked up once per call by its owner and name (pep_node_key)
 * and its items are then reached by the node's integer id.  Every call is
 * one transaction: a write one (BEGIN IMMEDIATE) for anything that
 * changes the file, a read snapshot for the rest, so that a check (the
 * node's access, a precondition, the node limit) and what depends on it
 * see one state of the file.
 *
 * The byte quota (max_bytes of publish and replace) is checked last in
 * the write transaction, on what it is about to commit: the account's
 * payload bytes summed over its nodes (SQP_ACCOUNT_BYTES).  Over it, the
 * transaction rolls back: nothing of the call stays. */
#include "core/store/store_sqlite_int.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"

_Static_assert(ROSTER_SUB_FROM == 2 && ROSTER_SUB_BOTH == 3,
	       "SQP_ROSTER_FROM spells the subscriptions out");

static const char *const sqp_text[SQP__COUNT] = {
	/* The columns every node read shares, so one decoder reads them. */
	[SQP_NODE_GET] = "SELECT id, access, persist, max_items, send_last, notify_retract, node"
			 " FROM pep_node WHERE domain = ?1 AND localpart = ?2 AND node = ?3",
	/* An account's nodes: one range of pep_node_key, in name order. */
	[SQP_NODE_LIST] = "SELECT id, access, persist, max_items, send_last, notify_retract, node"
			  " FROM pep_node WHERE domain = ?1 AND localpart = ?2 ORDER BY node",
	/* How many nodes the account has, counted no further than ?3 (the
	 * limit). */
	[SQP_NODE_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM pep_node"
			   " WHERE domain = ?1 AND localpart = ?2 LIMIT ?3)",
	[SQP_NODE_INSERT] = "INSERT INTO pep_node (domain, localpart, node, access, persist,"
			    " max_items, send_last, notify_retract)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	/* ?4..?8 as in the insert, so one binder serves both. */
	[SQP_NODE_SET] = "UPDATE pep_node SET access = ?4, persist = ?5, max_items = ?6,"
			 " send_last = ?7, notify_retract = ?8 WHERE id = ?1",
	[SQP_NODE_DELETE] = "DELETE FROM pep_node WHERE id = ?1",
	/* REPLACE on pep_item_key: an item published again loses its old
	 * row and gets a new one, with a rowid above every other: the
	 * newest. */
	[SQP_ITEM_PUT] = "INSERT OR REPLACE INTO pep_item (node_id, item_id, payload)"
			 " VALUES (?1, ?2, ?3)",
	[SQP_ITEM_GET] = "SELECT item_id, payload FROM pep_item WHERE node_id = ?1 AND item_id = ?2",
	/* Where the newest ?2 + 1 items begin: the seq of the (?2 + 1)-th
	 * newest, no row when there are fewer.  pep_item_node alone. */
	[SQP_ITEM_START] = "SELECT seq FROM pep_item WHERE node_id = ?1"
			   " ORDER BY seq DESC LIMIT 1 OFFSET ?2",
	[SQP_ITEM_ROWS] = "SELECT item_id, payload FROM pep_item WHERE node_id = ?1 AND seq >= ?2"
			  " ORDER BY seq",
	[SQP_ITEM_NEWEST] = "SELECT item_id, payload FROM pep_item WHERE node_id = ?1"
			    " ORDER BY seq DESC LIMIT 1",
	[SQP_ITEM_IDS] = "SELECT item_id FROM pep_item WHERE node_id = ?1 ORDER BY seq",
	[SQP_ITEM_DELETE] = "DELETE FROM pep_item WHERE node_id = ?1 AND item_id = ?2",
	[SQP_ITEM_PURGE] = "DELETE FROM pep_item WHERE node_id = ?1",
	/* Everything older than the newest ?2: nothing when there are no
	 * more than ?2 (the subquery is NULL). */
	[SQP_ITEM_TRIM] = "DELETE FROM pep_item WHERE node_id = ?1 AND seq <= (SELECT seq"
			  " FROM pep_item WHERE node_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
	/* Whether the owner's roster has ?3 with subscription from or both. */
	[SQP_ROSTER_FROM] = "SELECT EXISTS (SELECT 1 FROM roster WHERE domain = ?1"
			    " AND localpart = ?2 AND contact = ?3 AND subscription IN (2, 3))",
	/* The account's payload bytes over all its nodes: its range of
	 * pep_node_key (covering), then each node's range of pep_item_node,
	 * and for each row length(), which for a blob SQLite answers from
	 * the record header without reading the payload's overflow pages.
	 * NULL when there are no items. */
	[SQP_ACCOUNT_BYTES] = "SELECT sum(length(i.payload)) FROM pep_node AS n"
			      " JOIN pep_item AS i ON i.node_id = n.id"
			      " WHERE n.domain = ?1 AND n.localpart = ?2",
	[SQP_DROP_ITEMS] = "DELETE FROM pep_item WHERE node_id IN"
			   " (SELECT id FROM pep_node WHERE domain = ?1 AND localpart = ?2)",
	[SQP_DROP_NODES] = "DELETE FROM pep_node WHERE domain = ?1 AND localpart = ?2",
};

static sqlite3_stmt *sqp_stmt(struct store_sqlite *s, enum sq_pep_id id)
{
	return store_sq_prepare(s, &store_sq_pep_slots(s)[id], sqp_text[id]);
}

/* A node's owner.  local need not end at a NUL (store_pep_last binds the
 * part of "local@domain" before the '@'), so it goes with its length. */
struct pep_owner {
	const char *domain;
	const char *local;
	size_t local_len;
};

static struct pep_owner pep_owner_of(const char *domain, const char *local)
{
	return (struct pep_owner){ domain, local, strlen(local) };
}

/* ?1 ?2 the owner. */
static int pep_bind_owner(sqlite3_stmt *stmt, const struct pep_owner *o)
{
	int rc = sqlite3_bind_text(stmt, 1, o->domain, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text64(stmt, 2, o->local, (sqlite3_uint64)o->local_len,
					 SQLITE_STATIC, SQLITE_UTF8);
	return rc;
}

/* ?first.. ?first + 4: the configuration's fields, in the columns'
 * order. */
static int pep_bind_cfg(sqlite3_stmt *stmt, int first, const struct store_pep_config *c)
{
	int rc = sqlite3_bind_int(stmt, first, c->access);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(stmt, first + 1, c->persist_items);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, first + 2, (sqlite3_int64)c->max_items);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(stmt, first + 3, c->send_last);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(stmt, first + 4, c->notify_retract);
	return rc;
}

/* How many items the node keeps. */
static unsigned pep_limit(const struct store_pep_config *c)
{
	return c->persist_items ? c->max_items : 1;
}

struct pep_node {
	sqlite3_int64 id;
	struct store_pep_config cfg;
	const char *name; /* SQLite's, valid until the statement moves on */
};

static void pep_log_malformed(struct store_sqlite *s, const struct pep_owner *o,
			      const char *what)
{
	int len = o->local_len > INT_MAX ? INT_MAX : (int)o->local_len;

	LOG_ERR("store: malformed PEP %s of %.*s@%s in %s", what, len, o->local, o->domain,
		store_sq_path(s));
}

/* Reads the current row of SQP_NODE_GET or SQP_NODE_LIST.  As elsewhere
 * in the backend, a row the interface does not allow (a hand edit past
 * the CHECKs) is an error rather than something to act on. */
static enum xs pep_read_node(struct store_sqlite *s, sqlite3_stmt *stmt,
			     const struct pep_owner *o, struct pep_node *n)
{
	sqlite3_int64 access = sqlite3_column_int64(stmt, 1);
	sqlite3_int64 persist = sqlite3_column_int64(stmt, 2);
	sqlite3_int64 max = sqlite3_column_int64(stmt, 3);
	sqlite3_int64 send_last = sqlite3_column_int64(stmt, 4);
	sqlite3_int64 notify = sqlite3_column_int64(stmt, 5);

	n->id = sqlite3_column_int64(stmt, 0);
	n->name = (const char *)sqlite3_column_text(stmt, 6);
	/* NULL for a value that is not SQL NULL (the column is NOT NULL):
	 * SQLite ran out of memory converting it. */
	if (!n->name && sqlite3_errcode(store_sq_db(s)) == SQLITE_NOMEM)
		return store_sq_fail(s, SQLITE_NOMEM, "pep node");
	if (!n->name || !n->name[0] || access < 0 || access > STORE_PEP_WHITELIST ||
	    (persist != 0 && persist != 1) || max < 1 || max > UINT_MAX ||
	    (send_last != 0 && send_last != 1) || (notify != 0 && notify != 1)) {
		pep_log_malformed(s, o, "node");
		return XS_IO;
	}
	n->cfg = (struct store_pep_config){
		.access = (unsigned char)access,
		.persist_items = persist != 0,
		.max_items = (unsigned)max,
		.send_last = send_last != 0,
		.notify_retract = notify != 0,
	};
	return XS_OK;
}

/* The node's id and configuration (n->name is then the caller's name);
 * XS_NOTFOUND when there is no such node. */
static enum xs pep_node_find(struct store_sqlite *s, const struct pep_owner *o,
			     const char *node, struct pep_node *n)
{
	sqlite3_stmt *stmt = sqp_stmt(s, SQP_NODE_GET);
	enum xs ret;

	if (!stmt)
		return XS_IO;
	int rc = pep_bind_owner(stmt, o);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, node, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		ret = pep_read_node(s, stmt, o, n);
	else if (rc == SQLITE_DONE)
		ret = XS_NOTFOUND;
	else
		ret = store_sq_fail(s, rc, "pep node");
	store_sq_release(stmt);
	n->name = node;
	return ret;
}

/* XS_LIMIT when the owner already has max nodes (0: no limit). */
static enum xs pep_node_room(struct store_sqlite *s, const struct pep_owner *o, unsigned max)
{
	sqlite3_stmt *stmt;
	enum xs ret = XS_OK;

	if (max == 0)
		return XS_OK;
	if (!(stmt = sqp_stmt(s, SQP_NODE_COUNT)))
		return XS_IO;
	int rc = pep_bind_owner(stmt, o);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 3, (sqlite3_int64)max);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW)
		ret = store_sq_fail(s, rc, "pep node count");
	else if (sqlite3_column_int64(stmt, 0) >= max)
		ret = XS_LIMIT;
	store_sq_release(stmt);
	return ret;
}

/* Creates the node with *cfg; n gets its id and configuration. */
static enum xs pep_node_insert(struct store_sqlite *s, const struct pep_owner *o,
			       const char *node, const struct store_pep_config *cfg,
			       struct pep_node *n)
{
	sqlite3_stmt *stmt = sqp_stmt(s, SQP_NODE_INSERT);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = pep_bind_owner(stmt, o);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, node, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = pep_bind_cfg(stmt, 4, cfg);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		ret = store_sq_fail(s, rc, "pep node create");
	} else {
		n->id = sqlite3_last_insert_rowid(store_sq_db(s));
		n->cfg = *cfg;
		n->name = node;
	}
	store_sq_release(stmt);
	return ret;
}

/* The node as it is, or created with *cfg when there is none (XS_LIMIT
 * past max_nodes): what publish and replace share. */
static enum xs pep_node_get_or_create(struct store_sqlite *s, const struct pep_owner *o,
				      const char *node, const struct store_pep_config *cfg,
				      unsigned max_nodes, struct pep_node *n, bool *created)
{
	enum xs ret = pep_node_find(s, o, node, n);

	*created = false;
	if (ret != XS_NOTFOUND)
		return ret;
	ret = pep_node_room(s, o, max_nodes);
	if (ret == XS_OK)
		ret = pep_node_insert(s, o, node, cfg, n);
	*created = ret == XS_OK;
	return ret;
}

/* Runs a statement whose ?1 is a node id and ?2, when given (has2), an
 * integer or (text non-NULL) a string; *changes is how many rows it
 * changed (NULL: not asked). */
static enum xs pep_exec_node(struct store_sqlite *s, enum sq_pep_id id, sqlite3_int64 node_id,
			     const char *text, bool has2, sqlite3_int64 v2, const char *what,
			     int *changes)
{
	sqlite3_stmt *stmt = sqp_stmt(s, id);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = sqlite3_bind_int64(stmt, 1, node_id);
	if (rc == SQLITE_OK && text)
		rc = sqlite3_bind_text(stmt, 2, text, -1, SQLITE_STATIC);
	else if (rc == SQLITE_OK && has2)
		rc = sqlite3_bind_int64(stmt, 2, v2);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, what);
	else if (changes)
		*changes = sqlite3_changes(store_sq_db(s));
	store_sq_release(stmt);
	return ret;
}

/* Deletes the node's items beyond the newest limit. */
static enum xs pep_trim(struct store_sqlite *s, sqlite3_int64 node_id, unsigned limit)
{
	return pep_exec_node(s, SQP_ITEM_TRIM, node_id, NULL, true, (sqlite3_int64)limit,
			     "pep trim", NULL);
}

/* Stores one item as the node's newest. */
static enum xs pep_item_put(struct store_sqlite *s, sqlite3_int64 node_id, const char *item_id,
			    const char *xml, size_t len)
{
	sqlite3_stmt *stmt = sqp_stmt(s, SQP_ITEM_PUT);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = sqlite3_bind_int64(stmt, 1, node_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, item_id, -1, SQLITE_STATIC);
	/* A blob of exactly len bytes, as for offline messages: no encoding
	 * conversion, no stop at a NUL.  An empty payload is an empty blob,
	 * not SQL NULL (a NULL pointer would bind NULL). */
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob64(stmt, 3, len ? xml : "", (sqlite3_uint64)len,
					 SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "pep publish");
	store_sq_release(stmt);
	return ret;
}

/* Inside the write transaction, once the call's items are in and
 * trimmed: XS_LIMIT, *over_quota set, when the owner's payloads over all
 * its nodes now come to more than max bytes (0: no limit). */
static enum xs pep_quota(struct store_sqlite *s, const struct pep_owner *o, uint64_t max,
			 bool *over_quota)
{
	sqlite3_stmt *stmt;
	enum xs ret = XS_OK;

	if (max == 0)
		return XS_OK;
	if (!(stmt = sqp_stmt(s, SQP_ACCOUNT_BYTES)))
		return XS_IO;
	int rc = pep_bind_owner(stmt, o);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		ret = store_sq_fail(s, rc, "pep quota");
	} else {
		sqlite3_int64 used = sqlite3_column_int64(stmt, 0); /* NULL (no items): 0 */
		if (used > 0 && (uint64_t)used > max) {
			*over_quota = true;
			ret = XS_LIMIT;
		}
	}
	store_sq_release(stmt);
	return ret;
}

/* Whether requester may see the owner's nodes of one access model.  The
 * roster is read at most once per owner, and only when a PRESENCE node
 * asks (contact: -1 not read yet, else the answer). */
struct pep_access {
	const struct pep_owner *o;
	const char *requester;
	bool owner;
	int contact;
};

static struct pep_access pep_access_of(const struct pep_owner *o, const char *requester)
{
	/* requester == local "@" domain, without building the string.
	 * strncmp stops at requester's NUL, so the index after it is in
	 * bounds (local holds no NUL in its first local_len bytes). */
	bool owner = strncmp(requester, o->local, o->local_len) == 0 &&
		     requester[o->local_len] == '@' &&
		     strcmp(requester + o->local_len + 1, o->domain) == 0;
	return (struct pep_access){ o, requester, owner, -1 };
}

static enum xs pep_allowed(struct store_sqlite *s, struct pep_access *a, unsigned char access,
			   bool *ok)
{
	*ok = false;
	if (a->owner || access == STORE_PEP_OPEN) {
		*ok = true;
		return XS_OK;
	}
	if (access != STORE_PEP_PRESENCE)
		return XS_OK; /* whitelist: the owner only */
	if (a->contact < 0) {
		sqlite3_stmt *stmt = sqp_stmt(s, SQP_ROSTER_FROM);
		enum xs ret = XS_OK;
		if (!stmt)
			return XS_IO;
		int rc = pep_bind_owner(stmt, a->o);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(stmt, 3, a->requester, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			a->contact = sqlite3_column_int(stmt, 0) != 0;
		else
			ret = store_sq_fail(s, rc, "pep access");
		store_sq_release(stmt);
		if (ret != XS_OK)
			return ret;
	}
	*ok = a->contact > 0;
	return XS_OK;
}

/* Hands the current row (item_id, payload) of an item query to cb. */
static enum xs pep_item_row(struct store_sqlite *s, sqlite3_stmt *stmt,
			    const struct pep_owner *o, const char *owner, const char *node,
			    void (*cb)(void *arg, const struct store_pep_item *it), void *arg)
{
	const char *id = (const char *)sqlite3_column_text(stmt, 0);
	const char *xml = sqlite3_column_blob(stmt, 1);
	int len = sqlite3_column_bytes(stmt, 1);

	if ((!id || (!xml && len > 0)) && sqlite3_errcode(store_sq_db(s)) == SQLITE_NOMEM)
		return store_sq_fail(s, SQLITE_NOMEM, "pep items");
	if (!id || !id[0] || len < 0 || (!xml && len > 0)) {
		pep_log_malformed(s, o, "item");
		return XS_IO;
	}
	const struct store_pep_item it = {
		.owner = owner,
		.node = node,
		.id = id,
		.xml = xml ? xml : "",
		.len = (size_t)len,
	};
	cb(arg, &it);
	return XS_OK;
}

/* Steps an item query whose parameters are bound, handing each row on. */
static enum xs pep_item_rows(struct store_sqlite *s, sqlite3_stmt *stmt, int rc,
			     const struct pep_owner *o, const char *owner, const char *node,
			     void (*cb)(void *arg, const struct store_pep_item *it), void *arg)
{
	enum xs ret = XS_OK;

	while (ret == XS_OK && (rc == SQLITE_OK || rc == SQLITE_ROW)) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			ret = pep_item_row(s, stmt, o, owner, node, cb, arg);
	}
	if (ret == XS_OK && rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "pep items");
	store_sq_release(stmt);
	return ret;
}

/* The items named by ids, in their order, those that exist. */
static enum xs pep_items_by_id(struct store_sqlite *s, const struct pep_owner *o,
			       const struct pep_node *n, const char *const *ids, size_t n_ids,
			       void (*cb)(void *arg, const struct store_pep_item *it), void *arg)
{
	enum xs ret = XS_OK;

	for (size_t i = 0; ret == XS_OK && i < n_ids; i++) {
		sqlite3_stmt *stmt = sqp_stmt(s, SQP_ITEM_GET);
		if (!stmt)
			return XS_IO;
		int rc = sqlite3_bind_int64(stmt, 1, n->id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(stmt, 2, ids[i], -1, SQLITE_STATIC);
		ret = pep_item_rows(s, stmt, rc, o, NULL, n->name, cb, arg);
	}
	return ret;
}

/* The newest max items (0: all), oldest first: the seq the page starts
 * at, found by an index-only walk from the newest end, then one read
 * forwards from there. */
static enum xs pep_items_newest(struct store_sqlite *s, const struct pep_owner *o,
				const struct pep_node *n, unsigned max,
				void (*cb)(void *arg, const struct store_pep_item *it), void *arg)
{
	sqlite3_int64 start = 0; /* seqs are positive */
	sqlite3_stmt *stmt;
	int rc;

	if (max > 0) {
		if (!(stmt = sqp_stmt(s, SQP_ITEM_START)))
			return XS_IO;
		rc = sqlite3_bind_int64(stmt, 1, n->id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(stmt, 2, (sqlite3_int64)max - 1);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			start = sqlite3_column_int64(stmt, 0);
		store_sq_release(stmt);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store_sq_fail(s, rc, "pep items");
	}
	if (!(stmt = sqp_stmt(s, SQP_ITEM_ROWS)))
		return XS_IO;
	rc = sqlite3_bind_int64(stmt, 1, n->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 2, start);
	return pep_item_rows(s, stmt, rc, o, NULL, n->name, cb, arg);
}

enum xs store_sq_pep_publish(struct store *st, const char *domain, const char *local,
			     const char *node, const struct store_pep_config *cfg,
			     unsigned precond, const char *item_id, const char *xml, size_t len,
			     unsigned max_nodes, uint64_t max_bytes, bool *over_quota,
			     struct store_pep_config *out, bool *created)
{
	struct store_sqlite *s = store_sq_of(st);
	const struct pep_owner o = pep_owner_of(domain, local);
	const struct store_pep_config want = *cfg; /* cfg may be out */
	struct pep_node n = { 0 };
	bool made = false;
	enum xs ret = store_sq_begin(s, true);

	if (ret != XS_OK)
		return ret;
	ret = pep_node_get_or_create(s, &o, node, &want, max_nodes, &n, &made);
	if (ret == XS_OK && !made) {
		const struct store_pep_config *c = &n.cfg;
		if (((precond & STORE_PEP_F_ACCESS) && c->access != want.access) ||
		    ((precond & STORE_PEP_F_PERSIST) && c->persist_items != want.persist_items) ||
		    ((precond & STORE_PEP_F_MAX_ITEMS) && c->max_items != want.max_items) ||
		    ((precond & STORE_PEP_F_SEND_LAST) && c->send_last != want.send_last) ||
		    ((precond & STORE_PEP_F_NOTIFY_RETRACT) &&
		     c->notify_retract != want.notify_retract)) {
			*out = n.cfg; /* what is stored: the caller words the error */
			ret = XS_DENIED;
		}
	}
	if (ret == XS_OK)
		ret = pep_item_put(s, n.id, item_id, xml, len);
	if (ret == XS_OK)
		ret = pep_trim(s, n.id, pep_limit(&n.cfg));
	if (ret == XS_OK)
		ret = pep_quota(s, &o, max_bytes, over_quota);
	ret = store_sq_finish(s, ret);
	if (ret == XS_OK) {
		*out = n.cfg;
		*created = made;
	}
	return ret;
}

enum xs store_sq_pep_items(struct store *st, const char *domain, const char *local,
			   const char *node, const char *requester, const char *const *ids,
			   size_t n_ids, unsigned max,
			   void (*cb)(void *arg, const struct store_pep_item *it), void *arg,
			   struct store_pep_config *out)
{
	struct store_sqlite *s = store_sq_of(st);
	const struct pep_owner o = pep_owner_of(domain, local);
	struct pep_access a = pep_access_of(&o, requester);
	struct pep_node n = { 0 };
	bool ok = false;
	enum xs ret = store_sq_begin(s, false);

	if (ret != XS_OK)
		return ret;
	ret = pep_node_find(s, &o, node, &n);
	if (ret == XS_OK) {
		*out = n.cfg;
		ret = pep_allowed(s, &a, n.cfg.access, &ok);
	}
	if (ret == XS_OK && !ok)
		ret = XS_DENIED;
	if (ret == XS_OK)
		ret = n_ids > 0 ? pep_items_by_id(s, &o, &n, ids, n_ids, cb, arg)
				: pep_items_newest(s, &o, &n, max, cb, arg);
	return store_sq_finish(s, ret);
}

enum xs store_sq_pep_retract(struct store *st, const char *domain, const char *local,
			     const char *node, const char *item_id, struct store_pep_config *out)
{
	struct store_sqlite *s = store_sq_of(st);
	const struct pep_owner o = pep_owner_of(domain, local);
	struct pep_node n = { 0 };
	int changes = 0;
	enum xs ret = store_sq_begin(s, true);

	if (ret != XS_OK)
		return ret;
	ret = pep_node_find(s, &o, node, &n);
	if (ret == XS_OK)
		ret = pep_exec_node(s, SQP_ITEM_DELETE, n.id, item_id, false, 0, "pep retract",
				    &changes);
	if (ret == XS_OK && changes == 0)
		ret = XS_NOTFOUND;
	ret = store_sq_finish(s, ret);
	if (ret == XS_OK)
		*out = n.cfg;
	return ret;
}

/* Delete (the node too) and purge (the items only). */
static enum xs pep_remove(struct store *st, const char *domain, const char *local,
			  const char *node, bool delete_node)
{
	struct store_sqlite *s = store_sq_of(st);
	const struct pep_owner o = pep_owner_of(domain, local);
	struct pep_node n = { 0 };
	enum xs ret = store_sq_begin(s, true);

	if (ret != XS_OK)
		return ret;
	ret = pep_node_find(s, &o, node, &n);
	if (ret == XS_OK)
		ret = pep_exec_node(s, SQP_ITEM_PURGE, n.id, NULL, false, 0, "pep purge", NULL);
	if (ret == XS_OK && delete_node)
		ret = pep_exec_node(s, SQP_NODE_DELETE, n.id, NULL, false, 0, "pep delete",
				    NULL);
	return store_sq_finish(s, ret);
}

enum xs store_sq_pep_delete(struct store *st, const char *domain, const char *local,
			    const char *node)
{
	return pep_remove(st, domain, local, node, true);
}

enum xs store_sq_pep_purge(struct store *st, const char *domain, const char *local,
			   const char *node)
{
	return pep_remove(st, domain, local, node, false);
}

/* One statement, one snapshot. */
enum xs store_sq_pep_config_get(struct store *st, const char *domain, const char *local,
				const char *node, struct store_pep_config *out)
{
	const struct pep_owner o = pep_owner_of(domain, local);
	struct pep_node n = { 0 };
	enum xs ret = pep_node_find(store_sq_of(st), &o, node, &n);

	if (ret == XS_OK)
		*out = n.cfg;
	return ret;
}

enum xs store_sq_pep_config_set(struct store *st, const char *domain, const char *local,
				const char *node, const struct store_pep_config *cfg)
{
	struct store_sqlite *s = store_sq_of(st);
	const struct pep_owner o = pep_owner_of(domain, local);
	struct pep_node n = { 0 };
	enum xs ret = store_sq_begin(s, true);

	if (ret != XS_OK)
		return ret;
	ret = pep_node_find(s, &o, node, &n);
	if (ret == XS_OK) {
		sqlite3_stmt *stmt = sqp_stmt(s, SQP_NODE_SET);
		if (!stmt) {
			ret = XS_IO;
		} else {
			int rc = sqlite3_bind_int64(stmt, 1, n.id);
			if (rc == SQLITE_OK)
				rc = pep_bind_cfg(stmt, 4, cfg);
			if (rc == SQLITE_OK)
				rc = sqlite3_step(stmt);
			if (rc != SQLITE_DONE)
				ret = store_sq_fail(s, rc, "pep configure");
			store_sq_release(stmt);
		}
	}
	if (ret == XS_OK)
		ret = pep_trim(s, n.id, pep_limit(cfg));
	return store_sq_finish(s, ret);
}

/* Walks the owner's nodes (SQP_NODE_LIST, in name order), calling each
 * for every node inside the statement's step: what nodes and last share.
 * each may run other statements, not this one. */
static enum xs pep_each_node(struct store_sqlite *s, const struct pep_owner *o,
			     enum xs (*each)(struct store_sqlite *s, const struct pep_node *n,
					     void *arg),
			     void *arg)
{
	sqlite3_stmt *stmt = sqp_stmt(s, SQP_NODE_LIST);
	enum xs ret = XS_OK;
	struct pep_node n = { 0 };

	if (!stmt)
		return XS_IO;
	int rc = pep_bind_owner(stmt, o);
	while (ret == XS_OK && (rc == SQLITE_OK || rc == SQLITE_ROW)) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			ret = pep_read_node(s, stmt, o, &n);
			if (ret == XS_OK)
				ret = each(s, &n, arg);
		}
	}
	if (ret == XS_OK && rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "pep nodes");
	store_sq_release(stmt);
	return ret;
}

struct pep_nodes_ctx {
	struct pep_access a;
	void (*cb)(void *arg, const char *node);
	void *arg;
};

static enum xs pep_nodes_one(struct store_sqlite *s, const struct pep_node *n, void *arg)
{
	struct pep_nodes_ctx *c = arg;
	bool ok = false;
	enum xs ret = pep_allowed(s, &c->a, n->cfg.access, &ok);

	if (ret == XS_OK && ok)
		c->cb(c->arg, n->name);
	return ret;
}

enum xs store_sq_pep_nodes(struct store *st, const char *domain, const char *local,
			   const char *requester, void (*cb)(void *arg, const char *node),
			   void *arg)
{
	struct store_sqlite *s = store_sq_of(st);
	const struct pep_owner o = pep_owner_of(domain, local);
	struct pep_nodes_ctx c = { pep_access_of(&o, requester), cb, arg };
	enum xs ret = store_sq_begin(s, false);

	if (ret != XS_OK)
		return ret;
	ret = pep_each_node(s, &o, pep_nodes_one, &c);
	return store_sq_finish(s, ret);
}

struct pep_last_ctx {
	struct pep_access a;
	const char *owner;
	const char *const *nodes;
	size_t n_nodes;
	void (*cb)(void *arg, const struct store_pep_item *it);
	void *arg;
};

static enum xs pep_last_one(struct store_sqlite *s, const struct pep_node *n, void *arg)
{
	struct pep_last_ctx *c = arg;
	bool wanted = false, ok = false;

	if (!n->cfg.send_last)
		return XS_OK;
	for (size_t i = 0; i < c->n_nodes && !wanted; i++)
		wanted = strcmp(c->nodes[i], n->name) == 0;
	if (!wanted)
		return XS_OK;
	enum xs ret = pep_allowed(s, &c->a, n->cfg.access, &ok);
	if (ret != XS_OK || !ok)
		return ret;
	sqlite3_stmt *stmt = sqp_stmt(s, SQP_ITEM_NEWEST);
	if (!stmt)
		return XS_IO;
	int rc = sqlite3_bind_int64(stmt, 1, n->id);
	return pep_item_rows(s, stmt, rc, c->a.o, c->owner, n->name, c->cb, c->arg);
}

/* Per owner: one probe of pep_node_key for its nodes (most owners have
 * none, and then that is all), the roster read only when a PRESENCE node
 * is wanted, and one probe of pep_item_node per node that qualifies. */
enum xs store_sq_pep_last(struct store *st, const char *requester, const char *const *owners,
			  size_t n_owners, const char *const *nodes, size_t n_nodes,
			  void (*cb)(void *arg, const struct store_pep_item *it), void *arg)
{
	struct store_sqlite *s = store_sq_of(st);
	enum xs ret = store_sq_begin(s, false);

	if (ret != XS_OK)
		return ret;
	for (size_t i = 0; ret == XS_OK && i < n_owners; i++) {
		const char *at = strchr(owners[i], '@');
		if (!at || at == owners[i] || !at[1])
			continue;
		const struct pep_owner o = { at + 1, owners[i], (size_t)(at - owners[i]) };
		struct pep_last_ctx c = {
			.a = pep_access_of(&o, requester),
			.owner = owners[i],
			.nodes = nodes,
			.n_nodes = n_nodes,
			.cb = cb,
			.arg = arg,
		};
		ret = pep_each_node(s, &o, pep_last_one, &c);
	}
	return store_sq_finish(s, ret);
}

/* The ids the node holds that are not among items[0..n), oldest first,
 * copied (they are reported after the commit). */
struct pep_removed {
	char **ids;
	size_t n, cap;
};

static void pep_removed_free(struct pep_removed *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->ids[i]);
	free(r->ids);
}

static enum xs pep_collect_removed(struct store_sqlite *s, const struct pep_owner *o,
				   sqlite3_int64 node_id, const struct store_pep_item *items,
				   size_t n, struct pep_removed *r)
{
	sqlite3_stmt *stmt = sqp_stmt(s, SQP_ITEM_IDS);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = sqlite3_bind_int64(stmt, 1, node_id);
	while (ret == XS_OK && (rc == SQLITE_OK || rc == SQLITE_ROW)) {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_ROW)
			break;
		const char *id = (const char *)sqlite3_column_text(stmt, 0);
		if (!id && sqlite3_errcode(store_sq_db(s)) == SQLITE_NOMEM) {
			ret = store_sq_fail(s, SQLITE_NOMEM, "pep replace");
			break;
		}
		if (!id || !id[0]) {
			pep_log_malformed(s, o, "item");
			ret = XS_IO;
			break;
		}
		bool kept = false;
		for (size_t i = 0; i < n && !kept; i++)
			kept = strcmp(items[i].id, id) == 0;
		if (kept)
			continue;
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 8;
			char **v = realloc(r->ids, cap * sizeof(*v));
			if (!v) {
				ret = XS_NOMEM;
				break;
			}
			r->ids = v;
			r->cap = cap;
		}
		if (!(r->ids[r->n] = strdup(id))) {
			ret = XS_NOMEM;
			break;
		}
		r->n++;
	}
	if (ret == XS_OK && rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "pep replace");
	store_sq_release(stmt);
	return ret;
}

enum xs store_sq_pep_replace(struct store *st, const char *domain, const char *local,
			     const char *node, const struct store_pep_config *cfg,
			     const struct store_pep_item *items, size_t n, unsigned max_nodes,
			     uint64_t max_bytes, bool *over_quota,
			     void (*removed)(void *arg, const char *id), void *arg)
{
	struct store_sqlite *s = store_sq_of(st);
	const struct pep_owner o = pep_owner_of(domain, local);
	struct pep_removed r = { 0 };
	struct pep_node nd = { 0 };
	bool made = false;
	enum xs ret = store_sq_begin(s, true);

	if (ret != XS_OK)
		return ret;
	ret = pep_node_get_or_create(s, &o, node, cfg, max_nodes, &nd, &made);
	if (ret == XS_OK && n > pep_limit(&nd.cfg))
		ret = XS_LIMIT;
	if (ret == XS_OK && !made && removed)
		ret = pep_collect_removed(s, &o, nd.id, items, n, &r);
	/* All out, then all in, in order: each insert is the newest so far
	 * (and replaces an earlier one of its id). */
	if (ret == XS_OK && !made)
		ret = pep_exec_node(s, SQP_ITEM_PURGE, nd.id, NULL, false, 0, "pep replace",
				    NULL);
	for (size_t i = 0; ret == XS_OK && i < n; i++)
		ret = pep_item_put(s, nd.id, items[i].id, items[i].xml, items[i].len);
	if (ret == XS_OK)
		ret = pep_quota(s, &o, max_bytes, over_quota);
	ret = store_sq_finish(s, ret);
	if (ret == XS_OK)
		for (size_t i = 0; i < r.n; i++)
			removed(arg, r.ids[i]);
	pep_removed_free(&r);
	return ret;
}

enum xs store_sq_pep_drop(struct store_sqlite *s, const char *domain, const char *local)
{
	static const enum sq_pep_id drops[] = { SQP_DROP_ITEMS, SQP_DROP_NODES };
	enum xs ret = XS_OK;

	for (size_t i = 0; ret == XS_OK && i < sizeof(drops) / sizeof(drops[0]); i++) {
		sqlite3_stmt *stmt = sqp_stmt(s, drops[i]);
		if (!stmt)
			return XS_IO;
		int rc = store_bind_names(stmt, domain, local);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			ret = store_sq_fail(s, rc, "user delete pep");
		store_sq_release(stmt);
	}
	return ret;
}
