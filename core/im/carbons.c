/* XEP-0280 Message Carbons: a resource that enables them gets a copy of
 * the account's one-to-one messages that went to its other resources
 * (<received/>) and of those its other resources sent (<sent/>), each
 * wrapped in a XEP-0297 <forwarded/> and addressed from the bare JID.
 *
 * Eligible (XEP-0280 6): type chat, and type normal with a body; not
 * groupchat, headline or error, not MUC private messages, not a carbon
 * itself, and not a message marked <private/> (XEP-0280 7) or
 * <no-copy/> (XEP-0334).  The router calls the hooks only for accounts
 * with more than one session, so a single-resource account pays
 * nothing. */
#include "core/im/modules.h"

#include <string.h>

#include "core/base/log.h"
#include "core/xml/xml_node.h"
#include "core/xmpp/jid.h"

static void enable(struct im_iq *q)
{
	if (q->get) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	if (strcmp(q->payload->name, "enable") == 0)
		im_session_flag(q->r, q->st->from, IM_SESS_CARBONS);
	else
		im_session_unflag(q->r, q->st->from, IM_SESS_CARBONS);
	im_iq_result(q, NULL);
}

static bool eligible(const struct stanza *st)
{
	const struct xml_node *m = st->tree;
	const char *type = st->type ? st->type : "normal";
	if (strcmp(type, "chat") != 0 &&
	    (strcmp(type, "normal") != 0 || !xml_node_child(m, "body", NS_CLIENT)))
		return false;
	return !xml_node_child(m, "private", NS_CARBONS) && !xml_node_child(m, "no-copy", NS_HINTS) &&
	       !xml_node_child(m, "received", NS_CARBONS) && !xml_node_child(m, "sent", NS_CARBONS) &&
	       !xml_node_child(m, "x", NS_MUC_USER);
}

struct copy {
	struct router *r;
	const struct stanza *st;
	const char *bare;
	const char *wrapper;   /* "received" or "sent" */
	const char *skip;      /* sent: the resource that sent it */
};

static struct stanza *wrap(const struct copy *c, const char *to)
{
	struct xml_node *msg = xml_node_new_elem("message", NS_CLIENT);
	struct xml_node *inner = xml_node_copy(c->st->tree);
	struct xml_node *w = msg ? xml_node_new_child(msg, c->wrapper, NS_CARBONS) : NULL;
	struct xml_node *fwd = w ? xml_node_new_child(w, "forwarded", NS_FORWARD) : NULL;
	if (!fwd || !inner || xml_node_set_attr(msg, "from", c->bare) != XS_OK ||
	    xml_node_set_attr(msg, "to", to) != XS_OK ||
	    (c->st->type && xml_node_set_attr(msg, "type", c->st->type) != XS_OK)) {
		xml_node_free(msg);
		xml_node_free(inner);
		return NULL;
	}
	xml_node_add_child(fwd, inner);
	return stanza_freeze(msg);
}

static void copy_one(void *arg, const char *full, unsigned *flags)
{
	struct copy *c = arg;
	if (!(*flags & IM_SESS_CARBONS) || (*flags & IM_SESS_GOT) ||
	    (c->skip && strcmp(full, c->skip) == 0))
		return;
	struct stanza *st = wrap(c, full);
	if (!st) {
		LOG_WARN("carbon copy to %s lost: out of memory", full);
		return;
	}
	im_send_to(c->r, full, st);
	stanza_unref(st);
}

static void delivered(struct router *r, struct stanza *st, const char *bare)
{
	if (!eligible(st))
		return;
	struct copy c = { .r = r, .st = st, .bare = bare, .wrapper = "received" };
	im_each_session(r, bare, copy_one, &c);
}

static void sent(struct router *r, struct stanza *st, const char *full, bool others)
{
	if (!others)
		return;
	char bare[JID_BUF];
	if (!jid_bare_of(full, bare) || !eligible(st))
		return;
	size_t bl = strlen(bare);
	/* to the account itself: its resources get it, or a received copy */
	if (st->to && strncmp(st->to, bare, bl) == 0 && (st->to[bl] == '\0' || st->to[bl] == '/'))
		return;
	struct copy c = { .r = r, .st = st, .bare = bare, .wrapper = "sent", .skip = full };
	im_each_session(r, bare, copy_one, &c);
}

static const struct im_iq_handler iqs[] = {
	{ NS_CARBONS, "enable", IM_TO_SERVER | IM_TO_ACCOUNT, true, enable },
	{ NS_CARBONS, "disable", IM_TO_SERVER | IM_TO_ACCOUNT, true, enable },
	IM_IQ_END,
};
static const char *const features[] = { NS_CARBONS, NULL };

const struct im_module im_carbons = {
	.name = "carbons",
	.iqs = iqs,
	.server_features = features,
	.message_delivered = delivered,
	.message_sent = sent,
};
