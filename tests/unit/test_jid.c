/* Unit tests for core/xmpp/jid.c: the parse table (valid JIDs with their
 * normalised form, invalid ones that must be XS_PROTO), the 1023-byte part
 * limits on both sides, formatting into small buffers, equality, and the
 * single-part helpers used by SASL and xmppctl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmpp/jid.h"

#include <stringprep.h>

static const struct {
	const char *in;
	const char *full;
	const char *bare;
} valid[] = {
	{ "example.com", "example.com", "example.com" },
	{ "Example.COM", "example.com", "example.com" },
	{ "example.com.", "example.com", "example.com" },
	{ "User@Example.COM/Res", "user@example.com/Res", "user@example.com" },
	{ "a@example.com./r", "a@example.com/r", "a@example.com" },
	{ "\xc3\x84" "BC@Example.COM", "\xc3\xa4" "bc@example.com", "\xc3\xa4" "bc@example.com" },
	{ "Stra\xc3\x9f" "e@d", "strasse@d", "strasse@d" },
	{ "a@[::1]", "a@[::1]", "a@[::1]" },
	{ "a@[0:0::1]/x", "a@[::1]/x", "a@[::1]" },
	{ "[2001:DB8::1]", "[2001:db8::1]", "[2001:db8::1]" },
	{ "a@192.168.0.1", "a@192.168.0.1", "a@192.168.0.1" },
	{ "a@d/r/with@slash", "a@d/r/with@slash", "a@d" },
	{ "d/@", "d/@", "d" },
	{ "a@d/Res With Space", "a@d/Res With Space", "a@d" },
	{ "a@sub_comp.example", "a@sub_comp.example", "a@sub_comp.example" },
	{ "juliet@b\xc3\xbc" "cher.example", "juliet@b\xc3\xbc" "cher.example",
	  "juliet@b\xc3\xbc" "cher.example" },
	{ "a,b@d", "a,b@d", "a,b@d" },
	{ "a@\xe4\xbe\x8b\xe3\x81\x88.test", "a@\xe4\xbe\x8b\xe3\x81\x88.test",
	  "a@\xe4\xbe\x8b\xe3\x81\x88.test" },
	{ "\xf0\x9f\x98\x80@d/\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80@d/\xf0\x9f\x98\x80",
	  "\xf0\x9f\x98\x80@d" },
};

static const char *const invalid[] = {
	"", "@", "/", "@d", "u@", "d/", "u@d/", "@d/r",
	"a b@d", "a\"b@d", "a&b@d", "a'b@d", "a:b@d", "a<b@d", "a>b@d",
	"a@b@c", "exa mple.com", "ex..com", ".", "..", "a@.", "a@.d",
	"[::1", "[zz::1]", "[]", "a@d:5222", "a@d!x",
	"a@d\xff", "\xc3\x28@d", "\xc0\xaf@d", "\xed\xa0\x80@d", "a@d/\x01",
	"a@d/r\xf5\x80\x80\x80",
	"a@exa\xe3\x80\x82mple",       /* ideographic full stop */
	"\xc2\xad@d",                     /* soft hyphen maps to nothing */
	"a\x7f@d",
};

static void test_valid_table(void **state)
{
	char out[JID_BUF], bare[JID_BUF];

	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		struct jid *j = NULL;
		size_t bare_len = 0;

		if (jid_parse(valid[i].in, &j) != XS_OK)
			fail_msg("rejected valid JID '%s'", valid[i].in);
		assert_string_equal(jid_full(j), valid[i].full);
		assert_int_equal(jid_format_full(j, out, sizeof(out)), XS_OK);
		assert_string_equal(out, valid[i].full);
		assert_int_equal(jid_format_bare(j, bare, sizeof(bare)), XS_OK);
		assert_string_equal(bare, valid[i].bare);
		assert_int_equal(jid_normalize(valid[i].in, strlen(valid[i].in), out, sizeof(out),
					       &bare_len), XS_OK);
		assert_string_equal(out, valid[i].full);
		assert_int_equal(bare_len, strlen(valid[i].bare));
		/* Normalisation is idempotent. */
		{
			struct jid *k = NULL;

			assert_int_equal(jid_parse(jid_full(j), &k), XS_OK);
			assert_true(jid_equal_full(j, k));
			jid_free(k);
		}
		jid_free(j);
	}
}

static void test_invalid_table(void **state)
{
	char out[JID_BUF];

	(void)state;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		struct jid *j = (struct jid *)1;

		if (jid_parse(invalid[i], &j) != XS_PROTO)
			fail_msg("accepted invalid JID '%s'", invalid[i]);
		assert_null(j);
		assert_int_equal(jid_normalize(invalid[i], strlen(invalid[i]), out, sizeof(out),
					       NULL), XS_PROTO);
	}
}

