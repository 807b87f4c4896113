/* JID parsing and normalisation; see jid.h for the contract.
 *
 * The split follows RFC 7622 §3.1: the first '/' starts the resourcepart
 * (which may itself hold '/' and '@'), and the first '@' before it ends the
 * localpart.  Each part is then checked as strict UTF-8 (libidn's own UTF-8
 * handling has been lenient in older releases, and a bad sequence must be a
 * protocol error, not a silently different JID) and run through its
 * stringprep profile in a stack buffer, so a whole JID costs no heap
 * allocation here beyond what libidn does internally.
 *
 * The domainpart gets more than Nameprep: stringprep alone accepts ASCII
 * punctuation and empty labels, which are never valid host names and would
 * turn into odd DNS queries on the s2s side.  We allow LDH labels (plus '_',
 * which some deployments use for internal components), check non-ASCII labels
 * with libidn's ToASCII for the 63-byte label limit, and accept IPv6 literals
 * in brackets, canonicalised by inet_pton/inet_ntop so that "[::1]" and
 * "[0:0::1]" are the same routing key. */
#include "core/xmpp/jid.h"

#include <arpa/inet.h>
#include <idna.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

bool jid_utf8_is_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		uint32_t cp;
		size_t n;

		if (c == 0)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;  /* continuation byte, 0xc0/0xc1, > 0xf4 */
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Shortest form only, no UTF-16 surrogates, nothing past Unicode. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		p += n + 1;
	}
	return true;
}

/* The three profiles restricted to ASCII input, where they reduce to two
 * rules: Nodeprep and Nameprep fold A-Z to lower case (table B.2), and
 * Nodeprep and Resourceprep prohibit the ASCII controls (C.2.1), Nodeprep
 * also space (C.1.1) and "&'/:<>@.  Mapping to nothing (B.1), NFKC,
 * the other prohibited tables, the bidi rules and unassigned code points
 * all concern non-ASCII code points only.  Nameprep lets controls through
 * (RFC 3491 §5 lists C.2.2, not C.2.1); the domain's label rules refuse
 * them afterwards.
 *
 * Why: nearly every JID on the wire is ASCII, and libidn converts each
 * part to UCS-4, normalises and searches its tables, which cost ~30,000
 * instructions per routed message before this path existed (callgrind,
 * bench/instructions.sh).  tests/unit/test_jid.c and fuzz_jid check that
 * this path and libidn agree on ASCII input.
 *
 * Returns 1 with work filled in, 0 if a prohibited character occurs, -1 if
 * the input is not pure ASCII (libidn's job). */
static int jid__ascii_prep(const char *in, size_t len, const Stringprep_profile *profile,
			   char *work)
{
	bool fold = profile != stringprep_xmpp_resourceprep;
	bool no_ctl = profile != stringprep_nameprep;
	bool node = profile == stringprep_xmpp_nodeprep;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c >= 0x80)
			return -1;
		if (no_ctl && (c < 0x20 || c == 0x7f))
			return 0;
		if (node && (c == ' ' || c == '"' || c == '&' || c == '\'' || c == '/' || c == ':' ||
			     c == '<' || c == '>' || c == '@'))
			return 0;
		work[i] = (char)(fold && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	work[len] = '\0';
	return 1;
}

/* Runs one stringprep profile over in[0..len) into out.  The input limit is
 * the output limit too (as in Prosody): a part that only fits after
 * mapping-to-nothing is not worth the extra buffer. */
static enum xs jid__prep(const char *in, size_t len, const Stringprep_profile *profile,
			 char *out, size_t cap, size_t *out_len)
{
	char work[JID_PART_MAX + 1];
	size_t n;

	if (len == 0 || len > JID_PART_MAX || !jid_utf8_is_valid(in, len))
		return XS_PROTO;
	int ascii = jid__ascii_prep(in, len, profile, work);
	if (ascii == 0)
		return XS_PROTO;
	if (ascii < 0) {
		memcpy(work, in, len);
		work[len] = '\0';
		/* Flags 0: unassigned code points allowed (the "query"
		 * rules), as Prosody and ejabberd do; TOO_SMALL_BUFFER
		 * means > 1023 bytes. */
		if (stringprep(work, sizeof(work), 0, profile) != STRINGPREP_OK)
			return XS_PROTO;
	}
	n = strlen(work);
	if (n == 0)
		return XS_PROTO;  /* everything was mapped to nothing */
	if (n >= cap)
		return XS_LIMIT;
	memcpy(out, work, n + 1);
	if (out_len)
		*out_len = n;
	return XS_OK;
}

static enum xs jid__ipv6_literal(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
	char inner[INET6_ADDRSTRLEN + 1];
	char canon[INET6_ADDRSTRLEN];
	struct in6_addr a;
	size_t n;

	if (len < 3 || in[len - 1] != ']' || len - 2 >= sizeof(inner))
		return XS_PROTO;
	memcpy(inner, in + 1, len - 2);
	inner[len - 2] = '\0';
	if (inet_pton(AF_INET6, inner, &a) != 1 || !inet_ntop(AF_INET6, &a, canon, sizeof(canon)))
		return XS_PROTO;
	n = strlen(canon) + 2;
	if (n >= cap)
		return XS_LIMIT;
	out[0] = '[';
	memcpy(out + 1, canon, n - 2);
	out[n - 1] = ']';
	out[n] = '\0';
	*out_len = n;
	return XS_OK;
}

