/* xmppload's output: a table for people and, with --json, one JSON object on
 * stdout for scripts (the table then goes to stderr so stdout stays
 * parseable).  Both carry the generator's own CPU time, because a figure
 * measured while the generator saturated its cores says more about the
 * generator than about the server. */
#include "bench/xmppload/xmppload.h"
#include "bench/xmppload/attack.h"

#include <arpa/inet.h>
#include <stdio.h>

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* JSON string: our values are option strings, so escape the few that need it. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_hist(FILE *f, const char *name, const struct hist *h)
{
	fprintf(f, "\"%s\":{\"count\":%llu,\"mean_ms\":%.4f,\"min_ms\":%.4f,\"p50_ms\":%.4f,"
		   "\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"p999_ms\":%.4f,\"max_ms\":%.4f,"
		   "\"underflow\":%llu,\"overflow\":%llu}",
		name, (unsigned long long)h->count, hist_mean(h) / 1e6,
		h->count ? ms(h->min) : 0.0, ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)),
		ms(hist_percentile(h, 99)), ms(hist_percentile(h, 99.9)),
		ms(hist_percentile(h, 100)), (unsigned long long)h->underflow,
		(unsigned long long)h->overflow);
}

/* The attackers' side of a hostile run: per kind, what was opened and
 * what the server closed; the flooder's sent and delivered, and whether
 * the victim kept its session. */
static void json_attack(FILE *f, const struct load_cfg *cfg, const struct attack *a)
{
	struct shared *sh = a ? a->sh : NULL;

	fprintf(f, ",\"attack\":{\"per_kind\":%u,\"hold_conns\":%u", cfg->attackers, cfg->hold_conns);
	if (!a) {
		fprintf(f, "}");
		return;
	}
	for (int k = 0; k < AK_COUNT; k++) {
		const struct akind_stats *s = &a->k[k];

		fprintf(f, ",\"%s\":{\"conns\":%u,\"opened\":%llu,\"connect_failed\":%llu,"
			   "\"closed_by_server\":%llu,\"bytes_out\":%llu,\"bytes_in\":%llu,"
			   "\"elements\":%llu,\"open_at_end\":%u}",
			akind_name((enum akind)k), s->conns, (unsigned long long)s->opened,
			(unsigned long long)s->connect_failed, (unsigned long long)s->closed_by_server,
			(unsigned long long)s->bytes_out, (unsigned long long)s->bytes_in,
			(unsigned long long)s->elements, s->open_at_end);
	}
	if (!sh->victim) {
		fprintf(f, ",\"flood\":{\"run\":false}");
		goto out;
	}
	fprintf(f, ",\"flood\":{\"run\":true,\"logged_in\":%s,\"sent\":%llu,\"delivered\":%llu,"
		   "\"errors\":%llu,\"flooder_disconnected\":%s,\"victim\":",
		a->flood_online ? "true" : "false", (unsigned long long)a->flood_sent,
		(unsigned long long)atomic_load(&sh->flood_delivered),
		(unsigned long long)a->fw.msg_errors, a->fw.disconnects ? "true" : "false");
	json_str(f, a->victim_jid ? a->victim_jid : "");
	fprintf(f, ",\"victim_connected\":%s",
		sh->victim && !atomic_load(&sh->victim_lost) ? "true" : "false");
	if (a->fw.first_error[0]) {
		fprintf(f, ",\"flooder_error\":");
		json_str(f, a->fw.first_error);
	}
	fprintf(f, "}");
out:
	if (a->first_error[0]) {
		fprintf(f, ",\"first_error\":");
		json_str(f, a->first_error);
	}
	fprintf(f, "}");
}

