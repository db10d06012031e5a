/*
 * jumbo_ring: the rings between processes.
 *
 *   test_ring [seed [entries [rounds]]]
 *
 * One process: order, full and empty, batches, roles that pass from one
 * handle to another, bad headers (not a ring, another version, damaged,
 * truncated file), permission (as root: a child that drops to uid 65534
 * gets EACCES).  Two processes (SPSC) exchange
 * `entries` pseudo-random entries, checked one by one and by checksum.
 * Four processes (MPMC, two producers and two consumers) move every value
 * exactly once, each producer's in order at each consumer.  Then `rounds`
 * rounds in which a producer, or a consumer, is SIGKILLed at a random
 * instant inside its loop of calls: after jumbo_ring_reclaim() the ring
 * drains, fills to its size and drains again.
 */
#include <jumbo/ring.h>
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>

static uint64_t seed;
static unsigned long entries = 2000000;
static unsigned rounds = 1000;

/* The value producer id sends as its i-th entry. */
static uint64_t val(unsigned id, uint64_t i)
{
	uint64_t x = (seed ^ ((uint64_t)id << 56)) + i * 0x9E3779B97F4A7C15ull;
	x ^= x >> 31;
	return (x & ~(0xffull << 56)) | ((uint64_t)id << 56);
}

/*
 * A header as an older library wrote it: version v, the checksum made
 * again (FNV-1a of the 32 bytes before it: the layout of src/ring/ring.c).
 */
static void set_version(void *mem, uint32_t v)
{
	const unsigned char *b = mem;
	uint32_t x = 2166136261u;

	((uint32_t *)mem)[2] = v;
	for (unsigned i = 0; i < 32; i++)
		x = (x ^ b[i]) * 16777619u;
	((uint32_t *)mem)[8] = x;
}

static void test_local(unsigned flags)
{
	size_t len = jumbo_ring_memsize(8);
	void *mem = aligned_alloc(64, len);
	struct jumbo_ring_ent e[16], d[16];
	struct jumbo_ring *r;

	REQUIRE(mem);
	CHECK(!jumbo_ring_init(mem, len, 6, flags) && errno == EINVAL);
	CHECK(!jumbo_ring_init(mem, len - 1, 8, flags) && errno == EINVAL);
	r = jumbo_ring_init(mem, len, 8, flags);
	REQUIRE(r);
	CHECK_EQ(jumbo_ring_size(r), 8);
	CHECK_EQ(jumbo_ring_fd(r), -1);
	for (unsigned i = 0; i < 16; i++)
		e[i] = (struct jumbo_ring_ent){ .iova = 4096ull * i, .len = i,
						.tag = 0x7a6e0000u + i };
	CHECK_EQ(jumbo_ring_dequeue(r, d, 4), 0);
	CHECK_EQ(jumbo_ring_enqueue(r, e, 5), 5);
	CHECK_EQ(jumbo_ring_enqueue(r, e + 5, 11), 3); /* full at 8 */
	CHECK_EQ(jumbo_ring_count(r), 8);
	CHECK_EQ(jumbo_ring_enqueue(r, e, 1), 0);
	CHECK_EQ(jumbo_ring_dequeue(r, d, 3), 3);
	CHECK_EQ(jumbo_ring_enqueue(r, e + 8, 8), 3); /* wraps */
	CHECK_EQ(jumbo_ring_dequeue(r, d + 3, 16), 8);
	for (unsigned i = 0; i < 11; i++) {
		CHECK_EQ(d[i].iova, 4096ull * i);
		CHECK_EQ(d[i].len, i);
		CHECK_EQ(d[i].tag, 0x7a6e0000u + i); /* the caller's, carried */
	}
	CHECK_EQ(jumbo_ring_count(r), 0);
	/* A second handle on the same memory, as another process has. */
	struct jumbo_ring *r2 = jumbo_ring_attach_mem(mem, len);
	REQUIRE(r2);
	CHECK_EQ(jumbo_ring_enqueue(r, e, 2), 2);
	CHECK_EQ(jumbo_ring_dequeue(r2, d, 2), 2);
	CHECK_EQ(d[1].iova, 4096);
	CHECK_EQ(jumbo_ring_reclaim(r, 0), 0); /* nothing to repair */
	jumbo_ring_close(r2);
	jumbo_ring_close(r);

	/* Headers that are not a ring of this version: errors, no crash. */
	r = jumbo_ring_init(mem, len, 8, flags);
	REQUIRE(r);
	jumbo_ring_close(r);
	CHECK(!jumbo_ring_attach_mem(mem, 16) && errno == EINVAL);
	CHECK(!jumbo_ring_attach_mem(mem, len - 1) && errno == EPROTO);
	((uint32_t *)mem)[2]++; /* the version */
	CHECK(!jumbo_ring_attach_mem(mem, len) && errno == EPROTO);
	((uint32_t *)mem)[2]--;
	/* A ring of version 1 (no tags), checksum and all: refused. */
	uint32_t v = ((uint32_t *)mem)[2], sum = ((uint32_t *)mem)[8];
	set_version(mem, 1);
	CHECK(!jumbo_ring_attach_mem(mem, len) && errno == EPROTO);
	set_version(mem, v);
	CHECK_EQ(((uint32_t *)mem)[8], sum); /* the test's checksum is right */
	r = jumbo_ring_attach_mem(mem, len);
	CHECK(r != NULL);
	jumbo_ring_close(r);
	((uint32_t *)mem)[4] = 16; /* the size, checksum not updated */
	CHECK(!jumbo_ring_attach_mem(mem, len) && errno == EPROTO);
	memset(mem, 0, len);
	CHECK(!jumbo_ring_attach_mem(mem, len) && errno == EINVAL);
	free(mem);
}

