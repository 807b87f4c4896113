/* XEP-0115 entity capabilities: the verification string of a disco#info
 * answer (XEP-0115 5.1), as a pure function.  The server advertises it in
 * its stream features (6.3) so that a client can cache what the server
 * supports instead of asking at every login. */
#ifndef XMPPD_CAPS_H
#define XMPPD_CAPS_H

#include <stddef.h>

#include "core/base/status.h"

/* One disco identity; lang and name may be NULL (absent). */
struct caps_identity {
	const char *category;
	const char *type;
	const char *lang;
	const char *name;
};

/* base64 of a SHA-1 digest (28 characters) and the NUL. */
#define CAPS_VER_BUF 29

/* Writes base64(SHA-1(S)) to ver, where S is XEP-0115 5.1's string: the
 * identities sorted by category, type and xml:lang, each as
 * "category/type/lang/name<", then the features sorted, each as
 * "feature<" (byte order, "i;octet").  XS_INVAL when two identities share
 * category, type and lang or a feature is listed twice (5.4: a receiver
 * must not accept such a hash), XS_NOMEM. */
enum xs caps_ver(const struct caps_identity *ids, size_t n_ids, const char *const *features,
		 size_t n_features, char ver[CAPS_VER_BUF]);

#endif
