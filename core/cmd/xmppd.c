/* xmppd: the server binary.
 *
 *   xmppd -c server.ini            run
 *   xmppd --check-config -c FILE   validate config and certificates, exit 0/1
 *   xmppd --version
 *
 * The main thread wires the parts together (config, TLS contexts, the
 * control socket, storage thread, router, mux threads) and then only waits
 * for signals:
 * SIGTERM/SIGINT close every stream with <system-shutdown/> and exit 0;
 * SIGHUP reloads the certificate and key files without dropping
 * connections (reload_certificates). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/random.h>
#include <unistd.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/cfg.h"
#include "core/base/log.h"
#include "core/base/mem.h"
#include "core/ctl/ctl_server.h"
#include "core/im/disco.h"
#include "core/route/router.h"
#include "core/store/store_thread.h"
#include "mux/mux.h"
#include "tls/tls.h"

/* A 32-byte secret of this server's, made at its first start and kept
 * beside the database (mode 0600): the key for SCRAM's fake salts (unknown
 * users get a challenge that looks like a real one, as stable across
 * restarts as a real user's salt), and the dialback secret (XEP-0220: a
 * key this server handed out must still verify after a restart). */
static bool load_key(const char *db_path, const char *name, uint8_t key[32], char *err,
		     size_t errlen)
{
	char path[600];
	const char *slash = strrchr(db_path, '/');
	int dl = slash ? (int)(slash - db_path) : 1;
	snprintf(path, sizeof(path), "%.*s/%s", dl, slash ? db_path : ".", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, key, 32);
		close(fd);
		if (n == 32)
			return true;
		snprintf(err, errlen, "%s: expected 32 bytes", path);
		return false;
	}
	if (getrandom(key, 32, 0) != 32) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return false;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, key, 32) != 32) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* Descriptors the process uses besides its connections: listeners, epoll
 * sets, eventfds, the database and its journal, the log; with room. */
#define FDS_BESIDES_CONNECTIONS 64

/* Each connection is a descriptor, and Debian's default soft limit is
 * 1024: the soft limit is raised to the hard one, as servers do, and the
 * configuration is compared with what is left. */
static void raise_open_files_limit(const struct cfg *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		LOG_WARN("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			LOG_INFO("open-files limit raised from %llu to %llu", (unsigned long long)was,
				 (unsigned long long)rl.rlim_cur);
		else
			rl.rlim_cur = was;
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    (unsigned long long)cfg->max_connections + FDS_BESIDES_CONNECTIONS > rl.rlim_cur)
		LOG_WARN("[limits] max_connections = %u, but the open-files limit (ulimit -n) is %llu: "
			 "at most about %llu connections can be open; raise the hard limit "
			 "(LimitNOFILE= in a systemd unit) or lower max_connections",
			 cfg->max_connections, (unsigned long long)rl.rlim_cur,
			 rl.rlim_cur > FDS_BESIDES_CONNECTIONS
				 ? (unsigned long long)(rl.rlim_cur - FDS_BESIDES_CONNECTIONS)
				 : 0ULL);
}

/* SIGHUP: the certificate and key files named in the configuration read
 * at start-up are loaded again, host by host; a host whose new files fail
 * the checks keeps serving its old certificate (tls_ctx_set_reload logs
 * why).  The configuration itself is not re-read: listeners, limits and
 * the hosts' list need a restart.  *current is the set in use. */
static void reload_certificates(struct mux_group *mux, const struct cfg *cfg,
				struct tls_ctx_set **current)
{
	unsigned kept = 0;
	struct tls_ctx_set *fresh = tls_ctx_set_reload(*current, cfg, &kept);

	if (!fresh)
		return;
	mux_group_reload_tls(mux, fresh);
	tls_ctx_set_unref(*current);
	*current = fresh;
	LOG_INFO("SIGHUP: reloading certificates: %zu host(s) with the new files, %u keeping "
		 "the old certificate", cfg->n_hosts - kept, kept);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: xmppd [-c server.ini] [--check-config] [--version]\n");
}

