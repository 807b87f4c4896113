/* The TLS filter (mux/xfilter.h): one tls_sess over memory buffers
 * (tls/tls.h).  Ciphertext from below is fed in and the plaintext it
 * yields goes up; plaintext from above is encrypted into the session's
 * output, which the filter below (or the socket) takes. */
#include "mux/mux_int.h"

#include "core/base/log.h"
#include "tls/tls.h"

#define TLS_READ_CHUNK 16384

static struct tls_sess *sess_of(const struct mux_conn *c, unsigned i)
{
	return c->chain.ctx[i];
}

static void tls_recv(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	struct tls_sess *t = sess_of(c, i);
	if (len && tls_sess_feed(t, data, len) != XS_OK) {
		conn_close(c, "TLS input failed");
		return;
	}
	char buf[TLS_READ_CHUNK];
	/* the filter may go (the connection closed) or another be put above
	 * it (STARTTLS inside TLS) while its plaintext is being handed up */
	while (!c->dead && i < c->chain.n && c->chain.ctx[i] == t) {
		size_t nr = 0;
		enum xs st = tls_sess_read(t, buf, sizeof(buf), &nr);
		xchain_move_down(c);
		if (!(c->chain.logged & (1u << i)) && tls_sess_handshake_done(t)) {
			c->chain.logged |= (uint8_t)(1u << i);
			if (tls_sess_version(t) == 12 || tls_sess_version(t) == 13)
				c->mux->n_tls[tls_sess_version(t) == 13]++;
			const char *sni = tls_sess_sni(t);
			const char *alpn = tls_sess_alpn(t);
			LOG_INFO("c%u.%llu: TLS 1.%d established (layer %u, sni=%s, alpn=%s)",
				 c->mux->idx, (unsigned long long)c->id, tls_sess_version(t) - 10, i - 1,
				 sni ? sni : "-", alpn ? alpn : "-");
			if (c->role->on_tls_ready) {
				c->role->on_tls_ready(c);
				if (c->dead || c->closing)
					break;
			}
		}
		if (st == XS_OK && nr) {
			xchain_up(c, i + 1, buf, nr);
			continue;
		}
		if (st == XS_OK)
			continue;
		if (st == XS_AGAIN)
			break;
		if (st == XS_EOF) {
			conn_close(c, "TLS close_notify");
			return;
		}
		LOG_INFO("c%u.%llu: TLS failure from %s: %s", c->mux->idx, (unsigned long long)c->id,
			 c->peer, tls_sess_error(t));
		/* any alert wolfSSL queued goes out before we close */
		conn_close_after_flush(c, "TLS failure");
		break;
	}
	if (!c->dead)
		conn_flush(c);
}

static bool tls_send(struct mux_conn *c, unsigned i, const char *data, size_t len)
{
	struct tls_sess *t = sess_of(c, i);
	size_t off = 0;
	while (off < len) {
		size_t wn = 0;
		if (tls_sess_write(t, data + off, len - off, &wn) != XS_OK || !wn) {
			conn_close(c, "TLS write failed");
			return false;
		}
		off += wn;
	}
	return true;
}

static const void *tls_pending(const struct mux_conn *c, unsigned i, size_t *len)
{
	return tls_sess_out_peek(sess_of(c, i), len);
}

static void tls_consume(struct mux_conn *c, unsigned i, size_t n)
{
	tls_sess_out_consume(sess_of(c, i), n);
}

static bool tls_idle(const struct mux_conn *c, unsigned i)
{
	const struct tls_sess *t = sess_of(c, i);
	return !tls_sess_has_pending(t) && !tls_sess_out_pending(t);
}

static enum xs tls_sleep(struct mux_conn *c, unsigned i)
{
	enum xs st = tls_sess_sleep(sess_of(c, i));
	/* XS_INVAL: this wolfSSL build cannot export sessions; the layer
	 * stays awake and the others sleep */
	return st == XS_INVAL ? XS_OK : st;
}

static size_t tls_mem(const struct mux_conn *c, unsigned i)
{
	return tls_sess_mem_usage(sess_of(c, i));
}

static void tls_free(struct mux_conn *c, unsigned i)
{
	tls_sess_free(sess_of(c, i));
	c->chain.ctx[i] = NULL;
}

const struct xfilter_ops xf_tls_ops = {
	.name = "tls",
	.recv = tls_recv,
	.send = tls_send,
	.pending = tls_pending,
	.consume = tls_consume,
	.idle = tls_idle,
	.sleep = tls_sleep,
	.mem = tls_mem,
	.free = tls_free,
};

unsigned conn_tls_count(const struct mux_conn *c)
{
	unsigned k = 0;
	for (unsigned i = 1; i < c->chain.n; i++)
		k += c->chain.type[i] == XF_TLS;
	return k;
}

struct tls_sess *conn_tls_layer(const struct mux_conn *c, unsigned k)
{
	for (unsigned i = 1; i < c->chain.n; i++)
		if (c->chain.type[i] == XF_TLS && k-- == 0)
			return c->chain.ctx[i];
	return NULL;
}

struct tls_sess *conn_tls_top(const struct mux_conn *c)
{
	for (unsigned i = c->chain.n; i-- > 1;)
		if (c->chain.type[i] == XF_TLS)
			return c->chain.ctx[i];
	return NULL;
}
