/* Server-side TLS contexts: one WOLFSSL_CTX per configured [host], grouped
 * in a reference-counted set that a SIGHUP reload can replace while
 * sessions made from the old set live on.
 *
 * SNI selection does not use wolfSSL's servername callback: switching a
 * WOLFSSL to another context (wolfSSL_set_SSL_CTX) needs OPENSSL_EXTRA,
 * which the lean build leaves out, and loading the host's certificate into
 * each session would copy it per connection.  Instead tls_wolfssl.c waits
 * for the first ClientHello record in its inbound buffer, reads the name
 * from it and creates the WOLFSSL from the right context straight away
 * (tls_ctx_set_pick).  Every session of a host shares that host's
 * certificate and key.
 *
 * This file also holds the process-wide init and a few helpers shared by
 * the files of tls/ (tls_int.h). */
#include "tls/tls_int.h"

#include <wolfssl/wolfcrypt/memory.h>

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/conf/cfg.h"
#include "core/base/log.h"
#include "tls/tls_cert.h"

/* One host's context.  Shared between sets: a reload that refuses a
 * host's new certificate hands its old context on to the new set. */
struct tls_ctx_host {
	atomic_uint refs;
	char *domain;          /* lower case, as in cfg */
	WOLFSSL_CTX *wctx;
	/* tls-server-end-point (RFC 5929): the certificate's hash, 0 if none */
	size_t end_point_len;
	uint8_t end_point[TLS_END_POINT_MAX];
};

struct tls_ctx_set {
	atomic_uint refs;
	size_t n_hosts;
	struct tls_ctx_host *hosts[];  /* hosts[0] is the default */
};

/* Suites for TLS 1.2: ECDHE with AEAD only, so whatever a given wolfSSL
 * build happens to enable (Debian's has static-RSA, CBC and more), peers
 * get forward secrecy.  TLS 1.3 suites are all fine; listing them keeps
 * them enabled. */
static const char tls_cipher_list[] =
	"TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
	"TLS13-CHACHA20-POLY1305-SHA256:"
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

void tls_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void tls_wolfssl_strerror(int code, char *buf, size_t len)
{
	/* wolfSSL wants at least WOLFSSL_MAX_ERROR_SZ (80) bytes; go through
	 * a local buffer so callers may pass anything. */
	char tmp[WOLFSSL_MAX_ERROR_SZ + 1];

	if (len == 0)
		return;
	memset(tmp, 0, sizeof(tmp));
	wolfSSL_ERR_error_string_n((unsigned long)code, tmp, sizeof(tmp) - 1);
	snprintf(buf, len, "%s (%d)", tmp, code);
}

int tls_version_to_wolfssl(int version)
{
	switch (version) {
	case 12: return WOLFSSL_TLSV1_2;
	case 13: return WOLFSSL_TLSV1_3;
	}
	return -1;
}

/* wolfSSL zeroes its raw keys and secrets when a session ends, but
 * 5.5's wc_AesFree leaves the expanded AES key schedule (whose first round
 * key is the key) in freed memory.  Sessions end often: every sleep
 * (tls_sess_sleep) frees a WOLFSSL.  So every block wolfSSL frees is wiped
 * first; wolfSSL's frees are few per session and mostly small. */
#if !defined(WOLFSSL_STATIC_MEMORY) && !defined(WOLFSSL_DEBUG_MEMORY) && \
	!defined(WOLFSSL_NO_MALLOC)
#define TLS_WIPING_ALLOCATOR 1

static void *tls_wipe_malloc(size_t n)
{
	return malloc(n);
}

static void tls_wipe_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/* realloc could move the block and free the old one unwiped. */
static void *tls_wipe_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (p == NULL)
		return malloc(n);
	old = malloc_usable_size(p);
	if (n <= old)
		return p;
	q = malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old);
	tls_wipe_free(p);
	return q;
}
#endif

