/* Per-address connection counts and failure memory; see peer_table.h. */
#include "mux/peer_table.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/hmap.h"
#include "core/base/queue.h" /* container_of */

struct peer_rec {
	struct hmap_entry he;
	unsigned conns;            /* open connections from this address */
	unsigned preauth;          /* of which not yet authenticated */
	unsigned fails;            /* remembered authentication failures */
	uint64_t fail_last_ms;
	uint64_t tokens;           /* new-connection bucket, in 1/1000 connection */
	uint64_t tokens_ms;        /* when it was last filled up */
	uint64_t reg_tokens;       /* registrations, in 1/3,600,000 registration */
	uint64_t reg_ms;           /* when that bucket was last filled up */
	/* LRU of records without connections: kept only for their failures */
	struct peer_rec *lru_prev, *lru_next;
	char key[PEER_KEY_LEN];
};

struct peer_table {
	pthread_mutex_t lock;
	struct peer_limits lim;
	struct hmap map;
	unsigned long long preauth;    /* unauthenticated connections in all */
	struct peer_rec *lru_old, *lru_new;
	size_t n_idle;
};

struct peer_table *peer_table_new(const struct peer_limits *lim)
{
	struct peer_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (hmap_init(&t->map, 256) != 0) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->lim = *lim;
	if (!t->lim.conn_burst)
		t->lim.conn_burst = 1;
	if (t->lim.v6_prefix < 1 || t->lim.v6_prefix > 128)
		t->lim.v6_prefix = 64;
	return t;
}

void peer_table_free(struct peer_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->map.buckets && i < t->map.n_buckets; i++) {
		struct hmap_entry *e = t->map.buckets[i];
		while (e) {
			struct hmap_entry *next = e->next;
			free(container_of(e, struct peer_rec, he));
			e = next;
		}
	}
	hmap_deinit(&t->map);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

unsigned peer_table_v6_prefix(const struct peer_table *t)
{
	return t->lim.v6_prefix;
}

static void key_v6(const struct in6_addr *a, unsigned prefix, char out[PEER_KEY_LEN])
{
	struct in6_addr m = *a;
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;
		m.s6_addr[i] &= keep >= 8 ? 0xff : (uint8_t)(0xff << (8 - keep));
	}
	char txt[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, &m, txt, sizeof(txt));
	snprintf(out, PEER_KEY_LEN, "%s/%u", txt, prefix);
}

bool peer_key_sockaddr(const struct sockaddr *sa, unsigned v6_prefix, char out[PEER_KEY_LEN])
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		return inet_ntop(AF_INET, &s4->sin_addr, out, PEER_KEY_LEN) != NULL;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, PEER_KEY_LEN) != NULL;
	key_v6(&s6->sin6_addr, v6_prefix, out);
	return true;
}

bool peer_key_text(const char *ip, unsigned v6_prefix, char out[PEER_KEY_LEN])
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1)
		return peer_key_sockaddr((struct sockaddr *)&s4, v6_prefix, out);
	if (inet_pton(AF_INET6, ip, &s6.sin6_addr) == 1)
		return peer_key_sockaddr((struct sockaddr *)&s6, v6_prefix, out);
	return false;
}

/* ---- the LRU of idle records (lock held) ---- */

static void lru_unlink(struct peer_table *t, struct peer_rec *r)
{
	if (r->lru_prev)
		r->lru_prev->lru_next = r->lru_next;
	else if (t->lru_old == r)
		t->lru_old = r->lru_next;
	if (r->lru_next)
		r->lru_next->lru_prev = r->lru_prev;
	else if (t->lru_new == r)
		t->lru_new = r->lru_prev;
	r->lru_prev = r->lru_next = NULL;
	t->n_idle--;
}

static void lru_push(struct peer_table *t, struct peer_rec *r)
{
	r->lru_next = NULL;
	r->lru_prev = t->lru_new;
	if (t->lru_new)
		t->lru_new->lru_next = r;
	else
		t->lru_old = r;
	t->lru_new = r;
	t->n_idle++;
}

static void rec_drop(struct peer_table *t, struct peer_rec *r)
{
	hmap_del(&t->map, &r->he);
	free(r);
}

/* One connection's worth of tokens, and a full bucket. */
#define TOKEN 1000u

static uint64_t bucket_cap(const struct peer_table *t)
{
	return (uint64_t)t->lim.conn_burst * TOKEN;
}

