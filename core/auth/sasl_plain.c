/* SASL PLAIN parsing; see sasl_plain.h.  RFC 4616 §2 bounds each part at
 * 255 octets "at least"; we leave the bound to the caller's buffer sizes. */
#include "core/auth/sasl_plain.h"

#include <string.h>

#include "core/xmpp/jid.h"

static bool sasl_plain__copy(const char *s, size_t n, char *out, size_t cap)
{
	if (n >= cap || !jid_utf8_is_valid(s, n))
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

enum scram_status sasl_plain_parse(const char *msg, size_t len, char *authzid, size_t authzid_cap,
				   char *authcid, size_t authcid_cap, char *password,
				   size_t password_cap)
{
	const char *nul1, *nul2, *pw;
	size_t zlen, clen, plen;

	if (authzid_cap)
		authzid[0] = '\0';
	if (authcid_cap)
		authcid[0] = '\0';
	if (password_cap)
		password[0] = '\0';

	nul1 = memchr(msg, '\0', len);
	if (!nul1)
		return SCRAM_FAIL;
	zlen = (size_t)(nul1 - msg);
	nul2 = memchr(nul1 + 1, '\0', len - zlen - 1);
	if (!nul2)
		return SCRAM_FAIL;
	clen = (size_t)(nul2 - nul1 - 1);
	pw = nul2 + 1;
	plen = len - (size_t)(pw - msg);
	/* A third NUL means a password with a NUL in it or trailing junk;
	 * jid_utf8_is_valid() refuses it below. */
	if (clen == 0 || plen == 0)
		return SCRAM_FAIL;
	if (!sasl_plain__copy(msg, zlen, authzid, authzid_cap) ||
	    !sasl_plain__copy(nul1 + 1, clen, authcid, authcid_cap) ||
	    !sasl_plain__copy(pw, plen, password, password_cap))
		goto out_clear;
	return SCRAM_DONE;

out_clear:
	if (authzid_cap)
		authzid[0] = '\0';
	if (authcid_cap)
		authcid[0] = '\0';
	if (password_cap)
		explicit_bzero(password, password_cap);
	return SCRAM_FAIL;
}
