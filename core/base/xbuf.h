/* The project's one growable byte buffer.
 *
 * Used for output queues, serialization and scratch text everywhere.  It owns
 * a single heap block and keeps no other state, so a zeroed struct is a valid
 * empty buffer and costs nothing.  Idle connections must hold no buffers, so
 * xbuf_consume() gives the block back as soon as the buffer drains; callers
 * that want to keep the storage for reuse call xbuf_reset() instead.
 *
 * Invariants:
 *  - data == NULL  <=>  cap == 0, and then len == 0;
 *  - otherwise len < cap and data[len] == '\0', so the contents can always be
 *    read as a C string (binary data may of course hold NULs itself).
 * There is no size cap here: callers that read from the network bound what
 * they append (see the per-connection limits in mux/). */
#ifndef XMPPD_XBUF_H
#define XMPPD_XBUF_H

#include <stddef.h>
#include <string.h>

#include "core/base/status.h"

struct xbuf {
	char *data;
	size_t len, cap;
};

/* Appenders return XS_OK or XS_NOMEM; on XS_NOMEM the buffer is unchanged. */
enum xs xbuf_append_slow(struct xbuf *b, const void *p, size_t n);
/* Inline when the bytes fit (the serializer appends many short pieces per
 * stanza); the out-of-line path grows the buffer. */
static inline enum xs xbuf_append(struct xbuf *b, const void *p, size_t n)
{
	/* cap == 0 (no storage yet) never fits: 0 - 0 > n is false; n == 0
	 * goes the slow way, which never hands memcpy a NULL source */
	if (b->cap - b->len > n && n) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return XS_OK;
	}
	return xbuf_append_slow(b, p, n);
}
static inline enum xs xbuf_append_str(struct xbuf *b, const char *s)
{
	return xbuf_append(b, s, strlen(s));
}
enum xs xbuf_appendf(struct xbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Makes room for at least n more bytes without changing the contents. */
enum xs xbuf_reserve(struct xbuf *b, size_t n);

/* XML escaping for both text and attribute values: & < > " ' become entity
 * references and CR becomes &#13; (a literal CR would be turned into LF by
 * the reader's line-end normalisation).  C0 control characters other than
 * TAB, LF and CR cannot appear in XML 1.0 at all; they are replaced by
 * U+FFFD so that a stray control byte from an API caller cannot break the
 * peer's stream.  UTF-8 validity is not checked (parsed text is already
 * valid, and checking every byte on the hot path would be wasted). */
enum xs xbuf_append_escaped(struct xbuf *b, const char *s, size_t n);
/* As above, plus TAB and LF as character references: inside an attribute
 * value the reader would normalise them to spaces. */
enum xs xbuf_append_escaped_attr(struct xbuf *b, const char *s, size_t n);

/* Drops the first n bytes (all of them if n >= len).  When the buffer
 * becomes empty its storage is freed. */
void xbuf_consume(struct xbuf *b, size_t n);
/* Empties the buffer but keeps its storage for reuse. */
void xbuf_reset(struct xbuf *b);
/* Frees the storage; the buffer is then empty and may be reused. */
void xbuf_free(struct xbuf *b);

#endif