/*
 * The roles pass from one handle to another: a producer takes back the
 * entries of a consumer that died, a new producer goes on where one that
 * died stopped.  Each handle's cache of the other side's position is from
 * before (an SPSC handle's tail cache at its attach, behind head: the
 * dequeue read past tail and moved head over it; its head cache, two laps
 * behind: the enqueue wrote over entries not yet dequeued).
 */
static void test_roles(unsigned flags)
{
	size_t len = jumbo_ring_memsize(8);
	void *mem = aligned_alloc(64, len);
	struct jumbo_ring_ent e[8], d[8];
	struct jumbo_ring *p, *c, *p2;

	REQUIRE(mem);
	p = jumbo_ring_init(mem, len, 8, flags);
	c = jumbo_ring_attach_mem(mem, len);
	p2 = jumbo_ring_attach_mem(mem, len);
	REQUIRE(p && c && p2);
	for (unsigned i = 0; i < 8; i++)
		e[i] = (struct jumbo_ring_ent){ .iova = 4096ull * (i + 1),
						.len = i };
	/* Two laps and a half through the consumer c. */
	for (unsigned lap = 0; lap < 2; lap++) {
		CHECK_EQ(jumbo_ring_enqueue(p, e, 8), 8);
		CHECK_EQ(jumbo_ring_dequeue(c, d, 8), 8);
	}
	CHECK_EQ(jumbo_ring_enqueue(p, e, 5), 5);
	CHECK_EQ(jumbo_ring_dequeue(c, d, 3), 3);
	/* c is gone: the producer takes back the two it left, and no more. */
	CHECK_EQ(jumbo_ring_dequeue(p, d, 8), 2);
	CHECK_EQ(d[0].iova, 4096ull * 4);
	CHECK_EQ(d[1].iova, 4096ull * 5);
	CHECK_EQ(jumbo_ring_dequeue(p, d, 8), 0);
	CHECK_EQ(jumbo_ring_count(p), 0);
	/* Six in the ring; p is gone: p2 fills the two slots left, no more. */
	CHECK_EQ(jumbo_ring_enqueue(p, e, 6), 6);
	CHECK_EQ(jumbo_ring_enqueue(p2, e + 6, 8), 2);
	CHECK_EQ(jumbo_ring_count(c), 8);
	CHECK_EQ(jumbo_ring_dequeue(c, d, 8), 8);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(d[i].iova, 4096ull * (i + 1));
	jumbo_ring_close(p2);
	jumbo_ring_close(c);
	jumbo_ring_close(p);
	free(mem);
}

