/* A stanza splitter for the load generator: finds the stream header, each
 * complete depth-1 element and the stream's end in received plaintext, and
 * a few helpers to pick attributes and text out of one element.
 *
 * Why not core/xml/xml_stream (expat): the generator holds tens of thousands of
 * sessions and only needs to recognise a dozen element shapes that servers
 * write in a regular way.  An expat parser costs ~8 KiB per connection and
 * builds a tree per stanza; this scanner costs a few words and a byte loop.
 * It is not a validating parser: it tracks tags, quotes and depth, which is
 * enough to cut well-formed server output into elements wherever the reads
 * happen to split it (the state survives between calls, so a split inside a
 * tag, an attribute value or a name is fine).  It assumes no CDATA sections
 * and no comments, which RFC 6120 §11.1 forbids servers to send anyway. */
#ifndef XMPPLOAD_XSCAN_H
#define XMPPLOAD_XSCAN_H

#include <stdbool.h>
#include <stddef.h>

enum xscan_ev {
	XSCAN_MORE,  /* nothing complete yet: append input and call again */
	XSCAN_OPEN,  /* the stream header's start tag is complete */
	XSCAN_ELEM,  /* a depth-1 element: *start, *len within the buffer */
	XSCAN_CLOSE, /* </stream:stream> */
};

struct xscan {
	size_t pos;       /* bytes of the buffer already looked at */
	size_t elem;      /* start of the current depth-1 element */
	size_t tag;       /* start of the tag being read */
	unsigned depth;
	bool in_tag, end_tag, special;
	char quote;       /* the quote of the attribute value we are in, or 0 */
	char prev;        /* last byte seen inside the tag outside quotes */
};

/* A fresh document (new stream, or after a stream restart). */
void xscan_reset(struct xscan *s);
/* Looks at buf[s->pos..len) and stops at the first event.  buf must be the
 * same bytes as before, extended, or shifted by xscan_drop(). */
enum xscan_ev xscan_next(struct xscan *s, const char *buf, size_t len,
			 size_t *start, size_t *elen);
/* How many leading bytes the caller may discard (they belong to no element
 * still being read); after discarding them call xscan_drop(s, n). */
size_t xscan_discardable(const struct xscan *s);
void xscan_drop(struct xscan *s, size_t n);

/* Helpers on one element's bytes (from XSCAN_ELEM). */
/* True if the element's name is name (with its prefix, e.g.
 * "stream:features"). */
bool xel_is(const char *el, size_t len, const char *name);
/* The value of attribute name on the element's start tag, undecoded. */
bool xel_attr(const char *el, size_t len, const char *name, const char **val, size_t *vlen);
/* The text right after the first start tag named child (or after the
 * element's own start tag, child NULL) up to the next '<'.  Undecoded. */
bool xel_text(const char *el, size_t len, const char *child, const char **txt, size_t *tlen);
/* Whether needle occurs anywhere in the element. */
bool xel_has(const char *el, size_t len, const char *needle);

#endif
