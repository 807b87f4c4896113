/* The hostile scenario's attackers: one thread that runs, beside the chat,
 * a small bounded number of connections of each kind of attack, and an
 * authenticated flooder.
 *
 * The pre-authentication kinds speak plaintext before STARTTLS, as a real
 * attacker would: the server has to parse their bytes before it can ask for
 * TLS.  Each connection that the server closes is opened again (after a
 * short pause), so the pressure lasts the whole chat phase; at the end of
 * the chat phase every attacker connection is closed, so the drain measures
 * the server catching up and not the attack.
 *
 * The thread owns its connections and counters; main reads them after
 * joining it.  The one field main reads while it runs is flood_done. */
#ifndef XMPPLOAD_ATTACK_H
#define XMPPLOAD_ATTACK_H

#include "bench/xmppload/xmppload.h"

enum akind {
	AK_AMPLIFY, /* header, then an unfinished <message> of ~234 KiB of <a/> */
	AK_SLOW,    /* header, then an attribute value that never ends */
	AK_HOLD,    /* connections that send nothing, or only a header */
	AK_SASL,    /* <auth/> with wrong passwords, unoffered mechanisms, wrong state */
	AK_COUNT,
};

struct akind_stats {
	unsigned conns;             /* connections kept open at once */
	uint64_t opened;            /* connects that succeeded */
	uint64_t connect_failed;
	uint64_t closed_by_server;  /* EOF or reset while we still held it */
	uint64_t bytes_out, bytes_in;
	uint64_t elements;          /* SASL: elements sent */
	unsigned open_at_end;       /* still open when the chat phase ended */
};

struct aconn;

struct attack {
	const struct load_cfg *cfg;
	struct shared *sh;
	pthread_t thread;
	int ep, tfd;
	struct aconn *conns;
	unsigned n_conns;
	char *amplify;              /* the amplifying payload, built once */
	size_t amplify_len;
	struct akind_stats k[AK_COUNT];

	/* The flooder: a worker of one connection, driven by client.c. */
	struct worker fw;
	_Atomic int flood_done;     /* its login ended, either way */
	const char *victim_jid;
	uint64_t flood_sent;
	bool flood_online;          /* logged in */
	char first_error[256];
};

const char *akind_name(enum akind k);

/* attack.c: the thread, and the pre-authentication connections. */
int attack_start(struct attack *a, const struct load_cfg *cfg, struct shared *sh);
void attack_join(struct attack *a);
void attack_free(struct attack *a);

/* flood.c: the flooder's login and its sending. */
bool flood_init(struct attack *a);
void flood_events(struct attack *a);
void flood_tick(struct attack *a, uint64_t now);
void flood_pump(struct attack *a);
void flood_stop(struct attack *a);
void flood_free(struct attack *a);

#endif
