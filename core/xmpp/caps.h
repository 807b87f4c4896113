/* XEP-0115 entity capabilities: the verification string of a disco#info
 * answer (XEP-0115 5.1), as a pure function.  The server advertises it in
 * its stream features (6.3) so that a client can cache what the server
 * supports instead of asking at every login. */
#ifndef XMPPD_CAPS_H
#define XMPPD_CAPS_H

#include <stddef.h>

#include "core/base/status.h"

struct xml_node;

/* One disco identity; lang and name may be NULL (absent). */
struct caps_identity {
	const char *category;
	const char *type;
	const char *lang;
	const char *name;
};

/* base64 of a SHA-1 digest (28 characters) and the NUL. */
#define CAPS_VER_BUF 29
/* The same for SHA-256 (44 characters and the NUL): enough for any algo
 * caps_ver_of_info takes. */
#define CAPS_VER_BUF_MAX 45

/* Writes base64(SHA-1(S)) to ver, where S is XEP-0115 5.1's string: the
 * identities sorted by category, type and xml:lang, each as
 * "category/type/lang/name<", then the features sorted, each as
 * "feature<" (byte order, "i;octet").  XS_INVAL when two identities share
 * category, type and lang or a feature is listed twice (5.4: a receiver
 * must not accept such a hash), XS_NOMEM. */
enum xs caps_ver(const struct caps_identity *ids, size_t n_ids, const char *const *features,
		 size_t n_features, char ver[CAPS_VER_BUF]);

/* The verification string of what a client answered to a disco#info query
 * (query: its <query xmlns='http://jabber.org/protocol/disco#info'/>), to
 * be compared with the 'ver' of its <c/> before its features are cached
 * under that hash (XEP-0115 5.4).  algo is the <c/>'s 'hash': "sha-1" or
 * "sha-256" (exact, lower case); ver gets the base64 digest and a NUL
 * (cap bytes: CAPS_VER_BUF for SHA-1, CAPS_VER_BUF_MAX for either).
 *
 * S is 5.1's string: the <identity/>s as in caps_ver (xml:lang is the
 * identity's own attribute; absent and empty are the same), the <feature/>
 * vars sorted, then the XEP-0128 forms -- <x xmlns='jabber:x:data'
 * type='result'/> children of the query -- sorted by FORM_TYPE, each as
 * "FORM_TYPE<", then its fields other than FORM_TYPE sorted by var, each
 * "var<" and its <value/>s' text sorted, each "value<".  Everything is used
 * as parsed: a value holding '<' or the text "&lt;" goes in as it is (5.1
 * forbids converting either).  Sorting is "i;octet" (strcmp).
 *
 * XS_INVAL (the answer must not be cached; 5.4 3.3-3.5 and what they
 * imply):
 *  - query is not a disco#info <query/>, or algo is neither name;
 *  - an <identity/> without category or type, or a <feature/> without var;
 *  - two identities with the same category, type and xml:lang (5.4 3.3
 *    names the four-tuple; XEP-0030 3.1 already forbids two names for one
 *    category/type/lang, and 5.1 does not order such a pair);
 *  - a feature listed twice (3.4);
 *  - two forms with the same FORM_TYPE (3.5; forms 3.6 then ignores
 *    count too), a FORM_TYPE field with <value/>s of different text
 *    (3.5; repeating the same value is allowed), a form with two FORM_TYPE
 *    fields or two fields with the same var (XEP-0004: a var is unique in
 *    its form, and 5.1 would not order them).
 * Left out of S, as 5.4 3.6 says ("ignore the form but continue"): a form
 * without a FORM_TYPE field (or whose FORM_TYPE has no <value/>) or whose
 * FORM_TYPE field is not type='hidden'.  Also left out: forms of another
 * type, fields without a var, and any other child element; so a caller
 * must take from the answer only what S covers.
 *
 * XS_LIMIT when cap is too small, XS_NOMEM.  O(n log n) in the size of
 * the query: each list is sorted once and duplicates are found as
 * neighbours; bounding the query's size is the caller's business. */
enum xs caps_ver_of_info(const struct xml_node *query, const char *algo, char *ver, size_t cap);

/* Calls cb (if not NULL) for each <feature/> of a disco#info query whose
 * var ends in "+notify" (XEP-0163 4.4), with the node name: the var
 * without the suffix, len bytes, not NUL-terminated; a var that is only
 * "+notify" names no node and is skipped.  Returns how many calls there
 * were (features are not deduplicated here: caps_ver_of_info refuses an
 * answer that repeats one). */
size_t caps_notify_nodes(const struct xml_node *query,
			 void (*cb)(void *arg, const char *node, size_t len), void *arg);

#endif
