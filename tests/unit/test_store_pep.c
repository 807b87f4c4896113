/* Unit tests for PEP storage (XEP-0163; store_pep_* in store.h, the
 * SQLite side in core/store/store_sqlite_pep.c): node creation by publish,
 * publish-options preconditions, the node limit, item order (an id
 * published again is the newest), trimming to max_items and to one item
 * without persist_items, access for the owner, presence contacts and
 * others under each access model, item selection by id and by count,
 * retract, delete and purge, configuration, node visibility, the last
 * items of many owners, replace, the per-account byte quota of publish and
 * replace, what user delete removes, the migration from schema version 7,
 * and the PEP requests (the quota too) through the storage thread.
 * Each test works in its own mkdtemp directory and checks the file through
 * a separate sqlite3 connection where what is on disk matters. */
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
#define ALICE "alice@" DOMAIN

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
	snprintf(d->root, sizeof(d->root), "/tmp/test_store_pep.XXXXXX");
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

static struct store_pep_config cfg_of(unsigned char access, bool persist, unsigned max,
				      bool send_last, bool notify_retract)
{
	return (struct store_pep_config){ access, persist, max, send_last, notify_retract };
}

static void assert_cfg_equal(const struct store_pep_config *a, const struct store_pep_config *b)
{
	assert_int_equal(a->access, b->access);
	assert_int_equal(a->persist_items, b->persist_items);
	assert_int_equal(a->max_items, b->max_items);
	assert_int_equal(a->send_last, b->send_last);
	assert_int_equal(a->notify_retract, b->notify_retract);
}

/* What the callbacks saw, as text: "id=xml" (pep_items), "owner/node/id=xml"
 * (pep_last), or node names, comma-separated. */
struct acc {
	char s[4096];
	unsigned n;
	bool node_ok; /* pep_items: every item carried the expected node */
	const char *want_node;
};

static void acc_add(struct acc *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void acc_add(struct acc *a, const char *fmt, ...)
{
	size_t used = strlen(a->s);
	va_list ap;
	if (a->n++)
		used += (size_t)snprintf(a->s + used, sizeof(a->s) - used, ",");
	va_start(ap, fmt);
	vsnprintf(a->s + used, sizeof(a->s) - used, fmt, ap);
	va_end(ap);
}

static void items_cb(void *arg, const struct store_pep_item *it)
{
	struct acc *a = arg;
	assert_null(it->owner);
	if (a->want_node && strcmp(it->node, a->want_node) != 0)
		a->node_ok = false;
	acc_add(a, "%s=%.*s", it->id, (int)it->len, it->xml);
}

static void last_cb(void *arg, const struct store_pep_item *it)
{
	struct acc *a = arg;
	assert_non_null(it->owner);
	acc_add(a, "%s/%s/%s=%.*s", it->owner, it->node, it->id, (int)it->len, it->xml);
}

static void node_cb(void *arg, const char *node)
{
	acc_add(arg, "%s", node);
}

static void removed_cb(void *arg, const char *id)
{
	acc_add(arg, "%s", id);
}

/* Publishes "xml" as item id of local's node with cfg, no precondition
 * and no node limit, and checks it worked. */
static void pub_ok(struct store *st, const char *local, const char *node,
		   const struct store_pep_config *cfg, const char *id, const char *xml)
{
	struct store_pep_config out;
	bool created;
	enum xs rc = store_pep_publish(st, DOMAIN, local, node, cfg, 0, id, xml, strlen(xml), 0, 0,
				       NULL, &out, &created);
	if (rc != XS_OK)
		fail_msg("publish %s/%s/%s: %s", local, node, id, xs_name(rc));
}

/* The items requester gets from alice's node (max newest, or ids), as
 * text; the status in *rc. */
static const char *items_of(struct store *st, const char *local, const char *node,
			    const char *requester, const char *const *ids, size_t n_ids,
			    unsigned max, struct acc *a, enum xs *rc,
			    struct store_pep_config *out)
{
	struct store_pep_config dummy;
	memset(a, 0, sizeof(*a));
	a->node_ok = true;
	a->want_node = node;
	*rc = store_pep_items(st, DOMAIN, local, node, requester, ids, n_ids, max, items_cb, a,
			      out ? out : &dummy);
	assert_true(a->node_ok);
	return a->s;
}

static const char *items_all(struct store *st, const char *local, const char *node,
			     struct acc *a)
{
	enum xs rc;
	char owner[128];
	snprintf(owner, sizeof(owner), "%s@%s", local, DOMAIN);
	items_of(st, local, node, owner, NULL, 0, 0, a, &rc, NULL);
	assert_int_equal(rc, XS_OK);
	return a->s;
}

static void test_pep_publish_create(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 3, true, false), out;
	struct acc a;
	bool created = true;

	/* No node yet: every read says so. */
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "urn:x:geoloc", &out),
			 XS_NOTFOUND);
	enum xs rc;
	items_of(st, "alice", "urn:x:geoloc", ALICE, NULL, 0, 0, &a, &rc, NULL);
	assert_int_equal(rc, XS_NOTFOUND);

	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "urn:x:geoloc", &cfg, 0, "i1",
					   "<geoloc/>", 9, 0, 0, NULL, &out, &created),
			 XS_OK);
	assert_true(created);
	assert_cfg_equal(&out, &cfg);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "urn:x:geoloc", &out), XS_OK);
	assert_cfg_equal(&out, &cfg);

	/* Into the existing node: its config stays, the one given is ignored
	 * without a precondition; cfg and out may be the same struct. */
	struct store_pep_config other = cfg_of(STORE_PEP_WHITELIST, false, 1, false, true);
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "urn:x:geoloc", &other, 0, "i2",
					   "<geoloc>2</geoloc>", 18, 0, 0, NULL, &other, &created),
			 XS_OK);
	assert_false(created);
	assert_cfg_equal(&other, &cfg);
	assert_string_equal(items_all(st, "alice", "urn:x:geoloc", &a),
			    "i1=<geoloc/>,i2=<geoloc>2</geoloc>");

	/* Nodes are per account and per name. */
	assert_int_equal(store_pep_config_get(st, DOMAIN, "bob", "urn:x:geoloc", &out),
			 XS_NOTFOUND);
	assert_int_equal(store_pep_config_get(st, "example.net", "alice", "urn:x:geoloc", &out),
			 XS_NOTFOUND);
	pub_ok(st, "bob", "urn:x:geoloc", &cfg, "b1", "<b/>");
	assert_string_equal(items_all(st, "bob", "urn:x:geoloc", &a), "b1=<b/>");
	assert_string_equal(items_all(st, "alice", "urn:x:geoloc", &a),
			    "i1=<geoloc/>,i2=<geoloc>2</geoloc>");

	/* Survives a reopen. */
	store_close(st);
	st = open_ok(d->db);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "urn:x:geoloc", &out), XS_OK);
	assert_cfg_equal(&out, &cfg);
	assert_string_equal(items_all(st, "alice", "urn:x:geoloc", &a),
			    "i1=<geoloc/>,i2=<geoloc>2</geoloc>");
	store_close(st);
}

/* Payloads come back byte for byte, NULs included; an empty one is empty. */
static void bytes_cb(void *arg, const struct store_pep_item *it)
{
	struct acc *a = arg;
	static const char want[] = { '<', 0, '\xff', '>' };
	if (strcmp(it->id, "bin") == 0) {
		assert_int_equal(it->len, sizeof(want));
		assert_memory_equal(it->xml, want, sizeof(want));
	} else {
		assert_string_equal(it->id, "empty");
		assert_int_equal(it->len, 0);
		assert_non_null(it->xml);
	}
	a->n++;
}

static void test_pep_payload_bytes(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 10, true, false), out;
	static const char bin[] = { '<', 0, '\xff', '>' };
	struct acc a = { .n = 0 };
	bool created;

	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n", &cfg, 0, "bin", bin,
					   sizeof(bin), 0, 0, NULL, &out, &created),
			 XS_OK);
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n", &cfg, 0, "empty", NULL, 0, 0,
					   0, NULL, &out, &created),
			 XS_OK);
	assert_int_equal(store_pep_items(st, DOMAIN, "alice", "n", ALICE, NULL, 0, 0, bytes_cb, &a,
					 &out),
			 XS_OK);
	assert_int_equal(a.n, 2);
	store_close(st);
}

