/* Configuration loader: turns server.ini into one struct cfg.
 *
 * inih splits lines into "key = value" pairs and strips comments; this file
 * feeds it through its own line reader (ini_parse_stream) instead of
 * ini_parse.  The reader counts lines itself, sees every section header and
 * every raw line, and can stop the parse at the first error.  That is how
 * every message gets an exact "file:line", and it sidesteps three traits of
 * the Debian build of inih (r55): the handler gets no line number
 * (INI_HANDLER_LINENO = 0), section names are truncated to 49 characters
 * (too short for "[host some.long.domain]"), and with INI_ALLOW_MULTILINE an
 * indented line, even "  port = 5222" or "  [listener x]", silently
 * continues the previous value.  None of inih's run-time globals are touched,
 * so loading stays reentrant and works with an upstream build too.
 *
 * Semantics are checked twice: each key as it is read (type, range,
 * duplicates), then the whole file (hosts, listeners, clashing ports).
 * Every error is reported, one "file:line: [section] key: reason" line
 * each, so that an administrator fixes a file in one round instead of one
 * restart per mistake.  Errors that would only be consequences of an
 * earlier one are held back: the keys of a refused section are skipped,
 * and a key that was present with a bad value is not also "required".
 *
 * What the files named here hold (certificates, the database) is not the
 * loader's business, since xmppctl loads the configuration to create them;
 * cfg_check_files does those checks for whoever needs them.
 */
#include "core/conf/cfg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "core/http/http_origin.h"
#include "core/xmpp/jid.h"
#include "core/base/log.h"

/* A config file is a few kilobytes; anything this big is a wrong path. */
#define CFG_MAX_FILE (1024 * 1024)

enum cfg_sect {
	SECT_NONE,
	SECT_SERVER,
	SECT_TLS,
	SECT_SASL,
	SECT_LIMITS,
	SECT_STORAGE,
	SECT_IM,
	SECT_ADMIN,
	SECT_S2S,
	SECT_HTTP,
	SECT_S2S_ROUTE,
	SECT_HOST,
	SECT_LISTENER,
};

static const char *const sect_names[] = {
	[SECT_NONE] = "",
	[SECT_SERVER] = "server",
	[SECT_TLS] = "tls",
	[SECT_SASL] = "sasl",
	[SECT_LIMITS] = "limits",
	[SECT_STORAGE] = "storage",
	[SECT_IM] = "im",
	[SECT_ADMIN] = "admin",
	[SECT_S2S] = "s2s",
	[SECT_HTTP] = "http",
	[SECT_S2S_ROUTE] = "s2s_route",
	[SECT_HOST] = "host",
	[SECT_LISTENER] = "listener",
};

enum cfg_type {
	T_UINT,   /* unsigned, decimal, range-checked */
	T_SIZE,   /* size_t, decimal, range-checked */
	T_U16,    /* uint16_t, decimal, range-checked */
	T_BOOL,
	T_FN,     /* anything else: a parse function */
};

struct cfg_parse;

/* A parse function stores v into the section's struct (base) or returns a
 * reason for refusing it. */
typedef const char *(*cfg_setter)(struct cfg_parse *p, void *base, const char *v);

struct cfg_key {
	enum cfg_sect sect;
	const char *name;
	enum cfg_type type;
	size_t off;                 /* into struct cfg, cfg_host or cfg_listener */
	unsigned long long min, max;
	cfg_setter fn;
};

static const char *set_threads(struct cfg_parse *p, void *base, const char *v);
static const char *set_log_level(struct cfg_parse *p, void *base, const char *v);
static const char *set_tls_min(struct cfg_parse *p, void *base, const char *v);
static const char *set_db_path(struct cfg_parse *p, void *base, const char *v);
static const char *set_ctl_socket(struct cfg_parse *p, void *base, const char *v);
static const char *set_cert(struct cfg_parse *p, void *base, const char *v);
static const char *set_key(struct cfg_parse *p, void *base, const char *v);
static const char *set_kind(struct cfg_parse *p, void *base, const char *v);
static const char *set_mode(struct cfg_parse *p, void *base, const char *v);
static const char *set_address(struct cfg_parse *p, void *base, const char *v);
static const char *set_exempt(struct cfg_parse *p, void *base, const char *v);
static const char *set_metrics_allow(struct cfg_parse *p, void *base, const char *v);
static const char *set_registration(struct cfg_parse *p, void *base, const char *v);
static const char *set_s2s_ca_file(struct cfg_parse *p, void *base, const char *v);
static const char *set_s2s_ca_path(struct cfg_parse *p, void *base, const char *v);
static const char *set_dns_servers(struct cfg_parse *p, void *base, const char *v);
static const char *set_route_address(struct cfg_parse *p, void *base, const char *v);
static const char *set_route_mode(struct cfg_parse *p, void *base, const char *v);
static const char *set_ws_path(struct cfg_parse *p, void *base, const char *v);
static const char *set_bosh_path(struct cfg_parse *p, void *base, const char *v);
static const char *set_origins(struct cfg_parse *p, void *base, const char *v);

#define K_NUM(s, n, t, st, f, lo, hi) { s, n, t, offsetof(st, f), lo, hi, NULL }
#define K_BOOL(s, n, st, f) { s, n, T_BOOL, offsetof(st, f), 0, 0, NULL }
#define K_FN(s, n, fn) { s, n, T_FN, 0, 0, 0, fn }

