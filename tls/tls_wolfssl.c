/* TLS sessions over memory buffers, with wolfSSL underneath.
 *
 * A session owns two ciphertext buffers.  tls_sess_feed() appends what the
 * caller received to `in`; wolfSSL's receive callback takes from it and
 * answers WANT_READ when it is empty, which wolfSSL passes up as "would
 * block".  wolfSSL's send callback appends to `out`, which the caller drains
 * with tls_sess_out_peek()/tls_sess_out_consume().  Neither callback can
 * block or touch a socket, so the same code serves a socket, a session
 * inside another session (TLS inside legacy SSL) and unit tests.
 *
 * Memory: most sessions are idle, so both buffers are freed the moment they
 * become empty; a server session does not even create its WOLFSSL until the
 * ClientHello has arrived, because the name in it decides which host's
 * context (certificate) to use (see tls_ctx.c).  wolfSSL keeps handshake
 * secrets only while we need them for the tls-exporter value, which is
 * computed once at the end of a TLS 1.3 handshake and kept (32 bytes)
 * instead of wolfSSL's ~300-byte handshake arrays.
 *
 * Sleep: an idle established session can give up its WOLFSSL (~3.5 KB of
 * wolfSSL heap) for the ~300-byte state that wolfSSL_tls_export writes
 * (sequence numbers, traffic keys and IVs, cipher suite, version, flags).
 * Waking makes a new WOLFSSL from the same context and imports the state.
 * Sleeping is only safe when wolfSSL holds no input of a record it has not
 * finished: the receive callback therefore hands wolfSSL at most the rest
 * of the current record per call and tracks where record boundaries fall
 * (rx_hdr/rx_body_left), so "between records" is something we know rather
 * than something wolfSSL would have to tell us (it has no API for it).
 *
 * Errors: the first failure makes the session dead (every later call
 * returns XS_TLS); its text is logged at INFO (a peer's failure is not our
 * error) and kept for tls_sess_error(). */
#include "tls/tls_int.h"

#include <wolfssl/error-ssl.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"

/* The smallest allocation for a buffer: a TLS record header plus a small
 * record fits, so one-byte feeds do not realloc on every call. */
#define TLS_BUF_MIN 512u
/* A plaintext record (the ClientHello is one) carries at most 2^14 bytes. */
#define TLS_RECORD_MAX (5u + 16384u)

/* A byte queue.  Invariants: data == NULL exactly when cap == 0, and
 * len == 0 implies data == NULL (freed as soon as it is drained).  Unread
 * bytes are data[off .. off+len). */
struct tls_buf {
	uint8_t *data;
	size_t off;
	size_t len;
	size_t cap;
};

struct tls_sess {
	WOLFSSL *ssl;             /* server: NULL until the ClientHello is in;
				   * NULL while asleep */
	struct tls_ctx_set *set;  /* server: our reference */
	WOLFSSL_CTX *cctx;        /* client: our reference on its private context */
	uint8_t *blob;            /* asleep: wolfSSL_tls_export state, then
				   * secrets_len bytes of traffic secrets;
				   * else NULL */
	struct tls_buf in;        /* ciphertext from the peer */
	struct tls_buf out;       /* ciphertext for the peer */
	char *sni;                /* server: requested name, lower case */
	char *alpn;               /* before: what we offer/accept; after: negotiated or NULL */
	char *err;                /* first failure, NULL if none */
	struct tls_peer *peer;    /* s2s: the peer's certificate; NULL for the others */
	uint32_t rx_body_left;    /* record bytes still to hand to wolfSSL */
	uint16_t blob_len;
	uint8_t secrets_len;      /* tail of blob, 0 if none */
	uint8_t rx_hdr[5];        /* header of the record being handed over */
	uint8_t rx_hdr_len;       /* 0: at a record boundary */
	uint8_t exporter[TLS_EXPORTER_LEN];
	uint8_t version;          /* 12, 13; 0 until done */
	bool is_server;
	bool done;
	bool failed;
	bool has_exporter;
};

/* What an s2s session learns of its peer's certificate (tls_sess_peer).
 * Only s2s sessions have one: the thousands of c2s sessions pay a NULL. */
struct tls_peer {
	uint8_t *der;             /* the leaf as the peer sent it */
	size_t der_len;
	char *why;                /* first verification error */
	bool untrusted;
};

/* A leaf larger than this is not kept (nor trusted): real ones are 1-3 KB. */
#define TLS_PEER_DER_MAX (16u * 1024u)

/* ---- buffers ---- */

