/* Configuration: server.ini parsed with inih into one immutable struct cfg.
 * The struct is built once at start-up (SIGHUP does not re-read it) and then only
 * read; no thread writes to a published cfg.
 *
 * Errors name file, line and key: "server.ini:12: [limits] max_depth: not a number".
 */
#ifndef XMPPD_CFG_H
#define XMPPD_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/base/cidr.h"

#define CFG_MAX_HOSTS 64
#define CFG_MAX_LISTENERS 32
#define CFG_MAX_EXEMPT 64
#define CFG_MAX_S2S_ROUTES 64
#define CFG_MAX_METRICS_ALLOW 8

/* type = c2s | s2s | http | https; an https listener has mode
 * CFG_MODE_DIRECT_TLS, an http one CFG_MODE_STARTTLS (plaintext first,
 * without STARTTLS: HTTP has none) */
enum cfg_listener_kind { CFG_LISTEN_C2S, CFG_LISTEN_S2S, CFG_LISTEN_HTTP, CFG_LISTEN_HTTPS };
enum cfg_listener_mode {
	CFG_MODE_STARTTLS,   /* plaintext first, STARTTLS offered (5222) */
	CFG_MODE_DIRECT_TLS, /* TLS from the first byte (5223, XEP-0368) */
};

struct cfg_listener {
	char name[64];                  /* section suffix: [listener NAME] */
	enum cfg_listener_kind kind;    /* type = c2s | s2s | http | https */
	enum cfg_listener_mode mode;    /* mode = starttls | direct_tls */
	char address[64];               /* address = 127.0.0.1 | :: | 0.0.0.0 */
	uint16_t port;                  /* port = 5222 */
	bool require_encryption;        /* require_encryption = true */
	bool allow_starttls_inside_tls; /* allow_starttls_inside_tls = false */
	unsigned rate;                  /* rate = 16384 bytes/s read per connection; 0 = unlimited */
	unsigned burst;                 /* burst = 131072 bytes read at once before the rate applies */
	/* http/https only: GET /metrics (docs/internals/gateway.md) */
	bool metrics;                   /* metrics = false */
	size_t n_metrics_allow;         /* metrics_allow = CIDR list; none: loopback peers only */
	struct cidr metrics_allow[CFG_MAX_METRICS_ALLOW];
};

struct cfg_host {
	char domain[256];      /* [host DOMAIN], normalised to lower case */
	char cert_file[512];   /* certificate = PEM chain */
	char key_file[512];    /* key = PEM private key */
	bool registration_open; /* registration = off | open: XEP-0077 in-band registration */
	int line, cert_line, key_line; /* where the header and keys are, for messages */
};

/* [s2s_route DOMAIN]: where links to DOMAIN go, in place of DNS. */
struct cfg_s2s_route {
	char domain[256];              /* normalised as [host] domains are */
	char address[256];             /* address = IP or host name (the hosts file, then DNS) */
	uint16_t port;                 /* port = 5269 */
	enum cfg_listener_mode mode;   /* mode = starttls | direct_tls (ALPN xmpp-server) */
};