/* Tokens earned since the last fill: conn_rate a second is conn_rate
 * thousandths a millisecond. */
static void bucket_fill(const struct peer_table *t, struct peer_rec *r, uint64_t now_ms)
{
	uint64_t cap = bucket_cap(t);
	if (now_ms > r->tokens_ms && r->tokens < cap) {
		/* dt >= room earns at least room (conn_rate >= 1); below it the
		 * product stays far from overflowing (room <= 10^9 tokens) */
		uint64_t dt = now_ms - r->tokens_ms, room = cap - r->tokens;
		uint64_t earned = dt >= room ? room : dt * t->lim.conn_rate;
		r->tokens = earned >= room ? cap : r->tokens + earned;
	}
	/* threads read the clock at different moments: never back */
	if (now_ms > r->tokens_ms)
		r->tokens_ms = now_ms;
}

/* The registration bucket counts in units one millisecond earns at one
 * registration an hour: reg_per_hour of them a millisecond, and a full
 * bucket of reg_per_hour registrations is reg_per_hour * REG_UNIT. */
#define REG_UNIT 3600000ULL

static uint64_t reg_cap(const struct peer_table *t)
{
	return (uint64_t)t->lim.reg_per_hour * REG_UNIT;
}

static void reg_fill(const struct peer_table *t, struct peer_rec *r, uint64_t now_ms)
{
	uint64_t cap = reg_cap(t);
	if (now_ms > r->reg_ms && r->reg_tokens < cap) {
		/* an hour or more refills it all; below that, dt * rate is
		 * below 3.6e12, far from overflowing */
		uint64_t dt = now_ms - r->reg_ms;
		uint64_t earned = dt >= REG_UNIT ? cap : dt * t->lim.reg_per_hour;
		r->reg_tokens = earned >= cap - r->reg_tokens ? cap : r->reg_tokens + earned;
	}
	if (now_ms > r->reg_ms)
		r->reg_ms = now_ms;
}

/* Whether the record still remembers anything: failures, or a bucket
 * that has not filled up again (forgetting it would hand the address a
 * fresh burst). */
static bool rec_remembers(const struct peer_table *t, struct peer_rec *r, uint64_t now_ms)
{
	if (r->fails &&
	    (now_ms < r->fail_last_ms || now_ms - r->fail_last_ms <= t->lim.fail_memory_ms))
		return true;
	if (t->lim.reg_per_hour) {
		reg_fill(t, r, now_ms);
		if (r->reg_tokens < reg_cap(t))
			return true;
	}
	if (!t->lim.conn_rate)
		return false;
	bucket_fill(t, r, now_ms);
	return r->tokens < bucket_cap(t);
}

/* A record with no connection is kept only while it remembers something,
 * and then at the new end of the LRU; the oldest go when there are too
 * many, or when they have nothing more to remember (two looked at per
 * call, so the list cleans itself as it is used). */
static void rec_idle(struct peer_table *t, struct peer_rec *r, uint64_t now_ms)
{
	if (!rec_remembers(t, r, now_ms)) {
		rec_drop(t, r);
		return;
	}
	lru_push(t, r);
	for (int i = 0; i < 2 && t->lru_old != r && !rec_remembers(t, t->lru_old, now_ms); i++) {
		struct peer_rec *old = t->lru_old;
		lru_unlink(t, old);
		rec_drop(t, old);
	}
	while (t->n_idle > t->lim.max_idle && t->lru_old) {
		struct peer_rec *old = t->lru_old;
		lru_unlink(t, old);
		rec_drop(t, old);
	}
}

static struct peer_rec *rec_find(struct peer_table *t, const char *key)
{
	struct hmap_entry *e = hmap_get(&t->map, key);
	return e ? container_of(e, struct peer_rec, he) : NULL;
}

static struct peer_rec *rec_make(struct peer_table *t, const char *key, uint64_t now_ms)
{
	struct peer_rec *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->tokens = bucket_cap(t);
	r->tokens_ms = now_ms;
	r->reg_tokens = reg_cap(t);
	r->reg_ms = now_ms;
	snprintf(r->key, sizeof(r->key), "%s", key);
	hmap_put(&t->map, &r->he, r->key);
	return r;
}

static bool is_idle(const struct peer_rec *r)
{
	return r->conns == 0;
}

