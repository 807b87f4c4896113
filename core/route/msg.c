/* Allocation of inter-thread messages; see msg.h. */
#include "core/route/msg.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmpp/stanza.h"

struct msg *msg_new(enum msg_type type, const char *text)
{
	size_t tl = text ? strlen(text) : 0;
	struct msg *m = calloc(1, sizeof(*m) + tl + 1);
	if (!m)
		return NULL;
	m->type = type;
	if (tl)
		memcpy(m->data, text, tl);
	return m;
}

void msg_free(struct msg *m)
{
	if (!m)
		return;
	if (m->st)
		stanza_unref(m->st);
	free(m);
}

bool msg_ctl_reply(struct queue *q, int token, const char *text)
{
	struct msg *m = msg_new(MSG_CTL_REPLY, text);
	if (!m)
		return false;
	m->status = token;
	queue_push(q, &m->qnode);
	return true;
}
