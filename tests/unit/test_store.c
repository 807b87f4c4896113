/* Unit tests for the storage layer: the SQLite backend behind store.h (file
 * creation, WAL, schema versioning and migration, account semantics,
 * byte-exact credentials, rosters and their one-transaction update,
 * offline messages, per-account documents, blocklists and their matching,
 * the message archive and its paging) and the storage worker thread (many
 * producers, completion on the worker, drain on stop, roster, roster
 * update, offline, document, blocking and archive requests, the
 * blocked-sender check, batched archive appends).
 * Each test works in its own mkdtemp directory and inspects the file through
 * a separate sqlite3 connection, so it checks what is on disk rather than
 * what the backend believes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/auth/sasl_scram.h"
#include "core/base/log.h"
#include "core/base/queue.h"
#include "core/store/store.h"
#include "core/store/store_thread.h"

/* See store_thread.c: the results queue is a liburcu wfcqueue, whose
 * ordering ThreadSanitizer cannot see, so the requester side of the hand-off
 * is declared to it here. */
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

struct tdir {
	char root[64];
	char db[256];
};

static int rm_cb(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int setup_dir(void **state)
{
	struct tdir *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	/* A known umask, so the mode checks test our code, not the shell's. */
	umask(022);
	snprintf(d->root, sizeof(d->root), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(d->root)) {
		free(d);
		return -1;
	}
	/* Two missing levels: open must create both. */
	snprintf(d->db, sizeof(d->db), "%s/var/lib/xmppd.db", d->root);
	*state = d;
	return 0;
}

static int teardown_dir(void **state)
{
	struct tdir *d = *state;
	int rc = rm_cb(d->root);
	free(d);
	return rc == 0 ? 0 : -1;
}

/* Distinctive, per-user and per-hash bytes, including 0x00 and 0xff so that
 * a blob treated as a C string would come back short. */
static void make_cred(struct scram_cred *c, unsigned u, enum scram_hash h)
{
	memset(c, 0, sizeof(*c));
	c->hash = h;
	c->iterations = 4096 + u * 3 + (unsigned)h;
	c->salt_len = 1 + (u * 7 + (unsigned)h * 5) % SCRAM_MAX_SALT;
	for (size_t k = 0; k < c->salt_len; k++)
		c->salt[k] = (uint8_t)(k == 1 ? 0x00 : k == 2 ? 0xff : u * 31 + k * 17 + h);
	for (size_t k = 0; k < scram_hash_len(h); k++) {
		c->stored_key[k] = (uint8_t)(0xa5 ^ (u + k * 3 + h * 101));
		c->server_key[k] = (uint8_t)(0x5a ^ (u * 11 + k + h * 59));
	}
}

static void assert_cred_equal(const struct scram_cred *a, const struct scram_cred *b)
{
	assert_int_equal(a->hash, b->hash);
	assert_int_equal(a->iterations, b->iterations);
	assert_int_equal(a->salt_len, b->salt_len);
	assert_memory_equal(a->salt, b->salt, a->salt_len);
	assert_memory_equal(a->stored_key, b->stored_key, scram_hash_len(a->hash));
	assert_memory_equal(a->server_key, b->server_key, scram_hash_len(a->hash));
	/* Whole struct too: bytes past the used lengths must come back zero
	 * (make_cred zeroes them), i.e. nothing stale leaks out. */
	assert_memory_equal(a, b, sizeof(*a));
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
					 NULL),
			 SQLITE_OK);
	return db;
}

static void raw_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
}

static int raw_int(sqlite3 *db, const char *sql)
{
	char buf[64];
	raw_text(db, sql, buf, sizeof(buf));
	return atoi(buf);
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

static struct store *open_ok(const char *path)
{
	char err[256] = "";
	struct store *st = store_sqlite_open(path, STORE_OPEN_CREATE_DIR, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open(%s): %s", path, err);
	return st;
}

static void test_open_creates_file_wal_schema(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct stat sb;
	char dir[320];

	assert_int_equal(stat(d->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s/var/lib", d->root);
	assert_int_equal(stat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0700);
	snprintf(dir, sizeof(dir), "%s/var", d->root);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);

	/* A write while the handle is open leaves a -wal file, which must be
	 * as private as the database. */
	struct scram_cred c;
	make_cred(&c, 1, SCRAM_SHA256);
	assert_int_equal(store_user_create(st, DOMAIN, "alice", NULL, &c), XS_OK);
	char wal[320];
	snprintf(wal, sizeof(wal), "%s-wal", d->db);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	sqlite3 *raw = raw_open(d->db);
	char mode[32];
	raw_text(raw, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	/* 9: users, rosters, offline messages, account documents, the
	 * roster's wider ask bits, blocklists, the archive, PEP (its tests
	 * are in test_store_pep.c), archive preferences (test_store_mam_prefs.c).  Exact, so that a new migration updates
	 * this test (and the v1 to v6 migration tests below) on purpose. */
	assert_int_equal(store_sqlite_schema_version(), 9);
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), store_sqlite_schema_version());
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				      " AND name IN ('users', 'roster', 'roster_version',"
				      " 'offline', 'account_data', 'blocklist', 'archive',"
				      " 'pep_node', 'pep_item', 'archive_prefs', 'archive_prefs_jid')"),
			 11);
	/* The account written above is visible to another connection. */
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM users WHERE localpart = 'alice'"), 1);
	sqlite3_close(raw);
	store_close(st);
}

static void test_open_tightens_existing_mode(void **state)
{
	struct tdir *d = *state;
	struct stat sb;
	char parent[320];

	/* A directory and a database made by someone else, world-readable. */
	snprintf(parent, sizeof(parent), "%s/var", d->root);
	assert_int_equal(mkdir(parent, 0755), 0);
	snprintf(parent, sizeof(parent), "%s/var/lib", d->root);
	assert_int_equal(mkdir(parent, 0755), 0);
	sqlite3 *raw = raw_open(d->db);
	sqlite3_close(raw);
	assert_int_equal(chmod(d->db, 0644), 0);

	struct store *st = open_ok(d->db);
	assert_int_equal(stat(d->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* An existing directory is the administrator's choice: untouched. */
	assert_int_equal(stat(parent, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0755);
	store_close(st);
}

struct list_acc {
	char names[16][32];
	int n;
};

static void list_cb(void *arg, const char *local)
{
	struct list_acc *acc = arg;
	if (acc->n < 16)
		snprintf(acc->names[acc->n], sizeof(acc->names[0]), "%s", local);
	acc->n++;
}

static void test_user_semantics(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct scram_cred c1, c256, out;
	bool exists = true;

	make_cred(&c1, 7, SCRAM_SHA1);
	make_cred(&c256, 7, SCRAM_SHA256);

	/* Empty store. */
	assert_int_equal(store_user_exists(st, DOMAIN, "alice", &exists), XS_OK);
	assert_false(exists);
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA1, &out), XS_NOTFOUND);
	assert_int_equal(store_user_set_creds(st, DOMAIN, "alice", &c1, &c256), XS_NOTFOUND);
	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_NOTFOUND);

	/* Create; a duplicate is refused and leaves the first untouched. */
	assert_int_equal(store_user_create(st, DOMAIN, "alice", &c1, &c256), XS_OK);
	struct scram_cred other1, other256;
	make_cred(&other1, 99, SCRAM_SHA1);
	make_cred(&other256, 99, SCRAM_SHA256);
	assert_int_equal(store_user_create(st, DOMAIN, "alice", &other1, &other256), XS_INVAL);
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA1, &out), XS_OK);
	assert_cred_equal(&out, &c1);

	assert_int_equal(store_user_exists(st, DOMAIN, "alice", &exists), XS_OK);
	assert_true(exists);
	/* Keys are (domain, localpart), compared exactly. */
	assert_int_equal(store_user_exists(st, "example.net", "alice", &exists), XS_OK);
	assert_false(exists);
	assert_int_equal(store_user_exists(st, DOMAIN, "Alice", &exists), XS_OK);
	assert_false(exists);

	/* The same localpart in another domain is another account. */
	assert_int_equal(store_user_create(st, "example.net", "alice", &other1, &other256), XS_OK);
	assert_int_equal(store_user_create(st, DOMAIN, "carol", NULL, &c256), XS_OK);
	assert_int_equal(store_user_create(st, DOMAIN, "bob", &c1, NULL), XS_OK);

	/* List: only this domain, sorted by localpart. */
	struct list_acc acc = { .n = 0 };
	assert_int_equal(store_user_list(st, DOMAIN, list_cb, &acc), XS_OK);
	assert_int_equal(acc.n, 3);
	assert_string_equal(acc.names[0], "alice");
	assert_string_equal(acc.names[1], "bob");
	assert_string_equal(acc.names[2], "carol");
	acc.n = 0;
	assert_int_equal(store_user_list(st, "example.net", list_cb, &acc), XS_OK);
	assert_int_equal(acc.n, 1);
	assert_string_equal(acc.names[0], "alice");
	acc.n = 0;
	assert_int_equal(store_user_list(st, "nobody.example", list_cb, &acc), XS_OK);
	assert_int_equal(acc.n, 0);

	/* A missing credential slot reads as not found, with out zeroed. */
	memset(&out, 0xee, sizeof(out));
	assert_int_equal(store_user_get_cred(st, DOMAIN, "carol", SCRAM_SHA1, &out), XS_NOTFOUND);
	struct scram_cred zero;
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&out, &zero, sizeof(out));
	assert_int_equal(store_user_get_cred(st, DOMAIN, "bob", SCRAM_SHA256, &out), XS_NOTFOUND);

	/* A password change replaces both slots: a NULL slot is cleared. */
	assert_int_equal(store_user_set_creds(st, DOMAIN, "alice", NULL, &other256), XS_OK);
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA1, &out), XS_NOTFOUND);
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA256, &out), XS_OK);
	assert_cred_equal(&out, &other256);
	/* ... and touches no other account. */
	assert_int_equal(store_user_get_cred(st, "example.net", "alice", SCRAM_SHA1, &out), XS_OK);
	assert_cred_equal(&out, &other1);

	/* Delete. */
	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_OK);
	assert_int_equal(store_user_exists(st, DOMAIN, "alice", &exists), XS_OK);
	assert_false(exists);
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA256, &out), XS_NOTFOUND);
	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_NOTFOUND);
	assert_int_equal(store_user_set_creds(st, DOMAIN, "alice", &c1, NULL), XS_NOTFOUND);
	assert_int_equal(store_user_exists(st, "example.net", "alice", &exists), XS_OK);
	assert_true(exists);
	/* Re-creating a deleted account works. */
	assert_int_equal(store_user_create(st, DOMAIN, "alice", &c1, NULL), XS_OK);

	store_close(st);
}

/* The iteration counts in use, most used first, for fake challenges. */
static void test_iteration_counts(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_iter_count it[4];
	size_t n = 99;
	struct scram_cred a, b;

	assert_int_equal(store_iteration_counts(st, SCRAM_SHA256, it, 4, &n), XS_OK);
	assert_int_equal(n, 0);
	make_cred(&a, 1, SCRAM_SHA256); /* 4099 iterations */
	make_cred(&b, 2, SCRAM_SHA256); /* 4102 */
	const char *names[] = { "u1", "u2", "u3" };
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_user_create(st, DOMAIN, names[i], NULL, i ? &a : &b), XS_OK);
	assert_int_equal(store_user_create(st, "example.net", "u1", NULL, &a), XS_OK);
	assert_int_equal(store_iteration_counts(st, SCRAM_SHA256, it, 4, &n), XS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(it[0].iterations, a.iterations);
	assert_int_equal(it[0].count, 3);
	assert_int_equal(it[1].iterations, b.iterations);
	assert_int_equal(it[1].count, 1);
	/* max bounds what comes back; no SHA-1 credentials at all */
	assert_int_equal(store_iteration_counts(st, SCRAM_SHA256, it, 1, &n), XS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_iteration_counts(st, SCRAM_SHA1, it, 4, &n), XS_OK);
	assert_int_equal(n, 0);
	store_close(st);
}

static void test_bad_arguments(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct scram_cred c1, c256, out;
	bool exists;

	make_cred(&c1, 3, SCRAM_SHA1);
	make_cred(&c256, 3, SCRAM_SHA256);
	assert_int_equal(store_user_create(st, DOMAIN, "x", NULL, NULL), XS_INVAL);
	assert_int_equal(store_user_create(st, DOMAIN, "", &c1, NULL), XS_INVAL);
	assert_int_equal(store_user_create(st, "", "x", &c1, NULL), XS_INVAL);
	assert_int_equal(store_user_create(st, NULL, "x", &c1, NULL), XS_INVAL);
	/* A credential in the wrong slot. */
	assert_int_equal(store_user_create(st, DOMAIN, "x", &c256, NULL), XS_INVAL);
	assert_int_equal(store_user_create(st, DOMAIN, "x", NULL, &c1), XS_INVAL);
	struct scram_cred bad = c1;
	bad.salt_len = 0;
	assert_int_equal(store_user_create(st, DOMAIN, "x", &bad, NULL), XS_INVAL);
	bad = c1;
	bad.salt_len = SCRAM_MAX_SALT + 1;
	assert_int_equal(store_user_create(st, DOMAIN, "x", &bad, NULL), XS_INVAL);
	bad = c1;
	bad.iterations = 0;
	assert_int_equal(store_user_create(st, DOMAIN, "x", &bad, NULL), XS_INVAL);
	assert_int_equal(store_user_get_cred(st, DOMAIN, "x", (enum scram_hash)7, &out), XS_INVAL);
	assert_int_equal(store_user_exists(st, DOMAIN, "x", NULL), XS_INVAL);
	assert_int_equal(store_user_list(st, DOMAIN, NULL, NULL), XS_INVAL);
	/* None of the refusals wrote anything. */
	assert_int_equal(store_user_exists(st, DOMAIN, "x", &exists), XS_OK);
	assert_false(exists);
	store_close(st);
}

static void test_cred_roundtrip_and_reopen(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct scram_cred in1[8], in256[8], out;
	char name[32];

	for (unsigned u = 0; u < 8; u++) {
		make_cred(&in1[u], u, SCRAM_SHA1);
		make_cred(&in256[u], u, SCRAM_SHA256);
		snprintf(name, sizeof(name), "user%u", u);
		assert_int_equal(store_user_create(st, DOMAIN, name, &in1[u], &in256[u]), XS_OK);
	}
	/* Extremes: longest salt, largest iteration count. */
	in256[0].salt_len = SCRAM_MAX_SALT;
	memset(in256[0].salt, 0x00, SCRAM_MAX_SALT);
	in256[0].salt[SCRAM_MAX_SALT - 1] = 0x80;
	in256[0].iterations = 0xffffffffu;
	assert_int_equal(store_user_set_creds(st, DOMAIN, "user0", &in1[0], &in256[0]), XS_OK);

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned u = 0; u < 8; u++) {
			snprintf(name, sizeof(name), "user%u", u);
			assert_int_equal(store_user_get_cred(st, DOMAIN, name, SCRAM_SHA1, &out),
					 XS_OK);
			assert_cred_equal(&out, &in1[u]);
			assert_int_equal(store_user_get_cred(st, DOMAIN, name, SCRAM_SHA256, &out),
					 XS_OK);
			assert_cred_equal(&out, &in256[u]);
		}
		/* Second pass: after closing and opening again. */
		store_close(st);
		st = open_ok(d->db);
	}
	store_close(st);
}

/* A row that does not hold a well-formed credential (hand edit, bad
 * restore) is an I/O error, not a credential with a short key. */
static void test_malformed_row(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct scram_cred out;

	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "INSERT INTO users (domain, localpart, sha1_salt, sha1_iter, sha1_stored,"
		      " sha1_server, created) VALUES ('" DOMAIN "', 'short', x'0102', 4096,"
		      " x'00112233', x'0011223344556677889900112233445566778899', 0)");
	sqlite3_close(raw);
	assert_int_equal(store_user_get_cred(st, DOMAIN, "short", SCRAM_SHA1, &out), XS_IO);
	store_close(st);
}

static void test_newer_schema_refused(void **state)
{
	struct tdir *d = *state;
	char err[512] = "";

	/* First a valid store, so the parent exists and the file is ours. */
	store_close(open_ok(d->db));
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "PRAGMA journal_mode = DELETE");
	raw_exec(raw, "PRAGMA user_version = 999");
	sqlite3_close(raw);

	assert_null(store_sqlite_open(d->db, STORE_OPEN_EXISTING, err, sizeof(err)));
	assert_non_null(strstr(err, "999"));
	assert_non_null(strstr(err, "newer"));
	/* The storage thread reports the same error synchronously. */
	err[0] = '\0';
	assert_null(store_thread_start(d->db, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "999"));

	/* Refused before anything was changed: still not WAL, still 999. */
	raw = raw_open(d->db);
	char mode[32];
	raw_text(raw, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "delete");
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 999);
	sqlite3_close(raw);
}

static void test_open_errors(void **state)
{
	struct tdir *d = *state;
	char path[320], err[512] = "";

	/* The parent "directory" is a regular file. */
	snprintf(path, sizeof(path), "%s/file", d->root);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/file/sub/x.db", d->root);
	assert_null(store_sqlite_open(path, STORE_OPEN_CREATE_DIR, err, sizeof(err)));
	assert_non_null(strstr(err, "file/sub"));

	/* Not a database. */
	snprintf(path, sizeof(path), "%s/garbage.db", d->root);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not an sqlite database\n", f);
	fclose(f);
	err[0] = '\0';
	assert_null(store_sqlite_open(path, STORE_OPEN_CREATE_DIR, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	assert_null(store_sqlite_open("", STORE_OPEN_CREATE_DIR, err, sizeof(err)));
}

/* Only xmppctl creates a database: the server (and the storage thread)
 * refuses a missing file or directory and creates nothing, so that a typo
 * in [storage] path does not start a server with no accounts. */
static void test_open_modes(void **state)
{
	struct tdir *d = *state;
	char dir[320], path[340], err[512] = "";
	struct stat sb;

	/* d->db is root/var/lib/xmppd.db: neither var/lib nor the file exist. */
	assert_null(store_sqlite_open(d->db, STORE_OPEN_EXISTING, err, sizeof(err)));
	assert_non_null(strstr(err, "var/lib: No such file or directory"));
	assert_non_null(strstr(err, "xmppctl init"));
	assert_null(store_thread_start(d->db, 0, err, sizeof(err)));
	assert_null(store_sqlite_open(d->db, STORE_OPEN_CREATE_FILE, err, sizeof(err)));
	assert_non_null(strstr(err, "var/lib: No such file or directory"));
	snprintf(dir, sizeof(dir), "%s/var", d->root);
	assert_int_equal(stat(dir, &sb), -1); /* nothing was created */

	/* The directory exists, the file does not. */
	snprintf(path, sizeof(path), "%s/x.db", d->root);
	assert_null(store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err)));
	assert_non_null(strstr(err, "no database at"));
	assert_non_null(strstr(err, "xmppctl init"));
	assert_int_equal(stat(path, &sb), -1);
	struct store *st = store_sqlite_open(path, STORE_OPEN_CREATE_FILE, err, sizeof(err));
	assert_non_null(st);
	store_close(st);
	st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	assert_non_null(st);
	store_close(st);

	/* CREATE_DIR makes the directories too (as open_ok does). */
	store_close(open_ok(d->db));
	assert_int_equal(stat(d->db, &sb), 0);
}

/* --- rosters --- */

#define R_MAX 8

/* What roster_get handed to its callback, copied (the items are valid only
 * during the call). */
struct r_acc {
	struct store_roster_item it[R_MAX];
	size_t n;
};

static char *r_dup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	assert_non_null(d);
	return d;
}

static void r_cb(void *arg, const struct store_roster_item *it)
{
	struct r_acc *acc = arg;
	if (acc->n < R_MAX) {
		struct store_roster_item *d = &acc->it[acc->n];
		*d = *it;
		d->contact = r_dup(it->contact);
		d->name = r_dup(it->name);
		d->groups = r_dup(it->groups);
	}
	acc->n++;
}

static void r_acc_free(struct r_acc *acc)
{
	for (size_t i = 0; i < acc->n && i < R_MAX; i++) {
		free(acc->it[i].contact);
		free(acc->it[i].name);
		free(acc->it[i].groups);
	}
	acc->n = 0;
}

/* Reads the roster of local@domain into acc (emptied first); returns the
 * version. */
static uint64_t r_get(struct store *st, const char *domain, const char *local,
		      struct r_acc *acc)
{
	uint64_t ver = 12345;
	r_acc_free(acc);
	assert_int_equal(store_roster_get(st, domain, local, r_cb, acc, &ver), XS_OK);
	assert_true(acc->n <= R_MAX);
	return ver;
}

static void assert_item_equal(const struct store_roster_item *got,
			      const struct store_roster_item *want)
{
	assert_string_equal(got->contact, want->contact);
	if (want->name)
		assert_string_equal(got->name, want->name);
	else
		assert_null(got->name);
	assert_string_equal(got->groups, want->groups);
	assert_int_equal(got->subscription, want->subscription);
	assert_int_equal(got->ask, want->ask);
}

static struct store_roster_item r_item(const char *contact, const char *name, const char *groups,
				       enum roster_sub sub, unsigned ask)
{
	return (struct store_roster_item){ .contact = (char *)contact,
					   .name = (char *)name,
					   .groups = (char *)groups,
					   .subscription = (unsigned char)sub,
					   .ask = (unsigned char)ask };
}

/* Puts it and checks the version that comes back. */
static void r_put_ok(struct store *st, const char *domain, const char *local,
		     const struct store_roster_item *it, unsigned max, uint64_t want_ver)
{
	uint64_t ver = 0;
	assert_int_equal(store_roster_put(st, domain, local, it, max, &ver), XS_OK);
	assert_int_equal(ver, want_ver);
}

/* Inserted out of byte order on purpose; romeo carries every field, juliet
 * the empty ones.  "a\x1f" "b" is split so the escape cannot swallow the b. */
#define R_ROMEO \
	r_item("romeo@montague.lit", "Romeo", "a\x1f" "b", ROSTER_SUB_BOTH, ROSTER_ASK_OUT)
#define R_JULIET r_item("juliet@capulet.lit", NULL, "", ROSTER_SUB_FROM, ROSTER_ASK_IN)

/* store_roster_get_since: with the client's version current no item is
 * read; with any other, the whole roster and the version, as
 * store_roster_get gives them. */
static void test_roster_get_since(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	uint64_t ver = 99;
	bool unchanged = true;

	/* a roster never written is at version 0 */
	assert_int_equal(store_roster_get_since(st, DOMAIN, "alice", r_cb, &acc, 0, &ver,
						&unchanged), XS_OK);
	assert_true(unchanged);
	assert_int_equal(ver, 0);
	assert_int_equal(acc.n, 0);

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 2);
	assert_int_equal(store_roster_get_since(st, DOMAIN, "alice", r_cb, &acc, 2, &ver,
						&unchanged), XS_OK);
	assert_true(unchanged);
	assert_int_equal(ver, 2);
	assert_int_equal(acc.n, 0); /* the callback never ran */

	for (uint64_t known = 0; known < 4; known += 3) { /* older, and not yet given */
		r_acc_free(&acc);
		assert_int_equal(store_roster_get_since(st, DOMAIN, "alice", r_cb, &acc, known,
							&ver, &unchanged), XS_OK);
		assert_false(unchanged);
		assert_int_equal(ver, 2);
		assert_int_equal(acc.n, 2);
		assert_item_equal(&acc.it[0], &juliet);
		assert_item_equal(&acc.it[1], &romeo);
	}
	r_acc_free(&acc);
	assert_int_equal(store_roster_get_since(st, DOMAIN, "alice", r_cb, &acc, 2, &ver, NULL),
			 XS_INVAL);
	assert_int_equal(store_roster_get_since(st, DOMAIN, "alice", NULL, NULL, 2, &ver,
						&unchanged), XS_INVAL);
	store_close(st);
}

