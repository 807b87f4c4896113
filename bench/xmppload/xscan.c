/* The stanza splitter; see xscan.h for what it assumes and why it exists.
 *
 * The scanner walks bytes once.  Outside a tag only '<' matters; inside one,
 * quotes hide everything up to the matching quote (an attribute value may
 * hold '>' or '/'), '/' right after '<' makes an end tag, '?' or '!' a
 * declaration we skip, and '/' right before '>' an empty element. */
#include "bench/xmppload/xscan.h"

#include <string.h>

void xscan_reset(struct xscan *s)
{
	memset(s, 0, sizeof(*s));
}

enum xscan_ev xscan_next(struct xscan *s, const char *buf, size_t len,
			 size_t *start, size_t *elen)
{
	while (s->pos < len) {
		char c = buf[s->pos++];

		if (!s->in_tag) {
			if (c == '<') {
				s->in_tag = true;
				s->tag = s->pos - 1;
				s->end_tag = s->special = false;
				s->quote = 0;
				s->prev = 0;
			}
			continue;
		}
		if (s->quote) {
			if (c == s->quote)
				s->quote = 0;
			s->prev = c;
			continue;
		}
		if (s->pos - 1 == s->tag + 1) {
			if (c == '/')
				s->end_tag = true;
			else if (c == '?' || c == '!')
				s->special = true;
		}
		if (c == '\'' || c == '"') {
			s->quote = c;
			s->prev = c;
			continue;
		}
		if (c != '>') {
			s->prev = c;
			continue;
		}
		s->in_tag = false;
		if (s->special)
			continue;
		if (s->end_tag) {
			if (s->depth == 0)
				continue; /* stray end tag: not ours to judge */
			s->depth--;
			if (s->depth == 1) {
				*start = s->elem;
				*elen = s->pos - s->elem;
				return XSCAN_ELEM;
			}
			if (s->depth == 0)
				return XSCAN_CLOSE;
			continue;
		}
		if (s->prev == '/') {
			/* empty element: depth unchanged */
			if (s->depth == 1) {
				*start = s->tag;
				*elen = s->pos - s->tag;
				return XSCAN_ELEM;
			}
			continue;
		}
		s->depth++;
		if (s->depth == 1)
			return XSCAN_OPEN;
		if (s->depth == 2)
			s->elem = s->tag;
	}
	return XSCAN_MORE;
}

size_t xscan_discardable(const struct xscan *s)
{
	if (s->depth >= 2)
		return s->elem;
	if (s->in_tag)
		return s->tag;
	return s->pos;
}

void xscan_drop(struct xscan *s, size_t n)
{
	s->pos -= n;
	if (s->depth >= 2)
		s->elem -= n;
	if (s->in_tag)
		s->tag -= n;
}

static bool name_end(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' || c == '>';
}

bool xel_is(const char *el, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n + 1 && el[0] == '<' && memcmp(el + 1, name, n) == 0 && name_end(el[1 + n]);
}

/* End of the start tag at el (index of its '>'), honouring quotes. */
static size_t start_tag_end(const char *el, size_t len)
{
	char q = 0;

	for (size_t i = 0; i < len; i++) {
		if (q) {
			if (el[i] == q)
				q = 0;
		} else if (el[i] == '\'' || el[i] == '"') {
			q = el[i];
		} else if (el[i] == '>') {
			return i;
		}
	}
	return len;
}

bool xel_attr(const char *el, size_t len, const char *name, const char **val, size_t *vlen)
{
	size_t end = start_tag_end(el, len), n = strlen(name);
	char q = 0;

	for (size_t i = 1; i + n + 2 < end; i++) {
		char c = el[i];

		if (q) {
			if (c == q)
				q = 0;
			continue;
		}
		if (c == '\'' || c == '"') {
			q = c;
			continue;
		}
		if ((c != ' ' && c != '\t' && c != '\r' && c != '\n') ||
		    memcmp(el + i + 1, name, n) != 0 || el[i + 1 + n] != '=')
			continue;
		q = el[i + 2 + n];
		if (q != '\'' && q != '"')
			return false;
		const char *v = el + i + 3 + n;
		const char *e = memchr(v, q, (size_t)(el + end - v));
		if (!e)
			return false;
		*val = v;
		*vlen = (size_t)(e - v);
		return true;
	}
	return false;
}

bool xel_text(const char *el, size_t len, const char *child, const char **txt, size_t *tlen)
{
	const char *p = el, *end = el + len, *lt;

	if (child) {
		size_t n = strlen(child);

		for (;;) {
			p = memchr(p + 1, '<', (size_t)(end - p - 1));
			if (!p || (size_t)(end - p) < n + 2)
				return false;
			if (memcmp(p + 1, child, n) == 0 && name_end(p[1 + n]))
				break;
		}
	}
	p += start_tag_end(p, (size_t)(end - p));
	if (p >= end || p[-1] == '/')
		return false;
	p++;
	lt = memchr(p, '<', (size_t)(end - p));
	if (!lt)
		return false;
	*txt = p;
	*tlen = (size_t)(lt - p);
	return true;
}

bool xel_has(const char *el, size_t len, const char *needle)
{
	return memmem(el, len, needle, strlen(needle)) != NULL;
}
