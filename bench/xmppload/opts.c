/* xmppload's command line: every option, its default and its check, turned
 * into a struct load_cfg.  Anything wrong stops the run before a single
 * connection is made, with exit code 2, so a typo never produces a
 * half-meaningful figure. */
#include "bench/xmppload/xmppload.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/auth/sasl_scram.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xmppload SCENARIO [options]\n"
		"scenarios: login | idle | chat | hostile | presence\n"
		"  --host NAME            domain: stream 'to', SNI, certificate name (localhost)\n"
		"  --server-ip ADDR       IPv4 address to connect to (127.0.0.1)\n"
		"  --port N               (5222 for starttls, 5223 for direct_tls)\n"
		"  --mode starttls|direct_tls\n"
		"  --transport socket|websocket\n"
		"                         websocket: XMPP over WebSocket (RFC 7395) on TLS from\n"
		"                         the first byte (wss://), implies direct TLS (socket)\n"
		"  --ws-path PATH         websocket: the HTTP path (/xmpp-websocket)\n"
		"  --mech SCRAM-SHA-256|SCRAM-SHA-1|SCRAM-SHA-256-PLUS|SCRAM-SHA-1-PLUS|PLAIN\n"
		"  --ca FILE | --insecure certificate check against FILE, or none\n"
		"  --tls 1.2|1.3|any      TLS version to offer (any)\n"
		"  --users N              accounts/sessions (100)\n"
		"  --first-user N         number of the first account (1)\n"
		"  --user-format FMT      localpart, %%d = number (user%%d)\n"
		"  --password-format FMT  password, %%d = number (pass%%d)\n"
		"  --password PW          one password for every account\n"
		"  --resource-format FMT  resource to bind, %%d = number (load%%d)\n"
		"  --source-ips A-B|A,B   local addresses to connect from (kernel's choice)\n"
		"  --threads N            worker threads (CPUs it may run on)\n"
		"  --rate R               login: logins/s; chat: messages/s; presence: presence\n"
		"                         changes/s (100 / 1000 / 200)\n"
		"  --login-rate R         idle/chat set-up logins/s (500)\n"
		"  --max-pending N        logins in progress at once (500)\n"
		"  --duration S           idle/chat/presence measured phase in seconds (10)\n"
		"  --drain S              chat/presence: wait for late deliveries; idle: for pings (2)\n"
		"  --timeout S            give up on a login after S seconds (30)\n"
		"  --body-size N          chat: pad bodies to N bytes (0)\n"
		"  --tick-us N            pacing tick in microseconds: at each tick the messages\n"
		"                         (and logins) due so far go out together (1000; 100 at\n"
		"                         10,000 msg/s is one message per tick)\n"
		"  --seed N               random seed for partner choice (1)\n"
		"  --attackers N          hostile: connections per attacker kind (20; 0 = the\n"
		"                         chat alone, the figure to compare with)\n"
		"  --hold-conns N         hostile: connections the connection flood holds (200)\n"
		"  --attack-kinds LIST    hostile: amplify,slow_token,conn_flood,sasl_loop,flooder\n"
		"                         (all), to see which one costs what\n"
		"  --attack-cpu N         hostile: the attacker thread runs on CPU N (at SCHED_IDLE),\n"
		"                         not beside the chat (compare.sh: the server's CPU, where a\n"
		"                         real server pays for attack traffic; see attack.c)\n"
		"  --attack-ips A-B|A,B   hostile: addresses the attackers connect from\n"
		"                         (127.0.0.64-127.0.0.127)\n"
		"  --roster-get           after bind, get the roster before initial presence; the\n"
		"                         login ends with the result (always on for presence)\n"
		"  --roster-size K        every roster must have K items (0 = not checked); presence:\n"
		"                         user i's contacts are i-K/2..i-1, i+1..i+K/2 mod --users,\n"
		"                         provisioned on the server beforehand (50; even, < users)\n"
		"  --settle S             presence: longest wait for the initial presences after\n"
		"                         the logins (10)\n"
		"  --peer-host NAME       chat: federation; the second half of the users log in to\n"
		"                         a second server for domain NAME, and every message goes\n"
		"                         to a user of the other server (over their s2s link)\n"
		"  --peer-port N          its port (--port)\n"
		"  --peer-server-ip ADDR  its IPv4 address (--server-ip)\n"
		"  --json                 one JSON object on stdout (table goes to stderr)\n"
		"  --allow-loss           exit 0 even if logins failed or messages were lost\n"
		"  -v, --verbose          print every connection failure\n"
		"  -h, --help\n");
}

