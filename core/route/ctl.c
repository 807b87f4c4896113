/* The router's side of the control socket (MSG_CTL from core/ctl): kick
 * and the roster commands.  It runs on the holder of the baton like any
 * message, so a kick removes the sessions from the same tables routing
 * uses, and a roster change goes through the same storage request, cache
 * update and pushes as a client's roster set (core/im/roster.c).
 * "sessions" is not here: what it lists (listener, TLS, sleep) belongs to
 * the mux threads, which answer it themselves (mux/mux_ctl.c). */
#include <stdio.h>
#include <string.h>

#include "core/base/log.h"
#include "core/im/roster.h"
#include "core/route/ctl_cmd.h"
#include "core/route/router_priv.h"

/* RFC 6120 4.9.3.14: the administrator's decision is local policy. */
#define KICK_COND "policy-violation kicked by the server administrator"

static void reply(struct msg *m, const char *text)
{
	msg_ctl_reply(m->ptr, m->status, text);
}

static void kick_cmd(struct router *r, struct msg *m, const struct ctl_cmd *cmd)
{
	char out[JID_BUF + 64];
	unsigned n = 0;
	bool full = cmd->jid[cmd->bare_len] != '\0';
	if (full) {
		struct rsess *s = rt_find_full(r, cmd->jid);
		if (s && rt_close_session(r, s, KICK_COND))
			n = 1;
	} else {
		struct ruser *u = rt_find_user(r, cmd->jid);
		/* u may go with its last session: not touched after that */
		while (u && u->sessions) {
			bool last = !u->sessions->next_in_user;
			if (!rt_close_session(r, u->sessions, KICK_COND))
				break;
			n++;
			if (last)
				break;
		}
	}
	if (n) {
		LOG_INFO("control: kicked %u session(s) of %s", n, cmd->jid);
		snprintf(out, sizeof(out), "ok\nkicked %u session(s) of %s\n", n, cmd->jid);
	} else {
		snprintf(out, sizeof(out), "error: no session of %s\n", cmd->jid);
	}
	reply(m, out);
}

void rt_ctl(struct router *r, struct msg *m)
{
	struct ctl_cmd cmd;
	char err[512];
	if (!ctl_parse(r->cfg, m->data, &cmd, err, sizeof(err))) {
		/* the control thread parsed it already: only a bug gets here */
		char out[600];
		snprintf(out, sizeof(out), "error: %s\n", err);
		reply(m, out);
		return;
	}
	switch (cmd.op) {
	case CTL_KICK:
		kick_cmd(r, m, &cmd);
		break;
	case CTL_ROSTER_LIST:
	case CTL_ROSTER_ADD:
	case CTL_ROSTER_REMOVE:
		roster_ctl(r, &cmd, m->ptr, m->status);
		break;
	default:
		reply(m, "error: not a command for the router\n");
		break;
	}
}
