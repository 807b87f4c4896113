/* The embedded SQLite storage backend (the default; see store.h for the
 * interface and its one-thread-per-handle rule).
 *
 * One database file holds everything.  It runs in WAL mode with
 * synchronous=NORMAL: a crash can lose the last few commits but never
 * corrupts the file, and readers (the admin tool, backups) do not block the
 * server.  The schema is versioned with PRAGMA user_version and brought up
 * to date at open by an ordered, append-only list of migrations, each in its
 * own transaction.  Statements are prepared once and cached in the handle.
 *
 * The file holds password-equivalent data (SCRAM StoredKey/ServerKey allow
 * an offline dictionary attack), so it is created 0600 inside a 0700
 * directory; SQLite gives its -wal and -shm files the database's mode. */
#include "core/store/store.h"
#include "core/store/store_sqlite_int.h"
#include "core/xmpp/jid.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/queue.h" /* container_of */

/* Schema migrations: store_migrations[i] takes the schema from version i to
 * version i + 1.  Append only: a migration that has shipped has already run
 * on existing databases, so it is never edited; changes go in a new entry.
 * Later tables arrive as versions 10, 11, ... */
static const char *const store_migrations[] = {
	/* 1: accounts.  A NULL credential slot means "no credential for that
	 * hash"; the CHECKs keep each slot all-or-nothing. */
	"CREATE TABLE users ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" sha1_salt BLOB, sha1_iter INTEGER, sha1_stored BLOB, sha1_server BLOB,"
	" sha256_salt BLOB, sha256_iter INTEGER, sha256_stored BLOB, sha256_server BLOB,"
	" created INTEGER NOT NULL,"
	" PRIMARY KEY (domain, localpart),"
	" CHECK ((sha1_salt IS NULL) = (sha1_iter IS NULL) AND"
	"        (sha1_salt IS NULL) = (sha1_stored IS NULL) AND"
	"        (sha1_salt IS NULL) = (sha1_server IS NULL)),"
	" CHECK ((sha256_salt IS NULL) = (sha256_iter IS NULL) AND"
	"        (sha256_salt IS NULL) = (sha256_stored IS NULL) AND"
	"        (sha256_salt IS NULL) = (sha256_server IS NULL))"
	") WITHOUT ROWID;",
	/* 2: rosters (store.h).  Keyed by the account, then the contact, so
	 * an account's items are one index range already in contact order.
	 * The version lives in its own table: it must survive the roster
	 * becoming empty (a removal bumps it too). */
	"CREATE TABLE roster ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" contact TEXT NOT NULL,"
	" name TEXT,"
	" subscription INTEGER NOT NULL DEFAULT 0 CHECK (subscription BETWEEN 0 AND 3),"
	" ask INTEGER NOT NULL DEFAULT 0 CHECK (ask BETWEEN 0 AND 3),"
	" groups TEXT NOT NULL DEFAULT '',"
	" PRIMARY KEY (domain, localpart, contact)"
	") WITHOUT ROWID;"
	"CREATE TABLE roster_version ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" ver INTEGER NOT NULL,"
	" PRIMARY KEY (domain, localpart)"
	") WITHOUT ROWID;",
	/* 3: offline messages (store.h).  A rowid table: the id is the
	 * queue order.  AUTOINCREMENT so an id is never handed out twice,
	 * even after the newest rows were deleted: a delete "up to id N"
	 * from a list that is still in flight must never reach a message
	 * that arrived later under a reused N.  The index makes an
	 * account's queue one range already in id order.  stamp (unix
	 * seconds at push) is for expiry. */
	"CREATE TABLE offline ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" xml BLOB NOT NULL,"
	" stamp INTEGER NOT NULL"
	");"
	"CREATE INDEX offline_account ON offline (domain, localpart, id);",
	/* 4: per-account XML documents (store.h: private XML, vCards).
	 * Keyed by the account, then the kind, so the documents of one kind
	 * are one index range: the limit counts them there.  xml is a blob
	 * so the bytes come back exactly as put. */
	"CREATE TABLE account_data ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" xml BLOB NOT NULL,"
	" PRIMARY KEY (domain, localpart, kind, key)"
	") WITHOUT ROWID;",
	/* 5: subscriptions (RFC 6121 3) need two more ask bits (store.h:
	 * PREAPPROVED, HIDDEN), and version 2's CHECK allows only 0..3.
	 * SQLite cannot change a CHECK in place, so the table is rebuilt:
	 * created under another name, filled, the old one dropped and the
	 * new one renamed into its place (the SQLite manual's "other kinds of
	 * table schema changes"; nothing refers to roster: no index, view,
	 * trigger or foreign key). */
	"CREATE TABLE roster_new ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" contact TEXT NOT NULL,"
	" name TEXT,"
	" subscription INTEGER NOT NULL DEFAULT 0 CHECK (subscription BETWEEN 0 AND 3),"
	" ask INTEGER NOT NULL DEFAULT 0 CHECK (ask BETWEEN 0 AND 15),"
	" groups TEXT NOT NULL DEFAULT '',"
	" PRIMARY KEY (domain, localpart, contact)"
	") WITHOUT ROWID;"
	"INSERT INTO roster_new (domain, localpart, contact, name, subscription, ask, groups)"
	" SELECT domain, localpart, contact, name, subscription, ask, groups FROM roster;"
	"DROP TABLE roster;"
	"ALTER TABLE roster_new RENAME TO roster;",
	/* 6: blocking (XEP-0191; store.h).  Keyed by the account, then the
	 * JID, so an account's list is one index range already in byte
	 * order, and a match is at most four lookups in it. */
	"CREATE TABLE blocklist ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" jid TEXT NOT NULL,"
	" PRIMARY KEY (domain, localpart, jid)"
	") WITHOUT ROWID;",
	/* 7: the message archive (XEP-0313; store.h).  A rowid table whose
	 * id is the archive's order: pages are in id order, and start and
	 * end filter on stamp (store_sq_mam_query says why).  AUTOINCREMENT
	 * so an id is never handed out twice: a message archived after the
	 * newest ones were deleted (an account's whole archive) still sorts
	 * after everything ever archived.  with_jid is the other party's
	 * bare JID, stamp unix microseconds, stanza_id the XEP-0359 id the
	 * router gave the message.
	 *
	 * One index per kind of page, each keyed by the account (and the
	 * conversation), then id, so that the newest or oldest page of a
	 * conversation, or of the whole account, bounded by anchors, is one
	 * range of one index read from either end.  stamp follows id in both
	 * so that start and end are checked in the index: a message outside
	 * the time range is skipped without reading its row.  The unique
	 * index finds an anchor (and keeps the ids unique per account);
	 * archive_stamp lets expiry take the oldest messages of all accounts
	 * from one end instead of scanning the table. */
	"CREATE TABLE archive ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" with_jid TEXT NOT NULL,"
	" stamp INTEGER NOT NULL,"
	" stanza_id TEXT NOT NULL,"
	" xml BLOB NOT NULL"
	");"
	"CREATE INDEX archive_with ON archive (domain, localpart, with_jid, id, stamp);"
	"CREATE INDEX archive_account ON archive (domain, localpart, id, stamp);"
	"CREATE UNIQUE INDEX archive_stanza_id ON archive (domain, localpart, stanza_id);"
	"CREATE INDEX archive_stamp ON archive (stamp);",
	/* 8: PEP (XEP-0163; store.h, store_sqlite_pep.c).  A node is a row
	 * of pep_node, found by its owner and name through pep_node_key
	 * (an account's nodes are one range of it, in name order), and
	 * known to its items by its integer id: an item row does not repeat
	 * the owner and the name.  The configuration is one column per
	 * field of struct store_pep_config.
	 *
	 * pep_item is a rowid table (payloads such as avatars run to tens
	 * of kilobytes, which a WITHOUT ROWID table handles poorly) whose
	 * rowid, seq, is the publication order: a new row gets one above
	 * every row there is, so an item published again under its id
	 * (INSERT OR REPLACE: the old row goes, a new one comes) is the
	 * newest of its node.  pep_item_key finds an item by id and keeps
	 * the ids unique per node; pep_item_node, whose entries end with the
	 * rowid, is a node's items in age order, read from either end. */
	"CREATE TABLE pep_node ("
	" id INTEGER PRIMARY KEY,"
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" node TEXT NOT NULL,"
	" access INTEGER NOT NULL CHECK (access BETWEEN 0 AND 2),"
	" persist INTEGER NOT NULL CHECK (persist IN (0, 1)),"
	" max_items INTEGER NOT NULL CHECK (max_items BETWEEN 1 AND 4294967295),"
	" send_last INTEGER NOT NULL CHECK (send_last IN (0, 1)),"
	" notify_retract INTEGER NOT NULL CHECK (notify_retract IN (0, 1))"
	");"
	"CREATE UNIQUE INDEX pep_node_key ON pep_node (domain, localpart, node);"
	"CREATE TABLE pep_item ("
	" seq INTEGER PRIMARY KEY,"
	" node_id INTEGER NOT NULL,"
	" item_id TEXT NOT NULL,"
	" payload BLOB NOT NULL"
	");"
	"CREATE UNIQUE INDEX pep_item_key ON pep_item (node_id, item_id);"
	"CREATE INDEX pep_item_node ON pep_item (node_id);",
	/* 9: archive preferences (XEP-0441; store.h, store_sqlite_mam_prefs.c).
	 * archive_prefs holds an account's default (enum store_mam_default),
	 * archive_prefs_jid its always (1) and never (0) JIDs, bare and
	 * normalised; a JID is on one list at most (the primary key).  An
	 * account that has the defaults (ALWAYS, no JIDs) has no rows at
	 * all, and JID rows only come with a default row: the archive's
	 * insert checks for that row and stays one statement for everyone
	 * else.  Both keyed by the account, so what the archive asks about
	 * one message is a probe of each primary key. */
	"CREATE TABLE archive_prefs ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" dflt INTEGER NOT NULL CHECK (dflt BETWEEN 0 AND 2),"
	" PRIMARY KEY (domain, localpart)"
	") WITHOUT ROWID;"
	"CREATE TABLE archive_prefs_jid ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" jid TEXT NOT NULL,"
	" always INTEGER NOT NULL CHECK (always IN (0, 1)),"
	" PRIMARY KEY (domain, localpart, jid)"
	") WITHOUT ROWID;",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

enum sq_id {
	SQ_USER_INSERT,
	SQ_USER_SET_CREDS,
	SQ_USER_DELETE,
	SQ_CRED_SHA1,
	SQ_CRED_SHA256,
	SQ_USER_EXISTS,
	SQ_USER_LIST,
	SQ_ITER_SHA1,
	SQ_ITER_SHA256,
	SQ_BEGIN_READ,
	SQ_BEGIN_WRITE,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_ROSTER_ITEMS,
	SQ_ROSTER_ITEM,
	SQ_ROSTER_VER,
	SQ_ROSTER_ROOM,
	SQ_ROSTER_PUT,
	SQ_ROSTER_DELETE,
	SQ_ROSTER_BUMP,
	SQ_ROSTER_DROP,
	SQ_OFFLINE_ROOM,
	SQ_OFFLINE_PUSH,
	SQ_OFFLINE_LIST,
	SQ_OFFLINE_DELETE,
	SQ_OFFLINE_DROP,
	SQ_DATA_GET,
	SQ_DATA_ROOM,
	SQ_DATA_PUT,
	SQ_DATA_DELETE,
	SQ_DATA_DROP,
	SQ_BLOCK_LIST,
	SQ_BLOCK_INSERT,
	SQ_BLOCK_DELETE,
	SQ_BLOCK_COUNT,
	SQ_BLOCK_MATCH,
	SQ_BLOCK_DROP,
	SQ_MAM_INSERT,
	SQ_MAM_INSERT_ALLOWED,
	SQ_MAM_ANCHOR,
	SQ_MAM_IDS,
	SQ_MAM_IDS_WITH,
	SQ_MAM_ROWS,
	SQ_MAM_ROWS_WITH,
	SQ_MAM_EXPIRE,
	SQ_MAM_DROP,
	SQ__COUNT
};

static const char *const sq_text[SQ__COUNT] = {
	[SQ_USER_INSERT] =
		"INSERT INTO users (domain, localpart,"
		" sha1_salt, sha1_iter, sha1_stored, sha1_server,"
		" sha256_salt, sha256_iter, sha256_stored, sha256_server, created)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[SQ_USER_SET_CREDS] =
		"UPDATE users SET"
		" sha1_salt = ?3, sha1_iter = ?4, sha1_stored = ?5, sha1_server = ?6,"
		" sha256_salt = ?7, sha256_iter = ?8, sha256_stored = ?9, sha256_server = ?10"
		" WHERE domain = ?1 AND localpart = ?2",
	[SQ_USER_DELETE] = "DELETE FROM users WHERE domain = ?1 AND localpart = ?2",
	[SQ_CRED_SHA1] =
		"SELECT sha1_salt, sha1_iter, sha1_stored, sha1_server FROM users"
		" WHERE domain = ?1 AND localpart = ?2",
	[SQ_CRED_SHA256] =
		"SELECT sha256_salt, sha256_iter, sha256_stored, sha256_server FROM users"
		" WHERE domain = ?1 AND localpart = ?2",
	[SQ_USER_EXISTS] = "SELECT 1 FROM users WHERE domain = ?1 AND localpart = ?2",
	[SQ_USER_LIST] = "SELECT localpart FROM users WHERE domain = ?1 ORDER BY localpart",
	[SQ_ITER_SHA1] = "SELECT sha1_iter, COUNT(*) FROM users WHERE sha1_iter IS NOT NULL"
			 " GROUP BY sha1_iter ORDER BY 2 DESC, 1",
	[SQ_ITER_SHA256] = "SELECT sha256_iter, COUNT(*) FROM users WHERE sha256_iter IS NOT NULL"
			   " GROUP BY sha256_iter ORDER BY 2 DESC, 1",
	/* A read needs only a snapshot.  A write takes the write lock up
	 * front: a deferred transaction that reads first and upgrades at its
	 * first write fails there with SQLITE_BUSY, without waiting out the
	 * busy timeout, when another process (the admin tool) wrote since. */
	[SQ_BEGIN_READ] = "BEGIN",
	[SQ_BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
	[SQ_ROSTER_ITEMS] = "SELECT contact, name, groups, subscription, ask FROM roster"
			    " WHERE domain = ?1 AND localpart = ?2 ORDER BY contact",
	/* The columns of SQ_ROSTER_ITEMS, so one decoder reads both. */
	[SQ_ROSTER_ITEM] = "SELECT contact, name, groups, subscription, ask FROM roster"
			   " WHERE domain = ?1 AND localpart = ?2 AND contact = ?3",
	[SQ_ROSTER_VER] = "SELECT ver FROM roster_version WHERE domain = ?1 AND localpart = ?2",
	/* Whether ?3 is already an item, and how many items there are. */
	[SQ_ROSTER_ROOM] =
		"SELECT EXISTS (SELECT 1 FROM roster"
		"  WHERE domain = ?1 AND localpart = ?2 AND contact = ?3),"
		" (SELECT count(*) FROM roster WHERE domain = ?1 AND localpart = ?2)",
	[SQ_ROSTER_PUT] =
		"INSERT OR REPLACE INTO roster"
		" (domain, localpart, contact, name, subscription, ask, groups)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SQ_ROSTER_DELETE] =
		"DELETE FROM roster WHERE domain = ?1 AND localpart = ?2 AND contact = ?3",
	[SQ_ROSTER_BUMP] = "INSERT INTO roster_version (domain, localpart, ver) VALUES (?1, ?2, 1)"
			   " ON CONFLICT (domain, localpart) DO UPDATE SET ver = ver + 1",
	[SQ_ROSTER_DROP] = "DELETE FROM roster WHERE domain = ?1 AND localpart = ?2",
	/* Whether the account exists, and how many messages it has queued,
	 * counted no further than ?3 (the limit; 0 counts nothing): a long
	 * queue is not walked to the end only to learn it is full. */
	[SQ_OFFLINE_ROOM] =
		"SELECT EXISTS (SELECT 1 FROM users WHERE domain = ?1 AND localpart = ?2),"
		" (SELECT count(*) FROM (SELECT 1 FROM offline"
		"  WHERE domain = ?1 AND localpart = ?2 LIMIT ?3))",
	[SQ_OFFLINE_PUSH] = "INSERT INTO offline (domain, localpart, xml, stamp)"
			    " VALUES (?1, ?2, ?3, ?4)",
	[SQ_OFFLINE_LIST] = "SELECT id, xml FROM offline WHERE domain = ?1 AND localpart = ?2"
			    " ORDER BY id",
	[SQ_OFFLINE_DELETE] =
		"DELETE FROM offline WHERE domain = ?1 AND localpart = ?2 AND id <= ?3",
	[SQ_OFFLINE_DROP] = "DELETE FROM offline WHERE domain = ?1 AND localpart = ?2",
	[SQ_DATA_GET] = "SELECT xml FROM account_data"
			" WHERE domain = ?1 AND localpart = ?2 AND kind = ?3 AND key = ?4",
	/* Whether the account exists, whether ?4 is already a document of
	 * kind ?3, and how many of that kind there are, counted no further
	 * than ?5 (the limit; 0 counts nothing). */
	[SQ_DATA_ROOM] =
		"SELECT EXISTS (SELECT 1 FROM users WHERE domain = ?1 AND localpart = ?2),"
		" EXISTS (SELECT 1 FROM account_data"
		"  WHERE domain = ?1 AND localpart = ?2 AND kind = ?3 AND key = ?4),"
		" (SELECT count(*) FROM (SELECT 1 FROM account_data"
		"  WHERE domain = ?1 AND localpart = ?2 AND kind = ?3 LIMIT ?5))",
	[SQ_DATA_PUT] = "INSERT OR REPLACE INTO account_data (domain, localpart, kind, key, xml)"
			" VALUES (?1, ?2, ?3, ?4, ?5)",
	[SQ_DATA_DELETE] = "DELETE FROM account_data"
			   " WHERE domain = ?1 AND localpart = ?2 AND kind = ?3 AND key = ?4",
	[SQ_DATA_DROP] = "DELETE FROM account_data WHERE domain = ?1 AND localpart = ?2",
	[SQ_BLOCK_LIST] = "SELECT jid FROM blocklist WHERE domain = ?1 AND localpart = ?2"
			  " ORDER BY jid",
	/* DO NOTHING only for the key: a JID already there is no change,
	 * while any other failure still fails. */
	[SQ_BLOCK_INSERT] = "INSERT INTO blocklist (domain, localpart, jid) VALUES (?1, ?2, ?3)"
			    " ON CONFLICT (domain, localpart, jid) DO NOTHING",
	[SQ_BLOCK_DELETE] =
		"DELETE FROM blocklist WHERE domain = ?1 AND localpart = ?2 AND jid = ?3",
	/* How many entries the account has, counted no further than ?3 (the
	 * limit plus one: enough to tell that it is exceeded). */
	[SQ_BLOCK_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM blocklist"
			   " WHERE domain = ?1 AND localpart = ?2 LIMIT ?3)",
	/* ?3..?6: the JID's forms (jid_match_forms), some possibly the same. */
	[SQ_BLOCK_MATCH] = "SELECT EXISTS (SELECT 1 FROM blocklist"
			   " WHERE domain = ?1 AND localpart = ?2 AND jid IN (?3, ?4, ?5, ?6))",
	[SQ_BLOCK_DROP] = "DELETE FROM blocklist WHERE domain = ?1 AND localpart = ?2",
	/* Inserts nothing when the account does not exist (store.h), nor
	 * when it has archive preferences: the checks are lookups in users
	 * and archive_prefs inside the insert itself, so an account without
	 * preferences costs no statement more.  For one with them
	 * (store_sq_mam_insert), SQ_MAM_INSERT_ALLOWED once they allow it. */
	[SQ_MAM_INSERT] =
		"INSERT INTO archive (domain, localpart, with_jid, stamp, stanza_id, xml)"
		" SELECT ?1, ?2, ?3, ?4, ?5, ?6"
		" WHERE EXISTS (SELECT 1 FROM users WHERE domain = ?1 AND localpart = ?2)"
		" AND NOT EXISTS (SELECT 1 FROM archive_prefs WHERE domain = ?1 AND localpart = ?2)",
	[SQ_MAM_INSERT_ALLOWED] =
		"INSERT INTO archive (domain, localpart, with_jid, stamp, stanza_id, xml)"
		" SELECT ?1, ?2, ?3, ?4, ?5, ?6"
		" WHERE EXISTS (SELECT 1 FROM users WHERE domain = ?1 AND localpart = ?2)",
	[SQ_MAM_ANCHOR] = "SELECT id FROM archive"
			  " WHERE domain = ?1 AND localpart = ?2 AND stanza_id = ?3",
	/* The archive queries share their parameters: ?1 ?2 the account, ?3
	 * the conversation (the _WITH forms), ?4 ?5 the id range (both
	 * exclusive), ?6 ?7 the stamp range (both inclusive), ?8 the limit.
	 * The IDS forms walk the index alone, newest first, to find where a
	 * page taken from the newest end begins; the ROWS forms read a page
	 * oldest first. */
	[SQ_MAM_IDS] = "SELECT id FROM archive WHERE domain = ?1 AND localpart = ?2"
		       " AND id > ?4 AND id < ?5 AND stamp BETWEEN ?6 AND ?7"
		       " ORDER BY id DESC LIMIT ?8",
	[SQ_MAM_IDS_WITH] = "SELECT id FROM archive WHERE domain = ?1 AND localpart = ?2"
			    " AND with_jid = ?3 AND id > ?4 AND id < ?5 AND stamp BETWEEN ?6 AND ?7"
			    " ORDER BY id DESC LIMIT ?8",
	[SQ_MAM_ROWS] = "SELECT stanza_id, stamp, with_jid, xml FROM archive"
			" WHERE domain = ?1 AND localpart = ?2"
			" AND id > ?4 AND id < ?5 AND stamp BETWEEN ?6 AND ?7"
			" ORDER BY id LIMIT ?8",
	[SQ_MAM_ROWS_WITH] = "SELECT stanza_id, stamp, with_jid, xml FROM archive"
			     " WHERE domain = ?1 AND localpart = ?2 AND with_jid = ?3"
			     " AND id > ?4 AND id < ?5 AND stamp BETWEEN ?6 AND ?7"
			     " ORDER BY id LIMIT ?8",
	/* The oldest first, through archive_stamp: a batch is one range at
	 * the low end of that index. */
	[SQ_MAM_EXPIRE] = "DELETE FROM archive WHERE id IN (SELECT id FROM archive"
			  " WHERE stamp < ?1 ORDER BY stamp LIMIT ?2)",
	[SQ_MAM_DROP] = "DELETE FROM archive WHERE domain = ?1 AND localpart = ?2",
};

struct store_sqlite {
	struct store base; /* first: the ops table expects to find it here */
	sqlite3 *db;
	sqlite3_stmt *stmt[SQ__COUNT];
	sqlite3_stmt *pep_stmt[SQP__COUNT]; /* store_sqlite_pep.c's */
	sqlite3_stmt *mamp_stmt[SQM__COUNT]; /* store_sqlite_mam_prefs.c's */
	char *path;
};

static const struct store_ops store_sqlite_ops;

static struct store_sqlite *to_sq(struct store *st)
{
	return container_of(st, struct store_sqlite, base);
}

/* For the backend's other files (store_sqlite_int.h). */
struct store_sqlite *store_sq_of(struct store *st)
{
	return to_sq(st);
}

sqlite3 *store_sq_db(const struct store_sqlite *s)
{
	return s->db;
}

const char *store_sq_path(const struct store_sqlite *s)
{
	return s->path;
}

sqlite3_stmt **store_sq_pep_slots(struct store_sqlite *s)
{
	return s->pep_stmt;
}

sqlite3_stmt **store_sq_mam_prefs_slots(struct store_sqlite *s)
{
	return s->mamp_stmt;
}

static void store_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void store_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Maps a failed SQLite call to enum xs and logs it: the caller of a store
 * function only sees the status, so the backend's message goes to the log. */
enum xs store_sq_fail(struct store_sqlite *s, int rc, const char *what)
{
	LOG_ERR("store: %s: %s (%d)", what, sqlite3_errmsg(s->db), rc);
	return (rc & 0xff) == SQLITE_NOMEM ? XS_NOMEM : XS_IO;
}

/* Prepared once, on first use, and kept for the life of the handle. */
sqlite3_stmt *store_sq_prepare(struct store_sqlite *s, sqlite3_stmt **slot, const char *sql)
{
	if (*slot)
		return *slot;
	int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
	if (rc != SQLITE_OK) {
		store_sq_fail(s, rc, "prepare");
		*slot = NULL;
	}
	return *slot;
}

static sqlite3_stmt *store_sq_stmt(struct store_sqlite *s, enum sq_id id)
{
	return store_sq_prepare(s, &s->stmt[id], sq_text[id]);
}

/* Returns a statement to the cache ready for its next use; also drops the
 * bindings so no pointer to a caller's string outlives the call. */
void store_sq_release(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

/* Runs a statement that returns no rows (transaction control). */
static enum xs store_sq_run(struct store_sqlite *s, enum sq_id id, const char *what)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, id);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, what);
	sqlite3_reset(stmt);
	return ret;
}

/* Ends a transaction: commits when ret is XS_OK, otherwise rolls back, so
 * a call that fails or is refused (XS_LIMIT, XS_NOTFOUND) leaves the file
 * as it was.  A failed COMMIT rolls back too.  Some errors (SQLITE_FULL,
 * SQLITE_NOMEM, ...) make SQLite roll back by itself; autocommit says
 * whether anything is left to undo. */
enum xs store_sq_finish(struct store_sqlite *s, enum xs ret)
{
	if (ret == XS_OK)
		ret = store_sq_run(s, SQ_COMMIT, "commit");
	if (ret != XS_OK && !sqlite3_get_autocommit(s->db))
		store_sq_run(s, SQ_ROLLBACK, "rollback");
	return ret;
}

enum xs store_sq_begin(struct store_sqlite *s, bool write)
{
	return store_sq_run(s, write ? SQ_BEGIN_WRITE : SQ_BEGIN_READ, "begin");
}

int store_bind_names(sqlite3_stmt *stmt, const char *domain, const char *local)
{
	int rc = sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, local, -1, SQLITE_STATIC);
	return rc;
}