/* ---- connections ---- */

enum peer_verdict peer_conn_open(struct peer_table *t, const char *key, uint64_t now_ms,
				 bool exempt)
{
	enum peer_verdict v = PEER_OK;
	bool paced = t->lim.conn_rate && !exempt;
	pthread_mutex_lock(&t->lock);
	struct peer_rec *r = rec_find(t, key);
	if (r && paced)
		bucket_fill(t, r, now_ms);
	if (t->lim.max_preauth && t->preauth >= t->lim.max_preauth) {
		v = PEER_TOO_MANY_PREAUTH;
	} else if (r && !exempt && t->lim.max_per_addr && r->conns >= t->lim.max_per_addr) {
		v = PEER_TOO_MANY_FROM_ADDR;
	} else if (r && paced && r->tokens < TOKEN) {
		v = PEER_TOO_FAST;
	} else if (!r && !(r = rec_make(t, key, now_ms))) {
		v = PEER_NOMEM;
	} else {
		if (is_idle(r) && (r->lru_prev || r->lru_next || t->lru_old == r))
			lru_unlink(t, r);
		if (paced)
			r->tokens -= TOKEN;
		r->conns++;
		r->preauth++;
		t->preauth++;
	}
	pthread_mutex_unlock(&t->lock);
	return v;
}

void peer_conn_authenticated(struct peer_table *t, const char *key)
{
	pthread_mutex_lock(&t->lock);
	struct peer_rec *r = rec_find(t, key);
	if (r && r->preauth) {
		r->preauth--;
		t->preauth--;
	}
	pthread_mutex_unlock(&t->lock);
}

void peer_conn_close(struct peer_table *t, const char *key, bool preauth, uint64_t now_ms)
{
	pthread_mutex_lock(&t->lock);
	struct peer_rec *r = rec_find(t, key);
	if (r && r->conns) {
		r->conns--;
		if (preauth && r->preauth) {
			r->preauth--;
			t->preauth--;
		}
		if (is_idle(r))
			rec_idle(t, r, now_ms);
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- authentication failures ---- */

unsigned peer_auth_failed(struct peer_table *t, const char *key, uint64_t now_ms)
{
	unsigned n = 0;
	pthread_mutex_lock(&t->lock);
	struct peer_rec *r = rec_find(t, key);
	bool made = false;
	if (!r) {
		r = rec_make(t, key, now_ms);
		made = true;
	}
	if (r) {
		if (r->fails && now_ms - r->fail_last_ms > t->lim.fail_memory_ms)
			r->fails = 0;
		if (r->fails < UINT32_MAX)
			r->fails++;
		r->fail_last_ms = now_ms;
		n = r->fails;
		if (is_idle(r)) {
			/* most recently used: to the new end */
			if (!made)
				lru_unlink(t, r);
			rec_idle(t, r, now_ms);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

void peer_auth_succeeded(struct peer_table *t, const char *key)
{
	pthread_mutex_lock(&t->lock);
	struct peer_rec *r = rec_find(t, key);
	if (r)
		r->fails = 0;
	pthread_mutex_unlock(&t->lock);
}

/* ---- in-band registrations ---- */

bool peer_registration_take(struct peer_table *t, const char *key, uint64_t now_ms)
{
	if (!t->lim.reg_per_hour)
		return true;
	bool ok = false;
	pthread_mutex_lock(&t->lock);
	/* the caller's connection keeps the record; without one (it cannot
	 * happen) nothing is remembered, so nothing is allowed */
	struct peer_rec *r = rec_find(t, key);
	if (r) {
		reg_fill(t, r, now_ms);
		if (r->reg_tokens >= REG_UNIT) {
			r->reg_tokens -= REG_UNIT;
			ok = true;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return ok;
}

void peer_table_stats(struct peer_table *t, struct peer_stats *out)
{
	pthread_mutex_lock(&t->lock);
	out->records = t->map.count;
	out->idle_records = t->n_idle;
	out->preauth = t->preauth;
	pthread_mutex_unlock(&t->lock);
}

unsigned peer_conns(struct peer_table *t, const char *key)
{
	pthread_mutex_lock(&t->lock);
	struct peer_rec *r = rec_find(t, key);
	unsigned n = r ? r->conns : 0;
	pthread_mutex_unlock(&t->lock);
	return n;
}