/* XEP-0060 7.1.5: each field a precondition names must match, otherwise
 * XS_DENIED, nothing written, and out says what is stored. */
static void test_pep_precondition(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	const struct store_pep_config cfg = cfg_of(STORE_PEP_PRESENCE, true, 5, true, false);
	struct store_pep_config out, want;
	struct acc a;
	bool created = true;

	pub_ok(st, "alice", "n", &cfg, "i1", "1");
	static const struct {
		unsigned flag;
		struct store_pep_config cfg;
	} bad[] = {
		{ STORE_PEP_F_ACCESS, { STORE_PEP_OPEN, true, 5, true, false } },
		{ STORE_PEP_F_PERSIST, { STORE_PEP_PRESENCE, false, 5, true, false } },
		{ STORE_PEP_F_MAX_ITEMS, { STORE_PEP_PRESENCE, true, 6, true, false } },
		{ STORE_PEP_F_SEND_LAST, { STORE_PEP_PRESENCE, true, 5, false, false } },
		{ STORE_PEP_F_NOTIFY_RETRACT, { STORE_PEP_PRESENCE, true, 5, true, true } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&out, 0, sizeof(out));
		created = true;
		assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n", &bad[i].cfg,
						   bad[i].flag, "i2", "2", 1, 0, 0, NULL, &out,
						   &created),
				 XS_DENIED);
		assert_false(created);
		assert_cfg_equal(&out, &cfg);
		/* The same config with every other field named is fine: only
		 * the named field differs. */
		want = bad[i].cfg;
		assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n", &want,
						   STORE_PEP_F_ALL & ~bad[i].flag, "i0", "0", 1, 0,
						   0, NULL, &out, &created),
				 XS_OK);
		assert_false(created);
		assert_cfg_equal(&out, &cfg);
	}
	/* Nothing of the refused publishes was written. */
	assert_string_equal(items_all(st, "alice", "n", &a), "i1=1,i0=0");
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item WHERE item_id = 'i2'"), 0);
	/* Every field matching: published. */
	want = cfg;
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n", &want, STORE_PEP_F_ALL, "i2",
					   "2", 1, 0, 0, NULL, &out, &created),
			 XS_OK);
	assert_string_equal(items_all(st, "alice", "n", &a), "i1=1,i0=0,i2=2");
	/* A precondition on a node that does not exist yet creates it with
	 * the config given. */
	want = cfg_of(STORE_PEP_OPEN, false, 1, false, true);
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "m", &want, STORE_PEP_F_ALL, "x",
					   "x", 1, 0, 0, NULL, &out, &created),
			 XS_OK);
	assert_true(created);
	assert_cfg_equal(&out, &want);
	store_close(st);
}

static void test_pep_max_nodes(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 5, true, false), out;
	const struct store_pep_item it = { .id = "r", .xml = "r", .len = 1 };
	bool created;

	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n1", &cfg, 0, "i", "1", 1, 2, 0,
					   NULL, &out, &created),
			 XS_OK);
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n2", &cfg, 0, "i", "1", 1, 2, 0,
					   NULL, &out, &created),
			 XS_OK);
	created = true;
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n3", &cfg, 0, "i", "1", 1, 2, 0,
					   NULL, &out, &created),
			 XS_LIMIT);
	assert_false(created);
	assert_int_equal(
		store_pep_replace(st, DOMAIN, "alice", "n3", &cfg, &it, 1, 2, 0, NULL, NULL, NULL),
		XS_LIMIT);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_node"), 2);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item"), 2);
	/* An existing node takes more items at the limit. */
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n1", &cfg, 0, "j", "2", 1, 2, 0,
					   NULL, &out, &created),
			 XS_OK);
	assert_int_equal(
		store_pep_replace(st, DOMAIN, "alice", "n2", &cfg, &it, 1, 2, 0, NULL, NULL, NULL),
		XS_OK);
	/* The limit is per account; 0 is none. */
	assert_int_equal(store_pep_publish(st, DOMAIN, "bob", "n3", &cfg, 0, "i", "1", 1, 2, 0,
					   NULL, &out, &created),
			 XS_OK);
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n3", &cfg, 0, "i", "1", 1, 0, 0,
					   NULL, &out, &created),
			 XS_OK);
	assert_true(created);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_node WHERE localpart = 'alice'"),
			 3);
	store_close(st);
}

/* Item order, replacement, trimming, and reading by count and by id. */
static void test_pep_items_order_trim(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 3, true, false), out;
	struct acc a;
	enum xs rc;

	pub_ok(st, "alice", "n", &cfg, "a", "A");
	pub_ok(st, "alice", "n", &cfg, "b", "B");
	pub_ok(st, "alice", "n", &cfg, "c", "C");
	pub_ok(st, "alice", "n", &cfg, "d", "D");
	/* max_items 3: the oldest went. */
	assert_string_equal(items_all(st, "alice", "n", &a), "b=B,c=C,d=D");
	/* Published again under its id: replaced, and now the newest. */
	pub_ok(st, "alice", "n", &cfg, "b", "B2");
	assert_string_equal(items_all(st, "alice", "n", &a), "c=C,d=D,b=B2");
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item"), 3);

	/* The newest max, oldest first. */
	assert_string_equal(items_of(st, "alice", "n", "zed@x.lit", NULL, 0, 1, &a, &rc, &out),
			    "b=B2");
	assert_int_equal(rc, XS_OK);
	assert_cfg_equal(&out, &cfg);
	assert_string_equal(items_of(st, "alice", "n", "zed@x.lit", NULL, 0, 2, &a, &rc, NULL),
			    "d=D,b=B2");
	assert_string_equal(items_of(st, "alice", "n", "zed@x.lit", NULL, 0, 3, &a, &rc, NULL),
			    "c=C,d=D,b=B2");
	assert_string_equal(items_of(st, "alice", "n", "zed@x.lit", NULL, 0, 100, &a, &rc, NULL),
			    "c=C,d=D,b=B2");
	/* By id: those that exist, in the order asked. */
	const char *ids[] = { "b", "zzz", "c", "a" };
	assert_string_equal(items_of(st, "alice", "n", "zed@x.lit", ids, 4, 1, &a, &rc, NULL),
			    "b=B2,c=C");
	assert_int_equal(rc, XS_OK);
	assert_string_equal(items_of(st, "alice", "n", "zed@x.lit", ids + 1, 1, 0, &a, &rc, NULL),
			    "");
	assert_int_equal(rc, XS_OK);

	/* Without persist_items only the newest is kept, whatever
	 * max_items says. */
	struct store_pep_config one = cfg_of(STORE_PEP_OPEN, false, 10, true, false);
	pub_ok(st, "alice", "m", &one, "x", "X");
	pub_ok(st, "alice", "m", &one, "y", "Y");
	assert_string_equal(items_all(st, "alice", "m", &a), "y=Y");
	pub_ok(st, "alice", "m", &one, "y", "Y2");
	assert_string_equal(items_all(st, "alice", "m", &a), "y=Y2");
	/* An empty node reads as empty. */
	assert_int_equal(store_pep_purge(st, DOMAIN, "alice", "m"), XS_OK);
	assert_string_equal(items_of(st, "alice", "m", ALICE, NULL, 0, 5, &a, &rc, NULL), "");
	assert_int_equal(rc, XS_OK);
	store_close(st);
}

static void roster_add(struct store *st, const char *local, const char *contact,
		       enum roster_sub sub)
{
	struct store_roster_item it = { .contact = (char *)contact, .groups = (char *)"",
					.subscription = (unsigned char)sub };
	uint64_t ver;
	assert_int_equal(store_roster_put(st, DOMAIN, local, &it, 0, &ver), XS_OK);
}

/* The access models: the owner always; PRESENCE for contacts of the
 * OWNER's roster with from or both; OPEN anyone; WHITELIST nobody else. */
