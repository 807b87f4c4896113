/* Dialback keys (XEP-0220 with XEP-0185's recommended algorithm):
 *
 *   key = hex(HMAC-SHA256(hex(SHA256(secret)),
 *                         receiving ' ' originating ' ' stream id))
 *
 * The secret is this server's own (generated once, kept beside the
 * database); a peer asking us to verify a key it was given gets "valid"
 * only if the same inputs give the same key.  For [s2s] dialback = true,
 * the fallback when a peer's certificate does not authenticate it. */
#ifndef XMPPD_S2S_DIALBACK_KEY_H
#define XMPPD_S2S_DIALBACK_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"

#define DIALBACK_KEY_LEN 64 /* hex characters, without the NUL */

/* The key for a stream: out gets DIALBACK_KEY_LEN lower-case hex digits
 * and a NUL.  XS_INVAL for an empty domain or stream id, XS_NOMEM/XS_IO
 * if wolfCrypt fails. */
enum xs dialback_key(const uint8_t *secret, size_t secret_len, const char *receiving,
		     const char *originating, const char *stream_id,
		     char out[DIALBACK_KEY_LEN + 1]);

/* Whether a key a peer sent (got, got_len bytes: surrounding XML
 * whitespace already trimmed) is the expected one, in time independent of
 * where they differ. */
bool dialback_key_equal(const char *got, size_t got_len,
			const char expected[DIALBACK_KEY_LEN + 1]);

#endif
