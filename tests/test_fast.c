/*
 * The inline fast paths of jumbo_pg_alloc and jumbo_pg_free
 * (<jumbo/jumbo.h>, struct jumbo_fast): every check the library makes is
 * still made when a program inlines them, and the library takes the
 * thread's cache away from the inline code whenever it must.
 *
 * Only the public header is used, so that fast.cmake can also build this
 * file as a user builds it (fast_installed.sh: the installed header,
 * pkg-config, libjumbo.so) and with -DJUMBO_NO_INLINE.  Covered:
 *   - the path is the inline one (jumbo_fast_seed is published and moves);
 *   - a double free, a foreign address, an address inside a page and an
 *     I/O address are refused with the function and the address, the
 *     program aborting before anything changed (as test_bad_input checks
 *     through the library's build);
 *   - a full cache, thread exit and counts that balance;
 *   - a drain request from another thread withdraws the pointer, so that
 *     the owner's next call gives its pages back;
 *   - a debug pool (JUMBO_DEBUG=1) never publishes one;
 *   - built optimised with GCC, the inline allocation and the manual
 *     page's translation read no descriptor (the header tells the
 *     compiler the page's I/O address), checked with the descriptors
 *     unreadable;
 *   - linked with libjumbo.so (fast_installed.sh, with GCC and with
 *     Clang), the inline paths run no code of the library's
 *     jumbo_pg_alloc and jumbo_pg_free (checked with that code
 *     unreadable), and the names still designate the library's
 *     functions (a call through their address).
 */
#include "check.h"

#include <dlfcn.h>
#include <jumbo/jumbo.h>
#include <link.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The manual page's prototypes, as a program may repeat them: they must
 * still compile where the header makes the names macros (Clang). */
vm_page_t jumbo_pg_alloc(void);
void jumbo_pg_free(vm_offset_t addr);

enum { CAP = 256 }; /* the default pool's cap here: a cache holds 64 */

static int inlined(void)
{
#ifdef JUMBO_NO_INLINE
	return 0;
#else
	return 1;
#endif
}

/*
 * One call each, kept out of line so that fast_installed.sh can look at
 * their code: with the inline paths each reads the thread pointer
 * (%fs), without them each is a bare call into the library.
 */
__attribute__((noinline, used)) static vm_page_t alloc_one(void)
{
	return jumbo_pg_alloc();
}

__attribute__((noinline, used)) static void free_one(caddr_t kva)
{
	jumbo_pg_free((vm_offset_t)kva);
}

static caddr_t kva_of(vm_page_t pg)
{
	return jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg));
}

/* The seed's allocation and translation as a program writes them, in one
 * function, where the header's hint about the page's address applies. */
__attribute__((noinline, used)) static caddr_t alloc_kva(void)
{
	vm_page_t pg = jumbo_pg_alloc();

	return pg ? jumbo_phys_to_kva(VM_PAGE_TO_PHYS(pg)) : NULL;
}

/*
 * The inline allocation tells the compiler that the page's I/O address
 * is the frame number shifted by the cache's shift, so that the
 * translation waits on no load of the descriptor or its pool (issue 15,
 * S1).  Checked with the descriptors' first page unreadable: the next
 * allocation (the page just freed, on top of the cache) and its
 * translation must not fault.  In a child, so that a fault fails the
 * check instead of the program.  Only where GCC optimises without a
 * sanitizer: elsewhere the hint may go unused, which is slower, not
 * wrong.
 */
static void translation_reads_no_descriptor(void)
{
#if !defined(JUMBO_NO_INLINE) && defined(__OPTIMIZE__) && \
	!defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
	!defined(__SANITIZE_THREAD__)
	const struct jumbo_pool_head *h = JUMBO_HEAD(jumbo_default_pool());
	long psz = sysconf(_SC_PAGESIZE);
	caddr_t kva = alloc_kva();

	REQUIRE(kva != NULL);
	free_one(kva);
	/* The mapping of the descriptors starts at ph_pages (its own mmap). */
	if ((size_t)(kva - h->ph_base) >> h->ph_shift >=
	    (size_t)psz / sizeof(struct vm_page)) {
		fprintf(stderr, "fast: descriptor check skipped (frame past the "
				"first page of descriptors)\n");
		return;
	}
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		if (mprotect(h->ph_pages, (size_t)psz, PROT_NONE) != 0)
			_exit(3);
		caddr_t again = alloc_kva();
		int ok = again == kva;
		free_one(again);
		mprotect(h->ph_pages, (size_t)psz, PROT_READ | PROT_WRITE);
		_exit(ok ? 0 : 2);
	}
	int st;
	REQUIRE(waitpid(pid, &st, 0) == pid);
	if (WIFSIGNALED(st))
		fprintf(stderr, "fast: the inline translation read a descriptor "
				"(signal %d)\n", WTERMSIG(st));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#endif
}