static enum xs tls_buf_append(struct tls_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return XS_OK;
	if (b->off + b->len + n > b->cap && b->off > 0) {
		/* Reuse the consumed front before growing. */
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap * 2;
		uint8_t *d;

		if (cap < b->len + n)
			cap = b->len + n;
		if (cap < TLS_BUF_MIN)
			cap = TLS_BUF_MIN;
		d = realloc(b->data, cap);
		if (d == NULL)
			return XS_NOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
	return XS_OK;
}

static void tls_buf_release(struct tls_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

static void tls_buf_consume(struct tls_buf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		tls_buf_release(b);
}

/* ---- wolfSSL I/O callbacks ---- */

/* Hands wolfSSL at most the rest of the current record (a header, then
 * its body), so that whatever wolfSSL holds unprocessed is part of one
 * record and rx_hdr_len != 0 says exactly when it holds part of one.
 * wolfSSL 5.5 asks for no more than that anyway; the cap keeps the
 * bookkeeping true for a build that reads ahead.  If the stream is not
 * TLS records at all the framing is wrong, but every call still returns
 * at least one byte when there is one, so nothing stalls. */
static int tls_io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_sess *sess = arg;
	const uint8_t *src;
	size_t n, lim;

	(void)ssl;
	if (sess->in.len == 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	lim = sess->rx_hdr_len < sizeof(sess->rx_hdr) ?
	      sizeof(sess->rx_hdr) - sess->rx_hdr_len : sess->rx_body_left;
	n = sess->in.len < (size_t)sz ? sess->in.len : (size_t)sz;
	if (n > lim)
		n = lim;
	src = sess->in.data + sess->in.off;
	memcpy(buf, src, n);
	if (sess->rx_hdr_len < sizeof(sess->rx_hdr)) {
		memcpy(sess->rx_hdr + sess->rx_hdr_len, src, n);
		sess->rx_hdr_len = (uint8_t)(sess->rx_hdr_len + n);
		if (sess->rx_hdr_len == sizeof(sess->rx_hdr)) {
			sess->rx_body_left = (uint32_t)sess->rx_hdr[3] << 8 | sess->rx_hdr[4];
			if (sess->rx_body_left == 0)
				sess->rx_hdr_len = 0;
		}
	} else {
		sess->rx_body_left -= (uint32_t)n;
		if (sess->rx_body_left == 0)
			sess->rx_hdr_len = 0;
	}
	tls_buf_consume(&sess->in, n);
	return (int)n;
}

static int tls_io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_sess *sess = arg;

	(void)ssl;
	/* Never WANT_WRITE: the connection above us caps its output
	 * (max_output_buffer); making wolfSSL hold records back would only
	 * move the same bytes into its own buffers. */
	if (tls_buf_append(&sess->out, buf, (size_t)sz) != XS_OK)
		return WOLFSSL_CBIO_ERR_GENERAL;
	return sz;
}

/* ---- errors ---- */

static enum xs tls_sess_fail(struct tls_sess *sess, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum xs tls_sess_fail(struct tls_sess *sess, const char *what, const char *fmt, ...)
{
	char msg[256];
	int n;
	va_list ap;

	n = snprintf(msg, sizeof(msg), "%s: ", what);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (!sess->failed) {
		sess->failed = true;
		free(sess->err);
		sess->err = strdup(msg);
	}
	LOG_INFO("tls: %s session: %s", sess->is_server ? "server" : "client", msg);
	return XS_TLS;
}

/* Turns wolfSSL's answer after a non-success return into our status. */
static enum xs tls_sess_wolf_status(struct tls_sess *sess, int rc, const char *what)
{
	int e = wolfSSL_get_error(sess->ssl, rc);
	char text[160];

	switch (e) {
	case WOLFSSL_ERROR_WANT_READ:
	case WOLFSSL_ERROR_WANT_WRITE:
		return XS_AGAIN;
	case WOLFSSL_ERROR_ZERO_RETURN:
		return XS_EOF;
	}
	tls_wolfssl_strerror(e, text, sizeof(text));
	if (e == FATAL_ERROR) {
		/* The peer sent an alert; its code says more than "fatal". */
		WOLFSSL_ALERT_HISTORY h;

		memset(&h, 0, sizeof(h));
		if (wolfSSL_get_alert_history(sess->ssl, &h) == WOLFSSL_SUCCESS &&
		    h.last_rx.code > 0)
			return tls_sess_fail(sess, what, "peer sent alert %d", h.last_rx.code);
	}
	return tls_sess_fail(sess, what, "%s", text);
}

/* ---- set-up ---- */

static void tls_sess_attach_io(struct tls_sess *sess, WOLFSSL *ssl)
{
	wolfSSL_SSLSetIORecv(ssl, tls_io_recv);
	wolfSSL_SSLSetIOSend(ssl, tls_io_send);
	wolfSSL_SetIOReadCtx(ssl, sess);
	wolfSSL_SetIOWriteCtx(ssl, sess);
}

static void tls_sess_attach(struct tls_sess *sess)
{
	tls_sess_attach_io(sess, sess->ssl);
	/* The exporter secret is derived only while the handshake arrays are
	 * kept; we drop them as soon as the value is computed. */
	wolfSSL_KeepArrays(sess->ssl);
}

static bool tls_use_alpn(WOLFSSL *ssl, const char *alpn)
{
	char tmp[256];
	size_t n = strlen(alpn);

	/* wolfSSL_UseALPN takes a non-const list. */
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, alpn, n + 1);
	return wolfSSL_UseALPN(ssl, tmp, (unsigned)n, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) ==
	       WOLFSSL_SUCCESS;
}

/* wolfSSL calls this for each certificate of the peer's chain, verified
 * or not (WOLFSSL_ALWAYS_VERIFY_CB): the leaf is kept, the first error
 * remembered, and the handshake goes on whatever it found (return 1), so
 * that the s2s code can answer with the RFC's error or fall back to
 * dialback instead of a bare TLS alert. */
static int tls_peer_verify(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	struct tls_sess *sess = store->userCtx;
	struct tls_peer *peer = sess ? sess->peer : NULL;

	if (peer == NULL)
		return preverify;
	/* the leaf, at the first call (a later one finds it kept, or the
	 * session already untrusted for want of it) */
	if (peer->der == NULL && !peer->untrusted && store->certs != NULL && store->totalCerts > 0) {
		const WOLFSSL_BUFFER_INFO *leaf = &store->certs[0];

		if (leaf->length > 0 && leaf->length <= TLS_PEER_DER_MAX &&
		    (peer->der = malloc(leaf->length)) != NULL) {
			memcpy(peer->der, leaf->buffer, leaf->length);
			peer->der_len = leaf->length;
		} else {
			/* not kept: cannot be matched either */
			peer->untrusted = true;
			peer->why = strdup(leaf->length > TLS_PEER_DER_MAX ? "certificate over 16 KiB"
					   : leaf->length == 0		   ? "empty certificate"
									   : "out of memory keeping the certificate");
		}
	}
	if (!preverify && !peer->untrusted) {
		char why[160];

		peer->untrusted = true;
		tls_wolfssl_strerror(store->error, why, sizeof(why));
		free(peer->why);
		peer->why = strdup(why);
	}
	return 1;
}

static void tls_peer_free(struct tls_peer *peer)
{
	if (peer == NULL)
		return;
	free(peer->der);
	free(peer->why);
	free(peer);
}

static void tls_peer_watch(struct tls_sess *sess)
{
	wolfSSL_set_verify(sess->ssl, WOLFSSL_VERIFY_PEER, tls_peer_verify);
	wolfSSL_SetCertCbCtx(sess->ssl, sess);
}

enum tls_peer_verdict tls_sess_peer(const struct tls_sess *sess, const uint8_t **der,
				    size_t *len, const char **why)
{
	const struct tls_peer *peer = sess->peer;
	bool have = peer != NULL && peer->der != NULL;

	if (der != NULL)
		*der = have ? peer->der : NULL;
	if (len != NULL)
		*len = have ? peer->der_len : 0;
	if (why != NULL)
		*why = peer != NULL && peer->why != NULL ? peer->why : "";
	if (peer == NULL || !sess->done || (!have && !peer->untrusted))
		return TLS_PEER_NONE;
	return peer->untrusted ? TLS_PEER_UNTRUSTED : TLS_PEER_TRUSTED;
}

struct tls_sess *tls_sess_new_server_peer(struct tls_ctx_set *set, const char *alpn)
{
	struct tls_sess *sess = tls_sess_new_server(set, alpn);

	if (sess != NULL && (sess->peer = calloc(1, sizeof(*sess->peer))) == NULL) {
		tls_sess_free(sess);
		return NULL;
	}
	return sess;
}

struct tls_sess *tls_sess_new_server(struct tls_ctx_set *set, const char *alpn)
{
	struct tls_sess *sess = calloc(1, sizeof(*sess));

	if (sess == NULL)
		return NULL;
	sess->is_server = true;
	if (alpn != NULL) {
		sess->alpn = strdup(alpn);
		if (sess->alpn == NULL) {
			free(sess);
			return NULL;
		}
	}
	tls_ctx_set_ref(set);
	sess->set = set;
	return sess;
}

/* A host name from SNI that we are willing to look up and report: LDH
 * labels (plus '_', seen in the wild), no empty label, lower-cased. */
static char *tls_sni_copy(const uint8_t *name, size_t len)
{
	char *s;

	if (len == 0 || len > 253)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return NULL;
		if (c == '.' && (i == 0 || name[i - 1] == '.'))
			return NULL;
	}
	s = malloc(len + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		s[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	s[len] = '\0';
	if (s[len - 1] == '.')
		s[len - 1] = '\0';
	return s;
}

/* Alert descriptions we send ourselves (RFC 8446 6). */
#define TLS_ALERT_HANDSHAKE_FAILURE 40
#define TLS_ALERT_INSUFFICIENT_SECURITY 71

/* Fails a server session before any WOLFSSL exists, queueing the fatal
 * alert wolfSSL would have sent: a plaintext alert record with the
 * legacy record version 0x0303, which TLS 1.2 and 1.3 clients both read. */
static enum xs tls_sess_refuse(struct tls_sess *sess, uint8_t alert, const char *why)
{
	const uint8_t rec[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, alert };

	tls_buf_release(&sess->in);
	sess->rx_hdr_len = 0;
	if (tls_buf_append(&sess->out, rec, sizeof(rec)) != XS_OK)
		return tls_sess_fail(sess, "handshake", "out of memory");
	return tls_sess_fail(sess, "handshake", "%s (alert %u sent)", why, alert);
}

/* Server: once the first record is complete, pick the host by SNI and
 * create the WOLFSSL.  A first record that is not a handshake, is larger
 * than a plaintext record may be, or holds a ClientHello we cannot parse
 * gets the default host and is left to wolfSSL to reject.  A ClientHello
 * fragmented over several records (legal, unseen in practice) also gets
 * the default host. */
static enum xs tls_sess_start_server(struct tls_sess *sess)
{
	const uint8_t *p;
	size_t rec;
	WOLFSSL_CTX *wctx;

	if (sess->in.len < 5)
		return XS_AGAIN;
	p = sess->in.data + sess->in.off;
	rec = 5 + ((size_t)p[3] << 8 | p[4]);
	if (p[0] == 0x16 && rec <= TLS_RECORD_MAX) {
		uint8_t name[256];
		unsigned int nlen = sizeof(name);

		if (sess->in.len < rec)
			return XS_AGAIN;
		if (wolfSSL_SNI_GetFromBuffer(p, (unsigned int)rec, WOLFSSL_SNI_HOST_NAME,
					      name, &nlen) == WOLFSSL_SUCCESS)
			sess->sni = tls_sni_copy(name, nlen);
		switch (tls_hello_check(p, rec)) {
		case TLS_HELLO_OK:
			break;
		case TLS_HELLO_ONLY_FFDHE:
			/* RFC 7919 4: no FFDHE group we know, no other suite */
			return tls_sess_refuse(sess, TLS_ALERT_INSUFFICIENT_SECURITY,
					       "client offers only FFDHE groups; we do ECDHE only");
		case TLS_HELLO_NO_GROUP:
			/* RFC 8446 4.1.1 */
			return tls_sess_refuse(sess, TLS_ALERT_HANDSHAKE_FAILURE,
					       "no key exchange group in common with the client");
		}
	}

	wctx = tls_ctx_set_pick(sess->set, sess->sni);
	sess->ssl = wolfSSL_new(wctx);
	if (sess->ssl == NULL)
		return tls_sess_fail(sess, "setup", "out of memory");
	tls_sess_attach(sess);
	if (sess->alpn != NULL && !tls_use_alpn(sess->ssl, sess->alpn))
		return tls_sess_fail(sess, "setup", "cannot set ALPN \"%s\"", sess->alpn);
	if (sess->peer != NULL)
		tls_peer_watch(sess); /* a CertificateRequest goes out */
	LOG_DEBUG("tls: ClientHello for %s", sess->sni ? sess->sni : "(no SNI)");
	return XS_OK;
}

struct tls_sess *tls_sess_new_client(const struct tls_client_opts *opts, char *err, size_t errlen)
{
	struct tls_sess *sess;
	WOLFSSL_CTX *wctx;
	int min = opts->min_version ? opts->min_version : 12;
	int max = opts->max_version ? opts->max_version : 13;
	char why[160];
	int rc;

	if (tls_version_to_wolfssl(min) < 0 || tls_version_to_wolfssl(max) < 0 || min > max) {
		tls_set_err(err, errlen, "tls client: bad version range %d..%d", min, max);
		return NULL;
	}
	/* A private context per client session: trust anchors and versions
	 * vary per call, and outgoing sessions are few (s2s links).  The
	 * WOLFSSL holds a reference, so the context goes with it. */
	wctx = wolfSSL_CTX_new(max == 12 ? wolfTLSv1_2_client_method() :
			       wolfSSLv23_client_method());
	if (wctx == NULL) {
		tls_set_err(err, errlen, "tls client: out of memory");
		return NULL;
	}
	if (wolfSSL_CTX_SetMinVersion(wctx, tls_version_to_wolfssl(min)) != WOLFSSL_SUCCESS) {
		tls_set_err(err, errlen, "tls client: TLS 1.%d not supported", min % 10);
		goto out_free_ctx;
	}
	if (opts->verify || opts->peer_record) {
		const char *ca = opts->ca_file ? opts->ca_file : TLS_DEFAULT_CA_FILE;

		rc = wolfSSL_CTX_load_verify_locations(wctx, ca, NULL);
		if (rc != WOLFSSL_SUCCESS) {
			tls_wolfssl_strerror(rc, why, sizeof(why));
			tls_set_err(err, errlen, "tls client: trust anchors %s: %s", ca, why);
			goto out_free_ctx;
		}
		if (!opts->peer_record)
			wolfSSL_CTX_set_verify(wctx, WOLFSSL_VERIFY_PEER, NULL);
	} else {
		wolfSSL_CTX_set_verify(wctx, WOLFSSL_VERIFY_NONE, NULL);
	}

	if (opts->cert_file != NULL &&
	    ((rc = wolfSSL_CTX_use_certificate_chain_file(wctx, opts->cert_file)) != WOLFSSL_SUCCESS ||
	     (rc = wolfSSL_CTX_use_PrivateKey_file(wctx, opts->key_file, WOLFSSL_FILETYPE_PEM)) !=
		     WOLFSSL_SUCCESS)) {
		tls_wolfssl_strerror(rc, why, sizeof(why));
		tls_set_err(err, errlen, "tls client: certificate %s / key %s: %s", opts->cert_file,
			    opts->key_file ? opts->key_file : "(none)", why);
		goto out_free_ctx;
	}
	if (opts->cert_file != NULL) {
		/* wolfSSL takes a key of another certificate without a word:
		 * the same check as for the server's own (tls_ctx.c) */
		bool match = false;
		enum xs kst = tls_key_file_matches(opts->cert_file, opts->key_file, &match, why,
						   sizeof(why));

		if (kst != XS_OK || !match) {
			tls_set_err(err, errlen, "tls client: certificate %s / key %s: %s",
				    opts->cert_file, opts->key_file,
				    kst != XS_OK ? why : "the key is not the certificate's");
			goto out_free_ctx;
		}
	}

	sess = calloc(1, sizeof(*sess));
	if (sess == NULL) {
		tls_set_err(err, errlen, "tls client: out of memory");
		goto out_free_ctx;
	}
	if (opts->peer_record && (sess->peer = calloc(1, sizeof(*sess->peer))) == NULL) {
		tls_set_err(err, errlen, "tls client: out of memory");
		free(sess);
		goto out_free_ctx;
	}
	sess->ssl = wolfSSL_new(wctx);
	if (sess->ssl == NULL) {
		tls_set_err(err, errlen, "tls client: out of memory");
		goto out_free_sess;
	}
	tls_sess_attach(sess);
	if (opts->server_name != NULL) {
		size_t n = strlen(opts->server_name);

		if (wolfSSL_UseSNI(sess->ssl, WOLFSSL_SNI_HOST_NAME, opts->server_name,
				   (unsigned short)n) != WOLFSSL_SUCCESS) {
			tls_set_err(err, errlen, "tls client: cannot set SNI %s", opts->server_name);
			goto out_free_sess;
		}
		/* wolfSSL checks the leaf's SAN dNSNames (its CN only when
		 * there are none) during the handshake, so a mismatch fails
		 * before any data flows.  s2s checks its own names (SRV-ID,
		 * XmppAddr: tls/cert_ids.h). */
		if (opts->verify && !opts->peer_record &&
		    wolfSSL_check_domain_name(sess->ssl, opts->server_name) != WOLFSSL_SUCCESS) {
			tls_set_err(err, errlen, "tls client: cannot set name check %s",
				    opts->server_name);
			goto out_free_sess;
		}
	}
	if (opts->alpn != NULL) {
		sess->alpn = strdup(opts->alpn);
		if (sess->alpn == NULL || !tls_use_alpn(sess->ssl, sess->alpn)) {
			tls_set_err(err, errlen, "tls client: cannot set ALPN");
			goto out_free_sess;
		}
	}
	if (sess->peer != NULL)
		tls_peer_watch(sess);
	/* Kept (not just left to the WOLFSSL's reference) so that a client
	 * session can sleep and wake with a new WOLFSSL. */
	sess->cctx = wctx;
	return sess;

out_free_sess:
	wolfSSL_free(sess->ssl);
	tls_peer_free(sess->peer);
	free(sess->alpn);
	free(sess);
out_free_ctx:
	wolfSSL_CTX_free(wctx);
	return NULL;
}

/* ---- sleep ---- */

static void tls_sess_blob_free(struct tls_sess *sess)
{
	if (sess->blob == NULL)
		return;
	/* Traffic keys and IVs of both directions. */
	explicit_bzero(sess->blob, sess->blob_len);
	free(sess->blob);
	sess->blob = NULL;
	sess->blob_len = 0;
	sess->secrets_len = 0;
}

bool tls_sess_is_asleep(const struct tls_sess *sess)
{
	return sess->blob != NULL;
}

#ifdef WOLFSSL_SESSION_EXPORT

/* Larger than wolfSSL 5.5's TLS export (~300 bytes with AES state); the
 * size query below keeps us honest if a later version grows it. */
#define TLS_SLEEP_MAX 1024u

#ifdef XMPPD_WOLFSSL_TRAFFIC_SECRETS
/* From scripts/wolfssl-traffic-secrets.patch, applied to the lean wolfSSL
 * build: the export holds a TLS 1.3 session's keys but not the traffic
 * secrets the next keys derive from, so without these a woken session
 * could not follow the peer's KeyUpdate (RFC 8446 §4.6.3). */
int wolfSSL_tls13_get_traffic_secrets(WOLFSSL *ssl, unsigned char *out, unsigned int sz);
int wolfSSL_tls13_set_traffic_secrets(WOLFSSL *ssl, const unsigned char *in, unsigned int sz);
#define TLS_SECRETS_MAX 128u
#else
#define TLS_SECRETS_MAX 0u
#endif

/* Writes the session's TLS 1.3 traffic secrets at `at` (after the export);
 * returns how many bytes (0 for TLS 1.2, or without the patch), or -1. */
static int tls_sess_save_secrets(struct tls_sess *sess, uint8_t *at, size_t room)
{
#ifdef XMPPD_WOLFSSL_TRAFFIC_SECRETS
	if (sess->version != 13)
		return 0;
	int n = wolfSSL_tls13_get_traffic_secrets(sess->ssl, at, (unsigned)room);
	return n > 0 && (size_t)n <= room && n <= UINT8_MAX ? n : -1;
#else
	(void)sess;
	(void)at;
	(void)room;
	return 0;
#endif
}

enum xs tls_sess_sleep(struct tls_sess *sess)
{
	uint8_t tmp[TLS_SLEEP_MAX + TLS_SECRETS_MAX];
	unsigned int len = 0;
	uint8_t *blob;
	int rc, secrets;

	if (sess->blob != NULL)
		return XS_OK;
	if (sess->failed || !sess->done || sess->ssl == NULL)
		return XS_INVAL;
	/* Idle means: nothing of ours buffered either way, no decrypted
	 * bytes inside wolfSSL and no part of a record handed to it. */
	if (sess->in.len != 0 || sess->out.len != 0 || sess->rx_hdr_len != 0 ||
	    wolfSSL_pending(sess->ssl) > 0)
		return XS_AGAIN;
	if (wolfSSL_tls_export(sess->ssl, NULL, &len) != LENGTH_ONLY_E || len == 0 ||
	    len > TLS_SLEEP_MAX)
		return XS_INVAL;
	len = TLS_SLEEP_MAX;
	rc = wolfSSL_tls_export(sess->ssl, tmp, &len);
	secrets = rc > 0 && len > 0 && len <= TLS_SLEEP_MAX ?
		  tls_sess_save_secrets(sess, tmp + len, TLS_SECRETS_MAX) : -1;
	if (secrets < 0) {
		explicit_bzero(tmp, sizeof(tmp));
		return XS_INVAL;
	}
	len += (unsigned)secrets;
	blob = malloc(len);
	if (blob == NULL) {
		explicit_bzero(tmp, sizeof(tmp));
		return XS_NOMEM;
	}
	memcpy(blob, tmp, len);
	explicit_bzero(tmp, sizeof(tmp));
	sess->blob = blob;
	sess->blob_len = (uint16_t)len;
	sess->secrets_len = (uint8_t)secrets;
	/* wolfSSL_free zeroes the keys and TLS 1.3 secrets it holds. */
	wolfSSL_free(sess->ssl);
	sess->ssl = NULL;
	return XS_OK;
}

enum xs tls_sess_wake(struct tls_sess *sess)
{
	WOLFSSL_CTX *wctx;
	WOLFSSL *ssl;
	char text[160];
	int rc;

	if (sess->blob == NULL)
		return sess->failed ? XS_TLS : XS_OK;
	/* The same host's context as before: the set is ours and the name
	 * did not change.  A client's private context is kept for this. */
	wctx = sess->is_server ? tls_ctx_set_pick(sess->set, sess->sni) : sess->cctx;
	ssl = wolfSSL_new(wctx);
	if (ssl == NULL)
		return XS_NOMEM;  /* still asleep; the caller may retry */
	/* The import checks the protocol version against the object's, which
	 * starts at the method's highest. */
	if (sess->version == 12 && wolfSSL_SetVersion(ssl, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		wolfSSL_free(ssl);
		tls_sess_blob_free(sess);
		return tls_sess_fail(sess, "wake", "cannot set TLS 1.2");
	}
	rc = wolfSSL_tls_import(ssl, sess->blob, (unsigned)(sess->blob_len - sess->secrets_len));
#ifdef XMPPD_WOLFSSL_TRAFFIC_SECRETS
	if (rc > 0 && sess->secrets_len > 0 &&
	    wolfSSL_tls13_set_traffic_secrets(ssl, sess->blob + sess->blob_len - sess->secrets_len,
					      sess->secrets_len) != WOLFSSL_SUCCESS)
		rc = BAD_FUNC_ARG;
#endif
	tls_sess_blob_free(sess);
	if (rc <= 0) {
		wolfSSL_free(ssl);
		tls_wolfssl_strerror(rc, text, sizeof(text));
		return tls_sess_fail(sess, "wake", "session import: %s", text);
	}
	/* After the import: its peer-info part ends in wolfSSL_set_fd(),
	 * which points the I/O contexts at the object's own fd fields. */
	tls_sess_attach_io(sess, ssl);
	/* A handshake would have dropped these (handshake hashes, suites,
	 * arrays, for TLS 1.3 the RNG); the import does not, so without this
	 * a woken session would hold more than it did before sleeping. */
	wolfSSL_FreeHandshakeResources(ssl);
	sess->ssl = ssl;
	return XS_OK;
}

#else /* !WOLFSSL_SESSION_EXPORT */

/* This wolfSSL (Debian's binary build) has no session export: sessions
 * stay awake, callers treat XS_INVAL as "not supported". */
enum xs tls_sess_sleep(struct tls_sess *sess)
{
	(void)sess;
	return XS_INVAL;
}

enum xs tls_sess_wake(struct tls_sess *sess)
{
	return sess->failed ? XS_TLS : XS_OK;
}

#endif

static inline enum xs tls_sess_awake(struct tls_sess *sess)
{
	return sess->blob == NULL ? XS_OK : tls_sess_wake(sess);
}

void tls_sess_free(struct tls_sess *sess)
{
	if (sess == NULL)
		return;
	/* wolfSSL_free zeroes the session's keys itself. */
	wolfSSL_free(sess->ssl);
	if (sess->cctx != NULL)
		wolfSSL_CTX_free(sess->cctx);
	tls_sess_blob_free(sess);
	tls_ctx_set_unref(sess->set);
	tls_buf_release(&sess->in);
	tls_buf_release(&sess->out);
	free(sess->sni);
	free(sess->alpn);
	free(sess->err);
	tls_peer_free(sess->peer);
	/* The exporter value is a secret bound to this connection. */
	explicit_bzero(sess, sizeof(*sess));
	free(sess);
}

/* ---- the handshake ---- */

static enum xs tls_sess_established(struct tls_sess *sess)
{
	static const char label[] = "EXPORTER-Channel-Binding";
	int v = wolfSSL_GetVersion(sess->ssl);

	sess->done = true;
	sess->version = v == WOLFSSL_TLSV1_3 ? 13 : v == WOLFSSL_TLSV1_2 ? 12 : 0;
#ifdef HAVE_KEYING_MATERIAL
	if (sess->version == 13) {
		if (wolfSSL_export_keying_material(sess->ssl, sess->exporter, TLS_EXPORTER_LEN,
						   label, sizeof(label) - 1, NULL, 0, 0) ==
		    WOLFSSL_SUCCESS)
			sess->has_exporter = true;
		else
			LOG_WARN("tls: cannot compute tls-exporter");
	}
#else
	/* A wolfSSL without --enable-keying-material: SCRAM-*-PLUS with
	 * tls-exporter is unavailable; tls_sess_exporter says XS_INVAL. */
	LOG_DEBUG("tls: no tls-exporter in this wolfSSL build");
#endif
	wolfSSL_FreeArrays(sess->ssl);

	if (sess->alpn != NULL) {
		char *proto = NULL;
		unsigned short plen = 0;

		if (wolfSSL_ALPN_GetProtocol(sess->ssl, &proto, &plen) != WOLFSSL_SUCCESS ||
		    proto == NULL || plen != strlen(sess->alpn) ||
		    memcmp(proto, sess->alpn, plen) != 0) {
			free(sess->alpn);
			sess->alpn = NULL;
		}
	}
	LOG_DEBUG("tls: %s handshake done, TLS 1.%d, %s, ALPN %s",
		  sess->is_server ? "server" : "client", sess->version % 10,
		  wolfSSL_get_cipher_name(sess->ssl), sess->alpn ? sess->alpn : "none");
	return XS_OK;
}

enum xs tls_sess_handshake(struct tls_sess *sess)
{
	enum xs st;
	int rc;

	if (sess->done)
		return XS_OK;
	if (sess->failed)
		return XS_TLS;
	if (sess->ssl == NULL) {
		st = tls_sess_start_server(sess);
		if (st != XS_OK)
			return st;
	}
	rc = wolfSSL_negotiate(sess->ssl);
	if (rc == WOLFSSL_SUCCESS)
		return tls_sess_established(sess);
	st = tls_sess_wolf_status(sess, rc, "handshake");
	if (st == XS_EOF)
		return tls_sess_fail(sess, "handshake", "peer closed during the handshake");
	return st;
}

bool tls_sess_handshake_done(const struct tls_sess *sess)
{
	return sess->done;
}

/* ---- data ---- */

enum xs tls_sess_feed(struct tls_sess *sess, const void *cipher, size_t len)
{
	enum xs st = tls_sess_awake(sess);

	if (st != XS_OK)
		return st;
	if (sess->in.len + len > TLS_IN_MAX)
		return XS_LIMIT;
	return tls_buf_append(&sess->in, cipher, len);
}

/* Read and write both need an awake session with a finished handshake:
 * wake it, drive the handshake if needed, refuse a failed session. */
static enum xs tls_sess_ready(struct tls_sess *sess)
{
	enum xs st = tls_sess_awake(sess);

	if (st != XS_OK)
		return st;
	if (!sess->done) {
		st = tls_sess_handshake(sess);
		if (st != XS_OK)
			return st;
	}
	return sess->failed ? XS_TLS : XS_OK;
}

enum xs tls_sess_read(struct tls_sess *sess, void *buf, size_t cap, size_t *nread)
{
	enum xs st;
	int rc;

	*nread = 0;
	st = tls_sess_ready(sess);
	if (st != XS_OK)
		return st;
	if (cap == 0)
		return XS_OK;
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	rc = wolfSSL_read(sess->ssl, buf, (int)cap);
	if (rc > 0) {
		*nread = (size_t)rc;
		return XS_OK;
	}
	if (rc == 0)
		return XS_EOF;
	return tls_sess_wolf_status(sess, rc, "read");
}

bool tls_sess_has_pending(const struct tls_sess *sess)
{
	return sess->ssl != NULL && sess->done && wolfSSL_pending(sess->ssl) > 0;
}

enum xs tls_sess_write(struct tls_sess *sess, const void *buf, size_t len, size_t *nwritten)
{
	enum xs st;
	int rc;

	*nwritten = 0;
	st = tls_sess_ready(sess);
	if (st != XS_OK)
		return st;
	while (*nwritten < len) {
		size_t chunk = len - *nwritten;

		if (chunk > INT32_MAX)
			chunk = INT32_MAX;
		rc = wolfSSL_write(sess->ssl, (const uint8_t *)buf + *nwritten, (int)chunk);
		if (rc <= 0) {
			st = tls_sess_wolf_status(sess, rc, "write");
			/* Our send callback never blocks; AGAIN here would
			 * be a renegotiation wanting input, which we refuse
			 * by not enabling it. */
			return st == XS_AGAIN ? XS_TLS : st;
		}
		*nwritten += (size_t)rc;
	}
	return XS_OK;
}

enum xs tls_sess_update_keys(struct tls_sess *sess)
{
	enum xs st = tls_sess_ready(sess);

	if (st != XS_OK)
		return st;
	if (sess->version != 13)
		return XS_INVAL;
	int rc = wolfSSL_update_keys(sess->ssl);
	return rc == WOLFSSL_SUCCESS ? XS_OK : tls_sess_wolf_status(sess, rc, "key update");
}

size_t tls_sess_out_pending(const struct tls_sess *sess)
{
	return sess->out.len;
}

const void *tls_sess_out_peek(const struct tls_sess *sess, size_t *len)
{
	*len = sess->out.len;
	return sess->out.len ? sess->out.data + sess->out.off : NULL;
}

void tls_sess_out_consume(struct tls_sess *sess, size_t n)
{
	tls_buf_consume(&sess->out, n);
}

enum xs tls_sess_shutdown(struct tls_sess *sess)
{
	enum xs st = tls_sess_awake(sess);
	int rc;

	if (st != XS_OK)
		return st;
	if (sess->failed)
		return XS_TLS;   /* a fatal alert already ended it */
	if (sess->ssl == NULL || !sess->done)
		return XS_INVAL;
	rc = wolfSSL_shutdown(sess->ssl);
	/* NOT_DONE means our close_notify went out and the peer's has not
	 * come in; we do not wait for it (RFC 8446 6.1 allows that). */
	if (rc == WOLFSSL_SUCCESS || rc == WOLFSSL_SHUTDOWN_NOT_DONE)
		return XS_OK;
	return tls_sess_wolf_status(sess, rc, "shutdown");
}

enum xs tls_layers_close_notify(struct tls_sess *const *layers, unsigned n)
{
	enum xs worst = XS_OK;

	/* Top down: each layer's close_notify is data for the layer below,
	 * whose own close_notify must come after it. */
	for (unsigned lvl = n; lvl-- > 0;) {
		enum xs st = tls_sess_shutdown(layers[lvl]);

		if (st != XS_OK && st != XS_INVAL && worst == XS_OK)
			worst = st;
		if (lvl > 0) {
			const void *p;
			size_t len, wn;

			while ((p = tls_sess_out_peek(layers[lvl], &len)) != NULL && len > 0) {
				if (tls_sess_write(layers[lvl - 1], p, len, &wn) != XS_OK || wn == 0)
					return XS_TLS;
				tls_sess_out_consume(layers[lvl], wn);
			}
		}
	}
	return worst;
}

/* ---- facts about the session ---- */

int tls_sess_version(const struct tls_sess *sess)
{
	return sess->version;
}

const char *tls_sess_cipher(const struct tls_sess *sess)
{
	/* wolfSSL's name table: a static string */
	return sess->done && sess->ssl ? wolfSSL_get_cipher_name(sess->ssl) : NULL;
}

const char *tls_sess_sni(const struct tls_sess *sess)
{
	return sess->sni;
}

const char *tls_sess_alpn(const struct tls_sess *sess)
{
	return sess->done ? sess->alpn : NULL;
}

const char *tls_sess_error(const struct tls_sess *sess)
{
	return sess->err ? sess->err : "";
}

bool tls_sess_is_server(const struct tls_sess *sess)
{
	return sess->is_server;
}

enum xs tls_sess_server_end_point(struct tls_sess *sess, uint8_t out[TLS_END_POINT_MAX],
				  size_t *len)
{
	/* the set and the name the handshake picked the certificate by */
	if (!sess->done || !sess->is_server || !sess->set ||
	    !tls_ctx_set_end_point(sess->set, sess->sni, out, len))
		return XS_INVAL;
	return XS_OK;
}

enum xs tls_sess_exporter(struct tls_sess *sess, uint8_t out[TLS_EXPORTER_LEN])
{
	if (!sess->done || !sess->has_exporter)
		return XS_INVAL;
	memcpy(out, sess->exporter, TLS_EXPORTER_LEN);
	return XS_OK;
}

size_t tls_sess_mem_usage(const struct tls_sess *sess)
{
	return sess->in.cap + sess->out.cap + sess->blob_len;
}
