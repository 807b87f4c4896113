/* stanza_from_xml (stanza.h): a stanza stored as text (an offline message)
 * made routable again.  The text was written by this server, but it comes
 * back from disk, so it is parsed with the same expat stream parser and
 * limits as a peer's input would be. */
#include "core/xmpp/stanza.h"

#include <string.h>

#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"

/* The stored text is a jabber:client stanza without an xmlns of its own;
 * inside a stream header it parses as it was written. */
static const char header[] = "<stream:stream xmlns='jabber:client' "
			     "xmlns:stream='http://etherx.jabber.org/streams'>";

static int take_stanza(void *arg, struct xml_node *stanza)
{
	struct xml_node **out = arg;
	if (*out) {
		xml_node_free(stanza);
		return 1; /* one stanza only */
	}
	*out = stanza;
	return 0;
}

struct stanza *stanza_from_xml(const char *xml, size_t len, size_t max_size)
{
	struct xml_stream_limits lim = { .max_stanza_size = max_size, .max_depth = 64,
					 .max_attrs = 256, .max_elements = 100000 };
	struct xml_stream_cb cb = { .stanza = take_stanza };
	struct xml_node *tree = NULL;
	struct xml_stream *s = xml_stream_new(&lim, &cb, &tree);
	if (!s)
		return NULL;
	enum xml_stream_err e = xml_stream_feed(s, header, sizeof(header) - 1);
	if (e == XML_STREAM_OK)
		e = xml_stream_feed(s, xml, len);
	xml_stream_free(s);
	if (e != XML_STREAM_OK && e != XML_STREAM_STOPPED) {
		xml_node_free(tree);
		return NULL;
	}
	return tree ? stanza_freeze(tree) : NULL;
}
