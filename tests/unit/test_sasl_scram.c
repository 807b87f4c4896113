/* Unit tests for core/auth/sasl_scram.c, core/auth/sasl_plain.c and core/base/base64.c:
 * the RFC 5802 and RFC 7677 examples byte for byte (server and client side),
 * our client against our server for every mechanism, channel binding and
 * downgrade checks, fake challenges for unknown users, a table of malformed
 * messages, PLAIN parsing and strict base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/base64.h"
#include "core/auth/sasl_plain.h"
#include "core/auth/sasl_scram.h"

#define ITER 4096

static const uint8_t cb_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t cb_b[32] = { 9 };

static void cred_from_b64_salt(enum scram_hash h, const char *salt64, struct scram_cred *cred)
{
	uint8_t salt[64];
	size_t n;

	assert_int_equal(base64_decode(salt64, strlen(salt64), salt, sizeof(salt), &n), XS_OK);
	assert_true(scram_cred_make_with_salt(h, "pencil", salt, n, ITER, cred));
}

/* One RFC example, through our server with a fixed server nonce and
 * through our client with a fixed client nonce. */
static void rfc_example(enum scram_hash h, const char *salt64, const char *cnonce,
			const char *snonce, const char *client_first, const char *server_first,
			const char *client_final, const char *server_final)
{
	struct scram_cred cred;
	struct scram_server *s;
	struct scram_client *c;
	const char *authcid, *authzid;
	enum sasl_condition cond;
	char *out;
	size_t len;

	cred_from_b64_salt(h, salt64, &cred);

	s = scram_server_new(h, false, false, NULL, 0);
	assert_non_null(s);
	scram_server_set_nonce_for_test(s, snonce);
	assert_int_equal(scram_server_start(s, client_first, strlen(client_first), &authcid,
					    &authzid, &cond), SCRAM_CONTINUE);
	assert_string_equal(authcid, "user");
	assert_string_equal(authzid, "");
	assert_int_equal(scram_server_challenge(s, &cred, ITER, &out, &len), SCRAM_CONTINUE);
	assert_string_equal(out, server_first);
	assert_int_equal(len, strlen(server_first));
	free(out);
	assert_int_equal(scram_server_finish(s, client_final, strlen(client_final), &out, &len,
					     &cond), SCRAM_DONE);
	assert_string_equal(out, server_final);
	assert_int_equal(cond, SASL_COND_NONE);
	free(out);
	scram_server_free(s);

	c = scram_client_new(h, "user", "pencil", cnonce, NULL, NULL, 0, false);
	assert_non_null(c);
	assert_int_equal(scram_client_first(c, &out, &len), SCRAM_CONTINUE);
	assert_string_equal(out, client_first);
	free(out);
	assert_int_equal(scram_client_final(c, server_first, strlen(server_first), &out, &len),
			 SCRAM_CONTINUE);
	assert_string_equal(out, client_final);
	free(out);
	assert_int_equal(scram_client_verify(c, server_final, strlen(server_final)), SCRAM_DONE);
	scram_client_free(c);
}

