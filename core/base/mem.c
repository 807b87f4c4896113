/* See mem.h for why the allocator is a seam. */
#include "core/base/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef XMPPD_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>

void mem_release(void)
{
	unsigned arena = 0;
	size_t len = sizeof(arena);
	char name[48];

	/* blocks parked in this thread's cache are not free to the arena yet */
	mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	if (mallctl("thread.arena", &arena, &len, NULL, 0) != 0)
		return;
	snprintf(name, sizeof(name), "arena.%u.purge", arena);
	mallctl(name, NULL, NULL, NULL, 0);
}

const char *mem_allocator_name(void)
{
	return "jemalloc " JEMALLOC_VERSION;
}

bool mem_malloc_is_jemalloc(void)
{
	uint64_t before = 0, after = 0;
	size_t len = sizeof(before);

	/* jemalloc counts what this thread allocates; glibc's malloc would
	 * leave the counter alone */
	if (mallctl("thread.allocated", &before, &len, NULL, 0) != 0)
		return false;
	char *p = malloc(4096);
	if (!p)
		return false;
	memset(p, 0, 4096); /* keep the call from being elided */
	len = sizeof(after);
	int rc = mallctl("thread.allocated", &after, &len, NULL, 0);
	free(p);
	return rc == 0 && after - before >= 4096;
}

#else
#include <malloc.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define XMPPD_SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define XMPPD_SANITIZER_MALLOC 1
#endif
#endif

void mem_release(void)
{
#ifndef XMPPD_SANITIZER_MALLOC
	malloc_trim(0);
#else
	/* The sanitizer's allocator holds the memory, not glibc's arenas,
	 * so there is nothing to trim; and an ASan xmppd whose two mux
	 * threads had put links to sleep (each calling malloc_trim) once
	 * aborted at exit in glibc ("malloc assertion failure in
	 * __malloc_arena_thread_freeres: a->attached_threads > 0"), which
	 * our reading of glibc puts down to malloc_trim binding threads to
	 * an arena the sanitizer's malloc never counts them in. */
#endif
}

const char *mem_allocator_name(void)
{
	return "glibc malloc";
}

bool mem_malloc_is_jemalloc(void)
{
	return false;
}
#endif
