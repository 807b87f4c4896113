/* The registry of IM features and the dispatch of iq requests addressed to
 * the server or to an account (see im.h). */
#include "core/route/im.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/im/account.h"
#include "core/im/modules.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/jid.h"

/* Adding a feature: its file in core/im/, its line here. */
static const struct im_module *const modules[] = {
	&im_disco, &im_ping, &im_version, &im_time, &im_last, &im_roster, &im_offline,
	&im_private, &im_vcard, &im_carbons, &im_blocking, &im_register, &im_mam, &im_pep,
};
#define N_MODULES (sizeof(modules) / sizeof(modules[0]))

static bool module_on(const struct im_module *m, const struct cfg *cfg)
{
	return !m->enabled || m->enabled(cfg);
}

static const struct im_iq_handler *find_handler(const struct cfg *cfg,
						const struct xml_node *payload,
						enum im_target target, bool own)
{
	for (size_t i = 0; i < N_MODULES; i++)
		for (const struct im_iq_handler *h = module_on(modules[i], cfg) ? modules[i]->iqs : NULL;
		     h && h->ns; h++) {
			if (!(h->targets & target) || strcmp(h->ns, payload->ns) != 0)
				continue;
			if (h->name && strcmp(h->name, payload->name) != 0)
				continue;
			if (target == IM_TO_ACCOUNT && h->own_only && !own)
				continue;
			return h;
		}
	return NULL;
}

static void run_handler(struct im_iq *q, const struct im_iq_handler *h)
{
	h->handle(q);
	/* a handler that found nothing to say still answers */
	if (!q->answered && !q->parked)
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
}

/* ---- does the account exist? ---- */

/* RFC 6121 8.5.1: an iq to the bare JID of an account that does not exist
 * gets service-unavailable, so before the server answers for an account
 * that nobody is logged in to, the store says whether it exists. */
struct exists_job {
	struct store_req req;           /* first: the store hands it back */
	struct stanza *st;
	const struct im_iq_handler *h;
	char to[JID_BUF];
};

static void exists_done(struct router *r, struct store_req *req, bool cancelled);

static const struct im_module services_self = {
	.name = "services", .store_done = exists_done,
};

static void exists_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct exists_job *j = (struct exists_job *)req;
	if (!cancelled) {
		struct im_iq q = {
			.r = r, .st = j->st, .payload = xml_node_first_elem(j->st->tree), .to = j->to,
			.target = IM_TO_ACCOUNT, .get = strcmp(j->st->type, "get") == 0,
		};
		if (req->status == XS_OK && req->exists)
			run_handler(&q, j->h);
		else
			/* no such account, or one that blocks the sender (XEP-0191
			 * 3.5: blocked iqs get service-unavailable) */
			im_iq_error(&q, req->status == XS_OK || req->status == XS_DENIED
						? SC_SERVICE_UNAVAILABLE
						: SC_INTERNAL_SERVER_ERROR);
	}
	stanza_unref(j->st);
	free(j);
}

/* Parks q until the store has answered, or answers it now with an error
 * (no memory, the sender's storage budget spent, no storage thread: the
 * server cannot say the account exists, so it does not answer for it). */
static void check_exists(struct im_iq *q, const struct im_iq_handler *h)
{
	size_t tl = strlen(q->to);
	struct exists_job *j = calloc(1, sizeof(*j));
	if (!j || tl >= sizeof(j->to) || !im_split_account(&j->req, q->to)) {
		free(j);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	memcpy(j->to, q->to, tl + 1);
	j->req.op = STORE_OP_USER_EXISTS;
	if (q->st->from && strlen(q->st->from) < sizeof(j->req.sender))
		strcpy(j->req.sender, q->st->from);
	j->st = stanza_ref(q->st);
	j->h = h;
	enum xs rc = im_store_submit(q->r, &services_self, &j->req, q->st->from);
	if (rc != XS_OK) {
		stanza_unref(j->st);
		free(j);
		im_iq_error(q, rc == XS_LIMIT ? SC_RESOURCE_CONSTRAINT : SC_SERVICE_UNAVAILABLE);
		return;
	}
	im_iq_park(q);
}

void services_iq(struct router *r, struct stanza *st, const char *to, enum im_target target,
		 bool own)
{
	bool get = st->type && strcmp(st->type, "get") == 0;
	bool set = st->type && strcmp(st->type, "set") == 0;
	if (!get && !set)
		return; /* results and errors addressed here end here */
	struct im_iq q = {
		.r = r, .st = st, .payload = xml_node_first_elem(st->tree), .to = to,
		.target = target, .get = get, .own = own,
	};
	/* RFC 6120 8.2.3: a get or set has exactly one payload */
	if (!q.payload) {
		im_iq_error(&q, SC_BAD_REQUEST);
		return;
	}
	const struct im_iq_handler *h = find_handler(im_cfg(r), q.payload, target, own);
	if (!h) {
		im_iq_error(&q, SC_SERVICE_UNAVAILABLE);
		return;
	}
	/* someone else's account with nobody logged in: does it exist? */
	if (target == IM_TO_ACCOUNT && !own && !im_account_online(r, to)) {
		check_exists(&q, h);
		return;
	}
	run_handler(&q, h);
}

bool services_message_offline(struct router *r, struct stanza *st, const char *bare)
{
	for (size_t i = 0; i < N_MODULES; i++)
		if (modules[i]->message_offline && modules[i]->message_offline(r, st, bare))
			return true;
	return false;
}

void services_available(struct router *r, const char *full, const char *bare, int prio,
			bool initial)
{
	for (size_t i = 0; i < N_MODULES; i++)
		if (modules[i]->available)
			modules[i]->available(r, full, bare, prio, initial);
}

void services_message_delivered(struct router *r, struct stanza *st, const char *bare)
{
	for (size_t i = 0; i < N_MODULES; i++)
		if (modules[i]->message_delivered)
			modules[i]->message_delivered(r, st, bare);
}

void services_message_sent(struct router *r, struct stanza *st, const char *full, bool others)
{
	for (size_t i = 0; i < N_MODULES; i++)
		if (modules[i]->message_sent && module_on(modules[i], im_cfg(r)))
			modules[i]->message_sent(r, st, full, others);
}

struct stanza *services_message_in(struct router *r, struct stanza *st, const char *bare)
{
	struct stanza *cur = NULL;
	for (size_t i = 0; i < N_MODULES; i++) {
		if (!modules[i]->message_in || !module_on(modules[i], im_cfg(r)))
			continue;
		struct stanza *n = modules[i]->message_in(r, cur ? cur : st, bare);
		if (n) {
			stanza_unref(cur);
			cur = n;
		}
	}
	return cur;
}

void services_account_offline(struct router *r, const char *bare)
{
	for (size_t i = 0; i < N_MODULES; i++)
		if (modules[i]->account_offline)
			modules[i]->account_offline(r, bare);
}

void services_caps(struct router *r, const char *full, const char *bare)
{
	for (size_t i = 0; i < N_MODULES; i++)
		if (modules[i]->caps && module_on(modules[i], im_cfg(r)))
			modules[i]->caps(r, full, bare);
}

void im_each_feature(const struct cfg *cfg, enum im_target target,
		     void (*cb)(void *arg, const char *var), void *arg)
{
	for (size_t i = 0; i < N_MODULES; i++) {
		if (!module_on(modules[i], cfg))
			continue;
		const char *const *f = target == IM_TO_SERVER ? modules[i]->server_features
							      : modules[i]->account_features;
		for (; f && *f; f++)
			cb(arg, *f);
	}
}