static void table_attack(FILE *f, const struct load_cfg *cfg, const struct attack *a)
{
	struct shared *sh;

	if (!a) {
		fprintf(f, "  %-22s none (--attackers 0)\n", "attackers");
		return;
	}
	sh = a->sh;
	(void)cfg;
	for (int k = 0; k < AK_COUNT; k++) {
		const struct akind_stats *s = &a->k[k];
		char what[48] = "";

		if (!s->conns)
			continue;
		if (k == AK_SASL)
			snprintf(what, sizeof(what), ", %llu elements", (unsigned long long)s->elements);
		fprintf(f, "  %-22s %u held: %llu opened, %llu closed by the server, %llu connects "
			   "failed, %u open at the end; %.1f KiB out, %.1f KiB in%s\n",
			akind_name((enum akind)k), s->conns, (unsigned long long)s->opened,
			(unsigned long long)s->closed_by_server, (unsigned long long)s->connect_failed,
			s->open_at_end, (double)s->bytes_out / 1024, (double)s->bytes_in / 1024, what);
	}
	if (!sh->victim) {
		fprintf(f, "  %-22s not run\n", "flooder");
	} else {
		const char *state = !a->flood_online ? "login failed"
				    : a->fw.disconnects ? "disconnected" : "stayed connected";

		fprintf(f, "  %-22s %s; %llu sent, %llu delivered to %s (%s), %llu error bounces%s%s\n",
			"flooder", state, (unsigned long long)a->flood_sent,
			(unsigned long long)atomic_load(&sh->flood_delivered),
			a->victim_jid ? a->victim_jid : "nobody",
			atomic_load(&sh->victim_lost) ? "VICTIM DISCONNECTED" : "victim stayed connected",
			(unsigned long long)a->fw.msg_errors, a->fw.first_error[0] ? "; " : "",
			a->fw.first_error);
	}
	if (a->first_error[0])
		fprintf(f, "  %-22s %s\n", "attack first error", a->first_error);
}

static void print_json(const struct load_cfg *cfg, const struct run_result *r)
{
	FILE *f = stdout;
	double cpu = r->cpu_user_s + r->cpu_sys_s;
	double pcpu = r->phase_cpu_user_s + r->phase_cpu_sys_s;

	fprintf(f, "{\"scenario\":");
	json_str(f, cfg->scenario_name);
	fprintf(f, ",\"ok\":%s,\"params\":{\"host\":", r->ok ? "true" : "false");
	json_str(f, cfg->host);
	fprintf(f, ",\"server_ip\":");
	json_str(f, cfg->server_ip);
	fprintf(f, ",\"port\":%u,\"mode\":\"%s\",\"transport\":\"%s\",\"mech\":", cfg->port,
		cfg->mode == MODE_STARTTLS ? "starttls" : "direct_tls",
		cfg->websocket ? "websocket" : "socket");
	json_str(f, cfg->mech_name);
	fprintf(f, ",\"users\":%u,\"first_user\":%u,\"threads\":%u,\"rate\":%g,"
		   "\"login_rate\":%g,\"max_pending\":%u,\"duration_s\":%g,\"drain_s\":%g,"
		   "\"timeout_s\":%g,\"body_size\":%u,\"tick_us\":%u,\"source_ips\":%u,\"verify\":%s,"
		   "\"roster_get\":%s,\"roster_size\":%u",
		cfg->users, cfg->first_user, cfg->threads, cfg->rate, cfg->login_rate,
		cfg->max_pending, cfg->duration, cfg->drain, cfg->timeout, cfg->body_size, cfg->tick_us,
		cfg->n_src, cfg->insecure ? "false" : "true", cfg->roster_get ? "true" : "false",
		cfg->roster_size);
	if (cfg->peer_host) {
		/* federation: the second server and the users logged in to it */
		fprintf(f, ",\"peer_host\":");
		json_str(f, cfg->peer_host);
		fprintf(f, ",\"peer_server_ip\":");
		json_str(f, cfg->peer_ip);
		fprintf(f, ",\"peer_port\":%u,\"peer_users\":%u", (unsigned)ntohs(cfg->peer.sin_port),
			cfg->users - cfg->peer_first);
	}
	fputc('}', f);
	fprintf(f, ",\"results\":{\"logins_ok\":%llu,\"login_failures\":%llu,"
		   "\"login_phase_s\":%.3f,\"logins_per_s\":%.1f,\"disconnects\":%llu,",
		(unsigned long long)r->logins_ok, (unsigned long long)r->login_fail, r->login_s,
		r->login_s > 0 ? (double)r->logins_ok / r->login_s : 0.0,
		(unsigned long long)r->disconnects);
	json_hist(f, "login_time", &r->login_h);
	if (cfg->roster_get)
		fprintf(f, ",\"roster_items_min\":%u,\"roster_items_max\":%u,\"rosters_wrong_size\":%llu",
			r->roster_min, r->roster_max, (unsigned long long)r->roster_bad);
	if (cfg->scenario == SC_PRESENCE) {
		fprintf(f, ",\"initial_deliveries\":%llu,\"initial_expected\":%llu,\"settle_s\":%.3f,"
			   "\"presence_s\":%.3f,\"changes_sent\":%llu,\"expected\":%llu,\"delivered\":%llu,"
			   "\"lost\":%llu,\"duplicates\":%llu,\"errors\":%llu,\"stray\":%llu,"
			   "\"self_presences\":%llu,\"other_presences\":%llu,\"delivered_per_s\":%.1f,",
			(unsigned long long)r->initial, (unsigned long long)r->initial_expected,
			r->settle_s, r->phase_s, (unsigned long long)r->sent,
			(unsigned long long)r->expected, (unsigned long long)r->delivered,
			(unsigned long long)r->lost, (unsigned long long)r->dups,
			(unsigned long long)r->msg_errors, (unsigned long long)r->stray,
			(unsigned long long)r->self_pres, (unsigned long long)r->pres_other,
			cfg->duration > 0 ? (double)r->delivered / cfg->duration : 0.0);
		json_hist(f, "latency", &r->lat_h);
	}
	if (cfg->scenario == SC_IDLE)
		fprintf(f, ",\"held_s\":%.3f,\"alive\":%llu", r->phase_s, (unsigned long long)r->alive);
	/* idle with --roster-get: the presences the sessions received (from
	 * contacts, their own reflected, with a type), nothing owed or timed. */
	if (cfg->scenario == SC_IDLE && cfg->roster_get)
		fprintf(f, ",\"presences_from_contacts\":%llu,\"self_presences\":%llu,"
			   "\"other_presences\":%llu,\"presence_errors\":%llu",
			(unsigned long long)r->initial, (unsigned long long)r->self_pres,
			(unsigned long long)r->pres_other, (unsigned long long)r->msg_errors);
	if (cfg->peer_host)
		fprintf(f, ",\"link_warmup_s\":%.3f,\"link_pings\":%llu,\"link_pings_answered\":%llu",
			r->warm_s, (unsigned long long)r->warm_sent,
			(unsigned long long)r->warm_answered);
	if (cfg_chats(cfg)) {
		fprintf(f, ",\"chat_s\":%.3f,\"sent\":%llu,\"delivered\":%llu,\"lost\":%llu,"
			   "\"duplicates\":%llu,\"errors\":%llu,\"stray\":%llu,\"delivered_per_s\":%.1f,",
			r->phase_s, (unsigned long long)r->sent, (unsigned long long)r->delivered,
			(unsigned long long)r->lost, (unsigned long long)r->dups,
			(unsigned long long)r->msg_errors, (unsigned long long)r->stray,
			cfg->duration > 0 ? (double)r->delivered / cfg->duration : 0.0);
		json_hist(f, "latency", &r->lat_h);
	}
	if (cfg->scenario == SC_HOSTILE)
		json_attack(f, cfg, r->atk);
	fprintf(f, "},\"generator\":{\"wall_s\":%.3f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,"
		   "\"cpu_s\":%.3f,\"phase_s\":%.3f,\"phase_cpu_s\":%.3f,\"phase_cores_used\":%.3f,"
		   "\"busiest_thread_cpu_s\":%.3f}",
		r->wall_s, r->cpu_user_s, r->cpu_sys_s, cpu, r->phase_s, pcpu,
		r->phase_s > 0 ? pcpu / r->phase_s : 0.0, r->thread_cpu_max_s);
	if (r->first_error[0]) {
		fprintf(f, ",\"first_error\":");
		json_str(f, r->first_error);
	}
	fprintf(f, "}\n");
	fflush(f);
}

