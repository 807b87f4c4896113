/* XEP-0202 Entity Time of the server: UTC, and the offset of the server's
 * local time zone. */
#include "core/im/modules.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/xml/xml_node.h"

static bool add_text_child(struct xml_node *parent, const char *name, const char *text)
{
	struct xml_node *c = xml_node_new_child(parent, name, NS_TIME);
	return c && xml_node_add_text(c, text, strlen(text)) == XS_OK;
}

static void entity_time(struct im_iq *q)
{
	if (!q->get) {
		im_iq_error(q, SC_BAD_REQUEST);
		return;
	}
	time_t now = time(NULL);
	struct tm utc, local;
	char utc_s[32], tzo[16];
	if (!gmtime_r(&now, &utc) || !localtime_r(&now, &local) ||
	    !strftime(utc_s, sizeof(utc_s), "%Y-%m-%dT%H:%M:%SZ", &utc)) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	long off = local.tm_gmtoff; /* seconds east of UTC, within a day */
	unsigned a = (unsigned)((off < 0 ? -off : off) % 86400);
	snprintf(tzo, sizeof(tzo), "%c%02u:%02u", off < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
	struct xml_node *res = xml_node_new_elem("time", NS_TIME);
	if (!res || !add_text_child(res, "tzo", tzo) || !add_text_child(res, "utc", utc_s)) {
		xml_node_free(res);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_result(q, res);
}

static const struct im_iq_handler iqs[] = {
	{ NS_TIME, "time", IM_TO_SERVER, false, entity_time },
	IM_IQ_END,
};
static const char *const features[] = { NS_TIME, NULL };

const struct im_module im_time = {
	.name = "time", .iqs = iqs, .server_features = features,
};
