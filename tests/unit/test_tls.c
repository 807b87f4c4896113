/* Unit tests for tls/: client and server sessions joined in memory, with
 * certificates for a.test and b.test generated into a temporary directory.
 * Covered: SNI picks b.test's certificate (trusting b's certificate passes,
 * trusting a's fails), no or unknown SNI gets the first host, ALPN, the
 * tls-exporter value (equal on both ends, different per connection, absent
 * on TLS 1.2), data both ways with the ciphertext split at every byte,
 * TLS inside TLS, version floors, name mismatch, context-set errors, buffers
 * released when idle, close_notify, and the heap an idle server session
 * keeps (counted through wolfSSL's allocator hooks, printed for the bench
 * notes and bounded for the lean build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/memory.h>

#include "core/conf/cfg.h"
#include "tls/tls.h"
#include "tls/tls_cert.h"

#include "tls_fixture.h"

/* ---- fixture ---- */

/* tls_fixture.h's two hosts, plus F->set13 for the version tests. */
static int setup(void **state)
{
	char err[256];

	(void)state;
	if (fix_init("test_tls") != 0)
		return -1;
	F->cfg->tls_min_version = 13;
	F->set13 = tls_ctx_set_new(F->cfg, err, sizeof(err));
	F->cfg->tls_min_version = 12;
	if (F->set13 == NULL) {
		fprintf(stderr, "ctx set 1.3: %s\n", err);
		return -1;
	}
	return 0;
}

/* ---- tests ---- */

static void test_sni_alpn_exporter(void **state)
{
	struct tls_sess *c, *s, *c2, *s2;
	enum xs cst, sst;
	uint8_t ec[32], es[32], ec2[32];

	(void)state;
	c = client("b.test", F->b_cert, true, 0, 0);
	s = tls_sess_new_server(F->set, "xmpp-client");
	assert_non_null(c);
	assert_non_null(s);
	assert_false(tls_sess_handshake_done(s));
	assert_int_equal(tls_sess_version(s), 0);
	assert_int_equal(tls_sess_exporter(s, es), XS_INVAL);
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(sst, XS_OK);
	assert_true(tls_sess_handshake_done(c));
	assert_true(tls_sess_is_server(s));
	assert_false(tls_sess_is_server(c));
	assert_int_equal(tls_sess_version(c), 13);
	assert_int_equal(tls_sess_version(s), 13);
	assert_string_equal(tls_sess_sni(s), "b.test");
	assert_null(tls_sess_sni(c));
	assert_string_equal(tls_sess_alpn(s), "xmpp-client");
	assert_string_equal(tls_sess_alpn(c), "xmpp-client");
	assert_string_equal(tls_sess_error(s), "");
	assert_int_equal(tls_sess_exporter(c, ec), XS_OK);
	assert_int_equal(tls_sess_exporter(s, es), XS_OK);
	assert_memory_equal(ec, es, 32);

	/* A second connection binds to different keys. */
	c2 = client("b.test", F->b_cert, true, 0, 0);
	s2 = tls_sess_new_server(F->set, "xmpp-client");
	pump(c2, s2, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(sst, XS_OK);
	assert_int_equal(tls_sess_exporter(c2, ec2), XS_OK);
	assert_memory_not_equal(ec, ec2, 32);

	tls_sess_free(c);
	tls_sess_free(s);
	tls_sess_free(c2);
	tls_sess_free(s2);
}

static void test_sni_wrong_anchor(void **state)
{
	struct tls_sess *c, *s;
	enum xs cst, sst;

	(void)state;
	/* b.test's certificate is served, a's is the only trust anchor. */
	c = client("b.test", F->a_cert, true, 0, 0);
	s = tls_sess_new_server(F->set, "xmpp-client");
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_TLS);
	assert_int_equal(sst, XS_TLS);
	assert_string_not_equal(tls_sess_error(c), "");
	assert_string_not_equal(tls_sess_error(s), "");
	assert_false(tls_sess_handshake_done(c));
	/* A dead session stays dead. */
	assert_int_equal(tls_sess_handshake(c), XS_TLS);
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_default_host(void **state)
{
	struct tls_sess *c, *s;
	enum xs cst, sst;

	(void)state;
	/* No SNI: the first host (a.test) answers. */
	c = client(NULL, F->a_cert, true, 0, 0);
	s = tls_sess_new_server(F->set, NULL);
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(sst, XS_OK);
	assert_null(tls_sess_sni(s));
	/* Neither side asked for ALPN on the server: none negotiated. */
	assert_null(tls_sess_alpn(s));
	assert_null(tls_sess_alpn(c));
	tls_sess_free(c);
	tls_sess_free(s);

	c = client(NULL, F->b_cert, true, 0, 0);
	s = tls_sess_new_server(F->set, NULL);
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_TLS);
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_wrong_name(void **state)
{
	struct tls_sess *c, *s;
	enum xs cst, sst;

	(void)state;
	/* Unknown name: a.test's certificate (trusted) but it does not name
	 * c.test, so the client must refuse. */
	c = client("c.test", F->a_cert, true, 0, 0);
	s = tls_sess_new_server(F->set, "xmpp-client");
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_TLS);
	assert_string_equal(tls_sess_sni(s), "c.test");
	tls_sess_free(c);
	tls_sess_free(s);

	/* The same without verification goes through. */
	c = client("c.test", NULL, false, 0, 0);
	s = tls_sess_new_server(F->set, "xmpp-client");
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(sst, XS_OK);
	tls_sess_free(c);
	tls_sess_free(s);
}