static void test_embedded_nul(void **state)
{
	struct jid *j;

	(void)state;
	assert_int_equal(jid_parse_n("a@d\0x", 5, &j), XS_PROTO);
	assert_int_equal(jid_parse_n("a@d\0x", 3, &j), XS_OK);
	assert_string_equal(jid_full(j), "a@d");
	jid_free(j);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A domain of exactly n bytes made of 63-byte labels. */
static char *long_domain(size_t n)
{
	char *s = repeat('a', n);

	for (size_t i = 63; i < n; i += 64)
		s[i] = '.';
	return s;
}

static void test_length_limits(void **state)
{
	char *l1023 = repeat('L', 1023), *l1024 = repeat('l', 1024);
	char *r1023 = repeat('R', 1023), *r1024 = repeat('r', 1024);
	char *d1023 = long_domain(1023), *d1024 = long_domain(1024);
	char *buf = malloc(4 * 1024 + 16);
	struct jid *j;

	(void)state;
	assert_int_equal(d1023[1022], 'a');
	assert_int_equal(d1024[1023], '.');  /* ends with a dot: strip, then 1023 */
	d1024[1023] = 'a';
	d1024[1022] = 'a';

	sprintf(buf, "%s@d", l1023);
	assert_int_equal(jid_parse(buf, &j), XS_OK);
	assert_int_equal(j->local_len, 1023);
	assert_int_equal(j->local[0], 'l');  /* folded */
	jid_free(j);
	sprintf(buf, "%s@d", l1024);
	assert_int_equal(jid_parse(buf, &j), XS_PROTO);

	sprintf(buf, "d/%s", r1023);
	assert_int_equal(jid_parse(buf, &j), XS_OK);
	assert_int_equal(j->resource_len, 1023);
	assert_int_equal(j->resource[0], 'R');  /* not folded */
	jid_free(j);
	sprintf(buf, "d/%s", r1024);
	assert_int_equal(jid_parse(buf, &j), XS_PROTO);

	assert_int_equal(jid_parse(d1023, &j), XS_OK);
	assert_int_equal(j->domain_len, 1023);
	jid_free(j);
	assert_int_equal(jid_parse(d1024, &j), XS_PROTO);

	/* All three parts at the maximum: 3071 bytes. */
	sprintf(buf, "%s@%s/%s", l1023, d1023, r1023);
	assert_int_equal(strlen(buf), JID_MAX);
	assert_int_equal(jid_parse(buf, &j), XS_OK);
	assert_int_equal(j->full_len, JID_MAX);
	assert_int_equal(j->bare_len, 1023 + 1 + 1023);
	jid_free(j);

	/* 63-byte labels only. */
	sprintf(buf, "%s.example", l1023 + 1023 - 64);
	assert_int_equal(jid_parse(buf, &j), XS_PROTO);
	sprintf(buf, "%s.example", l1023 + 1023 - 63);
	assert_int_equal(jid_parse(buf, &j), XS_OK);
	jid_free(j);

	free(l1023), free(l1024), free(r1023), free(r1024), free(d1023), free(d1024);
	free(buf);
}

static void test_format_small_buffers(void **state)
{
	struct jid *j;
	char out[8];

	(void)state;
	assert_int_equal(jid_parse("alice@example.com/phone", &j), XS_OK);
	assert_int_equal(jid_format_bare(j, out, sizeof(out)), XS_LIMIT);
	assert_string_equal(out, "");
	assert_int_equal(jid_format_full(j, out, sizeof(out)), XS_LIMIT);
	assert_int_equal(jid_normalize("alice@example.com", 17, out, sizeof(out), NULL), XS_LIMIT);
	{
		char exact[18];

		assert_int_equal(jid_format_bare(j, exact, sizeof(exact)), XS_OK);
		assert_string_equal(exact, "alice@example.com");
		assert_int_equal(jid_format_bare(j, exact, 17), XS_LIMIT);
	}
	assert_string_equal(j->local, "alice");
	assert_string_equal(j->domain, "example.com");
	assert_string_equal(j->resource, "phone");
	jid_free(j);
}

static void test_equality(void **state)
{
	struct jid *a, *b, *c, *d, *e;

	(void)state;
	assert_int_equal(jid_parse("User@Example.com/R1", &a), XS_OK);
	assert_int_equal(jid_parse("user@example.com./R2", &b), XS_OK);
	assert_int_equal(jid_parse("user@example.com/r1", &c), XS_OK);
	assert_int_equal(jid_parse("user@example.com", &d), XS_OK);
	assert_int_equal(jid_parse("example.com/user", &e), XS_OK);
	assert_true(jid_equal_bare(a, b));
	assert_false(jid_equal_full(a, b));
	assert_true(jid_equal_bare(a, c));
	assert_false(jid_equal_full(a, c));  /* resources keep their case */
	assert_true(jid_equal_bare(a, d));
	assert_false(jid_is_bare(a));
	assert_true(jid_is_bare(d));
	assert_true(jid_has_local(d));
	assert_false(jid_has_local(e));
	assert_false(jid_equal_bare(d, e));
	{
		struct jid *f = jid_dup(a);

		assert_non_null(f);
		assert_true(jid_equal_full(a, f));
		assert_string_equal(f->resource, "R1");
		jid_free(f);
	}
	jid_free(a), jid_free(b), jid_free(c), jid_free(d), jid_free(e);
}

static void test_part_helpers(void **state)
{
	char out[JID_PART_MAX + 1];

	(void)state;
	assert_int_equal(jid_local_prep("Alice", out, sizeof(out)), XS_OK);
	assert_string_equal(out, "alice");
	assert_int_equal(jid_local_prep("", out, sizeof(out)), XS_PROTO);
	assert_int_equal(jid_local_prep("al ice", out, sizeof(out)), XS_PROTO);
	assert_int_equal(jid_local_prep("al@ice", out, sizeof(out)), XS_PROTO);
	assert_int_equal(jid_local_prep("alice", out, 5), XS_LIMIT);
	assert_int_equal(jid_domain_prep("Localhost", out, sizeof(out)), XS_OK);
	assert_string_equal(out, "localhost");
	assert_int_equal(jid_domain_prep("LOCALHOST.", out, sizeof(out)), XS_OK);
	assert_string_equal(out, "localhost");
	assert_int_equal(jid_domain_prep("[::FFFF:1.2.3.4]", out, sizeof(out)), XS_OK);
	assert_string_equal(out, "[::ffff:1.2.3.4]");
	assert_int_equal(jid_domain_prep("", out, sizeof(out)), XS_PROTO);
	assert_int_equal(jid_domain_prep("a/b", out, sizeof(out)), XS_PROTO);
	assert_int_equal(jid_resource_prep("Home Office", out, sizeof(out)), XS_OK);
	assert_string_equal(out, "Home Office");
	assert_int_equal(jid_resource_prep("", out, sizeof(out)), XS_PROTO);
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(jid_utf8_is_valid("", 0));
	assert_true(jid_utf8_is_valid("\xf0\x9f\x98\x80", 4));
	assert_true(jid_utf8_is_valid("\xf4\x8f\xbf\xbf", 4));
	assert_false(jid_utf8_is_valid("\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
	assert_false(jid_utf8_is_valid("\xe0\x80\xaf", 3));      /* overlong */
	assert_false(jid_utf8_is_valid("\xf0\x9f\x98", 3));      /* truncated */
	assert_false(jid_utf8_is_valid("\x80", 1));
	assert_false(jid_utf8_is_valid("a\0b", 3));
}

/* core/xmpp/jid.c runs ASCII parts through its own table-free path; it has to
 * agree with libidn's stringprep on every ASCII input.  Every string of one
 * and two ASCII characters (NUL aside) and some longer ones, per profile. */
static void check_ascii_profile(const char *in, const Stringprep_profile *profile,
				enum xs (*ours)(const char *, char *, size_t))
{
	char ref[JID_PART_MAX + 1], got[JID_PART_MAX + 1];
	snprintf(ref, sizeof(ref), "%s", in);
	bool ref_ok = stringprep(ref, sizeof(ref), 0, profile) == STRINGPREP_OK && ref[0];
	enum xs st = ours(in, got, sizeof(got));
	if (ref_ok != (st == XS_OK))
		fail_msg("'%s' (%02x..): libidn %s, jid.c %s", in, (unsigned char)in[0],
			 ref_ok ? "accepts" : "refuses", st == XS_OK ? "accepts" : "refuses");
	if (ref_ok)
		assert_string_equal(got, ref);
}

/* For domains jid.c adds label rules after Nameprep; on ASCII the reference
 * is libidn's Nameprep followed by those rules: lower-case LDH or '_'
 * labels, none empty, at most 63 bytes; one trailing dot dropped. */
static bool ref_domain(const char *in, char *out, size_t cap)
{
	snprintf(out, cap, "%s", in);
	size_t n = strlen(out);
	if (n && out[n - 1] == '.')
		out[--n] = '\0';
	if (!n || stringprep(out, cap, 0, stringprep_nameprep) != STRINGPREP_OK || !out[0])
		return false;
	size_t label = 0;
	for (const char *p = out;; p++) {
		if (*p == '.' || !*p) {
			if (label == 0 || label > 63)
				return false;
			if (!*p)
				return true;
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
		label++;
	}
}

static void check_ascii_domain(const char *in)
{
	char ref[JID_PART_MAX + 1], got[JID_PART_MAX + 1];
	bool ref_ok = in[0] != '[' && ref_domain(in, ref, sizeof(ref));
	enum xs st = jid_domain_prep(in, got, sizeof(got));
	if (in[0] == '[')
		return; /* IPv6 literals have their own table test */
	if (ref_ok != (st == XS_OK))
		fail_msg("domain '%s': reference %s, jid.c %s", in, ref_ok ? "accepts" : "refuses",
			 st == XS_OK ? "accepts" : "refuses");
	if (ref_ok)
		assert_string_equal(got, ref);
}

static void check_ascii_all(const char *in)
{
	check_ascii_profile(in, stringprep_xmpp_nodeprep, jid_local_prep);
	check_ascii_profile(in, stringprep_xmpp_resourceprep, jid_resource_prep);
	check_ascii_domain(in);
}

static void test_ascii_path_matches_libidn(void **state)
{
	(void)state;
	char s[3] = { 0 };
	for (int a = 1; a < 128; a++) {
		s[0] = (char)a;
		s[1] = '\0';
		check_ascii_all(s);
		for (int b = 1; b < 128; b++) {
			s[1] = (char)b;
			check_ascii_all(s);
		}
	}
	static const char *longer[] = {
		"Juliet", "ROMEO", "user123", "Example.COM", "a.b.c", "a..b", ".a", "a.", "a..",
		"xn--bcher-kva.example", "under_score", "-dash-", "with space", "tab\tin",
		"del\x7f", "quote\"d", "amp&", "it's", "sl/ash", "co:lon", "<lt", "gt>", "at@",
		"Resource With Spaces", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "~!#$%^*()_+={}[]|\\;,?`",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	};
	for (size_t i = 0; i < sizeof(longer) / sizeof(longer[0]); i++)
		check_ascii_all(longer[i]);
}

/* jid_match_forms: the four forms as pieces of the JID, a missing one
 * as the nearest one there is, '@' and '/' inside a resource taken as
 * part of it. */
static void test_block_forms(void **state)
{
	static const struct {
		const char *jid, *full, *bare, *domres, *domain;
	} cases[] = {
		{ "juliet@capulet.lit/balcony", "juliet@capulet.lit/balcony", "juliet@capulet.lit",
		  "capulet.lit/balcony", "capulet.lit" },
		{ "juliet@capulet.lit", "juliet@capulet.lit", "juliet@capulet.lit", "capulet.lit",
		  "capulet.lit" },
		{ "capulet.lit/balcony", "capulet.lit/balcony", "capulet.lit",
		  "capulet.lit/balcony", "capulet.lit" },
		{ "capulet.lit", "capulet.lit", "capulet.lit", "capulet.lit", "capulet.lit" },
		{ "juliet@capulet.lit/a@b/c", "juliet@capulet.lit/a@b/c", "juliet@capulet.lit",
		  "capulet.lit/a@b/c", "capulet.lit" },
		{ "capulet.lit/nurse@x", "capulet.lit/nurse@x", "capulet.lit",
		  "capulet.lit/nurse@x", "capulet.lit" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jid_piece f[JID_FORMS];
		const char *want[JID_FORMS] = {
			[JID_FORM_FULL] = cases[i].full,
			[JID_FORM_BARE] = cases[i].bare,
			[JID_FORM_DOMAIN_RESOURCE] = cases[i].domres,
			[JID_FORM_DOMAIN] = cases[i].domain,
		};
		const char *jid = cases[i].jid;
		size_t len = strlen(jid);

		memset(f, 0, sizeof(f));
		jid_match_forms(jid, f);
		for (int k = 0; k < JID_FORMS; k++) {
			/* Inside the JID itself: nothing was copied. */
			assert_true(f[k].s >= jid && f[k].s + f[k].len <= jid + len);
			assert_int_equal(f[k].len, strlen(want[k]));
			assert_memory_equal(f[k].s, want[k], f[k].len);
		}
	}
}

/* jid_bare_of: the part before the first '/', or nothing when too long. */
static void test_bare_of(void **state)
{
	(void)state;
	char out[JID_BUF];
	static char big[JID_BUF + 8];
	assert_true(jid_bare_of("u@d/r/x", out));
	assert_string_equal(out, "u@d");
	assert_true(jid_bare_of("u@d", out));
	assert_string_equal(out, "u@d");
	assert_true(jid_bare_of("d/r", out));
	assert_string_equal(out, "d");
	memset(big, 'a', sizeof(big) - 1);
	assert_false(jid_bare_of(big, out));
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_table),
		cmocka_unit_test(test_block_forms),
		cmocka_unit_test(test_bare_of),
		cmocka_unit_test(test_invalid_table),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_format_small_buffers),
		cmocka_unit_test(test_equality),
		cmocka_unit_test(test_part_helpers),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_ascii_path_matches_libidn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
