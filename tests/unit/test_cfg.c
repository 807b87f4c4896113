/* Unit tests for core/conf/cfg.c: the shipped server.ini loads with the values it
 * documents; defaults; every class of error gives its exact
 * "file:line: [section] key: reason" line (errors come from strings named
 * "t.ini", whose line numbers are counted in the comments); relative paths
 * follow the ini file's directory; threads = auto follows the CPUs the process may run on; and
 * the inih pitfalls (indented lines, '#' after a value, long section names,
 * long lines) are caught rather than misread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf/cfg.h"
#include "core/base/log.h"

/* A valid host (lines 1-3) and listener (lines 4-5); error cases append. */
#define HOST "[host example.org]\ncertificate = c.pem\nkey = k.pem\n"
#define LST "[listener a]\nport = 5222\n"

static struct cfg *cfg_new(void)
{
	struct cfg *c = malloc(sizeof(*c)); /* ~90 KB: not for the stack */

	assert_non_null(c);
	return c;
}

static void expect_ok(const char *text, struct cfg *c)
{
	char err[512] = "";

	if (!cfg_load_string(text, "t.ini", "/etc/xmppd", c, err, sizeof(err)))
		fail_msg("unexpected error: %s", err);
}

static void expect_err(const char *text, const char *want)
{
	struct cfg *c = cfg_new();
	char err[4096] = "";

	if (cfg_load_string(text, "t.ini", "/etc/xmppd", c, err, sizeof(err)))
		fail_msg("loaded, but expected: %s", want);
	assert_string_equal(err, want);
	free(c);
}

/* The repository root, from this file's path (CMake passes it absolute). */
static void repo_root(char *out, size_t len)
{
	char buf[PATH_MAX];
	char *slash;

	snprintf(buf, sizeof(buf), "%s", __FILE__);
	slash = strrchr(buf, '/');
	assert_non_null(slash);
	*slash = '\0';
	strncat(buf, "/../..", sizeof(buf) - strlen(buf) - 1);
	assert_non_null(realpath(buf, out));
	assert_true(strlen(out) < len);
}