/* Encrypts msg on `from`, then for every split point feeds the record to
 * `to` in two parts and checks the plaintext comes out whole and exact. */
static void check_split(struct tls_sess *from, struct tls_sess *to, const char *msg)
{
	size_t mlen = strlen(msg), clen, n, written;
	uint8_t cipher[512], plain[512];
	const void *p;

	for (size_t k = 0; ; k++) {
		assert_int_equal(tls_sess_write(from, msg, mlen, &written), XS_OK);
		assert_int_equal(written, mlen);
		p = tls_sess_out_peek(from, &clen);
		assert_true(clen > mlen && clen <= sizeof(cipher));
		if (k >= clen) {
			tls_sess_out_consume(from, clen);
			break;
		}
		memcpy(cipher, p, clen);
		tls_sess_out_consume(from, clen);
		assert_int_equal(tls_sess_out_pending(from), 0);

		assert_int_equal(tls_sess_feed(to, cipher, k), XS_OK);
		assert_int_equal(tls_sess_read(to, plain, sizeof(plain), &n), XS_AGAIN);
		assert_int_equal(n, 0);
		assert_int_equal(tls_sess_feed(to, cipher + k, clen - k), XS_OK);
		n = drain(to, plain, sizeof(plain));
		assert_int_equal(n, mlen);
		assert_memory_equal(plain, msg, mlen);
		assert_int_equal(tls_sess_mem_usage(to), 0);
	}
}

static void test_data_split(void **state)
{
	struct tls_sess *c, *s;
	enum xs cst, sst;

	(void)state;
	c = client("a.test", F->a_cert, true, 0, 0);
	s = tls_sess_new_server(F->set, "xmpp-client");
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(sst, XS_OK);
	check_split(c, s, "<message to='b@a.test'><body>hi</body></message>");
	check_split(s, c, "<message from='b@a.test'><body>\xc3\xa4</body></message>");
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_tls_in_tls(void **state)
{
	struct tls_sess *oc, *os, *ic, *is;
	enum xs cst, sst;
	const char msg[] = "<iq type='get' id='1'/>";
	uint8_t buf[256];
	size_t w, n;

	(void)state;
	oc = client("a.test", F->a_cert, true, 0, 0);
	os = tls_sess_new_server(F->set, "xmpp-client");
	pump(oc, os, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(sst, XS_OK);

	/* Inner: STARTTLS inside direct TLS, to the other host. */
	ic = client("b.test", F->b_cert, true, 0, 0);
	is = tls_sess_new_server(F->set, NULL);
	inner_pump_ok(oc, os, ic, is);
	assert_string_equal(tls_sess_sni(is), "b.test");

	assert_int_equal(tls_sess_write(ic, msg, sizeof(msg), &w), XS_OK);
	inner_xfer(ic, oc, os, is);
	n = drain(is, buf, sizeof(buf));
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));

	assert_int_equal(tls_sess_write(is, "pong", 4, &w), XS_OK);
	inner_xfer(is, os, oc, ic);
	n = drain(ic, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "pong", 4);

	tls_sess_free(ic);
	tls_sess_free(is);
	tls_sess_free(oc);
	tls_sess_free(os);
}

