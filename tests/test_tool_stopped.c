/*
 * A receiver that is stopped (SIGSTOP) while a sender goes on: the socket
 * buffer fills and the kernel drops the rest.  When it runs again, jumbo
 * rx's summary must account for every datagram the sender sent: frames +
 * kernel_drops + no_buffer + truncated == sent.  UDP and uring, the
 * backends whose kernel drops are counted (jumbo_rx(3)).
 *
 * The receiver stays stopped longer than its --idle: it comes back past
 * its deadline to a full socket, and must take those frames rather than
 * end on the first wait (an io_uring wait returns EINTR after SIGCONT,
 * empty-handed).
 */
#include "test_tool.h"

#include <jumbo/rx.h>

#define ARGS(...) ((char *const[]){ __VA_ARGS__, NULL })

static void stopped(const char *bin, const char *backend)
{
	char *argv[] = { (char *)bin, "rx", "--port", "0", "--json",
			 "--backend", (char *)backend, "--duration", "600",
			 "--idle", "1", NULL };
	struct proc rx, tx;
	struct timespec settle = { 1, 500000000 }; /* > --idle */
	long long sent, frames, drops, nobuf, trunc;
	char port[16];
	unsigned p;

	proc_start(&rx, argv);
	p = proc_port(&rx, PROC_HANG_MS);
	REQUIRE(p != 0);
	snprintf(port, sizeof(port), "%u", p);
	REQUIRE(kill(rx.pid, SIGSTOP) == 0);
	/* 6000 frames of 9000 bytes: far more than the 16 MiB buffer holds. */
	proc_run(&tx, ARGS((char *)bin, "tx", "--port", port, "--count",
			   "6000", "--rate", "20000", "--json"), PROC_HANG_MS);
	nanosleep(&settle, NULL);
	REQUIRE(kill(rx.pid, SIGCONT) == 0);
	proc_wait(&rx, PROC_HANG_MS);
	sent = json_num(tx.obuf, NULL, "frames");
	frames = json_num(rx.obuf, NULL, "frames");
	drops = json_num(rx.obuf, "rx", "kernel_drops");
	nobuf = json_num(rx.obuf, "rx", "no_buffer");
	trunc = json_num(rx.obuf, "rx", "truncated");
	printf("stopped %s receiver: sent %lld; frames %lld + kernel_drops "
	       "%lld + no_buffer %lld + truncated %lld = %lld\n", backend,
	       sent, frames, drops, nobuf, trunc,
	       frames + drops + nobuf + trunc);
	CHECK_EQ(tx.status, 0);
	CHECK_EQ(rx.status, 0);
	CHECK_EQ(sent, 6000);
	CHECK(frames > 0 && frames < sent);
	CHECK_EQ(frames + drops + nobuf + trunc, sent);
	if (check_failures) {
		proc_dump(&rx, "jumbo rx");
		proc_dump(&tx, "jumbo tx");
	}
}

int main(void)
{
	const char *bin = jumbo_bin();

	stopped(bin, "udp");
	if (jumbo_rx_backend_supported(JUMBO_RX_URING))
		stopped(bin, "uring");
	else
		printf("uring: not run: %s\n", jumbo_rx_strerror());
	return check_done("tool_stopped");
}