static void test_roster_get_put(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;

	/* Empty: no items, version 0. */
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 0);
	assert_int_equal(acc.n, 0);

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 2);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 2);
	assert_int_equal(acc.n, 2);
	assert_item_equal(&acc.it[0], &juliet);
	assert_item_equal(&acc.it[1], &romeo);

	/* On disk: no name is SQL NULL, the separator is kept as it is. */
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster WHERE name IS NULL"
				      " AND contact = 'juliet@capulet.lit'"),
			 1);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster WHERE groups = 'a' || char(31)"
				      " || 'b'"),
			 1);

	/* Replacing changes the item in place and bumps the version.  An
	 * empty name is a name, not NULL. */
	struct store_roster_item romeo2 = r_item("romeo@montague.lit", "", "", ROSTER_SUB_TO,
						 ROSTER_ASK_OUT | ROSTER_ASK_IN);
	r_put_ok(st, DOMAIN, "alice", &romeo2, 0, 3);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);
	assert_int_equal(acc.n, 2);
	assert_item_equal(&acc.it[0], &juliet);
	assert_item_equal(&acc.it[1], &romeo2);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster"), 2);

	/* Byte order, not a collation: upper case and ASCII before UTF-8. */
	struct store_roster_item e = r_item("\xc3\xa9mile@example.fr", "E", "", ROSTER_SUB_NONE, 0);
	struct store_roster_item z = r_item("Zed@example.com", "Z", "", ROSTER_SUB_NONE, 0);
	r_put_ok(st, DOMAIN, "alice", &e, 0, 4);
	r_put_ok(st, DOMAIN, "alice", &z, 0, 5);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 5);
	assert_int_equal(acc.n, 4);
	assert_item_equal(&acc.it[0], &z);
	assert_item_equal(&acc.it[1], &juliet);
	assert_item_equal(&acc.it[2], &romeo2);
	assert_item_equal(&acc.it[3], &e);

	/* Refused arguments write nothing. */
	uint64_t ver = 0;
	struct store_roster_item bad = romeo;
	bad.groups = NULL;
	assert_int_equal(store_roster_put(st, DOMAIN, "alice", &bad, 0, &ver), XS_INVAL);
	bad = romeo;
	bad.subscription = ROSTER_SUB_BOTH + 1;
	assert_int_equal(store_roster_put(st, DOMAIN, "alice", &bad, 0, &ver), XS_INVAL);
	bad = romeo;
	bad.ask = ROSTER_ASK_ALL + 1;
	assert_int_equal(store_roster_put(st, DOMAIN, "alice", &bad, 0, &ver), XS_INVAL);
	bad = romeo;
	bad.contact = (char *)"";
	assert_int_equal(store_roster_put(st, DOMAIN, "alice", &bad, 0, &ver), XS_INVAL);
	assert_int_equal(store_roster_get(st, DOMAIN, "alice", NULL, NULL, &ver), XS_INVAL);
	assert_int_equal(store_roster_remove(st, DOMAIN, "", "x@y", &ver), XS_INVAL);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 5);
	assert_int_equal(acc.n, 4);
	assert_item_equal(&acc.it[2], &romeo2);

	sqlite3_close(raw);
	r_acc_free(&acc);
	store_close(st);
}

static void test_roster_limit(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	struct store_roster_item tybalt = r_item("tybalt@capulet.lit", NULL, "", ROSTER_SUB_NONE, 0);
	uint64_t ver = 777;

	r_put_ok(st, DOMAIN, "alice", &romeo, 2, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 2, 2);
	/* Full: a new contact is refused and nothing changes ... */
	assert_int_equal(store_roster_put(st, DOMAIN, "alice", &tybalt, 2, &ver), XS_LIMIT);
	assert_int_equal(ver, 777);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 2);
	assert_int_equal(acc.n, 2);
	assert_item_equal(&acc.it[0], &juliet);
	assert_item_equal(&acc.it[1], &romeo);
	/* ... but replacing an item does not grow the roster. */
	juliet.name = (char *)"Juliet";
	r_put_ok(st, DOMAIN, "alice", &juliet, 2, 3);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);
	assert_item_equal(&acc.it[0], &juliet);
	/* 0 is no limit; a roster above a (lowered) limit still refuses. */
	r_put_ok(st, DOMAIN, "alice", &tybalt, 0, 4);
	struct store_roster_item mercutio = r_item("mercutio@verona.lit", NULL, "", 0, 0);
	assert_int_equal(store_roster_put(st, DOMAIN, "alice", &mercutio, 2, &ver), XS_LIMIT);
	assert_int_equal(store_roster_put(st, DOMAIN, "alice", &mercutio, 3, &ver), XS_LIMIT);
	r_put_ok(st, DOMAIN, "alice", &mercutio, 4, 5);
	/* The limit is per account, domain included. */
	r_put_ok(st, DOMAIN, "bob", &mercutio, 1, 1);
	r_put_ok(st, "example.net", "alice", &mercutio, 1, 1);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 5);
	assert_int_equal(acc.n, 4);
	r_acc_free(&acc);
	store_close(st);
}

static void test_roster_remove(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	uint64_t ver = 777;

	/* Nothing to remove: no version row is created either. */
	assert_int_equal(store_roster_remove(st, DOMAIN, "alice", "romeo@montague.lit", &ver),
			 XS_NOTFOUND);
	assert_int_equal(ver, 777);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 0);
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster_version"), 0);

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 2);
	assert_int_equal(store_roster_remove(st, DOMAIN, "alice", "tybalt@capulet.lit", &ver),
			 XS_NOTFOUND);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 2);
	assert_int_equal(acc.n, 2);

	assert_int_equal(store_roster_remove(st, DOMAIN, "alice", "romeo@montague.lit", &ver),
			 XS_OK);
	assert_int_equal(ver, 3);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);
	assert_int_equal(acc.n, 1);
	assert_item_equal(&acc.it[0], &juliet);
	assert_int_equal(store_roster_remove(st, DOMAIN, "alice", "romeo@montague.lit", &ver),
			 XS_NOTFOUND);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);

	/* The version outlives the last item: an empty roster is a state a
	 * client may have cached too. */
	assert_int_equal(store_roster_remove(st, DOMAIN, "alice", "juliet@capulet.lit", &ver),
			 XS_OK);
	assert_int_equal(ver, 4);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 4);
	assert_int_equal(acc.n, 0);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster"), 0);
	sqlite3_close(raw);
	store_close(st);
}

static void test_roster_accounts_separate(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	struct store_roster_item tybalt = r_item("tybalt@capulet.lit", NULL, "", ROSTER_SUB_NONE, 0);
	uint64_t ver;

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 2);
	r_put_ok(st, DOMAIN, "bob", &juliet, 0, 1);
	r_put_ok(st, "example.net", "alice", &tybalt, 0, 1);
	/* The same localpart and contact in another domain. */
	r_put_ok(st, "example.net", "bob", &juliet, 0, 1);
	/* A localpart that is a prefix of another is another account. */
	r_put_ok(st, DOMAIN, "alic", &tybalt, 0, 1);

	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 2);
	assert_int_equal(acc.n, 2);
	assert_int_equal(r_get(st, DOMAIN, "bob", &acc), 1);
	assert_int_equal(acc.n, 1);
	assert_item_equal(&acc.it[0], &juliet);
	assert_int_equal(r_get(st, "example.net", "alice", &acc), 1);
	assert_int_equal(acc.n, 1);
	assert_item_equal(&acc.it[0], &tybalt);
	assert_int_equal(r_get(st, "example.net", "carol", &acc), 0);
	assert_int_equal(acc.n, 0);

	/* Removing from one account leaves the same contact in another. */
	assert_int_equal(store_roster_remove(st, DOMAIN, "bob", "juliet@capulet.lit", &ver), XS_OK);
	assert_int_equal(ver, 2);
	assert_int_equal(store_roster_remove(st, DOMAIN, "bob", "tybalt@capulet.lit", &ver),
			 XS_NOTFOUND);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 2);
	assert_int_equal(acc.n, 2);
	assert_item_equal(&acc.it[0], &juliet);
	assert_int_equal(r_get(st, "example.net", "alice", &acc), 1);
	assert_int_equal(r_get(st, "example.net", "bob", &acc), 1);
	assert_int_equal(acc.n, 1);
	assert_item_equal(&acc.it[0], &juliet);
	assert_int_equal(r_get(st, DOMAIN, "bob", &acc), 2);
	assert_int_equal(acc.n, 0);
	r_acc_free(&acc);
	store_close(st);
}

static void test_roster_reopen(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 2);
	store_close(st);
	st = open_ok(d->db);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 2);
	assert_int_equal(acc.n, 2);
	assert_item_equal(&acc.it[0], &juliet);
	assert_item_equal(&acc.it[1], &romeo);
	/* The counter goes on from where it was. */
	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 3);
	r_acc_free(&acc);
	store_close(st);
}

static void test_roster_user_delete(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	struct scram_cred c;

	make_cred(&c, 1, SCRAM_SHA256);
	assert_int_equal(store_user_create(st, DOMAIN, "alice", NULL, &c), XS_OK);
	assert_int_equal(store_user_create(st, DOMAIN, "bob", NULL, &c), XS_OK);
	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 2);
	r_put_ok(st, DOMAIN, "bob", &romeo, 0, 1);

	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_OK);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);
	assert_int_equal(acc.n, 0);
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster WHERE localpart = 'alice'"), 0);
	/* the version goes on (2 -> 3) rather than starting again */
	assert_int_equal(raw_int(raw, "SELECT ver FROM roster_version WHERE localpart = 'alice'"),
			 3);
	sqlite3_close(raw);
	/* Another account's roster stays. */
	assert_int_equal(r_get(st, DOMAIN, "bob", &acc), 1);
	assert_int_equal(acc.n, 1);

	/* Created again: empty, and its versions never repeat the old
	 * account's, so no client cache of the old roster looks current. */
	assert_int_equal(store_user_create(st, DOMAIN, "alice", NULL, &c), XS_OK);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);
	assert_int_equal(acc.n, 0);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 4);
	r_acc_free(&acc);
	store_close(st);
}

/* A failure after the item was written (here: a trigger the test adds
 * makes the version bump fail) rolls the whole change back and leaves the
 * handle usable, not stuck inside a transaction. */
static void test_roster_rollback(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	uint64_t ver = 777;

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "CREATE TRIGGER boom BEFORE UPDATE ON roster_version"
		      " BEGIN SELECT RAISE(ABORT, 'test: no version bump'); END");
	assert_int_equal(store_roster_put(st, DOMAIN, "alice", &juliet, 0, &ver), XS_IO);
	assert_int_equal(store_roster_remove(st, DOMAIN, "alice", "romeo@montague.lit", &ver),
			 XS_IO);
	assert_int_equal(ver, 777);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 1);
	assert_int_equal(acc.n, 1);
	assert_item_equal(&acc.it[0], &romeo);

	raw_exec(raw, "DROP TRIGGER boom");
	sqlite3_close(raw);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 2);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 2);
	assert_int_equal(acc.n, 2);
	r_acc_free(&acc);
	store_close(st);
}

/* A row the interface does not allow (a hand edit: the CHECKs pass an
 * empty contact) is an error, not an item. */
static void test_roster_malformed_row(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	uint64_t ver;

	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "INSERT INTO roster (domain, localpart, contact) VALUES ('" DOMAIN "',"
		      " 'alice', '')");
	sqlite3_close(raw);
	assert_int_equal(store_roster_get(st, DOMAIN, "alice", r_cb, &acc, &ver), XS_IO);
	/* ... and the read transaction was closed: writes still work. */
	struct store_roster_item romeo = R_ROMEO;
	r_put_ok(st, DOMAIN, "bob", &romeo, 0, 1);
	r_acc_free(&acc);
	store_close(st);
}

/* --- roster update (store_roster_update) --- */

/* A store_roster_update callback driven by the test: what it saw, and
 * what it does (set_* fields applied only when asked for). */
struct u_apply {
	/* what it does */
	enum roster_change ret;
	bool set_sub, set_ask, set_name, set_groups;
	unsigned char sub, ask;
	const char *name, *groups;
	const char *contact; /* non-NULL: replaces it->contact (refused) */
	/* what it saw */
	int calls;
	bool existed;
	const char *seen_contact; /* the pointer, as given */
	char seen_name[64];       /* "(null)" for none */
	char seen_groups[64];
	unsigned char seen_sub, seen_ask;
	pthread_t thread;
};

static enum roster_change u_apply_cb(void *arg, struct store_roster_item *it, bool existed)
{
	struct u_apply *u = arg;

	u->calls++;
	u->existed = existed;
	u->thread = pthread_self();
	u->seen_contact = it->contact;
	snprintf(u->seen_name, sizeof(u->seen_name), "%s", it->name ? it->name : "(null)");
	snprintf(u->seen_groups, sizeof(u->seen_groups), "%s", it->groups ? it->groups : "?");
	u->seen_sub = it->subscription;
	u->seen_ask = it->ask;
	if (u->set_sub)
		it->subscription = u->sub;
	if (u->set_ask)
		it->ask = u->ask;
	/* Strings of its own, in u: valid until the call returns. */
	if (u->set_name)
		it->name = (char *)u->name;
	if (u->set_groups)
		it->groups = (char *)u->groups;
	if (u->contact)
		it->contact = (char *)u->contact;
	return u->ret;
}

static enum xs u_run(struct store *st, const char *local, const char *contact,
		     struct u_apply *u, unsigned max, uint64_t *ver)
{
	u->calls = 0;
	return store_roster_update(st, DOMAIN, local, contact, u_apply_cb, u, max, ver);
}

/* A new item: apply sees the empty one, and what it writes is stored
 * (name NULL, groups "" unless it set them) under a bumped version. */
static void test_roster_update_create(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	const char *contact = "romeo@montague.lit";
	uint64_t ver = 777;

	struct u_apply u = { .ret = ROSTER_WRITE, .set_sub = true, .sub = ROSTER_SUB_NONE,
			     .set_ask = true, .ask = ROSTER_ASK_IN | ROSTER_ASK_HIDDEN };
	assert_int_equal(u_run(st, "alice", contact, &u, 0, &ver), XS_OK);
	assert_int_equal(u.calls, 1);
	assert_false(u.existed);
	assert_ptr_equal(u.seen_contact, contact);
	assert_string_equal(u.seen_name, "(null)");
	assert_string_equal(u.seen_groups, "");
	assert_int_equal(u.seen_sub, ROSTER_SUB_NONE);
	assert_int_equal(u.seen_ask, 0);
	assert_int_equal(ver, 1);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 1);
	assert_int_equal(acc.n, 1);
	struct store_roster_item want = r_item(contact, NULL, "", ROSTER_SUB_NONE,
					       ROSTER_ASK_IN | ROSTER_ASK_HIDDEN);
	assert_item_equal(&acc.it[0], &want);

	/* A second new one with everything set by apply. */
	struct u_apply u2 = { .ret = ROSTER_WRITE, .set_sub = true, .sub = ROSTER_SUB_TO,
			      .set_name = true, .name = "Juliet", .set_groups = true,
			      .groups = "x\x1f" "y" };
	assert_int_equal(u_run(st, "alice", "juliet@capulet.lit", &u2, 0, &ver), XS_OK);
	assert_false(u2.existed);
	assert_int_equal(ver, 2);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 2);
	assert_int_equal(acc.n, 2);
	want = r_item("juliet@capulet.lit", "Juliet", "x\x1f" "y", ROSTER_SUB_TO, 0);
	assert_item_equal(&acc.it[0], &want);
	r_acc_free(&acc);
	store_close(st);
}

/* UNCHANGED writes nothing: the row and the version stay, and *ver is the
 * current version; for a contact with no item nothing is created (not
 * even a version row). */
static void test_roster_update_unchanged(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO;
	uint64_t ver = 777;

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	/* apply may scribble on the item: UNCHANGED stores none of it. */
	struct u_apply u = { .ret = ROSTER_UNCHANGED, .set_sub = true, .sub = ROSTER_SUB_NONE,
			     .set_name = true, .name = "scribble" };
	assert_int_equal(u_run(st, "alice", romeo.contact, &u, 0, &ver), XS_OK);
	assert_int_equal(u.calls, 1);
	assert_true(u.existed);
	assert_string_equal(u.seen_name, "Romeo");
	assert_string_equal(u.seen_groups, "a\x1f" "b");
	assert_int_equal(u.seen_sub, ROSTER_SUB_BOTH);
	assert_int_equal(u.seen_ask, ROSTER_ASK_OUT);
	assert_int_equal(ver, 1);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 1);
	assert_int_equal(acc.n, 1);
	assert_item_equal(&acc.it[0], &romeo);

	ver = 777;
	assert_int_equal(u_run(st, "alice", "juliet@capulet.lit", &u, 0, &ver), XS_OK);
	assert_false(u.existed);
	assert_int_equal(ver, 1);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 1);
	assert_int_equal(acc.n, 1);

	ver = 777;
	assert_int_equal(u_run(st, "bob", "juliet@capulet.lit", &u, 0, &ver), XS_OK);
	assert_int_equal(ver, 0);
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster_version"
				      " WHERE localpart = 'bob'"),
			 0);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster"), 1);
	sqlite3_close(raw);
	r_acc_free(&acc);
	store_close(st);
}

/* WRITE on an existing item: what apply changed is stored, the rest (name,
 * groups) is kept as it was. */
static void test_roster_update_write(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	uint64_t ver = 777;

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 2);
	struct u_apply u = { .ret = ROSTER_WRITE, .set_sub = true, .sub = ROSTER_SUB_TO,
			     .set_ask = true, .ask = ROSTER_ASK_PREAPPROVED };
	assert_int_equal(u_run(st, "alice", romeo.contact, &u, 0, &ver), XS_OK);
	assert_true(u.existed);
	assert_int_equal(ver, 3);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);
	assert_int_equal(acc.n, 2);
	struct store_roster_item want = r_item(romeo.contact, "Romeo", "a\x1f" "b", ROSTER_SUB_TO,
					       ROSTER_ASK_PREAPPROVED);
	assert_item_equal(&acc.it[1], &want);
	assert_item_equal(&acc.it[0], &juliet);

	/* Now apply changes the name (to none) and the groups too. */
	struct u_apply u2 = { .ret = ROSTER_WRITE, .set_name = true, .name = NULL,
			      .set_groups = true, .groups = "c" };
	assert_int_equal(u_run(st, "alice", romeo.contact, &u2, 0, &ver), XS_OK);
	assert_string_equal(u2.seen_name, "Romeo");
	assert_int_equal(u2.seen_sub, ROSTER_SUB_TO);
	assert_int_equal(u2.seen_ask, ROSTER_ASK_PREAPPROVED);
	assert_int_equal(ver, 4);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 4);
	want = r_item(romeo.contact, NULL, "c", ROSTER_SUB_TO, ROSTER_ASK_PREAPPROVED);
	assert_item_equal(&acc.it[1], &want);
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster WHERE name IS NULL"
				      " AND contact = 'romeo@montague.lit'"),
			 1);
	sqlite3_close(raw);
	r_acc_free(&acc);
	store_close(st);
}

/* DELETE removes and bumps; of a missing item it is UNCHANGED. */
static void test_roster_update_delete(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	uint64_t ver = 777;

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 0, 2);
	struct u_apply u = { .ret = ROSTER_DELETE };
	assert_int_equal(u_run(st, "alice", romeo.contact, &u, 0, &ver), XS_OK);
	assert_true(u.existed);
	assert_int_equal(u.seen_sub, ROSTER_SUB_BOTH);
	assert_int_equal(ver, 3);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);
	assert_int_equal(acc.n, 1);
	assert_item_equal(&acc.it[0], &juliet);

	ver = 777;
	assert_int_equal(u_run(st, "alice", romeo.contact, &u, 0, &ver), XS_OK);
	assert_int_equal(u.calls, 1);
	assert_false(u.existed);
	assert_int_equal(ver, 3);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);
	assert_int_equal(acc.n, 1);
	/* An account with nothing at all: no version row appears. */
	assert_int_equal(u_run(st, "bob", romeo.contact, &u, 0, &ver), XS_OK);
	assert_int_equal(ver, 0);
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster_version"
				      " WHERE localpart = 'bob'"),
			 0);
	sqlite3_close(raw);
	r_acc_free(&acc);
	store_close(st);
}

/* At max_items a new item is refused (nothing written, *ver untouched),
 * while an existing one can still be written, and UNCHANGED or DELETE
 * are not limited. */
static void test_roster_update_limit(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	uint64_t ver = 777;

	r_put_ok(st, DOMAIN, "alice", &romeo, 2, 1);
	r_put_ok(st, DOMAIN, "alice", &juliet, 2, 2);
	struct u_apply u = { .ret = ROSTER_WRITE, .set_sub = true, .sub = ROSTER_SUB_FROM };
	assert_int_equal(u_run(st, "alice", "tybalt@capulet.lit", &u, 2, &ver), XS_LIMIT);
	assert_int_equal(u.calls, 1);
	assert_int_equal(ver, 777);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 2);
	assert_int_equal(acc.n, 2);
	assert_item_equal(&acc.it[0], &juliet);
	assert_item_equal(&acc.it[1], &romeo);

	assert_int_equal(u_run(st, "alice", juliet.contact, &u, 2, &ver), XS_OK);
	assert_int_equal(ver, 3);
	juliet.subscription = ROSTER_SUB_FROM;
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 3);
	assert_int_equal(acc.n, 2);
	assert_item_equal(&acc.it[0], &juliet);

	u.ret = ROSTER_UNCHANGED;
	assert_int_equal(u_run(st, "alice", "tybalt@capulet.lit", &u, 2, &ver), XS_OK);
	assert_int_equal(ver, 3);
	/* 0 is no limit. */
	u.ret = ROSTER_WRITE;
	assert_int_equal(u_run(st, "alice", "tybalt@capulet.lit", &u, 0, &ver), XS_OK);
	assert_int_equal(ver, 4);
	u.ret = ROSTER_DELETE;
	assert_int_equal(u_run(st, "alice", "tybalt@capulet.lit", &u, 1, &ver), XS_OK);
	assert_int_equal(ver, 5);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 5);
	assert_int_equal(acc.n, 2);
	r_acc_free(&acc);
	store_close(st);
}

/* What apply leaves is checked like a put: a bad item (ask 16, a
 * subscription above BOTH, no groups, another contact) or a return value
 * that is no roster_change is XS_INVAL and rolls back; the handle is not
 * left inside a transaction.  The wrapper checks its arguments. */
static void test_roster_update_invalid(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO;
	uint64_t ver = 777;

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	struct u_apply bad[] = {
		{ .ret = ROSTER_WRITE, .set_ask = true, .ask = ROSTER_ASK_ALL + 1 },
		{ .ret = ROSTER_WRITE, .set_sub = true, .sub = ROSTER_SUB_BOTH + 1 },
		{ .ret = ROSTER_WRITE, .set_groups = true, .groups = NULL },
		{ .ret = ROSTER_WRITE, .contact = "juliet@capulet.lit" },
		{ .ret = (enum roster_change)7 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* on the existing item and on a new one */
		assert_int_equal(u_run(st, "alice", romeo.contact, &bad[i], 0, &ver), XS_INVAL);
		assert_int_equal(bad[i].calls, 1);
		assert_int_equal(u_run(st, "alice", "tybalt@capulet.lit", &bad[i], 0, &ver),
				 XS_INVAL);
		assert_int_equal(ver, 777);
	}
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 1);
	assert_int_equal(acc.n, 1);
	assert_item_equal(&acc.it[0], &romeo);

	struct u_apply u = { .ret = ROSTER_WRITE };
	assert_int_equal(store_roster_update(st, DOMAIN, "alice", romeo.contact, NULL, &u, 0,
					     &ver),
			 XS_INVAL);
	assert_int_equal(store_roster_update(st, DOMAIN, "alice", "", u_apply_cb, &u, 0, &ver),
			 XS_INVAL);
	assert_int_equal(store_roster_update(st, DOMAIN, "alice", NULL, u_apply_cb, &u, 0, &ver),
			 XS_INVAL);
	assert_int_equal(store_roster_update(st, DOMAIN, "", romeo.contact, u_apply_cb, &u, 0,
					     &ver),
			 XS_INVAL);
	assert_int_equal(store_roster_update(st, DOMAIN, "alice", romeo.contact, u_apply_cb, &u,
					     0, NULL),
			 XS_INVAL);
	assert_int_equal(u.calls, 0);

	/* Still usable: the refusals left no transaction open. */
	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 2);
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM roster"), 1);
	sqlite3_close(raw);
	r_acc_free(&acc);
	store_close(st);
}