static void test_versions(void **state)
{
	struct tls_sess *c, *s;
	enum xs cst, sst;
	uint8_t e[32], buf[64];
	size_t w, n;

	(void)state;
	/* A 1.2-only client against a 1.3-only server fails on both ends. */
	c = client("a.test", F->a_cert, true, 12, 12);
	s = tls_sess_new_server(F->set13, "xmpp-client");
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_TLS);
	assert_int_equal(sst, XS_TLS);
	assert_int_equal(tls_sess_version(s), 0);
	tls_sess_free(c);
	tls_sess_free(s);

	/* The same client against the default floor gets TLS 1.2, and
	 * there is no tls-exporter binding for 1.2. */
	c = client("a.test", F->a_cert, true, 0, 12);
	s = tls_sess_new_server(F->set, "xmpp-client");
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(sst, XS_OK);
	assert_int_equal(tls_sess_version(c), 12);
	assert_int_equal(tls_sess_version(s), 12);
	assert_int_equal(tls_sess_exporter(c, e), XS_INVAL);
	assert_int_equal(tls_sess_exporter(s, e), XS_INVAL);
	assert_string_equal(tls_sess_alpn(s), "xmpp-client");
	assert_int_equal(tls_sess_write(c, "x", 1, &w), XS_OK);
	xfer(c, s);
	n = drain(s, buf, sizeof(buf));
	assert_int_equal(n, 1);
	tls_sess_free(c);
	tls_sess_free(s);

	/* A 1.3-only client against the 1.3 server works. */
	c = client("b.test", F->b_cert, true, 13, 0);
	s = tls_sess_new_server(F->set13, "xmpp-client");
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(tls_sess_version(s), 13);
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_bad_client_opts(void **state)
{
	struct tls_client_opts o = { .verify = true, .ca_file = "/nonexistent/ca.pem" };
	char err[256] = "";

	(void)state;
	assert_null(tls_sess_new_client(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	o.verify = false;
	o.min_version = 13;
	o.max_version = 12;
	assert_null(tls_sess_new_client(&o, err, sizeof(err)));
	o.min_version = 11;
	o.max_version = 0;
	assert_null(tls_sess_new_client(&o, err, sizeof(err)));
}

static void test_ctx_set_errors(void **state)
{
	struct cfg *cfg = malloc(sizeof(*cfg));
	struct tls_ctx_set *set;
	char err[512] = "";

	(void)state;
	assert_non_null(cfg);
	memcpy(cfg, F->cfg, sizeof(*cfg));
	/* a's certificate with b's key. */
	snprintf(cfg->hosts[1].cert_file, sizeof(cfg->hosts[1].cert_file), "%s", F->a_cert);
	assert_null(tls_ctx_set_new(cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "does not match"));
	assert_non_null(strstr(err, "b.test"));

	snprintf(cfg->hosts[1].cert_file, sizeof(cfg->hosts[1].cert_file), "%s/none.crt", F->dir);
	assert_null(tls_ctx_set_new(cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "none.crt"));

	/* The key given as the certificate. */
	snprintf(cfg->hosts[1].cert_file, sizeof(cfg->hosts[1].cert_file), "%s", F->b_key);
	assert_null(tls_ctx_set_new(cfg, err, sizeof(err)));

	cfg->n_hosts = 0;
	assert_null(tls_ctx_set_new(cfg, err, sizeof(err)));
	cfg->n_hosts = 1;
	cfg->tls_min_version = 11;
	assert_null(tls_ctx_set_new(cfg, err, sizeof(err)));

	/* A good one-host set, with its reference count exercised: the
	 * session keeps the set alive after our last unref. */
	cfg->tls_min_version = 12;
	set = tls_ctx_set_new(cfg, err, sizeof(err));
	assert_non_null(set);
	assert_int_equal(tls_ctx_set_count(set), 1);
	assert_string_equal(tls_ctx_set_default_domain(set), "a.test");
	{
		struct tls_sess *s = tls_sess_new_server(set, NULL);
		struct tls_sess *c = client("a.test", F->a_cert, true, 0, 0);
		enum xs cst, sst;

		tls_ctx_set_unref(set);
		pump(c, s, &cst, &sst);
		assert_int_equal(cst, XS_OK);
		assert_int_equal(sst, XS_OK);
		tls_sess_free(c);
		tls_sess_free(s);
	}
	free(cfg);
}

static void test_memory_and_close(void **state)
{
	struct tls_sess *c, *s;
	enum xs cst, sst;
	uint8_t buf[64];
	size_t w, n;
	uint8_t notify[256];
	size_t notify_len;
	long base, idle;

	(void)state;
	base = atomic_load(&wolf_bytes);
	s = tls_sess_new_server(F->set, "xmpp-client");
	c = client("a.test", F->a_cert, true, 0, 0);
	assert_int_equal(tls_sess_mem_usage(s), 0);

	/* Half a ClientHello is buffered; no WOLFSSL yet. */
	assert_int_equal(tls_sess_handshake(c), XS_AGAIN);
	{
		size_t len;
		const uint8_t *p = tls_sess_out_peek(c, &len);

		assert_true(len > 10);
		assert_int_equal(tls_sess_feed(s, p, 10), XS_OK);
		assert_int_equal(tls_sess_handshake(s), XS_AGAIN);
		assert_int_equal(tls_sess_out_pending(s), 0);
		assert_true(tls_sess_mem_usage(s) > 0);
		assert_int_equal(tls_sess_feed(s, p + 10, len - 10), XS_OK);
		tls_sess_out_consume(c, len);
	}
	pump(c, s, &cst, &sst);
	assert_int_equal(cst, XS_OK);
	assert_int_equal(sst, XS_OK);
	assert_int_equal(tls_sess_write(c, "ping", 4, &w), XS_OK);
	assert_true(tls_sess_mem_usage(c) > 0);
	xfer(c, s);
	assert_int_equal(drain(s, buf, sizeof(buf)), 4);
	assert_int_equal(tls_sess_write(s, "pong", 4, &w), XS_OK);
	xfer(s, c);
	assert_int_equal(drain(c, buf, sizeof(buf)), 4);

	/* Idle: nothing buffered on either side. */
	assert_int_equal(tls_sess_mem_usage(c), 0);
	assert_int_equal(tls_sess_mem_usage(s), 0);
	assert_int_equal(tls_sess_out_pending(s), 0);
	assert_false(tls_sess_has_pending(s));

	/* Queue the client's close_notify, keep it aside, free the client:
	 * what wolfSSL still holds beyond the baseline is the idle server
	 * session's. */
	assert_int_equal(tls_sess_shutdown(c), XS_OK);
	{
		const void *p = tls_sess_out_peek(c, &n);

		assert_true(n > 0 && n <= sizeof(notify));
		memcpy(notify, p, n);
		notify_len = n;
	}
	tls_sess_free(c);
	idle = atomic_load(&wolf_bytes) - base;
	print_message("idle TLS 1.3 server session: wolfSSL heap %ld bytes, "
		      "our buffers %zu bytes\n", idle, tls_sess_mem_usage(s));
#ifndef XMPPD_SYSTEM_WOLFSSL
	/* The lean build's figure is a few KB; catch regressions. */
	assert_true(idle > 0 && idle < 16 * 1024);
#endif
	assert_int_equal(tls_sess_feed(s, notify, notify_len), XS_OK);

	/* close_notify from the client reads as EOF. */
	assert_int_equal(tls_sess_read(s, buf, sizeof(buf), &n), XS_EOF);
	assert_int_equal(n, 0);
	assert_int_equal(tls_sess_mem_usage(s), 0);
	tls_sess_free(s);
	assert_int_equal(atomic_load(&wolf_bytes), base);
}

static void test_garbage_in(void **state)
{
	static const uint8_t junk[] = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
	struct tls_sess *s = tls_sess_new_server(F->set, "xmpp-client");
	uint8_t big[1024];

	(void)state;
	assert_int_equal(tls_sess_feed(s, junk, sizeof(junk) - 1), XS_OK);
	assert_int_equal(tls_sess_handshake(s), XS_TLS);
	assert_string_not_equal(tls_sess_error(s), "");
	tls_sess_free(s);

	/* The inbound cap holds. */
	s = tls_sess_new_server(F->set, NULL);
	memset(big, 0x16, sizeof(big));
	for (size_t i = 0; i < TLS_IN_MAX / sizeof(big); i++)
		assert_int_equal(tls_sess_feed(s, big, sizeof(big)), XS_OK);
	assert_int_equal(tls_sess_feed(s, big, 1), XS_LIMIT);
	tls_sess_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sni_alpn_exporter),
		cmocka_unit_test(test_sni_wrong_anchor),
		cmocka_unit_test(test_default_host),
		cmocka_unit_test(test_wrong_name),
		cmocka_unit_test(test_data_split),
		cmocka_unit_test(test_tls_in_tls),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_bad_client_opts),
		cmocka_unit_test(test_ctx_set_errors),
		cmocka_unit_test(test_memory_and_close),
		cmocka_unit_test(test_garbage_in),
	};

	/* Before wolfSSL allocates anything, so every block it frees went
	 * through count_malloc. */
	if (wolfSSL_SetAllocators(count_malloc, count_free, count_realloc) != 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, fix_teardown);
}
