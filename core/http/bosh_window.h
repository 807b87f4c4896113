/* The request window of a BOSH session (XEP-0124 sections 11, 14.3): which
 * request ids a client may send next, and the answers kept for resending.
 *
 * The client numbers its requests; the session handles them in order, one
 * rid after another.  A request may come ahead of one still on its way
 * (two HTTP connections race): within the window (at most `requests`
 * ahead) it waits for the gap; further ahead, or behind what the window
 * still remembers, the session ends with item-not-found.  A request
 * repeated because its answer was lost gets the same answer again, from
 * the copies kept here for the last `requests` rids.
 *
 * A pure module: the session (mux/http/bosh_session.c) holds the HTTP
 * requests themselves. */
#ifndef XMPPD_BOSH_WINDOW_H
#define XMPPD_BOSH_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"
#include "core/base/xbuf.h"

#define BOSH_WINDOW_MAX 4 /* `requests` at most: hold 3, plus one */

enum bosh_rid {
	BOSH_RID_NEXT,       /* the next in order: handle it now */
	BOSH_RID_AHEAD,      /* within the window after a gap: wait for it */
	BOSH_RID_REPEAT,     /* handled and answered: send the kept answer */
	BOSH_RID_UNANSWERED, /* handled, no answer yet (held, or its
			      * connection went first): this one waits for it */
	BOSH_RID_OUTSIDE,    /* out of the window: item-not-found */
};

struct bosh_kept {
	uint64_t rid;        /* 0: none */
	struct xbuf body;    /* the whole HTTP body that answered it */
};

struct bosh_window {
	uint64_t first;      /* the creation request's: none before it was */
	uint64_t last;       /* the highest rid handled; all below it too */
	unsigned requests;   /* 1..BOSH_WINDOW_MAX */
	struct bosh_kept kept[BOSH_WINDOW_MAX];
};

/* A new session whose creation request had rid first (handled). */
void bosh_window_init(struct bosh_window *w, uint64_t first, unsigned requests);
enum bosh_rid bosh_window_check(const struct bosh_window *w, uint64_t rid);
/* rid last + 1 has been handled. */
void bosh_window_advance(struct bosh_window *w);
/* The answer to rid (handled) was written: a copy is kept while rid is in
 * the window.  XS_NOMEM: none is (a repeat then gets UNANSWERED). */
enum xs bosh_window_keep(struct bosh_window *w, uint64_t rid, const char *body, size_t len);
/* The answer kept for rid, or NULL. */
const struct xbuf *bosh_window_kept(const struct bosh_window *w, uint64_t rid);
/* Bytes the kept answers hold. */
size_t bosh_window_mem(const struct bosh_window *w);
void bosh_window_free(struct bosh_window *w);

#endif
