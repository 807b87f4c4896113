/* Unit tests for core/xml/xml_node.c, core/xml/xml_write.c and core/base/xbuf.c: the
 * attribute and child API (replace, delete, order, namespaces, text
 * merging), deep copies, iterative free/copy/write of a very deep tree,
 * serializer escaping and namespace declarations, and the buffer's
 * consume/reset/free contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_write.h"

#define NS_CLIENT "jabber:client"

static struct xbuf write_out;

/* Serializes into a buffer that lives until the next call, for comparisons. */
static char *write_str(const struct xml_node *n, const char *parent_ns)
{
	struct xbuf *o = &write_out;
	xbuf_free(o);
	assert_int_equal(xml_write(n, parent_ns, o), XS_OK);
	return o->data ? o->data : "";
}

static void test_xbuf(void **state)
{
	struct xbuf b = { 0 };

	assert_int_equal(xbuf_append_str(&b, "hello"), XS_OK);
	assert_int_equal(xbuf_appendf(&b, " %d %s", 42, "world"), XS_OK);
	assert_string_equal(b.data, "hello 42 world");
	assert_int_equal(b.len, 14);
	assert_true(b.cap > b.len);

	/* a long formatted string takes the second path */
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(xbuf_appendf(&b, "[%s]", big), XS_OK);
	assert_int_equal(b.len, 14 + 1001);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(b.data[b.len - 1], ']');

	xbuf_consume(&b, 6);
	assert_int_equal(memcmp(b.data, "42 world[", 9), 0);
	assert_int_equal(b.len, 8 + 1001);
	/* draining frees the storage: idle connections hold no buffers */
	xbuf_consume(&b, b.len);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.len, 0);
	xbuf_consume(&b, 10);
	assert_null(b.data);

	assert_int_equal(xbuf_append(&b, "abc", 3), XS_OK);
	xbuf_reset(&b);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(xbuf_append(&b, "\0x", 2), XS_OK);
	assert_int_equal(b.len, 2);
	xbuf_free(&b);
	assert_null(b.data);
	xbuf_free(&b);

	/* growth over many small appends */
	for (int i = 0; i < 10000; i++)
		assert_int_equal(xbuf_append(&b, "0123456789", 10), XS_OK);
	assert_int_equal(b.len, 100000);
	assert_int_equal(b.data[99999], '9');
	xbuf_free(&b);
}

