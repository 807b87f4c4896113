/* Unit tests for tls/tls_cert.c: a generated certificate inspected back
 * (names, self-signedness, key match, validity close to the days asked
 * for, key file mode 0600), a key from another generation detected as a
 * mismatch, inspect errors on missing and non-PEM files, and the RFC 6125
 * name table for tls_name_matches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tls/tls.h"
#include "tls/tls_cert.h"

#include "tls_fixture.h"

struct files {
	char dir[64];
	char cert1[128], key1[128], cert2[128], key2[128], junk[128];
};

static int setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tls_cert.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->junk, sizeof(f->junk), "%s/junk.pem", f->dir);
	if (fix_make_cert(f->dir, "one", "Example.ORG", 90, f->cert1, f->key1,
			  sizeof(f->cert1)) ||
	    fix_make_cert(f->dir, "two", "other.example", 30, f->cert2, f->key2,
			  sizeof(f->cert2)))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct files *f = *state;

	unlink(f->cert1);
	unlink(f->key1);
	unlink(f->cert2);
	unlink(f->key2);
	unlink(f->junk);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_generate_inspect(void **state)
{
	struct files *f = *state;
	struct tls_cert_info info;
	char err[256] = "";
	struct stat sb;
	time_t now = time(NULL);

	assert_int_equal(tls_cert_inspect(f->cert1, f->key1, "example.org", &info, err,
					  sizeof(err)), XS_OK);
	assert_string_equal(info.subject_cn, "Example.ORG");
	assert_int_equal(info.n_names, 1);
	assert_string_equal(info.names[0], "Example.ORG");
	assert_true(info.self_signed);
	assert_true(info.key_matches);
	assert_true(info.names_domain);
	assert_non_null(strstr(info.issuer, "Example.ORG"));
	/* Valid from a day ago (skew) until 90 days from now. */
	assert_true(info.not_before <= now);
	assert_true(info.not_before >= now - 2 * 86400);
	assert_true(info.not_after >= now + 89 * 86400);
	assert_true(info.not_after <= now + 91 * 86400);

	/* Another domain is not named; no domain asked: false, not an error. */
	assert_int_equal(tls_cert_inspect(f->cert1, NULL, "www.example.org", &info, err,
					  sizeof(err)), XS_OK);
	assert_false(info.names_domain);
	assert_false(info.key_matches);
	assert_int_equal(tls_cert_inspect(f->cert2, NULL, NULL, &info, err, sizeof(err)), XS_OK);
	assert_string_equal(info.names[0], "other.example");
	assert_true(info.not_after <= now + 31 * 86400);

	assert_int_equal(stat(f->key1, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(f->cert1, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
}

static void test_key_mismatch(void **state)
{
	struct files *f = *state;
	struct tls_cert_info info;
	char err[256] = "";

	assert_int_equal(tls_cert_inspect(f->cert1, f->key2, NULL, &info, err, sizeof(err)),
			 XS_OK);
	assert_false(info.key_matches);
	assert_int_equal(tls_cert_inspect(f->cert2, f->key2, NULL, &info, err, sizeof(err)),
			 XS_OK);
	assert_true(info.key_matches);
}

static void test_inspect_errors(void **state)
{
	struct files *f = *state;
	struct tls_cert_info info;
	char err[256] = "";
	FILE *fp;

	assert_int_equal(tls_cert_inspect("/nonexistent/x.crt", NULL, NULL, &info, err,
					  sizeof(err)), XS_IO);
	assert_non_null(strstr(err, "/nonexistent/x.crt"));

	fp = fopen(f->junk, "w");
	assert_non_null(fp);
	fputs("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", fp);
	fclose(fp);
	err[0] = '\0';
	assert_int_equal(tls_cert_inspect(f->junk, NULL, NULL, &info, err, sizeof(err)),
			 XS_INVAL);
	assert_true(err[0] != '\0');
	/* A certificate given as the key is refused, not "mismatched". */
	assert_int_equal(tls_cert_inspect(f->cert1, f->cert2, NULL, &info, err, sizeof(err)),
			 XS_INVAL);
	/* Generation refuses nonsense before touching the disk. */
	assert_int_equal(tls_cert_generate("", f->junk, f->junk, 10, err, sizeof(err)), XS_INVAL);
	assert_int_equal(tls_cert_generate("x.test", f->junk, f->junk, 0, err, sizeof(err)),
			 XS_INVAL);
}

/* Runs a shell command (openssl CLI) in the test's temp dir. */
static int sh(const struct files *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int sh(const struct files *f, const char *fmt, ...)
{
	char cmd[2048];
	int n;
	va_list ap;

	n = snprintf(cmd, sizeof(cmd), "cd %s && ( ", f->dir);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	strncat(cmd, " ) >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	return system(cmd);
}

/* Certificates made by the openssl CLI, as administrators make them:
 * each supported key type matches its key and is named; the wrong key is
 * a mismatch; Ed25519 and RSA-1024 are refused as unsupported key types
 * (they used to read "not the key of" and "cannot parse (-148)"). */
static void test_key_types_openssl(void **state)
{
	static const struct {
		const char *base, *newkey, *type;
	} ok[] = {
		{ "rsa2048", "rsa:2048", "RSA 2048" },
		{ "rsa4096", "rsa:4096", "RSA 4096" },
		{ "p256", "ec -pkeyopt ec_paramgen_curve:P-256", "ECDSA P-256" },
		{ "p384", "ec -pkeyopt ec_paramgen_curve:P-384", "ECDSA P-384" },
	}, bad[] = {
		{ "ed25519", "ed25519", "Ed25519" },
		{ "rsa1024", "rsa:1024", "RSA 1024" },
		{ "p521", "ec -pkeyopt ec_paramgen_curve:P-521", "ECDSA" },
	};
	struct files *f = *state;
	struct tls_cert_info info;
	char err[512], cert[256], key[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(sh(f, "openssl req -x509 -newkey %s -nodes -keyout %s.key "
				    "-out %s.pem -subj /CN=x.test -days 30", ok[i].newkey,
				    ok[i].base, ok[i].base), 0);
		snprintf(cert, sizeof(cert), "%s/%s.pem", f->dir, ok[i].base);
		snprintf(key, sizeof(key), "%s/%s.key", f->dir, ok[i].base);
		err[0] = '\0';
		if (tls_cert_inspect(cert, key, "x.test", &info, err, sizeof(err)) != XS_OK)
			fail_msg("%s: %s", ok[i].base, err);
		assert_true(info.key_matches);
		assert_true(info.names_domain);
		assert_string_equal(info.key_type, ok[i].type);
		/* another key (a generated P-256 one) does not match */
		assert_int_equal(tls_cert_inspect(cert, f->key1, NULL, &info, err, sizeof(err)),
				 XS_OK);
		assert_false(info.key_matches);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sh(f, "openssl req -x509 -newkey %s -nodes -keyout %s.key "
				    "-out %s.pem -subj /CN=x.test -days 30", bad[i].newkey,
				    bad[i].base, bad[i].base), 0);
		snprintf(cert, sizeof(cert), "%s/%s.pem", f->dir, bad[i].base);
		snprintf(key, sizeof(key), "%s/%s.key", f->dir, bad[i].base);
		err[0] = '\0';
		assert_int_equal(tls_cert_inspect(cert, key, "x.test", &info, err, sizeof(err)),
				 XS_INVAL);
		if (strstr(err, "unsupported key type") == NULL || strstr(err, bad[i].type) == NULL)
			fail_msg("%s: %s", bad[i].base, err);
	}
	sh(f, "rm -f rsa*.pem rsa*.key p*.pem p*.key ed*.pem ed*.key");
}

/* Generation of every kind, read back by our inspection and by openssl. */
static void test_generate_key_types(void **state)
{
	static const struct {
		enum tls_key_kind kind;
		unsigned bits;
		const char *type;
	} cases[] = {
		{ TLS_KEY_ECDSA, 0, "ECDSA P-256" },
		{ TLS_KEY_ECDSA, 384, "ECDSA P-384" },
		{ TLS_KEY_RSA, 0, "RSA 2048" },
		{ TLS_KEY_RSA, 3072, "RSA 3072" },
	};
	struct files *f = *state;
	struct tls_cert_info info;
	char err[512], cert[256], key[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cert, sizeof(cert), "%s/gen%zu.pem", f->dir, i);
		snprintf(key, sizeof(key), "%s/gen%zu.key", f->dir, i);
		if (tls_cert_generate_key("gen.test", cert, key, 10, cases[i].kind, cases[i].bits,
					  err, sizeof(err)) != XS_OK)
			fail_msg("generate %s: %s", cases[i].type, err);
		assert_int_equal(tls_cert_inspect(cert, key, "gen.test", &info, err, sizeof(err)),
				 XS_OK);
		assert_true(info.key_matches);
		assert_true(info.self_signed);
		assert_string_equal(info.key_type, cases[i].type);
		assert_int_equal(sh(f, "openssl x509 -in gen%zu.pem -noout -checkhost gen.test "
				    "| grep -q 'does match' && openssl pkey -in gen%zu.key -noout "
				    "&& openssl verify -CAfile gen%zu.pem gen%zu.pem", i, i, i, i), 0);
		unlink(cert);
		unlink(key);
	}
	assert_int_equal(tls_cert_generate_key("gen.test", cert, key, 10, TLS_KEY_RSA, 1024,
					       err, sizeof(err)), XS_INVAL);
	assert_int_equal(tls_cert_generate_key("gen.test", cert, key, 10, TLS_KEY_ECDSA, 521,
					       err, sizeof(err)), XS_INVAL);
}

/* A root, an intermediate and a leaf made with the openssl CLI.  The
 * leaf alone fails the chain check naming the intermediate as the missing
 * issuer (it used to pass "import" and "check"); with the intermediate it
 * reaches the root given as trust anchor; with its own root appended it
 * is complete against the system bundle, as a private CA. */
static void test_chain(void **state)
{
	struct files *f = *state;
	struct tls_chain_info ci;
	char err[512], path[256], root[256];

	assert_int_equal(sh(f,
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		"-keyout root.key -out root.pem -subj '/CN=Test Root' -days 30 "
		"-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign && "
		"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key "
		"-out int.csr -subj '/CN=Test Intermediate' && "
		"printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=keyCertSign,cRLSign\\n' >int.ext && "
		"openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial "
		"-out int.pem -days 30 -extfile int.ext && "
		"openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=x.test && "
		"printf 'subjectAltName=DNS:x.test\\n' >leaf.ext && "
		"openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial "
		"-out leaf.pem -days 30 -extfile leaf.ext && "
		"cat leaf.pem int.pem >chain.pem && cat leaf.pem int.pem root.pem >full.pem"), 0);
	snprintf(root, sizeof(root), "%s/root.pem", f->dir);

	snprintf(path, sizeof(path), "%s/leaf.pem", f->dir);
	assert_int_equal(tls_cert_check_chain(path, root, &ci, err, sizeof(err)), XS_OK);
	assert_false(ci.complete);
	assert_int_equal(ci.n_certs, 1);
	assert_non_null(strstr(ci.missing_issuer, "CN=Test Intermediate"));
	/* and against the system bundle */
	assert_int_equal(tls_cert_check_chain(path, NULL, &ci, err, sizeof(err)), XS_OK);
	assert_false(ci.complete);
	assert_non_null(strstr(ci.missing_issuer, "CN=Test Intermediate"));

	snprintf(path, sizeof(path), "%s/chain.pem", f->dir);
	assert_int_equal(tls_cert_check_chain(path, root, &ci, err, sizeof(err)), XS_OK);
	assert_true(ci.complete);
	assert_false(ci.private_root);
	assert_int_equal(ci.n_certs, 2);
	/* leaf + intermediate without the root anywhere: the root is missing */
	assert_int_equal(tls_cert_check_chain(path, NULL, &ci, err, sizeof(err)), XS_OK);
	assert_false(ci.complete);
	assert_non_null(strstr(ci.missing_issuer, "CN=Test Root"));

	snprintf(path, sizeof(path), "%s/full.pem", f->dir);
	assert_int_equal(tls_cert_check_chain(path, NULL, &ci, err, sizeof(err)), XS_OK);
	if (!ci.complete)
		fail_msg("full chain: missing \"%s\" problem \"%s\"", ci.missing_issuer, ci.problem);
	assert_true(ci.private_root);

	/* a self-signed certificate is complete by itself */
	assert_int_equal(tls_cert_check_chain(f->cert1, NULL, &ci, err, sizeof(err)), XS_OK);
	assert_true(ci.complete);
	assert_true(ci.self_signed);

	assert_int_equal(tls_cert_check_chain("/nonexistent.pem", NULL, &ci, err, sizeof(err)),
			 XS_IO);
	sh(f, "rm -f root.* int.* leaf.* chain.pem full.pem *.srl");
}

static void test_name_matches(void **state)
{
	static const struct {
		const char *pattern, *domain;
		bool match;
	} cases[] = {
		{ "example.com", "example.com", true },
		{ "Example.COM", "example.com", true },
		{ "example.com", "EXAMPLE.com", true },
		{ "example.com.", "example.com", true },
		{ "example.com", "example.com.", true },
		{ "example.com", "www.example.com", false },
		{ "www.example.com", "example.com", false },
		{ "example.com", "example.co", false },
		{ "example.co", "example.com", false },
		{ "*.example.com", "www.example.com", true },
		{ "*.Example.com", "WWW.example.COM", true },
		{ "*.example.com", "example.com", false },        /* apex */
		{ "*.example.com", "a.b.example.com", false },    /* two labels */
		{ "*.example.com", ".example.com", false },       /* empty label */
		{ "*.example.com", "wwwexample.com", false },
		{ "*.com", "example.com", false },                /* too broad */
		{ "*", "example", false },
		{ "*.", "a.", false },
		{ "w*.example.com", "www.example.com", false },   /* partial */
		{ "*w.example.com", "www.example.com", false },
		{ "www.*.com", "www.example.com", false },
		{ "**.example.com", "a.example.com", false },
		{ "*.*.example.com", "a.b.example.com", false },
		{ "xn--bcher-kva.example", "xn--bcher-kva.example", true },
		{ "*.example.com", "*.example.com", false },
		{ "", "example.com", false },
		{ "example.com", "", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = tls_name_matches(cases[i].pattern, cases[i].domain);

		if (got != cases[i].match)
			fail_msg("tls_name_matches(\"%s\", \"%s\") = %d, want %d",
				 cases[i].pattern, cases[i].domain, got, cases[i].match);
	}
	assert_false(tls_name_matches(NULL, "a.b"));
	assert_false(tls_name_matches("a.b", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_inspect),
		cmocka_unit_test(test_key_mismatch),
		cmocka_unit_test(test_inspect_errors),
		cmocka_unit_test(test_key_types_openssl),
		cmocka_unit_test(test_generate_key_types),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_name_matches),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
