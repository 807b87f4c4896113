/* Unit tests for core/route/ctl_cmd.c, the control socket's command lines:
 * each command and its normalised JIDs, a resource with spaces, a roster
 * name that is the rest of the line, and the refusals (unknown verbs,
 * extra words, JIDs that are not accounts of a hosted domain, a full JID
 * as a contact, control characters). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/conf/cfg.h"
#include "core/route/ctl_cmd.h"

static struct cfg cfg;
static struct ctl_cmd cmd;
static char err[600];

static bool parse(const char *line)
{
	err[0] = '\0';
	return ctl_parse(&cfg, line, &cmd, err, sizeof(err));
}

static void refused(const char *line, const char *why)
{
	assert_false(parse(line));
	if (!strstr(err, why))
		fail_msg("%s: '%s' lacks '%s'", line, err, why);
}

static void test_commands(void **state)
{
	(void)state;
	assert_true(parse("sessions"));
	assert_int_equal(cmd.op, CTL_SESSIONS);
	assert_true(parse("  sessions"));
	assert_true(parse("s2s"));
	assert_int_equal(cmd.op, CTL_S2S);

	assert_true(parse("kick Alice@LocalHost/my phone  "));
	assert_int_equal(cmd.op, CTL_KICK);
	assert_string_equal(cmd.jid, "alice@localhost/my phone");
	assert_int_equal(cmd.bare_len, strlen("alice@localhost"));
	assert_true(parse("kick alice@localhost"));
	assert_string_equal(cmd.jid, "alice@localhost");

	assert_true(parse("roster alice@localhost list"));
	assert_int_equal(cmd.op, CTL_ROSTER_LIST);
	assert_true(parse("roster alice@localhost add Bob@Example.org  Bob  the builder "));
	assert_int_equal(cmd.op, CTL_ROSTER_ADD);
	assert_string_equal(cmd.contact, "bob@example.org");
	assert_string_equal(cmd.name, "Bob  the builder");
	assert_true(parse("roster alice@localhost add bob@example.org"));
	assert_string_equal(cmd.name, "");
	assert_true(parse("roster alice@localhost remove bob@example.org"));
	assert_int_equal(cmd.op, CTL_ROSTER_REMOVE);
	assert_string_equal(cmd.contact, "bob@example.org");
}

static void test_refused(void **state)
{
	(void)state;
	refused("", "empty or unknown");
	refused("sessions now", "usage");
	refused("s2s all", "usage");
	refused("kick", "usage");
	refused("reboot", "usage");
	refused("kick @localhost", "is not a JID");
	refused("kick localhost", "not an account JID");
	refused("kick alice@example.org", "example.org is not a host");
	refused("roster alice@localhost/r list", "not an account JID");
	refused("roster alice@localhost", "usage");
	refused("roster alice@localhost list all", "usage");
	refused("roster alice@localhost drop bob@x", "usage");
	refused("roster alice@localhost add bob@x/res", "bare JID");
	refused("roster alice@localhost add", "bare JID");
	refused("roster alice@localhost remove bob@x extra", "usage");
	refused("roster alice@localhost add bob@x a\tb", "control characters");
	refused("kick alice@localhost/\x1b[2J", "control characters");
}

int main(void)
{
	cfg_defaults(&cfg);
	cfg.n_hosts = 1;
	strcpy(cfg.hosts[0].domain, "localhost");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
