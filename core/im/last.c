/* XEP-0012 Last Activity of the server: its uptime (XEP-0012 5).  An
 * offline contact's last logout comes with presence subscriptions, which
 * decide who may ask. */
#include "core/im/modules.h"

#include <stdio.h>
#include <time.h>

#include "core/xml/xml_node.h"

static void last(struct im_iq *q)
{
	if (!q->get) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t started = im_router_started(q->r);
	uint64_t up = (uint64_t)ts.tv_sec > started ? (uint64_t)ts.tv_sec - started : 0;
	char secs[24];
	snprintf(secs, sizeof(secs), "%llu", (unsigned long long)up);
	struct xml_node *res = xml_node_new_elem("query", NS_LAST);
	if (!res || xml_node_set_attr(res, "seconds", secs) != XS_OK) {
		xml_node_free(res);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_result(q, res);
}

static const struct im_iq_handler iqs[] = {
	{ NS_LAST, "query", IM_TO_SERVER, false, last },
	IM_IQ_END,
};
static const char *const features[] = { NS_LAST, NULL };

const struct im_module im_last = {
	.name = "last", .iqs = iqs, .server_features = features,
};