/* A failure after apply (a trigger makes the version bump fail) rolls the
 * item back and leaves *ver alone. */
static void test_roster_update_rollback(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	struct store_roster_item romeo = R_ROMEO;
	uint64_t ver = 777;

	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "CREATE TRIGGER boom BEFORE UPDATE ON roster_version"
		      " BEGIN SELECT RAISE(ABORT, 'test: no version bump'); END");
	struct u_apply u = { .ret = ROSTER_WRITE, .set_sub = true, .sub = ROSTER_SUB_NONE };
	assert_int_equal(u_run(st, "alice", romeo.contact, &u, 0, &ver), XS_IO);
	u.ret = ROSTER_DELETE;
	assert_int_equal(u_run(st, "alice", romeo.contact, &u, 0, &ver), XS_IO);
	assert_int_equal(ver, 777);
	raw_exec(raw, "DROP TRIGGER boom");
	sqlite3_close(raw);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 1);
	assert_int_equal(acc.n, 1);
	assert_item_equal(&acc.it[0], &romeo);
	r_acc_free(&acc);
	store_close(st);
}

/* Every ask bit, and all of them, round-trip through put, update and get;
 * the file's CHECK takes 0..15 and refuses 16. */
static void test_roster_ask_bits(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct r_acc acc = { .n = 0 };
	static const unsigned char asks[] = { ROSTER_ASK_OUT, ROSTER_ASK_IN,
					      ROSTER_ASK_PREAPPROVED, ROSTER_ASK_HIDDEN,
					      ROSTER_ASK_ALL };
	static const char *const contacts[] = { "a@x.lit", "b@x.lit", "c@x.lit", "d@x.lit",
						"e@x.lit" };
	uint64_t ver;

	assert_int_equal(ROSTER_ASK_ALL, ROSTER_ASK_OUT | ROSTER_ASK_IN | ROSTER_ASK_PREAPPROVED |
						 ROSTER_ASK_HIDDEN);
	for (size_t i = 0; i < 5; i++) {
		struct store_roster_item it = r_item(contacts[i], NULL, "", ROSTER_SUB_NONE,
						     asks[i]);
		r_put_ok(st, DOMAIN, "alice", &it, 0, i + 1);
	}
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 5);
	assert_int_equal(acc.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(acc.it[i].ask, asks[i]);
	/* Through update too, on the same items the other way round. */
	for (size_t i = 0; i < 5; i++) {
		struct u_apply u = { .ret = ROSTER_WRITE, .set_ask = true, .ask = asks[4 - i] };
		assert_int_equal(u_run(st, "alice", contacts[i], &u, 0, &ver), XS_OK);
		assert_int_equal(u.seen_ask, asks[i]);
	}
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 10);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(acc.it[i].ask, asks[4 - i]);

	sqlite3 *raw = raw_open(d->db);
	assert_int_not_equal(sqlite3_exec(raw, "UPDATE roster SET ask = 16", NULL, NULL, NULL),
			     SQLITE_OK);
	assert_int_equal(raw_int(raw, "SELECT max(ask) FROM roster"), 15);
	sqlite3_close(raw);
	r_acc_free(&acc);
	store_close(st);
}

/* Migration 1 exactly as it shipped: a version 1 file is built from it. */
static const char v1_users_sql[] =
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
	") WITHOUT ROWID;";

static void raw_insert_sha256_user(sqlite3 *db, const char *local, const struct scram_cred *c)
{
	sqlite3_stmt *stmt;
	size_t hl = scram_hash_len(SCRAM_SHA256);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO users (domain, localpart, sha256_salt,"
					    " sha256_iter, sha256_stored, sha256_server, created)"
					    " VALUES ('" DOMAIN "', ?1, ?2, ?3, ?4, ?5, 0)",
					    -1, &stmt, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_bind_text(stmt, 1, local, -1, SQLITE_STATIC), SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(stmt, 2, c->salt, (int)c->salt_len, SQLITE_STATIC),
			 SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(stmt, 3, c->iterations), SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(stmt, 4, c->stored_key, (int)hl, SQLITE_STATIC),
			 SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(stmt, 5, c->server_key, (int)hl, SQLITE_STATIC),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
	sqlite3_finalize(stmt);
}

static void test_migrate_from_v1(void **state)
{
	struct tdir *d = *state;
	char path[320], err[256] = "";
	struct scram_cred c, out;
	struct r_acc acc = { .n = 0 };

	snprintf(path, sizeof(path), "%s/v1.db", d->root);
	make_cred(&c, 5, SCRAM_SHA256);
	sqlite3 *raw = raw_open(path);
	raw_exec(raw, v1_users_sql);
	raw_insert_sha256_user(raw, "alice", &c);
	raw_exec(raw, "PRAGMA user_version = 1");
	sqlite3_close(raw);

	struct store *st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open(%s): %s", path, err);
	raw = raw_open(path);
	/* Every migration ran, one after the other. */
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				      " AND name IN ('roster', 'roster_version', 'offline',"
				      " 'account_data', 'blocklist')"),
			 5);
	sqlite3_close(raw);
	/* The account came through, byte for byte. */
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA256, &out), XS_OK);
	assert_cred_equal(&out, &c);
	struct list_acc users = { .n = 0 };
	assert_int_equal(store_user_list(st, DOMAIN, list_cb, &users), XS_OK);
	assert_int_equal(users.n, 1);
	/* ... and has an empty roster that works. */
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 0);
	struct store_roster_item romeo = R_ROMEO;
	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	store_close(st);

	/* Opening again finds nothing to do. */
	st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(r_get(st, DOMAIN, "alice", &acc), 1);
	assert_int_equal(acc.n, 1);
	r_acc_free(&acc);
	store_close(st);
}

/* --- offline messages --- */

#define O_MAX 8

/* What offline_list handed to its callback, copied (a message is valid
 * only during the call, and its bytes need not end in a NUL). */
struct o_acc {
	uint64_t id[O_MAX];
	char *xml[O_MAX];
	size_t len[O_MAX];
	size_t n;
};

static void o_cb(void *arg, const struct store_offline_msg *m)
{
	struct o_acc *acc = arg;
	if (acc->n < O_MAX) {
		acc->id[acc->n] = m->id;
		acc->len[acc->n] = m->len;
		acc->xml[acc->n] = malloc(m->len);
		assert_non_null(acc->xml[acc->n]);
		memcpy(acc->xml[acc->n], m->xml, m->len);
	}
	acc->n++;
}

static void o_acc_free(struct o_acc *acc)
{
	for (size_t i = 0; i < acc->n && i < O_MAX; i++)
		free(acc->xml[i]);
	acc->n = 0;
}

/* Reads the queue of local@domain into acc (emptied first); returns how
 * many messages it holds. */
static size_t o_list(struct store *st, const char *domain, const char *local,
		     struct o_acc *acc)
{
	o_acc_free(acc);
	assert_int_equal(store_offline_list(st, domain, local, o_cb, acc), XS_OK);
	assert_true(acc->n <= O_MAX);
	return acc->n;
}

/* Exactly len bytes, compared as bytes (a message is not a C string). */
static void assert_msg_equal(const struct o_acc *acc, size_t i, const char *xml, size_t len)
{
	assert_true(i < acc->n);
	assert_int_equal(acc->len[i], len);
	assert_memory_equal(acc->xml[i], xml, len);
}

static void o_user(struct store *st, const char *domain, const char *local)
{
	struct scram_cred c;
	make_cred(&c, 1, SCRAM_SHA256);
	assert_int_equal(store_user_create(st, domain, local, NULL, &c), XS_OK);
}

static void o_push_ok(struct store *st, const char *domain, const char *local, const char *xml,
		      unsigned max)
{
	assert_int_equal(store_offline_push(st, domain, local, xml, strlen(xml), max), XS_OK);
}

/* Three stanzas of different lengths.  O_M2 carries the characters XML
 * escapes, raw and escaped, and multi-byte UTF-8 (2, 3 and 4 bytes).
 * O_M3 is pushed as its first O_M3_LEN bytes only: the rest of the buffer
 * must not be stored (the length is the length, not strlen). */
#define O_M1 \
	"<message from='romeo@montague.lit/orchard' to='juliet@capulet.lit' type='chat'>" \
	"<body>Wherefore art thou?</body>" \
	"<delay xmlns='urn:xmpp:delay' from='capulet.lit' stamp='2026-12-06T14:00:00Z'/>" \
	"</message>"
#define O_M2 "<message><body>\"<>&'\" &lt;&gt;&amp;&apos;&quot; caf\xc3\xa9 \xe2\x82\xac " \
	"\xf0\x9f\x8c\xb9</body></message>"
#define O_M3 "<message/>TRAILING-NOT-PART-OF-IT"
#define O_M3_LEN 10

static void o_push3(struct store *st, const char *domain, const char *local)
{
	o_push_ok(st, domain, local, O_M1, 0);
	o_push_ok(st, domain, local, O_M2, 0);
	assert_int_equal(store_offline_push(st, domain, local, O_M3, O_M3_LEN, 0), XS_OK);
}

static void assert_msgs3(const struct o_acc *acc)
{
	assert_int_equal(acc->n, 3);
	assert_msg_equal(acc, 0, O_M1, strlen(O_M1));
	assert_msg_equal(acc, 1, O_M2, strlen(O_M2));
	assert_msg_equal(acc, 2, O_M3, O_M3_LEN);
	assert_true(acc->id[0] > 0);
	assert_true(acc->id[0] < acc->id[1]);
	assert_true(acc->id[1] < acc->id[2]);
}

/* Nothing is kept for a name nobody owns, nor for bad arguments. */
static void test_offline_push_unknown(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct o_acc acc = { .n = 0 };

	assert_int_equal(store_offline_push(st, DOMAIN, "alice", O_M1, strlen(O_M1), 0),
			 XS_NOTFOUND);
	/* The limit is not what refuses it: NOTFOUND with a limit too. */
	assert_int_equal(store_offline_push(st, DOMAIN, "alice", O_M1, strlen(O_M1), 5),
			 XS_NOTFOUND);
	/* The same localpart in another domain is not this account. */
	o_user(st, "example.net", "alice");
	assert_int_equal(store_offline_push(st, DOMAIN, "alice", O_M1, strlen(O_M1), 0),
			 XS_NOTFOUND);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 0);

	/* Bad arguments. */
	o_user(st, DOMAIN, "alice");
	assert_int_equal(store_offline_push(st, DOMAIN, "alice", NULL, 3, 0), XS_INVAL);
	assert_int_equal(store_offline_push(st, DOMAIN, "alice", O_M1, 0, 0), XS_INVAL);
	assert_int_equal(store_offline_push(st, DOMAIN, "", O_M1, strlen(O_M1), 0), XS_INVAL);
	assert_int_equal(store_offline_push(st, NULL, "alice", O_M1, strlen(O_M1), 0), XS_INVAL);
	assert_int_equal(store_offline_list(st, DOMAIN, "alice", NULL, NULL), XS_INVAL);
	assert_int_equal(store_offline_list(st, DOMAIN, "", o_cb, &acc), XS_INVAL);
	assert_int_equal(store_offline_delete(st, "", "alice", 1), XS_INVAL);

	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM offline"), 0);
	/* No write transaction was left open by the refusals. */
	raw_exec(raw, "DELETE FROM offline");
	sqlite3_close(raw);
	o_acc_free(&acc);
	store_close(st);
}

static void test_offline_push_list(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct o_acc acc = { .n = 0 };

	o_user(st, DOMAIN, "alice");
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 0);
	long long t0 = (long long)time(NULL);
	o_push3(st, DOMAIN, "alice");
	long long t1 = (long long)time(NULL);
	o_list(st, DOMAIN, "alice", &acc);
	assert_msgs3(&acc);

	/* Listing removes nothing. */
	uint64_t ids[3] = { acc.id[0], acc.id[1], acc.id[2] };
	o_list(st, DOMAIN, "alice", &acc);
	assert_msgs3(&acc);
	for (int i = 0; i < 3; i++)
		assert_int_equal(acc.id[i], ids[i]);

	/* On disk: blobs of exactly the pushed length, stamped at the push. */
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM offline WHERE typeof(xml) = 'blob'"),
			 3);
	assert_int_equal(raw_int(raw, "SELECT length(xml) FROM offline ORDER BY id DESC LIMIT 1"),
			 O_M3_LEN);
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM offline WHERE stamp BETWEEN %lld AND %lld",
		 t0, t1);
	assert_int_equal(raw_int(raw, sql), 3);
	sqlite3_close(raw);
	o_acc_free(&acc);
	store_close(st);
}

static void test_offline_limit(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct o_acc acc = { .n = 0 };

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	o_user(st, "example.net", "alice");
	o_push_ok(st, DOMAIN, "alice", O_M1, 2);
	o_push_ok(st, DOMAIN, "alice", O_M2, 2);
	/* Full: refused, and nothing changes. */
	assert_int_equal(store_offline_push(st, DOMAIN, "alice", O_M3, O_M3_LEN, 2), XS_LIMIT);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 2);
	assert_msg_equal(&acc, 0, O_M1, strlen(O_M1));
	assert_msg_equal(&acc, 1, O_M2, strlen(O_M2));
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM offline"), 2);
	/* ... and the refusal closed its write transaction. */
	raw_exec(raw, "UPDATE offline SET stamp = stamp");
	sqlite3_close(raw);

	/* 0 is no limit; a queue above a (lowered) limit still refuses. */
	o_push_ok(st, DOMAIN, "alice", O_M3, 0);
	o_push_ok(st, DOMAIN, "alice", O_M3, 0);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 4);
	assert_int_equal(store_offline_push(st, DOMAIN, "alice", O_M1, strlen(O_M1), 1), XS_LIMIT);
	assert_int_equal(store_offline_push(st, DOMAIN, "alice", O_M1, strlen(O_M1), 4), XS_LIMIT);
	o_push_ok(st, DOMAIN, "alice", O_M1, 5);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 5);
	/* The limit is per account, domain included. */
	o_push_ok(st, DOMAIN, "bob", O_M1, 1);
	o_push_ok(st, "example.net", "alice", O_M1, 1);
	assert_int_equal(store_offline_push(st, DOMAIN, "bob", O_M1, strlen(O_M1), 1), XS_LIMIT);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 5);
	o_acc_free(&acc);
	store_close(st);
}

static void test_offline_delete(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct o_acc acc = { .n = 0 };

	/* Nothing to delete is not an error, account or not. */
	assert_int_equal(store_offline_delete(st, DOMAIN, "nobody", 100), XS_OK);
	o_user(st, DOMAIN, "alice");
	assert_int_equal(store_offline_delete(st, DOMAIN, "alice", 100), XS_OK);

	o_push3(st, DOMAIN, "alice");
	o_list(st, DOMAIN, "alice", &acc);
	assert_msgs3(&acc);
	uint64_t id1 = acc.id[0], id2 = acc.id[1], id3 = acc.id[2];
	/* Below every id: nothing goes. */
	assert_int_equal(store_offline_delete(st, DOMAIN, "alice", id1 - 1), XS_OK);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 3);
	/* Up to the second: only the third stays, under its id. */
	assert_int_equal(store_offline_delete(st, DOMAIN, "alice", id2), XS_OK);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 1);
	assert_msg_equal(&acc, 0, O_M3, O_M3_LEN);
	assert_int_equal(acc.id[0], id3);

	/* A message that arrives between a list and the delete of what it
	 * returned survives that delete. */
	o_push_ok(st, DOMAIN, "alice", O_M1, 0);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 2);
	uint64_t listed = acc.id[1];
	o_push_ok(st, DOMAIN, "alice", O_M2, 0);
	assert_int_equal(store_offline_delete(st, DOMAIN, "alice", listed), XS_OK);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 1);
	assert_msg_equal(&acc, 0, O_M2, strlen(O_M2));
	assert_true(acc.id[0] > listed);

	/* Ids above INT64_MAX mean everything, not nothing. */
	assert_int_equal(store_offline_delete(st, DOMAIN, "alice", UINT64_MAX), XS_OK);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 0);
	/* An emptied queue does not hand out its old ids again. */
	o_push_ok(st, DOMAIN, "alice", O_M1, 0);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 1);
	assert_true(acc.id[0] > listed + 1);
	o_acc_free(&acc);
	store_close(st);
}

static void test_offline_accounts_separate(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct o_acc acc = { .n = 0 };

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	o_user(st, "example.net", "alice");
	/* A localpart that is a prefix of another is another account. */
	o_user(st, DOMAIN, "alic");
	/* Interleaved, so that the accounts' ids are mixed. */
	o_push_ok(st, DOMAIN, "alice", O_M1, 0);
	o_push_ok(st, "example.net", "alice", O_M2, 0);
	o_push_ok(st, DOMAIN, "bob", O_M3, 0);
	o_push_ok(st, DOMAIN, "alice", O_M2, 0);
	o_push_ok(st, "example.net", "alice", O_M1, 0);

	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 2);
	assert_msg_equal(&acc, 0, O_M1, strlen(O_M1));
	assert_msg_equal(&acc, 1, O_M2, strlen(O_M2));
	uint64_t alice_last = acc.id[1];
	assert_int_equal(o_list(st, "example.net", "alice", &acc), 2);
	assert_msg_equal(&acc, 0, O_M2, strlen(O_M2));
	assert_msg_equal(&acc, 1, O_M1, strlen(O_M1));
	assert_int_equal(o_list(st, DOMAIN, "bob", &acc), 1);
	assert_msg_equal(&acc, 0, O_M3, strlen(O_M3));
	assert_int_equal(o_list(st, DOMAIN, "alic", &acc), 0);

	/* Deleting one account's queue, up to an id past the others' ids,
	 * leaves theirs. */
	assert_int_equal(store_offline_delete(st, DOMAIN, "alice", alice_last + 100), XS_OK);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 0);
	assert_int_equal(o_list(st, "example.net", "alice", &acc), 2);
	assert_int_equal(o_list(st, DOMAIN, "bob", &acc), 1);
	assert_int_equal(store_offline_delete(st, "example.net", "alice", UINT64_MAX), XS_OK);
	assert_int_equal(o_list(st, "example.net", "alice", &acc), 0);
	assert_int_equal(o_list(st, DOMAIN, "bob", &acc), 1);
	o_acc_free(&acc);
	store_close(st);
}

static void test_offline_reopen(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct o_acc acc = { .n = 0 };

	o_user(st, DOMAIN, "alice");
	o_push3(st, DOMAIN, "alice");
	o_list(st, DOMAIN, "alice", &acc);
	uint64_t ids[3] = { acc.id[0], acc.id[1], acc.id[2] };
	store_close(st);

	st = open_ok(d->db);
	o_list(st, DOMAIN, "alice", &acc);
	assert_msgs3(&acc);
	for (int i = 0; i < 3; i++)
		assert_int_equal(acc.id[i], ids[i]);
	/* Emptied, closed and opened again: ids still go on from where they
	 * were (AUTOINCREMENT keeps the high-water mark in the file). */
	assert_int_equal(store_offline_delete(st, DOMAIN, "alice", ids[2]), XS_OK);
	store_close(st);
	st = open_ok(d->db);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 0);
	o_push_ok(st, DOMAIN, "alice", O_M1, 0);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 1);
	assert_true(acc.id[0] > ids[2]);
	o_acc_free(&acc);
	store_close(st);
}

static void test_offline_user_delete(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct o_acc acc = { .n = 0 };

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	o_push3(st, DOMAIN, "alice");
	o_push_ok(st, DOMAIN, "bob", O_M2, 0);

	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_OK);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 0);
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM offline WHERE localpart = 'alice'"), 0);
	sqlite3_close(raw);
	/* Another account's queue stays. */
	assert_int_equal(o_list(st, DOMAIN, "bob", &acc), 1);
	assert_msg_equal(&acc, 0, O_M2, strlen(O_M2));
	/* Deleted, nothing more is queued for the name ... */
	assert_int_equal(store_offline_push(st, DOMAIN, "alice", O_M1, strlen(O_M1), 0),
			 XS_NOTFOUND);
	/* ... and created again, it starts empty. */
	o_user(st, DOMAIN, "alice");
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 0);
	o_push_ok(st, DOMAIN, "alice", O_M1, 1);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 1);
	o_acc_free(&acc);
	store_close(st);
}

/* A failed insert (a trigger the test adds refuses it) is XS_IO, stores
 * nothing and leaves the handle usable, not inside its transaction. */
static void test_offline_rollback(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct o_acc acc = { .n = 0 };

	o_user(st, DOMAIN, "alice");
	o_push_ok(st, DOMAIN, "alice", O_M1, 0);
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "CREATE TRIGGER boom BEFORE INSERT ON offline"
		      " BEGIN SELECT RAISE(ABORT, 'test: no insert'); END");
	assert_int_equal(store_offline_push(st, DOMAIN, "alice", O_M2, strlen(O_M2), 0), XS_IO);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 1);
	/* The other connection can write: no lock is held. */
	raw_exec(raw, "DROP TRIGGER boom");
	sqlite3_close(raw);
	o_push_ok(st, DOMAIN, "alice", O_M2, 0);
	assert_int_equal(o_list(st, DOMAIN, "alice", &acc), 2);
	assert_msg_equal(&acc, 1, O_M2, strlen(O_M2));
	o_acc_free(&acc);
	store_close(st);
}

/* A row the interface does not allow (a hand edit: an empty message) is
 * an error, not a message to deliver; the read transaction is closed. */
static void test_offline_malformed_row(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct o_acc acc = { .n = 0 };

	o_user(st, DOMAIN, "alice");
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "INSERT INTO offline (domain, localpart, xml, stamp) VALUES ('" DOMAIN "',"
		      " 'alice', x'', 0)");
	sqlite3_close(raw);
	assert_int_equal(store_offline_list(st, DOMAIN, "alice", o_cb, &acc), XS_IO);
	o_acc_free(&acc);
	o_push_ok(st, DOMAIN, "alice", O_M1, 0);
	store_close(st);
}

/* Migration 2 exactly as it shipped: with migration 1, builds a version 2
 * file. */
static const char v2_roster_sql[] =
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
	") WITHOUT ROWID;";

static void test_migrate_from_v2(void **state)
{
	struct tdir *d = *state;
	char path[320], err[256] = "";
	struct scram_cred c, out;
	struct r_acc racc = { .n = 0 };
	struct o_acc oacc = { .n = 0 };

	snprintf(path, sizeof(path), "%s/v2.db", d->root);
	make_cred(&c, 6, SCRAM_SHA256);
	sqlite3 *raw = raw_open(path);
	raw_exec(raw, v1_users_sql);
	raw_exec(raw, v2_roster_sql);
	raw_insert_sha256_user(raw, "alice", &c);
	raw_exec(raw, "INSERT INTO roster (domain, localpart, contact, name, subscription, ask,"
		      " groups) VALUES ('" DOMAIN "', 'alice', 'romeo@montague.lit', 'Romeo', 3,"
		      " 1, 'a' || char(31) || 'b')");
	raw_exec(raw, "INSERT INTO roster_version (domain, localpart, ver) VALUES ('" DOMAIN "',"
		      " 'alice', 7)");
	raw_exec(raw, "PRAGMA user_version = 2");
	sqlite3_close(raw);

	struct store *st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open(%s): %s", path, err);
	raw = raw_open(path);
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				      " AND name IN ('offline', 'account_data', 'blocklist')"),
			 3);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				      " AND name = 'offline_account'"),
			 1);
	sqlite3_close(raw);
	/* The account and its roster came through. */
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA256, &out), XS_OK);
	assert_cred_equal(&out, &c);
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 7);
	assert_int_equal(racc.n, 1);
	struct store_roster_item romeo = R_ROMEO;
	assert_item_equal(&racc.it[0], &romeo);
	/* ... with an empty queue that works. */
	assert_int_equal(o_list(st, DOMAIN, "alice", &oacc), 0);
	o_push_ok(st, DOMAIN, "alice", O_M1, 0);
	store_close(st);

	/* Opening again finds nothing to do. */
	st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(o_list(st, DOMAIN, "alice", &oacc), 1);
	assert_msg_equal(&oacc, 0, O_M1, strlen(O_M1));
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 7);
	r_acc_free(&racc);
	o_acc_free(&oacc);
	store_close(st);
}

