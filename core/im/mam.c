/* XEP-0313 Message Archive Management (urn:xmpp:mam:2, with #extended):
 * every one-to-one message with a body that a local account sends or is
 * sent is kept in that account's archive, unless its preferences say
 * otherwise, and the account pages through it with XEP-0059 result sets,
 * filtered by 'with', 'start', 'end', 'before-id' and 'after-id'.
 *
 * A message for a local account is stamped with a XEP-0359 <stanza-id/>
 * (any the sender put there in our name is taken out first: it could
 * point a client at another message) before anyone sees it, so the copy
 * delivered, carbon-copied, stored offline and archived is one and the
 * same.  The writes go to the storage thread as one request per copy; it
 * commits those that queue up together in one transaction, so archiving
 * never waits for the disk on the router (and an account that does not
 * exist gets no rows: the store checks).  The writes waiting for the store
 * are bounded server-wide ([im] max_archive_backlog), not per session, so
 * that a burst of messages to an offline contact is stored offline as
 * before: past the bound (the disk cannot keep up) a message is still
 * delivered, but not archived, with a log line.
 *
 * Preferences (XEP-0441, <prefs/>): the account's default (always, never,
 * roster) and its <always/> and <never/> lists of bare JIDs ([im]
 * max_archive_prefs_jids in all) live in the store, which applies them to
 * each append inside the batch's transaction (store_mam_append): the
 * router neither knows nor waits for them, and an account without any
 * costs nothing.  An append they refuse comes back XS_DENIED (debug log
 * only); the message was delivered all the same, and with its stanza-id,
 * which the archive then does not know (the stamp is given before the
 * store decides).
 *
 * Retention ([im] archive_expires_after) is the storage thread's own work
 * (store_thread_start), not this module's. */
#include "core/im/modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/log.h"
#include "core/conf/cfg.h"
#include "core/im/account.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/datetime.h"
#include "core/xmpp/jid.h"

#define NS_MAM "urn:xmpp:mam:2"
#define NS_MAM_EXT "urn:xmpp:mam:2#extended"
#define NS_SID "urn:xmpp:sid:0"
#define NS_RSM "http://jabber.org/protocol/rsm"

enum mam_kind { MAM_APPEND, MAM_QUERY, MAM_PREFS };

struct mam_job {
	struct store_req req;   /* first: the store hands it back */
	struct stanza *st;      /* an append: the copy archived; a query or prefs: the iq */
	enum mam_kind kind;
	char with[JID_BUF];     /* an append: the other party's bare JID */
	char id[17];            /* an append: its stanza id */
	char from[JID_BUF];     /* a query: the asker's full JID */
	char bare[JID_BUF];     /* a query: the archive's account */
	char queryid[256];
	bool has_queryid;
	char **jids;            /* prefs set: the always JIDs, then the never ones */
	size_t n_jids;
};

static void job_free(struct mam_job *j)
{
	stanza_unref(j->st);
	store_mam_results_free(j->req.mam_results, j->req.n_mam_results);
	store_strings_free(j->jids, j->n_jids);
	store_strings_free(j->req.mam_always, j->req.n_mam_always);
	store_strings_free(j->req.mam_never, j->req.n_mam_never);
	free(j);
}