/* Binds one credential slot (four parameters from first); NULL binds NULLs. */
static int store_bind_cred(sqlite3_stmt *stmt, int first, const struct scram_cred *c)
{
	int rc;

	if (!c) {
		rc = SQLITE_OK;
		for (int i = 0; i < 4 && rc == SQLITE_OK; i++)
			rc = sqlite3_bind_null(stmt, first + i);
		return rc;
	}
	size_t hl = scram_hash_len(c->hash);
	rc = sqlite3_bind_blob(stmt, first, c->salt, (int)c->salt_len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, first + 1, (sqlite3_int64)c->iterations);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(stmt, first + 2, c->stored_key, (int)hl, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(stmt, first + 3, c->server_key, (int)hl, SQLITE_STATIC);
	return rc;
}

/* ?1 ?2 the account's names, ?3..?6 its SCRAM-SHA-1 and ?7..?10 its
 * SCRAM-SHA-256 credentials: the shared head of the insert and the update. */
static int store_bind_account(sqlite3_stmt *stmt, const char *domain, const char *local,
			      const struct scram_cred *sha1, const struct scram_cred *sha256)
{
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = store_bind_cred(stmt, 3, sha1);
	if (rc == SQLITE_OK)
		rc = store_bind_cred(stmt, 7, sha256);
	return rc;
}

static enum xs store_sq_user_create(struct store *st, const char *domain, const char *local,
				    const struct scram_cred *sha1,
				    const struct scram_cred *sha256)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_USER_INSERT);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_account(stmt, domain, local, sha1, sha256);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 11, (sqlite3_int64)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		ret = XS_INVAL; /* the account exists: the caller's mistake, not ours */
	else if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "user create");
	store_sq_release(stmt);
	return ret;
}

