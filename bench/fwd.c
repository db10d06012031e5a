/*
 * The plain relay jumbo fwd is measured against: UDP datagrams received
 * into one reused buffer and sent on from it, one recv and one send per
 * frame, blocking, as a program without a pool would do it (the kernel
 * copies in on recv and out on send).  Stops after IDLE seconds without a
 * frame.  usage: jumbo-fwd-plain IN_PORT OUT_PORT [IDLE_SECS]
 *
 * And the sink the relays send to: jumbo-fwd-plain --sink PORT SECS binds
 * PORT with the smallest receive buffer and never reads, so that a
 * datagram costs the receiving side nothing but the kernel's drop (in the
 * relay's own softirq), then prints how many arrived: those the socket
 * dropped (SO_MEMINFO) and the few it queued.
 */
#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int sock(unsigned port, int bind_it)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), sz = 16 << 20;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, bind_it ? SO_RCVBUFFORCE : SO_SNDBUFFORCE,
		       &sz, sizeof(sz)))
		(void)setsockopt(fd, SOL_SOCKET, bind_it ? SO_RCVBUF : SO_SNDBUF,
				 &sz, sizeof(sz));
	if (bind_it ? bind(fd, (struct sockaddr *)&sa, sizeof(sa))
		    : connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return -1;
	return fd;
}

static int sink(unsigned port, double secs)
{
	static char buf[65536];
	uint32_t mem[SK_MEMINFO_VARS] = { 0 };
	socklen_t len = sizeof(mem);
	unsigned long long queued = 0;
	int fd = sock(port, 1), small = 1;

	if (fd < 0) {
		perror("jumbo-fwd-plain --sink");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	usleep((useconds_t)(secs * 1e6));
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len)) {
		perror("jumbo-fwd-plain --sink: SO_MEMINFO");
		return 1;
	}
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		queued++;
	printf("frames %llu\n", queued + mem[SK_MEMINFO_DROPS]);
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[65536];
	unsigned long long frames = 0, bytes = 0;
	double idle = argc > 3 ? atof(argv[3]) : 1.0;
	struct timeval tv = { (time_t)idle, (long)((idle - (long)idle) * 1e6) };
	int in, out;

	if (argc == 4 && !strcmp(argv[1], "--sink"))
		return sink((unsigned)atoi(argv[2]), atof(argv[3]));
	if (argc < 3) {
		fprintf(stderr, "usage: jumbo-fwd-plain IN_PORT OUT_PORT [IDLE]\n");
		return 2;
	}
	in = sock((unsigned)atoi(argv[1]), 1);
	out = sock((unsigned)atoi(argv[2]), 0);
	if (in < 0 || out < 0) {
		perror("jumbo-fwd-plain: socket");
		return 1;
	}
	setsockopt(in, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	fprintf(stderr, "jumbo-fwd-plain: listening on 127.0.0.1 port %s (udp)\n",
		argv[1]);
	for (;;) {
		ssize_t n = recv(in, buf, sizeof(buf), 0);
		if (n < 0)
			break; /* idle */
		if (send(out, buf, (size_t)n, 0) == n) {
			frames++;
			bytes += (unsigned long long)n;
		}
	}
	printf("frames %llu bytes %llu\n", frames, bytes);
	return 0;
}
