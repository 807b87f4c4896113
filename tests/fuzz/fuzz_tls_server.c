/* Fuzz target: the server side of the TLS layer fed arbitrary bytes as if
 * from a client (ClientHello sniffing for SNI, then wolfSSL's record and
 * handshake parsing).  The first byte picks how the input is split into
 * feeds.  A certificate is generated once into a temporary directory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/cfg.h"
#include "tls/tls.h"
#include "tls/tls_cert.h"

static struct tls_ctx_set *set;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static struct cfg cfg;
	char dir[] = "/tmp/fuzz_tls_XXXXXX", err[256];
	if (!mkdtemp(dir))
		abort();
	cfg_defaults(&cfg);
	cfg.n_hosts = 1;
	snprintf(cfg.hosts[0].domain, sizeof(cfg.hosts[0].domain), "fuzz.test");
	snprintf(cfg.hosts[0].cert_file, sizeof(cfg.hosts[0].cert_file), "%s/c.pem", dir);
	snprintf(cfg.hosts[0].key_file, sizeof(cfg.hosts[0].key_file), "%s/k.pem", dir);
	if (tls_global_init() != XS_OK ||
	    tls_cert_generate("fuzz.test", cfg.hosts[0].cert_file, cfg.hosts[0].key_file, 30, err,
			      sizeof(err)) != XS_OK)
		abort();
	set = tls_ctx_set_new(&cfg, err, sizeof(err));
	if (!set)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)(data[0] % 64) + 1;
	data++;
	size--;
	struct tls_sess *s = tls_sess_new_server(set, "xmpp-client");
	if (!s)
		return 0;
	char buf[4096];
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		if (tls_sess_feed(s, data + off, n) != XS_OK)
			break;
		size_t nr;
		enum xs st;
		while ((st = tls_sess_read(s, buf, sizeof(buf), &nr)) == XS_OK)
			;
		size_t pend;
		if (tls_sess_out_peek(s, &pend) && pend)
			tls_sess_out_consume(s, pend);
		if (st != XS_AGAIN)
			break;
	}
	tls_sess_free(s);
	return 0;
}
