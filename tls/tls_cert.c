/* Certificate generation and inspection with wolfCrypt, and the RFC 6125
 * DNS-ID match.
 *
 * Generation builds an ECDSA P-256 self-signed certificate with
 * wc_MakeCert/wc_SignCert (a "certgen" wolfSSL build: WOLFSSL_CERT_GEN,
 * WOLFSSL_KEY_GEN, WOLFSSL_ALT_NAMES for the SAN).  Inspection parses the
 * first certificate of a PEM chain with wc_ParseCert and checks the key by
 * comparing the certificate's SubjectPublicKeyInfo with the one derived
 * from the private key; the server runs the same check at start-up
 * (tls_ctx.c, through tls_key_file_matches), so the two cannot disagree.
 *
 * wolfSSL_Init/wolfSSL_Cleanup are reference counted inside wolfSSL, so
 * each entry point here pairs its own and tools may call them without
 * tls_global_init(). */
#include "tls/tls_int.h"
#include "tls/tls_cert.h"

#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/sha512.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TLS_CERT_FILE_MAX (1024 * 1024)

/* ---- RFC 6125 ---- */

static size_t tls_name_len(const char *s)
{
	size_t n = strlen(s);

	/* "example.com." is the same absolute name as "example.com". */
	if (n > 0 && s[n - 1] == '.')
		n--;
	return n;
}

bool tls_name_matches(const char *pattern, const char *domain)
{
	size_t plen, dlen;
	const char *dot;

	if (pattern == NULL || domain == NULL)
		return false;
	plen = tls_name_len(pattern);
	dlen = tls_name_len(domain);
	if (plen == 0 || dlen == 0)
		return false;
	/* A domain we look up never holds a '*'. */
	if (memchr(domain, '*', dlen) != NULL)
		return false;

	if (pattern[0] != '*') {
		if (memchr(pattern, '*', plen) != NULL)
			return false; /* partial wildcards ("f*.example.com") */
		return plen == dlen && strncasecmp(pattern, domain, plen) == 0;
	}

	/* "*.rest": the star must be the whole label, rest must have at
	 * least two labels, and the domain's first label must be non-empty
	 * with exactly rest after it. */
	if (plen < 2 || pattern[1] != '.')
		return false;
	pattern += 2;
	plen -= 2;
	if (memchr(pattern, '*', plen) != NULL || memchr(pattern, '.', plen) == NULL)
		return false;
	dot = memchr(domain, '.', dlen);
	if (dot == NULL || dot == domain)
		return false;
	dot++;
	return (size_t)(domain + dlen - dot) == plen && strncasecmp(dot, pattern, plen) == 0;
}

/* ---- files ---- */

