/* Freezing, reference counting and error replies for routed stanzas. */
#include "core/xmpp/stanza.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_write.h"
#include "core/xmpp/ns.h"


enum stanza_kind stanza_kind_of(const char *name)
{
	if (strcmp(name, "message") == 0)
		return STANZA_MESSAGE;
	if (strcmp(name, "presence") == 0)
		return STANZA_PRESENCE;
	if (strcmp(name, "iq") == 0)
		return STANZA_IQ;
	return STANZA_OTHER;
}

/* The routing fields in one pass over the attributes (no namespace only,
 * like xml_node_attr: a foreign 'to' is never ours). */
static void pick_routing_attrs(struct stanza *st, const struct xml_node *tree)
{
	for (size_t i = 0; i < tree->n_attrs; i++) {
		const struct xml_attr *a = &tree->attrs[i];
		if (a->ns && *a->ns)
			continue;
		if (!strcmp(a->name, "to"))
			st->to = a->value;
		else if (!strcmp(a->name, "from"))
			st->from = a->value;
		else if (!strcmp(a->name, "type"))
			st->type = a->value;
		else if (!strcmp(a->name, "id"))
			st->id = a->value;
	}
}

/* A jemalloc size class (512) with the terminating NUL included. */
#define STANZA_INITIAL_BYTES 511
/* Unused bytes past which a frozen stanza's buffer is cut to size. */
#define STANZA_SHRINK_SLACK 256

struct stanza *stanza_freeze_around(struct xml_node *tree, const char *inner, size_t inner_len)
{
	struct stanza *st = calloc(1, sizeof(*st));
	struct xbuf out = { 0 };
	enum xs rc;
	if (!st)
		goto out_free_tree;
	/* Most stanzas serialize to a few hundred bytes: one allocation up
	 * front instead of four doublings from xbuf's 64 (~2,000 instructions
	 * per routed message in bench/instructions.sh). */
	if (xbuf_reserve(&out, inner ? inner_len + 256 : STANZA_INITIAL_BYTES) != XS_OK)
		goto out_free_st;
	if (inner)
		rc = xml_write_around(tree, NS_CLIENT, inner, inner_len, &out);
	else
		rc = xml_write(tree, NS_CLIENT, &out);
	if (rc != XS_OK)
		goto out_free_st;
	/* A small stanza does not keep the room reserved above: one held a
	 * long time (presence held for an inactive session, XEP-0352; an
	 * unacknowledged one in an SM queue) would otherwise cost 512 bytes
	 * where it needs 60.  (The presence the router keeps per available
	 * session is a slim copy, cut to size anyway.)  Only when the slack
	 * is large, so that most stanzas pay nothing. */
	if (out.cap - out.len > STANZA_SHRINK_SLACK) {
		char *fit = realloc(out.data, out.len + 1);
		if (fit) {
			out.data = fit;
			out.cap = out.len + 1;
		}
	}
	atomic_init(&st->refs, 1);
	st->tree = tree;
	st->kind = stanza_kind_of(tree->name);
	pick_routing_attrs(st, tree);
	st->bytes = out.data;
	st->len = out.len;
	return st;

out_free_st:
	xbuf_free(&out);
	free(st);
out_free_tree:
	xml_node_free(tree);
	return NULL;
}

struct stanza *stanza_freeze(struct xml_node *tree)
{
	return stanza_freeze_around(tree, NULL, 0);
}

struct stanza *stanza_freeze_appended(const struct stanza *st, struct xml_node *tree,
				      const struct xml_node *added)
{
	/* st's bytes are "<name attrs>content</name>" as xml_write_around
	 * wrote them: the first '>' ends the start tag ('>' in an attribute
	 * value is always written &gt;) and the last '<' begins the end tag;
	 * "<name attrs/>" has no content to reuse */
	const char *gt = memchr(st->bytes, '>', st->len);
	const char *lt = st->len ? memrchr(st->bytes, '<', st->len) : NULL;
	if (!gt || !lt || gt[-1] == '/' || lt <= gt || lt[1] != '/')
		return stanza_freeze(tree);
	size_t old = (size_t)(lt - gt - 1);
	struct xbuf inner = { 0 };
	if (xbuf_reserve(&inner, old + 128) != XS_OK ||
	    (old && xbuf_append(&inner, gt + 1, old) != XS_OK) ||
	    xml_write(added, tree->ns, &inner) != XS_OK) {
		xbuf_free(&inner);
		return stanza_freeze(tree);
	}
	struct stanza *out = stanza_freeze_around(tree, inner.data, inner.len);
	xbuf_free(&inner);
	return out;
}

/* Appends the NUL-terminated src at *p (NULL stays NULL). */
static const char *copy_field(char **p, const char *src)
{
	if (!src)
		return NULL;
	size_t n = strlen(src) + 1;
	char *d = memcpy(*p, src, n);
	*p += n;
	return d;
}