static void test_shipped_ini(void **state)
{
	struct cfg *c = cfg_new();
	char root[PATH_MAX], path[PATH_MAX + 32], want[2 * PATH_MAX], err[512] = "";
	const struct cfg_listener *l;

	repo_root(root, sizeof(root));
	snprintf(path, sizeof(path), "%s/server.ini", root);
	if (!cfg_load(path, c, err, sizeof(err)))
		fail_msg("server.ini: %s", err);

	assert_string_equal(c->path, path);
	assert_int_equal(c->threads, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_int_equal(c->tls_min_version, 12);
	assert_int_equal(c->scram_iterations, 4096);
	assert_true(c->allow_plain);
	assert_int_equal(c->auth_fail_delay_ms, 500);
	assert_int_equal(c->auth_fail_delay_max_ms, 8000);
	assert_int_equal(c->max_stanza_size, 262144);
	assert_int_equal(c->max_depth, 32);
	assert_int_equal(c->max_attributes, 64);
	assert_int_equal(c->preauth_timeout_s, 30);
	assert_int_equal(c->idle_sleep_s, 30);
	assert_int_equal(c->max_output_buffer, 1048576);
	assert_int_equal(c->max_connections, 100000);
	snprintf(want, sizeof(want), "%s/data/xmppd.sqlite", root);
	assert_string_equal(c->db_path, want);

	assert_int_equal(c->n_hosts, 1);
	assert_string_equal(c->hosts[0].domain, "localhost");
	snprintf(want, sizeof(want), "%s/certs/localhost.pem", root);
	assert_string_equal(c->hosts[0].cert_file, want);
	snprintf(want, sizeof(want), "%s/certs/localhost.key", root);
	assert_string_equal(c->hosts[0].key_file, want);
	assert_false(c->hosts[0].registration_open);
	assert_int_equal(c->registrations_per_ip_per_hour, 3);
	assert_ptr_equal(cfg_find_host(c, "localhost"), &c->hosts[0]);
	assert_ptr_equal(cfg_find_host(c, "LocalHost"), &c->hosts[0]);
	assert_null(cfg_find_host(c, "example.org"));
	assert_null(cfg_find_host(c, "localhost.localdomain"));

	assert_int_equal(c->n_listeners, 2);
	l = &c->listeners[0];
	assert_string_equal(l->name, "c2s");
	assert_int_equal(l->kind, CFG_LISTEN_C2S);
	assert_int_equal(l->mode, CFG_MODE_STARTTLS);
	assert_string_equal(l->address, "127.0.0.1");
	assert_int_equal(l->port, 5222);
	assert_true(l->require_encryption);
	assert_false(l->allow_starttls_inside_tls);
	l = &c->listeners[1];
	assert_string_equal(l->name, "c2s_direct_tls");
	assert_int_equal(l->kind, CFG_LISTEN_C2S);
	assert_int_equal(l->mode, CFG_MODE_DIRECT_TLS);
	assert_string_equal(l->address, "127.0.0.1");
	assert_int_equal(l->port, 5223);
	assert_true(l->require_encryption);
	assert_false(l->allow_starttls_inside_tls);
	free(c);
}

/* The per-stanza element budget and the smaller limits before
 * authentication (issue 10: memory amplification before auth). */
static void test_preauth_limits(void **state)
{
	struct cfg *c = cfg_new();

	expect_ok(HOST LST, c);
	assert_int_equal(c->max_elements, 2000);
	assert_int_equal(c->preauth_max_stanza, 16384);
	assert_int_equal(c->preauth_max_elements, 64);
	expect_ok(HOST LST "[limits]\nmax_elements_per_stanza = 50\npreauth_max_stanza = 2048\n"
		  "preauth_max_elements = 8\n", c);
	assert_int_equal(c->max_elements, 50);
	assert_int_equal(c->preauth_max_stanza, 2048);
	assert_int_equal(c->preauth_max_elements, 8);
	/* lowering only the full limits brings the pre-auth defaults down */
	expect_ok(HOST LST "[limits]\nmax_stanza_size = 8192\nmax_elements_per_stanza = 10\n", c);
	assert_int_equal(c->preauth_max_stanza, 8192);
	assert_int_equal(c->preauth_max_elements, 10);
	/* but a pre-auth limit written above the full one is a mistake */
	expect_err(HOST LST "[limits]\nmax_stanza_size = 8192\npreauth_max_stanza = 9000\n",
		   "t.ini:8: [limits] preauth_max_stanza: more than max_stanza_size (9000 > 8192)");
	expect_err(HOST LST "[limits]\nmax_elements_per_stanza = 10\npreauth_max_elements = 11\n",
		   "t.ini:8: [limits] preauth_max_elements: more than max_elements_per_stanza (11 > 10)");
	expect_err(HOST LST "[limits]\npreauth_max_stanza = 100\n",
		   "t.ini:7: [limits] preauth_max_stanza: out of range (1024..16777216)");
	/* the input shaper of each listener, and the peer limits */
	assert_int_equal(c->listeners[0].rate, 16384);
	assert_int_equal(c->listeners[0].burst, 131072);
	assert_int_equal(c->max_connections_per_ip, 200);
	assert_int_equal(c->max_preauth_connections, 5000);
	assert_int_equal(c->ipv6_prefix, 64);
	assert_int_equal(c->connection_rate_per_ip, 10);
	assert_int_equal(c->connection_burst_per_ip, 50);
	assert_int_equal(c->n_exempt, 0);
	assert_int_equal(c->max_roster_items, 1000);
	assert_int_equal(c->max_roster_text, 1024);
	assert_int_equal(c->max_roster_groups, 32);
	assert_int_equal(c->max_offline_messages, 1000);
	assert_int_equal(c->max_private_items, 100);
	assert_int_equal(c->max_pep_nodes, 256);
	assert_int_equal(c->max_pep_items, 256);
	assert_int_equal(c->max_pep_bytes, 8388608);
	assert_int_equal(c->max_caps_cache, 4096);
	assert_true(c->iq_requires_presence);
	assert_int_equal(c->max_storage_requests, 128);
	assert_int_equal(c->tcp_keepalive_s, 60);
	assert_int_equal(c->max_auth_failures, 5);
	assert_int_equal(c->max_auth_attempts, 10);
	assert_int_equal(c->tcp_user_timeout_s, 120);
	expect_ok(HOST LST "rate = 0\nburst = 4096\n[limits]\nipv6_prefix = 48\ntcp_keepalive = 0\n", c);
	assert_int_equal(c->listeners[0].rate, 0);
	assert_int_equal(c->listeners[0].burst, 4096);
	assert_int_equal(c->ipv6_prefix, 48);
	assert_int_equal(c->tcp_keepalive_s, 0);
	expect_ok(HOST LST "[limits]\nconnection_rate_per_ip = 0\nconnection_burst_per_ip = 7\n"
			   "exempt_networks = 127.0.0.0/8, ::1 ,2001:db8::/32\n", c);
	assert_int_equal(c->connection_rate_per_ip, 0);
	assert_int_equal(c->connection_burst_per_ip, 7);
	assert_int_equal(c->n_exempt, 3);
	assert_int_equal(c->exempt[0].prefix, 8);
	assert_int_equal(c->exempt[1].prefix, 128);
	assert_int_equal(c->exempt[2].prefix, 32);
	expect_err(HOST LST "[limits]\nexempt_networks = 10.0.0.0/8, 192.0.2.1/24\n",
		   "t.ini:7: [limits] exempt_networks: '192.0.2.1/24': bits are set past the prefix "
		   "length (write the network's first address)");
	assert_true(c->software_version);
	expect_ok(HOST LST "[im]\nmax_roster_items = 5\nsoftware_version = false\n", c);
	assert_int_equal(c->max_roster_items, 5);
	assert_false(c->software_version);
	expect_err(HOST LST "[im]\nmax_roster_items = 0\n",
		   "t.ini:7: [im] max_roster_items: out of range (1..1000000)");
	expect_ok(HOST LST "[im]\nmax_roster_text = 65535\nmax_roster_groups = 1\n", c);
	assert_int_equal(c->max_roster_text, 65535);
	assert_int_equal(c->max_roster_groups, 1);
	expect_err(HOST LST "[im]\nmax_roster_text = 65536\n",
		   "t.ini:7: [im] max_roster_text: out of range (1..65535)");
	expect_err(HOST LST "[im]\nmax_roster_groups = 0\n",
		   "t.ini:7: [im] max_roster_groups: out of range (1..10000)");
	expect_err(HOST LST "[limits]\nconnection_burst_per_ip = 0\n",
		   "t.ini:7: [limits] connection_burst_per_ip: out of range (1..1000000)");
	expect_err(HOST LST "burst = 100\n", "t.ini:6: [listener a] burst: out of range (4096..1073741824)");
	expect_err(HOST LST "[sasl]\nmax_auth_attempts = 0\n",
		   "t.ini:7: [sasl] max_auth_attempts: out of range (1..1000)");
	expect_err(HOST LST "[limits]\nipv6_prefix = 129\n",
		   "t.ini:7: [limits] ipv6_prefix: out of range (8..128)");
	expect_err(HOST LST "[limits]\nmax_elements_per_stanza = 0\n",
		   "t.ini:7: [limits] max_elements_per_stanza: out of range (1..1000000)");
	free(c);
}

static void test_defaults(void **state)
{
	struct cfg *c = cfg_new();
	const struct cfg_listener *l;

	memset(c, 0xa5, sizeof(*c));
	cfg_defaults(c);
	assert_int_equal(c->threads, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_int_equal(c->tls_min_version, 12);
	assert_int_equal(c->scram_iterations, 4096);
	assert_true(c->allow_plain);
	assert_int_equal(c->auth_fail_delay_ms, 500);
	assert_int_equal(c->auth_fail_delay_max_ms, 8000);
	assert_int_equal(c->max_stanza_size, 262144);
	assert_int_equal(c->max_depth, 32);
	assert_int_equal(c->max_attributes, 64);
	assert_int_equal(c->preauth_timeout_s, 30);
	assert_int_equal(c->idle_sleep_s, 30);
	assert_int_equal(c->max_output_buffer, 1048576);
	assert_int_equal(c->max_connections, 100000);
	assert_string_equal(c->db_path, "data/xmppd.sqlite");
	assert_int_equal(c->n_hosts, 0);
	assert_int_equal(c->n_listeners, 0);

	/* A minimal file: everything else takes its default. */
	expect_ok(HOST LST, c);
	assert_string_equal(c->path, "t.ini");
	assert_int_equal(c->max_depth, 32);
	assert_string_equal(c->db_path, "/etc/xmppd/data/xmppd.sqlite");
	l = &c->listeners[0];
	assert_string_equal(l->name, "a");
	assert_int_equal(l->kind, CFG_LISTEN_C2S);
	assert_int_equal(l->mode, CFG_MODE_STARTTLS);
	assert_string_equal(l->address, "127.0.0.1");
	assert_int_equal(l->port, 5222);
	assert_true(l->require_encryption);
	assert_false(l->allow_starttls_inside_tls);
	free(c);
}

/* Every key set to a non-default value, in every accepted spelling. */
static void test_all_keys(void **state)
{
	struct cfg *c = cfg_new();
	const struct cfg_listener *l;

	expect_ok("[server]\nthreads = 7\nlog_level = DEBUG\n"
		  "[tls]\nmin_version = 1.3\n"
		  "[sasl]\nscram_iterations = 10000000\nallow_plain = off\n"
		  "auth_failure_delay_ms = 0\nauth_failure_delay_max_ms = 0\n"
		  "[limits]\nmax_stanza_size = 16777216\nmax_depth = 2\nmax_attributes = 10000\n"
		  "preauth_timeout = 3600\nidle_sleep = 0\nmax_output_buffer = 4096\nmax_connections = 1\n"
		  "[storage]\npath = /var/lib/xmppd/db.sqlite\n"
		  "[host example.org]\ncertificate = /etc/ssl/e.pem\nkey = k.pem\n"
		  "[listener s]\ntype = s2s\nmode = direct_tls\naddress = ::\nport = 5270\n"
		  "require_encryption = no\nallow_starttls_inside_tls = yes\n"
		  "[listener h]\ntype = http\naddress = 0.0.0.0\nport = 5280 ; BOSH\n", c);
	assert_int_equal(c->threads, 7);
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	assert_int_equal(c->tls_min_version, 13);
	assert_int_equal(c->scram_iterations, 10000000);
	assert_false(c->allow_plain);
	assert_int_equal(c->auth_fail_delay_ms, 0);
	assert_int_equal(c->auth_fail_delay_max_ms, 0);
	assert_int_equal(c->max_stanza_size, 16777216);
	assert_int_equal(c->max_depth, 2);
	assert_int_equal(c->max_attributes, 10000);
	assert_int_equal(c->preauth_timeout_s, 3600);
	assert_int_equal(c->idle_sleep_s, 0);
	assert_int_equal(c->max_output_buffer, 4096);
	assert_int_equal(c->max_connections, 1);
	assert_string_equal(c->db_path, "/var/lib/xmppd/db.sqlite");
	assert_string_equal(c->hosts[0].cert_file, "/etc/ssl/e.pem");
	assert_string_equal(c->hosts[0].key_file, "/etc/xmppd/k.pem");
	l = &c->listeners[0];
	assert_int_equal(l->kind, CFG_LISTEN_S2S);
	assert_int_equal(l->mode, CFG_MODE_DIRECT_TLS);
	assert_string_equal(l->address, "::");
	assert_int_equal(l->port, 5270);
	assert_false(l->require_encryption);
	assert_true(l->allow_starttls_inside_tls);
	l = &c->listeners[1];
	assert_int_equal(l->kind, CFG_LISTEN_HTTP);
	assert_int_equal(l->port, 5280);
	assert_false(l->require_encryption);
	free(c);
}

/* [http] and the http/https listener types (docs/internals/gateway.md) */
static void test_http(void **state)
{
	struct cfg *c = malloc(sizeof(*c));
	(void)state;
	expect_ok(HOST LST, c);
	assert_int_equal(c->http_threads, 1);
	assert_int_equal(c->http_max_header_bytes, 8192);
	assert_int_equal(c->http_max_body_bytes, 262144);
	assert_int_equal(c->http_max_target_bytes, 2048);
	assert_string_equal(c->http_ws_path, "/xmpp-websocket");
	assert_int_equal(c->http_ws_max_message, 262144);
	assert_string_equal(c->http_origins, "");
	assert_string_equal(c->http_bosh_path, "/http-bind");
	assert_int_equal(c->http_bosh_max_wait_s, 60);
	assert_int_equal(c->http_bosh_inactivity_s, 60);
	assert_false(cfg_has_http_listener(c));
	expect_ok(HOST LST "[http]\nthreads = 2\nmax_header_bytes = 1024\n"
		  "max_body_bytes = 16777216\nmax_target_bytes = 64\n"
		  "[listener w]\ntype = https\nport = 5281\n"
		  "[listener p]\ntype = HTTP\nport = 5280\n", c);
	assert_int_equal(c->http_threads, 2);
	assert_int_equal(c->http_max_header_bytes, 1024);
	assert_int_equal(c->http_max_body_bytes, 16777216);
	assert_int_equal(c->http_max_target_bytes, 64);
	assert_true(cfg_has_http_listener(c));
	assert_int_equal(c->listeners[1].kind, CFG_LISTEN_HTTPS);
	assert_int_equal(c->listeners[1].mode, CFG_MODE_DIRECT_TLS);
	assert_true(cfg_listener_is_http(&c->listeners[1]));
	assert_int_equal(c->listeners[2].kind, CFG_LISTEN_HTTP);
	assert_int_equal(c->listeners[2].mode, CFG_MODE_STARTTLS);
	assert_false(cfg_listener_is_http(&c->listeners[0]));
	expect_ok(HOST LST "[http]\nwebsocket_path = /ws/xmpp\nmax_websocket_message_bytes = 1024\n"
		  "origins = https://chat.example.com, http://[::1]:8080 *\n", c);
	assert_string_equal(c->http_ws_path, "/ws/xmpp");
	assert_int_equal(c->http_ws_max_message, 1024);
	assert_string_equal(c->http_origins, "https://chat.example.com, http://[::1]:8080 *");
	expect_ok(HOST LST "[http]\nwebsocket_path = off\n", c);
	assert_string_equal(c->http_ws_path, "");
	assert_string_equal(c->http_bosh_path, "/http-bind");
	expect_ok(HOST LST "[http]\nbosh_path = /bosh\nbosh_max_wait = 3600\nbosh_inactivity = 5\n",
		  c);
	assert_string_equal(c->http_bosh_path, "/bosh");
	assert_int_equal(c->http_bosh_max_wait_s, 3600);
	assert_int_equal(c->http_bosh_inactivity_s, 5);
	free(c);
	expect_err(HOST LST "[http]\nthreads = 0\n", "t.ini:7: [http] threads: out of range (1..64)");
	expect_err(HOST LST "[http]\nmax_header_bytes = 1023\n",
		   "t.ini:7: [http] max_header_bytes: out of range (1024..1048576)");
	expect_err(HOST LST "[http]\nmax_body_bytes = 16777217\n",
		   "t.ini:7: [http] max_body_bytes: out of range (1024..16777216)");
	expect_err(HOST LST "[http]\nmax_target_bytes = 63\n",
		   "t.ini:7: [http] max_target_bytes: out of range (64..65536)");
	expect_err(HOST LST "[http]\nbosh_inactivity = 4\n",
		   "t.ini:7: [http] bosh_inactivity: out of range (5..3600)");
	expect_err(HOST LST "[http]\nbosh_max_wait = 0\n",
		   "t.ini:7: [http] bosh_max_wait: out of range (1..3600)");
	expect_err(HOST LST "[http]\nbosh_path = http-bind\n",
		   "t.ini:7: [http] bosh_path: expected a path starting with / (no query), or off");
	expect_err(HOST LST "[http]\nmax_websocket_message_bytes = 1023\n",
		   "t.ini:7: [http] max_websocket_message_bytes: out of range (1024..16777216)");
	expect_err(HOST LST "[http]\nwebsocket_path = xmpp\n",
		   "t.ini:7: [http] websocket_path: expected a path starting with / (no query), "
		   "or off");
	expect_err(HOST LST "[http]\nwebsocket_path = /ws?x=1\n",
		   "t.ini:7: [http] websocket_path: expected a path starting with / (no query), "
		   "or off");
	expect_err(HOST LST "[http]\norigins = https://a.example/app\n",
		   "t.ini:7: [http] origins: expected \"*\" or origins such as "
		   "https://chat.example.com or http://localhost:8080 (scheme, host and port only)");
	expect_err(HOST LST "[http]\norigins = a.example\n",
		   "t.ini:7: [http] origins: expected \"*\" or origins such as "
		   "https://chat.example.com or http://localhost:8080 (scheme, host and port only)");
	expect_err(HOST LST "[listener w]\ntype = https\nport = 5281\nmode = direct_tls\n",
		   "t.ini:9: [listener w] mode: not for type = http or https "
		   "(https is TLS from the first byte)");
	expect_err(HOST LST "[listener w]\ntype = http\nport = 5280\nrequire_encryption = true\n",
		   "t.ini:9: [listener w] require_encryption: not for type = http or https "
		   "(https is TLS from the first byte)");
	expect_err(HOST LST "[listener w]\ntype = gopher\nport = 70\n",
		   "t.ini:7: [listener w] type: expected c2s, s2s, http or https");

	/* GET /metrics: per http listener, loopback unless networks are named */
	c = malloc(sizeof(*c));
	expect_ok(HOST LST "[listener w]\ntype = http\nport = 5280\nmetrics = true\n"
		  "[listener v]\ntype = https\nport = 5281\n"
		  "metrics_allow = 10.0.0.0/8, 2001:db8::/32 192.0.2.7\n", c);
	assert_true(c->listeners[1].metrics);
	assert_int_equal(c->listeners[1].n_metrics_allow, 0);
	assert_false(c->listeners[2].metrics);
	assert_int_equal(c->listeners[2].n_metrics_allow, 3);
	assert_int_equal(c->listeners[2].metrics_allow[1].prefix, 32);
	assert_false(c->listeners[0].metrics);
	free(c);
	expect_err(HOST LST "metrics = true\n",
		   "t.ini:6: [listener a] metrics: only for type = http or https");
	expect_err(HOST "[listener a]\nport = 5222\ntype = s2s\nmetrics_allow = 10.0.0.0/8\n",
		   "t.ini:7: [listener a] metrics_allow: only for type = http or https");
	expect_err(HOST "[listener w]\ntype = http\nport = 1\nmetrics_allow = 10.0.0.1/8\n",
		   "t.ini:7: [listener w] metrics_allow: '10.0.0.1/8': bits are set past the "
		   "prefix length (write the network's first address)");
	expect_err(HOST "[listener w]\ntype = http\nport = 1\n"
		   "metrics_allow = 1.0.0.1 1.0.0.2 1.0.0.3 1.0.0.4 1.0.0.5 1.0.0.6 1.0.0.7 "
		   "1.0.0.8 1.0.0.9\n",
		   "t.ini:7: [listener w] metrics_allow: more than 8 networks");
}

static void test_bool_spellings(void **state)
{
	static const struct {
		const char *v;
		bool b;
	} t[] = {
		{ "true", true }, { "TRUE", true }, { "yes", true }, { "on", true }, { "1", true },
		{ "false", false }, { "No", false }, { "off", false }, { "0", false },
	};
	struct cfg *c = cfg_new();
	char text[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), HOST LST "[sasl]\nallow_plain = %s\n", t[i].v);
		expect_ok(text, c);
		assert_int_equal(c->allow_plain, t[i].b);
	}
	free(c);
}

