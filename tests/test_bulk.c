/*
 * The batch calls' runs (cache.c): jumbo_pool_alloc_bulk and
 * jumbo_pool_free_bulk check and change a run of consecutive pages at
 * once.  A bad entry anywhere inside a run (a double free, a held page, an
 * address inside a page, one past the cap, a run given twice) must be
 * caught as the page-by-page path catches it: the error returned, that
 * entry left alone, the others freed, and no page handed out twice after.
 * The same on a named pool, whose batch path is its own (shm.c), and
 * there also two processes freeing the same batch of a third process's
 * pages at once: each page is freed by one of them, the other told
 * EALREADY, and none is handed out twice after; and a burst of this
 * process's runs with another process's pages among them, freed whole.
 * Randomized where the bad entry sits: the seed is printed
 * and taken as the first argument.
 */
#include "check.h"

#include <jumbo/jumbo.h>

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

enum { CAP = 2048, BURST = 512 };

static struct jumbo_pool *pool;
static void *v[CAP + 64];

static uint64_t in_use(void)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(pool, &st) == 0);
	return st.in_use;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The pool is whole: every page it can hand out comes out once, page
 * aligned, and the count is the cap less what is in use.
 */
static void check_whole(const char *what)
{
	static void *all[CAP + 1];
	uint64_t used = in_use();
	unsigned n = jumbo_pool_alloc_bulk(pool, all, CAP + 1);

	if (n != CAP - used)
		fprintf(stderr, "%s: %u pages to be had, expected %llu\n", what,
			n, (unsigned long long)(CAP - used));
	CHECK_EQ(n, CAP - used);
	qsort(all, n, sizeof(all[0]), cmp_ptr);
	for (unsigned i = 0; i < n; i++) {
		CHECK(((uintptr_t)all[i] & 4095) == 0);
		if (i && all[i] == all[i - 1]) {
			fprintf(stderr, "%s: %p handed out twice\n", what, all[i]);
			check_failures++;
		}
	}
	CHECK_EQ(jumbo_pool_free_bulk(pool, all, n), 0);
	CHECK_EQ(in_use(), used);
}

/* A burst whose pages come in runs (pages carved together come back
 * together): it is what the run paths see. */
static void take(void)
{
	REQUIRE(jumbo_pool_alloc_bulk(pool, v, BURST) == BURST);
	CHECK_EQ(in_use(), BURST);
	unsigned runs = 0;
	for (unsigned i = 1; i < BURST; i++)
		runs += (char *)v[i] - (char *)v[i - 1] != 4096 &&
			(char *)v[i - 1] - (char *)v[i] != 4096;
	CHECK(runs < BURST / 32); /* mostly runs, or this tests nothing */
}

/* Every bad entry inside runs, twenty times, on the pool made last. */
static void bad_entries(uint64_t *seed)
{
	for (int round = 0; round < 20; round++) {
		unsigned r = (unsigned)(rnd(seed) % BURST);
		char *keep;

		/* Good runs, both ways. */
		take();
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), 0);
		CHECK_EQ(in_use(), 0);

		/* A double free inside a run. */
		take();
		CHECK_EQ(jumbo_pool_free(pool, v[r]), 0);
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), -EALREADY);
		CHECK_EQ(in_use(), 0);
		check_whole("double free in a run");

		/* A held page inside a run: its free waits for the unhold. */
		take();
		CHECK_EQ(jumbo_pool_hold(pool, v[r]), 0);
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), 0);
		CHECK_EQ(jumbo_page_state(jumbo_pool_page(pool, v[r]), NULL, NULL),
			 JUMBO_PG_HELD);
		CHECK_EQ(jumbo_pool_unhold(pool, v[r]), 0);
		CHECK_EQ(in_use(), 0);
		check_whole("held page in a run");

		/* An address inside a page, inside a run: left alone. */
		take();
		keep = v[r];
		v[r] = keep + 1 + rnd(seed) % 4095;
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), -EINVAL);
		CHECK_EQ(in_use(), 1);
		CHECK_EQ(jumbo_page_state(jumbo_pool_page(pool, keep), NULL, NULL),
			 JUMBO_PG_ALLOC);
		CHECK_EQ(jumbo_pool_free(pool, keep), 0);
		check_whole("address inside a page in a run");

		/* A run given twice in one batch: the second is refused. */
		take();
		memcpy(v + BURST, v + r / 64 * 64, 64 * sizeof(v[0]));
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST + 64), -EALREADY);
		CHECK_EQ(in_use(), 0);
		check_whole("a run twice in a batch");

		/* The whole burst freed again: refused, nothing changed. */
		take();
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), 0);
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), -EALREADY);
		CHECK_EQ(in_use(), 0);
		check_whole("a burst freed twice");
	}

	/*
	 * A run that steps past the cap: the pool's last pages, then
	 * addresses beyond its reservation, one page apart.  The pages are
	 * freed, the rest refused as outside the pool.
	 */
	{
		static void *all[CAP];
		char *base = JUMBO_HEAD(pool)->ph_base;
		unsigned k = 16 + (unsigned)(rnd(seed) % 32), n;

		REQUIRE((n = jumbo_pool_alloc_bulk(pool, all, CAP)) == CAP);
		for (unsigned i = 0; i < 64; i++)
			v[i] = base + (size_t)(CAP - k + i) * 4096;
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, 64), -EFAULT);
		CHECK_EQ(in_use(), CAP - k);
		/* and downwards, from below the base */
		for (unsigned i = 0; i < 64; i++)
			v[i] = base + ((ptrdiff_t)k - 64 + 63 - (ptrdiff_t)i) * 4096;
		CHECK_EQ(jumbo_pool_free_bulk(pool, v, 64), -EFAULT);
		CHECK_EQ(in_use(), CAP - 2 * k);
		for (unsigned i = 0; i < CAP; i++) {
			size_t f = ((char *)all[i] - base) / 4096;
			if (f >= k && f < CAP - k)
				CHECK_EQ(jumbo_pool_free(pool, all[i]), 0);
		}
		CHECK_EQ(in_use(), 0);
		check_whole("runs past the ends");
	}
}

