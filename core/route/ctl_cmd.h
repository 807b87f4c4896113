/* The commands of the control socket (core/ctl/ctl_server.c), one line
 * each, parsed by one pure function that both the control thread (to
 * refuse a bad line at once and to know where it goes) and the router
 * (which is handed the line itself, MSG_CTL) use:
 *
 *   sessions
 *   kick JID                     a full JID, or every session of a bare one
 *   roster JID list
 *   roster JID add CONTACT [NAME]   NAME: the rest of the line
 *   roster JID remove CONTACT
 *
 * JIDs come back normalised; JID must be an account of a hosted domain,
 * CONTACT any bare JID.  Answers start with a line "ok" or "error: why". */
#ifndef XMPPD_CTL_CMD_H
#define XMPPD_CTL_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/xmpp/jid.h"

struct cfg;

/* The longest command line taken, newline included. */
#define CTL_LINE_MAX 4096

enum ctl_op {
	CTL_SESSIONS,
	CTL_S2S,      /* the server-to-server links (each mux lists its own) */
	CTL_KICK,
	CTL_ROSTER_LIST,
	CTL_ROSTER_ADD,
	CTL_ROSTER_REMOVE,
};

struct ctl_cmd {
	enum ctl_op op;
	char jid[JID_BUF];     /* kick: full or bare; roster: bare */
	size_t bare_len;       /* of jid */
	char contact[JID_BUF]; /* roster add, remove: bare */
	char name[1024];       /* roster add: "" when none */
};

/* line without its newline.  False with the reason in err. */
bool ctl_parse(const struct cfg *cfg, const char *line, struct ctl_cmd *cmd, char *err,
	       size_t errlen);

#endif