static void test_pep_access(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config pres = cfg_of(STORE_PEP_PRESENCE, true, 5, true, false);
	struct store_pep_config open = cfg_of(STORE_PEP_OPEN, true, 5, true, true);
	struct store_pep_config white = cfg_of(STORE_PEP_WHITELIST, true, 5, false, false);
	struct store_pep_config out;
	struct acc a;
	enum xs rc;

	pub_ok(st, "alice", "pres", &pres, "p", "P");
	pub_ok(st, "alice", "open", &open, "o", "O");
	pub_ok(st, "alice", "white", &white, "w", "W");
	roster_add(st, "alice", "bob@example.org", ROSTER_SUB_FROM);
	roster_add(st, "alice", "carol@example.org", ROSTER_SUB_BOTH);
	roster_add(st, "alice", "dave@example.org", ROSTER_SUB_NONE);
	roster_add(st, "alice", "erin@example.org", ROSTER_SUB_TO);
	/* Only the owner's roster counts: frank has alice (both) in his. */
	roster_add(st, "frank", ALICE, ROSTER_SUB_BOTH);

	static const struct {
		const char *who;
		enum xs pres, open, white;
		const char *nodes;
	} cases[] = {
		{ ALICE, XS_OK, XS_OK, XS_OK, "open,pres,white" },
		{ "bob@example.org", XS_OK, XS_OK, XS_DENIED, "open,pres" },
		{ "carol@example.org", XS_OK, XS_OK, XS_DENIED, "open,pres" },
		{ "dave@example.org", XS_DENIED, XS_OK, XS_DENIED, "open" },
		{ "erin@example.org", XS_DENIED, XS_OK, XS_DENIED, "open" },
		{ "frank@example.org", XS_DENIED, XS_OK, XS_DENIED, "open" },
		/* Not the owner: a longer or shorter JID that starts alike. */
		{ "alice@example.org.evil", XS_DENIED, XS_OK, XS_DENIED, "open" },
		{ "alice@example.or", XS_DENIED, XS_OK, XS_DENIED, "open" },
		{ "alicea@example.org", XS_DENIED, XS_OK, XS_DENIED, "open" },
		{ "example.org", XS_DENIED, XS_OK, XS_DENIED, "open" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *who = cases[i].who;
		memset(&out, 0, sizeof(out));
		items_of(st, "alice", "pres", who, NULL, 0, 0, &a, &rc, &out);
		assert_int_equal(rc, cases[i].pres);
		assert_string_equal(a.s, rc == XS_OK ? "p=P" : "");
		/* Filled on XS_DENIED too, for the error's wording. */
		assert_cfg_equal(&out, &pres);
		items_of(st, "alice", "open", who, NULL, 0, 0, &a, &rc, &out);
		assert_int_equal(rc, cases[i].open);
		assert_string_equal(a.s, "o=O");
		assert_cfg_equal(&out, &open);
		const char *ids[] = { "w" };
		items_of(st, "alice", "white", who, ids, 1, 0, &a, &rc, &out);
		assert_int_equal(rc, cases[i].white);
		assert_string_equal(a.s, rc == XS_OK ? "w=W" : "");
		assert_cfg_equal(&out, &white);

		memset(&a, 0, sizeof(a));
		assert_int_equal(store_pep_nodes(st, DOMAIN, "alice", who, node_cb, &a), XS_OK);
		assert_string_equal(a.s, cases[i].nodes);
	}
	/* An account without nodes. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_pep_nodes(st, DOMAIN, "bob", ALICE, node_cb, &a), XS_OK);
	assert_string_equal(a.s, "");

	/* Losing the subscription loses the access. */
	roster_add(st, "alice", "bob@example.org", ROSTER_SUB_TO);
	items_of(st, "alice", "pres", "bob@example.org", NULL, 0, 0, &a, &rc, NULL);
	assert_int_equal(rc, XS_DENIED);
	store_close(st);
}

static void test_pep_retract_delete_purge(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 5, true, true), out;
	struct acc a;
	enum xs rc;

	assert_int_equal(store_pep_retract(st, DOMAIN, "alice", "n", "a", &out), XS_NOTFOUND);
	assert_int_equal(store_pep_delete(st, DOMAIN, "alice", "n"), XS_NOTFOUND);
	assert_int_equal(store_pep_purge(st, DOMAIN, "alice", "n"), XS_NOTFOUND);

	pub_ok(st, "alice", "n", &cfg, "a", "A");
	pub_ok(st, "alice", "n", &cfg, "b", "B");
	pub_ok(st, "alice", "n", &cfg, "c", "C");
	pub_ok(st, "alice", "other", &cfg, "a", "A");
	assert_int_equal(store_pep_retract(st, DOMAIN, "alice", "n", "zzz", &out), XS_NOTFOUND);
	assert_int_equal(store_pep_retract(st, DOMAIN, "bob", "n", "a", &out), XS_NOTFOUND);
	memset(&out, 0, sizeof(out));
	assert_int_equal(store_pep_retract(st, DOMAIN, "alice", "n", "b", &out), XS_OK);
	assert_cfg_equal(&out, &cfg);
	assert_string_equal(items_all(st, "alice", "n", &a), "a=A,c=C");
	assert_int_equal(store_pep_retract(st, DOMAIN, "alice", "n", "b", &out), XS_NOTFOUND);

	/* Purge: the items go, the node stays. */
	assert_int_equal(store_pep_purge(st, DOMAIN, "alice", "n"), XS_OK);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "n", &out), XS_OK);
	assert_string_equal(items_all(st, "alice", "n", &a), "");
	assert_int_equal(store_pep_purge(st, DOMAIN, "alice", "n"), XS_OK);
	assert_string_equal(items_all(st, "alice", "other", &a), "a=A");

	/* Delete: the node and its items. */
	pub_ok(st, "alice", "n", &cfg, "d", "D");
	assert_int_equal(store_pep_delete(st, DOMAIN, "alice", "n"), XS_OK);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "n", &out), XS_NOTFOUND);
	items_of(st, "alice", "n", ALICE, NULL, 0, 0, &a, &rc, NULL);
	assert_int_equal(rc, XS_NOTFOUND);
	assert_int_equal(store_pep_delete(st, DOMAIN, "alice", "n"), XS_NOTFOUND);
	assert_int_equal(store_pep_purge(st, DOMAIN, "alice", "n"), XS_NOTFOUND);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item"), 1);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item WHERE node_id NOT IN"
				       " (SELECT id FROM pep_node)"),
			 0);
	/* Made again, it starts empty with the new config. */
	struct store_pep_config c2 = cfg_of(STORE_PEP_WHITELIST, false, 1, false, false);
	pub_ok(st, "alice", "n", &c2, "e", "E");
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "n", &out), XS_OK);
	assert_cfg_equal(&out, &c2);
	assert_string_equal(items_all(st, "alice", "n", &a), "e=E");
	store_close(st);
}

static void test_pep_config(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 10, true, false), out;
	struct acc a;
	char id[8];

	assert_int_equal(store_pep_config_set(st, DOMAIN, "alice", "n", &cfg), XS_NOTFOUND);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_node"), 0);
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "i%d", i);
		pub_ok(st, "alice", "n", &cfg, id, id);
	}
	/* A lower limit trims the oldest. */
	struct store_pep_config c2 = cfg_of(STORE_PEP_PRESENCE, true, 4, false, true);
	assert_int_equal(store_pep_config_set(st, DOMAIN, "alice", "n", &c2), XS_OK);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "n", &out), XS_OK);
	assert_cfg_equal(&out, &c2);
	assert_string_equal(items_all(st, "alice", "n", &a), "i2=i2,i3=i3,i4=i4,i5=i5");
	/* A higher one keeps what there is. */
	c2.max_items = 100;
	assert_int_equal(store_pep_config_set(st, DOMAIN, "alice", "n", &c2), XS_OK);
	assert_string_equal(items_all(st, "alice", "n", &a), "i2=i2,i3=i3,i4=i4,i5=i5");
	/* persist_items off: the newest alone. */
	c2.persist_items = false;
	assert_int_equal(store_pep_config_set(st, DOMAIN, "alice", "n", &c2), XS_OK);
	assert_string_equal(items_all(st, "alice", "n", &a), "i5=i5");
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "n", &out), XS_OK);
	assert_cfg_equal(&out, &c2);
	assert_int_equal(out.max_items, 100);
	/* The largest max_items round-trips. */
	c2.max_items = UINT32_MAX;
	assert_int_equal(store_pep_config_set(st, DOMAIN, "alice", "n", &c2), XS_OK);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "n", &out), XS_OK);
	assert_int_equal(out.max_items, UINT32_MAX);
	store_close(st);
}

/* A row the CHECKs would refuse (written past them by hand) is an error,
 * not a configuration. */