static void test_files(void)
{
	char name[64];
	struct jumbo_ring *r, *r2;
	int fd;

	snprintf(name, sizeof(name), "/jumbo-ring-test.%d", (int)getpid());
	r = jumbo_ring_create(name, 64, JUMBO_RING_MPMC, 0600);
	REQUIRE(r);
	CHECK(!jumbo_ring_create(name, 64, 0, 0600) && errno == EEXIST);
	r2 = jumbo_ring_open(name);
	REQUIRE(r2);
	struct jumbo_ring_ent e = {.iova = 123, .len = 7}, d;
	CHECK_EQ(jumbo_ring_enqueue(r, &e, 1), 1);
	CHECK_EQ(jumbo_ring_dequeue(r2, &d, 1), 1);
	CHECK_EQ(d.iova, 123);
	struct stat sb;
	REQUIRE(fstat(jumbo_ring_fd(r), &sb) == 0);
	CHECK_EQ(sb.st_mode & 0777, 0600);

	if (geteuid() == 0) {
		/* A process that is neither the owner nor root is refused. */
		pid_t pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(2);
			struct jumbo_ring *x = jumbo_ring_open(name);
			_exit(!x && errno == EACCES ? 0 : 1);
		}
		int st;
		REQUIRE(waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	} else {
		printf("test_ring: not root: permission check skipped\n");
	}
	jumbo_ring_close(r2);
	/* Truncated: the size from the header is past the end. */
	fd = dup(jumbo_ring_fd(r));
	REQUIRE(fd >= 0);
	jumbo_ring_close(r); /* before its memory goes */
	REQUIRE(ftruncate(fd, 100) == 0);
	CHECK(!jumbo_ring_open(name) && errno == EPROTO);
	REQUIRE(ftruncate(fd, 10) == 0);
	CHECK(!jumbo_ring_open(name) && errno == EINVAL);
	close(fd);
	CHECK_EQ(jumbo_ring_unlink(name), 0);
	CHECK(!jumbo_ring_open(name) && errno == ENOENT);

	/* A file that is not a ring. */
	fd = memfd_create("not-a-ring", MFD_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "hello, this is no ring of ours, not at all....", 46) == 46);
	CHECK(!jumbo_ring_open_fd(fd) && errno == EINVAL);
	close(fd);
}

/* The SPSC producer's loop, in its own process. */
static void spsc_produce(int fd)
{
	struct jumbo_ring *r = jumbo_ring_open_fd(fd);
	struct jumbo_ring_ent b[64];
	uint64_t st = seed | 1, i = 0;

	if (!r)
		_exit(2);
	while (i < entries) {
		unsigned n = 1 + (unsigned)(rnd(&st) % 64);
		if (n > entries - i)
			n = (unsigned)(entries - i);
		for (unsigned k = 0; k < n; k++)
			b[k] = (struct jumbo_ring_ent){.iova = val(0, i + k),
						       .len = (uint32_t)(i + k)};
		for (unsigned k = 0; k < n;)
			k += jumbo_ring_enqueue(r, b + k, n - k);
		i += n;
	}
	jumbo_ring_close(r);
	_exit(0);
}

