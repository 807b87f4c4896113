/* RFC 6121 2 rosters: placeholder until rosters are stored (issue 11,
 * docs/internals/im.md).  A get by the account itself answers an empty
 * roster, which RFC 6121 2.1.3 allows for an account without contacts;
 * a set is refused (feature-not-implemented) rather than pretending. */
#include "core/im/modules.h"

#include "core/xml/xml_node.h"

static void roster(struct im_iq *q)
{
	if (!q->get) {
		im_iq_error(q, SC_FEATURE_NOT_IMPLEMENTED);
		return;
	}
	struct xml_node *res = xml_node_new_elem("query", NS_ROSTER);
	if (!res) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_result(q, res);
}

static const struct im_iq_handler iqs[] = {
	{ NS_ROSTER, "query", IM_TO_ACCOUNT, true, roster },
	IM_IQ_END,
};

const struct im_module im_roster = {
	.name = "roster", .iqs = iqs,
};
