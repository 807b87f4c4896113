/* XEP-0030 Service Discovery for the server and for an account (asked by
 * the account itself): identities, and the features every module lists
 * (im_each_feature).  No items yet; nodes are not supported
 * (item-not-found, XEP-0030 3.1). */
#include "core/im/modules.h"

#include "core/xml/xml_node.h"

static void add_feature(void *arg, const char *var)
{
	struct xml_node *f = xml_node_new_child(arg, "feature", NS_DISCO_INFO);
	if (f)
		xml_node_set_attr(f, "var", var);
}

static void info(struct im_iq *q)
{
	if (!q->get) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	if (xml_node_attr(q->payload, "node")) {
		im_iq_error(q, SC_ITEM_NOT_FOUND);
		return;
	}
	struct xml_node *res = xml_node_new_elem("query", NS_DISCO_INFO);
	struct xml_node *id = res ? xml_node_new_child(res, "identity", NS_DISCO_INFO) : NULL;
	if (!id) {
		xml_node_free(res);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	if (q->target == IM_TO_SERVER) {
		xml_node_set_attr(id, "category", "server");
		xml_node_set_attr(id, "type", "im");
		xml_node_set_attr(id, "name", "xmppd");
	} else {
		xml_node_set_attr(id, "category", "account");
		xml_node_set_attr(id, "type", "registered");
	}
	im_each_feature(im_cfg(q->r), q->target, add_feature, res);
	im_iq_result(q, res);
}

static void items(struct im_iq *q)
{
	if (!q->get) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	if (xml_node_attr(q->payload, "node")) {
		im_iq_error(q, SC_ITEM_NOT_FOUND);
		return;
	}
	struct xml_node *res = xml_node_new_elem("query", NS_DISCO_ITEMS);
	if (!res) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_result(q, res);
}

/* An account's disco is its owner's for now: what others may see of it
 * depends on their subscription, which comes with presence subscriptions. */
static const struct im_iq_handler iqs[] = {
	{ NS_DISCO_INFO, "query", IM_TO_SERVER | IM_TO_ACCOUNT, true, info },
	{ NS_DISCO_ITEMS, "query", IM_TO_SERVER | IM_TO_ACCOUNT, true, items },
	IM_IQ_END,
};
static const char *const server_features[] = { NS_DISCO_INFO, NS_DISCO_ITEMS, NULL };
static const char *const account_features[] = { NS_DISCO_INFO, NS_DISCO_ITEMS, NULL };

const struct im_module im_disco = {
	.name = "disco", .iqs = iqs, .server_features = server_features,
	.account_features = account_features,
};
