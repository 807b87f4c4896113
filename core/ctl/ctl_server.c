/* The control socket's thread (see ctl_server.h).
 *
 * A connection goes READ (one line) -> WAIT (the owner of what it asks
 * about answers through our inbox) -> WRITE (the answer) -> closed, each
 * step with a deadline.  Answers are matched by a token per request, so
 * one that comes after its connection gave up is dropped. */
#include "core/ctl/ctl_server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/queue.h"
#include "core/base/xbuf.h"
#include "core/conf/cfg.h"
#include "core/ctl/ctl_socket.h"
#include "core/route/ctl_cmd.h"
#include "core/route/msg.h"

enum client_state { C_FREE, C_READ, C_WAIT, C_WRITE };

struct client {
	int fd;
	enum client_state state;
	uint64_t deadline_ms;
	int token;              /* of the request in WAIT */
	unsigned waiting;       /* answers still to come */
	bool sessions;          /* the answers are lines to sort, after "ok" */
	size_t in_len;
	char in[CTL_LINE_MAX];
	struct xbuf out;        /* the answer (WRITE), or the lines so far (WAIT) */
	size_t out_off;
};

struct ctl_server {
	const struct cfg *cfg;
	int lfd;
	dev_t dev;
	ino_t ino;
	struct queue inbox;
	struct queue *router;
	struct queue *const *mux;
	unsigned n_mux;
	pthread_t thread;
	bool started;
	atomic_bool stop;       /* set by ctl_server_stop, which then wakes the thread */
	int next_token;
	struct client cl[CTL_MAX_CLIENTS];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ctl_server *ctl_server_open(const struct cfg *cfg, char *err, size_t errlen)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = cfg;
	atomic_init(&s->stop, false);
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++)
		s->cl[i].fd = -1;
	s->inbox.efd = -1;
	if (queue_init(&s->inbox) != 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		free(s);
		return NULL;
	}
	char why[900];
	s->lfd = ctl_socket_listen(cfg->ctl_socket, &s->dev, &s->ino, why, sizeof(why));
	if (s->lfd < 0) {
		char where[700];
		cfg_where(cfg, cfg->ctl_socket_line, "[admin]", "socket", where, sizeof(where));
		snprintf(err, errlen, "%s%s: %s", where, cfg->ctl_socket_line ? "" : " (default)", why);
		queue_deinit(&s->inbox);
		free(s);
		return NULL;
	}
	return s;
}

/* ---- connections ---- */

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = C_FREE;
	c->in_len = 0;
	xbuf_free(&c->out);
	c->out_off = 0;
}

/* The answer text (its own first line "ok" or "error: ..."). */
static void start_write(struct client *c, const char *text)
{
	xbuf_free(&c->out);
	c->out_off = 0;
	if (xbuf_append_str(&c->out, text) != XS_OK) {
		client_close(c);
		return;
	}
	c->state = C_WRITE;
	c->deadline_ms = now_ms() + CTL_WRITE_TIMEOUT_MS;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every mux thread has answered: the lines sorted (by JID), after "ok". */
static void finish_sessions(struct client *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->out.len; i++)
		n += c->out.data[i] == '\n';
	char **lines = calloc(n + 1, sizeof(*lines));
	struct xbuf text = { 0 };
	enum xs st = lines ? xbuf_append_str(&text, "ok\n") : XS_NOMEM;
	size_t k = 0;
	for (char *p = c->out.data; st == XS_OK && p && *p && k < n; k++) {
		lines[k] = p;
		p = strchr(p, '\n');
		*p++ = '\0';
	}
	if (k > 1)
		qsort(lines, k, sizeof(*lines), cmp_line);
	for (size_t i = 0; i < k && st == XS_OK; i++)
		st = xbuf_appendf(&text, "%s\n", lines[i]);
	free(lines);
	start_write(c, st == XS_OK ? text.data : "error: out of memory\n");
	xbuf_free(&text);
}

