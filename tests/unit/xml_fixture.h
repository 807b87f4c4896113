/* Shared fixture of the core/xml/xml_stream.c unit tests (test_xml_stream.c,
 * test_xml_sleep.c): a counting malloc that can fail on demand, and a
 * recorder that turns the parser's callbacks into one log line each.
 *
 * Header only, because tests/CMakeLists.txt builds every test_*.c as an
 * executable of its own and would compile no separate .c here.  Helpers are
 * static inline so that a test using only some of them builds cleanly under
 * -Wall -Werror; the malloc replacement is the exception (it must be
 * external to replace the C library's), so include this header from exactly
 * one file of a test executable.
 *
 * A test that defines REC_STANZA_QUALIFIED before including this header gets
 * the STANZA lines of test_xml_sleep.c (see rec_stanza()). */
#ifndef XMPPD_TESTS_XML_FIXTURE_H
#define XMPPD_TESTS_XML_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xml/xml_write.h"

/* Sanitizer runtimes bring their own malloc and do not allow replacing it;
 * there the tests that need the counting malloc are left out of the build
 * (ASan checks leaks instead). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NO_MALLOC_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
	__has_feature(thread_sanitizer)
#define NO_MALLOC_HOOK 1
#endif
#endif

/* ---- a malloc that can count and fail (glibc supports replacing it) ---- */

#ifndef NO_MALLOC_HOOK
/* glibc's allocator under its internal names.  The replacement below serves
 * every block of the process from it, also in builds that link jemalloc
 * (core/base/mem.h): the executable's malloc and free take precedence over
 * jemalloc's, so blocks never cross allocators. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static long fail_after = -1;  /* allocations left before one fails; -1 off,
			       * -2 after the failure happened */
static long live_allocs;      /* malloc'ed minus freed: a leak check */
/* Bytes held by live blocks, each counted as the chunk glibc's malloc
 * would give it on 64-bit (request + 8 rounded up to 16, at least 32).
 * The memory tests read this instead of mallinfo2(): it depends only on
 * what the code under test asks for, not on where glibc happened to put
 * the blocks (a brk start, a top chunk or a tcache left over from earlier
 * tests made mallinfo2's figure vary by a few hundred bytes from run to
 * run, which failed a "nothing left after sleep" check about once in 30). */
static size_t live_bytes;

/* Each block carries its requested size in a 16-byte prefix (which keeps
 * the 16-byte alignment malloc promises), so free and realloc can take it
 * off live_bytes. */
#define ALLOC_PREFIX 16

static inline size_t chunk_bytes(size_t n)
{
	size_t c = (n + 8 + 15) & ~(size_t)15;
	return c < 32 ? 32 : c;
}

/* Decides whether this allocation is the one to fail.  One failure per
 * pass, then normal service: the code must recover from it, not merely give
 * up on everything after it. */
static inline bool alloc_fails(void)
{
	if (fail_after < 0)
		return false;
	if (fail_after-- == 0) {
		fail_after = -2;
		return true;
	}
	return false;
}

static inline void *account_block(char *base, size_t n)
{
	if (!base)
		return NULL;
	memcpy(base, &n, sizeof(n));
	live_bytes += chunk_bytes(n);
	return base + ALLOC_PREFIX;
}

/* Not inlined: where gcc sees both the malloc and the free of a block it
 * would flag the look behind the pointer as out of bounds. */
static __attribute__((noinline)) size_t block_size(void *p)
{
	size_t n;
	memcpy(&n, (char *)p - ALLOC_PREFIX, sizeof(n));
	return n;
}

void *malloc(size_t n)
{
	if (n > SIZE_MAX - ALLOC_PREFIX || alloc_fails())
		return NULL;
	void *p = account_block(__libc_malloc(n + ALLOC_PREFIX), n);
	if (p)
		live_allocs++;
	return p;
}

void *calloc(size_t n, size_t m)
{
	/* glibc's own calloc: malloc + memset here would be turned back into
	 * a call to calloc by the compiler */
	if ((m && n > (SIZE_MAX - ALLOC_PREFIX) / m) || alloc_fails())
		return NULL;
	void *p = account_block(__libc_calloc(1, n * m + ALLOC_PREFIX), n * m);
	if (p)
		live_allocs++;
	return p;
}