/*
 * Two processes free the same batch at once, each through its own
 * handle of the named pool: the parent a run of its pages, the child the
 * same pages by their I/O addresses (in the same order, or each slice backwards),
 * meeting before each slice of it.  Each page must be freed by exactly
 * one of them: the two sides' counts of frees add up to the batch, the
 * pool ends whole, and each side that lost a page was told EALREADY.
 */
enum { ROUNDS = 100, SLICES = 16, SLICE = BURST / SLICES };


struct race {
	vm_paddr_t iova[BURST];
	unsigned round;     /* the round the child may start */
	unsigned done;      /* the round the child has finished */
	int child_err;      /* its free_bulk's result */
	uint64_t child_freed; /* how many pages it freed (its stats) */
	unsigned go;        /* arrivals at the slices' meetings */
	unsigned attached;  /* the child has its handle */
	unsigned adopt;     /* the round whose pages the holder takes */
	unsigned adopted;   /* the round whose pages it has taken */
	unsigned holder_attached;
};

/*
 * The third process: it takes the round's pages over (jumbo_pool_adopt),
 * so that both freers free another process's pages, which is where
 * jumbo_pool(3) promises EALREADY to one of two frees at once (a
 * process's own pages are freed with a plain store, as in a private
 * pool, and such a race there goes uncaught).
 */
static void holder_child(struct race *r, const char *name)
{
	struct jumbo_pool *hp;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1 ||
	    !(hp = jumbo_pool_attach(name, 0)))
		_exit(2);
	__atomic_store_n(&r->holder_attached, 1, __ATOMIC_RELEASE);
	for (unsigned round = 1; round <= ROUNDS; round++) {
		/* Acquire: the round's addresses before they are taken. */
		while (__atomic_load_n(&r->adopt, __ATOMIC_ACQUIRE) < round)
			sched_yield();
		for (unsigned i = 0; i < BURST; i++)
			if (jumbo_pool_adopt(hp, jumbo_pool_iova_to_addr(
						     hp, r->iova[i])) != 0)
				_exit(4);
		/* Release: the pages are ours before the race starts. */
		__atomic_store_n(&r->adopted, round, __ATOMIC_RELEASE);
	}
	/* Leave once the parent says the last pages are freed, owning
	 * none.  Acquire: pairs with its release of adopt = ROUNDS + 1. */
	while (__atomic_load_n(&r->adopt, __ATOMIC_ACQUIRE) <= ROUNDS)
		sched_yield();
	_exit(jumbo_pool_destroy(hp) == 0 ? 0 : 3);
}

/* The frees this process has made in pool p so far. */
static uint64_t frees_of(struct jumbo_pool *p)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(p, &st) == 0);
	return st.frees;
}

/* Spin until *w reaches want; the parent (child > 0) gives up if it died. */
static void spin_until(unsigned *w, unsigned want, pid_t child)
{
	unsigned n = 0;
	int status;

	/* Acquire: pairs with the other side's release store. */
	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) < want) {
		/* The other side may be waiting for this CPU. */
		if (++n % 16384 == 0)
			sched_yield();
		if (child > 0 && n % 65536 == 0 &&
		    waitpid(child, &status, WNOHANG) == child) {
			fprintf(stderr, "the child died (status %#x)\n", status);
			exit(1);
		}
	}
}