/* --- per-account documents --- */

/* Two documents and a prefix.  D_DOC2 carries the characters XML escapes,
 * raw and escaped, and multi-byte UTF-8 (2, 3 and 4 bytes).  D_DOC3 is put
 * as its first D_DOC3_LEN bytes only: the rest of the buffer must not be
 * stored (the length is the length, not strlen). */
#define D_DOC1 \
	"<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>"
#define D_DOC2 "<storage xmlns='storage:bookmarks'><conference name='\"<>&'\" &lt;&gt;" \
	"&amp;&apos;&quot; caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8c\xb9'/></storage>"
#define D_DOC3_HEAD "<vCard xmlns='vcard-temp'/>"
#define D_DOC3 D_DOC3_HEAD "TRAILING-NOT-PART-OF-IT"
#define D_DOC3_LEN (sizeof(D_DOC3_HEAD) - 1)
#define D_PRIV "private"
#define D_K1 "exodus:prefs exodus"
#define D_K2 "storage:bookmarks storage"

static void d_put_ok(struct store *st, const char *domain, const char *local, const char *kind,
		     const char *key, const char *xml, unsigned max)
{
	assert_int_equal(store_data_put(st, domain, local, kind, key, xml, strlen(xml), max),
			 XS_OK);
}

/* The stored document is exactly len bytes of xml, in a NUL-terminated
 * buffer of its own. */
static void d_get_eq(struct store *st, const char *domain, const char *local, const char *kind,
		     const char *key, const char *xml, size_t len)
{
	char *got = (char *)"stale";
	size_t got_len = 99999;
	assert_int_equal(store_data_get(st, domain, local, kind, key, &got, &got_len), XS_OK);
	assert_non_null(got);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, xml, len);
	assert_int_equal(got[len], '\0');
	free(got);
}

static void d_get_none(struct store *st, const char *domain, const char *local,
		       const char *kind, const char *key)
{
	char *got = (char *)"stale";
	size_t got_len = 99999;
	assert_int_equal(store_data_get(st, domain, local, kind, key, &got, &got_len),
			 XS_NOTFOUND);
	assert_null(got);
	assert_int_equal(got_len, 0);
}

static int d_rows(const char *db, const char *where)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM account_data WHERE %s", where);
	sqlite3 *raw = raw_open(db);
	int n = raw_int(raw, sql);
	sqlite3_close(raw);
	return n;
}

static void test_data_get_put(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);

	/* Nothing stored: no account, then an account with no documents. */
	d_get_none(st, DOMAIN, "alice", D_PRIV, D_K1);
	o_user(st, DOMAIN, "alice");
	d_get_none(st, DOMAIN, "alice", D_PRIV, D_K1);
	d_get_none(st, DOMAIN, "alice", "vcard", "");

	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1, 0);
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K2, D_DOC2, 0);
	assert_int_equal(store_data_put(st, DOMAIN, "alice", "vcard", "", D_DOC3, D_DOC3_LEN, 0),
			 XS_OK);
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1, strlen(D_DOC1));
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K2, D_DOC2, strlen(D_DOC2));
	d_get_eq(st, DOMAIN, "alice", "vcard", "", D_DOC3, D_DOC3_LEN);
	/* Reading removes nothing. */
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1, strlen(D_DOC1));

	/* On disk: blobs of exactly the given length. */
	assert_int_equal(d_rows(d->db, "typeof(xml) = 'blob'"), 3);
	char where[64];
	snprintf(where, sizeof(where), "kind = 'vcard' AND length(xml) = %zu", D_DOC3_LEN);
	assert_int_equal(d_rows(d->db, where), 1);

	/* Replacing: longer, then shorter (no bytes of the old one left). */
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC2, 0);
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC2, strlen(D_DOC2));
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC3, D_DOC3_LEN, 0),
			 XS_OK);
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC3, D_DOC3_LEN);
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K2, D_DOC2, strlen(D_DOC2));
	assert_int_equal(d_rows(d->db, "1"), 3);

	/* Bad arguments. */
	char *x = NULL;
	size_t n = 0;
	assert_int_equal(store_data_get(st, DOMAIN, "alice", "", D_K1, &x, &n), XS_INVAL);
	assert_int_equal(store_data_get(st, DOMAIN, "alice", NULL, D_K1, &x, &n), XS_INVAL);
	assert_int_equal(store_data_get(st, DOMAIN, "alice", D_PRIV, NULL, &x, &n), XS_INVAL);
	assert_int_equal(store_data_get(st, DOMAIN, "", D_PRIV, D_K1, &x, &n), XS_INVAL);
	assert_int_equal(store_data_get(st, DOMAIN, "alice", D_PRIV, D_K1, NULL, &n), XS_INVAL);
	assert_int_equal(store_data_get(st, DOMAIN, "alice", D_PRIV, D_K1, &x, NULL), XS_INVAL);
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, D_K1, NULL, 3, 0), XS_INVAL);
	assert_int_equal(store_data_put(st, DOMAIN, "alice", "", D_K1, D_DOC1, 3, 0), XS_INVAL);
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, NULL, D_DOC1, 3, 0),
			 XS_INVAL);
	assert_int_equal(store_data_put(st, NULL, "alice", D_PRIV, D_K1, D_DOC1, 3, 0), XS_INVAL);
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC3, D_DOC3_LEN);
	store_close(st);
}

/* Nothing is kept for a name nobody owns. */
static void test_data_put_unknown(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);

	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1,
					strlen(D_DOC1), 0),
			 XS_NOTFOUND);
	/* The limit is not what refuses it: NOTFOUND with a limit too. */
	assert_int_equal(store_data_put(st, DOMAIN, "alice", "vcard", "", D_DOC1,
					strlen(D_DOC1), 5),
			 XS_NOTFOUND);
	/* The same localpart in another domain is not this account. */
	o_user(st, "example.net", "alice");
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1,
					strlen(D_DOC1), 0),
			 XS_NOTFOUND);
	d_get_none(st, DOMAIN, "alice", D_PRIV, D_K1);
	/* Deleting needs no account, and deleting nothing is fine. */
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, D_K1, NULL, 0, 0), XS_OK);

	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM account_data"), 0);
	/* No write transaction was left open by the refusals. */
	raw_exec(raw, "DELETE FROM account_data");
	sqlite3_close(raw);
	store_close(st);
}

static void test_data_limit(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1, 2);
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K2, D_DOC2, 2);
	/* Full: a new key is refused, and nothing changes. */
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, "k3", D_DOC1,
					strlen(D_DOC1), 2),
			 XS_LIMIT);
	d_get_none(st, DOMAIN, "alice", D_PRIV, "k3");
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1, strlen(D_DOC1));
	assert_int_equal(d_rows(d->db, "1"), 2);
	/* ... and the refusal closed its write transaction. */
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "UPDATE account_data SET xml = xml");
	sqlite3_close(raw);

	/* Replacing an existing key at the limit (or above a lowered one)
	 * adds nothing, so it is allowed. */
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC2, 2);
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K2, D_DOC1, 1);
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC2, strlen(D_DOC2));
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K2, D_DOC1, strlen(D_DOC1));

	/* The limit counts per kind, and per account. */
	d_put_ok(st, DOMAIN, "alice", "vcard", "", D_DOC1, 1);
	assert_int_equal(store_data_put(st, DOMAIN, "alice", "vcard", "x", D_DOC1,
					strlen(D_DOC1), 1),
			 XS_LIMIT);
	d_put_ok(st, DOMAIN, "bob", D_PRIV, D_K1, D_DOC1, 1);

	/* 0 is no limit; a kind above a lowered limit still refuses. */
	d_put_ok(st, DOMAIN, "alice", D_PRIV, "k3", D_DOC1, 0);
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, "k4", D_DOC1,
					strlen(D_DOC1), 3),
			 XS_LIMIT);
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, "k4", D_DOC1,
					strlen(D_DOC1), 1),
			 XS_LIMIT);
	d_put_ok(st, DOMAIN, "alice", D_PRIV, "k4", D_DOC1, 4);
	assert_int_equal(d_rows(d->db, "localpart = 'alice' AND kind = 'private'"), 4);

	/* A delete makes room again. */
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, "k4", "", 0, 4), XS_OK);
	d_put_ok(st, DOMAIN, "alice", D_PRIV, "k5", D_DOC1, 4);
	store_close(st);
}

static void test_data_delete(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);

	o_user(st, DOMAIN, "alice");
	/* Nothing to delete is not an error. */
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, D_K1, NULL, 0, 0), XS_OK);
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1, 0);
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K2, D_DOC2, 0);
	d_put_ok(st, DOMAIN, "alice", "vcard", D_K1, D_DOC2, 0);
	/* len 0 deletes, whatever xml points at (and a limit does not stop
	 * it). */
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1, 0, 1), XS_OK);
	d_get_none(st, DOMAIN, "alice", D_PRIV, D_K1);
	assert_int_equal(d_rows(d->db, "kind = 'private' AND key = '" D_K1 "'"), 0);
	/* Only that one: the other key and the other kind stay. */
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K2, D_DOC2, strlen(D_DOC2));
	d_get_eq(st, DOMAIN, "alice", "vcard", D_K1, D_DOC2, strlen(D_DOC2));
	/* Again: still XS_OK. */
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, D_K1, NULL, 0, 0), XS_OK);
	/* ... and a key can be put again. */
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1, 0);
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC1, strlen(D_DOC1));
	store_close(st);
}

static void test_data_separate(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	o_user(st, "example.net", "alice");
	/* A localpart that is a prefix of another is another account. */
	o_user(st, DOMAIN, "alic");
	/* The same key under two kinds, two keys under one kind, the same
	 * kind and key for three accounts. */
	d_put_ok(st, DOMAIN, "alice", D_PRIV, "", D_DOC1, 0);
	d_put_ok(st, DOMAIN, "alice", "vcard", "", D_DOC2, 0);
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC2, 0);
	d_put_ok(st, "example.net", "alice", "vcard", "", D_DOC1, 0);
	assert_int_equal(store_data_put(st, DOMAIN, "bob", "vcard", "", D_DOC3, D_DOC3_LEN, 0),
			 XS_OK);

	d_get_eq(st, DOMAIN, "alice", D_PRIV, "", D_DOC1, strlen(D_DOC1));
	d_get_eq(st, DOMAIN, "alice", "vcard", "", D_DOC2, strlen(D_DOC2));
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC2, strlen(D_DOC2));
	d_get_eq(st, "example.net", "alice", "vcard", "", D_DOC1, strlen(D_DOC1));
	d_get_eq(st, DOMAIN, "bob", "vcard", "", D_DOC3, D_DOC3_LEN);
	d_get_none(st, DOMAIN, "alic", "vcard", "");
	d_get_none(st, "example.net", "alice", D_PRIV, "");
	/* A kind or key that is a prefix of another is another one. */
	d_get_none(st, DOMAIN, "alice", "privat", D_K1);
	d_get_none(st, DOMAIN, "alice", D_PRIV, "exodus:prefs");

	/* Replacing and deleting one touches no other. */
	d_put_ok(st, DOMAIN, "alice", "vcard", "", D_DOC1, 0);
	assert_int_equal(store_data_put(st, DOMAIN, "alice", D_PRIV, "", NULL, 0, 0), XS_OK);
	d_get_none(st, DOMAIN, "alice", D_PRIV, "");
	d_get_eq(st, DOMAIN, "alice", "vcard", "", D_DOC1, strlen(D_DOC1));
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC2, strlen(D_DOC2));
	d_get_eq(st, "example.net", "alice", "vcard", "", D_DOC1, strlen(D_DOC1));
	d_get_eq(st, DOMAIN, "bob", "vcard", "", D_DOC3, D_DOC3_LEN);
	store_close(st);
}

static void test_data_reopen_user_delete(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	d_put_ok(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC2, 0);
	d_put_ok(st, DOMAIN, "alice", "vcard", "", D_DOC1, 0);
	d_put_ok(st, DOMAIN, "bob", "vcard", "", D_DOC2, 0);
	store_close(st);

	st = open_ok(d->db);
	d_get_eq(st, DOMAIN, "alice", D_PRIV, D_K1, D_DOC2, strlen(D_DOC2));
	d_get_eq(st, DOMAIN, "alice", "vcard", "", D_DOC1, strlen(D_DOC1));

	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_OK);
	d_get_none(st, DOMAIN, "alice", D_PRIV, D_K1);
	d_get_none(st, DOMAIN, "alice", "vcard", "");
	assert_int_equal(d_rows(d->db, "localpart = 'alice'"), 0);
	/* Another account's documents stay. */
	d_get_eq(st, DOMAIN, "bob", "vcard", "", D_DOC2, strlen(D_DOC2));
	/* Deleted, nothing more is stored for the name ... */
	assert_int_equal(store_data_put(st, DOMAIN, "alice", "vcard", "", D_DOC1,
					strlen(D_DOC1), 0),
			 XS_NOTFOUND);
	/* ... and created again, it starts empty. */
	o_user(st, DOMAIN, "alice");
	d_get_none(st, DOMAIN, "alice", "vcard", "");
	d_put_ok(st, DOMAIN, "alice", "vcard", "", D_DOC1, 1);
	d_get_eq(st, DOMAIN, "alice", "vcard", "", D_DOC1, strlen(D_DOC1));
	store_close(st);
}

/* A failed write (a trigger the test adds refuses it) is XS_IO, changes
 * nothing and leaves the handle usable, not inside its transaction. */
static void test_data_rollback(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);

	o_user(st, DOMAIN, "alice");
	d_put_ok(st, DOMAIN, "alice", "vcard", "", D_DOC1, 0);
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "CREATE TRIGGER boom BEFORE INSERT ON account_data"
		      " BEGIN SELECT RAISE(ABORT, 'test: no insert'); END");
	raw_exec(raw, "CREATE TRIGGER boom_del BEFORE DELETE ON account_data"
		      " BEGIN SELECT RAISE(ABORT, 'test: no delete'); END");
	assert_int_equal(store_data_put(st, DOMAIN, "alice", "vcard", "", D_DOC2,
					strlen(D_DOC2), 0),
			 XS_IO);
	assert_int_equal(store_data_put(st, DOMAIN, "alice", "vcard", "", NULL, 0, 0), XS_IO);
	d_get_eq(st, DOMAIN, "alice", "vcard", "", D_DOC1, strlen(D_DOC1));
	/* The other connection can write: no lock is held. */
	raw_exec(raw, "DROP TRIGGER boom");
	raw_exec(raw, "DROP TRIGGER boom_del");
	sqlite3_close(raw);
	d_put_ok(st, DOMAIN, "alice", "vcard", "", D_DOC2, 0);
	d_get_eq(st, DOMAIN, "alice", "vcard", "", D_DOC2, strlen(D_DOC2));
	store_close(st);
}

/* A row the interface does not allow (a hand edit: an empty document) is
 * an error, not a document. */
static void test_data_malformed_row(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	char *x = (char *)"stale";
	size_t n = 99999;

	o_user(st, DOMAIN, "alice");
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "INSERT INTO account_data (domain, localpart, kind, key, xml) VALUES"
		      " ('" DOMAIN "', 'alice', 'vcard', '', x'')");
	sqlite3_close(raw);
	assert_int_equal(store_data_get(st, DOMAIN, "alice", "vcard", "", &x, &n), XS_IO);
	assert_null(x);
	assert_int_equal(n, 0);
	/* The handle still works, and a put repairs the row. */
	d_put_ok(st, DOMAIN, "alice", "vcard", "", D_DOC1, 0);
	d_get_eq(st, DOMAIN, "alice", "vcard", "", D_DOC1, strlen(D_DOC1));
	store_close(st);
}

/* Migration 3 exactly as it shipped: with migrations 1 and 2, builds a
 * version 3 file. */
static const char v3_offline_sql[] =
	"CREATE TABLE offline ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" xml BLOB NOT NULL,"
	" stamp INTEGER NOT NULL"
	");"
	"CREATE INDEX offline_account ON offline (domain, localpart, id);";

/* Inside an SQL string literal: no single quotes. */
#define V3_MSG "<message to=\"alice@example.org\"><body>kept</body></message>"

static void test_migrate_from_v3(void **state)
{
	struct tdir *d = *state;
	char path[320], err[256] = "";
	struct scram_cred c, out;
	struct r_acc racc = { .n = 0 };
	struct o_acc oacc = { .n = 0 };

	snprintf(path, sizeof(path), "%s/v3.db", d->root);
	make_cred(&c, 7, SCRAM_SHA256);
	sqlite3 *raw = raw_open(path);
	raw_exec(raw, v1_users_sql);
	raw_exec(raw, v2_roster_sql);
	raw_exec(raw, v3_offline_sql);
	raw_insert_sha256_user(raw, "alice", &c);
	raw_exec(raw, "INSERT INTO roster (domain, localpart, contact, name, subscription, ask,"
		      " groups) VALUES ('" DOMAIN "', 'alice', 'romeo@montague.lit', 'Romeo', 3,"
		      " 1, 'a' || char(31) || 'b')");
	raw_exec(raw, "INSERT INTO roster_version (domain, localpart, ver) VALUES ('" DOMAIN "',"
		      " 'alice', 9)");
	raw_exec(raw, "INSERT INTO offline (id, domain, localpart, xml, stamp) VALUES (41, '"
		      DOMAIN "', 'alice', CAST('" V3_MSG "' AS BLOB), 0)");
	raw_exec(raw, "PRAGMA user_version = 3");
	sqlite3_close(raw);

	struct store *st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open(%s): %s", path, err);
	raw = raw_open(path);
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				      " AND name IN ('account_data', 'blocklist')"),
			 2);
	sqlite3_close(raw);
	/* The account, its roster and its queue came through. */
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA256, &out), XS_OK);
	assert_cred_equal(&out, &c);
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 9);
	assert_int_equal(racc.n, 1);
	struct store_roster_item romeo = R_ROMEO;
	assert_item_equal(&racc.it[0], &romeo);
	assert_int_equal(o_list(st, DOMAIN, "alice", &oacc), 1);
	assert_int_equal(oacc.id[0], 41);
	assert_msg_equal(&oacc, 0, V3_MSG, strlen(V3_MSG));
	/* ... with no documents, and documents work. */
	d_get_none(st, DOMAIN, "alice", "vcard", "");
	d_put_ok(st, DOMAIN, "alice", "vcard", "", D_DOC2, 1);
	store_close(st);

	/* Opening again finds nothing to do. */
	st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	assert_non_null(st);
	d_get_eq(st, DOMAIN, "alice", "vcard", "", D_DOC2, strlen(D_DOC2));
	assert_int_equal(o_list(st, DOMAIN, "alice", &oacc), 1);
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 9);
	r_acc_free(&racc);
	o_acc_free(&oacc);
	store_close(st);
}

/* Migration 4 exactly as it shipped: with migrations 1 to 3, builds a
 * version 4 file. */
static const char v4_data_sql[] =
	"CREATE TABLE account_data ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" xml BLOB NOT NULL,"
	" PRIMARY KEY (domain, localpart, kind, key)"
	") WITHOUT ROWID;";

/* Version 5 rebuilds the roster table for a wider CHECK on ask: the items
 * (a NULL name, groups, every column), the versions and the other tables
 * come through, and the new bits can then be stored while 16 cannot. */
static void test_migrate_from_v4(void **state)
{
	struct tdir *d = *state;
	char path[320], err[256] = "";
	struct scram_cred c, out;
	struct r_acc racc = { .n = 0 };
	struct o_acc oacc = { .n = 0 };

	snprintf(path, sizeof(path), "%s/v4.db", d->root);
	make_cred(&c, 8, SCRAM_SHA256);
	sqlite3 *raw = raw_open(path);
	raw_exec(raw, v1_users_sql);
	raw_exec(raw, v2_roster_sql);
	raw_exec(raw, v3_offline_sql);
	raw_exec(raw, v4_data_sql);
	raw_insert_sha256_user(raw, "alice", &c);
	raw_exec(raw, "INSERT INTO roster (domain, localpart, contact, name, subscription, ask,"
		      " groups) VALUES ('" DOMAIN "', 'alice', 'romeo@montague.lit', 'Romeo', 3,"
		      " 1, 'a' || char(31) || 'b'), ('" DOMAIN "', 'alice',"
		      " 'juliet@capulet.lit', NULL, 2, 2, '')");
	raw_exec(raw, "INSERT INTO roster_version (domain, localpart, ver) VALUES ('" DOMAIN "',"
		      " 'alice', 11)");
	raw_exec(raw, "INSERT INTO offline (id, domain, localpart, xml, stamp) VALUES (43, '"
		      DOMAIN "', 'alice', CAST('" V3_MSG "' AS BLOB), 0)");
	raw_exec(raw, "INSERT INTO account_data (domain, localpart, kind, key, xml) VALUES ('"
		      DOMAIN "', 'alice', 'vcard', '', CAST('<vCard/>' AS BLOB))");
	/* The old CHECK: the new bits do not fit. */
	assert_int_not_equal(sqlite3_exec(raw, "UPDATE roster SET ask = 4", NULL, NULL, NULL),
			     SQLITE_OK);
	raw_exec(raw, "PRAGMA user_version = 4");
	sqlite3_close(raw);

	struct store *st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open(%s): %s", path, err);
	raw = raw_open(path);
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE name LIKE"
				      " 'roster%'"),
			 2); /* roster and roster_version; no roster_new left */
	sqlite3_close(raw);
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA256, &out), XS_OK);
	assert_cred_equal(&out, &c);
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 11);
	assert_int_equal(racc.n, 2);
	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	assert_item_equal(&racc.it[0], &juliet);
	assert_item_equal(&racc.it[1], &romeo);
	assert_int_equal(o_list(st, DOMAIN, "alice", &oacc), 1);
	assert_int_equal(oacc.id[0], 43);
	d_get_eq(st, DOMAIN, "alice", "vcard", "", "<vCard/>", strlen("<vCard/>"));
	/* The new bits fit now; the primary key still holds. */
	romeo.ask = ROSTER_ASK_ALL;
	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 12);
	raw = raw_open(path);
	assert_int_not_equal(sqlite3_exec(raw, "UPDATE roster SET ask = 16", NULL, NULL, NULL),
			     SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(raw, "INSERT INTO roster (domain, localpart, contact)"
					       " VALUES ('" DOMAIN "', 'alice',"
					       " 'romeo@montague.lit')",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	sqlite3_close(raw);
	store_close(st);

	/* Opening again finds nothing to do. */
	st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 12);
	assert_int_equal(racc.n, 2);
	assert_int_equal(racc.it[1].ask, ROSTER_ASK_ALL);
	r_acc_free(&racc);
	o_acc_free(&oacc);
	store_close(st);
}

/* --- blocking --- */

/* What block_list handed to its callback, joined with ',' (no test JID
 * holds one), so that a whole list is compared in one assertion. */
struct b_acc {
	char s[512];
	size_t n;
};

static void b_cb(void *arg, const char *jid)
{
	struct b_acc *acc = arg;
	size_t used = strlen(acc->s);
	snprintf(acc->s + used, sizeof(acc->s) - used, "%s%s", acc->n ? "," : "", jid);
	acc->n++;
}

/* The blocklist of local@domain, joined (acc emptied first). */
static const char *b_list(struct store *st, const char *domain, const char *local,
			  struct b_acc *acc)
{
	memset(acc, 0, sizeof(*acc));
	assert_int_equal(store_block_list(st, domain, local, b_cb, acc), XS_OK);
	return acc->s;
}

/* Changes the list and checks how many entries that changed. */
static void b_change_ok(struct store *st, const char *domain, const char *local,
			const char *const *jids, size_t n, bool add, unsigned max, size_t want)
{
	size_t changed = 12345;
	assert_int_equal(store_block_change(st, domain, local, jids, n, add, max, &changed), XS_OK);
	assert_int_equal(changed, want);
}

