/* Unit tests for archive preferences (XEP-0441; store_mam_prefs_* in
 * store.h, the SQLite side in core/store/store_sqlite_mam_prefs.c) and
 * the archive's retention on the storage thread ([im]
 * archive_expires_after; store_thread_start):
 * - get and set: the defaults for an account without preferences, a set
 *   read back (lists in byte order, duplicates once), a JID on both lists
 *   refused with nothing changed, no preferences for a name nobody owns,
 *   the defaults set again leaving no rows;
 * - the decision store_mam_append makes per item: default always, never
 *   and roster (hidden roster items are no roster), the always and never
 *   lists over the default, accounts with and without preferences in one
 *   batch, a refused batch reporting nothing denied;
 * - user delete, and the migration from schema version 8;
 * - through the storage thread: PREFS_SET / PREFS_GET, and appends the
 *   preferences refuse completing XS_DENIED inside a batch;
 * - retention: a store holding messages older than the limit (stamps
 *   chosen, written before the thread starts) loses them once the thread
 *   runs, a batch at a time, the newer ones stay; a message that is old
 *   when it is archived goes at the next pass (a test-only period of
 *   200 ms instead of an hour); with 0 nothing goes.
 * Each test works in its own mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/queue.h"
#include "core/store/store.h"
#include "core/store/store_thread.h"

/* As in test_store.c: the results queue is a liburcu wfcqueue, whose
 * ordering ThreadSanitizer cannot see. */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifdef TEST_TSAN
#include <sanitizer/tsan_interface.h>
#define test_hb_acquire(p) __tsan_acquire(p)
#else
#define test_hb_acquire(p) ((void)(p))
#endif

#define DOMAIN "example.org"
#define ROMEO "romeo@montague.lit"
#define NURSE "nurse@capulet.lit"
#define TYBALT "tybalt@capulet.lit"
#define MERCUTIO "mercutio@verona.lit"
#define STRANGER "stranger@verona.lit"
#define MSG "<message><body>x</body></message>"
#define DAY_US (86400LL * 1000000)

struct tdir {
	char root[64];
	char db[256];
};

static int setup_dir(void **state)
{
	struct tdir *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	umask(022);
	snprintf(d->root, sizeof(d->root), "/tmp/test_store_mam_prefs.XXXXXX");
	if (!mkdtemp(d->root)) {
		free(d);
		return -1;
	}
	snprintf(d->db, sizeof(d->db), "%s/xmppd.db", d->root);
	*state = d;
	return 0;
}

static int teardown_dir(void **state)
{
	struct tdir *d = *state;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->root);
	int rc = system(cmd);
	free(d);
	return rc == 0 ? 0 : -1;
}

