/*
 * The uring send backend (io_uring SENDMSG_ZC, or SENDMSG where the kernel
 * lacks it): what the udp backend must do (test_tx.h), through io_uring.
 * Skips where io_uring cannot run.  Argument: a seed for the frame sizes.
 */
#include "test_tx.h"

int main(int argc, char **argv)
{
	unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0)
				 : (unsigned)time(NULL);

	if (!jumbo_tx_backend_supported(JUMBO_TX_URING))
		skip("%s", jumbo_tx_strerror());
	printf("seed %u\n", seed);
	txt_run(JUMBO_TX_URING, JUMBO_TX_ZC_ALWAYS, seed, "zero copy kept");
	txt_run(JUMBO_TX_URING, 0, seed, "zero copy, given up when it never pays");
	txt_run(JUMBO_TX_URING, JUMBO_TX_COPY, seed, "copy");
	txt_refused(JUMBO_TX_URING);
	return check_failures ? 1 : 0;
}