/*
 * Both sides free slice after slice of the batch, meeting before each
 * (go counts the arrivals), so that they overlap whatever the scheduler
 * does between slices; the first error of a side is its result.
 */
static int free_slices(struct jumbo_pool *p, void **a, unsigned *go,
		       unsigned round, pid_t child)
{
	int first = 0;

	for (unsigned k = 0; k < SLICES; k++) {
		unsigned seq = (round - 1) * SLICES + k + 1;
		__atomic_fetch_add(go, 1, __ATOMIC_ACQ_REL);
		spin_until(go, 2 * seq, child);
		int err = jumbo_pool_free_bulk(p, a + k * SLICE, SLICE);
		if (err && !first)
			first = err;
	}
	return first;
}

static void race_child(struct race *r, const char *name)
{
	struct jumbo_pool *cp;
	void *mine[BURST];

	/* Never outlive the parent, whatever ends it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1 ||
	    !(cp = jumbo_pool_attach(name, 0)))
		_exit(2);
	/* Attached: the name can go (nothing left in /dev/shm if we die). */
	__atomic_store_n(&r->attached, 1, __ATOMIC_RELEASE);
	for (unsigned round = 1; round <= ROUNDS; round++) {
		spin_until(&r->round, round, 0);
		/* Odd rounds each slice backwards: the two meet inside it. */
		for (unsigned i = 0; i < BURST; i++) {
			unsigned j = round % 2 ? i / SLICE * SLICE + SLICE - 1 -
							 i % SLICE
					       : i;
			mine[i] = jumbo_pool_iova_to_addr(cp, r->iova[j]);
		}
		uint64_t before = frees_of(cp);
		r->child_err = free_slices(cp, mine, &r->go, round, 0);
		r->child_freed = frees_of(cp) - before;
		/* Its cache's pages back to the depot, for the parent's count. */
		jumbo_pool_flush_cache(cp);
		/* Release: the result and the flush before the round ends. */
		__atomic_store_n(&r->done, round, __ATOMIC_RELEASE);
	}
	_exit(jumbo_pool_destroy(cp) == 0 ? 0 : 3);
}

static void cross_process_double_free(const char *name, uint64_t *seed)
{
	struct race *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned lost_parent = 0, lost_child = 0;
	int status;
	pid_t pid, holder;

	REQUIRE(r != MAP_FAILED);
	memset(r, 0, sizeof(*r));
	fflush(NULL);
	REQUIRE((pid = fork()) >= 0);
	if (pid == 0)
		race_child(r, name);
	spin_until(&r->attached, 1, pid);
	REQUIRE((holder = fork()) >= 0);
	if (holder == 0)
		holder_child(r, name);
	spin_until(&r->holder_attached, 1, holder);
	CHECK_EQ(jumbo_pool_unlink(name), 0);
	for (unsigned round = 1; round <= ROUNDS; round++) {
		/*
		 * A run of the pool's frames, from a random first one: after
		 * a round the pages come back in the child's cache's order,
		 * so the whole pool is taken and sorted, and the rest freed.
		 */
		static void *all[CAP];
		unsigned off = (unsigned)(rnd(seed) % (CAP - BURST + 1));
		REQUIRE(jumbo_pool_alloc_bulk(pool, all, CAP) == CAP);
		qsort(all, CAP, sizeof(all[0]), cmp_ptr);
		memcpy(v, all + off, BURST * sizeof(v[0]));
		CHECK_EQ(jumbo_pool_free_bulk(pool, all, off), 0);
		CHECK_EQ(jumbo_pool_free_bulk(pool, all + off + BURST,
					      CAP - off - BURST), 0);
		for (unsigned i = 0; i < BURST; i++)
			r->iova[i] = jumbo_pool_iova(pool, v[i]);
		/* Release: the addresses before the holder takes them. */
		__atomic_store_n(&r->adopt, round, __ATOMIC_RELEASE);
		spin_until(&r->adopted, round, holder);
		/* Release: the addresses before the round starts. */
		__atomic_store_n(&r->round, round, __ATOMIC_RELEASE);
		uint64_t before = frees_of(pool);
		int err = free_slices(pool, v, &r->go, round, pid);
		uint64_t freed = frees_of(pool) - before;
		spin_until(&r->done, round, pid);
		/* Every page freed once: by one side or the other. */
		if (freed + r->child_freed != BURST)
			fprintf(stderr, "round %u: %llu + %llu pages freed of %u\n",
				round, (unsigned long long)freed,
				(unsigned long long)r->child_freed, BURST);
		CHECK_EQ(freed + r->child_freed, BURST);
		CHECK(err == 0 || err == -EALREADY);
		CHECK(r->child_err == 0 || r->child_err == -EALREADY);
		/* Each page was freed twice: one side, at least, lost one. */
		CHECK(err == -EALREADY || r->child_err == -EALREADY);
		lost_parent += err != 0;
		lost_child += r->child_err != 0;
		jumbo_pool_flush_cache(pool);
		CHECK_EQ(in_use(), 0);
		if (round % 100 == 0)
			check_whole("two processes freeing one batch");
	}
	/* Release: every round's pages freed before the holder leaves. */
	__atomic_store_n(&r->adopt, ROUNDS + 1, __ATOMIC_RELEASE);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	REQUIRE(waitpid(holder, &status, 0) == holder);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("bulk: %u rounds of two processes freeing one batch: the "
	       "parent lost pages in %u, the child in %u\n", ROUNDS,
	       lost_parent, lost_child);
	munmap(r, sizeof(*r));
}

