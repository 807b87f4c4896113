/* XEP-0163 personal eventing via pubsub: every account is a pubsub
 * service at its bare JID, with persistent nodes in the store (avatars,
 * OMEMO keys, bookmarks, vCard4, ...).
 *
 * - publish (auto-create, XEP-0060 7.1.5 publish-options as
 *   preconditions), retract, items (the owner, and others as the node's
 *   access model allows: presence, open or whitelist), create, and the
 *   owner's delete, purge and configure;
 * - events go to the owner's sessions and its contacts' (presence
 *   subscription from), each only to sessions that listed NODE+notify in
 *   their XEP-0115 feature set (core/route/caps.c);
 * - when a session's wishes become known (its initial presence, or a new
 *   caps hash), it gets the newest item of each node it wants of its own
 *   account and of the contacts it is subscribed to (XEP-0163 4.3.2).
 *
 * Nothing here waits on disk: each request is parked while the storage
 * thread runs it.  [im] max_pep_nodes bounds an account's nodes, [im]
 * max_pep_items a node's items; payloads are bounded by the stanza size.
 * Explicit subscriptions (XEP-0060 6.1) are not offered: with PEP,
 * presence and +notify are the subscription. */
#include "core/im/modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/xbuf.h"
#include "core/conf/cfg.h"
#include "core/im/account.h"
#include "core/im/bookmarks.h"
#include "core/im/bookmarks_conv.h"
#include "core/im/docstore.h"
#include "core/im/pep.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_write.h"
#include "core/xmpp/jid.h"

/* Node names and item ids a client may choose (a bookmark's id is a
 * room's JID). */
#define PEP_NODE_MAX 1023
#define PEP_ID_MAX 3071

enum pep_kind {
	PK_PUBLISH, PK_ITEMS, PK_RETRACT, PK_DELETE, PK_PURGE, PK_CONFIG_GET, PK_CONFIG_SET,
	PK_CREATE, PK_LAST, PK_GET_ALL, PK_REPLACE, PK_NODES,
};

struct pep_job {
	struct store_req req;    /* first: the store hands it back */
	enum pep_kind kind;
	struct stanza *st;       /* the request (NULL for PK_LAST) */
	char owner[JID_BUF];
	char requester[JID_BUF];
	char full[JID_BUF];      /* PK_LAST: the session the items are for */
	char *node;
	char *item_id;
	struct xbuf payload;     /* PK_PUBLISH: the payload serialized */
	struct xml_node *item;   /* PK_PUBLISH: <item id> for the event */
	bool notify;             /* PK_RETRACT: the publisher asked for events */
	bool own;
	bool configure_form;     /* PK_CONFIG_SET / PK_CREATE: form fields to apply */
	struct store_pep_config form_cfg;
	unsigned form_set;       /* STORE_PEP_F_* the form gave */
	char **strs;             /* PK_LAST: owners then nodes; PK_ITEMS: ids */
	size_t n_strs;
	struct store_pep_item *in; /* PK_REPLACE */
	struct xbuf *in_xml;
	struct xml_node **in_items; /* PK_REPLACE: copies, for the events */
	size_t n_in;
	pep_items_got got;       /* PK_GET_ALL */
	struct xml_node *result; /* PK_REPLACE: the iq result's payload (NULL: empty) */
	struct xml_node *legacy; /* PK_REPLACE of bookmarks: <storage/> for XEP-0411's node */
};

static const struct im_module *self(void);

void pep_default_config(struct store_pep_config *cfg)
{
	*cfg = (struct store_pep_config){
		.access = STORE_PEP_PRESENCE, .persist_items = true, .max_items = 1,
		.send_last = true, .notify_retract = true,
	};
}

static void job_free(struct pep_job *j)
{
	stanza_unref(j->st);
	free(j->node);
	free(j->item_id);
	xbuf_free(&j->payload);
	xml_node_free(j->item);
	for (size_t i = 0; i < j->n_strs; i++)
		free(j->strs[i]);
	free(j->strs);
	for (size_t i = 0; i < j->n_in; i++) {
		xbuf_free(&j->in_xml[i]);
		xml_node_free(j->in_items[i]);
	}
	free(j->in);
	free(j->in_xml);
	free(j->in_items);
	store_pep_results_free(j->req.pep_out, j->req.n_pep_out);
	xml_node_free(j->result);
	xml_node_free(j->legacy);
	free(j);
}

static struct pep_job *job_new(struct im_iq *q, enum pep_kind kind, const char *node)
{
	struct pep_job *j = calloc(1, sizeof(*j));
	size_t tl = strlen(q->to);
	if (!j)
		return NULL;
	j->kind = kind;
	j->st = stanza_ref(q->st);
	j->own = q->own;
	if (tl >= sizeof(j->owner) || !im_split_account(&j->req, q->to) ||
	    !jid_bare_of(q->st->from ? q->st->from : "", j->requester) ||
	    !(j->node = strdup(node))) {
		job_free(j);
		return NULL;
	}
	memcpy(j->owner, q->to, tl + 1);
	j->req.pep_node = j->node;
	j->req.pep_requester = j->requester;
	return j;
}

static void submit(struct im_iq *q, struct pep_job *j)
{
	enum xs rc = im_store_submit(q->r, self(), &j->req, j->st->from);
	if (rc != XS_OK) {
		job_free(j);
		im_iq_error(q, rc == XS_LIMIT ? SC_RESOURCE_CONSTRAINT : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_park(q);
}

/* The same, later: from a store_done, for a job whose request is st. */
static void resubmit(struct router *r, struct pep_job *j)
{
	memset(&j->req.qnode, 0, sizeof(j->req.qnode));
	store_pep_results_free(j->req.pep_out, j->req.n_pep_out);
	j->req.pep_out = NULL;
	j->req.n_pep_out = 0;
	enum xs rc = im_store_submit(r, self(), &j->req, j->st->from);
	if (rc != XS_OK) {
		im_reply_error(r, j->st, rc == XS_LIMIT ? SC_RESOURCE_CONSTRAINT
							 : SC_INTERNAL_SERVER_ERROR);
		job_free(j);
	}
}

/* ---- data forms: publish-options and node configuration ---- */

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "0") || !strcmp(v, "false"))
		*out = false;
	else
		return false;
	return true;
}

