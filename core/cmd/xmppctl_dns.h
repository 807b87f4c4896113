/* xmppctl check: the SRV records other servers will find for each hosted
 * domain (core/cmd/xmppctl_dns.c). */
#ifndef XMPPD_XMPPCTL_DNS_H
#define XMPPD_XMPPCTL_DNS_H

#include <stdbool.h>

#include "core/conf/cfg.h"

/* Prints what DNS says for each [host]; a missing or failing lookup adds
 * to *warnings. */
void xmppctl_check_dns(const struct cfg *cfg, int *problems, int *warnings);

#endif
