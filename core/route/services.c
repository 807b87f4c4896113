/* The registry of IM features and the dispatch of iq requests addressed to
 * the server or to an account (see im.h). */
#include "core/route/im.h"

#include <stddef.h>
#include <string.h>

#include "core/im/modules.h"
#include "core/xml/xml_node.h"

/* Adding a feature: its file in core/im/, its line here. */
static const struct im_module *const modules[] = {
	&im_disco, &im_ping, &im_version, &im_time, &im_last, &im_roster, &im_offline,
};
#define N_MODULES (sizeof(modules) / sizeof(modules[0]))

static const struct im_iq_handler *find_handler(const struct xml_node *payload,
						enum im_target target, bool own)
{
	for (size_t i = 0; i < N_MODULES; i++)
		for (const struct im_iq_handler *h = modules[i]->iqs; h && h->ns; h++) {
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
	const struct im_iq_handler *h = find_handler(q.payload, target, own);
	if (!h) {
		im_iq_error(&q, SC_SERVICE_UNAVAILABLE);
		return;
	}
	h->handle(&q);
	/* a handler that found nothing to say still answers */
	if (!q.answered && !q.parked)
		im_iq_error(&q, SC_INTERNAL_SERVER_ERROR);
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

void im_each_feature(enum im_target target, void (*cb)(void *arg, const char *var), void *arg)
{
	for (size_t i = 0; i < N_MODULES; i++) {
		const char *const *f = target == IM_TO_SERVER ? modules[i]->server_features
							      : modules[i]->account_features;
		for (; f && *f; f++)
			cb(arg, *f);
	}
}
