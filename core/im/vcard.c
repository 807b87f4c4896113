/* XEP-0054 vcard-temp: an account's vCard, set by the account itself and
 * read by anyone (clients show it as the contact's profile and avatar).
 * Its size is bounded by the stanza size limit. */
#include "core/im/modules.h"

#include "core/im/docstore.h"
#include "core/xml/xml_node.h"


static void got(struct router *r, struct stanza *st, const char *to, bool own,
		struct xml_node *doc)
{
	if (!doc && !own) {
		/* XEP-0054 3.1: none for someone else is an error */
		im_reply_error(r, st, SC_ITEM_NOT_FOUND);
		return;
	}
	if (!doc && !(doc = xml_node_new_elem("vCard", NS_VCARD))) {
		im_reply_error(r, st, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_reply_result(r, st, own ? NULL : to, doc);
}

static void vcard(struct im_iq *q)
{
	if (q->get) {
		docstore_get(q, &im_vcard, "vcard", "", got);
		return;
	}
	if (!q->own) {
		im_iq_error(q, SC_FORBIDDEN);
		return;
	}
	docstore_put(q, &im_vcard, "vcard", "", q->payload, 1);
}

static void store_done(struct router *r, struct store_req *req, bool cancelled)
{
	docstore_done(r, req, cancelled);
}

static const struct im_iq_handler iqs[] = {
	{ NS_VCARD, "vCard", IM_TO_ACCOUNT, false, vcard },
	IM_IQ_END,
};
static const char *const features[] = { NS_VCARD, NULL };

const struct im_module im_vcard = {
	.name = "vcard", .iqs = iqs, .server_features = features,
	.account_features = features, .store_done = store_done,
};