/* Ranges are kept in step with server.ini and docs/configuration.md. */
static const struct cfg_key cfg_keys[] = {
	K_FN(SECT_SERVER, "threads", set_threads),
	K_FN(SECT_SERVER, "log_level", set_log_level),
	K_FN(SECT_TLS, "min_version", set_tls_min),
	K_NUM(SECT_SASL, "scram_iterations", T_UINT, struct cfg, scram_iterations, 4096, 10000000),
	K_BOOL(SECT_SASL, "allow_plain", struct cfg, allow_plain),
	K_NUM(SECT_SASL, "auth_failure_delay_ms", T_UINT, struct cfg, auth_fail_delay_ms, 0, 60000),
	K_NUM(SECT_SASL, "auth_failure_delay_max_ms", T_UINT, struct cfg, auth_fail_delay_max_ms,
	      0, 600000),
	K_NUM(SECT_SASL, "max_auth_failures", T_UINT, struct cfg, max_auth_failures, 1, 1000),
	K_NUM(SECT_SASL, "max_auth_attempts", T_UINT, struct cfg, max_auth_attempts, 1, 1000),
	K_NUM(SECT_LIMITS, "max_stanza_size", T_SIZE, struct cfg, max_stanza_size, 1024, 16777216),
	K_NUM(SECT_LIMITS, "max_depth", T_UINT, struct cfg, max_depth, 2, 1000),
	K_NUM(SECT_LIMITS, "max_attributes", T_UINT, struct cfg, max_attributes, 1, 10000),
	K_NUM(SECT_LIMITS, "max_elements_per_stanza", T_UINT, struct cfg, max_elements, 1, 1000000),
	K_NUM(SECT_LIMITS, "preauth_max_stanza", T_SIZE, struct cfg, preauth_max_stanza, 1024,
	      16777216),
	K_NUM(SECT_LIMITS, "preauth_max_elements", T_UINT, struct cfg, preauth_max_elements, 1,
	      1000000),
	K_NUM(SECT_LIMITS, "preauth_timeout", T_UINT, struct cfg, preauth_timeout_s, 1, 3600),
	K_NUM(SECT_LIMITS, "idle_sleep", T_UINT, struct cfg, idle_sleep_s, 0, 86400),
	K_NUM(SECT_LIMITS, "max_output_buffer", T_SIZE, struct cfg, max_output_buffer,
	      4096, 1073741824),
	K_NUM(SECT_LIMITS, "max_connections", T_UINT, struct cfg, max_connections, 1, 10000000),
	K_NUM(SECT_LIMITS, "max_connections_per_ip", T_UINT, struct cfg, max_connections_per_ip, 1,
	      10000000),
	K_NUM(SECT_LIMITS, "max_preauth_connections", T_UINT, struct cfg, max_preauth_connections,
	      1, 10000000),
	K_NUM(SECT_LIMITS, "ipv6_prefix", T_UINT, struct cfg, ipv6_prefix, 8, 128),
	K_NUM(SECT_LIMITS, "connection_rate_per_ip", T_UINT, struct cfg, connection_rate_per_ip, 0,
	      1000000),
	K_NUM(SECT_LIMITS, "connection_burst_per_ip", T_UINT, struct cfg, connection_burst_per_ip,
	      1, 1000000),
	K_FN(SECT_LIMITS, "exempt_networks", set_exempt),
	K_NUM(SECT_LIMITS, "registrations_per_ip_per_hour", T_UINT, struct cfg,
	      registrations_per_ip_per_hour, 0, 1000000),
	K_NUM(SECT_LIMITS, "max_storage_requests_per_session", T_UINT, struct cfg,
	      max_storage_requests, 1, 100000),
	K_NUM(SECT_LIMITS, "max_router_backlog", T_UINT, struct cfg, max_router_backlog, 1,
	      100000000),
	K_NUM(SECT_LIMITS, "tcp_keepalive", T_UINT, struct cfg, tcp_keepalive_s, 0, 86400),
	K_NUM(SECT_LIMITS, "tcp_keepalive_interval", T_UINT, struct cfg, tcp_keepalive_interval_s,
	      1, 3600),
	K_NUM(SECT_LIMITS, "tcp_keepalive_probes", T_UINT, struct cfg, tcp_keepalive_probes, 1, 100),
	K_NUM(SECT_LIMITS, "tcp_user_timeout", T_UINT, struct cfg, tcp_user_timeout_s, 0, 86400),
	K_FN(SECT_STORAGE, "path", set_db_path),
	K_NUM(SECT_IM, "max_roster_items", T_UINT, struct cfg, max_roster_items, 1, 1000000),
	K_NUM(SECT_IM, "max_roster_text", T_UINT, struct cfg, max_roster_text, 1, 65535),
	K_NUM(SECT_IM, "max_roster_groups", T_UINT, struct cfg, max_roster_groups, 1, 10000),
	K_NUM(SECT_IM, "max_offline_messages", T_UINT, struct cfg, max_offline_messages, 0,
	      1000000),
	K_NUM(SECT_IM, "max_blocklist_items", T_UINT, struct cfg, max_blocklist_items, 1, 1000000),
	K_NUM(SECT_IM, "max_held_presences", T_UINT, struct cfg, max_held_presences, 0, 1000000),
	K_NUM(SECT_IM, "max_directed_presences", T_UINT, struct cfg, max_directed_presences, 1,
	      1000000),
	K_NUM(SECT_IM, "max_private_items", T_UINT, struct cfg, max_private_items, 1, 100000),
	K_BOOL(SECT_IM, "software_version", struct cfg, software_version),
	K_NUM(SECT_IM, "max_pep_nodes", T_UINT, struct cfg, max_pep_nodes, 1, 100000),
	K_NUM(SECT_IM, "max_pep_items", T_UINT, struct cfg, max_pep_items, 1, 100000),
	K_NUM(SECT_IM, "max_pep_bytes", T_SIZE, struct cfg, max_pep_bytes, 1024, 1073741824),
	K_NUM(SECT_IM, "max_caps_cache", T_UINT, struct cfg, max_caps_cache, 1, 1000000),
	K_BOOL(SECT_IM, "iq_requires_presence", struct cfg, iq_requires_presence),
	K_BOOL(SECT_IM, "archive", struct cfg, archive),
	K_NUM(SECT_IM, "max_archive_page", T_UINT, struct cfg, max_archive_page, 1, 10000),
	K_NUM(SECT_IM, "max_archive_backlog", T_UINT, struct cfg, max_archive_backlog, 1,
	      10000000),
	K_NUM(SECT_IM, "archive_expires_after", T_UINT, struct cfg, archive_expires_after, 0,
	      36500),
	K_NUM(SECT_IM, "max_archive_prefs_jids", T_UINT, struct cfg, max_archive_prefs_jids, 1,
	      1000000),
	K_BOOL(SECT_ADMIN, "control", struct cfg, ctl_enabled),
	K_FN(SECT_ADMIN, "socket", set_ctl_socket),
	K_NUM(SECT_IM, "sm_resume_timeout", T_UINT, struct cfg, sm_resume_timeout_s, 0, 86400),
	K_NUM(SECT_IM, "sm_max_unacked", T_UINT, struct cfg, sm_max_unacked, 1, 100000),
	K_NUM(SECT_IM, "sm_max_detached", T_UINT, struct cfg, sm_max_detached, 0, 10000000),
	K_NUM(SECT_IM, "sm_request_after", T_UINT, struct cfg, sm_request_after, 1, 100000),
	K_BOOL(SECT_S2S, "require_encryption", struct cfg, s2s_require_encryption),
	K_BOOL(SECT_S2S, "dialback", struct cfg, s2s_dialback),
	K_BOOL(SECT_S2S, "bidi", struct cfg, s2s_bidi),
	K_NUM(SECT_S2S, "max_link_pairs", T_UINT, struct cfg, s2s_max_link_pairs, 1, 1000),
	K_FN(SECT_S2S, "ca_file", set_s2s_ca_file),
	K_FN(SECT_S2S, "ca_path", set_s2s_ca_path),
	K_NUM(SECT_S2S, "max_stanza_size", T_SIZE, struct cfg, s2s_max_stanza_size, 1024, 16777216),
	K_NUM(SECT_S2S, "connect_timeout", T_UINT, struct cfg, s2s_connect_timeout_s, 1, 3600),
	K_NUM(SECT_S2S, "idle_timeout", T_UINT, struct cfg, s2s_idle_timeout_s, 0, 604800),
	K_NUM(SECT_S2S, "send_batch_us", T_UINT, struct cfg, s2s_send_batch_us, 0, 100000),
	K_NUM(SECT_S2S, "max_queue", T_UINT, struct cfg, s2s_max_queue, 1, 1000000),
	K_NUM(SECT_S2S, "max_queue_bytes", T_SIZE, struct cfg, s2s_max_queue_bytes, 1024,
	      1073741824),
	K_NUM(SECT_S2S, "max_outbound_links", T_UINT, struct cfg, s2s_max_links, 1, 1000000),
	K_FN(SECT_S2S, "dns_servers", set_dns_servers),
	K_NUM(SECT_S2S, "dns_timeout_ms", T_UINT, struct cfg, s2s_dns_timeout_ms, 100, 60000),
	K_NUM(SECT_HTTP, "threads", T_UINT, struct cfg, http_threads, 1, 64),
	K_NUM(SECT_HTTP, "max_header_bytes", T_SIZE, struct cfg, http_max_header_bytes, 1024,
	      1048576),
	K_NUM(SECT_HTTP, "max_body_bytes", T_SIZE, struct cfg, http_max_body_bytes, 1024, 16777216),
	K_NUM(SECT_HTTP, "max_target_bytes", T_SIZE, struct cfg, http_max_target_bytes, 64, 65536),
	K_FN(SECT_HTTP, "websocket_path", set_ws_path),
	K_FN(SECT_HTTP, "bosh_path", set_bosh_path),
	K_NUM(SECT_HTTP, "bosh_max_wait", T_UINT, struct cfg, http_bosh_max_wait_s, 1, 3600),
	K_NUM(SECT_HTTP, "bosh_inactivity", T_UINT, struct cfg, http_bosh_inactivity_s, 5, 3600),
	K_NUM(SECT_HTTP, "max_websocket_message_bytes", T_SIZE, struct cfg, http_ws_max_message,
	      1024, 16777216),
	K_FN(SECT_HTTP, "origins", set_origins),
	K_FN(SECT_S2S_ROUTE, "address", set_route_address),
	K_NUM(SECT_S2S_ROUTE, "port", T_U16, struct cfg_s2s_route, port, 1, 65535),
	K_FN(SECT_S2S_ROUTE, "mode", set_route_mode),
	K_FN(SECT_HOST, "certificate", set_cert),
	K_FN(SECT_HOST, "key", set_key),
	K_FN(SECT_HOST, "registration", set_registration),
	K_FN(SECT_LISTENER, "type", set_kind),
	K_FN(SECT_LISTENER, "mode", set_mode),
	K_FN(SECT_LISTENER, "address", set_address),
	K_NUM(SECT_LISTENER, "port", T_U16, struct cfg_listener, port, 1, 65535),
	K_BOOL(SECT_LISTENER, "require_encryption", struct cfg_listener, require_encryption),
	K_NUM(SECT_LISTENER, "rate", T_UINT, struct cfg_listener, rate, 0, 1073741824),
	K_NUM(SECT_LISTENER, "burst", T_UINT, struct cfg_listener, burst, 4096, 1073741824),
	K_BOOL(SECT_LISTENER, "allow_starttls_inside_tls", struct cfg_listener,
	       allow_starttls_inside_tls),
	K_BOOL(SECT_LISTENER, "metrics", struct cfg_listener, metrics),
	K_FN(SECT_LISTENER, "metrics_allow", set_metrics_allow),
};

#define N_KEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* Where "seen" lines live: slot 0 holds the singleton sections (their key
 * names are distinct table entries), then one slot per host and listener. */