static void test_pep_malformed_row(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 10, true, false), out;
	struct acc a;

	pub_ok(st, "alice", "n", &cfg, "i", "I");
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "PRAGMA ignore_check_constraints = ON");
	raw_exec(raw, "UPDATE pep_node SET access = 7");
	sqlite3_close(raw);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "n", &out), XS_IO);
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_pep_nodes(st, DOMAIN, "alice", ALICE, node_cb, &a), XS_IO);
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n", &cfg, 0, "j", "J", 1, 0, 0,
					   NULL, &out, &(bool){ false }),
			 XS_IO);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item"), 1);
	store_close(st);
}

static void test_pep_bad_arguments(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 10, true, false), out;
	struct store_pep_config zero = cfg_of(STORE_PEP_OPEN, true, 0, true, false);
	struct store_pep_config bad_access = cfg_of(3, true, 1, true, false);
	const char *ids_empty[] = { "" };
	const char *nodes[] = { "n" };
	const char *owners_null[] = { NULL };
	const struct store_pep_item noid = { .id = "", .xml = "x", .len = 1 };
	const struct store_pep_item nullxml = { .id = "i", .xml = NULL, .len = 1 };
	struct acc a;
	bool created;

#define PUB(dom, loc, node, c, pre, id, xml, len, o, cr)                                          \
	store_pep_publish(st, dom, loc, node, c, pre, id, xml, len, 0, 0, NULL, o, cr)
	assert_int_equal(PUB("", "a", "n", &cfg, 0, "i", "x", 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "", "n", &cfg, 0, "i", "x", 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "", &cfg, 0, "i", "x", 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", NULL, &cfg, 0, "i", "x", 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "n", NULL, 0, "i", "x", 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "n", &zero, 0, "i", "x", 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "n", &bad_access, 0, "i", "x", 1, &out, &created),
			 XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "n", &cfg, 32, "i", "x", 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "n", &cfg, 0, "", "x", 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "n", &cfg, 0, NULL, "x", 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "n", &cfg, 0, "i", NULL, 1, &out, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "n", &cfg, 0, "i", "x", 1, NULL, &created), XS_INVAL);
	assert_int_equal(PUB(DOMAIN, "a", "n", &cfg, 0, "i", "x", 1, &out, NULL), XS_INVAL);
#undef PUB
	assert_int_equal(store_pep_items(st, DOMAIN, "a", "n", "", NULL, 0, 0, items_cb, &a, &out),
			 XS_INVAL);
	assert_int_equal(store_pep_items(st, DOMAIN, "a", "n", ALICE, NULL, 1, 0, items_cb, &a,
					 &out),
			 XS_INVAL);
	assert_int_equal(store_pep_items(st, DOMAIN, "a", "n", ALICE, ids_empty, 1, 0, items_cb,
					 &a, &out),
			 XS_INVAL);
	assert_int_equal(store_pep_items(st, DOMAIN, "a", "n", ALICE, NULL, 0, 0, NULL, &a, &out),
			 XS_INVAL);
	assert_int_equal(store_pep_retract(st, DOMAIN, "a", "n", "", &out), XS_INVAL);
	assert_int_equal(store_pep_delete(st, DOMAIN, "a", ""), XS_INVAL);
	assert_int_equal(store_pep_purge(st, "", "a", "n"), XS_INVAL);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "a", "n", NULL), XS_INVAL);
	assert_int_equal(store_pep_config_set(st, DOMAIN, "a", "n", &zero), XS_INVAL);
	assert_int_equal(store_pep_nodes(st, DOMAIN, "a", "", node_cb, &a), XS_INVAL);
	assert_int_equal(store_pep_last(st, ALICE, owners_null, 1, nodes, 1, last_cb, &a),
			 XS_INVAL);
	assert_int_equal(store_pep_last(st, ALICE, NULL, 1, nodes, 1, last_cb, &a), XS_INVAL);
	assert_int_equal(store_pep_last(st, ALICE, nodes, 1, ids_empty, 1, last_cb, &a), XS_INVAL);
	assert_int_equal(
		store_pep_replace(st, DOMAIN, "a", "n", &cfg, &noid, 1, 0, 0, NULL, NULL, NULL),
		XS_INVAL);
	assert_int_equal(
		store_pep_replace(st, DOMAIN, "a", "n", &cfg, &nullxml, 1, 0, 0, NULL, NULL, NULL),
		XS_INVAL);
	assert_int_equal(store_pep_replace(st, DOMAIN, "a", "n", &bad_access, NULL, 0, 0, 0, NULL,
					   NULL, NULL),
			 XS_INVAL);
	/* None of it wrote anything. */
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_node"), 0);
	store_close(st);
}

/* The last items of many owners, as a presence arrival asks for them. */
static void test_pep_last(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config open = cfg_of(STORE_PEP_OPEN, true, 5, true, false);
	struct store_pep_config quiet = cfg_of(STORE_PEP_OPEN, true, 5, false, false);
	struct store_pep_config pres = cfg_of(STORE_PEP_PRESENCE, true, 5, true, false);
	struct store_pep_config white = cfg_of(STORE_PEP_WHITELIST, true, 5, true, false);
	struct store_pep_config out;
	struct acc a;
	bool created;

	pub_ok(st, "alice", "geoloc", &open, "g1", "G1");
	pub_ok(st, "alice", "geoloc", &open, "g2", "G2");
	pub_ok(st, "alice", "mood", &quiet, "m1", "M1");
	pub_ok(st, "alice", "tune", &pres, "t1", "T1");
	pub_ok(st, "alice", "zzz", &open, "z1", "Z1");
	pub_ok(st, "bob", "tune", &white, "bt", "BT");
	pub_ok(st, "bob", "geoloc", &open, "bg", "BG");
	pub_ok(st, "carol", "tune", &pres, "ct", "CT");
	/* A node with no item gives nothing. */
	assert_int_equal(store_pep_publish(st, DOMAIN, "carol", "geoloc", &open, 0, "x", "X", 1, 0,
					   0, NULL, &out, &created),
			 XS_OK);
	assert_int_equal(store_pep_purge(st, DOMAIN, "carol", "geoloc"), XS_OK);
	roster_add(st, "alice", "zed@x.lit", ROSTER_SUB_FROM);
	roster_add(st, "carol", "zed@x.lit", ROSTER_SUB_TO);

	const char *owners[] = { "carol@" DOMAIN, "noat", "@" DOMAIN, "dave@" DOMAIN,
				 "alice@" DOMAIN, "bob@" DOMAIN, "alice@", "bob@example.net" };
	const size_t n_owners = sizeof(owners) / sizeof(owners[0]);
	const char *nodes[] = { "tune", "mood", "geoloc" };

	memset(&a, 0, sizeof(a));
	assert_int_equal(store_pep_last(st, "zed@x.lit", owners, n_owners, nodes, 3, last_cb, &a),
			 XS_OK);
	/* carol: tune is presence-only and zed has 'to'; geoloc is empty.
	 * alice: geoloc's newest and tune (zed has 'from'), mood does not
	 * send its last item, zzz is not asked for.  bob: tune is
	 * whitelist. */
	assert_string_equal(a.s, "alice@" DOMAIN "/geoloc/g2=G2,alice@" DOMAIN "/tune/t1=T1,"
				 "bob@" DOMAIN "/geoloc/bg=BG");
	/* Only the nodes asked for. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_pep_last(st, "zed@x.lit", owners, n_owners, nodes, 1, last_cb, &a),
			 XS_OK);
	assert_string_equal(a.s, "alice@" DOMAIN "/tune/t1=T1");
	/* No nodes asked for: nothing. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_pep_last(st, "zed@x.lit", owners, n_owners, nodes, 0, last_cb, &a),
			 XS_OK);
	assert_string_equal(a.s, "");
	/* The owner gets its own whitelist node; owner order is kept. */
	const char *two[] = { "bob@" DOMAIN, "alice@" DOMAIN };
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_pep_last(st, "bob@" DOMAIN, two, 2, nodes, 3, last_cb, &a), XS_OK);
	assert_string_equal(a.s, "bob@" DOMAIN "/geoloc/bg=BG,bob@" DOMAIN "/tune/bt=BT,"
				 "alice@" DOMAIN "/geoloc/g2=G2");
	store_close(st);
}

