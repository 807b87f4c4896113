/* SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants (RFC 5802, RFC 7677,
 * channel binding type tls-exporter from RFC 9266), server and client side,
 * plus the SASL failure conditions of RFC 6120 §6.5.
 *
 * The server side is a three-step exchange driven by the mux's stream
 * negotiation, with the credential lookup (storage thread) in between:
 *
 *   scram_server_start()     client-first-message -> authcid, authzid
 *   ... caller looks up the credential of authcid asynchronously ...
 *   scram_server_challenge() -> server-first-message (a fake one, if the
 *                               user does not exist, that looks the same)
 *   scram_server_finish()    client-final-message -> server-final-message
 *
 * Messages are the raw bytes after base64 decoding.  A struct scram_server
 * belongs to one connection and one thread; different connections' servers
 * share nothing, so any number of mux threads run them at once.  The client
 * side exists for the unit tests and the bench load generator.
 *
 * Passwords are SASLprep'd (RFC 4013 through libidn) on both sides, and the
 * username is additionally Nodeprep'd, since in XMPP it is a localpart. */
#ifndef XMPPD_SASL_SCRAM_H
#define XMPPD_SASL_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/auth/scram_cred.h"

/* RFC 7677 §4 asks for at least 4096; the upper bound keeps one login from
 * eating seconds of a mux thread (or of the bench client). */
#define SCRAM_MIN_ITERATIONS 4096u
#define SCRAM_MAX_ITERATIONS 10000000u
#define SCRAM_SALT_LEN 16        /* what scram_cred_make() generates */
#define SCRAM_MAX_CB 64          /* channel-binding data; tls-exporter is 32 */
#define SCRAM_MAX_MSG 4096       /* any single SCRAM message we accept */

enum scram_status { SCRAM_CONTINUE, SCRAM_DONE, SCRAM_FAIL };

/* RFC 6120 §6.5, in the RFC's order. */
enum sasl_condition {
	SASL_COND_NONE,
	SASL_COND_ABORTED,
	SASL_COND_ACCOUNT_DISABLED,
	SASL_COND_CREDENTIALS_EXPIRED,
	SASL_COND_ENCRYPTION_REQUIRED,
	SASL_COND_INCORRECT_ENCODING,
	SASL_COND_INVALID_AUTHZID,
	SASL_COND_INVALID_MECHANISM,
	SASL_COND_MALFORMED_REQUEST,
	SASL_COND_MECHANISM_TOO_WEAK,
	SASL_COND_NOT_AUTHORIZED,
	SASL_COND_TEMPORARY_AUTH_FAILURE,
};

/* The element name ("not-authorized"); "" for SASL_COND_NONE. */
const char *sasl_condition_name(enum sasl_condition cond);

/* "SCRAM-SHA-256-PLUS" and back; false for any other mechanism name. */
const char *scram_mech_name(enum scram_hash h, bool plus);
bool scram_mech_parse(const char *name, enum scram_hash *h, bool *plus);

/* Credentials.  false for an empty or un-SASLprep-able password, iterations
 * outside [SCRAM_MIN_ITERATIONS, SCRAM_MAX_ITERATIONS], a salt of 0 or more
 * than SCRAM_MAX_SALT bytes, or no randomness. */
bool scram_cred_make(enum scram_hash h, const char *password, unsigned iterations,
		     struct scram_cred *out);
bool scram_cred_make_with_salt(enum scram_hash h, const char *password, const uint8_t *salt,
			       size_t salt_len, unsigned iterations, struct scram_cred *out);
/* For SASL PLAIN: derives StoredKey from password and compares in constant
 * time.  Costs c->iterations rounds of PBKDF2, like a SCRAM login. */
bool scram_password_matches(const struct scram_cred *c, const char *password);

/* Server side.  plus: the client chose the -PLUS mechanism, and cb_data /
 * cb_len are the tls-exporter bytes of this TLS session, or NULL / 0 when
 * there are none (TLS 1.2): then a type must be added with
 * scram_server_add_cb, or every -PLUS exchange fails.
 * plus_offered: this stream advertised -PLUS mechanisms, so a client that
 * says "y" (I could bind, but you can't) is being downgraded and fails.
 * NULL on allocation failure or plus without cb_data. */