static void test_err_unknown(void **state)
{
	expect_err(HOST LST "\n[bogus]\nx = 1\n", "t.ini:7: [bogus]: unknown section");
	expect_err(HOST LST "[listen b]\nport = 1\n", "t.ini:6: [listen b]: unknown section");
	expect_err("[server]\nthreads = 2\nthread = 2\n" HOST LST, "t.ini:3: [server] thread: unknown key");
	/* A key valid in another section is still unknown here. */
	expect_err(LST HOST "port = 5222\n", "t.ini:6: [host example.org] port: unknown key");
	expect_err("threads = 2\n" HOST LST, "t.ini:1: threads: key outside any [section]");
	expect_err("[server x]\n" HOST LST, "t.ini:1: [server x]: section [server] takes no name");
}

static void test_err_number(void **state)
{
	expect_err(HOST LST "[limits]\nmax_depth = abc\n",
		   "t.ini:7: [limits] max_depth: not a number");
	expect_err(HOST LST "[limits]\nmax_stanza_size = 256K\n",
		   "t.ini:7: [limits] max_stanza_size: not a number");
	expect_err(HOST LST "[limits]\nmax_depth = -5\n",
		   "t.ini:7: [limits] max_depth: not a number");
	expect_err(HOST LST "[limits]\nmax_depth = 0x10\n",
		   "t.ini:7: [limits] max_depth: not a number");
	expect_err(HOST LST "[limits]\nmax_depth =\n",
		   "t.ini:7: [limits] max_depth: empty value");
	expect_err(HOST "[listener a]\nport = 5222 # client\n",
		   "t.ini:5: [listener a] port: not a number ('#' starts a comment only at the "
		   "start of a line; use ' ;' for a comment after a value)");
}