static void test_pep_replace(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_WHITELIST, true, 3, false, false), out;
	struct store_pep_config other = cfg_of(STORE_PEP_OPEN, true, 50, true, true);
	struct acc a, rm;

	const struct store_pep_item abc[] = {
		{ .id = "a", .xml = "A", .len = 1 },
		{ .id = "b", .xml = "B", .len = 1 },
		{ .id = "c", .xml = "C", .len = 1 },
	};
	/* A new node: created with cfg, nothing removed. */
	memset(&rm, 0, sizeof(rm));
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &cfg, abc, 3, 0, 0, NULL,
					   removed_cb, &rm),
			 XS_OK);
	assert_string_equal(rm.s, "");
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "bm", &out), XS_OK);
	assert_cfg_equal(&out, &cfg);
	assert_string_equal(items_all(st, "alice", "bm", &a), "a=A,b=B,c=C");

	/* c kept (new payload), d new, a and b removed (oldest first); the
	 * node keeps its config. */
	const struct store_pep_item cd[] = {
		{ .id = "c", .xml = "C2", .len = 2 },
		{ .id = "d", .xml = "D", .len = 1 },
	};
	memset(&rm, 0, sizeof(rm));
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &other, cd, 2, 0, 0, NULL,
					   removed_cb, &rm),
			 XS_OK);
	assert_string_equal(rm.s, "a,b");
	assert_string_equal(items_all(st, "alice", "bm", &a), "c=C2,d=D");
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "bm", &out), XS_OK);
	assert_cfg_equal(&out, &cfg);

	/* More than max_items: refused, nothing changed, nothing reported. */
	const struct store_pep_item four[] = {
		{ .id = "w", .xml = "W", .len = 1 }, { .id = "x", .xml = "X", .len = 1 },
		{ .id = "y", .xml = "Y", .len = 1 }, { .id = "z", .xml = "Z", .len = 1 },
	};
	memset(&rm, 0, sizeof(rm));
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &cfg, four, 4, 0, 0, NULL,
					   removed_cb, &rm),
			 XS_LIMIT);
	assert_string_equal(rm.s, "");
	assert_string_equal(items_all(st, "alice", "bm", &a), "c=C2,d=D");
	/* A new node refused for its size is not created either. */
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "new", &cfg, four, 4, 0, 0, NULL,
					   NULL, NULL),
			 XS_LIMIT);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "new", &out), XS_NOTFOUND);

	/* An id given twice is stored once, where it last occurs; order is
	 * the order given. */
	const struct store_pep_item dup[] = {
		{ .id = "x", .xml = "X1", .len = 2 },
		{ .id = "d", .xml = "D", .len = 1 },
		{ .id = "x", .xml = "X2", .len = 2 },
	};
	memset(&rm, 0, sizeof(rm));
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &cfg, dup, 3, 0, 0, NULL,
					   removed_cb, &rm),
			 XS_OK);
	assert_string_equal(rm.s, "c");
	assert_string_equal(items_all(st, "alice", "bm", &a), "d=D,x=X2");

	/* Nothing: the node is emptied and stays. */
	memset(&rm, 0, sizeof(rm));
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &cfg, NULL, 0, 0, 0, NULL,
					   removed_cb, &rm),
			 XS_OK);
	assert_string_equal(rm.s, "d,x");
	assert_string_equal(items_all(st, "alice", "bm", &a), "");
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "bm", &out), XS_OK);

	/* Without persist_items the limit is one item. */
	struct store_pep_config one = cfg_of(STORE_PEP_OPEN, false, 10, true, false);
	assert_int_equal(
		store_pep_replace(st, DOMAIN, "alice", "one", &one, abc, 2, 0, 0, NULL, NULL, NULL),
		XS_LIMIT);
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "one", &one, abc + 1, 1, 0, 0, NULL,
					   NULL, NULL),
			 XS_OK);
	assert_string_equal(items_all(st, "alice", "one", &a), "b=B");
	store_close(st);
}

/* --- the byte quota --- */

/* len bytes of c, the payload of the quota tests (at most 255; the last
 * 16 stay valid). */
static const char *fill(char c, size_t len)
{
	static char buf[16][256];
	static unsigned next;
	char *b = buf[next++ % 16];
	assert_true(len < sizeof(buf[0]));
	memset(b, c, len);
	b[len] = '\0';
	return b;
}

/* Publishes len bytes of c as item id of local's node under a quota of
 * max_bytes; *over as the call left it (set to true before, so a call that
 * does not clear it shows). */
static enum xs pub_q(struct store *st, const char *local, const char *node,
		     const struct store_pep_config *cfg, const char *id, char c, size_t len,
		     uint64_t max_bytes, bool *over)
{
	struct store_pep_config out;
	bool created = false;
	*over = true;
	return store_pep_publish(st, DOMAIN, local, node, cfg, 0, id, fill(c, len), len, 0,
				 max_bytes, over, &out, &created);
}

/* The account's payload bytes, from a connection of its own. */
static int bytes_of(const char *path, const char *local)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(length(payload)), 0) FROM pep_item JOIN pep_node"
		 " ON pep_item.node_id = pep_node.id WHERE localpart = '%s'",
		 local);
	return db_int(path, sql);
}

/* The item ids and payload lengths of a node as "id:len", oldest first. */
static void lens_cb(void *arg, const struct store_pep_item *it)
{
	acc_add(arg, "%s:%zu", it->id, it->len);
}

static const char *lens_of(struct store *st, const char *local, const char *node, struct acc *a)
{
	struct store_pep_config out;
	char owner[128];
	snprintf(owner, sizeof(owner), "%s@%s", local, DOMAIN);
	memset(a, 0, sizeof(*a));
	assert_int_equal(store_pep_items(st, DOMAIN, local, node, owner, NULL, 0, 0, lens_cb, a,
					 &out),
			 XS_OK);
	return a->s;
}

