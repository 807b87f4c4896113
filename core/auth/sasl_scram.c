/* SCRAM (RFC 5802 / 7677 / 9266) over wolfCrypt; see sasl_scram.h.
 *
 * Parsing is by hand and strict: attributes in the RFC's order, values
 * bounded by SCRAM_MAX_MSG, no NUL anywhere, base64 through the strict
 * decoder.  Anything the grammar does not allow is malformed-request;
 * anything that is well-formed but wrong (proof, channel binding, a
 * downgrade) is not-authorized, so a client learns nothing about which
 * check it failed beyond what the RFC itself implies.
 *
 * Unknown users get a fake challenge: the salt is HMAC-SHA-256 over the
 * username with a server key, so the same unknown name always gets the same
 * salt (a real user's salt does not change either), and the iteration count
 * is the configured default.  The final step then runs the same proof
 * computation against random keys and fails, which keeps the timing close.
 *
 * The only process-wide state is the fallback fake-salt key, written once
 * under pthread_once and read-only afterwards; the recommended path is
 * scram_server_set_secret() with a key from the store. */
#include "core/auth/sasl_scram.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>
#include <sys/random.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/pwdbased.h>

#include "core/base/base64.h"
#include "core/xmpp/jid.h"
#include "core/base/log.h"

#define SCRAM_NONCE_RAND 24   /* random bytes in our nonces: 32 base64 chars */
#define SCRAM_MAX_NONCE 256   /* longest client nonce we accept */
#define SCRAM_SECRET_LEN 32
#define SCRAM_PREP_BUF 4096   /* SASLprep output; NFKC can grow a string */

/* ---- conditions and mechanism names ---------------------------------- */

static const char *const sasl__cond_names[] = {
	[SASL_COND_NONE] = "",
	[SASL_COND_ABORTED] = "aborted",
	[SASL_COND_ACCOUNT_DISABLED] = "account-disabled",
	[SASL_COND_CREDENTIALS_EXPIRED] = "credentials-expired",
	[SASL_COND_ENCRYPTION_REQUIRED] = "encryption-required",
	[SASL_COND_INCORRECT_ENCODING] = "incorrect-encoding",
	[SASL_COND_INVALID_AUTHZID] = "invalid-authzid",
	[SASL_COND_INVALID_MECHANISM] = "invalid-mechanism",
	[SASL_COND_MALFORMED_REQUEST] = "malformed-request",
	[SASL_COND_MECHANISM_TOO_WEAK] = "mechanism-too-weak",
	[SASL_COND_NOT_AUTHORIZED] = "not-authorized",
	[SASL_COND_TEMPORARY_AUTH_FAILURE] = "temporary-auth-failure",
};

const char *sasl_condition_name(enum sasl_condition cond)
{
	if ((unsigned)cond >= sizeof(sasl__cond_names) / sizeof(sasl__cond_names[0]))
		return "not-authorized";  /* an unknown value is our bug; fail closed */
	return sasl__cond_names[cond];
}

const char *scram_mech_name(enum scram_hash h, bool plus)
{
	if (h == SCRAM_SHA1)
		return plus ? "SCRAM-SHA-1-PLUS" : "SCRAM-SHA-1";
	return plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
}

bool scram_mech_parse(const char *name, enum scram_hash *h, bool *plus)
{
	static const struct {
		const char *name;
		enum scram_hash h;
		bool plus;
	} mechs[] = {
		{ "SCRAM-SHA-1", SCRAM_SHA1, false },
		{ "SCRAM-SHA-1-PLUS", SCRAM_SHA1, true },
		{ "SCRAM-SHA-256", SCRAM_SHA256, false },
		{ "SCRAM-SHA-256-PLUS", SCRAM_SHA256, true },
	};

	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		if (strcmp(name, mechs[i].name) == 0) {
			*h = mechs[i].h;
			*plus = mechs[i].plus;
			return true;
		}
	}
	return false;
}

/* ---- primitives ------------------------------------------------------- */

static bool scram__random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			LOG_ERR("scram: getrandom: %s", strerror(errno));
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* memcmp that takes the same time wherever the first difference is. */
static bool scram__ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	volatile uint8_t diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static int scram__wc_type(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? WC_SHA : WC_SHA256;
}

static bool scram__hash(enum scram_hash h, const uint8_t *in, size_t len, uint8_t *out)
{
	if (h == SCRAM_SHA1)
		return wc_ShaHash(in, (word32)len, out) == 0;
	return wc_Sha256Hash(in, (word32)len, out) == 0;
}

struct scram__chunk {
	const void *p;
	size_t len;
};

/* HMAC over the concatenation of chunks (AuthMessage is three messages
 * joined by commas; no need to build it). */
static bool scram__hmac(int wc_type, const uint8_t *key, size_t key_len,
			const struct scram__chunk *chunks, size_t n, uint8_t *out)
{
	Hmac hmac;
	bool ok = false;

	if (wc_HmacInit(&hmac, NULL, INVALID_DEVID) != 0)
		return false;
	if (wc_HmacSetKey(&hmac, wc_type, key, (word32)key_len) != 0)
		goto out_free;
	for (size_t i = 0; i < n; i++)
		if (wc_HmacUpdate(&hmac, chunks[i].p, (word32)chunks[i].len) != 0)
			goto out_free;
	ok = wc_HmacFinal(&hmac, out) == 0;
out_free:
	wc_HmacFree(&hmac);
	return ok;
}