static void dispatch(struct ctl_server *s, struct client *c, const char *line)
{
	struct ctl_cmd cmd;
	char err[600], out[700];
	if (!ctl_parse(s->cfg, line, &cmd, err, sizeof(err))) {
		snprintf(out, sizeof(out), "error: %s\n", err);
		start_write(c, out);
		return;
	}
	LOG_INFO("control: %s", line);
	c->token = ++s->next_token;
	c->waiting = 0;
	/* both are answered by every mux thread, for its own connections */
	c->sessions = cmd.op == CTL_SESSIONS || cmd.op == CTL_S2S;
	xbuf_free(&c->out);
	if (c->sessions) {
		for (unsigned i = 0; i < s->n_mux; i++) {
			struct msg *m = msg_new(MSG_CTL_SESSIONS, cmd.op == CTL_S2S ? "s2s" : NULL);
			if (!m)
				break;
			m->ptr = &s->inbox;
			m->status = c->token;
			queue_push(s->mux[i], &m->qnode);
			c->waiting++;
		}
	} else {
		struct msg *m = msg_new(MSG_CTL, line);
		if (m) {
			m->ptr = &s->inbox;
			m->status = c->token;
			queue_push(s->router, &m->qnode);
			c->waiting = 1;
		}
	}
	if (c->sessions && c->waiting < s->n_mux) {
		/* answers to the few asked are dropped by their token */
		c->token = ++s->next_token;
		c->waiting = 0;
	}
	if (!c->waiting) {
		start_write(c, "error: out of memory\n");
		return;
	}
	c->state = C_WAIT;
	c->deadline_ms = now_ms() + CTL_ANSWER_TIMEOUT_MS;
}

static void on_reply(struct ctl_server *s, struct msg *m)
{
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct client *c = &s->cl[i];
		if (c->state != C_WAIT || c->token != m->status)
			continue;
		if (!c->sessions) {
			start_write(c, m->data);
			return;
		}
		if (xbuf_append_str(&c->out, m->data) != XS_OK) {
			start_write(c, "error: out of memory\n");
			return;
		}
		if (--c->waiting == 0)
			finish_sessions(c);
		return;
	}
	/* its connection timed out or went away */
}

static void on_readable(struct ctl_server *s, struct client *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c); /* gone before a whole line */
		return;
	}
	char *nl = memchr(c->in + c->in_len, '\n', (size_t)n);
	c->in_len += (size_t)n;
	if (!nl) {
		if (c->in_len == sizeof(c->in))
			start_write(c, "error: command longer than 4096 bytes\n");
		return;
	}
	size_t len = (size_t)(nl - c->in);
	/* a NUL inside the line would cut it short unseen */
	if (memchr(c->in, '\0', len)) {
		start_write(c, "error: NUL byte in the command\n");
		return;
	}
	*nl = '\0';
	if (len && c->in[len - 1] == '\r')
		c->in[len - 1] = '\0';
	dispatch(s, c, c->in);
}

static void on_writable(struct client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			break;
		c->out_off += (size_t)n;
	}
	client_close(c);
}

static void on_accept(struct ctl_server *s)
{
	for (int k = 0; k < 8; k++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				LOG_WARN("control: accept: %s", strerror(errno));
			return;
		}
		unsigned uid = 0;
		if (!ctl_socket_peer_ok(fd, &uid)) {
			/* the file's mode keeps them out; this is the second lock */
			LOG_WARN("control: connection from uid %u refused (not xmppd's user)", uid);
			close(fd);
			continue;
		}
		struct client *c = NULL;
		for (size_t i = 0; i < CTL_MAX_CLIENTS && !c; i++)
			if (s->cl[i].state == C_FREE)
				c = &s->cl[i];
		if (!c) {
			static const char busy[] = "error: too many control connections, try again\n";
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				LOG_DEBUG("control: busy: %s", strerror(errno));
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = C_READ;
		c->in_len = 0;
		c->deadline_ms = now_ms() + CTL_READ_TIMEOUT_MS;
	}
}

