/* Shared fixture for the tls/ unit tests (test_tls.c, test_tls_sleep.c,
 * test_tls_cert.c): certificates generated into a temporary directory, a
 * two-host context set, and the in-memory plumbing that joins a client and
 * a server session without sockets.
 *
 * Header-only on purpose: tests/CMakeLists.txt builds each test_*.c on its
 * own, so a separate .c here would not be compiled.  Every function is
 * `static inline` so a test that does not use one stays clean under
 * -Wall -Werror (-Wunused-function ignores inline functions).  It
 * includes <cmocka.h> and what cmocka.h needs before it. */
#ifndef XMPPD_TESTS_TLS_FIXTURE_H
#define XMPPD_TESTS_TLS_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf/cfg.h"
#include "tls/tls.h"
#include "tls/tls_cert.h"

/* ---- counting allocator for wolfSSL ---- */

/* Handed to wolfSSL_SetAllocators before wolfSSL allocates anything, so
 * a test can measure what a session holds in wolfSSL's heap (idle, asleep,
 * after free).  A header in front of each block remembers its size; 16
 * bytes keeps the block aligned for anything. */
#define WOLF_HDR 16
static atomic_long wolf_bytes;   /* bytes wolfSSL holds */
static atomic_long wolf_blocks;  /* blocks wolfSSL holds */

static inline void *count_malloc(size_t n)
{
	uint8_t *p = malloc(n + WOLF_HDR);

	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	atomic_fetch_add(&wolf_bytes, (long)n);
	atomic_fetch_add(&wolf_blocks, 1);
	return p + WOLF_HDR;
}

static inline void count_free(void *ptr)
{
	uint8_t *p = ptr;
	size_t n;

	if (p == NULL)
		return;
	p -= WOLF_HDR;
	memcpy(&n, p, sizeof(n));
	atomic_fetch_sub(&wolf_bytes, (long)n);
	atomic_fetch_sub(&wolf_blocks, 1);
	free(p);
}

/* A resized block is still one block: only the byte count moves. */
static inline void *count_realloc(void *ptr, size_t n)
{
	uint8_t *p, *q;
	size_t old;

	if (ptr == NULL)
		return count_malloc(n);
	p = (uint8_t *)ptr - WOLF_HDR;
	memcpy(&old, p, sizeof(old));
	q = realloc(p, n + WOLF_HDR);
	if (q == NULL)
		return NULL;
	memcpy(q, &n, sizeof(n));
	atomic_fetch_add(&wolf_bytes, (long)n - (long)old);
	return q + WOLF_HDR;
}

/* ---- certificates ---- */

/* Generates a self-signed certificate for `domain`, valid `days` days, as
 * <dir>/<base>.crt and <dir>/<base>.key and leaves both paths (`cap` bytes
 * each) in cert and key.  Real files, because tls_ctx_set_new and
 * tls_cert_inspect take paths, as the server's configuration does. */
static inline int fix_make_cert(const char *dir, const char *base, const char *domain,
				unsigned days, char *cert, char *key, size_t cap)
{
	char err[256];

	snprintf(cert, cap, "%s/%s.crt", dir, base);
	snprintf(key, cap, "%s/%s.key", dir, base);
	if (tls_cert_generate(domain, cert, key, days, err, sizeof(err)) != XS_OK) {
		fprintf(stderr, "generate: %s\n", err);
		return -1;
	}
	return 0;
}

/* ---- two-host fixture ---- */

struct fix {
	char dir[64];
	char a_cert[128], a_key[128], b_cert[128], b_key[128];
	struct cfg *cfg;
	struct tls_ctx_set *set;      /* min 1.2, hosts a.test (default), b.test */
	struct tls_ctx_set *set13;    /* same hosts, min 1.3; only if a test makes it */
};

/* One fixture per test binary (cmocka group state); unused in
 * test_tls_cert.c, which keeps its own files. */
static struct fix *F __attribute__((unused));

static inline void fix_host(struct cfg_host *h, const char *domain, const char *cert,
			    const char *key)
{
	snprintf(h->domain, sizeof(h->domain), "%s", domain);
	snprintf(h->cert_file, sizeof(h->cert_file), "%s", cert);
	snprintf(h->key_file, sizeof(h->key_file), "%s", key);
}

/* Group setup body: certificates for a.test and b.test (30 days) in
 * /tmp/<name>.XXXXXX, and F->set serving both with TLS 1.2 as the floor.
 * A test wanting more (F->set13) adds it after this returns 0. */
static inline int fix_init(const char *name)
{
	char err[256];

	F = calloc(1, sizeof(*F));
	if (F == NULL || tls_global_init() != XS_OK)
		return -1;
	snprintf(F->dir, sizeof(F->dir), "/tmp/%s.XXXXXX", name);
	if (mkdtemp(F->dir) == NULL)
		return -1;
	if (fix_make_cert(F->dir, "a", "a.test", 30, F->a_cert, F->a_key, sizeof(F->a_cert)) ||
	    fix_make_cert(F->dir, "b", "b.test", 30, F->b_cert, F->b_key, sizeof(F->b_cert)))
		return -1;
	/* Fill only what tls_ctx_set_new reads, rather than write and parse
	 * a configuration file: cfg.c has its own tests. */
	F->cfg = calloc(1, sizeof(*F->cfg));
	if (F->cfg == NULL)
		return -1;
	F->cfg->tls_min_version = 12;
	F->cfg->n_hosts = 2;
	fix_host(&F->cfg->hosts[0], "a.test", F->a_cert, F->a_key);
	fix_host(&F->cfg->hosts[1], "b.test", F->b_cert, F->b_key);
	F->set = tls_ctx_set_new(F->cfg, err, sizeof(err));
	if (F->set == NULL) {
		fprintf(stderr, "ctx set: %s\n", err);
		return -1;
	}
	return 0;
}