static bool on(const struct cfg *cfg)
{
	return cfg->archive;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* What is archived (XEP-0313 5.1.1, as Prosody and ejabberd do): chat and
 * normal messages with a body, not those the sender asked not to keep
 * (XEP-0334). */
static bool archivable(const struct stanza *st)
{
	const char *type = st->type ? st->type : "normal";
	if (strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0)
		return false;
	const struct xml_node *m = st->tree;
	return st->from && st->to && xml_node_child(m, "body", NS_CLIENT) &&
	       !xml_node_child(m, "no-store", NS_HINTS) &&
	       !xml_node_child(m, "no-permanent-store", NS_HINTS);
}

/* Appends st to the archive of owner, with the other party `with`. */
static void archive(struct router *r, struct stanza *st, const char *owner, const char *with,
		    const char *id)
{
	if (!im_archive_reserve(r)) {
		LOG_WARN("message %s not archived for %s: %u archive writes waiting ([im] "
			 "max_archive_backlog)",
			 id, owner, im_cfg(r)->max_archive_backlog);
		return;
	}
	struct mam_job *j = calloc(1, sizeof(*j));
	if (!j || strlen(with) >= sizeof(j->with) || !im_split_account(&j->req, owner)) {
		free(j);
		im_archive_release(r);
		LOG_WARN("message for the archive of %s not kept: out of memory", owner);
		return;
	}
	strcpy(j->with, with);
	memcpy(j->id, id, sizeof(j->id));
	j->st = stanza_ref(st);
	struct store_mam_item *it = &j->req.mam_item;
	memcpy(it->domain, j->req.domain, sizeof(it->domain));
	memcpy(it->local, j->req.local, sizeof(it->local));
	it->with = j->with;
	it->stamp_us = now_us();
	it->stanza_id = j->id;
	it->xml = st->bytes;
	it->len = st->len;
	j->req.op = STORE_OP_MAM_APPEND;
	enum xs rc = im_store_submit(r, &im_mam, &j->req, NULL);
	if (rc != XS_OK) {
		LOG_WARN("message for the archive of %s not kept: %s", owner, xs_name(rc));
		im_archive_release(r);
		job_free(j);
	}
}

/* XEP-0359: the stanza-id this server gives, and none that claims to be
 * ours from anyone else. */
static struct stanza *stamp(struct stanza *st, const char *bare, const char *id)
{
	struct xml_node *copy = xml_node_copy(st->tree);
	if (!copy)
		return NULL;
	struct xml_node *c = xml_node_first_elem(copy);
	bool removed = false;
	while (c) {
		struct xml_node *next = xml_node_next_elem(c);
		const char *by = xml_node_attr(c, "by");
		if (!strcmp(c->name, "stanza-id") && !strcmp(c->ns, NS_SID) && by && !strcmp(by, bare)) {
			xml_node_unlink(c);
			xml_node_free(c);
			removed = true;
		}
		c = next;
	}
	struct xml_node *sid = xml_node_new_child(copy, "stanza-id", NS_SID);
	if (!sid || xml_node_set_attr(sid, "id", id) != XS_OK ||
	    xml_node_set_attr(sid, "by", bare) != XS_OK) {
		xml_node_free(copy);
		return NULL;
	}
	/* the usual case, nothing taken out: the content as it was (as
	 * received, often), the new element after it */
	return removed ? stanza_freeze(copy) : stanza_freeze_appended(st, copy, sid);
}

static struct stanza *message_in(struct router *r, struct stanza *st, const char *bare)
{
	if (!archivable(st))
		return NULL;
	char id[17], with[JID_BUF];
	im_new_id(r, id);
	struct stanza *s = stamp(st, bare, id);
	if (!s) {
		LOG_WARN("message for %s not archived: out of memory", bare);
		return NULL;
	}
	jid_bare_of(st->from, with);
	archive(r, s, bare, with, id);
	return s;
}

static void message_sent(struct router *r, struct stanza *st, const char *full, bool others)
{
	(void)others;
	if (!on(im_cfg(r)) || !archivable(st))
		return;
	char owner[JID_BUF], with[JID_BUF], id[17];
	jid_bare_of(full, owner);
	jid_bare_of(st->to, with);
	if (!strcmp(owner, with))
		return; /* to itself: archived once, as received */
	im_new_id(r, id);
	archive(r, st, owner, with, id);
}

/* ---- queries ---- */

static const char *field_value(const struct xml_node *form, const char *var, char *buf,
			       size_t cap)
{
	for (struct xml_node *f = xml_node_first_elem(form); f; f = xml_node_next_elem(f)) {
		const char *v = xml_node_attr(f, "var");
		if (strcmp(f->name, "field") || !v || strcmp(v, var))
			continue;
		struct xml_node *val = xml_node_child(f, "value", NS_DATA);
		char *t = val ? xml_node_text(val) : NULL;
		if (!t)
			return NULL;
		size_t l = strlen(t);
		if (l >= cap) {
			free(t);
			return NULL;
		}
		memcpy(buf, t, l + 1);
		free(t);
		return buf;
	}
	return NULL;
}

static bool child_text(const struct xml_node *parent, const char *name, const char *ns,
		       char *buf, size_t cap, bool *present)
{
	struct xml_node *c = xml_node_child(parent, name, ns);
	*present = c != NULL;
	if (!c) {
		buf[0] = '\0';
		return true;
	}
	char *t = xml_node_text(c);
	if (!t || strlen(t) >= cap) {
		free(t);
		return false;
	}
	memcpy(buf, t, strlen(t) + 1);
	free(t);
	return true;
}

static struct xml_node *form_node(void)
{
	static const char *const vars[] = { "with", "start", "end", "before-id", "after-id" };
	struct xml_node *q = xml_node_new_elem("query", NS_MAM);
	struct xml_node *x = q ? xml_node_new_child(q, "x", NS_DATA) : NULL;
	struct xml_node *ft = x ? xml_node_new_child(x, "field", NS_DATA) : NULL;
	struct xml_node *v = ft ? xml_node_new_child(ft, "value", NS_DATA) : NULL;
	if (!v || xml_node_set_attr(x, "type", "form") != XS_OK ||
	    xml_node_set_attr(ft, "type", "hidden") != XS_OK ||
	    xml_node_set_attr(ft, "var", "FORM_TYPE") != XS_OK ||
	    xml_node_add_text(v, NS_MAM, strlen(NS_MAM)) != XS_OK)
		goto fail;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		struct xml_node *f = xml_node_new_child(x, "field", NS_DATA);
		if (!f || xml_node_set_attr(f, "var", vars[i]) != XS_OK ||
		    xml_node_set_attr(f, "type", i == 0 ? "jid-single" : "text-single") != XS_OK)
			goto fail;
	}
	return q;
fail:
	xml_node_free(q);
	return NULL;
}