#define SLOT_HOST(i) (1 + (i))
#define SLOT_LST(i) (1 + CFG_MAX_HOSTS + (i))
#define SLOT_ROUTE(i) (1 + CFG_MAX_HOSTS + CFG_MAX_LISTENERS + (i))
#define N_SLOTS (1 + CFG_MAX_HOSTS + CFG_MAX_LISTENERS + CFG_MAX_S2S_ROUTES)

struct cfg_parse {
	struct cfg *cfg;
	const char *name;      /* file name for messages */
	const char *base_dir;  /* relative paths are resolved against this */
	char *err;
	size_t errlen;
	unsigned n_errors;     /* errors reported so far */
	bool skip;             /* in a refused section: its keys are not read */
	unsigned refused_hosts, refused_lsts; /* headers refused */

	/* reader state */
	const char *pos;       /* next unread byte of the text */
	const char *line;      /* start of the current raw line */
	int lineno;            /* number of the current line, 1-based */

	/* current section */
	enum cfg_sect sect;
	size_t idx;            /* host or listener index */
	char label[300];       /* "[host example.org]" for messages */

	bool db_path_set;
	bool ctl_socket_set;
	int seen[N_SLOTS][N_KEYS];           /* line a key was set on, 0 = unset */
	int host_line[CFG_MAX_HOSTS];        /* line of the [host] header */
	int lst_line[CFG_MAX_LISTENERS];     /* line of the [listener] header */
	int route_line[CFG_MAX_S2S_ROUTES];  /* line of the [s2s_route] header */
	char why[300];                       /* a setter's reason that names the bad part */
};

static void cfg_fail(struct cfg_parse *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Only the first error is kept: later ones are often its consequences. */
#define CFG_MORE_ERRORS "(more errors not shown)"

/* Appends "fmt..." as one more line to err: whole lines only, and when
 * the buffer is full the lines that do not fit are counted instead. */
static void cfg_err_vadd(char *err, size_t errlen, const char *prefix, const char *fmt,
			 va_list ap)
{
	char line[1024];
	size_t used, need;
	int n;

	if (!err || errlen == 0)
		return;
	n = snprintf(line, sizeof(line), "%s", prefix);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	used = strnlen(err, errlen);
	if (used == errlen) /* not terminated: the caller forgot to clear it */
		used = 0;
	need = strlen(line) + (used ? 1 : 0);
	if (strstr(err, CFG_MORE_ERRORS))
		return; /* full already: keep the lines in order */
	if (used + need >= errlen) {
		/* Rather a line less than a line cut in half: whole lines are
		 * dropped from the end until the note fits. */
		while (used > 0 && used + 1 + sizeof(CFG_MORE_ERRORS) > errlen) {
			char *nl = memrchr(err, '\n', used);

			used = nl ? (size_t)(nl - err) : 0;
		}
		if (used + 1 + sizeof(CFG_MORE_ERRORS) <= errlen)
			snprintf(err + used, errlen - used, "%s%s", used ? "\n" : "",
				 CFG_MORE_ERRORS);
		else
			err[0] = '\0';
		return;
	}
	if (used)
		err[used++] = '\n';
	memcpy(err + used, line, strlen(line) + 1);
}

void cfg_err_add(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_err_vadd(err, errlen, "", fmt, ap);
	va_end(ap);
}

static void cfg_fail(struct cfg_parse *p, int line, const char *fmt, ...)
{
	char prefix[600];
	va_list ap;

	p->n_errors++;
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", p->name, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", p->name);
	va_start(ap, fmt);
	cfg_err_vadd(p->err, p->errlen, prefix, fmt, ap);
	va_end(ap);
}

/* ---- value parsers ---------------------------------------------------- */

/* Plain decimal only: no sign, no hex, no K/M suffix, so that "0x10" or
 * "256K" is an error rather than a surprise. */
static const char *parse_num(const char *v, unsigned long long min, unsigned long long max,
			     unsigned long long *out, char *why, size_t whylen)
{
	unsigned long long n;
	char *end;

	if (!isdigit((unsigned char)v[0]))
		goto nan;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (*end != '\0')
		goto nan;
	if (errno == ERANGE || n < min || n > max) {
		snprintf(why, whylen, "out of range (%llu..%llu)", min, max);
		return why;
	}
	*out = n;
	return NULL;
nan:
	/* inih only strips " ;" comments; "5222 # client" arrives whole. */
	if (strchr(v, '#'))
		return "not a number ('#' starts a comment only at the start of a line; "
		       "use ' ;' for a comment after a value)";
	return "not a number";
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* The CPUs this process may run on: its affinity mask (taskset, cpusets,
 * container CPU pinning), not every core of the machine, so that "auto"
 * does not start more mux threads than there are cores to run them. */
static unsigned cfg_online_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	else
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > 256 ? 256 : (unsigned)n;
}

/* Relative paths are taken from the ini file's directory, not the working
 * directory, so "xmppd -c /etc/xmppd/server.ini" works from anywhere. */
static const char *resolve_path(struct cfg_parse *p, const char *v, char *dst, size_t dstlen)
{
	int n;

	if (v[0] == '\0')
		return "empty path";
	if (v[0] == '/' || !p->base_dir || !p->base_dir[0])
		n = snprintf(dst, dstlen, "%s", v);
	else
		n = snprintf(dst, dstlen, "%s%s%s", p->base_dir,
			     p->base_dir[strlen(p->base_dir) - 1] == '/' ? "" : "/", v);
	if (n < 0 || (size_t)n >= dstlen)
		return "path too long";
	return NULL;
}

/* mode = starttls | direct_tls, of a listener or an [s2s_route] */
static const char *parse_mode(const char *v, enum cfg_listener_mode *mode)
{
	if (strcasecmp(v, "starttls") == 0)
		*mode = CFG_MODE_STARTTLS;
	else if (strcasecmp(v, "direct_tls") == 0)
		*mode = CFG_MODE_DIRECT_TLS;
	else
		return "expected starttls or direct_tls";
	return NULL;
}

static const char *set_threads(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;
	unsigned long long n;
	char why[64];

	if (strcasecmp(v, "auto") == 0) {
		c->threads = cfg_online_cpus();
		return NULL;
	}
	if (parse_num(v, 1, 256, &n, why, sizeof(why)))
		return "expected auto or 1..256";
	c->threads = (unsigned)n;
	return NULL;
}

static const char *set_log_level(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;
	enum log_level lvl;

	if (!log_level_parse(v, &lvl))
		return "expected error, warn, info or debug";
	c->log_level = (int)lvl;
	return NULL;
}

static const char *set_tls_min(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;

	/* Nothing below 1.2: SSL 3.0, TLS 1.0 and 1.1 are broken. */
	if (strcmp(v, "1.2") == 0)
		c->tls_min_version = 12;
	else if (strcmp(v, "1.3") == 0)
		c->tls_min_version = 13;
	else
		return "expected 1.2 or 1.3";
	return NULL;
}

static const char *set_db_path(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;
	const char *r = resolve_path(p, v, c->db_path, sizeof(c->db_path));

	if (!r)
		p->db_path_set = true;
	return r;
}

/* sun_path holds 108 bytes with the NUL: checked here, so that a path
 * that cannot be bound is a line of the file, not a failure at start. */
#define CTL_SOCKET_MAX 107

static const char *set_ctl_socket(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;
	const char *r = resolve_path(p, v, c->ctl_socket, sizeof(c->ctl_socket));

	/* set, even if refused: the default is not the answer to a bad value */
	p->ctl_socket_set = true;
	if (!r && strlen(c->ctl_socket) > CTL_SOCKET_MAX) {
		snprintf(p->why, sizeof(p->why), "%.200s: longer than a Unix socket's path may be "
			 "(%d bytes)", c->ctl_socket, CTL_SOCKET_MAX);
		return p->why;
	}
	return r;
}

/* "none" turns the default bundle off: only ca_path then. */
static const char *set_s2s_ca_file(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;
	if (strcmp(v, "none") == 0) {
		c->s2s_ca_file[0] = '\0';
		return NULL;
	}
	return resolve_path(p, v, c->s2s_ca_file, sizeof(c->s2s_ca_file));
}

static const char *set_s2s_ca_path(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;
	if (strcmp(v, "none") == 0) {
		c->s2s_ca_path[0] = '\0';
		return NULL;
	}
	return resolve_path(p, v, c->s2s_ca_path, sizeof(c->s2s_ca_path));
}

/* c-ares reads the list (ares_set_servers_ports_csv); here only its
 * characters and length are checked. */
static const char *set_dns_servers(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;
	(void)p;
	if (strlen(v) >= sizeof(c->s2s_dns_servers))
		return "too long";
	if (strspn(v, "0123456789abcdefABCDEF.:[],% ") != strlen(v))
		return "expected ip[:port], ... (numeric addresses)";
	snprintf(c->s2s_dns_servers, sizeof(c->s2s_dns_servers), "%s", v);
	return NULL;
}

