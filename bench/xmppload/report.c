/* xmppload's output: a table for people and, with --json, one JSON object on
 * stdout for scripts (the table then goes to stderr so stdout stays
 * parseable).  Both carry the generator's own CPU time, because a figure
 * measured while the generator saturated its cores says more about the
 * generator than about the server. */
#include "bench/xmppload/xmppload.h"

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
	fprintf(f, ",\"port\":%u,\"mode\":\"%s\",\"mech\":", cfg->port,
		cfg->mode == MODE_STARTTLS ? "starttls" : "direct_tls");
	json_str(f, cfg->mech_name);
	fprintf(f, ",\"users\":%u,\"first_user\":%u,\"threads\":%u,\"rate\":%g,"
		   "\"login_rate\":%g,\"max_pending\":%u,\"duration_s\":%g,\"drain_s\":%g,"
		   "\"timeout_s\":%g,\"body_size\":%u,\"tick_us\":%u,\"source_ips\":%u,\"verify\":%s}",
		cfg->users, cfg->first_user, cfg->threads, cfg->rate, cfg->login_rate,
		cfg->max_pending, cfg->duration, cfg->drain, cfg->timeout, cfg->body_size, cfg->tick_us,
		cfg->n_src, cfg->insecure ? "false" : "true");
	fprintf(f, ",\"results\":{\"logins_ok\":%llu,\"login_failures\":%llu,"
		   "\"login_phase_s\":%.3f,\"logins_per_s\":%.1f,\"disconnects\":%llu,",
		(unsigned long long)r->logins_ok, (unsigned long long)r->login_fail, r->login_s,
		r->login_s > 0 ? (double)r->logins_ok / r->login_s : 0.0,
		(unsigned long long)r->disconnects);
	json_hist(f, "login_time", &r->login_h);
	if (cfg->scenario == SC_IDLE)
		fprintf(f, ",\"held_s\":%.3f,\"alive\":%llu", r->phase_s, (unsigned long long)r->alive);
	if (cfg->scenario == SC_CHAT) {
		fprintf(f, ",\"chat_s\":%.3f,\"sent\":%llu,\"delivered\":%llu,\"lost\":%llu,"
			   "\"duplicates\":%llu,\"errors\":%llu,\"stray\":%llu,\"delivered_per_s\":%.1f,",
			r->phase_s, (unsigned long long)r->sent, (unsigned long long)r->delivered,
			(unsigned long long)r->lost, (unsigned long long)r->dups,
			(unsigned long long)r->msg_errors, (unsigned long long)r->stray,
			cfg->duration > 0 ? (double)r->delivered / cfg->duration : 0.0);
		json_hist(f, "latency", &r->lat_h);
	}
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
		cfg->users, cfg->mode == MODE_STARTTLS ? "starttls" : "direct_tls", cfg->mech_name,
		cfg->server_ip, cfg->port, cfg->host, cfg->threads);
	fprintf(f, "  %-22s %llu ok, %llu failed in %.2f s (%.1f/s, offered %g/s)\n", "logins",
		(unsigned long long)r->logins_ok, (unsigned long long)r->login_fail, r->login_s,
		r->login_s > 0 ? (double)r->logins_ok / r->login_s : 0.0,
		cfg->scenario == SC_LOGIN ? cfg->rate : cfg->login_rate);
	row_hist(f, "login time", &r->login_h);
	if (cfg->scenario == SC_IDLE)
		fprintf(f, "  %-22s %llu of %llu answered a ping after %.1f s (%llu disconnects)\n",
			"sessions alive", (unsigned long long)r->alive,
			(unsigned long long)r->logins_ok, cfg->duration,
			(unsigned long long)r->disconnects);
	if (cfg->scenario == SC_CHAT) {
		fprintf(f, "  %-22s %llu sent, %llu delivered, %llu lost, %llu duplicates, "
			   "%llu errors (offered %g/s for %g s)\n",
			"messages", (unsigned long long)r->sent, (unsigned long long)r->delivered,
			(unsigned long long)r->lost, (unsigned long long)r->dups,
			(unsigned long long)r->msg_errors, cfg->rate, cfg->duration);
		row_hist(f, "message latency", &r->lat_h);
	}
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
