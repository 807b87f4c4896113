/* xmppctl: the administrator's tool, reading the same server.ini as xmppd.
 *
 *   xmppctl [-c server.ini] adduser JID        password from a prompt, or stdin
 *   xmppctl [-c server.ini] passwd JID
 *   xmppctl [-c server.ini] deluser JID
 *   xmppctl [-c server.ini] listusers DOMAIN
 *   xmppctl [-c server.ini] cert generate DOMAIN [--out DIR] [--days N] [--type ecdsa|rsa] [--bits N]
 *   xmppctl [-c server.ini] cert import DOMAIN CERT.pem KEY.pem
 *   xmppctl [-c server.ini] check
 *   xmppctl [-c server.ini] init               the database (and its directory)
 *   xmppctl [-c server.ini] sessions           who is online (a running server)
 *   xmppctl [-c server.ini] s2s                the server-to-server links (a running server)
 *   xmppctl [-c server.ini] kick JID           close a session, or all of an account
 *   xmppctl [-c server.ini] roster JID list|add CONTACT [NAME]|remove CONTACT
 *
 * Accounts are written straight into the SQLite store (WAL mode lets this
 * run beside a live server).  Passwords are never stored: only salted SCRAM
 * credentials for SHA-1 and SHA-256.  sessions, s2s, kick and roster talk to the
 * running server over its control socket ([admin] socket), so that what is
 * online changes with them (core/ctl/ctl_server.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/conf/cfg.h"
#include "core/xmpp/jid.h"
#include "core/base/log.h"
#include "core/base/xbuf.h"
#include "core/auth/sasl_scram.h"
#include "core/cmd/xmppctl_dns.h"
#include "core/ctl/ctl_socket.h"
#include "core/route/ctl_cmd.h"
#include "core/store/store.h"
#include "tls/tls.h"
#include "tls/tls_cert.h"

static struct cfg cfg;

static int usage(void)
{
	fprintf(stderr,
		"usage: xmppctl [-c server.ini] COMMAND\n"
		"  adduser JID          create an account (password from prompt or stdin)\n"
		"  passwd JID           change an account's password\n"
		"  deluser JID          delete an account\n"
		"  listusers DOMAIN     list the accounts of a domain\n"
		"  cert generate DOMAIN [--out DIR] [--days N] [--type ecdsa|rsa] [--bits N]\n"
		"                       self-signed certificate and key: ECDSA P-256 (default)\n"
		"                       or P-384 (--bits 384), RSA 2048 (default), 3072 or 4096\n"
		"  cert import DOMAIN CERT.pem KEY.pem\n"
		"                       check and install a certificate where server.ini points\n"
		"  check                validate the config and every domain's certificate\n"
		"  init                 create the database (and its directory) where\n"
		"                       [storage] path points; xmppd never creates one\n"
		"A running server, through its control socket ([admin] socket):\n"
		"  sessions             bound sessions: JID, listener, since, TLS, awake|asleep\n"
		"  s2s                  server links: local, remote, in|out, peer, since, TLS,\n"
		"                       authentication, awake|asleep\n"
		"  kick JID             close a session (full JID) or all of an account\n"
		"  roster JID list      an account's roster\n"
		"  roster JID add CONTACT [NAME]\n"
		"  roster JID remove CONTACT\n"
		"                       changed as the account's own client would: its\n"
		"                       online resources get the roster push\n");
	return 2;
}

/* Reads a password: prompted twice without echo on a terminal, else one line. */
static int read_password(char *out, size_t cap)
{
	if (isatty(STDIN_FILENO)) {
		struct termios old, noecho;
		char again[1024];
		tcgetattr(STDIN_FILENO, &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
		fprintf(stderr, "Password: ");
		char *a = fgets(out, (int)cap, stdin);
		fprintf(stderr, "\nAgain: ");
		char *b = fgets(again, sizeof(again), stdin);
		fprintf(stderr, "\n");
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		if (!a || !b)
			return -1;
		out[strcspn(out, "\r\n")] = '\0';
		again[strcspn(again, "\r\n")] = '\0';
		int same = strcmp(out, again) == 0;
		explicit_bzero(again, sizeof(again));
		if (!same) {
			fprintf(stderr, "xmppctl: the passwords differ\n");
			return -1;
		}
	} else if (!fgets(out, (int)cap, stdin)) {
		fprintf(stderr, "xmppctl: no password on standard input\n");
		return -1;
	}
	out[strcspn(out, "\r\n")] = '\0';
	if (!*out) {
		fprintf(stderr, "xmppctl: empty password\n");
		return -1;
	}
	return 0;
}

/* "User@Domain" -> normalised local and domain; the domain must be hosted. */
static int split_account(const char *arg, char *local, size_t lcap, char *domain, size_t dcap)
{
	struct jid *j = NULL;
	if (jid_parse(arg, &j) != XS_OK || !jid_has_local(j) || !jid_is_bare(j)) {
		fprintf(stderr, "xmppctl: '%s' is not an account JID (user@domain)\n", arg);
		jid_free(j);
		return -1;
	}
	snprintf(local, lcap, "%.*s", (int)j->local_len, j->local);
	snprintf(domain, dcap, "%.*s", (int)j->domain_len, j->domain);
	jid_free(j);
	if (!cfg_find_host(&cfg, domain)) {
		fprintf(stderr, "xmppctl: %s is not a host of %s\n", domain, cfg.path);
		return -1;
	}
	return 0;
}

/* Accounts live in a database that "xmppctl init" made; adduser alone may
 * create the file (a fresh install's first account), in a directory that
 * must exist: a [storage] path into a missing directory is a typo until
 * init says otherwise.  Problems are named as config errors are. */
static struct store *open_store(enum store_open_mode mode)
{
	char err[512];
	static char errs[2048];
	unsigned what = mode == STORE_OPEN_EXISTING ? CFG_FILES_DB : CFG_FILES_STORAGE;

	errs[0] = '\0';
	if (cfg_check_files(&cfg, what, errs, sizeof(errs)) != 0) {
		cfg_print_errors(stderr, "xmppctl: ", errs);
		return NULL;
	}
	struct stat sb;
	bool existed = stat(cfg.db_path, &sb) == 0;
	struct store *st = store_sqlite_open(cfg.db_path, mode, err, sizeof(err));
	if (!st)
		fprintf(stderr, "xmppctl: %s\n", err);
	else if (!existed)
		fprintf(stderr, "xmppctl: created a new database %s\n", cfg.db_path);
	return st;
}

static int cmd_init(void)
{
	struct stat sb;
	char err[512];

	if (stat(cfg.db_path, &sb) == 0) {
		/* Opening it checks (and brings up to date) its schema. */
		struct store *st = store_sqlite_open(cfg.db_path, STORE_OPEN_EXISTING, err,
						     sizeof(err));
		if (!st) {
			fprintf(stderr, "xmppctl: %s\n", err);
			return 1;
		}
		store_close(st);
		printf("database %s exists already (schema version %d); nothing to do\n",
		       cfg.db_path, store_sqlite_schema_version());
		return 0;
	}
	struct store *st = store_sqlite_open(cfg.db_path, STORE_OPEN_CREATE_DIR, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "xmppctl: %s\n", err);
		return 1;
	}
	store_close(st);
	printf("created the database %s (schema version %d)\n", cfg.db_path,
	       store_sqlite_schema_version());
	return 0;
}