/*
 * Makes the code of the library's function fn unreadable (PROT_NONE, its
 * whole pages): 1, or 0 with the reason printed when fn is not in a
 * shared library here (linked statically: its pages may hold this
 * program's own code).  In a child only.
 */
static int hide_code(void *fn, const char *name)
{
	Dl_info di;
	const ElfW(Sym) *sym = NULL;
	long psz = sysconf(_SC_PAGESIZE);

	if (!dladdr1(fn, &di, (void **)&sym, RTLD_DL_SYMENT) || !sym ||
	    !di.dli_fname || !strstr(di.dli_fname, "libjumbo.so")) {
		fprintf(stderr, "fast: %s is not libjumbo.so's here (%s)\n",
			name, di.dli_fname ? di.dli_fname : "?");
		return 0;
	}
	uintptr_t lo = (uintptr_t)di.dli_saddr & ~(uintptr_t)(psz - 1);
	uintptr_t hi = (uintptr_t)di.dli_saddr + sym->st_size;
	if (mprotect((void *)lo, hi - lo, PROT_NONE) != 0) {
		fprintf(stderr, "fast: mprotect: %s\n", strerror(errno));
		return 0;
	}
	return 1;
}

/*
 * The inline paths call neither library function: with the code of the
 * library's jumbo_pg_alloc and jumbo_pg_free unreadable, pairs of
 * allocation and free on a warm cache must not fault (a call through the PLT would, lazily bound or not).
 * Only with libjumbo.so: the line printed tells fast_installed.sh that
 * the check ran.
 */
static void inline_calls_no_library(void)
{
	if (!inlined())
		return;
	vm_page_t pg = alloc_one();
	REQUIRE(pg != NULL);
	free_one(kva_of(pg)); /* on top of the cache, which is published */
	REQUIRE(jumbo_fast_seed != NULL && jumbo_fast_seed->len > 0);
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		if (!hide_code((void *)jumbo_pg_alloc, "jumbo_pg_alloc") ||
		    !hide_code((void *)jumbo_pg_free, "jumbo_pg_free"))
			_exit(77);
		for (int i = 0; i < 1000; i++) {
			vm_page_t p = alloc_one();
			caddr_t kva = p ? kva_of(p) : NULL;
			if (!kva)
				_exit(2);
			free_one(kva);
		}
		_exit(0);
	}
	int st;
	REQUIRE(waitpid(pid, &st, 0) == pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		return; /* the reason was printed */
	if (WIFSIGNALED(st))
		fprintf(stderr, "fast: the inline paths called the library "
				"(signal %d)\n", WTERMSIG(st));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		printf("fast: the inline paths call neither library function\n");
}

/* The names designate the library's functions: a call through their
 * address takes the same page and gives it back. */
static void through_address(void)
{
	vm_page_t (*volatile pa)(void) = jumbo_pg_alloc;
	void (*volatile pf)(vm_offset_t) = &jumbo_pg_free;
	uint64_t n = jumbo_fast_seed ? jumbo_fast_seed->allocs : 0;
	vm_page_t pg = pa();

	REQUIRE(pg != NULL);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_ALLOC);
	/* The library's function runs the same fast path on the same cache. */
	CHECK(jumbo_fast_seed && jumbo_fast_seed->allocs == n + 1);
	pf((vm_offset_t)kva_of(pg));
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_FREE);
	pg = (jumbo_pg_alloc)();
	REQUIRE(pg != NULL);
	(jumbo_pg_free)((vm_offset_t)kva_of(pg));
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_FREE);
}