static void test_pep_quota_publish(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 10, true, false), out;
	struct store_pep_config single = cfg_of(STORE_PEP_OPEN, false, 1, true, false);
	struct acc a;
	bool over, created;

	/* Up to the quota, and onto it exactly: published. */
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i1", 'a', 30, 100, &over), XS_OK);
	assert_false(over);
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i2", 'b', 30, 100, &over), XS_OK);
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i3", 'c', 30, 100, &over), XS_OK);
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i4", 'd', 9, 100, &over), XS_OK);
	assert_false(over);
	assert_int_equal(bytes_of(d->db, "alice"), 99);
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i5", 'e', 1, 100, &over), XS_OK);
	assert_false(over);
	assert_int_equal(bytes_of(d->db, "alice"), 100);
	const char *full = "i1:30,i2:30,i3:30,i4:9,i5:1";
	assert_string_equal(lens_of(st, "alice", "n", &a), full);

	/* One byte more: refused, the node exactly as it was. */
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i6", 'f', 1, 100, &over), XS_LIMIT);
	assert_true(over);
	assert_string_equal(lens_of(st, "alice", "n", &a), full);
	assert_string_equal(items_all(st, "alice", "n", &a),
			    "i1=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,i2=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,"
			    "i3=cccccccccccccccccccccccccccccc,i4=ddddddddd,i5=e");
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item"), 5);
	/* Also when it replaces an item of its id by a bigger one: the old
	 * item stays, still the one before the newest. */
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i4", 'g', 10, 100, &over), XS_LIMIT);
	assert_true(over);
	assert_string_equal(lens_of(st, "alice", "n", &a), full);
	/* A node it would create is not created; over_quota may be NULL. */
	created = true;
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "m", &cfg, 0, "x", "x", 1, 0, 100,
					   NULL, &out, &created),
			 XS_LIMIT);
	assert_false(created);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "m", &out), XS_NOTFOUND);

	/* The total is taken after the write: an item replaced by a smaller
	 * one under a full quota is fine, and so is one that pushes the
	 * oldest out of its node. */
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i1", 'h', 20, 100, &over), XS_OK);
	assert_false(over);
	assert_string_equal(lens_of(st, "alice", "n", &a), "i2:30,i3:30,i4:9,i5:1,i1:20");
	assert_int_equal(bytes_of(d->db, "alice"), 90);
	assert_int_equal(pub_q(st, "alice", "s", &single, "s1", 's', 10, 100, &over), XS_OK);
	assert_int_equal(pub_q(st, "alice", "s", &single, "s2", 't', 10, 100, &over), XS_OK);
	assert_false(over);
	assert_string_equal(lens_of(st, "alice", "s", &a), "s2:10");
	assert_int_equal(bytes_of(d->db, "alice"), 100);

	/* The quota counts all of the account's nodes: the full account
	 * takes nothing more on another node... */
	assert_int_equal(pub_q(st, "alice", "s", &single, "s3", 'u', 11, 100, &over), XS_LIMIT);
	assert_true(over);
	assert_string_equal(lens_of(st, "alice", "s", &a), "s2:10");
	assert_int_equal(pub_q(st, "alice", "m", &cfg, "x", 'x', 1, 100, &over), XS_LIMIT);
	assert_true(over);
	/* ...but not other accounts': bob's bytes are his own, and alice
	 * is not charged for them. */
	assert_int_equal(pub_q(st, "bob", "n", &cfg, "b1", 'b', 200, 0, &over), XS_OK);
	assert_false(over);
	assert_int_equal(pub_q(st, "bob", "n", &cfg, "b2", 'b', 1, 200, &over), XS_LIMIT);
	assert_true(over);
	assert_int_equal(pub_q(st, "carol", "n", &cfg, "c1", 'c', 100, 100, &over), XS_OK);
	assert_false(over);
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i2", 'i', 30, 100, &over), XS_OK);
	assert_int_equal(bytes_of(d->db, "alice"), 100);
	assert_int_equal(bytes_of(d->db, "bob"), 200);
	/* 0 is no limit. */
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "big", 'z', 200, 0, &over), XS_OK);
	assert_false(over);
	assert_int_equal(bytes_of(d->db, "alice"), 300);

	/* The other refusals leave over_quota false, even over the quota:
	 * the node limit, a precondition, bad arguments. */
	over = true;
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "m", &cfg, 0, "x", "x", 1, 2, 1,
					   &over, &out, &created),
			 XS_LIMIT);
	assert_false(over);
	over = true;
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n", &single, STORE_PEP_F_ALL, "x",
					   "x", 1, 0, 1, &over, &out, &created),
			 XS_DENIED);
	assert_false(over);
	over = true;
	assert_int_equal(store_pep_publish(st, DOMAIN, "alice", "n", &cfg, 0, "", "x", 1, 0, 1,
					   &over, &out, &created),
			 XS_INVAL);
	assert_false(over);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_node WHERE localpart = 'alice'"),
			 2);

	/* The sum is an index walk: the account's range of pep_node_key, each
	 * node's range of an index on pep_item (node_id first), no scan; the
	 * query is SQP_ACCOUNT_BYTES of store_sqlite_pep.c. */
	sqlite3 *raw = raw_open(d->db);
	sqlite3_stmt *plan;
	char steps[512] = "";
	assert_int_equal(sqlite3_prepare_v2(raw,
					    "EXPLAIN QUERY PLAN SELECT sum(length(i.payload))"
					    " FROM pep_node AS n JOIN pep_item AS i"
					    " ON i.node_id = n.id WHERE n.domain = ?1"
					    " AND n.localpart = ?2",
					    -1, &plan, NULL),
			 SQLITE_OK);
	while (sqlite3_step(plan) == SQLITE_ROW) {
		size_t used = strlen(steps);
		snprintf(steps + used, sizeof(steps) - used, "%s;",
			 (const char *)sqlite3_column_text(plan, 3));
	}
	sqlite3_finalize(plan);
	sqlite3_close(raw);
	if (!strstr(steps, "COVERING INDEX pep_node_key (domain=? AND localpart=?)") ||
	    !strstr(steps, "INDEX pep_item_") || !strstr(steps, "(node_id=?)") ||
	    strstr(steps, "SCAN"))
		fail_msg("plan: %s", steps);
	store_close(st);
}

static void test_pep_quota_replace(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_WHITELIST, true, 3, false, false), out;
	struct acc a, rm;
	bool over;

	/* 60 bytes on another node of alice's, and a lot on bob's. */
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i1", 'a', 30, 0, &over), XS_OK);
	assert_int_equal(pub_q(st, "alice", "n", &cfg, "i2", 'b', 30, 0, &over), XS_OK);
	assert_int_equal(pub_q(st, "bob", "bm", &cfg, "b", 'b', 200, 0, &over), XS_OK);

	/* A new node onto the quota exactly. */
	const struct store_pep_item first[] = {
		{ .id = "a", .xml = fill('A', 25), .len = 25 },
		{ .id = "b", .xml = fill('B', 15), .len = 15 },
	};
	over = true;
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &cfg, first, 2, 0, 100,
					   &over, NULL, NULL),
			 XS_OK);
	assert_false(over);
	assert_int_equal(bytes_of(d->db, "alice"), 100);

	/* One byte over: refused, nothing changed, nothing reported. */
	const struct store_pep_item more[] = {
		{ .id = "a", .xml = fill('C', 25), .len = 25 },
		{ .id = "c", .xml = fill('D', 16), .len = 16 },
	};
	memset(&rm, 0, sizeof(rm));
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &cfg, more, 2, 0, 100,
					   &over, removed_cb, &rm),
			 XS_LIMIT);
	assert_true(over);
	assert_string_equal(rm.s, "");
	assert_string_equal(lens_of(st, "alice", "bm", &a), "a:25,b:15");
	assert_string_equal(items_all(st, "alice", "bm", &a),
			    "a=AAAAAAAAAAAAAAAAAAAAAAAAA,b=BBBBBBBBBBBBBBB");
	assert_int_equal(bytes_of(d->db, "alice"), 100);
	/* A new node over the quota is not created. */
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "new", &cfg, first, 1, 0, 100,
					   &over, NULL, NULL),
			 XS_LIMIT);
	assert_true(over);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "new", &out), XS_NOTFOUND);

	/* Under a full quota, smaller contents are fine: the total is the
	 * one after the replacement. */
	const struct store_pep_item less[] = {
		{ .id = "b", .xml = fill('E', 10), .len = 10 },
		{ .id = "d", .xml = fill('F', 20), .len = 20 },
	};
	memset(&rm, 0, sizeof(rm));
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &cfg, less, 2, 0, 100,
					   &over, removed_cb, &rm),
			 XS_OK);
	assert_false(over);
	assert_string_equal(rm.s, "a");
	assert_string_equal(lens_of(st, "alice", "bm", &a), "b:10,d:20");
	assert_int_equal(bytes_of(d->db, "alice"), 90);
	/* ...and onto it again, bob's 200 bytes not counted. */
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &cfg, first, 2, 0, 100,
					   &over, NULL, NULL),
			 XS_OK);
	assert_false(over);
	assert_int_equal(bytes_of(d->db, "alice"), 100);

	/* The other refusals leave over_quota false: too many items, the
	 * node limit. */
	const struct store_pep_item four[] = {
		{ .id = "w", .xml = "W", .len = 1 }, { .id = "x", .xml = "X", .len = 1 },
		{ .id = "y", .xml = "Y", .len = 1 }, { .id = "z", .xml = "Z", .len = 1 },
	};
	over = true;
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "bm", &cfg, four, 4, 0, 1, &over,
					   NULL, NULL),
			 XS_LIMIT);
	assert_false(over);
	over = true;
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "new", &cfg, four, 1, 2, 1, &over,
					   NULL, NULL),
			 XS_LIMIT);
	assert_false(over);
	over = true;
	assert_int_equal(store_pep_replace(st, DOMAIN, "alice", "", &cfg, four, 1, 0, 1, &over,
					   NULL, NULL),
			 XS_INVAL);
	assert_false(over);
	assert_string_equal(lens_of(st, "alice", "bm", &a), "a:25,b:15");
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_node WHERE localpart = 'alice'"),
			 2);
	store_close(st);
}

static void test_pep_user_delete(void **state)
{
	struct tdir *d = *state;
	struct store *st = open_ok(d->db);
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 5, true, false), out;
	struct scram_cred c = { .hash = SCRAM_SHA256, .iterations = 4096, .salt_len = 4 };
	struct acc a;

	assert_int_equal(store_user_create(st, DOMAIN, "alice", NULL, &c), XS_OK);
	assert_int_equal(store_user_create(st, DOMAIN, "bob", NULL, &c), XS_OK);
	pub_ok(st, "alice", "n1", &cfg, "a", "A");
	pub_ok(st, "alice", "n1", &cfg, "b", "B");
	pub_ok(st, "alice", "n2", &cfg, "c", "C");
	pub_ok(st, "bob", "n1", &cfg, "d", "D");
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item"), 4);

	assert_int_equal(store_user_delete(st, DOMAIN, "alice"), XS_OK);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_node WHERE localpart = 'alice'"),
			 0);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_node"), 1);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item"), 1);
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "n1", &out), XS_NOTFOUND);
	assert_string_equal(items_all(st, "bob", "n1", &a), "d=D");
	/* An account created again under the name starts without nodes. */
	assert_int_equal(store_user_create(st, DOMAIN, "alice", NULL, &c), XS_OK);
	memset(&a, 0, sizeof(a));
	assert_int_equal(store_pep_nodes(st, DOMAIN, "alice", ALICE, node_cb, &a), XS_OK);
	assert_string_equal(a.s, "");
	store_close(st);
}