static bool scram__hmac1(enum scram_hash h, const uint8_t *key, size_t key_len, const char *s,
			 uint8_t *out)
{
	struct scram__chunk c = { s, strlen(s) };

	return scram__hmac(scram__wc_type(h), key, key_len, &c, 1, out);
}

/* RFC 4013 SASLprep into out (SCRAM_PREP_BUF bytes).  Flags 0 are the
 * "query" rules (unassigned code points allowed): client and server must
 * prepare the same way, and clients in the wild use the query rules. */
static bool scram__saslprep(const char *in, char *out)
{
	size_t len = strlen(in);

	if (len == 0 || len > JID_PART_MAX || !jid_utf8_is_valid(in, len))
		return false;
	memcpy(out, in, len + 1);
	if (stringprep(out, SCRAM_PREP_BUF, 0, stringprep_saslprep) != STRINGPREP_OK ||
	    out[0] == '\0') {
		explicit_bzero(out, SCRAM_PREP_BUF);
		return false;
	}
	return true;
}

/* SaltedPassword := Hi(password, salt, i), Hi being PBKDF2 with HMAC. */
static bool scram__salted(enum scram_hash h, const char *prepped, const uint8_t *salt,
			  size_t salt_len, unsigned iterations, uint8_t *out)
{
	return wc_PBKDF2(out, (const byte *)prepped, (int)strlen(prepped), salt, (int)salt_len,
			 (int)iterations, (int)scram_hash_len(h), scram__wc_type(h)) == 0;
}

/* From SaltedPassword: ClientKey (optional), StoredKey, ServerKey. */
static bool scram__keys(enum scram_hash h, const uint8_t *salted, uint8_t *client_key,
			uint8_t *stored_key, uint8_t *server_key)
{
	size_t hl = scram_hash_len(h);
	uint8_t ck[SCRAM_MAX_HASH];
	bool ok;

	ok = scram__hmac1(h, salted, hl, "Client Key", ck) && scram__hash(h, ck, hl, stored_key) &&
	     scram__hmac1(h, salted, hl, "Server Key", server_key);
	if (ok && client_key)
		memcpy(client_key, ck, hl);
	explicit_bzero(ck, sizeof(ck));
	return ok;
}

/* ---- credentials ------------------------------------------------------ */

static bool scram__hash_ok(enum scram_hash h)
{
	return h == SCRAM_SHA1 || h == SCRAM_SHA256;
}

bool scram_cred_make_with_salt(enum scram_hash h, const char *password, const uint8_t *salt,
			       size_t salt_len, unsigned iterations, struct scram_cred *out)
{
	char prepped[SCRAM_PREP_BUF];
	uint8_t salted[SCRAM_MAX_HASH];
	bool ok;

	if (!scram__hash_ok(h) || !password || !salt || salt_len == 0 ||
	    salt_len > SCRAM_MAX_SALT || iterations < SCRAM_MIN_ITERATIONS ||
	    iterations > SCRAM_MAX_ITERATIONS)
		return false;
	if (!scram__saslprep(password, prepped))
		return false;
	memset(out, 0, sizeof(*out));
	out->hash = h;
	out->iterations = iterations;
	out->salt_len = salt_len;
	memcpy(out->salt, salt, salt_len);
	ok = scram__salted(h, prepped, salt, salt_len, iterations, salted) &&
	     scram__keys(h, salted, NULL, out->stored_key, out->server_key);
	explicit_bzero(prepped, sizeof(prepped));
	explicit_bzero(salted, sizeof(salted));
	if (!ok)
		explicit_bzero(out, sizeof(*out));
	return ok;
}

bool scram_cred_make(enum scram_hash h, const char *password, unsigned iterations,
		     struct scram_cred *out)
{
	uint8_t salt[SCRAM_SALT_LEN];

	if (!scram__random(salt, sizeof(salt)))
		return false;
	return scram_cred_make_with_salt(h, password, salt, sizeof(salt), iterations, out);
}

bool scram_password_matches(const struct scram_cred *c, const char *password)
{
	char prepped[SCRAM_PREP_BUF];
	uint8_t salted[SCRAM_MAX_HASH], stored[SCRAM_MAX_HASH], server[SCRAM_MAX_HASH];
	bool ok;

	if (!c || !password || !scram__hash_ok(c->hash) || c->salt_len == 0 ||
	    c->salt_len > SCRAM_MAX_SALT || c->iterations == 0 ||
	    c->iterations > SCRAM_MAX_ITERATIONS)
		return false;
	if (!scram__saslprep(password, prepped))
		return false;
	ok = scram__salted(c->hash, prepped, c->salt, c->salt_len, c->iterations, salted) &&
	     scram__keys(c->hash, salted, NULL, stored, server) &&
	     scram__ct_equal(stored, c->stored_key, scram_hash_len(c->hash));
	explicit_bzero(prepped, sizeof(prepped));
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(stored, sizeof(stored));
	explicit_bzero(server, sizeof(server));
	return ok;
}

