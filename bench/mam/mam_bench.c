/* mam_bench: the message archive's figures (XEP-0313 storage: "a query for
 * the last 50 messages of one conversation stays under a millisecond at
 * 1,000,000 archived messages", measured here rather than in a timed test).
 *
 * It makes a fresh store in a temp directory (under $TMPDIR, else /tmp),
 * creates ACCOUNTS accounts and archives MESSAGES messages through the
 * SQLite backend (store.h) in batches of BATCH, one write transaction each,
 * as the storage worker does under load.  Each message goes to a random
 * account and one of its CONVERSATIONS conversations, except that HEAVY
 * percent of them all go to one account (the heavy one), whose
 * conversations are then a hundred times deeper than the others': a page
 * taken from the newest end of a deep conversation is the case an index
 * must make cheap, and with an even spread every conversation would hold
 * only MESSAGES / (ACCOUNTS * CONVERSATIONS) messages.  Stamps are one
 * millisecond apart, in archive order.
 *
 * The store is then closed (which checkpoints the WAL and runs PRAGMA
 * optimize, as a server's restart would) and its size printed, reopened,
 * and each query is timed REPS times (CLOCK_MONOTONIC around the
 * store_mam_query call, the callback included), each repetition on a
 * conversation or account drawn at random; the median, p99 and the
 * longest are printed:
 *
 *   conv_last50        the newest 50 of a conversation (RSM <before/>)
 *   conv_last50_heavy  the same, in the heavy account
 *   acct_last50        the newest 50 of an account, every conversation
 *   acct_last50_heavy  the same, the heavy account
 *   conv_after50_heavy the 50 after a random message of a heavy
 *                      conversation (RSM <after/>: paging forwards)
 *   conv_end50_heavy   the newest 50 of a heavy conversation stamped before
 *                      the middle of the run (XEP-0313 end): the walk back
 *                      skips the later half of that conversation in the
 *                      index, the cost of a time filter far from the end
 *
 * Last, it times STORE_MAM_EXPIRE_BATCH-message retention calls
 * (store_mam_expire), for the write lock one of them holds.
 *
 *   mam_bench [--messages N] [--accounts N] [--conversations N]
 *             [--heavy PERCENT] [--batch N] [--reps N] [--keep] [--json]
 *
 * The exit status is 0 whenever the run completed and every query
 * returned what it should (a full page); figures are never judged. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/store/store.h"

#define DOMAIN "bench.example"
#define T0_US 1760000000000000LL
#define PAGE 50

struct opts {
	unsigned long messages;
	unsigned accounts;
	unsigned conversations;
	unsigned heavy;
	unsigned batch;
	unsigned reps;
	bool keep;
	bool json;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: the same messages and the same queries on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static void die(const char *what, enum xs rc)
{
	fprintf(stderr, "mam_bench: %s: %s\n", what, xs_name(rc));
	exit(1);
}

/* Where each message went, so that anchors and time bounds can be drawn
 * from what is there: the heavy account's messages, by conversation. */
struct heavy_log {
	uint32_t *seq; /* message numbers, in order */
	size_t n, cap;
};

static void heavy_add(struct heavy_log *h, uint32_t seq)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 1024;
		h->seq = realloc(h->seq, h->cap * sizeof(*h->seq));
		if (!h->seq) {
			fprintf(stderr, "mam_bench: out of memory\n");
			exit(1);
		}
	}
	h->seq[h->n++] = seq;
}

static void name_account(char *buf, size_t size, unsigned a)
{
	snprintf(buf, size, "user%04u", a);
}

static void name_with(char *buf, size_t size, unsigned c)
{
	snprintf(buf, size, "contact%02u@remote.example", c);
}

static void name_id(char *buf, size_t size, uint32_t seq)
{
	/* An id as unguessable-looking as the router's, of about its length. */
	snprintf(buf, size, "%08" PRIx32 "-%08" PRIx32, seq, (uint32_t)(seq * 0x9e3779b1U));
}

struct slot {
	char with[64];
	char id[32];
	char xml[512];
};

