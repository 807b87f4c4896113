/* Base64 (RFC 4648 §4, standard alphabet, padded) for SASL payloads.
 *
 * XMPP carries every SASL message base64-encoded in element text, and RFC
 * 6120 §6.4.2 demands that a receiver reject anything that is not clean
 * base64 with <incorrect-encoding/>.  So the decoder is strict: no
 * whitespace, no characters outside the alphabet, padding only at the end
 * and only to a multiple of four, and no stray bits in the last quantum
 * (each byte string has exactly one accepted encoding).  The lone "=" that
 * XMPP uses for an empty response decodes to zero bytes.  Pure functions. */
#ifndef XMPPD_BASE64_H
#define XMPPD_BASE64_H

#include <stddef.h>

#include "core/base/status.h"

/* Characters base64_encode() writes for n bytes, without the NUL. */
static inline size_t base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }
/* An upper bound on what base64_decode() writes for n characters. */
static inline size_t base64_decoded_max(size_t n) { return n / 4 * 3 + 3; }

/* Writes the encoding and a NUL; *out_len (may be NULL) gets the length
 * without the NUL.  XS_LIMIT if cap < base64_encoded_len(len) + 1. */
enum xs base64_encode(const void *in, size_t len, char *out, size_t cap, size_t *out_len);

/* XS_PROTO for anything but canonical base64 (or "="), XS_LIMIT if the
 * result does not fit in cap bytes. */
enum xs base64_decode(const char *in, size_t len, void *out, size_t cap, size_t *out_len);

#endif
