/* The allocator seam.
 *
 * Why it exists: most sessions of an IM server are idle, and an idle
 * session's memory has to go back to the kernel when its parser and TLS
 * object are freed (DESIGN.md, "Memory per connection").  With glibc malloc
 * it mostly does not: the few hundred bytes each session keeps (connection
 * record, exported TLS state, stream header) sit between the freed parser
 * and TLS chunks, so nearly every page stays resident (8.6 KiB per sleeping
 * session at 5,000 sessions, against 2.3 KB actually in use, even after
 * malloc_trim).  xmppd therefore links jemalloc (Debian's libjemalloc-dev)
 * as the process allocator: it keeps each size class on its own pages
 * (slabs), so long-lived small blocks do not pin the pages of large
 * transient ones, and it can be told to give its free pages back to the
 * kernel at once, which is what mem_release() does.
 *
 * Sanitizer and fuzz builds bring their own malloc and build without
 * jemalloc (as does -DXMPPD_JEMALLOC=OFF); there mem_release() is
 * malloc_trim(): correct, only less lean. */
#ifndef XMPPD_MEM_H
#define XMPPD_MEM_H

#include <stdbool.h>

/* Returns the pages the calling thread's allocator arena holds free to the
 * kernel now.  Called by a mux thread after a batch of its sessions went to
 * sleep; costs a few madvise() calls. */
void mem_release(void);

/* "jemalloc <version>" or "glibc malloc", for the start-up log line. */
const char *mem_allocator_name(void);

/* True if jemalloc is built in and malloc() really is jemalloc's (it only
 * is if it comes before libc in the link order; start-up and a unit test
 * check, since losing it would silently cost memory). */
bool mem_malloc_is_jemalloc(void);

#endif