struct cfg {
	char path[512];               /* the file this was read from, absolute */
	char name[512];               /* the same as given, for messages */
	/* [server] */
	unsigned threads;             /* threads = auto | N (auto -> cores) */
	int log_level;                /* log_level = error|warn|info|debug (enum log_level) */
	/* [tls] */
	int tls_min_version;          /* min_version = 1.2 | 1.3 -> 12 | 13 */
	/* [sasl] */
	unsigned scram_iterations;    /* scram_iterations = 4096 (>= 4096) */
	bool allow_plain;             /* allow_plain = true (only ever over TLS) */
	unsigned auth_fail_delay_ms;  /* auth_failure_delay_ms = 500: first delay, doubled per failure */
	unsigned auth_fail_delay_max_ms; /* auth_failure_delay_max_ms = 8000 */
	unsigned max_auth_failures;   /* max_auth_failures = 5 wrong credentials on one stream */
	unsigned max_auth_attempts;   /* max_auth_attempts = 10 refused SASL elements of any kind on one stream */
	/* [limits] */
	size_t max_stanza_size;       /* max_stanza_size = 262144 bytes */
	unsigned max_depth;           /* max_depth = 32 element nesting inside a stanza */
	unsigned max_attributes;      /* max_attributes = 64 per element */
	unsigned max_elements;        /* max_elements_per_stanza = 2000, the stanza element included */
	size_t preauth_max_stanza;    /* preauth_max_stanza = 16384 bytes before authentication */
	unsigned preauth_max_elements; /* preauth_max_elements = 64 per stanza before authentication */
	unsigned preauth_timeout_s;   /* preauth_timeout = 30 seconds until authenticated */
	unsigned idle_sleep_s;        /* idle_sleep = 30: seconds without traffic before a session's TLS state and parser are put to sleep; 0 = never */
	size_t max_output_buffer;     /* max_output_buffer = 1048576 bytes queued per connection; over it the connection is closed */
	unsigned max_connections;     /* max_connections = 100000 */
	unsigned max_connections_per_ip; /* max_connections_per_ip = 200 (IPv6: per ipv6_prefix) */
	unsigned max_preauth_connections; /* max_preauth_connections = 5000 not yet authenticated */
	unsigned ipv6_prefix;         /* ipv6_prefix = 64: bits of an IPv6 address that make one peer */
	unsigned connection_rate_per_ip; /* connection_rate_per_ip = 10 new connections a second from one address; 0 = no limit */
	unsigned connection_burst_per_ip; /* connection_burst_per_ip = 50 new connections at once before the rate applies */
	size_t n_exempt;              /* exempt_networks = CIDR list: no per-address connection limits */
	struct cidr exempt[CFG_MAX_EXEMPT];
	unsigned registrations_per_ip_per_hour; /* registrations_per_ip_per_hour = 3 accounts one address may create in-band an hour; 0 = no limit */
	unsigned max_storage_requests; /* max_storage_requests_per_session = 128 waiting for the store; over it, resource-constraint */
	unsigned max_router_backlog;  /* max_router_backlog = 100000 stanzas waiting for the router; over it, sessions' input pauses */
	unsigned tcp_keepalive_s;     /* tcp_keepalive = 60: idle seconds before the first probe; 0 = off */
	unsigned tcp_keepalive_interval_s; /* tcp_keepalive_interval = 15 */
	unsigned tcp_keepalive_probes; /* tcp_keepalive_probes = 4 unanswered before the peer is dead */
	unsigned tcp_user_timeout_s;  /* tcp_user_timeout = 120: unacknowledged output before the peer is dead; 0 = the kernel's */
	/* [im] */
	unsigned max_roster_items;    /* max_roster_items = 1000 contacts per account */
	unsigned max_roster_text;     /* max_roster_text = 1024 bytes of a roster item's name, and of each group name */
	unsigned max_roster_groups;   /* max_roster_groups = 32 groups one roster item is in */
	unsigned max_private_items;   /* max_private_items = 100 XEP-0049 documents per account */
	unsigned max_offline_messages; /* max_offline_messages = 1000 kept per account; 0 = none kept */
	unsigned max_blocklist_items; /* max_blocklist_items = 1000 JIDs one account blocks (XEP-0191) */
	unsigned max_held_presences;  /* max_held_presences = 1000 presence updates held for an inactive client (XEP-0352) */
	unsigned max_directed_presences; /* max_directed_presences = 1000 JIDs a session sent presence to outside its roster */
	bool archive;                 /* archive = true: XEP-0313 message archive for every account */
	unsigned max_archive_backlog; /* max_archive_backlog = 4096 archive writes waiting for the store, server-wide */
	unsigned max_archive_page;    /* max_archive_page = 100 messages one archive query returns at most */
	unsigned archive_expires_after; /* archive_expires_after = 0 days an archived message is kept; 0 = forever */
	unsigned max_archive_prefs_jids; /* max_archive_prefs_jids = 1000 JIDs in one account's archive preferences (XEP-0441) */
	bool software_version;        /* software_version = true: XEP-0092 answered and in disco; false: neither */
	unsigned max_pep_nodes;       /* max_pep_nodes = 256 PEP nodes per account (XEP-0163) */
	unsigned max_pep_items;       /* max_pep_items = 256 items one PEP node keeps at most ("max") */
	size_t max_pep_bytes;         /* max_pep_bytes = 8388608 payload bytes of all one account's PEP items */
	unsigned max_caps_cache;      /* max_caps_cache = 4096 verified XEP-0115 hashes the router remembers */
	bool iq_requires_presence;    /* iq_requires_presence = true: RFC 6121 8.5.3.1, no iq get/set to a resource that does not share presence */
	/* XEP-0198 stream management (mux/mux_sm.c) */
	unsigned sm_resume_timeout_s; /* sm_resume_timeout = 300 seconds a dropped resumable session waits; 0 = no resumption */
	unsigned sm_max_unacked;      /* sm_max_unacked = 500 stanzas sent and not acknowledged; over it the session ends */
	unsigned sm_max_detached;     /* sm_max_detached = 10000 dropped sessions waiting for resumption, server-wide */
	unsigned sm_request_after;    /* sm_request_after = 5 unacknowledged stanzas before the server sends <r/> */
	/* [s2s] server-to-server links (s2s/, docs/internals/s2s.md) */
	bool s2s_require_encryption;  /* require_encryption = true: TLS on every link; the default of an s2s listener's own key */
	bool s2s_dialback;            /* dialback = false: XEP-0220 (over TLS only) for peers whose certificate does not authenticate them */
	bool s2s_bidi;                /* bidi = true: XEP-0288, one stream carries a pair's stanzas both ways when both servers offer it */
	unsigned s2s_max_link_pairs;  /* max_link_pairs = 16: domain pairs one inbound link may carry (its first, and more by dialback, XEP-0220 multiplexing) */
	char s2s_ca_file[512];        /* ca_file = /etc/ssl/certs/ca-certificates.crt: trust anchors for peers' certificates; none: "" */
	char s2s_ca_path[512];        /* ca_path = DIR of hashed certificates; none (the default): "" */
	size_t s2s_max_stanza_size;   /* max_stanza_size = 524288 bytes on a server link */
	unsigned s2s_connect_timeout_s; /* connect_timeout = 30: seconds to resolve, connect, secure and authenticate a link; then its queue bounces */
	unsigned s2s_idle_timeout_s;  /* idle_timeout = 600: seconds without a stanza either way before a link is closed; 0 = never */
	unsigned s2s_send_batch_us;   /* send_batch_us = 5000: a link written to less than this long ago holds what follows until then, to send it in one write (mux/mux_batch.c); 0 = every stanza at once */
	unsigned s2s_max_queue;       /* max_queue = 1000 stanzas waiting for one link */
	size_t s2s_max_queue_bytes;   /* max_queue_bytes = 1048576 bytes of them */
	unsigned s2s_max_links;       /* max_outbound_links = 1000 links connecting or up */
	char s2s_dns_servers[256];    /* dns_servers = "ip[:port],..." instead of /etc/resolv.conf's; "" */
	unsigned s2s_dns_timeout_ms;  /* dns_timeout_ms = 5000 per try */
	size_t n_s2s_routes;
	struct cfg_s2s_route s2s_routes[CFG_MAX_S2S_ROUTES];
	/* [http]: the gateway's threads and the limits of its HTTP/1.1
	 * requests (docs/internals/gateway.md) */
	unsigned http_threads;        /* threads = 1 gateway thread(s), used when an http/https listener exists */
	size_t http_max_header_bytes; /* max_header_bytes = 8192: request line and headers; more -> 431 */
	size_t http_max_body_bytes;   /* max_body_bytes = 262144: a request's body; more -> 413 */
	size_t http_max_target_bytes; /* max_target_bytes = 2048: the request target; more -> 414 */
	char http_bosh_path[128];     /* bosh_path = /http-bind; off (stored "") = no BOSH */
	unsigned http_bosh_max_wait_s; /* bosh_max_wait = 60 s a request may be held */
	unsigned http_bosh_inactivity_s; /* bosh_inactivity = 60 s without a request ends a session */
	char http_ws_path[128];       /* websocket_path = /xmpp-websocket; off (stored "") = no WebSocket */
	size_t http_ws_max_message;   /* max_websocket_message_bytes = 262144: one message; more -> 1009 */
	/* origins = the web origins whose pages may open sessions (WebSocket's
	 * Origin check, BOSH's CORS), space or comma separated,
	 * "scheme://host[:port]" each, or "*"; "" = the request's own
	 * origin only (its Host), or a client that sends no Origin */
	char http_origins[1024];
	/* [storage] */
	char db_path[512];            /* path = data/xmppd.sqlite (relative to the ini file's directory) */
	int db_path_line;             /* 0: the default */
	/* [admin] */
	bool ctl_enabled;             /* control = true: the control socket xmppctl talks to a running server through */
	char ctl_socket[512];         /* socket = PATH (relative to the ini file's directory); default xmppd.sock beside the database */
	int ctl_socket_line;          /* 0: the default */
	/* Not read from the file: XEP-0115's verification string of the
	 * server's disco#info, which depends on the keys above; xmppd fills
	 * it at start-up (disco_server_caps_ver), before any thread reads
	 * the cfg.  Empty: no caps in the stream features. */
	char caps_ver[32];
	/* [host ...] */
	size_t n_hosts;
	struct cfg_host hosts[CFG_MAX_HOSTS];
	/* [listener ...] */
	size_t n_listeners;
	struct cfg_listener listeners[CFG_MAX_LISTENERS];
};