static struct store *open_ok(const char *path)
{
	char err[256] = "";
	struct store *st = store_sqlite_open(path, STORE_OPEN_CREATE_DIR, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open(%s): %s", path, err);
	return st;
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	int v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* A count over the file, from a connection of its own. */
static int db_int(const char *path, const char *sql)
{
	sqlite3 *raw = raw_open(path);
	int v = raw_int(raw, sql);
	sqlite3_close(raw);
	return v;
}

static void user_ok(struct store *st, const char *local)
{
	struct scram_cred c = { .hash = SCRAM_SHA256, .iterations = 4096, .salt_len = 4 };
	assert_int_equal(store_user_create(st, DOMAIN, local, NULL, &c), XS_OK);
}

static void roster_add(struct store *st, const char *local, const char *contact,
		       enum roster_sub sub, unsigned char ask)
{
	struct store_roster_item it = { .contact = (char *)contact, .groups = (char *)"",
					.subscription = (unsigned char)sub, .ask = ask };
	uint64_t ver;
	assert_int_equal(store_roster_put(st, DOMAIN, local, &it, 0, &ver), XS_OK);
}

/* The preferences as text: "default|always,..|never,..". */
struct p_acc {
	char always[1024], never[1024];
};

static void p_cb(void *arg, const char *jid, bool always)
{
	struct p_acc *a = arg;
	char *buf = always ? a->always : a->never;
	size_t used = strlen(buf);
	snprintf(buf + used, sizeof(a->always) - used, "%s%s", used ? "," : "", jid);
}

static const char *prefs_text(struct store *st, const char *local, char *out, size_t cap)
{
	static const char *const names[] = { "always", "never", "roster" };
	struct p_acc a = { "", "" };
	unsigned char dflt = 77;
	assert_int_equal(store_mam_prefs_get(st, DOMAIN, local, &dflt, p_cb, &a), XS_OK);
	assert_true(dflt <= STORE_MAM_ROSTER);
	int n = snprintf(out, cap, "%s|%s|%s", names[dflt], a.always, a.never);
	assert_true(n >= 0 && (size_t)n < cap);
	return out;
}

static void item(struct store_mam_item *it, const char *local, const char *with,
		 const char *id, int64_t stamp)
{
	memset(it, 0, sizeof(*it));
	snprintf(it->domain, sizeof(it->domain), "%s", DOMAIN);
	snprintf(it->local, sizeof(it->local), "%s", local);
	it->with = with;
	it->stanza_id = id;
	it->stamp_us = stamp;
	it->xml = MSG;
	it->len = strlen(MSG);
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The ids archived for local, joined in archive order. */
static void ids_cb(void *arg, const char *stanza_id, int64_t stamp_us, const char *with,
		   const char *xml, size_t len)
{
	(void)stamp_us;
	(void)with;
	(void)xml;
	(void)len;
	char *buf = arg;
	size_t used = strlen(buf);
	snprintf(buf + used, 1024 - used, "%s%s", used ? "," : "", stanza_id);
}

static const char *archived(struct store *st, const char *local, char out[1024])
{
	struct store_mam_filter f = { .max = 1000 };
	bool complete = false;
	out[0] = '\0';
	assert_int_equal(store_mam_query(st, DOMAIN, local, &f, ids_cb, out, &complete), XS_OK);
	return out;
}

/* --- get and set --- */

static void test_prefs_get_set(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	char buf[2048];
	struct p_acc a;
	unsigned char dflt;

	user_ok(st, "alice");
	/* nothing set, and a name nobody owns: the defaults */
	assert_string_equal(prefs_text(st, "alice", buf, sizeof(buf)), "always||");
	assert_string_equal(prefs_text(st, "nobody", buf, sizeof(buf)), "always||");

	const char *always[] = { ROMEO, NURSE, ROMEO };
	const char *never[] = { TYBALT, MERCUTIO };
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_NEVER, always, 3,
					     never, 2),
			 XS_OK);
	assert_string_equal(prefs_text(st, "alice", buf, sizeof(buf)),
			    "never|" NURSE "," ROMEO "|" MERCUTIO "," TYBALT);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM archive_prefs_jid"), 4);

	/* a set replaces everything */
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_ROSTER, NULL, 0,
					     never, 1),
			 XS_OK);
	assert_string_equal(prefs_text(st, "alice", buf, sizeof(buf)), "roster||" TYBALT);

	/* a JID on both lists: refused, nothing changed */
	const char *both[] = { TYBALT };
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_ALWAYS, both, 1,
					     both, 1),
			 XS_INVAL);
	assert_string_equal(prefs_text(st, "alice", buf, sizeof(buf)), "roster||" TYBALT);

	/* nothing kept for a name nobody owns */
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "nobody", STORE_MAM_NEVER, NULL, 0, NULL,
					     0),
			 XS_NOTFOUND);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM archive_prefs"
				       " WHERE localpart = 'nobody'"),
			 0);

	/* bad arguments */
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", 3, NULL, 0, NULL, 0), XS_INVAL);
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", 0, NULL, 1, NULL, 0), XS_INVAL);
	const char *empty[] = { "" };
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", 0, empty, 1, NULL, 0), XS_INVAL);
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "", 0, NULL, 0, NULL, 0), XS_INVAL);
	assert_int_equal(store_mam_prefs_get(st, DOMAIN, "alice", NULL, p_cb, &a), XS_INVAL);
	assert_int_equal(store_mam_prefs_get(st, DOMAIN, "alice", &dflt, NULL, &a), XS_INVAL);
	assert_string_equal(prefs_text(st, "alice", buf, sizeof(buf)), "roster||" TYBALT);

	/* the defaults again: no rows at all */
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_ALWAYS, NULL, 0, NULL,
					     0),
			 XS_OK);
	assert_string_equal(prefs_text(st, "alice", buf, sizeof(buf)), "always||");
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM archive_prefs"), 0);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM archive_prefs_jid"), 0);
	/* ALWAYS with a list keeps a row */
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_ALWAYS, NULL, 0, never,
					     1),
			 XS_OK);
	assert_string_equal(prefs_text(st, "alice", buf, sizeof(buf)), "always||" TYBALT);
	store_close(st);
	/* kept across a reopen */
	st = open_ok(d->db);
	assert_string_equal(prefs_text(st, "alice", buf, sizeof(buf)), "always||" TYBALT);
	store_close(st);
}

