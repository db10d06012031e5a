/*
 * Named shared pools (issue 12): processes that attach one pool allocate
 * pages, pass them by I/O address through jumbo_rings and free each
 * other's, with an ownership map in shared memory that catches a page
 * handed out twice or lost; a file that is not a pool, a truncated or
 * corrupted one, one of another version, and a process without permission
 * each get a clear error.
 *
 *   test_shpool [seed [pages [rounds]]]
 *       pages: per exchange run (default 2 M); rounds: of the kill test
 *       (default 1000)
 */
#include "check.h"
#include "test_named.h"

#include <jumbo/jumbo.h>
#include <jumbo/ring.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define MAX_PAGES 4096
#define RING_SLOTS 1024
#define MAXP 4

static char name[32];

/* Shared between the processes of one exchange run. */
struct run {
	uint64_t quota;          /* pages each process sends */
	uint64_t sent, received; /* all processes together */
	uint64_t errors;
	unsigned char owned[MAX_PAGES]; /* 1 while a page is out */
};

static struct run *R;
static void *ring_mem[MAXP];
static size_t ring_len;

static struct jumbo_pool *attach(void)
{
	struct jumbo_pool *p = jumbo_pool_attach(name, 0);
	if (!p) {
		fprintf(stderr, "attach %s: %s\n", name, strerror(errno));
		exit(1);
	}
	return p;
}

static void bad(const char *what, uint64_t f)
{
	fprintf(stderr, "pid %d: %s (frame %llu)\n", (int)getpid(), what,
		(unsigned long long)f);
	__atomic_fetch_add(&R->errors, 1, __ATOMIC_RELAXED);
}

/* Receive what is in my ring: check the bytes and the map, free. */
static unsigned drain(struct jumbo_pool *p, struct jumbo_ring *in)
{
	struct jumbo_ring_ent e[64];
	unsigned n = jumbo_ring_dequeue(in, e, 64);

	for (unsigned i = 0; i < n; i++) {
		uint64_t *w = jumbo_pool_iova_to_addr(p, e[i].iova);
		uint64_t f = e[i].iova >> 12;
		if (!w || jumbo_pool_iova(p, w) != e[i].iova) {
			bad("bad I/O address", f);
			continue;
		}
		if (w[0] != e[i].iova || w[1] != e[i].len)
			bad("page content", f);
		if (__atomic_exchange_n(&R->owned[f], 0, __ATOMIC_RELAXED) != 1)
			bad("received a page that is not out", f);
		int r = jumbo_pool_free(p, w);
		if (r)
			bad(strerror(-r), f);
	}
	if (n)
		__atomic_fetch_add(&R->received, n, __ATOMIC_RELAXED);
	return n;
}

static void worker(unsigned me, unsigned nproc, uint64_t seed)
{
	struct jumbo_pool *p = attach();
	struct jumbo_ring *rings[MAXP];
	uint64_t s = seed * 31 + me + 1, total = R->quota * nproc;

	for (unsigned k = 0; k < nproc; k++)
		rings[k] = jumbo_ring_attach_mem(ring_mem[k], ring_len);
	for (uint64_t done = 0; done < R->quota;) {
		void *pg[32];
		unsigned want = R->quota - done < 32 ? R->quota - done : 32;
		unsigned got = jumbo_pool_alloc_bulk(p, pg, want);
		for (unsigned i = 0; i < got; i++) {
			uint64_t *w = pg[i], iova = jumbo_pool_iova(p, w);
			if (__atomic_exchange_n(&R->owned[iova >> 12], 1,
						__ATOMIC_RELAXED) != 0)
				bad("a page handed out twice", iova >> 12);
			unsigned to = (unsigned)(rnd(&s) % nproc);
			/* len carries the sender: the ring drops tag (src/ring.c) */
			struct jumbo_ring_ent e = { iova, 4096 + me, 0 };
			w[0] = iova;
			w[1] = 4096 + me;
			while (jumbo_ring_enqueue(rings[to], &e, 1) != 1)
				drain(p, rings[me]);
		}
		done += got;
		__atomic_fetch_add(&R->sent, got, __ATOMIC_RELAXED);
		drain(p, rings[me]);
	}
	while (__atomic_load_n(&R->received, __ATOMIC_RELAXED) < total)
		if (!drain(p, rings[me]))
			sched_yield();
	for (unsigned k = 0; k < nproc; k++)
		jumbo_ring_close(rings[k]);
	CHECK_EQ(jumbo_pool_destroy(p), 0); /* detach: caches to the depot */
}

