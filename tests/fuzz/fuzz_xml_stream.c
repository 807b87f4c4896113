/* libFuzzer target for core/xml/xml_stream.c: a stream with small limits takes
 * the input in up to four pieces whose split points come from the first
 * bytes of the data, so the fuzzer explores token boundaries as well as
 * content.  Each stanza is serialized (exercising xml_write.c and the tree)
 * and freed; a restart is tried when the input asks for one, and a sleep
 * (parser freed, header kept for replay) between pieces.  Where the
 * stream offers a stanza's content as received (xml_stream_stanza_inner),
 * that content with the tag written anew must parse back as exactly one
 * stanza in a plain jabber:client stream: content that leaned on a
 * declaration outside it would not, and the target aborts.
 *
 * The same pieces go a second time to a stream that borrows its parser from
 * a pool (xml_stream_use_pool), shared with a second stream that reads a
 * stanza of its own between the pieces: the stanzas, their content as
 * received, the error and its text (line and column) must be those of the
 * stream alone, or the target aborts.  ASan's leak check at exit covers the
 * parser's ownership rules, the pool's included. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/xbuf.h"
#include "core/xml/xml_node.h"
#include "core/xml/xml_stream.h"
#include "core/xml/xml_write.h"

static int on_open(void *arg, struct xml_node *header)
{
	return 0;
}

struct ctx {
	struct xml_stream *s;
	int n_stanzas;         /* of the re-parse */
	struct xbuf log;       /* each stanza serialized, then its content */
};

static int count_stanza(void *arg, struct xml_node *st)
{
	((struct ctx *)arg)->n_stanzas++;
	xml_node_free(st);
	return 0;
}

/* content + new tag, in a plain stream: one stanza, well-formed */
static void check_around(const struct xml_node *st, const char *inner, size_t len)
{
	static const struct xml_stream_cb cb = { .stanza = count_stanza };
	static const struct xml_stream_limits none = { 0 };
	struct xbuf doc = { 0 };
	struct ctx c = { 0 };

	xbuf_append_str(&doc, "<stream:stream xmlns='jabber:client' "
			      "xmlns:stream='http://etherx.jabber.org/streams'>");
	if (xml_write_around(st, "jabber:client", inner, len, &doc) == XS_OK) {
		c.s = xml_stream_new(&none, &cb, &c);
		if (c.s) {
			if (xml_stream_feed(c.s, doc.data, doc.len) != XML_STREAM_OK ||
			    c.n_stanzas != 1)
				abort();
			xml_stream_free(c.s);
		}
	}
	xbuf_free(&doc);
}

static int on_stanza(void *arg, struct xml_node *st)
{
	struct ctx *c = arg;
	struct xbuf out = { 0 };
	struct xml_node *copy = xml_node_copy(st);
	const char *inner;
	size_t inner_len;

	xml_write(st, "jabber:client", &out);
	if (out.data)
		xbuf_append(&c->log, out.data, out.len);
	xbuf_free(&out);
	if (xml_stream_stanza_inner(c->s, &inner, &inner_len)) {
		check_around(st, inner, inner_len);
		xbuf_append_str(&c->log, "\nINNER ");
		xbuf_append(&c->log, inner, inner_len);
	}
	xbuf_append_str(&c->log, "\n");
	xml_node_free(copy);
	/* a stanza named "stop" exercises the callback stop path */
	int stop = strcmp(st->name, "stop") == 0;
	xml_node_free(st);
	return stop;
}

/* Stops after an odd number of stanzas, as the server's callback always
 * does: both answers get exercised, the same way for every stream. */
static int on_close(void *arg)
{
	struct ctx *c = arg;
	int n = 0;
	for (size_t i = 0; i < c->log.len; i++)
		n += c->log.data[i] == '\n';
	return n % 2;
}