/* Counts only a realloc(NULL, n) as a new block: resizing keeps the number
 * of blocks. */
void *realloc(void *old, size_t n)
{
	if (!old)
		return malloc(n);
	if (n > SIZE_MAX - ALLOC_PREFIX || alloc_fails())
		return NULL;
	size_t was = block_size(old);
	char *base = __libc_realloc((char *)old - ALLOC_PREFIX, n + ALLOC_PREFIX);
	if (!base)
		return NULL;
	live_bytes -= chunk_bytes(was);
	return account_block(base, n);
}

/* While set, free() counts the blocks that still hold this string: a
 * secret must be wiped before its memory goes back. */
static const char *free_marker;
static long marker_frees;

void free(void *p)
{
	if (!p)
		return;
	if (free_marker && memmem(p, block_size(p), free_marker, strlen(free_marker)))
		marker_frees++;
	live_allocs--;
	live_bytes -= chunk_bytes(block_size(p));
	__libc_free((char *)p - ALLOC_PREFIX);
}

/* Blocks not from malloc/calloc/realloc above would reach free() without a
 * prefix; nothing in these tests asks for aligned memory, and these make
 * sure that stays so. */
int posix_memalign(void **p, size_t align, size_t n)
{
	(void)p; (void)align; (void)n;
	abort();
}

void *aligned_alloc(size_t align, size_t n)
{
	(void)align; (void)n;
	abort();
}

void *memalign(size_t align, size_t n)
{
	(void)align; (void)n;
	abort();
}

size_t malloc_usable_size(void *p)
{
	return p ? block_size(p) : 0;
}

/* Suspends failure injection and returns its state, for the recorder's
 * callbacks: a failure meant for the parser must not hit the test's own
 * bookkeeping, nor be used up by it. */
static inline long hold_failures(void)
{
	long f = fail_after;
	fail_after = -1;
	return f;
}

/* Resumes what hold_failures() suspended. */
static inline void release_failures(long f)
{
	fail_after = f;
}
#else
static inline long hold_failures(void)
{
	return 0;
}

static inline void release_failures(long f)
{
	(void)f;
}
#endif

/* ---- recorder: one line per callback ---- */

/* The default namespace of the c2s conversations. */
#define NS_CLIENT "jabber:client"

struct rec {
	struct xml_stream *s;
	struct xbuf log;       /* OPEN, STANZA and CLOSE lines */
	struct xbuf stanzas;   /* just the serialized stanzas, one per line */
	struct xbuf inners;    /* per stanza "INNER <content as received>" or "NOINNER" */
	char *around[64];      /* with keep: xml_write_around of each kept tree, or NULL */
	int n_open, n_stanzas;
	int stop_at;           /* stop when stanza number stop_at arrives (1-based) */
	bool keep;             /* keep trees in the array below */
	struct xml_node *kept[64];
	int n_kept;
};

/* Logs attributes as " {ns}name=value" or " name=value": the namespace an
 * attribute ended up in is what the tests check, not how it was spelled. */
static inline void log_attrs(struct xbuf *b, const struct xml_node *n)
{
	for (size_t i = 0; i < n->n_attrs; i++) {
		const struct xml_attr *a = &n->attrs[i];
		if (a->ns)
			xbuf_appendf(b, " {%s}%s=%s", a->ns, a->name, a->value);
		else
			xbuf_appendf(b, " %s=%s", a->name, a->value);
	}
}

/* Logs the header with the default namespace the stream took from it. */
static inline int rec_open(void *arg, struct xml_node *h)
{
	struct rec *r = arg;
	long f = hold_failures();
	xbuf_appendf(&r->log, "OPEN {%s}%s default=%s", h->ns, h->name,
		     xml_stream_default_ns(r->s));
	log_attrs(&r->log, h);
	xbuf_append_str(&r->log, "\n");
	r->n_open++;
	release_failures(f);
	return 0;
}

