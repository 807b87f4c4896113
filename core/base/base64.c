/* Strict base64; see base64.h.
 *
 * Written here rather than wrapping wolfCrypt's Base64_Decode, which skips
 * line breaks and blanks and so cannot give RFC 6120's <incorrect-encoding/>
 * for them; the encoder is a dozen lines and keeps the pair symmetrical. */
#include "core/base/base64.h"

#include <stdbool.h>
#include <stdint.h>

static const char base64__alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum xs base64_encode(const void *in, size_t len, char *out, size_t cap, size_t *out_len)
{
	const uint8_t *p = in;
	size_t n = base64_encoded_len(len);
	char *w = out;

	if (cap < n + 1 || n < len) {
		if (cap > 0)
			out[0] = '\0';
		return XS_LIMIT;
	}
	for (; len >= 3; p += 3, len -= 3) {
		uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];

		*w++ = base64__alphabet[v >> 18];
		*w++ = base64__alphabet[(v >> 12) & 63];
		*w++ = base64__alphabet[(v >> 6) & 63];
		*w++ = base64__alphabet[v & 63];
	}
	if (len) {
		uint32_t v = (uint32_t)p[0] << 16 | (len == 2 ? (uint32_t)p[1] << 8 : 0);

		*w++ = base64__alphabet[v >> 18];
		*w++ = base64__alphabet[(v >> 12) & 63];
		*w++ = len == 2 ? base64__alphabet[(v >> 6) & 63] : '=';
		*w++ = '=';
	}
	*w = '\0';
	if (out_len)
		*out_len = n;
	return XS_OK;
}

static int base64__value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

enum xs base64_decode(const char *in, size_t len, void *out, size_t cap, size_t *out_len)
{
	uint8_t *w = out;
	size_t pad = 0, n;

	/* RFC 6120 §6.4.2: "=" is the zero-length response. */
	if (len == 0 || (len == 1 && in[0] == '=')) {
		if (out_len)
			*out_len = 0;
		return XS_OK;
	}
	if (len % 4 != 0)
		return XS_PROTO;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	n = len / 4 * 3 - pad;
	if (n > cap)
		return XS_LIMIT;

	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		size_t real = last ? 4 - pad : 4;
		uint32_t v = 0;

		for (size_t k = 0; k < 4; k++) {
			int d = k < real ? base64__value((unsigned char)in[i + k]) : 0;

			if (d < 0)
				return XS_PROTO;  /* includes '=' in the middle */
			v = v << 6 | (uint32_t)d;
		}
		/* Unused bits of the last quantum must be zero, else "QQ=="
		 * and "QR==" would both decode to "A". */
		if (last && pad == 2 && (v & 0xffff))
			return XS_PROTO;
		if (last && pad == 1 && (v & 0xff))
			return XS_PROTO;
		*w++ = (uint8_t)(v >> 16);
		if (real > 2)
			*w++ = (uint8_t)(v >> 8);
		if (real > 3)
			*w++ = (uint8_t)v;
	}
	if (out_len)
		*out_len = n;
	return XS_OK;
}