static void test_err_range(void **state)
{
	expect_err(HOST LST "[limits]\nmax_depth = 1\n",
		   "t.ini:7: [limits] max_depth: out of range (2..1000)");
	expect_err(HOST LST "[limits]\nmax_stanza_size = 16777217\n",
		   "t.ini:7: [limits] max_stanza_size: out of range (1024..16777216)");
	expect_err(HOST LST "[limits]\nmax_connections = 99999999999999999999999\n",
		   "t.ini:7: [limits] max_connections: out of range (1..10000000)");
	expect_err(HOST LST "[sasl]\nscram_iterations = 4095\n",
		   "t.ini:7: [sasl] scram_iterations: out of range (4096..10000000)");
	expect_err(HOST "[listener a]\nport = 65536\n",
		   "t.ini:5: [listener a] port: out of range (1..65535)");
	expect_err(HOST "[listener a]\nport = 0\n",
		   "t.ini:5: [listener a] port: out of range (1..65535)");
	expect_err(HOST LST "[server]\nthreads = 257\n",
		   "t.ini:7: [server] threads: expected auto or 1..256");
	expect_err(HOST LST "[server]\nlog_level = verbose\n",
		   "t.ini:7: [server] log_level: expected error, warn, info or debug");
	expect_err(HOST LST "[tls]\nmin_version = 1.1\n",
		   "t.ini:7: [tls] min_version: expected 1.2 or 1.3");
	expect_err(HOST "[listener a]\nport = 1\ntype = xmpp\n",
		   "t.ini:6: [listener a] type: expected c2s, s2s, http or https");
	expect_err(HOST "[listener a]\nport = 1\nmode = ssl\n",
		   "t.ini:6: [listener a] mode: expected starttls or direct_tls");
	expect_err(HOST "[listener a]\nport = 1\naddress = localhost\n",
		   "t.ini:6: [listener a] address: not a numeric IPv4 or IPv6 address");
	expect_err(HOST LST "[sasl]\nauth_failure_delay_ms = 1000\nauth_failure_delay_max_ms = 999\n",
		   "t.ini:8: [sasl] auth_failure_delay_max_ms: less than auth_failure_delay_ms "
		   "(999 < 1000)");
}

