/* Intrusive chained hash map; see hmap.h. */
#include "core/base/hmap.h"

#include <stdlib.h>
#include <string.h>

uint64_t hmap_hash(const struct hmap *m, const char *key)
{
	return siphash13(&m->key, key, strlen(key));
}

int hmap_init(struct hmap *m, size_t initial)
{
	size_t n = 16;
	while (n < initial)
		n <<= 1;
	m->buckets = NULL;
	m->n_buckets = m->count = 0;
	if (siphash_key_random(&m->key) != 0)
		return -1;
	m->buckets = calloc(n, sizeof(*m->buckets));
	m->n_buckets = n;
	return m->buckets ? 0 : -1;
}

void hmap_deinit(struct hmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->n_buckets = m->count = 0;
}

struct hmap_entry *hmap_get(const struct hmap *m, const char *key)
{
	uint64_t h = hmap_hash(m, key);
	for (struct hmap_entry *e = m->buckets[h & (m->n_buckets - 1)]; e; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void hmap_grow(struct hmap *m)
{
	size_t n = m->n_buckets * 2;
	struct hmap_entry **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return; /* keep working with longer chains */
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct hmap_entry *e = m->buckets[i];
		while (e) {
			struct hmap_entry *next = e->next;
			size_t b = e->hash & (n - 1);
			e->next = nb[b];
			nb[b] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = nb;
	m->n_buckets = n;
}

void hmap_put(struct hmap *m, struct hmap_entry *e, const char *key)
{
	if (m->count >= m->n_buckets)
		hmap_grow(m);
	e->key = key;
	e->hash = hmap_hash(m, key);
	size_t b = e->hash & (m->n_buckets - 1);
	e->next = m->buckets[b];
	m->buckets[b] = e;
	m->count++;
}

void hmap_del(struct hmap *m, struct hmap_entry *e)
{
	struct hmap_entry **pp = &m->buckets[e->hash & (m->n_buckets - 1)];
	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = e->next;
		m->count--;
	}
}