static void test_rfc5802_sha1(void **state)
{
	(void)state;
	rfc_example(SCRAM_SHA1, "QSXCR+Q6sek8bf92", "fyko+d2lbbFgONRv9qkxdawL",
		    "3rfcNHYJY1ZVvWVs7j", "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void test_rfc7677_sha256(void **state)
{
	(void)state;
	rfc_example(SCRAM_SHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", "rOprNGfwEbeRWgbNEkqO",
		    "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* A whole exchange between our client and our server. */
struct run {
	enum scram_hash h;
	bool plus, plus_offered;          /* server */
	const uint8_t *server_cb;
	const char *cb_type;              /* client */
	const uint8_t *client_cb;
	bool client_sees_plus;
	const char *user, *password;      /* client */
	const struct scram_cred *cred;    /* NULL: unknown user */
	const uint8_t *server_end_point;  /* server: tls-server-end-point data, or NULL */
	/* results */
	enum scram_status start_st, final_st;
	enum sasl_condition cond;
	char authcid[64];
};

static void run_exchange(struct run *r)
{
	struct scram_server *s = scram_server_new(r->h, r->plus, r->plus_offered, r->server_cb,
						  r->server_cb ? 32 : 0);
	struct scram_client *c = scram_client_new(r->h, r->user, r->password, NULL, r->cb_type,
						  r->client_cb, r->client_cb ? 32 : 0,
						  r->client_sees_plus);
	const char *authcid, *authzid;
	char *m1, *m2, *m3, *m4;
	size_t l1, l2, l3, l4;

	assert_non_null(s);
	assert_non_null(c);
	if (r->server_end_point)
		assert_true(scram_server_add_cb(s, "tls-server-end-point", r->server_end_point, 32));
	r->cond = SASL_COND_NONE;
	r->final_st = SCRAM_FAIL;
	assert_int_equal(scram_client_first(c, &m1, &l1), SCRAM_CONTINUE);
	r->start_st = scram_server_start(s, m1, l1, &authcid, &authzid, &r->cond);
	free(m1);
	if (r->start_st != SCRAM_CONTINUE)
		goto out;
	strncpy(r->authcid, authcid, sizeof(r->authcid) - 1);
	assert_int_equal(scram_server_challenge(s, r->cred, ITER, &m2, &l2), SCRAM_CONTINUE);
	assert_int_equal(scram_client_final(c, m2, l2, &m3, &l3), SCRAM_CONTINUE);
	free(m2);
	r->final_st = scram_server_finish(s, m3, l3, &m4, &l4, &r->cond);
	free(m3);
	if (r->final_st == SCRAM_DONE) {
		assert_int_equal(scram_client_verify(c, m4, l4), SCRAM_DONE);
		free(m4);
	} else {
		assert_null(m4);
	}
out:
	scram_server_free(s);
	scram_client_free(c);
}

static void test_roundtrip_all_mechs(void **state)
{
	(void)state;
	for (int h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
		struct scram_cred cred;

		assert_true(scram_cred_make(h, "s3cr\xc3\xa9t", ITER, &cred));
		assert_int_equal(cred.salt_len, SCRAM_SALT_LEN);
		for (int plus = 0; plus <= 1; plus++) {
			struct run r = {
				.h = h, .plus = plus, .plus_offered = plus,
				.server_cb = plus ? cb_a : NULL,
				.cb_type = plus ? "tls-exporter" : NULL,
				.client_cb = plus ? cb_a : NULL, .client_sees_plus = plus,
				.user = "Alice", .password = "s3cr\xc3\xa9t", .cred = &cred,
			};

			run_exchange(&r);
			assert_int_equal(r.start_st, SCRAM_CONTINUE);
			assert_string_equal(r.authcid, "alice");
			assert_int_equal(r.final_st, SCRAM_DONE);
			assert_int_equal(r.cond, SASL_COND_NONE);
		}
		/* Client could bind but the server offers no -PLUS: "y" is fine. */
		struct run y = {
			.h = h, .cb_type = "tls-exporter", .client_cb = cb_a,
			.user = "alice", .password = "s3cr\xc3\xa9t", .cred = &cred,
		};
		run_exchange(&y);
		assert_int_equal(y.final_st, SCRAM_DONE);

		/* ',' and '=' travel escaped as =2C and =3D. */
		struct scram_cred odd;
		assert_true(scram_cred_make(h, "pw", ITER, &odd));
		struct run esc = { .h = h, .user = "A,b=C", .password = "pw", .cred = &odd };
		run_exchange(&esc);
		assert_string_equal(esc.authcid, "a,b=c");
		assert_int_equal(esc.final_st, SCRAM_DONE);
	}
}

/* tls-server-end-point (RFC 5929) beside tls-exporter, and alone (TLS 1.2:
 * no exporter). */
static void test_server_end_point(void **state)
{
	(void)state;
	struct scram_cred cred;
	assert_true(scram_cred_make(SCRAM_SHA256, "pw", ITER, &cred));
	for (int with_exporter = 0; with_exporter <= 1; with_exporter++) {
		struct run ok = {
			.h = SCRAM_SHA256, .plus = true, .plus_offered = true,
			.server_cb = with_exporter ? cb_a : NULL, .server_end_point = cb_b,
			.cb_type = "tls-server-end-point", .client_cb = cb_b, .client_sees_plus = true,
			.user = "alice", .password = "pw", .cred = &cred,
		};
		run_exchange(&ok);
		assert_int_equal(ok.final_st, SCRAM_DONE);
		/* the client's certificate hash is not ours: a man in the middle */
		struct run mitm = ok;
		mitm.client_cb = cb_a;
		run_exchange(&mitm);
		assert_int_equal(mitm.start_st, SCRAM_CONTINUE);
		assert_int_equal(mitm.final_st, SCRAM_FAIL);
		assert_int_equal(mitm.cond, SASL_COND_NOT_AUTHORIZED);
		/* tls-exporter only where the server has it */
		struct run exp = ok;
		exp.cb_type = "tls-exporter";
		exp.client_cb = cb_a;
		run_exchange(&exp);
		assert_int_equal(exp.final_st, with_exporter ? SCRAM_DONE : SCRAM_FAIL);
		/* tls-unique (undefined on TLS 1.3) is not one of ours */
		struct run uniq = ok;
		uniq.cb_type = "tls-unique";
		run_exchange(&uniq);
		assert_int_equal(uniq.start_st, SCRAM_FAIL);
		assert_int_equal(uniq.cond, SASL_COND_NOT_AUTHORIZED);
	}
	struct scram_server *s = scram_server_new(SCRAM_SHA256, true, true, cb_a, 32);
	assert_false(scram_server_add_cb(s, "tls-exporter", cb_b, 32));
	assert_true(scram_server_add_cb(s, "tls-server-end-point", cb_b, 32));
	assert_false(scram_server_add_cb(s, "tls-server-end-point", cb_b, 32));
	scram_server_free(s);
}

static void test_channel_binding_failures(void **state)
{
	struct scram_cred cred;

	(void)state;
	assert_true(scram_cred_make(SCRAM_SHA256, "pw", ITER, &cred));

	/* Different TLS session on the client side (a relay). */
	struct run mismatch = {
		.h = SCRAM_SHA256, .plus = true, .plus_offered = true, .server_cb = cb_a,
		.cb_type = "tls-exporter", .client_cb = cb_b, .client_sees_plus = true,
		.user = "alice", .password = "pw", .cred = &cred,
	};
	run_exchange(&mismatch);
	assert_int_equal(mismatch.start_st, SCRAM_CONTINUE);
	assert_int_equal(mismatch.final_st, SCRAM_FAIL);
	assert_int_equal(mismatch.cond, SASL_COND_NOT_AUTHORIZED);

	/* "y" although the server offered -PLUS: downgrade. */
	struct run down = {
		.h = SCRAM_SHA256, .plus_offered = true, .cb_type = "tls-exporter",
		.client_cb = cb_a, .client_sees_plus = false,
		.user = "alice", .password = "pw", .cred = &cred,
	};
	run_exchange(&down);
	assert_int_equal(down.start_st, SCRAM_FAIL);
	assert_int_equal(down.cond, SASL_COND_NOT_AUTHORIZED);

	/* Other channel-binding types are refused. */
	struct run other = {
		.h = SCRAM_SHA256, .plus = true, .plus_offered = true, .server_cb = cb_a,
		.cb_type = "tls-unique", .client_cb = cb_a, .client_sees_plus = true,
		.user = "alice", .password = "pw", .cred = &cred,
	};
	run_exchange(&other);
	assert_int_equal(other.start_st, SCRAM_FAIL);
	assert_int_equal(other.cond, SASL_COND_NOT_AUTHORIZED);

	/* -PLUS mechanism selected, but "n": malformed. */
	struct run plus_n = {
		.h = SCRAM_SHA256, .plus = true, .plus_offered = true, .server_cb = cb_a,
		.user = "alice", .password = "pw", .cred = &cred,
	};
	run_exchange(&plus_n);
	assert_int_equal(plus_n.start_st, SCRAM_FAIL);
	assert_int_equal(plus_n.cond, SASL_COND_MALFORMED_REQUEST);

	/* p= on a non-PLUS mechanism. */
	struct run p_plain = {
		.h = SCRAM_SHA256, .plus_offered = true, .cb_type = "tls-exporter",
		.client_cb = cb_a, .client_sees_plus = true,
		.user = "alice", .password = "pw", .cred = &cred,
	};
	run_exchange(&p_plain);
	assert_int_equal(p_plain.start_st, SCRAM_FAIL);
	assert_int_equal(p_plain.cond, SASL_COND_MALFORMED_REQUEST);

	/* -PLUS server without binding data cannot be made. */
	/* -PLUS with no binding data at all cannot succeed */
	struct scram_server *nocb = scram_server_new(SCRAM_SHA256, true, true, NULL, 0);
	assert_non_null(nocb);
	{
		const char *a, *z;
		enum sasl_condition cond;
		const char first[] = "p=tls-exporter,,n=user,r=abcdefghijklmnop";
		assert_int_equal(scram_server_start(nocb, first, sizeof(first) - 1, &a, &z, &cond),
				 SCRAM_FAIL);
		assert_int_equal(cond, SASL_COND_NOT_AUTHORIZED);
	}
	scram_server_free(nocb);
}

static void test_wrong_password(void **state)
{
	struct scram_cred cred;

	(void)state;
	for (int h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
		assert_true(scram_cred_make(h, "right", ITER, &cred));
		struct run r = { .h = h, .user = "bob", .password = "wrong", .cred = &cred };
		run_exchange(&r);
		assert_int_equal(r.start_st, SCRAM_CONTINUE);
		assert_int_equal(r.final_st, SCRAM_FAIL);
		assert_int_equal(r.cond, SASL_COND_NOT_AUTHORIZED);

		/* A credential for the other hash is no credential. */
		struct scram_cred other;
		assert_true(scram_cred_make(h == SCRAM_SHA1 ? SCRAM_SHA256 : SCRAM_SHA1, "right",
					    ITER, &other));
		struct run r2 = { .h = h, .user = "bob", .password = "right", .cred = &other };
		run_exchange(&r2);
		assert_int_equal(r2.final_st, SCRAM_FAIL);
		assert_int_equal(r2.cond, SASL_COND_NOT_AUTHORIZED);
	}
}

/* Runs start + challenge for user and returns the server-first-message. */
static char *challenge_for(const char *user, const struct scram_cred *cred, const char *secret,
			   struct scram_server **keep)
{
	char first[128];
	struct scram_server *s = scram_server_new(SCRAM_SHA256, false, false, NULL, 0);
	const char *authcid, *authzid;
	enum sasl_condition cond;
	char *out;
	size_t len;

	assert_non_null(s);
	if (secret)
		scram_server_set_secret(s, (const uint8_t *)secret, strlen(secret));
	snprintf(first, sizeof(first), "n,,n=%s,r=abcdefgh", user);
	assert_int_equal(scram_server_start(s, first, strlen(first), &authcid, &authzid, &cond),
			 SCRAM_CONTINUE);
	assert_int_equal(scram_server_challenge(s, cred, ITER, &out, &len), SCRAM_CONTINUE);
	assert_int_equal(strlen(out), len);
	if (keep)
		*keep = s;
	else
		scram_server_free(s);
	return out;
}

/* "r=<8 + 32 chars>,s=<24 chars>,i=4096" */
static void assert_challenge_shape(const char *m)
{
	const char *s = strstr(m, ",s="), *i = strstr(m, ",i=");

	assert_true(strncmp(m, "r=abcdefgh", 10) == 0);
	assert_non_null(s);
	assert_non_null(i);
	assert_int_equal(s - m, 2 + 8 + 32);
	assert_int_equal(i - s, 3 + 24);
	assert_string_equal(i, ",i=4096");
}

static void test_unknown_user(void **state)
{
	struct scram_cred cred;
	char *real, *f1, *f2, *f3, *f4, *f5;

	(void)state;
	assert_true(scram_cred_make(SCRAM_SHA256, "pw", ITER, &cred));
	real = challenge_for("alice", &cred, "k1", NULL);
	f1 = challenge_for("mallory", NULL, "k1", NULL);
	f2 = challenge_for("mallory", NULL, "k1", NULL);
	f3 = challenge_for("Mallory", NULL, "k1", NULL);  /* same account name */
	f4 = challenge_for("trent", NULL, "k1", NULL);
	f5 = challenge_for("mallory", NULL, "k2", NULL);
	assert_challenge_shape(real);
	assert_challenge_shape(f1);
	/* Stable salt per unknown user and secret, different otherwise. */
	assert_string_equal(strstr(f1, ",s="), strstr(f2, ",s="));
	assert_string_equal(strstr(f1, ",s="), strstr(f3, ",s="));
	assert_string_not_equal(strstr(f1, ",s="), strstr(f4, ",s="));
	assert_string_not_equal(strstr(f1, ",s="), strstr(f5, ",s="));
	/* Fresh server nonces each time. */
	assert_memory_not_equal(f1, f2, 2 + 8 + 32);
	free(real), free(f1), free(f2), free(f3), free(f4), free(f5);

	/* Without a secret the per-process key still gives stable salts. */
	f1 = challenge_for("mallory", NULL, NULL, NULL);
	f2 = challenge_for("mallory", NULL, NULL, NULL);
	assert_string_equal(strstr(f1, ",s="), strstr(f2, ",s="));
	free(f1), free(f2);

	/* Even a "correct" proof for the fake salt fails. */
	struct run r = { .h = SCRAM_SHA256, .user = "mallory", .password = "pw", .cred = NULL };
	run_exchange(&r);
	assert_int_equal(r.start_st, SCRAM_CONTINUE);
	assert_int_equal(r.final_st, SCRAM_FAIL);
	assert_int_equal(r.cond, SASL_COND_NOT_AUTHORIZED);
}

/* Mux threads run logins concurrently; nothing may be shared (the
 * fallback fake-salt key is initialised once).  Meaningful under TSan. */
static void *login_thread(void *arg)
{
	const struct scram_cred *cred = arg;

	for (int i = 0; i < 3; i++) {
		struct run r = { .h = SCRAM_SHA256, .user = "alice", .password = "pw", .cred = cred };
		struct run u = { .h = SCRAM_SHA256, .user = "nobody", .password = "pw" };

		run_exchange(&r);
		run_exchange(&u);
		if (r.final_st != SCRAM_DONE || u.final_st != SCRAM_FAIL)
			return (void *)1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct scram_cred cred;
	pthread_t t[4];

	(void)state;
	assert_true(scram_cred_make(SCRAM_SHA256, "pw", ITER, &cred));
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, login_thread, &cred), 0);
	for (int i = 0; i < 4; i++) {
		void *ret;

		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
}

static void test_start_cases(void **state)
{
	static const struct {
		const char *msg;
		enum scram_status st;
		enum sasl_condition cond;
		const char *authcid, *authzid;
	} cases[] = {
		{ "n,,n=user,r=abc", SCRAM_CONTINUE, SASL_COND_NONE, "user", "" },
		{ "n,,n=User,r=abc,x=ext", SCRAM_CONTINUE, SASL_COND_NONE, "user", "" },
		{ "n,a=juliet@example.com,n=user,r=abc", SCRAM_CONTINUE, SASL_COND_NONE, "user",
		  "juliet@example.com" },
		{ "n,a=a=2Cb=3Dc,n=a=2Cb,r=abc", SCRAM_CONTINUE, SASL_COND_NONE, "a,b", "a,b=c" },
		{ "", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "x,,n=user,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=user", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=user,r=", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=user,r=a\x01", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,m=foo,n=user,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=us=er,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=us=2c,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=user=2,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=user,r=abc,b", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=user,r=abc,", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=user,r=abc,x=", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,a=,n=user,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,b=x,n=user,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=\xff,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "p=tls-exporter,,n=user,r=abc", SCRAM_FAIL, SASL_COND_MALFORMED_REQUEST, NULL, NULL },
		{ "n,,n=a b,r=abc", SCRAM_FAIL, SASL_COND_NOT_AUTHORIZED, NULL, NULL },
		{ "n,,n=a@b,r=abc", SCRAM_FAIL, SASL_COND_NOT_AUTHORIZED, NULL, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct scram_server *s = scram_server_new(SCRAM_SHA1, false, false, NULL, 0);
		const char *authcid = "x", *authzid = "x";
		enum sasl_condition cond = 99;
		enum scram_status st;

		st = scram_server_start(s, cases[i].msg, strlen(cases[i].msg), &authcid, &authzid,
					&cond);
		if (st != cases[i].st || cond != cases[i].cond)
			fail_msg("case %zu '%s': status %d cond %d", i, cases[i].msg, st, cond);
		if (st == SCRAM_CONTINUE) {
			assert_string_equal(authcid, cases[i].authcid);
			assert_string_equal(authzid, cases[i].authzid);
		} else {
			assert_null(authcid);
			/* A failed exchange stays failed. */
			char *out;
			size_t len;
			assert_int_equal(scram_server_challenge(s, NULL, ITER, &out, &len), SCRAM_FAIL);
			assert_null(out);
		}
		scram_server_free(s);
	}

	/* start twice */
	{
		struct scram_server *t = scram_server_new(SCRAM_SHA1, false, false, NULL, 0);
		const char *a1, *z1;
		enum sasl_condition c1;
		assert_int_equal(scram_server_start(t, "n,,n=u,r=a", 10, &a1, &z1, &c1), SCRAM_CONTINUE);
		assert_int_equal(scram_server_start(t, "n,,n=u,r=a", 10, &a1, &z1, &c1), SCRAM_FAIL);
		assert_int_equal(c1, SASL_COND_MALFORMED_REQUEST);
		scram_server_free(t);
	}
	/* Embedded NUL and oversize. */
	struct scram_server *s = scram_server_new(SCRAM_SHA1, false, false, NULL, 0);
	const char *a, *z;
	enum sasl_condition cond;
	assert_int_equal(scram_server_start(s, "n,,n=u\0x,r=abc", 14, &a, &z, &cond), SCRAM_FAIL);
	assert_int_equal(cond, SASL_COND_MALFORMED_REQUEST);
	scram_server_free(s);
	char *big = malloc(SCRAM_MAX_MSG + 20);
	memset(big, 'a', SCRAM_MAX_MSG + 19);
	memcpy(big, "n,,n=user,r=", 12);
	s = scram_server_new(SCRAM_SHA1, false, false, NULL, 0);
	assert_int_equal(scram_server_start(s, big, SCRAM_MAX_MSG + 19, &a, &z, &cond), SCRAM_FAIL);
	assert_int_equal(cond, SASL_COND_MALFORMED_REQUEST);
	scram_server_free(s);
	free(big);
}

/* The RFC 5802 exchange up to the final message, then variations of it. */
static void test_finish_cases(void **state)
{
	static const struct {
		const char *msg;
		enum sasl_condition cond;
	} cases[] = {
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_COND_NONE },
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tw=", SASL_COND_NOT_AUTHORIZED },
		{ "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		  SASL_COND_MALFORMED_REQUEST },
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=!!!!",
		  SASL_COND_MALFORMED_REQUEST },
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJ",
		  SASL_COND_MALFORMED_REQUEST },
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", SASL_COND_MALFORMED_REQUEST },
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7X,"
		  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_COND_MALFORMED_REQUEST },
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		  SASL_COND_MALFORMED_REQUEST },
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j", SASL_COND_MALFORMED_REQUEST },
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=,x=y", SASL_COND_MALFORMED_REQUEST },
		{ "c=bi ws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_COND_MALFORMED_REQUEST },
		{ "c=,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_COND_MALFORMED_REQUEST },
		/* c= of "y,," although the client said "n". */
		{ "c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_COND_NOT_AUTHORIZED },
		/* An extension changes AuthMessage: well-formed, wrong proof. */
		{ "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,x=1,"
		  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", SASL_COND_NOT_AUTHORIZED },
		{ "", SASL_COND_MALFORMED_REQUEST },
		{ ",", SASL_COND_MALFORMED_REQUEST },
		{ "c=biws", SASL_COND_MALFORMED_REQUEST },
	};
	struct scram_cred cred;

	(void)state;
	cred_from_b64_salt(SCRAM_SHA1, "QSXCR+Q6sek8bf92", &cred);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static const char first[] = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
		struct scram_server *s = scram_server_new(SCRAM_SHA1, false, false, NULL, 0);
		const char *a, *z;
		enum sasl_condition cond = 99;
		char *out;
		size_t len;
		enum scram_status st;

		/* finish before challenge is refused */
		if (i == 0) {
			struct scram_server *t = scram_server_new(SCRAM_SHA1, false, false, NULL, 0);
			assert_int_equal(scram_server_finish(t, cases[0].msg, strlen(cases[0].msg),
							     &out, &len, &cond), SCRAM_FAIL);
			scram_server_free(t);
		}
		scram_server_set_nonce_for_test(s, "3rfcNHYJY1ZVvWVs7j");
		assert_int_equal(scram_server_start(s, first, strlen(first), &a, &z, &cond),
				 SCRAM_CONTINUE);
		assert_int_equal(scram_server_challenge(s, &cred, ITER, &out, &len), SCRAM_CONTINUE);
		free(out);
		st = scram_server_finish(s, cases[i].msg, strlen(cases[i].msg), &out, &len, &cond);
		if (cond != cases[i].cond ||
		    st != (cases[i].cond == SASL_COND_NONE ? SCRAM_DONE : SCRAM_FAIL))
			fail_msg("case %zu '%s': status %d cond %d", i, cases[i].msg, st, cond);
		if (st == SCRAM_DONE) {
			free(out);
			/* and only once */
			assert_int_equal(scram_server_finish(s, cases[i].msg, strlen(cases[i].msg),
							     &out, &len, &cond), SCRAM_FAIL);
		}
		scram_server_free(s);
	}
}

static void test_client_rejects(void **state)
{
	static const char *const bad[] = {
		"r=abc",                                  /* no server part, no salt */
		"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096",     /* does not extend our nonce */
		"r=xyzabcdef,s=QSXCR+Q6sek8bf92,i=4096",
		"r=abcdefgh1,s=QSXCR+Q6sek8bf9,i=4096",   /* bad salt base64 */
		"r=abcdefgh1,s=,i=4096",
		"r=abcdefgh1,s=QSXCR+Q6sek8bf92,i=0",
		"r=abcdefgh1,s=QSXCR+Q6sek8bf92,i=-1",
		"r=abcdefgh1,s=QSXCR+Q6sek8bf92,i=99999999999",
		"r=abcdefgh1,s=QSXCR+Q6sek8bf92",
		"m=x,r=abcdefgh1,s=QSXCR+Q6sek8bf92,i=4096",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scram_client *c = scram_client_new(SCRAM_SHA1, "user", "pencil", "abcdefgh",
							  NULL, NULL, 0, false);
		char *out;
		size_t len;

		assert_int_equal(scram_client_first(c, &out, &len), SCRAM_CONTINUE);
		free(out);
		if (scram_client_final(c, bad[i], strlen(bad[i]), &out, &len) != SCRAM_FAIL)
			fail_msg("client accepted '%s'", bad[i]);
		scram_client_free(c);
	}
	/* A wrong server signature. */
	struct scram_client *c = scram_client_new(SCRAM_SHA1, "user", "pencil",
						  "fyko+d2lbbFgONRv9qkxdawL", NULL, NULL, 0, false);
	static const char sf[] =
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
	char *out;
	size_t len;
	assert_int_equal(scram_client_first(c, &out, &len), SCRAM_CONTINUE);
	free(out);
	assert_int_equal(scram_client_final(c, sf, strlen(sf), &out, &len), SCRAM_CONTINUE);
	free(out);
	assert_int_equal(scram_client_verify(c, "v=rmF9pqV8S7suAoZWja4dJRkFsKq=", 30), SCRAM_FAIL);
	scram_client_free(c);
	/* Bad arguments. */
	assert_null(scram_client_new(SCRAM_SHA1, "user", "pencil", "a,b", NULL, NULL, 0, false));
	assert_null(scram_client_new(SCRAM_SHA1, "user", "", NULL, NULL, NULL, 0, false));
	assert_null(scram_client_new(SCRAM_SHA1, "user", "x", NULL, "tls-exporter", NULL, 0, true));
}

static void test_cred_and_password(void **state)
{
	struct scram_cred a, b;
	static const uint8_t salt[16] = { 1 };

	(void)state;
	assert_false(scram_cred_make(SCRAM_SHA256, "pw", 4095, &a));
	assert_false(scram_cred_make(SCRAM_SHA256, "pw", SCRAM_MAX_ITERATIONS + 1, &a));
	assert_false(scram_cred_make(SCRAM_SHA256, "", ITER, &a));
	assert_false(scram_cred_make(SCRAM_SHA256, "\xff", ITER, &a));
	assert_false(scram_cred_make(SCRAM_SHA256, "a\x07" "b", ITER, &a)); /* prohibited */
	assert_false(scram_cred_make_with_salt(SCRAM_SHA1, "pw", salt, 0, ITER, &a));
	assert_false(scram_cred_make_with_salt(SCRAM_SHA1, "pw", salt, SCRAM_MAX_SALT + 1, ITER,
					       &a));
	assert_true(scram_cred_make(SCRAM_SHA256, "pw", ITER, &a));
	assert_true(scram_cred_make(SCRAM_SHA256, "pw", ITER, &b));
	assert_int_equal(a.iterations, ITER);
	assert_memory_not_equal(a.salt, b.salt, SCRAM_SALT_LEN);
	assert_true(scram_password_matches(&a, "pw"));
	assert_true(scram_password_matches(&b, "pw"));
	assert_false(scram_password_matches(&a, "pW"));
	assert_false(scram_password_matches(&a, "pw "));
	assert_false(scram_password_matches(&a, ""));

	/* SASLprep: U+00A0 no-break space maps to space, U+00AD to nothing. */
	assert_true(scram_cred_make(SCRAM_SHA1, "my pass", ITER, &a));
	assert_true(scram_password_matches(&a, "my\xc2\xa0pass"));
	assert_true(scram_password_matches(&a, "my p\xc2\xad" "ass"));

	/* Same salt and password give the RFC's keys in both hashes. */
	assert_true(scram_cred_make_with_salt(SCRAM_SHA1, "pw", salt, 16, ITER, &a));
	assert_true(scram_cred_make_with_salt(SCRAM_SHA1, "pw", salt, 16, ITER, &b));
	assert_memory_equal(a.stored_key, b.stored_key, 20);
	assert_memory_equal(a.server_key, b.server_key, 20);
	assert_true(scram_cred_make_with_salt(SCRAM_SHA256, "pw", salt, 16, ITER, &b));
	assert_memory_not_equal(a.stored_key, b.stored_key, 20);
}

static void test_names(void **state)
{
	enum scram_hash h;
	bool plus;

	(void)state;
	assert_string_equal(sasl_condition_name(SASL_COND_NOT_AUTHORIZED), "not-authorized");
	assert_string_equal(sasl_condition_name(SASL_COND_MALFORMED_REQUEST), "malformed-request");
	assert_string_equal(sasl_condition_name(SASL_COND_TEMPORARY_AUTH_FAILURE),
			    "temporary-auth-failure");
	assert_string_equal(sasl_condition_name(SASL_COND_ABORTED), "aborted");
	assert_string_equal(sasl_condition_name(SASL_COND_NONE), "");
	assert_string_equal(sasl_condition_name((enum sasl_condition)1000), "not-authorized");
	assert_true(scram_mech_parse("SCRAM-SHA-256-PLUS", &h, &plus));
	assert_int_equal(h, SCRAM_SHA256);
	assert_true(plus);
	assert_true(scram_mech_parse("SCRAM-SHA-1", &h, &plus));
	assert_int_equal(h, SCRAM_SHA1);
	assert_false(plus);
	assert_false(scram_mech_parse("SCRAM-SHA-512", &h, &plus));
	assert_string_equal(scram_mech_name(SCRAM_SHA1, true), "SCRAM-SHA-1-PLUS");
}

static void test_plain(void **state)
{
	char z[16], c[16], p[16];

	(void)state;
	assert_int_equal(sasl_plain_parse("\0alice\0secret", 13, z, sizeof(z), c, sizeof(c), p,
					  sizeof(p)), SCRAM_DONE);
	assert_string_equal(z, "");
	assert_string_equal(c, "alice");
	assert_string_equal(p, "secret");
	assert_int_equal(sasl_plain_parse("a@b\0alice\0s", 11, z, sizeof(z), c, sizeof(c), p,
					  sizeof(p)), SCRAM_DONE);
	assert_string_equal(z, "a@b");
	/* exactly fitting: 15 bytes + NUL */
	assert_int_equal(sasl_plain_parse("\0alice\0aaaaaaaaaaaaaaa", 22, z, sizeof(z), c,
					  sizeof(c), p, sizeof(p)), SCRAM_DONE);

	static const struct {
		const char *m;
		size_t len;
	} bad[] = {
		{ "", 0 },
		{ "alice", 5 },
		{ "\0alice", 6 },
		{ "\0alice\0", 7 },          /* empty password */
		{ "\0\0secret", 8 },         /* empty authcid */
		{ "\0alice\0se\0cret", 14 }, /* NUL in password */
		{ "\0alice\0secret\0", 14 },
		{ "\0alice\0aaaaaaaaaaaaaaaa", 23 },  /* password too long */
		{ "\0aliceaaaaaaaaaaaaaaa\0s", 23 },  /* authcid too long */
		{ "aaaaaaaaaaaaaaaa\0alice\0s", 24 }, /* authzid too long */
		{ "\0al\xffice\0s", 10 },
		{ "\0alice\0\xc0\xaf", 9 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sasl_plain_parse(bad[i].m, bad[i].len, z, sizeof(z), c, sizeof(c), p,
				     sizeof(p)) != SCRAM_FAIL)
			fail_msg("PLAIN case %zu accepted", i);
		assert_string_equal(c, "");
		assert_string_equal(p, "");
	}
}

static void test_base64(void **state)
{
	static const struct {
		const char *raw, *enc;
	} vec[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
		{ "\xff\xfe\xfd", "//79" }, { "\xfb\xef\xbe", "++++" },
	};
	static const char *const bad[] = {
		"Zg", "Zg=", "Zg===", "Z===", "====", "==", "Zh==", "Zm9=", "Zm 8=", "Zm8=\n",
		"Zg==Zg==", "Zm8*", "Zm-_", "=Zm8", "Zm=8", "\0\0\0\0",
	};
	char enc[32];
	uint8_t dec[32];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t rl = strlen(vec[i].raw);

		assert_int_equal(base64_encode(vec[i].raw, rl, enc, sizeof(enc), &n), XS_OK);
		assert_string_equal(enc, vec[i].enc);
		assert_int_equal(n, base64_encoded_len(rl));
		assert_int_equal(base64_decode(vec[i].enc, strlen(vec[i].enc), dec, sizeof(dec), &n),
				 XS_OK);
		assert_int_equal(n, rl);
		assert_memory_equal(dec, vec[i].raw, rl);
		assert_true(n <= base64_decoded_max(strlen(vec[i].enc)));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t bl = strlen(bad[i]) ? strlen(bad[i]) : 4;

		if (base64_decode(bad[i], bl, dec, sizeof(dec), &n) != XS_PROTO)
			fail_msg("accepted bad base64 '%s'", bad[i]);
	}
	/* XMPP's empty response. */
	n = 99;
	assert_int_equal(base64_decode("=", 1, dec, sizeof(dec), &n), XS_OK);
	assert_int_equal(n, 0);
	/* Buffers too small. */
	assert_int_equal(base64_encode("foo", 3, enc, 4, &n), XS_LIMIT);
	assert_string_equal(enc, "");
	assert_int_equal(base64_encode("foo", 3, enc, 5, &n), XS_OK);
	assert_int_equal(base64_decode("Zm9vYmFy", 8, dec, 5, &n), XS_LIMIT);
	assert_int_equal(base64_decode("Zm9vYmFy", 8, dec, 6, &n), XS_OK);
	/* Every byte value round-trips. */
	{
		uint8_t all[256], back[256];
		char e[400];

		for (int i = 0; i < 256; i++)
			all[i] = (uint8_t)i;
		for (size_t len = 0; len <= 256; len += 37) {
			assert_int_equal(base64_encode(all, len, e, sizeof(e), &n), XS_OK);
			assert_int_equal(base64_decode(e, n, back, sizeof(back), &n), XS_OK);
			assert_int_equal(n, len);
			assert_memory_equal(all, back, len);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5802_sha1),
		cmocka_unit_test(test_rfc7677_sha256),
		cmocka_unit_test(test_roundtrip_all_mechs),
		cmocka_unit_test(test_channel_binding_failures),
		cmocka_unit_test(test_server_end_point),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_start_cases),
		cmocka_unit_test(test_finish_cases),
		cmocka_unit_test(test_client_rejects),
		cmocka_unit_test(test_cred_and_password),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