static void on_timeouts(struct ctl_server *s)
{
	uint64_t now = now_ms();
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct client *c = &s->cl[i];
		if (c->state == C_FREE || now < c->deadline_ms)
			continue;
		if (c->state == C_READ)
			start_write(c, "error: no command line within 5 seconds\n");
		else if (c->state == C_WAIT)
			start_write(c, "error: the server did not answer within 10 seconds\n");
		else
			client_close(c);
	}
}

static void drain_inbox(struct ctl_server *s)
{
	struct queue_node *n;
	queue_ack_wakeup(&s->inbox);
	while ((n = queue_pop(&s->inbox))) {
		struct msg *m = container_of(n, struct msg, qnode);
		if (m->type == MSG_CTL_REPLY)
			on_reply(s, m);
		msg_free(m);
	}
}

static void *ctl_main(void *arg)
{
	struct ctl_server *s = arg;
	log_set_thread_name("ctl");
	struct pollfd pfd[2 + CTL_MAX_CLIENTS];
	struct client *who[2 + CTL_MAX_CLIENTS];
	while (!atomic_load(&s->stop)) {
		nfds_t n = 0;
		pfd[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = s->inbox.efd, .events = POLLIN };
		uint64_t next = UINT64_MAX;
		for (size_t i = 0; i < CTL_MAX_CLIENTS; i++) {
			struct client *c = &s->cl[i];
			if (c->state == C_FREE)
				continue;
			if (c->deadline_ms < next)
				next = c->deadline_ms;
			if (c->state == C_WAIT)
				continue;
			who[n] = c;
			pfd[n++] = (struct pollfd){
				.fd = c->fd, .events = c->state == C_READ ? POLLIN : POLLOUT,
			};
		}
		uint64_t now = now_ms();
		int timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now + 1);
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			LOG_ERR("control: poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents)
			drain_inbox(s);
		for (nfds_t i = 2; i < n; i++) {
			if (!pfd[i].revents || who[i]->fd != pfd[i].fd)
				continue;
			if (who[i]->state == C_READ)
				on_readable(s, who[i]);
			else if (who[i]->state == C_WRITE)
				on_writable(who[i]);
		}
		/* a line read above may have been answered at once (an error):
		 * written on the next turn */
		if (pfd[0].revents)
			on_accept(s);
		on_timeouts(s);
	}
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++)
		if (s->cl[i].state != C_FREE)
			client_close(&s->cl[i]);
	return NULL;
}

int ctl_server_start(struct ctl_server *s, struct queue *router_inbox,
		     struct queue *const *mux_inboxes, unsigned n_mux)
{
	s->router = router_inbox;
	s->mux = mux_inboxes;
	s->n_mux = n_mux;
	if (pthread_create(&s->thread, NULL, ctl_main, s) != 0)
		return -1;
	s->started = true;
	LOG_INFO("control socket %s (mode 0600)", s->cfg->ctl_socket);
	return 0;
}

void ctl_server_stop(struct ctl_server *s)
{
	if (!s || !s->started)
		return;
	atomic_store(&s->stop, true);
	queue_signal(&s->inbox);
	pthread_join(s->thread, NULL);
	s->started = false;
	close(s->lfd);
	s->lfd = -1;
	ctl_socket_unlink(s->cfg->ctl_socket, s->dev, s->ino);
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	if (s->started)
		ctl_server_stop(s);
	if (s->lfd >= 0) {
		close(s->lfd);
		ctl_socket_unlink(s->cfg->ctl_socket, s->dev, s->ino);
	}
	struct queue_node *n;
	while ((n = queue_pop(&s->inbox)))
		msg_free(container_of(n, struct msg, qnode));
	queue_deinit(&s->inbox);
	free(s);
}
