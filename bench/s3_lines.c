/*
 * jumbo-bench-s3lines: how many cache lines each page of S3 moves between
 * the two cores, counted rather than timed (this machine has no PMU).
 *
 * It runs jumbo-bench's S3 on a private pool (jumbo_pool_alloc and a page
 * write on one thread, support/ring.h's SPSC ring, the check and
 * jumbo_pool_free on another), records the frames in the order the
 * producer allocates them (the ring is FIFO: the consumer frees them in
 * the same order), and replays that order with the consumer D pages
 * behind the producer: D = 32 when the consumer keeps up (the ring
 * publishes every 32 entries), 1024 when it is the slower side (a full
 * ring).  A line "moves" when the side touching it is not the side that
 * touched it last: a read of a line the other core wrote, or a write to
 * a line the other core holds, each a round trip between the cores.
 *
 * Counted from the trace: the pages' state words (4 bytes, 16 to a line,
 * written by both sides) and the page's own first line (written by the
 * producer, read by the consumer).  Counted from the code: the ring's
 * slots, the magazines that carry freed frames back, the depot's lock and
 * heads; see the table this prints and bench/README.md.
 *
 * Usage: jumbo-bench-s3lines [pages]
 */
#include <jumbo/jumbo.h>
#include "ring.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct jumbo_pool *pool;
static struct spsc q;
static void *slots[1024];
static uint32_t *seq;   /* frames in allocation order */
static unsigned long npages, warm;

static void *consumer(void *arg)
{
	(void)arg;
	for (unsigned long k = 0; k < warm + npages; k++) {
		void *p;

		while ((p = spsc_pop(&q)) == NULL)
			spsc_pause();
		if (*(volatile uint64_t *)p != k ||
		    jumbo_pool_free(pool, p) != 0) {
			fprintf(stderr, "jumbo-bench-s3lines: page %lu bad\n",
				k);
			exit(1);
		}
	}
	return NULL;
}

/* Line moves per page over the trace, consumer d pages behind. */
static double moves(unsigned shift, unsigned long d)
{
	/* Last toucher of each line: 0 none, 1 producer, 2 consumer. */
	uint32_t maxline = 0;
	unsigned char *last;
	unsigned long n = 0;

	for (unsigned long t = 0; t < npages; t++)
		if (seq[t] >> shift > maxline)
			maxline = seq[t] >> shift;
	last = calloc((size_t)maxline + 1, 1);
	if (!last)
		exit(1);
	for (unsigned long t = 0; t < npages + d; t++) {
		if (t < npages) {
			uint32_t l = seq[t] >> shift;

			n += last[l] == 2;
			last[l] = 1;
		}
		if (t >= d) {
			uint32_t l = seq[t - d] >> shift;

			n += last[l] == 1;
			last[l] = 2;
		}
	}
	free(last);
	return (double)n / npages;
}

int main(int argc, char **argv)
{
	struct jumbo_pool_params pp;
	pthread_t th;

	npages = argc > 1 ? strtoul(argv[1], NULL, 0) : 2000000;
	warm = npages / 4;
	seq = malloc(npages * sizeof(*seq));
	jumbo_pool_params_init(&pp);
	pp.max_pages = 65536; /* as jumbo-bench's jumbo-pool */
	pool = jumbo_pool_create(&pp);
	if (!seq || !pool || npages == 0) {
		perror("jumbo-bench-s3lines");
		return 1;
	}
	spsc_init(&q, slots, 1024);
	pthread_create(&th, NULL, consumer, NULL);
	for (unsigned long i = 0; i < warm + npages; i++) {
		void *p = jumbo_pool_alloc(pool);

		if (!p) {
			perror("jumbo_pool_alloc");
			return 1;
		}
		*(volatile uint64_t *)p = i;
		if (i >= warm)
			seq[i - warm] = (uint32_t)(jumbo_pool_iova(pool, p) >> 12);
		while (!spsc_push(&q, p))
			spsc_pause();
	}
	spsc_flush_tail(&q);
	pthread_join(th, NULL);

	printf("jumbo-bench-s3lines: %lu pages traced after %lu; line moves "
	       "between the cores per page\n", npages, warm);
	printf("%-44s %10s %10s\n", "", "D = 32", "D = 1024");
	printf("%-44s %10.3f %10.3f\n", "state words (traced, 16 a line)",
	       moves(4, 32), moves(4, 1024));
	printf("%-44s %10.3f %10.3f\n", "page's first line (traced)",
	       moves(0, 32), moves(0, 1024));
	printf("%-44s %10.3f %10.3f\n", "ring slots (8-byte pointers, 8 a line)",
	       2.0 / 8, 2.0 / 8);
	printf("%-44s %10.3f %10.3f\n", "magazines (4-byte frames, 16 a line)",
	       2.0 / 16, 2.0 / 16);
	jumbo_pool_destroy(pool);
	free(seq);
	return 0;
}
