/* Unit tests for sleeping and waking TLS sessions (tls_sess_sleep/wake):
 * client and server joined in memory as in test_tls.c, certificates for
 * a.test and b.test generated into a temporary directory.
 *
 * Covered: a sleeping server woken by the client's next record fed split
 * at every byte boundary (TLS 1.3 and TLS 1.2), the reply decrypted by the
 * client; ten sleep/wake cycles of both ends with data each way and the
 * exporter, version, SNI and ALPN unchanged; sleep refused with pending
 * output, buffered input, part of a record inside wolfSSL, or decrypted
 * bytes waiting, and the session fine afterwards; TLS inside TLS with the
 * outer and inner server sessions both asleep and woken by one record;
 * close_notify to a sleeping session reads as EOF; freeing a sleeping
 * session; and the heap an idle server session holds awake vs asleep,
 * counted through wolfSSL's allocator hooks and printed. */
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

static int setup(void **state)
{
	(void)state;
	return fix_init("test_tls_sleep");
}

/* ---- plumbing ---- */

/* Writes msg on `from`, moves all of its output to `to`, checks it arrives;
 * unlike send_check, either side may hold queued output afterwards. */
static void write_move_read(struct tls_sess *from, struct tls_sess *to, const char *msg)
{
	uint8_t buf[1024];
	size_t w, len = strlen(msg);

	assert_int_equal(tls_sess_write(from, msg, len, &w), XS_OK);
	assert_int_equal(w, len);
	xfer(from, to);
	assert_int_equal(drain(to, buf, sizeof(buf)), len);
	assert_memory_equal(buf, msg, len);
}

/* The same, then checks that `from` sent everything and `to` holds nothing. */
static void send_check(struct tls_sess *from, struct tls_sess *to, const char *msg)
{
	write_move_read(from, to, msg);
	/* `from` may still hold input (Debian's wolfSSL sends a TLS 1.3
	 * session ticket nobody has read yet); `to` read everything. */
	assert_int_equal(tls_sess_out_pending(from), 0);
	assert_int_equal(tls_sess_mem_usage(to), 0);
}

/* A connected pair with a little conversation behind it. */
static void connect_pair(struct tls_sess **c, struct tls_sess **s, const char *name,
			 const char *ca, int max)
{
	*c = client(name, ca, true, 0, max);
	*s = tls_sess_new_server(F->set, "xmpp-client");
	assert_non_null(*s);
	pump_ok(*c, *s);
	send_check(*c, *s, "<stream:stream to='a.test'>");
	send_check(*s, *c, "<stream:stream from='a.test'><stream:features/>");
}

#ifdef WOLFSSL_SESSION_EXPORT

static void sleep_ok(struct tls_sess *s)
{
	assert_int_equal(tls_sess_sleep(s), XS_OK);
	assert_true(tls_sess_is_asleep(s));
	/* The exported state only: a few hundred bytes. */
	assert_true(tls_sess_mem_usage(s) > 0);
	assert_true(tls_sess_mem_usage(s) <= 512);
}

/* The next record from `from` (a fresh write of msg) is fed to the
 * sleeping `to` split at every byte boundary k; `to` wakes on the first
 * feed, must not produce plaintext before the record is complete, then
 * gives msg byte-exact; `to` answers, `from` decrypts, `to` sleeps again. */
