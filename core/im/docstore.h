/* One XML document per account and key, read and written through the
 * storage thread: what XEP-0049 private XML (private.c) and XEP-0054
 * vcard-temp (vcard.c) share.  The iq is parked; the module's store_done
 * hands the request to docstore_done, which calls the module back. */
#ifndef XMPPD_IM_DOCSTORE_H
#define XMPPD_IM_DOCSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/route/im.h"

struct xml_node;

/* After a get: doc is the stored element (parsed back, owned by the
 * callee) or NULL when there is none; the callee answers st. */
typedef void (*docstore_got)(struct router *r, struct stanza *st, const char *to, bool own,
			     struct xml_node *doc);

/* Reads the document (kind, key) of the account q->to for q and calls got
 * with it; q is parked, or answered with an error. */
void docstore_get(struct im_iq *q, const struct im_module *mod, const char *kind,
		  const char *key, docstore_got got);
/* Stores doc (serialized; NULL deletes) as (kind, key) of the account
 * q->to, at most max_keys keys of that kind; q gets an empty result or
 * the error. */
void docstore_put(struct im_iq *q, const struct im_module *mod, const char *kind,
		  const char *key, const struct xml_node *doc, unsigned max_keys);
/* XML text the store kept back as an element (parsed with expat and the
 * stanza limits: it comes from disk), or NULL; the caller frees it. */
struct xml_node *docstore_parse(struct router *r, const char *xml, size_t len);
/* For the module's store_done. */
void docstore_done(struct router *r, struct store_req *req, bool cancelled);

#endif