static int make_creds(struct scram_cred *sha1, struct scram_cred *sha256)
{
	char pw[1024];
	if (read_password(pw, sizeof(pw)) != 0)
		return -1;
	bool ok = scram_cred_make(SCRAM_SHA1, pw, cfg.scram_iterations, sha1) &&
		  scram_cred_make(SCRAM_SHA256, pw, cfg.scram_iterations, sha256);
	explicit_bzero(pw, sizeof(pw));
	if (!ok)
		fprintf(stderr, "xmppctl: the password is not valid (SASLprep failed)\n");
	return ok ? 0 : -1;
}

static int cmd_user(const char *cmd, const char *arg)
{
	char local[1024], domain[256];
	if (split_account(arg, local, sizeof(local), domain, sizeof(domain)) != 0)
		return 1;
	struct store *st = open_store(!strcmp(cmd, "adduser") ? STORE_OPEN_CREATE_FILE
							       : STORE_OPEN_EXISTING);
	if (!st)
		return 1;
	int rc = 1;
	struct scram_cred sha1, sha256;
	enum xs r;
	if (!strcmp(cmd, "deluser")) {
		r = store_user_delete(st, domain, local);
		if (r == XS_OK) {
			printf("deleted %s@%s\n", local, domain);
			rc = 0;
		} else {
			fprintf(stderr, "xmppctl: %s@%s: %s\n", local, domain,
				r == XS_NOTFOUND ? "no such account" : xs_name(r));
		}
		goto out;
	}
	bool exists = false;
	if (store_user_exists(st, domain, local, &exists) != XS_OK)
		goto out;
	if (!strcmp(cmd, "adduser") && exists) {
		fprintf(stderr, "xmppctl: %s@%s already exists\n", local, domain);
		goto out;
	}
	if (!strcmp(cmd, "passwd") && !exists) {
		fprintf(stderr, "xmppctl: %s@%s: no such account\n", local, domain);
		goto out;
	}
	if (make_creds(&sha1, &sha256) != 0)
		goto out;
	r = !strcmp(cmd, "adduser") ? store_user_create(st, domain, local, &sha1, &sha256)
				    : store_user_set_creds(st, domain, local, &sha1, &sha256);
	explicit_bzero(&sha1, sizeof(sha1));
	explicit_bzero(&sha256, sizeof(sha256));
	if (r != XS_OK) {
		fprintf(stderr, "xmppctl: %s@%s: %s\n", local, domain, xs_name(r));
		goto out;
	}
	printf("%s %s@%s\n", !strcmp(cmd, "adduser") ? "added" : "password changed for", local, domain);
	rc = 0;
out:
	store_close(st);
	return rc;
}

