/* See register_form.h. */
#include "core/xmpp/register_form.h"

#include <string.h>

#include "core/xml/xml_node.h"

/* The text children of el into buf (cap bytes with the NUL); false when
 * it does not fit or el has child elements (a field is plain text). */
static bool field_text(const struct xml_node *el, char *buf, size_t cap)
{
	size_t n = 0;
	for (const struct xml_node *t = el->first_child; t; t = t->next) {
		if (t->type != XML_NODE_TEXT)
			return false;
		if (t->text_len >= cap - n)
			return false;
		memcpy(buf + n, t->text, t->text_len);
		n += t->text_len;
	}
	buf[n] = '\0';
	return true;
}

bool reg_form_parse(const struct xml_node *query, struct reg_form *f, enum stanza_cond *cond)
{
	const struct xml_node *user = NULL, *pass = NULL;
	bool remove = false;
	char raw[JID_PART_MAX + 1];

	memset(f, 0, sizeof(*f));
	*cond = SC_BAD_REQUEST;
	if (!query || strcmp(query->name, "query") != 0 || strcmp(query->ns, NS_REGISTER) != 0)
		return false;
	for (const struct xml_node *el = xml_node_first_elem(query); el; el = xml_node_next_elem(el)) {
		if (strcmp(el->ns, NS_REGISTER) != 0)
			continue; /* a data form or anything else: not read */
		const struct xml_node **slot = NULL;
		if (strcmp(el->name, "username") == 0)
			slot = &user;
		else if (strcmp(el->name, "password") == 0)
			slot = &pass;
		else if (strcmp(el->name, "remove") == 0)
			remove = true;
		if (slot && *slot)
			return false; /* one of each */
		if (slot)
			*slot = el;
	}
	/* XEP-0077 3.2: <remove/> alone says it; a username or password
	 * beside it is allowed and not needed (the account is the sender's) */
	if (remove) {
		f->what = REG_REMOVE;
		return true;
	}
	f->what = REG_SUBMIT;
	*cond = SC_NOT_ACCEPTABLE;
	if (!user || !pass || !field_text(user, raw, sizeof(raw)) ||
	    jid_local_prep(raw, f->username, sizeof(f->username)) != XS_OK)
		goto refuse;
	if (!field_text(pass, f->password, sizeof(f->password)) || !f->password[0] ||
	    !jid_utf8_is_valid(f->password, strlen(f->password)))
		goto refuse;
	return true;
refuse:
	explicit_bzero(f->password, sizeof(f->password));
	f->username[0] = '\0';
	return false;
}

void reg_form_wipe(struct xml_node *query)
{
	if (!query)
		return;
	for (struct xml_node *el = xml_node_first_elem(query); el; el = xml_node_next_elem(el)) {
		if (strcmp(el->name, "password") != 0)
			continue;
		for (struct xml_node *t = el->first_child; t; t = t->next)
			if (t->type == XML_NODE_TEXT && t->text)
				explicit_bzero(t->text, t->text_len);
	}
}