static void roster_count_cb(void *arg, const struct store_roster_item *it)
{
	assert_string_equal(it->contact, "bob@example.org");
	(*(unsigned *)arg)++;
}

/* An existing version-7 database gains the PEP tables, keeps the rest.
 * The migrations are append-only, so version 7 is the current schema
 * without version 8's tables. */
static void test_pep_migrate_from_v7(void **state)
{
	struct tdir *d = *state;
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 5, true, false), out;
	struct scram_cred c = { .hash = SCRAM_SHA256, .iterations = 4096, .salt_len = 4 };
	char err[256] = "";
	struct acc a;
	uint64_t ver;

	struct store *st = open_ok(d->db);
	assert_int_equal(store_user_create(st, DOMAIN, "alice", NULL, &c), XS_OK);
	roster_add(st, "alice", "bob@example.org", ROSTER_SUB_BOTH);
	store_close(st);
	sqlite3 *raw = raw_open(d->db);
	raw_exec(raw, "DROP TABLE archive_prefs_jid; DROP TABLE archive_prefs;"
		      " DROP TABLE pep_item; DROP TABLE pep_node; PRAGMA user_version = 7");
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'pep%'"),
			 0);
	sqlite3_close(raw);

	st = store_sqlite_open(d->db, STORE_OPEN_EXISTING, err, sizeof(err));
	if (!st)
		fail_msg("store_sqlite_open: %s", err);
	raw = raw_open(d->db);
	assert_int_equal(raw_int(raw, "PRAGMA user_version"), 9);
	assert_int_equal(store_sqlite_schema_version(), 9);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				      " AND name IN ('pep_node', 'pep_item')"),
			 2);
	assert_int_equal(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				      " AND name IN ('pep_node_key', 'pep_item_key',"
				      " 'pep_item_node')"),
			 3);
	sqlite3_close(raw);
	/* What was there came through... */
	assert_int_equal(store_user_exists(st, DOMAIN, "alice", &(bool){ false }), XS_OK);
	unsigned n_roster = 0;
	assert_int_equal(store_roster_get(st, DOMAIN, "alice", roster_count_cb, &n_roster, &ver),
			 XS_OK);
	assert_int_equal(n_roster, 1);
	assert_int_equal(ver, 1);
	/* ... and the new tables work. */
	pub_ok(st, "alice", "n", &cfg, "i", "I");
	assert_string_equal(items_all(st, "alice", "n", &a), "i=I");
	assert_int_equal(store_pep_config_get(st, DOMAIN, "alice", "n", &out), XS_OK);
	store_close(st);
	/* Opening again finds nothing to do. */
	st = open_ok(d->db);
	assert_string_equal(items_all(st, "alice", "n", &a), "i=I");
	store_close(st);
}

/* --- through the storage thread --- */

struct tctx {
	struct store_thread *th;
	struct queue results;
	pthread_t main_thread;
	int done_on_wrong_thread;
};

static void t_done(struct store_req *req, void *arg)
{
	struct tctx *ctx = arg;
	if (pthread_equal(pthread_self(), ctx->main_thread))
		ctx->done_on_wrong_thread++; /* only the worker writes it, read after stop */
	queue_push(&ctx->results, &req->qnode);
}

/* Submits req and waits for it to come back. */
static void t_roundtrip(struct tctx *ctx, struct store_req *req, enum store_op op,
			const char *local)
{
	struct pollfd pfd = { .fd = ctx->results.efd, .events = POLLIN };
	struct queue_node *qn;

	req->op = op;
	snprintf(req->domain, sizeof(req->domain), "%s", DOMAIN);
	snprintf(req->local, sizeof(req->local), "%s", local);
	req->status = XS_AGAIN; /* must be overwritten */
	req->done = t_done;
	req->done_arg = ctx;
	assert_int_equal(store_thread_submit(ctx->th, req), XS_OK);
	while (!(qn = queue_pop(&ctx->results))) {
		assert_int_equal(poll(&pfd, 1, 30000), 1);
		queue_ack_wakeup(&ctx->results);
	}
	assert_ptr_equal(qn, &req->qnode);
	test_hb_acquire(req);
}

static void t_publish(struct tctx *ctx, struct store_req *req, const char *node,
		      const struct store_pep_config *cfg, unsigned precond, const char *id,
		      const char *xml)
{
	memset(req, 0, sizeof(*req));
	req->pep_node = node;
	req->pep_cfg = *cfg;
	req->pep_precond = precond;
	req->pep_item_id = id;
	req->xml = xml;
	req->xml_len = strlen(xml);
	t_roundtrip(ctx, req, STORE_OP_PEP_PUBLISH, "alice");
}

