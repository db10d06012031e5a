/*
 * MEXTADD, the jumbo(9) idiom, must not fail unnoticed: it evaluates to
 * m_extadd's result, and every refusal prints what was wrong.  The call
 * that jumbo(3)'s example once made (args and flags shifted, type 0) is
 * refused and reported; so are EXT_JUMBO without a free routine and a
 * size other than the page size, with a message that says so.  The right
 * call attaches the page, and m_freem gives it back.
 */
#include "check.h"

#include <jumbo/mbuf.h>

static struct { caddr_t kva; int type; } bad_call;

static void run_bad_call(void *arg)
{
	struct mbuf *m = m_gethdr(M_NOWAIT, MT_DATA);
	int r = (int)(long)arg == 0
		? MEXTADD(m, bad_call.kva, jumbo_page_size(), jumbo_freem,
			  bad_call.kva, 0, 0)
		: (int)(long)arg == 1
		? MEXTADD(m, bad_call.kva, jumbo_page_size(), NULL, NULL, 0,
			  EXT_JUMBO)
		: MEXTADD(m, bad_call.kva, 9000, jumbo_freem, NULL, 0,
			  EXT_JUMBO);
	fprintf(stderr, "result %d\n", r);
	m_freem(m);
	_exit(r == -EINVAL ? 0 : 1);
}

static void expect_report(const char *what, long which, const char *const *want)
{
	char buf[4096];
	int st = run_child(run_bad_call, (void *)which, buf, sizeof(buf));
	int ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	for (const char *const *w = want; *w; w++)
		if (!strstr(buf, *w))
			ok = 0;
	if (!ok) {
		fprintf(stderr, "%s: expected -EINVAL and a report with", what);
		for (const char *const *w = want; *w; w++)
			fprintf(stderr, " \"%s\"", *w);
		fprintf(stderr, "; status %d, stderr: %s\n", st, buf);
		check_failures++;
	}
}

static uint64_t in_use(void)
{
	struct jumbo_stats st;
	REQUIRE(jumbo_pool_stats(jumbo_default_pool(), &st) == 0);
	return st.in_use;
}

int main(void)
{
	REQUIRE(jumbo_vm_init());
	vm_page_t pg = jumbo_pg_alloc();
	REQUIRE(pg);
	bad_call.kva = jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg));
	REQUIRE(bad_call.kva);

	const char *w0[] = { "m_extadd", "type 0", NULL };
	expect_report("the old jumbo(3) example", 0, w0);
	const char *w1[] = { "m_extadd", "without a free routine", NULL };
	expect_report("EXT_JUMBO without a free routine", 1, w1);
	const char *w2[] = { "m_extadd", "size 9000", "page size", NULL };
	expect_report("EXT_JUMBO with a wrong size", 2, w2);

	/* The idiom done right: the page goes back at m_freem. */
	uint64_t before = in_use();
	struct mbuf *m = m_gethdr(M_NOWAIT, MT_DATA);
	REQUIRE(m);
	CHECK_EQ(MEXTADD(m, bad_call.kva, jumbo_page_size(), jumbo_freem, NULL,
			 0, EXT_JUMBO), 0);
	CHECK(m->m_flags & M_EXT);
	m_freem(m);
	CHECK_EQ(in_use(), before - 1);
	return check_done("mextadd");
}
