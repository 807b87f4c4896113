/* Checks on a ClientHello made before wolfSSL sees it.
 *
 * Key-exchange groups: this server does ECDHE only (the TLS 1.2 suites in
 * tls_ctx.c are ECDHE ones, and the lean wolfSSL build has no DH at all).
 * wolfSSL 5.5.4 mishandles a client whose supported_groups holds nothing it
 * can use: to a TLS 1.3 client offering only FFDHE groups it sends a
 * HelloRetryRequest without a key_share, and to a TLS 1.2 client offering
 * only ffdhe2048 (OpenSSL 3 then sends no supported_groups at all) it
 * negotiates P-256, which the client never offered.  Both
 * clients then fail with a confusing error of their own.  RFC 8446 4.1.1
 * and RFC 7919 4 ask for a fatal alert instead, which tls_wolfssl.c sends
 * when tls_hello_check() says so.
 *
 * The parser reads one plaintext record and is careful with every length:
 * the bytes come straight from the network.  Anything it cannot follow is
 * passed on (TLS_HELLO_OK) for wolfSSL to judge, so this check can only ever
 * refuse a well-formed ClientHello with no usable group. */
#include "tls/tls_int.h"

#include <string.h>

/* RFC 8446 4.2.7 / RFC 7919 codepoints. */
enum {
	GROUP_SECP256R1 = 23,
	GROUP_SECP384R1 = 24,
	GROUP_SECP521R1 = 25,
	GROUP_X25519 = 29,
	GROUP_X448 = 30,
	GROUP_FFDHE_FIRST = 256,  /* RFC 7919: 256..511 are FFDHE */
	GROUP_FFDHE_LAST = 511,
	EXT_SUPPORTED_GROUPS = 10,
};

/* The ECDHE groups wolfSSL may use.  The NIST curves are not told apart
 * by build: a client that offers only a curve this build lacks still gets
 * an alert from wolfSSL, just a less precise one. */
static bool tls_group_usable(unsigned g)
{
	switch (g) {
	case GROUP_SECP256R1:
	case GROUP_SECP384R1:
	case GROUP_SECP521R1:
		return true;
#ifdef HAVE_CURVE25519
	case GROUP_X25519:
		return true;
#endif
#ifdef HAVE_CURVE448
	case GROUP_X448:
		return true;
#endif
	}
	return false;
}

/* A bounded reader over the record. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static bool rd_skip(struct rd *r, size_t n)
{
	if (r->left < n)
		return false;
	r->p += n;
	r->left -= n;
	return true;
}

static bool rd_u8(struct rd *r, size_t *v)
{
	if (r->left < 1)
		return false;
	*v = r->p[0];
	return rd_skip(r, 1);
}

static bool rd_u16(struct rd *r, size_t *v)
{
	if (r->left < 2)
		return false;
	*v = (size_t)r->p[0] << 8 | r->p[1];
	return rd_skip(r, 2);
}

static bool rd_u24(struct rd *r, size_t *v)
{
	if (r->left < 3)
		return false;
	*v = (size_t)r->p[0] << 16 | (size_t)r->p[1] << 8 | r->p[2];
	return rd_skip(r, 3);
}

/* Judges a supported_groups extension body. */
static enum tls_hello_verdict tls_hello_groups(struct rd r)
{
	size_t len, g;
	bool ffdhe = false;

	if (!rd_u16(&r, &len) || len != r.left || len % 2 != 0 || len == 0)
		return TLS_HELLO_OK;
	while (rd_u16(&r, &g)) {
		if (tls_group_usable((unsigned)g))
			return TLS_HELLO_OK;
		if (g >= GROUP_FFDHE_FIRST && g <= GROUP_FFDHE_LAST)
			ffdhe = true;
	}
	return ffdhe ? TLS_HELLO_ONLY_FFDHE : TLS_HELLO_NO_GROUP;
}

enum tls_hello_verdict tls_hello_check(const uint8_t *rec, size_t len)
{
	struct rd r = { rec, len };
	size_t v, n;

	/* record header: handshake, any version, length */
	if (!rd_u8(&r, &v) || v != 0x16 || !rd_skip(&r, 2) || !rd_u16(&r, &n) || n > r.left)
		return TLS_HELLO_OK;
	r.left = n;
	/* handshake header: client_hello, body length (must fit the record) */
	if (!rd_u8(&r, &v) || v != 1 || !rd_u24(&r, &n) || n > r.left)
		return TLS_HELLO_OK;
	r.left = n;
	/* legacy_version, random, session id, suites, compression methods */
	if (!rd_skip(&r, 2 + 32) || !rd_u8(&r, &n) || !rd_skip(&r, n) ||
	    !rd_u16(&r, &n) || !rd_skip(&r, n) || !rd_u8(&r, &n) || !rd_skip(&r, n))
		return TLS_HELLO_OK;
	/* No extensions: an old TLS 1.2 client, which lets us pick any curve
	 * (RFC 8422 4). */
	if (!rd_u16(&r, &n) || n > r.left)
		return TLS_HELLO_OK;
	r.left = n;
	while (r.left >= 4) {
		size_t type, elen;
		struct rd body;

		if (!rd_u16(&r, &type) || !rd_u16(&r, &elen) || elen > r.left)
			return TLS_HELLO_OK;
		body = (struct rd){ r.p, elen };
		if (type == EXT_SUPPORTED_GROUPS)
			return tls_hello_groups(body);
		rd_skip(&r, elen);
	}
	/* Extensions but no supported_groups: RFC 8422 4 would let us pick
	 * any curve, but a client that sends extensions and leaves this one
	 * out has no curve to offer: OpenSSL 3 with only FFDHE groups set
	 * does exactly that for TLS 1.2, and rejects our P-256 with "wrong
	 * curve".  TLS 1.3 requires the extension (RFC 8446 9.2). */
	return r.left == 0 ? TLS_HELLO_NO_GROUP : TLS_HELLO_OK;
}
