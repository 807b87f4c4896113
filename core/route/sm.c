/* XEP-0198 stream management, the router's part: which session an SM id
 * names, and the one decision a resumption needs from a single owner.
 *
 * The mux threads keep everything else (counters, the unacknowledged
 * stanzas, the detached connections; mux/mux_sm.c).  A resumption can
 * arrive on any mux thread while deliveries to the session keep coming,
 * so the router, which decides where each delivery goes, is where the
 * session is moved: in one step it re-points the session's handle to the
 * new stream (from then on every delivery goes there, and the new stream
 * holds them) and asks the old stream's mux to hand over what the client
 * has not acknowledged (MSG_SM_HANDOVER).  Nothing is delivered to the old
 * handle after that, so nothing is written twice or in the wrong order.
 *
 * The table maps an SM id (128 random bits, hex) to its session, with the
 * router's SipHash map: a lookup costs the same whatever a client sends.
 * A resumption only ever attaches to a session of the account the new
 * stream authenticated as.  See docs/internals/sm.md. */
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/route/router_priv.h"

int rt_sm_init(struct router *r)
{
	return hmap_init(&r->by_smid, 64);
}

void rt_sm_deinit(struct router *r)
{
	hmap_deinit(&r->by_smid);
}

void rt_sm_forget(struct router *r, struct rsess *s)
{
	if (!s->sm_id)
		return;
	hmap_del(&r->by_smid, &s->by_smid);
	free(s->sm_id);
	s->sm_id = NULL;
}

void rt_sm_free_sess(struct rsess *s)
{
	free(s->sm_id);
	s->sm_id = NULL;
}

/* MSG_SM_ENABLE: data = "<id> <full JID>". */
void rt_sm_enable(struct router *r, struct msg *m)
{
	const char *sp = strchr(m->data, ' ');
	if (!sp)
		return;
	struct rsess *s = rt_find_full(r, sp + 1);
	if (!s || !rt_handle_eq(s->h, m->h))
		return; /* ended meanwhile */
	rt_sm_forget(r, s);
	char *id = strndup(m->data, (size_t)(sp - m->data));
	if (!id) {
		/* the session goes on; only its resumption will fail */
		LOG_WARN("router: out of memory keeping the SM id of %s", s->full);
		return;
	}
	if (hmap_get(&r->by_smid, id)) {
		/* 128 random bits do not collide; if they ever did, neither
		 * session could be resumed safely by that id */
		LOG_ERR("router: SM id of %s already in use: not resumable", s->full);
		free(id);
		return;
	}
	s->sm_id = id;
	hmap_put(&r->by_smid, &s->by_smid, s->sm_id);
}

static void resume_failed(struct router *r, struct sess_handle h)
{
	struct msg *f = msg_new(MSG_SM_STATE, NULL);
	if (!f) {
		/* the stream stays in resumption until its pre-auth timer */
		LOG_ERR("router: out of memory refusing a resumption");
		return;
	}
	f->h = h;
	rt_post(r, f);
}

/* MSG_SM_RESUME: h = the new stream, data = "<previd> <bare JID>",
 * count = the client's h. */
void rt_sm_resume(struct router *r, struct msg *m)
{
	if (m->status == 1) {
		/* the hand-over failed after the session was re-pointed to the
		 * stream m->h (the old one ended meanwhile): it ends */
		struct hmap_entry *e = hmap_get(&r->by_smid, m->data);
		struct rsess *s = e ? container_of(e, struct rsess, by_smid) : NULL;
		if (s && rt_handle_eq(s->h, m->h)) {
			LOG_INFO("router: %s could not be resumed: ended", s->full);
			rt_end_session(r, s);
		}
		return;
	}
	char *sp = strchr(m->data, ' ');
	if (!sp) {
		resume_failed(r, m->h);
		return;
	}
	*sp = '\0';
	const char *bare = sp + 1;
	struct hmap_entry *e = hmap_get(&r->by_smid, m->data);
	struct rsess *s = e ? container_of(e, struct rsess, by_smid) : NULL;
	/* another account's id is answered exactly as an unknown one */
	if (!s || s->gone || strcmp(s->user->bare, bare) != 0) {
		LOG_INFO("router: resumption by %s refused: %s", bare,
			 !s ? "unknown or expired id" : s->gone ? "session ending" : "another account's id");
		resume_failed(r, m->h);
		return;
	}
	/* with the id: if the hand-over fails, the new stream names the
	 * session by it to end it */
	struct msg *ho = msg_new(MSG_SM_HANDOVER, m->data);
	if (!ho) {
		LOG_ERR("router: out of memory resuming %s", s->full);
		resume_failed(r, m->h);
		return;
	}
	ho->h = s->h;
	ho->h2 = m->h;
	ho->count = m->count;
	rt_post(r, ho);
	LOG_INFO("router: %s resumes on mux%u", s->full, m->h.thread);
	/* from now on deliveries go to the new stream, which holds them
	 * until the old one's state has arrived */
	s->h = m->h;
}