/* --- the decision --- */

/* Appends one message per JID of with[] for local (ids prefix1, prefix2,
 * ...) in one batch and returns which were denied as a string of 'D'
 * and '.'. */
static const char *append_batch(struct store *st, const char *local, const char *prefix,
				const char *const *with, size_t n, char *out)
{
	struct store_mam_item it[8];
	char ids[8][48]; /* prefix and any size_t: no truncation warning */
	bool denied[8];
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%s%zu", prefix, i + 1);
		item(&it[i], local, with[i], ids[i], 1000 + (int64_t)i);
		denied[i] = i % 2; /* must be overwritten */
	}
	assert_int_equal(store_mam_append(st, it, n, denied), XS_OK);
	for (size_t i = 0; i < n; i++)
		out[i] = denied[i] ? 'D' : '.';
	out[n] = '\0';
	return out;
}

static void test_prefs_decision(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	const char *five[] = { ROMEO, NURSE, TYBALT, MERCUTIO, STRANGER };
	char buf[1024], dn[16];

	user_ok(st, "alice");
	user_ok(st, "bob");
	roster_add(st, "alice", ROMEO, ROSTER_SUB_BOTH, 0);
	roster_add(st, "alice", MERCUTIO, ROSTER_SUB_NONE, ROSTER_ASK_OUT);
	/* only an unanswered request from the stranger: no roster item */
	roster_add(st, "alice", STRANGER, ROSTER_SUB_NONE, ROSTER_ASK_IN | ROSTER_ASK_HIDDEN);

	/* no preferences: everything */
	assert_string_equal(append_batch(st, "alice", "a", five, 5, dn), ".....");
	assert_string_equal(archived(st, "alice", buf), "a1,a2,a3,a4,a5");

	/* never, with the nurse always */
	const char *nurse[] = { NURSE };
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_NEVER, nurse, 1, NULL,
					     0),
			 XS_OK);
	assert_string_equal(append_batch(st, "alice", "b", five, 5, dn), "D.DDD");
	assert_string_equal(archived(st, "alice", buf), "a1,a2,a3,a4,a5,b2");

	/* roster, with Romeo never: the list wins over the roster; the
	 * nurse and Tybalt are not in it, the stranger's hidden item is no
	 * roster item, Mercutio's pending one is */
	const char *romeo[] = { ROMEO };
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_ROSTER, NULL, 0, romeo,
					     1),
			 XS_OK);
	assert_string_equal(append_batch(st, "alice", "c", five, 5, dn), "DDD.D");
	/* roster alone: Romeo again, and the nurse once always */
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_ROSTER, nurse, 1, NULL,
					     0),
			 XS_OK);
	assert_string_equal(append_batch(st, "alice", "d", five, 5, dn), "..D.D");

	/* always, with Tybalt never */
	const char *tybalt[] = { TYBALT };
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_ALWAYS, NULL, 0,
					     tybalt, 1),
			 XS_OK);
	assert_string_equal(append_batch(st, "alice", "e", five, 5, dn), "..D..");

	/* one batch, two accounts: bob has none, alice never */
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_NEVER, NULL, 0, NULL,
					     0),
			 XS_OK);
	struct store_mam_item it[4];
	bool denied[4];
	item(&it[0], "alice", ROMEO, "f1", 2000);
	item(&it[1], "bob", ROMEO, "f2", 2001);
	item(&it[2], "alice", NURSE, "f3", 2002);
	item(&it[3], "nobody", ROMEO, "f4", 2003); /* no account: skipped, not denied */
	assert_int_equal(store_mam_append(st, it, 4, denied), XS_OK);
	assert_true(denied[0]);
	assert_false(denied[1]);
	assert_true(denied[2]);
	assert_false(denied[3]);
	assert_string_equal(archived(st, "bob", buf), "f2");
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM archive WHERE localpart = 'nobody'"),
			 0);
	/* without the array: the same, just not reported */
	item(&it[0], "alice", ROMEO, "g1", 3000);
	assert_int_equal(store_mam_append(st, it, 1, NULL), XS_OK);

	/* a refused batch (f2 is taken in bob's archive) reports nothing */
	item(&it[0], "alice", ROMEO, "h1", 4000);
	item(&it[1], "bob", ROMEO, "f2", 4001);
	denied[0] = denied[1] = true;
	assert_int_equal(store_mam_append(st, it, 2, denied), XS_INVAL);
	assert_false(denied[0]);
	assert_false(denied[1]);
	assert_string_equal(archived(st, "alice", buf), "a1,a2,a3,a4,a5,b2,c4,d1,d2,d4,e1,e2,e4,e5");
	store_close(st);
}