/* ---- message syntax --------------------------------------------------- */

/* A cursor over one message; every parse step either consumes a token or
 * fails, and the message never contains NUL (checked up front). */
struct scram__cur {
	const char *p;
	const char *end;
};

static bool scram__eat(struct scram__cur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* The value up to the next ',' or the end; may be empty. */
static size_t scram__value(struct scram__cur *c, const char **v)
{
	const char *comma = memchr(c->p, ',', (size_t)(c->end - c->p));
	const char *stop = comma ? comma : c->end;
	size_t n = (size_t)(stop - c->p);

	*v = c->p;
	c->p = stop;
	return n;
}

static bool scram__is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* printable = %x21-2B / %x2D-7E (RFC 5802 §7), i.e. no ',' */
static bool scram__nonce_ok(const char *v, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch < 0x21 || ch > 0x7e || ch == ',')
			return false;
	}
	return true;
}

/* Skips "," attr "=" value ... extensions up to end (or up to stop_attr,
 * e.g. "p=", which is left unconsumed).  RFC 5802: unknown extensions
 * are ignored, but they still have to be attr-val pairs. */
static bool scram__skip_extensions(struct scram__cur *c, const char *stop_attr)
{
	while (c->p < c->end) {
		const char *v;

		if (!scram__eat(c, ","))
			return false;
		if (stop_attr && (size_t)(c->end - c->p) >= 2 && memcmp(c->p, stop_attr, 2) == 0) {
			c->p--;  /* leave the ',' for the caller */
			return true;
		}
		if ((size_t)(c->end - c->p) < 3 || !scram__is_alpha(c->p[0]) || c->p[1] != '=')
			return false;
		c->p += 2;
		if (scram__value(c, &v) == 0)
			return false;
	}
	return true;
}

/* saslname decoding: "=2C" -> ',', "=3D" -> '=', any other '=' is an
 * error (RFC 5802 §5.1).  Returns a malloc'd string or NULL; *bad says
 * whether NULL means bad syntax (vs. no memory). */
static char *scram__saslname_decode(const char *v, size_t n, bool *bad)
{
	char *out = malloc(n + 1);
	size_t k = 0;

	*bad = false;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (v[i] != '=') {
			out[k++] = v[i];
		} else if (i + 2 < n && v[i + 1] == '2' && v[i + 2] == 'C') {
			out[k++] = ',';
			i += 2;
		} else if (i + 2 < n && v[i + 1] == '3' && v[i + 2] == 'D') {
			out[k++] = '=';
			i += 2;
		} else {
			goto out_bad;
		}
	}
	out[k] = '\0';
	if (!jid_utf8_is_valid(out, k))
		goto out_bad;
	return out;

out_bad:
	*bad = true;
	free(out);
	return NULL;
}