/* A resource's path: "/" and what may follow in a request target's path
 * (no query); "off" turns the resource off (stored as ""). */
static const char *set_path(char out[128], const char *v)
{
	if (strlen(v) >= 128)
		return "too long";
	if (strcasecmp(v, "off") == 0)
		v = "";
	else if (v[0] != '/' || strpbrk(v, "?# \t%"))
		return "expected a path starting with / (no query), or off";
	snprintf(out, 128, "%s", v);
	return NULL;
}

static const char *set_ws_path(struct cfg_parse *p, void *base, const char *v)
{
	(void)p;
	return set_path(((struct cfg *)base)->http_ws_path, v);
}

static const char *set_bosh_path(struct cfg_parse *p, void *base, const char *v)
{
	(void)p;
	return set_path(((struct cfg *)base)->http_bosh_path, v);
}

/* "*", or origins as a browser serializes them (RFC 6454 6.2): scheme
 * http or https, a host, perhaps a port, no path; compared to the Origin
 * header case-insensitively (core/http/http_origin.h). */
static const char *set_origins(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;
	(void)p;
	if (strlen(v) >= sizeof(c->http_origins))
		return "too long";
	const char *s = v;
	while (*s) {
		s += strspn(s, " ,\t");
		size_t n = strcspn(s, " ,\t");
		if (!n)
			break;
		if (!(n == 1 && *s == '*') && !http_origin_valid(s, n))
			return "expected \"*\" or origins such as https://chat.example.com or "
			       "http://localhost:8080 (scheme, host and port only)";
		s += n;
	}
	snprintf(c->http_origins, sizeof(c->http_origins), "%s", v);
	return NULL;
}

static const char *set_route_address(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg_s2s_route *r = base;
	(void)p;
	if (strlen(v) >= sizeof(r->address))
		return "too long";
	if (strpbrk(v, " /@\t"))
		return "expected an IP address or a host name";
	snprintf(r->address, sizeof(r->address), "%s", v);
	return NULL;
}

static const char *set_route_mode(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg_s2s_route *r = base;
	(void)p;
	return parse_mode(v, &r->mode);
}

/* Whether the files exist and hold a usable chain and key is left to the TLS
 * layer at start-up and to "xmppctl check": the config may be written before
 * the certificates are issued, and the checks belong where the files are read. */
static const char *set_cert(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg_host *h = base;

	return resolve_path(p, v, h->cert_file, sizeof(h->cert_file));
}

static const char *set_key(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg_host *h = base;

	return resolve_path(p, v, h->key_file, sizeof(h->key_file));
}

/* Off unless the administrator opens it: an open server is one anybody
 * can make accounts on, which is a decision, not a default. */
static const char *set_registration(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg_host *h = base;

	(void)p;
	if (strcasecmp(v, "off") == 0)
		h->registration_open = false;
	else if (strcasecmp(v, "open") == 0)
		h->registration_open = true;
	else
		return "expected off or open";
	return NULL;
}

static const char *set_kind(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg_listener *l = base;

	if (strcasecmp(v, "c2s") == 0)
		l->kind = CFG_LISTEN_C2S;
	else if (strcasecmp(v, "s2s") == 0)
		l->kind = CFG_LISTEN_S2S;
	else if (strcasecmp(v, "http") == 0)
		l->kind = CFG_LISTEN_HTTP;
	else if (strcasecmp(v, "https") == 0)
		l->kind = CFG_LISTEN_HTTPS;
	else
		return "expected c2s, s2s, http or https";
	return NULL;
}

static const char *set_mode(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg_listener *l = base;

	(void)p;
	return parse_mode(v, &l->mode);
}

/* Numeric only, as the listener binds with inet_pton: a host name here would
 * need a resolver at start-up and could name several addresses. */
static const char *set_address(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg_listener *l = base;
	unsigned char buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, v, buf) != 1 && inet_pton(AF_INET6, v, buf) != 1)
		return "not a numeric IPv4 or IPv6 address";
	if (strlen(v) >= sizeof(l->address))
		return "address too long";
	snprintf(l->address, sizeof(l->address), "%s", v);
	return NULL;
}

/* "192.0.2.0/24, 2001:db8::/32 10.1.2.3": commas, blanks or both between
 * networks, at most max of them into out; the key given again replaces
 * the list. */
static const char *parse_networks(struct cfg_parse *p, const char *v, struct cidr *out,
				  size_t max, size_t *n_out)
{
	size_t n = 0;

	for (const char *s = v; *s;) {
		size_t len;
		char tok[80];
		const char *why;

		if (*s == ',' || *s == ' ' || *s == '\t') {
			s++;
			continue;
		}
		len = strcspn(s, ", \t");
		if (n == max) {
			snprintf(p->why, sizeof(p->why), "more than %zu networks", max);
			return p->why;
		}
		if (len >= sizeof(tok)) {
			snprintf(p->why, sizeof(p->why), "'%.40s...': not an address or network", s);
			return p->why;
		}
		memcpy(tok, s, len);
		tok[len] = '\0';
		if ((why = cidr_parse(tok, &out[n])) != NULL) {
			snprintf(p->why, sizeof(p->why), "'%s': %s", tok, why);
			return p->why;
		}
		n++;
		s += len;
	}
	*n_out = n;
	return NULL;
}

static const char *set_exempt(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg *c = base;
	return parse_networks(p, v, c->exempt, CFG_MAX_EXEMPT, &c->n_exempt);
}

static const char *set_metrics_allow(struct cfg_parse *p, void *base, const char *v)
{
	struct cfg_listener *l = base;
	return parse_networks(p, v, l->metrics_allow, CFG_MAX_METRICS_ALLOW, &l->n_metrics_allow);
}

/* ---- sections ----------------------------------------------------------- */

/* d is already Nameprep'd (lower case, no trailing dot).  On top of what a
 * JID domain may be, a served host must look like a DNS name, since it is
 * also looked up in certificates and SRV records: dot-separated labels of
 * letters, digits, inner hyphens and (for IDNs) non-ASCII UTF-8; no '_', no
 * IP literal in brackets. */
static bool cfg_domain_ok(const char *d)
{
	size_t len = strlen(d), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		unsigned char ch = (unsigned char)d[i];

		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (ch == '-' && label == 0)
			return false;
		if (!isalnum(ch) && ch != '-' && ch < 0x80)
			return false;
		label++;
	}
	return true;
}

static bool cfg_lst_name_ok(const char *n)
{
	if (!n[0])
		return false;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '_' && *n != '-' && *n != '.')
			return false;
	return true;
}

static void begin_host(struct cfg_parse *p, const char *arg)
{
	struct cfg *c = p->cfg;
	char dom[sizeof(c->hosts[0].domain)];
	struct cfg_host *h;

	if (!arg[0]) {
		cfg_fail(p, p->lineno, "[host]: missing domain (write [host example.org])");
		return;
	}
	/* The same normalisation as JIDs get, so that the router can compare a
	 * stanza's domain with this one byte for byte. */
	if (jid_domain_prep(arg, dom, sizeof(dom)) != XS_OK || !cfg_domain_ok(dom))
		goto bad;
	for (size_t i = 0; i < c->n_hosts; i++) {
		if (strcmp(c->hosts[i].domain, dom) == 0) {
			cfg_fail(p, p->lineno, "[host %s]: duplicate host (first defined on line %d)",
				 dom, p->host_line[i]);
			return;
		}
	}
	if (c->n_hosts == CFG_MAX_HOSTS) {
		cfg_fail(p, p->lineno, "[host %s]: too many hosts (at most %d)", dom, CFG_MAX_HOSTS);
		return;
	}
	p->idx = c->n_hosts++;
	p->host_line[p->idx] = p->lineno;
	h = &c->hosts[p->idx];
	memset(h, 0, sizeof(*h));
	snprintf(h->domain, sizeof(h->domain), "%s", dom);
	snprintf(p->label, sizeof(p->label), "[host %s]", dom);
	p->sect = SECT_HOST;
	p->skip = false;
	return;
bad:
	cfg_fail(p, p->lineno, "[host %s]: invalid domain name", arg);
}