struct stanza *stanza_slim(const struct stanza *st)
{
	const char *f[4] = { st->to, st->from, st->type, st->id };
	size_t extra = 0;
	for (size_t i = 0; i < 4; i++)
		extra += f[i] ? strlen(f[i]) + 1 : 0;
	struct stanza *sl = malloc(sizeof(*sl) + st->len + 1 + extra);
	if (!sl)
		return NULL;
	char *p = (char *)(sl + 1);
	atomic_init(&sl->refs, 1);
	sl->kind = st->kind;
	sl->tree = NULL;
	sl->bytes = p;
	sl->len = st->len;
	memcpy(p, st->bytes, st->len);
	p[st->len] = '\0';
	p += st->len + 1;
	sl->to = copy_field(&p, st->to);
	sl->from = copy_field(&p, st->from);
	sl->type = copy_field(&p, st->type);
	sl->id = copy_field(&p, st->id);
	return sl;
}

const char *stanza_kind_name(enum stanza_kind k)
{
	switch (k) {
	case STANZA_MESSAGE:
		return "message";
	case STANZA_PRESENCE:
		return "presence";
	case STANZA_IQ:
		return "iq";
	default:
		return "stanza";
	}
}

struct stanza *stanza_ref(struct stanza *st)
{
	atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
	return st;
}

void stanza_unref(struct stanza *st)
{
	if (!st)
		return;
	/* acq_rel: the last owner must see every other owner's reads done. */
	if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1)
		return;
	xml_node_free(st->tree);
	if (st->bytes != (char *)(st + 1)) /* not a slim one's own block */
		free(st->bytes);
	free(st);
}

static const struct {
	const char *name;
	const char *type;
} cond_table[] = {
	[SC_BAD_REQUEST] = { "bad-request", "modify" },
	[SC_CONFLICT] = { "conflict", "cancel" },
	[SC_FEATURE_NOT_IMPLEMENTED] = { "feature-not-implemented", "cancel" },
	[SC_FORBIDDEN] = { "forbidden", "auth" },
	[SC_ITEM_NOT_FOUND] = { "item-not-found", "cancel" },
	[SC_JID_MALFORMED] = { "jid-malformed", "modify" },
	[SC_NOT_ACCEPTABLE] = { "not-acceptable", "modify" },
	[SC_NOT_ALLOWED] = { "not-allowed", "cancel" },
	[SC_NOT_AUTHORIZED] = { "not-authorized", "auth" },
	[SC_POLICY_VIOLATION] = { "policy-violation", "modify" },
	[SC_RECIPIENT_UNAVAILABLE] = { "recipient-unavailable", "wait" },
	[SC_REMOTE_SERVER_NOT_FOUND] = { "remote-server-not-found", "cancel" },
	[SC_REMOTE_SERVER_TIMEOUT] = { "remote-server-timeout", "wait" },
	[SC_RESOURCE_CONSTRAINT] = { "resource-constraint", "wait" },
	[SC_SERVICE_UNAVAILABLE] = { "service-unavailable", "cancel" },
	[SC_INTERNAL_SERVER_ERROR] = { "internal-server-error", "wait" },
	[SC_UNDEFINED_CONDITION] = { "undefined-condition", "cancel" },
};

const char *stanza_cond_name(enum stanza_cond c)
{
	return cond_table[c].name;
}

static struct stanza *error_reply(const struct xml_node *orig, const char *from,
				  enum stanza_cond cond, const char *text, const char *app_name,
				  const char *app_ns)
{
	const char *type = xml_node_attr(orig, "type");
	if (type && strcmp(type, "error") == 0)
		return NULL;
	struct xml_node *reply = xml_node_copy(orig);
	if (!reply)
		return NULL;
	const char *orig_to = xml_node_attr(orig, "to");
	const char *orig_from = xml_node_attr(orig, "from");
	const char *new_from = from ? from : orig_to;
	/* Copy first: the setters may free the strings we read from reply. */
	char *nf = new_from ? strdup(new_from) : NULL;
	char *nt = orig_from ? strdup(orig_from) : NULL;
	xml_node_del_attr(reply, "to");
	xml_node_del_attr(reply, "from");
	if (nt)
		xml_node_set_attr(reply, "to", nt);
	if (nf)
		xml_node_set_attr(reply, "from", nf);
	free(nf);
	free(nt);
	xml_node_set_attr(reply, "type", "error");
	struct xml_node *err = xml_node_new_child(reply, "error", NS_CLIENT);
	if (!err)
		goto fail;
	xml_node_set_attr(err, "type", cond_table[cond].type);
	if (!xml_node_new_child(err, cond_table[cond].name, NS_STANZAS))
		goto fail;
	if (text) {
		struct xml_node *t = xml_node_new_child(err, "text", NS_STANZAS);
		if (!t)
			goto fail;
		xml_node_set_attr_ns(t, "http://www.w3.org/XML/1998/namespace", "lang", "en");
		xml_node_add_text(t, text, strlen(text));
	}
	if (app_name && !xml_node_new_child(err, app_name, app_ns))
		goto fail;
	return stanza_freeze(reply);
fail:
	xml_node_free(reply);
	return NULL;
}

struct stanza *stanza_error_reply(const struct xml_node *orig, const char *from,
				  enum stanza_cond cond, const char *text)
{
	return error_reply(orig, from, cond, text, NULL, NULL);
}

struct stanza *stanza_error_reply_app(const struct xml_node *orig, const char *from,
				      enum stanza_cond cond, const char *app_name, const char *app_ns)
{
	return error_reply(orig, from, cond, NULL, app_name, app_ns);
}
