/*
 * jumbo_rx_open's one way to fail (issue 11): NULL with errno set, the
 * same failure in words from jumbo_rx_strerror, and *err = -errno for
 * programs that pass err.  Bad input, a port in use, and no descriptor
 * left (setrlimit), each with and without err.
 */
#include "check.h"

#include <jumbo/jumbo.h>
#include <jumbo/rx.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

static void expect_fail(const char *what, struct jumbo_rx_params *p, int want)
{
	for (int with_err = 0; with_err < 2; with_err++) {
		int err = 12345;
		errno = 0;
		struct jumbo_rx *rx = jumbo_rx_open(p, with_err ? &err : NULL);
		int e = errno;
		const char *msg = jumbo_rx_strerror();
		printf("%s: errno %d, \"%s\"\n", what, e, msg);
		CHECK(rx == NULL);
		if (rx)
			jumbo_rx_close(rx);
		CHECK_EQ(e, want);
		if (with_err)
			CHECK_EQ(err, -e);
		else
			CHECK_EQ(err, 12345);
		CHECK(msg && *msg && strcmp(msg, "no error") != 0);
	}
}

int main(void)
{
	struct jumbo_rx_params p;

	REQUIRE(jumbo_vm_init() == 1);

	jumbo_rx_params_init(&p);
	p.backend = (enum jumbo_rx_backend)99;
	expect_fail("unknown backend", &p, EINVAL);

	jumbo_rx_params_init(&p);
	p.max_frame = (size_t)1 << 30;
	expect_fail("max_frame", &p, EINVAL);

	jumbo_rx_params_init(&p);
	p.addr = "not an address";
	expect_fail("address", &p, EINVAL);

	/* A port someone else holds. */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	jumbo_rx_params_init(&p);
	p.port = ntohs(sa.sin_port);
	expect_fail("port in use", &p, EADDRINUSE);
	close(fd);

	/* No descriptor left for the socket. */
	struct rlimit old, low;
	REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
	int probe = dup(0);
	REQUIRE(probe >= 0);
	close(probe);
	low = old;
	low.rlim_cur = (rlim_t)probe; /* every descriptor from probe on refused */
	REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
	jumbo_rx_params_init(&p);
	expect_fail("no descriptor", &p, EMFILE);
	REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);

	/* A success clears the words. */
	jumbo_rx_params_init(&p);
	struct jumbo_rx *rx = jumbo_rx_open(&p, NULL);
	REQUIRE(rx);
	CHECK(strcmp(jumbo_rx_strerror(), "no error") == 0);
	jumbo_rx_close(rx);
	return check_done("rx_open");
}