static void begin_s2s_route(struct cfg_parse *p, const char *arg)
{
	struct cfg *c = p->cfg;
	char dom[sizeof(c->s2s_routes[0].domain)];

	if (!arg[0]) {
		cfg_fail(p, p->lineno, "[s2s_route]: missing domain (write [s2s_route example.org])");
		return;
	}
	if (jid_domain_prep(arg, dom, sizeof(dom)) != XS_OK || !cfg_domain_ok(dom)) {
		cfg_fail(p, p->lineno, "[s2s_route %s]: invalid domain name", arg);
		return;
	}
	for (size_t i = 0; i < c->n_s2s_routes; i++) {
		if (strcmp(c->s2s_routes[i].domain, dom) == 0) {
			cfg_fail(p, p->lineno, "[s2s_route %s]: duplicate route", dom);
			return;
		}
	}
	if (c->n_s2s_routes == CFG_MAX_S2S_ROUTES) {
		cfg_fail(p, p->lineno, "[s2s_route %s]: too many routes (at most %d)", dom,
			 CFG_MAX_S2S_ROUTES);
		return;
	}
	p->idx = c->n_s2s_routes++;
	p->route_line[p->idx] = p->lineno;
	struct cfg_s2s_route *r = &c->s2s_routes[p->idx];
	memset(r, 0, sizeof(*r));
	snprintf(r->domain, sizeof(r->domain), "%s", dom);
	r->port = 5269;
	r->mode = CFG_MODE_STARTTLS;
	snprintf(p->label, sizeof(p->label), "[s2s_route %s]", dom);
	p->sect = SECT_S2S_ROUTE;
	p->skip = false;
}

static void begin_listener(struct cfg_parse *p, const char *arg)
{
	struct cfg *c = p->cfg;
	struct cfg_listener *l;

	if (!arg[0]) {
		cfg_fail(p, p->lineno, "[listener]: missing name (write [listener NAME])");
		return;
	}
	if (!cfg_lst_name_ok(arg) || strlen(arg) >= sizeof(l->name)) {
		cfg_fail(p, p->lineno,
			 "[listener %s]: invalid name (letters, digits, '_', '-', '.'; at most %zu)",
			 arg, sizeof(l->name) - 1);
		return;
	}
	for (size_t i = 0; i < c->n_listeners; i++) {
		if (strcmp(c->listeners[i].name, arg) == 0) {
			cfg_fail(p, p->lineno,
				 "[listener %s]: duplicate listener (first defined on line %d)",
				 arg, p->lst_line[i]);
			return;
		}
	}
	if (c->n_listeners == CFG_MAX_LISTENERS) {
		cfg_fail(p, p->lineno, "[listener %s]: too many listeners (at most %d)", arg,
			 CFG_MAX_LISTENERS);
		return;
	}
	p->idx = c->n_listeners++;
	p->lst_line[p->idx] = p->lineno;
	l = &c->listeners[p->idx];
	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "%s", arg);
	l->kind = CFG_LISTEN_C2S;
	l->mode = CFG_MODE_STARTTLS;
	snprintf(l->address, sizeof(l->address), "127.0.0.1");
	l->port = 0; /* required: checked once the file is read */
	l->require_encryption = true;
	l->allow_starttls_inside_tls = false;
	l->rate = 16384;
	l->burst = 131072;
	snprintf(p->label, sizeof(p->label), "[listener %s]", arg);
	p->sect = SECT_LISTENER;
	p->skip = false;
}

/* hdr is the text between '[' and ']': "server", "host example.org", ... */
static void begin_section(struct cfg_parse *p, char *hdr)
{
	char *type, *arg, *e;
	enum cfg_sect s = SECT_NONE;

	while (isspace((unsigned char)*hdr))
		hdr++;
	e = hdr + strlen(hdr);
	while (e > hdr && isspace((unsigned char)e[-1]))
		*--e = '\0';
	type = hdr;
	arg = type;
	while (*arg && !isspace((unsigned char)*arg))
		arg++;
	if (*arg) {
		*arg++ = '\0';
		while (isspace((unsigned char)*arg))
			arg++;
	}
	for (size_t i = SECT_SERVER; i < sizeof(sect_names) / sizeof(sect_names[0]); i++)
		if (strcasecmp(type, sect_names[i]) == 0)
			s = (enum cfg_sect)i;

	/* Until a header is accepted, the keys under it belong to nothing:
	 * reading them into the previous section would give false errors. */
	p->skip = true;
	switch (s) {
	case SECT_NONE:
		cfg_fail(p, p->lineno, "[%s%s%s]: unknown section", type, *arg ? " " : "", arg);
		return;
	case SECT_HOST:
		begin_host(p, arg);
		p->refused_hosts += p->skip;
		return;
	case SECT_LISTENER:
		begin_listener(p, arg);
		p->refused_lsts += p->skip;
		return;
	case SECT_S2S_ROUTE:
		begin_s2s_route(p, arg);
		return;
	default:
		if (*arg) {
			cfg_fail(p, p->lineno, "[%s %s]: section [%s] takes no name", type, arg,
				 sect_names[s]);
			return;
		}
		/* A repeated [server] merges; repeated keys are still caught. */
		p->sect = s;
		p->skip = false;
		snprintf(p->label, sizeof(p->label), "[%s]", sect_names[s]);
		return;
	}
}

/* ---- inih callbacks ----------------------------------------------------- */

/* A refused line is handed to inih as a blank one, which it skips, so that
 * it neither reports the line again nor reads a half of it. */
static char *cfg_blank_line(char *buf)
{
	buf[0] = '\n';
	buf[1] = '\0';
	return buf;
}

/* The line, trimmed and shortened, for quoting in a message. */
static void cfg_excerpt(const char *s, char *out, size_t outlen)
{
	size_t n = strcspn(s, "\r\n");

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n > 40)
		n = 40;
	snprintf(out, outlen, "%.*s", (int)n, s);
}

/* inih's own test for "key = value": an '=' or ':' before any inline
 * " ;" comment (find_chars_or_comment in ini.c). */
static bool cfg_has_delimiter(const char *s)
{
	bool was_space = false;

	for (; *s; s++) {
		if (*s == '=' || *s == ':')
			return true;
		if (was_space && *s == ';')
			return false;
		was_space = isspace((unsigned char)*s);
	}
	return false;
}

/* Every indented line is refused.  inih (INI_ALLOW_MULTILINE) reads one
 * as the continuation of the previous value, and right after a section
 * header, where there is no previous value, as a key: so "  port = 1"
 * means two different things depending on the line above it.  The line is
 * still read, without its indentation, so that its key and value get
 * their own checks. */
static void cfg_refuse_indent(struct cfg_parse *p, const char *s)
{
	char key[64];
	size_t n;

	if (*s == '[') {
		cfg_fail(p, p->lineno, "indented section header; remove the leading whitespace");
		return;
	}
	n = strcspn(s, "=:");
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	snprintf(key, sizeof(key), "%.*s", (int)(n < sizeof(key) ? n : sizeof(key) - 1), s);
	if (p->sect == SECT_NONE || p->skip)
		cfg_fail(p, p->lineno, "%s: indented line; remove the leading whitespace", key);
	else
		cfg_fail(p, p->lineno,
			 "%s %s: indented line; remove the leading whitespace (an indented line "
			 "continues the previous value in inih)", p->label, key);
}

/* "[name]" or "[name ; comment": the header is read here, so that sections
 * get their whole name (inih's buffer holds 49 characters) and the line. */
static char *cfg_read_header(struct cfg_parse *p, char *buf, const char *s)
{
	/* Same end rule as inih: ']' or an inline " ;" comment. */
	char hdr[1024], ex[48];
	const char *e = s + 1;
	bool was_space = false;

	while (*e && *e != ']' && !(was_space && *e == ';')) {
		was_space = isspace((unsigned char)*e);
		e++;
	}
	if (*e != ']') {
		cfg_excerpt(s, ex, sizeof(ex));
		cfg_fail(p, p->lineno, "syntax error: expected [section] or key = value, got \"%s\"",
			 ex);
		/* Its keys are skipped; "no [host]" would only repeat this. */
		p->skip = true;
		p->refused_hosts += strncasecmp(s + 1, "host", 4) == 0;
		p->refused_lsts += strncasecmp(s + 1, "listener", 8) == 0;
		return cfg_blank_line(buf);
	}
	if ((size_t)(e - s - 1) >= sizeof(hdr)) {
		cfg_fail(p, p->lineno, "section header too long");
		p->skip = true;
		return cfg_blank_line(buf);
	}
	snprintf(hdr, sizeof(hdr), "%.*s", (int)(e - s - 1), s + 1);
	begin_section(p, hdr);
	return buf;
}

/* Called by inih for each line, fgets-style.  Looks at the raw line before
 * inih does, mirroring inih's order of tests (comment, section, key), so
 * that every line gets its number and every bad line its own message, not
 * only the first one inih would return. */