static void wake_split(struct tls_sess *from, struct tls_sess *to, const char *msg)
{
	size_t mlen = strlen(msg), clen, n, w;
	uint8_t cipher[1024], plain[1024];
	const void *p;

	/* The same message makes records of the same length: the first
	 * write tells how many split points there are (0 .. clen). */
	size_t last = SIZE_MAX;

	for (size_t k = 0; k <= last; k++) {
		assert_true(tls_sess_is_asleep(to));
		assert_int_equal(tls_sess_write(from, msg, mlen, &w), XS_OK);
		p = tls_sess_out_peek(from, &clen);
		assert_true(clen > mlen && clen <= sizeof(cipher));
		if (last == SIZE_MAX)
			last = clen;
		assert_int_equal(clen, last);
		memcpy(cipher, p, clen);
		tls_sess_out_consume(from, clen);

		assert_int_equal(tls_sess_feed(to, cipher, k), XS_OK);
		assert_false(tls_sess_is_asleep(to));
		if (k < clen) {
			assert_int_equal(tls_sess_read(to, plain, sizeof(plain), &n), XS_AGAIN);
			assert_int_equal(n, 0);
			/* Part of a record is inside: no sleeping now. */
			if (k > 0) {
				assert_int_equal(tls_sess_sleep(to), XS_AGAIN);
				assert_false(tls_sess_is_asleep(to));
			}
			assert_int_equal(tls_sess_feed(to, cipher + k, clen - k), XS_OK);
		}
		n = drain(to, plain, sizeof(plain));
		assert_int_equal(n, mlen);
		assert_memory_equal(plain, msg, mlen);

		send_check(to, from, "<r/>");
		sleep_ok(to);
	}
}

/* ---- tests ---- */