/* Decodes valid UTF-8 (checked before) into UCS-4; false if it does not fit. */
static bool jid__to_ucs4(const char *s, size_t len, uint32_t *out, size_t cap, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;
	size_t k = 0;

	while (p < end) {
		uint32_t cp;
		size_t n;

		if (k == cap)
			return false;
		if (*p < 0x80) {
			cp = *p;
			n = 0;
		} else if (*p < 0xe0) {
			cp = *p & 0x1f;
			n = 1;
		} else if (*p < 0xf0) {
			cp = *p & 0x0f;
			n = 2;
		} else {
			cp = *p & 0x07;
			n = 3;
		}
		for (size_t i = 1; i <= n; i++)
			cp = (cp << 6) | (p[i] & 0x3f);
		out[k++] = cp;
		p += n + 1;
	}
	*out_len = k;
	return true;
}

/* Label rules on an already nameprepped domain; see the file comment. */
static bool jid__domain_labels_ok(const char *d, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && d[i] != '.')
			continue;

		const char *label = d + start;
		size_t llen = i - start;
		bool ascii = true;

		if (llen == 0)
			return false;
		for (size_t k = 0; k < llen; k++) {
			unsigned char c = (unsigned char)label[k];

			if (c >= 0x80) {
				ascii = false;
			} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				     c == '-' || c == '_')) {
				/* Upper case cannot survive Nameprep; anything
				 * else here is punctuation, space or control. */
				return false;
			}
		}
		if (ascii) {
			if (llen > 63)
				return false;
		} else {
			uint32_t ucs[256];
			char ace[64];
			size_t n;

			/* ToASCII enforces the 63-byte limit on the ACE form. */
			if (!jid__to_ucs4(label, llen, ucs, 256, &n) ||
			    idna_to_ascii_4i(ucs, n, ace, 0) != IDNA_SUCCESS)
				return false;
		}
		start = i + 1;
	}
	return true;
}

static enum xs jid__domain(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
	enum xs st;

	/* "example.com." is the same host as "example.com" (RFC 7622 §3.2). */
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return XS_PROTO;
	if (in[0] == '[')
		return jid__ipv6_literal(in, len, out, cap, out_len);
	st = jid__prep(in, len, stringprep_nameprep, out, cap, out_len);
	if (st != XS_OK)
		return st;
	/* Ideographic and full-width full stops are label separators in IDNA
	 * but Nameprep leaves them alone; refuse rather than keep a look-alike
	 * of a dotted name (U+3002, U+FF0E, U+FF61). */
	if (strstr(out, "\xe3\x80\x82") || strstr(out, "\xef\xbc\x8e") || strstr(out, "\xef\xbd\xa1"))
		return XS_PROTO;
	if (!jid__domain_labels_ok(out, *out_len))
		return XS_PROTO;
	return XS_OK;
}

enum xs jid_local_prep(const char *in, char *out, size_t cap)
{
	return jid__prep(in, strlen(in), stringprep_xmpp_nodeprep, out, cap, NULL);
}

enum xs jid_domain_prep(const char *in, char *out, size_t cap)
{
	size_t n;

	return jid__domain(in, strlen(in), out, cap, &n);
}

enum xs jid_resource_prep(const char *in, char *out, size_t cap)
{
	return jid__prep(in, strlen(in), stringprep_xmpp_resourceprep, out, cap, NULL);
}

struct jid__parts {
	char local[JID_PART_MAX + 1];
	char domain[JID_PART_MAX + 1];
	char resource[JID_PART_MAX + 1];
	size_t local_len, domain_len, resource_len;
};

static enum xs jid__split_prep(const char *s, size_t len, struct jid__parts *p)
{
	const char *slash, *at, *dom;
	size_t pre_len, dom_len;
	enum xs st;

	if (len == 0 || len > JID_MAX)
		return XS_PROTO;
	slash = memchr(s, '/', len);
	pre_len = slash ? (size_t)(slash - s) : len;
	at = memchr(s, '@', pre_len);

	p->local[0] = p->resource[0] = '\0';
	p->local_len = p->resource_len = 0;
	if (at) {
		/* "@d" is an empty localpart, not a missing one. */
		st = jid__prep(s, (size_t)(at - s), stringprep_xmpp_nodeprep, p->local,
			       sizeof(p->local), &p->local_len);
		if (st != XS_OK)
			return XS_PROTO;
		dom = at + 1;
	} else {
		dom = s;
	}
	dom_len = pre_len - (size_t)(dom - s);
	st = jid__domain(dom, dom_len, p->domain, sizeof(p->domain), &p->domain_len);
	if (st != XS_OK)
		return XS_PROTO;
	if (slash) {
		st = jid__prep(slash + 1, len - pre_len - 1, stringprep_xmpp_resourceprep,
			       p->resource, sizeof(p->resource), &p->resource_len);
		if (st != XS_OK)
			return XS_PROTO;
	}
	return XS_OK;
}

