/* XEP-0199 XMPP Ping: the server answers for itself and for an account's
 * bare JID (RFC 6120 10.5.3.2: an iq to a bare JID is the server's to
 * answer). */
#include "core/im/modules.h"

static void ping(struct im_iq *q)
{
	if (q->get)
		im_iq_result(q, NULL);
	else
		im_iq_error(q, SC_BAD_REQUEST);
}

static const struct im_iq_handler iqs[] = {
	{ NS_PING, "ping", IM_TO_SERVER | IM_TO_ACCOUNT, false, ping },
	IM_IQ_END,
};
static const char *const features[] = { NS_PING, NULL };

const struct im_module im_ping = {
	.name = "ping", .iqs = iqs, .server_features = features,
};