/* The inverse, for the client; malloc'd. */
static char *scram__saslname_encode(const char *s)
{
	size_t n = strlen(s), k = 0;
	char *out = malloc(3 * n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ',') {
			memcpy(out + k, "=2C", 3);
			k += 3;
		} else if (s[i] == '=') {
			memcpy(out + k, "=3D", 3);
			k += 3;
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
	return out;
}

static char *scram__strndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* A fresh nonce: base64 of random bytes (never contains ','). */
static bool scram__make_nonce(char *out, size_t cap)
{
	uint8_t raw[SCRAM_NONCE_RAND];

	return scram__random(raw, sizeof(raw)) &&
	       base64_encode(raw, sizeof(raw), out, cap, NULL) == XS_OK;
}

/* ---- server ----------------------------------------------------------- */

enum scram__sstate { SS_START, SS_CHALLENGE, SS_FINISH, SS_DONE, SS_FAILED };

#define SCRAM_CB_MISMATCH "channel binding mismatch"

struct scram_server {
	enum scram_hash hash;
	enum scram__sstate state;
	bool plus;
	bool plus_offered;
	bool fake;          /* no such user: the proof can never match */
	bool have_secret;
	char cbind_flag;    /* 'n', 'y' or 'p' as the client sent it */
	size_t cb_len;
	uint8_t cb[SCRAM_MAX_CB];
	uint8_t secret[SCRAM_SECRET_LEN];
	char *gs2_header;   /* "n,," / "p=tls-exporter,a=...," for c= */
	size_t gs2_len;
	char *first_bare;   /* client-first-message-bare, for AuthMessage */
	size_t first_bare_len;
	char *server_first;
	size_t server_first_len;
	char *nonce;        /* client nonce, then client + server nonce */
	size_t nonce_len;
	char *authcid;
	char *authzid;
	char *test_snonce;
	struct scram_cred cred;
	const char *failure;  /* why the exchange failed, a string literal */
	/* A second channel-binding type the client may choose instead of
	 * tls-exporter (tls-server-end-point, RFC 5929); its data goes to cb
	 * once chosen. */
	const char *alt_type;
	size_t alt_len;
	uint8_t alt_cb[SCRAM_MAX_CB];
};

static pthread_once_t scram__secret_once = PTHREAD_ONCE_INIT;
static uint8_t scram__process_secret[SCRAM_SECRET_LEN];
static bool scram__process_secret_ok;

static void scram__secret_init(void)
{
	scram__process_secret_ok = scram__random(scram__process_secret,
						 sizeof(scram__process_secret));
}

struct scram_server *scram_server_new(enum scram_hash h, bool plus, bool plus_offered,
				      const uint8_t *cb_data, size_t cb_len)
{
	struct scram_server *s;

	if (!scram__hash_ok(h))
		return NULL;
	/* -PLUS without binding data would bind to nothing (unless a type
	 * is added with scram_server_add_cb before the exchange starts). */
	if (plus && (cb_len > SCRAM_MAX_CB || (cb_len && !cb_data)))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->hash = h;
	s->plus = plus;
	s->plus_offered = plus_offered || plus;
	if (plus && cb_len) {
		memcpy(s->cb, cb_data, cb_len);
		s->cb_len = cb_len;
	}
	s->state = SS_START;
	return s;
}

bool scram_server_add_cb(struct scram_server *s, const char *type, const uint8_t *data, size_t len)
{
	if (s->state != SS_START || s->alt_type || !type || !data || !len || len > SCRAM_MAX_CB ||
	    strcmp(type, "tls-exporter") == 0)
		return false;
	s->alt_type = type;
	memcpy(s->alt_cb, data, len);
	s->alt_len = len;
	return true;
}

void scram_server_set_secret(struct scram_server *s, const uint8_t *key, size_t len)
{
	/* Hash it down so any key length works and the copy is fixed-size. */
	if (wc_Sha256Hash(key, (word32)len, s->secret) == 0)
		s->have_secret = true;
}

void scram_server_set_nonce_for_test(struct scram_server *s, const char *snonce)
{
	free(s->test_snonce);
	s->test_snonce = strdup(snonce);
}

static void scram__free_str(char **p, size_t len)
{
	if (*p) {
		explicit_bzero(*p, len);
		free(*p);
		*p = NULL;
	}
}

void scram_server_free(struct scram_server *s)
{
	if (!s)
		return;
	scram__free_str(&s->gs2_header, s->gs2_len);
	scram__free_str(&s->first_bare, s->first_bare_len);
	scram__free_str(&s->server_first, s->server_first_len);
	scram__free_str(&s->nonce, s->nonce_len);
	free(s->authcid);
	free(s->authzid);
	free(s->test_snonce);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

static enum scram_status scram__sfail(struct scram_server *s, enum sasl_condition *cond,
				      enum sasl_condition c, const char *why)
{
	s->state = SS_FAILED;
	s->failure = why;
	if (cond)
		*cond = c;
	LOG_DEBUG("scram: %s (%s)", why, sasl_condition_name(c));
	return SCRAM_FAIL;
}

const char *scram_server_failure(const struct scram_server *s)
{
	return s && s->failure ? s->failure : "";
}

bool scram_server_cb_mismatch(const struct scram_server *s)
{
	return s && s->failure && strcmp(s->failure, SCRAM_CB_MISMATCH) == 0;
}

enum scram_status scram_server_start(struct scram_server *s, const char *msg, size_t len,
				     const char **authcid, const char **authzid,
				     enum sasl_condition *cond)
{
	struct scram__cur c = { msg, msg + len };
	char prepped[SCRAM_PREP_BUF], local[JID_PART_MAX + 1];
	const char *v, *bare;
	size_t n;
	bool bad;
	char *user;

	*authcid = *authzid = NULL;
	*cond = SASL_COND_NONE;
	if (s->state != SS_START)
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "start out of order");
	if (len == 0 || len > SCRAM_MAX_MSG || memchr(msg, '\0', len))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "bad length or NUL");

	/* gs2-cbind-flag */
	if (scram__eat(&c, "n")) {
		s->cbind_flag = 'n';
	} else if (scram__eat(&c, "y")) {
		s->cbind_flag = 'y';
	} else if (scram__eat(&c, "p=")) {
		n = scram__value(&c, &v);
		s->cbind_flag = 'p';
		if (!s->plus)
			return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST,
					    "channel binding without -PLUS");
		/* RFC 9266: tls-exporter, given to scram_server_new (TLS
		 * 1.3), or the type added with scram_server_add_cb
		 * (tls-server-end-point, RFC 5929, for TLS 1.2 too). */
		if (s->cb_len && n == 12 && memcmp(v, "tls-exporter", 12) == 0) {
			/* s->cb holds it already */
		} else if (s->alt_type && n == strlen(s->alt_type) && memcmp(v, s->alt_type, n) == 0) {
			memcpy(s->cb, s->alt_cb, s->alt_len);
			s->cb_len = s->alt_len;
		} else {
			return scram__sfail(s, cond, SASL_COND_NOT_AUTHORIZED,
					    "unsupported channel binding type");
		}
	} else {
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "bad gs2 flag");
	}
	if (s->cbind_flag != 'p' && s->plus)
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST,
				    "-PLUS without channel binding");
	/* RFC 5802 §6: "y" means the client could bind but believes we
	 * can't; if we offered -PLUS, someone removed it on the way. */
	if (s->cbind_flag == 'y' && s->plus_offered)
		return scram__sfail(s, cond, SASL_COND_NOT_AUTHORIZED, "channel binding downgrade");
	if (!scram__eat(&c, ","))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "bad gs2 header");

	/* [ "a=" saslname ] "," */
	if (scram__eat(&c, "a=")) {
		n = scram__value(&c, &v);
		if (n == 0)
			return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "empty authzid");
		s->authzid = scram__saslname_decode(v, n, &bad);
	} else {
		s->authzid = strdup("");
		bad = false;
	}
	if (!s->authzid)
		return scram__sfail(s, cond, bad ? SASL_COND_MALFORMED_REQUEST :
				    SASL_COND_TEMPORARY_AUTH_FAILURE, "authzid");
	if (!scram__eat(&c, ","))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "bad gs2 header end");
	s->gs2_len = (size_t)(c.p - msg);
	s->gs2_header = scram__strndup(msg, s->gs2_len);
	if (!s->gs2_header)
		return scram__sfail(s, cond, SASL_COND_TEMPORARY_AUTH_FAILURE, "no memory");

	/* client-first-message-bare = [reserved-mext ","] username "," nonce
	 *                             ["," extensions] */
	bare = c.p;
	if (scram__eat(&c, "m="))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "mandatory extension");
	if (!scram__eat(&c, "n="))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "no username");
	n = scram__value(&c, &v);
	if (n == 0)
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "empty username");
	user = scram__saslname_decode(v, n, &bad);
	if (!user)
		return scram__sfail(s, cond, bad ? SASL_COND_MALFORMED_REQUEST :
				    SASL_COND_TEMPORARY_AUTH_FAILURE, "username");
	if (!scram__eat(&c, ",r=")) {
		free(user);
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "no nonce");
	}
	n = scram__value(&c, &v);
	if (!scram__nonce_ok(v, n) || n > SCRAM_MAX_NONCE) {
		free(user);
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "bad nonce");
	}
	s->nonce = scram__strndup(v, n);
	s->nonce_len = n;
	if (!scram__skip_extensions(&c, NULL) || !s->nonce) {
		free(user);
		return scram__sfail(s, cond, s->nonce ? SASL_COND_MALFORMED_REQUEST :
				    SASL_COND_TEMPORARY_AUTH_FAILURE, "bad extension");
	}
	s->first_bare_len = (size_t)(c.end - bare);
	s->first_bare = scram__strndup(bare, s->first_bare_len);

	/* The username is a localpart: SASLprep as SCRAM says, then Nodeprep
	 * so it matches the account as stored.  A name that cannot be a
	 * localpart cannot have an account. */
	bad = !scram__saslprep(user, prepped) ||
	      jid_local_prep(prepped, local, sizeof(local)) != XS_OK;
	free(user);
	if (bad)
		return scram__sfail(s, cond, SASL_COND_NOT_AUTHORIZED, "username not a localpart");
	s->authcid = strdup(local);
	if (!s->authcid || !s->first_bare)
		return scram__sfail(s, cond, SASL_COND_TEMPORARY_AUTH_FAILURE, "no memory");

	s->state = SS_CHALLENGE;
	*authcid = s->authcid;
	*authzid = s->authzid;
	return SCRAM_CONTINUE;
}

