/* Parsing the control socket's command lines (see ctl_cmd.h). */
#include "core/route/ctl_cmd.h"

#include <stdio.h>
#include <string.h>

#include "core/conf/cfg.h"

/* The next word of *p (up to a space), into w; *p moves past it and the
 * spaces after.  False when there is none or it does not fit. */
static bool next_word(const char **p, char *w, size_t cap)
{
	size_t n = strcspn(*p, " ");
	if (n == 0 || n >= cap)
		return false;
	memcpy(w, *p, n);
	w[n] = '\0';
	*p += n;
	*p += strspn(*p, " ");
	return true;
}

/* An account JID of a hosted domain (with a resource only if full_ok). */
static bool account_jid(const struct cfg *cfg, const char *in, size_t len, bool full_ok,
			struct ctl_cmd *cmd, char *err, size_t errlen)
{
	if (jid_normalize(in, len, cmd->jid, sizeof(cmd->jid), &cmd->bare_len) != XS_OK) {
		snprintf(err, errlen, "'%.*s' is not a JID", (int)(len > 200 ? 200 : len), in);
		return false;
	}
	const char *at = memchr(cmd->jid, '@', cmd->bare_len);
	if (!at || (!full_ok && cmd->jid[cmd->bare_len])) {
		snprintf(err, errlen, "'%s' is not an account JID (user@domain%s)", cmd->jid,
			 full_ok ? "[/resource]" : "");
		return false;
	}
	char domain[JID_BUF];
	size_t dl = cmd->bare_len - (size_t)(at + 1 - cmd->jid);
	memcpy(domain, at + 1, dl);
	domain[dl] = '\0';
	if (!cfg_find_host(cfg, domain)) {
		snprintf(err, errlen, "%s is not a host of this server", domain);
		return false;
	}
	return true;
}

/* Control characters would break the one-line answers. */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

bool ctl_parse(const struct cfg *cfg, const char *line, struct ctl_cmd *cmd, char *err,
	       size_t errlen)
{
	char verb[16], jid[JID_BUF], sub[16];
	const char *p = line + strspn(line, " ");
	memset(cmd, 0, sizeof(*cmd));
	if (!printable(line)) {
		snprintf(err, errlen, "control characters in the command");
		return false;
	}
	if (!next_word(&p, verb, sizeof(verb))) {
		snprintf(err, errlen, "empty or unknown command (sessions, s2s, kick, roster)");
		return false;
	}
	if (!strcmp(verb, "sessions") && !*p) {
		cmd->op = CTL_SESSIONS;
		return true;
	}
	if (!strcmp(verb, "s2s") && !*p) {
		cmd->op = CTL_S2S;
		return true;
	}
	if (!strcmp(verb, "kick") && *p) {
		/* the rest: a resource may hold spaces */
		size_t len = strlen(p);
		while (len && p[len - 1] == ' ')
			len--;
		cmd->op = CTL_KICK;
		return account_jid(cfg, p, len, true, cmd, err, errlen);
	}
	if (strcmp(verb, "roster") != 0) {
		snprintf(err, errlen, "usage: sessions | s2s | kick JID | roster JID list|add CONTACT "
			 "[NAME]|remove CONTACT");
		return false;
	}
	if (!next_word(&p, jid, sizeof(jid)) || !next_word(&p, sub, sizeof(sub))) {
		snprintf(err, errlen, "usage: roster JID list|add CONTACT [NAME]|remove CONTACT");
		return false;
	}
	if (!account_jid(cfg, jid, strlen(jid), false, cmd, err, errlen))
		return false;
	if (!strcmp(sub, "list") && !*p) {
		cmd->op = CTL_ROSTER_LIST;
		return true;
	}
	bool add = !strcmp(sub, "add");
	if (!add && strcmp(sub, "remove") != 0) {
		snprintf(err, errlen, "usage: roster JID list|add CONTACT [NAME]|remove CONTACT");
		return false;
	}
	char contact[JID_BUF];
	size_t bl;
	if (!next_word(&p, contact, sizeof(contact)) ||
	    jid_normalize(contact, strlen(contact), cmd->contact, sizeof(cmd->contact), &bl) !=
		    XS_OK ||
	    cmd->contact[bl]) {
		snprintf(err, errlen, "roster %s: CONTACT must be a bare JID", sub);
		return false;
	}
	if (!add) {
		if (*p) {
			snprintf(err, errlen, "usage: roster JID remove CONTACT");
			return false;
		}
		cmd->op = CTL_ROSTER_REMOVE;
		return true;
	}
	size_t nl = strlen(p);
	while (nl && p[nl - 1] == ' ')
		nl--;
	if (nl >= sizeof(cmd->name) || !jid_utf8_is_valid(p, nl)) {
		snprintf(err, errlen, "roster add: NAME too long or not UTF-8");
		return false;
	}
	memcpy(cmd->name, p, nl);
	cmd->name[nl] = '\0';
	cmd->op = CTL_ROSTER_ADD;
	return true;
}
