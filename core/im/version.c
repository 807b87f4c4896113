/* XEP-0092 Software Version of the server: name and version, no <os/>
 * (it would tell an attacker which kernel to aim at).  [im]
 * software_version = false turns it off: the name and version are the
 * first thing a scanner asks for. */
#include "core/im/modules.h"

#include <string.h>

#include "core/conf/cfg.h"
#include "core/xml/xml_node.h"

static void version(struct im_iq *q)
{
	if (!q->get) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	struct xml_node *res = xml_node_new_elem("query", NS_VERSION);
	struct xml_node *n = res ? xml_node_new_child(res, "name", NS_VERSION) : NULL;
	struct xml_node *v = res ? xml_node_new_child(res, "version", NS_VERSION) : NULL;
	if (!n || !v || xml_node_add_text(n, "xmppd", 5) != XS_OK ||
	    xml_node_add_text(v, XMPPD_VERSION, strlen(XMPPD_VERSION)) != XS_OK) {
		xml_node_free(res);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_result(q, res);
}

static const struct im_iq_handler iqs[] = {
	{ NS_VERSION, "query", IM_TO_SERVER, false, version },
	IM_IQ_END,
};
static const char *const features[] = { NS_VERSION, NULL };

static bool enabled(const struct cfg *cfg)
{
	return cfg->software_version;
}

const struct im_module im_version = {
	.name = "version", .iqs = iqs, .server_features = features, .enabled = enabled,
};