/* Whether local@DOMAIN blocks jid; asked twice, starting from either
 * answer, so a backend that leaves *blocked alone is caught. */
static bool b_match(struct store *st, const char *local, const char *jid)
{
	bool a = true, b = false;
	assert_int_equal(store_block_match(st, DOMAIN, local, jid, &a), XS_OK);
	assert_int_equal(store_block_match(st, DOMAIN, local, jid, &b), XS_OK);
	assert_int_equal(a, b);
	return a;
}

/* Add (a JID given twice is inserted once), add of what is there, the
 * limit (nothing changed), remove some, remove all, accounts apart. */
static void test_block_change(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct b_acc acc;
	size_t changed = 99;

	/* Nothing yet; an account with no list (or none at all) is empty. */
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "");
	assert_int_equal(acc.n, 0);

	const char *first[] = { "romeo@montague.lit", "capulet.lit", "romeo@montague.lit" };
	b_change_ok(st, DOMAIN, "alice", first, 3, true, 0, 2);
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "capulet.lit,romeo@montague.lit");
	/* Adding what is there changes nothing and is no error. */
	b_change_ok(st, DOMAIN, "alice", first + 1, 1, true, 0, 0);

	/* With room for one more, two new ones are refused, both. */
	const char *two[] = { "tybalt@capulet.lit/sword", "paris@verona.lit" };
	changed = 99;
	assert_int_equal(store_block_change(st, DOMAIN, "alice", two, 2, true, 3, &changed),
			 XS_LIMIT);
	assert_int_equal(changed, 0);
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "capulet.lit,romeo@montague.lit");
	/* One fits (no lock left behind by the refusal); a duplicate and an
	 * old one do not count as new. */
	const char *one[] = { "paris@verona.lit", "paris@verona.lit", "capulet.lit" };
	b_change_ok(st, DOMAIN, "alice", one, 3, true, 3, 1);
	/* Above a lowered limit an add that inserts nothing is still fine,
	 * one that inserts anything is not. */
	b_change_ok(st, DOMAIN, "alice", one, 3, true, 1, 0);
	assert_int_equal(store_block_change(st, DOMAIN, "alice", two, 1, true, 1, &changed),
			 XS_LIMIT);
	/* 0 is no limit. */
	b_change_ok(st, DOMAIN, "alice", two, 2, true, 0, 1);
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc),
			    "capulet.lit,paris@verona.lit,romeo@montague.lit,"
			    "tybalt@capulet.lit/sword");

	/* Other accounts (another localpart, the same one in another domain,
	 * a localpart that is a prefix) keep their own lists. */
	b_change_ok(st, DOMAIN, "bob", first, 1, true, 1, 1);
	b_change_ok(st, "other.org", "alice", first + 1, 1, true, 1, 1);
	b_change_ok(st, DOMAIN, "alic", first + 1, 1, true, 1, 1);

	/* Remove some: what is not there counts for nothing. */
	const char *rm[] = { "capulet.lit", "nobody@nowhere.lit", "tybalt@capulet.lit" };
	b_change_ok(st, DOMAIN, "alice", rm, 3, false, 0, 1);
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc),
			    "paris@verona.lit,romeo@montague.lit,tybalt@capulet.lit/sword");
	/* Remove all (max_items plays no part in a removal). */
	b_change_ok(st, DOMAIN, "alice", NULL, 0, false, 1, 3);
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "");
	b_change_ok(st, DOMAIN, "alice", NULL, 0, false, 0, 0);
	/* An add of nothing is nothing. */
	b_change_ok(st, DOMAIN, "alice", NULL, 0, true, 0, 0);
	assert_string_equal(b_list(st, DOMAIN, "bob", &acc), "romeo@montague.lit");
	assert_string_equal(b_list(st, "other.org", "alice", &acc), "capulet.lit");
	assert_string_equal(b_list(st, DOMAIN, "alic", &acc), "capulet.lit");

	/* Survives close and reopen; on disk it is one row per entry. */
	store_close(st);
	st = open_ok(d->db);
	assert_string_equal(b_list(st, DOMAIN, "bob", &acc), "romeo@montague.lit");
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM blocklist"), 3);
	sqlite3_close(raw);
	store_close(st);
}

/* Bad arguments are refused before anything is touched; a JID of
 * STORE_JID_MAX bytes is one, a byte more is not. */
static void test_block_bad_arguments(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct b_acc acc;
	size_t changed = 7;
	bool blocked = false;
	static char longest[STORE_JID_MAX + 2];

	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	const char *too_long[] = { "capulet.lit", longest };
	const char *empty[] = { "capulet.lit", "" };
	const char *null[] = { "capulet.lit", NULL };

	assert_int_equal(store_block_change(st, DOMAIN, "alice", too_long, 2, true, 0, &changed),
			 XS_INVAL);
	assert_int_equal(store_block_change(st, DOMAIN, "alice", empty, 2, true, 0, &changed),
			 XS_INVAL);
	assert_int_equal(store_block_change(st, DOMAIN, "alice", null, 2, false, 0, &changed),
			 XS_INVAL);
	assert_int_equal(store_block_change(st, DOMAIN, "alice", NULL, 1, true, 0, &changed),
			 XS_INVAL);
	assert_int_equal(store_block_change(st, DOMAIN, "alice", empty, 1, true, 0, NULL),
			 XS_INVAL);
	assert_int_equal(store_block_change(st, "", "alice", empty, 1, true, 0, &changed),
			 XS_INVAL);
	assert_int_equal(store_block_change(st, DOMAIN, NULL, empty, 1, true, 0, &changed),
			 XS_INVAL);
	assert_int_equal(changed, 7); /* untouched: refused before the backend */
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "");
	assert_int_equal(store_block_list(st, DOMAIN, "alice", NULL, NULL), XS_INVAL);
	assert_int_equal(store_block_list(st, DOMAIN, "", b_cb, &acc), XS_INVAL);
	assert_int_equal(store_block_match(st, DOMAIN, "alice", longest, &blocked), XS_INVAL);
	assert_int_equal(store_block_match(st, DOMAIN, "alice", "", &blocked), XS_INVAL);
	assert_int_equal(store_block_match(st, DOMAIN, "alice", NULL, &blocked), XS_INVAL);
	assert_int_equal(store_block_match(st, DOMAIN, "alice", "capulet.lit", NULL), XS_INVAL);
	assert_int_equal(store_block_match(st, "", "alice", "capulet.lit", &blocked), XS_INVAL);

	/* The longest JID there is fits, and is found again. */
	longest[STORE_JID_MAX] = '\0';
	longest[200] = '@';
	longest[400] = '/';
	const char *fits[] = { longest };
	b_change_ok(st, DOMAIN, "alice", fits, 1, true, 0, 1);
	assert_true(b_match(st, "alice", longest));
	assert_int_equal(b_list(st, DOMAIN, "alice", &acc)[0], 'a');
	assert_int_equal(acc.n, 1);
	store_close(st);
}

/* XEP-0016 2.1 matching: a full JID blocks that resource only, a bare JID
 * every resource, domain/resource that resource of the domain (and of
 * any user there), a domain everything at it; nothing else. */
static void test_block_match(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	const char *list[] = { "romeo@montague.lit/orchard", "tybalt@capulet.lit",
			       "bots.lit/spammer", "evil.lit" };
	static const struct {
		const char *jid;
		bool blocked;
	} cases[] = {
		/* a full JID entry */
		{ "romeo@montague.lit/orchard", true },
		{ "romeo@montague.lit/balcony", false },     /* another resource */
		{ "romeo@montague.lit", false },             /* the bare JID */
		{ "romeo@montague.lit/orchard/x", false },
		{ "benvolio@montague.lit/orchard", false },  /* another user there */
		{ "montague.lit/orchard", false },
		{ "montague.lit", false },
		/* a bare JID entry */
		{ "tybalt@capulet.lit", true },
		{ "tybalt@capulet.lit/sword", true },
		{ "juliet@capulet.lit/balcony", false },
		{ "capulet.lit", false },
		{ "tybalt@capulet.lit.evil", false },
		/* a domain/resource entry */
		{ "bots.lit/spammer", true },
		{ "anyone@bots.lit/spammer", true },
		{ "bots.lit/other", false },
		{ "anyone@bots.lit", false },
		{ "bots.lit", false },
		/* a domain entry */
		{ "evil.lit", true },
		{ "evil.lit/r", true },
		{ "imp@evil.lit", true },
		{ "imp@evil.lit/r@s/t", true },
		{ "sub.evil.lit", false },
		{ "notevil.lit", false },
		{ "evil.lit@good.lit", false },              /* a localpart, not the domain */
	};

	b_change_ok(st, DOMAIN, "alice", list, 4, true, 0, 4);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (b_match(st, "alice", cases[i].jid) != cases[i].blocked)
			fail_msg("%s: expected %s", cases[i].jid,
				 cases[i].blocked ? "blocked" : "not blocked");
		/* Another account, or the same localpart in another domain,
		 * blocks nothing. */
		assert_false(b_match(st, "bob", cases[i].jid));
		bool blocked = true;
		assert_int_equal(store_block_match(st, "other.org", "alice", cases[i].jid,
						   &blocked),
				 XS_OK);
		assert_false(blocked);
	}
	store_close(st);
}

/* Deleting the account drops its list, not anyone else's; created again,
 * it starts empty.  A roster read can bring the list along, from one
 * snapshot. */
static void test_block_user_delete_roster(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct b_acc acc;
	struct r_acc racc = { .n = 0 };
	const char *list[] = { "evil.lit", "romeo@montague.lit" };
	uint64_t ver = 99;

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	struct store_roster_item romeo = R_ROMEO;
	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	b_change_ok(st, DOMAIN, "alice", list, 2, true, 0, 2);
	b_change_ok(st, DOMAIN, "bob", list, 1, true, 0, 1);

	memset(&acc, 0, sizeof(acc));
	assert_int_equal(store_roster_get_with_blocklist(st, DOMAIN, "alice", r_cb, &racc, &ver,
							 b_cb, &acc),
			 XS_OK);
	assert_int_equal(ver, 1);
	assert_int_equal(racc.n, 1);
	assert_item_equal(&racc.it[0], &romeo);
	assert_string_equal(acc.s, "evil.lit,romeo@montague.lit");
	assert_int_equal(store_roster_get_with_blocklist(st, DOMAIN, "alice", r_cb, &racc, &ver,
							 NULL, &acc),
			 XS_INVAL);
	r_acc_free(&racc);

	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_OK);
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "");
	assert_false(b_match(st, "alice", "evil.lit"));
	sqlite3 *raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM blocklist WHERE localpart = 'alice'"),
			 0);
	sqlite3_close(raw);
	assert_string_equal(b_list(st, DOMAIN, "bob", &acc), "evil.lit");
	o_user(st, DOMAIN, "alice");
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "");
	store_close(st);
}

/* A failed insert (a trigger the test adds refuses the second JID) is
 * XS_IO and leaves none of the change behind, the handle usable. */
static void test_block_rollback(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct b_acc acc;
	size_t changed = 5;
	const char *list[] = { "evil.lit", "refused.lit", "romeo@montague.lit" };

	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "CREATE TRIGGER no_refused BEFORE INSERT ON blocklist"
		      " WHEN NEW.jid = 'refused.lit' BEGIN SELECT RAISE(ABORT, 'refused'); END");
	sqlite3_close(raw);
	assert_int_equal(store_block_change(st, DOMAIN, "alice", list, 3, true, 0, &changed),
			 XS_IO);
	assert_int_equal(changed, 0);
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "");
	b_change_ok(st, DOMAIN, "alice", list, 1, true, 0, 1);
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "evil.lit");

	/* A stored entry the wrappers would refuse (a hand edit) is XS_IO
	 * for a list, not handed on. */
	raw = raw_open(d->db);
	raw_exec(raw, "INSERT INTO blocklist (domain, localpart, jid) VALUES"
		      " ('" DOMAIN "', 'bob', '')");
	sqlite3_close(raw);
	memset(&acc, 0, sizeof(acc));
	assert_int_equal(store_block_list(st, DOMAIN, "bob", b_cb, &acc), XS_IO);
	assert_string_equal(b_list(st, DOMAIN, "alice", &acc), "evil.lit");
	store_close(st);
}

/* Migration 5 exactly as it shipped: with migrations 1 to 4, builds a
 * version 5 file. */
static const char v5_roster_sql[] =
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
	"ALTER TABLE roster_new RENAME TO roster;";

/* Version 6 adds the blocklist: everything else comes through, the new
 * table is empty and works, its key holds. */
static void test_migrate_from_v5(void **state)
{
	struct tdir *d = *state;
	char path[320], err[256] = "";
	struct scram_cred c, out;
	struct r_acc racc = { .n = 0 };
	struct o_acc oacc = { .n = 0 };
	struct b_acc bacc;

	snprintf(path, sizeof(path), "%s/v5.db", d->root);
	make_cred(&c, 9, SCRAM_SHA256);
	sqlite3 *raw = raw_open(path);
	raw_exec(raw, v1_users_sql);
	raw_exec(raw, v2_roster_sql);
	raw_exec(raw, v3_offline_sql);
	raw_exec(raw, v4_data_sql);
	raw_exec(raw, v5_roster_sql);
	raw_insert_sha256_user(raw, "alice", &c);
	raw_exec(raw, "INSERT INTO roster (domain, localpart, contact, name, subscription, ask,"
		      " groups) VALUES ('" DOMAIN "', 'alice', 'romeo@montague.lit', 'Romeo', 3,"
		      " 15, 'a' || char(31) || 'b')");
	raw_exec(raw, "INSERT INTO roster_version (domain, localpart, ver) VALUES ('" DOMAIN "',"
		      " 'alice', 13)");
	raw_exec(raw, "INSERT INTO offline (id, domain, localpart, xml, stamp) VALUES (44, '"
		      DOMAIN "', 'alice', CAST('" V3_MSG "' AS BLOB), 0)");
	raw_exec(raw, "INSERT INTO account_data (domain, localpart, kind, key, xml) VALUES ('"
		      DOMAIN "', 'alice', 'vcard', '', CAST('<vCard/>' AS BLOB))");
	raw_exec(raw, "PRAGMA user_version = 5");
	sqlite3_close(raw);

	struct store *st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open(%s): %s", path, err);
	raw = raw_open(path);
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				      " AND name = 'blocklist'"),
			 1);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM blocklist"), 0);
	sqlite3_close(raw);
	/* The account, its roster, queue and document came through. */
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA256, &out), XS_OK);
	assert_cred_equal(&out, &c);
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 13);
	assert_int_equal(racc.n, 1);
	struct store_roster_item romeo = R_ROMEO;
	romeo.ask = ROSTER_ASK_ALL;
	assert_item_equal(&racc.it[0], &romeo);
	assert_int_equal(o_list(st, DOMAIN, "alice", &oacc), 1);
	assert_int_equal(oacc.id[0], 44);
	d_get_eq(st, DOMAIN, "alice", "vcard", "", "<vCard/>", strlen("<vCard/>"));
	/* ... with an empty blocklist that works, keyed as it should be. */
	assert_string_equal(b_list(st, DOMAIN, "alice", &bacc), "");
	const char *list[] = { "evil.lit" };
	b_change_ok(st, DOMAIN, "alice", list, 1, true, 0, 1);
	raw = raw_open(path);
	assert_int_not_equal(sqlite3_exec(raw, "INSERT INTO blocklist (domain, localpart, jid)"
					       " VALUES ('" DOMAIN "', 'alice', 'evil.lit')",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(raw, "INSERT INTO blocklist (domain, localpart, jid)"
					       " VALUES ('" DOMAIN "', 'alice', NULL)",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	sqlite3_close(raw);
	store_close(st);

	/* Opening again finds nothing to do. */
	st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	assert_non_null(st);
	assert_string_equal(b_list(st, DOMAIN, "alice", &bacc), "evil.lit");
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 13);
	r_acc_free(&racc);
	o_acc_free(&oacc);
	store_close(st);
}

/* --- message archive --- */

#define M_T0 1700000000000000LL /* unix microseconds */
#define M_N 30
#define M_ROMEO "romeo@montague.lit"
#define M_NURSE "nurse@capulet.lit"
#define M_SEC 1000000LL

/* The test archive: messages 1..M_N with ids PREFIX01.., one a second
 * from M_T0 + 1 s, every third with the nurse and the rest with Romeo.
 * Message 5 holds a NUL byte: it must come back by length, not strlen. */
struct m_msgs {
	struct store_mam_item it[M_N];
	char id[M_N][16];
	char xml[M_N][96];
};

static bool m_nurse(unsigned i)
{
	return i % 3 == 0;
}

static void m_fill(struct store_mam_item *it, const char *domain, const char *local)
{
	memset(it, 0, sizeof(*it));
	snprintf(it->domain, sizeof(it->domain), "%s", domain);
	snprintf(it->local, sizeof(it->local), "%s", local);
}

static void m_build(struct m_msgs *m, const char *domain, const char *local, const char *prefix)
{
	for (unsigned k = 0; k < M_N; k++) {
		unsigned i = k + 1;
		struct store_mam_item *it = &m->it[k];
		snprintf(m->id[k], sizeof(m->id[k]), "%s%02u", prefix, i);
		int len = snprintf(m->xml[k], sizeof(m->xml[k]),
				   "<message id='%s'><body>%s %u</body></message>", m->id[k],
				   local, i);
		if (i == 5)
			m->xml[k][9] = '\0';
		m_fill(it, domain, local);
		it->with = m_nurse(i) ? M_NURSE : M_ROMEO;
		it->stamp_us = M_T0 + (int64_t)i * M_SEC;
		it->stanza_id = m->id[k];
		it->xml = m->xml[k];
		it->len = (size_t)len;
	}
}

/* What a query handed to its callback: the ids joined with ',' and, when
 * want is set, each row checked against the message it names. */
struct m_acc {
	char ids[4096];
	unsigned n;
	const struct m_msgs *want;
	int64_t last_stamp;
};

static void m_cb(void *arg, const char *stanza_id, int64_t stamp_us, const char *with,
		 const char *xml, size_t len)
{
	struct m_acc *acc = arg;
	size_t used = strlen(acc->ids);
	snprintf(acc->ids + used, sizeof(acc->ids) - used, "%s%s", acc->n ? "," : "", stanza_id);
	acc->n++;
	/* Oldest first, always. */
	assert_true(stamp_us > acc->last_stamp);
	acc->last_stamp = stamp_us;
	if (!acc->want)
		return;
	for (unsigned k = 0; k < M_N; k++) {
		const struct store_mam_item *it = &acc->want->it[k];
		if (strcmp(it->stanza_id, stanza_id) != 0)
			continue;
		assert_int_equal(stamp_us, it->stamp_us);
		assert_string_equal(with, it->with);
		assert_int_equal(len, it->len);
		assert_memory_equal(xml, it->xml, len);
		return;
	}
	fail_msg("unexpected stanza id %s", stanza_id);
}

/* One page of local@domain, joined; *complete as the store said. */
static const char *m_page(struct store *st, const char *domain, const char *local,
			  const struct store_mam_filter *f, struct m_acc *acc, bool *complete)
{
	const struct m_msgs *want = acc->want;
	memset(acc, 0, sizeof(*acc));
	acc->want = want;
	acc->last_stamp = INT64_MIN;
	*complete = !*complete; /* must be overwritten */
	assert_int_equal(store_mam_query(st, domain, local, f, m_cb, acc, complete), XS_OK);
	return acc->ids;
}

/* The ids from..to of prefix, joined, those of one conversation only
 * (which: 'r' Romeo, 'n' the nurse, 0 both). */
static const char *m_ids(char *buf, size_t size, const char *prefix, unsigned from, unsigned to,
			 char which)
{
	buf[0] = '\0';
	for (unsigned i = from; i <= to; i++) {
		if ((which == 'r' && m_nurse(i)) || (which == 'n' && !m_nurse(i)))
			continue;
		size_t used = strlen(buf);
		snprintf(buf + used, size - used, "%s%s%02u", used ? "," : "", prefix, i);
	}
	return buf;
}

/* Checks one page: its ids and its complete flag. */
#define M_PAGE(st, local, f, want_ids, want_complete)                                        \
	do {                                                                                 \
		bool c_ = false;                                                             \
		assert_string_equal(m_page(st, DOMAIN, local, f, &acc, &c_), want_ids);      \
		assert_int_equal(c_, want_complete);                                         \
	} while (0)

static int m_rows(const char *db, const char *where)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM archive WHERE %s", where);
	sqlite3 *raw = raw_open(db);
	int n = raw_int(raw, sql);
	sqlite3_close(raw);
	return n;
}

/* A batch is archived in one call and read back exactly; a batch with a
 * refused item stores none of it; an item for a name nobody owns is
 * skipped; bad arguments are refused before the backend. */
static void test_mam_append_query(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct m_msgs m;
	struct m_acc acc = { .want = &m };
	struct store_mam_filter all = { .max = 100 };
	char want[1024];

	o_user(st, DOMAIN, "alice");
	m_build(&m, DOMAIN, "alice", "a");
	assert_int_equal(store_mam_append(st, m.it, M_N, NULL), XS_OK);
	assert_int_equal(m_rows(d->db, "localpart = 'alice' AND typeof(xml) = 'blob'"), M_N);
	M_PAGE(st, "alice", &all, m_ids(want, sizeof(want), "a", 1, M_N, 0), true);
	assert_int_equal(acc.n, M_N);
	acc.want = NULL;

	/* A stanza id already archived, or given twice in one batch:
	 * XS_INVAL and nothing of the batch is stored. */
	struct store_mam_item b[3];
	m_fill(&b[0], DOMAIN, "alice");
	b[0].with = M_ROMEO;
	b[0].stamp_us = M_T0 + 100 * M_SEC;
	b[0].stanza_id = "b01";
	b[0].xml = "<message/>";
	b[0].len = 10;
	b[1] = b[0];
	b[1].stanza_id = "a05";
	assert_int_equal(store_mam_append(st, b, 2, NULL), XS_INVAL);
	b[1].stanza_id = "b01";
	assert_int_equal(store_mam_append(st, b, 2, NULL), XS_INVAL);
	assert_int_equal(m_rows(d->db, "1"), M_N);

	/* An item for a name nobody owns (or owned only in another domain)
	 * is skipped; the rest of the batch is stored. */
	b[1] = b[0];
	snprintf(b[1].local, sizeof(b[1].local), "nobody");
	b[1].stanza_id = "n01";
	b[2] = b[0];
	snprintf(b[2].domain, sizeof(b[2].domain), "other.org");
	b[2].stanza_id = "o01";
	assert_int_equal(store_mam_append(st, b, 3, NULL), XS_OK);
	assert_int_equal(m_rows(d->db, "1"), M_N + 1);
	M_PAGE(st, "nobody", &all, "", true);
	all.last_page = true;
	all.max = 1;
	M_PAGE(st, "alice", &all, "b01", false);
	all.last_page = false;
	all.max = 100;

	/* n 0 is nothing to do. */
	assert_int_equal(store_mam_append(st, NULL, 0, NULL), XS_OK);

	/* Bad arguments: nothing reaches the store. */
	struct store_mam_item bad = b[0];
	char longid[STORE_MAM_ID_MAX + 2];
	memset(longid, 'x', sizeof(longid));
	longid[STORE_MAM_ID_MAX + 1] = '\0';
	assert_int_equal(store_mam_append(st, NULL, 1, NULL), XS_INVAL);
	bad.stanza_id = NULL;
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_INVAL);
	bad.stanza_id = "";
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_INVAL);
	bad.stanza_id = longid;
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_INVAL);
	bad = b[0];
	bad.with = NULL;
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_INVAL);
	bad.with = "";
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_INVAL);
	bad = b[0];
	bad.xml = NULL;
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_INVAL);
	bad = b[0];
	bad.len = 0;
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_INVAL);
	bad = b[0];
	bad.domain[0] = '\0';
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_INVAL);
	bad = b[0];
	memset(bad.local, 'a', sizeof(bad.local)); /* not terminated */
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_INVAL);
	/* one bad item refuses the whole batch */
	struct store_mam_item two[2] = { b[0], b[0] };
	two[0].stanza_id = "c01";
	two[1].stanza_id = "";
	assert_int_equal(store_mam_append(st, two, 2, NULL), XS_INVAL);
	assert_int_equal(m_rows(d->db, "1"), M_N + 1);
	/* the longest id fits, and is an anchor */
	longid[STORE_MAM_ID_MAX] = '\0';
	bad = b[0];
	bad.stanza_id = longid;
	assert_int_equal(store_mam_append(st, &bad, 1, NULL), XS_OK);
	struct store_mam_filter f = { .max = 1, .before_id = longid };
	M_PAGE(st, "alice", &f, "b01", false);

	bool c = true;
	f = (struct store_mam_filter){ .max = 10 };
	assert_int_equal(store_mam_query(st, "", "alice", &f, m_cb, &acc, &c), XS_INVAL);
	assert_int_equal(store_mam_query(st, DOMAIN, "", &f, m_cb, &acc, &c), XS_INVAL);
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", NULL, m_cb, &acc, &c), XS_INVAL);
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, NULL, &acc, &c), XS_INVAL);
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, m_cb, &acc, NULL), XS_INVAL);
	f.max = 0;
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, m_cb, &acc, &c), XS_INVAL);
	f.max = 10;
	f.with = "";
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, m_cb, &acc, &c), XS_INVAL);
	f.with = NULL;
	f.after_id = "";
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, m_cb, &acc, &c), XS_INVAL);
	f.after_id = NULL;
	f.before_id = "";
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, m_cb, &acc, &c), XS_INVAL);
	assert_int_equal(store_mam_expire(st, M_T0, NULL), XS_INVAL);
	store_close(st);

	/* It is all still there after close and reopen. */
	st = open_ok(d->db);
	acc.want = &m;
	all.max = M_N;
	M_PAGE(st, "alice", &all, m_ids(want, sizeof(want), "a", 1, M_N, 0), false);
	store_close(st);
}

