/* libFuzzer target for the SCRAM server and SASL PLAIN parsing.
 *
 * Input: one flag byte, then the client-first-message, a '\n', and the
 * client-final-message.  Flags: bit 0 SHA-256 (else SHA-1), bit 1 -PLUS
 * with fixed binding data, bit 2 -PLUS offered, bit 3 unknown user, bit 4
 * feed everything after the flag byte to sasl_plain_parse instead.  The
 * credentials are the RFC 5802 / RFC 7677 examples and the server nonce is
 * fixed, so the seeds reach a successful login and the fuzzer can mutate
 * from there.  Credentials are derived once: PBKDF2 per input would make
 * the target too slow to be useful. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/base64.h"
#include "core/auth/sasl_plain.h"
#include "core/auth/sasl_scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct scram_cred creds[2];
static const uint8_t cb[32] = "0123456789abcdef0123456789abcdef";
static const char *const snonces[2] = { "3rfcNHYJY1ZVvWVs7j", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" };

static void make_creds(void)
{
	static const char *const salts[2] = { "QSXCR+Q6sek8bf92", "W22ZaJ0SNY7soEsUEjb6gQ==" };

	for (int h = 0; h < 2; h++) {
		uint8_t salt[32];
		size_t n;

		if (base64_decode(salts[h], strlen(salts[h]), salt, sizeof(salt), &n) != XS_OK ||
		    !scram_cred_make_with_salt(h, "pencil", salt, n, 4096, &creds[h]))
			abort();
	}
}

static void fuzz_plain(const char *msg, size_t len)
{
	char z[64], c[64], p[64];

	if (sasl_plain_parse(msg, len, z, sizeof(z), c, sizeof(c), p, sizeof(p)) == SCRAM_DONE &&
	    (c[0] == '\0' || p[0] == '\0'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	const char *msg = (const char *)data + 1, *nl, *a, *z;
	enum scram_hash h;
	struct scram_server *s;
	enum sasl_condition cond;
	enum scram_status st;
	size_t len, first_len, out_len;
	char *out;

	if (!ready) {
		make_creds();
		ready = 1;
	}
	if (size < 1)
		return 0;
	len = size - 1;
	if (data[0] & 16) {
		fuzz_plain(msg, len);
		return 0;
	}
	h = (data[0] & 1) ? SCRAM_SHA256 : SCRAM_SHA1;
	s = scram_server_new(h, data[0] & 2, data[0] & 4, cb, sizeof(cb));
	if (!s)
		abort();
	scram_server_set_nonce_for_test(s, snonces[h]);
	nl = memchr(msg, '\n', len);
	first_len = nl ? (size_t)(nl - msg) : len;

	st = scram_server_start(s, msg, first_len, &a, &z, &cond);
	if (st == SCRAM_FAIL) {
		if (cond == SASL_COND_NONE || a || z)
			abort();
		goto out;
	}
	if (st != SCRAM_CONTINUE || !a || !z || !*a)
		abort();
	st = scram_server_challenge(s, (data[0] & 8) ? NULL : &creds[h], 4096, &out, &out_len);
	if (st != SCRAM_CONTINUE || strlen(out) != out_len || strncmp(out, "r=", 2))
		abort();
	free(out);
	if (!nl)
		goto out;
	st = scram_server_finish(s, nl + 1, len - first_len - 1, &out, &out_len, &cond);
	if (st == SCRAM_DONE) {
		if ((data[0] & 8) || strncmp(out, "v=", 2) || strlen(out) != out_len)
			abort();
		free(out);
	} else if (st != SCRAM_FAIL || out || cond == SASL_COND_NONE) {
		abort();
	}
out:
	scram_server_free(s);
	return 0;
}
