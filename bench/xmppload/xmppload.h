/* xmppload's shared declarations: the run configuration (from the command
 * line), the state shared by all worker threads, and one worker's state.
 *
 * Ownership follows the server's rule: every connection belongs to one
 * worker thread for its whole life, and so do that worker's counters and
 * histograms.  What other threads read while a run is going on is either
 * atomic (the progress counters the main thread polls, the delivery bitmap
 * that any receiver may mark) or written once before a phase change that
 * publishes it (the table of bound JIDs, read only after the login phase).
 * The main thread drives the phases; workers follow the phase variable. */
#ifndef XMPPLOAD_H
#define XMPPLOAD_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/xmppload/hist.h"
#include "core/auth/scram_cred.h"

enum scenario { SC_LOGIN, SC_IDLE, SC_CHAT, SC_PRESENCE, SC_HOSTILE };
enum conn_mode { MODE_STARTTLS, MODE_DIRECT_TLS };
enum auth_mech { AUTH_PLAIN, AUTH_SCRAM };

struct load_cfg {
	enum scenario scenario;
	const char *scenario_name;
	enum conn_mode mode;
	bool websocket;           /* --transport websocket: RFC 7395 over TLS (wss://) */
	const char *ws_path;      /* its HTTP path */
	enum auth_mech mech;
	enum scram_hash hash;     /* SCRAM only */
	bool plus;                /* SCRAM-*-PLUS: tls-exporter binding */
	const char *mech_name;    /* as sent in <auth mechanism=...> */
	const char *host;         /* stream 'to', SNI, certificate name */
	const char *server_ip;
	struct sockaddr_in server;
	unsigned port;
	const char *ca_file;
	bool insecure;
	int tls_min, tls_max;     /* 12/13, 0 = library default */
	unsigned users, first_user;
	const char *user_fmt, *pass_fmt, *password, *resource_fmt;
	struct in_addr *src_ips;  /* NULL: let the kernel pick */
	unsigned n_src;
	const char *src_spec;
	double rate;              /* logins/s (login) or messages/s (chat) */
	double login_rate;        /* set-up logins/s for idle and chat */
	unsigned max_pending;     /* logins in flight at once, all threads */
	double duration, drain, timeout;
	unsigned threads;
	unsigned body_size;       /* pad chat bodies to this many bytes */
	unsigned tick_us;         /* pacing tick: what is due is sent each tick */
	uint64_t seed;
	bool json, allow_loss, verbose;
	/* hostile: connections per attacker kind (0 = the chat alone), the
	 * connections the connection flood holds, and the addresses the
	 * attackers connect from. */
	unsigned attackers, hold_conns;
	unsigned attack_kinds;    /* bit per kind (enum akind), bit 4: flooder */
	int attack_cpu;           /* the attacker thread's CPU, -1: the process's */
	struct in_addr *attack_ips;
	unsigned n_attack_ips;
	/* Rosters (provisioned before the run, never by xmppload): with
	 * roster_get a login asks for the roster after bind and sends its
	 * initial presence only when the result came; the login ends there.
	 * roster_size K > 0: every roster must hold exactly K items (checked
	 * on the result), and for presence the users form a ring in which
	 * user index i's contacts are i-K/2..i-1 and i+1..i+K/2 (mod
	 * --users), all subscription 'both'. */
	bool roster_get;
	unsigned roster_size;
	double settle;            /* presence: longest wait for initial presence */
	/* federation (chat with --peer-host): the users from index
	 * peer_first on log in to a second server, domain peer_host at
	 * peer, and every message goes to a user of the other server, so
	 * it crosses the server-to-server link between the two. */
	const char *peer_host;    /* NULL: one server */
	const char *peer_ip;
	struct sockaddr_in peer;
	unsigned peer_first;      /* (users + 1) / 2 */
};

/* chat and hostile share the chat machinery. */
static inline bool cfg_chats(const struct load_cfg *cfg)
{
	return cfg->scenario == SC_CHAT || cfg->scenario == SC_HOSTILE;
}

/* federation: does the user with this number log in to the peer server? */
static inline bool cfg_on_peer(const struct load_cfg *cfg, unsigned user)
{
	return cfg->peer_host && user - cfg->first_user >= cfg->peer_first;
}

enum phase {
	PH_LOGIN,  /* launch connections and log them in */
	PH_HOLD,   /* logged in; idle: nothing to do */
	PH_WARM,   /* federation: one ping across per thread brings the s2s links up */
	PH_CHAT,   /* send messages (presence: presence changes) at the offered rate */
	PH_DRAIN,  /* stop sending, keep receiving */
	PH_CHECK,  /* idle: ask every session for a sign of life */
	PH_STOP,   /* close everything and return */
};

struct shared {
	const struct load_cfg *cfg;
	_Atomic int phase;
	uint64_t chat_t0;        /* CLOCK_MONOTONIC ns when PH_CHAT began */
	/* Full JID per user (index - first_user), set by the owning worker
	 * at bind; read by every worker after PH_LOGIN. */
	char **jids;
	unsigned *online;        /* user numbers bound at the end of PH_LOGIN, ascending */
	unsigned n_online;
	unsigned n_online_first; /* federation: of which on the first server (a prefix) */
	/* One bit per chat sequence number, set by whichever worker receives
	 * it: tells a duplicate from a first delivery. */
	_Atomic uint64_t *seen;
	uint64_t seen_bits;
	/* hostile: the chat user the flooder aims at (0 = none, set before
	 * PH_CHAT), whether its session ended before the run did, and how
	 * many of the flooder's messages reached it. */
	unsigned victim;
	_Atomic int victim_lost;
	_Atomic uint64_t flood_delivered;
	/* presence: per user index, how many of its contacts are online
	 * (set by main after PH_LOGIN); the seen bitmap then holds K bits
	 * per presence change, one per contact slot. */
	unsigned *contacts_online;
};

