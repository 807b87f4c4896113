/* The request window of a BOSH session (core/http/bosh_window.h). */
#include "core/http/bosh_window.h"

#include <string.h>

void bosh_window_init(struct bosh_window *w, uint64_t first, unsigned requests)
{
	memset(w, 0, sizeof(*w));
	w->first = w->last = first;
	w->requests = requests < 1 ? 1 : requests > BOSH_WINDOW_MAX ? BOSH_WINDOW_MAX : requests;
}

/* The slot of a kept answer: rids in the window, requests of them, map to
 * distinct slots. */
static struct bosh_kept *slot(const struct bosh_window *w, uint64_t rid)
{
	return (struct bosh_kept *)&w->kept[rid % w->requests];
}

enum bosh_rid bosh_window_check(const struct bosh_window *w, uint64_t rid)
{
	if (rid == w->last + 1)
		return BOSH_RID_NEXT;
	if (rid > w->last)
		return rid - w->last <= w->requests ? BOSH_RID_AHEAD : BOSH_RID_OUTSIDE;
	/* behind: remembered for the last `requests` rids only */
	if (w->last - rid >= w->requests || rid < w->first)
		return BOSH_RID_OUTSIDE;
	return slot(w, rid)->rid == rid ? BOSH_RID_REPEAT : BOSH_RID_UNANSWERED;
}

void bosh_window_advance(struct bosh_window *w)
{
	w->last++;
	/* the slot now belongs to the new rid: what it kept has left the
	 * window */
	struct bosh_kept *k = slot(w, w->last);
	if (k->rid && k->rid != w->last) {
		k->rid = 0;
		xbuf_free(&k->body);
	}
}

enum xs bosh_window_keep(struct bosh_window *w, uint64_t rid, const char *body, size_t len)
{
	if (rid > w->last || w->last - rid >= w->requests || rid < w->first)
		return XS_OK; /* out of the window already: nothing to resend */
	struct bosh_kept *k = slot(w, rid);
	k->rid = 0;
	xbuf_reset(&k->body);
	if (len && xbuf_append(&k->body, body, len) != XS_OK) {
		xbuf_free(&k->body);
		return XS_NOMEM;
	}
	k->rid = rid;
	return XS_OK;
}

const struct xbuf *bosh_window_kept(const struct bosh_window *w, uint64_t rid)
{
	if (bosh_window_check(w, rid) != BOSH_RID_REPEAT)
		return NULL;
	return &slot(w, rid)->body;
}

size_t bosh_window_mem(const struct bosh_window *w)
{
	size_t n = 0;
	for (unsigned i = 0; i < BOSH_WINDOW_MAX; i++)
		n += w->kept[i].body.cap;
	return n;
}

void bosh_window_free(struct bosh_window *w)
{
	for (unsigned i = 0; i < BOSH_WINDOW_MAX; i++) {
		xbuf_free(&w->kept[i].body);
		w->kept[i].rid = 0;
	}
}
