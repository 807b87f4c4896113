/* tls/cert_ids.c: the identifiers of a server certificate and RFC 6120's
 * matching rules (DNS-ID, SRV-ID, XmppAddr; no CN), on certificates made
 * by openssl (tests/data/cert_ids/make.sh), and on malformed DER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/base64.h"
#include "tls/cert_ids.h"

struct der_buf {
	uint8_t b[4096];
	size_t n;
};

/* The DER of the first certificate of a PEM file under tests/data/cert_ids. */
static void load(const char *name, struct der_buf *d)
{
	char path[1024], line[256], b64[8192];
	size_t n = 0;
	snprintf(path, sizeof(path), "%s/cert_ids/%s", TEST_DATA_DIR, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	bool in = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "-----BEGIN", 10) == 0) {
			in = true;
			continue;
		}
		if (strncmp(line, "-----END", 8) == 0)
			break;
		size_t l = strcspn(line, "\r\n");
		if (in) {
			assert_true(n + l < sizeof(b64));
			memcpy(b64 + n, line, l);
			n += l;
		}
	}
	fclose(f);
	assert_int_equal(base64_decode(b64, n, d->b, sizeof(d->b), &d->n), XS_OK);
}

static enum cert_id_kind how(const char *file, const char *domain)
{
	struct der_buf d;
	load(file, &d);
	enum cert_id_kind k = (enum cert_id_kind)-1;
	assert_int_equal(cert_ids_match_server(d.b, d.n, domain, &k), XS_OK);
	return k;
}

struct seen {
	unsigned n;
	enum cert_id_kind kind[16];
	char name[16][256];
	unsigned stop_after; /* 0: never */
};

static int collect(void *arg, enum cert_id_kind kind, const char *name)
{
	struct seen *s = arg;
	assert_true(s->n < 16);
	s->kind[s->n] = kind;
	strcpy(s->name[s->n], name);
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static void test_each_in_order(void **state)
{
	(void)state;
	struct der_buf d;
	struct seen s = { 0 };
	load("other_kinds.pem", &d);
	assert_int_equal(cert_ids_each(d.b, d.n, collect, &s), XS_OK);
	/* e-mail, URI, IP and an unknown otherName name no server */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.kind[0], CERT_ID_DNS);
	assert_string_equal(s.name[0], "last.example");

	memset(&s, 0, sizeof(s));
	load("srv.pem", &d);
	assert_int_equal(cert_ids_each(d.b, d.n, collect, &s), XS_OK);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.kind[1], CERT_ID_SRV);
	assert_string_equal(s.name[1], "_xmpps-server.tls.example");

	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(cert_ids_each(d.b, d.n, collect, &s), XS_STOP);
	assert_int_equal(s.n, 1);
}

static void test_dns_ids(void **state)
{
	(void)state;
	assert_int_equal(how("dns.pem", "example.org"), CERT_ID_DNS);
	assert_int_equal(how("dns.pem", "EXAMPLE.org."), CERT_ID_DNS);
	assert_int_equal(how("dns.pem", "mixed.case.example"), CERT_ID_DNS);
	assert_int_equal(how("dns.pem", "chat.wild.example"), CERT_ID_DNS);
	/* "*" is one whole left-most label: not the apex, not two labels */
	assert_int_equal(how("dns.pem", "wild.example"), CERT_ID_NONE);
	assert_int_equal(how("dns.pem", "a.b.wild.example"), CERT_ID_NONE);
	assert_int_equal(how("dns.pem", "other.org"), CERT_ID_NONE);
	/* the subject's CN is no identifier (RFC 9525) */
	assert_int_equal(how("dns.pem", "ignored.example"), CERT_ID_NONE);
	assert_int_equal(how("critical.pem", "critical.example"), CERT_ID_DNS);
}

static void test_srv_ids(void **state)
{
	(void)state;
	assert_int_equal(how("srv.pem", "srv.example"), CERT_ID_SRV);
	assert_int_equal(how("srv.pem", "SRV.Example"), CERT_ID_SRV);
	assert_int_equal(how("srv.pem", "tls.example"), CERT_ID_SRV); /* _xmpps-server */
	/* a client service names no server */
	assert_int_equal(how("srv.pem", "client.example"), CERT_ID_NONE);
	assert_int_equal(how("srv.pem", "example"), CERT_ID_NONE);
}

