/* XEP-0115 5.1 verification string (see caps.h). */
#include "core/xmpp/caps.h"

#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "core/base/base64.h"
#include "core/base/xbuf.h"

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* 5.1 sorts by category, then type, then xml:lang; the name only breaks
 * ties of identities that 5.4 rejects anyway. */
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
	/* qsort with no elements would be handed a base it must not read */
	if (n_ids > 1)
		qsort(id, n_ids, sizeof(*id), cmp_identity);
	if (n_features > 1)
		qsort(f, n_features, sizeof(*f), cmp_str);
	st = XS_INVAL;
	for (size_t i = 1; i < n_ids; i++)
		if (cmp_identity(&id[i - 1], &id[i]) == 0)
			goto out;
	for (size_t i = 1; i < n_features; i++)
		if (strcmp(f[i - 1], f[i]) == 0)
			goto out;
	st = XS_OK;
	for (size_t i = 0; i < n_ids && st == XS_OK; i++)
		st = xbuf_appendf(&s, "%s/%s/%s/%s<", id[i]->category, id[i]->type,
				  or_empty(id[i]->lang), or_empty(id[i]->name));
	for (size_t i = 0; i < n_features && st == XS_OK; i++)
		st = xbuf_appendf(&s, "%s<", f[i]);
	if (st != XS_OK)
		goto out;
	unsigned char digest[WC_SHA_DIGEST_SIZE];
	/* an empty S is hashed too (s.data is NULL then) */
	if (wc_ShaHash((const unsigned char *)(s.data ? s.data : ""), (word32)s.len, digest) != 0) {
		st = XS_INVAL;
		goto out;
	}
	st = base64_encode(digest, sizeof(digest), ver, CAPS_VER_BUF, NULL);
out:
	xbuf_free(&s);
	free(id);
	free(f);
	return st;
}