static void print_local(void *arg, const char *local)
{
	printf("%s@%s\n", local, (const char *)arg);
}

static int cmd_listusers(const char *domain_arg)
{
	char domain[1024];
	if (jid_domain_prep(domain_arg, domain, sizeof(domain)) != XS_OK || !cfg_find_host(&cfg, domain)) {
		fprintf(stderr, "xmppctl: %s is not a host of %s\n", domain_arg, cfg.path);
		return 1;
	}
	struct store *st = open_store(STORE_OPEN_EXISTING);
	if (!st)
		return 1;
	enum xs r = store_user_list(st, domain, print_local, domain);
	store_close(st);
	return r == XS_OK ? 0 : 1;
}

static int mkdir_for(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "xmppctl: cannot create %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int cmd_cert_generate(int argc, char **argv)
{
	const char *domain_arg = argv[0], *out = NULL;
	unsigned days = 365, bits = 0;
	enum tls_key_kind kind = TLS_KEY_ECDSA;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--days") && i + 1 < argc)
			days = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--bits") && i + 1 < argc)
			bits = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "rsa"))
				kind = TLS_KEY_RSA;
			else if (!strcmp(argv[i], "ecdsa"))
				kind = TLS_KEY_ECDSA;
			else {
				fprintf(stderr, "xmppctl: unsupported key type '%s' (rsa or ecdsa)\n", argv[i]);
				return 1;
			}
		} else
			return usage();
	}
	char domain[1024], cert[PATH_MAX], key[PATH_MAX], err[512];
	if (jid_domain_prep(domain_arg, domain, sizeof(domain)) != XS_OK) {
		fprintf(stderr, "xmppctl: '%s' is not a domain name\n", domain_arg);
		return 1;
	}
	const struct cfg_host *h = cfg_find_host(&cfg, domain);
	if (out) {
		snprintf(cert, sizeof(cert), "%s/%s.pem", out, domain);
		snprintf(key, sizeof(key), "%s/%s.key", out, domain);
	} else if (h) {
		snprintf(cert, sizeof(cert), "%s", h->cert_file);
		snprintf(key, sizeof(key), "%s", h->key_file);
	} else {
		fprintf(stderr, "xmppctl: %s is not a host of %s; use --out DIR\n", domain, cfg.path);
		return 1;
	}
	if (days == 0 || days > 3650) {
		fprintf(stderr, "xmppctl: --days must be 1..3650\n");
		return 1;
	}
	if (mkdir_for(cert) != 0 || mkdir_for(key) != 0)
		return 1;
	if (tls_cert_generate_key(domain, cert, key, days, kind, bits, err, sizeof(err)) != XS_OK) {
		fprintf(stderr, "xmppctl: %s\n", err);
		return 1;
	}
	if (!bits)
		bits = kind == TLS_KEY_RSA ? 2048 : 256;
	printf("generated a self-signed certificate for %s (%s%u, %u days)\n  certificate: %s\n  key:         %s\n",
	       domain, kind == TLS_KEY_RSA ? "RSA " : "ECDSA P-", bits, days, cert, key);
	return 0;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	FILE *in = fopen(from, "rb");
	if (!in) {
		fprintf(stderr, "xmppctl: %s: %s\n", from, strerror(errno));
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	FILE *o = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!o) {
		fprintf(stderr, "xmppctl: %s: %s\n", tmp, strerror(errno));
		fclose(in);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char buf[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, o) != n)
			rc = -1;
	fclose(in);
	if (fclose(o) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, to) != 0)
		rc = -1;
	if (rc != 0) {
		fprintf(stderr, "xmppctl: cannot write %s\n", to);
		unlink(tmp);
	}
	return rc;
}