/* Fills *cfg with defaults, then reads path.  On error returns false and
 * writes every error into err, one line each ("file:line: [section] key:
 * reason"), separated by '\n' (no final newline; a single error is one
 * plain line).  Lines that do not fit are dropped whole and the last line
 * says "(more errors not shown)"; 8 KiB holds about 50.  cfg_print_errors
 * prints them.  After a failure *cfg holds what could be read. */
bool cfg_load(const char *path, struct cfg *cfg, char *err, size_t errlen);
/* Same, from a string (for tests); name is used in error messages.  Relative
 * paths are resolved against base_dir. */
bool cfg_load_string(const char *text, const char *name, const char *base_dir,
		     struct cfg *cfg, char *err, size_t errlen);
void cfg_defaults(struct cfg *cfg);

/* What cfg_check_files looks at.  The loader leaves the files alone, so
 * that xmppctl can load a configuration whose certificates or database it
 * is about to create (cert generate, init). */
enum {
	CFG_FILES_TLS = 1,     /* every certificate and key file can be read */
	CFG_FILES_STORAGE = 2, /* [storage] path is in a directory that exists */
	CFG_FILES_DB = 4,      /* ... and the database file exists (implies 2) */
};
/* Appends one "file:line: [section] key: reason" line per problem to err
 * (as cfg_load writes them; err must be a string, "" or earlier errors)
 * and returns how many there were. */
