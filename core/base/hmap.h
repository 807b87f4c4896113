/* A small intrusive string-keyed hash map for single-thread owners (the
 * router's session tables, a mux thread's auth-failure records).  Values
 * embed a struct hmap_entry whose key string they own; the map never
 * allocates per entry, only its bucket array, which doubles when the load
 * passes 1.  Keys come from the network (JIDs with client-chosen
 * resources, peer addresses), so the hash is SipHash-1-3 under a random
 * key of each map's own: nobody outside can aim keys at one bucket. */
#ifndef XMPPD_HMAP_H
#define XMPPD_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/siphash.h"

struct hmap_entry {
	struct hmap_entry *next;
	uint64_t hash;
	const char *key;
};

struct hmap {
	struct hmap_entry **buckets;
	size_t n_buckets; /* power of two */
	size_t count;
	struct siphash_key key;
};

int hmap_init(struct hmap *m, size_t initial); /* 0 or -1 (ENOMEM, or no randomness) */
void hmap_deinit(struct hmap *m);                /* entries are the caller's */
struct hmap_entry *hmap_get(const struct hmap *m, const char *key);
void hmap_put(struct hmap *m, struct hmap_entry *e, const char *key); /* key must outlive e's membership; no duplicate check */
void hmap_del(struct hmap *m, struct hmap_entry *e);
uint64_t hmap_hash(const struct hmap *m, const char *key);

#endif
