/* The TLS layer's public interface: server context sets (one certificate per
 * configured host, picked by SNI) and memory-buffer sessions.
 *
 * A session never touches a socket.  The caller feeds it the ciphertext it
 * read (tls_sess_feed), drives it (tls_sess_handshake, tls_sess_read,
 * tls_sess_write) and sends whatever it queued (tls_sess_out_peek, then
 * tls_sess_out_consume).  Because ciphertext goes in and out as plain bytes,
 * TLS inside TLS is just an inner session whose ciphertext is the outer
 * session's plaintext, and tests run both ends in one thread without sockets.
 *
 * Rules the caller relies on:
 * - Nothing here blocks; XS_AGAIN means "feed more ciphertext" and never
 *   "wait".  After every call that can produce output (handshake, read,
 *   write, shutdown, and also a failed handshake, which queues an alert)
 *   check tls_sess_out_pending().
 * - tls_sess_read returns at most one record's plaintext per call and may
 *   keep decrypted bytes back when buf is small: call it until XS_AGAIN.
 * - Both buffers are freed as soon as they are empty, so an idle session
 *   holds no buffer memory (tls_sess_mem_usage() == 0); an idle session
 *   can also be put to sleep (tls_sess_sleep), giving up its WOLFSSL.
 * - A session belongs to one thread; a tls_ctx_set is shared read-only
 *   between threads and reference counted, so a SIGHUP reload can publish a
 *   new set while sessions made from the old one live on.
 *
 * The backend is wolfSSL (tls_wolfssl.c for sessions, tls_ctx.c for server
 * contexts); nothing of it shows through this header. */
#ifndef XMPPD_TLS_H
#define XMPPD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"

struct cfg;
struct tls_ctx_set;
struct tls_sess;

/* Once per process, before any other tls_ call; pairs with cleanup. */
enum xs tls_global_init(void);
void tls_global_cleanup(void);

/* One server context per [host] in cfg, each with its certificate chain
 * and key (checked to match).  The first host is the default for clients
 * that send no SNI or a name we do not serve.  Minimum version from
 * cfg->tls_min_version (12 or 13).  NULL on failure with one line per
 * broken host in err, as cfg_load writes them ("server.ini:83: [host
 * localhost] certificate: cannot read ...").  An expired, not yet valid
 * or misnamed certificate is only logged as a warning here: at start-up
 * there is no older one to serve instead.  The new set holds one reference. */
struct tls_ctx_set *tls_ctx_set_new(const struct cfg *cfg, char *err, size_t errlen);
/* For SIGHUP: a new set with the same hosts as cfg, in which each host
 * whose certificate and key load and pass the checks xmppctl check makes
 * (key match, expiry, the certificate names the host) gets a fresh
 * context, and each other host keeps its context from old, with a
 * warning that names the host and what is wrong.  *n_kept counts those.
 * NULL (logged) only when a host has nothing to keep. */
struct tls_ctx_set *tls_ctx_set_reload(struct tls_ctx_set *old, const struct cfg *cfg,
				       unsigned *n_kept);
void tls_ctx_set_ref(struct tls_ctx_set *set);
void tls_ctx_set_unref(struct tls_ctx_set *set);
/* Number of hosts and the default (first) host's domain, for logging. */
size_t tls_ctx_set_count(const struct tls_ctx_set *set);
const char *tls_ctx_set_default_domain(const struct tls_ctx_set *set);

struct tls_client_opts {
	const char *server_name; /* SNI and RFC 6125 name check; NULL = none */
	const char *ca_file;     /* PEM trust anchors; NULL = system bundle */
	bool verify;             /* verify chain (and name, if server_name) */
	const char *alpn;        /* one protocol, e.g. "xmpp-client"; NULL = none */
	int min_version;         /* 12 or 13; 0 = 12 */
	int max_version;         /* 12 or 13; 0 = highest */
	/* Our certificate chain and key (PEM), sent when the server asks for
	 * one (s2s: the domain we speak for); NULL: none. */
	const char *cert_file, *key_file;
	/* s2s: the server's certificate is checked against ca_file and kept
	 * (tls_sess_peer) but never fails the handshake, and no name is
	 * checked by the TLS layer: the caller decides (RFC 6120 13.7.2,
	 * dialback as a fallback).  verify is then ignored. */
	bool peer_record;
};

#define TLS_DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

/* A server session on set (takes a reference).  alpn: the one protocol we
 * accept, e.g. "xmpp-client"; a client that offers none, or only others,
 * still gets through without ALPN.  NULL on allocation failure. */
