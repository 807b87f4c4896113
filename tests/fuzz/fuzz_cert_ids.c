/* libFuzzer target for tls/cert_ids.c: a peer's certificate, DER as it came
 * off the wire, walked for its subjectAltName identifiers.  Checks that
 * every name handed out is a NUL-terminated string of at most 255 bytes,
 * that the walk agrees with itself when stopped at each name in turn, and
 * that matching never contradicts the walk (a match names a domain the
 * walk listed, of the kind reported). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/cert_ids.h"

struct seen {
	unsigned n, stop_at;
	enum cert_id_kind first_kind;
	char first[256];
};

static int collect(void *arg, enum cert_id_kind kind, const char *name)
{
	struct seen *s = arg;
	size_t len = strlen(name);
	if (len == 0 || len > 255 || kind == CERT_ID_NONE)
		abort();
	if (s->n == 0) {
		memcpy(s->first, name, len + 1);
		s->first_kind = kind;
	}
	s->n++;
	return s->stop_at && s->n >= s->stop_at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen all = { 0 };
	enum xs st = cert_ids_each(data, size, collect, &all);
	if (st != XS_OK && st != XS_PROTO)
		abort();
	for (unsigned k = 1; k <= all.n && k <= 4; k++) {
		struct seen part = { .stop_at = k };
		if (cert_ids_each(data, size, collect, &part) != XS_STOP || part.n != k)
			abort();
	}
	size_t fl = strlen(all.first);
	if (all.n && all.first_kind == CERT_ID_XMPPADDR && !strchr(all.first, '*') &&
	    all.first[fl - 1] != '.') {
		/* an XmppAddr of a domain matches exactly that domain */
		enum cert_id_kind how;
		if (cert_ids_match_server(data, size, all.first, &how) == XS_OK &&
		    how == CERT_ID_NONE && !strchr(all.first, '@') && !strchr(all.first, '/'))
			abort();
	}
	return 0;
}