/* XEP-0059 paging over one archive: forwards from the first page with
 * after, backwards from the last with before, complete at both ends,
 * pages that do not divide the archive evenly, an empty archive. */
static void test_mam_paging(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct m_msgs m;
	struct m_acc acc = { .want = &m };
	char want[1024];

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	m_build(&m, DOMAIN, "alice", "a");
	assert_int_equal(store_mam_append(st, m.it, M_N, NULL), XS_OK);

	/* forwards: the first page, then after the last id of each */
	struct store_mam_filter f = { .max = 10 };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 1, 10, 0), false);
	f.after_id = "a10";
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 11, 20, 0), false);
	f.after_id = "a20";
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 21, 30, 0), true);
	f.after_id = "a30";
	M_PAGE(st, "alice", &f, "", true);
	/* backwards: the last page, then before the first id of each */
	f = (struct store_mam_filter){ .max = 10, .last_page = true };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 21, 30, 0), false);
	f.before_id = "a21";
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 11, 20, 0), false);
	f.last_page = false; /* before alone means the same */
	f.before_id = "a11";
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 1, 10, 0), true);
	f.before_id = "a01";
	M_PAGE(st, "alice", &f, "", true);
	/* uneven pages */
	f = (struct store_mam_filter){ .max = 7, .after_id = "a28" };
	M_PAGE(st, "alice", &f, "a29,a30", true);
	f = (struct store_mam_filter){ .max = 7, .before_id = "a03" };
	M_PAGE(st, "alice", &f, "a01,a02", true);
	f = (struct store_mam_filter){ .max = 7, .after_id = "a22" };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 23, 29, 0), false);
	f = (struct store_mam_filter){ .max = 7, .before_id = "a09" };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 2, 8, 0), false);
	/* a page of exactly what is left is complete either way */
	f = (struct store_mam_filter){ .max = 8, .before_id = "a09" };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 1, 8, 0), true);
	f = (struct store_mam_filter){ .max = 8, .after_id = "a22" };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 23, 30, 0), true);
	/* a page as big as the archive, or bigger */
	f = (struct store_mam_filter){ .max = M_N, .last_page = true };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 1, M_N, 0), true);
	f = (struct store_mam_filter){ .max = 1000 };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 1, M_N, 0), true);
	f = (struct store_mam_filter){ .max = 1, .last_page = true };
	M_PAGE(st, "alice", &f, "a30", false);
	/* both anchors: the range between them, paged from either end */
	f = (struct store_mam_filter){ .max = 10, .after_id = "a05", .before_id = "a10" };
	M_PAGE(st, "alice", &f, "a06,a07,a08,a09", true);
	f.max = 2;
	M_PAGE(st, "alice", &f, "a08,a09", false);
	f.before_id = NULL;
	f.last_page = true;
	M_PAGE(st, "alice", &f, "a29,a30", false);
	f = (struct store_mam_filter){ .max = 2, .after_id = "a05" };
	M_PAGE(st, "alice", &f, "a06,a07", false);
	/* an empty archive: an empty, complete page */
	f = (struct store_mam_filter){ .max = 10 };
	M_PAGE(st, "bob", &f, "", true);
	f.last_page = true;
	M_PAGE(st, "bob", &f, "", true);
	store_close(st);
}

/* with, start and end, alone and with paging; anchors that do not exist
 * are XS_NOTFOUND. */
static void test_mam_filters(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct m_msgs m, mb;
	struct m_acc acc = { .want = &m };
	char want[1024];

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	m_build(&m, DOMAIN, "alice", "a");
	m_build(&mb, DOMAIN, "bob", "b");
	assert_int_equal(store_mam_append(st, m.it, M_N, NULL), XS_OK);
	assert_int_equal(store_mam_append(st, mb.it, M_N, NULL), XS_OK);

	/* one conversation */
	struct store_mam_filter f = { .max = 100, .with = M_ROMEO };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 1, M_N, 'r'), true);
	assert_int_equal(acc.n, 20);
	f.with = "tybalt@capulet.lit";
	M_PAGE(st, "alice", &f, "", true);
	f = (struct store_mam_filter){ .max = 5, .with = M_ROMEO };
	M_PAGE(st, "alice", &f, "a01,a02,a04,a05,a07", false);
	f.after_id = "a07";
	M_PAGE(st, "alice", &f, "a08,a10,a11,a13,a14", false);
	f.after_id = "a26";
	M_PAGE(st, "alice", &f, "a28,a29", true);
	f = (struct store_mam_filter){ .max = 4, .with = M_NURSE, .last_page = true };
	M_PAGE(st, "alice", &f, "a21,a24,a27,a30", false);
	f.before_id = "a21";
	M_PAGE(st, "alice", &f, "a09,a12,a15,a18", false);
	f.before_id = "a09";
	M_PAGE(st, "alice", &f, "a03,a06", true);
	/* an anchor is a place in the archive, of any conversation */
	f = (struct store_mam_filter){ .max = 3, .with = M_NURSE, .after_id = "a04" };
	M_PAGE(st, "alice", &f, "a06,a09,a12", false);
	f = (struct store_mam_filter){ .max = 3, .with = M_NURSE, .after_id = "a28" };
	M_PAGE(st, "alice", &f, "a30", true);

	/* stamps: inclusive bounds */
	f = (struct store_mam_filter){ .max = 100, .start_us = M_T0 + 10 * M_SEC,
				       .end_us = M_T0 + 20 * M_SEC };
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 10, 20, 0), true);
	f.end_us = 0;
	f.start_us = M_T0 + 25 * M_SEC;
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 25, 30, 0), true);
	f.start_us = M_T0 + 25 * M_SEC + 1;
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 26, 30, 0), true);
	f.start_us = 0;
	f.end_us = M_T0 + 3 * M_SEC;
	M_PAGE(st, "alice", &f, "a01,a02,a03", true);
	f.end_us = M_T0 + 3 * M_SEC - 1;
	M_PAGE(st, "alice", &f, "a01,a02", true);
	f.start_us = M_T0 + 20 * M_SEC;
	f.end_us = M_T0 + 10 * M_SEC;
	M_PAGE(st, "alice", &f, "", true);
	f.last_page = true;
	M_PAGE(st, "alice", &f, "", true);

	/* all of it together: Romeo from 10 s to 20 s (10, 11, 13, 14, 16,
	 * 17, 19, 20) backwards by three, then forwards from an anchor */
	f = (struct store_mam_filter){ .max = 3, .with = M_ROMEO, .start_us = M_T0 + 10 * M_SEC,
				       .end_us = M_T0 + 20 * M_SEC, .last_page = true };
	M_PAGE(st, "alice", &f, "a17,a19,a20", false);
	f.before_id = "a17";
	M_PAGE(st, "alice", &f, "a13,a14,a16", false);
	f.before_id = "a13";
	M_PAGE(st, "alice", &f, "a10,a11", true);
	f.before_id = NULL;
	f.last_page = false;
	M_PAGE(st, "alice", &f, "a10,a11,a13", false);
	f.after_id = "a13";
	M_PAGE(st, "alice", &f, "a14,a16,a17", false);
	f.after_id = "a17";
	M_PAGE(st, "alice", &f, "a19,a20", true);
	f.after_id = "a12";
	f.max = 100;
	M_PAGE(st, "alice", &f, "a13,a14,a16,a17,a19,a20", true);

	/* An anchor that is not an id of this archive: XS_NOTFOUND, no
	 * message handed on, complete left false.  bob's ids are not
	 * alice's, and an id longer than any stored cannot be one. */
	char longid[STORE_MAM_ID_MAX + 2];
	memset(longid, 'a', sizeof(longid));
	longid[STORE_MAM_ID_MAX + 1] = '\0';
	const char *unknown[] = { "zz", "b01", "A01", "a1", longid };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		for (int before = 0; before < 2; before++) {
			bool c = true;
			f = (struct store_mam_filter){ .max = 10 };
			if (before)
				f.before_id = unknown[i];
			else
				f.after_id = unknown[i];
			memset(&acc, 0, sizeof(acc));
			assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, m_cb, &acc, &c),
					 XS_NOTFOUND);
			assert_int_equal(acc.n, 0);
			assert_false(c);
		}
	}
	/* ... also when the other anchor exists */
	bool c = true;
	f = (struct store_mam_filter){ .max = 10, .after_id = "a01", .before_id = "zz" };
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, m_cb, &acc, &c), XS_NOTFOUND);
	store_close(st);
}

/* Archives of different accounts are apart, even with the same ids: the
 * same localpart in two domains, a localpart that is a prefix of another. */
static void test_mam_accounts_separate(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct m_msgs m1, m2, m3;
	struct m_acc acc;
	char want[1024];

	o_user(st, DOMAIN, "alice");
	o_user(st, "other.org", "alice");
	o_user(st, DOMAIN, "alic");
	m_build(&m1, DOMAIN, "alice", "a");
	m_build(&m2, "other.org", "alice", "a");
	m_build(&m3, DOMAIN, "alic", "a");
	assert_int_equal(store_mam_append(st, m1.it, 10, NULL), XS_OK);
	assert_int_equal(store_mam_append(st, m2.it, 20, NULL), XS_OK);
	assert_int_equal(store_mam_append(st, m3.it, M_N, NULL), XS_OK);

	struct store_mam_filter f = { .max = 100 };
	acc.want = &m1;
	M_PAGE(st, "alice", &f, m_ids(want, sizeof(want), "a", 1, 10, 0), true);
	acc.want = &m3;
	M_PAGE(st, "alic", &f, m_ids(want, sizeof(want), "a", 1, M_N, 0), true);
	acc.want = &m2;
	bool c = false;
	assert_string_equal(m_page(st, "other.org", "alice", &f, &acc, &c),
			    m_ids(want, sizeof(want), "a", 1, 20, 0));
	assert_true(c);
	f.with = M_NURSE;
	acc.want = &m1;
	M_PAGE(st, "alice", &f, "a03,a06,a09", true);
	/* an anchor is looked up in the account's own archive */
	f = (struct store_mam_filter){ .max = 100, .after_id = "a15" };
	memset(&acc, 0, sizeof(acc));
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, m_cb, &acc, &c), XS_NOTFOUND);
	acc.want = &m3;
	M_PAGE(st, "alic", &f, m_ids(want, sizeof(want), "a", 16, M_N, 0), true);
	store_close(st);
}

/* Deleting an account drops its archive, only its, in the same
 * transaction; a re-created account starts empty and may reuse the
 * stanza ids, while the row ids keep growing. */
static void test_mam_user_delete(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct m_msgs ma, mb;
	struct m_acc acc = { .want = NULL };
	char want[1024];

	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	m_build(&ma, DOMAIN, "alice", "a");
	m_build(&mb, DOMAIN, "bob", "b");
	assert_int_equal(store_mam_append(st, mb.it, 10, NULL), XS_OK);
	assert_int_equal(store_mam_append(st, ma.it, M_N, NULL), XS_OK);
	sqlite3 *raw = raw_open(d->db);
	int max_id = raw_int(raw, "SELECT max(id) FROM archive");
	sqlite3_close(raw);

	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_OK);
	assert_int_equal(m_rows(d->db, "localpart = 'alice'"), 0);
	struct store_mam_filter f = { .max = 100 };
	M_PAGE(st, "alice", &f, "", true);
	acc.want = &mb;
	M_PAGE(st, "bob", &f, m_ids(want, sizeof(want), "b", 1, 10, 0), true);

	/* Archiving for the deleted name stores nothing ... */
	assert_int_equal(store_mam_append(st, ma.it, 5, NULL), XS_OK);
	assert_int_equal(m_rows(d->db, "localpart = 'alice'"), 0);
	/* ... until it is an account again, which starts empty. */
	o_user(st, DOMAIN, "alice");
	acc.want = &ma;
	M_PAGE(st, "alice", &f, "", true);
	assert_int_equal(store_mam_append(st, ma.it, 5, NULL), XS_OK);
	M_PAGE(st, "alice", &f, "a01,a02,a03,a04,a05", true);
	char where[64];
	snprintf(where, sizeof(where), "localpart = 'alice' AND id > %d", max_id);
	assert_int_equal(m_rows(d->db, where), 5);
	store_close(st);
}

/* Retention: the oldest messages of every account go first, at most a
 * batch per call, until nothing older than the cutoff is left. */
static void test_mam_expire(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	enum { PER = 1200 };
	struct store_mam_item *it = calloc(2 * PER, sizeof(*it));
	char (*ids)[16] = calloc(2 * PER, sizeof(*ids));
	unsigned deleted = 12345;

	assert_non_null(it);
	assert_non_null(ids);
	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	/* alice's message i at M_T0 + 2i, bob's at M_T0 + 2i + 1 (us) */
	for (unsigned u = 0; u < 2; u++) {
		for (unsigned i = 0; i < PER; i++) {
			struct store_mam_item *m = &it[u * PER + i];
			m_fill(m, DOMAIN, u ? "bob" : "alice");
			snprintf(ids[u * PER + i], sizeof(ids[0]), "%c%04u", u ? 'b' : 'a', i);
			m->with = M_ROMEO;
			m->stamp_us = M_T0 + 2 * (int64_t)i + u;
			m->stanza_id = ids[u * PER + i];
			m->xml = "<message/>";
			m->len = 10;
		}
	}
	assert_int_equal(store_mam_append(st, it, 2 * PER, NULL), XS_OK);

	/* nothing that old: nothing goes */
	assert_int_equal(store_mam_expire(st, M_T0, &deleted), XS_OK);
	assert_int_equal(deleted, 0);
	assert_int_equal(m_rows(d->db, "1"), 2 * PER);

	/* everything before M_T0 + 2200 us: alice's and bob's 0..1099, a
	 * batch at a time, the oldest first */
	int64_t cutoff = M_T0 + 2200;
	struct m_acc acc = { .want = NULL };
	struct store_mam_filter f = { .max = 1 };
	char oldest[16];
	unsigned total = 0, calls = 0;
	do {
		assert_int_equal(store_mam_expire(st, cutoff, &deleted), XS_OK);
		assert_true(deleted <= STORE_MAM_EXPIRE_BATCH);
		total += deleted;
		calls++;
		if (calls == 1) {
			assert_int_equal(deleted, STORE_MAM_EXPIRE_BATCH);
			snprintf(oldest, sizeof(oldest), "a%04u", STORE_MAM_EXPIRE_BATCH / 2);
			M_PAGE(st, "alice", &f, oldest, false);
			oldest[0] = 'b';
			M_PAGE(st, "bob", &f, oldest, false);
		}
	} while (deleted == STORE_MAM_EXPIRE_BATCH);
	assert_int_equal(total, 2 * 1100);
	assert_int_equal(calls, 2 * 1100 / STORE_MAM_EXPIRE_BATCH + 1);
	assert_int_equal(store_mam_expire(st, cutoff, &deleted), XS_OK);
	assert_int_equal(deleted, 0);
	assert_int_equal(m_rows(d->db, "1"), 2 * (PER - 1100));
	M_PAGE(st, "alice", &f, "a1100", false);
	M_PAGE(st, "bob", &f, "b1100", false);
	f.last_page = true;
	M_PAGE(st, "bob", &f, "b1199", false);
	free(it);
	free(ids);
	store_close(st);
}

/* A failed insert (a trigger refuses the second message) is XS_IO and
 * stores none of the batch, the handle usable; a stored row the wrappers
 * would refuse (a hand edit) is XS_IO for a query. */
static void test_mam_rollback(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct m_msgs m;
	struct m_acc acc = { .want = NULL };

	o_user(st, DOMAIN, "alice");
	m_build(&m, DOMAIN, "alice", "a");
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "CREATE TRIGGER no_a02 BEFORE INSERT ON archive"
		      " WHEN NEW.stanza_id = 'a02' BEGIN SELECT RAISE(ABORT, 'refused'); END");
	sqlite3_close(raw);
	assert_int_equal(store_mam_append(st, m.it, 3, NULL), XS_IO);
	assert_int_equal(m_rows(d->db, "1"), 0);
	assert_int_equal(store_mam_append(st, m.it, 1, NULL), XS_OK);
	struct store_mam_filter f = { .max = 10 };
	M_PAGE(st, "alice", &f, "a01", true);

	raw = raw_open(d->db);
	raw_exec(raw, "UPDATE archive SET with_jid = '' WHERE stanza_id = 'a01'");
	sqlite3_close(raw);
	bool c = false;
	memset(&acc, 0, sizeof(acc));
	assert_int_equal(store_mam_query(st, DOMAIN, "alice", &f, m_cb, &acc, &c), XS_IO);
	assert_int_equal(acc.n, 0);
	/* the read transaction ended: a write still works */
	assert_int_equal(store_mam_append(st, &m.it[2], 1, NULL), XS_OK);
	store_close(st);
}

/* Migration 6 exactly as it shipped: with migrations 1 to 5, builds a
 * version 6 file. */
static const char v6_blocklist_sql[] =
	"CREATE TABLE blocklist ("
	" domain TEXT NOT NULL,"
	" localpart TEXT NOT NULL,"
	" jid TEXT NOT NULL,"
	" PRIMARY KEY (domain, localpart, jid)"
	") WITHOUT ROWID;";

/* Version 7 adds the archive: everything else comes through, the new
 * table is empty, has its indexes and works, its unique key holds. */