static void exchange(struct jumbo_pool *p, unsigned nproc, uint64_t pages,
		     uint64_t seed)
{
	pid_t pid[MAXP];
	struct jumbo_stats st;

	memset(R, 0, sizeof(*R));
	R->quota = pages / nproc;
	struct jumbo_ring *mine[MAXP];
	for (unsigned k = 0; k < nproc; k++)
		REQUIRE((mine[k] = jumbo_ring_init(ring_mem[k], ring_len,
						   RING_SLOTS, JUMBO_RING_MPMC)));
	for (unsigned k = 0; k < nproc; k++) {
		pid[k] = fork();
		REQUIRE(pid[k] >= 0);
		if (pid[k] == 0) {
			worker(k, nproc, seed);
			_exit(check_failures ? 1 : 0);
		}
	}
	for (unsigned k = 0; k < nproc; k++) {
		int ws;
		REQUIRE(waitpid(pid[k], &ws, 0) == pid[k]);
		CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	}
	for (unsigned k = 0; k < nproc; k++)
		jumbo_ring_close(mine[k]);
	CHECK_EQ(R->errors, 0);
	CHECK_EQ(R->sent, R->quota * nproc);
	CHECK_EQ(R->received, R->quota * nproc);
	for (unsigned f = 0; f < MAX_PAGES; f++)
		if (R->owned[f]) {
			CHECK_EQ(f, -1); /* lost */
			break;
		}
	/* The books: nothing in use; every page can be had again, once. */
	CHECK_EQ(jumbo_pool_stats(p, &st), 0);
	CHECK_EQ(st.in_use, 0);
	CHECK_EQ(st.double_frees, 0); /* a fork child gave back our cache */
	CHECK_EQ(st.committed, st.depot_free + st.cached_free);
	static void *all[MAX_PAGES];
	unsigned got = jumbo_pool_alloc_bulk(p, all, MAX_PAGES);
	CHECK_EQ(got, MAX_PAGES);
	CHECK(jumbo_pool_alloc(p) == NULL);
	for (unsigned i = 0; i < got; i++)
		CHECK(__atomic_exchange_n(&R->owned[jumbo_pool_iova(p, all[i]) >> 12],
					  1, __ATOMIC_RELAXED) == 0);
	CHECK_EQ(jumbo_pool_free_bulk(p, all, got), 0);
	memset(R->owned, 0, sizeof(R->owned));
	printf("exchange: %u processes, %llu pages, every one back\n", nproc,
	       (unsigned long long)R->sent);
}

/* The same page at two addresses, one I/O address; bad ones refused. */
static void translation(struct jumbo_pool *p)
{
	void *a = jumbo_pool_alloc(p);
	REQUIRE(a);
	vm_paddr_t io = jumbo_pool_iova(p, a);
	memcpy(a, "hello", 6);
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		struct jumbo_pool *q = attach();
		char *b = jumbo_pool_iova_to_addr(q, io);
		CHECK(b && b != a && strcmp(b, "hello") == 0);
		CHECK_EQ(jumbo_pool_iova(q, b), io);
		CHECK(jumbo_pool_page(q, b) && jumbo_page_phys(jumbo_pool_page(q, b)) == io);
		/* Beyond what is committed, or not a page start: refused. */
		CHECK_EQ(jumbo_pool_free(q, (char *)jumbo_pool_iova_to_addr(q, 0) +
						     ((size_t)(MAX_PAGES - 1) << 12)),
			 -EFAULT);
		CHECK_EQ(jumbo_pool_free(q, b + 1), -EINVAL);
		CHECK(jumbo_pool_iova_to_addr(q, (vm_paddr_t)MAX_PAGES << 12) == NULL);
		CHECK_EQ(jumbo_pool_hold(q, b), 0); /* another's page */
		CHECK_EQ(jumbo_pool_unhold(q, b), 0);
		CHECK_EQ(jumbo_pool_free(q, b), 0);
		CHECK_EQ(jumbo_pool_free(q, b), -EALREADY);
		CHECK_EQ(jumbo_pool_destroy(q), 0);
		_exit(check_failures ? 1 : 0);
	}
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(jumbo_pool_free(p, a), -EALREADY); /* the child freed it */
}

/* ---- files that are not pools ---------------------------------------- */

static char path[128];

static void copy_to(const char *dst)
{
	int in = open(path, O_RDONLY), out;
	char buf[65536];
	ssize_t n;

	REQUIRE(in >= 0);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		REQUIRE(write(out, buf, (size_t)n) == n);
	close(in);
	close(out);
}

static int attach_err(const char *nm)
{
	struct jumbo_pool *q = jumbo_pool_attach(nm, 0);
	if (q) {
		jumbo_pool_destroy(q);
		return 0;
	}
	return errno;
}

