/* Every IM feature module (core/im/); core/route/services.c lists them
 * in the order disco reports their features. */
#ifndef XMPPD_IM_MODULES_H
#define XMPPD_IM_MODULES_H

#include "core/route/im.h"

extern const struct im_module im_disco;   /* XEP-0030 */
extern const struct im_module im_ping;    /* XEP-0199 */
extern const struct im_module im_version; /* XEP-0092 */
extern const struct im_module im_time;    /* XEP-0202 */
extern const struct im_module im_last;    /* XEP-0012 */
extern const struct im_module im_roster;  /* RFC 6121 2 */
extern const struct im_module im_offline; /* XEP-0160 */
extern const struct im_module im_private; /* XEP-0049 */
extern const struct im_module im_vcard;   /* XEP-0054 */
extern const struct im_module im_carbons; /* XEP-0280 */
extern const struct im_module im_blocking; /* XEP-0191 */
extern const struct im_module im_mam;     /* XEP-0313 */
extern const struct im_module im_pep;     /* XEP-0163 */
extern const struct im_module im_register; /* XEP-0077 after authentication */
extern const struct im_module im_presence; /* RFC 6121 3, not in the table: no iq, no feature */

#endif