/* Fake credential for an unknown user; see the file comment. */
static bool scram__fake_cred(struct scram_server *s, unsigned iterations)
{
	const uint8_t *key = s->secret;
	uint8_t mac[32];
	uint8_t tag = (uint8_t)s->hash;
	struct scram__chunk chunks[] = {
		{ "xmppd scram fake salt", 21 },
		{ &tag, 1 },
		{ s->authcid, strlen(s->authcid) },
	};

	if (!s->have_secret) {
		pthread_once(&scram__secret_once, scram__secret_init);
		if (!scram__process_secret_ok)
			return false;
		key = scram__process_secret;
	}
	if (!scram__hmac(WC_SHA256, key, SCRAM_SECRET_LEN, chunks, 3, mac))
		return false;
	memset(&s->cred, 0, sizeof(s->cred));
	s->cred.hash = s->hash;
	s->cred.iterations = iterations;
	s->cred.salt_len = SCRAM_SALT_LEN;
	memcpy(s->cred.salt, mac, SCRAM_SALT_LEN);
	s->fake = true;
	/* Random keys: the proof check runs as for a real user and fails. */
	return scram__random(s->cred.stored_key, sizeof(s->cred.stored_key)) &&
	       scram__random(s->cred.server_key, sizeof(s->cred.server_key));
}

