/* RFC 2782's ordering of SRV records, over both XMPP server services
 * (XEP-0368); see srv_order.h. */
#include "s2s/srv_order.h"

#include <string.h>

static bool is_target(const struct srv_record *r)
{
	return r->target[0] && strcmp(r->target, ".") != 0;
}

enum srv_outcome srv_order(const struct srv_record *recs, size_t n, srv_random_fn rnd,
			   void *rnd_arg, struct srv_target *out, size_t max, size_t *n_out)
{
	*n_out = 0;
	if (n == 0)
		return SRV_FALLBACK;
	size_t idx[S2S_MAX_TARGETS], m = 0;
	for (size_t i = 0; i < n && m < S2S_MAX_TARGETS; i++)
		if (is_target(&recs[i]))
			idx[m++] = i;
	if (m == 0)
		return SRV_NO_SERVICE;
	bool used[S2S_MAX_TARGETS] = { false };
	while (*n_out < max && *n_out < m) {
		/* the lowest priority not yet ordered */
		uint16_t prio = UINT16_MAX;
		for (size_t k = 0; k < m; k++)
			if (!used[k] && recs[idx[k]].priority <= prio)
				prio = recs[idx[k]].priority;
		/* its records, those of weight 0 first (RFC 2782: so that a
		 * draw of 0 may pick them, and nothing else can) */
		size_t group[S2S_MAX_TARGETS], g = 0;
		uint32_t sum = 0;
		for (int zero = 1; zero >= 0; zero--)
			for (size_t k = 0; k < m; k++) {
				const struct srv_record *r = &recs[idx[k]];
				if (!used[k] && r->priority == prio && (r->weight == 0) == (zero == 1)) {
					group[g++] = k;
					sum += r->weight;
				}
			}
		/* one choice per round: the first whose running sum reaches a
		 * uniform draw in [0, sum] */
		uint32_t draw = sum ? rnd(rnd_arg, sum) : 0;
		uint32_t running = 0;
		size_t pick = group[g - 1];
		for (size_t j = 0; j < g; j++) {
			running += recs[idx[group[j]]].weight;
			if (running >= draw) {
				pick = group[j];
				break;
			}
		}
		used[pick] = true;
		const struct srv_record *r = &recs[idx[pick]];
		struct srv_target *t = &out[(*n_out)++];
		memcpy(t->host, r->target, sizeof(t->host));
		t->port = r->port;
		t->direct_tls = r->direct_tls;
	}
	return SRV_TARGETS;
}