enum xs tls_global_init(void)
{
	int rc;

#ifdef TLS_WIPING_ALLOCATOR
	{
		wolfSSL_Malloc_cb mf = NULL;
		wolfSSL_Free_cb ff = NULL;
		wolfSSL_Realloc_cb rf = NULL;

		/* Only where nobody (a test's counting hooks) chose others. */
		wolfSSL_GetAllocators(&mf, &ff, &rf);
		if (mf == NULL && ff == NULL && rf == NULL &&
		    wolfSSL_SetAllocators(tls_wipe_malloc, tls_wipe_free, tls_wipe_realloc) != 0)
			LOG_WARN("tls: cannot install the wiping allocator");
	}
#endif
	rc = wolfSSL_Init();

	if (rc != WOLFSSL_SUCCESS) {
		LOG_ERR("tls: wolfSSL_Init failed (%d)", rc);
		return XS_TLS;
	}
	return XS_OK;
}

void tls_global_cleanup(void)
{
	wolfSSL_Cleanup();
}

/* A readable file gives a better message than wolfSSL's "bad file". */
static bool tls_file_readable(const char *path, char *why, size_t whylen)
{
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		snprintf(why, whylen, "%s", strerror(errno));
		return false;
	}
	fclose(f);
	return true;
}

/* Messages name the line and key of server.ini they are about:
 * "server.ini:83: [host localhost] certificate: cannot read ...". */
static void tls_host_err(const struct cfg *cfg, const struct cfg_host *host, bool key,
			 char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void tls_host_err(const struct cfg *cfg, const struct cfg_host *host, bool key,
			 char *err, size_t errlen, const char *fmt, ...)
{
	char where[700], what[800];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cfg_host_where(cfg, host, key, where, sizeof(where));
	tls_set_err(err, errlen, "%s: %s", where, what);
}

static bool tls_ctx_load_files(WOLFSSL_CTX *wctx, const struct cfg *cfg,
			       const struct cfg_host *host, char *err, size_t errlen)
{
	char why[160];
	bool match = false;
	int rc;

	if (!tls_file_readable(host->cert_file, why, sizeof(why))) {
		tls_host_err(cfg, host, false, err, errlen, "cannot read %s: %s", host->cert_file, why);
		return false;
	}
	if (!tls_file_readable(host->key_file, why, sizeof(why))) {
		tls_host_err(cfg, host, true, err, errlen, "cannot read %s: %s", host->key_file, why);
		return false;
	}
	rc = wolfSSL_CTX_use_certificate_chain_file(wctx, host->cert_file);
	if (rc != WOLFSSL_SUCCESS) {
		tls_wolfssl_strerror(rc, why, sizeof(why));
		tls_host_err(cfg, host, false, err, errlen, "%s: not a PEM certificate chain: %s",
			     host->cert_file, why);
		return false;
	}
	rc = wolfSSL_CTX_use_PrivateKey_file(wctx, host->key_file, WOLFSSL_FILETYPE_PEM);
	if (rc != WOLFSSL_SUCCESS) {
		tls_wolfssl_strerror(rc, why, sizeof(why));
		tls_host_err(cfg, host, true, err, errlen, "%s: not a PEM private key: %s",
			     host->key_file, why);
		return false;
	}
	/* wolfSSL's check, then ours (tls_cert.c), which also catches what
	 * Debian's 5.5.4 build lets through. */
	if (tls_key_file_matches(host->cert_file, host->key_file, &match, why, sizeof(why)) !=
	    XS_OK) {
		tls_host_err(cfg, host, true, err, errlen, "%s", why);
		return false;
	}
	if (wolfSSL_CTX_check_private_key(wctx) != WOLFSSL_SUCCESS || !match) {
		tls_host_err(cfg, host, true, err, errlen, "%s does not match certificate %s",
			     host->key_file, host->cert_file);
		return false;
	}
	return true;
}

/* What xmppctl check also calls a problem, besides a key that does not
 * match (tls_ctx_load_files): a certificate that has expired, is not yet
 * valid, or does not name the host (RFC 6125).  Clients refuse such a
 * certificate, so a reload keeps the old one rather than serve it. */
static bool tls_cert_usable(const struct cfg *cfg, const struct cfg_host *host, time_t now,
			    char *err, size_t errlen)
{
	struct tls_cert_info info;
	char why[512], date[32];

	if (tls_cert_inspect(host->cert_file, host->key_file, host->domain, &info, why,
			     sizeof(why)) != XS_OK) {
		tls_host_err(cfg, host, false, err, errlen, "%s", why);
		return false;
	}
	if (info.not_after < now) {
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&info.not_after));
		tls_host_err(cfg, host, false, err, errlen, "%s has expired (not after %s)",
			     host->cert_file, date);
		return false;
	}
	if (info.not_before > now) {
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&info.not_before));
		tls_host_err(cfg, host, false, err, errlen, "%s is not valid yet (not before %s)",
			     host->cert_file, date);
		return false;
	}
	if (!info.names_domain) {
		tls_host_err(cfg, host, false, err, errlen,
			     "%s does not name %s (RFC 6125: subject %s, %zu DNS name(s)%s%s)",
			     host->cert_file, host->domain, info.subject_cn[0] ? info.subject_cn : "-",
			     info.n_names, info.n_names ? ", first " : "",
			     info.n_names ? info.names[0] : "");
		return false;
	}
	if (!info.key_matches) {
		tls_host_err(cfg, host, true, err, errlen, "%s does not match certificate %s",
			     host->key_file, host->cert_file);
		return false;
	}
	return true;
}