enum scram_status scram_server_challenge(struct scram_server *s, const struct scram_cred *cred,
					 unsigned default_iterations, char **out, size_t *out_len)
{
	char snonce[SCRAM_MAX_NONCE + 1];
	char salt64[base64_encoded_len(SCRAM_MAX_SALT) + 1];
	const char *sn;
	char *nonce, *msg;
	size_t need;
	int len;

	*out = NULL;
	*out_len = 0;
	if (s->state != SS_CHALLENGE) {
		s->state = SS_FAILED;
		return SCRAM_FAIL;
	}
	if (default_iterations < SCRAM_MIN_ITERATIONS)
		default_iterations = SCRAM_MIN_ITERATIONS;
	if (cred && cred->hash == s->hash && cred->salt_len > 0 &&
	    cred->salt_len <= SCRAM_MAX_SALT && cred->iterations > 0 &&
	    cred->iterations <= SCRAM_MAX_ITERATIONS) {
		s->cred = *cred;
		s->fake = false;
	} else {
		if (cred)
			LOG_WARN("scram: unusable %s credential for '%s', failing the login",
				 scram_mech_name(cred->hash, false), s->authcid);
		if (!scram__fake_cred(s, default_iterations))
			goto out_fail;
	}

	if (s->test_snonce) {
		sn = s->test_snonce;
	} else {
		if (!scram__make_nonce(snonce, sizeof(snonce)))
			goto out_fail;
		sn = snonce;
	}
	if (base64_encode(s->cred.salt, s->cred.salt_len, salt64, sizeof(salt64), NULL) != XS_OK)
		goto out_fail;

	need = s->nonce_len + strlen(sn) + 1;
	nonce = malloc(need);
	if (!nonce)
		goto out_fail;
	snprintf(nonce, need, "%s%s", s->nonce, sn);
	scram__free_str(&s->nonce, s->nonce_len);
	s->nonce = nonce;
	s->nonce_len = need - 1;

	len = snprintf(NULL, 0, "r=%s,s=%s,i=%u", s->nonce, salt64, s->cred.iterations);
	msg = len > 0 ? malloc((size_t)len + 1) : NULL;
	if (!msg)
		goto out_fail;
	snprintf(msg, (size_t)len + 1, "r=%s,s=%s,i=%u", s->nonce, salt64, s->cred.iterations);
	s->server_first = strdup(msg);
	if (!s->server_first) {
		free(msg);
		goto out_fail;
	}
	s->server_first_len = (size_t)len;
	s->state = SS_FINISH;
	*out = msg;
	*out_len = (size_t)len;
	return SCRAM_CONTINUE;

out_fail:
	s->state = SS_FAILED;
	return SCRAM_FAIL;
}

enum scram_status scram_server_finish(struct scram_server *s, const char *msg, size_t len,
				      char **out, size_t *out_len, enum sasl_condition *cond)
{
	struct scram__cur c = { msg, msg + len };
	size_t hl = scram_hash_len(s->hash);
	uint8_t cbind[SCRAM_MAX_MSG];
	uint8_t proof[SCRAM_MAX_HASH + 3], sig[SCRAM_MAX_HASH], key[SCRAM_MAX_HASH];
	uint8_t stored[SCRAM_MAX_HASH];
	char v64[base64_encoded_len(SCRAM_MAX_HASH) + 3];
	const char *v, *without_proof_end;
	size_t n, cb_n, proof_n;
	bool ok;

	*out = NULL;
	*out_len = 0;
	*cond = SASL_COND_NONE;
	if (s->state != SS_FINISH)
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "finish out of order");
	if (len == 0 || len > SCRAM_MAX_MSG || memchr(msg, '\0', len))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "bad length or NUL");

	/* client-final-message-without-proof = channel-binding "," nonce
	 *                                      ["," extensions] */
	if (!scram__eat(&c, "c="))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "no channel binding");
	n = scram__value(&c, &v);
	if (base64_decode(v, n, cbind, sizeof(cbind), &cb_n) != XS_OK || n == 0)
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "bad c= base64");
	if (!scram__eat(&c, ",r="))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "no nonce");
	n = scram__value(&c, &v);
	if (n != s->nonce_len || memcmp(v, s->nonce, n) != 0)
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "nonce mismatch");
	if (!scram__skip_extensions(&c, "p="))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "bad extension");
	without_proof_end = c.p;
	if (!scram__eat(&c, ",p="))
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "no proof");
	n = scram__value(&c, &v);
	if (c.p != c.end)
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "data after proof");
	if (base64_decode(v, n, proof, sizeof(proof), &proof_n) != XS_OK || proof_n != hl)
		return scram__sfail(s, cond, SASL_COND_MALFORMED_REQUEST, "bad proof");

	/* c= must repeat the gs2 header, and for -PLUS carry this TLS
	 * session's binding data: a relay sees a different session. */
	ok = cb_n == s->gs2_len + (s->cbind_flag == 'p' ? s->cb_len : 0) &&
	     memcmp(cbind, s->gs2_header, s->gs2_len) == 0 &&
	     (s->cbind_flag != 'p' || scram__ct_equal(cbind + s->gs2_len, s->cb, s->cb_len));
	if (!ok)
		return scram__sfail(s, cond, SASL_COND_NOT_AUTHORIZED, SCRAM_CB_MISMATCH);

	/* AuthMessage = client-first-message-bare "," server-first-message ","
	 *               client-final-message-without-proof */
	struct scram__chunk am[] = {
		{ s->first_bare, s->first_bare_len }, { ",", 1 },
		{ s->server_first, s->server_first_len }, { ",", 1 },
		{ msg, (size_t)(without_proof_end - msg) },
	};
	/* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage);
	 * it is right iff H(ClientKey) = StoredKey. */
	ok = scram__hmac(scram__wc_type(s->hash), s->cred.stored_key, hl, am, 5, sig);
	for (size_t i = 0; i < hl; i++)
		key[i] = proof[i] ^ sig[i];
	ok = ok && scram__hash(s->hash, key, hl, stored) &&
	     scram__ct_equal(stored, s->cred.stored_key, hl) && !s->fake;
	explicit_bzero(key, sizeof(key));
	if (!ok)
		return scram__sfail(s, cond, SASL_COND_NOT_AUTHORIZED, "bad proof or unknown user");

	if (!scram__hmac(scram__wc_type(s->hash), s->cred.server_key, hl, am, 5, sig) ||
	    base64_encode(sig, hl, v64 + 2, sizeof(v64) - 2, &n) != XS_OK)
		return scram__sfail(s, cond, SASL_COND_TEMPORARY_AUTH_FAILURE, "server signature");
	v64[0] = 'v';
	v64[1] = '=';
	*out = scram__strndup(v64, n + 2);
	if (!*out)
		return scram__sfail(s, cond, SASL_COND_TEMPORARY_AUTH_FAILURE, "no memory");
	*out_len = n + 2;
	s->state = SS_DONE;
	return SCRAM_DONE;
}

