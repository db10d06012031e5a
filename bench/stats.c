/*
 * Each figure is the median of the runs, with their minimum and maximum:
 * the median because one preempted run on a two-core machine should not
 * move the figure, the extremes so that the reader sees the spread.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void stats_summarise(struct cell *c)
{
	double s[BENCH_MAX_RUNS];

	if (c->n == 0)
		return;
	memcpy(s, c->v, c->n * sizeof(*s));
	qsort(s, c->n, sizeof(*s), cmp_double);
	c->min = s[0];
	c->max = s[c->n - 1];
	c->median = c->n % 2 ? s[c->n / 2]
			     : (s[c->n / 2 - 1] + s[c->n / 2]) / 2;
}

int peer_index(const struct report *rep, const char *name)
{
	for (unsigned i = 0; i < rep->npeers; i++)
		if (strcmp(rep->peer[i]->name, name) == 0)
			return (int)i;
	return -1;
}

double stats_ratio(const struct report *rep, int jumbo, unsigned peer,
		   enum wl w)
{
	const struct cell *a, *b = &rep->cell[peer][w];

	if (jumbo < 0)
		return 0;
	a = &rep->cell[jumbo][w];
	if (a->state != CELL_OK || b->state != CELL_OK || a->median <= 0 ||
	    b->median <= 0)
		return 0;
	return a->median / b->median;
}