static void create_accounts(struct store *st, unsigned n)
{
	struct scram_cred c;
	char name[32];

	memset(&c, 0, sizeof(c));
	c.hash = SCRAM_SHA256;
	c.iterations = 4096;
	c.salt_len = 16;
	for (unsigned a = 0; a < n; a++) {
		name_account(name, sizeof(name), a);
		enum xs rc = store_user_create(st, DOMAIN, name, NULL, &c);
		if (rc != XS_OK)
			die("user create", rc);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* Archives the messages; fills heavy[c] with the heavy account's message
 * numbers per conversation.  Returns the seconds it took; *batch_p50 and
 * *batch_p99 are the per-batch times (ms). */
static double fill(struct store *st, const struct opts *o, struct heavy_log *heavy,
		   double *batch_p50, double *batch_p99)
{
	struct store_mam_item *items = calloc(o->batch, sizeof(*items));
	struct slot *slots = calloc(o->batch, sizeof(*slots));
	size_t nbatches = (size_t)((o->messages + o->batch - 1) / o->batch);
	double *bt = calloc(nbatches ? nbatches : 1, sizeof(*bt));
	size_t nb = 0;

	if (!items || !slots || !bt) {
		fprintf(stderr, "mam_bench: out of memory\n");
		exit(1);
	}
	double t0 = now_s();
	for (unsigned long done = 0; done < o->messages;) {
		unsigned n = 0;
		for (; n < o->batch && done < o->messages; n++, done++) {
			uint32_t seq = (uint32_t)done;
			bool hv = rnd_below(100) < o->heavy;
			unsigned a = hv ? 0 : 1 + rnd_below(o->accounts - 1);
			unsigned c = rnd_below(o->conversations);
			struct store_mam_item *it = &items[n];
			struct slot *sl = &slots[n];

			if (hv)
				heavy_add(&heavy[c], seq);
			snprintf(it->domain, sizeof(it->domain), DOMAIN);
			name_account(it->local, sizeof(it->local), a);
			name_with(sl->with, sizeof(sl->with), c);
			name_id(sl->id, sizeof(sl->id), seq);
			int len = snprintf(sl->xml, sizeof(sl->xml),
					   "<message xmlns='jabber:client' from='%s@" DOMAIN
					   "/phone' to='%s/laptop' type='chat' id='%08" PRIx32 "'>"
					   "<body>message %" PRIu32 " of the archive benchmark, "
					   "about as long as a short chat line</body>"
					   "<stanza-id xmlns='urn:xmpp:sid:0' by='%s@" DOMAIN
					   "' id='%s'/></message>",
					   it->local, sl->with, seq, seq, it->local, sl->id);
			it->with = sl->with;
			it->stamp_us = T0_US + (int64_t)seq * 1000;
			it->stanza_id = sl->id;
			it->xml = sl->xml;
			it->len = (size_t)len;
		}
		double b0 = now_s();
		enum xs rc = store_mam_append(st, items, n, NULL);
		if (rc != XS_OK)
			die("append", rc);
		bt[nb++] = (now_s() - b0) * 1e3;
	}
	double dt = now_s() - t0;
	qsort(bt, nb, sizeof(*bt), cmp_double);
	*batch_p50 = nb ? pct(bt, nb, 0.5) : 0;
	*batch_p99 = nb ? pct(bt, nb, 0.99) : 0;
	free(bt);
	free(items);
	free(slots);
	return dt;
}

struct page {
	unsigned n;
	size_t bytes;
};

static void page_cb(void *arg, const char *stanza_id, int64_t stamp_us, const char *with,
		    const char *xml, size_t len)
{
	struct page *p = arg;
	p->n++;
	p->bytes += len + strlen(stanza_id) + strlen(with);
}

enum qkind {
	Q_CONV_LAST,
	Q_CONV_LAST_HEAVY,
	Q_ACCT_LAST,
	Q_ACCT_LAST_HEAVY,
	Q_CONV_AFTER_HEAVY,
	Q_CONV_END_HEAVY,
	Q__COUNT
};

static const char *const qname[Q__COUNT] = {
	"conv_last50", "conv_last50_heavy", "acct_last50",
	"acct_last50_heavy", "conv_after50_heavy", "conv_end50_heavy",
};

struct result {
	double p50, p99, max; /* microseconds */
};

/* Times one kind of query reps times; false when a page of the heavy
 * account came back short (a light conversation or account may hold less
 * than a page). */
static bool time_query(struct store *st, const struct opts *o, const struct heavy_log *heavy,
		       enum qkind k, struct result *r)
{
	double *us = calloc(o->reps, sizeof(*us));
	char local[32], with[64], anchor[32];
	bool ok = true;

	if (!us) {
		fprintf(stderr, "mam_bench: out of memory\n");
		exit(1);
	}
	for (unsigned i = 0; i < o->reps; i++) {
		struct store_mam_filter f = { .max = PAGE, .last_page = true };
		unsigned c = rnd_below(o->conversations);
		const struct heavy_log *h = &heavy[c];
		bool hv = k == Q_CONV_LAST_HEAVY || k == Q_ACCT_LAST_HEAVY ||
			  k == Q_CONV_AFTER_HEAVY || k == Q_CONV_END_HEAVY;
		unsigned want = hv ? PAGE : 0;

		name_account(local, sizeof(local), hv ? 0 : 1 + rnd_below(o->accounts - 1));
		name_with(with, sizeof(with), c);
		if (k == Q_CONV_LAST || k == Q_CONV_LAST_HEAVY || k == Q_CONV_AFTER_HEAVY ||
		    k == Q_CONV_END_HEAVY)
			f.with = with;
		if (k == Q_CONV_AFTER_HEAVY) {
			/* an anchor with at least a page after it */
			size_t at = h->n > PAGE ? rnd_below((unsigned)(h->n - PAGE)) : 0;
			name_id(anchor, sizeof(anchor), h->seq[at]);
			f.last_page = false;
			f.after_id = anchor;
		} else if (k == Q_CONV_END_HEAVY) {
			f.end_us = T0_US + (int64_t)(o->messages / 2) * 1000;
		}
		struct page p = { 0, 0 };
		bool complete = false;
		double t0 = now_s();
		enum xs rc = store_mam_query(st, DOMAIN, local, &f, page_cb, &p, &complete);
		us[i] = (now_s() - t0) * 1e6;
		if (rc != XS_OK)
			die(qname[k], rc);
		if ((want && p.n != want) || p.n > PAGE)
			ok = false;
	}
	qsort(us, o->reps, sizeof(*us), cmp_double);
	r->p50 = pct(us, o->reps, 0.5);
	r->p99 = pct(us, o->reps, 0.99);
	r->max = us[o->reps - 1];
	free(us);
	return ok;
}

static long long file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: mam_bench [--messages N] [--accounts N] [--conversations N] "
			"[--heavy PERCENT] [--batch N] [--reps N] [--keep] [--json]\n");
	exit(2);
}