/* The query's filter into j->req; false (q answered) on a bad one. */
static bool parse_query(struct im_iq *q, struct mam_job *j)
{
	struct store_req *req = &j->req;
	char buf[JID_BUF];
	const struct xml_node *x = xml_node_child(q->payload, "x", NS_DATA);
	if (x) {
		const char *ft = field_value(x, "FORM_TYPE", buf, sizeof(buf));
		if (ft && strcmp(ft, NS_MAM) != 0)
			goto bad;
		const char *with = field_value(x, "with", buf, sizeof(buf));
		if (with) {
			char norm[JID_BUF];
			size_t bl;
			if (jid_normalize(with, strlen(with), norm, sizeof(norm), &bl) != XS_OK)
				goto bad;
			norm[bl] = '\0'; /* archived by bare JID */
			memcpy(req->mam_with, norm, bl + 1);
		}
		const char *t;
		if ((t = field_value(x, "start", buf, sizeof(buf))) &&
		    !xep82_parse(t, &req->mam_start_us))
			goto bad;
		if ((t = field_value(x, "end", buf, sizeof(buf))) && !xep82_parse(t, &req->mam_end_us))
			goto bad;
		if ((t = field_value(x, "after-id", buf, sizeof(buf)))) {
			if (strlen(t) >= sizeof(req->mam_after_id))
				goto bad;
			strcpy(req->mam_after_id, t);
		}
		if ((t = field_value(x, "before-id", buf, sizeof(buf)))) {
			if (strlen(t) >= sizeof(req->mam_before_id))
				goto bad;
			strcpy(req->mam_before_id, t);
		}
	}
	unsigned page_max = im_cfg(q->r)->max_archive_page;
	req->mam_max = page_max < 50 ? page_max : 50;
	const struct xml_node *set = xml_node_child(q->payload, "set", NS_RSM);
	if (set) {
		bool present;
		char n[32];
		if (!child_text(set, "max", NS_RSM, n, sizeof(n), &present))
			goto bad;
		if (present) {
			char *end;
			unsigned long v = strtoul(n, &end, 10);
			if (end == n || *end)
				goto bad;
			req->mam_max = v == 0 ? 1 : v > page_max ? page_max : (unsigned)v;
		}
		char id[STORE_MAM_ID_MAX + 1];
		if (!child_text(set, "after", NS_RSM, id, sizeof(id), &present))
			goto bad;
		if (present)
			strcpy(req->mam_after_id, id);
		if (!child_text(set, "before", NS_RSM, id, sizeof(id), &present))
			goto bad;
		if (present) {
			if (id[0])
				strcpy(req->mam_before_id, id);
			else
				req->mam_last_page = true;
		}
	}
	return true;
bad:
	im_iq_error(q, SC_BAD_REQUEST);
	return false;
}

