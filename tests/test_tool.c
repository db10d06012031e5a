/*
 * The jumbo command's interface: --help for each command, errors that name
 * what was wrong with exit status 2, a refused destination reported with
 * status 1, and jumbo tx to jumbo rx over UDP and TCP with every frame
 * counted and checked.
 */
#include "test_tool.h"

#include <jumbo/rx.h>

static const char *bin;

/* Runs jumbo with args; checks the status and that stderr has want. */
static void expect(int status, const char *want_out, const char *want_err,
		   char *const args[])
{
	char *argv[16] = { (char *)bin };
	struct proc p;
	int i;

	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	proc_run(&p, argv, PROC_HANG_MS);
	CHECK_EQ(p.status, status);
	if (want_out)
		CHECK(strstr(p.obuf, want_out) != NULL);
	if (want_err)
		CHECK(strstr(p.ebuf, want_err) != NULL);
	if (p.status != status || (want_out && !strstr(p.obuf, want_out)) ||
	    (want_err && !strstr(p.ebuf, want_err)))
		proc_dump(&p, args[0] ? args[0] : "no arguments");
}

#define ARGS(...) ((char *const[]){ __VA_ARGS__, NULL })

static void test_usage(void)
{
	expect(0, "demo", NULL, ARGS("--help"));
	expect(2, NULL, "'--nothing' is not a command", ARGS("--nothing"));
	expect(2, NULL, "usage: jumbo COMMAND", ARGS(NULL));
	expect(2, NULL, "'frob' is not a command", ARGS("frob"));
	expect(0, "--quick", NULL, ARGS("demo", "--help"));
	expect(0, "--backend", NULL, ARGS("rx", "--help"));
	expect(0, "--rate", NULL, ARGS("tx", "--help"));
	expect(2, NULL, "--frame: '12x' is not a size", ARGS("rx", "--frame",
							      "12x"));
	expect(2, NULL, "--frame: 70000 is more than a UDP datagram",
	       ARGS("rx", "--frame", "70000"));
	expect(2, NULL, "--backend: 'nope' is not",
	       ARGS("rx", "--backend", "nope"));
	expect(2, NULL, "--port: 70000 is out of range",
	       ARGS("rx", "--port", "70000"));
	expect(2, NULL, "--addr: 'localhost' is not a numeric",
	       ARGS("rx", "--addr", "localhost"));
	expect(2, NULL, "--page: '8k': the page size is 4k or 2m",
	       ARGS("rx", "--page", "8k"));
	expect(2, NULL, "--framing goes with --backend tcp",
	       ARGS("rx", "--framing", "len32"));
	expect(2, NULL, "--verify with --backend xdp needs --port",
	       ARGS("rx", "--backend", "xdp", "--dev", "lo", "--port", "0",
		    "--verify"));
	expect(2, NULL, "--backend: 'xdp' is not a backend",
	       ARGS("demo", "--backend", "xdp"));
	expect(2, NULL, "--port is required", ARGS("tx"));
	expect(2, NULL, "--duration: 'soon' is not a duration",
	       ARGS("demo", "--duration", "soon"));
	expect(2, NULL, "unexpected argument 'extra'",
	       ARGS("tx", "--port", "9", "extra"));
	expect(0, "jumbo 1.", NULL, ARGS("--version"));
	expect(0, "jumbo 1.", NULL, ARGS("rx", "--version"));
	expect(2, NULL, "--duration: 'soon' is not a duration",
	       ARGS("rx", "--seconds", "soon"));
	expect(2, NULL, "--duration: 'soon' is not a duration",
	       ARGS("tx", "--port", "9", "--seconds", "soon"));
}