struct tls_sess *tls_sess_new_server(struct tls_ctx_set *set, const char *alpn);
/* The same, asking the client for its certificate (s2s listeners,
 * XEP-0178): it is checked against the set's trust anchors
 * (tls_ctx_set_trust) and kept for tls_sess_peer; a missing or untrusted
 * one does not fail the handshake, the caller decides. */
struct tls_sess *tls_sess_new_server_peer(struct tls_ctx_set *set, const char *alpn);

/* Trust anchors for the certificates peers present to server sessions of
 * this set (tls_sess_new_server_peer): a PEM bundle and/or a directory of
 * hashed certificates (NULL for either).  Called once, right after
 * tls_ctx_set_new and before the set is shared. */
enum xs tls_ctx_set_trust(struct tls_ctx_set *set, const char *ca_file, const char *ca_path,
			  char *err, size_t errlen);

/* What the peer's certificate is worth, once the handshake is done. */
enum tls_peer_verdict {
	TLS_PEER_NONE,      /* none: not asked for, or the peer sent none */
	TLS_PEER_TRUSTED,   /* its chain leads to one of our trust anchors */
	TLS_PEER_UNTRUSTED, /* sent, but its chain does not verify (why) */
};
/* *der and *len (either may be NULL) get the peer's leaf certificate as it
 * sent it (valid while the session lives; NULL, 0 without one); *why (may
 * be NULL) the first verification error, "" when there is none.  A session
 * made without peer_record or tls_sess_new_server_peer says
 * TLS_PEER_NONE. */
enum tls_peer_verdict tls_sess_peer(const struct tls_sess *sess, const uint8_t **der,
				    size_t *len, const char **why);
struct tls_sess *tls_sess_new_client(const struct tls_client_opts *opts,
				     char *err, size_t errlen);
/* Frees everything; wolfSSL wipes its keys, we wipe ours. NULL is fine. */
void tls_sess_free(struct tls_sess *sess);

/* Appends received ciphertext (copied).  XS_LIMIT if more than
 * TLS_IN_MAX bytes would be waiting undecrypted.  Wakes a sleeping session
 * first, so it can also say what tls_sess_wake says (XS_NOMEM, XS_TLS). */
#define TLS_IN_MAX (256u * 1024u)
enum xs tls_sess_feed(struct tls_sess *sess, const void *cipher, size_t len);

/* XS_OK once the handshake is complete (also on later calls), XS_AGAIN
 * when more input is needed, XS_TLS on failure: the reason is logged and
 * kept in tls_sess_error(), and an alert may be pending for the peer. */
enum xs tls_sess_handshake(struct tls_sess *sess);
bool tls_sess_handshake_done(const struct tls_sess *sess);

/* Plaintext out.  Drives the handshake first if needed.  XS_AGAIN: no
 * complete record yet; XS_EOF: the peer sent close_notify; XS_TLS: fatal. */
enum xs tls_sess_read(struct tls_sess *sess, void *buf, size_t cap, size_t *nread);
/* True when decrypted bytes are waiting inside the session (call read). */
bool tls_sess_has_pending(const struct tls_sess *sess);
/* Encrypts all of buf into the outbound buffer (XS_AGAIN before the
 * handshake is done, after driving it). */
enum xs tls_sess_write(struct tls_sess *sess, const void *buf, size_t len, size_t *nwritten);
/* TLS 1.3 only: queues a KeyUpdate (RFC 8446 §4.6.3) asking the peer to
 * update its keys too.  XS_INVAL before TLS 1.3 is established. */
enum xs tls_sess_update_keys(struct tls_sess *sess);

size_t tls_sess_out_pending(const struct tls_sess *sess);
const void *tls_sess_out_peek(const struct tls_sess *sess, size_t *len);
void tls_sess_out_consume(struct tls_sess *sess, size_t n);

/* Queues close_notify.  We never wait for the peer's.  XS_INVAL before
 * the handshake is done, XS_TLS on a failed session (whose fatal alert
 * already ended it). */
enum xs tls_sess_shutdown(struct tls_sess *sess);

/* A clean close of a stack of sessions, layers[0] the bottom (on the
 * socket) and layers[n-1] the top: queues close_notify on each from the
 * top down, moving each upper layer's output into the layer below, so
 * layers[0]'s output ends with every close_notify in order.  Layers whose
 * handshake is not done or that failed are passed over.  Call it when the
 * stream ends (after </stream:stream> or a stream error is written, before
 * the final flush): peers that see the socket close without close_notify
 * report "unexpected eof" (RFC 8446 6.1).  XS_OK, or the first error. */
