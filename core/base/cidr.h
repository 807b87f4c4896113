/* Networks written as CIDR ("192.0.2.0/24", "2001:db8::/32", or one
 * address, which means all its bits), and whether an address is in one.
 * Used for [limits] exempt_networks: addresses the per-address connection
 * limits do not apply to (a reverse proxy, a web gateway, an office NAT
 * the administrator trusts). */
#ifndef XMPPD_CIDR_H
#define XMPPD_CIDR_H

#include <stdbool.h>

struct sockaddr; /* not <sys/socket.h>: cfg.h includes this header, and
		  * its users' own names (bind, listen) must not clash */

struct cidr {
	int family;               /* AF_INET or AF_INET6 */
	unsigned prefix;          /* 0..32 or 0..128 */
	unsigned char addr[16];   /* network byte order; bits past prefix zero */
};

/* Parses s; NULL on success, else why not (for a config message).  Bits
 * set past the prefix ("192.0.2.1/24") are an error: they usually mean a
 * typo, and silently widening or narrowing the network would be worse. */
const char *cidr_parse(const char *s, struct cidr *out);

/* Whether sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as
 * the IPv4 address) is in net. */
bool cidr_contains(const struct cidr *net, const struct sockaddr *sa);

#endif