static char *cfg_reader(char *buf, int num, void *stream)
{
	struct cfg_parse *p = stream;
	const char *nl, *s;
	char *text, ex[48];
	size_t len;

	if (*p->pos == '\0' || num < 2)
		return NULL;
	nl = strchr(p->pos, '\n');
	len = nl ? (size_t)(nl - p->pos) + 1 : strlen(p->pos);
	p->line = p->pos;
	p->lineno++;
	p->pos += len;
	/* inih would split a longer line and read the rest as a line of its own. */
	if (len + 1 > (size_t)num) {
		cfg_fail(p, p->lineno, "line too long (at most %d characters)", num - 3);
		return cfg_blank_line(buf);
	}
	memcpy(buf, p->line, len);
	buf[len] = '\0';

	text = buf;
	if (p->lineno == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0)
		text += 3; /* a UTF-8 BOM, which inih skips */
	s = text;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == ';' || *s == '#' || *s == '\0')
		return buf;
	if (s > text) {
		cfg_refuse_indent(p, s);
		memmove(text, s, strlen(s) + 1);
		s = text;
	}
	if (*s == '[')
		return cfg_read_header(p, buf, s);
	if (!cfg_has_delimiter(s)) {
		cfg_excerpt(s, ex, sizeof(ex));
		cfg_fail(p, p->lineno, "syntax error: expected [section] or key = value, got \"%s\"",
			 ex);
		return cfg_blank_line(buf);
	}
	return buf;
}

static const struct cfg_key *cfg_key_find(enum cfg_sect s, const char *name, size_t *index)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (cfg_keys[i].sect == s && strcasecmp(cfg_keys[i].name, name) == 0) {
			*index = i;
			return &cfg_keys[i];
		}
	}
	return NULL;
}

static const char *cfg_key_set(struct cfg_parse *p, const struct cfg_key *k, void *base,
			       const char *v, char *why, size_t whylen)
{
	unsigned long long n;
	const char *r;
	bool b;

	if (v[0] == '\0')
		return "empty value";
	switch (k->type) {
	case T_UINT:
	case T_SIZE:
	case T_U16:
		r = parse_num(v, k->min, k->max, &n, why, whylen);
		if (r)
			return r;
		if (k->type == T_UINT)
			*(unsigned *)((char *)base + k->off) = (unsigned)n;
		else if (k->type == T_SIZE)
			*(size_t *)((char *)base + k->off) = (size_t)n;
		else
			*(uint16_t *)((char *)base + k->off) = (uint16_t)n;
		return NULL;
	case T_BOOL:
		if (!parse_bool(v, &b))
			return "expected true/false, yes/no, on/off or 1/0";
		*(bool *)((char *)base + k->off) = b;
		return NULL;
	case T_FN:
		return k->fn(p, base, v);
	}
	return "internal error";
}

#if INI_HANDLER_LINENO
static int cfg_handler(void *user, const char *section, const char *name, const char *value,
		       int lineno)
#else
static int cfg_handler(void *user, const char *section, const char *name, const char *value)
#endif
{
	struct cfg_parse *p = user;
	const struct cfg_key *k;
	char why[128];
	const char *r;
	size_t ki, slot = 0;
	void *base = p->cfg;

	/* Builds with INI_CALL_HANDLER_ON_NEW_SECTION announce sections this way;
	 * the reader has already seen the header.  Errors are recorded here and
	 * reading goes on (1), so the next line is checked too. */
	if (!name || p->skip)
		return 1;
	if (p->sect == SECT_NONE) {
		cfg_fail(p, p->lineno, "%s: key outside any [section]", name);
		return 1;
	}
	if (!value) { /* only with INI_ALLOW_NO_VALUE */
		cfg_fail(p, p->lineno, "%s %s: missing '= value'", p->label, name);
		return 1;
	}
	k = cfg_key_find(p->sect, name, &ki);
	if (!k) {
		cfg_fail(p, p->lineno, "%s %s: unknown key", p->label, name);
		return 1;
	}
	if (p->sect == SECT_HOST) {
		slot = SLOT_HOST(p->idx);
		base = &p->cfg->hosts[p->idx];
	} else if (p->sect == SECT_LISTENER) {
		slot = SLOT_LST(p->idx);
		base = &p->cfg->listeners[p->idx];
	} else if (p->sect == SECT_S2S_ROUTE) {
		slot = SLOT_ROUTE(p->idx);
		base = &p->cfg->s2s_routes[p->idx];
	}
	if (p->seen[slot][ki]) {
		cfg_fail(p, p->lineno, "%s %s: duplicate key (first set on line %d)", p->label,
			 k->name, p->seen[slot][ki]);
		return 1;
	}
	p->seen[slot][ki] = p->lineno;
	r = cfg_key_set(p, k, base, value, why, sizeof(why));
	if (r) {
		cfg_fail(p, p->lineno, "%s %s: %s", p->label, k->name, r);
		return 1;
	}
	return 1;
}

/* ---- whole-file checks -------------------------------------------------- */

static int key_line(const struct cfg_parse *p, size_t slot, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(cfg_keys[i].name, name) == 0 && p->seen[slot][i])
			return p->seen[slot][i];
	return 0;
}

/* Two listeners clash if they would bind the same port on overlapping
 * addresses.  The mux binds with SO_REUSEADDR and IPV6_V6ONLY, so 0.0.0.0
 * overlaps every IPv4 address and :: every IPv6 one, but not each other. */
static bool lst_clash(const struct cfg_listener *a, const struct cfg_listener *b)
{
	unsigned char x[16], y[16];
	static const unsigned char zero[16];
	int fam, len;

	if (a->port != b->port)
		return false;
	if (inet_pton(AF_INET, a->address, x) == 1) {
		fam = AF_INET;
		len = 4;
	} else {
		fam = AF_INET6;
		len = 16;
		if (inet_pton(AF_INET6, a->address, x) != 1)
			return false;
	}
	if (inet_pton(fam, b->address, y) != 1)
		return false;
	return memcmp(x, y, len) == 0 || memcmp(x, zero, len) == 0 || memcmp(y, zero, len) == 0;
}

/* A key that was in the file with a bad value has already been reported;
 * "required" would only repeat it. */
static void check_hosts(struct cfg_parse *p)
{
	const struct cfg *c = p->cfg;

	for (size_t i = 0; i < c->n_hosts; i++) {
		const struct cfg_host *h = &c->hosts[i];

		if (!h->cert_file[0] && !key_line(p, SLOT_HOST(i), "certificate"))
			cfg_fail(p, p->host_line[i], "[host %s] certificate: required", h->domain);
		if (!h->key_file[0] && !key_line(p, SLOT_HOST(i), "key"))
			cfg_fail(p, p->host_line[i], "[host %s] key: required", h->domain);
	}
}

static void check_listeners(struct cfg_parse *p)
{
	struct cfg *c = p->cfg;

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct cfg_listener *l = &c->listeners[i];

		if (l->port == 0) {
			if (!key_line(p, SLOT_LST(i), "port"))
				cfg_fail(p, p->lst_line[i], "[listener %s] port: required", l->name);
			continue;
		}
		/* an s2s listener that does not say otherwise follows [s2s] */
		if (l->kind == CFG_LISTEN_S2S && !key_line(p, SLOT_LST(i), "require_encryption"))
			c->listeners[i].require_encryption = c->s2s_require_encryption;
		/* and reads without a rate: one link carries every user's
		 * traffic between two servers (16 KiB/s would cap it at some
		 * 130 messages a second); before authentication the pre-auth
		 * limits hold it, after it the router's backlog pauses it */
		if (l->kind == CFG_LISTEN_S2S && !key_line(p, SLOT_LST(i), "rate"))
			c->listeners[i].rate = 0;
		if (cfg_listener_is_http(l)) {
			/* the type says whether TLS comes first; HTTP has no
			 * STARTTLS, and nothing else of an XMPP stream applies */
			static const char *const not_http[] = { "mode", "require_encryption",
								"allow_starttls_inside_tls" };
			for (size_t k = 0; k < sizeof(not_http) / sizeof(not_http[0]); k++)
				if (key_line(p, SLOT_LST(i), not_http[k]))
					cfg_fail(p, key_line(p, SLOT_LST(i), not_http[k]),
						 "[listener %s] %s: not for type = http or https "
						 "(https is TLS from the first byte)",
						 l->name, not_http[k]);
			c->listeners[i].mode = l->kind == CFG_LISTEN_HTTPS ? CFG_MODE_DIRECT_TLS
									    : CFG_MODE_STARTTLS;
			c->listeners[i].require_encryption = false;
		}
		if (!cfg_listener_is_http(l)) {
			static const char *const http_only[] = { "metrics", "metrics_allow" };
			for (size_t k = 0; k < sizeof(http_only) / sizeof(http_only[0]); k++)
				if (key_line(p, SLOT_LST(i), http_only[k]))
					cfg_fail(p, key_line(p, SLOT_LST(i), http_only[k]),
						 "[listener %s] %s: only for type = http or https",
						 l->name, http_only[k]);
		}
		if (l->allow_starttls_inside_tls && l->mode != CFG_MODE_DIRECT_TLS &&
		    !cfg_listener_is_http(l)) {
			/* Without an outer TLS layer there is nothing to be "inside". */
			cfg_fail(p, key_line(p, SLOT_LST(i), "allow_starttls_inside_tls"),
				 "[listener %s] allow_starttls_inside_tls: only valid with mode = direct_tls",
				 l->name);
		}
		for (size_t j = 0; j < i; j++) {
			const struct cfg_listener *o = &c->listeners[j];

			if (!lst_clash(l, o))
				continue;
			cfg_fail(p, key_line(p, SLOT_LST(i), "port"),
				 "[listener %s] port: %s port %u clashes with [listener %s] (%s port %u, line %d)",
				 l->name, l->address, l->port, o->name, o->address, o->port,
				 key_line(p, SLOT_LST(j), "port"));
			break;
		}
	}
}