static void query(struct im_iq *q)
{
	if (q->get) {
		struct xml_node *f = form_node();
		if (f)
			im_iq_result(q, f);
		else
			im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	struct mam_job *j = calloc(1, sizeof(*j));
	if (!j || strlen(q->st->from) >= sizeof(j->from) || strlen(q->to) >= sizeof(j->bare) ||
	    !im_split_account(&j->req, q->to)) {
		free(j);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	const char *qid = xml_node_attr(q->payload, "queryid");
	if (qid) {
		if (strlen(qid) >= sizeof(j->queryid)) {
			free(j);
			im_iq_error(q, SC_BAD_REQUEST);
			return;
		}
		strcpy(j->queryid, qid);
		j->has_queryid = true;
	}
	if (!parse_query(q, j)) {
		free(j);
		return;
	}
	strcpy(j->from, q->st->from);
	strcpy(j->bare, q->to);
	j->st = stanza_ref(q->st);
	j->kind = MAM_QUERY;
	j->req.op = STORE_OP_MAM_QUERY;
	enum xs rc = im_store_submit(q->r, &im_mam, &j->req, j->from);
	if (rc != XS_OK) {
		job_free(j);
		im_iq_error(q, rc == XS_LIMIT ? SC_RESOURCE_CONSTRAINT : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_park(q);
}

/* One result (XEP-0313 4.2): the archived message, forwarded with its
 * time. */
static struct stanza *result_node(struct router *r, const struct mam_job *j,
				  const struct store_mam_result *res)
{
	struct stanza *orig = stanza_from_xml(res->xml, res->len, im_cfg(r)->max_stanza_size * 2);
	struct xml_node *msg = xml_node_new_elem("message", NS_CLIENT);
	struct xml_node *result = msg ? xml_node_new_child(msg, "result", NS_MAM) : NULL;
	struct xml_node *fwd = result ? xml_node_new_child(result, "forwarded", NS_FORWARD) : NULL;
	struct xml_node *delay = fwd ? xml_node_new_child(fwd, "delay", NS_DELAY) : NULL;
	struct xml_node *inner = orig ? xml_node_copy(orig->tree) : NULL;
	char stamp[32];
	xep82_format(res->stamp_us, stamp);
	if (!delay || !inner || xml_node_set_attr(msg, "to", j->from) != XS_OK ||
	    xml_node_set_attr(msg, "from", j->bare) != XS_OK ||
	    xml_node_set_attr(result, "id", res->stanza_id) != XS_OK ||
	    (j->has_queryid && xml_node_set_attr(result, "queryid", j->queryid) != XS_OK) ||
	    xml_node_set_attr(delay, "stamp", stamp) != XS_OK) {
		stanza_unref(orig);
		xml_node_free(inner);
		xml_node_free(msg);
		return NULL;
	}
	stanza_unref(orig);
	xml_node_add_child(fwd, inner);
	return stanza_freeze(msg);
}

static void query_done(struct router *r, struct mam_job *j)
{
	struct store_req *req = &j->req;
	if (req->status == XS_NOTFOUND) {
		im_reply_error(r, j->st, SC_ITEM_NOT_FOUND); /* an unknown anchor */
		return;
	}
	if (req->status != XS_OK) {
		LOG_WARN("archive query of %s: %s", j->bare, xs_name(req->status));
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	for (size_t i = 0; i < req->n_mam_results; i++) {
		struct stanza *m = result_node(r, j, &req->mam_results[i]);
		if (!m) {
			LOG_ERR("archived message %s of %s not sent: unreadable or out of memory",
				req->mam_results[i].stanza_id, j->bare);
			continue;
		}
		im_send_to(r, j->from, m);
		stanza_unref(m);
	}
	struct xml_node *fin = xml_node_new_elem("fin", NS_MAM);
	struct xml_node *set = fin ? xml_node_new_child(fin, "set", NS_RSM) : NULL;
	bool ok = set && (!req->mam_complete || xml_node_set_attr(fin, "complete", "true") == XS_OK);
	if (ok && req->n_mam_results) {
		const char *first = req->mam_results[0].stanza_id;
		const char *last = req->mam_results[req->n_mam_results - 1].stanza_id;
		struct xml_node *f = xml_node_new_child(set, "first", NS_RSM);
		struct xml_node *l = xml_node_new_child(set, "last", NS_RSM);
		ok = f && l && xml_node_add_text(f, first, strlen(first)) == XS_OK &&
		     xml_node_add_text(l, last, strlen(last)) == XS_OK;
	}
	if (!ok) {
		xml_node_free(fin);
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_reply_result(r, j->st, NULL, fin);
}

/* ---- preferences (XEP-0441) ---- */

static const char *const default_names[] = {
	[STORE_MAM_ALWAYS] = "always",
	[STORE_MAM_NEVER] = "never",
	[STORE_MAM_ROSTER] = "roster",
};

static struct xml_node *jid_list(struct xml_node *prefs, const char *name, char *const *jids,
				 size_t n)
{
	struct xml_node *list = xml_node_new_child(prefs, name, NS_MAM);
	for (size_t i = 0; list && i < n; i++) {
		struct xml_node *jn = xml_node_new_child(list, "jid", NS_MAM);
		if (!jn || xml_node_add_text(jn, jids[i], strlen(jids[i])) != XS_OK)
			return NULL;
	}
	return list;
}

/* The <prefs/> answer from what the store holds. */
static struct xml_node *prefs_node(const struct store_req *req)
{
	unsigned d = req->mam_default <= STORE_MAM_ROSTER ? req->mam_default : STORE_MAM_ALWAYS;
	struct xml_node *p = xml_node_new_elem("prefs", NS_MAM);
	if (!p || xml_node_set_attr(p, "default", default_names[d]) != XS_OK ||
	    !jid_list(p, "always", req->mam_always, req->n_mam_always) ||
	    !jid_list(p, "never", req->mam_never, req->n_mam_never)) {
		xml_node_free(p);
		return NULL;
	}
	return p;
}

/* The <jid/>s of every <name/> child of the set's <prefs/>, normalised to
 * bare JIDs, appended to j->jids; false (q answered) on a bad one or past
 * the limit. */
static bool collect_jids(struct im_iq *q, struct mam_job *j, const char *name)
{
	unsigned max = im_cfg(q->r)->max_archive_prefs_jids;
	for (struct xml_node *l = xml_node_first_elem(q->payload); l; l = xml_node_next_elem(l)) {
		if (strcmp(l->name, name) != 0 || strcmp(l->ns, NS_MAM) != 0)
			continue;
		for (struct xml_node *e = xml_node_first_elem(l); e; e = xml_node_next_elem(e)) {
			if (strcmp(e->name, "jid") != 0 || strcmp(e->ns, NS_MAM) != 0)
				continue;
			if (j->n_jids >= max) {
				LOG_INFO("archive preferences of %s refused: more than %u JIDs ([im] "
					 "max_archive_prefs_jids)",
					 j->bare, max);
				im_iq_error(q, SC_POLICY_VIOLATION);
				return false;
			}
			char *t = xml_node_text(e);
			char norm[JID_BUF];
			size_t bl;
			if (!t) {
				im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
				return false;
			}
			enum xs rc = jid_normalize(t, strlen(t), norm, sizeof(norm), &bl);
			free(t);
			if (rc != XS_OK) {
				im_iq_error(q, SC_JID_MALFORMED);
				return false;
			}
			norm[bl] = '\0'; /* the archive knows the other party by bare JID */
			if (j->n_jids % 16 == 0) {
				char **n = realloc(j->jids, (j->n_jids + 16) * sizeof(*n));
				if (!n) {
					im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
					return false;
				}
				j->jids = n;
			}
			if (!(j->jids[j->n_jids] = strdup(norm))) {
				im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
				return false;
			}
			j->n_jids++;
		}
	}
	return true;
}

/* Get: what the store holds (the defaults when nothing).  Set: the
 * default and both lists replace what was there, and the answer is what
 * the store then holds.  Applied by the store to every message archived
 * from then on (store_mam_append). */
static void prefs(struct im_iq *q)
{
	struct mam_job *j = calloc(1, sizeof(*j));
	if (!j || strlen(q->st->from) >= sizeof(j->from) || strlen(q->to) >= sizeof(j->bare) ||
	    !im_split_account(&j->req, q->to)) {
		free(j);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	strcpy(j->from, q->st->from);
	strcpy(j->bare, q->to);
	j->kind = MAM_PREFS;
	j->req.op = STORE_OP_MAM_PREFS_GET;
	if (!q->get) {
		const char *d = xml_node_attr(q->payload, "default");
		unsigned char dflt = 0;
		while (d && dflt <= STORE_MAM_ROSTER && strcmp(d, default_names[dflt]) != 0)
			dflt++;
		if (!d || dflt > STORE_MAM_ROSTER) {
			job_free(j);
			im_iq_error(q, SC_BAD_REQUEST);
			return;
		}
		if (!collect_jids(q, j, "always")) {
			job_free(j);
			return;
		}
		size_t n_always = j->n_jids;
		if (!collect_jids(q, j, "never")) {
			job_free(j);
			return;
		}
		j->req.op = STORE_OP_MAM_PREFS_SET;
		j->req.mam_default = dflt;
		j->req.mam_prefs_jids = (const char *const *)j->jids;
		j->req.n_mam_prefs_always = n_always;
		j->req.n_mam_prefs_never = j->n_jids - n_always;
	}
	j->st = stanza_ref(q->st);
	enum xs rc = im_store_submit(q->r, &im_mam, &j->req, j->from);
	if (rc != XS_OK) {
		job_free(j);
		im_iq_error(q, rc == XS_LIMIT ? SC_RESOURCE_CONSTRAINT : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_park(q);
}

static void prefs_done(struct router *r, struct mam_job *j)
{
	struct store_req *req = &j->req;
	if (req->status == XS_INVAL) {
		im_reply_error(r, j->st, SC_BAD_REQUEST); /* a JID on both lists */
		return;
	}
	if (req->status != XS_OK) {
		LOG_WARN("archive preferences of %s: %s", j->bare, xs_name(req->status));
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	struct xml_node *p = prefs_node(req);
	if (p)
		im_reply_result(r, j->st, NULL, p);
	else
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct mam_job *j = (struct mam_job *)req;
	if (j->kind == MAM_APPEND)
		im_archive_release(r);
	if (!cancelled) {
		if (j->kind == MAM_QUERY)
			query_done(r, j);
		else if (j->kind == MAM_PREFS)
			prefs_done(r, j);
		else if (req->status == XS_DENIED)
			LOG_DEBUG("message %s not archived for %s@%s: archive preferences", j->id,
				  req->local, req->domain);
		else if (req->status != XS_OK && req->status != XS_NOTFOUND)
			LOG_WARN("message %s not archived for %s@%s: %s", j->id, req->local,
				 req->domain, xs_name(req->status));
	}
	job_free(j);
}

static const struct im_iq_handler iqs[] = {
	{ NS_MAM, "query", IM_TO_ACCOUNT, true, query },
	{ NS_MAM, "prefs", IM_TO_ACCOUNT, true, prefs },
	IM_IQ_END,
};
static const char *const features[] = { NS_MAM, NS_MAM_EXT, NS_SID, NULL };

const struct im_module im_mam = {
	.name = "mam",
	.iqs = iqs,
	.account_features = features,
	.store_done = store_done,
	.message_in = message_in,
	.message_sent = message_sent,
	.enabled = on,
};
