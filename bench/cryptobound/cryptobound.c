/* cryptobound: the least CPU a server can spend on one login, measured with
 * the same wolfCrypt build xmppd uses (issue 3, item 4: the crypto bound
 * printed beside the login figure).
 *
 * What a login costs the server in public-key and hash work, for the login
 * xmppload does (TLS 1.3 with a P-256 key share against xmppd's ECDSA P-256
 * certificate, then SCRAM-SHA-256 with stored keys):
 *
 *   - an ephemeral P-256 key pair for the key share    (wc_ecc_make_key_ex)
 *   - the ECDH shared secret with the client's share   (wc_ecc_shared_secret)
 *   - the CertificateVerify signature                  (wc_ecc_sign_hash)
 *   - the TLS 1.3 key schedule: HKDF-Extract 3x and HKDF-Expand-Label ~14x
 *     over SHA-256, and the transcript hash            (wc_HKDF_Extract, HMAC)
 *   - SCRAM-SHA-256 with StoredKey/ServerKey: ClientSignature (HMAC),
 *     H(ClientKey), ServerSignature (HMAC)
 *
 * Everything else a login costs (socket calls, XML, the handshake state
 * machine, allocations, the store lookup) is overhead above this bound.
 * Each operation is timed over enough iterations to take ~0.3 s of thread
 * CPU time (CLOCK_THREAD_CPUTIME_ID, so another process on the machine does
 * not inflate it) and the per-operation mean is printed.
 *
 *   cryptobound [--json]
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench_ctx {
	WC_RNG rng;
	ecc_key server_static;  /* the certificate's key: signs CertificateVerify */
	ecc_key client_share;   /* the peer's key share */
	ecc_key eph;            /* the server's ephemeral key, for ECDH */
	byte digest[WC_SHA256_DIGEST_SIZE];
};

typedef bool (*op_fn)(struct bench_ctx *b);

static bool op_keygen(struct bench_ctx *b)
{
	ecc_key k;
	bool ok = wc_ecc_init(&k) == 0 && wc_ecc_make_key_ex(&b->rng, 32, &k, ECC_SECP256R1) == 0;
	wc_ecc_free(&k);
	return ok;
}

static bool op_ecdh(struct bench_ctx *b)
{
	/* the server's side: its ephemeral private key times the client's
	 * public share; the keygen is timed on its own above */
	byte secret[32];
	word32 len = sizeof(secret);
	return wc_ecc_shared_secret(&b->eph, &b->client_share, secret, &len) == 0 && len == 32;
}

static bool op_sign(struct bench_ctx *b)
{
	byte sig[ECC_MAX_SIG_SIZE];
	word32 len = sizeof(sig);
	return wc_ecc_sign_hash(b->digest, sizeof(b->digest), sig, &len, &b->rng,
				&b->server_static) == 0;
}

static bool hmac256(const byte *key, word32 klen, const byte *msg, word32 mlen, byte *out)
{
	Hmac h;
	bool ok = wc_HmacInit(&h, NULL, INVALID_DEVID) == 0 &&
		  wc_HmacSetKey(&h, WC_SHA256, key, klen) == 0 && wc_HmacUpdate(&h, msg, mlen) == 0 &&
		  wc_HmacFinal(&h, out) == 0;
	wc_HmacFree(&h);
	return ok;
}

/* The TLS 1.3 key schedule (RFC 8446 §7.1) as HMAC-SHA-256 calls: three
 * Extracts, and the Expand-Labels for the derived secrets, both handshake
 * traffic secrets, both application traffic secrets, the exporter and
 * resumption secrets, the finished keys and the record keys and IVs of four
 * traffic secrets.  Plus ~3 KB of transcript hashing. */
static bool op_key_schedule(struct bench_ctx *b)
{
	byte secret[32] = { 0 }, out[32];
	byte transcript[3072];
	memset(transcript, 0x5a, sizeof(transcript));
	for (int i = 0; i < 3; i++)
		if (!hmac256(secret, 32, b->digest, 32, secret))
			return false;
	for (int i = 0; i < 18; i++)
		if (!hmac256(secret, 32, b->digest, 32, out))
			return false;
	wc_Sha256 sha;
	bool ok = wc_InitSha256(&sha) == 0 && wc_Sha256Update(&sha, transcript, sizeof(transcript)) == 0 &&
		  wc_Sha256Final(&sha, out) == 0;
	wc_Sha256Free(&sha);
	return ok;
}