static void poke(const char *file, off_t from_end, uint32_t v)
{
	int fd = open(file, O_RDWR);
	struct stat sb;
	REQUIRE(fd >= 0 && fstat(fd, &sb) == 0);
	REQUIRE(pwrite(fd, &v, sizeof(v), sb.st_size - 4096 + from_end) == 4);
	close(fd);
}

static void bad_files(void)
{
	char nm[32], file[160];

	snprintf(nm, sizeof(nm), "shpool-bad-%d", (int)getpid());
	snprintf(file, sizeof(file), "/dev/shm/jumbo-pool.%s", nm);

	CHECK_EQ(attach_err(nm), ENOENT);
	CHECK_EQ(attach_err("../etc"), EINVAL);
	CHECK_EQ(attach_err(""), EINVAL);

	/* Not a pool: a text file, an empty one, a pipe. */
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	for (int i = 0; i < 3000; i++)
		REQUIRE(write(fd, "not a pool\n", 11) == 11);
	close(fd);
	CHECK_EQ(attach_err(nm), EINVAL);
	REQUIRE(truncate(file, 0) == 0);
	CHECK_EQ(attach_err(nm), EINVAL);
	int pfd[2];
	REQUIRE(pipe(pfd) == 0);
	errno = 0;
	CHECK(jumbo_pool_attach_fd(pfd[0], -1, 0) == NULL && errno == EINVAL);
	close(pfd[0]);
	close(pfd[1]);

	/* A pool, then truncated (its header is gone), or half gone. */
	copy_to(file);
	CHECK_EQ(attach_err(nm), 0);
	REQUIRE(truncate(file, 4096 * 8) == 0);
	CHECK_EQ(attach_err(nm), EINVAL);
	REQUIRE(truncate(file, 100) == 0);
	CHECK_EQ(attach_err(nm), EINVAL);

	/* Another version of the layout; a corrupted header (checksum);
	 * a checksum that matches a header whose facts do not hold is
	 * not tested here: forging it needs the layout's FNV-1a. */
	copy_to(file);
	poke(file, 8, 99); /* abi */
	CHECK_EQ(attach_err(nm), EPROTO);
	copy_to(file);
	poke(file, 16, 0x1234); /* page_shift, under the checksum */
	CHECK_EQ(attach_err(nm), EPROTO);
	copy_to(file);
	poke(file, 1, 0); /* the magic */
	CHECK_EQ(attach_err(nm), EINVAL);
	/* One page longer: the header is not where its size says. */
	copy_to(file);
	struct stat sb;
	REQUIRE(stat(file, &sb) == 0);
	REQUIRE(truncate(file, sb.st_size + 4096) == 0);
	CHECK_EQ(attach_err(nm), EINVAL);
	CHECK_EQ(jumbo_pool_unlink(nm), 0);
	CHECK_EQ(jumbo_pool_unlink(nm), -ENOENT);

	/* A name that exists is never taken over. */
	struct jumbo_pool_params pp;
	jumbo_pool_params_init(&pp);
	pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
	pp.max_pages = 64;
	pp.name = name;
	errno = 0;
	CHECK(jumbo_pool_create(&pp) == NULL && errno == EEXIST);
	pp.name = "a/b";
	CHECK(jumbo_pool_create(&pp) == NULL && errno == EINVAL);
	pp.name = nm;
	pp.page_size = JUMBO_PAGE_2M;
	CHECK(jumbo_pool_create(&pp) == NULL && errno == EINVAL);
	pp.page_size = JUMBO_PAGE_4K;
	pp.flags = JUMBO_POOL_NAMED; /* not shared */
	CHECK(jumbo_pool_create(&pp) == NULL && errno == EINVAL);
	printf("bad files: each a clear error\n");
}

/* Mode 0600: a process of another user is refused; 0660 likewise for a
 * user outside the group. */
static void permission(void)
{
	struct stat sb;

	REQUIRE(stat(path, &sb) == 0);
	CHECK_EQ(sb.st_mode & 0777, 0600);
	if (geteuid() != 0) {
		printf("permission: not root, the uid 65534 case skipped\n");
		return;
	}
	pid_t c = fork();
	REQUIRE(c >= 0);
	if (c == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		errno = 0;
		struct jumbo_pool *q = jumbo_pool_attach(name, 0);
		_exit(q == NULL && errno == EACCES ? 0 : 1);
	}
	int ws;
	REQUIRE(waitpid(c, &ws, 0) == c);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	printf("permission: uid 65534 refused with EACCES\n");
}