static void check_limits(struct cfg_parse *p)
{
	struct cfg *c = p->cfg;

	if (c->auth_fail_delay_max_ms < c->auth_fail_delay_ms) {
		int line = key_line(p, 0, "auth_failure_delay_max_ms");

		cfg_fail(p, line ? line : key_line(p, 0, "auth_failure_delay_ms"),
			 "[sasl] auth_failure_delay_max_ms: less than auth_failure_delay_ms (%u < %u)",
			 c->auth_fail_delay_max_ms, c->auth_fail_delay_ms);
	}
	/* Authenticating must not lower a limit.  A pre-auth limit set in the
	 * file above its full counterpart is an error; the default is just
	 * brought down to it (max_stanza_size = 8192 alone stays valid). */
	if (c->preauth_max_stanza > c->max_stanza_size) {
		int line = key_line(p, 0, "preauth_max_stanza");

		if (line)
			cfg_fail(p, line, "[limits] preauth_max_stanza: more than max_stanza_size (%zu > %zu)",
				 c->preauth_max_stanza, c->max_stanza_size);
		else
			c->preauth_max_stanza = c->max_stanza_size;
	}
	if (c->preauth_max_elements > c->max_elements) {
		int line = key_line(p, 0, "preauth_max_elements");

		if (line)
			cfg_fail(p, line,
				 "[limits] preauth_max_elements: more than max_elements_per_stanza (%u > %u)",
				 c->preauth_max_elements, c->max_elements);
		else
			c->preauth_max_elements = c->max_elements;
	}
}

static void check_routes(struct cfg_parse *p)
{
	const struct cfg *c = p->cfg;
	for (size_t i = 0; i < c->n_s2s_routes; i++) {
		const struct cfg_s2s_route *r = &c->s2s_routes[i];
		if (!r->address[0] && !key_line(p, SLOT_ROUTE(i), "address"))
			cfg_fail(p, p->route_line[i], "[s2s_route %s] address: required", r->domain);
		if (cfg_find_host(c, r->domain))
			cfg_fail(p, p->route_line[i], "[s2s_route %s]: the domain is served here",
				 r->domain);
	}
}

static void cfg_check(struct cfg_parse *p)
{
	check_hosts(p);
	check_routes(p);
	check_listeners(p);
	check_limits(p);
	/* A refused [host x] header has been reported; "no host" would be
	 * its echo. */
	if (p->cfg->n_hosts == 0 && !p->refused_hosts)
		cfg_fail(p, 0, "no [host DOMAIN] section (at least one is required)");
	if (p->cfg->n_listeners == 0 && !p->refused_lsts)
		cfg_fail(p, 0, "no [listener NAME] section (at least one is required)");
}

/* Where each file-naming key was set, for messages about the files
 * (cfg_where) once the parse state is gone. */
static void cfg_keep_lines(struct cfg_parse *p)
{
	struct cfg *c = p->cfg;

	c->db_path_line = key_line(p, 0, "path");
	c->ctl_socket_line = key_line(p, 0, "socket");
	for (size_t i = 0; i < c->n_hosts; i++) {
		c->hosts[i].line = p->host_line[i];
		c->hosts[i].cert_line = key_line(p, SLOT_HOST(i), "certificate");
		c->hosts[i].key_line = key_line(p, SLOT_HOST(i), "key");
	}
}

/* ---- entry points ------------------------------------------------------- */

void cfg_defaults(struct cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = cfg_online_cpus();
	cfg->log_level = LOG_LVL_INFO;
	cfg->tls_min_version = 12;
	cfg->scram_iterations = 4096;
	cfg->allow_plain = true;
	cfg->auth_fail_delay_ms = 500;
	cfg->auth_fail_delay_max_ms = 8000;
	cfg->max_auth_failures = 5;
	cfg->max_auth_attempts = 10;
	cfg->max_stanza_size = 262144;
	cfg->max_depth = 32;
	cfg->max_attributes = 64;
	cfg->max_elements = 2000;
	cfg->preauth_max_stanza = 16384;
	cfg->preauth_max_elements = 64;
	cfg->preauth_timeout_s = 30;
	cfg->idle_sleep_s = 30;
	cfg->max_output_buffer = 1048576;
	cfg->max_connections = 100000;
	cfg->max_connections_per_ip = 200;
	cfg->max_preauth_connections = 5000;
	cfg->ipv6_prefix = 64;
	cfg->connection_rate_per_ip = 10;
	cfg->connection_burst_per_ip = 50;
	cfg->max_router_backlog = 100000;
	cfg->max_storage_requests = 128;
	cfg->registrations_per_ip_per_hour = 3;
	cfg->tcp_keepalive_s = 60;
	cfg->tcp_keepalive_interval_s = 15;
	cfg->tcp_keepalive_probes = 4;
	cfg->tcp_user_timeout_s = 120;
	cfg->max_roster_items = 1000;
	cfg->max_roster_text = 1024;
	cfg->max_roster_groups = 32;
	cfg->max_offline_messages = 1000;
	cfg->max_directed_presences = 1000;
	cfg->max_held_presences = 1000;
	cfg->max_blocklist_items = 1000;
	cfg->archive = true;
	cfg->max_archive_page = 100;
	cfg->max_archive_backlog = 4096;
	cfg->archive_expires_after = 0;
	cfg->max_archive_prefs_jids = 1000;
	cfg->sm_resume_timeout_s = 300;
	cfg->sm_max_unacked = 500;
	cfg->sm_max_detached = 10000;
	cfg->sm_request_after = 5;
	cfg->max_private_items = 100;
	cfg->software_version = true;
	cfg->max_pep_nodes = 256;
	cfg->max_pep_items = 256;
	cfg->max_pep_bytes = 8388608;
	cfg->max_caps_cache = 4096;
	cfg->iq_requires_presence = true;
	cfg->ctl_enabled = true;
	cfg->s2s_require_encryption = true;
	cfg->s2s_bidi = true;
	cfg->s2s_max_link_pairs = 16;
	snprintf(cfg->s2s_ca_file, sizeof(cfg->s2s_ca_file), "/etc/ssl/certs/ca-certificates.crt");
	cfg->s2s_max_stanza_size = 524288;
	cfg->s2s_connect_timeout_s = 30;
	cfg->s2s_idle_timeout_s = 600;
	cfg->s2s_send_batch_us = 5000;
	cfg->s2s_max_queue = 1000;
	cfg->s2s_max_queue_bytes = 1048576;
	cfg->s2s_max_links = 1000;
	cfg->s2s_dns_timeout_ms = 5000;
	cfg->http_threads = 1;
	cfg->http_max_header_bytes = 8192;
	cfg->http_max_body_bytes = 262144;
	cfg->http_max_target_bytes = 2048;
	snprintf(cfg->http_ws_path, sizeof(cfg->http_ws_path), "/xmpp-websocket");
	snprintf(cfg->http_bosh_path, sizeof(cfg->http_bosh_path), "/http-bind");
	cfg->http_bosh_max_wait_s = 60;
	cfg->http_bosh_inactivity_s = 60;
	cfg->http_ws_max_message = 262144;
	/* Relative until a load resolves it against the ini file's directory. */
	snprintf(cfg->db_path, sizeof(cfg->db_path), "data/xmppd.sqlite");
	/* Until a load puts it beside the database. */
	snprintf(cfg->ctl_socket, sizeof(cfg->ctl_socket), "data/xmppd.sock");
}