static void tls_host_unref(struct tls_ctx_host *h)
{
	if (h == NULL)
		return;
	if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* Sessions still alive hold wolfSSL's own reference on the
	 * context; it is really freed with the last of them. */
	wolfSSL_CTX_free(h->wctx);
	free(h->domain);
	free(h);
}

/* strict: the certificate must also pass tls_cert_usable (a reload);
 * otherwise what it finds is only a warning (start-up, where there is no
 * older certificate to keep and refusing would stop the whole server). */
static enum xs ctx_trust(WOLFSSL_CTX *wctx, const char *ca_file, const char *ca_path, char *err,
			 size_t errlen);

/* With an s2s listener, the trust anchors of [s2s] ca_file and ca_path
 * go into every host's context (the one SNI picks asks the peer for its
 * certificate), at start and at each reload.  The default bundle may be
 * missing (no ca-certificates package): peers are then untrusted, which
 * is said once per context, not fatal. */
static bool host_trust(const struct cfg *cfg, const struct cfg_host *host, WOLFSSL_CTX *wctx,
		       char *err, size_t errlen)
{
	if (!cfg_has_s2s_listener(cfg) || (!cfg->s2s_ca_file[0] && !cfg->s2s_ca_path[0]))
		return true;
	const char *file = cfg->s2s_ca_file[0] ? cfg->s2s_ca_file : NULL;
	if (file && strcmp(file, TLS_DEFAULT_CA_FILE) == 0 && access(file, R_OK) != 0) {
		LOG_WARN("host %s: [s2s] ca_file %s: %s: no peer certificate will be trusted%s",
			 host->domain, file, strerror(errno),
			 cfg->s2s_ca_path[0] ? " but those of ca_path" : "");
		file = NULL;
		if (!cfg->s2s_ca_path[0])
			return true;
	}
	char why[600];
	if (ctx_trust(wctx, file, cfg->s2s_ca_path[0] ? cfg->s2s_ca_path : NULL, why,
		      sizeof(why)) != XS_OK) {
		tls_set_err(err, errlen, "host %s: [s2s] %s", host->domain, why);
		return false;
	}
	return true;
}