static void test_xmppaddr(void **state)
{
	(void)state;
	assert_int_equal(how("xmppaddr.pem", "server.example"), CERT_ID_XMPPADDR);
	/* a user's address names no server, even of its domain */
	assert_int_equal(how("xmppaddr.pem", "person.example"), CERT_ID_NONE);
	assert_int_equal(how("xmppaddr.pem", "xmppaddr.example"), CERT_ID_NONE);
}

/* IDNs (RFC 9525 6.3, RFC 6120 13.7.1.4): DNS-IDs hold A-labels, a
 * domain may come in either form, a wildcard covers one U-label too, and
 * an XmppAddr in UTF-8 matches the domain in either form. */
static void test_idn(void **state)
{
	(void)state;
	assert_int_equal(how("idn.pem", "caf\xc3\xa9" ".example"), CERT_ID_DNS);
	assert_int_equal(how("idn.pem", "xn--caf-dma.example"), CERT_ID_DNS);
	assert_int_equal(how("idn.pem", "XN--CAF-DMA.example"), CERT_ID_DNS);
	assert_int_equal(how("idn.pem", "cafe.example"), CERT_ID_NONE);
	assert_int_equal(how("idn.pem", "xmpp.m\xc3\xbcnchen.example"), CERT_ID_DNS);
	assert_int_equal(how("idn.pem", "xmpp.xn--mnchen-3ya.example"), CERT_ID_DNS);
	assert_int_equal(how("idn.pem", "m\xc3\xbcnchen.example"), CERT_ID_NONE);
	assert_int_equal(how("idn.pem", "b\xc3\xbc" "cher.example"), CERT_ID_XMPPADDR);
	assert_int_equal(how("idn.pem", "xn--bcher-kva.example"), CERT_ID_XMPPADDR);
	assert_int_equal(how("idn.pem", "bucher.example"), CERT_ID_NONE);
}

static void test_no_san(void **state)
{
	(void)state;
	assert_int_equal(how("cn_only.pem", "cn.example"), CERT_ID_NONE);
}

static void test_bad_domain(void **state)
{
	(void)state;
	struct der_buf d;
	enum cert_id_kind k;
	load("dns.pem", &d);
	assert_int_equal(cert_ids_match_server(d.b, d.n, "*.wild.example", &k), XS_INVAL);
	assert_int_equal(cert_ids_match_server(d.b, d.n, "", &k), XS_INVAL);
	assert_int_equal(k, CERT_ID_NONE);
}

static int count(void *arg, enum cert_id_kind kind, const char *name)
{
	(void)kind;
	assert_true(strlen(name) < 256);
	(*(unsigned *)arg)++;
	return 0;
}

/* Every truncation is refused; every single-byte change is parsed or
 * refused, never read past (ASan in CI). */
static void test_malformed(void **state)
{
	(void)state;
	const char *files[] = { "srv.pem", "other_kinds.pem", "xmppaddr.pem" };
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		struct der_buf d;
		load(files[f], &d);
		for (size_t n = 0; n < d.n; n++) {
			uint8_t *cut = malloc(n ? n : 1);
			memcpy(cut, d.b, n);
			unsigned c = 0;
			assert_int_equal(cert_ids_each(cut, n, count, &c), XS_PROTO);
			free(cut);
		}
		for (size_t i = 0; i < d.n; i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				uint8_t *m = malloc(d.n);
				memcpy(m, d.b, d.n);
				m[i] ^= (uint8_t)(1u << bit);
				unsigned c = 0;
				enum xs st = cert_ids_each(m, d.n, count, &c);
				assert_true(st == XS_OK || st == XS_PROTO);
				free(m);
			}
		}
	}
	/* a length of four bytes, an indefinite length, a long-form tag */
	static const uint8_t four[] = { 0x30, 0x84, 0, 0, 0, 2, 0x30, 0 };
	static const uint8_t indef[] = { 0x30, 0x80, 0x30, 0x00, 0x00, 0x00 };
	static const uint8_t longtag[] = { 0x3f, 0x01, 0x00 };
	unsigned c = 0;
	assert_int_equal(cert_ids_each(four, sizeof(four), count, &c), XS_PROTO);
	assert_int_equal(cert_ids_each(indef, sizeof(indef), count, &c), XS_PROTO);
	assert_int_equal(cert_ids_each(longtag, sizeof(longtag), count, &c), XS_PROTO);
	assert_int_equal(c, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_in_order),
		cmocka_unit_test(test_dns_ids),
		cmocka_unit_test(test_srv_ids),
		cmocka_unit_test(test_xmppaddr),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_no_san),
		cmocka_unit_test(test_bad_domain),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