/* Runs a write keyed by the account (for a roster item, and the contact)
 * and reports XS_NOTFOUND when it touched no row. */
static enum xs store_sq_keyed_write(struct store_sqlite *s, sqlite3_stmt *stmt, int rc,
				    const char *what)
{
	enum xs ret = XS_OK;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, what);
	else if (sqlite3_changes(s->db) == 0)
		ret = XS_NOTFOUND;
	store_sq_release(stmt);
	return ret;
}

static enum xs store_sq_user_set_creds(struct store *st, const char *domain, const char *local,
				       const struct scram_cred *sha1,
				       const struct scram_cred *sha256)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_USER_SET_CREDS);

	if (!stmt)
		return XS_IO;
	return store_sq_keyed_write(s, stmt, store_bind_account(stmt, domain, local, sha1, sha256),
				    "user set creds");
}

/* Runs a write keyed by (domain, localpart) that may touch no row. */
static enum xs store_sq_account_exec(struct store_sqlite *s, enum sq_id id, const char *domain,
				     const char *local, const char *what)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, id);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, what);
	store_sq_release(stmt);
	return ret;
}

/* The roster, the offline queue, the stored documents, the blocklist, the
 * archive and its preferences and the PEP nodes go with the account, in
 * the same transaction: an account deleted and created again must start
 * empty, not inherit the old one's contacts (and the subscriptions they
 * were granted), the messages sent to it, its private XML and vCard, the
 * JIDs it blocked, its conversations, what it chose not to archive or
 * what it published. */
