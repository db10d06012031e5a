/*
 * jumbo fwd between programs the project did not write: iperf 2 sends
 * 8972-byte UDP datagrams, and a TCP stream, through jumbo fwd to socat,
 * which writes what it gets to a file.  Every frame fwd received it sent,
 * the file holds every byte, and the pool ends with no page in use.
 * Skips without iperf or socat (scripts/install-deps.sh installs both).
 */
#include "test_tool.h"

static const char *bin;

static unsigned free_port(int type)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t l = sizeof(sa);
	int fd = socket(AF_INET, type, 0);

	REQUIRE(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &l) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long long)st.st_size;
}

static void one(const char *proto)
{
	int tcp = !strcmp(proto, "tcp");
	unsigned out = free_port(tcp ? SOCK_STREAM : SOCK_DGRAM), in;
	char file[64], addr[128], to[64], sport[16];
	struct proc sink, fwd, src;

	snprintf(file, sizeof(file), "/tmp/jumbo-fwd-%d-%s", (int)getpid(),
		 proto);
	unlink(file);
	snprintf(addr, sizeof(addr), tcp ? "TCP-LISTEN:%u,bind=127.0.0.1,reuseaddr"
					 : "UDP-RECV:%u,bind=127.0.0.1,rcvbuf=16777216", out);
	snprintf(to, sizeof(to), "%s:127.0.0.1:%u", proto, out);
	char fileaddr[96];
	snprintf(fileaddr, sizeof(fileaddr), "CREATE:%s", file);
	proc_start(&sink, (char *const[]){ "socat", "-u", "-b", "65536",
					    addr, fileaddr, NULL });
	usleep(300000);
	proc_start(&fwd, (char *const[]){ (char *)bin, "fwd", "--from",
		   tcp ? "tcp:127.0.0.1:0" : "udp:127.0.0.1:0", "--to", to,
		   "--json", "--idle", "1.5", "--duration", "30", NULL });
	in = proc_port(&fwd, 10000);
	if (!in) {
		proc_wait(&fwd, 5000);
		proc_dump(&fwd, "jumbo fwd");
	}
	REQUIRE(in != 0);
	snprintf(sport, sizeof(sport), "%u", in);
	if (tcp)
		proc_run(&src, (char *const[]){ "iperf", "-c", "127.0.0.1",
			 "-p", sport, "-n", "64M", NULL }, 60000);
	else
		proc_run(&src, (char *const[]){ "iperf", "-c", "127.0.0.1",
			 "-u", "-p", sport, "-l", "8972", "-b", "300M", "-t",
			 "1", NULL }, 60000);
	proc_wait(&fwd, 30000);
	if (tcp)
		proc_wait(&sink, 10000);
	else {
		usleep(500000); /* let socat write the last datagrams */
		kill(sink.pid, SIGTERM);
		proc_wait(&sink, 5000);
	}
	long long frames = json_num(fwd.obuf, NULL, "frames");
	long long rxp = json_num(fwd.obuf, "rx", "packets");
	long long rxb = json_num(fwd.obuf, "rx", "bytes");
	long long txp = json_num(fwd.obuf, "tx", "packets");
	long long txb = json_num(fwd.obuf, "tx", "bytes");
	long long inuse = json_num(fwd.obuf, "pool", "in_use");
	long long fsz = file_size(file);
	printf("%s: fwd %lld frames, rx %lld/%lld, tx %lld/%lld, file %lld, "
	       "pool in use %lld\n", proto, frames, rxp, rxb, txp, txb, fsz,
	       inuse);
	if (fwd.status || frames <= 0) {
		proc_dump(&fwd, "jumbo fwd");
		proc_dump(&src, "iperf");
	}
	CHECK_EQ(fwd.status, 0);
	CHECK(frames > 0);
	CHECK_EQ(rxp, txp);
	CHECK_EQ(rxb, txb);
	CHECK_EQ(fsz, txb);
	CHECK_EQ(inuse, 0);
	CHECK_EQ(json_num(fwd.obuf, "tx", "pages_held"), 0);
	if (tcp)
		CHECK_EQ(txb, 64ll << 20);
	else {
		/* iperf says how many it sent; at 300 Mbit/s none is lost
		 * before fwd (its final datagrams may come more than once). */
		const char *s = strstr(src.obuf, "Sent ");
		long long sent = s ? atoll(s + 5) : -1;
		CHECK(sent > 0);
		CHECK(frames >= sent);
		CHECK_EQ(json_num(fwd.obuf, "rx", "kernel_drops"), 0);
	}
	unlink(file);
}

int main(void)
{
	bin = jumbo_bin();
	if (!have_prog("iperf") || !have_prog("socat"))
		skip("iperf 2 and socat are needed");
	signal(SIGPIPE, SIG_IGN);
	one("udp");
	one("tcp");
	return check_failures ? 1 : 0;
}