static void test_err_bool(void **state)
{
	expect_err(HOST LST "[sasl]\nallow_plain = maybe\n",
		   "t.ini:7: [sasl] allow_plain: expected true/false, yes/no, on/off or 1/0");
	expect_err(HOST "[listener a]\nport = 1\nrequire_encryption = 2\n",
		   "t.ini:6: [listener a] require_encryption: expected true/false, yes/no, "
		   "on/off or 1/0");
}

static void test_err_duplicates(void **state)
{
	expect_err(HOST LST "[limits]\nmax_depth = 3\n; again\nmax_depth = 4\n",
		   "t.ini:9: [limits] max_depth: duplicate key (first set on line 7)");
	/* A reopened section merges, but still may not repeat a key. */
	expect_err(HOST LST "[server]\nthreads = 1\n[limits]\n[server]\nthreads = 2\n",
		   "t.ini:10: [server] threads: duplicate key (first set on line 7)");
	expect_err(HOST "key = k2.pem\n" LST,
		   "t.ini:4: [host example.org] key: duplicate key (first set on line 3)");
	/* Hosts compare after normalisation (case, trailing dot). */
	expect_err(HOST LST "[host Example.ORG.]\ncertificate = c.pem\nkey = k.pem\n",
		   "t.ini:6: [host example.org]: duplicate host (first defined on line 1)");
	expect_err(HOST LST "[listener a]\nport = 5223\n",
		   "t.ini:6: [listener a]: duplicate listener (first defined on line 4)");
}

static void test_err_listener_clash(void **state)
{
	expect_err(HOST LST "[listener b]\nmode = direct_tls\nport = 5222\n",
		   "t.ini:8: [listener b] port: 127.0.0.1 port 5222 clashes with [listener a] "
		   "(127.0.0.1 port 5222, line 5)");
	/* Same address in another spelling. */
	expect_err(HOST "[listener a]\naddress = ::1\nport = 5222\n"
		   "[listener b]\naddress = 0:0::1\nport = 5222\n",
		   "t.ini:9: [listener b] port: 0:0::1 port 5222 clashes with [listener a] "
		   "(::1 port 5222, line 6)");
	/* The wildcard overlaps every address of its family. */
	expect_err(HOST LST "[listener b]\naddress = 0.0.0.0\nport = 5222\n",
		   "t.ini:8: [listener b] port: 0.0.0.0 port 5222 clashes with [listener a] "
		   "(127.0.0.1 port 5222, line 5)");

	/* Different ports, or IPv4 and IPv6 wildcards (bound IPV6_V6ONLY), are fine. */
	struct cfg *c = cfg_new();

	expect_ok(HOST LST "[listener b]\nport = 5223\n"
		  "[listener c]\naddress = 0.0.0.0\nport = 5269\n"
		  "[listener d]\naddress = ::\nport = 5269\n", c);
	assert_int_equal(c->n_listeners, 4);
	free(c);
}

static void test_err_starttls_inside_tls(void **state)
{
	expect_err(HOST "[listener a]\nport = 5222\nallow_starttls_inside_tls = true\n",
		   "t.ini:6: [listener a] allow_starttls_inside_tls: only valid with "
		   "mode = direct_tls");
	/* Checked after the section is read: mode may come later, either way. */
	expect_err(HOST "[listener a]\nallow_starttls_inside_tls = on\nport = 5222\n"
		   "mode = starttls\n",
		   "t.ini:5: [listener a] allow_starttls_inside_tls: only valid with "
		   "mode = direct_tls");

	struct cfg *c = cfg_new();

	expect_ok(HOST "[listener a]\nallow_starttls_inside_tls = on\nport = 5223\n"
		  "mode = direct_tls\n", c);
	assert_true(c->listeners[0].allow_starttls_inside_tls);
	free(c);
}

static void test_err_whole_file(void **state)
{
	expect_err(LST, "t.ini: no [host DOMAIN] section (at least one is required)");
	expect_err(HOST, "t.ini: no [listener NAME] section (at least one is required)");
	expect_err("", "t.ini: no [host DOMAIN] section (at least one is required)\n"
		       "t.ini: no [listener NAME] section (at least one is required)");
	expect_err(HOST "[listener a]\ntype = c2s\n", "t.ini:4: [listener a] port: required");
	expect_err("[host example.org]\nkey = k.pem\n" LST,
		   "t.ini:1: [host example.org] certificate: required");
	expect_err("[host example.org]\ncertificate = c.pem\n" LST,
		   "t.ini:1: [host example.org] key: required");
}

static void test_err_sections(void **state)
{
	expect_err("[host]\n" LST, "t.ini:1: [host]: missing domain (write [host example.org])");
	expect_err("[host exa mple]\n" LST, "t.ini:1: [host exa mple]: invalid domain name");
	expect_err("[host a_b.example]\n" LST, "t.ini:1: [host a_b.example]: invalid domain name");
	expect_err("[host -a.example]\n" LST, "t.ini:1: [host -a.example]: invalid domain name");
	expect_err("[host a..example]\n" LST, "t.ini:1: [host a..example]: invalid domain name");
	expect_err(HOST "[listener]\n", "t.ini:4: [listener]: missing name (write [listener NAME])");
	expect_err(HOST "[listener a/b]\n",
		   "t.ini:4: [listener a/b]: invalid name (letters, digits, '_', '-', '.'; "
		   "at most 63)");
}