/* User delete takes the preferences; an account of that name made later
 * has the defaults. */
static void test_prefs_user_delete(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	const char *always[] = { ROMEO }, *never[] = { NURSE };
	char buf[1024];

	user_ok(st, "alice");
	user_ok(st, "bob");
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_NEVER, always, 1,
					     never, 1),
			 XS_OK);
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "bob", STORE_MAM_ROSTER, always, 1, NULL,
					     0),
			 XS_OK);
	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_OK);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM archive_prefs"
				       " WHERE localpart = 'alice'"),
			 0);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM archive_prefs_jid"
				       " WHERE localpart = 'alice'"),
			 0);
	assert_string_equal(prefs_text(st, "bob", buf, sizeof(buf)), "roster|" ROMEO "|");
	user_ok(st, "alice");
	assert_string_equal(prefs_text(st, "alice", buf, sizeof(buf)), "always||");
	const char *with[] = { NURSE };
	char dn[4];
	assert_string_equal(append_batch(st, "alice", "n", with, 1, dn), ".");
	store_close(st);
}

/* A version-8 database gains the preference tables and keeps its
 * archive. */
static void test_prefs_migrate_from_v8(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	char buf[1024], err[256] = "";

	user_ok(st, "alice");
	const char *with[] = { ROMEO };
	char dn[4];
	assert_string_equal(append_batch(st, "alice", "m", with, 1, dn), ".");
	store_close(st);
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "DROP TABLE archive_prefs_jid; DROP TABLE archive_prefs;"
		      " PRAGMA user_version = 8");
	sqlite3_close(raw);

	st = store_sqlite_open(d->db, STORE_OPEN_EXISTING, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open: %s", err);
	assert_int_equal(store_sqlite_schema_version(), 9);
	assert_int_equal(db_int(d->db, "PRAGMA user_version"), 9);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				       " AND name IN ('archive_prefs', 'archive_prefs_jid')"),
			 2);
	assert_string_equal(archived(st, "alice", buf), "m1");
	assert_int_equal(store_mam_prefs_set(st, DOMAIN, "alice", STORE_MAM_NEVER, NULL, 0, NULL,
					     0),
			 XS_OK);
	assert_string_equal(append_batch(st, "alice", "p", with, 1, dn), "D");
	store_close(st);
}

/* --- through the storage thread --- */

struct tctx {
	struct store_thread *th;
	struct queue results;
};

static void t_done(struct store_req *req, void *arg)
{
	struct tctx *ctx = arg;
	queue_push(&ctx->results, &req->qnode);
}

static void t_submit(struct tctx *ctx, struct store_req *req, enum store_op op,
		     const char *local)
{
	req->op = op;
	snprintf(req->domain, sizeof(req->domain), "%s", DOMAIN);
	snprintf(req->local, sizeof(req->local), "%s", local);
	req->status = XS_AGAIN; /* must be overwritten */
	req->done = t_done;
	req->done_arg = ctx;
	assert_int_equal(store_thread_submit(ctx->th, req), XS_OK);
}

/* The next request to come back, which must be req. */
static void t_next(struct tctx *ctx, struct store_req *req)
{
	struct pollfd pfd = { .fd = ctx->results.efd, .events = POLLIN };
	struct queue_node *qn;
	while (!(qn = queue_pop(&ctx->results))) {
		assert_int_equal(poll(&pfd, 1, 30000), 1);
		queue_ack_wakeup(&ctx->results);
	}
	assert_ptr_equal(qn, &req->qnode);
	test_hb_acquire(req);
}

static void t_roundtrip(struct tctx *ctx, struct store_req *req, enum store_op op,
			const char *local)
{
	t_submit(ctx, req, op, local);
	t_next(ctx, req);
}

