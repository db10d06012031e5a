/*
 * jumbo fwd between programs the project did not write: iperf 2 sends
 * 8972-byte UDP datagrams, and a TCP stream, through jumbo fwd to socat,
 * which writes what it gets to a file.  Every frame fwd received it sent,
 * the file holds every byte, and the pool ends with no page in use.  Then
 * netcat sends a file over TCP through fwd (zero copy kept on) and socat's
 * copy must be the same bytes.  Skips without iperf or socat
 * (scripts/install-deps.sh installs both); the netcat part without nc.
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

static struct timespec now_ts(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long long)st.st_size;
}

/*
 * Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:port
 * (socat's, when it falls behind on a busy machine), from /proc/net/udp;
 * -1 if not found.
 */
static long long udp_drops(unsigned port)
{
	char line[512], want[32];
	long long drops = -1;
	FILE *f = fopen("/proc/net/udp", "r");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "0100007F:%04X ", port);
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, want), *last;
		if (!p || p > line + 16)
			continue;
		line[strcspn(line, "\n")] = 0;
		while (*line && line[strlen(line) - 1] == ' ')
			line[strlen(line) - 1] = 0;
		last = strrchr(line, ' ');
		drops = last ? atoll(last + 1) : -1;
	}
	fclose(f);
	return drops;
}

static void one(const char *proto)
{
	int tcp = !strcmp(proto, "tcp");
	unsigned out = free_port(tcp ? SOCK_STREAM : SOCK_DGRAM), in;
	char file[64], addr[128], to[64], sport[16];
	struct proc sink, fwd, src;
	long long sink_drops = 0;

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
	REQUIRE(net_wait_bound(tcp, out, PROC_HANG_MS) == 0);
	/* fwd ends by proc_stop_drained(); --duration only bounds a run
	 * that would not end. */
	proc_start(&fwd, (char *const[]){ (char *)bin, "fwd", "--from",
		   tcp ? "tcp:127.0.0.1:0" : "udp:127.0.0.1:0", "--to", to,
		   "--json", "--duration", "600", NULL });
	in = proc_port(&fwd, PROC_HANG_MS);
	if (!in) {
		proc_wait(&fwd, PROC_HANG_MS);
		proc_dump(&fwd, "jumbo fwd");
	}
	REQUIRE(in != 0);
	snprintf(sport, sizeof(sport), "%u", in);
	if (tcp)
		proc_run(&src, (char *const[]){ "iperf", "-c", "127.0.0.1",
			 "-p", sport, "-n", "64M", NULL }, PROC_HANG_MS);
	else
		proc_run(&src, (char *const[]){ "iperf", "-c", "127.0.0.1",
			 "-u", "-p", sport, "-l", "8972", "-b", "300M", "-t",
			 "1", NULL }, PROC_HANG_MS);
	if (tcp) {
		/* Every byte at socat before fwd goes: its zero-copy pages
		 * are back once socat has read them. */
		for (struct timespec t0 = now_ts();
		     file_size(file) != 64ll << 20 && ms_since(&t0) < PROC_HANG_MS;)
			usleep(10000);
		CHECK_EQ(proc_stop_drained(fwd.pid, 1, in, 0, PROC_HANG_MS), 0);
	} else {
		CHECK_EQ(proc_stop_drained(fwd.pid, 0, in, out, PROC_HANG_MS), 0);
	}
	proc_wait(&fwd, PROC_HANG_MS);
	if (tcp) {
		proc_wait(&sink, PROC_HANG_MS);
	} else {
		/* socat has read every datagram (proc_stop_drained); wait
		 * until it has written them, or it dropped the rest. */
		long long want = json_num(fwd.obuf, "tx", "bytes");
		for (struct timespec t0 = now_ts();; usleep(10000)) {
			sink_drops = udp_drops(out);
			if (file_size(file) + sink_drops * 8972 == want ||
			    ms_since(&t0) > PROC_HANG_MS)
				break;
		}
		kill(sink.pid, SIGTERM);
		proc_wait(&sink, PROC_HANG_MS);
	}
	long long frames = json_num(fwd.obuf, NULL, "frames");
	long long rxp = json_num(fwd.obuf, "rx", "packets");
	long long rxb = json_num(fwd.obuf, "rx", "bytes");
	long long txp = json_num(fwd.obuf, "tx", "packets");
	long long txb = json_num(fwd.obuf, "tx", "bytes");
	long long inuse = json_num(fwd.obuf, "pool", "in_use");
	long long fsz = file_size(file);
	printf("%s: fwd %lld frames, rx %lld/%lld, tx %lld/%lld, file %lld "
	       "(socat's socket dropped %lld), pool in use %lld\n", proto,
	       frames, rxp, rxb, txp, txb, fsz, sink_drops, inuse);
	if (fwd.status || frames <= 0) {
		proc_dump(&fwd, "jumbo fwd");
		proc_dump(&src, "iperf");
	}
	CHECK_EQ(fwd.status, 0);
	CHECK(frames > 0);
	CHECK_EQ(rxp, txp);
	CHECK_EQ(rxb, txb);
	/* What socat's socket dropped (its buffer full while the machine
	 * was busy) is the kernel's count, not ours to lose: all 8972. */
	CHECK(sink_drops >= 0);
	CHECK_EQ(fsz + sink_drops * 8972, txb);
	CHECK_EQ(inuse, 0);
	CHECK_EQ(json_num(fwd.obuf, "tx", "pages_held"), 0);
	if (tcp)
		CHECK_EQ(txb, 64ll << 20);
	else {
		/* iperf says how many it sent; each one reached fwd or is
		 * in the kernel's drop count of fwd's socket (a busy machine
		 * may fill it even at 300 Mbit/s): none is lost uncounted.
		 * Its final datagrams may come more than once. */
		const char *s = strstr(src.obuf, "Sent ");
		long long sent = s ? atoll(s + 5) : -1;
		long long kdrops = json_num(fwd.obuf, "rx", "kernel_drops");
		CHECK(sent > 0);
		CHECK(kdrops >= 0);
		CHECK(frames + kdrops >= sent);
	}
	unlink(file);
}