static void test_migrate_from_v6(void **state)
{
	struct tdir *d = *state;
	char path[320], err[256] = "";
	struct scram_cred c, out;
	struct r_acc racc = { .n = 0 };
	struct o_acc oacc = { .n = 0 };
	struct b_acc bacc;
	struct m_msgs m;
	struct m_acc acc = { .want = &m };

	snprintf(path, sizeof(path), "%s/v6.db", d->root);
	make_cred(&c, 11, SCRAM_SHA256);
	sqlite3 *raw = raw_open(path);
	raw_exec(raw, v1_users_sql);
	raw_exec(raw, v2_roster_sql);
	raw_exec(raw, v3_offline_sql);
	raw_exec(raw, v4_data_sql);
	raw_exec(raw, v5_roster_sql);
	raw_exec(raw, v6_blocklist_sql);
	raw_insert_sha256_user(raw, "alice", &c);
	raw_exec(raw, "INSERT INTO roster (domain, localpart, contact, name, subscription, ask,"
		      " groups) VALUES ('" DOMAIN "', 'alice', 'romeo@montague.lit', 'Romeo', 3,"
		      " 1, 'a' || char(31) || 'b')");
	raw_exec(raw, "INSERT INTO roster_version (domain, localpart, ver) VALUES ('" DOMAIN "',"
		      " 'alice', 17)");
	raw_exec(raw, "INSERT INTO offline (id, domain, localpart, xml, stamp) VALUES (45, '"
		      DOMAIN "', 'alice', CAST('" V3_MSG "' AS BLOB), 0)");
	raw_exec(raw, "INSERT INTO account_data (domain, localpart, kind, key, xml) VALUES ('"
		      DOMAIN "', 'alice', 'vcard', '', CAST('<vCard/>' AS BLOB))");
	raw_exec(raw, "INSERT INTO blocklist (domain, localpart, jid) VALUES ('" DOMAIN "',"
		      " 'alice', 'evil.lit')");
	raw_exec(raw, "PRAGMA user_version = 6");
	sqlite3_close(raw);

	struct store *st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open(%s): %s", path, err);
	raw = raw_open(path);
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 9);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM archive"), 0);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				      " AND tbl_name = 'archive' AND name IN ('archive_with',"
				      " 'archive_account', 'archive_stanza_id', 'archive_stamp')"),
			 4);
	sqlite3_close(raw);
	/* The account, its roster, queue, document and blocklist came
	 * through. */
	assert_int_equal(store_user_get_cred(st, DOMAIN, "alice", SCRAM_SHA256, &out), XS_OK);
	assert_cred_equal(&out, &c);
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 17);
	assert_int_equal(racc.n, 1);
	struct store_roster_item romeo = R_ROMEO;
	assert_item_equal(&racc.it[0], &romeo);
	assert_int_equal(o_list(st, DOMAIN, "alice", &oacc), 1);
	assert_int_equal(oacc.id[0], 45);
	d_get_eq(st, DOMAIN, "alice", "vcard", "", "<vCard/>", strlen("<vCard/>"));
	assert_string_equal(b_list(st, DOMAIN, "alice", &bacc), "evil.lit");
	/* ... with an empty archive that works, its ids unique per account. */
	struct store_mam_filter f = { .max = 10, .last_page = true };
	M_PAGE(st, "alice", &f, "", true);
	m_build(&m, DOMAIN, "alice", "a");
	assert_int_equal(store_mam_append(st, m.it, 3, NULL), XS_OK);
	M_PAGE(st, "alice", &f, "a01,a02,a03", true);
	raw = raw_open(path);
	assert_int_not_equal(sqlite3_exec(raw, "INSERT INTO archive (domain, localpart, with_jid,"
					       " stamp, stanza_id, xml) VALUES ('" DOMAIN "',"
					       " 'alice', 'x@y', 1, 'a01', x'00')",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	sqlite3_close(raw);
	store_close(st);

	/* Opening again finds nothing to do. */
	st = store_sqlite_open(path, STORE_OPEN_EXISTING, err, sizeof(err));
	assert_non_null(st);
	M_PAGE(st, "alice", &f, "a01,a02,a03", true);
	assert_int_equal(r_get(st, DOMAIN, "alice", &racc), 17);
	r_acc_free(&racc);
	o_acc_free(&oacc);
	store_close(st);
}

/* --- storage thread --- */

#define T_PRODUCERS 4
#define T_PER_PRODUCER 2000
#define T_USERS 50     /* user00 .. user49 exist */
#define T_NAMES 60     /* user50 .. user59 do not */

struct treq {
	struct store_req req;
	unsigned u;
};

struct tctx {
	struct store_thread *th;
	struct queue results;       /* test-owned inbox, filled by done */
	struct treq *reqs;
	pthread_t main_thread;
	pthread_t producers[T_PRODUCERS];
	atomic_int done_on_wrong_thread;
	atomic_int done_calls;
	atomic_int submit_failures;
	/* Stop-drain test: the completion of `gated` waits for `gate`, which
	 * holds the worker so the other requests are still queued at stop. */
	struct store_req *gated;
	atomic_int gate;
	atomic_int calls_at_release;
};

struct prod_arg {
	struct tctx *ctx;
	unsigned id;
};

static _Thread_local bool tl_is_producer;

/* Users whose index is a multiple of 5 have only a SHA-256 credential. */
static bool t_has_sha1(unsigned u)
{
	return u % 5 != 0;
}

static void t_done(struct store_req *req, void *arg)
{
	struct tctx *ctx = arg;
	/* cmocka's asserts are not thread-safe: record, check on main. */
	if (tl_is_producer || pthread_equal(pthread_self(), ctx->main_thread))
		atomic_fetch_add(&ctx->done_on_wrong_thread, 1);
	if (req == ctx->gated) {
		/* Deliberately breaks "done must not block", to build a backlog. */
		while (!atomic_load(&ctx->gate))
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	atomic_fetch_add(&ctx->done_calls, 1);
	queue_push(&ctx->results, &req->qnode);
}

static void t_fill(struct tctx *ctx, struct treq *r, unsigned u, unsigned i)
{
	memset(r, 0, sizeof(*r));
	r->u = u;
	r->req.op = i % 2 ? STORE_OP_USER_EXISTS : STORE_OP_GET_CRED;
	r->req.hash = (i / 2) % 2 ? SCRAM_SHA256 : SCRAM_SHA1;
	snprintf(r->req.domain, sizeof(r->req.domain), "%s", DOMAIN);
	snprintf(r->req.local, sizeof(r->req.local), "user%02u", u);
	r->req.status = XS_AGAIN; /* must be overwritten */
	r->req.done = t_done;
	r->req.done_arg = ctx;
}

static void *t_producer(void *arg)
{
	struct prod_arg *pa = arg;
	struct tctx *ctx = pa->ctx;

	tl_is_producer = true;
	for (unsigned i = 0; i < T_PER_PRODUCER; i++) {
		struct treq *r = &ctx->reqs[pa->id * T_PER_PRODUCER + i];
		t_fill(ctx, r, (pa->id * 13 + i * 7) % T_NAMES, i);
		if (store_thread_submit(ctx->th, &r->req) != XS_OK)
			atomic_fetch_add(&ctx->submit_failures, 1);
	}
	return NULL;
}

/* Checks one completed request against what the store was seeded with. */
static void t_check(const struct treq *r)
{
	bool exists = r->u < T_USERS;

	if (r->req.op == STORE_OP_USER_EXISTS) {
		assert_int_equal(r->req.status, XS_OK);
		assert_int_equal(r->req.exists, exists);
		return;
	}
	assert_int_equal(r->req.op, STORE_OP_GET_CRED);
	if (!exists || (r->req.hash == SCRAM_SHA1 && !t_has_sha1(r->u))) {
		assert_int_equal(r->req.status, XS_NOTFOUND);
		return;
	}
	assert_int_equal(r->req.status, XS_OK);
	struct scram_cred want;
	make_cred(&want, r->u, r->req.hash);
	assert_cred_equal(&r->req.cred, &want);
}

/* Pops n results from the test's inbox, checking each, waiting on its
 * eventfd like a real consumer thread. */
static void t_collect(struct tctx *ctx, int n)
{
	int got = 0;
	struct pollfd pfd = { .fd = ctx->results.efd, .events = POLLIN };

	while (got < n) {
		struct queue_node *qn = queue_pop(&ctx->results);
		if (!qn) {
			int rc = poll(&pfd, 1, 30000);
			if (rc == 0)
				fail_msg("timed out with %d of %d results", got, n);
			queue_ack_wakeup(&ctx->results);
			continue;
		}
		struct store_req *req = container_of(qn, struct store_req, qnode);
		test_hb_acquire(req);
		t_check(container_of(req, struct treq, req));
		got++;
	}
}

static void t_seed(const char *path)
{
	struct store *st = open_ok(path);
	char name[32];

	for (unsigned u = 0; u < T_USERS; u++) {
		struct scram_cred c1, c256;
		make_cred(&c1, u, SCRAM_SHA1);
		make_cred(&c256, u, SCRAM_SHA256);
		snprintf(name, sizeof(name), "user%02u", u);
		assert_int_equal(store_user_create(st, DOMAIN, name, t_has_sha1(u) ? &c1 : NULL,
						   &c256),
				 XS_OK);
	}
	store_close(st);
}

static void test_thread_many_producers(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct prod_arg pa[T_PRODUCERS];
	char err[256] = "";
	const int total = T_PRODUCERS * T_PER_PRODUCER;

	t_seed(d->db);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.reqs = calloc((size_t)total, sizeof(*ctx.reqs));
	assert_non_null(ctx.reqs);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	for (unsigned p = 0; p < T_PRODUCERS; p++) {
		pa[p].ctx = &ctx;
		pa[p].id = p;
		assert_int_equal(pthread_create(&ctx.producers[p], NULL, t_producer, &pa[p]), 0);
	}
	/* Consume while the producers are still submitting. */
	t_collect(&ctx, total);
	for (unsigned p = 0; p < T_PRODUCERS; p++)
		pthread_join(ctx.producers[p], NULL);

	assert_int_equal(atomic_load(&ctx.submit_failures), 0);
	assert_int_equal(atomic_load(&ctx.done_calls), total);
	assert_int_equal(atomic_load(&ctx.done_on_wrong_thread), 0);
	assert_true(queue_is_empty(&ctx.results));

	/* A request without a completion is refused, not queued. */
	struct treq bad;
	t_fill(&ctx, &bad, 1, 0);
	bad.req.done = NULL;
	assert_int_equal(store_thread_submit(ctx.th, &bad.req), XS_INVAL);

	/* Oversized names (not NUL-terminated) are refused by the worker. */
	t_fill(&ctx, &bad, 1, 0);
	memset(bad.req.local, 'a', sizeof(bad.req.local));
	assert_int_equal(store_thread_submit(ctx.th, &bad.req), XS_OK);
	struct pollfd pfd = { .fd = ctx.results.efd, .events = POLLIN };
	struct queue_node *qn;
	while (!(qn = queue_pop(&ctx.results))) {
		assert_int_equal(poll(&pfd, 1, 30000), 1);
		queue_ack_wakeup(&ctx.results);
	}
	assert_ptr_equal(qn, &bad.req.qnode);
	test_hb_acquire(&bad.req);
	assert_int_equal(bad.req.status, XS_INVAL);

	store_thread_stop(ctx.th);
	queue_deinit(&ctx.results);
	free(ctx.reqs);
}

static void *t_releaser(void *arg)
{
	struct tctx *ctx = arg;
	/* Long enough for the main thread to be inside store_thread_stop. */
	nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000000 }, NULL);
	atomic_store(&ctx->calls_at_release, atomic_load(&ctx->done_calls));
	atomic_store(&ctx->gate, 1);
	return NULL;
}

/* Stop with a backlog: the worker is held inside the first completion while
 * the rest are queued and stop is called; every accepted request must still
 * be executed and completed by the time stop returns. */
static void test_thread_stop_drains(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	char err[256] = "";
	const int n = 3000;

	t_seed(d->db);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.reqs = calloc((size_t)n, sizeof(*ctx.reqs));
	assert_non_null(ctx.reqs);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	ctx.gated = &ctx.reqs[0].req;
	atomic_store(&ctx.gate, 0);
	atomic_store(&ctx.calls_at_release, -1);
	for (int i = 0; i < n; i++) {
		t_fill(&ctx, &ctx.reqs[i], (unsigned)(i * 7) % T_NAMES, (unsigned)i);
		assert_int_equal(store_thread_submit(ctx.th, &ctx.reqs[i].req), XS_OK);
	}
	pthread_t rel;
	assert_int_equal(pthread_create(&rel, NULL, t_releaser, &ctx), 0);
	store_thread_stop(ctx.th);
	pthread_join(rel, NULL);

	/* Nothing had completed when the gate opened: the whole backlog was
	 * still pending when stop began. */
	assert_int_equal(atomic_load(&ctx.calls_at_release), 0);

	assert_int_equal(atomic_load(&ctx.done_calls), n);
	assert_int_equal(atomic_load(&ctx.done_on_wrong_thread), 0);
	t_collect(&ctx, n);
	assert_true(queue_is_empty(&ctx.results));
	queue_deinit(&ctx.results);
	free(ctx.reqs);
}

/* Waits for the next completed request in the test's inbox. */
static struct store_req *t_wait_one(struct tctx *ctx)
{
	struct pollfd pfd = { .fd = ctx->results.efd, .events = POLLIN };
	struct queue_node *qn;

	while (!(qn = queue_pop(&ctx->results))) {
		assert_int_equal(poll(&pfd, 1, 30000), 1);
		queue_ack_wakeup(&ctx->results);
	}
	struct store_req *req = container_of(qn, struct store_req, qnode);
	test_hb_acquire(req);
	return req;
}

/* Submits req and waits for it to come back. */
static void t_roundtrip(struct tctx *ctx, struct store_req *req, enum store_op op,
			const char *local)
{
	req->op = op;
	snprintf(req->domain, sizeof(req->domain), "%s", DOMAIN);
	snprintf(req->local, sizeof(req->local), "%s", local);
	req->status = XS_AGAIN; /* must be overwritten */
	req->done = t_done;
	req->done_arg = ctx;
	assert_int_equal(store_thread_submit(ctx->th, req), XS_OK);
	assert_ptr_equal(t_wait_one(ctx), req);
}

/* The roster requests through the worker: put, get (the items copied into
 * a malloc'd array), remove, and the limit. */
static void test_thread_roster(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req;
	char err[256] = "";

	store_close(open_ok(d->db));
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	struct store_roster_item romeo = R_ROMEO, juliet = R_JULIET;
	memset(&req, 0, sizeof(req));
	req.item = romeo;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_PUT, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.ver, 1);
	req.item = juliet;
	req.max_items = 2;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_PUT, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.ver, 2);
	req.item = r_item("tybalt@capulet.lit", NULL, "", ROSTER_SUB_NONE, 0);
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_PUT, "alice");
	assert_int_equal(req.status, XS_LIMIT);

	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.ver, 2);
	assert_int_equal(req.n_items, 2);
	assert_non_null(req.items);
	assert_item_equal(&req.items[0], &juliet);
	assert_item_equal(&req.items[1], &romeo);
	store_roster_items_free(req.items, req.n_items);

	memset(&req, 0, sizeof(req));
	req.item.contact = (char *)"romeo@montague.lit";
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_REMOVE, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.ver, 3);
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_REMOVE, "alice");
	assert_int_equal(req.status, XS_NOTFOUND);

	/* Another account: empty, no array. */
	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_GET, "bob");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.ver, 0);
	assert_int_equal(req.n_items, 0);
	store_roster_items_free(req.items, req.n_items);

	assert_int_equal(atomic_load(&ctx.done_on_wrong_thread), 0);
	store_thread_stop(ctx.th);
	queue_deinit(&ctx.results);
}

/* STORE_OP_ROSTER_UPDATE through the worker: apply runs there (not on the
 * requester's thread), and the request reports the state before it, what
 * was done and a malloc'd copy of the item that the requester frees with
 * store_roster_item_clear (ASan builds check that nothing leaks). */
static enum roster_change t_sub_to(void *arg, struct store_roster_item *it, bool existed)
{
	pthread_t *thread = arg;

	(void)existed;
	*thread = pthread_self();
	it->subscription = ROSTER_SUB_TO;
	return ROSTER_WRITE;
}

static enum roster_change t_delete(void *arg, struct store_roster_item *it, bool existed)
{
	(void)arg;
	it->name = (char *)"ignored"; /* a delete reports the item as it was */
	return existed ? ROSTER_DELETE : ROSTER_WRITE;
}

static void test_thread_roster_update(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req;
	char err[256] = "";
	pthread_t apply_thread = pthread_self();

	struct store *st = open_ok(d->db);
	struct store_roster_item romeo = R_ROMEO;
	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	store_close(st);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	/* A new contact. */
	memset(&req, 0, sizeof(req));
	req.item.contact = (char *)"juliet@capulet.lit";
	req.roster_apply = t_sub_to;
	req.roster_apply_arg = &apply_thread;
	req.change = ROSTER_DELETE;  /* must be overwritten */
	req.existed = true;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_UPDATE, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_false(pthread_equal(apply_thread, pthread_self()));
	assert_int_equal(req.ver, 2);
	assert_false(req.existed);
	assert_int_equal(req.prev_subscription, ROSTER_SUB_NONE);
	assert_int_equal(req.prev_ask, 0);
	assert_int_equal(req.change, ROSTER_WRITE);
	struct store_roster_item want = r_item("juliet@capulet.lit", NULL, "", ROSTER_SUB_TO, 0);
	assert_item_equal(&req.updated, &want);
	assert_ptr_not_equal(req.updated.contact, req.item.contact);
	store_roster_item_clear(&req.updated);
	assert_null(req.updated.contact);
	assert_null(req.updated.groups);
	store_roster_item_clear(&req.updated); /* twice is harmless */

	/* An existing one: its previous state comes back, name and groups
	 * are kept. */
	apply_thread = pthread_self();
	req.item.contact = romeo.contact;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_UPDATE, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_false(pthread_equal(apply_thread, pthread_self()));
	assert_int_equal(req.ver, 3);
	assert_true(req.existed);
	assert_int_equal(req.prev_subscription, ROSTER_SUB_BOTH);
	assert_int_equal(req.prev_ask, ROSTER_ASK_OUT);
	assert_int_equal(req.change, ROSTER_WRITE);
	want = r_item(romeo.contact, "Romeo", "a\x1f" "b", ROSTER_SUB_TO, ROSTER_ASK_OUT);
	assert_item_equal(&req.updated, &want);
	store_roster_item_clear(&req.updated);

	/* A delete reports the item as it was before. */
	req.roster_apply = t_delete;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_UPDATE, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.ver, 4);
	assert_true(req.existed);
	assert_int_equal(req.prev_subscription, ROSTER_SUB_TO);
	assert_int_equal(req.change, ROSTER_DELETE);
	assert_item_equal(&req.updated, &want);
	store_roster_item_clear(&req.updated);

	/* A failure (the limit) reports nothing, nothing to free. */
	req.roster_apply = t_sub_to;
	req.item.contact = (char *)"tybalt@capulet.lit";
	req.max_items = 1;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_UPDATE, "alice");
	assert_int_equal(req.status, XS_LIMIT);
	assert_int_equal(req.change, ROSTER_UNCHANGED);
	assert_false(req.existed);
	assert_null(req.updated.contact);
	assert_null(req.updated.name);
	assert_null(req.updated.groups);
	/* No function: refused. */
	req.roster_apply = NULL;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_UPDATE, "alice");
	assert_int_equal(req.status, XS_INVAL);
	assert_null(req.updated.contact);

	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.ver, 4);
	assert_int_equal(req.n_items, 1);
	want = r_item("juliet@capulet.lit", NULL, "", ROSTER_SUB_TO, 0);
	assert_item_equal(&req.items[0], &want);
	store_roster_items_free(req.items, req.n_items);

	assert_int_equal(atomic_load(&ctx.done_on_wrong_thread), 0);
	store_thread_stop(ctx.th);
	queue_deinit(&ctx.results);
}

/* The offline requests through the worker: push (with the limit and for a
 * missing account), list (copied into a malloc'd array, each message
 * NUL-terminated), delete up to an id. */
static void test_thread_offline(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req;
	char err[256] = "";

	struct store *st = open_ok(d->db);
	o_user(st, DOMAIN, "alice");
	store_close(st);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	memset(&req, 0, sizeof(req));
	req.max_items = 2;
	req.xml = O_M1;
	req.xml_len = strlen(O_M1);
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "alice");
	assert_int_equal(req.status, XS_OK);
	req.xml = O_M3;
	req.xml_len = O_M3_LEN;
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "alice");
	assert_int_equal(req.status, XS_OK);
	req.xml = O_M2;
	req.xml_len = strlen(O_M2);
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "alice");
	assert_int_equal(req.status, XS_LIMIT);
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "nobody");
	assert_int_equal(req.status, XS_NOTFOUND);

	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_LIST, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_msgs, 2);
	assert_non_null(req.msgs);
	assert_int_equal(req.msgs[0].len, strlen(O_M1));
	assert_string_equal(req.msgs[0].xml, O_M1);
	assert_int_equal(req.msgs[1].len, O_M3_LEN);
	assert_memory_equal(req.msgs[1].xml, O_M3, O_M3_LEN);
	assert_int_equal(req.msgs[1].xml[O_M3_LEN], '\0');
	assert_true(req.msgs[0].id < req.msgs[1].id);
	uint64_t first = req.msgs[0].id, second = req.msgs[1].id;
	store_offline_msgs_free(req.msgs, req.n_msgs);

	memset(&req, 0, sizeof(req));
	req.upto_id = first;
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_DELETE, "alice");
	assert_int_equal(req.status, XS_OK);
	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_LIST, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_msgs, 1);
	assert_int_equal(req.msgs[0].id, second);
	assert_memory_equal(req.msgs[0].xml, O_M3, O_M3_LEN);
	store_offline_msgs_free(req.msgs, req.n_msgs);

	/* An account with nothing queued (or none at all): no array. */
	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_LIST, "nobody");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_msgs, 0);
	assert_null(req.msgs);

	assert_int_equal(atomic_load(&ctx.done_on_wrong_thread), 0);
	store_thread_stop(ctx.th);
	queue_deinit(&ctx.results);
}

/* The document requests through the worker: put (with the limit, a
 * prefix of a buffer, for a missing account), get (a malloc'd,
 * NUL-terminated copy the requester frees), delete by putting nothing. */
static void t_data(struct store_req *req, const char *kind, const char *key, const char *xml,
		   size_t len, unsigned max)
{
	memset(req, 0, sizeof(*req));
	snprintf(req->data_kind, sizeof(req->data_kind), "%s", kind);
	snprintf(req->data_key, sizeof(req->data_key), "%s", key);
	req->xml = xml;
	req->xml_len = len;
	req->max_items = max;
}

static void test_thread_data(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req;
	char err[256] = "";

	struct store *st = open_ok(d->db);
	o_user(st, DOMAIN, "alice");
	store_close(st);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	t_data(&req, D_PRIV, D_K1, D_DOC2, strlen(D_DOC2), 1);
	t_roundtrip(&ctx, &req, STORE_OP_DATA_PUT, "alice");
	assert_int_equal(req.status, XS_OK);
	t_data(&req, D_PRIV, D_K2, D_DOC1, strlen(D_DOC1), 1);
	t_roundtrip(&ctx, &req, STORE_OP_DATA_PUT, "alice");
	assert_int_equal(req.status, XS_LIMIT);
	t_data(&req, "vcard", "", D_DOC3, D_DOC3_LEN, 1);
	t_roundtrip(&ctx, &req, STORE_OP_DATA_PUT, "alice");
	assert_int_equal(req.status, XS_OK);
	t_roundtrip(&ctx, &req, STORE_OP_DATA_PUT, "nobody");
	assert_int_equal(req.status, XS_NOTFOUND);

	t_data(&req, D_PRIV, D_K1, NULL, 0, 0);
	t_roundtrip(&ctx, &req, STORE_OP_DATA_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_non_null(req.data);
	assert_int_equal(req.data_len, strlen(D_DOC2));
	assert_string_equal(req.data, D_DOC2);
	free(req.data);
	t_data(&req, "vcard", "", NULL, 0, 0);
	t_roundtrip(&ctx, &req, STORE_OP_DATA_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.data_len, D_DOC3_LEN);
	assert_memory_equal(req.data, D_DOC3, D_DOC3_LEN);
	assert_int_equal(req.data[D_DOC3_LEN], '\0');
	free(req.data);

	/* Delete, then nothing to get: no buffer. */
	t_data(&req, "vcard", "", NULL, 0, 0);
	t_roundtrip(&ctx, &req, STORE_OP_DATA_PUT, "alice");
	assert_int_equal(req.status, XS_OK);
	t_data(&req, "vcard", "", NULL, 0, 0);
	req.data = (char *)"stale";
	req.data_len = 5;
	t_roundtrip(&ctx, &req, STORE_OP_DATA_GET, "alice");
	assert_int_equal(req.status, XS_NOTFOUND);
	assert_null(req.data);
	assert_int_equal(req.data_len, 0);
	t_roundtrip(&ctx, &req, STORE_OP_DATA_GET, "nobody");
	assert_int_equal(req.status, XS_NOTFOUND);
	assert_null(req.data);

	assert_int_equal(atomic_load(&ctx.done_on_wrong_thread), 0);
	store_thread_stop(ctx.th);
	queue_deinit(&ctx.results);
}

/* The blocking requests through the worker: change (with the limit),
 * list (a malloc'd array of malloc'd strings, freed with
 * store_strings_free), the roster read with the list, and the sender
 * check of an offline push and a roster update: a blocked sender is
 * XS_DENIED, with nothing written and no apply run. */
static void t_block(struct store_req *req, const char *const *jids, size_t n, bool add,
		    unsigned max)
{
	memset(req, 0, sizeof(*req));
	req->block_jids = jids;
	req->n_block_jids = n;
	req->block_add = add;
	req->max_items = max;
}

static void test_thread_block(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req;
	char err[256] = "";
	pthread_t apply_thread;

	struct store *st = open_ok(d->db);
	o_user(st, DOMAIN, "alice");
	struct store_roster_item romeo = R_ROMEO;
	r_put_ok(st, DOMAIN, "alice", &romeo, 0, 1);
	store_close(st);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	const char *jids[] = { "tybalt@capulet.lit", "evil.lit", "evil.lit" };
	t_block(&req, jids, 3, true, 2);
	req.n_changed = 99; /* must be overwritten */
	t_roundtrip(&ctx, &req, STORE_OP_BLOCK_CHANGE, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_changed, 2);
	assert_ptr_equal(req.block_jids, jids); /* the requester's, untouched */
	assert_string_equal(jids[2], "evil.lit");
	const char *more[] = { "paris@verona.lit" };
	t_block(&req, more, 1, true, 2);
	t_roundtrip(&ctx, &req, STORE_OP_BLOCK_CHANGE, "alice");
	assert_int_equal(req.status, XS_LIMIT);
	assert_int_equal(req.n_changed, 0);

	t_block(&req, NULL, 0, false, 0);
	t_roundtrip(&ctx, &req, STORE_OP_BLOCK_LIST, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_blocked, 2);
	assert_non_null(req.blocked);
	assert_string_equal(req.blocked[0], "evil.lit");
	assert_string_equal(req.blocked[1], "tybalt@capulet.lit");
	store_strings_free(req.blocked, req.n_blocked);
	/* Another account: none, no array. */
	t_block(&req, NULL, 0, false, 0);
	t_roundtrip(&ctx, &req, STORE_OP_BLOCK_LIST, "bob");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_blocked, 0);
	assert_null(req.blocked);

	/* The roster with its blocklist, and without. */
	memset(&req, 0, sizeof(req));
	req.with_blocklist = true;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.ver, 1);
	assert_int_equal(req.n_items, 1);
	assert_item_equal(&req.items[0], &romeo);
	assert_int_equal(req.n_blocked, 2);
	assert_string_equal(req.blocked[0], "evil.lit");
	assert_string_equal(req.blocked[1], "tybalt@capulet.lit");
	store_roster_items_free(req.items, req.n_items);
	store_strings_free(req.blocked, req.n_blocked);
	req.with_blocklist = false;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_items, 1);
	assert_int_equal(req.n_blocked, 0);
	assert_null(req.blocked);
	store_roster_items_free(req.items, req.n_items);

	/* Offline pushes: from a blocked full JID, or from anyone at a
	 * blocked domain, refused; from others (or no sender) kept. */
	memset(&req, 0, sizeof(req));
	req.xml = O_M1;
	req.xml_len = strlen(O_M1);
	snprintf(req.sender, sizeof(req.sender), "tybalt@capulet.lit/sword");
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "alice");
	assert_int_equal(req.status, XS_DENIED);
	snprintf(req.sender, sizeof(req.sender), "imp@evil.lit");
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "alice");
	assert_int_equal(req.status, XS_DENIED);
	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_LIST, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_msgs, 0); /* the queue is as it was: empty */
	memset(&req, 0, sizeof(req));
	req.xml = O_M1;
	req.xml_len = strlen(O_M1);
	snprintf(req.sender, sizeof(req.sender), "juliet@capulet.lit/balcony");
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "alice");
	assert_int_equal(req.status, XS_OK);
	req.sender[0] = '\0';
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "alice");
	assert_int_equal(req.status, XS_OK);
	/* A sender that does not end inside its buffer is refused. */
	memset(req.sender, 'a', sizeof(req.sender));
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "alice");
	assert_int_equal(req.status, XS_INVAL);
	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_LIST, "alice");
	assert_int_equal(req.n_msgs, 2);
	store_offline_msgs_free(req.msgs, req.n_msgs);

	/* A roster update for a blocked sender: apply never runs, nothing
	 * is written, nothing is reported. */
	apply_thread = pthread_self();
	memset(&req, 0, sizeof(req));
	req.item.contact = (char *)"tybalt@capulet.lit";
	req.roster_apply = t_sub_to;
	req.roster_apply_arg = &apply_thread;
	req.need_account = true;
	snprintf(req.sender, sizeof(req.sender), "tybalt@capulet.lit/sword");
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_UPDATE, "alice");
	assert_int_equal(req.status, XS_DENIED);
	assert_true(pthread_equal(apply_thread, pthread_self()));
	assert_int_equal(req.change, ROSTER_UNCHANGED);
	assert_int_equal(req.ver, 0);
	assert_null(req.updated.contact);
	/* Not blocked: it runs. */
	snprintf(req.sender, sizeof(req.sender), "juliet@capulet.lit");
	req.item.contact = (char *)"juliet@capulet.lit";
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_UPDATE, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_false(pthread_equal(apply_thread, pthread_self()));
	assert_int_equal(req.ver, 2);
	store_roster_item_clear(&req.updated);

	/* Unblocking everyone lets the blocked sender through again. */
	t_block(&req, NULL, 0, false, 0);
	t_roundtrip(&ctx, &req, STORE_OP_BLOCK_CHANGE, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_changed, 2);
	memset(&req, 0, sizeof(req));
	req.xml = O_M1;
	req.xml_len = strlen(O_M1);
	snprintf(req.sender, sizeof(req.sender), "tybalt@capulet.lit/sword");
	t_roundtrip(&ctx, &req, STORE_OP_OFFLINE_PUSH, "alice");
	assert_int_equal(req.status, XS_OK);

	memset(&req, 0, sizeof(req));
	req.with_blocklist = true;
	t_roundtrip(&ctx, &req, STORE_OP_ROSTER_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.ver, 2); /* only the update that ran */
	assert_int_equal(req.n_items, 2);
	assert_int_equal(req.n_blocked, 0);
	assert_null(req.blocked);
	store_roster_items_free(req.items, req.n_items);

	assert_int_equal(atomic_load(&ctx.done_on_wrong_thread), 0);
	store_thread_stop(ctx.th);
	queue_deinit(&ctx.results);
}