/* Writes "l@d/r" (or the shorter forms) into out; returns bytes or 0 if cap
 * is too small. */
static size_t jid__assemble(char *out, size_t cap, const char *l, size_t ll, const char *d,
			    size_t dl, const char *r, size_t rl, size_t *bare_len)
{
	size_t need = (ll ? ll + 1 : 0) + dl + (rl ? rl + 1 : 0);
	char *w = out;

	if (need + 1 > cap)
		return 0;
	if (ll) {
		memcpy(w, l, ll);
		w += ll;
		*w++ = '@';
	}
	memcpy(w, d, dl);
	w += dl;
	if (bare_len)
		*bare_len = (size_t)(w - out);
	if (rl) {
		*w++ = '/';
		memcpy(w, r, rl);
		w += rl;
	}
	*w = '\0';
	return need;
}

enum xs jid_normalize(const char *s, size_t len, char *out, size_t cap, size_t *bare_len)
{
	struct jid__parts p;
	enum xs st;

	if (cap > 0)
		out[0] = '\0';
	st = jid__split_prep(s, len, &p);
	if (st != XS_OK)
		return st;
	if (!jid__assemble(out, cap, p.local, p.local_len, p.domain, p.domain_len, p.resource,
			   p.resource_len, bare_len))
		return XS_LIMIT;
	return XS_OK;
}

static struct jid *jid__build(const char *l, size_t ll, const char *d, size_t dl, const char *r,
			      size_t rl)
{
	size_t full_len = (ll ? ll + 1 : 0) + dl + (rl ? rl + 1 : 0);
	size_t size = full_len + 1 + ll + 1 + dl + 1 + rl + 1;
	struct jid *jid = malloc(sizeof(*jid) + size);
	size_t bare_len = 0;
	char *w;

	if (!jid)
		return NULL;
	jid__assemble(jid->buf, full_len + 1, l, ll, d, dl, r, rl, &bare_len);
	w = jid->buf + full_len + 1;
	jid->local = w;
	memcpy(w, l, ll);
	w[ll] = '\0';
	w += ll + 1;
	jid->domain = w;
	memcpy(w, d, dl);
	w[dl] = '\0';
	w += dl + 1;
	jid->resource = w;
	memcpy(w, r, rl);
	w[rl] = '\0';
	/* All lengths are bounded by JID_MAX (3071), so uint16_t holds them. */
	jid->local_len = (uint16_t)ll;
	jid->domain_len = (uint16_t)dl;
	jid->resource_len = (uint16_t)rl;
	jid->bare_len = (uint16_t)bare_len;
	jid->full_len = (uint16_t)full_len;
	return jid;
}

enum xs jid_parse_n(const char *s, size_t len, struct jid **out)
{
	struct jid__parts p;
	struct jid *jid;
	enum xs st;

	*out = NULL;
	st = jid__split_prep(s, len, &p);
	if (st != XS_OK)
		return st;
	jid = jid__build(p.local, p.local_len, p.domain, p.domain_len, p.resource, p.resource_len);
	if (!jid)
		return XS_NOMEM;
	*out = jid;
	return XS_OK;
}

enum xs jid_parse(const char *s, struct jid **out)
{
	return jid_parse_n(s, strlen(s), out);
}

struct jid *jid_dup(const struct jid *jid)
{
	return jid__build(jid->local, jid->local_len, jid->domain, jid->domain_len, jid->resource,
			  jid->resource_len);
}

void jid_free(struct jid *jid)
{
	free(jid);
}

static enum xs jid__copy(const char *s, size_t n, char *out, size_t cap)
{
	if (n + 1 > cap) {
		if (cap > 0)
			out[0] = '\0';
		return XS_LIMIT;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return XS_OK;
}

enum xs jid_format_bare(const struct jid *jid, char *out, size_t cap)
{
	return jid__copy(jid->buf, jid->bare_len, out, cap);
}

enum xs jid_format_full(const struct jid *jid, char *out, size_t cap)
{
	return jid__copy(jid->buf, jid->full_len, out, cap);
}

bool jid_equal_bare(const struct jid *a, const struct jid *b)
{
	return a->bare_len == b->bare_len && memcmp(a->buf, b->buf, a->bare_len) == 0;
}

bool jid_equal_full(const struct jid *a, const struct jid *b)
{
	return a->full_len == b->full_len && memcmp(a->buf, b->buf, a->full_len) == 0;
}

bool jid_bare_of(const char *jid, char out[JID_BUF])
{
	size_t bl = strcspn(jid, "/");
	bool fits = bl < JID_BUF;
	if (!fits)
		bl = 0;
	memcpy(out, jid, bl);
	out[bl] = '\0';
	return fits;
}
