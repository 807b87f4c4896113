/* libFuzzer target for core/xmpp/jid.c: parses arbitrary bytes, and for every
 * accepted JID checks that the allocation-free path agrees, that the
 * normalised form parses to itself (normalisation is idempotent, which the
 * router relies on when it keys tables by these strings) and that the bare
 * form is a bare JID with the same bare part. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmpp/jid.h"

#include <stringprep.h>

/* jid.c runs ASCII parts through its own table-free path: on ASCII input
 * it must agree with libidn (the unit test does the same exhaustively for
 * short strings). */
static void check_ascii_profiles(const uint8_t *data, size_t size)
{
	char in[JID_PART_MAX + 1], ref[JID_PART_MAX + 1], got[JID_PART_MAX + 1];
	if (size == 0 || size > JID_PART_MAX)
		return;
	for (size_t i = 0; i < size; i++)
		if (data[i] == 0 || data[i] >= 0x80)
			return;
	memcpy(in, data, size);
	in[size] = '\0';
	const Stringprep_profile *prof[] = { stringprep_xmpp_nodeprep, stringprep_xmpp_resourceprep };
	enum xs (*ours[])(const char *, char *, size_t) = { jid_local_prep, jid_resource_prep };
	for (int k = 0; k < 2; k++) {
		memcpy(ref, in, size + 1);
		int ref_ok = stringprep(ref, sizeof(ref), 0, prof[k]) == STRINGPREP_OK && ref[0];
		enum xs st = ours[k](in, got, sizeof(got));
		if (ref_ok != (st == XS_OK) || (ref_ok && strcmp(ref, got)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char full[JID_BUF], bare[JID_BUF];
	struct jid *j = NULL, *k = NULL, *b = NULL;
	size_t bare_len = 0;
	enum xs st, st2;

	check_ascii_profiles(data, size);

	st = jid_parse_n((const char *)data, size, &j);
	st2 = jid_normalize((const char *)data, size, full, sizeof(full), &bare_len);
	if (st != st2)
		abort();
	if (st != XS_OK) {
		if (j)
			abort();
		return 0;
	}
	if (strcmp(jid_full(j), full) != 0 || bare_len != j->bare_len ||
	    strlen(full) != j->full_len || j->domain_len == 0)
		abort();

	if (jid_parse(jid_full(j), &k) != XS_OK || !jid_equal_full(j, k) ||
	    strcmp(j->local, k->local) || strcmp(j->domain, k->domain) ||
	    strcmp(j->resource, k->resource))
		abort();

	if (jid_format_bare(j, bare, sizeof(bare)) != XS_OK || jid_parse(bare, &b) != XS_OK ||
	    !jid_is_bare(b) || !jid_equal_bare(j, b))
		abort();

	/* The single-part helpers agree with the whole-JID parser. */
	if (j->local_len) {
		char out[JID_PART_MAX + 1];

		if (jid_local_prep(j->local, out, sizeof(out)) != XS_OK || strcmp(out, j->local))
			abort();
	}
	{
		char out[JID_PART_MAX + 1];

		if (jid_domain_prep(j->domain, out, sizeof(out)) != XS_OK || strcmp(out, j->domain))
			abort();
	}
	jid_free(j);
	jid_free(k);
	jid_free(b);
	return 0;
}