static enum xs store_sq_user_delete(struct store *st, const char *domain, const char *local)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_USER_DELETE);

	if (!stmt)
		return XS_IO;
	enum xs ret = store_sq_run(s, SQ_BEGIN_WRITE, "begin");
	if (ret != XS_OK)
		return ret;
	ret = store_sq_keyed_write(s, stmt, store_bind_names(stmt, domain, local), "user delete");
	if (ret == XS_OK)
		ret = store_sq_account_exec(s, SQ_ROSTER_DROP, domain, local, "user delete roster");
	/* The version is bumped, not dropped: a client that cached the old
	 * account's roster under version N must not take the new account's
	 * N for current (RFC 6121 2.6). */
	if (ret == XS_OK)
		ret = store_sq_account_exec(s, SQ_ROSTER_BUMP, domain, local,
					    "user delete roster version");
	if (ret == XS_OK)
		ret = store_sq_account_exec(s, SQ_OFFLINE_DROP, domain, local,
					    "user delete offline");
	if (ret == XS_OK)
		ret = store_sq_account_exec(s, SQ_DATA_DROP, domain, local, "user delete data");
	if (ret == XS_OK)
		ret = store_sq_account_exec(s, SQ_BLOCK_DROP, domain, local,
					    "user delete blocklist");
	if (ret == XS_OK)
		ret = store_sq_account_exec(s, SQ_MAM_DROP, domain, local, "user delete archive");
	if (ret == XS_OK)
		ret = store_sq_pep_drop(s, domain, local);
	if (ret == XS_OK)
		ret = store_sq_mam_prefs_drop(s, domain, local);
	return store_sq_finish(s, ret);
}

/* Copies one row's credential slot into out, checking sizes: the file is
 * outside our control (restored backups, hand edits), and a short blob must
 * not turn into a read past its end. */
static enum xs store_sq_read_cred(struct store_sqlite *s, sqlite3_stmt *stmt,
				  enum scram_hash hash, const char *domain, const char *local,
				  struct scram_cred *out)
{
	if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
		return XS_NOTFOUND; /* the account has no credential for this hash */

	size_t hl = scram_hash_len(hash);
	const void *salt = sqlite3_column_blob(stmt, 0);
	int salt_len = sqlite3_column_bytes(stmt, 0);
	sqlite3_int64 iter = sqlite3_column_int64(stmt, 1);
	const void *stored = sqlite3_column_blob(stmt, 2);
	int stored_len = sqlite3_column_bytes(stmt, 2);
	const void *server = sqlite3_column_blob(stmt, 3);
	int server_len = sqlite3_column_bytes(stmt, 3);

	if (!salt || salt_len <= 0 || salt_len > SCRAM_MAX_SALT || iter <= 0 ||
	    iter > UINT_MAX || !stored || (size_t)stored_len != hl || !server ||
	    (size_t)server_len != hl) {
		LOG_ERR("store: malformed %s credential for %s@%s in %s",
			hash == SCRAM_SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256", local, domain,
			s->path);
		return XS_IO;
	}
	out->hash = hash;
	out->iterations = (unsigned)iter;
	out->salt_len = (size_t)salt_len;
	memcpy(out->salt, salt, (size_t)salt_len);
	memcpy(out->stored_key, stored, hl);
	memcpy(out->server_key, server, hl);
	return XS_OK;
}

static enum xs store_sq_user_get_cred(struct store *st, const char *domain, const char *local,
				      enum scram_hash hash, struct scram_cred *out)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, hash == SCRAM_SHA1 ? SQ_CRED_SHA1 : SQ_CRED_SHA256);
	enum xs ret;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		ret = store_sq_read_cred(s, stmt, hash, domain, local, out);
	else if (rc == SQLITE_DONE)
		ret = XS_NOTFOUND;
	else
		ret = store_sq_fail(s, rc, "user get cred");
	store_sq_release(stmt);
	if (ret != XS_OK)
		memset(out, 0, sizeof(*out));
	return ret;
}

static enum xs store_sq_user_exists(struct store *st, const char *domain, const char *local,
				    bool *out)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_USER_EXISTS);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*out = rc == SQLITE_ROW;
	else
		ret = store_sq_fail(s, rc, "user exists");
	store_sq_release(stmt);
	return ret;
}

static enum xs store_sq_user_list(struct store *st, const char *domain,
				  void (*cb)(void *arg, const char *local), void *arg)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_USER_LIST);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = sqlite3_bind_text(stmt, 1, domain, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			const unsigned char *local = sqlite3_column_text(stmt, 0);
			if (local)
				cb(arg, (const char *)local);
		}
	}
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "user list");
	store_sq_release(stmt);
	return ret;
}

static enum xs store_sq_iteration_counts(struct store *st, enum scram_hash hash,
					 struct store_iter_count *out, size_t max, size_t *n)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, hash == SCRAM_SHA1 ? SQ_ITER_SHA1 : SQ_ITER_SHA256);
	enum xs ret = XS_OK;
	int rc;

	if (!stmt)
		return XS_IO;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		sqlite3_int64 it = sqlite3_column_int64(stmt, 0), c = sqlite3_column_int64(stmt, 1);
		if (*n < max && it > 0 && it <= UINT32_MAX && c > 0) {
			out[*n].iterations = (unsigned)it;
			out[*n].count = (unsigned long)c;
			(*n)++;
		}
	}
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "iteration counts");
	store_sq_release(stmt);
	return ret;
}

/* ?1 ?2 the account, ?3 the contact: the key of one roster item. */
static int store_bind_contact(sqlite3_stmt *stmt, const char *domain, const char *local,
			      const char *contact)
{
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, contact, -1, SQLITE_STATIC);
	return rc;
}

/* Points it at the current row of SQ_ROSTER_ITEMS or SQ_ROSTER_ITEM (valid
 * until the next step or reset).  The file is outside our control
 * (restored backups, hand edits), so a row the interface does not allow is
 * an error rather than something handed to the caller.  The casts drop the
 * const of SQLite's buffers; they are never written (a get's caller sees
 * the item as const, an update's apply gets copies). */
static enum xs store_sq_read_item(struct store_sqlite *s, sqlite3_stmt *stmt, const char *domain,
				  const char *local, struct store_roster_item *it)
{
	/* Asked before any text conversion, which may change the type. */
	bool has_name = sqlite3_column_type(stmt, 1) != SQLITE_NULL;
	sqlite3_int64 sub = sqlite3_column_int64(stmt, 3);
	sqlite3_int64 ask = sqlite3_column_int64(stmt, 4);

	it->contact = (char *)sqlite3_column_text(stmt, 0);
	it->name = has_name ? (char *)sqlite3_column_text(stmt, 1) : NULL;
	it->groups = (char *)sqlite3_column_text(stmt, 2);
	/* A value read as NULL that is not SQL NULL: SQLite ran out of
	 * memory converting it. */
	if ((!it->contact || (has_name && !it->name) || !it->groups) &&
	    sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return store_sq_fail(s, SQLITE_NOMEM, "roster get");
	if (!store__name_ok(it->contact) || (has_name && !it->name) || !it->groups || sub < 0 ||
	    sub > ROSTER_SUB_BOTH || ask < 0 || ask > ROSTER_ASK_ALL) {
		LOG_ERR("store: malformed roster item of %s@%s in %s", local, domain, s->path);
		return XS_IO;
	}
	it->subscription = (unsigned char)sub;
	it->ask = (unsigned char)ask;
	return XS_OK;
}

/* Steps through the rows statement id gives for one account and hands
 * each to row, stopping at its first error: what reading a roster and an
 * offline queue share. */
static enum xs store_sq_each_row(struct store_sqlite *s, enum sq_id id, const char *domain,
				 const char *local, const char *what,
				 enum xs (*row)(struct store_sqlite *s, sqlite3_stmt *stmt,
						const char *domain, const char *local, void *arg),
				 void *arg)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, id);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	while (ret == XS_OK && (rc == SQLITE_OK || rc == SQLITE_ROW)) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			ret = row(s, stmt, domain, local, arg);
	}
	if (ret == XS_OK && rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, what);
	store_sq_release(stmt);
	return ret;
}

struct roster_cb {
	void (*cb)(void *arg, const struct store_roster_item *it);
	void *arg;
};

static enum xs store_sq_roster_row(struct store_sqlite *s, sqlite3_stmt *stmt,
				   const char *domain, const char *local, void *arg)
{
	struct roster_cb *rc = arg;
	struct store_roster_item it;
	enum xs ret = store_sq_read_item(s, stmt, domain, local, &it);
	if (ret == XS_OK)
		rc->cb(rc->arg, &it);
	return ret;
}

static enum xs store_sq_roster_items(struct store_sqlite *s, const char *domain,
				     const char *local,
				     void (*cb)(void *arg, const struct store_roster_item *it),
				     void *arg)
{
	struct roster_cb rc = { cb, arg };
	return store_sq_each_row(s, SQ_ROSTER_ITEMS, domain, local, "roster get",
				 store_sq_roster_row, &rc);
}

/* The account's roster version; 0 when it never changed (no row). */
static enum xs store_sq_roster_ver(struct store_sqlite *s, const char *domain,
				   const char *local, uint64_t *ver)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_ROSTER_VER);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(stmt, 0);
		if (v < 0) {
			LOG_ERR("store: malformed roster version of %s@%s in %s", local, domain,
				s->path);
			ret = XS_IO;
		} else {
			*ver = (uint64_t)v;
		}
	} else if (rc == SQLITE_DONE) {
		*ver = 0;
	} else {
		ret = store_sq_fail(s, rc, "roster version");
	}
	store_sq_release(stmt);
	return ret;
}

struct block_cb {
	void (*cb)(void *arg, const char *jid);
	void *arg;
};

/* Hands on the current row of SQ_BLOCK_LIST.  As for roster items, a JID
 * the wrappers would never have stored (empty, too long: a hand edit) is
 * an error rather than something to match or show. */
