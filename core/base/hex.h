/* Lower-case hexadecimal of bytes: stream ids, XEP-0198 resumption ids,
 * dialback keys.  A loop, not sixteen snprintf("%02x") calls: a login
 * writes three stream ids (~14,000 instructions each the other way). */
#ifndef XMPPD_HEX_H
#define XMPPD_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2n digits and a NUL into out. */
static inline void hex_lower(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

#endif
