/* CIDR networks; see cidr.h. */
#include "core/base/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static bool bits_match(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

const char *cidr_parse(const char *s, struct cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(addr))
		return "not an address or network";
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(out, 0, sizeof(*out));
	unsigned max;
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return "not a numeric IPv4 or IPv6 address or network (ADDRESS/BITS)";
	}
	out->prefix = max;
	if (slash) {
		char *end;
		const char *p = slash + 1;
		if (*p < '0' || *p > '9')
			return "the prefix length after '/' is not a number";
		unsigned long n = strtoul(p, &end, 10);
		if (*end != '\0' || n > max)
			return max == 32 ? "the prefix length is not 0..32"
					 : "the prefix length is not 0..128";
		out->prefix = (unsigned)n;
	}
	for (unsigned bit = out->prefix; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
			return "bits are set past the prefix length (write the network's "
			       "first address)";
		}
	return NULL;
}

bool cidr_contains(const struct cidr *net, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		return net->family == AF_INET &&
		       bits_match(net->addr, (const unsigned char *)&s4->sin_addr, net->prefix);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return net->family == AF_INET &&
		       bits_match(net->addr, &s6->sin6_addr.s6_addr[12], net->prefix);
	return net->family == AF_INET6 && bits_match(net->addr, s6->sin6_addr.s6_addr, net->prefix);
}