/* Why clients cannot verify the chain, and what to do about it. */
static void print_chain_problem(FILE *out, const char *prefix, const char *cert,
				const struct tls_chain_info *chain)
{
	if (chain->missing_issuer[0])
		fprintf(out, "%sthe chain in %s is incomplete: the certificate of its issuer %s "
			"is missing (clients fail with \"unable to get local issuer certificate\")\n"
			"%sfix: append that intermediate certificate (from your CA) to %s, after the "
			"server certificate\n", prefix, cert, chain->missing_issuer, prefix, cert);
	else
		fprintf(out, "%sthe chain in %s does not verify: %s\n", prefix, cert, chain->problem);
}

static int cmd_cert_import(const char *domain_arg, const char *cert, const char *key)
{
	char domain[1024], err[512];
	if (jid_domain_prep(domain_arg, domain, sizeof(domain)) != XS_OK) {
		fprintf(stderr, "xmppctl: '%s' is not a domain name\n", domain_arg);
		return 1;
	}
	const struct cfg_host *h = cfg_find_host(&cfg, domain);
	if (!h) {
		fprintf(stderr, "xmppctl: %s is not a host of %s: add a [host %s] section first\n",
			domain, cfg.path, domain);
		return 1;
	}
	struct tls_cert_info info;
	if (tls_cert_inspect(cert, key, domain, &info, err, sizeof(err)) != XS_OK) {
		fprintf(stderr, "xmppctl: %s\n", err);
		return 1;
	}
	if (!info.key_matches) {
		fprintf(stderr, "xmppctl: %s is not the key of %s\n", key, cert);
		return 1;
	}
	if (!info.names_domain) {
		fprintf(stderr, "xmppctl: %s does not name %s (RFC 6125)\n", cert, domain);
		return 1;
	}
	if (info.not_after < time(NULL)) {
		fprintf(stderr, "xmppctl: %s has expired\n", cert);
		return 1;
	}
	struct tls_chain_info chain;
	if (tls_cert_check_chain(cert, NULL, &chain, err, sizeof(err)) != XS_OK) {
		fprintf(stderr, "xmppctl: %s\n", err);
		return 1;
	}
	if (!chain.complete) {
		print_chain_problem(stderr, "xmppctl: ", cert, &chain);
		return 1;
	}
	if (mkdir_for(h->cert_file) != 0 || mkdir_for(h->key_file) != 0 ||
	    copy_file(cert, h->cert_file, 0644) != 0 || copy_file(key, h->key_file, 0600) != 0)
		return 1;
	printf("installed the certificate for %s\n  certificate: %s\n  key:         %s\n"
	       "send SIGHUP to xmppd to load it without dropping connections\n",
	       domain, h->cert_file, h->key_file);
	return 0;
}