unsigned cfg_check_files(const struct cfg *cfg, unsigned what, char *err, size_t errlen);

/* "file:line: SECTION KEY" (no line when 0), the start of a message about
 * a key's value; cfg_host_where for a host's certificate or key. */
void cfg_where(const struct cfg *cfg, int line, const char *section, const char *key,
	       char *buf, size_t len);
void cfg_host_where(const struct cfg *cfg, const struct cfg_host *h, bool key, char *buf,
		    size_t len);
/* Appends a line to an error list as cfg_load writes it. */
void cfg_err_add(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prints each line of such a list with prefix; returns the number of lines. */
unsigned cfg_print_errors(FILE *f, const char *prefix, const char *err);
const struct cfg_host *cfg_find_host(const struct cfg *cfg, const char *domain);
/* Whether a listener of type s2s is configured (peers' certificates are
 * then asked for and checked against [s2s] ca_file / ca_path). */
bool cfg_has_s2s_listener(const struct cfg *cfg);
/* Whether the listener speaks HTTP (type = http or https). */
static inline bool cfg_listener_is_http(const struct cfg_listener *l)
{
	return l->kind == CFG_LISTEN_HTTP || l->kind == CFG_LISTEN_HTTPS;
}
/* Whether any listener speaks HTTP: then the gateway threads start. */
bool cfg_has_http_listener(const struct cfg *cfg);
/* The [s2s_route] of domain (normalised), or NULL. */
const struct cfg_s2s_route *cfg_find_s2s_route(const struct cfg *cfg, const char *domain);

#endif
