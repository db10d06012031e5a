/*
 * jumbo: the command of libjumbo.  "jumbo demo" shows jumbo frames landing
 * in pool pages on loopback with nothing to set up; "jumbo rx" and "jumbo
 * tx" receive and send on a given address and port, so that they work with
 * programs they did not write (iperf 2, socat, netcat).  See jumbo(1).
 */
#include "tool.h"

#include <stdlib.h>
#include <string.h>

/* One line per command: a new command is a new line here and its file. */
static const struct tool_cmd_ent {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what; /* for the usage, wrapped by hand at 60 columns */
} cmds[] = {
	{ "demo", cmd_demo, "jumbo frames on loopback into pool pages, against a\n"
			    "          plain malloc + recv receiver (start here)" },
	{ "rx", cmd_rx, "receive on an address and port into pool pages" },
	{ "tx", cmd_tx, "send test frames to an address and port" },
	{ "stat", cmd_stat, "pools of running programs (this one's included)" },
	{ "fwd", cmd_fwd, "receive into pool pages and send the pages on" },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	fputs("usage: jumbo COMMAND [options]\n\n", f);
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %-7s %s\n", cmds[i].name, cmds[i].what);
	fputs("\njumbo COMMAND --help tells the options of each; the library's "
	      "manual is\n'man 3 jumbo'.\n", f);
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
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))
		return tool_version();
	/* The command's own pools show in "jumbo stat" (jumbo_stat(3)). */
	setenv("JUMBO_STAT", "1", 0);
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	fputs("jumbo: '", stderr);
	fputs(argv[1], stderr);
	fputs("' is not a command (", stderr);
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", cmds[i].name);
	fputs("; see 'jumbo --help')\n", stderr);
	return EX_USAGE;
}
