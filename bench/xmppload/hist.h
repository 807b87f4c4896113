/* A latency histogram with log-linear buckets, in the spirit of HdrHistogram.
 *
 * The load generator records one value per delivered message or login, from
 * several threads at up to tens of thousands per second, and then wants
 * p50/p99/p99.9 over all of them.  Keeping every sample would cost memory in
 * proportion to the run; a fixed bucket array costs 30 KiB per thread, makes
 * recording a couple of shifts and an increment, and lets threads merge by
 * adding counts.
 *
 * Values are nanoseconds.  Below 128 ns every value has its own bucket; above,
 * each power of two is split into 128 equal buckets, so a bucket is at most
 * 1/128 (0.8 %) of its lower bound wide and the midpoint we report is within
 * 0.4 % of any value in it.  The tracked range is HIST_MIN_NS (1 µs) to
 * HIST_MAX_NS (60 s): values outside it are clamped to the nearest end and
 * counted in underflow/overflow, so they still move the percentiles the right
 * way and the reader can see that they happened.
 *
 * A histogram belongs to one thread while recording; merging happens after
 * the threads have stopped. */
#ifndef XMPPLOAD_HIST_H
#define XMPPLOAD_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_MIN_NS 1000ull              /* 1 µs */
#define HIST_MAX_NS 60000000000ull       /* 60 s */
#define HIST_SUB_BITS 7                  /* 128 buckets per power of two */
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
/* 60 s < 2^36 ns: the exact buckets [0, 128) plus 29 octaves [2^7, 2^36). */
#define HIST_MAX_OCTAVE 36
#define HIST_BUCKETS ((HIST_MAX_OCTAVE - HIST_SUB_BITS + 1) * HIST_SUB_COUNT)

struct hist {
	uint64_t count;     /* all recorded values, clamped ones included */
	uint64_t underflow; /* values below HIST_MIN_NS */
	uint64_t overflow;  /* values above HIST_MAX_NS */
	uint64_t min, max;  /* after clamping; min is UINT64_MAX when empty */
	double sum;         /* of clamped values, for the mean */
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
/* dst += src; both must be initialised. */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at percentile p (0..100]: the midpoint of the bucket holding the
 * ceil(p% * count)-th smallest value, kept within [min, max].  0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

/* Bucket arithmetic, exposed for the unit test. */
size_t hist_bucket_of(uint64_t ns);
uint64_t hist_bucket_low(size_t b);  /* smallest value in bucket b */
uint64_t hist_bucket_high(size_t b); /* largest value in bucket b */

#endif