static void row_hist(FILE *f, const char *name, const struct hist *h)
{
	fprintf(f, "  %-22s p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (n=%llu",
		name, ms(hist_percentile(h, 50)), ms(hist_percentile(h, 99)),
		ms(hist_percentile(h, 99.9)), ms(hist_percentile(h, 100)),
		(unsigned long long)h->count);
	if (h->underflow || h->overflow)
		fprintf(f, ", %llu below 1 us, %llu above 60 s", (unsigned long long)h->underflow,
			(unsigned long long)h->overflow);
	fprintf(f, ")\n");
}

static void print_table(FILE *f, const struct load_cfg *cfg, const struct run_result *r)
{
	double pcpu = r->phase_cpu_user_s + r->phase_cpu_sys_s;

	fprintf(f, "xmppload %s: %u users, %s %s on %s:%u (%s), %u threads\n", cfg->scenario_name,
		cfg->users,
		cfg->websocket ? "websocket (wss)" : cfg->mode == MODE_STARTTLS ? "starttls" : "direct_tls",
		cfg->mech_name,
		cfg->server_ip, cfg->port, cfg->host, cfg->threads);
	if (cfg->peer_host)
		fprintf(f, "  %-22s users %u..%u on %s:%u (%s), messages only to the other server\n",
			"federation", cfg->first_user + cfg->peer_first, cfg->first_user + cfg->users - 1,
			cfg->peer_ip, (unsigned)ntohs(cfg->peer.sin_port), cfg->peer_host);
	fprintf(f, "  %-22s %llu ok, %llu failed in %.2f s (%.1f/s, offered %g/s)\n", "logins",
		(unsigned long long)r->logins_ok, (unsigned long long)r->login_fail, r->login_s,
		r->login_s > 0 ? (double)r->logins_ok / r->login_s : 0.0,
		cfg->scenario == SC_LOGIN ? cfg->rate : cfg->login_rate);
	row_hist(f, "login time", &r->login_h);
	if (cfg->roster_get)
		fprintf(f, "  %-22s %u to %u items; %llu not of --roster-size %u\n", "rosters",
			r->roster_min, r->roster_max, (unsigned long long)r->roster_bad,
			cfg->roster_size);
	if (cfg->scenario == SC_PRESENCE) {
		fprintf(f, "  %-22s %llu of %llu owed, settled %.2f s after the logins\n",
			"initial presences", (unsigned long long)r->initial,
			(unsigned long long)r->initial_expected, r->settle_s);
		fprintf(f, "  %-22s %llu sent (offered %g/s for %g s): %llu deliveries owed, %llu "
			   "delivered (%.1f/s), %llu lost, %llu duplicates, %llu errors, %llu stray; "
			   "%llu own reflected, %llu of other types\n",
			"presence changes", (unsigned long long)r->sent, cfg->rate, cfg->duration,
			(unsigned long long)r->expected, (unsigned long long)r->delivered,
			cfg->duration > 0 ? (double)r->delivered / cfg->duration : 0.0,
			(unsigned long long)r->lost, (unsigned long long)r->dups,
			(unsigned long long)r->msg_errors, (unsigned long long)r->stray,
			(unsigned long long)r->self_pres, (unsigned long long)r->pres_other);
		row_hist(f, "presence latency", &r->lat_h);
	}
	if (cfg->scenario == SC_IDLE)
		fprintf(f, "  %-22s %llu of %llu answered a ping after %.1f s (%llu disconnects)\n",
			"sessions alive", (unsigned long long)r->alive,
			(unsigned long long)r->logins_ok, cfg->duration,
			(unsigned long long)r->disconnects);
	if (cfg->scenario == SC_IDLE && cfg->roster_get)
		fprintf(f, "  %-22s %llu from contacts, %llu own reflected, %llu with a type "
			   "(%llu errors)\n", "presences received", (unsigned long long)r->initial,
			(unsigned long long)r->self_pres, (unsigned long long)r->pres_other,
			(unsigned long long)r->msg_errors);
	if (cfg->peer_host)
		fprintf(f, "  %-22s %llu of %llu pings to the other domain answered in %.3f s\n",
			"s2s links up", (unsigned long long)r->warm_answered,
			(unsigned long long)r->warm_sent, r->warm_s);
	if (cfg_chats(cfg)) {
		fprintf(f, "  %-22s %llu sent, %llu delivered, %llu lost, %llu duplicates, "
			   "%llu errors (offered %g/s for %g s)\n",
			"messages", (unsigned long long)r->sent, (unsigned long long)r->delivered,
			(unsigned long long)r->lost, (unsigned long long)r->dups,
			(unsigned long long)r->msg_errors, cfg->rate, cfg->duration);
		row_hist(f, "message latency", &r->lat_h);
	}
	if (cfg->scenario == SC_HOSTILE)
		table_attack(f, cfg, r->atk);
	fprintf(f, "  %-22s %.2f s CPU (user %.2f, sys %.2f) in %.2f s wall; "
		   "measured phase %.2f s CPU in %.2f s = %.2f cores of %u; busiest thread %.2f s\n",
		"generator", r->cpu_user_s + r->cpu_sys_s, r->cpu_user_s, r->cpu_sys_s, r->wall_s,
		pcpu, r->phase_s, r->phase_s > 0 ? pcpu / r->phase_s : 0.0, cfg->threads,
		r->thread_cpu_max_s);
	if (r->first_error[0])
		fprintf(f, "  %-22s %s\n", "first error", r->first_error);
	fprintf(f, "  %-22s %s\n", "result", r->ok ? "OK" : "FAILED");
}

void report_print(const struct load_cfg *cfg, const struct run_result *r, bool json)
{
	print_table(json ? stderr : stdout, cfg, r);
	if (json)
		print_json(cfg, r);
}