/* One field's value into cfg; false when the value is one this service
 * does not offer.  Fields it does not know are left alone. */
static bool apply_field(const char *var, const char *v, struct store_pep_config *cfg,
			unsigned *set, unsigned max_items_cap)
{
	if (!strcmp(var, "pubsub#access_model")) {
		if (!strcmp(v, "presence"))
			cfg->access = STORE_PEP_PRESENCE;
		else if (!strcmp(v, "open"))
			cfg->access = STORE_PEP_OPEN;
		else if (!strcmp(v, "whitelist"))
			cfg->access = STORE_PEP_WHITELIST;
		else
			return false; /* roster, authorize: not offered */
		*set |= STORE_PEP_F_ACCESS;
	} else if (!strcmp(var, "pubsub#persist_items")) {
		if (!parse_bool(v, &cfg->persist_items))
			return false;
		*set |= STORE_PEP_F_PERSIST;
	} else if (!strcmp(var, "pubsub#max_items")) {
		if (!strcmp(v, "max")) {
			cfg->max_items = max_items_cap;
		} else {
			char *end;
			unsigned long n = strtoul(v, &end, 10);
			if (!v[0] || *end || v[0] == '-' || n == 0)
				return false;
			cfg->max_items = n > max_items_cap ? max_items_cap : (unsigned)n;
		}
		*set |= STORE_PEP_F_MAX_ITEMS;
	} else if (!strcmp(var, "pubsub#send_last_published_item")) {
		if (!strcmp(v, "never"))
			cfg->send_last = false;
		else if (!strcmp(v, "on_sub") || !strcmp(v, "on_sub_and_presence"))
			cfg->send_last = true;
		else
			return false;
		*set |= STORE_PEP_F_SEND_LAST;
	} else if (!strcmp(var, "pubsub#notify_retract")) {
		if (!parse_bool(v, &cfg->notify_retract))
			return false;
		*set |= STORE_PEP_F_NOTIFY_RETRACT;
	}
	return true;
}

enum form_result { FORM_OK, FORM_BAD, FORM_UNSUPPORTED, FORM_NOMEM };

/* A submitted form (<x xmlns='jabber:x:data' type='submit'>) of
 * form_type into cfg and set. */
static enum form_result parse_form(const struct xml_node *x, const char *form_type,
				   struct store_pep_config *cfg, unsigned *set, unsigned cap)
{
	const char *type = xml_node_attr(x, "type");
	if (!type || strcmp(type, "submit") != 0)
		return FORM_BAD;
	for (const struct xml_node *f = xml_node_first_elem(x); f; f = xml_node_next_elem(f)) {
		if (strcmp(f->name, "field") != 0 || strcmp(f->ns, NS_DATA) != 0)
			continue;
		const char *var = xml_node_attr(f, "var");
		const struct xml_node *val = xml_node_child(f, "value", NS_DATA);
		if (!var || !val)
			continue;
		char *v = xml_node_text(val);
		if (!v)
			return FORM_NOMEM;
		bool ok = true;
		if (!strcmp(var, "FORM_TYPE"))
			ok = !strcmp(v, form_type);
		else
			ok = apply_field(var, v, cfg, set, cap);
		free(v);
		if (!ok)
			return !strcmp(var, "FORM_TYPE") ? FORM_BAD : FORM_UNSUPPORTED;
	}
	return FORM_OK;
}

static bool add_field(struct xml_node *x, const char *var, const char *type, const char *value)
{
	struct xml_node *f = xml_node_new_child(x, "field", NS_DATA);
	struct xml_node *v = f ? xml_node_new_child(f, "value", NS_DATA) : NULL;
	return v && xml_node_set_attr(f, "var", var) == XS_OK &&
	       (!type || xml_node_set_attr(f, "type", type) == XS_OK) &&
	       xml_node_add_text(v, value, strlen(value)) == XS_OK;
}

static const char *access_name(unsigned char a)
{
	return a == STORE_PEP_OPEN ? "open" : a == STORE_PEP_WHITELIST ? "whitelist" : "presence";
}

/* The node's configuration as a form (XEP-0060 8.2.1.2). */
static struct xml_node *config_form(const struct store_pep_config *cfg, unsigned cap)
{
	struct xml_node *x = xml_node_new_elem("x", NS_DATA);
	char max[16];
	if (cfg->max_items >= cap)
		snprintf(max, sizeof(max), "max");
	else
		snprintf(max, sizeof(max), "%u", cfg->max_items);
	if (!x || xml_node_set_attr(x, "type", "form") != XS_OK ||
	    !add_field(x, "FORM_TYPE", "hidden", NS_PUBSUB_NODE_CONFIG) ||
	    !add_field(x, "pubsub#access_model", "list-single", access_name(cfg->access)) ||
	    !add_field(x, "pubsub#persist_items", "boolean", cfg->persist_items ? "1" : "0") ||
	    !add_field(x, "pubsub#max_items", "text-single", max) ||
	    !add_field(x, "pubsub#send_last_published_item", "list-single",
		       cfg->send_last ? "on_sub_and_presence" : "never") ||
	    !add_field(x, "pubsub#notify_retract", "boolean", cfg->notify_retract ? "1" : "0")) {
		xml_node_free(x);
		return NULL;
	}
	for (struct xml_node *f = xml_node_first_elem(x); f; f = xml_node_next_elem(f)) {
		const char *var = xml_node_attr(f, "var");
		const char *const *opts = NULL;
		static const char *const access[] = { "presence", "open", "whitelist", NULL };
		static const char *const send_last[] = { "never", "on_sub", "on_sub_and_presence", NULL };
		if (!strcmp(var, "pubsub#access_model"))
			opts = access;
		else if (!strcmp(var, "pubsub#send_last_published_item"))
			opts = send_last;
		for (; opts && *opts; opts++) {
			struct xml_node *o = xml_node_new_child(f, "option", NS_DATA);
			struct xml_node *v = o ? xml_node_new_child(o, "value", NS_DATA) : NULL;
			if (!v || xml_node_add_text(v, *opts, strlen(*opts)) != XS_OK) {
				xml_node_free(x);
				return NULL;
			}
		}
	}
	return x;
}

