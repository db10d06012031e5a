/*
 * An interface going down under a udp sender, for real: in a network
 * namespace of its own (unshare: it goes away with the process, whatever
 * happens), a veth pair carries the datagrams, then one end is set down
 * with ip(8).  Sends to it then fail (no route): each frame is dropped and
 * counted as unreachable, sending goes on, and every page comes back.
 * Needs root and ip(8), else skips.
 */
#include "test_tx.h"

#include <sched.h>

static void send_some(struct jumbo_tx *tx, struct jumbo_pool *pool, int n)
{
	for (int i = 0; i < n; i++) {
		struct mbuf *m = txt_frame(pool, 8972, (uint64_t)i);
		REQUIRE(m != NULL);
		CHECK_EQ(jumbo_tx_send(tx, &m, 1, JUMBO_TX_WAIT), 1);
	}
}

static int child(void)
{
	struct jumbo_pool *pool = txt_pool(2048, JUMBO_POOL_DEBUG);
	struct jumbo_tx_params p;
	struct jumbo_tx_stats st;
	struct jumbo_tx *tx;

	if (unshare(CLONE_NEWNET))
		skip("unshare(CLONE_NEWNET): %s (needs root)", strerror(errno));
	/* A static neighbour: no ARP to wait for; the peer end drops the
	 * frames (not its address), as a wire to nowhere would. */
	if (system("ip link set lo up && "
		   "ip link add jv0 mtu 9000 type veth peer name jv1 mtu 9000 && "
		   "ip addr add 10.77.0.1/24 dev jv0 && ip link set jv1 up && "
		   "ip link set jv0 up && ip neigh add 10.77.0.2 lladdr "
		   "02:00:00:00:00:02 dev jv0"))
		skip("ip(8) could not make a veth pair");
	jumbo_tx_params_init(&p);
	p.addr = "10.77.0.2";
	p.port = 9999;
	p.flags = JUMBO_TX_ZC_ALWAYS;
	tx = jumbo_tx_open(&p, NULL);
	if (!tx)
		fprintf(stderr, "open: %s\n", jumbo_tx_strerror());
	REQUIRE(tx != NULL);
	send_some(tx, pool, 100);
	jumbo_tx_complete(tx, 1000);
	jumbo_tx_stats(tx, &st);
	printf("up: %llu sent, %llu zero-copy sends done, %llu copied\n",
	       (unsigned long long)st.packets, (unsigned long long)st.zc_done,
	       (unsigned long long)st.zc_copied);
	CHECK_EQ(st.packets, 100);
	CHECK_EQ(st.unreachable, 0);
	REQUIRE(system("ip link set jv0 down") == 0);
	send_some(tx, pool, 100);
	CHECK_EQ(jumbo_tx_close(tx, &st), 0);
	printf("down: %llu sent, %llu unreachable, %llu dropped, %llu held\n",
	       (unsigned long long)st.packets,
	       (unsigned long long)st.unreachable,
	       (unsigned long long)st.dropped,
	       (unsigned long long)st.pages_held);
	CHECK(st.unreachable > 0);
	CHECK_EQ(st.packets + st.dropped, 200);
	CHECK_EQ(st.dropped, st.unreachable);
	CHECK_EQ(st.pages_held, 0);
	CHECK_EQ(txt_in_use(pool), 0);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_failures ? 1 : 0;
}

int main(void)
{
	int status;
	pid_t pid;

	if (geteuid() != 0)
		skip("needs root for a network namespace");
	/* The namespace lives in a child: it dies with it. */
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		exit(child());
	REQUIRE(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
