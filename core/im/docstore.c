/* See docstore.h. */
#include "core/im/docstore.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/xbuf.h"
#include "core/conf/cfg.h"
#include "core/im/account.h"
#include "core/store/store_thread.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_write.h"
#include "core/xmpp/jid.h"

struct doc_job {
	struct store_req req;   /* first: the store hands it back */
	struct stanza *st;
	char to[JID_BUF];
	bool own;
	docstore_got got;       /* NULL: a put */
	struct xbuf doc;        /* put: the serialized document */
};

static struct doc_job *job_new(struct im_iq *q, const char *kind, const char *key)
{
	struct doc_job *j = calloc(1, sizeof(*j));
	size_t tl = strlen(q->to);
	if (!j || tl >= sizeof(j->to) || strlen(kind) >= sizeof(j->req.data_kind) ||
	    strlen(key) >= sizeof(j->req.data_key) || !im_split_account(&j->req, q->to)) {
		free(j);
		return NULL;
	}
	memcpy(j->to, q->to, tl + 1);
	strcpy(j->req.data_kind, kind);
	strcpy(j->req.data_key, key);
	j->own = q->own;
	j->st = stanza_ref(q->st);
	return j;
}

static void job_free(struct doc_job *j)
{
	stanza_unref(j->st);
	xbuf_free(&j->doc);
	free(j->req.data);
	free(j);
}

static void submit(struct im_iq *q, const struct im_module *mod, struct doc_job *j)
{
	enum xs rc = im_store_submit(q->r, mod, &j->req, j->st->from);
	if (rc != XS_OK) {
		job_free(j);
		im_iq_error(q, rc == XS_LIMIT ? SC_RESOURCE_CONSTRAINT : SC_INTERNAL_SERVER_ERROR);
		return;
	}
	im_iq_park(q);
}

void docstore_get(struct im_iq *q, const struct im_module *mod, const char *kind,
		  const char *key, docstore_got got)
{
	struct doc_job *j = job_new(q, kind, key);
	if (!j) {
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->req.op = STORE_OP_DATA_GET;
	j->got = got;
	submit(q, mod, j);
}

void docstore_put(struct im_iq *q, const struct im_module *mod, const char *kind,
		  const char *key, const struct xml_node *doc, unsigned max_keys)
{
	struct doc_job *j = job_new(q, kind, key);
	if (!j || (doc && xml_write(doc, NS_CLIENT, &j->doc) != XS_OK)) {
		if (j)
			job_free(j);
		im_iq_error(q, SC_INTERNAL_SERVER_ERROR);
		return;
	}
	j->req.op = STORE_OP_DATA_PUT;
	j->req.xml = j->doc.data;
	j->req.xml_len = doc ? j->doc.len : 0;
	j->req.max_items = max_keys;
	submit(q, mod, j);
}

struct xml_node *docstore_parse(struct router *r, const char *xml, size_t len)
{
	struct stanza *st = stanza_from_xml(xml, len, im_cfg(r)->max_stanza_size * 2);
	if (!st)
		return NULL;
	struct xml_node *copy = xml_node_copy(st->tree);
	stanza_unref(st);
	return copy;
}

void docstore_done(struct router *r, struct store_req *req, bool cancelled)
{
	struct doc_job *j = (struct doc_job *)req;
	if (cancelled)
		goto out;
	if (j->got) {
		if (req->status == XS_NOTFOUND) {
			j->got(r, j->st, j->to, j->own, NULL);
		} else if (req->status != XS_OK) {
			LOG_WARN("%s of %s not read: %s", req->data_kind, j->to, xs_name(req->status));
			im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
		} else {
			struct xml_node *doc = docstore_parse(r, req->data, req->data_len);
			if (!doc) {
				LOG_ERR("%s of %s (%s) does not parse", req->data_kind, j->to,
					req->data_key);
				im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
			} else {
				j->got(r, j->st, j->to, j->own, doc);
			}
		}
		goto out;
	}
	if (req->status == XS_OK) {
		im_reply_result(r, j->st, j->own ? NULL : j->to, NULL);
	} else if (req->status == XS_LIMIT) {
		LOG_INFO("%s of %s: %u keys already stored: refused", req->data_kind, j->to,
			 req->max_items);
		im_reply_error(r, j->st, SC_NOT_ACCEPTABLE);
	} else {
		LOG_WARN("%s of %s not stored: %s", req->data_kind, j->to, xs_name(req->status));
		im_reply_error(r, j->st, SC_INTERNAL_SERVER_ERROR);
	}
out:
	job_free(j);
}