static void test_server_sleep_split_13(void **state)
{
	struct tls_sess *c, *s;
	uint8_t e0[TLS_EXPORTER_LEN], e1[TLS_EXPORTER_LEN];
	long b_awake, n_awake, b_asleep, n_asleep, b_woken;

	(void)state;
	connect_pair(&c, &s, "b.test", F->b_cert, 0);
	assert_int_equal(tls_sess_version(s), 13);
	assert_int_equal(tls_sess_exporter(s, e0), XS_OK);

	b_awake = atomic_load(&wolf_bytes);
	n_awake = atomic_load(&wolf_blocks);
	sleep_ok(s);
	b_asleep = atomic_load(&wolf_bytes);
	n_asleep = atomic_load(&wolf_blocks);
	print_message("idle TLS 1.3 server session: awake %ld bytes in %ld blocks of wolfSSL "
		      "heap; asleep 0 of wolfSSL's + %zu bytes (one block) of exported state\n",
		      b_awake - b_asleep, n_awake - n_asleep, tls_sess_mem_usage(s));
	/* The whole WOLFSSL went: several KB in a dozen or more blocks. */
	assert_true(b_awake - b_asleep > 2000);

	/* Facts answer while asleep, without waking. */
	assert_int_equal(tls_sess_version(s), 13);
	assert_string_equal(tls_sess_sni(s), "b.test");
	assert_string_equal(tls_sess_alpn(s), "xmpp-client");
	assert_true(tls_sess_handshake_done(s));
	assert_int_equal(tls_sess_handshake(s), XS_OK);
	assert_false(tls_sess_has_pending(s));
	assert_int_equal(tls_sess_out_pending(s), 0);
	assert_int_equal(tls_sess_exporter(s, e1), XS_OK);
	assert_memory_equal(e0, e1, TLS_EXPORTER_LEN);
	assert_true(tls_sess_is_asleep(s));
	/* Sleeping again is a no-op. */
	assert_int_equal(tls_sess_sleep(s), XS_OK);

	/* An explicit wake costs what the session held before. */
	assert_int_equal(tls_sess_wake(s), XS_OK);
	assert_false(tls_sess_is_asleep(s));
	assert_int_equal(tls_sess_mem_usage(s), 0);
	b_woken = atomic_load(&wolf_bytes);
	print_message("woken: %ld bytes of wolfSSL heap\n", b_woken - b_asleep);
	assert_true(b_woken - b_asleep <= b_awake - b_asleep + 64);
	assert_int_equal(tls_sess_wake(s), XS_OK);
	send_check(c, s, "<presence/>");
	sleep_ok(s);

	wake_split(c, s, "<message to='b@b.test'><body>hi</body></message>");
	assert_int_equal(tls_sess_exporter(s, e1), XS_OK);
	assert_memory_equal(e0, e1, TLS_EXPORTER_LEN);
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_server_sleep_split_12(void **state)
{
	struct tls_sess *c, *s;
	uint8_t e[TLS_EXPORTER_LEN];

	(void)state;
	connect_pair(&c, &s, "a.test", F->a_cert, 12);
	assert_int_equal(tls_sess_version(s), 12);
	sleep_ok(s);
	assert_int_equal(tls_sess_version(s), 12);
	assert_string_equal(tls_sess_alpn(s), "xmpp-client");
	assert_int_equal(tls_sess_exporter(s, e), XS_INVAL);
	wake_split(c, s, "<message to='b@a.test'><body>\xc3\xa4</body></message>");
	/* And the client end of a TLS 1.2 session. */
	send_check(s, c, "<x/>");
	sleep_ok(c);
	wake_split(s, c, "<message from='b@a.test'/>");
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_cycles(void **state)
{
	struct tls_sess *c, *s;
	uint8_t ec[TLS_EXPORTER_LEN], es[TLS_EXPORTER_LEN], e[TLS_EXPORTER_LEN];
	char msg[128];
	long base;

	(void)state;
	base = atomic_load(&wolf_bytes);
	connect_pair(&c, &s, "a.test", F->a_cert, 0);
	assert_int_equal(tls_sess_exporter(c, ec), XS_OK);
	assert_int_equal(tls_sess_exporter(s, es), XS_OK);
	assert_memory_equal(ec, es, TLS_EXPORTER_LEN);
	for (int i = 0; i < 10; i++) {
		/* Both ends asleep; the client (as the load generator's
		 * would) wakes by writing, the server by its first feed. */
		sleep_ok(s);
		sleep_ok(c);
		assert_int_equal(tls_sess_exporter(c, e), XS_OK);
		assert_memory_equal(e, ec, TLS_EXPORTER_LEN);
		snprintf(msg, sizeof(msg), "<message id='c%d'><body>%d</body></message>", i, i);
		send_check(c, s, msg);
		assert_false(tls_sess_is_asleep(c));
		assert_false(tls_sess_is_asleep(s));

		sleep_ok(s);
		sleep_ok(c);
		snprintf(msg, sizeof(msg), "<message id='s%d'><body>%d</body></message>", i, i);
		send_check(s, c, msg);

		/* Several records in one feed after a wake. */
		sleep_ok(s);
		{
			size_t w;
			uint8_t buf[256];

			assert_int_equal(tls_sess_write(c, "one", 3, &w), XS_OK);
			assert_int_equal(tls_sess_write(c, "two", 3, &w), XS_OK);
			xfer(c, s);
			assert_int_equal(drain(s, buf, sizeof(buf)), 6);
			assert_memory_equal(buf, "onetwo", 6);
		}
		assert_int_equal(tls_sess_exporter(s, e), XS_OK);
		assert_memory_equal(e, es, TLS_EXPORTER_LEN);
		assert_int_equal(tls_sess_version(s), 13);
		assert_int_equal(tls_sess_version(c), 13);
		assert_string_equal(tls_sess_alpn(s), "xmpp-client");
		assert_string_equal(tls_sess_alpn(c), "xmpp-client");
		assert_string_equal(tls_sess_sni(s), "a.test");
	}
	/* Freed while asleep: nothing of wolfSSL's stays behind. */
	sleep_ok(s);
	sleep_ok(c);
	tls_sess_free(c);
	tls_sess_free(s);
	assert_int_equal(atomic_load(&wolf_bytes), base);
}

static void test_refused(void **state)
{
	struct tls_sess *c, *s, *fresh;
	uint8_t cipher[512], buf[256];
	size_t clen, w, n;
	const void *p;

	(void)state;
	/* Not established (no WOLFSSL yet, then mid-handshake). */
	fresh = tls_sess_new_server(F->set, NULL);
	assert_int_equal(tls_sess_sleep(fresh), XS_INVAL);
	assert_false(tls_sess_is_asleep(fresh));
	tls_sess_free(fresh);
	c = client("a.test", F->a_cert, true, 0, 0);
	assert_int_equal(tls_sess_handshake(c), XS_AGAIN);
	assert_int_equal(tls_sess_sleep(c), XS_INVAL);
	tls_sess_free(c);

	connect_pair(&c, &s, "a.test", F->a_cert, 0);

	/* Pending output. */
	assert_int_equal(tls_sess_write(s, "out", 3, &w), XS_OK);
	assert_int_equal(tls_sess_sleep(s), XS_AGAIN);
	assert_false(tls_sess_is_asleep(s));
	xfer(s, c);
	assert_int_equal(drain(c, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "out", 3);

	/* Input fed but not yet read (in our buffer). */
	assert_int_equal(tls_sess_write(c, "abcdef", 6, &w), XS_OK);
	p = tls_sess_out_peek(c, &clen);
	assert_true(clen <= sizeof(cipher));
	memcpy(cipher, p, clen);
	tls_sess_out_consume(c, clen);
	assert_int_equal(tls_sess_feed(s, cipher, clen), XS_OK);
	assert_int_equal(tls_sess_sleep(s), XS_AGAIN);

	/* Decrypted bytes waiting inside the session. */
	assert_int_equal(tls_sess_read(s, buf, 2, &n), XS_OK);
	assert_int_equal(n, 2);
	assert_true(tls_sess_has_pending(s));
	assert_int_equal(tls_sess_sleep(s), XS_AGAIN);
	assert_int_equal(drain(s, buf + 2, sizeof(buf) - 2), 4);
	assert_memory_equal(buf, "abcdef", 6);
	sleep_ok(s);
	assert_int_equal(tls_sess_wake(s), XS_OK);

	/* Part of a record handed to wolfSSL (our buffer empty): within the
	 * header, at its end, and within the body. */
	{
		const size_t cuts[] = { 1, 3, 5, 6, 12 };

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			assert_int_equal(tls_sess_write(c, "partial", 7, &w), XS_OK);
			p = tls_sess_out_peek(c, &clen);
			memcpy(cipher, p, clen);
			tls_sess_out_consume(c, clen);
			assert_true(cuts[i] < clen);
			assert_int_equal(tls_sess_feed(s, cipher, cuts[i]), XS_OK);
			assert_int_equal(tls_sess_read(s, buf, sizeof(buf), &n), XS_AGAIN);
			assert_int_equal(tls_sess_mem_usage(s), 0);
			assert_int_equal(tls_sess_sleep(s), XS_AGAIN);
			assert_false(tls_sess_is_asleep(s));
			assert_int_equal(tls_sess_feed(s, cipher + cuts[i], clen - cuts[i]), XS_OK);
			assert_int_equal(drain(s, buf, sizeof(buf)), 7);
			assert_memory_equal(buf, "partial", 7);
			sleep_ok(s);
		}
	}

	/* After all the refusals both directions still work. */
	send_check(c, s, "<still-fine/>");
	send_check(s, c, "<yes/>");
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_tls_in_tls(void **state)
{
	struct tls_sess *oc, *os, *ic, *is;
	const char msg[] = "<iq type='get' id='ping'><ping xmlns='urn:xmpp:ping'/></iq>";
	uint8_t icipher[512], ocipher[1024], plain[1024], buf[256];
	size_t iclen, oclen, w, n;
	const void *p;

	(void)state;
	connect_pair(&oc, &os, "a.test", F->a_cert, 0);
	ic = client("b.test", F->b_cert, true, 0, 0);
	is = tls_sess_new_server(F->set, "xmpp-client");
	inner_pump_ok(oc, os, ic, is);
	assert_string_equal(tls_sess_sni(is), "b.test");

	size_t last = SIZE_MAX;

	for (size_t k = 0; k <= last; k++) {
		/* Both server ends asleep. */
		sleep_ok(is);
		sleep_ok(os);

		/* The client's next record: inner inside outer. */
		assert_int_equal(tls_sess_write(ic, msg, sizeof(msg), &w), XS_OK);
		p = tls_sess_out_peek(ic, &iclen);
		assert_true(iclen <= sizeof(icipher));
		memcpy(icipher, p, iclen);
		tls_sess_out_consume(ic, iclen);
		assert_int_equal(tls_sess_write(oc, icipher, iclen, &w), XS_OK);
		p = tls_sess_out_peek(oc, &oclen);
		assert_true(oclen <= sizeof(ocipher));
		memcpy(ocipher, p, oclen);
		tls_sess_out_consume(oc, oclen);
		if (last == SIZE_MAX)
			last = oclen;
		assert_int_equal(oclen, last);

		/* Outer ciphertext split at k; the outer session wakes on the
		 * first feed, the inner one only when its bytes come. */
		assert_int_equal(tls_sess_feed(os, ocipher, k), XS_OK);
		assert_false(tls_sess_is_asleep(os));
		if (k < oclen) {
			assert_int_equal(tls_sess_read(os, plain, sizeof(plain), &n), XS_AGAIN);
			assert_int_equal(tls_sess_feed(os, ocipher + k, oclen - k), XS_OK);
		}
		assert_true(tls_sess_is_asleep(is));
		n = drain(os, plain, sizeof(plain));
		assert_int_equal(n, iclen);
		assert_memory_equal(plain, icipher, iclen);

		/* The inner record itself, split at the same point when it can
		 * be (the inner one is shorter). */
		{
			size_t j = k < n ? k : n / 2;

			assert_int_equal(tls_sess_feed(is, plain, j), XS_OK);
			assert_false(tls_sess_is_asleep(is));
			if (j < n) {
				assert_int_equal(tls_sess_read(is, buf, sizeof(buf), &w), XS_AGAIN);
				if (j > 0)
					assert_int_equal(tls_sess_sleep(is), XS_AGAIN);
				assert_int_equal(tls_sess_feed(is, plain + j, n - j), XS_OK);
			}
		}
		assert_int_equal(drain(is, buf, sizeof(buf)), sizeof(msg));
		assert_memory_equal(buf, msg, sizeof(msg));

		/* The reply goes back through both. */
		assert_int_equal(tls_sess_write(is, "pong", 4, &w), XS_OK);
		inner_xfer(is, os, oc, ic);
		assert_int_equal(drain(ic, buf, sizeof(buf)), 4);
		assert_memory_equal(buf, "pong", 4);
	}
	tls_sess_free(ic);
	tls_sess_free(is);
	tls_sess_free(oc);
	tls_sess_free(os);
}

static void test_close_notify(void **state)
{
	struct tls_sess *c, *s;
	uint8_t buf[64];
	size_t n;

	(void)state;
	/* The client closes while the server sleeps. */
	connect_pair(&c, &s, "a.test", F->a_cert, 0);
	sleep_ok(s);
	assert_int_equal(tls_sess_shutdown(c), XS_OK);
	xfer(c, s);
	assert_false(tls_sess_is_asleep(s));
	assert_int_equal(tls_sess_read(s, buf, sizeof(buf), &n), XS_EOF);
	assert_int_equal(n, 0);
	tls_sess_free(c);
	tls_sess_free(s);

	/* The server closes a sleeping session (shutdown wakes it), and
	 * the sleeping client reads EOF. */
	connect_pair(&c, &s, "a.test", F->a_cert, 0);
	sleep_ok(s);
	sleep_ok(c);
	assert_int_equal(tls_sess_shutdown(s), XS_OK);
	assert_false(tls_sess_is_asleep(s));
	assert_true(tls_sess_out_pending(s) > 0);
	xfer(s, c);
	assert_int_equal(tls_sess_read(c, buf, sizeof(buf), &n), XS_EOF);
	tls_sess_free(c);
	tls_sess_free(s);
}

static void test_tampered_after_wake(void **state)
{
	struct tls_sess *c, *s;
	uint8_t buf[64];
	size_t n;

	(void)state;
	/* A woken session whose peer's record was tampered with fails
	 * cleanly, and a failed session neither sleeps nor wakes. */
	connect_pair(&c, &s, "a.test", F->a_cert, 0);
	sleep_ok(s);
	{
		size_t w, len;
		uint8_t cipher[256];
		const void *p;

		assert_int_equal(tls_sess_write(c, "x", 1, &w), XS_OK);
		p = tls_sess_out_peek(c, &len);
		memcpy(cipher, p, len);
		tls_sess_out_consume(c, len);
		cipher[len - 1] ^= 1;
		assert_int_equal(tls_sess_feed(s, cipher, len), XS_OK);
	}
	assert_int_equal(tls_sess_read(s, buf, sizeof(buf), &n), XS_TLS);
	assert_int_equal(tls_sess_sleep(s), XS_INVAL);
	assert_int_equal(tls_sess_wake(s), XS_TLS);
	tls_sess_free(c);
	tls_sess_free(s);
}

/* A TLS 1.3 KeyUpdate (RFC 8446 §4.6.3) from the peer, asking for ours
 * too, on a session that has not slept: both directions follow. */
static void test_key_update_awake(void **state)
{
	struct tls_sess *c, *s;

	(void)state;
	connect_pair(&c, &s, "a.test", F->a_cert, 0);
	assert_int_equal(tls_sess_update_keys(c), XS_OK);
	write_move_read(c, s, "<message>after the client's update</message>");
	/* the server answered with its own KeyUpdate, queued with this */
	write_move_read(s, c, "<message>after ours</message>");
	assert_int_equal(tls_sess_update_keys(s), XS_OK);
	write_move_read(s, c, "<message>server updated again</message>");
	write_move_read(c, s, "<message>client followed</message>");
	/* and the session still sleeps and wakes with the new keys */
	sleep_ok(s);
	send_check(c, s, "<r/>");
	send_check(s, c, "<r/>");
	tls_sess_free(c);
	tls_sess_free(s);
}

#ifdef XMPPD_WOLFSSL_TRAFFIC_SECRETS
/* The same after a sleep: wolfSSL's export has the keys but not the traffic
 * secrets a KeyUpdate derives the next ones from (nor the mark that the
 * peer's Finished was received); our patch carries them in the blob.  Both
 * sides update, each while the other sleeps, and then both once more. */
static void test_key_update_after_wake(void **state)
{
	struct tls_sess *c, *s;

	(void)state;
	connect_pair(&c, &s, "a.test", F->a_cert, 0);
	sleep_ok(s);
	assert_int_equal(tls_sess_update_keys(c), XS_OK);
	write_move_read(c, s, "<message>after the client's update</message>");
	write_move_read(s, c, "<message>after ours</message>");
	sleep_ok(c);
	sleep_ok(s);
	assert_int_equal(tls_sess_update_keys(s), XS_OK);
	write_move_read(s, c, "<message>server updated</message>");
	write_move_read(c, s, "<message>client followed</message>");
	/* a second generation, after another sleep of both */
	sleep_ok(c);
	sleep_ok(s);
	assert_int_equal(tls_sess_update_keys(c), XS_OK);
	write_move_read(c, s, "<message>generation two</message>");
	write_move_read(s, c, "<r/>");
	tls_sess_free(c);
	tls_sess_free(s);
}
#endif

#else /* !WOLFSSL_SESSION_EXPORT */

static void test_unsupported(void **state)
{
	struct tls_sess *c, *s;

	(void)state;
	/* Debian's system libwolfssl has no session export: sleep says
	 * XS_INVAL and the session carries on. */
	connect_pair(&c, &s, "a.test", F->a_cert, 0);
	assert_int_equal(tls_sess_sleep(s), XS_INVAL);
	assert_false(tls_sess_is_asleep(s));
	assert_int_equal(tls_sess_wake(s), XS_OK);
	send_check(c, s, "<still/>");
	tls_sess_free(c);
	tls_sess_free(s);
}

#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef WOLFSSL_SESSION_EXPORT
		cmocka_unit_test(test_server_sleep_split_13),
		cmocka_unit_test(test_server_sleep_split_12),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_tls_in_tls),
		cmocka_unit_test(test_close_notify),
		cmocka_unit_test(test_tampered_after_wake),
		cmocka_unit_test(test_key_update_awake),
#ifdef XMPPD_WOLFSSL_TRAFFIC_SECRETS
		cmocka_unit_test(test_key_update_after_wake),
#endif
#else
		cmocka_unit_test(test_unsupported),
#endif
	};

	if (wolfSSL_SetAllocators(count_malloc, count_free, count_realloc) != 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, fix_teardown);
}
