/* A small intrusive string-keyed hash map for single-thread owners (the
 * router's session tables).  Values embed a struct hmap_entry whose key
 * string they own; the map never allocates per entry, only its bucket array,
 * which doubles when the load passes 1. */
#ifndef XMPPD_HMAP_H
#define XMPPD_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_entry {
	struct hmap_entry *next;
	uint64_t hash;
	const char *key;
};

struct hmap {
	struct hmap_entry **buckets;
	size_t n_buckets; /* power of two */
	size_t count;
};

int hmap_init(struct hmap *m, size_t initial); /* 0 or -1 (ENOMEM) */
void hmap_deinit(struct hmap *m);                /* entries are the caller's */
struct hmap_entry *hmap_get(const struct hmap *m, const char *key);
void hmap_put(struct hmap *m, struct hmap_entry *e, const char *key); /* key must outlive e's membership; no duplicate check */
void hmap_del(struct hmap *m, struct hmap_entry *e);
uint64_t hmap_hash(const char *key);

#endif