static void test_pep_thread(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req;
	char err[256] = "";
	struct store_pep_config cfg = cfg_of(STORE_PEP_PRESENCE, true, 3, true, true);
	struct store_pep_config other = cfg_of(STORE_PEP_OPEN, false, 1, false, false);

	store_close(open_ok(d->db));
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	/* Publish: the node made with the config given. */
	t_publish(&ctx, &req, "tune", &cfg, 0, "t1", "<tune>1</tune>");
	assert_int_equal(req.status, XS_OK);
	assert_true(req.pep_created);
	assert_cfg_equal(&req.pep_cfg, &cfg);
	assert_null(req.pep_out);
	t_publish(&ctx, &req, "tune", &other, 0, "t2", "<tune>2</tune>");
	assert_int_equal(req.status, XS_OK);
	assert_false(req.pep_created);
	assert_cfg_equal(&req.pep_cfg, &cfg); /* out: the node's */
	/* A precondition not met: refused, the stored config out. */
	t_publish(&ctx, &req, "tune", &other, STORE_PEP_F_ACCESS, "t3", "<tune>3</tune>");
	assert_int_equal(req.status, XS_DENIED);
	assert_false(req.pep_created);
	assert_cfg_equal(&req.pep_cfg, &cfg);
	/* The node limit. */
	t_publish(&ctx, &req, "mood", &other, 0, "m1", "<mood/>");
	assert_int_equal(req.status, XS_OK);
	memset(&req, 0, sizeof(req));
	req.pep_node = "geoloc";
	req.pep_cfg = other;
	req.pep_item_id = "g1";
	req.xml = "<geoloc/>";
	req.xml_len = 9;
	req.pep_max_nodes = 2;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_PUBLISH, "alice");
	assert_int_equal(req.status, XS_LIMIT);

	/* Items: the owner's, oldest first, malloc'd. */
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_requester = ALICE;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_ITEMS, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_cfg_equal(&req.pep_cfg, &cfg);
	assert_int_equal(req.n_pep_out, 2);
	assert_null(req.pep_out[0].owner);
	assert_string_equal(req.pep_out[0].node, "tune");
	assert_string_equal(req.pep_out[0].id, "t1");
	assert_string_equal(req.pep_out[0].xml, "<tune>1</tune>");
	assert_int_equal(req.pep_out[0].len, 14);
	assert_string_equal(req.pep_out[1].id, "t2");
	store_pep_results_free(req.pep_out, req.n_pep_out);
	/* By id, newest max. */
	const char *ids[] = { "t2", "nope" };
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_requester = ALICE;
	req.pep_ids = ids;
	req.n_pep_ids = 2;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_ITEMS, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_pep_out, 1);
	assert_string_equal(req.pep_out[0].id, "t2");
	store_pep_results_free(req.pep_out, req.n_pep_out);
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_requester = ALICE;
	req.pep_max = 1;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_ITEMS, "alice");
	assert_int_equal(req.n_pep_out, 1);
	assert_string_equal(req.pep_out[0].id, "t2");
	store_pep_results_free(req.pep_out, req.n_pep_out);
	/* Someone without a subscription: refused, the config out, no
	 * results. */
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_requester = "zed@x.lit";
	t_roundtrip(&ctx, &req, STORE_OP_PEP_ITEMS, "alice");
	assert_int_equal(req.status, XS_DENIED);
	assert_cfg_equal(&req.pep_cfg, &cfg);
	assert_null(req.pep_out);
	assert_int_equal(req.n_pep_out, 0);

	/* Nodes, as others see them. */
	memset(&req, 0, sizeof(req));
	req.pep_requester = "zed@x.lit";
	t_roundtrip(&ctx, &req, STORE_OP_PEP_NODES, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_pep_out, 1);
	assert_string_equal(req.pep_out[0].node, "mood");
	assert_null(req.pep_out[0].id);
	assert_null(req.pep_out[0].xml);
	store_pep_results_free(req.pep_out, req.n_pep_out);
	memset(&req, 0, sizeof(req));
	req.pep_requester = ALICE;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_NODES, "alice");
	assert_int_equal(req.n_pep_out, 2);
	assert_string_equal(req.pep_out[0].node, "mood");
	assert_string_equal(req.pep_out[1].node, "tune");
	store_pep_results_free(req.pep_out, req.n_pep_out);

	/* Last items: the owner gets tune (mood does not send its last). */
	const char *owners[] = { ALICE, "bob@" DOMAIN };
	const char *nodes[] = { "mood", "tune" };
	memset(&req, 0, sizeof(req));
	req.pep_requester = ALICE;
	req.pep_ids = owners;
	req.n_pep_ids = 2;
	req.pep_nodes = nodes;
	req.n_pep_nodes = 2;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_LAST, "");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_pep_out, 1);
	assert_string_equal(req.pep_out[0].owner, ALICE);
	assert_string_equal(req.pep_out[0].node, "tune");
	assert_string_equal(req.pep_out[0].id, "t2");
	assert_string_equal(req.pep_out[0].xml, "<tune>2</tune>");
	store_pep_results_free(req.pep_out, req.n_pep_out);

	/* Replace: the removed ids come back. */
	const struct store_pep_item in[] = {
		{ .id = "t2", .xml = "<tune>2b</tune>", .len = 15 },
		{ .id = "t4", .xml = "<tune>4</tune>", .len = 14 },
	};
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_cfg = other;
	req.pep_in = in;
	req.n_pep_in = 2;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_REPLACE, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_int_equal(req.n_pep_out, 1);
	assert_string_equal(req.pep_out[0].id, "t1");
	assert_null(req.pep_out[0].node);
	store_pep_results_free(req.pep_out, req.n_pep_out);
	const struct store_pep_item many[4] = { in[0], in[1], in[0], in[1] };
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_cfg = other;
	req.pep_in = many;
	req.n_pep_in = 4;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_REPLACE, "alice");
	assert_int_equal(req.status, XS_LIMIT);
	assert_null(req.pep_out);

	/* Retract, configure, purge, delete. */
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_item_id = "t4";
	t_roundtrip(&ctx, &req, STORE_OP_PEP_RETRACT, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_true(req.pep_cfg.notify_retract);
	t_roundtrip(&ctx, &req, STORE_OP_PEP_RETRACT, "alice");
	assert_int_equal(req.status, XS_NOTFOUND);
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_cfg = other;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_CONFIG_SET, "alice");
	assert_int_equal(req.status, XS_OK);
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	t_roundtrip(&ctx, &req, STORE_OP_PEP_CONFIG_GET, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_cfg_equal(&req.pep_cfg, &other);
	t_roundtrip(&ctx, &req, STORE_OP_PEP_PURGE, "alice");
	assert_int_equal(req.status, XS_OK);
	t_roundtrip(&ctx, &req, STORE_OP_PEP_DELETE, "alice");
	assert_int_equal(req.status, XS_OK);
	t_roundtrip(&ctx, &req, STORE_OP_PEP_DELETE, "alice");
	assert_int_equal(req.status, XS_NOTFOUND);
	t_roundtrip(&ctx, &req, STORE_OP_PEP_CONFIG_GET, "alice");
	assert_int_equal(req.status, XS_NOTFOUND);
	/* No node named: refused. */
	memset(&req, 0, sizeof(req));
	t_roundtrip(&ctx, &req, STORE_OP_PEP_PURGE, "alice");
	assert_int_equal(req.status, XS_INVAL);

	store_thread_stop(ctx.th);
	assert_int_equal(ctx.done_on_wrong_thread, 0);
	assert_true(queue_is_empty(&ctx.results));
	queue_deinit(&ctx.results);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_node"), 1);
}

/* The quota through the storage thread: the request's pep_max_bytes in,
 * pep_over_quota out (and reset when the request is used again). */
static void test_pep_quota_thread(void **state)
{
	struct tdir *d = *state;
	struct tctx ctx;
	struct store_req req;
	char err[256] = "";
	struct store_pep_config cfg = cfg_of(STORE_PEP_OPEN, true, 5, true, false);

	store_close(open_ok(d->db));
	memset(&ctx, 0, sizeof(ctx));
	assert_int_equal(queue_init(&ctx.results), 0);
	ctx.main_thread = pthread_self();
	ctx.th = store_thread_start(d->db, 0, err, sizeof(err));
	if (!ctx.th)
		fail_msg("store_thread_start: %s", err);

	/* 10 + 10 under a quota of 20: both published. */
	t_publish(&ctx, &req, "tune", &cfg, 0, "t1", "0123456789");
	assert_int_equal(req.status, XS_OK);
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_cfg = cfg;
	req.pep_item_id = "t2";
	req.xml = "abcdefghij";
	req.xml_len = 10;
	req.pep_max_bytes = 20;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_PUBLISH, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_false(req.pep_over_quota);
	/* One byte more: XS_LIMIT for the quota, nothing written. */
	req.pep_item_id = "t3";
	req.xml = "x";
	req.xml_len = 1;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_PUBLISH, "alice");
	assert_int_equal(req.status, XS_LIMIT);
	assert_true(req.pep_over_quota);
	assert_false(req.pep_created);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item"), 2);
	/* The same request again, under no quota: published, the flag
	 * cleared. */
	req.pep_max_bytes = 0;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_PUBLISH, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_false(req.pep_over_quota);
	/* The node limit is XS_LIMIT without the flag. */
	req.pep_node = "mood";
	req.pep_max_nodes = 1;
	req.pep_max_bytes = 1;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_PUBLISH, "alice");
	assert_int_equal(req.status, XS_LIMIT);
	assert_false(req.pep_over_quota);

	/* Replace: over the quota refused, nothing removed or written; a
	 * smaller one under it done. */
	const struct store_pep_item big[] = { { .id = "r", .xml = "0123456789ab", .len = 12 } };
	const struct store_pep_item small[] = { { .id = "r", .xml = "0123456789", .len = 10 } };
	memset(&req, 0, sizeof(req));
	req.pep_node = "tune";
	req.pep_cfg = cfg;
	req.pep_in = big;
	req.n_pep_in = 1;
	req.pep_max_bytes = 10;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_REPLACE, "alice");
	assert_int_equal(req.status, XS_LIMIT);
	assert_true(req.pep_over_quota);
	assert_null(req.pep_out);
	assert_int_equal(db_int(d->db, "SELECT count(*) FROM pep_item"), 3);
	req.pep_in = small;
	t_roundtrip(&ctx, &req, STORE_OP_PEP_REPLACE, "alice");
	assert_int_equal(req.status, XS_OK);
	assert_false(req.pep_over_quota);
	assert_int_equal(req.n_pep_out, 3); /* t1, t2, t3 removed */
	store_pep_results_free(req.pep_out, req.n_pep_out);

	store_thread_stop(ctx.th);
	assert_int_equal(ctx.done_on_wrong_thread, 0);
	assert_true(queue_is_empty(&ctx.results));
	queue_deinit(&ctx.results);
	assert_int_equal(db_int(d->db, "SELECT sum(length(payload)) FROM pep_item"), 10);
}

int main(void)
{
	/* Keep the expected error lines (the malformed row) quiet. */
	log_set_level(LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pep_publish_create, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_payload_bytes, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_precondition, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_max_nodes, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_items_order_trim, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_access, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_retract_delete_purge, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_config, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_malformed_row, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_bad_arguments, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_last, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_replace, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_quota_publish, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_quota_replace, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_user_delete, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_migrate_from_v7, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_thread, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_pep_quota_thread, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