/* RFC 5802 §3 server side with stored keys: ClientSignature =
 * HMAC(StoredKey, AuthMessage), ClientKey = proof XOR ClientSignature,
 * H(ClientKey) == StoredKey, ServerSignature = HMAC(ServerKey, AuthMessage). */
static bool op_scram(struct bench_ctx *b)
{
	byte auth_msg[200], sig[32], key[32];
	memset(auth_msg, 'a', sizeof(auth_msg));
	if (!hmac256(b->digest, 32, auth_msg, sizeof(auth_msg), sig))
		return false;
	for (int i = 0; i < 32; i++)
		key[i] = sig[i] ^ b->digest[i];
	wc_Sha256 sha;
	bool ok = wc_InitSha256(&sha) == 0 && wc_Sha256Update(&sha, key, 32) == 0 &&
		  wc_Sha256Final(&sha, key) == 0;
	wc_Sha256Free(&sha);
	return ok && hmac256(b->digest, 32, auth_msg, sizeof(auth_msg), sig);
}

/* Mean thread-CPU milliseconds per call, or a negative value on failure. */
static double time_op(struct bench_ctx *b, op_fn fn)
{
	unsigned n = 1;
	for (;;) {
		double t0 = thread_cpu_s();
		for (unsigned i = 0; i < n; i++)
			if (!fn(b))
				return -1;
		double dt = thread_cpu_s() - t0;
		if (dt >= 0.3 || n >= (1u << 24))
			return dt * 1000.0 / n;
		n *= dt > 0.01 ? (unsigned)(0.35 / dt) + 1 : 16;
	}
}

int main(int argc, char **argv)
{
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	if (argc > 1 && !json) {
		fprintf(stderr, "usage: cryptobound [--json]\n");
		return 2;
	}
	struct bench_ctx b;
	memset(&b, 0, sizeof(b));
	if (wolfCrypt_Init() != 0 || wc_InitRng(&b.rng) != 0 || wc_ecc_init(&b.server_static) != 0 ||
	    wc_ecc_init(&b.client_share) != 0 || wc_ecc_init(&b.eph) != 0 ||
	    wc_ecc_make_key_ex(&b.rng, 32, &b.eph, ECC_SECP256R1) != 0 ||
	    wc_ecc_make_key_ex(&b.rng, 32, &b.server_static, ECC_SECP256R1) != 0 ||
	    wc_ecc_make_key_ex(&b.rng, 32, &b.client_share, ECC_SECP256R1) != 0) {
		fprintf(stderr, "cryptobound: wolfCrypt set-up failed\n");
		return 1;
	}
	memset(b.digest, 0x42, sizeof(b.digest));
	b.eph.rng = &b.rng; /* wolfSSL's timing-resistant ECDH wants one */

	static const struct {
		const char *name, *what;
		op_fn fn;
	} ops[] = {
		{ "p256_keygen", "P-256 key share (keygen)", op_keygen },
		{ "p256_ecdh", "P-256 ECDH shared secret", op_ecdh },
		{ "p256_sign", "ECDSA P-256 CertificateVerify", op_sign },
		{ "key_schedule", "TLS 1.3 key schedule + transcript", op_key_schedule },
		{ "scram_sha256", "SCRAM-SHA-256 proof check", op_scram },
	};
	double ms[sizeof(ops) / sizeof(ops[0])], total = 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		ms[i] = time_op(&b, ops[i].fn);
		if (ms[i] < 0) {
			fprintf(stderr, "cryptobound: %s failed\n", ops[i].name);
			return 1;
		}
		total += ms[i];
	}
	if (json) {
		printf("{\"crypto_bound_ms\":%.4f", total);
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			printf(",\"%s_ms\":%.4f", ops[i].name, ms[i]);
		printf("}\n");
	} else {
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			printf("%-36s %8.4f ms\n", ops[i].what, ms[i]);
		printf("%-36s %8.4f ms of CPU per login\n", "crypto bound", total);
	}
	wc_ecc_free(&b.server_static);
	wc_ecc_free(&b.client_share);
	wc_ecc_free(&b.eph);
	wc_FreeRng(&b.rng);
	wolfCrypt_Cleanup();
	return 0;
}