static enum xs store_sq_block_row(struct store_sqlite *s, sqlite3_stmt *stmt, const char *domain,
				  const char *local, void *arg)
{
	struct block_cb *bc = arg;
	const char *jid = (const char *)sqlite3_column_text(stmt, 0);

	/* NULL for a value that is not SQL NULL (the column is NOT NULL):
	 * SQLite ran out of memory converting it. */
	if (!jid && sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return store_sq_fail(s, SQLITE_NOMEM, "block list");
	if (!store__jid_ok(jid)) {
		LOG_ERR("store: malformed blocklist entry of %s@%s in %s", local, domain, s->path);
		return XS_IO;
	}
	bc->cb(bc->arg, jid);
	return XS_OK;
}

static enum xs store_sq_block_rows(struct store_sqlite *s, const char *domain,
				   const char *local, void (*cb)(void *arg, const char *jid),
				   void *arg)
{
	struct block_cb bc = { cb, arg };
	return store_sq_each_row(s, SQ_BLOCK_LIST, domain, local, "block list",
				 store_sq_block_row, &bc);
}

/* The items and the version come from one snapshot: a client caches the
 * items under the version (XEP-0237), so the pair must never mix two
 * states of the file (the admin tool may write in between).  The
 * blocklist, when asked for, is read in the same snapshot, so that a login
 * gets all it needs in one transaction. */
static enum xs store_sq_roster_get(struct store *st, const char *domain, const char *local,
				   void (*cb)(void *arg, const struct store_roster_item *it),
				   void *arg, uint64_t *ver,
				   void (*block_cb)(void *arg, const char *jid), void *block_arg,
				   const uint64_t *known, bool *unchanged)
{
	struct store_sqlite *s = to_sq(st);
	enum xs ret = store_sq_run(s, SQ_BEGIN_READ, "begin");

	if (ret != XS_OK)
		return ret;
	/* the version first: when the client's copy is current, no item is
	 * read (same snapshot either way) */
	ret = store_sq_roster_ver(s, domain, local, ver);
	bool same = ret == XS_OK && known && *ver == *known;
	if (unchanged)
		*unchanged = same;
	if (ret == XS_OK && !same)
		ret = store_sq_roster_items(s, domain, local, cb, arg);
	if (ret == XS_OK && block_cb)
		ret = store_sq_block_rows(s, domain, local, block_cb, block_arg);
	return store_sq_finish(s, ret);
}

/* XS_OK when the roster can take contact: it is there already (replacing
 * an item never grows the roster) or there are fewer than max items. */
static enum xs store_sq_roster_room(struct store_sqlite *s, const char *domain,
				    const char *local, const char *contact, unsigned max)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_ROSTER_ROOM);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_contact(stmt, domain, local, contact);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW)
		ret = store_sq_fail(s, rc, "roster count");
	else if (!sqlite3_column_int(stmt, 0) && sqlite3_column_int64(stmt, 1) >= max)
		ret = XS_LIMIT;
	store_sq_release(stmt);
	return ret;
}

static enum xs store_sq_roster_write(struct store_sqlite *s, const char *domain,
				     const char *local, const struct store_roster_item *it)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_ROSTER_PUT);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_contact(stmt, domain, local, it->contact);
	if (rc == SQLITE_OK)
		rc = it->name ? sqlite3_bind_text(stmt, 4, it->name, -1, SQLITE_STATIC)
			      : sqlite3_bind_null(stmt, 4);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(stmt, 5, it->subscription);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(stmt, 6, it->ask);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 7, it->groups, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "roster put");
	store_sq_release(stmt);
	return ret;
}

/* Bumps the account's version (the first change makes it 1) and reads
 * the new value back, inside the caller's transaction. */
static enum xs store_sq_roster_bump(struct store_sqlite *s, const char *domain,
				    const char *local, uint64_t *ver)
{
	enum xs ret = store_sq_account_exec(s, SQ_ROSTER_BUMP, domain, local, "roster version");
	if (ret == XS_OK)
		ret = store_sq_roster_ver(s, domain, local, ver);
	return ret;
}

/* Reads the item for contact, if there is one, into *it (contact stays
 * the caller's string).  SQLite's buffers last only until the statement is
 * reset, and the item must outlive that (apply, then the write, use other
 * statements), so name and groups are copied into one allocation, *held,
 * which the caller frees. */
static enum xs store_sq_roster_find(struct store_sqlite *s, const char *domain,
				    const char *local, const char *contact,
				    struct store_roster_item *it, bool *existed, char **held)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_ROSTER_ITEM);
	struct store_roster_item row;
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_contact(stmt, domain, local, contact);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		ret = store_sq_read_item(s, stmt, domain, local, &row);
	else if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "roster read");
	if (rc == SQLITE_ROW && ret == XS_OK) {
		size_t nl = row.name ? strlen(row.name) + 1 : 0, gl = strlen(row.groups) + 1;
		char *buf = malloc(nl + gl);
		if (!buf) {
			ret = XS_NOMEM;
		} else {
			memcpy(buf, row.groups, gl);
			if (row.name)
				memcpy(buf + gl, row.name, nl);
			it->name = row.name ? buf + gl : NULL;
			it->groups = buf;
			it->subscription = row.subscription;
			it->ask = row.ask;
			*existed = true;
			*held = buf;
		}
	}
	store_sq_release(stmt);
	return ret;
}

/* Does what apply asked for with the item, inside the caller's transaction,
 * and sets *ver to the version afterwards. */
static enum xs store_sq_roster_change(struct store_sqlite *s, const char *domain,
				      const char *local, const char *contact,
				      const struct store_roster_item *it, bool existed,
				      enum roster_change change, unsigned max_items, uint64_t *ver)
{
	enum xs ret = XS_OK;

	switch (change) {
	case ROSTER_UNCHANGED:
		return store_sq_roster_ver(s, domain, local, ver);
	case ROSTER_DELETE: {
		if (!existed)
			return store_sq_roster_ver(s, domain, local, ver);
		/* The row was read under the same write lock: it is there. */
		sqlite3_stmt *stmt = store_sq_stmt(s, SQ_ROSTER_DELETE);
		if (!stmt)
			return XS_IO;
		int rc = store_bind_contact(stmt, domain, local, contact);
		ret = store_sq_keyed_write(s, stmt, rc, "roster remove");
		break;
	}
	case ROSTER_WRITE:
		/* apply is the caller's code: what it left is checked as the
		 * wrapper checks a put, and the key must be the one read. */
		if (it->contact != contact || !it->groups || it->subscription > ROSTER_SUB_BOTH ||
		    it->ask > ROSTER_ASK_ALL)
			return XS_INVAL;
		if (!existed && max_items > 0)
			ret = store_sq_roster_room(s, domain, local, contact, max_items);
		if (ret == XS_OK)
			ret = store_sq_roster_write(s, domain, local, it);
		break;
	default:
		return XS_INVAL; /* not a roster_change */
	}
	if (ret == XS_OK)
		ret = store_sq_roster_bump(s, domain, local, ver);
	return ret;
}

/* Every roster change goes through here (put and remove too), so the read,
 * the decision and the write see one state of the file. */
static enum xs store_sq_roster_update(struct store *st, const char *domain, const char *local,
				      const char *contact,
				      enum roster_change (*apply)(void *arg,
								  struct store_roster_item *it,
								  bool existed),
				      void *arg, unsigned max_items, uint64_t *ver)
{
	struct store_sqlite *s = to_sq(st);
	struct store_roster_item it = { .contact = (char *)contact, .groups = (char *)"" };
	bool existed = false;
	char *held = NULL;
	uint64_t v = 0;
	enum xs ret = store_sq_run(s, SQ_BEGIN_WRITE, "begin");

	if (ret != XS_OK)
		return ret;
	ret = store_sq_roster_find(s, domain, local, contact, &it, &existed, &held);
	if (ret == XS_OK) {
		enum roster_change change = apply(arg, &it, existed);
		ret = store_sq_roster_change(s, domain, local, contact, &it, existed, change,
					     max_items, &v);
	}
	ret = store_sq_finish(s, ret);
	free(held);
	/* Only a committed version is reported. */
	if (ret == XS_OK)
		*ver = v;
	return ret;
}

/* A put is an update that replaces everything but the contact. */
static enum roster_change store_sq_put_apply(void *arg, struct store_roster_item *it,
					     bool existed)
{
	const struct store_roster_item *src = arg;

	(void)existed;
	it->name = src->name;
	it->groups = src->groups;
	it->subscription = src->subscription;
	it->ask = src->ask;
	return ROSTER_WRITE;
}

static enum xs store_sq_roster_put(struct store *st, const char *domain, const char *local,
				   const struct store_roster_item *it, unsigned max_items,
				   uint64_t *ver)
{
	return store_sq_roster_update(st, domain, local, it->contact, store_sq_put_apply,
				      (void *)it, max_items, ver);
}

/* A remove is an update that deletes, and tells whether there was
 * anything to delete. */
static enum roster_change store_sq_remove_apply(void *arg, struct store_roster_item *it,
						bool existed)
{
	(void)it;
	*(bool *)arg = existed;
	return ROSTER_DELETE;
}

static enum xs store_sq_roster_remove(struct store *st, const char *domain, const char *local,
				      const char *contact, uint64_t *ver)
{
	bool found = false;
	uint64_t v = 0;
	enum xs ret = store_sq_roster_update(st, domain, local, contact, store_sq_remove_apply,
					     &found, 0, &v);

	if (ret == XS_OK && !found)
		return XS_NOTFOUND; /* nothing was written: version unchanged */
	if (ret == XS_OK)
		*ver = v;
	return ret;
}

/* XS_OK when local@domain exists and its queue holds fewer than max
 * messages (0: no limit). */
static enum xs store_sq_offline_room(struct store_sqlite *s, const char *domain,
				     const char *local, unsigned max)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_OFFLINE_ROOM);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 3, (sqlite3_int64)max);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW)
		ret = store_sq_fail(s, rc, "offline count");
	else if (!sqlite3_column_int(stmt, 0))
		ret = XS_NOTFOUND;
	else if (max > 0 && sqlite3_column_int64(stmt, 1) >= max)
		ret = XS_LIMIT;
	store_sq_release(stmt);
	return ret;
}

static enum xs store_sq_offline_insert(struct store_sqlite *s, const char *domain,
				       const char *local, const char *xml, size_t len)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_OFFLINE_PUSH);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	/* A blob, so the stanza's bytes come back exactly as given: no
	 * encoding conversion, no stop at a NUL.  blob64 takes the size_t
	 * length as it is; one beyond SQLite's limit fails (SQLITE_TOOBIG)
	 * rather than being cut short. */
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob64(stmt, 3, xml, (sqlite3_uint64)len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 4, (sqlite3_int64)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "offline push");
	store_sq_release(stmt);
	return ret;
}

/* The check and the insert share one write transaction, so another
 * process (the admin tool deleting the account, or pushing too) cannot
 * slip in between them. */
static enum xs store_sq_offline_push(struct store *st, const char *domain, const char *local,
				     const char *xml, size_t len, unsigned max_count)
{
	struct store_sqlite *s = to_sq(st);
	enum xs ret = store_sq_run(s, SQ_BEGIN_WRITE, "begin");

	if (ret != XS_OK)
		return ret;
	ret = store_sq_offline_room(s, domain, local, max_count);
	if (ret == XS_OK)
		ret = store_sq_offline_insert(s, domain, local, xml, len);
	return store_sq_finish(s, ret);
}

