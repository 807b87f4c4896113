/* XEP-0185 dialback keys (see dialback_key.h), with wolfCrypt's SHA-256
 * and HMAC, the same build the TLS layer uses. */
#include "s2s/dialback_key.h"

#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "core/base/hex.h"

enum xs dialback_key(const uint8_t *secret, size_t secret_len, const char *receiving,
		     const char *originating, const char *stream_id,
		     char out[DIALBACK_KEY_LEN + 1])
{
	out[0] = '\0';
	if (!*receiving || !*originating || !*stream_id)
		return XS_INVAL;
	/* XEP-0185 2: the secret hashed, in hexadecimal, is the HMAC key */
	uint8_t h[WC_SHA256_DIGEST_SIZE];
	char hkey[2 * WC_SHA256_DIGEST_SIZE + 1];
	if (wc_Sha256Hash(secret, (word32)secret_len, h) != 0)
		return XS_IO;
	hex_lower(hkey, h, sizeof(h));
	const char *parts[] = { receiving, " ", originating, " ", stream_id };
	Hmac hmac;
	uint8_t mac[WC_SHA256_DIGEST_SIZE];
	enum xs st = XS_IO;
	if (wc_HmacInit(&hmac, NULL, INVALID_DEVID) != 0)
		return XS_NOMEM;
	if (wc_HmacSetKey(&hmac, WC_SHA256, (const uint8_t *)hkey, (word32)strlen(hkey)) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (wc_HmacUpdate(&hmac, (const uint8_t *)parts[i], (word32)strlen(parts[i])) != 0)
			goto out;
	if (wc_HmacFinal(&hmac, mac) != 0)
		goto out;
	hex_lower(out, mac, sizeof(mac));
	st = XS_OK;
out:
	wc_HmacFree(&hmac);
	explicit_bzero(h, sizeof(h));
	explicit_bzero(hkey, sizeof(hkey));
	return st;
}

bool dialback_key_equal(const char *got, size_t got_len,
			const char expected[DIALBACK_KEY_LEN + 1])
{
	if (got_len != DIALBACK_KEY_LEN)
		return false;
	unsigned char diff = 0;
	for (size_t i = 0; i < DIALBACK_KEY_LEN; i++) {
		/* a peer may send upper-case hex: the same key */
		unsigned char c = (unsigned char)got[i];
		if (c >= 'A' && c <= 'F')
			c = (unsigned char)(c + 32);
		diff |= (unsigned char)(c ^ (unsigned char)expected[i]);
	}
	return diff == 0;
}