/* Copies the line number 'line' of text (trimmed, shortened) into out. */
static void cfg_line_excerpt(const char *text, int line, char *out, size_t outlen)
{
	const char *s = text, *e;
	size_t n;

	for (int i = 1; i < line && s; i++) {
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	if (!s) {
		out[0] = '\0';
		return;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	e = strchr(s, '\n');
	n = e ? (size_t)(e - s) : strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n > 40)
		n = 40;
	snprintf(out, outlen, "%.*s", (int)n, s);
}

static bool cfg_parse_text(const char *text, const char *name, const char *base_dir,
			   struct cfg *cfg, char *err, size_t errlen)
{
	struct cfg_parse *p;
	bool ok;
	int ret;

	/* Too big for a thread's stack: the seen[] table is a few pages. */
	p = calloc(1, sizeof(*p));
	if (!p) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		return false;
	}
	if (err && errlen)
		err[0] = '\0';
	p->cfg = cfg;
	p->name = name;
	p->base_dir = base_dir;
	p->err = err;
	p->errlen = errlen;
	p->pos = text;
	p->line = text;
	p->sect = SECT_NONE;

	ret = ini_parse_stream(cfg_reader, p, cfg_handler, p);
	/* The reader refuses every line inih could not read, so inih finding
	 * one means the two disagree: say so rather than lose the line. */
	if (ret > 0) {
		char ex[48];

		cfg_line_excerpt(text, ret, ex, sizeof(ex));
		cfg_fail(p, ret, "syntax error: expected [section] or key = value, got \"%s\"", ex);
	} else if (ret < 0) {
		cfg_fail(p, 0, "inih failed (%d)", ret);
	}
	if (!p->db_path_set) {
		char def[sizeof(cfg->db_path)];
		const char *r;

		memcpy(def, cfg->db_path, sizeof(def));
		r = resolve_path(p, def, cfg->db_path, sizeof(cfg->db_path));
		if (r)
			cfg_fail(p, 0, "[storage] path: %s", r);
	}
	if (!p->ctl_socket_set) {
		/* Beside the database: its directory exists (xmppd checks) and
		 * "xmppctl init" makes it 0700. */
		char def[sizeof(cfg->ctl_socket)];
		const char *slash = strrchr(cfg->db_path, '/');
		const char *r;
		int n = snprintf(def, sizeof(def), "%.*sxmppd.sock",
				 slash ? (int)(slash + 1 - cfg->db_path) : 0, cfg->db_path);

		r = n < 0 || (size_t)n >= sizeof(def) ? "path too long" : set_ctl_socket(p, cfg, def);
		if (r && cfg->ctl_enabled)
			cfg_fail(p, 0, "[admin] socket (default: beside [storage] path): %s", r);
	}
	cfg_check(p);
	cfg_keep_lines(p);
	ok = p->n_errors == 0;
	free(p);
	return ok;
}

bool cfg_load_string(const char *text, const char *name, const char *base_dir,
		     struct cfg *cfg, char *err, size_t errlen)
{
	cfg_defaults(cfg);
	if (!name)
		name = "(string)";
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);
	snprintf(cfg->name, sizeof(cfg->name), "%s", name);
	return cfg_parse_text(text, name, base_dir, cfg, err, errlen);
}

/* Reads the whole file so that the same reader serves files and strings and
 * a NUL byte (which would end the text early) can be refused. */
static char *cfg_read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len;

	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CFG_MAX_FILE + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	len = fread(buf, 1, CFG_MAX_FILE + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto fail;
	}
	if (len > CFG_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %d bytes; not a config file?", path,
			 CFG_MAX_FILE);
		goto fail;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		snprintf(err, errlen, "%s: contains a NUL byte; not a text file?", path);
		goto fail;
	}
	goto out;
fail:
	free(buf);
	buf = NULL;
out:
	fclose(f);
	return buf;
}

bool cfg_load(const char *path, struct cfg *cfg, char *err, size_t errlen)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash;
	char *text;
	bool ok;

	cfg_defaults(cfg);
	if (strlen(path) >= sizeof(cfg->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return false;
	}
	text = cfg_read_file(path, err, errlen);
	if (!text)
		return false;

	/* The directory is made absolute so resolved paths survive a chdir. */
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (realpath(dir, real))
		snprintf(dir, sizeof(dir), "%s", real);

	/* Kept absolute too, for the reload on SIGHUP. */
	if (!realpath(path, real) || strlen(real) >= sizeof(cfg->path))
		snprintf(real, sizeof(real), "%s", path); /* fits: checked above */
	memcpy(cfg->path, real, strlen(real) + 1);
	snprintf(cfg->name, sizeof(cfg->name), "%s", path); /* fits: checked above */

	ok = cfg_parse_text(text, path, dir, cfg, err, errlen);
	free(text);
	if (ok)
		LOG_DEBUG("config %s: %zu host(s), %zu listener(s), %u mux thread(s)", cfg->path,
			  cfg->n_hosts, cfg->n_listeners, cfg->threads);
	return ok;
}

const struct cfg_host *cfg_find_host(const struct cfg *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->n_hosts; i++)
		if (strcasecmp(cfg->hosts[i].domain, domain) == 0)
			return &cfg->hosts[i];
	return NULL;
}

bool cfg_has_s2s_listener(const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].kind == CFG_LISTEN_S2S)
			return true;
	return false;
}

bool cfg_has_http_listener(const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (cfg_listener_is_http(&cfg->listeners[i]))
			return true;
	return false;
}

const struct cfg_s2s_route *cfg_find_s2s_route(const struct cfg *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->n_s2s_routes; i++)
		if (strcmp(cfg->s2s_routes[i].domain, domain) == 0)
			return &cfg->s2s_routes[i];
	return NULL;
}

void cfg_where(const struct cfg *cfg, int line, const char *section, const char *key,
	       char *buf, size_t len)
{
	if (line > 0)
		snprintf(buf, len, "%s:%d: %s %s", cfg->name, line, section, key);
	else
		snprintf(buf, len, "%s: %s %s", cfg->name, section, key);
}

void cfg_host_where(const struct cfg *cfg, const struct cfg_host *h, bool key, char *buf,
		    size_t len)
{
	char sect[300];
	int line = key ? h->key_line : h->cert_line;

	snprintf(sect, sizeof(sect), "[host %s]", h->domain);
	cfg_where(cfg, line ? line : h->line, sect, key ? "key" : "certificate", buf, len);
}

static unsigned check_readable(const struct cfg *cfg, const struct cfg_host *h, bool key,
			       char *err, size_t errlen)
{
	const char *file = key ? h->key_file : h->cert_file;
	char where[700];
	FILE *f;

	if (!file[0])
		return 0; /* "required", reported by the loader */
	f = fopen(file, "rb");
	if (f) {
		fclose(f);
		return 0;
	}
	cfg_host_where(cfg, h, key, where, sizeof(where));
	cfg_err_add(err, errlen, "%s: cannot read %s: %s", where, file, strerror(errno));
	return 1;
}

/* The directory must exist: a path that points into a missing one is much
 * more likely a typo than a wish for a new, empty server. */
static unsigned check_storage(const struct cfg *cfg, unsigned what, char *err, size_t errlen)
{
	char where[700], dir[sizeof(cfg->db_path)];
	const char *slash = strrchr(cfg->db_path, '/');
	struct stat sb;

	cfg_where(cfg, cfg->db_path_line, "[storage]", "path", where, sizeof(where));
	if (!cfg->db_path_line)
		strncat(where, " (default)", sizeof(where) - strlen(where) - 1);
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - cfg->db_path) : 1,
		 slash ? cfg->db_path : ".");
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");
	if (stat(dir, &sb) != 0) {
		cfg_err_add(err, errlen, "%s: directory %s: %s (a typo? \"xmppctl -c %s init\" "
			    "creates it and a new database)", where, dir, strerror(errno), cfg->name);
		return 1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		cfg_err_add(err, errlen, "%s: %s is not a directory", where, dir);
		return 1;
	}
	if (!(what & CFG_FILES_DB))
		return 0;
	if (stat(cfg->db_path, &sb) != 0) {
		cfg_err_add(err, errlen, "%s: no database at %s: %s (\"xmppctl -c %s init\" creates "
			    "a new one)", where, cfg->db_path, strerror(errno), cfg->name);
		return 1;
	}
	if (!S_ISREG(sb.st_mode)) {
		cfg_err_add(err, errlen, "%s: %s is not a regular file", where, cfg->db_path);
		return 1;
	}
	return 0;
}

unsigned cfg_check_files(const struct cfg *cfg, unsigned what, char *err, size_t errlen)
{
	unsigned n = 0;

	if (what & CFG_FILES_TLS) {
		for (size_t i = 0; i < cfg->n_hosts; i++) {
			n += check_readable(cfg, &cfg->hosts[i], false, err, errlen);
			n += check_readable(cfg, &cfg->hosts[i], true, err, errlen);
		}
	}
	if (what & (CFG_FILES_STORAGE | CFG_FILES_DB))
		n += check_storage(cfg, what, err, errlen);
	return n;
}

unsigned cfg_print_errors(FILE *f, const char *prefix, const char *err)
{
	unsigned n = 0;

	while (err && *err) {
		size_t len = strcspn(err, "\n");

		fprintf(f, "%s%.*s\n", prefix, (int)len, err);
		n++;
		err += len;
		if (*err == '\n')
			err++;
	}
	return n;
}
