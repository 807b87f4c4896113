/* libFuzzer target: an inbound server-to-server stream (s2s/s2s_in.c) on a
 * real mux connection, from the jabber:server header through STARTTLS and
 * SASL EXTERNAL (the harness presents a certificate for peer.test, which
 * the server trusts) to stanzas routed by a real router.
 *
 * The harness is fuzz_c2s.c's, with bit 5 of the configuration byte (an
 * s2s listener) always set: its own corpus (corpus/s2s, written by
 * gen_c2s_corpus.py) and its own time under ctest, so that the s2s role
 * gets them whatever the c2s inputs do. */
#define FUZZ_FORCE_S2S 1
#include "fuzz_c2s.c"