/*
 * Deaths: a process allocating and freeing in bursts through a small
 * cache (a depot exchange every few pages, so often inside the depot's
 * lock) is SIGKILLed at a random instant.  The robust lock passes to the
 * survivor, the depot is whole, and after jumbo_pool_reclaim() every page
 * of the pool can be allocated again, once (test_reclaim kills among
 * processes that pass pages through rings).
 */
#define KILL_PAGES 1024
#define KILL_CACHE 16
#define KILL_BURST 24

static void killed(uint64_t seed, unsigned rounds)
{
	uint64_t s = seed ^ 0x6b696c6cull;
	unsigned short seen[KILL_PAGES];
	unsigned worst = 0;
	char nm[32];

	snprintf(nm, sizeof(nm), "shpool-kill-%d", (int)getpid());
	for (unsigned r = 0; r < rounds; r++) {
		struct jumbo_pool_params pp;
		jumbo_pool_params_init(&pp);
		pp.flags = JUMBO_POOL_SHARED | JUMBO_POOL_NAMED;
		pp.max_pages = KILL_PAGES;
		pp.grow_pages = 64;
		pp.cache_size = KILL_CACHE;
		pp.reserve_pages = 0;
		pp.name = nm;
		struct jumbo_pool *p = jumbo_pool_create(&pp);
		REQUIRE(p);
		pid_t c = fork();
		REQUIRE(c >= 0);
		if (c == 0) {
			struct jumbo_pool *q = jumbo_pool_attach(nm, 0);
			void *v[KILL_BURST];
			if (!q)
				_exit(1);
			for (;;) {
				unsigned n = jumbo_pool_alloc_bulk(q, v, KILL_BURST);
				jumbo_pool_free_bulk(q, v, n);
			}
		}
		/* Let it run from nothing up to a few ms. */
		struct timespec t = { 0, (long)(rnd(&s) % 3000000) };
		nanosleep(&t, NULL);
		kill(c, SIGKILL);
		int ws;
		REQUIRE(waitpid(c, &ws, 0) == c);
		CHECK(WIFSIGNALED(ws));
		CHECK(jumbo_pool_reclaim(p) >= 0);

		static void *all[KILL_PAGES + 1];
		unsigned got = jumbo_pool_alloc_bulk(p, all, KILL_PAGES + 1);
		memset(seen, 0, sizeof(seen));
		for (unsigned i = 0; i < got; i++) {
			vm_paddr_t io = jumbo_pool_iova(p, all[i]);
			REQUIRE(io != (vm_paddr_t)-1);
			if (seen[io >> 12]++)
				CHECK_EQ(io >> 12, -1); /* handed out twice */
		}
		unsigned missing = KILL_PAGES - got;
		if (missing > worst)
			worst = missing;
		CHECK_EQ(missing, 0);
		CHECK_EQ(jumbo_pool_free_bulk(p, all, got), 0);
		CHECK_EQ(jumbo_pool_destroy(p), 0);
		if (check_failures) {
			fprintf(stderr, "round %u failed\n", r);
			break;
		}
	}
	printf("deaths: %u rounds, a process killed at a random instant: "
	       "no page twice, %u missing after the reclaim\n", rounds, worst);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* nothing buffered across fork */
	/*
	 * No live-statistics thread (shared pools start one): the children
	 * forked here attach pools of their own, and ThreadSanitizer does not
	 * let a child of a threaded process start threads.
	 */
	setenv("JUMBO_STAT", "0", 1);
	uint64_t seed = test_seed(argc, argv, "shpool");
	uint64_t pages = argc > 2 ? strtoull(argv[2], NULL, 0) : 2000000;
	snprintf(name, sizeof(name), "shpool-test-%d", (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm/jumbo-pool.%s", name);
	/* A cache of 64: exchanges with the depot every 32 pages. */
	struct jumbo_pool *p = test_named_pool(name, MAX_PAGES, 256, 64, true);

	R = mmap(NULL, sizeof(*R), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(R != MAP_FAILED);
	ring_len = jumbo_ring_memsize(RING_SLOTS);
	for (unsigned k = 0; k < MAXP; k++) {
		ring_mem[k] = mmap(NULL, ring_len, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		REQUIRE(ring_mem[k] != MAP_FAILED);
	}

	translation(p);
	permission();
	exchange(p, 2, pages, seed);
	exchange(p, 4, pages, seed);
	bad_files();
	killed(seed, argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 1000);

	CHECK_EQ(jumbo_pool_destroy(p), 0);
	CHECK(access(path, F_OK) != 0); /* the creator's destroy unlinks */
	return check_done("shpool");
}