/* ---- client ----------------------------------------------------------- */

enum scram__cstate { CS_FIRST, CS_FINAL, CS_VERIFY, CS_DONE, CS_FAILED };

struct scram_client {
	enum scram_hash hash;
	enum scram__cstate state;
	char *user;         /* SASLprep'd and saslname-encoded */
	char *password;     /* SASLprep'd */
	char *cnonce;
	char *gs2_header;
	char *first_bare;
	size_t cb_len;
	uint8_t cb[SCRAM_MAX_CB];
	uint8_t server_sig[SCRAM_MAX_HASH];
};

struct scram_client *scram_client_new(enum scram_hash h, const char *user, const char *password,
				      const char *cnonce, const char *cb_type, const uint8_t *cb,
				      size_t cb_len, bool server_supports_plus)
{
	char prepped[SCRAM_PREP_BUF];
	char nonce[SCRAM_MAX_NONCE + 1];
	struct scram_client *c;
	int n;

	if (!scram__hash_ok(h) || !user || !password)
		return NULL;
	if (cb_type && (!cb || cb_len == 0 || cb_len > SCRAM_MAX_CB || !*cb_type ||
			strchr(cb_type, ',')))
		return NULL;
	if (cnonce && (!scram__nonce_ok(cnonce, strlen(cnonce)) ||
		       strlen(cnonce) > SCRAM_MAX_NONCE))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->hash = h;
	if (!scram__saslprep(user, prepped))
		goto out_free;
	c->user = scram__saslname_encode(prepped);
	if (!scram__saslprep(password, prepped))
		goto out_free;
	c->password = strdup(prepped);
	explicit_bzero(prepped, sizeof(prepped));
	if (!cnonce) {
		if (!scram__make_nonce(nonce, sizeof(nonce)))
			goto out_free;
		cnonce = nonce;
	}
	c->cnonce = strdup(cnonce);
	if (!cb_type) {
		c->gs2_header = strdup("n,,");
	} else if (server_supports_plus) {
		n = snprintf(NULL, 0, "p=%s,,", cb_type);
		c->gs2_header = malloc((size_t)n + 1);
		if (c->gs2_header)
			snprintf(c->gs2_header, (size_t)n + 1, "p=%s,,", cb_type);
		memcpy(c->cb, cb, cb_len);
		c->cb_len = cb_len;
	} else {
		c->gs2_header = strdup("y,,");
	}
	if (!c->user || !c->password || !c->cnonce || !c->gs2_header)
		goto out_free;
	c->state = CS_FIRST;
	return c;

out_free:
	explicit_bzero(prepped, sizeof(prepped));
	scram_client_free(c);
	return NULL;
}

