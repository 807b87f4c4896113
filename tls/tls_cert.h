/* Certificates for the administrator's tools and for start-up checks:
 * generating a self-signed certificate for a domain (xmppctl, and the
 * shipped server.ini's `localhost`), inspecting a PEM certificate against
 * its key and domain, and the RFC 6125 name rule shared with the rest of
 * tls/.  Files only: nothing here touches sessions or sockets, and all of
 * it blocks on disk I/O, so it runs at start-up or in tools, never on a
 * mux thread. */
#ifndef XMPPD_TLS_CERT_H
#define XMPPD_TLS_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/base/status.h"

#define TLS_CERT_MAX_NAMES 16

struct tls_cert_info {
	char subject_cn[256];
	char names[TLS_CERT_MAX_NAMES][256]; /* SAN dNSNames, first 16 */
	size_t n_names;
	time_t not_before, not_after;
	bool self_signed;      /* issuer name == subject name */
	bool key_matches;      /* the key file holds this certificate's key */
	bool names_domain;     /* RFC 6125 match for the domain asked about */
	char issuer[256];      /* wolfSSL's one-line form, "/C=../CN=.." */
	char key_type[64];     /* "RSA 2048", "ECDSA P-256", ... */
};

enum tls_key_kind { TLS_KEY_ECDSA, TLS_KEY_RSA };

/* A self-signed certificate with a new key of the given kind: ECDSA with
 * bits 256 (P-256, the default when bits is 0) or 384 (P-384), RSA with
 * 2048 (default), 3072 or 4096 bits; otherwise as tls_cert_generate. */
enum xs tls_cert_generate_key(const char *domain, const char *cert_path, const char *key_path,
			      unsigned days, enum tls_key_kind kind, unsigned bits,
			      char *err, size_t errlen);

/* ECDSA P-256 self-signed certificate, CN=domain and SAN dNSName=domain,
 * valid from a day ago (clock skew) for `days` days.  Both files are PEM;
 * the key is created 0600.  Each file is written to a temporary name and
 * renamed, so a crash never leaves half a key. */
enum xs tls_cert_generate(const char *domain, const char *cert_path, const char *key_path,
			  unsigned days, char *err, size_t errlen);

/* Parses the first certificate of the PEM chain in cert_path.  key_path
 * and domain may be NULL (then key_matches / names_domain stay false).
 * XS_IO: unreadable file; XS_INVAL: not a certificate or key, or a key
 * type we do not serve: only RSA 2048-4096 and ECDSA P-256/P-384 are
 * accepted ("unsupported key type ..." in err; the server refuses the same
 * at start-up). */
enum xs tls_cert_inspect(const char *cert_path, const char *key_path, const char *domain,
			 struct tls_cert_info *info, char *err, size_t errlen);

/* What tls_cert_check_chain found out about a PEM chain file. */
struct tls_chain_info {
	size_t n_certs;           /* certificates in the file */
	bool complete;            /* every certificate's issuer is in the file or
				   * in the trust anchors, or it is self-signed */
	bool self_signed;         /* the leaf alone, signed by itself */
	bool private_root;        /* ends at a self-signed root of its own that
				   * the trust anchors do not hold */
	char missing_issuer[256]; /* !complete: the issuer whose certificate
				   * is missing, "/C=../CN=.." */
	char problem[256];        /* !complete, no missing issuer: why */
};

/* Checks that the chain served from cert_path (leaf first, then
 * intermediates) reaches a trust anchor in ca_file (NULL: the system
 * bundle, TLS_DEFAULT_CA_FILE) or a self-signed certificate, the check
 * clients make: a leaf installed without its intermediate makes every
 * client fail with "unable to get local issuer certificate".  Dates are
 * not judged here (tls_cert_inspect reports the leaf's).  XS_OK with *ci
 * filled in; XS_IO / XS_INVAL when the file cannot be read or parsed. */
enum xs tls_cert_check_chain(const char *cert_path, const char *ca_file,
			     struct tls_chain_info *ci, char *err, size_t errlen);

/* RFC 6125 6.4 DNS-ID rule: case-insensitive (ASCII; IDNs are compared as
 * A-labels), one trailing dot ignored, "*" only as the entire left-most
 * label, matching exactly one non-empty label, and only with at least two
 * labels after it ("*.com" matches nothing). */
bool tls_name_matches(const char *pattern, const char *domain);

#endif