static void t_start(struct tctx *ctx, const char *db, unsigned days, unsigned interval_ms)
{
	char err[256] = "";
	const struct store_thread_opts o = { .archive_expires_days = days,
					     .expire_interval_ms = interval_ms };
	memset(ctx, 0, sizeof(*ctx));
	assert_int_equal(queue_init(&ctx->results), 0);
	ctx->th = store_thread_start_opts(db, &o, err, sizeof(err));
	if (!ctx->th)
		fail_msg("store_thread_start: %s", err);
}

static void t_stop(struct tctx *ctx)
{
	store_thread_stop(ctx->th);
	assert_true(queue_is_empty(&ctx->results));
	queue_deinit(&ctx->results);
}

static void append_req(struct store_req *req, const char *with, const char *id, int64_t stamp)
{
	memset(req, 0, sizeof(*req));
	item(&req->mam_item, "alice", with, id, stamp);
}

static void test_thread_prefs(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req, a[4];
	char buf[1024];

	struct store *st = open_ok(d->db);
	user_ok(st, "alice");
	store_close(st);
	t_start(&ctx, d->db, 0, 0);

	/* the defaults */
	memset(&req, 0, sizeof(req));
	req.mam_default = 9; /* overwritten for a get */
	t_roundtrip(&ctx, &req, STORE_OP_MAM_PREFS_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.mam_default, STORE_MAM_ALWAYS);
	assert_null(req.mam_always);
	assert_null(req.mam_never);

	/* set: never, the nurse (twice) and Romeo always, Tybalt never;
	 * the answer is what is stored */
	const char *jids[] = { NURSE, ROMEO, NURSE, TYBALT };
	memset(&req, 0, sizeof(req));
	req.mam_default = STORE_MAM_NEVER;
	req.mam_prefs_jids = jids;
	req.n_mam_prefs_always = 3;
	req.n_mam_prefs_never = 1;
	t_roundtrip(&ctx, &req, STORE_OP_MAM_PREFS_SET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.mam_default, STORE_MAM_NEVER);
	assert_int_equal(req.n_mam_always, 2);
	assert_string_equal(req.mam_always[0], NURSE);
	assert_string_equal(req.mam_always[1], ROMEO);
	assert_int_equal(req.n_mam_never, 1);
	assert_string_equal(req.mam_never[0], TYBALT);
	store_strings_free(req.mam_always, req.n_mam_always);
	store_strings_free(req.mam_never, req.n_mam_never);
	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_MAM_PREFS_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.mam_default, STORE_MAM_NEVER);
	assert_int_equal(req.n_mam_always, 2);
	assert_int_equal(req.n_mam_never, 1);
	store_strings_free(req.mam_always, req.n_mam_always);
	store_strings_free(req.mam_never, req.n_mam_never);

	/* a JID on both lists: XS_INVAL, nothing returned */
	const char *both[] = { TYBALT, TYBALT };
	memset(&req, 0, sizeof(req));
	req.mam_prefs_jids = both;
	req.n_mam_prefs_always = 1;
	req.n_mam_prefs_never = 1;
	t_roundtrip(&ctx, &req, STORE_OP_MAM_PREFS_SET, "alice");
	assert_int_equal(req.status, XS_INVAL);
	assert_null(req.mam_always);
	assert_null(req.mam_never);
	/* no account */
	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_MAM_PREFS_SET, "nobody");
	assert_int_equal(req.status, XS_NOTFOUND);

	/* four appends in one batch: Romeo and the nurse archived, Tybalt
	 * and Mercutio refused (XS_DENIED), all four in one transaction */
	append_req(&a[0], ROMEO, "t1", 1000);
	append_req(&a[1], TYBALT, "t2", 1001);
	append_req(&a[2], NURSE, "t3", 1002);
	append_req(&a[3], MERCUTIO, "t4", 1003);
	for (int i = 0; i < 4; i++)
		t_submit(&ctx, &a[i], STORE_OP_MAM_APPEND, "alice");
	for (int i = 0; i < 4; i++) {
		t_next(&ctx, &a[i]);
		assert_int_equal(a[i].status, i % 2 ? XS_DENIED : XS_OK);
		assert_true(a[i].mam_batch >= 1);
	}
	/* a batch the store refuses (t1 is taken) is run again one by one:
	 * each still gets its own answer */
	append_req(&a[0], ROMEO, "t1", 2000);
	append_req(&a[1], TYBALT, "t5", 2001);
	append_req(&a[2], NURSE, "t6", 2002);
	for (int i = 0; i < 3; i++)
		t_submit(&ctx, &a[i], STORE_OP_MAM_APPEND, "alice");
	for (int i = 0; i < 3; i++)
		t_next(&ctx, &a[i]);
	assert_int_equal(a[0].status, XS_INVAL);
	assert_int_equal(a[1].status, XS_DENIED);
	assert_int_equal(a[2].status, XS_OK);
	t_stop(&ctx);

	st = open_ok(d->db);
	assert_string_equal(archived(st, "alice", buf), "t1,t3,t6");
	store_close(st);
}

