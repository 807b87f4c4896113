/* Archive preferences (XEP-0441) in the SQLite backend: the mam_prefs_*
 * ops of store.h, and the decision store_sq_mam_append asks for an item
 * the cheap insert did not store, on the tables of schema version 9
 * (store_sqlite.c's migrations say how they are laid out).  The handle,
 * its transactions and the statement cache are store_sqlite.c's
 * (store_sqlite_int.h); this file owns its statements.
 *
 * An account has a row in archive_prefs only when it set something other
 * than what every account has (ALWAYS, no JIDs), and JID rows only with
 * that row: the archive's insert tests for the row in the same statement
 * (SQ_MAM_INSERT), so an account without preferences pays one probe of a
 * small index, and only the others come here. */
#include "core/store/store_sqlite_int.h"

#include <string.h>

#include "core/base/log.h"

_Static_assert(STORE_MAM_ROSTER == 2, "SQM_DECIDE spells the roster default out");
_Static_assert(ROSTER_ASK_HIDDEN == 8, "SQM_DECIDE spells the hidden bit out");

static const char *const sqm_text[SQM__COUNT] = {
	/* For the account ?1 ?2 and the other party ?3: the default, the
	 * list ?3 is on (1 always, 0 never, NULL neither), and for the
	 * roster default only, whether ?3 is a roster item that is not
	 * hidden.  No row: the account has no preferences.  Three probes
	 * of three primary keys at most. */
	[SQM_DECIDE] = "SELECT p.dflt,"
		       " (SELECT j.always FROM archive_prefs_jid j"
		       "  WHERE j.domain = ?1 AND j.localpart = ?2 AND j.jid = ?3),"
		       " p.dflt = 2 AND EXISTS (SELECT 1 FROM roster r"
		       "  WHERE r.domain = ?1 AND r.localpart = ?2 AND r.contact = ?3"
		       "  AND (r.ask & 8) = 0)"
		       " FROM archive_prefs p WHERE p.domain = ?1 AND p.localpart = ?2",
	[SQM_GET_DEFAULT] = "SELECT dflt FROM archive_prefs WHERE domain = ?1 AND localpart = ?2",
	[SQM_GET_JIDS] = "SELECT jid, always FROM archive_prefs_jid"
			 " WHERE domain = ?1 AND localpart = ?2 ORDER BY jid",
	[SQM_ACCOUNT] = "SELECT EXISTS (SELECT 1 FROM users WHERE domain = ?1 AND localpart = ?2)",
	[SQM_PUT_DEFAULT] = "INSERT OR REPLACE INTO archive_prefs (domain, localpart, dflt)"
			    " VALUES (?1, ?2, ?3)",
	/* A JID already there from the same list is no change (one row
	 * updated to what it was); from the other list the WHERE fails and
	 * nothing changes at all: changes() tells the two apart. */
	[SQM_PUT_JID] = "INSERT INTO archive_prefs_jid (domain, localpart, jid, always)"
			" VALUES (?1, ?2, ?3, ?4) ON CONFLICT (domain, localpart, jid)"
			" DO UPDATE SET always = excluded.always WHERE always = excluded.always",
	[SQM_DROP_JIDS] = "DELETE FROM archive_prefs_jid WHERE domain = ?1 AND localpart = ?2",
	[SQM_DROP] = "DELETE FROM archive_prefs WHERE domain = ?1 AND localpart = ?2",
};

static sqlite3_stmt *sqm_stmt(struct store_sqlite *s, enum sq_mam_prefs_id id)
{
	return store_sq_prepare(s, &store_sq_mam_prefs_slots(s)[id], sqm_text[id]);
}

/* Runs a statement on the account that returns no rows. */
static enum xs sqm_exec(struct store_sqlite *s, enum sq_mam_prefs_id id, const char *domain,
			const char *local, const char *what)
{
	sqlite3_stmt *stmt = sqm_stmt(s, id);
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

enum xs store_sq_mam_prefs_allow(struct store_sqlite *s, const char *domain, const char *local,
				 const char *with, bool *allow)
{
	sqlite3_stmt *stmt = sqm_stmt(s, SQM_DECIDE);
	enum xs ret = XS_OK;

	*allow = true;
	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, with, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		int dflt = sqlite3_column_int(stmt, 0);
		if (sqlite3_column_type(stmt, 1) != SQLITE_NULL)
			*allow = sqlite3_column_int(stmt, 1) != 0; /* a list names it */
		else if (dflt == STORE_MAM_NEVER)
			*allow = false;
		else if (dflt == STORE_MAM_ROSTER)
			*allow = sqlite3_column_int(stmt, 2) != 0;
	} else if (rc != SQLITE_DONE) {
		ret = store_sq_fail(s, rc, "archive preferences");
	}
	store_sq_release(stmt);
	return ret;
}