static struct tls_ctx_host *tls_ctx_host_new(const struct cfg *cfg, const struct cfg_host *host,
					     int min_version, bool strict, char *err,
					     size_t errlen)
{
	struct tls_ctx_host *h;
	char why[1024];
	int rc;

	h = calloc(1, sizeof(*h));
	if (h == NULL || (h->domain = strdup(host->domain)) == NULL) {
		free(h);
		tls_set_err(err, errlen, "host %s: out of memory", host->domain);
		return NULL;
	}
	atomic_init(&h->refs, 1);
	h->wctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
	if (h->wctx == NULL) {
		tls_set_err(err, errlen, "host %s: out of memory", host->domain);
		goto fail;
	}
	rc = wolfSSL_CTX_SetMinVersion(h->wctx, tls_version_to_wolfssl(min_version));
	if (rc != WOLFSSL_SUCCESS) {
		tls_set_err(err, errlen, "host %s: TLS 1.%d not supported by this wolfSSL",
			    host->domain, min_version % 10);
		goto fail;
	}
	if (wolfSSL_CTX_set_cipher_list(h->wctx, tls_cipher_list) != WOLFSSL_SUCCESS) {
		tls_set_err(err, errlen, "host %s: cannot set cipher suites", host->domain);
		goto fail;
	}
	/* c2s clients authenticate with SASL, not certificates. */
	wolfSSL_CTX_set_verify(h->wctx, WOLFSSL_VERIFY_NONE, NULL);
	if (!tls_ctx_load_files(h->wctx, cfg, host, err, errlen) ||
	    !host_trust(cfg, host, h->wctx, err, errlen))
		goto fail;
	if (tls_cert_end_point(host->cert_file, h->end_point, &h->end_point_len, why,
			       sizeof(why)) != XS_OK)
		LOG_WARN("host %s: no tls-server-end-point channel binding: %s", host->domain, why);
	if (!tls_cert_usable(cfg, host, time(NULL), why, sizeof(why))) {
		if (strict) {
			tls_set_err(err, errlen, "%s", why);
			goto fail;
		}
		LOG_WARN("%s (clients will refuse it)", why);
	}
	return h;

fail:
	tls_host_unref(h);
	return NULL;
}

static void tls_ctx_set_destroy(struct tls_ctx_set *set)
{
	for (size_t i = 0; i < set->n_hosts; i++)
		tls_host_unref(set->hosts[i]);
	free(set);
}

static struct tls_ctx_set *tls_ctx_set_alloc(const struct cfg *cfg, int *min_version,
					     char *err, size_t errlen)
{
	struct tls_ctx_set *set;

	if (cfg->n_hosts == 0) {
		tls_set_err(err, errlen, "tls: no [host] configured");
		return NULL;
	}
	*min_version = cfg->tls_min_version == 0 ? 12 : cfg->tls_min_version;
	if (*min_version != 12 && *min_version != 13) {
		tls_set_err(err, errlen, "tls: min_version must be 1.2 or 1.3");
		return NULL;
	}
	set = calloc(1, sizeof(*set) + cfg->n_hosts * sizeof(set->hosts[0]));
	if (set == NULL) {
		tls_set_err(err, errlen, "tls: out of memory");
		return NULL;
	}
	atomic_init(&set->refs, 1);
	return set;
}

struct tls_ctx_set *tls_ctx_set_new(const struct cfg *cfg, char *err, size_t errlen)
{
	struct tls_ctx_set *set;
	char one[1024];
	int min_version;
	bool ok = true;

	if (err && errlen)
		err[0] = '\0';
	set = tls_ctx_set_alloc(cfg, &min_version, err, errlen);
	if (set == NULL)
		return NULL;
	/* Every host is tried, so that one start lists every broken one. */
	for (size_t i = 0; i < cfg->n_hosts; i++) {
		struct tls_ctx_host *h = tls_ctx_host_new(cfg, &cfg->hosts[i], min_version, false,
							  one, sizeof(one));

		if (h == NULL) {
			cfg_err_add(err, errlen, "%s", one);
			ok = false;
			continue;
		}
		set->hosts[set->n_hosts++] = h;
	}
	if (!ok) {
		tls_ctx_set_destroy(set);
		return NULL;
	}
	LOG_DEBUG("tls: %zu server context(s), default %s, TLS >= 1.%d",
		  set->n_hosts, set->hosts[0]->domain, min_version % 10);
	return set;
}

static struct tls_ctx_host *tls_ctx_set_find(struct tls_ctx_set *set, const char *domain)
{
	for (size_t i = 0; i < set->n_hosts; i++)
		if (strcmp(set->hosts[i]->domain, domain) == 0)
			return set->hosts[i];
	return NULL;
}

