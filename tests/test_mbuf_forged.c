/*
 * A block that is not an mbuf but looks like one: 256-byte aligned heap
 * memory whose m_type reads MT_DATA.  m_free must abort naming it (never
 * accept it, which would hand the heap block out as the next mbuf), and
 * every other entry point must refuse it with EINVAL before it reads a
 * field, leaving it untouched.  The same for a forged mbuf in the middle
 * of a real chain, and for an address inside a real slab but not at an
 * mbuf's start.
 */
#include "check.h"

#include <jumbo/mbuf.h>
#include <stdalign.h>

static struct mbuf *forge(void)
{
	struct mbuf *f = aligned_alloc(MSIZE, MSIZE);
	REQUIRE(f);
	memset(f, 0, MSIZE);
	f->m_type = MT_DATA;
	f->m_data = f->m_dat;
	f->m_len = 10;
	return f;
}

static void free_forged(void *arg)
{
	struct mbuf *f = forge();
	m_free(f);
	/* Accepted: the block is now on the free list; show where it goes. */
	struct mbuf *m = m_get(M_NOWAIT, MT_DATA);
	fprintf(stderr, "accepted: m_get returned %s\n",
		m == f ? "the forged block" : "an mbuf");
}

static void freem_forged_tail(void *arg)
{
	struct mbuf *m = m_get(M_NOWAIT, MT_DATA);
	m->m_next = forge();
	m_freem(m);
}

static void free_inside(void *arg)
{
	struct mbuf *m = m_get(M_NOWAIT, MT_DATA);
	m_free((struct mbuf *)(void *)((char *)m + MSIZE / 2));
}

int main(void)
{
	const char *w[] = { "m_free", "not an mbuf", NULL };
	expect_abort("m_free of a forged mbuf", free_forged, NULL, w);
	const char *w2[] = { "m_freem", "not an mbuf", NULL };
	expect_abort("m_freem of a chain with a forged mbuf", freem_forged_tail,
		     NULL, w2);
	expect_abort("m_free inside a slab", free_inside, NULL, w);

	/* The other entry points refuse it and leave it alone. */
	struct mbuf *f = forge(), before;
	char buf[16];
	static char ext[64];
	memcpy(&before, f, sizeof(before));
	errno = 0;
	CHECK(m_copym(f, 0, M_COPYALL, M_NOWAIT) == NULL && errno == EINVAL);
	CHECK_EQ(m_copydata(f, 0, 1, buf), -EINVAL);
	CHECK_EQ(m_length(f, NULL), 0);
	m_adj(f, 5);
	m_adj(f, -5);
	errno = 0;
	CHECK(m_pullup(f, 20) == NULL && errno == EINVAL);
	CHECK_EQ(m_extadd(f, ext, sizeof(ext), NULL, NULL, 0, EXT_EXTREF),
		 -EINVAL);
	CHECK_EQ(jumbo_deliver(f, buf, sizeof(buf), JUMBO_DELIVER_COPY, NULL),
		 -EINVAL);
	CHECK(memcmp(&before, f, sizeof(before)) == 0);

	/* A real chain whose second mbuf is forged: refused as a whole. */
	struct mbuf *m = m_gethdr(M_NOWAIT, MT_DATA);
	REQUIRE(m);
	m->m_len = 4;
	m->m_next = f;
	m->m_pkthdr.len = 14;
	CHECK(m_copym(m, 0, M_COPYALL, M_NOWAIT) == NULL && errno == EINVAL);
	CHECK_EQ(m_copydata(m, 0, 14, buf), -EINVAL);
	CHECK_EQ(m_length(m, NULL), 0);
	m_adj(m, 2);
	CHECK_EQ(m->m_len, 4);
	CHECK(m_pullup(m, 12) == NULL && errno == EINVAL);
	CHECK(memcmp(&before, f, sizeof(before)) == 0);
	m->m_next = NULL;
	CHECK(m_free(m) == NULL);
	free(f);
	return check_done("mbuf_forged");
}
