/*
 * Shared reference counts across threads: one thread makes copies of an
 * mbuf that holds the counter (m_copym) while another frees the copies.
 * Every access to the counter must be atomic, so ThreadSanitizer (the CI's
 * thread build) sees no race; the free routine runs exactly once, at the
 * end.  In a build without TSan the test still checks the counts.
 */
#include "check.h"

#include <jumbo/mbuf.h>
#include <pthread.h>

#define ROUNDS 20000
#define RING 64

static struct mbuf *ring[RING];
static unsigned head, tail; /* head: producer's, tail: consumer's */
static int free_calls;

static void ext_free(caddr_t buf, void *args)
{
	(void)buf;
	__atomic_fetch_add((int *)args, 1, __ATOMIC_RELAXED);
}

/* Single producer, single consumer: release publishes the slot. */
static void put(struct mbuf *m)
{
	unsigned h = head;
	while (h - __atomic_load_n(&tail, __ATOMIC_ACQUIRE) == RING)
		sched_yield();
	ring[h % RING] = m;
	__atomic_store_n(&head, h + 1, __ATOMIC_RELEASE);
}

static struct mbuf *take(void)
{
	unsigned t = tail;
	while (__atomic_load_n(&head, __ATOMIC_ACQUIRE) == t)
		sched_yield();
	struct mbuf *m = ring[t % RING];
	__atomic_store_n(&tail, t + 1, __ATOMIC_RELEASE);
	return m;
}

static void *freer(void *arg)
{
	for (unsigned i = 0; i < ROUNDS; i++)
		m_freem(take());
	return arg;
}

int main(void)
{
	static char ext[2048];
	pthread_t t;
	struct mbuf *m = m_gethdr(M_NOWAIT, MT_DATA);

	REQUIRE(m);
	REQUIRE(m_extadd(m, ext, sizeof(ext), ext_free, &free_calls, 0,
			 EXT_EXTREF) == 0);
	m->m_len = m->m_pkthdr.len = sizeof(ext);
	REQUIRE(pthread_create(&t, NULL, freer, NULL) == 0);
	/* m holds the counter; each copy reads m's m_ext while the other
	 * thread drops earlier copies' references from that counter. */
	for (unsigned i = 0; i < ROUNDS; i++) {
		struct mbuf *c = m_copym(m, 0, M_COPYALL, M_NOWAIT);
		REQUIRE(c);
		put(c);
	}
	pthread_join(t, NULL);
	CHECK_EQ(*m->m_ext.ext_cnt, 1);
	CHECK_EQ(free_calls, 0);
	m_freem(m);
	CHECK_EQ(free_calls, 1);
	return check_done("mbuf_refcnt");
}