/*
 * A named pool's batch free takes its own pages a run at a time with plain
 * stores, and another process's by compare-and-swap: a burst of runs of
 * this process's pages with some of them another process's (adopted by a
 * child, which then waits) must still be freed whole, each page once,
 * and a double free among them refused as before.  Random pages and
 * counts each round.
 */
struct mixed {
	vm_paddr_t iova[8]; /* each process maps the pool where it likes */
	unsigned n;      /* pages the child is to adopt */
	unsigned round;  /* the round whose pages it adopts */
	unsigned done;   /* the round it has adopted */
};

static void mixed_child(struct mixed *m, const char *name)
{
	struct jumbo_pool *hp;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1 ||
	    !(hp = jumbo_pool_attach(name, 0)))
		_exit(2);
	for (unsigned round = 1; round <= 20; round++) {
		spin_until(&m->round, round, 0);
		for (unsigned i = 0; i < m->n; i++)
			if (jumbo_pool_adopt(hp, jumbo_pool_iova_to_addr(
						     hp, m->iova[i])) != 0)
				_exit(4);
		/* Release: the pages are the child's before the free. */
		__atomic_store_n(&m->done, round, __ATOMIC_RELEASE);
	}
	/* Round 21: every page is back; leave owning none. */
	spin_until(&m->round, 21, 0);
	_exit(jumbo_pool_destroy(hp) == 0 ? 0 : 3);
}

static void mixed_owners(const char *name, uint64_t *seed)
{
	struct mixed *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status;
	pid_t pid;

	REQUIRE(m != MAP_FAILED);
	memset(m, 0, sizeof(*m));
	fflush(NULL);
	REQUIRE((pid = fork()) >= 0);
	if (pid == 0)
		mixed_child(m, name);
	for (unsigned round = 1; round <= 20; round++) {
		unsigned r = (unsigned)(rnd(seed) % BURST);

		take();
		unsigned at = (unsigned)(rnd(seed) % BURST);
		m->n = 1 + (unsigned)(rnd(seed) % 8);
		/* Distinct pages (61 is prime to BURST): in runs and across. */
		for (unsigned i = 0; i < m->n; i++)
			m->iova[i] = jumbo_pool_iova(pool, v[(at + i * 61) % BURST]);
		/* Release: the addresses before the child takes them. */
		__atomic_store_n(&m->round, round, __ATOMIC_RELEASE);
		spin_until(&m->done, round, pid);
		if (round % 2) {
			CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), 0);
		} else {
			/* and a double free among them: still caught */
			CHECK_EQ(jumbo_pool_free(pool, v[r]), 0);
			CHECK_EQ(jumbo_pool_free_bulk(pool, v, BURST), -EALREADY);
		}
		CHECK_EQ(in_use(), 0);
		check_whole("a burst with another process's pages");
	}
	/* Release: the child may leave. */
	__atomic_store_n(&m->round, 21, __ATOMIC_RELEASE);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	munmap(m, sizeof(*m));
}

int main(int argc, char **argv)
{
	uint64_t seed = test_seed(argc, argv, "bulk");
	struct jumbo_pool_params pp;
	char name[32];

	jumbo_pool_params_init(&pp);
	pp.max_pages = CAP;
	pp.init_pages = CAP;
	pp.reserve_pages = 0;
	REQUIRE((pool = jumbo_pool_create(&pp)) != NULL);
	bad_entries(&seed);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);

	/* A named pool: its own batch path. */
	snprintf(name, sizeof(name), "bulk-%d", (int)getpid());
	pp.name = name;
	pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	pool = jumbo_pool_create(&pp);
	if (!pool && (errno == ENOENT || errno == EACCES)) {
		printf("bulk: no /dev/shm for a named pool (%s): private pool "
		       "only\n", strerror(errno));
		return check_done("bulk");
	}
	REQUIRE(pool != NULL);
	bad_entries(&seed);
	mixed_owners(name, &seed);
	cross_process_double_free(name, &seed);
	CHECK_EQ(jumbo_pool_destroy(pool), 0);
	return check_done("bulk");
}