/* ---- events ---- */

/* <event xmlns=pubsub#event><items node=node/></event>, and its <items/>. */
static struct xml_node *event_items(const char *node, struct xml_node **items)
{
	struct xml_node *ev = xml_node_new_elem("event", NS_PUBSUB_EVENT);
	struct xml_node *it = ev ? xml_node_new_child(ev, "items", NS_PUBSUB_EVENT) : NULL;
	if (!it || xml_node_set_attr(it, "node", node) != XS_OK) {
		xml_node_free(ev);
		return NULL;
	}
	*items = it;
	return ev;
}

/* <item id> holding a copy of payload. */
static struct xml_node *item_of(const char *ns, const char *id, const struct xml_node *payload)
{
	struct xml_node *it = xml_node_new_elem("item", ns);
	struct xml_node *p = payload ? xml_node_copy(payload) : NULL;
	if (!it || (payload && !p) || xml_node_set_attr(it, "id", id) != XS_OK) {
		xml_node_free(it);
		xml_node_free(p);
		return NULL;
	}
	if (p)
		xml_node_add_child(it, p);
	return it;
}

/* ---- pubsub requests ---- */

static void error_app(struct im_iq *q, enum stanza_cond cond, const char *app)
{
	im_iq_error_app(q, cond, app, NS_PUBSUB_ERRORS);
}

static bool node_ok(struct im_iq *q, const char *node)
{
	if (!node || !node[0]) {
		error_app(q, SC_BAD_REQUEST, "nodeid-required");
		return false;
	}
	if (strlen(node) > PEP_NODE_MAX) {
		im_iq_error(q, SC_NOT_ACCEPTABLE);
		return false;
	}
	return true;
}