/* Group teardown: undoes fix_init (and set13 if a test made it). */
static inline int fix_teardown(void **state)
{
	(void)state;
	tls_ctx_set_unref(F->set);
	tls_ctx_set_unref(F->set13);
	unlink(F->a_cert);
	unlink(F->a_key);
	unlink(F->b_cert);
	unlink(F->b_key);
	rmdir(F->dir);
	free(F->cfg);
	free(F);
	tls_global_cleanup();
	return 0;
}

/* ---- plumbing ---- */

/* Moves all pending ciphertext from one session to the other: the wire,
 * in one piece. */
static inline void xfer(struct tls_sess *from, struct tls_sess *to)
{
	size_t len;
	const void *p = tls_sess_out_peek(from, &len);

	if (len == 0)
		return;
	assert_int_equal(tls_sess_feed(to, p, len), XS_OK);
	tls_sess_out_consume(from, len);
}

/* Runs both handshakes until both finish or one fails (after letting the
 * failing side's alert reach the other), and leaves the last status of
 * each in cst and sst; for tests that expect a failure. */
static inline void pump(struct tls_sess *c, struct tls_sess *s, enum xs *cst, enum xs *sst)
{
	*cst = *sst = XS_AGAIN;
	for (int i = 0; i < 20; i++) {
		*cst = tls_sess_handshake(c);
		xfer(c, s);
		*sst = tls_sess_handshake(s);
		xfer(s, c);
		if (*cst == XS_OK && *sst == XS_OK)
			return;
		if (*cst == XS_TLS || *sst == XS_TLS) {
			*cst = tls_sess_handshake(c);
			xfer(c, s);
			*sst = tls_sess_handshake(s);
			return;
		}
	}
}

/* pump() for tests that only need a working connection: both ends must
 * finish. */
static inline void pump_ok(struct tls_sess *c, struct tls_sess *s)
{
	enum xs cst, sst;

	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(sst, XS_OK);
}

/* A client session offering ALPN xmpp-client; min and max are TLS
 * versions (12, 13, or 0 for the library's bound). */
static inline struct tls_sess *client(const char *name, const char *ca, bool verify, int min,
				      int max)
{
	struct tls_client_opts o = {
		.server_name = name, .ca_file = ca, .verify = verify,
		.alpn = "xmpp-client", .min_version = min, .max_version = max,
	};
	char err[256] = "";
	struct tls_sess *c = tls_sess_new_client(&o, err, sizeof(err));

	if (c == NULL)
		fail_msg("tls_sess_new_client: %s", err);
	return c;
}

/* Reads everything the session has ready into buf (tls_sess_read gives at
 * most one record per call). */
static inline size_t drain(struct tls_sess *s, uint8_t *buf, size_t cap)
{
	size_t got = 0, n;

	while (got < cap && tls_sess_read(s, buf + got, cap - got, &n) == XS_OK)
		got += n;
	return got;
}

/* Inner ciphertext from `ifrom` travels as outer plaintext ofrom -> oto,
 * and what the outer receiver decrypts is fed to `ito`: one step of TLS
 * inside TLS. */
static inline void inner_xfer(struct tls_sess *ifrom, struct tls_sess *ofrom,
			      struct tls_sess *oto, struct tls_sess *ito)
{
	uint8_t buf[4096];
	size_t len, w, n;
	const void *p = tls_sess_out_peek(ifrom, &len);

	if (len > 0) {
		assert_int_equal(tls_sess_write(ofrom, p, len, &w), XS_OK);
		assert_int_equal(w, len);
		tls_sess_out_consume(ifrom, len);
	}
	xfer(ofrom, oto);
	while (tls_sess_read(oto, buf, sizeof(buf), &n) == XS_OK && n > 0)
		assert_int_equal(tls_sess_feed(ito, buf, n), XS_OK);
}

/* Handshakes the inner pair ic/is through the established outer pair
 * oc/os (the client's STARTTLS inside direct TLS); both must finish. */
static inline void inner_pump_ok(struct tls_sess *oc, struct tls_sess *os,
				 struct tls_sess *ic, struct tls_sess *is)
{
	enum xs ict = XS_AGAIN, ist = XS_AGAIN;

	for (int i = 0; i < 20 && !(ict == XS_OK && ist == XS_OK); i++) {
		ict = tls_sess_handshake(ic);
		inner_xfer(ic, oc, os, is);
		ist = tls_sess_handshake(is);
		inner_xfer(is, os, oc, ic);
		assert_true(ict != XS_TLS && ist != XS_TLS);
	}
	assert_int_equal(ict, XS_OK);
	assert_int_equal(ist, XS_OK);
}

#endif