static void test_spsc(void)
{
	struct jumbo_ring *r = jumbo_ring_create(NULL, 1024, JUMBO_RING_SPSC, 0);
	struct jumbo_ring_ent b[64];
	uint64_t sum = 0, want = 0, i = 0, st = seed;
	pid_t pid;
	int ws;

	REQUIRE(r);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		spsc_produce(jumbo_ring_fd(r));
	while (i < entries) {
		unsigned n = jumbo_ring_dequeue(r, b, 1 + (unsigned)(rnd(&st) % 64));
		for (unsigned k = 0; k < n; k++, i++) {
			if (b[k].iova != val(0, i) || b[k].len != (uint32_t)i) {
				fprintf(stderr, "spsc: entry %llu wrong\n",
					(unsigned long long)i);
				check_failures++;
				i = entries;
				break;
			}
			sum += b[k].iova;
		}
	}
	for (uint64_t k = 0; k < entries; k++)
		want += val(0, k);
	REQUIRE(waitpid(pid, &ws, 0) == pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_EQ(sum, want);
	CHECK_EQ(jumbo_ring_count(r), 0);
	printf("test_ring: spsc: %lu entries between two processes, checksum "
	       "%016llx\n", entries, (unsigned long long)sum);
	jumbo_ring_close(r);
}

/* MPMC: what each consumer saw, in memory shared with the parent. */
struct mpmc_out {
	uint64_t n[2], sum[2];
	int order_ok;
};

static void test_mpmc(void)
{
	struct jumbo_ring *r = jumbo_ring_create(NULL, 256, JUMBO_RING_MPMC, 0);
	struct mpmc_out *out = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *taken; /* consumed so far, by both consumers */
	unsigned long each = entries / 2;
	pid_t pid[4];

	REQUIRE(r && out != MAP_FAILED);
	taken = (uint64_t *)(out + 2);
	fflush(stdout);
	for (unsigned w = 0; w < 4; w++) {
		pid[w] = fork();
		REQUIRE(pid[w] >= 0);
		if (pid[w])
			continue;
		struct jumbo_ring *h = jumbo_ring_open_fd(jumbo_ring_fd(r));
		struct jumbo_ring_ent b[32];
		uint64_t st = seed + w + 1;
		if (!h)
			_exit(2);
		if (w < 2) { /* producer w */
			for (uint64_t i = 0; i < each;) {
				unsigned n = 1 + (unsigned)(rnd(&st) % 32);
				if (n > each - i)
					n = (unsigned)(each - i);
				for (unsigned k = 0; k < n; k++)
					b[k] = (struct jumbo_ring_ent){
						.iova = val(w, i + k),
						.len = (uint32_t)(i + k)};
				for (unsigned k = 0; k < n;)
					k += jumbo_ring_enqueue(h, b + k, n - k);
				i += n;
			}
		} else { /* consumer: until both have taken everything */
			struct mpmc_out *o = &out[w - 2];
			uint64_t next[2] = {0, 0};
			o->order_ok = 1;
			while (__atomic_load_n(taken, __ATOMIC_RELAXED) < 2 * each) {
				unsigned n = jumbo_ring_dequeue(
					h, b, 1 + (unsigned)(rnd(&st) % 32));
				for (unsigned k = 0; k < n; k++) {
					unsigned id = (unsigned)(b[k].iova >> 56);
					if (id > 1 || b[k].iova != val(id, b[k].len) ||
					    b[k].len < next[id]) {
						o->order_ok = 0;
						continue;
					}
					next[id] = b[k].len + 1ull;
					o->n[id]++;
					o->sum[id] += b[k].iova;
				}
				__atomic_fetch_add(taken, n, __ATOMIC_RELAXED);
			}
		}
		jumbo_ring_close(h);
		_exit(0);
	}
	for (unsigned w = 0; w < 4; w++) {
		int ws;
		REQUIRE(waitpid(pid[w], &ws, 0) == pid[w]);
		CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	}
	for (unsigned id = 0; id < 2; id++) {
		uint64_t want = 0;
		for (uint64_t k = 0; k < each; k++)
			want += val(id, k);
		CHECK_EQ(out[0].n[id] + out[1].n[id], each);
		CHECK_EQ(out[0].sum[id] + out[1].sum[id], want);
	}
	CHECK(out[0].order_ok && out[1].order_ok);
	CHECK_EQ(jumbo_ring_count(r), 0);
	printf("test_ring: mpmc: 2 producers, 2 consumers, %lu entries, "
	       "consumers took %llu and %llu\n", 2 * each,
	       (unsigned long long)(out[0].n[0] + out[0].n[1]),
	       (unsigned long long)(out[1].n[0] + out[1].n[1]));
	jumbo_ring_close(r);
	munmap(out, 4096);
}

/*
 * Threads of one process, a handle each on one MPMC ring: what the thread
 * sanitizer can check (it does not see across processes).
 */
struct thr_arg {
	void *mem;
	size_t len;
	unsigned id;
	unsigned long n;
	uint64_t got, sum;
	uint64_t *taken;
};

static void *thr_main(void *p)
{
	struct thr_arg *a = p;
	struct jumbo_ring *h = jumbo_ring_attach_mem(a->mem, a->len);
	struct jumbo_ring_ent b[16];

	if (!h)
		return (void *)1;
	if (a->id < 2) {
		for (uint64_t i = 0; i < a->n;) {
			b[0] = (struct jumbo_ring_ent){.iova = val(a->id, i),
						       .len = (uint32_t)i};
			i += jumbo_ring_enqueue(h, b, 1);
		}
	} else {
		while (__atomic_load_n(a->taken, __ATOMIC_RELAXED) < 2 * a->n) {
			unsigned n = jumbo_ring_dequeue(h, b, 16);
			for (unsigned k = 0; k < n; k++)
				a->sum += b[k].iova;
			a->got += n;
			__atomic_fetch_add(a->taken, n, __ATOMIC_RELAXED);
		}
	}
	jumbo_ring_close(h);
	return NULL;
}

static void test_threads(void)
{
	size_t len = jumbo_ring_memsize(64);
	void *mem = aligned_alloc(64, len);
	struct jumbo_ring *r;
	struct thr_arg a[4];
	pthread_t t[4];
	uint64_t taken = 0, want = 0, sum = 0, got = 0;
	unsigned long n = entries / 20;

	REQUIRE(mem);
	r = jumbo_ring_init(mem, len, 64, JUMBO_RING_MPMC);
	REQUIRE(r);
	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct thr_arg){.mem = mem, .len = len, .id = i, .n = n,
					.taken = &taken};
		REQUIRE(pthread_create(&t[i], NULL, thr_main, &a[i]) == 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		CHECK(ret == NULL);
		got += a[i].got;
		sum += a[i].sum;
	}
	for (unsigned id = 0; id < 2; id++)
		for (uint64_t k = 0; k < n; k++)
			want += val(id, k);
	CHECK_EQ(got, 2 * n);
	CHECK_EQ(sum, want);
	jumbo_ring_close(r);
	free(mem);
}

