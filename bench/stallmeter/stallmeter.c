/* stallmeter: how late this machine wakes a thread that sleeps briefly, the
 * floor under any latency figure measured here (issue 3: p99 at 10,000
 * msg/s; printed by compare.sh beside the chat table, as cryptobound's
 * figure is beside the login one).
 *
 * It sleeps SLEEP_US at a time (clock_nanosleep on CLOCK_MONOTONIC, to an
 * absolute deadline one period after the previous wake-up) for SECONDS, and
 * records how much later than asked each wake-up came.  A server answering
 * a message is woken the same way: when the host stalls this CPU for 10 ms,
 * every message in flight in those 10 ms is at least that late, however
 * fast the server is; at 10,000 msg/s one such stall a second is 1% of the
 * messages, so a p99 sits at the length of the stalls.  Run it on an idle
 * CPU, pinned (taskset) to the CPU to be measured.
 *
 *   stallmeter [--seconds 10] [--sleep-us 100] [--json]
 *
 * Prints the wake-ups, the late ones (over 0.5, 1 and 2 ms) per second,
 * the lateness p50/p99/p99.9 and the longest, the share of the run spent
 * in stalls over 1 ms, and the p99 floor: the delay that 1% of messages
 * arriving at random moments would see from the stalls alone.  A message
 * that arrives in the first L - X of a stall of length L waits more than X,
 * so the share of messages waiting more than X is the sum over stalls of
 * max(0, L - X) divided by the run's length; the floor is the X at which
 * that share is 1%.  Each wake-up's lateness stands for one stall.  The
 * figures describe the machine at the time of the run; the exit status is
 * 0 whenever the run completed. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static struct timespec ts_of(int64_t ns)
{
	struct timespec t = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	return t;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(const int64_t *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)sorted[i] / 1e6;
}

/* Share of the run (seconds wall) in which a message would wait more than
 * x ns: sum of (l - x) over wake-ups late by l > x, over the run. */
static double share_over(const int64_t *sorted, size_t n, double wall, double x)
{
	double sum = 0;
	for (size_t i = n; i-- > 0 && (double)sorted[i] > x;)
		sum += (double)sorted[i] - x;
	return sum / 1e9 / wall;
}

/* The delay x (ms) that a share q of randomly timed messages exceed from
 * the stalls alone: share_over() falls as x grows, so bisect. */
static double floor_ms(const int64_t *sorted, size_t n, double wall, double q)
{
	double lo = 0, hi = (double)sorted[n - 1];
	if (share_over(sorted, n, wall, lo) <= q)
		return 0;
	for (int i = 0; i < 60; i++) {
		double mid = (lo + hi) / 2;
		if (share_over(sorted, n, wall, mid) > q)
			lo = mid;
		else
			hi = mid;
	}
	return hi / 1e6;
}

static void usage(void)
{
	fprintf(stderr, "usage: stallmeter [--seconds S] [--sleep-us N] [--json]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double seconds = 10;
	long sleep_us = 100;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--sleep-us") && i + 1 < argc)
			sleep_us = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else
			usage();
	}
	if (!(seconds > 0 && seconds <= 3600) || sleep_us < 10 || sleep_us > 1000000)
		usage();

	int64_t period = (int64_t)sleep_us * 1000;
	size_t cap = (size_t)(seconds * 1e9 / (double)period) + 16;
	int64_t *late = malloc(cap * sizeof(*late));
	if (!late) {
		perror("stallmeter: malloc");
		return 1;
	}

	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t start = ns_of(&now), end = start + (int64_t)(seconds * 1e9);
	int64_t deadline = start + period;
	size_t n = 0;
	while (n < cap) {
		struct timespec d = ts_of(deadline);
		int rc;
		while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL)) == EINTR)
			;
		if (rc != 0) {
			fprintf(stderr, "stallmeter: clock_nanosleep: %s\n", strerror(rc));
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t t = ns_of(&now);
		int64_t l = t - deadline;
		late[n++] = l;
		if (t >= end)
			break;
		/* the next period starts at this wake-up, so that one stall counts
		 * once rather than as a run of missed deadlines */
		deadline = t + period;
	}
	double wall = (double)(ns_of(&now) - start) / 1e9;

	size_t over05 = 0, over1 = 0, over2 = 0;
	int64_t stalled_ns = 0; /* lateness summed over wake-ups later than 1 ms */
	for (size_t i = 0; i < n; i++) {
		over05 += late[i] > 500000;
		over1 += late[i] > 1000000;
		over2 += late[i] > 2000000;
		if (late[i] > 1000000)
			stalled_ns += late[i];
	}
	qsort(late, n, sizeof(*late), cmp_i64);
	double p50 = pct_ms(late, n, 0.50), p99 = pct_ms(late, n, 0.99);
	double p999 = pct_ms(late, n, 0.999), max = (double)late[n - 1] / 1e6;
	double stalled_share = (double)stalled_ns / 1e9 / wall;
	double floor99 = floor_ms(late, n, wall, 0.01), floor999 = floor_ms(late, n, wall, 0.001);

	if (json) {
		printf("{\"seconds\":%.3f,\"sleep_us\":%ld,\"wakeups\":%zu,"
		       "\"late_over_0_5ms\":%zu,\"late_over_1ms\":%zu,\"late_over_2ms\":%zu,"
		       "\"late_over_1ms_per_s\":%.3f,\"late_over_2ms_per_s\":%.3f,"
		       "\"lateness_p50_ms\":%.4f,\"lateness_p99_ms\":%.4f,\"lateness_p999_ms\":%.4f,"
		       "\"longest_ms\":%.3f,\"stalled_share\":%.6f,"
		       "\"p99_floor_ms\":%.3f,\"p999_floor_ms\":%.3f}\n",
		       wall, sleep_us, n, over05, over1, over2, (double)over1 / wall,
		       (double)over2 / wall, p50, p99, p999, max, stalled_share, floor99, floor999);
	} else {
		printf("stallmeter: %zu wake-ups in %.2f s, sleeping %ld us at a time\n", n, wall, sleep_us);
		printf("  lateness          p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  longest %.3f ms\n",
		       p50, p99, p999, max);
		printf("  late > 0.5 ms     %zu (%.2f/s)\n", over05, (double)over05 / wall);
		printf("  late > 1 ms       %zu (%.2f/s)\n", over1, (double)over1 / wall);
		printf("  late > 2 ms       %zu (%.2f/s)\n", over2, (double)over2 / wall);
		printf("  time in stalls > 1 ms: %.3f%% of the run\n", 100 * stalled_share);
		printf("  p99 floor %.3f ms, p99.9 floor %.3f ms (delay from the stalls alone)\n",
		       floor99, floor999);
	}
	free(late);
	return 0;
}