bool fmt_index(char *out, size_t cap, const char *fmt, unsigned n)
{
	size_t o = 0;
	bool used = false;

	for (const char *p = fmt; *p; p++) {
		char num[16];
		const char *add = num;
		size_t len = 1;

		if (*p == '%' && p[1] == 'd' && !used) {
			len = (size_t)snprintf(num, sizeof(num), "%u", n);
			used = true;
			p++;
		} else if (*p == '%' && p[1] == '%') {
			num[0] = '%';
			p++;
		} else if (*p == '%') {
			return false;
		} else {
			num[0] = *p;
		}
		if (o + len >= cap)
			return false;
		memcpy(out + o, add, len);
		o += len;
	}
	out[o] = 0;
	return true;
}

/* Accepts at most one %d (and %% for a literal percent); need_d: exactly
 * one, and nothing XML would need escaped, since the result goes into
 * stanzas verbatim (localparts and resources, unlike passwords, do). */
static bool fmt_ok(const char *fmt, bool need_d)
{
	char tmp[512];

	if (!fmt_index(tmp, sizeof(tmp), fmt, 1))
		return false;
	return !need_d || (strstr(fmt, "%d") != NULL && !strpbrk(fmt, "<>&'\""));
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/* "amplify,sasl_loop": a bit per kind, in enum akind order, the flooder
 * last; 0 on an unknown name. */
static unsigned parse_kinds(const char *list)
{
	static const char *const names[] = { "amplify", "slow_token", "conn_flood", "sasl_loop",
					      "flooder" };
	unsigned bits = 0;
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");
		unsigned k = 0;

		while (k < 5 && !(strlen(names[k]) == n && !strncmp(names[k], p, n)))
			k++;
		if (k == 5)
			return 0;
		bits |= 1u << k;
		p += n + (p[n] == ',');
	}
	return bits;
}

/* "127.0.0.2-127.0.0.9" or "127.0.0.2,127.0.0.5", appended to *ips. */
static bool parse_sources(struct in_addr **ips, unsigned *n_ips, const char *spec)
{
	char *copy = strdup(spec), *save = NULL;
	size_t cap = 0;

	if (!copy)
		return false;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		struct in_addr a, b;

		if (dash)
			*dash = 0;
		if (inet_pton(AF_INET, tok, &a) != 1 || (dash && inet_pton(AF_INET, dash + 1, &b) != 1))
			goto bad;
		if (!dash)
			b = a;
		uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
		if (hi < lo || hi - lo > 65535)
			goto bad;
		for (uint64_t x = lo; x <= hi; x++) {
			if (*n_ips == cap) {
				cap = cap ? cap * 2 : 16;
				struct in_addr *n = realloc(*ips, cap * sizeof(*n));
				if (!n)
					goto bad;
				*ips = n;
			}
			(*ips)[(*n_ips)++].s_addr = htonl((uint32_t)x);
		}
	}
	free(copy);
	return *n_ips > 0;
bad:
	free(copy);
	return false;
}