/* Counters the main thread polls while the run goes on. */
struct wprogress {
	_Atomic uint64_t logins_done;  /* succeeded or failed */
	_Atomic uint64_t logins_ok;
	_Atomic uint64_t sent, delivered;
	_Atomic uint64_t expected;     /* presence: deliveries the changes sent owe */
	_Atomic uint64_t initial;      /* presence: contacts' presence before the changes */
	_Atomic uint64_t checked;      /* PH_CHECK, PH_WARM: answered or gone */
	_Atomic uint64_t check_sent;   /* PH_CHECK, PH_WARM: pings sent */
	_Atomic int check_ready;       /* PH_CHECK, PH_WARM: all pings sent */
};

struct conn;
struct attack;

struct worker {
	unsigned idx;
	pthread_t thread;
	struct shared *sh;
	const struct load_cfg *cfg;
	int ep, tfd;
	struct conn *conns;
	unsigned first, n;       /* users [first, first + n) of the run */
	unsigned launched, pending, max_pending;
	uint64_t launch_t0;
	double launch_rate;      /* per thread */
	struct conn **online;    /* this thread's bound connections */
	unsigned n_online;
	uint64_t rng;
	uint64_t chat_seq;       /* messages (presence changes) this thread has sent */
	unsigned pres_next;      /* presence: next of this thread's online users to change */
	uint64_t last_sweep;

	struct wprogress prog;
	/* Owned; read by main after join. */
	uint64_t login_fail, disconnects, msg_errors, dups, alive, stray;
	/* presence: own presence reflected back, presences of other types
	 * (unavailable, subscription), rosters that were not the expected
	 * size, and the smallest and largest roster seen. */
	uint64_t self_pres, pres_other, roster_bad;
	unsigned roster_min, roster_max;
	struct hist login_h, lat_h;
	struct rusage ru;        /* this thread's CPU at exit */
	char first_error[256];
};

/* worker.c */
void *worker_main(void *arg);

/* client.c: the XMPP client state machine of one connection. */
struct conn *client_table_new(struct worker *w);
void client_table_free(struct worker *w);
/* The worker's i-th connection, and the user number it logs in as. */
struct conn *client_at(struct worker *w, unsigned i);
unsigned client_user(const struct conn *c);
/* Starts the connection of the worker's i-th user. */
void client_launch(struct worker *w, struct conn *c);
void client_event(struct worker *w, struct conn *c, uint32_t events);
/* Fails logins that have been pending longer than the timeout. */
void client_sweep(struct worker *w, uint64_t now);
void client_send_chat(struct worker *w, struct conn *from, const char *to, uint64_t seq);
void client_send_presence(struct worker *w, struct conn *from, uint64_t seq);
/* presence: the slot (0..K-1) of the user with index r in the roster of the
 * user with index s, or -1 if r is not s's contact. */
int roster_slot(const struct load_cfg *cfg, unsigned s, unsigned r);
/* An XEP-0199 ping to the domain `to` (NULL: the session's own); any
 * answer counts the session alive. */
void client_send_ping(struct worker *w, struct conn *c, const char *to);
/* The domain of the other server in a federation run. */
const char *client_other_host(const struct worker *w, const struct conn *c);
void client_close(struct worker *w, struct conn *c);
/* hostile's flooder: a message the victim counts apart from the chat, and
 * what the connection still has to write (so it can keep the socket full). */
bool client_online(const struct conn *c);
size_t client_out_pending(const struct conn *c);
void client_send_flood(struct worker *w, struct conn *from, const char *to, uint64_t seq);

/* opts.c */
int opts_parse(struct load_cfg *cfg, int argc, char **argv);
/* Expands the single %d of fmt with n. */
bool fmt_index(char *out, size_t cap, const char *fmt, unsigned n);

/* report.c */
struct run_result {
	double wall_s, phase_s;       /* whole run; measured phase */
	double login_s;               /* PH_LOGIN */
	double warm_s;                /* federation: PH_WARM, the links coming up */
	uint64_t warm_sent, warm_answered;
	uint64_t users, logins_ok, login_fail, disconnects;
	uint64_t sent, delivered, lost, dups, msg_errors, stray, alive;
	/* presence */
	double settle_s;              /* end of logins to the first change */
	uint64_t expected, initial, initial_expected, self_pres, pres_other, roster_bad;
	unsigned roster_min, roster_max;
	struct hist login_h, lat_h;
	double cpu_user_s, cpu_sys_s;             /* whole process, whole run */
	double phase_cpu_user_s, phase_cpu_sys_s; /* during the measured phase */
	double thread_cpu_max_s;      /* busiest worker thread */
	char first_error[256];
	bool ok;
	const struct attack *atk;     /* hostile with attackers, else NULL */
};
void report_print(const struct load_cfg *cfg, const struct run_result *r, bool json);

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: per thread, reproducible with --seed. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 2685821657736338717ull;
}

#endif