static void publish(struct im_iq *q, const struct xml_node *pub, const struct xml_node *options)
{
	const char *node = xml_node_attr(pub, "node");
	if (!node_ok(q, node))
		return;
	const struct xml_node *item = xml_node_child(pub, "item", NS_PUBSUB);
	const struct xml_node *payload = item ? xml_node_first_elem(item) : NULL;
	if (!payload) {
		error_app(q, SC_BAD_REQUEST, "item-required");
		return;
	}
	if (xml_node_next_elem(payload) || xml_node_next_elem(item)) {
		error_app(q, SC_BAD_REQUEST, "invalid-payload");
		return;
	}
	/* XEP-0411: the legacy node of XEP-0048 bookmarks is a view of
	 * XEP-0402's (bookmarks.c) */
	if (!strcmp(node, NS_BOOKMARKS_LEGACY)) {
		bookmarks_legacy_publish(q, payload);
		return;
	}
	char gen[JID_BUF > 17 ? JID_BUF : 17];
	const char *id = xml_node_attr(item, "id");
	if (!strcmp(node, NS_BOOKMARKS)) {
		/* XEP-0402 3: one room per item, under its bare JID */
		if (!bookmarks_item_valid(item) || !bookmarks_normalize_id(id, gen)) {
			error_app(q, SC_BAD_REQUEST, "invalid-payload");
			return;
		}
		id = gen;
	} else if (!id || !id[0]) {
		im_new_id(q->r, gen);
		id = gen;
	}
	if (strlen(id) > PEP_ID_MAX) {
		im_iq_error(q, SC_NOT_ACCEPTABLE);
		return;
	}
	struct store_pep_config cfg;
	pep_default_config(&cfg);
	unsigned precond = 0;
	const struct xml_node *x = options ? xml_node_child(options, "x", NS_DATA) : NULL;
	if (x) {
		enum form_result fr = parse_form(x, NS_PUBSUB_PUBLISH_OPTIONS, &cfg, &precond,
						 im_cfg(q->r)->max_pep_items);
		if (fr == FORM_NOMEM) {
			im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
			return;
		}
		if (fr != FORM_OK) {
			/* XEP-0060 7.1.5: options this service cannot meet */
			error_app(q, fr == FORM_BAD ? SC_BAD_REQUEST : SC_CONFLICT,
				  fr == FORM_BAD ? "invalid-options" : "precondition-not-met");
			return;
		}
	}
	struct pep_job *j = job_new(q, PK_PUBLISH, node);
	if (!j || !(j->item_id = strdup(id)) || !(j->item = item_of(NS_PUBSUB_EVENT, id, payload)) ||
	    xml_write(payload, NS_CLIENT, &j->payload) != XS_OK) {
		if (j)
			job_free(j);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->req.op = STORE_OP_PEP_PUBLISH;
	j->req.pep_item_id = j->item_id;
	j->req.xml = j->payload.data;
	j->req.xml_len = j->payload.len;
	j->req.pep_cfg = cfg;
	j->req.pep_precond = precond;
	j->req.pep_max_nodes = im_cfg(q->r)->max_pep_nodes;
	j->req.pep_max_bytes = im_cfg(q->r)->max_pep_bytes;
	submit(q, j);
}

static void retract(struct im_iq *q, const struct xml_node *rt)
{
	const char *node = xml_node_attr(rt, "node");
	if (!node_ok(q, node))
		return;
	const struct xml_node *item = xml_node_child(rt, "item", NS_PUBSUB);
	const char *id = item ? xml_node_attr(item, "id") : NULL;
	if (!id || !id[0]) {
		error_app(q, SC_BAD_REQUEST, "item-required");
		return;
	}
	const char *notify = xml_node_attr(rt, "notify");
	struct pep_job *j = job_new(q, PK_RETRACT, node);
	if (!j || !(j->item_id = strdup(id))) {
		if (j)
			job_free(j);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	/* absent: the node's pubsub#notify_retract decides */
	j->notify = !notify || !strcmp(notify, "1") || !strcmp(notify, "true");
	j->req.op = STORE_OP_PEP_RETRACT;
	j->req.pep_item_id = j->item_id;
	submit(q, j);
}

/* The id of an <item id='...'/> of the pubsub namespace asked for by a
 * retrieval, or NULL for any other element (or an item without an id). */
static const char *item_id_of(const struct xml_node *it)
{
	if (strcmp(it->name, "item") != 0 || strcmp(it->ns, NS_PUBSUB) != 0)
		return NULL;
	const char *id = xml_node_attr(it, "id");
	return id && id[0] ? id : NULL;
}

static void items(struct im_iq *q, const struct xml_node *its)
{
	const char *node = xml_node_attr(its, "node");
	if (!node_ok(q, node))
		return;
	if (!strcmp(node, NS_BOOKMARKS_LEGACY)) {
		/* XEP-0411's node, made from XEP-0402's; whitelist: the owner only */
		if (!q->own)
			error_app(q, SC_NOT_ALLOWED, "closed-node");
		else
			bookmarks_legacy_items(q);
		return;
	}
	unsigned cap = im_cfg(q->r)->max_pep_items;
	unsigned max = 0;
	const char *mx = xml_node_attr(its, "max_items");
	if (mx) {
		char *end;
		unsigned long n = strtoul(mx, &end, 10);
		if (!mx[0] || *end || mx[0] == '-') {
			im_iq_error(q, SC_BAD_REQUEST);
			return;
		}
		max = n > cap ? cap : (unsigned)n;
	}
	/* the ids asked for: <item id/> children in the pubsub namespace;
	 * anything else among them is ignored, in the count as in the list */
	size_t n_ids = 0;
	for (const struct xml_node *it = xml_node_child(its, "item", NS_PUBSUB); it;
	     it = xml_node_next_elem(it))
		n_ids += item_id_of(it) != NULL;
	if (n_ids > cap) {
		im_iq_error(q, SC_NOT_ACCEPTABLE);
		return;
	}
	struct pep_job *j = job_new(q, PK_ITEMS, node);
	if (j && n_ids && !(j->strs = calloc(n_ids, sizeof(char *)))) {
		job_free(j);
		j = NULL;
	}
	for (const struct xml_node *it = xml_node_child(its, "item", NS_PUBSUB); j && it;
	     it = xml_node_next_elem(it)) {
		const char *id = item_id_of(it);
		if (!id)
			continue;
		if (!(j->strs[j->n_strs] = strdup(id))) {
			job_free(j);
			j = NULL;
			break;
		}
		j->n_strs++;
	}
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->req.op = STORE_OP_PEP_ITEMS;
	j->req.pep_ids = (const char *const *)j->strs;
	j->req.n_pep_ids = j->n_strs;
	j->req.pep_max = max ? max : (n_ids ? 0 : cap);
	submit(q, j);
}

/* <create node/> with an optional <configure><x/></configure>: the node
 * must not exist yet (conflict). */
static void create(struct im_iq *q, const struct xml_node *cr, const struct xml_node *conf)
{
	const char *node = xml_node_attr(cr, "node");
	if (!node_ok(q, node))
		return;
	struct pep_job *j = job_new(q, PK_CREATE, node);
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	pep_default_config(&j->form_cfg);
	const struct xml_node *x = conf ? xml_node_child(conf, "x", NS_DATA) : NULL;
	if (x) {
		enum form_result fr = parse_form(x, NS_PUBSUB_NODE_CONFIG, &j->form_cfg,
						 &j->form_set, im_cfg(q->r)->max_pep_items);
		if (fr != FORM_OK) {
			job_free(j);
			im_iq_error(q, fr == FORM_NOMEM ? SC_INTERNAL_SERVER_ERROR
							: SC_NOT_ACCEPTABLE);
			return;
		}
	}
	j->req.op = STORE_OP_PEP_CONFIG_GET;
	submit(q, j);
}

static void pubsub(struct im_iq *q)
{
	const struct xml_node *action = NULL, *options = NULL, *conf = NULL;
	for (const struct xml_node *c = xml_node_first_elem(q->payload); c; c = xml_node_next_elem(c)) {
		if (strcmp(c->ns, NS_PUBSUB) != 0)
			continue;
		if (!strcmp(c->name, "publish-options"))
			options = c;
		else if (!strcmp(c->name, "configure"))
			conf = c;
		else if (!action)
			action = c;
		else {
			im_iq_error(q, SC_BAD_REQUEST);
			return;
		}
	}
	if (!action) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	bool set = !q->get;
	const char *a = action->name;
	if (!strcmp(a, "items") && q->get) {
		items(q, action);
		return;
	}
	if (!strcmp(a, "publish") || !strcmp(a, "retract") || !strcmp(a, "create")) {
		if (!set) {
			im_iq_error(q, SC_BAD_REQUEST);
			return;
		}
		/* XEP-0163: only the account itself publishes to its PEP */
		if (!q->own) {
			im_iq_error(q, SC_FORBIDDEN);
			return;
		}
		if (!strcmp(a, "publish"))
			publish(q, action, options);
		else if (!strcmp(a, "retract"))
			retract(q, action);
		else
			create(q, action, conf);
		return;
	}
	/* subscribe, unsubscribe, options, subscriptions, affiliations:
	 * with PEP, presence and +notify are the subscription */
	im_iq_error(q, SC_FEATURE_NOT_IMPLEMENTED);
}

static void owner(struct im_iq *q)
{
	const struct xml_node *action = xml_node_first_elem(q->payload);
	const char *a = action ? action->name : "";
	const char *node = action ? xml_node_attr(action, "node") : NULL;
	if (action && !strcmp(a, "default") && q->get) {
		struct store_pep_config cfg;
		pep_default_config(&cfg);
		struct xml_node *ps = xml_node_new_elem("pubsub", NS_PUBSUB_OWNER);
		struct xml_node *d = ps ? xml_node_new_child(ps, "default", NS_PUBSUB_OWNER) : NULL;
		struct xml_node *x = d ? config_form(&cfg, im_cfg(q->r)->max_pep_items) : NULL;
		if (!x) {
			xml_node_free(ps);
			im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
			return;
		}
		xml_node_add_child(d, x);
		im_iq_result(q, ps);
		return;
	}
	enum pep_kind kind;
	enum store_op op;
	if (!strcmp(a, "delete") && !q->get) {
		kind = PK_DELETE;
		op = STORE_OP_PEP_DELETE;
	} else if (!strcmp(a, "purge") && !q->get) {
		kind = PK_PURGE;
		op = STORE_OP_PEP_PURGE;
	} else if (!strcmp(a, "configure")) {
		kind = q->get ? PK_CONFIG_GET : PK_CONFIG_SET;
		op = STORE_OP_PEP_CONFIG_GET; /* a set reads first, to keep what it does not name */
	} else {
		im_iq_error(q, SC_FEATURE_NOT_IMPLEMENTED);
		return;
	}
	if (!node_ok(q, node))
		return;
	struct pep_job *j = job_new(q, kind, node);
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	if (kind == PK_CONFIG_SET) {
		const struct xml_node *x = xml_node_child(action, "x", NS_DATA);
		const char *type = x ? xml_node_attr(x, "type") : NULL;
		if (type && !strcmp(type, "cancel")) {
			job_free(j);
			im_iq_result(q, NULL);
			return;
		}
		struct store_pep_config scratch;
		pep_default_config(&scratch);
		enum form_result fr = x ? parse_form(x, NS_PUBSUB_NODE_CONFIG, &scratch, &j->form_set,
						     im_cfg(q->r)->max_pep_items)
					: FORM_BAD;
		if (fr != FORM_OK) {
			job_free(j);
			im_iq_error(q, fr == FORM_NOMEM ? SC_INTERNAL_SERVER_ERROR
				       : fr == FORM_BAD ? SC_BAD_REQUEST : SC_NOT_ACCEPTABLE);
			return;
		}
		j->form_cfg = scratch;
		j->configure_form = true;
	}
	j->req.op = op;
	submit(q, j);
}

/* ---- results ---- */

/* The fields the form named, over the node's configuration. */
static void merge_form(struct store_pep_config *cfg, const struct pep_job *j)
{
	if (j->form_set & STORE_PEP_F_ACCESS)
		cfg->access = j->form_cfg.access;
	if (j->form_set & STORE_PEP_F_PERSIST)
		cfg->persist_items = j->form_cfg.persist_items;
	if (j->form_set & STORE_PEP_F_MAX_ITEMS)
		cfg->max_items = j->form_cfg.max_items;
	if (j->form_set & STORE_PEP_F_SEND_LAST)
		cfg->send_last = j->form_cfg.send_last;
	if (j->form_set & STORE_PEP_F_NOTIFY_RETRACT)
		cfg->notify_retract = j->form_cfg.notify_retract;
}

static void publish_done(struct router *r, struct pep_job *j)
{
	enum xs rc = j->req.status;
	if (rc == XS_DENIED) {
		im_reply_error_app(r, j->st, SC_CONFLICT, "precondition-not-met", NS_PUBSUB_ERRORS);
		return;
	}
	if (rc == XS_LIMIT && j->req.pep_over_quota) {
		LOG_INFO("%s: PEP publish to %s refused: over [im] max_pep_bytes %zu", j->owner,
			 j->node, im_cfg(r)->max_pep_bytes);
		im_reply_error(r, j->st, SC_RESOURCE_CONSTRAINT);
		return;
	}
	if (rc == XS_LIMIT) {
		LOG_INFO("%s: PEP node %s refused: [im] max_pep_nodes %u reached", j->owner, j->node,
			 im_cfg(r)->max_pep_nodes);
		im_reply_error(r, j->st, SC_NOT_ALLOWED);
		return;
	}
	if (rc != XS_OK) {
		LOG_WARN("%s: PEP publish to %s failed: %s", j->owner, j->node, xs_name(rc));
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	struct xml_node *ps = xml_node_new_elem("pubsub", NS_PUBSUB);
	struct xml_node *pb = ps ? xml_node_new_child(ps, "publish", NS_PUBSUB) : NULL;
	struct xml_node *it = pb ? xml_node_new_child(pb, "item", NS_PUBSUB) : NULL;
	if (!it || xml_node_set_attr(pb, "node", j->node) != XS_OK ||
	    xml_node_set_attr(it, "id", j->item_id) != XS_OK) {
		xml_node_free(ps);
		ps = NULL;
	}
	im_reply_result(r, j->st, NULL, ps);
	struct xml_node *list;
	struct xml_node *ev = event_items(j->node, &list);
	if (!ev) {
		LOG_ERR("out of memory: %s's PEP event for %s not sent", j->owner, j->node);
		return;
	}
	xml_node_add_child(list, j->item);
	j->item = NULL;
	im_pep_notify(r, j->owner, j->node, j->req.pep_cfg.access != STORE_PEP_WHITELIST, ev);
	xml_node_free(ev);
}

static void items_done(struct router *r, struct pep_job *j)
{
	enum xs rc = j->req.status;
	if (rc == XS_NOTFOUND) {
		im_reply_error(r, j->st, SC_ITEM_NOT_FOUND);
		return;
	}
	if (rc == XS_DENIED) {
		/* XEP-0060 6.5.9.x: say which model refused */
		if (j->req.pep_cfg.access == STORE_PEP_PRESENCE)
			im_reply_error_app(r, j->st, SC_NOT_AUTHORIZED, "presence-subscription-required",
					   NS_PUBSUB_ERRORS);
		else
			im_reply_error_app(r, j->st, SC_NOT_ALLOWED, "closed-node", NS_PUBSUB_ERRORS);
		return;
	}
	if (rc != XS_OK) {
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	struct xml_node *ps = xml_node_new_elem("pubsub", NS_PUBSUB);
	struct xml_node *its = ps ? xml_node_new_child(ps, "items", NS_PUBSUB) : NULL;
	if (!its || xml_node_set_attr(its, "node", j->node) != XS_OK)
		goto nomem;
	for (size_t i = 0; i < j->req.n_pep_out; i++) {
		const struct store_pep_result *res = &j->req.pep_out[i];
		struct xml_node *p = docstore_parse(r, res->xml, res->len);
		struct xml_node *it = p ? item_of(NS_PUBSUB, res->id, p) : NULL;
		xml_node_free(p);
		if (!it) {
			LOG_ERR("%s: PEP item %s of %s does not parse", j->owner, res->id, j->node);
			goto nomem;
		}
		xml_node_add_child(its, it);
	}
	im_reply_result(r, j->st, j->own ? NULL : j->owner, ps);
	return;
nomem:
	xml_node_free(ps);
	im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
}

static void retract_done(struct router *r, struct pep_job *j)
{
	enum xs rc = j->req.status;
	if (rc != XS_OK) {
		im_reply_error(r, j->st, rc == XS_NOTFOUND ? SC_ITEM_NOT_FOUND : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_reply_result(r, j->st, NULL, NULL);
	const char *notify = xml_node_attr(
		xml_node_child(xml_node_first_elem(j->st->tree), "retract", NS_PUBSUB), "notify");
	if (!(notify ? j->notify : j->req.pep_cfg.notify_retract))
		return;
	struct xml_node *list;
	struct xml_node *ev = event_items(j->node, &list);
	struct xml_node *rt = ev ? xml_node_new_child(list, "retract", NS_PUBSUB_EVENT) : NULL;
	if (rt && xml_node_set_attr(rt, "id", j->item_id) == XS_OK)
		im_pep_notify(r, j->owner, j->node, j->req.pep_cfg.access != STORE_PEP_WHITELIST, ev);
	xml_node_free(ev);
}

/* delete and purge: events to the owner's sessions only (the node's
 * access model is not read for them) */
static void node_gone_done(struct router *r, struct pep_job *j, const char *what)
{
	enum xs rc = j->req.status;
	if (rc != XS_OK) {
		im_reply_error(r, j->st, rc == XS_NOTFOUND ? SC_ITEM_NOT_FOUND : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_reply_result(r, j->st, NULL, NULL);
	struct xml_node *ev = xml_node_new_elem("event", NS_PUBSUB_EVENT);
	struct xml_node *d = ev ? xml_node_new_child(ev, what, NS_PUBSUB_EVENT) : NULL;
	if (d && xml_node_set_attr(d, "node", j->node) == XS_OK)
		im_pep_notify(r, j->owner, j->node, false, ev);
	xml_node_free(ev);
}

/* True when j was handed on (submitted again, or freed): the caller must
 * not touch it any more. */
static bool config_done(struct router *r, struct pep_job *j)
{
	enum xs rc = j->req.status;
	if (j->kind == PK_CREATE) {
		if (rc == XS_OK) {
			im_reply_error(r, j->st, SC_CONFLICT);
		} else if (rc != XS_NOTFOUND) {
			im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		} else {
			/* an empty node with the form's configuration */
			j->kind = PK_REPLACE;
			j->req.op = STORE_OP_PEP_REPLACE;
			j->req.pep_cfg = j->form_cfg;
			j->req.pep_in = NULL;
			j->req.n_pep_in = 0;
			j->req.pep_max_nodes = im_cfg(r)->max_pep_nodes;
			j->req.pep_max_bytes = im_cfg(r)->max_pep_bytes;
			resubmit(r, j);
			return true;
		}
		return false;
	}
	if (rc != XS_OK) {
		im_reply_error(r, j->st, rc == XS_NOTFOUND ? SC_ITEM_NOT_FOUND : SC_INTERNAL_SERVER_ERROR);
		return false;
	}
	if (j->kind == PK_CONFIG_GET) {
		struct xml_node *ps = xml_node_new_elem("pubsub", NS_PUBSUB_OWNER);
		struct xml_node *c = ps ? xml_node_new_child(ps, "configure", NS_PUBSUB_OWNER) : NULL;
		struct xml_node *x = c ? config_form(&j->req.pep_cfg, im_cfg(r)->max_pep_items) : NULL;
		if (!x || xml_node_set_attr(c, "node", j->node) != XS_OK) {
			xml_node_free(x);
			xml_node_free(ps);
			im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
			return false;
		}
		xml_node_add_child(c, x);
		im_reply_result(r, j->st, NULL, ps);
		return false;
	}
	/* PK_CONFIG_SET: read done, now write */
	if (j->configure_form) {
		struct store_pep_config cfg = j->req.pep_cfg;
		merge_form(&cfg, j);
		j->configure_form = false;
		j->req.pep_cfg = cfg;
		j->req.op = STORE_OP_PEP_CONFIG_SET;
		resubmit(r, j);
		return true;
	}
	im_reply_result(r, j->st, NULL, NULL);
	return false;
}

/* ---- the last items (XEP-0163 4.3.2) ---- */

struct sources {
	char **v;
	size_t n, cap;
	bool nomem;
};

static void add_source(void *arg, const char *jid)
{
	struct sources *s = arg;
	if (s->nomem)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **v = realloc(s->v, cap * sizeof(char *));
		if (!v) {
			s->nomem = true;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(jid)))
		s->nomem = true;
	else
		s->n++;
}

static void on_caps(struct router *r, const char *full, const char *bare)
{
	const char *const *nodes;
	size_t n_nodes = im_session_notify(r, full, &nodes);
	if (!n_nodes)
		return;
	struct sources s = { 0 };
	im_pep_sources(r, bare, add_source, &s);
	size_t n_owners = s.n;
	for (size_t i = 0; i < n_nodes && !s.nomem; i++)
		add_source(&s, nodes[i]);
	struct pep_job *j = s.nomem ? NULL : calloc(1, sizeof(*j));
	size_t fl = strlen(full), bl = strlen(bare);
	if (!j || fl >= sizeof(j->full) || bl >= sizeof(j->requester)) {
		for (size_t i = 0; i < s.n; i++)
			free(s.v[i]);
		free(s.v);
		free(j);
		LOG_WARN("%s: PEP last items not sent (no memory)", full);
		return;
	}
	j->kind = PK_LAST;
	j->strs = s.v;
	j->n_strs = s.n;
	memcpy(j->full, full, fl + 1);
	memcpy(j->requester, bare, bl + 1);
	j->req.op = STORE_OP_PEP_LAST;
	j->req.pep_requester = j->requester;
	j->req.pep_ids = (const char *const *)j->strs;
	j->req.n_pep_ids = n_owners;
	j->req.pep_nodes = (const char *const *)j->strs + n_owners;
	j->req.n_pep_nodes = s.n - n_owners;
	enum xs rc = im_store_submit(r, self(), &j->req, full);
	if (rc != XS_OK) {
		LOG_WARN("%s: PEP last items not asked for: %s", full, xs_name(rc));
		job_free(j);
	}
}

static void last_done(struct router *r, struct pep_job *j)
{
	if (j->req.status != XS_OK) {
		LOG_WARN("%s: PEP last items not read: %s", j->full, xs_name(j->req.status));
		return;
	}
	for (size_t i = 0; i < j->req.n_pep_out; i++) {
		const struct store_pep_result *res = &j->req.pep_out[i];
		struct xml_node *p = docstore_parse(r, res->xml, res->len);
		struct xml_node *it = p ? item_of(NS_PUBSUB_EVENT, res->id, p) : NULL;
		struct xml_node *list;
		struct xml_node *ev = it ? event_items(res->node, &list) : NULL;
		struct xml_node *m = ev ? xml_node_new_elem("message", NS_CLIENT) : NULL;
		xml_node_free(p);
		if (!m || xml_node_set_attr(m, "from", res->owner) != XS_OK ||
		    xml_node_set_attr(m, "to", j->full) != XS_OK ||
		    xml_node_set_attr(m, "type", "headline") != XS_OK) {
			xml_node_free(it);
			xml_node_free(ev);
			xml_node_free(m);
			LOG_WARN("%s: PEP item %s of %s not sent", j->full, res->id, res->node);
			continue;
		}
		xml_node_add_child(list, it);
		xml_node_add_child(m, ev);
		struct stanza *st = stanza_freeze(m);
		if (st) {
			im_send_to(r, j->full, st);
			stanza_unref(st);
		}
	}
}

/* ---- for bookmarks.c ---- */

void pep_get_items(struct im_iq *q, const char *node, pep_items_got got)
{
	struct pep_job *j = job_new(q, PK_GET_ALL, node);
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->got = got;
	j->req.op = STORE_OP_PEP_ITEMS;
	memcpy(j->requester, j->owner, strlen(j->owner) + 1); /* as the owner */
	j->req.pep_max = 0;
	submit(q, j);
}

static void get_all_done(struct router *r, struct pep_job *j)
{
	if (j->req.status == XS_NOTFOUND) {
		j->got(r, j->st, j->owner, false, NULL, 0);
		return;
	}
	size_t n = j->req.n_pep_out;
	struct xml_node **v = j->req.status == XS_OK ? calloc(n ? n : 1, sizeof(*v)) : NULL;
	for (size_t i = 0; v && i < n; i++) {
		const struct store_pep_result *res = &j->req.pep_out[i];
		struct xml_node *p = docstore_parse(r, res->xml, res->len);
		v[i] = p ? item_of(NS_PUBSUB, res->id, p) : NULL;
		xml_node_free(p);
		if (!v[i]) {
			for (size_t k = 0; k < i; k++)
				xml_node_free(v[k]);
			free(v);
			v = NULL;
		}
	}
	if (!v) {
		LOG_WARN("%s: PEP node %s not read: %s", j->owner, j->node, xs_name(j->req.status));
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->got(r, j->st, j->owner, true, v, n);
}

void pep_replace(struct im_iq *q, const char *node, const struct store_pep_config *cfg,
		 struct xml_node *const *items, size_t n, struct xml_node *result,
		 struct xml_node *legacy)
{
	struct pep_job *j = job_new(q, PK_REPLACE, node);
	if (j) {
		j->result = result;
		j->legacy = legacy;
	} else {
		xml_node_free(result);
		xml_node_free(legacy);
	}
	if (j && n && (!(j->in = calloc(n, sizeof(*j->in))) ||
		       !(j->in_xml = calloc(n, sizeof(*j->in_xml))) ||
		       !(j->in_items = calloc(n, sizeof(*j->in_items))))) {
		job_free(j);
		j = NULL;
	}
	for (size_t i = 0; j && i < n; i++) {
		const struct xml_node *payload = xml_node_first_elem(items[i]);
		const char *id = xml_node_attr(items[i], "id");
		j->n_in = i + 1;
		if (!payload || !id || xml_write(payload, NS_CLIENT, &j->in_xml[i]) != XS_OK ||
		    !(j->in_items[i] = item_of(NS_PUBSUB_EVENT, id, payload))) {
			job_free(j);
			j = NULL;
			break;
		}
		j->in[i].id = xml_node_attr(j->in_items[i], "id");
		j->in[i].xml = j->in_xml[i].data;
		j->in[i].len = j->in_xml[i].len;
	}
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->req.op = STORE_OP_PEP_REPLACE;
	j->req.pep_cfg = *cfg;
	j->req.pep_in = j->in;
	j->req.n_pep_in = n;
	j->req.pep_max_nodes = im_cfg(q->r)->max_pep_nodes;
	j->req.pep_max_bytes = im_cfg(q->r)->max_pep_bytes;
	submit(q, j);
}

static void replace_done(struct router *r, struct pep_job *j)
{
	enum xs rc = j->req.status;
	if (rc != XS_OK) {
		if (rc == XS_LIMIT)
			LOG_INFO("%s: PEP node %s refused: over [im] %s", j->owner, j->node,
				 j->req.pep_over_quota ? "max_pep_bytes" : "max_pep_nodes or max_pep_items");
		im_reply_error(r, j->st, rc != XS_LIMIT ? SC_INTERNAL_SERVER_ERROR
				     : j->req.pep_over_quota ? SC_RESOURCE_CONSTRAINT : SC_NOT_ACCEPTABLE);
		return;
	}
	im_reply_result(r, j->st, NULL, j->result);
	j->result = NULL;
	/* the events: every item as published, then what went */
	bool contacts = j->req.pep_cfg.access != STORE_PEP_WHITELIST;
	struct xml_node *list;
	struct xml_node *ev = j->n_in ? event_items(j->node, &list) : NULL;
	for (size_t i = 0; ev && i < j->n_in; i++) {
		xml_node_add_child(list, j->in_items[i]);
		j->in_items[i] = NULL;
	}
	if (ev)
		im_pep_notify(r, j->owner, j->node, contacts, ev);
	xml_node_free(ev);
	ev = j->req.n_pep_out ? event_items(j->node, &list) : NULL;
	for (size_t i = 0; ev && i < j->req.n_pep_out; i++) {
		struct xml_node *rt = xml_node_new_child(list, "retract", NS_PUBSUB_EVENT);
		if (!rt || xml_node_set_attr(rt, "id", j->req.pep_out[i].id) != XS_OK) {
			xml_node_free(ev);
			ev = NULL;
		}
	}
	if (ev)
		im_pep_notify(r, j->owner, j->node, contacts, ev);
	xml_node_free(ev);
	/* XEP-0411: the same bookmarks as the legacy node's one item */
	if (j->legacy) {
		ev = event_items(NS_BOOKMARKS_LEGACY, &list);
		struct xml_node *it = ev ? item_of(NS_PUBSUB_EVENT, "current", j->legacy) : NULL;
		if (it) {
			xml_node_add_child(list, it);
			im_pep_notify(r, j->owner, NS_BOOKMARKS_LEGACY, false, ev);
		}
		xml_node_free(ev);
	}
}

/* ---- disco#items of the account: its nodes (XEP-0060 5.2) ---- */

void pep_disco_items(struct im_iq *q)
{
	struct pep_job *j = job_new(q, PK_NODES, "-");
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->req.op = STORE_OP_PEP_NODES;
	j->req.pep_node = NULL;
	submit(q, j);
}

static void nodes_done(struct router *r, struct pep_job *j)
{
	if (j->req.status != XS_OK) {
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	struct xml_node *res = xml_node_new_elem("query", NS_DISCO_ITEMS);
	for (size_t i = 0; res && i < j->req.n_pep_out; i++) {
		struct xml_node *it = xml_node_new_child(res, "item", NS_DISCO_ITEMS);
		if (!it || xml_node_set_attr(it, "jid", j->owner) != XS_OK ||
		    xml_node_set_attr(it, "node", j->req.pep_out[i].node) != XS_OK) {
			xml_node_free(res);
			res = NULL;
		}
	}
	if (!res) {
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_reply_result(r, j->st, j->own ? NULL : j->owner, res);
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct pep_job *j = (struct pep_job *)req;
	if (cancelled) {
		job_free(j);
		return;
	}
	switch (j->kind) {
	case PK_PUBLISH: publish_done(r, j); break;
	case PK_ITEMS: items_done(r, j); break;
	case PK_RETRACT: retract_done(r, j); break;
	case PK_DELETE: node_gone_done(r, j, "delete"); break;
	case PK_PURGE: node_gone_done(r, j, "purge"); break;
	case PK_CONFIG_GET:
	case PK_CONFIG_SET:
	case PK_CREATE:
		if (config_done(r, j))
			return; /* submitted again (or freed): the job lives on */
		break;
	case PK_LAST: last_done(r, j); break;
	case PK_GET_ALL: get_all_done(r, j); break;
	case PK_REPLACE: replace_done(r, j); break;
	case PK_NODES: nodes_done(r, j); break;
	}
	job_free(j);
}

static const struct im_iq_handler iqs[] = {
	{ NS_PUBSUB, "pubsub", IM_TO_ACCOUNT, false, pubsub },
	{ NS_PUBSUB_OWNER, "pubsub", IM_TO_ACCOUNT, true, owner },
	IM_IQ_END,
};

static const char *const account_features[] = {
	NS_PUBSUB "#publish",
	NS_PUBSUB "#auto-create",
	NS_PUBSUB "#publish-options",
	NS_PUBSUB "#persistent-items",
	NS_PUBSUB "#last-published",
	NS_PUBSUB "#retrieve-items",
	NS_PUBSUB "#retract-items",
	NS_PUBSUB "#item-ids",
	NS_PUBSUB "#create-nodes",
	NS_PUBSUB "#delete-nodes",
	NS_PUBSUB "#purge-nodes",
	NS_PUBSUB "#config-node",
	NS_PUBSUB "#access-presence",
	NS_PUBSUB "#access-open",
	NS_PUBSUB "#access-whitelist",
	NS_BOOKMARKS "#compat",
	"urn:xmpp:bookmarks-conversion:0",
	NULL,
};

const struct im_module im_pep = {
	.name = "pep", .iqs = iqs, .account_features = account_features,
	.store_done = store_done, .caps = on_caps,
};

static const struct im_module *self(void)
{
	return &im_pep;
}
