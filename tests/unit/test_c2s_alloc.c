/* Allocation failures along a whole c2s stream: every allocation of a
 * login and its stanzas fails in turn (the counting malloc of
 * xml_fixture.h), driven by the harness of tests/fuzz/fuzz_c2s.c over
 * seeds of its corpus.  Whatever fails, the server must not crash, must
 * write only well-formed XML (the harness's oracle aborts otherwise), and
 * must leak nothing once the connections are gone.
 *
 * The harness's own client-side parser gives up quietly when it is the
 * one out of memory (FUZZ_C2S_OOM_SAFE), so that only the server is
 * judged.  Plain build only: a sanitizer's malloc cannot be replaced
 * (the test then exits 77 and ctest reports it as skipped). */
#define FUZZ_C2S_OOM_SAFE 1
#include "tests/unit/xml_fixture.h"
#include "tests/fuzz/fuzz_c2s.c"

#include <sys/stat.h>

#ifndef NO_MALLOC_HOOK
static unsigned char *read_seed(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", C2S_SEEDS, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	unsigned char *buf = malloc(1 << 16);
	*len = buf ? fread(buf, 1, 1 << 16, f) : 0;
	fclose(f);
	return buf;
}
#endif

int main(int argc, char **argv)
{
#ifdef NO_MALLOC_HOOK
	(void)argc;
	(void)argv;
	printf("skipped: the counting malloc cannot replace a sanitizer's\n");
	return 77;
#else
	/* plaintext seeds: no TLS handshake, so a sweep takes seconds */
	static const char *const seeds[] = {
		"scram_sha256_login", "pipelined_bind", "router_answers", "two_sessions",
		"too_many_attempts", "unbind_mid_delivery",
	};
	LLVMFuzzerInitialize(&argc, &argv);
	long points = 0;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		size_t len;
		unsigned char *seed = read_seed(seeds[i], &len);
		if (!seed) {
			fprintf(stderr, "test_c2s_alloc: no seed %s\n", seeds[i]);
			return 1;
		}
		long base = live_allocs;
		long k;
		k = getenv("C2S_ALLOC_FROM") ? atol(getenv("C2S_ALLOC_FROM")) : 0;
		for (;; k++) {
			if (getenv("C2S_ALLOC_TRACE"))
				fprintf(stderr, "--- %s: allocation %ld fails\n", seeds[i], k);
			fail_after = k;
			LLVMFuzzerTestOneInput(seed, len);
			bool hit = fail_after == -2;
			fail_after = -1;
			if (live_allocs != base) {
				fprintf(stderr, "test_c2s_alloc: %s: %ld blocks leaked when allocation "
						"%ld failed\n", seeds[i], live_allocs - base, k);
				return 1;
			}
			if (!hit)
				break;
		}
		printf("%s: %ld allocations failed in turn, no crash, no leak\n", seeds[i], k);
		points += k;
		free(seed);
	}
	printf("%ld failure points in all\n", points);
	return 0;
#endif
}