/* Days before expiry from which check warns: Let's Encrypt renews at 30
 * days left, so a certificate nearer than that has missed its renewal. */
#define CHECK_EXPIRY_WARN_DAYS 30

/* The configuration's own errors (cfg_errs: what cfg_load found) and
 * those about the files it names, each a PROBLEM line; returns how many. */
static int check_config(const char *cfg_errs, bool loaded)
{
	static char errs[8192];
	int n;

	snprintf(errs, sizeof(errs), "%s", cfg_errs);
	/* As xmppd checks at start: the database must exist, certificates and
	 * keys must be readable (their contents are checked per host below). */
	cfg_check_files(&cfg, CFG_FILES_DB | CFG_FILES_TLS, errs, sizeof(errs));
	if (loaded && !cfg_errs[0] && !errs[0])
		printf("%s: syntax OK, %zu host(s), %zu listener(s)\n", cfg.path, cfg.n_hosts,
		       cfg.n_listeners);
	else if (!errs[0])
		printf("%s: syntax OK\n", cfg.path);
	n = (int)cfg_print_errors(stdout, "PROBLEM: ", errs);
	if (n)
		printf("  fix: edit %s%s\n", cfg.name,
		       strstr(errs, "xmppctl") ? " or run the xmppctl command named above" : "");
	return n;
}

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