struct scram_server *scram_server_new(enum scram_hash h, bool plus, bool plus_offered,
				      const uint8_t *cb_data, size_t cb_len);
/* Lets the client choose a second channel-binding type besides
 * tls-exporter ("tls-server-end-point" with the hash of our certificate,
 * RFC 5929), before scram_server_start.  false if one is already set, on
 * bad arguments, or for "tls-exporter" itself. */
bool scram_server_add_cb(struct scram_server *s, const char *type, const uint8_t *data, size_t len);
/* Key for the fake salts of unknown users: should be the same across
 * restarts (e.g. kept in the store), so an unknown user's salt is as stable
 * as a real one's.  Without it a per-process random key is used. */
void scram_server_set_secret(struct scram_server *s, const uint8_t *key, size_t len);
/* Fixes the server's part of the nonce (printable, no ','), so the RFC
 * examples can be reproduced byte for byte.  Tests only. */
void scram_server_set_nonce_for_test(struct scram_server *s, const char *snonce);

/* Step 1.  On SCRAM_CONTINUE, *authcid is the Nodeprep'd username and
 * *authzid the requested authorization identity ("" if none), both owned
 * by s; the caller checks authzid.  On SCRAM_FAIL, *cond says why. */
enum scram_status scram_server_start(struct scram_server *s, const char *msg, size_t len,
				     const char **authcid, const char **authzid,
				     enum sasl_condition *cond);
/* Step 2.  cred NULL (no such user, or a credential for another hash)
 * produces a fake challenge; finish then fails with not-authorized.
 * default_iterations is what real credentials are made with, so fake ones
 * look the same.  *out is malloc'd and NUL-terminated; SCRAM_FAIL only on
 * allocation failure, no randomness or misuse (temporary-auth-failure). */
enum scram_status scram_server_challenge(struct scram_server *s, const struct scram_cred *cred,
					 unsigned default_iterations, char **out, size_t *out_len);
/* Step 3.  SCRAM_DONE with the server-final-message ("v=...") in *out
 * (malloc'd), or SCRAM_FAIL with *cond. */
enum scram_status scram_server_finish(struct scram_server *s, const char *msg, size_t len,
				      char **out, size_t *out_len, enum sasl_condition *cond);
/* After SCRAM_FAIL: why, in a few words ("bad proof or unknown user",
 * "channel binding downgrade", ...); "" before any failure. */
const char *scram_server_failure(const struct scram_server *s);
/* After SCRAM_FAIL: true if the proof was never looked at because the
 * channel binding data differ from this TLS session's, the sign of a
 * man in the middle rather than of a wrong password. */
bool scram_server_cb_mismatch(const struct scram_server *s);
/* Wipes keys and messages; NULL is fine. */
void scram_server_free(struct scram_server *s);

/* Client side.  cnonce NULL means random.  cb_type NULL: no channel
 * binding ("n"); otherwise "p=<cb_type>" if server_supports_plus, else
 * "y".  NULL on bad arguments or allocation failure. */
struct scram_client *scram_client_new(enum scram_hash h, const char *user, const char *password,
				      const char *cnonce, const char *cb_type, const uint8_t *cb,
				      size_t cb_len, bool server_supports_plus);
enum scram_status scram_client_first(struct scram_client *c, char **out, size_t *out_len);
/* Checks the server nonce extends ours, derives the keys, writes the
 * client-final-message.  SCRAM_FAIL for a bad server-first-message. */
enum scram_status scram_client_final(struct scram_client *c, const char *server_first, size_t len,
				     char **out, size_t *out_len);
/* SCRAM_DONE iff server_final carries the expected ServerSignature. */
enum scram_status scram_client_verify(struct scram_client *c, const char *server_final, size_t len);
void scram_client_free(struct scram_client *c);

#endif
