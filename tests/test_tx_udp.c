/*
 * The udp send backend: chains of pool pages go out as datagrams (zero
 * copy asked for and kept, zero copy given up, plain copy), every one
 * arrives whole and right, and once the completions are in, every page is
 * back in the pool.  Faults: a peer that is gone (ICMP port unreachable:
 * ECONNREFUSED, counted, no page lost or freed twice).  Argument: a seed
 * for the frame sizes.
 */
#include "test_tx.h"

int main(int argc, char **argv)
{
	unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0)
				 : (unsigned)time(NULL);

	printf("seed %u\n", seed);
	txt_run(JUMBO_TX_UDP, JUMBO_TX_ZC_ALWAYS, seed, "zero copy kept");
	txt_run(JUMBO_TX_UDP, 0, seed, "zero copy, given up when it never pays");
	txt_run(JUMBO_TX_UDP, JUMBO_TX_COPY, seed, "copy");
	txt_refused(JUMBO_TX_UDP);
	return check_failures ? 1 : 0;
}