static const struct xml_stream_cb cb = {
	.stream_open = on_open,
	.stanza = on_stanza,
	.stream_close = on_close,
};
static const struct xml_stream_limits lim = {
	.max_stanza_size = 4096,
	.max_depth = 8,
	.max_attrs = 12,
};

struct outcome {
	enum xml_stream_err err;
	char err_text[256];
};

/* Feeds the pieces to a new stream (lending through pool if not NULL, with
 * `other` reading a stanza between pieces); its log ends up in c->log. */
static void run(const uint8_t *data, size_t size, const size_t *cuts, size_t n_cuts,
		struct xml_parser_pool *pool, struct ctx *other, struct ctx *c, struct outcome *o)
{
	struct xml_stream *s = xml_stream_new(&lim, &cb, c);
	o->err = XML_STREAM_OK;
	o->err_text[0] = '\0';
	if (!s)
		return;
	c->s = s;
	if (pool)
		xml_stream_use_pool(s, pool);
	size_t off = 0;
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t piece = i < n_cuts ? cuts[i] : size - off;
		if (piece > size - off)
			piece = size - off;
		enum xml_stream_err e = xml_stream_feed(s, (const char *)data + off, piece);
		off += piece;
		xml_stream_default_ns(s);
		snprintf(o->err_text, sizeof(o->err_text), "%s", xml_stream_err_text(s));
		o->err = e;
		if (e == XML_STREAM_STOPPED) {
			/* as after STARTTLS: restart and go on with the rest */
			if (xml_stream_reset(s) != XS_OK)
				break;
		} else if (e != XML_STREAM_OK) {
			break;
		}
		/* between pieces, try to sleep as an idle connection would: it
		 * succeeds only at a clean stanza boundary, and the next feed
		 * wakes the parser by replaying the header */
		xml_stream_sleep(s);
		if (other)
			xml_stream_feed(other->s, "<presence/>", 11);
	}
	xml_stream_free(s);
	c->s = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cuts[4];
	size_t n_cuts = 0;

	/* The first byte, if it is a control byte, picks up to three split
	 * points from the next bytes; otherwise the input goes in whole. */
	if (size > 0 && data[0] < 4) {
		size_t n = data[0];
		data++;
		size--;
		for (size_t i = 0; i < n && size > 0; i++) {
			cuts[n_cuts++] = data[0];
			data++;
			size--;
		}
	}

	struct ctx alone = { 0 }, pooled = { 0 }, other = { 0 };
	struct outcome oa, op;
	run(data, size, cuts, n_cuts, NULL, NULL, &alone, &oa);

	struct xml_parser_pool *pool = xml_parser_pool_new(1024);
	if (pool) {
		other.s = xml_stream_new(&lim, &cb, &other);
		if (other.s) {
			xml_stream_use_pool(other.s, pool);
			static const char hdr[] = "<stream:stream xmlns='jabber:client' "
				"xmlns:stream='http://etherx.jabber.org/streams'>";
			xml_stream_feed(other.s, hdr, sizeof(hdr) - 1);
			run(data, size, cuts, n_cuts, pool, &other, &pooled, &op);
			if (oa.err != op.err || strcmp(oa.err_text, op.err_text) != 0 ||
			    alone.log.len != pooled.log.len ||
			    (alone.log.len && memcmp(alone.log.data, pooled.log.data, alone.log.len))) {
				fprintf(stderr, "alone: %s (%s)\n%.*s\npooled: %s (%s)\n%.*s\n",
					xml_stream_err_name(oa.err), oa.err_text, (int)alone.log.len,
					alone.log.data ? alone.log.data : "",
					xml_stream_err_name(op.err), op.err_text, (int)pooled.log.len,
					pooled.log.data ? pooled.log.data : "");
				abort();
			}
			xml_stream_free(other.s);
		}
		xml_parser_pool_free(pool);
	}
	xbuf_free(&alone.log);
	xbuf_free(&pooled.log);
	xbuf_free(&other.log);
	return 0;
}
