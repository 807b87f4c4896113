/* The log-linear latency histogram; see hist.h for the bucket layout and
 * the precision it buys.
 *
 * Bucket index for v >= 128: with k = floor(log2 v), the top HIST_SUB_BITS+1
 * bits of v (v >> (k - 7), in [128, 256)) pick one of 128 sub-buckets in
 * octave k, and the octaves follow the 128 exact buckets of [0, 128).  This
 * is the same mapping HdrHistogram uses with two significant digits' worth
 * of sub-buckets, without its configurable generality. */
#include "bench/xmppload/hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t hist_bucket_of(uint64_t v)
{
	unsigned k, shift;

	if (v < HIST_SUB_COUNT)
		return (size_t)v;
	k = 63u - (unsigned)__builtin_clzll(v);
	shift = k - HIST_SUB_BITS;
	return (size_t)(shift + 1) * HIST_SUB_COUNT + (size_t)((v >> shift) - HIST_SUB_COUNT);
}

uint64_t hist_bucket_low(size_t b)
{
	size_t shift;

	if (b < HIST_SUB_COUNT)
		return b;
	shift = b / HIST_SUB_COUNT - 1;
	return (uint64_t)(HIST_SUB_COUNT + b % HIST_SUB_COUNT) << shift;
}

uint64_t hist_bucket_high(size_t b)
{
	size_t shift;

	if (b < HIST_SUB_COUNT)
		return b;
	shift = b / HIST_SUB_COUNT - 1;
	return hist_bucket_low(b) + ((uint64_t)1 << shift) - 1;
}

void hist_record(struct hist *h, uint64_t ns)
{
	if (ns < HIST_MIN_NS) {
		ns = HIST_MIN_NS;
		h->underflow++;
	} else if (ns > HIST_MAX_NS) {
		ns = HIST_MAX_NS;
		h->overflow++;
	}
	h->buckets[hist_bucket_of(ns)]++;
	h->count++;
	h->sum += (double)ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (size_t i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->underflow += src->underflow;
	dst->overflow += src->overflow;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0, mid;

	if (h->count == 0)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	/* The rank of the wanted sample, 1-based, rounded up: p99 of 1000
	 * samples is the 990th. */
	rank = (uint64_t)(p / 100.0 * (double)h->count);
	if ((double)rank < p / 100.0 * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (size_t b = 0; b < HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen < rank)
			continue;
		mid = hist_bucket_low(b) + (hist_bucket_high(b) - hist_bucket_low(b)) / 2;
		/* The extreme buckets hold the true min/max: no need to guess. */
		if (mid < h->min)
			mid = h->min;
		if (mid > h->max)
			mid = h->max;
		return mid;
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}