int opts_parse(struct load_cfg *cfg, int argc, char **argv)
{
	enum {
		O_HOST = 256, O_IP, O_PORT, O_MODE, O_MECH, O_CA, O_INSECURE, O_TLS, O_USERS,
		O_FIRST, O_UFMT, O_PFMT, O_PW, O_RFMT, O_SRC, O_THREADS, O_RATE, O_LRATE,
		O_PENDING, O_DURATION, O_DRAIN, O_TIMEOUT, O_BODY, O_TICK, O_SEED, O_JSON, O_LOSS,
		O_ATTACKERS, O_HOLD, O_AIPS, O_AKINDS, O_ACPU, O_RGET, O_RSIZE, O_SETTLE,
		O_PHOST, O_PPORT, O_PIP, O_TRANSPORT, O_WSPATH,
	};
	static const struct option lo[] = {
		{ "host", required_argument, NULL, O_HOST },
		{ "server-ip", required_argument, NULL, O_IP },
		{ "port", required_argument, NULL, O_PORT },
		{ "mode", required_argument, NULL, O_MODE },
		{ "transport", required_argument, NULL, O_TRANSPORT },
		{ "ws-path", required_argument, NULL, O_WSPATH },
		{ "mech", required_argument, NULL, O_MECH },
		{ "ca", required_argument, NULL, O_CA },
		{ "insecure", no_argument, NULL, O_INSECURE },
		{ "tls", required_argument, NULL, O_TLS },
		{ "users", required_argument, NULL, O_USERS },
		{ "first-user", required_argument, NULL, O_FIRST },
		{ "user-format", required_argument, NULL, O_UFMT },
		{ "password-format", required_argument, NULL, O_PFMT },
		{ "password", required_argument, NULL, O_PW },
		{ "resource-format", required_argument, NULL, O_RFMT },
		{ "source-ips", required_argument, NULL, O_SRC },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "rate", required_argument, NULL, O_RATE },
		{ "login-rate", required_argument, NULL, O_LRATE },
		{ "max-pending", required_argument, NULL, O_PENDING },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "drain", required_argument, NULL, O_DRAIN },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "body-size", required_argument, NULL, O_BODY },
		{ "tick-us", required_argument, NULL, O_TICK },
		{ "seed", required_argument, NULL, O_SEED },
		{ "json", no_argument, NULL, O_JSON },
		{ "allow-loss", no_argument, NULL, O_LOSS },
		{ "attackers", required_argument, NULL, O_ATTACKERS },
		{ "hold-conns", required_argument, NULL, O_HOLD },
		{ "attack-ips", required_argument, NULL, O_AIPS },
		{ "attack-kinds", required_argument, NULL, O_AKINDS },
		{ "attack-cpu", required_argument, NULL, O_ACPU },
		{ "roster-get", no_argument, NULL, O_RGET },
		{ "roster-size", required_argument, NULL, O_RSIZE },
		{ "settle", required_argument, NULL, O_SETTLE },
		{ "peer-host", required_argument, NULL, O_PHOST },
		{ "peer-port", required_argument, NULL, O_PPORT },
		{ "peer-server-ip", required_argument, NULL, O_PIP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double v = 0, rate = -1, port = 0, rsize = -1, peer_port = 0;
	/* the CPUs we may run on (taskset), not every core of the machine */
	cpu_set_t aff;
	long ncpu = sched_getaffinity(0, sizeof(aff), &aff) == 0 ? CPU_COUNT(&aff)
								    : sysconf(_SC_NPROCESSORS_ONLN);
	const char *mode = "starttls", *transport = "socket", *mech = "SCRAM-SHA-256", *tls = "any";
	const char *attack_ips = "127.0.0.64-127.0.0.127";
	int c, li = -1;  /* li: index in lo of the last long option */

	*cfg = (struct load_cfg){
		.host = "localhost", .server_ip = "127.0.0.1", .users = 100, .first_user = 1,
		.user_fmt = "user%d", .pass_fmt = "pass%d", .resource_fmt = "load%d",
		.login_rate = 500, .max_pending = 500, .duration = 10, .drain = 2, .timeout = 30, .tick_us = 1000,
		.ws_path = "/xmpp-websocket",
		.threads = ncpu > 0 ? (unsigned)ncpu : 1, .seed = 1,
		.attackers = 20, .hold_conns = 200, .attack_kinds = 0x1f, .attack_cpu = -1, .settle = 10,
	};
	while ((c = getopt_long(argc, argv, "vh", lo, &li)) != -1) {
		bool ok = true;

		switch (c) {
		case O_HOST: cfg->host = optarg; break;
		case O_IP: cfg->server_ip = optarg; break;
		case O_PORT: ok = parse_num(optarg, 1, 65535, &port); break;
		case O_MODE: mode = optarg; break;
		case O_TRANSPORT: transport = optarg; break;
		case O_WSPATH: cfg->ws_path = optarg; break;
		case O_MECH: mech = optarg; break;
		case O_CA: cfg->ca_file = optarg; break;
		case O_INSECURE: cfg->insecure = true; break;
		case O_TLS: tls = optarg; break;
		case O_USERS: ok = parse_num(optarg, 1, 10000000, &v); cfg->users = (unsigned)v; break;
		case O_FIRST: ok = parse_num(optarg, 0, 1e9, &v); cfg->first_user = (unsigned)v; break;
		case O_UFMT: cfg->user_fmt = optarg; break;
		case O_PFMT: cfg->pass_fmt = optarg; break;
		case O_PW: cfg->password = optarg; break;
		case O_RFMT: cfg->resource_fmt = optarg; break;
		case O_SRC:
			cfg->src_spec = optarg;
			ok = parse_sources(&cfg->src_ips, &cfg->n_src, optarg);
			break;
		case O_THREADS: ok = parse_num(optarg, 1, 1024, &v); cfg->threads = (unsigned)v; break;
		case O_RATE: ok = parse_num(optarg, 0.001, 1e8, &rate); break;
		case O_LRATE: ok = parse_num(optarg, 0.001, 1e8, &cfg->login_rate); break;
		case O_PENDING: ok = parse_num(optarg, 1, 1e8, &v); cfg->max_pending = (unsigned)v; break;
		case O_DURATION: ok = parse_num(optarg, 0, 1e7, &cfg->duration); break;
		case O_DRAIN: ok = parse_num(optarg, 0, 3600, &cfg->drain); break;
		case O_TIMEOUT: ok = parse_num(optarg, 0.1, 3600, &cfg->timeout); break;
		case O_BODY: ok = parse_num(optarg, 0, 8000, &v); cfg->body_size = (unsigned)v; break;
		case O_TICK: ok = parse_num(optarg, 10, 100000, &v); cfg->tick_us = (unsigned)v; break;
		case O_SEED: ok = parse_num(optarg, 0, 1.8e19, &v); cfg->seed = (uint64_t)v; break;
		case O_JSON: cfg->json = true; break;
		case O_LOSS: cfg->allow_loss = true; break;
		case O_ATTACKERS: ok = parse_num(optarg, 0, 10000, &v); cfg->attackers = (unsigned)v; break;
		case O_HOLD: ok = parse_num(optarg, 0, 100000, &v); cfg->hold_conns = (unsigned)v; break;
		case O_AIPS: attack_ips = optarg; break;
		case O_AKINDS: cfg->attack_kinds = parse_kinds(optarg); ok = cfg->attack_kinds != 0; break;
		case O_ACPU: ok = parse_num(optarg, 0, 4095, &v); cfg->attack_cpu = (int)v; break;
		case O_RGET: cfg->roster_get = true; break;
		case O_RSIZE: ok = parse_num(optarg, 0, 1000000, &rsize); break;
		case O_SETTLE: ok = parse_num(optarg, 0, 3600, &cfg->settle); break;
		case O_PHOST: cfg->peer_host = optarg; break;
		case O_PPORT: ok = parse_num(optarg, 1, 65535, &peer_port); break;
		case O_PIP: cfg->peer_ip = optarg; break;
		case 'v': cfg->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
		if (!ok) {
			/* argv[optind - 1] is the value itself in the "--opt value"
			 * form: name the option from the table. */
			fprintf(stderr, "xmppload: bad value for --%s: %s\n",
				li >= 0 ? lo[li].name : "?", optarg);
			return -1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -1;
	}
	cfg->scenario_name = argv[optind];
	if (!strcmp(cfg->scenario_name, "login"))
		cfg->scenario = SC_LOGIN;
	else if (!strcmp(cfg->scenario_name, "idle"))
		cfg->scenario = SC_IDLE;
	else if (!strcmp(cfg->scenario_name, "chat"))
		cfg->scenario = SC_CHAT;
	else if (!strcmp(cfg->scenario_name, "hostile"))
		cfg->scenario = SC_HOSTILE;
	else if (!strcmp(cfg->scenario_name, "presence"))
		cfg->scenario = SC_PRESENCE;
	else {
		fprintf(stderr, "xmppload: unknown scenario %s\n", cfg->scenario_name);
		return -1;
	}
	cfg->rate = rate > 0 ? rate : cfg_chats(cfg) ? 1000 : cfg->scenario == SC_PRESENCE ? 200 : 100;
	cfg->roster_size = rsize >= 0 ? (unsigned)rsize : cfg->scenario == SC_PRESENCE ? 50 : 0;
	if (cfg->scenario == SC_PRESENCE) {
		cfg->roster_get = true;
		if (cfg->roster_size < 2 || cfg->roster_size % 2 || cfg->roster_size >= cfg->users) {
			fprintf(stderr, "xmppload: presence needs an even --roster-size of 2 or more, "
					"below --users (%u and %u)\n", cfg->roster_size, cfg->users);
			return -1;
		}
	}
	if (cfg->scenario != SC_HOSTILE)
		cfg->attackers = cfg->hold_conns = 0;
	if (!(cfg->attack_kinds & 4))
		cfg->hold_conns = 0;
	if (cfg->scenario == SC_HOSTILE && cfg->attackers == 0)
		cfg->hold_conns = 0; /* --attackers 0: the chat alone */
	if (cfg->attackers + cfg->hold_conns &&
	    !parse_sources(&cfg->attack_ips, &cfg->n_attack_ips, attack_ips)) {
		fprintf(stderr, "xmppload: bad --attack-ips %s\n", attack_ips);
		return -1;
	}

	if (!strcmp(mode, "starttls"))
		cfg->mode = MODE_STARTTLS;
	else if (!strcmp(mode, "direct_tls"))
		cfg->mode = MODE_DIRECT_TLS;
	else {
		fprintf(stderr, "xmppload: --mode is starttls or direct_tls\n");
		return -1;
	}
	if (!strcmp(transport, "websocket")) {
		cfg->websocket = true;
		cfg->mode = MODE_DIRECT_TLS; /* wss:// */
		if (cfg->scenario == SC_HOSTILE || cfg->peer_host) {
			fprintf(stderr, "xmppload: --transport websocket is for login, idle, chat "
					"and presence on one server\n");
			return -1;
		}
		if (cfg->ws_path[0] != '/' || strpbrk(cfg->ws_path, " \r\n")) {
			fprintf(stderr, "xmppload: --ws-path must start with / and hold no spaces\n");
			return -1;
		}
	} else if (strcmp(transport, "socket") != 0) {
		fprintf(stderr, "xmppload: --transport is socket or websocket\n");
		return -1;
	}
	cfg->port = port ? (unsigned)port : cfg->websocket ? 5443
					  : cfg->mode == MODE_STARTTLS ? 5222 : 5223;
	cfg->mech_name = mech;
	if (!strcmp(mech, "PLAIN")) {
		cfg->mech = AUTH_PLAIN;
	} else if (scram_mech_parse(mech, &cfg->hash, &cfg->plus)) {
		cfg->mech = AUTH_SCRAM;
	} else {
		fprintf(stderr, "xmppload: unknown --mech %s\n", mech);
		return -1;
	}
	if (!strcmp(tls, "1.2"))
		cfg->tls_min = cfg->tls_max = 12;
	else if (!strcmp(tls, "1.3"))
		cfg->tls_min = cfg->tls_max = 13;
	else if (strcmp(tls, "any") != 0) {
		fprintf(stderr, "xmppload: --tls is 1.2, 1.3 or any\n");
		return -1;
	}
	if (cfg->plus && cfg->tls_max == 12) {
		fprintf(stderr, "xmppload: -PLUS uses tls-exporter, which needs TLS 1.3\n");
		return -1;
	}
	if (!fmt_ok(cfg->user_fmt, true) || !fmt_ok(cfg->pass_fmt, false) ||
	    !fmt_ok(cfg->resource_fmt, true)) {
		fprintf(stderr, "xmppload: formats take one %%d (and %%%% for a percent sign); "
				"user and resource formats no XML special characters\n");
		return -1;
	}
	if (inet_pton(AF_INET, cfg->server_ip, &cfg->server.sin_addr) != 1) {
		fprintf(stderr, "xmppload: --server-ip must be an IPv4 address\n");
		return -1;
	}
	cfg->server.sin_family = AF_INET;
	cfg->server.sin_port = htons((uint16_t)cfg->port);
	if (strchr(cfg->host, '\'') || strchr(cfg->host, '<') || strchr(cfg->host, '&')) {
		fprintf(stderr, "xmppload: --host must be a plain domain name\n");
		return -1;
	}
	if ((peer_port || cfg->peer_ip) && !cfg->peer_host) {
		fprintf(stderr, "xmppload: --peer-port and --peer-server-ip need --peer-host\n");
		return -1;
	}
	if (cfg->peer_host) {
		/* federation: chat only, a user on each side at least. */
		if (cfg->scenario != SC_CHAT || cfg->users < 2) {
			fprintf(stderr, "xmppload: --peer-host is for the chat scenario with 2 or "
					"more --users\n");
			return -1;
		}
		if (strchr(cfg->peer_host, '\'') || strchr(cfg->peer_host, '<') ||
		    strchr(cfg->peer_host, '&') || !strcmp(cfg->peer_host, cfg->host)) {
			fprintf(stderr, "xmppload: --peer-host must be a plain domain name other "
					"than --host\n");
			return -1;
		}
		if (!cfg->peer_ip)
			cfg->peer_ip = cfg->server_ip;
		if (inet_pton(AF_INET, cfg->peer_ip, &cfg->peer.sin_addr) != 1) {
			fprintf(stderr, "xmppload: --peer-server-ip must be an IPv4 address\n");
			return -1;
		}
		cfg->peer.sin_family = AF_INET;
		cfg->peer.sin_port = htons((uint16_t)(peer_port ? (unsigned)peer_port : cfg->port));
		cfg->peer_first = (cfg->users + 1) / 2;
	}
	if (cfg->threads > cfg->users)
		cfg->threads = cfg->users;
	return 0;
}
