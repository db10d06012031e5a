/* Opening malloc replacements beside glibc's; see dl.c for why. */
#ifndef JUMBO_BENCH_DL_H
#define JUMBO_BENCH_DL_H

#include <stddef.h>

void *bench_dlopen(const char *path, char *why, size_t whylen);
int bench_dlsym(void *h, const char *name, void **fn, char *why,
		size_t whylen);

#endif
