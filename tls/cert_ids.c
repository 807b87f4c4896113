/* A server certificate's identifiers (see cert_ids.h): a DER walk to the
 * subjectAltName extension and its GeneralNames, and RFC 6120's matching
 * rules for an XMPP server. */
#include "tls/cert_ids.h"

#include <idna.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tls/tls.h"

/* What is left to read of one DER value's contents. */
struct der {
	const uint8_t *p;
	size_t n;
};

/* Takes the next TLV off d: its tag, its contents.  false if it does not
 * fit in d, or uses what DER for certificates never needs (tags of more
 * than one byte, indefinite lengths, lengths of more than three bytes). */
static bool der_next(struct der *d, uint8_t *tag, struct der *content)
{
	if (d->n < 2 || (d->p[0] & 0x1f) == 0x1f)
		return false;
	size_t len = d->p[1], hdr = 2;
	if (len & 0x80) {
		size_t k = len & 0x7f;
		if (k == 0 || k > 3 || d->n < 2 + k)
			return false;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = (len << 8) | d->p[2 + i];
		hdr += k;
	}
	if (len > d->n - hdr)
		return false;
	*tag = d->p[0];
	content->p = d->p + hdr;
	content->n = len;
	d->p += hdr + len;
	d->n -= hdr + len;
	return true;
}

static bool oid_is(const struct der *oid, const uint8_t *want, size_t n)
{
	return oid->n == n && memcmp(oid->p, want, n) == 0;
}

/* 2.5.29.17, id-ce-subjectAltName */
static const uint8_t OID_SAN[] = { 0x55, 0x1d, 0x11 };
/* 1.3.6.1.5.5.7.8.5, id-on-xmppAddr (RFC 6120 13.7.1.4) */
static const uint8_t OID_XMPPADDR[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x05 };
/* 1.3.6.1.5.5.7.8.7, id-on-dnsSRV (RFC 4985) */
static const uint8_t OID_DNSSRV[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x07 };

enum {
	T_BOOLEAN = 0x01,
	T_OCTETS = 0x04,
	T_OID = 0x06,
	T_UTF8 = 0x0c,
	T_IA5 = 0x16,
	T_SEQ = 0x30,
	T_CTX0_CONS = 0xa0, /* [0] constructed: otherName, its value */
	T_CTX2_PRIM = 0x82, /* [2] primitive: dNSName */
	T_CTX3_CONS = 0xa3, /* [3] constructed: the extensions */
};

/* One identifier to the callback, if it is a usable name. */
static enum xs emit(cert_id_fn fn, void *arg, enum cert_id_kind kind, const struct der *v)
{
	char name[256];
	if (v->n == 0 || v->n >= sizeof(name) || memchr(v->p, '\0', v->n))
		return XS_OK; /* no host name is that long, or holds a NUL */
	memcpy(name, v->p, v->n);
	name[v->n] = '\0';
	return fn(arg, kind, name) ? XS_STOP : XS_OK;
}

static enum xs general_names(struct der val, cert_id_fn fn, void *arg)
{
	uint8_t tag;
	struct der names;
	if (!der_next(&val, &tag, &names) || tag != T_SEQ)
		return XS_PROTO;
	while (names.n) {
		struct der gn;
		enum xs st = XS_OK;
		if (!der_next(&names, &tag, &gn))
			return XS_PROTO;
		if (tag == T_CTX2_PRIM) {
			st = emit(fn, arg, CERT_ID_DNS, &gn);
		} else if (tag == T_CTX0_CONS) {
			/* otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY } */
			struct der oid, wrap, inner;
			if (!der_next(&gn, &tag, &oid) || tag != T_OID)
				return XS_PROTO;
			if (!der_next(&gn, &tag, &wrap) || tag != T_CTX0_CONS)
				return XS_PROTO;
			if (!der_next(&wrap, &tag, &inner))
				return XS_PROTO;
			if (tag == T_UTF8 && oid_is(&oid, OID_XMPPADDR, sizeof(OID_XMPPADDR)))
				st = emit(fn, arg, CERT_ID_XMPPADDR, &inner);
			else if (tag == T_IA5 && oid_is(&oid, OID_DNSSRV, sizeof(OID_DNSSRV)))
				st = emit(fn, arg, CERT_ID_SRV, &inner);
		}
		/* other kinds (e-mail, URI, IP address, ...) name no server */
		if (st != XS_OK)
			return st;
	}
	return XS_OK;
}

