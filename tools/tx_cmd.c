/*
 * jumbo tx: send test frames (sequence number and checksum, see frame.h)
 * to an address and port over UDP, or over TCP with each frame's length in
 * front, at a rate or as fast as the socket takes them.
 */
#include "send.h"
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void tx_usage(FILE *f)
{
	fputs("usage: jumbo tx --port PORT [options]\n"
	      "\n"
	      "Sends jumbo test frames; jumbo rx --verify checks them.\n"
	      "\n"
	      "  --addr ADDR       numeric address (default 127.0.0.1)\n"
	      "  --port PORT       port (required)\n"
	      "  --proto PROTO     udp (default) or tcp (length-prefixed frames)\n"
	      "  --frame BYTES     frame size (default 9000; 32 to 65000 udp)\n"
	      "  --min BYTES       with --max: sizes uniform in [min, max]\n"
	      "  --max BYTES\n"
	      "  --count N         frames to send\n"
	      "  --duration SECS   stop after SECS (default 5; with --count 60)\n"
	      "  --rate N          frames per second (default: as fast as it\n"
	      "                    goes; loopback receivers then drop)\n"
	      "  --seed N          for the sizes (default fixed)\n"
	      "  --json            the summary as one JSON object\n"
	      "  -h, --help        this text\n"
	      "  --version         the version\n", f);
}

int cmd_tx(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "addr", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' },
		{ "proto", required_argument, 0, 'P' },
		{ "frame", required_argument, 0, 'f' },
		{ "min", required_argument, 0, 'm' },
		{ "max", required_argument, 0, 'M' },
		{ "count", required_argument, 0, 'c' },
		{ "duration", required_argument, 0, 'd' },
		{ "seconds", required_argument, 0, 'd' },
		{ "rate", required_argument, 0, 'r' },
		{ "seed", required_argument, 0, 's' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	const char *addr = "127.0.0.1";
	unsigned port = 0;
	int have_port = 0, tcp = 0, json = 0, o, fd, e = 0;
	size_t frame = 9000, min = 0, max = 0, limit;
	unsigned long v;
	double secs = -1, rate = 0;
	struct jf_sender s;
	struct report rep;

	tool_cmd = "jumbo tx";
	memset(&s, 0, sizeof(s));
	optind = 1;
	while ((o = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (o) {
		case 'a':
			if (opt_loop_addr("--addr", optarg))
				return EX_USAGE;
			addr = optarg;
			break;
		case 'p':
			if (opt_port("--port", optarg, &port))
				return EX_USAGE;
			if (port == 0)
				return tool_err(EX_USAGE, "--port: 0 is not a "
						"port one can send to");
			have_port = 1;
			break;
		case 'P':
			if (strcmp(optarg, "udp") && strcmp(optarg, "tcp"))
				return tool_err(EX_USAGE, "--proto: '%s' is not "
						"udp or tcp", optarg);
			tcp = !strcmp(optarg, "tcp");
			break;
		case 'f':
			if (opt_size("--frame", optarg, JF_HDR, 16 << 20, &frame))
				return EX_USAGE;
			break;
		case 'm':
			if (opt_size("--min", optarg, JF_HDR, 16 << 20, &min))
				return EX_USAGE;
			break;
		case 'M':
			if (opt_size("--max", optarg, JF_HDR, 16 << 20, &max))
				return EX_USAGE;
			break;
		case 'c':
			if (opt_uint("--count", optarg, 1, ~0ul, &v))
				return EX_USAGE;
			s.count = v;
			break;
		case 'd':
			if (opt_seconds("--duration", optarg, &secs))
				return EX_USAGE;
			break;
		case 'r':
			if (opt_uint("--rate", optarg, 1, 100000000, &v))
				return EX_USAGE;
			rate = (double)v;
			break;
		case 's':
			if (opt_uint("--seed", optarg, 0, ~0ul, &v))
				return EX_USAGE;
			s.seed = v;
			break;
		case 'j': json = 1; break;
		case 'h': tx_usage(stdout); return 0;
		case 'V': return tool_version();
		default: return opt_bad(o, argv);
		}
	}
	if (optind < argc)
		return tool_err(EX_USAGE, "unexpected argument '%s' (see "
				"'jumbo tx --help')", argv[optind]);
	if (!have_port)
		return tool_err(EX_USAGE, "--port is required (see 'jumbo tx "
				"--help')");
	if (!min != !max)
		return tool_err(EX_USAGE, "--min and --max go together");
	if (min > max)
		return tool_err(EX_USAGE, "--min %zu is more than --max %zu",
				min, max);
	if (!min)
		min = max = frame;
	limit = tcp ? (size_t)16 << 20 : 65000;
	if (max > limit)
		return tool_err(EX_USAGE, "frames of %zu bytes: at most %zu "
				"over %s", max, limit, tcp ? "tcp" : "udp");
	/* Never unbounded: --count alone still ends after a minute. */
	if (secs < 0)
		secs = s.count ? 60 : 5;
	fd = jf_connect(addr, port, tcp ? SOCK_STREAM : SOCK_DGRAM);
	if (fd < 0)
		return tool_err(EX_FAIL, "cannot connect to %s port %u (%s): %s",
				addr, port, tcp ? "tcp" : "udp", strerror(-fd));
	s.fd = fd;
	s.stream = tcp;
	s.min_len = min;
	s.max_len = max;
	s.duration_ns = (uint64_t)(secs * 1e9);
	s.rate = rate;
	jf_send_run(&s);
	close(fd);
	rep_begin(&rep, stdout, json);
	rep_u64(&rep, "frames", s.sent);
	rep_u64(&rep, "bytes", s.bytes);
	rep_f(&rep, "seconds", (double)s.elapsed_ns / 1e9, "s");
	rep_f(&rep, "gbit_per_s", s.elapsed_ns ? (double)s.bytes * 8 /
						 (double)s.elapsed_ns : 0,
	      "Gbit/s");
	rep_u64(&rep, "refused", s.refused);
	rep_u64(&rep, "errors", s.errors);
	rep_end(&rep);
	if (s.err)
		e = tool_err(EX_FAIL, "send failed: %s", strerror(-s.err));
	else if (s.refused)
		e = tool_err(EX_FAIL, "%llu sends refused: nothing listens on "
			     "%s port %u (ICMP port unreachable)",
			     (unsigned long long)s.refused, addr, port);
	return e;
}
