/* The peer's certificate for s2s (tls_sess_new_server_peer, the client's
 * peer_record and cert_file, tls_ctx_set_trust, tls_sess_peer): asked for
 * and kept, verified against our trust anchors, never fatal to the
 * handshake, and its identity readable by tls/cert_ids.h.  In memory, with
 * the certificates of tls_fixture.h (self-signed a.test and b.test, each
 * its own trust anchor). */
#include "tls_fixture.h"

#include "tls/cert_ids.h"

static struct tls_ctx_set *trusting_b; /* hosts a.test, b.test; trusts b.test's certificate */

static int setup(void **state)
{
	(void)state;
	char err[256];
	if (fix_init("tls_peer") != 0)
		return -1;
	trusting_b = tls_ctx_set_new(F->cfg, err, sizeof(err));
	if (trusting_b == NULL || tls_ctx_set_trust(trusting_b, F->b_cert, NULL, err, sizeof(err)))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	tls_ctx_set_unref(trusting_b);
	return fix_teardown(state);
}

/* b.test connecting to a.test as an s2s initiator would. */
static struct tls_sess *s2s_client(const char *ca, bool with_cert, int max)
{
	struct tls_client_opts o = {
		.server_name = "a.test", .ca_file = ca, .alpn = "xmpp-server",
		.peer_record = true, .max_version = max,
		.cert_file = with_cert ? F->b_cert : NULL, .key_file = with_cert ? F->b_key : NULL,
	};
	char err[256] = "";
	struct tls_sess *c = tls_sess_new_client(&o, err, sizeof(err));
	if (c == NULL)
		fail_msg("tls_sess_new_client: %s", err);
	return c;
}

static void assert_names(struct tls_sess *s, const char *domain, const char *not_domain)
{
	const uint8_t *der;
	size_t len;
	tls_sess_peer(s, &der, &len, NULL);
	assert_non_null(der);
	assert_true(len > 100);
	enum cert_id_kind how;
	assert_int_equal(cert_ids_match_server(der, len, domain, &how), XS_OK);
	assert_int_equal(how, CERT_ID_DNS);
	assert_int_equal(cert_ids_match_server(der, len, not_domain, &how), XS_OK);
	assert_int_equal(how, CERT_ID_NONE);
}

static void trusted_both_ways(int max)
{
	struct tls_sess *s = tls_sess_new_server_peer(trusting_b, "xmpp-server");
	struct tls_sess *c = s2s_client(F->a_cert, true, max);
	assert_int_equal(tls_sess_peer(s, NULL, NULL, NULL), TLS_PEER_NONE); /* not yet */
	pump_ok(c, s);
	const char *why = NULL;
	assert_int_equal(tls_sess_peer(s, NULL, NULL, &why), TLS_PEER_TRUSTED);
	assert_string_equal(why, "");
	assert_names(s, "b.test", "a.test");
	assert_int_equal(tls_sess_peer(c, NULL, NULL, NULL), TLS_PEER_TRUSTED);
	assert_names(c, "a.test", "b.test");
	assert_int_equal(tls_sess_version(s), max ? max : 13);
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_trusted_tls13(void **state)
{
	(void)state;
	trusted_both_ways(0);
}

static void test_trusted_tls12(void **state)
{
	(void)state;
	trusted_both_ways(12);
}

/* Certificates that do not verify: the handshake still completes (the s2s
 * code answers, or falls back to dialback), the certificate is kept, the
 * reason given. */
static void test_untrusted_kept(void **state)
{
	(void)state;
	struct tls_sess *s = tls_sess_new_server_peer(F->set, "xmpp-server"); /* no anchors */
	struct tls_sess *c = s2s_client(F->b_cert, true, 0);              /* wrong anchor */
	pump_ok(c, s);
	const char *why = NULL;
	assert_int_equal(tls_sess_peer(s, NULL, NULL, &why), TLS_PEER_UNTRUSTED);
	assert_true(strlen(why) > 0);
	assert_names(s, "b.test", "a.test");
	assert_int_equal(tls_sess_peer(c, NULL, NULL, &why), TLS_PEER_UNTRUSTED);
	assert_true(strlen(why) > 0);
	assert_names(c, "a.test", "b.test");
	/* and the link works */
	size_t n = 0;
	assert_int_equal(tls_sess_write(c, "<stream:stream>", 15, &n), XS_OK);
	xfer(c, s);
	uint8_t buf[64];
	assert_int_equal(drain(s, buf, sizeof(buf)), 15);
	assert_memory_equal(buf, "<stream:stream>", 15);
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_no_client_cert(void **state)
{
	(void)state;
	struct tls_sess *s = tls_sess_new_server_peer(trusting_b, "xmpp-server");
	struct tls_sess *c = s2s_client(F->a_cert, false, 0);
	pump_ok(c, s);
	const uint8_t *der = (const uint8_t *)"x";
	size_t len = 1;
	assert_int_equal(tls_sess_peer(s, &der, &len, NULL), TLS_PEER_NONE);
	assert_null(der);
	assert_int_equal(len, 0);
	assert_int_equal(tls_sess_peer(c, NULL, NULL, NULL), TLS_PEER_TRUSTED);
	tls_sess_free(c);
	tls_sess_free(s);
}

/* A c2s server session asks for nothing, so a client holding a
 * certificate sends none. */
static void test_c2s_server_asks_nothing(void **state)
{
	(void)state;
	struct tls_sess *s = tls_sess_new_server(trusting_b, "xmpp-client");
	struct tls_sess *c = s2s_client(F->a_cert, true, 0);
	pump_ok(c, s);
	assert_int_equal(tls_sess_peer(s, NULL, NULL, NULL), TLS_PEER_NONE);
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_client_key_mismatch(void **state)
{
	(void)state;
	struct tls_client_opts o = {
		.server_name = "a.test", .ca_file = F->a_cert, .peer_record = true,
		.cert_file = F->a_cert, .key_file = F->b_key,
	};
	char err[256] = "";
	assert_null(tls_sess_new_client(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "certificate"));
}

static void test_trust_file_missing(void **state)
{
	(void)state;
	char err[256] = "";
	struct tls_ctx_set *set = tls_ctx_set_new(F->cfg, err, sizeof(err));
	assert_non_null(set);
	assert_int_equal(tls_ctx_set_trust(set, "/nonexistent/ca.pem", NULL, err, sizeof(err)),
			 XS_TLS);
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	tls_ctx_set_unref(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trusted_tls13),
		cmocka_unit_test(test_trusted_tls12),
		cmocka_unit_test(test_untrusted_kept),
		cmocka_unit_test(test_no_client_cert),
		cmocka_unit_test(test_c2s_server_asks_nothing),
		cmocka_unit_test(test_client_key_mismatch),
		cmocka_unit_test(test_trust_file_missing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
