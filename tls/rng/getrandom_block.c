/* The random source of the lean wolfSSL build: wolfCrypt's RNG calls this
 * for every block (CUSTOM_RAND_GENERATE_BLOCK, set by
 * scripts/build-wolfssl.sh) instead of running a Hash_DRBG of its own.
 *
 * Why: with its Hash_DRBG, wolfSSL seeds and known-answer-tests a DRBG for
 * every WC_RNG, and every WOLFSSL object has one: an open/read/close of
 * /dev/urandom and ~105,000 instructions per connection (and again for
 * each session woken from sleep); dropping it took a login from 1,889,498
 * to 1,761,338 instructions (bench/instructions.sh).  The kernel's
 * getrandom() is itself a ChaCha20 CSPRNG and costs ~0.3 us per call here;
 * wolfSSL now makes about three calls per login (strace: 7 -> 10 getrandom
 * calls per login, the others being ours).  It is the source OpenSSL seeds
 * from and BoringSSL reads directly on Linux.
 *
 * getrandom(2) without flags blocks only until the kernel's pool is first
 * initialised (early boot), and reads of up to 256 bytes are never cut
 * short; longer ones may be, hence the loop.  A nonzero return makes
 * wolfCrypt fail the operation (RNG_FAILURE_E), never use the buffer. */
#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

int xmppd_random_block(unsigned char *output, unsigned int sz);

int xmppd_random_block(unsigned char *output, unsigned int sz)
{
	while (sz > 0) {
		ssize_t n = getrandom(output, sz, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		output += n;
		sz -= (unsigned int)n;
	}
	return 0;
}