/* Accounts through the worker (XEP-0077): create and set-password derive
 * both credentials there from the password, which is wiped; a taken name
 * costs no derivation; a password SASLprep refuses is XS_PROTO and
 * nothing is written; delete takes the account away. */
static bool t_cred_matches(struct tctx *ctx, const char *local, enum scram_hash h,
			   const char *pw)
{
	struct store_req req;
	memset(&req, 0, sizeof(req));
	req.hash = h;
	t_roundtrip(ctx, &req, STORE_OP_GET_CRED, local);
	if (req.status != XS_OK)
		return false;
	assert_int_equal(req.cred.iterations, 4096);
	assert_int_equal(req.cred.hash, h);
	return scram_password_matches(&req.cred, pw);
}

static void t_account(struct tctx *ctx, struct store_req *req, enum store_op op,
		      const char *local, char *pw)
{
	memset(req, 0, sizeof(*req));
	req->password = pw;
	req->iterations = 4096;
	t_roundtrip(ctx, req, op, local);
	if (pw)
		for (size_t i = 0; i < 8; i++)
			assert_int_equal(pw[i], 0); /* wiped by the worker */
}

static void test_thread_accounts(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req;
	char err[256] = "";
	char pw[16];

	store_close(open_ok(d->db));
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	snprintf(pw, sizeof(pw), "pencil-1");
	t_account(&ctx, &req, STORE_OP_USER_CREATE, "newbie", pw);
	assert_int_equal(req.status, XS_OK);
	assert_false(req.exists);
	assert_true(req.cpu_ns > 0);
	print_message("two PBKDF2 derivations (4096 iterations, SHA-1 and SHA-256): %llu us of "
		      "CPU\n", (unsigned long long)(req.cpu_ns / 1000));
	assert_true(t_cred_matches(&ctx, "newbie", SCRAM_SHA1, "pencil-1"));
	assert_true(t_cred_matches(&ctx, "newbie", SCRAM_SHA256, "pencil-1"));
	/* taken: found before any derivation */
	snprintf(pw, sizeof(pw), "pencil-2");
	t_account(&ctx, &req, STORE_OP_USER_CREATE, "newbie", pw);
	assert_int_equal(req.status, XS_INVAL);
	assert_true(req.exists);
	assert_int_equal(req.cpu_ns, 0);
	assert_true(t_cred_matches(&ctx, "newbie", SCRAM_SHA256, "pencil-1"));
	/* SASLprep refuses a control character: nothing is created */
	snprintf(pw, sizeof(pw), "bad\x07pw!");
	t_account(&ctx, &req, STORE_OP_USER_CREATE, "other", pw);
	assert_int_equal(req.status, XS_PROTO);
	assert_false(req.exists);
	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_USER_EXISTS, "other");
	assert_int_equal(req.status, XS_OK);
	assert_false(req.exists);
	t_account(&ctx, &req, STORE_OP_USER_CREATE, "other", NULL);
	assert_int_equal(req.status, XS_INVAL);

	/* a new password replaces both credentials */
	snprintf(pw, sizeof(pw), "pencil-3");
	t_account(&ctx, &req, STORE_OP_USER_SET_PASSWORD, "newbie", pw);
	assert_int_equal(req.status, XS_OK);
	assert_true(req.cpu_ns > 0);
	assert_true(t_cred_matches(&ctx, "newbie", SCRAM_SHA1, "pencil-3"));
	assert_true(t_cred_matches(&ctx, "newbie", SCRAM_SHA256, "pencil-3"));
	assert_false(t_cred_matches(&ctx, "newbie", SCRAM_SHA1, "pencil-1"));
	assert_false(t_cred_matches(&ctx, "newbie", SCRAM_SHA256, "pencil-1"));
	snprintf(pw, sizeof(pw), "bad\x07pw!");
	t_account(&ctx, &req, STORE_OP_USER_SET_PASSWORD, "newbie", pw);
	assert_int_equal(req.status, XS_PROTO);
	assert_true(t_cred_matches(&ctx, "newbie", SCRAM_SHA256, "pencil-3"));
	snprintf(pw, sizeof(pw), "pencil-4");
	t_account(&ctx, &req, STORE_OP_USER_SET_PASSWORD, "nobody", pw);
	assert_int_equal(req.status, XS_NOTFOUND);

	/* delete, twice */
	t_account(&ctx, &req, STORE_OP_USER_DELETE, "newbie", NULL);
	assert_int_equal(req.status, XS_OK);
	assert_false(t_cred_matches(&ctx, "newbie", SCRAM_SHA256, "pencil-3"));
	t_account(&ctx, &req, STORE_OP_USER_DELETE, "newbie", NULL);
	assert_int_equal(req.status, XS_NOTFOUND);

	assert_int_equal(atomic_load(&ctx.done_on_wrong_thread), 0);
	store_thread_stop(ctx.th);
	queue_deinit(&ctx.results);
}

/* The archive through the worker.  A roster update whose apply waits for
 * a gate holds the worker (inside a request, so deterministically) while
 * the test queues appends, queries and an expiry behind it; once the gate
 * opens, the completions come back in the inbox's order and show how the
 * appends were batched: runs of appends share one transaction (up to
 * STORE_MAM_BATCH), a request of another op between them ends a batch and
 * sees every append queued before it, a refused batch is run again one by
 * one, a malformed append is refused alone. */
struct m_gate {
	atomic_int entered;
	atomic_int open;
};

/* Deliberately breaks "apply must be pure": it waits, to hold the worker. */
static enum roster_change m_gate_apply(void *arg, struct store_roster_item *it, bool existed)
{
	struct m_gate *g = arg;
	atomic_store(&g->entered, 1);
	while (!atomic_load(&g->open))
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	return ROSTER_UNCHANGED;
}

static void m_gate_close(struct tctx *ctx, struct store_req *req, struct m_gate *g)
{
	memset(req, 0, sizeof(*req));
	atomic_store(&g->entered, 0);
	atomic_store(&g->open, 0);
	req->op = STORE_OP_ROSTER_UPDATE;
	snprintf(req->domain, sizeof(req->domain), "%s", DOMAIN);
	snprintf(req->local, sizeof(req->local), "gatekeeper");
	req->item.contact = (char *)"gate@example.org";
	req->roster_apply = m_gate_apply;
	req->roster_apply_arg = g;
	req->done = t_done;
	req->done_arg = ctx;
	assert_int_equal(store_thread_submit(ctx->th, req), XS_OK);
	while (!atomic_load(&g->entered))
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

/* Queues an append of one message for local (with Romeo). */
static void m_submit_append(struct tctx *ctx, struct store_req *req, const char *local,
			    const char *id, int64_t stamp_us, const char *xml)
{
	memset(req, 0, sizeof(*req));
	req->op = STORE_OP_MAM_APPEND;
	m_fill(&req->mam_item, DOMAIN, local);
	req->mam_item.with = M_ROMEO;
	req->mam_item.stamp_us = stamp_us;
	req->mam_item.stanza_id = id;
	req->mam_item.xml = xml;
	req->mam_item.len = strlen(xml);
	req->status = XS_AGAIN; /* must be overwritten */
	req->mam_batch = 999;
	req->done = t_done;
	req->done_arg = ctx;
	assert_int_equal(store_thread_submit(ctx->th, req), XS_OK);
}

/* Queues a query of local's archive: the max newest (last) or oldest. */
static void m_submit_query(struct tctx *ctx, struct store_req *req, const char *local,
			   unsigned max, bool last)
{
	memset(req, 0, sizeof(*req));
	req->op = STORE_OP_MAM_QUERY;
	snprintf(req->domain, sizeof(req->domain), "%s", DOMAIN);
	snprintf(req->local, sizeof(req->local), "%s", local);
	req->mam_max = max;
	req->mam_last_page = last;
	req->status = XS_AGAIN;
	req->done = t_done;
	req->done_arg = ctx;
	assert_int_equal(store_thread_submit(ctx->th, req), XS_OK);
}

/* Pops the next completion, which must be req. */
static void m_next(struct tctx *ctx, const struct store_req *req)
{
	assert_ptr_equal(t_wait_one(ctx), req);
}

/* The ids of a query's results, joined, after checking each result. */
static const char *m_results(const struct store_req *req, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < req->n_mam_results; i++) {
		const struct store_mam_result *r = &req->mam_results[i];
		size_t used = strlen(buf);
		assert_string_equal(r->with, M_ROMEO);
		assert_int_equal(r->xml[r->len], '\0');
		assert_int_equal(r->len, strlen(r->xml));
		if (i > 0)
			assert_true(r->stamp_us > r[-1].stamp_us);
		snprintf(buf + used, size - used, "%s%s", used ? "," : "", r->stanza_id);
	}
	return buf;
}

#define M_BURST 300

static void test_thread_mam(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct m_gate gate;
	struct store_req gate_req, q1, q2, q3, q4, e1;
	struct store_req *a = calloc(20, sizeof(*a));
	struct store_req *burst = calloc(M_BURST, sizeof(*burst));
	char (*ids)[16] = calloc(20 + M_BURST, sizeof(*ids));
	char err[256] = "", buf[8192], want[1024];

	assert_non_null(a);
	assert_non_null(burst);
	assert_non_null(ids);
	struct store *st = open_ok(d->db);
	o_user(st, DOMAIN, "alice");
	o_user(st, DOMAIN, "bob");
	store_close(st);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);
	for (unsigned i = 0; i < 20; i++)
		snprintf(ids[i], sizeof(ids[i]), "a%02u", i + 1);
	for (unsigned i = 0; i < M_BURST; i++)
		snprintf(ids[20 + i], sizeof(ids[0]), "b%03u", i + 1);

	m_gate_close(&ctx, &gate_req, &gate);
	/* 1: ten appends, then a query that must see all ten */
	for (unsigned i = 0; i < 10; i++)
		m_submit_append(&ctx, &a[i], "alice", ids[i], M_T0 + (int64_t)(i + 1) * M_SEC,
				O_M1);
	m_submit_query(&ctx, &q1, "alice", 100, false);
	/* 2: a batch the store refuses (a05 is taken), run again one by one */
	m_submit_append(&ctx, &a[10], "alice", ids[10], M_T0 + 11 * M_SEC, O_M1);
	m_submit_append(&ctx, &a[11], "alice", ids[4], M_T0 + 12 * M_SEC, O_M1);
	m_submit_append(&ctx, &a[12], "alice", ids[12], M_T0 + 13 * M_SEC, O_M1);
	/* 3: a malformed append is refused alone (no stanza id), between two
	 * good ones that still share a transaction */
	struct store_req gap;
	m_submit_query(&ctx, &gap, "nobody", 1, false);
	m_submit_append(&ctx, &a[13], "alice", ids[13], M_T0 + 14 * M_SEC, O_M1);
	m_submit_append(&ctx, &a[14], "alice", "", M_T0 + 15 * M_SEC, O_M1);
	m_submit_append(&ctx, &a[15], "alice", ids[15], M_T0 + 16 * M_SEC, O_M1);
	m_submit_query(&ctx, &q2, "alice", 3, true);
	/* 4: a burst larger than a batch, then a query behind it (bob's
	 * messages are older than alice's, for the expiry below) */
	for (unsigned i = 0; i < M_BURST; i++)
		m_submit_append(&ctx, &burst[i], "bob", ids[20 + i],
				M_T0 - (int64_t)(1000 - i) * M_SEC, O_M2);
	m_submit_query(&ctx, &q3, "bob", 50, true);
	/* 5: an expiry of bob's first 100 messages, and what is left */
	memset(&e1, 0, sizeof(e1));
	e1.op = STORE_OP_MAM_EXPIRE;
	e1.mam_older_than_us = M_T0 - 900 * M_SEC;
	e1.done = t_done;
	e1.done_arg = &ctx;
	assert_int_equal(store_thread_submit(ctx.th, &e1), XS_OK);
	m_submit_query(&ctx, &q4, "bob", 2, false);
	atomic_store(&gate.open, 1);

	m_next(&ctx, &gate_req);
	assert_int_equal(gate_req.status, XS_OK);
	store_roster_item_clear(&gate_req.updated);
	for (unsigned i = 0; i < 10; i++) {
		m_next(&ctx, &a[i]);
		assert_int_equal(a[i].status, XS_OK);
		assert_int_equal(a[i].mam_batch, 10);
	}
	m_next(&ctx, &q1);
	assert_int_equal(q1.status, XS_OK);
	assert_string_equal(m_results(&q1, buf, sizeof(buf)),
			    m_ids(want, sizeof(want), "a", 1, 10, 0));
	assert_true(q1.mam_complete);
	assert_memory_equal(q1.mam_results[0].xml, O_M1, strlen(O_M1));
	assert_int_equal(q1.mam_results[0].stamp_us, M_T0 + M_SEC);
	store_mam_results_free(q1.mam_results, q1.n_mam_results);
	for (unsigned i = 10; i < 13; i++) {
		m_next(&ctx, &a[i]);
		assert_int_equal(a[i].status, i == 11 ? XS_INVAL : XS_OK);
		assert_int_equal(a[i].mam_batch, 1);
	}
	m_next(&ctx, &gap);
	assert_int_equal(gap.status, XS_OK);
	assert_int_equal(gap.n_mam_results, 0);
	assert_null(gap.mam_results);
	assert_true(gap.mam_complete);
	for (unsigned i = 13; i < 16; i++) {
		m_next(&ctx, &a[i]);
		assert_int_equal(a[i].status, i == 14 ? XS_INVAL : XS_OK);
		assert_int_equal(a[i].mam_batch, i == 14 ? 0 : 2);
	}
	m_next(&ctx, &q2);
	assert_int_equal(q2.status, XS_OK);
	assert_string_equal(m_results(&q2, buf, sizeof(buf)), "a13,a14,a16");
	assert_false(q2.mam_complete);
	store_mam_results_free(q2.mam_results, q2.n_mam_results);
	for (unsigned i = 0; i < M_BURST; i++) {
		m_next(&ctx, &burst[i]);
		assert_int_equal(burst[i].status, XS_OK);
		assert_int_equal(burst[i].mam_batch,
				 i < STORE_MAM_BATCH ? STORE_MAM_BATCH : M_BURST - STORE_MAM_BATCH);
	}
	m_next(&ctx, &q3);
	assert_int_equal(q3.status, XS_OK);
	assert_int_equal(q3.n_mam_results, 50);
	assert_string_equal(q3.mam_results[0].stanza_id, "b251");
	assert_string_equal(q3.mam_results[49].stanza_id, "b300");
	assert_false(q3.mam_complete);
	assert_memory_equal(q3.mam_results[7].xml, O_M2, strlen(O_M2));
	store_mam_results_free(q3.mam_results, q3.n_mam_results);
	m_next(&ctx, &e1);
	assert_int_equal(e1.status, XS_OK);
	assert_int_equal(e1.mam_deleted, 100);
	m_next(&ctx, &q4);
	assert_int_equal(q4.status, XS_OK);
	assert_string_equal(m_results(&q4, buf, sizeof(buf)), "b101,b102");
	assert_false(q4.mam_complete);
	store_mam_results_free(q4.mam_results, q4.n_mam_results);

	/* One at a time, nothing to batch with: a batch of one. */
	m_submit_append(&ctx, &a[16], "alice", ids[16], M_T0 + 17 * M_SEC, O_M1);
	m_next(&ctx, &a[16]);
	assert_int_equal(a[16].status, XS_OK);
	assert_int_equal(a[16].mam_batch, 1);

	/* A query with anchors: found, not found (no results), and filter
	 * buffers that do not end inside themselves (XS_INVAL). */
	memset(&q1, 0, sizeof(q1));
	q1.mam_max = 2;
	snprintf(q1.mam_with, sizeof(q1.mam_with), "%s", M_ROMEO);
	snprintf(q1.mam_after_id, sizeof(q1.mam_after_id), "a02");
	q1.mam_start_us = M_T0 + 4 * M_SEC;
	t_roundtrip(&ctx, &q1, STORE_OP_MAM_QUERY, "alice");
	assert_int_equal(q1.status, XS_OK);
	assert_string_equal(m_results(&q1, buf, sizeof(buf)), "a04,a05");
	assert_false(q1.mam_complete);
	store_mam_results_free(q1.mam_results, q1.n_mam_results);
	q1.mam_after_id[0] = '\0';
	snprintf(q1.mam_before_id, sizeof(q1.mam_before_id), "a99");
	t_roundtrip(&ctx, &q1, STORE_OP_MAM_QUERY, "alice");
	assert_int_equal(q1.status, XS_NOTFOUND);
	assert_null(q1.mam_results);
	assert_int_equal(q1.n_mam_results, 0);
	assert_false(q1.mam_complete);
	q1.mam_before_id[0] = '\0';
	memset(q1.mam_with, 'x', sizeof(q1.mam_with));
	t_roundtrip(&ctx, &q1, STORE_OP_MAM_QUERY, "alice");
	assert_int_equal(q1.status, XS_INVAL);
	q1.mam_with[0] = '\0';
	memset(q1.mam_after_id, 'x', sizeof(q1.mam_after_id));
	t_roundtrip(&ctx, &q1, STORE_OP_MAM_QUERY, "alice");
	assert_int_equal(q1.status, XS_INVAL);
	q1.mam_after_id[0] = '\0';
	q1.mam_max = 0;
	t_roundtrip(&ctx, &q1, STORE_OP_MAM_QUERY, "alice");
	assert_int_equal(q1.status, XS_INVAL);

	assert_int_equal(atomic_load(&ctx.done_on_wrong_thread), 0);
	store_thread_stop(ctx.th);
	queue_deinit(&ctx.results);

	/* On disk: alice's 15 (a05 once, not a15), bob's 200 after the
	 * expiry. */
	assert_int_equal(m_rows(d->db, "localpart = 'alice'"), 15);
	assert_int_equal(m_rows(d->db, "localpart = 'bob'"), M_BURST - 100);
	free(a);
	free(burst);
	free(ids);
}

/* Stop while appends are queued behind a held worker: the sentinel comes
 * after them, so they are archived, as one batch, and completed before
 * stop returns. */
static void *m_gate_releaser(void *arg)
{
	struct m_gate *g = arg;
	/* Long enough for the main thread to be inside store_thread_stop. */
	nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000000 }, NULL);
	atomic_store(&g->open, 1);
	return NULL;
}

static void test_thread_mam_stop(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct m_gate gate;
	struct store_req gate_req, a[20];
	char ids[20][8], err[256] = "";

	struct store *st = open_ok(d->db);
	o_user(st, DOMAIN, "alice");
	store_close(st);
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	m_gate_close(&ctx, &gate_req, &gate);
	for (unsigned i = 0; i < 20; i++) {
		snprintf(ids[i], sizeof(ids[i]), "s%02u", i);
		m_submit_append(&ctx, &a[i], "alice", ids[i], M_T0 + i, O_M1);
	}
	pthread_t rel;
	assert_int_equal(pthread_create(&rel, NULL, m_gate_releaser, &gate), 0);
	store_thread_stop(ctx.th);
	pthread_join(rel, NULL);

	assert_int_equal(atomic_load(&ctx.done_calls), 21);
	m_next(&ctx, &gate_req);
	store_roster_item_clear(&gate_req.updated);
	for (unsigned i = 0; i < 20; i++) {
		m_next(&ctx, &a[i]);
		assert_int_equal(a[i].status, XS_OK);
		assert_int_equal(a[i].mam_batch, 20);
	}
	assert_true(queue_is_empty(&ctx.results));
	queue_deinit(&ctx.results);
	assert_int_equal(m_rows(d->db, "localpart = 'alice'"), 20);
}

int main(void)
{
	/* Keep the expected error lines (refused schema, malformed row) quiet. */
	log_set_level(LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_file_wal_schema, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_open_tightens_existing_mode, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_user_semantics, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_iteration_counts, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_cred_roundtrip_and_reopen, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_malformed_row, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_open_modes, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_open_errors, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_many_producers, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_stop_drains, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_get_put, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_get_since, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_limit, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_remove, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_accounts_separate, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_reopen, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_user_delete, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_rollback, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_malformed_row, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_update_create, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_update_unchanged, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_update_write, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_update_delete, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_update_limit, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_update_invalid, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_update_rollback, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_roster_ask_bits, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_roster, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_roster_update, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_offline_push_unknown, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_offline_push_list, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_offline_limit, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_offline_delete, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_offline_accounts_separate, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_offline_reopen, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_offline_user_delete, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_offline_rollback, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_offline_malformed_row, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_migrate_from_v2, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_offline, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_data_get_put, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_data_put_unknown, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_data_limit, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_data_delete, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_data_separate, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_data_reopen_user_delete, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_data_rollback, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_data_malformed_row, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_migrate_from_v3, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_migrate_from_v4, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_data, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_block_change, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_block_bad_arguments, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_block_match, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_block_user_delete_roster, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_block_rollback, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_migrate_from_v5, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_block, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_accounts, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mam_append_query, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mam_paging, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mam_filters, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mam_accounts_separate, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_mam_user_delete, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mam_expire, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mam_rollback, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_migrate_from_v6, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_mam, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_mam_stop, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
