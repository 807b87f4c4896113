/* WebSocket handshake and framing for xmppload; see ws.h. */
#include "bench/xmppload/ws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha.h>

#include "core/base/base64.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

size_t ws_request(char *out, size_t cap, const char *host, const char *path, uint64_t r1,
		  uint64_t r2, char *key)
{
	uint8_t raw[16];
	int n;

	memcpy(raw, &r1, 8);
	memcpy(raw + 8, &r2, 8);
	if (base64_encode(raw, sizeof(raw), key, WS_KEY_LEN + 1, NULL) != XS_OK)
		return 0;
	n = snprintf(out, cap,
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		     "Sec-WebSocket-Protocol: xmpp\r\n\r\n",
		     path, host, key);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t ws_response_end(const char *buf, size_t len)
{
	const char *e = memmem(buf, len, "\r\n\r\n", 4);

	return e ? (size_t)(e - buf) + 4 : 0;
}

/* The value of header name in head (case-insensitive name), trimmed. */
static bool header(const char *head, size_t len, const char *name, const char **v, size_t *vl)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', len), *end = head + len;

	while (p && p + 1 < end) {
		const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));

		if (!eol)
			break;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			const char *s = line + nl + 1, *e = eol;

			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
				e--;
			*v = s;
			*vl = (size_t)(e - s);
			return true;
		}
		p = eol;
	}
	return false;
}

const char *ws_response_check(const char *head, size_t len, const char *key)
{
	char cat[WS_KEY_LEN + sizeof(ws_guid)], want[32];
	uint8_t dig[WC_SHA_DIGEST_SIZE];
	wc_Sha sha;
	const char *v;
	size_t vl;

	if (len < 12 || memcmp(head, "HTTP/1.1 101", 12) != 0)
		return "WebSocket upgrade refused (no 101)";
	if (!header(head, len, "Upgrade", &v, &vl) || vl != 9 || strncasecmp(v, "websocket", 9))
		return "WebSocket upgrade: no Upgrade: websocket";
	if (!header(head, len, "Sec-WebSocket-Protocol", &v, &vl) || vl != 4 || memcmp(v, "xmpp", 4))
		return "WebSocket upgrade: subprotocol xmpp not accepted";
	memcpy(cat, key, WS_KEY_LEN);
	memcpy(cat + WS_KEY_LEN, ws_guid, sizeof(ws_guid) - 1);
	if (wc_InitSha(&sha) != 0 || wc_ShaUpdate(&sha, (const byte *)cat, sizeof(cat) - 1) != 0 ||
	    wc_ShaFinal(&sha, dig) != 0)
		return "SHA-1 failed";
	wc_ShaFree(&sha);
	if (base64_encode(dig, sizeof(dig), want, sizeof(want), NULL) != XS_OK)
		return "base64 failed";
	if (!header(head, len, "Sec-WebSocket-Accept", &v, &vl) || vl != strlen(want) ||
	    memcmp(v, want, vl))
		return "WebSocket upgrade: wrong Sec-WebSocket-Accept";
	return NULL;
}

size_t ws_frame(uint8_t *out, enum ws_op op, const void *p, size_t n, uint32_t mask)
{
	const uint8_t *src = p;
	uint8_t *dst;
	uint64_t m8;
	size_t h, i = 0;

	out[0] = (uint8_t)(0x80 | op);
	if (n < 126) {
		out[1] = (uint8_t)(0x80 | n);
		h = 2;
	} else if (n <= 0xffff) {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(n >> 8);
		out[3] = (uint8_t)n;
		h = 4;
	} else {
		out[1] = 0x80 | 127;
		for (int k = 0; k < 8; k++)
			out[2 + k] = (uint8_t)((uint64_t)n >> (56 - 8 * k));
		h = 10;
	}
	memcpy(out + h, &mask, 4);
	dst = out + h + 4;
	/* The mask repeats every 4 bytes from the payload's start: eight at a
	 * time with the key doubled, then the tail byte by byte. */
	m8 = (uint64_t)mask | ((uint64_t)mask << 32);
	for (; i + 8 <= n; i += 8) {
		uint64_t x;

		memcpy(&x, src + i, 8);
		x ^= m8;
		memcpy(dst + i, &x, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ out[h + (i & 3)];
	return h + 4 + n;
}

/* Header length that the first two bytes announce. */
static size_t hdr_need(const uint8_t *h)
{
	uint8_t l = h[1] & 0x7f;

	return 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
}

enum ws_ev ws_rx_feed(struct ws_rx *rx, const uint8_t **in, const uint8_t *end,
		      struct xbuf *text)
{
	const uint8_t *p = *in;

	while (p < end) {
		if (!rx->in_payload) {
			/* Collect the header; most arrive whole, but a record
			 * boundary may split one anywhere. */
			while (p < end && (rx->hlen < 2 || rx->hlen < hdr_need(rx->hdr))) {
				if (rx->hlen >= sizeof(rx->hdr))
					goto bad; /* masked server frame: 14 bytes */
				rx->hdr[rx->hlen++] = *p++;
			}
			if (rx->hlen < 2 || rx->hlen < hdr_need(rx->hdr))
				break;
			const uint8_t *h = rx->hdr;
			uint8_t l = h[1] & 0x7f;

			if ((h[0] & 0x70) || (h[1] & 0x80))
				goto bad; /* reserved bits, or a masked server frame */
			rx->op = h[0] & 0x0f;
			if (l == 126) {
				rx->left = (uint64_t)h[2] << 8 | h[3];
			} else if (l == 127) {
				rx->left = 0;
				for (int k = 0; k < 8; k++)
					rx->left = rx->left << 8 | h[2 + k];
			} else {
				rx->left = l;
			}
			if (rx->op >= 8 && (rx->left > 125 || !(h[0] & 0x80)))
				goto bad;
			rx->hlen = 0;
			rx->ctl_len = 0;
			rx->in_payload = true;
		}
		size_t take = (size_t)(end - p) < rx->left ? (size_t)(end - p) : (size_t)rx->left;

		if (rx->op < 8) {
			if (take && xbuf_append(text, p, take) != XS_OK)
				goto bad;
		} else {
			memcpy(rx->ctl + rx->ctl_len, p, take);
			rx->ctl_len = (uint8_t)(rx->ctl_len + take);
		}
		p += take;
		rx->left -= take;
		if (rx->left)
			break;
		rx->in_payload = false;
		if (rx->op == WS_PING) {
			*in = p;
			return WS_EV_PING;
		}
		if (rx->op == WS_CLOSE) {
			*in = p;
			return WS_EV_CLOSE;
		}
	}
	*in = p;
	return WS_EV_MORE;
bad:
	*in = p;
	return WS_EV_ERROR;
}
