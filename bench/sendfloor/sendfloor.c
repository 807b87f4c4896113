/* sendfloor: what the kernel charges a server for one small TCP write to a
 * client on loopback, with nothing else done.
 *
 * A presence delivery or the echo of a chat message is, at the bottom, one
 * send() of a few hundred bytes (one TLS record) to one of many connections
 * whose reader sleeps on the other CPU.  On loopback the sender's system
 * call also runs the receiver's TCP input (softirq) and wakes the reader,
 * so the sender pays for both ends.  This program measures that floor: a
 * sender thread pinned to --sender-cpu writes --size bytes to one of
 * --conns connections (round robin) at --rate writes a second for
 * --seconds, a reader thread pinned to --reader-cpu reads them through
 * epoll.  Writes go in bursts of --burst consecutive connections, as a
 * presence change goes to K contacts at once; the sender sleeps between
 * bursts.  The figure is the sender thread's CPU time (user + system,
 * CLOCK_THREAD_CPUTIME_ID) per write, the time it spends asleep left out.
 * Sockets have TCP_NODELAY, as xmppd's do.
 *
 *   sendfloor [--conns 1000] [--size 200] [--rate 10000] [--burst 50]
 *             [--seconds 3] [--sender-cpu 0] [--reader-cpu 1] [--json]
 *
 * bench/compare.sh prints it beside the presence and login figures: a
 * server's CPU per delivery cannot go below it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct opts {
	int conns, size, rate, burst, sender_cpu, reader_cpu;
	double seconds;
	bool json;
};

struct reader {
	int epfd;
	int cpu;
	atomic_bool stop;
	unsigned long long bytes;
};

static double now_s(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		fprintf(stderr, "sendfloor: cannot pin to CPU %d (running unpinned)\n", cpu);
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	pin(rd->cpu);
	char buf[65536];
	struct epoll_event ev[64];
	while (!atomic_load(&rd->stop)) {
		int n = epoll_wait(rd->epfd, ev, 64, 100);
		for (int i = 0; i < n; i++) {
			ssize_t r;
			while ((r = recv(ev[i].data.fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
				rd->bytes += (unsigned long long)r;
		}
	}
	return NULL;
}

static int die(const char *what)
{
	fprintf(stderr, "sendfloor: %s: %s\n", what, strerror(errno));
	return 1;
}

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .conns = 1000, .size = 200, .rate = 10000, .burst = 50, .seconds = 3,
			    .sender_cpu = 0, .reader_cpu = 1 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		}
		if (!v)
			return -1;
		i++;
		if (!strcmp(a, "--conns"))
			o->conns = atoi(v);
		else if (!strcmp(a, "--size"))
			o->size = atoi(v);
		else if (!strcmp(a, "--rate"))
			o->rate = atoi(v);
		else if (!strcmp(a, "--burst"))
			o->burst = atoi(v);
		else if (!strcmp(a, "--seconds"))
			o->seconds = atof(v);
		else if (!strcmp(a, "--sender-cpu"))
			o->sender_cpu = atoi(v);
		else if (!strcmp(a, "--reader-cpu"))
			o->reader_cpu = atoi(v);
		else
			return -1;
	}
	if (o->conns < 1 || o->conns > 20000 || o->size < 1 || o->size > 16384 || o->rate < 1 ||
	    o->rate > 1000000 || o->burst < 1 || o->burst > o->rate || !(o->seconds > 0 && o->seconds <= 60))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: sendfloor [--conns N<=20000] [--size BYTES<=16384] "
				"[--rate N/s] [--burst N] [--seconds S<=60] [--sender-cpu C] [--reader-cpu C] "
				"[--json]\n");
		return 2;
	}
	/* two descriptors a connection: the soft limit up to the hard one */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)(2 * o.conns + 16)) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)(2 * o.conns + 16) ? rl.rlim_max
									 : (rlim_t)(2 * o.conns + 16);
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 4096) != 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0)
		return die("listen on 127.0.0.1");
	int *srv = calloc((size_t)o.conns, sizeof(int));
	struct reader rd = { .epfd = epoll_create1(0), .cpu = o.reader_cpu };
	if (!srv || rd.epfd < 0)
		return die("setup");
	int one = 1;
	for (int i = 0; i < o.conns; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			return die("connect (raise ulimit -n?)");
		srv[i] = accept(lfd, NULL, NULL);
		if (srv[i] < 0)
			return die("accept");
		setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = c };
		if (epoll_ctl(rd.epfd, EPOLL_CTL_ADD, c, &ev) != 0)
			return die("epoll_ctl");
	}
	pthread_t th;
	if (pthread_create(&th, NULL, reader_main, &rd) != 0)
		return die("pthread_create");
	pin(o.sender_cpu);

	char *msg = malloc((size_t)o.size);
	if (!msg)
		return die("malloc");
	memset(msg, 'x', (size_t)o.size);
	/* warm-up: every connection has carried data once */
	for (int i = 0; i < o.conns; i++)
		if (send(srv[i], msg, (size_t)o.size, 0) != o.size)
			return die("send");
	usleep(200000);

	long long bursts = (long long)(o.rate * o.seconds / o.burst);
	long long total = bursts * o.burst;
	double period = (double)o.burst / o.rate;
	double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID), sleep_cpu = 0;
	long long k = 0;
	for (long long b = 0; b < bursts; b++) {
		/* paced like a server answering clients, so the reader sleeps
		 * between bursts as the bench's clients do */
		double due = t0 + (double)b * period, t = now_s(CLOCK_MONOTONIC);
		if (due > t) {
			double s0 = now_s(CLOCK_THREAD_CPUTIME_ID);
			struct timespec ts = { .tv_sec = (time_t)(due - t),
					       .tv_nsec = (long)((due - t - (double)(time_t)(due - t)) * 1e9) };
			nanosleep(&ts, NULL);
			sleep_cpu += now_s(CLOCK_THREAD_CPUTIME_ID) - s0;
		}
		for (int i = 0; i < o.burst; i++, k++)
			if (send(srv[k % o.conns], msg, (size_t)o.size, 0) != o.size)
				return die("send");
	}
	double cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0 - sleep_cpu;
	double wall = now_s(CLOCK_MONOTONIC) - t0;
	usleep(200000);
	atomic_store(&rd.stop, true);
	pthread_join(th, NULL);
	for (int i = 0; i < o.conns; i++)
		close(srv[i]); /* the client ends close at exit */
	free(srv);
	free(msg);
	close(rd.epfd);
	close(lfd);
	double us = cpu / (double)total * 1e6;
	if (o.json)
		printf("{\"conns\":%d,\"size\":%d,\"rate\":%d,\"burst\":%d,\"writes\":%lld,\"wall_s\":%.3f,"
		       "\"sender_cpu_s\":%.4f,\"us_per_write\":%.3f,\"bytes_read\":%llu}\n",
		       o.conns, o.size, o.rate, o.burst, total, wall, cpu, us, rd.bytes);
	else
		printf("sendfloor: %lld writes of %d bytes to %d loopback connections at %d/s "
		       "in bursts of %d: %.3f us of sender CPU per write (reader on CPU %d)\n",
		       total, o.size, o.conns, o.rate, o.burst, us, o.reader_cpu);
	return 0;
}
