/* XEP-0030 Service Discovery for the server and for an account (asked by
 * the account itself): identities, and the features every module lists
 * (im_each_feature).  No items yet.  The one node answered is the
 * server's XEP-0115 caps node, "DISCO_CAPS_NODE#ver", with the same info
 * (XEP-0115 6.2); any other gets item-not-found (XEP-0030 3.1).
 *
 * The caps hash is computed from the same identity and feature list as
 * the answer (disco_server_caps_ver), once at start-up, so the two cannot
 * disagree. */
#include "core/im/modules.h"

#include <stdio.h>
#include <string.h>

#include "core/conf/cfg.h"
#include "core/im/disco.h"
#include "core/im/pep.h"
#include "core/xml/xml_node.h"

static const struct caps_identity server_identity = { "server", "im", NULL, "xmppd" };

static void add_feature(void *arg, const char *var)
{
	struct xml_node *f = xml_node_new_child(arg, "feature", NS_DISCO_INFO);
	if (f)
		xml_node_set_attr(f, "var", var);
}

/* XEP-0115 6.2: the caps node of the server, exactly as advertised. */
static bool is_caps_node(const struct im_iq *q, const char *node)
{
	const char *ver = im_cfg(q->r)->caps_ver;
	size_t nl = strlen(DISCO_CAPS_NODE);
	return q->target == IM_TO_SERVER && ver[0] && strncmp(node, DISCO_CAPS_NODE, nl) == 0 &&
	       node[nl] == '#' && strcmp(node + nl + 1, ver) == 0;
}

static void info(struct im_iq *q)
{
	if (!q->get) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	const char *node = xml_node_attr(q->payload, "node");
	if (node && !is_caps_node(q, node)) {
		im_iq_error(q, SC_ITEM_NOT_FOUND);
		return;
	}
	struct xml_node *res = xml_node_new_elem("query", NS_DISCO_INFO);
	struct xml_node *id = res ? xml_node_new_child(res, "identity", NS_DISCO_INFO) : NULL;
	if (!id || (node && xml_node_set_attr(res, "node", node) != XS_OK)) {
		xml_node_free(res);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	if (q->target == IM_TO_SERVER) {
		xml_node_set_attr(id, "category", server_identity.category);
		xml_node_set_attr(id, "type", server_identity.type);
		xml_node_set_attr(id, "name", server_identity.name);
	} else {
		xml_node_set_attr(id, "category", "account");
		xml_node_set_attr(id, "type", "registered");
		/* XEP-0163 6.1: the account is a PEP service */
		struct xml_node *pep = xml_node_new_child(res, "identity", NS_DISCO_INFO);
		if (pep) {
			xml_node_set_attr(pep, "category", "pubsub");
			xml_node_set_attr(pep, "type", "pep");
		}
	}
	im_each_feature(im_cfg(q->r), q->target, add_feature, res);
	im_iq_result(q, res);
}

/* Room for the server's features: a module adds one or two. */
#define MAX_SERVER_FEATURES 64

struct feature_list {
	const char *var[MAX_SERVER_FEATURES];
	size_t n;
	bool overflow;
};

static void collect_feature(void *arg, const char *var)
{
	struct feature_list *l = arg;
	if (l->n < MAX_SERVER_FEATURES)
		l->var[l->n++] = var;
	else
		l->overflow = true;
}

bool disco_server_caps_ver(const struct cfg *cfg, char ver[CAPS_VER_BUF])
{
	struct feature_list l = { .n = 0 };
	ver[0] = '\0';
	im_each_feature(cfg, IM_TO_SERVER, collect_feature, &l);
	if (l.overflow || caps_ver(&server_identity, 1, l.var, l.n, ver) != XS_OK) {
		ver[0] = '\0';
		return false;
	}
	return true;
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
	if (q->target == IM_TO_ACCOUNT) {
		pep_disco_items(q); /* the account's PEP nodes */
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
