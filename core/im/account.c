/* See account.h. */
#include "core/im/account.h"

#include <string.h>

#include "core/store/store_thread.h"

bool im_split_account(struct store_req *req, const char *bare)
{
	const char *at = strchr(bare, '@');
	if (!at || at == bare)
		return false;
	size_t ll = (size_t)(at - bare), dl = strlen(at + 1);
	if (ll >= sizeof(req->local) || dl == 0 || dl >= sizeof(req->domain))
		return false;
	memcpy(req->local, bare, ll);
	req->local[ll] = '\0';
	memcpy(req->domain, at + 1, dl + 1);
	return true;
}