/* netcat -> fwd (tcp, zero copy kept) -> socat: the same bytes. */
static void netcat(void)
{
	unsigned out = free_port(SOCK_STREAM), in;
	char src[64], dst[64], lst[96], fileaddr[96], cmd[256], to[64];
	struct proc sink, fwd, nc;
	static char buf[1 << 16];
	int fd;

	snprintf(src, sizeof(src), "/tmp/jumbo-fwd-%d-nc-in", (int)getpid());
	snprintf(dst, sizeof(dst), "/tmp/jumbo-fwd-%d-nc-out", (int)getpid());
	fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	srand(7);
	for (int i = 0; i < 320; i++) { /* 20 MiB of noise */
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (char)rand();
		REQUIRE(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	}
	close(fd);
	snprintf(lst, sizeof(lst), "TCP-LISTEN:%u,bind=127.0.0.1,reuseaddr", out);
	snprintf(fileaddr, sizeof(fileaddr), "CREATE:%s", dst);
	proc_start(&sink, (char *const[]){ "socat", "-u", lst, fileaddr, NULL });
	REQUIRE(net_wait_bound(1, out, PROC_HANG_MS) == 0);
	snprintf(to, sizeof(to), "tcp:127.0.0.1:%u", out);
	proc_start(&fwd, (char *const[]){ (char *)bin, "fwd", "--from",
		   "tcp:127.0.0.1:0", "--to", to, "--zc-always", "--json",
		   "--duration", "600", NULL });
	in = proc_port(&fwd, PROC_HANG_MS);
	REQUIRE(in != 0);
	snprintf(cmd, sizeof(cmd), "nc -N 127.0.0.1 %u < %s", in, src);
	CHECK_EQ(proc_run(&nc, (char *const[]){ "sh", "-c", cmd, NULL }, PROC_HANG_MS), 0);
	/* All of it at socat first: see one(). */
	for (struct timespec t0 = now_ts();
	     file_size(dst) != 320ll << 16 && ms_since(&t0) < PROC_HANG_MS;)
		usleep(10000);
	CHECK_EQ(proc_stop_drained(fwd.pid, 1, in, 0, PROC_HANG_MS), 0);
	proc_wait(&fwd, PROC_HANG_MS);
	proc_wait(&sink, PROC_HANG_MS);
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", src, dst);
	printf("netcat: fwd %lld bytes, zc_sends %lld, pool in use %lld\n",
	       json_num(fwd.obuf, "tx", "bytes"),
	       json_num(fwd.obuf, "tx", "zc_sends"),
	       json_num(fwd.obuf, "pool", "in_use"));
	CHECK_EQ(fwd.status, 0);
	CHECK(json_num(fwd.obuf, "tx", "zc_sends") > 0);
	CHECK_EQ(json_num(fwd.obuf, "tx", "bytes"), 320ll << 16);
	CHECK_EQ(json_num(fwd.obuf, "pool", "in_use"), 0);
	CHECK_EQ(system(cmd), 0);
	unlink(src);
	unlink(dst);
}

int main(void)
{
	bin = jumbo_bin();
	if (!have_prog("iperf") || !have_prog("socat"))
		skip("iperf 2 and socat are needed");
	signal(SIGPIPE, SIG_IGN);
	one("udp");
	one("tcp");
	if (have_prog("nc"))
		netcat();
	return check_failures ? 1 : 0;
}