/* --- retention --- */

#define OLD_N (2 * STORE_MAM_EXPIRE_BATCH + 17)

/* Waits up to 10 s for the count sql gives to be want. */
static void wait_count(const char *db, const char *sql, int want)
{
	int n = -1;
	for (int i = 0; i < 1000; i++) {
		n = db_int(db, sql);
		if (n == want)
			return;
		usleep(10000);
	}
	fail_msg("%s: %d, not %d", sql, n, want);
}

static void test_thread_retention(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req, q;
	char buf[1024];

	/* OLD_N messages two days old (more than two expiry batches), and
	 * three recent ones, written before the thread starts */
	struct store *st = open_ok(d->db);
	user_ok(st, "alice");
	user_ok(st, "bob");
	int64_t now = wall_us();
	struct store_mam_item *it = calloc(OLD_N, sizeof(*it));
	char (*ids)[16] = calloc(OLD_N, sizeof(*ids));
	assert_non_null(it);
	assert_non_null(ids);
	for (unsigned i = 0; i < OLD_N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "o%04u", i);
		item(&it[i], i % 2 ? "alice" : "bob", ROMEO, ids[i], now - 2 * DAY_US + i);
	}
	assert_int_equal(store_mam_append(st, it, OLD_N, NULL), XS_OK);
	struct store_mam_item recent[3];
	item(&recent[0], "alice", ROMEO, "r1", now - DAY_US + 600 * 1000000LL); /* 23h50 */
	item(&recent[1], "alice", ROMEO, "r2", now - 1000000);
	item(&recent[2], "bob", ROMEO, "r3", now);
	assert_int_equal(store_mam_append(st, recent, 3, NULL), XS_OK);
	store_close(st);
	free(it);
	free(ids);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM archive"), OLD_N + 3);

	/* 0: nothing goes */
	t_start(&ctx, d->db, 0, 50);
	usleep(300000);
	memset(&q, 0, sizeof(q));
	q.mam_max = 1;
	t_roundtrip(&ctx, &q, STORE_OP_MAM_QUERY, "alice");
	assert_int_equal(q.status, XS_OK);
	store_mam_results_free(q.mam_results, q.n_mam_results);
	t_stop(&ctx);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM archive"), OLD_N + 3);

	/* one day: the old ones go at start, in batches, with a request
	 * answered meanwhile; the recent ones stay */
	t_start(&ctx, d->db, 1, 200);
	memset(&q, 0, sizeof(q));
	q.mam_max = 1;
	t_roundtrip(&ctx, &q, STORE_OP_MAM_QUERY, "bob");
	assert_int_equal(q.status, XS_OK);
	store_mam_results_free(q.mam_results, q.n_mam_results);
	wait_count(d->db, "SELECT count(*) FROM archive", 3);

	/* a message already older than a day when it is archived goes at
	 * the next pass */
	append_req(&req, ROMEO, "late", now - DAY_US - 1000000);
	t_roundtrip(&ctx, &req, STORE_OP_MAM_APPEND, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_true(db_int(d->db, "SELECT count(*) FROM archive") >= 3);
	wait_count(d->db, "SELECT count(*) FROM archive WHERE stanza_id = 'late'", 0);
	t_stop(&ctx);

	st = open_ok(d->db);
	assert_string_equal(archived(st, "alice", buf), "r1,r2");
	assert_string_equal(archived(st, "bob", buf), "r3");
	store_close(st);
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prefs_get_set, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_prefs_decision, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_prefs_user_delete, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_prefs_migrate_from_v8, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_prefs, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_retention, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
