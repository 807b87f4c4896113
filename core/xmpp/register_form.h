/* XEP-0077 in-band registration: reading the client's <query/>.
 *
 * Pure functions, shared by the mux threads (registration before
 * authentication, mux/mux_register.c) and the router (password change and
 * cancellation after it, core/im/register.c), so that both refuse the same
 * names and passwords the same way.  Only the plain fields are read
 * (<username/>, <password/>, <remove/>); data forms are not offered. */
#ifndef XMPPD_REGISTER_FORM_H
#define XMPPD_REGISTER_FORM_H

#include <stdbool.h>

#include "core/xmpp/jid.h"
#include "core/xmpp/ns.h"
#include "core/xmpp/stanza.h"

struct xml_node;

/* Longest password taken, in bytes: what SASL PLAIN can carry back at
 * login (mux_sasl.c reads it into 1024 bytes), and bounded so that the
 * PBKDF2 input is too. */
#define REG_PASSWORD_MAX 1023

enum reg_request {
	REG_SUBMIT, /* username and password: create, or change the password */
	REG_REMOVE, /* <remove/>: cancel the registration */
};

struct reg_form {
	enum reg_request what;
	char username[JID_PART_MAX + 1]; /* Nodeprep'd (as SASL prepares an authcid) */
	char password[REG_PASSWORD_MAX + 1]; /* as sent; wipe it (explicit_bzero) after use */
};

/* Reads a set's <query xmlns='jabber:iq:register'/> into f.  False with
 * *cond for the client: bad-request for a payload that is not that query
 * or repeats a field, not-acceptable (XEP-0077 3.1) for a missing or empty
 * username or password, a username that is not a valid JID localpart, or
 * a password over REG_PASSWORD_MAX bytes or not UTF-8.  f->password is
 * wiped whatever the outcome unless true is returned. */
bool reg_form_parse(const struct xml_node *query, struct reg_form *f, enum stanza_cond *cond);

/* Wipes the text of the query's <password/> in place (the tree is about to
 * be freed; nothing of the password should linger in freed memory). */
void reg_form_wipe(struct xml_node *query);

#endif