static int cmd_check(const char *cfg_errs, bool loaded)
{
	int problems = 0, warnings = 0;
	time_t now = time(NULL);
	problems += check_config(cfg_errs, loaded);
	for (size_t i = 0; i < cfg.n_hosts; i++) {
		const struct cfg_host *h = &cfg.hosts[i];
		struct tls_cert_info info;
		struct tls_chain_info chain;
		char err[512];
		printf("host %s:\n", h->domain);
		if (!readable(h->cert_file) || !readable(h->key_file)) {
			/* Counted among the config problems above. */
			printf("  fix: xmppctl cert generate %s   (or: xmppctl cert import %s CERT KEY)\n",
			       h->domain, h->domain);
			continue;
		}
		if (tls_cert_inspect(h->cert_file, h->key_file, h->domain, &info, err, sizeof(err)) != XS_OK) {
			printf("  PROBLEM: %s\n  fix: xmppctl cert generate %s   (or: xmppctl cert import %s CERT KEY)\n",
			       err, h->domain, h->domain);
			problems++;
			continue;
		}
		long days = (long)((info.not_after - now) / 86400);
		printf("  certificate %s (%s), issuer %s, expires in %ld day(s)\n", h->cert_file,
		       info.key_type, info.self_signed ? "itself (self-signed)" : info.issuer, days);
		if (!info.key_matches) {
			printf("  PROBLEM: %s is not the key of this certificate\n", h->key_file);
			problems++;
		}
		if (!info.names_domain) {
			printf("  PROBLEM: the certificate does not name %s\n", h->domain);
			problems++;
		}
		if (info.not_after < now) {
			printf("  PROBLEM: the certificate has expired\n");
			problems++;
		} else if (days < CHECK_EXPIRY_WARN_DAYS) {
			printf("  WARNING: the certificate expires in %ld day(s) (less than %d): renew it\n",
			       days, CHECK_EXPIRY_WARN_DAYS);
			warnings++;
		}
		if (tls_cert_check_chain(h->cert_file, NULL, &chain, err, sizeof(err)) != XS_OK) {
			printf("  PROBLEM: %s\n", err);
			problems++;
		} else if (!chain.complete) {
			print_chain_problem(stdout, "  PROBLEM: ", h->cert_file, &chain);
			problems++;
		} else if (chain.private_root) {
			printf("  note: the chain (%zu certificates) ends at a root of its own, not one of %s: "
			       "clients must be told to trust it\n", chain.n_certs, TLS_DEFAULT_CA_FILE);
		} else if (!chain.self_signed) {
			printf("  chain: %zu certificate(s), complete up to a root in %s\n", chain.n_certs,
			       TLS_DEFAULT_CA_FILE);
		}
		if (info.self_signed)
			printf("  note: self-signed: clients must be told to trust it; other servers will not\n");
	}
	for (size_t i = 0; i < cfg.n_listeners; i++) {
		const struct cfg_listener *l = &cfg.listeners[i];
		bool plain_ok = l->mode == CFG_MODE_STARTTLS && !l->require_encryption;
		printf("listener %s: %s port %u, %s%s\n", l->name, l->address, l->port,
		       l->mode == CFG_MODE_DIRECT_TLS ? "direct TLS" : "STARTTLS",
		       plain_ok ? " (WARNING: encryption not required)" : "");
		if (plain_ok)
			warnings++;
	}
	/* where other servers will look for ours: only when we take them */
	if (cfg_has_s2s_listener(&cfg))
		xmppctl_check_dns(&cfg, &problems, &warnings);
	/* One line that counts everything above, so that a warning is never
	 * followed by "everything looks fine". */
	if (problems == 0 && warnings == 0)
		printf("OK: no problems, no warnings\n");
	else
		printf("%s: %d problem(s), %d warning(s)\n", problems ? "FAILED" : "OK with warnings",
		       problems, warnings);
	return problems ? 1 : 0;
}

/* How long the server may take to answer: it times out itself at 10 s. */
#define CTL_CLIENT_TIMEOUT_S 30

/* Sends one command line to the running server and prints its answer:
 * the lines after "ok" to stdout (exit 0), or the "error: " line's reason
 * to stderr (exit 1). */