static uint64_t in_use(void)
{
	struct jumbo_stats st;

	REQUIRE(jumbo_pool_stats(jumbo_default_pool(), &st) == 0);
	return st.in_use;
}

/* ---- refused frees: each in a child that must abort, saying why -------- */

/* The pointer is published in the child, so the inline path met the bad
 * free first; the line says so for expect_abort. */
static void say_published(void)
{
	fprintf(stderr, "fast=%d\n", jumbo_fast_seed != NULL);
}

static void free_twice(void *arg)
{
	vm_page_t pg = jumbo_pg_alloc();

	(void)arg;
	jumbo_pg_free((vm_offset_t)kva_of(pg));
	say_published();
	fprintf(stderr, "addr=%p\n", (void *)kva_of(pg));
	jumbo_pg_free((vm_offset_t)kva_of(pg));
}

static void free_addr(void *arg)
{
	say_published();
	jumbo_pg_free((vm_offset_t)arg);
}

static void refused(const char *what, void (*fn)(void *), void *arg,
		    const char *addr, const char *why)
{
	const char *want[] = { "fast=1", "jumbo_pg_free", why, addr, NULL };

	if (!addr)
		want[3] = NULL;
	expect_abort(what, fn, arg, want);
}

/* ---- a drain request withdraws the pointer ------------------------------ */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int step;

