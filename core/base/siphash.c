/* SipHash; see siphash.h.  Written from the specification ("SipHash: a
 * fast short-input PRF", section 2): c compression rounds per 8-byte word,
 * d finalization rounds. */
#include "core/base/siphash.h"

#include <errno.h>
#include <sys/random.h>

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline void sip_absorb(struct sip_state *s, uint64_t m, int c)
{
	s->v3 ^= m;
	for (int i = 0; i < c; i++)
		sip_round(s);
	s->v0 ^= m;
}

static inline uint64_t siphash_cd(const struct siphash_key *key, int c, int d, const void *data,
				  size_t len)
{
	const uint8_t *p = data;
	struct sip_state s = {
		.v0 = key->k0 ^ 0x736f6d6570736575ULL, /* "somepseu" */
		.v1 = key->k1 ^ 0x646f72616e646f6dULL, /* "dorandom" */
		.v2 = key->k0 ^ 0x6c7967656e657261ULL, /* "lygenera" */
		.v3 = key->k1 ^ 0x7465646279746573ULL, /* "tedbytes" */
	};
	size_t whole = len & ~(size_t)7;

	for (size_t i = 0; i < whole; i += 8)
		sip_absorb(&s, load_le64(p + i), c);
	/* the last word: the remaining bytes, and len mod 256 in the top byte */
	uint64_t last = (uint64_t)(len & 0xff) << 56;
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)p[whole + i] << (8 * i);
	sip_absorb(&s, last, c);
	s.v2 ^= 0xff;
	for (int i = 0; i < d; i++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len)
{
	return siphash_cd(key, 2, 4, data, len);
}

uint64_t siphash13(const struct siphash_key *key, const void *data, size_t len)
{
	return siphash_cd(key, 1, 3, data, len);
}

struct siphash_key siphash_key_from_bytes(const uint8_t bytes[16])
{
	struct siphash_key k = { load_le64(bytes), load_le64(bytes + 8) };
	return k;
}

int siphash_key_random(struct siphash_key *key)
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	*key = siphash_key_from_bytes(b);
	return 0;
}