struct tls_ctx_set *tls_ctx_set_reload(struct tls_ctx_set *old, const struct cfg *cfg,
				       unsigned *n_kept)
{
	struct tls_ctx_set *set;
	char err[1024];
	int min_version;

	*n_kept = 0;
	set = tls_ctx_set_alloc(cfg, &min_version, err, sizeof(err));
	if (set == NULL) {
		LOG_ERR("SIGHUP: certificates not reloaded: %s", err);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_hosts; i++) {
		const struct cfg_host *host = &cfg->hosts[i];
		struct tls_ctx_host *h = tls_ctx_host_new(cfg, host, min_version, true, err,
							  sizeof(err));

		if (h != NULL) {
			LOG_INFO("SIGHUP: host %s: certificate %s loaded", host->domain,
				 host->cert_file);
		} else if ((h = tls_ctx_set_find(old, host->domain)) != NULL) {
			/* Per host: one bad renewal must not take the others' new
			 * certificates with it, nor this host's working one. */
			atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
			LOG_WARN("SIGHUP: host %s: keeping the old certificate: %s", host->domain, err);
			(*n_kept)++;
		} else {
			LOG_ERR("SIGHUP: host %s: certificates not reloaded: %s", host->domain, err);
			tls_ctx_set_destroy(set);
			return NULL;
		}
		set->hosts[set->n_hosts++] = h;
	}
	return set;
}

void tls_ctx_set_ref(struct tls_ctx_set *set)
{
	atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
}

void tls_ctx_set_unref(struct tls_ctx_set *set)
{
	if (set == NULL)
		return;
	/* acq_rel: the freeing thread must see every other thread's last
	 * use of the set (kernel refcount pattern). */
	if (atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1)
		tls_ctx_set_destroy(set);
}

size_t tls_ctx_set_count(const struct tls_ctx_set *set)
{
	return set->n_hosts;
}

const char *tls_ctx_set_default_domain(const struct tls_ctx_set *set)
{
	return set->hosts[0]->domain;
}

static const struct tls_ctx_host *tls_ctx_set_pick_host(const struct tls_ctx_set *set,
							 const char *sni)
{
	if (sni != NULL) {
		for (size_t i = 0; i < set->n_hosts; i++) {
			if (strcasecmp(set->hosts[i]->domain, sni) == 0)
				return set->hosts[i];
		}
	}
	return set->hosts[0];
}

bool tls_ctx_set_end_point(const struct tls_ctx_set *set, const char *sni,
			   uint8_t out[TLS_END_POINT_MAX], size_t *len)
{
	const struct tls_ctx_host *h = tls_ctx_set_pick_host(set, sni);
	if (!h->end_point_len)
		return false;
	memcpy(out, h->end_point, h->end_point_len);
	*len = h->end_point_len;
	return true;
}

WOLFSSL_CTX *tls_ctx_set_pick(struct tls_ctx_set *set, const char *sni)
{
	if (sni != NULL) {
		for (size_t i = 0; i < set->n_hosts; i++) {
			if (strcasecmp(set->hosts[i]->domain, sni) == 0)
				return set->hosts[i]->wctx;
		}
	}
	return set->hosts[0]->wctx;
}

/* Trust anchors for the certificates that peers present (s2s). */
static enum xs ctx_trust(WOLFSSL_CTX *wctx, const char *ca_file, const char *ca_path, char *err,
			 size_t errlen)
{
	int rc = wolfSSL_CTX_load_verify_locations(wctx, ca_file, ca_path);
	if (rc == WOLFSSL_SUCCESS)
		return XS_OK;
	char why[160];
	tls_wolfssl_strerror(rc, why, sizeof(why));
	tls_set_err(err, errlen, "trust anchors %s%s%s: %s", ca_file ? ca_file : "",
		    ca_file && ca_path ? ", " : "", ca_path ? ca_path : "", why);
	return XS_TLS;
}

enum xs tls_ctx_set_trust(struct tls_ctx_set *set, const char *ca_file, const char *ca_path,
			  char *err, size_t errlen)
{
	if (ca_file == NULL && ca_path == NULL)
		return XS_OK;
	/* every host's context: the one SNI picks is the one that asks the
	 * peer for its certificate and verifies it */
	for (size_t i = 0; i < set->n_hosts; i++)
		if (ctx_trust(set->hosts[i]->wctx, ca_file, ca_path, err, errlen) != XS_OK)
			return XS_TLS;
	return XS_OK;
}