/* Reads a whole (small) file; NUL-terminated for the PEM parser. */
static enum xs tls_read_file(const char *path, uint8_t **data, size_t *len,
			     char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (f == NULL) {
		tls_set_err(err, errlen, "%s: %s", path, strerror(errno));
		return XS_IO;
	}
	buf = malloc(TLS_CERT_FILE_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		tls_set_err(err, errlen, "%s: out of memory", path);
		return XS_NOMEM;
	}
	n = fread(buf, 1, TLS_CERT_FILE_MAX + 1, f);
	if (ferror(f)) {
		tls_set_err(err, errlen, "%s: %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return XS_IO;
	}
	fclose(f);
	if (n > TLS_CERT_FILE_MAX) {
		tls_set_err(err, errlen, "%s: larger than %d bytes", path, TLS_CERT_FILE_MAX);
		free(buf);
		return XS_INVAL;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return XS_OK;
}

#if defined(WOLFSSL_CERT_GEN) && defined(WOLFSSL_KEY_GEN)
/* Writes to "path.XXXXXX" with the given mode, then renames: readers see
 * the old file or the whole new one, and a key is never world-readable,
 * not even for a moment. */
static enum xs tls_write_file(const char *path, const void *data, size_t len, mode_t mode,
			      char *err, size_t errlen)
{
	char tmp[4096];
	const uint8_t *p = data;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
		tls_set_err(err, errlen, "%s: path too long", path);
		return XS_INVAL;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		tls_set_err(err, errlen, "%s: %s", path, strerror(errno));
		return XS_IO;
	}
	if (fchmod(fd, mode) != 0)
		goto out_errno;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto out_errno;
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto out_errno;
	if (close(fd) != 0) {
		fd = -1;
		goto out_errno;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out_errno;
	return XS_OK;

out_errno:
	tls_set_err(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return XS_IO;
}

/* SubjectAltName value: GeneralNames ::= SEQUENCE { dNSName [2] IA5String }. */
static int tls_san_der(const char *domain, uint8_t *out, size_t cap)
{
	size_t n = strlen(domain);
	size_t inner = 2 + n;   /* [2] tag + short length + name (n <= 253) */
	size_t i = 0;

	if (n == 0 || n > 253 || inner + 3 > cap)
		return -1;
	out[i++] = 0x30;
	if (inner > 127)
		out[i++] = 0x81;
	out[i++] = (uint8_t)inner;
	out[i++] = 0x82;
	out[i++] = (uint8_t)n;
	memcpy(out + i, domain, n);
	return (int)(i + n);
}

/* The signing key of a certificate being generated: one of two kinds. */
struct tls_gen_key {
	enum tls_key_kind kind;
	ecc_key ecc;
#ifndef NO_RSA
	RsaKey rsa;
#endif
};

static enum xs tls_gen_key_make(struct tls_gen_key *k, unsigned bits, WC_RNG *rng,
				char *err, size_t errlen)
{
	int rc;

	if (k->kind == TLS_KEY_ECDSA) {
		if (wc_ecc_init(&k->ecc) != 0) {
			tls_set_err(err, errlen, "generate: ecc init failed");
			return XS_TLS;
		}
		rc = wc_ecc_make_key_ex(rng, (int)bits / 8, &k->ecc,
					bits == 384 ? ECC_SECP384R1 : ECC_SECP256R1);
		if (rc != 0) {
			wc_ecc_free(&k->ecc);
			tls_set_err(err, errlen, "generate: P-%u key generation failed (%d)", bits, rc);
			return XS_TLS;
		}
		return XS_OK;
	}
#ifndef NO_RSA
	if (wc_InitRsaKey(&k->rsa, NULL) != 0) {
		tls_set_err(err, errlen, "generate: rsa init failed");
		return XS_TLS;
	}
	rc = wc_MakeRsaKey(&k->rsa, (int)bits, WC_RSA_EXPONENT, rng);
	if (rc != 0) {
		wc_FreeRsaKey(&k->rsa);
		tls_set_err(err, errlen, "generate: RSA-%u key generation failed (%d)", bits, rc);
		return XS_TLS;
	}
	return XS_OK;
#else
	tls_set_err(err, errlen, "generate: this wolfSSL build has no RSA");
	return XS_INVAL;
#endif
}

static void tls_gen_key_free(struct tls_gen_key *k)
{
	if (k->kind == TLS_KEY_ECDSA)
		wc_ecc_free(&k->ecc);
#ifndef NO_RSA
	else
		wc_FreeRsaKey(&k->rsa);
#endif
}

/* Arguments of wolfCrypt's certificate calls for this key. */
static int tls_gen_key_type(const struct tls_gen_key *k)
{
	return k->kind == TLS_KEY_ECDSA ? ECC_TYPE : RSA_TYPE;
}

static void *tls_gen_key_ptr(struct tls_gen_key *k)
{
#ifndef NO_RSA
	if (k->kind == TLS_KEY_RSA)
		return &k->rsa;
#endif
	return &k->ecc;
}

static int tls_gen_key_der(struct tls_gen_key *k, uint8_t *out, word32 cap)
{
#ifndef NO_RSA
	if (k->kind == TLS_KEY_RSA)
		return wc_RsaKeyToDer(&k->rsa, out, cap);
#endif
	return wc_EccKeyToDer(&k->ecc, out, cap);
}

static bool tls_gen_bits_ok(enum tls_key_kind kind, unsigned bits)
{
	if (kind == TLS_KEY_ECDSA)
		return bits == 256 || bits == 384;
	return bits == 2048 || bits == 3072 || bits == 4096;
}

enum xs tls_cert_generate_key(const char *domain, const char *cert_path, const char *key_path,
			      unsigned days, enum tls_key_kind kind, unsigned bits,
			      char *err, size_t errlen)
{
	/* Sizes: an RSA-4096 certificate is ~1.4 KB DER, its key ~2.4 KB. */
	uint8_t der[4096], pem[6144], key_der[4096], key_pem[6144];
	int der_len, pem_len, key_der_len, key_pem_len, san_len, rc;
	enum xs st = XS_TLS;
	WC_RNG rng;
	struct tls_gen_key key = { .kind = kind };
	Cert *cert;

	if (bits == 0)
		bits = kind == TLS_KEY_ECDSA ? 256 : 2048;
	if (domain == NULL || strlen(domain) >= CTC_NAME_SIZE || days == 0 || days > 36500) {
		tls_set_err(err, errlen, "generate: domain must be 1..%d bytes and days 1..36500",
			    CTC_NAME_SIZE - 1);
		return XS_INVAL;
	}
	if (!tls_gen_bits_ok(kind, bits)) {
		tls_set_err(err, errlen, "generate: %s keys have %s bits",
			    kind == TLS_KEY_ECDSA ? "ECDSA" : "RSA",
			    kind == TLS_KEY_ECDSA ? "256 (P-256) or 384 (P-384)" : "2048, 3072 or 4096");
		return XS_INVAL;
	}
	cert = calloc(1, sizeof(*cert));  /* ~20 KB with its SAN buffer */
	if (cert == NULL) {
		tls_set_err(err, errlen, "generate: out of memory");
		return XS_NOMEM;
	}
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		tls_set_err(err, errlen, "generate: wolfSSL_Init failed");
		free(cert);
		return XS_TLS;
	}
	if (wc_InitRng(&rng) != 0) {
		tls_set_err(err, errlen, "generate: no random number generator");
		goto out_cleanup;
	}
	st = tls_gen_key_make(&key, bits, &rng, err, errlen);
	if (st != XS_OK)
		goto out_free_rng;
	st = XS_TLS;

	wc_InitCert(cert);
	snprintf(cert->subject.commonName, CTC_NAME_SIZE, "%s", domain);
	cert->daysValid = (int)days;
	cert->sigType = kind == TLS_KEY_ECDSA ? (bits == 384 ? CTC_SHA384wECDSA : CTC_SHA256wECDSA)
					      : CTC_SHA256wRSA;
	cert->isCA = 0;
	san_len = tls_san_der(domain, cert->altNames, sizeof(cert->altNames));
	if (san_len < 0) {
		tls_set_err(err, errlen, "generate: bad domain for subjectAltName");
		st = XS_INVAL;
		goto out_free_key;
	}
	cert->altNamesSz = san_len;
#ifdef WOLFSSL_CERT_EXT
	/* What a TLS server (and an s2s client, XEP-0178) certificate is
	 * for; without these some clients refuse it.  RSA keys also sign
	 * key exchanges only (ECDHE suites), never encrypt a premaster. */
	if (wc_SetSubjectKeyIdFromPublicKey_ex(cert, tls_gen_key_type(&key),
					       tls_gen_key_ptr(&key)) != 0 ||
	    wc_SetKeyUsage(cert, "digitalSignature") != 0 ||
	    wc_SetExtKeyUsage(cert, "serverAuth,clientAuth") != 0) {
		tls_set_err(err, errlen, "generate: cannot set certificate extensions");
		goto out_free_key;
	}
#endif
	rc = kind == TLS_KEY_ECDSA ? wc_MakeCert(cert, der, sizeof(der), NULL, &key.ecc, &rng)
				   : wc_MakeCert(cert, der, sizeof(der), tls_gen_key_ptr(&key), NULL, &rng);
	if (rc < 0) {
		tls_set_err(err, errlen, "generate: wc_MakeCert failed (%d)", rc);
		goto out_free_key;
	}
	der_len = kind == TLS_KEY_ECDSA
		? wc_SignCert(cert->bodySz, cert->sigType, der, sizeof(der), NULL, &key.ecc, &rng)
		: wc_SignCert(cert->bodySz, cert->sigType, der, sizeof(der), tls_gen_key_ptr(&key),
			      NULL, &rng);
	if (der_len < 0) {
		tls_set_err(err, errlen, "generate: wc_SignCert failed (%d)", der_len);
		goto out_free_key;
	}
	pem_len = wc_DerToPem(der, (word32)der_len, pem, sizeof(pem), CERT_TYPE);
	key_der_len = tls_gen_key_der(&key, key_der, sizeof(key_der));
	key_pem_len = key_der_len > 0
		? wc_DerToPem(key_der, (word32)key_der_len, key_pem, sizeof(key_pem),
			      kind == TLS_KEY_ECDSA ? ECC_PRIVATEKEY_TYPE : PRIVATEKEY_TYPE)
		: -1;
	if (pem_len <= 0 || key_pem_len <= 0) {
		tls_set_err(err, errlen, "generate: PEM encoding failed");
		goto out_wipe;
	}
	/* Key first: a certificate without its key is useless, a key
	 * without its certificate is just regenerated next time. */
	st = tls_write_file(key_path, key_pem, (size_t)key_pem_len, 0600, err, errlen);
	if (st == XS_OK)
		st = tls_write_file(cert_path, pem, (size_t)pem_len, 0644, err, errlen);

out_wipe:
	explicit_bzero(key_der, sizeof(key_der));
	explicit_bzero(key_pem, sizeof(key_pem));
out_free_key:
	tls_gen_key_free(&key);
out_free_rng:
	wc_FreeRng(&rng);
out_cleanup:
	wolfSSL_Cleanup();
	free(cert);
	return st;
}

enum xs tls_cert_generate(const char *domain, const char *cert_path, const char *key_path,
			  unsigned days, char *err, size_t errlen)
{
	return tls_cert_generate_key(domain, cert_path, key_path, days, TLS_KEY_ECDSA, 256,
				     err, errlen);
}
#else
enum xs tls_cert_generate_key(const char *domain, const char *cert_path, const char *key_path,
			      unsigned days, enum tls_key_kind kind, unsigned bits,
			      char *err, size_t errlen)
{
	(void)kind; (void)bits;
	return tls_cert_generate(domain, cert_path, key_path, days, err, errlen);
}

enum xs tls_cert_generate(const char *domain, const char *cert_path, const char *key_path,
			  unsigned days, char *err, size_t errlen)
{
	(void)domain; (void)cert_path; (void)key_path; (void)days;
	tls_set_err(err, errlen,
		    "generate: this wolfSSL was built without certificate generation "
		    "(--enable-certgen --enable-keygen); use scripts/build-wolfssl.sh's build");
	return XS_INVAL;
}
#endif

/* ---- inspection ---- */

static time_t tls_cert_date(const byte *raw, int raw_len)
{
	const byte *date;
	byte format;
	int len;
	struct tm tm;

	if (raw == NULL || wc_GetDateInfo(raw, raw_len, &date, &format, &len) != 0 ||
	    wc_GetDateAsCalendarTime(date, len, format, &tm) != 0)
		return 0;
	return timegm(&tm);
}

static void tls_copy_name(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* SubjectPublicKeyInfo DER of the public half of a private key (ECC or
 * RSA, traditional or PKCS#8 DER).  The ECC public point is recomputed
 * from the private scalar rather than trusted from the file.  Returns the
 * length, or -1 if the key is not one we can read. */
static int tls_key_spki(uint8_t *der, word32 len, uint8_t *out, word32 cap, WC_RNG *rng)
{
	word32 idx = 0;
	int n = -1;
	ecc_key ecc;

#ifdef HAVE_PKCS8
	if (wc_GetPkcs8TraditionalOffset(der, &idx, len) < 0)
		idx = 0;
#endif
	if (wc_ecc_init(&ecc) == 0) {
		word32 i = idx;

		if (wc_EccPrivateKeyDecode(der, &i, &ecc, len) == 0 &&
		    wc_ecc_make_pub_ex(&ecc, NULL, rng) == 0)
			n = wc_EccPublicKeyToDer(&ecc, out, cap, 1);
		wc_ecc_free(&ecc);
		if (n > 0)
			return n;
	}
#ifndef NO_RSA
	{
		RsaKey rsa;
		word32 i = idx;

		if (wc_InitRsaKey(&rsa, NULL) == 0) {
			if (wc_RsaPrivateKeyDecode(der, &i, &rsa, len) == 0)
				n = wc_RsaKeyToPublicDer(&rsa, out, cap);
			wc_FreeRsaKey(&rsa);
		}
	}
#endif
	return n > 0 ? n : -1;
}

/* ---- key types ---- */

/* A DER element: its tag, where its content starts and how long it is.
 * Only what certificates use: one-byte tags, lengths up to 3 bytes. */
static bool tls_der_next(const uint8_t **p, const uint8_t *end, uint8_t *tag,
			 const uint8_t **content, size_t *len)
{
	const uint8_t *q = *p;
	size_t n;

	if (end - q < 2)
		return false;
	*tag = *q++;
	n = *q++;
	if (n & 0x80) {
		size_t k = n & 0x7f;

		if (k == 0 || k > 3 || (size_t)(end - q) < k)
			return false;
		n = 0;
		while (k--)
			n = n << 8 | *q++;
	}
	if ((size_t)(end - q) < n)
		return false;
	*content = q;
	*len = n;
	*p = q + n;
	return true;
}

/* The name of the public key algorithm in a certificate's
 * SubjectPublicKeyInfo, read with the small walker above: a certificate
 * whose key wolfSSL cannot parse (Ed25519 in the lean build) fails in
 * wc_ParseCert with a bare number, and the administrator deserves the
 * key type instead. */
static const char *tls_der_key_alg(const uint8_t *der, size_t len)
{
	static const struct { const char *name; uint8_t n; uint8_t oid[9]; } algs[] = {
		{ "RSA", 9, { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 } },
		{ "RSASSA-PSS", 9, { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a } },
		{ "ECDSA", 7, { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 } },
		{ "DSA", 7, { 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01 } },
		{ "Ed25519", 3, { 0x2b, 0x65, 0x70 } },
		{ "Ed448", 3, { 0x2b, 0x65, 0x71 } },
	};
	const uint8_t *p = der, *end = der + len, *c;
	size_t n;
	uint8_t tag;

	/* Certificate, tbsCertificate */
	if (!tls_der_next(&p, end, &tag, &c, &n) || tag != 0x30)
		return "unknown";
	p = c;
	end = c + n;
	if (!tls_der_next(&p, end, &tag, &c, &n) || tag != 0x30)
		return "unknown";
	p = c;
	end = c + n;
	/* [0] version (optional), serial, signature, issuer, validity, subject */
	if (!tls_der_next(&p, end, &tag, &c, &n))
		return "unknown";
	if (tag == 0xa0 && !tls_der_next(&p, end, &tag, &c, &n))
		return "unknown";
	for (int i = 0; i < 4; i++) {
		if (!tls_der_next(&p, end, &tag, &c, &n))
			return "unknown";
	}
	/* SubjectPublicKeyInfo, AlgorithmIdentifier, OID */
	if (!tls_der_next(&p, end, &tag, &c, &n) || tag != 0x30)
		return "unknown";
	p = c;
	end = c + n;
	if (!tls_der_next(&p, end, &tag, &c, &n) || tag != 0x30)
		return "unknown";
	p = c;
	end = c + n;
	if (!tls_der_next(&p, end, &tag, &c, &n) || tag != 0x06)
		return "unknown";
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (n == algs[i].n && memcmp(c, algs[i].oid, n) == 0)
			return algs[i].name;
	}
	return "unknown";
}

static const char *tls_key_oid_name(word32 oid)
{
	switch (oid) {
	case DSAk: return "DSA";
	case RSAPSSk: return "RSASSA-PSS";
	case ED25519k: return "Ed25519";
	case ED448k: return "Ed448";
	}
	return "unknown";
}

/* The key types we serve, and the name of any other for the message.
 * RSA below 2048 bits is too weak (NIST SP 800-131A); above 4096 it only
 * costs handshake time.  P-521 and EdDSA are left out: wolfSSL's TLS 1.2
 * path and many clients handle them badly, and the lean build has no
 * EdDSA at all. */
static enum xs tls_key_type(struct DecodedCert *dc, char *name, size_t cap, char *err,
			    size_t errlen, const char *path)
{
	const char *why = NULL;

	switch (dc->keyOID) {
	case RSAk: {
#ifndef NO_RSA
		RsaKey rsa;
		word32 idx = 0;
		int bits = 0;

		if (wc_InitRsaKey(&rsa, NULL) == 0) {
			if (wc_RsaPublicKeyDecode(dc->publicKey, &idx, &rsa, dc->pubKeySize) == 0)
				bits = wc_RsaEncryptSize(&rsa) * 8;
			wc_FreeRsaKey(&rsa);
		}
		snprintf(name, cap, "RSA %d", bits);
		if (bits < 2048 || bits > 4096)
			why = "RSA keys must have 2048 to 4096 bits";
#else
		snprintf(name, cap, "RSA");
		why = "this wolfSSL build has no RSA";
#endif
		break;
	}
	case ECDSAk:
		if (dc->pkCurveOID == ECC_SECP256R1_OID) {
			snprintf(name, cap, "ECDSA P-256");
		} else if (dc->pkCurveOID == ECC_SECP384R1_OID) {
			snprintf(name, cap, "ECDSA P-384");
		} else {
			snprintf(name, cap, "ECDSA (curve other than P-256/P-384)");
			why = "ECDSA keys must be on P-256 or P-384";
		}
		break;
	default:
		snprintf(name, cap, "%s", tls_key_oid_name(dc->keyOID));
		why = "";
		break;
	}
	if (why == NULL)
		return XS_OK;
	tls_set_err(err, errlen,
		    "%s: unsupported key type %s%s%s (use RSA 2048-4096 or ECDSA P-256/P-384)",
		    path, name, *why ? ": " : "", why);
	return XS_INVAL;
}

/* A certificate's public key in the form tls_key_spki() writes, so the two
 * compare byte for byte: wolfSSL keeps an RSA certificate's key as the bare
 * PKCS#1 RSAPublicKey, while wc_RsaKeyToPublicDer writes the whole
 * SubjectPublicKeyInfo.  (That difference made every matching RSA pair
 * "not the key of" its certificate.) */
static int tls_cert_spki(struct DecodedCert *dc, uint8_t *out, word32 cap)
{
	word32 len = cap;

#ifndef NO_RSA
	if (dc->keyOID == RSAk) {
		RsaKey rsa;
		word32 idx = 0;
		int n = -1;

		if (wc_InitRsaKey(&rsa, NULL) != 0)
			return -1;
		if (wc_RsaPublicKeyDecode(dc->publicKey, &idx, &rsa, dc->pubKeySize) == 0)
			n = wc_RsaKeyToPublicDer(&rsa, out, cap);
		wc_FreeRsaKey(&rsa);
		return n > 0 ? n : -1;
	}
#endif
	if (wc_GetPubKeyDerFromCert(dc, out, &len) != 0)
		return -1;
	return (int)len;
}

/* Our own check rather than wolfSSL_CTX_check_private_key alone: Debian's
 * wolfSSL 5.5.4 build accepts an ECDSA key that belongs to another
 * certificate there.  Comparing the certificate's SubjectPublicKeyInfo
 * with the one derived from the private key works the same everywhere. */
static enum xs tls_key_matches_cert(const struct DecodedCert *leaf, const char *key_path,
				    bool *matches, char *err, size_t errlen)
{
	uint8_t *pem, *der = NULL;
	uint8_t cert_spki[1100], key_spki[1100];  /* RSA-4096: 550 */
	size_t pem_len;
	int der_len, key_len, cert_len;
	enum xs st;
	WC_RNG rng;

	*matches = false;
	st = tls_read_file(key_path, &pem, &pem_len, err, errlen);
	if (st != XS_OK)
		return st;
	st = XS_INVAL;
	der = malloc(pem_len + 1);
	if (der == NULL) {
		tls_set_err(err, errlen, "%s: out of memory", key_path);
		st = XS_NOMEM;
		goto out_free;
	}
	der_len = wc_KeyPemToDer(pem, (int)pem_len, der, (int)pem_len + 1, NULL);
	if (der_len <= 0) {
		tls_set_err(err, errlen, "%s: not a PEM private key (%d)", key_path, der_len);
		goto out_free;
	}
	if (wc_InitRng(&rng) != 0) {
		tls_set_err(err, errlen, "%s: no random number generator", key_path);
		st = XS_TLS;
		goto out_free;
	}
	key_len = tls_key_spki(der, (word32)der_len, key_spki, sizeof(key_spki), &rng);
	wc_FreeRng(&rng);
	if (key_len < 0) {
		tls_set_err(err, errlen, "%s: not an ECDSA or RSA private key", key_path);
		goto out_free;
	}
	cert_len = tls_cert_spki((struct DecodedCert *)leaf, cert_spki, sizeof(cert_spki));
	if (cert_len < 0) {
		tls_set_err(err, errlen, "%s: certificate has no readable public key", key_path);
		goto out_free;
	}
	*matches = cert_len == key_len && memcmp(cert_spki, key_spki, (size_t)cert_len) == 0;
	st = XS_OK;

out_free:
	if (der != NULL) {
		explicit_bzero(der, pem_len + 1);
		free(der);
	}
	explicit_bzero(pem, pem_len);
	free(pem);
	return st;
}

/* Decodes the first certificate of a PEM chain into *dc, whose source
 * buffer (*der) the caller frees after wc_FreeDecodedCert. */
static enum xs tls_leaf_decode(const char *cert_path, struct DecodedCert *dc, uint8_t **der_out,
			       char *err, size_t errlen)
{
	uint8_t *pem, *der;
	size_t pem_len;
	int der_len, rc;
	enum xs st;

	st = tls_read_file(cert_path, &pem, &pem_len, err, errlen);
	if (st != XS_OK)
		return st;
	der = malloc(pem_len + 1);
	if (der == NULL) {
		free(pem);
		tls_set_err(err, errlen, "%s: out of memory", cert_path);
		return XS_NOMEM;
	}
	/* The first PEM block of the chain is the leaf. */
	der_len = wc_CertPemToDer(pem, (int)pem_len, der, (int)pem_len + 1, CERT_TYPE);
	free(pem);
	if (der_len <= 0) {
		tls_set_err(err, errlen, "%s: no PEM certificate (%d)", cert_path, der_len);
		free(der);
		return XS_INVAL;
	}
	wc_InitDecodedCert(dc, der, (word32)der_len, NULL);
	/* NO_VERIFY: an expired certificate must still be described. */
	rc = wc_ParseCert(dc, CERT_TYPE, NO_VERIFY, NULL);
	if (rc != 0) {
		const char *alg = tls_der_key_alg(der, (size_t)der_len);

		if (strcmp(alg, "RSA") != 0 && strcmp(alg, "ECDSA") != 0 && strcmp(alg, "unknown") != 0)
			tls_set_err(err, errlen, "%s: unsupported key type %s "
				    "(use RSA 2048-4096 or ECDSA P-256/P-384)", cert_path, alg);
		else
			tls_set_err(err, errlen, "%s: cannot parse certificate (%d)", cert_path, rc);
		wc_FreeDecodedCert(dc);
		free(der);
		return XS_INVAL;
	}
	/* Start-up (tls_key_file_matches), import and check all refuse the
	 * same key types. */
	{
		char type[64];

		if (tls_key_type(dc, type, sizeof(type), err, errlen, cert_path) != XS_OK) {
			wc_FreeDecodedCert(dc);
			free(der);
			return XS_INVAL;
		}
	}
	*der_out = der;
	return XS_OK;
}

enum xs tls_cert_end_point(const char *cert_path, uint8_t out[TLS_END_POINT_MAX], size_t *len,
			   char *err, size_t errlen)
{
	struct DecodedCert *dc = malloc(sizeof(*dc));
	uint8_t *der;
	enum xs st;

	*len = 0;
	if (dc == NULL)
		return XS_NOMEM;
	st = tls_leaf_decode(cert_path, dc, &der, err, errlen);
	if (st != XS_OK) {
		free(dc);
		return st;
	}
	/* RFC 5929 4.1: the hash of the certificate's signature algorithm,
	 * SHA-256 where that is MD5 or SHA-1. */
	int rc;
	switch (dc->signatureOID) {
	case CTC_SHA384wECDSA:
	case CTC_SHA384wRSA:
		rc = wc_Sha384Hash(der, dc->maxIdx, out);
		*len = 48;
		break;
	case CTC_SHA512wECDSA:
	case CTC_SHA512wRSA:
		rc = wc_Sha512Hash(der, dc->maxIdx, out);
		*len = 64;
		break;
	default:
		rc = wc_Sha256Hash(der, dc->maxIdx, out);
		*len = 32;
		break;
	}
	wc_FreeDecodedCert(dc);
	free(der);
	free(dc);
	if (rc != 0) {
		*len = 0;
		tls_set_err(err, errlen, "%s: cannot hash the certificate (%d)", cert_path, rc);
		return XS_TLS;
	}
	return XS_OK;
}

enum xs tls_key_file_matches(const char *cert_path, const char *key_path, bool *matches,
			     char *err, size_t errlen)
{
	struct DecodedCert *dc = malloc(sizeof(*dc));
	uint8_t *der;
	enum xs st;

	*matches = false;
	if (dc == NULL)
		return XS_NOMEM;
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		free(dc);
		return XS_TLS;
	}
	st = tls_leaf_decode(cert_path, dc, &der, err, errlen);
	if (st == XS_OK) {
		st = tls_key_matches_cert(dc, key_path, matches, err, errlen);
		wc_FreeDecodedCert(dc);
		free(der);
	}
	free(dc);
	wolfSSL_Cleanup();
	return st;
}

enum xs tls_cert_inspect(const char *cert_path, const char *key_path, const char *domain,
			 struct tls_cert_info *info, char *err, size_t errlen)
{
	struct DecodedCert *dc;
	uint8_t *der;
	enum xs st;
	bool any_dns = false;

	memset(info, 0, sizeof(*info));
	dc = malloc(sizeof(*dc));
	if (dc == NULL) {
		tls_set_err(err, errlen, "inspect: out of memory");
		return XS_NOMEM;
	}
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		free(dc);
		tls_set_err(err, errlen, "inspect: wolfSSL_Init failed");
		return XS_TLS;
	}
	st = tls_leaf_decode(cert_path, dc, &der, err, errlen);
	if (st != XS_OK)
		goto out_cleanup;

	if (dc->subjectCN != NULL && dc->subjectCNLen > 0)
		tls_copy_name(info->subject_cn, sizeof(info->subject_cn), dc->subjectCN,
			      (size_t)dc->subjectCNLen);
	tls_copy_name(info->issuer, sizeof(info->issuer), dc->issuer,
		      strnlen(dc->issuer, sizeof(dc->issuer)));
	for (DNS_entry *e = dc->altNames; e != NULL; e = e->next) {
		if (e->type != ASN_DNS_TYPE || e->name == NULL || e->len <= 0)
			continue;
		any_dns = true;
		if (info->n_names < TLS_CERT_MAX_NAMES)
			tls_copy_name(info->names[info->n_names++], sizeof(info->names[0]),
				      e->name, (size_t)e->len);
		if (domain != NULL && !info->names_domain) {
			char name[256];

			tls_copy_name(name, sizeof(name), e->name, (size_t)e->len);
			info->names_domain = tls_name_matches(name, domain);
		}
	}
	/* RFC 6125 6.4.4: the CN counts only when there is no DNS-ID. */
	if (domain != NULL && !any_dns && info->subject_cn[0] != '\0')
		info->names_domain = tls_name_matches(info->subject_cn, domain);
	info->not_before = tls_cert_date(dc->beforeDate, dc->beforeDateLen);
	info->not_after = tls_cert_date(dc->afterDate, dc->afterDateLen);
	info->self_signed = dc->selfSigned;
	/* Already accepted by tls_leaf_decode; this only names it. */
	tls_key_type(dc, info->key_type, sizeof(info->key_type), NULL, 0, cert_path);

	if (key_path != NULL)
		st = tls_key_matches_cert(dc, key_path, &info->key_matches, err, errlen);

	wc_FreeDecodedCert(dc);
	free(der);
out_cleanup:
	wolfSSL_Cleanup();
	free(dc);
	return st;
}

/* ---- the served chain ---- */

#define TLS_CHAIN_MAX 10

struct tls_chain_cert {
	uint8_t *der;
	int len;
	bool self_signed;
	char issuer[256];
};

/* Splits a PEM file into DER certificates, in file order. */
static enum xs tls_chain_read(const char *path, struct tls_chain_cert *certs, size_t *n,
			      char *err, size_t errlen)
{
	static const char end_tag[] = "-----END CERTIFICATE-----";
	uint8_t *pem;
	size_t pem_len;
	const char *p;
	enum xs st;

	*n = 0;
	st = tls_read_file(path, &pem, &pem_len, err, errlen);
	if (st != XS_OK)
		return st;
	p = (const char *)pem;
	while ((p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL) {
		const char *e = strstr(p, end_tag);
		struct tls_chain_cert *c = &certs[*n];
		struct DecodedCert dc;
		size_t blen;

		if (e == NULL || *n == TLS_CHAIN_MAX)
			break;
		e += sizeof(end_tag) - 1;
		blen = (size_t)(e - p);
		c->der = malloc(blen);
		if (c->der == NULL) {
			st = XS_NOMEM;
			break;
		}
		c->len = wc_CertPemToDer((const unsigned char *)p, (int)blen, c->der, (int)blen,
					 CERT_TYPE);
		if (c->len <= 0) {
			free(c->der);
			tls_set_err(err, errlen, "%s: certificate %zu is not valid PEM", path, *n + 1);
			st = XS_INVAL;
			break;
		}
		wc_InitDecodedCert(&dc, c->der, (word32)c->len, NULL);
		if (wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL) == 0) {
			c->self_signed = dc.selfSigned;
			tls_copy_name(c->issuer, sizeof(c->issuer), dc.issuer,
				      strnlen(dc.issuer, sizeof(dc.issuer)));
		}
		wc_FreeDecodedCert(&dc);
		(*n)++;
		p = e;
	}
	free(pem);
	if (st == XS_OK && *n == 0) {
		tls_set_err(err, errlen, "%s: no PEM certificate", path);
		st = XS_INVAL;
	}
	return st;
}

/* Walks the chain from its top down, as a client would from its trust
 * anchors: each certificate must verify against the anchors plus the
 * certificates above it already verified, and is then added as a signer
 * for the one below. */
static void tls_chain_walk(WOLFSSL_CERT_MANAGER *cm, struct tls_chain_cert *certs, size_t n,
			   struct tls_chain_info *ci)
{
	ci->complete = true;
	for (size_t k = n; k-- > 0;) {
		struct tls_chain_cert *c = &certs[k];
		int rc = wolfSSL_CertManagerVerifyBuffer(cm, c->der, c->len, WOLFSSL_FILETYPE_ASN1);

		/* Dates are the leaf check's business, not the chain's. */
		if (rc == ASN_AFTER_DATE_E || rc == ASN_BEFORE_DATE_E)
			rc = WOLFSSL_SUCCESS;
		/* Debian's build answers ASN_SELF_SIGNED_E where ours says
		 * ASN_NO_SIGNER_E for a self-signed certificate. */
		if ((rc == ASN_NO_SIGNER_E || rc == ASN_SELF_SIGNED_E) && c->self_signed) {
			/* A root the anchors do not hold: fine for a
			 * self-signed leaf or a private CA's chain. */
			if (k == 0 && n == 1)
				ci->self_signed = true;
			else
				ci->private_root = true;
			rc = WOLFSSL_SUCCESS;
		}
		if (rc == ASN_NO_SIGNER_E) {
			ci->complete = false;
			snprintf(ci->missing_issuer, sizeof(ci->missing_issuer), "%s", c->issuer);
			return;
		}
		if (rc != WOLFSSL_SUCCESS) {
			char why[128];

			ci->complete = false;
			tls_wolfssl_strerror(rc, why, sizeof(why));
			snprintf(ci->problem, sizeof(ci->problem), "certificate %zu of the chain: %s",
				 k + 1, why);
			return;
		}
		if (k > 0 && wolfSSL_CertManagerLoadCABuffer(cm, c->der, c->len,
							     WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
			ci->complete = false;
			snprintf(ci->problem, sizeof(ci->problem),
				 "certificate %zu of the chain cannot sign others (not a CA)", k + 1);
			return;
		}
	}
}

enum xs tls_cert_check_chain(const char *cert_path, const char *ca_file,
			     struct tls_chain_info *ci, char *err, size_t errlen)
{
	struct tls_chain_cert certs[TLS_CHAIN_MAX];
	WOLFSSL_CERT_MANAGER *cm;
	size_t n = 0;
	enum xs st;

	memset(ci, 0, sizeof(*ci));
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		tls_set_err(err, errlen, "chain: wolfSSL_Init failed");
		return XS_TLS;
	}
	st = tls_chain_read(cert_path, certs, &n, err, errlen);
	if (st != XS_OK)
		goto out;
	ci->n_certs = n;
	cm = wolfSSL_CertManagerNew();
	if (cm == NULL) {
		tls_set_err(err, errlen, "chain: out of memory");
		st = XS_NOMEM;
		goto out;
	}
	/* A bundle entry this wolfSSL cannot read (a key type the lean build
	 * lacks) fails the call but leaves the others loaded; what is
	 * missing shows up below as a missing issuer. */
	(void)wolfSSL_CertManagerLoadCA(cm, ca_file != NULL ? ca_file : TLS_DEFAULT_CA_FILE, NULL);
	tls_chain_walk(cm, certs, n, ci);
	wolfSSL_CertManagerFree(cm);
out:
	for (size_t i = 0; i < n; i++)
		free(certs[i].der);
	wolfSSL_Cleanup();
	return st;
}