enum xs store_sq_mam_prefs_get(struct store *st, const char *domain, const char *local,
			       unsigned char *dflt,
			       void (*cb)(void *arg, const char *jid, bool always), void *arg)
{
	struct store_sqlite *s = store_sq_of(st);
	enum xs ret = store_sq_begin(s, false);
	bool has = false;

	if (ret != XS_OK)
		return ret;
	sqlite3_stmt *stmt = sqm_stmt(s, SQM_GET_DEFAULT);
	if (!stmt)
		return store_sq_finish(s, XS_IO);
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		int v = sqlite3_column_int(stmt, 0);
		has = true;
		if (v < STORE_MAM_ALWAYS || v > STORE_MAM_ROSTER) {
			LOG_ERR("store: malformed archive preferences of %s@%s in %s", local,
				domain, store_sq_path(s));
			ret = XS_IO;
		} else {
			*dflt = (unsigned char)v;
		}
	} else if (rc != SQLITE_DONE) {
		ret = store_sq_fail(s, rc, "archive preferences");
	}
	store_sq_release(stmt);
	if (ret != XS_OK || !has)
		return store_sq_finish(s, ret);

	stmt = sqm_stmt(s, SQM_GET_JIDS);
	if (!stmt)
		return store_sq_finish(s, XS_IO);
	rc = store_bind_names(stmt, domain, local);
	while (ret == XS_OK && (rc == SQLITE_OK || rc == SQLITE_ROW)) {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_ROW)
			break;
		const char *jid = (const char *)sqlite3_column_text(stmt, 0);
		if (!jid && sqlite3_errcode(store_sq_db(s)) == SQLITE_NOMEM) {
			ret = store_sq_fail(s, SQLITE_NOMEM, "archive preferences");
		} else if (!jid || !jid[0]) {
			LOG_ERR("store: malformed archive preferences of %s@%s in %s", local,
				domain, store_sq_path(s));
			ret = XS_IO;
		} else {
			cb(arg, jid, sqlite3_column_int(stmt, 1) != 0);
		}
	}
	if (ret == XS_OK && rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "archive preferences");
	store_sq_release(stmt);
	return store_sq_finish(s, ret);
}

/* Adds one JID of a list (always or not) inside the caller's
 * transaction; XS_INVAL when it is already on the other list. */
static enum xs sqm_put_jid(struct store_sqlite *s, const char *domain, const char *local,
			   const char *jid, bool always)
{
	sqlite3_stmt *stmt = sqm_stmt(s, SQM_PUT_JID);
	enum xs ret = XS_OK;

	if (!stmt)
		return XS_IO;
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, jid, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(stmt, 4, always);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ret = store_sq_fail(s, rc, "archive preferences set");
	else if (sqlite3_changes(store_sq_db(s)) == 0)
		ret = XS_INVAL; /* on both lists */
	store_sq_release(stmt);
	return ret;
}

enum xs store_sq_mam_prefs_set(struct store *st, const char *domain, const char *local,
			       unsigned char dflt, const char *const *always, size_t n_always,
			       const char *const *never, size_t n_never)
{
	struct store_sqlite *s = store_sq_of(st);
	enum xs ret = store_sq_begin(s, true);

	if (ret != XS_OK)
		return ret;
	sqlite3_stmt *stmt = sqm_stmt(s, SQM_ACCOUNT);
	if (!stmt)
		return store_sq_finish(s, XS_IO);
	int rc = store_bind_names(stmt, domain, local);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		if (!sqlite3_column_int(stmt, 0))
			ret = XS_NOTFOUND; /* nothing kept for a name nobody owns */
	} else {
		ret = store_sq_fail(s, rc, "archive preferences set");
	}
	store_sq_release(stmt);
	if (ret == XS_OK)
		ret = sqm_exec(s, SQM_DROP_JIDS, domain, local, "archive preferences set");
	if (ret == XS_OK && dflt == STORE_MAM_ALWAYS && n_always == 0 && n_never == 0) {
		ret = sqm_exec(s, SQM_DROP, domain, local, "archive preferences set");
		return store_sq_finish(s, ret);
	}
	if (ret == XS_OK) {
		stmt = sqm_stmt(s, SQM_PUT_DEFAULT);
		if (!stmt)
			return store_sq_finish(s, XS_IO);
		rc = store_bind_names(stmt, domain, local);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int(stmt, 3, dflt);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			ret = store_sq_fail(s, rc, "archive preferences set");
		store_sq_release(stmt);
	}
	for (size_t i = 0; ret == XS_OK && i < n_always; i++)
		ret = sqm_put_jid(s, domain, local, always[i], true);
	for (size_t i = 0; ret == XS_OK && i < n_never; i++)
		ret = sqm_put_jid(s, domain, local, never[i], false);
	return store_sq_finish(s, ret);
}

enum xs store_sq_mam_prefs_drop(struct store_sqlite *s, const char *domain, const char *local)
{
	enum xs ret = sqm_exec(s, SQM_DROP_JIDS, domain, local, "user delete archive preferences");
	if (ret == XS_OK)
		ret = sqm_exec(s, SQM_DROP, domain, local, "user delete archive preferences");
	return ret;
}
