/*
 * jemalloc, linked privately.  Debian's libjemalloc.so.2 cannot be
 * dlopen'ed (initial-exec TLS) and, linked normally, would replace malloc
 * for the whole process, glibc's peer included.  This shared object is
 * linked from libjemalloc_pic.a with a version script that exports only
 * the three functions below: jemalloc's malloc, free and the rest stay
 * local to it, and since the object is loaded at start-up its TLS fits in
 * the static block.
 */
#include <stddef.h>

void *mallocx(size_t size, int flags);
void dallocx(void *ptr, int flags);
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
	    size_t newlen);

void *jb_je_mallocx(size_t size, int flags)
{
	return mallocx(size, flags);
}

void jb_je_dallocx(void *ptr, int flags)
{
	dallocx(ptr, flags);
}

int jb_je_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		  size_t newlen)
{
	return mallctl(name, oldp, oldlenp, newp, newlen);
}
