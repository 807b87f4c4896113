/* Helpers the IM modules share for storage requests about one account. */
#ifndef XMPPD_IM_ACCOUNT_H
#define XMPPD_IM_ACCOUNT_H

#include <stdbool.h>

struct store_req;

/* "local@domain" into req->local and req->domain; false when it has no
 * localpart (the server's own JID has no account) or does not fit. */
bool im_split_account(struct store_req *req, const char *bare);

#endif