enum xs tls_layers_close_notify(struct tls_sess *const *layers, unsigned n);

int tls_sess_version(const struct tls_sess *sess);        /* 12, 13; 0 before */
const char *tls_sess_sni(const struct tls_sess *sess);    /* server: name asked for, or NULL */
/* The cipher suite's name ("TLS13-AES128-GCM-SHA256": wolfSSL's names), or NULL before the
 * handshake and while asleep. */
const char *tls_sess_cipher(const struct tls_sess *sess);
const char *tls_sess_alpn(const struct tls_sess *sess);   /* negotiated protocol or NULL */
const char *tls_sess_error(const struct tls_sess *sess);  /* "" when none */
bool tls_sess_is_server(const struct tls_sess *sess);

/* RFC 9266 tls-exporter channel binding (label "EXPORTER-Channel-Binding",
 * empty context, 32 bytes).  TLS 1.3 only: XS_INVAL otherwise or before
 * the handshake.  Computed once when the handshake completes, so wolfSSL
 * can drop its secrets right away. */
#define TLS_EXPORTER_LEN 32
enum xs tls_sess_exporter(struct tls_sess *sess, uint8_t out[TLS_EXPORTER_LEN]);

/* RFC 5929 tls-server-end-point channel binding of a server session: the
 * hash of the certificate it presented (32, 48 or 64 bytes, *len), for
 * TLS 1.2 as well as 1.3.  XS_INVAL before the handshake, for a client
 * session, or when the certificate could not be hashed at load. */
#define TLS_END_POINT_MAX 64
enum xs tls_sess_server_end_point(struct tls_sess *sess, uint8_t out[TLS_END_POINT_MAX],
				  size_t *len);

/* Sleep and wake (DESIGN.md, "Memory per connection").
 *
 * tls_sess_sleep: only when the handshake is done and the session is idle
 * (nothing in either buffer, no decrypted bytes waiting, no part of a
 * record handed to wolfSSL).  Exports the record-layer state (sequence
 * numbers, traffic keys and IVs of both directions, suite, version) with
 * wolfSSL_tls_export into a small heap blob (~300 bytes; for TLS 1.3 with
 * our wolfSSL patch the two traffic secrets follow, 96 bytes, so that a
 * woken session can still follow a peer's KeyUpdate) kept in the
 * session and frees the WOLFSSL, which wipes its keys; the blob is wiped
 * when it is freed (wake or tls_sess_free).  XS_OK (also when already
 * asleep); XS_AGAIN if not idle; XS_INVAL if not established, failed, or
 * this wolfSSL build cannot export (Debian's system libwolfssl);
 * XS_NOMEM.  On every non-OK return the session is untouched and usable.
 *
 * tls_sess_wake: a new WOLFSSL from the same context (the SNI host's, or
 * the client's own), imports the blob, wipes and frees it.  XS_OK (also
 * when not asleep); XS_NOMEM leaves the session asleep (retry later);
 * XS_TLS if the import fails, which kills the session.
 *
 * Callers need not wake explicitly: feed, read, write and shutdown wake
 * a sleeping session first (so the first feed wakes it).  The facts kept
 * in the session itself (handshake_done, version, sni, alpn, exporter,
 * is_server, error, out_pending, has_pending) answer without waking.
 *
 * Limits: the export carries the record layer only.  TLS 1.3 traffic
 * secrets are not in it, so a KeyUpdate received after a wake derives
 * wrong keys and the session fails (XS_TLS) at the next record; wolfSSL
 * never sends one of its own accord.  TLS 1.2 sessions sleep as well
 * (renegotiation is not enabled, so nothing else is needed). */
enum xs tls_sess_sleep(struct tls_sess *sess);
enum xs tls_sess_wake(struct tls_sess *sess);
bool tls_sess_is_asleep(const struct tls_sess *sess);

/* Bytes held in this layer's own buffers (not wolfSSL's): the ciphertext
 * buffers, plus the exported state while asleep. */
size_t tls_sess_mem_usage(const struct tls_sess *sess);

/* RFC 6125 DNS-ID match (tls_cert.c): case-insensitive, "*" only as the
 * whole left-most label and never matching the apex or several labels. */
bool tls_name_matches(const char *pattern, const char *domain);

#endif