static void test_err_syntax(void **state)
{
	expect_err(HOST LST "[limits]\nmax_depth 3\n",
		   "t.ini:7: syntax error: expected [section] or key = value, got \"max_depth 3\"");
	expect_err(HOST "[listener a\nport = 1\n",
		   "t.ini:4: syntax error: expected [section] or key = value, got \"[listener a\"");
	/* Every bad line is reported, in order, not only the first. */
	expect_err("oops\n[bogus]\nx = 1\n" HOST "also oops\n",
		   "t.ini:1: syntax error: expected [section] or key = value, got \"oops\"\n"
		   "t.ini:2: [bogus]: unknown section\n"
		   "t.ini:7: syntax error: expected [section] or key = value, got \"also oops\"\n"
		   "t.ini: no [listener NAME] section (at least one is required)");
}

/* inih reads an indented line as the continuation of the previous value,
 * and right after a section header as a key: refusing every indented key
 * or header keeps "  port = 1" from meaning two things. */
static void test_err_indented(void **state)
{
	expect_err(HOST "[listener a]\nport = 5222\n  mode = direct_tls\n",
		   "t.ini:6: [listener a] mode: indented line; remove the leading whitespace "
		   "(an indented line continues the previous value in inih)");
	expect_err(HOST "[listener a]\nport = 5222\n\n\t[listener b]\nport = 5223\n",
		   "t.ini:7: indented section header; remove the leading whitespace");
	/* Right after a header inih would take it silently as a key. */
	expect_err(HOST "[listener a]\n  port = 5222\n",
		   "t.ini:5: [listener a] port: indented line; remove the leading whitespace "
		   "(an indented line continues the previous value in inih)");
	expect_err("[server]\n\tthreads = 2\n" HOST LST,
		   "t.ini:2: [server] threads: indented line; remove the leading whitespace "
		   "(an indented line continues the previous value in inih)");
	/* The indented line is still read, so its value is checked too. */
	expect_err(HOST LST "[limits]\n max_depth = 1\n",
		   "t.ini:7: [limits] max_depth: indented line; remove the leading whitespace "
		   "(an indented line continues the previous value in inih)\n"
		   "t.ini:7: [limits] max_depth: out of range (2..1000)");

	/* Comments may be indented. */
	struct cfg *c = cfg_new();

	expect_ok(HOST "[listener a]\n  ; a comment\nport = 5222\n\t# another\n", c);
	assert_int_equal(c->listeners[0].port, 5222);
	free(c);
}

/* All errors of a file at once, each on its own line, and none that only
 * repeats another: keys under a refused header are skipped, and a key that
 * was there with a bad value is not also "required". */
static void test_err_all_at_once(void **state)
{
	expect_err("[server]\nthreads = lots\nlog_level = loud\n"
		   "[host bad_name]\ncertificate = c.pem\nbogus = 1\n"
		   "[host example.org]\ncertificate = c.pem\n"
		   "[listener a]\nport = 99999\nmode = fast\n"
		   "[listener b]\nport = 5222\n[listener c]\nport = 5222\n",
		   "t.ini:2: [server] threads: expected auto or 1..256\n"
		   "t.ini:3: [server] log_level: expected error, warn, info or debug\n"
		   "t.ini:4: [host bad_name]: invalid domain name\n"
		   "t.ini:10: [listener a] port: out of range (1..65535)\n"
		   "t.ini:11: [listener a] mode: expected starttls or direct_tls\n"
		   "t.ini:7: [host example.org] key: required\n"
		   "t.ini:15: [listener c] port: 127.0.0.1 port 5222 clashes with [listener b] "
		   "(127.0.0.1 port 5222, line 13)");

	/* A buffer too small for all of them keeps whole lines and says so. */
	struct cfg *c = cfg_new();
	char err[120];

	assert_false(cfg_load_string("[a]\n[b]\n[c]\n[d]\n[e]\n" HOST LST, "t.ini", "/", c, err,
				     sizeof(err)));
	assert_string_equal(err, "t.ini:1: [a]: unknown section\nt.ini:2: [b]: unknown section\n"
			    "t.ini:3: [c]: unknown section\n(more errors not shown)");
	free(c);
}