enum xs cert_ids_each(const uint8_t *der, size_t len, cert_id_fn fn, void *arg)
{
	struct der all = { der, len }, cert, tbs;
	uint8_t tag;
	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE {...}, ... } */
	if (!der_next(&all, &tag, &cert) || tag != T_SEQ)
		return XS_PROTO;
	if (!der_next(&cert, &tag, &tbs) || tag != T_SEQ)
		return XS_PROTO;
	/* version, serial, signature, issuer, validity, subject, key, unique
	 * ids: skipped whole; the extensions are [3], last */
	while (tbs.n) {
		struct der field, exts;
		if (!der_next(&tbs, &tag, &field))
			return XS_PROTO;
		if (tag != T_CTX3_CONS)
			continue;
		if (!der_next(&field, &tag, &exts) || tag != T_SEQ)
			return XS_PROTO;
		while (exts.n) {
			/* Extension ::= SEQUENCE { OID, critical BOOLEAN DEFAULT
			 * FALSE, extnValue OCTET STRING } */
			struct der ext, oid, val;
			if (!der_next(&exts, &tag, &ext) || tag != T_SEQ)
				return XS_PROTO;
			if (!der_next(&ext, &tag, &oid) || tag != T_OID)
				return XS_PROTO;
			if (!oid_is(&oid, OID_SAN, sizeof(OID_SAN)))
				continue;
			if (!der_next(&ext, &tag, &val))
				return XS_PROTO;
			if (tag == T_BOOLEAN && !der_next(&ext, &tag, &val))
				return XS_PROTO;
			if (tag != T_OCTETS)
				return XS_PROTO;
			/* RFC 5280 4.2: one of each extension; the first is it */
			return general_names(val, fn, arg);
		}
		return XS_OK;
	}
	return XS_OK;
}

struct want {
	char domain[256]; /* the ASCII (A-label) form: what DNS-IDs and SRV-IDs hold */
	enum cert_id_kind how;
};

/* An IDN's A-label form (RFC 5890), for comparing with a certificate's
 * names: DNS-IDs and SRV-IDs hold it (RFC 9525 6.3), an XmppAddr may hold
 * either form (RFC 6120 13.7.1.4 writes it in UTF-8).  false when it has
 * none or it does not fit. */
static bool to_ascii(const char *name, char out[256])
{
	char *ace = NULL;
	if (idna_to_ascii_8z(name, &ace, 0) != IDNA_SUCCESS || !ace)
		return false;
	size_t n = strlen(ace);
	bool ok = n && n < 256;
	if (ok)
		memcpy(out, ace, n + 1);
	free(ace);
	return ok;
}

/* "_xmpp-server.DOMAIN" or "_xmpps-server.DOMAIN" */
static bool srv_names(const char *srv, const char *domain)
{
	static const char *const services[] = { "_xmpp-server.", "_xmpps-server." };
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(services[i]);
		if (strncasecmp(srv, services[i], n) == 0 && strcasecmp(srv + n, domain) == 0)
			return true;
	}
	return false;
}

static int match_one(void *arg, enum cert_id_kind kind, const char *name)
{
	struct want *w = arg;
	bool ok = false;
	switch (kind) {
	case CERT_ID_DNS: ok = tls_name_matches(name, w->domain); break;
	case CERT_ID_SRV: ok = srv_names(name, w->domain); break;
	/* a server's XmppAddr is its domain, nothing more and no wildcard */
	case CERT_ID_XMPPADDR: {
		char ace[256];
		ok = !strchr(name, '@') && !strchr(name, '/') && to_ascii(name, ace) &&
		     strcasecmp(ace, w->domain) == 0;
		break;
	}
	case CERT_ID_NONE: break;
	}
	if (ok)
		w->how = kind;
	return ok;
}

enum xs cert_ids_match_server(const uint8_t *der, size_t len, const char *domain,
			      enum cert_id_kind *how)
{
	struct want w = { .how = CERT_ID_NONE };
	*how = CERT_ID_NONE;
	size_t n = strlen(domain);
	if (n && domain[n - 1] == '.')
		n--; /* the root's dot */
	if (n == 0 || n >= sizeof(w.domain) || memchr(domain, '*', n))
		return XS_INVAL;
	char plain[256];
	memcpy(plain, domain, n);
	plain[n] = '\0';
	if (!to_ascii(plain, w.domain))
		return XS_INVAL;
	enum xs st = cert_ids_each(der, len, match_one, &w);
	if (st == XS_STOP)
		st = XS_OK;
	*how = w.how;
	return st;
}
