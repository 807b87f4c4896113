/* libFuzzer target for core/http/bosh_body.c: the input is the body of one
 * BOSH request.  It is read twice: as libFuzzer hands it over, and from a
 * heap copy of exactly its size, so that ASan sees a read past the end.
 * Both readings must agree, field for field.
 *
 * A refusal must carry a reason and leave every other field zero.  An
 * accepted body must hold together: the children's range inside the
 * input, starting at a '<' and ending where "</" begins, empty exactly
 * when there are no children; every kept text NUL-terminated inside its
 * array; the numbers within their ranges. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http/bosh_body.h"

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_accepted(const char *in, size_t len, const struct bosh_body *b)
{
	if (b->error || !terminated(b->sid, sizeof(b->sid)) || !terminated(b->to, sizeof(b->to)) ||
	    !terminated(b->lang, sizeof(b->lang)) || !terminated(b->ver, sizeof(b->ver)) ||
	    !terminated(b->xmpp_version, sizeof(b->xmpp_version)))
		abort();
	if (b->has_rid ? b->rid < 1 || b->rid > BOSH_RID_MAX : b->rid != 0)
		abort();
	if (b->has_ack ? b->ack > BOSH_RID_MAX : b->ack != 0)
		abort();
	if (!b->has_sid && b->sid[0])
		abort();
	if (b->inner_off > len || b->inner_len > len - b->inner_off)
		abort();
	if ((b->children == 0) != (b->inner_len == 0))
		abort();
	if (b->inner_len == 0) {
		if (b->inner_off != 0)
			abort();
		return;
	}
	size_t end = b->inner_off + b->inner_len;
	if (in[b->inner_off] != '<' || len - end < 2 || in[end] != '<' || in[end + 1] != '/')
		abort();
}

static void check_refused(const struct bosh_body *b)
{
	if (!b->error || !b->error[0])
		abort();
	if (b->has_rid || b->has_ack || b->has_wait || b->has_hold || b->has_sid || b->rid ||
	    b->ack || b->wait || b->hold || b->sid[0] || b->to[0] || b->lang[0] || b->ver[0] ||
	    b->xmpp_version[0] || b->terminate || b->restart || b->inner_off || b->inner_len ||
	    b->children)
		abort();
}

static bool same(const struct bosh_body *a, const struct bosh_body *b)
{
	return a->has_rid == b->has_rid && a->has_ack == b->has_ack && a->has_wait == b->has_wait &&
	       a->has_hold == b->has_hold && a->has_sid == b->has_sid && a->rid == b->rid &&
	       a->ack == b->ack && a->wait == b->wait && a->hold == b->hold &&
	       strcmp(a->sid, b->sid) == 0 && strcmp(a->to, b->to) == 0 &&
	       strcmp(a->lang, b->lang) == 0 && strcmp(a->ver, b->ver) == 0 &&
	       strcmp(a->xmpp_version, b->xmpp_version) == 0 && a->terminate == b->terminate &&
	       a->restart == b->restart && a->inner_off == b->inner_off &&
	       a->inner_len == b->inner_len && a->children == b->children &&
	       (a->error == NULL) == (b->error == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bosh_body a, b;
	char *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);

	bool ok_a = bosh_body_parse((const char *)data, size, &a);
	bool ok_b = bosh_body_parse(copy, size, &b);
	if (ok_a != ok_b || !same(&a, &b))
		abort();
	if (ok_b)
		check_accepted(copy, size, &b);
	else
		check_refused(&b);
	free(copy);
	return 0;
}