/* Points m at the current row of SQ_OFFLINE_LIST (valid until the next
 * step).  As for roster items, a row the interface does not allow (an
 * empty message, an id the table would never assign) is an error rather
 * than something handed on for delivery.  The cast drops the const of
 * SQLite's buffer; the caller only sees the message as const. */
static enum xs store_sq_read_msg(struct store_sqlite *s, sqlite3_stmt *stmt, const char *domain,
				 const char *local, struct store_offline_msg *m)
{
	sqlite3_int64 id = sqlite3_column_int64(stmt, 0);
	const void *xml = sqlite3_column_blob(stmt, 1);
	int len = sqlite3_column_bytes(stmt, 1);

	/* NULL for a value that is not empty: SQLite ran out of memory
	 * converting it (a hand-edited row holding a number). */
	if (!xml && sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return store_sq_fail(s, SQLITE_NOMEM, "offline list");
	if (id <= 0 || !xml || len <= 0) {
		LOG_ERR("store: malformed offline message %lld of %s@%s in %s", (long long)id,
			local, domain, s->path);
		return XS_IO;
	}
	m->id = (uint64_t)id;
	m->xml = (char *)xml;
	m->len = (size_t)len;
	return XS_OK;
}

struct offline_cb {
	void (*cb)(void *arg, const struct store_offline_msg *m);
	void *arg;
};

static enum xs store_sq_offline_row(struct store_sqlite *s, sqlite3_stmt *stmt,
				    const char *domain, const char *local, void *arg)
{
	struct offline_cb *oc = arg;
	struct store_offline_msg m;
	enum xs ret = store_sq_read_msg(s, stmt, domain, local, &m);
	if (ret == XS_OK)
		oc->cb(oc->arg, &m);
	return ret;
}

static enum xs store_sq_offline_rows(struct store_sqlite *s, const char *domain,
				     const char *local,
				     void (*cb)(void *arg, const struct store_offline_msg *m),
				     void *arg)
{
	struct offline_cb oc = { cb, arg };
	return store_sq_each_row(s, SQ_OFFLINE_LIST, domain, local, "offline list",
				 store_sq_offline_row, &oc);
}

/* One statement reads one snapshot already; the explicit read transaction
 * keeps the list to one state of the file should it ever read more (as
 * the roster get does), and ends through store_sq_finish like every other
 * transaction here. */
static enum xs store_sq_offline_list(struct store *st, const char *domain, const char *local,
				     void (*cb)(void *arg, const struct store_offline_msg *m),
				     void *arg)
{
	struct store_sqlite *s = to_sq(st);
	enum xs ret = store_sq_run(s, SQ_BEGIN_READ, "begin");

	if (ret != XS_OK)
		return ret;
	ret = store_sq_offline_rows(s, domain, local, cb, arg);
	return store_sq_finish(s, ret);
}

/* One statement, atomic by itself.  Only the ids the caller has seen go:
 * a message pushed after its list has a larger id and stays. */
static enum xs store_sq_offline_delete(struct store *st, const char *domain, const char *local,
				       uint64_t upto_id)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_OFFLINE_DELETE);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	/* Ids are positive int64s; anything above INT64_MAX means "all of
	 * them", not a negative number that would match none. */
	sqlite3_int64 upto = upto_id > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)upto_id;
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 3, upto);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "offline delete");
	store_sq_release(stmt);
	return ret;
}

/* ?1 ?2 the account, ?3 ?4 the kind and key: one stored document. */
static int store_bind_doc(sqlite3_stmt *stmt, const char *domain, const char *local,
			  const char *kind, const char *key)
{
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, kind, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 4, key, -1, SQLITE_STATIC);
	return rc;
}

/* Copies the current row of SQ_DATA_GET into a malloc'd, NUL-terminated
 * buffer: the caller keeps it past the statement's reset.  As for offline
 * messages, an empty document (never stored: put with len 0 deletes) is a
 * hand edit and an error, not a document. */
static enum xs store_sq_read_doc(struct store_sqlite *s, sqlite3_stmt *stmt, const char *domain,
				 const char *local, const char *kind, char **xml, size_t *len)
{
	const void *blob = sqlite3_column_blob(stmt, 0);
	int n = sqlite3_column_bytes(stmt, 0);

	/* NULL for a value that is not empty: SQLite ran out of memory
	 * converting it (a hand-edited row holding a number). */
	if (!blob && sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return store_sq_fail(s, SQLITE_NOMEM, "data get");
	if (!blob || n <= 0) {
		LOG_ERR("store: malformed %s document of %s@%s in %s", kind, local, domain,
			s->path);
		return XS_IO;
	}
	char *copy = malloc((size_t)n + 1);
	if (!copy)
		return XS_NOMEM;
	memcpy(copy, blob, (size_t)n);
	copy[n] = '\0';
	*xml = copy;
	*len = (size_t)n;
	return XS_OK;
}

/* One statement reads one snapshot; nothing else is read with it. */
static enum xs store_sq_data_get(struct store *st, const char *domain, const char *local,
				 const char *kind, const char *key, char **xml, size_t *len)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_DATA_GET);
	enum xs ret;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_doc(stmt, domain, local, kind, key);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		ret = store_sq_read_doc(s, stmt, domain, local, kind, xml, len);
	else if (rc == SQLITE_DONE)
		ret = XS_NOTFOUND;
	else
		ret = store_sq_fail(s, rc, "data get");
	store_sq_release(stmt);
	return ret;
}

/* XS_OK when local@domain exists and can take key: it is a document of
 * kind already (replacing one never adds one) or there are fewer than max
 * of that kind (0: no limit). */
static enum xs store_sq_data_room(struct store_sqlite *s, const char *domain, const char *local,
				  const char *kind, const char *key, unsigned max)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_DATA_ROOM);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_doc(stmt, domain, local, kind, key);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 5, (sqlite3_int64)max);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW)
		ret = store_sq_fail(s, rc, "data count");
	else if (!sqlite3_column_int(stmt, 0))
		ret = XS_NOTFOUND;
	else if (max > 0 && !sqlite3_column_int(stmt, 1) && sqlite3_column_int64(stmt, 2) >= max)
		ret = XS_LIMIT;
	store_sq_release(stmt);
	return ret;
}

/* Runs SQ_DATA_PUT (xml given) or SQ_DATA_DELETE (xml NULL) for one
 * document, inside the caller's transaction. */
static enum xs store_sq_data_write(struct store_sqlite *s, const char *domain, const char *local,
				   const char *kind, const char *key, const char *xml, size_t len)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, xml ? SQ_DATA_PUT : SQ_DATA_DELETE);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_doc(stmt, domain, local, kind, key);
	/* A blob of exactly len bytes, as for offline messages: no encoding
	 * conversion, no stop at a NUL, and one beyond SQLite's limit fails
	 * (SQLITE_TOOBIG) rather than being cut short. */
	if (rc == SQLITE_OK && xml)
		rc = sqlite3_bind_blob64(stmt, 5, xml, (sqlite3_uint64)len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, xml ? "data put" : "data delete");
	store_sq_release(stmt);
	return ret;
}

/* The check and the write share one write transaction, so another process
 * (the admin tool deleting the account, or storing too) cannot slip in
 * between them.  A delete needs no account: there is nothing to keep for
 * a name nobody owns, and removing nothing is not an error. */
static enum xs store_sq_data_put(struct store *st, const char *domain, const char *local,
				 const char *kind, const char *key, const char *xml, size_t len,
				 unsigned max_keys)
{
	struct store_sqlite *s = to_sq(st);
	enum xs ret = store_sq_run(s, SQ_BEGIN_WRITE, "begin");

	if (ret != XS_OK)
		return ret;
	if (len > 0)
		ret = store_sq_data_room(s, domain, local, kind, key, max_keys);
	if (ret == XS_OK)
		ret = store_sq_data_write(s, domain, local, kind, key, len > 0 ? xml : NULL, len);
	return store_sq_finish(s, ret);
}

/* One statement reads one snapshot; nothing else is read with it. */
static enum xs store_sq_block_list(struct store *st, const char *domain, const char *local,
				   void (*cb)(void *arg, const char *jid), void *arg)
{
	return store_sq_block_rows(to_sq(st), domain, local, cb, arg);
}

/* Inserts (add) or deletes one JID inside the caller's transaction and
 * adds what that changed (0 or 1 row) to *count. */
static enum xs store_sq_block_write(struct store_sqlite *s, const char *domain,
				    const char *local, const char *jid, bool add, size_t *count)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, add ? SQ_BLOCK_INSERT : SQ_BLOCK_DELETE);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_contact(stmt, domain, local, jid);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, add ? "block add" : "block remove");
	else
		*count += (size_t)sqlite3_changes(s->db);
	store_sq_release(stmt);
	return ret;
}

/* XS_LIMIT when the account now holds more than max entries: counted
 * after the inserts, inside their transaction, so a JID given twice or one
 * already there is never counted as new. */
static enum xs store_sq_block_room(struct store_sqlite *s, const char *domain,
				   const char *local, unsigned max)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_BLOCK_COUNT);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 3, (sqlite3_int64)max + 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW)
		ret = store_sq_fail(s, rc, "block count");
	else if (sqlite3_column_int64(stmt, 0) > max)
		ret = XS_LIMIT;
	store_sq_release(stmt);
	return ret;
}

/* All of the change, and the limit check after it, share one write
 * transaction: a refused add leaves none of its JIDs behind, and another
 * process cannot slip in between the inserts and the count. */
static enum xs store_sq_block_change(struct store *st, const char *domain, const char *local,
				     const char *const *jids, size_t n, bool add,
				     unsigned max_items, size_t *changed)
{
	struct store_sqlite *s = to_sq(st);
	size_t count = 0;
	enum xs ret = store_sq_run(s, SQ_BEGIN_WRITE, "begin");

	if (ret != XS_OK)
		return ret;
	if (!add && n == 0) {
		ret = store_sq_account_exec(s, SQ_BLOCK_DROP, domain, local, "block remove all");
		/* The count of that DELETE: reset does not change it. */
		if (ret == XS_OK)
			count = (size_t)sqlite3_changes(s->db);
	}
	for (size_t i = 0; ret == XS_OK && i < n; i++)
		ret = store_sq_block_write(s, domain, local, jids[i], add, &count);
	/* An add that inserted nothing cannot have grown the list: it is not
	 * refused even when a lowered limit is already exceeded. */
	if (ret == XS_OK && add && count > 0 && max_items > 0)
		ret = store_sq_block_room(s, domain, local, max_items);
	ret = store_sq_finish(s, ret);
	/* Only a committed change is reported. */
	if (ret == XS_OK)
		*changed = count;
	return ret;
}