void scram_client_free(struct scram_client *c)
{
	if (!c)
		return;
	if (c->password)
		scram__free_str(&c->password, strlen(c->password));
	free(c->user);
	free(c->cnonce);
	free(c->gs2_header);
	free(c->first_bare);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static enum scram_status scram__cfail(struct scram_client *c)
{
	c->state = CS_FAILED;
	return SCRAM_FAIL;
}

enum scram_status scram_client_first(struct scram_client *c, char **out, size_t *out_len)
{
	int n;

	*out = NULL;
	*out_len = 0;
	if (c->state != CS_FIRST)
		return scram__cfail(c);
	n = snprintf(NULL, 0, "n=%s,r=%s", c->user, c->cnonce);
	c->first_bare = malloc((size_t)n + 1);
	if (!c->first_bare)
		return scram__cfail(c);
	snprintf(c->first_bare, (size_t)n + 1, "n=%s,r=%s", c->user, c->cnonce);
	n = snprintf(NULL, 0, "%s%s", c->gs2_header, c->first_bare);
	*out = malloc((size_t)n + 1);
	if (!*out)
		return scram__cfail(c);
	snprintf(*out, (size_t)n + 1, "%s%s", c->gs2_header, c->first_bare);
	*out_len = (size_t)n;
	c->state = CS_FINAL;
	return SCRAM_CONTINUE;
}

enum scram_status scram_client_final(struct scram_client *c, const char *server_first, size_t len,
				     char **out, size_t *out_len)
{
	struct scram__cur cur = { server_first, server_first + len };
	size_t hl = scram_hash_len(c->hash);
	uint8_t salt[SCRAM_MAX_SALT + 3], salted[SCRAM_MAX_HASH], ck[SCRAM_MAX_HASH];
	uint8_t stored[SCRAM_MAX_HASH], server_key[SCRAM_MAX_HASH], sig[SCRAM_MAX_HASH];
	uint8_t cbind[SCRAM_MAX_MSG];
	char c64[base64_encoded_len(sizeof(cbind)) + 1];
	char p64[base64_encoded_len(SCRAM_MAX_HASH) + 1];
	const char *nonce, *v;
	size_t nonce_len, n, salt_len, gs2_len;
	unsigned long iter = 0;
	char *without = NULL, *msg = NULL;
	int wl, ml;
	bool ok;

	*out = NULL;
	*out_len = 0;
	if (c->state != CS_FINAL || len == 0 || len > SCRAM_MAX_MSG ||
	    memchr(server_first, '\0', len))
		return scram__cfail(c);
	/* server-first-message = [reserved-mext ","] nonce "," salt ","
	 *                        iteration-count ["," extensions] */
	if (!scram__eat(&cur, "r="))
		return scram__cfail(c);
	nonce_len = scram__value(&cur, &nonce);
	if (!scram__nonce_ok(nonce, nonce_len) || nonce_len <= strlen(c->cnonce) ||
	    memcmp(nonce, c->cnonce, strlen(c->cnonce)) != 0)
		return scram__cfail(c);
	if (!scram__eat(&cur, ",s="))
		return scram__cfail(c);
	n = scram__value(&cur, &v);
	if (n == 0 || base64_decode(v, n, salt, sizeof(salt), &salt_len) != XS_OK ||
	    salt_len == 0 || salt_len > SCRAM_MAX_SALT)
		return scram__cfail(c);
	if (!scram__eat(&cur, ",i="))
		return scram__cfail(c);
	n = scram__value(&cur, &v);
	if (n == 0 || n > 9)
		return scram__cfail(c);
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return scram__cfail(c);
		iter = iter * 10 + (unsigned long)(v[i] - '0');
	}
	if (iter == 0 || iter > SCRAM_MAX_ITERATIONS || !scram__skip_extensions(&cur, NULL))
		return scram__cfail(c);

	gs2_len = strlen(c->gs2_header);
	memcpy(cbind, c->gs2_header, gs2_len);
	memcpy(cbind + gs2_len, c->cb, c->cb_len);
	if (base64_encode(cbind, gs2_len + c->cb_len, c64, sizeof(c64), NULL) != XS_OK)
		return scram__cfail(c);
	wl = snprintf(NULL, 0, "c=%s,r=%.*s", c64, (int)nonce_len, nonce);
	without = malloc((size_t)wl + 1);
	if (!without)
		return scram__cfail(c);
	snprintf(without, (size_t)wl + 1, "c=%s,r=%.*s", c64, (int)nonce_len, nonce);

	struct scram__chunk am[] = {
		{ c->first_bare, strlen(c->first_bare) }, { ",", 1 },
		{ server_first, len }, { ",", 1 },
		{ without, (size_t)wl },
	};
	ok = scram__salted(c->hash, c->password, salt, salt_len, (unsigned)iter, salted) &&
	     scram__keys(c->hash, salted, ck, stored, server_key) &&
	     scram__hmac(scram__wc_type(c->hash), stored, hl, am, 5, sig) &&
	     scram__hmac(scram__wc_type(c->hash), server_key, hl, am, 5, c->server_sig);
	if (ok) {
		for (size_t i = 0; i < hl; i++)
			ck[i] ^= sig[i];  /* ClientProof */
		ok = base64_encode(ck, hl, p64, sizeof(p64), NULL) == XS_OK;
	}
	if (ok) {
		ml = snprintf(NULL, 0, "%s,p=%s", without, p64);
		msg = malloc((size_t)ml + 1);
		if (msg) {
			snprintf(msg, (size_t)ml + 1, "%s,p=%s", without, p64);
			*out = msg;
			*out_len = (size_t)ml;
		}
		ok = msg != NULL;
	}
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ck, sizeof(ck));
	explicit_bzero(server_key, sizeof(server_key));
	free(without);
	if (!ok)
		return scram__cfail(c);
	c->state = CS_VERIFY;
	return SCRAM_CONTINUE;
}

enum scram_status scram_client_verify(struct scram_client *c, const char *server_final, size_t len)
{
	size_t hl = scram_hash_len(c->hash);
	uint8_t sig[SCRAM_MAX_HASH + 3];
	size_t n;

	if (c->state != CS_VERIFY || len < 2 || len > SCRAM_MAX_MSG ||
	    memcmp(server_final, "v=", 2) != 0)
		return scram__cfail(c);
	/* Extensions after v= would be allowed, but no server sends any. */
	if (base64_decode(server_final + 2, len - 2, sig, sizeof(sig), &n) != XS_OK || n != hl ||
	    !scram__ct_equal(sig, c->server_sig, hl))
		return scram__cfail(c);
	c->state = CS_DONE;
	return SCRAM_DONE;
}
