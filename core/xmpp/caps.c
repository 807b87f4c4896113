/* XEP-0115 5.1 verification string (see caps.h). */
#include "core/xmpp/caps.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "core/base/base64.h"
#include "core/base/xbuf.h"
#include "core/xml/xml_node.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_XDATA "jabber:x:data"
#define NOTIFY_SUFFIX "+notify"

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* 5.1 sorts by category, then type, then xml:lang; the name only breaks
 * ties of identities that are refused anyway. */
static int cmp_identity(const void *a, const void *b)
{
	const struct caps_identity *x = *(const struct caps_identity *const *)a;
	const struct caps_identity *y = *(const struct caps_identity *const *)b;
	int c = strcmp(x->category, y->category);
	if (!c)
		c = strcmp(x->type, y->type);
	if (!c)
		c = strcmp(or_empty(x->lang), or_empty(y->lang));
	return c;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts n identity pointers in place; XS_INVAL when two share category,
 * type and lang. */
static enum xs sort_identities(const struct caps_identity **id, size_t n)
{
	/* qsort with no elements would be handed a base it must not read */
	if (n > 1)
		qsort(id, n, sizeof(*id), cmp_identity);
	for (size_t i = 1; i < n; i++)
		if (cmp_identity(&id[i - 1], &id[i]) == 0)
			return XS_INVAL;
	return XS_OK;
}

/* Sorts n strings in place; XS_INVAL when one is there twice. */
static enum xs sort_unique(const char **s, size_t n)
{
	if (n > 1)
		qsort(s, n, sizeof(*s), cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(s[i - 1], s[i]) == 0)
			return XS_INVAL;
	return XS_OK;
}

/* The identities and features of S, both sorted already. */
static enum xs append_ids_features(struct xbuf *s, const struct caps_identity *const *id,
				   size_t n_ids, const char *const *f, size_t n_features)
{
	enum xs st = XS_OK;
	for (size_t i = 0; i < n_ids && st == XS_OK; i++)
		st = xbuf_appendf(s, "%s/%s/%s/%s<", id[i]->category, id[i]->type,
				  or_empty(id[i]->lang), or_empty(id[i]->name));
	for (size_t i = 0; i < n_features && st == XS_OK; i++)
		st = xbuf_appendf(s, "%s<", f[i]);
	return st;
}

/* One "thing<" of S. */
static enum xs append_item(struct xbuf *s, const char *v)
{
	enum xs st = xbuf_append_str(s, v);
	return st == XS_OK ? xbuf_append(s, "<", 1) : st;
}

/* base64(algo(S)) into ver. */
static enum xs hash_s(const struct xbuf *s, const char *algo, char *ver, size_t cap)
{
	unsigned char digest[WC_SHA256_DIGEST_SIZE];
	size_t len;
	/* an empty S is hashed too (s->data is NULL then) */
	const unsigned char *in = (const unsigned char *)(s->data ? s->data : "");
	int rc;
	if (strcmp(algo, "sha-1") == 0) {
		len = WC_SHA_DIGEST_SIZE;
		rc = wc_ShaHash(in, (word32)s->len, digest);
	} else if (strcmp(algo, "sha-256") == 0) {
		len = WC_SHA256_DIGEST_SIZE;
		rc = wc_Sha256Hash(in, (word32)s->len, digest);
	} else {
		return XS_INVAL;
	}
	if (rc != 0)
		return XS_INVAL;
	return base64_encode(digest, len, ver, cap, NULL);
}

enum xs caps_ver(const struct caps_identity *ids, size_t n_ids, const char *const *features,
		 size_t n_features, char ver[CAPS_VER_BUF])
{
	/* sorted copies of the pointers; +1: never malloc(0) */
	const struct caps_identity **id = malloc((n_ids + 1) * sizeof(*id));
	const char **f = malloc((n_features + 1) * sizeof(*f));
	struct xbuf s = { 0 };
	enum xs st = XS_NOMEM;
	if (!id || !f)
		goto out;
	for (size_t i = 0; i < n_ids; i++)
		id[i] = &ids[i];
	for (size_t i = 0; i < n_features; i++)
		f[i] = features[i];
	st = sort_identities(id, n_ids);
	if (st == XS_OK)
		st = sort_unique(f, n_features);
	if (st == XS_OK)
		st = append_ids_features(&s, id, n_ids, f, n_features);
	if (st == XS_OK)
		st = hash_s(&s, "sha-1", ver, CAPS_VER_BUF);
out:
	xbuf_free(&s);
	free(id);
	free(f);
	return st;
}

/* ---- a client's disco#info answer ---- */

static bool is_elem(const struct xml_node *n, const char *name, const char *ns)
{
	return strcmp(n->name, name) == 0 && strcmp(n->ns, ns) == 0;
}

/* An extended-information form of XEP-0128. */
static bool is_result_form(const struct xml_node *n)
{
	const char *type = xml_node_attr(n, "type");
	return is_elem(n, "x", NS_XDATA) && type && strcmp(type, "result") == 0;
}

struct info_field {
	const char *var;
	const char **vals;      /* into the answer's vals array */
	size_t n_vals;
	const struct xml_node *elem;
};

struct info_form {
	const char *form_type;  /* NULL: no FORM_TYPE value (ignored form) */
	bool hidden;            /* its FORM_TYPE field is type='hidden' */
	struct info_field *fields;
	size_t n_fields;
};

static int cmp_field(const void *a, const void *b)
{
	return strcmp(((const struct info_field *)a)->var, ((const struct info_field *)b)->var);
}

/* By FORM_TYPE; the forms without one last. */
static int cmp_form(const void *a, const void *b)
{
	const struct info_form *x = a, *y = b;
	if (!x->form_type || !y->form_type)
		return (x->form_type == NULL) - (y->form_type == NULL);
	return strcmp(x->form_type, y->form_type);
}

/* Everything of the answer that S is made of, in flat arrays: each form's
 * fields are a run of `fields`, each field's values a run of `vals`. */
struct info {
	size_t n_ids, n_feats, n_forms, n_fields, n_vals;
	struct caps_identity *ids;
	const struct caps_identity **idp;
	const char **feats;
	struct info_form *forms;
	struct info_field *fields;
	char **text;            /* the values' text, owned (xml_node_text) */
	size_t n_text;
};

static void info_free(struct info *in)
{
	for (size_t i = 0; i < in->n_text; i++)
		free(in->text[i]);
	free(in->text);
	free(in->ids);
	free(in->idp);
	free(in->feats);
	free(in->forms);
	free(in->fields);
}

/* How much of each there is, to allocate once. */
static void info_count(const struct xml_node *query, struct info *in)
{
	for (const struct xml_node *c = xml_node_first_elem(query); c; c = xml_node_next_elem(c)) {
		if (is_elem(c, "identity", NS_DISCO_INFO)) {
			in->n_ids++;
		} else if (is_elem(c, "feature", NS_DISCO_INFO)) {
			in->n_feats++;
		} else if (is_result_form(c)) {
			in->n_forms++;
			for (const struct xml_node *f = xml_node_first_elem(c); f;
			     f = xml_node_next_elem(f)) {
				if (!is_elem(f, "field", NS_XDATA))
					continue;
				in->n_fields++;
				for (const struct xml_node *v = xml_node_first_elem(f); v;
				     v = xml_node_next_elem(v))
					if (is_elem(v, "value", NS_XDATA))
						in->n_vals++;
			}
		}
	}
}

/* The fields (with a var) of form element x and their values' text. */
static enum xs read_form(const struct xml_node *x, struct info *in, struct info_form *form)
{
	form->fields = in->fields + in->n_fields;
	form->n_fields = 0;
	for (const struct xml_node *f = xml_node_first_elem(x); f; f = xml_node_next_elem(f)) {
		const char *var = xml_node_attr(f, "var");
		if (!is_elem(f, "field", NS_XDATA) || !var)
			continue;
		struct info_field *fld = &form->fields[form->n_fields++];
		in->n_fields++;
		fld->var = var;
		fld->elem = f;
		fld->vals = (const char **)in->text + in->n_text;
		fld->n_vals = 0;
		for (const struct xml_node *v = xml_node_first_elem(f); v; v = xml_node_next_elem(v)) {
			if (!is_elem(v, "value", NS_XDATA))
				continue;
			char *t = xml_node_text(v);
			if (!t)
				return XS_NOMEM;
			in->text[in->n_text++] = t;
			fld->n_vals++;
		}
	}
	return XS_OK;
}

/* 5.4 3.5 and 3.6 for one form: its FORM_TYPE. */
static enum xs form_type_of(struct info_form *form)
{
	const struct info_field *ft = NULL;
	for (size_t i = 0; i < form->n_fields; i++) {
		if (strcmp(form->fields[i].var, "FORM_TYPE") != 0)
			continue;
		if (ft)
			return XS_INVAL;        /* two FORM_TYPE fields */
		ft = &form->fields[i];
	}
	form->form_type = NULL;
	form->hidden = false;
	if (!ft || ft->n_vals == 0)
		return XS_OK;                   /* ignored (3.6) */
	for (size_t i = 1; i < ft->n_vals; i++)
		if (strcmp(ft->vals[i], ft->vals[0]) != 0)
			return XS_INVAL;        /* 3.5 */
	const char *type = xml_node_attr(ft->elem, "type");
	form->form_type = ft->vals[0];
	form->hidden = type && strcmp(type, "hidden") == 0;
	return XS_OK;
}

/* One form's part of S: "FORM_TYPE<" and its other fields. */
static enum xs append_form(struct xbuf *s, struct info_form *form)
{
	if (form->n_fields > 1)
		qsort(form->fields, form->n_fields, sizeof(*form->fields), cmp_field);
	for (size_t i = 1; i < form->n_fields; i++)
		if (strcmp(form->fields[i - 1].var, form->fields[i].var) == 0)
			return XS_INVAL;        /* XEP-0004: one field per var */
	enum xs st = append_item(s, form->form_type);
	for (size_t i = 0; i < form->n_fields && st == XS_OK; i++) {
		struct info_field *fld = &form->fields[i];
		if (strcmp(fld->var, "FORM_TYPE") == 0)
			continue;
		if (fld->n_vals > 1)
			qsort(fld->vals, fld->n_vals, sizeof(*fld->vals), cmp_str);
		st = append_item(s, fld->var);
		for (size_t j = 0; j < fld->n_vals && st == XS_OK; j++)
			st = append_item(s, fld->vals[j]);
	}
	return st;
}

static enum xs info_read(const struct xml_node *query, struct info *in)
{
	info_count(query, in);
	/* +1: never malloc(0) */
	in->ids = malloc((in->n_ids + 1) * sizeof(*in->ids));
	in->idp = malloc((in->n_ids + 1) * sizeof(*in->idp));
	in->feats = malloc((in->n_feats + 1) * sizeof(*in->feats));
	in->forms = malloc((in->n_forms + 1) * sizeof(*in->forms));
	in->fields = malloc((in->n_fields + 1) * sizeof(*in->fields));
	in->text = malloc((in->n_vals + 1) * sizeof(*in->text));
	if (!in->ids || !in->idp || !in->feats || !in->forms || !in->fields || !in->text)
		return XS_NOMEM;
	/* filled again below, now as far as they go */
	in->n_ids = in->n_feats = in->n_forms = in->n_fields = 0;
	for (const struct xml_node *c = xml_node_first_elem(query); c; c = xml_node_next_elem(c)) {
		if (is_elem(c, "identity", NS_DISCO_INFO)) {
			struct caps_identity *id = &in->ids[in->n_ids];
			id->category = xml_node_attr(c, "category");
			id->type = xml_node_attr(c, "type");
			id->lang = xml_node_attr_ns(c, XML_NODE_NS_XML, "lang");
			id->name = xml_node_attr(c, "name");
			if (!id->category || !id->type)
				return XS_INVAL;
			in->idp[in->n_ids] = id;
			in->n_ids++;
		} else if (is_elem(c, "feature", NS_DISCO_INFO)) {
			const char *var = xml_node_attr(c, "var");
			if (!var)
				return XS_INVAL;
			in->feats[in->n_feats++] = var;
		} else if (is_result_form(c)) {
			struct info_form *form = &in->forms[in->n_forms++];
			enum xs st = read_form(c, in, form);
			if (st == XS_OK)
				st = form_type_of(form);
			if (st != XS_OK)
				return st;
		}
	}
	return XS_OK;
}

enum xs caps_ver_of_info(const struct xml_node *query, const char *algo, char *ver, size_t cap)
{
	if (!query || query->type != XML_NODE_ELEM || !is_elem(query, "query", NS_DISCO_INFO) ||
	    !algo || (strcmp(algo, "sha-1") != 0 && strcmp(algo, "sha-256") != 0))
		return XS_INVAL;
	struct info in = { 0 };
	struct xbuf s = { 0 };
	enum xs st = info_read(query, &in);
	if (st == XS_OK)
		st = sort_identities(in.idp, in.n_ids);
	if (st == XS_OK)
		st = sort_unique(in.feats, in.n_feats);
	if (st == XS_OK && in.n_forms > 1)
		qsort(in.forms, in.n_forms, sizeof(*in.forms), cmp_form);
	/* 5.4 3.5: one form per FORM_TYPE, whether 3.6 ignores it or not */
	for (size_t i = 1; i < in.n_forms && st == XS_OK; i++)
		if (in.forms[i].form_type && cmp_form(&in.forms[i - 1], &in.forms[i]) == 0)
			st = XS_INVAL;
	if (st == XS_OK)
		st = append_ids_features(&s, in.idp, in.n_ids, in.feats, in.n_feats);
	for (size_t i = 0; i < in.n_forms && st == XS_OK; i++)
		if (in.forms[i].form_type && in.forms[i].hidden)
			st = append_form(&s, &in.forms[i]);
	if (st == XS_OK)
		st = hash_s(&s, algo, ver, cap);
	xbuf_free(&s);
	info_free(&in);
	return st;
}

size_t caps_notify_nodes(const struct xml_node *query,
			 void (*cb)(void *arg, const char *node, size_t len), void *arg)
{
	const size_t suffix = strlen(NOTIFY_SUFFIX);
	size_t n = 0;
	if (!query || query->type != XML_NODE_ELEM)
		return 0;
	for (const struct xml_node *c = xml_node_first_elem(query); c; c = xml_node_next_elem(c)) {
		const char *var = is_elem(c, "feature", NS_DISCO_INFO) ? xml_node_attr(c, "var") : NULL;
		size_t len = var ? strlen(var) : 0;
		if (len <= suffix || memcmp(var + len - suffix, NOTIFY_SUFFIX, suffix) != 0)
			continue;
		if (cb)
			cb(arg, var, len - suffix);
		n++;
	}
	return n;
}
