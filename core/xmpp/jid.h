/* JIDs (RFC 7622 syntax, RFC 6122 stringprep normalisation).
 *
 * Every JID that enters the server goes through jid_parse() or
 * jid_normalize() once, at the edge; afterwards the normalised strings are
 * compared byte for byte.  The router keys its tables by the normalised bare
 * and full strings, so jid_normalize() writes them into a caller-provided
 * buffer without touching the heap.  SASL uses jid_local_prep() on the
 * authcid and xmppctl uses jid_domain_prep()/jid_local_prep() on user input.
 *
 * Normalisation is what Prosody and ejabberd do: libidn's Nodeprep for the
 * localpart, Nameprep (plus one stripped trailing dot and IP literals) for
 * the domainpart, Resourceprep for the resourcepart.  Each part is at most
 * 1023 bytes both before and after preparation.  Pure functions: safe to call
 * from any thread. */
#ifndef XMPPD_JID_H
#define XMPPD_JID_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>

#include "core/base/status.h"

#define JID_PART_MAX 1023                     /* bytes, RFC 7622 §3.2-3.4 */
#define JID_MAX (3 * JID_PART_MAX + 2)         /* "l@d/r" without the NUL */
#define JID_BUF (JID_MAX + 1)                  /* a buffer that fits any JID */

/* A parsed, normalised JID in one allocation.  full is "local@domain/res";
 * the bare JID is its first bare_len bytes.  The part pointers point into
 * buf, each NUL-terminated, "" when the part is absent. */
struct jid {
	const char *local;
	const char *domain;
	const char *resource;
	uint16_t local_len;
	uint16_t domain_len;
	uint16_t resource_len;
	uint16_t bare_len;
	uint16_t full_len;
	char buf[];  /* full "\0" local "\0" domain "\0" resource "\0" */
};

/* Parses and normalises s.  XS_PROTO for anything that is not a valid JID
 * (empty or overlong parts, prohibited characters, bad UTF-8), XS_NOMEM. */
enum xs jid_parse(const char *s, struct jid **out);
enum xs jid_parse_n(const char *s, size_t len, struct jid **out);
void jid_free(struct jid *jid);
struct jid *jid_dup(const struct jid *jid);

/* Without malloc: writes the normalised full JID into out (NUL-terminated)
 * and the length of its bare prefix into *bare_len (may be NULL).  cap of
 * JID_BUF always suffices.  XS_PROTO, or XS_LIMIT if out is too small. */
enum xs jid_normalize(const char *s, size_t len, char *out, size_t cap, size_t *bare_len);

/* Single parts, NUL-terminated in and out; out needs JID_PART_MAX + 1 bytes
 * at most.  An empty part is XS_PROTO. */
enum xs jid_local_prep(const char *in, char *out, size_t cap);
enum xs jid_domain_prep(const char *in, char *out, size_t cap);
enum xs jid_resource_prep(const char *in, char *out, size_t cap);

/* XS_LIMIT when cap is too small (out then holds ""). */
enum xs jid_format_bare(const struct jid *jid, char *out, size_t cap);
enum xs jid_format_full(const struct jid *jid, char *out, size_t cap);
static inline const char *jid_full(const struct jid *jid) { return jid->buf; }

bool jid_equal_bare(const struct jid *a, const struct jid *b);
bool jid_equal_full(const struct jid *a, const struct jid *b);
static inline bool jid_is_bare(const struct jid *jid) { return jid->resource_len == 0; }
static inline bool jid_has_local(const struct jid *jid) { return jid->local_len != 0; }

/* Strict UTF-8 (no overlong forms, surrogates or code points > U+10FFFF,
 * no NUL).  Shared with the SASL code, which must check before stringprep. */
bool jid_utf8_is_valid(const char *s, size_t len);

/* The bare part of the JID jid ("local@domain" of "local@domain/res")
 * into out, NUL-terminated; false, and out empty, when it does not fit. */
bool jid_bare_of(const char *jid, char out[JID_BUF]);

/* The forms a privacy or blocking rule may name to match the normalised
 * jid (XEP-0016 2.1, which XEP-0191 uses): the full JID, the bare JID,
 * domain/resource and the domain, as pieces of jid itself (nothing is
 * copied); a form jid lacks is the nearest one it has.  The resource is
 * everything after the first '/' and may hold '@' and '/' itself; the
 * localpart is what precedes an '@' before that slash (RFC 7622 3.1). */
enum jid_form { JID_FORM_FULL, JID_FORM_BARE, JID_FORM_DOMAIN_RESOURCE, JID_FORM_DOMAIN, JID_FORMS };

struct jid_piece {
	const char *s;
	size_t len;
};

static inline void jid_match_forms(const char *jid, struct jid_piece f[JID_FORMS])
{
	size_t len = strlen(jid);
	const char *slash = memchr(jid, '/', len);
	size_t bare = slash ? (size_t)(slash - jid) : len;
	const char *at = memchr(jid, '@', bare);
	size_t dom = at ? (size_t)(at - jid) + 1 : 0;

	f[JID_FORM_FULL] = (struct jid_piece){ jid, len };
	f[JID_FORM_BARE] = (struct jid_piece){ jid, bare };
	f[JID_FORM_DOMAIN_RESOURCE] = (struct jid_piece){ jid + dom, len - dom };
	f[JID_FORM_DOMAIN] = (struct jid_piece){ jid + dom, bare - dom };
}

#endif