/* One statement, one snapshot: whether any entry equals one of the four
 * forms, bound as pieces of jid itself. */
static enum xs store_sq_block_match(struct store *st, const char *domain, const char *local,
				    const char *jid, bool *blocked)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_BLOCK_MATCH);
	struct jid_piece f[JID_FORMS];
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	jid_match_forms(jid, f);
	int rc = store_bind_names(stmt, domain, local);
	/* The lengths fit an int: the wrapper keeps jid to STORE_JID_MAX. */
	for (int i = 0; i < JID_FORMS && rc == SQLITE_OK; i++)
		rc = sqlite3_bind_text(stmt, 3 + i, f[i].s, (int)f[i].len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*blocked = sqlite3_column_int(stmt, 0) != 0;
	else
		ret = store_sq_fail(s, rc, "block match");
	store_sq_release(stmt);
	return ret;
}

/* Runs one of the archive's inserts for it; *stored: a row went in. */
static enum xs store_sq_mam_put(struct store_sqlite *s, enum sq_id id,
				const struct store_mam_item *it, bool *stored)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, id);
	enum xs ret = XS_OK;

	*stored = false;
	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, it->domain, it->local);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, it->with, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 4, (sqlite3_int64)it->stamp_us);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 5, it->stanza_id, -1, SQLITE_STATIC);
	/* A blob of exactly len bytes, as for offline messages. */
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob64(stmt, 6, it->xml, (sqlite3_uint64)it->len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		ret = XS_INVAL; /* the id is taken in this archive: the caller's mistake */
	else if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "archive append");
	else
		*stored = sqlite3_changes(s->db) > 0;
	store_sq_release(stmt);
	return ret;
}

/* Inserts one item inside the caller's transaction.  The insert itself
 * stores it for an account without preferences; when it stored nothing,
 * the account either does not exist or has preferences, which are asked
 * (store_sqlite_mam_prefs.c) and, when they allow it, the item goes in
 * after all.  *denied: they did not. */
static enum xs store_sq_mam_insert(struct store_sqlite *s, const struct store_mam_item *it,
				   bool *denied)
{
	bool stored = false, allow = true;
	enum xs ret = store_sq_mam_put(s, SQ_MAM_INSERT, it, &stored);

	*denied = false;
	if (ret != XS_OK || stored)
		return ret;
	ret = store_sq_mam_prefs_allow(s, it->domain, it->local, it->with, &allow);
	if (ret == XS_OK && !allow)
		*denied = true;
	else if (ret == XS_OK)
		ret = store_sq_mam_put(s, SQ_MAM_INSERT_ALLOWED, it, &stored);
	return ret;
}

/* One write transaction for the whole batch: one commit (and with WAL one
 * append to the log) for many messages, which is what makes archiving
 * every routed message affordable.  A refused item rolls back the rest;
 * one the preferences refuse is only left out. */
static enum xs store_sq_mam_append(struct store *st, const struct store_mam_item *items,
				   size_t n, bool *denied)
{
	struct store_sqlite *s = to_sq(st);
	enum xs ret = store_sq_run(s, SQ_BEGIN_WRITE, "begin");
	bool d = false;

	if (ret != XS_OK)
		return ret;
	for (size_t i = 0; ret == XS_OK && i < n; i++) {
		ret = store_sq_mam_insert(s, &items[i], &d);
		if (denied)
			denied[i] = d;
	}
	return store_sq_finish(s, ret);
}

/* *id is the row of stanza_id in the account's archive; XS_NOTFOUND when
 * there is none. */
static enum xs store_sq_mam_anchor(struct store_sqlite *s, const char *domain,
				   const char *local, const char *stanza_id, sqlite3_int64 *id)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_MAM_ANCHOR);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_contact(stmt, domain, local, stanza_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(stmt, 0);
	else if (rc == SQLITE_DONE)
		ret = XS_NOTFOUND;
	else
		ret = store_sq_fail(s, rc, "archive anchor");
	store_sq_release(stmt);
	return ret;
}

/* Binds the parameters the archive queries share (sq_text): the id range
 * (lo, hi) is exclusive at both ends. */
static int store_bind_mam(sqlite3_stmt *stmt, const char *domain, const char *local,
			  const struct store_mam_filter *f, sqlite3_int64 lo, sqlite3_int64 hi,
			  sqlite3_int64 limit)
{
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK && f->with)
		rc = sqlite3_bind_text(stmt, 3, f->with, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 4, lo);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 5, hi);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 6, f->start_us ? f->start_us : INT64_MIN);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 7, f->end_us ? f->end_us : INT64_MAX);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 8, limit);
	return rc;
}

/* For a page taken from the newest end: walks the index alone, newest
 * first, over at most max + 1 matches.  When there are more than max, the
 * page begins at the max-th and *lo becomes the id just below it (the
 * range stays exclusive) and the page is not complete: an older match is
 * left.  Otherwise every match fits, *lo stays and the page is complete. */
static enum xs store_sq_mam_start(struct store_sqlite *s, const char *domain, const char *local,
				  const struct store_mam_filter *f, sqlite3_int64 *lo,
				  sqlite3_int64 hi, bool *complete)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, f->with ? SQ_MAM_IDS_WITH : SQ_MAM_IDS);
	sqlite3_int64 first = 0;
	unsigned n = 0;
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_mam(stmt, domain, local, f, *lo, hi, (sqlite3_int64)f->max + 1);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW && ++n == f->max)
			first = sqlite3_column_int64(stmt, 0);
	}
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "archive query");
	store_sq_release(stmt);
	if (ret == XS_OK) {
		*complete = n <= f->max;
		if (!*complete)
			*lo = first - 1;
	}
	return ret;
}

struct mam_cb {
	void (*cb)(void *arg, const char *stanza_id, int64_t stamp_us, const char *with,
		   const char *xml, size_t len);
	void *arg;
};

/* Hands on the current row of SQ_MAM_ROWS(_WITH).  As elsewhere, a row
 * the wrappers would never have stored (an empty id, JID or message: a
 * hand edit) is an error rather than something to send a client. */
static enum xs store_sq_mam_row(struct store_sqlite *s, sqlite3_stmt *stmt, const char *domain,
				const char *local, const struct mam_cb *mc)
{
	const char *id = (const char *)sqlite3_column_text(stmt, 0);
	sqlite3_int64 stamp = sqlite3_column_int64(stmt, 1);
	const char *with = (const char *)sqlite3_column_text(stmt, 2);
	const char *xml = sqlite3_column_blob(stmt, 3);
	int len = sqlite3_column_bytes(stmt, 3);

	/* NULL for a value that is not SQL NULL (the columns are NOT NULL)
	 * and not empty: SQLite ran out of memory converting it. */
	if ((!id || !with || !xml) && sqlite3_errcode(s->db) == SQLITE_NOMEM)
		return store_sq_fail(s, SQLITE_NOMEM, "archive query");
	if (!store__name_ok(id) || !store__name_ok(with) || !xml || len <= 0) {
		LOG_ERR("store: malformed archived message of %s@%s in %s", local, domain,
			s->path);
		return XS_IO;
	}
	mc->cb(mc->arg, id, (int64_t)stamp, with, xml, (size_t)len);
	return XS_OK;
}

/* Reads the page oldest first: at most max rows to cb, and whether a
 * further match follows (limit max + 1, the last one only counted). */
static enum xs store_sq_mam_rows(struct store_sqlite *s, const char *domain, const char *local,
				 const struct store_mam_filter *f, sqlite3_int64 lo,
				 sqlite3_int64 hi, const struct mam_cb *mc, bool *more)
{
	sqlite3_stmt *stmt = store_sq_stmt(s, f->with ? SQ_MAM_ROWS_WITH : SQ_MAM_ROWS);
	unsigned n = 0;
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_mam(stmt, domain, local, f, lo, hi, (sqlite3_int64)f->max + 1);
	while (ret == XS_OK && (rc == SQLITE_OK || rc == SQLITE_ROW)) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW && ++n <= f->max)
			ret = store_sq_mam_row(s, stmt, domain, local, mc);
	}
	if (ret == XS_OK && rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "archive query");
	store_sq_release(stmt);
	*more = n > f->max;
	return ret;
}

/* Pages are in id order, the order the router archived the messages in,
 * and not in stamp order, although the two agree while the clock does:
 * stamps come from the wall clock, which can step back (NTP, an
 * administrator) and can repeat, while ids only grow.  Paging needs a
 * strict total order in which a message archived later is always after
 * one archived earlier: a client catching up with "after the last id I
 * saw" must get every message archived since, even one the clock stamped
 * earlier, and never see one twice.  start and end are XEP-0313 filters on
 * time, so they filter on the stamp, inside the id range; with stamps
 * growing with ids they select one contiguous run anyway.
 *
 * A page from the oldest end is one read, oldest first.  A page from the
 * newest end is two in one snapshot: an index-only walk back from the
 * newest end to find the page's first message, then the same read
 * forwards from there, so the rows reach cb oldest first without being
 * held in memory.  Both are one range of one index (sq_text). */
static enum xs store_sq_mam_query(struct store *st, const char *domain, const char *local,
				  const struct store_mam_filter *f,
				  void (*cb)(void *arg, const char *stanza_id, int64_t stamp_us,
					     const char *with, const char *xml, size_t len),
				  void *arg, bool *complete)
{
	struct store_sqlite *s = to_sq(st);
	struct mam_cb mc = { cb, arg };
	sqlite3_int64 lo = 0, hi = INT64_MAX; /* ids are positive */
	bool backwards = f->before_id || f->last_page, done = false, more = false;
	enum xs ret = store_sq_run(s, SQ_BEGIN_READ, "begin");

	if (ret != XS_OK)
		return ret;
	if (f->after_id)
		ret = store_sq_mam_anchor(s, domain, local, f->after_id, &lo);
	if (ret == XS_OK && f->before_id)
		ret = store_sq_mam_anchor(s, domain, local, f->before_id, &hi);
	if (ret == XS_OK && backwards)
		ret = store_sq_mam_start(s, domain, local, f, &lo, hi, &done);
	if (ret == XS_OK)
		ret = store_sq_mam_rows(s, domain, local, f, lo, hi, &mc, &more);
	ret = store_sq_finish(s, ret);
	if (ret == XS_OK)
		*complete = backwards ? done : !more;
	return ret;
}

