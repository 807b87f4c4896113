/* The socket filter (mux/xfilter.h): filter 0 of every chain.  It holds
 * what the kernel has not taken yet, and output written before the first
 * TLS filter began (a <proceed/> goes out ahead of the TLS handshake). */
#include "mux/mux_int.h"

static bool sock_send(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	(void)i;
	if (xbuf_append(&c->chain.sock_out, data, len) != XS_OK) {
		conn_close(c, "out of memory");
		return false;
	}
	return true;
}

static const void *sock_pending(const struct mux_conn *c, unsigned i, size_t *len)
{
	(void)i;
	*len = c->chain.sock_out.len;
	return c->chain.sock_out.data;
}

static void sock_consume(struct mux_conn *c, unsigned i, size_t n)
{
	(void)i;
	xbuf_consume(&c->chain.sock_out, n);
}

static bool sock_idle(const struct mux_conn *c, unsigned i)
{
	(void)i;
	return c->chain.sock_out.len == 0;
}

static enum xs sock_sleep(struct mux_conn *c, unsigned i)
{
	(void)c;
	(void)i;
	return XS_OK; /* an empty xbuf holds no memory (xbuf_consume frees it) */
}

static size_t sock_mem(const struct mux_conn *c, unsigned i)
{
	(void)i;
	return c->chain.sock_out.cap;
}

static void sock_free(struct mux_conn *c, unsigned i)
{
	(void)i;
	xbuf_free(&c->chain.sock_out);
}

const struct xfilter_ops xf_socket_ops = {
	.name = "socket",
	.recv = NULL,
	.send = sock_send,
	.pending = sock_pending,
	.consume = sock_consume,
	.idle = sock_idle,
	.sleep = sock_sleep,
	.mem = sock_mem,
	.free = sock_free,
};
