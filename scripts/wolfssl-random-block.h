/* Force-included (-include) into every file of the lean wolfSSL build by
 * scripts/build-wolfssl.sh, which also defines CUSTOM_RAND_GENERATE_BLOCK
 * as xmppd_random_block: wolfCrypt calls that macro for every random block
 * and expects the application to declare it (random.h says so).  The
 * definition is tls/rng/getrandom_block.c.  Plain C types, since wolfSSL's
 * byte/word32 are not yet declared where this is included; nothing for
 * the preprocessed assembly files, which get the same flags. */
#if !defined(XMPPD_WOLFSSL_RANDOM_BLOCK_H) && !defined(__ASSEMBLER__)
#define XMPPD_WOLFSSL_RANDOM_BLOCK_H
int xmppd_random_block(unsigned char *output, unsigned int sz);
#endif
