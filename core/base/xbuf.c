/* Growable byte buffer; see xbuf.h for the invariants.
 *
 * Growth doubles (starting at 64 bytes) so that appending n bytes one piece
 * at a time costs O(n) copying.  The terminating NUL is kept after every
 * change, which is why every size computation below adds one. */
#include "core/base/xbuf.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XBUF_MIN_CAP 64

enum xs xbuf_reserve(struct xbuf *b, size_t n)
{
	if (b->cap && b->cap - b->len > n)
		return XS_OK;
	if (n > SIZE_MAX / 2 - b->len - 1)
		return XS_NOMEM;

	size_t need = b->len + n + 1;
	size_t cap = b->cap ? b->cap : XBUF_MIN_CAP;
	while (cap < need)
		cap *= 2;

	char *p = realloc(b->data, cap);
	if (!p)
		return XS_NOMEM;
	if (!b->data)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return XS_OK;
}

enum xs xbuf_append_slow(struct xbuf *b, const void *p, size_t n)
{
	if (n == 0)
		return XS_OK;
	if (xbuf_reserve(b, n) != XS_OK)
		return XS_NOMEM;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return XS_OK;
}

enum xs xbuf_appendf(struct xbuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	/* Format once into a stack buffer: most calls are short, and this way
	 * a failure leaves the xbuf untouched without a second va_list. */
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return XS_INVAL;
	if ((size_t)n < sizeof(small))
		return xbuf_append(b, small, (size_t)n);

	if (xbuf_reserve(b, (size_t)n) != XS_OK)
		return XS_NOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return XS_OK;
}

/* What each byte turns into, by escaper: 0 keeps the byte, anything else
 * indexes esc_rep.  Two tables so that the scanning loop has no branch on
 * the mode; both are constant. */
enum { E_KEEP, E_AMP, E_LT, E_GT, E_QUOT, E_APOS, E_CR, E_LF, E_TAB, E_CTRL };

static const struct {
	const char *s;
	size_t len;
} esc_rep[] = {
	[E_AMP] = { "&amp;", 5 }, [E_LT] = { "&lt;", 4 },    [E_GT] = { "&gt;", 4 },
	[E_QUOT] = { "&quot;", 6 }, [E_APOS] = { "&apos;", 6 }, [E_CR] = { "&#13;", 5 },
	[E_LF] = { "&#10;", 5 }, [E_TAB] = { "&#9;", 4 },
	[E_CTRL] = { "\xef\xbf\xbd", 3 }, /* U+FFFD */
};

#define C8 E_CTRL, E_CTRL, E_CTRL, E_CTRL, E_CTRL, E_CTRL, E_CTRL, E_CTRL
#define MARKUP_CLASSES                                                    \
	['&'] = E_AMP, ['<'] = E_LT, ['>'] = E_GT, ['"'] = E_QUOT, ['\''] = E_APOS

/* C0 controls as U+FFFD; TAB and LF kept in text, referenced in attributes */
static const unsigned char esc_text[256] = {
	C8, E_CTRL, E_KEEP, E_KEEP, E_CTRL, E_CTRL, E_CR, E_CTRL, E_CTRL, C8, C8,
	MARKUP_CLASSES,
};
static const unsigned char esc_attr[256] = {
	C8, E_CTRL, E_TAB, E_LF, E_CTRL, E_CTRL, E_CR, E_CTRL, E_CTRL, C8, C8,
	MARKUP_CLASSES,
};

/* Shared by both escapers: one table lookup per byte, and runs of bytes
 * that need no escaping are copied in one piece.  Room for the unescaped
 * length is made first, so text without markup costs one copy. */
static enum xs append_escaped(struct xbuf *b, const char *s, size_t n,
			      const unsigned char *cls)
{
	size_t run = 0, old_len = b->len;

	if (xbuf_reserve(b, n) != XS_OK)
		return XS_NOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char k = cls[(unsigned char)s[i]];
		if (k == E_KEEP)
			continue;
		if (xbuf_append(b, s + run, i - run) != XS_OK ||
		    xbuf_append(b, esc_rep[k].s, esc_rep[k].len) != XS_OK)
			goto out_undo;
		run = i + 1;
	}
	if (xbuf_append(b, s + run, n - run) != XS_OK)
		goto out_undo;
	return XS_OK;

out_undo:
	/* Keep the promise of xbuf.h: a failed append changes nothing. */
	b->len = old_len;
	if (b->data)
		b->data[old_len] = '\0';
	return XS_NOMEM;
}

enum xs xbuf_append_escaped(struct xbuf *b, const char *s, size_t n)
{
	return append_escaped(b, s, n, esc_text);
}

enum xs xbuf_append_escaped_attr(struct xbuf *b, const char *s, size_t n)
{
	return append_escaped(b, s, n, esc_attr);
}

void xbuf_consume(struct xbuf *b, size_t n)
{
	if (n >= b->len) {
		xbuf_free(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void xbuf_reset(struct xbuf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void xbuf_free(struct xbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
