/* SipHash (Aumasson and Bernstein, 2012): a keyed 64-bit hash for tables
 * whose keys come from the network.  With a secret random key per table, a
 * peer cannot choose keys that collide (hash flooding): the router's
 * session tables are keyed by JIDs whose resource part the client picks.
 * Tables use SipHash-1-3, the variant Rust's HashMap and CPython use for
 * the same job (about a third fewer rounds on a JID); SipHash-2-4, the
 * specification's default, is here for its published test vectors, which
 * check the shared code. */
#ifndef XMPPD_SIPHASH_H
#define XMPPD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key {
	uint64_t k0, k1;
};

uint64_t siphash13(const struct siphash_key *key, const void *data, size_t len);
uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);
/* The key from 16 bytes, read little-endian as the specification does. */
struct siphash_key siphash_key_from_bytes(const uint8_t bytes[16]);
/* A fresh random key (getrandom).  0, or -1 with errno set. */
int siphash_key_random(struct siphash_key *key);

#endif
