/*
 * jumbo: the command of libjumbo.  "jumbo demo" shows jumbo frames landing
 * in pool pages on loopback with nothing to set up; "jumbo rx" and "jumbo
 * tx" receive and send on a given address and port, so that they work with
 * programs they did not write (iperf 2, socat, netcat).  See jumbo(1).
 */
#include "tool.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fputs("usage: jumbo COMMAND [options]\n"
	      "\n"
	      "  demo    jumbo frames on loopback into pool pages, against a\n"
	      "          plain malloc + recv receiver (start here)\n"
	      "  rx      receive on an address and port into pool pages\n"
	      "  tx      send test frames to an address and port\n"
	      "  stat    pools of running programs (this one's included)\n"
	      "  fwd     receive into pool pages and send the pages on\n"
	      "\n"
	      "jumbo COMMAND --help tells the options of each.\n", f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* The command's own pools show in "jumbo stat" (jumbo_stat(3)). */
	setenv("JUMBO_STAT", "1", 0);
	if (!strcmp(argv[1], "stat"))
		return cmd_stat(argc - 1, argv + 1);
	if (!strcmp(argv[1], "demo"))
		return cmd_demo(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rx"))
		return cmd_rx(argc - 1, argv + 1);
	if (!strcmp(argv[1], "tx"))
		return cmd_tx(argc - 1, argv + 1);
	if (!strcmp(argv[1], "fwd"))
		return cmd_fwd(argc - 1, argv + 1);
	fprintf(stderr, "jumbo: '%s' is not a command (demo, rx, tx, stat, "
		"fwd; see jumbo --help)\n", argv[1]);
	return EX_USAGE;
}