static void step_to(int s)
{
	pthread_mutex_lock(&mu);
	step = s;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void step_wait(int s)
{
	pthread_mutex_lock(&mu);
	while (step < s)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

/*
 * Takes every page of the pool and frees fewer than its cache holds (a
 * quarter of the cap here), so that the main thread finds none; after the
 * main thread's failed allocation asked for them back, its own pointer
 * must be gone, and its next free must give them back instead of taking
 * the inline path.
 */
static void *hoarder(void *arg)
{
	static vm_page_t pg[CAP + 1];
	unsigned n = 0, i, kept;

	(void)arg;
	while (n <= CAP && (pg[n] = jumbo_pg_alloc()) != NULL)
		n++;
	CHECK_EQ(n, CAP);
	REQUIRE(jumbo_fast_seed != NULL && jumbo_fast_seed->len == 0);
	kept = jumbo_fast_seed->cap - 1;
	for (i = 0; i < kept; i++)
		jumbo_pg_free((vm_offset_t)kva_of(pg[i]));
	CHECK(jumbo_fast_seed && jumbo_fast_seed->len == kept);
	step_to(1);
	step_wait(2);
	/* The main thread's allocation failed and asked for the pages. */
	CHECK(jumbo_fast_seed == NULL);
	jumbo_pg_free((vm_offset_t)kva_of(pg[i++])); /* honours the request */
	CHECK(jumbo_fast_seed != NULL);
	CHECK(jumbo_fast_seed && jumbo_fast_seed->len == 1);
	step_to(3);
	step_wait(4);
	for (; i < n; i++)
		jumbo_pg_free((vm_offset_t)kva_of(pg[i]));
	return NULL;
}

static void drain(void)
{
	pthread_t t;

	jumbo_pool_flush_cache(jumbo_default_pool());
	REQUIRE(pthread_create(&t, NULL, hoarder, NULL) == 0);
	step_wait(1);
	errno = 0;
	CHECK(jumbo_pg_alloc() == NULL && errno == ENOMEM);
	step_to(2);
	step_wait(3);
	/* The hoarder's cached pages are the depot's again. */
	vm_page_t pg = jumbo_pg_alloc();
	CHECK(pg != NULL);
	if (pg)
		jumbo_pg_free((vm_offset_t)kva_of(pg));
	step_to(4);
	REQUIRE(pthread_join(t, NULL) == 0);
	/* Its cache went back at its exit: every page can be had again. */
	static vm_page_t all[CAP];
	unsigned n = 0;
	while (n < CAP && (all[n] = jumbo_pg_alloc()) != NULL)
		n++;
	CHECK_EQ(n, CAP);
	CHECK_EQ(in_use(), n);
	while (n > 0)
		jumbo_pg_free((vm_offset_t)kva_of(all[--n]));
	CHECK_EQ(in_use(), 0);
}

/* ---- a debug pool publishes nothing ------------------------------------- */

static void debug_pool(void *arg)
{
	(void)arg;
	setenv("JUMBO_DEBUG", "1", 1);
	if (jumbo_vm_init() != 1)
		_exit(3);
	vm_page_t pg = jumbo_pg_alloc();
	if (!pg || jumbo_fast_seed != NULL)
		_exit(4);
	jumbo_pg_free((vm_offset_t)kva_of(pg));
	if (jumbo_fast_seed != NULL)
		_exit(5);
	fprintf(stderr, "fast=%d\n", jumbo_fast_seed != NULL);
	jumbo_pg_free((vm_offset_t)kva_of(pg));
}

int main(void)
{
	static char foreign[8192] __attribute__((aligned(4096)));
	char buf[64], fa[32];
	char num[16];

	printf("fast: %s path\n", inlined() ? "inline" : "out-of-line");
	snprintf(num, sizeof(num), "%d", CAP);
	setenv("JUMBO_MAX_PAGES", num, 1);
	setenv("JUMBO_TRIM_MS", "0", 1);
	unsetenv("JUMBO_DEBUG");

	/* Before the first pool call of the program nothing is published. */
	CHECK(jumbo_fast_seed == NULL);
	{
		const char *want[] = { "fast=0", "jumbo_pg_free", "double free",
				       NULL };
		expect_abort("debug pool", debug_pool, NULL, want);
	}

	REQUIRE(jumbo_vm_init() == 1);
	vm_page_t pg = jumbo_pg_alloc(); /* the first call: the slow path */
	REQUIRE(pg != NULL);
	REQUIRE(jumbo_fast_seed != NULL);
	struct jumbo_fast *fc = jumbo_fast_seed;
	CHECK_EQ(fc->npages, CAP);
	CHECK((size_t)1 << fc->shift == jumbo_page_size());
	CHECK(fc->base == JUMBO_HEAD(jumbo_default_pool())->ph_base);

	/* The cache moves one page per call, and the counts follow. */
	uint32_t len = fc->len;
	uint64_t a = fc->allocs, f = fc->frees;
	free_one(kva_of(pg));
	CHECK_EQ(fc->len, len + 1);
	CHECK_EQ(fc->frees, f + 1);
	pg = alloc_one();
	CHECK_EQ(fc->len, len);
	CHECK_EQ(fc->allocs, a + 1);
	CHECK(kva_of(pg) != NULL);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_ALLOC);
	CHECK_EQ(in_use(), 1);
	translation_reads_no_descriptor();
	CHECK_EQ(in_use(), 1);
	inline_calls_no_library();
	through_address();
	CHECK_EQ(in_use(), 1);

	/* Refused, with the function and the address, before any change. */
	snprintf(fa, sizeof(fa), "%p", (void *)foreign);
	refused("double free", free_twice, NULL, NULL,
		"double free: the page is already free");
	refused("foreign address", free_addr, foreign, fa,
		"not a page of the pool");
	snprintf(buf, sizeof(buf), "%p", (void *)(kva_of(pg) + 16));
	refused("inside a page", free_addr, kva_of(pg) + 16, buf,
		"not the start of a page");
	refused("an I/O address", free_addr, (void *)(uintptr_t)VM_PAGE_TO_PHYS(pg),
		NULL, "is an I/O address");
	refused("NULL", free_addr, NULL, NULL, "not a page of the pool");
	CHECK_EQ(in_use(), 1);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_ALLOC);

	/* A held page: the inline free leaves it to the library, which
	 * defers it to the unhold. */
	CHECK_EQ(jumbo_pool_hold(jumbo_default_pool(), kva_of(pg)), 0);
	jumbo_pg_free((vm_offset_t)kva_of(pg));
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_HELD);
	CHECK_EQ(jumbo_pool_unhold(jumbo_default_pool(), kva_of(pg)), 0);
	CHECK_EQ(jumbo_page_state(pg, NULL, NULL), JUMBO_PG_FREE);
	CHECK_EQ(in_use(), 0);

	drain();

	return check_done("fast");
}