int main(int argc, char **argv)
{
	const char *path = "server.ini";
	bool check = false;
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
			path = argv[++i];
		} else if (!strcmp(argv[i], "--check-config")) {
			check = true;
		} else if (!strcmp(argv[i], "--version")) {
			printf("xmppd %s\n", XMPPD_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}

	static struct cfg cfg; /* large: keep it off the stack */
	static char errs[8192]; /* every error of the file, one per line */
	char err[1024];
	bool loaded = cfg_load(path, &cfg, errs, sizeof(errs));
	/* The files it names are checked even after errors in the file, so that
	 * one run lists everything to fix; cfg.name is empty only when the file
	 * itself could not be read, and then there is nothing to check. */
	if (cfg.name[0])
		cfg_check_files(&cfg, CFG_FILES_TLS | CFG_FILES_DB, errs, sizeof(errs));
	if (!loaded || errs[0]) {
		cfg_print_errors(stderr, "xmppd: ", errs);
		return 1;
	}
	log_set_level((enum log_level)cfg.log_level);
	/* XEP-0115: from the lists disco answers with, under this cfg */
	if (!disco_server_caps_ver(&cfg, cfg.caps_ver))
		LOG_WARN("disco: no XEP-0115 caps hash for the server (out of memory, or a "
			 "feature listed twice): none advertised");
	if (tls_global_init() != XS_OK) {
		fprintf(stderr, "xmppd: TLS library initialisation failed\n");
		return 1;
	}
	struct tls_ctx_set *tls = tls_ctx_set_new(&cfg, errs, sizeof(errs));
	if (!tls) {
		cfg_print_errors(stderr, "xmppd: ", errs);
		tls_global_cleanup();
		return 1;
	}
	if (check) {
		printf("%s: configuration OK (%zu host(s), %zu listener(s))\n", path, cfg.n_hosts,
		       cfg.n_listeners);
		tls_ctx_set_unref(tls);
		tls_global_cleanup();
		return 0;
	}

	/* Threads inherit this mask: only the main thread takes signals. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	raise_open_files_limit(&cfg);
	int rc = 1;
	/* first: it sets the umask for a moment, which no other thread may see */
	struct ctl_server *ctl = NULL;
	if (cfg.ctl_enabled) {
		ctl = ctl_server_open(&cfg, errs, sizeof(errs));
		if (!ctl) {
			LOG_ERR("control socket: %s", errs);
			goto out_tls;
		}
	}
	struct store_thread *store = store_thread_start(cfg.db_path, cfg.archive_expires_after, err,
							  sizeof(err));
	if (!store) {
		LOG_ERR("storage: %s", err);
		goto out_tls;
	}
	struct mux_group *mux = mux_group_new(&cfg, tls, store, err, sizeof(err));
	if (!mux) {
		LOG_ERR("%s", err);
		goto out_store;
	}
	uint8_t fake_key[32];
	if (!load_key(cfg.db_path, "scram-fake-salt.key", fake_key, err, sizeof(err))) {
		LOG_ERR("%s", err);
		mux_group_free(mux);
		goto out_store;
	}
	mux_group_set_fake_salt_key(mux, fake_key);
	explicit_bzero(fake_key, sizeof(fake_key));
	if (cfg.s2s_dialback) {
		uint8_t db_key[32];
		if (!load_key(cfg.db_path, "dialback-secret.key", db_key, err, sizeof(err))) {
			LOG_ERR("%s", err);
			mux_group_free(mux);
			goto out_store;
		}
		mux_group_set_dialback_secret(mux, db_key);
		explicit_bzero(db_key, sizeof(db_key));
	}
	unsigned n_mux;
	struct queue *const *inboxes = mux_group_inboxes(mux, &n_mux);
	struct router *router = router_new(&cfg, inboxes, n_mux);
	if (router) {
		router_set_store(router, store);
		router_set_link_threads(router, mux_group_n_mux(mux));
	}
	if (!router || router_start(router) != 0) {
		LOG_ERR("cannot start the router");
		goto out_mux;
	}
	if (mux_group_start(mux, router) != 0) {
		LOG_ERR("cannot start the mux threads");
		goto out_router;
	}
	if (ctl && ctl_server_start(ctl, router_inbox(router), inboxes, n_mux) != 0) {
		LOG_ERR("cannot start the control socket's thread");
		goto out_router;
	}
	LOG_INFO("xmppd %s ready: %u mux thread(s), %u gateway thread(s), %zu host(s), "
		 "storage %s, allocator %s",
		 XMPPD_VERSION, mux_group_n_mux(mux), n_mux - mux_group_n_mux(mux), cfg.n_hosts,
		 cfg.db_path, mem_allocator_name());
#ifdef XMPPD_HAVE_JEMALLOC
	if (!mem_malloc_is_jemalloc())
		LOG_WARN("jemalloc is linked but does not replace malloc (link order?): idle "
			 "sessions will keep more memory");
#endif

	for (;;) {
		int sig = 0;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload_certificates(mux, &cfg, &tls);
			continue;
		}
		LOG_INFO("signal %d: shutting down", sig);
		break;
	}
	rc = 0;
	/* Order matters: the mux threads close their streams (telling the
	 * router), then the router stops, then the storage thread finishes
	 * what it holds (its answers land in the mux inboxes, which still
	 * exist), and only then are the inboxes freed. */
out_router:
	/* before the threads it sends commands to */
	ctl_server_stop(ctl);
	mux_group_stop(mux);
	router_stop(router);
out_mux:
	store_thread_stop(store);
	mux_group_free(mux);
	router_free(router);
	goto out_tls;
out_store:
	store_thread_stop(store);
out_tls:
	/* after the router and the mux threads, which may still answer it */
	ctl_server_free(ctl);
	tls_ctx_set_unref(tls);
	tls_global_cleanup();
	LOG_INFO("stopped");
	return rc;
}