/* An unknown option: one line that names it and where the help is. */
static void one_line(const char *want, char *const args[])
{
	char *argv[12] = { (char *)bin };
	struct proc p;
	int i;

	for (i = 0; args[i] && i < 10; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	proc_run(&p, argv, PROC_HANG_MS);
	CHECK_EQ(p.status, 2);
	CHECK_EQ(count_lines(p.ebuf), 1);
	CHECK(strstr(p.ebuf, want) != NULL);
	if (p.status != 2 || count_lines(p.ebuf) != 1 || !strstr(p.ebuf, want))
		proc_dump(&p, want);
}

static void test_bad_options(void)
{
	one_line("jumbo rx: unknown option --x; see 'jumbo rx --help'",
		 ARGS("rx", "--x"));
	one_line("jumbo tx: unknown option --frob; see 'jumbo tx --help'",
		 ARGS("tx", "--frob=3"));
	one_line("jumbo demo: unknown option -z; see 'jumbo demo --help'",
		 ARGS("demo", "-z"));
	one_line("jumbo rx: --port needs a value; see 'jumbo rx --help'",
		 ARGS("rx", "--port"));
}

/*
 * Values the parser took and the backend then refused: each is refused
 * up front, in one line, with the backend's own range, exit 2.  None of
 * them opens anything (no root needed for xdp's).
 */
static void test_backend_ranges(void)
{
	one_line("--frame: 65535 is more than --backend xdp takes (65407",
		 ARGS("rx", "--backend", "xdp", "--dev", "lo", "--frame",
		      "65535"));
	one_line("--frame: 16777216 is more than --backend tcp takes with "
		 "4 KiB pages (4190208", ARGS("rx", "--backend", "tcp",
					      "--frame", "16m"));
	one_line("--pages: 1 page of 4096 bytes cannot hold a frame of 9000",
		 ARGS("rx", "--pages", "1"));
	one_line("--queue: lo has 1 receive queue (0 to 0), not 3",
		 ARGS("rx", "--backend", "xdp", "--dev", "lo", "--queue", "3"));
	one_line("--dev: there is no interface 'nosuch0'",
		 ARGS("rx", "--backend", "xdp", "--dev", "nosuch0"));
	setenv("JUMBO_MAX_PAGES", "2", 1);
	one_line("JUMBO_MAX_PAGES: 2 pages of 4096 bytes cannot hold",
		 ARGS("rx"));
	setenv("JUMBO_MAX_PAGES", "lots", 1);
	one_line("JUMBO_MAX_PAGES: 'lots' is not a number", ARGS("rx"));
	unsetenv("JUMBO_MAX_PAGES");
}

/* A port on 127.0.0.1 nobody listens on: bind one, note it, close it. */
static unsigned free_port(int type)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, type, 0);
	unsigned port;

	REQUIRE(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_refused(void)
{
	char port[16];

	snprintf(port, sizeof(port), "%u", free_port(SOCK_DGRAM));
	/* UDP: the ICMP port unreachable shows on the sends after the first. */
	expect(1, NULL, "refused: nothing listens on 127.0.0.1 port",
	       ARGS("tx", "--port", port, "--count", "20", "--rate", "1000"));
	snprintf(port, sizeof(port), "%u", free_port(SOCK_STREAM));
	expect(1, NULL, "Connection refused",
	       ARGS("tx", "--port", port, "--proto", "tcp", "--count", "1"));
}

/* jumbo rx --verify against jumbo tx: every frame counted and checked. */
static void pair(const char *backend, const char *proto)
{
	int pool = strcmp(backend, "malloc") != 0;
	char *rx_argv[] = { (char *)bin, "rx", "--port", "0", "--backend",
			    (char *)backend, "--count", "500", "--verify",
			    "--duration", "600", "--json",
			    pool ? "--deliver" : NULL, "auto",
			    !strcmp(proto, "tcp") ? "--framing" : NULL,
			    "len32", NULL };
	char port[16];
	struct proc rx, tx;
	unsigned p;

	proc_start(&rx, rx_argv);
	p = proc_port(&rx, PROC_HANG_MS);
	CHECK(p != 0);
	snprintf(port, sizeof(port), "%u", p);
	{
		char *tx_argv[] = { (char *)bin, "tx", "--port", port,
				    "--proto", (char *)proto, "--count", "500",
				    "--min", "32", "--max", "9000", "--rate",
				    "20000", "--json", NULL };
		proc_run(&tx, tx_argv, PROC_HANG_MS);
	}
	proc_wait(&rx, PROC_HANG_MS);
	printf("%s/%s: tx %lld frames, rx %lld frames, %lld ok, %lld bad\n",
	       backend, proto, json_num(tx.obuf, NULL, "frames"),
	       json_num(rx.obuf, NULL, "frames"),
	       json_num(rx.obuf, NULL, "frames_ok"),
	       json_num(rx.obuf, NULL, "bad"));
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK_EQ(json_num(tx.obuf, NULL, "frames"), 500);
	CHECK_EQ(json_num(rx.obuf, NULL, "frames"), 500);
	CHECK_EQ(json_num(rx.obuf, NULL, "frames_ok"), 500);
	CHECK_EQ(json_num(rx.obuf, NULL, "bad"), 0);
	CHECK_EQ(json_num(rx.obuf, NULL, "bytes"),
		 json_num(tx.obuf, NULL, "bytes"));
	if (pool) {
		CHECK_EQ(json_num(rx.obuf, "pool", "in_use"), 0);
		/* The mbufs beside the pages (issue 16): all freed. */
		CHECK_EQ(json_num(rx.obuf, "pool", "mbuf_in_use"), 0);
		CHECK(json_num(rx.obuf, "pool", "mbuf_allocs") >= 500);
		CHECK_EQ(json_num(rx.obuf, "pool", "mbuf_allocs"),
			 json_num(rx.obuf, "pool", "mbuf_frees"));
	}
	if (check_failures) {
		proc_dump(&rx, "jumbo rx");
		proc_dump(&tx, "jumbo tx");
	}
}

int main(void)
{
	bin = jumbo_bin();
	test_usage();
	test_bad_options();
	test_backend_ranges();
	test_refused();
	pair("udp", "udp");
	pair("tcp", "tcp");
	pair("malloc", "udp");
	if (jumbo_rx_backend_supported(JUMBO_RX_URING))
		pair("uring", "udp");
	else
		printf("uring pair not run: %s\n", jumbo_rx_strerror());
	return check_done("tool");
}