/* One statement, one transaction: at most STORE_MAM_EXPIRE_BATCH rows
 * under the write lock at a time (store.h). */
static enum xs store_sq_mam_expire(struct store *st, int64_t older_than_us, unsigned *deleted)
{
	struct store_sqlite *s = to_sq(st);
	sqlite3_stmt *stmt = store_sq_stmt(s, SQ_MAM_EXPIRE);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = sqlite3_bind_int64(stmt, 1, (sqlite3_int64)older_than_us);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(stmt, 2, STORE_MAM_EXPIRE_BATCH);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "archive expire");
	else
		*deleted = (unsigned)sqlite3_changes(s->db);
	store_sq_release(stmt);
	return ret;
}

static void store_sq_close(struct store *st)
{
	struct store_sqlite *s = to_sq(st);

	for (int i = 0; i < SQ__COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	for (int i = 0; i < SQP__COUNT; i++)
		sqlite3_finalize(s->pep_stmt[i]);
	for (int i = 0; i < SQM__COUNT; i++)
		sqlite3_finalize(s->mamp_stmt[i]);
	if (s->db) {
		/* Recommended on close: refreshes planner statistics cheaply. */
		sqlite3_exec(s->db, "PRAGMA optimize", NULL, NULL, NULL);
		int rc = sqlite3_close(s->db);
		if (rc != SQLITE_OK)
			LOG_ERR("store: closing %s: %s", s->path, sqlite3_errstr(rc));
	}
	free(s->path);
	free(s);
}

static const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.close = store_sq_close,
	.user_create = store_sq_user_create,
	.user_set_password_creds = store_sq_user_set_creds,
	.user_delete = store_sq_user_delete,
	.user_get_cred = store_sq_user_get_cred,
	.user_exists = store_sq_user_exists,
	.user_list = store_sq_user_list,
	.iteration_counts = store_sq_iteration_counts,
	.roster_get = store_sq_roster_get,
	.roster_put = store_sq_roster_put,
	.roster_remove = store_sq_roster_remove,
	.roster_update = store_sq_roster_update,
	.offline_push = store_sq_offline_push,
	.offline_list = store_sq_offline_list,
	.offline_delete = store_sq_offline_delete,
	.data_get = store_sq_data_get,
	.data_put = store_sq_data_put,
	.block_list = store_sq_block_list,
	.block_change = store_sq_block_change,
	.block_match = store_sq_block_match,
	.mam_append = store_sq_mam_append,
	.mam_query = store_sq_mam_query,
	.mam_expire = store_sq_mam_expire,
	.mam_prefs_get = store_sq_mam_prefs_get,
	.mam_prefs_set = store_sq_mam_prefs_set,
	.pep_publish = store_sq_pep_publish,
	.pep_items = store_sq_pep_items,
	.pep_retract = store_sq_pep_retract,
	.pep_delete = store_sq_pep_delete,
	.pep_purge = store_sq_pep_purge,
	.pep_config_get = store_sq_pep_config_get,
	.pep_config_set = store_sq_pep_config_set,
	.pep_nodes = store_sq_pep_nodes,
	.pep_last = store_sq_pep_last,
	.pep_replace = store_sq_pep_replace,
};

int store_sqlite_schema_version(void)
{
	return STORE_SCHEMA_VERSION;
}

/* Creates the missing directories above path, each 0700; existing ones are
 * left as they are (the administrator may have chosen their modes). */
static int store_mkparents(const char *path, char *err, size_t errlen)
{
	char *dir = strdup(path);
	if (!dir) {
		store_seterr(err, errlen, "out of memory");
		return -1;
	}
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		free(dir);
		return 0; /* relative to the cwd, or in / */
	}
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			store_seterr(err, errlen, "cannot create directory %s: %s", dir,
				     strerror(errno));
			free(dir);
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(dir);
	return 0;
}

/* Creates the database file 0600 before SQLite does (SQLite would use 0644
 * minus umask) and tightens an existing one that others can read. */
static int store_prepare_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		store_seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077)) {
		LOG_WARN("store: %s was readable by others (mode %03o); setting 0600", path,
			 (unsigned)(sb.st_mode & 0777));
		if (fchmod(fd, sb.st_mode & 0700) != 0) {
			store_seterr(err, errlen, "cannot chmod %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

static int store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		store_seterr(err, errlen, "\"%.40s\": %s", sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Runs a one-row, one-column pragma and copies its text answer. */
static int store_pragma_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(stmt, 0);
		snprintf(out, outlen, "%s", t ? (const char *)t : "");
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* A file written by a newer server may hold tables or meanings this code
 * would misread or damage, so it is refused rather than opened. */
static int store_version_ok(int cur, const char *path, char *err, size_t errlen)
{
	if (cur >= 0 && cur <= STORE_SCHEMA_VERSION)
		return 0;
	store_seterr(err, errlen,
		     "%s has schema version %d, newer than this server knows (%d); "
		     "refusing to open it (was it written by a newer xmppd?)",
		     path, cur, STORE_SCHEMA_VERSION);
	return -1;
}

/* Brings the schema to STORE_SCHEMA_VERSION, one migration per transaction.
 * Each round takes the write lock (BEGIN IMMEDIATE) before reading the
 * version, so two processes opening the same file at once cannot both apply
 * the same migration. */
static int store_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	for (;;) {
		char buf[32];
		if (store_exec(db, "BEGIN IMMEDIATE", err, errlen) != 0)
			return -1;
		if (store_pragma_text(db, "PRAGMA user_version", buf, sizeof(buf)) != 0) {
			store_seterr(err, errlen, "%s: cannot read schema version: %s", path,
				     sqlite3_errmsg(db));
			goto fail;
		}
		int cur = atoi(buf);
		if (store_version_ok(cur, path, err, errlen) != 0)
			goto fail;
		if (cur == STORE_SCHEMA_VERSION)
			return store_exec(db, "COMMIT", err, errlen);

		char set[64];
		snprintf(set, sizeof(set), "PRAGMA user_version = %d", cur + 1);
		if (store_exec(db, store_migrations[cur], err, errlen) != 0 ||
		    store_exec(db, set, err, errlen) != 0 ||
		    store_exec(db, "COMMIT", err, errlen) != 0) {
			/* err already says which statement failed; say which step. */
			char inner[256];
			snprintf(inner, sizeof(inner), "%s", err ? err : "");
			store_seterr(err, errlen, "%s: migration to schema version %d failed: %s",
				     path, cur + 1, inner);
			goto fail;
		}
		LOG_INFO("store: %s migrated to schema version %d", path, cur + 1);
	}
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* What the open mode allows to be missing; anything it does not allow is
 * refused here, with a message that says how to create it. */
static int store_check_missing(const char *path, enum store_open_mode mode, char *err,
			       size_t errlen)
{
	struct stat sb;
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (mode == STORE_OPEN_CREATE_DIR || stat(path, &sb) == 0)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");
	if (stat(dir, &sb) != 0) {
		store_seterr(err, errlen, "directory %s: %s (\"xmppctl init\" creates it and a new "
			     "database)", dir, strerror(errno));
		return -1;
	}
	if (mode == STORE_OPEN_EXISTING) {
		store_seterr(err, errlen, "no database at %s (\"xmppctl init\" creates a new one)",
			     path);
		return -1;
	}
	return 0;
}

struct store *store_sqlite_open(const char *path, enum store_open_mode open_mode, char *err,
				size_t errlen)
{
	store_seterr(err, errlen, "no error");
	if (!path || !*path) {
		store_seterr(err, errlen, "empty database path");
		return NULL;
	}
	if (store_check_missing(path, open_mode, err, errlen) != 0)
		return NULL;
	if (open_mode == STORE_OPEN_CREATE_DIR && store_mkparents(path, err, errlen) != 0)
		return NULL;
	if (store_prepare_file(path, err, errlen) != 0)
		return NULL;

	struct store_sqlite *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		store_seterr(err, errlen, "out of memory");
		return NULL;
	}
	s->base.ops = &store_sqlite_ops;

	/* NOMUTEX: the handle has one owning thread (store.h), so SQLite's
	 * per-connection mutex would only cost time. */
	int rc = sqlite3_open_v2(path, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		store_seterr(err, errlen, "cannot open %s: %s", path,
			     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* Set before anything else touches the file, so a concurrent opener
	 * (the admin tool) waits instead of failing at once. */
	sqlite3_busy_timeout(s->db, 5000);

	/* Refuse a newer schema before changing anything in the file (setting
	 * WAL rewrites its header); store_migrate checks again under the lock. */
	char buf[32];
	if (store_pragma_text(s->db, "PRAGMA user_version", buf, sizeof(buf)) != 0) {
		store_seterr(err, errlen, "cannot read %s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (store_version_ok(atoi(buf), path, err, errlen) != 0)
		goto fail;

	char mode[16] = "";
	if (store_pragma_text(s->db, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != 0) {
		store_seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if (strcasecmp(mode, "wal") != 0)
		LOG_WARN("store: %s: WAL not available (journal_mode=%s); writers will block "
			 "readers", path, mode);
	if (store_exec(s->db, "PRAGMA synchronous = NORMAL", err, errlen) != 0 ||
	    store_exec(s->db, "PRAGMA foreign_keys = ON", err, errlen) != 0)
		goto fail;
	if (store_migrate(s->db, path, err, errlen) != 0)
		goto fail;

	LOG_INFO("store: opened %s (sqlite %s, schema version %d)", path, sqlite3_libversion(),
		 STORE_SCHEMA_VERSION);
	store_seterr(err, errlen, "no error");
	return &s->base;
fail:
	store_sq_close(&s->base);
	return NULL;
}
