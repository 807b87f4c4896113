/* SASL PLAIN message parsing (RFC 4616).
 *
 * The mux decodes <auth mechanism='PLAIN'>'s base64 and hands the bytes
 * here; we only split and bound them.  Normalising the authcid
 * (jid_local_prep) and checking the password against the stored SCRAM
 * credential (scram_password_matches, which SASLpreps it) are the caller's
 * next steps, so this file has no dependencies and no state. */
#ifndef XMPPD_SASL_PLAIN_H
#define XMPPD_SASL_PLAIN_H

#include <stddef.h>

#include "core/auth/sasl_scram.h"

/* msg = [authzid] NUL authcid NUL passwd.  SCRAM_DONE with the three parts
 * copied NUL-terminated into the buffers (authzid may be ""), SCRAM_FAIL
 * for a wrong number of NULs, an empty authcid or password, invalid UTF-8,
 * or a part that does not fit (buffers are then ""). */
enum scram_status sasl_plain_parse(const char *msg, size_t len, char *authzid, size_t authzid_cap,
				   char *authcid, size_t authcid_cap, char *password,
				   size_t password_cap);

#endif