static unsigned long num_arg(int argc, char **argv, int *i, unsigned long min)
{
	char *end;
	if (*i + 1 >= argc)
		usage();
	errno = 0;
	unsigned long v = strtoul(argv[++*i], &end, 10);
	if (errno || *end || v < min) {
		fprintf(stderr, "mam_bench: bad value for %s\n", argv[*i - 1]);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct opts o = { .messages = 1000000, .accounts = 1000, .conversations = 20,
			  .heavy = 10, .batch = 256, .reps = 2000 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--messages"))
			o.messages = num_arg(argc, argv, &i, 1);
		else if (!strcmp(argv[i], "--accounts"))
			o.accounts = (unsigned)num_arg(argc, argv, &i, 2);
		else if (!strcmp(argv[i], "--conversations"))
			o.conversations = (unsigned)num_arg(argc, argv, &i, 1);
		else if (!strcmp(argv[i], "--heavy"))
			o.heavy = (unsigned)num_arg(argc, argv, &i, 1);
		else if (!strcmp(argv[i], "--batch"))
			o.batch = (unsigned)num_arg(argc, argv, &i, 1);
		else if (!strcmp(argv[i], "--reps"))
			o.reps = (unsigned)num_arg(argc, argv, &i, 1);
		else if (!strcmp(argv[i], "--keep"))
			o.keep = true;
		else if (!strcmp(argv[i], "--json"))
			o.json = true;
		else
			usage();
	}
	if (o.heavy > 99)
		usage();
	log_set_level(LOG_LVL_WARN);

	const char *tmp = getenv("TMPDIR");
	char dir[512], db[600], err[256];
	snprintf(dir, sizeof(dir), "%s/mam_bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "mam_bench: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(db, sizeof(db), "%s/xmppd.db", dir);
	struct store *st = store_sqlite_open(db, STORE_OPEN_CREATE_FILE, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "mam_bench: %s\n", err);
		return 1;
	}
	struct heavy_log *heavy = calloc(o.conversations, sizeof(*heavy));
	if (!heavy)
		return 1;

	create_accounts(st, o.accounts);
	double bp50, bp99;
	double fill_s = fill(st, &o, heavy, &bp50, &bp99);
	double c0 = now_s();
	store_close(st); /* checkpoints the WAL into the file, PRAGMA optimize */
	double close_s = now_s() - c0;
	long long size = file_size(db);
	st = store_sqlite_open(db, STORE_OPEN_EXISTING, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "mam_bench: %s\n", err);
		return 1;
	}
	size_t heavy_min = SIZE_MAX, heavy_max = 0;
	for (unsigned c = 0; c < o.conversations; c++) {
		if (heavy[c].n < heavy_min)
			heavy_min = heavy[c].n;
		if (heavy[c].n > heavy_max)
			heavy_max = heavy[c].n;
	}
	if (heavy_min < PAGE + 1) {
		fprintf(stderr, "mam_bench: a heavy conversation holds %zu messages, fewer than "
				"a page and one; use more --messages or --heavy\n", heavy_min);
		return 1;
	}

	struct result r[Q__COUNT];
	bool ok = true;
	for (int k = 0; k < Q__COUNT; k++)
		ok &= time_query(st, &o, heavy, (enum qkind)k, &r[k]);

	/* Retention: batches off the oldest end, as a sweep would. */
	enum { EXPIRE_CALLS = 20 };
	double ex[EXPIRE_CALLS];
	unsigned deleted = 0;
	for (int i = 0; i < EXPIRE_CALLS; i++) {
		double t0 = now_s();
		enum xs rc = store_mam_expire(st, T0_US + (int64_t)(o.messages / 2) * 1000,
					      &deleted);
		ex[i] = (now_s() - t0) * 1e3;
		if (rc != XS_OK)
			die("expire", rc);
	}
	qsort(ex, EXPIRE_CALLS, sizeof(ex[0]), cmp_double);
	store_close(st);

	double per_conv = (double)o.messages * (100 - o.heavy) / 100.0 /
			  ((double)(o.accounts - 1) * o.conversations);
	if (o.json) {
		printf("{\"messages\":%lu,\"accounts\":%u,\"conversations\":%u,\"heavy_pct\":%u,"
		       "\"batch\":%u,\"reps\":%u,\"fill_s\":%.2f,\"append_per_s\":%.0f,"
		       "\"batch_ms_p50\":%.3f,\"batch_ms_p99\":%.3f,\"db_bytes\":%lld",
		       o.messages, o.accounts, o.conversations, o.heavy, o.batch, o.reps, fill_s,
		       (double)o.messages / fill_s, bp50, bp99, size);
		for (int k = 0; k < Q__COUNT; k++)
			printf(",\"%s_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f}", qname[k],
			       r[k].p50, r[k].p99, r[k].max);
		printf(",\"expire_ms\":{\"p50\":%.2f,\"p99\":%.2f},\"pages_ok\":%s}\n",
		       pct(ex, EXPIRE_CALLS, 0.5), pct(ex, EXPIRE_CALLS, 0.99),
		       ok ? "true" : "false");
	} else {
		printf("archive: %lu messages, %u accounts x %u conversations (%.0f messages "
		       "each; the heavy account's: %zu to %zu), %s\n",
		       o.messages, o.accounts, o.conversations, per_conv, heavy_min, heavy_max,
		       db);
		printf("append: %.2f s in batches of %u (%.0f messages/s; a batch p50 %.3f ms, "
		       "p99 %.3f ms); close %.2f s\n",
		       fill_s, o.batch, (double)o.messages / fill_s, bp50, bp99, close_s);
		printf("database: %lld bytes (%.1f MB, %.0f bytes a message)\n", size,
		       (double)size / 1e6, (double)size / (double)o.messages);
		printf("%-20s %10s %10s %10s   (us, %u repetitions, %d a page)\n", "query",
		       "p50", "p99", "max", o.reps, PAGE);
		for (int k = 0; k < Q__COUNT; k++)
			printf("%-20s %10.1f %10.1f %10.1f\n", qname[k], r[k].p50, r[k].p99,
			       r[k].max);
		printf("expire: %d calls of %d messages: p50 %.2f ms, max %.2f ms\n",
		       EXPIRE_CALLS, STORE_MAM_EXPIRE_BATCH, pct(ex, EXPIRE_CALLS, 0.5),
		       ex[EXPIRE_CALLS - 1]);
		printf("pages: %s\n", ok ? "all full" : "SOME SHORT");
	}
	for (unsigned c = 0; c < o.conversations; c++)
		free(heavy[c].seq);
	free(heavy);
	if (o.keep) {
		fprintf(stderr, "mam_bench: kept %s\n", dir);
	} else {
		char path[700];
		const char *suffix[] = { "", "-wal", "-shm" };
		for (int i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "%s%s", db, suffix[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	return ok ? 0 : 1;
}