static void test_inih_quirks(void **state)
{
	struct cfg *c = cfg_new();
	char text[1024], err[512];
	/* 60 characters: longer than inih's 49-character section buffer. */
	const char *longdom = "abcdefghijklmnopqrstuvwxyz.abcdefghijklmnopqrstuvwxyz.example";

	snprintf(text, sizeof(text), "\xEF\xBB\xBF[host %s]\r\ncertificate = c.pem ; the chain\r\n"
		 "key = k.pem\r\n# hash comment\r\n" LST, longdom);
	expect_ok(text, c);
	assert_string_equal(c->hosts[0].domain, longdom);
	assert_string_equal(c->hosts[0].cert_file, "/etc/xmppd/c.pem");
	assert_non_null(cfg_find_host(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ.abcdefghijklmnopqrstuvwxyz.EXAMPLE"));

	/* A line inih cannot hold whole would be split into two; it is refused. */
	memset(text, 0, sizeof(text));
	snprintf(text, sizeof(text), HOST LST "[storage]\npath = ");
	memset(text + strlen(text), 'x', 300);
	strcat(text, "\n");
	assert_false(cfg_load_string(text, "t.ini", "/", c, err, sizeof(err)));
	assert_non_null(strstr(err, "t.ini:7: line too long (at most "));
	free(c);
}

static void test_relative_paths(void **state)
{
	struct cfg *c = cfg_new();
	char dir[] = "/tmp/test_cfg.XXXXXX";
	char real[PATH_MAX], path[PATH_MAX + 32], want[3 * PATH_MAX], err[1024] = "";
	FILE *f;

	/* From a string: against base_dir, with or without its trailing '/'. */
	expect_ok("[storage]\npath = db/x.sqlite\n[host example.org]\n"
		  "certificate = certs/e.pem\nkey = /abs/e.key\n" LST, c);
	assert_string_equal(c->db_path, "/etc/xmppd/db/x.sqlite");
	assert_string_equal(c->hosts[0].cert_file, "/etc/xmppd/certs/e.pem");
	assert_string_equal(c->hosts[0].key_file, "/abs/e.key");
	assert_true(cfg_load_string(HOST LST, "t.ini", "/srv/", c, err, sizeof(err)));
	assert_string_equal(c->hosts[0].cert_file, "/srv/c.pem");
	assert_string_equal(c->db_path, "/srv/data/xmppd.sqlite");
	assert_true(cfg_load_string(HOST LST, "t.ini", NULL, c, err, sizeof(err)));
	assert_string_equal(c->hosts[0].cert_file, "c.pem");

	/* [admin]: the control socket beside the database by default */
	expect_ok(HOST LST, c);
	assert_true(c->ctl_enabled);
	assert_string_equal(c->ctl_socket, "/etc/xmppd/data/xmppd.sock");
	assert_int_equal(c->ctl_socket_line, 0);
	expect_ok(HOST LST "[storage]\npath = /var/lib/xmppd/db.sqlite\n", c);
	assert_string_equal(c->ctl_socket, "/var/lib/xmppd/xmppd.sock");
	expect_ok(HOST LST "[admin]\ncontrol = false\nsocket = /run/xmppd/ctl\n", c);
	assert_false(c->ctl_enabled);
	assert_string_equal(c->ctl_socket, "/run/xmppd/ctl");
	assert_int_equal(c->ctl_socket_line, 8);
	/* sun_path holds 107 bytes and the NUL */
	char longp[200], text[400];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[108] = '\0';
	snprintf(text, sizeof(text), HOST LST "[admin]\nsocket = %s\n", longp);
	assert_false(cfg_load_string(text, "t.ini", "/etc/xmppd", c, err, sizeof(err)));
	if (!strstr(err, "t.ini:7: [admin] socket: /aaa") || strchr(err, '\n'))
		fail_msg("%s", err);
	assert_non_null(strstr(err, "longer than a Unix socket's path may be (107 bytes)"));
	longp[107] = '\0';
	snprintf(text, sizeof(text), HOST LST "[admin]\nsocket = %s\n", longp);
	expect_ok(text, c);

	/* From a file: against its directory, made absolute, whatever the cwd. */
	assert_non_null(mkdtemp(dir));
	assert_non_null(realpath(dir, real));
	snprintf(path, sizeof(path), "%s/my.ini", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[host example.org]\ncertificate = certs/e.pem\nkey = ../e.key\n" LST, f);
	fclose(f);
	if (!cfg_load(path, c, err, sizeof(err)))
		fail_msg("%s", err);
	snprintf(want, sizeof(want), "%s/certs/e.pem", real);
	assert_string_equal(c->hosts[0].cert_file, want);
	snprintf(want, sizeof(want), "%s/../e.key", real);
	assert_string_equal(c->hosts[0].key_file, want);
	snprintf(want, sizeof(want), "%s/data/xmppd.sqlite", real);
	assert_string_equal(c->db_path, want);
	snprintf(want, sizeof(want), "%s/my.ini", real);
	assert_string_equal(c->path, want);

	/* Errors from a file carry its name as given and the real line. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("; comment\n\n[host example.org]\ncertificate = c\nkey = k\n[limits]\n"
	      "max_attributes = 0\n", f);
	fclose(f);
	assert_false(cfg_load(path, c, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:7: [limits] max_attributes: out of range (1..10000)\n"
		 "%s: no [listener NAME] section (at least one is required)", path, path);
	assert_string_equal(err, want);

	unlink(path);
	rmdir(dir);
	free(c);
}

static void test_missing_file(void **state)
{
	struct cfg *c = cfg_new();
	char err[512] = "";

	assert_false(cfg_load("/nonexistent/xmppd/server.ini", c, err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/xmppd/server.ini: cannot open: "
				 "No such file or directory");
	free(c);
}

/* [s2s]: its defaults, its paths resolved as every path is, its stanza
 * limit's range, and an s2s listener's require_encryption following
 * [s2s] unless the listener sets its own; c2s listeners never follow it. */
static void test_s2s(void **state)
{
	(void)state;
	struct cfg *c = cfg_new();
	expect_ok(HOST LST, c);
	assert_true(c->s2s_require_encryption);
	assert_string_equal(c->s2s_ca_file, "/etc/ssl/certs/ca-certificates.crt");
	assert_string_equal(c->s2s_ca_path, "");
	assert_int_equal(c->s2s_max_stanza_size, 524288);
	assert_false(cfg_has_s2s_listener(c));
	expect_ok(HOST LST "[s2s]\nrequire_encryption = false\nca_file = ca/peers.pem\n"
			   "ca_path = /etc/ssl/certs\nmax_stanza_size = 1024\n"
			   "[listener s]\ntype = s2s\nport = 5269\n"
			   "[listener t]\ntype = s2s\nport = 5270\nrequire_encryption = true\n", c);
	assert_false(c->s2s_require_encryption);
	assert_string_equal(c->s2s_ca_file, "/etc/xmppd/ca/peers.pem");
	assert_string_equal(c->s2s_ca_path, "/etc/ssl/certs");
	assert_int_equal(c->s2s_max_stanza_size, 1024);
	assert_true(c->listeners[0].require_encryption); /* c2s: its own default */
	assert_false(c->listeners[1].require_encryption); /* follows [s2s] */
	assert_true(c->listeners[2].require_encryption);  /* its own */
	assert_int_equal(c->listeners[0].rate, 16384); /* c2s */
	assert_int_equal(c->listeners[1].rate, 0);     /* s2s: unlimited unless set */
	expect_ok(HOST LST "[listener s]\ntype = s2s\nport = 5269\nrate = 65536\n", c);
	assert_int_equal(c->listeners[1].rate, 65536);
	assert_true(cfg_has_s2s_listener(c));
	expect_ok(HOST LST "[s2s]\nca_file = none\nca_path = none\n", c);
	assert_string_equal(c->s2s_ca_path, "");
	assert_string_equal(c->s2s_ca_file, "");
	expect_err(HOST LST "[s2s]\nmax_stanza_size = 1023\n",
		   "t.ini:7: [s2s] max_stanza_size: out of range (1024..16777216)");
	assert_false(c->s2s_dialback);
	expect_ok(HOST LST "[s2s]\ndialback = true\n", c);
	assert_true(c->s2s_dialback);
	assert_true(c->s2s_bidi);
	expect_ok(HOST LST "[s2s]\nbidi = false\n", c);
	assert_false(c->s2s_bidi);
	assert_int_equal(c->s2s_max_link_pairs, 16);
	expect_err(HOST LST "[s2s]\nmax_link_pairs = 0\n",
		   "t.ini:7: [s2s] max_link_pairs: out of range (1..1000)");
	expect_err(HOST LST "[s2s]\nsecure_auth = true\n", "t.ini:7: [s2s] secure_auth: unknown key");
	assert_int_equal(c->s2s_connect_timeout_s, 30);
	assert_int_equal(c->s2s_idle_timeout_s, 600);
	assert_int_equal(c->s2s_send_batch_us, 5000);
	expect_ok(HOST LST "[s2s]\nsend_batch_us = 0\n", c);
	assert_int_equal(c->s2s_send_batch_us, 0);
	expect_err(HOST LST "[s2s]\nsend_batch_us = 100001\n",
		   "t.ini:7: [s2s] send_batch_us: out of range (0..100000)");
	assert_int_equal(c->s2s_max_queue, 1000);
	assert_int_equal(c->s2s_max_queue_bytes, 1048576);
	assert_int_equal(c->s2s_max_links, 1000);
	assert_int_equal(c->s2s_dns_timeout_ms, 5000);
	assert_string_equal(c->s2s_dns_servers, "");
	expect_ok(HOST LST "[s2s]\nconnect_timeout = 5\nidle_timeout = 0\nmax_queue = 2\nmax_queue_bytes = 2048\n"
			   "max_outbound_links = 3\ndns_servers = 127.0.0.1:5353, [::1]:53\n"
			   "dns_timeout_ms = 100\n"
			   "[s2s_route B.Test.]\naddress = 127.0.0.2\n"
			   "[s2s_route c.test]\naddress = xmpp.c.test\nport = 5270\nmode = direct_tls\n", c);
	assert_int_equal(c->s2s_connect_timeout_s, 5);
	assert_int_equal(c->s2s_idle_timeout_s, 0);
	assert_int_equal(c->s2s_max_queue, 2);
	assert_int_equal(c->s2s_max_queue_bytes, 2048);
	assert_int_equal(c->s2s_max_links, 3);
	assert_string_equal(c->s2s_dns_servers, "127.0.0.1:5353, [::1]:53");
	assert_int_equal(c->s2s_dns_timeout_ms, 100);
	assert_int_equal(c->n_s2s_routes, 2);
	const struct cfg_s2s_route *r = cfg_find_s2s_route(c, "b.test");
	assert_non_null(r);
	assert_string_equal(r->address, "127.0.0.2");
	assert_int_equal(r->port, 5269);
	assert_int_equal(r->mode, CFG_MODE_STARTTLS);
	r = cfg_find_s2s_route(c, "c.test");
	assert_non_null(r);
	assert_string_equal(r->address, "xmpp.c.test");
	assert_int_equal(r->port, 5270);
	assert_int_equal(r->mode, CFG_MODE_DIRECT_TLS);
	assert_null(cfg_find_s2s_route(c, "d.test"));
	expect_err(HOST LST "[s2s_route b.test]\nport = 1\n", "t.ini:6: [s2s_route b.test] address: required");
	expect_err(HOST LST "[s2s_route example.org]\naddress = 127.0.0.1\n",
		   "t.ini:6: [s2s_route example.org]: the domain is served here");
	expect_err(HOST LST "[s2s_route b.test]\naddress = x\n[s2s_route b.test]\naddress = y\n",
		   "t.ini:8: [s2s_route b.test]: duplicate route");
	expect_err(HOST LST "[s2s_route]\n", "t.ini:6: [s2s_route]: missing domain (write [s2s_route example.org])");
	expect_err(HOST LST "[s2s]\ndns_servers = ns.example\n",
		   "t.ini:7: [s2s] dns_servers: expected ip[:port], ... (numeric addresses)");
	expect_err(HOST LST "[s2s]\nconnect_timeout = 0\n",
		   "t.ini:7: [s2s] connect_timeout: out of range (1..3600)");
	free(c);
}

/* XEP-0077: registration is per host and off unless opened; the rate of
 * in-band registrations per address is a [limits] key. */
static void test_registration(void **state)
{
	struct cfg *c = cfg_new();

	expect_ok(HOST LST, c);
	assert_false(c->hosts[0].registration_open);
	assert_int_equal(c->registrations_per_ip_per_hour, 3);
	expect_ok("[host a.example]\ncertificate = c.pem\nkey = k.pem\nregistration = open\n"
		  "[host b.example]\ncertificate = c.pem\nkey = k.pem\nregistration = OFF\n"
		  "[host c.example]\ncertificate = c.pem\nkey = k.pem\n" LST
		  "[limits]\nregistrations_per_ip_per_hour = 0\n", c);
	assert_true(c->hosts[0].registration_open);
	assert_false(c->hosts[1].registration_open);
	assert_false(c->hosts[2].registration_open);
	assert_int_equal(c->registrations_per_ip_per_hour, 0);
	expect_ok(HOST LST "[limits]\nregistrations_per_ip_per_hour = 1000000\n", c);
	assert_int_equal(c->registrations_per_ip_per_hour, 1000000);
	expect_err(HOST "registration = yes\n" LST,
		   "t.ini:4: [host example.org] registration: expected off or open");
	expect_err(HOST LST "[limits]\nregistrations_per_ip_per_hour = 1000001\n",
		   "t.ini:7: [limits] registrations_per_ip_per_hour: out of range (0..1000000)");
	free(c);
}

static void test_threads(void **state)
{
	struct cfg *c = cfg_new();
	cpu_set_t all, one;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	int cores = CPU_COUNT(&all);

	expect_ok(HOST LST "[server]\nthreads = auto\n", c);
	assert_true(cores >= 1);
	assert_int_equal(c->threads, (unsigned)(cores > 256 ? 256 : cores));
	/* auto follows the affinity mask (taskset -c N xmppd), not the
	 * machine's core count */
	CPU_ZERO(&one);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all)) {
			CPU_SET(i, &one);
			break;
		}
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	expect_ok(HOST LST "[server]\nthreads = auto\n", c);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(c->threads, 1);
	expect_ok(HOST LST "[server]\nthreads = 1\n", c);
	assert_int_equal(c->threads, 1);
	expect_ok(HOST LST "[server]\nthreads = 256\n", c);
	assert_int_equal(c->threads, 256);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_ini),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_preauth_limits),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_bool_spellings),
		cmocka_unit_test(test_err_unknown),
		cmocka_unit_test(test_err_number),
		cmocka_unit_test(test_err_range),
		cmocka_unit_test(test_err_bool),
		cmocka_unit_test(test_err_duplicates),
		cmocka_unit_test(test_err_listener_clash),
		cmocka_unit_test(test_err_starttls_inside_tls),
		cmocka_unit_test(test_err_whole_file),
		cmocka_unit_test(test_err_sections),
		cmocka_unit_test(test_err_syntax),
		cmocka_unit_test(test_err_indented),
		cmocka_unit_test(test_err_all_at_once),
		cmocka_unit_test(test_inih_quirks),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_registration),
		cmocka_unit_test(test_s2s),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