/* Logs the stanza serialized, and frees or keeps its tree.  By default it
 * is serialized against NS_CLIENT, the namespace of the conversations, and
 * logged as that text alone.  With REC_STANZA_QUALIFIED it is serialized
 * against the stream's default namespace of the moment and logged after its
 * {ns}name, so that a stanza that lost its namespace in a wake shows, both
 * in the name and as an xmlns in the text.  Returns nonzero (stop) when
 * stanza number stop_at arrives, as a STARTTLS handler would. */
static inline int rec_stanza(void *arg, struct xml_node *st)
{
	struct rec *r = arg;
	long f = hold_failures();
	struct xbuf out = { 0 };
#ifdef REC_STANZA_QUALIFIED
	assert_int_equal(xml_write(st, xml_stream_default_ns(r->s), &out), XS_OK);
	xbuf_appendf(&r->log, "STANZA {%s}%s %s\n", st->ns, st->name, out.data);
#else
	assert_int_equal(xml_write(st, NS_CLIENT, &out), XS_OK);
	xbuf_appendf(&r->log, "STANZA %s\n", out.data);
#endif
	xbuf_appendf(&r->stanzas, "%s\n", out.data);
	xbuf_free(&out);
	const char *inner;
	size_t inner_len;
	bool have_inner = xml_stream_stanza_inner(r->s, &inner, &inner_len);
	if (have_inner) {
		xbuf_append_str(&r->inners, "INNER ");
		xbuf_append(&r->inners, inner, inner_len);
		xbuf_append_str(&r->inners, "\n");
	} else {
		xbuf_append_str(&r->inners, "NOINNER\n");
	}
	if (r->keep && r->n_kept < 64 && have_inner) {
		assert_int_equal(xml_write_around(st, NS_CLIENT, inner, inner_len, &out), XS_OK);
		r->around[r->n_kept] = out.data;
		out.data = NULL;
	}
	r->n_stanzas++;
	if (r->keep && r->n_kept < 64)
		r->kept[r->n_kept++] = st;
	else
		xml_node_free(st);
	release_failures(f);
	return r->stop_at && r->n_stanzas == r->stop_at;
}

/* Logs the end of the stream. */
static inline int rec_close(void *arg)
{
	struct rec *r = arg;
	long f = hold_failures();
	xbuf_append_str(&r->log, "CLOSE\n");
	release_failures(f);
	return 0;
}

static const struct xml_stream_cb rec_cb = {
	.stream_open = rec_open,
	.stanza = rec_stanza,
	.stream_close = rec_close,
};

/* Limits no test input reaches unless it means to. */
static const struct xml_stream_limits big_limits = {
	.max_stanza_size = 65536, .max_depth = 16, .max_attrs = 32,
};

/* Starts a recorder on a new stream with `lim`, or big_limits if NULL. */
static inline void rec_init(struct rec *r, const struct xml_stream_limits *lim)
{
	memset(r, 0, sizeof(*r));
	r->s = xml_stream_new(lim ? lim : &big_limits, &rec_cb, r);
	assert_non_null(r->s);
}

/* Frees the stream, the logs and any kept trees. */
static inline void rec_done(struct rec *r)
{
	xml_stream_free(r->s);
	xbuf_free(&r->log);
	xbuf_free(&r->stanzas);
	xbuf_free(&r->inners);
	for (int i = 0; i < r->n_kept; i++) {
		xml_node_free(r->kept[i]);
		free(r->around[i]);
	}
}

/* The INNER/NOINNER lines so far, "" before the first. */
static inline const char *rec_inners(const struct rec *r)
{
	return r->inners.data ? r->inners.data : "";
}

/* The log so far, "" rather than NULL before the first line. */
static inline const char *rec_log(const struct rec *r)
{
	return r->log.data ? r->log.data : "";
}

/* Feeds n bytes as one piece. */
static inline enum xml_stream_err feed_n(struct rec *r, const char *p, size_t n)
{
	return xml_stream_feed(r->s, p, n);
}

/* Feeds a NUL-terminated string as one piece. */
static inline enum xml_stream_err feed(struct rec *r, const char *p)
{
	return feed_n(r, p, strlen(p));
}

#endif
