/* What the files of tls/ share among themselves and nobody else sees: the
 * wolfSSL headers, the server-context lookup that tls_wolfssl.c calls once
 * it has peeked at a ClientHello, and small helpers for wolfSSL's numbers.
 * Code outside tls/ includes tls/tls.h only. */
#ifndef XMPPD_TLS_INT_H
#define XMPPD_TLS_INT_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "tls/tls.h"

/* The context for a requested server name: the matching host's, else the
 * default host's.  Never NULL.  The pointer stays valid while the caller
 * holds a reference on set; wolfSSL_new() takes its own reference too. */
WOLFSSL_CTX *tls_ctx_set_pick(struct tls_ctx_set *set, const char *sni);

/* 12 -> WOLFSSL_TLSV1_2, 13 -> WOLFSSL_TLSV1_3, anything else -> -1. */
int tls_version_to_wolfssl(int version);

/* wolfSSL's text for an error code, always NUL-terminated. */
void tls_wolfssl_strerror(int code, char *buf, size_t len);

/* Formats one line into err (if not NULL); callers decide about logging. */
void tls_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether key_path holds the private key of the first certificate in
 * cert_path (tls_cert.c).  XS_OK with *matches set, or an error in err. */
enum xs tls_key_file_matches(const char *cert_path, const char *key_path, bool *matches,
			     char *err, size_t errlen);

/* RFC 5929 tls-server-end-point data of the first certificate in
 * cert_path: its hash under its signature's hash algorithm (SHA-256 for
 * MD5, SHA-1 and SHA-256; SHA-384, SHA-512), 32 to 64 bytes. */
enum xs tls_cert_end_point(const char *cert_path, uint8_t out[TLS_END_POINT_MAX], size_t *len,
			   char *err, size_t errlen);

/* The tls-server-end-point data of the host a server session picked for
 * sni (the same choice as tls_ctx_set_pick); false if it has none. */
bool tls_ctx_set_end_point(const struct tls_ctx_set *set, const char *sni,
			   uint8_t out[TLS_END_POINT_MAX], size_t *len);

/* What tls_hello.c makes of the first record of a server session. */
enum tls_hello_verdict {
	TLS_HELLO_OK,          /* let wolfSSL handle it */
	TLS_HELLO_NO_GROUP,    /* supported_groups has no group we can use */
	TLS_HELLO_ONLY_FFDHE,  /* ... and offers FFDHE groups (RFC 7919) */
};
enum tls_hello_verdict tls_hello_check(const uint8_t *rec, size_t len);

#endif
