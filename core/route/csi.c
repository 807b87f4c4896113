/* XEP-0352 client state indication, in the router: while a session says
 * it is inactive (a phone in a pocket), presence updates for it are held,
 * only the latest from each JID, and delivered when it says it is active
 * again; messages, iqs and subscription requests go at once.  What is
 * held is a reference to the stanza every other recipient got, so holding
 * costs an entry, not a copy.  At most [im] max_held_presences JIDs are
 * held per session; one more delivers everything held first (a client
 * that stays inactive through that much churn gets it in a burst, not
 * never). */
#include <stdlib.h>
#include <string.h>

#include "core/base/hmap.h"
#include "core/base/log.h"
#include "core/conf/cfg.h"
#include "core/route/router_priv.h"

struct csi_entry {
	struct hmap_entry by_from; /* key: st->from, inside st */
	struct stanza *st;
};

struct csi_held {
	struct hmap map;
};

static bool holdable(const struct stanza *st)
{
	/* availability only: subscription requests, errors and the rest
	 * are things the user acts on */
	return st->from && (!st->type || strcmp(st->type, "unavailable") == 0);
}

static void release_all(struct router *r, struct rsess *s, bool deliver)
{
	struct csi_held *h = s->held;
	if (!h)
		return;
	s->held = NULL;
	for (size_t i = 0; i < h->map.n_buckets; i++) {
		struct hmap_entry *e = h->map.buckets[i];
		while (e) {
			struct hmap_entry *next = e->next;
			struct csi_entry *ce = container_of(e, struct csi_entry, by_from);
			if (deliver)
				rt_deliver(r, s, ce->st, false);
			stanza_unref(ce->st);
			free(ce);
			e = next;
		}
	}
	hmap_deinit(&h->map);
	free(h);
}

bool rt_csi_hold(struct router *r, struct rsess *s, struct stanza *st)
{
	if (!holdable(st))
		return false;
	if (!s->held) {
		s->held = calloc(1, sizeof(*s->held));
		if (!s->held || hmap_init(&s->held->map, 16) != 0) {
			free(s->held);
			s->held = NULL;
			return false;
		}
	}
	struct hmap_entry *e = hmap_get(&s->held->map, st->from);
	if (e) {
		struct csi_entry *ce = container_of(e, struct csi_entry, by_from);
		hmap_del(&s->held->map, e);
		stanza_unref(ce->st);
		ce->st = stanza_ref(st);
		hmap_put(&s->held->map, &ce->by_from, ce->st->from);
		return true;
	}
	if (s->held->map.count >= r->cfg->max_held_presences) {
		LOG_DEBUG("%s: %zu presence updates held ([im] max_held_presences): delivered now",
			  s->full, s->held->map.count);
		s->inactive = false; /* so that these go out */
		release_all(r, s, true);
		s->inactive = true;
		return false;
	}
	struct csi_entry *ce = malloc(sizeof(*ce));
	if (!ce)
		return false;
	ce->st = stanza_ref(st);
	hmap_put(&s->held->map, &ce->by_from, ce->st->from);
	return true;
}

void rt_csi_set(struct router *r, struct rsess *s, bool inactive)
{
	s->inactive = inactive;
	if (!inactive)
		release_all(r, s, true);
}

void rt_csi_drop(struct rsess *s)
{
	release_all(NULL, s, false);
}