static int cmd_ctl(int argc, char **argv)
{
	char line[CTL_LINE_MAX], err[1024];
	size_t len = 0;
	for (int i = 0; i < argc; i++) {
		int n = snprintf(line + len, sizeof(line) - len, "%s%s", i ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= sizeof(line) - len - 1) {
			fprintf(stderr, "xmppctl: command too long\n");
			return 1;
		}
		len += (size_t)n;
	}
	line[len++] = '\n';
	if (!cfg.ctl_enabled) {
		fprintf(stderr, "xmppctl: the control socket is off ([admin] control = false in %s)\n",
			cfg.name);
		return 1;
	}
	const char *path = cfg.ctl_socket;
	struct stat sb;
	if (lstat(path, &sb) != 0 && errno == ENOENT) {
		fprintf(stderr, "xmppctl: no control socket at %s: xmppd is not running (or "
			"[admin] socket in %s names another path)\n", path, cfg.name);
		return 1;
	}
	if (!ctl_socket_check_client(path, err, sizeof(err))) {
		fprintf(stderr, "xmppctl: %s\n", err);
		return 1;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t pl = strnlen(path, sizeof(sa.sun_path)); /* cfg refuses longer ones */
	if (pl >= sizeof(sa.sun_path)) {
		fprintf(stderr, "xmppctl: %s: too long for a Unix socket\n", path);
		return 1;
	}
	memcpy(sa.sun_path, path, pl + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = CTL_CLIENT_TIMEOUT_S };
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
		fprintf(stderr, "xmppctl: socket: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		if (e == ECONNREFUSED)
			fprintf(stderr, "xmppctl: nothing answers on %s: xmppd is not running (the "
				"socket was left by a server that did not stop cleanly)\n", path);
		else if (e == EACCES)
			fprintf(stderr, "xmppctl: %s: permission denied: run xmppctl as the user "
				"xmppd runs as\n", path);
		else
			fprintf(stderr, "xmppctl: %s: %s\n", path, strerror(e));
		close(fd);
		return 1;
	}
	struct xbuf in = { 0 };
	bool ok = send(fd, line, len, MSG_NOSIGNAL) == (ssize_t)len;
	for (char buf[8192]; ok;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			break;
		if (n < 0 || xbuf_append(&in, buf, (size_t)n) != XS_OK)
			ok = false;
	}
	int e = errno;
	close(fd);
	int rc = 1;
	if (!ok)
		fprintf(stderr, "xmppctl: %s: %s\n", path,
			e == EAGAIN ? "no answer in time" : strerror(e));
	else if (in.len >= 3 && !strncmp(in.data, "ok\n", 3)) {
		fwrite(in.data + 3, 1, in.len - 3, stdout);
		rc = 0;
	} else if (in.len && !strncmp(in.data, "error: ", 7))
		fprintf(stderr, "xmppctl: %s%s", in.data + 7,
			in.data[in.len - 1] == '\n' ? "" : "\n");
	else
		fprintf(stderr, "xmppctl: %s: the server closed the connection without an "
			"answer\n", path);
	xbuf_free(&in);
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = "server.ini";
	int i = 1;
	if (argc > 2 && !strcmp(argv[1], "-c")) {
		path = argv[2];
		i = 3;
	}
	if (i >= argc)
		return usage();
	static char errs[8192]; /* every error of the file, one per line */
	bool loaded = cfg_load(path, &cfg, errs, sizeof(errs));
	log_set_level(LOG_LVL_WARN);
	const char *cmd = argv[i];
	int rest = argc - i - 1;
	char **args = argv + i + 1;
	/* check counts the file's errors among its problems; a file that
	 * cannot be read at all has nothing else to check. */
	if (!strcmp(cmd, "check") && rest == 0 && cfg.name[0])
		return cmd_check(errs, loaded);
	if (!loaded) {
		cfg_print_errors(stderr, "xmppctl: ", errs);
		if (!strcmp(cmd, "check"))
			printf("FAILED: 1 problem(s), 0 warning(s)\n");
		return 1;
	}
	if (!strcmp(cmd, "init") && rest == 0)
		return cmd_init();
	if ((!strcmp(cmd, "adduser") || !strcmp(cmd, "passwd") || !strcmp(cmd, "deluser")) && rest == 1)
		return cmd_user(cmd, args[0]);
	if (!strcmp(cmd, "listusers") && rest == 1)
		return cmd_listusers(args[0]);
	if (!strcmp(cmd, "cert") && rest >= 2 && !strcmp(args[0], "generate"))
		return cmd_cert_generate(rest - 1, args + 1);
	if (!strcmp(cmd, "cert") && rest == 4 && !strcmp(args[0], "import"))
		return cmd_cert_import(args[1], args[2], args[3]);
	if ((!strcmp(cmd, "sessions") && rest == 0) || (!strcmp(cmd, "s2s") && rest == 0) ||
	    (!strcmp(cmd, "kick") && rest >= 1) ||
	    (!strcmp(cmd, "roster") && rest >= 2))
		return cmd_ctl(rest + 1, argv + i);
	return usage();
}
