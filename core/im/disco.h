/* The server's XEP-0030 identity and features as one XEP-0115 hash
 * (core/im/disco.c), for the stream features. */
#ifndef XMPPD_IM_DISCO_H
#define XMPPD_IM_DISCO_H

#include <stdbool.h>

#include "core/xmpp/caps.h"

struct cfg;

/* XEP-0115's node: the software's URI.  The project has no home page yet,
 * hence a name under .invalid (RFC 2606); clients only show it. */
#define DISCO_CAPS_NODE "https://xmppd.invalid/caps"

/* The verification string of what disco#info answers for the server
 * under cfg (the same identity and im_each_feature list), into ver.
 * False (ver "") on no memory or a feature listed twice. */
bool disco_server_caps_ver(const struct cfg *cfg, char ver[CAPS_VER_BUF]);

#endif
