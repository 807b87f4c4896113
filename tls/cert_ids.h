/* Whom a server certificate names, for server-to-server authentication
 * (RFC 6120 13.7.1.4 and 13.7.2, RFC 9525, which replaced RFC 6125): the
 * identifiers in its subjectAltName extension, read straight from the DER
 * the peer sent, and whether one of them is a given domain.
 *
 * Accepted, as RFC 6120 asks of an XMPP server's certificate:
 *   - a DNS-ID (dNSName), "*" only as RFC 9525 6.3 allows (tls_name_matches);
 *   - an SRV-ID (RFC 4985 otherName id-on-dnsSRV) "_xmpp-server.DOMAIN" or,
 *     for XEP-0368's direct TLS, "_xmpps-server.DOMAIN", without wildcards;
 *   - an XmppAddr (otherName id-on-xmppAddr) that is exactly the domain.
 * The subject's common name is not an identifier (RFC 9525 dropped CN-ID).
 * An internationalized domain is compared in its A-label form (libidn's
 * ToASCII), whichever form the caller or an XmppAddr uses.
 *
 * The parser reads untrusted bytes (a peer's certificate, before anything
 * else has looked at it): every length is checked against what encloses
 * it, tags of more than one byte and lengths over 16 MiB are refused, and
 * the walk is linear in the input (tests/fuzz/fuzz_cert_ids.c). */
#ifndef XMPPD_TLS_CERT_IDS_H
#define XMPPD_TLS_CERT_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"

enum cert_id_kind {
	CERT_ID_NONE = 0,
	CERT_ID_DNS,      /* dNSName */
	CERT_ID_SRV,      /* otherName id-on-dnsSRV */
	CERT_ID_XMPPADDR, /* otherName id-on-xmppAddr */
};

/* Called for each identifier of the certificate in its order (name is
 * NUL-terminated, at most 255 bytes; longer ones or ones holding a NUL are
 * skipped); a non-zero return stops the walk. */
typedef int (*cert_id_fn)(void *arg, enum cert_id_kind kind, const char *name);

/* Walks the subjectAltName of an X.509 certificate in DER.  XS_OK (also
 * when there is no such extension), XS_PROTO when the DER is malformed,
 * XS_STOP when fn stopped it. */
enum xs cert_ids_each(const uint8_t *der, size_t len, cert_id_fn fn, void *arg);

/* Whether the certificate names domain (ASCII, lower or upper case) as an
 * XMPP server, and how (*how, CERT_ID_NONE when it does not). */
enum xs cert_ids_match_server(const uint8_t *der, size_t len, const char *domain,
			      enum cert_id_kind *how);

#endif
