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
		cmocka_unit_test(test_name_matches),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
