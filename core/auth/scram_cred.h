/* A stored SCRAM credential (RFC 5802 §3): what the server keeps instead of
 * a password.  One per hash function per account. */
#ifndef XMPPD_SCRAM_CRED_H
#define XMPPD_SCRAM_CRED_H

#include <stddef.h>
#include <stdint.h>

enum scram_hash { SCRAM_SHA1 = 0, SCRAM_SHA256 = 1 };

#define SCRAM_MAX_SALT 64
#define SCRAM_MAX_HASH 32 /* SHA-256 digest size */

struct scram_cred {
	enum scram_hash hash;
	unsigned iterations;
	size_t salt_len;
	uint8_t salt[SCRAM_MAX_SALT];
	uint8_t stored_key[SCRAM_MAX_HASH]; /* H(ClientKey); first hash_len bytes used */
	uint8_t server_key[SCRAM_MAX_HASH]; /* HMAC(SaltedPassword, "Server Key") */
};

static inline size_t scram_hash_len(enum scram_hash h) { return h == SCRAM_SHA1 ? 20 : 32; }

#endif