/* Drain r; false if it stays non-empty while nothing comes out. */
static bool drain(struct jumbo_ring *r)
{
	struct jumbo_ring_ent b[64];
	unsigned idle = 0;

	while (jumbo_ring_count(r) && idle < 1000) {
		unsigned n = jumbo_ring_dequeue(r, b, 64);
		for (unsigned i = 0; i < n; i++)
			CHECK_EQ(b[i].iova, b[i].len); /* whole entries only */
		idle = n ? 0 : idle + 1;
	}
	return jumbo_ring_count(r) == 0;
}

/*
 * A peer killed at a random instant: a producer (even rounds) or a
 * consumer (odd), looping on calls of random size, while this process
 * does the other side.  After the kill and reclaim, the ring must drain,
 * take its whole size and give it back.
 */
static void test_kill(void)
{
	/* Big batches: the longer a call holds slots, the likelier a kill
	 * finds it holding some. */
	enum { KN = 1024 };
	struct jumbo_ring *r = jumbo_ring_create(NULL, KN, JUMBO_RING_MPMC, 0);
	static struct jumbo_ring_ent b[KN];
	uint64_t st = seed ^ 0xdead;
	unsigned repaired = 0, hits = 0;
	/* The child's calls so far: the kill comes while it is busy. */
	uint64_t *calls = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	REQUIRE(r && calls != MAP_FAILED);
	for (unsigned i = 0; i < KN; i++)
		b[i] = (struct jumbo_ring_ent){.iova = i, .len = i};
	for (unsigned round = 0; round < rounds; round++) {
		bool prod = !(round & 1);
		int ws;
		fflush(stdout);
		__atomic_store_n(calls, 0, __ATOMIC_RELAXED);
		pid_t pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			struct jumbo_ring *h = jumbo_ring_open_fd(jumbo_ring_fd(r));
			uint64_t cs = seed + round;
			if (!h)
				_exit(2);
			for (;;) {
				unsigned n = 1 + (unsigned)(rnd(&cs) % KN);
				if (prod)
					jumbo_ring_enqueue(h, b, n);
				else
					jumbo_ring_dequeue(h, b, n);
				__atomic_fetch_add(calls, 1, __ATOMIC_RELAXED);
			}
		}
		/*
		 * Do the other side until the child has made a random number
		 * of calls, then kill it: most kills land inside a call.
		 */
		uint64_t want = 1 + rnd(&st) % 200;
		while (__atomic_load_n(calls, __ATOMIC_RELAXED) < want) {
			static struct jumbo_ring_ent x[KN];
			if (prod)
				jumbo_ring_dequeue(r, x, KN);
			else
				jumbo_ring_enqueue(r, b, KN);
		}
		kill(pid, SIGKILL);
		REQUIRE(waitpid(pid, &ws, 0) == pid);
		/* Half the rounds name the dead; the rest ask kill(2). */
		int n = jumbo_ring_reclaim(r, round & 2 ? 0 : pid);
		CHECK(n >= 0);
		repaired += n > 0 ? (unsigned)n : 0;
		hits += n > 0;
		if (!drain(r)) {
			fprintf(stderr, "round %u: ring wedged after reclaim "
				"(count %u)\n", round, jumbo_ring_count(r));
			check_failures++;
			break;
		}
		unsigned in = 0, outn = 0;
		for (int t = 0; t < 100 && in < KN; t++)
			in += jumbo_ring_enqueue(r, b, KN - in);
		CHECK_EQ(in, KN);
		for (int t = 0; t < 100 && outn < KN; t++)
			outn += jumbo_ring_dequeue(r, b, KN - outn);
		CHECK_EQ(outn, KN);
		if (check_failures)
			break;
	}
	printf("test_ring: kill: %u rounds, %u with slots to repair, %u slots "
	       "repaired\n", rounds, hits, repaired);
	jumbo_ring_close(r);
	munmap(calls, 4096);
}

int main(int argc, char **argv)
{
	seed = test_seed(argc, argv, "test_ring");
	if (argc > 2)
		entries = strtoul(argv[2], NULL, 0);
	if (argc > 3)
		rounds = (unsigned)strtoul(argv[3], NULL, 0);
	test_local(JUMBO_RING_SPSC);
	test_local(JUMBO_RING_MPMC);
	test_roles(JUMBO_RING_SPSC);
	test_roles(JUMBO_RING_MPMC);
	test_files();
	test_spsc();
	test_mpmc();
	test_threads();
	test_kill();
	return check_done("test_ring");
}