static void test_xbuf_escape(void **state)
{
	struct xbuf b = { 0 };
	const char in[] = "a&b<c>d\"e'f\rg\nh\ti\x01j\x7fk";

	assert_int_equal(xbuf_append_escaped(&b, in, sizeof(in) - 1), XS_OK);
	assert_string_equal(b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f&#13;g\nh\ti\xef\xbf\xbdj\x7fk");
	xbuf_free(&b);
	assert_int_equal(xbuf_append_escaped_attr(&b, in, sizeof(in) - 1), XS_OK);
	assert_string_equal(b.data,
			    "a&amp;b&lt;c&gt;d&quot;e&apos;f&#13;g&#10;h&#9;i\xef\xbf\xbdj\x7fk");
	xbuf_free(&b);
	/* a NUL inside counted input is a control character too */
	assert_int_equal(xbuf_append_escaped(&b, "a\0b", 3), XS_OK);
	assert_string_equal(b.data, "a\xef\xbf\xbd" "b");
	xbuf_free(&b);
	assert_int_equal(xbuf_append_escaped(&b, "plain", 5), XS_OK);
	assert_string_equal(b.data, "plain");
	xbuf_free(&b);
}

/* Every byte value, in both modes, against the rules spelled out in
 * xbuf.h (the escapers are table-driven; this checks the tables), inside
 * a longer run so that the copy-the-run path is exercised around it. */
static const char *escape_rule(unsigned char c, bool attr)
{
	static char same[2];
	switch (c) {
	case '&': return "&amp;";
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '"': return "&quot;";
	case '\'': return "&apos;";
	case '\r': return "&#13;";
	case '\n': return attr ? "&#10;" : "\n";
	case '\t': return attr ? "&#9;" : "\t";
	default:
		if (c < 0x20)
			return "\xef\xbf\xbd";
		same[0] = (char)c;
		same[1] = '\0';
		return same;
	}
}

static void test_xbuf_escape_every_byte(void **state)
{
	(void)state;
	for (int attr = 0; attr <= 1; attr++) {
		for (unsigned v = 0; v < 256; v++) {
			char in[3] = { 'x', (char)v, 'y' }, want[16];
			struct xbuf b = { 0 };

			snprintf(want, sizeof(want), "x%sy", escape_rule((unsigned char)v, attr));
			assert_int_equal(attr ? xbuf_append_escaped_attr(&b, in, 3) :
						xbuf_append_escaped(&b, in, 3),
					 XS_OK);
			assert_string_equal(b.data, want);
			xbuf_free(&b);
		}
	}
}

static void test_attrs(void **state)
{
	struct xml_node *n = xml_node_new_elem("message", NS_CLIENT);
	assert_non_null(n);
	assert_int_equal(n->type, XML_NODE_ELEM);
	assert_string_equal(n->name, "message");
	assert_string_equal(n->ns, NS_CLIENT);

	assert_null(xml_node_attr(n, "to"));
	assert_int_equal(xml_node_set_attr(n, "to", "a@b"), XS_OK);
	assert_int_equal(xml_node_set_attr(n, "id", "1"), XS_OK);
	assert_int_equal(xml_node_set_attr(n, "type", "chat"), XS_OK);
	assert_int_equal(xml_node_set_attr_ns(n, XML_NODE_NS_XML, "lang", "en"), XS_OK);
	assert_int_equal(xml_node_set_attr_ns(n, "urn:x", "to", "foreign"), XS_OK);
	assert_int_equal(n->n_attrs, 5);

	/* no-namespace lookups never see namespaced attributes */
	assert_string_equal(xml_node_attr(n, "to"), "a@b");
	assert_null(xml_node_attr(n, "lang"));
	assert_string_equal(xml_node_attr_ns(n, XML_NODE_NS_XML, "lang"), "en");
	assert_string_equal(xml_node_attr_ns(n, "urn:x", "to"), "foreign");
	assert_string_equal(xml_node_attr_ns(n, NULL, "to"), "a@b");
	assert_string_equal(xml_node_attr_ns(n, "", "to"), "a@b");
	assert_null(xml_node_attr_ns(n, "urn:y", "to"));

	/* replace keeps the position */
	assert_int_equal(xml_node_set_attr(n, "to", "c@d/r"), XS_OK);
	assert_int_equal(n->n_attrs, 5);
	assert_string_equal(n->attrs[0].name, "to");
	assert_string_equal(n->attrs[0].value, "c@d/r");
	assert_null(n->attrs[0].ns);
	assert_string_equal(n->attrs[3].ns, XML_NODE_NS_XML);

	/* delete keeps the order of the rest */
	xml_node_del_attr(n, "id");
	assert_int_equal(n->n_attrs, 4);
	assert_null(xml_node_attr(n, "id"));
	assert_string_equal(n->attrs[1].name, "type");
	xml_node_del_attr(n, "nonexistent");
	xml_node_del_attr(n, "lang"); /* the xml:lang one is namespaced */
	assert_int_equal(n->n_attrs, 4);
	xml_node_del_attr_ns(n, XML_NODE_NS_XML, "lang");
	assert_int_equal(n->n_attrs, 3);
	/* NULL value deletes */
	assert_int_equal(xml_node_set_attr(n, "type", NULL), XS_OK);
	assert_int_equal(n->n_attrs, 2);

	assert_string_equal(write_str(n, NS_CLIENT),
			    "<message to=\"c@d/r\" xmlns:a1=\"urn:x\" a1:to=\"foreign\"/>");

	/* growth past the implied capacities, with deletes in between */
	for (int i = 0; i < 40; i++) {
		char name[16], val[16];
		snprintf(name, sizeof(name), "a%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		assert_int_equal(xml_node_set_attr(n, name, val), XS_OK);
		if (i % 3 == 0) {
			snprintf(name, sizeof(name), "a%d", i / 2);
			xml_node_del_attr(n, name);
		}
	}
	for (int i = 0; i < 40; i++) {
		char name[16], val[16];
		snprintf(name, sizeof(name), "a%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		const char *v = xml_node_attr(n, name);
		if (v)
			assert_string_equal(v, val);
	}
	assert_string_equal(xml_node_attr(n, "a39"), "v39");
	while (n->n_attrs)
		xml_node_del_attr_ns(n, n->attrs[0].ns, n->attrs[0].name);
	assert_null(n->attrs);
	assert_int_equal(xml_node_set_attr(n, "x", "y"), XS_OK);
	assert_string_equal(write_str(n, NS_CLIENT), "<message x=\"y\"/>");
	xml_node_free(n);
}

static void test_children_and_text(void **state)
{
	struct xml_node *m = xml_node_new_elem("message", NS_CLIENT);
	assert_non_null(m);
	assert_int_equal(xml_node_add_text(m, "  ", 2), XS_OK);
	struct xml_node *body = xml_node_new_child(m, "body", NULL);
	assert_non_null(body);
	assert_string_equal(body->ns, NS_CLIENT);   /* inherited */
	assert_ptr_equal(body->parent, m);
	assert_int_equal(xml_node_add_text(body, "Hello", 5), XS_OK);
	assert_int_equal(xml_node_add_text(body, ", ", 2), XS_OK);
	assert_int_equal(xml_node_add_text(body, "", 0), XS_OK);
	assert_int_equal(xml_node_add_text(body, "world", 5), XS_OK);
	/* merged into one text node */
	assert_ptr_equal(body->first_child, body->last_child);
	assert_int_equal(body->first_child->type, XML_NODE_TEXT);
	assert_int_equal(body->first_child->text_len, 12);
	assert_string_equal(body->first_child->text, "Hello, world");

	struct xml_node *x = xml_node_new_child(m, "x", "urn:x");
	assert_int_equal(xml_node_add_text(m, "tail", 4), XS_OK);
	struct xml_node *body2 = xml_node_new_child(m, "body", NULL);
	xml_node_set_attr_ns(body2, XML_NODE_NS_XML, "lang", "de");
	assert_int_equal(xml_node_add_text(body2, "Hallo", 5), XS_OK);

	/* lookups skip text nodes */
	assert_ptr_equal(xml_node_first_elem(m), body);
	assert_ptr_equal(xml_node_next_elem(body), x);
	assert_ptr_equal(xml_node_next_elem(x), body2);
	assert_null(xml_node_next_elem(body2));
	assert_ptr_equal(xml_node_child(m, "body", NS_CLIENT), body);
	assert_ptr_equal(xml_node_child(m, "x", NULL), x);
	assert_null(xml_node_child(m, "x", NS_CLIENT));
	assert_ptr_equal(xml_node_child(m, NULL, "urn:x"), x);
	assert_null(xml_node_child(m, "nope", NULL));
	assert_null(xml_node_first_elem(body));

	char *t = xml_node_text(m);
	assert_string_equal(t, "  tail");
	free(t);
	t = xml_node_text(body);
	assert_string_equal(t, "Hello, world");
	free(t);
	t = xml_node_text(x);
	assert_string_equal(t, "");
	free(t);

	assert_string_equal(write_str(m, NS_CLIENT),
			    "<message>  <body>Hello, world</body><x xmlns=\"urn:x\"/>tail"
			    "<body xml:lang=\"de\">Hallo</body></message>");

	/* freeing a linked child unlinks it */
	xml_node_free(x);
	assert_ptr_equal(xml_node_next_elem(body), body2);
	xml_node_free(body2);
	assert_ptr_equal(m->last_child->type == XML_NODE_TEXT ? m->last_child : NULL,
			 m->last_child);
	assert_string_equal(write_str(m, NS_CLIENT), "<message>  <body>Hello, world</body>tail</message>");
	xml_node_unlink(body);
	assert_null(body->parent);
	assert_string_equal(write_str(m, NS_CLIENT), "<message>  tail</message>");
	xml_node_add_child(m, body);
	assert_string_equal(write_str(m, NS_CLIENT),
			    "<message>  tail<body>Hello, world</body></message>");
	xml_node_free(m);
}

static void test_copy(void **state)
{
	struct xml_node *iq = xml_node_new_elem("iq", NS_CLIENT);
	xml_node_set_attr(iq, "type", "get");
	xml_node_set_attr_ns(iq, XML_NODE_NS_XML, "lang", "en");
	struct xml_node *q = xml_node_new_child(iq, "query", "jabber:iq:roster");
	struct xml_node *item = xml_node_new_child(q, "item", NULL);
	xml_node_set_attr(item, "jid", "a@b");
	xml_node_add_text(item, "x", 1);
	xml_node_add_text(item, "y", 1);
	xml_node_new_child(q, "item", NULL);
	xml_node_add_text(iq, "t", 1);

	const char *want = "<iq type=\"get\" xml:lang=\"en\"><query xmlns=\"jabber:iq:roster\">"
			   "<item jid=\"a@b\">xy</item><item/></query>t</iq>";
	assert_string_equal(write_str(iq, NS_CLIENT), want);
	struct xml_node *c = xml_node_copy(iq);
	assert_non_null(c);
	assert_null(c->parent);
	assert_string_equal(write_str(c, NS_CLIENT), want);

	/* independent of the original */
	xml_node_set_attr(iq, "type", "set");
	xml_node_add_text(item, "z", 1);
	xml_node_free(q);
	assert_string_equal(write_str(c, NS_CLIENT), want);
	xml_node_free(iq);

	/* copy of a subtree, and of a text node */
	struct xml_node *cq = xml_node_copy(xml_node_first_elem(c));
	assert_string_equal(write_str(cq, NS_CLIENT),
			    "<query xmlns=\"jabber:iq:roster\"><item jid=\"a@b\">xy</item><item/></query>");
	struct xml_node *ct = xml_node_copy(c->last_child);
	assert_int_equal(ct->type, XML_NODE_TEXT);
	assert_string_equal(ct->text, "t");
	xml_node_free(ct);
	xml_node_free(cq);
	xml_node_free(c);
}

static void test_write_namespaces(void **state)
{
	struct xml_node *m = xml_node_new_elem("message", NS_CLIENT);
	struct xml_node *x = xml_node_new_child(m, "x", "urn:x");
	struct xml_node *y = xml_node_new_child(x, "y", "");
	struct xml_node *z = xml_node_new_child(y, "z", NS_CLIENT);
	xml_node_new_child(z, "w", NULL);

	/* top level carries no xmlns when it matches the stream's */
	assert_string_equal(write_str(m, NS_CLIENT),
			    "<message><x xmlns=\"urn:x\"><y xmlns=\"\"><z xmlns=\"jabber:client\">"
			    "<w/></z></y></x></message>");
	assert_string_equal(write_str(m, "jabber:server"),
			    "<message xmlns=\"jabber:client\"><x xmlns=\"urn:x\"><y xmlns=\"\">"
			    "<z xmlns=\"jabber:client\"><w/></z></y></x></message>");
	assert_string_equal(write_str(y, NULL), "<y><z xmlns=\"jabber:client\"><w/></z></y>");
	assert_string_equal(write_str(y, ""), "<y><z xmlns=\"jabber:client\"><w/></z></y>");

	/* namespaced attributes: one declaration per URI on the element */
	xml_node_set_attr_ns(x, "urn:p", "a", "1");
	xml_node_set_attr(x, "plain", "2");
	xml_node_set_attr_ns(x, "urn:q", "a", "3");
	xml_node_set_attr_ns(x, "urn:p", "b", "4");
	xml_node_set_attr_ns(x, XML_NODE_NS_XML, "lang", "fr");
	xml_node_set_attr_ns(z, "urn:q", "c", "5");
	assert_string_equal(write_str(x, NS_CLIENT),
			    "<x xmlns=\"urn:x\" xmlns:a0=\"urn:p\" a0:a=\"1\" plain=\"2\" "
			    "xmlns:a2=\"urn:q\" a2:a=\"3\" a0:b=\"4\" xml:lang=\"fr\">"
			    "<y xmlns=\"\"><z xmlns=\"jabber:client\" xmlns:a0=\"urn:q\" a0:c=\"5\">"
			    "<w/></z></y></x>");

	/* escaping of text, attribute values and namespace URIs */
	struct xml_node *b = xml_node_new_elem("body", "urn:a&b\"c");
	xml_node_set_attr(b, "v", "<'\"&>\t\n\r");
	xml_node_add_text(b, "<'\"&>\t\n\r]]>", 11);
	assert_string_equal(write_str(b, NULL),
			    "<body xmlns=\"urn:a&amp;b&quot;c\" v=\"&lt;&apos;&quot;&amp;&gt;&#9;&#10;&#13;\">"
			    "&lt;&apos;&quot;&amp;&gt;\t\n&#13;]]&gt;</body>");
	xml_node_free(b);

	/* a text node alone */
	struct xml_node *t = xml_node_new_text("a<b", 3);
	assert_string_equal(write_str(t, NS_CLIENT), "a&lt;b");
	xml_node_free(t);
	xml_node_free(m);
}

static void test_write_refuses(void **state)
{
	struct xbuf out = { 0 };
	struct xml_node *n = xml_node_new_elem("x", "");

	xml_node_set_attr(n, "xmlns", "urn:evil");
	assert_int_equal(xml_write(n, "", &out), XS_INVAL);
	xml_node_del_attr(n, "xmlns");
	xml_node_set_attr_ns(n, "http://www.w3.org/2000/xmlns/", "p", "urn:evil");
	assert_int_equal(xml_write(n, "", &out), XS_INVAL);
	xml_node_del_attr_ns(n, "http://www.w3.org/2000/xmlns/", "p");
	xml_node_set_attr(n, "a b", "1");
	assert_int_equal(xml_write(n, "", &out), XS_INVAL);
	xml_node_del_attr(n, "a b");
	xml_node_set_attr(n, "p:q", "1");
	assert_int_equal(xml_write(n, "", &out), XS_INVAL);
	xml_node_del_attr(n, "p:q");
	struct xml_node *bad = xml_node_new_child(n, "a><script", NULL);
	assert_int_equal(xml_write(n, "", &out), XS_INVAL);
	xml_node_free(bad);
	xbuf_free(&out);
	assert_int_equal(xml_write(n, "", &out), XS_OK);
	assert_string_equal(out.data, "<x/>");
	xbuf_free(&out);
	xml_node_free(n);
}

/* Free, copy and write walk the tree without recursion. */
static void test_deep_tree(void **state)
{
	enum { DEPTH = 200000 };
	struct xml_node *root = xml_node_new_elem("a", "");
	struct xml_node *n = root;

	for (int i = 0; i < DEPTH; i++) {
		n = xml_node_new_child(n, "a", NULL);
		assert_non_null(n);
		if (i % 1000 == 0)
			xml_node_add_text(n, "t", 1);
	}
	struct xml_node *c = xml_node_copy(root);
	assert_non_null(c);
	struct xbuf o1 = { 0 }, o2 = { 0 };
	assert_int_equal(xml_write(root, "", &o1), XS_OK);
	assert_int_equal(xml_write(c, "", &o2), XS_OK);
	assert_int_equal(o1.len, o2.len);
	assert_int_equal(memcmp(o1.data, o2.data, o1.len), 0);
	/* <a>...</a> around each, <a/> innermost, one 't' per 1000 */
	assert_int_equal(o1.len, 7 * (size_t)DEPTH + 4 + DEPTH / 1000);
	xbuf_free(&o1);
	xbuf_free(&o2);
	xml_node_free(root);
	xml_node_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xbuf),
		cmocka_unit_test(test_xbuf_escape),
		cmocka_unit_test(test_xbuf_escape_every_byte),
		cmocka_unit_test(test_attrs),
		cmocka_unit_test(test_children_and_text),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_write_namespaces),
		cmocka_unit_test(test_write_refuses),
		cmocka_unit_test(test_deep_tree),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xbuf_free(&write_out);
	return rc;
}
